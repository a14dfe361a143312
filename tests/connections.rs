//! The connections registry (many logins, one store) against the sandbox over loopback:
//! one refresh per connection however many callers, health from what the provider says,
//! removal that revokes, and the proactive refresh sweep on an injected clock.

use std::sync::Arc;
use std::time::Duration;

use lexoffice_login::connections::{Connections, Health, SweepOptions};
use lexoffice_login::store::{MemoryStore, StoreKey, TokenStore};
use lexoffice_login::{Client, ErrorKind, FixedClock, ManagerOptions, TokenSet};
use lexoffice_login_sandbox::{Fault, Sandbox, SandboxProfile, SandboxRoute};

async fn client_for(sandbox: &Sandbox, clock: &FixedClock) -> Client {
    let settings = sandbox
        .settings()
        .timeouts(Duration::from_secs(5), Duration::from_secs(5))
        .build()
        .unwrap();
    Client::connect(settings)
        .await
        .unwrap()
        .with_clock(Arc::new(clock.clone()))
}

fn key(i: usize) -> StoreKey {
    StoreKey::new("sandbox", format!("customer-{i}"))
}

/// A connection whose access token the registry must refresh at once: obtained an hour
/// ago, expired a second ago (on the client's clock).
fn expiring(mut tokens: TokenSet, clock: &FixedClock) -> TokenSet {
    let now = lexoffice_login::Clock::now(clock);
    tokens.obtained_at = now - chrono::Duration::hours(1);
    tokens.expires_at = Some(now - chrono::Duration::seconds(1));
    tokens
}

fn options() -> ManagerOptions {
    ManagerOptions::default()
        .retry_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .failure_cooldown(Duration::from_secs(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_callers_on_many_connections_make_one_refresh_each() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let clock = FixedClock::at_now();
    let client = client_for(&sandbox, &clock).await;
    let store = MemoryStore::new();
    let connections = Connections::with_options(store, options()).with_client(client.clone());
    let n = 5;
    for i in 0..n {
        let tokens = sandbox.login(&client).await.unwrap();
        connections
            .save(&key(i), &expiring(tokens, &clock))
            .await
            .unwrap();
    }
    let before = sandbox.stats().token_grants("refresh_token");
    let mut tasks = Vec::new();
    for i in 0..n {
        for _ in 0..20 {
            let c = connections.clone();
            tasks.push(tokio::spawn(async move { c.access_token(&key(i)).await }));
        }
    }
    for t in tasks {
        let token = t.await.unwrap().expect("a token");
        assert!(sandbox.introspect(token.secret()).unwrap().active);
    }
    assert_eq!(
        sandbox.stats().token_grants("refresh_token") - before,
        n as u64
    );
    assert_eq!(sandbox.stats().refresh_reuse_detected(), 0);

    let listed = connections.list().await.unwrap();
    assert_eq!(listed.len(), n);
    for c in &listed {
        assert_eq!(c.issuer.as_deref(), Some(sandbox.issuer()));
        assert_eq!(c.health, Health::Active);
        assert!(!format!("{c:?}").contains("access_token"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_provider_and_removal_revokes() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let clock = FixedClock::at_now();
    let client = client_for(&sandbox, &clock).await;
    let connections =
        Connections::with_options(MemoryStore::new(), options()).with_client(client.clone());

    // The provider is failing: refresh failing, since when, and why.
    let tokens = sandbox.login(&client).await.unwrap();
    connections
        .save(&key(1), &expiring(tokens, &clock))
        .await
        .unwrap();
    // Three attempts (the manager's default), each answered 500.
    sandbox.inject_token_faults(3, Fault::ServerError);
    let err = connections.access_token(&key(1)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ProviderUnavailable, "{err}");
    assert!(matches!(
        connections.health(&key(1)),
        Health::RefreshFailing { .. }
    ));

    // The customer revoked the app at the provider: needs re-consent.
    let tokens = sandbox.login(&client).await.unwrap();
    client.revoke_refresh_token(&tokens).await.unwrap();
    connections
        .save(&key(2), &expiring(tokens, &clock))
        .await
        .unwrap();
    let err = connections.access_token(&key(2)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LoginRequired, "{err}");
    assert!(matches!(
        connections.health(&key(2)),
        Health::NeedsReconsent { .. }
    ));

    // Removal revokes at the provider, then deletes.
    let tokens = sandbox.login(&client).await.unwrap();
    let refresh = tokens.refresh_token.clone().unwrap();
    connections.save(&key(3), &tokens).await.unwrap();
    let revokes = sandbox.stats().requests(SandboxRoute::Revoke);
    connections.remove(&key(3)).await.unwrap();
    assert_eq!(sandbox.stats().requests(SandboxRoute::Revoke), revokes + 1);
    assert!(!sandbox.introspect(refresh.secret()).unwrap().active);
    assert_eq!(connections.health(&key(3)), Health::Revoked);
    let err = connections.access_token(&key(3)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LoginRequired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_keeps_idle_logins_alive_at_the_providers_pace() {
    // Xero: unused refresh tokens expire after 60 days, so they are refreshed after 30.
    let sandbox = Sandbox::builder()
        .profile(SandboxProfile::Xero)
        .start()
        .await
        .unwrap();
    let clock = FixedClock::at_now();
    let client = client_for(&sandbox, &clock).await;
    let store = MemoryStore::new();
    let connections =
        Connections::with_options(store.clone(), options()).with_client(client.clone());
    for i in 0..4 {
        let tokens = sandbox.login(&client).await.unwrap();
        connections.save(&key(i), &tokens).await.unwrap();
    }
    let sweep = SweepOptions::default()
        .jitter(Duration::ZERO)
        .concurrency(2)
        .max_idle(Duration::from_secs(90 * 86_400));

    clock.advance(Duration::from_secs(20 * 86_400));
    sandbox.set_clock_offset(20 * 86_400);
    let report = connections.refresh_due(&sweep).await.unwrap();
    assert_eq!((report.checked, report.refreshed), (4, 0), "{report:?}");

    clock.advance(Duration::from_secs(11 * 86_400));
    sandbox.set_clock_offset(31 * 86_400);
    let before = sandbox.stats().token_grants("refresh_token");
    let report = connections.refresh_due(&sweep).await.unwrap();
    assert_eq!((report.refreshed, report.failed), (4, 0), "{report:?}");
    assert_eq!(sandbox.stats().token_grants("refresh_token") - before, 4);
    // The rotated refresh tokens were stored: the next sweep has nothing to do.
    for i in 0..4 {
        let stored = store.load(&key(i)).await.unwrap().unwrap();
        assert!(
            sandbox
                .introspect(stored.refresh_token.unwrap().secret())
                .unwrap()
                .active
        );
    }
    let report = connections.refresh_due(&sweep).await.unwrap();
    assert_eq!(report.refreshed, 0, "{report:?}");
}

#[tokio::test]
async fn unknown_connections_and_foreign_issuers_are_named() {
    let a = Sandbox::builder().start().await.unwrap();
    let b = Sandbox::builder().start().await.unwrap();
    let clock = FixedClock::at_now();
    let client_a = client_for(&a, &clock).await;
    let client_b = client_for(&b, &clock).await;
    let connections = Connections::new(MemoryStore::new()).with_client(client_b);
    let err = connections.access_token(&key(9)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LoginRequired, "{err}");
    let tokens = a.login(&client_a).await.unwrap();
    let err = connections.save(&key(1), &tokens).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Misconfigured, "{err}");
    assert!(err.to_string().contains(a.issuer()), "{err}");
}
