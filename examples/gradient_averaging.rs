//! Data-parallel training: workers compute partial gradients of a linear regression on their
//! shard of the data; the barrier's action averages them and updates the model once per step;
//! every worker then reads the new model.
//!
//! Each step, a worker's `index()` (a permutation of `0..workers` in every generation) picks the
//! shard it works on, so the shards are covered exactly once per step whichever worker arrives
//! first. The action runs once per generation, on the last worker to arrive, before anyone is
//! released, so every worker sees the updated weights when its `wait()` returns.
//!
//! The run is checked against a sequential loop doing the same arithmetic: the weights must
//! match bit for bit, and the loss must fall below a threshold.
//!
//! Run with `cargo run --release --example gradient_averaging` (add `-- --help` for the flags).

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use agnostic_barrier::Barrier;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

/// Features per sample; the model is `y = w . x + b`.
const D: usize = 4;
const TRUE_W: [f64; D] = [2.0, -3.0, 0.5, 1.25];
const TRUE_B: f64 = 0.75;

/// Linear regression with gradients averaged by a barrier action.
#[derive(Parser)]
#[command(name = "gradient_averaging")]
struct Config {
    /// worker tasks, one data shard per worker
    #[arg(long, value_name = "N", default_value_t = 4)]
    workers: usize,
    /// samples per shard
    #[arg(long, value_name = "N", default_value_t = 2000)]
    samples: usize,
    /// training steps
    #[arg(long, value_name = "N", default_value_t = 150)]
    steps: usize,
    /// print the loss every K steps
    #[arg(long, value_name = "K", default_value_t = 15)]
    report_every: usize,
    /// learning rate
    #[arg(long, value_name = "X", default_value_t = 0.1)]
    rate: f64,
}

fn parse_args() -> Config {
    let config = Config::parse();
    if config.workers == 0 || config.samples == 0 || config.report_every == 0 {
        Config::command()
            .error(
                ErrorKind::ValueValidation,
                "need --workers, --samples and --report-every >= 1",
            )
            .exit();
    }
    config
}

/// A sample: features and target.
type Sample = ([f64; D], f64);

/// A small deterministic generator (xorshift64*), so every run sees the same data.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [-1, 1).
    fn symmetric(&mut self) -> f64 {
        2.0 * self.next_f64() - 1.0
    }
}

/// `shards` shards of `per_shard` samples: `y = TRUE_W . x + TRUE_B` plus a little noise.
fn make_data(shards: usize, per_shard: usize) -> Vec<Vec<Sample>> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..shards)
        .map(|_| {
            (0..per_shard)
                .map(|_| {
                    let mut x = [0.0; D];
                    for v in &mut x {
                        *v = rng.symmetric();
                    }
                    let y = dot(&TRUE_W, &x) + TRUE_B + 0.05 * rng.symmetric();
                    (x, y)
                })
                .collect()
        })
        .collect()
}

fn dot(a: &[f64; D], b: &[f64; D]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// The model's parameters: `D` weights then the bias.
type Params = [f64; D + 1];

/// Mean-squared-error gradient and loss of `params` over one shard.
fn shard_gradient(params: &Params, shard: &[Sample]) -> (Params, f64) {
    let mut grad = [0.0; D + 1];
    let mut loss = 0.0;
    let w: [f64; D] = params[..D].try_into().unwrap();
    for (x, y) in shard {
        let err = dot(&w, x) + params[D] - y;
        loss += err * err;
        for j in 0..D {
            grad[j] += 2.0 * err * x[j];
        }
        grad[D] += 2.0 * err;
    }
    let n = shard.len() as f64;
    (grad.map(|g| g / n), loss / n)
}

/// The step the action takes: average the shard gradients in shard order, then descend.
/// Returns the mean loss (of the parameters the gradients were computed at).
fn apply_average(params: &mut Params, grads: &[Params], losses: &[f64], rate: f64) -> f64 {
    let shards = grads.len() as f64;
    for j in 0..=D {
        let mean = grads.iter().map(|g| g[j]).sum::<f64>() / shards;
        params[j] -= rate * mean;
    }
    losses.iter().sum::<f64>() / shards
}

/// The model and the workers' contributions for the current step.
struct Training {
    params: Params,
    /// Per shard (not per worker): written by whichever worker took that shard this step.
    grads: Vec<Params>,
    losses: Vec<f64>,
    /// Whether generation 0 (the start, with no gradients yet) has passed.
    started: bool,
    /// Steps completed.
    step: usize,
    /// `(step, loss)` at each report.
    history: Vec<(usize, f64)>,
}

fn sequential(config: &Config, data: &[Vec<Sample>]) -> Params {
    let mut params = [0.0; D + 1];
    for _ in 0..config.steps {
        let (grads, losses): (Vec<Params>, Vec<f64>) = data
            .iter()
            .map(|shard| shard_gradient(&params, shard))
            .unzip();
        apply_average(&mut params, &grads, &losses, config.rate);
    }
    params
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = Arc::new(parse_args());
    let data = Arc::new(make_data(config.workers, config.samples));
    println!(
        "linear regression, {D} features + bias: {} workers x {} samples, {} steps, rate {}",
        config.workers, config.samples, config.steps, config.rate
    );

    let training = Arc::new(Mutex::new(Training {
        params: [0.0; D + 1],
        grads: vec![[0.0; D + 1]; config.workers],
        losses: vec![0.0; config.workers],
        started: false,
        step: 0,
        history: Vec::new(),
    }));

    // Generation 0 only starts the workers; generation s (s >= 1) completes step s: every shard's
    // gradient is in, the action averages them and updates the model, once, before anyone reads.
    let barrier = Arc::new(
        Barrier::builder(config.workers)
            .action({
                let (training, config) = (training.clone(), config.clone());
                move || {
                    let mut t = training.lock().unwrap();
                    if !t.started {
                        // Generation 0: nothing to average yet.
                        t.started = true;
                        return;
                    }
                    let Training {
                        params,
                        grads,
                        losses,
                        ..
                    } = &mut *t;
                    let loss = apply_average(params, grads, losses, config.rate);
                    t.step += 1;
                    let step = t.step;
                    if step == 1 || step % config.report_every == 0 || step == config.steps {
                        t.history.push((step, loss));
                        println!("  step {step:>5}  loss {loss:>12.6}");
                    }
                }
            })
            .build(),
    );

    let began = Instant::now();
    let tasks: Vec<_> = (0..config.workers)
        .map(|worker| {
            let (barrier, training, data, config) = (
                barrier.clone(),
                training.clone(),
                data.clone(),
                config.clone(),
            );
            tokio::spawn(async move {
                // The shard this worker took at each step.
                let mut shards = Vec::with_capacity(config.steps);
                for round in 0..=config.steps {
                    let passed = barrier.wait().await.expect("nobody breaks this barrier");
                    if round == config.steps {
                        break; // the action has applied the last step
                    }
                    // The arrival index shards the work: one shard per index, every step.
                    let shard = passed.index();
                    shards.push(shard);
                    let params = training.lock().unwrap().params;
                    let (grad, loss) = shard_gradient(&params, &data[shard]);
                    // Yield now and then so arrival orders (and indices) vary between steps.
                    if (round + worker) % 3 == 0 {
                        tokio::task::yield_now().await;
                    }
                    let mut t = training.lock().unwrap();
                    t.grads[shard] = grad;
                    t.losses[shard] = loss;
                }
                (worker, shards)
            })
        })
        .collect();
    let mut shards_taken = Vec::new();
    for task in tasks {
        shards_taken.push(task.await.expect("worker panicked"));
    }
    let elapsed = began.elapsed();

    let t = training.lock().unwrap();
    println!();
    println!("shards each worker took (index() decides, step by step):");
    for (worker, shards) in &shards_taken {
        let mut taken = vec![0usize; config.workers];
        for &shard in shards {
            taken[shard] += 1;
        }
        let first = &shards[..shards.len().min(3)];
        println!("  worker {worker}: shards of steps 1-3 {first:?}, counts per shard {taken:?}");
    }
    println!();
    let fmt = |p: &Params| {
        p.iter()
            .map(|v| format!("{v:>8.4}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut truth = [0.0; D + 1];
    truth[..D].copy_from_slice(&TRUE_W);
    truth[D] = TRUE_B;
    println!("  learned    [w.. b] {}", fmt(&t.params));
    println!("  true       [w.. b] {}", fmt(&truth));
    let reference = sequential(&config, &data);
    println!("  sequential [w.. b] {}", fmt(&reference));
    println!(
        "{} steps in {:.1} ms ({} barrier generations)",
        t.step,
        elapsed.as_secs_f64() * 1000.0,
        barrier.generation()
    );

    let final_loss = t.history.last().map_or(f64::NAN, |h| h.1);
    let exact = t
        .params
        .iter()
        .zip(&reference)
        .all(|(a, b)| a.to_bits() == b.to_bits());
    let close = t
        .params
        .iter()
        .zip(&truth)
        .all(|(a, b)| (a - b).abs() < 0.01);
    // At each step, the workers' shards are a permutation of 0..workers.
    let every_shard_each_step = (0..config.steps).all(|step| {
        let mut shards: Vec<usize> = shards_taken.iter().map(|(_, s)| s[step]).collect();
        shards.sort_unstable();
        shards.into_iter().eq(0..config.workers)
    });
    let mut ok = true;
    let mut check = |pass: bool, what: &str| {
        println!("  [{}] {what}", if pass { "ok" } else { "FAILED" });
        ok &= pass;
    };
    check(t.step == config.steps, "the action ran once per step");
    check(
        every_shard_each_step,
        "every shard was worked on once per step",
    );
    check(exact, "weights match the sequential run bit for bit");
    if config.steps >= 100 {
        check(
            final_loss < 0.01 && close,
            &format!(
                "converged: final loss {final_loss:.6} < 0.01, weights within 0.01 of the truth"
            ),
        );
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
