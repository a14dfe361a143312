//! [`KeyringStore`]: one OS keyring entry per login (cargo feature `keyring`).

use std::collections::HashMap;
use std::fmt;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::fs::{create_private_dir, open_private, sanitize};
use super::{RefreshGuard, StoreError, StoreKey, TokenStore};
use crate::tokens::TokenSet;

/// The keyring service name of [`KeyringStore`] entries (default).
pub const KEYRING_SERVICE: &str = "lexoffice-login";

const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the OS keyring failed. No message carries a token; [`KeyringStore`] returns these
/// inside [`StoreError::Backend`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// The keyring could not be reached (no keyring service, the keyring is locked, or
    /// the platform refused access, as container seccomp profiles do for the Linux
    /// kernel keyring).
    #[error("the OS keyring is not available ({detail}); use a FileStore instead, or unlock/enable the keyring (on Linux: the kernel keyring, `keyctl show @u` must work; container seccomp profiles may block it)")]
    Unavailable {
        /// The platform's error (never a secret).
        detail: String,
    },

    /// The entry exists but does not hold a login written by this crate.
    #[error("the keyring entry {service}/{user} is damaged ({detail}); it was left in place: log in again to replace it")]
    Damaged {
        /// The service name.
        service: String,
        /// The entry's user (`<env>/<profile>`).
        user: String,
        /// What is wrong (never the content).
        detail: &'static str,
    },

    /// The keyring refused the entry (too long a name or secret, or an invalid name).
    #[error("the keyring refused the entry {service}/{user}: {detail}")]
    Refused {
        /// The service name.
        service: String,
        /// The entry's user (`<env>/<profile>`).
        user: String,
        /// What the platform said (never the secret).
        detail: String,
    },
}

/// Settings of a [`KeyringStore`]; [`KeyringStoreBuilder::build`] makes it.
#[derive(Debug)]
pub struct KeyringStoreBuilder {
    service: String,
    lock_dir: Option<PathBuf>,
    lock_timeout: Duration,
}

impl KeyringStoreBuilder {
    /// The keyring service name (default [`KEYRING_SERVICE`]).
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    /// The directory of the refresh lock files (default: `lexoffice-login` in the user's
    /// runtime directory (`$XDG_RUNTIME_DIR`), else in the cache directory, else in the
    /// temporary directory).
    pub fn lock_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.lock_dir = Some(dir.into());
        self
    }

    /// How long [`TokenStore::lock_refresh`] waits for another holder (default 30 s).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Makes the store and creates the lock directory (mode 0700 on Unix). The keyring
    /// itself is first touched by the first load or save.
    pub fn build(self) -> Result<KeyringStore, StoreError> {
        let lock_dir = match self.lock_dir {
            Some(d) => d,
            None => default_lock_dir(),
        };
        create_private_dir(&lock_dir)?;
        Ok(KeyringStore {
            inner: Arc::new(Inner {
                service: self.service,
                lock_dir,
                lock_timeout: self.lock_timeout,
            }),
        })
    }
}

/// Logins kept in the OS keyring: the macOS Keychain, the Windows Credential Manager, or
/// the Linux kernel keyring (keyutils: the user keyring `@u`, which lives in kernel
/// memory, so logins do not survive a reboot there). One entry per [`StoreKey`]: service
/// [`KEYRING_SERVICE`], user `<env>/<profile>` (on Linux the key description
/// `<service>:<env>/<profile>`), the [`TokenSet`]'s JSON as the secret.
///
/// The keyring has no locking of its own, so [`TokenStore::lock_refresh`] takes a mutex
/// per login in this process and an OS exclusive lock on a file in the lock directory,
/// which holders in other processes of the same user wait for; the OS drops the lock of
/// a process that dies. If the keyring is not available, every operation fails with
/// [`KeyringError::Unavailable`]: there is no silent fallback to a plaintext file.
#[derive(Clone)]
pub struct KeyringStore {
    inner: Arc<Inner>,
}

struct Inner {
    service: String,
    lock_dir: PathBuf,
    lock_timeout: Duration,
}

impl fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyringStore")
            .field("service", &self.inner.service)
            .field("lock_dir", &self.inner.lock_dir)
            .field("lock_timeout", &self.inner.lock_timeout)
            .finish()
    }
}

impl KeyringStore {
    /// A store with the default service name and lock directory.
    pub fn new() -> Result<Self, StoreError> {
        Self::builder().build()
    }

    /// A builder with the defaults.
    pub fn builder() -> KeyringStoreBuilder {
        KeyringStoreBuilder {
            service: KEYRING_SERVICE.to_owned(),
            lock_dir: None,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }

    /// The keyring service name.
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// The directory of the refresh lock files.
    pub fn lock_dir(&self) -> &Path {
        &self.inner.lock_dir
    }

    /// The keyring entry's user name for `key`: `<env>/<profile>`.
    pub fn user_for(key: &StoreKey) -> String {
        format!("{}/{}", key.env, key.profile)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        key: &StoreKey,
        f: impl FnOnce(&str, &str) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let service = self.inner.service.clone();
        let user = Self::user_for(key);
        tokio::task::spawn_blocking(move || f(&service, &user))
            .await
            .map_err(|e| StoreError::Backend(format!("a keyring task failed: {e}").into()))?
    }
}

impl TokenStore for KeyringStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<TokenSet>, StoreError> {
        self.blocking(key, |service, user| {
            let secret = backend::get(service, user).map_err(|f| f.into_error(service, user))?;
            let Some(secret) = secret else {
                return Ok(None);
            };
            serde_json::from_slice(&secret)
                .map(Some)
                .map_err(|_| Failure::Damaged("it is not a login's JSON").into_error(service, user))
        })
        .await
    }

    async fn save(&self, key: &StoreKey, tokens: &TokenSet) -> Result<(), StoreError> {
        let json = serde_json::to_vec(tokens).map_err(|e| {
            StoreError::Backend(format!("the tokens could not be serialized: {e}").into())
        })?;
        self.blocking(key, move |service, user| {
            backend::set(service, user, &json).map_err(|f| f.into_error(service, user))
        })
        .await
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.blocking(key, |service, user| {
            backend::delete(service, user).map_err(|f| f.into_error(service, user))?;
            // Some keyrings remove entries asynchronously: wait until the entry is gone,
            // so that a load after a delete returns `None`.
            let started = Instant::now();
            loop {
                match backend::get(service, user) {
                    Ok(None) => return Ok(()),
                    Ok(Some(_)) if started.elapsed() < Duration::from_secs(2) => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Ok(Some(_)) => {
                        return Err(Failure::Refused(
                            "the entry was deleted but is still found after 2 s".to_owned(),
                        )
                        .into_error(service, user))
                    }
                    Err(f) => return Err(f.into_error(service, user)),
                }
            }
        })
        .await
    }

    async fn lock_refresh(&self, key: &StoreKey) -> Result<RefreshGuard, StoreError> {
        // In this process: queue on a mutex instead of polling the file lock.
        let local = process_mutex(&self.inner.service, key).lock_owned().await;
        // Across processes: an OS lock on a file (the keyring has no locking).
        let path = self.inner.lock_dir.join(format!(
            "{}.{}.{}.lock",
            sanitize(&self.inner.service),
            sanitize(&key.env),
            sanitize(&key.profile)
        ));
        let file = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || open_private(&path, false, "open the lock file"))
                .await
                .map_err(|e| StoreError::Backend(format!("a file task failed: {e}").into()))??
        };
        let file = super::lock_file(file, path, self.inner.lock_timeout).await?;
        Ok(RefreshGuard::new((file, local)))
    }
}

type LocalLocks = Mutex<HashMap<(String, StoreKey), Arc<tokio::sync::Mutex<()>>>>;

/// One mutex per (service, login) for the whole process, shared by every
/// [`KeyringStore`] (the keyring itself is process-wide too).
fn process_mutex(service: &str, key: &StoreKey) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<LocalLocks> = OnceLock::new();
    let mut locks = match LOCKS.get_or_init(Default::default).lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    locks
        .entry((service.to_owned(), key.clone()))
        .or_default()
        .clone()
}

/// What a keyring back end reports (never a secret).
enum Failure {
    Unavailable(String),
    Damaged(&'static str),
    Refused(String),
}

impl Failure {
    fn into_error(self, service: &str, user: &str) -> StoreError {
        let err = match self {
            Failure::Unavailable(detail) => KeyringError::Unavailable { detail },
            Failure::Damaged(detail) => KeyringError::Damaged {
                service: service.to_owned(),
                user: user.to_owned(),
                detail,
            },
            Failure::Refused(detail) => KeyringError::Refused {
                service: service.to_owned(),
                user: user.to_owned(),
                detail,
            },
        };
        StoreError::Backend(Box::new(err))
    }
}

/// Linux: a `user` key in the user keyring (`@u`), shared by every process of the
/// user, kept in kernel memory until reboot. Described as `<service>:<env>/<profile>`.
///
/// Not through the keyring crate: its keyutils store uses the session keyring and
/// grants only the key's possessor read access, so in a process without a session
/// keyring of its own (services, containers, CI), keys written by one thread are not
/// readable from another (tokio's blocking threads), and not at all from other
/// processes. Here the key grants its user (the same uid, like a 0600 file) and its
/// possessor all access, and nobody else any.
#[cfg(target_os = "linux")]
mod backend {
    use linux_keyutils::{KeyError, KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, Permission};

    use super::Failure;

    fn ring() -> Result<KeyRing, Failure> {
        KeyRing::from_special_id(KeyRingIdentifier::User, true).map_err(unavailable)
    }

    fn description(service: &str, user: &str) -> String {
        format!("{service}:{user}")
    }

    fn unavailable(e: KeyError) -> Failure {
        Failure::Unavailable(format!("the Linux kernel keyring refused access: {e:?}"))
    }

    fn refused(e: KeyError) -> Failure {
        match e {
            KeyError::QuotaExceeded | KeyError::InvalidArguments | KeyError::InvalidDescription => {
                Failure::Refused(format!("{e:?} (the key quota is in /proc/sys/kernel/keys)"))
            }
            other => unavailable(other),
        }
    }

    fn gone(e: &KeyError) -> bool {
        matches!(
            e,
            KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked
        )
    }

    pub(super) fn get(service: &str, user: &str) -> Result<Option<Vec<u8>>, Failure> {
        let key = match ring()?.search(&description(service, user)) {
            Ok(k) => k,
            Err(e) if gone(&e) => return Ok(None),
            Err(e) => return Err(unavailable(e)),
        };
        match key.read_to_vec() {
            Ok(secret) => Ok(Some(secret)),
            Err(e) if gone(&e) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    pub(super) fn set(service: &str, user: &str, secret: &[u8]) -> Result<(), Failure> {
        // Adding a key with the description of an existing one replaces its payload.
        let key = ring()?
            .add_key(&description(service, user), secret)
            .map_err(refused)?;
        let perms = KeyPermissionsBuilder::builder()
            .posessor(Permission::ALL)
            .user(Permission::ALL)
            .build();
        key.set_perms(perms).map_err(unavailable)
    }

    pub(super) fn delete(service: &str, user: &str) -> Result<(), Failure> {
        let ring = ring()?;
        let key = match ring.search(&description(service, user)) {
            Ok(k) => k,
            Err(e) if gone(&e) => return Ok(()),
            Err(e) => return Err(unavailable(e)),
        };
        // Unlinking removes it from the keyring at once; invalidating frees it sooner.
        match ring.unlink_key(key) {
            Ok(()) => {}
            Err(e) if gone(&e) => return Ok(()),
            Err(e) => return Err(unavailable(e)),
        }
        let _ = key.invalidate();
        Ok(())
    }
}

/// macOS and Windows: the keyring crate's native store (Keychain, Credential Manager),
/// service and user as given.
#[cfg(any(target_os = "macos", target_os = "windows"))]
mod backend {
    use super::Failure;

    fn failure(e: ::keyring::Error) -> Failure {
        match e {
            ::keyring::Error::NoStorageAccess(inner) | ::keyring::Error::PlatformFailure(inner) => {
                Failure::Unavailable(inner.to_string())
            }
            // It carries the secret's bytes: never shown.
            ::keyring::Error::BadEncoding(_) => Failure::Damaged("the secret is not UTF-8"),
            ::keyring::Error::Ambiguous(found) => {
                Failure::Refused(format!("{} entries match; remove all but one", found.len()))
            }
            other @ (::keyring::Error::TooLong(..) | ::keyring::Error::Invalid(..)) => {
                Failure::Refused(other.to_string())
            }
            ::keyring::Error::NoEntry => Failure::Damaged("the entry vanished while it was used"),
            _ => Failure::Unavailable("an unknown keyring error".to_owned()),
        }
    }

    fn entry(service: &str, user: &str) -> Result<::keyring::Entry, Failure> {
        ::keyring::Entry::new(service, user).map_err(failure)
    }

    pub(super) fn get(service: &str, user: &str) -> Result<Option<Vec<u8>>, Failure> {
        match entry(service, user)?.get_password() {
            Ok(text) => Ok(Some(text.into_bytes())),
            Err(::keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(failure(e)),
        }
    }

    pub(super) fn set(service: &str, user: &str, secret: &[u8]) -> Result<(), Failure> {
        let text = std::str::from_utf8(secret)
            .map_err(|_| Failure::Refused("the login is not UTF-8 JSON".to_owned()))?;
        entry(service, user)?.set_password(text).map_err(failure)
    }

    pub(super) fn delete(service: &str, user: &str) -> Result<(), Failure> {
        match entry(service, user)?.delete_credential() {
            Ok(()) | Err(::keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(failure(e)),
        }
    }
}

/// Elsewhere: no supported keyring.
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
mod backend {
    use super::Failure;

    fn none() -> Failure {
        Failure::Unavailable("no OS keyring is supported on this platform".to_owned())
    }

    pub(super) fn get(_: &str, _: &str) -> Result<Option<Vec<u8>>, Failure> {
        Err(none())
    }

    pub(super) fn set(_: &str, _: &str, _: &[u8]) -> Result<(), Failure> {
        Err(none())
    }

    pub(super) fn delete(_: &str, _: &str) -> Result<(), Failure> {
        Err(none())
    }
}

fn default_lock_dir() -> PathBuf {
    dirs::runtime_dir()
        .or_else(dirs::cache_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("lexoffice-login")
}
