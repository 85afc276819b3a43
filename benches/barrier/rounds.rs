//! Scenario `rounds`: N tasks pass the barrier again and again; time per round on each
//! executor, beside the yield floor.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_lite::future::yield_now;

use crate::cli::Cfg;
use crate::exec::{label, Exec, EXECS};
use crate::parties::{Floor, Imp, Party};
use crate::stats::{ns, paired, ratio_cell, rotated, summarize};

#[derive(Default)]
pub struct Clock {
    pub ready: AtomicUsize,
    pub start: AtomicBool,
    pub done: AtomicUsize,
    pub t0: Mutex<Option<Instant>>,
    pub t1: Mutex<Option<Instant>>,
}

/// One sample: `n` tasks do a warm-up pass, wait at a start gate (the last one ready opens it
/// and starts the clock), pass `rounds` times; the last one done stops the clock. Returns the
/// time per round in ns.
pub fn rounds_sample<B: Party>(ex: &Exec, b: B, n: usize, rounds: usize) -> f64 {
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

pub fn rounds_run(ex: &Exec, imp: Imp, n: usize, rounds: usize) -> f64 {
    match imp {
        Imp::Ours => rounds_sample(ex, agnostic_barrier::Barrier::new(n), n, rounds),
        Imp::Tokio => rounds_sample(ex, tokio::sync::Barrier::new(n), n, rounds),
        Imp::AsyncLock => rounds_sample(ex, async_lock::Barrier::new(n), n, rounds),
        Imp::Floor => rounds_sample(ex, Floor(AtomicUsize::new(0)), n, rounds),
    }
}

pub const NS: [usize; 5] = [2, 8, 64, 512, 4096];
pub const ROUND_IMPS: [Imp; 4] = [Imp::Ours, Imp::Tokio, Imp::AsyncLock, Imp::Floor];

pub struct RoundsCell {
    pub exec: &'static str,
    pub n: usize,
    pub rounds: usize,
    /// Per implementation (in `ROUND_IMPS` order), ns per round, by sample index.
    pub samples: Vec<Vec<f64>>,
}

impl RoundsCell {
    pub fn of(&self, imp: Imp) -> &[f64] {
        &self.samples[ROUND_IMPS.iter().position(|&i| i == imp).unwrap()]
    }

    /// The faster (by median) of tokio and async-lock.
    pub fn rival(&self) -> Imp {
        let t = summarize(self.of(Imp::Tokio)).med;
        let a = summarize(self.of(Imp::AsyncLock)).med;
        if t <= a {
            Imp::Tokio
        } else {
            Imp::AsyncLock
        }
    }
}

pub fn run(cfg: &Cfg, out: &mut String) -> Vec<RoundsCell> {
    let mut cells = Vec::new();
    for exec in EXECS {
        let ex = Exec::new(exec, cfg.workers);
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
            "\n### Time per round, {} ({} samples per cell, interleaved)\n",
            label(exec, cfg.workers),
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

/// The verdicts against SPEC.md's bars for time per round.
pub fn write_bars(rounds: &[RoundsCell], out: &mut String) {
    if rounds.is_empty() {
        return;
    }
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
