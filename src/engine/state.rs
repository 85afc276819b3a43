//! How parties arrive, wait, leave and get released: the state behind the barrier's lock and the
//! transitions on it.
//!
//! A waiting party arrives under `Barrier::state`'s lock, leaving its waker in its seat and
//! noting its generation's epoch. Every transition that ends a generation (completion, abort,
//! reset, a timeout, a panicking action) happens under the same lock, publishes the end in
//! `Barrier::ends` before unlocking and wakes the parties after. So a party that holds the lock
//! and sees its generation open knows it stays open until it unlocks, and a released party
//! learns so from two atomic loads, without the lock.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::any::Any;
use core::mem;
use core::task::{Poll, Waker};

use crate::engine::bucket::Bucket;
use crate::engine::ends::{Broken, Seen, Signal};
use crate::engine::sync::{lock, MutexGuard};
use crate::engine::woken::Woken;
use crate::{Barrier, BarrierWaitResult, WaitError};

/// The state behind the barrier's lock.
#[derive(Debug)]
pub(crate) struct State {
    /// What `Barrier::generation()` returns.
    pub(crate) generation: u64,
    pub(crate) broken: bool,
    /// The generation being filled, or completing: once it is full (sealed), its action runs
    /// outside the lock until it is released, broken or reset, which replaces it.
    pub(crate) current: Bucket,
    /// Arrivals while `current` completes, by generation: they count toward the following
    /// generations. All but the last are full, hence sealed: the last party of each waits as its
    /// *pending leader*, and whoever finishes `current` runs their actions in turn (see
    /// `Barrier::complete`). Empty unless `current` is full.
    queued: VecDeque<Bucket>,
    /// The epoch the next new bucket gets.
    next_epoch: u64,
    /// How recently broken generations ended, for their parties.
    broken_ends: Broken,
    /// The panic of an action run for a pending leader, for it to resume.
    pub(crate) handoff_panic: Option<Box<dyn Any + Send>>,
    /// A wakers vector for large releases to borrow, so that steady rounds do not allocate.
    pub(crate) spare: Vec<Option<Waker>>,
    /// Threads waiting on `Barrier::blocked`.
    pub(crate) blocked: usize,
}

impl State {
    pub(crate) const fn new() -> Self {
        State {
            generation: 0,
            broken: false,
            current: Bucket::new(0),
            queued: VecDeque::new(),
            next_epoch: 1,
            broken_ends: Broken::new(),
            handoff_panic: None,
            spare: Vec::new(),
            blocked: 0,
        }
    }

    /// Parties arrived in the generation being filled (all of them while it completes).
    pub(crate) fn n_waiting(&self) -> usize {
        self.current.seats.arrived()
    }

    /// Whether the sealed generation `epoch` is still completing: not yet released, broken or
    /// reset, each of which replaces `current` with a generation of another epoch.
    pub(crate) fn is_completing(&self, epoch: u64) -> bool {
        self.current.epoch == epoch
    }

    fn new_epoch(&mut self) -> u64 {
        self.next_epoch += 1;
        self.next_epoch - 1
    }

    /// The bucket of a party whose generation has not ended.
    fn bucket(&mut self, epoch: u64) -> &mut Bucket {
        if self.current.epoch == epoch {
            return &mut self.current;
        }
        self.queued
            .iter_mut()
            .find(|bucket| bucket.epoch == epoch)
            .expect("an open generation has a bucket")
    }
}

/// A party waiting to be released.
#[derive(Debug)]
pub(crate) struct Ticket {
    epoch: u64,
    /// The generation's number, should it be released.
    generation: u64,
    index: usize,
    /// This party completed its generation while the previous one was completing: it is that
    /// generation's leader, it cannot withdraw and it does not time out.
    leader: bool,
}

impl Ticket {
    /// Whether a deadline applies to this party (a completing party never times out).
    pub(crate) fn can_time_out(&self) -> bool {
        !self.leader
    }
}

/// A sealed generation that its leader must now complete.
#[derive(Debug)]
pub(crate) struct Seal {
    pub(crate) epoch: u64,
    pub(crate) index: usize,
}

/// What happened when a party arrived.
#[derive(Debug)]
pub(crate) enum Arrival {
    /// The barrier is broken: the party did not arrive.
    Broken,
    /// The party completed a generation that has no action: it is already released.
    Passed(BarrierWaitResult),
    /// The party completed a generation and must run the action and release it.
    Lead(Seal),
    /// The party waits to be released.
    Wait(Ticket),
}

impl Barrier {
    pub(crate) fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Makes the calling party arrive (SPEC rule 1). A waiting party will be woken by `waker`,
    /// or, given `None`, by a notification of `Barrier::blocked`.
    pub(crate) fn arrive(&self, waker: Option<&Waker>) -> Arrival {
        let mut guard = self.lock_state();
        let st = &mut *guard;
        if st.broken {
            return Arrival::Broken;
        }
        if !st.current.is_full(self.parties) {
            let index = st.current.seats.take();
            if !st.current.is_full(self.parties) {
                st.current.sit(index, waker);
                return Arrival::Wait(Ticket {
                    epoch: st.current.epoch,
                    generation: st.generation,
                    index,
                    leader: false,
                });
            }
            if self.action.is_none() {
                // Nothing to run between sealing and releasing: do both at once.
                let (generation, woken) = self.release(st);
                drop(guard);
                woken.wake(self);
                return Arrival::Passed(BarrierWaitResult {
                    index,
                    generation,
                    leader: true,
                });
            }
            // `current` stays full, hence sealed, until its leader releases it.
            return Arrival::Lead(Seal {
                epoch: st.current.epoch,
                index,
            });
        }
        // The current generation is running its action: count toward the first following
        // generation that is not full yet.
        if st.queued.back().is_none_or(|b| b.is_full(self.parties)) {
            let epoch = st.new_epoch();
            st.queued.push_back(Bucket::new(epoch));
        }
        let generation = st.generation + st.queued.len() as u64;
        let bucket = st.queued.back_mut().expect("pushed if missing");
        let index = bucket.seats.take();
        bucket.sit(index, waker);
        Arrival::Wait(Ticket {
            epoch: bucket.epoch,
            generation,
            index,
            leader: bucket.is_full(self.parties),
        })
    }

    /// Releases the sealed current generation (SPEC rules 3 and 7) and promotes the first
    /// queued one (sealed, with its leader pending, if it is full). Returns the released
    /// generation's number.
    pub(crate) fn release(&self, st: &mut State) -> (u64, Woken) {
        let generation = st.generation;
        st.generation += 1;
        let mut woken = Woken::new(st.blocked > 0);
        match st.queued.pop_front() {
            Some(next) => {
                let mut ended = mem::replace(&mut st.current, next);
                ended.end(0, &mut woken, &mut st.spare);
            }
            None => {
                let epoch = st.new_epoch();
                st.current.end(epoch, &mut woken, &mut st.spare);
            }
        }
        self.ends.ended_below(st.current.epoch);
        (generation, woken)
    }

    /// Ends the current and queued generations, with `first` for the current generation's
    /// parties and `Broken` for the queued ones', and leaves the barrier empty.
    fn end_all(&self, st: &mut State, first: Signal) -> Woken {
        let mut woken = Woken::new(st.blocked > 0);
        let first_epoch = st.current.epoch;
        let last_epoch = st.queued.back().map_or(first_epoch, |b| b.epoch);
        let unread = st.current.sitting + st.queued.iter().map(|b| b.sitting).sum::<usize>();
        st.broken_ends
            .record(first_epoch, last_epoch, first, unread);
        for mut bucket in mem::take(&mut st.queued) {
            bucket.end(0, &mut woken, &mut st.spare);
        }
        let epoch = st.new_epoch();
        st.current.end(epoch, &mut woken, &mut st.spare);
        self.ends.broken_below(last_epoch + 1);
        self.ends.ended_below(epoch);
        woken
    }

    /// Breaks the barrier (SPEC rule 5).
    pub(crate) fn break_locked(&self, st: &mut State, first: Signal) -> Woken {
        st.broken = true;
        self.end_all(st, first)
    }

    /// Empties the barrier, giving every waiting party `Broken` (SPEC rule 6).
    pub(crate) fn reset_locked(&self, st: &mut State) -> Woken {
        st.broken = false;
        st.generation += 1;
        st.handoff_panic = None;
        self.end_all(st, Signal::Broken)
    }

    /// How a waiting party's generation ended, if it has; `st`, if given, is the state locked
    /// by the caller. Once it returns `Some`, the ticket is spent: the caller must not ask again.
    fn ended(&self, ticket: &Ticket, st: Option<&mut State>) -> Option<Signal> {
        match self.ends.seen(ticket.epoch) {
            Seen::Open => None,
            Seen::Released => Some(Signal::Released),
            Seen::Ask => Some(match st {
                Some(st) => st.broken_ends.take(ticket.epoch),
                None => self.lock_state().broken_ends.take(ticket.epoch),
            }),
        }
    }

    /// Whether a waiting party's generation has ended (without spending its ticket).
    #[cfg(feature = "std")]
    pub(crate) fn has_ended(&self, ticket: &Ticket) -> bool {
        self.ends.seen(ticket.epoch) != Seen::Open
    }

    /// Polls a waiting party: ready once its generation ended (the ticket is then spent). A
    /// waiting party re-registers `waker` if it changed.
    pub(crate) fn poll_ticket(
        &self,
        ticket: &Ticket,
        waker: &Waker,
    ) -> Poll<Result<BarrierWaitResult, WaitError>> {
        if let Some(signal) = self.ended(ticket, None) {
            return Poll::Ready(self.outcome(ticket, signal));
        }
        let mut st = self.lock_state();
        // Generations end under this lock: one open now stays open until we unlock.
        if let Some(signal) = self.ended(ticket, Some(&mut st)) {
            drop(st);
            return Poll::Ready(self.outcome(ticket, signal));
        }
        let slot = &mut st.bucket(ticket.epoch).wakers[ticket.index];
        debug_assert!(slot.is_some(), "a polling party left its waker");
        if slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            return Poll::Pending;
        }
        let old = slot.replace(waker.clone());
        drop(st);
        drop(old); // outside the lock: dropping a waker may run executor code
        Poll::Pending
    }

    /// Blocks the calling thread on `Barrier::blocked` until its generation ends or `deadline`
    /// passes (then it breaks the barrier: SPEC rule 9).
    #[cfg(feature = "std")]
    pub(crate) fn block_on_ticket(
        &self,
        ticket: &Ticket,
        deadline: Option<crate::blocking::Instant>,
    ) -> Result<BarrierWaitResult, WaitError> {
        let mut st = self.lock_state();
        st.blocked += 1;
        // Ends are published under this lock and `blocked` notified after it, so checking before
        // each wait (which releases the lock atomically) loses no wake-up.
        let signal = loop {
            if let Some(signal) = self.ended(ticket, Some(&mut st)) {
                break Some(signal);
            }
            let (relocked, expired) = crate::blocking::wait(&self.blocked, st, deadline);
            st = relocked;
            if expired {
                break self.ended(ticket, Some(&mut st));
            }
        };
        st.blocked -= 1;
        match signal {
            Some(signal) => {
                drop(st);
                self.outcome(ticket, signal)
            }
            None => self.time_out(st, ticket),
        }
    }

    /// What a party whose generation ended with `signal` gets (call it without the lock).
    pub(crate) fn outcome(
        &self,
        ticket: &Ticket,
        signal: Signal,
    ) -> Result<BarrierWaitResult, WaitError> {
        match signal {
            Signal::Released => Ok(BarrierWaitResult {
                index: ticket.index,
                generation: ticket.generation,
                leader: ticket.leader,
            }),
            Signal::Broken => Err(WaitError::Broken),
            Signal::Panicked => {
                if ticket.leader {
                    let payload = self.lock_state().handoff_panic.take();
                    if let Some(payload) = payload {
                        std::panic::resume_unwind(payload);
                    }
                }
                Err(WaitError::Broken)
            }
        }
    }

    /// This party's deadline passed (SPEC rule 9): if its generation has not ended, break the
    /// barrier and report `TimedOut`; otherwise report how the generation ended.
    pub(crate) fn expire(&self, ticket: &Ticket) -> Result<BarrierWaitResult, WaitError> {
        let mut st = self.lock_state();
        if let Some(signal) = self.ended(ticket, Some(&mut st)) {
            drop(st);
            return self.outcome(ticket, signal);
        }
        self.time_out(st, ticket)
    }

    /// Breaks the barrier for a party whose deadline passed with its generation open.
    fn time_out(
        &self,
        mut st: MutexGuard<'_, State>,
        ticket: &Ticket,
    ) -> Result<BarrierWaitResult, WaitError> {
        debug_assert!(ticket.can_time_out());
        let woken = self.break_locked(&mut st, Signal::Broken);
        // This party was counted among the parties to tell: it knows already.
        st.broken_ends.take(ticket.epoch);
        drop(st);
        woken.wake(self);
        Err(WaitError::TimedOut)
    }

    /// A waiting party's future was dropped (SPEC rule 8): withdraw its arrival unless its
    /// generation is sealed or over.
    pub(crate) fn withdraw(&self, ticket: &Ticket) {
        if self.ends.seen(ticket.epoch) == Seen::Released {
            return;
        }
        let mut st = self.lock_state();
        if self.ended(ticket, Some(&mut st)).is_some() {
            return; // over; the ticket is spent
        }
        let parties = self.parties;
        let bucket = st.bucket(ticket.epoch);
        let old = bucket.wakers[ticket.index].take();
        bucket.sitting -= 1;
        if !bucket.is_full(parties) {
            bucket.seats.give_back(ticket.index);
        } // else sealed: the generation completes without this party's pass
        drop(st);
        drop(old); // outside the lock: dropping a waker may run executor code
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use core::future::Future;
    use core::pin::Pin;
    use core::task::{Context, Poll, Waker};

    use crate::Barrier;

    fn poll<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
        Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
    }

    fn records(barrier: &Barrier) -> usize {
        barrier.lock_state().broken_ends.len()
    }

    #[test]
    fn broken_ends_are_forgotten_once_every_party_read_them() {
        let barrier = Barrier::new(3);
        let (mut a, mut b) = (barrier.wait(), barrier.wait());
        assert!(poll(&mut a).is_pending() && poll(&mut b).is_pending());
        barrier.abort();
        assert_eq!(records(&barrier), 1);
        assert!(poll(&mut a).is_ready());
        assert_eq!(records(&barrier), 1);
        assert!(poll(&mut b).is_ready());
        assert_eq!(records(&barrier), 0);
    }

    #[test]
    fn broken_ends_are_forgotten_when_parties_drop_unread() {
        let barrier = Barrier::new(3);
        let (mut a, mut b) = (barrier.wait(), barrier.wait());
        assert!(poll(&mut a).is_pending() && poll(&mut b).is_pending());
        barrier.reset();
        drop((a, b));
        assert_eq!(records(&barrier), 0);
    }

    #[test]
    fn broken_ends_are_forgotten_after_a_timeout() {
        let barrier = Barrier::new(3);
        let mut a = barrier.wait();
        let mut b = barrier.wait().timeout(core::future::ready(()));
        assert!(poll(&mut a).is_pending());
        assert!(poll(&mut b).is_ready()); // timed out: broke the barrier
        assert_eq!(records(&barrier), 1);
        assert!(poll(&mut a).is_ready());
        assert_eq!(records(&barrier), 0);
    }
}
