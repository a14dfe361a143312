//! [`ApiClient`]: authenticated calls to the provider's API (lexoffice's
//! `https://api.lexware.io/v1`, or any bearer-token API), with a fresh access token from a
//! [`TokenManager`], one forced refresh on `401`, a client-side rate limit shared by every
//! task that uses the client, and backoff on the server's rate limit.
//!
//! ```no_run
//! use lexoffice_login::api::{ApiClient, ApiOptions, LexofficeProfile};
//! use lexoffice_login::store::{MemoryStore, StoreKey};
//! use lexoffice_login::{Client, ManagerOptions, Settings, TokenManager};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::connect(Settings::load(Some("production"))?).await?;
//! let manager = TokenManager::new(
//!     client.clone(),
//!     MemoryStore::new(),
//!     StoreKey::new("production", "default"),
//!     ManagerOptions::default(),
//! );
//! let api = ApiClient::builder(manager, "https://api.lexware.io/v1")
//!     .http_client(client.http_client().clone())
//!     .options(ApiOptions::default()) // 2 requests per second, lexoffice's limit
//!     .build()?;
//! let profile: LexofficeProfile = api.profile().await?;
//! println!("logged in to {:?}", profile.company_name);
//! # Ok(())
//! # }
//! ```
//!
//! # Retries
//!
//! | answer | GET, HEAD, PUT, DELETE, OPTIONS | POST, PATCH |
//! |---|---|---|
//! | `401` | refresh once, send once more | the same (a `401` means nothing was processed) |
//! | `429` | back off, send again (up to `max_retries`) | the same: lexoffice refuses a rate-limited request before processing it |
//! | `500` whose body says "rate limit" | back off, send again | not sent again: [`ApiError::NotRetried`] |
//! | other `5xx`, timeouts | error | error that says the request may or may not have been processed |
//!
//! # Rate limit across replicas
//!
//! The client's own limiter holds for its clones in one process. Replicas that call the
//! API for the same connection share a [`RateBudget`] instead
//! ([`ApiClientBuilder::rate_budget`], e.g. a
//! [`PostgresRateBudget`](crate::ratelimit::PostgresRateBudget)): every request, retries
//! included, waits for the budget, and a rate-limit answer penalizes it for every
//! replica (for the `Retry-After`, else one emission interval).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, RateLimiter};
use openidconnect::AccessToken;
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER,
};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ErrorKind;
use crate::http::CappedBody;
use crate::manager::{ManagerError, TokenManager};
use crate::providers::{ApiErrorFormat, ApiPreset};
use crate::ratelimit::{BudgetRate, RateBudget, RateBudgetError};
use crate::store::TokenStore;

/// The longest error message taken over from an API answer.
const MAX_MESSAGE: usize = 500;

/// Settings of an [`ApiClient`].
#[derive(Clone)]
#[non_exhaustive]
pub struct ApiOptions {
    /// The provider's rate limit in requests per second (default 2, lexoffice's limit).
    /// The client stays [`ApiOptions::headroom`] below it.
    pub requests_per_second: f64,
    /// Requests that may be sent at once before the rate applies (default 2, lexoffice's
    /// bucket size). Keep it at or below the provider's.
    pub burst: u32,
    /// How far below `requests_per_second` the client stays, as a fraction (default 0.1:
    /// 1.8 requests per second for lexoffice), so that network jitter never makes two
    /// requests arrive closer together than the provider allows.
    pub headroom: f64,
    /// Retries after the provider's rate limit was hit (default 3).
    pub max_retries: u32,
    /// Backoff before the first retry, doubled for each further one, with jitter
    /// (default 500 ms: one token of lexoffice's bucket).
    pub backoff_base: Duration,
    /// The longest backoff (default 8 s).
    pub backoff_max: Duration,
    /// The longest `Retry-After` that is waited for (default 60 s); a longer one ends the
    /// call with [`ApiError::RateLimited`].
    pub retry_after_max: Duration,
    /// Headers sent with every request, e.g. DATEV's `X-DATEV-Client-Id` or Xero's
    /// `xero-tenant-id`. `Authorization` cannot be set here. `Debug` prints only names.
    pub default_headers: Vec<(String, String)>,
    /// The largest answer read (default 16 MiB).
    pub max_body: usize,
    /// Connect timeout of the HTTP client the builder makes (default 10 s); unused when
    /// one is passed with [`ApiClientBuilder::http_client`].
    pub connect_timeout: Duration,
    /// Request timeout of the HTTP client the builder makes (default 40 s, longer than
    /// lexoffice's 30 s gateway timeout so that its `504` is seen).
    pub request_timeout: Duration,
    /// The shape of the API's error bodies (default lexoffice's), for messages that
    /// name what the API said.
    pub error_format: ApiErrorFormat,
}

impl Default for ApiOptions {
    fn default() -> Self {
        Self {
            requests_per_second: 2.0,
            burst: 2,
            headroom: crate::ratelimit::DEFAULT_HEADROOM,
            max_retries: 3,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            retry_after_max: Duration::from_secs(60),
            default_headers: Vec::new(),
            max_body: 16 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(40),
            error_format: ApiErrorFormat::Lexoffice,
        }
    }
}

impl fmt::Debug for ApiOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self
            .default_headers
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        f.debug_struct("ApiOptions")
            .field("requests_per_second", &self.requests_per_second)
            .field("burst", &self.burst)
            .field("headroom", &self.headroom)
            .field("max_retries", &self.max_retries)
            .field("backoff_base", &self.backoff_base)
            .field("backoff_max", &self.backoff_max)
            .field("retry_after_max", &self.retry_after_max)
            .field("default_headers", &header_names)
            .field("max_body", &self.max_body)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("error_format", &self.error_format)
            .finish()
    }
}

impl ApiOptions {
    /// The rate a client with these options keeps to: [`ApiOptions::requests_per_second`]
    /// less [`ApiOptions::headroom`], [`ApiOptions::burst`] at once (lexoffice's
    /// defaults: 1.8 requests per second, burst 2); the rate for a shared budget.
    pub fn budget_rate(&self) -> Result<BudgetRate, RateBudgetError> {
        BudgetRate::with_headroom(self.requests_per_second, self.burst, self.headroom)
    }

    /// The defaults, with the rate limit and error format of a provider's API preset
    /// (Xero's 60 a minute, lexoffice's 2 a second, …).
    pub fn for_api(api: &ApiPreset) -> Self {
        let mut options = Self {
            error_format: api.error_format,
            ..Self::default()
        };
        if let Some(limit) = api.rate_limit {
            options = options.rate_limit(limit.per_second, limit.burst);
        }
        options
    }

    /// The options for the provider the settings name ([`ApiOptions::for_api`]), else
    /// the defaults.
    pub fn for_settings(settings: &crate::Settings) -> Self {
        settings
            .preset()
            .and_then(|p| p.api.as_ref())
            .map(Self::for_api)
            .unwrap_or_default()
    }

    /// Sets [`ApiOptions::requests_per_second`] and [`ApiOptions::burst`].
    pub fn rate_limit(mut self, requests_per_second: f64, burst: u32) -> Self {
        self.requests_per_second = requests_per_second;
        self.burst = burst;
        self
    }

    /// Sets [`ApiOptions::headroom`].
    pub fn headroom(mut self, fraction: f64) -> Self {
        self.headroom = fraction;
        self
    }

    /// Sets [`ApiOptions::max_retries`].
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Sets [`ApiOptions::backoff_base`] and [`ApiOptions::backoff_max`].
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_max = max.max(base);
        self
    }

    /// Sets [`ApiOptions::retry_after_max`].
    pub fn retry_after_max(mut self, max: Duration) -> Self {
        self.retry_after_max = max;
        self
    }

    /// Adds a header sent with every request (checked by [`ApiClientBuilder::build`]).
    pub fn default_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.default_headers.push((name.into(), value.into()));
        self
    }

    /// Sets [`ApiOptions::max_body`].
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Sets [`ApiOptions::connect_timeout`] and [`ApiOptions::request_timeout`].
    pub fn timeouts(mut self, connect: Duration, request: Duration) -> Self {
        self.connect_timeout = connect;
        self.request_timeout = request;
        self
    }
}

/// One violation of a structured lexoffice error (`details[]`), or one entry of the
/// legacy `IssueList`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Violation {
    /// The field concerned, if named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The kind of violation (e.g. `NOTNULL`), or the legacy `i18nKey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub violation: Option<String>,
    /// The explanation, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self
            .message
            .as_deref()
            .or(self.violation.as_deref())
            .unwrap_or("invalid");
        match &self.field {
            Some(field) => write!(f, "{field}: {what}")?,
            None => f.write_str(what)?,
        }
        if let (Some(v), Some(_)) = (&self.violation, &self.message) {
            write!(f, " ({v})")?;
        }
        Ok(())
    }
}

/// Why an API call failed. No message and no `Debug` output carries a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The client's settings (base URL, options, default headers) are invalid.
    #[error("invalid API client setting: {0}")]
    Config(String),

    /// The path cannot be joined to the base URL.
    #[error("invalid API path {path:?}: {reason}; pass a path relative to the API base, e.g. \"/profile\"")]
    InvalidPath {
        /// The path that was passed.
        path: String,
        /// What is wrong with it.
        reason: String,
    },

    /// No access token could be had (the login is gone or refreshing failed).
    #[error("no access token for the API call: {0}")]
    Manager(#[from] ManagerError),

    /// The API refused the login again after a refresh (HTTP 401 twice).
    #[error("the API refused the login (HTTP 401) for {method} {path} even with a freshly refreshed access token: the connection was revoked or lacks access to this organisation; log in again")]
    Unauthorized {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },

    /// The provider's rate limit was still exceeded after the retries.
    #[error("the API's rate limit was exceeded for {method} {path} and still was after {retries} retries{}; send fewer requests (one ApiClient, cloned, for all tasks of a login) or raise max_retries, and try again later", retry_after.map(|d| format!(" (the API asked to wait {} s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// How many times the request was sent again.
        retries: u32,
        /// The last `Retry-After`, if the API sent one.
        retry_after: Option<Duration>,
    },

    /// A non-idempotent request (POST, PATCH) got an answer that leaves open whether it
    /// was processed (a 5xx, e.g. a `504` after 30 s), so it was not sent again.
    #[error("the API answered HTTP {status} to {method} {path}{}; the request may or may not have been processed, so it was not sent again: check (for example by fetching or listing the resource) before sending it again", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    NotRetried {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The API's `message`, if any.
        message: Option<String>,
    },

    /// The API answered with an error status.
    #[error("the API answered HTTP {status} to {method} {path}: {message}{}; {}", violations(details), status_hint(*status))]
    Status {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The API's `message` (or `error`), or a description of a non-JSON answer.
        message: String,
        /// The violations of a structured error (`details`) or a legacy `IssueList`.
        details: Vec<Violation>,
        /// The `traceId` of a structured error, for lexoffice's support.
        trace_id: Option<String>,
    },

    /// The request failed in transit (no connection, timeout, broken answer).
    #[error("the request {method} {path} failed: {reason}; {}", if *maybe_processed { "the request may or may not have been processed: check (for example by fetching the resource) before sending it again" } else { "check the network and the API base URL, then try again" })]
    Http {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// What went wrong.
        reason: String,
        /// Whether the request may have reached the API and been processed (a
        /// non-idempotent request that got no complete answer).
        maybe_processed: bool,
    },

    /// The shared rate budget ([`ApiClientBuilder::rate_budget`]) could not be consulted
    /// (its database is unreachable); the request was not sent.
    #[error("the request {method} {path} was not sent: {source}")]
    RateBudget {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// Why.
        #[source]
        source: RateBudgetError,
    },

    /// A successful answer is not the JSON that was expected.
    #[error("the API's answer to {method} {path} is not the expected JSON ({detail}); check the path and the type it is read into")]
    Decode {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// What is wrong (serde's message names fields and positions, not values).
        detail: String,
    },
}

impl ApiError {
    /// The HTTP status the API answered with, if the error comes from an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Unauthorized { .. } => Some(401),
            ApiError::RateLimited { .. } => Some(429),
            ApiError::NotRetried { status, .. } | ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the user must log in again.
    pub fn is_login_required(&self) -> bool {
        self.kind() == ErrorKind::LoginRequired
    }

    /// What the caller should do about this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Config(_) | ApiError::InvalidPath { .. } => ErrorKind::Misconfigured,
            ApiError::Manager(e) => e.kind(),
            ApiError::RateBudget { source, .. } => source.kind(),
            ApiError::Unauthorized { .. } => ErrorKind::LoginRequired,
            ApiError::RateLimited { .. } | ApiError::Http { .. } => ErrorKind::ProviderUnavailable,
            ApiError::NotRetried { .. } => ErrorKind::ProviderUnavailable,
            ApiError::Status { status, .. } if *status >= 500 => ErrorKind::ProviderUnavailable,
            ApiError::Status { .. } | ApiError::Decode { .. } => ErrorKind::Refused,
        }
    }
}

fn violations(details: &[Violation]) -> String {
    if details.is_empty() {
        return String::new();
    }
    let list: Vec<String> = details.iter().map(ToString::to_string).collect();
    format!(" [{}]", list.join("; "))
}

fn status_hint(status: u16) -> &'static str {
    match status {
        300..=399 => "redirects are not followed: configure the final API base URL",
        400 | 406 | 422 => "the API refused the request as invalid: fix the fields named above",
        403 => "this login does not allow the call (a scope that was not granted, or a feature of the user's plan): log in again with the needed scope",
        404 => "the resource does not exist, or the path is wrong",
        405 => "the API does not allow this method on this path",
        409 => "the resource was changed meanwhile: fetch it again and send the change with its current version",
        415 => "the API does not accept this content type",
        500..=599 => "the API is failing; try again later",
        _ => "see the API's documentation for this status",
    }
}

/// A successful (2xx) answer.
pub struct ApiResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    method: String,
    path: String,
}

impl fmt::Debug for ApiResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiResponse")
            .field("status", &self.status)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl ApiResponse {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The answer's headers (e.g. `Location` after a create).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The raw body.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    /// The body read as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| ApiError::Decode {
            method: self.method.clone(),
            path: self.path.clone(),
            detail: e.to_string(),
        })
    }

    /// The body as a JSON value; `Value::Null` for an empty body (e.g. `204`).
    pub fn value(&self) -> Result<Value, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        self.json()
    }
}

/// `GET /v1/profile` of lexoffice: the connected organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LexofficeProfile {
    /// The organisation's id.
    pub organization_id: String,
    /// The company's name.
    #[serde(default)]
    pub company_name: Option<String>,
    /// The id of this API connection.
    #[serde(default)]
    pub connection_id: Option<String>,
    /// Who created the organisation.
    #[serde(default)]
    pub created: Option<LexofficeProfileCreated>,
    /// Enabled features.
    #[serde(default)]
    pub features: Vec<String>,
    /// Enabled business features.
    #[serde(default)]
    pub business_features: Vec<String>,
    /// E.g. `active`.
    #[serde(default)]
    pub subscription_status: Option<String>,
    /// E.g. `net`, `gross`.
    #[serde(default)]
    pub tax_type: Option<String>,
    /// Whether the organisation is a small business (Kleinunternehmer).
    #[serde(default)]
    pub small_business: Option<bool>,
}

/// [`LexofficeProfile::created`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LexofficeProfileCreated {
    /// The user's id.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The user's name.
    #[serde(default)]
    pub user_name: Option<String>,
    /// The user's e-mail address.
    #[serde(default)]
    pub user_email: Option<String>,
    /// When the organisation was created.
    #[serde(default)]
    pub date: Option<String>,
}

/// A lexoffice event subscription (`GET /v1/event-subscriptions`): which event type is
/// delivered to which callback URL as a signed webhook (see the `webhooks` feature).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EventSubscription {
    /// The subscription's id.
    pub subscription_id: String,
    /// The organisation it belongs to.
    #[serde(default)]
    pub organization_id: Option<String>,
    /// When it was created.
    #[serde(default)]
    pub created_date: Option<String>,
    /// The event type, e.g. `contact.changed`.
    pub event_type: String,
    /// Where the webhooks are POSTed.
    pub callback_url: String,
}

/// What `POST /v1/event-subscriptions` answers: the new subscription's id and URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreatedEventSubscription {
    /// The new subscription's id (use it to delete the subscription).
    pub id: String,
    /// The subscription's URI.
    #[serde(default)]
    pub resource_uri: Option<String>,
    /// When it was created.
    #[serde(default)]
    pub created_date: Option<String>,
    /// When it was last changed.
    #[serde(default)]
    pub updated_date: Option<String>,
    /// Its version.
    #[serde(default)]
    pub version: Option<i64>,
}

/// The envelope of `GET /v1/event-subscriptions`.
#[derive(Deserialize)]
struct EventSubscriptionList {
    #[serde(default)]
    content: Vec<EventSubscription>,
}

/// Builds an [`ApiClient`].
pub struct ApiClientBuilder<S> {
    manager: TokenManager<S>,
    base_url: String,
    options: ApiOptions,
    http: Option<reqwest::Client>,
    budget: Option<SharedBudget>,
}

/// A shared rate budget and the key the client books under.
#[derive(Clone)]
struct SharedBudget {
    budget: Arc<dyn RateBudget>,
    key: String,
}

impl<S> fmt::Debug for ApiClientBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClientBuilder")
            .field("base_url", &self.base_url)
            .field("options", &self.options)
            .field("rate_budget", &self.budget.as_ref().map(|b| &b.key))
            .finish_non_exhaustive()
    }
}

impl<S: TokenStore> ApiClientBuilder<S> {
    /// Waits for `budget` under `key` before every request instead of the client's own
    /// limiter, and penalizes it on every rate-limit answer, so that the limit holds for
    /// every client that shares the budget: all replicas of a service with a
    /// [`PostgresRateBudget`](crate::ratelimit::PostgresRateBudget), or all connections'
    /// clients of one process with a [`LocalRateBudget`](crate::ratelimit::LocalRateBudget).
    ///
    /// `key` names what the provider limits: for lexoffice the connection, e.g.
    /// [`PostgresStore::connection_id`](crate::store::PostgresStore::connection_id) of the
    /// login. The budget's own rate applies ([`ApiOptions::budget_rate`] makes it from
    /// these options); [`ApiOptions::requests_per_second`], `burst` and `headroom` are
    /// then only checked.
    pub fn rate_budget(mut self, budget: Arc<dyn RateBudget>, key: impl Into<String>) -> Self {
        self.budget = Some(SharedBudget {
            budget,
            key: key.into(),
        });
        self
    }

    /// Sets the options (replacing earlier ones).
    pub fn options(mut self, options: ApiOptions) -> Self {
        self.options = options;
        self
    }

    /// Uses this HTTP client, e.g. [`Client::http_client`](crate::Client::http_client)
    /// (timeouts set, redirects off). Without it the builder makes one with
    /// [`ApiOptions::connect_timeout`] and [`ApiOptions::request_timeout`] that follows no
    /// redirects.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Checks the settings and makes the client.
    pub fn build(self) -> Result<ApiClient<S>, ApiError> {
        let base = parse_base(&self.base_url)?;
        let o = &self.options;
        let quota = o
            .budget_rate()
            .and_then(|rate| rate.quota())
            .map_err(|e| match e {
                RateBudgetError::Config(message) => ApiError::Config(message),
                other => ApiError::Config(other.to_string()),
            })?;

        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        for (name, value) in &o.default_headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ApiError::Config(format!("{name:?} is not a valid header name")))?;
            if name == AUTHORIZATION {
                return Err(ApiError::Config(
                    "the Authorization header is set by the client from the login; remove it from default_headers".to_owned(),
                ));
            }
            let value = HeaderValue::from_str(value).map_err(|_| {
                ApiError::Config(format!("the value of the header {name} is not valid"))
            })?;
            headers.insert(name, value);
        }

        let http = match self.http {
            Some(http) => http,
            None => crate::http::client(o.connect_timeout, o.request_timeout)
                .map_err(|e| ApiError::Config(format!("could not set up the HTTP client: {e}")))?,
        };

        Ok(ApiClient {
            inner: Arc::new(Inner {
                manager: self.manager,
                base,
                http,
                limiter: RateLimiter::direct(quota),
                budget: self.budget,
                headers,
                options: self.options,
            }),
        })
    }
}

fn parse_base(base: &str) -> Result<url::Url, ApiError> {
    let url = url::Url::parse(base)
        .map_err(|e| ApiError::Config(format!("the API base URL {base:?} is not a URL ({e})")))?;
    if !crate::protocol::is_secure_url(&url) {
        return Err(ApiError::Config(format!(
            "the API base URL {} is not https; the access token is only sent over https (plain http only to loopback hosts)",
            crate::protocol::redact_url(&url)
        )));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(ApiError::Config(format!(
            "the API base URL {base:?} must not carry a query, a fragment or user info"
        )));
    }
    Ok(url)
}

/// Authenticated calls to a provider's API for one login.
///
/// Cheap to clone; clones share the HTTP client, the token manager and the rate limiter,
/// so give every task of one login a clone of the same client: the limit then holds
/// across all of them.
pub struct ApiClient<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for ApiClient<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<S> {
    manager: TokenManager<S>,
    base: url::Url,
    http: reqwest::Client,
    limiter: DefaultDirectRateLimiter,
    /// Used instead of `limiter` when set.
    budget: Option<SharedBudget>,
    /// Default headers plus `Accept`, checked at build time.
    headers: HeaderMap,
    options: ApiOptions,
}

impl<S: TokenStore> fmt::Debug for ApiClient<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base_url", &self.inner.base.as_str())
            .field("login", &self.inner.manager.key())
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// What a request is, for messages.
struct Label {
    method: String,
    path: String,
}

/// Methods whose repetition has the effect of one request (RFC 9110 9.2.2).
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    )
}

impl<S: TokenStore> ApiClient<S> {
    /// A builder for a client of `base_url` (the provider preset's, [`Settings::api_base`](crate::Settings::api_base); the
    /// sandbox: `sandbox.api_base()`), with [`ApiOptions::default`].
    pub fn builder(manager: TokenManager<S>, base_url: impl AsRef<str>) -> ApiClientBuilder<S> {
        ApiClientBuilder {
            manager,
            base_url: base_url.as_ref().to_owned(),
            options: ApiOptions::default(),
            http: None,
            budget: None,
        }
    }

    /// A client with the default options and its own HTTP client.
    pub fn new(manager: TokenManager<S>, base_url: impl AsRef<str>) -> Result<Self, ApiError> {
        Self::builder(manager, base_url).build()
    }

    /// A builder for the API of the provider the manager's client is configured for: its
    /// base URL ([`Settings::api_base`](crate::Settings::api_base)), rate limit and error
    /// format (from the provider preset), and the headers it needs (DATEV's client id;
    /// for Xero pass the tenant). Fails where the provider has no API base configured.
    pub fn for_provider(
        manager: TokenManager<S>,
        tenant: Option<&str>,
    ) -> Result<ApiClientBuilder<S>, ApiError> {
        let client = manager.client().clone();
        let settings = client.settings();
        let base = settings.api_base().ok_or_else(|| {
            ApiError::Config(format!(
                "the provider {} has no API base URL; set `api_base`",
                settings
                    .provider()
                    .map(|p| p.name())
                    .unwrap_or("(no preset)")
            ))
        })?;
        let mut options = ApiOptions::for_settings(settings);
        for (name, value) in client
            .api_headers(tenant)
            .map_err(|e| ApiError::Config(e.to_string()))?
        {
            options = options.default_header(name, value);
        }
        Ok(Self::builder(manager, base.as_str()).options(options))
    }

    /// The token manager.
    pub fn manager(&self) -> &TokenManager<S> {
        &self.inner.manager
    }

    /// The API base URL.
    pub fn base_url(&self) -> &url::Url {
        &self.inner.base
    }

    /// The options.
    pub fn options(&self) -> &ApiOptions {
        &self.inner.options
    }

    /// `GET path`, read as JSON into `T`.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        self.send(Method::GET, path, None).await?.json()
    }

    /// lexoffice's `GET /profile`.
    pub async fn profile(&self) -> Result<LexofficeProfile, ApiError> {
        self.get_json("profile").await
    }

    /// lexoffice's `POST /event-subscriptions`: have events of `event_type` (e.g.
    /// `contact.changed`) POSTed to `callback_url` as signed webhooks. Not sent again
    /// after a 5xx (see the retry table): list the subscriptions to find out.
    pub async fn create_event_subscription(
        &self,
        event_type: &str,
        callback_url: &str,
    ) -> Result<CreatedEventSubscription, ApiError> {
        let body = serde_json::json!({ "eventType": event_type, "callbackUrl": callback_url });
        self.send(Method::POST, "event-subscriptions", Some(body))
            .await?
            .json()
    }

    /// lexoffice's `GET /event-subscriptions`: the organisation's subscriptions.
    pub async fn list_event_subscriptions(&self) -> Result<Vec<EventSubscription>, ApiError> {
        let list: EventSubscriptionList = self.get_json("event-subscriptions").await?;
        Ok(list.content)
    }

    /// lexoffice's `DELETE /event-subscriptions/{id}`.
    pub async fn delete_event_subscription(&self, subscription_id: &str) -> Result<(), ApiError> {
        let valid = !subscription_id.is_empty()
            && subscription_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(ApiError::InvalidPath {
                path: "event-subscriptions/{id}".to_owned(),
                reason: "a subscription id is letters, digits, '-' and '_'".to_owned(),
            });
        }
        self.send(
            Method::DELETE,
            &format!("event-subscriptions/{subscription_id}"),
            None,
        )
        .await?;
        Ok(())
    }

    /// Sends `method path` (relative to the base URL, query allowed) with an optional
    /// JSON body, and returns the successful answer. Error statuses become
    /// [`ApiError`]s; see the [module documentation](self) for what is retried.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<ApiResponse, ApiError> {
        let url = self.url(path)?;
        let label = Label {
            method: method.to_string(),
            path: url.path().to_owned(),
        };
        let body = body
            .map(|b| serde_json::to_vec(&b))
            .transpose()
            .map_err(|e| ApiError::Config(format!("the request body cannot be sent: {e}")))?;
        let o = &self.inner.options;

        let mut refreshed = false;
        let mut retries = 0u32;
        loop {
            self.wait_for_rate(&label).await?;
            // Taken after the wait, which may be long: the token is as fresh as can be.
            // After a 401 this is the replacement (the manager's cache holds it).
            let token = self.inner.manager.access_token().await?;
            let resp = self
                .attempt(&method, &url, &token, body.as_deref(), &label)
                .await?;
            let status = resp.status();
            tracing::debug!(method = %label.method, path = %label.path, status = status.as_u16(), retries, "api response");

            if status == StatusCode::UNAUTHORIZED {
                if refreshed {
                    tracing::warn!(method = %label.method, path = %label.path, "the API refused a freshly refreshed access token");
                    return Err(ApiError::Unauthorized {
                        method: label.method,
                        path: label.path,
                    });
                }
                refreshed = true;
                self.replacement_for(&token).await?;
                continue;
            }

            let retry_after = retry_after(resp.headers());
            let headers = resp.headers().clone();
            let answer = self.read_body(resp, &method, &label).await?;
            if status.is_success() {
                return Ok(ApiResponse {
                    status,
                    headers,
                    body: answer,
                    method: label.method,
                    path: label.path,
                });
            }

            let rate_limited = status == StatusCode::TOO_MANY_REQUESTS
                || (status == StatusCode::INTERNAL_SERVER_ERROR && says_rate_limit(&answer));
            if rate_limited {
                // The provider's bucket is empty: make every task of this client (every
                // holder of the shared budget) wait.
                self.penalize(retry_after, &label).await;
                // A 429 is refused before processing (lexoffice), so even a POST is sent
                // again; a 500 leaves that open, so only idempotent methods are.
                if status != StatusCode::TOO_MANY_REQUESTS && !is_idempotent(&method) {
                    return Err(not_retried(label, status, &answer));
                }
                let delay = retry_after.unwrap_or_else(|| self.backoff(retries + 1));
                if retries >= o.max_retries || delay > o.retry_after_max {
                    tracing::warn!(method = %label.method, path = %label.path, retries, "rate limit still exceeded; giving up");
                    return Err(ApiError::RateLimited {
                        method: label.method,
                        path: label.path,
                        retries,
                        retry_after,
                    });
                }
                retries += 1;
                tracing::info!(method = %label.method, path = %label.path, status = status.as_u16(), retry = retries, delay_ms = delay.as_millis() as u64, "rate limit exceeded; backing off");
                tokio::time::sleep(delay).await;
                continue;
            }

            if status.is_server_error() && !is_idempotent(&method) {
                return Err(not_retried(label, status, &answer));
            }
            return Err(status_error(
                label,
                status,
                &headers,
                &answer,
                self.inner.options.error_format,
            ));
        }
    }

    /// Waits until the rate limit lets a request go: the shared budget's, else the
    /// client's own.
    async fn wait_for_rate(&self, label: &Label) -> Result<(), ApiError> {
        match &self.inner.budget {
            Some(shared) => {
                shared
                    .budget
                    .acquire(&shared.key)
                    .await
                    .map_err(|source| ApiError::RateBudget {
                        method: label.method.clone(),
                        path: label.path.clone(),
                        source,
                    })
            }
            None => {
                self.inner.limiter.until_ready().await;
                Ok(())
            }
        }
    }

    /// After a rate-limit answer: the shared budget waits for `retry_after` (else one
    /// emission interval); the client's own limiter is emptied. A budget that cannot
    /// be reached is logged, not an error: the call's own backoff still applies.
    async fn penalize(&self, retry_after: Option<Duration>, label: &Label) {
        match &self.inner.budget {
            Some(shared) => {
                let penalty =
                    retry_after.unwrap_or_else(|| shared.budget.rate().emission_interval());
                if let Err(e) = shared.budget.penalize(&shared.key, penalty).await {
                    tracing::warn!(method = %label.method, path = %label.path, error = %e, "could not record the rate-limit answer in the shared budget");
                }
            }
            None => while self.inner.limiter.check().is_ok() {},
        }
    }

    /// After a `401`: makes the manager hold another token than the refused one, taking
    /// the current one if someone else has refreshed meanwhile, else refreshing now.
    async fn replacement_for(&self, refused: &AccessToken) -> Result<(), ApiError> {
        let current = self.inner.manager.access_token().await?;
        if current.secret() != refused.secret() {
            return Ok(());
        }
        tracing::debug!("the API refused the access token; refreshing");
        self.inner.manager.force_refresh().await?;
        Ok(())
    }

    fn url(&self, path: &str) -> Result<url::Url, ApiError> {
        let invalid = |reason: &str| ApiError::InvalidPath {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        if path.contains("://") || path.starts_with("//") {
            return Err(invalid(
                "it is an absolute URL; the access token is only sent to the API base URL",
            ));
        }
        let base = self.inner.base.as_str().trim_end_matches('/');
        let joined = format!("{base}/{}", path.trim_start_matches('/'));
        let url = url::Url::parse(&joined).map_err(|e| invalid(&e.to_string()))?;
        if url.origin() != self.inner.base.origin() {
            return Err(invalid("it leads to another host than the API base URL"));
        }
        Ok(url)
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &url::Url,
        token: &AccessToken,
        body: Option<&[u8]>,
        label: &Label,
    ) -> Result<reqwest::Response, ApiError> {
        let mut headers = self.inner.headers.clone();
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", token.secret())).map_err(|_| {
                ApiError::Config(
                    "the access token contains characters that cannot be sent in a header"
                        .to_owned(),
                )
            })?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        let mut request = self.inner.http.request(method.clone(), url.clone());
        if let Some(body) = body {
            if !headers.contains_key(CONTENT_TYPE) {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            request = request.body(body.to_vec());
        }
        request
            .headers(headers)
            .send()
            .await
            .map_err(|e| transport_error(&e, method, label))
    }

    async fn read_body(
        &self,
        mut resp: reqwest::Response,
        method: &Method,
        label: &Label,
    ) -> Result<Vec<u8>, ApiError> {
        let max = self.inner.options.max_body;
        crate::http::read_capped(&mut resp, max)
            .await
            .map_err(|e| match e {
                CappedBody::TooLarge => ApiError::Http {
                    method: label.method.clone(),
                    path: label.path.clone(),
                    reason: format!("the answer is larger than {max} bytes (max_body)"),
                    maybe_processed: !is_idempotent(method),
                },
                CappedBody::Transport(e) => transport_error(&e, method, label),
            })
    }

    /// The delay before retry number `attempt`.
    fn backoff(&self, attempt: u32) -> Duration {
        let o = &self.inner.options;
        crate::backoff::jittered(o.backoff_base, o.backoff_max, attempt)
    }
}

/// A transport failure, without the URL's query and with the error's causes.
fn transport_error(e: &reqwest::Error, method: &Method, label: &Label) -> ApiError {
    let reason = crate::error::describe(e);
    ApiError::Http {
        method: label.method.clone(),
        path: label.path.clone(),
        reason,
        // A request that never connected was not processed.
        maybe_processed: !is_idempotent(method) && !e.is_connect(),
    }
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// lexoffice's error bodies: `{"message": …}`, the structured
/// `{timestamp,status,error,path,traceId,message,details}` and the legacy `IssueList`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    message: Option<String>,
    error: Option<String>,
    trace_id: Option<String>,
    #[serde(default)]
    details: Vec<Violation>,
    #[serde(default, rename = "IssueList")]
    issue_list: Vec<Issue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Issue {
    i18n_key: Option<String>,
    source: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

fn error_body(body: &[u8]) -> Option<ErrorBody> {
    serde_json::from_slice(body).ok()
}

fn says_rate_limit(body: &[u8]) -> bool {
    let text = match error_body(body) {
        Some(b) => b.message.or(b.error).unwrap_or_default(),
        None => String::from_utf8_lossy(&body[..body.len().min(MAX_MESSAGE)]).into_owned(),
    };
    text.to_ascii_lowercase().contains("rate limit")
}

fn shorten(mut s: String) -> String {
    if s.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn not_retried(label: Label, status: StatusCode, body: &[u8]) -> ApiError {
    tracing::warn!(method = %label.method, path = %label.path, status = status.as_u16(), "request may or may not have been processed; not sent again");
    ApiError::NotRetried {
        method: label.method,
        path: label.path,
        status: status.as_u16(),
        message: error_body(body)
            .and_then(|b| b.message.or(b.error))
            .map(shorten),
    }
}

/// What an error body of another API's shape says: its message and violations.
fn other_format_error(format: ApiErrorFormat, body: &[u8]) -> Option<(String, Vec<Violation>)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text =
        |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    match format {
        ApiErrorFormat::Xero => {
            let message = text(&v, "Detail")
                .or_else(|| text(&v, "Message"))
                .or_else(|| text(&v, "Title"))?;
            let details = v
                .get("Elements")
                .and_then(|e| e.as_array())
                .into_iter()
                .flatten()
                .flat_map(|e| {
                    e.get("ValidationErrors")
                        .and_then(|x| x.as_array())
                        .cloned()
                        .unwrap_or_default()
                })
                .map(|e| Violation {
                    field: None,
                    violation: None,
                    message: text(&e, "Message"),
                })
                .collect();
            Some((message, details))
        }
        ApiErrorFormat::Intuit => {
            let errors = v.get("Fault")?.get("Error")?.as_array()?;
            let first = errors.first()?;
            let message = text(first, "Message").or_else(|| text(first, "Detail"))?;
            let details = errors
                .iter()
                .map(|e| Violation {
                    field: text(e, "element"),
                    violation: text(e, "code"),
                    message: text(e, "Detail"),
                })
                .collect();
            Some((message, details))
        }
        ApiErrorFormat::ProblemDetails => {
            let message = text(&v, "detail").or_else(|| text(&v, "title"))?;
            Some((message, Vec::new()))
        }
        ApiErrorFormat::Lexoffice => None,
    }
}

fn status_error(
    label: Label,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    format: ApiErrorFormat,
) -> ApiError {
    if let Some((message, details)) = other_format_error(format, body) {
        return ApiError::Status {
            method: label.method,
            path: label.path,
            status: status.as_u16(),
            message: shorten(crate::error::sanitize(&message, MAX_MESSAGE)),
            details,
            trace_id: None,
        };
    }
    let parsed = error_body(body);
    let (message, details, trace_id) = match parsed {
        Some(b) => {
            let mut details = b.details;
            details.extend(b.issue_list.into_iter().map(|i| Violation {
                field: i.source,
                violation: i.i18n_key,
                message: i.kind,
            }));
            let message = b
                .message
                .or(b.error)
                .unwrap_or_else(|| "no message".to_owned());
            (shorten(message), details, b.trace_id)
        }
        None => {
            let content_type = headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("no content type");
            // Not JSON: the body (an HTML page may echo the request) is not shown.
            (
                format!("an answer of {} bytes ({content_type})", body.len()),
                Vec::new(),
                None,
            )
        }
    };
    ApiError::Status {
        method: label.method,
        path: label.path,
        status: status.as_u16(),
        message,
        details,
        trace_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_errors_surface_message_and_violations() {
        let body = br#"{"timestamp":"2024-01-01T00:00:00Z","status":406,"error":"Not Acceptable","path":"/v1/contacts","traceId":"abc","message":"Validation failed","details":[{"violation":"NOTNULL","field":"company.name","message":"darf nicht leer sein"}]}"#;
        let label = Label {
            method: "POST".into(),
            path: "/v1/contacts".into(),
        };
        let e = status_error(
            label,
            StatusCode::NOT_ACCEPTABLE,
            &HeaderMap::new(),
            body,
            ApiErrorFormat::Lexoffice,
        );
        let msg = e.to_string();
        assert!(msg.contains("HTTP 406"), "{msg}");
        assert!(msg.contains("Validation failed"), "{msg}");
        assert!(
            msg.contains("company.name: darf nicht leer sein (NOTNULL)"),
            "{msg}"
        );
        assert!(msg.contains("fix the fields"), "{msg}");
        match e {
            ApiError::Status {
                trace_id, details, ..
            } => {
                assert_eq!(trace_id.as_deref(), Some("abc"));
                assert_eq!(details.len(), 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn legacy_issue_list_is_read() {
        let body = br#"{"IssueList":[{"i18nKey":"missing_entity","source":"company.name","type":"validation_failure"}]}"#;
        let label = Label {
            method: "POST".into(),
            path: "/v1/contacts".into(),
        };
        let msg = status_error(
            label,
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            body,
            ApiErrorFormat::Lexoffice,
        )
        .to_string();
        assert!(
            msg.contains("company.name: validation_failure (missing_entity)"),
            "{msg}"
        );
    }

    #[test]
    fn html_bodies_are_not_shown() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
        let label = Label {
            method: "GET".into(),
            path: "/v1/profile".into(),
        };
        let msg = status_error(
            label,
            StatusCode::BAD_GATEWAY,
            &headers,
            b"<html>secret echo</html>",
            ApiErrorFormat::Lexoffice,
        )
        .to_string();
        assert!(!msg.contains("secret echo"), "{msg}");
        assert!(msg.contains("text/html"), "{msg}");
    }

    #[test]
    fn rate_limit_bodies() {
        assert!(says_rate_limit(br#"{"message":"Rate limit exceeded"}"#));
        assert!(says_rate_limit(b"RATE LIMIT hit"));
        assert!(!says_rate_limit(br#"{"message":"Internal error"}"#));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn base_urls() {
        assert!(parse_base("https://api.lexware.io/v1").is_ok());
        assert!(parse_base("http://127.0.0.1:8080/v1").is_ok());
        assert!(parse_base("http://localhost/v1").is_ok());
        assert!(parse_base("http://api.lexware.io/v1").is_err());
        assert!(parse_base("https://api.lexware.io/v1?x=1").is_err());
    }

    #[test]
    fn idempotent_methods() {
        for m in [
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ] {
            assert!(is_idempotent(&m));
        }
        assert!(!is_idempotent(&Method::POST));
        assert!(!is_idempotent(&Method::PATCH));
    }

    #[test]
    fn each_providers_error_shape_is_read() {
        let cases: [(ApiErrorFormat, &[u8], &str, usize); 3] = [
            (
                ApiErrorFormat::Xero,
                br#"{"Type":"ValidationException","Message":"A validation exception occurred","Elements":[{"ValidationErrors":[{"Message":"Email address must be valid."}]}]}"#,
                "A validation exception occurred",
                1,
            ),
            (
                ApiErrorFormat::Intuit,
                br#"{"Fault":{"Error":[{"Message":"Duplicate Name Exists Error","Detail":"The name supplied already exists.","code":"6240"}],"type":"ValidationFault"}}"#,
                "Duplicate Name Exists Error",
                1,
            ),
            (
                ApiErrorFormat::ProblemDetails,
                br#"{"type":"about:blank","title":"Bad Request","detail":"client id missing"}"#,
                "client id missing",
                0,
            ),
        ];
        for (format, body, message, details) in cases {
            let label = Label {
                method: "POST".into(),
                path: "/x".into(),
            };
            match status_error(
                label,
                StatusCode::BAD_REQUEST,
                &HeaderMap::new(),
                body,
                format,
            ) {
                ApiError::Status {
                    message: m,
                    details: d,
                    ..
                } => {
                    assert_eq!(m, message, "{format:?}");
                    assert_eq!(d.len(), details, "{format:?}");
                }
                other => panic!("{format:?}: {other:?}"),
            }
        }
        let xero =
            crate::providers::Provider::Xero.preset(crate::providers::Deployment::Production);
        let options = ApiOptions::for_api(xero.api.as_ref().unwrap());
        assert_eq!(options.error_format, ApiErrorFormat::Xero);
        assert_eq!(options.requests_per_second, 1.0);
    }
}
