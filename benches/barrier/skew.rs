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
use crate::parties::{Imp, Party, BARRIERS};
use crate::stats::{ns, paired, ratio_text, rotated, summarize, Summary};

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

pub fn run(cfg: &Cfg, out: &mut String) -> Vec<(usize, Summary)> {
    let rt = tokio_multi_thread(cfg.workers);
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
            "\n### {title}, {}, {} trials, interleaved\n",
            label("tokio-mt", cfg.workers),
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
                    ratio_text(&r)
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
