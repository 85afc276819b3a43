//! The same scenarios on every executor (SPEC rule 12: the library depends on no runtime and
//! never blocks an executor thread): N tasks x rounds, a quiet cancel through the runtime's own
//! timeout, abort, and a default timeout built on the runtime's sleep. Plus
//! `futures::executor` with no runtime at all.

#[macro_use]
mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agnostic_barrier::{Barrier, WaitError};
use common::{assert_generations, assert_one_generation, spawn};

/// What a scenario needs from an executor.
trait Runtime {
    /// Runs `fut` to completion inside the runtime.
    fn block_on<F: Future>(fut: F) -> F::Output;
    /// Spawns a task; the returned future resolves to its output.
    fn spawn<T: Send + 'static>(
        fut: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> + Send;
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static;
    /// The runtime's own timeout: `None` if `d` passed first (and `fut` was dropped).
    async fn timeout<F: Future>(d: Duration, fut: F) -> Option<F::Output>;
}

struct TokioMultiThread;
struct TokioCurrentThread;
struct AsyncStd;
struct Smol;

impl Runtime for TokioMultiThread {
    fn block_on<F: Future>(fut: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(fut)
    }
    fn spawn<T: Send + 'static>(
        fut: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> + Send {
        let handle = tokio::spawn(fut);
        async move { handle.await.unwrap() }
    }
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep(d)
    }
    async fn timeout<F: Future>(d: Duration, fut: F) -> Option<F::Output> {
        tokio::time::timeout(d, fut).await.ok()
    }
}

impl Runtime for TokioCurrentThread {
    fn block_on<F: Future>(fut: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(fut)
    }
    fn spawn<T: Send + 'static>(
        fut: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> + Send {
        TokioMultiThread::spawn(fut)
    }
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep(d)
    }
    async fn timeout<F: Future>(d: Duration, fut: F) -> Option<F::Output> {
        TokioMultiThread::timeout(d, fut).await
    }
}

impl Runtime for AsyncStd {
    fn block_on<F: Future>(fut: F) -> F::Output {
        async_std::task::block_on(fut)
    }
    fn spawn<T: Send + 'static>(
        fut: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> + Send {
        async_std::task::spawn(fut)
    }
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
        async_std::task::sleep(d)
    }
    async fn timeout<F: Future>(d: Duration, fut: F) -> Option<F::Output> {
        async_std::future::timeout(d, fut).await.ok()
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
    fn block_on<F: Future>(fut: F) -> F::Output {
        smol::block_on(fut)
    }
    fn spawn<T: Send + 'static>(
        fut: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> + Send {
        smol_executor().spawn(fut)
    }
    #[allow(clippy::manual_async_fn)] // `async fn` cannot promise `Send + 'static`
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
        async move {
            smol::Timer::after(d).await;
        }
    }
    async fn timeout<F: Future>(d: Duration, fut: F) -> Option<F::Output> {
        let timer = async move {
            smol::Timer::after(d).await;
            None
        };
        futures_lite::future::or(async move { Some(fut.await) }, timer).await
    }
}

/// N tasks pass the barrier round after round: each generation's indices are a permutation
/// and it has one leader.
async fn rounds<R: Runtime>(parties: usize, rounds: u64) {
    let barrier = Arc::new(Barrier::new(parties));
    let tasks: Vec<_> = (0..parties)
        .map(|_| {
            let barrier = barrier.clone();
            R::spawn(async move {
                let mut results = Vec::new();
                for round in 0..rounds {
                    let r = barrier.wait().await.unwrap();
                    assert_eq!(r.generation(), round);
                    results.push(r);
                }
                results
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await);
    }
    assert_eq!(assert_generations(&all, parties), rounds);
    assert_eq!(barrier.generation(), rounds);
}

/// The runtime's timeout drops the wait: the arrival is withdrawn, nothing breaks.
async fn cancel_via_runtime_timeout<R: Runtime>() {
    let barrier = Arc::new(Barrier::new(2));
    assert!(R::timeout(Duration::from_millis(10), barrier.wait())
        .await
        .is_none());
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.is_broken());
    // One more party is not enough: the barrier still needs two.
    let other = barrier.clone();
    let task = R::spawn(async move { other.wait().await });
    while barrier.n_waiting() < 1 {
        R::sleep(Duration::from_millis(1)).await;
    }
    let mine = barrier.wait().await.unwrap();
    assert_one_generation(&[mine, task.await.unwrap()], 2);
}

/// `abort()` wakes a spawned waiting task with `Broken`.
async fn abort_wakes_task<R: Runtime>() {
    let barrier = Arc::new(Barrier::new(3));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let barrier = barrier.clone();
            R::spawn(async move { barrier.wait().await })
        })
        .collect();
    while barrier.n_waiting() < 2 {
        R::sleep(Duration::from_millis(1)).await;
    }
    barrier.abort();
    for task in tasks {
        assert_eq!(task.await, Err(WaitError::Broken));
    }
    assert_eq!(barrier.wait().await, Err(WaitError::Broken));
}

/// A default timeout built on the runtime's sleep: parties that all arrive pass; a party left
/// alone times out and breaks the barrier for the others.
async fn default_timeout<R: Runtime + 'static>() {
    let generous = Arc::new(
        Barrier::builder(3)
            .timeout(Duration::from_secs(60), R::sleep)
            .build(),
    );
    let helpers: Vec<_> = (0..2)
        .map(|_| {
            let barrier = generous.clone();
            R::spawn(async move { barrier.wait().await })
        })
        .collect();
    let mut results = vec![generous.wait().await.unwrap()];
    for helper in helpers {
        results.push(helper.await.unwrap());
    }
    assert_one_generation(&results, 3);

    let short = Arc::new(
        Barrier::builder(3)
            .timeout(Duration::from_millis(20), R::sleep)
            .build(),
    );
    let other = short.clone();
    // This party replaces the default with a deadline that never comes.
    let waiter = R::spawn(async move { other.wait().timeout(std::future::pending::<()>()).await });
    while short.n_waiting() < 1 {
        R::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(short.wait().await, Err(WaitError::TimedOut));
    assert_eq!(waiter.await, Err(WaitError::Broken));
    assert!(short.is_broken());
}

macro_rules! runtime_tests {
    ($runtime:ident, $rounds:ident, $cancel:ident, $abort:ident, $timeout:ident) => {
        #[test]
        #[cfg_attr(miri, ignore)]
        fn $rounds() {
            $runtime::block_on(async {
                rounds::<$runtime>(8, 50).await;
                rounds::<$runtime>(64, 5).await;
                rounds::<$runtime>(1, 5).await;
            });
        }

        #[test]
        #[cfg_attr(miri, ignore)]
        fn $cancel() {
            $runtime::block_on(cancel_via_runtime_timeout::<$runtime>());
        }

        #[test]
        #[cfg_attr(miri, ignore)]
        fn $abort() {
            $runtime::block_on(abort_wakes_task::<$runtime>());
        }

        #[test]
        #[cfg_attr(miri, ignore)]
        fn $timeout() {
            $runtime::block_on(default_timeout::<$runtime>());
        }
    };
}

runtime_tests!(
    TokioMultiThread,
    tokio_multi_thread_rounds,
    tokio_multi_thread_cancel_via_timeout,
    tokio_multi_thread_abort,
    tokio_multi_thread_default_timeout
);
runtime_tests!(
    TokioCurrentThread,
    tokio_current_thread_rounds,
    tokio_current_thread_cancel_via_timeout,
    tokio_current_thread_abort,
    tokio_current_thread_default_timeout
);
runtime_tests!(
    AsyncStd,
    async_std_rounds,
    async_std_cancel_via_timeout,
    async_std_abort,
    async_std_default_timeout
);
runtime_tests!(
    Smol,
    smol_rounds,
    smol_cancel_via_timeout,
    smol_abort,
    smol_default_timeout
);

#[tokio::test]
#[cfg_attr(miri, ignore)]
async fn tokio_test_macro_current_thread() {
    // All parties on the test's single thread: a wait that blocked the thread would deadlock.
    let barrier = Barrier::new(16);
    let results = futures::future::join_all((0..16).map(|_| barrier.wait())).await;
    let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert_one_generation(&results, 16);
}

#[async_std::test]
#[cfg_attr(miri, ignore)]
async fn async_std_test_macro() {
    let barrier = Barrier::new(4);
    let results = futures::future::join_all((0..4).map(|_| barrier.wait())).await;
    let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert_one_generation(&results, 4);
}

// ---- no runtime at all ---------------------------------------------------------------------

#[test]
fn futures_block_on_without_runtime() {
    // One thread, no runtime: `join_all` polls all parties from one `block_on`.
    let barrier = Barrier::new(8);
    for round in 0..3 {
        let results =
            futures::executor::block_on(futures::future::join_all((0..8).map(|_| barrier.wait())));
        let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
        assert_one_generation(&results, 8);
        assert_eq!(results[0].generation(), round);
    }
}

#[test]
fn futures_local_pool_without_runtime() {
    use futures::task::LocalSpawnExt;
    let barrier = Arc::new(Barrier::new(8));
    let mut pool = futures::executor::LocalPool::new();
    let results = Arc::new(std::sync::Mutex::new(Vec::new()));
    for _ in 0..8 {
        let barrier = barrier.clone();
        let results = results.clone();
        pool.spawner()
            .spawn_local(async move {
                for _ in 0..10 {
                    let r = barrier.wait().await.unwrap();
                    results.lock().unwrap().push(r);
                }
            })
            .unwrap();
    }
    pool.run();
    assert_eq!(assert_generations(&results.lock().unwrap(), 8), 10);
}

#[test]
#[cfg_attr(miri, ignore)]
fn futures_block_on_threads_without_runtime() {
    let parties = 4;
    let barrier = Arc::new(Barrier::new(parties));
    let threads: Vec<_> = (0..parties)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                futures::executor::block_on(async {
                    let mut results = Vec::new();
                    for _ in 0..50 {
                        results.push(barrier.wait().await.unwrap());
                    }
                    results
                })
            })
        })
        .collect();
    let all: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(assert_generations(&all, parties), 50);
}

#[test]
fn hand_polled_waits_need_no_runtime() {
    let barrier = Barrier::new(2);
    let mut a = spawn(barrier.wait());
    assert_pending!(a.poll());
    let mut b = spawn(barrier.wait());
    let b = assert_ready_ok!(b.poll());
    assert!(a.is_woken());
    assert_one_generation(&[assert_ready_ok!(a.poll()), b], 2);
}
