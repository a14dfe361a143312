//! Discovery document and JWKS.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::config::{ClientAuth, SandboxProfile};
use crate::profile_scopes;
use crate::state::{lock, Shared};
use crate::stats::SandboxRoute;

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response()
}

/// `GET /.well-known/openid-configuration` (404 in the Lexoffice and QuickBooks profiles).
pub(super) async fn configuration(State(s): State<Arc<Shared>>) -> Response {
    s.count(SandboxRoute::Discovery);
    match s.config.profile {
        SandboxProfile::Lexoffice | SandboxProfile::QuickBooks => not_found(),
        _ => Json(document(&s)).into_response(),
    }
}

/// `GET /.well-known/openid_configuration` (QuickBooks' non-standard path; routed in
/// that profile only).
pub(super) async fn configuration_underscore(State(s): State<Arc<Shared>>) -> Response {
    s.count(SandboxRoute::Discovery);
    Json(document(&s)).into_response()
}

fn document(s: &Shared) -> Value {
    let iss = &s.issuer;
    let base = s.endpoint_base();
    let profile = s.config.profile;
    let scopes = profile_scopes(profile);
    let auth_methods: Vec<&str> = [
        ClientAuth::ClientSecretBasic,
        ClientAuth::ClientSecretPost,
        ClientAuth::None,
    ]
    .into_iter()
    .filter(|m| s.config.clients.iter().any(|c| c.auth == *m))
    .map(ClientAuth::as_str)
    .collect();
    let algs = match profile {
        SandboxProfile::Datev | SandboxProfile::QuickBooks => json!(["RS256"]),
        _ => json!(["RS256", "ES256"]),
    };
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
        "id_token_signing_alg_values_supported": algs,
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "name", "email"],
        "authorization_response_iss_parameter_supported": s.send_iss(),
    });
    // DATEV publishes neither scopes, PKCE methods nor client authentication methods,
    // and no introspection endpoint.
    if profile != SandboxProfile::Datev {
        doc["introspection_endpoint"] = json!(format!("{base}/oauth2/introspect"));
        doc["scopes_supported"] = json!(scopes);
        doc["code_challenge_methods_supported"] = json!(["S256"]);
        doc["token_endpoint_auth_methods_supported"] = json!(auth_methods);
        doc["revocation_endpoint_auth_methods_supported"] = json!(auth_methods);
        doc["introspection_endpoint_auth_methods_supported"] = json!(auth_methods);
    }
    if profile == SandboxProfile::QuickBooks {
        doc["claims_supported"] = json!([
            "aud", "azp", "exp", "iat", "iss", "realmid", "sub", "nonce", "at_hash", "name",
            "email"
        ]);
    }
    doc
}

/// `GET /oauth2/jwks`.
pub(super) async fn jwks(State(s): State<Arc<Shared>>) -> Response {
    s.count(SandboxRoute::Jwks);
    let set = lock(&s.keys).jwks();
    Json(set).into_response()
}
