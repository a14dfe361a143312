//! No secret in logs, `Debug` output or error messages: the whole flow runs against the
//! sandbox with every `tracing` (and `log`) event at TRACE captured, the `Debug` and
//! `Display` of every value and error are added, and the result is searched for every
//! secret value the flow handled.
//!
//! One test per binary: the subscriber is process-global, so that events from every
//! runtime thread (the sandbox's included) are captured.

use std::time::Duration;

use lexoffice_login::{Client, Settings};
use lexoffice_login_sandbox::{Fault, Sandbox};

#[path = "support/log_capture.rs"]
mod log_capture;

use log_capture::Capture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_debug_or_errors() {
    let capture = Capture::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .try_init()
        .expect("the only subscriber in this test binary");

    let sandbox = Sandbox::builder().start().await.unwrap();
    let client_secret = sandbox.client_secret().unwrap().to_owned();
    let settings = Settings::builder(
        sandbox.issuer(),
        sandbox.client_id(),
        sandbox.redirect_uri(),
    )
    .client_secret(&client_secret)
    .scopes([
        "openid",
        "profile",
        "email",
        "offline_access",
        "profile.read",
    ])
    .timeouts(Duration::from_secs(1), Duration::from_secs(1))
    .build()
    .unwrap();
    let mut shown = vec![format!("{settings:?}")];
    let client = Client::connect(settings).await.unwrap();
    shown.push(format!("{client:?}"));

    let (url, pending) = client.authorize().unwrap();
    // The pending login serializes (for server-side sessions): that is how the test
    // learns the state, nonce and verifier it must never see printed.
    let pending_json: serde_json::Value = serde_json::to_value(&pending).unwrap();
    let mut secrets: Vec<String> = ["state", "nonce", "verifier"]
        .iter()
        .filter_map(|k| {
            pending_json
                .get(k)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        secrets.len(),
        3,
        "state, nonce and verifier found: {pending_json}"
    );
    shown.push(format!("{pending:?}"));

    let redirect = sandbox.follow_authorization(&url).await.unwrap();
    let code = url::Url::parse(&redirect)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    secrets.push(code);

    // A rejected callback (wrong state) first: its error must not echo anything either.
    let forged = redirect.replace("state=", "state=x");
    let err = pending
        .verify_callback(&forged, &client.metadata())
        .unwrap_err();
    shown.push(format!("{err} {err:?}"));

    let response = pending
        .verify_callback(&redirect, &client.metadata())
        .unwrap();
    shown.push(format!("{response:?}"));
    let tokens = client.exchange(pending, response).await.unwrap();
    shown.push(format!("{tokens:?}"));

    let info = client.userinfo(&tokens).await.unwrap();
    shown.push(format!("{info:?}"));
    let refreshed = client.refresh(&tokens).await.unwrap();
    shown.push(format!("{refreshed:?}"));

    // Failures along the way carry no secret either.
    sandbox.inject_token_faults(1, Fault::ServerError);
    let err = client.refresh(&refreshed).await.unwrap_err();
    shown.push(format!("{err} {err:?}"));
    sandbox.inject_token_faults(1, Fault::MalformedJson);
    let err = client.refresh(&refreshed).await.unwrap_err();
    shown.push(format!("{err} {err:?}"));

    client.revoke_refresh_token(&refreshed).await.unwrap();
    let err = client.refresh(&refreshed).await.unwrap_err();
    shown.push(format!("{err} {err:?}"));
    let err = client.refresh(&tokens).await.unwrap_err();
    shown.push(format!("{err} {err:?}"));

    for t in [&tokens, &refreshed] {
        secrets.push(t.access_token.secret().clone());
        secrets.push(t.refresh_token.as_ref().unwrap().secret().clone());
        secrets.push(t.id_token.as_ref().unwrap().secret().to_owned());
    }
    secrets.push(client_secret);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.lines().count() > 10,
        "TRACE logging captured the flow (got {} lines)",
        logs.lines().count()
    );
    let everything = format!("{logs}\n{}", shown.join("\n"));
    for secret in &secrets {
        assert!(secret.len() >= 8, "a real secret value, not an empty one");
        assert!(
            !everything.contains(secret.as_str()),
            "a secret value leaked into logs, Debug or an error message"
        );
    }
}
