//! A local sandbox issuer: an in-process OpenID provider that behaves like lexoffice
//! (or, with another [`SandboxProfile`], like DATEV, Xero or QuickBooks Online).
//!
//! The sandbox is a real HTTP server on loopback (port 0 by default) with an authorize
//! endpoint (auto-consent or an interactive HTML page), a token endpoint (authorization
//! code with PKCE, refresh with rotation and reuse detection, and in
//! [`SandboxProfile::Oidc`] the device authorization grant of RFC 8628), revocation, userinfo,
//! introspection, a JWKS with key rotation, and the two lexoffice API endpoints
//! `/v1/profile` and `/v1/contacts` with lexoffice's rate limit and error shapes.
//! The device authorization grant (RFC 8628) is offered where the imitated provider has
//! a device authorization endpoint: in [`SandboxProfile::Oidc`] (none of the real
//! providers publishes one); [`Sandbox::approve_device`] and [`Sandbox::deny_device`]
//! stand in for the user on the verification page.
//! Faults (server errors, hangs, broken JSON) and clock skew can be injected.
//!
//! A [`SandboxProfile`] names the provider imitated ([`SandboxProfile::provider`]); what
//! the sandbox then does is read from that provider's preset
//! ([`lexoffice_login::providers::Provider::preset`], production environment), the one
//! source of provider facts: access token lifetime, refresh token rotation and grace,
//! idle expiry, PKCE and `nonce` requirements, the discovery path, the revocation body,
//! redirect parameters (`realmId`), answered token request headers, the form of `aud`,
//! endpoints on a second host and the known scopes. [`SandboxProfile::Oidc`] is a
//! generic OpenID provider that also serves the lexoffice API routes. The provider APIs'
//! data (DATEV clients, Xero tenants, the QuickBooks company, the lexoffice profile and
//! contacts) are sandbox fixtures. [`Stats::requests`] counts requests per
//! [`SandboxRoute`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), lexoffice_login_sandbox::SandboxError> {
//! use lexoffice_login_sandbox::{SandboxProfile, Sandbox};
//! let sandbox = Sandbox::builder().profile(SandboxProfile::Lexoffice).start().await?;
//! println!("issuer {}", sandbox.issuer());
//! println!("token endpoint {}", sandbox.url("/oauth2/token"));
//! # Ok(()) }
//! ```
//!
//! Routes (same paths in every [`SandboxProfile`]; "where the preset says" means the
//! imitated provider's preset):
//!
//! | method | path | |
//! |---|---|---|
//! | GET | `/.well-known/openid-configuration` | discovery (404 where the preset's discovery is `None` or `At` another path: [`SandboxProfile::Lexoffice`], [`SandboxProfile::QuickBooks`]) |
//! | GET | `/.well-known/openid_configuration` | discovery at the preset's `DiscoverySource::At` path ([`SandboxProfile::QuickBooks`] only) |
//! | GET | `/oauth2/jwks` | public signing keys |
//! | GET | `/oauth2/authorize` | authorization request |
//! | POST | `/oauth2/authorize/decision` | form of the interactive consent page |
//! | POST | `/oauth2/token` | token endpoint (grants `authorization_code`, `refresh_token`; `urn:ietf:params:oauth:grant-type:device_code` where the device flow is offered) |
//! | POST | `/oauth2/device_authorization` | RFC 8628 device authorization request (where the device flow is offered: [`SandboxProfile::Oidc`]; 404 elsewhere) |
//! | GET | `/oauth2/device` | device flow verification page (`?user_code=…`; a form to type the code without it; auto-consent approves at once) |
//! | POST | `/oauth2/device/decision` | form of the interactive verification page |
//! | POST | `/oauth2/revoke` | RFC 7009 revocation (JSON body where the preset says `RevocationBody::Json`: [`SandboxProfile::QuickBooks`]) |
//! | GET | `/oauth2/userinfo` | OIDC userinfo |
//! | POST | `/oauth2/introspect` | RFC 7662 introspection |
//! | GET | `/v1/profile` | lexoffice profile (scope `profile.read`; [`SandboxProfile::Oidc`], [`SandboxProfile::Lexoffice`]) |
//! | GET | `/v1/contacts` | lexoffice contacts, paged (scope `contacts.read`; [`SandboxProfile::Oidc`], [`SandboxProfile::Lexoffice`]) |
//! | POST, GET | `/v1/event-subscriptions` | lexoffice event subscriptions: create `{eventType, callbackUrl}`, list (scope `profile.read`; [`SandboxProfile::Oidc`], [`SandboxProfile::Lexoffice`]); deliveries signed with [`Sandbox::webhook_public_key_pem`]'s key by [`Sandbox::emit_lexoffice_event`] |
//! | GET, DELETE | `/v1/event-subscriptions/{id}` | one event subscription, or delete it |
//! | GET | `/datev/api/clients` | DATEV clients (scope `datev:accounting:clients`, header `X-DATEV-Client-Id`) |
//! | GET | `/connections` | Xero tenants of the login |
//! | GET | `/api.xro/2.0/Organisation` | Xero organisation (header `xero-tenant-id`, scope `accounting.settings[.read]`) |
//! | GET | `/v3/company/{realmId}/companyinfo/{realmId}` | QuickBooks company (scope `com.intuit.quickbooks.accounting`) |
//!
//! Where the preset's endpoints are on another host ([`SandboxProfile::Datev`]) the jwks, token, revoke, userinfo and introspect routes (and the device authorization route, where offered) and the
//! DATEV API are served only on the second host ([`Sandbox::second_host_url`]); the
//! issuer host serves discovery and authorize. The provider API routes answer only in
//! their profile (404 elsewhere) and have no rate limit.
//!
//! The RSA keys used for RS256 are fixed PUBLIC TEST KEYS shipped with the source: the
//! sandbox is for tests and local development only.

mod behaviour;
mod builder;
mod config;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod html;
mod keys;
mod login;
mod routes;
mod state;
mod stats;
mod webhooks;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use builder::SandboxBuilder;
pub use config::{
    ClientAuth, Fault, SandboxClient, SandboxProfile, SandboxTenant, TestUser, DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URI,
};
pub use login::{auto_consent_login, follow_authorization};
pub use stats::{SandboxRoute, Stats};
pub use webhooks::{
    IntentToReceive, SandboxLexofficeEvent, WebhookDelivery, LEXOFFICE_SIGNATURE_HEADER,
    XERO_SIGNATURE_HEADER,
};

use state::{lock, Shared};

/// The OpenID Connect scopes the sandbox knows in [`SandboxProfile::Oidc`] and
/// [`SandboxProfile::Lexoffice`] (next to the lexoffice preset's scopes).
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The absolute lifetime of a QuickBooks login (5 years), reported as
/// `x_refresh_token_hard_expires_in` when the token request asks for it.
pub const QUICKBOOKS_REFRESH_TOKEN_HARD_LIFETIME: i64 = 5 * 365 * 86_400;

/// The scopes the sandbox knows in `profile` (its `scopes_supported`): the preset's
/// `known_scopes`; in [`SandboxProfile::Oidc`] and [`SandboxProfile::Lexoffice`] also
/// [`OIDC_SCOPES`].
pub fn profile_scopes(profile: SandboxProfile) -> Vec<&'static str> {
    behaviour::Behaviour::of(profile).known_scopes
}

/// Errors starting the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Binding or inspecting the listening socket failed.
    #[error("sandbox: cannot listen on 127.0.0.1: {0}")]
    Io(#[from] std::io::Error),
    /// The builder settings are inconsistent.
    #[error("sandbox: invalid configuration: {0}")]
    Config(String),
    /// A signing key could not be made or used.
    #[error("sandbox: signing key: {0}")]
    Key(String),
}

impl From<jsonwebtoken::errors::Error> for SandboxError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        SandboxError::Key(e.to_string())
    }
}

/// RFC 7662 introspection result, as served by `POST /oauth2/introspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Introspection {
    /// Whether the token is currently usable.
    pub active: bool,
    /// Space-separated granted scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Expiry (Unix seconds, sandbox clock); absent for refresh tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time (Unix seconds, sandbox clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// `"Bearer"` for access tokens, `"refresh_token"` for refresh tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
}

impl Introspection {
    pub(crate) fn inactive() -> Self {
        Self {
            active: false,
            scope: None,
            client_id: None,
            sub: None,
            exp: None,
            iat: None,
            token_type: None,
        }
    }
}

/// A running sandbox issuer. It stops when dropped (or with [`Sandbox::shutdown`]).
pub struct Sandbox {
    shared: Arc<Shared>,
    base: url::Url,
    second_base: Option<url::Url>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    second_task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("issuer", &self.shared.issuer)
            .field("profile", &self.shared.config.profile)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// A builder with the defaults (see [`SandboxBuilder`]).
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// The issuer, `http://127.0.0.1:PORT` without a trailing slash; equals the `iss`
    /// claim and the discovery `issuer`.
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The issuer joined with `path` (e.g. `"/oauth2/token"`). An unparsable path gives
    /// the issuer URL itself.
    pub fn url(&self, path: &str) -> url::Url {
        self.base.join(path).unwrap_or_else(|_| self.base.clone())
    }

    /// The second host, `http://localhost:PORT` without a trailing slash, in profiles
    /// that serve their endpoints on a host other than the issuer's
    /// ([`SandboxProfile::Datev`]); `None` in the others.
    pub fn second_host(&self) -> Option<&str> {
        self.shared.second_host.as_deref()
    }

    /// The second host joined with `path` (e.g. `"/oauth2/token"`); `None` without a
    /// second host. An unparsable path gives the second host's URL itself.
    pub fn second_host_url(&self, path: &str) -> Option<url::Url> {
        self.second_base
            .as_ref()
            .map(|b| b.join(path).unwrap_or_else(|_| b.clone()))
    }

    /// `path` on the host that serves token, revocation, userinfo, introspection, JWKS
    /// and the provider API: the second host in [`SandboxProfile::Datev`], the issuer
    /// elsewhere. `sandbox.endpoint_url("/oauth2/token")` is the token endpoint in every
    /// profile.
    pub fn endpoint_url(&self, path: &str) -> url::Url {
        self.second_host_url(path).unwrap_or_else(|| self.url(path))
    }

    /// The Xero tenants the first test user (the one auto-consent logs in) is connected
    /// to after a login in [`SandboxProfile::Xero`]: their company and a demo company.
    pub fn tenants(&self) -> Vec<SandboxTenant> {
        self.users()
            .first()
            .map(config::tenants_of)
            .unwrap_or_default()
    }

    /// The QuickBooks company id (`realmId`) of the first test user, sent with the
    /// redirect in [`SandboxProfile::QuickBooks`] (empty if there are no users).
    pub fn realm_id(&self) -> String {
        self.users()
            .first()
            .map(config::realm_of)
            .unwrap_or_default()
    }

    /// The lexoffice API base, `{issuer}/v1`.
    pub fn api_base(&self) -> url::Url {
        self.url("/v1")
    }

    /// The profile the sandbox runs.
    pub fn profile(&self) -> SandboxProfile {
        self.shared.config.profile
    }

    fn default_client(&self) -> Option<&SandboxClient> {
        self.shared.config.clients.first()
    }

    /// The id of the default (first registered) client.
    pub fn client_id(&self) -> &str {
        self.default_client().map(|c| c.id.as_str()).unwrap_or("")
    }

    /// The secret of the default client (`None` for a public client).
    pub fn client_secret(&self) -> Option<&str> {
        self.default_client().and_then(|c| c.secret.as_deref())
    }

    /// The first redirect URI of the default client.
    pub fn redirect_uri(&self) -> &str {
        self.default_client()
            .and_then(|c| c.redirect_uris.first())
            .map(String::as_str)
            .unwrap_or(DEFAULT_REDIRECT_URI)
    }

    /// All registered clients.
    pub fn clients(&self) -> &[SandboxClient] {
        &self.shared.config.clients
    }

    /// The test users; auto-consent logs in the first.
    pub fn users(&self) -> &[TestUser] {
        &self.shared.config.users
    }

    /// Starts signing with a new key (new `kid`). The old public key stays in the JWKS
    /// until the rotation after this one.
    pub fn rotate_keys(&self) {
        if let Err(e) = lock(&self.shared.keys).rotate() {
            tracing::error!(error = %e, "sandbox: key rotation failed");
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// The next `n` requests to the token endpoint fail with `fault` (queued after
    /// faults injected earlier).
    pub fn inject_token_faults(&self, n: u32, fault: Fault) {
        if n > 0 {
            lock(&self.shared.faults).push_back((n, fault));
        }
    }

    /// Sets the sandbox clock to real time plus `secs`. It dates everything the sandbox
    /// issues (`iat`, `exp`, `auth_time`) and drives its own expiry checks.
    pub fn set_clock_offset(&self, secs: i64) {
        self.shared.clock_offset.store(secs, Ordering::Relaxed);
    }

    /// Approves the device authorization (RFC 8628) with this user code for the first
    /// test user, as if they had confirmed it on the verification page; the device's
    /// next token poll gets the tokens. The code is compared like on the page: case
    /// does not matter and the dash is optional (`"bcdf-ghjk"` is `"BCDFGHJK"`).
    ///
    /// Returns `false` (and changes nothing) if the code is unknown, expired or already
    /// approved, denied or used.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use lexoffice_login_sandbox::Sandbox;
    ///
    /// let sandbox = Sandbox::builder()
    ///     .device_poll_interval(Duration::ZERO)
    ///     .start()
    ///     .await?;
    /// let http = reqwest::Client::new();
    /// let started: serde_json::Value = http
    ///     .post(sandbox.url("/oauth2/device_authorization"))
    ///     .basic_auth(sandbox.client_id(), sandbox.client_secret())
    ///     .form(&[("scope", "openid offline_access")])
    ///     .send()
    ///     .await?
    ///     .json()
    ///     .await?;
    /// // What the user would do at `verification_uri`:
    /// assert!(sandbox.approve_device(started["user_code"].as_str().unwrap_or_default()));
    /// let tokens: serde_json::Value = http
    ///     .post(sandbox.url("/oauth2/token"))
    ///     .basic_auth(sandbox.client_id(), sandbox.client_secret())
    ///     .form(&[
    ///         ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
    ///         ("device_code", started["device_code"].as_str().unwrap_or_default()),
    ///     ])
    ///     .send()
    ///     .await?
    ///     .json()
    ///     .await?;
    /// assert!(tokens["refresh_token"].is_string());
    /// # Ok(()) }
    /// ```
    pub fn approve_device(&self, user_code: &str) -> bool {
        match self.shared.config.users.first() {
            Some(user) => self.shared.decide_device(user_code, Some(&user.sub)),
            None => false,
        }
    }

    /// Denies the device authorization with this user code: the device's next token
    /// poll gets `access_denied`. Returns `false` like [`Sandbox::approve_device`].
    pub fn deny_device(&self, user_code: &str) -> bool {
        self.shared.decide_device(user_code, None)
    }

    /// Whether authorization responses carry `iss` (RFC 9207).
    pub fn set_send_iss(&self, on: bool) {
        self.shared.send_iss.store(on, Ordering::Relaxed);
    }

    /// In-process introspection of an access or refresh token; `None` if the sandbox
    /// never issued it.
    pub fn introspect(&self, token: &str) -> Option<Introspection> {
        self.shared.introspect(token)
    }

    /// Stops the server: in-flight requests get a few seconds to finish (hanging fault
    /// requests are cut short), then the server task is aborted.
    pub async fn shutdown(mut self) {
        self.signal_stop();
        for task in [self.task.take(), self.second_task.take()]
            .into_iter()
            .flatten()
        {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    fn signal_stop(&mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Graceful: the server task ends once open connections are closed.
        self.signal_stop();
    }
}

/// The README's examples, compiled as doc tests so that they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
