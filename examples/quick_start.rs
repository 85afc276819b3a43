//! Quick start: eight tokio tasks meet at a barrier three times; the action reports each step.
//!
//! Run with `cargo run --release --example quick_start` (it has no flags; `-- --help` says so).

use std::sync::Arc;

use agnostic_barrier::Barrier;
use clap::Parser;

/// Eight tokio tasks meet at a barrier three times; the action reports each step (no flags).
#[derive(Parser)]
#[command(name = "quick_start")]
struct Args {}

#[tokio::main]
async fn main() {
    Args::parse();
    let barrier = Arc::new(
        Barrier::builder(8)
            .action(|| println!("-- all 8 workers arrived; releasing them --"))
            .build(),
    );
    let mut tasks = Vec::new();
    for worker in 0..8u64 {
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            for step in 0..3 {
                // Workers take different times to reach the barrier.
                tokio::time::sleep(std::time::Duration::from_millis(worker * 3)).await;
                let passed = barrier.wait().await.expect("nobody breaks this barrier");
                if passed.is_leader() {
                    println!(
                        "step {step}: generation {} done, worker {worker} arrived last (index {})",
                        passed.generation(),
                        passed.index()
                    );
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("worker panicked");
    }
    println!("3 steps, 8 workers, {} generations", barrier.generation());
}
