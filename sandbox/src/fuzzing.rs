//! Entry point for the `sandbox_request` fuzz target in `fuzz/` (feature `fuzzing`; not
//! part of the public API and not covered by semver).
//!
//! [`request`] sends one arbitrary HTTP request (method, path and query, headers, body)
//! through the sandbox's axum router in-process (`tower::ServiceExt::oneshot`), on a
//! current-thread tokio runtime, and reads the whole answer. One sandbox per
//! [`SandboxProfile`] (plus an interactive one and DATEV's second host) is started
//! once, lazily, on loopback; its listener is never used.
//!
//! Before each request the sandbox's in-memory state is reset and planted with a few
//! fixed, known values so that the fuzzer can reach the code exchange, refresh,
//! revocation, userinfo and API handlers (random codes and tokens cannot be guessed):
//! see [`PLANTED_CODE`], [`PLANTED_VERIFIER`], [`PLANTED_ACCESS_TOKEN`] and
//! [`PLANTED_REFRESH_TOKEN`].

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use tower::ServiceExt as _;

use super::routes::{self, Host};
use super::state::{lock, AccessRecord, CodeRecord, Family, RefreshRecord, Shared, Store};
use super::stats::Stats;
use super::{Sandbox, SandboxProfile, DEFAULT_REDIRECT_URI};

/// An authorization code every sandbox knows before each request (for the default
/// client, its first redirect URI sent as `redirect_uri`, the first test user, all known
/// scopes, nonce `fuzz-nonce`, PKCE challenge of [`PLANTED_VERIFIER`]).
pub const PLANTED_CODE: &str = "fuzz-code";

/// The PKCE `code_verifier` that matches [`PLANTED_CODE`]'s challenge.
pub const PLANTED_VERIFIER: &str = "fuzz-verifier-0123456789-0123456789-0123456789";

/// An access token every sandbox knows before each request (live, all known scopes).
pub const PLANTED_ACCESS_TOKEN: &str = "fuzz-access-token";

/// A refresh token every sandbox knows before each request (live, all known scopes).
pub const PLANTED_REFRESH_TOKEN: &str = "fuzz-refresh-token";

/// The routers the fuzzer can address, in the order [`request`]'s `router` selects them
/// (modulo their number): the five profiles' issuer hosts, an interactive
/// [`SandboxProfile::Oidc`] sandbox, and [`SandboxProfile::Datev`]'s second host.
pub const ROUTERS: usize = 7;

struct Target {
    shared: Arc<Shared>,
    router: Router,
}

struct Harness {
    rt: tokio::runtime::Runtime,
    targets: Vec<Target>,
    // Kept alive so that the shared state stays the sandboxes' own; never served.
    _sandboxes: Vec<Sandbox>,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("fuzzing: a current-thread tokio runtime");
        let builders = [
            Sandbox::builder().profile(SandboxProfile::Oidc),
            Sandbox::builder().profile(SandboxProfile::Lexoffice),
            Sandbox::builder().profile(SandboxProfile::Datev),
            Sandbox::builder().profile(SandboxProfile::Xero),
            Sandbox::builder().profile(SandboxProfile::QuickBooks),
            Sandbox::builder()
                .profile(SandboxProfile::Oidc)
                .interactive(true),
        ];
        let sandboxes: Vec<Sandbox> = rt.block_on(async {
            let mut out = Vec::new();
            for b in builders {
                out.push(b.start().await.expect("fuzzing: sandbox start"));
            }
            out
        });
        let mut targets: Vec<Target> = sandboxes
            .iter()
            .map(|s| Target {
                shared: Arc::clone(&s.shared),
                router: routes::router(Arc::clone(&s.shared), Host::Issuer),
            })
            .collect();
        // DATEV's second host (token, revocation, userinfo, JWKS, API).
        let datev = &sandboxes[2];
        targets.push(Target {
            shared: Arc::clone(&datev.shared),
            router: routes::router(Arc::clone(&datev.shared), Host::Second),
        });
        debug_assert_eq!(targets.len(), ROUTERS);
        Harness {
            rt,
            targets,
            _sandboxes: sandboxes,
        }
    })
}

/// Resets the sandbox state and plants the known code and tokens.
fn reset(shared: &Shared) {
    let cfg = &shared.config;
    let now = shared.now();
    let client = cfg
        .clients
        .first()
        .map(|c| c.id.clone())
        .unwrap_or_default();
    let redirect = cfg
        .clients
        .first()
        .and_then(|c| c.redirect_uris.first().cloned())
        .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_owned());
    let sub = cfg.users.first().map(|u| u.sub.clone()).unwrap_or_default();
    let scope: Vec<String> = cfg
        .behaviour
        .known_scopes
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(PLANTED_VERIFIER.as_bytes()));
    let mut store = Store::default();
    let family = store.new_family(Family {
        client_id: client.clone(),
        sub: sub.clone(),
        auth_time: now,
        nonce: Some("fuzz-nonce".into()),
        revoked: false,
    });
    store.codes.insert(
        PLANTED_CODE.into(),
        CodeRecord {
            client_id: client,
            redirect_param: Some(redirect),
            challenge: Some(challenge),
            scope: scope.clone(),
            nonce: Some("fuzz-nonce".into()),
            sub,
            auth_time: now,
            exp: now.saturating_add(cfg.code_lifetime),
            used: false,
            family: None,
        },
    );
    store.access.insert(
        PLANTED_ACCESS_TOKEN.into(),
        AccessRecord {
            family,
            scope: scope.clone(),
            iat: now,
            exp: now.saturating_add(cfg.access_token_ttl),
            revoked: false,
        },
    );
    store.refresh.insert(
        PLANTED_REFRESH_TOKEN.into(),
        RefreshRecord {
            family,
            scope,
            iat: now,
            touched: now,
            used_at: None,
            revoked: false,
        },
    );
    *lock(&shared.store) = store;
    *lock(&shared.stats) = Stats::default();
    lock(&shared.faults).clear();
}

/// Sends one request to router number `router` (modulo [`ROUTERS`]) and reads the whole
/// answer. Returns the answer's status code, or `None` where the parts do not make an
/// HTTP request at all (an invalid method, URI, header name or value): those never reach
/// the sandbox from a real client either.
///
/// A panic in a handler is a finding: it propagates to the fuzzer.
pub fn request(
    router: usize,
    method: &[u8],
    uri: &str,
    headers: &[(&[u8], &[u8])],
    body: &[u8],
) -> Option<u16> {
    let h = harness();
    let target = &h.targets[router % h.targets.len()];
    let method = Method::from_bytes(method).ok()?;
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let req = builder.body(Body::from(body.to_vec())).ok()?;
    reset(&target.shared);
    let router = target.router.clone();
    let status = h.rt.block_on(async move {
        let resp = match router.oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        };
        let status = resp.status().as_u16();
        // The whole body, as a client would read it (the sandbox's answers are small).
        let _ = axum::body::to_bytes(resp.into_body(), 1 << 20).await;
        status
    });
    Some(status)
}
