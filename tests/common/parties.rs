//! Setups the parties suites (`parties.rs`, `parties_bugs.rs`, `split_phase.rs`,
//! `parties_runtimes.rs`) write again and again: hand-polled arrivals, and barriers whose action
//! counts or logs its runs.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agnostic_barrier::{Barrier, BarrierBuilder, BarrierWait, BarrierWaitResult};

use super::staged::{self, Log};
use super::{poll_once, spawn, Deadline, Spawned};

/// An anonymous wait or a party's, polled by hand.
pub type Waiting<'b> = Spawned<BarrierWait<'b>>;

/// `fut` (a wait) wrapped for polling by hand and polled once: it has arrived and waits.
#[track_caller]
pub fn pending<F: Future + Unpin>(fut: F) -> Spawned<F>
where
    F::Output: std::fmt::Debug,
{
    let mut wait = spawn(fut);
    assert_pending!(wait.poll());
    wait
}

/// `N` anonymous waits on `barrier`, polled once each in order: they arrived in that order and
/// wait.
#[track_caller]
pub fn pending_waits<const N: usize>(barrier: &Barrier) -> [Waiting<'_>; N] {
    let mut waits = std::array::from_fn(|_| spawn(barrier.wait()));
    for wait in &mut waits {
        assert_pending!(wait.poll());
    }
    waits
}

/// An anonymous arrival on `barrier` whose wait passes at its first poll (it completes its
/// generation): its result.
#[track_caller]
pub fn last_arrival(barrier: &Barrier) -> BarrierWaitResult {
    assert_ready_ok!(poll_once(&mut barrier.wait()))
}

/// Builds `builder` with an action that counts its runs; returns the barrier and the count.
pub fn counting_runs(builder: BarrierBuilder) -> (Barrier, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let barrier = builder
        .action(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build();
    (barrier, runs)
}

/// Builds `builder` with an action that logs the phase it ran in (see [`staged::during`]);
/// returns the barrier and the log.
pub fn logging_phases(builder: BarrierBuilder) -> (Barrier, Log<&'static str>) {
    let log = Log::default();
    let sink = log.clone();
    let barrier = builder.action(move || sink.push(staged::phase())).build();
    (barrier, log)
}

/// Builds `builder` with a default timeout (an hour) whose timer is the returned deadline,
/// fired by hand.
pub fn timing_out_by_hand(builder: BarrierBuilder) -> (Barrier, Deadline) {
    let timer = Deadline::new();
    let fire = timer.clone();
    let barrier = builder
        .timeout(Duration::from_secs(3600), move |_| fire.clone())
        .build();
    (barrier, timer)
}

/// Results grouped by generation.
pub fn by_generation<'a>(
    results: impl IntoIterator<Item = &'a BarrierWaitResult>,
) -> BTreeMap<u64, Vec<BarrierWaitResult>> {
    let mut by_generation = BTreeMap::<u64, Vec<_>>::new();
    for result in results {
        by_generation
            .entry(result.generation())
            .or_default()
            .push(*result);
    }
    by_generation
}
