//! The wait futures.

use core::fmt;
use core::future::Future;
use core::mem;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::builder::Timer;
use crate::engine::{Arrival, Ticket};
use crate::{Barrier, BarrierWaitResult, WaitError};

/// The future returned by [`Barrier::wait`].
///
/// It resolves to `Ok(BarrierWaitResult)` once its generation completes; see
/// [`Barrier::wait`] for its errors and what dropping it does. It is `Unpin`, so it can be polled
/// by hand or in a `select!` without pinning.
///
/// # Examples
///
/// ```
/// use agnostic_barrier::Barrier;
///
/// let barrier = Barrier::new(1);
/// let wait = barrier.wait(); // nothing happens until it is polled
/// assert_eq!(barrier.n_waiting(), 0);
/// assert!(futures::executor::block_on(wait).unwrap().is_leader());
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    state: WaitState,
    /// Whether the barrier's default timeout applies (a per-call timeout replaces it).
    default_timeout: bool,
}

enum WaitState {
    Unpolled,
    Waiting {
        ticket: Ticket,
        /// The default timeout's timer, if the barrier has one.
        timer: Option<Timer>,
    },
    Done,
}

impl<'a> BarrierWait<'a> {
    pub(crate) fn new(barrier: &'a Barrier) -> Self {
        BarrierWait {
            barrier,
            state: WaitState::Unpolled,
            default_timeout: true,
        }
    }

    /// Races this wait against `deadline` (any future; its output is ignored), breaking the
    /// barrier if the deadline wins: the Python and Java rule.
    ///
    /// If `deadline` completes before this party's generation completes, the barrier is broken
    /// as by [`Barrier::abort`]: this party gets [`WaitError::TimedOut`] and every other waiting
    /// party [`WaitError::Broken`]. If the generation completed first, even within the same
    /// poll, the result is `Ok`. A deadline that is ready at once breaks the barrier at once,
    /// unless this party is the one that completes the generation, which succeeds. The deadline
    /// replaces the barrier's [default timeout](crate::BarrierBuilder::timeout).
    ///
    /// To give up *without* breaking the barrier, drop the wait instead, e.g. with
    /// `tokio::time::timeout(d, barrier.wait())`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future does what dropping the [`BarrierWait`] does (see
    /// [`Barrier::wait`]): it withdraws the arrival quietly, and the deadline plays no part.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use agnostic_barrier::{Barrier, WaitError};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let barrier = Barrier::new(2);
    /// let result = barrier.wait().timeout(tokio::time::sleep(Duration::from_millis(10))).await;
    /// assert_eq!(result, Err(WaitError::TimedOut));
    /// assert!(barrier.is_broken());
    /// # });
    /// ```
    pub fn timeout<D: Future>(mut self, deadline: D) -> WaitTimeout<'a, D> {
        self.default_timeout = false;
        if let WaitState::Waiting { timer, .. } = &mut self.state {
            *timer = None;
        }
        WaitTimeout {
            wait: self,
            deadline,
        }
    }

    /// Arrives on the first poll, then polls for the release; leaves deadlines to the caller.
    fn poll_release(&mut self, cx: &mut Context<'_>) -> Poll<Result<BarrierWaitResult, WaitError>> {
        let ticket = match &mut self.state {
            WaitState::Waiting { ticket, .. } => ticket,
            WaitState::Done => panic!("`BarrierWait` polled after it completed"),
            WaitState::Unpolled => match self.barrier.arrive(Some(cx.waker())) {
                Arrival::Broken => return self.finish(Err(WaitError::Broken)),
                Arrival::Passed(result) => return self.finish(Ok(result)),
                Arrival::Lead(seal) => {
                    // Mark the future done first: if the action panics, its drop must not
                    // try to withdraw.
                    self.state = WaitState::Done;
                    return Poll::Ready(self.barrier.complete(seal));
                }
                Arrival::Wait(ticket) => {
                    let timer = match &self.barrier.timeout {
                        Some(timeout) if self.default_timeout && ticket.can_time_out() => {
                            Some(timeout.timer())
                        }
                        _ => None,
                    };
                    self.state = WaitState::Waiting { ticket, timer };
                    let WaitState::Waiting { ticket, .. } = &mut self.state else {
                        unreachable!()
                    };
                    ticket
                }
            },
        };
        match self.barrier.poll_ticket(ticket, cx.waker()) {
            Poll::Ready(result) => self.finish(result),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Whether a deadline can still break the barrier for this party.
    fn can_time_out(&self) -> bool {
        matches!(&self.state, WaitState::Waiting { ticket, .. } if ticket.can_time_out())
    }

    /// The deadline passed: time out unless the generation completed first.
    fn expire(&mut self) -> Poll<Result<BarrierWaitResult, WaitError>> {
        let WaitState::Waiting { ticket, .. } = mem::replace(&mut self.state, WaitState::Done)
        else {
            unreachable!("only a waiting party expires")
        };
        Poll::Ready(self.barrier.expire(&ticket))
    }

    fn finish(
        &mut self,
        result: Result<BarrierWaitResult, WaitError>,
    ) -> Poll<Result<BarrierWaitResult, WaitError>> {
        self.state = WaitState::Done;
        Poll::Ready(result)
    }
}

impl Future for BarrierWait<'_> {
    type Output = Result<BarrierWaitResult, WaitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(result) = this.poll_release(cx) {
            return Poll::Ready(result);
        }
        if let WaitState::Waiting {
            timer: Some(timer), ..
        } = &mut this.state
        {
            if timer.as_mut().poll(cx).is_ready() {
                return this.expire();
            }
        }
        Poll::Pending
    }
}

// `BarrierWait` is `Unpin` (it holds no pinned data; the timer is boxed), so withdrawal can
// live in a plain `Drop` rather than `PinnedDrop`.
impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if let WaitState::Waiting { ticket, .. } = &mut self.state {
            self.barrier.withdraw(ticket);
        }
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("BarrierWait { .. }")
    }
}

pin_project! {
    /// The future returned by [`BarrierWait::timeout`]: a barrier wait that breaks the barrier
    /// if its deadline completes first.
    ///
    /// # Examples
    ///
    /// ```
    /// use agnostic_barrier::Barrier;
    ///
    /// let barrier = Barrier::new(1);
    /// // The completing party succeeds even against a deadline that is ready at once.
    /// let passed = futures::executor::block_on(barrier.wait().timeout(async {}));
    /// assert!(passed.unwrap().is_leader());
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct WaitTimeout<'a, D> {
        wait: BarrierWait<'a>,
        #[pin]
        deadline: D,
    }
}

impl<D: Future> Future for WaitTimeout<'_, D> {
    type Output = Result<BarrierWaitResult, WaitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(result) = this.wait.poll_release(cx) {
            return Poll::Ready(result);
        }
        if this.wait.can_time_out() && this.deadline.poll(cx).is_ready() {
            return this.wait.expire();
        }
        Poll::Pending
    }
}

impl<D> fmt::Debug for WaitTimeout<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("WaitTimeout { .. }")
    }
}
