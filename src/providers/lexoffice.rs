//! lexoffice / Lexware Office Partner API: static endpoints, no OpenID Connect.

use super::*;

pub(super) fn preset(env: Deployment) -> ProviderPreset {
    let (host, api) = match env {
        Deployment::Production => ("https://app.lexware.de", "https://api.lexware.io/v1"),
        Deployment::Sandbox => (
            "https://app.lexware-sandbox.de",
            "https://api.lexware-sandbox.io/v1",
        ),
    };
    let (authorize, token, revoke) = match env {
        Deployment::Production => (
            "https://app.lexware.de/oauth2/authorize",
            "https://app.lexware.de/oauth2/token",
            "https://app.lexware.de/oauth2/revoke",
        ),
        Deployment::Sandbox => (
            "https://app.lexware-sandbox.de/oauth2/authorize",
            "https://app.lexware-sandbox.de/oauth2/token",
            "https://app.lexware-sandbox.de/oauth2/revoke",
        ),
    };
    ProviderPreset {
        provider: Provider::Lexoffice,
        deployment: env,
        issuer: host,
        discovery: DiscoverySource::None,
        endpoints: PresetEndpoints {
            authorization: Some(authorize),
            token: Some(token),
            revocation: Some(revoke),
            userinfo: None,
            jwks: None,
            device_authorization: None,
        },
        client_auth: ClientAuthMethod::ClientSecretBasic,
        scopes: vec!["profile.read", "contacts.read", "vouchers.read", "files.read"],
        // The typed scopes (crate::Scope) are the one list of lexoffice scope names.
        known_scopes: crate::scope::Scope::lexoffice_names().collect(),
        extra_authorize_params: vec![("connection_name", "lexoffice-login")],
        api: Some(ApiPreset {
            base: api,
            rate_limit: Some(RateLimit {
                per_second: 2.0,
                burst: 2,
            }),
            error_format: ApiErrorFormat::Lexoffice,
            identity_path: Some("profile"),
        }),
        quirks: Quirks {
            // No production integration sends PKCE; it is sent anyway (harmless).
            pkce: Pkce::Optional,
            access_token_lifetime: Some(Duration::from_secs(3600)),
            notes: vec![
                "no OpenID Connect discovery and no ID tokens: endpoints are static and `openid` is not requested",
                "client authentication is HTTP Basic; PKCE is sent although lexoffice does not document it",
                "the API allows 2 requests per second per app; 429 carries no Retry-After",
            ],
            ..Quirks::default()
        },
    }
}
