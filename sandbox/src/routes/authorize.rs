//! Authorization endpoint: `GET /oauth2/authorize` and the consent form's
//! `POST /oauth2/authorize/decision`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lexoffice_login::protocol::is_loopback;
use url::Url;

use super::{known_scope, parse_params, split_scope};
use crate::config::{realm_of, SandboxClient};
use crate::html;
use crate::state::{lock, random_token, AuthRequest, CodeRecord, Pending, Shared};
use crate::stats::SandboxRoute;

/// How long an interactive consent page stays valid.
const PENDING_LIFETIME: Duration = Duration::from_secs(600);

/// Parses a query string; returns the first value of each parameter and the names of
/// repeated parameters. Empty values count as absent.
fn parse_lenient(data: &[u8]) -> (HashMap<String, String>, Vec<String>) {
    let mut map = HashMap::new();
    let mut dups = Vec::new();
    for (k, v) in url::form_urlencoded::parse(data) {
        if v.is_empty() {
            continue;
        }
        if map.contains_key(k.as_ref()) {
            dups.push(k.to_string());
        } else {
            map.insert(k.to_string(), v.to_string());
        }
    }
    (map, dups)
}

/// RFC 8252 section 7.3: same loopback URI except for the port.
fn loopback_match(registered: &str, requested: &str) -> bool {
    let (Ok(a), Ok(b)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    a.scheme() == "http"
        && b.scheme() == "http"
        && is_loopback(&a)
        && a.host() == b.host()
        && a.path() == b.path()
        && a.query() == b.query()
        && b.fragment().is_none()
        && b.username().is_empty()
        && b.password().is_none()
}

fn redirect_allowed(client: &SandboxClient, requested: &str) -> bool {
    client
        .redirect_uris
        .iter()
        .any(|r| r == requested || (client.any_loopback_port && loopback_match(r, requested)))
}

/// A `302` back to the client with the given parameters, plus `state` and `iss`.
fn redirect_back(
    s: &Shared,
    redirect_to: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
) -> Response {
    let Ok(mut url) = Url::parse(redirect_to) else {
        return html::error_page(StatusCode::BAD_REQUEST, "invalid redirect_uri");
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(state) = state {
            q.append_pair("state", state);
        }
        if s.send_iss() {
            q.append_pair("iss", &s.issuer);
        }
    }
    let Ok(location) = HeaderValue::from_str(url.as_str()) else {
        return html::error_page(StatusCode::BAD_REQUEST, "invalid redirect_uri");
    };
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

fn error_redirect(
    s: &Shared,
    redirect_to: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
) -> Response {
    tracing::debug!(error, description, "authorize error redirect");
    redirect_back(
        s,
        redirect_to,
        &[("error", error), ("error_description", description)],
        state,
    )
}

/// Issues a code for `sub` and redirects back to the client.
fn code_redirect(s: &Shared, req: &AuthRequest, sub: &str) -> Response {
    let code = random_token(32);
    let now = s.now();
    lock(&s.store).codes.insert(
        code.clone(),
        CodeRecord {
            client_id: req.client_id.clone(),
            redirect_param: req.redirect_param.clone(),
            challenge: req.challenge.clone(),
            scope: req.scope.clone(),
            nonce: req.nonce.clone(),
            sub: sub.to_string(),
            auth_time: now,
            exp: now.saturating_add(s.config.code_lifetime),
            used: false,
            family: None,
        },
    );
    tracing::debug!(client_id = %req.client_id, sub, "authorization code issued");
    // The provider's own redirect parameters (QuickBooks names the company the user
    // picked next to the code).
    let realm = s
        .config
        .behaviour
        .adds_callback_param("realmId")
        .then(|| s.config.user(sub).map(realm_of))
        .flatten();
    let mut params: Vec<(&str, &str)> = vec![("code", &code)];
    if let Some(realm) = &realm {
        params.push(("realmId", realm));
    }
    redirect_back(s, &req.redirect_to, &params, req.state.as_deref())
}

fn valid_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `GET /oauth2/authorize`.
pub(super) async fn authorize(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    s.count(SandboxRoute::Authorize);
    let (params, dups) = parse_lenient(q.unwrap_or_default().as_bytes());
    s.record_authorize_params(params.iter());
    if dups.iter().any(|d| d == "client_id" || d == "redirect_uri") {
        return html::error_page(
            StatusCode::BAD_REQUEST,
            "client_id or redirect_uri is repeated",
        );
    }
    let Some(client_id) = params.get("client_id") else {
        return html::error_page(StatusCode::BAD_REQUEST, "missing client_id");
    };
    let Some(client) = s.config.client(client_id) else {
        tracing::debug!(client_id = %client_id, "authorize: unknown client");
        return html::error_page(StatusCode::BAD_REQUEST, "unknown client_id");
    };
    let redirect_param = params.get("redirect_uri").cloned();
    let redirect_to = match &redirect_param {
        Some(r) if redirect_allowed(client, r) => r.clone(),
        Some(_) => {
            tracing::debug!(client_id = %client_id, "authorize: redirect_uri not registered");
            return html::error_page(
                StatusCode::BAD_REQUEST,
                "redirect_uri is not registered for this client",
            );
        }
        None => match client.redirect_uris.as_slice() {
            [only] => only.clone(),
            _ => {
                return html::error_page(
                    StatusCode::BAD_REQUEST,
                    "missing redirect_uri (the client has several)",
                )
            }
        },
    };
    let state = params.get("state").cloned();
    let fail = |error: &str, description: &str| {
        error_redirect(&s, &redirect_to, error, description, state.as_deref())
    };
    if let Some(d) = dups.first() {
        return fail("invalid_request", &format!("repeated parameter {d}"));
    }
    match params.get("response_type").map(String::as_str) {
        None => return fail("invalid_request", "missing response_type"),
        Some("code") => {}
        Some(_) => return fail("unsupported_response_type", "only response_type=code"),
    }
    let challenge = params.get("code_challenge");
    let method = params.get("code_challenge_method").map(String::as_str);
    match (challenge, method) {
        (None, None) if !s.config.require_pkce => {}
        (None, _) => return fail("invalid_request", "code_challenge (S256) is required"),
        (Some(_), None) | (Some(_), Some("plain")) => {
            return fail(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not allowed)",
            )
        }
        (Some(c), Some("S256")) => {
            if !valid_challenge(c) {
                return fail("invalid_request", "malformed code_challenge");
            }
        }
        (Some(_), Some(_)) => return fail("invalid_request", "unsupported code_challenge_method"),
    }
    let scope = match params.get("scope") {
        Some(sc) => split_scope(sc),
        None => vec![s.config.behaviour.default_scope.to_string()],
    };
    if scope.is_empty() {
        return fail("invalid_scope", "empty scope");
    }
    if let Some(unknown) = scope
        .iter()
        .find(|sc| !known_scope(&s.config.behaviour, sc))
    {
        return fail("invalid_scope", &format!("unknown scope {unknown}"));
    }
    if s.config.behaviour.nonce_required && !params.contains_key("nonce") {
        return fail("invalid_request", "nonce is required");
    }
    let request = AuthRequest {
        client_id: client.id.clone(),
        redirect_to: redirect_to.clone(),
        redirect_param,
        state: state.clone(),
        scope,
        nonce: params.get("nonce").cloned(),
        challenge: challenge.cloned(),
        connection_name: params.get("connection_name").cloned(),
    };
    if !s.config.interactive {
        let Some(user) = s.config.users.first() else {
            return fail("server_error", "no test users");
        };
        return code_redirect(&s, &request, &user.sub);
    }
    let id = random_token(24);
    {
        let mut store = lock(&s.store);
        store.prune_pending();
        store.pending.insert(
            id.clone(),
            Pending {
                request: request.clone(),
                expires: Instant::now() + PENDING_LIFETIME,
            },
        );
    }
    html::consent_page(
        &id,
        &request.client_id,
        request.connection_name.as_deref(),
        &request.scope,
        &s.config.users,
    )
}

/// `POST /oauth2/authorize/decision` (form of the consent page).
pub(super) async fn decision(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    s.count(SandboxRoute::Authorize);
    let Ok(params) = parse_params(&body) else {
        return html::error_page(StatusCode::BAD_REQUEST, "repeated form field");
    };
    let Some(id) = params.get("request_id") else {
        return html::error_page(StatusCode::BAD_REQUEST, "missing request_id");
    };
    let resolved = match params.get("decision").map(String::as_str) {
        Some("deny") => None,
        Some("allow") => match params.get("user").and_then(|u| s.config.user(u)) {
            Some(user) => Some(user.sub.clone()),
            None => return html::error_page(StatusCode::BAD_REQUEST, "pick a known user"),
        },
        _ => return html::error_page(StatusCode::BAD_REQUEST, "missing decision"),
    };
    // Removing the request makes the decision single-use.
    let request = {
        let mut store = lock(&s.store);
        store.prune_pending();
        match store.pending.remove(id) {
            Some(p) => p.request,
            None => {
                return html::error_page(
                    StatusCode::BAD_REQUEST,
                    "unknown or expired authorization request",
                )
            }
        }
    };
    match resolved {
        Some(sub) => code_redirect(&s, &request, &sub),
        None => error_redirect(
            &s,
            &request.redirect_to,
            "access_denied",
            "the user denied access",
            request.state.as_deref(),
        ),
    }
}
