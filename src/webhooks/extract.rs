//! axum extractors for verified webhook deliveries (features `webhooks` and `axum`).

use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{
    LexofficeEvent, LexofficeVerifier, WebhookError, XeroPayload, XeroVerifier,
    LEXOFFICE_SIGNATURE_HEADER, XERO_SIGNATURE_HEADER,
};

impl IntoResponse for WebhookError {
    /// [`WebhookError::status`] with an empty body (Xero's "intent to receive" check
    /// wants none); the reason is logged at debug level.
    fn into_response(self) -> Response {
        tracing::debug!(error = %self, "webhook refused");
        StatusCode::from_u16(self.status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response()
    }
}

/// Reads at most `limit` bytes of the body: a declared or actual length above it is
/// [`WebhookError::TooLarge`].
async fn raw_body(
    req: Request,
    limit: usize,
) -> Result<(HeaderMap, axum::body::Bytes), WebhookError> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(WebhookError::TooLarge { limit });
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| WebhookError::TooLarge { limit })?;
    Ok((parts.headers, bytes))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A lexoffice webhook delivery verified with the [`LexofficeVerifier`] in the router's
/// state (`LexofficeVerifier: FromRef<S>`). Rejections are [`WebhookError`]s answered
/// as 401 (signature), 413 (size), 409 (replay, stale), 400 (not an event).
#[derive(Debug, Clone)]
pub struct VerifiedLexofficeEvent(pub LexofficeEvent);

impl<S> FromRequest<S> for VerifiedLexofficeEvent
where
    S: Send + Sync,
    LexofficeVerifier: FromRef<S>,
{
    type Rejection = WebhookError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = LexofficeVerifier::from_ref(state);
        let (headers, body) = raw_body(req, verifier.body_limit()).await?;
        let event = verifier
            .verify(header_str(&headers, LEXOFFICE_SIGNATURE_HEADER), &body)
            .await?;
        Ok(Self(event))
    }
}

/// A Xero webhook delivery verified with the [`XeroVerifier`] in the router's state
/// (`XeroVerifier: FromRef<S>`). A handler taking it and answering 200 with an empty
/// body passes Xero's "intent to receive" check: a wrong signature never reaches the
/// handler and is answered 401.
#[derive(Debug, Clone)]
pub struct VerifiedXeroEvents(pub XeroPayload);

impl<S> FromRequest<S> for VerifiedXeroEvents
where
    S: Send + Sync,
    XeroVerifier: FromRef<S>,
{
    type Rejection = WebhookError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = XeroVerifier::from_ref(state);
        let (headers, body) = raw_body(req, verifier.body_limit()).await?;
        let payload = verifier
            .verify(header_str(&headers, XERO_SIGNATURE_HEADER), &body)
            .await?;
        Ok(Self(payload))
    }
}
