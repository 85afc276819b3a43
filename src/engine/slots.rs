//! Waker slots, one per arrival index, outside the state's lock: where the parties of a
//! generation that arrived on the lock-free path (`fast.rs`) leave their wakers.
//!
//! A slot belongs to one generation at a time, named by its epoch. Parties only ever write
//! the slot of an index they hold in the current generation, so a slot's epoch only grows. A
//! party that comes late (its generation ended, and a later one's party took the slot) sees a
//! newer epoch and writes nothing: its generation has ended. A party that finds an older
//! generation's waker still there wakes it (that generation has ended, and its release may
//! not have reached this slot yet), so no wake-up is lost whichever comes first.

use core::task::Waker;
#[cfg(not(loom))]
use std::sync::OnceLock;

use alloc::boxed::Box;

use crate::engine::sync::{lock, Mutex};

/// Slots in the first chunk; chunk `k >= 1` holds `FIRST << (k - 1)`.
const FIRST: usize = 32;
/// Chunks: enough for every index a `usize` can hold.
const CHUNKS: usize = usize::BITS as usize - FIRST.trailing_zeros() as usize + 1;

#[derive(Debug, Default)]
struct Inner {
    /// The generation whose party at this index left `waker` (0: none yet).
    epoch: u64,
    waker: Option<Waker>,
}

/// One index's slot.
#[derive(Debug, Default)]
pub(crate) struct Slot(Mutex<Inner>);

/// What registering a waker found.
#[derive(Debug)]
pub(crate) enum Registered {
    /// The waker is in the slot. If an ended generation's waker was there, it is returned, to be
    /// woken once the slot's lock is released.
    Yes(Option<Waker>),
    /// A later generation holds the slot: the registering party's generation has ended.
    Late,
}

impl Slot {
    /// Leaves `waker` (the caller cloned it, outside any lock) for generation `epoch`'s party.
    pub(crate) fn register(&self, epoch: u64, waker: Waker) -> Registered {
        let mut inner = lock(&self.0);
        if inner.epoch > epoch {
            return Registered::Late;
        }
        let stale = (inner.epoch < epoch).then(|| inner.waker.take()).flatten();
        inner.epoch = epoch;
        let replaced = inner.waker.replace(waker);
        drop(inner);
        // A waker of this generation replaced by its own party's new one: nothing to wake, but
        // it is dropped here, outside the lock. (Dropping runs executor code.)
        drop(replaced);
        Registered::Yes(stale)
    }

    /// Whether generation `epoch`'s party left a waker that will wake like `waker`.
    pub(crate) fn holds(&self, epoch: u64, waker: &Waker) -> bool {
        let inner = lock(&self.0);
        inner.epoch == epoch && inner.waker.as_ref().is_some_and(|w| w.will_wake(waker))
    }

    /// Whether generation `epoch`'s party left a waker here.
    pub(crate) fn has(&self, epoch: u64) -> bool {
        let inner = lock(&self.0);
        inner.epoch == epoch && inner.waker.is_some()
    }

    /// Takes generation `epoch`'s waker, if its party left one.
    pub(crate) fn take(&self, epoch: u64) -> Option<Waker> {
        let mut inner = lock(&self.0);
        if inner.epoch == epoch {
            inner.waker.take()
        } else {
            None
        }
    }
}

/// The slots, in chunks allocated on first need and never moved, so that parties reach a slot
/// without a lock: chunk 0 holds indices `0..32`, chunk `k` the next `32 << (k - 1)`.
#[derive(Debug)]
pub(crate) struct Slots {
    chunks: [Chunk; CHUNKS],
}

#[cfg(not(loom))]
type Chunk = OnceLock<Box<[Slot]>>;
/// Loom has no `OnceLock`: a chunk is made under a mutex (the models need one chunk).
#[cfg(loom)]
type Chunk = Mutex<Option<alloc::sync::Arc<[Slot]>>>;

/// The chunk holding `index`, and its offset there.
fn place(index: usize) -> (usize, usize) {
    if index < FIRST {
        return (0, index);
    }
    // Chunk k >= 1 starts at FIRST << (k - 1).
    let chunk = (usize::BITS - (index / FIRST).leading_zeros()) as usize;
    (chunk, index - (FIRST << (chunk - 1)))
}

fn chunk_len(chunk: usize) -> usize {
    if chunk == 0 {
        FIRST
    } else {
        FIRST << (chunk - 1)
    }
}

fn new_chunk(chunk: usize) -> Box<[Slot]> {
    (0..chunk_len(chunk)).map(|_| Slot::default()).collect()
}

impl Slots {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Slots {
            chunks: [const { OnceLock::new() }; CHUNKS],
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Slots {
            chunks: core::array::from_fn(|_| Mutex::new(None)),
        }
    }

    /// Makes sure slots `0..n` exist (allocating chunks the first time; call it under the
    /// state's lock, before parties may use them).
    pub(crate) fn reserve(&self, n: usize) {
        if n == 0 {
            return;
        }
        let (last, _) = place(n - 1);
        for chunk in 0..=last {
            #[cfg(not(loom))]
            self.chunks[chunk].get_or_init(|| new_chunk(chunk));
            #[cfg(loom)]
            {
                let mut slot = lock(&self.chunks[chunk]);
                if slot.is_none() {
                    *slot = Some(new_chunk(chunk).into());
                }
            }
        }
    }

    /// Calls `f` with slot `index`, which `reserve` made.
    pub(crate) fn with<R>(&self, index: usize, f: impl FnOnce(&Slot) -> R) -> R {
        self.with_existing(index, f)
            .expect("slots are reserved before use")
    }

    /// Calls `f` with each of slots `0..n` that was ever made, in order.
    pub(crate) fn each(&self, n: usize, mut f: impl FnMut(&Slot)) {
        if n <= FIRST {
            // The common case: one chunk.
            #[cfg(not(loom))]
            if let Some(slots) = self.chunks[0].get() {
                slots[..n].iter().for_each(f);
            }
            #[cfg(not(loom))]
            return;
        }
        let mut start = 0;
        for chunk in 0..CHUNKS {
            if start >= n {
                return;
            }
            let len = chunk_len(chunk);
            let take = len.min(n - start);
            #[cfg(not(loom))]
            let Some(slots) = self.chunks[chunk].get() else {
                return; // later chunks were never made either
            };
            #[cfg(loom)]
            let Some(slots) = lock(&self.chunks[chunk]).clone() else {
                return;
            };
            slots[..take].iter().for_each(&mut f);
            start += len;
        }
    }

    /// Calls `f` with slot `index` if it was ever made (a slot never made holds no waker).
    pub(crate) fn with_existing<R>(&self, index: usize, f: impl FnOnce(&Slot) -> R) -> Option<R> {
        let (chunk, offset) = place(index);
        #[cfg(not(loom))]
        {
            let chunk = self.chunks[chunk].get()?;
            Some(f(&chunk[offset]))
        }
        #[cfg(loom)]
        {
            let chunk = lock(&self.chunks[chunk]).clone()?;
            Some(f(&chunk[offset]))
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{chunk_len, place, FIRST};

    #[test]
    fn chunks_tile_the_indices() {
        let mut next = 0;
        for chunk in 0..12 {
            for offset in 0..chunk_len(chunk) {
                assert_eq!(place(next), (chunk, offset), "index {next}");
                next += 1;
            }
        }
        assert_eq!(place(FIRST - 1), (0, FIRST - 1));
        assert_eq!(place(FIRST), (1, 0));
        assert_eq!(place(usize::MAX).0, super::CHUNKS - 1);
    }
}
