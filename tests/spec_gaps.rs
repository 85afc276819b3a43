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

/// Rule 3, of `generation()`: "Inside the action it still returns the completing generation's
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

// ---- rules 7 and 16: a kept pass is a completed generation's ---------------------------------

/// Rule 7: "Once a generation has completed (last arrival in, action run), each of its parties
/// returns `Ok` even if `abort()`, `reset()`, a deadline or a drop happens before that party is
/// polled again." Rule 16: "If a `Party`'s wait is dropped after its generation was sealed
/// ..., that party's next wait returns that pass at once, without arriving." So the pass a
/// party kept from a completed generation survives a later abort, reset or ready deadline, for
/// every kind of next wait.
#[test]
fn kept_pass_of_a_completed_generation_wins_over_abort_reset_and_a_deadline() {
    for (then, next) in [
        ("abort", "wait"),
        ("abort", "wait_blocking"),
        ("abort", "wait_blocking_timeout"),
        ("abort", "arrive"),
        ("reset", "wait"),
        ("reset", "wait_blocking"),
        ("none", "ready deadline"),
    ] {
        let barrier = Barrier::new(1);
        let mut party = barrier.join();
        let mut wait = spawn(party.wait());
        assert_pending!(wait.poll());
        let theirs = assert_ready_ok!(poll_once(&mut barrier.wait()));
        drop(wait); // generation 0 completed: the party keeps its pass
        match then {
            "abort" => barrier.abort(),
            "reset" => barrier.reset(),
            _ => {}
        }
        let mine = match next {
            "wait" => assert_ready_ok!(poll_once(&mut party.wait())),
            "wait_blocking" => party.wait_blocking().unwrap(),
            "wait_blocking_timeout" => party.wait_blocking_timeout(Duration::ZERO).unwrap(),
            "arrive" => {
                let token = party.arrive().expect("a token for the kept pass");
                assert_eq!(token.generation(), 0);
                assert_ready_ok!(poll_once(&mut token.wait()))
            }
            _ => assert_ready_ok!(poll_once(&mut party.wait().timeout(std::future::ready(())))),
        };
        assert_one_generation(&[mine, theirs], 2);
        assert_eq!(mine.generation(), 0, "{then}, {next}");
        assert_eq!(barrier.n_waiting(), 0, "{then}, {next}: it did not arrive");
        assert_eq!(barrier.is_broken(), then == "abort", "{then}, {next}");
    }
}

// ---- rule 3: every reset() counts -------------------------------------------------------------

/// Rule 3: "`Barrier::generation()` starts at 0 and goes up by one each time a generation
/// completes and each time `reset()` is called." Each call counts: on an idle barrier, twice in
/// a row, and on a broken one (which `abort()` itself does not count). Rule 6: "Resetting a
/// fresh, idle or broken barrier is harmless."
#[test]
fn generation_goes_up_by_one_on_every_reset_call_idle_twice_or_broken() {
    let barrier = Barrier::new(2);
    barrier.reset();
    barrier.reset();
    assert_eq!(barrier.generation(), 2, "two calls on an idle barrier");
    barrier.abort();
    assert_eq!(barrier.generation(), 2, "abort() does not count");
    barrier.reset();
    assert_eq!(
        barrier.generation(),
        3,
        "a reset of a broken barrier counts"
    );
    assert!(!barrier.is_broken());
    assert_eq!(barrier.n_waiting(), 0);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_eq!(b.generation(), 3);
    assert_one_generation(&[assert_ready_ok!(a.poll()), b], 2);
    assert_eq!(barrier.generation(), 4);
}

// ---- rule 9: a deadline in a sealed generation not yet completed --------------------------------

/// Rule 9: "if the deadline passes before this party's generation completes, the barrier is
/// broken as by `abort()`, this party gets `Err(TimedOut)` and every other waiting party
/// `Err(Broken)`." Rule 7: completed means "last arrival in, action run". A generation sealed
/// while an earlier action ran, still awaiting its leader's action, has not completed: a
/// deadline of one of its other parties breaks it, its leader too. (`action.rs` shows the
/// generation whose action is running; `handoff.rs` that the leader's own deadline never
/// fires.)
#[test]
fn deadline_in_a_sealed_generation_awaiting_its_leader_breaks_it() {
    let parked = Parked::default();
    let deadline = Deadline::new();
    let (park, timer) = (parked.clone(), deadline.clone());
    let barrier = staged::with_action(Barrier::builder(2), move |b, run| {
        if run == 0 {
            // Generation 1 fills while generation 0's action runs: c (with a deadline), then d,
            // its leader.
            let (barrier, timer) = (b.clone(), timer.clone());
            let mut c = staged::boxed(async move { barrier.wait().timeout(timer).await });
            assert_pending!(c.poll());
            park.push(c);
            park.push(waiting(b));
        }
    });
    let mut a = waiting(&barrier);
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_one_generation(&[assert_ready_ok!(a.poll()), b], 2);
    let [mut c, mut d] = parked.take_n();
    deadline.fire();
    assert!(c.is_woken());
    assert_eq!(assert_ready!(c.poll()), Err(WaitError::TimedOut));
    assert!(barrier.is_broken());
    assert_eq!(assert_ready!(d.poll()), Err(WaitError::Broken));
    assert_eq!(barrier.generation(), 1);
}

// ---- rule 18: a panicking action still wakes everyone ---------------------------------------

/// Rule 18: user code includes the action; "If any of them panics, ... every other party of a
/// generation that ends is still woken, ... the barrier stays usable, and the panic surfaces in
/// the call that ran that code." Rule 4: "If the action panics, the barrier is broken, the
/// other parties get `Err(Broken)`". The others are woken (not only `Broken` when polled), for
/// an action run by the completing arrival and for one run later by a queued generation's
/// leader (rule 19).
#[test]
fn panicking_action_wakes_every_other_party() {
    common::install_panic_hook();
    let parked = Parked::default();
    let park = parked.clone();
    // Counted here: `staged`'s run number does not count a run that panicked.
    let runs = AtomicUsize::new(0);
    let barrier = staged::with_action(Barrier::builder(3), move |b, _| {
        match runs.fetch_add(1, SeqCst) {
            0 => std::panic::panic_any(common::QuietPanic(180)),
            1 => {
                // Generation 2 fills (and is sealed) while generation 1's action runs.
                for _ in 0..3 {
                    park.push(waiting(b));
                }
            }
            _ => std::panic::panic_any(common::QuietPanic(181)),
        }
    });
    // Run 0: the completing arrival's poll panics; the two waiting parties are woken.
    let mut a = waiting(&barrier);
    let mut b = waiting(&barrier);
    let (_, payload) = common::catch_panic(|| poll_once(&mut barrier.wait()));
    assert_eq!(
        payload.downcast_ref::<common::QuietPanic>(),
        Some(&common::QuietPanic(180))
    );
    assert!(barrier.is_broken());
    assert!(a.is_woken() && b.is_woken(), "the others are woken");
    assert_eq!(assert_ready!(a.poll()), Err(WaitError::Broken));
    assert_eq!(assert_ready!(b.poll()), Err(WaitError::Broken));
    // Usable after a reset: run 1 passes, and generation 2 is queued behind it.
    barrier.reset();
    let mut a = waiting(&barrier);
    let mut b = waiting(&barrier);
    let c = assert_ready_ok!(poll_once(&mut barrier.wait()));
    let (a, b) = (assert_ready_ok!(a.poll()), assert_ready_ok!(b.poll()));
    assert_one_generation(&[a, b, c], 3);
    // Run 2, on generation 2's leader, panics there; the other two are woken.
    let [mut d, mut e, mut f] = parked.take_n();
    let (_, payload) = common::catch_panic(|| f.poll());
    assert_eq!(
        payload.downcast_ref::<common::QuietPanic>(),
        Some(&common::QuietPanic(181))
    );
    assert!(barrier.is_broken());
    assert!(d.is_woken() && e.is_woken(), "the others are woken");
    assert_eq!(assert_ready!(d.poll()), Err(WaitError::Broken));
    assert_eq!(assert_ready!(e.poll()), Err(WaitError::Broken));
    barrier.reset();
    assert!(!barrier.is_broken());
}

/// Rule 18, as above, for a party blocked in `wait_blocking()` on another thread: the action's
/// panic on the completing party's thread releases it with `Err(Broken)` (rule 4), instead of
/// leaving it blocked; rule 11: async and blocking parties share one barrier.
#[test]
#[cfg_attr(miri, ignore)]
fn panicking_action_releases_a_blocked_thread() {
    common::install_panic_hook();
    let barrier = Arc::new(
        Barrier::builder(2)
            .action(|| std::panic::panic_any(common::QuietPanic(182)))
            .build(),
    );
    let other = barrier.clone();
    let blocked = std::thread::spawn(move || other.wait_blocking());
    while barrier.n_waiting() < 1 {
        std::thread::yield_now();
    }
    let (_, payload) = common::catch_panic(|| poll_once(&mut barrier.wait()));
    assert_eq!(
        payload.downcast_ref::<common::QuietPanic>(),
        Some(&common::QuietPanic(182))
    );
    assert_eq!(blocked.join().unwrap(), Err(WaitError::Broken));
    assert!(barrier.is_broken());
}

// ---- rule 12: no runtime ------------------------------------------------------------------------

/// Rule 12: "The library depends on no runtime." The library's own dependencies (the
/// manifest's `[dependencies]` and target-specific `dependencies` tables, not the
/// dev-dependencies) name no executor or reactor crate. (`runtimes.rs` shows waits working
/// without one.)
#[test]
#[cfg_attr(miri, ignore)] // reads a file
fn library_depends_on_no_runtime() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("the manifest");
    let mut in_dependencies = false;
    let mut names = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]"
                || (line.starts_with("[target.") && line.ends_with(".dependencies]"));
            continue;
        }
        if in_dependencies && !line.is_empty() && !line.starts_with('#') {
            names.push(line.split('=').next().unwrap().trim().to_string());
        }
    }
    assert!(!names.is_empty(), "found the library's dependencies");
    const RUNTIMES: [&str; 10] = [
        "tokio",
        "async-std",
        "smol",
        "async-executor",
        "async-global-executor",
        "async-io",
        "futures-executor",
        "glommio",
        "monoio",
        "embassy-executor",
    ];
    for name in &names {
        assert!(
            !RUNTIMES.contains(&name.as_str()),
            "the library depends on the runtime {name}: {names:?}"
        );
    }
}
