//! A `redis-server` of the test's own (loopback TCP on a free port, or a Unix socket; no
//! persistence), killed when the guard drops, even when the test fails. Shared by the tests,
//! the example and the benchmark (`#[path]`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Where the server listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listen {
    Unix,
    Tcp,
}

/// A running `redis-server`; killed (SIGKILL) and waited for on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    dir: PathBuf,
    listen: Listen,
    port: u16,
    extra: Vec<String>,
}

const MISSING: &str = "redis-server is not installed: the Redis tests need it \
    (Debian/Ubuntu: `apt-get install -y redis-server`; macOS: `brew install redis`)";

/// Whether `redis-server` can be run. Without it, the tests print how to install it and pass,
/// except under `CI=true`, where that is a failure.
pub fn available() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("{MISSING} (CI=true: failing instead of skipping)");
        }
        // Straight to stderr, past the test harness's capture, once per test binary.
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            let _ = writeln!(std::io::stderr(), "SKIPPED: {MISSING}");
        });
    }
    found
}

impl RedisServer {
    /// Starts a server with `extra` arguments (e.g. `["--requirepass", "pw"]`); `None` (after
    /// saying why) when `redis-server` is missing outside CI.
    pub fn start(listen: Listen, extra: &[&str]) -> Option<RedisServer> {
        if !available() {
            return None;
        }
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ab-redis-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let port = match listen {
            Listen::Unix => 0,
            Listen::Tcp => free_port(),
        };
        let mut server = RedisServer {
            child: None,
            dir,
            listen,
            port,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        server.spawn();
        Some(server)
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    fn spawn(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
            .args(["--port", &self.port.to_string()])
            .args(["--dir", self.dir.to_str().unwrap()])
            .args(["--daemonize", "no", "--loglevel", "warning"]);
        if self.listen == Listen::Unix {
            command.args(["--unixsocket", self.socket().to_str().unwrap()]);
            command.args(["--unixsocketperm", "700"]);
        }
        command.args(&self.extra);
        command.stdout(Stdio::null()).stderr(Stdio::null());
        self.child = Some(command.spawn().expect("start redis-server"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.ready() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start in 10 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether the server answers (a PING, or an auth error when it wants a password).
    fn ready(&self) -> bool {
        fn ping(mut stream: impl Read + Write) -> bool {
            let _ = stream.write_all(b"PING\r\n");
            let mut line = String::new();
            BufReader::new(stream).read_line(&mut line).is_ok()
                && (line.starts_with("+PONG") || line.starts_with("-NOAUTH"))
        }
        match self.listen {
            Listen::Unix => UnixStream::connect(self.socket()).is_ok_and(|s| {
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                ping(s)
            }),
            Listen::Tcp => TcpStream::connect(("127.0.0.1", self.port)).is_ok_and(|s| {
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                ping(s)
            }),
        }
    }

    /// The URL to connect with (`unix:///…/redis.sock` or `redis://127.0.0.1:PORT/`).
    pub fn url(&self) -> String {
        match self.listen {
            Listen::Unix => format!("unix://{}", self.socket().display()),
            Listen::Tcp => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    /// The URL with credentials (`user` may be empty for the default user).
    pub fn url_with(&self, user: &str, password: &str) -> String {
        match self.listen {
            Listen::Unix => {
                let mut url = format!("unix://{}?pass={password}", self.socket().display());
                if !user.is_empty() {
                    url.push_str(&format!("&user={user}"));
                }
                url
            }
            Listen::Tcp => format!("redis://{user}:{password}@127.0.0.1:{}/", self.port),
        }
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }

    /// Kills the server (SIGKILL: its state is lost).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(self.socket());
    }

    /// Starts it again, empty, at the same address.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Runs one command on a fresh synchronous connection (as the default user, or with
    /// `auth` = (user, password)).
    pub fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> redis::RedisResult<T> {
        let mut conn = self.client().get_connection()?;
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query(&mut conn)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
