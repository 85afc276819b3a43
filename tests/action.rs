//! The action (SPEC rule 4), the generation number and `n_waiting()` inside it (rule 3), and
//! arrivals while a generation is completing (rule 1's last clause).

#[macro_use]
mod common;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};
use std::thread;

use agnostic_barrier::{Barrier, BarrierWaitResult, WaitError};
use common::{
    assert_one_generation, catch_panic, counting_waker, install_panic_hook, poll_once, spawn,
    QuietPanic,
};

/// Builds a barrier whose action gets the barrier itself and the number of the run (0, 1, ...).
fn barrier_with_action(
    parties: usize,
    mut action: impl FnMut(&Barrier, usize) + Send + 'static,
) -> Arc<Barrier> {
    let cell: Arc<OnceLock<Weak<Barrier>>> = Arc::new(OnceLock::new());
    let me = cell.clone();
    let mut runs = 0;
    let barrier = Arc::new(
        Barrier::builder(parties)
            .action(move || {
                let barrier = me.get().unwrap().upgrade().unwrap();
                runs += 1;
                // Counted first so that a panicking run still counts.
                action(&barrier, runs - 1);
            })
            .build(),
    );
    cell.set(Arc::downgrade(&barrier)).unwrap();
    barrier
}

/// What the getters said inside the action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    generation: u64,
    n_waiting: usize,
    broken: bool,
}

fn seen(barrier: &Barrier) -> Seen {
    Seen {
        generation: barrier.generation(),
        n_waiting: barrier.n_waiting(),
        broken: barrier.is_broken(),
    }
}

#[test]
fn action_runs_once_per_generation_before_release() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (waker, woken) = counting_waker();
    let sink = log.clone();
    let counter = woken.clone();
    let barrier = barrier_with_action(3, move |b, _| {
        // No waiting party has been woken (released) yet.
        sink.lock().unwrap().push((seen(b), counter.count()));
    });
    let mut cx = Context::from_waker(&waker);
    for g in 0..3u64 {
        let mut a = barrier.wait();
        let mut b = barrier.wait();
        assert_pending!(std::pin::Pin::new(&mut a).poll(&mut cx));
        assert_pending!(std::pin::Pin::new(&mut b).poll(&mut cx));
        assert_eq!(
            log.lock().unwrap().len(),
            g as usize,
            "not before the last arrival"
        );
        let c = assert_ready_ok!(poll_once(&mut barrier.wait()));
        assert!(c.is_leader());
        {
            let log = log.lock().unwrap();
            assert_eq!(log.len(), g as usize + 1, "exactly once per generation");
            let (inside, wakes_before) = log[g as usize];
            assert_eq!(
                inside,
                Seen {
                    generation: g,
                    n_waiting: 3,
                    broken: false
                }
            );
            assert_eq!(
                wakes_before,
                2 * g as usize,
                "nobody released before the action"
            );
        }
        let results = [
            assert_ready_ok!(poll_once(&mut a)),
            assert_ready_ok!(poll_once(&mut b)),
            c,
        ];
        assert_one_generation(&results, 3);
        assert_eq!(barrier.generation(), g + 1);
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn action_effects_visible_to_all_parties() {
    let parties = 4;
    let rounds = 50;
    let actions = Arc::new(AtomicUsize::new(0));
    let data = Arc::new(Mutex::new(0u64));
    let counter = actions.clone();
    let shared = data.clone();
    let barrier = Arc::new(
        Barrier::builder(parties)
            .action(move || {
                // Relaxed: the barrier itself must order this before every party's release.
                counter.fetch_add(1, Ordering::Relaxed);
                *shared.lock().unwrap() += 1;
            })
            .build(),
    );
    let threads: Vec<_> = (0..parties)
        .map(|i| {
            let barrier = barrier.clone();
            let actions = actions.clone();
            let data = data.clone();
            thread::spawn(move || {
                for round in 0..rounds {
                    let r = if i % 2 == 0 {
                        barrier.wait_blocking().unwrap()
                    } else {
                        futures::executor::block_on(barrier.wait()).unwrap()
                    };
                    assert_eq!(r.generation(), round as u64);
                    assert_eq!(actions.load(Ordering::Relaxed), round + 1);
                    assert!(*data.lock().unwrap() > round as u64);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(actions.load(Ordering::Relaxed), rounds);
}

#[test]
#[cfg_attr(miri, ignore)]
fn action_runs_on_completing_party() {
    let runner = Arc::new(Mutex::new(None));
    let sink = runner.clone();
    let barrier = Arc::new(
        Barrier::builder(2)
            .action(move || *sink.lock().unwrap() = Some(thread::current().id()))
            .build(),
    );
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert!(runner.lock().unwrap().is_none());
    let other = barrier.clone();
    let completer = thread::spawn(move || (thread::current().id(), other.wait_blocking()));
    let (completer_id, result) = completer.join().unwrap();
    assert!(result.unwrap().is_leader());
    assert_eq!(*runner.lock().unwrap(), Some(completer_id));
    assert!(!assert_ready_ok!(a.poll()).is_leader());
}

#[test]
fn action_can_call_getters_without_deadlock() {
    let texts = Arc::new(Mutex::new(Vec::new()));
    let sink = texts.clone();
    let barrier = barrier_with_action(2, move |b, _| {
        assert_eq!(b.parties(), 2);
        sink.lock().unwrap().push(format!("{b:?}"));
    });
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_ready_ok!(a.poll());
    let texts = texts.lock().unwrap();
    assert_eq!(texts.len(), 1);
    assert!(texts[0].contains("n_waiting: 2"), "{}", texts[0]);
    assert!(texts[0].contains("generation: 0"), "{}", texts[0]);
}

#[test]
fn abort_in_action_breaks_generation() {
    let inside = Arc::new(Mutex::new(Vec::new()));
    let sink = inside.clone();
    let barrier = barrier_with_action(3, move |b, run| {
        if run == 0 {
            b.abort();
            sink.lock().unwrap().push(seen(b));
        }
    });
    let mut a = spawn(barrier.wait());
    let mut b = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    assert_eq!(
        assert_ready!(poll_once(&mut barrier.wait())),
        Err(WaitError::Broken)
    );
    assert!(a.is_woken() && b.is_woken());
    assert_eq!(assert_ready!(a.poll()), Err(WaitError::Broken));
    assert_eq!(assert_ready!(b.poll()), Err(WaitError::Broken));
    // The barrier stays broken; abort leaves the generation number alone.
    assert!(barrier.is_broken());
    assert_eq!(barrier.generation(), 0);
    assert_eq!(barrier.n_waiting(), 0);
    assert_eq!(
        assert_ready!(poll_once(&mut barrier.wait())),
        Err(WaitError::Broken)
    );
    assert_eq!(
        inside.lock().unwrap()[0],
        Seen {
            generation: 0,
            n_waiting: 0,
            broken: true
        }
    );
    // After a reset the barrier works again (the action no longer aborts).
    barrier.reset();
    let mut a = spawn(barrier.wait());
    let mut b = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    let c = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_one_generation(
        &[assert_ready_ok!(a.poll()), assert_ready_ok!(b.poll()), c],
        3,
    );
    assert_eq!(c.generation(), 1);
}

#[test]
fn reset_in_action_gives_broken_and_leaves_barrier_intact() {
    let inside = Arc::new(Mutex::new(Vec::new()));
    let sink = inside.clone();
    let barrier = barrier_with_action(2, move |b, run| {
        if run == 0 {
            b.reset();
            sink.lock().unwrap().push(seen(b));
        }
    });
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_eq!(
        assert_ready!(poll_once(&mut barrier.wait())),
        Err(WaitError::Broken)
    );
    assert_eq!(assert_ready!(a.poll()), Err(WaitError::Broken));
    assert!(!barrier.is_broken());
    assert_eq!(barrier.n_waiting(), 0);
    // reset() counted once; the broken completion did not count again.
    assert_eq!(barrier.generation(), 1);
    assert_eq!(
        inside.lock().unwrap()[0],
        Seen {
            generation: 1,
            n_waiting: 0,
            broken: false
        }
    );
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    let a = assert_ready_ok!(a.poll());
    assert_one_generation(&[a, b], 2);
    assert_eq!(b.generation(), 1);
    assert_eq!(barrier.generation(), 2);
}

#[test]
fn action_panic_breaks_barrier_and_propagates_payload() {
    install_panic_hook();
    let barrier = barrier_with_action(3, |_, run| {
        if run == 0 {
            std::panic::panic_any(QuietPanic(7));
        }
    });
    let mut a = spawn(barrier.wait());
    let mut b = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    let (_, payload) = catch_panic(|| poll_once(&mut barrier.wait()));
    assert_eq!(payload.downcast_ref::<QuietPanic>(), Some(&QuietPanic(7)));
    assert!(barrier.is_broken());
    assert_eq!(barrier.n_waiting(), 0);
    assert_eq!(barrier.generation(), 0);
    assert_eq!(assert_ready!(a.poll()), Err(WaitError::Broken));
    assert_eq!(assert_ready!(b.poll()), Err(WaitError::Broken));
    assert_eq!(
        assert_ready!(poll_once(&mut barrier.wait())),
        Err(WaitError::Broken)
    );
    // The barrier can be reset and the action runs again.
    barrier.reset();
    let mut a = spawn(barrier.wait());
    let mut b = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    let c = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_one_generation(
        &[assert_ready_ok!(a.poll()), assert_ready_ok!(b.poll()), c],
        3,
    );
}

#[test]
fn action_panic_message_propagates() {
    let barrier = barrier_with_action(2, |_, _| {
        panic!("action failed: {}", std::hint::black_box(42))
    });
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    let (record, payload) = catch_panic(|| poll_once(&mut barrier.wait()));
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("action failed: 42")
    );
    assert_eq!(record.message.as_deref(), Some("action failed: 42"));
    assert_eq!(record.file, file!(), "the panic is the action's own");
    assert_eq!(assert_ready!(a.poll()), Err(WaitError::Broken));
}

#[test]
fn action_panic_propagates_to_blocking_leader() {
    install_panic_hook();
    let barrier = barrier_with_action(2, |_, _| std::panic::panic_any(QuietPanic(8)));
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    let (_, payload) = catch_panic(|| barrier.wait_blocking());
    assert_eq!(payload.downcast_ref::<QuietPanic>(), Some(&QuietPanic(8)));
    assert_eq!(assert_ready!(a.poll()), Err(WaitError::Broken));
    assert!(barrier.is_broken());
}

#[test]
fn action_panic_with_single_party() {
    install_panic_hook();
    let barrier = barrier_with_action(1, |_, run| {
        if run == 1 {
            std::panic::panic_any(QuietPanic(9));
        }
    });
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    let (_, payload) = catch_panic(|| poll_once(&mut barrier.wait()));
    assert_eq!(payload.downcast_ref::<QuietPanic>(), Some(&QuietPanic(9)));
    assert!(barrier.is_broken());
    barrier.reset();
    assert_ready_ok!(poll_once(&mut barrier.wait()));
}

// ---- arrivals while the action runs --------------------------------------------------------

/// What the helper thread does with its wait after arriving during the action.
#[derive(Clone, Copy)]
enum Then {
    Await,
    Drop,
}

/// What the helper thread saw right after it arrived during the action.
#[derive(Debug)]
struct Arrived {
    pending: bool,
    n_waiting: usize,
    generation: u64,
}

/// A thread that, when the action asks, arrives on the barrier with a new wait and reports
/// back while the action is still running.
struct Arriver {
    go: mpsc::Sender<()>,
    arrived: mpsc::Receiver<Arrived>,
}

impl Arriver {
    /// Called from the action: makes the thread arrive and waits until it has.
    fn arrive(&self) -> Arrived {
        self.go.send(()).unwrap();
        self.arrived.recv().unwrap()
    }
}

/// Builds a barrier whose action, on its first run, makes a helper thread arrive and then runs
/// `after` (on every run). Returns the barrier, the helper's report, and its thread, which
/// returns the helper's result (`None` if it dropped its wait).
#[allow(clippy::type_complexity)]
fn barrier_with_arrival_in_action(
    parties: usize,
    then: Then,
    mut after: impl FnMut(&Barrier, usize) + Send + 'static,
) -> (
    Arc<Barrier>,
    Arc<Mutex<Option<Arrived>>>,
    thread::JoinHandle<Option<Result<BarrierWaitResult, WaitError>>>,
) {
    let (go_tx, go_rx) = mpsc::channel();
    let (arrived_tx, arrived_rx) = mpsc::channel();
    let report = Arc::new(Mutex::new(None));
    let sink = report.clone();
    let mut arriver = Some(Arriver {
        go: go_tx,
        arrived: arrived_rx,
    });
    let barrier = barrier_with_action(parties, move |b, run| {
        if let Some(arriver) = arriver.take() {
            *sink.lock().unwrap() = Some(arriver.arrive());
        }
        after(b, run);
    });
    let weak = Arc::downgrade(&barrier);
    let thread = thread::spawn(move || {
        go_rx.recv().ok()?;
        let barrier = weak.upgrade().unwrap();
        let mut wait = barrier.wait();
        let pending = poll_once(&mut wait).is_pending();
        arrived_tx
            .send(Arrived {
                pending,
                n_waiting: barrier.n_waiting(),
                generation: barrier.generation(),
            })
            .unwrap();
        match then {
            Then::Await => Some(futures::executor::block_on(wait)),
            Then::Drop => None,
        }
    });
    (barrier, report, thread)
}

#[test]
#[cfg_attr(miri, ignore)]
fn arrival_during_action_counts_toward_next_generation() {
    let (barrier, report, thread) = barrier_with_arrival_in_action(2, Then::Await, |_, _| {});
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    {
        let report = report.lock().unwrap();
        let report = report.as_ref().expect("the action ran the helper");
        assert!(
            report.pending,
            "an arrival during the action does not join its generation"
        );
        assert_eq!(
            report.n_waiting, 2,
            "n_waiting() is parties while the action runs"
        );
        assert_eq!(report.generation, 0);
    }
    let a = assert_ready_ok!(a.poll());
    assert_one_generation(&[a, b], 2);
    // The helper waits in generation 1, alone.
    assert_eq!(barrier.generation(), 1);
    assert_eq!(barrier.n_waiting(), 1);
    assert!(!thread.is_finished());
    let d = assert_ready_ok!(poll_once(&mut barrier.wait()));
    let c = thread.join().unwrap().unwrap().unwrap();
    assert_one_generation(&[c, d], 2);
    assert_eq!(c.generation(), 1);
    assert_eq!((c.index(), d.index()), (0, 1));
    assert!(d.is_leader());
}

#[test]
#[cfg_attr(miri, ignore)]
fn withdrawal_during_action_leaves_next_generation_empty() {
    let (barrier, report, thread) = barrier_with_arrival_in_action(2, Then::Drop, |_, _| {});
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert!(thread.join().unwrap().is_none());
    assert!(report.lock().unwrap().as_ref().unwrap().pending);
    assert_ready_ok!(a.poll());
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.is_broken());
    let mut x = spawn(barrier.wait());
    assert_pending!(x.poll());
    assert_eq!(barrier.n_waiting(), 1);
}

#[test]
#[cfg_attr(miri, ignore)]
fn abort_in_action_breaks_next_generation_arrivals_too() {
    let (barrier, _report, thread) = barrier_with_arrival_in_action(2, Then::Await, |b, run| {
        if run == 0 {
            b.abort();
        }
    });
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    assert_eq!(
        assert_ready!(poll_once(&mut barrier.wait())),
        Err(WaitError::Broken)
    );
    assert_eq!(assert_ready!(a.poll()), Err(WaitError::Broken));
    assert_eq!(thread.join().unwrap(), Some(Err(WaitError::Broken)));
    assert!(barrier.is_broken());
}

#[test]
#[cfg_attr(miri, ignore)]
fn next_generation_filled_during_action_completes_after_it() {
    // With one party, the helper's arrival during the action completes generation 1 at once;
    // it waits for generation 0's action to finish, then generation 1's action runs and
    // releases it as that generation's leader.
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let (barrier, report, thread) = barrier_with_arrival_in_action(1, Then::Await, move |_, _| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_eq!((b.index(), b.generation(), b.is_leader()), (0, 0, true));
    assert!(report.lock().unwrap().as_ref().unwrap().pending);
    let c = thread.join().unwrap().unwrap().unwrap();
    assert_eq!((c.index(), c.generation(), c.is_leader()), (0, 1, true));
    assert_eq!(runs.load(Ordering::SeqCst), 2, "one action per generation");
    assert_eq!(barrier.generation(), 2);
    assert_eq!(barrier.n_waiting(), 0);
}

#[test]
#[cfg_attr(miri, ignore)]
fn action_panic_for_next_generation_propagates_to_its_leader() {
    install_panic_hook();
    let (barrier, _report, thread) = barrier_with_arrival_in_action(1, Then::Await, |_, run| {
        if run == 1 {
            std::panic::panic_any(QuietPanic(11));
        }
    });
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert_eq!(b.generation(), 0);
    let payload = thread.join().expect_err("generation 1's leader panics");
    assert_eq!(payload.downcast_ref::<QuietPanic>(), Some(&QuietPanic(11)));
    assert!(barrier.is_broken());
    assert_eq!(barrier.generation(), 1);
}

#[test]
fn action_poll_result_is_ready_for_completing_party() {
    // The completing party's poll returns its result directly (it is not left pending).
    let barrier = barrier_with_action(2, |_, _| {});
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    match poll_once(&mut barrier.wait()) {
        Poll::Ready(Ok(r)) => assert!(r.is_leader()),
        other => panic!("{other:?}"),
    };
}

// ---- a party of the completing generation, held by another thread ------------------------

enum Cmd {
    Poll,
    Drop,
}

/// A party on its own thread: it arrives (with `deadline`, if any), reports, then obeys
/// commands sent to it, replying with what happened.
struct Remote {
    cmds: mpsc::Sender<Cmd>,
    replies: mpsc::Receiver<Poll<Result<BarrierWaitResult, WaitError>>>,
    thread: thread::JoinHandle<()>,
}

impl Remote {
    fn start(barrier: Arc<Barrier>, deadline: Option<common::Deadline>) -> Remote {
        let (cmd_tx, cmd_rx) = mpsc::channel();
        let (reply_tx, reply_rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let mut wait: Box<dyn Future<Output = _> + Unpin + Send> = match deadline {
                Some(deadline) => Box::new(barrier.wait().timeout(deadline)),
                None => Box::new(barrier.wait()),
            };
            reply_tx.send(poll_once(&mut wait)).unwrap();
            for cmd in cmd_rx {
                match cmd {
                    Cmd::Poll => reply_tx.send(poll_once(&mut wait)).unwrap(),
                    Cmd::Drop => {
                        drop(wait);
                        reply_tx.send(Poll::Pending).unwrap();
                        return;
                    }
                }
            }
        });
        let remote = Remote {
            cmds: cmd_tx,
            replies: reply_rx,
            thread,
        };
        assert!(remote.replies.recv().unwrap().is_pending(), "it waits");
        remote
    }

    fn send(&self, cmd: Cmd) -> Poll<Result<BarrierWaitResult, WaitError>> {
        self.cmds.send(cmd).unwrap();
        self.replies.recv().unwrap()
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn drop_while_action_runs_withdraws_nothing() {
    // The generation is sealed from its last arrival: a party dropped while the action runs
    // loses its pass but does not withdraw.
    let remote: Arc<Mutex<Option<Remote>>> = Arc::new(Mutex::new(None));
    let inside = Arc::new(Mutex::new(None));
    let (handle, sink) = (remote.clone(), inside.clone());
    let barrier = barrier_with_action(2, move |b, run| {
        if run == 0 {
            let remote = handle.lock().unwrap();
            assert!(remote.as_ref().unwrap().send(Cmd::Drop).is_pending());
            *sink.lock().unwrap() = Some(seen(b));
        }
    });
    *remote.lock().unwrap() = Some(Remote::start(barrier.clone(), None));
    assert_eq!(barrier.n_waiting(), 1);
    let b = assert_ready_ok!(poll_once(&mut barrier.wait()));
    assert!(b.is_leader());
    assert_eq!((b.index(), b.generation()), (1, 0));
    assert_eq!(
        inside.lock().unwrap().unwrap(),
        Seen {
            generation: 0,
            n_waiting: 2,
            broken: false
        }
    );
    assert_eq!(barrier.generation(), 1);
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.is_broken());
    remote
        .lock()
        .unwrap()
        .take()
        .unwrap()
        .thread
        .join()
        .unwrap();
}

#[test]
#[cfg_attr(miri, ignore)]
fn deadline_while_action_runs_breaks_generation() {
    // A generation completes when its action has run: a deadline that a party observes while
    // the action is still running breaks it.
    let remote: Arc<Mutex<Option<Remote>>> = Arc::new(Mutex::new(None));
    let deadline = common::Deadline::new();
    let outcome = Arc::new(Mutex::new(None));
    let (handle, fire, sink) = (remote.clone(), deadline.clone(), outcome.clone());
    let barrier = barrier_with_action(2, move |_, run| {
        if run == 0 {
            fire.fire();
            let remote = handle.lock().unwrap();
            *sink.lock().unwrap() = Some(remote.as_ref().unwrap().send(Cmd::Poll));
        }
    });
    *remote.lock().unwrap() = Some(Remote::start(barrier.clone(), Some(deadline)));
    assert_eq!(
        assert_ready!(poll_once(&mut barrier.wait())),
        Err(WaitError::Broken)
    );
    assert_eq!(
        *outcome.lock().unwrap(),
        Some(Poll::Ready(Err(WaitError::TimedOut)))
    );
    assert!(barrier.is_broken());
    let remote = remote.lock().unwrap().take().unwrap();
    drop(remote.cmds);
    remote.thread.join().unwrap();
}
