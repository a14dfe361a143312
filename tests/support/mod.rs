//! Shared test harness, included by `mod support;` from the integration tests.
//!
//! Not every test file uses every helper.
#![allow(dead_code)]

pub mod browser;
pub mod npm;
pub mod oidc_provider;
pub mod sandbox_raw;
