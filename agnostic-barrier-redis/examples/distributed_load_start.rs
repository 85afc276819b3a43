//! Distributed load-test start: K load-generator *processes*, each with M clients, fire their
//! first request at one instant because they meet at a barrier kept in Redis first.
//!
//! The program starts its own `redis-server` on loopback (or uses `--redis URL`) and a small
//! line-based TCP server on loopback that notes when each connection's first request arrives.
//! It then runs K party processes (itself, re-executed) twice:
//!
//! - **without the barrier**: each client connects, prepares (a random 0-20 ms delay standing in
//!   for a TLS handshake or warm-up) and fires as soon as it is ready;
//! - **with the barrier**: the same, but every client waits at a `RedisBarrier` of K x M parties
//!   (one handle per process, M waits on it) before its first request.
//!
//! It prints the cross-process spread of the first-request send times (each process stamps them
//! with the system clock, shared on one host) and of the server's arrival times, for both runs.
//!
//! With `--kill-one`, one client of process 0 never gets ready, and the parent SIGKILLs process
//! 0 once everyone else waits: its lease lapses, the barrier breaks with `PartyLost` naming it,
//! and every other client in every process is released with that error instead of hanging.
//!
//! Run with `cargo run --release -p agnostic-barrier-redis --example distributed_load_start`
//! (add `-- --help` for the flags, e.g. `-- --processes 8 --clients 50`, `-- --kill-one` or
//! `-- --redis redis://host:6379/`). It needs `redis-server` on the PATH unless `--redis` is
//! given.

#[path = "../tests/common/server.rs"]
mod server;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use agnostic_barrier_redis::{BreakReason, RedisBarrier};
use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::{TcpListener, TcpStream};

/// K party processes x M clients fire their first request together, across processes.
#[derive(Parser, Clone, Debug)]
#[command(name = "distributed_load_start")]
struct Args {
    /// Party processes.
    #[arg(long, default_value_t = 4)]
    processes: usize,
    /// Clients per process (each one a party of the barrier).
    #[arg(long, default_value_t = 25)]
    clients: usize,
    /// Requests per client.
    #[arg(long, default_value_t = 3)]
    requests: usize,
    /// Maximum random prepare delay per client, in ms.
    #[arg(long, default_value_t = 20)]
    prepare_ms: u64,
    /// Lease of each process's arrivals, in ms (a killed process is found lost within it).
    #[arg(long, default_value_t = 1000)]
    lease_ms: u64,
    /// Barrier timeout per client, in ms.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Use this Redis (e.g. redis://127.0.0.1:6379/) instead of starting a redis-server.
    #[arg(long)]
    redis: Option<String>,
    /// Kill process 0 while the others wait, to show them released with `PartyLost`.
    #[arg(long)]
    kill_one: bool,
    /// Internal: run as party process N.
    #[arg(long, hide = true)]
    party: Option<usize>,
    /// Internal: the load target's address.
    #[arg(long, hide = true)]
    target: Option<String>,
    /// Internal: the barrier's name (absent: no barrier).
    #[arg(long, hide = true)]
    barrier: Option<String>,
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

// ---------------------------------------------------------------------------------------------
// The load target: one line in, one line out; notes each connection's first request.

fn start_target() -> (String, Arc<Mutex<Vec<u128>>>) {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let seen = arrivals.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().to_string()).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let (reader, mut writer) = stream.into_split();
                    let mut lines = AsyncBufReader::new(reader).lines();
                    let mut first = true;
                    while let Ok(Some(line)) = lines.next_line().await {
                        if first {
                            seen.lock().unwrap().push(unix_ns());
                            first = false;
                        }
                        if writer
                            .write_all(format!("OK {line}\n").as_bytes())
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                });
            }
        });
    });
    (rx.recv().unwrap(), arrivals)
}

// ---------------------------------------------------------------------------------------------
// A party process: M clients, one barrier handle.

async fn party(args: Args, index: usize) -> Result<(), Box<dyn std::error::Error>> {
    let target = args.target.clone().unwrap();
    let barrier = match (&args.barrier, &args.redis) {
        (Some(name), Some(url)) => Some(Arc::new(
            RedisBarrier::builder(name.as_str(), args.processes * args.clients)
                .party(format!("process-{index}"))
                .lease(Duration::from_millis(args.lease_ms))
                .connect(redis::Client::open(url.as_str())?)
                .await?,
        )),
        _ => None,
    };
    let mut tasks = Vec::new();
    for client in 0..args.clients {
        let (barrier, target, args) = (barrier.clone(), target.clone(), args.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(&target).await?;
            stream.set_nodelay(true)?;
            // "Prepare": a pseudo-random delay, different in each process and client.
            let seed = (index * 7919 + client * 104_729) as u64;
            tokio::time::sleep(Duration::from_millis(seed % (args.prepare_ms + 1))).await;
            if args.kill_one && index == 0 && client == 0 {
                // This client never gets ready; the parent kills the process.
                std::future::pending::<()>().await;
            }
            if let Some(barrier) = &barrier {
                let deadline = tokio::time::sleep(Duration::from_millis(args.timeout_ms));
                if let Err(error) = barrier.wait().timeout(deadline).await {
                    let by = error
                        .broken()
                        .and_then(|b| b.by())
                        .unwrap_or("-")
                        .to_owned();
                    let reason = error.broken().map(|b| b.reason());
                    println!("@@ failed {} {reason:?} {by} {error}", unix_ns());
                    return Ok::<_, std::io::Error>(());
                }
            }
            let (reader, mut writer) = stream.split();
            let mut lines = AsyncBufReader::new(reader).lines();
            for request in 0..args.requests {
                let sent = unix_ns();
                writer
                    .write_all(format!("req {request}\n").as_bytes())
                    .await?;
                if request == 0 {
                    println!("@@ sent {sent}");
                }
                lines.next_line().await?;
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    if let Some(barrier) = barrier {
        if let Ok(barrier) = Arc::try_unwrap(barrier) {
            barrier.close().await?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The parent: spawns the processes, gathers their lines, prints the spreads.

struct Run {
    sent: Vec<u128>,
    failed: Vec<(u128, String)>,
    arrivals: Vec<u128>,
}

fn spawn_parties(args: &Args, target: &str, barrier: Option<&str>) -> Vec<Child> {
    (0..args.processes)
        .map(|index| {
            let mut command = Command::new(std::env::current_exe().unwrap());
            command
                .args(["--party", &index.to_string(), "--target", target])
                .args(["--processes", &args.processes.to_string()])
                .args(["--clients", &args.clients.to_string()])
                .args(["--requests", &args.requests.to_string()])
                .args(["--prepare-ms", &args.prepare_ms.to_string()])
                .args(["--lease-ms", &args.lease_ms.to_string()])
                .args(["--timeout-ms", &args.timeout_ms.to_string()])
                .args(["--redis", args.redis.as_deref().unwrap()])
                .stdout(Stdio::piped());
            if let Some(name) = barrier {
                command.args(["--barrier", name]);
            }
            if args.kill_one {
                command.arg("--kill-one");
            }
            command.spawn().expect("spawn a party process")
        })
        .collect()
}

fn gather(children: &mut [Child], arrivals: &Arc<Mutex<Vec<u128>>>) -> Run {
    let readers: Vec<_> = children
        .iter_mut()
        .map(|child| {
            let stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                BufReader::new(stdout)
                    .lines()
                    .map_while(Result::ok)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut run = Run {
        sent: Vec::new(),
        failed: Vec::new(),
        arrivals: Vec::new(),
    };
    for reader in readers {
        for line in reader.join().unwrap() {
            let mut words = line.splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("@@"), Some("sent"), Some(t)) => run.sent.push(t.parse().unwrap()),
                (Some("@@"), Some("failed"), Some(rest)) => {
                    let (t, what) = rest.split_once(' ').unwrap();
                    run.failed.push((t.parse().unwrap(), what.to_owned()));
                }
                _ => {}
            }
        }
    }
    for child in children.iter_mut() {
        let _ = child.wait();
    }
    run.arrivals = std::mem::take(&mut *arrivals.lock().unwrap());
    run
}

/// Microsecond offsets after the earliest, sorted.
fn spread_us(times: &[u128]) -> Vec<u64> {
    let first = times.iter().copied().min().unwrap_or(0);
    let mut out: Vec<u64> = times.iter().map(|t| ((t - first) / 1000) as u64).collect();
    out.sort_unstable();
    out
}

fn row(name: &str, sorted: &[u64]) {
    let p = |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    if sorted.is_empty() {
        return println!("  {name:<34} (no data)");
    }
    println!(
        "  {name:<34} {:>8} {:>8} {:>8} {:>8}",
        p(0.5),
        p(0.9),
        p(0.99),
        sorted[sorted.len() - 1]
    );
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    if let Some(index) = args.party {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        return match rt.block_on(party(args, index)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("party {index}: {error}");
                ExitCode::FAILURE
            }
        };
    }
    // Our own redis-server unless --redis; killed when `_server` drops.
    let _server = match &args.redis {
        Some(_) => None,
        None => match server::RedisServer::start(server::Listen::Tcp, &[]) {
            Some(server) => {
                args.redis = Some(server.url());
                Some(server)
            }
            None => return ExitCode::FAILURE,
        },
    };
    let (target, arrivals) = start_target();
    let total = args.processes * args.clients;
    println!(
        "{} processes x {} clients = {total} parties; redis {}; load target {target}",
        args.processes,
        args.clients,
        args.redis.as_deref().unwrap()
    );
    let name = format!("distributed_load_start/{}", unix_ns());
    if args.kill_one {
        return kill_one(&args, &target, &name, &arrivals);
    }
    let mut children = spawn_parties(&args, &target, None);
    let plain = gather(&mut children, &arrivals);
    let mut children = spawn_parties(&args, &target, Some(&name));
    let with = gather(&mut children, &arrivals);
    for (label, run) in [("without barrier", &plain), ("with barrier", &with)] {
        if run.sent.len() != total || !run.failed.is_empty() {
            println!(
                "FAILED {label}: {} of {total} clients fired, {} failed: {:?}",
                run.sent.len(),
                run.failed.len(),
                run.failed.first()
            );
            return ExitCode::FAILURE;
        }
    }
    println!("\nfirst-request spread across processes, microseconds after the earliest:");
    println!(
        "  {:<34} {:>8} {:>8} {:>8} {:>8}",
        "", "p50", "p90", "p99", "max"
    );
    row("client sends, no barrier", &spread_us(&plain.sent));
    row("client sends, Redis barrier", &spread_us(&with.sent));
    row("server arrivals, no barrier", &spread_us(&plain.arrivals));
    row("server arrivals, Redis barrier", &spread_us(&with.arrivals));
    ExitCode::SUCCESS
}

/// `--kill-one`: process 0 is killed while everyone else waits; they must all be released with
/// `PartyLost` naming it, within one lease plus one renewal interval (plus scheduling).
fn kill_one(args: &Args, target: &str, name: &str, arrivals: &Arc<Mutex<Vec<u128>>>) -> ExitCode {
    let total = args.processes * args.clients;
    let mut children = spawn_parties(args, target, Some(name));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let observer = rt.block_on(async {
        RedisBarrier::builder(name, total)
            .party("observer")
            .connect(redis::Client::open(args.redis.as_deref().unwrap()).unwrap())
            .await
    });
    let Ok(observer) = observer else {
        println!("FAILED: could not connect: {observer:?}");
        return ExitCode::FAILURE;
    };
    let start = Instant::now();
    while rt.block_on(observer.n_waiting()).unwrap_or(0) < total - 1 {
        if start.elapsed() > Duration::from_secs(30) {
            println!("FAILED: the clients did not all arrive");
            return ExitCode::FAILURE;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed_at = unix_ns();
    let _ = children[0].kill();
    println!(
        "killed process 0 (pid {}) while {} clients waited",
        children[0].id(),
        total - 1
    );
    let run = gather(&mut children, arrivals);
    let lease = Duration::from_millis(args.lease_ms);
    let expected = total - args.clients; // process 0's clients died with it
    let lost: Vec<_> = run
        .failed
        .iter()
        .filter(|(_, what)| {
            what.starts_with(&format!("Some({:?}) process-0 ", BreakReason::PartyLost))
        })
        .collect();
    let latest = run
        .failed
        .iter()
        .map(|(t, _)| *t)
        .max()
        .unwrap_or(killed_at);
    let after = Duration::from_nanos((latest.saturating_sub(killed_at)) as u64);
    println!(
        "{} of {expected} clients in the other processes were released with an error, the last {:.0} ms after the kill (lease {} ms, renewal every {} ms):",
        run.failed.len(),
        after.as_secs_f64() * 1e3,
        lease.as_millis(),
        (lease / 3).as_millis()
    );
    if let Some((_, what)) = run.failed.first() {
        println!("  e.g. {}", what.splitn(3, ' ').nth(2).unwrap_or(what));
    }
    if lost.len() != expected || !run.sent.is_empty() {
        println!("FAILED: expected {expected} PartyLost errors naming process-0 and no request");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
