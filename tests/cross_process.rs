//! [`TokenManager`] across real OS processes sharing one [`FileStore`]: exactly one
//! refresh for eight processes at once, and crash safety when a process is killed
//! (SIGKILL) while it waits for the refresh lock, while its token request is in flight,
//! and at random moments of a refresh loop.
//!
//! The child processes are this test binary itself, re-executed with
//! `--exact child_worker` and the environment variable [`CHILD_ENV`]; in a normal test
//! run `child_worker` returns at once. The sandbox runs in the parent; the children get
//! its issuer, the client credentials and the store directory through the environment.

#[path = "support/child_process.rs"]
mod child_process;

use child_process::{child_command, digest, env, ChildProcess};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::Utc;
use lexoffice_login::store::{EncryptionKey, FileStore, StoreKey, TokenStore};
use lexoffice_login::{Client, ManagerOptions, Settings, TokenManager, TokenSet};
use lexoffice_login_sandbox::{Fault, Sandbox, SandboxBuilder, SandboxRoute as SbEndpoint};
use rand::Rng;

/// Set in a child: what it does (`once` or `loop`).
const CHILD_ENV: &str = "LL_CHILD";
/// The test that runs the child's work.
const CHILD_TEST: &str = "child_worker";
const SCOPES: [&str; 5] = [
    "openid",
    "profile",
    "email",
    "offline_access",
    "profile.read",
];

fn key() -> StoreKey {
    StoreKey::new("sandbox", "default")
}

fn store_key() -> EncryptionKey {
    EncryptionKey::from_bytes([42u8; 32])
}

// ---------------------------------------------------------------------------------------
// The child.

/// The child's work; returns at once unless [`CHILD_ENV`] is set.
///
/// Prints `LL_READY` once its client, store and manager are built, then:
/// - `once`: waits for a line on stdin, calls `access_token()` once and prints
///   `LL_OK <sha256 of the token>` or `LL_ERR <error>`;
/// - `loop`: calls `force_refresh()` in a loop (bounded to 20 s), printing a line per
///   call, until it is killed.
#[test]
fn child_worker() {
    child_process::run_as_child(CHILD_ENV, |mode| async move { child_main(&mode).await });
}

async fn child_main(mode: &str) {
    let settings = Settings::builder(env("LL_ISSUER"), env("LL_CLIENT_ID"), env("LL_REDIRECT"))
        .client_secret(env("LL_CLIENT_SECRET"))
        .scopes(SCOPES)
        // Long enough that a hanging token request is still in flight when killed.
        .timeouts(Duration::from_secs(10), Duration::from_secs(20))
        .build()
        .unwrap();
    let client = Client::connect(settings).await.unwrap();
    let store = FileStore::builder()
        .dir(env("LL_DIR"))
        .key(EncryptionKey::from_base64(&env("LL_STORE_KEY")).unwrap())
        .build()
        .unwrap();
    let margin = Duration::from_millis(env("LL_MARGIN_MS").parse().unwrap());
    let options = ManagerOptions::default()
        .refresh_margin(margin)
        .max_attempts(1);
    let manager = TokenManager::new(client, store, key(), options);
    println!("LL_READY");
    match mode {
        "once" => {
            child_process::wait_for_go().await;
            match manager.access_token().await {
                Ok(t) => println!("LL_OK {}", digest(t.secret())),
                Err(e) => println!("LL_ERR {e}"),
            }
        }
        "loop" => {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                match manager.force_refresh().await {
                    Ok(t) => println!("LL_OK {}", digest(t.secret())),
                    Err(e) => println!("LL_ERR {e}"),
                }
            }
        }
        other => panic!("unknown child mode {other}"),
    }
}

// ---------------------------------------------------------------------------------------
// The parent's side.

struct Setup {
    sandbox: Sandbox,
    client: Client,
    dir: tempfile::TempDir,
    store: FileStore,
}

impl Setup {
    /// Starts the sandbox, logs in once and saves the login in a file store.
    async fn new(builder: SandboxBuilder) -> (Setup, TokenSet) {
        let sandbox = builder.start().await.expect("sandbox starts");
        let settings = Settings::builder(
            sandbox.issuer(),
            sandbox.client_id(),
            sandbox.redirect_uri(),
        )
        .client_secret(sandbox.client_secret().unwrap_or_default())
        .scopes(SCOPES)
        .timeouts(Duration::from_secs(5), Duration::from_secs(5))
        .build()
        .unwrap();
        let client = Client::connect(settings).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::builder()
            .dir(dir.path())
            .key(store_key())
            .lock_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let tokens = login(&client).await;
        store.save(&key(), &tokens).await.unwrap();
        (
            Setup {
                sandbox,
                client,
                dir,
                store,
            },
            tokens,
        )
    }

    fn token_requests(&self) -> u64 {
        self.sandbox.stats().requests(SbEndpoint::Token)
    }

    /// Starts a child in `mode` and waits until it is ready.
    async fn spawn(&self, mode: &str, margin: Duration) -> ChildProcess {
        let mut worker = self.start(mode, margin);
        worker.ready().await;
        worker
    }

    /// Starts a child in `mode`.
    fn start(&self, mode: &str, margin: Duration) -> ChildProcess {
        let mut cmd = child_command(CHILD_TEST, CHILD_ENV, mode, &self.sandbox);
        cmd.env("LL_DIR", self.dir.path())
            .env("LL_STORE_KEY", store_key().to_base64())
            .env("LL_MARGIN_MS", margin.as_millis().to_string());
        ChildProcess::spawn(cmd, Stdio::null(), Duration::from_secs(20))
    }

    fn fresh_manager(&self) -> TokenManager<FileStore> {
        TokenManager::new(
            self.client.clone(),
            self.store.clone(),
            key(),
            ManagerOptions::default().max_attempts(1),
        )
    }

    /// The store after a kill: the file parses to a login whose refresh token the
    /// provider still accepts, and nothing else than temporary files of killed writers
    /// lies next to it.
    async fn check_store(&self, what: &str) -> TokenSet {
        let stored = self
            .store
            .load(&key())
            .await
            .unwrap_or_else(|e| panic!("{what}: the store file must parse: {e}"))
            .unwrap_or_else(|| panic!("{what}: the login must still be stored"));
        let rt = stored.refresh_token.as_ref().expect("a refresh token");
        assert!(
            self.sandbox
                .introspect(rt.secret())
                .is_some_and(|i| i.active),
            "{what}: the stored refresh token is live at the provider"
        );
        for name in files_in(self.dir.path()) {
            assert!(
                name == "sandbox.default.json"
                    || name == "sandbox.default.json.lock"
                    || name.starts_with(".sandbox.default.json.tmp-"),
                "{what}: unexpected file {name}"
            );
        }
        stored
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    files_in(dir)
        .into_iter()
        .filter(|n| n.contains(".tmp-"))
        .map(|n| dir.join(n))
        .collect()
}

/// Plays the browser and completes a login.
async fn login(client: &Client) -> TokenSet {
    lexoffice_login_sandbox::auto_consent_login(client)
        .await
        .expect("login completes")
}

/// Makes the stored login's access token look expired, so that the next
/// `access_token()` refreshes.
async fn expire_stored(setup: &Setup) {
    let mut stored = setup.store.load(&key()).await.unwrap().unwrap();
    stored.expires_at = Some(Utc::now() - chrono::Duration::seconds(1));
    setup.store.save(&key(), &stored).await.unwrap();
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------------------------------------------------------------------------------------
// The tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_refresh_exactly_once() {
    // Rotation and reuse detection on (the defaults), no grace period: a second refresh
    // with the same refresh token would be refused and revoke the login.
    let ttl = Duration::from_secs(5);
    let margin = Duration::from_secs(3);
    let (setup, old) = Setup::new(Sandbox::builder().access_token_ttl(ttl)).await;
    let before = setup.token_requests();

    // All eight are started, have discovered the provider and built their manager...
    let started = Instant::now();
    let mut workers: Vec<ChildProcess> = (0..8).map(|_| setup.start("once", margin)).collect();
    for w in &mut workers {
        w.ready().await;
    }
    let startup = started.elapsed();
    // ...and the stored access token is within the refresh margin (it says so itself,
    // instead of this test waiting for the clock): then all of them ask for a token at
    // once.
    let mut near = setup.store.load(&key()).await.unwrap().unwrap();
    near.obtained_at = Utc::now() - chrono::Duration::seconds(4);
    near.expires_at = Some(Utc::now() + chrono::Duration::seconds(1));
    setup.store.save(&key(), &near).await.unwrap();
    assert!(near.expires_within(margin));
    for w in &mut workers {
        w.go().await;
    }
    let mut digests = Vec::new();
    for w in &mut workers {
        let line = w.next_marker().await.expect("an answer");
        let d = line
            .strip_prefix("LL_OK ")
            .unwrap_or_else(|| panic!("the child failed: {line}"))
            .to_owned();
        digests.push(d);
    }
    for mut w in workers {
        assert!(w.child.wait().await.unwrap().success());
    }

    let stats = setup.sandbox.stats();
    assert_eq!(
        stats.token_grants("refresh_token"),
        1,
        "exactly one refresh"
    );
    assert_eq!(
        stats.requests(SbEndpoint::Token) - before,
        1,
        "exactly one token request (so no invalid_grant either)"
    );
    assert_eq!(stats.refresh_reuse_detected(), 0);

    let stored = setup.store.load(&key()).await.unwrap().unwrap();
    assert_ne!(stored.access_token.secret(), old.access_token.secret());
    let want = digest(stored.access_token.secret());
    assert!(
        digests.iter().all(|d| *d == want),
        "all eight got the stored, refreshed token"
    );
    assert!(setup
        .sandbox
        .introspect(stored.access_token.secret())
        .is_some_and(|i| i.active));
    assert_ne!(
        stored.refresh_token.as_ref().unwrap().secret(),
        old.refresh_token.as_ref().unwrap().secret(),
        "the rotated refresh token was stored"
    );
    setup.check_store("after the refresh").await;
    assert!(temp_files(setup.dir.path()).is_empty());
    eprintln!("8 children ready after {startup:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_while_waiting_for_the_lock_changes_nothing() {
    let (setup, old) = Setup::new(Sandbox::builder()).await;
    expire_stored(&setup).await;
    let before = setup.token_requests();

    // This process holds the refresh lock, as another process refreshing would.
    let held = setup.store.lock_refresh(&key()).await.unwrap();
    let mut worker = setup.spawn("once", Duration::from_secs(120)).await;
    worker.go().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        setup.token_requests(),
        before,
        "the child waits for the lock and has not asked the provider"
    );
    worker.kill().await;
    drop(held);

    let stored = setup.check_store("killed while waiting for the lock").await;
    assert_eq!(
        stored.refresh_token.as_ref().unwrap().secret(),
        old.refresh_token.as_ref().unwrap().secret(),
        "the login is untouched"
    );
    assert!(temp_files(setup.dir.path()).is_empty());

    // The killed child never got the lock; once this process lets go, a fresh manager
    // refreshes at once.
    let t = setup.fresh_manager().access_token().await.unwrap();
    assert!(setup
        .sandbox
        .introspect(t.secret())
        .is_some_and(|i| i.active));
    assert_eq!(setup.sandbox.stats().token_grants("refresh_token"), 1);
    assert_eq!(setup.sandbox.stats().refresh_reuse_detected(), 0);
    setup.check_store("after the fresh manager's refresh").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_while_its_token_request_is_in_flight_loses_nothing() {
    // Why a grace period: once the child's request is in flight, the provider may already
    // have rotated the refresh token when the child dies before storing the answer. The
    // new refresh token is then lost with the child, and the store (which must hold the
    // old login or the new one, both readable) holds the old one, which a rotating
    // provider without a grace period refuses, revoking the login: no client can prevent
    // that. Only a grace period for the replaced refresh token (Xero: 30 minutes) or no
    // rotation saves the login. Here the hang comes before the sandbox rotates, so the
    // old token would work anyway; the grace period makes the test hold for a provider
    // that answers late after rotating, too.
    let (setup, old) =
        Setup::new(Sandbox::builder().refresh_grace_period(Duration::from_secs(60))).await;
    expire_stored(&setup).await;
    let before = setup.token_requests();

    setup.sandbox.inject_token_faults(1, Fault::Hang);
    let mut worker = setup.spawn("once", Duration::from_secs(120)).await;
    worker.go().await;
    wait_for("the child's token request", || {
        setup.token_requests() > before
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The child holds the refresh lock now.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), setup.store.lock_refresh(&key()))
            .await
            .is_err(),
        "the child holds the refresh lock during its request"
    );
    worker.kill().await;

    let stored = setup.check_store("killed during the token request").await;
    assert_eq!(
        stored.refresh_token.as_ref().unwrap().secret(),
        old.refresh_token.as_ref().unwrap().secret(),
        "the child stored nothing"
    );
    assert!(temp_files(setup.dir.path()).is_empty());

    // The OS released the dead child's lock: a fresh manager refreshes without waiting.
    let started = Instant::now();
    let t = setup.fresh_manager().access_token().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3), "no lock wait");
    assert!(setup
        .sandbox
        .introspect(t.secret())
        .is_some_and(|i| i.active));
    let stats = setup.sandbox.stats();
    assert_eq!(stats.token_grants("refresh_token"), 1);
    assert_eq!(stats.refresh_reuse_detected(), 0);
    setup.check_store("after the fresh manager's refresh").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_killed_at_random_moments_of_refreshing_never_break_the_store() {
    // Rotation and reuse detection on, with a grace period: a kill between the provider's
    // rotation and the store's rename leaves the old (replaced) refresh token stored;
    // see the test above for why only a grace period can save such a login.
    let (setup, _old) =
        Setup::new(Sandbox::builder().refresh_grace_period(Duration::from_secs(120))).await;
    let mut rng = rand::thread_rng();
    let mut refreshes_seen = 0;
    for i in 0..20 {
        let mut worker = setup.spawn("loop", Duration::from_secs(120)).await;
        // The first call takes the stored login (nothing refused yet); every later one
        // refreshes.
        let first = worker.next_marker().await.unwrap_or_default();
        assert!(first.starts_with("LL_OK"), "{first}");
        let after = Duration::from_millis(rng.gen_range(0..=40));
        tokio::time::sleep(after).await;
        worker.kill().await;
        setup
            .check_store(&format!("kill {i} after {after:?}"))
            .await;
        refreshes_seen = setup.sandbox.stats().token_grants("refresh_token");
    }
    // About 1 to 10 refreshes fit in 40 ms here; the kills land in every phase of one.
    assert!(
        refreshes_seen >= 10,
        "the children refreshed ({refreshes_seen} times) before they were killed"
    );

    // Temporary files of writers killed before their rename may remain; readers never
    // look at them, and they must not hold anything the store would read.
    let leftovers = temp_files(setup.dir.path());
    eprintln!(
        "{refreshes_seen} refreshes in 20 killed children; {} temporary files left by killed writers",
        leftovers.len()
    );

    // The write window (temporary file created .. renamed) is well under a millisecond,
    // so random kills rarely land in it: leave a torn temporary file as such a kill
    // would, and check that it confuses neither readers nor the next writer.
    let path = setup.store.path_for(&key());
    let whole = std::fs::read(&path).unwrap();
    let torn = setup
        .dir
        .path()
        .join(".sandbox.default.json.tmp-999999-AAAAAAAA");
    std::fs::write(&torn, &whole[..whole.len() / 2]).unwrap();
    setup.check_store("next to a torn temporary file").await;

    let t = setup.fresh_manager().force_refresh().await.unwrap();
    assert!(setup
        .sandbox
        .introspect(t.secret())
        .is_some_and(|i| i.active));
    assert_eq!(setup.sandbox.stats().refresh_reuse_detected(), 0);
    let stored = setup.check_store("at the end").await;
    assert_eq!(stored.access_token.secret(), t.secret());
}

/// A file store whose next save fails, like a full disk for a moment.
#[derive(Debug, Clone)]
struct FailingSaveStore {
    inner: FileStore,
    fail_next_save: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl TokenStore for FailingSaveStore {
    async fn load(
        &self,
        key: &StoreKey,
    ) -> Result<Option<TokenSet>, lexoffice_login::store::StoreError> {
        self.inner.load(key).await
    }
    async fn save(
        &self,
        key: &StoreKey,
        tokens: &TokenSet,
    ) -> Result<(), lexoffice_login::store::StoreError> {
        if self
            .fail_next_save
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(lexoffice_login::store::StoreError::Backend(
                "no space left on device (simulated)".into(),
            ));
        }
        self.inner.save(key, tokens).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), lexoffice_login::store::StoreError> {
        self.inner.delete(key).await
    }
    async fn lock_refresh(
        &self,
        key: &StoreKey,
    ) -> Result<lexoffice_login::store::RefreshGuard, lexoffice_login::store::StoreError> {
        self.inner.lock_refresh(key).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_store_write_does_not_lose_the_rotated_refresh_token() {
    // Rotation and reuse detection on, no grace period.
    let (setup, old) = Setup::new(Sandbox::builder()).await;
    expire_stored(&setup).await;
    let store = FailingSaveStore {
        inner: setup.store.clone(),
        fail_next_save: Default::default(),
    };
    let manager = TokenManager::new(
        setup.client.clone(),
        store.clone(),
        key(),
        ManagerOptions::default().max_attempts(1),
    );

    // The refresh succeeds at the provider, but its result cannot be stored.
    store
        .fail_next_save
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let err = manager.access_token().await.unwrap_err();
    assert!(err.to_string().contains("no space left"), "{err}");
    let stored = setup.store.load(&key()).await.unwrap().unwrap();
    assert_eq!(
        stored.refresh_token.as_ref().unwrap().secret(),
        old.refresh_token.as_ref().unwrap().secret(),
        "the store still holds the replaced refresh token"
    );
    // The new tokens are kept in memory...
    let kept = manager.access_token().await.unwrap();
    assert!(setup
        .sandbox
        .introspect(kept.secret())
        .is_some_and(|i| i.active));

    // ...and the next refresh must start from them, not from the replaced refresh token
    // in the store (which the provider would take as reuse and revoke the login).
    let t = manager
        .force_refresh()
        .await
        .expect("the next refresh works");
    assert!(setup
        .sandbox
        .introspect(t.secret())
        .is_some_and(|i| i.active));
    let stats = setup.sandbox.stats();
    assert_eq!(
        stats.refresh_reuse_detected(),
        0,
        "no reuse of a replaced token"
    );
    assert_eq!(stats.token_grants("refresh_token"), 2);
    let stored = setup.check_store("after the second refresh").await;
    assert_eq!(
        stored.access_token.secret(),
        t.secret(),
        "and it was stored"
    );
}
