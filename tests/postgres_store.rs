//! [`PostgresStore`] against a real PostgreSQL (see `tests/support/postgres.rs`: the
//! server at `DATABASE_URL`, else a throwaway cluster of the machine's binaries): the
//! round trip, ciphertext at rest, wrong keys, the refresh lock between replicas (wait,
//! timeout, a killed holder), [`TokenManager`]s on the sandbox refreshing once per
//! expiry, and three OS processes racing for one refresh.
#![cfg(feature = "postgres")]

#[path = "support/postgres.rs"]
mod pg;

#[path = "support/child_process.rs"]
mod child_process;

use child_process::{child_command, digest, env, ChildProcess};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use lexoffice_login::store::{
    ConnectionState, EncryptionKey, PostgresStore, StoreError, StoreKey, TokenStore,
};
use lexoffice_login::{
    AccessToken, Client, FixedClock, ManagerOptions, Settings, TokenManager, TokenSet,
};
use lexoffice_login_sandbox::{Sandbox, SandboxRoute as SbEndpoint};

const SCOPES: [&str; 5] = [
    "openid",
    "profile",
    "email",
    "offline_access",
    "profile.read",
];
/// Set in a child process of [`three_processes_refresh_once`].
const CHILD_ENV: &str = "LL_PG_CHILD";

fn key() -> StoreKey {
    StoreKey::new("sandbox", "default")
}

fn store_key() -> EncryptionKey {
    EncryptionKey::from_bytes([42u8; 32])
}

async fn store_at(url: &str, key: EncryptionKey, lock_timeout: Duration) -> PostgresStore {
    PostgresStore::builder()
        .database_url(url)
        .key(key)
        .lock_timeout(lock_timeout)
        .build()
        .await
        .expect("the store connects and migrates")
}

/// A store on a database of its own.
async fn fresh_store() -> (String, PostgresStore) {
    let url = pg::database().await;
    let store = store_at(&url, store_key(), Duration::from_secs(10)).await;
    (url, store)
}

/// A token set as a login makes it, without a provider.
fn tokens(access: &str, refresh: &str) -> TokenSet {
    serde_json::from_value(serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "refresh_token": refresh,
        "expires_at": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
        "scopes": "openid offline_access",
        "obtained_at": Utc::now().to_rfc3339(),
        "extras": {"realmId": "realm-7"},
    }))
    .expect("a token set")
}

async fn sealed_row(store: &PostgresStore, id: &str) -> Vec<u8> {
    sqlx::query_scalar("SELECT token_set FROM lexoffice_login_connections WHERE connection_id = $1")
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_load_delete_round_trip_and_list() {
    let (_url, store) = fresh_store().await;
    let k = key();
    assert!(store.load(&k).await.unwrap().is_none());
    store.delete(&k).await.unwrap();

    store.save(&k, &tokens("at-1", "rt-1")).await.unwrap();
    let back = store.load(&k).await.unwrap().expect("stored");
    assert_eq!(back.access_token.secret(), "at-1");
    assert_eq!(back.refresh_token.unwrap().secret(), "rt-1");

    store.save(&k, &tokens("at-2", "rt-2")).await.unwrap();
    let back = store.load(&k).await.unwrap().unwrap();
    assert_eq!(back.access_token.secret(), "at-2");

    let other = StoreKey::new("production", "customer/42");
    store.save(&other, &tokens("at-3", "rt-3")).await.unwrap();
    let list = store.list().await.unwrap();
    let ids: Vec<_> = list.iter().map(|c| c.connection_id.as_str()).collect();
    assert_eq!(ids, ["production/customer%2F42", "sandbox/default"]);
    assert_eq!(list[0].key, other);
    let keys = lexoffice_login::connections::ListStore::list(&store)
        .await
        .unwrap();
    assert_eq!(keys, [other.clone(), k.clone()]);
    assert_eq!(list[1].provider, "unknown");
    assert_eq!(list[1].tenant.as_deref(), Some("realm-7"));
    assert_eq!(list[1].state, ConnectionState::Active);
    assert!(list[1].created_at <= list[1].updated_at);

    assert!(store
        .set_state(
            &k,
            &ConnectionState::RefreshFailing,
            Some("the provider is down")
        )
        .await
        .unwrap());
    let c = store.list().await.unwrap().remove(1);
    assert_eq!(c.state, ConnectionState::RefreshFailing);
    assert_eq!(c.last_error.as_deref(), Some("the provider is down"));
    let since = c.refresh_failed_since.expect("failing since");
    store
        .set_state(&k, &ConnectionState::LoginRequired, None)
        .await
        .unwrap();
    let c = store.list().await.unwrap().remove(1);
    assert_eq!(
        c.refresh_failed_since,
        Some(since),
        "kept from the first failure"
    );
    assert!(store.set_tenant(&k, Some("acme")).await.unwrap());
    // A save makes the connection active again and keeps the tenant.
    let mut t = tokens("at-4", "rt-4");
    t.extras.clear();
    store.save(&k, &t).await.unwrap();
    let c = store.list().await.unwrap().remove(1);
    assert_eq!(c.state, ConnectionState::Active);
    assert_eq!(c.refresh_failed_since, None);
    assert_eq!(c.last_error, None);
    assert_eq!(c.tenant.as_deref(), Some("acme"));

    store.delete(&k).await.unwrap();
    assert!(store.load(&k).await.unwrap().is_none());
    assert_eq!(store.list().await.unwrap().len(), 1);
    assert!(!store
        .set_state(&k, &ConnectionState::Active, None)
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_row_holds_only_ciphertext() {
    let (_url, store) = fresh_store().await;
    let secret_at = "access-token-that-must-not-be-stored-in-clear";
    let secret_rt = "refresh-token-that-must-not-be-stored-in-clear";
    store
        .save(&key(), &tokens(secret_at, secret_rt))
        .await
        .unwrap();
    let sealed = sealed_row(&store, "sandbox/default").await;
    let whole_row: String =
        sqlx::query_scalar("SELECT row_to_json(c)::text FROM lexoffice_login_connections c")
            .fetch_one(store.pool())
            .await
            .unwrap();
    for needle in [secret_at, secret_rt, "access-token", "Bearer"] {
        assert!(
            !sealed.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} in the ciphertext"
        );
        assert!(!whole_row.contains(needle), "{needle} in the row");
    }
    // Version byte, nonce, and at least the tag.
    assert_eq!(sealed[0], 1);
    assert!(sealed.len() > 1 + 12 + 16 + secret_at.len() + secret_rt.len());
    // A fresh nonce per save.
    store
        .save(&key(), &tokens(secret_at, secret_rt))
        .await
        .unwrap();
    assert_ne!(sealed_row(&store, "sandbox/default").await, sealed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_a_decrypt_error_and_the_row_is_left_intact() {
    let (url, store) = fresh_store().await;
    store.save(&key(), &tokens("at-1", "rt-1")).await.unwrap();
    let before = sealed_row(&store, "sandbox/default").await;

    let wrong = store_at(
        &url,
        EncryptionKey::from_bytes([1u8; 32]),
        Duration::from_secs(5),
    )
    .await;
    let err = wrong.load(&key()).await.unwrap_err();
    assert!(matches!(err, StoreError::Decrypt { .. }), "{err:?}");
    assert!(err.to_string().contains("sandbox/default"), "{err}");
    assert_eq!(sealed_row(&store, "sandbox/default").await, before);
    assert_eq!(
        store
            .load(&key())
            .await
            .unwrap()
            .unwrap()
            .access_token
            .secret(),
        "at-1"
    );

    // A row moved onto another connection id does not open: the id is authenticated.
    sqlx::query(
        "INSERT INTO lexoffice_login_connections
             (connection_id, environment, profile, provider, token_set)
         SELECT 'sandbox/other', 'sandbox', 'other', provider, token_set
         FROM lexoffice_login_connections WHERE connection_id = 'sandbox/default'",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let err = store
        .load(&StoreKey::new("sandbox", "other"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Decrypt { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_required_and_migrations_run_once() {
    let url = pg::database().await;
    let err = PostgresStore::builder()
        .database_url(&url)
        .ignore_env_key()
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::EncryptionRequired), "{err:?}");

    // Replicas starting together: every build migrates, the schema is made once.
    let mut builds = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        builds.push(tokio::spawn(async move {
            store_at(&url, store_key(), Duration::from_secs(5)).await
        }));
    }
    let mut stores = Vec::new();
    for b in builds {
        stores.push(b.await.unwrap());
    }
    stores[0].migrate().await.unwrap();
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM lexoffice_login_schema_migrations")
            .fetch_all(stores[0].pool())
            .await
            .unwrap();
    assert_eq!(versions, [1, 2, 3, 4]);
}

/// Two holders: the second waits until the first drops its guard.
async fn second_holder_waits(first: PostgresStore, second: PostgresStore) {
    let guard = first.lock_refresh(&key()).await.unwrap();
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        let g = second.lock_refresh(&key()).await;
        (g, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiter.is_finished(), "the second holder waits");
    let dropped = Instant::now();
    drop(guard);
    let (g, waited) = waiter.await.unwrap();
    let _g = g.expect("the second holder gets the lock");
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    assert!(
        dropped.elapsed() < Duration::from_secs(2),
        "the lock passed on at once: {:?}",
        dropped.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_take_the_lock_in_turn() {
    let (url, a) = fresh_store().await;
    let b = store_at(&url, store_key(), Duration::from_secs(10)).await;
    second_holder_waits(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_holders_of_one_store_take_the_lock_in_turn() {
    let (_url, a) = fresh_store().await;
    second_holder_waits(a.clone(), a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holder_saves_while_it_holds_the_lock() {
    let (_url, store) = fresh_store().await;
    store.save(&key(), &tokens("at-1", "rt-1")).await.unwrap();
    let guard = store.lock_refresh(&key()).await.unwrap();
    // The row lock does not block the holder's own load, save or delete.
    let done = tokio::time::timeout(Duration::from_secs(5), async {
        store.load(&key()).await.unwrap().unwrap();
        store.save(&key(), &tokens("at-2", "rt-2")).await.unwrap();
        // Committed at once: another replica sees it before the guard is dropped.
        store.load(&key()).await.unwrap().unwrap()
    })
    .await
    .expect("no self-deadlock");
    assert_eq!(done.access_token.secret(), "at-2");
    let other = StoreKey::new("sandbox", "gone");
    let g2 = store.lock_refresh(&other).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), store.delete(&other))
        .await
        .expect("delete does not wait for the lock")
        .unwrap();
    drop((guard, g2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_timeout_is_the_typed_error() {
    let (url, a) = fresh_store().await;
    let b = store_at(&url, store_key(), Duration::from_millis(400)).await;
    let _guard = a.lock_refresh(&key()).await.unwrap();

    // Another replica: PostgreSQL's lock_timeout.
    let started = Instant::now();
    let err = b.lock_refresh(&key()).await.unwrap_err();
    let took = started.elapsed();
    match &err {
        StoreError::LockTimeout { waited, path } => {
            assert!(*waited >= Duration::from_millis(350), "{waited:?}");
            assert!(
                path.to_string_lossy().contains("sandbox/default"),
                "{path:?}"
            );
        }
        other => panic!("not a lock timeout: {other:?}"),
    }
    assert!(took < Duration::from_secs(3), "{took:?}");

    // The same replica: its in-process queue times out alike.
    drop(_guard);
    let _held_by_b = b.lock_refresh(&key()).await.unwrap();
    let err = b.lock_refresh(&key()).await.unwrap_err();
    assert!(matches!(err, StoreError::LockTimeout { .. }), "{err:?}");
    // Other connections are not held up.
    let _other = b
        .lock_refresh(&StoreKey::new("sandbox", "other"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holders_lock_is_released() {
    let (url, a) = fresh_store().await;
    let b = store_at(&url, store_key(), Duration::from_secs(20)).await;
    let guard = a.lock_refresh(&key()).await.unwrap();
    let waiter = tokio::spawn(async move {
        let g = b.lock_refresh(&key()).await;
        (g, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished());

    // The holder's session, idle in its transaction (as while a refresh is in flight).
    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity
         WHERE datname = current_database()
           AND application_name = 'lexoffice-login refresh lock'
           AND state = 'idle in transaction'",
    )
    .fetch_all(a.pool())
    .await
    .unwrap();
    assert_eq!(pids.len(), 1, "one holder: {pids:?}");
    let killed = Instant::now();
    let ok: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pids[0])
        .fetch_one(a.pool())
        .await
        .unwrap();
    assert!(ok);
    let (g, got) = waiter.await.unwrap();
    let _g = g.expect("the waiter gets the lock of the killed holder");
    assert!(
        got.duration_since(killed) < Duration::from_secs(3),
        "{:?}",
        got.duration_since(killed)
    );
    // Dropping the dead holder's guard is harmless.
    drop(guard);
    a.save(&key(), &tokens("at", "rt")).await.unwrap();
}

// ---------------------------------------------------------------------------------------
// TokenManagers on the sandbox.

async fn sandbox_client(sandbox: &Sandbox) -> Client {
    let settings = Settings::builder(
        sandbox.issuer(),
        sandbox.client_id(),
        sandbox.redirect_uri(),
    )
    .client_secret(sandbox.client_secret().unwrap_or_default())
    .scopes(SCOPES)
    .timeouts(Duration::from_secs(5), Duration::from_secs(5))
    .jwks_refetch_cooldown(Duration::ZERO)
    .build()
    .unwrap();
    Client::connect(settings).await.unwrap()
}

fn options() -> ManagerOptions {
    ManagerOptions::default()
        .retry_backoff(Duration::from_millis(10), Duration::from_millis(50))
        .failure_cooldown(Duration::from_millis(400))
}

fn active(sandbox: &Sandbox, token: &AccessToken) -> bool {
    sandbox.introspect(token.secret()).is_some_and(|i| i.active)
}

/// Rounds 59 minutes apart (inside the 120 s margin of the 1 h tokens), 40 callers a
/// round on two managers: one refresh a round, never a reused refresh token.
async fn one_refresh_per_expiry(a_store: PostgresStore, b_store: PostgresStore) {
    let sandbox = Sandbox::builder().start().await.expect("sandbox starts");
    let clock = FixedClock::at_now();
    let client = sandbox_client(&sandbox)
        .await
        .with_clock(Arc::new(clock.clone()));
    let a = TokenManager::new(client.clone(), a_store, key(), options());
    let b = TokenManager::new(client.clone(), b_store, key(), options());
    let login = lexoffice_login_sandbox::auto_consent_login(&client)
        .await
        .expect("login completes");
    a.save_login(login).await.unwrap();

    let rounds = 5u64;
    let started = Instant::now();
    for round in 1..=rounds {
        clock.advance(Duration::from_secs(59 * 60));
        sandbox.set_clock_offset(i64::try_from(round).unwrap() * 59 * 60);
        let mut tasks = Vec::new();
        for i in 0..40 {
            let m = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move { m.access_token().await }));
        }
        for t in tasks {
            let token = t.await.unwrap().expect("no refresh failure");
            assert!(active(&sandbox, &token), "every token handed out is live");
        }
        assert_eq!(
            sandbox.stats().token_grants("refresh_token"),
            round,
            "one refresh in round {round}"
        );
    }
    eprintln!("{rounds} rounds of 40 callers: {:?}", started.elapsed());
    let stats = sandbox.stats();
    assert_eq!(stats.refresh_reuse_detected(), 0);
    assert_eq!(
        stats.requests(SbEndpoint::Token) - 1,
        rounds,
        "no refused request"
    );
    let stored = a.store().load(&key()).await.unwrap().unwrap();
    assert!(sandbox
        .introspect(stored.refresh_token.as_ref().unwrap().secret())
        .is_some_and(|i| i.active));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_managers_on_one_store_refresh_once_per_expiry() {
    let (_url, store) = fresh_store().await;
    one_refresh_per_expiry(store.clone(), store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_refresh_once_per_expiry() {
    let (url, a) = fresh_store().await;
    let b = store_at(&url, store_key(), Duration::from_secs(10)).await;
    one_refresh_per_expiry(a, b).await;
}

// ---------------------------------------------------------------------------------------
// Three OS processes: this test binary, re-executed with `--exact child_worker`.

/// A child's work; returns at once unless [`CHILD_ENV`] is set. Prints `LL_READY`, waits
/// for a line on stdin, asks for an access token once and prints `LL_OK <sha256>` or
/// `LL_ERR <error>`.
#[test]
fn child_worker() {
    child_process::run_as_child(CHILD_ENV, |_| async {
        let settings = Settings::builder(env("LL_ISSUER"), env("LL_CLIENT_ID"), env("LL_REDIRECT"))
            .client_secret(env("LL_CLIENT_SECRET"))
            .scopes(SCOPES)
            .timeouts(Duration::from_secs(5), Duration::from_secs(10))
            .build()
            .unwrap();
        let client = Client::connect(settings).await.unwrap();
        let store = store_at(&env("LL_PG_URL"), store_key(), Duration::from_secs(20)).await;
        let manager = TokenManager::new(client, store, key(), options().max_attempts(1));
        println!("LL_READY");
        child_process::wait_for_go().await;
        match manager.access_token().await {
            Ok(t) => println!("LL_OK {}", digest(t.secret())),
            Err(e) => println!("LL_ERR {e}"),
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_refresh_once() {
    let (url, store) = fresh_store().await;
    let sandbox = Sandbox::builder().start().await.expect("sandbox starts");
    let client = sandbox_client(&sandbox).await;
    let mut login = lexoffice_login_sandbox::auto_consent_login(&client)
        .await
        .expect("login completes");
    // The access token expires inside the margin: the first caller refreshes.
    login.obtained_at = Utc::now() - chrono::Duration::hours(1);
    login.expires_at = Some(Utc::now() + chrono::Duration::seconds(60));
    store.save(&key(), &login).await.unwrap();
    let before = sandbox.stats().requests(SbEndpoint::Token);

    let mut children = Vec::new();
    for _ in 0..3 {
        let mut cmd = child_command("child_worker", CHILD_ENV, "1", &sandbox);
        cmd.env("LL_PG_URL", &url);
        let mut child = ChildProcess::spawn(cmd, Stdio::null(), Duration::from_secs(30));
        child.ready().await;
        children.push(child);
    }
    let started = Instant::now();
    for child in &mut children {
        child.go().await;
    }
    let mut answers = Vec::new();
    for child in &mut children {
        answers.push(
            child
                .next_marker()
                .await
                .unwrap_or_else(|| "EOF".to_owned()),
        );
        child.child.wait().await.unwrap();
    }
    eprintln!("3 processes: {:?}", started.elapsed());
    assert!(
        answers.iter().all(|a| a.starts_with("LL_OK ")),
        "{answers:?}"
    );
    assert!(
        answers.iter().all(|a| a == &answers[0]),
        "one token for all: {answers:?}"
    );
    let stats = sandbox.stats();
    assert_eq!(stats.token_grants("refresh_token"), 1, "one refresh");
    assert_eq!(stats.requests(SbEndpoint::Token) - before, 1);
    assert_eq!(stats.refresh_reuse_detected(), 0);
    let stored = store.load(&key()).await.unwrap().unwrap();
    assert_eq!(
        format!("LL_OK {}", digest(stored.access_token.secret())),
        answers[0],
        "the token handed out is the stored one"
    );
}

// ---------------------------------------------------------------------------------------
// The connections registry over PostgreSQL.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_registries_on_one_database_refresh_each_connection_once() {
    use lexoffice_login::connections::Connections;

    let (url, a_store) = fresh_store().await;
    let b_store = store_at(&url, store_key(), Duration::from_secs(10)).await;
    let sandbox = Sandbox::builder().start().await.expect("sandbox starts");
    let clock = FixedClock::at_now();
    let client = sandbox_client(&sandbox)
        .await
        .with_clock(Arc::new(clock.clone()));
    // Two replicas of a service, each with its registry and its own pools.
    let a = Connections::with_options(a_store, options()).with_client(client.clone());
    let b = Connections::with_options(b_store, options()).with_client(client.clone());
    let customer = |i: usize| StoreKey::new("sandbox", format!("customer-{i}"));
    let n = 4;
    for i in 0..n {
        let mut tokens = sandbox.login(&client).await.unwrap();
        let now = lexoffice_login::Clock::now(&clock);
        tokens.obtained_at = now - chrono::Duration::hours(1);
        tokens.expires_at = Some(now - chrono::Duration::seconds(1));
        a.save(&customer(i), &tokens).await.unwrap();
    }
    let before = sandbox.stats().token_grants("refresh_token");
    let mut tasks = Vec::new();
    for i in 0..n {
        for j in 0..20 {
            let c = if j % 2 == 0 { a.clone() } else { b.clone() };
            let k = customer(i);
            tasks.push(tokio::spawn(async move { c.access_token(&k).await }));
        }
    }
    for t in tasks {
        let token = t.await.unwrap().expect("a token");
        assert!(sandbox.introspect(token.secret()).unwrap().active);
    }
    assert_eq!(
        sandbox.stats().token_grants("refresh_token") - before,
        n as u64,
        "one refresh per connection"
    );
    assert_eq!(sandbox.stats().refresh_reuse_detected(), 0);
    assert_eq!(b.list().await.unwrap().len(), n);

    // Health reaches the database, for every replica to see: the customer revokes the
    // app at the provider, and the connection is marked for re-consent.
    let stored = a.list().await.unwrap();
    assert_eq!(stored.len(), n);
    let gone = customer(0);
    let tokens = sandbox.login(&client).await.unwrap();
    client.revoke_refresh_token(&tokens).await.unwrap();
    let mut expired = tokens.clone();
    let now = lexoffice_login::Clock::now(&clock);
    expired.expires_at = Some(now - chrono::Duration::seconds(1));
    a.save(&gone, &expired).await.unwrap();
    a.access_token(&gone).await.unwrap_err();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let mut state = String::new();
    for _ in 0..100 {
        let row = sqlx::query("SELECT state FROM lexoffice_login_connections WHERE profile = $1")
            .bind(&gone.profile)
            .fetch_one(&pool)
            .await
            .unwrap();
        state = sqlx::Row::get(&row, "state");
        if state == "login_required" {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(state, "login_required");
}

/// Pending logins of the web connect flow, shared by replicas: sealed, taken once, never
/// after their time to live.
#[cfg(feature = "axum")]
#[tokio::test]
async fn pending_logins_are_shared_sealed_taken_once_and_expire() {
    use lexoffice_login::web::{PendingConnect, PendingStore, PostgresPendingStore, StateHash};

    let (url, a_store) = fresh_store().await;
    let b_store = store_at(&url, store_key(), Duration::from_secs(10)).await;
    let (a, b) = (
        PostgresPendingStore::new(&a_store),
        PostgresPendingStore::new(&b_store),
    );
    let sandbox = Sandbox::builder().start().await.expect("sandbox starts");
    let client = sandbox_client(&sandbox).await;
    let (url_1, login_1) = client.authorize().unwrap();
    let state_1 = url_1
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let key_1 = StateHash::of(&state_1);
    // Replica A keeps it; replica B's callback takes it, once.
    a.put(
        key_1,
        PendingConnect::new("oidc", None, Some("/done".into()), login_1),
        Duration::from_secs(600),
    )
    .await
    .unwrap();
    let raw: Vec<u8> = sqlx::query_scalar("SELECT sealed FROM lexoffice_login_pending")
        .fetch_one(&sqlx::PgPool::connect(&url).await.unwrap())
        .await
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&raw).contains("verifier"),
        "sealed"
    );
    let taken = b
        .take(&key_1)
        .await
        .unwrap()
        .expect("the other replica takes it");
    assert_eq!(taken.return_to.as_deref(), Some("/done"));
    let redirect = sandbox.follow_authorization(&url_1).await.unwrap();
    client
        .complete(taken.login, &redirect)
        .await
        .expect("the login completes on the other replica");
    assert!(a.take(&key_1).await.unwrap().is_none(), "taken only once");
    // Gone after its time to live.
    let (_, login_2) = client.authorize().unwrap();
    let key_2 = StateHash::of("another state");
    a.put(
        key_2,
        PendingConnect::new("oidc", None, None, login_2),
        Duration::from_millis(1),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(b.take(&key_2).await.unwrap().is_none(), "expired");
}
