//! The engine that moves parties through generations, behind the public types.
//!
//! # The protocol
//!
//! - **State under one lock** (`state.rs`). `Barrier::state` holds the generation being filled
//!   (`current`), the generations queued behind it while it completes, the parties count and
//!   the records of recent breaks. Arrivals that complete a generation, withdrawals, departures,
//!   timeouts, abort and reset happen under this lock, and nothing under it runs user code (the
//!   action, wakers, timers): wakers are cloned before locking, and woken or dropped after
//!   unlocking (SPEC rule 18).
//! - **The lock-free arrival path** (`fast.rs`, `slots.rs`). While the current generation is
//!   filling, with no holes and the barrier not broken, a waiting party arrives with one
//!   compare-exchange on a packed word (count, a `SLOW` flag, a version) and leaves its waker in
//!   a slot of its own, tagged with its generation's epoch. Taking the lock sets `SLOW` and
//!   counts those arrivals into the seats; releasing it reopens the path if the generation
//!   allows. The last arrival of a generation always takes the lock, so completion stays where
//!   it was. The path opens only for generations of 3 or more parties that start while the
//!   lock is contended (found held by another thread within the last 16 generations,
//!   `State::contention`): uncontended, the locked arrival is cheaper than a slot.
//! - **Seats** (`seats.rs`, `bucket.rs`). Each generation (a *bucket*) hands out arrival indices
//!   as seats. A withdrawn party gives its index back to the next arrival, and sealing gives
//!   parties that departures stranded above the final count the free indices below it: a
//!   released generation's indices are a permutation of `0..n`.
//! - **Epochs and ends** (`ends.rs`). Each bucket has an epoch, a serial number handed out in
//!   order, and generations end in epoch order. The transition that ends one publishes, before
//!   unlocking, the oldest open epoch and one past the newest broken one; so a released party
//!   learns it was released from two atomic loads, without the lock. Only parties of a broken,
//!   reset or relabeled generation read a record under the lock.
//! - **Sealing and leaders** (`bucket.rs`, `completion.rs`, `ticket.rs`). A generation is
//!   sealed by its last arrival (or by a departure that leaves it full); from then on a drop
//!   withdraws nothing. Its leader runs the action outside the lock, then releases it. Arrivals
//!   meanwhile fill the queued generations; one that fills up is sealed with its last party as
//!   leader, which is woken (summoned) when its turn comes (its generation is current and no
//!   action runs) and completes it in its own poll: one poll runs at most one action (SPEC
//!   rule 19). A leader that gives up first hands over to another party still waiting; with
//!   none left, the next party to poll or arrive completes it.
//! - **Parties** (`state.rs`, `ticket.rs`). `State::parties` is what the first generation not yet
//!   sealed needs. A `Party` keeps what a dropped wait could not use (a sealed generation's
//!   ticket, a pass) for its next wait.
//! - **Waking** (`woken.rs`). Wakers are taken out under the lock (or harvested from the slots
//!   after it) and woken after it; a panicking waker does not stop the others, and its panic
//!   resumes in the call that woke it.

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
