//! The implementations under test, behind one trait so that every task body is the same code,
//! and the floors that no barrier can go far below.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_lite::future::yield_now;

/// One pass through a barrier; resolves to whether this party was the leader.
pub trait Party: Send + Sync + 'static {
    fn pass(&self) -> impl Future<Output = bool> + Send + '_;
}

impl Party for agnostic_barrier::Barrier {
    async fn pass(&self) -> bool {
        self.wait().await.expect("bench barrier broken").is_leader()
    }
}

impl Party for tokio::sync::Barrier {
    async fn pass(&self) -> bool {
        self.wait().await.is_leader()
    }
}

impl Party for async_lock::Barrier {
    async fn pass(&self) -> bool {
        self.wait().await.is_leader()
    }
}

/// The yield floor: each party suspends and resumes once and bumps a shared atomic, with no
/// synchronization.
pub struct Floor(pub AtomicUsize);

impl Party for Floor {
    async fn pass(&self) -> bool {
        yield_now().await;
        self.0.fetch_add(1, Ordering::Relaxed);
        false
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Imp {
    Ours,
    Tokio,
    AsyncLock,
    Floor,
}

impl Imp {
    pub fn name(self) -> &'static str {
        match self {
            Imp::Ours => "ours",
            Imp::Tokio => "tokio",
            Imp::AsyncLock => "async-lock",
            Imp::Floor => "yield floor",
        }
    }
}

pub const BARRIERS: [Imp; 3] = [Imp::Ours, Imp::Tokio, Imp::AsyncLock];
