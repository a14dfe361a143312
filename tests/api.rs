//! [`ApiClient`] against the local sandbox's lexoffice API over real HTTP (client-side
//! rate limit, 401 with one forced refresh, the server's 429), and against wiremock for
//! precise faults (a POST that gets a 5xx is never sent again, a rate-limit 500 on a GET
//! is, structured errors, default headers).

use std::time::{Duration, Instant};

use lexoffice_login::api::{ApiClient, ApiError, ApiOptions, LexofficeProfile};
use lexoffice_login::store::{MemoryStore, StoreKey};
use lexoffice_login::{Client, ManagerOptions, Settings, TokenKind, TokenManager, TokenSet};
use lexoffice_login_sandbox::{Sandbox, SandboxRoute as SbEndpoint};
use reqwest::Method;
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn start_sandbox() -> (Sandbox, Client) {
    let sandbox = Sandbox::builder().start().await.expect("sandbox starts");
    let settings = sandbox
        .settings()
        .timeouts(Duration::from_secs(2), Duration::from_secs(5))
        .build()
        .unwrap();
    let client = Client::connect(settings).await.unwrap();
    (sandbox, client)
}

/// Plays the browser and completes a login.
async fn login(client: &Client) -> TokenSet {
    lexoffice_login_sandbox::auto_consent_login(client)
        .await
        .expect("login completes")
}

/// A manager holding a fresh login, and that login.
async fn logged_in(client: &Client) -> (TokenManager<MemoryStore>, TokenSet) {
    let manager = TokenManager::new(
        client.clone(),
        MemoryStore::new(),
        StoreKey::new("sandbox", "default"),
        ManagerOptions::default(),
    );
    let tokens = login(client).await;
    manager.save_login(tokens.clone()).await.unwrap();
    (manager, tokens)
}

/// Short backoffs, so that the fault tests stay fast.
fn fast() -> ApiOptions {
    ApiOptions::default().backoff(Duration::from_millis(50), Duration::from_millis(400))
}

fn api(
    manager: &TokenManager<MemoryStore>,
    client: &Client,
    base: impl AsRef<str>,
    options: ApiOptions,
) -> ApiClient<MemoryStore> {
    ApiClient::builder(manager.clone(), base)
        .http_client(client.http_client().clone())
        .options(options)
        .build()
        .expect("api client builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_calls_stay_under_the_rate_limit() {
    let (sandbox, client) = start_sandbox().await;
    let (manager, _) = logged_in(&client).await;
    // Defaults: lexoffice's 2 requests per second, burst 2 (the sandbox's default too).
    let api = api(&manager, &client, sandbox.api_base(), ApiOptions::default());

    let n = 20;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let api = api.clone();
        tasks.push(tokio::spawn(async move { api.profile().await }));
    }
    let mut profiles: Vec<LexofficeProfile> = Vec::new();
    for t in tasks {
        profiles.push(t.await.unwrap().expect("every call succeeds"));
    }
    let elapsed = started.elapsed();
    eprintln!("{n} calls in {elapsed:?}");

    let stats = sandbox.stats();
    assert_eq!(stats.rate_limited(), 0, "no 429 from the API");
    assert_eq!(
        stats.requests(SbEndpoint::Profile),
        n,
        "one request per call"
    );
    // Two at once, then at most 2 per second.
    assert!(
        elapsed >= Duration::from_secs_f64((n as f64 - 2.0) / 2.0),
        "{elapsed:?} is faster than the API allows"
    );
    let org = &sandbox.users()[0].organization_id;
    assert!(profiles.iter().all(|p| &p.organization_id == org));
    assert!(profiles[0].company_name.is_some());
    assert!(profiles[0].created.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_access_token_is_refreshed_once_then_the_call_succeeds() {
    let (sandbox, client) = start_sandbox().await;
    let (manager, tokens) = logged_in(&client).await;
    let api = api(&manager, &client, sandbox.api_base(), fast());

    // The access token is revoked, the refresh token still works: the API answers 401.
    client.revoke(&tokens, TokenKind::Access).await.unwrap();
    let stale = manager.access_token().await.unwrap();
    assert_eq!(stale.secret(), tokens.access_token.secret());

    let value: Value = api.get_json("/profile").await.expect("the call succeeds");
    assert!(value["organizationId"].is_string());
    let stats = sandbox.stats();
    assert_eq!(stats.token_grants("refresh_token"), 1, "one forced refresh");
    assert_eq!(
        stats.requests(SbEndpoint::Profile),
        2,
        "the 401, then the retry"
    );
    let fresh = manager.access_token().await.unwrap();
    assert_ne!(fresh.secret(), tokens.access_token.secret());

    // Later calls use the new token without refreshing again.
    api.get_json::<Value>("contacts?page=0&size=5")
        .await
        .expect("contacts");
    assert_eq!(sandbox.stats().token_grants("refresh_token"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_401_says_the_login_was_refused() {
    let (_sandbox, client) = start_sandbox().await;
    let (manager, _) = logged_in(&client).await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/profile"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "Unauthorized"})))
        .expect(2)
        .mount(&server)
        .await;
    let api = api(&manager, &client, format!("{}/v1", server.uri()), fast());

    let err = api.profile().await.expect_err("refused twice");
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{err:?}");
    assert!(err.is_login_required());
    let msg = err.to_string();
    assert!(msg.contains("401") && msg.contains("log in again"), "{msg}");
}

/// Empties the sandbox's bucket for this client with raw requests.
async fn exhaust_rate_limit(sandbox: &Sandbox, token: &str) {
    let raw = reqwest::Client::new();
    for _ in 0..10 {
        let status = raw
            .get(sandbox.url("/v1/profile"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status();
        if status == 429 {
            return;
        }
    }
    panic!("the sandbox never answered 429");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_429_is_backed_off_and_retried() {
    let (sandbox, client) = start_sandbox().await;
    let (manager, tokens) = logged_in(&client).await;
    let token = tokens.access_token.secret().clone();

    // Without retries the 429 is reported.
    let impatient = api(&manager, &client, sandbox.api_base(), fast().max_retries(0));
    exhaust_rate_limit(&sandbox, &token).await;
    let before = sandbox.stats().rate_limited();
    let err = impatient.profile().await.expect_err("rate limited");
    assert!(
        matches!(err, ApiError::RateLimited { retries: 0, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("rate limit"), "{err}");
    assert_eq!(sandbox.stats().rate_limited(), before + 1);

    // With retries the call backs off until the bucket has refilled.
    let patient = api(&manager, &client, sandbox.api_base(), fast());
    exhaust_rate_limit(&sandbox, &token).await;
    let before = sandbox.stats().rate_limited();
    let profile = patient.profile().await.expect("succeeds after backing off");
    assert_eq!(profile.organization_id, sandbox.users()[0].organization_id);
    assert!(
        sandbox.stats().rate_limited() > before,
        "the API client saw at least one 429"
    );
}

async fn mock_api(client: &Client) -> (MockServer, ApiClient<MemoryStore>, TokenSet) {
    let (manager, tokens) = logged_in(client).await;
    let server = MockServer::start().await;
    let api = api(&manager, client, format!("{}/v1", server.uri()), fast());
    (server, api, tokens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_that_gets_a_5xx_is_not_sent_again() {
    let (_sandbox, client) = start_sandbox().await;
    let (server, api, _) = mock_api(&client).await;
    for (status, route) in [(500, "/v1/contacts"), (504, "/v1/vouchers")] {
        Mock::given(method("POST"))
            .and(path(route))
            .respond_with(
                ResponseTemplate::new(status).set_body_json(json!({"message": "Internal error"})),
            )
            .expect(1)
            .named(format!("POST {route} answers {status}"))
            .mount(&server)
            .await;
    }
    // Even a 500 that says "rate limit": it leaves open whether the POST was processed.
    Mock::given(method("POST"))
        .and(path("/v1/articles"))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"message": "Rate limit exceeded"})),
        )
        .expect(1)
        .mount(&server)
        .await;

    for (route, status) in [("contacts", 500), ("vouchers", 504), ("articles", 500)] {
        let err = api
            .send(Method::POST, route, Some(json!({"version": 0})))
            .await
            .expect_err("a 5xx on POST is an error");
        match &err {
            ApiError::NotRetried { status: s, .. } => assert_eq!(*s, status),
            other => panic!("{other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("may or may not have been processed"), "{msg}");
    }
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_that_gets_a_rate_limit_500_is_retried() {
    let (_sandbox, client) = start_sandbox().await;
    let (server, api, tokens) = mock_api(&client).await;
    let bearer = format!("Bearer {}", tokens.access_token.secret());
    Mock::given(method("GET"))
        .and(path("/v1/profile"))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"message": "Rate limit exceeded"})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/profile"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "organizationId": "org-1",
            "companyName": "Testfirma",
        })))
        .expect(1)
        .mount(&server)
        .await;

    let profile = api.profile().await.expect("retried after the 500");
    assert_eq!(profile.organization_id, "org-1");
    assert_eq!(profile.company_name.as_deref(), Some("Testfirma"));
    server.verify().await;

    // A 500 that is not about the rate limit is not retried, even for GET.
    Mock::given(method("GET"))
        .and(path("/v1/contacts"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"message": "Boom"})))
        .expect(1)
        .mount(&server)
        .await;
    let err = api.get_json::<Value>("contacts").await.expect_err("500");
    assert!(
        matches!(err, ApiError::Status { status: 500, .. }),
        "{err:?}"
    );
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_that_gets_a_429_is_retried_and_retry_after_is_honoured() {
    let (_sandbox, client) = start_sandbox().await;
    let (server, api, _) = mock_api(&client).await;
    Mock::given(method("POST"))
        .and(path("/v1/contacts"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"message": "Rate limit exceeded"})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/contacts"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "c-1", "resourceUri": "x", "version": 0})),
        )
        .expect(1)
        .mount(&server)
        .await;

    let started = Instant::now();
    let resp = api
        .send(Method::POST, "/contacts", Some(json!({"version": 0})))
        .await
        .expect("a 429 was refused before processing: sent again");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.value().unwrap()["id"], "c-1");
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structured_errors_and_default_headers() {
    let (_sandbox, client) = start_sandbox().await;
    let (manager, tokens) = logged_in(&client).await;
    let server = MockServer::start().await;
    let options = fast()
        .default_header("X-DATEV-Client-Id", "datev-client")
        .default_header("xero-tenant-id", "tenant-1");
    let api = api(&manager, &client, format!("{}/v1/", server.uri()), options);
    Mock::given(method("POST"))
        .and(path("/v1/contacts"))
        .and(header("x-datev-client-id", "datev-client"))
        .and(header("xero-tenant-id", "tenant-1"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(406).set_body_json(json!({
            "timestamp": "2024-01-01T10:00:00.000+01:00",
            "status": 406,
            "error": "Not Acceptable",
            "path": "/v1/contacts",
            "traceId": "trace-42",
            "message": "Validation failed for request.",
            "details": [
                {"violation": "NOTNULL", "field": "company.name", "message": "darf nicht leer sein"}
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;

    let err = api
        .send(Method::POST, "contacts", Some(json!({"version": 0})))
        .await
        .expect_err("406");
    let msg = err.to_string();
    assert!(msg.contains("HTTP 406"), "{msg}");
    assert!(msg.contains("Validation failed for request."), "{msg}");
    assert!(msg.contains("company.name: darf nicht leer sein"), "{msg}");
    match &err {
        ApiError::Status {
            trace_id, details, ..
        } => {
            assert_eq!(trace_id.as_deref(), Some("trace-42"));
            assert_eq!(details[0].field.as_deref(), Some("company.name"));
            assert_eq!(details[0].violation.as_deref(), Some("NOTNULL"));
        }
        other => panic!("{other:?}"),
    }
    server.verify().await;

    // The token never leaves for another host, and never shows up in Debug or messages.
    let err = api
        .get_json::<Value>("https://evil.example/steal")
        .await
        .expect_err("absolute URLs are refused");
    assert!(matches!(err, ApiError::InvalidPath { .. }), "{err:?}");

    // Authorization cannot be overridden by default headers.
    let refused = ApiClient::builder(manager.clone(), server.uri())
        .options(ApiOptions::default().default_header("Authorization", "Bearer x"))
        .build()
        .expect_err("Authorization is refused");
    assert!(matches!(refused, ApiError::Config(_)), "{refused:?}");
    // Plain http only to loopback.
    assert!(ApiClient::new(manager.clone(), "http://api.lexware.io/v1").is_err());

    let secret = tokens.access_token.secret();
    let debug = format!("{api:?} {err:?} {err} {refused:?}");
    assert!(!debug.contains(secret.as_str()), "{debug}");
    assert!(
        !debug.contains("datev-client"),
        "header values are not in Debug"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_in_debug_or_messages() {
    let (sandbox, client) = start_sandbox().await;
    let (manager, tokens) = logged_in(&client).await;
    let api = api(&manager, &client, sandbox.api_base(), fast());
    let resp = api.send(Method::GET, "profile", None).await.unwrap();

    // The whole login is revoked: the forced refresh fails, the user must log in again.
    client.revoke(&tokens, TokenKind::Refresh).await.unwrap();
    let err = api.profile().await.expect_err("login revoked");
    assert!(err.is_login_required(), "{err:?}");
    assert!(matches!(err, ApiError::Manager(_)), "{err:?}");

    let texts = [
        format!("{api:?}"),
        format!("{resp:?}"),
        format!("{err:?}"),
        err.to_string(),
    ];
    let secrets = [
        tokens.access_token.secret().clone(),
        tokens.refresh_token.as_ref().unwrap().secret().clone(),
    ];
    for text in &texts {
        for s in secrets.iter() {
            assert!(!text.contains(s.as_str()), "{text}");
        }
    }
    assert!(texts[0].contains("ApiClient"), "{}", texts[0]);
}

/// `ApiClient::for_provider`: the preset gives the base URL, the rate limit and the
/// error format; a provider without an API base is a configuration error.
#[tokio::test]
async fn the_provider_preset_sets_up_the_api_client() {
    use lexoffice_login_sandbox::SandboxProfile;
    let sandbox = Sandbox::builder()
        .profile(SandboxProfile::Lexoffice)
        .start()
        .await
        .unwrap();
    let client = Client::connect(sandbox.settings().build().unwrap())
        .await
        .unwrap();
    assert_eq!(
        client
            .settings()
            .api_base()
            .map(|u| u.as_str().trim_end_matches('/').to_owned()),
        Some(sandbox.api_base().as_str().trim_end_matches('/').to_owned())
    );
    let (manager, _) = logged_in(&client).await;
    let api = ApiClient::for_provider(manager, None)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(api.options().requests_per_second, 2.0);
    let profile: LexofficeProfile = api.profile().await.expect("GET /v1/profile");
    assert!(!profile.organization_id.is_empty());

    let datev = Sandbox::builder()
        .profile(SandboxProfile::Datev)
        .start()
        .await
        .unwrap();
    let settings = Settings::builder(datev.issuer(), "c", "http://127.0.0.1:1/cb")
        .client_secret("s")
        .provider(lexoffice_login::Provider::Datev)
        .build()
        .unwrap();
    let without_api = Client::new(
        Settings::builder(datev.issuer(), "c", "http://127.0.0.1:1/cb")
            .client_secret("s")
            .provider(lexoffice_login::Provider::Datev)
            .without_discovery()
            .endpoints(
                datev.url("/oauth2/authorize").to_string(),
                datev.url("/oauth2/token").to_string(),
                None,
                None,
                Some(datev.url("/oauth2/jwks").as_str()),
            )
            .build()
            .unwrap(),
    )
    .unwrap();
    assert!(settings.api_base().is_none());
    let manager = TokenManager::new(
        without_api,
        MemoryStore::new(),
        StoreKey::new("sandbox", "datev"),
        ManagerOptions::default(),
    );
    let Err(err) = ApiClient::for_provider(manager, None) else {
        panic!("an API client without an API base");
    };
    assert!(
        matches!(err, ApiError::Config(ref m) if m.contains("datev")),
        "{err}"
    );
}
