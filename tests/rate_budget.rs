//! The shared rate budget ([`PostgresRateBudget`]) against a real PostgreSQL (see
//! `tests/support/postgres.rs`) and the sandbox's lexoffice API: the GCRA statement
//! (burst, then spacing, on the database's clock), penalties seen by other replicas,
//! replicas' [`ApiClient`]s that together stay under the API's limit, and in-process
//! limiters per replica that do not.
#![cfg(feature = "postgres")]

#[path = "support/postgres.rs"]
mod pg;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lexoffice_login::api::{ApiClient, ApiOptions};
use lexoffice_login::ratelimit::{
    BudgetFuture, BudgetRate, PostgresRateBudget, RateBudget, RateBudgetError,
};
use lexoffice_login::store::{MemoryStore, PostgresStore, StoreKey};
use lexoffice_login::{Client, ManagerOptions, TokenManager, TokenSet};
use lexoffice_login_sandbox::{Sandbox, SandboxRoute as SbEndpoint};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// A pool of its own: one replica's connections.
async fn replica_pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(4)
        .connect(url)
        .await
        .expect("the test database takes connections")
}

/// A database with the schema, and its URL.
async fn migrated_database() -> String {
    let url = pg::database().await;
    let budget = PostgresRateBudget::new(
        replica_pool(&url).await,
        BudgetRate::per_second(1.0, 1).unwrap(),
    );
    budget.migrate().await.expect("the migrations run");
    budget.pool().close().await;
    url
}

/// How far the database's `tat` of `key` lies ahead of its clock.
async fn tat_ahead(pool: &PgPool, key: &str) -> Duration {
    let us: i64 = sqlx::query_scalar(
        "SELECT (extract(epoch FROM tat - clock_timestamp()) * 1000000)::bigint
         FROM lexoffice_login_rate_budget WHERE key = $1",
    )
    .bind(key)
    .fetch_one(pool)
    .await
    .unwrap();
    Duration::from_micros(us.max(0) as u64)
}

fn close(actual: Duration, expected: Duration, slack: Duration) -> bool {
    actual <= expected && actual + slack >= expected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statement_books_a_burst_then_spaces_requests_on_the_database_clock() {
    let url = migrated_database().await;
    let t = Duration::from_millis(200);
    let budget = PostgresRateBudget::new(replica_pool(&url).await, BudgetRate::new(t, 3).unwrap());
    let started = Instant::now();
    let mut waits = Vec::new();
    for _ in 0..6 {
        waits.push(budget.reserve("conn-a").await.unwrap());
    }
    let took = started.elapsed();
    eprintln!("waits {waits:?} (booked in {took:?})");
    // Each wait is counted from its own statement, up to `took` after the first.
    let slack = took + Duration::from_millis(20);
    // The burst of 3 goes at once, then one every 200 ms.
    assert_eq!(&waits[..3], &[Duration::ZERO; 3]);
    for (i, wait) in waits[3..].iter().enumerate() {
        let expected = t * (i as u32 + 1);
        assert!(
            close(*wait, expected, slack),
            "request {}: {wait:?}, expected ≈ {expected:?}",
            i + 4
        );
    }
    // tat = start + 6·T on the database's clock.
    let ahead = tat_ahead(budget.pool(), "conn-a").await;
    let slack = started.elapsed() + Duration::from_millis(20);
    assert!(close(ahead, t * 6, slack), "tat is {ahead:?} ahead");

    // Another key has a budget of its own.
    assert_eq!(budget.reserve("conn-b").await.unwrap(), Duration::ZERO);

    // After the budget has refilled, a whole burst goes again.
    tokio::time::sleep(t * 6).await;
    for _ in 0..3 {
        assert_eq!(budget.reserve("conn-a").await.unwrap(), Duration::ZERO);
    }
    assert!(budget.reserve("conn-a").await.unwrap() > Duration::ZERO);
    assert_eq!(budget.prune(Duration::from_secs(3600)).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_penalty_makes_every_replica_wait() {
    let url = migrated_database().await;
    let rate = BudgetRate::new(Duration::from_millis(100), 2).unwrap();
    let a = PostgresRateBudget::new(replica_pool(&url).await, rate);
    let b = PostgresRateBudget::new(replica_pool(&url).await, rate);

    // Replica A got a 429 with `Retry-After: 1`.
    let penalized = Instant::now();
    a.penalize("conn", Duration::from_secs(1)).await.unwrap();
    // Replica B's next request waits for it, its next one interval more: the burst is gone.
    let wait = b.reserve("conn").await.unwrap();
    let next = b.reserve("conn").await.unwrap();
    let slack = penalized.elapsed() + Duration::from_millis(20);
    eprintln!("after a 1 s penalty: waits {wait:?}, {next:?}");
    assert!(close(wait, Duration::from_secs(1), slack), "{wait:?}");
    assert!(close(next, Duration::from_millis(1100), slack), "{next:?}");
    // acquire() sleeps it.
    let started = Instant::now();
    b.acquire("conn").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1100),
        "{:?}",
        started.elapsed()
    );
    // A shorter penalty does not shorten a longer one; other keys are not affected.
    let before = tat_ahead(b.pool(), "conn").await;
    a.penalize("conn", Duration::from_millis(10)).await.unwrap();
    let after = tat_ahead(b.pool(), "conn").await;
    assert!(
        after + Duration::from_millis(20) >= before,
        "{before:?} became {after:?}"
    );
    assert_eq!(b.reserve("other").await.unwrap(), Duration::ZERO);
}

async fn start_sandbox(rate: u32) -> (Sandbox, Client, TokenSet) {
    let sandbox = Sandbox::builder()
        .rate_limit_per_second(rate)
        .start()
        .await
        .expect("sandbox starts");
    let settings = sandbox
        .settings()
        .timeouts(Duration::from_secs(2), Duration::from_secs(5))
        .build()
        .unwrap();
    let client = Client::connect(settings).await.unwrap();
    let tokens = lexoffice_login_sandbox::auto_consent_login(&client)
        .await
        .expect("login completes");
    (sandbox, client, tokens)
}

/// One replica's view of the connection: its own token manager holding the login.
async fn replica_manager(client: &Client, tokens: &TokenSet) -> TokenManager<MemoryStore> {
    let manager = TokenManager::new(
        client.clone(),
        MemoryStore::new(),
        StoreKey::new("sandbox", "customer-1"),
        ManagerOptions::default(),
    );
    manager.save_login(tokens.clone()).await.unwrap();
    manager
}

/// Sends `n` concurrent `GET /profile`, round robin over the replicas; returns the
/// failures and the time taken.
async fn spread_calls(replicas: &[ApiClient<MemoryStore>], n: usize) -> (usize, Duration) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let api = replicas[i % replicas.len()].clone();
            tokio::spawn(async move { api.profile().await })
        })
        .collect();
    let mut failed = 0;
    for t in tasks {
        if let Err(e) = t.await.unwrap() {
            eprintln!("call failed: {e}");
            failed += 1;
        }
    }
    (failed, started.elapsed())
}

/// The sandbox's limit for the replica tests: 5 per second, burst 5 (lexoffice's 2 would
/// make them take 10 s each; the arithmetic is the same).
const SANDBOX_RATE: u32 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_a_postgres_budget_stay_under_the_api_limit() {
    let url = migrated_database().await;
    let (sandbox, client, tokens) = start_sandbox(SANDBOX_RATE).await;
    let options = ApiOptions::default().rate_limit(f64::from(SANDBOX_RATE), SANDBOX_RATE);
    let rate = options.budget_rate().unwrap();
    let key = PostgresStore::connection_id(&StoreKey::new("sandbox", "customer-1"));

    let mut replicas = Vec::new();
    for _ in 0..3 {
        let budget = Arc::new(PostgresRateBudget::new(replica_pool(&url).await, rate));
        let manager = replica_manager(&client, &tokens).await;
        replicas.push(
            ApiClient::builder(manager, sandbox.api_base())
                .http_client(client.http_client().clone())
                .options(options.clone())
                .rate_budget(budget, key.clone())
                .build()
                .unwrap(),
        );
    }

    let n = 20;
    let (failed, elapsed) = spread_calls(&replicas, n).await;
    let stats = sandbox.stats();
    eprintln!(
        "3 replicas, shared budget: {n} calls in {elapsed:?}, {} × 429",
        stats.rate_limited()
    );
    assert_eq!(failed, 0);
    assert_eq!(stats.rate_limited(), 0, "no 429 from the API");
    assert_eq!(
        stats.requests(SbEndpoint::Profile),
        n as u64,
        "one request per call"
    );
    // A burst of 5, then 15 at 4.5 per second: 3.33 s; never faster than the API allows.
    let floor = rate.emission_interval() * (n as u32 - SANDBOX_RATE);
    assert!(
        elapsed + Duration::from_millis(100) >= floor,
        "{elapsed:?} is faster than the budget ({floor:?})"
    );
    assert!(
        elapsed < floor + Duration::from_secs(3),
        "{elapsed:?}: the replicas queued too long"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_with_limiters_of_their_own_exceed_the_api_limit() {
    let (sandbox, client, tokens) = start_sandbox(SANDBOX_RATE).await;
    let options = ApiOptions::default()
        .rate_limit(f64::from(SANDBOX_RATE), SANDBOX_RATE)
        .max_retries(10)
        .backoff(Duration::from_millis(100), Duration::from_millis(400));
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let manager = replica_manager(&client, &tokens).await;
        replicas.push(
            ApiClient::builder(manager, sandbox.api_base())
                .http_client(client.http_client().clone())
                .options(options.clone())
                .build()
                .unwrap(),
        );
    }
    let n = 20;
    let (failed, elapsed) = spread_calls(&replicas, n).await;
    let limited = sandbox.stats().rate_limited();
    eprintln!(
        "3 replicas, own limiters: {n} calls in {elapsed:?}, {limited} × 429, {failed} failed"
    );
    // Each replica spends the whole burst: 15 at once against the API's 5.
    assert!(limited >= 5, "{limited} × 429");
}

/// A budget that counts penalties, around another (the trait is implementable outside
/// the crate and used as `Arc<dyn RateBudget>`).
#[derive(Debug)]
struct Counting {
    inner: PostgresRateBudget,
    penalties: AtomicUsize,
}

impl RateBudget for Counting {
    fn acquire<'a>(&'a self, key: &'a str) -> BudgetFuture<'a, Result<(), RateBudgetError>> {
        self.inner.acquire(key)
    }

    fn penalize<'a>(
        &'a self,
        key: &'a str,
        retry_after: Duration,
    ) -> BudgetFuture<'a, Result<(), RateBudgetError>> {
        self.penalties.fetch_add(1, Ordering::SeqCst);
        self.inner.penalize(key, retry_after)
    }

    fn rate(&self) -> BudgetRate {
        self.inner.rate()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_penalizes_the_shared_budget_for_every_replica() {
    let url = migrated_database().await;
    // lexoffice's limit: 2 per second, burst 2.
    let (sandbox, client, tokens) = start_sandbox(2).await;
    let options = ApiOptions::default();
    let rate = options.budget_rate().unwrap();
    let key = "sandbox/customer-1";

    // Someone outside the budget (another app of the same client) empties the API's bucket.
    let outsider = ApiClient::builder(replica_manager(&client, &tokens).await, sandbox.api_base())
        .http_client(client.http_client().clone())
        .build()
        .unwrap();
    outsider.profile().await.unwrap();
    outsider.profile().await.unwrap();

    let budget = Arc::new(Counting {
        inner: PostgresRateBudget::new(replica_pool(&url).await, rate),
        penalties: AtomicUsize::new(0),
    });
    let replica = ApiClient::builder(replica_manager(&client, &tokens).await, sandbox.api_base())
        .http_client(client.http_client().clone())
        .rate_budget(budget.clone(), key)
        .build()
        .unwrap();
    replica
        .profile()
        .await
        .expect("the call succeeds after backing off");
    assert!(sandbox.stats().rate_limited() >= 1, "the API answered 429");
    assert!(
        budget.penalties.load(Ordering::SeqCst) >= 1,
        "the 429 penalized the budget"
    );
}
