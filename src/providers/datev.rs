//! DATEV (`login.datev.de`): OpenID Connect with its endpoints on another host.

use super::*;

pub(super) fn preset(env: Deployment) -> ProviderPreset {
    let issuer = match env {
        Deployment::Production => "https://login.datev.de/openid",
        Deployment::Sandbox => "https://login.datev.de/openidsandbox",
    };
    let (authorize, token, revoke, userinfo, jwks) = match env {
        Deployment::Production => (
            "https://login.datev.de/openid/authorize",
            "https://api.datev.de/token",
            "https://api.datev.de/revoke",
            "https://api.datev.de/userinfo",
            "https://api.datev.de/certs",
        ),
        Deployment::Sandbox => (
            "https://login.datev.de/openidsandbox/authorize",
            "https://sandbox-api.datev.de/token",
            "https://sandbox-api.datev.de/revoke",
            "https://sandbox-api.datev.de/userinfo",
            "https://sandbox-api.datev.de/certs",
        ),
    };
    ProviderPreset {
        provider: Provider::Datev,
        deployment: env,
        issuer,
        discovery: DiscoverySource::Standard,
        endpoints: PresetEndpoints {
            authorization: Some(authorize),
            token: Some(token),
            revocation: Some(revoke),
            userinfo: Some(userinfo),
            jwks: Some(jwks),
            device_authorization: None,
        },
        client_auth: ClientAuthMethod::ClientSecretBasic,
        scopes: vec!["openid", "profile", "email", "account_id", "offline_access"],
        known_scopes: vec![
            "openid",
            "profile",
            "email",
            "account_id",
            "offline_access",
            "datev:accounting:clients",
            "accounting:documents",
        ],
        extra_authorize_params: vec![("enableWindowsSso", "true")],
        // DATEV's API base differs per product; none is assumed.
        api: None,
        quirks: Quirks {
            nonce_required: true,
            id_token_algs: Some(&["RS256"]),
            discovery_omits_capabilities: true,
            api_headers: vec![("X-DATEV-Client-Id", HeaderValue::ClientId)],
            // ~15 min (unconfirmed).
            access_token_lifetime: Some(Duration::from_secs(900)),
            notes: vec![
                "token, revocation, userinfo and JWKS live on api.datev.de, not on the issuer's host",
                "nonce is mandatory, so `openid` must stay in the scopes",
                "enableWindowsSso=true is required for the \"Login mit DATEV\" certification",
                "the discovery document omits scopes_supported, code_challenge_methods_supported and token_endpoint_auth_methods_supported",
                "every API call needs the X-DATEV-Client-Id header",
                "DATEV's API base depends on the product: set `api_base` to use `whoami --api`",
            ],
            ..Quirks::default()
        },
    }
}
