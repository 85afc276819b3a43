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
        // What became of the action: it ran (or panicked), or, `None`, the generation was
        // broken or reset since it was sealed and gets no action (its parties have `Broken`).
        let ran = match &self.action {
            None => Some(Ok(())),
            Some(action) => {
                let completing = self.peek_state().is_completing(seal.epoch);
                completing.then(|| {
                    // `FnMut`, never run twice at once: no other party runs one while
                    // `State::acting`, so this lock is never contended.
                    let mut action = lock(action);
                    catch_unwind(AssertUnwindSafe(|| (*action)()))
                })
            }
        };
        let mut st = self.lock_state();
        st.acting = false;
        let ours = st.is_completing(seal.epoch);
        match ran {
            Some(Ok(())) if ours => {
                let (generation, woken) = self.release(&mut st);
                let result = BarrierWaitResult {
                    index: seal.index,
                    generation,
                    leader: true,
                };
                (Ok(result), Some(woken))
            }
            Some(Err(payload)) => {
                let woken = ours.then(|| self.break_locked(&mut st));
                drop(st);
                if let Some(woken) = woken {
                    // The action's panic is the one to resume, not a waker's.
                    drop(woken.wake_all(self));
                }
                resume_unwind(payload)
            }
            // Broken or reset before or while the action ran. A generation that filled up
            // meanwhile is summoned to go on (the release does it for the next one otherwise).
            _ => {
                let mut woken = st.woken();
                st.summon(&mut woken, self);
                (Err(WaitError::Broken), Some(woken))
            }
        }
    }
}
