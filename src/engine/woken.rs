//! Wakers taken out of the barrier's state, to be woken once its lock is released.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::any::Any;
use core::mem;
use core::task::Waker;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use crate::engine::seats::Seat;
use crate::Barrier;

/// How many wakers `Woken` holds inline. Up to this many it needs no vector, so releasing a
/// small generation takes the lock once; larger generations borrow the state's spare vector and
/// give it back after waking. (Generations whose parties arrived on the lock-free path leave
/// their wakers in slots, harvested after the lock; this is for the others, and a summons.)
const INLINE: usize = 2;

/// Wakers to wake once the lock is released: waking runs executor code (and can be slow, one
/// per party), which must not run while arrivals wait for the lock.
#[must_use = "the parties must be woken"]
#[derive(Debug)]
pub(crate) struct Woken {
    few: [Option<Waker>; INLINE],
    n_few: usize,
    many: Vec<Seat>,
    /// `many` is the state's spare vector, to be given back.
    lent: bool,
    /// Threads wait on `Barrier::blocked`: notify them all.
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    threads: bool,
    /// A generation whose parties left their wakers in slots `0..span`: its epoch and span.
    harvest: Option<(u64, usize)>,
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
            harvest: None,
        }
    }

    /// Wakes, too, the parties of generation `epoch` in slots `0..span`.
    pub(crate) fn harvest(&mut self, epoch: u64, span: usize) {
        debug_assert!(self.harvest.is_none(), "one generation in slots at a time");
        self.harvest = Some((epoch, span));
    }

    /// Takes a bucket's wakers, leaving it an empty vector with room for as many.
    pub(crate) fn take(&mut self, seats: &mut Vec<Seat>, spare: &mut Vec<Seat>) {
        if self.many.is_empty() && seats.len() <= INLINE - self.n_few {
            // `drain` keeps the bucket's capacity for the next generation.
            for waker in seats.drain(..).filter_map(|seat| seat.waker) {
                self.few[self.n_few] = Some(waker);
                self.n_few += 1;
            }
        } else if self.many.is_empty() && !self.lent {
            // Swap in the spare vector (empty, with room) for the bucket's.
            mem::swap(seats, spare);
            mem::swap(&mut self.many, spare);
            self.lent = true;
        } else {
            // More than one large bucket at once: only when a barrier breaks.
            self.many.append(seats);
        }
    }

    /// Adds one waker (a summoned leader's).
    pub(crate) fn push(&mut self, waker: Waker) {
        if self.n_few < INLINE {
            self.few[self.n_few] = Some(waker);
            self.n_few += 1;
        } else {
            self.many.push(Seat::to_wake(waker));
        }
    }

    /// Wakes the parties (call it with the lock released), then gives the borrowed vector back.
    /// If a waker panics, the others are still woken, and the first panic resumes at the end
    /// (SPEC rule 18: it surfaces in the call that ran it).
    pub(crate) fn wake(self, barrier: &Barrier) {
        if let Some(payload) = self.wake_all(barrier) {
            resume_unwind(payload);
        }
    }

    /// Wakes the parties like `wake`, returning the first waker's panic instead of resuming it.
    pub(crate) fn wake_all(mut self, barrier: &Barrier) -> Option<Box<dyn Any + Send>> {
        #[cfg(feature = "std")]
        if self.threads {
            // One call wakes every blocked thread, as `std::sync::Barrier` does.
            barrier.blocked.notify_all();
        }
        let mut panic = None;
        let mut wake = |waker: Waker| {
            // Catching costs nothing until a waker panics.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| waker.wake())) {
                panic.get_or_insert(payload);
            }
        };
        for waker in self.few[..self.n_few].iter_mut().filter_map(Option::take) {
            wake(waker);
        }
        if !self.many.is_empty() {
            for waker in self.many.drain(..).filter_map(|seat| seat.waker) {
                wake(waker);
            }
        }
        if let Some((epoch, span)) = self.harvest {
            // A slot a later generation took over was emptied by the party that took it.
            barrier.fast.slots.each(span, |slot| {
                if let Some(waker) = slot.take(epoch) {
                    wake(waker);
                }
            });
        }
        if self.lent {
            let mut st = barrier.peek_state();
            if st.spare.capacity() < self.many.capacity() {
                st.spare = self.many;
            }
        }
        panic
    }
}
