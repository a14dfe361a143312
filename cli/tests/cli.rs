//! The `lexoffice-login` binary, run as a user would, over loopback against an in-process
//! sandbox issuer. The browser's part is played over HTTP: the sandbox's auto-consent
//! redirect is followed, then the CLI's loopback redirect URI is requested.
//!
//! Every test records what each command printed and checks at the end that no output
//! except `token`'s stdout carries a token, a code or the client secret.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use lexoffice_login_sandbox::{Sandbox, SandboxRoute};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_lexoffice-login");
/// The longest any command may take here.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// What one command printed.
#[derive(Debug, Clone)]
struct Output {
    args: Vec<String>,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Output {
    fn describe(&self) -> String {
        format!(
            "`lexoffice-login {}` exited {}\n--- stdout\n{}\n--- stderr\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }
}

/// One test's world: a sandbox, a throwaway store and home, and every output so far.
struct World {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    extra_env: Vec<(String, String)>,
    outputs: Mutex<Vec<Output>>,
    secrets: Mutex<Vec<String>>,
}

impl World {
    async fn new(sandbox: Sandbox) -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        World {
            sandbox,
            dir,
            extra_env: Vec::new(),
            outputs: Mutex::new(Vec::new()),
            secrets: Mutex::new(vec!["sandbox-secret".to_owned()]),
        }
    }

    async fn start() -> World {
        World::new(Sandbox::builder().start().await.expect("sandbox")).await
    }

    fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    fn store_file(&self, profile: &str) -> PathBuf {
        self.store_dir().join(format!("local.{profile}.json"))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("LEXOFFICE_LOGIN_ISSUER", self.sandbox.issuer())
            .env(
                "LEXOFFICE_LOGIN_CLIENT_SECRET",
                self.sandbox.client_secret().unwrap_or_default(),
            )
            .env(
                "LEXOFFICE_LOGIN_REDIRECT_URI",
                "http://127.0.0.1:0/callback",
            )
            .env("LEXOFFICE_LOGIN_STORE_DIR", self.store_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in &self.extra_env {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        cmd
    }

    fn record(&self, out: &Output) {
        self.outputs.lock().unwrap().push(out.clone());
        if out.args.first().map(String::as_str) == Some("token") && out.code == 0 {
            self.secrets
                .lock()
                .unwrap()
                .push(out.stdout.trim().to_owned());
        }
    }

    async fn run(&self, args: &[&str]) -> Output {
        let child = self.command(args).spawn().expect("spawn lexoffice-login");
        let out = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("`lexoffice-login {}` did not finish", args.join(" ")))
            .expect("wait");
        let out = Output {
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        self.record(&out);
        out
    }

    /// Runs and expects `code`.
    async fn run_ok(&self, args: &[&str], code: i32) -> Output {
        let out = self.run(args).await;
        assert_eq!(out.code, code, "{}", out.describe());
        out
    }

    /// Starts `login --no-browser` and reads the authorization URL from its stdout.
    async fn start_login(&self, extra: &[&str]) -> LoginRun {
        let mut args = vec!["login", "--no-browser"];
        args.extend_from_slice(extra);
        let mut child = self.command(&args).spawn().expect("spawn login");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout);
        let mut line = String::new();
        tokio::time::timeout(COMMAND_TIMEOUT, lines.read_line(&mut line))
            .await
            .expect("the login URL within the timeout")
            .expect("read stdout");
        let url = url::Url::parse(line.trim()).unwrap_or_else(|e| {
            panic!("login printed {line:?} instead of a URL ({e})");
        });
        LoginRun {
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            child,
            stdout: lines,
            first_line: line,
            url,
        }
    }

    /// Plays the browser at the sandbox: returns the redirect it answers with.
    async fn authorize(&self, url: &url::Url) -> String {
        let redirect = self
            .sandbox
            .follow_authorization(url)
            .await
            .expect("the sandbox redirects back");
        if let Some((_, code)) = url::Url::parse(&redirect)
            .expect("redirect URL")
            .query_pairs()
            .find(|(k, _)| k == "code")
        {
            self.secrets.lock().unwrap().push(code.into_owned());
        }
        redirect
    }

    /// A whole login: URL, sandbox, redirect to the CLI; returns the browser tab's page.
    async fn login(&self, extra: &[&str]) -> (Output, String) {
        let run = self.start_login(extra).await;
        let redirect = self.authorize(&run.url).await;
        let (status, page) = browser_get(&redirect).await;
        let out = run.finish(self).await;
        assert_eq!(out.code, 0, "{}\npage: {page}", out.describe());
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Logged in"), "{page}");
        self.collect_stored_secrets();
        (out, page)
    }

    /// The tokens in the (unencrypted) store files, as secrets to look for.
    fn collect_stored_secrets(&self) {
        let Ok(entries) = std::fs::read_dir(self.store_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            if let Some(tokens) = read_tokens(&path) {
                let mut secrets = self.secrets.lock().unwrap();
                for field in ["access_token", "refresh_token", "id_token"] {
                    if let Some(v) = tokens.get(field).and_then(|v| v.as_str()) {
                        secrets.push(v.to_owned());
                    }
                }
            }
        }
    }

    /// No output except `token`'s stdout carries a secret.
    fn assert_no_secret_printed(&self) {
        self.collect_stored_secrets();
        let secrets = self.secrets.lock().unwrap().clone();
        assert!(
            secrets.len() > 1,
            "the test collected no tokens to look for"
        );
        for out in self.outputs.lock().unwrap().iter() {
            let is_token = out.args.first().map(String::as_str) == Some("token");
            for secret in secrets.iter().filter(|s| s.len() >= 8) {
                if !is_token {
                    assert!(
                        !out.stdout.contains(secret.as_str()),
                        "a secret on stdout: {}",
                        out.describe()
                    );
                }
                assert!(
                    !out.stderr.contains(secret.as_str()),
                    "a secret on stderr: {}",
                    out.describe()
                );
            }
        }
    }
}

/// The `tokens` of a store file written without encryption.
fn read_tokens(path: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(path).ok()?;
    let envelope: serde_json::Value = serde_json::from_str(&text).ok()?;
    envelope.get("tokens").cloned()
}

/// A running `login --no-browser`.
struct LoginRun {
    args: Vec<String>,
    child: Child,
    stdout: BufReader<ChildStdout>,
    first_line: String,
    url: url::Url,
}

impl LoginRun {
    /// The CLI's loopback redirect URI (from the authorization URL).
    fn redirect_uri(&self) -> String {
        self.url
            .query_pairs()
            .find(|(k, _)| k == "redirect_uri")
            .map(|(_, v)| v.into_owned())
            .expect("redirect_uri in the authorization URL")
    }

    fn param(&self, name: &str) -> String {
        self.url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("{name} in the authorization URL"))
    }

    async fn finish(mut self, world: &World) -> Output {
        let mut rest = String::new();
        let mut stderr = String::new();
        let mut err = self.child.stderr.take().expect("stderr");
        let status = tokio::time::timeout(COMMAND_TIMEOUT, async {
            let _ = self.stdout.read_to_string(&mut rest).await;
            let _ = err.read_to_string(&mut stderr).await;
            self.child.wait().await
        })
        .await
        .expect("login ends")
        .expect("wait");
        let out = Output {
            args: self.args.clone(),
            code: status.code().unwrap_or(-1),
            stdout: format!("{}{rest}", self.first_line),
            stderr,
        };
        world.record(&out);
        out
    }
}

/// A GET as the browser sends it (no redirects followed): status and body.
async fn browser_get(url: &str) -> (u16, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    let resp = client.get(url).send().await.expect("the CLI answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// Lets the stored login's access token expire without waiting for it: its `expires_at`
/// is moved an hour back (what the CLI reads), and the sandbox's clock an hour on (what
/// the sandbox checks). Only for a store file written without encryption.
fn expire_stored_login(world: &World, profile: &str) {
    let path = world.store_file(profile);
    let text = std::fs::read_to_string(&path).expect("a stored login");
    let mut envelope: serde_json::Value = serde_json::from_str(&text).expect("its JSON");
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    envelope["tokens"]["expires_at"] = serde_json::Value::String(past);
    std::fs::write(&path, serde_json::to_vec(&envelope).unwrap()).expect("rewrite the login");
    world.sandbox.set_clock_offset(3600);
}

/// Ages the stored login by `secs` without waiting: its `obtained_at` and `expires_at`
/// both move back, so that a short-lived access token is inside its refresh margin (half
/// its lifetime) while the sandbox still accepts it.
fn age_stored_login(world: &World, profile: &str, secs: i64) {
    let path = world.store_file(profile);
    let text = std::fs::read_to_string(&path).expect("a stored login");
    let mut envelope: serde_json::Value = serde_json::from_str(&text).expect("its JSON");
    for field in ["obtained_at", "expires_at"] {
        let at: chrono::DateTime<chrono::Utc> = envelope["tokens"][field]
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("a stored time");
        envelope["tokens"][field] =
            serde_json::Value::String((at - chrono::Duration::seconds(secs)).to_rfc3339());
    }
    std::fs::write(&path, serde_json::to_vec(&envelope).unwrap()).expect("rewrite the login");
}

fn stored_refresh_token(world: &World) -> String {
    read_tokens(&world.store_file("default"))
        .and_then(|t| t.get("refresh_token")?.as_str().map(str::to_owned))
        .expect("a stored refresh token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_token_whoami_status_and_logout() {
    let world = World::start().await;

    let (login, _) = world.login(&[]).await;
    assert_eq!(login.stdout.lines().count(), 1, "{}", login.describe());
    assert!(login.stderr.contains("UNENCRYPTED"), "{}", login.describe());
    assert!(
        login.stderr.contains("LEXOFFICE_LOGIN_STORE_KEY"),
        "{}",
        login.describe()
    );
    assert!(
        login.stderr.contains("sandbox-user-1"),
        "{}",
        login.describe()
    );

    let status = world.run_ok(&["status"], 0).await;
    assert!(status.stdout.contains("Logged in"), "{}", status.describe());
    assert!(
        status.stdout.contains("sandbox-user-1"),
        "{}",
        status.describe()
    );
    assert!(
        status.stdout.contains("not encrypted"),
        "{}",
        status.describe()
    );
    // The advice about encryption is given at login, not on every status.
    assert!(
        !status.stderr.contains("UNENCRYPTED"),
        "{}",
        status.describe()
    );
    assert!(
        status.stdout.contains("accepts the login"),
        "{}",
        status.describe()
    );

    let json = world.run_ok(&["status", "--json"], 0).await;
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("status --json");
    assert_eq!(v["logged_in"], true);
    assert_eq!(v["subject"], "sandbox-user-1");
    assert_eq!(v["refresh_token"], true);
    assert_eq!(v["store"]["encrypted"], false);
    assert!(v["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "profile.read"));
    assert!(v["expires_in_secs"].as_i64().unwrap() > 3000);

    let discoveries = world.sandbox.stats().requests(SandboxRoute::Discovery);
    let token = world.run_ok(&["token"], 0).await;
    assert_eq!(token.stdout.lines().count(), 1, "{}", token.describe());
    assert!(token.stderr.is_empty(), "{}", token.describe());
    let access = token.stdout.trim();
    let info = world.sandbox.introspect(access).expect("a sandbox token");
    assert!(info.active);
    assert_eq!(info.sub.as_deref(), Some("sandbox-user-1"));
    // The fast path: a fresh token is printed without asking the provider anything.
    world.run_ok(&["token"], 0).await;
    assert_eq!(
        world.sandbox.stats().requests(SandboxRoute::Discovery),
        discoveries
    );

    let whoami = world.run_ok(&["whoami"], 0).await;
    assert!(
        whoami.stdout.starts_with("sandbox-user-1"),
        "{}",
        whoami.describe()
    );
    let whoami = world.run_ok(&["whoami", "--json"], 0).await;
    let v: serde_json::Value = serde_json::from_str(&whoami.stdout).unwrap();
    assert_eq!(v["source"], "id_token");
    assert_eq!(v["claims"]["email"], "sandra@example.test");
    let api = world.run_ok(&["whoami", "--api", "--json"], 0).await;
    let v: serde_json::Value = serde_json::from_str(&api.stdout).unwrap();
    assert_eq!(v["source"], "api");
    assert_eq!(
        v["profile"]["organizationId"],
        "5c9f2d1e-0000-4000-8000-000000000001"
    );
    assert_eq!(world.sandbox.stats().requests(SandboxRoute::Profile), 1);

    let refresh = stored_refresh_token(&world);
    let logout = world.run_ok(&["logout"], 0).await;
    assert!(logout.stderr.contains("revoked"), "{}", logout.describe());
    assert!(!world.store_file("default").exists());
    assert!(!world.sandbox.introspect(&refresh).unwrap().active);
    assert!(!world.sandbox.introspect(access).unwrap().active);

    let token = world.run_ok(&["token"], 3).await;
    assert!(token.stdout.is_empty());
    assert_eq!(token.stderr.lines().count(), 1, "{}", token.describe());
    assert!(
        token.stderr.contains("run `lexoffice-login login`"),
        "{}",
        token.describe()
    );
    let status = world.run_ok(&["status", "--json"], 3).await;
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["logged_in"], false);
    // A second logout has nothing to do.
    world.run_ok(&["logout"], 0).await;

    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_refreshes_through_the_manager_and_stores_the_rotated_refresh_token() {
    // 60 s is inside the 120 s refresh margin: every `token` refreshes.
    let sandbox = Sandbox::builder()
        .access_token_ttl(Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let world = World::new(sandbox).await;
    world.login(&[]).await;
    // 40 s into its 60 s life: inside the refresh margin (half the lifetime).
    age_stored_login(&world, "default", 40);
    let first_refresh = stored_refresh_token(&world);
    assert_eq!(world.sandbox.stats().token_grants("refresh_token"), 0);

    let token = world.run_ok(&["token"], 0).await;
    assert_eq!(world.sandbox.stats().token_grants("refresh_token"), 1);
    assert_eq!(token.stdout.lines().count(), 1, "{}", token.describe());
    assert!(
        world
            .sandbox
            .introspect(token.stdout.trim())
            .unwrap()
            .active
    );
    let second_refresh = stored_refresh_token(&world);
    assert_ne!(
        first_refresh, second_refresh,
        "the rotated refresh token is stored"
    );
    world.collect_stored_secrets();

    age_stored_login(&world, "default", 40);
    let again = world.run_ok(&["token"], 0).await;
    assert_eq!(world.sandbox.stats().token_grants("refresh_token"), 2);
    assert_ne!(again.stdout, token.stdout);
    assert_eq!(world.sandbox.stats().refresh_reuse_detected(), 0);
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stray_request_with_a_wrong_state_is_refused_and_the_login_still_completes() {
    let world = World::start().await;
    let run = world.start_login(&[]).await;
    let callback = run.redirect_uri();

    for stray in [
        format!("{callback}?code=forged&state=wrong"),
        format!("{callback}?code=forged"),
        format!("{callback}?error=access_denied&state=wrong"),
    ] {
        let (status, page) = browser_get(&stray).await;
        assert_eq!(status, 400, "{page}");
        assert!(page.contains("does not belong"), "{page}");
    }

    let redirect = world.authorize(&run.url).await;
    let (status, page) = browser_get(&redirect).await;
    assert_eq!(status, 200, "{page}");
    let out = run.finish(&world).await;
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(
        out.stderr.contains("Ignored a request"),
        "{}",
        out.describe()
    );
    world.run_ok(&["status"], 0).await;
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_that_only_gets_stray_requests_times_out_cleanly() {
    let world = World::start().await;
    let run = world.start_login(&["--timeout", "2"]).await;
    let (status, _) = browser_get(&format!("{}?code=x&state=wrong", run.redirect_uri())).await;
    assert_eq!(status, 400);
    let out = run.finish(&world).await;
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stderr.contains("within 2 s"), "{}", out.describe());
    assert!(
        out.stderr.contains("lexoffice-login login"),
        "{}",
        out.describe()
    );
    assert!(!world.store_file("default").exists());
    world.run_ok(&["status"], 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_consent_fails_and_leaves_the_earlier_login_untouched() {
    let world = World::start().await;
    world.login(&[]).await;
    let before = std::fs::read(world.store_file("default")).unwrap();

    let run = world.start_login(&[]).await;
    let denied = format!(
        "{}?error=access_denied&error_description=the+user+said+no&state={}&iss={}",
        run.redirect_uri(),
        run.param("state"),
        world.sandbox.issuer()
    );
    let (status, page) = browser_get(&denied).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("Login failed"), "{page}");
    let out = run.finish(&world).await;
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stderr.contains("access_denied"), "{}", out.describe());
    assert!(out.stderr.contains("unchanged"), "{}", out.describe());

    assert_eq!(std::fs::read(world.store_file("default")).unwrap(), before);
    world.run_ok(&["token"], 0).await;
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_down_gives_exit_4_with_a_hint_and_logout_keeps_the_login() {
    let mut world = World::start().await;
    world.login(&[]).await;
    // The access token has expired (no refresh is possible while the provider is down).
    expire_stored_login(&world, "default");

    let issuer = world.sandbox.issuer().to_owned();
    let down = Sandbox::builder().start().await.unwrap();
    let running = std::mem::replace(&mut world.sandbox, down);
    running.shutdown().await;
    // Keep pointing at the stopped sandbox.
    world
        .extra_env
        .push(("LEXOFFICE_LOGIN_ISSUER".into(), issuer));

    let token = world.run_ok(&["token"], 4).await;
    assert_eq!(token.stderr.lines().count(), 1, "{}", token.describe());
    assert!(token.stderr.contains("sandbox"), "{}", token.describe());
    assert!(token.stdout.is_empty());

    let login = world
        .run(&["login", "--no-browser", "--timeout", "5"])
        .await;
    assert_eq!(login.code, 4, "{}", login.describe());
    assert!(login.stdout.is_empty(), "{}", login.describe());

    let logout = world.run_ok(&["logout"], 4).await;
    assert!(logout.stderr.contains("--force"), "{}", logout.describe());
    assert!(world.store_file("default").exists());
    // status asks the provider: unreachable is exit 4, with the network cause named;
    // --offline shows what is stored.
    let status = world.run_ok(&["status"], 4).await;
    assert!(
        status.stderr.contains("[cause: connection refused")
            && status.stdout.contains("could not be reached"),
        "{}",
        status.describe()
    );
    world.run_ok(&["status", "--offline"], 0).await;
    let forced = world.run_ok(&["logout", "--force"], 0).await;
    assert!(
        forced.stderr.contains("without revoking"),
        "{}",
        forced.describe()
    );
    assert!(!world.store_file("default").exists());
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_inside_the_margin_is_still_served_while_the_provider_is_down() {
    let sandbox = Sandbox::builder()
        .access_token_ttl(Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let mut world = World::new(sandbox).await;
    world.login(&[]).await;
    // 40 s into its 60 s life: inside the refresh margin (half the lifetime).
    age_stored_login(&world, "default", 40);
    let issuer = world.sandbox.issuer().to_owned();
    let running = std::mem::replace(
        &mut world.sandbox,
        Sandbox::builder().start().await.unwrap(),
    );
    running.shutdown().await;
    world
        .extra_env
        .push(("LEXOFFICE_LOGIN_ISSUER".into(), issuer));
    let token = world.run_ok(&["token"], 0).await;
    assert_eq!(token.stdout.lines().count(), 1);
    assert!(
        token.stderr.contains("could not be refreshed"),
        "{}",
        token.describe()
    );
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_revoked_at_the_provider_requires_a_new_login() {
    let world = World::start().await;
    world.login(&[]).await;
    let refresh = stored_refresh_token(&world);

    // Revoked elsewhere (another device, the provider's settings page).
    let resp = reqwest::Client::new()
        .post(world.sandbox.url("/oauth2/revoke"))
        .basic_auth(world.sandbox.client_id(), world.sandbox.client_secret())
        .form(&[
            ("token", refresh.as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    // The access token has expired as well, so the next use must refresh.
    expire_stored_login(&world, "default");

    let token = world.run_ok(&["token"], 3).await;
    assert_eq!(token.stderr.lines().count(), 1, "{}", token.describe());
    assert!(
        token.stderr.contains("run `lexoffice-login login`"),
        "{}",
        token.describe()
    );
    let whoami = world.run_ok(&["whoami", "--api"], 3).await;
    assert!(
        whoami.stderr.contains("lexoffice-login login"),
        "{}",
        whoami.describe()
    );
    // The stored login is left in place (status --offline still shows it, expired), and
    // status, which asks the provider, says it must be made again.
    let status = world.run_ok(&["status", "--offline"], 0).await;
    assert!(status.stdout.contains("expired"), "{}", status.describe());
    let status = world.run_ok(&["status"], 3).await;
    assert!(
        status.stdout.contains("no longer accepts"),
        "{}",
        status.describe()
    );
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_store_is_used_and_reported() {
    let mut world = World::start().await;
    let key = lexoffice_login::store::EncryptionKey::generate().unwrap();
    world
        .extra_env
        .push(("LEXOFFICE_LOGIN_STORE_KEY".into(), key.to_base64()));
    let (login, _) = world.login(&[]).await;
    assert!(
        !login.stderr.contains("UNENCRYPTED"),
        "{}",
        login.describe()
    );
    let token = world.run_ok(&["token"], 0).await;
    let file = std::fs::read_to_string(world.store_file("default")).unwrap();
    assert!(!file.contains(token.stdout.trim()));
    let status = world.run_ok(&["status", "--json"], 0).await;
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["store"]["encrypted"], true);
    assert!(status.stderr.is_empty(), "{}", status.describe());

    // The wrong key: the file is left in place and the message says what to do.
    let other = lexoffice_login::store::EncryptionKey::generate().unwrap();
    world
        .extra_env
        .push(("LEXOFFICE_LOGIN_STORE_KEY".into(), other.to_base64()));
    let token = world.run_ok(&["token"], 1).await;
    assert!(
        token.stderr.contains("LEXOFFICE_LOGIN_STORE_KEY"),
        "{}",
        token.describe()
    );
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_hold_separate_logins() {
    let world = World::start().await;
    world.login(&[]).await;
    world.login(&["--profile", "work"]).await;
    assert!(world.store_file("work").exists());
    let a = world.run_ok(&["token"], 0).await;
    let b = world.run_ok(&["token", "--profile", "work"], 0).await;
    assert_ne!(a.stdout, b.stdout);
    // Another provider's login is kept apart: lexoffice's is never handed out for it.
    let other = world.run_ok(&["token", "--provider", "xero"], 3).await;
    assert!(
        other.stderr.contains("local-xero/default"),
        "{}",
        other.describe()
    );
    assert!(
        other.stderr.contains("--provider xero"),
        "{}",
        other.describe()
    );
    world.run_ok(&["logout", "--profile", "work"], 0).await;
    world.run_ok(&["token", "--profile", "work"], 3).await;
    world.run_ok(&["token"], 0).await;
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_exit_5_with_what_to_do() {
    let mut world = World::start().await;
    world
        .extra_env
        .push(("LEXOFFICE_LOGIN_CLIENT_SECRET".into(), String::new()));
    let login = world.run_ok(&["login", "--no-browser"], 5).await;
    assert!(
        login.stderr.contains("LEXOFFICE_LOGIN_CLIENT_SECRET"),
        "{}",
        login.describe()
    );
    assert!(
        login.stderr.contains("lexoffice-login sandbox"),
        "{}",
        login.describe()
    );

    let mut world = World::start().await;
    world.extra_env.push((
        "LEXOFFICE_LOGIN_REDIRECT_URI".into(),
        "https://app.example.com/callback".into(),
    ));
    let login = world.run_ok(&["login", "--no-browser"], 5).await;
    assert!(login.stderr.contains("loopback"), "{}", login.describe());
    let discover = world.run_ok(&["discover", "--json"], 5).await;
    let v: serde_json::Value = serde_json::from_str(&discover.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["check"] == "loopback redirect URI" && c["ok"] == false));

    let mut world = World::start().await;
    world.extra_env.push((
        "LEXOFFICE_LOGIN_SCOPES".into(),
        "openid no.such.scope".into(),
    ));
    // scopes_supported is advice: an unlisted scope is a note, and discover passes.
    let discover = world.run_ok(&["discover"], 0).await;
    assert!(
        discover.stdout.contains("no.such.scope") && discover.stdout.contains("scopes_supported"),
        "{}",
        discover.describe()
    );
    assert!(discover.stdout.contains("note"), "{}", discover.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_shows_the_metadata_and_passes_its_checks() {
    let world = World::start().await;
    let out = world.run_ok(&["discover", "--json"], 0).await;
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["metadata"]["issuer"], world.sandbox.issuer());
    assert_eq!(v["settings"]["client_secret_set"], true);
    assert!(!out.stdout.contains("sandbox-secret"));
    let human = world.run_ok(&["discover"], 0).await;
    assert!(
        human.stdout.contains("ok       issuer"),
        "{}",
        human.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_exit_codes_completions_and_usage_errors() {
    let world = World::start().await;
    let help = world.run_ok(&["--help"], 0).await;
    assert!(help.stdout.contains("Exit codes"), "{}", help.describe());
    for cmd in [
        "login", "token", "whoami", "status", "logout", "discover", "sandbox",
    ] {
        let out = world.run_ok(&[cmd, "--help"], 0).await;
        assert!(out.stdout.contains("130"), "{}", out.describe());
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = world.run_ok(&["completions", shell], 0).await;
        assert!(out.stdout.contains("lexoffice-login"), "{}", out.describe());
    }
    world.run_ok(&["no-such-command"], 2).await;
    world.run_ok(&["login", "--timeout", "0"], 2).await;
    world.run_ok(&["status", "--profile", "../etc"], 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_command_serves_until_terminated() {
    let world = World::start().await;
    let mut child = world
        .command(&["sandbox", "--port", "0", "--json"])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(COMMAND_TIMEOUT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .expect("the sandbox prints its settings");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let issuer = v["issuer"].as_str().unwrap().to_owned();
    assert_eq!(v["client_id"], "lexoffice-login-sandbox");
    assert_eq!(v["users"][1]["sub"], "sandbox-user-2");
    let (status, body) = browser_get(&format!("{issuer}/.well-known/openid-configuration")).await;
    assert_eq!(status, 200);
    assert!(body.contains(&issuer));

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(COMMAND_TIMEOUT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_login_exits_130_and_keeps_the_earlier_login() {
    let world = World::start().await;
    world.login(&[]).await;
    let before = std::fs::read(world.store_file("default")).unwrap();

    let run = world.start_login(&[]).await;
    let pid = run.child.id().expect("running").to_string();
    let sent = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
    let out = run.finish(&world).await;
    assert_eq!(out.code, 130, "{}", out.describe());
    assert!(out.stderr.contains("interrupted"), "{}", out.describe());
    assert_eq!(std::fs::read(world.store_file("default")).unwrap(), before);
    world.run_ok(&["token"], 0).await;
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_id_token_whoami_asks_the_lexoffice_api() {
    use lexoffice_login_sandbox::SandboxProfile;
    let sandbox = Sandbox::builder()
        .profile(SandboxProfile::Lexoffice)
        .start()
        .await
        .unwrap();
    let mut world = World::new(sandbox).await;
    // Like config/production.toml: no discovery, static endpoints, no `openid`.
    for (k, path) in [
        (
            "LEXOFFICE_LOGIN_ENDPOINTS__AUTHORIZATION",
            "/oauth2/authorize",
        ),
        ("LEXOFFICE_LOGIN_ENDPOINTS__TOKEN", "/oauth2/token"),
        ("LEXOFFICE_LOGIN_ENDPOINTS__REVOCATION", "/oauth2/revoke"),
    ] {
        let url = world.sandbox.url(path).to_string();
        world.extra_env.push((k.into(), url));
    }
    world
        .extra_env
        .push(("LEXOFFICE_LOGIN_DISCOVERY".into(), "false".into()));
    world.extra_env.push((
        "LEXOFFICE_LOGIN_SCOPES".into(),
        "profile.read contacts.read".into(),
    ));
    let (login, _) = world.login(&[]).await;
    assert!(
        !login.stderr.contains("sandbox-user"),
        "{}",
        login.describe()
    );

    let whoami = world.run_ok(&["whoami"], 0).await;
    assert!(
        whoami.stdout.contains("Sandbox GmbH"),
        "{}",
        whoami.describe()
    );
    assert!(
        whoami.stdout.contains("/v1/profile"),
        "{}",
        whoami.describe()
    );
    let status = world.run_ok(&["status", "--json"], 0).await;
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["subject"], serde_json::Value::Null);
    world.run_ok(&["logout"], 0).await;
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_flag_selects_the_preset_and_discover_reports_its_quirks() {
    let sandbox = Sandbox::builder()
        .profile(lexoffice_login_sandbox::SandboxProfile::QuickBooks)
        .start()
        .await
        .expect("sandbox");
    let mut world = World::new(sandbox).await;
    // The preset's discovery URL is Intuit's; the sandbox serves the same underscore path.
    let underscore = world
        .sandbox
        .url("/.well-known/openid_configuration")
        .to_string();
    world
        .extra_env
        .push(("LEXOFFICE_LOGIN_DISCOVERY_URL".into(), underscore));
    // config/local.toml asks for lexoffice's scopes; QuickBooks offers others.
    world.extra_env.push((
        "LEXOFFICE_LOGIN_SCOPES".into(),
        "openid profile email com.intuit.quickbooks.accounting".into(),
    ));
    let out = world
        .run_ok(&["discover", "--json", "--provider", "quickbooks"], 0)
        .await;
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["provider"], "quickbooks", "{}", out.describe());
    assert!(
        v["quirks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap_or_default().contains("realmId")),
        "{}",
        out.describe()
    );
    // Like Intuit's, the sandbox's QuickBooks document lists only the OpenID Connect
    // scopes: the accounting scope is a warning, not a problem.
    assert!(
        v["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap_or_default()
            .contains("com.intuit.quickbooks.accounting")),
        "{}",
        out.describe()
    );
    assert_eq!(v["ok"], true, "{}", out.describe());
    let human = world
        .run_ok(&["discover", "--provider", "quickbooks"], 0)
        .await;
    assert!(
        human.stdout.contains("Provider preset quickbooks") && human.stdout.contains("JSON body"),
        "{}",
        human.describe()
    );
    assert!(
        human.stdout.contains("note") && human.stdout.contains("com.intuit.quickbooks.accounting"),
        "{}",
        human.describe()
    );
    world.run_ok(&["discover", "--provider", "sage"], 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_api_never_sends_another_providers_token_to_lexoffice() {
    let world = World::start().await;
    world.login(&[]).await;
    world.run_ok(&["token"], 0).await;
    let token_requests = world.sandbox.stats().requests(SandboxRoute::Token);
    // DATEV's preset has no API base and no identity endpoint: a configuration error,
    // before any request and whether or not a DATEV login is stored.
    let whoami = world
        .run_ok(&["--provider", "datev", "whoami", "--api"], 5)
        .await;
    assert!(
        whoami.stderr.contains("datev")
            && whoami.stderr.contains("api_base")
            && whoami.stderr.contains("LEXOFFICE_LOGIN_API_BASE"),
        "{}",
        whoami.describe()
    );
    assert!(whoami.stdout.is_empty(), "{}", whoami.describe());
    assert_eq!(world.sandbox.stats().requests(SandboxRoute::Profile), 0);
    assert_eq!(
        world.sandbox.stats().requests(SandboxRoute::Token),
        token_requests
    );
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_lines_own_variables_are_not_settings_and_a_stray_one_is_named() {
    let mut world = World::start().await;
    world
        .extra_env
        .push(("LEXOFFICE_LOGIN_PROFILE".into(), "work".into()));
    // LEXOFFICE_LOGIN_STORE_DIR is always set by World.
    world.run_ok(&["discover"], 0).await;
    world
        .extra_env
        .push(("LEXOFFICE_LOGIN_BOGUS".into(), "1".into()));
    let discover = world.run_ok(&["discover"], 5).await;
    assert!(
        discover.stderr.contains("LEXOFFICE_LOGIN_BOGUS"),
        "{}",
        discover.describe()
    );
}

/// The whole flow at TRACE: no output carries a code, the state (outside the login URL
/// it belongs in), a token, the client secret or the store key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_flow_at_trace_prints_no_secret() {
    let mut world = World::start().await;
    world.extra_env.push(("RUST_LOG".into(), "trace".into()));
    let run = world.start_login(&["-vvv"]).await;
    let state = run.param("state");
    let redirect = world.authorize(&run.url).await;
    let (status, _) = browser_get(&redirect).await;
    assert_eq!(status, 200);
    let login = run.finish(&world).await;
    assert_eq!(login.code, 0, "{}", login.describe());
    assert!(
        login.stderr.contains("TRACE") || login.stderr.contains("DEBUG"),
        "RUST_LOG=trace logs: {}",
        login.describe()
    );
    world.collect_stored_secrets();
    world.run_ok(&["token"], 0).await;
    world.run_ok(&["token", "--force-refresh"], 0).await;
    world.run_ok(&["status"], 0).await;
    world.run_ok(&["whoami"], 0).await;
    world.run_ok(&["whoami", "--api"], 0).await;
    world.collect_stored_secrets();
    world.run_ok(&["logout"], 0).await;

    // An encrypted store: its key is a secret too.
    let key = lexoffice_login::store::EncryptionKey::generate().unwrap();
    world
        .extra_env
        .push(("LEXOFFICE_LOGIN_STORE_KEY".into(), key.to_base64()));
    world.secrets.lock().unwrap().push(key.to_base64());
    let run = world.start_login(&[]).await;
    let state2 = run.param("state");
    let redirect = world.authorize(&run.url).await;
    browser_get(&redirect).await;
    assert_eq!(run.finish(&world).await.code, 0);
    world.run_ok(&["token", "--force-refresh"], 0).await;
    world.run_ok(&["status", "--json"], 0).await;
    world.run_ok(&["logout"], 0).await;

    for out in world.outputs.lock().unwrap().iter() {
        for s in [&state, &state2] {
            assert!(
                !out.stderr.contains(s.as_str()),
                "state on stderr: {}",
                out.describe()
            );
            let rest: String = out.stdout.lines().skip(1).collect();
            assert!(
                !rest.contains(s.as_str()),
                "state on stdout: {}",
                out.describe()
            );
        }
    }
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_force_refresh_damaged_logins_and_json_errors() {
    let world = World::start().await;
    world.login(&[]).await;
    world.login(&["--profile", "work"]).await;

    let list = world.run_ok(&["list"], 0).await;
    assert!(
        list.stdout.contains("local/default") && list.stdout.contains("local/work"),
        "{}",
        list.describe()
    );
    let all = world.run_ok(&["status", "--all", "--json"], 0).await;
    let v: serde_json::Value = serde_json::from_str(&all.stdout).unwrap();
    assert_eq!(
        v["logins"].as_array().unwrap().len(),
        2,
        "{}",
        all.describe()
    );
    assert_eq!(v["logins"][0]["subject"], "sandbox-user-1");

    // --force-refresh refreshes a fresh token.
    let before = world.sandbox.stats().token_grants("refresh_token");
    let a = world.run_ok(&["token"], 0).await;
    let b = world.run_ok(&["token", "--force-refresh"], 0).await;
    assert_eq!(
        world.sandbox.stats().token_grants("refresh_token"),
        before + 1
    );
    assert_ne!(a.stdout, b.stdout);
    world.collect_stored_secrets();

    // A damaged login: exit 3 naming the file; logout --force removes it.
    let file = world.store_file("work");
    std::fs::write(&file, b"{ not json").unwrap();
    let token = world.run_ok(&["token", "--profile", "work"], 3).await;
    assert!(
        token.stderr.contains(&file.display().to_string())
            && token.stderr.contains("logout --force"),
        "{}",
        token.describe()
    );
    let status = world
        .run_ok(&["status", "--profile", "work", "--json"], 3)
        .await;
    let err: serde_json::Value =
        serde_json::from_str(status.stderr.lines().last().unwrap()).expect("a JSON error");
    assert_eq!(err["error"]["exit"], 3, "{}", status.describe());
    world.run_ok(&["logout", "--profile", "work"], 3).await;
    world
        .run_ok(&["logout", "--profile", "work", "--force"], 0)
        .await;
    assert!(!file.exists());
    let list = world.run_ok(&["list"], 0).await;
    assert!(!list.stdout.contains("local/work"), "{}", list.describe());

    // --json errors, usage errors included; --env typos; the manual page.
    let usage = world.run_ok(&["token", "--bogus", "--json"], 2).await;
    let err: serde_json::Value = serde_json::from_str(usage.stderr.trim()).unwrap();
    assert_eq!(err["error"]["kind"], "usage");
    let typo = world.run_ok(&["status", "--env", "prod"], 5).await;
    assert!(
        typo.stderr.contains("did you mean production?"),
        "{}",
        typo.describe()
    );
    // --json on the other commands: token, logout; a DNS failure names its cause.
    let t = world.run_ok(&["token", "--json"], 0).await;
    let v: serde_json::Value = serde_json::from_str(&t.stdout).unwrap();
    assert!(v["access_token"].is_string());
    let mut dns = world.command(&["discover"]);
    dns.env("LEXOFFICE_LOGIN_ISSUER", "https://no-such-host.invalid");
    let out = dns.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("[cause: DNS"), "{stderr}");
    let bye = world.run_ok(&["logout", "--json"], 0).await;
    let v: serde_json::Value = serde_json::from_str(&bye.stdout).unwrap();
    assert_eq!(v["revoked"], true, "{}", bye.describe());
    let man = world.run_ok(&["man"], 0).await;
    assert!(
        man.stdout.contains(".TH lexoffice-login"),
        "{}",
        man.describe()
    );
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_is_bound_to_its_issuer_and_client() {
    let mut world = World::start().await;
    world.login(&[]).await;
    let other = Sandbox::builder().start().await.unwrap();

    // Another client id: refused before any request.
    world
        .extra_env
        .push(("LEXOFFICE_LOGIN_CLIENT_ID".into(), "another-client".into()));
    for args in [
        &["token"][..],
        &["token", "--force-refresh"],
        &["status"],
        &["whoami", "--api"],
        &["logout"],
    ] {
        let out = world.run_ok(args, 5).await;
        assert!(
            out.stderr.contains("client id") && out.stderr.contains("another-client"),
            "{}",
            out.describe()
        );
        assert!(
            out.stdout.lines().all(|l| !l.starts_with("ey")),
            "{}",
            out.describe()
        );
    }
    world.extra_env.pop();

    // Another issuer: nothing reaches it.
    world
        .extra_env
        .push(("LEXOFFICE_LOGIN_ISSUER".into(), other.issuer().to_owned()));
    for args in [&["token"][..], &["status"], &["logout"]] {
        let out = world.run_ok(args, 5).await;
        assert!(
            out.stderr.contains(world.sandbox.issuer()) && out.stderr.contains(other.issuer()),
            "{}",
            out.describe()
        );
    }
    assert_eq!(other.stats().requests(SandboxRoute::Token), 0);
    assert_eq!(other.stats().requests(SandboxRoute::Userinfo), 0);
    world.extra_env.pop();
    assert!(world.store_file("default").exists());
    world.run_ok(&["token"], 0).await;
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paste_login_and_scopes_at_login() {
    let world = World::start().await;
    let mut cmd = world.command(&[
        "login",
        "--paste",
        "--scopes",
        "openid offline_access profile.read",
    ]);
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(COMMAND_TIMEOUT, stdout.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    let url = url::Url::parse(line.trim()).expect("the login URL");
    let scope = url
        .query_pairs()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert_eq!(scope, "openid offline_access profile.read");
    let redirect = world.authorize(&url).await;
    use tokio::io::AsyncWriteExt;
    stdin
        .write_all(format!("{redirect}\n").as_bytes())
        .await
        .unwrap();
    let out = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("paste"), "{stderr}");
    world.record(&Output {
        args: vec!["login".into(), "--paste".into()],
        code: 0,
        stdout: line,
        stderr,
    });
    world.collect_stored_secrets();
    let status = world.run_ok(&["status", "--json"], 0).await;
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(
        v["provider_check"]["accepted"],
        true,
        "{}",
        status.describe()
    );
    let scopes: Vec<&str> = v["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert!(!scopes.contains(&"contacts.read"), "{scopes:?}");

    // The ID token has no name or email (no `profile`/`email` scope): whoami asks userinfo.
    let whoami = world.run_ok(&["whoami", "--json"], 0).await;
    let v: serde_json::Value = serde_json::from_str(&whoami.stdout).unwrap();
    assert_eq!(v["subject"], "sandbox-user-1", "{}", whoami.describe());

    // A scope preset by name.
    let run = world
        .start_login(&["--profile", "books", "--scopes", "read-only-bookkeeping"])
        .await;
    assert_eq!(
        run.param("scope"),
        "profile.read contacts.read vouchers.read files.read"
    );
    drop(run);
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_logins_from_the_user_config_file() {
    let mut world = World::start().await;
    let config = world.dir.path().join("user-config.toml");
    std::fs::write(
        &config,
        r#"
[logins.work]
env = "local"
client_id = "lexoffice-login-sandbox"
scopes = ["openid", "profile", "offline_access", "profile.read"]
secret = { env = "WORK_SECRET" }

[logins.broken]
env = "local"
client_id = ""
secret_plaintext = "sandbox-secret"
"#,
    )
    .unwrap();
    world.extra_env.push((
        "LEXOFFICE_LOGIN_USER_CONFIG".into(),
        config.display().to_string(),
    ));
    // The secret comes from WORK_SECRET, not from the settings' variable.
    world
        .extra_env
        .push(("LEXOFFICE_LOGIN_CLIENT_SECRET".into(), String::new()));
    let missing = world
        .run_ok(&["login", "--no-browser", "--login", "work"], 5)
        .await;
    assert!(
        missing.stderr.contains("WORK_SECRET") && missing.stderr.contains("[logins.work] secret"),
        "{}",
        missing.describe()
    );
    world
        .extra_env
        .push(("WORK_SECRET".into(), "sandbox-secret".into()));
    world.login(&["--login", "work"]).await;
    assert!(world.store_file("work").exists());
    let status = world
        .run_ok(&["status", "--login", "work", "--json"], 0)
        .await;
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert!(!v["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "contacts.read"));
    world.run_ok(&["token", "--login", "work"], 0).await;

    // A bad value names the file and the key.
    let broken = world
        .run_ok(&["login", "--no-browser", "--login", "broken"], 5)
        .await;
    assert!(
        broken.stderr.contains("[logins.broken] client_id"),
        "{}",
        broken.describe()
    );
    assert!(
        broken.stderr.contains("warning") && broken.stderr.contains("plain text"),
        "{}",
        broken.describe()
    );
    // Completion offers the named and stored logins.
    let mut cmd = world.command(&["--", "lexoffice-login", "token", "--login", ""]);
    cmd.env("COMPLETE", "fish");
    let out = cmd.output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("work") && text.contains("broken"), "{text}");
    world.assert_no_secret_printed();
}

/// `lexoffice-login sandbox` for every profile: the printed `export` lines, exactly, are
/// enough for `login`, `token` and `status`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandboxs_printed_instructions_work_for_every_profile() {
    for flags in [
        &[][..],
        &["--lexoffice"],
        &["--provider", "datev"],
        &["--provider", "xero"],
        &["--provider", "quickbooks"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let base = |args: &[&str]| {
            let mut cmd = Command::new(BIN);
            cmd.args(args)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", dir.path())
                .env("XDG_CONFIG_HOME", dir.path().join("config"))
                .env("LEXOFFICE_LOGIN_STORE_DIR", dir.path().join("store"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            cmd
        };
        let mut args = vec!["sandbox", "--port", "0"];
        args.extend_from_slice(flags);
        let mut sandbox = base(&args).spawn().unwrap();
        let mut lines = BufReader::new(sandbox.stdout.take().unwrap()).lines();
        let mut exports: Vec<(String, String)> = Vec::new();
        let mut printed = String::new();
        loop {
            let line = tokio::time::timeout(COMMAND_TIMEOUT, lines.next_line())
                .await
                .unwrap()
                .unwrap()
                .unwrap_or_else(|| panic!("the sandbox ended early:\n{printed}"));
            printed.push_str(&line);
            printed.push('\n');
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("export ") {
                let (k, v) = rest.split_once('=').unwrap();
                exports.push((k.to_owned(), v.trim_matches('"').to_owned()));
            }
            if line.starts_with("lexoffice-login login") {
                assert_eq!(line, "lexoffice-login login --env local", "{printed}");
                break;
            }
        }
        let with_exports = |args: &[&str]| {
            let mut cmd = base(args);
            for (k, v) in &exports {
                cmd.env(k, v);
            }
            cmd
        };
        let mut login = with_exports(&["login", "--env", "local", "--no-browser"])
            .spawn()
            .unwrap();
        let mut out = BufReader::new(login.stdout.take().unwrap());
        let mut url = String::new();
        tokio::time::timeout(COMMAND_TIMEOUT, out.read_line(&mut url))
            .await
            .unwrap()
            .unwrap();
        let url = url::Url::parse(url.trim())
            .unwrap_or_else(|e| panic!("{flags:?}: no login URL ({e}):\n{printed}"));
        let redirect = lexoffice_login_sandbox::follow_authorization(&url)
            .await
            .unwrap_or_else(|e| panic!("{flags:?}: {e}\n{printed}"));
        let (status, page) = browser_get(&redirect).await;
        let done = tokio::time::timeout(COMMAND_TIMEOUT, login.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            done.status.code(),
            Some(0),
            "{flags:?}: {status} {page}\n{}\n{printed}",
            String::from_utf8_lossy(&done.stderr)
        );
        for args in [
            &["token", "--env", "local"][..],
            &["status", "--env", "local"],
        ] {
            let out = with_exports(args).output().await.unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{flags:?} {args:?}:\n{}\n{}\n{printed}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let pid = sandbox.id().unwrap().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        let _ = tokio::time::timeout(COMMAND_TIMEOUT, sandbox.wait()).await;
    }
}

/// `login --store keyring`: the tokens go to the OS keyring (Linux: the kernel keyring),
/// a pointer without secrets stays in the store directory, and every command finds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyring_store_from_the_command_line() {
    let world = World::start().await;
    let profile = format!("kr-{}", std::process::id());
    let (login, _) = world
        .login(&["--store", "keyring", "--profile", &profile])
        .await;
    assert!(login.stderr.contains("keyring"), "{}", login.describe());
    assert!(
        !login.stderr.contains("UNENCRYPTED"),
        "{}",
        login.describe()
    );
    assert!(!world.store_file(&profile).exists());
    let pointer = world.store_dir().join(format!("local.{profile}.keyring"));
    assert!(pointer.exists());
    let token = world.run_ok(&["token", "--profile", &profile], 0).await;
    assert!(!std::fs::read_to_string(&pointer)
        .unwrap()
        .contains(token.stdout.trim()));
    let status = world
        .run_ok(&["status", "--profile", &profile, "--json"], 0)
        .await;
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["store"]["kind"], "keyring", "{}", status.describe());
    let list = world.run_ok(&["list"], 0).await;
    assert!(
        list.stdout.contains(&profile) && list.stdout.contains("keyring"),
        "{}",
        list.describe()
    );
    world.run_ok(&["logout", "--profile", &profile], 0).await;
    assert!(!pointer.exists());
    world.run_ok(&["token", "--profile", &profile], 3).await;
    world.assert_no_secret_printed();
}

/// No browser can be opened (none on PATH): said at once, with the URL to open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_cannot_open_is_said_at_once() {
    let world = World::start().await;
    let mut cmd = world.command(&["login", "--timeout", "5"]);
    cmd.env("PATH", "/nonexistent")
        .env_remove("BROWSER")
        .env_remove("DISPLAY");
    let out = tokio::time::timeout(COMMAND_TIMEOUT, cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("No browser could be opened") && stderr.contains("/oauth2/authorize?"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
}

/// `login --device` (RFC 8628): the verification link on stdout, the code on stderr; the
/// approval on another device ends the login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_login_for_machines_without_a_browser() {
    let sandbox = Sandbox::builder()
        .device_poll_interval(Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let world = World::new(sandbox).await;
    let mut child = world
        .command(&[
            "login",
            "--device",
            "--scopes",
            "openid profile offline_access",
        ])
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(COMMAND_TIMEOUT, stdout.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    let link = url::Url::parse(line.trim()).expect("the verification link");
    let code = link
        .query_pairs()
        .find(|(k, _)| k == "user_code")
        .map(|(_, v)| v.into_owned())
        .expect("the code filled in");
    // The user opens the link on a phone; the auto-consent sandbox approves on GET.
    let (status, page) = browser_get(link.as_str()).await;
    assert!(status < 400, "{status} {page}");
    let out = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&code) && stderr.contains("Logged in"),
        "{stderr}"
    );
    world.record(&Output {
        args: vec!["login".into(), "--device".into()],
        code: 0,
        stdout: line,
        stderr,
    });
    world.collect_stored_secrets();
    let status = world.run_ok(&["status", "--json"], 0).await;
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(
        v["provider_check"]["accepted"],
        true,
        "{}",
        status.describe()
    );
    assert_eq!(
        v["scopes"].as_array().unwrap().len(),
        3,
        "{}",
        status.describe()
    );
    world.run_ok(&["token"], 0).await;
    world.assert_no_secret_printed();

    // A provider without the grant (static endpoints, none for devices): a configuration
    // error that names the other ways.
    let mut world = world;
    world
        .extra_env
        .push(("LEXOFFICE_LOGIN_DISCOVERY".into(), "false".into()));
    for (k, path) in [
        (
            "LEXOFFICE_LOGIN_ENDPOINTS__AUTHORIZATION",
            "/oauth2/authorize",
        ),
        ("LEXOFFICE_LOGIN_ENDPOINTS__TOKEN", "/oauth2/token"),
        ("LEXOFFICE_LOGIN_ENDPOINTS__JWKS", "/oauth2/jwks"),
    ] {
        let url = world.sandbox.url(path).to_string();
        world.extra_env.push((k.into(), url));
    }
    let none = world
        .run_ok(&["login", "--device", "--profile", "other"], 5)
        .await;
    assert!(
        none.stderr.contains("device authorization") && none.stderr.contains("--paste"),
        "{}",
        none.describe()
    );
}
