//! Which generations have ended, and how: published by the transitions that end them (under the
//! barrier's lock) for waiting parties to read without it.
//!
//! Every generation (every bucket of parties) has an *epoch*, a serial number handed out in
//! order. Generations end in epoch order, so "has mine ended?" is one comparison with the epoch
//! of the oldest open generation. How it ended is almost always "released"; a break or a reset
//! records the epochs it ended in the state, and only their parties (and parties of released
//! generations older than a break) take the lock to read it. So does a release whose parties'
//! indices changed because parties departed (SPEC rule 14).

use alloc::vec::Vec;

use crate::engine::sync::{AtomicU64, Ordering};

/// How a generation ended, for its waiting parties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// It completed.
    Released,
    /// It was broken or reset.
    Broken,
}

/// What a waiting party can tell without the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Its generation has not ended.
    Open,
    /// Its generation was released.
    Released,
    /// Its generation ended, maybe broken or relabeled: ask the state (`Records::take`).
    Ask,
}

/// The published part: two counters, written under the lock, read without it.
#[derive(Debug)]
pub(crate) struct Ends {
    /// The epoch of the oldest generation not ended: every epoch below it has ended.
    open_from: AtomicU64,
    /// One more than the newest epoch ended by a break or a reset (0: none yet). An ended epoch
    /// at or above it was released.
    broken_below: AtomicU64,
    /// The epoch of the latest generation whose leader was summoned: a party of it that polls
    /// without the lock (its waker in a slot) takes the lock to see whether it leads.
    summoned: AtomicU64,
}

impl Ends {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Ends {
            open_from: AtomicU64::new(0),
            broken_below: AtomicU64::new(0),
            summoned: AtomicU64::new(u64::MAX),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Ends {
            open_from: AtomicU64::new(0),
            broken_below: AtomicU64::new(0),
            summoned: AtomicU64::new(u64::MAX),
        }
    }

    /// Every epoch below `open_from` has ended. `Release` pairs with `seen`'s `Acquire`: a
    /// released party sees everything before it, the action's effects included.
    pub(crate) fn ended_below(&self, open_from: u64) {
        self.open_from.store(open_from, Ordering::Release);
    }

    /// Epochs below `broken_below` may have been broken (or relabeled): their parties ask the
    /// records. Call before `ended_below`.
    pub(crate) fn broken_below(&self, broken_below: u64) {
        self.broken_below.store(broken_below, Ordering::Release);
    }

    /// Generation `epoch`'s leader is summoned (under the lock, before its waker is woken).
    pub(crate) fn summon(&self, epoch: u64) {
        self.summoned.store(epoch, Ordering::Release);
    }

    /// Whether a leader of generation `epoch` was summoned.
    pub(crate) fn summoned(&self, epoch: u64) -> bool {
        self.summoned.load(Ordering::Acquire) == epoch
    }

    pub(crate) fn seen(&self, epoch: u64) -> Seen {
        if epoch >= self.open_from.load(Ordering::Acquire) {
            Seen::Open
        } else if epoch >= self.broken_below.load(Ordering::Acquire) {
            Seen::Released
        } else {
            Seen::Ask
        }
    }
}

/// How the generations of a record ended.
#[derive(Debug)]
enum Kind {
    /// Broken or reset.
    Broken,
    /// Released, with these parties' indices changed (`(from, to)`): departures left seats at
    /// or above the parties it completed with (SPEC rule 14).
    Relabeled(Vec<(usize, usize)>),
}

/// Epochs ended by one break, reset or relabeled release, that still have parties to tell.
#[derive(Debug)]
struct Record {
    first: u64,
    last: u64,
    kind: Kind,
    /// Parties of these generations that have not read it yet.
    unread: usize,
}

/// The records of recent breaks, resets and relabeled releases, in the state.
#[derive(Debug, Default)]
pub(crate) struct Records(Vec<Record>);

impl Records {
    pub(crate) const fn new() -> Self {
        Records(Vec::new())
    }

    /// How many records still have parties to tell.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Records that epochs `first..=last` were broken, with `unread` parties to tell.
    pub(crate) fn broken(&mut self, first: u64, last: u64, unread: usize) {
        self.push(first, last, Kind::Broken, unread);
    }

    /// Records that epoch `epoch` was released with the parties at `relabel`'s first indices
    /// given the second, with `unread` parties to tell.
    pub(crate) fn relabeled(&mut self, epoch: u64, relabel: Vec<(usize, usize)>, unread: usize) {
        self.push(epoch, epoch, Kind::Relabeled(relabel), unread);
    }

    fn push(&mut self, first: u64, last: u64, kind: Kind, unread: usize) {
        if unread > 0 {
            self.0.push(Record {
                first,
                last,
                kind,
                unread,
            });
        }
    }

    /// How the ended generation `epoch` ended for its party at `index`, and that party's index
    /// in the result (each party reads once).
    pub(crate) fn take(&mut self, epoch: u64, index: usize) -> (Signal, usize) {
        let Some(i) = self
            .0
            .iter()
            .position(|r| (r.first..=r.last).contains(&epoch))
        else {
            return (Signal::Released, index);
        };
        let record = &mut self.0[i];
        let ended = match &record.kind {
            Kind::Broken => (Signal::Broken, index),
            Kind::Relabeled(relabel) => (Signal::Released, relabeled(relabel, index)),
        };
        record.unread -= 1;
        if record.unread == 0 {
            self.0.swap_remove(i);
        }
        ended
    }
}

/// `index` after `relabel`.
pub(crate) fn relabeled(relabel: &[(usize, usize)], index: usize) -> usize {
    relabel
        .iter()
        .find(|(from, _)| *from == index)
        .map_or(index, |(_, to)| *to)
}
