//! Timeouts break the barrier (SPEC rule 9), and a completed generation wins over a deadline
//! (rule 7). Deterministic tests use `common::Deadline`, fired by hand; the few that need a real
//! timer use generous margins and never assert timings.

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agnostic_barrier::{Barrier, WaitError};
use common::{assert_one_generation, poll_once, spawn, Deadline};

#[test]
fn deadline_breaks_barrier() {
    let barrier = Barrier::new(4);
    let deadline = Deadline::new();
    let other_deadline = Deadline::new();
    let mut a = spawn(barrier.wait().timeout(deadline.clone()));
    let mut b = spawn(barrier.wait());
    let mut c = spawn(barrier.wait().timeout(other_deadline));
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    assert_pending!(c.poll());
    assert!(deadline.is_polled());
    assert!(!a.is_woken());
    deadline.fire();
    assert!(a.is_woken(), "the deadline wakes its wait");
    assert_eq!(assert_ready!(a.poll()), Err(WaitError::TimedOut));
    assert!(barrier.is_broken());
    assert_eq!(barrier.n_waiting(), 0);
    assert_eq!(barrier.generation(), 0);
    assert!(b.is_woken() && c.is_woken());
    assert_eq!(assert_ready!(b.poll()), Err(WaitError::Broken));
    assert_eq!(assert_ready!(c.poll()), Err(WaitError::Broken));
}

#[test]
fn barrier_stays_broken_after_timeout_until_reset() {
    let barrier = Barrier::new(2);
    let deadline = Deadline::new();
    let mut a = spawn(barrier.wait().timeout(deadline.clone()));
    assert_pending!(a.poll());
    deadline.fire();
    assert_eq!(assert_ready!(a.poll()), Err(WaitError::TimedOut));
    assert_eq!(
        assert_ready!(poll_once(&mut barrier.wait())),
        Err(WaitError::Broken)
    );
    assert_eq!(barrier.n_waiting(), 0);
    assert!(barrier.is_broken());
    barrier.reset();
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_ready_ok!(a.poll());
}

#[test]
fn zero_timeout_breaks_at_once() {
    let barrier = Barrier::new(3);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    // A deadline that is ready at once; its output is ignored.
    let result = assert_ready!(poll_once(
        &mut barrier.wait().timeout(std::future::ready(7))
    ));
    assert_eq!(result, Err(WaitError::TimedOut));
    assert!(barrier.is_broken());
    assert_eq!(barrier.n_waiting(), 0);
    assert_eq!(assert_ready!(a.poll()), Err(WaitError::Broken));
}

#[test]
fn zero_timeout_async_block_breaks_at_once() {
    let barrier = Barrier::new(2);
    let result = futures::executor::block_on(barrier.wait().timeout(async {}));
    assert_eq!(result, Err(WaitError::TimedOut));
    assert!(barrier.is_broken());
}

#[test]
fn zero_timeout_leader_succeeds() {
    let barrier = Barrier::new(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    let b = assert_ready_ok!(poll_once(
        &mut barrier.wait().timeout(std::future::ready(()))
    ));
    assert!(b.is_leader());
    assert!(!barrier.is_broken());
    let a = assert_ready_ok!(a.poll());
    assert_one_generation(&[a, b], 2);
}

#[test]
fn completed_generation_wins_over_deadline() {
    let barrier = Barrier::new(2);
    let deadline = Deadline::new();
    let mut a = spawn(barrier.wait().timeout(deadline.clone()));
    assert_pending!(a.poll());
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    deadline.fire();
    let a = assert_ready_ok!(a.poll());
    assert_one_generation(&[a, b], 2);
    assert!(!barrier.is_broken());
}

#[test]
fn completed_in_same_poll_is_ok() {
    // When the wait is next polled both its release and its deadline are ready: the release
    // wins, whichever happened first in real time.
    let barrier = Barrier::new(2);
    let deadline = Deadline::new();
    let mut a = spawn(barrier.wait().timeout(deadline.clone()));
    assert_pending!(a.poll());
    deadline.fire();
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    let a = assert_ready_ok!(a.poll());
    assert_one_generation(&[a, b], 2);
    assert!(!barrier.is_broken());
}

#[test]
fn default_timeout_breaks_barrier() {
    let deadline = Deadline::new();
    let timer = deadline.clone();
    let barrier = Barrier::builder(3)
        .timeout(Duration::from_secs(3600), move |_| timer.clone())
        .build();
    let mut a = spawn(barrier.wait());
    let mut b = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    deadline.fire();
    assert!(a.is_woken());
    assert_eq!(assert_ready!(a.poll()), Err(WaitError::TimedOut));
    assert_eq!(assert_ready!(b.poll()), Err(WaitError::Broken));
    assert!(barrier.is_broken());
}

#[test]
fn default_timeout_gets_the_configured_duration() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let barrier = Barrier::builder(2)
        .timeout(Duration::from_millis(1234), move |d| {
            sink.lock().unwrap().push(d);
            Deadline::new()
        })
        .build();
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_ready_ok!(a.poll());
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|d| *d == Duration::from_millis(1234)));
}

#[test]
fn default_zero_timeout_breaks_at_once() {
    let barrier = Barrier::builder(2)
        .timeout(Duration::ZERO, |_| async {})
        .build();
    assert_eq!(
        assert_ready!(poll_once(&mut barrier.wait())),
        Err(WaitError::TimedOut)
    );
    assert!(barrier.is_broken());
}

#[test]
fn default_zero_timeout_leader_succeeds() {
    let barrier = Barrier::builder(2)
        .timeout(Duration::ZERO, |_| async {})
        .build();
    // `a` replaces the default with a deadline that never fires.
    let mut a = spawn(barrier.wait().timeout(Deadline::new()));
    assert_pending!(a.poll());
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert!(b.is_leader());
    assert_one_generation(&[assert_ready_ok!(a.poll()), b], 2);
    assert!(!barrier.is_broken());
}

#[test]
fn per_call_timeout_replaces_default() {
    let default = Deadline::new();
    let timer = default.clone();
    let barrier = Barrier::builder(2)
        .timeout(Duration::from_secs(3600), move |_| timer.clone())
        .build();
    let mine = Deadline::new();
    let mut a = spawn(barrier.wait().timeout(mine.clone()));
    assert_pending!(a.poll());
    default.fire();
    assert_pending!(a.poll());
    assert!(!barrier.is_broken());
    mine.fire();
    assert_eq!(assert_ready!(a.poll()), Err(WaitError::TimedOut));
    assert!(barrier.is_broken());
}

#[test]
fn per_call_timeout_set_after_first_poll_replaces_default() {
    // `timeout()` consumes the `BarrierWait`, so it can only be set before the first poll;
    // setting it on a fresh wait of a barrier with a ready default gives no timeout at once.
    let barrier = Barrier::builder(2)
        .timeout(Duration::ZERO, |_| async {})
        .build();
    let mut a = spawn(barrier.wait().timeout(Deadline::new()));
    for _ in 0..3 {
        assert_pending!(a.poll());
    }
    assert!(!barrier.is_broken());
    assert_eq!(barrier.n_waiting(), 1);
}

#[test]
fn blocking_zero_timeout_breaks_at_once() {
    let barrier = Barrier::new(2);
    assert_eq!(
        barrier.wait_blocking_timeout(Duration::ZERO),
        Err(WaitError::TimedOut)
    );
    assert!(barrier.is_broken());
    assert_eq!(barrier.n_waiting(), 0);
}

#[test]
fn blocking_zero_timeout_leader_succeeds() {
    let barrier = Barrier::new(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    let b = barrier.wait_blocking_timeout(Duration::ZERO).unwrap();
    assert!(b.is_leader());
    assert_one_generation(&[assert_ready_ok!(a.poll()), b], 2);
}

#[test]
#[cfg_attr(miri, ignore)]
fn blocking_timeout_breaks_barrier() {
    let barrier = Barrier::new(3);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_eq!(
        barrier.wait_blocking_timeout(Duration::from_millis(20)),
        Err(WaitError::TimedOut)
    );
    assert!(barrier.is_broken());
    assert!(a.is_woken());
    assert_eq!(assert_ready!(a.poll()), Err(WaitError::Broken));
}

#[test]
#[cfg_attr(miri, ignore)]
fn blocking_default_timeout_breaks_barrier() {
    let barrier = Barrier::builder(2)
        .timeout(Duration::from_millis(20), |_| std::future::pending::<()>())
        .build();
    assert_eq!(barrier.wait_blocking(), Err(WaitError::TimedOut));
    assert!(barrier.is_broken());
}

/// Starts a thread that waits with `wait`, waits until it has arrived, gives it time to
/// (wrongly) time out, then completes the generation and checks both pass.
fn assert_no_limit(
    barrier: Barrier,
    wait: fn(&Barrier) -> Result<agnostic_barrier::BarrierWaitResult, WaitError>,
) {
    let barrier = Arc::new(barrier);
    let other = barrier.clone();
    let thread = std::thread::spawn(move || wait(&other));
    while barrier.n_waiting() < 1 {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(50));
    assert!(!barrier.is_broken());
    let mine = assert_ready_ok!(poll_once(&mut barrier.wait().timeout(Deadline::new())));
    let theirs = thread.join().unwrap().unwrap();
    assert_one_generation(&[mine, theirs], 2);
}

#[test]
#[cfg_attr(miri, ignore)]
fn blocking_timeout_replaces_default() {
    let barrier = Barrier::builder(2)
        .timeout(Duration::ZERO, |_| async {})
        .build();
    assert_no_limit(barrier, |b| {
        b.wait_blocking_timeout(Duration::from_secs(60))
    });
}

#[test]
#[cfg_attr(miri, ignore)]
fn duration_max_means_no_limit() {
    assert_no_limit(Barrier::new(2), |b| b.wait_blocking_timeout(Duration::MAX));
}

#[test]
#[cfg_attr(miri, ignore)]
fn default_duration_max_means_no_limit_for_blocking_waits() {
    let barrier = Barrier::builder(2)
        .timeout(Duration::MAX, |_| std::future::pending::<()>())
        .build();
    assert_no_limit(barrier, Barrier::wait_blocking);
}

#[tokio::test(flavor = "current_thread")]
#[cfg_attr(miri, ignore)]
async fn default_timeout_with_tokio_sleep() {
    let barrier = Arc::new(
        Barrier::builder(3)
            .timeout(Duration::from_millis(30), tokio::time::sleep)
            .build(),
    );
    let other = barrier.clone();
    let waiter = tokio::spawn(async move { other.wait().timeout(Deadline::new()).await });
    while barrier.n_waiting() < 1 {
        tokio::task::yield_now().await;
    }
    assert_eq!(barrier.wait().await, Err(WaitError::TimedOut));
    assert_eq!(waiter.await.unwrap(), Err(WaitError::Broken));
    assert!(barrier.is_broken());
}

#[tokio::test(flavor = "current_thread")]
#[cfg_attr(miri, ignore)]
async fn default_timeout_with_tokio_sleep_does_not_fire_when_all_arrive() {
    let barrier = Barrier::builder(2)
        .timeout(Duration::from_secs(60), tokio::time::sleep)
        .build();
    for _ in 0..3 {
        let (a, b) = tokio::join!(barrier.wait(), barrier.wait());
        assert_one_generation(&[a.unwrap(), b.unwrap()], 2);
    }
    assert!(!barrier.is_broken());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore)]
async fn tokio_sleep_deadline_passes_or_breaks() {
    let barrier = Arc::new(Barrier::new(2));
    let other = barrier.clone();
    let waiter = tokio::spawn(async move { other.wait().await });
    while barrier.n_waiting() < 1 {
        tokio::task::yield_now().await;
    }
    barrier.abort();
    assert_eq!(waiter.await.unwrap(), Err(WaitError::Broken));
    barrier.reset();
    let other = barrier.clone();
    let waiter = tokio::spawn(async move { other.wait().await });
    let mine = barrier
        .wait()
        .timeout(tokio::time::sleep(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_one_generation(&[mine, waiter.await.unwrap().unwrap()], 2);
    let result = barrier
        .wait()
        .timeout(tokio::time::sleep(Duration::from_millis(20)))
        .await;
    assert_eq!(result, Err(WaitError::TimedOut));
    assert!(barrier.is_broken());
}

#[test]
#[cfg_attr(miri, ignore)]
fn default_timeout_accepts_a_timer_of_any_output() {
    // `smol::Timer::after` resolves to an `Instant`: the output is ignored, as for
    // `BarrierWait::timeout`.
    let barrier = Barrier::builder(2)
        .timeout(Duration::from_millis(5), smol::Timer::after)
        .build();
    assert_eq!(smol::block_on(barrier.wait()), Err(WaitError::TimedOut));
    assert!(barrier.is_broken());
}
