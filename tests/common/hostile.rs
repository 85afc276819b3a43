//! Hostile wakers: wakers whose `clone`, `wake`, `wake_by_ref` or `drop` run arbitrary test code
//! (panic, or call back into the barrier), to prove SPEC rule 18. `std::task::Wake` cannot
//! hook `clone` or `drop`, so these build a `RawWaker` by hand.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::QuietPanic;

/// Which operation a hook runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Clone,
    Wake,
    Drop,
}

type Hook = Arc<dyn Fn(Op) + Send + Sync>;

/// What every waker made from one `Hostile` shares.
pub struct Hooks {
    hook: Mutex<Option<Hook>>,
    clones: AtomicUsize,
    wakes: AtomicUsize,
    drops: AtomicUsize,
}

impl Hooks {
    fn run(&self, op: Op) {
        // Not under the hook's lock: a hook may clone or drop another waker of these hooks.
        let hook = self.hook.lock().unwrap().clone();
        if let Some(hook) = hook {
            hook(op);
        }
    }
}

/// A hostile waker's handle: counts and the hook, shared by every clone of the waker.
#[derive(Clone)]
pub struct Hostile(Arc<Hooks>);

impl Default for Hostile {
    fn default() -> Self {
        Self::new()
    }
}

impl Hostile {
    /// A waker that counts and does nothing else until `set` gives it a hook.
    pub fn new() -> Self {
        Hostile(Arc::new(Hooks {
            hook: Mutex::new(None),
            clones: AtomicUsize::new(0),
            wakes: AtomicUsize::new(0),
            drops: AtomicUsize::new(0),
        }))
    }

    /// A waker whose `op` panics with `QuietPanic(tag)`.
    pub fn panicking(op: Op, tag: u32) -> Self {
        let hostile = Self::new();
        hostile.set(move |o| {
            if o == op {
                std::panic::panic_any(QuietPanic(tag));
            }
        });
        hostile
    }

    /// Runs `hook` on every later clone, wake and drop (after counting it).
    pub fn set(&self, hook: impl Fn(Op) + Send + Sync + 'static) {
        *self.0.hook.lock().unwrap() = Some(Arc::new(hook));
    }

    /// Stops running the hook.
    pub fn disarm(&self) {
        *self.0.hook.lock().unwrap() = None;
    }

    pub fn waker(&self) -> Waker {
        let raw = RawWaker::new(Arc::into_raw(self.0.clone()).cast(), &VTABLE);
        // SAFETY: the vtable's functions treat the data pointer as an `Arc<Hooks>` made by
        // `Arc::into_raw`, and keep its reference count.
        unsafe { Waker::from_raw(raw) }
    }

    pub fn clones(&self) -> usize {
        self.0.clones.load(SeqCst)
    }

    pub fn wakes(&self) -> usize {
        self.0.wakes.load(SeqCst)
    }

    pub fn drops(&self) -> usize {
        self.0.drops.load(SeqCst)
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// # Safety
/// `data` came from `Arc::<Hooks>::into_raw` and its count is still held.
unsafe fn hooks<'a>(data: *const ()) -> &'a Hooks {
    unsafe { &*data.cast::<Hooks>() }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    let hooks = unsafe { hooks(data) };
    hooks.clones.fetch_add(1, SeqCst);
    hooks.run(Op::Clone);
    unsafe { Arc::increment_strong_count(data.cast::<Hooks>()) };
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // Release this waker's count even if the hook panics.
    let hooks = unsafe { Arc::from_raw(data.cast::<Hooks>()) };
    hooks.wakes.fetch_add(1, SeqCst);
    hooks.run(Op::Wake);
}

unsafe fn wake_by_ref(data: *const ()) {
    let hooks = unsafe { hooks(data) };
    hooks.wakes.fetch_add(1, SeqCst);
    hooks.run(Op::Wake);
}

unsafe fn drop_waker(data: *const ()) {
    let hooks = unsafe { Arc::from_raw(data.cast::<Hooks>()) };
    hooks.drops.fetch_add(1, SeqCst);
    hooks.run(Op::Drop);
}
