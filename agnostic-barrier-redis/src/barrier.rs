//! The barrier handle.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use crate::builder::RedisBarrierBuilder;
use crate::error::RedisWaitError;
use crate::session::Session;
use crate::wait::RedisWait;

pub(crate) type Action = Box<dyn FnMut() + Send>;
pub(crate) type Timer = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The builder's default timeout.
pub(crate) struct DefaultTimeout {
    pub(crate) duration: Duration,
    pub(crate) sleep: Box<dyn Fn(Duration) -> Timer + Send + Sync>,
}

/// A barrier kept in Redis, shared by parties in any number of processes and hosts.
///
/// Each handle connects once ([`RedisBarrier::builder`] … [`connect`](RedisBarrierBuilder::connect))
/// and can serve many waits; every [`wait()`](RedisBarrier::wait) is one party. The semantics
/// are those of [`agnostic_barrier::Barrier`] across processes: arrival index, leader, an action
/// run once per generation, deadlines that break the barrier, `abort()`, `reset()`, and a wait
/// that is withdrawn when it is dropped. Arrivals hold leases in Redis's clock, so a party whose
/// process dies or freezes breaks the barrier with
/// [`PartyLost`](crate::BreakReason::PartyLost) instead of hanging the others.
///
/// # Examples
///
/// ```no_run
/// use agnostic_barrier_redis::RedisBarrier;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// // In each of 4 worker processes:
/// let client = redis::Client::open("redis://127.0.0.1/")?;
/// let barrier = RedisBarrier::builder("job-42/init", 4).connect(client).await?;
/// // ... initialize this worker ...
/// let passed = barrier.wait().await?;   // every worker initialized
/// if passed.is_leader() {
///     println!("all 4 workers ready");
/// }
/// barrier.close().await?;
/// # Ok(()) }
/// ```
pub struct RedisBarrier {
    pub(crate) session: Session,
    pub(crate) action: Option<Mutex<Action>>,
    pub(crate) timeout: Option<DefaultTimeout>,
}

impl RedisBarrier {
    pub(crate) fn new(
        session: Session,
        action: Option<Action>,
        timeout: Option<DefaultTimeout>,
    ) -> Self {
        RedisBarrier {
            session,
            action: action.map(Mutex::new),
            timeout,
        }
    }

    /// Starts building a handle on the barrier `name` for `parties` parties.
    ///
    /// # Panics
    ///
    /// If `parties` is 0 or `name` is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = agnostic_barrier_redis::RedisBarrier::builder("phase", 3);
    /// ```
    #[track_caller]
    pub fn builder(name: impl Into<String>, parties: usize) -> RedisBarrierBuilder {
        let name = name.into();
        assert!(!name.is_empty(), "RedisBarrier::builder: the name is empty");
        assert!(
            parties > 0,
            "RedisBarrier::builder: parties must be at least 1"
        );
        RedisBarrierBuilder::new(name, parties)
    }

    /// Waits until `parties` parties, in any processes, have arrived.
    ///
    /// The party arrives when the future is first polled. It resolves to the core's
    /// [`BarrierWaitResult`](crate::BarrierWaitResult): a distinct index in `0..parties`
    /// (arrival order without withdrawals), whether this party is the leader (its arrival
    /// completed the generation, and it ran the action), and the generation.
    ///
    /// # Errors
    ///
    /// - [`Broken`](RedisWaitError::Broken) if the barrier is broken or breaks while this party
    ///   waits: aborted, reset, another party's deadline, a lost party (its lease lapsed), a
    ///   panicking action, or the state lost in Redis;
    /// - [`TimedOut`](RedisWaitError::TimedOut) if this wait's deadline broke it;
    /// - [`Mismatch`](RedisWaitError::Mismatch) if Redis now holds another number of parties;
    /// - [`Redis`](RedisWaitError::Redis) if this wait's calls kept failing for one lease.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before its first poll does nothing. Dropping it after, before its
    /// generation was sealed, withdraws the arrival (the generation then needs one more),
    /// whether or not Redis has answered the arrival yet; the withdrawal is handed to the
    /// handle's background work, so the drop never blocks, and it reaches Redis before any later
    /// arrival of this handle. Once the generation is sealed a drop withdraws nothing, except
    /// that dropping the leader's wait before it ran the action breaks the barrier with
    /// [`PartyLost`](crate::BreakReason::PartyLost).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(barrier: agnostic_barrier_redis::RedisBarrier) -> Result<(), agnostic_barrier_redis::RedisWaitError> {
    /// let passed = barrier.wait().await?;
    /// println!("shard {} of generation {}", passed.index(), passed.generation());
    /// # Ok(()) }
    /// ```
    pub fn wait(&self) -> RedisWait<'_> {
        RedisWait::new(self)
    }

    /// Breaks the barrier: every party waiting, in every process, gets
    /// [`Broken`](RedisWaitError::Broken) with [`Aborted`](crate::BreakReason::Aborted) naming
    /// this handle's party, and every later wait fails at once until [`reset()`](Self::reset).
    ///
    /// # Errors
    ///
    /// [`Redis`](RedisWaitError::Redis) if Redis could not be reached in time.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(barrier: agnostic_barrier_redis::RedisBarrier) -> Result<(), agnostic_barrier_redis::RedisWaitError> {
    /// barrier.abort().await?;
    /// assert!(barrier.is_broken().await?);
    /// # Ok(()) }
    /// ```
    pub async fn abort(&self) -> Result<(), RedisWaitError> {
        self.session.control("abort").await
    }

    /// Gives every waiting party [`Broken`](RedisWaitError::Broken) with
    /// [`Reset`](crate::BreakReason::Reset), then leaves the barrier intact and empty, its
    /// generation one past the one it broke.
    ///
    /// # Errors
    ///
    /// [`Redis`](RedisWaitError::Redis) if Redis could not be reached in time.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(barrier: agnostic_barrier_redis::RedisBarrier) -> Result<(), agnostic_barrier_redis::RedisWaitError> {
    /// barrier.reset().await?;
    /// assert!(!barrier.is_broken().await?);
    /// # Ok(()) }
    /// ```
    pub async fn reset(&self) -> Result<(), RedisWaitError> {
        self.session.control("reset").await
    }

    /// Whether the barrier is broken (`false` if Redis holds no record of it).
    ///
    /// # Errors
    ///
    /// [`Redis`](RedisWaitError::Redis) if Redis could not be reached in time.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(barrier: agnostic_barrier_redis::RedisBarrier) -> Result<(), agnostic_barrier_redis::RedisWaitError> {
    /// if barrier.is_broken().await? {
    ///     barrier.reset().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn is_broken(&self) -> Result<bool, RedisWaitError> {
        Ok(self.session.info(false).await?.broken.is_some())
    }

    /// The number of arrivals not yet released, in every process (0 if Redis holds no record).
    ///
    /// # Errors
    ///
    /// [`Redis`](RedisWaitError::Redis) if Redis could not be reached in time.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(barrier: agnostic_barrier_redis::RedisBarrier) -> Result<(), agnostic_barrier_redis::RedisWaitError> {
    /// println!("{} of {} here", barrier.n_waiting().await?, barrier.parties());
    /// # Ok(()) }
    /// ```
    pub async fn n_waiting(&self) -> Result<usize, RedisWaitError> {
        Ok(self.session.info(false).await?.waiting.len())
    }

    /// The generation number: 0 at first, one more at each completed generation and each
    /// [`reset()`](Self::reset) (0 if Redis holds no record).
    ///
    /// # Errors
    ///
    /// [`Redis`](RedisWaitError::Redis) if Redis could not be reached in time.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(barrier: agnostic_barrier_redis::RedisBarrier) -> Result<(), agnostic_barrier_redis::RedisWaitError> {
    /// let generation = barrier.generation().await?;
    /// # Ok(()) }
    /// ```
    pub async fn generation(&self) -> Result<u64, RedisWaitError> {
        Ok(self.session.info(false).await?.generation)
    }

    /// The party names of the arrivals not yet released, one per arrival, in arrival order.
    ///
    /// # Errors
    ///
    /// [`Redis`](RedisWaitError::Redis) if Redis could not be reached in time.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(barrier: agnostic_barrier_redis::RedisBarrier) -> Result<(), agnostic_barrier_redis::RedisWaitError> {
    /// println!("still waiting: {:?}", barrier.waiting().await?);
    /// # Ok(()) }
    /// ```
    pub async fn waiting(&self) -> Result<Vec<String>, RedisWaitError> {
        Ok(self.session.info(false).await?.waiting)
    }

    /// Closes the handle: withdraws what is pending (the withdrawals of dropped waits), stops
    /// renewing and unsubscribes. Dropping the handle does the same without waiting for it.
    ///
    /// # Errors
    ///
    /// None yet: withdrawals that cannot reach Redis within one lease are given up (their
    /// leases lapse). The `Result` leaves room for reporting them.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(barrier: agnostic_barrier_redis::RedisBarrier) -> Result<(), agnostic_barrier_redis::RedisWaitError> {
    /// barrier.close().await?;
    /// # Ok(()) }
    /// ```
    pub async fn close(self) -> Result<(), RedisWaitError> {
        self.session.hub.close();
        self.session.closed().await;
        Ok(())
    }

    /// The number of parties this handle connected with (the same as Redis holds).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(barrier: agnostic_barrier_redis::RedisBarrier) {
    /// assert_eq!(barrier.parties(), 4);
    /// # }
    /// ```
    #[must_use]
    pub fn parties(&self) -> usize {
        self.session.config.parties
    }

    /// The barrier's name.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(barrier: agnostic_barrier_redis::RedisBarrier) {
    /// println!("barrier {}", barrier.name());
    /// # }
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.session.config.name
    }

    /// This handle's party name.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(barrier: agnostic_barrier_redis::RedisBarrier) {
    /// println!("I am {}", barrier.party());
    /// # }
    /// ```
    #[must_use]
    pub fn party(&self) -> &str {
        &self.session.config.party
    }

    /// The lease of this handle's arrivals.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(barrier: agnostic_barrier_redis::RedisBarrier) {
    /// println!("lease {:?}", barrier.lease());
    /// # }
    /// ```
    #[must_use]
    pub fn lease(&self) -> Duration {
        self.session.config.lease
    }
}

impl Drop for RedisBarrier {
    fn drop(&mut self) {
        self.session.hub.close();
    }
}

impl fmt::Debug for RedisBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBarrier")
            .field("name", &self.name())
            .field("parties", &self.parties())
            .field("party", &self.party())
            .field("lease", &self.lease())
            .finish_non_exhaustive()
    }
}
