//! The web half of a login for server apps (cargo feature `axum`): axum handlers that
//! connect customers' organisations to a partner app.
//!
//! [`ConnectRouter`] answers two routes:
//!
//! - `GET /connect/{provider}` starts a login with the [`Client`] registered under that
//!   name, keeps the [`PendingLogin`](crate::PendingLogin) server-side in a
//!   [`PendingStore`] (keyed by a hash of its `state`, with a time to live, taken once)
//!   and answers `303 See Other` to the provider. `?connection=ID` reconnects a known
//!   connection (the login must then end in that organisation); `?return=/path` names the
//!   app path to go to afterwards (anything that is not a path of this app is ignored:
//!   no open redirect).
//! - `GET /callback` (the path of the clients' redirect URI) takes the pending login by
//!   the redirect's `state`, and nothing else; completes it ([`Client::complete`]: state,
//!   `iss`, code exchange, ID token); finds the organisation ([`resolve_tenant`]); and
//!   saves the connection with [`Connections::save`] under
//!   `StoreKey::new(env, "<provider>:<tenant>")`, so that connecting the same
//!   organisation again replaces its tokens instead of adding a second connection. It
//!   then answers `303` to the success path (with `?connection=<provider>:<tenant>`), or
//!   a small HTML page. An unknown, expired or replayed `state`, a provider error and a
//!   failed check answer `400` with a page that says what happened, and store nothing.
//!
//! No page, redirect or log line carries a token, a code, a verifier or the client
//! secret. The router does not authenticate the app's own users: put it behind the
//! app's login (an axum layer) so that only signed-in staff can connect organisations.
//!
//! ```no_run
//! use lexoffice_login::connections::Connections;
//! use lexoffice_login::store::MemoryStore;
//! use lexoffice_login::web::ConnectRouter;
//! use lexoffice_login::{Client, Settings};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The redirect URI of the settings is https://app.example/callback.
//! let lexoffice = Client::connect(Settings::load(Some("production"))?).await?;
//! let connections = Connections::new(MemoryStore::new()).with_client(lexoffice.clone());
//! let app = ConnectRouter::new(connections.clone())
//!     .provider("lexoffice", lexoffice)
//!     .success_path("/connections")?
//!     .into_router();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod page;
mod pending;
#[cfg(feature = "postgres")]
mod pending_postgres;
mod sessions;
#[cfg(feature = "postgres")]
mod sessions_postgres;
mod tenant;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::client::Client;
use crate::connections::{Connections, ListStore};
use crate::error::ErrorKind;
use crate::store::StoreKey;

pub use pending::{
    MemoryPendingStore, PendingConnect, PendingStore, PendingStoreError, StateHash,
    DEFAULT_MAX_PENDING,
};
#[cfg(feature = "postgres")]
pub use pending_postgres::PostgresPendingStore;
pub use sessions::{
    BrowserSession, MemorySessionStore, SessionDigest, SessionId, SessionLookup, SessionStore,
    SessionStoreError, SessionTimeouts, SessionUser,
};
#[cfg(feature = "postgres")]
pub use sessions_postgres::PostgresSessionStore;
pub use tenant::{resolve_tenant, TenantError, TenantSource};

/// How long a started login waits for its callback by default (10 minutes).
pub const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(600);

/// The callback path when no client is registered.
const DEFAULT_CALLBACK_PATH: &str = "/callback";

/// The longest `?connection=` and `?return=` values accepted.
const MAX_PARAM: usize = 512;

/// A path given to [`ConnectRouter::success_path`] that is not a path of this app.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a path of this app: it must start with one `/` and name no other host (for example \"/connections\")")]
pub struct NotAnAppPath(pub String);

/// Builds the axum routes that connect organisations: `GET /connect/{provider}` and
/// `GET` on the path of the clients' redirect URI (see the [module documentation](self)).
///
/// `S` is the registry's store; `P` where started logins wait ([`MemoryPendingStore`]
/// unless [`ConnectRouter::pending_store`] says otherwise). Every client given to
/// [`ConnectRouter::provider`] must also be registered in the [`Connections`] registry
/// ([`Connections::with_client`]), which refreshes the connections it makes.
///
/// ```
/// use lexoffice_login::connections::Connections;
/// use lexoffice_login::store::MemoryStore;
/// use lexoffice_login::web::{ConnectRouter, MemoryPendingStore};
///
/// let router: axum::Router = ConnectRouter::new(Connections::new(MemoryStore::new()))
///     .pending_store(MemoryPendingStore::new().max_entries(1_000))
///     .pending_ttl(std::time::Duration::from_secs(300))
///     .into_router();
/// # let _ = router;
/// assert!(ConnectRouter::new(Connections::new(MemoryStore::new()))
///     .success_path("https://evil.example/")
///     .is_err());
/// ```
pub struct ConnectRouter<S, P = MemoryPendingStore> {
    connections: Connections<S>,
    pending: P,
    providers: BTreeMap<String, Client>,
    success_path: Option<String>,
    ttl: Duration,
}

impl<S> std::fmt::Debug for ConnectRouter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectRouter")
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .field("success_path", &self.success_path)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl<S> ConnectRouter<S, MemoryPendingStore>
where
    S: ListStore + Clone + Send + Sync + 'static,
{
    /// Routes that save connections in `connections`, with no provider yet, pending
    /// logins in memory for [`DEFAULT_PENDING_TTL`], and an HTML page after a connect.
    pub fn new(connections: Connections<S>) -> Self {
        ConnectRouter {
            connections,
            pending: MemoryPendingStore::new(),
            providers: BTreeMap::new(),
            success_path: None,
            ttl: DEFAULT_PENDING_TTL,
        }
    }
}

impl<S, P> ConnectRouter<S, P>
where
    S: ListStore + Clone + Send + Sync + 'static,
    P: PendingStore,
{
    /// Keeps started logins in `store` instead (one shared by every replica of the app,
    /// for example).
    pub fn pending_store<Q: PendingStore>(self, store: Q) -> ConnectRouter<S, Q> {
        ConnectRouter {
            connections: self.connections,
            pending: store,
            providers: self.providers,
            success_path: self.success_path,
            ttl: self.ttl,
        }
    }

    /// How long a started login waits for its callback (default
    /// [`DEFAULT_PENDING_TTL`]).
    pub fn pending_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Registers `client` as `GET /connect/{name}` (`name` is also the first part of the
    /// connections' store keys: `"<name>:<tenant>"`). Its redirect URI's path is the
    /// callback route.
    pub fn provider(mut self, name: impl Into<String>, client: Client) -> Self {
        self.providers.insert(name.into(), client);
        self
    }

    /// After a connect, answer `303` to this app path (with
    /// `?connection=<provider>:<tenant>` added) instead of an HTML page. A `?return=`
    /// path given to `/connect` wins over it.
    pub fn success_path(mut self, path: &str) -> Result<Self, NotAnAppPath> {
        if !is_app_path(path) {
            return Err(NotAnAppPath(path.to_owned()));
        }
        self.success_path = Some(path.to_owned());
        Ok(self)
    }

    /// The routes, to [`Router::merge`] into the app (not to nest under a prefix: the
    /// callback route is the redirect URI's path as registered at the provider).
    pub fn into_router(self) -> Router {
        let mut callbacks: Vec<String> = self
            .providers
            .values()
            .map(|c| c.settings().redirect_uri().path().to_owned())
            .collect();
        callbacks.sort();
        callbacks.dedup();
        if callbacks.is_empty() {
            callbacks.push(DEFAULT_CALLBACK_PATH.to_owned());
        }
        let shared = Arc::new(Shared {
            connections: self.connections,
            pending: self.pending,
            providers: self.providers,
            success_path: self.success_path,
            ttl: self.ttl,
        });
        let mut router = Router::new().route("/connect/{provider}", get(connect::<S, P>));
        for path in callbacks {
            router = router.route(&path, get(callback::<S, P>));
        }
        router.with_state(shared)
    }
}

struct Shared<S, P> {
    connections: Connections<S>,
    pending: P,
    providers: BTreeMap<String, Client>,
    success_path: Option<String>,
    ttl: Duration,
}

/// Whether `path` is a path of this app: one leading `/`, no scheme, no host (`//x`,
/// `/\x`), no control characters or backslashes, not too long.
fn is_app_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= MAX_PARAM
        && !path
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
}

/// The query's parameters; `None` if one repeats.
fn params(query: Option<&str>) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if out.insert(k.into_owned(), v.into_owned()).is_some() {
            return None;
        }
    }
    Some(out)
}

fn no_store(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => no_store((StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response()),
        Err(_) => page::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The redirect could not be built.",
        ),
    }
}

/// `GET /connect/{provider}`.
async fn connect<S, P>(
    State(app): State<Arc<Shared<S, P>>>,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
) -> Response
where
    S: ListStore + Clone + Send + Sync + 'static,
    P: PendingStore,
{
    let Some(client) = app.providers.get(&provider) else {
        return page::error(
            StatusCode::NOT_FOUND,
            "No such provider is set up in this app.",
        );
    };
    let Some(params) = params(query.as_deref()) else {
        return page::error(StatusCode::BAD_REQUEST, "A parameter was given twice.");
    };
    let connection = match params.get("connection") {
        None => None,
        Some(id) => {
            // Either the tenant alone or the connection's whole store profile.
            let tenant = id.strip_prefix(&format!("{provider}:")).unwrap_or(id);
            if tenant.is_empty() || tenant.len() > MAX_PARAM || tenant.chars().any(char::is_control)
            {
                return page::error(StatusCode::BAD_REQUEST, "The connection id is malformed.");
            }
            Some(tenant.to_owned())
        }
    };
    let return_to = params.get("return").filter(|r| {
        let ok = is_app_path(r);
        if !ok {
            tracing::info!("ignored a return parameter that is not a path of this app");
        }
        ok
    });
    let (url, login) = match client.authorize() {
        Ok(started) => started,
        Err(e) => {
            tracing::warn!(provider = %provider, error = %e, "could not start a connect");
            return page::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The login could not be started; the app's provider settings need fixing.",
            );
        }
    };
    let key = StateHash::of(login.state.secret());
    let entry = PendingConnect::new(provider.clone(), connection, return_to.cloned(), login);
    if let Err(e) = app.pending.put(key, entry, app.ttl).await {
        tracing::warn!(provider = %provider, error = %e, "could not keep a started connect");
        return page::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "The login could not be started just now; please try again in a few minutes.",
        );
    }
    tracing::debug!(provider = %provider, "connect started");
    see_other(url.as_str())
}

/// `GET /callback` (the redirect URI's path).
async fn callback<S, P>(State(app): State<Arc<Shared<S, P>>>, RawQuery(query): RawQuery) -> Response
where
    S: ListStore + Clone + Send + Sync + 'static,
    P: PendingStore,
{
    let query = query.unwrap_or_default();
    // Only the state finds the login; one state, or none is looked up.
    let states: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .collect();
    let [state] = states.as_slice() else {
        return page::error(
            StatusCode::BAD_REQUEST,
            "This page was opened without a valid login answer. Start connecting again.",
        );
    };
    let pending = match app.pending.take(&StateHash::of(state)).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            tracing::info!("callback with an unknown, expired or used state refused");
            return page::error(
                StatusCode::BAD_REQUEST,
                "This login is unknown, has expired or was already used. Start connecting again.",
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "the pending-login store failed");
            return page::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The login could not be looked up just now; please try again.",
            );
        }
    };
    let PendingConnect {
        provider,
        connection,
        return_to,
        login,
        ..
    } = pending;
    let Some(client) = app.providers.get(&provider) else {
        return page::error(
            StatusCode::BAD_REQUEST,
            "The provider of this login is no longer set up in this app.",
        );
    };
    let tokens = match client.complete(login, &query).await {
        Ok(tokens) => tokens,
        Err(e) => {
            tracing::warn!(provider = %provider, error = %e, "connect failed");
            return match (&e, e.kind()) {
                (crate::Error::AuthorizationDenied { code, .. }, _) => page::error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "The provider did not grant access ({}). Nothing was connected.",
                        page::short(code)
                    ),
                ),
                (_, ErrorKind::ProviderUnavailable) => page::error(
                    StatusCode::BAD_GATEWAY,
                    "The provider could not be reached or failed. Nothing was connected; please try again.",
                ),
                (_, ErrorKind::Misconfigured | ErrorKind::Internal | ErrorKind::Store) => {
                    page::error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "The login could not be completed; the app's provider settings need fixing. Nothing was connected.",
                    )
                }
                _ => page::error(
                    StatusCode::BAD_REQUEST,
                    "The login answer failed a security check and was refused. Nothing was connected; start again.",
                ),
            };
        }
    };
    let tenant = match resolve_tenant(client, &tokens).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(provider = %provider, error = %e, "could not find the organisation of a login");
            return page::error(
                StatusCode::BAD_GATEWAY,
                "The provider did not say which organisation was connected. Nothing was connected; please try again.",
            );
        }
    };
    if let Some(expected) = &connection {
        if *expected != tenant {
            tracing::info!(provider = %provider, "a reconnect ended in another organisation; not saved");
            return page::error(
                StatusCode::BAD_REQUEST,
                "You signed in to a different organisation than the one being reconnected. Nothing was changed.",
            );
        }
    }
    let key = StoreKey::new(client.settings().env(), format!("{provider}:{tenant}"));
    if let Err(e) = app.connections.save(&key, &tokens).await {
        tracing::warn!(connection = %key, error = %e, "could not save a connection");
        return page::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The connection could not be saved. Please try again.",
        );
    }
    tracing::info!(connection = %key, "organisation connected");
    match return_to.as_deref().or(app.success_path.as_deref()) {
        Some(path) => see_other(&with_connection(path, &key.profile)),
        None => page::connected(&provider, &tenant),
    }
}

/// `path` with `connection=<profile>` added to its query.
fn with_connection(path: &str, profile: &str) -> String {
    let Ok(mut url) = url::Url::parse("http://app.invalid").and_then(|b| b.join(path)) else {
        return path.to_owned();
    };
    url.query_pairs_mut().append_pair("connection", profile);
    let mut out = url.path().to_owned();
    if let Some(q) = url.query() {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_app_are_accepted() {
        for ok in ["/", "/connections", "/a/b?x=1", "/a#frag"] {
            assert!(is_app_path(ok), "{ok}");
        }
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "\\\\evil.example",
            "evil.example",
            "/a\r\nLocation: x",
            "javascript:alert(1)",
            "/ /evil",
        ] {
            assert!(!is_app_path(bad), "{bad}");
        }
    }

    #[test]
    fn the_connection_is_added_to_the_success_path() {
        assert_eq!(
            with_connection("/connections", "lexoffice:org-1"),
            "/connections?connection=lexoffice%3Aorg-1"
        );
        assert_eq!(
            with_connection("/c?tab=all", "x:y"),
            "/c?tab=all&connection=x%3Ay"
        );
    }

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(params(Some("a=1&a=2")).is_none());
        assert_eq!(params(Some("a=1&b=2")).map(|p| p.len()), Some(2));
        assert_eq!(params(None).map(|p| p.len()), Some(0));
    }
}
