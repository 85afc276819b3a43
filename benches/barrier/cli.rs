//! The command line: which scenarios run, for how long, and on how many worker threads.
//!
//! Parsed by hand: a handful of options, and cargo adds `--bench` of its own.

use std::time::Duration;

/// The scenarios, in the order they run.
pub const SCENARIOS: [&str; 5] = ["alloc", "cancel", "rounds", "blocking", "skew"];

const USAGE: &str = "\
The agnostic-barrier comparison benchmark: ours against tokio's, async-lock's and std's
barriers, and against the floors no barrier can go far below.

Usage: cargo bench --bench barrier -- [OPTIONS] [FILTER]...

Arguments:
  [FILTER]...        run only the scenarios whose name contains one of these:
                     rounds, blocking, skew, alloc, cancel (default: all)

Options:
  --quick            a smoke run of a few seconds (also BENCH_QUICK=1), too short to trust
  --workers <N>      worker threads of tokio multi-thread, async-std and the smol pool
                     (default 2; tokio current-thread always has one)
  -h, --help         print this help

Examples:
  cargo bench --bench barrier                       the full run, under a minute on 2 cores
  cargo bench --bench barrier -- --quick skew       a smoke run of the skew scenario
  cargo bench --bench barrier -- --workers 16       the same tables from a 16-core machine
";

pub struct Cfg {
    pub quick: bool,
    /// Worker threads of the multi-threaded executors.
    pub workers: usize,
    pub samples: usize,
    /// Rough length of one sample.
    pub target: Duration,
    pub skew_trials: usize,
    pub filters: Vec<String>,
}

impl Cfg {
    /// Reads the command line and `BENCH_QUICK`; prints the usage and exits on `--help`, or on
    /// a bad argument with an error.
    pub fn from_env() -> Cfg {
        match Cfg::parse(std::env::args().skip(1)) {
            Ok(Some(cfg)) => cfg,
            Ok(None) => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            Err(e) => {
                eprintln!("error: {e}\n\n{USAGE}");
                std::process::exit(2);
            }
        }
    }

    /// `Ok(None)` for `--help`.
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Cfg>, String> {
        let mut quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let mut workers = 2;
        let mut filters = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-h" | "--help" => return Ok(None),
                "--quick" => quick = true,
                // Cargo passes it to every bench target.
                "--bench" => {}
                "--workers" => {
                    let value = args.next().ok_or("--workers needs a number")?;
                    workers = parse_workers(&value)?;
                }
                _ => {
                    if let Some(value) = arg.strip_prefix("--workers=") {
                        workers = parse_workers(value)?;
                    } else if arg.starts_with('-') {
                        return Err(format!("unknown option `{arg}`"));
                    } else if SCENARIOS.iter().any(|s| s.contains(arg.as_str())) {
                        filters.push(arg);
                    } else {
                        return Err(format!("`{arg}` matches no scenario"));
                    }
                }
            }
        }
        Ok(Some(Cfg {
            quick,
            workers,
            samples: if quick { 3 } else { 9 },
            target: if quick {
                Duration::from_millis(3)
            } else {
                Duration::from_millis(30)
            },
            skew_trials: if quick { 5 } else { 25 },
            filters,
        }))
    }

    pub fn wants(&self, scenario: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| scenario.contains(f.as_str()))
    }

    /// Repetitions so that one sample lasts about `target`, given a per-repetition estimate.
    pub fn reps(&self, per_rep_ns: f64, min: usize, max: usize) -> usize {
        ((self.target.as_nanos() as f64 / per_rep_ns.max(1.0)) as usize).clamp(min, max)
    }
}

fn parse_workers(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "--workers takes a positive number of threads, not `{value}`"
        )),
    }
}
