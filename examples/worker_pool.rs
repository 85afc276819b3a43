//! A worker pool that grows and shrinks between phases, where one worker panics: its phase
//! breaks, the others see `Broken`, the pool resets and goes on.
//!
//! A phased computation runs on tokio tasks that meet at one `Barrier::dynamic()`: each phase
//! computes every item of a vector from its neighbours in the previous phase, so no phase may
//! start before the previous one is complete. Each worker holds an `OwnedParty` from
//! `barrier.clone().join_owned()`. In each phase it computes the shard that its `index()` picked
//! (a permutation of `0..n` for the `n` parties released together), and the barrier's action,
//! run once per generation on the worker that completed it, adds the shards' sums to a checksum
//! and splits the next phase among the parties it released.
//!
//! - **The pool grows**: during phase `--join-at`, the coordinator `join_owned()`s `--join` new
//!   workers and spawns them. They count from the generation being filled, so they enroll at the
//!   end of that phase and take shards from the next one on.
//! - **The pool shrinks**: after phase `--leave-at`, the workers holding its last `--leave`
//!   shards deliver them and leave (`party.leave()`); the next phase is split among the others and
//!   nobody waits for the leavers.
//! - **A worker panics**: in phase `--panic-at`, the worker holding shard 0 panics in the
//!   middle of it, when some workers have arrived and others are still computing. Its
//!   `OwnedParty`, dropped during the unwind, breaks the barrier, so the others get
//!   `Err(Broken)` instead of going on without its shard. The coordinator sees the task end in a
//!   panic, waits until every survivor has reported `Broken`, calls `reset()`, and the survivors
//!   enroll again and redo the phase among themselves.
//! - **Split phase**: a worker that has written its shard arrives at once (`party.arrive()`),
//!   computes its shard's receipt (a digest for the final audit, which the next phase does not
//!   need) while the others finish, then waits with `token.await`.
//! - **A `select!` loop that cannot lose its pass**: a worker waiting to enroll beats a 1 ms
//!   heartbeat in a `tokio::select!` around `party.wait()`, a new wait each time round. A wait
//!   dropped after its generation was sealed keeps its pass for the party's next wait, so the
//!   loop cannot hang (the same loop around an anonymous `barrier.wait()` can).
//!
//! It prints each generation (who led it, the phase it closed, the parties of the next), the
//! joins, leaves, the panic and the reset. At the end it checks the pool's result against a
//! sequential run: the final vector and the checksum must match, and the receipts of every phase
//! must cover the vector exactly once, each matching the sequential values. It exits 0 if every
//! check passed, 1 otherwise (or if the pool has not finished within `--timeout-ms`).
//!
//! Run with `cargo run --release --example worker_pool` (add `-- --help` for the flags, e.g.
//! `-- --workers 8 --phases 20 --join-at 5 --leave-at 12 --panic-at 9`, or `--panic-at 0` for
//! no panic).

use std::collections::{BTreeMap, HashMap};
use std::future::{poll_fn, Future};
use std::ops::Range;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use agnostic_barrier::{Barrier, BarrierWaitResult, OwnedParty, WaitError};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// A pool of workers that join, leave and panic between the phases of a computation.
#[derive(Parser, Clone, Debug)]
#[command(name = "worker_pool")]
struct Config {
    /// workers at the start
    #[arg(long, value_name = "N", default_value_t = 4)]
    workers: usize,
    /// phases of the computation
    #[arg(long, value_name = "N", default_value_t = 8)]
    phases: usize,
    /// items of the vector, split into one shard per worker each phase
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    items: usize,
    /// the phase during which new workers join (they take shards from the next phase on); 0: none
    #[arg(long, value_name = "P", default_value_t = 2)]
    join_at: usize,
    /// how many workers join
    #[arg(long, value_name = "N", default_value_t = 2)]
    join: usize,
    /// the phase after which workers leave; 0: none
    #[arg(long, value_name = "P", default_value_t = 6)]
    leave_at: usize,
    /// how many workers leave (at most all but one)
    #[arg(long, value_name = "N", default_value_t = 3)]
    leave: usize,
    /// the phase in which the worker holding shard 0 panics; 0: none
    #[arg(long, value_name = "P", default_value_t = 4)]
    panic_at: usize,
    /// seed of the data and of the workers' speeds
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// simulated time per shard, in ms (each shard takes between 1x and 2x this)
    #[arg(long = "work-ms", value_name = "N", default_value_t = 10)]
    work_ms: u64,
    /// fail if the pool has not finished after this many ms
    #[arg(long = "timeout-ms", value_name = "N", default_value_t = 10_000)]
    timeout_ms: u64,
}

fn parse_args() -> Config {
    let config = Config::parse();
    if config.workers == 0 || config.phases == 0 || config.items == 0 {
        Config::command()
            .error(
                ErrorKind::ValueValidation,
                "need --workers, --phases and --items >= 1",
            )
            .exit();
    }
    if config.panic_at != 0 && config.panic_at == config.leave_at {
        // The redone phase would send a second group of workers away.
        Config::command()
            .error(
                ErrorKind::ValueValidation,
                "--panic-at and --leave-at must be different phases",
            )
            .exit();
    }
    if (1..=config.phases).contains(&config.panic_at) && survivors(&config) == 0 {
        Config::command()
            .error(
                ErrorKind::ValueValidation,
                "the planned panic would leave no worker to go on: add --workers or move --panic-at",
            )
            .exit();
    }
    config
}

/// The workers left, by the plan, when the worker on shard 0 of phase `--panic-at` panics.
fn survivors(config: &Config) -> usize {
    // Workers holding a shard in phase `p`: joiners join during a phase and take shards from the
    // next; leavers hold a shard in their last phase.
    let mut holding = config.workers;
    for p in 1..config.panic_at {
        if p == config.leave_at && holding > 1 {
            holding -= config.leave.min(holding - 1);
        }
        if p == config.join_at {
            holding += config.join;
        }
    }
    let joining = if config.join_at == config.panic_at {
        config.join
    } else {
        0
    };
    holding - 1 + joining
}

// ---------------------------------------------------------------------------------------------
// The computation: deterministic, so that a sequential run can check the pool's.

/// The splitmix64 finalizer: a cheap, well-mixed hash of one word.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Item `i` before phase 1.
fn initial(seed: u64, i: usize) -> u64 {
    mix(seed ^ (i as u64 + 1).wrapping_mul(GOLDEN))
}

/// An item in `phase`, from itself and its two neighbours in the previous phase.
fn step(left: u64, here: u64, right: u64, phase: usize) -> u64 {
    mix(left.rotate_left(7) ^ here ^ right.rotate_right(11) ^ (phase as u64).wrapping_mul(GOLDEN))
}

/// The running checksum after a phase whose items summed to `sum`.
fn fold_checksum(checksum: u64, phase: usize, sum: u64) -> u64 {
    mix(checksum ^ sum ^ phase as u64)
}

/// A shard's receipt: a digest of its output items and where they start.
fn digest(start: usize, values: impl Iterator<Item = u64>) -> u64 {
    values.fold(mix(start as u64), |d, v| mix(d ^ v))
}

/// The items of shard `index` of `shards`.
fn shard_range(index: usize, shards: usize, items: usize) -> Range<usize> {
    index * items / shards..(index + 1) * items / shards
}

/// How long shard `index` takes in `phase`: between 1x and 2x `--work-ms`, so that some workers
/// wait for others.
fn work_time(config: &Config, phase: usize, index: usize) -> Duration {
    let r = mix(config.seed ^ mix(phase as u64) ^ (index as u64).wrapping_mul(GOLDEN));
    Duration::from_micros(config.work_ms * (1000 + r % 1000))
}

// ---------------------------------------------------------------------------------------------
// The shared state.

static START: OnceLock<Instant> = OnceLock::new();

/// `[  12 ms]`: the time since the program started, for each printed line.
fn stamp() -> String {
    let ms = START.get().map_or(0, |start| start.elapsed().as_millis());
    format!("[{ms:>5} ms]")
}

tokio::task_local! {
    /// The worker a task runs, so that the action can say which worker led its generation.
    static WORKER: usize;
}

/// The phase being computed, as the last generation's action set it up.
struct Round {
    /// The phase being computed (1-based), or about to be while the workers enroll.
    phase: usize,
    /// The workers are enrolling (at the start, after a reset): the generation that closes this
    /// round has no shards to combine.
    enrolling: bool,
    /// The generation whose action set this round up.
    id: u64,
    /// The worker that led that generation (ran its action).
    leader: Option<usize>,
    /// Each shard's sum, as its worker delivers it: one slot per party that generation released.
    partials: Vec<Option<u64>>,
    /// The workers holding shards `leaving_from..` leave after this phase.
    leaving_from: usize,
    checksum: u64,
}

impl Round {
    /// All phases done: the workers finish.
    fn done(&self, config: &Config) -> bool {
        self.phase > config.phases
    }
}

/// What the coordinator hears about.
#[derive(Debug)]
enum Event {
    /// A generation's action set up a phase.
    Started { phase: usize },
    /// A worker's wait returned `Err(Broken)`; `how` names the wait.
    Broken { worker: usize, how: &'static str },
}

/// A worker's receipt for one shard of one phase.
#[derive(Clone, Copy, Debug)]
struct Receipt {
    phase: usize,
    start: usize,
    end: usize,
    digest: u64,
}

/// How a worker's task ended (a panic ends it in a `JoinError`).
#[derive(Debug, PartialEq, Eq)]
enum Exit {
    Finished,
    Left,
    Failed,
}

struct Shared {
    config: Config,
    /// Set once the barrier is built: the action reads `generation()` and `n_waiting()`.
    barrier: OnceLock<Weak<Barrier>>,
    /// Phase `p` reads `buffers[(p - 1) % 2]` and writes `buffers[p % 2]`, so a phase redone
    /// after a reset reads the same input.
    buffers: [Vec<AtomicU64>; 2],
    round: Mutex<Round>,
    receipts: Mutex<Vec<Receipt>>,
    events: mpsc::UnboundedSender<Event>,
    /// Bumped by the coordinator after each `reset()`: the survivors enroll again.
    resume: watch::Receiver<u64>,
    /// The planned panic has happened (a redone phase does not panic again).
    panicked: AtomicBool,
    /// Heartbeats beaten while enrolling: each dropped a `party.wait()` and made a new one.
    heartbeats: AtomicUsize,
    /// Waits that returned a pass, not as leader, on their first poll: a pass kept from a wait
    /// dropped after its generation was sealed (SPEC rule 16).
    kept_passes: AtomicUsize,
    /// Checks that failed during the run (each printed as it failed).
    failures: AtomicUsize,
}

impl Shared {
    fn fail(&self, message: String) {
        println!("{} CHECK FAILED: {message}", stamp());
        self.failures.fetch_add(1, Relaxed);
    }
}

// ---------------------------------------------------------------------------------------------
// The action: once per generation, on its leader, before anyone is released.

fn close_round(shared: &Shared) {
    let barrier = shared
        .barrier
        .get()
        .and_then(Weak::upgrade)
        .expect("the barrier outlives its action");
    let generation = barrier.generation();
    // Inside the action, `n_waiting()` is the parties of the completing generation: the
    // parties it releases, among whom the next phase is split.
    let parties = barrier.n_waiting();
    let leader = WORKER.try_with(|worker| *worker).ok();
    let config = &shared.config;
    let mut round = shared.round.lock().unwrap();

    let closed = if round.enrolling {
        format!("{parties} workers enrolled")
    } else {
        let shards = round.partials.len();
        let delivered: Vec<u64> = round.partials.iter().flatten().copied().collect();
        if delivered.len() != shards {
            shared.fail(format!(
                "generation {generation} completed phase {} with {} of {shards} shards",
                round.phase,
                delivered.len(),
            ));
        }
        let sum = delivered.iter().fold(0u64, |a, b| a.wrapping_add(*b));
        round.checksum = fold_checksum(round.checksum, round.phase, sum);
        round.phase += 1;
        format!(
            "phase {} done: {} of {shards} shards combined, checksum {:016x}",
            round.phase - 1,
            delivered.len(),
            round.checksum
        )
    };
    let led = leader.map_or_else(|| "?".to_string(), |w| w.to_string());
    round.id = generation;
    round.leader = leader;
    if round.done(config) {
        println!(
            "{} gen {generation:>2} (led by worker {led}): {closed} | all {} phases done",
            stamp(),
            config.phases
        );
        return;
    }

    let phase = round.phase;
    // Enrolling after generation 0 means after a reset(): the broken phase is redone.
    let again = if round.enrolling && generation > 0 {
        " again"
    } else {
        ""
    };
    round.enrolling = false;
    round.partials = vec![None; parties];
    round.leaving_from = parties;
    let mut leaving = String::new();
    if phase == config.leave_at && config.leave > 0 && parties > 1 {
        round.leaving_from = parties - config.leave.min(parties - 1);
        leaving = format!(
            " (the workers on shards {}..{} leave after it)",
            round.leaving_from,
            parties - 1
        );
    }
    println!(
        "{} gen {generation:>2} (led by worker {led}): {closed} | phase {phase}{again}: {parties} shards{leaving}",
        stamp()
    );
    let _ = shared.events.send(Event::Started { phase });
}

// ---------------------------------------------------------------------------------------------
// A worker.

/// What a worker does in one phase, as the action set it up.
struct Job {
    phase: usize,
    index: usize,
    shards: usize,
    range: Range<usize>,
    leave: bool,
}

/// Waits to enroll while beating a heartbeat: a `select!` loop around `party.wait()`, with a
/// new wait each time round. A party never loses a pass, so this loop cannot hang.
async fn enroll(shared: &Shared, party: &mut OwnedParty) -> Result<BarrierWaitResult, WaitError> {
    let mut heartbeat = tokio::time::interval(Duration::from_millis(1));
    loop {
        let mut wait = party.wait();
        // Whether the wait finished on its first poll: a non-leader cannot, unless its pass was
        // kept from a wait dropped after its generation was sealed.
        let mut polls = 0;
        let wait = poll_fn(|cx| {
            polls += 1;
            Pin::new(&mut wait).poll(cx).map(|passed| (passed, polls))
        });
        tokio::select! {
            biased;
            _ = heartbeat.tick() => {
                shared.heartbeats.fetch_add(1, Relaxed);
            }
            (passed, polls) = wait => {
                if polls == 1 && matches!(passed, Ok(result) if !result.is_leader()) {
                    shared.kept_passes.fetch_add(1, Relaxed);
                }
                return passed;
            }
        }
    }
}

/// Computes the job's shard; returns the sum of its items. Panics if it is the planned panic.
async fn compute(shared: &Shared, worker: usize, job: &Job) -> u64 {
    let config = &shared.config;
    let time = work_time(config, job.phase, job.index);
    if job.phase == config.panic_at && job.index == 0 && !shared.panicked.swap(true, Relaxed) {
        // 1.5x --work-ms: some workers have arrived by then, others are still computing.
        tokio::time::sleep(Duration::from_micros(config.work_ms * 1500)).await;
        panic!(
            "worker {worker} crashed in the middle of shard 0 of {} in phase {} (planned)",
            job.shards, job.phase
        );
    }
    tokio::time::sleep(time).await;
    let input = &shared.buffers[(job.phase - 1) % 2];
    let output = &shared.buffers[job.phase % 2];
    let n = config.items;
    let mut sum = 0u64;
    for i in job.range.clone() {
        let value = step(
            input[(i + n - 1) % n].load(Relaxed),
            input[i].load(Relaxed),
            input[(i + 1) % n].load(Relaxed),
            job.phase,
        );
        output[i].store(value, Relaxed);
        sum = sum.wrapping_add(value);
    }
    sum
}

fn receipt(shared: &Shared, job: &Job) -> Receipt {
    let output = &shared.buffers[job.phase % 2];
    Receipt {
        phase: job.phase,
        start: job.range.start,
        end: job.range.end,
        digest: digest(
            job.range.start,
            output[job.range.clone()].iter().map(|v| v.load(Relaxed)),
        ),
    }
}

async fn worker(shared: Arc<Shared>, id: usize, mut party: OwnedParty) -> Exit {
    let mut resume = shared.resume.clone();
    resume.borrow_and_update();
    let mut passed = enroll(&shared, &mut party).await;
    let mut how = "enrolling";
    loop {
        let result = match passed {
            Ok(result) => result,
            Err(WaitError::Broken) => {
                let _ = shared.events.send(Event::Broken { worker: id, how });
                // Wait for the coordinator's reset(), then enroll again.
                if resume.changed().await.is_err() {
                    return Exit::Failed;
                }
                passed = enroll(&shared, &mut party).await;
                how = "enrolling";
                continue;
            }
            Err(error) => {
                shared.fail(format!("worker {id}: unexpected {error}"));
                return Exit::Failed;
            }
        };

        // The round this generation's action set up: it stays put until this worker arrives
        // again (or leaves), since the next generation needs it.
        let job = {
            let round = shared.round.lock().unwrap();
            if round.id != result.generation() {
                drop(round);
                shared.fail(format!(
                    "worker {id}: released by generation {}, but the last action ran for another",
                    result.generation()
                ));
                return Exit::Failed;
            }
            if result.is_leader() && round.leader != Some(id) {
                shared.fail(format!(
                    "worker {id} led generation {}, but its action ran on worker {:?}",
                    result.generation(),
                    round.leader
                ));
            }
            if round.done(&shared.config) {
                return Exit::Finished;
            }
            let index = result.index();
            let shards = round.partials.len();
            if index >= shards {
                drop(round);
                shared.fail(format!("worker {id}: index {index} out of 0..{shards}"));
                return Exit::Failed;
            }
            Job {
                phase: round.phase,
                index,
                shards,
                range: shard_range(index, shards, shared.config.items),
                leave: index >= round.leaving_from,
            }
        };

        let sum = compute(&shared, id, &job).await;
        // Still this job's round: the next generation needs this worker, and a reset() waits
        // until it has seen `Broken`.
        let taken_twice = shared.round.lock().unwrap().partials[job.index]
            .replace(sum)
            .is_some();
        if taken_twice {
            shared.fail(format!(
                "two workers took shard {} of phase {}",
                job.index, job.phase
            ));
        }

        if job.leave {
            shared.receipts.lock().unwrap().push(receipt(&shared, &job));
            println!(
                "{} worker {id} delivers shard {} of {} of phase {} and leaves (party.leave())",
                stamp(),
                job.index,
                job.shards,
                job.phase
            );
            party.leave();
            return Exit::Left;
        }

        // Split phase: arrive now, do what the next phase does not need, then wait.
        let token = match party.arrive() {
            Ok(token) => token,
            Err(error) => {
                // Broken: it did not arrive.
                passed = Err(error);
                how = "arrive()";
                continue;
            }
        };
        let receipt = receipt(&shared, &job);
        passed = token.await;
        how = "token.await";
        if passed.is_ok() {
            shared.receipts.lock().unwrap().push(receipt);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The coordinator: grows the pool, notices the panic, resets the barrier.

struct Pool {
    /// The workers whose tasks have not ended.
    tasks: JoinSet<Exit>,
    /// Which worker each task runs (workers are numbered from 0 as they are spawned).
    names: HashMap<tokio::task::Id, usize>,
}

impl Pool {
    fn spawn(&mut self, shared: &Arc<Shared>, party: OwnedParty) -> usize {
        let id = self.names.len();
        let handle = self
            .tasks
            .spawn(WORKER.scope(id, worker(shared.clone(), id, party)));
        self.names.insert(handle.id(), id);
        id
    }

    /// Joins `n` workers to the barrier, then spawns them: all join before any waits, so that
    /// none can complete a generation alone.
    fn grow(&mut self, shared: &Arc<Shared>, barrier: &Arc<Barrier>, n: usize) -> Vec<usize> {
        let parties: Vec<OwnedParty> = (0..n).map(|_| barrier.clone().join_owned()).collect();
        parties
            .into_iter()
            .map(|party| self.spawn(shared, party))
            .collect()
    }
}

#[derive(Default)]
struct Outcome {
    finished: usize,
    left: usize,
    panicked: Vec<usize>,
    failed: usize,
    resets: usize,
    /// The survivors that reported `Broken` at each reset.
    broken_reports: Vec<usize>,
}

fn list(workers: &[usize]) -> String {
    workers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

async fn coordinate(
    shared: Arc<Shared>,
    barrier: Arc<Barrier>,
    mut events: mpsc::UnboundedReceiver<Event>,
    resume: watch::Sender<u64>,
) -> Outcome {
    let config = shared.config.clone();
    let mut pool = Pool {
        tasks: JoinSet::new(),
        names: HashMap::new(),
    };
    let mut outcome = Outcome::default();
    let started = pool.grow(&shared, &barrier, config.workers);
    println!(
        "{} coordinator: workers {} join_owned() a Barrier::dynamic() (parties() = {}) and are spawned on tokio; {} phases over {} items",
        stamp(),
        list(&started),
        barrier.parties(),
        config.phases,
        config.items
    );

    let mut joined = false;
    // The workers that reported Broken since the last reset, and how.
    let mut broken: Vec<(usize, &'static str)> = Vec::new();
    loop {
        if pool.tasks.is_empty() {
            if !shared.round.lock().unwrap().done(&config) {
                shared.fail("every worker has ended before the last phase".into());
            }
            break;
        }
        tokio::select! {
            Some(event) = events.recv() => match event {
                Event::Started { phase } => {
                    if phase == config.join_at && config.join > 0 && !joined {
                        joined = true;
                        let before = barrier.parties();
                        let new = pool.grow(&shared, &barrier, config.join);
                        println!(
                            "{} coordinator: phase {phase} under way: workers {} join_owned() (parties() {before} -> {}) and are spawned; they enroll at its end",
                            stamp(),
                            list(&new),
                            barrier.parties()
                        );
                    }
                }
                Event::Broken { worker, how } => broken.push((worker, how)),
            },
            Some(ended) = pool.tasks.join_next_with_id() => {
                match ended {
                    Ok((_, Exit::Finished)) => outcome.finished += 1,
                    Ok((_, Exit::Left)) => outcome.left += 1,
                    Ok((_, Exit::Failed)) => outcome.failed += 1,
                    Err(error) if error.is_panic() => {
                        let worker = pool.names[&error.id()];
                        outcome.panicked.push(worker);
                        println!(
                            "{} coordinator: worker {worker}'s task ended in a panic (JoinError::is_panic()); barrier.is_broken() = {}",
                            stamp(),
                            barrier.is_broken()
                        );
                    }
                    Err(error) => {
                        outcome.failed += 1;
                        shared.fail(format!("a worker task ended with {error}"));
                    }
                }
            }
        }

        // A broken phase: once every worker still running has seen Broken, start it again.
        let alive = pool.tasks.len();
        if barrier.is_broken() && alive > 0 && broken.len() == alive {
            broken.sort_unstable();
            let by = |wait: &str, what: &str| -> Option<String> {
                let workers: Vec<usize> = broken
                    .iter()
                    .filter(|(_, how)| *how == wait)
                    .map(|(w, _)| *w)
                    .collect();
                (!workers.is_empty()).then(|| format!("{what} [{}]", list(&workers)))
            };
            let phase = shared.round.lock().unwrap().phase;
            let saw: Vec<String> = [
                by("token.await", "waiting on their token (token.await):"),
                by("arrive()", "at arrive(), at once, without arriving:"),
                by("enrolling", "enrolling (party.wait()):"),
            ]
            .into_iter()
            .flatten()
            .collect();
            println!(
                "{} coordinator: phase {phase} is broken; the other {} workers got Err(Broken): {}",
                stamp(),
                broken.len(),
                saw.join("; ")
            );
            {
                // The survivors' shards of the broken phase are thrown away; they enroll anew.
                let mut round = shared.round.lock().unwrap();
                round.enrolling = true;
                round.partials.clear();
            }
            let before = barrier.generation();
            barrier.reset();
            println!(
                "{} coordinator: reset(): is_broken() = {}, generation() {before} -> {}, parties() = {} (the panicked worker's party left as it broke the barrier); the survivors redo phase {phase}",
                stamp(),
                barrier.is_broken(),
                barrier.generation(),
                barrier.parties()
            );
            outcome.resets += 1;
            outcome.broken_reports.push(broken.len());
            broken.clear();
            resume.send_modify(|epoch| *epoch += 1);
        }
    }
    println!(
        "{} coordinator: every worker has ended ({} finished, {} left, {} panicked); parties() = {}",
        stamp(),
        outcome.finished,
        outcome.left,
        outcome.panicked.len(),
        barrier.parties()
    );
    outcome
}

// ---------------------------------------------------------------------------------------------
// The check: a sequential run of the same phases.

/// Checks the pool's final vector, checksum and receipts against a sequential run, and what
/// happened against the plan; prints a line per check and returns how many failed.
fn check(shared: &Shared, outcome: &Outcome, barrier: &Barrier) -> usize {
    let config = &shared.config;
    let mut failed = 0;
    let mut report = |ok: bool, text: String| {
        println!("check: {} {text}", if ok { "ok    " } else { "FAILED" });
        failed += usize::from(!ok);
    };
    let round = shared.round.lock().unwrap();
    // Only completed phases have receipts: a worker keeps one once its `token.await` has
    // passed, or as it leaves after phase --leave-at, which never breaks (it is not --panic-at).
    let mut receipts: BTreeMap<usize, Vec<Receipt>> = BTreeMap::new();
    for receipt in shared.receipts.lock().unwrap().iter() {
        receipts.entry(receipt.phase).or_default().push(*receipt);
    }

    let n = config.items;
    let mut values: Vec<u64> = (0..n).map(|i| initial(config.seed, i)).collect();
    let mut checksum = 0;
    let (mut checked, mut bad_receipts) = (0, Vec::new());
    for phase in 1..=config.phases {
        values = (0..n)
            .map(|i| {
                step(
                    values[(i + n - 1) % n],
                    values[i],
                    values[(i + 1) % n],
                    phase,
                )
            })
            .collect();
        let sum = values.iter().fold(0u64, |a, b| a.wrapping_add(*b));
        checksum = fold_checksum(checksum, phase, sum);

        // The phase's receipts must tile 0..items, each matching the sequential values.
        let mut shards = receipts.remove(&phase).unwrap_or_default();
        shards.sort_by_key(|r| (r.start, r.end));
        let mut next = 0;
        for r in &shards {
            if r.start != next {
                bad_receipts.push(format!("phase {phase}: a gap or overlap at item {next}"));
            }
            next = r.end;
            if r.digest != digest(r.start, values[r.start..r.end].iter().copied()) {
                bad_receipts.push(format!(
                    "phase {phase}: shard {}..{} differs from the sequential run",
                    r.start, r.end
                ));
            }
            checked += 1;
        }
        if next != n {
            bad_receipts.push(format!(
                "phase {phase}: the shards end at item {next} of {n}"
            ));
        }
    }

    let completed = round.phase - 1;
    report(
        completed == config.phases,
        format!("{completed} of {} phases completed", config.phases),
    );
    let pool: Vec<u64> = shared.buffers[config.phases % 2]
        .iter()
        .map(|v| v.load(Relaxed))
        .collect();
    report(
        pool == values,
        format!("the final vector of {n} items matches a sequential run"),
    );
    report(
        round.checksum == checksum,
        format!(
            "checksum {:016x}, sequential {checksum:016x}",
            round.checksum
        ),
    );
    report(
        bad_receipts.is_empty(),
        format!(
            "{checked} shard receipts of the completed phases match the sequential values and cover each phase's {n} items exactly once{}",
            bad_receipts.iter().map(|bad| format!("; {bad}")).collect::<String>()
        ),
    );
    report(
        shared.failures.load(Relaxed) == 0,
        "every generation's action ran on the worker it released as leader, and its indices 0..n went to one worker each".into(),
    );

    let panic_planned = (1..=config.phases).contains(&config.panic_at);
    let expected = usize::from(panic_planned);
    let what = if panic_planned {
        format!(
            "the planned panic: worker {} panicked, its {} survivors saw Err(Broken), {} reset()",
            list(&outcome.panicked),
            list(&outcome.broken_reports),
            outcome.resets
        )
    } else {
        format!(
            "no panic planned: {} panicked, {} reset()",
            outcome.panicked.len(),
            outcome.resets
        )
    };
    report(
        outcome.panicked.len() == expected && outcome.resets == expected,
        what,
    );
    report(
        outcome.failed == 0 && barrier.parties() == 0,
        format!(
            "every worker ended ({} finished, {} left, {} panicked, {} failed); parties() = {}",
            outcome.finished,
            outcome.left,
            outcome.panicked.len(),
            outcome.failed,
            barrier.parties()
        ),
    );
    println!(
        "select! loops: {} heartbeats dropped a party.wait() and made a new one; {} new wait(s) returned at their first poll, not as leader, the pass a dropped wait had kept (with barrier.wait() in that loop, the pass is lost)",
        shared.heartbeats.load(Relaxed),
        shared.kept_passes.load(Relaxed)
    );
    failed
}

fn install_panic_hook() {
    // One line per panic instead of the default message and backtrace note.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        println!("{} PANIC{place}: {message}", stamp());
    }));
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = parse_args();
    START.get_or_init(Instant::now);
    install_panic_hook();

    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (resume_tx, resume_rx) = watch::channel(0u64);
    let items = config.items;
    let shared = Arc::new(Shared {
        barrier: OnceLock::new(),
        buffers: [
            (0..items)
                .map(|i| AtomicU64::new(initial(config.seed, i)))
                .collect(),
            (0..items).map(|_| AtomicU64::new(0)).collect(),
        ],
        round: Mutex::new(Round {
            phase: 1,
            enrolling: true,
            id: 0,
            leader: None,
            partials: Vec::new(),
            leaving_from: 0,
            checksum: 0,
        }),
        receipts: Mutex::new(Vec::new()),
        events: events_tx,
        resume: resume_rx,
        panicked: AtomicBool::new(false),
        heartbeats: AtomicUsize::new(0),
        kept_passes: AtomicUsize::new(0),
        failures: AtomicUsize::new(0),
        config,
    });
    let barrier = Arc::new(
        Barrier::dynamic_builder()
            .action({
                let shared = shared.clone();
                move || close_round(&shared)
            })
            .build(),
    );
    shared
        .barrier
        .set(Arc::downgrade(&barrier))
        .expect("set once");

    let limit = Duration::from_millis(shared.config.timeout_ms);
    let coordinator = coordinate(shared.clone(), barrier.clone(), events_rx, resume_tx);
    let Ok(outcome) = tokio::time::timeout(limit, coordinator).await else {
        println!(
            "FAILED: the pool did not finish within {} ms: {barrier:?}",
            limit.as_millis()
        );
        return ExitCode::FAILURE;
    };

    let failed = check(&shared, &outcome, &barrier);
    if failed == 0 {
        println!("OK: every check passed");
        ExitCode::SUCCESS
    } else {
        println!("FAILED: {failed} check(s) (above)");
        ExitCode::FAILURE
    }
}
