//! Plain-HTTP helpers for testing the sandbox itself (no client library in between):
//! a redirect-free HTTP client, the PKCE pair, a hand-made authorize request, and
//! reading redirects.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use lexoffice_login_sandbox::Sandbox;
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The PKCE verifier of every hand-made authorize request.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk-sandbox-test";

/// The S256 challenge of a verifier.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// An HTTP client that does not follow redirects.
pub fn http() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// GET `path` on the sandbox and read the JSON answer.
pub async fn get_json<T: serde::de::DeserializeOwned>(sb: &Sandbox, path: &str) -> T {
    http()
        .get(sb.url(path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The query parameters of a URL.
pub fn query_of(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The `Location` header of a redirect.
pub fn location(resp: &Response) -> String {
    resp.headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_string()
}

/// An authorize request with the default client, PKCE S256, state and nonce; `extra`
/// overrides parameters, or (with an empty value) removes them.
pub async fn authorize(sb: &Sandbox, extra: &[(&str, &str)]) -> Response {
    let ch = challenge(VERIFIER);
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", sb.client_id()),
        ("redirect_uri", sb.redirect_uri()),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", &ch),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        params.retain(|(pk, _)| pk != k);
        params.push((k, v));
    }
    params.retain(|(_, v)| !v.is_empty());
    http()
        .get(sb.url("/oauth2/authorize"))
        .query(&params)
        .send()
        .await
        .unwrap()
}

/// An error answer's status and its `error` code (empty when the body has none).
pub async fn error_of(resp: Response) -> (StatusCode, String) {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

/// The string member `key` of a JSON object; panics naming it when it is missing.
pub fn str_field(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .to_string()
}
