//! Arrival, release, leader and index across handles (SPEC rules 1-3, 13; SPEC-REDIS rule 3).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{connect, LEASE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parties_pass_together_with_one_leader_and_distinct_indices() {
    let server = server!();
    let mut handles = Vec::new();
    for i in 0..4 {
        handles.push(Arc::new(
            connect(&server, "pass", 4, &format!("p{i}")).await,
        ));
    }
    for round in 0..5u64 {
        let tasks: Vec<_> = handles
            .iter()
            .map(|h| {
                let h = h.clone();
                tokio::spawn(async move { h.wait().await })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap().expect("passes"));
        }
        let mut indices: Vec<_> = results.iter().map(|r| r.index()).collect();
        indices.sort();
        assert_eq!(indices, [0, 1, 2, 3]);
        assert_eq!(results.iter().filter(|r| r.is_leader()).count(), 1);
        assert!(results.iter().all(|r| r.generation() == round));
        let leader = results.iter().find(|r| r.is_leader()).unwrap();
        assert_eq!(leader.index(), 3, "the completing party gets parties - 1");
    }
    assert_eq!(handles[0].generation().await.unwrap(), 5);
    let _ = LEASE;
}

#[tokio::test]
async fn action_runs_once_per_generation_before_release() {
    let server = server!();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for i in 0..3 {
        let runs = runs.clone();
        handles.push(Arc::new(
            agnostic_barrier_redis::RedisBarrier::builder("action", 3)
                .party(format!("p{i}"))
                .lease(LEASE)
                .action(move || {
                    runs.fetch_add(1, Ordering::SeqCst);
                })
                .connect(server.client())
                .await
                .unwrap(),
        ));
    }
    for round in 0..3 {
        let tasks: Vec<_> = handles
            .iter()
            .map(|h| {
                let (h, runs) = (h.clone(), runs.clone());
                tokio::spawn(async move {
                    let r = h.wait().await.expect("passes");
                    (r, runs.load(Ordering::SeqCst))
                })
            })
            .collect();
        for t in tasks {
            let (_, seen) = t.await.unwrap();
            assert_eq!(seen, round + 1, "every party sees the action's effect");
        }
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}
