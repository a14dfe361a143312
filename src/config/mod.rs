//! Settings, layered with the `config` crate and validated at load.
//!
//! Layers, later ones win:
//! 1. `default.toml`, then `<env>.toml` — from the directory in `LEXOFFICE_LOGIN_CONFIG_DIR`
//!    or [`LoadOptions::config_dir`]; without one, the copies of this crate's `config/`
//!    files that are built into it (so an installed binary works anywhere);
//! 2. a provider preset (`provider = "xero"`), just above `default.toml`;
//! 3. an optional extra file ([`LoadOptions::extra_file`], the CLI's `--config FILE`);
//! 4. environment variables prefixed `LEXOFFICE_LOGIN_`, with `__` between nested keys:
//!    `LEXOFFICE_LOGIN_CLIENT_ID`, `LEXOFFICE_LOGIN_ENDPOINTS__TOKEN`,
//!    `LEXOFFICE_LOGIN_SCOPES="openid profile.read"`.
//!
//! The environment is `env` from the caller, else `LEXOFFICE_LOGIN_ENV`, else `local`.
//! The client secret never comes from a config file: it is read from
//! `LEXOFFICE_LOGIN_CLIENT_SECRET` or from the file named by `client_secret_file`.
//!
//! Every problem found at load names the key and the layer it came from.
//!
//! The module's parts: [`layers`](self) reads and merges (`layers.rs`), `raw.rs` holds
//! the unvalidated shape, `validate.rs` the rules, `builder.rs` settings in code.

mod builder;
mod layers;
mod problem;
mod raw;
mod validate;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use openidconnect::{ClientId, ClientSecret};
use url::Url;

pub use builder::SettingsBuilder;
pub use problem::{ConfigError, ConfigProblem};

use crate::protocol::{
    is_secure_url, ApiBaseUrl, AuthUrl, DeviceAuthUrl, DiscoveryUrl, JwksUrl, RevocationUrl,
    TenantsUrl, TokenUrl, UserinfoUrl,
};
pub use crate::protocol::{
    ClientAuthMethod, CLIENT_SECRET_VAR, CONFIG_DIR_VAR, ENV_PREFIX, ENV_VAR,
};
use crate::providers::{Provider, ProviderPreset, Quirks};
use crate::scope::{Scope, Scopes};

/// Endpoints given in configuration: all of them for a provider without discovery; with
/// discovery they override what the provider publishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// Authorization endpoint.
    pub authorization: Option<AuthUrl>,
    /// Token endpoint.
    pub token: Option<TokenUrl>,
    /// Revocation endpoint (RFC 7009).
    pub revocation: Option<RevocationUrl>,
    /// Userinfo endpoint.
    pub userinfo: Option<UserinfoUrl>,
    /// JSON Web Key Set.
    pub jwks: Option<JwksUrl>,
    /// Where the login's tenants are listed (Xero's connections); defaults to the
    /// provider preset's.
    pub tenants: Option<TenantsUrl>,
    /// Device authorization endpoint (RFC 8628), for logins on machines without a
    /// browser.
    pub device_authorization: Option<DeviceAuthUrl>,
}

/// Where provider metadata comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// `{issuer}/.well-known/openid-configuration`.
    Standard,
    /// A non-standard discovery URL (for example Intuit's underscore path).
    Url(DiscoveryUrl),
    /// No discovery: every endpoint comes from [`Endpoints`].
    Off,
}

/// Validated settings for one environment. Build them with [`Settings::load`] (files and
/// environment) or [`Settings::builder`] (code); read them with the getters. A value
/// once validated does not change, except through methods that validate again
/// ([`Settings::with_redirect_uri`]).
#[derive(Clone)]
pub struct Settings {
    env: String,
    issuer: String,
    discovery: Discovery,
    endpoints: Endpoints,
    api_base: Option<ApiBaseUrl>,
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    client_auth: ClientAuthMethod,
    redirect_uri: Url,
    scopes: Scopes,
    extra_authorize_params: BTreeMap<String, String>,
    clock_skew: Duration,
    metadata_ttl: Duration,
    jwks_refetch_cooldown: Duration,
    refresh_margin: Duration,
    connect_timeout: Duration,
    request_timeout: Duration,
    preset: Option<ProviderPreset>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("env", &self.env)
            .field("issuer", &self.issuer)
            .field("discovery", &self.discovery)
            .field("endpoints", &self.endpoints)
            .field("api_base", &self.api_base)
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
            .field("provider", &self.provider())
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
    /// Variables with the `LEXOFFICE_LOGIN_` prefix that are not settings but belong to
    /// the caller (a tool's own, such as where the CLI keeps its logins): they are left
    /// out of the environment layer, which otherwise refuses unknown keys.
    pub ignore_vars: Vec<String>,
}

/// No quirks: a provider without a preset.
static NO_QUIRKS: Quirks = Quirks {
    revocation_body: crate::providers::RevocationBody::Form,
    nonce_required: false,
    pkce: crate::providers::Pkce::Required,
    token_request_headers: Vec::new(),
    api_headers: Vec::new(),
    tenants: None,
    callback_params: Vec::new(),
    rotation: crate::providers::Rotation::Unknown,
    access_token_lifetime: None,
    refresh_token_idle_lifetime: None,
    id_token_audience: crate::providers::AudienceForm::String,
    id_token_algs: None,
    listed_scopes: crate::providers::ListedScopes::Known,
    discovery_omits_capabilities: false,
    notes: Vec::new(),
};

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
        validated(layers::read(opts)?)
    }

    /// The environments that have a built-in config file (`local`, `sandbox`,
    /// `production`).
    pub fn built_in_environments() -> Vec<&'static str> {
        layers::built_in_envs().collect()
    }

    /// Starts settings in code: the issuer, the client id and the redirect URI; everything
    /// else has the defaults of `config/default.toml`.
    ///
    /// ```
    /// use std::time::Duration;
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
    /// .metadata_ttl(Duration::from_millis(500))
    /// .build()?;
    /// assert_eq!(settings.scopes().to_string(), "openid profile.read");
    /// assert_eq!(settings.metadata_ttl(), Duration::from_millis(500));
    /// assert!(!format!("{settings:?}").contains("s3cret"));
    /// # Ok::<(), lexoffice_login::ConfigError>(())
    /// ```
    pub fn builder(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> SettingsBuilder {
        SettingsBuilder::new(issuer.into(), client_id.into(), redirect_uri.into())
    }

    /// The same settings with another redirect URI (the CLI's, once its loopback port is
    /// known). The URI must be https, or http on loopback.
    pub fn with_redirect_uri(mut self, redirect_uri: Url) -> Result<Settings, ConfigError> {
        if !is_secure_url(&redirect_uri) {
            return Err(ConfigError::Invalid(vec![ConfigProblem {
                key: "redirect_uri".into(),
                source: "code".into(),
                message: format!(
                    "{:?} must be https (plain http is allowed only for loopback hosts)",
                    redirect_uri.as_str()
                ),
            }]));
        }
        self.redirect_uri = redirect_uri;
        Ok(self)
    }

    /// The environment these settings are for (`local`, `sandbox`, `production`, …;
    /// `code` for settings made with the builder).
    pub fn env(&self) -> &str {
        &self.env
    }
    /// The issuer identifier, compared exactly with the provider's.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// Where metadata comes from.
    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }
    /// Endpoints from configuration.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }
    /// The base URL of the provider's API: `api_base`, else the provider preset's.
    pub fn api_base(&self) -> Option<&ApiBaseUrl> {
        self.api_base.as_ref()
    }
    /// The client id.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }
    /// The client secret (absent for public clients). `Debug` never shows it.
    pub fn client_secret(&self) -> Option<&ClientSecret> {
        self.client_secret.as_ref()
    }
    /// How the client authenticates.
    pub fn client_auth(&self) -> ClientAuthMethod {
        self.client_auth
    }
    /// The registered redirect URI.
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }
    /// The scopes a login asks for.
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }
    /// Extra parameters for the authorization URL (lexoffice's `connection_name`).
    pub fn extra_authorize_params(&self) -> &BTreeMap<String, String> {
        &self.extra_authorize_params
    }
    /// Allowed clock skew when checking token times.
    pub fn clock_skew(&self) -> Duration {
        self.clock_skew
    }
    /// How long discovered metadata and the JWKS are cached.
    pub fn metadata_ttl(&self) -> Duration {
        self.metadata_ttl
    }
    /// The least time between two JWKS fetches forced by an unknown `kid`.
    pub fn jwks_refetch_cooldown(&self) -> Duration {
        self.jwks_refetch_cooldown
    }
    /// Refresh an access token this long before it expires (`refresh_margin_secs`,
    /// default 120 s); a token whose whole lifetime is shorter is refreshed after half of
    /// it ([`TokenSet::refresh_margin`](crate::TokenSet::refresh_margin)).
    pub fn refresh_margin(&self) -> Duration {
        self.refresh_margin
    }
    /// TCP connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
    /// Whole-request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
    /// The provider preset in use, if any.
    pub fn provider(&self) -> Option<Provider> {
        self.preset.as_ref().map(|p| p.provider)
    }
    /// The provider preset's facts for this environment, if a provider is set.
    pub fn preset(&self) -> Option<&ProviderPreset> {
        self.preset.as_ref()
    }
    /// The provider's quirks (none for a generic provider).
    pub fn quirks(&self) -> &Quirks {
        self.preset.as_ref().map_or(&NO_QUIRKS, |p| &p.quirks)
    }
    /// Whether an ID token is expected (the scopes include `openid`).
    pub fn wants_id_token(&self) -> bool {
        self.scopes.contains(&Scope::OpenId)
    }
}

/// Settings from the layers of `opts` with `text` as one more TOML layer where an extra
/// file would be (the fuzz target's way in).
#[cfg(feature = "fuzzing")]
pub(crate) fn load_with_text(opts: LoadOptions, text: &str) -> Result<Settings, ConfigError> {
    validated(layers::read_with(opts, Some(text))?)
}

/// What the layers hold, validated.
fn validated(read: layers::Read) -> Result<Settings, ConfigError> {
    validate::validate(
        read.env,
        read.raw.into(),
        read.secret.map(ClientSecret::new),
        &read.origins,
        read.problems,
    )
}

#[cfg(test)]
mod tests;
