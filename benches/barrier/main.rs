//! Comparison benchmark: `agnostic_barrier::Barrier` against `tokio::sync::Barrier`,
//! `async_lock::Barrier` (which async-std re-exports) and `std::sync::Barrier`, for the quality
//! bars in SPEC.md.
//!
//! Run with `cargo bench --bench barrier` (under a minute on 2 cores), or `cargo bench --bench
//! barrier -- --quick` (or `BENCH_QUICK=1`) for a smoke run of a few seconds. Further arguments
//! pick the scenarios whose name contains one of them: `rounds`, `blocking`, `skew`, `alloc`,
//! `cancel`. `--workers N` sets the worker threads of tokio multi-thread, async-std and the smol
//! pool (default 2); `--help` prints the usage.
//!
//! Scenarios:
//! - `rounds`: N tasks pass the barrier again and again; time per round, on tokio multi-thread,
//!   tokio current-thread, async-std and smol (an `Executor` run on `--workers` threads). A
//!   "yield floor" runs the same rounds with no synchronization: each task yields once and
//!   bumps a shared atomic per round.
//! - `blocking`: OS threads, `std::sync::Barrier` against our `wait_blocking`.
//! - `skew`: N-1 tasks parked, the last arrives; time from the leader's return to the last
//!   party's return, and from the last party's arrival to the last return, on tokio
//!   multi-thread. A "wake floor" releases the same tasks with no barrier: the last one wakes
//!   the others' wakers in a loop.
//! - `alloc`: heap allocations per wait (hand-polled, after warm-up) and the size of each wait
//!   future.
//! - `cancel`: a wait polled once (arrived) and dropped, over and over; and whether the drop
//!   withdrew the arrival.
//!
//! The machine may be noisy (shared cores), so implementations run interleaved, sample by
//! sample, in an order that rotates each sample; drift hits all alike. Ratios are paired: the
//! ratio of the samples taken side by side, then the median of those ratios.
//!
//! Layout: this file runs the scenarios and prints the verdicts; `cli.rs` reads the options,
//! `parties.rs` puts the barriers (and the floors) behind one trait, `exec.rs` makes the
//! executors, `stats.rs` summarizes samples, and each scenario has a file of its own.
//!
//! Of the crate, only `Barrier::new`, `wait()`, `wait_blocking()` and the result's
//! `is_leader()` are named, so that the same benchmark builds against later versions.

mod alloc;
mod blocking;
mod cancel;
mod cli;
mod exec;
mod parties;
mod rounds;
mod skew;
mod stats;

// Counts allocations made by one thread while counting is switched on (the `alloc` scenario).
#[path = "../../tests/common/counting_alloc.rs"]
mod counting_alloc;

use std::fmt::Write as _;
use std::thread;
use std::time::Instant;

use cli::Cfg;
use counting_alloc::Counting;
use stats::ratio_text;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The machine's load average, where the OS tells it (the run may share its cores).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    let cfg = Cfg::from_env();
    // Before async-std's global executor starts: as many threads as the other pools.
    std::env::set_var("ASYNC_STD_THREAD_COUNT", cfg.workers.to_string());
    let started = Instant::now();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## agnostic-barrier comparison benchmark{}\n\nCores available: {}; worker threads of \
         tokio multi-thread, async-std and smol: {}; load average at start: {}. Medians with \
         spread (min/p25/median/p75/max); ratios are paired per sample (median [p25-p75]).",
        if cfg.quick { " (quick run)" } else { "" },
        thread::available_parallelism().map_or(0, usize::from),
        cfg.workers,
        loadavg()
    );

    let alloc = cfg.wants("alloc").then(|| alloc::run(&mut out));
    let cancel = cfg.wants("cancel");
    if cancel {
        cancel::run(&cfg, &mut out);
    }
    let rounds = if cfg.wants("rounds") {
        rounds::run(&cfg, &mut out)
    } else {
        Vec::new()
    };
    let blocking = if cfg.wants("blocking") {
        blocking::run(&cfg, &mut out)
    } else {
        Vec::new()
    };
    let skew = if cfg.wants("skew") {
        skew::run(&cfg, &mut out)
    } else {
        Vec::new()
    };

    // The verdicts against SPEC.md's quality bars.
    let _ = writeln!(out, "\n## Against the quality bars");
    rounds::write_bars(&cfg, &rounds, &mut out);
    let mut rows = String::new();
    let verdict = |ok: bool| if ok { "ok" } else { "FAIL" };
    if let Some((f, size)) = &alloc {
        let _ = writeln!(
            rows,
            "| completing party allocates 0 | {} | {} |",
            f.completing,
            verdict(f.completing == 0)
        );
        let _ = writeln!(
            rows,
            "| waiting party allocates <= 1 | {} | {} |",
            f.first_poll + f.repoll,
            verdict(f.first_poll + f.repoll <= 1)
        );
        let _ = writeln!(
            rows,
            "| size_of BarrierWait <= 80 B | {size} B | {} |",
            verdict(*size <= 80)
        );
    }
    skew::write_bar_rows(&skew, &mut rows);
    for (n, r) in &blocking {
        let _ = writeln!(
            rows,
            "| blocking N={n}: ours / std <= 1.00 | {} | {} |",
            ratio_text(r),
            verdict(r.med <= 1.0)
        );
    }
    if !rows.is_empty() {
        let _ = writeln!(out, "\n### Other bars\n");
        let _ = writeln!(out, "| bar | measured | verdict |");
        let _ = writeln!(out, "|---|---|---|");
        out.push_str(&rows);
    }
    let _ = writeln!(
        out,
        "\nTotal run time: {:.1} s; load average at the end: {}.",
        started.elapsed().as_secs_f64(),
        loadavg()
    );
    println!("{out}");
}
