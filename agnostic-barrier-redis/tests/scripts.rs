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
