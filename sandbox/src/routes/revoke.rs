//! Revocation (RFC 7009) and introspection (RFC 7662).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::{authenticate, authenticated_form, bad_request, no_store};
use crate::state::{lock, Shared, Store};
use crate::stats::SandboxRoute;
use crate::Introspection;

/// A JSON revocation body (QuickBooks): `{"token": "..."}` as `application/json`.
fn json_params(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(bad_request(
            "invalid_request",
            "the body must be application/json",
        ));
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Err(bad_request("invalid_request", "the body is not valid JSON"));
    };
    let Some(obj) = value.as_object() else {
        return Err(bad_request(
            "invalid_request",
            "the body must be a JSON object",
        ));
    };
    Ok(obj
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
        .filter(|(_, v)| !v.is_empty())
        .collect())
}

/// `POST /oauth2/revoke`: a refresh token revokes its whole family (all access and
/// refresh tokens of that login; where logins connect
/// tenants (Xero) also the user's connections); an
/// access token only itself. Unknown tokens and tokens of other clients are answered
/// with `200` and left alone. Where the preset says so (QuickBooks) the body is JSON.
pub(super) async fn revoke(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.count(SandboxRoute::Revoke);
    let read = if s.config.behaviour.json_revocation {
        json_params(&headers, &body)
            .and_then(|params| authenticate(&s, &headers, &params).map(|c| (params, c)))
    } else {
        authenticated_form(&s, &headers, &body)
    };
    let (params, client) = match read {
        Ok(pc) => pc,
        Err(resp) => return resp,
    };
    let Some(token) = params.get("token") else {
        return bad_request("invalid_request", "missing token");
    };
    let mut store = lock(&s.store);
    if let Some(family) = store.refresh.get(token).map(|r| r.family) {
        if owned_by(&store, family, &client.id) {
            store.revoke_family(family);
            if s.config.behaviour.tenants {
                let sub = store.families.get(&family).map(|f| f.sub.clone());
                if let Some(sub) = sub {
                    store.connections.remove(&(client.id.clone(), sub));
                }
            }
            tracing::debug!(client_id = %client.id, "refresh token revoked (whole family)");
        }
    } else if let Some(family) = store.access.get(token).map(|a| a.family) {
        if owned_by(&store, family, &client.id) {
            if let Some(a) = store.access.get_mut(token) {
                a.revoked = true;
            }
            tracing::debug!(client_id = %client.id, "access token revoked");
        }
    }
    no_store(StatusCode::OK.into_response())
}

fn owned_by(store: &Store, family: u64, client_id: &str) -> bool {
    store
        .families
        .get(&family)
        .is_some_and(|f| f.client_id == client_id)
}

/// `POST /oauth2/introspect`: tokens of other clients are reported inactive.
pub(super) async fn introspect(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.count(SandboxRoute::Introspect);
    let (params, client) = match authenticated_form(&s, &headers, &body) {
        Ok(pc) => pc,
        Err(resp) => return resp,
    };
    let Some(token) = params.get("token") else {
        return bad_request("invalid_request", "missing token");
    };
    let result = s
        .introspect(token)
        .filter(|i| !i.active || i.client_id.as_deref() == Some(client.id.as_str()))
        .unwrap_or_else(Introspection::inactive);
    no_store(Json(result).into_response())
}
