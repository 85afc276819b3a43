//! The errors of a wait and of the barrier's other calls.

use std::fmt;

/// Why a call on a [`RedisBarrier`](crate::RedisBarrier) failed.
///
/// # Examples
///
/// ```
/// use agnostic_barrier_redis::{BreakReason, RedisWaitError};
///
/// fn explain(error: &RedisWaitError) -> String {
///     match error {
///         RedisWaitError::Broken(broken) if broken.reason() == BreakReason::PartyLost => {
///             format!("lost {}", broken.by().unwrap_or("?"))
///         }
///         other => other.to_string(),
///     }
/// }
/// assert_eq!(explain(&RedisWaitError::TimedOut), "barrier wait timed out");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RedisWaitError {
    /// The barrier is broken, or broke while this party waited; [`Broken`] says why, by whom
    /// and who was waiting.
    Broken(Broken),
    /// This party's own deadline passed before its generation completed: the wait broke the
    /// barrier (every other waiting party got [`Broken`] with [`BreakReason::TimedOut`]).
    TimedOut,
    /// The barrier exists in Redis with another number of parties.
    Mismatch {
        /// The parties this handle was built with.
        expected: usize,
        /// The parties Redis holds.
        found: usize,
    },
    /// Redis could not be reached, did not answer in time, or refused a command (a wrong
    /// password, a missing ACL permission).
    Redis(redis::RedisError),
}

impl RedisWaitError {
    /// Returns `true` for [`RedisWaitError::Broken`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!agnostic_barrier_redis::RedisWaitError::TimedOut.is_broken());
    /// ```
    #[must_use]
    pub fn is_broken(&self) -> bool {
        matches!(self, RedisWaitError::Broken(_))
    }

    /// Returns `true` for [`RedisWaitError::TimedOut`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(agnostic_barrier_redis::RedisWaitError::TimedOut.is_timed_out());
    /// ```
    #[must_use]
    pub fn is_timed_out(&self) -> bool {
        matches!(self, RedisWaitError::TimedOut)
    }

    /// The [`Broken`] details, for [`RedisWaitError::Broken`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(agnostic_barrier_redis::RedisWaitError::TimedOut.broken().is_none());
    /// ```
    #[must_use]
    pub fn broken(&self) -> Option<&Broken> {
        match self {
            RedisWaitError::Broken(broken) => Some(broken),
            _ => None,
        }
    }
}

impl fmt::Display for RedisWaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisWaitError::Broken(broken) => fmt::Display::fmt(broken, f),
            RedisWaitError::TimedOut => f.write_str("barrier wait timed out"),
            RedisWaitError::Mismatch { expected, found } => write!(
                f,
                "barrier exists in Redis with {found} parties, not {expected}"
            ),
            RedisWaitError::Redis(error) => write!(f, "redis error: {error}"),
        }
    }
}

impl std::error::Error for RedisWaitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RedisWaitError::Redis(error) => Some(error),
            _ => None,
        }
    }
}

impl From<redis::RedisError> for RedisWaitError {
    fn from(error: redis::RedisError) -> Self {
        RedisWaitError::Redis(error)
    }
}

/// How the barrier broke: why, by whom, and who was waiting.
///
/// # Examples
///
/// ```
/// use agnostic_barrier_redis::{BreakReason, RedisWaitError};
///
/// # fn report(result: Result<(), RedisWaitError>) {
/// if let Err(RedisWaitError::Broken(broken)) = result {
///     eprintln!("{broken}; waiting were {:?}", broken.arrived());
///     if broken.reason() == BreakReason::PartyLost {
///         eprintln!("lost party: {:?}", broken.by());
///     }
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    pub(crate) reason: BreakReason,
    pub(crate) by: Option<String>,
    pub(crate) arrived: Vec<String>,
}

impl Broken {
    pub(crate) fn state_lost() -> Broken {
        Broken {
            reason: BreakReason::StateLost,
            by: None,
            arrived: Vec::new(),
        }
    }

    /// Why the barrier broke.
    ///
    /// # Examples
    ///
    /// See [`Broken`].
    #[must_use]
    pub fn reason(&self) -> BreakReason {
        self.reason
    }

    /// The party name behind the break: who aborted ([`Aborted`](BreakReason::Aborted)), whose
    /// deadline passed ([`TimedOut`](BreakReason::TimedOut)), the lost party
    /// ([`PartyLost`](BreakReason::PartyLost)), the leader whose action panicked
    /// ([`ActionPanicked`](BreakReason::ActionPanicked)), who reset
    /// ([`Reset`](BreakReason::Reset)); `None` for [`StateLost`](BreakReason::StateLost).
    ///
    /// # Examples
    ///
    /// See [`Broken`].
    #[must_use]
    pub fn by(&self) -> Option<&str> {
        self.by.as_deref()
    }

    /// The party names of the arrivals present when it broke, in arrival order, as
    /// [`RedisBarrier::waiting`](crate::RedisBarrier::waiting) lists them.
    ///
    /// # Examples
    ///
    /// See [`Broken`].
    #[must_use]
    pub fn arrived(&self) -> &[String] {
        &self.arrived
    }
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("barrier is broken")?;
        let what = match self.reason {
            BreakReason::Aborted => "aborted by",
            BreakReason::TimedOut => "timed out at",
            BreakReason::PartyLost => "party lost:",
            BreakReason::ActionPanicked => "action panicked at",
            BreakReason::Reset => "reset by",
            BreakReason::StateLost => return f.write_str(" (state lost in Redis)"),
        };
        match &self.by {
            Some(by) => write!(f, " ({what} {by})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Broken {}

/// Why a barrier broke.
///
/// # Examples
///
/// ```
/// use agnostic_barrier_redis::BreakReason;
///
/// assert_ne!(BreakReason::Aborted, BreakReason::Reset);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakReason {
    /// A party called [`abort()`](crate::RedisBarrier::abort).
    Aborted,
    /// A party's deadline passed before its generation completed.
    TimedOut,
    /// An arrival's lease lapsed (its process killed, frozen or cut off), or a leader's wait was
    /// dropped before it ran the action.
    PartyLost,
    /// The leader's action panicked.
    ActionPanicked,
    /// A party called [`reset()`](crate::RedisBarrier::reset) while this one waited.
    Reset,
    /// Redis lost the barrier's state (a restart without persistence, or a flush).
    StateLost,
}

impl BreakReason {
    pub(crate) fn parse(text: &str) -> BreakReason {
        match text {
            "Aborted" => BreakReason::Aborted,
            "TimedOut" => BreakReason::TimedOut,
            "PartyLost" => BreakReason::PartyLost,
            "ActionPanicked" => BreakReason::ActionPanicked,
            "Reset" => BreakReason::Reset,
            _ => BreakReason::StateLost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_texts_begin_as_the_core_ones() {
        let broken = Broken {
            reason: BreakReason::PartyLost,
            by: Some("w1".into()),
            arrived: vec![],
        };
        assert_eq!(broken.to_string(), "barrier is broken (party lost: w1)");
        assert!(RedisWaitError::Broken(Broken::state_lost())
            .to_string()
            .starts_with("barrier is broken"));
        assert_eq!(
            RedisWaitError::TimedOut.to_string(),
            "barrier wait timed out"
        );
    }
}
