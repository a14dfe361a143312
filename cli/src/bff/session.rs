//! The backend-for-frontend's server-side state: sessions and started logins, in memory.
//!
//! Session ids are 256 random bits (base64url in the cookie); the maps are keyed by the
//! id's SHA-256 digest, so a dump of the process's state holds no usable cookie. Times
//! are tokio's monotonic clock.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use lexoffice_login::store::StoreKey;
use lexoffice_login::PendingLogin;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

/// How long a started login waits for its callback.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// The most started logins kept at once (a flood of `/auth/login` cannot grow memory
/// without bound).
pub const MAX_PENDING: usize = 10_000;

/// A digest of a secret (session id, state, login binding).
pub type Hash = [u8; 32];

/// SHA-256 of `secret`.
pub fn hash(secret: &str) -> Hash {
    Sha256::digest(secret.as_bytes()).into()
}

/// A new random secret: 256 bits, base64url without padding (43 characters).
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Who is logged in (no token).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct User {
    pub sub: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// One browser's session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Where the connection's tokens are kept in the registry.
    pub key: StoreKey,
    pub user: User,
    pub tenant: Option<String>,
    pub scopes: Vec<String>,
    pub created: Instant,
    pub last_seen: Instant,
}

/// What a lookup found.
pub enum Lookup {
    Active(Session),
    /// The session timed out just now; its connection is to be removed.
    Expired(StoreKey),
    Unknown,
}

/// The sessions, by the hash of their id.
pub struct Sessions {
    map: Mutex<HashMap<Hash, Session>>,
    pub idle: Duration,
    pub absolute: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sessions {
    pub fn new(idle: Duration, absolute: Duration) -> Self {
        Sessions {
            map: Mutex::new(HashMap::new()),
            idle,
            absolute,
        }
    }

    fn expired(&self, s: &Session, now: Instant) -> bool {
        now.duration_since(s.last_seen) >= self.idle
            || now.duration_since(s.created) >= self.absolute
    }

    /// A new session; returns its id (for the cookie, never stored).
    pub fn create(&self, session: Session) -> String {
        let id = random_secret();
        lock(&self.map).insert(hash(&id), session);
        id
    }

    /// The session with this id, if it is still active; counts as activity.
    pub fn touch(&self, id: &str) -> Lookup {
        let h = hash(id);
        let now = Instant::now();
        let mut map = lock(&self.map);
        let Some(s) = map.get_mut(&h) else {
            return Lookup::Unknown;
        };
        if self.expired(s, now) {
            let key = s.key.clone();
            map.remove(&h);
            return Lookup::Expired(key);
        }
        s.last_seen = now;
        Lookup::Active(s.clone())
    }

    /// Ends a session; returns it.
    pub fn remove(&self, id: &str) -> Option<Session> {
        lock(&self.map).remove(&hash(id))
    }

    /// Removes every timed-out session; returns their connections.
    pub fn sweep(&self) -> Vec<StoreKey> {
        let now = Instant::now();
        let mut out = Vec::new();
        lock(&self.map).retain(|_, s| {
            let gone = self.expired(s, now);
            if gone {
                out.push(s.key.clone());
            }
            !gone
        });
        out
    }
}

/// A started login, waiting for its callback.
pub struct Pending {
    pub login: PendingLogin,
    pub return_to: String,
    /// The hash of the login-binding cookie set on the browser that started it.
    pub binding: Hash,
    pub created: Instant,
}

/// Started logins by the hash of their `state`; each is taken once.
#[derive(Default)]
pub struct PendingLogins {
    map: Mutex<HashMap<Hash, Pending>>,
}

impl PendingLogins {
    /// Keeps a started login; `false` when too many are waiting.
    pub fn put(&self, state: &str, pending: Pending) -> bool {
        let mut map = lock(&self.map);
        if map.len() >= MAX_PENDING {
            let now = Instant::now();
            map.retain(|_, p| now.duration_since(p.created) < PENDING_TTL);
            if map.len() >= MAX_PENDING {
                return false;
            }
        }
        map.insert(hash(state), pending);
        true
    }

    /// Takes the login started with `state`, once, if it has not expired.
    pub fn take(&self, state: &str) -> Option<Pending> {
        let p = lock(&self.map).remove(&hash(state))?;
        (Instant::now().duration_since(p.created) < PENDING_TTL).then_some(p)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn session() -> Session {
        let now = Instant::now();
        Session {
            key: StoreKey::new("local", "bff-x"),
            user: User::default(),
            tenant: None,
            scopes: vec![],
            created: now,
            last_seen: now,
        }
    }

    #[test]
    fn ids_are_256_bits_and_stored_hashed() {
        let sessions = Sessions::new(Duration::from_secs(60), Duration::from_secs(60));
        let id = sessions.create(session());
        assert_eq!(URL_SAFE_NO_PAD.decode(&id).unwrap().len(), 32);
        assert!(lock(&sessions.map).contains_key(&hash(&id)));
        assert!(matches!(sessions.touch(&id), Lookup::Active(_)));
        assert!(matches!(sessions.touch("other"), Lookup::Unknown));
    }

    #[tokio::test]
    async fn idle_and_absolute_timeouts() {
        let ms = Duration::from_millis;
        let sessions = Sessions::new(ms(80), ms(200));
        let id = sessions.create(session());
        for _ in 0..4 {
            tokio::time::sleep(ms(40)).await;
            assert!(matches!(sessions.touch(&id), Lookup::Active(_)));
        }
        tokio::time::sleep(ms(45)).await;
        assert!(
            matches!(sessions.touch(&id), Lookup::Expired(_)),
            "absolute"
        );
        let id = sessions.create(session());
        tokio::time::sleep(ms(90)).await;
        assert_eq!(sessions.sweep().len(), 1, "idle");
        assert!(matches!(sessions.touch(&id), Lookup::Unknown));
    }
}
