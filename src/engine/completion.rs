//! How a sealed generation completes: the party that claimed it runs the action, then releases
//! it (SPEC rule 4), summoning the leader of the next generation if that one is sealed too.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use crate::engine::state::Seal;
use crate::engine::sync::lock;
use crate::engine::woken::Woken;
use crate::{Barrier, BarrierWaitResult, WaitError};

impl Barrier {
    /// Runs the action for the sealed generation this party claimed, then releases it; or, if
    /// the barrier was broken or reset meanwhile, gives `Broken`. Returns this party's result
    /// and the parties to wake once it is recorded. If the action panics, the barrier is broken,
    /// the others are woken, and the panic resumes here.
    ///
    /// Runs one action: a following generation that filled up meanwhile is completed by its own
    /// leader, which the release summons (SPEC rule 19).
    pub(crate) fn complete(
        &self,
        seal: Seal,
    ) -> (Result<BarrierWaitResult, WaitError>, Option<Woken>) {
        let ran = match &self.action {
            None => Ok(()),
            Some(action) => {
                // `FnMut`: never twice at once. Taken before the state's lock, never inside it.
                let mut action = lock(action);
                // Broken or reset since it was sealed: it gets no action (its parties already
                // have `Broken`).
                if !self.lock_state().is_completing(seal.epoch) {
                    return (Err(WaitError::Broken), None);
                }
                catch_unwind(AssertUnwindSafe(|| (*action)()))
            }
        };
        let mut st = self.lock_state();
        // Broken or reset while the action ran?
        let ours = st.is_completing(seal.epoch);
        match ran {
            Ok(()) if ours => {
                let (generation, woken) = self.release(&mut st);
                let result = BarrierWaitResult {
                    index: seal.index,
                    generation,
                    leader: true,
                };
                (Ok(result), Some(woken))
            }
            Ok(()) => (Err(WaitError::Broken), None),
            Err(payload) => {
                let woken = ours.then(|| self.break_locked(&mut st));
                drop(st);
                if let Some(woken) = woken {
                    // The action's panic is the one to resume, not a waker's.
                    drop(woken.wake_all(self));
                }
                resume_unwind(payload)
            }
        }
    }
}
