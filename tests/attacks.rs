//! Our own attack table (issue "Hardening: every hostile or broken input refused, no
//! secret in any message"): discovery, callback, token answer, ID token, JWKS, refresh,
//! revocation, userinfo, store, config and the API/manager options, each case a row of a
//! table with the exact error it must end in, positive controls beside the attacks, and
//! one test that searches every error's `Display` and `Debug` and the TRACE log of the
//! whole table for the secrets in play.
//!
//! `cargo test -p lexoffice-login --test attacks -- --nocapture` prints the counts.

mod support;

#[path = "attacks/harness.rs"]
mod harness;

#[path = "attacks/backchannel.rs"]
mod backchannel;
#[path = "attacks/callback.rs"]
mod callback;
#[path = "attacks/config.rs"]
mod config;
#[path = "attacks/discovery.rs"]
mod discovery;
#[path = "attacks/id_token.rs"]
mod id_token;
#[path = "attacks/options.rs"]
mod options;
#[path = "attacks/store.rs"]
mod store;
#[path = "attacks/token.rs"]
mod token;

#[path = "support/log_capture.rs"]
mod log_capture;

use harness::{assert_all, Outcome};
use log_capture::Capture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_attacks() {
    assert_all(&discovery::run().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_attacks() {
    assert_all(&callback::run().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_answer_attacks() {
    assert_all(&token::run().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_token_attacks() {
    assert_all(&id_token::run().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_attacks() {
    assert_all(&id_token::run_jwks().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_attacks() {
    assert_all(&token::run_refresh().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_attacks() {
    assert_all(&backchannel::run_revocation().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_attacks() {
    assert_all(&backchannel::run_userinfo().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_attacks() {
    assert_all(&store::run().await);
}

#[test]
fn config_attacks() {
    assert_all(&config::run());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn option_attacks() {
    assert_all(&options::run().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_counting_scenarios() {
    assert_all(&options::run_scenarios().await);
}

/// The whole table, every category.
async fn everything() -> Vec<Outcome> {
    let mut all = discovery::run().await;
    all.extend(callback::run().await);
    all.extend(token::run().await);
    all.extend(id_token::run().await);
    all.extend(id_token::run_jwks().await);
    all.extend(token::run_refresh().await);
    all.extend(backchannel::run_revocation().await);
    all.extend(backchannel::run_userinfo().await);
    all.extend(store::run().await);
    all.extend(config::run());
    all.extend(options::run().await);
    all.extend(options::run_scenarios().await);
    all
}

/// The whole table runs with every `tracing` event at TRACE captured; no error's
/// `Display` or `Debug` and no log line may hold a secret of any case. Also prints the
/// table's counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_error_or_log_of_the_table() {
    let capture = Capture::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .try_init()
        .expect("the only subscriber in this test binary");
    harness::remember_constants();

    let all = everything().await;
    let failed: Vec<&Outcome> = all.iter().filter(|o| o.failure.is_some()).collect();
    eprintln!(
        "attack table: {} cases, {} as expected, {} not",
        all.len(),
        all.len() - failed.len(),
        failed.len()
    );
    let mut per_category: std::collections::BTreeMap<&str, usize> = Default::default();
    for o in &all {
        *per_category.entry(o.category).or_default() += 1;
    }
    for (category, n) in &per_category {
        eprintln!("  {category}: {n}");
    }
    for o in &failed {
        eprintln!(
            "  [{}] {}: {}",
            o.category,
            o.name,
            o.failure.as_deref().unwrap_or("")
        );
    }

    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(
        logs.lines().count() > 100,
        "TRACE logging captured the table"
    );
    let shown = harness::shown();
    assert!(shown.len() > 100, "the errors of the table were kept");
    let mut leaks = Vec::new();
    for (what, secret) in harness::secrets() {
        for (case, text) in &shown {
            if text.contains(&secret) {
                leaks.push(format!("the {what} in the error of case {case:?}"));
            }
        }
        if logs.contains(&secret) {
            leaks.push(format!("the {what} in the TRACE log"));
        }
    }
    leaks.sort();
    leaks.dedup();
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}
