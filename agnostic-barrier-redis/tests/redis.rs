//! Names, keys, TTLs and permissions in Redis; parties and `Mismatch`; wake-ups; bounded calls
//! (SPEC-REDIS rules 1, 2, 6, 7, 8).

mod common;

use std::time::{Duration, Instant};

use agnostic_barrier_redis::{RedisBarrier, RedisWaitError};
use common::{connect, eventually, Listen, RedisServer, LEASE};
use futures_lite::future;

/// The ACL line the crate's docs give (README "Redis permissions").
const ACL: &str = "on >pw resetkeys ~agnostic-barrier:* resetchannels &agnostic-barrier:* \
    -@all +evalsha +script|load +subscribe +unsubscribe +publish +ping +hello +client \
    +time +pexpireat +hget +hmget +hset +hdel +hgetall";

fn acl_setuser(server: &RedisServer, user: &str, rules: &str) {
    let mut args = vec!["ACL", "SETUSER", user];
    args.extend(rules.split_whitespace());
    let _: () = server.cmd(&args).unwrap();
}

#[tokio::test]
async fn keys_and_channel_live_under_the_prefix_with_ttls() {
    let server = server!();
    let a = connect(&server, "jobs", 2, "a").await;
    let b = connect(&server, "jobs", 2, "b").await;
    let _ = future::zip(a.wait(), b.wait()).await;
    let _ = future::zip(a.wait(), async {
        while b.n_waiting().await.unwrap() < 1 {}
        b.abort().await.unwrap();
    })
    .await;
    let keys: Vec<String> = server.cmd(&["KEYS", "*"]).unwrap();
    // The state hash and the broken generation's record (a generation released by its
    // completing arrival needs no key of its own).
    assert!(keys.len() >= 2, "{keys:?}");
    for key in &keys {
        assert!(key.starts_with("agnostic-barrier:{jobs}:"), "{key}");
        let ttl: i64 = server.cmd(&["PTTL", key]).unwrap();
        assert!(
            (59_000..=120_000).contains(&ttl),
            "{key}: TTL {ttl} ms, want at least max(10 x lease, 60 s)"
        );
    }
    let channels: Vec<String> = server.cmd(&["PUBSUB", "CHANNELS", "*"]).unwrap();
    assert_eq!(channels, ["agnostic-barrier:{jobs}:events"]);
    // No keyspace notifications.
    let notify: Vec<String> = server
        .cmd(&["CONFIG", "GET", "notify-keyspace-events"])
        .unwrap();
    assert_eq!(notify[1], "");
}

#[tokio::test]
async fn key_ttl_is_ten_leases_when_that_is_over_a_minute() {
    let server = server!();
    let a = RedisBarrier::builder("long", 1)
        .lease(Duration::from_secs(7))
        .connect(server.client())
        .await
        .unwrap();
    a.wait().await.unwrap();
    let keys: Vec<String> = server.cmd(&["KEYS", "*"]).unwrap();
    for key in &keys {
        let ttl: i64 = server.cmd(&["PTTL", key]).unwrap();
        assert!((69_000..=140_000).contains(&ttl), "{key}: {ttl}");
    }
}

#[tokio::test]
async fn a_name_with_braces_is_tagged_by_its_sha1() {
    let server = server!();
    let a = connect(&server, "a{b}", 1, "a").await;
    a.wait().await.unwrap();
    let keys: Vec<String> = server.cmd(&["KEYS", "*"]).unwrap();
    for key in keys {
        assert!(
            key.starts_with("agnostic-barrier:{#28abe73a16bdb9982d4d12d2ca89653ed5aa55a1}:"),
            "{key}"
        );
    }
}

#[tokio::test]
async fn connect_with_another_party_count_is_a_mismatch() {
    let server = server!();
    let _a = connect(&server, "count", 2, "a").await;
    let err = RedisBarrier::builder("count", 3)
        .connect(server.client())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RedisWaitError::Mismatch {
                expected: 3,
                found: 2
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn arrival_meeting_another_count_is_a_mismatch_without_arriving() {
    let server = server!();
    let a = connect(&server, "recount", 2, "a").await;
    let _: () = server
        .cmd(&["DEL", "agnostic-barrier:{recount}:state"])
        .unwrap();
    let b = connect(&server, "recount", 3, "b").await;
    let err = a.wait().await.unwrap_err();
    assert!(
        matches!(
            err,
            RedisWaitError::Mismatch {
                expected: 2,
                found: 3
            }
        ),
        "{err:?}"
    );
    assert_eq!(b.n_waiting().await.unwrap(), 0);
}

#[tokio::test]
async fn without_a_record_the_getters_read_zero_and_an_arrival_recreates_it() {
    let server = server!();
    let a = connect(&server, "gone", 1, "a").await;
    a.wait().await.unwrap();
    a.abort().await.unwrap();
    let keys: Vec<String> = server.cmd(&["KEYS", "*"]).unwrap();
    let mut del = vec!["DEL"];
    del.extend(keys.iter().map(String::as_str));
    let _: () = server.cmd(&del).unwrap();
    assert_eq!(a.n_waiting().await.unwrap(), 0);
    assert_eq!(a.generation().await.unwrap(), 0);
    assert!(!a.is_broken().await.unwrap());
    assert!(a.waiting().await.unwrap().is_empty());
    assert_eq!(
        a.wait().await.unwrap().generation(),
        0,
        "re-created at generation 0"
    );
}

#[tokio::test]
async fn a_password_works() {
    let server = server!(&["--requirepass", "s3cret"]);
    let client = || redis::Client::open(server.url_with("", "s3cret")).unwrap();
    let a = RedisBarrier::builder("pw", 2)
        .connect(client())
        .await
        .unwrap();
    let b = RedisBarrier::builder("pw", 2)
        .connect(client())
        .await
        .unwrap();
    let (x, y) = future::zip(a.wait(), b.wait()).await;
    assert!(x.is_ok() && y.is_ok());
}

#[tokio::test]
async fn a_wrong_password_is_an_error_at_connect_without_hanging() {
    let server = server!(&["--requirepass", "s3cret"]);
    let start = Instant::now();
    let err = RedisBarrier::builder("pw", 2)
        .lease(LEASE)
        .connect(redis::Client::open(server.url_with("", "wrong")).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, RedisWaitError::Redis(_)), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn an_acl_user_limited_to_the_prefix_works() {
    let server = server!();
    acl_setuser(&server, "barrier", ACL);
    let client = || redis::Client::open(server.url_with("barrier", "pw")).unwrap();
    let a = RedisBarrier::builder("acl", 2)
        .lease(LEASE)
        .connect(client())
        .await
        .unwrap();
    let b = RedisBarrier::builder("acl", 2)
        .lease(LEASE)
        .connect(client())
        .await
        .unwrap();
    for _ in 0..3 {
        let (x, y) = future::zip(a.wait(), b.wait()).await;
        assert!(x.is_ok() && y.is_ok(), "{x:?} {y:?}");
    }
    // Leases, deadlines, abort, reset and the getters too.
    let r = a
        .wait()
        .timeout(tokio::time::sleep(Duration::from_millis(50)))
        .await;
    assert!(matches!(r, Err(RedisWaitError::TimedOut)), "{r:?}");
    a.reset().await.unwrap();
    a.abort().await.unwrap();
    assert!(b.is_broken().await.unwrap());
    assert!(b.waiting().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_user_without_access_gets_an_error_without_hanging() {
    let server = server!();
    acl_setuser(&server, "outsider", "on >pw ~other:* &other:* +@all");
    let start = Instant::now();
    let err = RedisBarrier::builder("acl", 2)
        .lease(LEASE)
        .connect(redis::Client::open(server.url_with("outsider", "pw")).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, RedisWaitError::Redis(_)), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_reaches_every_local_waiter_without_waiting_for_the_recheck() {
    let server = server!();
    // Re-checks every 2 s: a release in well under that came by the subscription.
    let lease = Duration::from_secs(6);
    let many = RedisBarrier::builder("fanout", 9)
        .lease(lease)
        .connect(server.client())
        .await
        .unwrap();
    let last = RedisBarrier::builder("fanout", 9)
        .lease(lease)
        .connect(server.client())
        .await
        .unwrap();
    let waits = (0..8).map(|_| many.wait());
    let all = async {
        let mut results = Vec::new();
        for w in waits.collect::<Vec<_>>() {
            results.push(w);
        }
        // Poll them together.
        futures_lite::future::zip(
            async {
                let mut out = Vec::new();
                let mut pending: Vec<_> = results.into_iter().map(Box::pin).collect();
                // Arrive all, then await each.
                for p in &mut pending {
                    let _ = futures_lite::future::poll_once(p.as_mut()).await;
                }
                for p in pending {
                    out.push(p.await);
                }
                out
            },
            async {
                while last.n_waiting().await.unwrap() < 8 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let start = Instant::now();
                let r = last.wait().await;
                (r, start)
            },
        )
        .await
    };
    let (results, (last_result, start)) = all.await;
    let elapsed = start.elapsed();
    assert!(last_result.unwrap().is_leader());
    let mut indices: Vec<_> = results.into_iter().map(|r| r.unwrap().index()).collect();
    indices.sort();
    assert_eq!(indices, (0..8).collect::<Vec<_>>());
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_release_message_delays_the_release_but_never_hangs_it() {
    let server = server!();
    acl_setuser(&server, "deaf", "on >pw ~* &* +@all");
    let lease = Duration::from_millis(900);
    let a = RedisBarrier::builder("lost-message", 2)
        .party("deaf")
        .lease(lease)
        .connect(redis::Client::open(server.url_with("deaf", "pw")).unwrap())
        .await
        .unwrap();
    let b = RedisBarrier::builder("lost-message", 2)
        .party("b")
        .lease(lease)
        .connect(server.client())
        .await
        .unwrap();
    let mut raw = server.client().get_connection().unwrap();
    let a_wait = async {
        tokio::time::timeout(Duration::from_secs(10), a.wait())
            .await
            .expect("released within 10 s (a re-check every lease / 3)")
    };
    let (x, y) = future::zip(a_wait, async {
        while b.n_waiting().await.unwrap() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Cut a off and keep it from reconnecting while b's release is published.
        let clients: String = redis::cmd("CLIENT").arg("LIST").query(&mut raw).unwrap();
        let count = clients.lines().count();
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxclients")
            .arg(count - 1)
            .query(&mut raw)
            .unwrap();
        let _: () = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("USER")
            .arg("deaf")
            .query(&mut raw)
            .unwrap();
        let r = b.wait().await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxclients")
            .arg(10000)
            .query(&mut raw)
            .unwrap();
        r
    })
    .await;
    let (x, y) = (x.expect("released by the re-check"), y.unwrap());
    assert_eq!(x.generation(), y.generation());
    assert_ne!(x.index(), y.index());
}

#[tokio::test]
async fn every_call_is_bounded_while_redis_does_not_answer() {
    let server = server!();
    let a = connect(&server, "paused", 2, "a").await;
    let _: () = server.cmd(&["CLIENT", "PAUSE", "4000", "ALL"]).unwrap();
    let start = Instant::now();
    assert!(matches!(
        a.generation().await,
        Err(RedisWaitError::Redis(_))
    ));
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    let start = Instant::now();
    let r = a.wait().await;
    assert!(matches!(r, Err(RedisWaitError::Redis(_))), "{r:?}");
    // Within one lease of the first failure (+ the call timeout, + margin).
    assert!(
        start.elapsed() < LEASE * 2 + Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    let _: () = server.cmd(&["CLIENT", "UNPAUSE"]).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || async {
            a.generation().await.is_ok()
        })
        .await
    );
}

#[test]
fn bad_input_panics_at_the_callers_line() {
    use std::panic;
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(None));
    let hook = panic::take_hook();
    let store = seen.clone();
    panic::set_hook(Box::new(move |info| {
        let at = info.location().map(|l| (l.file().to_owned(), l.line()));
        *store.lock().unwrap() = at;
    }));
    let mut failures = Vec::new();
    let mut check = |line: u32, case: &dyn Fn()| {
        *seen.lock().unwrap() = None;
        let result = panic::catch_unwind(panic::AssertUnwindSafe(case));
        let at = seen.lock().unwrap().clone();
        if result.is_ok() || at != Some((file!().to_owned(), line)) {
            failures.push((line, result.is_ok(), at));
        }
    };
    let short = Duration::from_millis(99);
    check(line!(), &|| drop(RedisBarrier::builder("", 2)));
    check(line!(), &|| drop(RedisBarrier::builder("x", 0)));
    let two = || RedisBarrier::builder("x", 2);
    check(line!(), &|| drop(two().lease(short)));
    panic::set_hook(hook);
    assert!(failures.is_empty(), "{failures:?}");
    // 100 ms is allowed.
    drop(RedisBarrier::builder("x", 2).lease(Duration::from_millis(100)));
}

#[test]
fn futures_are_send_and_unpin_and_the_handle_send_and_sync() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    fn unpin<T: Unpin>() {}
    send::<RedisBarrier>();
    sync::<RedisBarrier>();
    send::<agnostic_barrier_redis::RedisWait<'static>>();
    unpin::<agnostic_barrier_redis::RedisWait<'static>>();
    send::<agnostic_barrier_redis::RedisWaitTimeout<'static, tokio::time::Sleep>>();
    unpin::<agnostic_barrier_redis::RedisWaitTimeout<'static, std::future::Ready<()>>>();
    let _ = Listen::Tcp;
}
