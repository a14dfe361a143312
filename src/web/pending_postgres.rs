//! [`PostgresPendingStore`]: pending logins shared by every replica (features `axum` and
//! `postgres`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgPool, Row};

use super::pending::{PendingConnect, PendingStore, PendingStoreError, StateHash};
use crate::store::{KeyProvider, PostgresStore};

/// The associated data pending logins are sealed with.
const AAD: &[u8] = b"lexoffice-login/pending/v1";

/// Pending logins in PostgreSQL, on a [`PostgresStore`]'s database and key: a callback
/// can land on any replica. Each entry is sealed (it holds the PKCE verifier), keyed by
/// the digest of its state, taken at most once (`DELETE … RETURNING`), and refused after
/// its time to live by the database's clock.
///
/// ```no_run
/// # async fn run(store: lexoffice_login::store::PostgresStore) {
/// use lexoffice_login::web::PostgresPendingStore;
/// let pending = PostgresPendingStore::new(&store);
/// # let _ = pending; }
/// ```
#[derive(Clone)]
pub struct PostgresPendingStore {
    pool: PgPool,
    keys: Arc<dyn KeyProvider>,
}

impl fmt::Debug for PostgresPendingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresPendingStore")
            .finish_non_exhaustive()
    }
}

impl PostgresPendingStore {
    /// Pending logins on `store`'s database, sealed with its key (its migrations made
    /// the table).
    pub fn new(store: &PostgresStore) -> Self {
        Self {
            pool: store.pool().clone(),
            keys: store.keys(),
        }
    }
}

fn backend(what: &'static str) -> impl Fn(sqlx::Error) -> PendingStoreError {
    move |e| PendingStoreError::Backend(format!("could not {what}: {e}").into())
}

impl PendingStore for PostgresPendingStore {
    async fn put(
        &self,
        key: StateHash,
        entry: PendingConnect,
        ttl: Duration,
    ) -> Result<(), PendingStoreError> {
        let plain = serde_json::to_vec(&entry)
            .map_err(|e| PendingStoreError::Backend(e.to_string().into()))?;
        let sealed = self
            .keys
            .encrypt(AAD, &plain)
            .map_err(|e| PendingStoreError::Backend(Box::new(e)))?;
        // Expired entries go with the next write (one statement).
        sqlx::query(
            "WITH gone AS (DELETE FROM lexoffice_login_pending WHERE expires_at < clock_timestamp())
             INSERT INTO lexoffice_login_pending (state_hash, sealed, expires_at)
             VALUES ($1, $2, clock_timestamp() + $3::float8 * interval '1 millisecond')",
        )
        .bind(key.as_bytes().as_slice())
        .bind(sealed)
        .bind(ttl.as_millis() as f64)
        .execute(&self.pool)
        .await
        .map_err(backend("keep the pending login"))?;
        Ok(())
    }

    async fn take(&self, key: &StateHash) -> Result<Option<PendingConnect>, PendingStoreError> {
        let row = sqlx::query(
            "DELETE FROM lexoffice_login_pending WHERE state_hash = $1
             RETURNING sealed, expires_at > clock_timestamp() AS live",
        )
        .bind(key.as_bytes().as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend("take the pending login"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let live: bool = row
            .try_get("live")
            .map_err(backend("read the pending login"))?;
        if !live {
            return Ok(None);
        }
        let sealed: Vec<u8> = row
            .try_get("sealed")
            .map_err(backend("read the pending login"))?;
        let plain = self
            .keys
            .decrypt(AAD, &sealed)
            .map_err(|e| PendingStoreError::Backend(Box::new(e)))?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|e| PendingStoreError::Backend(e.to_string().into()))
    }
}
