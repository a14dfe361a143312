//! An ID token verified against a JWKS document.
//!
//! Input: the token, a newline, then the JWKS JSON document. The clock is fixed
//! (`NOW`) and the expected nonce is `fuzz-nonce`, so the seeds made by
//! `examples/seedgen.rs` (issued at `NOW - 10`) verify and the fuzzer reaches the claim
//! checks.
#![no_main]

use chrono::DateTime;
use libfuzzer_sys::fuzz_target;

/// 2026-12-01T00:00:00Z, the clock of every run (also in examples/seedgen.rs).
const NOW: i64 = 1_796_083_200;

fuzz_target!(|input: &[u8]| {
    let (token, jwks) = match input.iter().position(|&b| b == b'\n') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (input, &b""[..]),
    };
    let Ok(token) = std::str::from_utf8(token) else {
        return;
    };
    let now = DateTime::from_timestamp(NOW, 0).expect("fixed time");
    let _ = lexoffice_login::fuzzing::id_token(token, jwks, "fuzz-nonce", now);
});
