//! Split phase (SPEC rule 17): arrive now, wait later.

use core::fmt;
use core::future::IntoFuture;
#[cfg(feature = "std")]
use core::time::Duration;

use crate::engine::{Arrival, Kept};
use crate::{Barrier, BarrierWait, BarrierWaitResult, WaitError};

impl Barrier {
    /// Arrives now and returns a token to wait with later: split phase, as C++'s
    /// `std::barrier::arrive` and Java's `Phaser.arrive` give. Overlap other work with the
    /// barrier, then `token.await?` (or [`ArrivalToken::wait_blocking`]).
    ///
    /// The arrival is irrevocable: dropping the token, or its wait, withdraws nothing (the
    /// generation completes with this arrival; its pass is lost). If this arrival completes the
    /// generation, `arrive()` runs the action before it returns and the token's wait returns at
    /// once, as leader; but if an earlier generation's action is still running, `arrive()`
    /// returns at once and the token's wait runs the action when its turn comes (SPEC rule 19).
    /// The token's wait returns its generation's result, as [`Barrier::wait`] does (broken,
    /// reset, timeouts); a default timeout starts when that wait is first polled.
    ///
    /// # Errors
    ///
    /// [`WaitError::Broken`] without arriving if the barrier is broken.
    ///
    /// # Panics
    ///
    /// Panics, naming the caller's line, if the barrier has no parties. A panic of the action,
    /// when this arrival completes the generation and runs it, propagates.
    ///
    /// # Examples
    ///
    /// ```
    /// use agnostic_barrier::Barrier;
    ///
    /// # futures::executor::block_on(async {
    /// let barrier = Barrier::new(2);
    /// let token = barrier.arrive()?; // arrived: counted at once
    /// assert_eq!(barrier.n_waiting(), 1);
    /// // ... other work, while the other party arrives ...
    /// let other = barrier.wait().await?;
    /// let mine = token.await?;
    /// assert_eq!((mine.index(), other.index()), (0, 1));
    /// # Ok::<(), agnostic_barrier::WaitError>(())
    /// # }).unwrap();
    /// ```
    #[track_caller]
    pub fn arrive(&self) -> Result<ArrivalToken<'_>, WaitError> {
        ArrivalToken::arrive(self, None)
    }
}

/// An arrival made with [`Barrier::arrive`] or [`Party::arrive`](crate::Party::arrive), to wait
/// with later: [`wait()`](ArrivalToken::wait) (or `.await` on the token itself),
/// [`wait_blocking()`](ArrivalToken::wait_blocking).
///
/// Dropping it withdraws nothing: the arrival stays counted. A party's dropped token leaves its
/// arrival to the party's next wait (SPEC rule 16).
///
/// # Examples
///
/// ```
/// use agnostic_barrier::Barrier;
///
/// let barrier = Barrier::new(1);
/// let token = barrier.arrive().unwrap(); // completes generation 0 at once
/// assert_eq!(token.generation(), 0);
/// assert!(futures::executor::block_on(async { token.await }).unwrap().is_leader());
/// ```
pub struct ArrivalToken<'a> {
    barrier: &'a Barrier,
    /// The party that arrived, if any: what a dropped token leaves goes back to it.
    party: Option<&'a mut Option<Kept>>,
    /// The arrival, waiting or with its result; `None` once handed to a wait.
    arrival: Option<Result<Kept, WaitError>>,
    generation: u64,
}

impl<'a> ArrivalToken<'a> {
    /// Arrives for `party` (or anonymously).
    #[track_caller]
    pub(crate) fn arrive(
        barrier: &'a Barrier,
        party: Option<&'a mut Option<Kept>>,
    ) -> Result<Self, WaitError> {
        barrier.expect_parties();
        // A sealed generation whose parties all gave up is completed first (SPEC rule 19).
        let (arrival, generation, woken) = loop {
            match barrier.enter(None) {
                Arrival::Broken => return Err(WaitError::Broken),
                Arrival::NoParties => crate::barrier::no_parties(),
                Arrival::Wait { ticket, .. } => {
                    // No waker was left, so none was found either: the token's wait leaves one.
                    let generation = ticket.generation;
                    break (Ok(Kept::Ticket(ticket)), generation, None);
                }
                Arrival::Passed(result, woken) => {
                    break (Ok(Kept::Passed(result)), result.generation(), Some(woken));
                }
                Arrival::Lead(seal) => {
                    // It completed the generation: its action runs now.
                    let generation = seal.generation;
                    let (result, woken) = barrier.complete(seal);
                    break (result.map(Kept::Passed), generation, woken);
                }
                Arrival::Orphan(seal) => {
                    if let (_, Some(woken)) = barrier.complete(seal) {
                        woken.wake(barrier);
                    }
                }
            }
        };
        let token = ArrivalToken {
            barrier,
            party,
            arrival: Some(arrival),
            generation,
        };
        // The token holds the result first: if a waker panics, the token is dropped with it
        // and a party keeps its pass.
        if let Some(woken) = woken {
            woken.wake(barrier);
        }
        Ok(token)
    }

    /// A token for an arrival a party kept.
    pub(crate) fn resumed(
        barrier: &'a Barrier,
        party: Option<&'a mut Option<Kept>>,
        kept: Kept,
    ) -> Self {
        let generation = match &kept {
            Kept::Ticket(ticket) => ticket.generation,
            Kept::Passed(result) => result.generation(),
        };
        ArrivalToken {
            barrier,
            party,
            arrival: Some(Ok(kept)),
            generation,
        }
    }

    /// The number of the generation this arrival counted in.
    ///
    /// # Examples
    ///
    /// ```
    /// use agnostic_barrier::Barrier;
    ///
    /// let barrier = Barrier::new(2);
    /// let token = barrier.arrive().unwrap();
    /// assert_eq!(token.generation(), 0);
    /// ```
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Waits for this arrival's generation: the wait every other wait is, with its
    /// [`timeout`](BarrierWait::timeout). `.await` on the token does the same.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future withdraws nothing: the arrival stays counted. (A party's
    /// next wait waits for it instead.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use agnostic_barrier::{Barrier, WaitError};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let barrier = Barrier::new(2);
    /// let token = barrier.arrive().unwrap();
    /// let timeout = tokio::time::sleep(Duration::from_millis(10));
    /// assert_eq!(token.wait().timeout(timeout).await, Err(WaitError::TimedOut));
    /// # });
    /// ```
    pub fn wait(mut self) -> BarrierWait<'a> {
        let arrival = self.arrival.take().expect("a token is waited on once");
        BarrierWait::for_token(self.barrier, self.party.take(), arrival)
    }

    /// Blocks the current thread until this arrival's generation completes.
    ///
    /// # Errors
    ///
    /// As for [`Barrier::wait_blocking`].
    ///
    /// # Blocking
    ///
    /// This parks the thread: do not call it from an async task.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use agnostic_barrier::Barrier;
    ///
    /// let barrier = Arc::new(Barrier::new(2));
    /// let token = barrier.arrive().unwrap();
    /// let other = barrier.clone();
    /// let thread = std::thread::spawn(move || other.wait_blocking().unwrap());
    /// assert_eq!(token.wait_blocking().unwrap().index(), 0);
    /// assert!(thread.join().unwrap().is_leader());
    /// ```
    #[cfg(feature = "std")]
    #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
    pub fn wait_blocking(self) -> Result<BarrierWaitResult, WaitError> {
        let deadline = self.barrier.default_deadline();
        self.block(deadline)
    }

    /// Blocks the current thread until this arrival's generation completes or `timeout`
    /// passes (then the barrier breaks, as for [`Barrier::wait_blocking_timeout`]).
    ///
    /// # Errors
    ///
    /// As for [`Barrier::wait_blocking_timeout`].
    ///
    /// # Blocking
    ///
    /// This parks the thread: do not call it from an async task.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use agnostic_barrier::{Barrier, WaitError};
    ///
    /// let barrier = Barrier::new(2);
    /// let token = barrier.arrive().unwrap();
    /// let result = token.wait_blocking_timeout(Duration::from_millis(10));
    /// assert_eq!(result, Err(WaitError::TimedOut));
    /// ```
    #[cfg(feature = "std")]
    #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
    pub fn wait_blocking_timeout(self, timeout: Duration) -> Result<BarrierWaitResult, WaitError> {
        self.block(crate::blocking::deadline_after(timeout))
    }

    #[cfg(feature = "std")]
    fn block(
        mut self,
        deadline: Option<crate::blocking::Instant>,
    ) -> Result<BarrierWaitResult, WaitError> {
        match self.arrival.take().expect("a token is waited on once") {
            Ok(kept) => self.barrier.block(Some(kept), deadline),
            Err(error) => Err(error),
        }
    }
}

impl<'a> IntoFuture for ArrivalToken<'a> {
    type Output = Result<BarrierWaitResult, WaitError>;
    type IntoFuture = BarrierWait<'a>;

    fn into_future(self) -> BarrierWait<'a> {
        self.wait()
    }
}

impl Drop for ArrivalToken<'_> {
    fn drop(&mut self) {
        if let Some(Ok(kept)) = self.arrival.take() {
            // Irrevocable (SPEC rule 17).
            self.barrier
                .drop_kept(kept, false, self.party.as_deref_mut());
        }
    }
}

impl fmt::Debug for ArrivalToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrivalToken")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}
