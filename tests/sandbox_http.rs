//! The sandbox issuer over real HTTP, with plain reqwest.

mod support;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lexoffice_login_sandbox::{
    ClientAuth, Fault, Sandbox, SandboxBuilder, SandboxClient, SandboxProfile, SandboxRoute,
    TestUser,
};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::sandbox_raw::{
    authorize, challenge, error_of, get_json, http, location, query_of, str_field, VERIFIER,
};

async fn start(b: SandboxBuilder) -> Sandbox {
    b.start().await.unwrap()
}

/// Runs auto-consent and returns the code.
async fn code(sb: &Sandbox, scope: &str) -> String {
    let resp = authorize(sb, &[("scope", scope)]).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let q = query_of(&location(&resp));
    q.get("code").expect("a code").clone()
}

/// A token request with the default client's Basic authentication.
fn token_post(sb: &Sandbox) -> RequestBuilder {
    http()
        .post(sb.url("/oauth2/token"))
        .basic_auth(sb.client_id(), sb.client_secret())
}

async fn exchange(sb: &Sandbox, code: &str, verifier: &str) -> Response {
    token_post(sb)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", sb.redirect_uri()),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
}

async fn login(sb: &Sandbox, scope: &str) -> Value {
    let c = code(sb, scope).await;
    let resp = exchange(sb, &c, VERIFIER).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

async fn refresh(sb: &Sandbox, rt: &str, scope: Option<&str>) -> Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    token_post(sb).form(&form).send().await.unwrap()
}

async fn userinfo(sb: &Sandbox, at: &str) -> Response {
    http()
        .get(sb.url("/oauth2/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
}

async fn verify_id_token(sb: &Sandbox, jwt: &str, alg: Algorithm) -> (String, Value) {
    let jwks: JwkSet = get_json(sb, "/oauth2/jwks").await;
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.alg, alg);
    let kid = header.kid.expect("kid in header");
    let jwk = jwks.find(&kid).expect("signing key published");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut v = Validation::new(alg);
    v.set_audience(&[sb.client_id()]);
    v.set_issuer(&[sb.issuer()]);
    let data = jsonwebtoken::decode::<Value>(jwt, &key, &v).unwrap();
    (kid, data.claims)
}

#[tokio::test]
async fn discovery_and_jwks_shape() {
    let sb = start(Sandbox::builder()).await;
    assert!(!sb.issuer().ends_with('/'));
    let doc: Value = get_json(&sb, "/.well-known/openid-configuration").await;
    assert_eq!(doc["issuer"], sb.issuer());
    assert_eq!(
        doc["token_endpoint"],
        format!("{}/oauth2/token", sb.issuer())
    );
    assert_eq!(doc["jwks_uri"], format!("{}/oauth2/jwks", sb.issuer()));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    let scopes = doc["scopes_supported"].as_array().unwrap();
    for sc in ["openid", "offline_access", "profile.read", "contacts.read"] {
        assert!(scopes.iter().any(|x| x == sc), "{sc}");
    }
    let jwks: Value = get_json(&sb, "/oauth2/jwks").await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["alg"], "RS256");
    assert_eq!(keys[0]["use"], "sig");
    assert!(keys[0]["kid"].is_string() && keys[0]["n"].is_string());
    assert!(keys[0].get("d").is_none(), "no private parts");
    let st = sb.stats();
    assert_eq!(st.requests(SandboxRoute::Discovery), 1);
    assert_eq!(st.requests(SandboxRoute::Jwks), 1);
}

#[tokio::test]
async fn authorize_happy_path() {
    let sb = start(Sandbox::builder()).await;
    let resp = authorize(&sb, &[("scope", "openid offline_access")]).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let loc = location(&resp);
    assert!(loc.starts_with("http://127.0.0.1:8765/callback?"), "{loc}");
    let q = query_of(&loc);
    assert_eq!(q["state"], "st-123");
    assert_eq!(q["iss"], sb.issuer());
    assert!(q["code"].len() >= 32);
    // Without iss when switched off.
    sb.set_send_iss(false);
    let q = query_of(&location(&authorize(&sb, &[("scope", "openid")]).await));
    assert!(q.contains_key("code") && !q.contains_key("iss"));
    // Any loopback port (RFC 8252 7.3), same path.
    let resp = authorize(&sb, &[("redirect_uri", "http://127.0.0.1:50123/callback")]).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(location(&resp).starts_with("http://127.0.0.1:50123/callback?code="));
}

#[tokio::test]
async fn authorize_errors_redirect_back() {
    let sb = start(Sandbox::builder()).await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("code_challenge_method", "plain")], "invalid_request"),
        (
            &[("code_challenge", ""), ("code_challenge_method", "")],
            "invalid_request",
        ),
        (&[("response_type", "token")], "unsupported_response_type"),
        (&[("scope", "openid invoices.delete")], "invalid_scope"),
        (&[("response_type", "")], "invalid_request"),
    ];
    for (extra, expected) in cases {
        let resp = authorize(&sb, extra).await;
        assert_eq!(resp.status(), StatusCode::FOUND, "{extra:?}");
        let q = query_of(&location(&resp));
        assert_eq!(q["error"], expected, "{extra:?}");
        assert_eq!(q["state"], "st-123");
        assert_eq!(q["iss"], sb.issuer());
        assert!(!q.contains_key("code"));
    }
}

#[tokio::test]
async fn wrong_redirect_or_client_gives_400_page_without_redirect() {
    let sb = start(Sandbox::builder()).await;
    for extra in [
        [("redirect_uri", "http://127.0.0.1:8765/other")],
        [("redirect_uri", "https://evil.example/callback")],
        [("redirect_uri", "http://192.168.1.2:8765/callback")],
        [("client_id", "nobody")],
    ] {
        let resp = authorize(&sb, &extra).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{extra:?}");
        assert!(resp.headers().get("location").is_none());
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(resp.text().await.unwrap().contains("id=\"error\""));
    }
    // Without the loopback rule the port must match too.
    let sb = start(
        Sandbox::builder().client(
            SandboxClient::confidential("strict", "pw")
                .redirect_uri("http://127.0.0.1:8765/callback")
                .allow_any_loopback_port(false),
        ),
    )
    .await;
    let resp = authorize(&sb, &[("redirect_uri", "http://127.0.0.1:8766/callback")]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

/// One thing wrong with an otherwise valid code exchange.
enum Wrong {
    Verifier(&'static str),
    RedirectUri(&'static str),
    Code(&'static str),
    /// The sandbox clock moved on by this many seconds before the exchange.
    Late(i64),
}

#[tokio::test]
async fn a_wrong_code_exchange_is_an_invalid_grant() {
    let cases = [
        (
            "a wrong verifier",
            Wrong::Verifier("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
        ),
        (
            "another redirect_uri",
            Wrong::RedirectUri("http://127.0.0.1:8765/elsewhere"),
        ),
        ("an unknown code", Wrong::Code("nope")),
        // Past the code's 60 s lifetime.
        ("an expired code", Wrong::Late(61)),
    ];
    let sb = start(Sandbox::builder()).await;
    for (name, wrong) in cases {
        sb.set_clock_offset(0);
        let c = code(&sb, "openid").await;
        let (mut code, mut redirect_uri, mut verifier) = (c.as_str(), sb.redirect_uri(), VERIFIER);
        match wrong {
            Wrong::Verifier(v) => verifier = v,
            Wrong::RedirectUri(r) => redirect_uri = r,
            Wrong::Code(other) => code = other,
            Wrong::Late(secs) => sb.set_clock_offset(secs),
        }
        let resp = token_post(&sb)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_of(resp).await,
            (StatusCode::BAD_REQUEST, "invalid_grant".into()),
            "{name}"
        );
    }
    assert_eq!(sb.stats().token_grants("authorization_code"), 0);
}

#[tokio::test]
async fn a_reused_code_fails_and_revokes_the_tokens_of_its_first_exchange() {
    let sb = start(Sandbox::builder()).await;
    let c = code(&sb, "openid offline_access").await;
    let first: Value = exchange(&sb, &c, VERIFIER).await.json().await.unwrap();
    let at = str_field(&first, "access_token");
    let rt = str_field(&first, "refresh_token");
    assert!(sb.introspect(&at).unwrap().active);
    assert_eq!(
        error_of(exchange(&sb, &c, VERIFIER).await).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    assert!(!sb.introspect(&at).unwrap().active);
    assert!(!sb.introspect(&rt).unwrap().active);
    assert_eq!(userinfo(&sb, &at).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sb.stats().token_grants("authorization_code"), 1);
}

/// A malformed request to the token endpoint and the OAuth error it must get.
struct BadTokenRequest {
    name: &'static str,
    request: fn(&Sandbox) -> RequestBuilder,
    expect: (StatusCode, &'static str),
}

#[tokio::test]
async fn token_endpoint_request_errors() {
    let sb = start(Sandbox::builder()).await;
    let bad = StatusCode::BAD_REQUEST;
    let cases = [
        BadTokenRequest {
            name: "another grant type",
            request: |sb| token_post(sb).form(&[("grant_type", "password")]),
            expect: (bad, "unsupported_grant_type"),
        },
        BadTokenRequest {
            name: "no grant type",
            request: |sb| token_post(sb).form(&[("code", "x")]),
            expect: (bad, "invalid_request"),
        },
        BadTokenRequest {
            name: "authorization_code without a code",
            request: |sb| token_post(sb).form(&[("grant_type", "authorization_code")]),
            expect: (bad, "invalid_request"),
        },
        BadTokenRequest {
            name: "refresh_token without a token",
            request: |sb| token_post(sb).form(&[("grant_type", "refresh_token")]),
            expect: (bad, "invalid_request"),
        },
        BadTokenRequest {
            name: "a JSON body instead of a form",
            request: |sb| token_post(sb).json(&serde_json::json!({"grant_type": "refresh_token"})),
            expect: (bad, "invalid_request"),
        },
        // Garbage bytes never crash the server.
        BadTokenRequest {
            name: "garbage bytes and a broken Basic header",
            request: |sb| {
                http()
                    .post(sb.url("/oauth2/token"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("authorization", "Basic %%%")
                    .body(vec![0xff, 0xfe, b'=', b'&', b'&'])
            },
            expect: (StatusCode::UNAUTHORIZED, "invalid_client"),
        },
    ];
    for case in cases {
        let resp = (case.request)(&sb).send().await.unwrap();
        let (status, error) = error_of(resp).await;
        assert_eq!((status, error.as_str()), case.expect, "{}", case.name);
    }
}

#[tokio::test]
async fn client_authentication() {
    let sb = start(Sandbox::builder()).await;
    let c = code(&sb, "openid").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", c.as_str()),
        ("redirect_uri", sb.redirect_uri()),
        ("code_verifier", VERIFIER),
    ];
    let resp = http()
        .post(sb.url("/oauth2/token"))
        .basic_auth(sb.client_id(), Some("wrong"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(error_of(resp).await.1, "invalid_client");
    let resp = http()
        .post(sb.url("/oauth2/token"))
        .basic_auth("unknown-client", Some("sandbox-secret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(resp).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    // The code was not consumed by failed client authentication.
    assert_eq!(exchange(&sb, &c, VERIFIER).await.status(), StatusCode::OK);

    // A public client and a client_secret_post client.
    let sb = start(
        Sandbox::builder()
            .client(SandboxClient::public("cli"))
            .client(
                SandboxClient::confidential("poster", "pw")
                    .auth_method(ClientAuth::ClientSecretPost),
            ),
    )
    .await;
    assert_eq!(sb.client_id(), "cli");
    assert_eq!(sb.client_secret(), None);
    let c = code(&sb, "openid").await;
    let resp = http()
        .post(sb.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "cli"),
            ("code", &c),
            ("redirect_uri", sb.redirect_uri()),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ch = challenge(VERIFIER);
    let resp = http()
        .get(sb.url("/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", "poster"),
            ("scope", "openid"),
            ("code_challenge", &ch),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    let c = query_of(&location(&resp))["code"].clone();
    let post_form = |secret: &'static str| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("client_id", "poster".to_string()),
            ("client_secret", secret.to_string()),
            ("code", c.clone()),
            ("code_verifier", VERIFIER.to_string()),
        ]
    };
    let resp = http()
        .post(sb.url("/oauth2/token"))
        .basic_auth("poster", Some("pw"))
        .form(&[("grant_type", "authorization_code"), ("code", &c)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(resp).await.1,
        "invalid_client",
        "basic refused for a post client"
    );
    let resp = http()
        .post(sb.url("/oauth2/token"))
        .form(&post_form("bad"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await.1, "invalid_client");
    let resp = http()
        .post(sb.url("/oauth2/token"))
        .form(&post_form("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn refresh_rotation_scope_and_reuse_detection() {
    let sb = start(Sandbox::builder()).await;
    let t1 = login(&sb, "openid profile offline_access").await;
    let rt1 = str_field(&t1, "refresh_token");
    let at1 = str_field(&t1, "access_token");
    let r2: Value = refresh(&sb, &rt1, None).await.json().await.unwrap();
    let rt2 = str_field(&r2, "refresh_token");
    let at2 = str_field(&r2, "access_token");
    assert_ne!(rt1, rt2);
    assert_ne!(at1, at2);
    assert_eq!(r2["scope"], "openid profile offline_access");
    assert!(r2["id_token"].is_string());
    // Narrowing is fine, widening is not.
    let r3 = refresh(&sb, &rt2, Some("email")).await;
    assert_eq!(error_of(r3).await.1, "invalid_scope");
    let r3: Value = refresh(&sb, &rt2, Some("openid"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r3["scope"], "openid");
    let rt3 = str_field(&r3, "refresh_token");
    assert_eq!(
        sb.introspect(&rt3).unwrap().scope.as_deref(),
        Some("openid profile offline_access"),
        "the refresh token keeps the original scope"
    );
    // Reusing rt1 (rotated) revokes the whole family: rt3 and every access token.
    let (st, e) = error_of(refresh(&sb, &rt1, None).await).await;
    assert_eq!((st, e.as_str()), (StatusCode::BAD_REQUEST, "invalid_grant"));
    assert_eq!(sb.stats().refresh_reuse_detected(), 1);
    assert_eq!(
        error_of(refresh(&sb, &rt3, None).await).await.1,
        "invalid_grant"
    );
    for at in [&at1, &at2, &str_field(&r3, "access_token")] {
        assert!(!sb.introspect(at).unwrap().active);
        assert_eq!(userinfo(&sb, at).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(sb.stats().token_grants("refresh_token"), 2);
    // Without offline_access no refresh token.
    let t = login(&sb, "openid").await;
    assert!(t.get("refresh_token").is_none());
}

#[tokio::test]
async fn refresh_grace_period_and_no_rotation() {
    let sb = start(Sandbox::builder().refresh_grace_period(Duration::from_secs(30))).await;
    let t = login(&sb, "openid offline_access").await;
    let rt1 = str_field(&t, "refresh_token");
    let r2: Value = refresh(&sb, &rt1, None).await.json().await.unwrap();
    // Within the grace period the old token still works.
    let again = refresh(&sb, &rt1, None).await;
    assert_eq!(again.status(), StatusCode::OK);
    // After it, reuse is detected and the family dies.
    sb.set_clock_offset(31);
    assert_eq!(
        error_of(refresh(&sb, &rt1, None).await).await.1,
        "invalid_grant"
    );
    assert_eq!(
        error_of(refresh(&sb, &str_field(&r2, "refresh_token"), None).await)
            .await
            .1,
        "invalid_grant"
    );
    assert_eq!(sb.stats().refresh_reuse_detected(), 1);

    let sb = start(Sandbox::builder().rotate_refresh_tokens(false)).await;
    let t = login(&sb, "openid offline_access").await;
    let rt = str_field(&t, "refresh_token");
    for _ in 0..3 {
        let r: Value = refresh(&sb, &rt, None).await.json().await.unwrap();
        assert_eq!(str_field(&r, "refresh_token"), rt);
    }

    // Reuse detection off: the rotated token fails, the family lives on.
    let sb = start(Sandbox::builder().reuse_detection(false)).await;
    let t = login(&sb, "openid offline_access").await;
    let rt1 = str_field(&t, "refresh_token");
    let r2: Value = refresh(&sb, &rt1, None).await.json().await.unwrap();
    assert_eq!(
        error_of(refresh(&sb, &rt1, None).await).await.1,
        "invalid_grant"
    );
    assert_eq!(
        refresh(&sb, &str_field(&r2, "refresh_token"), None)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(sb.stats().refresh_reuse_detected(), 0);
}

#[tokio::test]
async fn revocation() {
    let sb = start(Sandbox::builder()).await;
    let revoke = |token: String, hint: Option<&'static str>| {
        let mut form = vec![("token", token)];
        if let Some(h) = hint {
            form.push(("token_type_hint", h.to_string()));
        }
        http()
            .post(sb.url("/oauth2/revoke"))
            .basic_auth(sb.client_id(), sb.client_secret())
            .form(&form)
            .send()
    };
    // Access token alone.
    let t = login(&sb, "openid offline_access").await;
    let (at, rt) = (
        str_field(&t, "access_token"),
        str_field(&t, "refresh_token"),
    );
    assert_eq!(
        revoke(at.clone(), Some("access_token"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert!(!sb.introspect(&at).unwrap().active);
    assert!(sb.introspect(&rt).unwrap().active);
    // Refresh token: the family's access tokens die too.
    let r: Value = refresh(&sb, &rt, None).await.json().await.unwrap();
    let at2 = str_field(&r, "access_token");
    let rt2 = str_field(&r, "refresh_token");
    assert_eq!(
        revoke(rt2.clone(), Some("refresh_token"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert!(!sb.introspect(&at2).unwrap().active);
    assert_eq!(
        error_of(refresh(&sb, &rt2, None).await).await.1,
        "invalid_grant"
    );
    // Unknown token: 200.
    assert_eq!(
        revoke("unknown".into(), None).await.unwrap().status(),
        StatusCode::OK
    );
    // Client authentication is required.
    let resp = http()
        .post(sb.url("/oauth2/revoke"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(resp).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    assert_eq!(sb.stats().requests(SandboxRoute::Revoke), 4);
}

#[tokio::test]
async fn userinfo_by_scope() {
    let sb = start(Sandbox::builder()).await;
    let t = login(&sb, "openid email").await;
    let resp = userinfo(&sb, &str_field(&t, "access_token")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let u: Value = resp.json().await.unwrap();
    assert_eq!(u["sub"], "sandbox-user-1");
    assert_eq!(u["email"], "sandra@example.test");
    assert!(u.get("name").is_none());
    let t = login(&sb, "openid profile").await;
    let u: Value = userinfo(&sb, &str_field(&t, "access_token"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["name"], "Sandra Sandbox");
    assert!(u.get("email").is_none());
    let resp = userinfo(&sb, "bogus").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("error=\"invalid_token\""));
    // Expired.
    sb.set_clock_offset(3601);
    assert_eq!(
        userinfo(&sb, &str_field(&t, "access_token")).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn introspection_over_http() {
    let sb = start(Sandbox::builder()).await;
    let t = login(&sb, "openid offline_access").await;
    let introspect = |token: String| {
        http()
            .post(sb.url("/oauth2/introspect"))
            .basic_auth(sb.client_id(), sb.client_secret())
            .form(&[("token", token)])
            .send()
    };
    let i: Value = introspect(str_field(&t, "access_token"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(i["active"], true);
    assert_eq!(i["scope"], "openid offline_access");
    assert_eq!(i["client_id"], sb.client_id());
    assert_eq!(i["sub"], "sandbox-user-1");
    assert_eq!(i["token_type"], "Bearer");
    assert_eq!(
        i["exp"].as_i64().unwrap() - i["iat"].as_i64().unwrap(),
        3600
    );
    let i: Value = introspect(str_field(&t, "refresh_token"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(i["active"], true);
    assert_eq!(i["token_type"], "refresh_token");
    let i: Value = introspect("nope".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(i, serde_json::json!({"active": false}));
    assert!(sb.introspect("nope").is_none());
    let resp = http()
        .post(sb.url("/oauth2/introspect"))
        .basic_auth(sb.client_id(), Some("wrong"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn id_token_rs256_verifies_and_key_rotation() {
    let sb = start(Sandbox::builder()).await;
    let t = login(&sb, "openid profile email").await;
    let (kid1, claims) = verify_id_token(&sb, &str_field(&t, "id_token"), Algorithm::RS256).await;
    assert_eq!(claims["sub"], "sandbox-user-1");
    assert_eq!(claims["nonce"], "n-456");
    assert_eq!(claims["name"], "Sandra Sandbox");
    assert_eq!(claims["email"], "sandra@example.test");
    assert!(claims["auth_time"].is_i64());
    let at = str_field(&t, "access_token");
    let digest = Sha256::digest(at.as_bytes());
    assert_eq!(claims["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));

    sb.rotate_keys();
    let t = login(&sb, "openid").await;
    let (kid2, claims) = verify_id_token(&sb, &str_field(&t, "id_token"), Algorithm::RS256).await;
    assert_ne!(kid1, kid2);
    assert!(claims.get("name").is_none());
    let jwks: JwkSet = get_json(&sb, "/oauth2/jwks").await;
    assert!(jwks.find(&kid1).is_some(), "old key still published");
    assert!(jwks.find(&kid2).is_some());
    sb.rotate_keys();
    let jwks: JwkSet = get_json(&sb, "/oauth2/jwks").await;
    assert!(
        jwks.find(&kid1).is_none(),
        "gone after the next-but-one rotation"
    );
    assert!(jwks.find(&kid2).is_some());
    assert_eq!(jwks.keys.len(), 2);
}

#[tokio::test]
async fn id_token_es256_verifies_and_key_rotation() {
    let sb = start(Sandbox::builder().id_token_alg(Algorithm::ES256)).await;
    let t = login(&sb, "openid").await;
    let (kid1, claims) = verify_id_token(&sb, &str_field(&t, "id_token"), Algorithm::ES256).await;
    assert_eq!(claims["aud"], sb.client_id());
    let jwks: Value = get_json(&sb, "/oauth2/jwks").await;
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert_eq!(jwks["keys"][0]["crv"], "P-256");
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    sb.rotate_keys();
    let t = login(&sb, "openid").await;
    let (kid2, _) = verify_id_token(&sb, &str_field(&t, "id_token"), Algorithm::ES256).await;
    assert_ne!(kid1, kid2);
    let jwks: JwkSet = get_json(&sb, "/oauth2/jwks").await;
    assert!(jwks.find(&kid1).is_some());
}

async fn api(sb: &Sandbox, path: &str, at: &str) -> Response {
    http()
        .get(sb.url(path))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn lexoffice_api_auth_scope_and_rate_limit() {
    let sb = start(Sandbox::builder().profile(SandboxProfile::Lexoffice)).await;
    let t = login(&sb, "profile.read").await;
    let at = str_field(&t, "access_token");
    let resp = api(&sb, "/v1/profile", &at).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let p: Value = resp.json().await.unwrap();
    assert_eq!(p["companyName"], "Sandbox GmbH");
    assert_eq!(p["organizationId"], sb.users()[0].organization_id);
    assert_eq!(p["created"]["userName"], "Sandra Sandbox");
    assert_eq!(p["created"]["userEmail"], "sandra@example.test");
    for key in [
        "connectionId",
        "features",
        "businessFeatures",
        "subscriptionStatus",
        "taxType",
        "smallBusiness",
    ] {
        assert!(p.get(key).is_some(), "{key}");
    }
    // Missing scope: 403 (second call, still within the burst of 2).
    let resp = api(&sb, "/v1/contacts", &at).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        serde_json::json!({"message": "Forbidden"})
    );
    // Third call within the same second: 429 without Retry-After.
    let resp = api(&sb, "/v1/profile", &at).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().get("retry-after").is_none());
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        serde_json::json!({"message": "Rate limit exceeded"})
    );
    assert_eq!(sb.stats().rate_limited(), 1);
    // The rate limit's token bucket refills on the monotonic clock (Instant), which
    // neither Sandbox::set_clock_offset nor FixedClock moves: only real time refills it
    // (2 per second, so one token after 500 ms).
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(api(&sb, "/v1/profile", &at).await.status(), StatusCode::OK);
    // Invalid, missing, expired and revoked bearers: 401.
    let resp = api(&sb, "/v1/profile", "bogus").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        serde_json::json!({"message": "Unauthorized"})
    );
    let resp = http().get(sb.url("/v1/profile")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    sb.set_clock_offset(3600);
    assert_eq!(
        api(&sb, "/v1/profile", &at).await.status(),
        StatusCode::UNAUTHORIZED
    );
    sb.set_clock_offset(0);
    http()
        .post(sb.url("/oauth2/revoke"))
        .basic_auth(sb.client_id(), sb.client_secret())
        .form(&[("token", str_field(&t, "refresh_token"))])
        .send()
        .await
        .unwrap();
    assert_eq!(
        api(&sb, "/v1/profile", &at).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(sb.stats().requests(SandboxRoute::Profile), 7);
}

#[tokio::test]
async fn lexoffice_contacts_pages() {
    let sb = start(Sandbox::builder().rate_limit_per_second(0)).await;
    let t = login(&sb, "contacts.read").await;
    let at = str_field(&t, "access_token");
    let page: Value = api(&sb, "/v1/contacts", &at).await.json().await.unwrap();
    assert_eq!(page["size"], 25);
    assert_eq!(page["number"], 0);
    assert_eq!(page["totalElements"], 60);
    assert_eq!(page["totalPages"], 3);
    assert_eq!(page["first"], true);
    assert_eq!(page["last"], false);
    assert_eq!(page["numberOfElements"], 25);
    assert_eq!(page["content"].as_array().unwrap().len(), 25);
    let page: Value = api(&sb, "/v1/contacts?page=2&size=25", &at)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["last"], true);
    assert_eq!(page["numberOfElements"], 10);
    let page: Value = api(&sb, "/v1/contacts?size=1000", &at)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["size"], 250);
    assert_eq!(page["numberOfElements"], 60);
    assert!(page["content"][0]["id"].is_string());
    let resp = api(&sb, "/v1/contacts?page=-1", &at).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(sb.stats().rate_limited(), 0);
}

#[tokio::test]
async fn token_faults() {
    let sb = start(Sandbox::builder()).await;
    sb.inject_token_faults(1, Fault::ServerError);
    sb.inject_token_faults(1, Fault::MalformedJson);
    sb.inject_token_faults(1, Fault::Hang);
    let c = code(&sb, "openid").await;
    let resp = exchange(&sb, &c, VERIFIER).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let resp = exchange(&sb, &c, VERIFIER).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let text = resp.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    let quick = Client::builder()
        .timeout(Duration::from_millis(700))
        .build()
        .unwrap();
    let err = quick
        .post(sb.url("/oauth2/token"))
        .basic_auth(sb.client_id(), sb.client_secret())
        .form(&[("grant_type", "authorization_code"), ("code", c.as_str())])
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // Faults are used up; the code was never consumed.
    assert_eq!(exchange(&sb, &c, VERIFIER).await.status(), StatusCode::OK);
    assert_eq!(sb.stats().requests(SandboxRoute::Token), 4);
    sb.shutdown().await;
}

#[tokio::test]
async fn clock_offset_moves_iat() {
    let sb = start(Sandbox::builder().clock_offset(-7200)).await;
    let real = chrono::Utc::now().timestamp();
    let t = login(&sb, "openid").await;
    let i = sb.introspect(&str_field(&t, "access_token")).unwrap();
    assert!((i.iat.unwrap() - (real - 7200)).abs() <= 5, "{i:?}");
    sb.set_clock_offset(600);
    let t = login(&sb, "openid").await;
    let jwt = str_field(&t, "id_token");
    let payload = jwt.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let iat = claims["iat"].as_i64().unwrap();
    assert!((iat - (real + 600)).abs() <= 5, "{claims}");
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 3600);
}

#[tokio::test]
async fn lexoffice_profile_differences() {
    let sb = start(Sandbox::builder().profile(SandboxProfile::Lexoffice)).await;
    assert_eq!(sb.profile(), SandboxProfile::Lexoffice);
    let resp = http()
        .get(sb.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(resp.json::<Value>().await.is_ok());
    // No openid: no ID token, but a refresh token anyway.
    let t = login(&sb, "profile.read contacts.read").await;
    assert!(t.get("id_token").is_none());
    assert!(t["refresh_token"].is_string());
    assert_eq!(t["scope"], "profile.read contacts.read");
    // With openid: an ID token.
    let t = login(&sb, "openid profile.read").await;
    assert!(t["id_token"].is_string());
    // PKCE is optional here (not documented by lexoffice), plain still refused.
    let resp = authorize(
        &sb,
        &[("code_challenge", ""), ("code_challenge_method", "")],
    )
    .await;
    let c = query_of(&location(&resp))["code"].clone();
    let resp = http()
        .post(sb.url("/oauth2/token"))
        .basic_auth(sb.client_id(), sb.client_secret())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", c.as_str()),
            ("redirect_uri", sb.redirect_uri()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // client_secret_post refused for the (basic) client.
    let c = code(&sb, "profile.read").await;
    let resp = http()
        .post(sb.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", sb.client_id()),
            ("client_secret", sb.client_secret().unwrap()),
            ("code", c.as_str()),
            ("redirect_uri", sb.redirect_uri()),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(resp).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    // A post client cannot even be registered in this profile.
    let err = Sandbox::builder()
        .profile(SandboxProfile::Lexoffice)
        .client(SandboxClient::confidential("p", "s").auth_method(ClientAuth::ClientSecretPost))
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("client_secret_basic"), "{err}");
}

fn hidden_request_id(page: &str) -> String {
    let marker = "name=\"request_id\" id=\"request_id\" value=\"";
    let start = page.find(marker).expect("request_id field") + marker.len();
    let end = start + page[start..].find('"').unwrap();
    page[start..end].to_string()
}

/// The consent page's decision for the request `id`.
async fn decide(sb: &Sandbox, id: &str, user: &str, decision: &str) -> Response {
    http()
        .post(sb.url("/oauth2/authorize/decision"))
        .form(&[("request_id", id), ("user", user), ("decision", decision)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn interactive_consent_allow_and_deny() {
    let sb = start(
        Sandbox::builder()
            .interactive(true)
            .user(TestUser::new(
                "alice",
                "Alice <Admin>",
                "alice@example.test",
            ))
            .user(TestUser::new("bob", "Bob", "bob@example.test")),
    )
    .await;
    let resp = authorize(
        &sb,
        &[("scope", "openid profile"), ("connection_name", "My App")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let page = resp.text().await.unwrap();
    for needle in [
        "id=\"user-alice\"",
        "id=\"user-bob\"",
        "id=\"allow\"",
        "id=\"deny\"",
        "Alice &lt;Admin&gt;",
        "My App",
        "action=\"/oauth2/authorize/decision\"",
    ] {
        assert!(page.contains(needle), "{needle} in {page}");
    }
    assert!(!page.contains("<Admin>"), "escaped");
    let id = hidden_request_id(&page);
    let resp = decide(&sb, &id, "bob", "allow").await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let q = query_of(&location(&resp));
    assert_eq!(q["state"], "st-123");
    let t: Value = exchange(&sb, &q["code"], VERIFIER)
        .await
        .json()
        .await
        .unwrap();
    let u: Value = userinfo(&sb, &str_field(&t, "access_token"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["sub"], "bob");
    assert_eq!(u["name"], "Bob");
    // The request id is single-use.
    let resp = decide(&sb, &id, "bob", "allow").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("location").is_none());
    // Deny.
    let page = authorize(&sb, &[("scope", "openid")])
        .await
        .text()
        .await
        .unwrap();
    let id = hidden_request_id(&page);
    let resp = decide(&sb, &id, "alice", "deny").await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let q = query_of(&location(&resp));
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st-123");
    assert!(!q.contains_key("code"));
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let sb = start(Sandbox::builder()).await;
    let url = sb.url("/oauth2/jwks");
    assert!(http().get(url.clone()).send().await.is_ok());
    sb.shutdown().await;
    assert!(http().get(url).send().await.is_err());
    let sb = start(Sandbox::builder()).await;
    let url = sb.url("/oauth2/jwks");
    drop(sb);
    // Not waiting for time to pass: drop only signals the server task, which closes the
    // listener once it has run; a clock offset cannot stand in for that.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(http().get(url).send().await.is_err());
}

/// Request bodies are capped (64 KiB): a huge form post is refused before it is parsed.
#[tokio::test]
async fn an_oversized_request_body_is_refused() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let resp = http()
        .post(sandbox.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=refresh_token&refresh_token={}",
            "a".repeat(100 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
}
