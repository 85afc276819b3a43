//! Faults, on tokio and on smol: a party process killed (SIGKILL) or frozen (SIGSTOP) mid-wait
//! (SPEC-REDIS rule 4), Redis restarted or down mid-wait (rule 7).

mod common;

use std::time::{Duration, Instant};

use agnostic_barrier_redis::{BreakReason, RedisBarrier, RedisWaitError};
use common::party::{Party, PartyConfig};
use common::{Listen, RedisServer, LEASE};
use futures_lite::future;

#[test]
fn party_process_entry_point() {
    common::party::run_if_party();
}

/// Generous: the machine is shared and noisy.
const MARGIN: Duration = Duration::from_millis(1500);

fn lost_party_breaks_the_barrier(runtime: &'static str, signal: &str) {
    let Some(server) = RedisServer::start(Listen::Unix, &[]) else {
        return;
    };
    let name = format!("lost-{runtime}-{signal}");
    let config = |party: &str| PartyConfig {
        url: server.url(),
        name: name.clone(),
        parties: 4,
        party: party.to_owned(),
        lease: LEASE,
        runtime,
        rounds: 1,
    };
    let parties: Vec<Party> = ["p0", "victim", "p2"]
        .iter()
        .map(|p| Party::spawn(&config(p)))
        .collect();
    for party in &parties {
        party.expect("ready", Duration::from_secs(20));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let observer = rt.block_on(common::connect(&server, &name, 4, "observer"));
    assert!(
        rt.block_on(common::eventually(Duration::from_secs(10), || async {
            observer.n_waiting().await.unwrap() == 3
        })),
        "the three parties arrive"
    );
    parties[1].signal(signal);
    let start = Instant::now();
    let bound = LEASE + LEASE / 3 + MARGIN;
    for survivor in [&parties[0], &parties[2]] {
        let line = survivor.expect("broken", bound + Duration::from_secs(5));
        let elapsed = start.elapsed();
        assert!(
            line.starts_with("broken PartyLost victim ["),
            "{}: {line}",
            survivor.name
        );
        assert!(
            line.contains("victim"),
            "arrived lists the lost party: {line}"
        );
        assert!(
            elapsed <= bound,
            "{}: broken after {elapsed:?}, over one lease plus one renewal (+{MARGIN:?})",
            survivor.name
        );
    }
    // Not before the victim's lease could have lapsed (it renewed at most lease/3 before).
    assert!(start.elapsed() >= LEASE / 2);
    let broken = rt.block_on(observer.is_broken()).unwrap();
    assert!(broken);
}

#[test]
fn sigkilled_party_is_lost_within_a_lease_tokio() {
    lost_party_breaks_the_barrier("tokio", "KILL");
}

#[test]
fn sigstopped_party_is_lost_within_a_lease_tokio() {
    lost_party_breaks_the_barrier("tokio", "STOP");
}

#[cfg(feature = "smol")]
#[test]
fn sigkilled_party_is_lost_within_a_lease_smol() {
    lost_party_breaks_the_barrier("smol", "KILL");
}

#[cfg(feature = "smol")]
#[test]
fn sigstopped_party_is_lost_within_a_lease_smol() {
    lost_party_breaks_the_barrier("smol", "STOP");
}

async fn sleep(d: Duration) {
    smol::Timer::after(d).await;
}

async fn handles(server: &RedisServer, name: &str, n: usize) -> Vec<RedisBarrier> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(common::connect(server, name, 3, &format!("h{i}")).await);
    }
    out
}

/// Redis restarted (state lost) while two parties wait: both get `StateLost`, no hang; then
/// the same handles pass the barrier again.
async fn restart_mid_wait(server: &mut RedisServer) {
    let h = handles(server, "restart", 3).await;
    let waits = future::zip(h[0].wait(), h[1].wait());
    let restart = async {
        while h[2].n_waiting().await.unwrap() < 2 {
            sleep(Duration::from_millis(10)).await;
        }
        server.restart();
        Instant::now()
    };
    let bound = LEASE + LEASE / 3 + MARGIN;
    let ((a, b), restarted) = future::zip(
        async {
            future::or(async { Some(waits.await) }, async {
                sleep(Duration::from_secs(20)).await;
                None
            })
            .await
            .expect("the waits end, no hang")
        },
        restart,
    )
    .await;
    assert!(
        restarted.elapsed() <= bound,
        "ended within one lease of the restart"
    );
    for result in [a, b] {
        assert_eq!(
            common::broken_reason(&result),
            Some(BreakReason::StateLost),
            "{result:?}"
        );
    }
    // The same handles work again, on a fresh record.
    let (a, (b, c)) = future::zip(h[0].wait(), future::zip(h[1].wait(), h[2].wait())).await;
    let mut indices = vec![a.unwrap().index(), b.unwrap().index(), c.unwrap().index()];
    indices.sort();
    assert_eq!(indices, [0, 1, 2]);
}

/// Redis down for longer than a lease: the wait returns `Err(Redis)` within one lease of the
/// first failure (plus a call timeout), no hang; the handle works again once Redis is back.
async fn redis_down_mid_wait(server: &mut RedisServer) {
    let h = handles(server, "down", 3).await;
    let wait = h[0].wait();
    let kill = async {
        while h[2].n_waiting().await.unwrap() < 1 {
            sleep(Duration::from_millis(10)).await;
        }
        server.kill();
        Instant::now()
    };
    let (result, killed) = future::zip(wait, kill).await;
    let elapsed = killed.elapsed();
    assert!(
        matches!(result, Err(RedisWaitError::Redis(_))),
        "{result:?}"
    );
    assert!(
        elapsed <= LEASE + LEASE / 3 + LEASE / 2 + MARGIN,
        "{elapsed:?}"
    );
    assert!(h[2].n_waiting().await.is_err(), "a getter fails, bounded");
    server.restart();
    let (a, (b, c)) = future::zip(h[0].wait(), future::zip(h[1].wait(), h[2].wait())).await;
    assert!(a.is_ok() && b.is_ok() && c.is_ok(), "{a:?} {b:?} {c:?}");
}

#[test]
fn redis_restart_mid_wait_gives_state_lost_then_works_tokio() {
    let Some(mut server) = RedisServer::start(Listen::Unix, &[]) else {
        return;
    };
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(restart_mid_wait(&mut server));
}

#[test]
fn redis_down_mid_wait_errs_within_a_lease_then_works_tokio() {
    let Some(mut server) = RedisServer::start(Listen::Unix, &[]) else {
        return;
    };
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(redis_down_mid_wait(&mut server));
}

#[cfg(feature = "smol")]
#[test]
fn redis_restart_mid_wait_gives_state_lost_then_works_smol() {
    let Some(mut server) = RedisServer::start(Listen::Unix, &[]) else {
        return;
    };
    smol::block_on(restart_mid_wait(&mut server));
}

#[cfg(feature = "smol")]
#[test]
fn redis_down_mid_wait_errs_within_a_lease_then_works_smol() {
    let Some(mut server) = RedisServer::start(Listen::Unix, &[]) else {
        return;
    };
    smol::block_on(redis_down_mid_wait(&mut server));
}
