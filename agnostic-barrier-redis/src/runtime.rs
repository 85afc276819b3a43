//! The runtime the background work runs on: tokio inside a tokio runtime, smol otherwise (as
//! the `redis` crate chooses), and the timeouts that bound every Redis call.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

#[cfg(not(any(feature = "tokio", feature = "smol")))]
compile_error!("agnostic-barrier-redis needs the feature `tokio` or `smol`");

/// A boxed, sendable future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

#[derive(Clone, Debug)]
pub(crate) enum Runtime {
    #[cfg(feature = "tokio")]
    Tokio(tokio::runtime::Handle),
    #[cfg(feature = "smol")]
    Smol,
}

impl Runtime {
    /// The runtime to use from here, or `None` (only the `tokio` feature, outside a tokio
    /// runtime).
    pub(crate) fn locate() -> Option<Runtime> {
        #[cfg(feature = "tokio")]
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            return Some(Runtime::Tokio(handle));
        }
        #[cfg(feature = "smol")]
        return Some(Runtime::Smol);
        #[allow(unreachable_code)]
        None
    }

    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        match self {
            #[cfg(feature = "tokio")]
            Runtime::Tokio(handle) => drop(handle.spawn(task)),
            #[cfg(feature = "smol")]
            Runtime::Smol => smol::spawn(task).detach(),
        }
    }

    pub(crate) fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        match self {
            #[cfg(feature = "tokio")]
            Runtime::Tokio(handle) => {
                let _entered = handle.enter();
                Box::pin(tokio::time::sleep(duration))
            }
            #[cfg(feature = "smol")]
            Runtime::Smol => Box::pin(async move {
                smol::Timer::after(duration).await;
            }),
        }
    }

    /// Runs `call`, or fails with a timeout error after `limit`.
    pub(crate) async fn bounded<T>(
        &self,
        limit: Duration,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> redis::RedisResult<T> {
        let timer = self.sleep(limit);
        futures_lite::future::or(call, async move {
            timer.await;
            Err(timed_out())
        })
        .await
    }
}

pub(crate) fn timed_out() -> redis::RedisError {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "agnostic-barrier-redis: Redis did not answer in time",
    )
    .into()
}
