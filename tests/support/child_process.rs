//! Helpers for tests that re-execute their own binary as child processes (replicas,
//! cross-process refresh races). Include it with
//! `#[path = "support/child_process.rs"] mod child_process;`.
#![allow(dead_code)]

use sha2::{Digest, Sha256};

/// The hex SHA-256 of a secret: what a child prints instead of the token itself.
pub fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A variable the parent set for its children; panics naming it when it is missing.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for children"))
}
