//! Helpers for tests that re-execute their own binary as child processes (replicas,
//! cross-process refresh races). Include it with
//! `#[path = "support/child_process.rs"] mod child_process;`.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use lexoffice_login_sandbox::Sandbox;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The hex SHA-256 of a secret: what a child prints instead of the token itself.
pub fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs `main` with the child's mode (the value of `var`) on a runtime of two workers,
/// when this test process was started as a child; in the parent's own run (`var` unset)
/// it returns at once.
pub fn run_as_child<F: std::future::Future<Output = ()>>(
    var: &str,
    main: impl FnOnce(String) -> F,
) {
    let Ok(mode) = std::env::var(var) else {
        return;
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the child")
        .block_on(main(mode));
}

/// Child side: waits for the parent's go, a line on stdin.
pub async fn wait_for_go() {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
    })
    .await
    .unwrap();
}

/// A copy of this test binary that runs only its child test `test` with `var` set to
/// `mode`, the sandbox's client in `LL_ISSUER`, `LL_CLIENT_ID`, `LL_CLIENT_SECRET` and
/// `LL_REDIRECT`, and no `RUST_LOG`. Add the variables of the test's own.
pub fn child_command(test: &str, var: &str, mode: &str, sandbox: &Sandbox) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary's path"));
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(var, mode)
        .env("LL_ISSUER", sandbox.issuer())
        .env("LL_CLIENT_ID", sandbox.client_id())
        .env(
            "LL_CLIENT_SECRET",
            sandbox.client_secret().unwrap_or_default(),
        )
        .env("LL_REDIRECT", sandbox.redirect_uri())
        .env_remove("RUST_LOG");
    cmd
}

/// A running child (see [`child_command`]): the parent reads its `LL_` markers and tells
/// it when to go.
pub struct ChildProcess {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// How long the parent waits for a marker.
    timeout: Duration,
}

impl ChildProcess {
    /// Starts `cmd` with stdin and stdout piped, its stderr to `stderr`, killed when
    /// dropped; each marker is awaited for at most `timeout`.
    pub fn spawn(mut cmd: Command, stderr: Stdio, timeout: Duration) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("the test binary starts again as a child");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("a piped stdout"));
        Self {
            child,
            stdin,
            stdout,
            timeout,
        }
    }

    /// The next `LL_` line of the child (libtest prints its own lines too), trimmed;
    /// `None` at the end of its output. Panics after the timeout.
    pub async fn next_marker(&mut self) -> Option<String> {
        let out = &mut self.stdout;
        let read = async {
            loop {
                let mut line = String::new();
                if out.read_line(&mut line).await.ok()? == 0 {
                    return None;
                }
                if let Some(at) = line.find("LL_") {
                    return Some(line[at..].trim().to_owned());
                }
            }
        };
        tokio::time::timeout(self.timeout, read)
            .await
            .unwrap_or_else(|_| panic!("the child answers within {} s", self.timeout.as_secs()))
    }

    /// Waits for `LL_READY`.
    pub async fn ready(&mut self) {
        let ready = self.next_marker().await;
        assert_eq!(ready.as_deref(), Some("LL_READY"), "the child is ready");
    }

    /// Tells the child to go (a line on its stdin).
    pub async fn go(&mut self) {
        let stdin = self.stdin.as_mut().expect("a piped stdin");
        stdin.write_all(b"go\n").await.unwrap();
        stdin.flush().await.unwrap();
    }

    /// SIGKILL (on Unix) and reap.
    pub async fn kill(mut self) {
        self.child.start_kill().unwrap();
        let status = self.child.wait().await.unwrap();
        assert!(!status.success(), "the child was killed, not finished");
    }
}

/// A variable the parent set for its children; panics naming it when it is missing.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for children"))
}
