//! Loading and validating settings.

use super::*;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load(env: &str, pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::load_with(LoadOptions {
        env: Some(env.into()),
        vars: Some(vars(pairs)),
        ..LoadOptions::default()
    })
}

#[test]
fn production_uses_lexoffice_static_endpoints_and_secret_from_env() {
    let s = load(
        "production",
        &[
            ("LEXOFFICE_LOGIN_CLIENT_ID", "abc"),
            ("LEXOFFICE_LOGIN_CLIENT_SECRET", "top-secret"),
        ],
    )
    .unwrap();
    assert_eq!(s.discovery, Discovery::Off);
    assert_eq!(
        s.endpoints().token.as_ref().map(|u| u.as_str()),
        Some("https://app.lexware.de/oauth2/token")
    );
    assert_eq!(s.client_auth, ClientAuthMethod::ClientSecretBasic);
    assert_eq!(
        s.client_secret.as_ref().map(|s| s.secret().as_str()),
        Some("top-secret")
    );
    assert!(!format!("{s:?}").contains("top-secret"));
}

#[test]
fn environment_variables_override_files_including_nested_keys_and_lists() {
    let s = load(
        "local",
        &[
            ("LEXOFFICE_LOGIN_CLIENT_ID", "from-env"),
            ("LEXOFFICE_LOGIN_CLIENT_SECRET", "sandbox-secret"),
            ("LEXOFFICE_LOGIN_SCOPES", "openid contacts.read"),
            ("LEXOFFICE_LOGIN_HTTP__REQUEST_TIMEOUT_SECS", "7"),
        ],
    )
    .unwrap();
    assert_eq!(s.client_id.as_str(), "from-env");
    assert_eq!(s.scopes.to_string(), "openid contacts.read");
    assert_eq!(s.request_timeout, Duration::from_secs(7));
}

#[test]
fn the_token_store_key_is_not_read_as_a_setting() {
    let s = load(
        "local",
        &[
            ("LEXOFFICE_LOGIN_CLIENT_SECRET", "s"),
            ("LEXOFFICE_LOGIN_STORE_KEY", "c2VjcmV0LXN0b3JlLWtleQ=="),
        ],
    );
    assert!(s.is_ok(), "{:?}", s.err());
}

#[test]
fn env_is_taken_from_the_variable_when_not_given() {
    let s = Settings::load_with(LoadOptions {
        vars: Some(vars(&[
            ("LEXOFFICE_LOGIN_ENV", "sandbox"),
            ("LEXOFFICE_LOGIN_CLIENT_ID", "x"),
            ("LEXOFFICE_LOGIN_CLIENT_SECRET", "y"),
        ])),
        ..LoadOptions::default()
    })
    .unwrap();
    assert_eq!(s.env, "sandbox");
    assert!(s.issuer.contains("lexware-sandbox"));
}

#[test]
fn plain_http_is_refused_except_on_loopback_and_the_source_is_named() {
    let err = load(
        "local",
        &[("LEXOFFICE_LOGIN_ISSUER", "http://login.example.com")],
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("`issuer` (environment)"), "{msg}");
    assert!(msg.contains("must be https"), "{msg}");
}

#[test]
fn a_confidential_client_without_secret_is_refused_with_what_to_do() {
    let err = load("production", &[("LEXOFFICE_LOGIN_CLIENT_ID", "abc")]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("LEXOFFICE_LOGIN_CLIENT_SECRET"), "{msg}");
    assert!(
        msg.contains("built-in config/default.toml") || msg.contains("client_auth"),
        "{msg}"
    );
}

#[test]
fn a_secret_in_a_config_file_is_refused() {
    let dir = std::env::temp_dir().join(format!("llcfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let extra = dir.join("extra.toml");
    std::fs::write(&extra, "client_secret = \"oops\"\n").unwrap();
    let err = Settings::load_with(LoadOptions {
        env: Some("local".into()),
        extra_file: Some(extra.clone()),
        vars: Some(HashMap::new()),
        ..LoadOptions::default()
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("`client_secret`"), "{msg}");
    assert!(msg.contains(&extra.display().to_string()), "{msg}");
    assert!(!msg.contains("oops"), "{msg}");
}

#[test]
fn unknown_keys_and_bad_values_are_reported() {
    let dir = std::env::temp_dir().join(format!("llcfg2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let extra = dir.join("extra.toml");
    std::fs::write(&extra, "isuer = \"https://x\"\n").unwrap();
    let err = Settings::load_with(LoadOptions {
        env: Some("local".into()),
        extra_file: Some(extra),
        vars: Some(HashMap::new()),
        ..LoadOptions::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("isuer"), "{err}");

    let err = load(
        "local",
        &[
            ("LEXOFFICE_LOGIN_CLIENT_AUTH", "magic"),
            ("LEXOFFICE_LOGIN_SCOPES", "bad\"scope"),
            ("LEXOFFICE_LOGIN_EXTRA_AUTHORIZE_PARAMS__STATE", "x"),
        ],
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("`client_auth` (environment)"), "{msg}");
    assert!(msg.contains("`scopes` (environment)"), "{msg}");
    assert!(msg.contains("cannot be overridden"), "{msg}");
}

#[test]
fn static_endpoints_are_required_without_discovery() {
    let err = Settings::builder("https://id.example.com", "c", "https://app.example.com/cb")
        .client_auth(ClientAuthMethod::None)
        .scopes(["profile.read"])
        .without_discovery()
        .build()
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("endpoints.authorization"), "{msg}");
    assert!(msg.contains("endpoints.token"), "{msg}");
}

#[test]
fn a_provider_preset_fills_in_endpoints_quirks_and_scopes() {
    let s = load(
        "production",
        &[
            ("LEXOFFICE_LOGIN_PROVIDER", "xero"),
            ("LEXOFFICE_LOGIN_CLIENT_ID", "abc"),
        ],
    )
    .unwrap();
    assert_eq!(s.provider(), Some(Provider::Xero));
    assert_eq!(s.issuer, "https://identity.xero.com");
    assert_eq!(s.discovery, Discovery::Standard);
    assert_eq!(
        s.client_auth,
        ClientAuthMethod::None,
        "a public PKCE client"
    );
    assert!(s.scopes.contains(&Scope::OfflineAccess));
    assert!(s.quirks().tenants.is_some());
    assert!(
        s.extra_authorize_params.is_empty(),
        "lexoffice's connection_name does not leak into another provider"
    );

    let s = load(
        "sandbox",
        &[
            ("LEXOFFICE_LOGIN_PROVIDER", "quickbooks"),
            ("LEXOFFICE_LOGIN_CLIENT_ID", "abc"),
            ("LEXOFFICE_LOGIN_CLIENT_SECRET", "s"),
        ],
    )
    .unwrap();
    let Discovery::Url(url) = &s.discovery else {
        panic!("{:?}", s.discovery)
    };
    assert!(url.as_str().ends_with("openid_sandbox_configuration"));
    assert_eq!(
        s.quirks().revocation_body,
        crate::providers::RevocationBody::Json
    );
}

#[test]
fn settings_in_files_and_variables_win_over_the_preset() {
    let s = load(
        "production",
        &[
            ("LEXOFFICE_LOGIN_CLIENT_ID", "abc"),
            ("LEXOFFICE_LOGIN_CLIENT_SECRET", "s"),
            ("LEXOFFICE_LOGIN_SCOPES", "profile.read"),
            (
                "LEXOFFICE_LOGIN_EXTRA_AUTHORIZE_PARAMS__CONNECTION_NAME",
                "my app",
            ),
        ],
    )
    .unwrap();
    assert_eq!(s.provider(), Some(Provider::Lexoffice));
    assert_eq!(s.scopes.to_string(), "profile.read");
    assert_eq!(
        s.extra_authorize_params
            .get("connection_name")
            .map(String::as_str),
        Some("my app")
    );
}

#[test]
fn provider_rules_are_checked_and_unknown_providers_named() {
    let err = load(
        "production",
        &[
            ("LEXOFFICE_LOGIN_PROVIDER", "datev"),
            ("LEXOFFICE_LOGIN_CLIENT_ID", "abc"),
            ("LEXOFFICE_LOGIN_CLIENT_SECRET", "s"),
            ("LEXOFFICE_LOGIN_SCOPES", "profile"),
        ],
    )
    .unwrap_err();
    assert!(err.to_string().contains("add `openid`"), "{err}");

    let err = load("production", &[("LEXOFFICE_LOGIN_PROVIDER", "sage")]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("`provider` (environment)"), "{msg}");
    assert!(msg.contains("lexoffice, datev, xero, quickbooks"), "{msg}");
}

fn extra_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("llcfg-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("extra.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn load_extra(path: &std::path::Path, pairs: &[(&str, &str)]) -> ConfigError {
    Settings::load_with(LoadOptions {
        env: Some("local".into()),
        extra_file: Some(path.to_owned()),
        vars: Some(vars(pairs)),
        ..LoadOptions::default()
    })
    .unwrap_err()
}

#[test]
fn a_toml_syntax_error_names_the_place_and_never_quotes_the_line() {
    let path = extra_file(
        "syntax",
        "issuer = \"https://x\"\nclient_id = \"sup3r-s3cret\n",
    );
    let msg = load_extra(&path, &[]).to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("line 2"), "{msg}");
    assert!(!msg.contains("sup3r-s3cret"), "{msg}");
}

#[test]
fn unknown_keys_and_wrong_types_name_their_file_or_variable_and_not_the_value() {
    let path = extra_file("shape", "isuer = \"https://x\"\n");
    let err = load_extra(&path, &[]);
    let p = &err.problems()[0];
    assert_eq!(p.key, "isuer");
    assert_eq!(p.source, path.display().to_string());

    let err = load("local", &[("LEXOFFICE_LOGIN_BOGUS", "x")]).unwrap_err();
    let p = &err.problems()[0];
    assert_eq!(p.key, "bogus");
    assert_eq!(p.source, "environment variable LEXOFFICE_LOGIN_BOGUS");

    let path = extra_file("type", "clock_skew_secs = \"hunter2-very-secret\"\n");
    let err = load_extra(&path, &[]);
    let p = &err.problems()[0];
    assert_eq!(p.key, "clock_skew_secs");
    assert_eq!(p.source, path.display().to_string());
    assert!(!err.to_string().contains("hunter2"), "{err}");

    let path = extra_file("nested", "[endpoints]\ntokn = \"https://x\"\n");
    let err = load_extra(&path, &[]);
    let p = &err.problems()[0];
    assert_eq!(p.key, "endpoints.tokn", "{err}");
    assert_eq!(p.source, path.display().to_string());

    let path = extra_file("list", "scopes = 57005\n");
    let err = load_extra(&path, &[]);
    let p = &err.problems()[0];
    assert_eq!(p.key, "scopes", "{err}");
    assert_eq!(p.source, path.display().to_string());
    assert!(!err.to_string().contains("57005"), "{err}");
}

#[test]
fn a_password_in_the_issuer_never_reaches_a_message() {
    let err = load(
        "local",
        &[(
            "LEXOFFICE_LOGIN_ISSUER",
            "https://user:pa55word@id.example.com",
        )],
    )
    .unwrap_err();
    assert!(!err.to_string().contains("pa55word"), "{err}");
    assert!(err.to_string().contains("`issuer`"), "{err}");
}

#[test]
fn secrets_and_flow_parameters_cannot_be_extra_authorize_params() {
    for name in [
        "client_secret",
        "code_verifier",
        "password",
        "state",
        "nonce",
    ] {
        let var = format!(
            "LEXOFFICE_LOGIN_EXTRA_AUTHORIZE_PARAMS__{}",
            name.to_uppercase()
        );
        let err = load(
            "local",
            &[(&var, "x"), ("LEXOFFICE_LOGIN_CLIENT_SECRET", "s")],
        )
        .unwrap_err();
        assert!(
            err.problems()
                .iter()
                .any(|p| p.key == format!("extra_authorize_params.{name}")),
            "{name}: {err}"
        );
    }
}
