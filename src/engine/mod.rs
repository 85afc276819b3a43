//! The engine that moves parties through generations, behind the public types.
//!
//! # The protocol
//!
//! - **State under one lock** (`state.rs`). `Barrier::state` holds the generation being filled
//!   (`current`), the generations queued behind it while it completes, and the record of recent
//!   breaks. Every arrival, withdrawal and end of a generation happens under this lock, and
//!   nothing under it runs user code (the action, wakers, timers): wakers are cloned before
//!   locking, and woken or dropped after unlocking (SPEC rule 18).
//! - **Seats** (`seats.rs`, `bucket.rs`). Each generation (a *bucket*) hands out arrival indices
//!   as seats; a waiting task leaves its waker in its seat. A withdrawn party gives its index back
//!   to the next arrival, so a full generation's indices are a permutation of `0..parties`.
//! - **Epochs and ends** (`ends.rs`). Each bucket has an epoch, a serial number handed out in
//!   order, and generations end in epoch order. The transition that ends one publishes, before
//!   unlocking, the oldest open epoch and one past the newest broken one; so a released party
//!   learns it was released from two atomic loads, without the lock. Only parties of a broken or
//!   reset generation read a record under the lock.
//! - **Sealing and leaders** (`bucket.rs`, `completion.rs`). A generation is sealed by its last
//!   arrival; from then on a drop withdraws nothing. The party that sealed it is its leader: it
//!   runs the action outside the lock, then releases the generation. Arrivals meanwhile fill the
//!   queued generations; one that fills up is sealed with its last party as leader, which is
//!   woken (summoned) when its turn comes and completes it in its own poll, so one poll runs at
//!   most one action (SPEC rule 19). A leader that gives up first hands over to another party of
//!   its generation; with none left, the next party to poll or arrive completes it.
//! - **Waking** (`woken.rs`). Wakers are taken out under the lock and woken after it; a panicking
//!   waker does not stop the others, and its panic resumes in the call that woke it.

mod bucket;
mod completion;
mod ends;
mod fast;
mod seats;
mod slots;
mod state;
pub(crate) mod sync;
mod ticket;
pub(crate) mod woken;

pub(crate) use ends::Ends;
pub(crate) use fast::Fast;
pub(crate) use state::{Arrival, State, Ticket};
pub(crate) use ticket::{Kept, Polled};
