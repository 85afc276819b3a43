//! The parties of one generation: their seats, their wakers and their shared outcome.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::task::Waker;

use crate::outcome::{Outcome, Signal};
use crate::seats::Seats;
use crate::woken::Woken;

/// The parties of one generation.
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    pub(crate) seats: Seats,
    /// The waiting tasks' wakers, by index; `None` for a withdrawn party, a waiting thread
    /// (woken through `Barrier::blocked`) and the completing party, which never waits.
    pub(crate) wakers: Vec<Option<Waker>>,
    /// Shared with the waiting parties; made by the first of them, so a generation without
    /// waiters (one party) allocates nothing.
    outcome: Option<Arc<Outcome>>,
}

/// What ended generations leave behind for later ones, so that steady rounds do not allocate.
#[derive(Debug)]
pub(crate) struct Recycled {
    /// A wakers vector lent out to wake a large generation, once it is given back.
    pub(crate) wakers: Vec<Option<Waker>>,
    /// The last ended generations' outcome cells, newest last. Their parties let go of a cell
    /// as they are polled, which with many tasks can take a generation or two.
    outcomes: [Option<Arc<Outcome>>; RETIRED],
}

/// How many ended generations' outcome cells are kept for reuse.
const RETIRED: usize = 3;

impl Recycled {
    pub(crate) const fn new() -> Self {
        Recycled {
            wakers: Vec::new(),
            outcomes: [None, None, None],
        }
    }

    /// An outcome cell for a new generation: a retired one that all its parties have let go
    /// of, else a new one.
    fn outcome(&mut self) -> Arc<Outcome> {
        for slot in &mut self.outcomes {
            if let Some(unshared) = slot.as_mut().and_then(Arc::get_mut) {
                *unshared = Outcome::pending();
                return slot.take().expect("just matched");
            }
        }
        Arc::new(Outcome::pending())
    }

    /// Keeps an ended generation's cell, dropping the oldest one kept.
    fn retire(&mut self, outcome: Arc<Outcome>) {
        self.outcomes.rotate_left(1);
        self.outcomes[RETIRED - 1] = Some(outcome);
    }
}

impl Bucket {
    pub(crate) const fn new() -> Self {
        Bucket {
            seats: Seats::new(),
            wakers: Vec::new(),
            outcome: None,
        }
    }

    /// Seats a waiting party at `index`: keeps its waker, if it is a task, and returns its share
    /// of the outcome.
    pub(crate) fn sit(
        &mut self,
        index: usize,
        waker: Option<&Waker>,
        recycled: &mut Recycled,
    ) -> Arc<Outcome> {
        let waker = waker.cloned();
        if index == self.wakers.len() {
            self.wakers.push(waker);
        } else {
            self.wakers[index] = waker;
        }
        self.outcome
            .get_or_insert_with(|| recycled.outcome())
            .clone()
    }

    /// Whether `outcome` is this bucket's: whether a party holding it sits here.
    pub(crate) fn holds(&self, outcome: &Arc<Outcome>) -> bool {
        self.outcome
            .as_ref()
            .is_some_and(|o| Arc::ptr_eq(o, outcome))
    }

    /// Ends this bucket's generation: publishes `signal`, hands the wakers to `woken` and
    /// leaves the bucket empty.
    pub(crate) fn end(&mut self, signal: Signal, woken: &mut Woken, recycled: &mut Recycled) {
        if let Some(outcome) = self.outcome.take() {
            outcome.set(signal);
            recycled.retire(outcome);
        }
        woken.take(&mut self.wakers, &mut recycled.wakers);
        self.seats.clear();
    }
}
