//! The device authorization grant (RFC 8628), where the profile offers it
//! (`Behaviour::device_flow`): `POST /oauth2/device_authorization` (section 3.1–3.2),
//! the verification page `GET /oauth2/device` and its form
//! `POST /oauth2/device/decision`. The token endpoint's side is in `token.rs`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{authenticated_form, bad_request, known_scope, no_store, parse_params, split_scope};
use crate::html;
use crate::state::{
    display_user_code, lock, random_token, random_user_code, DeviceRecord, DeviceStatus, Shared,
};
use crate::stats::SandboxRoute;

/// The error page of an unknown, expired or already decided user code.
fn unknown_code() -> Response {
    html::error_page(
        StatusCode::NOT_FOUND,
        "unknown or expired code (or it was already used)",
    )
}

/// `POST /oauth2/device_authorization`.
pub(super) async fn device_authorization(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.count(SandboxRoute::DeviceAuthorization);
    let (params, client) = match authenticated_form(&s, &headers, &body) {
        Ok(pc) => pc,
        Err(resp) => return resp,
    };
    let b = &s.config.behaviour;
    let scope = match params.get("scope").map(|sc| split_scope(sc)) {
        Some(sc) if !sc.is_empty() => sc,
        _ => vec![b.default_scope.to_string()],
    };
    if let Some(unknown) = scope.iter().find(|sc| !known_scope(b, sc)) {
        return bad_request("invalid_scope", &format!("unknown scope {unknown}"));
    }
    let now = s.now();
    let cfg = &s.config;
    let device_code = random_token(32);
    let user_code = {
        let mut store = lock(&s.store);
        let mut user_code = random_user_code();
        while store.user_codes.contains_key(&user_code) {
            user_code = random_user_code();
        }
        store
            .user_codes
            .insert(user_code.clone(), device_code.clone());
        store.devices.insert(
            device_code.clone(),
            DeviceRecord {
                client_id: client.id.clone(),
                user_code: user_code.clone(),
                scope,
                exp: now.saturating_add(cfg.device_code_lifetime),
                interval: cfg.device_poll_interval,
                last_poll: None,
                status: DeviceStatus::Pending,
            },
        );
        display_user_code(&user_code)
    };
    tracing::debug!(client_id = %client.id, "device authorization started");
    let verification_uri = format!("{}/oauth2/device", s.issuer);
    let complete = match url::Url::parse_with_params(&verification_uri, [("user_code", &user_code)])
    {
        Ok(u) => u.to_string(),
        Err(_) => verification_uri.clone(),
    };
    no_store(
        Json(json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": complete,
            "expires_in": cfg.device_code_lifetime,
            "interval": cfg.device_poll_interval,
        }))
        .into_response(),
    )
}

/// `GET /oauth2/device[?user_code=…]`: the verification page.
pub(super) async fn device(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    s.count(SandboxRoute::Device);
    let params = parse_params(q.unwrap_or_default().as_bytes()).unwrap_or_default();
    let Some(user_code) = params.get("user_code") else {
        return html::device_entry_page();
    };
    if !s.config.interactive {
        let Some(user) = s.config.users.first() else {
            return html::error_page(StatusCode::INTERNAL_SERVER_ERROR, "no test users");
        };
        return if s.decide_device(user_code, Some(&user.sub)) {
            html::device_done_page(true)
        } else {
            unknown_code()
        };
    }
    let now = s.now();
    let found = {
        let mut store = lock(&s.store);
        store
            .device_by_user_code(user_code)
            .filter(|d| now < d.exp && d.status == DeviceStatus::Pending)
            .map(|d| {
                (
                    display_user_code(&d.user_code),
                    d.client_id.clone(),
                    d.scope.clone(),
                )
            })
    };
    match found {
        Some((code, client_id, scope)) => {
            html::device_consent_page(&code, &client_id, &scope, &s.config.users)
        }
        None => unknown_code(),
    }
}

/// `POST /oauth2/device/decision` (form of the interactive verification page).
pub(super) async fn decision(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    s.count(SandboxRoute::Device);
    let Ok(params) = parse_params(&body) else {
        return html::error_page(StatusCode::BAD_REQUEST, "repeated form field");
    };
    let Some(user_code) = params.get("user_code") else {
        return html::error_page(StatusCode::BAD_REQUEST, "missing user_code");
    };
    let sub = match params.get("decision").map(String::as_str) {
        Some("deny") => None,
        Some("allow") => match params.get("user").and_then(|u| s.config.user(u)) {
            Some(user) => Some(user.sub.clone()),
            None => return html::error_page(StatusCode::BAD_REQUEST, "pick a known user"),
        },
        _ => return html::error_page(StatusCode::BAD_REQUEST, "missing decision"),
    };
    if s.decide_device(user_code, sub.as_deref()) {
        html::device_done_page(sub.is_some())
    } else {
        unknown_code()
    }
}
