//! The emulated provider APIs of the DATEV, Xero and QuickBooks profiles: just enough to
//! test what a client must send (`X-DATEV-Client-Id`, `xero-tenant-id`, the `realmId`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::bearer;
use crate::config::{derived_uuid, realm_of, tenants_of, TestUser};
use crate::state::{lock, random_token, Shared};
use crate::stats::SandboxRoute;

/// What a valid bearer token says about its caller.
struct Caller {
    scope: Vec<String>,
    sub: String,
    client_id: String,
}

impl Caller {
    fn has(&self, scope: &str) -> bool {
        self.scope.iter().any(|s| s == scope)
    }
}

/// The caller of an active access token, if the request carries one.
fn caller(s: &Shared, headers: &HeaderMap) -> Option<Caller> {
    let token = bearer(headers)?;
    let now = s.now();
    let store = lock(&s.store);
    let (a, f) = store.active_access(token, now)?;
    Some(Caller {
        scope: a.scope.clone(),
        sub: f.sub.clone(),
        client_id: f.client_id.clone(),
    })
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn caller_user<'a>(s: &'a Shared, caller: &Caller) -> Option<&'a TestUser> {
    s.config.user(&caller.sub)
}

fn timestamp(s: &Shared) -> String {
    chrono::DateTime::from_timestamp(s.now(), 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

// ---------------------------------------------------------------- DATEV

fn datev_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut resp = (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"sandbox-datev\""),
        );
    }
    resp
}

/// `GET /datev/api/clients`: the DATEV clients (Mandanten) of the user. Needs the header
/// `X-DATEV-Client-Id` (400 if missing, 401 if it names another client than the token's),
/// a bearer token (401) and scope `datev:accounting:clients` (403).
pub(super) async fn datev_clients(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    s.count(SandboxRoute::DatevClients);
    let Some(client_id) = header_str(&headers, "x-datev-client-id") else {
        return datev_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the X-DATEV-Client-Id header is missing",
        );
    };
    let Some(caller) = caller(&s, &headers) else {
        return datev_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is missing, invalid, expired or revoked",
        );
    };
    if client_id != caller.client_id {
        return datev_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "X-DATEV-Client-Id does not match the client of the access token",
        );
    }
    if !caller.has("datev:accounting:clients") {
        return datev_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "scope datev:accounting:clients is required",
        );
    }
    let Some(user) = caller_user(&s, &caller) else {
        return datev_error(StatusCode::UNAUTHORIZED, "invalid_token", "unknown user");
    };
    let consultant = 455_148;
    let clients: Vec<Value> = (0..2)
        .map(|i| {
            let number = 10_001 + i;
            json!({
                "id": format!("{consultant}-{number}"),
                "client_number": number,
                "consultant_number": consultant,
                "name": if i == 0 { user.company_name.clone() } else { format!("{} Holding", user.company_name) },
                "services": [{ "name": "accounting", "scopes": ["datev:accounting:clients", "accounting:documents"] }],
            })
        })
        .collect();
    Json(clients).into_response()
}

// ---------------------------------------------------------------- Xero

/// Xero's problem shape (`Type`, `Title`, `Status`, `Detail`, `Instance`, `Extensions`).
fn xero_error(status: StatusCode, detail: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    (
        status,
        Json(json!({
            "Type": null,
            "Title": title,
            "Status": status.as_u16(),
            "Detail": detail,
            "Instance": derived_uuid(&random_token(8)),
            "Extensions": {},
        })),
    )
        .into_response()
}

/// The tenants connected for the caller (empty after a revocation).
fn connected_tenants(s: &Shared, caller: &Caller) -> Vec<Value> {
    let Some(user) = caller_user(s, caller) else {
        return Vec::new();
    };
    let store = lock(&s.store);
    let Some(conn) = store
        .connections
        .get(&(caller.client_id.clone(), caller.sub.clone()))
    else {
        return Vec::new();
    };
    let created = chrono::DateTime::from_timestamp(conn.created, 0)
        .map(|t| format!("{}.0000000", t.format("%Y-%m-%dT%H:%M:%S")))
        .unwrap_or_default();
    let auth_event = derived_uuid(&format!("xero-auth-event-{}", conn.auth_event));
    tenants_of(user)
        .into_iter()
        .map(|t| {
            json!({
                "id": derived_uuid(&format!("xero-connection-{}-{}", caller.client_id, t.tenant_id)),
                "authEventId": auth_event,
                "tenantId": t.tenant_id,
                "tenantType": t.tenant_type,
                "tenantName": t.tenant_name,
                "createdDateUtc": created,
                "updatedDateUtc": created,
            })
        })
        .collect()
}

/// `GET /connections`: the tenants the login may call (bearer required, 401).
pub(super) async fn xero_connections(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    s.count(SandboxRoute::XeroConnections);
    let Some(caller) = caller(&s, &headers) else {
        return xero_error(StatusCode::UNAUTHORIZED, "TokenInvalid");
    };
    Json(connected_tenants(&s, &caller)).into_response()
}

/// `GET /api.xro/2.0/Organisation`: bearer (401), scope `accounting.settings` or
/// `accounting.settings.read` (401 `AuthorizationUnsuccessful`), and a `xero-tenant-id`
/// header naming a connected tenant (403 `AuthenticationUnsuccessful`).
pub(super) async fn xero_organisation(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    s.count(SandboxRoute::XeroOrganisation);
    let Some(caller) = caller(&s, &headers) else {
        return xero_error(StatusCode::UNAUTHORIZED, "TokenInvalid");
    };
    if !caller.has("accounting.settings") && !caller.has("accounting.settings.read") {
        return xero_error(StatusCode::UNAUTHORIZED, "AuthorizationUnsuccessful");
    }
    let Some(tenant) = header_str(&headers, "xero-tenant-id") else {
        return xero_error(StatusCode::FORBIDDEN, "AuthenticationUnsuccessful");
    };
    let tenants = connected_tenants(&s, &caller);
    let Some(t) = tenants
        .iter()
        .find(|t| t["tenantId"].as_str() == Some(tenant))
    else {
        return xero_error(StatusCode::FORBIDDEN, "AuthenticationUnsuccessful");
    };
    let ms = s.now().saturating_mul(1000);
    Json(json!({
        "Id": derived_uuid(&format!("xero-response-{ms}")),
        "Status": "OK",
        "ProviderName": "lexoffice-login sandbox",
        "DateTimeUTC": format!("/Date({ms})/"),
        "Organisations": [{
            "OrganisationID": t["tenantId"],
            "Name": t["tenantName"],
            "LegalName": t["tenantName"],
            "BaseCurrency": "EUR",
            "CountryCode": "DE",
            "OrganisationType": "COMPANY",
            "OrganisationStatus": "ACTIVE",
        }],
    }))
    .into_response()
}

// ---------------------------------------------------------------- QuickBooks

fn intuit_auth_failed(s: &Shared) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({
            "fault": {
                "error": [{
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": "Token expired, revoked or invalid",
                    "code": "3200",
                }],
                "type": "AUTHENTICATION",
            },
            "time": timestamp(s),
        })),
    )
        .into_response()
}

fn intuit_forbidden(s: &Shared, detail: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({
            "Fault": {
                "Error": [{
                    "Message": "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                    "Detail": detail,
                    "code": "3100",
                }],
                "type": "SERVICE",
            },
            "time": timestamp(s),
        })),
    )
        .into_response()
}

/// `GET /v3/company/{realmId}/companyinfo/{realmId}`: bearer (401), scope
/// `com.intuit.quickbooks.accounting` and the realm of the login (403).
pub(super) async fn quickbooks_company_info(
    State(s): State<Arc<Shared>>,
    Path((realm, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    s.count(SandboxRoute::QuickBooksCompanyInfo);
    let Some(caller) = caller(&s, &headers) else {
        return intuit_auth_failed(&s);
    };
    let Some(user) = caller_user(&s, &caller) else {
        return intuit_auth_failed(&s);
    };
    if !caller.has("com.intuit.quickbooks.accounting") {
        return intuit_forbidden(&s, "scope com.intuit.quickbooks.accounting is required");
    }
    let own = realm_of(user);
    if realm != own || id != own {
        return intuit_forbidden(&s, "the company is not the one this login is for");
    }
    Json(json!({
        "CompanyInfo": {
            "CompanyName": user.company_name,
            "LegalName": user.company_name,
            "Country": "US",
            "Email": { "Address": user.email },
            "Id": "1",
            "SyncToken": "0",
            "domain": "QBO",
            "sparse": false,
        },
        "time": timestamp(&s),
    }))
    .into_response()
}
