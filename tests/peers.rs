//! The motivating bug, measured: `tokio::sync::Barrier` and `async_lock::Barrier` (which
//! `async_std::sync::Barrier` re-exports behind async-std's `unstable` feature, so it is not
//! tested separately here) count a dropped wait as an arrival, so after a
//! `timeout` that loses, the barrier opens with a party missing. Ours withdraws the arrival
//! (SPEC rule 8) and keeps waiting.

#[macro_use]
mod common;

use std::time::Duration;

use common::spawn;

/// Party A's wait is dropped by an expired timeout.
const A_GIVES_UP: Duration = Duration::from_millis(10);
/// How long B is given to be (wrongly) released: generous, it only runs out if a peer behaves.
const B_PATIENCE: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "current_thread")]
#[cfg_attr(miri, ignore)]
async fn tokio_barrier_opens_early_after_dropped_wait() {
    let barrier = tokio::sync::Barrier::new(2);
    assert!(tokio::time::timeout(A_GIVES_UP, barrier.wait())
        .await
        .is_err());
    // A is gone, yet B alone is released, as the leader of a full generation.
    let b = tokio::time::timeout(B_PATIENCE, barrier.wait())
        .await
        .expect("tokio's barrier counts the dropped wait as an arrival");
    assert!(b.is_leader());
}

#[tokio::test(flavor = "current_thread")]
#[cfg_attr(miri, ignore)]
async fn async_lock_barrier_opens_early_after_dropped_wait() {
    let barrier = async_lock::Barrier::new(2);
    assert!(tokio::time::timeout(A_GIVES_UP, barrier.wait())
        .await
        .is_err());
    let b = tokio::time::timeout(B_PATIENCE, barrier.wait())
        .await
        .expect("async-lock's barrier counts the dropped wait as an arrival");
    assert!(b.is_leader());
}

#[tokio::test(flavor = "current_thread")]
#[cfg_attr(miri, ignore)]
async fn our_barrier_does_not_open_after_dropped_wait() {
    let barrier = agnostic_barrier::Barrier::new(2);
    assert!(tokio::time::timeout(A_GIVES_UP, barrier.wait())
        .await
        .is_err());
    assert_eq!(barrier.n_waiting(), 0);
    // B arrives and stays pending: the generation still needs a second party.
    let mut b = spawn(barrier.wait());
    assert_pending!(b.poll());
    assert_eq!(barrier.n_waiting(), 1);
    assert!(!barrier.is_broken());
    // Still pending after the same patience the peers got.
    assert!(tokio::time::timeout(B_PATIENCE / 20, &mut b.fut)
        .await
        .is_err());
    assert_eq!(barrier.n_waiting(), 1);
    // A second real party releases it.
    let c = barrier.wait().await.unwrap();
    let b = assert_ready_ok!(b.poll());
    common::assert_one_generation(&[b, c], 2);
}

/// The same, polled by hand: no timers, no runtime.
#[test]
fn dropped_wait_opens_peers_but_not_ours_by_hand() {
    // tokio
    let tokio_barrier = tokio::sync::Barrier::new(2);
    let mut a = spawn(Box::pin(tokio_barrier.wait()));
    assert_pending!(a.poll());
    drop(a);
    let mut b = spawn(Box::pin(tokio_barrier.wait()));
    assert!(assert_ready!(b.poll()).is_leader(), "tokio opens early");

    // async-lock
    let lock_barrier = async_lock::Barrier::new(2);
    let mut a = spawn(Box::pin(lock_barrier.wait()));
    assert_pending!(a.poll());
    drop(a);
    let mut b = spawn(Box::pin(lock_barrier.wait()));
    assert!(
        assert_ready!(b.poll()).is_leader(),
        "async-lock opens early"
    );

    // ours
    let barrier = agnostic_barrier::Barrier::new(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    drop(a);
    let mut b = spawn(barrier.wait());
    assert_pending!(b.poll());
    assert_eq!(barrier.n_waiting(), 1);
}
