//! Blocking waits on OS threads, alone and mixed with async parties on one barrier (SPEC
//! rule 11).

#[macro_use]
mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use agnostic_barrier::{Barrier, WaitError};
use common::{assert_generations, assert_one_generation, poll_once, spawn};

/// Waits (yielding) until `n` parties have arrived.
fn until_waiting(barrier: &Barrier, n: usize) {
    while barrier.n_waiting() < n {
        thread::yield_now();
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn blocking_threads_pass_together() {
    let parties = 4;
    let rounds = 100;
    let barrier = Arc::new(Barrier::new(parties));
    let threads: Vec<_> = (0..parties)
        .map(|_| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                (0..rounds)
                    .map(|_| barrier.wait_blocking().unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let all: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(assert_generations(&all, parties), rounds);
}

#[test]
#[cfg_attr(miri, ignore)]
fn blocking_party_released_by_async_leader() {
    let barrier = Arc::new(Barrier::new(2));
    let other = barrier.clone();
    let thread = thread::spawn(move || other.wait_blocking());
    until_waiting(&barrier, 1);
    let mine = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert!(mine.is_leader());
    let theirs = thread.join().unwrap().unwrap();
    assert_one_generation(&[mine, theirs], 2);
    assert_eq!(theirs.index(), 0);
}

#[test]
#[cfg_attr(miri, ignore)]
fn async_party_released_by_blocking_leader() {
    let barrier = Arc::new(Barrier::new(3));
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    let other = barrier.clone();
    let thread = thread::spawn(move || other.wait_blocking());
    until_waiting(&barrier, 2);
    assert!(!a.is_woken());
    let leader = barrier.wait_blocking().unwrap();
    assert!(a.is_woken());
    let results = [
        assert_ready_ok!(a.poll()),
        thread.join().unwrap().unwrap(),
        leader,
    ];
    assert_one_generation(&results, 3);
}

#[test]
#[cfg_attr(miri, ignore)]
fn async_timeout_breaks_blocking_waiters() {
    let barrier = Arc::new(Barrier::new(3));
    let other = barrier.clone();
    let thread = thread::spawn(move || other.wait_blocking());
    until_waiting(&barrier, 1);
    assert_eq!(
        assert_ready!(poll_once(
            &mut barrier.wait().timeout(std::future::ready(()))
        )),
        Err(WaitError::TimedOut)
    );
    assert_eq!(thread.join().unwrap(), Err(WaitError::Broken));
}

#[test]
#[cfg_attr(miri, ignore)]
fn blocking_timeout_breaks_blocking_waiters() {
    let barrier = Arc::new(Barrier::new(3));
    let other = barrier.clone();
    let thread = thread::spawn(move || other.wait_blocking());
    until_waiting(&barrier, 1);
    assert_eq!(
        barrier.wait_blocking_timeout(Duration::from_millis(10)),
        Err(WaitError::TimedOut)
    );
    assert_eq!(thread.join().unwrap(), Err(WaitError::Broken));
}

#[test]
#[cfg_attr(miri, ignore)]
fn async_withdrawal_does_not_disturb_blocking_waiter() {
    let barrier = Arc::new(Barrier::new(3));
    let other = barrier.clone();
    let thread = thread::spawn(move || other.wait_blocking());
    until_waiting(&barrier, 1);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_eq!(barrier.n_waiting(), 2);
    drop(a);
    assert_eq!(barrier.n_waiting(), 1);
    thread::sleep(Duration::from_millis(10));
    assert!(!thread.is_finished());
    assert!(!barrier.is_broken());
    let mut b = spawn(barrier.wait());
    assert_pending!(b.poll());
    let c = assert_ready_ok!(poll_once(&mut barrier.wait()));
    let results = [
        assert_ready_ok!(b.poll()),
        c,
        thread.join().unwrap().unwrap(),
    ];
    assert_one_generation(&results, 3);
}

#[test]
#[cfg_attr(miri, ignore)]
fn threads_and_tokio_tasks_share_a_barrier() {
    let threads_n = 3;
    let tasks_n = 3;
    let parties = threads_n + tasks_n;
    let rounds = 30;
    let barrier = Arc::new(Barrier::new(parties));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..tasks_n)
        .map(|_| {
            let barrier = barrier.clone();
            rt.spawn(async move {
                let mut results = Vec::new();
                for _ in 0..rounds {
                    results.push(barrier.wait().await.unwrap());
                }
                results
            })
        })
        .collect();
    let threads: Vec<_> = (0..threads_n)
        .map(|i| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                (0..rounds)
                    .map(|r| {
                        if (i + r) % 3 == 0 {
                            barrier.wait_blocking_timeout(Duration::MAX).unwrap()
                        } else {
                            barrier.wait_blocking().unwrap()
                        }
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    for task in tasks {
        all.extend(rt.block_on(task).unwrap());
    }
    assert_eq!(assert_generations(&all, parties), rounds as u64);
}

#[test]
#[cfg_attr(miri, ignore)]
fn threads_and_block_on_tasks_share_a_barrier() {
    // Async waits driven by `futures::executor::block_on` on some threads, blocking waits on
    // others.
    let parties = 4;
    let rounds = 50;
    let barrier = Arc::new(Barrier::new(parties));
    let threads: Vec<_> = (0..parties)
        .map(|i| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                (0..rounds)
                    .map(|_| {
                        if i % 2 == 0 {
                            futures::executor::block_on(barrier.wait()).unwrap()
                        } else {
                            barrier.wait_blocking().unwrap()
                        }
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let all: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(assert_generations(&all, parties), rounds);
}

#[test]
#[cfg_attr(miri, ignore)]
fn blocking_waits_across_abort_and_reset() {
    let barrier = Arc::new(Barrier::new(2));
    for round in 0..10 {
        let other = barrier.clone();
        let thread = thread::spawn(move || other.wait_blocking());
        until_waiting(&barrier, 1);
        if round % 2 == 0 {
            barrier.abort();
            assert_eq!(thread.join().unwrap(), Err(WaitError::Broken));
            barrier.reset();
        } else {
            let mine = barrier.wait_blocking().unwrap();
            assert_one_generation(&[mine, thread.join().unwrap().unwrap()], 2);
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn wait_blocking_works_from_a_thread_local_destructor() {
    // SPEC rule 20. The guard is registered before the barrier's own thread-local state (the
    // thread's first blocking wait makes it), so that state is destroyed first: the guard's
    // destructor waits after it is gone.
    use std::cell::RefCell;
    use std::sync::mpsc;

    static BARRIER: Barrier = Barrier::new(2);
    static ONE: Barrier = Barrier::new(1);
    type Passed = Result<agnostic_barrier::BarrierWaitResult, WaitError>;
    struct WaitOnDrop(mpsc::Sender<Passed>);
    impl Drop for WaitOnDrop {
        fn drop(&mut self) {
            let _ = self.0.send(BARRIER.wait_blocking());
        }
    }
    thread_local! {
        static GUARD: RefCell<Option<WaitOnDrop>> = const { RefCell::new(None) };
    }
    let (tx, rx) = mpsc::channel();
    let thread = thread::spawn(move || {
        GUARD.with(|guard| *guard.borrow_mut() = Some(WaitOnDrop(tx)));
        ONE.wait_blocking().unwrap();
    });
    let mine = BARRIER.wait_blocking().unwrap();
    thread.join().expect("the thread exits cleanly");
    let theirs = rx.recv().unwrap().unwrap();
    assert_one_generation(&[mine, theirs], 2);
}
