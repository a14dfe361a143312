//! Discovery document and JWKS.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::token::DEVICE_CODE_GRANT;
use crate::behaviour::Discovery;
use crate::config::ClientAuth;
use crate::state::{lock, Shared};
use crate::stats::SandboxRoute;

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response()
}

/// `GET /.well-known/openid-configuration` (404 where the provider publishes no
/// document there).
pub(super) async fn configuration(State(s): State<Arc<Shared>>) -> Response {
    s.count(SandboxRoute::Discovery);
    match s.config.behaviour.discovery {
        Discovery::Standard => json_response(document_json(&s)),
        Discovery::At(_) | Discovery::None => not_found(),
    }
}

/// The discovery document at the provider's own path (QuickBooks'
/// `/.well-known/openid_configuration`); routed only where the preset names one.
pub(super) async fn configuration_elsewhere(State(s): State<Arc<Shared>>) -> Response {
    s.count(SandboxRoute::Discovery);
    json_response(document_json(&s))
}

/// A `200 application/json` answer with a body serialised earlier (what `Json` sends).
fn json_response(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// The discovery document, serialised once per value of `send_iss` (everything else
/// in it is fixed at start).
fn document_json(s: &Shared) -> Bytes {
    let send_iss = s.send_iss();
    s.discovery_json[usize::from(send_iss)]
        .get_or_init(|| {
            let mut doc = document(s);
            doc["authorization_response_iss_parameter_supported"] = json!(send_iss);
            Bytes::from(serde_json::to_vec(&doc).unwrap_or_default())
        })
        .clone()
}

fn document(s: &Shared) -> Value {
    let iss = &s.issuer;
    let base = s.endpoint_base();
    let b = &s.config.behaviour;
    let auth_methods: Vec<&str> = [
        ClientAuth::ClientSecretBasic,
        ClientAuth::ClientSecretPost,
        ClientAuth::None,
    ]
    .into_iter()
    .filter(|m| s.config.clients.iter().any(|c| c.auth == *m))
    .map(ClientAuth::as_str)
    .collect();
    let mut doc = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth2/authorize"),
        "token_endpoint": format!("{base}/oauth2/token"),
        "revocation_endpoint": format!("{base}/oauth2/revoke"),
        "userinfo_endpoint": format!("{base}/oauth2/userinfo"),
        "jwks_uri": format!("{base}/oauth2/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": b.signing_algs,
        "claims_supported": b.claims_supported,
        "authorization_response_iss_parameter_supported": s.send_iss(),
    });
    if b.device_flow {
        doc["device_authorization_endpoint"] = json!(format!("{base}/oauth2/device_authorization"));
        doc["grant_types_supported"] =
            json!(["authorization_code", "refresh_token", DEVICE_CODE_GRANT]);
    }
    // DATEV publishes neither scopes, PKCE methods nor client authentication methods,
    // and no introspection endpoint.
    if b.discovery_lists_capabilities {
        doc["introspection_endpoint"] = json!(format!("{base}/oauth2/introspect"));
        doc["scopes_supported"] = json!(b.listed_scopes);
        doc["code_challenge_methods_supported"] = json!(["S256"]);
        doc["token_endpoint_auth_methods_supported"] = json!(auth_methods);
        doc["revocation_endpoint_auth_methods_supported"] = json!(auth_methods);
        doc["introspection_endpoint_auth_methods_supported"] = json!(auth_methods);
    }
    doc
}

/// `GET /oauth2/jwks`.
pub(super) async fn jwks(State(s): State<Arc<Shared>>) -> Response {
    s.count(SandboxRoute::Jwks);
    let body = lock(&s.keys).jwks_json();
    json_response(body)
}
