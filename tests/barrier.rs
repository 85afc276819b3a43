//! The API contract and the basic rules: arrival (SPEC rule 1), results (rule 2), the
//! generation number and `n_waiting()` (rule 3), a broken barrier (rule 10) and `parties == 1`
//! (rule 13).

#[macro_use]
mod common;

use std::future::Future;
use std::hint::black_box;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use agnostic_barrier::{
    Barrier, BarrierBuilder, BarrierWait, BarrierWaitResult, WaitError, WaitTimeout,
};
use common::{assert_one_generation, catch_panic, poll_once, spawn, Deadline};

// ---- compile-time checks -------------------------------------------------------------------

fn is_send<T: Send>() {}
fn is_sync<T: Sync>() {}
fn is_unpin<T: Unpin>() {}
fn is_unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}
fn is_debug<T: std::fmt::Debug>() {}
fn is_copy_eq<T: Copy + Eq + std::fmt::Debug>() {}
fn is_error<T: std::error::Error + Send + Sync + 'static>() {}
fn is_barrier_future<F: Future<Output = Result<BarrierWaitResult, WaitError>>>() {}

#[test]
fn barrier_is_send_sync_unpin_unwind_safe_debug() {
    is_send::<Barrier>();
    is_sync::<Barrier>();
    is_unpin::<Barrier>();
    is_unwind_safe::<Barrier>();
    is_debug::<Barrier>();
    is_debug::<BarrierBuilder>();
}

#[test]
fn wait_futures_are_send_sync_unpin_debug() {
    is_send::<BarrierWait<'_>>();
    is_sync::<BarrierWait<'_>>();
    is_sync::<WaitTimeout<'_, Deadline>>();
    is_unpin::<BarrierWait<'_>>();
    is_debug::<BarrierWait<'_>>();
    is_barrier_future::<BarrierWait<'_>>();
    is_send::<WaitTimeout<'_, Deadline>>();
    is_send::<WaitTimeout<'_, tokio::time::Sleep>>();
    is_unpin::<WaitTimeout<'_, Deadline>>();
    is_unpin::<WaitTimeout<'_, std::future::Ready<()>>>();
    is_debug::<WaitTimeout<'_, Deadline>>();
    is_barrier_future::<WaitTimeout<'_, Deadline>>();
}

#[test]
fn result_is_copy_eq_debug() {
    is_copy_eq::<BarrierWaitResult>();
    is_copy_eq::<WaitError>();
    is_error::<WaitError>();
}

#[test]
fn wait_error_is_a_core_error() {
    // `core::error::Error` with or without the `std` feature, so `?` into `anyhow` works in
    // `no_std` builds too (the crate checks this itself in every build; this shows it here).
    fn is_core_error<T: core::error::Error + 'static>() {}
    is_core_error::<WaitError>();
}

#[test]
fn polling_a_finished_wait_panics_naming_its_type() {
    let barrier = Barrier::new(1);
    let mut wait = barrier.wait();
    assert_ready_ok!(poll_once(&mut wait));
    let (record, _) = catch_panic(|| poll_once(&mut wait));
    assert_eq!(
        record.message.as_deref(),
        Some("`BarrierWait` polled after it completed")
    );
    let mut wait = barrier.wait().timeout(std::future::pending::<()>());
    assert_ready_ok!(poll_once(&mut wait));
    let (record, _) = catch_panic(|| poll_once(&mut wait));
    assert_eq!(
        record.message.as_deref(),
        Some("`WaitTimeout` polled after it completed")
    );
}

#[test]
fn async_fn_holding_a_wait_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let barrier = Barrier::new(1);
    let fut = async {
        barrier.wait().await.unwrap();
        barrier
            .wait()
            .timeout(tokio::time::sleep(std::time::Duration::from_secs(1)))
            .await
            .unwrap();
    };
    assert_send(&fut);
}

#[test]
fn wait_future_is_at_most_80_bytes() {
    assert!(std::mem::size_of::<BarrierWait<'_>>() <= 80);
}

#[test]
fn wait_error_display_texts() {
    assert_eq!(WaitError::Broken.to_string(), "barrier is broken");
    assert_eq!(WaitError::TimedOut.to_string(), "barrier wait timed out");
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(WaitError::TimedOut);
    assert_eq!(boxed.to_string(), "barrier wait timed out");
    assert!(boxed.source().is_none());
    assert!(WaitError::Broken.is_broken() && !WaitError::Broken.is_timed_out());
    assert!(WaitError::TimedOut.is_timed_out() && !WaitError::TimedOut.is_broken());
    assert_ne!(WaitError::Broken, WaitError::TimedOut);
}

#[test]
fn debug_output() {
    let barrier = Barrier::new(3);
    let mut wait = barrier.wait();
    assert_pending!(poll_once(&mut wait));
    let text = format!("{barrier:?}");
    assert!(text.starts_with("Barrier"), "{text}");
    for field in [
        "parties: 3",
        "n_waiting: 1",
        "generation: 0",
        "is_broken: false",
    ] {
        assert!(text.contains(field), "{text} lacks {field}");
    }
    assert_eq!(format!("{wait:?}"), "BarrierWait { .. }");
    assert_eq!(
        format!("{:?}", barrier.wait().timeout(Deadline::new())),
        "WaitTimeout { .. }"
    );
    let builder = Barrier::builder(2).action(|| {});
    assert!(format!("{builder:?}").contains("BarrierBuilder"));
}

static STATIC_BARRIER: Barrier = Barrier::new(2);

#[test]
#[cfg_attr(miri, ignore)]
fn new_is_usable_in_a_static() {
    assert_eq!(STATIC_BARRIER.parties(), 2);
    let thread = std::thread::spawn(|| STATIC_BARRIER.wait_blocking().unwrap());
    let mine = futures::executor::block_on(STATIC_BARRIER.wait()).unwrap();
    let theirs = thread.join().unwrap();
    assert_one_generation(&[mine, theirs], 2);
}

#[test]
fn getters_on_a_fresh_barrier() {
    let barrier = Barrier::new(5);
    assert_eq!(barrier.parties(), 5);
    assert_eq!(barrier.n_waiting(), 0);
    assert_eq!(barrier.generation(), 0);
    assert!(!barrier.is_broken());
    let built = Barrier::builder(7).build();
    assert_eq!(built.parties(), 7);
    assert_eq!(built.n_waiting(), 0);
    assert_eq!(built.generation(), 0);
    assert!(!built.is_broken());
}

#[test]
fn zero_parties_panics() {
    let (record, _) = catch_panic(|| Barrier::new(black_box(0)));
    let message = record.message.expect("a message");
    assert!(message.contains("at least one party"), "{message}");
}

#[test]
fn zero_parties_panics_in_builder() {
    let (record, _) = catch_panic(|| Barrier::builder(black_box(0)));
    let message = record.message.expect("a message");
    assert!(message.contains("at least one party"), "{message}");
}

#[test]
fn zero_parties_panic_names_the_caller() {
    let (line, (record, _)) = (line!(), catch_panic(|| Barrier::new(black_box(0))));
    assert_eq!(record.file, file!());
    assert_eq!(record.line, line);
    let (line, (record, _)) = (line!(), catch_panic(|| Barrier::builder(black_box(0))));
    assert_eq!(record.file, file!());
    assert_eq!(record.line, line);
}

// ---- rule 1: arrival -----------------------------------------------------------------------

#[test]
fn unpolled_wait_does_not_arrive() {
    let barrier = Barrier::new(2);
    let unpolled = barrier.wait();
    assert_eq!(barrier.n_waiting(), 0);
    drop(unpolled);
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.is_broken());
    assert_eq!(barrier.generation(), 0);
    // Two unpolled futures do not complete a generation either.
    let a = barrier.wait();
    let b = barrier.wait();
    assert_eq!(barrier.n_waiting(), 0);
    assert_eq!(barrier.generation(), 0);
    drop((a, b));
}

#[test]
fn first_poll_arrives() {
    let barrier = Barrier::new(3);
    let mut a = spawn(barrier.wait());
    let mut b = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_eq!(barrier.n_waiting(), 1);
    // Polling again does not arrive again.
    assert_pending!(a.poll());
    assert_eq!(barrier.n_waiting(), 1);
    assert_pending!(b.poll());
    assert_eq!(barrier.n_waiting(), 2);
    assert!(!a.is_woken() && !b.is_woken());
}

#[test]
fn generation_completes_when_parties_arrive() {
    let barrier = Barrier::new(3);
    let mut a = spawn(barrier.wait());
    let mut b = spawn(barrier.wait());
    let mut c = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    let rc = assert_ready_ok!(c.poll());
    assert!(a.is_woken() && b.is_woken());
    let ra = assert_ready_ok!(a.poll());
    let rb = assert_ready_ok!(b.poll());
    assert_one_generation(&[ra, rb, rc], 3);
}

#[test]
fn blocking_wait_arrives_when_called() {
    let barrier = Barrier::new(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    let rb = barrier.wait_blocking().unwrap();
    assert!(rb.is_leader());
    let ra = assert_ready_ok!(a.poll());
    assert_one_generation(&[ra, rb], 2);
}

// ---- rule 2: results -----------------------------------------------------------------------

#[test]
fn index_is_arrival_order() {
    let barrier = Barrier::new(4);
    let mut waits: Vec<_> = (0..4).map(|_| spawn(barrier.wait())).collect();
    for w in &mut waits[..3] {
        assert_pending!(w.poll());
    }
    let last = assert_ready_ok!(waits[3].poll());
    assert_eq!(last.index(), 3);
    assert!(last.is_leader());
    for (i, w) in waits[..3].iter_mut().enumerate() {
        let r = assert_ready_ok!(w.poll());
        assert_eq!(r.index(), i);
        assert!(!r.is_leader());
        assert_eq!(r.generation(), 0);
    }
}

#[test]
fn leader_has_last_index_every_generation() {
    let parties = 3;
    let barrier = Barrier::new(parties);
    for generation in 0..5u64 {
        let mut waits: Vec<_> = (0..parties).map(|_| spawn(barrier.wait())).collect();
        let mut results = Vec::new();
        for w in &mut waits[..parties - 1] {
            assert_pending!(w.poll());
        }
        let leader = assert_ready_ok!(waits[parties - 1].poll());
        assert_eq!(leader.index(), parties - 1);
        assert_eq!(leader.generation(), generation);
        results.push(leader);
        for w in &mut waits[..parties - 1] {
            results.push(assert_ready_ok!(w.poll()));
        }
        assert_one_generation(&results, parties);
    }
}

#[test]
fn withdrawn_index_goes_to_next_arrival() {
    let barrier = Barrier::new(3);
    let mut a = spawn(barrier.wait());
    let mut b = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    drop(a); // gives back index 0
    let mut c = spawn(barrier.wait());
    assert_pending!(c.poll());
    let d = assert_ready_ok!(spawn(barrier.wait()).poll());
    let rb = assert_ready_ok!(b.poll());
    let rc = assert_ready_ok!(c.poll());
    assert_eq!(rb.index(), 1);
    assert_eq!(rc.index(), 0, "the withdrawn index 0 is reused");
    assert_eq!(d.index(), 2);
    assert_one_generation(&[rb, rc, d], 3);
}

#[test]
fn indices_are_a_permutation_after_withdrawals() {
    let barrier = Barrier::new(4);
    let mut a = spawn(barrier.wait());
    let mut b = spawn(barrier.wait());
    let mut c = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    assert_pending!(c.poll());
    drop(b);
    drop(a);
    drop(c); // the highest index too
    assert_eq!(barrier.n_waiting(), 0);
    let mut rest: Vec<_> = (0..4).map(|_| spawn(barrier.wait())).collect();
    let mut results = Vec::new();
    for w in &mut rest[..3] {
        assert_pending!(w.poll());
    }
    results.push(assert_ready_ok!(rest[3].poll()));
    for w in &mut rest[..3] {
        results.push(assert_ready_ok!(w.poll()));
    }
    assert_one_generation(&results, 4);
}

/// Random interleavings of arrivals and withdrawals: every generation's indices are a
/// permutation of `0..parties` and it has exactly one leader, the party that completed it.
#[test]
#[cfg_attr(miri, ignore)]
fn indices_are_a_permutation_under_random_withdrawals() {
    use proptest::prelude::*;
    let config = ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    };
    proptest!(config, |(parties in 1usize..6, ops in proptest::collection::vec((any::<bool>(), any::<u8>()), 0..60))| {
        let barrier = Barrier::new(parties);
        let mut waiting: Vec<common::Spawned<BarrierWait<'_>>> = Vec::new();
        let mut generation = 0u64;
        for (arrive, pick) in ops {
            if arrive || waiting.is_empty() {
                let mut w = spawn(barrier.wait());
                match w.poll() {
                    std::task::Poll::Pending => {
                        waiting.push(w);
                        prop_assert_eq!(barrier.n_waiting(), waiting.len());
                    }
                    std::task::Poll::Ready(r) => {
                        let leader = r.unwrap();
                        prop_assert!(leader.is_leader());
                        prop_assert_eq!(leader.generation(), generation);
                        let mut results = vec![leader];
                        for mut w in waiting.drain(..) {
                            prop_assert!(w.is_woken());
                            results.push(assert_ready_ok!(w.poll()));
                        }
                        assert_one_generation(&results, parties);
                        generation += 1;
                        prop_assert_eq!(barrier.n_waiting(), 0);
                    }
                }
            } else {
                waiting.remove(pick as usize % waiting.len());
                prop_assert_eq!(barrier.n_waiting(), waiting.len());
            }
            prop_assert_eq!(barrier.generation(), generation);
            prop_assert!(!barrier.is_broken());
        }
    });
}

#[test]
#[cfg_attr(miri, ignore)]
fn one_leader_per_generation_across_threads() {
    let parties = 4;
    let rounds = 50;
    let barrier = Arc::new(Barrier::new(parties));
    let threads: Vec<_> = (0..parties)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                (0..rounds)
                    .map(|_| barrier.wait_blocking().unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(common::assert_generations(&results, parties), rounds);
    assert_eq!(barrier.generation(), rounds);
}

// ---- rule 3: generation number and n_waiting -----------------------------------------------

#[test]
fn generation_counts_completions_and_resets() {
    let barrier = Barrier::new(2);
    assert_eq!(barrier.generation(), 0);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_eq!(
        barrier.generation(),
        0,
        "a partial generation does not count"
    );
    assert_eq!(
        assert_ready_ok!(spawn(barrier.wait()).poll()).generation(),
        0
    );
    assert_eq!(barrier.generation(), 1);
    assert_eq!(assert_ready_ok!(a.poll()).generation(), 0);
    barrier.reset();
    assert_eq!(barrier.generation(), 2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    let b = assert_ready_ok!(spawn(barrier.wait()).poll());
    assert_eq!(b.generation(), 2);
    assert_eq!(assert_ready_ok!(a.poll()).generation(), 2);
    assert_eq!(barrier.generation(), 3);
}

#[test]
fn released_parties_no_longer_count_before_poll() {
    let barrier = Barrier::new(3);
    let mut a = spawn(barrier.wait());
    let mut b = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_eq!(barrier.n_waiting(), 1);
    assert_pending!(b.poll());
    assert_eq!(barrier.n_waiting(), 2);
    assert_ready_ok!(spawn(barrier.wait()).poll());
    // `a` and `b` are released but not yet polled.
    assert_eq!(barrier.n_waiting(), 0);
    assert_eq!(barrier.generation(), 1);
    // A new arrival counts toward the next generation.
    let mut d = spawn(barrier.wait());
    assert_pending!(d.poll());
    assert_eq!(barrier.n_waiting(), 1);
    assert_eq!(assert_ready_ok!(a.poll()).generation(), 0);
    assert_eq!(assert_ready_ok!(b.poll()).generation(), 0);
    assert_eq!(barrier.n_waiting(), 1);
}

#[test]
fn released_party_polled_late_still_gets_its_generation() {
    let barrier = Barrier::new(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_ready_ok!(spawn(barrier.wait()).poll());
    // Two more generations pass while `a` is not polled.
    for g in 1..3 {
        let mut x = spawn(barrier.wait());
        assert_pending!(x.poll());
        assert_eq!(
            assert_ready_ok!(spawn(barrier.wait()).poll()).generation(),
            g
        );
        assert_eq!(assert_ready_ok!(x.poll()).generation(), g);
    }
    let ra = assert_ready_ok!(a.poll());
    assert_eq!(ra.generation(), 0);
    assert_eq!(ra.index(), 0);
}

// ---- rule 10: broken barrier ---------------------------------------------------------------

#[test]
fn wait_on_broken_barrier_fails_at_once() {
    let barrier = Barrier::new(2);
    barrier.abort();
    assert_eq!(
        assert_ready!(poll_once(&mut barrier.wait())),
        Err(WaitError::Broken)
    );
    assert_eq!(
        assert_ready!(poll_once(&mut barrier.wait().timeout(Deadline::new()))),
        Err(WaitError::Broken)
    );
    // A deadline that is already due does not turn it into a timeout.
    assert_eq!(
        assert_ready!(poll_once(
            &mut barrier.wait().timeout(std::future::ready(()))
        )),
        Err(WaitError::Broken)
    );
    assert_eq!(barrier.wait_blocking(), Err(WaitError::Broken));
    assert_eq!(
        barrier.wait_blocking_timeout(std::time::Duration::ZERO),
        Err(WaitError::Broken)
    );
    assert_eq!(barrier.n_waiting(), 0);
    assert!(barrier.is_broken());
}

// ---- rule 13: parties == 1 -----------------------------------------------------------------

#[test]
fn single_party_always_leads() {
    let barrier = Barrier::new(1);
    for g in 0..5 {
        let r = assert_ready_ok!(poll_once(&mut barrier.wait()));
        assert!(r.is_leader());
        assert_eq!(r.index(), 0);
        assert_eq!(r.generation(), g);
        assert_eq!(barrier.n_waiting(), 0);
    }
    let r = barrier.wait_blocking().unwrap();
    assert!(r.is_leader());
    assert_eq!((r.index(), r.generation()), (0, 5));
    let r = barrier
        .wait_blocking_timeout(std::time::Duration::ZERO)
        .unwrap();
    assert_eq!((r.index(), r.generation(), r.is_leader()), (0, 6, true));
    let r = assert_ready_ok!(poll_once(
        &mut barrier.wait().timeout(std::future::ready(()))
    ));
    assert_eq!((r.index(), r.generation(), r.is_leader()), (0, 7, true));
    assert_eq!(barrier.generation(), 8);
    assert!(!barrier.is_broken());
}

#[test]
fn single_party_runs_action_every_wait() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let barrier = Barrier::builder(1)
        .action(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build();
    for n in 1..=3 {
        assert!(assert_ready_ok!(poll_once(&mut barrier.wait())).is_leader());
        assert_eq!(runs.load(Ordering::SeqCst), n);
    }
    barrier.wait_blocking().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    futures::executor::block_on(barrier.wait().timeout(async {})).unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 5);
}

#[test]
fn single_party_ignores_default_timeout() {
    let barrier = Barrier::builder(1)
        .timeout(std::time::Duration::ZERO, |_| async {})
        .build();
    let r = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert!(r.is_leader());
    assert!(barrier.wait_blocking().unwrap().is_leader());
    assert!(!barrier.is_broken());
}
