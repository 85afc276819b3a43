//! Scenario `skew`: N-1 tasks parked, the last arrives; how long the release takes to reach
//! every party.

use std::fmt::Write as _;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::Cfg;
use crate::exec::{label, tokio_multi_thread};
use crate::parties::{Imp, Party, WakeFloor};
use crate::stats::{paired, quartile_cells, ratio_text, rotated, Summary};

/// `n - 1` tasks park on the barrier; once all are parked, the last arrives. Returns, in ns,
/// the skew (from the leader's return to the last party's return) and the release span (from
/// the moment the last party starts its wait to the last party's return).
pub fn skew_trial<B: Party>(rt: &tokio::runtime::Runtime, b: B, n: usize) -> (f64, f64) {
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

/// The implementations of the skew scenario: the barriers and the wake floor.
pub const SKEW_IMPS: [Imp; 4] = [Imp::Ours, Imp::Tokio, Imp::AsyncLock, Imp::WakeFloor];

/// SPEC.md's bar: at N = `WAKE_BAR_N`, the skew of ours at most `WAKE_BAR` x the wake floor's.
pub const WAKE_BAR: f64 = 1.10;
pub const WAKE_BAR_N: usize = 1024;

/// Paired ratios of ours' skew for one N.
pub struct SkewRatios {
    pub n: usize,
    pub vs_floor: Summary,
    pub vs_tokio: Summary,
}

fn trial(rt: &tokio::runtime::Runtime, imp: Imp, n: usize) -> (f64, f64) {
    match imp {
        Imp::Ours => skew_trial(rt, agnostic_barrier::Barrier::new(n), n),
        Imp::Tokio => skew_trial(rt, tokio::sync::Barrier::new(n), n),
        Imp::AsyncLock => skew_trial(rt, async_lock::Barrier::new(n), n),
        Imp::WakeFloor => skew_trial(rt, WakeFloor::new(n), n),
        Imp::Floor => unreachable!("the yield floor releases nobody"),
    }
}

pub fn run(cfg: &Cfg, out: &mut String) -> Vec<SkewRatios> {
    let rt = tokio_multi_thread(cfg.workers);
    let mut skews = Vec::new();
    let mut spans = Vec::new();
    for n in [64usize, WAKE_BAR_N] {
        let mut skew = vec![Vec::new(); SKEW_IMPS.len()];
        let mut span = vec![Vec::new(); SKEW_IMPS.len()];
        for s in 0..cfg.skew_trials {
            for imp in rotated(&SKEW_IMPS, s) {
                let k = SKEW_IMPS.iter().position(|&i| i == imp).unwrap();
                let (a, b) = trial(&rt, imp, n);
                skew[k].push(a);
                span[k].push(b);
            }
        }
        eprintln!("skew: N={n} done");
        skews.push((n, skew));
        spans.push((n, span));
    }
    let of = |samples: &[Vec<f64>], imp: Imp| -> Vec<f64> {
        samples[SKEW_IMPS.iter().position(|&i| i == imp).unwrap()].clone()
    };
    let ratios = skews
        .iter()
        .map(|(n, samples)| {
            let ours = of(samples, Imp::Ours);
            SkewRatios {
                n: *n,
                vs_floor: paired(&ours, &of(samples, Imp::WakeFloor)),
                vs_tokio: paired(&ours, &of(samples, Imp::Tokio)),
            }
        })
        .collect();
    for (title, data, first) in [
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
            "\n### {title}, {}, {} trials, interleaved\n",
            label("tokio-mt", cfg.workers),
            cfg.skew_trials
        );
        if first {
            let _ = writeln!(
                out,
                "N-1 tasks parked, then the last arrives. A skew near 0 means the leader returned \
                 last: it spent the release waking the others. The release span (next table) \
                 counts that time too. The wake floor is the release with no barrier: the N-1 \
                 tasks park with their wakers in slots of their own, and the last task, spawned \
                 once they are parked, wakes the slots in a loop and returns as the leader; it \
                 is measured the same way.\n"
            );
        }
        let _ = writeln!(
            out,
            "| N | impl | min | p25 | median | p75 | max | ours / impl (paired) |"
        );
        let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|");
        for (n, samples) in data {
            for (k, imp) in SKEW_IMPS.iter().enumerate() {
                let ratio = if *imp == Imp::Ours {
                    "-".to_string()
                } else {
                    ratio_text(&paired(&samples[0], &samples[k]))
                };
                let _ = writeln!(
                    out,
                    "| {n} | {} | {} | {ratio} |",
                    imp.name(),
                    quartile_cells(&samples[k])
                );
            }
        }
    }
    ratios
}

/// Rows of the "other bars" table: ours / wake floor against the bar at N = `WAKE_BAR_N`
/// (reported at the other N), and ours / tokio beside it.
pub fn write_bar_rows(ratios: &[SkewRatios], rows: &mut String) {
    for r in ratios {
        let (bar, verdict) = if r.n == WAKE_BAR_N {
            let ok = r.vs_floor.med <= WAKE_BAR;
            (
                format!(" <= {WAKE_BAR:.2}"),
                if ok { "ok" } else { "FAIL" }.to_string(),
            )
        } else {
            (String::new(), format!("- (bar at N={WAKE_BAR_N})"))
        };
        let _ = writeln!(
            rows,
            "| release skew N={}: ours / wake floor{bar} | {} | {verdict} |",
            r.n,
            ratio_text(&r.vs_floor)
        );
        let _ = writeln!(
            rows,
            "| release skew N={}: ours / tokio (reported, no bar) | {} | - |",
            r.n,
            ratio_text(&r.vs_tokio)
        );
    }
}
