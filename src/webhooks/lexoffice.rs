//! lexoffice: `X-Lxo-Signature`, RSA PKCS #1 v1.5 with SHA-512 over the raw body.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier as _;
use rsa::traits::PublicKeyParts;
use rsa::RsaPublicKey;
use serde::{Deserialize, Serialize};
use sha2::Sha512;

use super::{check_size, decode_signature, MemoryReplayGuard, ReplayGuard, WebhookError};

/// One lexoffice event notification (the webhook body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LexofficeEvent {
    /// The organization (lexoffice account) the event belongs to.
    pub organization_id: String,
    /// The event type, e.g. `contact.changed` or `invoice.created`.
    pub event_type: String,
    /// The id of the resource the event is about.
    pub resource_id: String,
    /// When the event happened (lexoffice sends `2023-04-11T12:15:00.000+02:00`).
    pub event_date: DateTime<FixedOffset>,
}

impl LexofficeEvent {
    /// The replay key: organization, resource, event type and date.
    fn replay_key(&self) -> String {
        format!(
            "lexoffice\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
            self.organization_id,
            self.resource_id,
            self.event_type,
            self.event_date.timestamp_millis()
        )
    }
}

/// Verifies lexoffice webhook deliveries: size cap, signature, then the event's age and
/// a replay check. Cheap to clone (clones share the replay guard).
#[derive(Clone)]
pub struct LexofficeVerifier {
    key: VerifyingKey<Sha512>,
    key_bits: usize,
    max_body: usize,
    max_age: Duration,
    max_future: Duration,
    replay_window: Duration,
    guard: Arc<dyn ReplayGuard>,
}

impl fmt::Debug for LexofficeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LexofficeVerifier")
            .field("key_bits", &self.key_bits)
            .field("max_body", &self.max_body)
            .field("max_age", &self.max_age)
            .field("replay_window", &self.replay_window)
            .finish_non_exhaustive()
    }
}

impl LexofficeVerifier {
    /// A verifier for lexoffice's public key, as PEM (`BEGIN PUBLIC KEY`, SPKI, as
    /// lexoffice publishes it; `BEGIN RSA PUBLIC KEY`, PKCS #1, is accepted too).
    ///
    /// Defaults: bodies up to [`super::DEFAULT_MAX_BODY`], events at most 24 hours old
    /// (and at most 5 minutes in the future), replays refused for 24 hours through an
    /// in-memory [`MemoryReplayGuard`].
    pub fn new(public_key_pem: &str) -> Result<Self, WebhookError> {
        let pem = public_key_pem.trim();
        let key = RsaPublicKey::from_public_key_pem(pem)
            .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
            .map_err(|_| {
                WebhookError::InvalidKey("not an RSA public key in PEM (SPKI or PKCS #1)".into())
            })?;
        let key_bits = key.size() * 8;
        if key_bits < 2048 {
            return Err(WebhookError::InvalidKey(format!(
                "an RSA key of {key_bits} bits is too short (at least 2048)"
            )));
        }
        Ok(Self {
            key: VerifyingKey::new(key),
            key_bits,
            max_body: super::DEFAULT_MAX_BODY,
            max_age: Duration::from_secs(24 * 3600),
            max_future: Duration::from_secs(300),
            replay_window: Duration::from_secs(24 * 3600),
            guard: Arc::new(MemoryReplayGuard::new()),
        })
    }

    /// A verifier for lexoffice's production deliveries: [`Self::new`] with lexoffice's
    /// published key, [`LEXOFFICE_PUBLIC_KEY_PEM`](super::LEXOFFICE_PUBLIC_KEY_PEM) (see
    /// its module for where it comes from and how to check it).
    ///
    /// ```
    /// use lexoffice_login::webhooks::LexofficeVerifier;
    /// let verifier = LexofficeVerifier::production().unwrap();
    /// assert!(format!("{verifier:?}").contains("4096"));
    /// ```
    pub fn production() -> Result<Self, WebhookError> {
        Self::new(super::LEXOFFICE_PUBLIC_KEY_PEM)
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

    /// The oldest `eventDate` accepted. Keys are remembered for at least this long, so a
    /// replay is refused either as [`WebhookError::Replayed`] or as
    /// [`WebhookError::Stale`].
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// How long an accepted delivery's key is remembered (at least [`Self::max_age`]
    /// plus 5 minutes of clock skew is used).
    pub fn replay_window(mut self, window: Duration) -> Self {
        self.replay_window = window;
        self
    }

    /// The replay guard (e.g. one shared by all replicas).
    pub fn replay_guard(mut self, guard: Arc<dyn ReplayGuard>) -> Self {
        self.guard = guard;
        self
    }

    /// Checks only the size and the signature of `body` against the `X-Lxo-Signature`
    /// header's value (`None` if the header is absent). Nothing is parsed.
    pub fn verify_signature(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), WebhookError> {
        check_size(body, self.max_body)?;
        let raw = decode_signature(signature)?;
        if raw.len() != self.key_bits / 8 {
            return Err(WebhookError::MalformedSignature);
        }
        let sig =
            Signature::try_from(raw.as_slice()).map_err(|_| WebhookError::MalformedSignature)?;
        self.key
            .verify(body, &sig)
            .map_err(|_| WebhookError::BadSignature)
    }

    /// Verifies a delivery and returns its event: size, signature, then (only now
    /// parsed) the event's age and the replay check.
    pub async fn verify(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<LexofficeEvent, WebhookError> {
        self.verify_signature(signature, body)?;
        let event: LexofficeEvent =
            serde_json::from_slice(body).map_err(|e| WebhookError::InvalidBody(e.to_string()))?;
        let age_ms = Utc::now().timestamp_millis() - event.event_date.timestamp_millis();
        let too_old = age_ms > i64::try_from(self.max_age.as_millis()).unwrap_or(i64::MAX);
        let too_new = -age_ms > i64::try_from(self.max_future.as_millis()).unwrap_or(i64::MAX);
        if too_old || too_new {
            return Err(WebhookError::Stale {
                age_secs: age_ms / 1000,
            });
        }
        let ttl = self.replay_window.max(self.max_age + self.max_future);
        if !self.guard.first_seen(&event.replay_key(), ttl).await? {
            return Err(WebhookError::Replayed);
        }
        Ok(event)
    }
}
