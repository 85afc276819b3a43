//! Loom models: every interleaving (up to `LOOM_MAX_PREEMPTIONS`) of 2-3 parties on the real
//! barrier code, with loom's mutexes, atomics and thread parking under the crate and
//! event-listener.
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --test loom`.
//! Each model prints how many interleavings it explored.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll, Waker};

use agnostic_barrier::{Barrier, BarrierWaitResult, WaitError};
use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize as AtomicUsizeLoom, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// Runs `model` under loom and prints the number of interleavings explored.
fn check(name: &str, model: impl Fn() + Sync + Send + 'static) {
    check_bounded(name, usize::MAX, model);
}

/// Runs `model` with at most `bound` preemptions (or `LOOM_MAX_PREEMPTIONS`, if lower): for
/// the models of three threads whose interleavings run into the millions at 3 (the lock-free
/// arrival path adds an exchange and a slot per waiting party), so that CI stays in time.
fn check_bounded(name: &str, bound: usize, model: impl Fn() + Sync + Send + 'static) {
    // Counted per model: the models run in parallel test threads.
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.unwrap_or(bound).min(bound));
    let preemptions = builder.preemption_bound;
    builder.check(move || {
        counter.fetch_add(1, Relaxed);
        model();
    });
    let bound = preemptions.map_or("unbounded".to_string(), |b| b.to_string());
    println!(
        "loom model {name}: {} interleavings (preemptions <= {bound})",
        runs.load(Relaxed)
    );
}

fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

/// The results of one generation: indices a permutation of `0..results.len()`, one leader.
fn assert_one_generation(results: &[BarrierWaitResult]) {
    let mut indices: Vec<_> = results.iter().map(|r| r.index()).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..results.len()).collect::<Vec<_>>());
    assert_eq!(results.iter().filter(|r| r.is_leader()).count(), 1);
}

/// A deadline that another thread fires.
#[derive(Clone, Default)]
struct Deadline(Arc<Mutex<(bool, Option<Waker>)>>);

impl Deadline {
    fn fire(&self) {
        let waker = {
            let mut state = self.0.lock().unwrap();
            state.0 = true;
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Future for Deadline {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.0.lock().unwrap();
        if state.0 {
            Poll::Ready(())
        } else {
            state.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// Rules 1-2: two arrivals complete a generation: one leader, indices {0, 1}, generation 0.
#[test]
fn two_parties_complete_one_generation() {
    check("two_parties_complete_one_generation", || {
        let barrier = Arc::new(Barrier::new(2));
        let other = barrier.clone();
        let thread = thread::spawn(move || block_on(other.wait()).unwrap());
        let mine = block_on(barrier.wait()).unwrap();
        let theirs = thread.join().unwrap();
        assert_ne!(mine.is_leader(), theirs.is_leader());
        assert_eq!(mine.index() + theirs.index(), 1);
        assert_eq!((mine.generation(), theirs.generation()), (0, 0));
        assert_eq!(barrier.generation(), 1);
        assert_eq!(barrier.n_waiting(), 0);
    });
}

/// Rule 8: an arrival racing the withdrawal of another party. Either the generation completes
/// with both present (then the dropped party simply loses its pass), or the withdrawn party is
/// not counted; never a release with a party missing.
#[test]
fn withdrawal_races_arrival() {
    check("withdrawal_races_arrival", || {
        let barrier = Arc::new(Barrier::new(2));
        let other = barrier.clone();
        let thread = thread::spawn(move || {
            let mut wait = other.wait();
            let result = poll_once(&mut wait);
            drop(wait); // withdraws if still waiting
            result
        });
        let mut wait = barrier.wait();
        let mine = poll_once(&mut wait);
        drop(wait);
        let theirs = thread.join().unwrap();
        // A party that arrives first may see the completion in its own first poll, so both
        // polls can be ready; a completed generation has exactly one leader, the last arrival.
        let results: Vec<_> = [mine, theirs]
            .into_iter()
            .filter_map(|poll| match poll {
                Poll::Ready(result) => Some(result.unwrap()),
                Poll::Pending => None,
            })
            .collect();
        let completed = !results.is_empty();
        if completed {
            let leaders: Vec<_> = results.iter().filter(|r| r.is_leader()).collect();
            assert_eq!(leaders.len(), 1, "{results:?}");
            assert_eq!(leaders[0].index(), 1);
        }
        assert_eq!(barrier.generation(), completed as u64);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

/// Rule 7: `abort()` racing the last arrival: the generation's parties either all get `Ok`
/// (it completed first) or all get `Err(Broken)`.
#[test]
fn abort_races_last_arrival() {
    check("abort_races_last_arrival", || {
        let barrier = Arc::new(Barrier::new(2));
        let other = barrier.clone();
        let thread = thread::spawn(move || block_on(other.wait()));
        let aborter = barrier.clone();
        let abort = thread::spawn(move || aborter.abort());
        let mine = block_on(barrier.wait());
        let theirs = thread.join().unwrap();
        abort.join().unwrap();
        assert_eq!(mine.is_ok(), theirs.is_ok(), "{mine:?} vs {theirs:?}");
        for result in [mine, theirs] {
            assert!(matches!(result, Ok(_) | Err(WaitError::Broken)));
        }
        assert!(barrier.is_broken());
        assert_eq!(barrier.n_waiting(), 0);
    });
}

/// Rule 6: `reset()` racing a waiter. A waiter that arrived before the reset gets `Broken`; one
/// that arrives after it is in a fresh, intact generation that the next party completes.
#[test]
fn reset_races_waiter() {
    check("reset_races_waiter", || {
        let barrier = Arc::new(Barrier::new(2));
        let other = barrier.clone();
        let thread = thread::spawn(move || block_on(other.wait()));
        barrier.reset();
        // A deadline that is ready at once: succeeds only if this party completes the
        // generation, otherwise breaks the barrier so that nothing can hang.
        let mine = block_on(barrier.wait().timeout(std::future::ready(())));
        let theirs = thread.join().unwrap();
        match (mine, theirs) {
            (Ok(mine), Ok(theirs)) => {
                // Either this party completed the generation, or the other one did while this
                // party's deadline was being checked (the completed generation wins).
                assert_ne!(mine.is_leader(), theirs.is_leader());
                assert!(!barrier.is_broken());
            }
            (Err(WaitError::TimedOut), Err(WaitError::Broken)) => assert!(barrier.is_broken()),
            other => panic!("unexpected outcome {other:?}"),
        }
        assert_eq!(barrier.n_waiting(), 0);
    });
}

/// Rule 9: a deadline firing while the generation completes: `Ok` for both if it completed
/// first, else `TimedOut` for the party whose deadline fired and `Broken` for the other.
#[test]
fn deadline_races_completion() {
    check("deadline_races_completion", || {
        let barrier = Arc::new(Barrier::new(2));
        let deadline = Deadline::default();
        let (other, timer) = (barrier.clone(), deadline.clone());
        let thread = thread::spawn(move || block_on(other.wait().timeout(timer)));
        let firing = thread::spawn(move || deadline.fire());
        let mine = block_on(barrier.wait());
        let theirs = thread.join().unwrap();
        firing.join().unwrap();
        match (mine, theirs) {
            (Ok(mine), Ok(theirs)) => assert_ne!(mine.is_leader(), theirs.is_leader()),
            (Err(WaitError::Broken), Err(WaitError::TimedOut)) => assert!(barrier.is_broken()),
            other => panic!("unexpected outcome {other:?}"),
        }
    });
}

/// Rule 11: a blocking party and an async party on one barrier.
#[test]
fn blocking_and_async_parties_mix() {
    check("blocking_and_async_parties_mix", || {
        let barrier = Arc::new(Barrier::new(2));
        let other = barrier.clone();
        let thread = thread::spawn(move || other.wait_blocking().unwrap());
        let mine = block_on(barrier.wait()).unwrap();
        let theirs = thread.join().unwrap();
        assert_ne!(mine.is_leader(), theirs.is_leader());
        assert_eq!(mine.index() + theirs.index(), 1);
    });
}

/// Rules 1, 4 and 13: with one party and an action, a party arriving while the other's action
/// runs counts toward the next generation; its action runs after the first one, once each, and
/// both parties lead their own generation.
#[test]
fn arrival_during_action_counts_toward_next_generation() {
    check(
        "arrival_during_action_counts_toward_next_generation",
        || {
            let runs = Arc::new(AtomicUsizeLoom::new(0));
            let counter = runs.clone();
            let barrier = Arc::new(
                Barrier::builder(1)
                    .action(move || {
                        counter.fetch_add(1, SeqCst);
                    })
                    .build(),
            );
            let other = barrier.clone();
            let thread = thread::spawn(move || block_on(other.wait()).unwrap());
            let mine = block_on(barrier.wait()).unwrap();
            let theirs = thread.join().unwrap();
            assert!(mine.is_leader() && theirs.is_leader());
            assert_eq!(mine.generation() + theirs.generation(), 1);
            assert_eq!(runs.load(SeqCst), 2);
            assert_eq!(barrier.generation(), 2);
        },
    );
}

/// Rules 1, 8 and 19: a party whose arrival completes a generation while the previous action
/// runs is sealed in at once and leads that generation; dropping its future right after
/// arriving withdraws nothing. With nobody else of that generation left, the next arrival
/// completes it (runs its action) before its own: every generation's action runs exactly once.
#[test]
fn dropped_pending_leader_generation_is_completed_by_the_next_arrival() {
    check(
        "dropped_pending_leader_generation_is_completed_by_the_next_arrival",
        || {
            let runs = Arc::new(AtomicUsizeLoom::new(0));
            let counter = runs.clone();
            let barrier = Arc::new(
                Barrier::builder(1)
                    .action(move || {
                        counter.fetch_add(1, SeqCst);
                    })
                    .build(),
            );
            let other = barrier.clone();
            let thread = thread::spawn(move || {
                let mut wait = other.wait();
                let _ = poll_once(&mut wait);
            });
            block_on(barrier.wait()).unwrap();
            thread.join().unwrap();
            let last = block_on(barrier.wait()).unwrap();
            assert_eq!(last.generation(), 2);
            assert_eq!(runs.load(SeqCst), 3);
            assert_eq!(barrier.generation(), 3);
            assert_eq!(barrier.n_waiting(), 0);
        },
    );
}

/// Rules 4 and 19: each generation's action runs on that generation's leader, also when the
/// generation filled up while the previous action ran (then its leader runs it, in its own
/// poll, once the previous one is released; never the party finishing the previous one).
#[test]
fn each_action_runs_on_its_own_leader() {
    loom::thread_local! {
        static WHO: std::cell::Cell<usize> = std::cell::Cell::new(0);
    }
    check("each_action_runs_on_its_own_leader", || {
        let ran = Arc::new(Mutex::new(Vec::new()));
        let sink = ran.clone();
        let barrier = Arc::new(
            Barrier::builder(1)
                .action(move || sink.lock().unwrap().push(WHO.with(|who| who.get())))
                .build(),
        );
        let other = barrier.clone();
        let thread = thread::spawn(move || {
            WHO.with(|who| who.set(1));
            block_on(other.wait()).unwrap()
        });
        let mine = block_on(barrier.wait()).unwrap();
        let theirs = thread.join().unwrap();
        let ran = ran.lock().unwrap();
        assert_eq!(ran.len(), 2);
        assert_eq!(ran[mine.generation() as usize], 0, "{ran:?}");
        assert_eq!(ran[theirs.generation() as usize], 1, "{ran:?}");
    });
}

/// Rules 5 and 11: `abort()` wakes a thread blocked in `wait_blocking` (or the thread arrives
/// after it and fails at once); either way it gets `Broken` and nothing hangs. With two parties
/// the thread parks; with three it waits on the barrier's condvar: both paths are checked.
#[test]
fn abort_wakes_blocked_thread() {
    for parties in [2, 3] {
        check(
            &format!("abort_wakes_blocked_thread (parties = {parties})"),
            move || {
                let barrier = Arc::new(Barrier::new(parties));
                let other = barrier.clone();
                let thread = thread::spawn(move || other.wait_blocking());
                barrier.abort();
                assert_eq!(thread.join().unwrap(), Err(WaitError::Broken));
                assert_eq!(barrier.n_waiting(), 0);
            },
        );
    }
}

/// Rule 11 with the condvar path: two blocked threads and a task on a three-party barrier.
#[test]
fn blocked_threads_and_a_task_complete_together() {
    check_bounded("blocked_threads_and_a_task_complete_together", 2, || {
        let barrier = Arc::new(Barrier::new(3));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let other = barrier.clone();
                thread::spawn(move || other.wait_blocking().unwrap())
            })
            .collect();
        let mine = block_on(barrier.wait()).unwrap();
        let mut indices = vec![mine.index()];
        let mut leaders = mine.is_leader() as usize;
        for thread in threads {
            let theirs = thread.join().unwrap();
            indices.push(theirs.index());
            leaders += theirs.is_leader() as usize;
        }
        indices.sort_unstable();
        assert_eq!(indices, [0, 1, 2]);
        assert_eq!(leaders, 1);
    });
}

// ---- parties (SPEC rules 14-17) -------------------------------------------------------------

/// Rule 14: a departure racing the last arrival. Either the departure comes first (then the two
/// remaining parties complete the generation), or it leaves the generation full (then the party
/// that arrived last leads it): both parties pass, with indices {0, 1} and one leader.
#[test]
fn departure_races_last_arrival() {
    check_bounded("departure_races_last_arrival", 2, || {
        let barrier = Arc::new(Barrier::new(3));
        let other = barrier.clone();
        let waiter = thread::spawn(move || block_on(other.wait()).unwrap());
        let leaver = barrier.clone();
        let departure = thread::spawn(move || leaver.arrive_and_drop());
        let mine = block_on(barrier.wait()).unwrap();
        let theirs = waiter.join().unwrap();
        departure.join().unwrap();
        assert_eq!(mine.index() + theirs.index(), 1);
        assert_ne!(mine.is_leader(), theirs.is_leader());
        assert_eq!((barrier.parties(), barrier.generation()), (2, 1));
    });
}

/// Rules 14 and 19: a departure that completes a generation whose leader (the party that
/// arrived) drops its wait before it ran the action. Whatever the order, every generation's
/// action runs exactly once, never inside the departure, and nothing hangs: the next wait
/// completes an orphaned generation before its own.
#[test]
fn departure_completes_a_generation_whose_leader_gives_up() {
    loom::thread_local! {
        static DEPARTING: std::cell::Cell<bool> = std::cell::Cell::new(false);
    }
    check(
        "departure_completes_a_generation_whose_leader_gives_up",
        || {
            let runs = Arc::new(AtomicUsizeLoom::new(0));
            let counter = runs.clone();
            let barrier = Arc::new(
                Barrier::builder(2)
                    .action(move || {
                        assert!(!DEPARTING.with(|d| d.get()), "an action inside a departure");
                        counter.fetch_add(1, SeqCst);
                    })
                    .build(),
            );
            let other = barrier.clone();
            let quitter = thread::spawn(move || {
                let mut wait = other.wait();
                let _ = poll_once(&mut wait);
            });
            DEPARTING.with(|d| d.set(true));
            barrier.arrive_and_drop();
            DEPARTING.with(|d| d.set(false));
            quitter.join().unwrap();
            let last = block_on(barrier.wait()).unwrap();
            assert!(last.is_leader());
            assert_eq!(runs.load(SeqCst) as u64, barrier.generation());
            assert_eq!(barrier.n_waiting(), 0);
        },
    );
}

/// Rule 14: parties added while the last arrival completes the generation count from the
/// generation `add_parties` returns: in that one if it was not sealed yet, else in the next.
#[test]
fn join_races_completion() {
    check_bounded("join_races_completion", 2, || {
        let barrier = Arc::new(Barrier::new(2));
        let other = barrier.clone();
        let waiter = thread::spawn(move || block_on(other.wait()).unwrap());
        let joiner = barrier.clone();
        let joined = thread::spawn(move || {
            let from = joiner.add_parties(1);
            if from == 0 {
                // It counts in generation 0: it must arrive there.
                Some(block_on(joiner.wait()).unwrap())
            } else {
                // Generation 0 was sealed first: it counts from generation 1; it leaves.
                assert_eq!(from, 1);
                joiner.arrive_and_drop();
                None
            }
        });
        let mut results = vec![block_on(barrier.wait()).unwrap(), waiter.join().unwrap()];
        results.extend(joined.join().unwrap());
        let n = results.len(); // 3 if the joiner counted in generation 0 (it stays), else 2
        assert_one_generation(&results);
        assert!(results.iter().all(|r| r.generation() == 0));
        assert_eq!((barrier.generation(), barrier.parties()), (1, n));
    });
}

/// Rule 17 with rule 5: `arrive()` racing `abort()`. Either the abort comes first (then
/// `arrive()` fails without arriving) or the arrival does (then its token's wait gets
/// `Broken`); either way nothing stays arrived.
#[test]
fn arrive_races_abort() {
    check("arrive_races_abort", || {
        let barrier = Arc::new(Barrier::new(2));
        let other = barrier.clone();
        let aborter = thread::spawn(move || other.abort());
        match barrier.arrive() {
            Err(error) => assert_eq!(error, WaitError::Broken),
            Ok(token) => assert_eq!(block_on(token.wait()), Err(WaitError::Broken)),
        }
        aborter.join().unwrap();
        assert!(barrier.is_broken());
        assert_eq!(barrier.n_waiting(), 0);
    });
}

// ---- the lock-free arrival path (issue 12) --------------------------------------------------

/// Rules 1, 2 and 8 on the lock-free path: two parties race to arrive without the lock (each
/// leaving its waker in its slot) and one of them withdraws (which takes the lock, stops the
/// lock-free path and counts the arrivals made on it, leaving a hole if it was first). Two
/// more arrivals then complete the generation with the one that stayed: indices a permutation
/// of {0, 1, 2}, one leader, and the lock-free waiter woken.
#[test]
fn lock_free_arrival_races_a_withdrawal() {
    check("lock_free_arrival_races_a_withdrawal", || {
        let barrier = Arc::new(Barrier::new(3));
        let other = barrier.clone();
        let waiter = thread::spawn(move || block_on(other.wait()).unwrap());
        let quitter = {
            let other = barrier.clone();
            thread::spawn(move || {
                let mut wait = other.wait();
                // At most the waiter arrived before it: it cannot complete the generation.
                assert!(poll_once(&mut wait).is_pending());
            })
        };
        quitter.join().unwrap();
        let mut first = barrier.wait();
        assert!(poll_once(&mut first).is_pending());
        let second = block_on(barrier.wait()).unwrap();
        let first = block_on(first).unwrap();
        let theirs = waiter.join().unwrap();
        let results = [first, second, theirs];
        assert_one_generation(&results);
        assert_eq!((barrier.generation(), barrier.n_waiting()), (1, 0));
    });
}

/// Rules 5, 6 and 10 on the lock-free path: a party arriving without the lock (its waker going
/// to its slot) races `abort()`, which takes the lock and ends the generation. Whichever comes
/// first, that party gets `Broken` (broken with its generation, or finding the barrier broken
/// and not arriving), as does the party that arrived before both; nobody stays counted, and
/// after `reset()` three parties pass with indices a permutation and one leader.
#[test]
fn lock_free_arrival_races_abort() {
    check("lock_free_arrival_races_abort", || {
        let barrier = Arc::new(Barrier::new(3));
        let mut first = barrier.wait();
        // Arrives under the lock; unlocking opens the lock-free path for the next arrival.
        assert!(poll_once(&mut first).is_pending());
        let other = barrier.clone();
        let waiter = thread::spawn(move || block_on(other.wait()));
        barrier.abort();
        assert_eq!(block_on(first), Err(WaitError::Broken));
        assert_eq!(waiter.join().unwrap(), Err(WaitError::Broken));
        assert_eq!(barrier.n_waiting(), 0);

        barrier.reset();
        let (mut a, mut b) = (barrier.wait(), barrier.wait());
        assert!(poll_once(&mut a).is_pending() && poll_once(&mut b).is_pending());
        let last = block_on(barrier.wait()).unwrap();
        let results = [block_on(a).unwrap(), block_on(b).unwrap(), last];
        assert_one_generation(&results);
    });
}

/// Rule 14 on the lock-free path: a party arriving without the lock races `join()`, which
/// takes the lock and raises the parties of the generation being filled. The arrival's
/// exchange fails if the join came between its read of the parties and its exchange, so it
/// never counts against a stale number: whatever the order, generation 0 needs four parties,
/// and the four pass with indices a permutation of 0..4 and one leader.
#[test]
fn lock_free_arrival_races_a_join() {
    check("lock_free_arrival_races_a_join", || {
        let barrier = Arc::new(Barrier::new(3));
        let mut first = barrier.wait();
        // Arrives under the lock; unlocking opens the lock-free path for the next arrival.
        assert!(poll_once(&mut first).is_pending());
        let other = barrier.clone();
        let waiter = thread::spawn(move || block_on(other.wait()).unwrap());
        let mut party = barrier.join();
        let mut joined = party.wait();
        // The third arrival of four: it cannot complete the generation.
        assert!(poll_once(&mut joined).is_pending());
        let last = block_on(barrier.wait()).unwrap();
        let results = [
            block_on(first).unwrap(),
            block_on(joined).unwrap(),
            last,
            waiter.join().unwrap(),
        ];
        assert_one_generation(&results);
        assert_eq!((barrier.generation(), barrier.parties()), (1, 4));
    });
}
