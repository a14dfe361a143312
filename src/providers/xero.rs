//! Xero (`identity.xero.com`): OpenID Connect, refresh tokens that rotate on every use,
//! tenants.

use super::*;

pub(super) fn preset(env: Deployment) -> ProviderPreset {
    // Xero has no separate sandbox; a demo company is used with the same endpoints.
    ProviderPreset {
        provider: Provider::Xero,
        deployment: env,
        issuer: "https://identity.xero.com",
        discovery: DiscoverySource::Standard,
        endpoints: PresetEndpoints {
            authorization: Some("https://login.xero.com/identity/connect/authorize"),
            token: Some("https://identity.xero.com/connect/token"),
            revocation: Some("https://identity.xero.com/connect/revocation"),
            userinfo: Some("https://identity.xero.com/connect/userinfo"),
            jwks: Some("https://identity.xero.com/.well-known/openid-configuration/jwks"),
            device_authorization: None,
        },
        client_auth: ClientAuthMethod::None,
        scopes: vec!["openid", "profile", "email", "offline_access"],
        known_scopes: vec![
            "openid",
            "profile",
            "email",
            "offline_access",
            "accounting.settings",
            "accounting.settings.read",
            "accounting.transactions",
            "accounting.transactions.read",
            "accounting.contacts",
            "accounting.contacts.read",
        ],
        extra_authorize_params: Vec::new(),
        api: Some(ApiPreset {
            base: "https://api.xero.com/api.xro/2.0",
            rate_limit: Some(RateLimit {
                per_second: 1.0,
                burst: 5,
            }),
            error_format: ApiErrorFormat::Xero,
            identity_path: Some("Organisation"),
        }),
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
            access_token_lifetime: Some(Duration::from_secs(1800)),
            refresh_token_idle_lifetime: Some(Duration::from_secs(60 * 86_400)),
            notes: vec![
                "public PKCE clients have no secret (client_auth = \"none\"); web apps use Basic",
                "offline_access is needed for a refresh token; refresh tokens rotate on every use with a 30-minute grace",
                "after login, GET https://api.xero.com/connections lists the tenants; every API call sends xero-tenant-id",
            ],
            ..Quirks::default()
        },
    }
}
