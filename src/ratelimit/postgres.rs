//! [`PostgresRateBudget`]: GCRA in one PostgreSQL row per key, for every replica.

use std::fmt;
use std::time::Duration;

use sqlx::PgPool;

use super::{BudgetFuture, BudgetRate, RateBudget, RateBudgetError, MAX_PENALTY};
use crate::store::PostgresStore;

/// The table of the shared rate budgets: one row per key, `(key text primary key, tat
/// timestamptz)`, made by [`PostgresStore::migrate`] (and [`PostgresRateBudget::migrate`]).
pub const RATE_BUDGET_TABLE: &str = "lexoffice_login_rate_budget";

/// A rate budget in PostgreSQL, shared by every replica that uses the same database
/// (cargo feature `postgres`).
///
/// # Design
///
/// - **One statement per request, no retry loop.** [`RateBudget::acquire`] runs one
///   `INSERT … ON CONFLICT (key) DO UPDATE … RETURNING` that *books* the request's slot:
///   `tat = greatest(tat, clock_timestamp()) + T` and returns how long to wait,
///   `max(0, tat − burst·T − clock_timestamp())`; the caller sleeps that long and sends.
///   Callers are served in the order their statements reach the row (the row lock
///   queues them), and a waiting caller costs the database nothing. The alternative,
///   asking "may I go now?" and retrying, costs a statement per try and lets a
///   latecomer overtake.
/// - **The database's clock.** Every time comes from `clock_timestamp()` on the
///   server, taken after the row lock is had; replicas only sleep relative durations,
///   so their own clocks (skewed or not) never enter.
/// - **Penalties.** [`RateBudget::penalize`] moves `tat` to at least
///   `now + retry_after + (burst − 1)·T` (one statement): every replica's next booking
///   then goes no sooner than `retry_after` from now, one at a time. Requests already
///   booked (their callers asleep) still go at their slots: the budget runs below the
///   provider's limit, so a `429` is rare, and each such request's own `429` penalizes
///   again.
/// - **Errs on the slow side.** The wait is counted from the server's clock but slept
///   from when the answer arrives, so a request goes at or after its slot, never before;
///   a caller that gives up after booking leaves its slot unused.
/// - **Costs.** One row per key, written once per request (a connection at lexoffice's
///   2 per second writes 2 rows a second); rows are never deleted (one per connection).
///
/// If the database is unreachable, [`RateBudget::acquire`] fails
/// ([`RateBudgetError::Store`]) and the [`ApiClient`](crate::api::ApiClient) does not send
/// the request: it does not fall back to a per-process limit that could exceed the
/// provider's.
#[derive(Clone)]
pub struct PostgresRateBudget {
    pool: PgPool,
    rate: BudgetRate,
}

impl fmt::Debug for PostgresRateBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresRateBudget")
            .field("rate", &self.rate)
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

impl PostgresRateBudget {
    /// A budget of `rate` per key on `pool`. The table must exist: it is made by
    /// [`PostgresStore`]'s migrations ([`PostgresStore::migrate`], or
    /// [`PostgresRateBudget::migrate`] where no store runs on this database).
    /// [`PostgresStore::rate_budget`] makes one on the store's pool.
    pub fn new(pool: PgPool, rate: BudgetRate) -> Self {
        Self { pool, rate }
    }

    /// Brings the schema up to date: [`PostgresStore`]'s migrations (the rate budget's
    /// table is one of them), under their advisory lock.
    pub async fn migrate(&self) -> Result<(), RateBudgetError> {
        Ok(PostgresStore::migrate_pool(&self.pool).await?)
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Books the next request for `key` and returns how long to wait before sending it
    /// (zero while the burst lasts), without waiting: the statement that
    /// [`RateBudget::acquire`] runs before it sleeps.
    pub async fn reserve(&self, key: &str) -> Result<Duration, RateBudgetError> {
        Ok(PostgresStore::rate_budget_book(&self.pool, key, &self.rate).await?)
    }

    /// Forgets the budgets of keys idle for `idle` (their next request gets a full
    /// burst, as it would anyway); returns how many were removed.
    pub async fn prune(&self, idle: Duration) -> Result<u64, RateBudgetError> {
        Ok(PostgresStore::rate_budget_prune(&self.pool, idle).await?)
    }
}

impl RateBudget for PostgresRateBudget {
    fn acquire<'a>(&'a self, key: &'a str) -> BudgetFuture<'a, Result<(), RateBudgetError>> {
        Box::pin(async move {
            let wait = self.reserve(key).await?;
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
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
            PostgresStore::rate_budget_penalize(
                &self.pool,
                key,
                &self.rate,
                retry_after.min(MAX_PENALTY),
            )
            .await?;
            Ok(())
        })
    }

    fn rate(&self) -> BudgetRate {
        self.rate
    }
}
