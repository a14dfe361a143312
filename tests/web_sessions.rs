//! The backend-for-frontend's session stores: the same rules for
//! [`MemorySessionStore`] and [`PostgresSessionStore`] (the latter against a real
//! PostgreSQL, see `tests/support/postgres.rs`), timed by an injected clock; then what
//! only the shared store must do: ids and users not in clear in the database, sessions
//! shared by replicas and kept across a restart, each timed-out session handed out once
//! however many replicas sweep, and a row moved under another id refused.
#![cfg(all(feature = "axum", feature = "postgres"))]

#[path = "support/postgres.rs"]
mod pg;

use std::time::Duration;

use lexoffice_login::store::{EncryptionKey, PostgresStore, StoreKey};
use lexoffice_login::web::{
    BrowserSession, MemorySessionStore, PostgresSessionStore, SessionId, SessionLookup,
    SessionStore, SessionTimeouts, SessionUser,
};
use lexoffice_login::FixedClock;
use sha2::{Digest, Sha256};
use sqlx::Row;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn session(n: u32) -> BrowserSession {
    BrowserSession::new(
        StoreKey::new("production", format!("bff-{n}")),
        SessionUser::new(
            Some(format!("user-{n}")),
            Some("Erika Mustermann".into()),
            Some(format!("erika{n}@example.com")),
        ),
        Some("org-4711".into()),
        vec!["openid".into(), "profile.read".into()],
    )
}

fn timeouts() -> SessionTimeouts {
    SessionTimeouts::new(Duration::from_secs(60), Duration::from_secs(200)).unwrap()
}

async fn pg_store(url: &str) -> PostgresStore {
    PostgresStore::builder()
        .database_url(url)
        .key(EncryptionKey::from_base64(KEY).unwrap())
        .build()
        .await
        .unwrap()
}

fn is_active(l: &SessionLookup) -> bool {
    matches!(l, SessionLookup::Active(_))
}

/// The rules every store keeps, by `clock`.
async fn the_rules(store: &impl SessionStore, clock: &FixedClock) {
    let id = store.create(session(1)).await.unwrap();
    assert_eq!(
        store.touch(&id).await.unwrap(),
        SessionLookup::Active(session(1))
    );
    assert_eq!(
        store
            .touch(&SessionId::from_cookie("forged"))
            .await
            .unwrap(),
        SessionLookup::Unknown
    );
    // Active every 50 s: alive past the idle timeout (60 s), ended by the absolute one.
    for _ in 0..3 {
        clock.advance(Duration::from_secs(50));
        assert!(is_active(&store.touch(&id).await.unwrap()));
    }
    clock.advance(Duration::from_secs(50));
    assert_eq!(
        store.touch(&id).await.unwrap(),
        SessionLookup::Expired(session(1)),
        "absolute timeout"
    );
    assert_eq!(
        store.touch(&id).await.unwrap(),
        SessionLookup::Unknown,
        "handed out once"
    );

    // Idle: the sweep ends the idle session and keeps the busy one.
    let idle = store.create(session(2)).await.unwrap();
    let busy = store.create(session(3)).await.unwrap();
    clock.advance(Duration::from_secs(59));
    assert!(is_active(&store.touch(&busy).await.unwrap()));
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        store.sweep().await.unwrap(),
        vec![session(2)],
        "idle timeout"
    );
    assert_eq!(store.touch(&idle).await.unwrap(), SessionLookup::Unknown);
    assert!(is_active(&store.touch(&busy).await.unwrap()));
    // Logout: removed once, then unknown.
    assert_eq!(store.remove(&busy).await.unwrap(), Some(session(3)));
    assert_eq!(store.remove(&busy).await.unwrap(), None);
    assert_eq!(store.touch(&busy).await.unwrap(), SessionLookup::Unknown);
    assert!(store.sweep().await.unwrap().is_empty());
}

#[tokio::test]
async fn memory_store_keeps_the_rules() {
    let clock = FixedClock::at_now();
    let store = MemorySessionStore::new(timeouts()).with_clock(clock.clone());
    the_rules(&store, &clock).await;
}

#[tokio::test]
async fn postgres_store_keeps_the_rules() {
    let url = pg::database().await;
    let clock = FixedClock::at_now();
    let store =
        PostgresSessionStore::new(&pg_store(&url).await, timeouts()).with_clock(clock.clone());
    the_rules(&store, &clock).await;
}

#[tokio::test]
async fn postgres_rows_hold_neither_the_id_nor_the_user_in_clear() {
    let url = pg::database().await;
    let db = pg_store(&url).await;
    let store = PostgresSessionStore::new(&db, timeouts());
    let id = store.create(session(7)).await.unwrap();
    let rows = sqlx::query("SELECT id_hash, sealed FROM lexoffice_login_sessions")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let id_hash: Vec<u8> = rows[0].get("id_hash");
    let sealed: Vec<u8> = rows[0].get("sealed");
    assert_eq!(id_hash, Sha256::digest(id.secret().as_bytes()).to_vec());
    let dump = String::from_utf8_lossy(&sealed).into_owned();
    for clear in [
        id.secret(),
        "erika7@example.com",
        "Erika",
        "user-7",
        "org-4711",
        "bff-7",
    ] {
        assert!(!dump.contains(clear), "{clear} in clear");
    }
}

#[tokio::test]
async fn replicas_share_sessions_which_outlive_a_restart() {
    let url = pg::database().await;
    let clock = FixedClock::at_now();
    let a = PostgresSessionStore::new(&pg_store(&url).await, timeouts()).with_clock(clock.clone());
    let b = PostgresSessionStore::new(&pg_store(&url).await, timeouts()).with_clock(clock.clone());
    let id = a.create(session(1)).await.unwrap();
    // Activity on replica A counts on replica B.
    clock.advance(Duration::from_secs(40));
    assert!(is_active(&a.touch(&id).await.unwrap()));
    clock.advance(Duration::from_secs(40));
    assert!(is_active(&b.touch(&id).await.unwrap()), "kept alive by A");
    // A restart: a new pool on the same database finds the session (the cookie works).
    drop(a);
    let restarted =
        PostgresSessionStore::new(&pg_store(&url).await, timeouts()).with_clock(clock.clone());
    assert_eq!(
        restarted.touch(&id).await.unwrap(),
        SessionLookup::Active(session(1))
    );
    // A logout on B ends it for every replica.
    assert_eq!(b.remove(&id).await.unwrap(), Some(session(1)));
    assert_eq!(restarted.touch(&id).await.unwrap(), SessionLookup::Unknown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_timed_out_session_is_handed_out_once_across_replicas() {
    let url = pg::database().await;
    let clock = FixedClock::at_now();
    let replicas: Vec<PostgresSessionStore> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(
                PostgresSessionStore::new(&pg_store(&url).await, timeouts())
                    .with_clock(clock.clone()),
            );
        }
        v
    };
    let mut ids = Vec::new();
    for n in 0..60 {
        ids.push(replicas[n % 3].create(session(n as u32)).await.unwrap());
    }
    clock.advance(Duration::from_secs(61));
    // Three replicas sweep while the browsers of the first ten come back, all at once.
    let mut tasks = tokio::task::JoinSet::new();
    for r in &replicas {
        let r = r.clone();
        tasks.spawn(async move { r.sweep().await.unwrap() });
    }
    for (i, id) in ids.into_iter().take(10).enumerate() {
        let r = replicas[i % 3].clone();
        tasks.spawn(async move {
            match r.touch(&id).await.unwrap() {
                SessionLookup::Expired(s) => vec![s],
                SessionLookup::Unknown => vec![],
                other => panic!("an idle session was found active: {other:?}"),
            }
        });
    }
    let mut ended: Vec<String> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        ended.extend(done.unwrap().into_iter().map(|s| s.connection.profile));
    }
    ended.sort();
    let mut expected: Vec<String> = (0..60).map(|n| format!("bff-{n}")).collect();
    expected.sort();
    assert_eq!(ended, expected, "every session ended exactly once");
}

#[tokio::test]
async fn a_row_moved_under_another_id_is_refused() {
    let url = pg::database().await;
    let db = pg_store(&url).await;
    let store = PostgresSessionStore::new(&db, timeouts());
    let victim = store.create(session(1)).await.unwrap();
    let attacker = store.create(session(2)).await.unwrap();
    // Someone with write access to the table copies the victim's sealed row over theirs.
    sqlx::query(
        "UPDATE lexoffice_login_sessions SET sealed = (SELECT sealed FROM lexoffice_login_sessions WHERE id_hash = $1) WHERE id_hash = $2",
    )
    .bind(Sha256::digest(victim.secret().as_bytes()).to_vec())
    .bind(Sha256::digest(attacker.secret().as_bytes()).to_vec())
    .execute(db.pool())
    .await
    .unwrap();
    let err = store.touch(&attacker).await.unwrap_err();
    assert!(!err.to_string().contains(attacker.secret()), "{err}");
    assert_eq!(
        store.touch(&victim).await.unwrap(),
        SessionLookup::Active(session(1))
    );
}
