//! Comparison benchmark: `agnostic_barrier::Barrier` against `tokio::sync::Barrier`,
//! `async_lock::Barrier` (which async-std re-exports) and `std::sync::Barrier`, for the quality
//! bars in SPEC.md.
//!
//! Run with `cargo bench --bench barrier` (about a minute), or `cargo bench --bench barrier --
//! --quick` (or `BENCH_QUICK=1`) for a smoke run of a few seconds. A further argument picks the
//! scenarios whose name contains it: `rounds`, `blocking`, `skew`, `alloc`, `cancel`.
//!
//! Scenarios:
//! - `rounds`: N tasks pass the barrier again and again; time per round, on tokio multi-thread
//!   (2 workers), tokio current-thread, async-std (2 threads) and smol (an `Executor` run on 2
//!   threads). A "yield floor" runs the same rounds with no synchronization: each task yields
//!   once and bumps a shared atomic per round.
//! - `blocking`: OS threads, `std::sync::Barrier` against our `wait_blocking`.
//! - `skew`: N-1 tasks parked, the last arrives; time from the leader's return to the last
//!   party's return, and from the last party's arrival to the last return, on tokio
//!   multi-thread.
//! - `alloc`: heap allocations per wait (hand-polled, after warm-up) and the size of each wait
//!   future.
//! - `cancel`: a wait polled once (arrived) and dropped, over and over.
//!
//! The machine may be noisy (shared cores), so implementations run interleaved, sample by
//! sample, in an order that rotates each sample; drift hits all alike. Ratios are paired: the
//! ratio of the samples taken side by side, then the median of those ratios.

use std::fmt::Write as _;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::future::yield_now;

// ---------------------------------------------------------------------------------------------
// Counting allocator: counts allocations made by this thread while counting is switched on.

#[path = "../tests/common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{count_allocs, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---------------------------------------------------------------------------------------------
// The implementations under test, behind one trait so every task body is the same code.

/// One pass through a barrier; resolves to whether this party was the leader.
trait Party: Send + Sync + 'static {
    fn pass(&self) -> impl Future<Output = bool> + Send + '_;
}

impl Party for agnostic_barrier::Barrier {
    async fn pass(&self) -> bool {
        self.wait().await.expect("bench barrier broken").is_leader()
    }
}

impl Party for tokio::sync::Barrier {
    async fn pass(&self) -> bool {
        self.wait().await.is_leader()
    }
}

impl Party for async_lock::Barrier {
    async fn pass(&self) -> bool {
        self.wait().await.is_leader()
    }
}

/// The yield floor: each party suspends and resumes once and bumps a shared atomic, with no
/// synchronization.
struct Floor(AtomicUsize);

impl Party for Floor {
    async fn pass(&self) -> bool {
        yield_now().await;
        self.0.fetch_add(1, Ordering::Relaxed);
        false
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Imp {
    Ours,
    Tokio,
    AsyncLock,
    Floor,
}

impl Imp {
    fn name(self) -> &'static str {
        match self {
            Imp::Ours => "ours",
            Imp::Tokio => "tokio",
            Imp::AsyncLock => "async-lock",
            Imp::Floor => "yield floor",
        }
    }
}

const BARRIERS: [Imp; 3] = [Imp::Ours, Imp::Tokio, Imp::AsyncLock];

// ---------------------------------------------------------------------------------------------
// Executors.

enum Exec {
    TokioMt(tokio::runtime::Runtime),
    TokioCt(tokio::runtime::Runtime),
    AsyncStd,
    Smol(SmolPool),
}

/// A `smol::Executor` run by two OS threads until the pool is dropped.
struct SmolPool {
    ex: Arc<smol::Executor<'static>>,
    stop: Option<smol::channel::Sender<()>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl SmolPool {
    fn new(threads: usize) -> Self {
        let ex = Arc::new(smol::Executor::new());
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let threads = (0..threads)
            .map(|_| {
                let ex = ex.clone();
                let stopped = stopped.clone();
                thread::spawn(move || {
                    let _ = smol::block_on(ex.run(stopped.recv()));
                })
            })
            .collect();
        SmolPool {
            ex,
            stop: Some(stop),
            threads,
        }
    }
}

impl Drop for SmolPool {
    fn drop(&mut self) {
        drop(self.stop.take()); // closes the channel: every `run` returns
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

const EXECS: [&str; 4] = ["tokio-mt", "tokio-ct", "async-std", "smol"];

impl Exec {
    fn new(name: &str) -> Exec {
        match name {
            "tokio-mt" => Exec::TokioMt(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap(),
            ),
            "tokio-ct" => Exec::TokioCt(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap(),
            ),
            "async-std" => Exec::AsyncStd,
            "smol" => Exec::Smol(SmolPool::new(2)),
            _ => unreachable!(),
        }
    }

    /// Spawns every future as a task (from inside the executor, where it has threads of its
    /// own) and waits for all of them.
    fn run_all<F>(&self, futs: Vec<F>)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match self {
            Exec::TokioMt(rt) => rt.block_on(async {
                tokio::spawn(async move {
                    let tasks: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                })
                .await
                .unwrap();
            }),
            Exec::TokioCt(rt) => rt.block_on(async {
                let tasks: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
                for t in tasks {
                    t.await.unwrap();
                }
            }),
            Exec::AsyncStd => async_std::task::block_on(async_std::task::spawn(async move {
                let tasks: Vec<_> = futs.into_iter().map(async_std::task::spawn).collect();
                for t in tasks {
                    t.await;
                }
            })),
            Exec::Smol(pool) => {
                let ex = pool.ex.clone();
                smol::block_on(pool.ex.spawn(async move {
                    let tasks: Vec<_> = futs.into_iter().map(|f| ex.spawn(f)).collect();
                    for t in tasks {
                        t.await;
                    }
                }));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics and formatting.

#[derive(Clone, Copy)]
struct Summary {
    min: f64,
    p25: f64,
    med: f64,
    p75: f64,
    max: f64,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn summarize(xs: &[f64]) -> Summary {
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    Summary {
        min: s[0],
        p25: quantile(&s, 0.25),
        med: quantile(&s, 0.5),
        p75: quantile(&s, 0.75),
        max: s[s.len() - 1],
    }
}

/// Paired ratios `a[i] / b[i]` (samples taken side by side), summarized.
fn paired(a: &[f64], b: &[f64]) -> Summary {
    let r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    summarize(&r)
}

fn ns(x: f64) -> String {
    if x < 1e3 {
        format!("{x:.0} ns")
    } else if x < 1e6 {
        format!("{:.2} us", x / 1e3)
    } else {
        format!("{:.2} ms", x / 1e6)
    }
}

fn ratio_cell(r: &Summary, bar: f64) -> String {
    let mark = if r.med <= bar { "ok" } else { "FAIL" };
    format!("{:.2} [{:.2}-{:.2}] {mark}", r.med, r.p25, r.p75)
}

// ---------------------------------------------------------------------------------------------
// Configuration.

struct Cfg {
    quick: bool,
    samples: usize,
    /// Rough length of one sample.
    target: Duration,
    skew_trials: usize,
    filter: Option<String>,
}

impl Cfg {
    fn from_env() -> Cfg {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let quick = args.iter().any(|a| a == "--quick")
            || std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
        Cfg {
            quick,
            samples: if quick { 3 } else { 9 },
            target: if quick {
                Duration::from_millis(3)
            } else {
                Duration::from_millis(30)
            },
            skew_trials: if quick { 5 } else { 25 },
            filter,
        }
    }

    fn wants(&self, scenario: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| scenario.contains(f))
    }

    /// Repetitions so that one sample lasts about `target`, given a per-repetition estimate.
    fn reps(&self, per_rep_ns: f64, min: usize, max: usize) -> usize {
        ((self.target.as_nanos() as f64 / per_rep_ns.max(1.0)) as usize).clamp(min, max)
    }
}

/// The order implementations run in for sample `s`: rotated each sample.
fn rotated<T: Copy>(items: &[T], s: usize) -> Vec<T> {
    let k = s % items.len();
    items[k..].iter().chain(&items[..k]).copied().collect()
}

// ---------------------------------------------------------------------------------------------
// Scenario: rounds.

#[derive(Default)]
struct Clock {
    ready: AtomicUsize,
    start: AtomicBool,
    done: AtomicUsize,
    t0: Mutex<Option<Instant>>,
    t1: Mutex<Option<Instant>>,
}

/// One sample: `n` tasks do a warm-up pass, wait at a start gate (the last one ready opens it
/// and starts the clock), pass `rounds` times; the last one done stops the clock. Returns the
/// time per round in ns.
fn rounds_sample<B: Party>(ex: &Exec, b: B, n: usize, rounds: usize) -> f64 {
    let b = Arc::new(b);
    let clock = Arc::new(Clock::default());
    let futs: Vec<_> = (0..n)
        .map(|_| {
            let (b, clock) = (b.clone(), clock.clone());
            async move {
                b.pass().await;
                if clock.ready.fetch_add(1, Ordering::AcqRel) + 1 == n {
                    *clock.t0.lock().unwrap() = Some(Instant::now());
                    clock.start.store(true, Ordering::Release);
                }
                while !clock.start.load(Ordering::Acquire) {
                    yield_now().await;
                }
                for _ in 0..rounds {
                    b.pass().await;
                }
                if clock.done.fetch_add(1, Ordering::AcqRel) + 1 == n {
                    *clock.t1.lock().unwrap() = Some(Instant::now());
                }
            }
        })
        .collect();
    ex.run_all(futs);
    let t0 = clock.t0.lock().unwrap().unwrap();
    let t1 = clock.t1.lock().unwrap().unwrap();
    (t1 - t0).as_nanos() as f64 / rounds as f64
}

fn rounds_run(ex: &Exec, imp: Imp, n: usize, rounds: usize) -> f64 {
    match imp {
        Imp::Ours => rounds_sample(ex, agnostic_barrier::Barrier::new(n), n, rounds),
        Imp::Tokio => rounds_sample(ex, tokio::sync::Barrier::new(n), n, rounds),
        Imp::AsyncLock => rounds_sample(ex, async_lock::Barrier::new(n), n, rounds),
        Imp::Floor => rounds_sample(ex, Floor(AtomicUsize::new(0)), n, rounds),
    }
}

const NS: [usize; 5] = [2, 8, 64, 512, 4096];
const ROUND_IMPS: [Imp; 4] = [Imp::Ours, Imp::Tokio, Imp::AsyncLock, Imp::Floor];

struct RoundsCell {
    exec: &'static str,
    n: usize,
    rounds: usize,
    /// Per implementation (in `ROUND_IMPS` order), ns per round, by sample index.
    samples: Vec<Vec<f64>>,
}

impl RoundsCell {
    fn of(&self, imp: Imp) -> &[f64] {
        &self.samples[ROUND_IMPS.iter().position(|&i| i == imp).unwrap()]
    }

    /// The faster (by median) of tokio and async-lock.
    fn rival(&self) -> Imp {
        let t = summarize(self.of(Imp::Tokio)).med;
        let a = summarize(self.of(Imp::AsyncLock)).med;
        if t <= a {
            Imp::Tokio
        } else {
            Imp::AsyncLock
        }
    }
}

fn scenario_rounds(cfg: &Cfg, out: &mut String) -> Vec<RoundsCell> {
    let mut cells = Vec::new();
    for exec in EXECS {
        let ex = Exec::new(exec);
        for n in NS {
            // Calibrate on the slowest barrier, with short runs (the faster of two each, so
            // that one preemption does not shorten every sample).
            let probe = (2000 / n).max(3);
            let est = [Imp::Ours, Imp::Tokio, Imp::AsyncLock]
                .map(|imp| rounds_run(&ex, imp, n, probe).min(rounds_run(&ex, imp, n, probe)))
                .into_iter()
                .fold(0.0, f64::max);
            let rounds = cfg.reps(est, 5, 200_000);
            let mut samples = vec![Vec::new(); ROUND_IMPS.len()];
            for s in 0..cfg.samples {
                for imp in rotated(&ROUND_IMPS, s) {
                    let k = ROUND_IMPS.iter().position(|&i| i == imp).unwrap();
                    samples[k].push(rounds_run(&ex, imp, n, rounds));
                }
            }
            eprintln!("rounds: {exec} N={n} done ({rounds} rounds/sample)");
            cells.push(RoundsCell {
                exec,
                n,
                rounds,
                samples,
            });
        }
    }
    for exec in EXECS {
        let _ = writeln!(
            out,
            "\n### Time per round, {exec} ({} samples per cell, interleaved)\n",
            cfg.samples
        );
        let _ = writeln!(
            out,
            "| N | impl | rounds/sample | min | p25 | median | p75 | max | ours / impl (paired) |"
        );
        let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|---:|");
        for cell in cells.iter().filter(|c| c.exec == exec) {
            for imp in ROUND_IMPS {
                let s = summarize(cell.of(imp));
                let ratio = if imp == Imp::Ours {
                    "-".to_string()
                } else {
                    let r = paired(cell.of(Imp::Ours), cell.of(imp));
                    format!("{:.2} [{:.2}-{:.2}]", r.med, r.p25, r.p75)
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    cell.n,
                    imp.name(),
                    cell.rounds,
                    ns(s.min),
                    ns(s.p25),
                    ns(s.med),
                    ns(s.p75),
                    ns(s.max),
                    ratio
                );
            }
        }
    }
    cells
}

// ---------------------------------------------------------------------------------------------
// Scenario: blocking waits on OS threads.

#[derive(Clone, Copy, PartialEq, Eq)]
enum BlockImp {
    Std,
    Ours,
}

impl BlockImp {
    fn name(self) -> &'static str {
        match self {
            BlockImp::Std => "std::sync::Barrier",
            BlockImp::Ours => "ours (wait_blocking)",
        }
    }
}

/// `n` threads pass `rounds` times after a warm-up pass; the clock runs from the warm-up
/// leader's return to the last round leader's return. Returns ns per round.
fn blocking_sample(imp: BlockImp, n: usize, rounds: usize) -> f64 {
    let std_b = std::sync::Barrier::new(n);
    let ours = agnostic_barrier::Barrier::new(n);
    let pass = || match imp {
        BlockImp::Std => std_b.wait().is_leader(),
        BlockImp::Ours => ours.wait_blocking().unwrap().is_leader(),
    };
    let t0 = Mutex::new(None);
    let t1 = Mutex::new(None);
    thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                if pass() {
                    *t0.lock().unwrap() = Some(Instant::now());
                }
                for r in 0..rounds {
                    if pass() && r + 1 == rounds {
                        *t1.lock().unwrap() = Some(Instant::now());
                    }
                }
            });
        }
    });
    let (t0, t1) = (
        t0.into_inner().unwrap().unwrap(),
        t1.into_inner().unwrap().unwrap(),
    );
    (t1 - t0).as_nanos() as f64 / rounds as f64
}

fn scenario_blocking(cfg: &Cfg, out: &mut String) -> Vec<(usize, Summary)> {
    const IMPS: [BlockImp; 2] = [BlockImp::Std, BlockImp::Ours];
    let _ = writeln!(
        out,
        "\n### Blocking waits, OS threads: time per round ({} samples, interleaved)\n",
        cfg.samples
    );
    let _ = writeln!(
        out,
        "| N | impl | rounds/sample | min | p25 | median | p75 | max | ours / std (paired) |"
    );
    let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for n in [2usize, 8, 64] {
        let est = IMPS
            .map(|imp| blocking_sample(imp, n, 20).min(blocking_sample(imp, n, 20)))
            .into_iter()
            .fold(0.0, f64::max);
        let rounds = cfg.reps(est, 5, 200_000);
        let mut samples = [Vec::new(), Vec::new()];
        for s in 0..cfg.samples {
            for imp in rotated(&IMPS, s) {
                let k = IMPS.iter().position(|&i| i == imp).unwrap();
                samples[k].push(blocking_sample(imp, n, rounds));
            }
        }
        let r = paired(&samples[1], &samples[0]);
        for (k, imp) in IMPS.iter().enumerate() {
            let s = summarize(&samples[k]);
            let ratio = if *imp == BlockImp::Ours {
                format!("{:.2} [{:.2}-{:.2}]", r.med, r.p25, r.p75)
            } else {
                "-".into()
            };
            let _ = writeln!(
                out,
                "| {n} | {} | {rounds} | {} | {} | {} | {} | {} | {ratio} |",
                imp.name(),
                ns(s.min),
                ns(s.p25),
                ns(s.med),
                ns(s.p75),
                ns(s.max)
            );
        }
        eprintln!("blocking: N={n} done");
        ratios.push((n, r));
    }
    ratios
}

// ---------------------------------------------------------------------------------------------
// Scenario: release skew.

/// `n - 1` tasks park on the barrier; once all are parked, the last arrives. Returns, in ns,
/// the skew (from the leader's return to the last party's return) and the release span (from
/// the moment the last party starts its wait to the last party's return).
fn skew_trial<B: Party>(rt: &tokio::runtime::Runtime, b: B, n: usize) -> (f64, f64) {
    let b = Arc::new(b);
    let parked = Arc::new(AtomicUsize::new(0));
    let times: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let leader = Arc::new(AtomicUsize::new(usize::MAX));
    let last_arrival = Arc::new(AtomicU64::new(0));
    let base = Instant::now();
    let party = |i: usize| {
        let (b, parked, times) = (b.clone(), parked.clone(), times.clone());
        let (leader, last_arrival) = (leader.clone(), last_arrival.clone());
        async move {
            if i == n - 1 {
                last_arrival.store(base.elapsed().as_nanos() as u64, Ordering::Relaxed);
            }
            let mut wait = pin!(b.pass());
            let mut first = true;
            let lead = poll_fn(|cx| {
                let r = wait.as_mut().poll(cx);
                if std::mem::take(&mut first) && r.is_pending() {
                    parked.fetch_add(1, Ordering::Release);
                }
                r
            })
            .await;
            times[i].store(base.elapsed().as_nanos() as u64, Ordering::Relaxed);
            if lead {
                leader.store(i, Ordering::Relaxed);
            }
        }
    };
    rt.block_on(async {
        let mut tasks: Vec<_> = (0..n - 1).map(|i| tokio::spawn(party(i))).collect();
        while parked.load(Ordering::Acquire) < n - 1 {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        tasks.push(tokio::spawn(party(n - 1)));
        for t in tasks {
            t.await.unwrap();
        }
    });
    let lead_t = times[leader.load(Ordering::Relaxed)].load(Ordering::Relaxed);
    let last = times
        .iter()
        .map(|t| t.load(Ordering::Relaxed))
        .max()
        .unwrap();
    let arrival = last_arrival.load(Ordering::Relaxed);
    (
        last.saturating_sub(lead_t) as f64,
        last.saturating_sub(arrival) as f64,
    )
}

fn scenario_skew(cfg: &Cfg, out: &mut String) -> Vec<(usize, Summary)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut skews = Vec::new();
    let mut spans = Vec::new();
    for n in [64usize, 1024] {
        let mut skew = vec![Vec::new(); 3];
        let mut span = vec![Vec::new(); 3];
        for s in 0..cfg.skew_trials {
            for imp in rotated(&BARRIERS, s) {
                let k = BARRIERS.iter().position(|&i| i == imp).unwrap();
                let (a, b) = match imp {
                    Imp::Ours => skew_trial(&rt, agnostic_barrier::Barrier::new(n), n),
                    Imp::Tokio => skew_trial(&rt, tokio::sync::Barrier::new(n), n),
                    Imp::AsyncLock => skew_trial(&rt, async_lock::Barrier::new(n), n),
                    Imp::Floor => unreachable!(),
                };
                skew[k].push(a);
                span[k].push(b);
            }
        }
        eprintln!("skew: N={n} done");
        skews.push((n, skew));
        spans.push((n, span));
    }
    let mut ratios = Vec::new();
    for (title, data, record) in [
        (
            "Release skew: leader's return to last party's return",
            &skews,
            true,
        ),
        (
            "Release span: last party's arrival (start of its wait) to last party's return",
            &spans,
            false,
        ),
    ] {
        let _ = writeln!(
            out,
            "\n### {title}, tokio multi-thread (2 workers), {} trials, interleaved\n",
            cfg.skew_trials
        );
        if record {
            let _ = writeln!(
                out,
                "A skew near 0 means the leader returned last: it spent the release waking the \
                 others. The release span (next table) counts that time too.\n"
            );
        }
        let _ = writeln!(
            out,
            "| N | impl | min | p25 | median | p75 | max | ours / impl (paired) |"
        );
        let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|");
        for (n, samples) in data {
            for (k, imp) in BARRIERS.iter().enumerate() {
                let s = summarize(&samples[k]);
                let ratio = if *imp == Imp::Ours {
                    "-".to_string()
                } else {
                    let r = paired(&samples[0], &samples[k]);
                    if record && *imp == Imp::Tokio {
                        ratios.push((*n, r));
                    }
                    format!("{:.2} [{:.2}-{:.2}]", r.med, r.p25, r.p75)
                };
                let _ = writeln!(
                    out,
                    "| {n} | {} | {} | {} | {} | {} | {} | {ratio} |",
                    imp.name(),
                    ns(s.min),
                    ns(s.p25),
                    ns(s.med),
                    ns(s.p75),
                    ns(s.max)
                );
            }
        }
    }
    ratios
}

// ---------------------------------------------------------------------------------------------
// Scenario: allocations and sizes.

struct AllocFigures {
    first_poll: u64,
    completing: u64,
    repoll: u64,
}

/// Two parties, hand-polled with a no-op waker after a few warm-up generations (lists that
/// are allocated lazily are then in place): A polls (pending), B polls (completes), A re-polls
/// (released). Allocations are counted on each step.
fn alloc_figures<B: Party>(b: B) -> AllocFigures {
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..4 {
        let mut a = pin!(b.pass());
        let mut c = pin!(b.pass());
        assert!(a.as_mut().poll(&mut cx).is_pending());
        assert!(c.as_mut().poll(&mut cx).is_ready());
        assert!(a.as_mut().poll(&mut cx).is_ready());
    }
    let mut a = pin!(b.pass());
    let mut c = pin!(b.pass());
    let (r, first_poll) = count_allocs(|| a.as_mut().poll(&mut cx));
    assert!(r.is_pending());
    let (r, completing) = count_allocs(|| c.as_mut().poll(&mut cx));
    assert_eq!(r, Poll::Ready(true), "the second party completes and leads");
    let (r, repoll) = count_allocs(|| a.as_mut().poll(&mut cx));
    assert_eq!(r, Poll::Ready(false));
    AllocFigures {
        first_poll,
        completing,
        repoll,
    }
}

fn scenario_alloc(out: &mut String) -> (AllocFigures, usize) {
    let figs = [
        alloc_figures(agnostic_barrier::Barrier::new(2)),
        alloc_figures(tokio::sync::Barrier::new(2)),
        alloc_figures(async_lock::Barrier::new(2)),
    ];
    let size_ours = std::mem::size_of::<agnostic_barrier::BarrierWait<'static>>();
    let tb = tokio::sync::Barrier::new(2);
    let size_tokio = std::mem::size_of_val(&tb.wait());
    let ab = async_lock::Barrier::new(2);
    let size_al = std::mem::size_of_val(&ab.wait());
    let sizes = [size_ours, size_tokio, size_al];
    let _ = writeln!(
        out,
        "\n### Heap allocations per wait (parties = 2, hand-polled, after warm-up) and wait \
         future size\n"
    );
    let _ = writeln!(
        out,
        "| impl | waiting party: 1st poll | completing party | waiting party: re-poll | waiting party total | size_of wait future |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for (k, imp) in BARRIERS.iter().enumerate() {
        let f = &figs[k];
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} B |",
            imp.name(),
            f.first_poll,
            f.completing,
            f.repoll,
            f.first_poll + f.repoll,
            sizes[k]
        );
    }
    let [ours, ..] = figs;
    (ours, size_ours)
}

// ---------------------------------------------------------------------------------------------
// Scenario: cancel cost.

/// `k` cycles of: a fresh wait, polled once (arrived, pending), dropped. `parties` is so large
/// that no generation completes. Returns ns per cycle.
fn cancel_sample<B: Party>(b: &B, k: usize) -> f64 {
    let mut cx = Context::from_waker(Waker::noop());
    let start = Instant::now();
    for _ in 0..k {
        let mut w = pin!(b.pass());
        assert!(w.as_mut().poll(&mut cx).is_pending());
    }
    start.elapsed().as_nanos() as f64 / k as f64
}

const CANCEL_PARTIES: usize = 1_000_000;

fn cancel_run(imp: Imp, k: usize) -> f64 {
    // A fresh barrier per sample (made and dropped outside the clock): tokio's and
    // async-lock's count each dropped wait as an arrival, so they must not fill up.
    match imp {
        Imp::Ours => {
            let b = agnostic_barrier::Barrier::new(CANCEL_PARTIES);
            cancel_sample(&b, 64);
            let t = cancel_sample(&b, k);
            assert_eq!(b.n_waiting(), 0, "every dropped wait withdrew");
            t
        }
        Imp::Tokio => {
            let b = tokio::sync::Barrier::new(CANCEL_PARTIES);
            cancel_sample(&b, 64);
            cancel_sample(&b, k)
        }
        Imp::AsyncLock => {
            let b = async_lock::Barrier::new(CANCEL_PARTIES);
            cancel_sample(&b, 64);
            cancel_sample(&b, k)
        }
        Imp::Floor => unreachable!(),
    }
}

fn scenario_cancel(cfg: &Cfg, out: &mut String) {
    let est = BARRIERS
        .map(|imp| cancel_run(imp, 10_000).min(cancel_run(imp, 10_000)))
        .into_iter()
        .fold(0.0, f64::max);
    let k = cfg.reps(est, 1000, CANCEL_PARTIES - 1000);
    let mut samples = vec![Vec::new(); 3];
    for s in 0..cfg.samples {
        for imp in rotated(&BARRIERS, s) {
            let i = BARRIERS.iter().position(|&x| x == imp).unwrap();
            samples[i].push(cancel_run(imp, k));
        }
    }
    let _ = writeln!(
        out,
        "\n### Cancel: a wait polled once (arrived) then dropped, per cycle ({k} cycles/sample, \
         {} samples, interleaved)\n",
        cfg.samples
    );
    let _ = writeln!(
        out,
        "Ours withdraws the arrival; tokio's and async-lock's drop leaves the arrival counted \
         (no withdrawal), so theirs is the cost of arriving and dropping a listener only.\n"
    );
    let _ = writeln!(
        out,
        "| impl | min | p25 | median | p75 | max | ours / impl (paired) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for (i, imp) in BARRIERS.iter().enumerate() {
        let s = summarize(&samples[i]);
        let ratio = if *imp == Imp::Ours {
            "-".to_string()
        } else {
            let r = paired(&samples[0], &samples[i]);
            format!("{:.2} [{:.2}-{:.2}]", r.med, r.p25, r.p75)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {ratio} |",
            imp.name(),
            ns(s.min),
            ns(s.p25),
            ns(s.med),
            ns(s.p75),
            ns(s.max)
        );
    }
    eprintln!("cancel: done");
}

// ---------------------------------------------------------------------------------------------

/// The machine's load average, where the OS tells it (the run may share its cores).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    // Before async-std's global executor starts: two worker threads, like the others.
    std::env::set_var("ASYNC_STD_THREAD_COUNT", "2");
    let cfg = Cfg::from_env();
    let started = Instant::now();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## agnostic-barrier comparison benchmark{}\n\nCores available: {}; load average at \
         start: {}. Medians with spread (min/p25/median/p75/max); ratios are paired per sample \
         (median [p25-p75]).",
        if cfg.quick { " (quick run)" } else { "" },
        thread::available_parallelism().map_or(0, usize::from),
        loadavg()
    );

    let alloc = cfg.wants("alloc").then(|| scenario_alloc(&mut out));
    let cancel = cfg.wants("cancel");
    if cancel {
        scenario_cancel(&cfg, &mut out);
    }
    let rounds = if cfg.wants("rounds") {
        scenario_rounds(&cfg, &mut out)
    } else {
        Vec::new()
    };
    let blocking = if cfg.wants("blocking") {
        scenario_blocking(&cfg, &mut out)
    } else {
        Vec::new()
    };
    let skew = if cfg.wants("skew") {
        scenario_skew(&cfg, &mut out)
    } else {
        Vec::new()
    };

    // The verdicts against SPEC.md's quality bars.
    let _ = writeln!(out, "\n## Against the quality bars\n");
    if !rounds.is_empty() {
        let _ = writeln!(
            out,
            "### Time per round: ours / the faster of tokio and async-lock (bar <= 0.80; \
             paired median [p25-p75], rival in parentheses)\n"
        );
        let header: String = NS.iter().map(|n| format!(" N={n} |")).collect();
        let _ = writeln!(out, "| executor |{header}");
        let _ = writeln!(out, "|---|{}", "---:|".repeat(NS.len()));
        for exec in EXECS {
            let row: String = rounds
                .iter()
                .filter(|c| c.exec == exec)
                .map(|c| {
                    let rival = c.rival();
                    let r = paired(c.of(Imp::Ours), c.of(rival));
                    format!(" {} ({}) |", ratio_cell(&r, 0.8), rival.name())
                })
                .collect();
            let _ = writeln!(out, "| {exec} |{row}");
        }
        let _ = writeln!(
            out,
            "\n### Time per round: ours / yield floor (aim <= 2.5 at N >= 64; paired median \
             [p25-p75])\n"
        );
        let _ = writeln!(out, "| executor |{header}");
        let _ = writeln!(out, "|---|{}", "---:|".repeat(NS.len()));
        for exec in EXECS {
            let row: String = rounds
                .iter()
                .filter(|c| c.exec == exec)
                .map(|c| {
                    let r = paired(c.of(Imp::Ours), c.of(Imp::Floor));
                    if c.n >= 64 {
                        format!(" {} |", ratio_cell(&r, 2.5))
                    } else {
                        format!(" {:.2} [{:.2}-{:.2}] |", r.med, r.p25, r.p75)
                    }
                })
                .collect();
            let _ = writeln!(out, "| {exec} |{row}");
        }
    }
    let _ = writeln!(out, "\n### Other bars\n");
    let _ = writeln!(out, "| bar | measured | verdict |");
    let _ = writeln!(out, "|---|---|---|");
    if let Some((f, size)) = &alloc {
        let verdict = |ok: bool| if ok { "ok" } else { "FAIL" };
        let _ = writeln!(
            out,
            "| completing party allocates 0 | {} | {} |",
            f.completing,
            verdict(f.completing == 0)
        );
        let _ = writeln!(
            out,
            "| waiting party allocates <= 1 | {} | {} |",
            f.first_poll + f.repoll,
            verdict(f.first_poll + f.repoll <= 1)
        );
        let _ = writeln!(
            out,
            "| size_of BarrierWait <= 80 B | {size} B | {} |",
            verdict(*size <= 80)
        );
    }
    for (n, r) in &skew {
        let _ = writeln!(
            out,
            "| release skew N={n}: ours / tokio <= 0.80 | {:.2} [{:.2}-{:.2}] | {} |",
            r.med,
            r.p25,
            r.p75,
            if r.med <= 0.8 { "ok" } else { "FAIL" }
        );
    }
    for (n, r) in &blocking {
        let _ = writeln!(
            out,
            "| blocking N={n}: ours / std <= 1.00 | {:.2} [{:.2}-{:.2}] | {} |",
            r.med,
            r.p25,
            r.p75,
            if r.med <= 1.0 { "ok" } else { "FAIL" }
        );
    }
    let _ = writeln!(
        out,
        "\nTotal run time: {:.1} s; load average at the end: {}.",
        started.elapsed().as_secs_f64(),
        loadavg()
    );
    println!("{out}");
}
