//! Phased computation: a 1-D heat diffusion split across worker tasks that meet at a barrier
//! twice per time step.
//!
//! The rod is cut into one chunk per worker; each chunk carries a ghost cell at each end that
//! holds its neighbour's edge value. Every step a worker
//!
//! 1. computes its chunk's next temperatures and publishes its edge cells, then waits at the
//!    barrier (everyone's edges are published);
//! 2. copies its neighbours' edges into its ghost cells (the halo exchange), then waits again
//!    (nobody overwrites an edge before all neighbours have read it).
//!
//! The barrier's action runs once per generation, before anyone is released: after phase 1 of
//! every K-th step it reports the rod's total heat and peak temperature. At the end the result
//! is compared, bit for bit, with a sequential run of the same scheme.
//!
//! Run with `cargo run --release --example phased_simulation` (add `-- --help` for the flags,
//! e.g. `-- --workers 8 --cells 100000 --steps 5000`).

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use agnostic_barrier::Barrier;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

/// Diffusion number `alpha * dt / dx^2`; the explicit scheme is stable for values up to 0.5.
const R: f64 = 0.25;

/// 1-D heat diffusion on worker tasks synchronized by a barrier.
#[derive(Parser)]
#[command(name = "phased_simulation")]
struct Config {
    /// worker tasks
    #[arg(long, value_name = "N", default_value_t = 4)]
    workers: usize,
    /// cells in the rod
    #[arg(long, value_name = "N", default_value_t = 240)]
    cells: usize,
    /// time steps
    #[arg(long, value_name = "N", default_value_t = 6000)]
    steps: usize,
    /// progress report every K steps
    #[arg(long, value_name = "K", default_value_t = 1000)]
    report_every: usize,
}

fn parse_args() -> Config {
    let config = Config::parse();
    if config.workers == 0 || config.cells < config.workers || config.report_every == 0 {
        Config::command()
            .error(
                ErrorKind::ValueValidation,
                "need --workers >= 1, --cells >= --workers and --report-every >= 1",
            )
            .exit();
    }
    config
}

/// The starting temperatures: two hot bands on a cold rod.
fn initial(cells: usize) -> Vec<f64> {
    (0..cells)
        .map(|i| {
            let x = i as f64 / cells as f64;
            if (0.2..0.3).contains(&x) {
                100.0
            } else if (0.6..0.65).contains(&x) {
                60.0
            } else {
                0.0
            }
        })
        .collect()
}

/// One explicit step: `next[i]` from `u[i - 1..=i + 1]` for every interior cell (both slices
/// have a ghost cell at each end). The parallel and sequential runs both use exactly this
/// expression, so they agree bit for bit.
fn step_cells(u: &[f64], next: &mut [f64]) {
    let n = u.len() - 2;
    for (cell, w) in next[1..=n].iter_mut().zip(u.windows(3)) {
        *cell = w[1] + R * ((w[0] - 2.0 * w[1]) + w[2]);
    }
}

/// The reference: the whole rod, one step after another, ends held at 0.
fn sequential(start: &[f64], steps: usize) -> Vec<f64> {
    let n = start.len();
    let mut u = vec![0.0; n + 2];
    u[1..=n].copy_from_slice(start);
    let mut next = u.clone();
    for _ in 0..steps {
        step_cells(&u, &mut next);
        std::mem::swap(&mut u, &mut next);
    }
    u[1..=n].to_vec()
}

/// An `f64` that tasks can share: its bits in an `AtomicU64`.
#[derive(Default)]
struct SharedF64(AtomicU64);

impl SharedF64 {
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// What the workers publish for their neighbours and for the progress report. The barrier
/// orders these relaxed stores and loads: a write before one `wait()` is seen by every party
/// after it.
struct Board {
    left_edge: Vec<SharedF64>,
    right_edge: Vec<SharedF64>,
    heat: Vec<SharedF64>,
    peak: Vec<SharedF64>,
}

/// The cells `[start, end)` of worker `w`: equal chunks, the first ones one cell longer.
fn chunk(config: &Config, w: usize) -> (usize, usize) {
    let base = config.cells / config.workers;
    let extra = config.cells % config.workers;
    let start = w * base + w.min(extra);
    (start, start + base + usize::from(w < extra))
}

/// Runs worker `w` on its chunk `u` (with ghost cells), returns the chunk's final temperatures.
async fn worker(
    w: usize,
    mut u: Vec<f64>,
    config: Arc<Config>,
    barrier: Arc<Barrier>,
    board: Arc<Board>,
) -> Vec<f64> {
    let n = u.len() - 2;
    let last = config.workers - 1;
    let mut next = u.clone();
    for step in 1..=config.steps {
        // Phase 1: compute from the current ghost cells, publish edges and totals.
        step_cells(&u, &mut next);
        std::mem::swap(&mut u, &mut next);
        board.left_edge[w].set(u[1]);
        board.right_edge[w].set(u[n]);
        if is_report_step(&config, step) {
            board.heat[w].set(u[1..=n].iter().sum());
            board.peak[w].set(u[1..=n].iter().copied().fold(0.0, f64::max));
        }
        barrier.wait().await.expect("nobody breaks this barrier");

        // Phase 2: the halo exchange. The rod's ends stay at 0.
        u[0] = if w > 0 {
            board.right_edge[w - 1].get()
        } else {
            0.0
        };
        u[n + 1] = if w < last {
            board.left_edge[w + 1].get()
        } else {
            0.0
        };
        barrier.wait().await.expect("nobody breaks this barrier");
    }
    u[1..=n].to_vec()
}

/// Whether the action reports after phase 1 of `step` (counted from 1).
fn is_report_step(config: &Config, step: usize) -> bool {
    step == 1 || step % config.report_every == 0
}

/// A one-line picture of the rod: darker is hotter.
fn sketch(u: &[f64], width: usize) -> String {
    const SHADES: &[u8] = b" .:-=+*#%@";
    let max = u.iter().copied().fold(0.0, f64::max).max(f64::MIN_POSITIVE);
    (0..width)
        .map(|c| {
            let (a, b) = (
                c * u.len() / width,
                ((c + 1) * u.len() / width).max(c * u.len() / width + 1),
            );
            let mean = u[a..b].iter().sum::<f64>() / (b - a) as f64;
            let level = ((mean / max) * (SHADES.len() - 1) as f64).round() as usize;
            SHADES[level.min(SHADES.len() - 1)] as char
        })
        .collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = Arc::new(parse_args());
    let start = initial(config.cells);
    println!(
        "heat diffusion: {} cells, {} steps, {} workers, 2 barrier waits per step",
        config.cells, config.steps, config.workers
    );
    println!(
        "  start |{}|  (shades scaled to the peak)",
        sketch(&start, 64)
    );

    let board = Arc::new(Board {
        left_edge: (0..config.workers).map(|_| SharedF64::default()).collect(),
        right_edge: (0..config.workers).map(|_| SharedF64::default()).collect(),
        heat: (0..config.workers).map(|_| SharedF64::default()).collect(),
        peak: (0..config.workers).map(|_| SharedF64::default()).collect(),
    });

    // The action sees every generation; generations 0, 2, 4, ... end phase 1 of a step, when
    // the totals on the board are complete.
    let generations = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(
        Barrier::builder(config.workers)
            .action({
                let (board, config, generations) =
                    (board.clone(), config.clone(), generations.clone());
                move || {
                    let generation = generations.fetch_add(1, Ordering::Relaxed);
                    let step = generation / 2 + 1;
                    if generation % 2 == 0 && is_report_step(&config, step) {
                        let heat: f64 = board.heat.iter().map(SharedF64::get).sum();
                        let peak = board.peak.iter().map(SharedF64::get).fold(0.0, f64::max);
                        println!(
                            "  step {step:>6}/{}  total heat {heat:>10.3}  peak {peak:>8.4}",
                            config.steps
                        );
                    }
                }
            })
            .build(),
    );

    let began = Instant::now();
    let tasks: Vec<_> = (0..config.workers)
        .map(|w| {
            // The chunk with its ghost cells, filled from the neighbours' initial edges.
            let (a, b) = chunk(&config, w);
            let mut mine = Vec::with_capacity(b - a + 2);
            mine.push(if a > 0 { start[a - 1] } else { 0.0 });
            mine.extend_from_slice(&start[a..b]);
            mine.push(start.get(b).copied().unwrap_or(0.0));
            tokio::spawn(worker(
                w,
                mine,
                config.clone(),
                barrier.clone(),
                board.clone(),
            ))
        })
        .collect();
    let mut parallel = Vec::with_capacity(config.cells);
    for task in tasks {
        parallel.extend(task.await.expect("worker panicked"));
    }
    let parallel_time = began.elapsed();

    let began = Instant::now();
    let reference = sequential(&start, config.steps);
    let sequential_time = began.elapsed();

    println!("  end   |{}|", sketch(&parallel, 64));
    println!(
        "parallel: {:.1} ms ({} barrier generations, {:.1} us each); sequential: {:.1} ms",
        parallel_time.as_secs_f64() * 1000.0,
        barrier.generation(),
        parallel_time.as_secs_f64() * 1e6 / barrier.generation().max(1) as f64,
        sequential_time.as_secs_f64() * 1000.0
    );
    let expected_generations = 2 * config.steps as u64;
    let mismatches = parallel
        .iter()
        .zip(&reference)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    if mismatches == 0 && barrier.generation() == expected_generations {
        println!(
            "OK: the parallel result matches the sequential run bit for bit ({} cells)",
            config.cells
        );
        ExitCode::SUCCESS
    } else {
        let worst = parallel
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        println!(
            "FAILED: {mismatches} cells differ from the sequential run (worst by {worst:e}); {} generations, expected {expected_generations}",
            barrier.generation()
        );
        ExitCode::FAILURE
    }
}
