//! Validation: a [`Draft`] becomes [`Settings`], or every problem is reported at once,
//! each with its key and the layer it came from. One function per group of rules.

use std::collections::BTreeMap;
use std::time::Duration;

use openidconnect::{ClientId, ClientSecret};
use url::Url;

use super::layers::Origins;
use super::problem::{ConfigError, ConfigProblem};
use super::raw::{Draft, Given, RawEndpoints};
use super::{Discovery, Endpoints, Settings};
use crate::protocol::{
    is_protocol_param, is_secret_param, is_secure_url, ApiBaseUrl, AuthUrl, ClientAuthMethod,
    DeviceAuthUrl, DiscoveryUrl, JwksUrl, RevocationUrl, TenantsUrl, TokenUrl, UserinfoUrl,
    CLIENT_SECRET_VAR, ENV_PREFIX,
};
use crate::providers::{self, Provider, ProviderPreset};
use crate::scope::{ScopePreset, Scopes};

/// The defaults of `config/default.toml`, for settings made in code.
pub(super) const DEFAULT_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(600);
const DEFAULT_METADATA_TTL: Duration = Duration::from_secs(3600);
const DEFAULT_JWKS_REFETCH_COOLDOWN: Duration = Duration::from_secs(30);
const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(120);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Collects problems, naming the layer each key came from.
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

    fn has_problem(&self, key: &str) -> bool {
        self.problems.iter().any(|p| p.key == key)
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

    fn choice<T: Copy>(
        &mut self,
        key: &str,
        given: Option<Given<T>>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match given? {
            Given::Typed(v) => Some(v),
            Given::Text(text) => match parse(&text) {
                Ok(v) => Some(v),
                Err(message) => {
                    self.problem(key, message);
                    None
                }
            },
        }
    }
}

/// Validates a draft.
pub(super) fn validate(
    env: String,
    draft: Draft,
    secret: Option<ClientSecret>,
    origins: &Origins,
    problems: Vec<ConfigProblem>,
) -> Result<Settings, ConfigError> {
    let mut c = Checker { origins, problems };

    let issuer = check_issuer(&mut c, draft.issuer);
    let discovery = check_discovery(&mut c, draft.discovery, draft.discovery_url);
    let provider = c.choice("provider", draft.provider, |s| {
        s.parse::<Provider>().map_err(|e| e.to_string())
    });
    let preset = provider.map(|p| p.preset(providers::Deployment::for_env(&env)));
    let endpoints = check_endpoints(&mut c, draft.endpoints, &discovery, preset.as_ref());
    let api_base = c
        .secure_url("api_base", draft.api_base)
        .map(ApiBaseUrl::new)
        .or_else(|| {
            let base = preset.as_ref()?.api.as_ref()?.base;
            ApiBaseUrl::parse(base).ok()
        });
    let client_id = c.required("client_id", draft.client_id);
    let client_auth = c
        .choice("client_auth", draft.client_auth, |s| {
            ClientAuthMethod::from_name(s).ok_or_else(|| {
                format!("{s:?} is not one of none, client_secret_basic, client_secret_post")
            })
        })
        .unwrap_or(ClientAuthMethod::ClientSecretBasic);
    let client_secret = check_secret(&mut c, client_auth, secret, draft.client_secret_file);
    let redirect_uri = c
        .required("redirect_uri", draft.redirect_uri)
        .and_then(|v| c.secure_url("redirect_uri", Some(v)));
    let scope_preset = c.choice("scope_preset", draft.scope_preset, |s| {
        s.parse::<ScopePreset>().map_err(|e| e.to_string())
    });
    let scopes = check_scopes(&mut c, draft.scopes, scope_preset, preset.as_ref());
    check_extra_authorize_params(&mut c, &draft.extra_authorize_params);
    let clock_skew = draft.clock_skew.unwrap_or(DEFAULT_CLOCK_SKEW);
    if clock_skew > MAX_CLOCK_SKEW {
        c.problem(
            "clock_skew_secs",
            format!(
                "{} s is too lenient (at most {}); fix the machine's clock instead",
                clock_skew.as_secs(),
                MAX_CLOCK_SKEW.as_secs()
            ),
        );
    }
    let connect_timeout = positive(&mut c, "http.connect_timeout_secs", draft.connect_timeout)
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let request_timeout = positive(&mut c, "http.request_timeout_secs", draft.request_timeout)
        .unwrap_or(DEFAULT_REQUEST_TIMEOUT);

    match (issuer, client_id, redirect_uri) {
        (Some(issuer), Some(client_id), Some(redirect_uri)) if c.problems.is_empty() => {
            Ok(Settings {
                env,
                issuer,
                discovery,
                endpoints,
                api_base,
                client_id: ClientId::new(client_id),
                client_secret: client_secret.filter(|_| client_auth.needs_secret()),
                client_auth,
                redirect_uri,
                scopes,
                extra_authorize_params: draft.extra_authorize_params,
                clock_skew,
                metadata_ttl: draft.metadata_ttl.unwrap_or(DEFAULT_METADATA_TTL),
                jwks_refetch_cooldown: draft
                    .jwks_refetch_cooldown
                    .unwrap_or(DEFAULT_JWKS_REFETCH_COOLDOWN),
                refresh_margin: draft.refresh_margin.unwrap_or(DEFAULT_REFRESH_MARGIN),
                connect_timeout,
                request_timeout,
                preset,
            })
        }
        _ => Err(ConfigError::Invalid(c.problems)),
    }
}

/// The issuer: https (or loopback http), no query or fragment (OpenID Connect Discovery 2).
fn check_issuer(c: &mut Checker<'_>, issuer: Option<String>) -> Option<String> {
    let issuer = c.required("issuer", issuer)?;
    match Url::parse(&issuer) {
        Ok(url) if !is_secure_url(&url) => c.problem(
            "issuer",
            format!(
                "{:?} must be https (plain http is allowed only for loopback hosts)",
                crate::protocol::redact_url(&url)
            ),
        ),
        Ok(url) if !url.username().is_empty() || url.password().is_some() => c.problem(
            "issuer",
            "an issuer has no user name or password; remove them from the URL",
        ),
        Ok(url) if url.query().is_some() || url.fragment().is_some() => c.problem(
            "issuer",
            "an issuer has no query or fragment (OpenID Connect Discovery 2)",
        ),
        Ok(_) => return Some(issuer),
        Err(e) => c.problem("issuer", format!("it is not a URL ({e})")),
    }
    None
}

fn check_discovery(c: &mut Checker<'_>, on: Option<bool>, url: Option<String>) -> Discovery {
    let url = c.secure_url("discovery_url", url);
    match (on.unwrap_or(true), url) {
        (false, _) => Discovery::Off,
        (true, Some(url)) => Discovery::Url(DiscoveryUrl::new(url)),
        (true, None) => Discovery::Standard,
    }
}

/// Endpoints from configuration; without discovery the authorization and token
/// endpoints are required. The tenants endpoint defaults to the preset's.
fn check_endpoints(
    c: &mut Checker<'_>,
    raw: RawEndpoints,
    discovery: &Discovery,
    preset: Option<&ProviderPreset>,
) -> Endpoints {
    let endpoints = Endpoints {
        authorization: c
            .secure_url("endpoints.authorization", raw.authorization)
            .map(AuthUrl::new),
        token: c
            .secure_url("endpoints.token", raw.token)
            .map(TokenUrl::new),
        revocation: c
            .secure_url("endpoints.revocation", raw.revocation)
            .map(RevocationUrl::new),
        userinfo: c
            .secure_url("endpoints.userinfo", raw.userinfo)
            .map(UserinfoUrl::new),
        jwks: c.secure_url("endpoints.jwks", raw.jwks).map(JwksUrl::new),
        tenants: c
            .secure_url("endpoints.tenants", raw.tenants)
            .map(TenantsUrl::new)
            .or_else(|| TenantsUrl::parse(preset?.quirks.tenants.as_ref()?.url).ok()),
        device_authorization: c
            .secure_url("endpoints.device_authorization", raw.device_authorization)
            .map(DeviceAuthUrl::new),
    };
    if *discovery == Discovery::Off {
        for (key, present) in [
            ("endpoints.authorization", endpoints.authorization.is_some()),
            ("endpoints.token", endpoints.token.is_some()),
        ] {
            if !present && !c.has_problem(key) {
                c.problem(key, "is required when `discovery = false`");
            }
        }
    }
    endpoints
}

/// The secret comes from the environment or from `client_secret_file`; a confidential
/// client must have one.
fn check_secret(
    c: &mut Checker<'_>,
    client_auth: ClientAuthMethod,
    secret: Option<ClientSecret>,
    file: Option<std::path::PathBuf>,
) -> Option<ClientSecret> {
    let mut client_secret = secret;
    if client_secret.is_none() {
        if let Some(path) = &file {
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
    if client_auth.needs_secret() && client_secret.is_none() && !c.has_problem("client_secret_file")
    {
        c.problem(
            "client_auth",
            format!(
                "{client_auth} needs a client secret: set {CLIENT_SECRET_VAR} or `client_secret_file`, or use `client_auth = \"none\"` for a public client"
            ),
        );
    }
    client_secret
}

/// The scopes and the scope preset's, which must not be empty; a provider that needs a
/// nonce needs `openid`.
fn check_scopes(
    c: &mut Checker<'_>,
    given: Option<Vec<String>>,
    scope_preset: Option<ScopePreset>,
    preset: Option<&ProviderPreset>,
) -> Scopes {
    let mut scopes = Scopes::new();
    for s in given.unwrap_or_default() {
        match s.parse::<Scopes>() {
            Ok(parsed) => scopes.extend(parsed.iter().cloned()),
            Err(e) => c.problem("scopes", e.to_string()),
        }
    }
    if let Some(p) = scope_preset {
        scopes.extend(p.scopes().iter().cloned());
    }
    if scopes.is_empty() && !c.problems.iter().any(|p| p.key.starts_with("scope")) {
        c.problem(
            "scopes",
            "no scopes are set; set `scopes` or `scope_preset`",
        );
    }
    if preset.is_some_and(|p| p.quirks.nonce_required) && !scopes.is_openid() && !scopes.is_empty()
    {
        c.problem(
            "scopes",
            "this provider requires a nonce, which is only sent with `openid`: add `openid` to the scopes",
        );
    }
    scopes
}

/// Extra authorization parameters may not override the flow's own, nor carry a secret
/// to the browser.
fn check_extra_authorize_params(c: &mut Checker<'_>, params: &BTreeMap<String, String>) {
    for name in params.keys() {
        let key = format!("extra_authorize_params.{name}");
        if is_protocol_param(name) {
            c.problem(
                &key,
                format!("{name:?} is set by the login flow itself and cannot be overridden"),
            );
        } else if is_secret_param(name) {
            c.problem(
                &key,
                format!("{name:?} holds a secret, which must never go into the authorization URL the browser is sent to"),
            );
        }
    }
}

fn positive(c: &mut Checker<'_>, key: &str, value: Option<Duration>) -> Option<Duration> {
    match value {
        Some(d) if d.is_zero() => {
            c.problem(key, "must be at least 1 second");
            None
        }
        other => other,
    }
}
