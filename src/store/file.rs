//! [`FileStore`]: one file per login, encrypted at rest when a key is set.

use std::fmt;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};

use super::fs::{create_private_dir, open_private, sanitize, unsanitize};
use super::{RefreshGuard, StoreError, StoreKey, TokenStore};
use crate::tokens::TokenSet;

/// The environment variable that holds the [`FileStore`]'s key: 32 random bytes in
/// base64 (`openssl rand -base64 32`).
pub const STORE_KEY_ENV: &str = crate::protocol::STORE_KEY_VAR;

const ALG_CHACHA: &str = "chacha20poly1305";
const ALG_NONE: &str = "none";
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// A 32-byte key for encryption at rest. `Debug` never shows it.
#[derive(Clone)]
pub struct EncryptionKey([u8; 32]);

impl EncryptionKey {
    /// A key from 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key from its base64 form (standard or URL-safe alphabet, padding optional).
    pub fn from_base64(text: &str) -> Result<Self, StoreError> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE.decode(text))
            .or_else(|_| URL_SAFE_NO_PAD.decode(text))
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .map_err(|_| StoreError::BadKey {
                detail: "it is not valid base64".to_owned(),
            })?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| StoreError::BadKey {
            detail: format!("it decodes to {} bytes, not 32", b.len()),
        })?;
        Ok(Self(bytes))
    }

    /// A new random key from the operating system.
    pub fn generate() -> Result<Self, StoreError> {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).map_err(|e| StoreError::Encrypt(e.to_string()))?;
        Ok(Self(bytes))
    }

    /// The key in standard base64, the form [`STORE_KEY_ENV`] takes.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// The key from [`STORE_KEY_ENV`], `None` when it is unset or empty.
    pub fn from_env() -> Result<Option<Self>, StoreError> {
        match std::env::var(STORE_KEY_ENV) {
            Ok(v) if !v.trim().is_empty() => Self::from_base64(&v).map(Some),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(StoreError::BadKey {
                detail: "it is not valid UTF-8".to_owned(),
            }),
        }
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey([redacted])")
    }
}

/// How a [`FileStore`] writes tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encryption {
    /// In clear (the files are still readable by this user only, on Unix). Set
    /// [`STORE_KEY_ENV`] to encrypt.
    None,
    /// ChaCha20-Poly1305 with a random nonce per write.
    ChaCha20Poly1305,
}

/// The file format: a small JSON envelope.
#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u64,
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ciphertext: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tokens: Option<serde_json::Value>,
}

/// Settings of a [`FileStore`]; [`FileStoreBuilder::build`] makes it.
#[derive(Debug)]
pub struct FileStoreBuilder {
    dir: Option<PathBuf>,
    key: KeyChoice,
    require_encryption: bool,
    lock_timeout: Duration,
}

#[derive(Debug)]
enum KeyChoice {
    Env,
    Given(EncryptionKey),
    Off,
}

impl FileStoreBuilder {
    /// The directory for the token files (default: `lexoffice-login/tokens` in the
    /// user's configuration directory, such as `~/.config` on Linux).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Encrypts with this key instead of the one in [`STORE_KEY_ENV`].
    pub fn key(mut self, key: EncryptionKey) -> Self {
        self.key = KeyChoice::Given(key);
        self
    }

    /// Ignores [`STORE_KEY_ENV`]: no key unless [`FileStoreBuilder::key`] gives one.
    pub fn ignore_env_key(mut self) -> Self {
        if matches!(self.key, KeyChoice::Env) {
            self.key = KeyChoice::Off;
        }
        self
    }

    /// Refuses to work without a key (default: off, tokens are then stored in clear).
    pub fn require_encryption(mut self, on: bool) -> Self {
        self.require_encryption = on;
        self
    }

    /// How long [`TokenStore::lock_refresh`] waits for another holder (default 30 s).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Makes the store: resolves the key and creates the directory if it does not
    /// exist (mode 0700 on Unix; an existing directory's mode is left alone).
    pub fn build(self) -> Result<FileStore, StoreError> {
        let key = match self.key {
            KeyChoice::Env => EncryptionKey::from_env()?,
            KeyChoice::Given(k) => Some(k),
            KeyChoice::Off => None,
        };
        if key.is_none() && self.require_encryption {
            return Err(StoreError::EncryptionRequired);
        }
        let dir = match self.dir {
            Some(d) => d,
            None => dirs::config_dir()
                .ok_or(StoreError::NoConfigDir)?
                .join("lexoffice-login")
                .join("tokens"),
        };
        create_private_dir(&dir)?;
        if key.is_none() {
            tracing::warn!(dir = %dir.display(), "token store without encryption key: tokens are stored in clear; set {STORE_KEY_ENV} to encrypt them");
        }
        Ok(FileStore {
            inner: Arc::new(Inner {
                dir,
                cipher: key.map(|k| ChaCha20Poly1305::new(&Key::from(k.0))),
                require_encryption: self.require_encryption,
                lock_timeout: self.lock_timeout,
            }),
        })
    }
}

/// Logins kept in files, one per [`StoreKey`], in one directory.
///
/// Files are readable by this user only (0600, directory 0700, on Unix) and replaced
/// atomically (temporary file, fsync, rename, fsync of the directory). With a key (from
/// [`STORE_KEY_ENV`] or [`FileStoreBuilder::key`]) they are encrypted with
/// ChaCha20-Poly1305; without one they are in clear and [`FileStore::encryption`] says
/// so. A damaged or undecryptable file is reported and never deleted.
///
/// [`TokenStore::lock_refresh`] takes an OS exclusive lock on `<file>.lock`, so holders
/// in other processes wait for a refresh in progress; the OS drops the lock of a process
/// that dies. Clones share the settings.
///
/// ```
/// use lexoffice_login::store::{Encryption, EncryptionKey, FileStore, StoreKey, TokenStore};
///
/// # async fn run() -> Result<(), lexoffice_login::store::StoreError> {
/// let dir = std::env::temp_dir().join(format!("filestore-doc-{}", std::process::id()));
/// let store = FileStore::builder()
///     .dir(&dir)
///     .key(EncryptionKey::from_bytes([7; 32]))
///     .require_encryption(true)
///     .build()?;
/// assert!(matches!(store.encryption(), Encryption::ChaCha20Poly1305));
/// assert!(store.load(&StoreKey::new("production", "default")).await?.is_none());
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    dir: PathBuf,
    cipher: Option<ChaCha20Poly1305>,
    /// Plaintext files are refused, not just never written.
    require_encryption: bool,
    lock_timeout: Duration,
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.inner.dir)
            .field("encryption", &self.encryption())
            .field("lock_timeout", &self.inner.lock_timeout)
            .finish()
    }
}

impl FileStore {
    /// Settings with the defaults: the user's configuration directory, the key from
    /// [`STORE_KEY_ENV`] if set, encryption not required, a 30 s lock timeout.
    pub fn builder() -> FileStoreBuilder {
        FileStoreBuilder {
            dir: None,
            key: KeyChoice::Env,
            require_encryption: false,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }

    /// A store in `dir` with the key from [`STORE_KEY_ENV`] if set.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        Self::builder().dir(dir).build()
    }

    /// Whether tokens are encrypted at rest.
    pub fn encryption(&self) -> Encryption {
        match self.inner.cipher {
            Some(_) => Encryption::ChaCha20Poly1305,
            None => Encryption::None,
        }
    }

    /// The directory of the token files.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// How the login's file is actually stored, read from the file (not from this
    /// store's key): `None` when there is no file. A file written in clear stays in clear
    /// until the next save, whatever key the store has now.
    pub async fn file_encryption(&self, key: &StoreKey) -> Result<Option<Encryption>, StoreError> {
        let name = file_name(key);
        self.blocking(move |inner| inner.file_encryption(&name))
            .await
    }

    /// The keys of every login stored here (files named by [`FileStore::path_for`];
    /// other files are left out).
    pub async fn keys(&self) -> Result<Vec<StoreKey>, StoreError> {
        self.blocking(|inner| {
            let entries = fs::read_dir(&inner.dir).map_err(|source| StoreError::Io {
                action: "list",
                path: inner.dir.clone(),
                source,
            })?;
            let mut keys = Vec::new();
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                    continue;
                };
                let mut parts = stem.split('.');
                if let (Some(env), Some(profile), None) = (parts.next(), parts.next(), parts.next())
                {
                    if let (Some(env), Some(profile)) = (unsanitize(env), unsanitize(profile)) {
                        keys.push(StoreKey::new(env, profile));
                    }
                }
            }
            keys.sort();
            Ok(keys)
        })
        .await
    }

    /// The file that holds the login for `key`.
    pub fn path_for(&self, key: &StoreKey) -> PathBuf {
        self.inner.dir.join(file_name(key))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| StoreError::Backend(format!("a file task failed: {e}").into()))?
    }
}

impl TokenStore for FileStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<TokenSet>, StoreError> {
        let name = file_name(key);
        self.blocking(move |inner| inner.read(&name)).await
    }

    async fn save(&self, key: &StoreKey, tokens: &TokenSet) -> Result<(), StoreError> {
        let name = file_name(key);
        let tokens = tokens.clone();
        self.blocking(move |inner| inner.write(&name, &tokens))
            .await
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        let name = file_name(key);
        self.blocking(move |inner| {
            let path = inner.dir.join(&name);
            match fs::remove_file(&path) {
                Ok(()) => sync_dir(&inner.dir),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(StoreError::Io {
                    action: "delete",
                    path,
                    source,
                }),
            }
        })
        .await
    }

    async fn lock_refresh(&self, key: &StoreKey) -> Result<RefreshGuard, StoreError> {
        let path = self.inner.dir.join(format!("{}.lock", file_name(key)));
        let file = {
            let path = path.clone();
            self.blocking(move |_| open_private(&path, false, "open the lock file"))
                .await?
        };
        let file = super::lock_file(file, path, self.inner.lock_timeout).await?;
        Ok(RefreshGuard::new(file))
    }
}

impl Inner {
    /// A stored file's path and bytes; `None` when there is no file.
    fn read_bytes(&self, name: &str) -> Result<Option<(PathBuf, Vec<u8>)>, StoreError> {
        let path = self.dir.join(name);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some((path, bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    fn read(&self, name: &str) -> Result<Option<TokenSet>, StoreError> {
        let Some((path, bytes)) = self.read_bytes(name)? else {
            return Ok(None);
        };
        self.decode(name, &path, &bytes).map(Some)
    }

    /// What a stored file holds: the tokens, or why they cannot be had. Nothing is
    /// deleted or changed here.
    pub(crate) fn decode(
        &self,
        name: &str,
        path: &Path,
        bytes: &[u8],
    ) -> Result<TokenSet, StoreError> {
        let corrupt = |detail: &str| StoreError::Corrupt {
            path: path.to_owned(),
            detail: detail.to_owned(),
        };
        let envelope: Envelope =
            serde_json::from_slice(bytes).map_err(|_| corrupt("it is not a token file's JSON"))?;
        match (envelope.v, envelope.alg.as_str()) {
            (1, ALG_NONE) => {
                if self.require_encryption {
                    // Whoever can write to the folder could plant tokens in clear.
                    return Err(StoreError::PlaintextRefused {
                        path: path.to_owned(),
                    });
                }
                let tokens = envelope
                    .tokens
                    .ok_or_else(|| corrupt("the tokens are missing"))?;
                let tokens: TokenSet = serde_json::from_value(tokens)
                    .map_err(|_| corrupt("the tokens are malformed"))?;
                if self.cipher.is_some() {
                    tracing::warn!(path = %path.display(), "the token file is in clear; it will be encrypted on the next save");
                }
                Ok(tokens)
            }
            (1, ALG_CHACHA) => {
                let cipher = self.cipher.as_ref().ok_or_else(|| StoreError::KeyMissing {
                    path: path.to_owned(),
                })?;
                let nonce = envelope
                    .nonce
                    .and_then(|n| STANDARD.decode(n).ok())
                    .and_then(|n| <[u8; 12]>::try_from(n).ok())
                    .ok_or_else(|| corrupt("the nonce is missing or malformed"))?;
                let ciphertext = envelope
                    .ciphertext
                    .and_then(|c| STANDARD.decode(c).ok())
                    .ok_or_else(|| corrupt("the ciphertext is missing or malformed"))?;
                let plain = cipher
                    .decrypt(
                        &Nonce::from(nonce),
                        Payload {
                            msg: &ciphertext,
                            aad: aad(name).as_bytes(),
                        },
                    )
                    .map_err(|_| StoreError::Decrypt {
                        path: path.to_owned(),
                    })?;
                serde_json::from_slice(&plain)
                    .map_err(|_| corrupt("the decrypted tokens are malformed"))
            }
            (version, alg) => Err(StoreError::UnsupportedFormat {
                path: path.to_owned(),
                version,
                alg: alg.to_owned(),
            }),
        }
    }

    /// A store that only decodes (the fuzz target's).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn decoder(key: Option<[u8; 32]>) -> Inner {
        Inner {
            dir: PathBuf::new(),
            cipher: key.map(|k| ChaCha20Poly1305::new(&Key::from(k))),
            require_encryption: key.is_some(),
            lock_timeout: Duration::ZERO,
        }
    }

    /// How a stored file is actually kept, read from the file itself.
    fn file_encryption(&self, name: &str) -> Result<Option<Encryption>, StoreError> {
        let Some((path, bytes)) = self.read_bytes(name)? else {
            return Ok(None);
        };
        let envelope: Envelope =
            serde_json::from_slice(&bytes).map_err(|_| StoreError::Corrupt {
                path: path.clone(),
                detail: "it is not a token file's JSON".into(),
            })?;
        match envelope.alg.as_str() {
            ALG_NONE => Ok(Some(Encryption::None)),
            ALG_CHACHA => Ok(Some(Encryption::ChaCha20Poly1305)),
            alg => Err(StoreError::UnsupportedFormat {
                path,
                version: envelope.v,
                alg: alg.to_owned(),
            }),
        }
    }

    fn write(&self, name: &str, tokens: &TokenSet) -> Result<(), StoreError> {
        let path = self.dir.join(name);
        let envelope = match &self.cipher {
            Some(cipher) => {
                let plain = serde_json::to_vec(tokens).map_err(|e| {
                    StoreError::Encrypt(format!("the tokens could not be serialized: {e}"))
                })?;
                let mut nonce = [0u8; 12];
                getrandom::getrandom(&mut nonce).map_err(|e| StoreError::Encrypt(e.to_string()))?;
                let ciphertext = cipher
                    .encrypt(
                        &Nonce::from(nonce),
                        Payload {
                            msg: &plain,
                            aad: aad(name).as_bytes(),
                        },
                    )
                    .map_err(|_| StoreError::Encrypt("the cipher refused the input".to_owned()))?;
                Envelope {
                    v: 1,
                    alg: ALG_CHACHA.to_owned(),
                    nonce: Some(STANDARD.encode(nonce)),
                    ciphertext: Some(STANDARD.encode(ciphertext)),
                    tokens: None,
                }
            }
            None => Envelope {
                v: 1,
                alg: ALG_NONE.to_owned(),
                nonce: None,
                ciphertext: None,
                tokens: Some(serde_json::to_value(tokens).map_err(|e| {
                    StoreError::Encrypt(format!("the tokens could not be serialized: {e}"))
                })?),
            },
        };
        let body = serde_json::to_vec(&envelope).map_err(|e| {
            StoreError::Encrypt(format!("the envelope could not be serialized: {e}"))
        })?;

        let mut suffix = [0u8; 6];
        getrandom::getrandom(&mut suffix).map_err(|e| StoreError::Encrypt(e.to_string()))?;
        let tmp = self.dir.join(format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            URL_SAFE_NO_PAD.encode(suffix)
        ));
        let result = (|| {
            let mut file = open_private(&tmp, true, "create a temporary file")?;
            let io = |action: &'static str, path: &Path| {
                let path = path.to_owned();
                move |source| StoreError::Io {
                    action,
                    path,
                    source,
                }
            };
            file.write_all(&body).map_err(io("write", &tmp))?;
            file.sync_all().map_err(io("flush to disk", &tmp))?;
            drop(file);
            fs::rename(&tmp, &path).map_err(io("replace", &path))?;
            sync_dir(&self.dir)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        if result.is_ok() {
            remove_stale_temp_files(&self.dir, name);
        }
        result
    }
}

/// A writer killed between creating its temporary file and the rename leaves the file
/// behind (readers ignore it). The next successful write of the same login removes such
/// files once they are older than any live write could be.
fn remove_stale_temp_files(dir: &Path, name: &str) {
    const STALE: std::time::Duration = std::time::Duration::from_secs(600);
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix));
        let is_stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE);
        if is_ours && is_stale {
            if let Err(e) = fs::remove_file(entry.path()) {
                tracing::debug!(error = %e, "could not remove a stale temporary file");
            }
        }
    }
}

/// Authenticated data: binds the ciphertext to its file name, so that one login's file
/// cannot be passed off as another's.
fn aad(name: &str) -> String {
    format!("lexoffice-login/v1/{name}")
}

/// `<env>.<profile>.json`; bytes other than ASCII letters, digits and `-` are written as
/// `_XX` (hex), so names are unambiguous and safe on every file system.
fn file_name(key: &StoreKey) -> String {
    format!("{}.{}.json", sanitize(&key.env), sanitize(&key.profile))
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| StoreError::Io {
            action: "flush to disk",
            path: dir.to_owned(),
            source,
        })?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_read_back_into_their_keys() {
        for (env, profile) in [
            ("production", "default"),
            ("a.b", "x/y z"),
            ("", "ü"),
            ("_2e", "-"),
        ] {
            let name = file_name(&StoreKey::new(env, profile));
            let stem = name.strip_suffix(".json").unwrap();
            let (e, p) = stem.split_once('.').unwrap();
            assert_eq!(unsanitize(e).as_deref(), Some(env), "{name}");
            assert_eq!(unsanitize(p).as_deref(), Some(profile), "{name}");
        }
        assert_eq!(unsanitize("a_zz"), None);
        assert_eq!(unsanitize("a.b"), None);
    }

    #[test]
    fn file_names_are_safe_and_unambiguous() {
        assert_eq!(
            file_name(&StoreKey::new("production", "default")),
            "production.default.json"
        );
        assert_eq!(
            file_name(&StoreKey::new("../x", "a b")),
            "_2e_2e_2fx.a_20b.json"
        );
        assert_ne!(
            file_name(&StoreKey::new("a.b", "c")),
            file_name(&StoreKey::new("a", "b.c"))
        );
        assert_eq!(file_name(&StoreKey::new("", "")), "_._.json");
    }

    #[test]
    fn keys_parse_from_base64() {
        let k = EncryptionKey::generate().unwrap();
        let back = EncryptionKey::from_base64(&k.to_base64()).unwrap();
        assert_eq!(k.0, back.0);
        let err = EncryptionKey::from_base64("c2hvcnQ=").unwrap_err();
        assert!(err.to_string().contains("not 32"), "{err}");
        assert!(!format!("{k:?}").contains(&k.to_base64()));
    }
}
