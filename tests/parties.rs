//! Parties that join and leave (SPEC rule 14), a party that panics (rule 15) and a party that
//! never loses a pass (rule 16). Hand-polled where possible.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use agnostic_barrier::{Barrier, BarrierWaitResult, OwnedParty, Party, WaitError};
use common::{assert_one_generation, catch_panic, poll_once, spawn};

fn is_send_sync_debug<T: Send + Sync + std::fmt::Debug>() {}

#[test]
fn party_types_are_send_sync_debug() {
    is_send_sync_debug::<Party<'_>>();
    is_send_sync_debug::<OwnedParty>();
    is_send_sync_debug::<agnostic_barrier::ArrivalToken<'_>>();
}

#[test]
fn wait_futures_stay_at_most_80_bytes() {
    assert!(std::mem::size_of::<agnostic_barrier::BarrierWait<'_>>() <= 80);
}

// ---- rule 14: join, leave, add_parties, arrive_and_drop ----------------------------------

#[test]
fn dynamic_barrier_starts_with_no_parties_and_waits_panic() {
    let barrier = Barrier::dynamic();
    assert_eq!(barrier.parties(), 0);
    let line = line!() + 1;
    let (record, _) = catch_panic(|| barrier.wait());
    assert_eq!((record.file.as_str(), record.line), (file!(), line));
    assert!(
        record.message.as_deref().unwrap().contains("no parties"),
        "{record:?}"
    );
    let (record, _) = catch_panic(|| barrier.wait_blocking());
    assert_eq!(record.file, file!());
    let (record, _) = catch_panic(|| barrier.arrive().map(drop));
    assert_eq!(record.file, file!());
    let (record, _) = catch_panic(|| barrier.arrive_and_drop());
    assert_eq!(record.file, file!());
}

#[test]
fn join_adds_a_party_and_dropping_it_leaves() {
    let barrier = Barrier::new(1);
    let party = barrier.join();
    assert_eq!(barrier.parties(), 2);
    drop(party);
    assert_eq!(barrier.parties(), 1);
    assert!(!barrier.is_broken());
    assert!(assert_ready_ok!(poll_once(&mut barrier.wait())).is_leader());
}

#[test]
fn add_parties_returns_the_generation_they_first_count_in() {
    let barrier = Barrier::new(2);
    assert_eq!(barrier.add_parties(1), 0);
    assert_eq!(barrier.parties(), 3);
    assert_eq!(barrier.add_parties(0), 0);
}

#[test]
fn departure_completes_the_generation_and_its_last_arrival_leads() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let barrier = Barrier::builder(3)
        .action(move || {
            counter.fetch_add(1, SeqCst);
        })
        .build();
    let mut a = spawn(barrier.wait());
    let mut b = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    barrier.arrive_and_drop();
    assert_eq!(barrier.parties(), 2);
    assert_eq!(
        runs.load(SeqCst),
        0,
        "the action never runs inside arrive_and_drop()"
    );
    assert!(
        b.is_woken(),
        "the leader is woken to complete its generation"
    );
    let b = assert_ready_ok!(b.poll());
    assert!(b.is_leader(), "the party that arrived last leads");
    assert_eq!(runs.load(SeqCst), 1);
    let a = assert_ready_ok!(a.poll());
    assert_one_generation(&[a, b], 2);
    assert_eq!(barrier.generation(), 1);
}

#[test]
fn departures_leave_indices_a_permutation() {
    // Issue 11's case: 4 parties, indices 0, 1 and 2 taken, 0 and 1 withdraw, two parties
    // leave: the remaining waiter ends up with index 0 or 1, never 2.
    let barrier = Barrier::new(4);
    let mut waits: Vec<_> = (0..3).map(|_| spawn(barrier.wait())).collect();
    for wait in &mut waits {
        assert_pending!(wait.poll());
    }
    let mut third = waits.pop().unwrap();
    drop(waits);
    barrier.arrive_and_drop();
    barrier.arrive_and_drop();
    assert_eq!((barrier.parties(), barrier.n_waiting()), (2, 1));
    let last = assert_ready_ok!(poll_once(&mut barrier.wait()));
    let third = assert_ready_ok!(third.poll());
    assert_one_generation(&[third, last], 2);
}

#[test]
fn departure_to_zero_completes_nothing() {
    let barrier = Barrier::new(1);
    barrier.arrive_and_drop();
    assert_eq!((barrier.parties(), barrier.generation()), (0, 0));
    barrier.add_parties(1);
    assert!(assert_ready_ok!(poll_once(&mut barrier.wait())).is_leader());
}

// ---- rule 15: a party that panics breaks the barrier ---------------------------------------

#[test]
#[cfg_attr(miri, ignore)]
fn party_dropped_while_its_thread_panics_breaks_the_barrier() {
    common::install_panic_hook();
    let barrier = Arc::new(Barrier::new(1));
    let mut waiting = spawn(barrier.wait());
    let party = barrier.clone().join_owned(); // 2 parties
    assert_pending!(waiting.poll());
    let thread = std::thread::spawn(move || {
        let _party = party;
        std::panic::panic_any(common::QuietPanic(15));
    });
    assert!(thread.join().is_err());
    assert!(barrier.is_broken());
    assert_eq!(assert_ready!(waiting.poll()), Err(WaitError::Broken));
    assert_eq!(barrier.parties(), 1, "and it left");
    barrier.reset();
    assert!(assert_ready_ok!(poll_once(&mut barrier.wait())).is_leader());
}

#[test]
fn party_dropped_quietly_leaves_without_breaking() {
    let barrier = Barrier::new(1);
    let mut waiting = spawn(barrier.wait());
    let party = barrier.join();
    assert_pending!(waiting.poll());
    drop(party);
    assert!(!barrier.is_broken());
    assert!(assert_ready_ok!(waiting.poll()).is_leader());
}

// ---- rule 16: a party never loses a pass ---------------------------------------------------

#[test]
fn anonymous_wait_loses_its_pass_a_party_keeps_it() {
    // The two loops side by side, made deterministic: a wait dropped in the poll in which its
    // generation completed.
    let barrier = Barrier::new(2);
    // Anonymous: the pass is lost, the next wait arrives in generation 1.
    let mut looper = barrier.wait();
    assert_pending!(poll_once(&mut looper));
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    drop(looper);
    let mut retry = spawn(barrier.wait());
    assert_pending!(retry.poll());
    drop(retry);
    // A party: the pass is kept, the next wait returns it without arriving.
    let other = Barrier::new(1);
    let mut party = other.join();
    let mut wait = party.wait();
    assert_pending!(poll_once(&mut wait));
    let theirs = assert_ready_ok!(poll_once(&mut other.wait()));
    drop(wait);
    let mine: BarrierWaitResult = assert_ready_ok!(poll_once(&mut party.wait()));
    assert_one_generation(&[mine, theirs], 2);
    assert_eq!(other.n_waiting(), 0, "it did not arrive again");
}

#[test]
fn dropped_token_is_waited_for_by_the_next_wait() {
    let barrier = Barrier::new(1);
    let mut party = barrier.join();
    let token = party.arrive().unwrap();
    assert_eq!(barrier.n_waiting(), 1);
    drop(token);
    let mut wait = spawn(party.wait());
    assert_pending!(wait.poll());
    assert_eq!(barrier.n_waiting(), 1, "no second arrival");
    let theirs = assert_ready_ok!(poll_once(&mut barrier.wait()));
    let mine = assert_ready_ok!(wait.poll());
    assert_one_generation(&[mine, theirs], 2);
}

// ---- rule 17: split phase ------------------------------------------------------------------

#[test]
fn arrive_counts_at_once_and_is_irrevocable() {
    let barrier = Barrier::new(2);
    let token = barrier.arrive().unwrap();
    assert_eq!(token.generation(), 0);
    assert_eq!(barrier.n_waiting(), 1);
    drop(token);
    assert_eq!(
        barrier.n_waiting(),
        1,
        "dropping the token withdraws nothing"
    );
    assert!(assert_ready_ok!(poll_once(&mut barrier.wait())).is_leader());
    assert_eq!(barrier.generation(), 1);
}

#[test]
fn arrive_that_completes_runs_the_action_before_returning() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let barrier = Barrier::builder(1)
        .action(move || {
            counter.fetch_add(1, SeqCst);
        })
        .build();
    let token = barrier.arrive().unwrap();
    assert_eq!(runs.load(SeqCst), 1);
    let passed = futures::executor::block_on(async { token.await }).unwrap();
    assert!(passed.is_leader());
}

#[test]
fn arrive_on_a_broken_barrier_fails_without_arriving() {
    let barrier = Barrier::new(2);
    barrier.abort();
    assert_eq!(barrier.arrive().unwrap_err(), WaitError::Broken);
    assert_eq!(barrier.n_waiting(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore)]
async fn party_in_a_panicking_tokio_task_breaks_the_barrier() {
    common::install_panic_hook();
    for inside in [false, true] {
        let barrier = Arc::new(Barrier::new(1));
        let (joined_tx, joined) = tokio::sync::oneshot::channel();
        let worker = if inside {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let mut party = barrier.join_owned();
                joined_tx.send(()).unwrap();
                tokio::task::yield_now().await;
                if party.barrier().parties() == 2 {
                    std::panic::panic_any(common::QuietPanic(15));
                }
                party.wait().await
            })
        } else {
            let mut party = barrier.clone().join_owned();
            joined_tx.send(()).unwrap();
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                if party.barrier().parties() == 2 {
                    std::panic::panic_any(common::QuietPanic(15));
                }
                party.wait().await
            })
        };
        // The other party waits for the worker's part, and learns it failed.
        joined.await.unwrap();
        let mine = barrier.wait().await;
        assert!(worker.await.unwrap_err().is_panic());
        assert_eq!(
            mine,
            Err(WaitError::Broken),
            "party made inside the task: {inside}"
        );
        assert_eq!(barrier.parties(), 1);
    }
}
