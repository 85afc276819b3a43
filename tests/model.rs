//! Model-based test: a small sequential reference model of the SPEC rules (arrival, withdrawal,
//! completion, abort, reset, deadlines, the action) and a proptest that drives the real barrier
//! through random operation sequences, comparing every observable result after every step.
//!
//! The futures are polled by hand on one thread with counting wakers, so the model is exact: a
//! party that arrived and was not released stays `Pending`, a released one returns its result,
//! and every party whose outcome was decided must have been woken. Deadlines are futures flipped
//! ready by the test ([`ManualDeadline`]); the builder's default timeout uses the same flags.
//!
//! Run with `cargo test --release --test model -- --nocapture` to see the case count.
//! `MODEL_CASES` and `MODEL_SEED` override the number of cases (default 100,000 in release
//! builds, 5,000 in debug builds) and the seed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use agnostic_barrier::{Barrier, BarrierWait, WaitError, WaitTimeout};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// What a wait returned, as `(index, generation, leader)` on success.
type Outcome = Result<(usize, u64, bool), WaitError>;

/// Most slots (concurrent wait futures) a case uses.
const MAX_SLOTS: usize = 8;
/// Most parties a case uses.
const MAX_PARTIES: usize = 6;

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// One step of a case.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// Drop the slot's future, then create a new one without polling it.
    Create {
        slot: usize,
        timed: bool,
    },
    /// Poll the slot's future, creating it first if the slot is empty or its future finished
    /// (`timed` picks `wait().timeout(deadline)` over `wait()` for a new future).
    Poll {
        slot: usize,
        timed: bool,
    },
    /// Drop the slot's future.
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
    parties: usize,
    slots: usize,
    action: bool,
    default_timeout: bool,
    ops: Vec<Op>,
}

fn op_strategy(slots: usize) -> impl Strategy<Value = Op> {
    let slot = 0..slots;
    prop_oneof![
        3 => (slot.clone(), any::<bool>()).prop_map(|(slot, timed)| Op::Create { slot, timed }),
        12 => (slot.clone(), any::<bool>()).prop_map(|(slot, timed)| Op::Poll { slot, timed }),
        3 => slot.clone().prop_map(|slot| Op::Drop { slot }),
        2 => slot.clone().prop_map(|slot| Op::Fire { slot }),
        1 => slot.prop_map(|slot| Op::Convert { slot }),
        1 => Just(Op::Abort),
        1 => Just(Op::Reset),
        1 => Just(Op::ArmAbort),
        1 => Just(Op::ArmReset),
    ]
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (1..=MAX_PARTIES, 1..=MAX_SLOTS, any::<bool>(), any::<bool>()).prop_flat_map(
        |(parties, slots, action, default_timeout)| {
            proptest::collection::vec(op_strategy(slots), 0..80).prop_map(move |ops| Case {
                parties,
                slots,
                action,
                default_timeout,
                ops,
            })
        },
    )
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

#[derive(Clone, Debug, PartialEq, Eq)]
enum MState {
    /// No future.
    Empty,
    /// Created, not polled: not arrived.
    Unpolled,
    /// Arrived in the generation being filled, with this index.
    Waiting(usize),
    /// Its generation ended (released, broken or reset); the next poll returns this.
    Resolved(Outcome),
    /// The future returned its result.
    Done,
}

#[derive(Clone, Debug)]
struct MSlot {
    state: MState,
    /// `wait().timeout(..)` (or converted to it) rather than a plain `wait()`.
    timed: bool,
    /// The slot's deadline is ready.
    fired: bool,
}

/// What an action run observed: `(n_waiting(), generation(), is_broken())`.
type ActionSeen = (usize, u64, bool);

/// The sequential reference model of SPEC.md.
#[derive(Debug)]
struct Model {
    parties: usize,
    action: bool,
    default_timeout: bool,
    generation: u64,
    broken: bool,
    /// The seats of the generation being filled, as in `src/seats.rs`: one past the highest
    /// index handed out, and the given-back indices below it (reused last-in, first-out).
    high: usize,
    free: Vec<usize>,
    slots: Vec<MSlot>,
    arm: Arm,
    action_runs: Vec<ActionSeen>,
}

impl Model {
    fn new(case: &Case) -> Self {
        Model {
            parties: case.parties,
            action: case.action,
            default_timeout: case.default_timeout,
            generation: 0,
            broken: false,
            high: 0,
            free: Vec::new(),
            slots: vec![
                MSlot {
                    state: MState::Empty,
                    timed: false,
                    fired: false,
                };
                case.slots
            ],
            arm: Arm::None,
            action_runs: Vec::new(),
        }
    }

    fn n_waiting(&self) -> usize {
        self.high - self.free.len()
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

    /// Whether a ready deadline makes this slot time out.
    fn deadline_applies(&self, slot: usize) -> bool {
        let s = &self.slots[slot];
        s.fired && (s.timed || self.default_timeout)
    }

    /// Ends the generation being filled: every waiting party gets `outcome_of(index)`.
    fn end_generation(&mut self, outcome_of: impl Fn(usize) -> Outcome) {
        for s in &mut self.slots {
            if let MState::Waiting(index) = s.state {
                s.state = MState::Resolved(outcome_of(index));
            }
        }
        self.high = 0;
        self.free.clear();
    }

    fn abort(&mut self) {
        self.end_generation(|_| Err(WaitError::Broken));
        self.broken = true;
    }

    fn reset(&mut self) {
        self.end_generation(|_| Err(WaitError::Broken));
        self.broken = false;
        self.generation += 1;
    }

    fn drop_slot(&mut self, slot: usize) {
        if let MState::Waiting(index) = self.slots[slot].state {
            self.give_back(index);
        }
        self.slots[slot].state = MState::Empty;
    }

    fn create(&mut self, slot: usize, timed: bool) {
        self.drop_slot(slot);
        self.slots[slot] = MSlot {
            state: MState::Unpolled,
            timed,
            fired: false,
        };
    }

    /// The deadline of a waiting party passed before its generation completed (rule 9).
    fn time_out(&mut self, slot: usize) -> Option<Outcome> {
        self.slots[slot].state = MState::Done;
        self.abort();
        Some(Err(WaitError::TimedOut))
    }

    /// Polls a slot that holds a future; `None` is `Pending`.
    fn poll(&mut self, slot: usize) -> Option<Outcome> {
        match self.slots[slot].state.clone() {
            MState::Empty | MState::Done => unreachable!("the caller creates a future first"),
            MState::Resolved(outcome) => {
                self.slots[slot].state = MState::Done;
                Some(outcome)
            }
            MState::Waiting(_) => {
                if self.deadline_applies(slot) {
                    self.time_out(slot)
                } else {
                    None
                }
            }
            MState::Unpolled => {
                if self.broken {
                    self.slots[slot].state = MState::Done;
                    return Some(Err(WaitError::Broken));
                }
                let index = self.take_seat();
                if self.n_waiting() == self.parties {
                    self.slots[slot].state = MState::Done;
                    return Some(self.complete(index));
                }
                self.slots[slot].state = MState::Waiting(index);
                if self.deadline_applies(slot) {
                    self.time_out(slot)
                } else {
                    None
                }
            }
        }
    }

    /// The party with seat `index` completed the generation (rules 2, 3, 4, 7).
    fn complete(&mut self, index: usize) -> Outcome {
        let generation = self.generation;
        if self.action {
            self.action_runs.push((self.parties, generation, false));
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
        self.end_generation(|i| Ok((i, generation, false)));
        self.generation += 1;
        Ok((index, generation, true))
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

enum Fut<'a> {
    Plain(BarrierWait<'a>),
    Timed(WaitTimeout<'a, ManualDeadline>),
}

struct RealSlot<'a> {
    fut: Option<Fut<'a>>,
    /// The future returned its result (polling it again would panic).
    done: bool,
    /// The deadline of the slot's current future (per call, or the default timeout's timer).
    flag: Arc<AtomicBool>,
    wakes: Arc<CountingWaker>,
    waker: Waker,
    /// `wakes` when the slot was last polled.
    wakes_at_poll: usize,
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
            let mut builder = Barrier::builder(case.parties);
            if case.action {
                let weak = weak.clone();
                let shared = action.clone();
                builder = builder.action(move || {
                    let barrier = weak.upgrade().expect("the barrier runs its action");
                    let seen = (
                        barrier.n_waiting(),
                        barrier.generation(),
                        barrier.is_broken(),
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
}

fn new_slot<'a>() -> RealSlot<'a> {
    let wakes = Arc::new(CountingWaker::default());
    RealSlot {
        fut: None,
        done: false,
        flag: Arc::new(AtomicBool::new(false)),
        waker: Waker::from(wakes.clone()),
        wakes,
        wakes_at_poll: 0,
    }
}

fn create<'a>(barrier: &'a Barrier, slot: &mut RealSlot<'a>, timed: bool) {
    slot.fut = None;
    slot.done = false;
    slot.flag = Arc::new(AtomicBool::new(false));
    let wait = barrier.wait();
    slot.fut = Some(if timed {
        Fut::Timed(wait.timeout(ManualDeadline(slot.flag.clone())))
    } else {
        Fut::Plain(wait)
    });
}

fn poll_slot(real: &Real, slot: &mut RealSlot<'_>) -> Option<Outcome> {
    *real.current_flag.lock().unwrap() = slot.flag.clone();
    slot.wakes_at_poll = slot.wakes.0.load(SeqCst);
    let mut cx = Context::from_waker(&slot.waker);
    let polled = match slot.fut.as_mut().expect("a future to poll") {
        Fut::Plain(f) => Pin::new(f).poll(&mut cx),
        Fut::Timed(f) => Pin::new(f).poll(&mut cx),
    };
    match polled {
        Poll::Pending => None,
        Poll::Ready(result) => {
            slot.done = true;
            Some(result.map(|r| (r.index(), r.generation(), r.is_leader())))
        }
    }
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

/// Runs `case` against the real barrier and the model; `Err` describes the first difference.
fn run_case(case: &Case) -> Result<(), Mismatch> {
    let real = Real::new(case);
    let barrier: &Barrier = &real.barrier;
    let mut model = Model::new(case);
    let mut slots: Vec<RealSlot<'_>> = (0..case.slots).map(|_| new_slot()).collect();

    for (n, &op) in case.ops.iter().enumerate() {
        let step = (n, op);
        let mut polled: Option<(usize, Option<Outcome>, Option<Outcome>)> = None;
        match op {
            Op::Create { slot, timed } => {
                create(barrier, &mut slots[slot], timed);
                model.create(slot, timed);
            }
            Op::Poll { slot, timed } => {
                if slots[slot].fut.is_none() || slots[slot].done {
                    create(barrier, &mut slots[slot], timed);
                    model.create(slot, timed);
                }
                let got = poll_slot(&real, &mut slots[slot]);
                let want = model.poll(slot);
                polled = Some((slot, got, want));
            }
            Op::Drop { slot } => {
                slots[slot].fut = None;
                model.drop_slot(slot);
            }
            Op::Fire { slot } => {
                slots[slot].flag.store(true, SeqCst);
                model.slots[slot].fired = true;
            }
            Op::Convert { slot } => {
                let s = &mut slots[slot];
                if let (Some(Fut::Plain(_)), false) = (&s.fut, s.done) {
                    let Some(Fut::Plain(wait)) = s.fut.take() else {
                        unreachable!()
                    };
                    s.fut = Some(Fut::Timed(wait.timeout(ManualDeadline(s.flag.clone()))));
                    model.slots[slot].timed = true;
                }
            }
            Op::Abort => {
                barrier.abort();
                model.abort();
            }
            Op::Reset => {
                barrier.reset();
                model.reset();
            }
            Op::ArmAbort | Op::ArmReset => {
                let arm = if let Op::ArmAbort = op {
                    Arm::Abort
                } else {
                    Arm::Reset
                };
                real.action.lock().unwrap().arm = arm;
                model.arm = arm;
            }
        }

        if let Some((slot, got, want)) = polled {
            check_eq!(step, format!("result of polling slot {slot}"), got, want);
        }
        check_eq!(step, "n_waiting()", barrier.n_waiting(), model.n_waiting());
        check_eq!(step, "is_broken()", barrier.is_broken(), model.broken);
        check_eq!(step, "generation()", barrier.generation(), model.generation);
        check_eq!(
            step,
            "what the action runs saw (n_waiting, generation, is_broken)",
            real.action.lock().unwrap().seen,
            model.action_runs
        );
        for (i, (s, m)) in slots.iter().zip(&model.slots).enumerate() {
            // A party whose outcome is decided must have been woken since it was last polled.
            if let MState::Resolved(_) = m.state {
                let woken = s.wakes.0.load(SeqCst) > s.wakes_at_poll;
                check_eq!(
                    step,
                    format!("slot {i} woken after its release"),
                    woken,
                    true
                );
            }
        }
    }
    // Dropping everything must leave the model's view of the barrier.
    drop(slots);
    for slot in 0..case.slots {
        model.drop_slot(slot);
    }
    let end = (case.ops.len(), "dropping every slot");
    check_eq!(end, "n_waiting()", barrier.n_waiting(), model.n_waiting());
    check_eq!(end, "is_broken()", barrier.is_broken(), model.broken);
    check_eq!(end, "generation()", barrier.generation(), model.generation);
    Ok(())
}

/// A case, one operation a line, ready to paste into a regression test.
fn show(case: &Case) -> String {
    let mut out = format!(
        "parties: {}, slots: {}, action: {}, default_timeout: {}\n",
        case.parties, case.slots, case.action, case.default_timeout
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
    // Unoptimized builds (plain `cargo test`) run 20x fewer; CI also runs the full count in
    // release.
    let default_cases = if cfg!(debug_assertions) {
        5_000
    } else {
        100_000
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
    let ran = AtomicUsize::new(0);
    let ops = AtomicUsize::new(0);
    let started = Instant::now();
    let outcome = runner.run(&case_strategy(), |case| {
        ran.fetch_add(1, SeqCst);
        ops.fetch_add(case.ops.len(), SeqCst);
        run_case(&case).map_err(|m| TestCaseError::fail(m.to_string()))
    });
    match outcome {
        Ok(()) => println!(
            "model: {cases} cases passed ({} operations) in {:.1?}, seed {seed:#x}",
            ops.load(SeqCst),
            started.elapsed()
        ),
        Err(TestError::Fail(reason, case)) => panic!(
            "the barrier differs from the model (seed {seed:#x}; rerun with MODEL_SEED={seed}).\n\
             Minimal case:\n{}\n{reason}",
            show(&case)
        ),
        Err(TestError::Abort(reason)) => panic!("proptest aborted (seed {seed:#x}): {reason}"),
    }
}

/// A few fixed sequences of the rules the model encodes, so that a wrong model fails here
/// rather than being trusted.
#[test]
fn model_sanity_fixed_sequences() {
    use Op::*;
    let cases = [
        // Withdraw index 0 of three: the next arrival reuses it; the completer gets 2.
        Case {
            parties: 3,
            slots: 4,
            action: true,
            default_timeout: false,
            ops: vec![
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
        },
        // A deadline fired for a waiting party breaks the barrier; reset mends it.
        Case {
            parties: 2,
            slots: 3,
            action: false,
            default_timeout: true,
            ops: vec![
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
        },
    ];
    for case in &cases {
        if let Err(m) = run_case(case) {
            panic!("{m}\ncase:\n{}", show(case));
        }
    }
}
