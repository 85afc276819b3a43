//! Wakers taken out of the barrier's state, to be woken once its lock is released.

use alloc::vec::Vec;
use core::mem;
use core::task::Waker;

use crate::Barrier;

/// How many wakers `Woken` holds inline. Up to this many it needs no vector, so releasing a
/// small generation takes the lock once; larger generations borrow the state's spare vector and
/// give it back after waking.
const INLINE: usize = 8;

/// Wakers to wake once the lock is released: waking runs executor code (and can be slow, one
/// per party), which must not run while arrivals wait for the lock.
#[must_use = "the parties must be woken"]
#[derive(Debug)]
pub(crate) struct Woken {
    few: [Option<Waker>; INLINE],
    n_few: usize,
    many: Vec<Option<Waker>>,
    /// `many` is the state's spare vector, to be given back.
    lent: bool,
    /// Threads wait on `Barrier::blocked`: notify them all.
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    threads: bool,
}

impl Woken {
    /// Wakers to collect; `threads` if any thread waits on `Barrier::blocked`.
    pub(crate) fn new(threads: bool) -> Self {
        Woken {
            few: Default::default(),
            n_few: 0,
            many: Vec::new(),
            lent: false,
            threads,
        }
    }

    /// Takes a bucket's wakers, leaving it an empty vector with room for as many.
    pub(crate) fn take(&mut self, wakers: &mut Vec<Option<Waker>>, spare: &mut Vec<Option<Waker>>) {
        if self.many.is_empty() && wakers.len() <= INLINE - self.n_few {
            // `drain` keeps the bucket's capacity for the next generation.
            for waker in wakers.drain(..).flatten() {
                self.few[self.n_few] = Some(waker);
                self.n_few += 1;
            }
        } else if self.many.is_empty() && !self.lent {
            // Swap in the spare vector (empty, with room) for the bucket's.
            mem::swap(wakers, spare);
            mem::swap(&mut self.many, spare);
            self.lent = true;
        } else {
            // More than one large bucket at once: only when a barrier breaks.
            self.many.append(wakers);
        }
    }

    /// Wakes the parties (call it with the lock released), then gives the borrowed vector back.
    pub(crate) fn wake(mut self, barrier: &Barrier) {
        #[cfg(feature = "std")]
        if self.threads {
            // One call wakes every blocked thread, as `std::sync::Barrier` does.
            barrier.blocked.notify_all();
        }
        for waker in self.few[..self.n_few].iter_mut().filter_map(Option::take) {
            waker.wake();
        }
        for waker in self.many.drain(..).flatten() {
            waker.wake();
        }
        if self.lent {
            let mut st = barrier.lock_state();
            if st.spare.capacity() < self.many.capacity() {
                st.spare = self.many;
            }
        }
    }
}
