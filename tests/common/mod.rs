//! Helpers shared by the integration tests: hand-polling with a counting waker, `tokio-test`
//! style assertion macros, a manually fired deadline, and panic capture.

#![allow(dead_code, unused_macros)]

pub mod hostile;

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::task::{Context, Poll, Wake, Waker};

/// A waker that counts how often it was woken.
#[derive(Debug, Default)]
pub struct WakeCounter {
    wakes: AtomicUsize,
}

impl WakeCounter {
    pub fn count(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

impl Wake for WakeCounter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// A counting waker and the counter behind it.
pub fn counting_waker() -> (Waker, Arc<WakeCounter>) {
    let counter = Arc::new(WakeCounter::default());
    (Waker::from(counter.clone()), counter)
}

/// Polls an `Unpin` future once with a no-op waker.
pub fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

/// A future polled by hand with its own counting waker (like `tokio_test::task::spawn`).
#[derive(Debug)]
pub struct Spawned<F> {
    pub fut: F,
    waker: Waker,
    counter: Arc<WakeCounter>,
}

/// Wraps `fut` for polling by hand.
pub fn spawn<F: Future + Unpin>(fut: F) -> Spawned<F> {
    let (waker, counter) = counting_waker();
    Spawned {
        fut,
        waker,
        counter,
    }
}

impl<F: Future + Unpin> Spawned<F> {
    pub fn poll(&mut self) -> Poll<F::Output> {
        Pin::new(&mut self.fut).poll(&mut Context::from_waker(&self.waker))
    }

    /// How often the future's waker was woken so far.
    pub fn wakes(&self) -> usize {
        self.counter.count()
    }

    pub fn is_woken(&self) -> bool {
        self.wakes() > 0
    }
}

/// Asserts that a `Poll` is `Pending`.
macro_rules! assert_pending {
    ($e:expr) => {
        match $e {
            ::std::task::Poll::Pending => {}
            ::std::task::Poll::Ready(v) => panic!("expected Pending, got Ready({:?})", v),
        }
    };
}

/// Asserts that a `Poll` is `Ready` and returns its value.
macro_rules! assert_ready {
    ($e:expr) => {
        match $e {
            ::std::task::Poll::Ready(v) => v,
            ::std::task::Poll::Pending => panic!("expected Ready, got Pending"),
        }
    };
}

/// Asserts that a `Poll` is `Ready(Ok(_))` and returns the value.
macro_rules! assert_ready_ok {
    ($e:expr) => {
        match assert_ready!($e) {
            Ok(v) => v,
            Err(e) => panic!("expected Ready(Ok(_)), got Ready(Err({:?}))", e),
        }
    };
}

/// Asserts that a `Poll` is `Ready(Err(_))` and returns the error.
macro_rules! assert_ready_err {
    ($e:expr) => {
        match assert_ready!($e) {
            Err(e) => e,
            Ok(v) => panic!("expected Ready(Err(_)), got Ready(Ok({:?}))", v),
        }
    };
}

#[derive(Debug, Default)]
struct DeadlineInner {
    fired: AtomicBool,
    /// Every waker that polled it (clones share the deadline and may be polled by different
    /// waits).
    wakers: Mutex<Vec<Waker>>,
}

/// A deadline future that becomes ready when [`Deadline::fire`] is called: deterministic
/// timeouts without a timer. Clones share the same deadline.
#[derive(Clone, Debug, Default)]
pub struct Deadline {
    inner: Arc<DeadlineInner>,
}

impl Deadline {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the deadline (and every clone of it) ready, waking whoever polled it.
    pub fn fire(&self) {
        self.inner.fired.store(true, Ordering::SeqCst);
        let wakers = std::mem::take(&mut *self.inner.wakers.lock().unwrap());
        for waker in wakers {
            waker.wake();
        }
    }

    pub fn is_fired(&self) -> bool {
        self.inner.fired.load(Ordering::SeqCst)
    }

    /// Whether some wait polled this deadline and is waiting on it.
    pub fn is_polled(&self) -> bool {
        !self.inner.wakers.lock().unwrap().is_empty()
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_fired() {
            return Poll::Ready(());
        }
        {
            let mut wakers = self.inner.wakers.lock().unwrap();
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
        }
        if self.is_fired() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// A panic payload the test panic hook keeps quiet about.
#[derive(Debug, PartialEq, Eq)]
pub struct QuietPanic(pub u32);

/// What the hook saw of the last panic on this thread.
#[derive(Clone, Debug)]
pub struct PanicRecord {
    pub file: String,
    pub line: u32,
    pub message: Option<String>,
}

thread_local! {
    static LAST_PANIC: RefCell<Option<PanicRecord>> = const { RefCell::new(None) };
}

/// Installs (once per process) a panic hook that records each panic's location and message for
/// the panicking thread, keeps quiet about [`QuietPanic`] payloads, and otherwise defers to
/// the previous hook.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned());
            let record = info.location().map(|loc| PanicRecord {
                file: loc.file().to_string(),
                line: loc.line(),
                message,
            });
            LAST_PANIC.with(|last| *last.borrow_mut() = record);
            if !payload.is::<QuietPanic>() {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, which must panic, and returns the hook's record of the panic and its payload.
pub fn catch_panic<R>(f: impl FnOnce() -> R) -> (PanicRecord, Box<dyn Any + Send>) {
    install_panic_hook();
    LAST_PANIC.with(|last| last.borrow_mut().take());
    let payload = match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic"),
        Err(payload) => payload,
    };
    let record = LAST_PANIC
        .with(|last| last.borrow_mut().take())
        .expect("the panic hook recorded the panic");
    (record, payload)
}

/// Checks that the indices of one generation's results are a permutation of `0..parties` with
/// exactly one leader.
pub fn assert_one_generation(results: &[agnostic_barrier::BarrierWaitResult], parties: usize) {
    assert_eq!(results.len(), parties, "{results:?}");
    let mut indices: Vec<usize> = results.iter().map(|r| r.index()).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..parties).collect::<Vec<_>>(), "{results:?}");
    let leaders = results.iter().filter(|r| r.is_leader()).count();
    assert_eq!(leaders, 1, "{results:?}");
    let generation = results[0].generation();
    assert!(
        results.iter().all(|r| r.generation() == generation),
        "{results:?}"
    );
}

/// Groups results by generation and checks each with [`assert_one_generation`]; returns the
/// number of generations.
pub fn assert_generations(results: &[agnostic_barrier::BarrierWaitResult], parties: usize) -> u64 {
    let by_gen = self::parties::by_generation(results);
    for (i, (generation, results)) in by_gen.iter().enumerate() {
        assert_eq!(*generation, i as u64, "generations are consecutive from 0");
        assert_one_generation(results, parties);
    }
    by_gen.len() as u64
}

// After the macros, which they use.
pub mod parties;
pub mod staged;
