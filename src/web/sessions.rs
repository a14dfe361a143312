//! Browser sessions of a backend-for-frontend: the [`SessionStore`] trait, the
//! in-memory [`MemorySessionStore`], and what a session holds ([`BrowserSession`]).
//!
//! A session id is 256 random bits, base64url in the browser's cookie
//! ([`SessionId`]); stores keep only its SHA-256 digest ([`SessionDigest`]), so that a
//! dump of the store holds no usable cookie. A session never holds a token: it names the
//! connection ([`StoreKey`]) whose tokens the app's
//! [`Connections`](crate::connections::Connections) keep.
//!
//! Every session ends after [`SessionTimeouts::idle`] without activity and
//! [`SessionTimeouts::absolute`] after it started, however active, by the store's
//! [`Clock`] (inject a [`FixedClock`](crate::FixedClock) in tests instead of sleeping).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::protocol::{system_clock, time_sub, Clock, SharedClock};
use crate::store::StoreKey;

/// A session's id: the cookie value, 256 random bits in base64url (43 characters).
/// A secret: `Debug` does not show it, and no store keeps it.
pub struct SessionId(String);

impl SessionId {
    /// A new random id (from the operating system's generator).
    pub fn generate() -> Result<Self, SessionStoreError> {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes)
            .map_err(|e| SessionStoreError::Backend(format!("no randomness: {e}").into()))?;
        Ok(SessionId(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The id a browser sent (its cookie's value).
    pub fn from_cookie(value: impl Into<String>) -> Self {
        SessionId(value.into())
    }

    /// The value to put in the cookie.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// The digest stores key the session by.
    pub fn digest(&self) -> SessionDigest {
        SessionDigest(crate::callback::state_digest(&self.0))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId([redacted])")
    }
}

/// The SHA-256 digest of a [`SessionId`]: the key a store keeps a session under.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionDigest([u8; 32]);

impl SessionDigest {
    /// The digest's bytes (for a database key).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A digest read back from a store.
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        SessionDigest(bytes)
    }
}

impl fmt::Debug for SessionDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SessionDigest({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// Who is logged in, as the ID token or the API named them (no token).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionUser {
    /// The subject (`sub`), or the organisation when the provider has no ID token.
    pub sub: Option<String>,
    /// The display name (`name`), if given.
    pub name: Option<String>,
    /// The e-mail address (`email`), if given.
    pub email: Option<String>,
}

impl SessionUser {
    /// A user with these claims.
    pub fn new(sub: Option<String>, name: Option<String>, email: Option<String>) -> Self {
        Self { sub, name, email }
    }
}

/// What a browser session holds: whose it is and which connection holds its tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BrowserSession {
    /// Where the session's tokens are kept (in the app's connection registry).
    pub connection: StoreKey,
    /// Who logged in.
    pub user: SessionUser,
    /// The organisation (tenant) of the login, if known.
    pub tenant: Option<String>,
    /// The granted scopes.
    pub scopes: Vec<String>,
}

impl BrowserSession {
    /// A session whose tokens are kept under `connection`.
    pub fn new(
        connection: StoreKey,
        user: SessionUser,
        tenant: Option<String>,
        scopes: Vec<String>,
    ) -> Self {
        Self {
            connection,
            user,
            tenant,
            scopes,
        }
    }
}

/// How long sessions live: `idle` without a request, `absolute` after the login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimeouts {
    idle: Duration,
    absolute: Duration,
}

impl SessionTimeouts {
    /// Both timeouts; `None` unless both are above zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lexoffice_login::web::SessionTimeouts;
    /// let t = SessionTimeouts::new(Duration::from_secs(1800), Duration::from_secs(8 * 3600));
    /// assert_eq!(t.map(|t| t.idle().as_secs()), Some(1800));
    /// assert!(SessionTimeouts::new(Duration::ZERO, Duration::from_secs(1)).is_none());
    /// ```
    pub fn new(idle: Duration, absolute: Duration) -> Option<Self> {
        (!idle.is_zero() && !absolute.is_zero()).then_some(Self { idle, absolute })
    }

    /// The idle timeout.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// The absolute timeout.
    pub fn absolute(&self) -> Duration {
        self.absolute
    }

    /// The instants before which a session counts as idle or too old: a session is
    /// active when its last activity is after the first and its start after the second.
    pub(crate) fn cutoffs(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        (time_sub(now, self.idle), time_sub(now, self.absolute))
    }
}

impl Default for SessionTimeouts {
    /// 30 minutes idle, 8 hours absolute.
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(8 * 3600),
        }
    }
}

/// What [`SessionStore::touch`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionLookup {
    /// An active session; the request counts as activity.
    Active(BrowserSession),
    /// The session timed out; it has been removed now, and its connection is the
    /// caller's to end (revoke and remove).
    Expired(BrowserSession),
    /// No such session (never created, ended, or already found expired).
    Unknown,
}

/// Why a session store failed. No message carries a session id.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionStoreError {
    /// A store-specific failure (a database, a decryption).
    #[error("the session store failed: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

impl SessionStoreError {
    /// What to do about it: the store (or its database) needs attention.
    pub fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::Store
    }
}

/// Where a backend-for-frontend keeps its browser sessions.
///
/// Implementations apply their [`SessionTimeouts`] by their [`Clock`], keep sessions by
/// [`SessionDigest`] only, hand an expired session out once (as
/// [`SessionLookup::Expired`], from [`touch`](SessionStore::touch) or
/// [`sweep`](SessionStore::sweep), also across replicas for shared stores), and are
/// safe to use from many tasks.
pub trait SessionStore: Send + Sync + 'static {
    /// Starts a session; returns its new id (for the cookie).
    fn create(
        &self,
        session: BrowserSession,
    ) -> impl Future<Output = Result<SessionId, SessionStoreError>> + Send;

    /// The session with this id; an active one counts as active now.
    fn touch(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<SessionLookup, SessionStoreError>> + Send;

    /// Ends the session with this id; returns it if it was there (timed out or not).
    fn remove(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<BrowserSession>, SessionStoreError>> + Send;

    /// Removes every timed-out session; returns them (their connections are the
    /// caller's to end).
    fn sweep(&self) -> impl Future<Output = Result<Vec<BrowserSession>, SessionStoreError>> + Send;
}

struct Entry {
    session: BrowserSession,
    created: DateTime<Utc>,
    last_seen: DateTime<Utc>,
}

/// Sessions in this process's memory: for one replica (sessions end when it stops).
/// Clones share the sessions.
///
/// ```
/// use std::time::Duration;
/// use lexoffice_login::store::StoreKey;
/// use lexoffice_login::web::{
///     BrowserSession, MemorySessionStore, SessionLookup, SessionStore, SessionTimeouts,
///     SessionUser,
/// };
/// use lexoffice_login::FixedClock;
///
/// # tokio_test_block_on(async {
/// let clock = FixedClock::at_now();
/// let timeouts = SessionTimeouts::new(Duration::from_secs(60), Duration::from_secs(3600)).unwrap();
/// let sessions = MemorySessionStore::new(timeouts).with_clock(clock.clone());
/// let session = BrowserSession::new(StoreKey::new("production", "s1"), SessionUser::default(), None, vec![]);
/// let id = sessions.create(session).await.unwrap();
/// assert!(matches!(sessions.touch(&id).await.unwrap(), SessionLookup::Active(_)));
/// clock.advance(Duration::from_secs(61));
/// assert!(matches!(sessions.touch(&id).await.unwrap(), SessionLookup::Expired(_)));
/// # });
/// # fn tokio_test_block_on(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone)]
pub struct MemorySessionStore {
    entries: Arc<Mutex<HashMap<SessionDigest, Entry>>>,
    timeouts: SessionTimeouts,
    clock: SharedClock,
}

impl fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySessionStore")
            .field("sessions", &self.len())
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

impl MemorySessionStore {
    /// An empty store with these timeouts, on the system clock.
    pub fn new(timeouts: SessionTimeouts) -> Self {
        Self {
            entries: Arc::default(),
            timeouts,
            clock: system_clock(),
        }
    }

    /// Times sessions by `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How many sessions are held (timed-out ones included until found or swept).
    pub fn len(&self) -> usize {
        self.locked().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn locked(&self) -> MutexGuard<'_, HashMap<SessionDigest, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn active(&self, e: &Entry, now: DateTime<Utc>) -> bool {
        let (idle_cutoff, absolute_cutoff) = self.timeouts.cutoffs(now);
        e.last_seen > idle_cutoff && e.created > absolute_cutoff
    }
}

impl SessionStore for MemorySessionStore {
    async fn create(&self, session: BrowserSession) -> Result<SessionId, SessionStoreError> {
        let id = SessionId::generate()?;
        let now = self.clock.now();
        let entry = Entry {
            session,
            created: now,
            last_seen: now,
        };
        self.locked().insert(id.digest(), entry);
        Ok(id)
    }

    async fn touch(&self, id: &SessionId) -> Result<SessionLookup, SessionStoreError> {
        let digest = id.digest();
        let now = self.clock.now();
        let mut entries = self.locked();
        let Some(entry) = entries.get_mut(&digest) else {
            return Ok(SessionLookup::Unknown);
        };
        if !self.active(entry, now) {
            let gone = entries.remove(&digest).map(|e| e.session);
            return Ok(gone.map_or(SessionLookup::Unknown, SessionLookup::Expired));
        }
        entry.last_seen = entry.last_seen.max(now);
        Ok(SessionLookup::Active(entry.session.clone()))
    }

    async fn remove(&self, id: &SessionId) -> Result<Option<BrowserSession>, SessionStoreError> {
        Ok(self.locked().remove(&id.digest()).map(|e| e.session))
    }

    async fn sweep(&self) -> Result<Vec<BrowserSession>, SessionStoreError> {
        let now = self.clock.now();
        let mut gone = Vec::new();
        self.locked().retain(|_, e| {
            let keep = self.active(e, now);
            if !keep {
                gone.push(e.session.clone());
            }
            keep
        });
        Ok(gone)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn session(n: u32) -> BrowserSession {
        BrowserSession::new(
            StoreKey::new("local", format!("bff-{n}")),
            SessionUser::default(),
            None,
            vec![],
        )
    }

    #[tokio::test]
    async fn ids_are_256_bits_stored_by_digest_and_not_shown() {
        let store = MemorySessionStore::new(SessionTimeouts::default());
        let id = store.create(session(1)).await.unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(id.secret()).unwrap().len(), 32);
        assert!(store.locked().contains_key(&id.digest()));
        assert!(!format!("{id:?}").contains(id.secret()));
        let other = store.create(session(2)).await.unwrap();
        assert_ne!(id.secret(), other.secret());
    }
}
