//! A handle's session: its connection, its local arrivals, and the background work that keeps
//! them in step with Redis.
//!
//! Every `wait()` of a handle is an *entry* here, keyed by its random arrival id. Three things
//! move an entry's status forward (never back: a stale reply is ignored, see `Status::rank`):
//!
//! - the **worker** task, which runs the handle's queue in order: withdrawals (from dropped
//!   waits) first, then arrivals, so a withdrawal always reaches Redis before a later arrival;
//! - the **push handler**, which the connection calls for each pub/sub message: a release
//!   (`r <generation> <ids in index order>`) completes the entries it names at once; a break
//!   (`b`) or a lost connection makes the renewer re-check now;
//! - the **renewer** task, which every `lease / 3` renews the leases of the entries that have
//!   arrived and reads back their status in the same script: the re-check that turns a lost
//!   pub/sub message into a delay, never a hang.
//!
//! Waits learn of changes through one `event_listener::Event` (`changed`), the fan-out to the
//! local waiters. Dropping a wait only edits the queue under the mutex and notifies the worker,
//! so it never blocks.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use event_listener::Event;
use futures_lite::future;
use redis::aio::ConnectionManager;
use redis::{PushInfo, PushKind, RedisError, RedisResult, Value};

use agnostic_barrier::BarrierWaitResult;

use crate::error::{Broken, RedisWaitError};
use crate::keys::Keys;
use crate::runtime::Runtime;
use crate::scripts::{self, Status};

/// What every call of the handle needs, fixed at `connect()`.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) name: String,
    pub(crate) party: String,
    pub(crate) parties: usize,
    pub(crate) lease: Duration,
    pub(crate) has_action: bool,
    pub(crate) keys: Keys,
}

impl Config {
    /// Key TTL: at least `max(10 x lease, 60 s)` (SPEC-REDIS rule 7).
    pub(crate) fn ttl_ms(&self) -> u64 {
        (self.lease * 10).max(Duration::from_secs(60)).as_millis() as u64
    }

    pub(crate) fn lease_ms(&self) -> u64 {
        self.lease.as_millis() as u64
    }

    /// The renewal (and re-check) interval.
    pub(crate) fn renew_every(&self) -> Duration {
        self.lease / 3
    }

    /// The bound on each Redis call: the `redis` crate's 500 ms default, shorter for short
    /// leases so that a failing call is retried within the lease.
    pub(crate) fn call_timeout(&self) -> Duration {
        (self.lease / 2).clamp(Duration::from_millis(50), Duration::from_millis(500))
    }

    /// The pause before retrying a failed call.
    pub(crate) fn retry_pause(&self) -> Duration {
        (self.lease / 10).clamp(Duration::from_millis(10), Duration::from_millis(200))
    }
}

/// One local arrival.
#[derive(Debug)]
struct Entry {
    /// Its record's field in the state hash: one of the handle's slots, reused by its later
    /// arrivals once nothing refers to this one (`None` once a queued call took it over).
    slot: Option<Arc<str>>,
    /// The epoch of the state record it arrived under (`None` until the arrival's reply).
    epoch: Option<String>,
    /// Sent to Redis (or on its way): from then on a drop must withdraw it.
    sent: bool,
    status: Status,
    /// The error that ended the wait (Redis unreachable for a lease, `Mismatch`).
    error: Option<RedisWaitError>,
    /// When its calls began to fail, if they are failing.
    failing_since: Option<Instant>,
}

/// What the worker sends to Redis, in order.
#[derive(Debug)]
enum Command {
    Arrive(Arc<str>),
    /// An arrival to withdraw, and its slot (free again once the withdrawal is in).
    Withdraw(Arc<str>, Arc<str>),
    /// A leader's release whose wait was dropped while the call was on its way.
    Release(Arc<str>, Arc<str>, String),
    /// A panicking action whose wait was dropped before the break reached Redis.
    Panicked,
}

#[derive(Debug, Default)]
struct Local {
    entries: HashMap<Arc<str>, Entry>,
    queue: VecDeque<Command>,
    closed: bool,
    worker_done: bool,
    renewer_done: bool,
    /// Slots no arrival refers to any more, ready for the next ones.
    free_slots: Vec<Arc<str>>,
    /// How many slots the handle has made (`<token>.0`, `<token>.1`, ..).
    slots: usize,
}

impl Local {
    fn take_slot(&mut self, token: &str) -> Arc<str> {
        self.free_slots.pop().unwrap_or_else(|| {
            self.slots += 1;
            slot_name(token, self.slots - 1).into()
        })
    }
}

/// The name of the handle's `k`-th slot.
fn slot_name(token: &str, k: usize) -> String {
    format!("{token}.{k}")
}

/// The part of the session the connection's push handler holds: local state and events,
/// no connection (so the two do not keep each other alive).
#[derive(Debug, Default)]
pub(crate) struct Hub {
    /// This handle's random prefix of its slots' names.
    token: String,
    local: Mutex<Local>,
    /// A local entry changed: the waits re-check.
    pub(crate) changed: Event,
    /// The queue or `closed` changed: the worker looks.
    work: Event,
    /// Re-check now (a break was published, the connection dropped), or closing.
    kick: Event,
    /// The background tasks finished.
    done: Event,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, Local> {
        // A panic while the lock is held cannot leave `Local` half-edited in a way that matters
        // more than stopping would; carry on.
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called by the connection for each push message; must not block.
    fn on_push(&self, info: PushInfo) {
        match info.kind {
            PushKind::Message => {
                let Some(payload) = info.data.get(1).and_then(|v| scripts::text(v).ok()) else {
                    return;
                };
                if let Some(release) = payload.strip_prefix("r ") {
                    self.on_release(release);
                } else {
                    self.kick.notify(usize::MAX);
                }
            }
            PushKind::Disconnection => {
                self.kick.notify(usize::MAX);
            }
            _ => {}
        }
    }

    /// `<generation> <id0> <id1> ..`: the ids in index order; the last one is the leader.
    fn on_release(&self, release: &str) {
        let mut words = release.split(' ');
        let Some(Ok(generation)) = words.next().map(str::parse::<u64>) else {
            return;
        };
        let ids: Vec<&str> = words.collect();
        let mut local = self.lock();
        if local.entries.is_empty() {
            return;
        }
        let mut changed = false;
        for (index, id) in ids.iter().enumerate() {
            if let Some(entry) = local.entries.get_mut(*id) {
                let result = BarrierWaitResult::new(index, index + 1 == ids.len(), generation);
                changed |= advance(entry, Status::Released(result));
            }
        }
        // The next sealed generation's leader may now run its action.
        for entry in local.entries.values_mut() {
            if let Status::Sealed {
                generation: g,
                leader: true,
            } = entry.status
            {
                if g == generation + 1 {
                    changed |= advance(entry, Status::Lead);
                }
            }
        }
        drop(local);
        if changed {
            self.changed.notify(usize::MAX);
        }
    }

    /// Registers a new arrival and queues it for the worker.
    pub(crate) fn arrive(&self, id: Arc<str>) {
        let mut local = self.lock();
        let slot = local.take_slot(&self.token);
        local.entries.insert(
            id.clone(),
            Entry {
                slot: Some(slot),
                epoch: None,
                sent: false,
                status: Status::Waiting,
                error: None,
                failing_since: None,
            },
        );
        local.queue.push_back(Command::Arrive(id));
        drop(local);
        self.work.notify(1);
    }

    /// The slot of the arrival `id` if its wait still waits for its reply.
    fn awaits_arrival(&self, id: &str) -> Option<Arc<str>> {
        self.lock()
            .entries
            .get(id)
            .filter(|e| e.error.is_none() && e.epoch.is_none())
            .and_then(|e| e.slot.clone())
    }

    /// The slot of the arrival `id`.
    pub(crate) fn slot(&self, id: &str) -> Option<Arc<str>> {
        self.lock().entries.get(id).and_then(|e| e.slot.clone())
    }

    /// The epoch the arrival `id` was made under and its slot, for the calls that name it
    /// (empty if unknown: the scripts then find no such arrival).
    pub(crate) fn epoch_and_slot(&self, id: &str) -> (String, Arc<str>) {
        let local = self.lock();
        let entry = local.entries.get(id);
        (
            entry.and_then(|e| e.epoch.clone()).unwrap_or_default(),
            entry.and_then(|e| e.slot.clone()).unwrap_or_default(),
        )
    }

    /// Makes `slot` available to later arrivals: nothing refers to its arrival any more.
    fn free_slot(&self, slot: Arc<str>) {
        self.lock().free_slots.push(slot);
    }

    /// The epoch the arrival was made under.
    pub(crate) fn epoch(&self, id: &str) -> Option<String> {
        self.lock().entries.get(id).and_then(|e| e.epoch.clone())
    }

    /// Forgets an entry whose wait ended.
    pub(crate) fn forget(&self, id: &str) {
        let mut local = self.lock();
        if let Some(slot) = local.entries.remove(id).and_then(|e| e.slot) {
            local.free_slots.push(slot);
        }
    }

    /// A wait was dropped (or gave up): withdraw its arrival unless it has nothing to withdraw.
    /// Never blocks: the worker does the Redis call.
    pub(crate) fn abandon(&self, id: &Arc<str>) {
        let mut local = self.lock();
        let Some(mut entry) = local.entries.remove(id) else {
            return;
        };
        let slot = entry.slot.take();
        if !entry.sent || entry.error.is_some() {
            // Its arrival never left the queue: take it out, nothing reached Redis. (After an
            // error, the withdrawal queued then holds the slot.)
            local
                .queue
                .retain(|c| !matches!(c, Command::Arrive(queued) if queued == id));
            local.free_slots.extend(slot);
            return;
        }
        let Some(slot) = slot else {
            return;
        };
        match entry.status {
            // Released or broken: nothing to withdraw. A sealed non-leader: a drop after the
            // generation was sealed withdraws nothing (SPEC rule 1).
            Status::Released(_)
            | Status::Broken(_)
            | Status::Lost
            | Status::Mismatch(_)
            | Status::TimedOut
            | Status::Sealed { leader: false, .. } => {
                local.free_slots.push(slot);
                return;
            }
            // Still being filled (or the leader, whose loss breaks its generation).
            Status::Waiting | Status::Lead | Status::Sealed { leader: true, .. } => {}
        }
        local.queue.push_back(Command::Withdraw(id.clone(), slot));
        drop(local);
        self.work.notify(1);
    }

    /// Queues a release whose wait was dropped mid-call.
    pub(crate) fn release_later(&self, id: Arc<str>, epoch: String) {
        let mut local = self.lock();
        let Some(slot) = local.entries.remove(&id).and_then(|e| e.slot) else {
            return;
        };
        local.queue.push_back(Command::Release(id, slot, epoch));
        drop(local);
        self.work.notify(1);
    }

    /// Queues the break of a panicking action whose wait was dropped before it reached Redis.
    pub(crate) fn panicked_later(&self) {
        self.lock().queue.push_back(Command::Panicked);
        self.work.notify(1);
    }

    /// Stops the background work once the queue (withdrawals) is done.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.work.notify(usize::MAX);
        self.kick.notify(usize::MAX);
    }

    fn finished(&self) -> bool {
        let local = self.lock();
        local.worker_done && local.renewer_done
    }

    /// Sets an entry's status (forward only) and wakes the waits if it moved.
    fn set(&self, id: &str, status: Status, epoch: Option<&str>) {
        let mut local = self.lock();
        let Some(entry) = local.entries.get_mut(id) else {
            return;
        };
        // The first reply also changes the entry: a passed deadline acts once it is in.
        let mut changed = false;
        if let (Some(epoch), None) = (epoch, &entry.epoch) {
            entry.epoch = Some(epoch.to_owned());
            changed = true;
        }
        entry.failing_since = None;
        changed |= advance(entry, status);
        drop(local);
        if changed {
            self.changed.notify(usize::MAX);
        }
    }

    /// Notes a failed call for `id`; returns whether its calls have failed for one lease, when
    /// the wait gives up (SPEC-REDIS rule 7).
    fn failed(&self, id: &str, lease: Duration) -> bool {
        let mut local = self.lock();
        let Some(entry) = local.entries.get_mut(id) else {
            return true;
        };
        entry
            .failing_since
            .get_or_insert_with(Instant::now)
            .elapsed()
            >= lease
    }

    /// Ends an entry's wait with `error`; an arrival that may have reached Redis is withdrawn
    /// (retried until Redis is back, or its lease has lapsed).
    fn set_error(&self, id: &Arc<str>, error: RedisWaitError) {
        let mut local = self.lock();
        let Some(entry) = local.entries.get_mut(id) else {
            return;
        };
        if entry.error.is_some() || entry.status.rank() == FINAL {
            return;
        }
        entry.error = Some(error);
        if entry.sent {
            if let Some(slot) = entry.slot.take() {
                local.queue.push_back(Command::Withdraw(id.clone(), slot));
            }
        }
        drop(local);
        self.work.notify(1);
        self.changed.notify(usize::MAX);
    }

    /// Where the wait of `id` stands. Once it is done its entry is forgotten, as `forget` does.
    pub(crate) fn seen(&self, id: &str) -> Seen {
        let mut local = self.lock();
        match local.entries.get(id) {
            Some(entry) if entry.error.is_some() || entry.status.rank() == FINAL => {}
            Some(Entry {
                status: Status::Lead,
                ..
            }) => return Seen::Lead,
            _ => return Seen::Pending,
        }
        let Some(entry) = local.entries.remove(id) else {
            return Seen::Pending;
        };
        local.free_slots.extend(entry.slot);
        drop(local);
        Seen::Done(match entry.error {
            Some(error) => Err(error),
            None => outcome(entry.status),
        })
    }
}

/// Where a wait stands, from its entry.
#[derive(Debug)]
pub(crate) enum Seen {
    Pending,
    /// Its turn to run the action and release the generation.
    Lead,
    Done(Result<BarrierWaitResult, RedisWaitError>),
}

/// The rank of the statuses that end a wait.
const FINAL: u8 = 4;

/// A final status as the wait's result.
pub(crate) fn outcome(status: Status) -> Result<BarrierWaitResult, RedisWaitError> {
    match status {
        Status::Released(result) => Ok(result),
        Status::Broken(broken) => Err(RedisWaitError::Broken(broken)),
        Status::TimedOut => Err(RedisWaitError::TimedOut),
        Status::Mismatch(found) => Err(RedisWaitError::Mismatch { expected: 0, found }),
        Status::Lost | Status::Waiting | Status::Sealed { .. } | Status::Lead => {
            Err(RedisWaitError::Broken(Broken::state_lost()))
        }
    }
}

/// Moves an entry's status forward; returns whether it changed.
fn advance(entry: &mut Entry, status: Status) -> bool {
    if entry.error.is_some() || status.rank() < entry.status.rank() || entry.status.rank() == FINAL
    {
        return false;
    }
    if entry.status == status {
        return false;
    }
    entry.status = status;
    true
}

/// The handle's connection and background work.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) hub: Arc<Hub>,
    pub(crate) conn: ConnectionManager,
    pub(crate) rt: Runtime,
    pub(crate) config: Arc<Config>,
}

impl Session {
    /// Connects (RESP3, one connection for commands and the subscription), subscribes, and
    /// creates or checks the barrier's record.
    pub(crate) async fn connect(
        client: redis::Client,
        config: Config,
    ) -> Result<Session, RedisWaitError> {
        let Some(rt) = Runtime::locate() else {
            return Err(RedisWaitError::Redis(RedisError::from((
                redis::ErrorKind::Client,
                "agnostic-barrier-redis: connect() with the `tokio` feature needs a tokio runtime \
                 (or enable the `smol` feature)",
            ))));
        };
        let config = Arc::new(config);
        let hub = Arc::new(Hub {
            token: format!("{:016x}", crate::keys::random_u64()),
            ..Hub::default()
        });
        let info = client.get_connection_info().clone();
        let redis_settings = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(redis_settings))?;
        let weak = Arc::downgrade(&hub);
        let timeout = config.call_timeout();
        let manager_config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(timeout))
            .set_connection_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(config.renew_every())
            .set_automatic_resubscription()
            .set_push_sender(move |info: PushInfo| -> Result<(), ()> {
                if let Some(hub) = weak.upgrade() {
                    hub.on_push(info);
                }
                Ok(())
            });
        let limit = config.lease.max(Duration::from_secs(2));
        let mut conn = rt
            .bounded(
                limit,
                redis::aio::ConnectionManager::new_with_config(client, manager_config),
            )
            .await?;
        rt.bounded(timeout, conn.subscribe(&config.keys.events))
            .await?;
        let session = Session {
            hub,
            conn,
            rt,
            config,
        };
        session.info(true).await?;
        session.rt.spawn(session.clone().worker());
        session.rt.spawn(session.clone().renewer());
        Ok(session)
    }

    /// Runs `info.lua`: creates or checks the record (`connect`), or reads the getters.
    pub(crate) async fn info(&self, connect: bool) -> Result<Info, RedisWaitError> {
        let parties = if connect { self.config.parties } else { 0 };
        let reply: Value = self
            .call(
                self.script(&scripts::INFO)
                    .arg(parties)
                    .arg(crate::keys::random_id()),
            )
            .await?;
        let fields = scripts::items(&reply)?;
        let field = |i: usize| {
            fields
                .get(i)
                .ok_or_else(|| scripts::bad_reply("short info"))
                .and_then(scripts::text)
        };
        if field(1)? == "m" {
            return Err(RedisWaitError::Mismatch {
                expected: self.config.parties,
                found: field(2)?.parse().unwrap_or(0),
            });
        }
        let reason = field(3)?;
        let broken = if reason.is_empty() {
            None
        } else {
            Some(scripts::broken(&reason, &field(4)?, &field(5)?))
        };
        Ok(Info {
            generation: field(2)?.parse().unwrap_or(0),
            broken,
            waiting: scripts::decode_names(&field(6)?),
        })
    }

    /// An invocation of `script` on this barrier with what every script takes first (see
    /// `common.lua`): KEYS[1], the state hash, and ARGV[1], the key TTL.
    fn script(&self, script: &'static redis::Script) -> redis::ScriptInvocation<'static> {
        let mut invocation = script.key(&self.config.keys.state);
        invocation.arg(self.config.ttl_ms());
        invocation
    }

    /// One script call, bounded by the call timeout.
    pub(crate) async fn call(
        &self,
        invocation: &mut redis::ScriptInvocation<'_>,
    ) -> RedisResult<Value> {
        let mut conn = self.conn.clone();
        self.rt
            .bounded(
                self.config.call_timeout(),
                invocation.invoke_async::<Value>(&mut conn),
            )
            .await
    }

    /// `control.lua`: abort, reset, or the break after a panicking action.
    pub(crate) async fn control(&self, op: &str) -> Result<(), RedisWaitError> {
        self.call(
            self.script(&scripts::CONTROL)
                .arg(op)
                .arg(&self.config.party)
                .arg(self.config.parties)
                .arg(crate::keys::random_id()),
        )
        .await?;
        Ok(())
    }

    /// `release.lua`, after the leader's action returned.
    pub(crate) async fn release(
        &self,
        id: &str,
        slot: &str,
        epoch: &str,
    ) -> RedisResult<(String, Status)> {
        let reply = self
            .call(self.script(&scripts::RELEASE).arg(id).arg(epoch).arg(slot))
            .await?;
        scripts::epoch_status(&reply)
    }

    /// `expire.lua`: a deadline passed.
    pub(crate) async fn expire(
        &self,
        id: &str,
        slot: &str,
        epoch: &str,
    ) -> RedisResult<(String, Status)> {
        let reply = self
            .call(
                self.script(&scripts::EXPIRE)
                    .arg(id)
                    .arg(&self.config.party)
                    .arg(epoch)
                    .arg(slot),
            )
            .await?;
        scripts::epoch_status(&reply)
    }

    async fn arrive_call(&self, id: &str, slot: &str) -> RedisResult<(String, Status)> {
        let reply = self
            .call(
                self.script(&scripts::ARRIVE)
                    .arg(self.config.parties)
                    .arg(id)
                    .arg(&self.config.party)
                    .arg(self.config.lease_ms())
                    .arg(u8::from(self.config.has_action))
                    // A record created by this arrival takes its id as epoch.
                    .arg("")
                    .arg(slot),
            )
            .await?;
        scripts::epoch_status(&reply)
    }

    async fn withdraw_call(&self, id: &str, slot: &str) -> RedisResult<Value> {
        self.call(
            self.script(&scripts::WITHDRAW)
                .arg(id)
                .arg(&self.config.party)
                .arg(slot),
        )
        .await
    }

    /// Runs the queue: withdrawals (and dropped releases) first, then arrivals, so that none of
    /// this handle's withdrawals reaches Redis after one of its later arrivals.
    async fn worker(self) {
        loop {
            let listener = self.hub.work.listen();
            // Some(slots made) when closing with nothing left to do.
            let mut closing = None;
            let batch: Option<Vec<Command>> = {
                let mut local = self.hub.lock();
                if local.queue.is_empty() {
                    if local.closed {
                        closing = Some(local.slots);
                    }
                    None
                } else {
                    let batch: Vec<Command> = local.queue.drain(..).collect();
                    for command in &batch {
                        if let Command::Arrive(id) = command {
                            if let Some(entry) = local.entries.get_mut(id) {
                                entry.sent = true;
                            }
                        }
                    }
                    Some(batch)
                }
            };
            if let Some(slots) = closing {
                self.drop_records(slots).await;
                self.hub.lock().worker_done = true;
                self.hub.done.notify(usize::MAX);
                return;
            }
            let Some(batch) = batch else {
                listener.await;
                continue;
            };
            let mut arrivals = Vec::new();
            for command in batch {
                match command {
                    Command::Arrive(id) => arrivals.push(id),
                    // The slot is free again once the call is in; if it never gets in, the slot
                    // is not reused (its record is swept).
                    Command::Withdraw(id, slot) => {
                        if self
                            .retry_until_lease(|| self.withdraw_call(&id, &slot))
                            .await
                        {
                            self.hub.free_slot(slot);
                        }
                    }
                    Command::Release(id, slot, epoch) => {
                        if self
                            .retry_until_lease(|| async {
                                self.release(&id, &slot, &epoch).await.map(drop)
                            })
                            .await
                        {
                            self.hub.free_slot(slot);
                        }
                    }
                    Command::Panicked => {
                        self.retry_until_lease(|| async {
                            self.control("panicked").await.map_err(|e| match e {
                                RedisWaitError::Redis(e) => e,
                                _ => scripts::bad_reply("control"),
                            })
                        })
                        .await;
                    }
                }
            }
            // The arrivals go out together (the multiplexed connection pipelines them).
            let calls = arrivals.into_iter().map(|id| self.arrive_until_lease(id));
            join_all(calls.collect()).await;
        }
    }

    /// Closing: deletes the records in the handle's slots (best effort: what is left is swept
    /// a TTL later). Nothing else refers to them: the state's entries and generation records
    /// hold what the other handles need.
    async fn drop_records(&self, slots: usize) {
        if slots == 0 {
            return;
        }
        let mut hdel = redis::cmd("HDEL");
        hdel.arg(&self.config.keys.state);
        for k in 0..slots {
            hdel.arg(slot_name(&self.hub.token, k));
        }
        let mut conn = self.conn.clone();
        let _ = self
            .rt
            .bounded(
                self.config.call_timeout(),
                hdel.query_async::<Value>(&mut conn),
            )
            .await;
    }

    /// Retries a call that must reach Redis (a withdrawal) for up to one lease; after that the
    /// arrival's lease has lapsed and it is lost anyway. Returns whether the call got in.
    async fn retry_until_lease<T, F, Fut>(&self, mut call: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = RedisResult<T>>,
    {
        let start = Instant::now();
        while call().await.is_err() {
            if start.elapsed() > self.config.lease {
                return false;
            }
            self.rt.sleep(self.config.retry_pause()).await;
        }
        true
    }

    async fn arrive_until_lease(&self, id: Arc<str>) {
        loop {
            let Some(slot) = self.hub.awaits_arrival(&id) else {
                return; // dropped meanwhile (its withdrawal is queued), or ended
            };
            match self.arrive_call(&id, &slot).await {
                Ok((epoch, status)) => {
                    let status = match status {
                        Status::Mismatch(found) => {
                            self.hub.set_error(
                                &id,
                                RedisWaitError::Mismatch {
                                    expected: self.config.parties,
                                    found,
                                },
                            );
                            return;
                        }
                        other => other,
                    };
                    self.hub.set(&id, status, Some(&epoch));
                    return;
                }
                Err(error) => {
                    if self.hub.failed(&id, self.config.lease) {
                        self.hub.set_error(&id, RedisWaitError::Redis(error));
                        return;
                    }
                    self.rt.sleep(self.config.retry_pause()).await;
                }
            }
        }
    }

    /// Renews the leases of the arrivals every `lease / 3`, reading back their status.
    async fn renewer(self) {
        // Renewals are due `lease / 3` after the previous one *started*, and a failed one is
        // retried after a short pause, so a slow or failed call does not stretch the gap
        // between two renewals towards the lease.
        let mut due = Instant::now() + self.config.renew_every();
        loop {
            {
                let kick = self.hub.kick.listen();
                if self.hub.lock().closed {
                    break;
                }
                let left = due.saturating_duration_since(Instant::now());
                future::or(self.rt.sleep(left), kick).await;
            }
            if self.hub.lock().closed {
                break;
            }
            due = Instant::now() + self.config.renew_every();
            let ids: Vec<(Arc<str>, Arc<str>, String)> = {
                let local = self.hub.lock();
                local
                    .entries
                    .iter()
                    .filter(|(_, e)| e.error.is_none() && e.status.rank() < FINAL)
                    .filter_map(|(id, e)| Some((id.clone(), e.slot.clone()?, e.epoch.clone()?)))
                    .collect()
            };
            if ids.is_empty() {
                continue;
            }
            let mut invocation = self.script(&scripts::RENEW);
            invocation.arg(self.config.lease_ms());
            for (id, slot, _) in &ids {
                invocation.arg(&**slot).arg(&**id);
            }
            match self.call(&mut invocation).await {
                Ok(reply) => {
                    // `{epoch, status of id1, ..}`; an empty reply is as bad as any other.
                    let Some((epoch, statuses)) =
                        scripts::items(&reply).ok().and_then(<[Value]>::split_first)
                    else {
                        continue;
                    };
                    let epoch = scripts::text(epoch).ok();
                    for ((id, _, arrived_under), value) in ids.iter().zip(statuses) {
                        let status = match scripts::items(value).and_then(scripts::status) {
                            Ok(status) => status,
                            Err(_) => continue,
                        };
                        let status = if epoch.as_deref() != Some(arrived_under) {
                            Status::Lost
                        } else {
                            status
                        };
                        self.hub.set(id, status, None);
                    }
                }
                Err(error) => {
                    due = Instant::now() + self.config.retry_pause();
                    for (id, _, _) in &ids {
                        if self.hub.failed(id, self.config.lease) {
                            self.hub.set_error(id, RedisWaitError::Redis(error.clone()));
                        }
                    }
                }
            }
        }
        self.hub.lock().renewer_done = true;
        self.hub.done.notify(usize::MAX);
    }

    /// Waits (bounded) until the background work has finished its queue.
    pub(crate) async fn closed(&self) {
        let limit = self.config.lease + self.config.call_timeout();
        let wait = async {
            loop {
                let listener = self.hub.done.listen();
                if self.hub.finished() {
                    return;
                }
                listener.await;
            }
        };
        future::or(wait, self.rt.sleep(limit)).await;
    }
}

/// What `info.lua` reads.
#[derive(Debug)]
pub(crate) struct Info {
    pub(crate) generation: u64,
    pub(crate) broken: Option<Broken>,
    pub(crate) waiting: Vec<String>,
}

/// Awaits all of `futures`, polling them together.
async fn join_all<F: std::future::Future<Output = ()>>(futures: Vec<F>) {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for slot in &mut futures {
            if let Some(fut) = slot {
                if fut.as_mut().poll(cx).is_ready() {
                    *slot = None;
                } else {
                    pending = true;
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await
}
