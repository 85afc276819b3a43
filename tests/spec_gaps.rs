//! Claims of `SPEC.md` and of the `# Cancel safety` doc sections that no other test proved (a
//! test that would fail if the claim were false). Each test names the rule or doc section and
//! quotes the sentence it proves. Hand-polled; no test asserts a timing.

#[macro_use]
mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use agnostic_barrier::{Barrier, BarrierWaitResult, WaitError};
use common::hostile::{Hostile, Op};
use common::staged::{self, waiting, Parked};
use common::{assert_one_generation, poll_once, spawn, Deadline};

/// Polls `fut` once with `waker`.
fn poll_with<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

/// Runs `f`, failing instead of hanging if it deadlocks. Under Miri it runs inline (Miri
/// reports a deadlock as an error); otherwise on a thread, given a minute.
fn finishes<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    if cfg!(miri) {
        return f();
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(Duration::from_secs(60))
        .expect("deadlocked: the barrier ran user code under its lock")
}

// ---- API -----------------------------------------------------------------------------------

/// API: `pub const fn new(index: usize, is_leader: bool, generation: u64) -> Self; // for other
/// backends`, with `is_leader()`, `index()` and `generation()` its getters; the result a
/// barrier hands out is such a value (`PartialEq`).
#[test]
fn result_new_is_const_and_builds_what_a_barrier_returns() {
    const PASSED: BarrierWaitResult = BarrierWaitResult::new(1, true, 0);
    assert_eq!(
        (PASSED.index(), PASSED.is_leader(), PASSED.generation()),
        (1, true, 0)
    );
    let made = BarrierWaitResult::new(7, false, 42);
    assert_eq!(
        (made.index(), made.is_leader(), made.generation()),
        (7, false, 42)
    );
    let barrier = Barrier::new(2);
    let mut first = spawn(barrier.wait());
    assert_pending!(first.poll());
    let last = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_eq!(last, PASSED);
    assert_eq!(
        assert_ready_ok!(first.poll()),
        BarrierWaitResult::new(0, false, 0)
    );
}

static POOL: Barrier = Barrier::dynamic();

/// API: `pub const fn dynamic() -> Barrier; // no parties yet: they join() or add_parties()`,
/// and rule 14: "`Barrier::dynamic()` starts with 0 parties." A `const fn`, so usable in a
/// `static`.
#[test]
fn dynamic_is_const_usable_in_a_static_and_starts_with_no_parties() {
    assert_eq!((POOL.parties(), POOL.n_waiting()), (0, 0));
    let mut party = POOL.join();
    assert_eq!(POOL.parties(), 1);
    let passed = assert_ready_ok!(poll_once(&mut party.wait()));
    assert!(passed.is_leader());
    assert_eq!(passed.index(), 0);
    party.leave();
    assert_eq!(POOL.parties(), 0);
    assert!(!POOL.is_broken());
}

/// API: `Party::barrier(&self) -> &Barrier` "and the same methods on OwnedParty": each returns
/// the barrier the party joined.
#[test]
fn party_barrier_returns_the_barrier_it_joined() {
    let barrier = Barrier::new(1);
    let other = Barrier::new(1);
    let party = barrier.join();
    assert!(std::ptr::eq(party.barrier(), &barrier));
    assert!(!std::ptr::eq(party.barrier(), &other));
    assert_eq!(party.barrier().parties(), 2);
    let shared = Arc::new(Barrier::new(3));
    let owned = shared.clone().join_owned();
    assert!(std::ptr::eq(owned.barrier(), &*shared));
    assert_eq!(owned.barrier().parties(), 4);
}

// ---- `Barrier::wait`, # Cancel safety -------------------------------------------------------

/// `Barrier::wait`, `# Cancel safety`: "(`biased;` with the barrier branch first narrows the
/// window but does not close it.)"
///
/// The barrier branch is polled first and is pending; the other party arrives before the other
/// branch is polled (here, from that branch's own poll), so the generation completes and the
/// other branch wins: the wait is dropped with its pass, and the loop's next `barrier.wait()`
/// waits in the next generation.
#[test]
fn biased_select_with_the_barrier_branch_first_can_still_lose_the_pass() {
    let barrier = Barrier::new(2);
    let mut other_result = None;
    let won = futures::executor::block_on(async {
        let mut wait = futures::FutureExt::fuse(barrier.wait());
        let mut other = futures::FutureExt::fuse(std::future::poll_fn(|_| {
            // The barrier branch was polled (and arrived) first.
            assert_eq!(barrier.n_waiting(), 1);
            // The other party arrives now, completing the generation.
            other_result = Some(assert_ready_ok!(poll_once(&mut barrier.wait())));
            Poll::Ready(())
        }));
        futures::select_biased! {
            _ = wait => "barrier",
            () = other => "other",
        }
    });
    assert_eq!(won, "other");
    let other_result = other_result.expect("the other party passed");
    assert!(other_result.is_leader());
    assert_eq!(other_result.generation(), 0);
    // The pass is lost: the loop's next wait arrives in generation 1, where nobody comes.
    assert_eq!((barrier.generation(), barrier.n_waiting()), (1, 0));
    let mut retry = spawn(barrier.wait());
    assert_pending!(retry.poll());
    assert_eq!((barrier.generation(), barrier.n_waiting()), (1, 1));
    assert!(!retry.is_woken());
}

// ---- `BarrierWait::timeout`, # Cancel safety ------------------------------------------------

/// `BarrierWait::timeout`, `# Cancel safety`: "Dropping the returned future does what
/// dropping the `BarrierWait` does (see `Barrier::wait`): it withdraws the arrival quietly,
/// and the deadline plays no part."
///
/// Here the deadline has already passed (and woken the wait) when the wait is dropped, before
/// it was polled again: the drop still withdraws quietly, without breaking the barrier.
#[test]
fn wait_timeout_dropped_after_its_deadline_passed_but_before_its_next_poll_withdraws_quietly() {
    let barrier = Barrier::new(2);
    let deadline = Deadline::new();
    let mut a = spawn(barrier.wait().timeout(deadline.clone()));
    assert_pending!(a.poll());
    assert_eq!(barrier.n_waiting(), 1);
    deadline.fire();
    assert!(a.is_woken(), "the deadline passed");
    drop(a);
    assert!(!barrier.is_broken(), "the deadline plays no part");
    assert_eq!((barrier.n_waiting(), barrier.generation()), (0, 0));
    // The generation still needs two arrivals.
    let mut b = spawn(barrier.wait());
    assert_pending!(b.poll());
    assert_eq!(barrier.n_waiting(), 1);
    let c = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_one_generation(&[assert_ready_ok!(b.poll()), c], 2);
}

/// `BarrierWait::timeout`, `# Cancel safety`: "Dropping the returned future does what
/// dropping the `BarrierWait` does", for a party's wait (`Party::wait`, `# Cancel safety`):
/// "Dropping it after it arrived, before its generation was sealed, withdraws the arrival" and
/// "Dropping it later keeps the pass for this party's next wait".
#[test]
fn party_wait_timeout_dropped_withdraws_before_the_seal_and_keeps_the_pass_after() {
    let barrier = Barrier::new(1);
    let mut party = barrier.join(); // two parties
    let deadline = Deadline::new();
    // Before the seal: withdrawn, quietly.
    let mut wait = spawn(party.wait().timeout(deadline.clone()));
    assert_pending!(wait.poll());
    assert_eq!(barrier.n_waiting(), 1);
    drop(wait);
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.is_broken());
    // After the seal: the pass is kept, whatever the deadline does.
    let mut wait = spawn(party.wait().timeout(deadline.clone()));
    assert_pending!(wait.poll());
    let theirs = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert!(theirs.is_leader());
    deadline.fire();
    drop(wait);
    assert!(!barrier.is_broken());
    assert_eq!((barrier.n_waiting(), barrier.generation()), (0, 1));
    let mine = assert_ready_ok!(poll_once(&mut party.wait()));
    assert_eq!(
        barrier.n_waiting(),
        0,
        "it returned the pass without arriving"
    );
    assert_one_generation(&[mine, theirs], 2);
}

// ---- `Party::wait` on an `OwnedParty`, # Cancel safety --------------------------------------

/// `Party::wait` / `OwnedParty::wait` (one doc for both), `# Cancel safety`: "Dropping the
/// future before its first poll does nothing. Dropping it after it arrived, before its
/// generation was sealed, withdraws the arrival (as for `Barrier::wait`). Dropping it later
/// keeps the pass for this party's next wait". The other tests prove it for `Party`; this one
/// for `OwnedParty`.
#[test]
fn owned_party_wait_is_cancel_safe_as_a_partys() {
    let barrier = Arc::new(Barrier::new(1));
    let mut party = barrier.clone().join_owned(); // two parties
                                                  // Before its first poll: nothing.
    drop(party.wait());
    assert_eq!(barrier.n_waiting(), 0);
    // Arrived, not sealed: withdrawn.
    let mut wait = spawn(party.wait());
    assert_pending!(wait.poll());
    assert_eq!(barrier.n_waiting(), 1);
    drop(wait);
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.is_broken());
    assert_eq!(barrier.parties(), 2, "the party is still there");
    // Sealed: the pass is kept for the next wait.
    let mut wait = spawn(party.wait());
    assert_pending!(wait.poll());
    let theirs = assert_ready_ok!(poll_once(&mut barrier.wait()));
    drop(wait);
    drop(party.wait()); // an unpolled wait leaves the pass kept
    let mine = assert_ready_ok!(poll_once(&mut party.wait()));
    assert_eq!(barrier.n_waiting(), 0, "it did not arrive again");
    assert_one_generation(&[mine, theirs], 2);
    assert_eq!(mine.generation(), 0);
}

// ---- rule 5: abort ---------------------------------------------------------------------------

/// Rule 5: "`abort()` breaks the barrier: every party still waiting (in any generation not yet
/// completed) gets `Err(Broken)`". Rule 7 defines completed as "last arrival in, action run":
/// a generation sealed while an earlier action ran, still awaiting its leader's action, is not
/// completed, so an abort breaks all its parties, the pending leader too.
#[test]
fn abort_breaks_a_sealed_generation_whose_action_has_not_run() {
    let parked = Parked::default();
    let park = parked.clone();
    let barrier = staged::with_action(Barrier::builder(2), move |b, run| {
        if run == 0 {
            // Generation 1 fills (and is sealed) while generation 0's action runs.
            park.push(waiting(b));
            park.push(waiting(b));
        }
    });
    let mut a = waiting(&barrier);
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_one_generation(&[assert_ready_ok!(a.poll()), b], 2);
    let [mut c, mut d] = parked.take_n();
    assert_eq!(barrier.generation(), 1, "generation 1 has not completed");
    barrier.abort();
    assert!(barrier.is_broken());
    assert!(c.is_woken() && d.is_woken());
    assert_eq!(assert_ready!(c.poll()), Err(WaitError::Broken));
    assert_eq!(assert_ready!(d.poll()), Err(WaitError::Broken));
    assert!(barrier.is_broken(), "the barrier stays broken");
    assert_eq!(
        assert_ready!(poll_once(&mut barrier.wait())),
        Err(WaitError::Broken)
    );
    // Until reset: then the next two arrivals complete a generation.
    barrier.reset();
    let mut e = waiting(&barrier);
    let f = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_one_generation(&[assert_ready_ok!(e.poll()), f], 2);
}

// ---- rule 9: timeouts -----------------------------------------------------------------------

/// A barrier of `parties` whose default timeout makes a fresh `Deadline` for each wait, kept
/// (in order) for the test to fire.
fn barrier_with_deadlines(parties: usize) -> (Barrier, Arc<Mutex<Vec<Deadline>>>) {
    let timers: Arc<Mutex<Vec<Deadline>>> = Arc::default();
    let made = timers.clone();
    let barrier = Barrier::builder(parties)
        .timeout(Duration::from_secs(3600), move |_| {
            let deadline = Deadline::new();
            made.lock().unwrap().push(deadline.clone());
            deadline
        })
        .build();
    (barrier, timers)
}

/// Rule 9: "With ... a builder default timeout: ... If the generation completed first, even
/// within the same poll, the result is `Ok`." (Rule 7: a completed generation wins over "a
/// deadline".) The per-call deadline's case is in `timeout.rs`; this is the default's.
#[test]
fn default_timeout_passing_after_the_generation_completed_still_returns_ok() {
    // The default timer passes after the generation completed, before the party is polled.
    let (barrier, timers) = barrier_with_deadlines(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    let timer = timers.lock().unwrap()[0].clone();
    assert!(timer.is_polled(), "the default timer runs");
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    timer.fire();
    assert!(a.is_woken());
    let a = assert_ready_ok!(a.poll());
    assert_one_generation(&[a, b], 2);
    assert!(!barrier.is_broken());

    // The timer passes first, then the generation completes: both are ready at the next poll.
    let (barrier, timers) = barrier_with_deadlines(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    let timer = timers.lock().unwrap()[0].clone();
    timer.fire();
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    let a = assert_ready_ok!(a.poll());
    assert_one_generation(&[a, b], 2);
    assert!(!barrier.is_broken());
}

/// Rule 9: "With ... a builder default timeout: if the deadline passes before this party's
/// generation completes, the barrier is broken as by `abort()`, this party gets
/// `Err(TimedOut)` and every other waiting party `Err(Broken)`. ... A zero timeout breaks the
/// barrier at once, unless this party is the one that completes the generation, which
/// succeeds." For a blocking wait under a zero default timeout.
#[test]
fn blocking_wait_with_a_zero_default_timeout_breaks_at_once_unless_it_completes() {
    let barrier = Barrier::builder(2)
        .timeout(Duration::ZERO, |_| std::future::pending::<()>())
        .build();
    // The completing party succeeds.
    let mut a = spawn(barrier.wait().timeout(Deadline::new()));
    assert_pending!(a.poll());
    let b = barrier.wait_blocking().unwrap();
    assert!(b.is_leader());
    assert_one_generation(&[assert_ready_ok!(a.poll()), b], 2);
    assert!(!barrier.is_broken());
    // Any other breaks the barrier at once: TimedOut here, Broken for the waiting party.
    let barrier = Barrier::builder(3)
        .timeout(Duration::ZERO, |_| std::future::pending::<()>())
        .build();
    let mut c = spawn(barrier.wait().timeout(Deadline::new()));
    assert_pending!(c.poll());
    assert_eq!(barrier.wait_blocking(), Err(WaitError::TimedOut));
    assert!(barrier.is_broken());
    assert_eq!(barrier.n_waiting(), 0);
    assert!(c.is_woken());
    assert_eq!(assert_ready!(c.poll()), Err(WaitError::Broken));
}

// ---- rule 18: user code never runs under the barrier's lock ---------------------------------

/// Rule 18: "User code never runs under the barrier's lock. User code: ... the default
/// timeout's `sleep` function". The `sleep` function calls into its own barrier, including
/// `add_parties(0)`, which takes the barrier's lock: under the lock, that would deadlock.
#[test]
fn sleep_function_may_call_the_barrier() {
    finishes(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let barrier = Arc::new_cyclic(|weak: &Weak<Barrier>| {
            let weak = weak.clone();
            Barrier::builder(2)
                .timeout(Duration::from_secs(3600), move |_| {
                    let barrier = weak.upgrade().expect("the test holds the barrier");
                    let _ = barrier.add_parties(0);
                    let _ = (
                        barrier.n_waiting(),
                        barrier.is_broken(),
                        barrier.generation(),
                    );
                    let _ = format!("{barrier:?}");
                    counter.fetch_add(1, SeqCst);
                    std::future::pending::<()>()
                })
                .build()
        });
        let mut a = spawn(barrier.wait());
        assert_pending!(a.poll());
        assert!(calls.load(SeqCst) >= 1, "the sleep function ran");
        let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
        assert_one_generation(&[assert_ready_ok!(a.poll()), b], 2);
        assert_eq!(barrier.parties(), 2);
    });
}

/// Rule 18: "User code never runs under the barrier's lock. User code: ... deadline futures."
/// The deadline's `poll` calls into the barrier, including `add_parties(0)`, which takes its
/// lock.
#[test]
fn deadline_future_may_call_the_barrier() {
    finishes(|| {
        let barrier = Arc::new(Barrier::new(2));
        let polls = Arc::new(AtomicUsize::new(0));
        let (inner, counter) = (barrier.clone(), polls.clone());
        let deadline = std::future::poll_fn(move |_| {
            let _ = inner.add_parties(0);
            let _ = (inner.n_waiting(), inner.is_broken(), inner.generation());
            let _ = format!("{inner:?}");
            counter.fetch_add(1, SeqCst);
            Poll::<()>::Pending
        });
        let mut a = spawn(barrier.wait().timeout(deadline));
        assert_pending!(a.poll());
        assert_pending!(a.poll());
        assert!(polls.load(SeqCst) >= 1, "the deadline was polled");
        assert!(!barrier.is_broken());
        let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
        assert_one_generation(&[assert_ready_ok!(a.poll()), b], 2);
    });
}

/// Rule 18: "User code never runs under the barrier's lock. User code: ... wakers (`clone`,
/// `wake`, `wake_by_ref`, `drop`)". `hostile.rs` proves it for `clone` and `wake`; this for
/// `drop`, on re-registration and on withdrawal: the hook calls `add_parties(0)`, which takes
/// the barrier's lock.
#[test]
fn waker_drop_may_call_the_barrier() {
    finishes(|| {
        let barrier = Arc::new(Barrier::new(3));
        let hostile = Hostile::new();
        let inner = barrier.clone();
        hostile.set(move |op| {
            if op == Op::Drop {
                let _ = inner.add_parties(0);
                let _ = (inner.n_waiting(), inner.is_broken());
            }
        });
        let waker = hostile.waker();
        // Re-registration with another waker drops the one the barrier held.
        let mut a = barrier.wait();
        assert_pending!(poll_with(&mut a, &waker));
        let before = hostile.drops();
        assert_pending!(poll_once(&mut a));
        assert!(hostile.drops() > before, "the barrier dropped its clone");
        // A withdrawal drops the waker its wait registered.
        let mut b = barrier.wait();
        assert_pending!(poll_with(&mut b, &waker));
        assert_eq!(barrier.n_waiting(), 2);
        let before = hostile.drops();
        drop(b);
        assert!(hostile.drops() > before, "the withdrawal dropped its waker");
        assert_eq!(barrier.n_waiting(), 1);
        assert!(!barrier.is_broken());
        // The barrier still works: two more arrivals complete the generation.
        let mut c = spawn(barrier.wait());
        assert_pending!(c.poll());
        let d = assert_ready_ok!(poll_once(&mut barrier.wait()));
        let a = assert_ready_ok!(poll_once(&mut a));
        assert_one_generation(&[a, assert_ready_ok!(c.poll()), d], 3);
        assert_eq!(barrier.parties(), 3);
        hostile.disarm(); // lets go of the hook's `Arc` of the barrier
        drop(waker);
    });
}

// ---- rule 19: an orphaned generation and a split-phase arrival ------------------------------

/// Rule 19: "If the leader's wait is dropped before it ran the action, another party of that
/// generation still waiting runs it and becomes the leader; if none is left, the next party to
/// poll or arrive runs it before anything else. Either way each generation's action runs
/// exactly once, and never inside a drop." `handoff.rs` proves it for a next party that polls
/// a wait; this is a next party that arrives with `arrive()` (rule 17).
#[test]
fn orphaned_generation_is_completed_by_the_next_split_phase_arrival() {
    let runs = Arc::new(AtomicUsize::new(0));
    let parked = Parked::default();
    let (counter, park) = (runs.clone(), parked.clone());
    let barrier = staged::with_action(Barrier::builder(2), move |b, run| {
        counter.fetch_add(1, SeqCst);
        if run == 0 {
            // Generation 1 fills (and is sealed) while generation 0's action runs.
            park.push(waiting(b));
            park.push(waiting(b));
        }
    });
    let mut a = waiting(&barrier);
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_one_generation(&[assert_ready_ok!(a.poll()), b], 2);
    // Every party of generation 1 gives up before its action ran: none of them runs it.
    drop(parked.take());
    assert_eq!(runs.load(SeqCst), 1, "never inside a drop");
    assert!(!barrier.is_broken());
    // The next party to arrive runs generation 1's action before anything else, then arrives.
    let token = barrier.arrive().unwrap();
    assert_eq!(runs.load(SeqCst), 2, "generation 1's action ran, once");
    assert_eq!(barrier.generation(), 2);
    assert_eq!(
        token.generation(),
        2,
        "it arrived after generation 1 completed"
    );
    assert_eq!(barrier.n_waiting(), 1);
    let mut mine = spawn(token.wait());
    assert_pending!(mine.poll());
    let last = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_eq!(runs.load(SeqCst), 3);
    let mine = assert_ready_ok!(mine.poll());
    assert_one_generation(&[mine, last], 2);
    assert_eq!((mine.index(), last.generation()), (0, 2));
}

// ---- rules 3 and 4: the getters inside an action its own leader runs later -------------------

/// Rule 3: "Inside the action [`generation()`] still returns the completing generation's
/// number." Rule 4: "Inside the action `n_waiting() == parties`." For the actions that rule
/// 19 hands to a later leader: a generation sealed while an earlier action ran, and one sealed
/// by a departure (rule 14), whose `parties` is the number it completed with.
#[test]
fn getters_inside_an_action_run_by_a_later_leader_describe_its_own_generation() {
    // Sealed while generation 0's action ran: generation 1's leader runs its action later.
    let seen: Arc<Mutex<Vec<(u64, usize, usize)>>> = Arc::default();
    let parked = Parked::default();
    let (sink, park) = (seen.clone(), parked.clone());
    let barrier = staged::with_action(Barrier::builder(2), move |b, run| {
        sink.lock()
            .unwrap()
            .push((b.generation(), b.n_waiting(), b.parties()));
        if run == 0 {
            park.push(waiting(b));
            park.push(waiting(b));
        }
    });
    let mut a = waiting(&barrier);
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_ready_ok!(a.poll());
    let [mut c, mut d] = parked.take_n();
    let d = assert_ready_ok!(d.poll());
    assert!(d.is_leader());
    assert_one_generation(&[assert_ready_ok!(c.poll()), d], 2);
    assert_eq!(*seen.lock().unwrap(), [(0, 2, 2), (1, 2, 2)]);

    // Sealed by a departure: three parties, two arrive, one leaves.
    let seen: Arc<Mutex<Vec<(u64, usize, usize)>>> = Arc::default();
    let sink = seen.clone();
    let barrier = staged::with_action(Barrier::builder(3), move |b, _| {
        sink.lock()
            .unwrap()
            .push((b.generation(), b.n_waiting(), b.parties()));
    });
    let mut a = waiting(&barrier);
    let mut b = waiting(&barrier);
    barrier.arrive_and_drop();
    assert!(seen.lock().unwrap().is_empty());
    let b = assert_ready_ok!(b.poll());
    assert!(b.is_leader());
    assert_one_generation(&[assert_ready_ok!(a.poll()), b], 2);
    assert_eq!(*seen.lock().unwrap(), [(0, 2, 2)]);
}
