//! Split phase (SPEC rule 17): `arrive()` now, wait later with the `ArrivalToken`; and the
//! `# Errors`, `# Panics` and `# Cancel safety` sentences of `Barrier::arrive`,
//! `Party::arrive` and `ArrivalToken`. Hand-polled where possible. (What a party does with a
//! dropped token, rule 16, is in `parties.rs`.)

#[macro_use]
mod common;

use std::future::IntoFuture;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use agnostic_barrier::{ArrivalToken, Barrier, BarrierWait, BarrierWaitResult, WaitError};
use common::parties::{last_arrival, logging_phases, pending};
use common::staged::{self, during, waiting, Log, Scene};
use common::{
    assert_one_generation, catch_panic, install_panic_hook, poll_once, spawn, Deadline, QuietPanic,
};

// ---- compile-time ---------------------------------------------------------------------------

fn is_send_sync_debug<T: Send + Sync + std::fmt::Debug>() {}

fn awaits_as_a_barrier_wait<'a, T: IntoFuture<IntoFuture = BarrierWait<'a>>>() {}

#[test]
fn token_is_send_sync_debug_and_awaits_as_a_barrier_wait() {
    is_send_sync_debug::<ArrivalToken<'_>>();
    awaits_as_a_barrier_wait::<ArrivalToken<'_>>();
    let barrier = Barrier::new(2);
    let token = barrier.arrive().unwrap();
    let shown = format!("{token:?}");
    assert!(shown.starts_with("ArrivalToken"), "{shown}");
    assert!(shown.contains("generation: 0"), "{shown}");
    let wait: BarrierWait<'_> = token.wait();
    drop(wait);
}

// ---- arrive() arrives at once ---------------------------------------------------------------

#[test]
fn arrive_counts_at_once_in_the_generation_being_filled() {
    let barrier = Barrier::new(3);
    let first = barrier.arrive().unwrap();
    assert_eq!((first.generation(), barrier.n_waiting()), (0, 1));
    let second = barrier.arrive().unwrap();
    assert_eq!((second.generation(), barrier.n_waiting()), (0, 2));
    let last = last_arrival(&barrier);
    assert!(last.is_leader());
    let first = assert_ready_ok!(poll_once(&mut first.wait()));
    let second = assert_ready_ok!(poll_once(&mut second.wait()));
    // Without withdrawals, the arrival order.
    assert_eq!((first.index(), second.index(), last.index()), (0, 1, 2));
    assert_one_generation(&[first, second, last], 3);
    let next = barrier.arrive().unwrap();
    assert_eq!(next.generation(), 1);
}

#[derive(Clone, Copy, Debug)]
enum Dropped {
    Token,
    WaitUnpolled,
    WaitPolled,
    WaitTimeoutPolled,
}

#[test]
fn arrival_is_irrevocable_dropping_the_token_or_its_wait_withdraws_nothing() {
    for dropped in [
        Dropped::Token,
        Dropped::WaitUnpolled,
        Dropped::WaitPolled,
        Dropped::WaitTimeoutPolled,
    ] {
        let barrier = Barrier::new(3);
        let mut other = pending(barrier.wait());
        let token = barrier.arrive().unwrap();
        let deadline = Deadline::new();
        match dropped {
            Dropped::Token => drop(token),
            Dropped::WaitUnpolled => drop(token.wait()),
            Dropped::WaitPolled => drop(pending(token.wait())),
            Dropped::WaitTimeoutPolled => drop(pending(token.wait().timeout(deadline.clone()))),
        }
        deadline.fire(); // a dropped deadline plays no part
        assert_eq!(
            barrier.n_waiting(),
            2,
            "{dropped:?}: the arrival stays counted"
        );
        assert!(!barrier.is_broken(), "{dropped:?}");
        assert!(!other.is_woken(), "{dropped:?}");
        // One more arrival completes the generation, with the given-up arrival's index taken.
        let last = last_arrival(&barrier);
        assert!(last.is_leader());
        assert_eq!(last.index(), 2, "{dropped:?}");
        let other = assert_ready_ok!(other.poll());
        assert_eq!(other.index(), 0);
        assert_eq!(barrier.generation(), 1);
    }
}

// ---- the completing arrival runs the action inside arrive() ---------------------------------

#[test]
fn completing_arrive_runs_the_action_before_it_returns_and_its_wait_leads() {
    let (barrier, log) = logging_phases(Barrier::builder(2));
    let mut other = pending(barrier.wait());
    let token = during("arrive()", || barrier.arrive().unwrap());
    assert_eq!(log.entries(), ["arrive()"]);
    assert_eq!(barrier.generation(), 1, "released before arrive() returned");
    assert!(other.is_woken());
    assert_eq!(token.generation(), 0);
    let mine = during("token's wait", || {
        assert_ready_ok!(poll_once(&mut token.wait()))
    });
    assert!(mine.is_leader());
    assert_eq!((mine.index(), mine.generation()), (1, 0));
    assert_eq!(log.len(), 1, "the action ran once");
    assert_one_generation(&[assert_ready_ok!(other.poll()), mine], 2);
}

#[test]
fn completing_arrive_without_an_action_leads_at_once() {
    let barrier = Barrier::new(1);
    for generation in 0..3 {
        let token = barrier.arrive().unwrap();
        assert_eq!(token.generation(), generation);
        let passed = assert_ready_ok!(poll_once(&mut token.wait()));
        assert!(passed.is_leader());
        assert_eq!((passed.index(), passed.generation()), (0, generation));
    }
}

#[test]
fn action_panic_in_a_completing_arrive_propagates_and_breaks_the_barrier() {
    install_panic_hook();
    let panic_line = line!() + 3;
    let barrier = Barrier::builder(2)
        .action(|| {
            std::panic::panic_any(QuietPanic(17));
        })
        .build();
    let mut other = pending(barrier.wait());
    let (record, payload) = catch_panic(|| barrier.arrive());
    assert_eq!(payload.downcast_ref::<QuietPanic>(), Some(&QuietPanic(17)));
    assert_eq!((record.file.as_str(), record.line), (file!(), panic_line));
    assert!(barrier.is_broken());
    assert!(other.is_woken());
    assert_eq!(assert_ready!(other.poll()), Err(WaitError::Broken));
}

#[test]
fn arrive_panics_naming_the_caller_when_nobody_is_expected() {
    let barrier = Barrier::dynamic();
    let line = line!() + 1;
    let (record, _) = catch_panic(|| barrier.arrive().map(drop));
    assert_eq!((record.file.as_str(), record.line), (file!(), line));
    assert!(record.message.unwrap().contains("no parties"));
    let mut party = barrier.join();
    barrier.arrive_and_drop();
    let line = line!() + 1;
    let (record, _) = catch_panic(|| drop(party.arrive()));
    assert_eq!((record.file.as_str(), record.line), (file!(), line));
    assert_eq!(barrier.n_waiting(), 0);
}

// ---- while an earlier action runs, arrive() returns at once ---------------------------------

#[test]
fn arrival_while_an_earlier_action_runs_returns_at_once_and_its_wait_runs_the_action() {
    let (barrier, Scene { log, parked }) = staged::logged(Barrier::builder(1), move |b, scene| {
        let (b, sink) = (b.clone(), scene.log.clone());
        let mut split = staged::boxed(async move {
            // Generation 0's action is running (this is it): generation 1 is sealed by
            // this arrival, and completed later by the token's wait.
            let token = b.arrive()?;
            sink.push((token.generation() as usize, "arrive() returned"));
            token.await
        });
        assert_pending!(split.poll());
        scene.parked.push(split);
    });
    let first = during("generation 0's leader", || last_arrival(&barrier));
    assert!(first.is_leader());
    assert_eq!(
        log.entries(),
        [(0, "generation 0's leader"), (1, "arrive() returned")]
    );
    let [mut split] = parked.take_n();
    assert!(
        split.is_woken(),
        "the token's wait is summoned once generation 0 is released"
    );
    let mine = during("token's wait", || assert_ready_ok!(split.poll()));
    assert!(mine.is_leader());
    assert_eq!((mine.index(), mine.generation()), (0, 1));
    assert_eq!(
        log.entries(),
        [
            (0, "generation 0's leader"),
            (1, "arrive() returned"),
            (1, "token's wait")
        ]
    );
    assert_eq!(barrier.generation(), 2);
}

#[test]
fn dropped_token_that_led_a_queued_generation_hands_its_action_to_another_party() {
    // Generation 1 fills while generation 0's action runs; its last arrival is a split-phase
    // one whose token is dropped at once. The arrival stays; the other party runs the action.
    let (barrier, Scene { log, parked }) = staged::logged(Barrier::builder(2), move |b, scene| {
        scene.parked.push(waiting(b));
        drop(b.arrive().unwrap());
    });
    let mut a = waiting(&barrier);
    let b = last_arrival(&barrier);
    assert_one_generation(&[assert_ready_ok!(a.poll()), b], 2);
    let [mut q] = parked.take_n();
    assert!(q.is_woken());
    let q = during("q's poll", || assert_ready_ok!(q.poll()));
    assert!(q.is_leader());
    assert_eq!((q.index(), q.generation()), (0, 1));
    assert_eq!(log.entries(), [(0, "elsewhere"), (1, "q's poll")]);
    assert_eq!((barrier.generation(), barrier.n_waiting()), (2, 0));
}

#[test]
fn dropped_token_that_led_a_queued_generation_alone_leaves_it_to_the_next_arrival() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let barrier = staged::with_action(Barrier::builder(1), move |b, run| {
        counter.fetch_add(1, SeqCst);
        if run == 0 {
            drop(b.arrive().unwrap()); // seals generation 1; nobody waits for it
        }
    });
    last_arrival(&barrier);
    assert_eq!((runs.load(SeqCst), barrier.generation()), (1, 1));
    // The next arrival completes generation 1 first (its action): that is its poll's one
    // action (rule 19), so it asks to be polled again, and completes its own then.
    let mut next = pending(barrier.wait());
    assert_eq!((runs.load(SeqCst), barrier.generation()), (2, 2));
    assert!(next.is_woken());
    let next = assert_ready_ok!(next.poll());
    assert_eq!(runs.load(SeqCst), 3);
    assert!(next.is_leader());
    assert_eq!(next.generation(), 2);
}

// ---- the token's wait returns its generation's result ---------------------------------------

#[test]
fn token_wait_gets_broken_when_the_barrier_is_aborted() {
    let barrier = Barrier::new(2);
    // Aborted while its wait waits.
    let mut wait = pending(barrier.arrive().unwrap().wait());
    barrier.abort();
    assert!(wait.is_woken());
    assert_eq!(assert_ready!(wait.poll()), Err(WaitError::Broken));
    barrier.reset();
    // Aborted before its wait was first polled: `Broken` at once.
    let token = barrier.arrive().unwrap();
    barrier.abort();
    assert_eq!(
        assert_ready!(poll_once(&mut token.wait())),
        Err(WaitError::Broken)
    );
}

#[test]
fn token_wait_gets_broken_when_the_barrier_is_reset() {
    let barrier = Barrier::new(2);
    let token = barrier.arrive().unwrap();
    barrier.reset();
    assert_eq!(
        assert_ready!(poll_once(&mut token.wait())),
        Err(WaitError::Broken)
    );
    assert!(!barrier.is_broken());
    assert_eq!((barrier.n_waiting(), barrier.generation()), (0, 1));
    let token = barrier.arrive().unwrap();
    assert_eq!(token.generation(), 1);
    let other = last_arrival(&barrier);
    assert_one_generation(&[assert_ready_ok!(poll_once(&mut token.wait())), other], 2);
}

#[test]
fn arrive_on_a_broken_barrier_fails_without_arriving() {
    let barrier = Barrier::new(2);
    barrier.abort();
    assert_eq!(barrier.arrive().unwrap_err(), WaitError::Broken);
    let mut party = barrier.join();
    assert_eq!(party.arrive().unwrap_err(), WaitError::Broken);
    assert_eq!(barrier.n_waiting(), 0);
    barrier.reset();
    assert_eq!(barrier.n_waiting(), 0);
    assert_eq!(
        party.arrive().unwrap().generation(),
        1,
        "the reset moved on a generation"
    );
}

#[test]
fn completed_generation_wins_over_a_later_abort_reset_or_deadline() {
    for then in ["abort", "reset", "deadline"] {
        let barrier = Barrier::new(2);
        let token = barrier.arrive().unwrap();
        let other = last_arrival(&barrier);
        let deadline = Deadline::new();
        match then {
            "abort" => barrier.abort(),
            "reset" => barrier.reset(),
            _ => deadline.fire(),
        }
        let mine = assert_ready_ok!(poll_once(&mut token.wait().timeout(deadline)));
        assert_one_generation(&[mine, other], 2);
        assert_eq!(mine.index(), 0, "{then}");
    }
}

#[test]
fn token_wait_timeout_breaks_the_barrier() {
    let barrier = Barrier::new(3);
    let mut other = pending(barrier.wait());
    let deadline = Deadline::new();
    let mut wait = pending(barrier.arrive().unwrap().wait().timeout(deadline.clone()));
    deadline.fire();
    assert!(wait.is_woken());
    assert_eq!(assert_ready!(wait.poll()), Err(WaitError::TimedOut));
    assert!(barrier.is_broken());
    assert_eq!(assert_ready!(other.poll()), Err(WaitError::Broken));
    // A deadline ready at once breaks it at once, but not for the arrival that completed.
    barrier.reset();
    let token = barrier.arrive().unwrap();
    assert_eq!(
        assert_ready!(poll_once(&mut token.wait().timeout(std::future::ready(())))),
        Err(WaitError::TimedOut)
    );
    barrier.reset();
    let one = Barrier::new(1);
    let token = one.arrive().unwrap();
    assert!(
        assert_ready_ok!(poll_once(&mut token.wait().timeout(std::future::ready(())))).is_leader()
    );
}

#[test]
fn default_timeout_starts_when_the_tokens_wait_is_first_polled() {
    let timers = Arc::new(AtomicUsize::new(0));
    let deadline = Deadline::new();
    let (made, fire) = (timers.clone(), deadline.clone());
    let barrier = Barrier::builder(2)
        .timeout(Duration::from_secs(3600), move |_| {
            made.fetch_add(1, SeqCst);
            fire.clone()
        })
        .build();
    let token = barrier.arrive().unwrap();
    assert_eq!(timers.load(SeqCst), 0, "not at arrive()");
    let mut wait = spawn(token.wait());
    assert_eq!(timers.load(SeqCst), 0, "not when the wait is made");
    assert_pending!(wait.poll());
    assert_eq!(timers.load(SeqCst), 1, "at the wait's first poll");
    assert_pending!(wait.poll());
    assert_eq!(timers.load(SeqCst), 1);
    deadline.fire();
    assert_eq!(assert_ready!(wait.poll()), Err(WaitError::TimedOut));
    assert!(barrier.is_broken());
    // A per-call deadline replaces the default: no timer is made.
    barrier.reset();
    let token = barrier.arrive().unwrap();
    let mut wait = pending(token.wait().timeout(Deadline::new()));
    assert_eq!(timers.load(SeqCst), 1);
    let other = last_arrival(&barrier);
    assert_one_generation(&[assert_ready_ok!(wait.poll()), other], 2);
}

#[test]
#[cfg_attr(miri, ignore)]
fn default_timeout_of_a_tokens_blocking_wait_starts_at_the_call() {
    // Real time is the point: the token waits longer than the timeout before its wait starts.
    let timeout = Duration::from_millis(100);
    let barrier = Barrier::builder(2)
        .timeout(timeout, |_| std::future::pending::<()>())
        .build();
    let token = barrier.arrive().unwrap();
    thread::sleep(timeout + Duration::from_millis(50));
    let start = Instant::now();
    assert_eq!(token.wait_blocking(), Err(WaitError::TimedOut));
    assert!(start.elapsed() >= timeout, "it waited its full timeout");
}

#[test]
fn token_awaits_through_into_future() {
    let barrier = Barrier::new(2);
    let token = barrier.arrive().unwrap();
    let (mine, other) = futures::executor::block_on(async {
        futures::join!(async { token.await }, barrier.wait())
    });
    assert_one_generation(&[mine.unwrap(), other.unwrap()], 2);
    let mut party = barrier.join();
    barrier.arrive_and_drop();
    let token = party.arrive().unwrap();
    let (mine, other) = futures::executor::block_on(async {
        futures::join!(async { token.await }, barrier.wait())
    });
    assert_one_generation(&[mine.unwrap(), other.unwrap()], 2);
}

// ---- blocking waits on a token ----------------------------------------------------------------

#[test]
#[cfg_attr(miri, ignore)]
fn token_wait_blocking_waits_for_its_generation() {
    let barrier = Arc::new(Barrier::new(2));
    let token = barrier.arrive().unwrap();
    let other = barrier.clone();
    let helper = thread::spawn(move || other.wait_blocking().unwrap());
    let mine = token.wait_blocking().unwrap();
    let theirs = helper.join().unwrap();
    assert_eq!((mine.index(), theirs.index()), (0, 1));
    assert!(theirs.is_leader());
    // A party's token, with a timeout that does not pass.
    let mut party = barrier.clone().join_owned();
    barrier.arrive_and_drop();
    let token = party.arrive().unwrap();
    let other = barrier.clone();
    let helper = thread::spawn(move || other.wait_blocking().unwrap());
    let mine = token
        .wait_blocking_timeout(Duration::from_secs(30))
        .unwrap();
    assert_one_generation(&[mine, helper.join().unwrap()], 2);
}

#[test]
fn token_blocking_waits_return_a_decided_result_at_once() {
    // Completed before the call: `Ok`, even with a zero timeout.
    let barrier = Barrier::new(2);
    let token = barrier.arrive().unwrap();
    let other = last_arrival(&barrier);
    let mine = token.wait_blocking_timeout(Duration::ZERO).unwrap();
    assert_one_generation(&[mine, other], 2);
    let token = barrier.arrive().unwrap();
    let other = last_arrival(&barrier);
    assert_one_generation(&[token.wait_blocking().unwrap(), other], 2);
    // Broken before the call: `Broken`.
    let token = barrier.arrive().unwrap();
    barrier.abort();
    assert_eq!(token.wait_blocking(), Err(WaitError::Broken));
    // A zero timeout breaks the barrier at once.
    barrier.reset();
    let token = barrier.arrive().unwrap();
    assert_eq!(
        token.wait_blocking_timeout(Duration::ZERO),
        Err(WaitError::TimedOut)
    );
    assert!(barrier.is_broken());
}

#[test]
#[cfg_attr(miri, ignore)]
fn token_wait_blocking_timeout_breaks_the_barrier() {
    let barrier = Barrier::new(2);
    let token = barrier.arrive().unwrap();
    let result = token.wait_blocking_timeout(Duration::from_millis(10));
    assert_eq!(result, Err(WaitError::TimedOut));
    assert!(barrier.is_broken());
}

#[test]
#[cfg_attr(miri, ignore)]
fn blocking_token_wait_runs_the_action_of_a_generation_its_arrival_sealed() {
    // The arrival seals generation 1 while generation 0's action runs on this thread; a
    // thread then waits on the token and runs generation 1's action itself.
    let log = Log::default();
    type Helper = thread::JoinHandle<(thread::ThreadId, Result<BarrierWaitResult, WaitError>)>;
    let helper: Arc<Mutex<Option<Helper>>> = Arc::default();
    let (sink, spawned) = (log.clone(), helper.clone());
    let barrier = staged::with_action(Barrier::builder(1), move |b, run| {
        sink.push(thread::current().id());
        if run == 0 {
            let b = b.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            *spawned.lock().unwrap() = Some(thread::spawn(move || {
                let token = b.arrive().unwrap();
                tx.send(token.generation()).unwrap();
                (thread::current().id(), token.wait_blocking())
            }));
            assert_eq!(rx.recv().unwrap(), 1, "arrive() returned during the action");
        }
    });
    last_arrival(&barrier);
    let handle = helper.lock().unwrap().take().unwrap();
    let (id, result) = handle.join().unwrap();
    let result = result.unwrap();
    assert!(result.is_leader());
    assert_eq!(result.generation(), 1);
    assert_eq!(log.entries(), [thread::current().id(), id]);
}

/// A barrier for one party whose first action signals `started`, then waits (at most 10 s)
/// for `finish`.
fn barrier_with_a_held_action(
    started: mpsc::Sender<()>,
    finish: mpsc::Receiver<()>,
) -> Arc<Barrier> {
    let mut first = Some((started, finish));
    Arc::new(
        Barrier::builder(1)
            .action(move || {
                if let Some((started, finish)) = first.take() {
                    started.send(()).unwrap();
                    let _ = finish.recv_timeout(Duration::from_secs(10));
                }
            })
            .build(),
    )
}

#[test]
#[cfg_attr(miri, ignore)]
fn arrive_returns_at_once_while_a_reset_generations_action_still_runs() {
    // Generation 0's action runs on a thread and is held there. The barrier is reset, and an
    // arrival on another thread completes generation 1 (one party) while that action still
    // runs: rule 17 says `arrive()` returns at once and the token's wait runs the action.
    let (started_tx, started) = mpsc::channel();
    let (finish, finish_rx) = mpsc::channel();
    let barrier = barrier_with_a_held_action(started_tx, finish_rx);
    let leader = {
        let barrier = barrier.clone();
        thread::spawn(move || barrier.wait_blocking())
    };
    started.recv().unwrap();
    barrier.reset();
    let (returned_tx, returned) = mpsc::channel();
    let arriver = {
        let barrier = barrier.clone();
        thread::spawn(move || {
            let token = barrier.arrive().unwrap();
            returned_tx.send(()).unwrap();
            token.wait_blocking()
        })
    };
    let at_once = returned.recv_timeout(Duration::from_secs(2)).is_ok();
    finish.send(()).unwrap();
    assert_eq!(leader.join().unwrap(), Err(WaitError::Broken));
    let passed = arriver.join().unwrap().unwrap();
    assert!(passed.is_leader());
    assert!(
        at_once,
        "arrive() returned only once generation 0's action returned"
    );
}
