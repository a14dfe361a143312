//! The sandbox's device authorization grant (RFC 8628) over plain HTTP.

mod support;

use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lexoffice_login_sandbox::{
    Sandbox, SandboxBuilder, SandboxClient, SandboxProfile, SandboxRoute,
};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::Value;
use support::sandbox_raw::{error_of, get_json, http, str_field};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A sandbox with polling without pause (no `slow_down`).
async fn start(b: SandboxBuilder) -> Sandbox {
    b.start().await.unwrap()
}

fn fast() -> SandboxBuilder {
    Sandbox::builder().device_poll_interval(Duration::ZERO)
}

/// A form POST to `path` (on the token endpoint's host) with the default client's
/// authentication: Basic for a confidential client, `client_id` in the form for a
/// public one.
fn post(sb: &Sandbox, path: &str, form: &[(&str, &str)]) -> RequestBuilder {
    let req = http().post(sb.endpoint_url(path));
    match sb.client_secret() {
        Some(secret) => req.basic_auth(sb.client_id(), Some(secret)).form(form),
        None => {
            let mut form = form.to_vec();
            form.push(("client_id", sb.client_id()));
            req.form(&form)
        }
    }
}

/// A device authorization request of the default client; the JSON answer.
async fn device_authorization(sb: &Sandbox, scope: &str) -> Value {
    let resp = post(sb, "/oauth2/device_authorization", &[("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    resp.json().await.unwrap()
}

async fn poll(sb: &Sandbox, device_code: &str) -> Response {
    post(
        sb,
        "/oauth2/token",
        &[("grant_type", DEVICE_GRANT), ("device_code", device_code)],
    )
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn whole_flow_with_the_verification_page() {
    let sb = start(fast()).await;
    let doc: Value = get_json(&sb, "/.well-known/openid-configuration").await;
    assert_eq!(
        doc["device_authorization_endpoint"],
        format!("{}/oauth2/device_authorization", sb.issuer())
    );
    assert!(doc["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == DEVICE_GRANT));

    let d = device_authorization(&sb, "openid offline_access profile email").await;
    let device_code = str_field(&d, "device_code");
    assert!(device_code.len() >= 40, "high entropy: {device_code}");
    let user_code = str_field(&d, "user_code");
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert_eq!(&user_code[4..5], "-");
    assert!(user_code
        .chars()
        .filter(|c| *c != '-')
        .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)));
    let verification_uri = str_field(&d, "verification_uri");
    assert_eq!(verification_uri, format!("{}/oauth2/device", sb.issuer()));
    let complete = str_field(&d, "verification_uri_complete");
    let q: Vec<(String, String)> = url::Url::parse(&complete)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(q, vec![("user_code".to_string(), user_code.clone())]);
    assert!(complete.starts_with(&verification_uri));
    assert_eq!(d["expires_in"], 600);
    assert_eq!(d["interval"], 0);

    // Pending until the user decides.
    assert_eq!(
        error_of(poll(&sb, &device_code).await).await,
        (StatusCode::BAD_REQUEST, "authorization_pending".into())
    );
    // The verification page without a code: a form to type it.
    let page = http().get(&verification_uri).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("name=\"user_code\""));
    // Auto-consent approves at once.
    let page = http().get(&complete).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("close this page"));

    let resp = poll(&sb, &device_code).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let t: Value = resp.json().await.unwrap();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["scope"], "openid offline_access profile email");
    let at = str_field(&t, "access_token");
    let rt = str_field(&t, "refresh_token");
    let intro = sb.introspect(&at).unwrap();
    assert!(intro.active);
    assert_eq!(intro.sub.as_deref(), Some("sandbox-user-1"));
    assert_eq!(intro.client_id.as_deref(), Some(sb.client_id()));

    // The ID token verifies against the JWKS and has no nonce.
    let jwt = str_field(&t, "id_token");
    let jwks: JwkSet = get_json(&sb, "/oauth2/jwks").await;
    let header = jsonwebtoken::decode_header(&jwt).unwrap();
    let key = DecodingKey::from_jwk(jwks.find(&header.kid.unwrap()).unwrap()).unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[sb.client_id()]);
    v.set_issuer(&[sb.issuer()]);
    let claims = jsonwebtoken::decode::<Value>(&jwt, &key, &v)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], "sandbox-user-1");
    assert_eq!(claims["name"], "Sandra Sandbox");
    assert!(claims.get("nonce").is_none(), "{claims}");
    assert!(claims["at_hash"].is_string());

    // The refresh token works like any other.
    let resp = post(
        &sb,
        "/oauth2/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // Used up.
    assert_eq!(
        error_of(poll(&sb, &device_code).await).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    // The page does not take the code again.
    let page = http().get(&complete).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);

    let st = sb.stats();
    assert_eq!(st.requests(SandboxRoute::DeviceAuthorization), 1);
    assert_eq!(st.requests(SandboxRoute::Device), 3);
    assert_eq!(st.requests(SandboxRoute::Token), 4);
    assert_eq!(st.token_grants("device_code"), 1);
    assert_eq!(st.token_grants("refresh_token"), 1);
    assert_eq!(st.token_grants(DEVICE_GRANT), 0);
}

#[tokio::test]
async fn programmatic_approval_any_spelling_and_no_refresh_without_offline_access() {
    let sb = start(fast()).await;
    let d = device_authorization(&sb, "openid").await;
    let user_code = str_field(&d, "user_code");
    // Vowels are not in the alphabet: never a code.
    assert!(!sb.approve_device("AAAA-AAAA"));
    let sloppy = user_code.replace('-', "").to_lowercase();
    assert!(sb.approve_device(&sloppy));
    assert!(!sb.approve_device(&user_code), "already approved");
    assert!(!sb.deny_device(&user_code), "already approved");
    let t: Value = poll(&sb, &str_field(&d, "device_code"))
        .await
        .json()
        .await
        .unwrap();
    assert!(t["access_token"].is_string() && t["id_token"].is_string());
    assert!(t.get("refresh_token").is_none(), "{t}");
    // Without scope: the default scope.
    let resp = http()
        .post(sb.url("/oauth2/device_authorization"))
        .basic_auth(sb.client_id(), sb.client_secret())
        .send()
        .await
        .unwrap();
    // A form body is required, as at the token endpoint.
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = post(&sb, "/oauth2/device_authorization", &[])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let d: Value = resp.json().await.unwrap();
    assert!(sb.approve_device(&str_field(&d, "user_code")));
    let t: Value = poll(&sb, &str_field(&d, "device_code"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["scope"], "openid");
}

#[tokio::test]
async fn slow_down_grows_the_interval() {
    let sb = start(Sandbox::builder().device_poll_interval(Duration::from_secs(2))).await;
    let d = device_authorization(&sb, "openid").await;
    assert_eq!(d["interval"], 2);
    let dc = str_field(&d, "device_code");
    assert_eq!(
        error_of(poll(&sb, &dc).await).await.1,
        "authorization_pending"
    );
    let resp = poll(&sb, &dc).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "slow_down");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("7 seconds"),
        "{body}"
    );
    // 3 s later (sandbox clock): enough for the old interval, too soon for the new one.
    sb.set_clock_offset(3);
    assert_eq!(error_of(poll(&sb, &dc).await).await.1, "slow_down");
    // Every poll counts as the last one: 13 s after it is enough for 12 s.
    sb.set_clock_offset(16);
    assert_eq!(
        error_of(poll(&sb, &dc).await).await.1,
        "authorization_pending"
    );
    // Approved: the tokens, however soon.
    assert!(sb.approve_device(&str_field(&d, "user_code")));
    assert_eq!(poll(&sb, &dc).await.status(), StatusCode::OK);

    // With interval 0 there is never a slow_down.
    let sb = start(fast()).await;
    let dc = str_field(&device_authorization(&sb, "openid").await, "device_code");
    for _ in 0..5 {
        assert_eq!(
            error_of(poll(&sb, &dc).await).await.1,
            "authorization_pending"
        );
    }
}

#[tokio::test]
async fn expired_codes() {
    let sb = start(fast().device_code_lifetime(Duration::from_secs(120))).await;
    let d = device_authorization(&sb, "openid").await;
    assert_eq!(d["expires_in"], 120);
    let (dc, uc) = (str_field(&d, "device_code"), str_field(&d, "user_code"));
    sb.set_clock_offset(121);
    assert_eq!(
        error_of(poll(&sb, &dc).await).await,
        (StatusCode::BAD_REQUEST, "expired_token".into())
    );
    assert!(!sb.approve_device(&uc));
    let page = http()
        .get(str_field(&d, "verification_uri_complete"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    // Unknown codes likewise.
    let page = http()
        .get(sb.url("/oauth2/device"))
        .query(&[("user_code", "ZZZZ-ZZZZ")])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    // Approved but not collected in time.
    sb.set_clock_offset(0);
    let d = device_authorization(&sb, "openid").await;
    assert!(sb.approve_device(&str_field(&d, "user_code")));
    sb.set_clock_offset(600);
    assert_eq!(
        error_of(poll(&sb, &str_field(&d, "device_code")).await)
            .await
            .1,
        "expired_token"
    );
}

#[tokio::test]
async fn denied_programmatically_and_on_the_interactive_page() {
    let sb = start(fast()).await;
    let d = device_authorization(&sb, "openid").await;
    assert!(sb.deny_device(&str_field(&d, "user_code")));
    assert!(!sb.approve_device(&str_field(&d, "user_code")));
    for _ in 0..2 {
        assert_eq!(
            error_of(poll(&sb, &str_field(&d, "device_code")).await).await,
            (StatusCode::BAD_REQUEST, "access_denied".into())
        );
    }

    let sb = start(fast().interactive(true)).await;
    let d = device_authorization(&sb, "openid profile").await;
    let (dc, uc) = (str_field(&d, "device_code"), str_field(&d, "user_code"));
    let page = http()
        .get(str_field(&d, "verification_uri_complete"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    for needle in [
        uc.as_str(),
        sb.client_id(),
        "<code>profile</code>",
        "action=\"/oauth2/device/decision\"",
        "value=\"sandbox-user-2\"",
        "id=\"deny\"",
    ] {
        assert!(html.contains(needle), "{needle} in {html}");
    }
    // Nothing decided by showing the page.
    assert_eq!(
        error_of(poll(&sb, &dc).await).await.1,
        "authorization_pending"
    );
    let resp = http()
        .post(sb.url("/oauth2/device/decision"))
        .form(&[("user_code", uc.as_str()), ("decision", "deny")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(error_of(poll(&sb, &dc).await).await.1, "access_denied");

    // Approve as the second user.
    let d = device_authorization(&sb, "openid").await;
    let resp = http()
        .post(sb.url("/oauth2/device/decision"))
        .form(&[
            (
                "user_code",
                str_field(&d, "user_code").to_lowercase().as_str(),
            ),
            ("decision", "allow"),
            ("user", "sandbox-user-2"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let t: Value = poll(&sb, &str_field(&d, "device_code"))
        .await
        .json()
        .await
        .unwrap();
    let intro = sb.introspect(&str_field(&t, "access_token")).unwrap();
    assert_eq!(intro.sub.as_deref(), Some("sandbox-user-2"));
}

#[tokio::test]
async fn client_authentication_and_scopes() {
    let sb = start(
        fast()
            .client(SandboxClient::default_client())
            .client(SandboxClient::public("tv-app")),
    )
    .await;
    // Wrong secret, unknown client, no authentication: invalid_client (401).
    let url = sb.url("/oauth2/device_authorization");
    let cases = [
        http()
            .post(url.clone())
            .basic_auth(sb.client_id(), Some("wrong"))
            .form(&[("scope", "openid")]),
        http().post(url.clone()).form(&[("client_id", "nobody")]),
        http()
            .post(url.clone())
            .form(&[("client_id", sb.client_id())]),
    ];
    for req in cases {
        assert_eq!(
            error_of(req.send().await.unwrap()).await,
            (StatusCode::UNAUTHORIZED, "invalid_client".into())
        );
    }
    // Unknown scope.
    let resp = post(
        &sb,
        "/oauth2/device_authorization",
        &[("scope", "openid invoices.delete")],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        error_of(resp).await,
        (StatusCode::BAD_REQUEST, "invalid_scope".into())
    );
    // A public client sends only its id.
    let resp = http()
        .post(sb.url("/oauth2/device_authorization"))
        .form(&[("client_id", "tv-app"), ("scope", "openid offline_access")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let d: Value = resp.json().await.unwrap();
    let dc = str_field(&d, "device_code");
    assert!(sb.approve_device(&str_field(&d, "user_code")));
    // Another client cannot redeem it, and that does not use it up.
    assert_eq!(
        error_of(poll(&sb, &dc).await).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    let tv = |code: &str| {
        http().post(sb.url("/oauth2/token")).form(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", code),
            ("client_id", "tv-app"),
        ])
    };
    let resp = tv(&dc).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let t: Value = resp.json().await.unwrap();
    assert!(t["refresh_token"].is_string());
    // Used twice.
    assert_eq!(
        error_of(tv(&dc).send().await.unwrap()).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    // Unknown and missing device codes.
    assert_eq!(
        error_of(tv("nope").send().await.unwrap()).await.1,
        "invalid_grant"
    );
    let resp = http()
        .post(sb.url("/oauth2/token"))
        .form(&[("grant_type", DEVICE_GRANT), ("client_id", "tv-app")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await.1, "invalid_request");
    assert_eq!(sb.stats().token_grants("device_code"), 1);
}

#[tokio::test]
async fn provider_profiles_do_not_offer_it() {
    for profile in [
        SandboxProfile::Lexoffice,
        SandboxProfile::Datev,
        SandboxProfile::Xero,
        SandboxProfile::QuickBooks,
    ] {
        let sb = start(Sandbox::builder().profile(profile)).await;
        // Discovery (where the profile has one at the standard path) lacks it.
        let doc = http()
            .get(sb.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap();
        if doc.status() == StatusCode::OK {
            let doc: Value = doc.json().await.unwrap();
            assert!(
                doc.get("device_authorization_endpoint").is_none(),
                "{profile:?}"
            );
            assert!(
                !doc["grant_types_supported"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|g| g == DEVICE_GRANT),
                "{profile:?}"
            );
        }
        let resp = post(&sb, "/oauth2/device_authorization", &[("scope", "openid")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{profile:?}");
        let resp = http()
            .get(sb.url("/oauth2/device"))
            .query(&[("user_code", "BCDF-GHJK")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{profile:?}");
        let resp = post(
            &sb,
            "/oauth2/token",
            &[("grant_type", DEVICE_GRANT), ("device_code", "x")],
        )
        .send()
        .await
        .unwrap();
        assert_eq!(
            error_of(resp).await,
            (StatusCode::BAD_REQUEST, "unsupported_grant_type".into()),
            "{profile:?}"
        );
        assert!(!sb.approve_device("BCDF-GHJK"));
        assert_eq!(sb.stats().requests(SandboxRoute::DeviceAuthorization), 0);
    }
}

/// The library's device flow client against the sandbox.
#[tokio::test]
async fn the_library_client_logs_in_with_the_device_flow() {
    let sb = start(fast()).await;
    let settings = sb
        .settings()
        .scopes(["openid", "offline_access", "profile"])
        .build()
        .unwrap();
    let client = lexoffice_login::Client::connect(settings).await.unwrap();
    assert!(client.supports_device_flow());
    let device = client.device_authorization().await.unwrap();
    assert_eq!(
        device.verification_uri().as_str(),
        format!("{}/oauth2/device", sb.issuer())
    );
    assert!(matches!(
        client.poll_device(&device).await.unwrap(),
        lexoffice_login::DevicePoll::Pending
    ));
    assert!(sb.approve_device(device.user_code()));
    let tokens = client.complete_device(&device).await.unwrap();
    assert!(tokens.refresh_token.is_some());
    assert_eq!(tokens.id_token_claims().unwrap().sub, "sandbox-user-1");
    assert_eq!(sb.stats().token_grants("device_code"), 1);

    // A provider profile offers none.
    let sb = start(Sandbox::builder().profile(SandboxProfile::Xero)).await;
    let client = lexoffice_login::Client::connect(sb.settings().build().unwrap())
        .await
        .unwrap();
    assert!(!client.supports_device_flow());
}
