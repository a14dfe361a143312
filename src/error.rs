//! The error type of the login flow.
//!
//! Every message says what happened and what to do next. No message ever carries a
//! secret: codes, verifiers, state, nonces, tokens and the client secret are never
//! formatted into an error. Configuration problems have their own type,
//! [`ConfigError`](crate::config::ConfigError).

use crate::config::ConfigError;
pub use crate::protocol::Endpoint;

/// What the caller should do about an error: the one question every error answers.
///
/// ```
/// use lexoffice_login::{Error, ErrorKind};
///
/// fn advice(e: &Error) -> &'static str {
///     match e.kind() {
///         ErrorKind::LoginRequired => "log in again",
///         ErrorKind::ProviderUnavailable => "try again later",
///         ErrorKind::Misconfigured => "fix the configuration",
///         ErrorKind::Unsafe => "start the login again; do not trust this answer",
///         _ => "see the message",
///     }
/// }
/// # let _ = advice;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The login is gone (expired, revoked, never stored, or has no refresh token): the
    /// user must log in again.
    LoginRequired,
    /// The provider could not be reached, did not answer in time, or is failing: try
    /// again later; nothing is wrong on this side.
    ProviderUnavailable,
    /// The settings, or the client's registration at the provider, are wrong
    /// (`invalid_client`, an unknown scope, a missing endpoint): fix them; retrying will
    /// not help.
    Misconfigured,
    /// A redirect or an answer failed a security check (state, issuer, ID token): it is
    /// refused and must not be trusted. Start the login again.
    Unsafe,
    /// The user, or the provider on the user's behalf, declined the login.
    Denied,
    /// The provider refused the request for another reason its error code names.
    Refused,
    /// The token store failed (a file, the keyring, the database).
    Store,
    /// A bug in this library or a task that was cancelled.
    Internal,
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ErrorKind::LoginRequired => "login required",
            ErrorKind::ProviderUnavailable => "provider unavailable",
            ErrorKind::Misconfigured => "misconfigured",
            ErrorKind::Unsafe => "rejected as unsafe",
            ErrorKind::Denied => "denied",
            ErrorKind::Refused => "refused by the provider",
            ErrorKind::Store => "store failure",
            ErrorKind::Internal => "internal error",
        })
    }
}

/// Why an ID token was refused. Each variant names the rule of OpenID Connect Core
/// 3.1.3.7 that it failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenProblem {
    /// The token is not a well-formed JWS in compact serialization.
    #[error("it is not a well-formed JWT ({0})")]
    Malformed(String),
    /// The token is unsigned (`alg: none`).
    #[error("it is unsigned (alg \"none\"), which is never accepted")]
    Unsigned,
    /// The token's algorithm is not one the provider announced, or is an HMAC algorithm.
    #[error("it is signed with {alg}, which is not allowed here (allowed: {allowed})")]
    DisallowedAlgorithm {
        /// The `alg` of the token's header.
        alg: String,
        /// The algorithms that are accepted.
        allowed: String,
    },
    /// No key of the JWKS matches the token, even after fetching the JWKS again.
    #[error("no key in the provider's JWKS matches it (kid {kid:?}), even after fetching the JWKS again")]
    UnknownKey {
        /// The `kid` of the token's header, if any.
        kid: Option<String>,
    },
    /// The token's `crit` header names an extension, which this client does not
    /// understand (RFC 7515 4.1.11), or is malformed.
    #[error("its header marks the extension(s) {0} as critical, which this client does not understand (RFC 7515 4.1.11)")]
    CriticalHeader(String),
    /// The only key that fits is an RSA key shorter than 2048 bits (RFC 7518 3.3).
    #[error("the provider's key for it is an RSA key shorter than 2048 bits, which is never trusted (RFC 7518 3.3)")]
    WeakKey,
    /// The signature does not verify with the provider's key.
    #[error("its signature does not verify with the provider's published key")]
    BadSignature,
    /// `iss` is not the configured issuer.
    #[error("its issuer is not the configured issuer")]
    WrongIssuer,
    /// `aud` does not contain this client's id.
    #[error("its audience does not include this client's id")]
    WrongAudience,
    /// `azp` is missing (with several audiences) or is not this client's id.
    #[error("its authorized party (azp) is missing or is not this client's id")]
    WrongAuthorizedParty,
    /// `exp` is in the past (beyond the allowed clock skew).
    #[error("it has expired (exp is in the past, beyond the allowed clock skew)")]
    Expired,
    /// `nbf` is in the future (beyond the allowed clock skew).
    #[error("it is not valid yet (nbf is in the future, beyond the allowed clock skew)")]
    NotYetValid,
    /// `iat` is in the future (beyond the allowed clock skew).
    #[error("it was issued in the future (iat), beyond the allowed clock skew; check this machine's clock")]
    IssuedInFuture,
    /// A claim the spec requires is missing.
    #[error("the required claim {0} is missing")]
    MissingClaim(String),
    /// `nonce` is missing or is not the one this login sent.
    #[error("its nonce does not match the one this login sent (a replayed or foreign token)")]
    NonceMismatch,
    /// `at_hash` does not match the access token.
    #[error("its at_hash does not match the access token it came with")]
    AtHashMismatch,
    /// A refreshed ID token names another subject than the original one.
    #[error("a refreshed ID token names another subject than the login it refreshes")]
    SubjectChanged,
    /// A refreshed ID token changes a claim that OpenID Connect Core 12.2 keeps fixed.
    #[error("a refreshed ID token changes its {claim} claim, which must stay as in the original login (OpenID Connect Core 12.2)")]
    RefreshedClaimChanged {
        /// The claim.
        claim: &'static str,
    },
}

/// Everything that can go wrong in the login flow.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The settings are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// The HTTP client could not be built.
    #[error("could not set up the HTTP client")]
    HttpSetup(#[source] reqwest::Error),

    /// The provider could not be reached.
    #[error("could not reach the {endpoint} at {url}: {reason}; check the network and the issuer or endpoint URLs in your configuration")]
    Unreachable {
        /// Which endpoint.
        endpoint: Endpoint,
        /// The URL that was requested (never carries a secret).
        url: String,
        /// What the HTTP client said.
        reason: String,
    },

    /// The provider did not answer in time.
    #[error("the {endpoint} at {url} did not answer within the timeout; the provider may be down or slow, try again later or raise http.request_timeout_secs")]
    Timeout {
        /// Which endpoint.
        endpoint: Endpoint,
        /// The URL that was requested.
        url: String,
    },

    /// The provider answered with a redirect, which is never followed for these requests.
    #[error("the {endpoint} at {url} answered with a redirect (HTTP {status}) to {location:?}; redirects are not followed for {endpoint} requests, so configure the final URL")]
    UnexpectedRedirect {
        /// Which endpoint.
        endpoint: Endpoint,
        /// The URL that was requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The `Location` header, if any.
        location: Option<String>,
    },

    /// The provider answered with something that is not the JSON the protocol defines
    /// (an HTML error page, an empty body, a 5xx status).
    #[error("the {endpoint} at {url} answered HTTP {status} with {content_type} instead of the expected JSON; the provider may be failing, try again later")]
    UnexpectedResponse {
        /// Which endpoint.
        endpoint: Endpoint,
        /// The URL that was requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The `Content-Type` of the answer.
        content_type: String,
    },

    /// The provider sent JSON that is malformed or lacks a required field.
    #[error("the {endpoint} at {url} sent a malformed answer ({detail}); the provider may be failing, try again later")]
    MalformedResponse {
        /// Which endpoint.
        endpoint: Endpoint,
        /// The URL that was requested.
        url: String,
        /// What is wrong with it (never the body itself).
        detail: String,
    },

    /// The provider refused a request with an OAuth error (RFC 6749 5.2).
    #[error("the {endpoint} refused the request: {code}{}; {}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(), oauth_hint(code))]
    OAuth {
        /// Which endpoint.
        endpoint: Endpoint,
        /// The HTTP status.
        status: u16,
        /// The `error` code, for example `invalid_grant`.
        code: String,
        /// The provider's `error_description`.
        description: Option<String>,
    },

    /// The discovery document names another issuer than the configured one.
    #[error("the discovery document names the issuer {found:?}, but the configuration says {expected:?}; they must match exactly (OpenID Connect Discovery 4.3): fix `issuer` in your configuration")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The issuer in the discovery document.
        found: String,
    },

    /// The provider does not support PKCE with S256.
    #[error("the provider announces PKCE methods {supported:?} but not S256; this client only logs in with S256 PKCE")]
    PkceS256Unsupported {
        /// The methods the provider announces.
        supported: Vec<String>,
    },

    /// A requested scope is not among the provider's `scopes_supported`. The client
    /// itself only warns about this ([`Client::scope_warnings`](crate::Client::scope_warnings));
    /// the check is for tools that report it (`lexoffice-login discover`).
    #[error("the provider does not list the scope(s) {} in scopes_supported (it lists: {}); a provider may grant scopes it does not list, so this is a warning: remove them from `scopes` if the login fails with invalid_scope", unknown.join(", "), supported.join(" "))]
    UnsupportedScopes {
        /// The requested scopes that are not supported.
        unknown: Vec<String>,
        /// What the provider supports.
        supported: Vec<String>,
    },

    /// An endpoint the operation needs is neither discovered nor configured.
    #[error("the provider has no {endpoint} (neither in its discovery document nor in `endpoints.{key}`); configure `endpoints.{key}` if it has one")]
    MissingEndpoint {
        /// Which endpoint.
        endpoint: Endpoint,
        /// The configuration key that would set it.
        key: &'static str,
    },

    /// An endpoint URL is not https (plain http is only allowed on loopback).
    #[error(
        "the {endpoint} URL {url} is not https; plain http is only allowed for loopback hosts"
    )]
    InsecureEndpoint {
        /// Which endpoint.
        endpoint: Endpoint,
        /// The URL.
        url: String,
    },

    /// The redirect could not be read as a URL or query string.
    #[error("the redirect could not be read: {0}; pass the whole URL the browser was sent to, or its query string")]
    MalformedCallback(String),

    /// A callback parameter appears more than once (RFC 6749 3.1).
    #[error("the redirect carries the parameter {0:?} more than once, which is never valid; start the login again")]
    RepeatedParameter(String),

    /// The callback carries no `state`.
    #[error("the redirect carries no state: it does not belong to the login in progress; start the login again")]
    StateMissing,

    /// The callback's `state` is not the one this login sent.
    #[error("state mismatch: this callback does not belong to the login in progress; start the login again")]
    StateMismatch,

    /// The callback's `iss` (RFC 9207) is not the configured issuer.
    #[error("the redirect comes from the issuer {found:?}, not from {expected:?} (RFC 9207): a mix-up attack or a misconfigured issuer; start the login again")]
    IssuerParameterMismatch {
        /// The configured issuer.
        expected: String,
        /// The `iss` of the callback.
        found: String,
    },

    /// The provider promises `iss` on redirects, but this one has none.
    #[error("the provider promises an `iss` parameter on every redirect (RFC 9207), but this one has none; start the login again")]
    IssuerParameterMissing,

    /// The provider refused the authorization (for example the user denied consent).
    #[error("the provider refused the login: {code}{}; {}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(), authorize_hint(code))]
    AuthorizationDenied {
        /// The `error` code, for example `access_denied`.
        code: String,
        /// The provider's `error_description`.
        description: Option<String>,
    },

    /// The callback has neither a code nor an error.
    #[error("the redirect carries no authorization code; start the login again")]
    CodeMissing,

    /// The token endpoint's answer breaks a rule of RFC 6749 5.1.
    #[error("the token endpoint's answer was refused: {0}; the provider may be failing or misconfigured")]
    TokenAnswer(#[from] TokenAnswerProblem),

    /// The token response lacks an ID token although `openid` was requested.
    #[error("the token endpoint returned no ID token although the scope `openid` was requested; the provider may not support OpenID Connect: remove `openid` from `scopes`")]
    IdTokenMissing,

    /// The ID token failed verification.
    #[error("the ID token was refused: {0}; do not trust this login, start it again")]
    IdToken(#[from] IdTokenProblem),

    /// There is no refresh token to refresh with.
    #[error("this login has no refresh token (ask for `offline_access`, or the provider does not issue one); log in again")]
    NoRefreshToken,

    /// Userinfo named another subject than the ID token.
    #[error("the userinfo endpoint names another subject than the ID token (OpenID Connect Core 5.3.2); do not trust this answer")]
    UserinfoSubjectMismatch,

    /// The provider's API needs a tenant, and none was chosen.
    #[error("the provider's API needs the {header} header: choose a tenant from `Client::tenants` after login")]
    TenantRequired {
        /// The header that needs the tenant.
        header: &'static str,
    },

    /// The login was made with another issuer or client than this client's: its tokens
    /// are not sent here.
    #[error("this login was made with the issuer {login_issuer:?} and the client id {login_client_id:?}, but this client is configured for {configured_issuer:?} and {configured_client_id:?}; its tokens are not sent to another server: use the configuration the login was made with, or log in again")]
    ForeignLogin {
        /// The login's issuer.
        login_issuer: String,
        /// The login's client id.
        login_client_id: String,
        /// The configured issuer.
        configured_issuer: String,
        /// The configured client id.
        configured_client_id: String,
    },

    /// The login has to be done again (the refresh token is no longer accepted).
    #[error("the login has expired or was revoked at the provider ({reason}); log in again")]
    LoginRequired {
        /// What the provider said.
        reason: String,
    },
}

impl Error {
    /// The error for a request that got no usable answer: [`Error::Timeout`], or
    /// [`Error::Unreachable`] with the transport's causes. `url` is named as given; pass
    /// no URL whose query carries a secret.
    pub fn transport(endpoint: Endpoint, url: &url::Url, e: &reqwest::Error) -> Error {
        if e.is_timeout() {
            Error::Timeout {
                endpoint,
                url: url.to_string(),
            }
        } else {
            Error::Unreachable {
                endpoint,
                url: url.to_string(),
                reason: describe(e),
            }
        }
    }

    /// What the caller should do about this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_)
            | Error::HttpSetup(_)
            | Error::UnexpectedRedirect { .. }
            | Error::IssuerMismatch { .. }
            | Error::PkceS256Unsupported { .. }
            | Error::UnsupportedScopes { .. }
            | Error::MissingEndpoint { .. }
            | Error::InsecureEndpoint { .. }
            | Error::IdTokenMissing
            | Error::TenantRequired { .. }
            | Error::ForeignLogin { .. } => ErrorKind::Misconfigured,
            Error::Unreachable { .. }
            | Error::Timeout { .. }
            | Error::MalformedResponse { .. }
            | Error::TokenAnswer(_) => ErrorKind::ProviderUnavailable,
            Error::UnexpectedResponse { status, .. } => {
                if *status >= 500 || *status == 429 {
                    ErrorKind::ProviderUnavailable
                } else {
                    // A 404 HTML page: the URL is wrong.
                    ErrorKind::Misconfigured
                }
            }
            Error::OAuth { code, status, .. } => oauth_kind(code, *status),
            Error::MalformedCallback(_)
            | Error::RepeatedParameter(_)
            | Error::StateMissing
            | Error::StateMismatch
            | Error::IssuerParameterMismatch { .. }
            | Error::IssuerParameterMissing
            | Error::CodeMissing
            | Error::IdToken(_)
            | Error::UserinfoSubjectMismatch => ErrorKind::Unsafe,
            Error::AuthorizationDenied { code, .. } => match code.as_str() {
                "temporarily_unavailable" | "server_error" => ErrorKind::ProviderUnavailable,
                "invalid_scope"
                | "unauthorized_client"
                | "invalid_request"
                | "unsupported_response_type" => ErrorKind::Misconfigured,
                _ => ErrorKind::Denied,
            },
            Error::NoRefreshToken | Error::LoginRequired { .. } => ErrorKind::LoginRequired,
        }
    }

    /// Whether the provider answered `invalid_grant`: the code or refresh token is no
    /// longer valid, and the user must log in again.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, Error::OAuth { code, .. } if code == "invalid_grant")
            || matches!(self, Error::LoginRequired { .. })
    }

    /// Whether trying again later may succeed (network trouble, timeouts, 5xx):
    /// [`ErrorKind::ProviderUnavailable`].
    pub fn is_transient(&self) -> bool {
        self.kind() == ErrorKind::ProviderUnavailable
    }
}

/// The kind of an OAuth error code (RFC 6749 5.2, RFC 7009 2.2.1).
pub(crate) use crate::protocol::sanitize;

impl Error {
    /// The same error with every occurrence of the given secrets replaced by
    /// `[redacted]` in the texts that came from the provider (a provider that echoes the
    /// code or the refresh token in its `error_description`).
    pub(crate) fn redact(self, secrets: &[&str]) -> Error {
        let clean = |text: String| {
            secrets
                .iter()
                .filter(|s| s.len() >= 4)
                .fold(text, |t, s| t.replace(s, "[redacted]"))
        };
        match self {
            Error::OAuth {
                endpoint,
                status,
                code,
                description,
            } => Error::OAuth {
                endpoint,
                status,
                code: clean(code),
                description: description.map(clean),
            },
            Error::AuthorizationDenied { code, description } => Error::AuthorizationDenied {
                code: clean(code),
                description: description.map(clean),
            },
            other => other,
        }
    }
}

/// What went wrong with a request, without the URL (the caller names it) and with the
/// causes: "connection failed: dns error: failed to lookup address information".
pub(crate) fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut msg = if e.is_timeout() {
        "no answer within the timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the answer could not be read"
    } else {
        "the request failed"
    }
    .to_owned();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

fn oauth_kind(code: &str, status: u16) -> ErrorKind {
    match code {
        // expired_token: a device login ran out (RFC 8628 3.5): start again.
        "invalid_grant" | "expired_token" => ErrorKind::LoginRequired,
        "access_denied" => ErrorKind::Denied,
        "invalid_client"
        | "unauthorized_client"
        | "invalid_scope"
        | "invalid_request"
        | "unsupported_grant_type"
        | "unsupported_token_type" => ErrorKind::Misconfigured,
        "temporarily_unavailable" | "server_error" => ErrorKind::ProviderUnavailable,
        _ if status >= 500 => ErrorKind::ProviderUnavailable,
        _ => ErrorKind::Refused,
    }
}

fn oauth_hint(code: &str) -> &'static str {
    match code {
        "invalid_grant" => "the code or refresh token is expired, used or revoked: log in again",
        "invalid_client" | "unauthorized_client" => {
            "check the client id, the client secret and `client_auth`"
        }
        "invalid_scope" => "remove the scopes the provider does not grant",
        "invalid_request" => "the provider rejected the request's form; check the configuration",
        "unsupported_grant_type" => "the provider does not allow this grant for this client",
        "temporarily_unavailable" | "server_error" => "the provider is failing; try again later",
        _ => "see the provider's documentation for this error code",
    }
}

fn authorize_hint(code: &str) -> &'static str {
    match code {
        "access_denied" => "the user (or the provider) declined; start the login again to retry",
        "invalid_scope" => "remove the scopes the provider does not offer and start again",
        "login_required" | "consent_required" | "interaction_required" => {
            "the provider needs the user in the browser; start the login again"
        }
        "temporarily_unavailable" | "server_error" => "the provider is failing; try again later",
        _ => "check the client's registration at the provider and start the login again",
    }
}

/// Why a token answer was refused (RFC 6749 5.1, 7.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenAnswerProblem {
    /// `access_token` is empty.
    #[error("its access_token is empty")]
    EmptyAccessToken,
    /// `token_type` is missing (RFC 6749 5.1 requires it).
    #[error("it has no token_type (RFC 6749 5.1 requires one)")]
    MissingTokenType,
    /// `token_type` is not one this client understands (RFC 6749 7.1: such a token must
    /// not be used).
    #[error("its token_type {0:?} is not Bearer, the only type this client uses (RFC 6749 7.1)")]
    UnsupportedTokenType(String),
    /// `expires_in` is not a non-negative number of seconds.
    #[error("its expires_in is not a non-negative number of seconds")]
    InvalidExpiresIn,
    /// `refresh_token` is present but empty.
    #[error("its refresh_token is empty")]
    EmptyRefreshToken,
    /// `id_token` is present but empty.
    #[error("its id_token is empty")]
    EmptyIdToken,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_mismatch_message_says_what_to_do() {
        let msg = Error::StateMismatch.to_string();
        assert!(msg.contains("start the login again"), "{msg}");
    }

    #[test]
    fn oauth_error_message_carries_code_and_hint() {
        let e = Error::OAuth {
            endpoint: Endpoint::Token,
            status: 400,
            code: "invalid_grant".into(),
            description: Some("refresh token reused".into()),
        };
        let msg = e.to_string();
        assert!(
            msg.contains("invalid_grant (refresh token reused)"),
            "{msg}"
        );
        assert!(msg.contains("log in again"), "{msg}");
        assert!(e.is_invalid_grant());
        assert!(!e.is_transient());
    }
}
