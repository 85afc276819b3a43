//! The executors the async scenarios run on, and how a batch of tasks is run on each.

use std::future::Future;
use std::sync::Arc;
use std::thread;

pub enum Exec {
    TokioMt(tokio::runtime::Runtime),
    TokioCt(tokio::runtime::Runtime),
    AsyncStd,
    Smol(SmolPool),
}

/// A `smol::Executor` run by `threads` OS threads until the pool is dropped.
pub struct SmolPool {
    ex: Arc<smol::Executor<'static>>,
    stop: Option<smol::channel::Sender<()>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl SmolPool {
    pub fn new(threads: usize) -> Self {
        let ex = Arc::new(smol::Executor::new());
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let threads = (0..threads)
            .map(|_| {
                let ex = ex.clone();
                let stopped = stopped.clone();
                thread::spawn(move || {
                    let _ = smol::block_on(ex.run(stopped.recv()));
                })
            })
            .collect();
        SmolPool {
            ex,
            stop: Some(stop),
            threads,
        }
    }
}

impl Drop for SmolPool {
    fn drop(&mut self) {
        drop(self.stop.take()); // closes the channel: every `run` returns
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

pub const EXECS: [&str; 4] = ["tokio-mt", "tokio-ct", "async-std", "smol"];

/// An executor's name with its thread count, for table headers.
pub fn label(name: &str, workers: usize) -> String {
    match name {
        "tokio-ct" => "tokio-ct (1 thread)".into(),
        _ => format!(
            "{name} ({workers} {})",
            if workers == 1 { "thread" } else { "threads" }
        ),
    }
}

/// A tokio multi-thread runtime with `workers` worker threads.
pub fn tokio_multi_thread(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

impl Exec {
    /// `workers` threads for tokio multi-thread and the smol pool; async-std's were set by
    /// `ASYNC_STD_THREAD_COUNT` before it started (see `main`).
    pub fn new(name: &str, workers: usize) -> Exec {
        match name {
            "tokio-mt" => Exec::TokioMt(tokio_multi_thread(workers)),
            "tokio-ct" => Exec::TokioCt(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap(),
            ),
            "async-std" => Exec::AsyncStd,
            "smol" => Exec::Smol(SmolPool::new(workers)),
            _ => unreachable!(),
        }
    }

    /// Spawns every future as a task (from inside the executor, where it has threads of its
    /// own) and waits for all of them.
    pub fn run_all<F>(&self, futs: Vec<F>)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match self {
            Exec::TokioMt(rt) => rt.block_on(async {
                tokio::spawn(async move {
                    let tasks: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                })
                .await
                .unwrap();
            }),
            Exec::TokioCt(rt) => rt.block_on(async {
                let tasks: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
                for t in tasks {
                    t.await.unwrap();
                }
            }),
            Exec::AsyncStd => async_std::task::block_on(async_std::task::spawn(async move {
                let tasks: Vec<_> = futs.into_iter().map(async_std::task::spawn).collect();
                for t in tasks {
                    t.await;
                }
            })),
            Exec::Smol(pool) => {
                let ex = pool.ex.clone();
                smol::block_on(pool.ex.spawn(async move {
                    let tasks: Vec<_> = futs.into_iter().map(|f| ex.spawn(f)).collect();
                    for t in tasks {
                        t.await;
                    }
                }));
            }
        }
    }
}
