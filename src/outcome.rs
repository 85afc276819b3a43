//! How a generation ended, published once to its waiting parties.

use crate::sync::{AtomicU64, Ordering};

/// What a generation's end tells its waiting parties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// The generation with this number completed.
    Released(u64),
    /// The generation was broken or reset.
    Broken,
    /// The generation's action panicked; a pending leader (see `Ticket::leader`) takes the
    /// payload from `State::handoff_panic`, the others see `Broken`.
    Panicked,
}

/// The cell one generation's waiting parties share: written once, under the barrier's lock,
/// when the generation ends; read by each party without the lock.
#[derive(Debug)]
pub(crate) struct Outcome(AtomicU64);

const PENDING: u64 = 0;
const BROKEN: u64 = 1;
const PANICKED: u64 = 2;
/// `Released(g)` is stored as `g << 2 | RELEASED`.
const RELEASED: u64 = 3;

impl Outcome {
    pub(crate) fn pending() -> Self {
        Outcome(AtomicU64::new(PENDING))
    }

    /// Publishes the end. `Release` pairs with `get`'s `Acquire`: a released party sees
    /// everything that happened before, the action's effects included.
    pub(crate) fn set(&self, signal: Signal) {
        let bits = match signal {
            Signal::Released(generation) => generation << 2 | RELEASED,
            Signal::Broken => BROKEN,
            Signal::Panicked => PANICKED,
        };
        self.0.store(bits, Ordering::Release);
    }

    pub(crate) fn get(&self) -> Option<Signal> {
        match self.0.load(Ordering::Acquire) {
            PENDING => None,
            BROKEN => Some(Signal::Broken),
            PANICKED => Some(Signal::Panicked),
            bits => Some(Signal::Released(bits >> 2)),
        }
    }
}
