//! Provider metadata: discovered from `.well-known/openid-configuration` (or an override
//! URL), or built from static endpoints where a provider publishes none.
//!
//! Each check is one function named after the rule it enforces. Fields a provider leaves
//! out of its discovery document (DATEV omits several) never fail the client.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::{Discovery, Settings};
use crate::error::Error;
use crate::http;
use crate::protocol::{
    is_secure_url, AuthUrl, DeviceAuthUrl, Endpoint, EndpointUrl, JwksUrl, RevocationUrl, TokenUrl,
    UserinfoUrl,
};
use crate::scope::Scopes;

/// What the client knows about the provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderMetadata {
    /// The issuer identifier.
    pub issuer: String,
    /// Authorization endpoint.
    pub authorization_endpoint: Option<AuthUrl>,
    /// Token endpoint.
    pub token_endpoint: Option<TokenUrl>,
    /// Revocation endpoint (RFC 7009).
    pub revocation_endpoint: Option<RevocationUrl>,
    /// Userinfo endpoint.
    pub userinfo_endpoint: Option<UserinfoUrl>,
    /// JSON Web Key Set.
    pub jwks_uri: Option<JwksUrl>,
    /// Device authorization endpoint (RFC 8628).
    #[serde(default)]
    pub device_authorization_endpoint: Option<DeviceAuthUrl>,
    /// Introspection endpoint (RFC 7662).
    pub introspection_endpoint: Option<Url>,
    /// Scopes the provider supports, when it says.
    pub scopes_supported: Option<Vec<String>>,
    /// PKCE methods the provider supports, when it says.
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// Client authentication methods at the token endpoint, when it says.
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// ID-token signing algorithms, when it says.
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
    /// Whether every authorization response carries `iss` (RFC 9207).
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// Whether this metadata came from a discovery document (false: from configuration).
    #[serde(default, skip_deserializing)]
    pub discovered: bool,
}

impl ProviderMetadata {
    /// Metadata from the configuration alone, for providers without discovery.
    pub fn from_settings(settings: &Settings) -> ProviderMetadata {
        let e = &settings.endpoints();
        ProviderMetadata {
            issuer: settings.issuer().to_owned(),
            authorization_endpoint: e.authorization.clone(),
            token_endpoint: e.token.clone(),
            revocation_endpoint: e.revocation.clone(),
            userinfo_endpoint: e.userinfo.clone(),
            jwks_uri: e.jwks.clone(),
            device_authorization_endpoint: e.device_authorization.clone(),
            ..ProviderMetadata::default()
        }
    }

    /// The authorization endpoint, or an error that says how to configure it.
    pub fn authorization(&self) -> Result<&AuthUrl, Error> {
        required(&self.authorization_endpoint)
    }
    /// The token endpoint, or an error that says how to configure it.
    pub fn token(&self) -> Result<&TokenUrl, Error> {
        required(&self.token_endpoint)
    }
    /// The revocation endpoint, or an error that says how to configure it.
    pub fn revocation(&self) -> Result<&RevocationUrl, Error> {
        required(&self.revocation_endpoint)
    }
    /// The userinfo endpoint, or an error that says how to configure it.
    pub fn userinfo(&self) -> Result<&UserinfoUrl, Error> {
        required(&self.userinfo_endpoint)
    }
    /// The JWKS URL, or an error that says how to configure it.
    pub fn jwks(&self) -> Result<&JwksUrl, Error> {
        required(&self.jwks_uri)
    }
    /// The device authorization endpoint, or an error that says how to configure it.
    pub fn device_authorization(&self) -> Result<&DeviceAuthUrl, Error> {
        required(&self.device_authorization_endpoint)
    }
}

/// An endpoint the operation needs, or an error that names the key that would set it.
fn required<T: EndpointUrl>(url: &Option<T>) -> Result<&T, Error> {
    url.as_ref().ok_or(Error::MissingEndpoint {
        endpoint: T::ENDPOINT,
        key: T::ENDPOINT.config_key().unwrap_or("authorization"),
    })
}

/// `{issuer}/.well-known/openid-configuration` (OpenID Connect Discovery 4.1): the issuer's
/// path is kept, with a trailing slash removed first.
pub fn well_known_url(issuer: &str) -> Result<Url, Error> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    Url::parse(&url).map_err(|e| Error::MalformedResponse {
        endpoint: Endpoint::Discovery,
        url,
        detail: e.to_string(),
    })
}

/// Where the settings say the discovery document is, `None` when discovery is off.
pub fn discovery_url(settings: &Settings) -> Result<Option<Url>, Error> {
    match settings.discovery() {
        Discovery::Off => Ok(None),
        Discovery::Standard => well_known_url(settings.issuer()).map(Some),
        Discovery::Url(url) => Ok(Some(url.url().clone())),
    }
}

/// The metadata the settings call for, unchecked: the discovery document (read with
/// every rule of a provider answer: no redirects, size cap, JSON content type) with the
/// configured endpoints laid over it, or the configured endpoints alone. For tools that
/// report each check on its own (`lexoffice-login discover`); [`Client`](crate::Client)
/// applies every check.
pub async fn fetch_unchecked(settings: &Settings) -> Result<ProviderMetadata, Error> {
    let http_client = http::build_client(settings)?;
    fetch_document(&http_client, settings).await
}

async fn fetch_document(
    http_client: &reqwest::Client,
    settings: &Settings,
) -> Result<ProviderMetadata, Error> {
    let Some(url) = discovery_url(settings)? else {
        return Ok(ProviderMetadata::from_settings(settings));
    };
    let mut metadata: ProviderMetadata =
        http::fetch_json(Endpoint::Discovery, &url, http_client.get(url.clone())).await?;
    metadata.discovered = true;
    apply_configured_endpoints(&mut metadata, settings);
    Ok(metadata)
}

/// Loads the metadata the settings call for, discovered or static, and checks it.
pub(crate) async fn load(
    http_client: &reqwest::Client,
    settings: &Settings,
) -> Result<ProviderMetadata, Error> {
    let metadata = fetch_document(http_client, settings).await?;
    if metadata.discovered {
        check_issuer_matches(settings.issuer(), &metadata)?;
        check_pkce_s256_supported(&metadata)?;
        tracing::debug!(issuer = %metadata.issuer, "provider metadata discovered");
    }
    check_endpoints_are_secure(&metadata)?;
    Ok(metadata)
}

/// OpenID Connect Discovery 4.3: the `issuer` in the document equals the configured
/// issuer exactly.
pub fn check_issuer_matches(configured: &str, metadata: &ProviderMetadata) -> Result<(), Error> {
    if metadata.issuer == configured {
        Ok(())
    } else {
        Err(Error::IssuerMismatch {
            expected: configured.to_owned(),
            found: metadata.issuer.clone(),
        })
    }
}

/// RFC 7636 / RFC 8414: a provider that lists its PKCE methods must list S256.
pub fn check_pkce_s256_supported(metadata: &ProviderMetadata) -> Result<(), Error> {
    match &metadata.code_challenge_methods_supported {
        Some(methods) if !methods.iter().any(|m| m == "S256") => Err(Error::PkceS256Unsupported {
            supported: methods.clone(),
        }),
        _ => Ok(()),
    }
}

/// The requested scopes that `scopes_supported` does not list (none when the provider
/// publishes no list). Advice only: see [`Client::scope_warnings`](crate::Client::scope_warnings).
pub fn unlisted_scopes(requested: &Scopes, metadata: &ProviderMetadata) -> Vec<String> {
    match check_scopes_supported(requested, metadata) {
        Err(Error::UnsupportedScopes { unknown, .. }) => unknown,
        _ => Vec::new(),
    }
}

/// Whether the requested scopes are all among `scopes_supported`, when the provider lists
/// them. A provider may support scopes it does not list, so the client only warns
/// ([`unlisted_scopes`]); `lexoffice-login discover` reports this check.
pub fn check_scopes_supported(
    requested: &Scopes,
    metadata: &ProviderMetadata,
) -> Result<(), Error> {
    let Some(supported) = &metadata.scopes_supported else {
        return Ok(());
    };
    let unknown: Vec<String> = requested
        .iter()
        .map(|s| s.as_str().to_owned())
        .filter(|s| !supported.contains(s))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Error::UnsupportedScopes {
            unknown,
            supported: supported.clone(),
        })
    }
}

/// Every endpoint is https (plain http only on loopback), wherever it came from.
pub fn check_endpoints_are_secure(metadata: &ProviderMetadata) -> Result<(), Error> {
    let all = [
        (
            Endpoint::Authorization,
            metadata.authorization_endpoint.as_ref().map(|u| u.url()),
        ),
        (
            Endpoint::Token,
            metadata.token_endpoint.as_ref().map(|u| u.url()),
        ),
        (
            Endpoint::Revocation,
            metadata.revocation_endpoint.as_ref().map(|u| u.url()),
        ),
        (
            Endpoint::Userinfo,
            metadata.userinfo_endpoint.as_ref().map(|u| u.url()),
        ),
        (Endpoint::Jwks, metadata.jwks_uri.as_ref().map(|u| u.url())),
        (
            Endpoint::DeviceAuthorization,
            metadata
                .device_authorization_endpoint
                .as_ref()
                .map(|u| u.url()),
        ),
    ];
    for (endpoint, url) in all {
        if let Some(url) = url {
            if !is_secure_url(url) {
                return Err(Error::InsecureEndpoint {
                    endpoint,
                    url: url.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Endpoints set in the configuration win over discovered ones.
fn apply_configured_endpoints(metadata: &mut ProviderMetadata, settings: &Settings) {
    fn lay<T: Clone>(target: &mut Option<T>, configured: &Option<T>) {
        if let Some(url) = configured {
            *target = Some(url.clone());
        }
    }
    let e = settings.endpoints();
    lay(&mut metadata.authorization_endpoint, &e.authorization);
    lay(&mut metadata.token_endpoint, &e.token);
    lay(&mut metadata.revocation_endpoint, &e.revocation);
    lay(&mut metadata.userinfo_endpoint, &e.userinfo);
    lay(&mut metadata.jwks_uri, &e.jwks);
    lay(
        &mut metadata.device_authorization_endpoint,
        &e.device_authorization,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> ProviderMetadata {
        ProviderMetadata {
            issuer: "https://id.example.com".into(),
            discovered: true,
            ..ProviderMetadata::default()
        }
    }

    #[test]
    fn well_known_keeps_the_issuer_path() {
        assert_eq!(
            well_known_url("https://login.datev.de/openid")
                .unwrap()
                .as_str(),
            "https://login.datev.de/openid/.well-known/openid-configuration"
        );
        assert_eq!(
            well_known_url("https://id.example.com/").unwrap().as_str(),
            "https://id.example.com/.well-known/openid-configuration"
        );
    }

    #[test]
    fn issuer_must_match_exactly() {
        assert!(check_issuer_matches("https://id.example.com", &meta()).is_ok());
        let err = check_issuer_matches("https://id.example.com/", &meta()).unwrap_err();
        assert!(matches!(err, Error::IssuerMismatch { .. }));
    }

    #[test]
    fn pkce_s256_is_required_only_when_methods_are_listed() {
        let mut m = meta();
        assert!(check_pkce_s256_supported(&m).is_ok());
        m.code_challenge_methods_supported = Some(vec!["plain".into()]);
        assert!(check_pkce_s256_supported(&m).is_err());
        m.code_challenge_methods_supported = Some(vec!["plain".into(), "S256".into()]);
        assert!(check_pkce_s256_supported(&m).is_ok());
    }

    #[test]
    fn unknown_scopes_are_named_with_the_supported_ones() {
        let mut m = meta();
        let req: Scopes = "openid invoice.read".parse().unwrap();
        assert!(check_scopes_supported(&req, &m).is_ok());
        m.scopes_supported = Some(vec!["openid".into(), "profile".into()]);
        let msg = check_scopes_supported(&req, &m).unwrap_err().to_string();
        assert!(msg.contains("invoice.read"), "{msg}");
        assert!(msg.contains("openid profile"), "{msg}");
    }

    #[test]
    fn a_document_missing_optional_fields_parses() {
        let doc = r#"{"issuer":"https://login.datev.de/openid",
            "authorization_endpoint":"https://login.datev.de/openid/authorize",
            "token_endpoint":"https://api.datev.de/token",
            "jwks_uri":"https://api.datev.de/certs"}"#;
        let m: ProviderMetadata = serde_json::from_str(doc).unwrap();
        assert!(m.scopes_supported.is_none());
        assert!(check_endpoints_are_secure(&m).is_ok());
    }

    #[test]
    fn plain_http_endpoints_off_loopback_are_refused() {
        let mut m = meta();
        m.token_endpoint = Some(TokenUrl::parse("http://id.example.com/token").unwrap());
        assert!(matches!(
            check_endpoints_are_secure(&m),
            Err(Error::InsecureEndpoint { .. })
        ));
    }
}
