//! The [`agnostic_barrier`] semantics across processes and hosts: a barrier kept in Redis.
//!
//! Parties in different processes, on one host or many, meet at a [`RedisBarrier`] identified
//! by its name: what Python's `multiprocessing.Barrier` gives on one host, on as many hosts as
//! share a Redis server. Each release gives the core's [`BarrierWaitResult`] (index, leader,
//! generation); an action runs once per generation in the leader's process; deadlines,
//! [`abort()`](RedisBarrier::abort) and [`reset()`](RedisBarrier::reset) break and restore it
//! for every process; a dropped wait withdraws its arrival. Arrivals hold leases in Redis's own
//! clock, so a party whose process is killed, frozen or cut off breaks the barrier with
//! [`BreakReason::PartyLost`], naming it, instead of hanging everyone else.
//!
//! ```no_run
//! use std::time::Duration;
//! use agnostic_barrier_redis::{RedisBarrier, RedisWaitError};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // In each of the 16 load generator processes, on any host:
//! let client = redis::Client::open("redis://redis.internal/")?;
//! let barrier = RedisBarrier::builder("load-test/start", 16)
//!     .lease(Duration::from_secs(3))
//!     .connect(client)
//!     .await?;
//! // ... connect to the system under test, warm up ...
//! match barrier.wait().timeout(tokio::time::sleep(Duration::from_secs(60))).await {
//!     Ok(passed) => println!("generator {} fires now", passed.index()),
//!     Err(RedisWaitError::Broken(broken)) => eprintln!("not starting: {broken}"),
//!     Err(other) => return Err(other.into()),
//! }
//! # Ok(()) }
//! ```
//!
//! # How it works
//!
//! The state lives under `agnostic-barrier:{<name>}:`, in one hash (the count, the arrivals of
//! the generation being filled with their leases, each handle's latest arrival) plus a record
//! for each generation that waits for its leader's action or broke, and changes only through
//! Lua scripts (arrive, withdraw, renew, release, expire, abort/reset, read), so every decision
//! is atomic, and retried calls never arrive twice. An arrival costs Redis one script of three
//! commands (read, `TIME`, write); the one completing a generation also reads the others'
//! entries and publishes the release. Each handle holds one RESP3 connection for
//! commands and its subscription to the barrier's channel, and fans each release out to its
//! local waits; every `lease / 3` it renews its arrivals' leases and re-checks their state, so a
//! lost message delays a release but never hangs it. Each release costs the completing party one
//! round trip and every other party one published message.
//!
//! # Redis permissions
//!
//! A Redis user limited to the barrier's keys and channels is enough (the commands after
//! `+client` are the ones the scripts call; [`close()`](RedisBarrier::close) also sends `HDEL`):
//!
//! ```text
//! ACL SETUSER barrier on >password ~agnostic-barrier:* &agnostic-barrier:* -@all
//!     +evalsha +script|load +subscribe +unsubscribe +publish +ping +hello +client
//!     +time +pexpireat +hget +hmget +hset +hdel +hgetall
//! ```
//!
//! No keyspace notifications are needed. Every key has a TTL of at least
//! `max(10 × lease, 60 s)`, renewed when the barrier is used, so an idle barrier leaves nothing.
//!
//! # Compared with the core barrier
//!
//! Use [`agnostic_barrier::Barrier`] when the parties share a process: it is thousands of times
//! faster. Use this one when they do not. Beyond the core's semantics it names who broke the
//! barrier and who was waiting ([`Broken`]), and it detects lost parties. It cannot let the
//! action call the barrier's async methods, and the getters are async.
//!
//! # Features
//!
//! - `tokio` (default): the background work runs on tokio; `connect()` inside a tokio runtime.
//! - `smol`: the background work runs on smol's global executor (async-std users take this).
//!   With both, tokio is used inside a tokio runtime and smol elsewhere, as the `redis` crate
//!   does.

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod barrier;
mod builder;
mod error;
mod keys;
mod runtime;
mod scripts;
mod session;
mod wait;

pub use agnostic_barrier::BarrierWaitResult;
pub use barrier::RedisBarrier;
pub use builder::RedisBarrierBuilder;
pub use error::{BreakReason, Broken, RedisWaitError};
pub use redis;
pub use wait::{RedisWait, RedisWaitTimeout};
