//! Scenes staged inside an action: a barrier whose action can reach the barrier itself, and
//! hand-polled waits that own an `Arc` of it, so that a test can make parties arrive, join,
//! leave or reset while a generation's action runs (SPEC rules 14, 16, 17, 19).
//!
//! The action holds the barrier by a `Weak`, and the waits it parks are taken out by the test,
//! so nothing is leaked and Miri's leak check stays on for the files that use this.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};

use agnostic_barrier::{Barrier, BarrierBuilder, BarrierWaitResult, WaitError};

use super::{spawn, Spawned};

/// What every wait resolves to.
pub type Outcome = Result<BarrierWaitResult, WaitError>;

/// A wait (or any future with a wait's output) owning what it borrows, polled by hand.
pub type Boxed = Spawned<Pin<Box<dyn Future<Output = Outcome> + Send>>>;

/// Builds `builder` with an action that gets the barrier and the run's number (0, 1, ...).
pub fn with_action(
    builder: BarrierBuilder,
    mut action: impl FnMut(&Arc<Barrier>, usize) + Send + 'static,
) -> Arc<Barrier> {
    Arc::new_cyclic(|weak: &Weak<Barrier>| {
        let weak = weak.clone();
        let mut run = 0;
        builder
            .action(move || {
                let barrier = weak.upgrade().expect("the test holds the barrier");
                action(&barrier, run);
                run += 1;
            })
            .build()
    })
}

/// Builds `builder` with an action whose first run (generation 0's) calls `first` with the
/// barrier; its later runs do nothing.
pub fn on_first_run(
    builder: BarrierBuilder,
    first: impl FnOnce(&Arc<Barrier>) + Send + 'static,
) -> Arc<Barrier> {
    let mut first = Some(first);
    with_action(builder, move |barrier, _| {
        if let Some(first) = first.take() {
            first(barrier);
        }
    })
}

/// What an action staged by [`logged`] shares with the test: the `(run, phase)` of each
/// of its runs (see [`during`]), and the waits it parked.
#[derive(Clone, Default)]
pub struct Scene {
    pub log: Log<(usize, &'static str)>,
    pub parked: Parked,
}

/// Builds `builder` with an action that logs each run's `(run, phase())` and, on its first run
/// (generation 0's), then calls `first` with the barrier and the scene.
pub fn logged(
    builder: BarrierBuilder,
    first: impl FnOnce(&Arc<Barrier>, &Scene) + Send + 'static,
) -> (Arc<Barrier>, Scene) {
    let scene = Scene::default();
    let shared = scene.clone();
    let mut first = Some(first);
    let barrier = with_action(builder, move |barrier, run| {
        shared.log.push((run, phase()));
        if let Some(first) = first.take() {
            first(barrier, &shared);
        }
    });
    (barrier, scene)
}

/// Boxes `fut` for polling by hand.
pub fn boxed(fut: impl Future<Output = Outcome> + Send + 'static) -> Boxed {
    spawn(Box::pin(fut) as Pin<Box<dyn Future<Output = Outcome> + Send>>)
}

/// An anonymous wait on `barrier`, polled once: it has arrived and waits.
#[track_caller]
pub fn waiting(barrier: &Arc<Barrier>) -> Boxed {
    let barrier = barrier.clone();
    let mut wait = boxed(async move { barrier.wait().await });
    assert_pending!(wait.poll());
    wait
}

/// Futures made inside an action, parked for the test to take out (in the order parked).
#[derive(Clone, Default)]
pub struct Parked(Arc<Mutex<Vec<Boxed>>>);

impl Parked {
    pub fn push(&self, wait: Boxed) {
        self.0.lock().unwrap().push(wait);
    }

    pub fn take(&self) -> Vec<Boxed> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// Takes exactly `N` parked futures.
    #[track_caller]
    pub fn take_n<const N: usize>(&self) -> [Boxed; N] {
        let taken = self.take();
        let len = taken.len();
        taken
            .try_into()
            .unwrap_or_else(|_| panic!("expected {N} parked futures, found {len}"))
    }
}

thread_local! {
    static PHASE: Cell<&'static str> = const { Cell::new("elsewhere") };
}

/// Runs `f` with this thread's phase set to `phase`, for an action to record where it ran.
pub fn during<R>(phase: &'static str, f: impl FnOnce() -> R) -> R {
    let before = PHASE.replace(phase);
    let result = f();
    PHASE.set(before);
    result
}

/// This thread's phase (see [`during`]).
pub fn phase() -> &'static str {
    PHASE.get()
}

/// A log shared between an action and the test.
#[derive(Clone, Debug)]
pub struct Log<T>(Arc<Mutex<Vec<T>>>);

impl<T> Default for Log<T> {
    fn default() -> Self {
        Log(Arc::default())
    }
}

impl<T: Clone> Log<T> {
    pub fn push(&self, entry: T) {
        self.0.lock().unwrap().push(entry);
    }

    pub fn entries(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}
