//! The command line: which scenarios run, and for how long.

use std::time::Duration;

pub struct Cfg {
    pub quick: bool,
    pub samples: usize,
    /// Rough length of one sample.
    pub target: Duration,
    pub skew_trials: usize,
    pub filter: Option<String>,
}

impl Cfg {
    pub fn from_env() -> Cfg {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let quick = args.iter().any(|a| a == "--quick")
            || std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
        Cfg {
            quick,
            samples: if quick { 3 } else { 9 },
            target: if quick {
                Duration::from_millis(3)
            } else {
                Duration::from_millis(30)
            },
            skew_trials: if quick { 5 } else { 25 },
            filter,
        }
    }

    pub fn wants(&self, scenario: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| scenario.contains(f))
    }

    /// Repetitions so that one sample lasts about `target`, given a per-repetition estimate.
    pub fn reps(&self, per_rep_ns: f64, min: usize, max: usize) -> usize {
        ((self.target.as_nanos() as f64 / per_rep_ns.max(1.0)) as usize).clamp(min, max)
    }
}
