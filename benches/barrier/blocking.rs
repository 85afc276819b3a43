//! Scenario `blocking`: OS threads pass `std::sync::Barrier` and our `wait_blocking`.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::thread;
use std::time::Instant;

use crate::cli::Cfg;
use crate::stats::{paired, quartile_cells, ratio_text, rotated, Summary};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum BlockImp {
    Std,
    Ours,
}

impl BlockImp {
    pub fn name(self) -> &'static str {
        match self {
            BlockImp::Std => "std::sync::Barrier",
            BlockImp::Ours => "ours (wait_blocking)",
        }
    }
}

/// `n` threads pass `rounds` times after a warm-up pass; the clock runs from the warm-up
/// leader's return to the last round leader's return. Returns ns per round.
pub fn blocking_sample(imp: BlockImp, n: usize, rounds: usize) -> f64 {
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

pub fn run(cfg: &Cfg, out: &mut String) -> Vec<(usize, Summary)> {
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
            let ratio = if *imp == BlockImp::Ours {
                ratio_text(&r)
            } else {
                "-".into()
            };
            let _ = writeln!(
                out,
                "| {n} | {} | {rounds} | {} | {ratio} |",
                imp.name(),
                quartile_cells(&samples[k])
            );
        }
        eprintln!("blocking: N={n} done");
        ratios.push((n, r));
    }
    ratios
}
