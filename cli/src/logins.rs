//! The user config file of named logins, and the list of stored logins.
//!
//! ```toml
//! # $XDG_CONFIG_HOME/lexoffice-login/config.toml (or LEXOFFICE_LOGIN_USER_CONFIG)
//! [logins.work]
//! provider = "lexoffice"
//! env = "production"
//! client_id = "my-client"
//! redirect_uri = "http://127.0.0.1:8765/callback"
//! scopes = ["profile.read", "contacts.read"]   # or a preset: scopes = "invoicing"
//! secret = { env = "WORK_CLIENT_SECRET" }       # or { command = ["pass", "show", "work"] }
//!                                               # or { keyring = "work" }
//! store = "keyring"                             # or "file" (the default)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap_complete::CompletionCandidate;
use lexoffice_login::providers::Provider;
use lexoffice_login::store::StoreKey;
use lexoffice_login::ScopePreset;
use serde::Deserialize;

use crate::args::StoreKind;
use crate::error::{CliError, Exit};

/// Overrides where the user config file is (tests use it).
pub const USER_CONFIG_ENV: &str = "LEXOFFICE_LOGIN_USER_CONFIG";

/// The user config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Named logins, by name.
    #[serde(default)]
    pub logins: BTreeMap<String, NamedLogin>,
}

/// One named login.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedLogin {
    /// The provider preset's name.
    pub provider: Option<String>,
    /// The environment (`production`, `sandbox`, `local`, ...).
    pub env: Option<String>,
    /// The issuer, when it is not the environment's.
    pub issuer: Option<String>,
    /// The client id.
    pub client_id: Option<String>,
    /// The redirect URI.
    pub redirect_uri: Option<String>,
    /// Scope names, or one scope preset's name.
    pub scopes: Option<ScopesValue>,
    /// Where the client secret comes from.
    pub secret: Option<SecretSource>,
    /// The client secret itself, in this file (warned about).
    pub secret_plaintext: Option<String>,
    /// `file` or `keyring`.
    pub store: Option<String>,
}

/// `scopes = "invoicing"` or `scopes = ["openid", "profile.read"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ScopesValue {
    /// A preset's name, or names separated by spaces.
    One(String),
    /// Scope names.
    List(Vec<String>),
}

/// Where a named login's client secret comes from (exactly one).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// An environment variable's name.
    pub env: Option<String>,
    /// A command whose first line of output is the secret.
    pub command: Option<Vec<String>>,
    /// A keyring entry's name (Linux: the user keyring's `user` key
    /// `lexoffice-login-secret:NAME`).
    pub keyring: Option<String>,
}

/// The user config file's path: LEXOFFICE_LOGIN_USER_CONFIG, else
/// `$XDG_CONFIG_HOME/lexoffice-login/config.toml` (the platform's config directory).
pub fn user_config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(USER_CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    dirs::config_dir().map(|d| d.join("lexoffice-login").join("config.toml"))
}

/// The user config file, or an empty one when there is none.
pub fn load_user_config() -> Result<(Option<PathBuf>, UserConfig), CliError> {
    let Some(path) = user_config_path() else {
        return Ok((None, UserConfig::default()));
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::env::var_os(USER_CONFIG_ENV).is_some_and(|p| !p.is_empty()) {
                return Err(CliError::new(
                    Exit::Config,
                    format!(
                        "the user config file {} (from {USER_CONFIG_ENV}) does not exist",
                        path.display()
                    ),
                ));
            }
            return Ok((Some(path), UserConfig::default()));
        }
        Err(e) => {
            return Err(CliError::new(
                Exit::Config,
                format!(
                    "could not read the user config file {}: {e}",
                    path.display()
                ),
            ))
        }
    };
    let config: UserConfig = toml::from_str(&text).map_err(|e| {
        // toml's message names the key and the line; never the secret's value, which is
        // never echoed back by the parser's "unknown field"/"invalid type" texts.
        let span = e
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].lines().count().max(1);
                format!(" (line {line})")
            })
            .unwrap_or_default();
        CliError::new(
            Exit::Config,
            format!(
                "the user config file {}{span} is invalid: {}",
                path.display(),
                e.message()
            ),
        )
        .hint("named logins are [logins.NAME] tables with the keys provider, env, issuer, client_id, redirect_uri, scopes, secret, secret_plaintext, store")
    })?;
    Ok((Some(path), config))
}

/// One named login with the file it came from, checked.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The login's name (the store's profile).
    pub name: String,
    /// The user config file.
    pub file: PathBuf,
    /// Its table.
    pub login: NamedLogin,
    /// Its provider, parsed.
    pub provider: Option<Provider>,
    /// Its store, parsed.
    pub store: Option<StoreKind>,
}

impl Selected {
    /// `FILE [logins.NAME] KEY`, for messages.
    pub fn where_(&self, key: &str) -> String {
        format!("{} [logins.{}] {key}", self.file.display(), self.name)
    }

    /// Checks the table: known provider and store, one secret source.
    pub fn new(name: &str, file: &Path, login: NamedLogin) -> Result<Selected, CliError> {
        let mut s = Selected {
            name: name.to_owned(),
            file: file.to_owned(),
            login,
            provider: None,
            store: None,
        };
        if let Some(p) = &s.login.provider {
            s.provider = Some(p.parse::<Provider>().map_err(|_| {
                CliError::new(
                    Exit::Config,
                    format!(
                        "{}: unknown provider {p:?}; the providers are {}",
                        s.where_("provider"),
                        Provider::names().collect::<Vec<_>>().join(", ")
                    ),
                )
            })?);
        }
        if let Some(kind) = &s.login.store {
            s.store = Some(match kind.as_str() {
                "file" => StoreKind::File,
                "keyring" => StoreKind::Keyring,
                other => {
                    return Err(CliError::new(
                        Exit::Config,
                        format!(
                            "{}: unknown store {other:?}; it is \"file\" or \"keyring\"",
                            s.where_("store")
                        ),
                    ))
                }
            });
        }
        if let Some(src) = &s.login.secret {
            let n = [
                src.env.is_some(),
                src.command.is_some(),
                src.keyring.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if n != 1 {
                return Err(CliError::new(
                    Exit::Config,
                    format!(
                        "{}: name exactly one source: {{ env = \"VAR\" }}, {{ command = [\"pass\", \"show\", \"x\"] }} or {{ keyring = \"name\" }}",
                        s.where_("secret")
                    ),
                ));
            }
            if s.login.secret_plaintext.is_some() {
                return Err(CliError::new(
                    Exit::Config,
                    format!(
                        "{}: both `secret` and `secret_plaintext` are set; keep one",
                        s.where_("secret")
                    ),
                ));
            }
        }
        Ok(s)
    }

    /// The client secret, from where the table says.
    pub fn secret(&self) -> Result<Option<String>, CliError> {
        if let Some(plain) = &self.login.secret_plaintext {
            crate::errln!(
                "warning: the client secret of login {:?} is written in plain text in {}; \
                 prefer secret = {{ env = \"VAR\" }}, {{ command = [...] }} or {{ keyring = \"...\" }}",
                self.name,
                self.file.display()
            );
            return Ok(Some(plain.clone()));
        }
        let Some(src) = &self.login.secret else {
            return Ok(None);
        };
        if let Some(var) = &src.env {
            return match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(Some(v)),
                _ => Err(CliError::new(
                    Exit::Config,
                    format!(
                        "the client secret of login {:?} comes from the variable {var} ({}), which is not set",
                        self.name,
                        self.where_("secret")
                    ),
                )),
            };
        }
        if let Some(argv) = &src.command {
            let Some((program, args)) = argv.split_first() else {
                return Err(CliError::new(
                    Exit::Config,
                    format!("{}: the command is empty", self.where_("secret")),
                ));
            };
            let out = std::process::Command::new(program)
                .args(args)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| {
                    CliError::new(
                        Exit::Config,
                        format!(
                            "could not run {program:?} for the client secret ({}): {e}",
                            self.where_("secret")
                        ),
                    )
                })?;
            if !out.status.success() {
                return Err(CliError::new(
                    Exit::Config,
                    format!(
                        "{program:?} failed ({}) and gave no client secret ({})",
                        out.status,
                        self.where_("secret")
                    ),
                ));
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let first = text.lines().next().unwrap_or_default().trim().to_owned();
            if first.is_empty() {
                return Err(CliError::new(
                    Exit::Config,
                    format!(
                        "{program:?} printed no client secret ({})",
                        self.where_("secret")
                    ),
                ));
            }
            return Ok(Some(first));
        }
        if let Some(name) = &src.keyring {
            return keyring_secret(name)
                .map(Some)
                .map_err(|why| {
                    CliError::new(
                        Exit::Config,
                        format!(
                            "the client secret {name:?} could not be read from the keyring ({}): {why}",
                            self.where_("secret")
                        ),
                    )
                    .hint(format!(
                        "store it with `keyctl add user {KEYRING_SECRET_PREFIX}{name} \"$SECRET\" @u` (Linux)"
                    ))
                });
        }
        Ok(None)
    }

    /// Settings variables this login brings (added where the environment has none), and
    /// for each the place to name in messages.
    pub fn vars(&self) -> Result<Vec<(String, String, String)>, CliError> {
        let mut vars = Vec::new();
        let l = &self.login;
        let mut put = |var: &str, value: &str, key: &str| {
            vars.push((
                format!("LEXOFFICE_LOGIN_{var}"),
                value.to_owned(),
                self.where_(key),
            ));
        };
        if let Some(v) = &l.issuer {
            put("ISSUER", v, "issuer");
        }
        if let Some(v) = &l.client_id {
            put("CLIENT_ID", v, "client_id");
        }
        if let Some(v) = &l.redirect_uri {
            put("REDIRECT_URI", v, "redirect_uri");
        }
        match &l.scopes {
            Some(ScopesValue::One(s)) => put("SCOPES", &scope_words(s), "scopes"),
            Some(ScopesValue::List(list)) => put("SCOPES", &list.join(" "), "scopes"),
            None => {}
        }
        Ok(vars)
    }
}

/// A scope preset's name as its scopes, else the names (spaces or commas) as they are.
pub fn scope_words(s: &str) -> String {
    match s.trim().parse::<ScopePreset>() {
        Ok(preset) => preset.scopes().to_string(),
        Err(_) => s
            .split([',', ' '])
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The prefix of a client secret's key in the Linux user keyring.
pub const KEYRING_SECRET_PREFIX: &str = "lexoffice-login-secret:";

#[cfg(target_os = "linux")]
fn keyring_secret(name: &str) -> Result<String, String> {
    use linux_keyutils::{KeyRing, KeyRingIdentifier};
    let ring = KeyRing::from_special_id(KeyRingIdentifier::User, false)
        .map_err(|e| format!("the user keyring is not available ({e:?})"))?;
    let key = ring
        .search(&format!("{KEYRING_SECRET_PREFIX}{name}"))
        .map_err(|e| format!("no such entry ({e:?})"))?;
    let bytes = key
        .read_to_vec()
        .map_err(|e| format!("the entry could not be read ({e:?})"))?;
    String::from_utf8(bytes)
        .map(|s| s.trim().to_owned())
        .map_err(|_| "the entry is not text".to_owned())
}

#[cfg(not(target_os = "linux"))]
fn keyring_secret(_name: &str) -> Result<String, String> {
    Err("reading client secrets from the keyring is supported on Linux only so far".to_owned())
}

/// The named login `name` from the user config file, if it has one.
pub fn select(name: &str) -> Result<Option<Selected>, CliError> {
    let (path, mut config) = load_user_config()?;
    let (Some(path), Some(login)) = (path, config.logins.remove(name)) else {
        return Ok(None);
    };
    Selected::new(name, &path, login).map(Some)
}

/// A stored login found in the store directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// Its key.
    pub key: StoreKey,
    /// The file (a token file, or a pointer to the keyring).
    pub path: PathBuf,
    /// Whether the tokens are in the keyring.
    pub keyring: bool,
}

/// Every login in the store directory: `<env>.<profile>.json` (the FileStore's names,
/// with `_XX` escapes) and `<env>.<profile>.keyring` (a pointer to a keyring login).
pub fn stored_logins(dir: &Path) -> Vec<StoredEntry> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<StoredEntry> = entries
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let name = path.file_name()?.to_str()?.to_owned();
            let (stem, keyring) = if let Some(stem) = name.strip_suffix(".json") {
                (stem, false)
            } else if let Some(stem) = name.strip_suffix(".keyring") {
                (stem, true)
            } else {
                return None;
            };
            let key = parse_file_stem(stem)?;
            Some(StoredEntry { key, path, keyring })
        })
        .collect();
    found.sort_by(|a, b| a.key.cmp(&b.key));
    found
}

/// `<env>.<profile>` (each part with `_XX` hex escapes) back to a key.
pub fn parse_file_stem(stem: &str) -> Option<StoreKey> {
    let (env, profile) = stem.split_once('.')?;
    if profile.contains('.') {
        return None;
    }
    Some(StoreKey::new(unescape(env)?, unescape(profile)?))
}

fn unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'_' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The store directory the CLI uses (for listings and completion).
pub fn store_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(crate::context::STORE_DIR_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    lexoffice_login::store::FileStore::builder()
        .ignore_env_key()
        .build()
        .ok()
        .map(|s| s.dir().to_owned())
}

/// Login names for shell completion: the user config file's named logins and the
/// stored logins' profiles.
pub fn completion_candidates() -> Vec<CompletionCandidate> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    if let Ok((_, config)) = load_user_config() {
        for (name, login) in config.logins {
            let what = match (&login.provider, &login.env) {
                (Some(p), Some(e)) => format!("named login ({p}, {e})"),
                (Some(p), None) => format!("named login ({p})"),
                (None, Some(e)) => format!("named login ({e})"),
                (None, None) => "named login".to_owned(),
            };
            names.insert(name, what);
        }
    }
    if let Some(dir) = store_dir() {
        for entry in stored_logins(&dir) {
            names
                .entry(entry.key.profile.clone())
                .or_insert_with(|| format!("stored login ({})", entry.key.env));
        }
    }
    names
        .into_iter()
        .map(|(name, help)| CompletionCandidate::new(name).help(Some(help.into())))
        .collect()
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn file_names_parse_back_to_keys() {
        assert_eq!(
            parse_file_stem("production.default"),
            Some(StoreKey::new("production", "default"))
        );
        assert_eq!(
            parse_file_stem("local-xero.work_2e2"),
            Some(StoreKey::new("local-xero", "work.2"))
        );
        assert_eq!(parse_file_stem("nodot"), None);
    }

    #[test]
    fn a_named_login_is_checked() {
        let login: UserConfig = toml::from_str(
            r#"
            [logins.work]
            provider = "xero"
            env = "production"
            client_id = "c"
            scopes = "invoicing"
            secret = { env = "X" }
            store = "keyring"
            "#,
        )
        .expect("parses");
        let s = Selected::new("work", Path::new("/c.toml"), login.logins["work"].clone())
            .expect("valid");
        assert_eq!(s.provider, Some(Provider::Xero));
        assert_eq!(s.store, Some(StoreKind::Keyring));
        let vars = s.vars().expect("vars");
        assert!(vars
            .iter()
            .any(|(k, v, _)| k == "LEXOFFICE_LOGIN_SCOPES" && v.contains("vouchers.write")));
        let bad = NamedLogin {
            provider: Some("sage".into()),
            ..NamedLogin::default()
        };
        let e = Selected::new("w", Path::new("/c.toml"), bad).expect_err("unknown provider");
        assert!(e.message.contains("[logins.w] provider"), "{}", e.message);
    }
}
