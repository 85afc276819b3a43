//! The parties of one generation, and who completes it.

use alloc::vec::Vec;

use crate::engine::seats::{Seat, Seats};
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
}

impl Bucket {
    pub(crate) const fn new(epoch: u64) -> Self {
        Bucket {
            epoch,
            seats: Seats::new(),
            lead: Lead::Filling,
            relabel: Vec::new(),
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
        self.relabel = self.seats.relabel(parties);
        self.lead = leader;
    }

    /// Ends this bucket's generation, handing its wakers to `woken`, and reopens it empty as
    /// generation `epoch`.
    pub(crate) fn end(&mut self, epoch: u64, woken: &mut Woken, spare: &mut Vec<Seat>) {
        woken.take(&mut self.seats.seats, spare);
        self.seats.clear();
        self.lead = Lead::Filling;
        self.relabel.clear();
        self.epoch = epoch;
    }
}
