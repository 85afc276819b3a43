//! The parties of one generation, and who completes it.

use alloc::vec::Vec;
use core::task::Waker;

use crate::engine::seats::{Seat, Seats};
use crate::engine::slots::Slots;
use crate::engine::woken::Woken;

/// Whether a generation is still filling, and once sealed, who completes it (SPEC rules 4
/// and 19).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lead {
    /// Not sealed: parties arrive and withdraw.
    Filling,
    /// Sealed, waiting to be completed by its leader: the party at this index, or, `None`,
    /// whoever polls or arrives next (every party of it gave up).
    Awaiting(Option<usize>),
    /// Sealed, and its leader is completing it (running the action).
    Running,
}

/// The parties of one generation.
#[derive(Debug)]
pub(crate) struct Bucket {
    /// Its serial number (see `ends`), handed out in order.
    pub(crate) epoch: u64,
    pub(crate) seats: Seats,
    pub(crate) lead: Lead,
    /// Indices changed when it was sealed (see `Seats::relabel`); empty unless departures
    /// stranded a seat.
    pub(crate) relabel: Vec<(usize, usize)>,
    /// Its parties' wakers are in the barrier's slots (it was the current generation from the
    /// start, and started while the lock was contended: `State::next_in_slots`), so parties
    /// may arrive on the lock-free path; otherwise they are in `seats`, as in a generation that
    /// filled while an earlier one completed.
    pub(crate) slots: bool,
}

impl Bucket {
    pub(crate) const fn new(epoch: u64, slots: bool) -> Self {
        Bucket {
            epoch,
            seats: Seats::new(),
            lead: Lead::Filling,
            relabel: Vec::new(),
            slots,
        }
    }

    /// Whether its last party arrived.
    pub(crate) fn is_full(&self, parties: usize) -> bool {
        self.seats.arrived() == parties
    }

    pub(crate) fn is_sealed(&self) -> bool {
        self.lead != Lead::Filling
    }

    /// Seals it, full with `parties`: `leader` completes it (SPEC rules 4 and 19).
    pub(crate) fn seal(&mut self, parties: usize, leader: Lead) {
        debug_assert!(!self.is_sealed() && leader != Lead::Filling);
        if self.seats.high() > parties {
            self.relabel = self.seats.relabel(parties);
        }
        self.lead = leader;
    }

    /// Takes the waker the party at `index` left in its slot (in a bucket that keeps its wakers
    /// in slots).
    fn take_from_slot(&self, index: usize, slots: &Slots) -> Option<Waker> {
        slots
            .with_existing(index, |slot| slot.take(self.epoch))
            .flatten()
    }

    /// Takes the waker of the party waiting at `index`, to wake it.
    pub(crate) fn take_waker(&mut self, index: usize, slots: &Slots) -> Option<Waker> {
        if self.slots {
            self.take_from_slot(index, slots)
        } else {
            self.seats.seat_mut(index).waker.take()
        }
    }

    /// The party at `index` stops waiting; returns its waker, to be dropped once the lock is
    /// released.
    pub(crate) fn leave(&mut self, index: usize, slots: &Slots) -> Option<Waker> {
        let waker = self.seats.leave(index);
        if self.slots {
            self.take_from_slot(index, slots)
        } else {
            waker
        }
    }

    /// Who takes the lead when the party at `except` gives it up (SPEC rule 19): the party that
    /// arrived last of those still polling, else of those still waiting at all.
    pub(crate) fn next_leader(&mut self, except: usize, slots: &Slots) -> Option<usize> {
        let (epoch, in_slots) = (self.epoch, self.slots);
        let polling = |index: usize, seat: &Seat| {
            !seat.idle
                || if in_slots {
                    slots
                        .with_existing(index, |slot| slot.has(epoch))
                        .unwrap_or(false)
                } else {
                    seat.waker.is_some()
                }
        };
        self.seats
            .last_waiting_where(except, polling)
            .or_else(|| self.seats.last_waiting_but(except))
    }

    /// The party at `index` dropped its wait but keeps its arrival: it stays a reader, idle,
    /// without a waker (returned, to be dropped once the lock is released).
    pub(crate) fn idle(&mut self, index: usize, slots: &Slots) -> Option<Waker> {
        let seat = self.seats.seat_mut(index);
        seat.idle = true;
        let waker = seat.waker.take();
        if self.slots {
            self.take_from_slot(index, slots)
        } else {
            waker
        }
    }

    /// Ends this bucket's generation, handing its wakers to `woken`, and reopens it empty as
    /// generation `epoch`, its wakers in slots if `in_slots` (see `State::next_in_slots`).
    pub(crate) fn end(
        &mut self,
        epoch: u64,
        in_slots: bool,
        woken: &mut Woken,
        spare: &mut Vec<Seat>,
    ) {
        if self.slots {
            // Harvested from the slots once the lock is released.
            woken.harvest(self.epoch, self.seats.span);
            self.seats.seats.clear();
        } else {
            woken.take(&mut self.seats.seats, spare);
        }
        self.seats.clear();
        self.lead = Lead::Filling;
        self.relabel.clear();
        self.epoch = epoch;
        self.slots = in_slots;
    }
}
