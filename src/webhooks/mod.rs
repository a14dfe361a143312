//! Verified webhook deliveries from lexoffice and Xero (feature `webhooks`).
//!
//! Each verifier checks the **raw body** before anything parses it: first its size
//! (a cap, [`DEFAULT_MAX_BODY`] unless changed), then the signature header, then the
//! signature itself; only a body that passes is read as JSON, and then checked against a
//! [`ReplayGuard`] so that the same delivery is accepted once.
//!
//! | provider | header | signature | verifier |
//! | --- | --- | --- | --- |
//! | lexoffice | `X-Lxo-Signature` | base64 RSA PKCS #1 v1.5 SHA-512 over the body, lexoffice's public key | [`LexofficeVerifier`] |
//! | Xero | `x-xero-signature` | base64 HMAC-SHA256 over the body, the app's webhook key | [`XeroVerifier`] |
//!
//! lexoffice's public key is not built in: pass the PEM that lexoffice publishes in its
//! developer documentation to [`LexofficeVerifier::new`].
//!
//! With the `axum` feature, `VerifiedLexofficeEvent` and `VerifiedXeroEvents` are
//! extractors that do all of this for a handler and answer 401 (signature), 413 (size),
//! 409 (replay, stale event) or 400 (not an event) themselves. Xero's "intent to
//! receive" check is then met by a handler that answers 200 with an empty body.
//!
//! A delivery's replay key is recorded when it is verified, before the handler runs: a
//! handler that then fails and answers an error makes the provider's retry of that
//! delivery a replay (409). Handlers should store the event (or queue it) before doing
//! slow work, and answer 2xx once it is stored.
//!
//! ```no_run
//! # async fn run(pem: &str, body: &[u8], header: Option<&str>) -> Result<(), lexoffice_login::webhooks::WebhookError> {
//! use lexoffice_login::webhooks::LexofficeVerifier;
//!
//! let verifier = LexofficeVerifier::new(pem)?;
//! let event = verifier.verify(header, body).await?;
//! println!("{} {}", event.event_type, event.resource_id);
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "axum")]
mod extract;
mod lexoffice;
mod lexoffice_key;
mod replay;
mod xero;

#[cfg(feature = "axum")]
pub use extract::{VerifiedLexofficeEvent, VerifiedXeroEvents};
pub use lexoffice::{LexofficeEvent, LexofficeVerifier};
pub use lexoffice_key::{LEXOFFICE_PUBLIC_KEY_PEM, LEXOFFICE_PUBLIC_KEY_SHA256};
pub use replay::{MemoryReplayGuard, ReplayFuture, ReplayGuard};
pub use xero::{XeroEvent, XeroPayload, XeroVerifier};

/// The largest webhook body accepted unless a verifier is told otherwise: 64 KiB (a
/// lexoffice or Xero notification is well under 1 KiB per event).
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

/// The header that carries lexoffice's signature (HTTP header names are
/// case-insensitive; lexoffice spells it `X-Lxo-Signature`).
pub const LEXOFFICE_SIGNATURE_HEADER: &str = "x-lxo-signature";

/// The header that carries Xero's signature.
pub const XERO_SIGNATURE_HEADER: &str = "x-xero-signature";

/// Why a webhook delivery was refused. No variant holds a key, a signature or the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The request has no signature header.
    #[error("the webhook request has no signature header")]
    MissingSignature,
    /// The signature header is not base64, or not of a signature's length.
    #[error("the webhook signature header is malformed")]
    MalformedSignature,
    /// The signature does not match the body (tampered body, wrong key, forged request).
    #[error("the webhook signature does not match the body")]
    BadSignature,
    /// The body is larger than the verifier's cap (checked before the signature).
    #[error("the webhook body is larger than {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The body is correctly signed but is not the provider's event JSON.
    #[error("the webhook body is not a valid event: {0}")]
    InvalidBody(String),
    /// The same delivery was accepted before (within the replay window).
    #[error("the webhook delivery was already received")]
    Replayed,
    /// The event's date is older than the accepted age, or too far in the future.
    #[error("the webhook event's date is outside the accepted window ({age_secs} s old)")]
    Stale {
        /// The event's age in seconds (negative: dated in the future).
        age_secs: i64,
    },
    /// The key given to the verifier cannot be used.
    #[error("the webhook verification key is not usable: {0}")]
    InvalidKey(String),
    /// The replay guard's store failed; the delivery was not accepted.
    #[error("the webhook replay guard failed: {0}")]
    ReplayStore(String),
}

impl WebhookError {
    /// The HTTP status a webhook endpoint answers with: 401 for a missing, malformed or
    /// wrong signature, 413 for an oversized body, 400 for a body that is no event, 409
    /// for a replay or a stale event, 500 for a key or store failure.
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingSignature | Self::MalformedSignature | Self::BadSignature => 401,
            Self::TooLarge { .. } => 413,
            Self::InvalidBody(_) => 400,
            Self::Replayed | Self::Stale { .. } => 409,
            Self::InvalidKey(_) | Self::ReplayStore(_) => 500,
        }
    }
}

/// Decodes a base64 signature header (standard alphabet, padding optional, surrounding
/// whitespace ignored).
fn decode_signature(header: Option<&str>) -> Result<Vec<u8>, WebhookError> {
    use base64::Engine as _;
    let header = header.ok_or(WebhookError::MissingSignature)?.trim();
    if header.is_empty() {
        return Err(WebhookError::MissingSignature);
    }
    base64::engine::general_purpose::STANDARD
        .decode(header)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(header))
        .map_err(|_| WebhookError::MalformedSignature)
}

fn check_size(body: &[u8], limit: usize) -> Result<(), WebhookError> {
    if body.len() > limit {
        return Err(WebhookError::TooLarge { limit });
    }
    Ok(())
}
