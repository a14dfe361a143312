//! Shared test harness, included by `mod support;` from the integration tests
//! (and by `#[path = "../../tests/support/mod.rs"] mod support;` from the CLI's).
//!
//! Not every test file uses every helper.
#![allow(dead_code)]

pub mod browser;
pub mod npm;
pub mod oidc_provider;
pub mod sandbox_raw;
pub mod wiremock_provider;

use std::path::{Path, PathBuf};

/// The repository's top folder (the library's package), from any crate of the workspace:
/// the CLI's tests include this folder too, with `#[path]`.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("tests").join("support").join("mod.rs").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
