//! The engine that moves parties through generations, behind the public types.

mod bucket;
mod completion;
mod ends;
mod seats;
mod state;
pub(crate) mod sync;
mod woken;

pub(crate) use ends::{Ends, Signal};
pub(crate) use state::{Arrival, State, Ticket};
