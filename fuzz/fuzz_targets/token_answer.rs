//! A token endpoint's answer body (RFC 6749 5.1), parsed and checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = lexoffice_login::fuzzing::token_answer(body);
});
