//! Key and channel names, and the random ids of arrivals and records.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The names a barrier uses in Redis, all under `agnostic-barrier:{<tag>}:` (SPEC-REDIS rule
/// 1), so that a Redis Cluster keeps them on one slot and an ACL of
/// `~agnostic-barrier:* &agnostic-barrier:*` covers them.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    /// The state hash; the scripts derive the other keys from it.
    pub(crate) state: String,
    /// The pub/sub channel of releases and breaks.
    pub(crate) events: String,
}

impl Keys {
    pub(crate) fn new(name: &str) -> Keys {
        let prefix = format!("agnostic-barrier:{{{}}}:", tag(name));
        Keys {
            state: format!("{prefix}state"),
            events: format!("{prefix}events"),
        }
    }
}

/// The hash tag: the name itself, or `#` and the hex SHA-1 of the name if it holds a brace
/// (which would end or nest the tag).
pub(crate) fn tag(name: &str) -> String {
    if name.contains(['{', '}']) {
        format!("#{}", sha1_smol::Sha1::from(name).digest())
    } else {
        name.to_owned()
    }
}

/// 128 random bits as 32 hex digits: ids of arrivals and of state records. `RandomState` is
/// seeded from the OS once per process; the time and a counter make each call distinct.
pub(crate) fn random_id() -> String {
    format!("{:016x}{:016x}", random_u64(), random_u64())
}

pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.finish()
}

/// The default party name: host name, process id and a random suffix.
pub(crate) fn default_party() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned());
    format!(
        "{host}-{}-{:04x}",
        std::process::id(),
        random_u64() & 0xffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_live_under_the_prefix_with_the_name_as_tag() {
        let keys = Keys::new("jobs");
        assert_eq!(keys.state, "agnostic-barrier:{jobs}:state");
        assert_eq!(keys.events, "agnostic-barrier:{jobs}:events");
    }

    #[test]
    fn a_name_with_braces_is_tagged_by_its_sha1() {
        // `printf 'a{b}' | sha1sum`
        assert_eq!(tag("a{b}"), "#28abe73a16bdb9982d4d12d2ca89653ed5aa55a1");
        assert_eq!(
            Keys::new("a{b}").state,
            "agnostic-barrier:{#28abe73a16bdb9982d4d12d2ca89653ed5aa55a1}:state"
        );
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(random_id(), random_id());
        assert_eq!(random_id().len(), 32);
    }
}
