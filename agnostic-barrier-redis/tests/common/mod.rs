//! Helpers shared by the integration tests.

#![allow(dead_code)]

pub mod party;
pub mod server;

use std::time::Duration;

use agnostic_barrier_redis::{RedisBarrier, RedisWaitError};
pub use server::{Listen, RedisServer};

/// A short lease keeps the fault tests fast.
pub const LEASE: Duration = Duration::from_millis(400);

/// Starts a server on a Unix socket, or returns from the test (skipped) when there is none.
#[macro_export]
macro_rules! server {
    () => {
        $crate::server!(&[])
    };
    ($extra:expr) => {
        match $crate::common::RedisServer::start($crate::common::Listen::Unix, $extra) {
            Some(server) => server,
            None => return,
        }
    };
}

/// Connects a handle with the test lease.
pub async fn connect(
    server: &RedisServer,
    name: &str,
    parties: usize,
    party: &str,
) -> RedisBarrier {
    RedisBarrier::builder(name, parties)
        .party(party)
        .lease(LEASE)
        .connect(server.client())
        .await
        .expect("connect")
}

/// Polls `check` until it holds or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

pub fn broken_reason(
    result: &Result<agnostic_barrier_redis::BarrierWaitResult, RedisWaitError>,
) -> Option<agnostic_barrier_redis::BreakReason> {
    match result {
        Err(RedisWaitError::Broken(b)) => Some(b.reason()),
        _ => None,
    }
}

/// Waits until `n` arrivals are in Redis (10 s at most).
pub async fn until_waiting(barrier: &RedisBarrier, n: usize) {
    assert!(
        eventually(Duration::from_secs(10), || async {
            barrier.n_waiting().await.unwrap() == n
        })
        .await,
        "{n} arrivals expected, {:?} waiting",
        barrier.waiting().await
    );
}

/// Two waits, one on each handle, pass together; returns their generation.
pub async fn pass_together(a: &RedisBarrier, b: &RedisBarrier) -> u64 {
    let (x, y) = futures_lite::future::zip(a.wait(), b.wait()).await;
    let (x, y) = (x.expect("passes"), y.expect("passes"));
    assert_eq!(x.generation(), y.generation());
    assert_ne!(x.index(), y.index());
    x.generation()
}

/// Polls an `Unpin` future once with a no-op waker.
pub fn poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> std::task::Poll<F::Output> {
    std::pin::Pin::new(fut).poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}
