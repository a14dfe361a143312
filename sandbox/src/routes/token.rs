//! Token endpoint: `POST /oauth2/token` (authorization code, refresh token and, where the
//! profile offers it, device code grants).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{authenticated_form, bad_request, no_store, oauth_error, split_scope};
use crate::config::{realm_of, Fault, SandboxClient};
use crate::html;
use crate::state::{
    lock, random_token, AccessRecord, Connection, DeviceStatus, Family, RefreshRecord, Shared,
    Store,
};
use crate::stats::SandboxRoute;
use crate::QUICKBOOKS_REFRESH_TOKEN_HARD_LIFETIME;

/// The `grant_type` of the device authorization grant (RFC 8628 section 3.4).
pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// How much a device code's polling interval grows with every `slow_down` (RFC 8628
/// section 3.5).
const SLOW_DOWN_STEP: i64 = 5;

/// A duration in whole seconds, for the sandbox clock.
fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// `POST /oauth2/token`.
pub(super) async fn token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.count(SandboxRoute::Token);
    if let Some(fault) = s.take_fault() {
        tracing::debug!(?fault, "token endpoint: injected fault");
        return fault_response(&s, fault).await;
    }
    let (params, client) = match authenticated_form(&s, &headers, &body) {
        Ok(pc) => pc,
        Err(resp) => return resp,
    };
    let grant = params.get("grant_type").map(String::as_str);
    let device_flow = s.config.behaviour.device_flow;
    // The name the grant is counted under (`Stats::token_grants`).
    let (resp, grant) = match grant {
        None => return bad_request("invalid_request", "missing grant_type"),
        Some("authorization_code") => (grant_code(&s, client, &params), "authorization_code"),
        Some("refresh_token") => (grant_refresh(&s, client, &params), "refresh_token"),
        Some(DEVICE_CODE_GRANT) if device_flow => {
            (grant_device(&s, client, &params), "device_code")
        }
        Some(_) => {
            return bad_request(
                "unsupported_grant_type",
                if device_flow {
                    "only authorization_code, refresh_token and device_code"
                } else {
                    "only authorization_code and refresh_token"
                },
            )
        }
    };
    match resp {
        Ok(issued) => {
            s.count_grant(grant);
            tracing::debug!(client_id = %client.id, grant, "tokens issued");
            // The absolute expiry only when asked for it (the preset's token request
            // header, QuickBooks).
            let hard_expiry = s
                .config
                .behaviour
                .hard_expiry_header
                .is_some_and(|(name, value)| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.trim().eq_ignore_ascii_case(value))
                });
            respond(&s, client, issued, hard_expiry)
        }
        Err(resp) => resp,
    }
}

async fn fault_response(s: &Shared, fault: Fault) -> Response {
    match fault {
        Fault::ServerError => html::server_error_page(),
        Fault::MalformedJson => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            "{\"access_token\": \"abc",
        )
            .into_response(),
        Fault::Hang => {
            let mut stop = s.shutdown.subscribe();
            let stopped = async move {
                loop {
                    let done = *stop.borrow_and_update();
                    if done || stop.changed().await.is_err() {
                        break;
                    }
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(60)) => html::gateway_timeout_page(),
                _ = stopped => StatusCode::SERVICE_UNAVAILABLE.into_response(),
            }
        }
    }
}

/// What a successful grant produced; the response is built from it.
struct Issued {
    access_token: String,
    refresh_token: Option<String>,
    scope: Vec<String>,
    sub: String,
    auth_time: i64,
    nonce: Option<String>,
    iat: i64,
}

fn invalid_grant(description: &str) -> Response {
    tracing::debug!(description, "token endpoint: invalid_grant");
    bad_request("invalid_grant", description)
}

/// RFC 7636 section 4.1: 43..=128 unreserved characters.
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `BASE64URL(SHA256(verifier)) == challenge`, in constant time.
fn pkce_ok(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

fn new_access(s: &Shared, family: u64, scope: Vec<String>, now: i64) -> (String, AccessRecord) {
    (
        random_token(32),
        AccessRecord {
            family,
            scope,
            iat: now,
            exp: now.saturating_add(s.config.access_token_ttl),
            revoked: false,
        },
    )
}

fn grant_code(
    s: &Shared,
    client: &SandboxClient,
    p: &HashMap<String, String>,
) -> Result<Issued, Response> {
    let Some(code) = p.get("code") else {
        return Err(bad_request("invalid_request", "missing code"));
    };
    let now = s.now();
    let mut store = lock(&s.store);
    let Some(rec) = store.codes.get_mut(code) else {
        return Err(invalid_grant("unknown authorization code"));
    };
    if rec.client_id != client.id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if rec.used {
        // RFC 6749 section 4.1.2: revoke what was issued from this code.
        if let Some(family) = rec.family {
            store.revoke_family(family);
            tracing::debug!("authorization code reused: its tokens are revoked");
        }
        return Err(invalid_grant("authorization code already used"));
    }
    rec.used = true;
    if now >= rec.exp {
        return Err(invalid_grant("authorization code expired"));
    }
    match (&rec.redirect_param, p.get("redirect_uri")) {
        (Some(_), None) => return Err(bad_request("invalid_request", "missing redirect_uri")),
        (Some(a), Some(b)) if a != b => {
            return Err(invalid_grant(
                "redirect_uri differs from the authorization request",
            ))
        }
        (None, Some(_)) => {
            return Err(invalid_grant(
                "redirect_uri was not part of the authorization request",
            ))
        }
        _ => {}
    }
    match (&rec.challenge, p.get("code_verifier")) {
        (Some(_), None) => return Err(invalid_grant("missing code_verifier")),
        (Some(c), Some(v)) => {
            if !valid_verifier(v) || !pkce_ok(v, c) {
                return Err(invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        (None, Some(_)) => {
            return Err(invalid_grant(
                "code_verifier sent but the authorization request had no code_challenge",
            ))
        }
        (None, None) => {}
    }
    let scope = rec.scope.clone();
    let sub = rec.sub.clone();
    let nonce = rec.nonce.clone();
    let auth_time = rec.auth_time;
    let issued = new_login(s, &mut store, client, scope, sub, auth_time, nonce, now);
    if let Some(rec) = store.codes.get_mut(code) {
        rec.family = Some(issued.family);
    }
    Ok(issued.issued)
}

/// What [`new_login`] made: the answer and the new family.
struct Login {
    issued: Issued,
    family: u64,
}

/// A new login (token family) of `sub` for `client`: an access token, a refresh token
/// where the provider gives one, the Xero connection. Shared by the authorization code
/// and device code grants.
#[allow(clippy::too_many_arguments)]
fn new_login(
    s: &Shared,
    store: &mut Store,
    client: &SandboxClient,
    scope: Vec<String>,
    sub: String,
    auth_time: i64,
    nonce: Option<String>,
    now: i64,
) -> Login {
    let family = store.new_family(Family {
        client_id: client.id.clone(),
        sub: sub.clone(),
        auth_time,
        nonce: nonce.clone(),
        revoked: false,
    });
    let (access_token, access) = new_access(s, family, scope.clone(), now);
    store.access.insert(access_token.clone(), access);
    if s.config.behaviour.tenants {
        // The login connects the user's tenants to the app.
        store.connections.insert(
            (client.id.clone(), sub.clone()),
            Connection {
                created: now,
                auth_event: family,
            },
        );
    }
    let wants_refresh = s.config.behaviour.refresh_with_every_grant
        || scope.iter().any(|sc| sc == "offline_access");
    let refresh_token = wants_refresh.then(|| {
        let t = random_token(32);
        store.refresh.insert(
            t.clone(),
            RefreshRecord {
                family,
                scope: scope.clone(),
                iat: now,
                touched: now,
                used_at: None,
                revoked: false,
            },
        );
        t
    });
    Login {
        issued: Issued {
            access_token,
            refresh_token,
            scope,
            sub,
            auth_time,
            nonce,
            iat: now,
        },
        family,
    }
}

/// The device code grant (RFC 8628 sections 3.4–3.5).
fn grant_device(
    s: &Shared,
    client: &SandboxClient,
    p: &HashMap<String, String>,
) -> Result<Issued, Response> {
    let Some(device_code) = p.get("device_code") else {
        return Err(bad_request("invalid_request", "missing device_code"));
    };
    let now = s.now();
    let now_ms = s.now_millis();
    let mut store = lock(&s.store);
    let Some(rec) = store.devices.get_mut(device_code) else {
        return Err(invalid_grant("unknown device code"));
    };
    if rec.client_id != client.id {
        return Err(invalid_grant(
            "the device code was issued to another client",
        ));
    }
    if rec.status == DeviceStatus::Used {
        return Err(invalid_grant("device code already used"));
    }
    if now >= rec.exp {
        return Err(bad_request("expired_token", "the device code has expired"));
    }
    let last_poll = rec.last_poll.replace(now_ms);
    let (sub, auth_time) = match &rec.status {
        DeviceStatus::Denied => {
            return Err(bad_request("access_denied", "the user denied access"));
        }
        DeviceStatus::Pending => {
            let too_soon = rec.interval > 0
                && last_poll
                    .is_some_and(|t| now_ms.saturating_sub(t) < rec.interval.saturating_mul(1000));
            if too_soon {
                rec.interval = rec.interval.saturating_add(SLOW_DOWN_STEP);
                return Err(bad_request(
                    "slow_down",
                    &format!("poll at most every {} seconds", rec.interval),
                ));
            }
            return Err(bad_request(
                "authorization_pending",
                "the user has not decided yet",
            ));
        }
        DeviceStatus::Approved { sub, auth_time } => (sub.clone(), *auth_time),
        DeviceStatus::Used => return Err(invalid_grant("device code already used")),
    };
    rec.status = DeviceStatus::Used;
    let scope = rec.scope.clone();
    // No `nonce`: a device authorization request has none.
    let login = new_login(s, &mut store, client, scope, sub, auth_time, None, now);
    Ok(login.issued)
}

fn grant_refresh(
    s: &Shared,
    client: &SandboxClient,
    p: &HashMap<String, String>,
) -> Result<Issued, Response> {
    let Some(presented) = p.get("refresh_token") else {
        return Err(bad_request("invalid_request", "missing refresh_token"));
    };
    let cfg = &s.config;
    let now = s.now();
    let mut store = lock(&s.store);
    let Some(rec) = store.refresh.get(presented) else {
        return Err(invalid_grant("unknown refresh token"));
    };
    let (family_id, rec_scope, used_at, revoked, rec_iat, touched) = (
        rec.family,
        rec.scope.clone(),
        rec.used_at,
        rec.revoked,
        rec.iat,
        rec.touched,
    );
    let Some(family) = store.families.get(&family_id) else {
        return Err(invalid_grant("unknown refresh token"));
    };
    if family.client_id != client.id {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if revoked || family.revoked {
        return Err(invalid_grant("refresh token revoked"));
    }
    let (sub, auth_time, nonce) = (family.sub.clone(), family.auth_time, family.nonce.clone());
    if cfg
        .behaviour
        .refresh_idle_lifetime
        .is_some_and(|limit| now.saturating_sub(touched) >= secs(limit))
    {
        return Err(invalid_grant("refresh token expired"));
    }
    if let Some(t) = used_at {
        let in_grace = cfg.refresh_grace > 0 && now.saturating_sub(t) < cfg.refresh_grace;
        if !in_grace {
            if cfg.reuse_detection {
                store.revoke_family(family_id);
                drop(store);
                lock(&s.stats).refresh_reuse_detected += 1;
                tracing::debug!(client_id = %client.id, "refresh token reuse: family revoked");
            }
            return Err(invalid_grant("refresh token already used"));
        }
    }
    let scope = match p.get("scope").map(|sc| split_scope(sc)) {
        Some(req) if !req.is_empty() => {
            if let Some(extra) = req.iter().find(|sc| !rec_scope.contains(sc)) {
                return Err(bad_request(
                    "invalid_scope",
                    &format!("scope {extra} was not granted"),
                ));
            }
            req
        }
        _ => rec_scope.clone(),
    };
    let (access_token, access) = new_access(s, family_id, scope.clone(), now);
    store.access.insert(access_token.clone(), access);
    // Periodic rotation (QuickBooks) hands out the same refresh token until it is
    // `period` old.
    let rotate = cfg.rotate_refresh_tokens
        && cfg
            .behaviour
            .rotation_period
            .is_none_or(|period| now.saturating_sub(rec_iat) >= secs(period));
    let refresh_token = if rotate {
        let t = random_token(32);
        store.refresh.insert(
            t.clone(),
            RefreshRecord {
                family: family_id,
                scope: rec_scope,
                iat: now,
                touched: now,
                used_at: None,
                revoked: false,
            },
        );
        if let Some(old) = store.refresh.get_mut(presented) {
            old.used_at.get_or_insert(now);
        }
        t
    } else {
        if let Some(rec) = store.refresh.get_mut(presented) {
            rec.touched = now;
        }
        presented.clone()
    };
    Ok(Issued {
        access_token,
        refresh_token: Some(refresh_token),
        scope,
        sub,
        auth_time,
        nonce,
        iat: now,
    })
}

#[derive(Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    /// A string, or an array where the preset says so (QuickBooks).
    aud: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    azp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    realmid: Option<String>,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    at_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
}

/// OIDC Core 3.1.3.6: left half of the SHA-256 of the access token, base64url.
fn at_hash(access_token: &str) -> String {
    let d = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..16])
}

fn respond(s: &Shared, client: &SandboxClient, issued: Issued, hard_expiry: bool) -> Response {
    let b = &s.config.behaviour;
    let has = |name: &str| issued.scope.iter().any(|sc| sc == name);
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": s.config.access_token_ttl,
        "scope": issued.scope.join(" "),
    });
    if let Some(rt) = &issued.refresh_token {
        body["refresh_token"] = json!(rt);
        if let Some(idle) = b
            .refresh_idle_lifetime
            .filter(|_| b.answers_refresh_expires_in)
        {
            body["x_refresh_token_expires_in"] = json!(secs(idle));
            if hard_expiry {
                let end = issued
                    .auth_time
                    .saturating_add(QUICKBOOKS_REFRESH_TOKEN_HARD_LIFETIME);
                body["x_refresh_token_hard_expires_in"] =
                    json!(end.saturating_sub(issued.iat).max(0));
            }
        }
    }
    if has("openid") {
        let user = s.config.user(&issued.sub);
        let claims = IdClaims {
            iss: &s.issuer,
            sub: &issued.sub,
            aud: if b.aud_array {
                json!([client.id])
            } else {
                json!(client.id)
            },
            azp: b.aud_array.then_some(client.id.as_str()),
            realmid: user
                .filter(|_| b.adds_callback_param("realmId") && b.api_scope.is_some_and(has))
                .map(realm_of),
            exp: issued.iat.saturating_add(s.config.access_token_ttl),
            iat: issued.iat,
            auth_time: issued.auth_time,
            nonce: issued.nonce.as_deref(),
            at_hash: at_hash(&issued.access_token),
            name: user.filter(|_| has("profile")).map(|u| u.name.as_str()),
            email: user.filter(|_| has("email")).map(|u| u.email.as_str()),
            email_verified: user.filter(|_| has("email")).map(|_| true),
        };
        // Only the key is taken under the lock; the signature is made after it is released.
        let key = lock(&s.keys).current();
        match key.sign(&claims) {
            Ok(jwt) => body["id_token"] = json!(jwt),
            Err(e) => {
                tracing::error!(error = %e, "sandbox: signing the ID token failed");
                return oauth_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "could not sign the ID token",
                );
            }
        }
    }
    no_store(Json(body).into_response())
}
