//! Where the backend-for-frontend keeps its state: sessions, started logins and the
//! logins' tokens, all in this process ([`InMemory`]) or all in PostgreSQL
//! ([`InPostgres`], shared by every replica). The library's stores do the work; this
//! module only names the two combinations and builds them.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use lexoffice_login::connections::{Connections, ListStore};
use lexoffice_login::ratelimit::{BudgetRate, LocalRateBudget, PostgresRateBudget, RateBudget};
use lexoffice_login::store::{MemoryStore, PostgresStore, StoreError};
use lexoffice_login::web::{
    MemoryPendingStore, MemorySessionStore, PendingStore, PostgresPendingStore,
    PostgresSessionStore, SessionStore, SessionTimeouts,
};
use lexoffice_login::Client;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{CliError, Exit};

/// One combination of stores.
pub trait Stores: Send + Sync + 'static {
    /// The logins' tokens (the connection registry's store).
    type Tokens: ListStore + Clone + Send + Sync + 'static;
    /// Browser sessions.
    type Sessions: SessionStore;
    /// Logins waiting for their callback.
    type Pending: PendingStore;
}

/// Everything in this process: one replica; sessions end when it stops.
pub struct InMemory;

impl Stores for InMemory {
    type Tokens = MemoryStore;
    type Sessions = MemorySessionStore;
    type Pending = MemoryPendingStore;
}

/// Everything in PostgreSQL, sealed with the store's key: any number of replicas.
pub struct InPostgres;

impl Stores for InPostgres {
    type Tokens = PostgresStore;
    type Sessions = PostgresSessionStore;
    type Pending = PostgresPendingStore;
}

/// The stores of one combination, built.
pub struct Built<B: Stores> {
    pub connections: Connections<B::Tokens>,
    pub sessions: B::Sessions,
    pub pending: B::Pending,
    pub budget: Option<Arc<dyn RateBudget>>,
}

/// The in-memory stores.
pub fn in_memory(
    client: &Client,
    timeouts: SessionTimeouts,
    rate: Option<BudgetRate>,
) -> Result<Built<InMemory>, CliError> {
    let budget: Option<Arc<dyn RateBudget>> = match rate {
        None => None,
        Some(rate) => {
            Some(Arc::new(LocalRateBudget::new(rate).map_err(|e| {
                CliError::new(Exit::Usage, format!("--rate-limit: {e}"))
            })?))
        }
    };
    Ok(Built {
        connections: Connections::new(MemoryStore::new()).with_client(client.clone()),
        sessions: MemorySessionStore::new(timeouts),
        pending: MemoryPendingStore::new(),
        budget,
    })
}

/// The PostgreSQL stores on `database_url` (migrated at start), sealed with
/// LEXOFFICE_LOGIN_STORE_KEY.
pub async fn in_postgres(
    client: &Client,
    database_url: &str,
    database_timeout: Duration,
    timeouts: SessionTimeouts,
    rate: Option<BudgetRate>,
) -> Result<Built<InPostgres>, CliError> {
    let store = PostgresStore::builder()
        .database_url(database_url)
        .acquire_timeout(database_timeout)
        .build()
        .await
        .map_err(|e| match e {
            StoreError::EncryptionRequired => CliError::new(
                Exit::Config,
                format!(
                    "the PostgreSQL session store seals sessions and tokens with {}, which is not set",
                    lexoffice_login::protocol::STORE_KEY_VAR
                ),
            )
            .hint(format!(
                "export {}=\"$(openssl rand -base64 32)\" (the same key on every replica)",
                lexoffice_login::protocol::STORE_KEY_VAR
            )),
            // The database URL can hold a password: the message names the action only.
            other => CliError::new(
                Exit::Error,
                format!("the session database cannot be used: {other}"),
            )
            .hint("check --database-url (DATABASE_URL) and that the database accepts connections"),
        })?;
    let budget = rate
        .map(|rate| Arc::new(PostgresRateBudget::on_store(&store, rate)) as Arc<dyn RateBudget>);
    Ok(Built {
        connections: Connections::new(store.clone()).with_client(client.clone()),
        sessions: PostgresSessionStore::new(&store, timeouts),
        pending: PostgresPendingStore::new(&store),
        budget,
    })
}

/// A new random secret: 256 bits, base64url without padding (43 characters).
pub fn random_secret() -> Result<String, CliError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| CliError::new(Exit::Error, format!("no randomness: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The SHA-256 digest of `secret`, in hex (how a login-binding cookie is kept).
pub fn digest_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
