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

#[test]
fn party_process_entry_point() {
    common::party::run_if_party();
}

#[test]
fn processes_pass_many_generations_with_one_leader_and_a_permutation_each() {
    use common::party::{Party, PartyConfig};
    use std::collections::BTreeMap;
    use std::time::Duration;
    let server = server!();
    let (processes, rounds) = (4, 25);
    let parties: Vec<Party> = (0..processes)
        .map(|i| {
            Party::spawn(&PartyConfig {
                url: server.url(),
                name: "processes".into(),
                parties: processes,
                party: format!("p{i}"),
                lease: LEASE,
                runtime: if i % 2 == 0 {
                    "tokio"
                } else {
                    "smol-if-enabled"
                },
                rounds,
            })
        })
        .collect();
    let mut generations: BTreeMap<u64, Vec<(usize, bool)>> = BTreeMap::new();
    for party in &parties {
        for _ in 0..rounds {
            let line = party.expect("ok", Duration::from_secs(30));
            let f: Vec<&str> = line.split(' ').collect();
            generations
                .entry(f[1].parse().unwrap())
                .or_default()
                .push((f[2].parse().unwrap(), f[3] == "1"));
        }
        party.expect("closed", Duration::from_secs(10));
    }
    assert_eq!(generations.len(), rounds);
    for (g, passes) in generations {
        let mut indices: Vec<usize> = passes.iter().map(|p| p.0).collect();
        indices.sort();
        assert_eq!(
            indices,
            (0..processes).collect::<Vec<_>>(),
            "generation {g}"
        );
        let leaders: Vec<_> = passes.iter().filter(|p| p.1).collect();
        assert_eq!(leaders.len(), 1, "generation {g}");
        assert_eq!(
            leaders[0].0,
            processes - 1,
            "generation {g}: the leader arrived last"
        );
    }
}
