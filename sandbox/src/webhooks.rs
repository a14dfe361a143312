//! Signed webhooks: lexoffice-style event subscriptions (`/v1/event-subscriptions`) and
//! deliveries signed with a test RSA key (`X-Lxo-Signature`, RSA PKCS #1 v1.5 SHA-512),
//! and Xero-style deliveries signed with a configurable webhook key
//! (`x-xero-signature`, HMAC-SHA256), including Xero's "intent to receive" check.
//!
//! Deliveries go to loopback callback URLs only (`127.0.0.1`, `::1`, `localhost`): the
//! sandbox never posts to another host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA512};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::Offset as _;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::derived_uuid;
use crate::keys::pem_to_der;
use crate::state::{lock, random_token, Shared};
use crate::{Sandbox, SandboxError};

/// The fixed test key that signs lexoffice-style webhooks (one of the public test keys
/// in `keys/`; not secret).
const WEBHOOK_TEST_KEY: &str = include_str!("keys/rsa-test-key-3.pem");

/// The header lexoffice signs its deliveries in.
pub const LEXOFFICE_SIGNATURE_HEADER: &str = "X-Lxo-Signature";
/// The header Xero signs its deliveries in.
pub const XERO_SIGNATURE_HEADER: &str = "x-xero-signature";

/// One stored event subscription.
#[derive(Debug, Clone)]
struct Subscription {
    id: String,
    organization_id: String,
    event_type: String,
    callback_url: String,
    created: String,
}

impl Subscription {
    fn json(&self) -> Value {
        json!({
            "subscriptionId": self.id,
            "organizationId": self.organization_id,
            "createdDate": self.created,
            "eventType": self.event_type,
            "callbackUrl": self.callback_url,
        })
    }
}

/// The webhook side of one sandbox.
struct Hub {
    signer: RsaKeyPair,
    public_pem: String,
    xero_key: Mutex<String>,
    subscriptions: Mutex<Vec<Subscription>>,
    http: reqwest::Client,
}

/// One hub per running sandbox, keyed by its shared state's address. The entry keeps a
/// `Weak` to that state, which keeps the address from being reused; entries whose
/// sandbox is gone are dropped when the next sandbox registers.
type Registry = Mutex<HashMap<usize, (Weak<Shared>, Arc<Hub>)>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

fn hub(shared: &Arc<Shared>) -> Result<Arc<Hub>, SandboxError> {
    let key = Arc::as_ptr(shared) as usize;
    let mut reg = lock(registry());
    if let Some((_, hub)) = reg.get(&key) {
        return Ok(hub.clone());
    }
    reg.retain(|_, (weak, _)| weak.strong_count() > 0);
    let der = pem_to_der(WEBHOOK_TEST_KEY)
        .map_err(|e| SandboxError::Key(format!("webhook test key {e}")))?;
    let signer = RsaKeyPair::from_pkcs8(&der)
        .map_err(|e| SandboxError::Key(format!("webhook test key: {e}")))?;
    let public_pem = spki_pem(signer.public_key().as_ref())?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| SandboxError::Config(format!("webhook HTTP client: {e}")))?;
    let hub = Arc::new(Hub {
        signer,
        public_pem,
        xero_key: Mutex::new(random_token(32)),
        subscriptions: Mutex::new(Vec::new()),
        http,
    });
    reg.insert(key, (Arc::downgrade(shared), hub.clone()));
    Ok(hub)
}

/// Writes a PKCS #1 `RSAPublicKey` (aws-lc-rs's public key bytes) as SubjectPublicKeyInfo
/// `BEGIN PUBLIC KEY` PEM, the form lexoffice publishes its key in.
fn spki_pem(pkcs1: &[u8]) -> Result<String, SandboxError> {
    use rsa::pkcs1::DecodeRsaPublicKey as _;
    use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
    rsa::RsaPublicKey::from_pkcs1_der(pkcs1)
        .and_then(|key| Ok(key.to_public_key_pem(LineEnding::LF)?))
        .map_err(|e| SandboxError::Key(format!("webhook test key: {e}")))
}

impl Hub {
    fn sign_lexoffice(&self, body: &[u8]) -> Result<String, SandboxError> {
        let mut sig = vec![0u8; self.signer.public_modulus_len()];
        self.signer
            .sign(&RSA_PKCS1_SHA512, &SystemRandom::new(), body, &mut sig)
            .map_err(|e| SandboxError::Key(format!("webhook signature: {e}")))?;
        Ok(STANDARD.encode(sig))
    }

    fn sign_xero(&self, body: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, lock(&self.xero_key).as_bytes());
        STANDARD.encode(hmac::sign(&key, body).as_ref())
    }

    async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        header: &str,
        signature: &str,
    ) -> Result<u16, SandboxError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| SandboxError::Config(format!("webhook callback URL: {e}")))?;
        if !is_loopback(&parsed) {
            return Err(SandboxError::Config(
                "webhook callback URL: the sandbox delivers to loopback hosts only".into(),
            ));
        }
        let resp = self
            .http
            .post(parsed)
            .header("content-type", "application/json")
            .header(header, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| SandboxError::Io(std::io::Error::other(e.without_url())))?;
        Ok(resp.status().as_u16())
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A lexoffice event notification the sandbox can sign and send
/// (`{organizationId, eventType, resourceId, eventDate}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxLexofficeEvent {
    /// The organization the event belongs to.
    pub organization_id: String,
    /// The event type, e.g. `contact.changed`.
    pub event_type: String,
    /// The resource's id.
    pub resource_id: String,
    /// The event's date, `yyyy-MM-ddTHH:mm:ss.SSS+01:00` as lexoffice writes it.
    pub event_date: String,
}

impl SandboxLexofficeEvent {
    /// An event dated now (real time).
    pub fn new(
        organization_id: impl Into<String>,
        event_type: impl Into<String>,
        resource_id: impl Into<String>,
    ) -> Self {
        Self::at(
            organization_id,
            event_type,
            resource_id,
            chrono::Utc::now().timestamp_millis(),
        )
    }

    /// An event dated `unix_millis`.
    pub fn at(
        organization_id: impl Into<String>,
        event_type: impl Into<String>,
        resource_id: impl Into<String>,
        unix_millis: i64,
    ) -> Self {
        // lexoffice writes its dates with the German offset; CET is close enough here.
        let cet = chrono::FixedOffset::east_opt(3600).unwrap_or(chrono::Utc.fix());
        let event_date = chrono::DateTime::from_timestamp_millis(unix_millis)
            .unwrap_or_default()
            .with_timezone(&cet)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
        Self {
            organization_id: organization_id.into(),
            event_type: event_type.into(),
            resource_id: resource_id.into(),
            event_date,
        }
    }

    /// The body as lexoffice sends it: compact JSON.
    pub fn body(&self) -> Vec<u8> {
        json!({
            "organizationId": self.organization_id,
            "eventType": self.event_type,
            "resourceId": self.resource_id,
            "eventDate": self.event_date,
        })
        .to_string()
        .into_bytes()
    }
}

/// Where [`Sandbox::emit_lexoffice_event`] delivered an event and what the callback
/// answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// The subscription delivered to.
    pub subscription_id: String,
    /// Its callback URL.
    pub callback_url: String,
    /// The callback's HTTP status, or `None` if it could not be reached (or is not a
    /// loopback URL).
    pub status: Option<u16>,
}

/// What a callback answered to Xero's "intent to receive" check
/// ([`Sandbox::xero_intent_to_receive`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntentToReceive {
    /// The status for the correctly signed delivery (Xero wants 200).
    pub signed: u16,
    /// The status for the wrongly signed delivery (Xero wants 401).
    pub wrongly_signed: u16,
}

impl IntentToReceive {
    /// Whether the callback passed: 200 for the signed delivery, 401 for the other.
    pub fn passed(&self) -> bool {
        self.signed == 200 && self.wrongly_signed == 401
    }
}

impl Sandbox {
    fn webhook_hub(&self) -> Result<Arc<Hub>, SandboxError> {
        hub(&self.shared)
    }

    /// The public key of the sandbox's lexoffice-style webhook signatures, as
    /// `BEGIN PUBLIC KEY` PEM (give it to `LexofficeVerifier::new`). A fixed test key.
    pub fn webhook_public_key_pem(&self) -> Result<String, SandboxError> {
        Ok(self.webhook_hub()?.public_pem.clone())
    }

    /// The Xero webhook key the sandbox signs with (random per sandbox unless set).
    pub fn xero_webhook_key(&self) -> Result<String, SandboxError> {
        Ok(lock(&self.webhook_hub()?.xero_key).clone())
    }

    /// Sets the Xero webhook key the sandbox signs with.
    pub fn set_xero_webhook_key(&self, key: impl Into<String>) -> Result<(), SandboxError> {
        *lock(&self.webhook_hub()?.xero_key) = key.into();
        Ok(())
    }

    /// The `X-Lxo-Signature` value for `body` (base64 RSA PKCS #1 v1.5 SHA-512).
    pub fn sign_lexoffice_webhook(&self, body: &[u8]) -> Result<String, SandboxError> {
        self.webhook_hub()?.sign_lexoffice(body)
    }

    /// The `x-xero-signature` value for `body` (base64 HMAC-SHA256 with the Xero webhook
    /// key).
    pub fn sign_xero_webhook(&self, body: &[u8]) -> Result<String, SandboxError> {
        Ok(self.webhook_hub()?.sign_xero(body))
    }

    /// Signs `event` and POSTs it to `url` (loopback only), as lexoffice delivers a
    /// webhook; returns the callback's HTTP status.
    pub async fn send_webhook(
        &self,
        url: &str,
        event: &SandboxLexofficeEvent,
    ) -> Result<u16, SandboxError> {
        let hub = self.webhook_hub()?;
        let body = event.body();
        let sig = hub.sign_lexoffice(&body)?;
        hub.post(url, body, LEXOFFICE_SIGNATURE_HEADER, &sig).await
    }

    /// Makes an event of `event_type` about `resource_id` happen now and delivers it,
    /// signed, to every subscription to that type (each with its own organization),
    /// sequentially. Returns one [`WebhookDelivery`] per subscription.
    pub async fn emit_lexoffice_event(
        &self,
        event_type: &str,
        resource_id: &str,
    ) -> Result<Vec<WebhookDelivery>, SandboxError> {
        let hub = self.webhook_hub()?;
        let targets: Vec<Subscription> = lock(&hub.subscriptions)
            .iter()
            .filter(|s| s.event_type.eq_ignore_ascii_case(event_type))
            .cloned()
            .collect();
        let mut out = Vec::with_capacity(targets.len());
        for sub in targets {
            let event = SandboxLexofficeEvent::at(
                &sub.organization_id,
                event_type.to_ascii_lowercase(),
                resource_id,
                self.shared.now_millis(),
            );
            let body = event.body();
            let sig = hub.sign_lexoffice(&body)?;
            let status = hub
                .post(&sub.callback_url, body, LEXOFFICE_SIGNATURE_HEADER, &sig)
                .await
                .ok();
            out.push(WebhookDelivery {
                subscription_id: sub.id,
                callback_url: sub.callback_url,
                status,
            });
        }
        Ok(out)
    }

    /// Signs a Xero delivery of `events` (JSON objects in Xero's event shape) with the
    /// Xero webhook key and POSTs it to `url` (loopback only); returns the status.
    /// Sequence numbers count up per sandbox; the entropy is random.
    pub async fn send_xero_webhook(
        &self,
        url: &str,
        events: Vec<Value>,
    ) -> Result<u16, SandboxError> {
        let hub = self.webhook_hub()?;
        let body = xero_body(events);
        let sig = hub.sign_xero(&body);
        hub.post(url, body, XERO_SIGNATURE_HEADER, &sig).await
    }

    /// Plays Xero's "intent to receive" check against `url`: an empty delivery signed
    /// with the webhook key, then one with a wrong signature.
    pub async fn xero_intent_to_receive(&self, url: &str) -> Result<IntentToReceive, SandboxError> {
        let hub = self.webhook_hub()?;
        let body = xero_body(Vec::new());
        let sig = hub.sign_xero(&body);
        let signed = hub.post(url, body, XERO_SIGNATURE_HEADER, &sig).await?;
        let body = xero_body(Vec::new());
        let wrong = STANDARD.encode(random_token(32).as_bytes().get(..32).unwrap_or_default());
        let wrongly_signed = hub.post(url, body, XERO_SIGNATURE_HEADER, &wrong).await?;
        Ok(IntentToReceive {
            signed,
            wrongly_signed,
        })
    }
}

fn xero_body(events: Vec<Value>) -> Vec<u8> {
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = events.len() as u64;
    let first = if n == 0 {
        0
    } else {
        SEQUENCE.fetch_add(n, std::sync::atomic::Ordering::Relaxed)
    };
    let last = if n == 0 { 0 } else { first + n - 1 };
    json!({
        "events": events,
        "firstEventSequence": first,
        "lastEventSequence": last,
        "entropy": random_token(15).to_ascii_uppercase(),
    })
    .to_string()
    .into_bytes()
}

/// The state of the event-subscription routes.
#[derive(Clone)]
struct RouteState {
    shared: Arc<Shared>,
    hub: Arc<Hub>,
}

/// `/v1/event-subscriptions` (create, list) and `/v1/event-subscriptions/{id}` (get,
/// delete), for the lexoffice API's router.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(shared: &Arc<Shared>) -> Router<S> {
    let hub = match hub(shared) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: no signing key; event subscriptions are off");
            return Router::new();
        }
    };
    Router::new()
        .route(
            "/v1/event-subscriptions",
            get(list_subscriptions).post(create_subscription),
        )
        .route(
            "/v1/event-subscriptions/{id}",
            delete(delete_subscription).get(get_subscription),
        )
        .with_state(RouteState {
            shared: shared.clone(),
            hub,
        })
}

fn message(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

/// The caller's organization (bearer token with the `profile.read` scope).
// The error is a ready-made response, as in the other routes (see routes/mod.rs).
#[allow(clippy::result_large_err)]
fn caller_org(s: &RouteState, headers: &HeaderMap) -> Result<String, Response> {
    let caller = crate::routes::authorize_api_call(&s.shared, headers, "profile.read")?;
    s.shared
        .config
        .user(&caller.sub)
        .map(|u| u.organization_id.clone())
        .ok_or_else(|| message(StatusCode::UNAUTHORIZED, "Unauthorized"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    event_type: Option<String>,
    callback_url: Option<String>,
}

async fn create_subscription(
    State(s): State<RouteState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let org = match caller_org(&s, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Ok(req) = serde_json::from_slice::<CreateBody>(&body) else {
        return message(StatusCode::BAD_REQUEST, "the body is not valid JSON");
    };
    let event_type = req
        .event_type
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if event_type.is_empty() {
        return message(StatusCode::BAD_REQUEST, "eventType is required");
    }
    let callback_url = req.callback_url.unwrap_or_default();
    match url::Url::parse(&callback_url) {
        Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
        _ => {
            return message(
                StatusCode::BAD_REQUEST,
                "callbackUrl must be an http(s) URL",
            )
        }
    }
    let mut subs = lock(&s.hub.subscriptions);
    if subs
        .iter()
        .any(|x| x.organization_id == org && x.event_type == event_type)
    {
        return message(
            StatusCode::CONFLICT,
            "a subscription for this event type exists already",
        );
    }
    let id = derived_uuid(&random_token(16));
    let created = SandboxLexofficeEvent::at("", "", "", s.shared.now_millis()).event_date;
    subs.push(Subscription {
        id: id.clone(),
        organization_id: org,
        event_type,
        callback_url,
        created: created.clone(),
    });
    (
        StatusCode::CREATED,
        Json(json!({
            "id": id,
            "resourceUri": format!("{}/v1/event-subscriptions/{id}", s.shared.issuer),
            "createdDate": created,
            "updatedDate": created,
            "version": 0,
        })),
    )
        .into_response()
}

async fn list_subscriptions(State(s): State<RouteState>, headers: HeaderMap) -> Response {
    let org = match caller_org(&s, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let content: Vec<Value> = lock(&s.hub.subscriptions)
        .iter()
        .filter(|x| x.organization_id == org)
        .map(Subscription::json)
        .collect();
    Json(json!({ "content": content })).into_response()
}

async fn get_subscription(
    State(s): State<RouteState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let org = match caller_org(&s, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    match lock(&s.hub.subscriptions)
        .iter()
        .find(|x| x.organization_id == org && x.id == id)
    {
        Some(sub) => Json(sub.json()).into_response(),
        None => message(StatusCode::NOT_FOUND, "Not Found"),
    }
}

async fn delete_subscription(
    State(s): State<RouteState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let org = match caller_org(&s, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut subs = lock(&s.hub.subscriptions);
    let before = subs.len();
    subs.retain(|x| !(x.organization_id == org && x.id == id));
    if subs.len() == before {
        return message(StatusCode::NOT_FOUND, "Not Found");
    }
    StatusCode::NO_CONTENT.into_response()
}
