//! Settings from TOML text laid over the built-in `local` environment, with environment
//! variables.
//!
//! Input: leading lines `$NAME=value` are environment variables (`NAME` gets the prefix
//! `LEXOFFICE_LOGIN_` unless it has it already); the first other line starts the TOML
//! text.
#![no_main]

use libfuzzer_sys::fuzz_target;

const PREFIX: &str = "LEXOFFICE_LOGIN_";

fuzz_target!(|input: &str| {
    let mut vars = Vec::new();
    let mut rest = input;
    while let Some(line_and_more) = rest.strip_prefix('$') {
        let (line, more) = line_and_more.split_once('\n').unwrap_or((line_and_more, ""));
        let (name, value) = line.split_once('=').unwrap_or((line, ""));
        let name = if name.starts_with(PREFIX) {
            name.to_owned()
        } else {
            format!("{PREFIX}{name}")
        };
        vars.push((name, value.to_owned()));
        rest = more;
    }
    let _ = lexoffice_login::fuzzing::settings(rest, vars);
});
