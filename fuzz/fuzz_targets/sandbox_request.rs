//! One HTTP request to the sandbox issuer's router, in-process.
//!
//! Input: one byte choosing the router (see `lexoffice_login_sandbox::fuzzing::ROUTERS`),
//! then an HTTP/1.1-like request: `METHOD URI` (anything after a second space is
//! ignored), header lines `Name: value`, an empty line, the body. Lines end with `\n`
//! (a `\r` before it is dropped).
#![no_main]

use libfuzzer_sys::fuzz_target;

fn line(input: &[u8]) -> (&[u8], &[u8]) {
    let (l, rest) = match input.iter().position(|&b| b == b'\n') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (input, &b""[..]),
    };
    (l.strip_suffix(b"\r").unwrap_or(l), rest)
}

fuzz_target!(|input: &[u8]| {
    let Some((&router, rest)) = input.split_first() else {
        return;
    };
    let (request_line, mut rest) = line(rest);
    let mut parts = request_line.splitn(3, |&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let Ok(uri) = std::str::from_utf8(parts.next().unwrap_or(b"/")) else {
        return;
    };
    let mut headers: Vec<(&[u8], &[u8])> = Vec::new();
    loop {
        if rest.is_empty() {
            break;
        }
        let (l, more) = line(rest);
        rest = more;
        if l.is_empty() {
            break;
        }
        let Some(colon) = l.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = &l[colon + 1..];
        let value = value.strip_prefix(b" ").unwrap_or(value);
        headers.push((&l[..colon], value));
        if headers.len() > 64 {
            return;
        }
    }
    let _ = lexoffice_login_sandbox::fuzzing::request(router as usize, method, uri, &headers, rest);
});
