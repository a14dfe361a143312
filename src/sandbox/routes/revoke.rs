//! Revocation (RFC 7009) and introspection (RFC 7662).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::{authenticated_form, bad_request, no_store};
use crate::sandbox::state::{lock, Shared, Store};
use crate::sandbox::stats::Endpoint;
use crate::sandbox::Introspection;

/// `POST /oauth2/revoke`: a refresh token revokes its whole family (all access and
/// refresh tokens of that login); an access token only itself. Unknown tokens and
/// tokens of other clients are answered with `200` and left alone.
pub(super) async fn revoke(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.count(Endpoint::Revoke);
    let (params, client) = match authenticated_form(&s, &headers, &body) {
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
    s.count(Endpoint::Introspect);
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
