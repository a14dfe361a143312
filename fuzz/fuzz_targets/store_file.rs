//! A token store file's bytes, decoded as `FileStore` does.
//!
//! Input: one selector byte (even: no key, the file must be in clear; odd: the fixed key
//! `KEY`, the file must be encrypted), then the file's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The key the encrypted seeds were written with (also in examples/seedgen.rs).
const KEY: [u8; 32] = [0x42; 32];

fuzz_target!(|input: &[u8]| {
    let Some((&selector, bytes)) = input.split_first() else {
        return;
    };
    let key = (selector & 1 == 1).then_some(KEY);
    let _ = lexoffice_login::fuzzing::store_file(bytes, key);
});
