//! [`TokenManager`] and the token stores against the local sandbox over real HTTP:
//! single flight, rotation with reuse detection, transient failures and cooldown,
//! `invalid_grant`, two processes sharing a file store, and the file store itself.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lexoffice_login::store::{
    Encryption, EncryptionKey, FileStore, MemoryStore, StoreError, StoreKey, TokenStore,
    STORE_KEY_ENV,
};
use lexoffice_login::{
    AccessToken, Client, FixedClock, ManagerError, ManagerOptions, RefreshToken, Scopes,
    TokenManager, TokenSet,
};
use lexoffice_login_sandbox::{Fault, Sandbox, SandboxRoute as SbEndpoint};

async fn start_sandbox() -> (Sandbox, Client) {
    let sandbox = Sandbox::builder().start().await.expect("sandbox starts");
    let settings = sandbox
        .settings()
        .timeouts(Duration::from_secs(2), Duration::from_secs(2))
        .jwks_refetch_cooldown(Duration::ZERO)
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

/// A real login whose access token the manager believes expires in `secs` seconds.
async fn login_expiring_in(client: &Client, secs: i64) -> TokenSet {
    let mut tokens = login(client).await;
    // Obtained an hour ago: the margin is the configured one, not half a short lifetime.
    tokens.obtained_at = Utc::now() - chrono::Duration::hours(1);
    tokens.expires_at = Some(Utc::now() + chrono::Duration::seconds(secs));
    tokens
}

fn key() -> StoreKey {
    StoreKey::new("sandbox", "default")
}

fn options() -> ManagerOptions {
    ManagerOptions::default()
        .retry_backoff(Duration::from_millis(10), Duration::from_millis(50))
        .failure_cooldown(Duration::from_millis(400))
}

fn active(sandbox: &Sandbox, token: &AccessToken) -> bool {
    sandbox.introspect(token.secret()).is_some_and(|i| i.active)
}

fn test_key() -> EncryptionKey {
    EncryptionKey::from_bytes([7u8; 32])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_share_one_refresh() {
    let (sandbox, client) = start_sandbox().await;
    let manager = TokenManager::new(client.clone(), MemoryStore::new(), key(), options());
    let old = login_expiring_in(&client, 60).await;
    manager.save_login(old.clone()).await.unwrap();
    let before = sandbox.stats().requests(SbEndpoint::Token);

    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let m = manager.clone();
        tasks.push(tokio::spawn(async move { m.access_token().await }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap().expect("a token").secret().clone());
    }

    let stats = sandbox.stats();
    assert_eq!(stats.token_grants("refresh_token"), 1);
    assert_eq!(
        stats.requests(SbEndpoint::Token) - before,
        1,
        "one refresh request"
    );
    assert!(
        tokens.iter().all(|t| t == &tokens[0]),
        "everyone got the same token"
    );
    assert_ne!(tokens[0], *old.access_token.secret());
    assert!(active(&sandbox, &AccessToken::new(tokens[0].clone())));
    // The rotated login was stored before it was handed out.
    let stored = manager.store().load(&key()).await.unwrap().unwrap();
    assert_eq!(stored.access_token.secret(), &tokens[0]);
    assert_ne!(
        stored.refresh_token.unwrap().secret(),
        old.refresh_token.unwrap().secret()
    );

    // A fresh token is served from memory, without a request.
    let again = manager.access_token().await.unwrap();
    assert_eq!(again.secret(), &tokens[0]);
    assert_eq!(sandbox.stats().requests(SbEndpoint::Token) - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fast_path_is_fast() {
    let (_sandbox, client) = start_sandbox().await;
    let manager = TokenManager::new(client.clone(), MemoryStore::new(), key(), options());
    manager.save_login(login(&client).await).await.unwrap();
    manager.access_token().await.unwrap();
    let n = 100_000u32;
    let started = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(manager.access_token().await.unwrap());
    }
    let per_call = started.elapsed() / n;
    eprintln!("fast path: {per_call:?} per call");
    // Well under a microsecond in release builds; generous for unoptimized test builds.
    assert!(
        per_call < Duration::from_micros(20),
        "{per_call:?} per call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_with_reuse_detection_never_sees_invalid_grant() {
    let (sandbox, client) = start_sandbox().await;
    // Each round starts 59 minutes after the last (on the client's clock and the
    // sandbox's alike): inside the 120 s margin of the 1 h tokens, so each round
    // refreshes.
    let clock = FixedClock::at_now();
    let client = client.with_clock(Arc::new(clock.clone()));
    let opts = options();
    let store = MemoryStore::new();
    // Two managers on one store, like two workers of one service.
    let a = TokenManager::new(client.clone(), store.clone(), key(), opts.clone());
    let b = TokenManager::new(client.clone(), store.clone(), key(), opts);
    a.save_login(login(&client).await).await.unwrap();

    let rounds = 5;
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
    }
    let stats = sandbox.stats();
    assert_eq!(stats.refresh_reuse_detected(), 0);
    let grants = stats.token_grants("refresh_token");
    let requests = stats.requests(SbEndpoint::Token) - 1;
    assert_eq!(requests, grants, "no refused refresh request");
    assert!(
        grants >= rounds && grants <= 2 * rounds,
        "{grants} refreshes for {rounds} rounds"
    );
    let stored = store.load(&key()).await.unwrap().unwrap();
    assert!(sandbox
        .introspect(stored.refresh_token.as_ref().unwrap().secret())
        .is_some_and(|i| i.active));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_serve_the_valid_token_then_recover() {
    let (sandbox, client) = start_sandbox().await;
    let clock = FixedClock::at_now();
    let client = client.with_clock(Arc::new(clock.clone()));
    let manager = TokenManager::new(client.clone(), MemoryStore::new(), key(), options());
    let old = login_expiring_in(&client, 60).await;
    manager.save_login(old.clone()).await.unwrap();
    let before = sandbox.stats().requests(SbEndpoint::Token);

    sandbox.inject_token_faults(3, Fault::ServerError);
    let t = manager.access_token().await.expect("the still-valid token");
    assert_eq!(t.secret(), old.access_token.secret());
    assert_eq!(
        sandbox.stats().requests(SbEndpoint::Token) - before,
        3,
        "3 attempts"
    );

    // During the cooldown the provider is left alone.
    for _ in 0..50 {
        let t = manager.access_token().await.unwrap();
        assert_eq!(t.secret(), old.access_token.secret());
    }
    assert_eq!(
        sandbox.stats().requests(SbEndpoint::Token) - before,
        3,
        "no storm"
    );
    assert_eq!(sandbox.stats().token_grants("refresh_token"), 0);

    // The cooldown (400 ms) passes on the injected clock, without waiting.
    clock.advance(Duration::from_millis(500));
    let t = manager.access_token().await.unwrap();
    assert_ne!(t.secret(), old.access_token.secret());
    assert!(active(&sandbox, &t));
    assert_eq!(sandbox.stats().token_grants("refresh_token"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_is_retried_within_the_call() {
    let (sandbox, client) = start_sandbox().await;
    let manager = TokenManager::new(client.clone(), MemoryStore::new(), key(), options());
    let old = login_expiring_in(&client, -1).await;
    manager.save_login(old.clone()).await.unwrap();
    sandbox.inject_token_faults(2, Fault::ServerError);
    let t = manager
        .access_token()
        .await
        .expect("the third attempt succeeds");
    assert_ne!(t.secret(), old.access_token.secret());
    assert_eq!(sandbox.stats().token_grants("refresh_token"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_and_a_failing_provider_give_a_clear_error_and_a_cooldown() {
    let (sandbox, client) = start_sandbox().await;
    let clock = FixedClock::at_now();
    let client = client.with_clock(Arc::new(clock.clone()));
    let manager = TokenManager::new(client.clone(), MemoryStore::new(), key(), options());
    manager
        .save_login(login_expiring_in(&client, -1).await)
        .await
        .unwrap();
    let before = sandbox.stats().requests(SbEndpoint::Token);
    sandbox.inject_token_faults(3, Fault::ServerError);
    let err = manager.access_token().await.unwrap_err();
    assert!(matches!(err, ManagerError::RefreshFailed { .. }), "{err}");
    assert!(err.to_string().contains("next attempt"), "{err}");
    let err = manager.access_token().await.unwrap_err();
    assert!(matches!(err, ManagerError::RefreshFailed { .. }), "{err}");
    assert_eq!(sandbox.stats().requests(SbEndpoint::Token) - before, 3);
    // The cooldown (400 ms) passes on the injected clock, without waiting.
    clock.advance(Duration::from_millis(500));
    let t = manager.access_token().await.unwrap();
    assert!(active(&sandbox, &t));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_grant_without_another_holder_requires_a_login_and_keeps_the_store() {
    let (sandbox, client) = start_sandbox().await;
    let manager = TokenManager::new(client.clone(), MemoryStore::new(), key(), options());
    let old = login_expiring_in(&client, -1).await;
    manager.save_login(old.clone()).await.unwrap();
    client.revoke_refresh_token(&old).await.unwrap();
    let before = sandbox.stats().requests(SbEndpoint::Token);

    let err = manager.access_token().await.unwrap_err();
    assert!(matches!(err, ManagerError::LoginRequired { .. }), "{err}");
    assert!(err.to_string().contains("log in again"), "{err}");
    assert_eq!(
        sandbox.stats().requests(SbEndpoint::Token) - before,
        1,
        "no retry of invalid_grant"
    );

    // Asked again: no new request, the same answer.
    let err = manager.access_token().await.unwrap_err();
    assert!(matches!(err, ManagerError::LoginRequired { .. }), "{err}");
    assert_eq!(
        sandbox.stats().requests(SbEndpoint::Token) - before,
        1,
        "never loops"
    );

    let stored = manager
        .store()
        .load(&key())
        .await
        .unwrap()
        .expect("the login is kept");
    assert_eq!(
        stored.refresh_token.unwrap().secret(),
        old.refresh_token.as_ref().unwrap().secret()
    );

    // A new login repairs it.
    manager.save_login(login(&client).await).await.unwrap();
    assert!(active(&sandbox, &manager.access_token().await.unwrap()));
}

/// A store shared with a holder that ignores the refresh lock: right after the
/// manager has read the login, that holder stores the login it rotated.
#[derive(Debug, Clone, Default)]
struct RacingStore {
    inner: MemoryStore,
    rotated_elsewhere: Arc<std::sync::Mutex<Option<TokenSet>>>,
}

impl TokenStore for RacingStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<TokenSet>, StoreError> {
        let seen = self.inner.load(key).await?;
        let pending = self.rotated_elsewhere.lock().unwrap().take();
        if let Some(rotated) = pending {
            self.inner.save(key, &rotated).await?;
        }
        Ok(seen)
    }
    async fn save(&self, key: &StoreKey, tokens: &TokenSet) -> Result<(), StoreError> {
        self.inner.save(key, tokens).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn lock_refresh(
        &self,
        key: &StoreKey,
    ) -> Result<lexoffice_login::store::RefreshGuard, StoreError> {
        self.inner.lock_refresh(key).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_grant_after_another_holder_rotated_uses_the_stored_login() {
    let sandbox = Sandbox::builder()
        .reuse_detection(false)
        .start()
        .await
        .unwrap();
    let settings = sandbox.settings().build().unwrap();
    let client = Client::connect(settings).await.unwrap();
    let store = RacingStore::default();
    let manager = TokenManager::new(client.clone(), store.clone(), key(), options());
    let old = login_expiring_in(&client, -1).await;
    manager.save_login(old.clone()).await.unwrap();
    let rotated = client.refresh(&old).await.unwrap();
    *store.rotated_elsewhere.lock().unwrap() = Some(rotated.clone());

    let t = manager
        .access_token()
        .await
        .expect("the other holder's login");
    assert_eq!(t.secret(), rotated.access_token.secret());
    assert!(active(&sandbox, &t));
    let stats = sandbox.stats();
    assert_eq!(
        stats.token_grants("refresh_token"),
        1,
        "only the other holder's refresh succeeded"
    );
    assert_eq!(
        stats.requests(SbEndpoint::Token),
        3,
        "code, the other refresh, the refused one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_refresh_replaces_a_refused_token_once() {
    let (sandbox, client) = start_sandbox().await;
    let manager = TokenManager::new(client.clone(), MemoryStore::new(), key(), options());
    let old = login(&client).await;
    manager.save_login(old.clone()).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let m = manager.clone();
        tasks.push(tokio::spawn(async move { m.force_refresh().await }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap().unwrap().secret().clone());
    }
    assert!(tokens
        .iter()
        .all(|t| t == &tokens[0] && t != old.access_token.secret()));
    assert_eq!(sandbox.stats().token_grants("refresh_token"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sharing_a_file_store_refresh_once() {
    let (sandbox, client) = start_sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    // Separate stores open the lock file separately, as separate processes would.
    let managers: Vec<_> = (0..2)
        .map(|_| {
            let store = FileStore::builder()
                .dir(dir.path())
                .key(test_key())
                .build()
                .unwrap();
            TokenManager::new(client.clone(), store, key(), options())
        })
        .collect();
    let old = login_expiring_in(&client, -1).await;
    managers[0].save_login(old.clone()).await.unwrap();
    let before = sandbox.stats().requests(SbEndpoint::Token);

    let mut tasks = Vec::new();
    for i in 0..20 {
        let m = managers[i % 2].clone();
        tasks.push(tokio::spawn(async move { m.access_token().await }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap().expect("a token").secret().clone());
    }
    assert!(
        tokens.iter().all(|t| t == &tokens[0]),
        "both got the same token"
    );
    assert_ne!(tokens[0], *old.access_token.secret());
    assert!(active(&sandbox, &AccessToken::new(tokens[0].clone())));
    assert_eq!(
        sandbox.stats().requests(SbEndpoint::Token) - before,
        1,
        "one refresh request"
    );
    assert_eq!(sandbox.stats().token_grants("refresh_token"), 1);
    assert_eq!(sandbox.stats().refresh_reuse_detected(), 0);
}

/// A store whose writes are slow, like a network file system.
#[derive(Debug, Clone, Default)]
struct SlowSaveStore {
    inner: MemoryStore,
}

impl TokenStore for SlowSaveStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<TokenSet>, StoreError> {
        self.inner.load(key).await
    }
    async fn save(&self, key: &StoreKey, tokens: &TokenSet) -> Result<(), StoreError> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.inner.save(key, tokens).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn lock_refresh(
        &self,
        key: &StoreKey,
    ) -> Result<lexoffice_login::store::RefreshGuard, StoreError> {
        self.inner.lock_refresh(key).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_gives_up_does_not_lose_the_rotated_token() {
    let (sandbox, client) = start_sandbox().await;
    let manager = TokenManager::new(client.clone(), SlowSaveStore::default(), key(), options());
    let old = login_expiring_in(&client, -1).await;
    manager.save_login(old.clone()).await.unwrap();
    // The caller gives up after the provider rotated the token, while it is being stored.
    let gave_up = tokio::time::timeout(Duration::from_millis(150), manager.access_token()).await;
    assert!(
        gave_up.is_err(),
        "the caller gave up before the refresh ended"
    );
    let t = manager.access_token().await.unwrap();
    assert!(active(&sandbox, &t), "the rotated login works");
    let stored = manager.store().load(&key()).await.unwrap().unwrap();
    assert_eq!(
        stored.access_token.secret(),
        t.secret(),
        "and it was stored"
    );
    assert_eq!(sandbox.stats().token_grants("refresh_token"), 1);
    assert_eq!(sandbox.stats().refresh_reuse_detected(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_lock_times_out_instead_of_blocking_forever() {
    let dir = tempfile::tempdir().unwrap();
    let a = FileStore::builder()
        .dir(dir.path())
        .ignore_env_key()
        .build()
        .unwrap();
    let b = FileStore::builder()
        .dir(dir.path())
        .ignore_env_key()
        .lock_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let held = a.lock_refresh(&key()).await.unwrap();
    let err = b.lock_refresh(&key()).await.unwrap_err();
    assert!(matches!(err, StoreError::LockTimeout { .. }), "{err}");
    drop(held);
    let _again = b.lock_refresh(&key()).await.expect("free once released");
}

fn sample_tokens() -> TokenSet {
    TokenSet {
        access_token: AccessToken::new("at-SECRET-1234567890".into()),
        token_type: "Bearer".into(),
        refresh_token: Some(RefreshToken::new("rt-SECRET-0987654321".into())),
        id_token: None,
        id_token_claims: None,
        expires_at: Some(Utc::now() + chrono::Duration::seconds(3600)),
        scopes: Scopes::new(),
        obtained_at: Utc::now(),
        extras: Default::default(),
        origin: None,
    }
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn file_store_plain_is_private_atomic_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let tokens_dir = dir.path().join("tokens");
    let store = FileStore::builder()
        .dir(&tokens_dir)
        .ignore_env_key()
        .build()
        .unwrap();
    assert_eq!(store.encryption(), Encryption::None);
    assert!(store.load(&key()).await.unwrap().is_none());
    for _ in 0..5 {
        store.save(&key(), &sample_tokens()).await.unwrap();
    }
    assert_eq!(
        files_in(&tokens_dir),
        vec!["sandbox.default.json".to_owned()],
        "no temporary files left"
    );
    let path = store.path_for(&key());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(r#""alg":"none""#), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&tokens_dir), 0o700);
    }
    let back = store.load(&key()).await.unwrap().unwrap();
    assert_eq!(back.access_token.secret(), "at-SECRET-1234567890");
    store.delete(&key()).await.unwrap();
    assert!(store.load(&key()).await.unwrap().is_none());
    store.delete(&key()).await.unwrap();
}

#[tokio::test]
async fn file_store_encrypts_and_a_wrong_key_leaves_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::builder()
        .dir(dir.path())
        .key(test_key())
        .build()
        .unwrap();
    assert_eq!(store.encryption(), Encryption::ChaCha20Poly1305);
    store.save(&key(), &sample_tokens()).await.unwrap();
    let path = store.path_for(&key());
    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains(r#""alg":"chacha20poly1305""#), "{text}");
    assert!(!text.contains("SECRET"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let back = store.load(&key()).await.unwrap().unwrap();
    assert_eq!(back.refresh_token.unwrap().secret(), "rt-SECRET-0987654321");

    let wrong = FileStore::builder()
        .dir(dir.path())
        .key(EncryptionKey::from_bytes([8u8; 32]))
        .build()
        .unwrap();
    let err = wrong.load(&key()).await.unwrap_err();
    assert!(matches!(err, StoreError::Decrypt { .. }), "{err}");
    assert!(err.to_string().contains(STORE_KEY_ENV), "{err}");
    let none = FileStore::builder()
        .dir(dir.path())
        .ignore_env_key()
        .build()
        .unwrap();
    let err = none.load(&key()).await.unwrap_err();
    assert!(matches!(err, StoreError::KeyMissing { .. }), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the file is untouched"
    );

    // A file copied to another login's name does not decrypt (bound to its name).
    std::fs::copy(&path, store.path_for(&StoreKey::new("sandbox", "other"))).unwrap();
    let err = store
        .load(&StoreKey::new("sandbox", "other"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Decrypt { .. }), "{err}");
}

#[tokio::test]
async fn file_store_reports_corrupt_files_and_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::builder()
        .dir(dir.path())
        .key(test_key())
        .build()
        .unwrap();
    let path = store.path_for(&key());
    std::fs::write(
        &path,
        b"{\"v\":1,\"alg\":\"chacha20poly1305\",\"nonce\":\"AAAA",
    )
    .unwrap();
    let err = store.load(&key()).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("left in place"), "{err}");
    assert!(path.exists());
    std::fs::write(&path, br#"{"v":2,"alg":"future"}"#).unwrap();
    let err = store.load(&key()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::UnsupportedFormat { version: 2, .. }),
        "{err}"
    );
    assert!(path.exists());
}

#[tokio::test]
async fn require_encryption_without_a_key_says_how_to_set_one() {
    let dir = tempfile::tempdir().unwrap();
    let err = FileStore::builder()
        .dir(dir.path())
        .ignore_env_key()
        .require_encryption(true)
        .build()
        .unwrap_err();
    assert!(matches!(err, StoreError::EncryptionRequired), "{err}");
    assert!(err.to_string().contains(STORE_KEY_ENV), "{err}");
    let err = EncryptionKey::from_base64("not base64!").unwrap_err();
    assert!(err.to_string().contains(STORE_KEY_ENV), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_output_never_shows_a_token_or_key() {
    let (_sandbox, client) = start_sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let enc = test_key();
    let store = FileStore::builder()
        .dir(dir.path())
        .key(enc.clone())
        .build()
        .unwrap();
    let manager = TokenManager::new(client.clone(), store.clone(), key(), options());
    let tokens = login(&client).await;
    manager.save_login(tokens.clone()).await.unwrap();
    let memory = MemoryStore::new();
    memory.save(&key(), &tokens).await.unwrap();

    let errors: Vec<String> = vec![
        format!(
            "{:?}",
            ManagerError::LoginRequired {
                reason: "x".into(),
                cause: None
            }
        ),
        format!("{}", StoreError::EncryptionRequired),
        format!(
            "{:?}",
            StoreError::Decrypt {
                path: store.path_for(&key())
            }
        ),
    ];
    let outputs = [
        format!("{manager:?}"),
        format!("{store:?}"),
        format!("{memory:?}"),
        format!("{enc:?}"),
        format!("{:?}", manager.current()),
        format!("{:?}", manager.store().lock_refresh(&key()).await.unwrap()),
    ];
    let secrets = [
        tokens.access_token.secret().clone(),
        tokens.refresh_token.as_ref().unwrap().secret().clone(),
        enc.to_base64(),
    ];
    for out in outputs.iter().chain(errors.iter()) {
        for s in &secrets {
            assert!(!out.contains(s.as_str()), "secret in {out}");
        }
    }
    assert!(format!("{manager:?}").contains("ChaCha20Poly1305"));
}

#[test]
fn the_manager_is_shareable() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<TokenManager<FileStore>>();
    assert_send_sync::<TokenManager<MemoryStore>>();
    let _: Option<Arc<TokenManager<MemoryStore>>> = None;
}

#[tokio::test]
async fn a_save_removes_temporary_files_left_by_killed_writers_once_stale() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::builder()
        .dir(dir.path())
        .ignore_env_key()
        .build()
        .unwrap();
    let key = StoreKey::new("test", "default");
    let name = store
        .path_for(&key)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let stale = dir.path().join(format!(".{name}.tmp-4242-stale"));
    let fresh = dir.path().join(format!(".{name}.tmp-4243-fresh"));
    let other = dir.path().join(".other.json.tmp-4244-stale");
    for p in [&stale, &fresh, &other] {
        std::fs::write(p, b"{\"v\":1,").unwrap();
    }
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    for p in [&stale, &other] {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();
    }

    store.save(&key, &sample_tokens()).await.unwrap();
    assert!(
        !stale.exists(),
        "a stale temporary file of this login is removed"
    );
    assert!(
        fresh.exists(),
        "a recent one may belong to a live writer: kept"
    );
    assert!(other.exists(), "another login's files are left alone");
    assert!(store.load(&key).await.unwrap().is_some());
}
