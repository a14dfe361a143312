//! The [`TokenSet`] and the token endpoint's answers.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use openidconnect::{AccessToken, ClientSecret, RefreshToken};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::TokenAnswerProblem;
use crate::id_token::{IdToken, IdTokenClaims};
use crate::protocol::ClientAuthMethod;
use crate::scope::Scopes;

/// The tokens of one login, ready to be stored.
///
/// Times are absolute. `Debug` shows no token. Serialization writes the tokens in clear:
/// store the result the way a password is stored.
///
/// ```
/// use std::time::Duration;
/// use lexoffice_login::TokenSet;
///
/// let tokens: TokenSet = serde_json::from_str(r#"{
///     "access_token": "at-1", "token_type": "Bearer",
///     "refresh_token": "rt-1", "expires_at": "2030-01-01T00:00:00Z",
///     "scopes": "profile.read", "obtained_at": "2029-12-31T23:00:00Z"
/// }"#).unwrap();
/// let now = "2029-12-31T23:59:00Z".parse().unwrap();
/// assert!(tokens.expires_within_at(Duration::from_secs(120), now));
/// assert!(!tokens.is_expired_at(now));
/// assert!(!format!("{tokens:?}").contains("at-1"));
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenSet {
    /// The access token.
    pub access_token: AccessToken,
    /// The token type (`Bearer`).
    pub token_type: String,
    /// The refresh token, if the provider issued one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// The raw ID token, if `openid` was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<IdToken>,
    /// The verified claims of the ID token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_claims: Option<IdTokenClaims>,
    /// When the access token expires, if the provider said (`expires_in`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The granted scopes: the answer's `scope`, else the requested ones (RFC 6749 5.1).
    pub scopes: Scopes,
    /// When these tokens were obtained.
    pub obtained_at: DateTime<Utc>,
    /// Provider-specific values: extra fields of the token answer
    /// (`x_refresh_token_expires_in`) and extra parameters of the redirect (`realmId`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extras: BTreeMap<String, Value>,
    /// Where the login was made: the issuer, the client and the endpoints. A client
    /// configured for another issuer or client refuses to refresh, revoke or ask
    /// userinfo with these tokens ([`Error::ForeignLogin`](crate::Error::ForeignLogin)),
    /// so a token is never sent to a server other than the one that issued it. `None`
    /// for logins stored by earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<LoginOrigin>,
}

/// Where a login was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LoginOrigin {
    /// The issuer.
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// The provider preset in use, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<crate::providers::Provider>,
    /// The token endpoint the login's tokens came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<crate::protocol::TokenUrl>,
    /// The revocation endpoint, if the provider has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<crate::protocol::RevocationUrl>,
    /// The userinfo endpoint, if the provider has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<crate::protocol::UserinfoUrl>,
}

impl TokenSet {
    /// The verified ID-token claims, if there is an ID token.
    pub fn id_token_claims(&self) -> Option<&IdTokenClaims> {
        self.id_token_claims.as_ref()
    }

    /// Whether the access token expires within `margin` from now (false when the
    /// provider gave no lifetime).
    pub fn expires_within(&self, margin: Duration) -> bool {
        self.expires_within_at(margin, Utc::now())
    }

    /// [`TokenSet::expires_within`] at the time `now` (from an injected
    /// [`Clock`](crate::Clock)).
    pub fn expires_within_at(&self, margin: Duration, now: DateTime<Utc>) -> bool {
        self.expires_at
            .is_some_and(|at| crate::protocol::time_add(now, margin) >= at)
    }

    /// The refresh margin for these tokens: `configured`, or half the access token's
    /// lifetime when that is shorter, so that short-lived tokens are not refreshed on
    /// every use.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lexoffice_login::TokenSet;
    ///
    /// let tokens: TokenSet = serde_json::from_str(r#"{
    ///     "access_token": "a", "token_type": "Bearer", "scopes": "",
    ///     "obtained_at": "2030-01-01T00:00:00Z", "expires_at": "2030-01-01T00:00:04Z"
    /// }"#).unwrap();
    /// assert_eq!(tokens.refresh_margin(Duration::from_secs(120)), Duration::from_secs(2));
    /// ```
    pub fn refresh_margin(&self, configured: Duration) -> Duration {
        let lifetime = self
            .expires_at
            .and_then(|at| (at - self.obtained_at).to_std().ok());
        match lifetime {
            Some(lifetime) => configured.min(lifetime / 2),
            None => configured,
        }
    }

    /// Whether the access token has expired.
    pub fn is_expired(&self) -> bool {
        self.is_expired_at(Utc::now())
    }

    /// [`TokenSet::is_expired`] at the time `now`.
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_within_at(Duration::ZERO, now)
    }

    /// A provider-specific value, such as QuickBooks' `realmId`.
    pub fn extra(&self, name: &str) -> Option<&Value> {
        self.extras.get(name)
    }
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .field("id_token_claims", &self.id_token_claims)
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes.to_string())
            .field("obtained_at", &self.obtained_at)
            .field("extras", &self.extras.keys().collect::<Vec<_>>())
            .field("origin", &self.origin)
            .finish()
    }
}

/// The token endpoint's successful answer (RFC 6749 5.1), as sent. [`TokenResponse::check`]
/// applies the rules; lenient only where real providers stray harmlessly: `expires_in`
/// as a string of digits or a float, `token_type` in any case.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    #[serde(default)]
    pub(crate) token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<Value>,
    #[serde(default)]
    pub(crate) refresh_token: Option<String>,
    #[serde(default)]
    pub(crate) id_token: Option<String>,
    #[serde(default)]
    pub(crate) scope: Option<String>,
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// The longest lifetime taken from `expires_in` (ten years); anything longer is read as
/// this, so that a huge value cannot overflow a time.
const MAX_EXPIRES_IN: u64 = 10 * 365 * 86_400;

/// A checked token answer: what the rules of RFC 6749 5.1 leave.
pub(crate) struct CheckedAnswer {
    pub(crate) answer: TokenResponse,
    /// The lifetime of the access token, where the answer gives one.
    pub(crate) expires_in: Option<u64>,
}

impl TokenResponse {
    /// RFC 6749 5.1 and 7.1: an access token that is not empty, a `token_type` this
    /// client understands (Bearer), an `expires_in` that is a non-negative number of
    /// seconds, and no empty refresh or ID token.
    pub(crate) fn check(self) -> Result<CheckedAnswer, TokenAnswerProblem> {
        if self.access_token.is_empty() {
            return Err(TokenAnswerProblem::EmptyAccessToken);
        }
        match self.token_type.as_deref() {
            None => return Err(TokenAnswerProblem::MissingTokenType),
            Some(t) if t.eq_ignore_ascii_case("bearer") => {}
            Some(other) => return Err(TokenAnswerProblem::UnsupportedTokenType(printable(other))),
        }
        if self.refresh_token.as_deref() == Some("") {
            return Err(TokenAnswerProblem::EmptyRefreshToken);
        }
        if self.id_token.as_deref() == Some("") {
            return Err(TokenAnswerProblem::EmptyIdToken);
        }
        let expires_in = match &self.expires_in {
            None | Some(Value::Null) => None,
            Some(v) => Some(seconds(v).ok_or(TokenAnswerProblem::InvalidExpiresIn)?),
        };
        Ok(CheckedAnswer {
            answer: self,
            expires_in,
        })
    }
}

/// Whole seconds as a JSON number (an integer, or a float with no fraction such as
/// `3600.0`; not negative) or a string of digits; capped at [`MAX_EXPIRES_IN`].
fn seconds(v: &Value) -> Option<u64> {
    let secs = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f.min(MAX_EXPIRES_IN as f64) as u64)
        })?,
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse::<u64>().unwrap_or(MAX_EXPIRES_IN)
        }
        _ => return None,
    };
    Some(secs.min(MAX_EXPIRES_IN))
}

/// A value from a provider, made safe to show: no control characters, at most 64
/// characters.
pub(crate) fn printable(s: &str) -> String {
    crate::protocol::sanitize(s, 64)
}

impl CheckedAnswer {
    /// The absolute expiry, from `expires_in` and the time the answer arrived.
    pub(crate) fn expires_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        Some(crate::protocol::time_add(
            now,
            std::time::Duration::from_secs(self.expires_in?),
        ))
    }

    /// Granted scopes: the answer's `scope` when given, else what was requested.
    pub(crate) fn granted_scopes(&self, requested: &Scopes) -> Scopes {
        self.answer
            .scope
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| requested.clone())
    }
}

/// Adds client authentication to a token, revocation or introspection request.
pub(crate) fn authenticate(
    request: reqwest::RequestBuilder,
    form: &mut Vec<(&'static str, String)>,
    method: ClientAuthMethod,
    client_id: &str,
    secret: Option<&ClientSecret>,
) -> reqwest::RequestBuilder {
    match (method, secret) {
        (ClientAuthMethod::ClientSecretBasic, Some(secret)) => {
            // RFC 6749 2.3.1: id and secret are form-encoded before Basic encoding.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request.basic_auth(enc(client_id), Some(enc(secret.secret())))
        }
        (ClientAuthMethod::ClientSecretPost, Some(secret)) => {
            form.push(("client_id", client_id.to_owned()));
            form.push(("client_secret", secret.secret().clone()));
            request
        }
        _ => {
            form.push(("client_id", client_id.to_owned()));
            request
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str) -> Result<CheckedAnswer, TokenAnswerProblem> {
        serde_json::from_str::<TokenResponse>(body).unwrap().check()
    }

    #[test]
    fn expires_in_may_be_a_string_or_a_float() {
        for body in [
            r#"{"access_token":"a","token_type":"Bearer","expires_in":"3600"}"#,
            r#"{"access_token":"a","token_type":"bearer","expires_in":3600}"#,
            r#"{"access_token":"a","token_type":"BEARER","expires_in":3600.0}"#,
        ] {
            assert_eq!(check(body).unwrap().expires_in, Some(3600), "{body}");
        }
        let r = check(r#"{"access_token":"a","token_type":"Bearer"}"#).unwrap();
        assert_eq!(r.expires_in, None);
        let huge = check(r#"{"access_token":"a","token_type":"Bearer","expires_in":1e300}"#);
        assert_eq!(huge.unwrap().expires_in, Some(MAX_EXPIRES_IN));
    }

    #[test]
    fn the_rules_of_a_token_answer() {
        use TokenAnswerProblem::*;
        for (body, want) in [
            (
                r#"{"access_token":"","token_type":"Bearer"}"#,
                EmptyAccessToken,
            ),
            (r#"{"access_token":"a"}"#, MissingTokenType),
            (
                r#"{"access_token":"a","token_type":"mac"}"#,
                UnsupportedTokenType("mac".into()),
            ),
            (
                r#"{"access_token":"a","token_type":"Bearer","expires_in":-5}"#,
                InvalidExpiresIn,
            ),
            (
                r#"{"access_token":"a","token_type":"Bearer","expires_in":"soon"}"#,
                InvalidExpiresIn,
            ),
            (
                r#"{"access_token":"a","token_type":"Bearer","expires_in":true}"#,
                InvalidExpiresIn,
            ),
            (
                r#"{"access_token":"a","token_type":"Bearer","expires_in":1.5}"#,
                InvalidExpiresIn,
            ),
            (
                r#"{"access_token":"a","token_type":"Bearer","refresh_token":""}"#,
                EmptyRefreshToken,
            ),
            (
                r#"{"access_token":"a","token_type":"Bearer","id_token":""}"#,
                EmptyIdToken,
            ),
        ] {
            assert_eq!(check(body).err(), Some(want), "{body}");
        }
    }

    #[test]
    fn extras_are_kept() {
        let r: TokenResponse =
            serde_json::from_str(r#"{"access_token":"a","x_refresh_token_expires_in":8726400}"#)
                .unwrap();
        assert_eq!(
            r.extra.get("x_refresh_token_expires_in"),
            Some(&Value::from(8726400))
        );
    }

    #[test]
    fn token_set_debug_hides_tokens() {
        let t = TokenSet {
            access_token: AccessToken::new("at-secret".into()),
            token_type: "Bearer".into(),
            refresh_token: Some(RefreshToken::new("rt-secret".into())),
            id_token: Some(IdToken::new("id-secret".into())),
            id_token_claims: None,
            expires_at: None,
            scopes: Scopes::new(),
            obtained_at: Utc::now(),
            extras: BTreeMap::new(),
            origin: None,
        };
        let d = format!("{t:?}");
        for s in ["at-secret", "rt-secret", "id-secret"] {
            assert!(!d.contains(s), "{d}");
        }
        let json = serde_json::to_string(&t).unwrap();
        let back: TokenSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back.access_token.secret(), "at-secret");
    }
}
