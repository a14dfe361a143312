//! The clock every time rule asks: token expiry, ID-token `exp`/`nbf`/`iat`, refresh
//! margins, cooldowns. Production code uses [`SystemClock`]; tests inject a
//! [`FixedClock`] and move it instead of sleeping.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until it is moved; clones share the time.
///
/// ```
/// use std::time::Duration;
/// use lexoffice_login::{Clock, FixedClock};
///
/// let clock = FixedClock::at_now();
/// let before = clock.now();
/// clock.advance(Duration::from_secs(3600));
/// assert_eq!((clock.now() - before).num_seconds(), 3600);
/// ```
#[derive(Debug, Clone)]
pub struct FixedClock(Arc<Mutex<DateTime<Utc>>>);

impl FixedClock {
    /// A clock stopped at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        FixedClock(Arc::new(Mutex::new(at)))
    }

    /// A clock stopped at the current system time.
    pub fn at_now() -> Self {
        Self::new(Utc::now())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t = t.checked_add_signed(by).unwrap_or(DateTime::<Utc>::MAX_UTC);
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The clock handle the library passes around.
pub(crate) type SharedClock = Arc<dyn Clock>;

/// The system clock, shared.
pub(crate) fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// `now + d`, saturating at the end of time (a huge margin never panics).
pub(crate) fn add(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `now - d`, saturating at the start of time.
#[cfg(feature = "axum")]
pub(crate) fn sub(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Whether `since + d` is still ahead of `now`.
pub(crate) fn within(since: DateTime<Utc>, d: Duration, now: DateTime<Utc>) -> bool {
    now < add(since, d)
}
