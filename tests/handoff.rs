//! Bounded work (SPEC rule 19) and the action on its own leader (rule 4): a generation that
//! fills up while an earlier one's action runs is completed by its own leader, woken for it
//! once the earlier one is released; if that leader's wait is dropped first, another party of
//! the generation takes over, and if none is left, the next party to poll or arrive.

#[macro_use]
mod common;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::thread::{self, ThreadId};
use std::time::Duration;

use agnostic_barrier::{Barrier, BarrierWait, BarrierWaitResult, WaitError};
use common::{assert_one_generation, install_panic_hook, poll_once, spawn, QuietPanic, Spawned};

type Later = Spawned<BarrierWait<'static>>;

/// A `'static` barrier with `parties` whose action records each run (its thread) and, on its
/// first run, calls `first` with the barrier (to make parties arrive while it runs).
struct Scenario {
    barrier: &'static Barrier,
    runs: Arc<Mutex<Vec<ThreadId>>>,
    later: Arc<Mutex<Vec<Later>>>,
}

impl Scenario {
    fn new(
        parties: usize,
        first: impl FnOnce(&'static Barrier) -> Vec<Later> + Send + 'static,
    ) -> Self {
        Self::with_action(parties, first, |_| {})
    }

    /// `each` runs inside every action, with the run's number.
    fn with_action(
        parties: usize,
        first: impl FnOnce(&'static Barrier) -> Vec<Later> + Send + 'static,
        each: impl Fn(usize) + Send + 'static,
    ) -> Self {
        let runs: Arc<Mutex<Vec<ThreadId>>> = Arc::default();
        let later: Arc<Mutex<Vec<Later>>> = Arc::default();
        let cell: &'static OnceLock<Barrier> = Box::leak(Box::default());
        let (sink, parked) = (runs.clone(), later.clone());
        let mut first = Some(first);
        cell.get_or_init(move || {
            Barrier::builder(parties)
                .action(move || {
                    let run = {
                        let mut runs = sink.lock().unwrap();
                        runs.push(thread::current().id());
                        runs.len() - 1
                    };
                    if let Some(first) = first.take() {
                        let arrived = first(cell.get().unwrap());
                        parked.lock().unwrap().extend(arrived);
                    }
                    each(run);
                })
                .build()
        });
        Scenario {
            barrier: cell.get().unwrap(),
            runs,
            later,
        }
    }

    fn runs(&self) -> usize {
        self.runs.lock().unwrap().len()
    }

    /// The parties the first action made arrive, in arrival order.
    fn later(&self) -> Vec<Later> {
        std::mem::take(&mut *self.later.lock().unwrap())
    }
}

/// Makes `n` parties arrive on `barrier`, each hand-polled once.
fn arrive(barrier: &'static Barrier, n: usize) -> Vec<Later> {
    (0..n)
        .map(|_| {
            let mut party = spawn(barrier.wait());
            assert_pending!(party.poll());
            party
        })
        .collect()
}

#[test]
fn pending_leader_runs_its_own_generations_action() {
    let s = Scenario::new(2, |b| arrive(b, 2));
    let mut a = spawn(s.barrier.wait());
    assert_pending!(a.poll());
    let b = assert_ready_ok!(poll_once(&mut s.barrier.wait()));
    // b's poll ran generation 0's action only.
    assert_eq!(s.runs(), 1, "one poll runs at most one action");
    assert!(b.is_leader());
    assert_eq!(s.barrier.generation(), 1);
    assert_eq!(
        s.barrier.n_waiting(),
        2,
        "generation 1 is sealed, awaiting its leader"
    );
    let a = assert_ready_ok!(a.poll());
    assert_one_generation(&[a, b], 2);
    let [mut c, mut d]: [Later; 2] = s.later().try_into().unwrap();
    assert!(
        d.is_woken(),
        "generation 1's leader is woken to complete it"
    );
    assert_pending!(c.poll());
    let d = assert_ready_ok!(d.poll());
    assert_eq!(s.runs(), 2);
    assert!(d.is_leader());
    assert_eq!((d.index(), d.generation()), (1, 1));
    assert!(c.is_woken());
    let c = assert_ready_ok!(c.poll());
    assert_one_generation(&[c, d], 2);
    assert_eq!(s.barrier.generation(), 2);
    assert_eq!(s.barrier.n_waiting(), 0);
}

#[test]
fn dropped_pending_leader_hands_the_action_to_another_party() {
    let s = Scenario::new(2, |b| arrive(b, 2));
    let mut a = spawn(s.barrier.wait());
    assert_pending!(a.poll());
    assert_ready_ok!(poll_once(&mut s.barrier.wait()));
    assert_ready_ok!(a.poll());
    let [mut c, d]: [Later; 2] = s.later().try_into().unwrap();
    drop(d); // generation 1's leader gives up before it ran the action
    assert_eq!(s.runs(), 1);
    assert!(c.is_woken(), "the remaining party is woken to lead");
    let c = assert_ready_ok!(c.poll());
    assert!(c.is_leader(), "it runs the action and becomes the leader");
    assert_eq!((c.index(), c.generation()), (0, 1));
    assert_eq!(s.runs(), 2);
    assert_eq!(s.barrier.generation(), 2);
    assert_eq!(s.barrier.n_waiting(), 0);
}

#[test]
fn dropped_leader_before_the_earlier_release_hands_over_too() {
    // The leader of generation 1 drops while generation 0's action is still running.
    let s = Scenario::new(2, |b| {
        let mut parties = arrive(b, 2);
        parties.pop(); // d, the leader, drops at once
        parties
    });
    let mut a = spawn(s.barrier.wait());
    assert_pending!(a.poll());
    assert_ready_ok!(poll_once(&mut s.barrier.wait()));
    assert_ready_ok!(a.poll());
    let [mut c]: [Later; 1] = s.later().try_into().unwrap();
    assert!(c.is_woken());
    let c = assert_ready_ok!(c.poll());
    assert!(c.is_leader());
    assert_eq!(s.runs(), 2);
    assert_eq!(s.barrier.generation(), 2);
}

#[test]
fn orphaned_generation_is_completed_by_the_next_arrival() {
    let s = Scenario::new(2, |b| arrive(b, 2));
    let mut a = spawn(s.barrier.wait());
    assert_pending!(a.poll());
    assert_ready_ok!(poll_once(&mut s.barrier.wait()));
    assert_ready_ok!(a.poll());
    drop(s.later()); // every party of generation 1 gives up: it stays sealed, unreleased
    assert_eq!(s.runs(), 1);
    assert_eq!(s.barrier.generation(), 1);
    // The next arrival runs generation 1's action first; that is its poll's one action, so it
    // asks to be polled again, and arrives in generation 2 then.
    let mut e = spawn(s.barrier.wait());
    assert_pending!(e.poll());
    assert_eq!(s.runs(), 2, "the orphaned generation's action ran");
    assert_eq!(s.barrier.generation(), 2);
    assert!(e.is_woken(), "it asks to be polled again");
    assert_eq!(s.barrier.n_waiting(), 0, "and has not arrived yet");
    assert_pending!(e.poll());
    assert_eq!(s.barrier.n_waiting(), 1);
    let f = assert_ready_ok!(poll_once(&mut s.barrier.wait()));
    let e = assert_ready_ok!(e.poll());
    assert_one_generation(&[e, f], 2);
    assert_eq!(e.generation(), 2);
    assert_eq!(s.runs(), 3);
}

#[test]
fn orphaned_generation_is_completed_by_the_next_poll() {
    // Generation 1 (c, d) fills during generation 0's action, and e arrives in generation 2.
    // c and d give up; e, woken, runs generation 1's action when it is polled.
    let s = Scenario::new(2, |b| arrive(b, 3));
    let mut a = spawn(s.barrier.wait());
    assert_pending!(a.poll());
    assert_ready_ok!(poll_once(&mut s.barrier.wait()));
    assert_ready_ok!(a.poll());
    let [c, d, mut e]: [Later; 3] = s.later().try_into().unwrap();
    drop((c, d));
    assert!(
        e.is_woken(),
        "a party still waiting is woken to run the orphaned action"
    );
    assert_pending!(e.poll());
    assert_eq!(s.runs(), 2);
    assert_eq!(s.barrier.generation(), 2);
    assert_eq!(s.barrier.n_waiting(), 1);
    let f = assert_ready_ok!(poll_once(&mut s.barrier.wait()));
    let e = assert_ready_ok!(e.poll());
    assert_one_generation(&[e, f], 2);
    assert_eq!(s.runs(), 3);
}

#[test]
fn pending_leaders_action_panic_resumes_in_that_leader() {
    install_panic_hook();
    let s = Scenario::with_action(
        1,
        |b| arrive(b, 1),
        |run| {
            if run == 1 {
                std::panic::panic_any(QuietPanic(19));
            }
        },
    );
    assert_ready_ok!(poll_once(&mut s.barrier.wait()));
    let [mut c]: [Later; 1] = s.later().try_into().unwrap();
    let (_, payload) = common::catch_panic(|| c.poll());
    assert_eq!(payload.downcast_ref::<QuietPanic>(), Some(&QuietPanic(19)));
    assert!(s.barrier.is_broken());
    assert_eq!(s.runs(), 2);
}

#[test]
fn reset_before_the_pending_leader_runs_breaks_its_generation_without_its_action() {
    let s = Scenario::new(1, |b| arrive(b, 1));
    assert_ready_ok!(poll_once(&mut s.barrier.wait()));
    s.barrier.reset();
    let [mut c]: [Later; 1] = s.later().try_into().unwrap();
    assert_eq!(assert_ready!(c.poll()), Err(WaitError::Broken));
    assert_eq!(s.runs(), 1, "a reset generation gets no action");
    assert!(!s.barrier.is_broken());
}

#[test]
fn pending_leader_never_times_out() {
    // Generation 1's leader has a deadline that passes while it waits for generation 0's
    // release: as the party that completed its generation, it succeeds.
    let deadline = common::Deadline::new();
    let fire = deadline.clone();
    let leader: Arc<
        Mutex<Option<Spawned<agnostic_barrier::WaitTimeout<'static, common::Deadline>>>>,
    > = Arc::default();
    let sink = leader.clone();
    let s = Scenario::new(1, move |b| {
        let mut c = spawn(b.wait().timeout(deadline));
        assert_pending!(c.poll());
        fire.fire();
        assert_pending!(c.poll());
        *sink.lock().unwrap() = Some(c);
        Vec::new()
    });
    assert_ready_ok!(poll_once(&mut s.barrier.wait()));
    let mut c = leader.lock().unwrap().take().unwrap();
    let c = assert_ready_ok!(c.poll());
    assert!(c.is_leader());
    assert!(!s.barrier.is_broken());
    assert_eq!(s.runs(), 2);
}

// ---- on real threads ------------------------------------------------------------------------

#[test]
#[cfg_attr(miri, ignore)]
fn blocking_pending_leader_runs_its_action_on_its_own_thread() {
    // One party: a thread arrives while the main thread's action runs, completing generation 1.
    // (Nothing shows when a blocked thread has arrived, so the action gives it 100 ms; should it
    // arrive later, it still leads generation 1 and the assertions hold.)
    let (tx, rx) = std::sync::mpsc::channel::<thread::JoinHandle<(ThreadId, BarrierWaitResult)>>();
    let s = Scenario::new(1, move |b| {
        let thread = thread::spawn(move || (thread::current().id(), b.wait_blocking().unwrap()));
        thread::sleep(Duration::from_millis(100));
        tx.send(thread).unwrap();
        Vec::new()
    });
    let main = assert_ready_ok!(poll_once(&mut s.barrier.wait()));
    let (helper_id, helper) = rx.recv().unwrap().join().unwrap();
    assert!(main.is_leader() && helper.is_leader());
    assert_eq!((main.generation(), helper.generation()), (0, 1));
    let runs = s.runs.lock().unwrap().clone();
    assert_eq!(
        runs,
        [thread::current().id(), helper_id],
        "each action on its own leader"
    );
}

thread_local! {
    static ACTIONS_HERE: Cell<usize> = const { Cell::new(0) };
}

/// Polls the inner wait, checking that no poll runs more than one action.
struct CountActions<F>(F);

impl<F: Future + Unpin> Future for CountActions<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        ACTIONS_HERE.set(0);
        let poll = Pin::new(&mut self.0).poll(cx);
        let ran = ACTIONS_HERE.get();
        assert!(ran <= 1, "one poll ran {ran} actions");
        poll
    }
}

fn slow_action_barrier() -> Arc<Barrier> {
    Arc::new(
        Barrier::builder(2)
            .action(|| {
                ACTIONS_HERE.set(ACTIONS_HERE.get() + 1);
                thread::sleep(Duration::from_micros(200));
            })
            .build(),
    )
}

/// Generations the cycling tests run; then they abort the barrier, which frees a party left
/// without a partner (six parties cycling through a two-party barrier can strand one).
const GENERATIONS: u64 = 180;

/// Waits (a bounded time) until `barrier` completed `GENERATIONS`, then aborts it.
fn abort_after_enough_generations(barrier: &Barrier) {
    let start = std::time::Instant::now();
    while barrier.generation() < GENERATIONS {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "stuck at generation {}",
            barrier.generation()
        );
        thread::sleep(Duration::from_millis(1));
    }
    barrier.abort();
}

#[test]
#[cfg_attr(miri, ignore)]
fn one_poll_runs_at_most_one_action_on_tokio() {
    // Six tasks cycle through a two-party barrier whose action is slow, so generations fill up
    // while earlier actions run.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let barrier = slow_action_barrier();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let barrier = barrier.clone();
            rt.spawn(async move {
                while barrier.generation() < GENERATIONS {
                    if CountActions(barrier.wait()).await.is_err() {
                        break; // aborted at the end
                    }
                }
            })
        })
        .collect();
    abort_after_enough_generations(&barrier);
    rt.block_on(async {
        for task in tasks {
            task.await.unwrap();
        }
    });
}

#[test]
#[cfg_attr(miri, ignore)]
fn one_blocking_wait_runs_at_most_one_action() {
    let barrier = slow_action_barrier();
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                while barrier.generation() < GENERATIONS {
                    ACTIONS_HERE.set(0);
                    let passed = barrier.wait_blocking();
                    let ran = ACTIONS_HERE.get();
                    assert!(ran <= 1, "one wait_blocking call ran {ran} actions");
                    if passed.is_err() {
                        break; // aborted at the end
                    }
                }
            })
        })
        .collect();
    abort_after_enough_generations(&barrier);
    for thread in threads {
        thread.join().unwrap();
    }
}
