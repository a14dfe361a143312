//! The web half of a login for server apps (`web::ConnectRouter`): organisations
//! connected through `GET /connect/{provider}` and the callback, against the sandbox,
//! with reqwest playing the browser (no redirect following).
#![cfg(feature = "axum")]

use std::time::Duration;

use lexoffice_login::connections::{Connections, Health};
use lexoffice_login::store::{MemoryStore, StoreKey, TokenStore};
use lexoffice_login::web::ConnectRouter;
use lexoffice_login::{Client, TokenSet};
use lexoffice_login_sandbox::{Sandbox, SandboxProfile, DEFAULT_CLIENT_SECRET};
use reqwest::StatusCode;

const ORG_1: &str = "5c9f2d1e-0000-4000-8000-000000000001";
const ORG_2: &str = "5c9f2d1e-0000-4000-8000-000000000002";

/// The partner app under test: its base URL, its registry and the registry's store.
struct App {
    base: String,
    connections: Connections<MemoryStore>,
    store: MemoryStore,
    browser: reqwest::Client,
    _server: tokio::task::JoinHandle<()>,
}

impl App {
    /// Starts an app with `provider` pointed at `sandbox`; `configure` adjusts the router.
    async fn start(
        sandbox: &Sandbox,
        provider: &str,
        configure: impl FnOnce(ConnectRouter<MemoryStore>) -> ConnectRouter<MemoryStore>,
    ) -> App {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let settings = sandbox
            .settings()
            .build()
            .unwrap()
            .with_redirect_uri(format!("{base}/callback").parse().unwrap())
            .unwrap();
        let client = Client::connect(settings).await.unwrap();
        let store = MemoryStore::new();
        let connections = Connections::new(store.clone()).with_client(client.clone());
        let router = configure(ConnectRouter::new(connections.clone()).provider(provider, client))
            .into_router();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        App {
            base,
            connections,
            store,
            browser: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            _server: server,
        }
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        let url = if url.starts_with('/') {
            format!("{}{url}", self.base)
        } else {
            url.to_owned()
        };
        self.browser.get(url).send().await.unwrap()
    }

    /// `GET /connect/...`: the provider's authorization URL it redirects to.
    async fn start_connect(&self, path_and_query: &str) -> String {
        let resp = self.get(path_and_query).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{path_and_query}");
        assert_eq!(
            resp.headers()["cache-control"],
            "no-store",
            "a started login is not cached"
        );
        location(&resp)
    }

    async fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .connections
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.key.profile)
            .collect();
        keys.sort();
        keys
    }

    async fn tokens(&self, profile: &str) -> TokenSet {
        self.store
            .load(&StoreKey::new("code", profile))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{profile} is not stored"))
    }
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location in an HTTP {} answer", resp.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// An interactive lexoffice sandbox (its consent page picks the user, and so the
/// organisation), without the API rate limit.
async fn lexoffice_sandbox() -> Sandbox {
    Sandbox::builder()
        .profile(SandboxProfile::Lexoffice)
        .interactive(true)
        .rate_limit_per_second(0)
        .start()
        .await
        .unwrap()
}

/// The browser on the sandbox's consent page: signs in as `user` and allows (or denies)
/// the app. Returns the redirect back to the app (its callback URL).
async fn consent(app: &App, sandbox: &Sandbox, authorize_url: &str, user: Option<&str>) -> String {
    let page = app.get(authorize_url).await.text().await.unwrap();
    let marker = "id=\"request_id\" value=\"";
    let start = page.find(marker).expect("a consent page") + marker.len();
    let request_id = &page[start..start + page[start..].find('"').unwrap()];
    let mut form = vec![("request_id", request_id)];
    match user {
        Some(sub) => form.extend([("decision", "allow"), ("user", sub)]),
        None => form.push(("decision", "deny")),
    }
    let resp = app
        .browser
        .post(sandbox.url("/oauth2/authorize/decision"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    let callback = location(&resp);
    assert!(callback.starts_with(&app.base), "{callback}");
    callback
}

/// Connects the organisation of `user` through `path_and_query`; returns the callback
/// URL (for replays) and the app's answer to it.
async fn connect_as(
    app: &App,
    sandbox: &Sandbox,
    path_and_query: &str,
    user: &str,
) -> (String, reqwest::Response) {
    let authorize = app.start_connect(path_and_query).await;
    let callback = consent(app, sandbox, &authorize, Some(user)).await;
    let resp = app.get(&callback).await;
    (callback, resp)
}

fn with_success_path(r: ConnectRouter<MemoryStore>) -> ConnectRouter<MemoryStore> {
    r.success_path("/connections").unwrap()
}

#[tokio::test]
async fn two_organisations_connect_and_a_reconnect_replaces_the_tokens() {
    let sandbox = lexoffice_sandbox().await;
    let app = App::start(&sandbox, "lexoffice", with_success_path).await;

    let (_, resp) = connect_as(&app, &sandbox, "/connect/lexoffice", "sandbox-user-1").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&resp),
        format!("/connections?connection=lexoffice%3A{ORG_1}")
    );
    let (_, resp) = connect_as(&app, &sandbox, "/connect/lexoffice", "sandbox-user-2").await;
    assert_eq!(
        location(&resp),
        format!("/connections?connection=lexoffice%3A{ORG_2}")
    );

    assert_eq!(
        app.keys().await,
        vec![format!("lexoffice:{ORG_1}"), format!("lexoffice:{ORG_2}")]
    );
    for c in app.connections.list().await.unwrap() {
        assert_eq!(c.health, Health::Active, "{}", c.key);
        assert_eq!(c.key.env, "code");
        // The registry serves the connection's token.
        app.connections.access_token(&c.key).await.unwrap();
    }

    // The same organisation again (here through `?connection=`): replaced, not added.
    let before = app.tokens(&format!("lexoffice:{ORG_1}")).await;
    let (_, resp) = connect_as(
        &app,
        &sandbox,
        &format!("/connect/lexoffice?connection=lexoffice:{ORG_1}"),
        "sandbox-user-1",
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.keys().await.len(), 2);
    let after = app.tokens(&format!("lexoffice:{ORG_1}")).await;
    assert_ne!(
        before.access_token.secret(),
        after.access_token.secret(),
        "the reconnect's tokens replace the old ones"
    );
    // And without `?connection=`: the tenant alone finds the connection.
    connect_as(&app, &sandbox, "/connect/lexoffice", "sandbox-user-2").await;
    assert_eq!(app.keys().await.len(), 2);
}

#[tokio::test]
async fn a_reconnect_that_ends_in_another_organisation_changes_nothing() {
    let sandbox = lexoffice_sandbox().await;
    let app = App::start(&sandbox, "lexoffice", with_success_path).await;
    connect_as(&app, &sandbox, "/connect/lexoffice", "sandbox-user-1").await;
    let before = app.tokens(&format!("lexoffice:{ORG_1}")).await;

    let (_, resp) = connect_as(
        &app,
        &sandbox,
        &format!("/connect/lexoffice?connection={ORG_1}"),
        "sandbox-user-2",
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("different organisation"));
    assert_eq!(app.keys().await, vec![format!("lexoffice:{ORG_1}")]);
    let after = app.tokens(&format!("lexoffice:{ORG_1}")).await;
    assert_eq!(before.access_token.secret(), after.access_token.secret());
}

#[tokio::test]
async fn a_replayed_callback_is_refused_and_stores_nothing() {
    let sandbox = lexoffice_sandbox().await;
    let app = App::start(&sandbox, "lexoffice", with_success_path).await;
    let (callback, resp) = connect_as(&app, &sandbox, "/connect/lexoffice", "sandbox-user-1").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let before = app.tokens(&format!("lexoffice:{ORG_1}")).await;

    let replay = app.get(&callback).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(replay.headers()["cache-control"], "no-store");
    let page = replay.text().await.unwrap();
    assert!(page.contains("already used"), "{page}");
    assert_eq!(app.keys().await.len(), 1);
    let after = app.tokens(&format!("lexoffice:{ORG_1}")).await;
    assert_eq!(before.access_token.secret(), after.access_token.secret());
}

#[tokio::test]
async fn an_unknown_or_forged_state_is_refused() {
    let sandbox = lexoffice_sandbox().await;
    let app = App::start(&sandbox, "lexoffice", with_success_path).await;

    for query in [
        "/callback?code=abc&state=forged",
        "/callback?code=abc",
        "/callback",
        "/callback?code=abc&state=a&state=b",
    ] {
        let resp = app.get(query).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(resp
            .text()
            .await
            .unwrap()
            .contains("Start connecting again"));
    }

    // A genuine login is waiting: a forged state beside it neither completes nor spends
    // it, and the real callback then still works.
    let authorize = app.start_connect("/connect/lexoffice").await;
    let callback = consent(&app, &sandbox, &authorize, Some("sandbox-user-1")).await;
    let code = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let forged = app
        .get(&format!("/callback?code={code}&state=forged-state"))
        .await;
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert!(app.keys().await.is_empty());
    let real = app.get(&callback).await;
    assert_eq!(real.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.keys().await.len(), 1);

    // An unknown provider has no route to start.
    assert_eq!(
        app.get("/connect/nowhere").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_provider_error_answers_400_without_secrets() {
    let sandbox = lexoffice_sandbox().await;
    let app = App::start(&sandbox, "lexoffice", with_success_path).await;
    let authorize = app.start_connect("/connect/lexoffice").await;
    let callback = consent(&app, &sandbox, &authorize, None).await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    let state = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();

    let resp = app.get(&callback).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let page = resp.text().await.unwrap();
    assert!(page.contains("access_denied"), "{page}");
    assert!(page.contains("Nothing was connected"), "{page}");
    for secret in [state.as_str(), DEFAULT_CLIENT_SECRET] {
        assert!(!page.contains(secret), "the page shows a secret: {page}");
    }
    assert!(app.keys().await.is_empty());
    // The failed login was spent: its state does not work again.
    assert_eq!(app.get(&callback).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_return_parameter_is_followed_only_within_the_app() {
    let sandbox = lexoffice_sandbox().await;
    let app = App::start(&sandbox, "lexoffice", with_success_path).await;
    let expected = format!("/connections?connection=lexoffice%3A{ORG_1}");
    for evil in [
        "https://evil.example/steal",
        "//evil.example/steal",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return", evil)
            .finish();
        let (_, resp) = connect_as(
            &app,
            &sandbox,
            &format!("/connect/lexoffice?{query}"),
            "sandbox-user-1",
        )
        .await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{evil}");
        assert_eq!(location(&resp), expected, "{evil} was not ignored");
    }
    let (_, resp) = connect_as(
        &app,
        &sandbox,
        "/connect/lexoffice?return=/dashboard%3Ftab%3Dall",
        "sandbox-user-1",
    )
    .await;
    assert_eq!(
        location(&resp),
        format!("/dashboard?tab=all&connection=lexoffice%3A{ORG_1}")
    );

    // Without a success path: a page, still never the foreign URL.
    let app = App::start(&sandbox, "lexoffice", |r| r).await;
    let (_, resp) = connect_as(
        &app,
        &sandbox,
        "/connect/lexoffice?return=https://evil.example/",
        "sandbox-user-2",
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("location").is_none());
    let page = resp.text().await.unwrap();
    assert!(
        page.contains(ORG_2) && !page.contains("evil.example"),
        "{page}"
    );
}

#[tokio::test]
async fn an_expired_pending_login_is_refused() {
    let sandbox = lexoffice_sandbox().await;
    let app = App::start(&sandbox, "lexoffice", |r| {
        r.pending_ttl(Duration::from_millis(200))
    })
    .await;
    let authorize = app.start_connect("/connect/lexoffice").await;
    let callback = consent(&app, &sandbox, &authorize, Some("sandbox-user-1")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resp = app.get(&callback).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(app.keys().await.is_empty());
}

/// Connects through an auto-consenting sandbox of `profile`; returns the one stored key.
async fn connect_auto(profile: SandboxProfile, provider: &str) -> (Sandbox, String) {
    let sandbox = Sandbox::builder().profile(profile).start().await.unwrap();
    let app = App::start(&sandbox, provider, |r| r).await;
    let authorize = app.start_connect(&format!("/connect/{provider}")).await;
    let callback = sandbox
        .follow_authorization(&authorize.parse().unwrap())
        .await
        .unwrap();
    let resp = app.get(&callback).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let keys = app.keys().await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let health = app.connections.list().await.unwrap()[0].health.clone();
    assert_eq!(health, Health::Active);
    (sandbox, keys[0].clone())
}

#[tokio::test]
async fn a_quickbooks_connection_is_its_realm_id() {
    let (sandbox, key) = connect_auto(SandboxProfile::QuickBooks, "quickbooks").await;
    assert!(!sandbox.realm_id().is_empty());
    assert_eq!(key, format!("quickbooks:{}", sandbox.realm_id()));
}

#[tokio::test]
async fn a_xero_connection_is_its_first_tenant() {
    let (sandbox, key) = connect_auto(SandboxProfile::Xero, "xero").await;
    let first = sandbox.tenants()[0].tenant_id.clone();
    assert_eq!(key, format!("xero:{first}"));
}
