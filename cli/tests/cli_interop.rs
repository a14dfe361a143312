//! The command line against a second, independent provider: panva's certified
//! `oidc-provider` (tests/support/oidc_provider.rs; needs Node.js). The login is the
//! copy-paste one (`login --paste`): the provider's registered redirect URI has nothing
//! listening, as over SSH.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::process::Stdio;
use std::time::Duration;

use support::browser::drive_oidc_provider_login;
use support::oidc_provider::{
    OidcProvider, CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET, REDIRECT_URI,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_lexoffice-login");
const TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paste_login_status_refresh_and_binding_against_oidc_provider() {
    let provider = OidcProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let issuer = provider.issuer().to_owned();
    let command = |args: &[&str], extra: &[(&str, &str)]| {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("LEXOFFICE_LOGIN_STORE_DIR", dir.path().join("store"))
            .env("LEXOFFICE_LOGIN_ISSUER", &issuer)
            .env("LEXOFFICE_LOGIN_CLIENT_ID", CONFIDENTIAL_CLIENT_ID)
            .env("LEXOFFICE_LOGIN_CLIENT_SECRET", CONFIDENTIAL_CLIENT_SECRET)
            .env("LEXOFFICE_LOGIN_REDIRECT_URI", REDIRECT_URI)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    };
    let run = |args: &'static [&'static str], extra: &'static [(&'static str, &'static str)]| {
        let mut cmd = command(args, extra);
        async move {
            let out = tokio::time::timeout(TIMEOUT, cmd.output())
                .await
                .expect("in time")
                .expect("run");
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };

    let mut login = command(
        &[
            "login",
            "--paste",
            "--scopes",
            "openid profile email offline_access",
        ],
        &[],
    );
    login.stdin(Stdio::piped());
    let mut child = login.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(TIMEOUT, stdout.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    let url = url::Url::parse(line.trim()).expect("the login URL");
    assert!(url.as_str().starts_with(&issuer), "{url}");
    let redirect = drive_oidc_provider_login(&url, "alice").await;
    stdin
        .write_all(format!("{redirect}\n").as_bytes())
        .await
        .unwrap();
    let done = tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let err = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(0), "{err}\n{}", provider.log());
    assert!(err.contains("alice"), "{err}");

    // status asks the provider's userinfo.
    let (code, out, err) = run(&["status", "--json"], &[]).await;
    assert_eq!(code, 0, "{out}\n{err}\n{}", provider.log());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["provider_check"]["accepted"], true, "{out}");
    assert_eq!(v["subject"], "alice");

    let (code, first, err) = run(&["token"], &[]).await;
    assert_eq!(code, 0, "{err}");
    let (code, second, err) = run(&["token", "--force-refresh"], &[]).await;
    assert_eq!(code, 0, "{err}\n{}", provider.log());
    assert_ne!(first, second, "a new access token");
    let (code, out, _) = run(&["whoami"], &[]).await;
    assert_eq!(code, 0);
    assert!(out.starts_with("alice"), "{out}");

    // The login is this client's: another client id is refused before any request.
    let requests = provider.requests().await.len();
    let (code, _, err) = run(
        &["status"],
        &[("LEXOFFICE_LOGIN_CLIENT_ID", "interop-public")],
    )
    .await;
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("interop-public"), "{err}");
    assert_eq!(provider.requests().await.len(), requests);

    let (code, _, err) = run(&["logout"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("revoked"), "{err}");
    let (code, _, _) = run(&["status"], &[]).await;
    assert_eq!(code, 3);
    for text in [first.trim(), second.trim(), CONFIDENTIAL_CLIENT_SECRET] {
        assert!(!err.contains(text));
    }
}
