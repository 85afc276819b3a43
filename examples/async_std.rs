//! The same barrier on async-std: tasks spawned with `async_std::task::spawn`, an action, and
//! `async_std::task::sleep` as the timer of the barrier's default timeout.
//!
//! Five workers run a few phases at different speeds and meet at the barrier after each one;
//! the action reports each phase. Then one worker stops coming, and the default timeout (made
//! by async-std's timer, no tokio anywhere) breaks the barrier instead of leaving the others
//! waiting forever. Nothing in the barrier code is specific to the executor.
//!
//! Run with `cargo run --release --example async_std` (add `-- --help` for the flags).

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agnostic_barrier::{Barrier, WaitError};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

/// The barrier on async-std, with async-std's timer for the default timeout.
#[derive(Parser)]
#[command(name = "async_std")]
struct Config {
    /// worker tasks
    #[arg(long, value_name = "N", default_value_t = 5)]
    workers: usize,
    /// phases every worker completes
    #[arg(long, value_name = "N", default_value_t = 4)]
    phases: usize,
    /// the barrier's default timeout, in ms
    #[arg(long = "timeout-ms", value_name = "N", default_value = "300", value_parser = millis)]
    timeout: Duration,
}

/// A number of milliseconds.
fn millis(text: &str) -> Result<Duration, std::num::ParseIntError> {
    text.parse().map(Duration::from_millis)
}

fn parse_args() -> Config {
    let config = Config::parse();
    if config.workers < 2 {
        Config::command()
            .error(ErrorKind::ValueValidation, "need --workers >= 2")
            .exit();
    }
    config
}

/// How long worker `w` works in `phase`: each worker at its own pace, varying by phase.
fn work_time(w: usize, phase: usize) -> Duration {
    Duration::from_millis(((w * 7 + phase * 13) % 40) as u64 + 5)
}

#[async_std::main]
async fn main() -> ExitCode {
    let config = parse_args();
    let start = Instant::now();
    let phases_done = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(
        Barrier::builder(config.workers)
            .action({
                let phases_done = phases_done.clone();
                move || {
                    let phase = phases_done.fetch_add(1, Ordering::Relaxed) + 1;
                    println!(
                        "  [{:>4} ms] action: phase {phase} complete, releasing everyone",
                        start.elapsed().as_millis()
                    );
                }
            })
            .timeout(config.timeout, async_std::task::sleep)
            .build(),
    );
    println!(
        "{} async-std tasks, {} phases; default timeout {} ms (async_std::task::sleep)",
        config.workers,
        config.phases,
        config.timeout.as_millis()
    );

    // The worker that stops coming after the last phase.
    let quitter = config.workers - 1;
    let tasks: Vec<_> = (0..config.workers)
        .map(|w| {
            let barrier = barrier.clone();
            let phases = config.phases;
            async_std::task::spawn(async move {
                let mut last_arrivals = 0;
                for phase in 0..phases {
                    async_std::task::sleep(work_time(w, phase)).await;
                    let passed = barrier.wait().await?;
                    if passed.is_leader() {
                        last_arrivals += 1;
                    }
                }
                if w == quitter {
                    // This worker is done for good: it never arrives again.
                    return Ok::<_, WaitError>((w, last_arrivals, None));
                }
                let waited = Instant::now();
                let error = barrier.wait().await.err();
                Ok((w, last_arrivals, error.map(|e| (e, waited.elapsed()))))
            })
        })
        .collect();

    let mut ok = true;
    let mut extra_round = Vec::new();
    for task in tasks {
        match task.await {
            Ok((w, last, error)) => {
                if let Some((error, after)) = error {
                    extra_round.push(error);
                    println!(
                        "  worker {w}: passed {} phases (last to arrive {last} time(s)); extra phase: {:?} after {} ms",
                        config.phases,
                        error,
                        after.as_millis()
                    );
                } else if w == quitter {
                    println!(
                        "  worker {w}: passed {} phases (last to arrive {last} time(s)); then quit",
                        config.phases
                    );
                } else {
                    println!("  worker {w}: the extra phase passed without the quitter?!");
                    ok = false;
                }
            }
            Err(error) => {
                println!("  a worker failed during the phases: {error}");
                ok = false;
            }
        }
    }
    let timed_out = extra_round.iter().filter(|e| e.is_timed_out()).count();
    let broken = extra_round.iter().filter(|e| e.is_broken()).count();
    println!(
        "extra phase without worker {quitter}: {timed_out} TimedOut, {broken} Broken; is_broken() = {}",
        barrier.is_broken()
    );
    ok &= phases_done.load(Ordering::Relaxed) == config.phases
        && timed_out == 1
        && timed_out + broken == config.workers - 1
        && barrier.is_broken();
    if ok {
        println!(
            "OK: {} phases on async-std, and the default timeout freed the others from the missing worker",
            config.phases
        );
        ExitCode::SUCCESS
    } else {
        println!("FAILED");
        ExitCode::FAILURE
    }
}
