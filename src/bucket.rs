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
    /// The last ended generation's outcome cell.
    outcome: Option<Arc<Outcome>>,
}

impl Recycled {
    pub(crate) const fn new() -> Self {
        Recycled {
            wakers: Vec::new(),
            outcome: None,
        }
    }

    /// An outcome cell for a new generation: the retired one if all its parties have let go
    /// of it, else a new one.
    fn outcome(&mut self) -> Arc<Outcome> {
        if let Some(mut outcome) = self.outcome.take() {
            if let Some(unshared) = Arc::get_mut(&mut outcome) {
                *unshared = Outcome::pending();
                return outcome;
            }
        }
        Arc::new(Outcome::pending())
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
            recycled.outcome = Some(outcome);
        }
        woken.take(&mut self.wakers, &mut recycled.wakers);
        self.seats.clear();
    }
}
