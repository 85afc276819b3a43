//! The two ways to give up on a barrier, and a crashed worker caught by the default timeout.
//!
//! 1. **Quietly**: drop the wait, e.g. with `tokio::time::timeout(d, barrier.wait())`. The
//!    arrival is withdrawn (`n_waiting()` goes down), the barrier is not broken, and it
//!    completes later with the parties that do come. (`tokio::sync::Barrier`, in the same scene,
//!    counts the dropped wait as an arrival and opens with a party missing.)
//! 2. **Loudly**: `barrier.wait().timeout(deadline)`. When the deadline passes, this party gets
//!    `Err(TimedOut)`, every other waiting party `Err(Broken)`, and the barrier stays broken
//!    (later waits fail at once) until `reset()`: the Python and Java rule.
//! 3. **A crashed worker**: a barrier built with `.timeout(d, tokio::time::sleep)` gives every
//!    wait a deadline, so the survivors of a worker that panics before arriving find out after
//!    `d` instead of hanging forever.
//!
//! Run with `cargo run --release --example timeouts` (add `-- --help` for the flags).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agnostic_barrier::{Barrier, WaitError};
use clap::Parser;

/// Giving up quietly (drop) or loudly (timeout), and a crashed worker.
#[derive(Parser)]
#[command(name = "timeouts")]
struct Args {
    /// how long the impatient parties wait, in ms
    #[arg(long = "patience-ms", value_name = "N", default_value = "50", value_parser = millis)]
    patience: Duration,
    /// the barrier's default timeout in scene 3, in ms
    #[arg(long = "default-ms", value_name = "N", default_value = "200", value_parser = millis)]
    default: Duration,
}

/// A number of milliseconds.
fn millis(text: &str) -> Result<Duration, std::num::ParseIntError> {
    text.parse().map(Duration::from_millis)
}

/// Prints with the milliseconds since `start`.
macro_rules! log {
    ($start:expr, $($arg:tt)*) => {
        println!("  [{:>4} ms] {}", $start.elapsed().as_millis(), format_args!($($arg)*))
    };
}

/// Records pass/fail of each check and prints it.
struct Checks(bool);

impl Checks {
    fn check(&mut self, pass: bool, what: &str) {
        println!("  [{}] {what}", if pass { "ok" } else { "FAILED" });
        self.0 &= pass;
    }
}

fn describe(result: &Result<agnostic_barrier::BarrierWaitResult, WaitError>) -> String {
    match result {
        Ok(passed) => format!(
            "Ok(index {}{})",
            passed.index(),
            if passed.is_leader() { ", leader" } else { "" }
        ),
        Err(error) => format!("Err({error:?}): {error}"),
    }
}

async fn quiet_withdrawal(patience: Duration, checks: &mut Checks) {
    println!("1. Quiet: a dropped wait withdraws its arrival (3 parties)");
    let start = Instant::now();
    let barrier = Arc::new(Barrier::new(3));

    let impatient = tokio::spawn({
        let barrier = barrier.clone();
        async move { tokio::time::timeout(patience, barrier.wait()).await }
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    let steady = tokio::spawn({
        let barrier = barrier.clone();
        async move { barrier.wait().await }
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    let before = barrier.n_waiting();
    log!(
        start,
        "impatient and steady are waiting: n_waiting() = {before}"
    );

    let gave_up = impatient.await.unwrap().is_err();
    let after = barrier.n_waiting();
    log!(
        start,
        "impatient gave up (tokio::time::timeout dropped its wait): n_waiting() = {after}, is_broken() = {}",
        barrier.is_broken()
    );
    checks.check(
        gave_up && before == 2 && after == 1 && !barrier.is_broken(),
        "the dropped wait was withdrawn and the barrier is not broken",
    );

    let late: Vec<_> = (0..2)
        .map(|_| {
            let barrier = barrier.clone();
            tokio::spawn(async move { barrier.wait().await })
        })
        .collect();
    let steady = steady.await.unwrap();
    let mut results = vec![steady];
    for task in late {
        results.push(task.await.unwrap());
    }
    log!(
        start,
        "two latecomers arrived; the barrier opened: steady {}, latecomers {} and {}",
        describe(&results[0]),
        describe(&results[1]),
        describe(&results[2])
    );
    if results[1..].iter().any(|r| r.is_ok_and(|p| p.index() == 0)) {
        log!(
            start,
            "(a latecomer took index 0, which impatient held and gave back when it withdrew)"
        );
    }
    let mut indices: Vec<usize> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|p| p.index()))
        .collect();
    indices.sort_unstable();
    checks.check(
        indices == [0, 1, 2],
        "it opened with 3 real parties, indices a permutation of 0..3",
    );

    // The same scene with tokio's barrier, for contrast.
    let tokio_barrier = Arc::new(tokio::sync::Barrier::new(3));
    let impatient = tokio::spawn({
        let barrier = tokio_barrier.clone();
        async move { tokio::time::timeout(patience, barrier.wait()).await }
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    let steady = tokio::spawn({
        let barrier = tokio_barrier.clone();
        async move { barrier.wait().await }
    });
    let _ = impatient.await;
    let one_latecomer = tokio::spawn({
        let barrier = tokio_barrier.clone();
        async move { barrier.wait().await }
    });
    let opened = tokio::time::timeout(Duration::from_millis(200), steady)
        .await
        .is_ok();
    log!(
        start,
        "tokio::sync::Barrier, same scene: {}",
        if opened {
            "opened with steady and ONE latecomer: the dropped wait counted as an arrival"
        } else {
            "did not open with one latecomer"
        }
    );
    one_latecomer.abort();
    println!();
}

async fn loud_timeout(patience: Duration, checks: &mut Checks) {
    println!("2. Loud: wait().timeout(deadline) breaks the barrier for everyone (3 parties)");
    let start = Instant::now();
    let barrier = Arc::new(Barrier::new(3));
    let steady = tokio::spawn({
        let barrier = barrier.clone();
        async move { barrier.wait().await }
    });
    let impatient = tokio::spawn({
        let barrier = barrier.clone();
        async move { barrier.wait().timeout(tokio::time::sleep(patience)).await }
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    log!(
        start,
        "steady and impatient are waiting: n_waiting() = {}",
        barrier.n_waiting()
    );
    let impatient = impatient.await.unwrap();
    let steady = steady.await.unwrap();
    log!(
        start,
        "impatient's deadline passed: {}",
        describe(&impatient)
    );
    log!(start, "steady was woken:           {}", describe(&steady));
    log!(start, "is_broken() = {}", barrier.is_broken());
    checks.check(
        impatient == Err(WaitError::TimedOut)
            && steady == Err(WaitError::Broken)
            && barrier.is_broken(),
        "TimedOut for the party whose deadline passed, Broken for the other",
    );

    let began = Instant::now();
    let late = barrier.wait().await;
    log!(
        start,
        "a latecomer gets {:?} at once (in {} us), n_waiting() = {}",
        late,
        began.elapsed().as_micros(),
        barrier.n_waiting()
    );
    checks.check(
        late == Err(WaitError::Broken) && barrier.n_waiting() == 0,
        "a broken barrier fails later waits at once, without arriving",
    );
    barrier.reset();
    log!(
        start,
        "reset(): is_broken() = {}, generation() = {}",
        barrier.is_broken(),
        barrier.generation()
    );
    checks.check(!barrier.is_broken(), "reset() repaired the barrier");
    println!();
}

async fn crashed_worker(default: Duration, checks: &mut Checks) {
    println!(
        "3. A crashed worker: Barrier::builder(3).timeout({} ms, tokio::time::sleep)",
        default.as_millis()
    );
    let start = Instant::now();
    let barrier = Arc::new(
        Barrier::builder(3)
            .timeout(default, tokio::time::sleep)
            .build(),
    );
    // Report the crash in one line instead of the default panic message.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        println!(
            "  [{:>4} ms] a worker panicked: {message}",
            start.elapsed().as_millis()
        );
    }));

    let workers: Vec<_> = (0..3)
        .map(|w| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let mut results = Vec::new();
                for round in 0..2 {
                    tokio::time::sleep(Duration::from_millis(10 * w)).await;
                    if w == 2 && round == 1 {
                        panic!("crashed before reaching the barrier in round 2");
                    }
                    let result = barrier.wait().await;
                    let failed = result.is_err();
                    results.push(result);
                    if failed {
                        break;
                    }
                }
                (results, start.elapsed())
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for (w, task) in workers.into_iter().enumerate() {
        match task.await {
            Ok((results, at)) => {
                let text: Vec<String> = results.iter().map(describe).collect();
                println!(
                    "  worker {w}: round 1 {}, round 2 {} (done at {} ms)",
                    text[0],
                    text.get(1).map_or("-", String::as_str),
                    at.as_millis()
                );
                outcomes.push(Some((results, at)));
            }
            Err(error) if error.is_panic() => {
                println!("  worker {w}: crashed (its task panicked)");
                outcomes.push(None);
            }
            Err(error) => panic!("worker {w}: {error}"),
        }
    }
    std::panic::set_hook(default_hook);

    let round_two: Vec<WaitError> = outcomes
        .iter()
        .flatten()
        .filter_map(|(results, _)| results.get(1).and_then(|r| r.err()))
        .collect();
    let round_one_ok = outcomes
        .iter()
        .flatten()
        .all(|(results, _)| results[0].is_ok());
    let timed_out = round_two.iter().filter(|e| e.is_timed_out()).count();
    let broken = round_two.iter().filter(|e| e.is_broken()).count();
    let latest = outcomes
        .iter()
        .flatten()
        .map(|(_, at)| *at)
        .max()
        .unwrap_or_default();
    log!(
        start,
        "survivors in round 2: {timed_out} TimedOut (its default timeout fired first), {broken} Broken; is_broken() = {}",
        barrier.is_broken()
    );
    checks.check(
        outcomes[2].is_none()
            && round_one_ok
            && timed_out == 1
            && broken == 1
            && barrier.is_broken()
            && latest < default * 5,
        "round 1 passed; in round 2 the default timeout freed both survivors",
    );
    println!();
}

#[tokio::main]
async fn main() -> ExitCode {
    let Args { patience, default } = Args::parse();
    let mut checks = Checks(true);
    quiet_withdrawal(patience, &mut checks).await;
    loud_timeout(patience, &mut checks).await;
    crashed_worker(default, &mut checks).await;
    if checks.0 {
        println!("OK: all checks passed");
        ExitCode::SUCCESS
    } else {
        println!("FAILED: see above");
        ExitCode::FAILURE
    }
}
