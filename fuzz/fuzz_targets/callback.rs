//! A redirect to the loopback callback (full URL or bare query), read by a pending
//! login's callback rules.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let _ = lexoffice_login::fuzzing::callback(input);
});
