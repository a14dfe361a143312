//! What every command needs: the settings, the token store, the login's key, a client,
//! and output that never panics on a closed pipe.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use lexoffice_login::protocol::{CLIENT_SECRET_VAR, ENV_PREFIX, ENV_VAR, STORE_KEY_VAR};
use lexoffice_login::providers::Provider;
use lexoffice_login::store::{
    Encryption, FileStore, KeyringStore, RefreshGuard, StoreError, StoreKey, TokenStore,
};
use lexoffice_login::{Client, LoadOptions, ManagerOptions, Settings, TokenManager, TokenSet};

use crate::args::{Global, StoreKind};
use crate::error::{CliError, Exit};
use crate::logins::Selected;

/// Overrides the token store's directory (tests use it).
pub const STORE_DIR_ENV: &str = "LEXOFFICE_LOGIN_STORE_DIR";
/// Default for `--profile`.
pub const PROFILE_ENV: &str = "LEXOFFICE_LOGIN_PROFILE";
/// Default for `--provider` (also a setting: `provider`).
pub const PROVIDER_ENV: &str = "LEXOFFICE_LOGIN_PROVIDER";

/// Variables with the settings' prefix that are the command line's own, not settings: the
/// library leaves them out of the settings' environment layer (which refuses unknown
/// keys) when they are named in [`LoadOptions::ignore_vars`]. The store key
/// ([`STORE_KEY_VAR`]) is the library's own and needs no naming.
const CLI_VARS: [&str; 3] = [STORE_DIR_ENV, PROFILE_ENV, crate::logins::USER_CONFIG_ENV];

/// Prints a line on stdout; a closed pipe (`| head`) is not an error.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::context::write_out(&format!($($arg)*))
    };
}

/// Prints a line on stderr; failures to write it are ignored.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::context::write_err(&format!($($arg)*))
    };
}

/// Writes one line on stdout (see [`outln!`]); a closed pipe is not an error.
pub fn write_out(line: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::new(
            Exit::Error,
            format!("could not write to stdout: {e}"),
        )),
    }
}

/// Writes one line on stderr (see [`errln!`]), ignoring failures.
pub fn write_err(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// The global options, resolved.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// `--env`.
    pub env: String,
    /// `--profile`.
    pub profile: String,
    /// `--provider`, when given (else the settings' `provider`, if any).
    pub provider: Option<Provider>,
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--json`.
    pub json: bool,
    /// The named login of the user config file, when `--profile`/`--login` names one.
    pub named: Option<Selected>,
}

impl Ctx {
    /// The context of one invocation: a named login brings its environment and provider
    /// unless --env / --provider (or their variables) say otherwise.
    pub fn new(global: &Global) -> Result<Self, CliError> {
        let named = crate::logins::select(&global.profile)?;
        let env = global
            .env
            .clone()
            .or_else(|| named.as_ref().and_then(|n| n.login.env.clone()))
            .unwrap_or_else(|| "local".to_owned());
        check_env_name(&env)?;
        Ok(Self {
            env,
            profile: global.profile.clone(),
            provider: global.provider.or(named.as_ref().and_then(|n| n.provider)),
            config: global.config.clone(),
            json: global.json,
            named,
        })
    }

    /// The login this invocation works on: `<env>/<profile>`, or
    /// `<env>-<provider>/<profile>` for a provider other than lexoffice, so that one
    /// provider's login is never handed out for another's.
    pub fn key(&self) -> StoreKey {
        let env = match self.provider {
            Some(p) if p != Provider::Lexoffice => format!("{}-{p}", self.env),
            _ => self.env.clone(),
        };
        StoreKey::new(env, self.profile.clone())
    }

    /// `lexoffice-login <command>` with this invocation's --env and --profile, for hints.
    pub fn command(&self, command: &str) -> String {
        let mut s = format!("lexoffice-login {command}");
        let env_default = std::env::var(ENV_VAR).ok();
        if self.env != "local" && env_default.as_deref() != Some(self.env.as_str()) {
            s.push_str(&format!(" --env {}", self.env));
        }
        let profile_default = std::env::var(PROFILE_ENV).ok();
        if self.profile != "default" && profile_default.as_deref() != Some(self.profile.as_str()) {
            s.push_str(&format!(" --profile {}", self.profile));
        }
        if let Some(p) = self.provider {
            if std::env::var(PROVIDER_ENV).ok().as_deref() != Some(p.name()) {
                s.push_str(&format!(" --provider {p}"));
            }
        }
        if let Some(c) = &self.config {
            s.push_str(&format!(" --config {}", c.display()));
        }
        s
    }

    /// The hint for "log in again".
    pub fn login_hint(&self) -> String {
        format!("run `{}`", self.command("login"))
    }

    /// The hint for a provider that cannot be reached.
    pub fn provider_hint(&self) -> String {
        if self.env == "local" {
            "the local sandbox issuer may not be running: start it with `lexoffice-login sandbox` \
             (or point LEXOFFICE_LOGIN_ISSUER at yours), then try again"
                .to_owned()
        } else {
            "check the network and whether the provider is up, then try again".to_owned()
        }
    }

    /// The hint for invalid settings.
    pub fn config_hint(&self) -> String {
        let mut hint = format!(
            "fix the settings named above (config files, --config, LEXOFFICE_LOGIN_* variables); \
             `{}` checks them against the provider",
            self.command("discover")
        );
        if self.env == "local" {
            hint.push_str(&format!(
                "; for the local sandbox set {CLIENT_SECRET_VAR} to the client secret that \
                 `lexoffice-login sandbox` prints"
            ));
        }
        hint
    }

    /// Adds the hint that fits the error's exit code, unless it has one.
    pub fn with_hint(&self, e: CliError) -> CliError {
        let hint = match e.exit {
            Exit::LoginRequired => self.login_hint(),
            Exit::Provider => self.provider_hint(),
            Exit::Config => self.config_hint(),
            Exit::Error | Exit::Usage | Exit::Interrupted => return e,
        };
        e.or_hint(hint)
    }

    /// The settings for this environment: built-in (or LEXOFFICE_LOGIN_CONFIG_DIR's) files,
    /// --config, then LEXOFFICE_LOGIN_* variables.
    pub fn settings(&self) -> Result<Settings, CliError> {
        self.settings_with(&[])
    }

    /// The settings with some variables added (where the environment has none).
    pub fn settings_with(&self, extra: &[(&str, &str)]) -> Result<Settings, CliError> {
        self.load_settings(extra, false)
    }

    /// The settings with some variables set over the environment's (a command's flags).
    pub fn settings_overriding(&self, over: &[(&str, &str)]) -> Result<Settings, CliError> {
        self.load_settings(over, true)
    }

    fn load_settings(&self, extra: &[(&str, &str)], over: bool) -> Result<Settings, CliError> {
        // Variables that are not valid UTF-8 cannot be settings; skip them instead of
        // failing (std::env::vars() would panic on them).
        let mut vars: HashMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        if let Some(p) = self.provider {
            vars.insert(PROVIDER_ENV.to_owned(), p.name().to_owned());
        }
        for (k, v) in extra {
            if over {
                vars.insert((*k).to_owned(), (*v).to_owned());
            } else {
                vars.entry((*k).to_owned())
                    .or_insert_with(|| (*v).to_owned());
            }
        }
        // A named login's settings, under the real variables; messages name its file.
        let mut places: Vec<(String, String)> = Vec::new();
        if let Some(named) = &self.named {
            for (var, value, place) in named.vars()? {
                if !vars.contains_key(&var) {
                    vars.insert(var.clone(), value);
                    places.push((var, place));
                }
            }
            if !vars.contains_key(CLIENT_SECRET_VAR) {
                if let Some(secret) = named.secret()? {
                    vars.insert(CLIENT_SECRET_VAR.to_owned(), secret);
                    places.push((CLIENT_SECRET_VAR.to_owned(), named.where_("secret")));
                }
            }
        }
        let names: Vec<String> = vars
            .keys()
            .filter(|k| k.starts_with(ENV_PREFIX))
            .cloned()
            .collect();
        Settings::load_with(LoadOptions {
            env: Some(self.env.clone()),
            extra_file: self.config.clone(),
            vars: Some(vars),
            ignore_vars: CLI_VARS.map(str::to_owned).to_vec(),
            ..LoadOptions::default()
        })
        .map_err(|e| {
            let mut e: CliError = e.into();
            for (var, place) in &places {
                let key = var.trim_start_matches(ENV_PREFIX).to_ascii_lowercase();
                e.message = e
                    .message
                    .replace(&format!("environment variable {var}"), place)
                    .replace(
                        &format!("`{key}` (environment)"),
                        &format!("`{key}` ({place})"),
                    );
            }
            let stray = stray_vars(&e.message, &names);
            if !stray.is_empty() {
                e.message.push_str(&format!(
                    " (from {}: not a setting; unset it or correct its name)",
                    stray.join(", ")
                ));
            }
            self.with_hint(e)
        })
    }

    /// The token store: LEXOFFICE_LOGIN_STORE_DIR, else the user's config directory;
    /// encrypted with LEXOFFICE_LOGIN_STORE_KEY when it is set.
    pub fn store(&self) -> Result<FileStore, CliError> {
        let mut builder = FileStore::builder();
        if let Some(dir) = std::env::var_os(STORE_DIR_ENV).filter(|d| !d.is_empty()) {
            builder = builder.dir(PathBuf::from(dir));
        }
        builder.build().map_err(|e| {
            let e: CliError = e.into();
            match e.exit {
                Exit::Config => e.or_hint(format!(
                    "{STORE_KEY_VAR} must be 32 random bytes in base64: \
                     export {STORE_KEY_VAR}=\"$(openssl rand -base64 32)\""
                )),
                _ => e.or_hint(format!(
                    "set {STORE_DIR_ENV} to a directory this user may write"
                )),
            }
        })
    }

    /// A client for the provider (discovery, or the configured endpoints).
    pub async fn client(&self, settings: Settings) -> Result<Client, CliError> {
        Client::connect(settings)
            .await
            .map_err(|e| self.with_hint(e.into()))
    }

    /// The token manager for this login.
    pub fn manager<S: TokenStore>(&self, client: Client, store: S) -> TokenManager<S> {
        let options = ManagerOptions::from_settings(client.settings()).max_attempts(2);
        TokenManager::new(client, store, self.key(), options)
    }

    /// Where this login is kept: the keyring when `--store keyring` (`want`) or the
    /// named login says so, or when the store directory holds a pointer to a keyring
    /// login; else the file store.
    pub fn login_store(&self, want: Option<StoreKind>) -> Result<AnyStore, CliError> {
        let files = self.store()?;
        let pointer = keyring_pointer(&files, &self.key());
        let kind = want
            .or(self.named.as_ref().and_then(|n| n.store))
            .unwrap_or(if pointer.exists() {
                StoreKind::Keyring
            } else {
                StoreKind::File
            });
        match kind {
            StoreKind::File => Ok(AnyStore::File(files)),
            StoreKind::Keyring => {
                let keyring = KeyringStore::builder()
                    .lock_dir(files.dir().to_owned())
                    .build()
                    .map_err(|e| {
                        CliError::from(e)
                            .or_hint("use --store file (a file in the store directory)")
                    })?;
                Ok(AnyStore::Keyring { keyring, files })
            }
        }
    }

    /// The login's stored tokens and where they are, checked against the configured
    /// issuer and client when `settings` are given.
    pub fn check_origin(&self, settings: &Settings, tokens: &TokenSet) -> Result<(), CliError> {
        let Some(origin) = &tokens.origin else {
            return Ok(());
        };
        if origin.issuer == settings.issuer() && origin.client_id == settings.client_id().as_str() {
            return Ok(());
        }
        Err(CliError::new(
            Exit::Config,
            format!(
                "{} ({})",
                crate::error::foreign_login_message(
                    &origin.issuer,
                    &origin.client_id,
                    settings.issuer(),
                    settings.client_id().as_str()
                ),
                self.key()
            ),
        )
        .hint(format!(
            "{}; or `{}`",
            crate::error::FOREIGN_HINT,
            self.command("login")
        )))
    }
}

/// The file that says a login lives in the keyring (no secret in it).
pub fn keyring_pointer(files: &FileStore, key: &StoreKey) -> PathBuf {
    files.path_for(key).with_extension("keyring")
}

/// The file store or the OS keyring, behind one [`TokenStore`].
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// Files in the store directory.
    File(FileStore),
    /// The keyring (and the file store's directory for pointers and locks).
    Keyring {
        /// The keyring.
        keyring: KeyringStore,
        /// The file store, for the pointer file.
        files: FileStore,
    },
}

impl AnyStore {
    /// The file store (its directory, its encryption).
    pub fn files(&self) -> &FileStore {
        match self {
            AnyStore::File(f) | AnyStore::Keyring { files: f, .. } => f,
        }
    }

    /// Where the login for `key` is, in words.
    pub fn location(&self, key: &StoreKey) -> String {
        match self {
            AnyStore::File(f) => f.path_for(key).display().to_string(),
            AnyStore::Keyring { keyring, .. } => format!(
                "the OS keyring (service {}, entry {})",
                keyring.service(),
                KeyringStore::user_for(key)
            ),
        }
    }

    /// Whether this is the keyring.
    pub fn is_keyring(&self) -> bool {
        matches!(self, AnyStore::Keyring { .. })
    }
}

impl TokenStore for AnyStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<TokenSet>, StoreError> {
        match self {
            AnyStore::File(f) => f.load(key).await,
            AnyStore::Keyring { keyring, .. } => keyring.load(key).await,
        }
    }

    async fn save(&self, key: &StoreKey, tokens: &TokenSet) -> Result<(), StoreError> {
        match self {
            AnyStore::File(f) => f.save(key, tokens).await,
            AnyStore::Keyring { keyring, files } => {
                keyring.save(key, tokens).await?;
                let pointer = keyring_pointer(files, key);
                let note = format!(
                    "{{\"store\":\"keyring\",\"service\":{:?},\"entry\":{:?}}}\n",
                    keyring.service(),
                    KeyringStore::user_for(key)
                );
                std::fs::create_dir_all(files.dir())
                    .and_then(|()| std::fs::write(&pointer, note))
                    .map_err(|source| StoreError::Io {
                        action: "write",
                        path: pointer,
                        source,
                    })
            }
        }
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        match self {
            AnyStore::File(f) => f.delete(key).await,
            AnyStore::Keyring { keyring, files } => {
                keyring.delete(key).await?;
                let pointer = keyring_pointer(files, key);
                match std::fs::remove_file(&pointer) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(source) => Err(StoreError::Io {
                        action: "remove",
                        path: pointer,
                        source,
                    }),
                }
            }
        }
    }

    async fn lock_refresh(&self, key: &StoreKey) -> Result<RefreshGuard, StoreError> {
        match self {
            AnyStore::File(f) => f.lock_refresh(key).await,
            AnyStore::Keyring { keyring, .. } => keyring.lock_refresh(key).await,
        }
    }
}

/// An environment that is neither built in nor in LEXOFFICE_LOGIN_CONFIG_DIR is a typo
/// until shown otherwise: "did you mean production?".
fn check_env_name(env: &str) -> Result<(), CliError> {
    let built_in = Settings::built_in_environments();
    if built_in.contains(&env) {
        return Ok(());
    }
    if let Some(dir) = std::env::var_os("LEXOFFICE_LOGIN_CONFIG_DIR").filter(|d| !d.is_empty()) {
        if PathBuf::from(dir).join(format!("{env}.toml")).exists() {
            return Ok(());
        }
    }
    let guess = built_in
        .iter()
        .find(|b| b.starts_with(env) || env.starts_with(*b))
        .or_else(|| built_in.iter().find(|b| edit_distance(b, env) <= 2));
    let mut e = CliError::new(
        Exit::Config,
        format!(
            "unknown environment {env:?} (--env or {ENV_VAR}): the built-in ones are {}{}",
            built_in.join(", "),
            guess
                .map(|g| format!("; did you mean {g}?"))
                .unwrap_or_default()
        ),
    );
    e = e.hint("or put <env>.toml in the directory that LEXOFFICE_LOGIN_CONFIG_DIR names");
    Err(e)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The variables behind an "unknown field `x`" error: the settings' reader names the key,
/// not the variable that brought it in, so a stray `LEXOFFICE_LOGIN_*` variable is named
/// here.
fn stray_vars(message: &str, names: &[String]) -> Vec<String> {
    let Some(field) = message
        .split("unknown field `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
    else {
        return Vec::new();
    };
    let mut found: Vec<String> = names
        .iter()
        .filter(|name| {
            name.strip_prefix(ENV_PREFIX)
                .and_then(|key| key.rsplit("__").next())
                .is_some_and(|last| last.eq_ignore_ascii_case(field))
        })
        .cloned()
        .collect();
    found.sort();
    found
}

/// The manager's options: the library's defaults, with fewer retries (a person waits).
pub fn manager_options() -> ManagerOptions {
    ManagerOptions::default().max_attempts(2)
}

/// Says plainly on stderr that the store keeps tokens in clear, and how to change that.
pub fn warn_if_unencrypted(store: &FileStore) {
    if store.encryption() == Encryption::None {
        errln!(
            "warning: logins are stored UNENCRYPTED in {} (the files are readable by this user only).\n\
             \x20        To encrypt them, set {STORE_KEY_VAR} to 32 random bytes in base64, e.g.\n\
             \x20          export {STORE_KEY_VAR}=\"$(openssl rand -base64 32)\"\n\
             \x20        keep that value safe (a password manager), and log in again.",
            store.dir().display()
        );
    }
}

/// Whether the store encrypts, in words.
pub fn encryption_words(encryption: Encryption) -> &'static str {
    match encryption {
        Encryption::None => "not encrypted",
        _ => "encrypted (ChaCha20-Poly1305)",
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)] // a test may fail loudly
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_environment_gets_a_suggestion() {
        let e = check_env_name("prod").expect_err("not built in");
        assert!(
            e.message.contains("did you mean production?"),
            "{}",
            e.message
        );
        assert!(check_env_name("sandbox").is_ok());
        assert!(check_env_name("sandbx")
            .expect_err("typo")
            .message
            .contains("sandbox?"));
    }

    #[test]
    fn a_stray_variable_is_named() {
        let names = vec![
            "LEXOFFICE_LOGIN_BOGUS".to_owned(),
            "LEXOFFICE_LOGIN_ISSUER".to_owned(),
            "LEXOFFICE_LOGIN_ENDPOINTS__FOO".to_owned(),
        ];
        assert_eq!(
            stray_vars("unknown field `bogus`, expected one of `issuer`", &names),
            ["LEXOFFICE_LOGIN_BOGUS"]
        );
        assert_eq!(
            stray_vars("unknown field `foo`", &names),
            ["LEXOFFICE_LOGIN_ENDPOINTS__FOO"]
        );
        assert!(stray_vars("unknown field `other`", &names).is_empty());
        assert!(stray_vars("something else", &names).is_empty());
    }

    #[test]
    fn the_command_lines_own_variables_are_not_settings() {
        let mut vars = HashMap::new();
        for name in CLI_VARS {
            vars.insert(name.to_owned(), "x".to_owned());
        }
        vars.insert(CLIENT_SECRET_VAR.to_owned(), "sandbox-secret".to_owned());
        Settings::load_with(LoadOptions {
            env: Some("local".into()),
            vars: Some(vars),
            ignore_vars: CLI_VARS.map(str::to_owned).to_vec(),
            ..LoadOptions::default()
        })
        .expect("the CLI's variables are ignored");
    }
}
