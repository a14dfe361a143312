//! The emulated lexoffice API: `GET /v1/profile` and `GET /v1/contacts`.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{bearer, parse_params};
use crate::config::{derived_uuid, TestUser};
use crate::state::{lock, random_token, Shared};
use crate::stats::SandboxRoute;

/// Number of generated contacts per organization.
const CONTACT_COUNT: usize = 60;

fn message(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

/// What an authorized API call knows about its caller.
pub(crate) struct Caller {
    pub(crate) sub: String,
    connection_id: String,
}

/// Bearer check (401), rate limit per client (429), then scope check (403).
pub(crate) fn authorize_call(
    s: &Shared,
    headers: &HeaderMap,
    scope: &str,
) -> Result<Caller, Response> {
    let unauthorized = || message(StatusCode::UNAUTHORIZED, "Unauthorized");
    let token = bearer(headers).ok_or_else(unauthorized)?;
    let now = s.now();
    let mut store = lock(&s.store);
    let (has_scope, sub, client_id, family) = {
        let (a, f) = store.active_access(token, now).ok_or_else(unauthorized)?;
        (
            a.scope.iter().any(|sc| sc == scope),
            f.sub.clone(),
            f.client_id.clone(),
            a.family,
        )
    };
    if !store.take_rate_token(&client_id, s.config.rate_limit_per_second) {
        drop(store);
        lock(&s.stats).rate_limited += 1;
        tracing::debug!(client_id = %client_id, "api: rate limit exceeded");
        return Err(message(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate limit exceeded",
        ));
    }
    if !has_scope {
        return Err(message(StatusCode::FORBIDDEN, "Forbidden"));
    }
    Ok(Caller {
        sub,
        connection_id: derived_uuid(&format!("connection-{family}-{client_id}")),
    })
}

fn caller_user<'a>(s: &'a Shared, caller: &Caller) -> Result<&'a TestUser, Response> {
    s.config
        .user(&caller.sub)
        .ok_or_else(|| message(StatusCode::UNAUTHORIZED, "Unauthorized"))
}

/// `GET /v1/profile` (scope `profile.read`).
pub(super) async fn profile(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    s.count(SandboxRoute::Profile);
    let caller = match authorize_call(&s, &headers, "profile.read") {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let user = match caller_user(&s, &caller) {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    Json(json!({
        "organizationId": user.organization_id,
        "companyName": user.company_name,
        "created": {
            "userId": derived_uuid(&format!("user-{}", user.sub)),
            "userName": user.name,
            "userEmail": user.email,
            "date": "2024-01-15T09:30:00.000+01:00",
        },
        "connectionId": caller.connection_id,
        "features": ["cashbook"],
        "businessFeatures": [],
        "subscriptionStatus": "active",
        "taxType": "net",
        "smallBusiness": false,
    }))
    .into_response()
}

fn bad_request(s: &Shared, path: &str, msg: &str) -> Response {
    let ts = chrono::DateTime::from_timestamp(s.now(), 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "timestamp": ts,
            "status": 400,
            "error": "Bad Request",
            "path": path,
            "traceId": random_token(8),
            "message": msg,
        })),
    )
        .into_response()
}

const FIRST: [&str; 10] = [
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannes", "Ida", "Jonas",
];
const LAST: [&str; 6] = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Wagner",
];
const KIND: [&str; 5] = [
    "Bäckerei",
    "Tischlerei",
    "Consulting",
    "Druckerei",
    "Gärtnerei",
];

fn contact(org: &str, i: usize) -> Value {
    let first = FIRST[i % FIRST.len()];
    let last = LAST[(i / FIRST.len()) % LAST.len()];
    let mut c = json!({
        "id": derived_uuid(&format!("contact-{org}-{i}")),
        "organizationId": org,
        "version": 0,
        "roles": { "customer": { "number": 10001 + i } },
        "emailAddresses": { "business": [format!("{}.{}@example.test", first.to_lowercase(), i)] },
        "archived": false,
    });
    if i.is_multiple_of(2) {
        c["company"] = json!({ "name": format!("{} {last} {}", KIND[i % KIND.len()], i + 1) });
    } else {
        c["person"] = json!({
            "salutation": if i % 4 == 1 { "Frau" } else { "Herr" },
            "firstName": first,
            "lastName": last,
        });
    }
    c
}

/// `GET /v1/contacts?page=&size=` (scope `contacts.read`), Spring page envelope.
pub(super) async fn contacts(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    s.count(SandboxRoute::Contacts);
    let caller = match authorize_call(&s, &headers, "contacts.read") {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let user = match caller_user(&s, &caller) {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    let path = "/v1/contacts";
    let Ok(params) = parse_params(q.unwrap_or_default().as_bytes()) else {
        return bad_request(&s, path, "repeated query parameter");
    };
    let page = match params.get("page").map(|p| p.parse::<usize>()) {
        None => 0,
        Some(Ok(p)) => p,
        Some(Err(_)) => return bad_request(&s, path, "page must be a non-negative integer"),
    };
    let size = match params.get("size").map(|p| p.parse::<usize>()) {
        None => 25,
        Some(Ok(n)) => n.clamp(1, 250),
        Some(Err(_)) => return bad_request(&s, path, "size must be a non-negative integer"),
    };
    let total = CONTACT_COUNT;
    let total_pages = total.div_ceil(size);
    let start = page.saturating_mul(size).min(total);
    let end = start.saturating_add(size).min(total);
    let content: Vec<Value> = (start..end)
        .map(|i| contact(&user.organization_id, i))
        .collect();
    Json(json!({
        "content": content,
        "totalPages": total_pages,
        "totalElements": total,
        "first": page == 0,
        "last": page.saturating_add(1) >= total_pages,
        "size": size,
        "number": page,
        "numberOfElements": end - start,
    }))
    .into_response()
}
