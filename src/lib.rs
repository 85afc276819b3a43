//! An async barrier for any executor, with the full semantics of Python's `threading.Barrier`,
//! a wait that is safe to cancel, and blocking waits for threads on the same barrier.
//!
//! `parties` tasks call [`Barrier::wait`] and are released together once all have arrived; the
//! barrier then serves the next generation. Each released party learns its arrival
//! [`index()`](BarrierWaitResult::index) and whether it is the
//! [`leader`](BarrierWaitResult::is_leader); an optional [action](BarrierBuilder::action) runs
//! once per generation before anyone is released. A wait can give up two ways: quietly, by
//! dropping it (`select!`, `tokio::time::timeout`), which withdraws the arrival; or loudly, with
//! [`BarrierWait::timeout`] or a [default timeout](BarrierBuilder::timeout), which breaks the
//! barrier for everyone as Python and Java do. [`Barrier::abort`] and [`Barrier::reset`] break
//! and restore it.
//!
//! Parties can also come and go: [`Barrier::join`] (or [`Barrier::join_owned`] for spawned
//! tasks) adds one as a [`Party`] guard that leaves when dropped, whose waits never lose a pass
//! (so a `select!` loop around [`Party::wait`] cannot hang) and which breaks the barrier if its
//! task panics; [`Barrier::add_parties`] and [`Barrier::arrive_and_drop`] change the count
//! directly, and [`Barrier::dynamic`] starts with none. [`Barrier::arrive`] arrives now and
//! returns an [`ArrivalToken`] to wait with later (split phase).
//!
//! ```
//! use std::sync::Arc;
//! use agnostic_barrier::Barrier;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let barrier = Arc::new(Barrier::new(4));
//! let mut tasks = Vec::new();
//! for worker in 0..4 {
//!     let barrier = barrier.clone();
//!     tasks.push(tokio::spawn(async move {
//!         for step in 0..3 {
//!             // ... compute this worker's part of `step` ...
//!             let passed = barrier.wait().await.expect("no one breaks this barrier");
//!             assert_eq!(passed.generation(), step);
//!             if passed.is_leader() {
//!                 println!("step {step} done (worker {worker} arrived last)");
//!             }
//!         }
//!     }));
//! }
//! for task in tasks {
//!     task.await.unwrap();
//! }
//! # });
//! ```
//!
//! # Compared with `tokio::sync::Barrier`, `async_lock::Barrier` and `std::sync::Barrier`
//!
//! - `tokio::sync::Barrier` and `async_lock::Barrier` (which `async_std::sync::Barrier`
//!   re-exports) count a dropped wait as an arrival: after a losing `select!` or a
//!   `tokio::time::timeout`, the barrier opens with a party missing. Here a dropped wait
//!   withdraws its arrival. They also have no timeouts, abort, reset, action or arrival index.
//! - `std::sync::Barrier` blocks threads only. Here threads use
//!   [`wait_blocking()`](Barrier::wait_blocking) and can share a barrier with async tasks.
//! - Use tokio's barrier if you need none of the above and already depend on tokio; use this one
//!   when waits can be cancelled, when a stuck party must not hang the rest (timeouts, abort),
//!   or when the code must run on more than one executor.
//!
//! # Features
//!
//! - `std` (default): [`Barrier::wait_blocking`], [`Barrier::wait_blocking_timeout`] and
//!   `std::error::Error` for [`WaitError`]. (The crate itself still needs `std`; `no_std` with
//!   `alloc` is planned.)
//!
//! The crate depends on no runtime: `wait()` works on tokio, async-std, smol,
//! `futures::executor` or any other executor; timers for timeouts come from the caller.

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;

mod barrier;
#[cfg(feature = "std")]
mod blocking;
mod builder;
mod engine;
mod error;
mod party;
mod result;
mod token;
mod wait;

pub use barrier::Barrier;
pub use builder::BarrierBuilder;
pub use error::WaitError;
pub use party::{OwnedParty, Party};
pub use result::BarrierWaitResult;
pub use token::ArrivalToken;
pub use wait::{BarrierWait, WaitTimeout};

// `WaitError` is an error without `std` too (`core::error::Error`, Rust 1.81), so `?` into
// error types that need one works in every build.
const _: fn() = || {
    fn is_error<E: core::error::Error + Send + Sync + 'static>() {}
    is_error::<WaitError>();
};
