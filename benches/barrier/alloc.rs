//! Scenario `alloc`: heap allocations per wait, and the size of each wait future.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::counting_alloc::count_allocs;
use crate::parties::{Party, BARRIERS};

pub struct AllocFigures {
    pub first_poll: u64,
    pub completing: u64,
    pub repoll: u64,
}

/// Two parties, hand-polled with a no-op waker after a few warm-up generations (lists that
/// are allocated lazily are then in place): A polls (pending), B polls (completes), A re-polls
/// (released). Allocations are counted on each step.
pub fn alloc_figures<B: Party>(b: B) -> AllocFigures {
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..4 {
        let mut a = pin!(b.pass());
        let mut c = pin!(b.pass());
        assert!(a.as_mut().poll(&mut cx).is_pending());
        assert!(c.as_mut().poll(&mut cx).is_ready());
        assert!(a.as_mut().poll(&mut cx).is_ready());
    }
    let mut a = pin!(b.pass());
    let mut c = pin!(b.pass());
    let (r, first_poll) = count_allocs(|| a.as_mut().poll(&mut cx));
    assert!(r.is_pending());
    let (r, completing) = count_allocs(|| c.as_mut().poll(&mut cx));
    assert_eq!(r, Poll::Ready(true), "the second party completes and leads");
    let (r, repoll) = count_allocs(|| a.as_mut().poll(&mut cx));
    assert_eq!(r, Poll::Ready(false));
    AllocFigures {
        first_poll,
        completing,
        repoll,
    }
}

pub fn run(out: &mut String) -> (AllocFigures, usize) {
    let figs = [
        alloc_figures(agnostic_barrier::Barrier::new(2)),
        alloc_figures(tokio::sync::Barrier::new(2)),
        alloc_figures(async_lock::Barrier::new(2)),
    ];
    // `size_of_val` of an unpolled wait (which does nothing when dropped), so that only
    // `wait()` is named and the bench builds against any version of the crate.
    let ob = agnostic_barrier::Barrier::new(2);
    let size_ours = std::mem::size_of_val(&ob.wait());
    let tb = tokio::sync::Barrier::new(2);
    let size_tokio = std::mem::size_of_val(&tb.wait());
    let ab = async_lock::Barrier::new(2);
    let size_al = std::mem::size_of_val(&ab.wait());
    let sizes = [size_ours, size_tokio, size_al];
    let _ = writeln!(
        out,
        "\n### Heap allocations per wait (parties = 2, hand-polled, after warm-up) and wait \
         future size\n"
    );
    let _ = writeln!(
        out,
        "| impl | waiting party: 1st poll | completing party | waiting party: re-poll | waiting party total | size_of wait future |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for (k, imp) in BARRIERS.iter().enumerate() {
        let f = &figs[k];
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} B |",
            imp.name(),
            f.first_poll,
            f.completing,
            f.repoll,
            f.first_poll + f.repoll,
            sizes[k]
        );
    }
    let [ours, ..] = figs;
    (ours, size_ours)
}
