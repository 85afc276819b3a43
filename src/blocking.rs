//! Blocking waits for OS threads, on the same barrier as async tasks.

use alloc::sync::Arc;
use core::task::Waker;
use core::time::Duration;
#[cfg(not(loom))]
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::PoisonError;
use std::task::Wake;

use crate::engine::sync::{thread, Condvar, MutexGuard};
use crate::engine::{Arrival, Kept, Polled, State, Ticket};
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
    #[track_caller]
    pub fn wait_blocking(&self) -> Result<BarrierWaitResult, WaitError> {
        self.block(None, self.default_deadline())
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
    #[track_caller]
    pub fn wait_blocking_timeout(&self, timeout: Duration) -> Result<BarrierWaitResult, WaitError> {
        self.block(None, deadline_after(timeout))
    }

    /// The default timeout's deadline, from now.
    pub(crate) fn default_deadline(&self) -> Option<Instant> {
        self.timeout
            .as_ref()
            .and_then(|t| deadline_after(t.duration))
    }

    /// Blocks until this party passes: arriving first, or, given what a party kept (SPEC rule
    /// 16) or a split-phase arrival (rule 17), waiting for that.
    #[track_caller]
    pub(crate) fn block(
        &self,
        start: Option<Kept>,
        deadline: Option<Instant>,
    ) -> Result<BarrierWaitResult, WaitError> {
        // With few parties, each waiting thread parks and is unparked by its own waker: no lock
        // to take again on waking. With many, one condvar notification wakes them all, as in
        // `std::sync::Barrier`, instead of one unpark call per thread from the releasing party.
        // (So does a thread whose thread-local waker is gone: SPEC rule 20.)
        let waker = if self.parties() <= PARK_UP_TO {
            thread_waker()
        } else {
            None
        };
        let mut ticket = match start {
            Some(Kept::Passed(result)) => return Ok(result),
            Some(Kept::Ticket(ticket)) => ticket,
            None => match self.arrive_blocking(waker.clone()) {
                Ok(ticket) => ticket,
                Err(result) => return result,
            },
        };
        if let Some(waker) = &waker {
            self.spin(&ticket);
            loop {
                let polled = match self.poll_ticket(&mut ticket, waker) {
                    Polled::Pending => self.park(&mut ticket, deadline),
                    polled => polled,
                };
                if let Some(result) = self.settle_blocking(polled) {
                    return result;
                }
            }
        }
        loop {
            let polled = self.block_on_ticket(&mut ticket, deadline);
            if let Some(result) = self.settle_blocking(polled) {
                return result;
            }
        }
    }

    /// Arrives for a blocking wait: `Ok(ticket)` to wait on, or `Err` with this call's result.
    #[track_caller]
    fn arrive_blocking(
        &self,
        waker: Option<Waker>,
    ) -> Result<Ticket, Result<BarrierWaitResult, WaitError>> {
        self.expect_parties();
        loop {
            let polled = match self.enter(waker.clone()) {
                Arrival::Wait { ticket, stale, .. } => {
                    if let Some(stale) = stale {
                        stale.wake(); // an ended generation's party, not woken yet
                    }
                    return Ok(ticket);
                }
                Arrival::Broken => return Err(Err(WaitError::Broken)),
                Arrival::NoParties => crate::barrier::no_parties(),
                Arrival::Passed(result, woken) => Polled::Ready(Ok(result), Some(woken)),
                Arrival::Lead(seal) => Polled::Lead(seal),
                Arrival::Orphan(seal) => Polled::Orphan(seal),
            };
            if let Some(result) = self.settle_blocking(polled) {
                return Err(result);
            }
        }
    }

    /// With no more parties than cores, the others are likely running and about to arrive:
    /// look again a few times before paying for a park and an unpark. With more, spinning
    /// would take a core from a party that needs it.
    fn spin(&self, ticket: &Ticket) {
        let spins = if self.parties() <= cores() { SPINS } else { 0 };
        for spins in 0..spins {
            if self.has_ended(ticket) {
                return;
            }
            for _ in 0..1 << spins {
                core::hint::spin_loop();
            }
        }
    }

    /// Parks until unparked or `deadline` (if it applies to this party) passes; then expires.
    fn park(&self, ticket: &mut Ticket, deadline: Option<Instant>) -> Polled {
        match deadline.filter(|_| ticket.can_time_out()) {
            None => thread::park(),
            #[cfg(not(loom))]
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return self.expire(ticket);
                }
                thread::park_timeout(deadline - now);
            }
            #[cfg(loom)]
            Some(never) => match never {},
        }
        Polled::Pending
    }

    /// Acts on what polling the barrier found; `Some` once this call has its result.
    fn settle_blocking(&self, polled: Polled) -> Option<Result<BarrierWaitResult, WaitError>> {
        match polled {
            Polled::Pending => None,
            Polled::Ready(result, woken) => {
                if let Some(woken) = woken {
                    woken.wake(self);
                }
                Some(result)
            }
            Polled::Lead(seal) => {
                let (result, woken) = self.complete(seal);
                if let Some(woken) = woken {
                    woken.wake(self);
                }
                Some(result)
            }
            Polled::Orphan(seal) => {
                // A generation whose parties all gave up: complete it, then go on waiting.
                if let (_, Some(woken)) = self.complete(seal) {
                    woken.wake(self);
                }
                None
            }
        }
    }
}

/// Rounds of exponential spinning (1, 2, 4, … spin hints) before a few-party thread parks.
const SPINS: u32 = 7;

/// The number of cores, asked once (the standard library's answer is not cheap).
#[cfg(not(loom))]
fn cores() -> usize {
    static CORES: AtomicUsize = AtomicUsize::new(0);
    match CORES.load(Relaxed) {
        0 => {
            let cores = thread::available_parallelism().map_or(1, usize::from);
            CORES.store(cores, Relaxed);
            cores
        }
        cores => cores,
    }
}

/// Loom models threads, not cores: never spin there.
#[cfg(loom)]
fn cores() -> usize {
    0
}

/// Up to this many parties, blocked threads park rather than wait on the condvar. Under loom
/// two-party models take the parking path and three-party ones the condvar path.
const PARK_UP_TO: usize = if cfg!(loom) { 2 } else { 8 };

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
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

#[cfg(loom)]
pub(crate) fn deadline_after(_: Duration) -> Option<Instant> {
    panic!("loom does not model time: blocking waits with a timeout are not supported under loom")
}

/// Wakes a thread parked in `Barrier::block`.
struct Unparker(thread::Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// This thread's waker, made once per thread so that blocking waits do not allocate for it;
/// `None` once the thread's locals are being destroyed (a wait from a thread-local destructor
/// then waits on the barrier's condvar: SPEC rule 20).
#[cfg(not(loom))]
fn thread_waker() -> Option<Waker> {
    std::thread_local! {
        static WAKER: Waker = Waker::from(Arc::new(Unparker(thread::current())));
    }
    WAKER.try_with(Waker::clone).ok()
}

#[cfg(loom)]
fn thread_waker() -> Option<Waker> {
    Some(Waker::from(Arc::new(Unparker(thread::current()))))
}
