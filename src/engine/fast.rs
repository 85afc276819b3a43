//! The lock-free arrival path: in steady rounds a waiting party arrives with one
//! compare-exchange and leaves its waker in its own slot, so parties arriving on different
//! threads do not serialize on the state's lock (issue 12).
//!
//! `word` packs the arrivals counted on this path in the current generation, a `SLOW` flag, and
//! a version. While `SLOW` is clear, the current generation is *fast*: it is filling, has no
//! holes (withdrawals), the barrier is not broken, and `epoch`, `generation` and `parties`
//! below describe it. A party claims index `count` by incrementing `count`; the last party of a
//! generation (the one that would make `count == parties`) takes the lock instead, to complete
//! it there, as does every party while `SLOW` is set.
//!
//! Whoever takes the state's lock sets `SLOW` first (`Barrier::lock_state`): from then on the
//! fast arrivals are frozen, and the lock holder absorbs them into the seats (indices
//! `high..count`). Before unlocking it clears `SLOW` again if the generation it leaves allows it,
//! publishing the generation's `epoch`, `generation` and `parties` and a new version. A party's
//! compare-exchange fails if any lock holder came between its load and its exchange (the
//! version changed), so what it read with the word describes the generation it arrived in.
//! (Versions wrap after 2^43 lock holders; a thread would have to be stalled between two
//! instructions for that many for a stale exchange to succeed.)

use crate::engine::slots::Slots;
use crate::engine::state::Ticket;
use crate::engine::sync::{AtomicU64, AtomicUsize, Ordering};

/// Bits of `word` counting fast arrivals.
const COUNT_BITS: u32 = 20;
const COUNT: u64 = (1 << COUNT_BITS) - 1;
/// Set while arrivals must take the state's lock.
pub(crate) const SLOW: u64 = 1 << COUNT_BITS;
const VERSION: u64 = SLOW << 1;
/// Generations needing more parties than this always arrive under the lock.
pub(crate) const MAX_PARTIES: usize = COUNT as usize;

/// Keeps the contended word on a cache line of its own.
#[derive(Debug)]
#[repr(align(128))]
struct Padded<T>(T);

/// The lock-free path's state (see the module docs).
#[derive(Debug)]
pub(crate) struct Fast {
    word: Padded<AtomicU64>,
    /// The current generation's epoch, number and parties, while `SLOW` is clear.
    epoch: AtomicU64,
    generation: AtomicU64,
    parties: AtomicUsize,
    pub(crate) slots: Slots,
}

impl Fast {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Fast {
            word: Padded(AtomicU64::new(SLOW)),
            epoch: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            parties: AtomicUsize::new(0),
            slots: Slots::new(),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Fast {
            word: Padded(AtomicU64::new(SLOW)),
            epoch: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            parties: AtomicUsize::new(0),
            slots: Slots::new(),
        }
    }

    /// Arrives without the lock if the current generation is fast and this arrival does not
    /// complete it: the party's ticket (its waker is for the caller to leave in its slot).
    /// `None` sends the party to the lock.
    pub(crate) fn try_arrive(&self) -> Option<Ticket> {
        let mut word = self.word.0.load(Ordering::Acquire);
        loop {
            if word & SLOW != 0 {
                return None;
            }
            // Read after `word` (its acquire pairs with `thaw`'s release); if a lock holder
            // changed them since, the exchange below fails.
            let epoch = self.epoch.load(Ordering::Relaxed);
            let generation = self.generation.load(Ordering::Relaxed);
            let parties = self.parties.load(Ordering::Relaxed);
            let count = word & COUNT;
            if count + 1 >= parties as u64 {
                return None; // the last arrival completes the generation under the lock
            }
            // Release: a lock holder that freezes this count sees these reads as before it.
            match self.word.0.compare_exchange_weak(
                word,
                word + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return Some(Ticket {
                        epoch,
                        generation,
                        index: count as usize,
                        leader: false,
                        in_slot: true,
                    })
                }
                Err(now) => word = now,
            }
        }
    }

    /// Arrivals in the current generation, if it is fast (none taken since the last `thaw`
    /// were withdrawn: withdrawing takes the lock).
    pub(crate) fn count(&self) -> Option<usize> {
        let word = self.word.0.load(Ordering::Acquire);
        (word & SLOW == 0).then_some((word & COUNT) as usize)
    }

    /// Stops the lock-free path (the caller holds the state's lock); returns the fast arrivals
    /// counted since the last `thaw`, if the path was open.
    pub(crate) fn freeze(&self) -> Option<usize> {
        // Only lock holders set or clear `SLOW`, and the last one to change it came before the
        // caller's lock: if it is set, nobody arrives here until the caller clears it.
        if self.word.0.load(Ordering::Relaxed) & SLOW != 0 {
            return None;
        }
        // Acquire: pairs with the release of the exchanges that counted these arrivals.
        let word = self.word.0.fetch_or(SLOW, Ordering::AcqRel);
        (word & SLOW == 0).then_some((word & COUNT) as usize)
    }

    /// Opens the lock-free path for the current generation (the caller holds the state's lock,
    /// the path is frozen, and the generation is fast: filling, no holes, `arrived` parties of
    /// `parties`, slots reserved for them).
    pub(crate) fn thaw(&self, epoch: u64, generation: u64, parties: usize, arrived: usize) {
        debug_assert!(arrived < parties && parties <= MAX_PARTIES);
        self.epoch.store(epoch, Ordering::Relaxed);
        self.generation.store(generation, Ordering::Relaxed);
        self.parties.store(parties, Ordering::Relaxed);
        // Only lock holders change a frozen word: a plain read-modify-write under the lock.
        let version = (self.word.0.load(Ordering::Relaxed) & !(VERSION - 1)).wrapping_add(VERSION);
        self.word
            .0
            .store(version | arrived as u64, Ordering::Release);
    }
}
