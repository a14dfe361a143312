//! Partner apps on several replicas: real OS processes, each with its own
//! [`Connections`] registry and its own pools on one PostgreSQL, against the sandbox with
//! refresh-token rotation and reuse detection (a refresh token presented twice revokes
//! the login).
//!
//! - **Replica race**: 3 replicas × 200 connections × 20 concurrent callers each: exactly
//!   one refresh per connection, no refused refresh, every caller gets a live token; then
//!   every replica calls the API once per connection through the rate budget they share
//!   in PostgreSQL: no `429`.
//! - **Replica killed**: a replica refreshing in a loop is killed (SIGKILL) at random
//!   moments; afterwards every connection either works, or (where the provider rotated
//!   the token and the replica died before storing it, with no grace period) is marked as
//!   needing re-consent — never silently broken.
//!
//! The replicas are this test binary, re-executed with `--exact replica_worker` and
//! [`CHILD_ENV`]; in a normal run `replica_worker` returns at once.
#![cfg(feature = "postgres")]

#[path = "support/postgres.rs"]
mod pg;

#[path = "support/child_process.rs"]
mod child_process;

use child_process::{child_command, env, ChildProcess};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use lexoffice_login::api::ApiClient;
use lexoffice_login::connections::{Connections, Health};
use lexoffice_login::ratelimit::{BudgetRate, PostgresRateBudget, RateBudget};
use lexoffice_login::store::{EncryptionKey, PostgresStore, StoreKey, TokenStore};
use lexoffice_login::{Client, ErrorKind, ManagerOptions, Settings, TokenManager, TokenSet};
use lexoffice_login_sandbox::{Sandbox, SandboxBuilder};

const CHILD_ENV: &str = "LL_REPLICA";
const CHILD_TEST: &str = "replica_worker";
const SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "profile.read"];
/// Requests a second the sandbox's API allows the client, and the shared budget's rate.
const API_RATE: f64 = 100.0;

fn store_key() -> EncryptionKey {
    EncryptionKey::from_bytes([9u8; 32])
}

fn connection(i: usize) -> StoreKey {
    StoreKey::new("sandbox", format!("customer-{i:04}"))
}

fn settings(issuer: &str, client_id: &str, secret: &str, redirect: &str) -> Settings {
    Settings::builder(issuer, client_id, redirect)
        .client_secret(secret)
        .scopes(SCOPES)
        .timeouts(Duration::from_secs(10), Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn store(url: &str) -> PostgresStore {
    PostgresStore::builder()
        .database_url(url)
        .key(store_key())
        .lock_timeout(Duration::from_secs(30))
        .max_connections(8)
        .build()
        .await
        .expect("the store connects")
}

fn options() -> ManagerOptions {
    ManagerOptions::default()
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(100))
        .max_attempts(2)
}

// ---------------------------------------------------------------------------------------
// A replica.

/// A replica's work; returns at once unless [`CHILD_ENV`] is set. Prints `LL_READY`, waits
/// for a line on stdin, then:
/// - `race`: 20 concurrent `access_token()` calls on each of the N connections; prints
///   `LL_DONE <ok> <errors>`;
/// - `loop`: force-refreshes the connections one after another until killed.
#[test]
fn replica_worker() {
    child_process::run_as_child(CHILD_ENV, |mode| async move { replica_main(&mode).await });
}

async fn replica_main(mode: &str) {
    let client = Client::connect(settings(
        &env("LL_ISSUER"),
        &env("LL_CLIENT_ID"),
        &env("LL_CLIENT_SECRET"),
        &env("LL_REDIRECT"),
    ))
    .await
    .unwrap();
    let n: usize = env("LL_CONNECTIONS").parse().unwrap();
    let registry_client = client.clone();
    let registry =
        Connections::with_options(store(&env("LL_DATABASE")).await, options()).with_client(client);
    println!("LL_READY");
    child_process::wait_for_go().await;
    match mode {
        "race" => {
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..n {
                for _ in 0..20 {
                    let r = registry.clone();
                    tasks.spawn(async move { r.access_token(&connection(i)).await });
                }
            }
            let (mut ok, mut errors) = (0, 0);
            while let Some(done) = tasks.join_next().await {
                match done {
                    Ok(Ok(_)) => ok += 1,
                    Ok(Err(e)) => {
                        errors += 1;
                        eprintln!("LL_ERR {e}");
                    }
                    Err(_) => errors += 1,
                }
            }
            // The API, once per connection, through the budget every replica shares.
            let budget: Arc<dyn RateBudget> = Arc::new(PostgresRateBudget::new(
                sqlx::PgPool::connect(&env("LL_DATABASE")).await.unwrap(),
                BudgetRate::per_second(API_RATE, API_RATE as u32).unwrap(),
            ));
            let mut calls = tokio::task::JoinSet::new();
            for i in 0..n {
                let manager = TokenManager::new(
                    registry_client.clone(),
                    store(&env("LL_DATABASE")).await,
                    connection(i),
                    options(),
                );
                let api = ApiClient::builder(manager, env("LL_API_BASE"))
                    .rate_budget(budget.clone(), "the sandbox's client")
                    .build()
                    .unwrap();
                calls.spawn(async move { api.profile().await.map(drop) });
            }
            let mut api_errors = 0;
            while let Some(done) = calls.join_next().await {
                if !matches!(done, Ok(Ok(()))) {
                    api_errors += 1;
                }
            }
            println!("LL_DONE {ok} {errors} {api_errors}");
        }
        "loop" => {
            let started = Instant::now();
            let mut i = 0;
            while started.elapsed() < Duration::from_secs(20) {
                let _ = registry.force_refresh(&connection(i % n)).await;
                println!("LL_TICK");
                i += 1;
            }
        }
        other => panic!("unknown replica mode {other}"),
    }
}

// ---------------------------------------------------------------------------------------
// The parent's side.

struct Setup {
    sandbox: Sandbox,
    client: Client,
    url: String,
    store: PostgresStore,
}

impl Setup {
    /// Starts the sandbox and the database, and connects `n` customers whose access
    /// tokens have just expired.
    async fn new(builder: SandboxBuilder, n: usize) -> Setup {
        let sandbox = builder.start().await.expect("sandbox starts");
        let client = Client::connect(settings(
            sandbox.issuer(),
            sandbox.client_id(),
            sandbox.client_secret().unwrap_or_default(),
            sandbox.redirect_uri(),
        ))
        .await
        .unwrap();
        let url = pg::database().await;
        let store = store(&url).await;
        for i in 0..n {
            let tokens = sandbox.login(&client).await.expect("login");
            store.save(&connection(i), &expired(tokens)).await.unwrap();
        }
        Setup {
            sandbox,
            client,
            url,
            store,
        }
    }

    fn spawn(&self, mode: &str, n: usize) -> ChildProcess {
        let mut cmd = child_command(CHILD_TEST, CHILD_ENV, mode, &self.sandbox);
        cmd.env("LL_DATABASE", &self.url)
            .env("LL_CONNECTIONS", n.to_string())
            .env("LL_API_BASE", self.sandbox.api_base().to_string());
        ChildProcess::spawn(cmd, Stdio::piped(), Duration::from_secs(120))
    }
}

/// Obtained an hour ago, expired a second ago: the next call refreshes.
fn expired(mut tokens: TokenSet) -> TokenSet {
    tokens.obtained_at = Utc::now() - chrono::Duration::hours(1);
    tokens.expires_at = Some(Utc::now() - chrono::Duration::seconds(1));
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_two_hundred_connections_one_refresh_each() {
    let n = 200;
    // The sandbox's API allows API_RATE requests a second per client, as the budget.
    let setup = Setup::new(Sandbox::builder().rate_limit_per_second(API_RATE as u32), n).await;
    let before = setup.sandbox.stats().token_grants("refresh_token");
    let mut replicas: Vec<ChildProcess> = (0..3).map(|_| setup.spawn("race", n)).collect();
    for r in &mut replicas {
        r.ready().await;
    }
    let started = Instant::now();
    for r in &mut replicas {
        r.go().await;
    }
    let mut ok = 0;
    for r in &mut replicas {
        let done = r.next_marker().await.expect("the replica reports");
        let parts: Vec<&str> = done.split_whitespace().collect();
        assert_eq!(parts.first(), Some(&"LL_DONE"), "{done}");
        let errors: usize = parts[2].parse().unwrap();
        assert_eq!(errors, 0, "no caller got an error: {done}");
        let api_errors: usize = parts[3].parse().unwrap();
        assert_eq!(api_errors, 0, "every API call succeeded: {done}");
        ok += parts[1].parse::<usize>().unwrap();
    }
    let elapsed = started.elapsed();
    for mut r in replicas {
        assert!(r.child.wait().await.unwrap().success());
    }
    assert_eq!(ok, 3 * n * 20, "every caller got a token");
    let stats = setup.sandbox.stats();
    assert_eq!(
        stats.token_grants("refresh_token") - before,
        n as u64,
        "exactly one refresh per connection"
    );
    assert_eq!(
        stats.refresh_reuse_detected(),
        0,
        "no refresh token used twice"
    );
    for i in 0..n {
        let stored = setup.store.load(&connection(i)).await.unwrap().unwrap();
        let rt = stored.refresh_token.unwrap();
        assert!(setup.sandbox.introspect(rt.secret()).unwrap().active, "{i}");
    }
    eprintln!(
        "replica race: 3 replicas x {n} connections x 20 callers = {} calls, {} refreshes, {} API calls, {} x 429, {:?}",
        3 * n * 20,
        n,
        3 * n,
        stats.rate_limited(),
        elapsed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_never_leaves_a_connection_silently_broken() {
    let n = 10;
    // No grace period: a refresh token the provider replaced is refused at once.
    let setup = Setup::new(Sandbox::builder().refresh_grace_period(Duration::ZERO), n).await;
    for round in 0..4 {
        let mut replica = setup.spawn("loop", n);
        replica.ready().await;
        replica.go().await;
        // Let it refresh a while, then kill it wherever it is.
        for _ in 0..(3 + round * 2) {
            replica.next_marker().await;
        }
        replica.child.start_kill().unwrap();
        replica.child.wait().await.unwrap();
    }
    // A fresh replica looks at every connection.
    let registry = Connections::with_options(store(&setup.url).await, options())
        .with_client(setup.client.clone());
    let (mut working, mut reconsent) = (0, 0);
    for i in 0..n {
        match registry.force_refresh(&connection(i)).await {
            Ok(token) => {
                assert!(setup.sandbox.introspect(token.secret()).unwrap().active);
                assert_eq!(registry.health(&connection(i)), Health::Active);
                working += 1;
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::LoginRequired, "{e}");
                assert!(matches!(
                    registry.health(&connection(i)),
                    Health::NeedsReconsent { .. }
                ));
                reconsent += 1;
            }
        }
    }
    assert_eq!(working + reconsent, n);
    // The store itself was never damaged: every row decrypts.
    for i in 0..n {
        assert!(setup.store.load(&connection(i)).await.unwrap().is_some());
    }
    eprintln!("replica killed 4 times: {working} connections work, {reconsent} need re-consent");
}

/// PostgreSQL restarted in the middle of a run: callers get a clear store error while it
/// is down, and the same registry recovers once it is back, with no connection lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_gives_clear_errors_and_then_recovers() {
    let server = Arc::new(pg::throwaway());
    let sandbox = Sandbox::builder().start().await.expect("sandbox starts");
    let client = Client::connect(settings(
        sandbox.issuer(),
        sandbox.client_id(),
        sandbox.client_secret().unwrap_or_default(),
        sandbox.redirect_uri(),
    ))
    .await
    .unwrap();
    let mut url = url::Url::parse(&server.admin_url).unwrap();
    url.set_path("/postgres");
    let store = store(url.as_str()).await;
    let registry = Connections::with_options(store.clone(), options()).with_client(client.clone());
    let n = 5;
    for i in 0..n {
        let tokens = sandbox.login(&client).await.unwrap();
        registry
            .save(&connection(i), &expired(tokens))
            .await
            .unwrap();
    }
    registry
        .access_token(&connection(0))
        .await
        .expect("works before");

    // Callers keep asking while the server restarts.
    let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut callers = tokio::task::JoinSet::new();
    for i in 0..n {
        let r = registry.clone();
        let running = running.clone();
        callers.spawn(async move {
            let mut kinds = Vec::new();
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                match r.force_refresh(&connection(i)).await {
                    Ok(_) => kinds.push(None),
                    Err(e) => {
                        assert!(
                            !e.to_string().contains("token_set"),
                            "no SQL internals in the message: {e}"
                        );
                        kinds.push(Some(e.kind()));
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            kinds
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let restarting = server.clone();
    tokio::task::spawn_blocking(move || restarting.restart())
        .await
        .unwrap()
        .expect("pg_ctl restart");
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut failures = 0;
    while let Some(kinds) = callers.join_next().await {
        for kind in kinds.unwrap().into_iter().flatten() {
            assert!(
                matches!(kind, ErrorKind::Store | ErrorKind::ProviderUnavailable),
                "a failure while the database is down is a store error: {kind:?}"
            );
            failures += 1;
        }
    }
    // Back: every connection works again from the same registry, none was lost.
    for i in 0..n {
        let token = registry
            .access_token(&connection(i))
            .await
            .expect("recovers");
        assert!(sandbox.introspect(token.secret()).unwrap().active, "{i}");
    }
    eprintln!("database restart: {failures} calls failed while it was down, all recovered");
}
