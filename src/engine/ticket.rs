//! What a waiting party does with its ticket: polls for its generation's end, completes a
//! generation when summoned as its leader, times out, withdraws.

use core::task::Waker;

use crate::engine::bucket::Lead;
use crate::engine::ends::{Seen, Signal};
use crate::engine::state::{Seal, State, Ticket};
use crate::engine::sync::MutexGuard;
use crate::engine::woken::Woken;
use crate::{Barrier, BarrierWaitResult, WaitError};

/// What polling a party found.
#[derive(Debug)]
pub(crate) enum Polled {
    /// Its generation has not ended: it will be woken.
    Pending,
    /// Its generation ended (or this party broke it): record the result, then wake the others
    /// if given (their wakers may panic).
    Ready(Result<BarrierWaitResult, WaitError>, Option<Woken>),
    /// This party leads its sealed generation, whose turn has come: complete it.
    Lead(Seal),
    /// Every party of the sealed current generation gave up: complete it, then poll again
    /// (SPEC rule 19).
    Orphan(Seal),
}

impl Barrier {
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

    /// What a party whose generation ended with `signal` gets.
    fn outcome(&self, ticket: &Ticket, signal: Signal) -> Result<BarrierWaitResult, WaitError> {
        match signal {
            Signal::Released => Ok(BarrierWaitResult {
                index: ticket.index,
                generation: ticket.generation,
                leader: ticket.leader,
            }),
            Signal::Broken => Err(WaitError::Broken),
        }
    }

    /// Whether the party leads its sealed generation (it filled it while an earlier one was
    /// completing, or took over from a leader that gave up); if so it no longer times out, and
    /// if that generation's turn has come, it is claimed for the party to complete.
    fn claim_lead(&self, st: &mut State, ticket: &mut Ticket) -> Option<Seal> {
        let up = st.current.epoch == ticket.epoch;
        let bucket = st.bucket(ticket.epoch);
        if bucket.lead != Lead::Awaiting(Some(ticket.index)) {
            return None;
        }
        ticket.leader = true;
        if !up {
            return None;
        }
        bucket.lead = Lead::Running;
        Some(Seal {
            epoch: ticket.epoch,
            index: ticket.index,
        })
    }

    /// Under the lock: whether the party is done waiting, or has a generation to complete (with
    /// `orphans`, also one whose parties all gave up).
    fn check(&self, st: &mut State, ticket: &mut Ticket, orphans: bool) -> Option<Polled> {
        if let Some(signal) = self.ended(ticket, Some(st)) {
            return Some(Polled::Ready(self.outcome(ticket, signal), None));
        }
        if let Some(seal) = self.claim_lead(st, ticket) {
            return Some(Polled::Lead(seal));
        }
        if orphans && st.current.lead == Lead::Awaiting(None) {
            st.current.lead = Lead::Running;
            return Some(Polled::Orphan(Seal {
                epoch: st.current.epoch,
                index: usize::MAX,
            }));
        }
        None
    }

    /// Polls a waiting party; a party still waiting re-registers `waker` if it changed. With
    /// `orphans`, it may be handed a generation whose parties all gave up.
    pub(crate) fn poll_ticket(&self, ticket: &mut Ticket, waker: &Waker, orphans: bool) -> Polled {
        if let Some(signal) = self.ended(ticket, None) {
            return Polled::Ready(self.outcome(ticket, signal), None);
        }
        // Declared before the guards below, so dropped after them.
        let mut new_waker: Option<Waker> = None;
        loop {
            let mut st = self.lock_state();
            // Generations end under this lock: one open now stays open until we unlock.
            if let Some(polled) = self.check(&mut st, ticket, orphans) {
                return polled;
            }
            let seat = st.bucket(ticket.epoch).seats.seat_mut(ticket.index);
            if seat.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                return Polled::Pending;
            }
            if let Some(new_waker) = new_waker.take() {
                let old = seat.waker.replace(new_waker);
                drop(st);
                drop(old); // outside the lock: dropping a waker runs user code
                return Polled::Pending;
            }
            drop(st);
            // User code (SPEC rule 18): cloned outside the lock, then look again.
            new_waker = Some(waker.clone());
        }
    }

    /// Blocks the calling thread on `Barrier::blocked` until its generation ends, it has a
    /// generation to complete, or `deadline` passes (SPEC rule 9).
    #[cfg(feature = "std")]
    pub(crate) fn block_on_ticket(
        &self,
        ticket: &mut Ticket,
        deadline: Option<crate::blocking::Instant>,
    ) -> Polled {
        let mut st = self.lock_state();
        st.blocked += 1;
        // Ends are published under this lock and `blocked` notified after it, so checking before
        // each wait (which releases the lock atomically) loses no wake-up.
        let polled = loop {
            if let Some(polled) = self.check(&mut st, ticket, true) {
                break Some(polled);
            }
            let deadline = deadline.filter(|_| ticket.can_time_out());
            let (relocked, expired) = crate::blocking::wait(&self.blocked, st, deadline);
            st = relocked;
            if expired {
                break None;
            }
        };
        st.blocked -= 1;
        match polled {
            Some(polled) => polled,
            None => self.expire_locked(st, ticket),
        }
    }

    /// This party's deadline passed (SPEC rule 9): if its generation has not ended, break the
    /// barrier and report `TimedOut`; otherwise report how the generation ended. A leader does
    /// not time out: it completes its generation when its turn comes.
    pub(crate) fn expire(&self, ticket: &mut Ticket) -> Polled {
        self.expire_locked(self.lock_state(), ticket)
    }

    fn expire_locked(&self, mut st: MutexGuard<'_, State>, ticket: &mut Ticket) -> Polled {
        if let Some(signal) = self.ended(ticket, Some(&mut st)) {
            return Polled::Ready(self.outcome(ticket, signal), None);
        }
        if let Some(seal) = self.claim_lead(&mut st, ticket) {
            return Polled::Lead(seal);
        }
        if ticket.leader {
            return Polled::Pending; // its generation waits for an earlier one
        }
        let woken = self.break_locked(&mut st);
        // This party was counted among the parties to tell: it knows already.
        st.broken_ends.take(ticket.epoch);
        Polled::Ready(Err(WaitError::TimedOut), Some(woken))
    }

    /// A waiting party's future was dropped (SPEC rule 8): withdraw its arrival unless its
    /// generation is sealed or over. A leader that gives up before completing its generation
    /// hands it to another party still waiting in it (SPEC rule 19).
    pub(crate) fn withdraw(&self, ticket: &Ticket) {
        if self.ends.seen(ticket.epoch) == Seen::Released {
            return;
        }
        let mut st = self.lock_state();
        if self.ended(ticket, Some(&mut st)).is_some() {
            return; // over; the ticket is spent
        }
        let up = st.current.epoch == ticket.epoch;
        let bucket = st.bucket(ticket.epoch);
        let old = bucket.seats.leave(ticket.index);
        let mut woken = None;
        match bucket.lead {
            Lead::Filling => bucket.seats.give_back(ticket.index),
            Lead::Awaiting(Some(leader)) if leader == ticket.index => {
                bucket.lead = Lead::Awaiting(bucket.seats.last_waiting());
                if up {
                    let mut summoned = st.woken();
                    st.summon(&mut summoned);
                    woken = Some(summoned);
                } // else summoned when its turn comes
            }
            // Sealed: the generation completes without this party's pass.
            Lead::Awaiting(_) | Lead::Running => {}
        }
        drop(st);
        drop(old); // outside the lock: dropping a waker runs user code
        if let Some(woken) = woken {
            woken.wake(self);
        }
    }
}
