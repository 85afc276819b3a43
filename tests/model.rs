//! Model-based test: a small sequential reference model of the SPEC rules (arrival, withdrawal,
//! completion, abort, reset, deadlines, the action, and the parties of rules 14-17: `join()`,
//! leaving, a party that panics, `arrive_and_drop()`, `add_parties()`, kept passes, split-phase
//! `arrive()`) and a proptest that drives the real barrier through random operation sequences,
//! comparing every observable result after every step.
//!
//! The futures are polled by hand on one thread with counting wakers, so the model is exact: a
//! party that arrived and was not released stays `Pending`, a released one returns its result,
//! and every party whose outcome was decided (or that was summoned to complete its generation)
//! must have been woken. Deadlines are futures flipped ready by the test ([`ManualDeadline`]);
//! the builder's default timeout uses the same flags.
//!
//! Checked after every step: the step's result (a poll's outcome with its index, generation and
//! leader, `arrive()`'s token generation or error, `add_parties()`'s generation, a panic),
//! `n_waiting()`, `is_broken()`, `generation()`, `parties()`, what every action run saw, and the
//! wakes; after every case, each generation's passes on their own (distinct indices below its
//! parties, one leader). Where the SPEC leaves a choice, the model makes the barrier's: a freed
//! index goes to the next arrival (last freed, first reused), stranded indices are relabeled as
//! `Seats::relabel` does, and "the last arrival still waiting" (rules 14, 19) counts a party's
//! kept arrival and a token not yet waited on.
//!
//! Rules 14-19 as the model has them (fixed in 41f2a78, and checked here with no case left out):
//! - A leader that completes its generation after it was sealed (by a departure, by an arrival
//!   while an earlier generation awaited its leader, or handed over) gets its relabeled index:
//!   every generation's indices are a permutation of `0..n`.
//! - One poll runs at most one action (rule 19): a poll that completes a generation nobody is
//!   left to lead (sealed, every party of it gone) does only that, returns `Pending` and wakes
//!   its own waker; its own arrival, or its look at its own generation, waits for its next poll.
//!   `arrive()` still completes such a generation and then arrives (it cannot return `Pending`).
//! - A leader that gives up hands the lead to the party of its generation that arrived last among
//!   those still polling; a `Party` whose wait was dropped with its arrival kept (rule 16) is
//!   idle until a wait of it polls again, and takes the lead only if no party is polling; with
//!   nobody waiting at all, the next poll or arrival completes the generation. (Two ways the
//!   barrier once kept such a party idle after it polled again are regressions in
//!   `tests/parties_bugs.rs`; `MODEL_SEED=1 MODEL_CASES=2000000` reached the first.)
//! - A `Party` that leaves with a kept arrival in the generation being filled departs from the
//!   next one: its arrival still counts where it was made, and `parties()` goes down once that
//!   generation is sealed or ends.
//! - No action starts while another runs (after `reset()` ended the running action's
//!   generation, a generation that fills up waits, sealed, for the action to return): not
//!   reachable here, where the action runs inside a poll on the test's one thread and only reads
//!   the barrier, aborts or resets it; `tests/split_phase.rs` covers it with threads
//!   (`arrive_returns_at_once_while_a_reset_generations_action_still_runs`).
//!
//! A `Party` borrows its barrier and its waits borrow the party, so each party lives in a
//! hand-polled task ([`party_task`]) that owns it and its current wait or token, and does one
//! command per poll: the task's waker is the party's counting waker, and a command that panics
//! unwinds the task, dropping the party while the thread panics (SPEC rule 15), as a worker
//! task that panics would.
//!
//! Run with `cargo test --release --test model -- --nocapture` to see the case count.
//! `MODEL_CASES` and `MODEL_SEED` override the number of cases (default 300,000 in release
//! builds, 10,000 in debug builds: three quarters of them with parties, whose state space is
//! larger than the anonymous waits' of the 100,000 cases before) and the seed.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Once};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use agnostic_barrier::{Barrier, BarrierWait, BarrierWaitResult, WaitError, WaitTimeout};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// What a wait returned, as `(index, generation, leader)` on success.
type Outcome = Result<(usize, u64, bool), WaitError>;

/// Most anonymous slots (concurrent `barrier.wait()` futures or tokens) a case uses.
const MAX_SLOTS: usize = 6;
/// Most party slots (each a `Party` with its wait or token) a case uses.
const MAX_PARTY_SLOTS: usize = 4;
/// Most parties a case starts with (0: `Barrier::dynamic()`).
const MAX_PARTIES: usize = 6;

/// What the barrier's "no parties" panic says (SPEC rule 14), and what the test's panics carry.
const NO_PARTIES: &str = "no parties";
const TEST_PANIC: &str = "the party's task panicked";

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// How a party goes.
#[derive(Clone, Copy, Debug)]
enum Going {
    /// `party.leave()`.
    Leave,
    /// `drop(party)`.
    Drop,
    /// Its task panics while it holds the party (and its wait or token, if any).
    Panic,
}

/// One step of a case.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// Drop the slot's future or token, then create a new `barrier.wait()` without polling it.
    Create {
        slot: usize,
        timed: bool,
    },
    /// Poll the slot's future, creating it first if the slot is empty or its future finished
    /// (`timed` picks `wait().timeout(deadline)` over `wait()` for a new future); a token is
    /// turned into its wait first.
    Poll {
        slot: usize,
        timed: bool,
    },
    /// Drop the slot's future or token.
    Drop {
        slot: usize,
    },
    /// Make the slot's deadline ready (polled on the slot's next `Poll`).
    Fire {
        slot: usize,
    },
    /// Turn the slot's `BarrierWait` into a `WaitTimeout` on the slot's deadline.
    Convert {
        slot: usize,
    },
    /// Drop the slot's future or token, then `barrier.arrive()` into it.
    Arrive {
        slot: usize,
    },
    /// Drop the party in the slot (if any), then `barrier.join()` a new one.
    Join {
        party: usize,
    },
    /// Poll the party's wait: a new `party.wait()` (joining first if the slot is empty) if it
    /// has none, its token's wait if it holds a token.
    PartyPoll {
        party: usize,
        timed: bool,
    },
    /// Drop the party's wait or token.
    PartyDrop {
        party: usize,
    },
    /// Drop the party's wait or token, then `party.arrive()` (joining first if needed).
    PartyArrive {
        party: usize,
    },
    /// Make the deadline of the party's wait ready.
    PartyFire {
        party: usize,
    },
    /// The party goes (its wait or token dropped first, or during the unwind).
    Leave {
        party: usize,
        how: Going,
    },
    AddParties(usize),
    ArriveAndDrop,
    Abort,
    Reset,
    /// Make the action call `abort()` the next time it runs.
    ArmAbort,
    /// Make the action call `reset()` the next time it runs.
    ArmReset,
}

/// The parameters of a case: the barrier's shape and the operations.
#[derive(Clone, Debug)]
struct Case {
    /// 0: `Barrier::dynamic()` (or `dynamic_builder()`).
    parties: usize,
    slots: usize,
    party_slots: usize,
    action: bool,
    default_timeout: bool,
    ops: Vec<Op>,
}

/// The kinds of operation, for [`op_strategy`]'s weight tables.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Poll,
    Create,
    Drop,
    Fire,
    Convert,
    Arrive,
    Join,
    PartyPoll,
    PartyDrop,
    PartyArrive,
    PartyFire,
    Leave,
    AddParties,
    ArriveAndDrop,
    Abort,
    Reset,
    ArmAbort,
    ArmReset,
}

/// The operations of the model before parties: anonymous waits, deadlines, abort and reset.
const ANONYMOUS_OPS: &[(u32, Kind)] = &[
    (12, Kind::Poll),
    (3, Kind::Create),
    (3, Kind::Drop),
    (2, Kind::Fire),
    (1, Kind::Convert),
    (1, Kind::Abort),
    (1, Kind::Reset),
    (1, Kind::ArmAbort),
    (1, Kind::ArmReset),
];

/// Every operation: anonymous waits and tokens, parties, and changes to the number of parties.
/// Fewer aborts than [`ANONYMOUS_OPS`] and more resets, as parties that panic break the
/// barrier too.
const ALL_OPS: &[(u32, Kind)] = &[
    (10, Kind::Poll),
    (10, Kind::PartyPoll),
    (2, Kind::Create),
    (2, Kind::Drop),
    (1, Kind::Fire),
    (1, Kind::Convert),
    (2, Kind::Arrive),
    (3, Kind::Join),
    (3, Kind::PartyDrop),
    (3, Kind::PartyArrive),
    (1, Kind::PartyFire),
    (3, Kind::Leave),
    (2, Kind::AddParties),
    (2, Kind::ArriveAndDrop),
    (1, Kind::Abort),
    (3, Kind::Reset),
    (1, Kind::ArmAbort),
    (1, Kind::ArmReset),
];

/// An operation drawn from `table` (weights), on `slots` anonymous slots and `party_slots`
/// parties. Drawn as plain numbers mapped through the table: proptest's `prop_oneof!` seeds a
/// random generator per arm for every operation, which took most of the run's time. Numbers
/// shrink towards the table's first entry, slot 0 and `false`.
fn op_strategy(
    table: &'static [(u32, Kind)],
    slots: usize,
    party_slots: usize,
) -> impl Strategy<Value = Op> {
    let total: u32 = table.iter().map(|&(weight, _)| weight).sum();
    (0..total, 0..60usize, any::<bool>()).prop_map(move |(mut pick, x, timed)| {
        let kind = table
            .iter()
            .find(|&&(weight, _)| {
                let found = pick < weight;
                pick = pick.saturating_sub(weight);
                found
            })
            .map(|&(_, kind)| kind)
            .expect("pick < total");
        let slot = x % slots;
        let party = x % party_slots.max(1);
        match kind {
            Kind::Poll => Op::Poll { slot, timed },
            Kind::Create => Op::Create { slot, timed },
            Kind::Drop => Op::Drop { slot },
            Kind::Fire => Op::Fire { slot },
            Kind::Convert => Op::Convert { slot },
            Kind::Arrive => Op::Arrive { slot },
            Kind::Join => Op::Join { party },
            Kind::PartyPoll => Op::PartyPoll { party, timed },
            Kind::PartyDrop => Op::PartyDrop { party },
            Kind::PartyArrive => Op::PartyArrive { party },
            Kind::PartyFire => Op::PartyFire { party },
            Kind::Leave => Op::Leave {
                party,
                how: match x / party_slots.max(1) % 5 {
                    0 | 1 => Going::Leave,
                    2 | 3 => Going::Drop,
                    _ => Going::Panic,
                },
            },
            Kind::AddParties => Op::AddParties(x % 3),
            Kind::ArriveAndDrop => Op::ArriveAndDrop,
            Kind::Abort => Op::Abort,
            Kind::Reset => Op::Reset,
            Kind::ArmAbort => Op::ArmAbort,
            Kind::ArmReset => Op::ArmReset,
        }
    })
}

fn case_strategy() -> impl Strategy<Value = Case> {
    // A quarter of the cases run the operations of the model before parties, on a fixed number
    // of parties, so that the older rules keep as dense a search as before.
    let anonymous = (1..=MAX_PARTIES, 1..=MAX_SLOTS, any::<bool>(), any::<bool>()).prop_flat_map(
        |(parties, slots, action, default_timeout)| {
            proptest::collection::vec(op_strategy(ANONYMOUS_OPS, slots, 0), 0..80).prop_map(
                move |ops| Case {
                    parties,
                    slots,
                    party_slots: 0,
                    action,
                    default_timeout,
                    ops,
                },
            )
        },
    );
    let with_parties = (
        0..=MAX_PARTIES,
        1..=MAX_SLOTS,
        1..=MAX_PARTY_SLOTS,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(|(parties, slots, party_slots, action, default_timeout)| {
            proptest::collection::vec(op_strategy(ALL_OPS, slots, party_slots), 0..120).prop_map(
                move |ops| Case {
                    parties,
                    slots,
                    party_slots,
                    action,
                    default_timeout,
                    ops,
                },
            )
        });
    prop_oneof![1 => anonymous, 3 => with_parties]
}

// ---------------------------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arm {
    None,
    Abort,
    Reset,
}

/// An arrival's id in [`Model::arrivals`].
type ArrId = usize;

/// One arrival: the seat a party holds in a generation (rule 1), as `src/engine/seats.rs`
/// keeps them.
#[derive(Clone, Debug)]
struct MArrival {
    bucket: usize,
    /// The number of its generation, should it be released.
    generation: u64,
    /// Its seat (relabeled when its generation is sealed, if departures stranded it).
    index: usize,
    /// Arrival order, for "the last arrival still waiting" (rules 14 and 19).
    stamp: u64,
    /// Someone (a wait, a token, a party's kept arrival) will read how its generation ends.
    /// `false` once given up without withdrawing (a lost pass, a dropped token).
    waiting: bool,
    /// A `Party` dropped the wait or token of this arrival and keeps it (rule 16): idle until a
    /// wait of it polls again, it takes a lead given up only if no party is polling (rule 19).
    idle: bool,
    /// It leads its sealed generation (it will complete it, and does not time out).
    leader: bool,
    /// How its generation ended for it, once it has.
    ended: Option<Outcome>,
}

/// Who completes a generation (rules 4 and 19).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lead {
    /// Not sealed.
    Filling,
    /// Sealed, awaiting this arrival's party to complete it, or (`None`) whoever polls or
    /// arrives next.
    Awaiting(Option<ArrId>),
    /// Being completed now.
    Running,
}

/// A generation not yet ended: the one being filled, or a sealed one and those behind it.
#[derive(Clone, Debug)]
struct MBucket {
    id: usize,
    /// One past the highest index handed out, and the given-back indices below it (reused
    /// last-in, first-out), as in `src/engine/seats.rs`.
    high: usize,
    free: Vec<usize>,
    lead: Lead,
    /// Its parties once sealed.
    n: usize,
    /// Indices changed when it was sealed: `(from, to)`.
    relabel: Vec<(usize, usize)>,
    /// The arrivals holding an index in it.
    members: Vec<ArrId>,
}

impl MBucket {
    fn new(id: usize) -> Self {
        MBucket {
            id,
            high: 0,
            free: Vec::new(),
            lead: Lead::Filling,
            n: 0,
            relabel: Vec::new(),
            members: Vec::new(),
        }
    }

    fn arrived(&self) -> usize {
        self.high - self.free.len()
    }

    fn is_sealed(&self) -> bool {
        self.lead != Lead::Filling
    }

    fn take_seat(&mut self) -> usize {
        self.free.pop().unwrap_or_else(|| {
            self.high += 1;
            self.high - 1
        })
    }

    fn give_back(&mut self, index: usize) {
        if index + 1 == self.high {
            self.high -= 1;
        } else {
            self.free.push(index);
        }
    }

    /// Once `parties` hold an index, gives those at or above `parties` the free ones below it
    /// (rule 14's permutation), as `Seats::relabel` does.
    fn relabel(&mut self, parties: usize) -> Vec<(usize, usize)> {
        if self.high <= parties {
            return Vec::new();
        }
        let mut is_free = vec![false; self.high];
        for &index in &self.free {
            is_free[index] = true;
        }
        let mut free_below: Vec<usize> = (0..parties).filter(|&i| is_free[i]).collect();
        let relabel = (parties..self.high)
            .filter(|&i| !is_free[i])
            .map(|from| (from, free_below.pop().expect("as many free below as above")))
            .collect();
        self.high = parties;
        self.free.clear();
        relabel
    }
}

fn relabeled(relabel: &[(usize, usize)], index: usize) -> usize {
    relabel
        .iter()
        .find(|&&(from, _)| from == index)
        .map_or(index, |&(_, to)| to)
}

/// What a party keeps of a wait or token it dropped (rule 16), or a token holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    /// An arrival whose generation has not ended (or ended, unread).
    Ticket(ArrId),
    /// A pass not yet handed out.
    Passed((usize, u64, bool)),
    /// A token whose arrival completed its generation, whose action then broke it.
    Broken,
}

/// A wait future's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MWait {
    /// Created, not polled: not arrived.
    Unpolled,
    /// Arrived; `revocable` unless it is a token's wait or a party's kept arrival.
    Waiting { arrival: ArrId, revocable: bool },
    /// Its result, handed out by its next poll.
    Ready(Outcome),
    /// It returned its result.
    Done,
}

#[derive(Clone, Copy, Debug)]
struct MFuture {
    state: MWait,
    /// `wait().timeout(..)` (or converted to it) rather than a plain `wait()`.
    timed: bool,
    /// Its last poll completed a generation nobody was left to lead, which was all that poll
    /// did (rule 19): it woke its own waker to be polled again.
    repoll: bool,
}

impl MFuture {
    fn new(state: MWait, timed: bool) -> Self {
        MFuture {
            state,
            timed,
            repoll: false,
        }
    }
}

/// An `ArrivalToken`: its generation and what it holds.
#[derive(Clone, Copy, Debug)]
struct MToken {
    generation: u64,
    hold: Hold,
}

/// What a slot or a party holds.
#[derive(Clone, Copy, Debug)]
enum Handle {
    None,
    Wait(MFuture),
    Token(MToken),
}

#[derive(Clone, Debug)]
struct MSlot {
    handle: Handle,
    /// The deadline of the slot's current future (or token) is ready.
    fired: bool,
}

#[derive(Clone, Debug)]
struct MParty {
    /// What its last wait or token left for the next (rule 16).
    kept: Option<Hold>,
}

#[derive(Clone, Debug)]
struct MPartySlot {
    party: Option<MParty>,
    slot: MSlot,
}

/// What an action run observed: `(n_waiting(), generation(), is_broken(), parties())`.
type ActionSeen = (usize, u64, bool, usize);

/// What an arrival found (the barrier's `Arrival`).
enum Entered {
    Broken,
    NoParties,
    /// A sealed generation whose parties all gave up is to be completed first (rule 19).
    Orphan,
    /// It completed the generation being filled, with this index: it leads it.
    Lead(usize),
    Wait(ArrId),
}

/// What polling an arrival found (the barrier's `Polled`).
enum Polled {
    Pending,
    Ready(Outcome),
    /// It leads the current generation: complete it.
    Lead,
    Orphan,
}

/// What one operation returned, where it returns something.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Got {
    Nothing,
    Pending,
    Ready(Outcome),
    /// `arrive()`: the token's generation, or the error.
    Arrived(Result<u64, WaitError>),
    /// `add_parties()`.
    Added(u64),
    /// The call panicked: [`NO_PARTIES`] or [`TEST_PANIC`] (or another message: a bug).
    Panicked(String),
}

/// How often a case reached the states that rules 14-19 are about (printed in the summary, to
/// show the random cases get there).
#[derive(Clone, Copy, Debug, Default)]
struct Events {
    /// A departure sealed the generation being filled (rule 14).
    departure_seals: usize,
    /// An arrival sealed a generation behind one awaiting its leader (rule 19).
    queued_seals: usize,
    /// A generation sealed with a stranded index relabeled (rule 14's permutation).
    relabels: usize,
    /// A leader gave up and another party took over, or nobody was left (rule 19).
    handovers: usize,
    /// A generation whose parties all gave up, completed by the next poll or arrival.
    orphans: usize,
    /// Of those, completed by a poll, which did nothing else and asked to be polled again
    /// (rule 19).
    orphan_polls: usize,
    /// A leader that claimed its generation after it was sealed, and got a relabeled index.
    late_leader_relabels: usize,
    /// A lead given up went to a polling party, passing over an idle kept arrival that
    /// arrived after it; or, with no party polling, to an idle kept arrival (rule 19).
    idle_passed_over: usize,
    idle_handovers: usize,
    /// A `Party` left with a kept arrival in the generation being filled: it departed from the
    /// next generation (rule 14).
    deferred_departures: usize,
    /// A party's wait or token started from what its last one left (rule 16).
    kept_resumed: usize,
    /// `arrive()` calls that arrived, and those that completed their generation (rule 17).
    token_arrivals: usize,
    token_completions: usize,
    /// Parties that panicked (rule 15), and calls that panicked with no parties (rule 14).
    party_panics: usize,
    no_parties: usize,
}

impl Events {
    fn add(&mut self, o: &Events) {
        self.departure_seals += o.departure_seals;
        self.queued_seals += o.queued_seals;
        self.relabels += o.relabels;
        self.handovers += o.handovers;
        self.orphans += o.orphans;
        self.orphan_polls += o.orphan_polls;
        self.late_leader_relabels += o.late_leader_relabels;
        self.idle_passed_over += o.idle_passed_over;
        self.idle_handovers += o.idle_handovers;
        self.deferred_departures += o.deferred_departures;
        self.kept_resumed += o.kept_resumed;
        self.token_arrivals += o.token_arrivals;
        self.token_completions += o.token_completions;
        self.party_panics += o.party_panics;
        self.no_parties += o.no_parties;
    }
}

/// The sequential reference model of SPEC.md.
#[derive(Debug)]
struct Model {
    parties: usize,
    action: bool,
    default_timeout: bool,
    generation: u64,
    broken: bool,
    /// The generations not yet ended, oldest (the current one, `generation()`) first. All but
    /// the last are sealed; the current one is sealed whenever there are more.
    buckets: VecDeque<MBucket>,
    next_bucket: usize,
    arrivals: Vec<MArrival>,
    stamps: u64,
    slots: Vec<MSlot>,
    parties_slots: Vec<MPartySlot>,
    arm: Arm,
    action_runs: Vec<ActionSeen>,
    /// Departures of parties that left with a kept arrival in the generation being filled:
    /// they apply once it is sealed or ends (rule 14).
    deferred: usize,
    /// The parties of each released generation.
    released: BTreeMap<u64, usize>,
    events: Events,
}

impl Model {
    fn new(case: &Case) -> Self {
        let empty = MSlot {
            handle: Handle::None,
            fired: false,
        };
        Model {
            parties: case.parties,
            action: case.action,
            default_timeout: case.default_timeout,
            generation: 0,
            broken: false,
            buckets: VecDeque::from([MBucket::new(0)]),
            next_bucket: 1,
            arrivals: Vec::new(),
            stamps: 0,
            slots: vec![empty.clone(); case.slots],
            parties_slots: vec![
                MPartySlot {
                    party: None,
                    slot: empty,
                };
                case.party_slots
            ],
            arm: Arm::None,
            action_runs: Vec::new(),
            deferred: 0,
            released: BTreeMap::new(),
            events: Events::default(),
        }
    }

    fn n_waiting(&self) -> usize {
        self.buckets[0].arrived()
    }

    fn new_bucket(&mut self) -> MBucket {
        self.next_bucket += 1;
        MBucket::new(self.next_bucket - 1)
    }

    fn position(&self, arrival: ArrId) -> usize {
        let id = self.arrivals[arrival].bucket;
        self.buckets
            .iter()
            .position(|b| b.id == id)
            .expect("an arrival not ended has its generation")
    }

    /// The number of the first generation not yet sealed (rule 14).
    fn first_unsealed(&self) -> u64 {
        self.generation + self.buckets.iter().filter(|b| b.is_sealed()).count() as u64
    }

    /// Seats an arrival at `index` in the bucket at `position`.
    fn sit(&mut self, position: usize, index: usize) -> ArrId {
        let id = self.arrivals.len();
        self.arrivals.push(MArrival {
            bucket: self.buckets[position].id,
            generation: self.generation + position as u64,
            index,
            stamp: self.stamps,
            waiting: true,
            idle: false,
            leader: false,
            ended: None,
        });
        self.stamps += 1;
        self.buckets[position].members.push(id);
        id
    }

    /// The arrival still waiting that arrived last in the bucket at `position`, but `except`.
    fn last_waiting(&self, position: usize, except: Option<ArrId>) -> Option<ArrId> {
        self.buckets[position]
            .members
            .iter()
            .copied()
            .filter(|&a| self.arrivals[a].waiting && Some(a) != except)
            .max_by_key(|&a| self.arrivals[a].stamp)
    }

    /// Seals the generation being filled (at `position`), full with its parties; departures
    /// deferred until then apply now (rule 14).
    fn seal(&mut self, position: usize, lead: Lead) {
        debug_assert_eq!(position, self.buckets.len() - 1, "only the last one fills");
        let parties = self.parties;
        let bucket = &mut self.buckets[position];
        bucket.relabel = bucket.relabel(parties);
        bucket.n = parties;
        bucket.lead = lead;
        if !bucket.relabel.is_empty() {
            self.events.relabels += 1;
        }
        self.apply_deferred();
    }

    fn apply_deferred(&mut self) {
        self.parties -= std::mem::take(&mut self.deferred);
    }

    /// An arrival (the first poll of a wait, or `arrive()`), rules 1, 5, 14, 19.
    fn enter(&mut self) -> Entered {
        if self.broken {
            return Entered::Broken;
        }
        if self.buckets[0].lead == Lead::Awaiting(None) {
            return Entered::Orphan;
        }
        if self.parties == 0 {
            return Entered::NoParties;
        }
        if !self.buckets[0].is_sealed() {
            let index = self.buckets[0].take_seat();
            if self.buckets[0].arrived() < self.parties {
                return Entered::Wait(self.sit(0, index));
            }
            self.seal(0, Lead::Running);
            return Entered::Lead(relabeled(&self.buckets[0].relabel, index));
        }
        // The current generation is sealed, awaiting its leader: count toward the first
        // generation after it not yet sealed.
        if self.buckets.back().is_some_and(MBucket::is_sealed) {
            let bucket = self.new_bucket();
            self.buckets.push_back(bucket);
        }
        let position = self.buckets.len() - 1;
        let index = self.buckets[position].take_seat();
        let arrival = self.sit(position, index);
        if self.buckets[position].arrived() == self.parties {
            self.seal(position, Lead::Awaiting(Some(arrival)));
            self.arrivals[arrival].leader = true;
            self.events.queued_seals += 1;
        }
        Entered::Wait(arrival)
    }

    /// Runs the action of the sealed current generation and releases it (rules 3, 4, 7):
    /// its number, or `Broken` if the action aborted or reset the barrier.
    fn complete(&mut self) -> Result<u64, WaitError> {
        let generation = self.generation;
        self.buckets[0].lead = Lead::Running;
        if self.action {
            self.action_runs
                .push((self.buckets[0].n, generation, false, self.parties));
            match std::mem::replace(&mut self.arm, Arm::None) {
                Arm::None => {}
                Arm::Abort => {
                    self.abort();
                    return Err(WaitError::Broken);
                }
                Arm::Reset => {
                    self.reset();
                    return Err(WaitError::Broken);
                }
            }
        }
        let bucket = self.buckets.pop_front().expect("a current generation");
        self.generation += 1;
        for &a in &bucket.members {
            let arrival = &mut self.arrivals[a];
            if arrival.waiting {
                let index = relabeled(&bucket.relabel, arrival.index);
                arrival.ended = Some(Ok((index, generation, arrival.leader)));
            }
        }
        self.released.insert(generation, bucket.n);
        if self.buckets.is_empty() {
            let bucket = self.new_bucket();
            self.buckets.push_back(bucket);
        }
        Ok(generation)
    }

    /// Completes the current generation, whose parties all gave up (rule 19).
    fn complete_orphan(&mut self) {
        self.events.orphans += 1;
        let _ = self.complete();
    }

    /// `arrival` completes the current generation it leads (rule 19), with its relabeled
    /// index (rules 2 and 14).
    fn lead(&mut self, arrival: ArrId) -> Outcome {
        let seat = self.arrivals[arrival].index;
        let index = relabeled(&self.buckets[0].relabel, seat);
        if index != seat {
            self.events.late_leader_relabels += 1;
        }
        self.complete().map(|generation| (index, generation, true))
    }

    /// Ends every generation not yet ended with `Broken` (rules 5, 6); departures deferred
    /// until the generation being filled ends apply now.
    fn end_all(&mut self) {
        self.apply_deferred();
        for bucket in std::mem::take(&mut self.buckets) {
            for a in bucket.members {
                if self.arrivals[a].waiting {
                    self.arrivals[a].ended = Some(Err(WaitError::Broken));
                }
            }
        }
        let bucket = self.new_bucket();
        self.buckets.push_back(bucket);
    }

    fn abort(&mut self) {
        self.end_all();
        self.broken = true;
    }

    fn reset(&mut self) {
        self.end_all();
        self.broken = false;
        self.generation += 1;
    }

    /// Whether `arrival` leads its sealed generation; if so it no longer times out, and
    /// `Some(true)` if that generation's turn has come.
    fn claim_lead(&mut self, arrival: ArrId) -> Option<bool> {
        let position = self.position(arrival);
        if self.buckets[position].lead != Lead::Awaiting(Some(arrival)) {
            return None;
        }
        self.arrivals[arrival].leader = true;
        Some(position == 0)
    }

    /// Polls an arrival that waits.
    fn poll_arrival(&mut self, arrival: ArrId) -> Polled {
        if let Some(outcome) = self.arrivals[arrival].ended {
            return Polled::Ready(outcome);
        }
        if self.claim_lead(arrival) == Some(true) {
            return Polled::Lead;
        }
        if self.buckets[0].lead == Lead::Awaiting(None) {
            return Polled::Orphan;
        }
        Polled::Pending
    }

    /// Polls a wait future; `deadline`: its deadline is ready.
    fn poll_future(&mut self, future: &mut MFuture, deadline: bool) -> Got {
        future.repoll = false;
        let got = match future.state {
            MWait::Done => unreachable!("a finished future is replaced before it is polled"),
            MWait::Ready(outcome) => Got::Ready(outcome),
            MWait::Unpolled => match self.enter() {
                Entered::Broken => Got::Ready(Err(WaitError::Broken)),
                Entered::NoParties => return Got::Panicked(NO_PARTIES.into()),
                Entered::Orphan => {
                    // That is this poll's one action (rule 19): it arrives in its next poll.
                    self.complete_orphan();
                    self.events.orphan_polls += 1;
                    future.repoll = true;
                    Got::Pending
                }
                Entered::Lead(index) => {
                    Got::Ready(self.complete().map(|generation| (index, generation, true)))
                }
                Entered::Wait(arrival) => {
                    future.state = MWait::Waiting {
                        arrival,
                        revocable: true,
                    };
                    Got::Pending
                }
            },
            MWait::Waiting { arrival, .. } => {
                // A wait of it polls: a kept arrival is no longer idle (rule 19).
                self.arrivals[arrival].idle = false;
                match self.poll_arrival(arrival) {
                    Polled::Pending => Got::Pending,
                    Polled::Ready(outcome) => Got::Ready(outcome),
                    Polled::Lead => Got::Ready(self.lead(arrival)),
                    Polled::Orphan => {
                        // This poll's one action (rule 19): it looks at its own generation in
                        // its next poll.
                        self.complete_orphan();
                        self.events.orphan_polls += 1;
                        future.repoll = true;
                        Got::Pending
                    }
                }
            }
        };
        if got != Got::Pending {
            future.state = MWait::Done;
            return got;
        }
        // A deadline that passes before the generation completes breaks the barrier (rule 9);
        // a generation's leader does not time out. (A generation completed for nobody, just
        // now, may have ended this one: its action aborted or reset the barrier.)
        if let MWait::Waiting { arrival, .. } = future.state {
            if deadline && !self.arrivals[arrival].leader {
                future.state = MWait::Done;
                if let Some(outcome) = self.arrivals[arrival].ended {
                    return Got::Ready(outcome);
                }
                self.abort();
                return Got::Ready(Err(WaitError::TimedOut));
            }
        }
        Got::Pending
    }

    /// A waiting arrival stops waiting: withdrawn (a revocable wait dropped before its
    /// generation was sealed, rule 8), kept by its party (rule 16), or abandoned (its pass is
    /// lost; a token's arrival stays counted, rule 17). Returns what a party keeps.
    fn stop_waiting(&mut self, arrival: ArrId, revocable: bool, keeps: bool) -> Option<Hold> {
        if let Some(outcome) = self.arrivals[arrival].ended {
            // Over: a party keeps its pass; a missed `Broken` is not kept.
            return match outcome {
                Ok(passed) if keeps => Some(Hold::Passed(passed)),
                _ => None,
            };
        }
        let position = self.position(arrival);
        if revocable && !self.buckets[position].is_sealed() {
            let index = self.arrivals[arrival].index;
            let bucket = &mut self.buckets[position];
            bucket.members.retain(|&a| a != arrival);
            bucket.give_back(index);
            self.arrivals[arrival].waiting = false;
            return None;
        }
        let leads = self.buckets[position].lead == Lead::Awaiting(Some(arrival));
        if keeps {
            // It stays a reader, idle until a wait of it polls again. Another party still
            // waiting takes over; with none, this party keeps the lead.
            self.arrivals[arrival].idle = true;
            if leads {
                if let Some(other) = self.next_leader(position, arrival) {
                    self.buckets[position].lead = Lead::Awaiting(Some(other));
                    self.arrivals[arrival].leader = false;
                    self.events.handovers += 1;
                }
            }
            Some(Hold::Ticket(arrival))
        } else {
            self.arrivals[arrival].waiting = false;
            if leads {
                self.buckets[position].lead = Lead::Awaiting(self.next_leader(position, arrival));
                self.events.handovers += 1;
            }
            None
        }
    }

    /// Who takes the lead `except` gives up in the bucket at `position` (rule 19): the party
    /// that arrived last of those still polling (not idle), else of all those still waiting (an
    /// idle kept arrival), else nobody (the next poll or arrival completes the generation).
    fn next_leader(&mut self, position: usize, except: ArrId) -> Option<ArrId> {
        let polling = self.buckets[position]
            .members
            .iter()
            .copied()
            .filter(|&a| a != except && self.arrivals[a].waiting && !self.arrivals[a].idle)
            .max_by_key(|&a| self.arrivals[a].stamp);
        let last = self.last_waiting(position, Some(except));
        match polling {
            Some(polling) => {
                self.events.idle_passed_over += usize::from(last != Some(polling));
                Some(polling)
            }
            None => {
                self.events.idle_handovers += usize::from(last.is_some());
                last
            }
        }
    }

    /// Drops a wait future (of a party if `party`): returns what the party keeps.
    fn drop_future(&mut self, future: MFuture, party: bool) -> Option<Hold> {
        match future.state {
            MWait::Unpolled | MWait::Done | MWait::Ready(Err(_)) => None,
            MWait::Ready(Ok(passed)) => party.then_some(Hold::Passed(passed)),
            MWait::Waiting { arrival, revocable } => self.stop_waiting(arrival, revocable, party),
        }
    }

    /// Drops a token (of a party if `party`): its arrival stays (rule 17).
    fn drop_token(&mut self, token: MToken, party: bool) -> Option<Hold> {
        match token.hold {
            Hold::Ticket(arrival) => self.stop_waiting(arrival, false, party),
            Hold::Passed(passed) => party.then_some(Hold::Passed(passed)),
            Hold::Broken => None,
        }
    }

    fn drop_handle(&mut self, handle: Handle, party: bool) -> Option<Hold> {
        match handle {
            Handle::None => None,
            Handle::Wait(future) => self.drop_future(future, party),
            Handle::Token(token) => self.drop_token(token, party),
        }
    }

    /// The wait of a token, or of what a party kept: irrevocable (rules 16, 17).
    fn future_of(&self, hold: Hold, timed: bool) -> MFuture {
        let state = match hold {
            Hold::Ticket(arrival) => MWait::Waiting {
                arrival,
                revocable: false,
            },
            Hold::Passed(passed) => MWait::Ready(Ok(passed)),
            Hold::Broken => MWait::Ready(Err(WaitError::Broken)),
        };
        MFuture::new(state, timed)
    }

    /// What a party's kept arrival gives its next wait or token: a missed `Broken` nothing.
    fn resume(&mut self, kept: Option<Hold>) -> Option<Hold> {
        let resumed = match kept? {
            Hold::Ticket(arrival) => match self.arrivals[arrival].ended {
                None => Some(Hold::Ticket(arrival)),
                Some(Ok(passed)) => Some(Hold::Passed(passed)),
                Some(Err(_)) => None,
            },
            hold => Some(hold),
        };
        self.events.kept_resumed += usize::from(resumed.is_some());
        resumed
    }

    fn generation_of(&self, hold: Hold) -> u64 {
        match hold {
            Hold::Ticket(arrival) => self.arrivals[arrival].generation,
            Hold::Passed((_, generation, _)) => generation,
            Hold::Broken => unreachable!("a kept arrival never holds Broken"),
        }
    }

    /// `arrive()`: arrives at once, completing (and running the action of) the generation if
    /// it fills it, and first any generation whose parties all gave up (rules 17, 19).
    fn arrive(&mut self) -> Result<Result<MToken, WaitError>, Got> {
        if self.parties == 0 {
            return Err(Got::Panicked(NO_PARTIES.into()));
        }
        loop {
            match self.enter() {
                Entered::Broken => return Ok(Err(WaitError::Broken)),
                Entered::NoParties => return Err(Got::Panicked(NO_PARTIES.into())),
                Entered::Orphan => {
                    // Not a poll: it cannot ask to be called again, so it arrives next.
                    self.complete_orphan();
                }
                Entered::Wait(arrival) => {
                    self.events.token_arrivals += 1;
                    let generation = self.arrivals[arrival].generation;
                    let hold = Hold::Ticket(arrival);
                    return Ok(Ok(MToken { generation, hold }));
                }
                Entered::Lead(index) => {
                    self.events.token_arrivals += 1;
                    self.events.token_completions += 1;
                    let generation = self.generation;
                    let hold = match self.complete() {
                        Ok(generation) => Hold::Passed((index, generation, true)),
                        Err(_) => Hold::Broken,
                    };
                    return Ok(Ok(MToken { generation, hold }));
                }
            }
        }
    }

    /// One party fewer from the first generation not yet sealed (rule 14); `false` if there
    /// were none. A generation being filled with all its parties arrived is sealed, led by its
    /// last arrival still waiting.
    fn depart(&mut self) -> bool {
        if self.parties == 0 {
            return false;
        }
        self.parties -= 1;
        let last = self.buckets.len() - 1;
        if !self.buckets[last].is_sealed()
            && self.parties > 0
            && self.buckets[last].arrived() == self.parties
        {
            let leader = self.last_waiting(last, None);
            self.seal(last, Lead::Awaiting(leader));
            self.events.departure_seals += 1;
        }
        true
    }

    // ---- operations on anonymous slots ----

    fn drop_slot(&mut self, slot: usize) {
        let handle = std::mem::replace(&mut self.slots[slot].handle, Handle::None);
        self.drop_handle(handle, false);
    }

    /// Drops the slot's future, then creates a new one (which panics while nobody is expected).
    fn create(&mut self, slot: usize, timed: bool) -> Got {
        self.drop_slot(slot);
        self.slots[slot].fired = false;
        if self.parties == 0 {
            return Got::Panicked(NO_PARTIES.into());
        }
        self.slots[slot].handle = Handle::Wait(MFuture::new(MWait::Unpolled, timed));
        Got::Nothing
    }

    fn poll_slot(&mut self, slot: usize, timed: bool) -> Got {
        let mut future = match self.slots[slot].handle {
            Handle::Wait(future) if future.state != MWait::Done => future,
            Handle::Token(token) => self.future_of(token.hold, timed),
            _ => {
                if let got @ Got::Panicked(_) = self.create(slot, timed) {
                    return got;
                }
                MFuture::new(MWait::Unpolled, timed)
            }
        };
        let deadline = self.slots[slot].fired && (future.timed || self.default_timeout);
        let got = self.poll_future(&mut future, deadline);
        self.slots[slot].handle = Handle::Wait(future);
        got
    }

    fn arrive_slot(&mut self, slot: usize) -> Got {
        self.drop_slot(slot);
        self.slots[slot].fired = false;
        match self.arrive() {
            Err(panicked) => panicked,
            Ok(Err(error)) => Got::Arrived(Err(error)),
            Ok(Ok(token)) => {
                self.slots[slot].handle = Handle::Token(token);
                Got::Arrived(Ok(token.generation))
            }
        }
    }

    // ---- operations on parties ----

    fn join(&mut self, p: usize) {
        if self.parties_slots[p].party.is_some() {
            self.go(p, Going::Drop);
        }
        self.parties += 1;
        self.parties_slots[p].party = Some(MParty { kept: None });
    }

    /// The party goes: its wait or token is dropped, then it leaves (rule 14), breaking the
    /// barrier first if its thread panics (rule 15).
    fn go(&mut self, p: usize, how: Going) {
        let handle = std::mem::replace(&mut self.parties_slots[p].slot.handle, Handle::None);
        let dropped = self.drop_handle(handle, true);
        let mut party = self.parties_slots[p].party.take().expect("a party to go");
        if dropped.is_some() {
            party.kept = dropped;
        }
        if let Going::Panic = how {
            self.events.party_panics += 1;
            self.abort();
        }
        if let Some(Hold::Ticket(arrival)) = party.kept {
            // Its arrival still counts where it was made: if that is the generation being
            // filled, the party departs from the next one (once it is sealed or ends).
            let filling = self.arrivals[arrival].ended.is_none()
                && !self.buckets[self.position(arrival)].is_sealed();
            self.stop_waiting(arrival, false, false);
            if filling {
                self.deferred += 1;
                self.events.deferred_departures += 1;
                return;
            }
        }
        self.depart();
    }

    fn party_mut(&mut self, p: usize) -> &mut MParty {
        self.parties_slots[p].party.as_mut().expect("a party")
    }

    fn party_poll(&mut self, p: usize, timed: bool) -> Got {
        if self.parties_slots[p].party.is_none() {
            self.join(p);
        }
        let mut future = match self.parties_slots[p].slot.handle {
            Handle::Wait(future) => future,
            Handle::Token(token) => self.future_of(token.hold, timed),
            Handle::None => {
                self.parties_slots[p].slot.fired = false;
                let kept = self.party_mut(p).kept.take();
                match self.resume(kept) {
                    Some(hold) => self.future_of(hold, timed),
                    None if self.parties == 0 => {
                        // `party.wait()` panics: the task unwinds, dropping the party.
                        self.go(p, Going::Panic);
                        return Got::Panicked(NO_PARTIES.into());
                    }
                    None => MFuture::new(MWait::Unpolled, timed),
                }
            }
        };
        let slot = &self.parties_slots[p].slot;
        let deadline = slot.fired && (future.timed || self.default_timeout);
        let got = self.poll_future(&mut future, deadline);
        self.parties_slots[p].slot.handle = match got {
            Got::Pending => Handle::Wait(future),
            _ => Handle::None,
        };
        if let Got::Panicked(_) = got {
            self.go(p, Going::Panic);
        }
        got
    }

    fn party_drop_handle(&mut self, p: usize) {
        let handle = std::mem::replace(&mut self.parties_slots[p].slot.handle, Handle::None);
        if let Some(kept) = self.drop_handle(handle, true) {
            self.party_mut(p).kept = Some(kept);
        }
    }

    fn party_arrive(&mut self, p: usize) -> Got {
        if self.parties_slots[p].party.is_none() {
            self.join(p);
        }
        self.party_drop_handle(p);
        self.parties_slots[p].slot.fired = false;
        let kept = self.party_mut(p).kept.take();
        let token = match self.resume(kept) {
            // At most one arrival outstanding: the token is for the kept one (rule 16).
            Some(hold) => MToken {
                generation: self.generation_of(hold),
                hold,
            },
            None => match self.arrive() {
                Err(panicked) => {
                    self.go(p, Going::Panic);
                    return panicked;
                }
                Ok(Err(error)) => return Got::Arrived(Err(error)),
                Ok(Ok(token)) => token,
            },
        };
        self.parties_slots[p].slot.handle = Handle::Token(token);
        Got::Arrived(Ok(token.generation))
    }

    /// Whether the wait in `handle` must have been woken since it was last polled: its last
    /// poll asked to be polled again (it completed a generation nobody was left to lead), its
    /// generation ended, or it was summoned to complete the current one (it leads it, or the
    /// current one awaits whoever polls next and this party waits behind it).
    fn must_be_woken(&self, handle: &Handle) -> bool {
        let Handle::Wait(future) = *handle else {
            return false;
        };
        if future.repoll {
            return true;
        }
        let MWait::Waiting { arrival, .. } = future.state else {
            return false;
        };
        if self.arrivals[arrival].ended.is_some() {
            return true;
        }
        match self.buckets[0].lead {
            Lead::Awaiting(Some(leader)) => leader == arrival,
            Lead::Awaiting(None) => self.position(arrival) > 0,
            Lead::Filling | Lead::Running => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The real barrier, driven by hand
// ---------------------------------------------------------------------------------------------

/// A deadline the test makes ready by setting its flag. It never wakes anyone: the test polls.
struct ManualDeadline(Arc<AtomicBool>);

impl Future for ManualDeadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0.load(SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// The test's own panic (a party's task panicking), kept quiet by [`quiet_panics`].
struct QuietPanic;

thread_local! {
    /// The panic hook stays quiet on this thread (the panics a case expects).
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once) a panic hook that stays quiet on a thread running a case: the panics there
/// are expected (and any other is caught and reported as a difference from the model).
fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, catching a panic as its message ([`NO_PARTIES`] for the barrier's "no parties"
/// panic, [`TEST_PANIC`] for the test's own).
fn catching<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        if payload.is::<QuietPanic>() {
            return TEST_PANIC.to_string();
        }
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if message.contains("the barrier has no parties") {
            NO_PARTIES.to_string()
        } else {
            message
        }
    })
}

fn outcome(result: Result<BarrierWaitResult, WaitError>) -> Outcome {
    result.map(|r| (r.index(), r.generation(), r.is_leader()))
}

/// A wait future of either kind.
enum Fut<'a> {
    Plain(BarrierWait<'a>),
    Timed(WaitTimeout<'a, ManualDeadline>),
}

impl Fut<'_> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        match self {
            Fut::Plain(f) => Pin::new(f).poll(cx),
            Fut::Timed(f) => Pin::new(f).poll(cx),
        }
        .map(outcome)
    }
}

fn fut<'a>(wait: BarrierWait<'a>, timed: bool, flag: &Arc<AtomicBool>) -> Fut<'a> {
    if timed {
        Fut::Timed(wait.timeout(ManualDeadline(flag.clone())))
    } else {
        Fut::Plain(wait)
    }
}

/// What an anonymous slot holds.
enum Held<'a> {
    None,
    Wait(Fut<'a>),
    /// A wait that returned its result (polling it again would panic).
    Done,
    Token(agnostic_barrier::ArrivalToken<'a>),
}

/// A counting waker, and its count when its holder was last polled.
struct Wakes {
    count: Arc<CountingWaker>,
    waker: Waker,
    at_poll: usize,
}

impl Wakes {
    fn new() -> Self {
        let count = Arc::new(CountingWaker::default());
        Wakes {
            waker: Waker::from(count.clone()),
            count,
            at_poll: 0,
        }
    }

    /// Records a poll and gives the context to poll with.
    fn polling(&mut self) -> Context<'_> {
        self.at_poll = self.count.0.load(SeqCst);
        Context::from_waker(&self.waker)
    }

    fn woken_since_poll(&self) -> bool {
        self.count.0.load(SeqCst) > self.at_poll
    }
}

struct RealSlot<'a> {
    held: Held<'a>,
    /// The deadline of the slot's current future (per call, or the default timeout's timer).
    flag: Arc<AtomicBool>,
    wakes: Wakes,
}

/// A command to a party's task.
#[derive(Clone, Copy, Debug)]
enum Command {
    /// Poll its wait: a new `party.wait()` if it has none, its token's wait if it holds one.
    Poll {
        timed: bool,
    },
    /// Drop its wait or token.
    DropHandle,
    Arrive,
    Leave,
    DropParty,
    /// Panic while holding the party (and its wait or token).
    Panic,
}

/// Between the test and a party's task.
struct Io {
    command: Option<Command>,
    reply: Got,
    /// The deadline of the party's current wait.
    flag: Arc<AtomicBool>,
}

impl Io {
    fn reply(&mut self, got: Got) {
        self.reply = got;
    }
}

/// The next command: pending until the test gives one.
async fn command(io: &RefCell<Io>) -> Command {
    poll_fn(|_| match io.borrow_mut().command.take() {
        Some(command) => Poll::Ready(command),
        None => Poll::Pending,
    })
    .await
}

/// Polls `wait` now and on each `Poll` command until it returns; returns the first other
/// command that needs the party (the wait is dropped before it is carried out).
async fn drive(wait: &mut Fut<'_>, io: &RefCell<Io>) -> Option<Command> {
    loop {
        match poll_fn(|cx| Poll::Ready(wait.poll(cx))).await {
            Poll::Ready(outcome) => {
                io.borrow_mut().reply(Got::Ready(outcome));
                return None;
            }
            Poll::Pending => io.borrow_mut().reply(Got::Pending),
        }
        match command(io).await {
            Command::Poll { .. } => {}
            Command::Panic => panic::panic_any(QuietPanic),
            Command::DropHandle => return None,
            other => return Some(other),
        }
    }
}

/// A party's task: joins, then carries out one command per poll until it goes.
async fn party_task(barrier: &Barrier, io: Rc<RefCell<Io>>) {
    let mut party = barrier.join();
    let mut next = None;
    loop {
        let todo = match next.take() {
            Some(todo) => todo,
            None => command(&io).await,
        };
        io.borrow_mut().reply(Got::Nothing);
        match todo {
            Command::Poll { timed } => {
                let flag = io.borrow().flag.clone();
                let mut wait = fut(party.wait(), timed, &flag);
                next = drive(&mut wait, &io).await;
            }
            Command::Arrive => match party.arrive() {
                Err(error) => io.borrow_mut().reply(Got::Arrived(Err(error))),
                Ok(token) => {
                    io.borrow_mut().reply(Got::Arrived(Ok(token.generation())));
                    match command(&io).await {
                        Command::Poll { timed } => {
                            let flag = io.borrow().flag.clone();
                            let mut wait = fut(token.wait(), timed, &flag);
                            next = drive(&mut wait, &io).await;
                        }
                        Command::Panic => panic::panic_any(QuietPanic),
                        Command::DropHandle => io.borrow_mut().reply(Got::Nothing),
                        other => next = Some(other),
                    }
                }
            },
            Command::DropHandle => {}
            Command::Leave => return party.leave(),
            Command::DropParty => return drop(party),
            Command::Panic => panic::panic_any(QuietPanic),
        }
    }
}

type Task<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// What a party's task holds, as the test tracks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Live {
    None,
    Wait,
    Token,
}

struct RealParty<'a> {
    task: Option<Task<'a>>,
    io: Rc<RefCell<Io>>,
    live: Live,
    wakes: Wakes,
}

/// State shared with the action.
#[derive(Debug)]
struct ActionShared {
    arm: Arm,
    seen: Vec<ActionSeen>,
}

/// The real side of a case.
struct Real {
    barrier: Arc<Barrier>,
    action: Arc<Mutex<ActionShared>>,
    /// The deadline flag the default timeout's timers use: that of the slot being polled.
    current_flag: Arc<Mutex<Arc<AtomicBool>>>,
}

impl Real {
    fn new(case: &Case) -> Real {
        let action = Arc::new(Mutex::new(ActionShared {
            arm: Arm::None,
            seen: Vec::new(),
        }));
        let current_flag = Arc::new(Mutex::new(Arc::new(AtomicBool::new(false))));
        let barrier = Arc::new_cyclic(|weak: &std::sync::Weak<Barrier>| {
            let mut builder = if case.parties == 0 {
                Barrier::dynamic_builder()
            } else {
                Barrier::builder(case.parties)
            };
            if case.action {
                let weak = weak.clone();
                let shared = action.clone();
                builder = builder.action(move || {
                    let barrier = weak.upgrade().expect("the barrier runs its action");
                    let seen = (
                        barrier.n_waiting(),
                        barrier.generation(),
                        barrier.is_broken(),
                        barrier.parties(),
                    );
                    let mut shared = shared.lock().unwrap();
                    shared.seen.push(seen);
                    let arm = std::mem::replace(&mut shared.arm, Arm::None);
                    drop(shared);
                    match arm {
                        Arm::None => {}
                        Arm::Abort => barrier.abort(),
                        Arm::Reset => barrier.reset(),
                    }
                });
            }
            if case.default_timeout {
                let current = current_flag.clone();
                builder = builder.timeout(Duration::from_secs(1), move |_| {
                    ManualDeadline(current.lock().unwrap().clone())
                });
            }
            builder.build()
        });
        Real {
            barrier,
            action,
            current_flag,
        }
    }

    fn set_flag(&self, flag: &Arc<AtomicBool>) {
        *self.current_flag.lock().unwrap() = flag.clone();
    }
}

fn new_flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

fn real_create<'a>(barrier: &'a Barrier, slot: &mut RealSlot<'a>, timed: bool) -> Got {
    slot.held = Held::None;
    slot.flag = new_flag();
    match catching(|| barrier.wait()) {
        Ok(wait) => {
            slot.held = Held::Wait(fut(wait, timed, &slot.flag));
            Got::Nothing
        }
        Err(message) => Got::Panicked(message),
    }
}

fn real_poll<'a>(real: &Real, barrier: &'a Barrier, slot: &mut RealSlot<'a>, timed: bool) -> Got {
    match std::mem::replace(&mut slot.held, Held::None) {
        Held::Wait(wait) => slot.held = Held::Wait(wait),
        Held::Token(token) => slot.held = Held::Wait(fut(token.wait(), timed, &slot.flag)),
        Held::None | Held::Done => {
            if let got @ Got::Panicked(_) = real_create(barrier, slot, timed) {
                return got;
            }
        }
    }
    real.set_flag(&slot.flag);
    let Held::Wait(wait) = &mut slot.held else {
        unreachable!()
    };
    let mut cx = slot.wakes.polling();
    match catching(|| wait.poll(&mut cx)) {
        Ok(Poll::Pending) => Got::Pending,
        Ok(Poll::Ready(outcome)) => {
            slot.held = Held::Done;
            Got::Ready(outcome)
        }
        Err(message) => Got::Panicked(message),
    }
}

/// Sends `command` (or none, to start the task) to a party's task and polls it once.
fn real_command(real: &Real, party: &mut RealParty<'_>, command: Option<Command>) -> Got {
    let task = party.task.as_mut().expect("a party's task");
    {
        let mut io = party.io.borrow_mut();
        io.command = command;
        io.reply = Got::Nothing;
    }
    real.set_flag(&party.io.borrow().flag);
    let mut cx = party.wakes.polling();
    let polled = catching(|| task.as_mut().poll(&mut cx));
    let got = std::mem::replace(&mut party.io.borrow_mut().reply, Got::Nothing);
    match polled {
        Ok(Poll::Pending) => {
            party.live = match (&got, command) {
                (Got::Pending, _) => Live::Wait,
                (Got::Arrived(Ok(_)), _) => Live::Token,
                _ => Live::None,
            };
            got
        }
        Ok(Poll::Ready(())) => {
            party.task = None;
            party.live = Live::None;
            got
        }
        Err(message) => {
            // The task unwound: its party was dropped while the thread panicked.
            party.task = None;
            party.live = Live::None;
            Got::Panicked(message)
        }
    }
}

fn real_join<'a>(real: &Real, barrier: &'a Barrier, party: &mut RealParty<'a>) {
    if party.task.is_some() {
        real_command(real, party, Some(Command::DropParty));
    }
    party.io.borrow_mut().flag = new_flag();
    party.task = Some(Box::pin(party_task(barrier, party.io.clone())));
    let got = real_command(real, party, None);
    debug_assert_eq!(got, Got::Nothing);
}

// ---------------------------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------------------------

struct Mismatch(String);

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! check_eq {
    ($step:expr, $what:expr, $real:expr, $model:expr) => {{
        let (real, model) = (&$real, &$model);
        if real != model {
            return Err(Mismatch(format!(
                "after step {} ({:?}): {}: barrier says {:?}, model says {:?}",
                $step.0, $step.1, $what, real, model
            )));
        }
    }};
}

/// How a case ended.
#[derive(Debug, Default)]
struct Ran {
    /// Generations released, and passes handed out.
    generations: usize,
    passes: usize,
    events: Events,
}

/// Checks the passes of each generation on their own (rule 2, 14): distinct indices below its
/// parties, at most one leader, exactly one if all its passes were handed out.
fn check_passes(
    passes: &BTreeMap<u64, Vec<(usize, bool)>>,
    released: &BTreeMap<u64, usize>,
) -> Result<(), Mismatch> {
    for (&generation, passed) in passes {
        let Some(&n) = released.get(&generation) else {
            return Err(Mismatch(format!(
                "generation {generation} passed {passed:?} but was never released"
            )));
        };
        let mut indices: Vec<usize> = passed.iter().map(|&(index, _)| index).collect();
        indices.sort_unstable();
        indices.dedup();
        let leaders = passed.iter().filter(|&&(_, leader)| leader).count();
        if indices.len() != passed.len()
            || indices.last().is_some_and(|&i| i >= n)
            || leaders > 1
            || (passed.len() == n && leaders != 1)
        {
            return Err(Mismatch(format!(
                "generation {generation} of {n} parties passed (index, leader) {passed:?}"
            )));
        }
    }
    Ok(())
}

/// Runs `case` against the real barrier and the model; `Err` describes the first difference.
fn run_case(case: &Case) -> Result<Ran, Mismatch> {
    quiet_panics();
    QUIET.with(|q| q.set(true));
    let result = run_case_quietly(case);
    QUIET.with(|q| q.set(false));
    result
}

fn run_case_quietly(case: &Case) -> Result<Ran, Mismatch> {
    let real = Real::new(case);
    let barrier: &Barrier = &real.barrier;
    let mut model = Model::new(case);
    let mut slots: Vec<RealSlot<'_>> = (0..case.slots)
        .map(|_| RealSlot {
            held: Held::None,
            flag: new_flag(),
            wakes: Wakes::new(),
        })
        .collect();
    let mut parties: Vec<RealParty<'_>> = (0..case.party_slots)
        .map(|_| RealParty {
            task: None,
            io: Rc::new(RefCell::new(Io {
                command: None,
                reply: Got::Nothing,
                flag: new_flag(),
            })),
            live: Live::None,
            wakes: Wakes::new(),
        })
        .collect();
    let mut passes: BTreeMap<u64, Vec<(usize, bool)>> = BTreeMap::new();
    let mut ran = Ran::default();

    for (n, &op) in case.ops.iter().enumerate() {
        let step = (n, op);
        let (got, want): (Got, Got) = match op {
            Op::Create { slot, timed } => (
                real_create(barrier, &mut slots[slot], timed),
                model.create(slot, timed),
            ),
            Op::Poll { slot, timed } => (
                real_poll(&real, barrier, &mut slots[slot], timed),
                model.poll_slot(slot, timed),
            ),
            Op::Drop { slot } => {
                slots[slot].held = Held::None;
                model.drop_slot(slot);
                (Got::Nothing, Got::Nothing)
            }
            Op::Fire { slot } => {
                slots[slot].flag.store(true, SeqCst);
                model.slots[slot].fired = true;
                (Got::Nothing, Got::Nothing)
            }
            Op::Convert { slot } => {
                let s = &mut slots[slot];
                if let Held::Wait(Fut::Plain(_)) = s.held {
                    let Held::Wait(Fut::Plain(wait)) = std::mem::replace(&mut s.held, Held::None)
                    else {
                        unreachable!()
                    };
                    s.held = Held::Wait(Fut::Timed(wait.timeout(ManualDeadline(s.flag.clone()))));
                    let Handle::Wait(future) = &mut model.slots[slot].handle else {
                        unreachable!("the model holds the same wait")
                    };
                    future.timed = true;
                }
                (Got::Nothing, Got::Nothing)
            }
            Op::Arrive { slot } => {
                let s = &mut slots[slot];
                s.held = Held::None;
                s.flag = new_flag();
                let got = match catching(|| barrier.arrive()) {
                    Ok(Ok(token)) => {
                        let generation = token.generation();
                        s.held = Held::Token(token);
                        Got::Arrived(Ok(generation))
                    }
                    Ok(Err(error)) => Got::Arrived(Err(error)),
                    Err(message) => Got::Panicked(message),
                };
                (got, model.arrive_slot(slot))
            }
            Op::Join { party } => {
                real_join(&real, barrier, &mut parties[party]);
                model.join(party);
                (Got::Nothing, Got::Nothing)
            }
            Op::PartyPoll { party, timed } => {
                let p = &mut parties[party];
                if p.task.is_none() {
                    real_join(&real, barrier, p);
                }
                if p.live == Live::None {
                    p.io.borrow_mut().flag = new_flag();
                }
                let got = real_command(&real, p, Some(Command::Poll { timed }));
                (got, model.party_poll(party, timed))
            }
            Op::PartyDrop { party } => {
                if parties[party].task.is_none() {
                    continue;
                }
                let got = real_command(&real, &mut parties[party], Some(Command::DropHandle));
                model.party_drop_handle(party);
                (got, Got::Nothing)
            }
            Op::PartyArrive { party } => {
                let p = &mut parties[party];
                if p.task.is_none() {
                    real_join(&real, barrier, p);
                }
                p.io.borrow_mut().flag = new_flag();
                let got = real_command(&real, p, Some(Command::Arrive));
                (got, model.party_arrive(party))
            }
            Op::PartyFire { party } => {
                if parties[party].task.is_none() {
                    continue;
                }
                parties[party].io.borrow().flag.store(true, SeqCst);
                model.parties_slots[party].slot.fired = true;
                (Got::Nothing, Got::Nothing)
            }
            Op::Leave { party, how } => {
                if parties[party].task.is_none() {
                    continue;
                }
                let command = match how {
                    Going::Leave => Command::Leave,
                    Going::Drop => Command::DropParty,
                    Going::Panic => Command::Panic,
                };
                let got = real_command(&real, &mut parties[party], Some(command));
                model.go(party, how);
                let want = match how {
                    Going::Panic => Got::Panicked(TEST_PANIC.into()),
                    _ => Got::Nothing,
                };
                (got, want)
            }
            Op::AddParties(n) => {
                let added = barrier.add_parties(n);
                model.parties += n;
                (Got::Added(added), Got::Added(model.first_unsealed()))
            }
            Op::ArriveAndDrop => {
                let got = match catching(|| barrier.arrive_and_drop()) {
                    Ok(()) => Got::Nothing,
                    Err(message) if message.contains("arrive_and_drop() on a barrier with no") => {
                        Got::Panicked(NO_PARTIES.into())
                    }
                    Err(message) => Got::Panicked(message),
                };
                let want = if model.depart() {
                    Got::Nothing
                } else {
                    Got::Panicked(NO_PARTIES.into())
                };
                (got, want)
            }
            Op::Abort => {
                barrier.abort();
                model.abort();
                (Got::Nothing, Got::Nothing)
            }
            Op::Reset => {
                barrier.reset();
                model.reset();
                (Got::Nothing, Got::Nothing)
            }
            Op::ArmAbort | Op::ArmReset => {
                let arm = if let Op::ArmAbort = op {
                    Arm::Abort
                } else {
                    Arm::Reset
                };
                real.action.lock().unwrap().arm = arm;
                model.arm = arm;
                (Got::Nothing, Got::Nothing)
            }
        };
        check_eq!(step, "result", got, want);
        if want == Got::Panicked(NO_PARTIES.into()) {
            model.events.no_parties += 1;
        }
        if let Got::Ready(Ok((index, generation, leader))) = got {
            passes.entry(generation).or_default().push((index, leader));
            ran.passes += 1;
        }
        check_eq!(step, "n_waiting()", barrier.n_waiting(), model.n_waiting());
        check_eq!(step, "is_broken()", barrier.is_broken(), model.broken);
        check_eq!(step, "generation()", barrier.generation(), model.generation);
        check_eq!(step, "parties()", barrier.parties(), model.parties);
        check_eq!(
            step,
            "what the action runs saw (n_waiting, generation, is_broken, parties)",
            real.action.lock().unwrap().seen,
            model.action_runs
        );
        // A party whose outcome is decided, or that is summoned to complete its generation,
        // must have been woken since it was last polled.
        for (i, (s, m)) in slots.iter().zip(&model.slots).enumerate() {
            if model.must_be_woken(&m.handle) {
                check_eq!(
                    step,
                    format!("slot {i} woken"),
                    s.wakes.woken_since_poll(),
                    true
                );
            }
        }
        for (i, (p, m)) in parties.iter().zip(&model.parties_slots).enumerate() {
            check_eq!(
                step,
                format!("party {i} joined"),
                p.task.is_some(),
                m.party.is_some()
            );
            if model.must_be_woken(&m.slot.handle) {
                check_eq!(
                    step,
                    format!("party {i} woken"),
                    p.wakes.woken_since_poll(),
                    true
                );
            }
        }
    }
    // Dropping everything (the anonymous slots, then each party's task: its wait or token,
    // then the party) must leave the model's view of the barrier.
    drop(slots);
    for slot in 0..case.slots {
        model.drop_slot(slot);
    }
    drop(parties);
    for p in 0..case.party_slots {
        if model.parties_slots[p].party.is_some() {
            model.go(p, Going::Drop);
        }
    }
    let end = (case.ops.len(), "dropping every slot and party");
    check_eq!(end, "n_waiting()", barrier.n_waiting(), model.n_waiting());
    check_eq!(end, "is_broken()", barrier.is_broken(), model.broken);
    check_eq!(end, "generation()", barrier.generation(), model.generation);
    check_eq!(end, "parties()", barrier.parties(), model.parties);
    check_passes(&passes, &model.released)?;
    ran.generations = model.released.len();
    ran.events = model.events;
    Ok(ran)
}

/// A case, one operation a line, ready to paste into a regression test.
fn show(case: &Case) -> String {
    let mut out = format!(
        "parties: {}, slots: {}, party_slots: {}, action: {}, default_timeout: {}\n",
        case.parties, case.slots, case.party_slots, case.action, case.default_timeout
    );
    for (n, op) in case.ops.iter().enumerate() {
        out += &format!("  {n:3}: {op:?}\n");
    }
    out
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}")),
        Err(_) => default,
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn barrier_matches_sequential_model() {
    // Unoptimized builds (plain `cargo test`) run 30x fewer; CI also runs the full count in
    // release.
    let default_cases = if cfg!(debug_assertions) {
        10_000
    } else {
        300_000
    };
    let cases = env_u64("MODEL_CASES", default_cases) as u32;
    let seed = env_u64("MODEL_SEED", 0x05ee_dba7_71e5);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 100_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let ops = AtomicUsize::new(0);
    let party_ops = AtomicUsize::new(0);
    let generations = AtomicUsize::new(0);
    let passes = AtomicUsize::new(0);
    let events = Mutex::new(Events::default());
    let started = Instant::now();
    let outcome = runner.run(&case_strategy(), |case| {
        let ran = run_case(&case).map_err(|m| TestCaseError::fail(m.to_string()))?;
        ops.fetch_add(case.ops.len(), SeqCst);
        let with_parties = case.ops.iter().filter(|op| {
            !matches!(
                op,
                Op::Create { .. }
                    | Op::Poll { .. }
                    | Op::Drop { .. }
                    | Op::Fire { .. }
                    | Op::Convert { .. }
                    | Op::Abort
                    | Op::Reset
                    | Op::ArmAbort
                    | Op::ArmReset
            )
        });
        party_ops.fetch_add(with_parties.count(), SeqCst);
        generations.fetch_add(ran.generations, SeqCst);
        passes.fetch_add(ran.passes, SeqCst);
        events.lock().unwrap().add(&ran.events);
        Ok(())
    });
    match outcome {
        Ok(()) => println!(
            "model: {cases} cases passed ({} operations, {} of them on parties, their number, \
             or split-phase arrivals; {} generations released, {} passes checked) in {:.1?}, \
             seed {seed:#x}; events reached: {:?}",
            ops.load(SeqCst),
            party_ops.load(SeqCst),
            generations.load(SeqCst),
            passes.load(SeqCst),
            started.elapsed(),
            events.lock().unwrap()
        ),
        Err(TestError::Fail(reason, case)) => panic!(
            "the barrier differs from the model (seed {seed:#x}; rerun with MODEL_SEED={seed}).\n\
             Minimal case:\n{}\n{reason}",
            show(&case)
        ),
        Err(TestError::Abort(reason)) => panic!("proptest aborted (seed {seed:#x}): {reason}"),
    }
}

/// Runs fixed cases, which must match the model; returns the events each reached.
fn run_fixed(cases: &[Case]) -> Vec<Events> {
    cases
        .iter()
        .map(|case| match run_case(case) {
            Ok(ran) => ran.events,
            Err(m) => panic!("{m}\ncase:\n{}", show(case)),
        })
        .collect()
}

/// A few fixed sequences of the rules the model encodes, so that a wrong model fails here
/// rather than being trusted.
#[test]
fn model_sanity_fixed_sequences() {
    use Op::*;
    let case = |parties, slots, action, default_timeout, ops| Case {
        parties,
        slots,
        party_slots: 0,
        action,
        default_timeout,
        ops,
    };
    run_fixed(&[
        // Withdraw index 0 of three: the next arrival reuses it; the completer gets 2.
        case(
            3,
            4,
            true,
            false,
            vec![
                Poll {
                    slot: 0,
                    timed: false,
                },
                Poll {
                    slot: 1,
                    timed: false,
                },
                Drop { slot: 0 },
                Poll {
                    slot: 2,
                    timed: true,
                },
                Poll {
                    slot: 3,
                    timed: false,
                },
                Poll {
                    slot: 1,
                    timed: false,
                },
                Poll {
                    slot: 2,
                    timed: false,
                },
            ],
        ),
        // A deadline fired for a waiting party breaks the barrier; reset mends it.
        case(
            2,
            3,
            false,
            true,
            vec![
                Poll {
                    slot: 0,
                    timed: false,
                },
                Fire { slot: 0 },
                Poll {
                    slot: 0,
                    timed: false,
                },
                Poll {
                    slot: 1,
                    timed: true,
                },
                Reset,
                Poll {
                    slot: 1,
                    timed: true,
                },
                Poll {
                    slot: 2,
                    timed: true,
                },
                Poll {
                    slot: 1,
                    timed: true,
                },
            ],
        ),
    ]);
}

/// Fixed sequences of rules 14-17, checked against the model as the random cases are.
#[test]
fn model_sanity_fixed_sequences_with_parties() {
    use Op::*;
    let poll = |slot| Poll { slot, timed: false };
    let party_poll = |party| PartyPoll {
        party,
        timed: false,
    };
    let case = |parties, ops| Case {
        parties,
        slots: 3,
        party_slots: 3,
        action: true,
        default_timeout: false,
        ops,
    };
    let events = run_fixed(&[
        // A departure completes generation 0 (a, b): b, the last arrival, leads and runs the
        // action in its next poll; then a dynamic barrier's parties come and go.
        case(
            3,
            vec![
                poll(0),
                poll(1),
                ArriveAndDrop,
                poll(0),
                poll(1),
                poll(0),
                Join { party: 0 },
                party_poll(0),
                poll(2),
                party_poll(0),
            ],
        ),
        // A party's wait dropped after its generation was sealed keeps its pass; the next
        // wait returns it without arriving.
        case(
            0,
            vec![
                Join { party: 0 },
                Join { party: 1 },
                party_poll(0),
                party_poll(1),
                PartyDrop { party: 0 },
                party_poll(0),
                party_poll(0),
            ],
        ),
        // A party that panics breaks the barrier and leaves; reset mends it.
        case(
            2,
            vec![
                poll(0),
                Join { party: 0 },
                party_poll(0),
                Leave {
                    party: 0,
                    how: Going::Panic,
                },
                poll(0),
                Reset,
                poll(1),
                poll(2),
            ],
        ),
        // Split phase: arrive() counts at once, a dropped token withdraws nothing; the
        // completing arrival runs the action inside arrive(); a party's dropped token is
        // waited for by its next wait.
        case(
            2,
            vec![
                Arrive { slot: 0 },
                Drop { slot: 0 },
                Arrive { slot: 1 },
                poll(1),
                Join { party: 0 },
                PartyArrive { party: 0 },
                PartyDrop { party: 0 },
                poll(2),
                party_poll(0),
                AddParties(2),
                ArriveAndDrop,
                ArriveAndDrop,
                ArriveAndDrop,
                ArriveAndDrop,
                Create {
                    slot: 0,
                    timed: false,
                },
            ],
        ),
        // One action per poll (rule 19): generation 0 (a, b) is sealed by a departure and both
        // give up; c's first poll completes it and returns Pending, woken; its next poll
        // arrives in generation 1 (one party, after a second departure) and completes it.
        case(
            3,
            vec![
                poll(0),
                poll(1),
                ArriveAndDrop,
                ArriveAndDrop,
                Drop { slot: 1 },
                Drop { slot: 0 },
                poll(2),
                poll(2),
            ],
        ),
        // A leader that claims its generation later gets its relabeled index: a withdraws
        // seat 0, two departures seal generation 0 with b and c, and c leads from seat 2.
        case(
            4,
            vec![
                poll(0),
                poll(1),
                poll(2),
                Drop { slot: 0 },
                ArriveAndDrop,
                ArriveAndDrop,
                poll(2),
                poll(1),
            ],
        ),
        // A party that leaves with a kept arrival in the generation being filled departs from
        // the next one: parties() stays 3 until generation 0 is sealed by its last arrival.
        case(
            2,
            vec![
                Join { party: 0 },
                PartyArrive { party: 0 },
                PartyDrop { party: 0 },
                Leave {
                    party: 0,
                    how: Going::Leave,
                },
                poll(0),
                poll(1),
                poll(0),
            ],
        ),
        // A leader that gives up hands the lead to a party still polling (q), not to the
        // party that arrived after it but dropped its wait (kept, idle); with nobody polling,
        // to that idle party, which runs the action in its next wait.
        case(
            3,
            vec![
                poll(0),
                party_poll(0),
                poll(1),
                ArriveAndDrop,
                PartyDrop { party: 0 },
                Drop { slot: 1 },
                poll(0),
                party_poll(0),
            ],
        ),
        case(
            3,
            vec![
                poll(0),
                party_poll(0),
                poll(1),
                ArriveAndDrop,
                PartyDrop { party: 0 },
                Drop { slot: 0 },
                Drop { slot: 1 },
                party_poll(0),
            ],
        ),
    ]);
    // The cases above reach what they are about.
    let [.., orphan, relabel, deferred, passed_over, idle] = events[..] else {
        unreachable!()
    };
    assert_eq!(orphan.orphan_polls, 1, "{orphan:?}");
    assert_eq!(relabel.late_leader_relabels, 1, "{relabel:?}");
    assert_eq!(deferred.deferred_departures, 1, "{deferred:?}");
    assert_eq!(passed_over.idle_passed_over, 1, "{passed_over:?}");
    assert_eq!(idle.idle_handovers, 1, "{idle:?}");
}
