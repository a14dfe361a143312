//! The [`TokenSet`] and the token endpoint's answers.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use openidconnect::{AccessToken, ClientSecret, RefreshToken};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::config::ClientAuthMethod;
use crate::id_token::{IdToken, IdTokenClaims};
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
            .finish()
    }
}

/// The token endpoint's successful answer (RFC 6749 5.1), read leniently where real
/// providers stray: `expires_in` as a string, `token_type` in any case.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    #[serde(default)]
    pub(crate) token_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub(crate) expires_in: Option<u64>,
    #[serde(default)]
    pub(crate) refresh_token: Option<String>,
    #[serde(default)]
    pub(crate) id_token: Option<String>,
    #[serde(default)]
    pub(crate) scope: Option<String>,
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// Seconds as a JSON number, a float, or a string of digits.
fn lenient_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(_) => None,
    })
}

impl TokenResponse {
    /// The absolute expiry, from `expires_in` and the time the answer arrived.
    pub(crate) fn expires_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let secs = i64::try_from(self.expires_in?).ok()?;
        now.checked_add_signed(chrono::Duration::try_seconds(secs)?)
    }

    /// Granted scopes: the answer's `scope` when given, else what was requested.
    pub(crate) fn granted_scopes(&self, requested: &Scopes) -> Scopes {
        self.scope
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

    #[test]
    fn expires_in_may_be_a_string_or_a_float() {
        for body in [
            r#"{"access_token":"a","expires_in":"3600"}"#,
            r#"{"access_token":"a","expires_in":3600}"#,
            r#"{"access_token":"a","expires_in":3600.0}"#,
        ] {
            let r: TokenResponse = serde_json::from_str(body).unwrap();
            assert_eq!(r.expires_in, Some(3600), "{body}");
        }
        let r: TokenResponse = serde_json::from_str(r#"{"access_token":"a"}"#).unwrap();
        assert_eq!(r.expires_in, None);
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
