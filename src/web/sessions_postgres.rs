//! [`PostgresSessionStore`]: browser sessions shared by every replica of a
//! backend-for-frontend (features `axum` and `postgres`).

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use super::sessions::{
    BrowserSession, SessionDigest, SessionId, SessionLookup, SessionStore, SessionStoreError,
    SessionTimeouts,
};
use crate::protocol::{system_clock, Clock, SharedClock};
use crate::store::{KeyProvider, PostgresStore};

/// Sessions in PostgreSQL (table `lexoffice_login_sessions`, made by the
/// [`PostgresStore`]'s migrations), on a store's database and key: a request can land on
/// any replica, and sessions outlive a restart.
///
/// Each row is keyed by the digest of the session id (the id itself is never stored) and
/// sealed with the store's [`KeyProvider`], bound to that digest (the user's name and
/// e-mail address are not in clear, and a row cannot be moved under another id). Times
/// come from the store's [`Clock`]; replicas' clocks are assumed to agree within a
/// second (NTP). Activity is recorded with `GREATEST`, so a replica whose clock lags
/// never moves a session's last activity back. An expired session is handed out once,
/// by `DELETE … RETURNING`, however many replicas find it.
///
/// ```no_run
/// # async fn run(store: lexoffice_login::store::PostgresStore) {
/// use lexoffice_login::web::{PostgresSessionStore, SessionTimeouts};
/// let sessions = PostgresSessionStore::new(&store, SessionTimeouts::default());
/// # let _ = sessions; }
/// ```
#[derive(Clone)]
pub struct PostgresSessionStore {
    pool: PgPool,
    keys: Arc<dyn KeyProvider>,
    timeouts: SessionTimeouts,
    clock: SharedClock,
}

impl fmt::Debug for PostgresSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresSessionStore")
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

/// The associated data a session row is sealed with, before the id's digest.
const AAD: &[u8] = b"lexoffice-login/session/v1/";

fn aad(digest: &SessionDigest) -> Vec<u8> {
    [AAD, digest.as_bytes().as_slice()].concat()
}

fn backend(what: &'static str) -> impl Fn(sqlx::Error) -> SessionStoreError {
    move |e| SessionStoreError::Backend(format!("could not {what}: {e}").into())
}

impl PostgresSessionStore {
    /// Sessions on `store`'s database, sealed with its key, on the system clock (the
    /// store's migrations made the table).
    pub fn new(store: &PostgresStore, timeouts: SessionTimeouts) -> Self {
        Self {
            pool: store.pool().clone(),
            keys: store.keys(),
            timeouts,
            clock: system_clock(),
        }
    }

    /// Times sessions by `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn seal(
        &self,
        digest: &SessionDigest,
        session: &BrowserSession,
    ) -> Result<Vec<u8>, SessionStoreError> {
        let plain = serde_json::to_vec(session)
            .map_err(|e| SessionStoreError::Backend(e.to_string().into()))?;
        self.keys
            .encrypt(&aad(digest), &plain)
            .map_err(|e| SessionStoreError::Backend(Box::new(e)))
    }

    fn open(
        &self,
        digest: &SessionDigest,
        row: &sqlx::postgres::PgRow,
    ) -> Result<BrowserSession, SessionStoreError> {
        let sealed: Vec<u8> = row.try_get("sealed").map_err(backend("read a session"))?;
        let plain = self
            .keys
            .decrypt(&aad(digest), &sealed)
            .map_err(|e| SessionStoreError::Backend(Box::new(e)))?;
        serde_json::from_slice(&plain).map_err(|e| SessionStoreError::Backend(e.to_string().into()))
    }

    fn now_and_cutoffs(&self) -> (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>) {
        let now = self.clock.now();
        let (idle, absolute) = self.timeouts.cutoffs(now);
        (now, idle, absolute)
    }
}

impl SessionStore for PostgresSessionStore {
    async fn create(&self, session: BrowserSession) -> Result<SessionId, SessionStoreError> {
        let id = SessionId::generate()?;
        let digest = id.digest();
        let sealed = self.seal(&digest, &session)?;
        sqlx::query(
            "INSERT INTO lexoffice_login_sessions (id_hash, sealed, created_at, last_seen)
             VALUES ($1, $2, $3, $3)",
        )
        .bind(digest.as_bytes().as_slice())
        .bind(sealed)
        .bind(self.clock.now())
        .execute(&self.pool)
        .await
        .map_err(backend("keep the session"))?;
        Ok(id)
    }

    async fn touch(&self, id: &SessionId) -> Result<SessionLookup, SessionStoreError> {
        let digest = id.digest();
        let (now, idle, absolute) = self.now_and_cutoffs();
        let active = sqlx::query(
            "UPDATE lexoffice_login_sessions SET last_seen = GREATEST(last_seen, $2)
             WHERE id_hash = $1 AND last_seen > $3 AND created_at > $4
             RETURNING sealed",
        )
        .bind(digest.as_bytes().as_slice())
        .bind(now)
        .bind(idle)
        .bind(absolute)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend("find the session"))?;
        if let Some(row) = active {
            return self.open(&digest, &row).map(SessionLookup::Active);
        }
        // Not active: timed out (taken here, once) or not there at all.
        let expired = sqlx::query(
            "DELETE FROM lexoffice_login_sessions
             WHERE id_hash = $1 AND NOT (last_seen > $2 AND created_at > $3)
             RETURNING sealed",
        )
        .bind(digest.as_bytes().as_slice())
        .bind(idle)
        .bind(absolute)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend("end a timed-out session"))?;
        match expired {
            Some(row) => self.open(&digest, &row).map(SessionLookup::Expired),
            None => Ok(SessionLookup::Unknown),
        }
    }

    async fn remove(&self, id: &SessionId) -> Result<Option<BrowserSession>, SessionStoreError> {
        let digest = id.digest();
        let row =
            sqlx::query("DELETE FROM lexoffice_login_sessions WHERE id_hash = $1 RETURNING sealed")
                .bind(digest.as_bytes().as_slice())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend("end the session"))?;
        row.map(|row| self.open(&digest, &row)).transpose()
    }

    async fn sweep(&self) -> Result<Vec<BrowserSession>, SessionStoreError> {
        let (_, idle, absolute) = self.now_and_cutoffs();
        let rows = sqlx::query(
            "DELETE FROM lexoffice_login_sessions WHERE last_seen <= $1 OR created_at <= $2
             RETURNING id_hash, sealed",
        )
        .bind(idle)
        .bind(absolute)
        .fetch_all(&self.pool)
        .await
        .map_err(backend("end timed-out sessions"))?;
        let mut gone = Vec::with_capacity(rows.len());
        for row in rows {
            let hash: Vec<u8> = row.try_get("id_hash").map_err(backend("read a session"))?;
            let Ok(digest) = <[u8; 32]>::try_from(hash.as_slice()) else {
                tracing::warn!("a session row with a malformed id digest was removed");
                continue;
            };
            match self.open(&SessionDigest::from_bytes(digest), &row) {
                Ok(session) => gone.push(session),
                // The row is gone either way; one unreadable row must not stop the rest.
                Err(e) => tracing::warn!(error = %e, "a timed-out session could not be read"),
            }
        }
        Ok(gone)
    }
}
