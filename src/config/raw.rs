//! The raw shape of the settings: what TOML files and environment variables hold, and
//! the typed draft that validation turns into [`Settings`](super::Settings).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::protocol::ClientAuthMethod;
use crate::providers::Provider;
use crate::scope::ScopePreset;

/// The raw, unvalidated settings, as the layers hold them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSettings {
    pub issuer: Option<String>,
    pub discovery: Option<bool>,
    pub discovery_url: Option<String>,
    #[serde(default)]
    pub endpoints: RawEndpoints,
    pub api_base: Option<String>,
    pub client_id: Option<String>,
    /// Only accepted so that a secret in a file gets a clear error instead of "unknown key".
    #[serde(default, rename = "client_secret")]
    pub _client_secret: Option<serde::de::IgnoredAny>,
    pub client_secret_file: Option<PathBuf>,
    pub client_auth: Option<String>,
    pub redirect_uri: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub scope_preset: Option<String>,
    pub provider: Option<String>,
    #[serde(default)]
    pub extra_authorize_params: BTreeMap<String, String>,
    pub clock_skew_secs: Option<u64>,
    pub metadata_ttl_secs: Option<u64>,
    pub jwks_refetch_cooldown_secs: Option<u64>,
    pub refresh_margin_secs: Option<u64>,
    #[serde(default)]
    pub http: RawHttp,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEndpoints {
    pub authorization: Option<String>,
    pub token: Option<String>,
    pub revocation: Option<String>,
    pub userinfo: Option<String>,
    pub jwks: Option<String>,
    pub tenants: Option<String>,
    pub device_authorization: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    pub connect_timeout_secs: Option<u64>,
    pub request_timeout_secs: Option<u64>,
}

/// A value that came typed from code, or as text from a layer (parsed at validation,
/// so that a bad value is reported with the layer it came from).
#[derive(Debug, Clone)]
pub(super) enum Given<T> {
    Typed(T),
    Text(String),
}

/// The settings on their way to validation: URLs still text, everything else typed
/// where code set it.
#[derive(Debug, Default)]
pub(super) struct Draft {
    pub issuer: Option<String>,
    pub discovery: Option<bool>,
    pub discovery_url: Option<String>,
    pub endpoints: RawEndpoints,
    pub api_base: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub client_auth: Option<Given<ClientAuthMethod>>,
    pub redirect_uri: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub scope_preset: Option<Given<ScopePreset>>,
    pub provider: Option<Given<Provider>>,
    pub extra_authorize_params: BTreeMap<String, String>,
    pub clock_skew: Option<Duration>,
    pub metadata_ttl: Option<Duration>,
    pub jwks_refetch_cooldown: Option<Duration>,
    pub refresh_margin: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    pub request_timeout: Option<Duration>,
}

impl From<RawSettings> for Draft {
    fn from(raw: RawSettings) -> Self {
        Draft {
            issuer: raw.issuer,
            discovery: raw.discovery,
            discovery_url: raw.discovery_url,
            endpoints: raw.endpoints,
            api_base: raw.api_base,
            client_id: raw.client_id,
            client_secret_file: raw.client_secret_file,
            client_auth: raw.client_auth.map(Given::Text),
            redirect_uri: raw.redirect_uri,
            scopes: raw.scopes,
            scope_preset: raw.scope_preset.map(Given::Text),
            provider: raw.provider.map(Given::Text),
            extra_authorize_params: raw.extra_authorize_params,
            clock_skew: raw.clock_skew_secs.map(Duration::from_secs),
            metadata_ttl: raw.metadata_ttl_secs.map(Duration::from_secs),
            jwks_refetch_cooldown: raw.jwks_refetch_cooldown_secs.map(Duration::from_secs),
            refresh_margin: raw.refresh_margin_secs.map(Duration::from_secs),
            connect_timeout: raw.http.connect_timeout_secs.map(Duration::from_secs),
            request_timeout: raw.http.request_timeout_secs.map(Duration::from_secs),
        }
    }
}
