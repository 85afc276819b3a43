//! How parties arrive, wait, leave and get released: the state behind the barrier's lock and the
//! transitions on it.
//!
//! A waiting party arrives under `Barrier::state`'s lock, leaving its waker in its seat and
//! taking a share of its generation's [`Outcome`]. Every transition that ends a generation
//! (completion, abort, reset, a timeout, a panicking action) publishes that outcome under the
//! same lock and wakes the parties after unlocking. So a party that holds the lock and finds its
//! outcome unset knows its generation has not ended, and a released party reads its result from
//! the outcome without taking the lock again.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::any::Any;
use core::mem;
use core::task::{Poll, Waker};

use crate::bucket::{Bucket, Recycled};
use crate::outcome::{Outcome, Signal};
use crate::sync::{lock, MutexGuard};
use crate::woken::Woken;
use crate::{Barrier, BarrierWaitResult, WaitError};

/// The state behind the barrier's lock.
#[derive(Debug)]
pub(crate) struct State {
    /// What `Barrier::generation()` returns.
    pub(crate) generation: u64,
    pub(crate) broken: bool,
    /// `current` is sealed: its last party arrived and the action is running, outside the lock.
    pub(crate) completing: bool,
    /// Serial number of `current`, moved on whenever it ends, so that a completing party can
    /// tell whether its generation was broken or reset while its action ran.
    epoch: u64,
    /// The generation being filled (or completing).
    current: Bucket,
    /// Arrivals while `current` completes, by generation: they count toward the following
    /// generations. All but the last are full, hence sealed: the last party of each waits as its
    /// *pending leader*, and whoever finishes `current` runs their actions in turn (see
    /// `Barrier::complete`). Empty unless `completing`.
    queued: VecDeque<Bucket>,
    /// The panic of an action run for a pending leader, for it to resume.
    handoff_panic: Option<Box<dyn Any + Send>>,
    /// What ended generations leave for the next ones, so that steady rounds do not allocate.
    pub(crate) recycled: Recycled,
    /// Threads waiting on `Barrier::blocked`.
    pub(crate) blocked: usize,
}

impl State {
    /// Parties arrived in the generation being filled (all of them while it completes).
    pub(crate) fn n_waiting(&self, parties: usize) -> usize {
        if self.completing {
            parties
        } else {
            self.current.seats.arrived()
        }
    }

    /// Whether generation `epoch` is sealed and completing (not yet released, broken or reset).
    fn is_completing(&self, epoch: u64) -> bool {
        self.epoch == epoch && self.completing
    }

    pub(crate) const fn new() -> Self {
        State {
            generation: 0,
            broken: false,
            completing: false,
            epoch: 0,
            current: Bucket::new(),
            queued: VecDeque::new(),
            handoff_panic: None,
            recycled: Recycled::new(),
            blocked: 0,
        }
    }
}

/// A party waiting to be released.
#[derive(Debug)]
pub(crate) struct Ticket {
    outcome: Arc<Outcome>,
    index: usize,
    /// This party completed its generation while the previous one was completing: it is that
    /// generation's leader, it cannot withdraw and it does not time out.
    leader: bool,
}

impl Ticket {
    /// How its generation ended, if it has.
    #[cfg(feature = "std")]
    pub(crate) fn signal(&self) -> Option<Signal> {
        self.outcome.get()
    }

    /// Whether a deadline applies to this party (a completing party never times out).
    pub(crate) fn can_time_out(&self) -> bool {
        !self.leader
    }
}

/// A sealed generation that its leader must now complete.
#[derive(Debug)]
pub(crate) struct Seal {
    epoch: u64,
    index: usize,
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

    /// Makes the calling party arrive (SPEC rule 1). A waiting task will be woken by `waker`; a
    /// waiting thread (`None`) waits on `Barrier::blocked` instead.
    pub(crate) fn arrive(&self, waker: Option<&Waker>) -> Arrival {
        let mut guard = self.lock_state();
        let st = &mut *guard;
        if st.broken {
            return Arrival::Broken;
        }
        if !st.completing {
            let index = st.current.seats.take();
            if st.current.seats.arrived() < self.parties {
                let outcome = st.current.sit(index, waker, &mut st.recycled);
                return Arrival::Wait(Ticket {
                    outcome,
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
            st.completing = true;
            return Arrival::Lead(Seal {
                epoch: st.epoch,
                index,
            });
        }
        // The current generation is running its action: count toward the first following
        // generation that is not full yet.
        if st
            .queued
            .back()
            .is_none_or(|b| b.seats.arrived() == self.parties)
        {
            st.queued.push_back(Bucket::new());
        }
        let bucket = st.queued.back_mut().expect("pushed if missing");
        let index = bucket.seats.take();
        let leader = bucket.seats.arrived() == self.parties;
        let outcome = bucket.sit(index, waker, &mut st.recycled);
        Arrival::Wait(Ticket {
            outcome,
            index,
            leader,
        })
    }

    /// Releases the sealed current generation (SPEC rules 3 and 7) and promotes the first
    /// queued one, which is sealed (completing) if it is full.
    fn release(&self, st: &mut State) -> (u64, Woken) {
        let generation = st.generation;
        let mut woken = Woken::new(st.blocked > 0);
        st.current
            .end(Signal::Released(generation), &mut woken, &mut st.recycled);
        st.generation += 1;
        st.epoch += 1;
        st.completing = false;
        if let Some(next) = st.queued.pop_front() {
            st.completing = next.seats.arrived() == self.parties;
            st.current = next;
        }
        (generation, woken)
    }

    /// Ends the current and queued generations, with `current` for the current generation's
    /// parties and `Broken` for the queued ones', and leaves the barrier empty.
    fn end_all(&self, st: &mut State, current: Signal) -> Woken {
        let mut woken = Woken::new(st.blocked > 0);
        st.current.end(current, &mut woken, &mut st.recycled);
        for mut bucket in mem::take(&mut st.queued) {
            bucket.end(Signal::Broken, &mut woken, &mut st.recycled);
        }
        st.completing = false;
        st.epoch += 1;
        woken
    }

    /// Breaks the barrier (SPEC rule 5).
    pub(crate) fn break_locked(&self, st: &mut State, current: Signal) -> Woken {
        st.broken = true;
        self.end_all(st, current)
    }

    /// Empties the barrier, giving every waiting party `Broken` (SPEC rule 6).
    pub(crate) fn reset_locked(&self, st: &mut State) -> Woken {
        st.broken = false;
        st.generation += 1;
        st.handoff_panic = None;
        self.end_all(st, Signal::Broken)
    }

    /// Polls a waiting party: ready once its generation ended. A waiting party re-registers
    /// `waker` if it changed.
    pub(crate) fn poll_ticket(
        &self,
        ticket: &Ticket,
        waker: &Waker,
    ) -> Poll<Result<BarrierWaitResult, WaitError>> {
        if let Some(signal) = ticket.outcome.get() {
            return Poll::Ready(self.outcome(ticket, signal));
        }
        let mut st = self.lock_state();
        if let Some(signal) = ticket.outcome.get() {
            drop(st);
            return Poll::Ready(self.outcome(ticket, signal));
        }
        let bucket = self.bucket_of(&mut st, ticket);
        let slot = &mut bucket.wakers[ticket.index];
        debug_assert!(slot.is_some(), "only tasks poll");
        if slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            return Poll::Pending;
        }
        let old = slot.replace(waker.clone());
        drop(st);
        drop(old); // outside the lock: dropping a waker may run executor code
        Poll::Pending
    }

    /// The bucket of a party whose generation has not ended.
    fn bucket_of<'s>(&self, st: &'s mut State, ticket: &Ticket) -> &'s mut Bucket {
        if st.current.holds(&ticket.outcome) {
            return &mut st.current;
        }
        st.queued
            .iter_mut()
            .find(|bucket| bucket.holds(&ticket.outcome))
            .expect("a party whose generation has not ended is in a bucket")
    }

    /// What a party whose generation ended with `signal` gets (call it without the lock).
    pub(crate) fn outcome(
        &self,
        ticket: &Ticket,
        signal: Signal,
    ) -> Result<BarrierWaitResult, WaitError> {
        match signal {
            Signal::Released(generation) => Ok(BarrierWaitResult {
                index: ticket.index,
                generation,
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
        debug_assert!(ticket.can_time_out());
        let mut st = self.lock_state();
        // Generations end under this lock: an outcome unset now stays unset until we unlock.
        if let Some(signal) = ticket.outcome.get() {
            drop(st);
            return self.outcome(ticket, signal);
        }
        let woken = self.break_locked(&mut st, Signal::Broken);
        drop(st);
        woken.wake(self);
        Err(WaitError::TimedOut)
    }

    /// A waiting party's future was dropped (SPEC rule 8): withdraw its arrival unless its
    /// generation is sealed or over.
    pub(crate) fn withdraw(&self, ticket: &Ticket) {
        if ticket.leader || ticket.outcome.get().is_some() {
            return;
        }
        let mut st = self.lock_state();
        if ticket.outcome.get().is_some() {
            return;
        }
        let completing = st.completing;
        let parties = self.parties;
        let bucket = self.bucket_of(&mut st, ticket);
        if bucket.seats.arrived() == parties {
            debug_assert!(completing);
            // Sealed: the generation completes without this party's pass.
            return;
        }
        bucket.seats.give_back(ticket.index);
        let old = bucket.wakers[ticket.index].take();
        drop(st);
        drop(old);
    }

    /// Runs the action for the sealed generation and releases it (SPEC rule 4), then completes
    /// any following generation that filled up meanwhile (its pending leader is waiting).
    pub(crate) fn complete(&self, seal: Seal) -> Result<BarrierWaitResult, WaitError> {
        let (generation, mut handoff) = self.run_and_release(seal.epoch, false)?;
        while let Some(epoch) = handoff {
            handoff = self
                .run_and_release(epoch, true)
                .ok()
                .and_then(|(_, next)| next);
        }
        Ok(BarrierWaitResult {
            index: seal.index,
            generation,
            leader: true,
        })
    }

    /// Runs the action for the sealed generation `epoch`, then releases it or, if the action
    /// panicked, breaks the barrier. Returns the generation's number and, if the following
    /// generation filled up meanwhile, its epoch, for the caller to complete it. A panic resumes
    /// here unless `for_pending_leader`, in which case it is kept for the pending leader.
    fn run_and_release(
        &self,
        epoch: u64,
        for_pending_leader: bool,
    ) -> Result<(u64, Option<u64>), WaitError> {
        let ran = match &self.action {
            None => Ok(()),
            Some(action) => {
                let mut action = lock(action);
                // Broken or reset since it was sealed: it gets no action (its parties already
                // have `Broken`).
                if !self.lock_state().is_completing(epoch) {
                    return Err(WaitError::Broken);
                }
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (*action)()))
            }
        };
        let mut st = self.lock_state();
        // Broken or reset while the action ran?
        let ours = st.is_completing(epoch);
        match ran {
            Ok(()) if ours => {
                let (generation, woken) = self.release(&mut st);
                let handoff = st.completing.then_some(st.epoch);
                drop(st);
                woken.wake(self);
                Ok((generation, handoff))
            }
            Ok(()) => Err(WaitError::Broken),
            Err(payload) => {
                let woken = ours.then(|| self.break_locked(&mut st, Signal::Panicked));
                let resume = if for_pending_leader {
                    // The pending leader finds it when `Panicked` wakes it.
                    st.handoff_panic = ours.then_some(payload);
                    None
                } else {
                    Some(payload)
                };
                drop(st);
                if let Some(woken) = woken {
                    woken.wake(self);
                }
                match resume {
                    Some(payload) => std::panic::resume_unwind(payload),
                    None => Err(WaitError::Broken),
                }
            }
        }
    }
}
