//! Where started logins wait for their callback: the [`PendingStore`] trait and the
//! in-memory [`MemoryPendingStore`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::authorize::PendingLogin;

/// The SHA-256 digest of a login's `state`: the key a pending login is kept under. The
/// state itself is never stored, so a leaked store cannot answer a callback.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateHash([u8; 32]);

impl StateHash {
    /// The digest of `state`.
    ///
    /// ```
    /// use lexoffice_login::web::StateHash;
    /// assert_eq!(StateHash::of("abc"), StateHash::of("abc"));
    /// assert_ne!(StateHash::of("abc"), StateHash::of("abd"));
    /// ```
    pub fn of(state: &str) -> Self {
        StateHash(crate::callback::state_digest(state))
    }

    /// The digest's bytes (for a database key).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for StateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A digest is no secret, but a prefix is enough to tell two apart in a log.
        write!(
            f,
            "StateHash({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// A login started by `GET /connect/{provider}`, waiting for its callback. It serializes
/// (for stores outside this process); it holds the PKCE verifier, so keep it
/// server-side, never in a cookie.
#[derive(Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingConnect {
    /// The provider name the login was started for (the `{provider}` of the route).
    pub provider: String,
    /// The tenant a reconnect must end in (from `?connection=`), if any.
    pub connection: Option<String>,
    /// The app path to go to afterwards (from `?return=`, already checked), if any.
    pub return_to: Option<String>,
    /// The started login.
    pub login: PendingLogin,
    /// The SHA-256 digest (hex) of a cookie set on the browser that started the login,
    /// when the app binds logins to their browser (the backend-for-frontend does): the
    /// callback must come with that cookie.
    #[serde(default)]
    pub browser_binding: Option<String>,
}

impl PendingConnect {
    /// A pending connect for `provider`.
    pub fn new(
        provider: impl Into<String>,
        connection: Option<String>,
        return_to: Option<String>,
        login: PendingLogin,
    ) -> Self {
        Self {
            provider: provider.into(),
            connection,
            return_to,
            login,
            browser_binding: None,
        }
    }

    /// Binds the login to the browser holding the cookie whose SHA-256 digest (hex) is
    /// `digest`.
    pub fn bound_to_browser(mut self, digest: impl Into<String>) -> Self {
        self.browser_binding = Some(digest.into());
        self
    }
}

/// Why a pending store failed. No message carries a state or a verifier.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PendingStoreError {
    /// The store holds as many pending logins as it may; try again once some expire.
    #[error("too many logins are waiting for their callback; try again in a few minutes")]
    Full,
    /// A store-specific failure (a database, for stores outside this crate).
    #[error("the pending-login store failed: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

/// Where started logins wait for their callback, keyed by [`StateHash`].
///
/// An implementation must hand each entry out at most once ([`PendingStore::take`]
/// removes it, atomically, also across replicas for shared stores) and never after its
/// time to live. Shared by all requests: implementations are safe to use from many tasks.
pub trait PendingStore: Send + Sync + 'static {
    /// Keeps `entry` under `key` for `ttl`.
    fn put(
        &self,
        key: StateHash,
        entry: PendingConnect,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), PendingStoreError>> + Send;

    /// Removes and returns the entry under `key`, or `None` if there is none or it has
    /// expired.
    fn take(
        &self,
        key: &StateHash,
    ) -> impl Future<Output = Result<Option<PendingConnect>, PendingStoreError>> + Send;
}

/// The most entries a [`MemoryPendingStore`] holds by default.
pub const DEFAULT_MAX_PENDING: usize = 10_000;

/// Pending logins in this process's memory: each taken at most once, gone after its time
/// to live, at most [`DEFAULT_MAX_PENDING`] at once (so that a flood of `/connect`
/// requests cannot exhaust memory). Clones share the entries. For one replica; several
/// replicas behind a load balancer need a shared store (or sticky sessions).
///
/// ```
/// use std::time::Duration;
/// use lexoffice_login::web::{MemoryPendingStore, PendingStore};
///
/// let store = MemoryPendingStore::new().max_entries(100);
/// assert_eq!(store.len(), 0);
/// ```
#[derive(Clone)]
pub struct MemoryPendingStore {
    entries: Arc<Mutex<HashMap<StateHash, (Instant, PendingConnect)>>>,
    max_entries: usize,
}

impl Default for MemoryPendingStore {
    fn default() -> Self {
        Self {
            entries: Arc::default(),
            max_entries: DEFAULT_MAX_PENDING,
        }
    }
}

impl fmt::Debug for MemoryPendingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryPendingStore")
            .field("entries", &self.len())
            .field("max_entries", &self.max_entries)
            .finish()
    }
}

impl MemoryPendingStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `n` entries at once (at least 1); further logins are refused
    /// ([`PendingStoreError::Full`]) until some are taken or expire.
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = n.max(1);
        self
    }

    /// How many entries are held (expired ones included until the next write).
    pub fn len(&self) -> usize {
        self.locked().len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, HashMap<StateHash, (Instant, PendingConnect)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl PendingStore for MemoryPendingStore {
    async fn put(
        &self,
        key: StateHash,
        entry: PendingConnect,
        ttl: Duration,
    ) -> Result<(), PendingStoreError> {
        let now = Instant::now();
        let mut entries = self.locked();
        entries.retain(|_, (expires, _)| *expires > now);
        if entries.len() >= self.max_entries {
            return Err(PendingStoreError::Full);
        }
        let expires = now.checked_add(ttl).unwrap_or(now);
        entries.insert(key, (expires, entry));
        Ok(())
    }

    async fn take(&self, key: &StateHash) -> Result<Option<PendingConnect>, PendingStoreError> {
        let taken = self.locked().remove(key);
        Ok(taken
            .filter(|(expires, _)| *expires > Instant::now())
            .map(|(_, entry)| entry))
    }
}
