//! Helpers for tests that re-execute their own binary as child processes (replicas,
//! cross-process refresh races). Include it with
//! `#[path = "support/child_process.rs"] mod child_process;`.
#![allow(dead_code)]

use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::ChildStdout;

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

/// Parent side: the next `LL_` line of a child's output (libtest prints its own lines
/// too), trimmed; `None` at the end of its output. Panics after `timeout`.
pub async fn next_marker(out: &mut BufReader<ChildStdout>, timeout: Duration) -> Option<String> {
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
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or_else(|_| panic!("the child answers within {} s", timeout.as_secs()))
}

/// A variable the parent set for its children; panics naming it when it is missing.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for children"))
}
