//! Log applications into lexoffice (Lexware Office) and other OpenID Connect / OAuth 2.0
//! providers: the authorization-code flow with PKCE (S256), `state`, `nonce` and RFC 9207
//! `iss` checks, ID tokens verified against the provider's JWKS, typed lexoffice scopes,
//! and refresh and revocation. No secret ever appears in `Debug` output, error messages
//! or logs.
//!
//! ```no_run
//! use lexoffice_login::{Client, Settings};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // config/default.toml + config/production.toml + LEXOFFICE_LOGIN_* variables
//! // (LEXOFFICE_LOGIN_CLIENT_ID, LEXOFFICE_LOGIN_CLIENT_SECRET).
//! let settings = Settings::load(Some("production"))?;
//! let client = Client::connect(settings).await?;
//!
//! // 1. Send the user's browser to `url`; keep `pending` (server-side) until it returns.
//! let (url, pending) = client.authorize()?;
//! println!("open {url}");
//!
//! // 2. The provider redirects to the redirect URI; hand that URL over.
//! let redirect = "http://127.0.0.1:8765/callback?code=...&state=...";
//! let tokens = client.complete(pending, redirect).await?;
//!
//! // 3. Keep the tokens fresh.
//! if tokens.expires_within(std::time::Duration::from_secs(120)) {
//!     let tokens = client.refresh(&tokens).await?;
//!     # let _ = tokens;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Where a provider publishes OpenID Connect discovery, endpoints and supported scopes come
//! from its metadata; where it does not (lexoffice's Partner API), they come from the
//! configuration ([`Settings`]). Provider facts (endpoints, API, quirks) come from one
//! [`ProviderPreset`] per provider ([`providers`]). Errors say what to do
//! ([`Error::kind`]).
//!
//! The crate `lexoffice-login-sandbox` (a dev-dependency) runs a local issuer that
//! behaves like lexoffice, DATEV, Xero or QuickBooks Online, for examples and tests; the
//! crate `lexoffice-login-cli` is the `lexoffice-login` command line. Neither is a
//! dependency of this library.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub mod api;
mod authorize;
mod backoff;
mod callback;
mod client;
pub mod config;
pub mod connections;
mod device;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod id_token;
mod manager;
pub mod metadata;
pub mod protocol;
pub mod providers;
pub mod ratelimit;
mod scope;
pub mod store;
mod tokens;
#[cfg(feature = "axum")]
pub mod web;
#[cfg(feature = "webhooks")]
pub mod webhooks;

pub use api::{ApiClient, ApiClientBuilder, ApiError, ApiOptions, ApiResponse};
pub use authorize::{AuthorizeOptions, PendingLogin};
pub use callback::AuthorizationResponse;
pub use client::{Client, Tenant, TokenKind};
pub use config::{
    ConfigError, ConfigProblem, Discovery, Endpoints, LoadOptions, Settings, SettingsBuilder,
};
pub use device::{DeviceAuthorization, DevicePoll};
pub use error::{Error, ErrorKind, IdTokenProblem, TokenAnswerProblem};
pub use id_token::{IdToken, IdTokenClaims};
pub use manager::{ManagerError, ManagerOptions, TokenManager};
pub use metadata::ProviderMetadata;
pub use protocol::{
    ApiBaseUrl, AuthUrl, ClientAuthMethod, Clock, DeviceAuthUrl, DiscoveryUrl, Endpoint,
    FixedClock, JwksUrl, RevocationUrl, SystemClock, TenantsUrl, TokenUrl, UserinfoUrl,
};
pub use providers::{Provider, ProviderPreset};
pub use scope::{Scope, ScopeError, ScopePreset, Scopes, UnknownScopePreset};
pub use tokens::{LoginOrigin, TokenSet};

/// Secret newtypes from the `oauth2` crate; their `Debug` prints `[redacted]`.
pub use openidconnect::{AccessToken, ClientId, ClientSecret, RefreshToken};

/// The README's examples, compiled as doc tests so that they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
