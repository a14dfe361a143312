//! [`KeyringStore`] against the real OS keyring (on Linux the kernel keyring, keyutils):
//! round trip, replace, delete, the refresh lock, and a clear failure (never a silent
//! pass) where the keyring cannot be used.
//!
//! Run with `cargo test --features keyring --test keyring_store`.
#![cfg(feature = "keyring")]

use std::time::Duration;

use chrono::Utc;
use lexoffice_login::store::{KeyringStore, StoreError, StoreKey, TokenStore, KEYRING_SERVICE};
use lexoffice_login::{AccessToken, RefreshToken, Scopes, TokenSet};

/// A service name of its own per run, so that the test never touches a real login and
/// parallel runs do not collide.
fn test_store(lock_dir: &std::path::Path) -> KeyringStore {
    KeyringStore::builder()
        .service(format!("{KEYRING_SERVICE}-test-{}", std::process::id()))
        .lock_dir(lock_dir)
        .lock_timeout(Duration::from_millis(300))
        .build()
        .expect("the store builds")
}

/// Set in a child process: the service whose entry it loads and prints.
const CHILD_ENV: &str = "KR_CHILD_SERVICE";

/// In a child process (only): loads the round-trip entry and prints its access token
/// (a dummy value).
#[tokio::test]
async fn child_reads_the_entry() {
    let Ok(service) = std::env::var(CHILD_ENV) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = KeyringStore::builder()
        .service(service)
        .lock_dir(dir.path())
        .build()
        .unwrap();
    let key = StoreKey::new("sandbox", "keyring-round-trip");
    match store.load(&key).await {
        Ok(Some(t)) => println!("KR_LOADED {}", t.access_token.secret()),
        other => println!("KR_FAILED {other:?}"),
    }
}

fn sample(n: u32) -> TokenSet {
    TokenSet {
        access_token: AccessToken::new(format!("at-SECRET-{n}")),
        token_type: "Bearer".into(),
        refresh_token: Some(RefreshToken::new(format!("rt-SECRET-{n}"))),
        id_token: None,
        id_token_claims: None,
        expires_at: Some(Utc::now() + chrono::Duration::seconds(3600)),
        scopes: Scopes::new(),
        obtained_at: Utc::now(),
        extras: Default::default(),
        origin: None,
    }
}

/// The result of the first keyring operation of a test: fails with an explanation when
/// the keyring cannot be used here (for example a container whose seccomp profile
/// blocks the `keyctl`/`add_key` system calls), never passes silently.
fn explain<T>(result: Result<T, StoreError>) -> T {
    result.unwrap_or_else(|e| {
        panic!(
            "the OS keyring is not usable on this machine, so KeyringStore cannot be tested \
             here: {e}\n(on Linux the kernel keyring must be reachable: `keyctl show @u` \
             must work; Docker's default seccomp profile blocks it: run the container with \
             a profile that allows keyctl/add_key/request_key)"
        )
    })
}

#[tokio::test]
async fn round_trip_replace_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = test_store(dir.path());
    let key = StoreKey::new("sandbox", "keyring-round-trip");
    let other = StoreKey::new("sandbox", "keyring-other");
    explain(store.save(&key, &sample(1)).await);
    store.delete(&key).await.unwrap();
    store.delete(&other).await.unwrap();

    assert!(
        store.load(&key).await.unwrap().is_none(),
        "nothing stored yet"
    );
    store.save(&key, &sample(1)).await.unwrap();
    let back = store.load(&key).await.unwrap().expect("the saved login");
    assert_eq!(back.access_token.secret(), "at-SECRET-1");
    assert_eq!(back.refresh_token.unwrap().secret(), "rt-SECRET-1");
    assert!(back.expires_at.is_some());

    // A second login of the same service is a separate entry.
    store.save(&other, &sample(9)).await.unwrap();
    // Saving again replaces the entry.
    store.save(&key, &sample(2)).await.unwrap();
    let back = store.load(&key).await.unwrap().unwrap();
    assert_eq!(back.refresh_token.unwrap().secret(), "rt-SECRET-2");
    let back = store.load(&other).await.unwrap().unwrap();
    assert_eq!(back.refresh_token.unwrap().secret(), "rt-SECRET-9");

    // Another store value sees the same entry, and so does another process.
    let again = test_store(dir.path());
    let back = again.load(&key).await.unwrap().unwrap();
    assert_eq!(back.access_token.secret(), "at-SECRET-2");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_reads_the_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, store.service())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.contains("KR_LOADED at-SECRET-2"),
        "another process reads the entry: {out}"
    );

    store.delete(&key).await.unwrap();
    assert!(store.load(&key).await.unwrap().is_none(), "deleted");
    store.delete(&key).await.unwrap();
    assert!(
        store.load(&other).await.unwrap().is_some(),
        "the other stays"
    );
    store.delete(&other).await.unwrap();
    assert!(store.load(&other).await.unwrap().is_none());

    let shown = format!("{store:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert_eq!(KeyringStore::user_for(&key), "sandbox/keyring-round-trip");
}

#[tokio::test]
async fn the_refresh_lock_excludes_other_holders_and_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let a = test_store(dir.path());
    let b = test_store(dir.path());
    let key = StoreKey::new("sandbox", "keyring-lock");

    let held = a.lock_refresh(&key).await.unwrap();
    // Same process, another store value: waits on the in-process mutex.
    let err = tokio::time::timeout(Duration::from_millis(200), b.lock_refresh(&key)).await;
    assert!(err.is_err(), "a second holder must wait");
    // Another login is not blocked.
    let _other = b
        .lock_refresh(&StoreKey::new("sandbox", "keyring-lock-2"))
        .await
        .unwrap();
    drop(held);
    let _again = b.lock_refresh(&key).await.expect("free once released");
}

#[tokio::test]
async fn the_file_lock_times_out_like_the_file_store() {
    // The OS file lock alone (as another process holds it): a clear timeout error.
    let dir = tempfile::tempdir().unwrap();
    let store = test_store(dir.path());
    let key = StoreKey::new("sandbox", "keyring-file-lock");
    let _held = store.lock_refresh(&key).await.unwrap();
    let lock_file = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("keyring-file-lock"))
        .expect("a lock file in the lock directory");
    drop(_held);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&lock_file)
        .unwrap();
    f.lock().unwrap();
    let err = store.lock_refresh(&key).await.unwrap_err();
    assert!(matches!(err, StoreError::LockTimeout { .. }), "{err}");
    f.unlock().unwrap();
    let _ok = store.lock_refresh(&key).await.unwrap();
}
