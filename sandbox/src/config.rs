//! Configuration types of the sandbox: profile, clients, users, faults.

use lexoffice_login::providers::Provider;

/// Which provider the sandbox imitates. Its behaviour (token lifetimes, rotation,
/// PKCE, nonce, discovery path, revocation body, redirect parameters, `aud` form,
/// second host, scopes) comes from the provider's preset
/// ([`Provider::preset`], production environment); see [`SandboxProfile::provider`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SandboxProfile {
    /// A standard OpenID provider: discovery document, JWKS, ID tokens, PKCE required.
    #[default]
    Oidc,
    /// Mirrors the real lexoffice Partner API (see `PROVIDERS.md`): no discovery document
    /// (404), client authentication with HTTP Basic only, lexoffice scope names, a refresh
    /// token with every grant, no ID token unless `openid` is asked for, PKCE optional.
    Lexoffice,
    /// Mirrors DATEV (`login.datev.de`): the discovery document lacks
    /// `scopes_supported`, `code_challenge_methods_supported` and
    /// `token_endpoint_auth_methods_supported`; token, revocation, userinfo, JWKS and the
    /// API live on a second host (`http://localhost:PORT`, see
    /// [`Sandbox::second_host`]) while authorize stays on the issuer host; PKCE S256 and a
    /// `nonce` are required; confidential clients with `client_secret_basic` only; the
    /// `enableWindowsSso` parameter is accepted; the API (`GET /datev/api/clients`)
    /// requires the `X-DATEV-Client-Id` header. Access tokens live 900 s by default.
    ///
    /// [`Sandbox::second_host`]: super::Sandbox::second_host
    Datev,
    /// Mirrors Xero (`identity.xero.com`): the default client is a public PKCE client
    /// (`none`); a refresh token only with `offline_access`; access tokens live 1800 s;
    /// refresh tokens rotate on every use and the old one keeps working for a 30-minute
    /// grace period; unused refresh tokens expire after 60 days; `GET /connections`
    /// lists the tenants, `GET /api.xro/2.0/Organisation` requires a `xero-tenant-id`
    /// header naming one of them; revoking a refresh token removes the connections.
    Xero,
    /// Mirrors QuickBooks Online (Intuit): discovery only at the non-standard
    /// `/.well-known/openid_configuration`; the redirect carries `realmId`; ID tokens have
    /// `aud` as an array plus `azp`; revocation takes a JSON body `{"token": …}`; token
    /// answers carry `x_refresh_token_expires_in` (an unused refresh token stops working
    /// after that long) and, on request, `x_refresh_token_hard_expires_in`; the refresh token value changes only once it is 24 hours old (the
    /// replaced one then fails); a refresh token with every grant; PKCE optional;
    /// confidential clients with `client_secret_basic` only; access tokens live 3600 s.
    QuickBooks,
}

impl SandboxProfile {
    /// The provider this profile imitates; `None` for [`SandboxProfile::Oidc`] (a
    /// generic OpenID provider).
    pub fn provider(self) -> Option<Provider> {
        match self {
            SandboxProfile::Oidc => None,
            SandboxProfile::Lexoffice => Some(Provider::Lexoffice),
            SandboxProfile::Datev => Some(Provider::Datev),
            SandboxProfile::Xero => Some(Provider::Xero),
            SandboxProfile::QuickBooks => Some(Provider::QuickBooks),
        }
    }

    /// The profile that imitates `provider`.
    pub fn from_provider(provider: Provider) -> SandboxProfile {
        match provider {
            Provider::Lexoffice => SandboxProfile::Lexoffice,
            Provider::Datev => SandboxProfile::Datev,
            Provider::Xero => SandboxProfile::Xero,
            Provider::QuickBooks => SandboxProfile::QuickBooks,
        }
    }
}

/// How a client authenticates at the token, revocation and introspection endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Public client (`none`): only `client_id` in the form body, no secret.
    None,
    /// `client_secret_basic`: HTTP Basic `client_id:client_secret`.
    ClientSecretBasic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl ClientAuth {
    /// The name used in discovery metadata (`token_endpoint_auth_methods_supported`).
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::ClientSecretBasic => "client_secret_basic",
            ClientAuth::ClientSecretPost => "client_secret_post",
        }
    }
}

/// The redirect URI of the default client.
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";
/// The client id of the default client.
pub const DEFAULT_CLIENT_ID: &str = "lexoffice-login-sandbox";
/// The client secret of the default client (a public test value).
pub const DEFAULT_CLIENT_SECRET: &str = "sandbox-secret";

/// A client registered at the sandbox.
///
/// ```
/// use lexoffice_login_sandbox::{ClientAuth, SandboxClient};
/// let c = SandboxClient::public("my-cli")
///     .redirect_uri("http://127.0.0.1:9000/cb")
///     .allow_any_loopback_port(true);
/// assert_eq!(c.id(), "my-cli");
/// assert_eq!(c.auth(), ClientAuth::None);
/// ```
#[derive(Debug, Clone)]
pub struct SandboxClient {
    pub(crate) id: String,
    pub(crate) secret: Option<String>,
    pub(crate) auth: ClientAuth,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) any_loopback_port: bool,
}

impl SandboxClient {
    /// A confidential client using `client_secret_basic`.
    pub fn confidential(id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            secret: Some(secret.into()),
            auth: ClientAuth::ClientSecretBasic,
            redirect_uris: Vec::new(),
            any_loopback_port: true,
        }
    }

    /// A public client (no secret, token endpoint auth method `none`).
    pub fn public(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            secret: None,
            auth: ClientAuth::None,
            redirect_uris: Vec::new(),
            any_loopback_port: true,
        }
    }

    /// Sets the client authentication method.
    pub fn auth_method(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Registers a redirect URI (call several times for several). A client without any
    /// gets [`DEFAULT_REDIRECT_URI`].
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uris.push(uri.into());
        self
    }

    /// RFC 8252 section 7.3: accept a registered `http://127.0.0.1/...` (or `[::1]`,
    /// `localhost`) redirect URI with any port. Default `true`.
    pub fn allow_any_loopback_port(mut self, on: bool) -> Self {
        self.any_loopback_port = on;
        self
    }

    /// The client id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The client secret, if confidential.
    pub fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }

    /// The client authentication method.
    pub fn auth(&self) -> ClientAuth {
        self.auth
    }

    /// The registered redirect URIs.
    pub fn redirect_uris(&self) -> &[String] {
        &self.redirect_uris
    }

    /// The default client: `lexoffice-login-sandbox` / `sandbox-secret`,
    /// `client_secret_basic`, redirect URI [`DEFAULT_REDIRECT_URI`], any loopback port.
    pub fn default_client() -> Self {
        Self::confidential(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            .redirect_uri(DEFAULT_REDIRECT_URI)
    }
}

/// A user of the sandbox. Auto-consent logs in the first registered user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestUser {
    /// Subject identifier (`sub` claim).
    pub sub: String,
    /// Display name (`name` claim, `created.userName` in `/v1/profile`).
    pub name: String,
    /// E-mail address (`email` claim).
    pub email: String,
    /// lexoffice organization id (`/v1/profile` `organizationId`).
    pub organization_id: String,
    /// Company name (`/v1/profile` `companyName`).
    pub company_name: String,
}

impl TestUser {
    /// A user with the given subject, name and e-mail; the organization id is derived
    /// from `sub` and the company is called "`name` Test Company".
    pub fn new(sub: impl Into<String>, name: impl Into<String>, email: impl Into<String>) -> Self {
        let sub = sub.into();
        let name = name.into();
        let organization_id = derived_uuid(&sub);
        let company_name = format!("{name} Test Company");
        Self {
            sub,
            name,
            email: email.into(),
            organization_id,
            company_name,
        }
    }

    /// Sets the organization id and company name.
    pub fn company(
        mut self,
        organization_id: impl Into<String>,
        company_name: impl Into<String>,
    ) -> Self {
        self.organization_id = organization_id.into();
        self.company_name = company_name.into();
        self
    }

    /// The default users: `sandbox-user-1` "Sandra Sandbox" (Sandbox GmbH) and
    /// `sandbox-user-2` "Max Mustermann" (Mustermann & Söhne KG).
    pub fn defaults() -> Vec<TestUser> {
        vec![
            TestUser::new("sandbox-user-1", "Sandra Sandbox", "sandra@example.test")
                .company("5c9f2d1e-0000-4000-8000-000000000001", "Sandbox GmbH"),
            TestUser::new("sandbox-user-2", "Max Mustermann", "max@example.test").company(
                "5c9f2d1e-0000-4000-8000-000000000002",
                "Mustermann & Söhne KG",
            ),
        ]
    }
}

/// A Xero organisation (tenant) as listed by the sandbox's `GET /connections` in
/// [`SandboxProfile::Xero`] (see [`Sandbox::tenants`]).
///
/// [`Sandbox::tenants`]: super::Sandbox::tenants
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxTenant {
    /// The tenant id, the value of the `xero-tenant-id` header.
    pub tenant_id: String,
    /// The organisation's name.
    pub tenant_name: String,
    /// Always `"ORGANISATION"` in the sandbox.
    pub tenant_type: String,
}

/// The Xero tenants a user can connect: the user's company and a demo company.
pub(crate) fn tenants_of(user: &TestUser) -> Vec<SandboxTenant> {
    vec![
        SandboxTenant {
            tenant_id: derived_uuid(&format!("xero-tenant-{}", user.organization_id)),
            tenant_name: user.company_name.clone(),
            tenant_type: "ORGANISATION".into(),
        },
        SandboxTenant {
            tenant_id: derived_uuid(&format!("xero-demo-{}", user.sub)),
            tenant_name: "Demo Company (Global)".into(),
            tenant_type: "ORGANISATION".into(),
        },
    ]
}

/// The QuickBooks company id (`realmId`) of a user: 16 digits derived from the
/// organization id.
pub(crate) fn realm_of(user: &TestUser) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("realm-{}", user.organization_id).as_bytes());
    let mut n: u64 = 0;
    for b in d.iter().take(8) {
        n = (n << 8) | u64::from(*b);
    }
    (9_130_000_000_000_000u64 + n % 1_000_000_000_000).to_string()
}

/// A UUID-shaped, deterministic identifier derived from `seed`.
pub(crate) fn derived_uuid(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(seed.as_bytes());
    let h: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// A failure injected into the token endpoint with [`Sandbox::inject_token_faults`].
///
/// [`Sandbox::inject_token_faults`]: super::Sandbox::inject_token_faults
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `500 Internal Server Error` with an HTML body.
    ServerError,
    /// No answer for 60 seconds, then `504 Gateway Timeout`.
    Hang,
    /// `200 OK`, `Content-Type: application/json`, body truncated mid-object.
    MalformedJson,
}
