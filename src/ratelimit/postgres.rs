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
    /// [`PostgresRateBudget::on_store`] makes one on a store's pool.
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
        Ok(sql::book(&self.pool, key, &self.rate).await?)
    }

    /// Forgets the budgets of keys idle for `idle` (their next request gets a full
    /// burst, as it would anyway); returns how many were removed.
    pub async fn prune(&self, idle: Duration) -> Result<u64, RateBudgetError> {
        Ok(sql::prune(&self.pool, idle).await?)
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
            sql::penalize(&self.pool, key, &self.rate, retry_after.min(MAX_PENALTY)).await?;
            Ok(())
        })
    }

    fn rate(&self) -> BudgetRate {
        self.rate
    }
}

impl PostgresRateBudget {
    /// A budget of `rate` per key shared by every replica, on `store`'s pool (its
    /// migrations have made the table).
    pub fn on_store(store: &PostgresStore, rate: BudgetRate) -> Self {
        Self::new(store.pool().clone(), rate)
    }
}

/// The budget's statements.
mod sql {
    use std::time::Duration;

    use sqlx::PgPool;

    use crate::ratelimit::BudgetRate;
    use crate::store::postgres::{micros, pg};
    use crate::store::StoreError;

    /// Books the next request for `key` in the rate budget `rate` and returns how long
    /// the caller must wait before sending it (GCRA, one statement, the database's
    /// clock): `tat = max(tat, now) + T`, wait `max(0, tat − burst·T − now)`.
    pub(super) async fn book(
        pool: &PgPool,
        key: &str,
        rate: &BudgetRate,
    ) -> Result<Duration, StoreError> {
        let interval = micros(rate.emission_interval());
        let burst_span = micros(rate.emission_interval()).saturating_mul(i64::from(rate.burst()));
        // clock_timestamp(), not now(): evaluated after the row lock is had, so that a
        // statement that queued behind another's does not book from a stale start time.
        let wait_us: i64 = sqlx::query_scalar(
            "INSERT INTO lexoffice_login_rate_budget AS b (key, tat)
             VALUES ($1, clock_timestamp() + $2::float8 * interval '1 microsecond')
             ON CONFLICT (key) DO UPDATE
                 SET tat = greatest(b.tat, clock_timestamp())
                           + $2::float8 * interval '1 microsecond'
             RETURNING greatest(0::bigint,
                 (extract(epoch FROM b.tat - clock_timestamp()) * 1000000)::bigint - $3)",
        )
        .bind(key)
        .bind(interval as f64)
        .bind(burst_span)
        .fetch_one(pool)
        .await
        .map_err(pg("book a request in the rate budget"))?;
        Ok(Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)))
    }

    /// Pushes the rate budget of `key` so that its next request goes no sooner than
    /// `penalty` from now (database clock), one at a time after it:
    /// `tat = max(tat, now + penalty + (burst − 1)·T)`.
    pub(super) async fn penalize(
        pool: &PgPool,
        key: &str,
        rate: &BudgetRate,
        penalty: Duration,
    ) -> Result<(), StoreError> {
        let ahead = micros(penalty).saturating_add(micros(rate.burst_tolerance()));
        sqlx::query(
            "INSERT INTO lexoffice_login_rate_budget AS b (key, tat)
             VALUES ($1, clock_timestamp() + $2::float8 * interval '1 microsecond')
             ON CONFLICT (key) DO UPDATE SET tat = greatest(b.tat, EXCLUDED.tat)",
        )
        .bind(key)
        .bind(ahead as f64)
        .execute(pool)
        .await
        .map_err(pg("record a rate-limit penalty"))?;
        Ok(())
    }

    /// Deletes the rate budgets idle for `idle`; returns how many.
    pub(super) async fn prune(pool: &PgPool, idle: Duration) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM lexoffice_login_rate_budget
             WHERE tat < clock_timestamp() - $1::float8 * interval '1 microsecond'",
        )
        .bind(micros(idle) as f64)
        .execute(pool)
        .await
        .map_err(pg("prune the rate budgets"))?;
        Ok(done.rows_affected())
    }
}
