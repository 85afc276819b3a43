//! Parties that join and leave (SPEC rules 14-16): `add_parties`, `arrive_and_drop`, and the
//! `Party` guards, which never lose a pass and break the barrier if their thread panics.

use alloc::sync::Arc;
use core::fmt;
#[cfg(feature = "std")]
use core::time::Duration;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::engine::Kept;
#[cfg(feature = "std")]
use crate::BarrierWaitResult;
use crate::{ArrivalToken, Barrier, BarrierBuilder, BarrierWait, WaitError};

impl Barrier {
    /// Creates a barrier with no parties yet: they [`join()`](Barrier::join) or are added with
    /// [`add_parties()`](Barrier::add_parties). Until then nobody is expected, and a wait
    /// panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use agnostic_barrier::Barrier;
    ///
    /// static POOL: Barrier = Barrier::dynamic();
    /// assert_eq!(POOL.parties(), 0);
    /// let mut worker = POOL.join();
    /// assert_eq!(POOL.parties(), 1);
    /// assert!(futures::executor::block_on(worker.wait()).unwrap().is_leader());
    /// ```
    #[cfg(not(loom))]
    #[must_use]
    pub const fn dynamic() -> Barrier {
        Barrier::with_parties(0)
    }

    /// Creates a barrier with no parties yet (loom's types cannot be built in a `const fn`).
    #[cfg(loom)]
    #[must_use]
    pub fn dynamic() -> Barrier {
        Barrier::with_parties(0)
    }

    /// Starts building a barrier with no parties yet (see [`dynamic()`](Barrier::dynamic)),
    /// with an action or a default timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use agnostic_barrier::Barrier;
    ///
    /// let barrier = Barrier::dynamic_builder().action(|| println!("phase done")).build();
    /// assert_eq!(barrier.parties(), 0);
    /// ```
    pub fn dynamic_builder() -> BarrierBuilder {
        BarrierBuilder::new(0)
    }

    /// Adds `n` parties, from the first generation not yet sealed (the one being filled, unless
    /// its last party has arrived) on; returns that generation's number. Like .NET's
    /// `Barrier.AddParticipants` and Java's `Phaser.bulkRegister`.
    ///
    /// # Panics
    ///
    /// Panics, naming the caller's line, if the number of parties would overflow `usize`.
    ///
    /// # Examples
    ///
    /// ```
    /// use agnostic_barrier::Barrier;
    ///
    /// let barrier = Barrier::new(1);
    /// assert_eq!(barrier.add_parties(2), 0); // they count from generation 0
    /// assert_eq!(barrier.parties(), 3);
    /// ```
    #[track_caller]
    pub fn add_parties(&self, n: usize) -> u64 {
        self.add(n)
            .expect("too many parties: the count overflows usize")
    }

    /// One party fewer, from the first generation not yet sealed on: a departure, as C++'s
    /// `std::barrier::arrive_and_drop` names it (here it does not arrive). Like .NET's
    /// `Barrier.RemoveParticipant` and Java's `Phaser.arriveAndDeregister`.
    ///
    /// A departure never arrives, takes no index and never breaks the barrier. If it leaves the
    /// generation being filled with all its parties arrived, that generation completes: the
    /// party that arrived last is its leader, and the action runs on that leader, in its next
    /// poll (or on its thread, for a blocking wait), never inside this call.
    ///
    /// # Panics
    ///
    /// Panics, naming the caller's line, if the barrier has no parties.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context, Poll, Waker};
    /// use agnostic_barrier::Barrier;
    ///
    /// let barrier = Barrier::new(2);
    /// let mut wait = pin!(barrier.wait());
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(wait.as_mut().poll(&mut cx).is_pending()); // waits for the other party
    /// barrier.arrive_and_drop(); // the other party leaves instead
    /// assert_eq!(barrier.parties(), 1);
    /// let passed = match wait.as_mut().poll(&mut cx) {
    ///     Poll::Ready(passed) => passed.unwrap(),
    ///     Poll::Pending => unreachable!(),
    /// };
    /// assert!(passed.is_leader()); // the last to arrive leads
    /// ```
    #[track_caller]
    pub fn arrive_and_drop(&self) {
        match self.depart() {
            Some(woken) => woken.wake(self),
            None => panic!("arrive_and_drop() on a barrier with no parties"),
        }
    }

    /// Joins the barrier: [`add_parties(1)`](Barrier::add_parties), as a guard that leaves
    /// when dropped. The party waits with [`Party::wait`], which never loses a pass, and if its
    /// thread panics while it holds the guard, the barrier breaks (see [`Party`]).
    ///
    /// # Panics
    ///
    /// Panics, naming the caller's line, if the number of parties would overflow `usize`.
    ///
    /// # Examples
    ///
    /// ```
    /// use agnostic_barrier::Barrier;
    ///
    /// let barrier = Barrier::new(1);
    /// let mut party = barrier.join(); // now 2 parties
    /// let (a, b) = futures::executor::block_on(futures::future::join(barrier.wait(), party.wait()));
    /// assert_eq!(a.unwrap().index() + b.unwrap().index(), 1);
    /// party.leave(); // 1 party again
    /// assert_eq!(barrier.parties(), 1);
    /// ```
    #[track_caller]
    pub fn join(&self) -> Party<'_> {
        self.add_parties(1);
        Party {
            barrier: self,
            kept: None,
            left: false,
        }
    }

    /// Joins the barrier as [`join()`](Barrier::join) does, with a guard that owns an `Arc` of
    /// the barrier, for spawned tasks (`'static`), as tokio's `Semaphore::acquire_owned` does.
    ///
    /// # Panics
    ///
    /// Panics, naming the caller's line, if the number of parties would overflow `usize`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use agnostic_barrier::Barrier;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let barrier = Arc::new(Barrier::dynamic());
    /// // All join before any waits: each generation needs all three.
    /// let parties: Vec<_> = (0..3).map(|_| barrier.clone().join_owned()).collect();
    /// let workers: Vec<_> = parties
    ///     .into_iter()
    ///     .map(|mut party| tokio::spawn(async move { party.wait().await.unwrap() }))
    ///     .collect();
    /// let mut leaders = 0;
    /// for worker in workers {
    ///     leaders += worker.await.unwrap().is_leader() as usize;
    /// }
    /// assert_eq!(leaders, 1);
    /// assert_eq!(barrier.parties(), 0); // each left as its task ended
    /// # });
    /// ```
    #[track_caller]
    pub fn join_owned(self: Arc<Self>) -> OwnedParty {
        self.add_parties(1);
        OwnedParty {
            barrier: self,
            kept: None,
            left: false,
        }
    }
}

/// A party's bookkeeping, the same for [`Party`] and [`OwnedParty`].
mod imp {
    use super::*;

    #[track_caller]
    pub(super) fn wait<'p>(barrier: &'p Barrier, kept: &'p mut Option<Kept>) -> BarrierWait<'p> {
        let start = kept.take().and_then(|kept| barrier.resume(kept));
        if start.is_none() {
            barrier.expect_parties();
        }
        BarrierWait::for_party(barrier, Some(kept), start)
    }

    #[cfg(feature = "std")]
    #[track_caller]
    pub(super) fn wait_blocking(
        barrier: &Barrier,
        kept: &mut Option<Kept>,
        deadline: Option<crate::blocking::Instant>,
    ) -> Result<BarrierWaitResult, WaitError> {
        let start = kept.take().and_then(|kept| barrier.resume(kept));
        barrier.block(start, deadline)
    }

    #[track_caller]
    pub(super) fn arrive<'p>(
        barrier: &'p Barrier,
        kept: &'p mut Option<Kept>,
    ) -> Result<ArrivalToken<'p>, WaitError> {
        // At most one arrival outstanding: a kept one is this token's (SPEC rule 16).
        match kept.take().and_then(|kept| barrier.resume(kept)) {
            Some(start) => Ok(ArrivalToken::resumed(barrier, Some(kept), start)),
            None => ArrivalToken::arrive(barrier, Some(kept)),
        }
    }

    /// A party's guard is dropped: it departs (SPEC rule 14). While the thread panics, it
    /// breaks the barrier first (rule 15), and swallows any panic of a waker it wakes: a panic
    /// escaping a drop during an unwind would abort the process.
    pub(super) fn dropped(barrier: &Barrier, kept: &mut Option<Kept>) {
        if std::thread::panicking() {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                barrier.abort();
            }));
            let _ = catch_unwind(AssertUnwindSafe(|| depart(barrier, kept)));
        } else {
            depart(barrier, kept);
        }
    }

    /// Leaves: stops waiting on a kept arrival, then departs (SPEC rule 14).
    pub(super) fn depart(barrier: &Barrier, kept: &mut Option<Kept>) {
        let deferred = match kept.take() {
            // Its arrival still counts where it was made: the departure applies after that
            // generation (when it counts in the one being filled).
            Some(Kept::Ticket(ticket)) => barrier.leave_arrival(ticket),
            _ => false,
        };
        if !deferred {
            if let Some(woken) = barrier.depart() {
                woken.wake(barrier);
            }
        }
    }
}

/// The methods of [`Party`] and [`OwnedParty`], whose docs say the same of both.
macro_rules! party_methods {
    ($join:literal) => {
        /// Waits until all parties have arrived, as [`Barrier::wait`] does, without ever losing
        /// a pass (SPEC rule 16).
        ///
        /// If this party's previous wait was dropped after its generation was sealed (a
        /// `select!` whose other branch won, a `timeout` that elapsed just then), this wait
        /// returns that pass, at once if its generation was released, without arriving again.
        /// If an [`ArrivalToken`] of this party was dropped, this wait waits for that arrival's
        /// generation instead of arriving again. A `Broken` this party missed (its generation
        /// broke while no wait of it was polled) is not kept: this wait arrives anew.
        ///
        /// # Errors
        ///
        /// As for [`Barrier::wait`]: [`WaitError::Broken`] if the barrier is or becomes broken,
        /// or is reset; [`WaitError::TimedOut`] if a default timeout passed first.
        ///
        /// # Cancel safety
        ///
        /// Dropping the future before its first poll does nothing. Dropping it after it
        /// arrived, before its generation was sealed, withdraws the arrival (as for
        /// [`Barrier::wait`]). Dropping it later keeps the pass for this party's next wait: so
        /// a `select!` loop around `party.wait()` cannot hang.
        ///
        /// # Panics
        ///
        /// Panics, naming the caller's line, if the barrier has no parties (another caller
        /// dropped more than joined).
        ///
        /// # Examples
        ///
        /// ```
        /// use std::time::Duration;
        /// use std::sync::Arc;
        /// use agnostic_barrier::Barrier;
        ///
        /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
        /// let barrier = Arc::new(Barrier::dynamic());
        #[doc = $join]
        /// let mut tick = tokio::time::interval(Duration::from_millis(1));
        /// // A new wait each time round: with a party, the loop cannot lose its pass.
        /// let passed = loop {
        ///     tokio::select! {
        ///         passed = party.wait() => break passed,
        ///         _ = tick.tick() => {}
        ///     }
        /// };
        /// assert!(passed.is_ok());
        /// # });
        /// ```
        #[track_caller]
        pub fn wait(&mut self) -> BarrierWait<'_> {
            imp::wait(&self.barrier, &mut self.kept)
        }

        /// Blocks the current thread until all parties have arrived, as
        /// [`Barrier::wait_blocking`] does, returning a pass this party kept (see
        /// [`wait()`](Self::wait)) instead of arriving again.
        ///
        /// # Errors
        ///
        /// As for [`Barrier::wait_blocking`].
        ///
        /// # Panics
        ///
        /// Panics, naming the caller's line, if the barrier has no parties.
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
        /// let barrier = Arc::new(Barrier::new(1));
        #[doc = $join]
        /// let other = barrier.clone();
        /// let thread = std::thread::spawn(move || other.wait_blocking().unwrap());
        /// let mine = party.wait_blocking().unwrap();
        /// assert_eq!(mine.index() + thread.join().unwrap().index(), 1);
        /// ```
        #[cfg(feature = "std")]
        #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
        #[track_caller]
        pub fn wait_blocking(&mut self) -> Result<BarrierWaitResult, WaitError> {
            let deadline = self.barrier.default_deadline();
            imp::wait_blocking(&self.barrier, &mut self.kept, deadline)
        }

        /// Blocks the current thread until all parties have arrived or `timeout` passes, as
        /// [`Barrier::wait_blocking_timeout`] does (a timeout breaks the barrier), returning a
        /// pass this party kept instead of arriving again.
        ///
        /// # Errors
        ///
        /// As for [`Barrier::wait_blocking_timeout`].
        ///
        /// # Panics
        ///
        /// Panics, naming the caller's line, if the barrier has no parties.
        ///
        /// # Blocking
        ///
        /// This parks the thread: do not call it from an async task.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::sync::Arc;
        /// use std::time::Duration;
        /// use agnostic_barrier::{Barrier, WaitError};
        ///
        /// let barrier = Arc::new(Barrier::new(1));
        #[doc = $join]
        /// // Nobody else comes: the timeout breaks the barrier.
        /// let result = party.wait_blocking_timeout(Duration::from_millis(10));
        /// assert_eq!(result, Err(WaitError::TimedOut));
        /// ```
        #[cfg(feature = "std")]
        #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
        #[track_caller]
        pub fn wait_blocking_timeout(
            &mut self,
            timeout: Duration,
        ) -> Result<BarrierWaitResult, WaitError> {
            let deadline = crate::blocking::deadline_after(timeout);
            imp::wait_blocking(&self.barrier, &mut self.kept, deadline)
        }

        /// Arrives now and returns a token to wait with later (split phase, SPEC rule 17), as
        /// [`Barrier::arrive`] does. A party has at most one arrival outstanding: if its
        /// previous token or wait was dropped with its arrival still pending (or its pass not
        /// yet handed out), the token is for that arrival, and nothing arrives.
        ///
        /// # Errors
        ///
        /// [`WaitError::Broken`] without arriving if the barrier is broken.
        ///
        /// # Panics
        ///
        /// Panics, naming the caller's line, if the barrier has no parties; a panic of the
        /// action (run here if this arrival completes the generation) propagates.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::sync::Arc;
        /// use agnostic_barrier::Barrier;
        ///
        /// let barrier = Arc::new(Barrier::new(1));
        #[doc = $join]
        /// let token = party.arrive().unwrap(); // arrived: one more makes the generation
        /// assert_eq!(barrier.n_waiting(), 1);
        /// drop(token); // the arrival stays, and the party keeps it
        /// let other = futures::executor::block_on(barrier.wait()).unwrap();
        /// let mine = futures::executor::block_on(party.wait()).unwrap(); // no new arrival
        /// assert_eq!((mine.generation(), other.generation()), (0, 0));
        /// ```
        #[track_caller]
        pub fn arrive(&mut self) -> Result<ArrivalToken<'_>, WaitError> {
            imp::arrive(&self.barrier, &mut self.kept)
        }

        /// The barrier this party belongs to.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::sync::Arc;
        /// use agnostic_barrier::Barrier;
        ///
        /// let barrier = Arc::new(Barrier::new(1));
        #[doc = $join]
        /// assert_eq!(party.barrier().parties(), 2);
        /// ```
        #[must_use]
        pub fn barrier(&self) -> &Barrier {
            &self.barrier
        }

        /// Leaves the barrier: one party fewer from the first generation not yet sealed on, as
        /// [`Barrier::arrive_and_drop`] does (a departure completes the generation being filled
        /// if everyone left in it has arrived). Dropping the party does the same, unless its
        /// thread is panicking: then it also breaks the barrier (SPEC rule 15).
        ///
        /// # Examples
        ///
        /// ```
        /// use std::sync::Arc;
        /// use agnostic_barrier::Barrier;
        ///
        /// let barrier = Arc::new(Barrier::new(1));
        #[doc = $join]
        /// party.leave();
        /// assert_eq!(barrier.parties(), 1);
        /// assert!(!barrier.is_broken());
        /// ```
        pub fn leave(mut self) {
            imp::depart(&self.barrier, &mut self.kept);
            self.left = true;
        }
    };
}

/// A party that joined a barrier with [`Barrier::join`]: a guard that leaves when dropped.
///
/// Its waits never lose a pass (SPEC rule 16): a `select!` loop or a retried `timeout` around
/// [`party.wait()`](Party::wait) cannot hang the way the same loop around an anonymous
/// [`Barrier::wait`] can. Dropped while its thread panics (a worker panicking drops it during
/// the unwind), it breaks the barrier as [`Barrier::abort`] does, and leaves, so the others get
/// [`WaitError::Broken`] instead of going on without its work; dropped otherwise, or cancelled
/// with its task, it leaves quietly.
///
/// # Examples
///
/// ```
/// use agnostic_barrier::Barrier;
///
/// let barrier = Barrier::dynamic();
/// let mut a = barrier.join();
/// let mut b = barrier.join();
/// let (x, y) = futures::executor::block_on(futures::future::join(a.wait(), b.wait()));
/// assert_eq!(x.unwrap().index() + y.unwrap().index(), 1);
/// drop(b); // leaves: a alone passes now
/// assert!(futures::executor::block_on(a.wait()).unwrap().is_leader());
/// ```
#[must_use = "dropping a party leaves the barrier at once"]
pub struct Party<'a> {
    barrier: &'a Barrier,
    /// What a dropped wait or token left for the next one (SPEC rule 16).
    kept: Option<Kept>,
    /// It left with `leave()`: its drop does nothing more.
    left: bool,
}

impl Party<'_> {
    party_methods!("let mut party = barrier.join();");
}

impl Drop for Party<'_> {
    fn drop(&mut self) {
        if !self.left {
            imp::dropped(self.barrier, &mut self.kept);
        }
    }
}

impl fmt::Debug for Party<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Party")
            .field("barrier", &self.barrier)
            .field("kept", &self.kept.is_some())
            .finish()
    }
}

/// A party that joined a barrier with [`Barrier::join_owned`]: the same as [`Party`], owning an
/// `Arc` of the barrier so that it can move into a spawned task.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use agnostic_barrier::Barrier;
///
/// let barrier = Arc::new(Barrier::dynamic());
/// let mut party = barrier.clone().join_owned();
/// let thread = std::thread::spawn(move || party.wait_blocking().unwrap());
/// assert!(thread.join().unwrap().is_leader());
/// assert_eq!(barrier.parties(), 0);
/// ```
#[must_use = "dropping a party leaves the barrier at once"]
pub struct OwnedParty {
    barrier: Arc<Barrier>,
    kept: Option<Kept>,
    left: bool,
}

impl OwnedParty {
    party_methods!("let mut party = barrier.clone().join_owned();");
}

impl Drop for OwnedParty {
    fn drop(&mut self) {
        if !self.left {
            imp::dropped(&self.barrier, &mut self.kept);
        }
    }
}

impl fmt::Debug for OwnedParty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedParty")
            .field("barrier", &self.barrier)
            .field("kept", &self.kept.is_some())
            .finish()
    }
}
