//! [`PostgresStore`]: logins in PostgreSQL, one row per connection, shared by any number
//! of replicas of a service (cargo feature `postgres`).
//!
//! # Design
//!
//! - **Rows.** `lexoffice_login_connections` holds one row per connection, keyed by the
//!   connection id `env/profile` ([`PostgresStore::connection_id`]): provider, tenant,
//!   the sealed token set, a state, timestamps and the last error in words.
//! - **Encryption.** Token sets are sealed by a [`KeyProvider`] before they leave the
//!   process, with the connection id as associated data (a row copied onto another
//!   connection's id does not decrypt). [`EncryptionKey`] is one: ChaCha20-Poly1305 with
//!   a random nonce per write, as in [`FileStore`](super::FileStore). A key is required:
//!   this store never writes or reads tokens in clear.
//! - **Refresh lock.** [`TokenStore::lock_refresh`] takes a pooled connection, opens a
//!   transaction with `lock_timeout` set to what is left of the store's lock timeout,
//!   and holds `SELECT ... FOR UPDATE` on the connection's row in
//!   `lexoffice_login_refresh_locks` (created first if missing) until the
//!   [`RefreshGuard`] is dropped, which rolls the transaction back. The lock lives in
//!   PostgreSQL's session: a replica that dies or is cut off loses its connection and
//!   PostgreSQL releases its lock. A holder that hangs is cut off after
//!   [`PostgresStoreBuilder::max_hold`] (`idle_in_transaction_session_timeout`).
//!   Waiters in the same process queue on an in-process mutex first, so that a process
//!   uses at most one database connection per connection id for waiting.
//! - **Load and save go through the pool, not through the guard.** The
//!   [`TokenStore`] trait hands the holder no way to reach the guard's transaction, so
//!   [`TokenStore::load`] and [`TokenStore::save`] run on other pooled connections and
//!   each commits at once: the rotated tokens are durable before the manager hands out
//!   the new access token. The lock sits on a row of its own table, not on the tokens'
//!   row, so the holder's own save is never blocked by its own lock; the row lock only
//!   serialises holders, which is all that [`TokenManager`](crate::TokenManager) needs
//!   (it re-reads under the lock, refreshes, saves, then drops the guard). Locks and data
//!   use two pools, so holders waiting for a lock can never take the connections the
//!   current holder needs to save.
//! - **Schema.** Embedded migrations run at [`PostgresStoreBuilder::build`] (unless
//!   turned off), each once, in one transaction under an advisory lock, recorded in
//!   `lexoffice_login_schema_migrations`. The same run makes the table of the shared
//!   rate budgets (`lexoffice_login_rate_budget`, see
//!   [`PostgresRateBudget`]) if it is missing.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Executor as _, Postgres, Row, Transaction};

use super::{EncryptionKey, RefreshGuard, StoreError, StoreKey, TokenStore};
use crate::tokens::TokenSet;

mod migrations;

/// The table of connections.
pub const CONNECTIONS_TABLE: &str = "lexoffice_login_connections";
/// The table whose rows the refresh locks are taken on.
pub const LOCKS_TABLE: &str = "lexoffice_login_refresh_locks";
/// The table that records the applied migrations.
pub const MIGRATIONS_TABLE: &str = "lexoffice_login_schema_migrations";

/// The advisory lock key held while migrating (`lexoffice` in ASCII).
const MIGRATION_LOCK: i64 = 0x6c65_786f_6666_6963;
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_HOLD: Duration = Duration::from_secs(300);
/// PostgreSQL's SQLSTATE `lock_not_available` (a `lock_timeout` expired).
const LOCK_NOT_AVAILABLE: &str = "55P03";
/// The sealed format of [`EncryptionKey`]: this byte, the 12-byte nonce, the ciphertext.
const SEALED_CHACHA_V1: u8 = 1;
/// The longest `last_error` kept, in bytes.
const MAX_ERROR_LEN: usize = 1000;

/// Seals and opens token sets for [`PostgresStore`]: the place for a KMS.
///
/// `aad` is authenticated data that must be bound to the sealed bytes (the store passes
/// `lexoffice-login/postgres/v1/<connection id>`): opening with another `aad` must fail.
/// The methods are synchronous; a KMS implementation typically unwraps a data key once
/// (envelope encryption) and seals locally with it.
///
/// Errors: [`StoreError::Decrypt`] when the bytes were sealed with another key or altered,
/// [`StoreError::Corrupt`] when they are not in the provider's format,
/// [`StoreError::Encrypt`] when sealing fails; the store replaces their `path` with the
/// row's name.
pub trait KeyProvider: Send + Sync + 'static {
    /// Seals `plain`, bound to `aad`.
    fn encrypt(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, StoreError>;

    /// Opens what [`KeyProvider::encrypt`] sealed with the same `aad`.
    fn decrypt(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StoreError>;
}

/// ChaCha20-Poly1305 with a random 96-bit nonce per seal; the sealed bytes are a version
/// byte (1), the nonce and the ciphertext with its tag.
impl KeyProvider for EncryptionKey {
    fn encrypt(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, StoreError> {
        let cipher = chacha(self)?;
        let mut nonce = [0u8; 12];
        getrandom::getrandom(&mut nonce).map_err(|e| StoreError::Encrypt(e.to_string()))?;
        let ciphertext = cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plain, aad })
            .map_err(|_| StoreError::Encrypt("the cipher refused the input".to_owned()))?;
        let mut sealed = Vec::with_capacity(1 + nonce.len() + ciphertext.len());
        sealed.push(SEALED_CHACHA_V1);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    fn decrypt(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        let corrupt = |detail: &str| StoreError::Corrupt {
            path: PathBuf::new(),
            detail: detail.to_owned(),
        };
        let (&version, rest) = sealed
            .split_first()
            .ok_or_else(|| corrupt("the sealed tokens are empty"))?;
        if version != SEALED_CHACHA_V1 {
            return Err(StoreError::UnsupportedFormat {
                path: PathBuf::new(),
                version: u64::from(version),
                alg: "unknown".to_owned(),
            });
        }
        if rest.len() < 12 + 16 {
            return Err(corrupt("the sealed tokens are too short"));
        }
        let (nonce, ciphertext) = rest.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| corrupt("bad nonce"))?;
        chacha(self)?
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| StoreError::Decrypt {
                path: PathBuf::new(),
            })
    }
}

/// The cipher of `key` (its bytes are private to the file store; the base64 form is
/// the public way to them).
fn chacha(key: &EncryptionKey) -> Result<ChaCha20Poly1305, StoreError> {
    let bytes: [u8; 32] = STANDARD
        .decode(key.to_base64())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError::BadKey {
            detail: "it is not 32 bytes".to_owned(),
        })?;
    Ok(ChaCha20Poly1305::new(&Key::from(bytes)))
}

/// A PostgreSQL operation of [`PostgresStore`] failed; carried in
/// [`StoreError::Backend`]. The message names the operation and PostgreSQL's (or the
/// driver's) reason, never a token or the database password.
#[derive(Debug, thiserror::Error)]
#[error("PostgreSQL: could not {action}: {source}")]
pub struct PostgresError {
    action: &'static str,
    #[source]
    source: sqlx::Error,
}

impl PostgresError {
    /// What the store was doing (`load the tokens`, `take the refresh lock` ...).
    pub fn action(&self) -> &'static str {
        self.action
    }

    /// PostgreSQL's SQLSTATE code, when the server refused the statement.
    pub fn code(&self) -> Option<String> {
        match &self.source {
            sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
            _ => None,
        }
    }
}

pub(crate) fn pg(action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Backend(Box::new(PostgresError { action, source }))
}

/// Where a connection stands, as the registry sees it (the `state` column).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Logged in; refreshes work (`active`). Every save sets this.
    Active,
    /// Refreshes fail for a reason that may pass (`refresh_failing`).
    RefreshFailing,
    /// The provider no longer accepts the login; the user must connect again
    /// (`login_required`).
    LoginRequired,
    /// The app or the user ended the connection (`disconnected`).
    Disconnected,
    /// A state written by a newer version (the text as stored).
    Other(String),
}

impl ConnectionState {
    /// The text stored in the `state` column.
    pub fn as_str(&self) -> &str {
        match self {
            ConnectionState::Active => "active",
            ConnectionState::RefreshFailing => "refresh_failing",
            ConnectionState::LoginRequired => "login_required",
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::Other(s) => s,
        }
    }

    /// The state for a stored text (unknown texts become [`ConnectionState::Other`]).
    pub fn parse(text: &str) -> Self {
        match text {
            "active" => ConnectionState::Active,
            "refresh_failing" => ConnectionState::RefreshFailing,
            "login_required" => ConnectionState::LoginRequired,
            "disconnected" => ConnectionState::Disconnected,
            other => ConnectionState::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored connection, without its tokens ([`PostgresStore::list`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredConnection {
    /// The connection id, `env/profile` ([`PostgresStore::connection_id`]).
    pub connection_id: String,
    /// The store key it was saved under.
    pub key: StoreKey,
    /// The provider preset's name (`lexoffice` ...), else the issuer, else `unknown`.
    pub provider: String,
    /// The provider's tenant (company, realm), when known.
    pub tenant: Option<String>,
    /// Where the connection stands.
    pub state: ConnectionState,
    /// When the connection was first saved.
    pub created_at: DateTime<Utc>,
    /// When it was last saved or changed.
    pub updated_at: DateTime<Utc>,
    /// Since when its refreshes fail, if they do.
    pub refresh_failed_since: Option<DateTime<Utc>>,
    /// Why the last refresh failed, in words.
    pub last_error: Option<String>,
}

/// Settings of a [`PostgresStore`]; [`PostgresStoreBuilder::build`] connects.
pub struct PostgresStoreBuilder {
    options: Option<Result<PgConnectOptions, sqlx::Error>>,
    key: Option<Arc<dyn KeyProvider>>,
    key_from_env: bool,
    lock_timeout: Duration,
    max_hold: Duration,
    max_connections: u32,
    max_lock_connections: u32,
    migrate: bool,
    acquire_timeout: Duration,
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStoreBuilder")
            .field("database_set", &self.options.is_some())
            .field("key_set", &self.key.is_some())
            .field("key_from_env", &self.key_from_env)
            .field("lock_timeout", &self.lock_timeout)
            .field("max_hold", &self.max_hold)
            .field("max_connections", &self.max_connections)
            .field("max_lock_connections", &self.max_lock_connections)
            .field("migrate", &self.migrate)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

impl PostgresStoreBuilder {
    /// The database, as a `postgres://user:password@host:port/db?sslmode=...` URL.
    pub fn database_url(mut self, url: &str) -> Self {
        self.options = Some(url.parse::<PgConnectOptions>());
        self
    }

    /// The database, as sqlx connect options.
    pub fn connect_options(mut self, options: PgConnectOptions) -> Self {
        self.options = Some(Ok(options));
        self
    }

    /// Seals token sets with `key` (an [`EncryptionKey`], or a KMS's [`KeyProvider`])
    /// instead of the key in [`STORE_KEY_ENV`](super::STORE_KEY_ENV).
    pub fn key(mut self, key: impl KeyProvider) -> Self {
        self.key = Some(Arc::new(key));
        self
    }

    /// Seals token sets with a shared key provider.
    pub fn key_provider(mut self, key: Arc<dyn KeyProvider>) -> Self {
        self.key = Some(key);
        self
    }

    /// Ignores [`STORE_KEY_ENV`](super::STORE_KEY_ENV): a key must then be given with
    /// [`PostgresStoreBuilder::key`].
    pub fn ignore_env_key(mut self) -> Self {
        self.key_from_env = false;
        self
    }

    /// How long [`TokenStore::lock_refresh`] waits for another holder (default 30 s);
    /// then it fails with [`StoreError::LockTimeout`].
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The longest a holder may keep the refresh lock while idle (default 5 min): then
    /// PostgreSQL ends its session and the lock passes on (a hung holder cannot block
    /// the others for longer).
    pub fn max_hold(mut self, max: Duration) -> Self {
        self.max_hold = max;
        self
    }

    /// Connections for loads and saves (default 10).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Connections for holding refresh locks: at most this many connections of one
    /// process refresh at once (default 10).
    pub fn max_lock_connections(mut self, n: u32) -> Self {
        self.max_lock_connections = n.max(1);
        self
    }

    /// How long getting a database connection may take, including the first connect of
    /// [`PostgresStoreBuilder::build`] (default 30 s): past it, the statement fails
    /// with a store error instead of waiting.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Whether [`PostgresStoreBuilder::build`] brings the schema up to date (default
    /// on). Off, run [`PostgresStore::migrate`] from a deployment step instead.
    pub fn migrate(mut self, on: bool) -> Self {
        self.migrate = on;
        self
    }

    /// Resolves the key, connects and migrates.
    ///
    /// Fails with [`StoreError::EncryptionRequired`] without a key, and with
    /// [`StoreError::Backend`] ([`PostgresError`]) when the database cannot be reached.
    pub async fn build(self) -> Result<PostgresStore, StoreError> {
        let key = match self.key {
            Some(key) => key,
            None if self.key_from_env => match EncryptionKey::from_env()? {
                Some(key) => Arc::new(key),
                None => return Err(StoreError::EncryptionRequired),
            },
            None => return Err(StoreError::EncryptionRequired),
        };
        let options = self
            .options
            .ok_or_else(|| {
                StoreError::Backend(
                    "no database is set; pass one with PostgresStore::builder().database_url(...)"
                        .into(),
                )
            })?
            .map_err(pg("read the database URL"))?;
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            .connect_with(options.clone().application_name("lexoffice-login"))
            .await
            .map_err(pg("connect"))?;
        let lock_pool = PgPoolOptions::new()
            .max_connections(self.max_lock_connections)
            .acquire_timeout(self.acquire_timeout)
            .connect_lazy_with(options.application_name("lexoffice-login refresh lock"));
        let store = PostgresStore {
            inner: Arc::new(Inner {
                pool,
                lock_pool,
                key,
                lock_timeout: self.lock_timeout,
                max_hold: self.max_hold,
                local: Mutex::new(HashMap::new()),
            }),
        };
        if self.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }
}

/// Logins in PostgreSQL, for services with many connections and several replicas: rows
/// sealed at rest, refreshes coordinated across replicas by a row lock (see the module
/// documentation for the design).
///
/// Cheap to clone; clones share the pools.
///
/// ```no_run
/// use lexoffice_login::store::{EncryptionKey, PostgresStore, StoreKey, TokenStore};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresStore::builder()
///     .database_url("postgres://app@db.internal/app?sslmode=require")
///     .key(EncryptionKey::from_base64(&std::env::var("TOKENS_KEY")?)?)
///     .build()
///     .await?;
/// let tokens = store.load(&StoreKey::new("production", "customer-42")).await?;
/// # let _ = tokens;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Loads, saves, listings: short statements, each committed at once.
    pool: PgPool,
    /// Held by refresh guards for the length of a refresh.
    lock_pool: PgPool,
    key: Arc<dyn KeyProvider>,
    lock_timeout: Duration,
    max_hold: Duration,
    /// In-process queue per connection id, in front of the database lock.
    local: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("lock_timeout", &self.inner.lock_timeout)
            .field("max_hold", &self.inner.max_hold)
            .field("connections", &self.inner.pool.size())
            .field("lock_connections", &self.inner.lock_pool.size())
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Settings with the defaults: the key from [`STORE_KEY_ENV`](super::STORE_KEY_ENV)
    /// (required), a 30 s lock timeout, 5 min of longest hold, 10 + 10 connections,
    /// migrations on. A database must be set.
    pub fn builder() -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            options: None,
            key: None,
            key_from_env: true,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            max_hold: DEFAULT_MAX_HOLD,
            max_connections: 10,
            max_lock_connections: 10,
            migrate: true,
            acquire_timeout: Duration::from_secs(30),
        }
    }

    /// The connection id of `key`: `env/profile`, with `%` and `/` inside either part
    /// written as `%25` and `%2F` so that ids are unambiguous.
    pub fn connection_id(key: &StoreKey) -> String {
        fn escape(part: &str) -> String {
            part.replace('%', "%25").replace('/', "%2F")
        }
        format!("{}/{}", escape(&key.env), escape(&key.profile))
    }

    /// The key the store seals with (for other sealed rows on the same database, such
    /// as pending logins).
    pub fn keys(&self) -> Arc<dyn KeyProvider> {
        self.inner.key.clone()
    }

    /// The pool for loads and saves (for queries of the application's own, such as
    /// joining connections to its tables).
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Brings the schema up to date: runs the embedded migrations that this database
    /// has not seen, in one transaction under an advisory lock.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        Self::migrate_pool(&self.inner.pool).await
    }

    /// [`PostgresStore::migrate`] on any pool (also [`PostgresRateBudget::migrate`]).
    pub(crate) async fn migrate_pool(pool: &PgPool) -> Result<(), StoreError> {
        let mut tx = pool.begin().await.map_err(pg("begin the migration"))?;
        // Through a plain `&mut PgConnection`: the future stays `Send` (sqlx's executor
        // bounds on `&mut *tx` are not general enough for the compiler to prove it).
        let conn: &mut sqlx::PgConnection = &mut tx;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(pg("take the migration lock"))?;
        conn.execute(
            "CREATE TABLE IF NOT EXISTS lexoffice_login_schema_migrations (
                version     bigint      PRIMARY KEY,
                description text        NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(pg("create the migrations table"))?;
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM lexoffice_login_schema_migrations")
                .fetch_all(&mut *conn)
                .await
                .map_err(pg("read the applied migrations"))?;
        let known = migrations::MIGRATIONS.last().map_or(0, |m| m.version);
        if let Some(newer) = applied.iter().copied().filter(|v| *v > known).max() {
            tracing::warn!(
                newer,
                known,
                "the database schema is newer than this version of lexoffice-login"
            );
        }
        for m in migrations::MIGRATIONS {
            if applied.contains(&m.version) {
                continue;
            }
            // No arguments: the simple query protocol, which takes several statements.
            conn.execute(m.sql).await.map_err(pg("apply a migration"))?;
            sqlx::query(
                "INSERT INTO lexoffice_login_schema_migrations (version, description) VALUES ($1, $2)",
            )
            .bind(m.version)
            .bind(m.description)
            .execute(&mut *conn)
            .await
            .map_err(pg("record a migration"))?;
            tracing::info!(
                version = m.version,
                description = m.description,
                "migrated the token store"
            );
        }
        tx.commit().await.map_err(pg("commit the migration"))
    }

    /// Every stored connection, without tokens, ordered by connection id.
    pub async fn list(&self) -> Result<Vec<StoredConnection>, StoreError> {
        let rows = sqlx::query(
            "SELECT connection_id, environment, profile, provider, tenant, state, created_at,
                    updated_at, refresh_failed_since, last_error
             FROM lexoffice_login_connections ORDER BY connection_id",
        )
        .fetch_all(&self.inner.pool)
        .await
        .map_err(pg("list the connections"))?;
        rows.iter()
            .map(|row| {
                let get = |e| pg("read a connection")(e);
                Ok(StoredConnection {
                    connection_id: row.try_get("connection_id").map_err(get)?,
                    key: StoreKey::new(
                        row.try_get::<String, _>("environment").map_err(get)?,
                        row.try_get::<String, _>("profile").map_err(get)?,
                    ),
                    provider: row.try_get("provider").map_err(get)?,
                    tenant: row.try_get("tenant").map_err(get)?,
                    state: ConnectionState::parse(row.try_get("state").map_err(get)?),
                    created_at: row.try_get("created_at").map_err(get)?,
                    updated_at: row.try_get("updated_at").map_err(get)?,
                    refresh_failed_since: row.try_get("refresh_failed_since").map_err(get)?,
                    last_error: row.try_get("last_error").map_err(get)?,
                })
            })
            .collect()
    }

    /// Records where the connection for `key` stands, with the last error in words
    /// (pass text without secrets: it is stored in clear; it is cut to 1000 bytes).
    /// `refresh_failed_since` is set when the state first turns to
    /// [`ConnectionState::RefreshFailing`] or [`ConnectionState::LoginRequired`] and
    /// cleared by [`ConnectionState::Active`]. Returns whether the connection exists.
    pub async fn set_state(
        &self,
        key: &StoreKey,
        state: &ConnectionState,
        last_error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let last_error = last_error.map(|e| truncate(e, MAX_ERROR_LEN));
        let done = sqlx::query(
            "UPDATE lexoffice_login_connections
             SET state = $2, last_error = $3, updated_at = now(),
                 refresh_failed_since = CASE
                     WHEN $2 = 'active' THEN NULL
                     WHEN $2 IN ('refresh_failing', 'login_required')
                         THEN COALESCE(refresh_failed_since, now())
                     ELSE refresh_failed_since END
             WHERE connection_id = $1",
        )
        .bind(Self::connection_id(key))
        .bind(state.as_str())
        .bind(last_error)
        .execute(&self.inner.pool)
        .await
        .map_err(pg("set the connection's state"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Records the provider's tenant for `key` (saves keep it). Returns whether the
    /// connection exists.
    pub async fn set_tenant(
        &self,
        key: &StoreKey,
        tenant: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE lexoffice_login_connections SET tenant = $2, updated_at = now()
             WHERE connection_id = $1",
        )
        .bind(Self::connection_id(key))
        .bind(tenant)
        .execute(&self.inner.pool)
        .await
        .map_err(pg("set the connection's tenant"))?;
        Ok(done.rows_affected() > 0)
    }

    /// The in-process queue for `id`; entries nobody holds or waits on are dropped.
    fn local_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self
            .inner
            .local
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.retain(|_, m| Arc::strong_count(m) > 1);
        map.entry(id.to_owned()).or_default().clone()
    }
}

/// Held by a [`RefreshGuard`]: the transaction that holds the row lock (rolled back when
/// dropped, releasing it), then the in-process queue's place. Fields drop in order.
struct Held {
    _tx: Transaction<'static, Postgres>,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

impl TokenStore for PostgresStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<TokenSet>, StoreError> {
        let id = Self::connection_id(key);
        let sealed: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT token_set FROM lexoffice_login_connections WHERE connection_id = $1",
        )
        .bind(&id)
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(pg("load the tokens"))?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let plain = self
            .inner
            .key
            .decrypt(aad(&id).as_bytes(), &sealed)
            .map_err(|e| relabel(e, &id))?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|_| StoreError::Corrupt {
                path: row_path(&id),
                detail: "the decrypted tokens are malformed".to_owned(),
            })
    }

    async fn save(&self, key: &StoreKey, tokens: &TokenSet) -> Result<(), StoreError> {
        let id = Self::connection_id(key);
        let plain = serde_json::to_vec(tokens)
            .map_err(|e| StoreError::Encrypt(format!("the tokens could not be serialized: {e}")))?;
        let sealed = self
            .inner
            .key
            .encrypt(aad(&id).as_bytes(), &plain)
            .map_err(|e| relabel(e, &id))?;
        let origin = tokens.origin.as_ref();
        let provider = origin
            .map(|o| {
                o.provider
                    .map_or_else(|| o.issuer.clone(), |p| p.name().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let tenant = tokens
            .extras
            .get("realmId")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        // Committed when this returns (autocommit, synchronous commit): the rotated
        // tokens survive this process before anyone is handed the new access token.
        sqlx::query(
            "INSERT INTO lexoffice_login_connections
                 (connection_id, environment, profile, provider, tenant, token_set)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (connection_id) DO UPDATE SET
                 token_set = EXCLUDED.token_set,
                 provider = EXCLUDED.provider,
                 tenant = COALESCE(EXCLUDED.tenant, lexoffice_login_connections.tenant),
                 state = 'active',
                 updated_at = now(),
                 refresh_failed_since = NULL,
                 last_error = NULL",
        )
        .bind(&id)
        .bind(&key.env)
        .bind(&key.profile)
        .bind(provider)
        .bind(tenant)
        .bind(sealed)
        .execute(&self.inner.pool)
        .await
        .map_err(pg("save the tokens"))?;
        Ok(())
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        let id = Self::connection_id(key);
        sqlx::query("DELETE FROM lexoffice_login_connections WHERE connection_id = $1")
            .bind(&id)
            .execute(&self.inner.pool)
            .await
            .map_err(pg("delete the tokens"))?;
        // The lock row goes too unless a refresh holds it (never wait for it here: the
        // caller may be that holder).
        sqlx::query(
            "DELETE FROM lexoffice_login_refresh_locks WHERE connection_id IN (
                 SELECT connection_id FROM lexoffice_login_refresh_locks
                 WHERE connection_id = $1 FOR UPDATE SKIP LOCKED)",
        )
        .bind(&id)
        .execute(&self.inner.pool)
        .await
        .map_err(pg("delete the refresh lock"))?;
        Ok(())
    }

    async fn lock_refresh(&self, key: &StoreKey) -> Result<RefreshGuard, StoreError> {
        let id = Self::connection_id(key);
        let started = Instant::now();
        let timeout = self.inner.lock_timeout;
        let timed_out = |started: Instant| StoreError::LockTimeout {
            path: lock_path(&id),
            waited: started.elapsed(),
        };

        // Waiters of this process queue here, not on database connections.
        let local = tokio::time::timeout(timeout, self.local_lock(&id).lock_owned())
            .await
            .map_err(|_| timed_out(started))?;

        // A row deleted between the insert and the lock (by `delete`) is created again.
        for _ in 0..3 {
            sqlx::query(
                "INSERT INTO lexoffice_login_refresh_locks (connection_id) VALUES ($1)
                 ON CONFLICT DO NOTHING",
            )
            .bind(&id)
            .execute(&self.inner.pool)
            .await
            .map_err(pg("create the refresh lock"))?;

            let left = timeout.saturating_sub(started.elapsed());
            let mut tx = tokio::time::timeout(left, self.inner.lock_pool.begin())
                .await
                .map_err(|_| timed_out(started))?
                .map_err(pg("begin the refresh lock's transaction"))?;
            let left = timeout.saturating_sub(started.elapsed());
            // lock_timeout 0 would mean "wait forever".
            let lock_ms = left.as_millis().max(1);
            let hold_ms = self.inner.max_hold.as_millis().max(1);
            sqlx::query(
                "SELECT set_config('lock_timeout', $1, true),
                        set_config('idle_in_transaction_session_timeout', $2, true)",
            )
            .bind(format!("{lock_ms}ms"))
            .bind(format!("{hold_ms}ms"))
            .execute(&mut *tx)
            .await
            .map_err(pg("set the lock timeout"))?;
            let locked = sqlx::query(
                "SELECT connection_id FROM lexoffice_login_refresh_locks
                 WHERE connection_id = $1 FOR UPDATE",
            )
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await;
            match locked {
                Ok(Some(_)) => {
                    return Ok(RefreshGuard::new(Held {
                        _tx: tx,
                        _local: local,
                    }))
                }
                Ok(None) => continue,
                Err(sqlx::Error::Database(db))
                    if db.code().as_deref() == Some(LOCK_NOT_AVAILABLE) =>
                {
                    return Err(timed_out(started))
                }
                Err(e) => return Err(pg("take the refresh lock")(e)),
            }
        }
        Err(StoreError::Backend(
            format!("the refresh lock of {id} was deleted three times while it was being taken")
                .into(),
        ))
    }
}

/// `d` in whole microseconds (saturating).
pub(crate) fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The authenticated data of a row: binds its ciphertext to its connection id.
fn aad(id: &str) -> String {
    format!("lexoffice-login/postgres/v1/{id}")
}

/// How errors name a row (they have a path field, from the file store).
fn row_path(id: &str) -> PathBuf {
    PathBuf::from(format!("{CONNECTIONS_TABLE}[{id}]"))
}

/// How errors name a lock row.
fn lock_path(id: &str) -> PathBuf {
    PathBuf::from(format!("{LOCKS_TABLE}[{id}]"))
}

/// A key provider's error, naming the row.
fn relabel(err: StoreError, id: &str) -> StoreError {
    match err {
        StoreError::Decrypt { .. } => StoreError::Decrypt { path: row_path(id) },
        StoreError::Corrupt { detail, .. } => StoreError::Corrupt {
            path: row_path(id),
            detail,
        },
        StoreError::UnsupportedFormat { version, alg, .. } => StoreError::UnsupportedFormat {
            path: row_path(id),
            version,
            alg,
        },
        other => other,
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_are_unambiguous() {
        let id = |e: &str, p: &str| PostgresStore::connection_id(&StoreKey::new(e, p));
        assert_eq!(id("production", "default"), "production/default");
        assert_ne!(id("a/b", "c"), id("a", "b/c"));
        assert_eq!(id("a/b", "c%"), "a%2Fb/c%25");
    }

    #[test]
    fn the_key_seals_bound_to_the_aad() {
        let key = EncryptionKey::from_bytes([9u8; 32]);
        let sealed = key.encrypt(b"a", b"secret").unwrap();
        assert_eq!(sealed[0], SEALED_CHACHA_V1);
        assert_eq!(key.decrypt(b"a", &sealed).unwrap(), b"secret");
        assert!(matches!(
            key.decrypt(b"b", &sealed),
            Err(StoreError::Decrypt { .. })
        ));
        let other = EncryptionKey::from_bytes([8u8; 32]);
        assert!(matches!(
            other.decrypt(b"a", &sealed),
            Err(StoreError::Decrypt { .. })
        ));
        assert!(matches!(
            key.decrypt(b"a", &sealed[..10]),
            Err(StoreError::Corrupt { .. })
        ));
        assert_ne!(
            key.encrypt(b"a", b"secret").unwrap(),
            sealed,
            "random nonce"
        );
    }

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn the_futures_are_send() {
        let store = PostgresStore::builder().build();
        assert_send(&store);
    }

    #[test]
    fn errors_are_cut_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
