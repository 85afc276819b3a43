use core::fmt;

/// Why a barrier wait did not pass the barrier.
///
/// # Examples
///
/// ```
/// use agnostic_barrier::{Barrier, WaitError};
///
/// let barrier = Barrier::new(2);
/// barrier.abort();
/// let err = futures::executor::block_on(barrier.wait()).unwrap_err();
/// assert_eq!(err, WaitError::Broken);
/// assert_eq!(err.to_string(), "barrier is broken");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitError {
    /// The barrier is broken, or was broken or reset while this party waited: by
    /// [`abort()`](crate::Barrier::abort), [`reset()`](crate::Barrier::reset), another party's
    /// timeout, or a panicking action.
    Broken,
    /// This party's own deadline passed before its generation completed. The wait broke the
    /// barrier: every other waiting party got [`WaitError::Broken`].
    TimedOut,
}

impl WaitError {
    /// Returns `true` for [`WaitError::Broken`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(agnostic_barrier::WaitError::Broken.is_broken());
    /// ```
    #[must_use]
    pub fn is_broken(&self) -> bool {
        matches!(self, WaitError::Broken)
    }

    /// Returns `true` for [`WaitError::TimedOut`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(agnostic_barrier::WaitError::TimedOut.is_timed_out());
    /// ```
    #[must_use]
    pub fn is_timed_out(&self) -> bool {
        matches!(self, WaitError::TimedOut)
    }
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WaitError::Broken => "barrier is broken",
            WaitError::TimedOut => "barrier wait timed out",
        })
    }
}

impl core::error::Error for WaitError {}
