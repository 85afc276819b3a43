//! Load-test start: N clients connect and prepare at their own pace, then fire their first
//! request at the same instant because they meet at a barrier first.
//!
//! The program starts a small line-based TCP server on loopback (its own thread and tokio
//! runtime), then runs N async clients twice:
//!
//! - **without the barrier**: each client connects, prepares (a random 0-20 ms delay standing in
//!   for a TLS handshake or warm-up) and fires as soon as it is ready;
//! - **with the barrier**: the same, but every client waits at the barrier
//!   (`barrier.wait().timeout(tokio::time::sleep(timeout))`) before its first request.
//!
//! It prints, for both runs side by side, the spread of the clients' first-request send times
//! and of the server's first-request arrival times (microseconds after the earliest one), as
//! percentiles and as 10-bucket text histograms.
//!
//! With `--fail-one`, one client connects to a closed port, calls `abort()`, and the others
//! stop with `Err(Broken)` at once instead of hanging until the timeout; the program reports it.
//!
//! Run with `cargo run --release --example load_start` (add `-- --help` for the flags, e.g.
//! `-- --clients 1000 --requests 5` or `-- --fail-one`).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agnostic_barrier::{Barrier, WaitError};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// N clients fire their first request together thanks to a barrier.
#[derive(Parser, Clone, Debug)]
#[command(name = "load_start")]
struct Config {
    /// number of clients (at least 2)
    #[arg(long, value_name = "N", default_value_t = 200)]
    clients: usize,
    /// requests per client (at least 1)
    #[arg(long, value_name = "N", default_value_t = 3)]
    requests: usize,
    /// barrier timeout per client, in ms
    #[arg(long = "timeout-ms", value_name = "N", default_value = "5000", value_parser = millis)]
    timeout: Duration,
    /// maximum random prepare delay per client, in ms
    #[arg(long = "prepare-ms", value_name = "N", default_value = "20", value_parser = millis)]
    max_prepare: Duration,
    /// seed of the prepare delays
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// client runtime worker threads (default: cores - 1, at least 1; the server runs on a
    /// thread of its own)
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    #[arg(default_value_t = default_workers(), hide_default_value = true)]
    workers: usize,
    /// make one client fail to connect, to show abort()
    #[arg(long)]
    fail_one: bool,
}

/// A number of milliseconds.
fn millis(text: &str) -> Result<Duration, std::num::ParseIntError> {
    text.parse().map(Duration::from_millis)
}

/// A count where 0 counts as 1.
fn at_least_one(text: &str) -> Result<usize, std::num::ParseIntError> {
    text.parse().map(|n: usize| n.max(1))
}

/// The default `--workers`: a core for the server, the others for the clients.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

fn parse_args() -> Config {
    let config = Config::parse();
    if config.clients < 2 || config.requests == 0 {
        Config::command()
            .error(
                ErrorKind::ValueValidation,
                "need --clients >= 2 and --requests >= 1",
            )
            .exit();
    }
    config
}

// ---------------------------------------------------------------------------------------------
// The server: one line in, one line out; it notes when each connection's first request arrives.

struct Server {
    addr: SocketAddr,
    /// When each connection's first request arrived.
    arrivals: Arc<Mutex<Vec<Instant>>>,
    requests: Arc<AtomicUsize>,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Server {
    /// Binds on loopback and serves on a thread of its own, so that its timestamps do not wait
    /// for the clients' runtime.
    fn start() -> std::io::Result<Server> {
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound, bound_rx) = std::sync::mpsc::channel();
        let (arrivals2, requests2) = (arrivals.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("server runtime");
            runtime.block_on(async move {
                // A deep accept queue: with std's default of 128, a burst of connects overflows
                // it and the excess clients retry their SYN a second later.
                let listener = tokio::net::TcpSocket::new_v4().and_then(|socket| {
                    socket.bind("127.0.0.1:0".parse().unwrap())?;
                    socket.listen(4096)
                });
                let listener = match listener.and_then(|l| Ok((l.local_addr()?, l))) {
                    Ok((addr, listener)) => {
                        let _ = bound.send(Ok(addr));
                        listener
                    }
                    Err(error) => {
                        let _ = bound.send(Err(error));
                        return;
                    }
                };
                tokio::select! {
                    _ = stopped => {}
                    _ = accept_loop(listener, arrivals2, requests2) => {}
                }
            });
        });
        let addr = bound_rx.recv().expect("server thread died")?;
        Ok(Server {
            addr,
            arrivals,
            requests,
            stop,
            thread,
        })
    }

    /// Stops the server; returns the first-request arrival times and the number of requests.
    fn stop(self) -> (Vec<Instant>, usize) {
        let _ = self.stop.send(());
        self.thread.join().expect("server thread panicked");
        let arrivals = std::mem::take(&mut *self.arrivals.lock().unwrap());
        (arrivals, self.requests.load(Ordering::Relaxed))
    }
}

async fn accept_loop(
    listener: TcpListener,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    requests: Arc<AtomicUsize>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (arrivals, requests) = (arrivals.clone(), requests.clone());
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let (reader, mut writer) = stream.into_split();
            let mut lines = BufReader::new(reader).lines();
            let mut first = true;
            while let Ok(Some(line)) = lines.next_line().await {
                if first {
                    arrivals.lock().unwrap().push(Instant::now());
                    first = false;
                }
                requests.fetch_add(1, Ordering::Relaxed);
                let reply = format!("OK {line}\n");
                if writer.write_all(reply.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The clients.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    NoBarrier,
    Barrier,
}

#[derive(Debug)]
enum Outcome {
    /// All requests answered; the first was sent at this instant.
    Done { first_sent: Instant },
    /// The connection failed; the client aborted the barrier.
    ConnectFailed(String),
    /// The barrier wait failed (`Broken` or `TimedOut`).
    Barrier(WaitError),
    /// A request failed after connecting.
    Io(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Done { .. } => f.write_str("done"),
            Outcome::ConnectFailed(error) => write!(f, "connect failed: {error}"),
            Outcome::Barrier(error) => write!(f, "barrier wait failed: {error} ({error:?})"),
            Outcome::Io(error) => write!(f, "request failed: {error}"),
        }
    }
}

#[derive(Default)]
struct Progress {
    connected: AtomicUsize,
    ready: AtomicUsize,
    finished: AtomicUsize,
}

/// A client's prepare delay: a fixed pseudo-random function of the seed and the client id
/// (splitmix64), so both runs see the same delays.
fn prepare_delay(config: &Config, id: usize) -> Duration {
    let mut z = config
        .seed
        .wrapping_add((id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let max_us = config.max_prepare.as_micros() as u64;
    Duration::from_micros(if max_us == 0 { 0 } else { z % (max_us + 1) })
}

struct Shared {
    config: Config,
    mode: Mode,
    server: SocketAddr,
    closed_port: SocketAddr,
    barrier: Barrier,
    progress: Progress,
    /// When the failing client aborted, and how many clients were waiting at the barrier then.
    abort: Mutex<Option<(Instant, usize)>>,
}

async fn client(id: usize, shared: Arc<Shared>) -> Outcome {
    let config = &shared.config;
    let failing = config.fail_one && id == config.clients / 2;
    let target = if failing {
        // Connect late, when most clients are already waiting at the barrier.
        tokio::time::sleep(config.max_prepare / 2).await;
        shared.closed_port
    } else {
        shared.server
    };
    let stream = match TcpStream::connect(target).await {
        Ok(stream) => stream,
        Err(error) => {
            if shared.mode == Mode::Barrier {
                let waiting = shared.barrier.n_waiting();
                shared.barrier.abort();
                *shared.abort.lock().unwrap() = Some((Instant::now(), waiting));
            }
            return Outcome::ConnectFailed(error.to_string());
        }
    };
    let _ = stream.set_nodelay(true);
    shared.progress.connected.fetch_add(1, Ordering::Relaxed);

    // Prepare: stands in for a TLS handshake, authentication, warming a cache... Everything a
    // request needs is ready before the barrier, so the first send follows it at once.
    tokio::time::sleep(prepare_delay(config, id)).await;
    let requests: Vec<String> = (0..config.requests)
        .map(|seq| format!("GET /item/{id}/{seq}\n"))
        .collect();
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    shared.progress.ready.fetch_add(1, Ordering::Relaxed);

    if shared.mode == Mode::Barrier {
        // A stuck or crashed client cannot hang the others: after `timeout` the barrier breaks.
        let waited = shared
            .barrier
            .wait()
            .timeout(tokio::time::sleep(config.timeout))
            .await;
        if let Err(error) = waited {
            return Outcome::Barrier(error);
        }
    }

    let first_sent = Instant::now();
    for request in &requests {
        if let Err(error) = writer.write_all(request.as_bytes()).await {
            return Outcome::Io(error.to_string());
        }
        match lines.next_line().await {
            Ok(Some(_reply)) => {}
            Ok(None) => return Outcome::Io("server closed the connection".into()),
            Err(error) => return Outcome::Io(error.to_string()),
        }
    }
    shared.progress.finished.fetch_add(1, Ordering::Relaxed);
    Outcome::Done { first_sent }
}

struct RunResult {
    outcomes: Vec<Outcome>,
    arrivals: Vec<Instant>,
    requests: usize,
    elapsed: Duration,
    abort: Option<(Instant, usize)>,
    last_finished: Instant,
}

async fn run(config: &Config, mode: Mode) -> std::io::Result<RunResult> {
    let server = Server::start()?;
    // A port nobody listens on: bind one, note it, close it.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let shared = Arc::new(Shared {
        config: config.clone(),
        mode,
        server: server.addr,
        closed_port,
        barrier: Barrier::new(config.clients),
        progress: Progress::default(),
        abort: Mutex::new(None),
    });

    let started = Instant::now();
    let tasks: Vec<_> = (0..config.clients)
        .map(|id| {
            let shared = shared.clone();
            tokio::spawn(async move {
                let outcome = client(id, shared).await;
                (outcome, Instant::now())
            })
        })
        .collect();

    let label = match mode {
        Mode::NoBarrier => "without barrier",
        Mode::Barrier => "with barrier",
    };
    let show_progress = std::io::stderr().is_terminal();
    let progress = {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                if show_progress {
                    let p = &shared.progress;
                    eprint!(
                        "\r  {label:<16} connected {}/{n}  ready {}/{n}  at barrier {}  done {}/{n}   ",
                        p.connected.load(Ordering::Relaxed),
                        p.ready.load(Ordering::Relaxed),
                        shared.barrier.n_waiting(),
                        p.finished.load(Ordering::Relaxed),
                        n = shared.config.clients,
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let mut outcomes = Vec::with_capacity(config.clients);
    let mut last_finished = started;
    for task in tasks {
        let (outcome, finished) = task.await.expect("client panicked");
        outcomes.push(outcome);
        last_finished = last_finished.max(finished);
    }
    let elapsed = started.elapsed();
    progress.abort();
    if show_progress {
        eprint!("\r{:100}\r", "");
    }
    let (arrivals, requests) = server.stop();
    let abort = *shared.abort.lock().unwrap();
    Ok(RunResult {
        outcomes,
        arrivals,
        requests,
        elapsed,
        abort,
        last_finished,
    })
}

// ---------------------------------------------------------------------------------------------
// Statistics and printing.

/// Offsets in microseconds after the earliest instant, sorted.
fn offsets_us(instants: &[Instant]) -> Vec<u64> {
    let Some(&first) = instants.iter().min() else {
        return Vec::new();
    };
    let mut offsets: Vec<u64> = instants
        .iter()
        .map(|t| t.duration_since(first).as_micros() as u64)
        .collect();
    offsets.sort_unstable();
    offsets
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn stats_row(name: &str, sorted: &[u64]) -> String {
    if sorted.is_empty() {
        return format!("  {name:<28} (no data)");
    }
    format!(
        "  {name:<28} {:>8} {:>8} {:>8} {:>8} {:>8}",
        sorted[0],
        percentile(sorted, 50.0),
        percentile(sorted, 90.0),
        percentile(sorted, 99.0),
        sorted[sorted.len() - 1],
    )
}

/// Ten equal buckets from 0 to the maximum: `(upper bound, count)`.
fn histogram(sorted: &[u64]) -> Vec<(u64, usize)> {
    let max = sorted.last().copied().unwrap_or(0).max(1);
    let width = max.div_ceil(10).max(1);
    let mut buckets: Vec<(u64, usize)> = (1..=10).map(|i| (i * width, 0)).collect();
    for &value in sorted {
        let i = ((value / width) as usize).min(9);
        buckets[i].1 += 1;
    }
    buckets
}

fn histogram_lines(title: &str, sorted: &[u64]) -> Vec<String> {
    const BAR: usize = 22;
    let buckets = histogram(sorted);
    let peak = buckets.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let width = buckets[0].0;
    let mut lines = vec![format!("{title:<46}")];
    for &(upper, count) in &buckets {
        let len = (count * BAR).div_ceil(peak);
        lines.push(format!(
            "{:>6}-{:<6} {:<BAR$} {:>4}",
            upper - width,
            upper,
            "#".repeat(len),
            count,
            BAR = BAR
        ));
    }
    lines
}

fn print_histograms(label: &str, sends: &[u64], arrivals: &[u64]) {
    println!();
    let left = histogram_lines(&format!("{label}: client sends (us)"), sends);
    let right = histogram_lines(&format!("{label}: server arrivals (us)"), arrivals);
    for (l, r) in left.iter().zip(&right) {
        println!("  {l:<46}   {r}");
    }
}

fn first_sends(result: &RunResult) -> Vec<Instant> {
    result
        .outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Done { first_sent, .. } => Some(*first_sent),
            _ => None,
        })
        .collect()
}

/// Prints problems (failed clients) and returns whether every client completed.
fn check_all_done(label: &str, config: &Config, result: &RunResult) -> bool {
    let done = first_sends(result).len();
    let mut ok = done == config.clients
        && result.arrivals.len() == config.clients
        && result.requests == config.clients * config.requests;
    println!(
        "  {label:<16} {done}/{} clients done, server answered {} requests, {} ms",
        config.clients,
        result.requests,
        result.elapsed.as_millis()
    );
    // Group the failures by cause, root causes (connect, I/O) before their effects (Broken).
    let mut groups: Vec<(u8, String, usize, usize)> = Vec::new();
    for (id, outcome) in result.outcomes.iter().enumerate() {
        let rank = match outcome {
            Outcome::Done { .. } => continue,
            Outcome::ConnectFailed(_) => 0,
            Outcome::Io(_) => 1,
            Outcome::Barrier(_) => 2,
        };
        let text = outcome.to_string();
        match groups.iter_mut().find(|g| g.1 == text) {
            Some(group) => group.2 += 1,
            None => groups.push((rank, text, 1, id)),
        }
    }
    groups.sort();
    for (_, text, count, first) in &groups {
        println!("    {count} client(s): {text} (first: client {first})");
        if text.contains("os error 24") {
            println!("      (out of file descriptors: raise `ulimit -n`, or use fewer --clients)");
        }
    }
    ok &= groups.is_empty();
    ok
}

async fn demo(config: &Config) -> std::io::Result<bool> {
    println!(
        "{} clients on 127.0.0.1 ({} runtime worker(s)), {} request(s) each, prepare delay 0-{} ms, barrier timeout {} ms",
        config.clients,
        config.workers,
        config.requests,
        config.max_prepare.as_millis(),
        config.timeout.as_millis()
    );
    let plain = run(config, Mode::NoBarrier).await?;
    let barrier = run(config, Mode::Barrier).await?;
    let ok_plain = check_all_done("without barrier", config, &plain);
    let ok_barrier = check_all_done("with barrier", config, &barrier);
    if !(ok_plain && ok_barrier) {
        println!("FAILED: some clients did not complete");
        return Ok(false);
    }

    let sends_plain = offsets_us(&first_sends(&plain));
    let sends_barrier = offsets_us(&first_sends(&barrier));
    let arrivals_plain = offsets_us(&plain.arrivals);
    let arrivals_barrier = offsets_us(&barrier.arrivals);

    println!();
    println!("first-request spread, microseconds after the earliest:");
    println!(
        "  {:<28} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "", "min", "p50", "p90", "p99", "max"
    );
    println!("{}", stats_row("client sends, no barrier", &sends_plain));
    println!("{}", stats_row("client sends, barrier", &sends_barrier));

    println!(
        "{}",
        stats_row("server arrivals, no barrier", &arrivals_plain)
    );
    println!(
        "{}",
        stats_row("server arrivals, barrier", &arrivals_barrier)
    );

    print_histograms("no barrier", &sends_plain, &arrivals_plain);
    print_histograms("barrier", &sends_barrier, &arrivals_barrier);

    let p99_plain = percentile(&arrivals_plain, 99.0).max(1);
    let p99_barrier = percentile(&arrivals_barrier, 99.0).max(1);
    println!();
    println!(
        "the barrier cut the p99 spread of server arrivals from {:.2} ms to {:.2} ms ({:.0}x narrower)",
        p99_plain as f64 / 1000.0,
        p99_barrier as f64 / 1000.0,
        p99_plain as f64 / p99_barrier as f64
    );
    if p99_barrier >= p99_plain {
        println!("note: no improvement this time (a very loaded machine?); try --prepare-ms 50");
    }
    Ok(true)
}

async fn demo_fail_one(config: &Config) -> std::io::Result<bool> {
    let failing = config.clients / 2;
    println!(
        "{} clients with the barrier (timeout {} ms); client {failing} connects late to a closed port",
        config.clients,
        config.timeout.as_millis()
    );
    let result = run(config, Mode::Barrier).await?;
    let mut broken = 0usize;
    let mut unexpected = Vec::new();
    for (id, outcome) in result.outcomes.iter().enumerate() {
        match outcome {
            Outcome::ConnectFailed(error) if id == failing => {
                println!("  client {id}: connect failed ({error}); it called barrier.abort()");
            }
            Outcome::Barrier(WaitError::Broken) => broken += 1,
            other => unexpected.push((id, other)),
        }
    }
    if let Some((at, waiting)) = result.abort {
        println!(
            "  abort() woke the {waiting} clients waiting at the barrier; the {} still preparing got Broken as soon as they reached it",
            broken.saturating_sub(waiting)
        );
        println!(
            "  {broken} of the other {} clients stopped with Err({:?}): \"{}\"",
            config.clients - 1,
            WaitError::Broken,
            WaitError::Broken
        );
        println!(
            "  all clients stopped {:.1} ms after the abort, not after the {} ms timeout",
            result
                .last_finished
                .saturating_duration_since(at)
                .as_secs_f64()
                * 1000.0,
            config.timeout.as_millis()
        );
    }
    println!(
        "  requests the server received: {} (nobody fired)",
        result.requests
    );
    for (id, outcome) in &unexpected {
        println!("  unexpected: client {id}: {outcome}");
    }
    let ok = unexpected.is_empty()
        && broken == config.clients - 1
        && result.requests == 0
        && result.abort.is_some();
    println!(
        "{}",
        if ok {
            "OK: the failed client aborted the barrier and nobody hung"
        } else {
            "FAILED: the abort did not stop every client as expected"
        }
    );
    Ok(ok)
}

fn main() -> ExitCode {
    let config = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    let outcome = runtime.block_on(async {
        if config.fail_one {
            demo_fail_one(&config).await
        } else {
            demo(&config).await
        }
    });
    println!("(ran in {:.2} s)", started.elapsed().as_secs_f64());
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("load_start: {error}");
            ExitCode::FAILURE
        }
    }
}
