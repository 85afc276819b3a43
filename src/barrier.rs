use alloc::boxed::Box;
use core::fmt;
use core::panic::{RefUnwindSafe, UnwindSafe};

use crate::builder::DefaultTimeout;
#[cfg(feature = "std")]
use crate::engine::sync::Condvar;
use crate::engine::sync::{AtomicUsize, Mutex, Ordering};
use crate::engine::State;
use crate::engine::{Ends, Fast};
use crate::{BarrierBuilder, BarrierWait};

/// The action a builder installs, run once per generation by its completing party.
pub(crate) type Action = Box<dyn FnMut() + Send>;

/// A barrier that `parties` async tasks or threads pass together, generation after generation.
///
/// Each party calls [`wait()`](Barrier::wait) (async) or
/// [`wait_blocking()`](Barrier::wait_blocking) (threads); all of them are released together
/// once `parties` have arrived, and the barrier is ready for the next generation. It has the
/// semantics of Python's `threading.Barrier`: an arrival [`index`](crate::BarrierWaitResult::index),
/// an [action](BarrierBuilder::action), [timeouts](BarrierWait::timeout) that break the barrier,
/// [`abort()`](Barrier::abort), [`reset()`](Barrier::reset) and a broken state; and a wait that
/// can be dropped (by `select!` or `tokio::time::timeout`) without harming the others.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use agnostic_barrier::Barrier;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let barrier = Arc::new(Barrier::new(3));
/// let mut tasks = Vec::new();
/// for _ in 0..3 {
///     let barrier = barrier.clone();
///     tasks.push(tokio::spawn(async move { barrier.wait().await.unwrap() }));
/// }
/// let mut leaders = 0;
/// for task in tasks {
///     leaders += task.await.unwrap().is_leader() as usize;
/// }
/// assert_eq!(leaders, 1);
/// # });
/// ```
pub struct Barrier {
    /// What `parties()` returns: `State::parties`, written under the lock, read without it.
    pub(crate) parties: AtomicUsize,
    pub(crate) state: Mutex<State>,
    /// The lock-free arrival path, and the slots where its parties leave their wakers.
    pub(crate) fast: Fast,
    /// Which generations have ended and how, for waiting parties to read without the lock.
    pub(crate) ends: Ends,
    /// Where blocking waits sleep, with `state`'s lock.
    #[cfg(feature = "std")]
    pub(crate) blocked: Condvar,
    /// `None` lets the completing party seal and release in one critical section.
    pub(crate) action: Option<Mutex<Action>>,
    pub(crate) timeout: Option<DefaultTimeout>,
}

// Nothing a panic could interrupt leaves the barrier inconsistent: see `sync::lock`.
impl UnwindSafe for Barrier {}
impl RefUnwindSafe for Barrier {}

/// A barrier for `parties` (0 for a dynamic one), with no action and no default timeout: the
/// body of the constructors, which are `const fn`s except under loom.
macro_rules! barrier_with {
    ($parties:expr) => {{
        Barrier {
            parties: AtomicUsize::new($parties),
            state: Mutex::new(State::new($parties)),
            fast: Fast::new(),
            ends: Ends::new(),
            #[cfg(feature = "std")]
            blocked: Condvar::new(),
            action: None,
            timeout: None,
        }
    }};
}

impl Barrier {
    /// Creates a barrier for `parties` parties, with no action and no default timeout.
    ///
    /// # Panics
    ///
    /// Panics if `parties` is 0, naming the caller's line.
    ///
    /// # Examples
    ///
    /// ```
    /// use agnostic_barrier::Barrier;
    ///
    /// static START: Barrier = Barrier::new(4);
    /// assert_eq!(START.parties(), 4);
    /// ```
    #[cfg(not(loom))]
    #[track_caller]
    #[must_use]
    pub const fn new(parties: usize) -> Barrier {
        assert!(
            parties > 0,
            "a barrier needs at least one party (parties was 0)"
        );
        barrier_with!(parties)
    }

    /// Creates a barrier for `parties` parties (loom's types cannot be built in a `const fn`).
    #[cfg(loom)]
    #[track_caller]
    #[must_use]
    pub fn new(parties: usize) -> Barrier {
        assert!(
            parties > 0,
            "a barrier needs at least one party (parties was 0)"
        );
        barrier_with!(parties)
    }

    /// A barrier for `parties`, which may be 0 (dynamic barriers and their builder).
    #[cfg(not(loom))]
    pub(crate) const fn with_parties(parties: usize) -> Barrier {
        barrier_with!(parties)
    }

    #[cfg(loom)]
    pub(crate) fn with_parties(parties: usize) -> Barrier {
        barrier_with!(parties)
    }

    /// Starts building a barrier for `parties` parties with an action or a default timeout.
    ///
    /// # Panics
    ///
    /// Panics if `parties` is 0, naming the caller's line.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use agnostic_barrier::Barrier;
    ///
    /// let rounds = Arc::new(AtomicUsize::new(0));
    /// let counter = rounds.clone();
    /// let barrier = Barrier::builder(1)
    ///     .action(move || { counter.fetch_add(1, Ordering::Relaxed); })
    ///     .build();
    /// futures::executor::block_on(barrier.wait()).unwrap();
    /// assert_eq!(rounds.load(Ordering::Relaxed), 1);
    /// ```
    #[track_caller]
    pub fn builder(parties: usize) -> BarrierBuilder {
        assert!(
            parties > 0,
            "a barrier needs at least one party (parties was 0)"
        );
        BarrierBuilder::new(parties)
    }

    /// Waits until all parties have arrived.
    ///
    /// The party arrives when the returned future is first polled. It resolves to
    /// `Ok(BarrierWaitResult)` when its generation completes, or to an error:
    ///
    /// # Errors
    ///
    /// - [`WaitError::Broken`](crate::WaitError::Broken) at once, without arriving, if the
    ///   barrier is broken; or when it is broken ([`abort()`](Barrier::abort), another party's
    ///   timeout, a panicking action) or [`reset()`](Barrier::reset) while this party waits.
    /// - [`WaitError::TimedOut`](crate::WaitError::TimedOut) if the barrier was built with a
    ///   [default timeout](BarrierBuilder::timeout) and it passed before the generation
    ///   completed; the barrier is then broken for everyone.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future
    /// - before its first poll does nothing;
    /// - after it arrived and before its generation's last party arrived withdraws the arrival:
    ///   [`n_waiting()`](Barrier::n_waiting) goes down by one, the barrier is not broken, and
    ///   the generation waits for one more arrival (its index goes to that arrival);
    /// - after its generation's last party arrived (the generation is then sealed, even while
    ///   the action runs) does nothing to the others: they are released, and **this party's
    ///   pass is lost**: its next `wait()` is a new arrival, in the next generation.
    ///
    /// So `tokio::time::timeout(d, barrier.wait())` and a losing `select!` branch give up
    /// quietly. To give up *loudly*, breaking the barrier as Python and Java do, use
    /// [`BarrierWait::timeout`].
    ///
    /// The lost pass is how a `select!` **loop** around `barrier.wait()` can hang: if another
    /// branch wins in the very poll in which the generation completed, the wait is dropped with
    /// its pass, and the loop's next `barrier.wait()` waits in the next generation for parties
    /// that have gone on. (`biased;` with the barrier branch first narrows the window but does
    /// not close it.) Make the wait once, before the loop, and poll it by `&mut` (it is
    /// `Unpin`): it keeps its arrival and its pass however often the other branch wins.
    ///
    /// ```
    /// use std::time::Duration;
    /// use agnostic_barrier::Barrier;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let barrier = Barrier::new(1);
    /// let mut tick = tokio::time::interval(Duration::from_millis(100));
    /// let mut wait = barrier.wait(); // made once: it cannot lose its pass
    /// let passed = loop {
    ///     tokio::select! {
    ///         passed = &mut wait => break passed,
    ///         _ = tick.tick() => println!("still waiting"),
    ///     }
    /// };
    /// assert!(passed.is_ok());
    /// # });
    /// ```
    ///
    /// # Panics
    ///
    /// Polling the future after it completed panics. A panic of user code it runs (the action,
    /// the default timeout's `sleep`, a waker) surfaces in its poll; the arrival is then either
    /// not made or still withdrawn by a drop, and a result already decided is handed out by
    /// the next poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use agnostic_barrier::Barrier;
    ///
    /// # smol::block_on(async {
    /// let barrier = Barrier::new(2);
    /// let (a, b) = futures::join!(barrier.wait(), barrier.wait());
    /// let (a, b) = (a.unwrap(), b.unwrap());
    /// assert!(a.is_leader() != b.is_leader());
    /// assert_eq!(a.index() + b.index(), 1);
    /// # });
    /// ```
    #[track_caller]
    pub fn wait(&self) -> BarrierWait<'_> {
        self.expect_parties();
        BarrierWait::new(self)
    }

    /// Panics, naming the caller's line, if nobody is expected (SPEC rule 14).
    #[track_caller]
    pub(crate) fn expect_parties(&self) {
        if self.parties.load(Ordering::Relaxed) == 0 {
            no_parties();
        }
    }

    /// Breaks the barrier: every party waiting (in any generation not yet completed) gets
    /// [`WaitError::Broken`](crate::WaitError::Broken), and so does every later wait, at once and
    /// without arriving, until [`reset()`](Barrier::reset).
    ///
    /// Parties of a generation that already completed still get `Ok`. Called from the action,
    /// it breaks the generation being completed.
    ///
    /// # Examples
    ///
    /// ```
    /// use agnostic_barrier::{Barrier, WaitError};
    ///
    /// let barrier = Barrier::new(2);
    /// barrier.abort();
    /// assert!(barrier.is_broken());
    /// assert_eq!(futures::executor::block_on(barrier.wait()), Err(WaitError::Broken));
    /// assert_eq!(barrier.n_waiting(), 0);
    /// ```
    pub fn abort(&self) {
        let woken = self.break_locked(&mut self.lock_state());
        woken.wake(self);
    }

    /// Gives every waiting party [`WaitError::Broken`](crate::WaitError::Broken), then leaves the
    /// barrier intact and empty, one generation further on.
    ///
    /// After it, [`is_broken()`](Barrier::is_broken) is `false`, [`n_waiting()`](Barrier::n_waiting)
    /// is 0 and the next `parties` arrivals complete a generation. Resetting a fresh, idle or
    /// broken barrier is harmless. Called from the action, it gives that generation's parties
    /// `Broken`.
    ///
    /// # Examples
    ///
    /// ```
    /// use agnostic_barrier::Barrier;
    ///
    /// let barrier = Barrier::new(1);
    /// barrier.abort();
    /// barrier.reset();
    /// assert!(!barrier.is_broken());
    /// assert_eq!(barrier.generation(), 1);
    /// assert!(futures::executor::block_on(barrier.wait()).is_ok());
    /// ```
    pub fn reset(&self) {
        let woken = self.reset_locked(&mut self.lock_state());
        woken.wake(self);
    }

    /// Whether the barrier is broken (by [`abort()`](Barrier::abort), a timeout or a panicking
    /// action) and not yet [`reset()`](Barrier::reset).
    ///
    /// # Examples
    ///
    /// ```
    /// use agnostic_barrier::Barrier;
    ///
    /// let barrier = Barrier::new(2);
    /// assert!(!barrier.is_broken());
    /// barrier.abort();
    /// assert!(barrier.is_broken());
    /// ```
    #[must_use]
    pub fn is_broken(&self) -> bool {
        self.peek_state().broken
    }

    /// The number of parties the generation being filled needs: as created, then changed by
    /// [`add_parties()`](Barrier::add_parties), [`join()`](Barrier::join) and departures
    /// ([`arrive_and_drop()`](Barrier::arrive_and_drop), a [`Party`](crate::Party) leaving).
    ///
    /// While a generation is completing (its last party arrived: its action runs, or its leader
    /// is yet to run it), [`n_waiting()`](Barrier::n_waiting) and
    /// [`generation()`](Barrier::generation) describe that generation, and `parties()` the
    /// next one, so parties joined or departed meanwhile show here already.
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = agnostic_barrier::Barrier::new(3);
    /// assert_eq!(barrier.parties(), 3);
    /// barrier.add_parties(2);
    /// assert_eq!(barrier.parties(), 5);
    /// ```
    #[must_use]
    pub fn parties(&self) -> usize {
        self.parties.load(Ordering::Relaxed)
    }

    /// The number of parties arrived in the generation being filled.
    ///
    /// Released parties no longer count, even before they are polled; inside the action it is
    /// `parties()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context, Waker};
    /// use agnostic_barrier::Barrier;
    ///
    /// let barrier = Barrier::new(2);
    /// let mut wait = pin!(barrier.wait());
    /// assert_eq!(barrier.n_waiting(), 0); // not polled yet: not arrived
    /// let _ = wait.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    /// assert_eq!(barrier.n_waiting(), 1);
    /// ```
    #[must_use]
    pub fn n_waiting(&self) -> usize {
        match self.fast.count() {
            Some(arrived) => arrived,
            None => self.lock_state().n_waiting(),
        }
    }

    /// The number of the generation being filled: 0 at first, one more each time a generation
    /// completes and each time [`reset()`](Barrier::reset) is called. Inside the action it is
    /// still the completing generation's number.
    ///
    /// # Examples
    ///
    /// ```
    /// use agnostic_barrier::Barrier;
    ///
    /// let barrier = Barrier::new(1);
    /// assert_eq!(barrier.generation(), 0);
    /// futures::executor::block_on(barrier.wait()).unwrap();
    /// assert_eq!(barrier.generation(), 1);
    /// barrier.reset();
    /// assert_eq!(barrier.generation(), 2);
    /// ```
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.peek_state().generation
    }
}

/// The panic of a wait on a barrier that expects nobody.
#[cold]
#[track_caller]
pub(crate) fn no_parties() -> ! {
    panic!("the barrier has no parties: nobody is expected to wait (join() or add_parties() first)")
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("generation", &self.generation())
            .field("is_broken", &self.is_broken())
            .finish()
    }
}
