//! Which organisation a new login belongs to.

use serde_json::Value;

use crate::client::Client;
use crate::error::Error;
use crate::providers::Provider;
use crate::tokens::TokenSet;

/// The longest tenant id accepted (it becomes part of a store key).
const MAX_TENANT: usize = 256;

/// Where a provider's tenant (organisation) id comes from after a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TenantSource {
    /// lexoffice: `organizationId` of `GET {api_base}/profile`.
    LexofficeProfile,
    /// Xero: the first tenant of `GET /connections` ([`Client::tenants`]). One Xero login
    /// covers all the tenants the user picked; its refresh token rotates on every use, so
    /// it is stored once (two stored copies would spend each other's refresh tokens),
    /// under the first tenant. The app passes the other tenant ids in `xero-tenant-id`
    /// with the same connection's token.
    XeroConnections,
    /// QuickBooks: the `realmId` of the redirect, kept in [`TokenSet::extras`].
    RedirectRealmId,
    /// Any other provider: the ID token's `sub` (one connection per user).
    IdTokenSubject,
}

impl TenantSource {
    /// The source for a client's provider: from its preset (the provider, its tenants
    /// endpoint, its redirect parameters).
    ///
    /// ```
    /// use lexoffice_login::providers::Provider;
    /// use lexoffice_login::web::TenantSource;
    /// use lexoffice_login::{Client, Settings};
    ///
    /// let settings = Settings::builder("https://app.lexware.de", "id", "https://app.example/callback")
    ///     .client_secret("s")
    ///     .provider(Provider::Lexoffice)
    ///     .without_discovery()
    ///     .endpoints(
    ///         "https://app.lexware.de/oauth2/authorize",
    ///         "https://app.lexware.de/oauth2/token",
    ///         None,
    ///         None,
    ///         None,
    ///     )
    ///     .build()?;
    /// let client = Client::new(settings)?;
    /// assert_eq!(TenantSource::of(&client), TenantSource::LexofficeProfile);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn of(client: &Client) -> TenantSource {
        let s = client.settings();
        let quirks = s.quirks();
        let profile = s
            .preset()
            .and_then(|p| p.api.as_ref())
            .and_then(|a| a.identity_path)
            == Some("profile");
        if s.provider() == Some(Provider::Lexoffice) || (profile && !s.wants_id_token()) {
            TenantSource::LexofficeProfile
        } else if quirks.tenants.is_some() {
            TenantSource::XeroConnections
        } else if quirks.callback_params.contains(&"realmId") {
            TenantSource::RedirectRealmId
        } else {
            TenantSource::IdTokenSubject
        }
    }
}

/// Why the tenant of a login could not be found. No message carries a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TenantError {
    /// The provider's API refused or failed (profile, connections).
    #[error("the provider's API did not name the organisation: {0}")]
    Api(String),
    /// The login carries nothing that names a tenant.
    #[error("the login names no organisation ({0})")]
    Missing(&'static str),
    /// The call to the provider failed.
    #[error(transparent)]
    Provider(#[from] Error),
}

/// The tenant (organisation) id of a new login, from where [`TenantSource::of`] says.
/// The id has at most 256 characters and no control characters.
pub async fn resolve_tenant(client: &Client, tokens: &TokenSet) -> Result<String, TenantError> {
    let id = match TenantSource::of(client) {
        TenantSource::LexofficeProfile => lexoffice_organization(client, tokens).await?,
        TenantSource::XeroConnections => client
            .tenants(tokens)
            .await?
            .into_iter()
            .next()
            .map(|t| t.id)
            .ok_or(TenantError::Missing("the login has no tenant connected"))?,
        TenantSource::RedirectRealmId => tokens
            .extras
            .get("realmId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(TenantError::Missing("the redirect carried no realmId"))?,
        TenantSource::IdTokenSubject => tokens
            .id_token_claims
            .as_ref()
            .map(|c| c.sub.clone())
            .ok_or(TenantError::Missing(
                "no ID token: request the openid scope, or use a provider with tenants",
            ))?,
    };
    if id.is_empty() || id.chars().count() > MAX_TENANT || id.chars().any(char::is_control) {
        return Err(TenantError::Missing(
            "the organisation id is empty or malformed",
        ));
    }
    Ok(id)
}

async fn lexoffice_organization(client: &Client, tokens: &TokenSet) -> Result<String, TenantError> {
    let base = client
        .settings()
        .api_base()
        .ok_or(TenantError::Missing("no API base is configured (api_base)"))?;
    let url = format!("{}/profile", base.as_str().trim_end_matches('/'));
    let resp = client
        .http_client()
        .get(&url)
        .bearer_auth(tokens.access_token.secret())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        // Without the URL's details: only the kind of failure.
        .map_err(|e| TenantError::Api(format!("GET /profile failed ({})", transport_kind(&e))))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(TenantError::Api(format!(
            "GET /profile answered HTTP {}",
            status.as_u16()
        )));
    }
    let body: Value = resp
        .json()
        .await
        .map_err(|_| TenantError::Api("GET /profile did not answer JSON".into()))?;
    body.get("organizationId")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(TenantError::Missing("the profile has no organizationId"))
}

fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "transport error"
    }
}
