//! Provider presets: what lexoffice, DATEV, Xero and QuickBooks Online publish, and
//! their quirks, as data: the one source of provider facts. The login flow, the API
//! client, the command line and the sandbox (which imitates each provider) all read a
//! [`ProviderPreset`]; none of them asks which provider it talks to.
//!
//! Select a preset in configuration (`provider = "xero"`) or in code
//! ([`SettingsBuilder::provider`](crate::SettingsBuilder::provider)). A preset fills in
//! the issuer, discovery, endpoints, client authentication, scopes and authorization
//! parameters for the environment (`production` or `sandbox`); anything set in the
//! environment's file, an extra file or the environment wins over it.
//!
//! ```
//! use lexoffice_login::providers::{Deployment, Provider, RevocationBody};
//!
//! let qb = Provider::QuickBooks.preset(Deployment::Production);
//! assert!(qb.discovery.url().unwrap().ends_with("openid_configuration"));
//! assert_eq!(qb.quirks.revocation_body, RevocationBody::Json);
//! assert_eq!(qb.api.unwrap().base, "https://quickbooks.api.intuit.com/v3");
//! ```

mod datev;
mod lexoffice;
mod quickbooks;
mod xero;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::protocol::ClientAuthMethod;

/// A provider with a preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// lexoffice / Lexware Office Partner API: static endpoints, no OpenID Connect.
    Lexoffice,
    /// DATEV (`login.datev.de`): OpenID Connect with endpoints on another host.
    Datev,
    /// Xero (`identity.xero.com`): OpenID Connect, rotating refresh tokens, tenants.
    Xero,
    /// QuickBooks Online (Intuit): OpenID Connect with a non-standard discovery path.
    QuickBooks,
}

impl Provider {
    /// Every provider with a preset.
    pub const ALL: [Provider; 4] = [
        Provider::Lexoffice,
        Provider::Datev,
        Provider::Xero,
        Provider::QuickBooks,
    ];

    /// The name used in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Lexoffice => "lexoffice",
            Provider::Datev => "datev",
            Provider::Xero => "xero",
            Provider::QuickBooks => "quickbooks",
        }
    }

    /// The preset for an environment.
    pub fn preset(self, env: Deployment) -> ProviderPreset {
        match self {
            Provider::Lexoffice => lexoffice::preset(env),
            Provider::Datev => datev::preset(env),
            Provider::Xero => xero::preset(env),
            Provider::QuickBooks => quickbooks::preset(env),
        }
    }

    /// The names of every provider, for lists and messages.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Self::ALL.into_iter().map(Provider::name)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A provider name that has no preset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider {name:?}; the presets are {list}", name = .0, list = Provider::names().collect::<Vec<_>>().join(", "))]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownProvider(s.to_owned()))
    }
}

/// Which of a provider's deployments a preset describes: its real service or its test
/// system. (The *environment* is this crate's configuration name, `local`, `sandbox`,
/// `production`, …; [`Deployment::for_env`] maps one to the other.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    /// The real service.
    Production,
    /// The provider's test environment (where it has one).
    Sandbox,
}

impl Deployment {
    /// `production` or `sandbox`.
    pub fn name(self) -> &'static str {
        match self {
            Deployment::Production => "production",
            Deployment::Sandbox => "sandbox",
        }
    }

    /// The deployment for a configuration environment: `sandbox` is the provider's test
    /// system; every other environment (`production`, `local`, …) takes the production
    /// preset.
    pub fn for_env(env: &str) -> Self {
        if env == "sandbox" {
            Deployment::Sandbox
        } else {
            Deployment::Production
        }
    }
}

/// How the revocation endpoint takes the token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RevocationBody {
    /// `application/x-www-form-urlencoded` (RFC 7009).
    #[default]
    Form,
    /// `application/json` `{"token": …}` (Intuit).
    Json,
}

/// Where an API header's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// The client id (DATEV's `X-DATEV-Client-Id`).
    ClientId,
    /// The tenant chosen after login (Xero's `xero-tenant-id`).
    Tenant,
}

/// How refresh tokens change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// Not known; a new refresh token is stored whenever one is returned.
    Unknown,
    /// A new refresh token on every use; the old one keeps working for `grace`.
    EveryUse {
        /// How long the replaced refresh token stays usable.
        grace: Duration,
    },
    /// The value changes about once per `period` (the same token is returned in
    /// between); the replaced one keeps working for `grace`.
    Periodic {
        /// About how often it changes.
        period: Duration,
        /// How long the replaced refresh token stays usable.
        grace: Duration,
    },
}

impl Rotation {
    /// How long a replaced refresh token stays usable (zero where unknown).
    pub fn grace(self) -> Duration {
        match self {
            Rotation::Unknown => Duration::ZERO,
            Rotation::EveryUse { grace } | Rotation::Periodic { grace, .. } => grace,
        }
    }
}

/// Where a provider lists the tenants (organisations) a login may access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantsEndpoint {
    /// The URL (a GET with the bearer token answers a JSON array).
    pub url: &'static str,
    /// The member that holds a tenant's id.
    pub id_field: &'static str,
    /// The member that holds a tenant's name.
    pub name_field: &'static str,
}

/// Whether the provider requires PKCE. The client always sends it (harmless where it is
/// ignored); the sandbox refuses a code without it where the provider does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pkce {
    /// A code without `code_verifier` is refused.
    Required,
    /// Accepted with or without (not documented, or documented as optional).
    Optional,
}

/// The form of the `aud` claim of the provider's ID tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AudienceForm {
    /// A single string.
    #[default]
    String,
    /// An array of strings, even with one audience (Intuit).
    Array,
}

/// Where the provider's metadata comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoverySource {
    /// `{issuer}/.well-known/openid-configuration`.
    Standard,
    /// A document at another URL (Intuit's underscore path).
    At(&'static str),
    /// No discovery: the preset's endpoints are all there is (lexoffice).
    None,
}

impl DiscoverySource {
    /// The non-standard discovery URL, if any.
    pub fn url(self) -> Option<&'static str> {
        match self {
            DiscoverySource::At(url) => Some(url),
            DiscoverySource::Standard | DiscoverySource::None => None,
        }
    }

    /// Whether the provider publishes metadata at all.
    pub fn is_published(self) -> bool {
        self != DiscoverySource::None
    }
}

/// The endpoints a preset knows: all of them for a provider without discovery; with
/// discovery, the documented ones, which the discovery document confirms (and wins over).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PresetEndpoints {
    /// Authorization endpoint.
    pub authorization: Option<&'static str>,
    /// Token endpoint.
    pub token: Option<&'static str>,
    /// Revocation endpoint.
    pub revocation: Option<&'static str>,
    /// Userinfo endpoint.
    pub userinfo: Option<&'static str>,
    /// JSON Web Key Set.
    pub jwks: Option<&'static str>,
    /// Device authorization endpoint (RFC 8628), where the provider offers the device
    /// flow (none of the four presets does).
    pub device_authorization: Option<&'static str>,
}

/// The shape of the API's error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorFormat {
    /// lexoffice: `{timestamp,status,error,path,traceId,message,details:[{violation,field,message}]}`,
    /// or the legacy `{"IssueList":[…]}`; validation failures are `406`.
    Lexoffice,
    /// Xero: `{"Title","Detail","Status"}` or `{"Elements":[{"ValidationErrors":[…]}]}`.
    Xero,
    /// Intuit: `{"Fault":{"Error":[{"Message","Detail","code"}],"type"}}`.
    Intuit,
    /// DATEV: RFC 7807 problem details (`{"type","title","detail"}`); unconfirmed.
    ProblemDetails,
}

/// A client-side rate limit the provider's API enforces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub per_second: f64,
    /// Requests that may go at once.
    pub burst: u32,
}

/// The provider's API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiPreset {
    /// The API's base URL.
    pub base: &'static str,
    /// The documented rate limit, if any.
    pub rate_limit: Option<RateLimit>,
    /// The shape of its error bodies.
    pub error_format: ApiErrorFormat,
    /// A path that identifies the login's organisation (`/profile` at lexoffice), for
    /// `whoami --api` and health checks; relative to `base`.
    pub identity_path: Option<&'static str>,
}

/// A provider's deviations from the plain protocol, as data the flow and the sandbox
/// read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quirks {
    /// How the revocation endpoint takes the token.
    pub revocation_body: RevocationBody,
    /// The provider refuses a login without `nonce`, so `openid` must be requested.
    pub nonce_required: bool,
    /// Whether the provider requires PKCE.
    pub pkce: Pkce,
    /// Headers sent with every token request.
    pub token_request_headers: Vec<(&'static str, &'static str)>,
    /// Headers every API call needs.
    pub api_headers: Vec<(&'static str, HeaderValue)>,
    /// Where the tenants of a login are listed, if the provider has tenants.
    pub tenants: Option<TenantsEndpoint>,
    /// Redirect parameters the provider adds next to `code` and `state` (QuickBooks'
    /// `realmId`). These, and only these, are kept in `TokenSet::extras`.
    pub callback_params: Vec<&'static str>,
    /// How refresh tokens change.
    pub rotation: Rotation,
    /// How long an access token lives, where documented (the token answer's
    /// `expires_in` always wins).
    pub access_token_lifetime: Option<Duration>,
    /// How long an unused refresh token keeps working (Xero: 60 days; QuickBooks: 100
    /// days, rolling), where documented.
    pub refresh_token_idle_lifetime: Option<Duration>,
    /// The form of the ID token's `aud`.
    pub id_token_audience: AudienceForm,
    /// The algorithms the provider signs ID tokens with, where documented.
    pub id_token_algs: Option<&'static [&'static str]>,
    /// What the discovery document lists as `scopes_supported`: a provider may support
    /// scopes it does not list, so the client treats the list as advice.
    pub listed_scopes: ListedScopes,
    /// The discovery document omits `scopes_supported`,
    /// `code_challenge_methods_supported` and `token_endpoint_auth_methods_supported`
    /// (DATEV): the client must not need them.
    pub discovery_omits_capabilities: bool,
    /// What a person configuring this provider should know, for `discover`.
    pub notes: Vec<&'static str>,
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks {
            revocation_body: RevocationBody::Form,
            nonce_required: false,
            pkce: Pkce::Required,
            token_request_headers: Vec::new(),
            api_headers: Vec::new(),
            tenants: None,
            callback_params: Vec::new(),
            rotation: Rotation::Unknown,
            access_token_lifetime: None,
            refresh_token_idle_lifetime: None,
            id_token_audience: AudienceForm::String,
            id_token_algs: None,
            listed_scopes: ListedScopes::Known,
            discovery_omits_capabilities: false,
            notes: Vec::new(),
        }
    }
}

/// What a provider's discovery document lists as `scopes_supported`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListedScopes {
    /// Every scope the preset knows.
    #[default]
    Known,
    /// Only the OpenID Connect scopes (`openid`, `profile`, `email`, `address`,
    /// `phone`), not the API's (Intuit).
    OpenIdConnectOnly,
}

impl ListedScopes {
    /// The OpenID Connect scopes a provider lists under [`ListedScopes::OpenIdConnectOnly`].
    pub const OPENID_CONNECT: [&'static str; 6] = [
        "openid",
        "profile",
        "email",
        "address",
        "phone",
        "offline_access",
    ];

    /// The scopes listed, out of `known`.
    pub fn of<'a>(self, known: &[&'a str]) -> Vec<&'a str> {
        match self {
            ListedScopes::Known => known.to_vec(),
            ListedScopes::OpenIdConnectOnly => known
                .iter()
                .copied()
                .filter(|s| Self::OPENID_CONNECT.contains(s))
                .collect(),
        }
    }
}

/// What a provider publishes for one environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderPreset {
    /// The provider.
    pub provider: Provider,
    /// The environment.
    pub deployment: Deployment,
    /// The issuer.
    pub issuer: &'static str,
    /// Where metadata comes from.
    pub discovery: DiscoverySource,
    /// The endpoints the preset knows.
    pub endpoints: PresetEndpoints,
    /// How the client authenticates by default.
    pub client_auth: ClientAuthMethod,
    /// The scopes a login asks for by default.
    pub scopes: Vec<&'static str>,
    /// Every scope the provider is known to offer (its own discovery document may list
    /// fewer: Intuit's lists only the OpenID Connect ones).
    pub known_scopes: Vec<&'static str>,
    /// Authorization parameters the provider wants.
    pub extra_authorize_params: Vec<(&'static str, &'static str)>,
    /// The provider's API, if the preset knows it.
    pub api: Option<ApiPreset>,
    /// The quirks.
    pub quirks: Quirks,
}

impl ProviderPreset {
    /// Whether the provider serves its token, revocation, userinfo and JWKS endpoints
    /// on another host than the issuer's (DATEV).
    pub fn endpoints_on_another_host(&self) -> bool {
        let host = |u: &str| {
            url::Url::parse(u)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
        };
        let issuer = host(self.issuer);
        self.endpoints.token.is_some_and(|t| host(t) != issuer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Provider::ALL {
            assert_eq!(p.name().parse::<Provider>(), Ok(p));
        }
        assert_eq!("QuickBooks".parse::<Provider>(), Ok(Provider::QuickBooks));
        assert!("sage".parse::<Provider>().is_err());
    }

    #[test]
    fn every_preset_is_https_and_has_a_way_to_its_endpoints() {
        for p in Provider::ALL {
            for env in [Deployment::Production, Deployment::Sandbox] {
                let preset = p.preset(env);
                assert!(preset.issuer.starts_with("https://"), "{p}");
                assert!(
                    preset.discovery.is_published() || preset.endpoints.token.is_some(),
                    "{p}"
                );
                for s in &preset.scopes {
                    assert!(preset.known_scopes.contains(s), "{p}: {s}");
                }
                if preset.quirks.nonce_required {
                    assert!(preset.scopes.contains(&"openid"), "{p}");
                }
            }
        }
    }
}
