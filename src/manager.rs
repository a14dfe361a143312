//! [`TokenManager`]: an access token that stays fresh, for any number of tasks and
//! processes holding one login.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use openidconnect::AccessToken;
use sha2::{Digest, Sha256};

use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::protocol::time_add;
use crate::store::{StoreError, StoreKey, TokenStore};
use crate::tokens::TokenSet;

/// Settings of a [`TokenManager`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ManagerOptions {
    /// Refresh when the access token expires within this margin (default 120 s), or
    /// within half its lifetime when that is shorter: a provider whose tokens live 60 s
    /// gets them refreshed after 30 s, not on every call ([`TokenSet::refresh_margin`]).
    pub refresh_margin: Duration,
    /// Attempts per refresh for transient failures, the first included (default 3).
    pub max_attempts: u32,
    /// Backoff before the first retry, doubled for each further one (default 200 ms).
    pub retry_base: Duration,
    /// The longest backoff between two attempts (default 2 s).
    pub retry_max: Duration,
    /// After a failed refresh, how long callers get the still-valid token (or an error)
    /// without the provider being asked again (default 10 s).
    pub failure_cooldown: Duration,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        Self {
            refresh_margin: Duration::from_secs(120),
            max_attempts: 3,
            retry_base: Duration::from_millis(200),
            retry_max: Duration::from_secs(2),
            failure_cooldown: Duration::from_secs(10),
        }
    }
}

impl ManagerOptions {
    /// The defaults, with the refresh margin of the settings (`refresh_margin_secs`).
    pub fn from_settings(settings: &crate::Settings) -> Self {
        Self::default().refresh_margin(settings.refresh_margin())
    }

    /// Sets [`ManagerOptions::refresh_margin`].
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Sets [`ManagerOptions::max_attempts`] (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets [`ManagerOptions::retry_base`] and [`ManagerOptions::retry_max`].
    pub fn retry_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.retry_base = base;
        self.retry_max = max.max(base);
        self
    }

    /// Sets [`ManagerOptions::failure_cooldown`].
    pub fn failure_cooldown(mut self, cooldown: Duration) -> Self {
        self.failure_cooldown = cooldown;
        self
    }
}

/// Why the manager could not hand out an access token. No message carries a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// The login is gone (no stored login, or the provider no longer accepts its
    /// refresh token): the user must log in again. The stored login is left in place.
    #[error("the user must log in again: {reason}")]
    LoginRequired {
        /// Why, in words.
        reason: String,
        /// The provider's refusal, where there was one.
        #[source]
        cause: Option<Arc<Error>>,
    },

    /// The access token has expired (or the API refused it, see
    /// [`TokenManager::force_refresh`]) and refreshing it failed; the manager will try
    /// again after the cooldown.
    #[error("the access token has expired (or was refused) and could not be refreshed ({cause}); the next attempt will be made in {} s, until then this error is returned without asking the provider", retry_in.as_secs_f32().ceil())]
    RefreshFailed {
        /// What went wrong at the last attempt; its [`Error::kind`] says whether the
        /// provider is down or the configuration is wrong.
        #[source]
        cause: Arc<Error>,
        /// When the next attempt will be made.
        retry_in: Duration,
    },

    /// The token store failed.
    #[error("the token store failed: {0}")]
    Store(#[from] StoreError),

    /// The refresh task ended unexpectedly (it panicked or the runtime is shutting down).
    /// Its text is the runtime's, which never holds a token.
    #[error("the token refresh task ended unexpectedly ({0}); if the runtime is not shutting down, this is a bug: please report it")]
    TaskFailed(String),
}

impl ManagerError {
    /// What the caller should do about this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ManagerError::LoginRequired { .. } => ErrorKind::LoginRequired,
            ManagerError::RefreshFailed { cause, .. } => cause.kind(),
            ManagerError::Store(_) => ErrorKind::Store,
            ManagerError::TaskFailed(_) => ErrorKind::Internal,
        }
    }
}

/// Keeps one login's access token fresh: refreshes ahead of expiry, once for any number
/// of concurrent callers, coordinated with other processes through the store, and
/// persists rotated refresh tokens before handing out the new access token.
///
/// Cheap to clone; clones share the cache.
///
/// ```no_run
/// use lexoffice_login::store::{FileStore, StoreKey};
/// use lexoffice_login::{Client, ManagerOptions, Settings, TokenManager};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::connect(Settings::load(Some("production"))?).await?;
/// let store = FileStore::builder().require_encryption(true).build()?;
/// let manager = TokenManager::new(client, store, StoreKey::new("production", "default"), ManagerOptions::default());
/// let token = manager.access_token().await?;
/// # let _ = token;
/// # Ok(())
/// # }
/// ```
pub struct TokenManager<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for TokenManager<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<S> {
    client: Client,
    store: S,
    key: StoreKey,
    options: ManagerOptions,
    /// The current login; read without awaiting on the fast path.
    cache: RwLock<Option<Arc<TokenSet>>>,
    /// Bumped whenever the cache is replaced.
    generation: AtomicU64,
    /// Single flight: held around every refresh.
    flight: tokio::sync::Mutex<FlightState>,
}

#[derive(Default)]
struct FlightState {
    /// After a failed refresh: no new attempt before this instant.
    cooldown: Option<(DateTime<Utc>, Arc<Error>)>,
    /// Digest of a refresh token the provider refused with `invalid_grant`.
    dead_refresh_token: Option<[u8; 32]>,
    /// A refresh whose result could not be stored: the digest of the refresh token it
    /// replaced, and the new tokens (which the next refresh must start from).
    unsaved: Option<([u8; 32], TokenSet)>,
}

impl<S> TokenManager<S> {
    fn snapshot(&self) -> Option<Arc<TokenSet>> {
        match self.inner.cache.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for TokenManager<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.snapshot();
        f.debug_struct("TokenManager")
            .field("key", &self.inner.key)
            .field("store", &self.inner.store)
            .field("options", &self.inner.options)
            .field("logged_in", &cached.is_some())
            .field("expires_at", &cached.as_ref().and_then(|t| t.expires_at))
            .finish_non_exhaustive()
    }
}

enum Want {
    /// Any token outside the refresh margin.
    Fresh,
    /// A token other than this one (which the API refused).
    Replace(String),
}

impl<S: TokenStore> TokenManager<S> {
    /// A manager for the login `key` in `store`, refreshed through `client`.
    pub fn new(client: Client, store: S, key: StoreKey, options: ManagerOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                store,
                key,
                options,
                cache: RwLock::new(None),
                generation: AtomicU64::new(0),
                flight: tokio::sync::Mutex::new(FlightState::default()),
            }),
        }
    }

    /// The client that refreshes this login.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The login this manager keeps fresh.
    pub fn key(&self) -> &StoreKey {
        &self.inner.key
    }

    /// The options.
    pub fn options(&self) -> &ManagerOptions {
        &self.inner.options
    }

    /// A copy of the login currently held in memory (`None` before the first use).
    pub fn current(&self) -> Option<TokenSet> {
        self.snapshot().map(|t| (*t).clone())
    }

    /// Stores a fresh login (from [`Client::complete`]) and uses it from now on.
    pub async fn save_login(&self, tokens: TokenSet) -> Result<(), ManagerError> {
        let mut state = self.inner.flight.lock().await;
        let _guard = self.inner.store.lock_refresh(&self.inner.key).await?;
        self.inner.store.save(&self.inner.key, &tokens).await?;
        self.set_cache(tokens);
        *state = FlightState::default();
        Ok(())
    }

    /// An access token that does not expire within the refresh margin, refreshed if
    /// needed. On a fresh token this takes no lock that waits and does no I/O.
    ///
    /// While the provider is failing, a token that has not expired yet is handed out
    /// even inside the margin. If refreshed tokens cannot be stored, the store's error is
    /// returned and the new tokens are kept in memory (the next refresh stores again).
    pub async fn access_token(&self) -> Result<AccessToken, ManagerError> {
        if let Some(t) = self.snapshot() {
            if !self.needs_refresh(&t) {
                return Ok(t.access_token.clone());
            }
        }
        self.slow(Want::Fresh).await
    }

    /// Refreshes now, for when the API refused the current access token (HTTP 401).
    /// Concurrent calls for the same refused token refresh once.
    pub async fn force_refresh(&self) -> Result<AccessToken, ManagerError> {
        let refused = self
            .snapshot()
            .map(|t| t.access_token.secret().clone())
            .unwrap_or_default();
        self.slow(Want::Replace(refused)).await
    }

    fn set_cache(&self, tokens: TokenSet) -> Arc<TokenSet> {
        let tokens = Arc::new(tokens);
        match self.inner.cache.write() {
            Ok(mut g) => *g = Some(tokens.clone()),
            Err(poisoned) => *poisoned.into_inner() = Some(tokens.clone()),
        }
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        tokens
    }

    /// Whether the access token is within the refresh margin, scaled to its lifetime.
    fn needs_refresh(&self, tokens: &TokenSet) -> bool {
        let margin = tokens.refresh_margin(self.inner.options.refresh_margin);
        tokens.expires_within_at(margin, self.now())
    }

    fn good_enough(&self, tokens: &TokenSet, want: &Want) -> bool {
        match want {
            Want::Fresh => !self.needs_refresh(tokens),
            Want::Replace(refused) => {
                tokens.access_token.secret() != refused && !tokens.is_expired_at(self.now())
            }
        }
    }

    /// The refresh runs in its own task: a caller that gives up (a timeout, a dropped
    /// request) cannot cut it between the provider's answer and the store's write, which
    /// would lose a rotated refresh token.
    async fn slow(&self, want: Want) -> Result<AccessToken, ManagerError> {
        let this = self.clone();
        tokio::spawn(async move { this.slow_in_task(want).await })
            .await
            .map_err(|e| ManagerError::TaskFailed(e.to_string()))?
    }

    async fn slow_in_task(&self, want: Want) -> Result<AccessToken, ManagerError> {
        let seen = self.inner.generation.load(Ordering::Acquire);
        let mut state = self.inner.flight.lock().await;

        // Someone refreshed while this caller waited: take that result.
        let current = self.snapshot();
        if let Some(t) = &current {
            if self.good_enough(t, &want)
                || (self.inner.generation.load(Ordering::Acquire) != seen
                    && !t.is_expired_at(self.now()))
            {
                return Ok(t.access_token.clone());
            }
        }

        // A recent failure: do not ask the provider again yet.
        if let Some((until, cause)) = &state.cooldown {
            let now = self.now();
            if now < *until {
                return match (&current, &want) {
                    (Some(t), Want::Fresh) if !t.is_expired_at(now) => Ok(t.access_token.clone()),
                    _ => Err(ManagerError::RefreshFailed {
                        cause: cause.clone(),
                        retry_in: (*until - now).to_std().unwrap_or_default(),
                    }),
                };
            }
            state.cooldown = None;
        }

        let _guard = self.inner.store.lock_refresh(&self.inner.key).await?;
        // Another process may have refreshed already.
        let Some(mut stored) = self.inner.store.load(&self.inner.key).await? else {
            return Err(ManagerError::LoginRequired {
                reason: format!("no login is stored for {}", self.inner.key),
                cause: None,
            });
        };
        // The store still holds the login whose refresh token this process replaced but
        // could not store: the provider no longer takes that refresh token (reusing it
        // can revoke the login), so store and continue from the new tokens.
        if let Some((replaced, fresh)) = state.unsaved.take() {
            let same = stored
                .refresh_token
                .as_ref()
                .is_some_and(|rt| digest(rt.secret()) == replaced);
            if same {
                if let Err(e) = self.inner.store.save(&self.inner.key, &fresh).await {
                    state.unsaved = Some((replaced, fresh));
                    return Err(e.into());
                }
                stored = fresh;
            }
        }
        if self.good_enough(&stored, &want) {
            let t = self.set_cache(stored);
            return Ok(t.access_token.clone());
        }
        if let (Some(dead), Some(rt)) = (&state.dead_refresh_token, &stored.refresh_token) {
            if *dead == digest(rt.secret()) {
                return Err(login_required_refused());
            }
        }

        let mut attempt = 1;
        let err = loop {
            match self.inner.client.refresh(&stored).await {
                Ok(fresh) => {
                    // Persist first: a rotated refresh token must never be lost.
                    let saved = self.inner.store.save(&self.inner.key, &fresh).await;
                    if saved.is_err() {
                        if let Some(rt) = &stored.refresh_token {
                            state.unsaved = Some((digest(rt.secret()), fresh.clone()));
                        }
                    }
                    let t = self.set_cache(fresh);
                    state.dead_refresh_token = None;
                    if let Err(e) = saved {
                        tracing::error!(key = %self.inner.key, error = %e, "refreshed tokens could not be stored; they are kept in memory only");
                        return Err(e.into());
                    }
                    tracing::debug!(key = %self.inner.key, "access token refreshed");
                    return Ok(t.access_token.clone());
                }
                Err(e) if e.is_transient() && attempt < self.inner.options.max_attempts => {
                    let delay = self.backoff(attempt);
                    tracing::warn!(key = %self.inner.key, error = %e, attempt, delay_ms = delay.as_millis() as u64, "refresh failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => break e,
            }
        };

        if err.is_invalid_grant() || matches!(err, Error::NoRefreshToken) {
            // Another holder may have rotated the refresh token meanwhile.
            let latest = self.inner.store.load(&self.inner.key).await?;
            if let Some(latest) = latest {
                let rotated = match (&latest.refresh_token, &stored.refresh_token) {
                    (Some(a), Some(b)) => a.secret() != b.secret(),
                    _ => false,
                };
                if rotated && !latest.is_expired_at(self.now()) {
                    let t = self.set_cache(latest);
                    return Ok(t.access_token.clone());
                }
            }
            if let Some(rt) = &stored.refresh_token {
                state.dead_refresh_token = Some(digest(rt.secret()));
            }
            tracing::warn!(key = %self.inner.key, error = %err, "the provider refused the refresh token; the user must log in again");
            return Err(ManagerError::LoginRequired {
                reason: "the provider no longer accepts this login's refresh token".to_owned(),
                cause: Some(Arc::new(err)),
            });
        }

        let cause = Arc::new(err);
        let cooldown = self.inner.options.failure_cooldown;
        state.cooldown = Some((time_add(self.now(), cooldown), cause.clone()));
        // The stored login is the newest one (this manager's cache came from the store).
        if matches!(want, Want::Fresh) && !stored.is_expired_at(self.now()) {
            tracing::warn!(key = %self.inner.key, error = %cause, "refresh failed; serving the access token that is still valid");
            let t = self.set_cache(stored);
            return Ok(t.access_token.clone());
        }
        tracing::warn!(key = %self.inner.key, error = %cause, "refresh failed and the access token has expired or was refused");
        Err(ManagerError::RefreshFailed {
            cause,
            retry_in: cooldown,
        })
    }

    /// The current time by the client's clock.
    fn now(&self) -> DateTime<Utc> {
        self.inner.client.now()
    }

    /// The delay before retry number `attempt`.
    fn backoff(&self, attempt: u32) -> Duration {
        let o = &self.inner.options;
        crate::backoff::jittered(o.retry_base, o.retry_max, attempt)
    }
}

fn login_required_refused() -> ManagerError {
    ManagerError::LoginRequired {
        reason: "the provider already refused this login's refresh token (invalid_grant)"
            .to_owned(),
        cause: None,
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}
