//! Parties (SPEC rules 14-17) on every executor, as `runtimes.rs` does for the anonymous wait:
//! tokio multi-thread and current-thread, async-std, smol, and `futures::executor` with a
//! thread per task. A pool that grows and shrinks between phases; a worker that panics breaks
//! the barrier and leaves; a worker cancelled with its task leaves quietly; a `timeout` retried
//! around a party's wait never loses a pass; split-phase arrivals across tasks.

#[macro_use]
mod common;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agnostic_barrier::{Barrier, BarrierWaitResult, OwnedParty, WaitError};
use common::parties::{by_generation, counting_runs};
use common::{assert_generations, assert_one_generation, install_panic_hook, QuietPanic};
use futures::channel::oneshot;
use futures::FutureExt;

/// What a scenario needs from an executor.
trait Runtime: 'static {
    /// A spawned task.
    type Task<T: Send + 'static>: Send;
    /// Runs `fut` to completion inside the runtime.
    fn block_on<F: Future>(fut: F) -> F::Output;
    fn spawn<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> Self::Task<T>;
    /// The task's output, or `Err(())` if it panicked.
    async fn join<T: Send + 'static>(task: Self::Task<T>) -> Result<T, ()>;
    /// Cancels the task, as the runtime does (its future is dropped, maybe later).
    async fn cancel<T: Send + 'static>(task: Self::Task<T>);
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static;
    /// The runtime's own timeout: `None` if `d` passed first (and `fut` was dropped). Runtimes
    /// without one race `fut` against their `sleep`.
    fn timeout<F>(d: Duration, fut: F) -> impl Future<Output = Option<F::Output>> + Send
    where
        F: Future + Send,
        F::Output: Send,
    {
        unless_first(Self::sleep(d), fut)
    }
}

struct TokioMultiThread;
struct TokioCurrentThread;
struct AsyncStd;
struct Smol;
struct FuturesExecutor;

impl Runtime for TokioMultiThread {
    type Task<T: Send + 'static> = tokio::task::JoinHandle<T>;
    fn block_on<F: Future>(fut: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(fut)
    }
    fn spawn<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> Self::Task<T> {
        tokio::spawn(fut)
    }
    async fn join<T: Send + 'static>(task: Self::Task<T>) -> Result<T, ()> {
        task.await
            .map_err(|error| assert!(error.is_panic(), "{error}"))
    }
    async fn cancel<T: Send + 'static>(task: Self::Task<T>) {
        task.abort();
        match task.await {
            Err(error) => assert!(error.is_cancelled(), "{error}"),
            Ok(_) => panic!("the task finished"),
        }
    }
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep(d)
    }
    #[allow(clippy::manual_async_fn)] // `async fn` cannot promise `Send`
    fn timeout<F>(d: Duration, fut: F) -> impl Future<Output = Option<F::Output>> + Send
    where
        F: Future + Send,
        F::Output: Send,
    {
        async move { tokio::time::timeout(d, fut).await.ok() }
    }
}

impl Runtime for TokioCurrentThread {
    type Task<T: Send + 'static> = tokio::task::JoinHandle<T>;
    fn block_on<F: Future>(fut: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(fut)
    }
    fn spawn<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> Self::Task<T> {
        tokio::spawn(fut)
    }
    async fn join<T: Send + 'static>(task: Self::Task<T>) -> Result<T, ()> {
        TokioMultiThread::join(task).await
    }
    async fn cancel<T: Send + 'static>(task: Self::Task<T>) {
        TokioMultiThread::cancel(task).await
    }
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
        TokioMultiThread::sleep(d)
    }
    fn timeout<F>(d: Duration, fut: F) -> impl Future<Output = Option<F::Output>> + Send
    where
        F: Future + Send,
        F::Output: Send,
    {
        TokioMultiThread::timeout(d, fut)
    }
}

impl Runtime for AsyncStd {
    type Task<T: Send + 'static> = async_std::task::JoinHandle<T>;
    fn block_on<F: Future>(fut: F) -> F::Output {
        async_std::task::block_on(fut)
    }
    fn spawn<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> Self::Task<T> {
        async_std::task::spawn(fut)
    }
    async fn join<T: Send + 'static>(task: Self::Task<T>) -> Result<T, ()> {
        // A panicked task's handle resumes the panic.
        AssertUnwindSafe(task).catch_unwind().await.map_err(drop)
    }
    async fn cancel<T: Send + 'static>(task: Self::Task<T>) {
        task.cancel().await;
    }
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
        async_std::task::sleep(d)
    }
    #[allow(clippy::manual_async_fn)] // `async fn` cannot promise `Send`
    fn timeout<F>(d: Duration, fut: F) -> impl Future<Output = Option<F::Output>> + Send
    where
        F: Future + Send,
        F::Output: Send,
    {
        async move { async_std::future::timeout(d, fut).await.ok() }
    }
}

/// A smol executor run by two threads of its own.
fn smol_executor() -> &'static smol::Executor<'static> {
    static EXECUTOR: smol::Executor<'static> = smol::Executor::new();
    static START: std::sync::Once = std::sync::Once::new();
    START.call_once(|| {
        for _ in 0..2 {
            std::thread::spawn(|| smol::block_on(EXECUTOR.run(std::future::pending::<()>())));
        }
    });
    &EXECUTOR
}

impl Runtime for Smol {
    type Task<T: Send + 'static> = smol::Task<T>;
    fn block_on<F: Future>(fut: F) -> F::Output {
        smol::block_on(fut)
    }
    fn spawn<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> Self::Task<T> {
        smol_executor().spawn(fut)
    }
    async fn join<T: Send + 'static>(task: Self::Task<T>) -> Result<T, ()> {
        AssertUnwindSafe(task).catch_unwind().await.map_err(drop)
    }
    async fn cancel<T: Send + 'static>(task: Self::Task<T>) {
        drop(task); // smol cancels a task when its handle is dropped
    }
    #[allow(clippy::manual_async_fn)] // `async fn` cannot promise `Send + 'static`
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
        async move {
            smol::Timer::after(d).await;
        }
    }
}

/// A task of `futures::executor`: a thread of its own running `block_on`.
struct ThreadTask<T> {
    output: oneshot::Receiver<Result<Option<T>, ()>>,
    abort: futures::future::AbortHandle,
}

impl Runtime for FuturesExecutor {
    type Task<T: Send + 'static> = ThreadTask<T>;
    fn block_on<F: Future>(fut: F) -> F::Output {
        futures::executor::block_on(fut)
    }
    fn spawn<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> Self::Task<T> {
        let (fut, abort) = futures::future::abortable(fut);
        let (tx, output) = oneshot::channel();
        std::thread::spawn(move || {
            // A panic unwinds out of `block_on`, dropping the future on the way.
            let out = std::panic::catch_unwind(AssertUnwindSafe(|| {
                futures::executor::block_on(fut).ok()
            }));
            let _ = tx.send(out.map_err(drop));
        });
        ThreadTask { output, abort }
    }
    async fn join<T: Send + 'static>(task: Self::Task<T>) -> Result<T, ()> {
        task.output
            .await
            .unwrap()
            .map(|out| out.expect("not cancelled"))
    }
    async fn cancel<T: Send + 'static>(task: Self::Task<T>) {
        task.abort.abort();
        assert!(task.output.await.unwrap().unwrap().is_none());
    }
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        std::thread::spawn(move || {
            std::thread::sleep(d);
            let _ = tx.send(());
        });
        async move {
            let _ = rx.await;
        }
    }
}

/// `fut`'s output, or `None` if `timer` finished first.
fn unless_first<F: Future>(
    timer: impl Future<Output = ()>,
    fut: F,
) -> impl Future<Output = Option<F::Output>> {
    let timer = async move {
        timer.await;
        None
    };
    futures_lite::future::or(async move { Some(fut.await) }, timer)
}

/// `fut`'s output, or `None` if `d` passed first (for futures that need not be `Send`).
async fn within<R: Runtime, F: Future>(d: Duration, fut: F) -> Option<F::Output> {
    unless_first(R::sleep(d), fut).await
}

/// Waits (at most 10 s) until `done` holds.
async fn until<R: Runtime>(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
        R::sleep(Duration::from_millis(1)).await;
    }
}

// ---- the scenarios -----------------------------------------------------------------------------

/// A worker: `rounds` phases, each a `party.wait()` (or, with `split`, an `arrive()` then the
/// token's wait, with other work between); at the start of phase `recruit_at`, it joins a
/// newcomer and sends its party to the pool. Then it leaves (its party is dropped).
async fn worker<R: Runtime>(
    mut party: OwnedParty,
    rounds: u64,
    split: bool,
    recruit: Option<(u64, Arc<Barrier>, oneshot::Sender<OwnedParty>)>,
) -> Vec<BarrierWaitResult> {
    let mut recruit = recruit;
    let mut results = Vec::new();
    for round in 0..rounds {
        if recruit.as_ref().is_some_and(|(at, _, _)| *at == round) {
            let (_, barrier, send) = recruit.take().unwrap();
            // Joined before this worker arrives in `round`: it counts from `round`.
            send.send(barrier.join_owned()).unwrap();
        }
        let passed = if split {
            let token = party.arrive().unwrap();
            R::sleep(Duration::from_micros(200)).await;
            token.await
        } else {
            party.wait().await
        };
        results.push(passed.unwrap());
    }
    results
}

/// A pool that grows and shrinks between phases: four workers of 3, 5, 8 and 8 phases (the
/// last one in split phase), and a newcomer joined by the third at its phase 2, for 4 phases.
/// Each generation has the parties expected of it, indices a permutation, one leader, and the
/// action once.
async fn pool_grows_and_shrinks<R: Runtime>() {
    let (barrier, runs) = counting_runs(Barrier::dynamic_builder());
    let barrier = Arc::new(barrier);
    let parties: Vec<_> = (0..4).map(|_| barrier.clone().join_owned()).collect();
    let (recruit, recruited) = oneshot::channel();
    let mut recruit = Some(recruit);
    let mut tasks = Vec::new();
    for (i, (party, rounds)) in parties.into_iter().zip([3, 5, 8, 8]).enumerate() {
        let recruit = match i {
            2 => recruit.take().map(|send| (2, barrier.clone(), send)),
            _ => None,
        };
        tasks.push(R::spawn(worker::<R>(party, rounds, i == 3, recruit)));
    }
    let newcomer = recruited.await.unwrap();
    tasks.push(R::spawn(worker::<R>(newcomer, 4, false, None)));
    let mut all = Vec::new();
    let mut first_of_each = Vec::new();
    for task in tasks {
        let results = R::join(task).await.unwrap();
        first_of_each.push(results[0].generation());
        all.extend(results);
    }
    assert_eq!(
        first_of_each,
        [0, 0, 0, 0, 2],
        "the newcomer counts from generation 2"
    );
    let by_generation = by_generation(&all);
    let expected = [4, 4, 5, 4, 4, 3, 2, 2];
    assert_eq!(by_generation.len(), expected.len());
    for ((generation, results), n) in by_generation.iter().zip(expected) {
        assert_eq!(results.len(), n, "generation {generation}");
        assert_one_generation(results, n);
    }
    assert_eq!(runs.load(SeqCst), expected.len());
    assert_eq!((barrier.parties(), barrier.generation()), (0, 8));
    assert!(!barrier.is_broken());
}

/// Once `panic_now` fires, panics while it holds `party` (if its barrier has its three parties,
/// as it does); otherwise waits with it.
async fn panics_holding(
    mut party: OwnedParty,
    panic_now: oneshot::Receiver<()>,
) -> Result<BarrierWaitResult, WaitError> {
    panic_now.await.unwrap();
    if party.barrier().parties() == 3 {
        std::panic::panic_any(QuietPanic(15));
    }
    party.wait().await
}

/// A worker that panics while it holds its party (made before its task or inside it) breaks
/// the barrier: the others get `Broken` instead of going on without its work. It also left:
/// after a reset, the others pass without it.
async fn panicking_worker_breaks_the_barrier_and_leaves<R: Runtime>() {
    install_panic_hook();
    for inside in [false, true] {
        let barrier = Arc::new(Barrier::new(1)); // this task
        let mut healthy = barrier.clone().join_owned();
        let (go, go_rx) = oneshot::channel::<()>();
        let healthy = R::spawn(async move {
            let first = healthy.wait().await;
            go_rx.await.unwrap(); // once the barrier is reset
            (first, healthy.wait().await)
        });
        until::<R>("the healthy worker arrived", || barrier.n_waiting() == 1).await;
        let (joined_tx, joined) = oneshot::channel();
        let (panic_now, panic_rx) = oneshot::channel::<()>();
        let doomed = if inside {
            let barrier = barrier.clone();
            R::spawn(async move {
                let party = barrier.join_owned();
                joined_tx.send(()).unwrap();
                panics_holding(party, panic_rx).await
            })
        } else {
            let party = barrier.clone().join_owned();
            joined_tx.send(()).unwrap();
            R::spawn(panics_holding(party, panic_rx))
        };
        joined.await.unwrap();
        panic_now.send(()).unwrap();
        assert_eq!(
            barrier.wait().await,
            Err(WaitError::Broken),
            "inside: {inside}"
        );
        assert!(R::join(doomed).await.is_err(), "it panicked");
        until::<R>("the dead party left", || barrier.parties() == 2).await;
        assert!(barrier.is_broken());
        barrier.reset();
        go.send(()).unwrap();
        let mine = barrier.wait().await.unwrap();
        let (first, second) = R::join(healthy).await.unwrap();
        assert_eq!(first, Err(WaitError::Broken));
        assert_one_generation(&[mine, second.unwrap()], 2);
    }
}

/// A worker cancelled with its task (tokio's `abort()`, async-std's `cancel()`, dropping a
/// smol task, an aborted future on `futures::executor`) leaves quietly: its arrival is
/// withdrawn, nothing breaks, and the others no longer wait for it.
async fn cancelled_worker_leaves_quietly<R: Runtime>() {
    let barrier = Arc::new(Barrier::new(1));
    let mut party = barrier.clone().join_owned();
    let task = R::spawn(async move { party.wait().await });
    until::<R>("the worker arrived", || barrier.n_waiting() == 1).await;
    R::cancel(task).await;
    until::<R>("the worker left", || barrier.parties() == 1).await;
    assert!(!barrier.is_broken());
    assert_eq!(barrier.n_waiting(), 0, "its arrival was withdrawn");
    assert!(barrier.wait().await.unwrap().is_leader());
}

/// `timeout(1 ms, party.wait())` retried until it passes, against a party that arrives a
/// little later and whose action takes 2 ms (so the timeout often drops a wait whose
/// generation is sealed): the looper always gets its pass.
async fn timeout_retried_around_a_party_wait_never_loses_a_pass<R: Runtime>() {
    for round in 0..20 {
        let barrier = Arc::new(
            Barrier::builder(1)
                .action(|| std::thread::sleep(Duration::from_millis(2)))
                .build(),
        );
        let mut party = barrier.clone().join_owned();
        let looper = R::spawn(async move {
            loop {
                if let Some(passed) = R::timeout(Duration::from_millis(1), party.wait()).await {
                    return passed;
                }
            }
        });
        R::sleep(Duration::from_micros(round % 4 * 500)).await;
        let mine = barrier.wait().await.unwrap();
        let theirs = within::<R, _>(Duration::from_secs(10), R::join(looper))
            .await
            .expect("the looper lost its pass")
            .unwrap();
        assert_one_generation(&[mine, theirs.unwrap()], 2);
    }
}

/// Tasks arrive with `arrive()`, do other work, then await the token, round after round.
async fn split_phase_across_tasks<R: Runtime>() {
    const TASKS: usize = 4;
    const ROUNDS: u64 = 10;
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let barrier = barrier.clone();
            R::spawn(async move {
                let mut results = Vec::new();
                for round in 0..ROUNDS {
                    let token = barrier.arrive().unwrap();
                    assert_eq!(token.generation(), round);
                    R::sleep(Duration::from_micros(100 * i as u64)).await; // other work
                    results.push(token.await.unwrap());
                }
                results
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(R::join(task).await.unwrap());
    }
    assert_eq!(assert_generations(&all, TASKS), ROUNDS);
}

macro_rules! runtime_tests {
    ($runtime:ident: $($scenario:ident => $name:ident),* $(,)?) => {
        $(
            #[test]
            #[cfg_attr(miri, ignore)]
            fn $name() {
                $runtime::block_on($scenario::<$runtime>());
            }
        )*
    };
}

runtime_tests!(TokioMultiThread:
    pool_grows_and_shrinks => tokio_multi_thread_pool_grows_and_shrinks,
    panicking_worker_breaks_the_barrier_and_leaves
        => tokio_multi_thread_panicking_worker_breaks_the_barrier_and_leaves,
    cancelled_worker_leaves_quietly => tokio_multi_thread_aborted_worker_leaves_quietly,
    timeout_retried_around_a_party_wait_never_loses_a_pass
        => tokio_multi_thread_timeout_retried_never_loses_a_pass,
    split_phase_across_tasks => tokio_multi_thread_split_phase_across_tasks,
);
runtime_tests!(TokioCurrentThread:
    pool_grows_and_shrinks => tokio_current_thread_pool_grows_and_shrinks,
    panicking_worker_breaks_the_barrier_and_leaves
        => tokio_current_thread_panicking_worker_breaks_the_barrier_and_leaves,
    cancelled_worker_leaves_quietly => tokio_current_thread_aborted_worker_leaves_quietly,
    timeout_retried_around_a_party_wait_never_loses_a_pass
        => tokio_current_thread_timeout_retried_never_loses_a_pass,
    split_phase_across_tasks => tokio_current_thread_split_phase_across_tasks,
);
runtime_tests!(AsyncStd:
    pool_grows_and_shrinks => async_std_pool_grows_and_shrinks,
    panicking_worker_breaks_the_barrier_and_leaves
        => async_std_panicking_worker_breaks_the_barrier_and_leaves,
    cancelled_worker_leaves_quietly => async_std_cancelled_worker_leaves_quietly,
    timeout_retried_around_a_party_wait_never_loses_a_pass
        => async_std_timeout_retried_never_loses_a_pass,
    split_phase_across_tasks => async_std_split_phase_across_tasks,
);
runtime_tests!(Smol:
    pool_grows_and_shrinks => smol_pool_grows_and_shrinks,
    panicking_worker_breaks_the_barrier_and_leaves
        => smol_panicking_worker_breaks_the_barrier_and_leaves,
    cancelled_worker_leaves_quietly => smol_dropped_worker_task_leaves_quietly,
    timeout_retried_around_a_party_wait_never_loses_a_pass
        => smol_timeout_retried_never_loses_a_pass,
    split_phase_across_tasks => smol_split_phase_across_tasks,
);
runtime_tests!(FuturesExecutor:
    pool_grows_and_shrinks => futures_executor_pool_grows_and_shrinks,
    panicking_worker_breaks_the_barrier_and_leaves
        => futures_executor_panicking_worker_breaks_the_barrier_and_leaves,
    cancelled_worker_leaves_quietly => futures_executor_aborted_worker_leaves_quietly,
    timeout_retried_around_a_party_wait_never_loses_a_pass
        => futures_executor_timeout_retried_never_loses_a_pass,
    split_phase_across_tasks => futures_executor_split_phase_across_tasks,
);

#[test]
fn futures_local_pool_parties_join_and_leave_on_one_thread() {
    // One thread, no runtime: three parties pass phases; one leaves after two.
    use futures::task::LocalSpawnExt;
    let barrier = Arc::new(Barrier::dynamic());
    let results = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut pool = futures::executor::LocalPool::new();
    for rounds in [2, 5, 5] {
        let mut party = barrier.clone().join_owned();
        let results = results.clone();
        pool.spawner()
            .spawn_local(async move {
                for _ in 0..rounds {
                    let passed = party.wait().await.unwrap();
                    results.lock().unwrap().push(passed);
                }
            })
            .unwrap();
    }
    pool.run();
    let by_generation = by_generation(results.lock().unwrap().iter());
    for (generation, results) in &by_generation {
        assert_one_generation(results, if *generation < 2 { 3 } else { 2 });
    }
    assert_eq!(by_generation.len(), 5);
    assert_eq!(barrier.parties(), 0);
}
