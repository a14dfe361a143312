//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`; not part of the
//! public API and not covered by semver). Each runs one parser that takes outside input,
//! with every rule the library applies to it, and never touches the network or the
//! disk.

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use openidconnect::Nonce;

use crate::config::{ConfigError, LoadOptions, Settings};
use crate::error::Error;
use crate::id_token::{self, Expectations, IdToken};
use crate::metadata::{self, ProviderMetadata};
use crate::scope::Scopes;
use crate::store::StoreError;
use crate::tokens::TokenResponse;

/// A redirect, read by a pending login's callback rules (state, `iss`, size caps).
/// `FUZZ_STATE` in the input stands for the login's own state, so that inputs reach
/// the rules after the state check.
pub fn callback(input: &str) -> Result<(), Error> {
    let settings = Settings::builder(
        "https://id.example.com",
        "client-1",
        "http://127.0.0.1:8765/callback",
    )
    .client_secret("s")
    .scopes(["profile.read"])
    .without_discovery()
    .endpoints(
        "https://id.example.com/authorize",
        "https://id.example.com/token",
        None,
        None,
        None,
    )
    .build()?;
    let metadata = ProviderMetadata::from_settings(&settings);
    let (_, pending) =
        crate::authorize::authorization_url(&settings, &metadata, crate::AuthorizeOptions::new())?;
    let input = input.replace("FUZZ_STATE", pending.state.secret());
    pending.verify_callback(&input, &metadata).map(drop)
}

/// A token endpoint's answer body, read and checked (RFC 6749 5.1).
pub fn token_answer(body: &[u8]) -> Result<(), Error> {
    let answer: TokenResponse =
        serde_json::from_slice(body).map_err(|e| Error::MalformedResponse {
            endpoint: crate::Endpoint::Token,
            url: "fuzz".into(),
            detail: e.to_string(),
        })?;
    let checked = answer.check()?;
    let _ = checked.expires_at(Utc::now());
    let _ = checked.granted_scopes(&Scopes::new());
    Ok(())
}

/// An ID token verified against a JWKS document (RS256/ES256 allowed), as at the end of
/// a login with `nonce`.
pub fn id_token(token: &str, jwks: &[u8], nonce: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let set: JwkSet = serde_json::from_slice(jwks).map_err(|e| Error::MalformedResponse {
        endpoint: crate::Endpoint::Jwks,
        url: "fuzz".into(),
        detail: e.to_string(),
    })?;
    let nonce = Nonce::new(nonce.to_owned());
    let expect = Expectations {
        issuer: "https://id.example.com",
        client_id: "client-1",
        allowed_algs: id_token::allowed_algorithms(Some(&["RS256".into(), "ES256".into()])),
        skew: std::time::Duration::from_secs(60),
        nonce: Some(&nonce),
        access_token: None,
        now,
    };
    id_token::verify_with_jwks(&IdToken::new(token.to_owned()), &expect, &set.keys).map(drop)
}

/// A discovery document, parsed and put through every check of [`metadata`].
pub fn discovery(body: &[u8]) -> Result<(), Error> {
    let m: ProviderMetadata =
        serde_json::from_slice(body).map_err(|e| Error::MalformedResponse {
            endpoint: crate::Endpoint::Discovery,
            url: "fuzz".into(),
            detail: e.to_string(),
        })?;
    metadata::check_issuer_matches("https://id.example.com", &m)?;
    metadata::check_pkce_s256_supported(&m)?;
    metadata::check_endpoints_are_secure(&m)?;
    let _ = metadata::unlisted_scopes(&"openid profile".parse().unwrap_or_default(), &m);
    Ok(())
}

/// Settings from TOML text laid over the built-in `local` environment, with the given
/// environment variables.
pub fn settings(toml: &str, vars: Vec<(String, String)>) -> Result<Settings, ConfigError> {
    crate::config::load_with_text(
        LoadOptions {
            env: Some("local".into()),
            vars: Some(vars.into_iter().collect()),
            ..LoadOptions::default()
        },
        toml,
    )
}

/// A token store file's bytes, decoded as the file store does (with `key`, or in clear).
pub fn store_file(bytes: &[u8], key: Option<[u8; 32]>) -> Result<(), StoreError> {
    crate::store::decode_for_fuzzing(bytes, key).map(drop)
}
