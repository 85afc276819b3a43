//! User code that panics or calls back into the barrier (SPEC rule 18): the default timeout's
//! `sleep` function, deadline futures and wakers (`clone`, `wake`, `wake_by_ref`, `drop`). Its
//! panic surfaces in the call that ran it; no arrival is leaked (a future either has not arrived
//! or can still withdraw), every other party of a generation that ends is still woken, no
//! generation is left unable to complete, and the barrier stays usable. All hand-polled.

#[macro_use]
mod common;

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use agnostic_barrier::{Barrier, BarrierWait, WaitError};
use common::hostile::{Hostile, Op};
use common::{assert_one_generation, install_panic_hook, poll_once, spawn, QuietPanic};

/// Polls `fut` once with `waker`.
fn poll_with<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

/// Polls `fut` once with `waker`, expecting the poll to panic with `QuietPanic(tag)`.
fn poll_panics<F: Future + Unpin>(fut: &mut F, waker: &Waker, tag: u32) {
    install_panic_hook();
    let payload = catch_unwind(AssertUnwindSafe(|| {
        let _ = poll_with(fut, waker);
    }))
    .expect_err("the poll panics");
    assert_eq!(payload.downcast_ref::<QuietPanic>(), Some(&QuietPanic(tag)));
}

/// Two more parties complete a generation of `barrier` (3 parties) with `waiting`, checking
/// that the barrier still works: indices a permutation, one leader.
fn two_more_complete(barrier: &Barrier, mut waiting: common::Spawned<BarrierWait<'_>>) {
    let mut b = spawn(barrier.wait());
    assert_pending!(b.poll());
    let c = assert_ready_ok!(poll_once(&mut barrier.wait()));
    let a = assert_ready_ok!(waiting.poll());
    let b = assert_ready_ok!(b.poll());
    assert_one_generation(&[a, b, c], 3);
}

// ---- the default timeout's sleep function -----------------------------------------------

fn panicking_sleep(_: Duration) -> std::future::Ready<()> {
    std::panic::panic_any(QuietPanic(1))
}

#[test]
fn panicking_sleep_leaks_no_arrival() {
    install_panic_hook();
    let barrier = Barrier::builder(2)
        .timeout(Duration::from_secs(60), panicking_sleep)
        .build();
    let mut wait = barrier.wait();
    poll_panics(&mut wait, Waker::noop(), 1);
    drop(wait);
    assert_eq!(barrier.n_waiting(), 0, "the dropped wait withdrew");
    // A single party does not pass a two-party barrier.
    let mut lone = barrier.wait().timeout(std::future::pending::<()>());
    assert_pending!(poll_once(&mut lone));
    assert_eq!(barrier.n_waiting(), 1);
}

#[test]
fn panicking_sleep_surfaces_in_the_wait_that_can_still_withdraw() {
    install_panic_hook();
    let barrier = Barrier::builder(2)
        .timeout(Duration::from_secs(60), panicking_sleep)
        .build();
    let mut wait = barrier.wait();
    poll_panics(&mut wait, Waker::noop(), 1);
    // It arrived before the timer was made: it still counts, and the completing party (which
    // needs no timer) releases it.
    assert_eq!(barrier.n_waiting(), 1);
    let leader = assert_ready_ok!(poll_once(
        &mut barrier.wait().timeout(std::future::ready(()))
    ));
    assert!(leader.is_leader());
    let first = assert_ready_ok!(poll_once(&mut wait));
    assert_one_generation(&[first, leader], 2);
}

#[test]
fn tokio_sleep_outside_a_runtime_leaks_no_arrival() {
    // The realistic trigger: a barrier built with `tokio::time::sleep`, awaited on an executor
    // that is not tokio. The wait panics ("no reactor running") and leaves no phantom arrival.
    let barrier = Barrier::builder(2)
        .timeout(Duration::from_secs(60), tokio::time::sleep)
        .build();
    let result = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(barrier.wait())
    }));
    assert!(result.is_err(), "tokio's sleep panics outside a runtime");
    assert_eq!(barrier.n_waiting(), 0);
    let mut lone = barrier.wait().timeout(std::future::pending::<()>());
    assert_pending!(poll_once(&mut lone));
    assert_eq!(barrier.n_waiting(), 1, "a single party does not pass");
}

// ---- deadline futures ---------------------------------------------------------------------

struct PanickingDeadline;

impl Future for PanickingDeadline {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        std::panic::panic_any(QuietPanic(2))
    }
}

#[test]
fn panicking_deadline_leaks_no_arrival() {
    let barrier = Barrier::new(3);
    let mut wait = barrier.wait().timeout(PanickingDeadline);
    poll_panics(&mut wait, Waker::noop(), 2);
    assert_eq!(barrier.n_waiting(), 1, "arrived, and can still withdraw");
    drop(wait);
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.is_broken());
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    two_more_complete(&barrier, a);
}

// ---- wakers: clone --------------------------------------------------------------------------

#[test]
fn panicking_clone_on_arrival_leaks_no_arrival() {
    let barrier = Barrier::new(3);
    let hostile = Hostile::panicking(Op::Clone, 3);
    let mut wait = barrier.wait();
    poll_panics(&mut wait, &hostile.waker(), 3);
    drop(wait);
    assert_eq!(barrier.n_waiting(), 0);
    // The seats are intact: three parties complete a generation.
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    two_more_complete(&barrier, a);
    assert_eq!(barrier.generation(), 1);
}

#[test]
fn panicking_clone_on_re_registration_keeps_the_arrival_withdrawable() {
    let barrier = Barrier::new(3);
    let mut wait = barrier.wait();
    assert_pending!(poll_once(&mut wait));
    let hostile = Hostile::panicking(Op::Clone, 4);
    poll_panics(&mut wait, &hostile.waker(), 4);
    assert_eq!(barrier.n_waiting(), 1);
    drop(wait);
    assert_eq!(barrier.n_waiting(), 0);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    two_more_complete(&barrier, a);
}

#[test]
fn panicking_clone_on_re_registration_keeps_the_old_waker() {
    // The party stays registered with the waker it had: the release still wakes it.
    let barrier = Barrier::new(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    let hostile = Hostile::panicking(Op::Clone, 5);
    poll_panics(&mut a.fut, &hostile.waker(), 5);
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert!(a.is_woken());
    assert_ready_ok!(a.poll());
}

/// Runs `f` on a thread and fails (instead of hanging) if it does not finish in a minute.
fn finishes<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(Duration::from_secs(60))
        .expect("deadlocked: the barrier ran user code under its lock")
}

#[test]
#[cfg_attr(miri, ignore)]
fn waker_clone_may_call_the_barrier() {
    finishes(|| {
        let barrier = Arc::new(Barrier::new(2));
        let seen = Arc::new(AtomicUsize::new(usize::MAX));
        let hostile = Hostile::new();
        let (inner, sink) = (barrier.clone(), seen.clone());
        hostile.set(move |op| {
            if op == Op::Clone {
                sink.store(inner.n_waiting(), SeqCst);
                let _ = inner.is_broken();
                let _ = inner.generation();
            }
        });
        let mut wait = barrier.wait();
        assert_pending!(poll_with(&mut wait, &hostile.waker()));
        assert!(hostile.clones() >= 1);
        assert_ne!(seen.load(SeqCst), usize::MAX);
        // Re-registration with another waker of the same kind clones again.
        let other = Hostile::new();
        let (inner, sink) = (barrier.clone(), seen.clone());
        other.set(move |op| {
            if op == Op::Clone {
                sink.store(inner.n_waiting(), SeqCst);
            }
        });
        assert_pending!(poll_with(&mut wait, &other.waker()));
        assert!(other.clones() >= 1);
        assert_ready_ok!(poll_once(&mut barrier.wait()));
        assert_ready_ok!(poll_once(&mut wait));
    });
}

// ---- wakers: wake ---------------------------------------------------------------------------

#[test]
fn panicking_wake_still_wakes_every_other_party() {
    install_panic_hook();
    let barrier = Barrier::new(4);
    let hostile = Hostile::panicking(Op::Wake, 6);
    let mut a = spawn(barrier.wait());
    let mut b = barrier.wait();
    let mut c = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_pending!(poll_with(&mut b, &hostile.waker()));
    assert_pending!(c.poll());
    let mut d = barrier.wait();
    poll_panics(&mut d, Waker::noop(), 6);
    assert!(a.is_woken() && c.is_woken(), "the others were woken");
    assert_eq!(hostile.wakes(), 1);
    // The completing party keeps its pass: polled again it returns it, without arriving again.
    let d = assert_ready_ok!(poll_once(&mut d));
    assert!(d.is_leader());
    assert_eq!(barrier.n_waiting(), 0);
    assert_eq!(barrier.generation(), 1);
    let results = [
        assert_ready_ok!(a.poll()),
        assert_ready_ok!(poll_once(&mut b)),
        assert_ready_ok!(c.poll()),
        d,
    ];
    assert_one_generation(&results, 4);
}

#[test]
fn panicking_wake_by_abort_surfaces_in_abort_and_wakes_the_rest() {
    install_panic_hook();
    let barrier = Barrier::new(3);
    let hostile = Hostile::panicking(Op::Wake, 7);
    let mut a = barrier.wait();
    let mut b = spawn(barrier.wait());
    assert_pending!(poll_with(&mut a, &hostile.waker()));
    assert_pending!(b.poll());
    let payload = catch_unwind(AssertUnwindSafe(|| barrier.abort())).expect_err("abort panics");
    assert_eq!(payload.downcast_ref::<QuietPanic>(), Some(&QuietPanic(7)));
    assert!(barrier.is_broken());
    assert!(b.is_woken());
    assert_eq!(assert_ready!(b.poll()), Err(WaitError::Broken));
    assert_eq!(assert_ready!(poll_once(&mut a)), Err(WaitError::Broken));
    barrier.reset();
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    two_more_complete(&barrier, a);
}

#[test]
fn panicking_wake_leaves_no_generation_wedged() {
    // Generation 1 fills up while generation 0's action runs. Generation 0's release then wakes
    // a party whose waker panics. Generation 1 must still complete (its own leader runs its
    // action), and the barrier goes on.
    install_panic_hook();
    let runs = Arc::new(AtomicUsize::new(0));
    let later: Arc<Mutex<Vec<common::Spawned<BarrierWait<'static>>>>> = Arc::default();
    let barrier: &'static Barrier = {
        let (runs, later) = (runs.clone(), later.clone());
        let cell: &'static std::sync::OnceLock<Barrier> = Box::leak(Box::default());
        cell.get_or_init(move || {
            Barrier::builder(2)
                .action(move || {
                    if runs.fetch_add(1, SeqCst) == 0 {
                        // Generation 1 arrives in full: c, then its leader d.
                        let barrier = cell.get().unwrap();
                        let mut c = spawn(barrier.wait());
                        assert_pending!(c.poll());
                        let mut d = spawn(barrier.wait());
                        assert_pending!(d.poll());
                        later.lock().unwrap().extend([c, d]);
                    }
                })
                .build()
        });
        cell.get().unwrap()
    };
    let hostile = Hostile::panicking(Op::Wake, 8);
    let mut a = barrier.wait();
    assert_pending!(poll_with(&mut a, &hostile.waker()));
    let mut b = barrier.wait();
    poll_panics(&mut b, Waker::noop(), 8);
    let b = assert_ready_ok!(poll_once(&mut b));
    assert!(b.is_leader(), "the completing party keeps its pass");
    let a = assert_ready_ok!(poll_once(&mut a));
    assert_one_generation(&[a, b], 2);
    let (mut c, mut d) = {
        let mut later = later.lock().unwrap();
        let d = later.pop().unwrap();
        (later.pop().unwrap(), d)
    };
    assert!(
        d.is_woken(),
        "generation 1's leader was woken to complete it"
    );
    let d = assert_ready_ok!(d.poll());
    assert!(d.is_leader());
    let c = assert_ready_ok!(c.poll());
    assert_one_generation(&[c, d], 2);
    assert_eq!(runs.load(SeqCst), 2);
    assert_eq!(barrier.generation(), 2);
    assert_eq!(barrier.n_waiting(), 0);
    let mut e = spawn(barrier.wait());
    assert_pending!(e.poll());
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_ready_ok!(e.poll());
}

#[test]
#[cfg_attr(miri, ignore)]
fn waker_wake_may_call_the_barrier() {
    finishes(|| {
        let barrier = Arc::new(Barrier::new(2));
        let hostile = Hostile::new();
        let inner = barrier.clone();
        hostile.set(move |op| {
            if op == Op::Wake {
                let _ = inner.n_waiting();
                inner.abort(); // a waker that breaks the barrier it is woken by
            }
        });
        let mut a = barrier.wait();
        assert_pending!(poll_with(&mut a, &hostile.waker()));
        assert!(assert_ready_ok!(poll_once(&mut barrier.wait())).is_leader());
        assert_ready_ok!(poll_once(&mut a)); // its generation completed before the abort
        assert!(barrier.is_broken());
    });
}

// ---- wakers: drop ---------------------------------------------------------------------------

/// A waker whose drop panics once armed; `waker` is kept alive (and the hook disarmed before it
/// drops) so that only the barrier's clone panics.
fn drop_panicking_waker() -> (Hostile, Waker) {
    let hostile = Hostile::new();
    let waker = hostile.waker();
    (hostile, waker)
}

fn arm_drop_panic(hostile: &Hostile, tag: u32) {
    hostile.set(move |op| {
        if op == Op::Drop {
            std::panic::panic_any(QuietPanic(tag));
        }
    });
}

#[test]
fn panicking_waker_drop_on_re_registration_keeps_the_new_waker() {
    let barrier = Barrier::new(2);
    let (hostile, hostile_waker) = drop_panicking_waker();
    let mut a = barrier.wait();
    assert_pending!(poll_with(&mut a, &hostile_waker));
    arm_drop_panic(&hostile, 9);
    // Re-registering drops the hostile waker the barrier held; the new one is kept.
    let (waker, counter) = common::counting_waker();
    poll_panics(&mut a, &waker, 9);
    hostile.disarm();
    drop(hostile_waker);
    assert_eq!(barrier.n_waiting(), 1);
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_eq!(counter.count(), 1, "the new waker was woken");
    assert_ready_ok!(poll_once(&mut a));
}

#[test]
fn panicking_waker_drop_on_withdrawal_still_withdraws() {
    install_panic_hook();
    let barrier = Barrier::new(2);
    let (hostile, hostile_waker) = drop_panicking_waker();
    let mut a = barrier.wait();
    assert_pending!(poll_with(&mut a, &hostile_waker));
    arm_drop_panic(&hostile, 10);
    let payload = catch_unwind(AssertUnwindSafe(|| drop(a))).expect_err("the drop panics");
    hostile.disarm();
    assert_eq!(payload.downcast_ref::<QuietPanic>(), Some(&QuietPanic(10)));
    assert_eq!(
        barrier.n_waiting(),
        0,
        "withdrawn before the waker was dropped"
    );
}
