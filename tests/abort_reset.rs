//! `abort()` (SPEC rule 5), `reset()` (rule 6), "a completed generation wins" against both
//! (rule 7) and waits on a broken barrier (rule 10).

#[macro_use]
mod common;

use std::sync::Arc;

use agnostic_barrier::{Barrier, WaitError};
use common::{assert_one_generation, poll_once, spawn, Deadline};

// ---- rule 5: abort -------------------------------------------------------------------------

#[test]
fn abort_wakes_all_waiters() {
    let barrier = Barrier::new(4);
    let mut waits: Vec<_> = (0..3).map(|_| spawn(barrier.wait())).collect();
    for w in &mut waits {
        assert_pending!(w.poll());
    }
    barrier.abort();
    assert!(barrier.is_broken());
    assert_eq!(barrier.n_waiting(), 0);
    for w in &mut waits {
        assert!(w.is_woken());
        assert_eq!(assert_ready!(w.poll()), Err(WaitError::Broken));
    }
}

#[test]
fn abort_breaks_waiters_with_a_deadline_as_broken() {
    let barrier = Barrier::new(2);
    let deadline = Deadline::new();
    let mut a = spawn(barrier.wait().timeout(deadline.clone()));
    assert_pending!(a.poll());
    barrier.abort();
    deadline.fire();
    // The abort came first: the party is Broken, not TimedOut.
    assert_eq!(assert_ready!(a.poll()), Err(WaitError::Broken));
}

#[test]
fn later_waits_fail_without_arriving() {
    let barrier = Barrier::new(2);
    barrier.abort();
    for _ in 0..3 {
        assert_eq!(
            assert_ready!(poll_once(&mut barrier.wait())),
            Err(WaitError::Broken)
        );
        assert_eq!(barrier.wait_blocking(), Err(WaitError::Broken));
        assert_eq!(barrier.n_waiting(), 0);
    }
    assert!(barrier.is_broken());
}

#[test]
fn abort_leaves_generation_unchanged() {
    let barrier = Barrier::new(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_ready_ok!(a.poll());
    assert_eq!(barrier.generation(), 1);
    let mut b = spawn(barrier.wait());
    assert_pending!(b.poll());
    barrier.abort();
    assert_eq!(barrier.generation(), 1);
    barrier.abort(); // twice is harmless
    assert_eq!(barrier.generation(), 1);
    assert!(barrier.is_broken());
    assert_eq!(assert_ready!(b.poll()), Err(WaitError::Broken));
}

#[test]
fn abort_on_idle_barrier_breaks_it() {
    let barrier = Barrier::new(3);
    barrier.abort();
    assert!(barrier.is_broken());
    assert_eq!(barrier.n_waiting(), 0);
    assert_eq!(barrier.generation(), 0);
}

#[test]
fn barrier_stays_broken_until_reset() {
    let barrier = Barrier::new(1);
    barrier.abort();
    // Even a single party, which would complete at once, gets Broken.
    assert_eq!(
        assert_ready!(poll_once(&mut barrier.wait())),
        Err(WaitError::Broken)
    );
    assert_eq!(
        assert_ready!(poll_once(
            &mut barrier.wait().timeout(std::future::ready(()))
        )),
        Err(WaitError::Broken)
    );
    assert!(barrier.is_broken());
    barrier.reset();
    assert!(assert_ready_ok!(poll_once(&mut barrier.wait())).is_leader());
}

#[test]
#[cfg_attr(miri, ignore)]
fn abort_wakes_blocking_waiters() {
    let barrier = Arc::new(Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || barrier.wait_blocking())
        })
        .collect();
    while barrier.n_waiting() < 2 {
        std::thread::yield_now();
    }
    barrier.abort();
    for t in threads {
        assert_eq!(t.join().unwrap(), Err(WaitError::Broken));
    }
}

// ---- rule 6: reset -------------------------------------------------------------------------

#[test]
fn reset_breaks_waiters_and_leaves_barrier_intact() {
    let barrier = Barrier::new(3);
    let mut a = spawn(barrier.wait());
    let mut b = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    barrier.reset();
    assert!(a.is_woken() && b.is_woken());
    assert!(!barrier.is_broken());
    assert_eq!(barrier.n_waiting(), 0);
    assert_eq!(assert_ready!(a.poll()), Err(WaitError::Broken));
    assert_eq!(assert_ready!(b.poll()), Err(WaitError::Broken));
    // The next `parties` arrivals complete a generation, with fresh indices.
    let mut waits: Vec<_> = (0..3).map(|_| spawn(barrier.wait())).collect();
    assert_pending!(waits[0].poll());
    assert_pending!(waits[1].poll());
    let c = assert_ready_ok!(waits[2].poll());
    let results = [
        assert_ready_ok!(waits[0].poll()),
        assert_ready_ok!(waits[1].poll()),
        c,
    ];
    assert_one_generation(&results, 3);
    assert_eq!(c.index(), 2);
}

#[test]
fn reset_increments_generation() {
    let barrier = Barrier::new(2);
    barrier.reset();
    assert_eq!(barrier.generation(), 1);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    barrier.reset();
    assert_eq!(barrier.generation(), 2);
    assert_eq!(assert_ready!(a.poll()), Err(WaitError::Broken));
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_eq!(b.generation(), 2);
    assert_eq!(assert_ready_ok!(a.poll()).generation(), 2);
    assert_eq!(barrier.generation(), 3);
}

#[test]
fn reset_fresh_barrier_is_harmless() {
    let barrier = Barrier::new(2);
    barrier.reset();
    assert!(!barrier.is_broken());
    assert_eq!(barrier.n_waiting(), 0);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_ready_ok!(a.poll());
}

#[test]
fn reset_idle_barrier_is_harmless() {
    let barrier = Barrier::new(2);
    for _ in 0..2 {
        let mut a = spawn(barrier.wait());
        assert_pending!(a.poll());
        assert_ready_ok!(poll_once(&mut barrier.wait()));
        assert_ready_ok!(a.poll());
    }
    barrier.reset();
    barrier.reset();
    assert!(!barrier.is_broken());
    assert_eq!(barrier.n_waiting(), 0);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_eq!(barrier.n_waiting(), 1);
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_ready_ok!(a.poll());
}

#[test]
fn reset_repairs_broken_barrier() {
    let barrier = Barrier::new(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    barrier.abort();
    barrier.reset();
    assert!(!barrier.is_broken());
    assert_eq!(barrier.n_waiting(), 0);
    assert_eq!(assert_ready!(a.poll()), Err(WaitError::Broken));
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_ready_ok!(a.poll());
}

#[test]
fn reset_repairs_barrier_broken_by_timeout() {
    let barrier = Barrier::new(2);
    assert_eq!(
        assert_ready!(poll_once(
            &mut barrier.wait().timeout(std::future::ready(()))
        )),
        Err(WaitError::TimedOut)
    );
    assert!(barrier.is_broken());
    barrier.reset();
    assert!(!barrier.is_broken());
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_ready_ok!(a.poll());
}

#[test]
#[cfg_attr(miri, ignore)]
fn reset_wakes_blocking_waiters() {
    let barrier = Arc::new(Barrier::new(2));
    let other = barrier.clone();
    let thread = std::thread::spawn(move || other.wait_blocking());
    while barrier.n_waiting() < 1 {
        std::thread::yield_now();
    }
    barrier.reset();
    assert_eq!(thread.join().unwrap(), Err(WaitError::Broken));
    assert!(!barrier.is_broken());
}

// ---- rule 7: a completed generation wins ---------------------------------------------------

#[test]
fn completed_generation_wins_over_abort() {
    let barrier = Barrier::new(3);
    let mut a = spawn(barrier.wait());
    let mut b = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    let c = assert_ready_ok!(poll_once(&mut barrier.wait()));
    barrier.abort();
    assert!(barrier.is_broken());
    let results = [assert_ready_ok!(a.poll()), assert_ready_ok!(b.poll()), c];
    assert_one_generation(&results, 3);
}

#[test]
fn completed_generation_wins_over_reset() {
    let barrier = Barrier::new(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    barrier.reset();
    assert_eq!(barrier.generation(), 2);
    let a = assert_ready_ok!(a.poll());
    assert_one_generation(&[a, b], 2);
    assert_eq!(a.generation(), 0);
}

#[test]
fn abort_breaks_only_the_unfinished_generation() {
    let barrier = Barrier::new(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    // `a` is released (unpolled); `c` waits in the next generation.
    let mut c = spawn(barrier.wait());
    assert_pending!(c.poll());
    barrier.abort();
    assert_eq!(assert_ready!(c.poll()), Err(WaitError::Broken));
    assert_eq!(assert_ready_ok!(a.poll()).generation(), 0);
}

#[test]
#[cfg_attr(miri, ignore)]
fn completed_generation_wins_over_abort_for_blocking_waiters() {
    // A thread released by a completed generation returns Ok even if abort() follows at once.
    for _ in 0..20 {
        let barrier = Arc::new(Barrier::new(2));
        let other = barrier.clone();
        let thread = std::thread::spawn(move || other.wait_blocking());
        while barrier.n_waiting() < 1 {
            std::thread::yield_now();
        }
        let mine = assert_ready_ok!(poll_once(&mut barrier.wait()));
        barrier.abort();
        let theirs = thread.join().unwrap().expect("completed generation wins");
        assert_one_generation(&[mine, theirs], 2);
    }
}
