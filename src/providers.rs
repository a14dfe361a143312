//! Provider presets: what lexoffice, DATEV, Xero and QuickBooks Online publish, and
//! their quirks, as data. The flow reads [`Quirks`]; it never asks which provider it
//! talks to.
//!
//! Select a preset in configuration (`provider = "xero"`) or in code
//! ([`SettingsBuilder::provider`](crate::SettingsBuilder::provider)). A preset fills in
//! the issuer, discovery, endpoints, client authentication, scopes and authorization
//! parameters for the environment (`production` or `sandbox`); anything set in the
//! environment's file, an extra file or the environment wins over it.
//!
//! ```
//! use lexoffice_login::providers::{Environment, Provider, RevocationBody};
//!
//! let qb = Provider::QuickBooks.preset(Environment::Production);
//! assert!(qb.discovery_url.unwrap().ends_with("openid_configuration"));
//! assert_eq!(qb.quirks.revocation_body, RevocationBody::Json);
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::ClientAuthMethod;

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
    pub fn preset(self, env: Environment) -> Preset {
        match self {
            Provider::Lexoffice => lexoffice(env),
            Provider::Datev => datev(env),
            Provider::Xero => xero(env),
            Provider::QuickBooks => quickbooks(env),
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A provider name that has no preset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider {0:?}; the presets are lexoffice, datev, xero, quickbooks")]
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

/// Which of a provider's environments a preset describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// The real service.
    Production,
    /// The provider's test environment (where it has one).
    Sandbox,
}

impl Environment {
    /// `sandbox` is the sandbox; every other environment name (`production`, `local`, …)
    /// takes the production preset.
    pub fn from_env_name(env: &str) -> Self {
        if env == "sandbox" {
            Environment::Sandbox
        } else {
            Environment::Production
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
    /// The value changes about once per `period` (the same token is returned in between).
    Periodic {
        /// About how often it changes.
        period: Duration,
    },
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

/// A provider's deviations from the plain protocol, as data the flow reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quirks {
    /// How the revocation endpoint takes the token.
    pub revocation_body: RevocationBody,
    /// The provider refuses a login without `nonce`, so `openid` must be requested.
    pub nonce_required: bool,
    /// Headers sent with every token request.
    pub token_request_headers: Vec<(&'static str, &'static str)>,
    /// Headers every API call needs.
    pub api_headers: Vec<(&'static str, HeaderValue)>,
    /// Where the tenants of a login are listed, if the provider has tenants.
    pub tenants: Option<TenantsEndpoint>,
    /// Redirect parameters worth keeping (they land in `TokenSet::extras`).
    pub callback_params: Vec<&'static str>,
    /// How refresh tokens change.
    pub rotation: Rotation,
    /// What a person configuring this provider should know, for `discover`.
    pub notes: Vec<&'static str>,
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks {
            revocation_body: RevocationBody::Form,
            nonce_required: false,
            token_request_headers: Vec::new(),
            api_headers: Vec::new(),
            tenants: None,
            callback_params: Vec::new(),
            rotation: Rotation::Unknown,
            notes: Vec::new(),
        }
    }
}

/// What a provider publishes for one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    /// The provider.
    pub provider: Provider,
    /// The issuer.
    pub issuer: &'static str,
    /// Whether the provider publishes discovery metadata.
    pub discovery: bool,
    /// A non-standard discovery URL.
    pub discovery_url: Option<&'static str>,
    /// The authorization endpoint, where it is not discovered.
    pub authorization_endpoint: Option<&'static str>,
    /// The token endpoint, where it is not discovered.
    pub token_endpoint: Option<&'static str>,
    /// The revocation endpoint, where it is not discovered.
    pub revocation_endpoint: Option<&'static str>,
    /// How the client authenticates by default.
    pub client_auth: ClientAuthMethod,
    /// The default scopes.
    pub scopes: Vec<&'static str>,
    /// Authorization parameters the provider wants.
    pub extra_authorize_params: Vec<(&'static str, &'static str)>,
    /// The API's base URL.
    pub api_base: Option<&'static str>,
    /// The quirks.
    pub quirks: Quirks,
}

fn lexoffice(env: Environment) -> Preset {
    let (host, api) = match env {
        Environment::Production => ("https://app.lexware.de", "https://api.lexware.io/v1"),
        Environment::Sandbox => (
            "https://app.lexware-sandbox.de",
            "https://api.lexware-sandbox.io/v1",
        ),
    };
    let (authorize, token, revoke) = match env {
        Environment::Production => (
            "https://app.lexware.de/oauth2/authorize",
            "https://app.lexware.de/oauth2/token",
            "https://app.lexware.de/oauth2/revoke",
        ),
        Environment::Sandbox => (
            "https://app.lexware-sandbox.de/oauth2/authorize",
            "https://app.lexware-sandbox.de/oauth2/token",
            "https://app.lexware-sandbox.de/oauth2/revoke",
        ),
    };
    Preset {
        provider: Provider::Lexoffice,
        issuer: host,
        discovery: false,
        discovery_url: None,
        authorization_endpoint: Some(authorize),
        token_endpoint: Some(token),
        revocation_endpoint: Some(revoke),
        client_auth: ClientAuthMethod::ClientSecretBasic,
        scopes: vec!["profile.read", "contacts.read", "vouchers.read", "files.read"],
        extra_authorize_params: vec![("connection_name", "lexoffice-login")],
        api_base: Some(api),
        quirks: Quirks {
            notes: vec![
                "no OpenID Connect discovery and no ID tokens: endpoints are static and `openid` is not requested",
                "client authentication is HTTP Basic; PKCE is sent although lexoffice does not document it",
                "the API allows 2 requests per second per app; 429 carries no Retry-After",
            ],
            ..Quirks::default()
        },
    }
}

fn datev(env: Environment) -> Preset {
    let issuer = match env {
        Environment::Production => "https://login.datev.de/openid",
        Environment::Sandbox => "https://login.datev.de/openidsandbox",
    };
    Preset {
        provider: Provider::Datev,
        issuer,
        discovery: true,
        discovery_url: None,
        authorization_endpoint: None,
        token_endpoint: None,
        revocation_endpoint: None,
        client_auth: ClientAuthMethod::ClientSecretBasic,
        scopes: vec!["openid", "profile", "email", "account_id", "offline_access"],
        extra_authorize_params: vec![("enableWindowsSso", "true")],
        api_base: None,
        quirks: Quirks {
            nonce_required: true,
            api_headers: vec![("X-DATEV-Client-Id", HeaderValue::ClientId)],
            notes: vec![
                "token, revocation, userinfo and JWKS live on api.datev.de, not on the issuer's host",
                "nonce is mandatory, so `openid` must stay in the scopes",
                "enableWindowsSso=true is required for the \"Login mit DATEV\" certification",
                "the discovery document omits scopes_supported, code_challenge_methods_supported and token_endpoint_auth_methods_supported",
                "every API call needs the X-DATEV-Client-Id header",
            ],
            ..Quirks::default()
        },
    }
}

fn xero(_env: Environment) -> Preset {
    // Xero has no separate sandbox; a demo company is used with the same endpoints.
    Preset {
        provider: Provider::Xero,
        issuer: "https://identity.xero.com",
        discovery: true,
        discovery_url: None,
        authorization_endpoint: None,
        token_endpoint: None,
        revocation_endpoint: None,
        client_auth: ClientAuthMethod::None,
        scopes: vec!["openid", "profile", "email", "offline_access"],
        extra_authorize_params: Vec::new(),
        api_base: Some("https://api.xero.com/api.xro/2.0"),
        quirks: Quirks {
            api_headers: vec![("xero-tenant-id", HeaderValue::Tenant)],
            tenants: Some(TenantsEndpoint {
                url: "https://api.xero.com/connections",
                id_field: "tenantId",
                name_field: "tenantName",
            }),
            rotation: Rotation::EveryUse {
                grace: Duration::from_secs(30 * 60),
            },
            notes: vec![
                "public PKCE clients have no secret (client_auth = \"none\"); web apps use Basic",
                "offline_access is needed for a refresh token; refresh tokens rotate on every use with a 30-minute grace",
                "after login, GET https://api.xero.com/connections lists the tenants; every API call sends xero-tenant-id",
            ],
            ..Quirks::default()
        },
    }
}

fn quickbooks(env: Environment) -> Preset {
    let (discovery, api) = match env {
        Environment::Production => (
            "https://developer.api.intuit.com/.well-known/openid_configuration",
            "https://quickbooks.api.intuit.com/v3",
        ),
        Environment::Sandbox => (
            "https://developer.api.intuit.com/.well-known/openid_sandbox_configuration",
            "https://sandbox-quickbooks.api.intuit.com/v3",
        ),
    };
    Preset {
        provider: Provider::QuickBooks,
        issuer: "https://oauth.platform.intuit.com/op/v1",
        discovery: true,
        discovery_url: Some(discovery),
        authorization_endpoint: None,
        token_endpoint: None,
        revocation_endpoint: None,
        client_auth: ClientAuthMethod::ClientSecretBasic,
        scopes: vec!["openid", "profile", "email", "com.intuit.quickbooks.accounting"],
        extra_authorize_params: Vec::new(),
        api_base: Some(api),
        quirks: Quirks {
            revocation_body: RevocationBody::Json,
            token_request_headers: vec![("x-include-refresh-token-hard-expires-in", "true")],
            callback_params: vec!["realmId"],
            rotation: Rotation::Periodic {
                period: Duration::from_secs(24 * 60 * 60),
            },
            notes: vec![
                "discovery is at the non-standard path .well-known/openid_configuration (underscore)",
                "the redirect carries realmId (the company id): it is kept in TokenSet::extras",
                "revocation takes a JSON body; ID tokens have aud as an array",
                "the refresh token changes about daily (the old one then fails with invalid_grant); x_refresh_token_expires_in is kept in TokenSet::extras",
            ],
            ..Quirks::default()
        },
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
            for env in [Environment::Production, Environment::Sandbox] {
                let preset = p.preset(env);
                assert!(preset.issuer.starts_with("https://"), "{p}");
                assert!(preset.discovery || preset.token_endpoint.is_some(), "{p}");
                if preset.quirks.nonce_required {
                    assert!(preset.scopes.contains(&"openid"), "{p}");
                }
            }
        }
    }
}
