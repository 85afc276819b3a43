//! The Lua scripts run directly, for decisions a race makes hard to reach through the API
//! (SPEC-REDIS rule 5: a withdrawal racing the completion is decided atomically).

mod common;

use redis::{Script, Value};

fn script(body: &str) -> Script {
    Script::new(&format!(
        "{}\n{}",
        include_str!("../src/scripts/common.lua"),
        body
    ))
}

const STATE: &str = "agnostic-barrier:{scripts}:state";
const TTL: &str = "60000";

fn arrive(conn: &mut redis::Connection, id: &str, party: &str) -> Value {
    script(include_str!("../src/scripts/arrive.lua"))
        .key(STATE)
        .arg(TTL)
        .arg(2)
        .arg(id)
        .arg(party)
        .arg(10_000)
        .arg(0)
        .arg("epoch")
        .invoke(conn)
        .unwrap()
}

fn withdraw(conn: &mut redis::Connection, id: &str, party: &str) -> i64 {
    script(include_str!("../src/scripts/withdraw.lua"))
        .key(STATE)
        .arg(TTL)
        .arg(id)
        .arg(party)
        .invoke(conn)
        .unwrap()
}

fn broken(server: &common::RedisServer) -> bool {
    server
        .cmd::<Option<String>>(&["HGET", STATE, "broken"])
        .unwrap()
        .is_some()
}

#[test]
fn withdrawing_the_leader_of_a_released_generation_does_nothing() {
    let server = server!();
    let mut conn = server.client().get_connection().unwrap();
    arrive(&mut conn, "0f1", "b");
    arrive(&mut conn, "0a2", "a"); // completes and releases generation 0
    assert_eq!(withdraw(&mut conn, "0a2", "a"), 0, "too late: released");

    assert!(
        !broken(&server),
        "a released generation is not broken by a late drop"
    );
    assert_eq!(withdraw(&mut conn, "0f1", "b"), 0);
    assert!(!broken(&server));
}

#[test]
fn withdrawing_an_arrival_of_the_filling_generation_takes_it_out() {
    let server = server!();
    let mut conn = server.client().get_connection().unwrap();
    arrive(&mut conn, "0f1", "b");
    assert_eq!(withdraw(&mut conn, "0f1", "b"), 1);
    assert_eq!(withdraw(&mut conn, "0f1", "b"), 0, "only once");
    assert_eq!(
        withdraw(&mut conn, "0c4", "c"),
        0,
        "an id that never arrived"
    );
    // The generation needs two new arrivals.
    arrive(&mut conn, "0b3", "b");
    let n: String = server.cmd(&["HGET", STATE, "n"]).unwrap();
    assert_eq!(n, "1");
}

// The arrival's record, the entries and the leases as fields of the state hash (one read,
// TIME and one write per arrival): the paths a race or a fault reaches.

/// An arrival with every argument: `slot` (the record's field) defaults to the id.
fn arrive_with(
    conn: &mut redis::Connection,
    parties: usize,
    id: &str,
    party: &str,
    lease_ms: u64,
    has_action: bool,
    slot: Option<&str>,
) -> Vec<String> {
    let script = script(include_str!("../src/scripts/arrive.lua"));
    let mut invocation = script.key(STATE);
    invocation
        .arg(TTL)
        .arg(parties)
        .arg(id)
        .arg(party)
        .arg(lease_ms)
        .arg(u8::from(has_action))
        .arg("");
    if let Some(slot) = slot {
        invocation.arg(slot);
    }
    let reply: Vec<redis::Value> = invocation.invoke(conn).unwrap();
    reply.iter().map(text).collect()
}

fn text(value: &redis::Value) -> String {
    match value {
        redis::Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        redis::Value::Int(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

fn field(server: &common::RedisServer, name: &str) -> Option<String> {
    server.cmd(&["HGET", STATE, name]).unwrap()
}

#[test]
fn a_retried_arrival_returns_what_became_of_the_first() {
    let server = server!();
    let mut conn = server.client().get_connection().unwrap();
    let first = arrive_with(&mut conn, 2, "0a1", "a", 10_000, false, Some("ha.0"));
    assert_eq!(first[1..], ["w", "0"]);
    let again = arrive_with(&mut conn, 2, "0a1", "a", 10_000, false, Some("ha.0"));
    assert_eq!(again, first, "a retry arrives once");
    assert_eq!(field(&server, "n").as_deref(), Some("1"));
    let last = arrive_with(&mut conn, 2, "0b2", "b", 10_000, false, Some("hb.0"));
    assert_eq!(last[1..], ["o", "0", "1", "1"], "released: index 1, leader");
    let retried = arrive_with(&mut conn, 2, "0a1", "a", 10_000, false, Some("ha.0"));
    assert_eq!(retried[1..], ["o", "0", "0", "0"], "released: index 0");
    let retried = arrive_with(&mut conn, 2, "0b2", "b", 10_000, false, Some("hb.0"));
    assert_eq!(retried[1..], ["o", "0", "1", "1"]);
    assert_eq!(field(&server, "n").as_deref(), Some("0"));
    assert_eq!(field(&server, "gen").as_deref(), Some("1"));
}

#[test]
fn a_slot_holds_the_handles_next_arrival_once_the_last_is_done() {
    let server = server!();
    let mut conn = server.client().get_connection().unwrap();
    arrive_with(&mut conn, 2, "0a1", "a", 10_000, false, Some("ha.0"));
    arrive_with(&mut conn, 2, "0b2", "b", 10_000, false, Some("hb.0"));
    // The same slot, another id: a new arrival in generation 1, not a retry.
    let next = arrive_with(&mut conn, 2, "0a3", "a", 10_000, false, Some("ha.0"));
    assert_eq!(next[1..], ["w", "1"]);
    assert_eq!(
        field(&server, "ha.0").unwrap().split(' ').next(),
        Some("0a3")
    );
    let fields: i64 = server.cmd(&["HLEN", STATE]).unwrap();
    let again = arrive_with(&mut conn, 2, "0b4", "b", 10_000, false, Some("hb.0"));
    assert_eq!(again[1..], ["o", "1", "1", "1"]);
    let after: i64 = server.cmd(&["HLEN", STATE]).unwrap();
    assert!(
        after <= fields,
        "records do not pile up: {fields} then {after} fields"
    );
}

#[test]
fn a_withdrawal_moves_the_later_arrivals_up_one_place() {
    let server = server!();
    let mut conn = server.client().get_connection().unwrap();
    arrive_with(&mut conn, 3, "0a1", "a", 10_000, false, None);
    arrive_with(&mut conn, 3, "0b2", "b", 10_000, false, None);
    assert_eq!(withdraw(&mut conn, "0a1", "a"), 1);
    assert_eq!(field(&server, "n").as_deref(), Some("1"));
    arrive_with(&mut conn, 3, "0c3", "c", 10_000, false, None);
    let last = arrive_with(&mut conn, 3, "0d4", "d", 10_000, false, None);
    assert_eq!(last[1..], ["o", "0", "2", "1"]);
    let b = arrive_with(&mut conn, 3, "0b2", "b", 10_000, false, None);
    assert_eq!(b[1..], ["o", "0", "0", "0"], "b moved up to index 0");
    let c = arrive_with(&mut conn, 3, "0c3", "c", 10_000, false, None);
    assert_eq!(c[1..], ["o", "0", "1", "0"]);
    let a = arrive_with(&mut conn, 3, "0a1", "a", 10_000, false, None);
    assert_eq!(a[1..], ["w", "1"], "withdrawn: its id arrives anew");
}

#[test]
fn a_lapsed_lease_breaks_the_generation_its_last_arrival_would_complete() {
    let server = server!();
    let mut conn = server.client().get_connection().unwrap();
    arrive_with(&mut conn, 3, "0a1", "a", 10_000, false, None);
    arrive_with(&mut conn, 3, "0b2", "lost one", 100, false, None);
    std::thread::sleep(std::time::Duration::from_millis(150));
    let last = arrive_with(&mut conn, 3, "0c3", "c", 10_000, false, None);
    assert_eq!(last[1..3], ["b", "PartyLost"], "{last:?}");
    assert_eq!(last[3], "lost one");
    assert_eq!(last[4], "1:a8:lost one");
    assert_eq!(field(&server, "gen").as_deref(), Some("0"), "not released");
}

fn renew(conn: &mut redis::Connection, lease_ms: u64, pairs: &[(&str, &str)]) -> redis::Value {
    let script = script(include_str!("../src/scripts/renew.lua"));
    let mut invocation = script.key(STATE);
    invocation.arg(TTL).arg(lease_ms);
    for (slot, id) in pairs {
        invocation.arg(*slot).arg(*id);
    }
    invocation.invoke(conn).unwrap()
}

#[test]
fn a_renewed_lease_outlives_its_first_term() {
    let server = server!();
    let mut conn = server.client().get_connection().unwrap();
    arrive_with(&mut conn, 2, "0a1", "a", 200, false, None);
    std::thread::sleep(std::time::Duration::from_millis(120));
    renew(&mut conn, 200, &[("0a1", "0a1")]);
    std::thread::sleep(std::time::Duration::from_millis(120));
    // 240 ms after the arrival, 120 ms after the renewal: still held.
    let last = arrive_with(&mut conn, 2, "0b2", "b", 200, false, None);
    assert_eq!(last[1..], ["o", "0", "1", "1"], "{last:?}");
}

#[test]
fn a_sealed_generations_leader_holds_a_lease_and_is_lost_when_it_lapses() {
    let server = server!();
    let mut conn = server.client().get_connection().unwrap();
    arrive_with(&mut conn, 2, "0a1", "a", 10_000, true, None);
    let leader = arrive_with(&mut conn, 2, "0b2", "leader", 100, true, None);
    assert_eq!(leader[1..], ["l", "0"], "its turn to run the action");
    std::thread::sleep(std::time::Duration::from_millis(150));
    // Any script but an arrival looks for lapsed leases first.
    renew(&mut conn, 10_000, &[("0a1", "0a1")]);
    assert_eq!(field(&server, "broken").as_deref(), Some("PartyLost"));
    assert_eq!(field(&server, "by").as_deref(), Some("leader"));
}

#[test]
fn stale_records_are_swept_once_a_ttl_has_passed() {
    let server = server!();
    let mut conn = server.client().get_connection().unwrap();
    let ttl = "1000";
    let arrive = script(include_str!("../src/scripts/arrive.lua"));
    for (id, slot) in [("0a1", "gone.0"), ("0b2", "gone.1")] {
        let _: redis::Value = arrive
            .key(STATE)
            .arg(ttl)
            .arg(2)
            .arg(id)
            .arg("x")
            .arg(10_000)
            .arg(0)
            .arg("")
            .arg(slot)
            .invoke(&mut conn)
            .unwrap();
    }
    assert!(field(&server, "gone.0").is_some());
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let _: redis::Value = script(include_str!("../src/scripts/renew.lua"))
        .key(STATE)
        .arg(ttl)
        .arg(10_000)
        .invoke(&mut conn)
        .unwrap();
    assert_eq!(field(&server, "gone.0"), None, "swept");
    assert_eq!(field(&server, "gone.1"), None, "swept");
    assert_eq!(field(&server, "q:1"), None, "an entry past the count");
    assert_eq!(
        field(&server, "gen").as_deref(),
        Some("1"),
        "the state stays"
    );
}
