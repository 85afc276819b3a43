//! The synchronization types the crate is built on: `std`'s normally, `loom`'s under `--cfg loom`
//! so that the loom models in `tests/loom.rs` explore every interleaving of the real code.

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicU64, AtomicUsize, Ordering},
    Mutex, MutexGuard,
};
use std::sync::TryLockError;
#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicU64, AtomicUsize, Ordering},
    Mutex, MutexGuard,
};

#[cfg(all(feature = "std", loom))]
pub(crate) use loom::{sync::Condvar, thread};
#[cfg(all(feature = "std", not(loom)))]
pub(crate) use std::{sync::Condvar, thread};

/// Locks `mutex`, ignoring poisoning.
///
/// No critical section of this crate runs user code (the action and wakers run outside them) or
/// can panic half-way through an update, so a poisoned lock still guards consistent data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Locks `mutex` as `lock` does; also returns whether another thread held it at the time
/// (the barrier opens its lock-free arrival path only when that happens: `State::contention`).
pub(crate) fn lock_contended<T>(mutex: &Mutex<T>) -> (MutexGuard<'_, T>, bool) {
    match mutex.try_lock() {
        Ok(guard) => (guard, false),
        Err(TryLockError::Poisoned(poisoned)) => (poisoned.into_inner(), false),
        Err(TryLockError::WouldBlock) => (lock(mutex), true),
    }
}
