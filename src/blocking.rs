//! Blocking waits for OS threads, on the same barrier as async tasks.

use core::time::Duration;
use std::sync::PoisonError;

use crate::protocol::{Arrival, State};
use crate::sync::{Condvar, MutexGuard};
use crate::{Barrier, BarrierWaitResult, WaitError};

#[cfg(not(loom))]
pub(crate) use std::time::Instant;
/// Loom does not model time: no deadline can be made under it.
#[cfg(loom)]
pub(crate) type Instant = core::convert::Infallible;

impl Barrier {
    /// Blocks the current thread until all parties have arrived.
    ///
    /// The barrier's [default timeout](crate::BarrierBuilder::timeout), if any, applies.
    /// Blocking and async parties can share one barrier.
    ///
    /// # Errors
    ///
    /// As for [`wait()`](Barrier::wait): [`WaitError::Broken`] if the barrier is or becomes
    /// broken or is reset; [`WaitError::TimedOut`] if the default timeout passed first (the
    /// barrier is then broken for everyone).
    ///
    /// # Blocking
    ///
    /// This parks the thread: do not call it from an async task (use [`wait()`](Barrier::wait)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::thread;
    /// use agnostic_barrier::Barrier;
    ///
    /// let barrier = Arc::new(Barrier::new(2));
    /// let other = barrier.clone();
    /// let thread = thread::spawn(move || other.wait_blocking().unwrap());
    /// let mine = futures::executor::block_on(barrier.wait()).unwrap(); // async and blocking mix
    /// let theirs = thread.join().unwrap();
    /// assert_eq!(mine.index() + theirs.index(), 1);
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
    pub fn wait_blocking(&self) -> Result<BarrierWaitResult, WaitError> {
        let deadline = self
            .timeout
            .as_ref()
            .and_then(|t| deadline_after(t.duration));
        self.block(deadline)
    }

    /// Blocks the current thread until all parties have arrived or `timeout` passes.
    ///
    /// If `timeout` passes first the barrier is broken, this party gets
    /// [`WaitError::TimedOut`] and the others [`WaitError::Broken`]. A zero timeout breaks the
    /// barrier at once unless this party completes the generation. A `timeout` too large to add
    /// to the current instant means no limit. It replaces the barrier's default timeout.
    ///
    /// # Errors
    ///
    /// [`WaitError::TimedOut`] as above; [`WaitError::Broken`] if the barrier is or becomes
    /// broken or is reset.
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
    /// let result = barrier.wait_blocking_timeout(Duration::from_millis(10));
    /// assert_eq!(result, Err(WaitError::TimedOut));
    /// assert!(barrier.is_broken());
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
    pub fn wait_blocking_timeout(&self, timeout: Duration) -> Result<BarrierWaitResult, WaitError> {
        self.block(deadline_after(timeout))
    }

    fn block(&self, deadline: Option<Instant>) -> Result<BarrierWaitResult, WaitError> {
        match self.arrive(None) {
            Arrival::Broken => Err(WaitError::Broken),
            Arrival::Passed(result) => Ok(result),
            Arrival::Lead(seal) => self.complete(seal),
            Arrival::Wait(ticket) => {
                let deadline = deadline.filter(|_| ticket.can_time_out());
                self.block_on_ticket(&ticket, deadline)
            }
        }
    }
}

/// Waits on `condvar` until notified (or spuriously woken), or until `deadline`; returns the
/// relocked state and whether the deadline has passed.
pub(crate) fn wait<'a>(
    condvar: &Condvar,
    st: MutexGuard<'a, State>,
    deadline: Option<Instant>,
) -> (MutexGuard<'a, State>, bool) {
    match deadline {
        None => (
            condvar.wait(st).unwrap_or_else(PoisonError::into_inner),
            false,
        ),
        #[cfg(not(loom))]
        Some(deadline) => {
            let now = Instant::now();
            if now >= deadline {
                return (st, true);
            }
            let (st, _) = condvar
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner);
            (st, Instant::now() >= deadline)
        }
        #[cfg(loom)]
        Some(never) => match never {},
    }
}

#[cfg(not(loom))]
fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

#[cfg(loom)]
fn deadline_after(_: Duration) -> Option<Instant> {
    panic!("loom does not model time: blocking waits with a timeout are not supported under loom")
}
