use alloc::boxed::Box;
use core::fmt;
use core::future::Future;
use core::panic::{RefUnwindSafe, UnwindSafe};
use core::pin::Pin;
use core::time::Duration;

use crate::barrier::Action;
use crate::engine::sync::Mutex;
use crate::Barrier;

/// A boxed timer future, made by the builder's `sleep` function.
pub(crate) type Timer = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The timeout every wait gets unless it sets its own.
pub(crate) struct DefaultTimeout {
    pub(crate) duration: Duration,
    pub(crate) sleep: Box<dyn Fn(Duration) -> Timer + Send + Sync>,
}

// The sleep function is only called, never left half-way by a panic of ours.
impl UnwindSafe for DefaultTimeout {}
impl RefUnwindSafe for DefaultTimeout {}

impl DefaultTimeout {
    pub(crate) fn timer(&self) -> Timer {
        (self.sleep)(self.duration)
    }
}

/// Builds a [`Barrier`] with an action or a default timeout.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use agnostic_barrier::{Barrier, WaitError};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let barrier = Barrier::builder(2)
///     .action(|| println!("everyone is here"))
///     .timeout(Duration::from_millis(10), tokio::time::sleep)
///     .build();
/// // Nobody else comes: the default timeout breaks the barrier.
/// assert_eq!(barrier.wait().await, Err(WaitError::TimedOut));
/// assert!(barrier.is_broken());
/// # });
/// ```
#[must_use = "a builder does nothing until `build()` is called"]
pub struct BarrierBuilder {
    parties: usize,
    action: Option<Action>,
    timeout: Option<DefaultTimeout>,
}

impl BarrierBuilder {
    pub(crate) fn new(parties: usize) -> Self {
        BarrierBuilder {
            parties,
            action: None,
            timeout: None,
        }
    }

    /// Runs `action` once per generation, on the party whose arrival completes it, before any
    /// party of that generation is released; every party sees its effects when its wait
    /// returns.
    ///
    /// The action may call [`abort()`](Barrier::abort), [`reset()`](Barrier::reset) and the
    /// getters of its own barrier (`abort()` or `reset()` there give the generation's parties
    /// [`Broken`](crate::WaitError::Broken)). It must not wait on its own barrier. If it panics,
    /// the barrier is broken, the other parties get `Broken` and the panic resumes in the
    /// completing party.
    ///
    /// # Blocking
    ///
    /// The action runs inside the completing party's `poll` (or `wait_blocking` call), so keep it
    /// short. It is `FnMut`, so it never runs twice at once: if the barrier is reset while it
    /// runs and the next generation completes before it returns, that generation's completing
    /// party waits for it. A following generation that fills up while it runs is completed
    /// by its own leader (the party whose arrival filled it), which is woken for it once this
    /// generation is released: each generation's action runs on that generation's leader, and
    /// one poll runs at most one action.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use agnostic_barrier::Barrier;
    ///
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let sink = log.clone();
    /// let barrier = Barrier::builder(1).action(move || sink.lock().unwrap().push("step")).build();
    /// futures::executor::block_on(async {
    ///     barrier.wait().await.unwrap();
    ///     barrier.wait().await.unwrap();
    /// });
    /// assert_eq!(*log.lock().unwrap(), ["step", "step"]);
    /// ```
    pub fn action<F: FnMut() + Send + 'static>(mut self, action: F) -> Self {
        self.action = Some(Box::new(action));
        self
    }

    /// Gives every wait a default timeout: if `timeout` passes after a party arrived and before
    /// its generation completed, the barrier is broken, that party gets
    /// [`TimedOut`](crate::WaitError::TimedOut) and the others `Broken` (as
    /// [`BarrierWait::timeout`](crate::BarrierWait::timeout) does).
    ///
    /// `sleep` makes the timer future for async waits, e.g. `tokio::time::sleep`,
    /// `async_std::task::sleep` or `smol::Timer::after` (its output is ignored); it is called
    /// once per waiting party, on its first poll after arriving (the completing party needs no
    /// timer), and its future is boxed: one allocation per waiting party. If `sleep` panics
    /// (`tokio::time::sleep` outside a tokio runtime does), the panic surfaces in that poll; the
    /// party has arrived, and dropping its wait withdraws it. Blocking waits use `timeout` directly. A per-call
    /// timeout ([`BarrierWait::timeout`](crate::BarrierWait::timeout),
    /// [`Barrier::wait_blocking_timeout`]) replaces this default. A timeout too large to add to
    /// the current instant means no limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use agnostic_barrier::{Barrier, WaitError};
    ///
    /// # async_std::task::block_on(async {
    /// let barrier = Barrier::builder(2)
    ///     .timeout(Duration::from_millis(5), async_std::task::sleep)
    ///     .build();
    /// assert_eq!(barrier.wait().await, Err(WaitError::TimedOut));
    /// # });
    /// ```
    pub fn timeout<S, F>(mut self, timeout: Duration, sleep: S) -> Self
    where
        S: Fn(Duration) -> F + Send + Sync + 'static,
        F: Future + Send + 'static,
    {
        self.timeout = Some(DefaultTimeout {
            duration: timeout,
            sleep: Box::new(move |duration| {
                let timer = sleep(duration);
                Box::pin(async move {
                    timer.await;
                })
            }),
        });
        self
    }

    /// Builds the barrier.
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = agnostic_barrier::Barrier::builder(2).build();
    /// assert_eq!(barrier.parties(), 2);
    /// ```
    #[must_use]
    pub fn build(self) -> Barrier {
        Barrier {
            action: self.action.map(Mutex::new),
            timeout: self.timeout,
            ..Barrier::with_parties(self.parties)
        }
    }
}

impl fmt::Debug for BarrierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierBuilder")
            .field("parties", &self.parties)
            .field("action", &self.action.is_some())
            .field("timeout", &self.timeout.as_ref().map(|t| t.duration))
            .finish()
    }
}
