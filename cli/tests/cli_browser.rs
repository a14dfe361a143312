//! One end-to-end login in a real browser: Debian's Chromium, headless, driven by
//! `playwright-core` (tests/browser/consent.mjs), through the sandbox's interactive
//! consent page, back to `lexoffice-login login --no-browser` on its loopback redirect.
//!
//! Needs `/usr/bin/chromium` (Debian: `apt-get install -y chromium`; or set CHROMIUM)
//! and Node.js with npm; `npm ci` runs in tests/browser when node_modules is missing.
//! Without Chromium the test fails with what to install: it is never skipped.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use lexoffice_login_sandbox::Sandbox;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_lexoffice-login");
const TIMEOUT: Duration = Duration::from_secs(120);

fn browser_dir() -> PathBuf {
    support::repo_root().join("tests").join("browser")
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "Chromium is missing at {}: this test drives a real headless Chromium. Install \
         Debian's package (`apt-get update && apt-get install -y chromium`) or set CHROMIUM \
         to a Chromium or Chrome binary.",
        path.display()
    );
    path
}

/// Installs playwright-core (pinned by tests/browser/package-lock.json) if it is missing.
fn ensure_node_modules() {
    support::npm::ensure_installed(&browser_dir(), "playwright-core");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_in_headless_chromium_picking_the_second_test_user() {
    let chromium = chromium();
    tokio::task::spawn_blocking(ensure_node_modules)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));

    let sandbox = Sandbox::builder().interactive(true).start().await.unwrap();
    let second = sandbox.users()[1].sub.clone();
    let dir = tempfile::tempdir().unwrap();
    let command = |args: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("LEXOFFICE_LOGIN_ISSUER", sandbox.issuer())
            .env(
                "LEXOFFICE_LOGIN_CLIENT_SECRET",
                sandbox.client_secret().unwrap_or_default(),
            )
            .env(
                "LEXOFFICE_LOGIN_REDIRECT_URI",
                "http://127.0.0.1:0/callback",
            )
            .env("LEXOFFICE_LOGIN_STORE_DIR", dir.path().join("store"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    };

    let mut login = command(&["login", "--no-browser", "--timeout", "120"])
        .spawn()
        .expect("spawn lexoffice-login");
    let mut stdout = BufReader::new(login.stdout.take().unwrap());
    let mut url = String::new();
    tokio::time::timeout(TIMEOUT, stdout.read_line(&mut url))
        .await
        .expect("the login URL in time")
        .unwrap();
    let url = url.trim().to_owned();
    assert!(url.starts_with(sandbox.issuer()), "{url:?}");

    let profile_dir = dir.path().join("chromium-profile");
    let mut node = Command::new("node");
    node.arg("consent.mjs")
        .arg(&url)
        .arg(&second)
        .arg(&profile_dir)
        .current_dir(browser_dir())
        .env("CHROMIUM", &chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(shots) = std::env::var_os("SCREENSHOT_DIR") {
        node.env("SCREENSHOT_DIR", shots);
    }
    let browser = tokio::time::timeout(TIMEOUT, node.output())
        .await
        .expect("the browser finishes in time")
        .expect("run node (is Node.js installed?)");
    let browser_out = String::from_utf8_lossy(&browser.stdout).into_owned();
    let browser_err = String::from_utf8_lossy(&browser.stderr).into_owned();

    let mut login_stderr = String::new();
    let mut err = login.stderr.take().unwrap();
    let status = tokio::time::timeout(TIMEOUT, async {
        let _ = err.read_to_string(&mut login_stderr).await;
        login.wait().await
    })
    .await
    .expect("the login ends")
    .unwrap();
    assert!(
        browser.status.success(),
        "the browser script failed ({}):\n{browser_err}\n{browser_out}\nlogin's stderr:\n{login_stderr}",
        browser.status
    );
    assert_eq!(status.code(), Some(0), "login's stderr:\n{login_stderr}");

    let page: serde_json::Value =
        serde_json::from_str(browser_out.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("the browser script printed {browser_out:?} ({e})"));
    assert_eq!(page["consent"]["client"], sandbox.client_id());
    assert_eq!(page["title"], "Logged in", "{page}");
    assert!(
        page["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&second),
        "{page}"
    );

    let out = command(&["status", "--json"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(0));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["logged_in"], true);
    assert_eq!(status["subject"], second.as_str());
    assert_eq!(status["name"], "Max Mustermann");

    // And the login works: a token the sandbox knows, for the second user.
    let out = command(&["token"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(0));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let info = sandbox.introspect(&token).expect("a sandbox token");
    assert!(info.active);
    assert_eq!(info.sub.as_deref(), Some(second.as_str()));
}
