//! The wait futures.

use core::fmt;
use core::future::Future;
use core::mem;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;
use sync_wrapper::SyncWrapper;

use crate::builder::Timer;
use crate::engine::woken::Woken;
use crate::engine::{Arrival, Kept, Polled, Ticket};
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
    /// The `Party` this wait belongs to, if any: what a dropped wait cannot use goes back to
    /// it (SPEC rule 16).
    party: Option<&'a mut Option<Kept>>,
    state: WaitState,
    /// Whether the barrier's default timeout applies (a per-call timeout replaces it).
    default_timeout: bool,
    /// Whether a drop before the generation is sealed withdraws the arrival (not for a split
    /// phase arrival, SPEC rule 17, nor an arrival a party kept).
    revocable: bool,
}

enum WaitState {
    Unpolled,
    Waiting {
        ticket: Ticket,
        /// The default timeout's timer, made on first need. Only ever reached through `&mut`,
        /// so the future is `Sync` though the timer need not be.
        timer: Option<SyncWrapper<Timer>>,
    },
    /// The result, recorded before this party wakes others: if a waker panics, the poll
    /// unwinds and the next poll hands the result out (SPEC rule 18).
    Ready(Result<BarrierWaitResult, WaitError>),
    Done,
}

impl<'a> BarrierWait<'a> {
    pub(crate) fn new(barrier: &'a Barrier) -> Self {
        BarrierWait {
            barrier,
            party: None,
            state: WaitState::Unpolled,
            default_timeout: true,
            revocable: true,
        }
    }

    /// The wait of a split-phase arrival (SPEC rule 17): irrevocable.
    pub(crate) fn for_token(
        barrier: &'a Barrier,
        party: Option<&'a mut Option<Kept>>,
        arrival: Result<Kept, WaitError>,
    ) -> Self {
        BarrierWait {
            barrier,
            party,
            state: match arrival {
                Ok(kept) => WaitState::from(kept),
                Err(error) => WaitState::Ready(Err(error)),
            },
            default_timeout: true,
            revocable: false,
        }
    }

    /// A wait that starts from what a party kept (irrevocable, as a token's), or arrives anew
    /// given `None`, and gives back to `party` what it cannot use if dropped.
    pub(crate) fn for_party(
        barrier: &'a Barrier,
        party: Option<&'a mut Option<Kept>>,
        start: Option<Kept>,
    ) -> Self {
        match start {
            Some(kept) => BarrierWait::for_token(barrier, party, Ok(kept)),
            None => {
                let mut wait = BarrierWait::new(barrier);
                wait.party = party;
                wait
            }
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
    /// # Panics
    ///
    /// Polling the returned future after it completed panics. A panic of `deadline`'s `poll`
    /// surfaces in this future's poll; the arrival stays withdrawable.
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
    /// `name` is the future's type, for the panic of a poll after completion.
    fn poll_release(
        &mut self,
        cx: &mut Context<'_>,
        name: &str,
    ) -> Poll<Result<BarrierWaitResult, WaitError>> {
        // The common cases first, lean: a released party, and an arrival without the lock.
        match &self.state {
            WaitState::Waiting { ticket, .. } => {
                if let Some(result) = self.barrier.released(ticket) {
                    self.state = WaitState::Done;
                    return Poll::Ready(Ok(result));
                }
            }
            WaitState::Unpolled => {
                if let Some(ticket) = self.barrier.fast.try_arrive() {
                    if !self.seated(ticket, cx) {
                        return Poll::Pending;
                    } // else look at the ticket below
                }
            }
            _ => {}
        }
        match self.poll_barrier(cx, name) {
            Polled::Orphan(seal) => {
                // A sealed generation whose parties all gave up: complete it first (SPEC rule
                // 19). That is this poll's one action: ask to be polled again for this party's
                // own wait (it has not arrived, or is still waiting).
                let (_, woken) = self.barrier.complete(seal);
                if let Some(woken) = woken {
                    woken.wake(self.barrier);
                }
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            polled => self.settle(polled),
        }
    }

    /// Arrived without the lock: records it (from here on a drop withdraws it), then leaves the
    /// waker in the party's slot. The clone is user code, made after arriving: if it panics,
    /// the arrival is withdrawn with the future. Returns whether to look at the ticket before
    /// sleeping.
    fn seated(&mut self, ticket: Ticket, cx: &mut Context<'_>) -> bool {
        self.state = WaitState::Waiting {
            ticket,
            timer: None,
        };
        let waker = cx.waker().clone();
        let WaitState::Waiting { ticket, .. } = &self.state else {
            unreachable!("just set")
        };
        let (stale, check) = self.barrier.seat(ticket, waker);
        if let Some(stale) = stale {
            stale.wake(); // an ended generation's party, not woken yet
        }
        check
    }

    /// One look at the barrier: arrives if this wait has not, else polls its ticket.
    fn poll_barrier(&mut self, cx: &mut Context<'_>, name: &str) -> Polled {
        match &mut self.state {
            WaitState::Done => panic!("`{name}` polled after it completed"),
            WaitState::Ready(_) => Polled::Pending, // `settle` hands the result out
            // `poll_release` tried the lock-free path. The waker is cloned before the barrier's
            // lock: `clone` is user code.
            WaitState::Unpolled => match self.barrier.enter_locked(Some(cx.waker().clone())) {
                Arrival::Broken => Polled::Ready(Err(WaitError::Broken), None),
                Arrival::NoParties => crate::barrier::no_parties(),
                Arrival::Passed(result, woken) => Polled::Ready(Ok(result), Some(woken)),
                Arrival::Lead(seal) => Polled::Lead(seal),
                Arrival::Orphan(seal) => Polled::Orphan(seal),
                Arrival::Wait {
                    ticket,
                    stale,
                    check,
                } => {
                    // Its waker is in its seat.
                    self.state = WaitState::Waiting {
                        ticket,
                        timer: None,
                    };
                    if let Some(stale) = stale {
                        stale.wake(); // an ended generation's party, not woken yet
                    }
                    match &mut self.state {
                        WaitState::Waiting { ticket, .. } if check => {
                            self.barrier.poll_ticket(ticket, cx.waker())
                        }
                        _ => Polled::Pending,
                    }
                }
            },
            WaitState::Waiting { ticket, .. } => self.barrier.poll_ticket(ticket, cx.waker()),
        }
    }

    /// Acts on what looking at the barrier found (an orphan is the caller's business).
    fn settle(&mut self, polled: Polled) -> Poll<Result<BarrierWaitResult, WaitError>> {
        match polled {
            Polled::Pending if matches!(self.state, WaitState::Ready(_)) => self.take_ready(),
            Polled::Pending => Poll::Pending,
            Polled::Ready(result, None) => {
                self.state = WaitState::Done;
                Poll::Ready(result)
            }
            Polled::Ready(result, woken) => self.finish(result, woken),
            Polled::Lead(seal) => {
                // Done first: if the action panics, this party has nothing left to withdraw.
                self.state = WaitState::Done;
                let (result, woken) = self.barrier.complete(seal);
                self.finish(result, woken)
            }
            Polled::Orphan(_) => unreachable!("handled by `poll_release`"),
        }
    }

    /// Records `result`, wakes `woken` (which may panic), then hands `result` out.
    fn finish(
        &mut self,
        result: Result<BarrierWaitResult, WaitError>,
        woken: Option<Woken>,
    ) -> Poll<Result<BarrierWaitResult, WaitError>> {
        self.state = WaitState::Ready(result);
        if let Some(woken) = woken {
            woken.wake(self.barrier);
        }
        self.take_ready()
    }

    fn take_ready(&mut self) -> Poll<Result<BarrierWaitResult, WaitError>> {
        match mem::replace(&mut self.state, WaitState::Done) {
            WaitState::Ready(result) => Poll::Ready(result),
            _ => unreachable!("a result was recorded"),
        }
    }

    /// Whether a deadline can still break the barrier for this party.
    fn can_time_out(&self) -> bool {
        matches!(&self.state, WaitState::Waiting { ticket, .. } if ticket.can_time_out())
    }

    /// The default timeout's timer, if it applies: made on first need (not for the party that
    /// completes a generation, nor for a leader). Making it calls the builder's `sleep`, user
    /// code: if that panics, this party has arrived, and dropping the future withdraws it.
    fn default_timer(&mut self) -> Option<&mut Timer> {
        if !self.default_timeout {
            return None;
        }
        let timeout = self.barrier.timeout.as_ref()?;
        match &mut self.state {
            WaitState::Waiting { ticket, timer } if ticket.can_time_out() => Some(
                timer
                    .get_or_insert_with(|| SyncWrapper::new(timeout.timer()))
                    .get_mut(),
            ),
            _ => None,
        }
    }

    /// The deadline passed: time out unless the generation completed first (or this party
    /// leads it).
    fn expire(&mut self) -> Poll<Result<BarrierWaitResult, WaitError>> {
        let WaitState::Waiting { ticket, .. } = &mut self.state else {
            unreachable!("only a waiting party expires")
        };
        let polled = self.barrier.expire(ticket);
        self.settle(polled)
    }
}

impl Future for BarrierWait<'_> {
    type Output = Result<BarrierWaitResult, WaitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(result) = this.poll_release(cx, "BarrierWait") {
            return Poll::Ready(result);
        }
        if let Some(timer) = this.default_timer() {
            if timer.as_mut().poll(cx).is_ready() {
                return this.expire();
            }
        }
        Poll::Pending
    }
}

impl From<Kept> for WaitState {
    fn from(kept: Kept) -> Self {
        match kept {
            Kept::Ticket(ticket) => WaitState::Waiting {
                ticket,
                timer: None,
            },
            Kept::Passed(result) => WaitState::Ready(Ok(result)),
        }
    }
}

// `BarrierWait` is `Unpin` (it holds no pinned data; the timer is boxed), so withdrawal can
// live in a plain `Drop` rather than `PinnedDrop`.
impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if matches!(self.state, WaitState::Done | WaitState::Unpolled) {
            return; // the common case: nothing to withdraw or keep
        }
        // The timer is dropped last (dropping it runs user code): the arrival is settled first.
        let (kept, _timer) = match mem::replace(&mut self.state, WaitState::Done) {
            WaitState::Waiting { ticket, timer } => (Kept::Ticket(ticket), timer),
            // A pass recorded but not handed out (a waker panicked in its poll).
            WaitState::Ready(Ok(result)) => (Kept::Passed(result), None),
            WaitState::Unpolled | WaitState::Ready(Err(_)) | WaitState::Done => return,
        };
        self.barrier
            .drop_kept(kept, self.revocable, self.party.as_deref_mut());
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
        if let Poll::Ready(result) = this.wait.poll_release(cx, "WaitTimeout") {
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
