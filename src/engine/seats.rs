use alloc::vec::Vec;

/// The arrival indices handed out in one generation.
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
}

impl Seats {
    pub(crate) const fn new() -> Self {
        Seats {
            high: 0,
            free: Vec::new(),
        }
    }

    /// Parties holding an index.
    pub(crate) fn arrived(&self) -> usize {
        self.high - self.free.len()
    }

    /// Hands out an index: a given-back one if any, else the next fresh one.
    pub(crate) fn take(&mut self) -> usize {
        self.free.pop().unwrap_or_else(|| {
            self.high += 1;
            self.high - 1
        })
    }

    /// Takes back the index of a party that withdrew.
    pub(crate) fn give_back(&mut self, index: usize) {
        debug_assert!(index < self.high && !self.free.contains(&index));
        if index + 1 == self.high {
            self.high -= 1;
        } else {
            self.free.push(index);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.high = 0;
        self.free.clear();
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
}
