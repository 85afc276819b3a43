//! Coordinated start-up: worker tasks each load one shard of a shared cache at their own speed,
//! and the barrier makes sure none of them serves a request before every shard is loaded.
//!
//! Attempt 1: one worker's shard fails to load. It calls `abort()`; the workers already waiting
//! at the barrier are woken with `Err(Broken)`, the ones still loading get `Err(Broken)` as soon
//! as they reach it, and nobody serves from a half-loaded cache. The supervisor clears the cache
//! and calls `reset()`, which makes the same barrier usable again.
//!
//! Attempt 2: every shard loads; the workers pass the barrier together and serve lookups that
//! touch every shard.
//!
//! Run with `cargo run --release --example init_coordination` (add `-- --help` for the flags).

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agnostic_barrier::{Barrier, WaitError};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

/// Workers load a shared cache, abort() on failure, reset() and retry.
#[derive(Parser)]
#[command(name = "init_coordination")]
struct Config {
    /// worker tasks, one cache shard each
    #[arg(long, value_name = "N", default_value_t = 4)]
    workers: usize,
    /// the worker whose first load fails
    #[arg(long, value_name = "N", default_value_t = 2)]
    failing: usize,
    /// entries per shard
    #[arg(long, value_name = "N", default_value_t = 1000)]
    entries: usize,
    /// lookups each worker serves once started
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    lookups: usize,
}

fn parse_args() -> Config {
    let config = Config::parse();
    if config.workers < 2 || config.failing >= config.workers || config.entries == 0 {
        Config::command()
            .error(
                ErrorKind::ValueValidation,
                "need --workers >= 2, --failing < --workers and --entries >= 1",
            )
            .exit();
    }
    config
}

/// The shared resource: one shard per worker, `None` until loaded.
type Cache = Vec<Mutex<Option<HashMap<u64, u64>>>>;

struct Shared {
    config: Config,
    barrier: Barrier,
    cache: Cache,
    /// Lookups served, to prove nobody served during the failed attempt.
    served: AtomicUsize,
    started: Instant,
}

impl Shared {
    fn log(&self, message: std::fmt::Arguments<'_>) {
        println!("[{:>4} ms] {message}", self.started.elapsed().as_millis());
    }
}

/// How long worker `w`'s shard takes to load: each one at its own speed.
fn load_time(w: usize) -> Duration {
    Duration::from_millis(15 + 30 * w as u64)
}

/// Loads shard `w` (the database here is a formula: key k maps to k * k).
async fn load_shard(shared: &Shared, w: usize, fail: bool) -> Result<(), String> {
    let time = load_time(w);
    if fail {
        // Fail half-way through, while some workers are already waiting at the barrier.
        tokio::time::sleep(time / 2).await;
        return Err("connection to the shard's database was reset".into());
    }
    tokio::time::sleep(time).await;
    let entries = shared.config.entries as u64;
    let shard: HashMap<u64, u64> = (0..entries)
        .map(|i| {
            let key = i * shared.config.workers as u64 + w as u64;
            (key, key * key)
        })
        .collect();
    *shared.cache[w].lock().unwrap() = Some(shard);
    Ok(())
}

/// What a worker did in one attempt.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Its load failed and it aborted the barrier.
    LoadFailed,
    /// Its shard loaded but the barrier was broken: it did not serve.
    Broken,
    /// It passed the barrier and served this many lookups.
    Served(usize),
}

async fn worker(shared: Arc<Shared>, w: usize, fail: bool) -> Outcome {
    if let Err(error) = load_shard(&shared, w, fail).await {
        let waiting = shared.barrier.n_waiting();
        shared.barrier.abort();
        shared.log(format_args!(
            "worker {w}: loading shard {w} failed ({error}); abort() with {waiting} worker(s) waiting"
        ));
        return Outcome::LoadFailed;
    }
    shared.log(format_args!(
        "worker {w}: shard {w} loaded, waiting for the others ({} already waiting)",
        shared.barrier.n_waiting()
    ));
    match shared.barrier.wait().await {
        Ok(passed) => {
            if passed.is_leader() {
                shared.log(format_args!(
                    "worker {w}: last one in: every shard is loaded, all {} workers start serving",
                    shared.config.workers
                ));
            }
        }
        Err(WaitError::Broken) => {
            shared.log(format_args!(
                "worker {w}: barrier is broken: not serving from a half-loaded cache"
            ));
            return Outcome::Broken;
        }
        Err(other) => {
            shared.log(format_args!("worker {w}: unexpected {other}"));
            return Outcome::Broken;
        }
    }
    // Serve: each lookup may hit any shard, which is why every shard had to be loaded first.
    let workers = shared.config.workers as u64;
    let keys = shared.config.entries as u64 * workers;
    let mut served = 0;
    for i in 0..shared.config.lookups as u64 {
        let key = (i * 7919 + w as u64 * 104_729) % keys;
        let shard = shared.cache[(key % workers) as usize].lock().unwrap();
        let value = shard
            .as_ref()
            .expect("served before the shard was loaded")
            .get(&key)
            .copied();
        assert_eq!(value, Some(key * key), "wrong value for key {key}");
        served += 1;
    }
    shared.served.fetch_add(served, Ordering::Relaxed);
    Outcome::Served(served)
}

async fn attempt(shared: &Arc<Shared>, number: usize, failing: Option<usize>) -> Vec<Outcome> {
    shared.log(format_args!(
        "--- attempt {number}: {} workers load their shards (barrier generation {}, broken: {}) ---",
        shared.config.workers,
        shared.barrier.generation(),
        shared.barrier.is_broken()
    ));
    let tasks: Vec<_> = (0..shared.config.workers)
        .map(|w| tokio::spawn(worker(shared.clone(), w, Some(w) == failing)))
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("worker panicked"));
    }
    outcomes
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = parse_args();
    let failing = config.failing;
    let shared = Arc::new(Shared {
        barrier: Barrier::new(config.workers),
        cache: (0..config.workers).map(|_| Mutex::new(None)).collect(),
        served: AtomicUsize::new(0),
        started: Instant::now(),
        config,
    });
    let mut ok = true;

    let first = attempt(&shared, 1, Some(failing)).await;
    let served_first = shared.served.load(Ordering::Relaxed);
    let broken = first.iter().filter(|o| **o == Outcome::Broken).count();
    shared.log(format_args!(
        "supervisor: attempt 1 failed: {broken} worker(s) stopped with Broken, 1 load failed, {served_first} lookups served; barrier is_broken() = {}",
        shared.barrier.is_broken()
    ));
    ok &= first[failing] == Outcome::LoadFailed
        && broken == shared.config.workers - 1
        && served_first == 0
        && shared.barrier.is_broken();

    // Recover: throw away the partial cache, then make the barrier usable again.
    for shard in &shared.cache {
        *shard.lock().unwrap() = None;
    }
    shared.barrier.reset();
    shared.log(format_args!(
        "supervisor: cleared the cache and called reset(): is_broken() = {}, n_waiting() = {}, generation() = {}",
        shared.barrier.is_broken(),
        shared.barrier.n_waiting(),
        shared.barrier.generation()
    ));
    ok &= !shared.barrier.is_broken();

    let second = attempt(&shared, 2, None).await;
    let served: Vec<usize> = second
        .iter()
        .filter_map(|o| match o {
            Outcome::Served(n) => Some(*n),
            _ => None,
        })
        .collect();
    shared.log(format_args!(
        "supervisor: attempt 2: {} of {} workers serving, {} lookups answered from the complete cache",
        served.len(),
        shared.config.workers,
        served.iter().sum::<usize>()
    ));
    ok &= served.len() == shared.config.workers;

    if ok {
        println!("OK: nobody served from a half-loaded cache; abort() stopped attempt 1, reset() allowed attempt 2");
        ExitCode::SUCCESS
    } else {
        println!("FAILED: attempt 1 {first:?}, attempt 2 {second:?}");
        ExitCode::FAILURE
    }
}
