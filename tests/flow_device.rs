//! The device authorization grant (RFC 8628) against a wiremock provider: the codes,
//! polling through `authorization_pending` and `slow_down`, the ID token without a nonce,
//! and each way the login ends without tokens.

mod support;

use lexoffice_login::{DevicePoll, Error, ErrorKind};
use serde_json::{json, Value};
use support::wiremock_provider::{now, token_body, Provider, ACCESS_TOKEN, CLIENT_ID, SUBJECT};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, ResponseTemplate};

const DEVICE_CODE: &str = "device-code-0123456789-secret";

fn device_answer(p: &Provider, interval: u64) -> Value {
    json!({
        "device_code": DEVICE_CODE,
        "user_code": "BCDF-GHJK",
        "verification_uri": format!("{}/device", p.issuer()),
        "verification_uri_complete": format!("{}/device?user_code=BCDFGHJK", p.issuer()),
        "expires_in": 600,
        "interval": interval,
    })
}

async fn provider_with_device(interval: u64) -> (Provider, lexoffice_login::Client) {
    let p = Provider::start().await;
    Mock::given(method("POST"))
        .and(path("/device_authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(device_answer(&p, interval)))
        .mount(&p.server)
        .await;
    let client = p
        .client_with(
            p.settings()
                .device_authorization_endpoint(format!("{}/device_authorization", p.issuer())),
        )
        .await;
    (p, client)
}

fn oauth_error(code: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({ "error": code }))
}

/// Token answers for the device code, in order: each of `first` once, then `last`.
async fn token_answers(p: &Provider, first: &[ResponseTemplate], last: ResponseTemplate) {
    for (i, answer) in first.iter().enumerate() {
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(body_string_contains("device_code"))
            .respond_with(answer.clone())
            .up_to_n_times(1)
            .with_priority(u8::try_from(i + 1).unwrap())
            .mount(&p.server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("device_code"))
        .respond_with(last)
        .with_priority(100)
        .mount(&p.server)
        .await;
}

#[tokio::test]
async fn pending_then_slow_down_then_tokens_with_an_id_token_without_nonce() {
    let (p, client) = provider_with_device(0).await;
    assert!(client.supports_device_flow());
    let device = client.device_authorization().await.expect("codes");
    assert_eq!(device.user_code(), "BCDF-GHJK");
    assert!(device.verification_uri_complete().is_some());
    assert!(!format!("{device:?}").contains(DEVICE_CODE));

    let now = now();
    let id_token = p.rsa.sign(&json!({
        "iss": p.issuer(), "sub": SUBJECT, "aud": CLIENT_ID,
        "exp": now + 300, "iat": now,
        "at_hash": support::wiremock_provider::at_hash(ACCESS_TOKEN),
    }));
    token_answers(
        &p,
        &[
            oauth_error("authorization_pending"),
            oauth_error("slow_down"),
        ],
        ResponseTemplate::new(200).set_body_json(token_body(Some(&id_token))),
    )
    .await;
    assert!(matches!(
        client.poll_device(&device).await.unwrap(),
        DevicePoll::Pending
    ));
    assert!(matches!(
        client.poll_device(&device).await.unwrap(),
        DevicePoll::SlowDown
    ));
    let tokens = client.complete_device(&device).await.expect("approved");
    assert_eq!(tokens.access_token.secret(), ACCESS_TOKEN);
    assert_eq!(tokens.id_token_claims().unwrap().sub, SUBJECT);
    assert!(tokens.origin.is_some());

    // The requests carried the grant type and the device code, with client auth.
    let polls = p.requests_to("/token").await;
    assert_eq!(polls.len(), 3);
    let body = String::from_utf8_lossy(&polls[0].body).into_owned();
    assert!(body.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"));
    assert!(body.contains(DEVICE_CODE));
}

#[tokio::test]
async fn denied_and_expired_end_the_login_with_what_to_do() {
    for (code, kind) in [
        ("access_denied", ErrorKind::Denied),
        ("expired_token", ErrorKind::LoginRequired),
    ] {
        let (p, client) = provider_with_device(0).await;
        let device = client.device_authorization().await.unwrap();
        token_answers(&p, &[], oauth_error(code)).await;
        let err = client.complete_device(&device).await.unwrap_err();
        assert!(
            matches!(&err, Error::OAuth { code: c, .. } if c == code),
            "{err:?}"
        );
        assert_eq!(err.kind(), kind, "{code}");
        assert!(!err.to_string().contains(DEVICE_CODE));
    }
}

#[tokio::test]
async fn a_device_answer_that_breaks_the_rules_is_refused() {
    for (name, edit) in [
        ("empty user code", json!({"user_code": ""})),
        (
            "plain http verification URI",
            json!({"verification_uri": "http://evil.example/device"}),
        ),
        ("zero lifetime", json!({"expires_in": 0})),
    ] {
        let p = Provider::start().await;
        let mut answer = device_answer(&p, 0);
        for (k, v) in edit.as_object().unwrap() {
            answer[k] = v.clone();
        }
        Mock::given(method("POST"))
            .and(path("/device_authorization"))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(&p.server)
            .await;
        let client = p
            .client_with(
                p.settings()
                    .device_authorization_endpoint(format!("{}/device_authorization", p.issuer())),
            )
            .await;
        let err = client.device_authorization().await.unwrap_err();
        assert!(
            matches!(err, Error::MalformedResponse { .. }),
            "{name}: {err:?}"
        );
    }
}

#[tokio::test]
async fn without_a_device_endpoint_the_flow_is_not_offered() {
    let p = Provider::start().await;
    let client = p.client().await;
    assert!(!client.supports_device_flow());
    let err = client.device_authorization().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingEndpoint {
                key: "device_authorization",
                ..
            }
        ),
        "{err:?}"
    );
}
