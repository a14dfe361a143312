//! The sandbox imitates each provider as its preset describes it: for every provider,
//! each quirk of `Provider::X.preset(Deployment::Production)` is checked against what
//! the sandbox does over plain HTTP. Each test reads the preset field, so it fails if
//! the sandbox stopped applying that field.

use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use lexoffice_login::providers::{
    AudienceForm, Deployment, DiscoverySource, Pkce, Provider, ProviderPreset, RevocationBody,
    Rotation,
};
use lexoffice_login_sandbox::{Sandbox, SandboxProfile};
use reqwest::redirect::Policy;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk-presets-test";

/// The header that asks Intuit for `x_refresh_token_hard_expires_in`.
const HARD_EXPIRY_HEADER: &str = "x-include-refresh-token-hard-expires-in";

fn preset(p: Provider) -> ProviderPreset {
    p.preset(Deployment::Production)
}

async fn start(p: Provider) -> Sandbox {
    Sandbox::builder()
        .profile(SandboxProfile::from_provider(p))
        .start()
        .await
        .expect("sandbox starts")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap()
}

/// An authorize request (auto-consent) with PKCE, state and nonce; `extra` overrides
/// parameters, or (with an empty value) removes them. Returns the redirect's query.
async fn authorize(sb: &Sandbox, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", sb.client_id()),
        ("redirect_uri", sb.redirect_uri()),
        ("state", "st"),
        ("nonce", "n"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        params.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            params.push((k, v));
        }
    }
    let resp = http()
        .get(sb.url("/oauth2/authorize"))
        .query(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302, "authorize answers with a redirect");
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A token request with the default client's authentication.
async fn token(sb: &Sandbox, form: &[(&str, &str)], headers: &[(&str, &str)]) -> (u16, Value) {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    let mut req = http().post(sb.endpoint_url("/oauth2/token"));
    match sb.client_secret() {
        Some(secret) => req = req.basic_auth(sb.client_id(), Some(secret)),
        None => form.push(("client_id", sb.client_id())),
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.form(&form).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Logs in with `scope` (the preset's default scopes if `None`) and returns the token
/// answer.
async fn login(sb: &Sandbox, scope: Option<&str>, headers: &[(&str, &str)]) -> Value {
    let p = preset(sb.profile().provider().unwrap());
    let default = p.scopes.join(" ");
    let q = authorize(sb, &[("scope", scope.unwrap_or(&default))]).await;
    let code = q.get("code").unwrap_or_else(|| panic!("a code: {q:?}"));
    let (status, body) = token(
        sb,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", sb.redirect_uri()),
            ("code_verifier", VERIFIER),
        ],
        headers,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A login with a refresh token: the preset's scopes plus `offline_access` where the
/// provider knows it.
async fn login_with_refresh(sb: &Sandbox) -> Value {
    let p = preset(sb.profile().provider().unwrap());
    let mut scopes = p.scopes.clone();
    if p.known_scopes.contains(&"offline_access") && !scopes.contains(&"offline_access") {
        scopes.push("offline_access");
    }
    let body = login(sb, Some(&scopes.join(" ")), &[]).await;
    assert!(body["refresh_token"].is_string(), "{body}");
    body
}

async fn refresh(sb: &Sandbox, rt: &str) -> (u16, Value) {
    token(
        sb,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        &[],
    )
    .await
}

fn id_token_claims(body: &Value) -> Value {
    let jwt = body["id_token"].as_str().expect("an ID token");
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[test]
fn every_provider_has_a_profile() {
    for p in Provider::ALL {
        assert_eq!(SandboxProfile::from_provider(p).provider(), Some(p));
    }
    assert_eq!(SandboxProfile::Oidc.provider(), None);
}

#[tokio::test]
async fn access_tokens_live_as_long_as_the_preset_says() {
    for p in Provider::ALL {
        let sb = start(p).await;
        let body = login(&sb, None, &[]).await;
        let want = preset(p).quirks.access_token_lifetime.expect("documented");
        assert_eq!(body["expires_in"], json!(secs(want)), "{p}");
    }
}

#[tokio::test]
async fn discovery_is_served_where_the_preset_says() {
    for p in Provider::ALL {
        let sb = start(p).await;
        let get = |path: &str| {
            let url = sb.url(path);
            async move { http().get(url).send().await.unwrap().status().as_u16() }
        };
        let standard = get("/.well-known/openid-configuration").await;
        match preset(p).discovery {
            DiscoverySource::Standard => assert_eq!(standard, 200, "{p}"),
            DiscoverySource::None => assert_eq!(standard, 404, "{p}"),
            DiscoverySource::At(url) => {
                let path = url::Url::parse(url).unwrap().path().to_owned();
                assert_eq!(get(&path).await, 200, "{p}: {path}");
                assert_eq!(standard, 404, "{p}");
            }
        }
    }
}

#[tokio::test]
async fn endpoints_are_on_a_second_host_where_the_preset_says() {
    for p in Provider::ALL {
        let sb = start(p).await;
        assert_eq!(
            sb.second_host().is_some(),
            preset(p).endpoints_on_another_host(),
            "{p}"
        );
    }
}

#[tokio::test]
async fn revocation_takes_the_body_the_preset_says() {
    for p in Provider::ALL {
        let sb = start(p).await;
        let body = login_with_refresh(&sb).await;
        let rt = body["refresh_token"].as_str().unwrap().to_owned();
        let revoke = || {
            let mut req = http().post(sb.endpoint_url("/oauth2/revoke"));
            if let Some(secret) = sb.client_secret() {
                req = req.basic_auth(sb.client_id(), Some(secret));
            }
            req
        };
        let public = sb.client_secret().is_none();
        let mut form = vec![("token", rt.as_str())];
        let mut obj = json!({ "token": rt });
        if public {
            form.push(("client_id", sb.client_id()));
            obj["client_id"] = json!(sb.client_id());
        }
        let as_form = revoke().form(&form).send().await.unwrap().status();
        let as_json = revoke().json(&obj).send().await.unwrap().status();
        match preset(p).quirks.revocation_body {
            RevocationBody::Json => {
                assert_eq!(as_form, 400, "{p}: a form is refused");
                assert_eq!(as_json, 200, "{p}: JSON is taken");
            }
            RevocationBody::Form => {
                assert_eq!(as_form, 200, "{p}: a form is taken");
                assert_eq!(as_json, 400, "{p}: JSON is refused");
            }
        }
        let (status, _) = refresh(&sb, &rt).await;
        assert_eq!(status, 400, "{p}: the refresh token is revoked");
    }
}

#[tokio::test]
async fn the_redirect_carries_the_presets_callback_params() {
    for p in Provider::ALL {
        let sb = start(p).await;
        let q = authorize(&sb, &[]).await;
        assert!(q.contains_key("code"), "{p}: {q:?}");
        let params = preset(p).quirks.callback_params;
        assert_eq!(
            q.contains_key("realmId"),
            params.contains(&"realmId"),
            "{p}: {q:?}"
        );
        for name in params {
            assert!(q.contains_key(name), "{p}: {name}");
        }
    }
}

#[tokio::test]
async fn pkce_is_refused_without_a_challenge_exactly_where_required() {
    for p in Provider::ALL {
        let sb = start(p).await;
        let q = authorize(
            &sb,
            &[("code_challenge", ""), ("code_challenge_method", "")],
        )
        .await;
        match preset(p).quirks.pkce {
            Pkce::Required => {
                assert_eq!(
                    q.get("error").map(String::as_str),
                    Some("invalid_request"),
                    "{p}"
                )
            }
            Pkce::Optional => assert!(q.contains_key("code"), "{p}: {q:?}"),
        }
    }
}

#[tokio::test]
async fn nonce_is_refused_when_missing_exactly_where_required() {
    for p in Provider::ALL {
        let sb = start(p).await;
        let q = authorize(&sb, &[("nonce", "")]).await;
        if preset(p).quirks.nonce_required {
            assert_eq!(
                q.get("error").map(String::as_str),
                Some("invalid_request"),
                "{p}"
            );
        } else {
            assert!(q.contains_key("code"), "{p}: {q:?}");
        }
    }
}

#[tokio::test]
async fn aud_is_an_array_exactly_where_the_preset_says() {
    for p in Provider::ALL {
        let sb = start(p).await;
        let body = login(&sb, Some("openid"), &[]).await;
        let claims = id_token_claims(&body);
        match preset(p).quirks.id_token_audience {
            AudienceForm::Array => {
                assert_eq!(claims["aud"], json!([sb.client_id()]), "{p}");
                assert_eq!(claims["azp"], json!(sb.client_id()), "{p}");
            }
            AudienceForm::String => assert_eq!(claims["aud"], json!(sb.client_id()), "{p}"),
        }
    }
}

#[tokio::test]
async fn the_presets_token_request_headers_are_answered() {
    for p in Provider::ALL {
        let headers = preset(p).quirks.token_request_headers;
        let sb = start(p).await;
        let asks = headers.iter().any(|(n, _)| *n == HARD_EXPIRY_HEADER);
        let with = login(&sb, None, &headers).await;
        let without = login(&sb, None, &[]).await;
        assert!(
            without.get("x_refresh_token_hard_expires_in").is_none(),
            "{p}"
        );
        assert_eq!(
            with["x_refresh_token_hard_expires_in"].is_i64(),
            asks,
            "{p}: {with}"
        );
        // Asking where the preset does not: no answer.
        let forced = login(&sb, None, &[(HARD_EXPIRY_HEADER, "true")]).await;
        assert_eq!(
            forced["x_refresh_token_hard_expires_in"].is_i64(),
            asks,
            "{p}"
        );
    }
}

#[tokio::test]
async fn the_presets_known_scopes_are_accepted_and_others_refused() {
    for p in Provider::ALL {
        let sb = start(p).await;
        let all = preset(p).known_scopes.join(" ");
        let q = authorize(&sb, &[("scope", &all)]).await;
        assert!(q.contains_key("code"), "{p}: {q:?}");
        let q = authorize(&sb, &[("scope", "not-a-known-scope")]).await;
        assert_eq!(
            q.get("error").map(String::as_str),
            Some("invalid_scope"),
            "{p}"
        );
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_as_the_preset_says() {
    for p in Provider::ALL {
        let rotation = preset(p).quirks.rotation;
        let sb = start(p).await;
        let rt1 = login_with_refresh(&sb).await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, body) = refresh(&sb, &rt1).await;
        assert_eq!(status, 200, "{p}: {body}");
        let rt2 = body["refresh_token"].as_str().unwrap().to_owned();
        match rotation {
            Rotation::Periodic { period, .. } => {
                assert_eq!(rt2, rt1, "{p}: the same token within the period");
                sb.set_clock_offset(secs(period) + 60);
                let (status, body) = refresh(&sb, &rt1).await;
                assert_eq!(status, 200, "{p}: {body}");
                assert_ne!(body["refresh_token"], json!(rt1), "{p}: replaced after it");
            }
            Rotation::EveryUse { .. } | Rotation::Unknown => {
                assert_ne!(rt2, rt1, "{p}: a new token on every use");
            }
        }
        // The replaced token: usable within the grace, refused after it.
        let grace = secs(rotation.grace());
        let base = match rotation {
            Rotation::Periodic { period, .. } => secs(period) + 60,
            _ => 0,
        };
        if grace > 0 {
            sb.set_clock_offset(base + grace - 60);
            let (status, body) = refresh(&sb, &rt1).await;
            assert_eq!(status, 200, "{p}: within the grace: {body}");
        }
        sb.set_clock_offset(base + grace + 60);
        let (status, body) = refresh(&sb, &rt1).await;
        assert_eq!(status, 400, "{p}: after the grace: {body}");
    }
}

#[tokio::test]
async fn unused_refresh_tokens_expire_as_the_preset_says() {
    for p in Provider::ALL {
        let idle = preset(p).quirks.refresh_token_idle_lifetime;
        let sb = start(p).await;
        let rt = login_with_refresh(&sb).await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        match idle {
            Some(d) => {
                // Not before the preset's lifetime…
                sb.set_clock_offset(secs(d) - 86_400);
                let probe = login_with_refresh(&sb).await["refresh_token"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                sb.set_clock_offset(secs(d) - 86_400 + secs(d) - 86_400);
                let (status, body) = refresh(&sb, &probe).await;
                assert_eq!(status, 200, "{p}: still alive before the limit: {body}");
                // …and no longer (with a day's slack) after it.
                sb.set_clock_offset(secs(d) + 2 * 86_400);
                let (status, body) = refresh(&sb, &rt).await;
                assert_eq!(status, 400, "{p}: expired: {body}");
            }
            None => {
                sb.set_clock_offset(400 * 86_400);
                let (status, body) = refresh(&sb, &rt).await;
                assert_eq!(status, 200, "{p}: no idle limit: {body}");
            }
        }
    }
}
