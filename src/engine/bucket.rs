//! The parties of one generation: their seats and their wakers.

use alloc::vec::Vec;
use core::task::Waker;

use crate::engine::seats::Seats;
use crate::engine::woken::Woken;

/// The parties of one generation.
#[derive(Debug)]
pub(crate) struct Bucket {
    /// Its serial number (see `ends`), handed out in order.
    pub(crate) epoch: u64,
    pub(crate) seats: Seats,
    /// The waiting tasks' wakers, by index; `None` for a withdrawn party, a waiting thread
    /// (woken through `Barrier::blocked`) and the completing party, which never waits.
    pub(crate) wakers: Vec<Option<Waker>>,
    /// Waiting parties that will read how this generation ended.
    pub(crate) sitting: usize,
}

impl Bucket {
    pub(crate) const fn new(epoch: u64) -> Self {
        Bucket {
            epoch,
            seats: Seats::new(),
            wakers: Vec::new(),
            sitting: 0,
        }
    }

    /// Seats a waiting party at `index`, keeping its waker if it is a task.
    pub(crate) fn sit(&mut self, index: usize, waker: Option<&Waker>) {
        let waker = waker.cloned();
        if index == self.wakers.len() {
            self.wakers.push(waker);
        } else {
            self.wakers[index] = waker;
        }
        self.sitting += 1;
    }

    /// Whether it is full: its last party arrived, so it is sealed.
    pub(crate) fn is_full(&self, parties: usize) -> bool {
        self.seats.arrived() == parties
    }

    /// Ends this bucket's generation, handing its wakers to `woken`, and reopens it empty as
    /// generation `epoch`.
    pub(crate) fn end(&mut self, epoch: u64, woken: &mut Woken, spare: &mut Vec<Option<Waker>>) {
        woken.take(&mut self.wakers, spare);
        self.seats.clear();
        self.sitting = 0;
        self.epoch = epoch;
    }
}
