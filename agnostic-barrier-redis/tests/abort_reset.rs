//! Abort, reset, timeouts, the broken state and the action's failures (SPEC rules 5, 6, 7, 9,
//! 10, 13; SPEC-REDIS rules 3 and 6).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agnostic_barrier_redis::{BreakReason, RedisBarrier, RedisWaitError};
use common::{broken_reason, connect, poll_once, until_waiting, LEASE};
use futures_lite::future;

#[tokio::test]
async fn abort_breaks_every_waiter_and_later_waits_until_reset() {
    let server = server!();
    let a = connect(&server, "abort", 3, "a").await;
    let b = connect(&server, "abort", 3, "b").await;
    let c = connect(&server, "abort", 3, "c").await;
    let (ra, rb) = future::zip(a.wait(), async {
        let mut wb = b.wait();
        let _ = poll_once(&mut wb);
        until_waiting(&c, 2).await;
        c.abort().await.unwrap();
        wb.await
    })
    .await;
    for result in [&ra, &rb] {
        let Err(RedisWaitError::Broken(broken)) = result else {
            panic!("{result:?}")
        };
        assert_eq!(broken.reason(), BreakReason::Aborted);
        assert_eq!(broken.by(), Some("c"));
        let mut arrived = broken.arrived().to_vec();
        arrived.sort();
        assert_eq!(arrived, ["a", "b"]);
    }
    assert!(c.is_broken().await.unwrap());
    // Later waits fail at once, without arriving.
    let later = a.wait().await;
    assert_eq!(broken_reason(&later), Some(BreakReason::Aborted));
    assert_eq!(a.n_waiting().await.unwrap(), 0);
    let generation = a.generation().await.unwrap();
    c.reset().await.unwrap();
    assert!(!a.is_broken().await.unwrap());
    assert_eq!(a.generation().await.unwrap(), generation + 1);
    let (x, (y, z)) = future::zip(a.wait(), future::zip(b.wait(), c.wait())).await;
    assert!(x.is_ok() && y.is_ok() && z.is_ok());
}

#[tokio::test]
async fn reset_breaks_waiters_with_reset_then_leaves_the_barrier_intact() {
    let server = server!();
    let a = connect(&server, "reset", 2, "a").await;
    let b = connect(&server, "reset", 2, "b").await;
    let result = future::zip(a.wait(), async {
        until_waiting(&b, 1).await;
        b.reset().await.unwrap();
    })
    .await
    .0;
    let Err(RedisWaitError::Broken(broken)) = &result else {
        panic!("{result:?}")
    };
    assert_eq!(
        (broken.reason(), broken.by()),
        (BreakReason::Reset, Some("b"))
    );
    assert_eq!(broken.arrived(), ["a"]);
    assert!(!a.is_broken().await.unwrap());
    assert_eq!(a.n_waiting().await.unwrap(), 0);
    assert_eq!(a.generation().await.unwrap(), 1);
    assert_eq!(common::pass_together(&a, &b).await, 1);
}

#[tokio::test]
async fn reset_of_a_fresh_idle_or_broken_barrier_is_harmless() {
    let server = server!();
    let a = connect(&server, "reset-idle", 1, "a").await;
    a.reset().await.unwrap();
    assert_eq!(a.generation().await.unwrap(), 1);
    a.abort().await.unwrap();
    a.reset().await.unwrap();
    a.reset().await.unwrap();
    assert!(!a.is_broken().await.unwrap());
    assert_eq!(a.generation().await.unwrap(), 3);
    assert_eq!(a.wait().await.unwrap().generation(), 3);
}

#[tokio::test]
async fn deadline_breaks_the_barrier_for_everyone() {
    let server = server!();
    let a = connect(&server, "deadline", 3, "a").await;
    let b = connect(&server, "deadline", 3, "b").await;
    let (ra, rb) = future::zip(
        async {
            until_waiting(&a, 1).await;
            a.wait()
                .timeout(tokio::time::sleep(Duration::from_millis(100)))
                .await
        },
        b.wait(),
    )
    .await;
    assert!(matches!(ra, Err(RedisWaitError::TimedOut)), "{ra:?}");
    let Err(RedisWaitError::Broken(broken)) = &rb else {
        panic!("{rb:?}")
    };
    assert_eq!(
        (broken.reason(), broken.by()),
        (BreakReason::TimedOut, Some("a"))
    );
    assert!(a.is_broken().await.unwrap());
}

#[tokio::test]
async fn builder_timeout_is_the_default_and_a_per_call_deadline_replaces_it() {
    let server = server!();
    let a = RedisBarrier::builder("default-timeout", 2)
        .party("a")
        .lease(LEASE)
        .timeout(Duration::from_millis(100), tokio::time::sleep)
        .connect(server.client())
        .await
        .unwrap();
    let start = Instant::now();
    assert!(matches!(a.wait().await, Err(RedisWaitError::TimedOut)));
    assert!(start.elapsed() >= Duration::from_millis(100));
    a.reset().await.unwrap();
    // A longer per-call deadline replaces the default: the other party comes after 300 ms.
    let b = connect(&server, "default-timeout", 2, "b").await;
    let (x, y) = future::zip(
        a.wait()
            .timeout(tokio::time::sleep(Duration::from_secs(10))),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            b.wait().await
        },
    )
    .await;
    assert!(x.is_ok() && y.is_ok(), "{x:?} {y:?}");
}

#[tokio::test]
async fn completing_party_succeeds_against_a_deadline_ready_at_once() {
    let server = server!();
    let a = connect(&server, "zero", 2, "a").await;
    let b = connect(&server, "zero", 2, "b").await;
    let (x, y) = future::zip(a.wait(), async {
        until_waiting(&b, 1).await;
        b.wait().timeout(async {}).await
    })
    .await;
    assert!(x.is_ok(), "{x:?}");
    assert!(y.unwrap().is_leader());
    // And a deadline ready at once, with someone missing, breaks at once.
    assert!(matches!(
        a.wait().timeout(async {}).await,
        Err(RedisWaitError::TimedOut)
    ));
}

#[tokio::test]
async fn a_deadline_reaching_redis_after_the_release_returns_the_release() {
    // The deadline races the other party's arrival, landing on both sides of it over the
    // rounds: it is settled in Redis, so both parties always agree (both pass, or the deadline
    // broke it first), even when the deadline fires after the release but before this party
    // heard of it.
    let server = server!();
    let a = connect(&server, "settled", 2, "a").await;
    let b = connect(&server, "settled", 2, "b").await;
    for round in 0..30u64 {
        let (x, y) = future::zip(
            a.wait()
                .timeout(tokio::time::sleep(Duration::from_millis(5))),
            async {
                tokio::time::sleep(Duration::from_micros(4000 + round * 70)).await;
                b.wait().await
            },
        )
        .await;
        match (&x, &y) {
            (Ok(x), Ok(y)) => assert_eq!(x.generation(), y.generation()),
            (Err(RedisWaitError::TimedOut), Err(RedisWaitError::Broken(b))) => {
                assert_eq!(b.reason(), BreakReason::TimedOut);
                a.reset().await.unwrap();
            }
            (Err(RedisWaitError::TimedOut), Ok(_)) | (Ok(_), Err(_)) => {
                panic!("round {round}: one passed and the other did not: {x:?} {y:?}")
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_during_the_action_breaks_its_generation_leader_too() {
    let server = server!();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let leader = RedisBarrier::builder("abort-action", 2)
        .party("leader")
        .lease(LEASE)
        .action(move || {
            let _ = started_tx.send(());
            std::thread::sleep(Duration::from_millis(300));
        })
        .connect(server.client())
        .await
        .unwrap();
    let other = connect(&server, "abort-action", 2, "other").await;
    let aborter = connect(&server, "abort-action", 2, "aborter").await;
    let waiting = tokio::spawn(async move { other.wait().await });
    until_waiting(&aborter, 1).await;
    let leader = Arc::new(leader);
    let lead = tokio::spawn({
        let leader = leader.clone();
        async move { leader.wait().await }
    });
    tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
        .await
        .unwrap();
    aborter.abort().await.unwrap();
    let (l, w) = (lead.await.unwrap(), waiting.await.unwrap());
    assert_eq!(broken_reason(&l), Some(BreakReason::Aborted), "{l:?}");
    assert_eq!(broken_reason(&w), Some(BreakReason::Aborted), "{w:?}");
    assert_eq!(aborter.generation().await.unwrap(), 0, "not completed");
    assert_eq!(
        aborter.n_waiting().await.unwrap(),
        0,
        "nobody waits on a broken barrier"
    );
    aborter.reset().await.unwrap();
    assert_eq!(
        aborter.generation().await.unwrap(),
        1,
        "one past the broken generation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_action_breaks_with_action_panicked_and_resumes_in_the_leader() {
    let server = server!();
    let leader = Arc::new(
        RedisBarrier::builder("panic", 2)
            .party("leader")
            .lease(LEASE)
            .action(|| panic!("action failed"))
            .connect(server.client())
            .await
            .unwrap(),
    );
    let other = connect(&server, "panic", 2, "other").await;
    let waiting = tokio::spawn(async move { other.wait().await });
    until_waiting(&leader, 1).await;
    let lead = tokio::spawn({
        let leader = leader.clone();
        async move { leader.wait().await }
    });
    let panic = lead.await.unwrap_err();
    assert!(panic.is_panic());
    let payload = panic.into_panic();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"action failed"));
    let w = waiting.await.unwrap();
    let Err(RedisWaitError::Broken(broken)) = &w else {
        panic!("{w:?}")
    };
    assert_eq!(
        (broken.reason(), broken.by()),
        (BreakReason::ActionPanicked, Some("leader"))
    );
}

#[tokio::test]
async fn one_party_passes_at_once_as_leader_and_runs_the_action_every_time() {
    let server = server!();
    let runs = Arc::new(Mutex::new(0));
    let counter = runs.clone();
    let a = RedisBarrier::builder("one", 1)
        .lease(LEASE)
        .action(move || *counter.lock().unwrap() += 1)
        .connect(server.client())
        .await
        .unwrap();
    for g in 0..3 {
        let r = a.wait().await.unwrap();
        assert!(r.is_leader());
        assert_eq!((r.index(), r.generation()), (0, g));
    }
    assert_eq!(*runs.lock().unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generations_are_released_in_order_each_action_after_the_earlier_release() {
    let server = server!();
    let log = Arc::new(Mutex::new(Vec::new()));
    let make = |tag: &'static str| {
        let log = log.clone();
        RedisBarrier::builder("ordered", 1)
            .party(tag)
            .lease(LEASE)
            .action(move || {
                log.lock().unwrap().push(format!("{tag} start"));
                std::thread::sleep(Duration::from_millis(150));
                log.lock().unwrap().push(format!("{tag} end"));
            })
            .connect(server.client())
    };
    let first = Arc::new(make("first").await.unwrap());
    let second = Arc::new(make("second").await.unwrap());
    let t1 = tokio::spawn({
        let first = first.clone();
        async move { first.wait().await }
    });
    // The second generation fills while the first action runs.
    while log.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let t2 = tokio::spawn({
        let second = second.clone();
        async move { second.wait().await }
    });
    let (r1, r2) = (t1.await.unwrap().unwrap(), t2.await.unwrap().unwrap());
    assert_eq!((r1.generation(), r2.generation()), (0, 1));
    assert_eq!(
        *log.lock().unwrap(),
        ["first start", "first end", "second start", "second end"]
    );
}
