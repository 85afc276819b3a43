//! The Lua scripts (in `scripts/*.lua`, each prefixed with `scripts/common.lua`) and their
//! replies.

use std::sync::LazyLock;

use agnostic_barrier::BarrierWaitResult;
use redis::{ErrorKind, RedisError, RedisResult, Script, Value};

use crate::error::{BreakReason, Broken};

macro_rules! script {
    ($name:literal) => {
        LazyLock::new(|| {
            Script::new(concat!(
                include_str!("scripts/common.lua"),
                "\n",
                include_str!(concat!("scripts/", $name, ".lua"))
            ))
        })
    };
}

pub(crate) static ARRIVE: LazyLock<Script> = script!("arrive");
pub(crate) static RENEW: LazyLock<Script> = script!("renew");
pub(crate) static WITHDRAW: LazyLock<Script> = script!("withdraw");
pub(crate) static RELEASE: LazyLock<Script> = script!("release");
pub(crate) static EXPIRE: LazyLock<Script> = script!("expire");
pub(crate) static CONTROL: LazyLock<Script> = script!("control");
pub(crate) static INFO: LazyLock<Script> = script!("info");

/// What became of one arrival, as the scripts' `status()` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Waiting,
    Sealed {
        generation: u64,
        leader: bool,
    },
    Lead,
    Released(BarrierWaitResult),
    Broken(Broken),
    /// `connect()`/arrival against a record with another count.
    Mismatch(usize),
    /// The deadline's break won (`expire`).
    TimedOut,
    /// Redis no longer knows the arrival: the state was lost.
    Lost,
}

impl Status {
    /// The order in which an arrival's status moves; a stale reply never moves it back.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Status::Waiting => 1,
            Status::Sealed { .. } => 2,
            Status::Lead => 3,
            _ => 4,
        }
    }
}

pub(crate) fn bad_reply(what: &'static str) -> RedisError {
    RedisError::from((
        ErrorKind::UnexpectedReturnType,
        "agnostic-barrier-redis: unexpected script reply",
        what.to_owned(),
    ))
}

pub(crate) fn text(value: &Value) -> RedisResult<String> {
    match value {
        Value::BulkString(bytes) => Ok(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(n) => Ok(n.to_string()),
        Value::Okay => Ok("OK".to_owned()),
        _ => Err(bad_reply("expected a string")),
    }
}

pub(crate) fn number<T: std::str::FromStr>(value: &Value) -> RedisResult<T> {
    text(value)?
        .parse()
        .map_err(|_| bad_reply("expected a number"))
}

pub(crate) fn items(value: &Value) -> RedisResult<&[Value]> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        _ => Err(bad_reply("expected an array")),
    }
}

/// Decodes the scripts' `encode()`: each name as `<byte length>:<name>`.
pub(crate) fn decode_names(encoded: &str) -> Vec<String> {
    let bytes = encoded.as_bytes();
    let mut names = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let Some(colon) = bytes[at..].iter().position(|&b| b == b':') else {
            break;
        };
        let Ok(len) = encoded[at..at + colon].parse::<usize>() else {
            break;
        };
        let start = at + colon + 1;
        let end = (start + len).min(bytes.len());
        names.push(String::from_utf8_lossy(&bytes[start..end]).into_owned());
        at = end;
    }
    names
}

pub(crate) fn broken(reason: &str, by: &str, arrived: &str) -> Broken {
    let reason = BreakReason::parse(reason);
    Broken {
        reason,
        by: (reason != BreakReason::StateLost).then(|| by.to_owned()),
        arrived: decode_names(arrived),
    }
}

/// Parses one `status()` (a reply's items from the status kind on).
pub(crate) fn status(fields: &[Value]) -> RedisResult<Status> {
    let field = |i: usize| fields.get(i).ok_or_else(|| bad_reply("short status"));
    let kind = text(field(0)?)?;
    Ok(match kind.as_str() {
        "w" => Status::Waiting,
        "s" => Status::Sealed {
            generation: number(field(1)?)?,
            leader: text(field(2)?)? == "1",
        },
        "l" => Status::Lead,
        "o" => Status::Released(BarrierWaitResult::new(
            number(field(2)?)?,
            text(field(3)?)? == "1",
            number(field(1)?)?,
        )),
        "b" => Status::Broken(broken(
            &text(field(1)?)?,
            &text(field(2)?)?,
            &text(field(3)?)?,
        )),
        "m" => Status::Mismatch(number(field(1)?)?),
        "t" => Status::TimedOut,
        "x" => Status::Lost,
        _ => return Err(bad_reply("unknown status")),
    })
}

/// Parses `{epoch, status..}`.
pub(crate) fn epoch_status(reply: &Value) -> RedisResult<(String, Status)> {
    let fields = items(reply)?;
    let epoch = text(fields.first().ok_or_else(|| bad_reply("empty reply"))?)?;
    Ok((epoch, status(&fields[1..])?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_the_length_prefixed_encoding() {
        assert_eq!(decode_names("2:ab0:5:a:b:c"), ["ab", "", "a:b:c"]);
        assert_eq!(decode_names(""), Vec::<String>::new());
        assert_eq!(decode_names("5:é€1:x"), ["é€", "x"]);
    }
}
