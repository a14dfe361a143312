//! The backend-for-frontend in a real browser: Debian's Chromium, headless, driven by
//! `playwright-core` (tests/browser/bff.mjs) through the demo SPA (tests/browser/spa)
//! that `lexoffice-login bff --static` serves, the sandbox's interactive consent page
//! (lexoffice profile), the lexoffice profile API through the BFF, a cross-site logout
//! attempt, and the logout.
//!
//! Every response the browser saw (headers and bodies), its storage and document.cookie
//! are searched for the access, refresh and ID tokens the sandbox issued (recorded by a
//! relay in front of its token endpoint): none may appear. Screenshots of each step go
//! to target/bff-screenshots/.
//!
//! Needs `/usr/bin/chromium` (Debian: `apt-get install -y chromium`; or set CHROMIUM)
//! and Node.js with npm; `npm ci` runs in tests/browser when node_modules is missing.
//! Without Chromium the test fails with what to install: it is never skipped.

#[path = "../../tests/support/npm.rs"]
mod npm;

mod bff_support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bff_support::{Options, World};
use lexoffice_login_sandbox::SandboxRoute;
use tokio::process::Command;

const TIMEOUT: Duration = Duration::from_secs(180);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

fn browser_dir() -> PathBuf {
    repo_root().join("tests").join("browser")
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "Chromium is missing at {}: this test drives a real headless Chromium. Install \
         Debian's package (`apt-get update && apt-get install -y chromium`, as tests/run.sh \
         does) or set CHROMIUM to a Chromium or Chrome binary.",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spa_logs_in_calls_the_api_and_logs_out_without_ever_seeing_a_token() {
    let chromium = chromium();
    tokio::task::spawn_blocking(|| npm::ensure_installed(&browser_dir(), "playwright-core"))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));

    let spa = browser_dir().join("spa");
    let w = World::start(Options {
        interactive: true,
        args: vec!["--static".into(), spa.display().to_string()],
        ..Options::default()
    })
    .await;
    let user = w.sandbox.users()[1].clone();

    let shots = repo_root().join("target").join("bff-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("network.json");
    let revokes = w.sandbox.stats().requests(SandboxRoute::Revoke);
    let out = tokio::time::timeout(
        TIMEOUT,
        Command::new("node")
            .arg("bff.mjs")
            .arg(&w.base)
            .arg(&user.sub)
            .arg(dir.path().join("chromium-profile"))
            .arg(&log)
            .current_dir(browser_dir())
            .env("CHROMIUM", &chromium)
            .env("SCREENSHOT_DIR", &shots)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser finishes in time")
    .expect("run node (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "the browser script failed ({}):\n{stderr}\n{stdout}",
        out.status
    );
    let page: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the browser script printed {stdout:?} ({e})"));

    // What the user saw.
    assert_eq!(page["before"], "Not logged in.", "{page}");
    assert_eq!(page["consentClient"], bff_support::CLIENT_ID, "{page}");
    assert_eq!(page["afterLogin"]["url"], format!("{}/", w.base), "{page}");
    assert_eq!(page["afterLogin"]["name"], user.name.as_str(), "{page}");
    assert_eq!(page["afterLogin"]["email"], user.email.as_str(), "{page}");
    assert_eq!(page["afterLogin"]["sub"], user.sub.as_str(), "{page}");
    assert_eq!(page["profile"]["status"], 200, "{page}");
    assert_eq!(
        page["profile"]["organization"], page["afterLogin"]["tenant"],
        "{page}"
    );
    assert!(
        !page["profile"]["company"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{page}"
    );
    // Another origin: the form POST is refused with 403, the fetch with the CSRF header
    // never gets past the CORS preflight, and the user is still logged in.
    assert_eq!(page["crossSiteForm"], 403, "{page}");
    assert!(
        page["crossSiteFetch"]
            .as_str()
            .unwrap_or_default()
            .starts_with("blocked"),
        "{page}"
    );
    assert_eq!(page["stillLoggedIn"], "Logged in.", "{page}");
    assert_eq!(page["logout"]["status"], 204, "{page}");
    assert_eq!(page["logout"]["text"], "Logged out.", "{page}");
    assert_eq!(page["sessionAfterLogout"], 401, "{page}");
    assert!(w.sandbox.stats().requests(SandboxRoute::Revoke) > revokes);

    // No token ever reached the browser: not in a response header or body, a request
    // header, the storage, document.cookie or the page.
    let tokens = w.tokens();
    assert!(
        tokens.len() >= 3,
        "the relay recorded the sandbox's tokens: {}",
        tokens.len()
    );
    // (Revoked at the logout: the sandbox no longer knows them.)
    for t in &tokens {
        assert!(w.sandbox.introspect(t).is_none_or(|i| !i.active));
    }
    let log = std::fs::read_to_string(&log).unwrap();
    let v: serde_json::Value = serde_json::from_str(&log).unwrap();
    let responses = v["network"].as_array().unwrap();
    assert!(
        responses.iter().any(|r| r["url"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/api/v1/profile")
            && r["body"]
                .as_str()
                .unwrap_or_default()
                .contains("organizationId")),
        "the API answer is in the network log"
    );
    assert!(
        responses.len() >= 8,
        "{} responses recorded",
        responses.len()
    );
    for t in &tokens {
        // Also the JWT's signature alone (a token split across fields).
        let tail = t.rsplit('.').next().unwrap_or(t);
        assert!(!log.contains(t.as_str()), "a token reached the browser");
        assert!(
            tail.len() < 16 || !log.contains(tail),
            "a token part reached the browser"
        );
    }
    for s in v["storage"].as_array().unwrap() {
        assert_eq!(s["cookie"], "", "document.cookie is readable: {s}");
        assert_eq!(s["localStorage"], "{}", "{s}");
        assert_eq!(s["sessionStorage"], "{}", "{s}");
    }
    for step in [
        "01-app-logged-out",
        "02-consent",
        "03-logged-in",
        "04-profile",
        "05-cross-site-refused",
        "06-still-logged-in",
        "07-logged-out",
    ] {
        let png = shots.join(format!("{step}.png"));
        assert!(
            std::fs::metadata(&png)
                .map(|m| m.len() > 0)
                .unwrap_or(false),
            "screenshot {} missing",
            png.display()
        );
    }
}
