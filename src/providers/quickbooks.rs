//! QuickBooks Online (Intuit): OpenID Connect with a non-standard discovery path, a
//! JSON revocation body and the company id on the redirect.

use super::*;

/// `x_refresh_token_expires_in`: Intuit documents 100 days, rolling; its token answers
/// say 8,726,400 s (101 days).
const REFRESH_TOKEN_IDLE_LIFETIME: Duration = Duration::from_secs(8_726_400);

pub(super) fn preset(env: Deployment) -> ProviderPreset {
    let (discovery, api) = match env {
        Deployment::Production => (
            "https://developer.api.intuit.com/.well-known/openid_configuration",
            "https://quickbooks.api.intuit.com/v3",
        ),
        Deployment::Sandbox => (
            "https://developer.api.intuit.com/.well-known/openid_sandbox_configuration",
            "https://sandbox-quickbooks.api.intuit.com/v3",
        ),
    };
    ProviderPreset {
        provider: Provider::QuickBooks,
        deployment: env,
        issuer: "https://oauth.platform.intuit.com/op/v1",
        discovery: DiscoverySource::At(discovery),
        endpoints: PresetEndpoints {
            authorization: Some("https://appcenter.intuit.com/connect/oauth2"),
            token: Some("https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"),
            revocation: Some("https://developer.api.intuit.com/v2/oauth2/tokens/revoke"),
            userinfo: None,
            jwks: Some("https://oauth.platform.intuit.com/op/v1/jwks"),
            device_authorization: None,
        },
        client_auth: ClientAuthMethod::ClientSecretBasic,
        scopes: vec!["openid", "profile", "email", "com.intuit.quickbooks.accounting"],
        known_scopes: vec![
            "com.intuit.quickbooks.accounting",
            "com.intuit.quickbooks.payment",
            "openid",
            "profile",
            "email",
            "phone",
            "address",
        ],
        extra_authorize_params: Vec::new(),
        api: Some(ApiPreset {
            base: api,
            rate_limit: Some(RateLimit {
                per_second: 8.0,
                burst: 10,
            }),
            error_format: ApiErrorFormat::Intuit,
            identity_path: None,
        }),
        quirks: Quirks {
            revocation_body: RevocationBody::Json,
            // No PKCE evidence; sent anyway.
            pkce: Pkce::Optional,
            token_request_headers: vec![("x-include-refresh-token-hard-expires-in", "true")],
            callback_params: vec!["realmId"],
            rotation: Rotation::Periodic {
                period: Duration::from_secs(24 * 60 * 60),
                // The replaced one then fails with invalid_grant (one SDK README reports
                // about 24 h of grace: unconfirmed, so none is assumed).
                grace: Duration::ZERO,
            },
            access_token_lifetime: Some(Duration::from_secs(3600)),
            refresh_token_idle_lifetime: Some(REFRESH_TOKEN_IDLE_LIFETIME),
            id_token_audience: AudienceForm::Array,
            id_token_algs: Some(&["RS256"]),
            // Intuit's published discovery documents list only openid, email, profile,
            // address and phone.
            listed_scopes: ListedScopes::OpenIdConnectOnly,
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
