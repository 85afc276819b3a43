//! The builder of a [`RedisBarrier`].

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::barrier::{Action, DefaultTimeout};
use crate::error::RedisWaitError;
use crate::keys::{default_party, Keys};
use crate::session::{Config, Session};
use crate::RedisBarrier;

/// Configures and connects a [`RedisBarrier`]; made by [`RedisBarrier::builder`].
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use agnostic_barrier_redis::RedisBarrier;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = redis::Client::open("redis://127.0.0.1/")?;
/// let barrier = RedisBarrier::builder("nightly-load-test", 8)
///     .party("generator-3")
///     .lease(Duration::from_secs(5))
///     .timeout(Duration::from_secs(60), tokio::time::sleep)
///     .action(|| println!("all 8 generators ready"))
///     .connect(client)
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until `connect()` is called"]
pub struct RedisBarrierBuilder {
    name: String,
    parties: usize,
    party: Option<String>,
    lease: Duration,
    timeout: Option<DefaultTimeout>,
    action: Option<Action>,
}

impl RedisBarrierBuilder {
    pub(crate) fn new(name: String, parties: usize) -> Self {
        RedisBarrierBuilder {
            name,
            parties,
            party: None,
            lease: Duration::from_secs(10),
            timeout: None,
            action: None,
        }
    }

    /// Names this handle's party: the label that [`waiting()`](RedisBarrier::waiting) and
    /// [`Broken::by`](crate::Broken::by) show. Names need not be unique. Default: the host name,
    /// the process id and a random suffix.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = agnostic_barrier_redis::RedisBarrier::builder("b", 2).party("worker-7");
    /// ```
    pub fn party(mut self, name: impl Into<String>) -> Self {
        self.party = Some(name.into());
        self
    }

    /// Sets the lease of this handle's arrivals (default 10 s): renewed every `lease / 3` while
    /// a wait is pending, so an arrival whose process dies, freezes or is cut off is found lost
    /// within one lease plus one renewal interval, and the barrier breaks with
    /// [`PartyLost`](crate::BreakReason::PartyLost). Keys live at least `max(10 × lease, 60 s)`
    /// after their last use. A wait whose Redis calls keep failing gives up after one lease.
    ///
    /// # Panics
    ///
    /// If `lease` is under 100 ms.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = agnostic_barrier_redis::RedisBarrier::builder("b", 2)
    ///     .lease(Duration::from_secs(2));
    /// ```
    #[track_caller]
    pub fn lease(mut self, lease: Duration) -> Self {
        assert!(
            lease >= Duration::from_millis(100),
            "RedisBarrierBuilder::lease: the lease must be at least 100 ms, got {lease:?}"
        );
        self.lease = lease;
        self
    }

    /// Gives every wait a default timeout, as the core builder's does: if `timeout` passes after
    /// a party arrived and before its generation completed, the barrier breaks, that party gets
    /// [`TimedOut`](RedisWaitError::TimedOut) and every other waiting party, in any process,
    /// gets [`Broken`](RedisWaitError::Broken) with [`TimedOut`](crate::BreakReason::TimedOut).
    /// `sleep` makes the timer (`tokio::time::sleep`, `async_io::Timer::after`, ..). A per-call
    /// [`RedisWait::timeout`](crate::RedisWait::timeout) replaces it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = agnostic_barrier_redis::RedisBarrier::builder("b", 2)
    ///     .timeout(Duration::from_secs(30), tokio::time::sleep);
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

    /// Runs `action` once per generation in the leader's process (the party whose arrival
    /// completed it), before any party of that generation is released; the generation completes
    /// when Redis records the release after the action returns. If it panics, the barrier
    /// breaks with [`ActionPanicked`](crate::BreakReason::ActionPanicked) and the panic resumes
    /// in the leader's wait. The action cannot await the barrier's own async methods.
    ///
    /// # Blocking
    ///
    /// It runs inside the leader's `poll`. Leases are renewed meanwhile by the background work;
    /// on a single-thread runtime it must be shorter than the lease.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = agnostic_barrier_redis::RedisBarrier::builder("b", 2)
    ///     .action(|| println!("phase done"));
    /// ```
    pub fn action<F: FnMut() + Send + 'static>(mut self, action: F) -> Self {
        self.action = Some(Box::new(action));
        self
    }

    /// Connects to Redis through `client`, subscribes to the barrier's channel, and creates the
    /// barrier's record if Redis has none. The handle's background work (lease renewal, the
    /// subscription, withdrawals) runs on tokio inside a tokio runtime, on smol otherwise.
    ///
    /// The handle uses RESP3 on one connection (commands and the subscription), reconnecting
    /// and resubscribing on its own; `client`'s address, credentials and database are kept.
    ///
    /// # Errors
    ///
    /// [`Mismatch`](RedisWaitError::Mismatch) if the barrier exists in Redis with another number
    /// of parties; [`Redis`](RedisWaitError::Redis) if Redis cannot be reached in time, refuses
    /// the credentials or a command, or (with the `tokio` feature alone) outside a tokio
    /// runtime.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = redis::Client::open("redis://:secret@127.0.0.1:6379/")?;
    /// let barrier = agnostic_barrier_redis::RedisBarrier::builder("b", 2).connect(client).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(self, client: redis::Client) -> Result<RedisBarrier, RedisWaitError> {
        let config = Config {
            keys: Keys::new(&self.name),
            name: self.name,
            party: self.party.unwrap_or_else(default_party),
            parties: self.parties,
            lease: self.lease,
            has_action: self.action.is_some(),
        };
        let session = Session::connect(client, config).await?;
        Ok(RedisBarrier::new(session, self.action, self.timeout))
    }
}

impl fmt::Debug for RedisBarrierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBarrierBuilder")
            .field("name", &self.name)
            .field("parties", &self.parties)
            .field("party", &self.party)
            .field("lease", &self.lease)
            .field("timeout", &self.timeout.as_ref().map(|t| t.duration))
            .field("action", &self.action.is_some())
            .finish()
    }
}
