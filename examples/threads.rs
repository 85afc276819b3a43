//! OS threads and async tasks on one barrier: threads call `wait_blocking()`, tokio tasks
//! `wait().await`, and every generation releases both kinds together.
//!
//! Each party works a pseudo-random time before each wait, so the arrival order changes from
//! generation to generation. The program prints, per generation, who got which `index()` and
//! who was the leader, and checks that the indices are a permutation of `0..parties` and that
//! both kinds of party are in every generation. At the end, a thread's
//! `wait_blocking_timeout()` breaks the barrier for a waiting async task.
//!
//! Run with `cargo run --release --example threads` (add `-- --help` for the flags).

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agnostic_barrier::{Barrier, WaitError};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

/// OS threads (wait_blocking) and tokio tasks (wait().await) on one barrier.
#[derive(Parser)]
#[command(name = "threads")]
struct Config {
    /// OS threads
    #[arg(long, value_name = "N", default_value_t = 3)]
    threads: usize,
    /// tokio tasks
    #[arg(long, value_name = "N", default_value_t = 3)]
    tasks: usize,
    /// generations to pass
    #[arg(long, value_name = "N", default_value_t = 6)]
    rounds: usize,
}

fn parse_args() -> Config {
    let config = Config::parse();
    if config.threads == 0 || config.tasks == 0 {
        Config::command()
            .error(
                ErrorKind::ValueValidation,
                "need --threads >= 1 and --tasks >= 1",
            )
            .exit();
    }
    config
}

/// One party's pass through one generation.
#[derive(Clone, Debug)]
struct Pass {
    generation: u64,
    index: usize,
    leader: bool,
    name: String,
    thread: bool,
}

/// A pseudo-random work time for `party` in `round`, 0-9 ms.
fn work_time(party: usize, round: usize) -> Duration {
    let mut z = (party as u64 * 31 + round as u64 * 17 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z ^= z >> 29;
    Duration::from_micros(z % 10_000)
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = parse_args();
    let parties = config.threads + config.tasks;
    let barrier = Arc::new(Barrier::new(parties));
    let log = Arc::new(Mutex::new(Vec::<Pass>::new()));
    println!(
        "{} OS threads (wait_blocking) + {} tokio tasks (wait().await) on one barrier of {parties}, {} generations",
        config.threads, config.tasks, config.rounds
    );

    let threads: Vec<_> = (0..config.threads)
        .map(|t| {
            let (barrier, log, rounds) = (barrier.clone(), log.clone(), config.rounds);
            std::thread::spawn(move || {
                for round in 0..rounds {
                    std::thread::sleep(work_time(t, round));
                    let passed = barrier.wait_blocking().expect("nobody breaks this barrier");
                    log.lock().unwrap().push(Pass {
                        generation: passed.generation(),
                        index: passed.index(),
                        leader: passed.is_leader(),
                        name: format!("thread{t}"),
                        thread: true,
                    });
                }
            })
        })
        .collect();
    let tasks: Vec<_> = (0..config.tasks)
        .map(|k| {
            let (barrier, log, rounds) = (barrier.clone(), log.clone(), config.rounds);
            let party = config.threads + k;
            tokio::spawn(async move {
                for round in 0..rounds {
                    tokio::time::sleep(work_time(party, round)).await;
                    let passed = barrier.wait().await.expect("nobody breaks this barrier");
                    log.lock().unwrap().push(Pass {
                        generation: passed.generation(),
                        index: passed.index(),
                        leader: passed.is_leader(),
                        name: format!("task{k}"),
                        thread: false,
                    });
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task panicked");
    }
    // Joining blocks: do it off the async worker threads.
    tokio::task::spawn_blocking(move || {
        for thread in threads {
            thread.join().expect("thread panicked");
        }
    })
    .await
    .unwrap();

    let mut ok = true;
    let log = log.lock().unwrap().clone();
    println!();
    println!("gen  parties by index (0 = first to arrive)                 leader");
    for generation in 0..config.rounds as u64 {
        let mut passes: Vec<&Pass> = log.iter().filter(|p| p.generation == generation).collect();
        passes.sort_by_key(|p| p.index);
        let permutation = passes.iter().map(|p| p.index).eq(0..parties);
        let both = passes.iter().any(|p| p.thread) && passes.iter().any(|p| !p.thread);
        let leaders: Vec<&str> = passes
            .iter()
            .filter(|p| p.leader)
            .map(|p| p.name.as_str())
            .collect();
        let order: Vec<String> = passes
            .iter()
            .map(|p| format!("{}:{}", p.index, p.name))
            .collect();
        println!(
            "{generation:>3}  {:<56} {}{}",
            order.join(" "),
            leaders.join(","),
            if permutation && both && leaders.len() == 1 {
                ""
            } else {
                "   <- FAILED"
            }
        );
        ok &= permutation && both && leaders.len() == 1;
    }
    let thread_leads = log.iter().filter(|p| p.leader && p.thread).count();
    println!(
        "threads led {thread_leads} generation(s), tasks {}",
        config.rounds - thread_leads
    );

    // A blocking timeout breaks the barrier for an async waiter too.
    println!();
    let barrier = Arc::new(Barrier::new(3));
    let task = tokio::spawn({
        let barrier = barrier.clone();
        async move { barrier.wait().await }
    });
    let thread_result = tokio::task::spawn_blocking({
        let barrier = barrier.clone();
        move || barrier.wait_blocking_timeout(Duration::from_millis(50))
    })
    .await
    .unwrap();
    let task_result = task.await.unwrap();
    println!(
        "barrier of 3, a task and a thread wait, nobody else comes: thread's wait_blocking_timeout(50 ms) -> {thread_result:?}, task -> {task_result:?}"
    );
    ok &= thread_result == Err(WaitError::TimedOut) && task_result == Err(WaitError::Broken);

    if ok {
        println!("OK: every generation had threads and tasks, indices a permutation of 0..{parties}, one leader");
        ExitCode::SUCCESS
    } else {
        println!("FAILED: see above");
        ExitCode::FAILURE
    }
}
