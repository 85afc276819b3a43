//! Party processes: the test binary re-executed as one party (`PARTY_ENTRY`), printing what
//! happens as `@@ ` lines, and a guard that kills it on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use agnostic_barrier_redis::{RedisBarrier, RedisWaitError};

/// The name of the `#[test]` each test file that spawns parties defines, calling
/// [`run_if_party`].
pub const PARTY_ENTRY: &str = "party_process_entry_point";

/// How a party process runs.
#[derive(Clone, Debug)]
pub struct PartyConfig {
    pub url: String,
    pub name: String,
    pub parties: usize,
    pub party: String,
    pub lease: Duration,
    /// `tokio` or `smol`.
    pub runtime: &'static str,
    pub rounds: usize,
}

/// A party process; SIGKILLed on drop.
#[derive(Debug)]
pub struct Party {
    child: Child,
    lines: Receiver<String>,
    pub name: String,
}

impl Party {
    pub fn spawn(config: &PartyConfig) -> Party {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([PARTY_ENTRY, "--exact", "--nocapture", "--test-threads=1"])
            .env("AB_PARTY", &config.party)
            .env("AB_URL", &config.url)
            .env("AB_NAME", &config.name)
            .env("AB_PARTIES", config.parties.to_string())
            .env("AB_LEASE_MS", config.lease.as_millis().to_string())
            .env("AB_RUNTIME", config.runtime)
            .env("AB_ROUNDS", config.rounds.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn a party process");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // The test harness may print "test … ... " before the first line.
                if let Some(at) = line.find("@@ ") {
                    if tx.send(line[at + 3..].to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        Party {
            child,
            lines,
            name: config.party.clone(),
        }
    }

    /// The next `@@` line, or `None` after `limit`.
    pub fn next_line(&self, limit: Duration) -> Option<String> {
        self.lines.recv_timeout(limit).ok()
    }

    /// Waits for a line starting with `prefix`, skipping others.
    pub fn expect(&self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_line(left) {
                Some(line) if line.starts_with(prefix) => return line,
                Some(_) => continue,
                None => panic!("party {}: no `{prefix}` line within {limit:?}", self.name),
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success());
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Party {
    fn drop(&mut self) {
        // A stopped process must be continued to die promptly.
        let _ = Command::new("kill")
            .args(["-CONT", &self.pid().to_string()])
            .status();
        self.kill();
    }
}

/// In a party process (started by [`Party::spawn`]): runs the party and exits. Elsewhere: does
/// nothing.
pub fn run_if_party() {
    let Ok(party) = std::env::var("AB_PARTY") else {
        return;
    };
    let env = |k: &str| std::env::var(k).unwrap();
    let config = PartyConfig {
        url: env("AB_URL"),
        name: env("AB_NAME"),
        parties: env("AB_PARTIES").parse().unwrap(),
        party,
        lease: Duration::from_millis(env("AB_LEASE_MS").parse().unwrap()),
        runtime: match env("AB_RUNTIME").as_str() {
            "smol" => "smol",
            "smol-if-enabled" if cfg!(feature = "smol") => "smol",
            _ => "tokio",
        },
        rounds: env("AB_ROUNDS").parse().unwrap(),
    };
    match config.runtime {
        "smol" => smol::block_on(party_main(config)),
        _ => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(party_main(config)),
    }
    std::process::exit(0);
}

fn say(line: String) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "@@ {line}");
    let _ = out.flush();
}

async fn party_main(config: PartyConfig) {
    let client = redis::Client::open(config.url.as_str()).unwrap();
    let barrier = match RedisBarrier::builder(&config.name, config.parties)
        .party(&config.party)
        .lease(config.lease)
        .connect(client)
        .await
    {
        Ok(barrier) => barrier,
        Err(error) => return say(format!("connect-error {error}")),
    };
    say("ready".into());
    for _ in 0..config.rounds {
        match barrier.wait().await {
            Ok(r) => say(format!(
                "ok {} {} {}",
                r.generation(),
                r.index(),
                u8::from(r.is_leader())
            )),
            Err(RedisWaitError::Broken(b)) => {
                say(format!(
                    "broken {:?} {} [{}]",
                    b.reason(),
                    b.by().unwrap_or("-"),
                    b.arrived().join(",")
                ));
                break;
            }
            Err(other) => {
                say(format!("error {other}"));
                break;
            }
        }
    }
    let _ = barrier.close().await;
    say("closed".into());
}
