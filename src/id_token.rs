//! ID-token verification against the provider's JWKS (OpenID Connect Core 3.1.3.7).
//!
//! Signatures and the standard claim checks come from `jsonwebtoken`; the rules it does
//! not know (`azp`, `nonce`, `at_hash`, `iat` in the future, which algorithms may sign an
//! ID token, refetching the JWKS once on an unknown `kid`) are one function each here.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use openidconnect::{AccessToken, Nonce};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;
use url::Url;

use crate::error::{Endpoint, Error, IdTokenProblem};
use crate::http;
use crate::protocol::within;

/// A raw ID token (a signed JWT). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdToken(String);

impl IdToken {
    /// Wraps a raw ID token.
    pub fn new(raw: String) -> Self {
        IdToken(raw)
    }
    /// The raw token. Treat it as a secret: it identifies the user to whoever holds it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdToken([redacted])")
    }
}

/// The verified claims of an ID token. `nonce` and `at_hash` are checked and dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user's stable id at the provider.
    pub sub: String,
    /// Audiences (a string or an array in the token; always a list here).
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// When the user authenticated, if the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Authorized party.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// SHA-256 of the login's `nonce` (hex), kept to check a refreshed ID token against
    /// (OpenID Connect Core 12.2); the nonce itself is not kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce_sha256: Option<String>,
    /// Every other claim (`name`, `email`, …).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl IdTokenClaims {
    /// The subject (`sub`).
    pub fn subject(&self) -> &str {
        &self.sub
    }
    /// A string claim such as `name` or `email`.
    pub fn string(&self, name: &str) -> Option<&str> {
        self.other.get(name).and_then(Value::as_str)
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// The JWKS, cached with a TTL; a fetch forced by an unknown `kid` is rate-limited by a
/// cooldown, so tokens with made-up key ids cannot make the client hammer the provider.
#[derive(Debug, Default)]
pub(crate) struct JwksCache {
    state: tokio::sync::Mutex<JwksState>,
}

#[derive(Debug, Default)]
struct JwksState {
    keys: Option<Arc<Vec<Jwk>>>,
    fetched_at: Option<DateTime<Utc>>,
    forced_at: Option<DateTime<Utc>>,
}

impl JwksCache {
    /// The cached keys, fetched when absent or older than `ttl`.
    async fn get(&self, source: &KeySource<'_>) -> Result<Arc<Vec<Jwk>>, Error> {
        let mut state = self.state.lock().await;
        let now = source.now;
        if let (Some(keys), Some(at)) = (&state.keys, state.fetched_at) {
            if within(at, source.ttl, now) {
                return Ok(keys.clone());
            }
        }
        let keys = Arc::new(fetch_jwks(source.http, source.jwks_uri).await?);
        state.keys = Some(keys.clone());
        state.fetched_at = Some(now);
        Ok(keys)
    }

    /// Fetches again because a token names a key we do not have; `None` while the
    /// cooldown since the last forced fetch runs.
    async fn refetch(&self, source: &KeySource<'_>) -> Result<Option<Arc<Vec<Jwk>>>, Error> {
        let mut state = self.state.lock().await;
        let now = source.now;
        if state
            .forced_at
            .is_some_and(|at| within(at, source.cooldown, now))
        {
            tracing::debug!(
                "unknown key id, but the JWKS was refetched recently; not fetching again"
            );
            return Ok(None);
        }
        // The cooldown starts with the attempt, so a failing JWKS endpoint is not asked
        // again for every token with an unknown key.
        state.forced_at = Some(now);
        let keys = Arc::new(fetch_jwks(source.http, source.jwks_uri).await?);
        state.keys = Some(keys.clone());
        state.fetched_at = Some(now);
        Ok(Some(keys))
    }
}

/// Fetches a JWKS; keys this crate cannot read (unknown `kty` or `alg`) are skipped
/// rather than failing the whole set.
async fn fetch_jwks(http: &reqwest::Client, url: &Url) -> Result<Vec<Jwk>, Error> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<Value>,
    }
    let raw: RawSet = http::fetch_json(Endpoint::Jwks, url, http.get(url.clone())).await?;
    let keys: Vec<Jwk> = raw
        .keys
        .into_iter()
        .filter_map(|k| serde_json::from_value(k).ok())
        .collect();
    tracing::debug!(keys = keys.len(), "JWKS fetched");
    Ok(keys)
}

/// What an ID token is checked against.
pub(crate) struct Expectations<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) allowed_algs: Vec<Algorithm>,
    pub(crate) skew: Duration,
    pub(crate) nonce: Option<&'a Nonce>,
    pub(crate) access_token: Option<&'a AccessToken>,
    /// The time the token is checked at (from the client's clock).
    pub(crate) now: DateTime<Utc>,
}

/// Where the keys come from.
pub(crate) struct KeySource<'a> {
    pub(crate) http: &'a reqwest::Client,
    pub(crate) jwks_uri: &'a Url,
    pub(crate) cache: &'a JwksCache,
    pub(crate) ttl: Duration,
    pub(crate) cooldown: Duration,
    /// The time of the lookup (from the client's clock).
    pub(crate) now: DateTime<Utc>,
}

/// The algorithms that may sign an ID token: those the provider announces (RS256 when it
/// says nothing, OpenID Connect Discovery 3), minus `none` and every HMAC algorithm.
pub(crate) fn allowed_algorithms(announced: Option<&[String]>) -> Vec<Algorithm> {
    let default = ["RS256".to_owned()];
    announced
        .unwrap_or(&default)
        .iter()
        .filter_map(|a| a.parse::<Algorithm>().ok())
        .filter(|a| !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        .collect()
}

/// Verifies an ID token and returns its claims.
pub(crate) async fn verify(
    raw: &IdToken,
    expect: &Expectations<'_>,
    keys: &KeySource<'_>,
) -> Result<IdTokenClaims, Error> {
    let alg = check_algorithm_allowed(raw.secret(), &expect.allowed_algs)?;
    let header = jsonwebtoken::decode_header(raw.secret())
        .map_err(|e| IdTokenProblem::Malformed(e.to_string()))?;
    let kid = header.kid.as_deref();

    let jwks = keys.cache.get(keys).await?;
    let mut choice = matching_keys(&jwks, kid, alg);
    if choice.keys.is_empty() && !choice.only_weak {
        if let Some(fresh) = keys.cache.refetch(keys).await? {
            choice = matching_keys(&fresh, kid, alg);
        }
    }
    verify_with(raw, expect, alg, choice, kid)
}

/// Verifies an ID token with keys already at hand (the fuzz target's way in).
#[cfg(feature = "fuzzing")]
pub(crate) fn verify_with_jwks(
    raw: &IdToken,
    expect: &Expectations<'_>,
    jwks: &[Jwk],
) -> Result<IdTokenClaims, Error> {
    let alg = check_algorithm_allowed(raw.secret(), &expect.allowed_algs)?;
    let header = jsonwebtoken::decode_header(raw.secret())
        .map_err(|e| IdTokenProblem::Malformed(e.to_string()))?;
    let kid = header.kid.as_deref();
    verify_with(raw, expect, alg, matching_keys(jwks, kid, alg), kid)
}

fn verify_with(
    raw: &IdToken,
    expect: &Expectations<'_>,
    alg: Algorithm,
    choice: KeyChoice,
    kid: Option<&str>,
) -> Result<IdTokenClaims, Error> {
    let candidates = choice.keys;
    if candidates.is_empty() {
        if choice.only_weak {
            return Err(IdTokenProblem::WeakKey.into());
        }
        return Err(IdTokenProblem::UnknownKey {
            kid: kid.map(|k| crate::error::sanitize(k, 64)),
        }
        .into());
    }

    let mut validation = Validation::new(alg);
    validation.set_issuer(&[expect.issuer]);
    validation.set_audience(&[expect.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = expect.skew.as_secs();
    // `exp` and `nbf` are checked against the injected clock in check_claims (the
    // crate reads the system clock); their presence and type are still checked here.
    validation.validate_exp = false;
    validation.validate_nbf = false;

    let mut last = IdTokenProblem::BadSignature;
    for key in candidates {
        let Ok(decoding_key) = DecodingKey::from_jwk(&key) else {
            continue;
        };
        match jsonwebtoken::decode::<Map<String, Value>>(raw.secret(), &decoding_key, &validation) {
            Ok(data) => return check_claims(data.claims, expect, alg),
            Err(e) => {
                last = problem_from(e.kind());
                if last != IdTokenProblem::BadSignature {
                    // The signature verified; a claim failed. Another key will not help.
                    break;
                }
            }
        }
    }
    Err(last.into())
}

/// The header's `alg` is present, not `none`, and among the allowed algorithms.
fn check_algorithm_allowed(raw: &str, allowed: &[Algorithm]) -> Result<Algorithm, IdTokenProblem> {
    let header_b64 = raw.split('.').next().unwrap_or_default();
    let header: Map<String, Value> = URL_SAFE_NO_PAD
        .decode(header_b64)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| IdTokenProblem::Malformed("the header is not base64url JSON".into()))?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| IdTokenProblem::Malformed("the header has no alg".into()))?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(IdTokenProblem::Unsigned);
    }
    check_no_critical_extensions(&header)?;
    let allowed_names = || {
        allowed
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match alg.parse::<Algorithm>() {
        Ok(a) if allowed.contains(&a) => Ok(a),
        _ => Err(IdTokenProblem::DisallowedAlgorithm {
            alg: alg.to_owned(),
            allowed: allowed_names(),
        }),
    }
}

/// RFC 7515 4.1.11: a recipient must reject a JWS whose `crit` header names an extension
/// it does not understand. This client understands none, so any `crit` is refused (as is
/// a malformed one).
fn check_no_critical_extensions(header: &Map<String, Value>) -> Result<(), IdTokenProblem> {
    match header.get("crit") {
        None => Ok(()),
        Some(Value::Array(names)) if !names.is_empty() => {
            let names: Vec<String> = names
                .iter()
                .map(|n| {
                    n.as_str()
                        .map(|s| crate::error::sanitize(s, 40))
                        .unwrap_or_else(|| "(not a string)".into())
                })
                .collect();
            Err(IdTokenProblem::CriticalHeader(names.join(", ")))
        }
        Some(_) => Err(IdTokenProblem::CriticalHeader(
            "(malformed: crit must be a non-empty array of names)".into(),
        )),
    }
}

/// The smallest RSA modulus accepted (RFC 7518 3.3: 2048 bits or larger MUST be used).
const MIN_RSA_BITS: usize = 2048;

/// Keys that may have signed a token (RFC 7517 4, RFC 7518 6): meant for signatures
/// (`use` is `sig` or absent; `key_ops`, when present, includes `verify`), of the
/// algorithm's key type and curve, of the token's `alg` when the key names one, and of
/// the token's `kid` when it has one. Weak RSA keys are set apart: see [`KeyChoice`].
fn matching_keys(jwks: &[Jwk], kid: Option<&str>, alg: Algorithm) -> KeyChoice {
    let fitting: Vec<&Jwk> = jwks
        .iter()
        .filter(
            |k| !matches!(k.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature),
        )
        .filter(|k| {
            k.common
                .key_operations
                .as_ref()
                .is_none_or(|ops| ops.contains(&KeyOperations::Verify))
        })
        .filter(|k| key_type_fits(&k.algorithm, alg))
        .filter(|k| {
            k.common
                .key_algorithm
                .is_none_or(|ka| format!("{ka:?}") == format!("{alg:?}"))
        })
        .filter(|k| kid.is_none_or(|kid| k.common.key_id.as_deref() == Some(kid)))
        .collect();
    let (strong, weak): (Vec<&Jwk>, Vec<&Jwk>) = fitting
        .into_iter()
        .partition(|k| strong_enough(&k.algorithm));
    KeyChoice {
        keys: strong.into_iter().cloned().collect(),
        only_weak: !weak.is_empty(),
    }
}

/// The keys that fit a token, and whether weak keys were left out.
struct KeyChoice {
    keys: Vec<Jwk>,
    only_weak: bool,
}

/// An RSA key's modulus has at least [`MIN_RSA_BITS`] bits; other key types are sized
/// by their curve.
fn strong_enough(params: &AlgorithmParameters) -> bool {
    let AlgorithmParameters::RSA(rsa) = params else {
        return true;
    };
    let Ok(n) = URL_SAFE_NO_PAD.decode(rsa.n.trim_end_matches('=')) else {
        return false;
    };
    let Some(first) = n.iter().position(|b| *b != 0) else {
        return false;
    };
    let bits = (n.len() - first) * 8 - n[first].leading_zeros() as usize;
    bits >= MIN_RSA_BITS
}

fn key_type_fits(params: &AlgorithmParameters, alg: Algorithm) -> bool {
    use Algorithm::*;
    match params {
        AlgorithmParameters::RSA(_) => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
        // RFC 7518 3.4: ES256 is P-256, ES384 is P-384.
        AlgorithmParameters::EllipticCurve(ec) => matches!(
            (alg, &ec.curve),
            (ES256, EllipticCurve::P256) | (ES384, EllipticCurve::P384)
        ),
        AlgorithmParameters::OctetKeyPair(_) => matches!(alg, EdDSA),
        // A symmetric key never verifies an ID token here.
        AlgorithmParameters::OctetKey(_) => false,
    }
}

fn problem_from(kind: &jsonwebtoken::errors::ErrorKind) -> IdTokenProblem {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::InvalidSignature => IdTokenProblem::BadSignature,
        K::ExpiredSignature => IdTokenProblem::Expired,
        K::ImmatureSignature => IdTokenProblem::NotYetValid,
        K::InvalidIssuer => IdTokenProblem::WrongIssuer,
        K::InvalidAudience => IdTokenProblem::WrongAudience,
        K::MissingRequiredClaim(c) => IdTokenProblem::MissingClaim(c.clone()),
        K::InvalidAlgorithm | K::MissingAlgorithm => IdTokenProblem::DisallowedAlgorithm {
            alg: "(mismatched key)".into(),
            allowed: "the key's own algorithm".into(),
        },
        other => IdTokenProblem::Malformed(format!("{other:?}")),
    }
}

/// The rules `jsonwebtoken` does not check.
fn check_claims(
    mut claims: Map<String, Value>,
    expect: &Expectations<'_>,
    alg: Algorithm,
) -> Result<IdTokenClaims, Error> {
    let nonce = claims.remove("nonce");
    let at_hash = claims.remove("at_hash");
    let nbf = claims.remove("nbf");
    // Never taken from the token: only this crate computes it.
    claims.remove("nonce_sha256");
    let now = expect.now.timestamp();
    let skew = i64::try_from(expect.skew.as_secs()).unwrap_or(i64::MAX);
    check_not_expired(claims.get("exp"), now, skew)?;
    check_not_before(nbf.as_ref(), now, skew)?;
    let mut parsed: IdTokenClaims = serde_json::from_value(Value::Object(claims))
        .map_err(|e| IdTokenProblem::Malformed(format!("its claims do not parse: {e}")))?;
    parsed.nonce_sha256 = match &nonce {
        None => None,
        Some(Value::String(n)) => Some(hex(&sha2::Sha256::digest(n.as_bytes()))),
        Some(_) => return Err(IdTokenProblem::Malformed("nonce is not a string".into()).into()),
    };
    check_subject(&parsed.sub)?;
    check_iat_not_in_future(parsed.iat, now, skew)?;
    check_azp(&parsed, expect.client_id)?;
    if let Some(expected) = expect.nonce {
        check_nonce(nonce.as_ref().and_then(Value::as_str), expected)?;
    }
    if let (Some(at_hash), Some(token)) = (at_hash, expect.access_token) {
        check_at_hash(at_hash.as_str().unwrap_or_default(), token, alg)?;
    }
    Ok(parsed)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// OpenID Connect Core 12.2: a refreshed ID token names the same issuer, subject,
/// audience and authorized party as the original; its `iat` is not older; its
/// `auth_time`, when present, is the original authentication's; its `nonce`, when
/// present, is the original's.
pub(crate) fn check_refreshed(
    original: &IdTokenClaims,
    refreshed: &IdTokenClaims,
) -> Result<(), IdTokenProblem> {
    let changed = |claim: &'static str| Err(IdTokenProblem::RefreshedClaimChanged { claim });
    if refreshed.sub != original.sub {
        return Err(IdTokenProblem::SubjectChanged);
    }
    if refreshed.iss != original.iss {
        return changed("iss");
    }
    let mut a = original.aud.clone();
    let mut b = refreshed.aud.clone();
    a.sort();
    b.sort();
    if a != b {
        return changed("aud");
    }
    if refreshed.azp != original.azp {
        return changed("azp");
    }
    if refreshed.iat < original.iat {
        return changed("iat");
    }
    if refreshed.auth_time.is_some() && refreshed.auth_time != original.auth_time {
        return changed("auth_time");
    }
    if refreshed.nonce_sha256.is_some() && refreshed.nonce_sha256 != original.nonce_sha256 {
        return changed("nonce");
    }
    Ok(())
}

/// A NumericDate claim (RFC 7519 2) as whole seconds.
fn numeric_date(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

/// OpenID Connect Core 3.1.3.7 (9): `exp` is present and not in the past (beyond the skew).
fn check_not_expired(exp: Option<&Value>, now: i64, skew: i64) -> Result<(), IdTokenProblem> {
    let exp = exp
        .and_then(numeric_date)
        .ok_or_else(|| IdTokenProblem::MissingClaim("exp".into()))?;
    if now > exp.saturating_add(skew) {
        Err(IdTokenProblem::Expired)
    } else {
        Ok(())
    }
}

/// RFC 7519 4.1.5: `nbf`, when present, is not in the future (beyond the skew).
fn check_not_before(nbf: Option<&Value>, now: i64, skew: i64) -> Result<(), IdTokenProblem> {
    match nbf.map(numeric_date) {
        None => Ok(()),
        Some(None) => Err(IdTokenProblem::Malformed("nbf is not a number".into())),
        Some(Some(nbf)) if nbf > now.saturating_add(skew) => Err(IdTokenProblem::NotYetValid),
        Some(Some(_)) => Ok(()),
    }
}

/// OpenID Connect Core 2: `sub` is a non-empty identifier of at most 255 ASCII
/// characters.
fn check_subject(sub: &str) -> Result<(), IdTokenProblem> {
    if sub.is_empty() {
        return Err(IdTokenProblem::MissingClaim("sub".into()));
    }
    if sub.len() > 255 || !sub.is_ascii() {
        return Err(IdTokenProblem::Malformed(
            "sub is longer than 255 ASCII characters".into(),
        ));
    }
    Ok(())
}

/// `iat` is not later than now plus the allowed skew.
fn check_iat_not_in_future(iat: i64, now: i64, skew: i64) -> Result<(), IdTokenProblem> {
    if iat > now.saturating_add(skew) {
        Err(IdTokenProblem::IssuedInFuture)
    } else {
        Ok(())
    }
}

/// OpenID Connect Core 3.1.3.7 (4, 5): with several audiences `azp` must be present; when
/// present it must be this client.
fn check_azp(claims: &IdTokenClaims, client_id: &str) -> Result<(), IdTokenProblem> {
    match &claims.azp {
        Some(azp) if azp != client_id => Err(IdTokenProblem::WrongAuthorizedParty),
        None if claims.aud.len() > 1 => Err(IdTokenProblem::WrongAuthorizedParty),
        _ => Ok(()),
    }
}

/// OpenID Connect Core 3.1.3.7 (11): the `nonce` is the one this login sent.
fn check_nonce(found: Option<&str>, expected: &Nonce) -> Result<(), IdTokenProblem> {
    match found {
        Some(found) if bool::from(found.as_bytes().ct_eq(expected.secret().as_bytes())) => Ok(()),
        _ => Err(IdTokenProblem::NonceMismatch),
    }
}

/// OpenID Connect Core 3.1.3.8: `at_hash` is the base64url left half of the hash of the
/// access token, with the hash of the ID token's algorithm.
fn check_at_hash(at_hash: &str, token: &AccessToken, alg: Algorithm) -> Result<(), IdTokenProblem> {
    if bool::from(at_hash_for(token, alg).as_bytes().ct_eq(at_hash.as_bytes())) {
        Ok(())
    } else {
        Err(IdTokenProblem::AtHashMismatch)
    }
}

/// The `at_hash` of an access token for an algorithm.
pub(crate) fn at_hash_for(token: &AccessToken, alg: Algorithm) -> String {
    use Algorithm::*;
    let bytes = token.secret().as_bytes();
    let digest: Vec<u8> = match alg {
        RS384 | PS384 | ES384 | HS384 => sha2::Sha384::digest(bytes).to_vec(),
        RS512 | PS512 | HS512 | EdDSA => sha2::Sha512::digest(bytes).to_vec(),
        _ => sha2::Sha256::digest(bytes).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_algorithms_never_include_hmac_or_none() {
        let algs = allowed_algorithms(Some(&[
            "RS256".into(),
            "HS256".into(),
            "none".into(),
            "ES256".into(),
        ]));
        assert_eq!(algs, vec![Algorithm::RS256, Algorithm::ES256]);
        assert_eq!(allowed_algorithms(None), vec![Algorithm::RS256]);
    }

    #[test]
    fn alg_none_is_refused_before_anything_else() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let raw = format!("{header}.e30.");
        assert_eq!(
            check_algorithm_allowed(&raw, &[Algorithm::RS256]),
            Err(IdTokenProblem::Unsigned)
        );
    }

    #[test]
    fn at_hash_matches_the_spec_example() {
        // OpenID Connect Core A.3: access token and at_hash of the RS256 example.
        let token = AccessToken::new("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y".into());
        assert_eq!(
            at_hash_for(&token, Algorithm::RS256),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn a_refreshed_id_token_keeps_the_originals_claims() {
        let original = IdTokenClaims {
            iss: "https://id.example".into(),
            sub: "s".into(),
            aud: vec!["me".into()],
            exp: 200,
            iat: 100,
            auth_time: Some(90),
            azp: None,
            nonce_sha256: Some("ab".into()),
            other: Map::new(),
        };
        assert_eq!(check_refreshed(&original, &original), Ok(()));
        type Change = fn(&mut IdTokenClaims);
        let cases: [(&str, Change); 6] = [
            ("iss", |c| c.iss = "https://evil".into()),
            ("aud", |c| c.aud = vec!["other".into()]),
            ("azp", |c| c.azp = Some("other".into())),
            ("iat", |c| c.iat = 99),
            ("auth_time", |c| c.auth_time = Some(95)),
            ("nonce", |c| c.nonce_sha256 = Some("cd".into())),
        ];
        for (claim, change) in cases {
            let mut refreshed = original.clone();
            change(&mut refreshed);
            assert_eq!(
                check_refreshed(&original, &refreshed),
                Err(IdTokenProblem::RefreshedClaimChanged { claim }),
                "{claim}"
            );
        }
        let mut other_user = original.clone();
        other_user.sub = "t".into();
        assert_eq!(
            check_refreshed(&original, &other_user),
            Err(IdTokenProblem::SubjectChanged)
        );
        // Absent auth_time and nonce in the refreshed token are allowed.
        let mut lean = original.clone();
        lean.auth_time = None;
        lean.nonce_sha256 = None;
        lean.iat = 150;
        assert_eq!(check_refreshed(&original, &lean), Ok(()));
    }

    #[test]
    fn azp_is_required_with_several_audiences() {
        let mut c = IdTokenClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: vec!["me".into(), "other".into()],
            exp: 0,
            iat: 0,
            auth_time: None,
            azp: None,
            nonce_sha256: None,
            other: Map::new(),
        };
        assert!(check_azp(&c, "me").is_err());
        c.azp = Some("me".into());
        assert!(check_azp(&c, "me").is_ok());
        c.azp = Some("other".into());
        assert!(check_azp(&c, "me").is_err());
    }

    #[test]
    fn id_token_debug_is_redacted() {
        let t = IdToken::new("eyJhbGciOi.secret.value".into());
        assert_eq!(format!("{t:?}"), "IdToken([redacted])");
    }
}
