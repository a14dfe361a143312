//! `lexoffice-login bff`: a backend-for-frontend for single-page apps.
//!
//! The browser gets a session cookie and nothing else: the login (PKCE, state, nonce),
//! the tokens and their refresh stay on the server, in this process or, with
//! `--session-store postgres`, in PostgreSQL for every replica ([`stores`]). Routes:
//!
//! | route | does |
//! |---|---|
//! | `GET /auth/login?return=/path` | starts a login; the return path must be on the allow-list |
//! | `GET /auth/callback` | completes it, starts a new session, sets the cookie, `303` to the return path |
//! | `GET /auth/session` | `{user: {sub, name, email}, tenant, scopes}`, or `401`; never a token |
//! | `POST /auth/logout` | revokes at the provider, ends the session |
//! | `/api/*` | the provider's API with the session's bearer token; no cookie either way |
//! | anything else | the app's files (`--static`), `index.html` for unknown paths without an extension |
//!
//! State-changing requests (anything but GET and HEAD) need an allowed `Origin` (or
//! `Sec-Fetch-Site: same-origin` without one) and `X-Requested-With: lexoffice-bff`;
//! otherwise `403`.

mod stores;

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use lexoffice_login::connections::Connections;
use lexoffice_login::providers::Provider;
use lexoffice_login::ratelimit::{BudgetRate, RateBudget};
use lexoffice_login::store::StoreKey;
use lexoffice_login::web::{
    BrowserSession, PendingConnect, PendingStore, PendingStoreError, SessionId, SessionLookup,
    SessionStore, SessionTimeouts, SessionUser, StateHash, DEFAULT_PENDING_TTL as PENDING_TTL,
};
use lexoffice_login::Client;
use serde_json::json;

use crate::args::{BffArgs, SessionStoreKind};
use crate::context::Ctx;
use crate::error::{CliError, Exit};
use stores::{digest_hex, random_secret, Built, Stores};

/// The custom header every state-changing request must carry (a cross-site form cannot
/// set it, and a cross-site `fetch` that sets it needs a CORS preflight that this server
/// never grants).
pub const CSRF_HEADER: &str = "x-requested-with";
/// Its value.
pub const CSRF_VALUE: &str = "lexoffice-bff";
/// The session cookie's name over https.
pub const COOKIE_SECURE: &str = "__Host-lexoffice_bff";
/// The session cookie's name on a loopback http URL (`__Host-` needs `Secure`).
pub const COOKIE_LOOPBACK: &str = "lexoffice_bff";
/// The largest request body proxied to the API.
const MAX_BODY: usize = 2 * 1024 * 1024;

/// Request headers passed on to the API (nothing else: no Cookie, no Authorization,
/// no Origin).
const FORWARD_REQUEST: [HeaderName; 9] = [
    header::ACCEPT,
    header::ACCEPT_LANGUAGE,
    header::CONTENT_TYPE,
    header::CONTENT_LANGUAGE,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
    header::RANGE,
];

/// Response headers never passed back to the browser.
const DROP_RESPONSE: [&str; 11] = [
    "set-cookie",
    "set-cookie2",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
    "content-length",
    "alt-svc",
];

/// What every request needs: the settings of this server.
struct Setup {
    client: Client,
    /// The provider's name (kept with each started login).
    provider: String,
    env: String,
    api_base: Option<url::Url>,
    lexoffice_like: bool,
    allowed_origins: Vec<String>,
    return_paths: Vec<String>,
    static_dir: Option<PathBuf>,
    secure: bool,
}

/// The server's state: its set-up and its stores.
struct App<B: Stores> {
    setup: Setup,
    connections: Connections<B::Tokens>,
    sessions: B::Sessions,
    pending: B::Pending,
    budget: Option<Arc<dyn RateBudget>>,
}

impl Setup {
    fn cookie_name(&self) -> &'static str {
        if self.secure {
            COOKIE_SECURE
        } else {
            COOKIE_LOOPBACK
        }
    }

    fn binding_name(&self) -> &'static str {
        if self.secure {
            "__Host-lexoffice_bff_login"
        } else {
            "lexoffice_bff_login"
        }
    }

    fn cookie(&self, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
        let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if self.secure {
            c.push_str("; Secure");
        }
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
    }

    fn clear_cookie(&self, name: &str) -> HeaderValue {
        self.cookie(name, "", Some(0))
    }

    /// Whether `path` is an app path on the allow-list.
    fn return_allowed(&self, path: &str) -> bool {
        is_app_path(path)
            && self.return_paths.iter().any(|allowed| {
                let base = allowed.trim_end_matches('/');
                base.is_empty()
                    || path == base
                    || path
                        .strip_prefix(base)
                        .is_some_and(|rest| rest.starts_with(['/', '?', '#']))
            })
    }

    /// The CSRF check for state-changing requests.
    fn csrf(&self, method: &Method, headers: &HeaderMap) -> Option<Response> {
        if method == Method::GET || method == Method::HEAD {
            return None;
        }
        let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let origin_ok = match value("origin") {
            Some(origin) => self
                .allowed_origins
                .iter()
                .any(|a| a == origin.trim_end_matches('/')),
            None => value("sec-fetch-site") == Some("same-origin"),
        };
        if !origin_ok {
            tracing::info!(method = %method, "refused a state-changing request from another origin");
            return Some(refuse(
                StatusCode::FORBIDDEN,
                "request from an origin that is not allowed",
            ));
        }
        if value(CSRF_HEADER) != Some(CSRF_VALUE) {
            tracing::info!(method = %method, "refused a state-changing request without the CSRF header");
            return Some(refuse(
                StatusCode::FORBIDDEN,
                "state-changing requests need the header X-Requested-With: lexoffice-bff",
            ));
        }
        None
    }
}

impl<B: Stores> App<B> {
    /// The active session of this request, if any (expired ones end here). `Err` when
    /// the session store failed (the request is answered 503).
    async fn session(&self, headers: &HeaderMap) -> Result<Option<BrowserSession>, Response> {
        let Some(id) = cookie(headers, self.setup.cookie_name()) else {
            return Ok(None);
        };
        match self.sessions.touch(&SessionId::from_cookie(id)).await {
            Ok(SessionLookup::Active(s)) => Ok(Some(s)),
            Ok(SessionLookup::Expired(s)) => {
                self.forget(s.connection);
                Ok(None)
            }
            Ok(_) => Ok(None),
            Err(e) => Err(store_failed(&e)),
        }
    }

    /// Removes a timed-out session's connection (revoking it) in the background.
    fn forget(&self, key: StoreKey) {
        let connections = self.connections.clone();
        tokio::spawn(async move {
            if let Err(e) = connections.remove(&key).await {
                tracing::info!(error = %e, "could not revoke a timed-out session's login");
            }
        });
    }
}

/// The answer when a store failed (what failed is logged; the browser learns no more).
fn store_failed(e: &dyn std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "a store of the BFF failed");
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "the session store is not available; try again shortly",
    )
}

/// `bff`: serves until Ctrl-C.
pub async fn run(ctx: &Ctx, args: &BffArgs) -> Result<(), CliError> {
    let timeout = |secs: f64, what: &str| {
        if secs.is_finite() && secs > 0.0 && secs <= 365.0 * 86_400.0 {
            Ok(Duration::from_secs_f64(secs))
        } else {
            Err(CliError::new(
                Exit::Usage,
                format!("--{what} must be a number of seconds above 0"),
            ))
        }
    };
    let idle = timeout(args.idle_timeout, "idle-timeout")?;
    let absolute = timeout(args.absolute_timeout, "absolute-timeout")?;
    let timeouts = SessionTimeouts::new(idle, absolute)
        .ok_or_else(|| CliError::new(Exit::Usage, "the session timeouts must be above 0"))?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            CliError::new(
                Exit::Error,
                format!("cannot listen on {}: {e}", args.listen),
            )
        })?;
    let addr: SocketAddr = listener
        .local_addr()
        .map_err(|e| CliError::new(Exit::Error, format!("cannot listen: {e}")))?;
    let public = match &args.public_url {
        Some(u) => u.clone(),
        None => url::Url::parse(&format!("http://{addr}"))
            .map_err(|e| CliError::new(Exit::Usage, format!("no public URL: {e}")))?,
    };
    let secure = match public.scheme() {
        "https" => true,
        "http" if is_loopback(&public) => false,
        _ => {
            return Err(CliError::new(
                Exit::Usage,
                format!("--public-url {public} must be https (http only on a loopback address)"),
            ))
        }
    };
    let origin = public.origin().ascii_serialization();
    let redirect = format!("{origin}/auth/callback");
    let settings = ctx.settings_overriding(&[("LEXOFFICE_LOGIN_REDIRECT_URI", &redirect)])?;
    let provider = settings.provider();
    let lexoffice_like = matches!(provider, None | Some(Provider::Lexoffice));
    let api_base = match &args.api_base {
        Some(u) => Some(u.clone()),
        None if ctx.env == "local" && lexoffice_like => {
            url::Url::parse(&format!("{}/v1", settings.issuer().trim_end_matches('/'))).ok()
        }
        None => settings
            .api_base()
            .and_then(|u| url::Url::parse(u.as_str()).ok()),
    };
    let rate = match args.rate_limit {
        Some(0.0) => None,
        Some(r) => Some(BudgetRate::per_second(r, 1)),
        None => settings
            .preset()
            .and_then(|p| p.api.as_ref())
            .and_then(BudgetRate::for_api),
    }
    .transpose()
    .map_err(|e| CliError::new(Exit::Usage, format!("--rate-limit: {e}")))?;
    let provider_name = provider.map_or("default", |p| p.name()).to_owned();
    let client = ctx.client(settings).await?;

    let mut allowed_origins: Vec<String> = args
        .allowed_origins
        .iter()
        .map(|o| o.trim().trim_end_matches('/').to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    if allowed_origins.is_empty() {
        allowed_origins.push(origin.clone());
    }
    let mut return_paths = args.return_paths.clone();
    if return_paths.is_empty() {
        return_paths.push("/".to_owned());
    }
    if let Some(bad) = return_paths.iter().find(|p| !is_app_path(p)) {
        return Err(CliError::new(
            Exit::Usage,
            format!("--return-path {bad:?} is not a path of this app (it must start with one /)"),
        ));
    }
    let setup = Setup {
        client: client.clone(),
        provider: provider_name,
        env: ctx.env.clone(),
        api_base,
        lexoffice_like,
        allowed_origins,
        return_paths,
        static_dir: args.static_dir.clone(),
        secure,
    };
    let banner =
        format!("listening on http://{addr}\npublic URL {origin} (redirect URI {redirect})");
    match args.session_store {
        SessionStoreKind::Memory => {
            let built = stores::in_memory(&client, timeouts, rate)?;
            serve(listener, setup, built, idle, &banner).await
        }
        SessionStoreKind::Postgres => {
            let Some(url) = args
                .database_url
                .as_deref()
                .filter(|u| !u.trim().is_empty())
            else {
                return Err(CliError::new(
                    Exit::Usage,
                    "--session-store postgres needs --database-url (or DATABASE_URL)",
                ));
            };
            let built = stores::in_postgres(
                &client,
                url,
                Duration::from_secs(args.database_timeout),
                timeouts,
                rate,
            )
            .await?;
            serve(listener, setup, built, idle, &banner).await
        }
    }
}

/// Serves `setup` with the stores `built` until Ctrl-C; sweeps timed-out sessions.
async fn serve<B: Stores>(
    listener: tokio::net::TcpListener,
    setup: Setup,
    built: Built<B>,
    idle: Duration,
    banner: &str,
) -> Result<(), CliError> {
    let app = Arc::new(App::<B> {
        setup,
        connections: built.connections,
        sessions: built.sessions,
        pending: built.pending,
        budget: built.budget,
    });
    // Timed-out sessions' logins are revoked even if their browser never comes back
    // (with several replicas, each timed-out session is handed to one of them).
    let sweeper = {
        let app = app.clone();
        let every = (idle / 2).clamp(Duration::from_millis(250), Duration::from_secs(60));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match app.sessions.sweep().await {
                    Ok(gone) => gone.into_iter().for_each(|s| app.forget(s.connection)),
                    Err(e) => tracing::warn!(error = %e, "could not sweep timed-out sessions"),
                }
            }
        })
    };

    crate::outln!("{banner}")?;
    let served = axum::serve(listener, router(app))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    sweeper.abort();
    served.map_err(|e| CliError::new(Exit::Error, format!("the server failed: {e}")))
}

fn router<B: Stores>(app: Arc<App<B>>) -> Router {
    Router::new()
        .route("/auth/login", get(login::<B>))
        .route("/auth/callback", get(callback::<B>))
        .route("/auth/session", get(session_info::<B>))
        .route("/auth/logout", post(logout::<B>))
        .route("/api", any(api::<B>))
        .route("/api/{*rest}", any(api::<B>))
        .fallback(static_file::<B>)
        .with_state(app)
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// One leading `/`, no scheme or host (`//x`, `/\x`), no control characters.
fn is_app_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= 512
        && !path
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
}

/// The value of the cookie `name`.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// [`crate::headers::no_store`], and no content sniffing (the answers are JSON).
fn no_store(resp: Response) -> Response {
    let mut resp = crate::headers::no_store(resp);
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn refuse(status: StatusCode, message: &str) -> Response {
    no_store((status, Json(json!({ "error": message }))).into_response())
}

fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => no_store((StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response()),
        Err(_) => refuse(StatusCode::BAD_REQUEST, "bad redirect"),
    }
}

/// `GET /auth/login?return=/path`.
async fn login<B: Stores>(State(app): State<Arc<App<B>>>, RawQuery(query): RawQuery) -> Response {
    let setup = &app.setup;
    let mut return_to = None;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if k == "return" {
            if return_to.is_some() {
                return refuse(StatusCode::BAD_REQUEST, "return given twice");
            }
            return_to = Some(v.into_owned());
        }
    }
    let return_to = return_to.unwrap_or_else(|| "/".to_owned());
    if !setup.return_allowed(&return_to) {
        tracing::info!("refused a login whose return target is not an allowed app path");
        return refuse(
            StatusCode::BAD_REQUEST,
            "the return target is not an allowed path of this app",
        );
    }
    let (url, login) = match setup.client.authorize() {
        Ok(started) => started,
        Err(e) => {
            tracing::warn!(error = %e, "could not start a login");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the login could not be started",
            );
        }
    };
    let Some(state) = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
    else {
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the login could not be started",
        );
    };
    // Binds the login to this browser: the callback must come with this cookie.
    let binding = match random_secret() {
        Ok(b) => b,
        Err(_) => {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the login could not be started",
            )
        }
    };
    let pending = PendingConnect::new(setup.provider.clone(), None, Some(return_to), login)
        .bound_to_browser(digest_hex(&binding));
    match app
        .pending
        .put(StateHash::of(&state), pending, PENDING_TTL)
        .await
    {
        Ok(()) => {}
        Err(PendingStoreError::Full) => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many logins are under way",
            )
        }
        Err(e) => return store_failed(&e),
    }
    let mut resp = see_other(url.as_str());
    resp.headers_mut().append(
        header::SET_COOKIE,
        setup.cookie(setup.binding_name(), &binding, Some(PENDING_TTL.as_secs())),
    );
    resp
}

/// `GET /auth/callback`.
async fn callback<B: Stores>(
    State(app): State<Arc<App<B>>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let setup = &app.setup;
    let query = query.unwrap_or_default();
    let states: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .collect();
    let [state] = states.as_slice() else {
        return refuse(StatusCode::BAD_REQUEST, "no valid login answer");
    };
    let pending = match app.pending.take(&StateHash::of(state)).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            tracing::info!("callback with an unknown, expired or used state refused");
            return refuse(
                StatusCode::BAD_REQUEST,
                "this login is unknown, has expired or was already used; log in again",
            );
        }
        Err(e) => return store_failed(&e),
    };
    let bound = match (
        cookie(&headers, setup.binding_name()),
        &pending.browser_binding,
    ) {
        // Digests of a 256-bit secret: comparing them leaks nothing usable.
        (Some(b), Some(expected)) => digest_hex(&b) == *expected,
        _ => false,
    };
    if !bound {
        tracing::info!("callback from a browser that did not start the login refused");
        return refuse(
            StatusCode::BAD_REQUEST,
            "this login was started in another browser; log in again",
        );
    }
    let return_to = pending.return_to.unwrap_or_else(|| "/".to_owned());
    let tokens = match setup.client.complete(pending.login, &query).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "login failed");
            return refuse(StatusCode::BAD_REQUEST, "the login failed; log in again");
        }
    };
    let claims = tokens.id_token_claims.as_ref();
    let mut user = SessionUser::new(
        claims.map(|c| c.subject().to_owned()),
        claims.and_then(|c| c.string("name")).map(str::to_owned),
        claims.and_then(|c| c.string("email")).map(str::to_owned),
    );
    let tenant = tenant(setup, tokens.access_token.secret()).await;
    if user.sub.is_none() {
        user.sub = tenant.clone();
    }
    // A new session at every login (the old one, if any, ends).
    if let Some(old) = cookie(&headers, setup.cookie_name()) {
        match app.sessions.remove(&SessionId::from_cookie(old)).await {
            Ok(Some(s)) => app.forget(s.connection),
            Ok(None) => {}
            Err(e) => return store_failed(&e),
        }
    }
    let Ok(name) = random_secret() else {
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the login could not be kept",
        );
    };
    let key = StoreKey::new(setup.env.clone(), format!("bff-{name}"));
    if let Err(e) = app.connections.save(&key, &tokens).await {
        tracing::warn!(error = %e, "could not keep a login");
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the login could not be kept",
        );
    }
    let scopes = tokens
        .scopes
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    let session = BrowserSession::new(key.clone(), user, tenant, scopes);
    let id = match app.sessions.create(session).await {
        Ok(id) => id,
        Err(e) => {
            // No session points at the login: end it rather than leave it stored.
            app.forget(key);
            return store_failed(&e);
        }
    };
    tracing::info!("session started");
    let mut resp = see_other(&return_to);
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        setup.cookie(setup.cookie_name(), id.secret(), None),
    );
    h.append(header::SET_COOKIE, setup.clear_cookie(setup.binding_name()));
    resp
}

/// The organisation of a lexoffice login (`organizationId` of `/v1/profile`).
async fn tenant(app: &Setup, token: &str) -> Option<String> {
    if !app.lexoffice_like {
        return None;
    }
    let base = app.api_base.as_ref()?;
    let url = format!("{}/profile", base.as_str().trim_end_matches('/'));
    let resp = app
        .client
        .http_client()
        .get(url)
        .bearer_auth(token)
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let v: serde_json::Value = resp.json().await.ok()?;
    v.get("organizationId")?.as_str().map(str::to_owned)
}

/// `GET /auth/session`.
async fn session_info<B: Stores>(State(app): State<Arc<App<B>>>, headers: HeaderMap) -> Response {
    match app.session(&headers).await {
        Ok(Some(s)) => no_store(
            Json(json!({ "user": s.user, "tenant": s.tenant, "scopes": s.scopes })).into_response(),
        ),
        Ok(None) => refuse(StatusCode::UNAUTHORIZED, "not logged in"),
        Err(failed) => failed,
    }
}

/// `POST /auth/logout`.
async fn logout<B: Stores>(
    State(app): State<Arc<App<B>>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let setup = &app.setup;
    if let Some(refused) = setup.csrf(&method, &headers) {
        return refused;
    }
    let ended = match cookie(&headers, setup.cookie_name()) {
        None => None,
        Some(id) => match app.sessions.remove(&SessionId::from_cookie(id)).await {
            Ok(s) => s,
            Err(e) => return store_failed(&e),
        },
    };
    let mut resp = match ended {
        None => no_store(StatusCode::NO_CONTENT.into_response()),
        Some(s) => match app.connections.remove(&s.connection).await {
            Ok(()) => {
                tracing::info!("logged out");
                no_store(StatusCode::NO_CONTENT.into_response())
            }
            Err(e) => {
                tracing::warn!(error = %e, "the provider could not revoke a login");
                refuse(
                    StatusCode::BAD_GATEWAY,
                    "logged out here, but the provider could not revoke the login",
                )
            }
        },
    };
    resp.headers_mut()
        .append(header::SET_COOKIE, setup.clear_cookie(setup.cookie_name()));
    resp
}

/// `/api/*`: the provider's API with the session's bearer token.
async fn api<B: Stores>(
    State(app): State<Arc<App<B>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let setup = &app.setup;
    if let Some(refused) = setup.csrf(&method, &headers) {
        return refused;
    }
    let session = match app.session(&headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return refuse(StatusCode::UNAUTHORIZED, "not logged in"),
        Err(failed) => return failed,
    };
    let Some(base) = &setup.api_base else {
        return refuse(StatusCode::NOT_FOUND, "no API is configured");
    };
    if body.len() > MAX_BODY {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    }
    // /api/<path> is <path> on the API's host, and only under the API base's path: the
    // token never goes to another path of that host.
    let rest = uri.path().strip_prefix("/api").unwrap_or_default();
    let mut target = base.clone();
    target.set_path(if rest.is_empty() { "/" } else { rest });
    target.set_query(uri.query());
    let base_path = base.path().trim_end_matches('/');
    let inside = target.path() == base_path
        || target
            .path()
            .strip_prefix(base_path)
            .is_some_and(|r| r.starts_with('/'));
    if !inside {
        return refuse(StatusCode::NOT_FOUND, "not a path of the API");
    }
    let extra = setup
        .client
        .api_headers(session.tenant.as_deref())
        .unwrap_or_default();
    let budget_key = session
        .tenant
        .clone()
        .unwrap_or_else(|| session.connection.profile.clone());
    let send = |token: String| {
        let budget_key = budget_key.clone();
        let mut req = setup
            .client
            .http_client()
            .request(method.clone(), target.clone())
            .bearer_auth(token)
            .body(body.clone());
        for name in &FORWARD_REQUEST {
            for v in headers.get_all(name) {
                req = req.header(name, v);
            }
        }
        for (k, v) in &extra {
            req = req.header(k.as_str(), v.as_str());
        }
        let budget = app.budget.clone();
        async move {
            if let Some(b) = &budget {
                if let Err(e) = b.acquire(&budget_key).await {
                    tracing::warn!(error = %e, "the rate budget failed; sending anyway");
                }
            }
            let resp = req.send().await?;
            if resp.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                if let Some(b) = &budget {
                    let wait = resp
                        .headers()
                        .get(header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs)
                        .unwrap_or_else(|| b.rate().emission_interval());
                    let _ = b.penalize(&budget_key, wait).await;
                }
            }
            Ok::<_, reqwest::Error>(resp)
        }
    };
    let token = match app.connections.access_token(&session.connection).await {
        Ok(t) => t,
        Err(e) => return token_error(e),
    };
    let mut upstream = match send(token.secret().to_owned()).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "the API could not be reached");
            return refuse(StatusCode::BAD_GATEWAY, "the API could not be reached");
        }
    };
    if upstream.status() == reqwest::StatusCode::UNAUTHORIZED {
        // The API refused the token before its time: refresh once and try again.
        let token = match app.connections.force_refresh(&session.connection).await {
            Ok(t) => t,
            Err(e) => return token_error(e),
        };
        upstream = match send(token.secret().to_owned()).await {
            Ok(r) => r,
            Err(_) => return refuse(StatusCode::BAD_GATEWAY, "the API could not be reached"),
        };
    }
    let status =
        StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out_headers = HeaderMap::new();
    for (k, v) in upstream.headers() {
        if DROP_RESPONSE.contains(&k.as_str()) {
            continue;
        }
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_str().as_bytes()),
            HeaderValue::from_bytes(v.as_bytes()),
        ) {
            out_headers.append(k, v);
        }
    }
    let bytes = match upstream.bytes().await {
        Ok(b) => b,
        Err(_) => return refuse(StatusCode::BAD_GATEWAY, "the API's answer was cut short"),
    };
    let mut resp = (status, Body::from(bytes)).into_response();
    *resp.headers_mut() = out_headers;
    resp.headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

fn token_error(e: lexoffice_login::connections::ConnectionError) -> Response {
    use lexoffice_login::ErrorKind;
    tracing::info!(error = %e, "no access token for a session");
    match e.kind() {
        ErrorKind::LoginRequired => refuse(
            StatusCode::UNAUTHORIZED,
            "the login has ended; log in again",
        ),
        _ => refuse(StatusCode::BAD_GATEWAY, "the provider could not be reached"),
    }
}

/// The app's files (`--static`); `index.html` for `/` and for unknown paths without an
/// extension (the app's own routes).
async fn static_file<B: Stores>(
    State(app): State<Arc<App<B>>>,
    method: Method,
    uri: Uri,
) -> Response {
    let Some(dir) = &app.setup.static_dir else {
        return refuse(StatusCode::NOT_FOUND, "not found");
    };
    if method != Method::GET && method != Method::HEAD {
        return refuse(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    }
    let path = uri.path().trim_start_matches('/');
    let mut rel = PathBuf::new();
    for part in Path::new(path).components() {
        match part {
            Component::Normal(p) => rel.push(p),
            _ => return refuse(StatusCode::NOT_FOUND, "not found"),
        }
    }
    if path.contains('\\') || path.contains('\0') {
        return refuse(StatusCode::NOT_FOUND, "not found");
    }
    let mut file = dir.join(&rel);
    if rel.as_os_str().is_empty() || file.is_dir() {
        file = file.join("index.html");
    } else if !file.exists() && rel.extension().is_none() {
        file = dir.join("index.html");
    }
    let read = tokio::task::spawn_blocking(move || std::fs::read(&file).map(|b| (file, b))).await;
    let Ok(Ok((file, bytes))) = read else {
        return refuse(StatusCode::NOT_FOUND, "not found");
    };
    let kind = match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    let mut resp = (
        [
            (header::CONTENT_TYPE, kind),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        bytes,
    )
        .into_response();
    if kind.starts_with("text/html") {
        resp.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
        );
    }
    resp
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn app_paths_only() {
        for ok in ["/", "/app", "/a/b?x=1"] {
            assert!(is_app_path(ok), "{ok}");
        }
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example",
            "/\\evil",
            "/a\r\nb",
            "javascript:x",
        ] {
            assert!(!is_app_path(bad), "{bad}");
        }
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; lexoffice_bff_login=x; lexoffice_bff=y"),
        );
        assert_eq!(cookie(&h, "lexoffice_bff").as_deref(), Some("y"));
        assert_eq!(cookie(&h, "lexoffice_bff_login").as_deref(), Some("x"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
