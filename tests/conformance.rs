//! The conformance matrix: every provider preset × {login, ID-token check, refresh,
//! rotation race, revoke, API call with the provider's headers}, each against the
//! sandbox profile that behaves like that provider, over real HTTP.
//!
//! The README's table is checked against the matrix these tests produce, so it cannot
//! drift: run with `UPDATE_README=1` to rewrite it after a deliberate change.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use lexoffice_login::api::{ApiClient, ApiOptions};
use lexoffice_login::providers::Provider;
use lexoffice_login::store::{MemoryStore, StoreKey};
use lexoffice_login::{Client, ManagerOptions, TokenManager, TokenSet};
use lexoffice_login_sandbox::{Sandbox, SandboxProfile};

const STEPS: [&str; 6] = [
    "login",
    "ID token",
    "refresh",
    "rotation race",
    "API call (provider headers)",
    "revoke",
];

/// Results of every provider's run, for the README check.
fn results() -> &'static Mutex<BTreeMap<&'static str, Vec<&'static str>>> {
    static R: OnceLock<Mutex<BTreeMap<&'static str, Vec<&'static str>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

fn profile_for(provider: Provider) -> SandboxProfile {
    match provider {
        Provider::Lexoffice => SandboxProfile::Lexoffice,
        Provider::Datev => SandboxProfile::Datev,
        Provider::Xero => SandboxProfile::Xero,
        Provider::QuickBooks => SandboxProfile::QuickBooks,
    }
}

/// The API base and a read-only path of the provider's API in the sandbox.
fn api_call(provider: Provider, sandbox: &Sandbox, tokens: &TokenSet) -> (String, String) {
    match provider {
        Provider::Lexoffice => (sandbox.url("/v1").to_string(), "profile".into()),
        Provider::Datev => (
            sandbox.endpoint_url("/").to_string(),
            "datev/api/clients".into(),
        ),
        Provider::Xero => (
            sandbox.endpoint_url("/").to_string(),
            "api.xro/2.0/Organisation".into(),
        ),
        Provider::QuickBooks => {
            let realm = tokens
                .extra("realmId")
                .and_then(|v| v.as_str())
                .expect("the QuickBooks redirect's realmId is kept")
                .to_owned();
            (
                sandbox.endpoint_url("/").to_string(),
                format!("v3/company/{realm}/companyinfo/{realm}"),
            )
        }
    }
}

async fn run(provider: Provider) {
    let sandbox = Sandbox::builder()
        .profile(profile_for(provider))
        .start()
        .await
        .expect("sandbox starts");
    let mut settings = sandbox
        .settings()
        .provider(provider)
        .timeouts(Duration::from_secs(5), Duration::from_secs(5));
    if provider == Provider::Xero {
        settings = settings.tenants_endpoint(sandbox.endpoint_url("/connections").to_string());
    }
    let settings = settings.build().expect("settings");
    assert_eq!(settings.provider(), Some(provider));
    let client = Client::connect(settings).await.expect("discovery");
    let mut row = Vec::new();

    // login, and the preset's quirks took effect on the way
    let tokens = sandbox.login(&client).await.expect("login");
    let quirks = &client.settings().quirks();
    for name in &quirks.callback_params {
        assert!(
            tokens.extra(name).is_some(),
            "{provider}: the redirect's {name} is kept"
        );
    }
    if !quirks.token_request_headers.is_empty() {
        assert!(
            tokens.extra("x_refresh_token_hard_expires_in").is_some(),
            "{provider}: the token request headers were sent"
        );
    }
    for name in client.settings().extra_authorize_params().keys() {
        assert!(
            sandbox.stats().authorize_params_seen(name) >= 1,
            "{provider}: {name} reached the authorization endpoint"
        );
    }
    row.push("✓");

    // ID token
    match tokens.id_token_claims() {
        Some(claims) => {
            assert!(!claims.sub.is_empty());
            assert!(claims
                .aud
                .iter()
                .any(|a| a == client.settings().client_id().as_str()));
            row.push("✓");
        }
        None => {
            assert_eq!(
                provider,
                Provider::Lexoffice,
                "only lexoffice has no ID token"
            );
            row.push("—");
        }
    }

    // refresh
    let refreshed = client.refresh(&tokens).await.expect("refresh");
    row.push("✓");

    // rotation race: 50 tasks at expiry, one refresh, nobody gets invalid_grant
    let before = sandbox.stats().token_grants("refresh_token");
    let manager = TokenManager::new(
        client.clone(),
        MemoryStore::new(),
        StoreKey::new("conformance", provider.name()),
        ManagerOptions::default(),
    );
    let mut expiring = refreshed.clone();
    expiring.expires_at = Some(chrono::Utc::now());
    manager.save_login(expiring).await.expect("stored");
    let manager = Arc::new(manager);
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let m = manager.clone();
            tokio::spawn(async move { m.access_token().await })
        })
        .collect();
    for h in handles {
        h.await
            .expect("task")
            .expect("a fresh token for every task");
    }
    assert_eq!(
        sandbox.stats().token_grants("refresh_token") - before,
        1,
        "{provider}: one refresh for 50 tasks"
    );
    row.push("✓");

    // API call with the provider's headers
    let current = manager.current().expect("a login");
    let tenant = match &client.settings().quirks().tenants {
        Some(_) => {
            let tenants = client.tenants(&current).await.expect("tenants");
            Some(tenants.first().expect("at least one tenant").id.clone())
        }
        None => None,
    };
    let mut options = ApiOptions::default();
    for (name, value) in client.api_headers(tenant.as_deref()).expect("headers") {
        options = options.default_header(name, value);
    }
    let (base, path) = api_call(provider, &sandbox, &current);
    let api = ApiClient::builder((*manager).clone(), base)
        .http_client(client.http_client().clone())
        .options(options)
        .build()
        .expect("API client");
    let body: serde_json::Value = api.get_json(&path).await.expect("API call");
    assert!(!body.is_null());
    row.push("✓");

    // revoke, then the refresh token is refused
    let latest = manager.current().expect("a login");
    client
        .revoke_refresh_token(&latest)
        .await
        .expect("revocation");
    let err = client.refresh(&latest).await.expect_err("revoked");
    assert!(err.is_invalid_grant(), "{provider}: {err}");
    row.push("✓");

    results().lock().unwrap().insert(provider.name(), row);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lexoffice() {
    run(Provider::Lexoffice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datev() {
    run(Provider::Datev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xero() {
    run(Provider::Xero).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickbooks() {
    run(Provider::QuickBooks).await;
}

/// The README's table equals the matrix. Runs the whole matrix itself (the other tests
/// may run in any order or be filtered out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_table_matches_the_matrix() {
    for p in Provider::ALL {
        if !results().lock().unwrap().contains_key(p.name()) {
            run(p).await;
        }
    }
    let results = results().lock().unwrap().clone();
    let mut table = format!("| provider | {} |\n|---|", STEPS.join(" | "));
    table.push_str(&"---|".repeat(STEPS.len()));
    table.push('\n');
    for p in Provider::ALL {
        let row = &results[p.name()];
        table.push_str(&format!("| {} | {} |\n", p.name(), row.join(" | ")));
    }

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let (start, end) = ("<!-- conformance:start -->\n", "<!-- conformance:end -->");
    let a = readme
        .find(start)
        .expect("README has the conformance markers")
        + start.len();
    let b = readme
        .find(end)
        .expect("README has the conformance end marker");
    if readme[a..b] != table {
        if std::env::var_os("UPDATE_README").is_some() {
            let updated = format!("{}{table}{}", &readme[..a], &readme[b..]);
            std::fs::write(path, updated).unwrap();
        } else {
            panic!(
                "the README's conformance table differs from the matrix; run with UPDATE_README=1 or paste:\n{table}"
            );
        }
    }
}
