//! Request counters of the sandbox.

use std::collections::HashMap;

/// The sandbox's HTTP endpoints, for [`Stats::requests`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SandboxRoute {
    /// `GET /.well-known/openid-configuration`.
    Discovery,
    /// `GET /oauth2/jwks`.
    Jwks,
    /// `GET /oauth2/authorize` and `POST /oauth2/authorize/decision`.
    Authorize,
    /// `POST /oauth2/token`.
    Token,
    /// `POST /oauth2/device_authorization` (RFC 8628; where the device flow is offered).
    DeviceAuthorization,
    /// `GET /oauth2/device` and `POST /oauth2/device/decision`: the device flow's
    /// verification page and its form.
    Device,
    /// `POST /oauth2/revoke`.
    Revoke,
    /// `GET /oauth2/userinfo`.
    Userinfo,
    /// `POST /oauth2/introspect`.
    Introspect,
    /// `GET /v1/profile`.
    Profile,
    /// `GET /v1/contacts`.
    Contacts,
    /// `GET /datev/api/clients` ([`SandboxProfile::Datev`](super::SandboxProfile::Datev)).
    DatevClients,
    /// `GET /connections` ([`SandboxProfile::Xero`](super::SandboxProfile::Xero)).
    XeroConnections,
    /// `GET /api.xro/2.0/Organisation` ([`SandboxProfile::Xero`](super::SandboxProfile::Xero)).
    XeroOrganisation,
    /// `GET /v3/company/{realmId}/companyinfo/{realmId}`
    /// ([`SandboxProfile::QuickBooks`](super::SandboxProfile::QuickBooks)).
    QuickBooksCompanyInfo,
}

/// A snapshot of the sandbox's counters (see [`Sandbox::stats`]).
///
/// [`Sandbox::stats`]: super::Sandbox::stats
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub(crate) requests: HashMap<SandboxRoute, u64>,
    pub(crate) grants: HashMap<String, u64>,
    pub(crate) refresh_reuse_detected: u64,
    pub(crate) rate_limited: u64,
    pub(crate) authorize_params: HashMap<String, u64>,
    pub(crate) authorize_param_values: HashMap<String, String>,
}

impl Stats {
    /// Requests received by `endpoint` (all of them, failed ones included).
    pub fn requests(&self, endpoint: SandboxRoute) -> u64 {
        self.requests.get(&endpoint).copied().unwrap_or(0)
    }

    /// Successful token grants of the given `grant_type` (e.g. `"authorization_code"`,
    /// `"refresh_token"`; `"device_code"` for
    /// `urn:ietf:params:oauth:grant-type:device_code`).
    pub fn token_grants(&self, grant: &str) -> u64 {
        self.grants.get(grant).copied().unwrap_or(0)
    }

    /// How often an already rotated refresh token was presented after its grace period.
    pub fn refresh_reuse_detected(&self) -> u64 {
        self.refresh_reuse_detected
    }

    /// How many `/v1` requests were answered with `429`.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited
    }

    /// How many `GET /oauth2/authorize` requests carried the parameter `name` (with a
    /// non-empty value), e.g. DATEV's `"enableWindowsSso"`.
    pub fn authorize_params_seen(&self, name: &str) -> u64 {
        self.authorize_params.get(name).copied().unwrap_or(0)
    }

    /// The last value of a non-protocol authorize parameter (such as
    /// `enableWindowsSso` or `connection_name`). Protocol parameters (`state`, `nonce`,
    /// `code_challenge`, …) and parameters whose name suggests a secret (containing
    /// `secret`, `token`, `verifier`, `code`, `password` or `assertion`) are counted by
    /// [`Stats::authorize_params_seen`] but their values are never kept.
    pub fn authorize_param(&self, name: &str) -> Option<&str> {
        self.authorize_param_values.get(name).map(String::as_str)
    }
}
