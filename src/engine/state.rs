//! The state behind the barrier's lock, and the transitions that arrive, release, break and
//! reset generations.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::mem;
use core::ops::{Deref, DerefMut};
use core::task::Waker;

use crate::engine::bucket::{Bucket, Lead};
use crate::engine::ends::Seen;
use crate::engine::ends::{relabeled, Records};
use crate::engine::fast::MAX_PARTIES;
use crate::engine::seats::Seat;
use crate::engine::slots::Registered;
use crate::engine::sync::{lock, lock_contended, MutexGuard, Ordering};
use crate::engine::woken::Woken;
use crate::{Barrier, BarrierWaitResult};

/// Generations that keep their wakers in slots, so that parties may arrive without the lock,
/// after the lock was last found held by another thread (see `State::contention`).
const CONTENDED_GENERATIONS: u32 = 16;

/// Generations of fewer parties always arrive under the lock: with two parties only one
/// arrival could skip it, and the slots cost more than they save.
const SLOTS_MIN_PARTIES: usize = 3;

/// The state behind the barrier's lock.
#[derive(Debug)]
pub(crate) struct State {
    /// What the first generation not yet sealed needs, and every later one (SPEC rule 14);
    /// mirrored in `Barrier::parties` for reading without the lock.
    pub(crate) parties: usize,
    /// What `Barrier::generation()` returns.
    pub(crate) generation: u64,
    pub(crate) broken: bool,
    /// The generation being filled, or, once full (sealed), being completed by its leader: its
    /// action runs outside the lock until it is released, broken or reset, each of which
    /// replaces it.
    pub(crate) current: Bucket,
    /// Arrivals while `current` is sealed, by generation: they count toward the following
    /// generations. All but the last are sealed: the party that filled each is its leader, and
    /// completes it once it becomes `current` (SPEC rule 19). Empty unless `current` is sealed.
    pub(crate) queued: VecDeque<Bucket>,
    /// The epoch the next new bucket gets.
    next_epoch: u64,
    /// How recently broken (or relabeled) generations ended, for their parties.
    pub(crate) records: Records,
    /// A seats vector for large releases to borrow, so that steady rounds do not allocate.
    pub(crate) spare: Vec<Seat>,
    /// Threads waiting on `Barrier::blocked`.
    pub(crate) blocked: usize,
    /// An action is running (on the leader that claimed its generation). No other action
    /// starts meanwhile: a generation that fills up waits, sealed, for its leader to be
    /// summoned when it returns (the action is `FnMut`; see SPEC rule 19), even after `reset()`
    /// ended the running action's generation.
    pub(crate) acting: bool,
    /// Departures of parties whose arrival counts in the generation being filled: they apply
    /// from the next generation on, once this one is sealed or ends (a party is not taken off
    /// a generation it arrived in).
    pub(crate) deferred: usize,
    /// Generations left before the lock-free arrival path closes, unless the lock is found
    /// contended again (which sets it back to `CONTENDED_GENERATIONS`). The path saves the
    /// lock's contention when parties arrive on several threads at once, but costs a slot lock
    /// per waiting party and a harvest per release: on one thread, or with arrivals spread out
    /// in time, the plain locked arrival is cheaper (issue 12's measurements).
    pub(crate) contention: u32,
}

impl State {
    pub(crate) const fn new(parties: usize) -> Self {
        State {
            parties,
            generation: 0,
            broken: false,
            current: Bucket::new(0, true),
            queued: VecDeque::new(),
            next_epoch: 1,
            records: Records::new(),
            spare: Vec::new(),
            blocked: 0,
            acting: false,
            deferred: 0,
            contention: CONTENDED_GENERATIONS,
        }
    }

    /// Whether the generation starting now keeps its wakers in slots (and so may open the
    /// lock-free arrival path): while the lock was recently contended (see `contention`).
    fn next_in_slots(&mut self) -> bool {
        self.contention = self.contention.saturating_sub(1);
        self.contention > 0 && self.parties >= SLOTS_MIN_PARTIES
    }

    /// Parties arrived in the generation being filled (all of them while it completes).
    pub(crate) fn n_waiting(&self) -> usize {
        self.current.seats.arrived()
    }

    /// Whether the sealed generation `epoch` is still completing: not yet released, broken or
    /// reset, each of which replaces `current` with a generation of another epoch.
    pub(crate) fn is_completing(&self, epoch: u64) -> bool {
        self.current.epoch == epoch
    }

    fn new_epoch(&mut self) -> u64 {
        self.next_epoch += 1;
        self.next_epoch - 1
    }

    /// The bucket of a party whose generation has not ended.
    pub(crate) fn bucket(&mut self, epoch: u64) -> &mut Bucket {
        if self.current.epoch == epoch {
            return &mut self.current;
        }
        self.queued
            .iter_mut()
            .find(|bucket| bucket.epoch == epoch)
            .expect("an open generation has a bucket")
    }

    /// The generation being filled, if it has a bucket: the last one, if not sealed.
    fn filling(&mut self) -> Option<&mut Bucket> {
        let last = self.queued.back_mut().unwrap_or(&mut self.current);
        (!last.is_sealed()).then_some(last)
    }

    /// The generation being filled was sealed or ended: departures deferred until then apply now
    /// (mirrored in `Barrier::parties`).
    pub(crate) fn apply_deferred(&mut self, barrier: &Barrier) {
        if self.deferred > 0 {
            self.parties -= self.deferred;
            self.deferred = 0;
            barrier.parties.store(self.parties, Ordering::Relaxed);
        }
    }

    /// The number of the first generation not yet sealed (SPEC rule 14).
    pub(crate) fn first_unsealed(&self) -> u64 {
        let sealed = core::iter::once(&self.current)
            .chain(&self.queued)
            .filter(|bucket| bucket.is_sealed())
            .count();
        self.generation + sealed as u64
    }

    /// Wakers to collect under this lock (with the threads on the condvar, if any).
    pub(crate) fn woken(&self) -> Woken {
        Woken::new(self.blocked > 0)
    }

    /// `current` is sealed and awaits its leader: wake it. If it has none left (every party of
    /// it gave up), wake the parties of the following generations: the first of them to poll
    /// completes it, as does the next arrival (SPEC rule 19). Taken wakers are registered again
    /// by their parties' next poll.
    #[inline]
    pub(crate) fn summon(&mut self, woken: &mut Woken, barrier: &Barrier) {
        if self.acting || !matches!(self.current.lead, Lead::Awaiting(_)) {
            return; // nothing to summon, or summoned when the running action returns
        }
        match self.current.lead {
            Lead::Awaiting(Some(leader)) => {
                // A party polling without the lock looks for this before it looks at the lock.
                barrier.ends.summon(self.current.epoch);
                if let Some(waker) = self.current.take_waker(leader, &barrier.fast.slots) {
                    woken.push(waker);
                }
            }
            Lead::Awaiting(None) => {
                for bucket in &mut self.queued {
                    let seats = &mut bucket.seats.seats;
                    for waker in seats.iter_mut().filter_map(|seat| seat.waker.take()) {
                        woken.push(waker);
                    }
                }
            }
            Lead::Filling | Lead::Running => {}
        }
    }
}

/// A party waiting to be released.
#[derive(Debug)]
pub(crate) struct Ticket {
    pub(crate) epoch: u64,
    /// The generation's number, should it be released.
    pub(crate) generation: u64,
    pub(crate) index: usize,
    /// This party is its generation's leader: it completed it while an earlier generation was
    /// completing, or took over from a leader that gave up. It completes the generation when
    /// summoned, and does not time out.
    pub(crate) leader: bool,
    /// Its waker is in its slot (see `Bucket::slots`), which it may update without the lock.
    pub(crate) in_slot: bool,
}

impl Ticket {
    /// Whether a deadline applies to this party (a generation's leader never times out).
    pub(crate) fn can_time_out(&self) -> bool {
        !self.leader
    }
}

/// A sealed generation that a party has claimed to complete.
#[derive(Debug)]
pub(crate) struct Seal {
    pub(crate) epoch: u64,
    /// Its number.
    pub(crate) generation: u64,
    /// The claiming party's index in it (unused when completing another party's generation).
    pub(crate) index: usize,
}

/// What happened when a party arrived.
#[derive(Debug)]
pub(crate) enum Arrival {
    /// The barrier is broken: the party did not arrive.
    Broken,
    /// The barrier has no parties: nobody is expected (SPEC rule 14), so the caller panics.
    NoParties,
    /// The party completed a generation that has no action: it is released; wake the others
    /// once its result is recorded.
    Passed(BarrierWaitResult, Woken),
    /// The party completed a generation and must run the action and release it.
    Lead(Seal),
    /// The party waits to be released. `stale` is an ended generation's waker found in the
    /// party's slot, to wake once the party's state is recorded; with `check`, its generation
    /// may have ended already: poll it before sleeping.
    Wait {
        ticket: Ticket,
        stale: Option<Waker>,
        check: bool,
    },
    /// The party did not arrive: it must first complete a generation whose parties all gave up
    /// (SPEC rule 19), then arrive again.
    Orphan(Seal),
}

/// The state's lock, held. Taking it stops the lock-free arrival path and counts the parties
/// that arrived on it (see `fast.rs`); releasing it opens the path again if the current
/// generation allows it. So under this guard the state is complete and nobody else changes it.
pub(crate) struct Locked<'a> {
    barrier: &'a Barrier,
    /// `None` only once given up to wait on the condvar.
    guard: Option<MutexGuard<'a, State>>,
}

impl Deref for Locked<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        self.guard.as_ref().expect("held")
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        self.guard.as_mut().expect("held")
    }
}

impl<'a> Locked<'a> {
    /// Gives the plain guard up (to wait on the condvar), opening the lock-free path first.
    #[cfg(feature = "std")]
    pub(crate) fn unlock_into(mut self) -> MutexGuard<'a, State> {
        let mut guard = self.guard.take().expect("held");
        self.barrier.thaw(&mut guard);
        guard
    }

    /// Takes the plain guard back after waiting on the condvar.
    #[cfg(feature = "std")]
    pub(crate) fn relock(barrier: &'a Barrier, mut guard: MutexGuard<'a, State>) -> Self {
        barrier.freeze(&mut guard);
        Locked {
            barrier,
            guard: Some(guard),
        }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if let Some(guard) = &mut self.guard {
            self.barrier.thaw(guard);
        }
    }
}

impl Barrier {
    /// Takes the state's lock to read or change the current generation (see `Locked`).
    pub(crate) fn lock_state(&self) -> Locked<'_> {
        let (mut guard, contended) = lock_contended(&self.state);
        if contended {
            guard.contention = CONTENDED_GENERATIONS;
        }
        self.freeze(&mut guard);
        Locked {
            barrier: self,
            guard: Some(guard),
        }
    }

    /// Takes the state's lock to read what arrivals on the lock-free path do not change (the
    /// generation number, the broken flag, the records of ended generations).
    pub(crate) fn peek_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Stops the lock-free arrival path and seats the parties that arrived on it.
    fn freeze(&self, st: &mut State) {
        if let Some(arrived) = self.fast.freeze() {
            st.current.seats.absorb(arrived);
        }
    }

    /// Opens the lock-free arrival path if the current generation allows it: not broken,
    /// filling, its wakers in slots, no holes, not full, and not too many parties.
    fn thaw(&self, st: &mut State) {
        let current = &st.current;
        let arrived = current.seats.high();
        if st.broken
            || !current.slots
            || current.is_sealed()
            || current.seats.has_holes()
            || arrived >= st.parties
            || st.parties > MAX_PARTIES
        {
            return;
        }
        self.fast.slots.reserve(st.parties);
        // At most one range of lock-free arrivals waits to be seated (`Seats::absorb`).
        st.current.seats.seat_all();
        let current = &st.current;
        self.fast
            .thaw(current.epoch, st.generation, st.parties, arrived);
    }

    /// Makes the calling party arrive (SPEC rule 1). A waiting party will be woken by `waker`,
    /// or, given `None`, by a notification of `Barrier::blocked`. The caller cloned `waker`
    /// before: user code never runs under the lock (SPEC rule 18). A sealed generation whose
    /// parties all gave up is handed to the caller first (`Arrival::Orphan`).
    pub(crate) fn enter(&self, waker: Option<Waker>) -> Arrival {
        if let Some(ticket) = self.fast.try_arrive() {
            let (stale, check) = match waker {
                Some(waker) => self.seat(&ticket, waker),
                // A thread that waits on the condvar, which the lock orders.
                None => (None, false),
            };
            return Arrival::Wait {
                ticket,
                stale,
                check,
            };
        }
        self.enter_locked(waker)
    }

    /// A party that arrived on the lock-free path (`Fast::try_arrive`) leaves its waker in its
    /// slot, then looks whether its generation ended (its release may have passed the slot
    /// before) or its leader was summoned. Returns an ended generation's waker found in the
    /// slot, to wake once the party's state is recorded, and whether to look again before
    /// sleeping (`Arrival::Wait`'s `stale` and `check`).
    pub(crate) fn seat(&self, ticket: &Ticket, waker: Waker) -> (Option<Waker>, bool) {
        let (stale, late) = match self
            .fast
            .slots
            .with(ticket.index, |slot| slot.register(ticket.epoch, waker))
        {
            Registered::Yes(stale) => (stale, false),
            Registered::Late => (None, true),
        };
        // Both the end and a summons are published before the slot is visited.
        let check =
            late || self.ends.seen(ticket.epoch) != Seen::Open || self.ends.summoned(ticket.epoch);
        (stale, check)
    }

    /// Arrives under the lock, as `enter` does once the lock-free path declined (a wait's
    /// first poll tries that path itself, cloning its waker only after arriving there).
    pub(crate) fn enter_locked(&self, waker: Option<Waker>) -> Arrival {
        // Declared before the guard, so dropped after it if unused.
        let mut waker = waker;
        let mut guard = self.lock_state();
        let st = &mut *guard;
        if st.broken {
            return Arrival::Broken;
        }
        if !st.acting && st.current.lead == Lead::Awaiting(None) {
            st.current.lead = Lead::Running;
            st.acting = self.action.is_some();
            return Arrival::Orphan(Seal {
                epoch: st.current.epoch,
                generation: st.generation,
                index: usize::MAX,
            });
        }
        let parties = st.parties;
        if parties == 0 {
            return Arrival::NoParties;
        }
        if !st.current.is_sealed() {
            let index = st.current.seats.take();
            if !st.current.is_full(parties) {
                let bucket = &mut st.current;
                let (in_slot, stale) = self.sit(bucket, index, waker.take());
                return Arrival::Wait {
                    ticket: Ticket {
                        epoch: bucket.epoch,
                        generation: st.generation,
                        index,
                        leader: false,
                        in_slot,
                    },
                    stale,
                    check: false,
                };
            }
            if st.acting {
                // An earlier generation's action still runs (it was reset meanwhile): this
                // party leads its generation once that action returns (SPEC rule 19).
                let bucket = &mut st.current;
                let (in_slot, stale) = self.sit(bucket, index, waker.take());
                bucket.seal(parties, Lead::Awaiting(Some(index)));
                st.apply_deferred(self);
                return Arrival::Wait {
                    ticket: Ticket {
                        epoch: st.current.epoch,
                        generation: st.generation,
                        index,
                        leader: true,
                        in_slot,
                    },
                    stale,
                    check: false,
                };
            }
            st.current.seal(parties, Lead::Running);
            st.apply_deferred(self);
            st.acting = self.action.is_some();
            let index = relabeled(&st.current.relabel, index);
            if self.action.is_none() {
                // Nothing to run between sealing and releasing: do both at once.
                let (generation, woken) = self.release(st);
                return Arrival::Passed(
                    BarrierWaitResult {
                        index,
                        generation,
                        leader: true,
                    },
                    woken,
                );
            }
            // `current` stays sealed until its leader releases it.
            return Arrival::Lead(Seal {
                epoch: st.current.epoch,
                generation: st.generation,
                index,
            });
        }
        // The current generation is completing: count toward the first following generation
        // that is not sealed yet.
        if st.queued.back().is_none_or(Bucket::is_sealed) {
            let epoch = st.new_epoch();
            st.queued.push_back(Bucket::new(epoch, false));
        }
        let generation = st.generation + st.queued.len() as u64;
        let bucket = st.queued.back_mut().expect("pushed if missing");
        let index = bucket.seats.take();
        bucket.seats.sit(index, waker.take());
        let leader = bucket.is_full(parties);
        if leader {
            // Sealed: this party completes it once the earlier ones are released.
            bucket.seal(parties, Lead::Awaiting(Some(index)));
            st.apply_deferred(self);
        }
        let epoch = st.queued.back().expect("pushed if missing").epoch;
        Arrival::Wait {
            ticket: Ticket {
                epoch,
                generation,
                index,
                leader,
                in_slot: false,
            },
            stale: None,
            check: false,
        }
    }

    /// Seats a waiting party of the current generation at `index`, leaving its waker in its slot
    /// if the generation keeps them there. Returns whether it does, and an ended generation's
    /// waker found in the slot, to wake once the lock is released.
    fn sit(
        &self,
        bucket: &mut Bucket,
        index: usize,
        waker: Option<Waker>,
    ) -> (bool, Option<Waker>) {
        match waker {
            Some(waker) if bucket.slots => {
                bucket.seats.sit(index, None);
                self.fast.slots.reserve(index + 1);
                let registered = self
                    .fast
                    .slots
                    .with(index, |slot| slot.register(bucket.epoch, waker));
                match registered {
                    Registered::Yes(stale) => (true, stale),
                    Registered::Late => unreachable!("the current generation's slot"),
                }
            }
            waker => {
                bucket.seats.sit(index, waker);
                (bucket.slots, None)
            }
        }
    }

    /// Adds `n` parties to the first generation not yet sealed and every later one (SPEC rule
    /// 14); returns that generation's number, or `None` if the count would overflow.
    pub(crate) fn add(&self, n: usize) -> Option<u64> {
        let mut st = self.lock_state();
        st.parties = st.parties.checked_add(n)?;
        self.parties.store(st.parties, Ordering::Relaxed);
        Some(st.first_unsealed())
    }

    /// One party fewer from the first generation not yet sealed (SPEC rule 14): a departure,
    /// which never arrives. If it leaves the generation being filled with all its parties
    /// arrived, that generation is sealed and its last arrival still waiting leads it (it is
    /// summoned if its turn has come). Returns the wakers to wake, or `None` if the barrier
    /// had no parties.
    pub(crate) fn depart(&self) -> Option<Woken> {
        let mut st = self.lock_state();
        st.parties = st.parties.checked_sub(1)?;
        self.parties.store(st.parties, Ordering::Relaxed);
        let parties = st.parties;
        let mut woken = st.woken();
        if let Some(bucket) = st.filling() {
            if parties > 0 && bucket.is_full(parties) {
                let leader = bucket.seats.last_waiting();
                bucket.seal(parties, Lead::Awaiting(leader));
                st.apply_deferred(self);
                if st.queued.is_empty() {
                    // It is `current`: its turn has come.
                    st.summon(&mut woken, self);
                }
            }
        }
        Some(woken)
    }

    /// Releases the sealed current generation (SPEC rules 3 and 7), promotes the first queued
    /// one and summons its leader if it is sealed. Returns the released generation's number.
    pub(crate) fn release(&self, st: &mut State) -> (u64, Woken) {
        let generation = st.generation;
        st.generation += 1;
        let mut woken = st.woken();
        let relabel = mem::take(&mut st.current.relabel);
        if !relabel.is_empty() {
            // Its parties whose index changed learn it from the records.
            let epoch = st.current.epoch;
            st.records
                .relabeled(epoch, relabel, st.current.seats.sitting);
            self.ends.broken_below(epoch + 1);
        }
        match st.queued.pop_front() {
            Some(next) => {
                let mut ended = mem::replace(&mut st.current, next);
                ended.end(0, false, &mut woken, &mut st.spare);
            }
            None => {
                let epoch = st.new_epoch();
                let in_slots = st.next_in_slots();
                st.current.end(epoch, in_slots, &mut woken, &mut st.spare);
            }
        }
        self.ends.ended_below(st.current.epoch);
        st.summon(&mut woken, self);
        (generation, woken)
    }

    /// Ends the current and queued generations with `Broken` and leaves the barrier empty.
    fn end_all(&self, st: &mut State) -> Woken {
        let mut woken = st.woken();
        let first_epoch = st.current.epoch;
        let last_epoch = st.queued.back().map_or(first_epoch, |b| b.epoch);
        let unread =
            st.current.seats.sitting + st.queued.iter().map(|b| b.seats.sitting).sum::<usize>();
        st.records.broken(first_epoch, last_epoch, unread);
        for mut bucket in mem::take(&mut st.queued) {
            bucket.end(0, false, &mut woken, &mut st.spare);
        }
        let epoch = st.new_epoch();
        let in_slots = st.next_in_slots();
        st.current.end(epoch, in_slots, &mut woken, &mut st.spare);
        st.apply_deferred(self);
        self.ends.broken_below(last_epoch + 1);
        self.ends.ended_below(epoch);
        woken
    }

    /// Breaks the barrier (SPEC rule 5).
    pub(crate) fn break_locked(&self, st: &mut State) -> Woken {
        st.broken = true;
        self.end_all(st)
    }

    /// Empties the barrier, giving every waiting party `Broken` (SPEC rule 6).
    pub(crate) fn reset_locked(&self, st: &mut State) -> Woken {
        st.broken = false;
        st.generation += 1;
        self.end_all(st)
    }
}
#[cfg(all(test, not(loom)))]
mod tests {
    use core::future::Future;
    use core::pin::Pin;
    use core::task::{Context, Poll, Waker};

    use crate::Barrier;

    fn poll<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
        Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
    }

    fn records(barrier: &Barrier) -> usize {
        barrier.lock_state().records.len()
    }

    /// Completes one generation of `barrier`'s 3 parties, hand-polled on one thread.
    fn round_of_three(barrier: &Barrier) {
        let (mut a, mut b) = (barrier.wait(), barrier.wait());
        assert!(poll(&mut a).is_pending() && poll(&mut b).is_pending());
        assert!(poll(&mut barrier.wait()).is_ready());
        assert!(poll(&mut a).is_ready() && poll(&mut b).is_ready());
    }

    #[test]
    #[cfg_attr(miri, ignore)] // real threads and sleeps
    fn lock_free_path_closes_without_contention_and_reopens_with_it() {
        let barrier = Barrier::new(3);
        round_of_three(&barrier);
        assert_eq!(
            barrier.fast.count(),
            Some(0),
            "a new barrier starts with the path open"
        );
        for _ in 1..super::CONTENDED_GENERATIONS {
            round_of_three(&barrier);
        }
        assert!(
            barrier.fast.count().is_none(),
            "closed: one thread never contends"
        );
        assert!(!barrier.lock_state().current.slots);
        round_of_three(&barrier); // still correct with the wakers in seats

        // Another thread finds the lock held: the next generation opens the path again. (The
        // other thread must try the lock while it is held; each attempt holds it longer.)
        let contended = (1..=50).any(|attempt| {
            let held = barrier.peek_state();
            std::thread::scope(|s| {
                s.spawn(|| drop(barrier.lock_state()));
                std::thread::sleep(std::time::Duration::from_millis(attempt));
                drop(held);
            });
            barrier.peek_state().contention == super::CONTENDED_GENERATIONS
        });
        assert!(contended, "a lock found held counts as contended");
        round_of_three(&barrier);
        assert!(barrier.fast.count().is_some(), "reopened after contention");
        round_of_three(&barrier);
    }

    #[test]
    fn two_parties_always_arrive_under_the_lock_after_the_first_generation() {
        let barrier = Barrier::new(2);
        let mut a = barrier.wait();
        assert!(poll(&mut a).is_pending());
        assert!(poll(&mut barrier.wait()).is_ready());
        assert!(barrier.fast.count().is_none());
        assert!(!barrier.lock_state().current.slots);
    }

    #[test]
    fn broken_ends_are_forgotten_once_every_party_read_them() {
        let barrier = Barrier::new(3);
        let (mut a, mut b) = (barrier.wait(), barrier.wait());
        assert!(poll(&mut a).is_pending() && poll(&mut b).is_pending());
        barrier.abort();
        assert_eq!(records(&barrier), 1);
        assert!(poll(&mut a).is_ready());
        assert_eq!(records(&barrier), 1);
        assert!(poll(&mut b).is_ready());
        assert_eq!(records(&barrier), 0);
    }

    #[test]
    fn broken_ends_are_forgotten_when_parties_drop_unread() {
        let barrier = Barrier::new(3);
        let (mut a, mut b) = (barrier.wait(), barrier.wait());
        assert!(poll(&mut a).is_pending() && poll(&mut b).is_pending());
        barrier.reset();
        drop((a, b));
        assert_eq!(records(&barrier), 0);
    }

    #[test]
    fn broken_ends_are_forgotten_after_a_timeout() {
        let barrier = Barrier::new(3);
        let mut a = barrier.wait();
        let mut b = barrier.wait().timeout(core::future::ready(()));
        assert!(poll(&mut a).is_pending());
        assert!(poll(&mut b).is_ready()); // timed out: broke the barrier
        assert_eq!(records(&barrier), 1);
        assert!(poll(&mut a).is_ready());
        assert_eq!(records(&barrier), 0);
    }
}
