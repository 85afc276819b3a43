//! How parties arrive, wait, leave and get released: the state behind the barrier's lock and the
//! transitions on it.
//!
//! Every transition that ends a generation (completion, abort, reset, a timeout, a panicking
//! action) happens under `Barrier::state`'s lock and notifies that generation's listeners with a
//! [`Signal`] *before* the lock is released; every waiting party registers its listener under the
//! same lock when it arrives. So a party that holds the lock and finds its listener not notified
//! knows its generation has not ended, and a released party reads its outcome from its own
//! listener without taking the lock again.

use alloc::boxed::Box;
use core::any::Any;
use core::future::Future;
use core::mem;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use event_listener::{Event, EventListener, IntoNotification, Listener};

use crate::seats::Seats;
use crate::sync::{lock, MutexGuard};
use crate::{Barrier, BarrierWaitResult, WaitError};

/// What a generation's end tells its waiting parties.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Signal {
    /// The generation with this number completed.
    Released(u64),
    /// The generation was broken or reset.
    Broken,
    /// The generation's action panicked; a pending leader (see [`Ticket::leader`]) takes the
    /// payload from [`State::handoff_panic`], the others see `Broken`.
    Panicked,
}

/// The state behind the barrier's lock.
#[derive(Debug)]
pub(crate) struct State {
    /// What `Barrier::generation()` returns.
    pub(crate) generation: u64,
    /// Serial number of the `current` seats; it moves on whenever they are released, broken or
    /// reset. Its parity picks the event their listeners wait on, so the parties arriving while
    /// `current` completes (into `next`) wait on the other event.
    pub(crate) epoch: u64,
    pub(crate) broken: bool,
    /// `current` is sealed: its last party arrived and the action is running, outside the lock.
    pub(crate) completing: bool,
    /// The generation being filled (or completing).
    pub(crate) current: Seats,
    /// Arrivals while `current` completes; they count toward the following generation.
    pub(crate) next: Seats,
    /// `next` filled up while `current` was completing. Its last party waits as a *pending
    /// leader* and whoever finishes `current` runs `next`'s action too (see `Barrier::complete`).
    pub(crate) next_sealed: bool,
    /// The panic of an action run for a pending leader, for it to resume.
    pub(crate) handoff_panic: Option<Box<dyn Any + Send>>,
}

impl State {
    pub(crate) const fn new() -> Self {
        State {
            generation: 0,
            epoch: 0,
            broken: false,
            completing: false,
            current: Seats::new(),
            next: Seats::new(),
            next_sealed: false,
            handoff_panic: None,
        }
    }
}

/// A party waiting to be released.
#[derive(Debug)]
pub(crate) struct Ticket {
    /// Registered under the lock at arrival; `None` once its notification was taken.
    listener: Option<EventListener<Signal>>,
    index: usize,
    /// Parity of the epoch of the seats this party sits in (see [`State::epoch`]).
    parity: bool,
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

impl Drop for Ticket {
    fn drop(&mut self) {
        // Dropping a notified listener would pass its notification on to another listener of
        // the same event, possibly one of a later generation; discarding it does not.
        if let Some(listener) = self.listener.take() {
            listener.discard();
        }
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

const ALL: usize = usize::MAX;

impl Barrier {
    fn event(&self, epoch: u64) -> &Event<Signal> {
        &self.events[(epoch & 1) as usize]
    }

    pub(crate) fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Makes the calling party arrive (SPEC rule 1).
    pub(crate) fn arrive(&self) -> Arrival {
        let mut st = self.lock_state();
        if st.broken {
            return Arrival::Broken;
        }
        let parties = self.parties;
        if !st.completing {
            let index = st.current.take();
            if st.current.arrived() < parties {
                let listener = self.event(st.epoch).listen();
                return Arrival::Wait(self.ticket(listener, index, st.epoch, false));
            }
            if self.action.is_none() {
                // Nothing to run between sealing and releasing: do both in this critical section.
                let epoch = st.epoch;
                let (generation, _) = self.release(&mut st, epoch).expect("sealed just now");
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
        // The current generation is running its action: count toward the next one.
        let index = st.next.take();
        let leader = st.next.arrived() == parties;
        st.next_sealed = leader;
        let listener = self.event(st.epoch + 1).listen();
        Arrival::Wait(self.ticket(listener, index, st.epoch + 1, leader))
    }

    fn ticket(
        &self,
        listener: EventListener<Signal>,
        index: usize,
        epoch: u64,
        leader: bool,
    ) -> Ticket {
        Ticket {
            listener: Some(listener),
            index,
            parity: epoch & 1 == 1,
            leader,
        }
    }

    /// Releases the sealed generation `epoch` (SPEC rules 3 and 7). Returns its number and, if
    /// the following generation filled up meanwhile, its seal, for the caller to complete it.
    /// Fails if the generation was broken or reset while its action ran.
    fn release(&self, st: &mut State, epoch: u64) -> Result<(u64, Option<u64>), WaitError> {
        if st.epoch != epoch {
            return Err(WaitError::Broken);
        }
        let generation = st.generation;
        self.event(epoch)
            .notify(ALL.tag(Signal::Released(generation)));
        st.generation += 1;
        st.epoch += 1;
        mem::swap(&mut st.current, &mut st.next);
        st.next.clear();
        st.completing = mem::take(&mut st.next_sealed);
        Ok((generation, st.completing.then_some(st.epoch)))
    }

    /// Ends the current and next generations with `current` for the current generation's
    /// parties and `Broken` for the next one's; leaves the barrier empty.
    fn end_all(&self, st: &mut State, current: Signal) {
        self.event(st.epoch).notify(ALL.tag(current));
        self.event(st.epoch + 1).notify(ALL.tag(Signal::Broken));
        st.current.clear();
        st.next.clear();
        st.completing = false;
        st.next_sealed = false;
        // Skip `next`'s epoch too: both generations are over.
        st.epoch += 2;
    }

    /// Breaks the barrier (SPEC rule 5).
    pub(crate) fn break_locked(&self, st: &mut State, current: Signal) {
        self.end_all(st, current);
        st.broken = true;
    }

    /// Empties the barrier, giving every waiting party `Broken` (SPEC rule 6).
    pub(crate) fn reset_locked(&self, st: &mut State) {
        self.end_all(st, Signal::Broken);
        st.broken = false;
        st.generation += 1;
        st.handoff_panic = None;
    }

    /// Polls a waiting party: ready once its generation ended.
    pub(crate) fn poll_ticket(
        &self,
        ticket: &mut Ticket,
        cx: &mut Context<'_>,
    ) -> Poll<Result<BarrierWaitResult, WaitError>> {
        let listener = ticket
            .listener
            .as_mut()
            .expect("ticket polled after release");
        match Pin::new(listener).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(signal) => {
                ticket.listener = None;
                Poll::Ready(self.outcome(ticket, signal))
            }
        }
    }

    fn outcome(&self, ticket: &Ticket, signal: Signal) -> Result<BarrierWaitResult, WaitError> {
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

    /// This party's deadline passed (SPEC rule 9): if its generation has not completed, break
    /// the barrier and report `TimedOut`; otherwise report how the generation ended.
    pub(crate) fn expire(
        &self,
        ticket: &mut Ticket,
        waker: &Waker,
    ) -> Result<BarrierWaitResult, WaitError> {
        debug_assert!(ticket.can_time_out());
        let mut st = self.lock_state();
        // Generations end under this lock, so a listener not notified now belongs to a
        // generation that has not ended, and cannot become notified until we unlock.
        if let Poll::Ready(result) = self.poll_ticket(ticket, &mut Context::from_waker(waker)) {
            return result;
        }
        self.break_locked(&mut st, Signal::Broken);
        Err(WaitError::TimedOut)
    }

    /// A waiting party's future was dropped (SPEC rule 8): withdraw its arrival unless its
    /// generation is sealed or over.
    pub(crate) fn withdraw(&self, ticket: &mut Ticket) {
        if ticket.leader {
            // It sealed its generation: whoever finishes the previous one completes it.
            return;
        }
        let mut st = self.lock_state();
        if let Poll::Ready(_) = self.poll_ticket(ticket, &mut Context::from_waker(Waker::noop())) {
            return;
        }
        let in_current = ticket.parity == (st.epoch & 1 == 1);
        if in_current && st.completing {
            return;
        }
        let seats = if in_current {
            &mut st.current
        } else {
            &mut st.next
        };
        seats.give_back(ticket.index);
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
    /// panicked, breaks the barrier. A panic resumes here unless `for_pending_leader`, in
    /// which case it is kept for the pending leader to resume.
    fn run_and_release(
        &self,
        epoch: u64,
        for_pending_leader: bool,
    ) -> Result<(u64, Option<u64>), WaitError> {
        let ran = match &self.action {
            None => Ok(()),
            Some(action) => {
                let mut action = lock(action);
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (*action)()))
            }
        };
        let mut st = self.lock_state();
        match ran {
            Ok(()) => self.release(&mut st, epoch),
            Err(payload) => {
                let broke = st.epoch == epoch;
                if broke {
                    self.break_locked(&mut st, Signal::Panicked);
                }
                if !for_pending_leader {
                    drop(st);
                    std::panic::resume_unwind(payload)
                }
                if broke {
                    st.handoff_panic = Some(payload);
                }
                Err(WaitError::Broken)
            }
        }
    }
}
