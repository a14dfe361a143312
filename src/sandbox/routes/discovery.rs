//! Discovery document and JWKS.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::sandbox::config::{ClientAuth, Profile};
use crate::sandbox::state::{lock, Shared};
use crate::sandbox::stats::Endpoint;
use crate::sandbox::{LEXOFFICE_SCOPES, OIDC_SCOPES};

/// `GET /.well-known/openid-configuration`.
pub(super) async fn configuration(State(s): State<Arc<Shared>>) -> Response {
    s.count(Endpoint::Discovery);
    if s.config.profile == Profile::Lexoffice {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response();
    }
    let iss = &s.issuer;
    let scopes: Vec<&str> = OIDC_SCOPES
        .iter()
        .chain(LEXOFFICE_SCOPES.iter())
        .copied()
        .collect();
    let auth_methods: Vec<&str> = [
        ClientAuth::ClientSecretBasic,
        ClientAuth::ClientSecretPost,
        ClientAuth::None,
    ]
    .into_iter()
    .filter(|m| s.config.clients.iter().any(|c| c.auth == *m))
    .map(ClientAuth::as_str)
    .collect();
    let doc = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth2/authorize"),
        "token_endpoint": format!("{iss}/oauth2/token"),
        "revocation_endpoint": format!("{iss}/oauth2/revoke"),
        "userinfo_endpoint": format!("{iss}/oauth2/userinfo"),
        "jwks_uri": format!("{iss}/oauth2/jwks"),
        "introspection_endpoint": format!("{iss}/oauth2/introspect"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "name", "email"],
        "authorization_response_iss_parameter_supported": s.send_iss(),
    });
    Json(doc).into_response()
}

/// `GET /oauth2/jwks`.
pub(super) async fn jwks(State(s): State<Arc<Shared>>) -> Response {
    s.count(Endpoint::Jwks);
    let set = lock(&s.keys).jwks();
    Json(set).into_response()
}
