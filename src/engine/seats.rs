//! The seats of one generation: the arrival indices handed out, and who waits in each seat.

use alloc::vec;
use alloc::vec::Vec;
use core::task::Waker;

/// One arrival index of a generation.
#[derive(Debug, Default)]
pub(crate) struct Seat {
    /// The waiting task's waker. `None` for a thread waiting on the barrier's condvar, for a
    /// seat nobody waits in, and once taken to be woken.
    pub(crate) waker: Option<Waker>,
    /// A party waits here to learn how the generation ends.
    pub(crate) waiting: bool,
    /// When it sat down, in the generation's arrival order.
    stamp: u64,
    /// Its party stopped polling (it dropped its wait and kept the arrival): it reads the
    /// generation's end later, but is not one to hand a generation's lead to while another party
    /// is waiting.
    pub(crate) idle: bool,
}

impl Seat {
    /// A seat holding just a waker to wake.
    pub(crate) fn to_wake(waker: Waker) -> Self {
        Seat {
            waker: Some(waker),
            waiting: false,
            stamp: 0,
            idle: false,
        }
    }
}

/// The arrival indices handed out in one generation, and the seats behind them.
///
/// A generation hands out `0, 1, 2, …` in arrival order. A party that withdraws (its wait was
/// dropped) gives its index back; the next arrival takes a given-back index before a fresh one.
/// So when the generation is full (`arrived() == parties`) its indices are exactly
/// `0..parties`, however many parties came and went: fresh indices are only handed out while no
/// index is free, so they never pass `parties - 1`.
#[derive(Debug, Default)]
pub(crate) struct Seats {
    /// One past the highest index handed out.
    high: usize,
    /// Indices below `high` given back by withdrawn parties. Allocated on the first withdrawal
    /// and reused afterwards, so arrivals without withdrawals never allocate here.
    free: Vec<usize>,
    /// By index. Its length only grows (up to the most parties seen), so steady rounds reuse it.
    pub(crate) seats: Vec<Seat>,
    /// Seats a party waits in (each will read how the generation ended).
    pub(crate) sitting: usize,
    /// Arrivals seated so far, for their stamps.
    stamps: u64,
    /// Indices `unseated.start..unseated.end` were taken on the lock-free path (see `absorb`):
    /// their parties wait, with their wakers in their slots, and `seats` does not show them yet.
    unseated: core::ops::Range<usize>,
    /// One past the highest index handed out in this generation (it outlives a relabel).
    pub(crate) span: usize,
}

impl Seats {
    pub(crate) const fn new() -> Self {
        Seats {
            high: 0,
            free: Vec::new(),
            seats: Vec::new(),
            sitting: 0,
            stamps: 0,
            unseated: 0..0,
            span: 0,
        }
    }

    /// Parties holding an index.
    pub(crate) fn arrived(&self) -> usize {
        self.high - self.free.len()
    }

    /// One past the highest index handed out.
    pub(crate) fn high(&self) -> usize {
        self.high
    }

    /// Whether an index below `high` is free (a withdrawn party's, not taken again yet).
    pub(crate) fn has_holes(&self) -> bool {
        !self.free.is_empty()
    }

    /// Hands out an index: a given-back one if any, else the next fresh one.
    pub(crate) fn take(&mut self) -> usize {
        self.free.pop().unwrap_or_else(|| {
            self.high += 1;
            self.span = self.span.max(self.high);
            self.high - 1
        })
    }

    /// Counts the parties that arrived on the lock-free path since it was opened with `high`
    /// indices taken: they took indices `high..arrived` (no holes: withdrawing takes the lock)
    /// and wait. Their seats are filled in when first needed (`seat_all`), not here: a
    /// generation that is simply released never needs them.
    pub(crate) fn absorb(&mut self, arrived: usize) {
        debug_assert!(self.free.is_empty() && arrived >= self.high);
        if self.unseated.is_empty() {
            self.unseated = self.high..arrived;
        } else {
            // Pending from an earlier absorb, with nothing taken since (`thaw` seats them all
            // before the path reopens otherwise): the ranges join up.
            debug_assert_eq!(self.unseated.end, self.high);
            self.unseated.end = arrived;
        }
        self.sitting += arrived - self.high;
        self.high = arrived;
        self.span = self.span.max(arrived);
    }

    /// Fills in the seats of the parties that arrived on the lock-free path, in index order
    /// (their arrival order).
    pub(crate) fn seat_all(&mut self) {
        if self.unseated.is_empty() {
            return;
        }
        if self.unseated.end > self.seats.len() {
            self.seats.resize_with(self.unseated.end, Seat::default);
        }
        for index in core::mem::replace(&mut self.unseated, 0..0) {
            self.seats[index] = Seat {
                waker: None,
                waiting: true,
                stamp: self.stamps,
                idle: false,
            };
            self.stamps += 1;
        }
    }

    /// Takes back the index of a party that withdrew (its seat already left).
    pub(crate) fn give_back(&mut self, index: usize) {
        self.seat_all();
        debug_assert!(index < self.high && self.seats.get(index).is_none_or(|s| !s.waiting));
        if index + 1 == self.high {
            self.high -= 1;
        } else {
            self.free.push(index);
        }
    }

    /// Seats a waiting party at `index` with its waker (`None`: a thread on the condvar).
    pub(crate) fn sit(&mut self, index: usize, waker: Option<Waker>) {
        // Taken under the lock, outside any pending lock-free range (those are seated later).
        if index >= self.seats.len() {
            self.seats.resize_with(index + 1, Seat::default);
        }
        let seat = &mut self.seats[index];
        debug_assert!(!seat.waiting && seat.waker.is_none());
        *seat = Seat {
            waker,
            waiting: true,
            stamp: self.stamps,
            idle: false,
        };
        self.stamps += 1;
        self.sitting += 1;
    }

    /// The party at `index` stops waiting (its wait was dropped); returns its waker, to be
    /// dropped once the lock is released.
    pub(crate) fn leave(&mut self, index: usize) -> Option<Waker> {
        self.seat_all();
        let seat = &mut self.seats[index];
        debug_assert!(seat.waiting, "only a waiting party leaves its seat");
        seat.waiting = false;
        self.sitting -= 1;
        seat.waker.take()
    }

    /// The party at `index` will not read how the generation ends (it leads it, and gets its
    /// result from completing it); its waker stays, to be woken with the others.
    pub(crate) fn unsit(&mut self, index: usize) {
        self.seat_all();
        let seat = &mut self.seats[index];
        debug_assert!(seat.waiting);
        seat.waiting = false;
        self.sitting -= 1;
    }

    pub(crate) fn seat_mut(&mut self, index: usize) -> &mut Seat {
        self.seat_all();
        &mut self.seats[index]
    }

    /// The index of the party that arrived last of those still waiting.
    pub(crate) fn last_waiting(&mut self) -> Option<usize> {
        self.last_waiting_but(usize::MAX)
    }

    /// The index of the party that arrived last of those still waiting, but `except`.
    pub(crate) fn last_waiting_but(&mut self, except: usize) -> Option<usize> {
        self.last_waiting_where(except, |_, _| true)
    }

    /// The index of the party that arrived last of those still waiting, but `except`, that
    /// `pick` accepts.
    pub(crate) fn last_waiting_where(
        &mut self,
        except: usize,
        mut pick: impl FnMut(usize, &Seat) -> bool,
    ) -> Option<usize> {
        self.seat_all();
        (0..self.seats.len())
            .filter(|&index| index != except && self.seats[index].waiting)
            .filter(|&index| pick(index, &self.seats[index]))
            .max_by_key(|&index| self.seats[index].stamp)
    }

    /// Once `parties` hold indices (the generation is sealed), gives the parties holding an
    /// index at or above `parties` (departures lowered it after they arrived: SPEC rule 14) the
    /// free indices below it, so the indices are a permutation of `0..parties`. Returns the
    /// changes (`(from, to)`); the seats stay where they are. Allocates only when it changes any.
    pub(crate) fn relabel(&mut self, parties: usize) -> Vec<(usize, usize)> {
        debug_assert_eq!(self.arrived(), parties);
        if self.high <= parties {
            return Vec::new();
        }
        self.seat_all();
        let mut is_free = vec![false; self.high];
        for &index in &self.free {
            is_free[index] = true;
        }
        let mut free_below: Vec<usize> = (0..parties).filter(|&i| is_free[i]).collect();
        let taken_above = (parties..self.high).filter(|&i| !is_free[i]);
        let relabel: Vec<(usize, usize)> = taken_above
            .map(|from| {
                (
                    from,
                    free_below.pop().expect("as many free below as taken above"),
                )
            })
            .collect();
        self.high = parties;
        self.free.clear();
        relabel
    }

    /// Empties the seats for the next generation, keeping their memory; the wakers must have
    /// been taken.
    pub(crate) fn clear(&mut self) {
        let used = self.high.min(self.seats.len());
        for seat in &mut self.seats[..used] {
            seat.waiting = false;
            debug_assert!(seat.waker.is_none());
        }
        self.high = 0;
        self.free.clear();
        self.sitting = 0;
        self.stamps = 0;
        self.unseated = 0..0;
        self.span = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::Seats;

    #[test]
    fn indices_are_a_permutation_after_withdrawals() {
        let mut seats = Seats::new();
        let a = seats.take();
        let b = seats.take();
        let c = seats.take();
        assert_eq!((a, b, c), (0, 1, 2));
        seats.give_back(b);
        seats.give_back(a);
        assert_eq!(seats.arrived(), 1);
        let mut taken = vec![c, seats.take(), seats.take(), seats.take()];
        taken.sort_unstable();
        assert_eq!(taken, [0, 1, 2, 3]);
    }

    #[test]
    fn last_index_given_back_shrinks() {
        let mut seats = Seats::new();
        seats.take();
        let last = seats.take();
        seats.give_back(last);
        assert_eq!(seats.arrived(), 1);
        assert_eq!(seats.take(), 1);
        seats.clear();
        assert_eq!(seats.arrived(), 0);
        assert_eq!(seats.take(), 0);
    }

    #[test]
    fn sitting_counts_the_waiting_seats() {
        let mut seats = Seats::new();
        for _ in 0..3 {
            let index = seats.take();
            seats.sit(index, None);
        }
        assert_eq!(seats.sitting, 3);
        assert!(seats.leave(1).is_none());
        assert_eq!(seats.sitting, 2);
        assert_eq!(seats.last_waiting(), Some(2));
        seats.leave(2);
        assert_eq!(seats.last_waiting(), Some(0));
    }

    #[test]
    fn relabel_gives_stranded_parties_the_free_indices() {
        // Issue 11's case: 4 parties, indices 0, 1 and 2 taken, 0 and 1 withdraw, two parties
        // leave: the one left at 2 is relabeled 0 or 1 once a party takes the other.
        let mut seats = Seats::new();
        for _ in 0..3 {
            let index = seats.take();
            seats.sit(index, None);
        }
        for index in [0, 1] {
            seats.leave(index);
            seats.give_back(index);
        }
        let index = seats.take();
        seats.sit(index, None);
        let relabel = seats.relabel(2);
        assert_eq!(relabel.len(), 1);
        let (from, to) = relabel[0];
        assert_eq!(from, 2);
        assert!(
            to < 2 && to != index,
            "{relabel:?}, the newcomer has {index}"
        );
        assert_eq!(seats.arrived(), 2);
    }

    #[test]
    fn relabel_changes_nothing_without_stranded_seats() {
        let mut seats = Seats::new();
        seats.take();
        seats.take();
        assert!(seats.relabel(2).is_empty());
    }

    #[test]
    fn last_waiting_is_the_latest_arrival() {
        let mut seats = Seats::new();
        let a = seats.take();
        seats.sit(a, None);
        let b = seats.take();
        seats.sit(b, None);
        seats.leave(a);
        seats.give_back(a);
        let c = seats.take(); // takes a's index back, arriving last
        seats.sit(c, None);
        assert_eq!(c, a);
        assert_eq!(seats.last_waiting(), Some(c));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "only a waiting party leaves its seat")]
    fn a_seat_is_left_once() {
        let mut seats = Seats::new();
        let index = seats.take();
        seats.sit(index, None);
        seats.leave(index);
        seats.leave(index);
    }

    #[test]
    fn withdrawals_in_random_order_check_in_constant_time() {
        // Issue 9, item 6: the debug check of a given-back index searched the free list, which
        // made withdrawals in random order quadratic in debug builds (9.3 µs each with 100,000
        // parties waiting). It now reads the seat. This runs 100,000 withdrawals in a shuffled
        // order; it finishes in well under a second in a debug build.
        let n = if cfg!(miri) { 1_000 } else { 100_000 };
        let mut seats = Seats::new();
        for _ in 0..n {
            let index = seats.take();
            seats.sit(index, None);
        }
        let mut order: Vec<usize> = (0..n).collect();
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        for i in (1..n).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        for index in order {
            seats.leave(index);
            seats.give_back(index);
        }
        assert_eq!(seats.arrived(), 0);
    }
}
