//! The implementations under test, behind one trait so that every task body is the same code,
//! and the floors that no barrier can go far below.

use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use futures::task::AtomicWaker;
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

/// The wake floor, for release skew: the release with no barrier, N tasks parked and all woken
/// by one thread. Each party counts itself in one shared atomic; all but the last park, each
/// with its waker in a slot of its own; the last one's count fills it, and that is the whole
/// release: it wakes every slot in a loop on its own thread and returns as the leader, as a
/// barrier's completing party does. A woken party sees the count full with one load. Single
/// use: each party passes once.
pub struct WakeFloor {
    arrived: AtomicUsize,
    wakers: Box<[AtomicWaker]>,
}

impl WakeFloor {
    pub fn new(parties: usize) -> WakeFloor {
        WakeFloor {
            arrived: AtomicUsize::new(0),
            wakers: (0..parties).map(|_| AtomicWaker::new()).collect(),
        }
    }
}

impl Party for WakeFloor {
    async fn pass(&self) -> bool {
        let n = self.wakers.len();
        let i = self.arrived.fetch_add(1, Ordering::AcqRel);
        assert!(i < n, "the wake floor is single use");
        if i + 1 == n {
            for waker in &self.wakers[..i] {
                waker.wake();
            }
            return true;
        }
        poll_fn(|cx| {
            if self.arrived.load(Ordering::Acquire) == n {
                return Poll::Ready(false);
            }
            // Registered before the second look, so a release in between still wakes this task.
            self.wakers[i].register(cx.waker());
            if self.arrived.load(Ordering::Acquire) == n {
                Poll::Ready(false)
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Imp {
    Ours,
    Tokio,
    AsyncLock,
    Floor,
    WakeFloor,
}

impl Imp {
    pub fn name(self) -> &'static str {
        match self {
            Imp::Ours => "ours",
            Imp::Tokio => "tokio",
            Imp::AsyncLock => "async-lock",
            Imp::Floor => "yield floor",
            Imp::WakeFloor => "wake floor",
        }
    }
}

pub const BARRIERS: [Imp; 3] = [Imp::Ours, Imp::Tokio, Imp::AsyncLock];
