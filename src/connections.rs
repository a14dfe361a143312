//! Many logins at once, for partner apps that connect hundreds of customers'
//! organisations: the [`Connections`] registry over any store that can list its logins.
//!
//! Each connection is one stored login ([`StoreKey`]); its tokens remember the issuer and
//! client they came from ([`TokenSet::origin`]), which picks the [`Client`] that refreshes
//! them. Access tokens come from one [`TokenManager`] per connection (single flight,
//! coordinated through the store's refresh lock, rotated refresh tokens stored before
//! use). Health is tracked per connection, and a sweep refreshes idle logins before their
//! refresh tokens expire (Xero's unused ones after 60 days) or rotate away (QuickBooks'
//! daily), with bounded concurrency and jitter.
//!
//! The single-login [`TokenManager`] stays the simple path for one login.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use openidconnect::AccessToken;

use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::manager::{ManagerError, ManagerOptions, TokenManager};
use crate::providers::{Provider, Rotation};
use crate::store::{StoreError, StoreKey, TokenStore};
use crate::tokens::TokenSet;

/// A store that can list the logins it holds (the registry's view of "all connections").
pub trait ListStore: TokenStore {
    /// Every stored login's key.
    fn list(&self) -> impl Future<Output = Result<Vec<StoreKey>, StoreError>> + Send;

    /// Records a connection's health where the store can keep it (PostgreSQL's `state`
    /// column, for every replica to see); the default keeps nothing.
    fn record_health(
        &self,
        key: &StoreKey,
        health: &Health,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (key, health);
        async { Ok(()) }
    }
}

/// How a connection is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// Its tokens work (or nothing has been asked of it yet).
    Active,
    /// Refreshing has failed since `since` for a reason that may pass (the provider is
    /// down); the registry keeps trying.
    RefreshFailing {
        /// When the failures began.
        since: DateTime<Utc>,
        /// The last failure (never a secret).
        reason: String,
    },
    /// The provider no longer accepts the login: the customer must connect again.
    NeedsReconsent {
        /// Why (never a secret).
        reason: String,
    },
    /// The connection was removed (revoked at the provider and deleted).
    Revoked,
}

/// One connection as the registry sees it. No token.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The connection's key in the store.
    pub key: StoreKey,
    /// The provider preset the login was made with, if any.
    pub provider: Option<Provider>,
    /// The issuer the login was made with.
    pub issuer: Option<String>,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the tokens were last obtained (login or refresh).
    pub obtained_at: DateTime<Utc>,
    /// How it is doing.
    pub health: Health,
}

/// Why the registry could not serve a connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// No connection is stored under this key.
    #[error("no connection {0} is stored; connect it first")]
    Unknown(StoreKey),
    /// The connection was made with an issuer or client this registry has no client for.
    #[error("connection {key} was made with the issuer {issuer:?}, for which no client is registered (Connections::with_client)")]
    NoClient {
        /// The connection.
        key: StoreKey,
        /// The login's issuer.
        issuer: String,
    },
    /// The token manager could not hand out a token.
    #[error(transparent)]
    Manager(#[from] ManagerError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The provider refused or failed (revocation at removal).
    #[error(transparent)]
    Provider(#[from] Error),
}

impl ConnectionError {
    /// What the caller should do about this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ConnectionError::Unknown(_) => ErrorKind::LoginRequired,
            ConnectionError::NoClient { .. } => ErrorKind::Misconfigured,
            ConnectionError::Manager(e) => e.kind(),
            ConnectionError::Store(_) => ErrorKind::Store,
            ConnectionError::Provider(e) => e.kind(),
        }
    }
}

/// How a proactive refresh sweep runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SweepOptions {
    /// Refreshes under way at once (default 8).
    pub concurrency: usize,
    /// Each refresh waits a random time up to this first, to spread the load (default
    /// 2 s).
    pub jitter: Duration,
    /// A login unused for this long is refreshed to keep its refresh token alive, where
    /// the provider says nothing shorter (default 7 days).
    pub max_idle: Duration,
}

impl Default for SweepOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            jitter: Duration::from_secs(2),
            max_idle: Duration::from_secs(7 * 86_400),
        }
    }
}

impl SweepOptions {
    /// Sets [`SweepOptions::concurrency`] (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
    /// Sets [`SweepOptions::jitter`].
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }
    /// Sets [`SweepOptions::max_idle`].
    pub fn max_idle(mut self, max_idle: Duration) -> Self {
        self.max_idle = max_idle;
        self
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Connections looked at.
    pub checked: usize,
    /// Connections refreshed.
    pub refreshed: usize,
    /// Connections whose refresh failed (their health says why).
    pub failed: usize,
}

/// The registry of connections over one store. Cheap to clone; clones share the
/// managers and the health.
///
/// ```no_run
/// use lexoffice_login::connections::Connections;
/// use lexoffice_login::store::{MemoryStore, StoreKey};
/// use lexoffice_login::{Client, Settings};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::connect(Settings::load(Some("production"))?).await?;
/// let connections = Connections::new(MemoryStore::new()).with_client(client);
/// let customer = StoreKey::new("production", "customer-42");
/// let token = connections.access_token(&customer).await?;
/// # let _ = token;
/// for c in connections.list().await? {
///     println!("{} {:?}", c.key, c.health);
/// }
/// # Ok(()) }
/// ```
pub struct Connections<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Connections<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<S> {
    store: S,
    clients: Vec<Client>,
    options: ManagerOptions,
    managers: Mutex<HashMap<StoreKey, TokenManager<S>>>,
    health: Mutex<HashMap<StoreKey, Health>>,
}

impl<S> std::fmt::Debug for Connections<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("clients", &self.inner.clients.len())
            .finish_non_exhaustive()
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<S: ListStore + Clone + Send + Sync + 'static> Connections<S> {
    /// A registry over `store`, with no client yet.
    pub fn new(store: S) -> Self {
        Self::with_options(store, ManagerOptions::default())
    }

    /// A registry whose token managers use `options`.
    pub fn with_options(store: S, options: ManagerOptions) -> Self {
        Connections {
            inner: Arc::new(Inner {
                store,
                clients: Vec::new(),
                options,
                managers: Mutex::new(HashMap::new()),
                health: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Adds the client for one provider (issuer and client id): connections made with it
    /// are refreshed through it. Call before sharing the registry.
    pub fn with_client(self, client: Client) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                store: shared.store.clone(),
                clients: shared.clients.clone(),
                options: shared.options.clone(),
                managers: Mutex::new(HashMap::new()),
                health: Mutex::new(locked(&shared.health).clone()),
            },
        };
        inner.clients.push(client);
        Connections {
            inner: Arc::new(inner),
        }
    }

    /// Stores a new connection's tokens (after the login), or replaces a reconnected
    /// one's. Its health is then active.
    pub async fn save(&self, key: &StoreKey, tokens: &TokenSet) -> Result<(), ConnectionError> {
        let manager = self.manager_for(key, tokens)?;
        manager.save_login(tokens.clone()).await?;
        self.set_health(key, Health::Active);
        Ok(())
    }

    /// A fresh access token for a connection, refreshed (once, whoever else asks) when
    /// needed. Its health follows the outcome.
    pub async fn access_token(&self, key: &StoreKey) -> Result<AccessToken, ConnectionError> {
        let manager = self.manager(key).await?;
        let result = manager.access_token().await;
        self.record(key, &result);
        Ok(result?)
    }

    /// Refreshes a connection now (after the API refused its token, or to keep an idle
    /// refresh token alive).
    pub async fn force_refresh(&self, key: &StoreKey) -> Result<AccessToken, ConnectionError> {
        let manager = self.manager(key).await?;
        let result = manager.force_refresh().await;
        self.record(key, &result);
        Ok(result?)
    }

    /// A connection's health (active when nothing is known yet).
    pub fn health(&self, key: &StoreKey) -> Health {
        locked(&self.inner.health)
            .get(key)
            .cloned()
            .unwrap_or(Health::Active)
    }

    /// Every stored connection, with its provider, expiry and health. No token.
    pub async fn list(&self) -> Result<Vec<ConnectionInfo>, ConnectionError> {
        let mut out = Vec::new();
        for key in self.inner.store.list().await? {
            let Some(tokens) = self.inner.store.load(&key).await? else {
                continue;
            };
            out.push(ConnectionInfo {
                provider: tokens.origin.as_ref().and_then(|o| o.provider),
                issuer: tokens.origin.as_ref().map(|o| o.issuer.clone()),
                expires_at: tokens.expires_at,
                obtained_at: tokens.obtained_at,
                health: self.health(&key),
                key,
            });
        }
        Ok(out)
    }

    /// Removes a connection: revokes its refresh token at the provider, then deletes
    /// it. If the provider cannot be reached the connection is kept (so that it can be
    /// revoked later) and the error returned.
    pub async fn remove(&self, key: &StoreKey) -> Result<(), ConnectionError> {
        let tokens = self.stored(key).await?;
        let client = self.client_for(key, &tokens)?;
        if tokens.refresh_token.is_some() {
            match client.revoke_refresh_token(&tokens).await {
                Ok(()) => {}
                // Already gone at the provider: nothing left to revoke.
                Err(e) if e.kind() == ErrorKind::LoginRequired => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.inner.store.delete(key).await?;
        locked(&self.inner.managers).remove(key);
        self.set_health(key, Health::Revoked);
        tracing::info!(connection = %key, "connection removed");
        Ok(())
    }

    /// Refreshes every connection whose refresh token should be used before it expires
    /// or rotates away: Xero's expire after 60 days unused, QuickBooks' change daily,
    /// others after [`SweepOptions::max_idle`]. At most `concurrency` at once, each after
    /// a random wait up to `jitter`.
    pub async fn refresh_due(&self, sweep: &SweepOptions) -> Result<SweepReport, ConnectionError> {
        let keys = self.inner.store.list().await?;
        let mut report = SweepReport {
            checked: keys.len(),
            ..SweepReport::default()
        };
        let limit = Arc::new(tokio::sync::Semaphore::new(sweep.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for key in keys {
            let Some(tokens) = self.inner.store.load(&key).await? else {
                continue;
            };
            let Ok(client) = self.client_for(&key, &tokens) else {
                continue;
            };
            if !self.is_due(&client, &tokens, sweep) {
                continue;
            }
            let this = self.clone();
            let limit = limit.clone();
            let jitter = jittered(sweep.jitter);
            tasks.spawn(async move {
                let _slot = limit.acquire_owned().await;
                tokio::time::sleep(jitter).await;
                let result = this.force_refresh(&key).await;
                if let Err(e) = &result {
                    tracing::warn!(connection = %key, error = %e, "proactive refresh failed");
                }
                result.is_ok()
            });
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(true) => report.refreshed += 1,
                Ok(false) | Err(_) => report.failed += 1,
            }
        }
        tracing::info!(
            checked = report.checked,
            refreshed = report.refreshed,
            failed = report.failed,
            "proactive refresh sweep"
        );
        Ok(report)
    }

    /// Runs [`Connections::refresh_due`] every `every` in the background until the
    /// handle is aborted or dropped with the runtime.
    pub fn spawn_proactive_refresh(
        &self,
        every: Duration,
        sweep: SweepOptions,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = this.refresh_due(&sweep).await {
                    tracing::warn!(error = %e, "proactive refresh sweep failed");
                }
                tokio::time::sleep(every).await;
            }
        })
    }

    /// Whether a login's refresh token should be used now to keep it alive.
    fn is_due(&self, client: &Client, tokens: &TokenSet, sweep: &SweepOptions) -> bool {
        if tokens.refresh_token.is_none() {
            return false;
        }
        let quirks = client.settings().quirks();
        let mut keep_alive = sweep.max_idle;
        if let Some(idle) = quirks.refresh_token_idle_lifetime {
            // Use it well before it lapses: at half its idle lifetime.
            keep_alive = keep_alive.min(idle / 2);
        }
        if let Rotation::Periodic { period, .. } = quirks.rotation {
            keep_alive = keep_alive.min(period);
        }
        let age = (client.now() - tokens.obtained_at)
            .to_std()
            .unwrap_or_default();
        age >= keep_alive
    }

    fn record<T>(&self, key: &StoreKey, result: &Result<T, ManagerError>) {
        let health = match result {
            Ok(_) => Health::Active,
            Err(e) if e.kind() == ErrorKind::LoginRequired => Health::NeedsReconsent {
                reason: e.to_string(),
            },
            Err(e) => {
                let since = match self.health(key) {
                    Health::RefreshFailing { since, .. } => since,
                    _ => Utc::now(),
                };
                Health::RefreshFailing {
                    since,
                    reason: e.to_string(),
                }
            }
        };
        self.set_health(key, health);
    }

    fn set_health(&self, key: &StoreKey, health: Health) {
        let changed =
            locked(&self.inner.health).insert(key.clone(), health.clone()) != Some(health.clone());
        if changed {
            // Kept by the store where it can (for other replicas); a failure to record
            // it never fails the caller.
            let store = self.inner.store.clone();
            let key = key.clone();
            tokio::spawn(async move {
                if let Err(e) = store.record_health(&key, &health).await {
                    tracing::warn!(connection = %key, error = %e, "could not record the connection's health");
                }
            });
        }
    }

    /// The client that made this login: the one whose issuer and client id match its
    /// origin (the only client, for logins without one).
    fn client_for(&self, key: &StoreKey, tokens: &TokenSet) -> Result<Client, ConnectionError> {
        let clients = &self.inner.clients;
        let found = match &tokens.origin {
            Some(origin) => clients.iter().find(|c| {
                c.settings().issuer() == origin.issuer
                    && c.settings().client_id().as_str() == origin.client_id
            }),
            None if clients.len() == 1 => clients.first(),
            None => None,
        };
        found.cloned().ok_or_else(|| ConnectionError::NoClient {
            key: key.clone(),
            issuer: tokens
                .origin
                .as_ref()
                .map(|o| o.issuer.clone())
                .unwrap_or_else(|| "(unknown)".into()),
        })
    }

    fn manager_for(
        &self,
        key: &StoreKey,
        tokens: &TokenSet,
    ) -> Result<TokenManager<S>, ConnectionError> {
        let client = self.client_for(key, tokens)?;
        let mut managers = locked(&self.inner.managers);
        let manager = managers
            .entry(key.clone())
            .or_insert_with(|| {
                TokenManager::new(
                    client,
                    self.inner.store.clone(),
                    key.clone(),
                    self.inner.options.clone(),
                )
            })
            .clone();
        Ok(manager)
    }

    async fn manager(&self, key: &StoreKey) -> Result<TokenManager<S>, ConnectionError> {
        if let Some(m) = locked(&self.inner.managers).get(key) {
            return Ok(m.clone());
        }
        let tokens = self.stored(key).await?;
        self.manager_for(key, &tokens)
    }

    /// A stored connection's tokens, or [`ConnectionError::Unknown`].
    async fn stored(&self, key: &StoreKey) -> Result<TokenSet, ConnectionError> {
        self.inner
            .store
            .load(key)
            .await?
            .ok_or_else(|| ConnectionError::Unknown(key.clone()))
    }
}

/// A random duration up to `max`.
fn jittered(max: Duration) -> Duration {
    max.mul_f64(crate::backoff::random_fraction())
}

impl ListStore for crate::store::MemoryStore {
    async fn list(&self) -> Result<Vec<StoreKey>, StoreError> {
        Ok(self.keys().await)
    }
}

impl ListStore for crate::store::FileStore {
    async fn list(&self) -> Result<Vec<StoreKey>, StoreError> {
        self.keys().await
    }
}

/// The registry's view ([`Connections`](crate::connections::Connections)): every stored
/// connection's key, in connection id order.
#[cfg(feature = "postgres")]
impl ListStore for crate::store::PostgresStore {
    async fn list(&self) -> Result<Vec<StoreKey>, StoreError> {
        Ok(crate::store::PostgresStore::list(self)
            .await?
            .into_iter()
            .map(|c| c.key)
            .collect())
    }

    async fn record_health(&self, key: &StoreKey, health: &Health) -> Result<(), StoreError> {
        let (state, error) = match health {
            Health::Active => (crate::store::ConnectionState::Active, None),
            Health::RefreshFailing { reason, .. } => (
                crate::store::ConnectionState::RefreshFailing,
                Some(reason.as_str()),
            ),
            Health::NeedsReconsent { reason } => (
                crate::store::ConnectionState::LoginRequired,
                Some(reason.as_str()),
            ),
            Health::Revoked => (crate::store::ConnectionState::Disconnected, None),
        };
        self.set_state(key, &state, error).await.map(drop)
    }
}
