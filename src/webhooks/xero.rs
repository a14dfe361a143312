//! Xero: `x-xero-signature`, HMAC-SHA256 over the raw body with the app's webhook key.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{check_size, decode_signature, MemoryReplayGuard, ReplayGuard, WebhookError};

/// One event of a Xero webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XeroEvent {
    /// The API URL of the resource.
    pub resource_url: String,
    /// The resource's id.
    pub resource_id: String,
    /// When the event happened, UTC, as Xero sends it (`2017-06-21T01:15:39.902`); see
    /// [`Self::event_date`].
    pub event_date_utc: String,
    /// `CREATE` or `UPDATE`.
    pub event_type: String,
    /// `INVOICE`, `CONTACT`, `SUBSCRIPTION`, ...
    pub event_category: String,
    /// The tenant (organisation) the event belongs to.
    pub tenant_id: String,
    /// The tenant's type, e.g. `ORGANISATION`.
    pub tenant_type: String,
}

impl XeroEvent {
    /// [`Self::event_date_utc`] as a date, if it parses (with or without an offset).
    pub fn event_date(&self) -> Option<DateTime<Utc>> {
        let s = self.event_date_utc.trim();
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|n| n.and_utc())
            })
    }
}

/// A Xero webhook delivery: its events (none in an "intent to receive" check) and the
/// sequence numbers and entropy that make each delivery unique.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XeroPayload {
    /// The events, oldest first.
    pub events: Vec<XeroEvent>,
    /// The sequence number of the first event.
    pub first_event_sequence: u64,
    /// The sequence number of the last event.
    pub last_event_sequence: u64,
    /// Random text that makes every delivery's body (and signature) unique.
    pub entropy: String,
}

/// Verifies Xero webhook deliveries: size cap, HMAC (constant-time comparison), then a
/// replay check on the sequence numbers and the entropy. The webhook key never appears
/// in `Debug` output or errors. Cheap to clone (clones share the replay guard).
#[derive(Clone)]
pub struct XeroVerifier {
    key: Hmac<Sha256>,
    max_body: usize,
    replay_window: Duration,
    guard: Arc<dyn ReplayGuard>,
}

impl fmt::Debug for XeroVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XeroVerifier")
            .field("webhook_key", &"[redacted]")
            .field("max_body", &self.max_body)
            .field("replay_window", &self.replay_window)
            .finish_non_exhaustive()
    }
}

impl XeroVerifier {
    /// A verifier for the app's webhook key (Xero developer portal, the app's Webhooks
    /// page). Defaults: bodies up to [`super::DEFAULT_MAX_BODY`], replays refused for 24
    /// hours through an in-memory [`MemoryReplayGuard`].
    pub fn new(webhook_key: impl AsRef<[u8]>) -> Result<Self, WebhookError> {
        let key = webhook_key.as_ref();
        if key.is_empty() {
            return Err(WebhookError::InvalidKey("the webhook key is empty".into()));
        }
        let key = Hmac::<Sha256>::new_from_slice(key)
            .map_err(|_| WebhookError::InvalidKey("the webhook key is not usable".into()))?;
        Ok(Self {
            key,
            max_body: super::DEFAULT_MAX_BODY,
            replay_window: Duration::from_secs(24 * 3600),
            guard: Arc::new(MemoryReplayGuard::new()),
        })
    }

    /// The largest body accepted, in bytes (checked before the signature).
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The cap set by [`Self::max_body`].
    pub fn body_limit(&self) -> usize {
        self.max_body
    }

    /// How long an accepted delivery is remembered.
    pub fn replay_window(mut self, window: Duration) -> Self {
        self.replay_window = window;
        self
    }

    /// The replay guard (e.g. one shared by all replicas).
    pub fn replay_guard(mut self, guard: Arc<dyn ReplayGuard>) -> Self {
        self.guard = guard;
        self
    }

    /// Checks only the size and the signature of `body` against the `x-xero-signature`
    /// header's value (`None` if absent). Nothing is parsed. This is all Xero's "intent
    /// to receive" check asks: 200 when it passes, 401 when it does not.
    pub fn verify_signature(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), WebhookError> {
        check_size(body, self.max_body)?;
        let raw = decode_signature(signature)?;
        if raw.len() != 32 {
            return Err(WebhookError::MalformedSignature);
        }
        let mut mac = self.key.clone();
        mac.update(body);
        mac.verify_slice(&raw)
            .map_err(|_| WebhookError::BadSignature)
    }

    /// Verifies a delivery and returns it: size, signature, then (only now parsed) the
    /// replay check on `firstEventSequence`, `lastEventSequence` and `entropy`.
    pub async fn verify(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<XeroPayload, WebhookError> {
        self.verify_signature(signature, body)?;
        let payload: XeroPayload =
            serde_json::from_slice(body).map_err(|e| WebhookError::InvalidBody(e.to_string()))?;
        let key = format!(
            "xero\u{1f}{}\u{1f}{}\u{1f}{}",
            payload.first_event_sequence, payload.last_event_sequence, payload.entropy
        );
        if !self.guard.first_seen(&key, self.replay_window).await? {
            return Err(WebhookError::Replayed);
        }
        Ok(payload)
    }
}
