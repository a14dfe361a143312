//! The authorization URL and the [`PendingLogin`] that remembers what it sent.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use openidconnect::{CsrfToken, Nonce, PkceCodeChallenge, PkceCodeVerifier};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::Settings;
use crate::error::Error;
use crate::metadata::ProviderMetadata;
use crate::protocol::is_protocol_param;
use crate::scope::Scopes;

/// Random bytes in `state` (256 bits; the floor is 128).
const STATE_BYTES: u32 = 32;

/// What a login may change from the settings.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct AuthorizeOptions {
    scopes: Option<Scopes>,
    params: BTreeMap<String, String>,
}

impl AuthorizeOptions {
    /// The settings' scopes and parameters.
    pub fn new() -> Self {
        Self::default()
    }
    /// Asks for these scopes instead of the configured ones.
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = Some(scopes);
        self
    }
    /// Adds an authorization parameter (`prompt`, `login_hint`, lexoffice's `reauthorize`).
    /// The protocol's own parameters (state, nonce, PKCE, …) cannot be set this way.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }
}

/// A login that was started and waits for its redirect.
///
/// It holds the `state`, the `nonce` and the PKCE verifier, none of which `Debug` shows.
/// It serializes, so that a web backend can keep it in a server-side session (never in a
/// cookie the browser can read: it holds the verifier). It is consumed by
/// [`Client::exchange`](crate::Client::exchange), so it completes at most once.
#[derive(Serialize, Deserialize)]
pub struct PendingLogin {
    pub(crate) state: CsrfToken,
    pub(crate) nonce: Option<Nonce>,
    pub(crate) verifier: PkceCodeVerifier,
    pub(crate) issuer: String,
    pub(crate) redirect_uri: Url,
    pub(crate) scopes: Scopes,
    pub(crate) created_at: DateTime<Utc>,
}

impl PendingLogin {
    /// The scopes this login asked for.
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }
    /// The redirect URI this login sent.
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }
    /// When the login was started.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// The issuer this login went to.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("issuer", &self.issuer)
            .field("redirect_uri", &self.redirect_uri.as_str())
            .field("scopes", &self.scopes.to_string())
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Builds the authorization URL (RFC 6749 4.1.1, RFC 7636 4.3, OpenID Connect Core
/// 3.1.2.1) and the pending login that can complete it.
pub(crate) fn authorization_url(
    settings: &Settings,
    metadata: &ProviderMetadata,
    options: AuthorizeOptions,
) -> Result<(Url, PendingLogin), Error> {
    let scopes = options.scopes.unwrap_or_else(|| settings.scopes().clone());
    let unlisted = crate::metadata::unlisted_scopes(&scopes, metadata);
    if !unlisted.is_empty() {
        tracing::warn!(scopes = %unlisted.join(" "), "asking for scopes the provider does not list in scopes_supported");
    }
    let state = CsrfToken::new_random_len(STATE_BYTES);
    let nonce = scopes.is_openid().then(Nonce::new_random);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();

    let mut url = metadata.authorization()?.url().clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", settings.client_id().as_str())
            .append_pair("redirect_uri", settings.redirect_uri().as_str())
            .append_pair("scope", &scopes.to_string())
            .append_pair("state", state.secret())
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", challenge.method().as_str());
        if let Some(nonce) = &nonce {
            q.append_pair("nonce", nonce.secret());
        }
        let mut extra = settings.extra_authorize_params().clone();
        extra.extend(options.params);
        for (name, value) in &extra {
            if !is_protocol_param(name) {
                q.append_pair(name, value);
            }
        }
    }
    tracing::debug!(scopes = %scopes, "authorization URL built");
    let pending = PendingLogin {
        state,
        nonce,
        verifier,
        issuer: settings.issuer().to_owned(),
        redirect_uri: settings.redirect_uri().clone(),
        scopes,
        created_at: Utc::now(),
    };
    Ok((url, pending))
}
