//! Partner apps at scale: 10,000 connections in PostgreSQL against the sandbox.
//!
//! Measures, in one run:
//! - the time of one proactive-refresh sweep over 10,000 due connections, and its
//!   refreshes per second;
//! - the database statements per refresh (every statement sqlx runs is counted through
//!   its `sqlx::query` tracing events);
//! - `access_token()` on a cached fresh token through the registry, next to the
//!   single-login `TokenManager` (medians over many calls).
//!
//! ```sh
//! cargo bench --bench connections --features postgres            # 10,000 connections
//! CONNECTIONS=1000 cargo bench --bench connections --features postgres
//! ```
//!
//! PostgreSQL: `DATABASE_URL` when set, else a throwaway cluster from the machine's
//! server binaries (as the tests do).

#[path = "../tests/support/postgres.rs"]
mod pg;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lexoffice_login::connections::{Connections, SweepOptions};
use lexoffice_login::store::{EncryptionKey, MemoryStore, PostgresStore, StoreKey, TokenStore};
use lexoffice_login::{Client, FixedClock, ManagerOptions, Settings, TokenManager};
use lexoffice_login_sandbox::Sandbox;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Counts the statements sqlx runs.
struct CountStatements(Arc<AtomicU64>);

impl<S: tracing::Subscriber> Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let statements = Arc::new(AtomicU64::new(0));
    let filter = tracing_subscriber::filter::Targets::new()
        .with_target("sqlx::query", tracing::Level::DEBUG);
    let subscriber = tracing_subscriber::registry()
        .with(CountStatements(statements.clone()).with_filter(filter));
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber");

    let n: usize = std::env::var("CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(n, statements));
}

async fn run(n: usize, statements: Arc<AtomicU64>) {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let clock = FixedClock::at_now();
    let settings = Settings::builder(
        sandbox.issuer(),
        sandbox.client_id(),
        sandbox.redirect_uri(),
    )
    .client_secret(sandbox.client_secret().unwrap_or_default())
    .scopes(["openid", "offline_access", "profile.read"])
    .build()
    .unwrap();
    let client = Client::connect(settings)
        .await
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    let url = pg::database().await;
    let store = PostgresStore::builder()
        .database_url(&url)
        .key(EncryptionKey::from_bytes([3u8; 32]))
        .max_connections(16)
        .build()
        .await
        .unwrap();
    let registry = Connections::with_options(store.clone(), ManagerOptions::default())
        .with_client(client.clone());

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(32));
    for i in 0..n {
        let (sandbox_client, registry, limit) = (client.clone(), registry.clone(), limit.clone());
        let login = sandbox.login(&sandbox_client).await.unwrap();
        tasks.spawn(async move {
            let _slot = limit.acquire_owned().await;
            registry
                .save(&StoreKey::new("bench", format!("customer-{i:05}")), &login)
                .await
                .unwrap();
        });
    }
    while tasks.join_next().await.is_some() {}
    println!(
        "connections: {n} logged in and stored in {:.1?}",
        started.elapsed()
    );

    // access_token() on a cached fresh token: the registry next to one TokenManager.
    let key = StoreKey::new("bench", "customer-00000");
    registry.access_token(&key).await.unwrap();
    let mut per_call = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        for _ in 0..1000 {
            registry.access_token(&key).await.unwrap();
        }
        per_call.push(t.elapsed() / 1000);
    }
    let registry_median = median(per_call);
    let single = TokenManager::new(
        client.clone(),
        MemoryStore::new(),
        StoreKey::new("bench", "single"),
        ManagerOptions::default(),
    );
    single
        .save_login(sandbox.login(&client).await.unwrap())
        .await
        .unwrap();
    single.access_token().await.unwrap();
    let mut per_call = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        for _ in 0..1000 {
            single.access_token().await.unwrap();
        }
        per_call.push(t.elapsed() / 1000);
    }
    let single_median = median(per_call);
    println!(
        "access_token (cached, fresh): registry {registry_median:?}, TokenManager {single_median:?} (median of 200 x 1000 calls)"
    );

    // One sweep over every connection, all due (8 days idle).
    clock.advance(Duration::from_secs(8 * 86_400));
    sandbox.set_clock_offset(8 * 86_400);
    let sweep = SweepOptions::default()
        .jitter(Duration::ZERO)
        .concurrency(16);
    let before = statements.load(Ordering::Relaxed);
    let grants_before = sandbox.stats().token_grants("refresh_token");
    let started = Instant::now();
    let report = registry.refresh_due(&sweep).await.unwrap();
    let took = started.elapsed();
    let counted = statements.load(Ordering::Relaxed) - before;
    let grants = sandbox.stats().token_grants("refresh_token") - grants_before;
    assert_eq!(report.refreshed as u64, grants, "{report:?}");
    println!(
        "sweep: {} checked, {} refreshed, {} failed in {took:.1?} ({:.0} refreshes/s)",
        report.checked,
        report.refreshed,
        report.failed,
        report.refreshed as f64 / took.as_secs_f64()
    );
    println!(
        "statements: {counted} in the sweep, {:.1} per refreshed connection (listing and loading included)",
        counted as f64 / report.refreshed.max(1) as f64
    );
    let stored = store.load(&key).await.unwrap().unwrap();
    assert!(
        sandbox
            .introspect(stored.refresh_token.unwrap().secret())
            .unwrap()
            .active
    );
}
