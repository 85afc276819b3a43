//! Round latency and release skew of `RedisBarrier` across 2, 4, 8 and 16 processes, beside
//! the simplest correct alternative a user would write: a Lua script that `INCR`s a per-round
//! counter and `PUBLISH`es when it reaches N, every process subscribed to the channel (and
//! re-checking the counter if no message comes). That alternative has no leases, withdrawal,
//! timeouts or breaking; ours does all of them.
//!
//! Each run starts N processes (this benchmark re-executed as a party), each passing the barrier
//! round after round and stamping each return with the system clock (one host, one clock).
//! - **round latency**: the time from one round's last return to the next round's last return,
//!   median over the rounds (after 10 warm-up rounds), also in Redis round trips: the median
//!   `PING` time measured in the same run against the same `redis-server` (loopback TCP);
//! - **release skew**: first to last return within a round, median and 90th percentile.
//!
//! The implementations alternate run by run (ours, theirs, ours, ...) so machine drift hits
//! both; each cell is the median of its runs, and the ratio's spread is the lowest and highest
//! ratio of a run of ours to the run of the alternative right after it. Redis's own work is
//! read from `INFO commandstats` after each run: the time per script call (`EVALSHA`) and the
//! commands each script called (`redis.call`s per script call).
//!
//! Run with `cargo bench -p agnostic-barrier-redis --bench rounds` (well under a minute), or
//! `-- --quick` (or `BENCH_QUICK=1`) for a smoke run of a few seconds. Options: `--runs K` runs
//! per implementation and cell (default 7), `--rounds R` rounds per run (default 250, at least
//! 212: the median is over R - 11 rounds), `--counts 2,4,8,16`.

#[path = "../tests/common/server.rs"]
mod server;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use agnostic_barrier_redis::RedisBarrier;
use futures_lite::StreamExt;

const WARMUP: usize = 10;

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ours,
    Alternative,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Alternative => "alternative",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One party process.

const ALTERNATIVE: &str = "\
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], 60000)
if n == tonumber(ARGV[1]) then redis.call('PUBLISH', KEYS[2], ARGV[2]) end
return n";

async fn party(kind: Kind, url: String, name: String, n: usize, rounds: usize) -> Vec<u64> {
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut stamps = Vec::with_capacity(rounds);
    match kind {
        Kind::Ours => {
            let barrier = RedisBarrier::builder(name, n)
                .lease(Duration::from_secs(2))
                .connect(client)
                .await
                .unwrap();
            for _ in 0..rounds {
                barrier.wait().await.unwrap();
                stamps.push(unix_ns());
            }
            barrier.close().await.unwrap();
        }
        Kind::Alternative => {
            let script = redis::Script::new(ALTERNATIVE);
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let mut pubsub = client.get_async_pubsub().await.unwrap();
            let channel = format!("{name}:released");
            pubsub.subscribe(&channel).await.unwrap();
            let mut messages = pubsub.on_message();
            for round in 0..rounds {
                let counter = format!("{name}:round:{round}");
                let arrived: usize = script
                    .key(&counter)
                    .key(&channel)
                    .arg(n)
                    .arg(round)
                    .invoke_async(&mut conn)
                    .await
                    .unwrap();
                if arrived < n {
                    loop {
                        // Subscribed before arriving, so the release cannot be missed, short of
                        // a lost message: then re-check the counter.
                        let next = futures_lite::future::or(
                            async { messages.next().await.map(|m| m.get_payload::<usize>()) },
                            async {
                                tokio::time::sleep(Duration::from_secs(1)).await;
                                None
                            },
                        )
                        .await;
                        match next {
                            Some(Ok(r)) if r == round => break,
                            Some(_) => continue,
                            None => {
                                let count: usize = redis::cmd("GET")
                                    .arg(&counter)
                                    .query_async(&mut conn)
                                    .await
                                    .unwrap_or(0);
                                if count >= n {
                                    break;
                                }
                            }
                        }
                    }
                }
                stamps.push(unix_ns());
            }
        }
    }
    stamps
}

// ---------------------------------------------------------------------------------------------
// The parent.

struct RunResult {
    /// Median round latency.
    round: Duration,
    /// Redis's own time per script call (`INFO commandstats`, EVALSHA), in microseconds.
    script_us: f64,
    /// The commands the scripts called, per script call.
    calls_per_script: f64,
    skew_p50: Duration,
    skew_p90: Duration,
}

fn median(sorted: &[u64]) -> u64 {
    sorted[sorted.len() / 2]
}

/// Redis's mean time per EVALSHA since the last `CONFIG RESETSTAT`, in microseconds, and the
/// commands the scripts called per EVALSHA (every other command counted there but the few the
/// clients send themselves).
fn script_stats(url: &str, reset: bool) -> (f64, f64) {
    let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
    if reset {
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(&mut conn)
            .unwrap();
        return (0.0, 0.0);
    }
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut conn)
        .unwrap();
    let field = |line: &str, name: &str| -> f64 {
        line.split(&format!("{name}="))
            .nth(1)
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    const CLIENT: [&str; 9] = [
        "evalsha",
        "script",
        "config",
        "info",
        "hello",
        "client",
        "subscribe",
        "ping",
        "get",
    ];
    let (mut us, mut scripts, mut inner) = (f64::NAN, f64::NAN, 0.0);
    for line in info.lines() {
        let Some((name, _)) = line
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        else {
            continue;
        };
        if name == "evalsha" {
            us = field(line, "usec_per_call");
            scripts = field(line, "calls");
        } else if !CLIENT.contains(&name.split('|').next().unwrap_or(name)) {
            inner += field(line, "calls");
        }
    }
    (us, inner / scripts)
}

fn run(kind: Kind, url: &str, n: usize, rounds: usize, seq: usize) -> RunResult {
    let name = format!("bench/{}/{n}/{seq}/{}", kind.name(), unix_ns());
    script_stats(url, true);
    let children: Vec<_> = (0..n)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--party",
                    kind.name(),
                    url,
                    &name,
                    &n.to_string(),
                    &rounds.to_string(),
                ])
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn a party")
        })
        .collect();
    let mut stamps: Vec<Vec<u64>> = Vec::new();
    for mut child in children {
        let line = BufReader::new(child.stdout.take().unwrap())
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("@@ ").map(str::to_owned))
            .expect("a party's stamps");
        assert!(child.wait().unwrap().success());
        stamps.push(line.split(' ').map(|t| t.parse().unwrap()).collect());
    }
    let last: Vec<u64> = (0..rounds)
        .map(|r| stamps.iter().map(|s| s[r]).max().unwrap())
        .collect();
    let mut rounds_ns: Vec<u64> = last[WARMUP..].windows(2).map(|w| w[1] - w[0]).collect();
    let mut skews: Vec<u64> = (WARMUP..rounds)
        .map(|r| {
            let first = stamps.iter().map(|s| s[r]).min().unwrap();
            last[r] - first
        })
        .collect();
    rounds_ns.sort_unstable();
    skews.sort_unstable();
    let (script_us, calls_per_script) = script_stats(url, false);
    RunResult {
        round: Duration::from_nanos(median(&rounds_ns)),
        script_us,
        calls_per_script,
        skew_p50: Duration::from_nanos(median(&skews)),
        skew_p90: Duration::from_nanos(skews[skews.len() * 9 / 10]),
    }
}

fn ping_median(url: &str) -> Duration {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = redis::Client::open(url).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut times = Vec::new();
        for _ in 0..300 {
            let start = Instant::now();
            let _: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
            times.push(start.elapsed().as_nanos() as u64);
        }
        times.sort_unstable();
        Duration::from_nanos(median(&times[50..]))
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--party") {
        let kind = if args[2] == "ours" {
            Kind::Ours
        } else {
            Kind::Alternative
        };
        let (n, rounds) = (args[5].parse().unwrap(), args[6].parse().unwrap());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let stamps = rt.block_on(party(kind, args[3].clone(), args[4].clone(), n, rounds));
        let text: Vec<String> = stamps.iter().map(u64::to_string).collect();
        println!("@@ {}", text.join(" "));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick") || std::env::var("BENCH_QUICK").is_ok();
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (mut counts, mut rounds, mut repeats): (Vec<usize>, usize, usize) = if quick {
        (vec![2, 4], 60, 1)
    } else {
        (vec![2, 4, 8, 16], 250, 7)
    };
    if let Some(k) = option("--runs") {
        repeats = k.parse().expect("--runs K");
    }
    if let Some(r) = option("--rounds") {
        rounds = r.parse().expect("--rounds R");
    }
    if let Some(list) = option("--counts") {
        counts = list
            .split(',')
            .map(|n| n.parse().expect("--counts 2,4,.."))
            .collect();
    }
    assert!(rounds > WARMUP + 2 && repeats > 0);
    let Some(server) = server::RedisServer::start(server::Listen::Tcp, &[]) else {
        return;
    };
    let url = server.url();
    println!(
        "round latency (median over {} rounds, after {WARMUP} warm-up rounds) and release skew,\n\
         N processes on one redis-server over loopback TCP; {} runs per cell, alternating;\n\
         `PINGs` = latency / median PING round trip measured in the same run;\n\
         `spread` = lowest and highest ratio of a run of ours to the alternative's next run;\n\
         `script us` = Redis's own time per EVALSHA (INFO commandstats), ours / alternative;\n\
         `calls` = the commands each script called (redis.call), ours / alternative",
        rounds - WARMUP - 1,
        repeats
    );
    let ping_before = ping_median(&url);
    let mut table = Vec::new();
    for &n in &counts {
        let mut ours = Vec::new();
        let mut alt = Vec::new();
        let (mut low, mut high) = (f64::INFINITY, 0.0f64);
        for seq in 0..repeats {
            ours.push(run(Kind::Ours, &url, n, rounds, seq));
            alt.push(run(Kind::Alternative, &url, n, rounds, seq));
            let ratio = ours[seq].round.as_secs_f64() / alt[seq].round.as_secs_f64();
            low = low.min(ratio);
            high = high.max(ratio);
        }
        let pick = |runs: &mut Vec<RunResult>| {
            runs.sort_by_key(|r| r.round);
            runs.swap_remove(runs.len() / 2)
        };
        table.push((n, pick(&mut ours), pick(&mut alt), (low, high)));
    }
    let ping = (ping_before + ping_median(&url)) / 2;
    println!("median PING round trip: {:.3} ms", ms(ping));
    println!();
    println!(
        "{:>3} | {:>9} {:>7} | {:>9} {:>7} | {:>6} | {:>11} | {:>17} | {:>17} | {:>13} | {:>11}",
        "N",
        "ours ms",
        "PINGs",
        "alt ms",
        "PINGs",
        "ratio",
        "spread",
        "skew ours p50/p90",
        "skew alt p50/p90",
        "script us o/a",
        "calls o/a"
    );
    let mut over = Vec::new();
    for (n, ours, alt, (low, high)) in &table {
        let ratio = ours.round.as_secs_f64() / alt.round.as_secs_f64();
        if ratio > 1.5 {
            over.push(*n);
        }
        println!(
            "{n:>3} | {:>9.3} {:>7.1} | {:>9.3} {:>7.1} | {:>5.2}x | {:>4.2}-{:>4.2}x | {:>7.3} / {:>7.3} | {:>7.3} / {:>7.3} | {:>5.1} / {:>5.1} | {:>4.1} / {:>4.1}",
            ms(ours.round),
            ours.round.as_secs_f64() / ping.as_secs_f64(),
            ms(alt.round),
            alt.round.as_secs_f64() / ping.as_secs_f64(),
            ratio,
            low,
            high,
            ms(ours.skew_p50),
            ms(ours.skew_p90),
            ms(alt.skew_p50),
            ms(alt.skew_p90),
            ours.script_us,
            alt.script_us,
            ours.calls_per_script,
            alt.calls_per_script,
        );
    }
    println!();
    if over.is_empty() {
        println!("ours within 1.5x of the alternative at every N (the SPEC-REDIS bar)");
    } else {
        println!("OVER the 1.5x bar at N = {over:?}");
    }
}
