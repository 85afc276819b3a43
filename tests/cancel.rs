//! Cancellation (SPEC rule 8): what dropping a `BarrierWait` or `WaitTimeout` does before its
//! first poll, after it arrived, and after its generation completed (rule 1's seal and rule 7's
//! "a drop cannot undo a completed generation").

#[macro_use]
mod common;

use std::time::Duration;

use agnostic_barrier::{Barrier, WaitError};
use common::{assert_one_generation, poll_once, spawn, Deadline};

#[test]
fn drop_before_first_poll_does_nothing() {
    let barrier = Barrier::new(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    drop(barrier.wait());
    drop(barrier.wait().timeout(Deadline::new()));
    drop(barrier.wait().timeout(std::future::ready(())));
    assert_eq!(barrier.n_waiting(), 1);
    assert!(!barrier.is_broken());
    assert!(!a.is_woken());
    // The generation still needs exactly one more arrival.
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    let a = assert_ready_ok!(a.poll());
    assert_one_generation(&[a, b], 2);
}

#[test]
fn cancel_withdraws_arrival() {
    let barrier = Barrier::new(3);
    let mut a = spawn(barrier.wait());
    let mut b = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    assert_eq!(barrier.n_waiting(), 2);
    drop(b);
    assert_eq!(barrier.n_waiting(), 1);
    assert!(!barrier.is_broken());
    assert_eq!(barrier.generation(), 0);
    assert!(!a.is_woken(), "a withdrawal does not disturb the others");
    // One arrival is no longer enough: the generation needs one more.
    let mut c = spawn(barrier.wait());
    assert_pending!(c.poll());
    assert_pending!(a.poll());
    assert_eq!(barrier.n_waiting(), 2);
    let d = assert_ready_ok!(poll_once(&mut barrier.wait()));
    let results = [assert_ready_ok!(a.poll()), assert_ready_ok!(c.poll()), d];
    assert_one_generation(&results, 3);
}

#[test]
fn cancel_wait_timeout_withdraws_arrival_without_breaking() {
    let barrier = Barrier::new(2);
    let deadline = Deadline::new();
    let mut a = spawn(barrier.wait().timeout(deadline.clone()));
    assert_pending!(a.poll());
    assert_eq!(barrier.n_waiting(), 1);
    drop(a);
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.is_broken());
    // The deadline plays no part once the wait is dropped.
    deadline.fire();
    assert!(!barrier.is_broken());
    let mut b = spawn(barrier.wait());
    assert_pending!(b.poll());
    assert_eq!(barrier.n_waiting(), 1);
}

#[test]
fn cancel_all_leaves_an_empty_barrier() {
    let barrier = Barrier::new(3);
    let mut a = spawn(barrier.wait());
    let mut b = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    drop(a);
    drop(b);
    assert_eq!(barrier.n_waiting(), 0);
    // A full fresh set of parties is needed and gets indices 0..3.
    let mut waits: Vec<_> = (0..3).map(|_| spawn(barrier.wait())).collect();
    assert_pending!(waits[0].poll());
    assert_pending!(waits[1].poll());
    let last = assert_ready_ok!(waits[2].poll());
    assert_eq!(last.index(), 2);
    let results = [
        assert_ready_ok!(waits[0].poll()),
        assert_ready_ok!(waits[1].poll()),
        last,
    ];
    assert_eq!(results[0].index(), 0);
    assert_eq!(results[1].index(), 1);
    assert_one_generation(&results, 3);
}

#[test]
fn drop_after_completion_does_nothing_to_others() {
    let barrier = Barrier::new(3);
    let mut a = spawn(barrier.wait());
    let mut b = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    let c = assert_ready_ok!(poll_once(&mut barrier.wait()));
    // `a` was released (sealed) but is dropped before being polled: it loses its pass only.
    drop(a);
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.is_broken());
    assert_eq!(barrier.generation(), 1);
    let b = assert_ready_ok!(b.poll());
    assert_eq!(b.generation(), 0);
    assert_eq!(c.generation(), 0);
    // The next generation needs all three parties again: the dropped pass left no phantom.
    let mut x = spawn(barrier.wait());
    let mut y = spawn(barrier.wait());
    assert_pending!(x.poll());
    assert_pending!(y.poll());
    assert_eq!(barrier.n_waiting(), 2);
    let z = assert_ready_ok!(poll_once(&mut barrier.wait()));
    let results = [assert_ready_ok!(x.poll()), assert_ready_ok!(y.poll()), z];
    assert_one_generation(&results, 3);
    assert_eq!(z.generation(), 1);
}

#[test]
fn drop_wait_timeout_after_completion_does_nothing() {
    let barrier = Barrier::new(2);
    let deadline = Deadline::new();
    let mut a = spawn(barrier.wait().timeout(deadline.clone()));
    assert_pending!(a.poll());
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    deadline.fire();
    drop(a);
    assert!(!barrier.is_broken());
    assert_eq!(barrier.n_waiting(), 0);
    assert_eq!(barrier.generation(), 1);
}

#[test]
fn drop_after_ready_does_nothing() {
    let barrier = Barrier::new(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_ready_ok!(a.poll());
    drop(a);
    let mut b = spawn(barrier.wait());
    assert_pending!(b.poll());
    assert_eq!(barrier.n_waiting(), 1);
}

#[test]
fn drop_of_a_broken_wait_does_nothing() {
    let barrier = Barrier::new(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    barrier.abort();
    drop(a); // broken, not yet polled
    barrier.reset();
    let mut b = spawn(barrier.wait());
    assert_pending!(b.poll());
    assert_eq!(barrier.n_waiting(), 1);
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_ready_ok!(b.poll());
}

#[test]
fn withdrawal_in_a_later_generation_leaves_released_parties_alone() {
    let barrier = Barrier::new(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    // `a` (generation 0, released, unpolled) is still around while `c` comes and goes.
    let mut c = spawn(barrier.wait());
    assert_pending!(c.poll());
    drop(c);
    assert_eq!(barrier.n_waiting(), 0);
    assert_eq!(assert_ready_ok!(a.poll()).generation(), 0);
}

#[tokio::test(flavor = "current_thread")]
#[cfg_attr(miri, ignore)]
async fn tokio_timeout_gives_up_quietly() {
    let barrier = Barrier::new(2);
    let elapsed = tokio::time::timeout(Duration::from_millis(10), barrier.wait()).await;
    assert!(elapsed.is_err());
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.is_broken());
    // The barrier still needs two parties.
    let (a, b) = tokio::join!(barrier.wait(), barrier.wait());
    assert_one_generation(&[a.unwrap(), b.unwrap()], 2);
}

#[tokio::test(flavor = "current_thread")]
#[cfg_attr(miri, ignore)]
async fn tokio_timeout_on_wait_timeout_gives_up_quietly() {
    let barrier = Barrier::new(2);
    let wait = barrier.wait().timeout(Deadline::new());
    assert!(tokio::time::timeout(Duration::from_millis(10), wait)
        .await
        .is_err());
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.is_broken());
}

#[test]
fn losing_select_branch_gives_up_quietly() {
    let barrier = Barrier::new(2);
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let mut chosen = None;
    futures::executor::block_on(async {
        let mut wait = barrier.wait();
        let mut rx = rx;
        // Arrive first, then let the other branch win.
        assert_pending!(poll_once(&mut wait));
        assert_eq!(barrier.n_waiting(), 1);
        tx.send(()).unwrap();
        let mut wait = futures::FutureExt::fuse(wait);
        futures::select_biased! {
            _ = rx => chosen = Some("message"),
            _ = wait => chosen = Some("barrier"),
        }
    });
    assert_eq!(chosen, Some("message"));
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.is_broken());
}

#[tokio::test(flavor = "current_thread")]
#[cfg_attr(miri, ignore)]
async fn losing_tokio_select_branch_gives_up_quietly() {
    let barrier = Barrier::new(2);
    let result = tokio::select! {
        r = barrier.wait() => Some(r),
        () = tokio::time::sleep(Duration::from_millis(10)) => None,
    };
    assert!(result.is_none());
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.is_broken());
    let mut later = spawn(barrier.wait());
    assert_pending!(later.poll());
    assert_eq!(barrier.n_waiting(), 1);
}

#[test]
fn select_in_a_loop_keeps_a_single_arrival() {
    // A wait kept across `select!` iterations (by `&mut`) arrives once and stays arrived.
    let barrier = Barrier::new(2);
    let mut wait = futures::FutureExt::fuse(barrier.wait());
    for _ in 0..3 {
        futures::executor::block_on(async {
            futures::select_biased! {
                _ = &mut wait => unreachable!("only one party"),
                () = futures::future::ready(()) => {}
            }
        });
        assert_eq!(barrier.n_waiting(), 1);
    }
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    let a = assert_ready_ok!(poll_once(&mut wait));
    assert_one_generation(&[a, b], 2);
}

#[test]
fn withdrawn_party_can_wait_again() {
    let barrier = Barrier::new(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    drop(a);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_eq!(barrier.n_waiting(), 1);
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_eq!(assert_ready_ok!(a.poll()).index(), 0);
    assert_eq!(b.index(), 1);
}

#[test]
fn broken_barrier_errors_are_not_affected_by_drops() {
    let barrier = Barrier::new(3);
    let mut a = spawn(barrier.wait());
    let mut b = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    drop(a);
    barrier.abort();
    assert_eq!(assert_ready!(b.poll()), Err(WaitError::Broken));
    assert_eq!(barrier.n_waiting(), 0);
}

// ---- a dropped wait whose generation completed loses its pass ------------------------------

#[test]
fn wait_dropped_after_its_generation_completed_loses_its_pass() {
    // What a `select!` loop around `barrier.wait()` does when its other branch wins the very
    // poll in which the generation completed: the dropped wait was counted, so the others pass;
    // its party's next wait arrives in the next generation, where nobody comes.
    let barrier = Barrier::new(2);
    let mut looper = barrier.wait();
    assert_pending!(poll_once(&mut looper));
    let other = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert!(other.is_leader());
    drop(looper); // the other branch won
    let mut retry = spawn(barrier.wait());
    assert_pending!(retry.poll());
    assert_eq!(barrier.generation(), 1);
    assert_eq!(barrier.n_waiting(), 1, "the retry waits in generation 1");
}

#[test]
fn wait_made_once_outside_a_select_loop_keeps_its_pass() {
    // The loop that cannot lose its pass: one wait, made before the loop, polled by `&mut`.
    let barrier = Barrier::new(2);
    let mut wait = barrier.wait();
    assert_pending!(poll_once(&mut wait));
    let other = assert_ready_ok!(poll_once(&mut barrier.wait()));
    // However many times the other branch wins, the same wait returns the pass when polled.
    let mine = assert_ready_ok!(poll_once(&mut wait));
    assert_one_generation(&[mine, other], 2);
}

/// Runs the README's `select!` loop (`looper`) against a party that arrives a little later,
/// `rounds` times; returns how many rounds hung (the looper did not return within 10 s).
async fn select_loop_rounds<F, Fut>(rounds: usize, looper: F) -> usize
where
    F: Fn(std::sync::Arc<Barrier>) -> Fut,
    Fut: std::future::Future<Output = Result<agnostic_barrier::BarrierWaitResult, WaitError>>
        + Send
        + 'static,
{
    let mut hung = 0;
    for _ in 0..rounds {
        let barrier = std::sync::Arc::new(Barrier::new(2));
        let task = tokio::spawn(looper(barrier.clone()));
        tokio::time::sleep(Duration::from_micros(300)).await;
        barrier.wait().await.unwrap();
        match tokio::time::timeout(Duration::from_secs(10), task).await {
            Ok(result) => {
                result.unwrap().unwrap();
            }
            Err(_) => hung += 1,
        }
    }
    hung
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore)]
async fn select_loop_on_one_wait_made_outside_the_loop_never_hangs() {
    let hung = select_loop_rounds(300, |barrier| async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        let mut wait = barrier.wait();
        loop {
            tokio::select! {
                result = &mut wait => return result,
                _ = tick.tick() => {}
            }
        }
    })
    .await;
    assert_eq!(hung, 0, "rounds that hung");
}
