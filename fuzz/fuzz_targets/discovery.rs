//! A discovery document, parsed and put through every metadata check.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = lexoffice_login::fuzzing::discovery(body);
});
