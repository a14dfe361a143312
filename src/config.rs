//! Settings, layered with the `config` crate and validated at load.
//!
//! Layers, later ones win:
//! 1. `default.toml`, then `<env>.toml` — from the directory in `LEXOFFICE_LOGIN_CONFIG_DIR`
//!    or [`LoadOptions::config_dir`]; without one, the copies of this crate's `config/`
//!    files that are built into it (so an installed binary works anywhere);
//! 2. an optional extra file ([`LoadOptions::extra_file`], the CLI's `--config FILE`);
//! 3. environment variables prefixed `LEXOFFICE_LOGIN_`, with `__` between nested keys:
//!    `LEXOFFICE_LOGIN_CLIENT_ID`, `LEXOFFICE_LOGIN_ENDPOINTS__TOKEN`,
//!    `LEXOFFICE_LOGIN_SCOPES="openid profile.read"`.
//!
//! The environment is `env` from the caller, else `LEXOFFICE_LOGIN_ENV`, else `local`.
//! The client secret never comes from a config file: it is read from
//! `LEXOFFICE_LOGIN_CLIENT_SECRET` or from the file named by `client_secret_file`.
//!
//! Every problem found at load names the key and the layer it came from.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use openidconnect::{ClientId, ClientSecret};
use serde::Deserialize;
use url::Url;

use crate::providers::{self, HeaderValue, Provider, Quirks};
use crate::scope::{Preset, Scope, Scopes};

/// Prefix of every environment variable this crate reads.
pub const ENV_PREFIX: &str = "LEXOFFICE_LOGIN_";
/// The environment variable that holds the client secret.
pub const CLIENT_SECRET_VAR: &str = "LEXOFFICE_LOGIN_CLIENT_SECRET";
/// The environment variable that selects the environment (`local`, `sandbox`, `production`).
pub const ENV_VAR: &str = "LEXOFFICE_LOGIN_ENV";
/// The environment variable that names a directory of config files.
pub const CONFIG_DIR_VAR: &str = "LEXOFFICE_LOGIN_CONFIG_DIR";

/// The config files shipped in `config/`, built into the crate.
const BUILT_IN: &[(&str, &str)] = &[
    ("default", include_str!("../config/default.toml")),
    ("local", include_str!("../config/local.toml")),
    ("sandbox", include_str!("../config/sandbox.toml")),
    ("production", include_str!("../config/production.toml")),
];

/// A problem with one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The key, dotted for nested keys (`endpoints.token`).
    pub key: String,
    /// Where the value came from (a file, the environment, code), or where to set it.
    pub source: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ({}): {}", self.key, self.source, self.message)
    }
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A layer could not be read or parsed.
    #[error("could not read the configuration: {0}")]
    Read(String),
    /// The settings were read but are not valid.
    #[error("the configuration is invalid:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigProblem>),
}

/// How a client authenticates at the token and revocation endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// A public client: sends only `client_id` (PKCE protects the code).
    None,
    /// HTTP Basic with the form-encoded client id and secret (RFC 6749 2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl ClientAuthMethod {
    /// The name used in configuration and in provider metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::None => "none",
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
        }
    }
}

/// Endpoints given in configuration: all of them for a provider without discovery; with
/// discovery they override what the provider publishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// Authorization endpoint.
    pub authorization: Option<Url>,
    /// Token endpoint.
    pub token: Option<Url>,
    /// Revocation endpoint (RFC 7009).
    pub revocation: Option<Url>,
    /// Userinfo endpoint.
    pub userinfo: Option<Url>,
    /// JSON Web Key Set.
    pub jwks: Option<Url>,
    /// Where the login's tenants are listed (Xero's connections); defaults to the
    /// provider preset's.
    pub tenants: Option<Url>,
}

/// Where provider metadata comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// `{issuer}/.well-known/openid-configuration`.
    Standard,
    /// A non-standard discovery URL (for example Intuit's underscore path).
    Url(Url),
    /// No discovery: every endpoint comes from [`Endpoints`].
    Off,
}

/// Validated settings for one environment. Build them with [`Settings::load`] (files and
/// environment) or [`Settings::builder`] (code).
#[derive(Clone)]
pub struct Settings {
    /// The environment these settings are for (`local`, `sandbox`, `production`, …).
    pub env: String,
    /// The issuer identifier, compared exactly with the provider's.
    pub issuer: String,
    /// Where metadata comes from.
    pub discovery: Discovery,
    /// Endpoints from configuration.
    pub endpoints: Endpoints,
    /// The client id.
    pub client_id: ClientId,
    /// The client secret (absent for public clients). `Debug` never shows it.
    pub client_secret: Option<ClientSecret>,
    /// How the client authenticates.
    pub client_auth: ClientAuthMethod,
    /// The registered redirect URI.
    pub redirect_uri: Url,
    /// The scopes a login asks for.
    pub scopes: Scopes,
    /// Extra parameters for the authorization URL (lexoffice's `connection_name`).
    pub extra_authorize_params: BTreeMap<String, String>,
    /// Allowed clock skew when checking token times.
    pub clock_skew: Duration,
    /// How long discovered metadata and the JWKS are cached.
    pub metadata_ttl: Duration,
    /// The least time between two JWKS fetches forced by an unknown `kid`.
    pub jwks_refetch_cooldown: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// The provider preset in use, if any.
    pub provider: Option<Provider>,
    /// The provider's quirks (empty for a generic provider).
    pub quirks: Quirks,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("env", &self.env)
            .field("issuer", &self.issuer)
            .field("discovery", &self.discovery)
            .field("endpoints", &self.endpoints)
            .field("client_id", &self.client_id.as_str())
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("client_auth", &self.client_auth)
            .field("redirect_uri", &self.redirect_uri.as_str())
            .field("scopes", &self.scopes.to_string())
            .field("extra_authorize_params", &self.extra_authorize_params)
            .field("clock_skew", &self.clock_skew)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// Options for [`Settings::load_with`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The environment; else `LEXOFFICE_LOGIN_ENV`, else `local`.
    pub env: Option<String>,
    /// A directory holding `default.toml` and `<env>.toml`; else `LEXOFFICE_LOGIN_CONFIG_DIR`,
    /// else the files built into the crate.
    pub config_dir: Option<PathBuf>,
    /// One more TOML file, laid over the environment's file.
    pub extra_file: Option<PathBuf>,
    /// The environment variables to read; `None` reads the process environment.
    pub vars: Option<HashMap<String, String>>,
}

/// The raw, unvalidated shape of the settings (what TOML and environment variables hold).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    issuer: Option<String>,
    discovery: Option<bool>,
    discovery_url: Option<String>,
    #[serde(default)]
    endpoints: RawEndpoints,
    client_id: Option<String>,
    /// Only accepted so that a secret in a file gets a clear error instead of "unknown key".
    #[serde(default, rename = "client_secret")]
    _client_secret: Option<serde::de::IgnoredAny>,
    client_secret_file: Option<PathBuf>,
    client_auth: Option<String>,
    redirect_uri: Option<String>,
    scopes: Option<Vec<String>>,
    scope_preset: Option<String>,
    provider: Option<String>,
    #[serde(default)]
    extra_authorize_params: BTreeMap<String, String>,
    clock_skew_secs: Option<u64>,
    metadata_ttl_secs: Option<u64>,
    jwks_refetch_cooldown_secs: Option<u64>,
    #[serde(default)]
    http: RawHttp,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoints {
    authorization: Option<String>,
    token: Option<String>,
    revocation: Option<String>,
    userinfo: Option<String>,
    jwks: Option<String>,
    tenants: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    connect_timeout_secs: Option<u64>,
    request_timeout_secs: Option<u64>,
}

/// One layer of configuration with a name for messages.
struct Layer {
    name: String,
    config: Config,
}

/// Tells which layer a key came from.
struct Origins(Vec<Layer>);

impl Origins {
    fn of(&self, key: &str) -> String {
        self.0
            .iter()
            .rev()
            .find(|l| l.config.get::<config::Value>(key).is_ok())
            .map(|l| l.name.clone())
            .unwrap_or_else(|| "not set".to_owned())
    }
}

impl Settings {
    /// Loads the settings for `env` (else `LEXOFFICE_LOGIN_ENV`, else `local`) from the
    /// config files and the process environment.
    pub fn load(env: Option<&str>) -> Result<Settings, ConfigError> {
        Self::load_with(LoadOptions {
            env: env.map(str::to_owned),
            ..LoadOptions::default()
        })
    }

    /// Loads settings with full control over the layers.
    pub fn load_with(opts: LoadOptions) -> Result<Settings, ConfigError> {
        // `std::env::vars` panics on a variable that is not UTF-8; such variables are
        // never ours, so they are skipped.
        let vars = opts.vars.unwrap_or_else(|| {
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect()
        });
        let env = opts
            .env
            .or_else(|| vars.get(ENV_VAR).cloned())
            .unwrap_or_else(|| "local".to_owned());
        if env.is_empty()
            || !env
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::Read(format!(
                "{env:?} is not an environment name; use local, sandbox or production"
            )));
        }
        let config_dir = opts
            .config_dir
            .or_else(|| vars.get(CONFIG_DIR_VAR).map(PathBuf::from));

        let mut layers = Vec::new();
        let has_default;
        match &config_dir {
            Some(dir) => {
                let default = dir.join("default.toml");
                has_default = default.exists();
                if has_default {
                    layers.push(file_layer(&default)?);
                }
                let env_file = dir.join(format!("{env}.toml"));
                if !env_file.exists() {
                    return Err(ConfigError::Read(format!(
                        "there is no {} for the environment {env:?}; create it or choose another environment",
                        env_file.display()
                    )));
                }
                layers.push(file_layer(&env_file)?);
            }
            None => {
                has_default = true;
                layers.push(built_in_layer("default")?);
                layers.push(built_in_layer(&env)?);
            }
        }
        if let Some(extra) = &opts.extra_file {
            if !extra.exists() {
                return Err(ConfigError::Read(format!(
                    "the config file {} does not exist",
                    extra.display()
                )));
            }
            layers.push(file_layer(extra)?);
        }
        let mut file_layers = layers.len();
        layers.push(env_layer(&vars)?);

        // A provider preset (`provider = "xero"`) lies just above default.toml, so the
        // environment's file, an extra file and variables all win over it.
        if let Some(preset) = preset_layer(&layers, &env)? {
            let at = usize::from(has_default);
            layers.insert(at, preset);
            file_layers += 1;
        }

        // The secret may only come from the environment or a file named in the settings.
        let mut problems = Vec::new();
        for layer in &layers[..file_layers] {
            if layer.config.get::<config::Value>("client_secret").is_ok() {
                problems.push(ConfigProblem {
                    key: "client_secret".into(),
                    source: layer.name.clone(),
                    message: format!(
                        "secrets do not belong in config files; set {CLIENT_SECRET_VAR} or `client_secret_file` instead"
                    ),
                });
            }
        }

        let mut builder = Config::builder();
        for l in &layers {
            builder = builder.add_source(l.config.clone());
        }
        let merged = builder
            .build()
            .map_err(|e| ConfigError::Read(e.to_string()))?;
        let raw: RawSettings = merged
            .try_deserialize()
            .map_err(|e| ConfigError::Read(e.to_string()))?;
        let origins = Origins(layers);
        let secret_from_env = vars
            .get(CLIENT_SECRET_VAR)
            .filter(|s| !s.is_empty())
            .map(|s| {
                (
                    s.clone(),
                    format!("environment variable {CLIENT_SECRET_VAR}"),
                )
            });
        validate(env, raw, secret_from_env, &origins, problems)
    }

    /// Starts settings in code: the issuer, the client id and the redirect URI; everything
    /// else has the defaults of `config/default.toml`.
    ///
    /// ```
    /// use lexoffice_login::{ClientAuthMethod, Settings};
    ///
    /// let settings = Settings::builder(
    ///     "https://login.example.com",
    ///     "my-client",
    ///     "http://127.0.0.1:8765/callback",
    /// )
    /// .client_secret("s3cret")
    /// .client_auth(ClientAuthMethod::ClientSecretBasic)
    /// .scopes(["openid", "profile.read"])
    /// .build()?;
    /// assert_eq!(settings.scopes.to_string(), "openid profile.read");
    /// assert!(!format!("{settings:?}").contains("s3cret"));
    /// # Ok::<(), lexoffice_login::ConfigError>(())
    /// ```
    pub fn builder(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> SettingsBuilder {
        SettingsBuilder {
            raw: RawSettings {
                issuer: Some(issuer.into()),
                client_id: Some(client_id.into()),
                redirect_uri: Some(redirect_uri.into()),
                ..RawSettings::default()
            },
            secret: None,
        }
    }
}

/// Builds [`Settings`] in code; see [`Settings::builder`].
#[derive(Debug)]
#[must_use]
pub struct SettingsBuilder {
    raw: RawSettings,
    secret: Option<ClientSecret>,
}

impl SettingsBuilder {
    /// Sets the client secret (a confidential client).
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(ClientSecret::new(secret.into()));
        self
    }
    /// Sets how the client authenticates (default `client_secret_basic`).
    pub fn client_auth(mut self, method: ClientAuthMethod) -> Self {
        self.raw.client_auth = Some(method.as_str().to_owned());
        self
    }
    /// Sets the scopes (each a scope string, such as `"openid"` or `"contacts.read"`).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.raw.scopes = Some(scopes.into_iter().map(|s| s.as_ref().to_owned()).collect());
        self
    }
    /// Adds the scopes of a preset to the scopes.
    pub fn scope_preset(mut self, preset: Preset) -> Self {
        self.raw.scope_preset = Some(preset.name().to_owned());
        self
    }
    /// Uses a provider's quirks, and its client authentication, scopes and authorization
    /// parameters where they are not set on this builder. The issuer and endpoints stay
    /// the builder's (point them at the real provider, or at a sandbox).
    pub fn provider(mut self, provider: Provider) -> Self {
        let preset = provider.preset(providers::Environment::Production);
        self.raw.provider = Some(provider.name().to_owned());
        self.raw
            .client_auth
            .get_or_insert_with(|| preset.client_auth.as_str().to_owned());
        self.raw
            .scopes
            .get_or_insert_with(|| preset.scopes.iter().map(|s| (*s).to_owned()).collect());
        for (k, v) in preset.extra_authorize_params {
            self.raw
                .extra_authorize_params
                .entry(k.to_owned())
                .or_insert_with(|| v.to_owned());
        }
        self
    }

    /// Turns discovery off: endpoints come from [`SettingsBuilder::endpoints`].
    pub fn without_discovery(mut self) -> Self {
        self.raw.discovery = Some(false);
        self
    }
    /// Fetches metadata from this URL instead of the standard well-known path.
    pub fn discovery_url(mut self, url: impl Into<String>) -> Self {
        self.raw.discovery_url = Some(url.into());
        self
    }
    /// Sets static endpoints: `(authorization, token)`, plus optional revocation, userinfo, jwks.
    pub fn endpoints(
        mut self,
        authorization: impl Into<String>,
        token: impl Into<String>,
        revocation: Option<&str>,
        userinfo: Option<&str>,
        jwks: Option<&str>,
    ) -> Self {
        self.raw.endpoints = RawEndpoints {
            authorization: Some(authorization.into()),
            token: Some(token.into()),
            revocation: revocation.map(str::to_owned),
            userinfo: userinfo.map(str::to_owned),
            jwks: jwks.map(str::to_owned),
            tenants: self.raw.endpoints.tenants.take(),
        };
        self
    }
    /// Sets where the login's tenants are listed (for a provider with tenants, such as
    /// Xero, pointed at a sandbox).
    pub fn tenants_endpoint(mut self, url: impl Into<String>) -> Self {
        self.raw.endpoints.tenants = Some(url.into());
        self
    }
    /// Adds an extra authorization parameter (lexoffice's `connection_name`).
    pub fn extra_authorize_param(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.raw
            .extra_authorize_params
            .insert(name.into(), value.into());
        self
    }
    /// Sets the allowed clock skew (default 60 s).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.raw.clock_skew_secs = Some(skew.as_secs());
        self
    }
    /// Sets the metadata and JWKS cache lifetime (default 1 h).
    pub fn metadata_ttl(mut self, ttl: Duration) -> Self {
        self.raw.metadata_ttl_secs = Some(ttl.as_secs());
        self
    }
    /// Sets the least time between two JWKS fetches forced by an unknown `kid` (default 30 s).
    pub fn jwks_refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.raw.jwks_refetch_cooldown_secs = Some(cooldown.as_secs());
        self
    }
    /// Sets the connect and whole-request timeouts (defaults 10 s and 30 s).
    pub fn timeouts(mut self, connect: Duration, request: Duration) -> Self {
        self.raw.http.connect_timeout_secs = Some(connect.as_secs().max(1));
        self.raw.http.request_timeout_secs = Some(request.as_secs().max(1));
        self
    }
    /// Validates and builds the settings.
    pub fn build(mut self) -> Result<Settings, ConfigError> {
        if self.raw.scopes.is_none() && self.raw.scope_preset.is_none() {
            // As config/default.toml.
            self.raw.scopes = Some(
                ["openid", "profile", "email", "offline_access"]
                    .map(str::to_owned)
                    .to_vec(),
            );
        }
        let secret = self.secret.map(|s| (s.into_secret(), "code".to_owned()));
        validate(
            "code".to_owned(),
            self.raw,
            secret,
            &Origins(Vec::new()),
            Vec::new(),
        )
    }
}

/// The layer a provider preset contributes, when some layer names a provider.
fn preset_layer(layers: &[Layer], env: &str) -> Result<Option<Layer>, ConfigError> {
    let Some(name) = layers
        .iter()
        .rev()
        .find_map(|l| l.config.get_string("provider").ok())
    else {
        return Ok(None);
    };
    // An unknown name is reported by validation, with the layer it came from.
    let Ok(provider) = name.parse::<Provider>() else {
        return Ok(None);
    };
    let preset = provider.preset(providers::Environment::from_env_name(env));
    let read = |e: config::ConfigError| ConfigError::Read(format!("preset {provider}: {e}"));
    let mut b = Config::builder()
        .set_override("issuer", preset.issuer)
        .map_err(read)?
        .set_override("discovery", preset.discovery)
        .map_err(read)?
        .set_override("client_auth", preset.client_auth.as_str())
        .map_err(read)?
        .set_override("scopes", preset.scopes.clone())
        .map_err(read)?;
    let optional = [
        ("discovery_url", preset.discovery_url),
        ("endpoints.authorization", preset.authorization_endpoint),
        ("endpoints.token", preset.token_endpoint),
        ("endpoints.revocation", preset.revocation_endpoint),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            b = b.set_override(key, v).map_err(read)?;
        }
    }
    for (k, v) in &preset.extra_authorize_params {
        b = b
            .set_override(format!("extra_authorize_params.{k}"), *v)
            .map_err(read)?;
    }
    let config = b.build().map_err(read)?;
    Ok(Some(Layer {
        name: format!("the {provider} preset"),
        config,
    }))
}

fn file_layer(path: &Path) -> Result<Layer, ConfigError> {
    let config = Config::builder()
        .add_source(File::from(path).format(FileFormat::Toml))
        .build()
        .map_err(|e| ConfigError::Read(format!("{}: {e}", path.display())))?;
    Ok(Layer {
        name: path.display().to_string(),
        config,
    })
}

fn built_in_layer(env: &str) -> Result<Layer, ConfigError> {
    let Some((_, text)) = BUILT_IN.iter().find(|(name, _)| *name == env) else {
        return Err(ConfigError::Read(format!(
            "there is no built-in configuration for the environment {env:?} (built in: local, sandbox, production); \
             set {CONFIG_DIR_VAR} to a directory holding {env}.toml"
        )));
    };
    let name = format!("built-in config/{env}.toml");
    let config = Config::builder()
        .add_source(File::from_str(text, FileFormat::Toml))
        .build()
        .map_err(|e| ConfigError::Read(format!("{name}: {e}")))?;
    Ok(Layer { name, config })
}

fn env_layer(vars: &HashMap<String, String>) -> Result<Layer, ConfigError> {
    // Variables that are not settings: the environment name, the config directory and the
    // secret, which is read on its own so that it never passes through a config layer;
    // likewise the token store's key (FileStore reads it itself) and the CLI's own
    // variables (where logins are stored, which login).
    let reserved = [
        ENV_VAR,
        CONFIG_DIR_VAR,
        CLIENT_SECRET_VAR,
        crate::store::STORE_KEY_ENV,
        "LEXOFFICE_LOGIN_STORE_DIR",
        "LEXOFFICE_LOGIN_PROFILE",
    ];
    let map: config::Map<String, String> = vars
        .iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && !reserved.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let config = Config::builder()
        .add_source(
            Environment::with_prefix("LEXOFFICE_LOGIN")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .list_separator(" ")
                .with_list_parse_key("scopes")
                .source(Some(map)),
        )
        .build()
        .map_err(|e| ConfigError::Read(format!("environment variables: {e}")))?;
    Ok(Layer {
        name: "environment".to_owned(),
        config,
    })
}

/// Whether a URL's host is a loopback address (`localhost`, 127.0.0.0/8, `::1`).
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// https everywhere; plain http only on loopback.
pub(crate) fn is_secure_url(url: &Url) -> bool {
    url.scheme() == "https" || (url.scheme() == "http" && is_loopback(url))
}

struct Checker<'a> {
    origins: &'a Origins,
    problems: Vec<ConfigProblem>,
}

impl Checker<'_> {
    fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            key: key.to_owned(),
            source: self.origins.of(key),
            message: message.into(),
        });
    }

    fn required(&mut self, key: &str, value: Option<String>) -> Option<String> {
        match value.filter(|v| !v.trim().is_empty()) {
            Some(v) => Some(v),
            None => {
                let var = format!("{ENV_PREFIX}{}", key.to_uppercase().replace('.', "__"));
                self.problem(
                    key,
                    format!("is missing; set it in the environment's config file or in {var}"),
                );
                None
            }
        }
    }

    fn secure_url(&mut self, key: &str, value: Option<String>) -> Option<Url> {
        let value = value?;
        match Url::parse(&value) {
            Ok(url) if is_secure_url(&url) => Some(url),
            Ok(_) => {
                self.problem(
                    key,
                    format!(
                        "{value:?} must be https (plain http is allowed only for loopback hosts)"
                    ),
                );
                None
            }
            Err(e) => {
                self.problem(key, format!("{value:?} is not a URL ({e})"));
                None
            }
        }
    }
}

fn validate(
    env: String,
    raw: RawSettings,
    secret: Option<(String, String)>,
    origins: &Origins,
    problems: Vec<ConfigProblem>,
) -> Result<Settings, ConfigError> {
    let mut c = Checker { origins, problems };

    let issuer = c.required("issuer", raw.issuer);
    if let Some(issuer) = &issuer {
        match Url::parse(issuer) {
            Ok(url) if !is_secure_url(&url) => c.problem(
                "issuer",
                format!("{issuer:?} must be https (plain http is allowed only for loopback hosts)"),
            ),
            Ok(url) if url.query().is_some() || url.fragment().is_some() => c.problem(
                "issuer",
                "an issuer has no query or fragment (OpenID Connect Discovery 2)",
            ),
            Ok(_) => {}
            Err(e) => c.problem("issuer", format!("{issuer:?} is not a URL ({e})")),
        }
    }

    let discovery_url = c.secure_url("discovery_url", raw.discovery_url);
    let discovery = match (raw.discovery.unwrap_or(true), discovery_url) {
        (false, _) => Discovery::Off,
        (true, Some(url)) => Discovery::Url(url),
        (true, None) => Discovery::Standard,
    };

    let mut endpoints = Endpoints {
        authorization: c.secure_url("endpoints.authorization", raw.endpoints.authorization),
        token: c.secure_url("endpoints.token", raw.endpoints.token),
        revocation: c.secure_url("endpoints.revocation", raw.endpoints.revocation),
        userinfo: c.secure_url("endpoints.userinfo", raw.endpoints.userinfo),
        jwks: c.secure_url("endpoints.jwks", raw.endpoints.jwks),
        tenants: c.secure_url("endpoints.tenants", raw.endpoints.tenants),
    };
    if discovery == Discovery::Off {
        for (key, present) in [
            ("endpoints.authorization", endpoints.authorization.is_some()),
            ("endpoints.token", endpoints.token.is_some()),
        ] {
            if !present && !c.problems.iter().any(|p| p.key == key) {
                c.problem(key, "is required when `discovery = false`");
            }
        }
    }

    let client_id = c.required("client_id", raw.client_id);

    let client_auth = match raw.client_auth.as_deref().unwrap_or("client_secret_basic") {
        "none" => ClientAuthMethod::None,
        "client_secret_basic" => ClientAuthMethod::ClientSecretBasic,
        "client_secret_post" => ClientAuthMethod::ClientSecretPost,
        other => {
            c.problem(
                "client_auth",
                format!("{other:?} is not one of none, client_secret_basic, client_secret_post"),
            );
            ClientAuthMethod::None
        }
    };

    let mut client_secret = secret.map(|(s, _)| ClientSecret::new(s));
    if client_secret.is_none() {
        if let Some(path) = &raw.client_secret_file {
            match std::fs::read_to_string(path) {
                Ok(s) if !s.trim().is_empty() => {
                    client_secret = Some(ClientSecret::new(
                        s.trim_end_matches(['\r', '\n']).to_owned(),
                    ))
                }
                Ok(_) => c.problem("client_secret_file", format!("{} is empty", path.display())),
                Err(e) => c.problem(
                    "client_secret_file",
                    format!("cannot read {} ({e})", path.display()),
                ),
            }
        }
    }
    if client_auth != ClientAuthMethod::None
        && client_secret.is_none()
        && !c.problems.iter().any(|p| p.key == "client_secret_file")
    {
        c.problem(
            "client_auth",
            format!(
                "{} needs a client secret: set {CLIENT_SECRET_VAR} or `client_secret_file`, or use `client_auth = \"none\"` for a public client",
                client_auth.as_str()
            ),
        );
    }

    let redirect_uri = c
        .required("redirect_uri", raw.redirect_uri)
        .and_then(|v| c.secure_url("redirect_uri", Some(v)));

    let mut scopes = Scopes::new();
    for s in raw.scopes.unwrap_or_default() {
        match s.parse::<Scopes>() {
            Ok(parsed) => scopes.extend(parsed.iter().cloned()),
            Err(e) => c.problem("scopes", e.to_string()),
        }
    }
    if let Some(name) = &raw.scope_preset {
        match name.parse::<Preset>() {
            Ok(p) => scopes.extend(p.scopes().iter().cloned()),
            Err(e) => c.problem("scope_preset", e.to_string()),
        }
    }
    if scopes.is_empty() && !c.problems.iter().any(|p| p.key.starts_with("scope")) {
        c.problem(
            "scopes",
            "no scopes are set; set `scopes` or `scope_preset`",
        );
    }

    for name in raw.extra_authorize_params.keys() {
        if crate::authorize::is_protocol_param(name) {
            c.problem(
                &format!("extra_authorize_params.{name}"),
                format!("{name:?} is set by the login flow itself and cannot be overridden"),
            );
        }
    }

    let provider = match raw.provider.as_deref() {
        None => None,
        Some(name) => match name.parse::<Provider>() {
            Ok(p) => Some(p),
            Err(e) => {
                c.problem("provider", e.to_string());
                None
            }
        },
    };
    let quirks = provider
        .map(|p| p.preset(providers::Environment::from_env_name(&env)).quirks)
        .unwrap_or_default();
    if endpoints.tenants.is_none() {
        endpoints.tenants = quirks.tenants.as_ref().and_then(|t| Url::parse(t.url).ok());
    }
    if quirks.nonce_required && !scopes.is_openid() && !scopes.is_empty() {
        c.problem(
            "scopes",
            "this provider requires a nonce, which is only sent with `openid`: add `openid` to the scopes",
        );
    }

    let clock_skew = raw.clock_skew_secs.unwrap_or(60);
    if clock_skew > 600 {
        c.problem(
            "clock_skew_secs",
            format!("{clock_skew} s is too lenient (at most 600); fix the machine's clock instead"),
        );
    }
    let request_timeout = raw.http.request_timeout_secs.unwrap_or(30);
    let connect_timeout = raw.http.connect_timeout_secs.unwrap_or(10);
    for (key, v) in [
        ("http.request_timeout_secs", request_timeout),
        ("http.connect_timeout_secs", connect_timeout),
    ] {
        if v == 0 {
            c.problem(key, "must be at least 1 second");
        }
    }

    match (issuer, client_id, redirect_uri) {
        (Some(issuer), Some(client_id), Some(redirect_uri)) if c.problems.is_empty() => {
            Ok(Settings {
                env,
                issuer,
                discovery,
                endpoints,
                client_id: ClientId::new(client_id),
                client_secret: if client_auth == ClientAuthMethod::None {
                    None
                } else {
                    client_secret
                },
                client_auth,
                redirect_uri,
                scopes,
                extra_authorize_params: raw.extra_authorize_params,
                clock_skew: Duration::from_secs(clock_skew),
                metadata_ttl: Duration::from_secs(raw.metadata_ttl_secs.unwrap_or(3600)),
                jwks_refetch_cooldown: Duration::from_secs(
                    raw.jwks_refetch_cooldown_secs.unwrap_or(30),
                ),
                connect_timeout: Duration::from_secs(connect_timeout),
                request_timeout: Duration::from_secs(request_timeout),
                provider,
                quirks,
            })
        }
        _ => Err(ConfigError::Invalid(c.problems)),
    }
}

impl Settings {
    /// The headers every call to the provider's API needs (DATEV's `X-DATEV-Client-Id`,
    /// Xero's `xero-tenant-id`), with their values. `tenant` is the tenant chosen after
    /// login, for providers that have tenants.
    pub fn api_headers(&self, tenant: Option<&str>) -> Result<Vec<(String, String)>, crate::Error> {
        self.quirks
            .api_headers
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    HeaderValue::ClientId => self.client_id.as_str().to_owned(),
                    HeaderValue::Tenant => tenant
                        .ok_or(crate::Error::TenantRequired { header: name })?
                        .to_owned(),
                };
                Ok(((*name).to_owned(), value))
            })
            .collect()
    }

    /// Whether an ID token is expected (the scopes include `openid`).
    pub fn wants_id_token(&self) -> bool {
        self.scopes.contains(&Scope::OpenId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load(env: &str, pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load_with(LoadOptions {
            env: Some(env.into()),
            vars: Some(vars(pairs)),
            ..LoadOptions::default()
        })
    }

    #[test]
    fn production_uses_lexoffice_static_endpoints_and_secret_from_env() {
        let s = load(
            "production",
            &[
                ("LEXOFFICE_LOGIN_CLIENT_ID", "abc"),
                ("LEXOFFICE_LOGIN_CLIENT_SECRET", "top-secret"),
            ],
        )
        .unwrap();
        assert_eq!(s.discovery, Discovery::Off);
        assert_eq!(
            s.endpoints.token.as_ref().map(Url::as_str),
            Some("https://app.lexware.de/oauth2/token")
        );
        assert_eq!(s.client_auth, ClientAuthMethod::ClientSecretBasic);
        assert_eq!(
            s.client_secret.as_ref().map(|s| s.secret().as_str()),
            Some("top-secret")
        );
        assert!(!format!("{s:?}").contains("top-secret"));
    }

    #[test]
    fn environment_variables_override_files_including_nested_keys_and_lists() {
        let s = load(
            "local",
            &[
                ("LEXOFFICE_LOGIN_CLIENT_ID", "from-env"),
                ("LEXOFFICE_LOGIN_CLIENT_SECRET", "sandbox-secret"),
                ("LEXOFFICE_LOGIN_SCOPES", "openid contacts.read"),
                ("LEXOFFICE_LOGIN_HTTP__REQUEST_TIMEOUT_SECS", "7"),
            ],
        )
        .unwrap();
        assert_eq!(s.client_id.as_str(), "from-env");
        assert_eq!(s.scopes.to_string(), "openid contacts.read");
        assert_eq!(s.request_timeout, Duration::from_secs(7));
    }

    #[test]
    fn the_token_store_key_is_not_read_as_a_setting() {
        let s = load(
            "local",
            &[
                ("LEXOFFICE_LOGIN_CLIENT_SECRET", "s"),
                ("LEXOFFICE_LOGIN_STORE_KEY", "c2VjcmV0LXN0b3JlLWtleQ=="),
            ],
        );
        assert!(s.is_ok(), "{:?}", s.err());
    }

    #[test]
    fn env_is_taken_from_the_variable_when_not_given() {
        let s = Settings::load_with(LoadOptions {
            vars: Some(vars(&[
                ("LEXOFFICE_LOGIN_ENV", "sandbox"),
                ("LEXOFFICE_LOGIN_CLIENT_ID", "x"),
                ("LEXOFFICE_LOGIN_CLIENT_SECRET", "y"),
            ])),
            ..LoadOptions::default()
        })
        .unwrap();
        assert_eq!(s.env, "sandbox");
        assert!(s.issuer.contains("lexware-sandbox"));
    }

    #[test]
    fn plain_http_is_refused_except_on_loopback_and_the_source_is_named() {
        let err = load(
            "local",
            &[("LEXOFFICE_LOGIN_ISSUER", "http://login.example.com")],
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`issuer` (environment)"), "{msg}");
        assert!(msg.contains("must be https"), "{msg}");
    }

    #[test]
    fn a_confidential_client_without_secret_is_refused_with_what_to_do() {
        let err = load("production", &[("LEXOFFICE_LOGIN_CLIENT_ID", "abc")]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("LEXOFFICE_LOGIN_CLIENT_SECRET"), "{msg}");
        assert!(
            msg.contains("built-in config/default.toml") || msg.contains("client_auth"),
            "{msg}"
        );
    }

    #[test]
    fn a_secret_in_a_config_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("llcfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let extra = dir.join("extra.toml");
        std::fs::write(&extra, "client_secret = \"oops\"\n").unwrap();
        let err = Settings::load_with(LoadOptions {
            env: Some("local".into()),
            extra_file: Some(extra.clone()),
            vars: Some(HashMap::new()),
            ..LoadOptions::default()
        })
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`client_secret`"), "{msg}");
        assert!(msg.contains(&extra.display().to_string()), "{msg}");
        assert!(!msg.contains("oops"), "{msg}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_reported() {
        let dir = std::env::temp_dir().join(format!("llcfg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let extra = dir.join("extra.toml");
        std::fs::write(&extra, "isuer = \"https://x\"\n").unwrap();
        let err = Settings::load_with(LoadOptions {
            env: Some("local".into()),
            extra_file: Some(extra),
            vars: Some(HashMap::new()),
            ..LoadOptions::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("isuer"), "{err}");

        let err = load(
            "local",
            &[
                ("LEXOFFICE_LOGIN_CLIENT_AUTH", "magic"),
                ("LEXOFFICE_LOGIN_SCOPES", "bad\"scope"),
                ("LEXOFFICE_LOGIN_EXTRA_AUTHORIZE_PARAMS__STATE", "x"),
            ],
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`client_auth` (environment)"), "{msg}");
        assert!(msg.contains("`scopes` (environment)"), "{msg}");
        assert!(msg.contains("cannot be overridden"), "{msg}");
    }

    #[test]
    fn static_endpoints_are_required_without_discovery() {
        let err = Settings::builder("https://id.example.com", "c", "https://app.example.com/cb")
            .client_auth(ClientAuthMethod::None)
            .scopes(["profile.read"])
            .without_discovery()
            .build()
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("endpoints.authorization"), "{msg}");
        assert!(msg.contains("endpoints.token"), "{msg}");
    }

    #[test]
    fn a_provider_preset_fills_in_endpoints_quirks_and_scopes() {
        let s = load(
            "production",
            &[
                ("LEXOFFICE_LOGIN_PROVIDER", "xero"),
                ("LEXOFFICE_LOGIN_CLIENT_ID", "abc"),
            ],
        )
        .unwrap();
        assert_eq!(s.provider, Some(Provider::Xero));
        assert_eq!(s.issuer, "https://identity.xero.com");
        assert_eq!(s.discovery, Discovery::Standard);
        assert_eq!(
            s.client_auth,
            ClientAuthMethod::None,
            "a public PKCE client"
        );
        assert!(s.scopes.contains(&Scope::OfflineAccess));
        assert!(s.quirks.tenants.is_some());
        assert!(
            s.extra_authorize_params.is_empty(),
            "lexoffice's connection_name does not leak into another provider"
        );

        let s = load(
            "sandbox",
            &[
                ("LEXOFFICE_LOGIN_PROVIDER", "quickbooks"),
                ("LEXOFFICE_LOGIN_CLIENT_ID", "abc"),
                ("LEXOFFICE_LOGIN_CLIENT_SECRET", "s"),
            ],
        )
        .unwrap();
        let Discovery::Url(url) = &s.discovery else {
            panic!("{:?}", s.discovery)
        };
        assert!(url.as_str().ends_with("openid_sandbox_configuration"));
        assert_eq!(
            s.quirks.revocation_body,
            crate::providers::RevocationBody::Json
        );
    }

    #[test]
    fn settings_in_files_and_variables_win_over_the_preset() {
        let s = load(
            "production",
            &[
                ("LEXOFFICE_LOGIN_CLIENT_ID", "abc"),
                ("LEXOFFICE_LOGIN_CLIENT_SECRET", "s"),
                ("LEXOFFICE_LOGIN_SCOPES", "profile.read"),
                (
                    "LEXOFFICE_LOGIN_EXTRA_AUTHORIZE_PARAMS__CONNECTION_NAME",
                    "my app",
                ),
            ],
        )
        .unwrap();
        assert_eq!(s.provider, Some(Provider::Lexoffice));
        assert_eq!(s.scopes.to_string(), "profile.read");
        assert_eq!(
            s.extra_authorize_params
                .get("connection_name")
                .map(String::as_str),
            Some("my app")
        );
    }

    #[test]
    fn provider_rules_are_checked_and_unknown_providers_named() {
        let err = load(
            "production",
            &[
                ("LEXOFFICE_LOGIN_PROVIDER", "datev"),
                ("LEXOFFICE_LOGIN_CLIENT_ID", "abc"),
                ("LEXOFFICE_LOGIN_CLIENT_SECRET", "s"),
                ("LEXOFFICE_LOGIN_SCOPES", "profile"),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("add `openid`"), "{err}");

        let err = load("production", &[("LEXOFFICE_LOGIN_PROVIDER", "sage")]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`provider` (environment)"), "{msg}");
        assert!(msg.contains("lexoffice, datev, xero, quickbooks"), "{msg}");
    }

    #[test]
    fn api_headers_come_from_the_preset() {
        let datev = Settings::builder("https://login.example", "my-id", "https://app.example/cb")
            .client_secret("s")
            .provider(Provider::Datev)
            .build()
            .unwrap();
        assert_eq!(
            datev.api_headers(None).unwrap(),
            vec![("X-DATEV-Client-Id".to_owned(), "my-id".to_owned())]
        );
        let xero = Settings::builder("https://login.example", "my-id", "https://app.example/cb")
            .provider(Provider::Xero)
            .build()
            .unwrap();
        assert!(matches!(
            xero.api_headers(None),
            Err(crate::Error::TenantRequired { .. })
        ));
        assert_eq!(
            xero.api_headers(Some("t-1")).unwrap(),
            vec![("xero-tenant-id".to_owned(), "t-1".to_owned())]
        );
        assert_eq!(
            xero.endpoints.tenants.as_ref().map(Url::as_str),
            Some("https://api.xero.com/connections")
        );
        assert!(
            Settings::builder("https://login.example", "c", "https://app.example/cb")
                .client_secret("s")
                .build()
                .unwrap()
                .api_headers(None)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn loopback_detection() {
        for (u, want) in [
            ("http://127.0.0.1:8080/x", true),
            ("http://127.3.4.5/", true),
            ("http://localhost/", true),
            ("http://[::1]:9/", true),
            ("http://10.0.0.1/", false),
            ("http://example.com/", false),
        ] {
            assert_eq!(is_loopback(&Url::parse(u).unwrap()), want, "{u}");
        }
    }
}
