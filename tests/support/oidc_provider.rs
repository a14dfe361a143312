//! Runs panva's certified `oidc-provider` (npm) as an independent OpenID Provider for the
//! interop tests: `node tests/interop/provider.mjs`, on 127.0.0.1 with an ephemeral port.
//!
//! The provider has two clients, both with the redirect URI [`REDIRECT_URI`]:
//! [`CONFIDENTIAL_CLIENT_ID`] (`client_secret_basic`, secret [`CONFIDENTIAL_CLIENT_SECRET`])
//! and [`PUBLIC_CLIENT_ID`] (`none`). See `tests/interop/provider.mjs` for the rest.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The confidential client (`client_secret_basic`).
pub const CONFIDENTIAL_CLIENT_ID: &str = "interop-client";
/// The confidential client's secret.
pub const CONFIDENTIAL_CLIENT_SECRET: &str = "interop-secret";
/// The public client (`token_endpoint_auth_method: none`).
pub const PUBLIC_CLIENT_ID: &str = "interop-public";
/// The redirect URI registered for both clients. Nothing listens there: the browser
/// driver stops at the redirect.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// How long the provider may take to print its issuer line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Lines of the provider's stderr kept for failure messages.
const KEPT_LOG_LINES: usize = 2000;

/// A running oidc-provider. The process is killed when this is dropped; it also exits
/// by itself when its stdin closes, so it never outlives the test process.
pub struct OidcProvider {
    issuer: String,
    child: Child,
    /// Kept open for the provider's lifetime: the provider exits when its stdin closes.
    _stdin: ChildStdin,
    /// Kept so that the provider never writes into a closed pipe.
    _stdout: Lines<BufReader<ChildStdout>>,
    log: Arc<Mutex<Vec<String>>>,
    /// How long the start took (spawn to issuer line).
    pub startup: Duration,
}

fn interop_dir() -> PathBuf {
    super::repo_root().join("tests").join("interop")
}

/// Installs oidc-provider (pinned by tests/interop/package-lock.json) if it is missing.
fn ensure_node_modules() {
    super::npm::ensure_installed(&interop_dir(), "oidc-provider");
}

impl OidcProvider {
    /// Starts a fresh provider (fresh keys, empty storage) and waits until it listens.
    ///
    /// Panics with a clear message if Node.js is missing or the provider does not start.
    pub async fn start() -> OidcProvider {
        tokio::task::spawn_blocking(ensure_node_modules)
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));

        let began = Instant::now();
        let dir = interop_dir();
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "could not start `node provider.mjs` in {} ({e}); the interop tests need \
                     Node.js >= 20.19 on PATH",
                    dir.display()
                )
            });

        let stdin = child.stdin.take().expect("child stdin is piped");
        let stdout = child.stdout.take().expect("child stdout is piped");
        let stderr = child.stderr.take().expect("child stderr is piped");

        // Forward the provider's log to the test's stderr (captured by libtest, shown
        // for failing tests) and keep the tail for start-up failures.
        let log = Arc::new(Mutex::new(Vec::new()));
        {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    eprintln!("[oidc-provider] {line}");
                    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                    if log.len() == KEPT_LOG_LINES {
                        log.remove(0);
                    }
                    log.push(line);
                }
            });
        }

        let mut stdout = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(START_TIMEOUT, stdout.next_line()).await;
        let line = match first {
            Ok(Ok(Some(line))) => line,
            other => {
                let why = match other {
                    Err(_) => format!("it printed nothing within {START_TIMEOUT:?}"),
                    Ok(Err(e)) => format!("reading its stdout failed: {e}"),
                    Ok(Ok(None)) => {
                        // Give the stderr task a moment to collect the last words.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        match child.try_wait() {
                            Ok(Some(status)) => format!("it exited ({status})"),
                            _ => "it closed its stdout".to_owned(),
                        }
                    }
                    Ok(Ok(Some(_))) => unreachable!(),
                };
                let log = log.lock().unwrap_or_else(|p| p.into_inner()).join("\n");
                panic!(
                    "oidc-provider did not start: {why}. Is Node.js >= 20.19 installed and \
                     `npm ci --prefix tests/interop` done? Its stderr:\n{log}"
                );
            }
        };

        #[derive(serde::Deserialize)]
        struct Ready {
            issuer: String,
        }
        let ready: Ready = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!("oidc-provider printed {line:?} instead of {{\"issuer\":\"...\"}}: {e}")
        });

        OidcProvider {
            issuer: ready.issuer,
            child,
            _stdin: stdin,
            _stdout: stdout,
            log,
            startup: began.elapsed(),
        }
    }

    /// The issuer exactly as the provider puts it in its discovery document
    /// (`http://127.0.0.1:PORT`, no trailing slash).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The provider's stderr so far (its last lines).
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }

    /// The requests the provider has answered so far, oldest first, as
    /// `"POST /token -> 200"` (path without query).
    ///
    /// Sends a marker request first and waits until the provider has logged it, so every
    /// request that was answered before this call is included.
    pub async fn requests(&self) -> Vec<String> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let marker = format!(
            "/harness-log-barrier/{}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // Any answer (a 404) will do: the provider logs every request it answers.
        reqwest::get(format!("{}{marker}", self.issuer))
            .await
            .unwrap_or_else(|e| panic!("oidc-provider does not answer: {e}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let requests: Vec<String> = {
                let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
                log.iter()
                    .filter_map(|line| line.strip_prefix("provider: "))
                    .filter(|line| line.contains(" -> "))
                    .map(str::to_owned)
                    .collect()
            };
            if let Some(at) = requests.iter().position(|r| r.contains(&marker)) {
                return requests[..at]
                    .iter()
                    .filter(|r| !r.contains("/harness-log-barrier/"))
                    .cloned()
                    .collect();
            }
            assert!(
                Instant::now() < deadline,
                "oidc-provider did not log the request {marker} within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        // kill_on_drop would do it too; be explicit. Closing stdin also stops it.
        let _ = self.child.start_kill();
    }
}
