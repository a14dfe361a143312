//! Interop tests against an independent, certified OpenID Provider: panva's
//! `oidc-provider` (npm), run with Node.js from `tests/interop/provider.mjs`.
//!
//! Needs Node.js >= 20.19 on PATH (oidc-provider 9 officially supports Node 22 LTS and
//! later; on Node 20 it prints a harmless "Unsupported runtime" warning and works).
//! `npm ci --prefix tests/interop` is run on first use if `tests/interop/node_modules` is
//! missing.

mod support;

use base64::Engine as _;
use lexoffice_login::{Client, ClientAuthMethod, Error, Settings, TokenSet};
use sha2::Digest as _;
use support::browser::drive_oidc_provider_login;
use support::oidc_provider::{
    OidcProvider, CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET, PUBLIC_CLIENT_ID,
    REDIRECT_URI,
};
use url::Url;

/// The harness itself, without the library: discovery, a login driven through the
/// provider's pages, and the code exchange by hand. If this fails, the provider or the
/// browser driver is broken, not the library.
#[tokio::test]
async fn harness_logs_in_at_oidc_provider_without_the_library() {
    let provider = OidcProvider::start().await;
    eprintln!("oidc-provider started in {:?}", provider.startup);
    let http = reqwest::Client::new();

    let discovery: serde_json::Value = http
        .get(format!(
            "{}/.well-known/openid-configuration",
            provider.issuer()
        ))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], provider.issuer());
    assert_eq!(
        discovery["authorization_response_iss_parameter_supported"],
        true
    );

    let verifier = "interop-harness-code-verifier-0123456789-abcdefghijklmnop";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut auth_url = Url::parse(discovery["authorization_endpoint"].as_str().unwrap()).unwrap();
    auth_url
        .query_pairs_mut()
        .append_pair("client_id", CONFIDENTIAL_CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", "openid profile email offline_access")
        .append_pair("state", "harness-state")
        .append_pair("nonce", "harness-nonce")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");

    let redirect = drive_oidc_provider_login(&auth_url, "alice").await;
    let param = |name: &str| {
        redirect
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert!(redirect.as_str().starts_with(REDIRECT_URI), "{redirect}");
    assert_eq!(param("state").as_deref(), Some("harness-state"));
    assert_eq!(
        param("iss").as_deref(),
        Some(provider.issuer()),
        "RFC 9207 iss"
    );
    let code = param("code").unwrap_or_else(|| panic!("no code in {redirect}"));

    let tokens: serde_json::Value = http
        .post(discovery["token_endpoint"].as_str().unwrap())
        .basic_auth(CONFIDENTIAL_CLIENT_ID, Some(CONFIDENTIAL_CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(tokens["id_token"].is_string(), "{tokens}");
    assert!(tokens["access_token"].is_string(), "{tokens}");
    assert!(tokens["refresh_token"].is_string(), "{tokens}");

    let requests = provider.requests().await;
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.as_str() == "POST /token -> 200")
            .count(),
        1,
        "{requests:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// The library against oidc-provider.
// ---------------------------------------------------------------------------------------

const SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

async fn confidential_client(provider: &OidcProvider) -> Client {
    let settings = Settings::builder(provider.issuer(), CONFIDENTIAL_CLIENT_ID, REDIRECT_URI)
        .client_secret(CONFIDENTIAL_CLIENT_SECRET)
        .client_auth(ClientAuthMethod::ClientSecretBasic)
        .scopes(SCOPES)
        .build()
        .expect("valid settings");
    Client::connect(settings)
        .await
        .expect("discovery at oidc-provider")
}

async fn public_client(provider: &OidcProvider) -> Client {
    let settings = Settings::builder(provider.issuer(), PUBLIC_CLIENT_ID, REDIRECT_URI)
        .client_auth(ClientAuthMethod::None)
        .scopes(SCOPES)
        .build()
        .expect("valid settings");
    Client::connect(settings)
        .await
        .expect("discovery at oidc-provider")
}

/// A whole login: authorization URL, the provider's pages, the callback.
async fn log_in(client: &Client, login: &str) -> TokenSet {
    let (auth_url, pending) = client.authorize().expect("authorization URL");
    let param = |name: &str| {
        auth_url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert!(param("code_challenge").is_some(), "{auth_url}");
    assert!(param("state").is_some(), "{auth_url}");
    let nonce = param("nonce").unwrap_or_else(|| panic!("no nonce in {auth_url}"));

    let redirect = drive_oidc_provider_login(&auth_url, login).await;
    let tokens = client
        .complete(pending, redirect.as_str())
        .await
        .unwrap_or_else(|e| panic!("completing the login at oidc-provider failed: {e}"));

    // The library checks the nonce and drops it from the claims; check by hand that the
    // provider did put this login's nonce into the ID token the library accepted.
    let id_token = tokens.id_token.as_ref().expect("an ID token");
    let payload = id_token.secret().split('.').nth(1).expect("a JWS");
    let payload: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url payload"),
    )
    .expect("JSON payload");
    assert_eq!(payload["nonce"], nonce.as_str());
    tokens
}

fn refresh_token(tokens: &TokenSet) -> String {
    tokens
        .refresh_token
        .as_ref()
        .expect("oidc-provider issues a refresh token")
        .secret()
        .clone()
}

fn assert_login_required(err: &Error, what: &str) {
    eprintln!("{what}: {err}");
    assert!(
        err.is_invalid_grant(),
        "{what}: expected invalid_grant, got {err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("log in again"), "{what}: {msg}");
}

/// Discovery, login, ID token, userinfo, two rotations, revocation, and the refusal of
/// the revoked refresh token, with the confidential client.
#[tokio::test]
async fn confidential_client_logs_in_refreshes_and_revokes() {
    let provider = OidcProvider::start().await;
    let client = confidential_client(&provider).await;

    let tokens = log_in(&client, "alice").await;
    let claims = tokens.id_token_claims().expect("a verified ID token");
    assert_eq!(claims.subject(), "alice");
    assert_eq!(claims.iss, provider.issuer());
    assert_eq!(claims.aud, [CONFIDENTIAL_CLIENT_ID]);
    // conformIdTokenClaims: profile and email claims are only in userinfo.
    assert_eq!(claims.string("email"), None);

    let info = client.userinfo(&tokens).await.expect("userinfo");
    assert_eq!(info["sub"], "alice");
    assert_eq!(info["email"], "alice@example.test");
    assert_eq!(info["name"], "Alice Example");

    // Every refresh rotates the refresh token (rotateRefreshToken: true).
    let rt1 = refresh_token(&tokens);
    let t2 = client.refresh(&tokens).await.expect("first refresh");
    let rt2 = refresh_token(&t2);
    assert_ne!(rt1, rt2, "the provider rotates refresh tokens");
    let t3 = client.refresh(&t2).await.expect("second refresh");
    let rt3 = refresh_token(&t3);
    assert_ne!(rt2, rt3, "the provider rotates refresh tokens");
    // oidc-provider sends a fresh ID token on refresh, with the original nonce; the
    // library verified it (same subject).
    assert_eq!(
        t3.id_token_claims().expect("refreshed ID token").subject(),
        "alice"
    );
    // The refreshed access token works.
    let info = client.userinfo(&t3).await.expect("userinfo after refresh");
    assert_eq!(info["sub"], "alice");

    client
        .revoke_refresh_token(&t3)
        .await
        .expect("revocation at oidc-provider");
    let err = client
        .refresh(&t3)
        .await
        .expect_err("a revoked refresh token is refused");
    assert_login_required(&err, "refresh after revocation");

    let requests = provider.requests().await;
    for expected in [
        "GET /.well-known/openid-configuration -> 200",
        "GET /jwks -> 200",
        "POST /token/revocation -> 200",
        "POST /token -> 400",
    ] {
        assert!(
            requests.iter().any(|r| r == expected),
            "missing {expected:?} in {requests:#?}"
        );
    }
    // One code exchange and two refreshes succeeded.
    assert_eq!(
        requests
            .iter()
            .filter(|r| *r == "POST /token -> 200")
            .count(),
        3,
        "{requests:#?}"
    );
}

/// oidc-provider detects the reuse of a rotated refresh token and then revokes the
/// whole grant: the reused token and the newest one are both refused.
#[tokio::test]
async fn reused_refresh_token_is_refused_and_revokes_the_grant() {
    let provider = OidcProvider::start().await;
    let client = confidential_client(&provider).await;

    let tokens = log_in(&client, "carol").await;
    let t2 = client.refresh(&tokens).await.expect("first refresh");

    let err = client
        .refresh(&tokens)
        .await
        .expect_err("a rotated refresh token is refused");
    assert_login_required(&err, "reuse of a rotated refresh token");

    let err = client
        .refresh(&t2)
        .await
        .expect_err("after reuse detection the whole grant is revoked");
    assert_login_required(&err, "refresh after reuse detection");
}

/// The public client: no secret, PKCE only.
#[tokio::test]
async fn public_client_logs_in_refreshes_and_revokes() {
    let provider = OidcProvider::start().await;
    let client = public_client(&provider).await;

    let tokens = log_in(&client, "bob").await;
    assert_eq!(
        tokens
            .id_token_claims()
            .expect("a verified ID token")
            .subject(),
        "bob"
    );
    let info = client.userinfo(&tokens).await.expect("userinfo");
    assert_eq!(info["sub"], "bob");

    let t2 = client.refresh(&tokens).await.expect("refresh");
    assert_ne!(refresh_token(&tokens), refresh_token(&t2));

    client
        .revoke_refresh_token(&t2)
        .await
        .expect("revocation by a public client");
    let err = client
        .refresh(&t2)
        .await
        .expect_err("a revoked refresh token is refused");
    assert_login_required(&err, "public client, refresh after revocation");
}

/// A redirect whose `state` is not the login's is refused before the code is sent to the
/// token endpoint.
#[tokio::test]
async fn wrong_state_is_refused_before_any_token_request() {
    let provider = OidcProvider::start().await;
    let client = confidential_client(&provider).await;

    let (auth_url, pending) = client.authorize().expect("authorization URL");
    let redirect = drive_oidc_provider_login(&auth_url, "mallory").await;
    let tampered = with_param(&redirect, "state", "not-the-state-of-this-login");

    let err = client
        .complete(pending, tampered.as_str())
        .await
        .expect_err("a foreign state is refused");
    assert!(matches!(err, Error::StateMismatch), "{err:?}");

    let requests = provider.requests().await;
    assert!(
        !requests.iter().any(|r| r.starts_with("POST /token ")),
        "the code was sent to the token endpoint: {requests:#?}"
    );
}

/// RFC 9207: oidc-provider announces and sends `iss`; a redirect with another issuer, or
/// with none, is refused before any token request.
#[tokio::test]
async fn wrong_or_missing_iss_is_refused_before_any_token_request() {
    let provider = OidcProvider::start().await;
    let client = confidential_client(&provider).await;

    let (auth_url, pending) = client.authorize().expect("authorization URL");
    let redirect = drive_oidc_provider_login(&auth_url, "dave").await;
    let mixed_up = with_param(&redirect, "iss", "https://attacker.example");
    let err = client
        .complete(pending, mixed_up.as_str())
        .await
        .expect_err("a foreign iss is refused");
    assert!(
        matches!(err, Error::IssuerParameterMismatch { .. }),
        "{err:?}"
    );

    let (auth_url, pending) = client.authorize().expect("authorization URL");
    let redirect = drive_oidc_provider_login(&auth_url, "dave").await;
    let stripped = without_param(&redirect, "iss");
    let err = client
        .complete(pending, stripped.as_str())
        .await
        .expect_err("a missing iss is refused when the provider promises it");
    assert!(matches!(err, Error::IssuerParameterMissing), "{err:?}");

    let requests = provider.requests().await;
    assert!(
        !requests.iter().any(|r| r.starts_with("POST /token ")),
        "a code was sent to the token endpoint: {requests:#?}"
    );
}

fn with_param(url: &Url, name: &str, value: &str) -> Url {
    let mut out = without_param(url, name);
    out.query_pairs_mut().append_pair(name, value);
    out
}

fn without_param(url: &Url, name: &str) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut out = url.clone();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out
}
