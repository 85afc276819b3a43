//! Cancellation (SPEC rules 1, 7, 8; SPEC-REDIS rule 5): a dropped wait is withdrawn, a
//! handle's withdrawals reach Redis before its later arrivals, and a withdrawal racing the
//! completion is decided atomically.

mod common;

use std::task::Poll;
use std::time::Duration;

use common::party::{Party, PartyConfig};
use common::{connect, eventually, poll_once, until_waiting, LEASE};
use futures_lite::future;

#[test]
fn party_process_entry_point() {
    common::party::run_if_party();
}

async fn sleep(d: Duration) {
    smol::Timer::after(d).await;
}

#[tokio::test]
async fn unpolled_wait_dropped_does_nothing() {
    let server = server!();
    let a = connect(&server, "unpolled", 2, "a").await;
    drop(a.wait());
    sleep(Duration::from_millis(100)).await;
    assert_eq!(a.n_waiting().await.unwrap(), 0);
}

#[test]
fn wait_dropped_in_one_process_is_withdrawn_while_others_wait() {
    let server = server!();
    let config = |party: &str| PartyConfig {
        url: server.url(),
        name: "dropped".into(),
        parties: 4,
        party: party.into(),
        lease: LEASE,
        runtime: "tokio",
        rounds: 1,
    };
    let parties = [Party::spawn(&config("p0")), Party::spawn(&config("p1"))];
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let me = connect(&server, "dropped", 4, "me").await;
        until_waiting(&me, 2).await;
        let mut wait = me.wait();
        assert!(poll_once(&mut wait).is_pending());
        until_waiting(&me, 3).await;
        drop(wait);
        assert!(
            eventually(Duration::from_secs(5), || async {
                me.n_waiting().await.unwrap() == 2
            })
            .await,
            "withdrawn: the generation needs one more"
        );
        assert!(
            !me.is_broken().await.unwrap(),
            "a withdrawal breaks nothing"
        );
        let mut waiting = me.waiting().await.unwrap();
        waiting.sort();
        assert_eq!(waiting, ["p0", "p1"]);
        // Two more arrivals complete it: the dropped one did not count.
        let (a, b) = future::zip(me.wait(), me.wait()).await;
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.generation(), 0);
        assert_eq!(b.generation(), 0);
    });
    for p in &parties {
        assert!(p.expect("ok", Duration::from_secs(10)).starts_with("ok 0 "));
    }
}

/// A wait dropped while its arrival is on its way, then a new wait at once: the withdrawal
/// reaches Redis first, so the new arrival never completes a generation with the dropped one.
async fn withdrawals_precede_later_arrivals(server: &common::RedisServer) {
    let a = connect(server, "order", 2, "a").await;
    let b = connect(server, "order", 2, "b").await;
    for round in 0..20u64 {
        let mut dropped = a.wait();
        assert!(poll_once(&mut dropped).is_pending());
        sleep(Duration::from_micros(round * 150)).await;
        drop(dropped);
        let mut later = a.wait();
        assert!(poll_once(&mut later).is_pending());
        sleep(Duration::from_millis(30)).await;
        assert!(
            poll_once(&mut later).is_pending(),
            "round {round}: the later arrival completed with the withdrawn one"
        );
        let (later, other) = future::zip(later, b.wait()).await;
        let (later, other) = (later.unwrap(), other.unwrap());
        assert_eq!(later.generation(), round);
        assert_eq!(other.generation(), round);
    }
    assert_eq!(a.n_waiting().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawals_precede_later_arrivals_tokio() {
    let server = server!();
    withdrawals_precede_later_arrivals(&server).await;
}

#[cfg(feature = "smol")]
#[test]
fn withdrawals_precede_later_arrivals_smol() {
    let server = server!();
    smol::block_on(withdrawals_precede_later_arrivals(&server));
}

/// Over many rounds, a wait is dropped just as the other party's arrival completes the
/// generation. Either it was withdrawn (the other still waits, alone) or the generation
/// completed with it (the other is released); never both, never a double count.
async fn withdrawal_races_completion(server: &common::RedisServer, rounds: u64) {
    let a = connect(server, "race", 2, "a").await;
    let b = connect(server, "race", 2, "b").await;
    let mut generation = 0;
    let (mut withdrawn, mut completed) = (0, 0);
    for round in 0..rounds {
        let mut dropped = a.wait();
        assert!(poll_once(&mut dropped).is_pending());
        // Let the arrival reach Redis most of the time, then race the drop against b.
        sleep(Duration::from_micros(500 + (round % 7) * 100)).await;
        // The drop lands from 1.2 ms before to 0.9 ms after b's arrival leaves.
        let offset = [-1200i64, -900, -600, -300, 0, 150, 300, 600, 900][(round % 9) as usize];
        let mut dropped = Some(dropped);
        if offset < 0 {
            drop(dropped.take());
            sleep(Duration::from_micros(offset.unsigned_abs())).await;
        }
        let mut other = b.wait();
        // On a multi-thread runtime the reply may be in before the first poll returns.
        let first = poll_once(&mut other);
        sleep(Duration::from_micros(offset.max(0) as u64)).await;
        drop(dropped);
        // Settle: b is either released (with the dropped arrival) or waits alone.
        let released = match first {
            Poll::Ready(result) => Some(result),
            Poll::Pending => {
                // b alone in Redis (a's arrival gone, b's in) is final: nothing can release it.
                let alone = async {
                    while a.waiting().await.unwrap() != ["b"] {
                        sleep(Duration::from_millis(2)).await;
                    }
                    None
                };
                future::or(async { Some(other.as_mut_wait().await) }, alone).await
            }
        };
        match released {
            Some(result) => {
                let result = result.expect("released with the dropped arrival");
                assert_eq!(result.generation(), generation);
                completed += 1;
                generation += 1;
                assert_eq!(a.n_waiting().await.unwrap(), 0, "round {round}");
            }
            None => {
                assert_eq!(a.n_waiting().await.unwrap(), 1, "round {round}: b alone");
                let (x, y) = future::zip(a.wait(), other.as_mut_wait()).await;
                assert_eq!(x.unwrap().generation(), generation);
                assert_eq!(y.unwrap().generation(), generation);
                withdrawn += 1;
                generation += 1;
            }
        }
        drop(other);
    }
    assert_eq!(a.generation().await.unwrap(), generation);
    assert_eq!(a.n_waiting().await.unwrap(), 0);
    eprintln!(
        "{rounds} rounds: {withdrawn} withdrawn, {completed} completed with the dropped arrival"
    );
}

/// `RedisWait` is `Unpin`: `&mut` of it is a future too.
trait AsMutWait {
    fn as_mut_wait(&mut self) -> &mut Self;
}
impl<T> AsMutWait for T {
    fn as_mut_wait(&mut self) -> &mut Self {
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawal_racing_completion_never_double_counts_tokio() {
    let server = server!();
    withdrawal_races_completion(&server, 200).await;
}

#[cfg(feature = "smol")]
#[test]
fn withdrawal_racing_completion_never_double_counts_smol() {
    let server = server!();
    smol::block_on(withdrawal_races_completion(&server, 100));
}

#[tokio::test]
async fn drop_after_completion_does_nothing_to_the_others() {
    let server = server!();
    let a = connect(&server, "after", 2, "a").await;
    let b = connect(&server, "after", 2, "b").await;
    let mut wa = a.wait();
    assert!(poll_once(&mut wa).is_pending());
    until_waiting(&a, 1).await;
    let passed = b.wait().await.unwrap();
    assert!(passed.is_leader());
    drop(wa); // released (or about to learn it): loses its pass, withdraws nothing
    sleep(Duration::from_millis(100)).await;
    assert_eq!(a.n_waiting().await.unwrap(), 0);
    assert_eq!(a.generation().await.unwrap(), 1);
    assert_eq!(common::pass_together(&a, &b).await, 1);
}

#[tokio::test]
async fn close_withdraws_what_is_pending() {
    let server = server!();
    let a = connect(&server, "close", 2, "a").await;
    let observer = connect(&server, "close", 2, "observer").await;
    let mut wait = a.wait();
    assert!(poll_once(&mut wait).is_pending());
    until_waiting(&observer, 1).await;
    drop(wait);
    a.close().await.unwrap();
    assert_eq!(
        observer.n_waiting().await.unwrap(),
        0,
        "withdrawn before close() returned"
    );
}

#[tokio::test]
async fn dropping_the_handle_withdraws_what_is_pending() {
    let server = server!();
    let a = connect(&server, "drop-handle", 2, "a").await;
    let observer = connect(&server, "drop-handle", 2, "observer").await;
    let mut wait = a.wait();
    assert!(poll_once(&mut wait).is_pending());
    until_waiting(&observer, 1).await;
    drop(wait);
    drop(a);
    until_waiting(&observer, 0).await;
    assert!(!observer.is_broken().await.unwrap());
}

#[tokio::test]
async fn dropped_leader_before_its_action_breaks_with_party_lost() {
    let server = server!();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let leader = agnostic_barrier_redis::RedisBarrier::builder("leader-drop", 2)
        .party("leader")
        .lease(LEASE)
        .action(move || {
            let _ = tx.send(());
        })
        .connect(server.client())
        .await
        .unwrap();
    let other = connect(&server, "leader-drop", 2, "other").await;
    let mut waiting = other.wait();
    assert!(poll_once(&mut waiting).is_pending());
    until_waiting(&other, 1).await;
    // Poll the leader's wait by hand until its arrival is in (then it would run the action on
    // its next poll), and drop it instead.
    let mut lead = leader.wait();
    assert!(poll_once(&mut lead).is_pending());
    until_waiting(&other, 2).await;
    sleep(Duration::from_millis(50)).await;
    drop(lead);
    let result = waiting.await;
    assert_eq!(
        common::broken_reason(&result),
        Some(agnostic_barrier_redis::BreakReason::PartyLost),
        "{result:?}"
    );
    assert!(rx.try_recv().is_err(), "the action never ran");
}
