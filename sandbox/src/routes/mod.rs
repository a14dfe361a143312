//! HTTP routes of the sandbox and the helpers they share.

// Handler helpers return ready-made error responses as `Err`; boxing them would only
// add noise to these internal, short-lived values.
#![allow(clippy::result_large_err)]

mod api;
mod authorize;
mod device;
mod discovery;
mod providers;
mod revoke;
mod token;
mod userinfo;

/// The lexoffice API's caller check, for the event-subscription routes.
pub(crate) use api::authorize_call as authorize_api_call;

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::behaviour::{Behaviour, Discovery};
use super::config::{ClientAuth, SandboxClient, SandboxProfile};
use super::state::Shared;

/// Which listener a router serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Host {
    /// The issuer's host (the only one in most profiles).
    Issuer,
    /// The second host of [`SandboxProfile::Datev`]: token, revocation, userinfo, JWKS, API.
    Second,
}

pub(crate) fn router(shared: Arc<Shared>, host: Host) -> Router {
    let b = &shared.config.behaviour;
    let split = b.second_host;
    let front = !split || host == Host::Issuer;
    let back = !split || host == Host::Second;
    let mut r = Router::new();
    if front {
        // The standard path is always routed (it answers 404 where the provider
        // publishes no document there), so that clients probing it are counted.
        r = r
            .route(
                "/.well-known/openid-configuration",
                get(discovery::configuration),
            )
            .route("/oauth2/authorize", get(authorize::authorize))
            .route("/oauth2/authorize/decision", post(authorize::decision));
        if b.device_flow {
            r = r
                .route("/oauth2/device", get(device::device))
                .route("/oauth2/device/decision", post(device::decision));
        }
        if let Discovery::At(path) = &b.discovery {
            r = r.route(path, get(discovery::configuration_elsewhere));
        }
    }
    if back {
        r = r
            .route("/oauth2/jwks", get(discovery::jwks))
            .route("/oauth2/token", post(token::token))
            .route("/oauth2/revoke", post(revoke::revoke))
            .route("/oauth2/introspect", post(revoke::introspect))
            .route("/oauth2/userinfo", get(userinfo::userinfo));
        if b.device_flow {
            r = r.route(
                "/oauth2/device_authorization",
                post(device::device_authorization),
            );
        }
        // The provider APIs: their data are sandbox fixtures (no preset describes an
        // API's content), so the route table is chosen per profile.
        r = match shared.config.profile {
            SandboxProfile::Oidc | SandboxProfile::Lexoffice => r
                .route("/v1/profile", get(api::profile))
                .route("/v1/contacts", get(api::contacts))
                .merge(crate::webhooks::routes(&shared)),
            SandboxProfile::Datev => r.route("/datev/api/clients", get(providers::datev_clients)),
            SandboxProfile::Xero => r
                .route("/connections", get(providers::xero_connections))
                .route(
                    "/api.xro/2.0/Organisation",
                    get(providers::xero_organisation),
                ),
            SandboxProfile::QuickBooks => r.route(
                "/v3/company/{realm}/companyinfo/{id}",
                get(providers::quickbooks_company_info),
            ),
        };
    }
    // No request the sandbox serves needs more than a few KiB of body.
    r.fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .with_state(shared)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response()
}

/// Parses `application/x-www-form-urlencoded` data. Empty values count as absent
/// (RFC 6749 section 3.1); a repeated parameter is an error (its name is returned).
pub(crate) fn parse_params(data: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut map = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(data) {
        if v.is_empty() {
            continue;
        }
        if map.insert(k.to_string(), v.to_string()).is_some() {
            return Err(k.to_string());
        }
    }
    Ok(map)
}

/// Adds `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 section 5.1).
pub(crate) fn no_store(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// An OAuth error response `{"error", "error_description"}`.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    no_store(
        (
            status,
            Json(json!({"error": error, "error_description": description})),
        )
            .into_response(),
    )
}

/// `400` with the given OAuth error code.
pub(crate) fn bad_request(error: &str, description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, error, description)
}

fn invalid_client(description: &str, basic: bool) -> Response {
    let mut resp = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    if basic {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"sandbox\", charset=\"UTF-8\""),
        );
    }
    resp
}

/// Checks that the request body is form-encoded and parses it.
pub(crate) fn form_params(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HashMap<String, String>, Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(bad_request(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    parse_params(body)
        .map_err(|name| bad_request("invalid_request", &format!("repeated parameter {name}")))
}

/// Percent-decoding for the parts of a Basic credential (RFC 6749 section 2.3.1).
fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, Response> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || invalid_client("malformed Basic credentials", true);
    let value = value.to_str().map_err(|_| bad())?;
    let (scheme, rest) = value.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(invalid_client(
            "unsupported Authorization scheme at this endpoint",
            true,
        ));
    }
    let decoded = STANDARD.decode(rest.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(Some((form_decode(id), form_decode(secret))))
}

fn secret_matches(client: &SandboxClient, presented: &str) -> bool {
    match &client.secret {
        Some(s) => bool::from(s.as_bytes().ct_eq(presented.as_bytes())),
        None => false,
    }
}

/// Reads a form request and authenticates its client: the first step of the token,
/// revocation and introspection endpoints.
pub(crate) fn authenticated_form<'a>(
    shared: &'a Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(HashMap<String, String>, &'a SandboxClient), Response> {
    let params = form_params(headers, body)?;
    let client = authenticate(shared, headers, &params)?;
    Ok((params, client))
}

/// Authenticates the client of a token, revocation or introspection request by its
/// configured method. Errors are ready `401 invalid_client` (or `400`) responses.
pub(crate) fn authenticate<'a>(
    shared: &'a Shared,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<&'a SandboxClient, Response> {
    let basic = basic_credentials(headers)?;
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    if basic.is_some() && body_secret.is_some() {
        return Err(bad_request(
            "invalid_request",
            "more than one client authentication method used",
        ));
    }
    if let Some((id, secret)) = basic {
        if body_id.is_some_and(|b| *b != id) {
            return Err(invalid_client("client_id mismatch", true));
        }
        let Some(client) = shared.config.client(&id) else {
            tracing::debug!(client_id = %id, "unknown client");
            return Err(invalid_client("client authentication failed", true));
        };
        if client.auth != ClientAuth::ClientSecretBasic {
            return Err(invalid_client(
                "client_secret_basic is not allowed for this client",
                true,
            ));
        }
        if !secret_matches(client, &secret) {
            tracing::debug!(client_id = %id, "wrong client secret");
            return Err(invalid_client("client authentication failed", true));
        }
        return Ok(client);
    }
    let Some(id) = body_id else {
        return Err(invalid_client("client authentication required", true));
    };
    let Some(client) = shared.config.client(id) else {
        tracing::debug!(client_id = %id, "unknown client");
        return Err(invalid_client("client authentication failed", false));
    };
    let is_basic = client.auth == ClientAuth::ClientSecretBasic;
    match (client.auth, body_secret) {
        (ClientAuth::ClientSecretPost, Some(secret)) => {
            if secret_matches(client, secret) {
                Ok(client)
            } else {
                tracing::debug!(client_id = %id, "wrong client secret");
                Err(invalid_client("client authentication failed", false))
            }
        }
        (ClientAuth::None, None) => Ok(client),
        (_, Some(_)) => Err(invalid_client(
            "client_secret_post is not allowed for this client",
            is_basic,
        )),
        (_, None) => Err(invalid_client(
            "this client must authenticate with a secret",
            is_basic,
        )),
    }
}

/// The bearer token of the `Authorization` header, if present and well-formed.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Splits a space-separated scope string into unique scope names, keeping the order.
pub(crate) fn split_scope(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    out
}

/// Whether the imitated provider knows the scope.
/// The largest request body the sandbox reads (form posts are a few hundred bytes).
const MAX_REQUEST_BODY: usize = 64 * 1024;

pub(crate) fn known_scope(behaviour: &Behaviour, scope: &str) -> bool {
    behaviour.known_scopes.contains(&scope)
}
