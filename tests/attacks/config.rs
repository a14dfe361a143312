//! Settings: reserved or secret-carrying `extra_authorize_params`, issuers with a
//! password, broken TOML, unknown keys and wrong types in files and variables.

use std::collections::HashMap;
use std::path::Path;

use lexoffice_login::{ConfigError, LoadOptions, Settings};

use crate::harness::*;
use crate::refused;

const CATEGORY: &str = "config";
const URL_PASSWORD: &str = "pa55w0rd-in-url-secret";
const LINE_SECRET: &str = "cs-on-a-broken-toml-line-secret";

/// Loads settings in a fresh temporary folder.
type Load = Box<dyn FnOnce(&Path) -> Result<Settings, ConfigError> + Send>;

struct Case {
    name: String,
    load: Load,
    expect: Expect<ConfigError>,
}

fn builder(issuer: &str) -> lexoffice_login::SettingsBuilder {
    Settings::builder(issuer, "client-1", "http://127.0.0.1:8765/callback").client_secret(CS)
}

/// Loads `local` with `extra` as the extra file and `vars` as the environment.
fn load_file(dir: &Path, extra: &str, vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let file = dir.join("extra.toml");
    std::fs::write(&file, extra).unwrap();
    let mut all: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    all.insert("LEXOFFICE_LOGIN_CLIENT_SECRET".into(), CS.into());
    Settings::load_with(LoadOptions {
        env: Some("local".into()),
        extra_file: Some(file),
        vars: Some(all),
        ..LoadOptions::default()
    })
}

fn problem(e: &ConfigError, key: &str, source: &str) -> bool {
    matches!(e, ConfigError::Invalid(_))
        && e.problems()
            .iter()
            .any(|p| p.key == key && p.source.contains(source))
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for name in [
        "state",
        "nonce",
        "client_id",
        "redirect_uri",
        "scope",
        "response_type",
        "code_challenge",
        "code_challenge_method",
        "client_secret",
        "code_verifier",
        "code",
        "access_token",
        "refresh_token",
        "id_token",
        "password",
        "client_assertion",
        "assertion",
    ] {
        let key = format!("extra_authorize_params.{name}");
        cases.push(Case {
            name: format!("extra_authorize_params.{name} in code"),
            load: Box::new(move |_| {
                builder("https://login.example.com")
                    .extra_authorize_param(name, "planted-value")
                    .build()
            }),
            expect: Expect::refused_if(
                "ConfigError::Invalid naming the key",
                move |e| matches!(e, ConfigError::Invalid(ps) if ps.iter().any(|p| p.key == key)),
            ),
        });
    }
    for name in ["prompt", "audience"] {
        cases.push(Case {
            name: format!("control: extra_authorize_params.{name}"),
            load: Box::new(move |_| {
                builder("https://login.example.com")
                    .extra_authorize_param(name, "x")
                    .build()
            }),
            expect: Expect::Accepted,
        });
    }
    let simple: Vec<(&str, Load, Expect<ConfigError>)> = vec![
        (
            "extra_authorize_params.client_secret in a file",
            Box::new(|d| {
                load_file(
                    d,
                    "[extra_authorize_params]\nclient_secret = \"planted-value\"\n",
                    &[],
                )
            }),
            refused!(e if problem(e, "extra_authorize_params.client_secret", "extra.toml")),
        ),
        (
            "an issuer with user and password",
            Box::new(|_| {
                builder(&format!("https://user:{URL_PASSWORD}@login.example.com")).build()
            }),
            refused!(ConfigError::Invalid(ps) if ps.iter().any(|p| p.key == "issuer")),
        ),
        (
            "an issuer with user and password in a file",
            Box::new(|d| {
                load_file(
                    d,
                    &format!("issuer = \"https://user:{URL_PASSWORD}@login.example.com\"\n"),
                    &[],
                )
            }),
            refused!(e if problem(e, "issuer", "extra.toml")),
        ),
        (
            "an http issuer on another host",
            Box::new(|_| builder("http://login.example.com").build()),
            refused!(ConfigError::Invalid(ps) if ps.iter().any(|p| p.key == "issuer")),
        ),
        (
            "an issuer that is not a URL",
            Box::new(|_| builder("login example com").build()),
            refused!(ConfigError::Invalid(ps) if ps.iter().any(|p| p.key == "issuer")),
        ),
        (
            "a TOML syntax error on a line with a secret",
            Box::new(|d| {
                load_file(
                    d,
                    &format!("client_id = \"abc\"\nclient_auth = \"{LINE_SECRET}\" = oops\n"),
                    &[],
                )
            }),
            refused!(ConfigError::Read(m) if m.contains("extra.toml") && m.contains("line") && m.contains("column") && !m.contains(LINE_SECRET)),
        ),
        (
            "an unknown key in a file",
            Box::new(|d| load_file(d, "colour = \"blue\"\n", &[])),
            refused!(e if problem(e, "colour", "extra.toml")),
        ),
        (
            "an unknown nested key in a file",
            Box::new(|d| load_file(d, "[http]\nretries = 3\n", &[])),
            refused!(e if problem(e, "http.retries", "extra.toml")),
        ),
        (
            "a wrong type in a file",
            Box::new(|d| load_file(d, "clock_skew_secs = \"sixty\"\n", &[])),
            refused!(e if problem(e, "clock_skew_secs", "extra.toml")),
        ),
        (
            "scopes as a number in a file",
            Box::new(|d| load_file(d, "scopes = 5\n", &[])),
            refused!(e if problem(e, "scopes", "extra.toml")),
        ),
        (
            "an unknown variable",
            Box::new(|d| load_file(d, "", &[("LEXOFFICE_LOGIN_COLOUR", "blue")])),
            refused!(e if problem(e, "colour", "LEXOFFICE_LOGIN_COLOUR")),
        ),
        (
            "a wrong type in a variable",
            Box::new(|d| load_file(d, "", &[("LEXOFFICE_LOGIN_CLOCK_SKEW_SECS", "sixty")])),
            refused!(e if problem(e, "clock_skew_secs", "LEXOFFICE_LOGIN_CLOCK_SKEW_SECS")),
        ),
        (
            "the client secret in a file",
            Box::new(|d| load_file(d, &format!("client_secret = \"{LINE_SECRET}\"\n"), &[])),
            refused!(e if problem(e, "client_secret", "extra.toml")),
        ),
        (
            "an unknown client_auth",
            Box::new(|d| load_file(d, "client_auth = \"magic\"\n", &[])),
            refused!(e if problem(e, "client_auth", "extra.toml")),
        ),
        (
            "control: a valid extra file",
            Box::new(|d| load_file(d, "clock_skew_secs = 30\n", &[])),
            Expect::Accepted,
        ),
    ];
    for (name, load, expect) in simple {
        cases.push(Case {
            name: name.to_owned(),
            load,
            expect,
        });
    }
    cases
}

pub fn run() -> Vec<Outcome> {
    remember("password in a URL", URL_PASSWORD);
    remember("secret on a TOML line", LINE_SECRET);
    cases()
        .into_iter()
        .map(|case| {
            let dir = tempfile::tempdir().expect("temp dir");
            let result = (case.load)(dir.path());
            judge(CATEGORY, case.name, &case.expect, &result)
        })
        .collect()
}
