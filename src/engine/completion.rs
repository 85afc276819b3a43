//! How a sealed generation completes: its action runs, then it is released, and so is any
//! following generation that filled up meanwhile (SPEC rule 4).

use crate::engine::ends::Signal;
use crate::engine::state::Seal;
use crate::engine::sync::lock;
use crate::{Barrier, BarrierWaitResult, WaitError};

impl Barrier {
    /// Runs the action for the sealed generation and releases it (SPEC rule 4), then completes
    /// any following generation that filled up meanwhile (its pending leader is waiting).
    pub(crate) fn complete(&self, seal: Seal) -> Result<BarrierWaitResult, WaitError> {
        let (generation, mut handoff) = self.run_and_release(seal.epoch, false)?;
        while let Some(epoch) = handoff {
            handoff = self
                .run_and_release(epoch, true)
                .ok()
                .and_then(|(_, next)| next);
        }
        Ok(BarrierWaitResult {
            index: seal.index,
            generation,
            leader: true,
        })
    }

    /// Runs the action for the sealed generation `epoch`, then releases it or, if the action
    /// panicked, breaks the barrier. Returns the generation's number and, if the following
    /// generation filled up meanwhile, its epoch, for the caller to complete it. A panic resumes
    /// here unless `for_pending_leader`, in which case it is kept for the pending leader.
    fn run_and_release(
        &self,
        epoch: u64,
        for_pending_leader: bool,
    ) -> Result<(u64, Option<u64>), WaitError> {
        let ran = match &self.action {
            None => Ok(()),
            Some(action) => {
                let mut action = lock(action);
                // Broken or reset since it was sealed: it gets no action (its parties already
                // have `Broken`).
                if !self.lock_state().is_completing(epoch) {
                    return Err(WaitError::Broken);
                }
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (*action)()))
            }
        };
        let mut st = self.lock_state();
        // Broken or reset while the action ran?
        let ours = st.is_completing(epoch);
        match ran {
            Ok(()) if ours => {
                let (generation, woken) = self.release(&mut st);
                let handoff = st.current.is_full(self.parties).then_some(st.current.epoch);
                drop(st);
                woken.wake(self);
                Ok((generation, handoff))
            }
            Ok(()) => Err(WaitError::Broken),
            Err(payload) => {
                let woken = ours.then(|| self.break_locked(&mut st, Signal::Panicked));
                let resume = if for_pending_leader {
                    // The pending leader finds it when `Panicked` wakes it.
                    st.handoff_panic = ours.then_some(payload);
                    None
                } else {
                    Some(payload)
                };
                drop(st);
                if let Some(woken) = woken {
                    woken.wake(self);
                }
                match resume {
                    Some(payload) => std::panic::resume_unwind(payload),
                    None => Err(WaitError::Broken),
                }
            }
        }
    }
}
