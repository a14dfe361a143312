//! Where logins are kept between runs: the [`TokenStore`] trait, an in-memory store
//! ([`MemoryStore`]) and an encrypted file store ([`FileStore`]).
//!
//! A store also coordinates refreshes between holders of the same login
//! ([`TokenStore::lock_refresh`]): with rotating refresh tokens, two processes that
//! refresh at once make the provider see a reused refresh token, and strict providers
//! then revoke the whole login.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use crate::tokens::TokenSet;

mod file;
mod fs;
mod memory;

pub use file::{Encryption, EncryptionKey, FileStore, FileStoreBuilder, STORE_KEY_ENV};
pub use memory::MemoryStore;

/// Decodes a token file's bytes as [`FileStore`] does (the fuzz target's way in).
#[cfg(feature = "fuzzing")]
pub(crate) fn decode_for_fuzzing(
    bytes: &[u8],
    key: Option<[u8; 32]>,
) -> Result<TokenSet, StoreError> {
    // A name FileStore can write (`<env>.<profile>.json`): it is the associated data.
    let name = "fuzz.default.json";
    file::Inner::decoder(key).decode(name, std::path::Path::new(name), bytes)
}

// The OS keyring (cargo feature `keyring`, off by default).
#[cfg(feature = "keyring")]
mod keyring;
#[cfg(feature = "keyring")]
pub use self::keyring::{KeyringError, KeyringStore, KeyringStoreBuilder, KEYRING_SERVICE};

// PostgreSQL, shared by the replicas of a service (cargo feature `postgres`, off by default).
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "postgres")]
pub use self::postgres::{
    ConnectionState, KeyProvider, PostgresError, PostgresStore, PostgresStoreBuilder,
    StoredConnection, CONNECTIONS_TABLE, LOCKS_TABLE, MIGRATIONS_TABLE,
};

/// Which login a store entry holds: an environment (`production`, `sandbox`) and a
/// profile (one user may hold several logins).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct StoreKey {
    /// The environment, for example `production`.
    pub env: String,
    /// The profile within the environment, for example `default`.
    pub profile: String,
}

impl StoreKey {
    /// A key for `env` and `profile`.
    pub fn new(env: impl Into<String>, profile: impl Into<String>) -> Self {
        Self {
            env: env.into(),
            profile: profile.into(),
        }
    }
}

impl fmt::Display for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.env, self.profile)
    }
}

/// Held while a refresh is in progress; dropping it lets the next holder refresh.
///
/// Stores make one from whatever releases their lock on drop (an OS file lock, a mutex
/// guard) with [`RefreshGuard::new`].
#[must_use = "the refresh lock is released as soon as the guard is dropped"]
pub struct RefreshGuard {
    _held: Option<Box<dyn Any + Send>>,
}

impl RefreshGuard {
    /// A guard that holds `held` until it is dropped.
    pub fn new(held: impl Any + Send) -> Self {
        Self {
            _held: Some(Box::new(held)),
        }
    }

    /// A guard that holds nothing, for stores with a single holder.
    pub fn none() -> Self {
        Self { _held: None }
    }
}

impl fmt::Debug for RefreshGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshGuard").finish_non_exhaustive()
    }
}

/// A place to keep logins.
///
/// Implementations must be safe to share between tasks. [`TokenStore::lock_refresh`]
/// must exclude every other holder of the same key that refreshes through a store of the
/// same kind and location (other tasks, and for shared stores other processes).
pub trait TokenStore: Send + Sync + 'static {
    /// The stored login for `key`, or `None` if there is none.
    fn load(
        &self,
        key: &StoreKey,
    ) -> impl Future<Output = Result<Option<TokenSet>, StoreError>> + Send;

    /// Stores `tokens` for `key`, replacing what was there. When this returns `Ok`, the
    /// tokens must survive a crash of this process.
    fn save(
        &self,
        key: &StoreKey,
        tokens: &TokenSet,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes the login for `key` (nothing happens if there is none).
    fn delete(&self, key: &StoreKey) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes the exclusive refresh lock for `key`; the lock is held until the guard is
    /// dropped.
    fn lock_refresh(
        &self,
        key: &StoreKey,
    ) -> impl Future<Output = Result<RefreshGuard, StoreError>> + Send;
}

/// Why a store operation failed. No message carries a token or a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file operation failed.
    #[error("could not {action} {path}: {source}; check that the directory exists and that this user may read and write it", path = path.display())]
    Io {
        /// What was being done (`read`, `write`, `create the directory` ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The user's configuration directory could not be determined.
    #[error("could not find this user's configuration directory (is HOME set?); pass a directory to FileStore::builder().dir(...)")]
    NoConfigDir,

    /// A stored file is damaged or not a token file.
    #[error("the token file {path} is damaged ({detail}); it was left in place: log in again to replace it, or restore it from a backup", path = path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the content).
        detail: String,
    },

    /// A stored file was written by a newer version or with an unknown algorithm.
    #[error("the token file {path} has format version {version} with algorithm {alg:?}, which this version cannot read; it was left in place: upgrade, or log in again to replace it", path = path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// The envelope's `v`.
        version: u64,
        /// The envelope's `alg`.
        alg: String,
    },

    /// An encrypted file could not be decrypted: wrong key, or the file was altered.
    #[error("the token file {path} could not be decrypted: the key in {env} (or the one passed in code) is not the one it was written with, or the file was altered; set the right key, or log in again to replace it (the file was left in place)", path = path.display(), env = file::STORE_KEY_ENV)]
    Decrypt {
        /// The file.
        path: PathBuf,
    },

    /// A file is encrypted but no key is set.
    #[error("the token file {path} is encrypted but no key is set; set {env} to the key it was written with (the file was left in place)", path = path.display(), env = file::STORE_KEY_ENV)]
    KeyMissing {
        /// The file.
        path: PathBuf,
    },

    /// The encryption key is malformed.
    #[error("the token store key is invalid ({detail}); {env} must hold 32 random bytes in base64, for example the output of `openssl rand -base64 32`", env = file::STORE_KEY_ENV)]
    BadKey {
        /// What is wrong with it (never the key).
        detail: String,
    },

    /// Encryption at rest is required but no key is set.
    #[error("the token store must encrypt tokens at rest, but no key is set; set {env} to 32 random bytes in base64 (for example `export {env}=$(openssl rand -base64 32)`) or pass a key with FileStore::builder().key(...)", env = file::STORE_KEY_ENV)]
    EncryptionRequired,

    /// The store requires encryption, and the file is in clear: it was not written by
    /// this store, so it is not trusted (whoever can write to the folder could plant it).
    #[error("the token file {path} is stored in clear, but this store requires encryption; it was not read (it may have been planted): log in again to replace it, or remove it", path = path.display())]
    PlaintextRefused {
        /// The file.
        path: PathBuf,
    },

    /// Encryption itself failed (no randomness from the operating system).
    #[error("could not encrypt the tokens ({0}); nothing was written")]
    Encrypt(String),

    /// Another holder kept the refresh lock for longer than the lock timeout.
    #[error("another process has held the refresh lock {path} for more than {} s; it may be stuck: try again, or stop the other process", waited.as_secs_f32(), path = path.display())]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long this process waited.
        waited: Duration,
    },

    /// A store-specific failure (for stores outside this crate).
    #[error("the token store failed: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

/// How often a held refresh lock is tried again.
const LOCK_POLL: Duration = Duration::from_millis(25);

/// Takes an exclusive OS lock on an open lock file, polling until `timeout` (a crashed
/// holder cannot block forever: the OS releases its lock, and a live one that hangs is
/// waited for only this long). The lock is released when the returned file is dropped.
pub(crate) async fn lock_file(
    file: std::fs::File,
    path: PathBuf,
    timeout: Duration,
) -> Result<std::sync::Arc<std::fs::File>, StoreError> {
    let file = std::sync::Arc::new(file);
    let started = std::time::Instant::now();
    loop {
        let f = file.clone();
        // std's OS lock (flock / LockFileEx, Rust 1.89): two processes never refresh
        // the same rotated refresh token at once.
        let attempt = tokio::task::spawn_blocking(move || f.try_lock())
            .await
            .map_err(|e| StoreError::Backend(format!("a file task failed: {e}").into()))?;
        match attempt {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StoreError::Io {
                    action: "lock",
                    path,
                    source,
                })
            }
        }
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(StoreError::LockTimeout { path, waited });
        }
        tokio::time::sleep(LOCK_POLL.min(timeout - waited)).await;
    }
}
