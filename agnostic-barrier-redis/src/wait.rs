//! The wait futures.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use agnostic_barrier::BarrierWaitResult;
use event_listener::EventListener;
use pin_project_lite::pin_project;
use redis::RedisResult;

use crate::barrier::Timer;
use crate::error::{Broken, RedisWaitError};
use crate::runtime::BoxFuture;
use crate::scripts::Status;
use crate::session::{outcome, Seen};
use crate::RedisBarrier;

type Output = Result<BarrierWaitResult, RedisWaitError>;

/// The future returned by [`RedisBarrier::wait`].
///
/// It resolves once its generation completes; see [`RedisBarrier::wait`] for its errors and
/// what dropping it does. It is `Unpin`, so it can be polled in a `select!` without pinning.
///
/// # Examples
///
/// ```no_run
/// # async fn run(barrier: agnostic_barrier_redis::RedisBarrier) {
/// let wait = barrier.wait(); // nothing happens until it is polled
/// let passed = wait.await;
/// # }
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct RedisWait<'a> {
    barrier: &'a RedisBarrier,
    state: State,
    /// Whether the handle's default timeout applies (a per-call timeout replaces it).
    default_timeout: bool,
    timer: Option<Timer>,
    /// The deadline has completed (it is not polled again).
    deadline_passed: bool,
}

enum State {
    Unpolled,
    /// Arrived (or arriving); waiting for the entry to end or to lead.
    Waiting {
        id: Arc<str>,
        listener: Option<EventListener>,
    },
    /// The action ran; releasing the generation in Redis.
    Releasing {
        id: Arc<str>,
        epoch: String,
        call: BoxFuture<RedisResult<(String, Status)>>,
        failing_since: Option<Instant>,
    },
    /// The action panicked; breaking the barrier before the panic resumes.
    Panicked {
        id: Arc<str>,
        call: BoxFuture<Result<(), RedisWaitError>>,
        payload: Option<Box<dyn Any + Send>>,
    },
    /// The deadline passed; settling it in Redis.
    Expiring {
        id: Arc<str>,
        call: BoxFuture<RedisResult<(String, Status)>>,
    },
    Done,
}

impl<'a> RedisWait<'a> {
    pub(crate) fn new(barrier: &'a RedisBarrier) -> Self {
        RedisWait {
            barrier,
            state: State::Unpolled,
            default_timeout: true,
            timer: None,
            deadline_passed: false,
        }
    }

    /// Races this wait against `deadline` (any future; its output is ignored), breaking the
    /// barrier if the deadline wins: the Python and Java rule, across processes.
    ///
    /// When `deadline` completes before this party's generation completes, the break is settled
    /// in Redis: if the generation was already released (or broken) by then, the wait returns
    /// that outcome; otherwise the barrier breaks, this party gets
    /// [`TimedOut`](RedisWaitError::TimedOut) and every other waiting party gets
    /// [`Broken`](RedisWaitError::Broken) with [`TimedOut`](crate::BreakReason::TimedOut). If
    /// Redis cannot be reached then, the wait returns [`Redis`](RedisWaitError::Redis) and its
    /// arrival is withdrawn as a drop does. The deadline replaces the handle's default timeout.
    ///
    /// To give up *without* breaking the barrier, drop the wait instead (e.g.
    /// `tokio::time::timeout(d, barrier.wait())`).
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future does what dropping the [`RedisWait`] does.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use agnostic_barrier_redis::RedisWaitError;
    ///
    /// # async fn run(barrier: agnostic_barrier_redis::RedisBarrier) {
    /// let result = barrier.wait().timeout(tokio::time::sleep(Duration::from_secs(5))).await;
    /// if let Err(RedisWaitError::TimedOut) = result {
    ///     // the barrier is now broken for everyone
    /// }
    /// # }
    /// ```
    pub fn timeout<D: Future>(mut self, deadline: D) -> RedisWaitTimeout<'a, D> {
        self.default_timeout = false;
        self.timer = None;
        RedisWaitTimeout {
            wait: self,
            deadline,
        }
    }

    /// Drives the wait; `deadline` polls the deadline and says whether it has passed.
    fn poll_wait(
        &mut self,
        cx: &mut Context<'_>,
        deadline: &mut dyn FnMut(&mut Context<'_>) -> bool,
    ) -> Poll<Output> {
        let session = &self.barrier.session;
        loop {
            match &mut self.state {
                State::Unpolled => {
                    let id: Arc<str> = crate::keys::random_id().into();
                    session.hub.arrive(id.clone());
                    self.state = State::Waiting { id, listener: None };
                }
                State::Waiting { id, listener } => match session.hub.seen(id) {
                    Seen::Done(result) => return self.finish(result),
                    Seen::Lead => {
                        let id = id.clone();
                        self.lead(id);
                    }
                    Seen::Pending => {
                        if let Some(l) = listener {
                            if Pin::new(l).poll(cx).is_ready() {
                                *listener = None;
                                continue;
                            }
                            if !self.deadline_passed {
                                self.deadline_passed = deadline(cx);
                            }
                            // The deadline acts once the arrival's reply is in, so that the
                            // party completing the generation succeeds even against a deadline
                            // that is ready at once (SPEC rule 9).
                            if self.deadline_passed && session.hub.epoch(id).is_some() {
                                let id = id.clone();
                                self.expire(id);
                                continue;
                            }
                            return Poll::Pending;
                        }
                        // Listen first, then look again, so no change is missed.
                        *listener = Some(session.hub.changed.listen());
                    }
                },
                State::Releasing {
                    id,
                    epoch,
                    call,
                    failing_since,
                } => {
                    let result = match call.as_mut().poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(result) => result,
                    };
                    let status = match result {
                        Ok((now, _)) if now != *epoch => Status::Lost,
                        Ok((_, status)) => status,
                        Err(error) => {
                            let since = *failing_since.get_or_insert_with(Instant::now);
                            if since.elapsed() >= session.config.lease {
                                // Our lease lapses now: the others get PartyLost.
                                session.hub.forget(id);
                                return self.finish(Err(RedisWaitError::Redis(error)));
                            }
                            let (s, id, epoch) = (session.clone(), id.clone(), epoch.clone());
                            let slot = s.hub.slot(&id).unwrap_or_default();
                            *call = Box::pin(async move {
                                s.rt.sleep(s.config.retry_pause()).await;
                                s.release(&id, &slot, &epoch).await
                            });
                            continue;
                        }
                    };
                    session.hub.forget(id);
                    return self.finish(outcome(status));
                }
                State::Panicked { id, call, payload } => {
                    if call.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    // The break is in Redis: the lease may stop now.
                    session.hub.forget(id);
                    let payload = payload.take().expect("the panic resumes once");
                    self.state = State::Done;
                    panic::resume_unwind(payload);
                }
                State::Expiring { id, call } => {
                    let result = match call.as_mut().poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(result) => result,
                    };
                    let id = id.clone();
                    let epoch = session.hub.epoch(&id);
                    let result = match result {
                        Ok((now, _)) if epoch.is_some_and(|e| e != now) => {
                            Err(RedisWaitError::Broken(Broken::state_lost()))
                        }
                        Ok((_, status)) => outcome(status),
                        Err(error) => {
                            // Withdrawn as a drop does, once Redis is back.
                            session.hub.abandon(&id);
                            return self.finish(Err(RedisWaitError::Redis(error)));
                        }
                    };
                    session.hub.forget(&id);
                    return self.finish(result);
                }
                State::Done => panic!("`RedisWait` polled after it completed"),
            }
        }
    }

    /// Our turn as leader: run the action (here, in the leader's poll), then release.
    fn lead(&mut self, id: Arc<str>) {
        let barrier = self.barrier;
        if let Some(action) = &barrier.action {
            let mut action = action.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| (*action)())) {
                drop(action);
                // The lease goes on being renewed until the break reaches Redis: if it lapsed
                // first, the others would see `PartyLost` instead of `ActionPanicked`.
                let session = barrier.session.clone();
                self.state = State::Panicked {
                    id,
                    call: Box::pin(async move { session.control("panicked").await }),
                    payload: Some(payload),
                };
                return;
            }
        }
        let (epoch, slot) = barrier.session.hub.epoch_and_slot(&id);
        let (s, i, e) = (barrier.session.clone(), id.clone(), epoch.clone());
        self.state = State::Releasing {
            id,
            epoch,
            call: Box::pin(async move { s.release(&i, &slot, &e).await }),
            failing_since: None,
        };
    }

    /// The deadline passed while waiting: settle it in Redis.
    fn expire(&mut self, id: Arc<str>) {
        let session = self.barrier.session.clone();
        let (epoch, slot) = session.hub.epoch_and_slot(&id);
        let i = id.clone();
        self.state = State::Expiring {
            id,
            call: Box::pin(async move { session.expire(&i, &slot, &epoch).await }),
        };
    }

    fn finish(&mut self, result: Output) -> Poll<Output> {
        self.state = State::Done;
        Poll::Ready(result)
    }
}

impl Future for RedisWait<'_> {
    type Output = Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Output> {
        let this = self.get_mut();
        if matches!(this.state, State::Unpolled) && this.default_timeout {
            if let Some(timeout) = &this.barrier.timeout {
                this.timer = Some((timeout.sleep)(timeout.duration));
            }
        }
        let mut timer = this.timer.take();
        let result = this.poll_wait(cx, &mut |cx| {
            timer
                .as_mut()
                .is_some_and(|timer| timer.as_mut().poll(cx).is_ready())
        });
        this.timer = timer;
        result
    }
}

impl Drop for RedisWait<'_> {
    fn drop(&mut self) {
        let hub = &self.barrier.session.hub;
        match std::mem::replace(&mut self.state, State::Done) {
            State::Waiting { id, .. } | State::Expiring { id, .. } => hub.abandon(&id),
            State::Releasing { id, epoch, .. } => hub.release_later(id, epoch),
            State::Panicked { id, .. } => {
                hub.forget(&id);
                hub.panicked_later();
            }
            State::Unpolled | State::Done => {}
        }
    }
}

impl fmt::Debug for RedisWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("RedisWait { .. }")
    }
}

pin_project! {
    /// The future returned by [`RedisWait::timeout`]: a wait that breaks the barrier if its
    /// deadline completes first.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// # async fn run(barrier: agnostic_barrier_redis::RedisBarrier) {
    /// let wait = barrier.wait().timeout(tokio::time::sleep(Duration::from_secs(1)));
    /// let result = wait.await;
    /// # }
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct RedisWaitTimeout<'a, D> {
        wait: RedisWait<'a>,
        #[pin]
        deadline: D,
    }
}

impl<D: Future> Future for RedisWaitTimeout<'_, D> {
    type Output = Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Output> {
        let this = self.project();
        let mut deadline = this.deadline;
        this.wait
            .poll_wait(cx, &mut |cx| deadline.as_mut().poll(cx).is_ready())
    }
}

impl<D> fmt::Debug for RedisWaitTimeout<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("RedisWaitTimeout { .. }")
    }
}
