//! The allocation and size bars of SPEC.md: zero heap allocations for the party that completes a
//! generation, at most one for a party that waits, and `size_of::<BarrierWait>() <= 80`.
//!
//! A counting global allocator counts only the allocations of the thread that switched counting
//! on, so tests running in parallel do not disturb each other.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use agnostic_barrier::{Barrier, BarrierWait};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{count_allocs as allocs, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn poll<F: Future + ?Sized>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Passes a few whole generations by hand: the barrier's wakers vectors grow to their size in
/// the first rounds and are reused after.
fn warm_up(barrier: &Barrier) {
    for _ in 0..4 {
        let mut waits: Vec<_> = (0..barrier.parties()).map(|_| barrier.wait()).collect();
        for wait in &mut waits[..barrier.parties() - 1] {
            assert!(poll(pin!(wait)).is_pending());
        }
        for wait in waits.iter_mut().rev() {
            assert!(poll(pin!(wait)).is_ready());
        }
    }
}

#[test]
fn counter_sees_this_threads_allocations() {
    let (boxed, n) = allocs(|| Box::new(std::hint::black_box(7u64)));
    assert_eq!(*boxed, 7);
    assert_eq!(n, 1);
}

#[test]
fn completing_party_does_not_allocate() {
    for parties in [2, 3, 16] {
        let barrier = Barrier::new(parties);
        warm_up(&barrier);
        let mut waiting: Vec<_> = (0..parties - 1).map(|_| barrier.wait()).collect();
        for wait in &mut waiting {
            assert!(poll(pin!(wait)).is_pending());
        }
        let mut last = pin!(barrier.wait());
        let (result, n) = allocs(|| poll(last.as_mut()));
        let Poll::Ready(Ok(passed)) = result else {
            panic!("the last party completes the generation: {result:?}");
        };
        assert!(passed.is_leader());
        assert_eq!(n, 0, "the completing party allocated (parties = {parties})");
    }
}

#[test]
fn completing_party_with_action_does_not_allocate() {
    let barrier = Barrier::builder(2).action(|| {}).build();
    warm_up(&barrier);
    let mut first = pin!(barrier.wait());
    assert!(poll(first.as_mut()).is_pending());
    let mut last = pin!(barrier.wait());
    let (result, n) = allocs(|| poll(last.as_mut()));
    assert!(matches!(result, Poll::Ready(Ok(ref p)) if p.is_leader()));
    assert_eq!(n, 0, "the completing party allocated");
}

#[test]
fn single_party_does_not_allocate() {
    let barrier = Barrier::new(1);
    warm_up(&barrier);
    let mut wait = pin!(barrier.wait());
    let (result, n) = allocs(|| poll(wait.as_mut()));
    assert!(matches!(result, Poll::Ready(Ok(_))));
    assert_eq!(n, 0);
}

#[test]
fn blocking_completing_party_does_not_allocate() {
    let barrier = Barrier::new(2);
    warm_up(&barrier);
    // The first round is warm-up too: a blocking wait may make this thread's waker, once.
    for round in 0..2 {
        let mut first = pin!(barrier.wait());
        assert!(poll(first.as_mut()).is_pending());
        let (result, n) = allocs(|| barrier.wait_blocking());
        assert!(result.unwrap().is_leader());
        assert!(poll(first.as_mut()).is_ready());
        if round == 1 {
            assert_eq!(n, 0, "the completing blocking party allocated");
        }
    }
}

#[test]
fn waiting_party_allocates_at_most_once() {
    let barrier = Barrier::new(2);
    warm_up(&barrier);
    let (waiting, made) = allocs(|| barrier.wait());
    let mut waiting = pin!(waiting);
    let (first_poll, arrived) = allocs(|| poll(waiting.as_mut()));
    assert!(first_poll.is_pending());
    let (again, repolled_pending) = allocs(|| poll(waiting.as_mut()));
    assert!(again.is_pending());
    assert!(poll(pin!(barrier.wait())).is_ready());
    let (released, repolled) = allocs(|| poll(waiting.as_mut()));
    assert!(matches!(released, Poll::Ready(Ok(ref p)) if !p.is_leader()));
    let total = made + arrived + repolled_pending + repolled;
    assert!(
        total <= 1,
        "a waiting party allocated {total} times (creation {made}, first poll {arrived}, \
         pending re-poll {repolled_pending}, release {repolled})"
    );
}

#[test]
fn withdrawn_party_allocates_at_most_once() {
    let barrier = Barrier::new(2);
    warm_up(&barrier);
    let ((), n) = allocs(|| {
        let mut wait = pin!(barrier.wait());
        assert!(poll(wait.as_mut()).is_pending());
    });
    assert_eq!(barrier.n_waiting(), 0);
    assert!(n <= 1, "an arrival withdrawn by drop allocated {n} times");
}

#[test]
fn wait_future_is_at_most_80_bytes() {
    let size = size_of::<BarrierWait<'static>>();
    assert!(size <= 80, "size_of::<BarrierWait>() is {size}");
}
