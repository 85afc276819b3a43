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
use crate::stats::{ns, paired, quartile_cells, ratio_text, rotated, summarize};

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
        Imp::WakeFloor => unreachable!("the wake floor is single use"),
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
            "\n### Time per round, {}: {} samples per cell, interleaved\n",
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
                let ratio = if imp == Imp::Ours {
                    "-".to_string()
                } else {
                    ratio_text(&paired(cell.of(Imp::Ours), cell.of(imp)))
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {ratio} |",
                    cell.n,
                    imp.name(),
                    cell.rounds,
                    quartile_cells(cell.of(imp))
                );
            }
        }
    }
    cells
}

/// SPEC.md's bars for time per round: in every cell, ours at most `PEER_BAR` x the faster peer
/// or at most `NEAR_FLOOR` x the yield floor (where a peer already sits near the floor, a
/// fraction of it would be below the floor); and at N >= `FLOOR_BAR_FROM`, at most `FLOOR_BAR`
/// x the floor.
pub const PEER_BAR: f64 = 0.70;
pub const NEAR_FLOOR: f64 = 1.30;
pub const FLOOR_BAR: f64 = 2.50;
pub const FLOOR_BAR_FROM: usize = 64;

/// The verdicts against SPEC.md's bars for time per round, one row per cell.
pub fn write_bars(cfg: &Cfg, rounds: &[RoundsCell], out: &mut String) {
    if rounds.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n### Time per round: ours against the faster peer and the yield floor\n\n\
         Bars: in every cell, ours <= {PEER_BAR:.2}x the faster of tokio and async-lock OR <= \
         {NEAR_FLOOR:.2}x the yield floor; and <= {FLOOR_BAR:.2}x the yield floor at N >= \
         {FLOOR_BAR_FROM}. Times are medians; ratios are paired (median [p25-p75]) and the \
         verdicts go by their medians. SPEC.md judges the worst of three separate process runs: \
         one run does not settle a cell.\n"
    );
    let _ = writeln!(
        out,
        "| executor | N | ours | faster peer | yield floor | ours / peer | ours / floor | \
         <= {PEER_BAR:.2}x peer or <= {NEAR_FLOOR:.2}x floor | <= {FLOOR_BAR:.2}x floor \
         (N >= {FLOOR_BAR_FROM}) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|---|");
    let (mut cells, mut passed) = (0, 0);
    for c in rounds {
        let rival = c.rival();
        let vs_peer = paired(c.of(Imp::Ours), c.of(rival));
        let vs_floor = paired(c.of(Imp::Ours), c.of(Imp::Floor));
        let (peer_ok, near_floor) = (vs_peer.med <= PEER_BAR, vs_floor.med <= NEAR_FLOOR);
        let first = match (peer_ok, near_floor) {
            (true, true) => "ok (both)",
            (true, false) => "ok (peer)",
            (false, true) => "ok (floor)",
            (false, false) => "FAIL",
        };
        let floor_ok = c.n < FLOOR_BAR_FROM || vs_floor.med <= FLOOR_BAR;
        let second = match (c.n < FLOOR_BAR_FROM, floor_ok) {
            (true, _) => "-",
            (false, true) => "ok",
            (false, false) => "FAIL",
        };
        cells += 1;
        passed += usize::from((peer_ok || near_floor) && floor_ok);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} ({}) | {} | {} | {} | {first} | {second} |",
            label(c.exec, cfg.workers),
            c.n,
            ns(summarize(c.of(Imp::Ours)).med),
            ns(summarize(c.of(rival)).med),
            rival.name(),
            ns(summarize(c.of(Imp::Floor)).med),
            ratio_text(&vs_peer),
            ratio_text(&vs_floor),
        );
    }
    let _ = writeln!(
        out,
        "\n{passed} of {cells} cells meet both bars in this run."
    );
}
