//! Rate budgets shared by every caller of one API connection: [`RateBudget`], the
//! in-process [`LocalRateBudget`] and, with the cargo feature `postgres`,
//! [`PostgresRateBudget`], which holds across all replicas of a service.
//!
//! lexoffice allows 2 requests per second per connection. One [`ApiClient`] (cloned for
//! every task) keeps to that within one process; several replicas of a partner app that
//! call the API for the same connection need one budget between them, or each replica
//! spends the whole allowance and the API answers `429`. Hand every replica's
//! [`ApiClient`] the same budget with
//! [`ApiClientBuilder::rate_budget`](crate::api::ApiClientBuilder::rate_budget):
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn run(
//! #     store: lexoffice_login::store::PostgresStore,
//! #     manager: lexoffice_login::TokenManager<lexoffice_login::store::PostgresStore>,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use lexoffice_login::api::{ApiClient, ApiOptions};
//! use lexoffice_login::providers::{Deployment, Provider};
//! use lexoffice_login::ratelimit::PostgresRateBudget;
//! use lexoffice_login::store::PostgresStore;
//!
//! let preset = Provider::Lexoffice.preset(Deployment::Production);
//! let options = ApiOptions::for_api(preset.api.as_ref().expect("lexoffice has an API"));
//! // 2 requests per second less 10 % headroom, burst 2: lexoffice's limit.
//! let rate = options.budget_rate()?;
//! let budget = Arc::new(PostgresRateBudget::on_store(&store, rate));
//! let connection = PostgresStore::connection_id(manager.key());
//! let api = ApiClient::builder(manager, "https://api.lexware.io/v1")
//!     .options(options)
//!     .rate_budget(budget, connection)
//!     .build()?;
//! # let _ = api;
//! # Ok(()) }
//! ```
//!
//! # The algorithm
//!
//! Both budgets are GCRA (the generic cell rate algorithm, a token bucket written as one
//! timestamp per key): with the emission interval `T` (one request's share of time) and
//! the burst `b`, each key has a *theoretical arrival time* `tat`. A request at `now` is
//! booked at `tat = max(tat, now) + T` and may go at `tat − b·T`, so `b` requests go at
//! once after a quiet spell and the rest follow `T` apart. A `429` pushes `tat` so that
//! the next request goes no sooner than the `Retry-After` (or one `T`) from now
//! ([`RateBudget::penalize`]).
//!
//! [`ApiClient`]: crate::api::ApiClient

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use crate::providers::{ApiPreset, RateLimit};
use crate::store::StoreError;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresRateBudget, RATE_BUDGET_TABLE};

/// The longest emission interval (one request a day), as for
/// [`ApiClient`](crate::api::ApiClient)'s own limiter.
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
/// The longest penalty recorded (a day): a longer `Retry-After` is cut to it.
pub const MAX_PENALTY: Duration = Duration::from_secs(86_400);

/// A boxed, `Send` future, as [`RateBudget`]'s methods return (the trait is used as
/// `Arc<dyn RateBudget>`).
pub type BudgetFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a rate budget could not be consulted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RateBudgetError {
    /// The rate is invalid (zero, negative, too slow or too fast).
    #[error("invalid rate budget: {0}")]
    Config(String),
    /// The store that holds the budget failed (the database is unreachable …); the
    /// request was not sent.
    #[error("the shared rate budget could not be consulted: {0}")]
    Store(#[from] StoreError),
}

impl RateBudgetError {
    /// What the caller should do about this error.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            RateBudgetError::Config(_) => crate::ErrorKind::Misconfigured,
            RateBudgetError::Store(_) => crate::ErrorKind::Store,
        }
    }
}

/// The headroom an API client keeps below a provider's documented limit (10 %).
pub const DEFAULT_HEADROOM: f64 = 0.1;

/// A rate for a budget: the emission interval (the time one request uses up) and the
/// burst (requests that may go at once after a quiet spell).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetRate {
    emission_interval: Duration,
    burst: u32,
}

impl BudgetRate {
    /// A request every `emission_interval`, `burst` at once. Fails for a zero interval or
    /// burst, and for an interval over a day.
    pub fn new(emission_interval: Duration, burst: u32) -> Result<Self, RateBudgetError> {
        if emission_interval.is_zero() {
            return Err(RateBudgetError::Config(
                "the emission interval must be longer than zero".to_owned(),
            ));
        }
        if emission_interval > MAX_INTERVAL {
            return Err(RateBudgetError::Config(format!(
                "requests_per_second is too low: at least one request per {} s",
                MAX_INTERVAL.as_secs()
            )));
        }
        if burst == 0 {
            return Err(RateBudgetError::Config(
                "burst must be at least 1".to_owned(),
            ));
        }
        Ok(Self {
            emission_interval,
            burst,
        })
    }

    /// `requests_per_second` (exactly, no headroom), `burst` at once.
    pub fn per_second(requests_per_second: f64, burst: u32) -> Result<Self, RateBudgetError> {
        Self::with_headroom(requests_per_second, burst, 0.0)
    }

    /// `requests_per_second` less `headroom` (a fraction below 1), `burst` at once: the
    /// rate an [`ApiClient`](crate::api::ApiClient) keeps to
    /// ([`ApiOptions::budget_rate`](crate::api::ApiOptions::budget_rate)).
    pub fn with_headroom(
        requests_per_second: f64,
        burst: u32,
        headroom: f64,
    ) -> Result<Self, RateBudgetError> {
        Self::checked(requests_per_second, burst, headroom)
    }

    /// The rate of a provider's API preset: its documented limit, with the API client's
    /// default headroom (10 %); `None` where the preset documents no limit.
    pub fn for_api(api: &ApiPreset) -> Option<Result<Self, RateBudgetError>> {
        api.rate_limit
            .map(|limit| Self::from_rate_limit(limit, DEFAULT_HEADROOM))
    }

    /// A provider's documented limit with `headroom` (a fraction below 1) kept free.
    pub fn from_rate_limit(limit: RateLimit, headroom: f64) -> Result<Self, RateBudgetError> {
        Self::with_headroom(limit.per_second, limit.burst, headroom)
    }

    fn checked(
        requests_per_second: f64,
        burst: u32,
        headroom: f64,
    ) -> Result<Self, RateBudgetError> {
        if !(requests_per_second.is_finite() && requests_per_second > 0.0) {
            return Err(RateBudgetError::Config(format!(
                "requests_per_second must be a positive number, not {requests_per_second}"
            )));
        }
        if !(headroom.is_finite() && (0.0..1.0).contains(&headroom)) {
            return Err(RateBudgetError::Config(format!(
                "headroom must be at least 0 and below 1, not {headroom}"
            )));
        }
        // A tiny rate gives a period too long for a Duration: refused, never a panic.
        let interval = Duration::try_from_secs_f64(1.0 / (requests_per_second * (1.0 - headroom)))
            .ok()
            .filter(|p| *p <= MAX_INTERVAL)
            .ok_or_else(|| {
                RateBudgetError::Config(format!(
                    "requests_per_second is too low: at least one request per {} s",
                    MAX_INTERVAL.as_secs()
                ))
            })?;
        if interval < Duration::from_nanos(1) {
            return Err(RateBudgetError::Config(
                "requests_per_second is too high".to_owned(),
            ));
        }
        Self::new(interval, burst)
    }

    /// The time one request uses up (`1 / rate`).
    pub fn emission_interval(&self) -> Duration {
        self.emission_interval
    }

    /// Requests that may go at once after a quiet spell.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// How far ahead of its slot a request may go: `(burst − 1) · T`.
    pub fn burst_tolerance(&self) -> Duration {
        self.emission_interval
            .saturating_mul(self.burst.saturating_sub(1))
    }

    /// The equivalent `governor` quota.
    pub(crate) fn quota(&self) -> Result<Quota, RateBudgetError> {
        let burst = NonZeroU32::new(self.burst)
            .ok_or_else(|| RateBudgetError::Config("burst must be at least 1".to_owned()))?;
        Ok(Quota::with_period(self.emission_interval)
            .ok_or_else(|| RateBudgetError::Config("requests_per_second is too high".to_owned()))?
            .allow_burst(burst))
    }
}

/// A budget of requests per key (one key per connection, or whatever the provider
/// limits), shared by every caller that holds it.
///
/// [`ApiClient`](crate::api::ApiClient) calls [`RateBudget::acquire`] before each
/// request it sends (retries included) and [`RateBudget::penalize`] after each `429`.
/// Implement it for another shared store (Redis, …) the same way: the methods return
/// boxed futures so that the trait can be used as `Arc<dyn RateBudget>`.
pub trait RateBudget: Send + Sync + fmt::Debug + 'static {
    /// Waits until a request for `key` may go, and counts it. Dropping the future before
    /// it completes may leave its slot unused (the budget errs on the slow side).
    fn acquire<'a>(&'a self, key: &'a str) -> BudgetFuture<'a, Result<(), RateBudgetError>>;

    /// Records that the provider refused a request for `key` as over its limit: no
    /// request for `key` goes, through any holder of the budget, until `retry_after`
    /// (the `Retry-After`, else one emission interval) has passed; then they go one
    /// emission interval apart again. A penalty never shortens an earlier, longer one.
    fn penalize<'a>(
        &'a self,
        key: &'a str,
        retry_after: Duration,
    ) -> BudgetFuture<'a, Result<(), RateBudgetError>>;

    /// The budget's rate (its emission interval is the penalty for a `429` without
    /// `Retry-After`).
    fn rate(&self) -> BudgetRate;
}

/// The in-process budget: a `governor` rate limiter keyed per connection, plus the
/// penalties of `429`s. It holds for every [`ApiClient`](crate::api::ApiClient) of one
/// process that shares it (e.g. one per connection of a [`Connections`] registry), not
/// across replicas: use [`PostgresRateBudget`] there.
///
/// An [`ApiClient`](crate::api::ApiClient) without a budget keeps its own unkeyed
/// limiter, the default for a single process with one client per login.
///
/// [`Connections`]: crate::connections::Connections
pub struct LocalRateBudget {
    rate: BudgetRate,
    limiter: DefaultKeyedRateLimiter<String>,
    /// Until when each penalized key waits.
    penalties: Mutex<HashMap<String, Instant>>,
    /// Acquisitions, to forget idle keys now and then.
    calls: AtomicU64,
}

impl fmt::Debug for LocalRateBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalRateBudget")
            .field("rate", &self.rate)
            .field("keys", &self.limiter.len())
            .finish_non_exhaustive()
    }
}

impl LocalRateBudget {
    /// A budget of `rate` per key.
    pub fn new(rate: BudgetRate) -> Result<Self, RateBudgetError> {
        Ok(Self {
            limiter: RateLimiter::keyed(rate.quota()?),
            rate,
            penalties: Mutex::new(HashMap::new()),
            calls: AtomicU64::new(0),
        })
    }

    /// Until when `key` is penalized, if it still is.
    fn penalty(&self, key: &str) -> Option<Instant> {
        let now = Instant::now();
        let mut map = self
            .penalties
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match map.get(key) {
            Some(until) if *until > now => Some(*until),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }
}

impl RateBudget for LocalRateBudget {
    fn acquire<'a>(&'a self, key: &'a str) -> BudgetFuture<'a, Result<(), RateBudgetError>> {
        Box::pin(async move {
            if self.calls.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
                self.limiter.retain_recent();
            }
            if let Some(until) = self.penalty(key) {
                tokio::time::sleep_until(until).await;
            }
            self.limiter.until_key_ready(&key.to_owned()).await;
            // Penalized while waiting: the slot is taken, but it goes after the penalty.
            if let Some(until) = self.penalty(key) {
                tokio::time::sleep_until(until).await;
            }
            Ok(())
        })
    }

    fn penalize<'a>(
        &'a self,
        key: &'a str,
        retry_after: Duration,
    ) -> BudgetFuture<'a, Result<(), RateBudgetError>> {
        Box::pin(async move {
            let until = Instant::now() + retry_after.min(MAX_PENALTY);
            // The provider's bucket is empty: so is ours.
            let key_owned = key.to_owned();
            while self.limiter.check_key(&key_owned).is_ok() {}
            let mut map = self
                .penalties
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let entry = map.entry(key_owned).or_insert(until);
            *entry = (*entry).max(until);
            Ok(())
        })
    }

    fn rate(&self) -> BudgetRate {
        self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_from_the_presets() {
        // lexoffice's: 2 requests per second less the 10 % headroom, burst 2.
        let rate = BudgetRate::with_headroom(2.0, 2, DEFAULT_HEADROOM).unwrap();
        assert_eq!(rate.burst(), 2);
        let ms = rate.emission_interval().as_secs_f64() * 1000.0;
        assert!((ms - 555.555).abs() < 0.01, "{ms}");
        assert_eq!(rate.burst_tolerance(), rate.emission_interval());
        let exact = BudgetRate::per_second(2.0, 2).unwrap();
        assert_eq!(exact.emission_interval(), Duration::from_millis(500));
        let lexoffice =
            crate::providers::Provider::Lexoffice.preset(crate::providers::Deployment::Production);
        assert_eq!(
            BudgetRate::for_api(lexoffice.api.as_ref().unwrap())
                .unwrap()
                .unwrap(),
            rate
        );
        assert!(BudgetRate::per_second(0.0, 2).is_err());
        assert!(BudgetRate::per_second(f64::NAN, 2).is_err());
        assert!(BudgetRate::per_second(1e-9, 2).is_err());
        assert!(BudgetRate::per_second(2.0, 0).is_err());
        assert!(BudgetRate::with_headroom(2.0, 2, 1.0).is_err());
    }

    #[tokio::test]
    async fn local_budget_bursts_spaces_and_is_penalized() {
        let budget = LocalRateBudget::new(BudgetRate::per_second(10.0, 2).unwrap()).unwrap();
        let started = Instant::now();
        budget.acquire("a").await.unwrap();
        budget.acquire("a").await.unwrap();
        assert!(started.elapsed() < Duration::from_millis(50));
        // Another key has a budget of its own.
        budget.acquire("b").await.unwrap();
        assert!(started.elapsed() < Duration::from_millis(50));
        // The third request for "a" waits one interval.
        budget.acquire("a").await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(90));
        budget
            .penalize("a", Duration::from_millis(300))
            .await
            .unwrap();
        let penalized = Instant::now();
        budget.acquire("a").await.unwrap();
        assert!(penalized.elapsed() >= Duration::from_millis(300));
        let other = Instant::now();
        budget.acquire("b").await.unwrap();
        assert!(other.elapsed() < Duration::from_millis(50));
    }
}
