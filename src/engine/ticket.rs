//! What a waiting party does with its ticket: polls for its generation's end, completes a
//! generation when summoned as its leader, times out, withdraws.

use core::task::Waker;

use crate::engine::bucket::Lead;
use crate::engine::ends::{relabeled, Seen, Signal};
use crate::engine::slots::Registered;
use crate::engine::state::Locked;
use crate::engine::state::{Seal, State, Ticket};
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
    /// How a waiting party's generation ended, if it has, and the party's index in its result;
    /// `st`, if given, is the state locked by the caller. Once it returns `Some`, the ticket is
    /// spent: the caller must not ask again.
    fn ended(&self, ticket: &Ticket, st: Option<&mut State>) -> Option<(Signal, usize)> {
        match self.ends.seen(ticket.epoch) {
            Seen::Open => None,
            Seen::Released => Some((Signal::Released, ticket.index)),
            Seen::Ask => Some(match st {
                Some(st) => st.records.take(ticket.epoch, ticket.index),
                None => self.lock_state().records.take(ticket.epoch, ticket.index),
            }),
        }
    }

    /// The party's result, if its generation was released and its index needs no record: the
    /// common case, from two atomic loads.
    pub(crate) fn released(&self, ticket: &Ticket) -> Option<BarrierWaitResult> {
        (self.ends.seen(ticket.epoch) == Seen::Released).then_some(BarrierWaitResult {
            index: ticket.index,
            generation: ticket.generation,
            leader: ticket.leader,
        })
    }

    /// Whether a waiting party's generation has ended (without spending its ticket).
    #[cfg(feature = "std")]
    pub(crate) fn has_ended(&self, ticket: &Ticket) -> bool {
        self.ends.seen(ticket.epoch) != Seen::Open
    }

    /// What a party whose generation ended with `signal` gets, at `index`.
    fn outcome(
        &self,
        ticket: &Ticket,
        (signal, index): (Signal, usize),
    ) -> Result<BarrierWaitResult, WaitError> {
        match signal {
            Signal::Released => Ok(BarrierWaitResult {
                index,
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
        // Its turn has come once its generation is the current one and no action runs.
        let up = st.current.epoch == ticket.epoch && !st.acting;
        let bucket = st.bucket(ticket.epoch);
        if bucket.lead != Lead::Awaiting(Some(ticket.index)) {
            return None;
        }
        ticket.leader = true;
        if !up {
            return None;
        }
        bucket.lead = Lead::Running;
        // It gets its result from completing the generation, not from the records.
        bucket.seats.unsit(ticket.index);
        let index = relabeled(&bucket.relabel, ticket.index);
        st.acting = self.action.is_some();
        Some(Seal {
            epoch: ticket.epoch,
            generation: ticket.generation,
            index,
        })
    }

    /// Under the lock: whether the party is done waiting, or has a generation to complete (its
    /// own, or one whose parties all gave up).
    fn check(&self, st: &mut State, ticket: &mut Ticket) -> Option<Polled> {
        if let Some(signal) = self.ended(ticket, Some(st)) {
            return Some(Polled::Ready(self.outcome(ticket, signal), None));
        }
        // It polls: it is no longer idle, even before its waker is back in its seat (a kept
        // arrival waited on again is "still waiting" for a hand-over, SPEC rule 19).
        st.bucket(ticket.epoch).seats.seat_mut(ticket.index).idle = false;
        if let Some(seal) = self.claim_lead(st, ticket) {
            return Some(Polled::Lead(seal));
        }
        if !st.acting && st.current.lead == Lead::Awaiting(None) {
            st.current.lead = Lead::Running;
            st.acting = self.action.is_some();
            return Some(Polled::Orphan(Seal {
                epoch: st.current.epoch,
                generation: st.generation,
                index: usize::MAX,
            }));
        }
        None
    }

    /// Polls a waiting party; a party still waiting re-registers `waker` if it changed. It may be
    /// handed a generation whose parties all gave up.
    pub(crate) fn poll_ticket(&self, ticket: &mut Ticket, waker: &Waker) -> Polled {
        if let Some(signal) = self.ended(ticket, None) {
            return Polled::Ready(self.outcome(ticket, signal), None);
        }
        if ticket.in_slot && !self.ends.summoned(ticket.epoch) {
            // Its waker is in its slot, and it was not summoned to lead: no need for the lock,
            // unless a summons came while it left its waker.
            match self.poll_slot(ticket, waker) {
                Polled::Pending if self.ends.summoned(ticket.epoch) => {}
                polled => return polled,
            }
        }
        // Declared before the guards below, so dropped after them.
        let mut new_waker: Option<Waker> = None;
        loop {
            let mut st = self.lock_state();
            // Generations end under this lock: one open now stays open until we unlock.
            if let Some(polled) = self.check(&mut st, ticket) {
                return polled;
            }
            let bucket = st.bucket(ticket.epoch);
            if bucket.slots {
                // Its waker goes to its slot; a summons or end from now on finds it there or
                // is seen by the look that follows.
                drop(st);
                return self.poll_slot(ticket, waker);
            }
            let seat = bucket.seats.seat_mut(ticket.index);
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

    /// Polls a waiting party whose waker is in its slot, without the state's lock: keeps the
    /// waker current, then looks again whether the generation ended (its release may have
    /// passed the slot before).
    fn poll_slot(&self, ticket: &mut Ticket, waker: &Waker) -> Polled {
        let slots = &self.fast.slots;
        if slots.with(ticket.index, |slot| slot.holds(ticket.epoch, waker)) {
            return Polled::Pending;
        }
        // User code (SPEC rule 18): cloned outside any lock.
        let waker = waker.clone();
        let registered = slots.with(ticket.index, |slot| slot.register(ticket.epoch, waker));
        if let Registered::Yes(Some(stale)) = registered {
            // An ended generation's party, not woken yet.
            stale.wake();
        }
        match self.ended(ticket, None) {
            Some(signal) => Polled::Ready(self.outcome(ticket, signal), None),
            None => Polled::Pending,
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
            if let Some(polled) = self.check(&mut st, ticket) {
                break Some(polled);
            }
            let deadline = deadline.filter(|_| ticket.can_time_out());
            let (relocked, expired) =
                crate::blocking::wait(&self.blocked, st.unlock_into(), deadline);
            st = Locked::relock(self, relocked);
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

    fn expire_locked(&self, mut st: Locked<'_>, ticket: &mut Ticket) -> Polled {
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
        st.records.take(ticket.epoch, ticket.index);
        Polled::Ready(Err(WaitError::TimedOut), Some(woken))
    }

    /// A wait or token was dropped holding `kept`: an arrival still waiting, or a pass not yet
    /// handed out. A `Party`'s (given its slot, `party`) keeps for its next wait what that wait
    /// can use (SPEC rule 16). An anonymous one withdraws a `revocable` arrival unless its
    /// generation is sealed or over (rule 8), or abandons an irrevocable one (rule 17); its
    /// pass, if any, is lost.
    pub(crate) fn drop_kept(&self, kept: Kept, revocable: bool, party: Option<&mut Option<Kept>>) {
        let kept = match kept {
            Kept::Ticket(ticket) => {
                let stop = match (&party, revocable) {
                    (Some(_), revocable) => Stop::Keep { revocable },
                    (None, true) => Stop::Withdraw,
                    (None, false) => Stop::Abandon,
                };
                self.stop_waiting(ticket, stop).0
            }
            passed => Some(passed),
        };
        if let (Some(party), Some(kept)) = (party, kept) {
            *party = Some(kept);
        }
    }

    /// A party leaves with an arrival it kept (SPEC rule 14): it stops waiting on it, and, if
    /// that arrival counts in the generation being filled, its departure is deferred to the
    /// next generation (a party is not taken off a generation it arrived in). Returns whether it
    /// was deferred; if not, the caller departs.
    pub(crate) fn leave_arrival(&self, ticket: Ticket) -> bool {
        self.stop_waiting(ticket, Stop::Leave).1
    }

    /// What a `Party`'s kept arrival gives its next wait: `None` if it ended `Broken` (a missed
    /// `Broken` is not kept: the wait arrives anew).
    pub(crate) fn resume(&self, kept: Kept) -> Option<Kept> {
        match kept {
            Kept::Ticket(ticket) => match self.ended(&ticket, None) {
                None => Some(Kept::Ticket(ticket)),
                Some(ended) => self.outcome(&ticket, ended).ok().map(Kept::Passed),
            },
            passed => Some(passed),
        }
    }

    /// Stops a party waiting; returns what it keeps, and whether its arrival counts in the
    /// generation being filled (for `Stop::Leave`, which then defers the departure).
    fn stop_waiting(&self, mut ticket: Ticket, stop: Stop) -> (Option<Kept>, bool) {
        let keeps = matches!(stop, Stop::Keep { .. });
        if self.ends.seen(ticket.epoch) == Seen::Released {
            // Over, released: only a party keeps its pass (read again, needing no record).
            return (keeps.then_some(Kept::Ticket(ticket)), false);
        }
        let mut st = self.lock_state();
        if let Some(ended) = self.ended(&ticket, Some(&mut st)) {
            // Over; the ticket is spent. A party keeps its pass; a missed `Broken` is not kept.
            drop(st);
            let passed = self.outcome(&ticket, ended).ok();
            return (passed.filter(|_| keeps).map(Kept::Passed), false);
        }
        let up = st.current.epoch == ticket.epoch;
        let bucket = st.bucket(ticket.epoch);
        let revocable = match stop {
            Stop::Withdraw => true,
            Stop::Abandon | Stop::Leave => false,
            Stop::Keep { revocable } => revocable,
        };
        let slots = &self.fast.slots;
        if revocable && !bucket.is_sealed() {
            let old = bucket.leave(ticket.index, slots);
            bucket.seats.give_back(ticket.index);
            drop(st);
            drop(old); // outside the lock: dropping a waker runs user code
            return (None, false);
        }
        let filling = !bucket.is_sealed();
        let leads = bucket.lead == Lead::Awaiting(Some(ticket.index));
        let old;
        if keeps {
            // It stays a reader, idle until the party's next wait.
            old = bucket.idle(ticket.index, slots);
            if leads {
                // Another party still waiting takes over; with none, this party keeps the lead
                // and completes the generation in its next wait (or hands it on as it leaves).
                let other = bucket.next_leader(ticket.index, slots);
                if other.is_some() {
                    bucket.lead = Lead::Awaiting(other);
                    ticket.leader = false;
                }
            }
        } else {
            old = bucket.leave(ticket.index, slots);
            if leads {
                // A leader gives up before completing its generation: another party still
                // waiting in it takes over; with none left, whoever polls or arrives next
                // (SPEC rule 19).
                bucket.lead = Lead::Awaiting(bucket.next_leader(ticket.index, slots));
            }
        }
        let taken_over = leads && bucket.lead != Lead::Awaiting(Some(ticket.index));
        let deferred = filling && matches!(stop, Stop::Leave);
        if deferred {
            st.deferred += 1;
        }
        let woken = (taken_over && up).then(|| {
            let mut woken = st.woken();
            st.summon(&mut woken, self);
            woken
        }); // else summoned when its turn comes
        drop(st);
        drop(old); // outside the lock: dropping a waker runs user code
        if let Some(woken) = woken {
            woken.wake(self);
        }
        (keeps.then_some(Kept::Ticket(ticket)), deferred)
    }
}

/// What a `Party` keeps of a wait it dropped, for its next wait (SPEC rule 16).
#[derive(Debug)]
pub(crate) enum Kept {
    /// An arrival still waiting (sealed, or irrevocable).
    Ticket(Ticket),
    /// A pass not yet handed out.
    Passed(BarrierWaitResult),
}

/// How a party stops waiting.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// Its wait was dropped: withdraw if not sealed.
    Withdraw,
    /// Stop waiting, keeping the arrival.
    Abandon,
    /// A party leaves with this arrival outstanding: as `Abandon`, deferring its departure if
    /// the arrival counts in the generation being filled.
    Leave,
    /// A party's wait was dropped: withdraw if revocable and not sealed, else keep the ticket.
    Keep { revocable: bool },
}
