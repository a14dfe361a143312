//! `GET /oauth2/userinfo`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::bearer;
use crate::state::{lock, Shared};
use crate::stats::SandboxRoute;

fn bearer_error(status: StatusCode, challenge: &'static str) -> Response {
    (
        status,
        [(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        )],
    )
        .into_response()
}

/// `GET /oauth2/userinfo`: `sub`, plus `name` with scope `profile` and `email` with
/// scope `email`. Needs an access token with scope `openid`.
pub(super) async fn userinfo(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    s.count(SandboxRoute::Userinfo);
    let Some(token) = bearer(&headers) else {
        return bearer_error(StatusCode::UNAUTHORIZED, "Bearer realm=\"sandbox\"");
    };
    let now = s.now();
    let (scope, sub) = {
        let store = lock(&s.store);
        match store.active_access(token, now) {
            Some((a, f)) => (a.scope.clone(), f.sub.clone()),
            None => {
                return bearer_error(
                    StatusCode::UNAUTHORIZED,
                    "Bearer error=\"invalid_token\", error_description=\"the access token is invalid, expired or revoked\"",
                )
            }
        }
    };
    let has = |name: &str| scope.iter().any(|sc| sc == name);
    if !has("openid") {
        return bearer_error(
            StatusCode::FORBIDDEN,
            "Bearer error=\"insufficient_scope\", scope=\"openid\"",
        );
    }
    let mut body = json!({ "sub": sub });
    if let Some(user) = s.config.user(&sub) {
        if has("profile") {
            body["name"] = json!(user.name);
        }
        if has("email") {
            body["email"] = json!(user.email);
            body["email_verified"] = json!(true);
        }
    }
    Json(body).into_response()
}
