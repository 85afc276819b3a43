/// What a party learns when it passes the barrier.
///
/// # Examples
///
/// ```
/// use agnostic_barrier::Barrier;
///
/// let barrier = Barrier::new(1);
/// let passed = futures::executor::block_on(barrier.wait()).unwrap();
/// assert!(passed.is_leader());
/// assert_eq!(passed.index(), 0);
/// assert_eq!(passed.generation(), 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BarrierWaitResult {
    pub(crate) index: usize,
    pub(crate) generation: u64,
    pub(crate) leader: bool,
}

impl BarrierWaitResult {
    /// Makes the result of one pass, for other backends of the same barrier semantics (such as
    /// `agnostic-barrier-redis`) to return this crate's type.
    ///
    /// # Examples
    ///
    /// ```
    /// use agnostic_barrier::BarrierWaitResult;
    ///
    /// let passed = BarrierWaitResult::new(2, true, 7);
    /// assert_eq!((passed.index(), passed.is_leader(), passed.generation()), (2, true, 7));
    /// ```
    #[must_use]
    pub const fn new(index: usize, is_leader: bool, generation: u64) -> Self {
        BarrierWaitResult {
            index,
            generation,
            leader: is_leader,
        }
    }

    /// Returns `true` for exactly one party per generation: the one whose arrival completed it
    /// (and ran the action, if there is one).
    ///
    /// # Examples
    ///
    /// ```
    /// use agnostic_barrier::Barrier;
    ///
    /// let barrier = Barrier::new(1);
    /// assert!(futures::executor::block_on(barrier.wait()).unwrap().is_leader());
    /// ```
    #[must_use]
    pub fn is_leader(&self) -> bool {
        self.leader
    }

    /// This party's index in `0..parties`, distinct within its generation.
    ///
    /// Without withdrawals it is the arrival order: the first party to arrive gets 0 and the one
    /// that completes the generation gets `parties - 1`. A withdrawn party's index is handed to a
    /// later arrival, so the indices of a generation are always a permutation of `0..parties`
    /// and can be used to shard work.
    ///
    /// # Examples
    ///
    /// ```
    /// use agnostic_barrier::Barrier;
    ///
    /// let barrier = Barrier::new(1);
    /// assert_eq!(futures::executor::block_on(barrier.wait()).unwrap().index(), 0);
    /// ```
    #[must_use]
    pub fn index(&self) -> usize {
        self.index
    }

    /// The number of the generation that released this party (see
    /// [`Barrier::generation`](crate::Barrier::generation)).
    ///
    /// # Examples
    ///
    /// ```
    /// use agnostic_barrier::Barrier;
    ///
    /// let barrier = Barrier::new(1);
    /// futures::executor::block_on(async {
    ///     assert_eq!(barrier.wait().await.unwrap().generation(), 0);
    ///     assert_eq!(barrier.wait().await.unwrap().generation(), 1);
    /// });
    /// ```
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }
}
