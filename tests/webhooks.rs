//! Webhooks end to end: the sandbox signs lexoffice-style (RSA PKCS #1 v1.5 SHA-512) and
//! Xero-style (HMAC-SHA256) deliveries and POSTs them to an axum app whose handlers take
//! the `VerifiedLexofficeEvent` / `VerifiedXeroEvents` extractors; bad or missing
//! signatures, tampered and oversized bodies, replays and stale events are refused.
//! Event subscriptions are managed through `ApiClient` against the sandbox's API.
#![cfg(all(feature = "webhooks", feature = "axum"))]

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use lexoffice_login::api::ApiClient;
use lexoffice_login::store::{MemoryStore, StoreKey};
use lexoffice_login::webhooks::{
    LexofficeEvent, LexofficeVerifier, VerifiedLexofficeEvent, VerifiedXeroEvents, WebhookError,
    XeroPayload, XeroVerifier,
};
use lexoffice_login::{Client, ManagerOptions, TokenManager};
use lexoffice_login_sandbox::{Sandbox, SandboxLexofficeEvent};
use serde_json::json;
use tokio::sync::mpsc;

/// The receiving app: both verifiers in its state, and what its handlers received.
#[derive(Clone)]
struct App {
    lexoffice: LexofficeVerifier,
    xero: XeroVerifier,
    lexoffice_events: mpsc::UnboundedSender<LexofficeEvent>,
    xero_payloads: mpsc::UnboundedSender<XeroPayload>,
}

impl FromRef<App> for LexofficeVerifier {
    fn from_ref(app: &App) -> Self {
        app.lexoffice.clone()
    }
}

impl FromRef<App> for XeroVerifier {
    fn from_ref(app: &App) -> Self {
        app.xero.clone()
    }
}

async fn lexoffice_hook(
    State(app): State<App>,
    VerifiedLexofficeEvent(event): VerifiedLexofficeEvent,
) -> StatusCode {
    let _ = app.lexoffice_events.send(event);
    StatusCode::OK
}

async fn xero_hook(
    State(app): State<App>,
    VerifiedXeroEvents(payload): VerifiedXeroEvents,
) -> StatusCode {
    let _ = app.xero_payloads.send(payload);
    StatusCode::OK
}

struct Receiver {
    base: String,
    lexoffice_events: mpsc::UnboundedReceiver<LexofficeEvent>,
    xero_payloads: mpsc::UnboundedReceiver<XeroPayload>,
}

impl Receiver {
    fn lexoffice_url(&self) -> String {
        format!("{}/hooks/lexoffice", self.base)
    }

    fn xero_url(&self) -> String {
        format!("{}/hooks/xero", self.base)
    }
}

const XERO_KEY: &str = "xero-webhook-key-for-tests-0123456789";

async fn receiver(sandbox: &Sandbox) -> Receiver {
    let pem = sandbox.webhook_public_key_pem().unwrap();
    sandbox.set_xero_webhook_key(XERO_KEY).unwrap();
    let (ltx, lrx) = mpsc::unbounded_channel();
    let (xtx, xrx) = mpsc::unbounded_channel();
    let app = App {
        lexoffice: LexofficeVerifier::new(&pem).unwrap(),
        xero: XeroVerifier::new(XERO_KEY).unwrap(),
        lexoffice_events: ltx,
        xero_payloads: xtx,
    };
    let router = Router::new()
        .route("/hooks/lexoffice", post(lexoffice_hook))
        .route("/hooks/xero", post(xero_hook))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Receiver {
        base: format!("http://{addr}"),
        lexoffice_events: lrx,
        xero_payloads: xrx,
    }
}

async fn sandbox() -> Sandbox {
    Sandbox::builder().start().await.expect("sandbox starts")
}

/// POSTs `body` with `header: signature` (if any) and returns the status.
async fn post_raw(url: &str, header: &str, signature: Option<&str>, body: Vec<u8>) -> u16 {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(sig) = signature {
        req = req.header(header, sig);
    }
    req.send().await.unwrap().status().as_u16()
}

fn event(resource: &str) -> SandboxLexofficeEvent {
    SandboxLexofficeEvent::new(
        "aa93e8a8-2aa3-470b-b914-caad8a255dd8",
        "contact.changed",
        resource,
    )
}

#[tokio::test]
async fn a_sandbox_signed_lexoffice_event_reaches_the_handler_typed() {
    let sandbox = sandbox().await;
    let mut rx = receiver(&sandbox).await;
    let e = event("6a7d35a8-6a2b-4e1a-9d3f-1f0c4b6d2e11");
    let status = sandbox.send_webhook(&rx.lexoffice_url(), &e).await.unwrap();
    assert_eq!(status, 200);
    let got = rx.lexoffice_events.recv().await.unwrap();
    assert_eq!(got.organization_id, e.organization_id);
    assert_eq!(got.event_type, "contact.changed");
    assert_eq!(got.resource_id, e.resource_id);
}

#[tokio::test]
async fn a_bad_webhook_signature_is_refused_with_401() {
    let sandbox = sandbox().await;
    let mut rx = receiver(&sandbox).await;
    let body = event("r-1").body();
    // A genuine signature, but of another body.
    let other = sandbox
        .sign_lexoffice_webhook(&event("r-2").body())
        .unwrap();
    let url = rx.lexoffice_url();
    let h = "X-Lxo-Signature";
    assert_eq!(post_raw(&url, h, Some(&other), body.clone()).await, 401);
    // Missing, not base64, and of the wrong length.
    assert_eq!(post_raw(&url, h, None, body.clone()).await, 401);
    assert_eq!(
        post_raw(&url, h, Some("not base64 !!"), body.clone()).await,
        401
    );
    assert_eq!(post_raw(&url, h, Some("AAAA"), body.clone()).await, 401);
    // A signature by another RSA key of the same size.
    let foreign = foreign_signature(&body);
    assert_eq!(post_raw(&url, h, Some(&foreign), body).await, 401);
    assert!(
        rx.lexoffice_events.try_recv().is_err(),
        "nothing reached the handler"
    );
}

/// Signs `body` with RSA PKCS #1 v1.5 SHA-512 under one of the repository's other test
/// keys (not the sandbox's webhook key).
fn foreign_signature(body: &[u8]) -> String {
    use base64::Engine as _;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};
    let pem = include_str!("../sandbox/src/keys/rsa-test-key-1.pem");
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem).unwrap();
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha512>::new(key);
    base64::engine::general_purpose::STANDARD.encode(signer.sign(body).to_bytes())
}

#[tokio::test]
async fn a_tampered_body_is_refused_with_401() {
    let sandbox = sandbox().await;
    let mut rx = receiver(&sandbox).await;
    let body = event("r-3").body();
    let sig = sandbox.sign_lexoffice_webhook(&body).unwrap();
    let tampered = String::from_utf8(body)
        .unwrap()
        .replace("contact.changed", "contact.deleted")
        .into_bytes();
    let status = post_raw(&rx.lexoffice_url(), "X-Lxo-Signature", Some(&sig), tampered).await;
    assert_eq!(status, 401);
    assert!(rx.lexoffice_events.try_recv().is_err());
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_before_verifying() {
    let sandbox = sandbox().await;
    let rx = receiver(&sandbox).await;
    let mut body = event("r-4").body();
    body.truncate(body.len() - 1);
    body.extend(format!(",\"pad\":\"{}\"}}", "x".repeat(70 * 1024)).into_bytes());
    let sig = sandbox.sign_lexoffice_webhook(&body).unwrap();
    let status = post_raw(
        &rx.lexoffice_url(),
        "X-Lxo-Signature",
        Some(&sig),
        body.clone(),
    )
    .await;
    assert_eq!(status, 413);
    // Without a signature it is still the size that is refused first.
    assert_eq!(
        post_raw(&rx.lexoffice_url(), "X-Lxo-Signature", None, body.clone()).await,
        413
    );
    // A chunked body (no Content-Length) is cut off at the cap as well.
    assert_eq!(
        post_chunked(&rx.base, "/hooks/lexoffice", &sig, &body).await,
        413
    );
    // The library's own check, without HTTP.
    let v = LexofficeVerifier::new(&sandbox.webhook_public_key_pem().unwrap())
        .unwrap()
        .max_body(100);
    let small = event("r-5").body();
    let sig = sandbox.sign_lexoffice_webhook(&small).unwrap();
    assert_eq!(
        v.verify(Some(&sig), &small).await.unwrap_err(),
        WebhookError::TooLarge { limit: 100 }
    );
}

/// POSTs `body` chunked (no Content-Length) over a raw connection; returns the status.
async fn post_chunked(base: &str, path: &str, sig: &str, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         X-Lxo-Signature: {sig}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(8 * 1024) {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(chunk);
        frame.extend_from_slice(b"\r\n");
        // The server may answer and close before the whole body is sent.
        if conn.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_replayed_or_stale_lexoffice_event_is_refused() {
    let sandbox = sandbox().await;
    let mut rx = receiver(&sandbox).await;
    let url = rx.lexoffice_url();
    let e = event("r-6");
    assert_eq!(sandbox.send_webhook(&url, &e).await.unwrap(), 200);
    // The same delivery again (same organization, resource, type and date).
    assert_eq!(sandbox.send_webhook(&url, &e).await.unwrap(), 409);
    assert_eq!(rx.lexoffice_events.recv().await.unwrap().resource_id, "r-6");
    assert!(
        rx.lexoffice_events.try_recv().is_err(),
        "the replay did not reach the handler"
    );

    // Correctly signed, but two days old.
    let old = SandboxLexofficeEvent::at(
        "aa93e8a8-2aa3-470b-b914-caad8a255dd8",
        "contact.changed",
        "r-7",
        chrono::Utc::now().timestamp_millis() - 2 * 24 * 3600 * 1000,
    );
    assert_eq!(sandbox.send_webhook(&url, &old).await.unwrap(), 409);
    let v = LexofficeVerifier::new(&sandbox.webhook_public_key_pem().unwrap()).unwrap();
    let body = old.body();
    let sig = sandbox.sign_lexoffice_webhook(&body).unwrap();
    assert!(matches!(
        v.verify(Some(&sig), &body).await,
        Err(WebhookError::Stale { .. })
    ));
    // With a longer accepted age it passes, once.
    let v = v.max_age(Duration::from_secs(3 * 24 * 3600));
    assert!(v.verify(Some(&sig), &body).await.is_ok());
    assert_eq!(
        v.verify(Some(&sig), &body).await.unwrap_err(),
        WebhookError::Replayed
    );
}

#[tokio::test]
async fn xero_intent_to_receive_answers_200_then_401() {
    let sandbox = sandbox().await;
    let rx = receiver(&sandbox).await;
    let intent = sandbox
        .xero_intent_to_receive(&rx.xero_url())
        .await
        .unwrap();
    assert_eq!(intent.signed, 200);
    assert_eq!(intent.wrongly_signed, 401);
    assert!(intent.passed());

    // A receiver with another key fails the check (401 for the genuine delivery too).
    sandbox.set_xero_webhook_key("another key").unwrap();
    let intent = sandbox
        .xero_intent_to_receive(&rx.xero_url())
        .await
        .unwrap();
    assert_eq!(intent.signed, 401);
    assert!(!intent.passed());
}

#[tokio::test]
async fn xero_events_are_verified_typed_and_not_replayed() {
    let sandbox = sandbox().await;
    let mut rx = receiver(&sandbox).await;
    let tenant = "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f";
    let events = vec![json!({
        "resourceUrl": "https://api.xero.com/api.xro/2.0/Contacts/717f2bfc-c6d4-41fd-b238-3f2f0c0cf777",
        "resourceId": "717f2bfc-c6d4-41fd-b238-3f2f0c0cf777",
        "eventDateUtc": "2017-06-21T01:15:39.902",
        "eventType": "UPDATE",
        "eventCategory": "CONTACT",
        "tenantId": tenant,
        "tenantType": "ORGANISATION",
    })];
    let status = sandbox
        .send_xero_webhook(&rx.xero_url(), events)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let payload = rx.xero_payloads.recv().await.unwrap();
    assert_eq!(payload.events.len(), 1);
    let e = &payload.events[0];
    assert_eq!(e.tenant_id, tenant);
    assert_eq!(e.event_category, "CONTACT");
    assert_eq!(e.event_type, "UPDATE");
    assert!(e.event_date().is_some());
    assert!(payload.first_event_sequence > 0);

    // The very same body and signature once more: a replay.
    let body = serde_json::to_vec(&payload).unwrap();
    let sig = sandbox.sign_xero_webhook(&body).unwrap();
    let url = rx.xero_url();
    assert_eq!(
        post_raw(&url, "x-xero-signature", Some(&sig), body.clone()).await,
        409
    );
    // Tampered, and signed with another key.
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("UPDATE", "CREATE")
        .into_bytes();
    assert_eq!(
        post_raw(&url, "x-xero-signature", Some(&sig), tampered).await,
        401
    );
    assert!(rx.xero_payloads.try_recv().is_err());
}

#[test]
fn the_xero_key_never_shows_in_debug_or_errors() {
    let v = XeroVerifier::new(XERO_KEY).unwrap();
    let debug = format!("{v:?}");
    assert!(!debug.contains(XERO_KEY), "{debug}");
    assert!(debug.contains("redacted"));
    let err = v.verify_signature(Some("AAAA"), b"{}").unwrap_err();
    assert!(!format!("{err} {err:?}").contains(XERO_KEY));
    assert!(XeroVerifier::new("").is_err());
    assert!(matches!(
        LexofficeVerifier::new("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"),
        Err(WebhookError::InvalidKey(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_subscriptions_are_managed_through_the_api_client_and_deliver() {
    let sandbox = sandbox().await;
    let mut rx = receiver(&sandbox).await;
    let settings = sandbox
        .settings()
        .timeouts(Duration::from_secs(2), Duration::from_secs(5))
        .build()
        .unwrap();
    let client = Client::connect(settings).await.unwrap();
    let manager = TokenManager::new(
        client.clone(),
        MemoryStore::new(),
        StoreKey::new("sandbox", "default"),
        ManagerOptions::default(),
    );
    let tokens = lexoffice_login_sandbox::auto_consent_login(&client)
        .await
        .unwrap();
    manager.save_login(tokens).await.unwrap();
    let api = ApiClient::builder(manager, sandbox.api_base())
        .http_client(client.http_client().clone())
        .build()
        .unwrap();
    let org = api.profile().await.unwrap().organization_id;

    assert!(api.list_event_subscriptions().await.unwrap().is_empty());
    let created = api
        .create_event_subscription("contact.changed", &rx.lexoffice_url())
        .await
        .unwrap();
    let list = api.list_event_subscriptions().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].subscription_id, created.id);
    assert_eq!(list[0].event_type, "contact.changed");
    assert_eq!(list[0].callback_url, rx.lexoffice_url());
    assert_eq!(list[0].organization_id.as_deref(), Some(org.as_str()));

    // The sandbox emits an event: the subscriber gets it signed, for its organization.
    let deliveries = sandbox
        .emit_lexoffice_event("contact.changed", "c-42")
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, Some(200));
    let got = rx.lexoffice_events.recv().await.unwrap();
    assert_eq!(got.organization_id, org);
    assert_eq!(got.resource_id, "c-42");
    // Another event type has no subscriber.
    assert!(sandbox
        .emit_lexoffice_event("invoice.created", "i-1")
        .await
        .unwrap()
        .is_empty());

    api.delete_event_subscription(&created.id).await.unwrap();
    assert!(api.list_event_subscriptions().await.unwrap().is_empty());
    assert!(sandbox
        .emit_lexoffice_event("contact.changed", "c-43")
        .await
        .unwrap()
        .is_empty());
    // Deleting it again: 404.
    let err = api
        .delete_event_subscription(&created.id)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(api.delete_event_subscription("../profile").await.is_err());
}

/// The built-in production key: the one documented (its fingerprint is the SHA-256 of
/// the PEM's DER), RSA-4096, and deliveries signed by the sandbox's key are refused by it.
#[tokio::test]
async fn the_production_verifier_uses_lexoffices_published_key() {
    use base64::Engine as _;
    use lexoffice_login::webhooks::{LEXOFFICE_PUBLIC_KEY_PEM, LEXOFFICE_PUBLIC_KEY_SHA256};
    use sha2::Digest as _;
    let b64: String = LEXOFFICE_PUBLIC_KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let fingerprint: String = sha2::Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(fingerprint, LEXOFFICE_PUBLIC_KEY_SHA256);

    let production = LexofficeVerifier::production().unwrap();
    assert!(
        format!("{production:?}").contains("key_bits: 4096"),
        "{production:?}"
    );
    let sandbox = sandbox().await;
    let body = event("r-prod").body();
    let sig = sandbox.sign_lexoffice_webhook(&body).unwrap();
    assert!(
        LexofficeVerifier::new(&sandbox.webhook_public_key_pem().unwrap())
            .unwrap()
            .verify_signature(Some(&sig), &body)
            .is_ok(),
        "positive control: the sandbox's own key accepts it"
    );
    assert!(matches!(
        production.verify_signature(Some(&sig), &body),
        Err(WebhookError::BadSignature | WebhookError::MalformedSignature)
    ));
}
