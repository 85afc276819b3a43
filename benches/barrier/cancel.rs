//! Scenario `cancel`: a wait polled once (arrived) and dropped, over and over.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::Instant;

use crate::cli::Cfg;
use crate::parties::{Imp, Party, BARRIERS};
use crate::stats::{paired, quartile_cells, ratio_text, rotated};

/// `k` cycles of: a fresh wait, polled once (arrived, pending), dropped. `parties` is so large
/// that no generation completes. Returns ns per cycle.
pub fn cancel_sample<B: Party>(b: &B, k: usize) -> f64 {
    let mut cx = Context::from_waker(Waker::noop());
    let start = Instant::now();
    for _ in 0..k {
        let mut w = pin!(b.pass());
        assert!(w.as_mut().poll(&mut cx).is_pending());
    }
    start.elapsed().as_nanos() as f64 / k as f64
}

/// Whether dropping an arrived wait withdraws its arrival: with two parties, one wait is
/// polled once and dropped; if the next wait then completes the generation alone, the dropped
/// one was counted.
pub fn withdraws<B: Party>(b: B) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    {
        let mut dropped = pin!(b.pass());
        assert!(dropped.as_mut().poll(&mut cx).is_pending());
    }
    let mut next = pin!(b.pass());
    next.as_mut().poll(&mut cx).is_pending()
}

pub const CANCEL_PARTIES: usize = 1_000_000;

pub fn cancel_run(imp: Imp, k: usize) -> f64 {
    // A fresh barrier per sample (made and dropped outside the clock): tokio's and
    // async-lock's count each dropped wait as an arrival, so they must not fill up.
    match imp {
        Imp::Ours => {
            let b = agnostic_barrier::Barrier::new(CANCEL_PARTIES);
            cancel_sample(&b, 64);
            cancel_sample(&b, k)
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
        Imp::Floor | Imp::WakeFloor => unreachable!(),
    }
}

pub fn run(cfg: &Cfg, out: &mut String) {
    let withdrawn = [
        withdraws(agnostic_barrier::Barrier::new(2)),
        withdraws(tokio::sync::Barrier::new(2)),
        withdraws(async_lock::Barrier::new(2)),
    ];
    assert!(withdrawn[0], "our dropped wait must withdraw its arrival");
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
         (no withdrawal), so theirs is the cost of arriving and dropping a listener only. The \
         last column is checked with two parties: after one arrived wait is dropped, does the \
         next wait still wait?\n"
    );
    let _ = writeln!(
        out,
        "| impl | min | p25 | median | p75 | max | ours / impl (paired) | dropped wait withdrawn |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|");
    for (i, imp) in BARRIERS.iter().enumerate() {
        let ratio = if *imp == Imp::Ours {
            "-".to_string()
        } else {
            ratio_text(&paired(&samples[0], &samples[i]))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {ratio} | {} |",
            imp.name(),
            quartile_cells(&samples[i]),
            if withdrawn[i] { "yes" } else { "no: counted" }
        );
    }
    eprintln!("cancel: done");
}
