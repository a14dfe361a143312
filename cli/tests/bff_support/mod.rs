//! Shared by tests/bff.rs and tests/bff_browser.rs: the sandbox (lexoffice profile)
//! behind a recording relay, and `lexoffice-login bff` in front of it.
//!
//! The relay forwards every request to the sandbox unchanged and records (a) the token
//! endpoint's answers, so that the tests know every access, refresh and ID token the
//! sandbox issued, and (b) the headers of the API requests the BFF sends. To each API
//! answer it adds a `Set-Cookie`, which the BFF must not pass on.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use lexoffice_login_sandbox::{Sandbox, SandboxClient, SandboxProfile};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const CLIENT_ID: &str = "lexoffice-bff-test";
pub const CLIENT_SECRET: &str = "bff-test-secret";
pub const BIN: &str = env!("CARGO_BIN_EXE_lexoffice-login");

#[derive(Default)]
pub struct Recorded {
    /// Every token the sandbox's token endpoint answered with.
    pub tokens: Vec<String>,
    /// Headers of every /v1 request (lower-case name, value).
    pub api_requests: Vec<Vec<(String, String)>>,
}

pub struct World {
    pub sandbox: Sandbox,
    pub relay: String,
    pub recorded: Arc<Mutex<Recorded>>,
    pub bff: Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

#[derive(Clone)]
struct Relay {
    target: String,
    http: reqwest::Client,
    recorded: Arc<Mutex<Recorded>>,
}

async fn relay(
    State(r): State<Relay>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_q = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let is_api = uri.path().starts_with("/v1");
    if is_api {
        r.recorded.lock().unwrap().api_requests.push(
            headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
        );
    }
    let mut req = r
        .http
        .request(method, format!("{}{}", r.target, path_q))
        .body(body);
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let mut out = HeaderMap::new();
    for (k, v) in resp.headers() {
        if k != "content-length" && k != "transfer-encoding" {
            out.append(k, v.clone());
        }
    }
    let bytes = resp.bytes().await.unwrap();
    if uri.path() == "/oauth2/token" {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            let mut rec = r.recorded.lock().unwrap();
            for name in ["access_token", "refresh_token", "id_token"] {
                if let Some(t) = v[name].as_str() {
                    rec.tokens.push(t.to_owned());
                }
            }
        }
    }
    if is_api {
        out.append(
            "set-cookie",
            "upstream_session=from-the-api; Path=/".parse().unwrap(),
        );
    }
    (status, out, bytes).into_response()
}

/// Options of one BFF.
#[derive(Default)]
pub struct Options {
    pub interactive: bool,
    pub args: Vec<String>,
    /// For the latency benchmark: no rate limit at the sandbox's /v1, and the BFF's API
    /// calls go straight to the sandbox (not through the relay).
    pub bench: bool,
    /// `--session-store postgres --database-url URL` (with a store key).
    pub database_url: Option<String>,
    /// `--public-url` (several replicas behind one address).
    pub public_url: Option<String>,
}

/// The key the BFF's PostgreSQL stores are sealed with in the tests.
pub const STORE_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// One running `lexoffice-login bff`.
pub struct Bff {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl Bff {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl World {
    pub async fn start(opts: Options) -> World {
        let sandbox = Sandbox::builder()
            .profile(SandboxProfile::Lexoffice)
            .interactive(opts.interactive)
            .rate_limit_per_second(if opts.bench { 0 } else { 2 })
            .client(
                SandboxClient::confidential(CLIENT_ID, CLIENT_SECRET)
                    .redirect_uri("http://127.0.0.1:8080/auth/callback"),
            )
            .start()
            .await
            .unwrap();
        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let state = Relay {
            target: sandbox.issuer().trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            recorded: recorded.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(relay).with_state(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let relay = format!("http://{addr}");

        let dir = tempfile::tempdir().unwrap();
        let Bff { child: bff, base } = spawn_bff(&sandbox, &relay, dir.path(), &opts).await;
        World {
            sandbox,
            relay,
            recorded,
            bff,
            base,
            _dir: dir,
        }
    }

    /// Another `bff` on the same sandbox (a replica, or a restart), with `opts`.
    pub async fn replica(&self, opts: &Options) -> Bff {
        spawn_bff(&self.sandbox, &self.relay, self._dir.path(), opts).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn tokens(&self) -> Vec<String> {
        self.recorded.lock().unwrap().tokens.clone()
    }
}

/// Starts `lexoffice-login bff` in front of `sandbox` (its token endpoint and API through
/// `relay`), with its files in `dir`; returns when it listens.
async fn spawn_bff(sandbox: &Sandbox, relay: &str, dir: &std::path::Path, opts: &Options) -> Bff {
    let mut cmd = Command::new(BIN);
    cmd.arg("bff")
        .args(["--listen", "127.0.0.1:0", "--api-base"])
        .arg(if opts.bench {
            sandbox.url("/v1").to_string()
        } else {
            format!("{relay}/v1")
        })
        .args(&opts.args)
        .args(
            opts.public_url
                .iter()
                .flat_map(|u| ["--public-url".to_owned(), u.clone()]),
        )
        .args(opts.database_url.iter().flat_map(|u| {
            [
                "--session-store".to_owned(),
                "postgres".to_owned(),
                "--database-url".to_owned(),
                u.clone(),
            ]
        }))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("LEXOFFICE_LOGIN_STORE_DIR", dir.join("store"))
        .env("LEXOFFICE_LOGIN_ISSUER", sandbox.issuer())
        .env("LEXOFFICE_LOGIN_CLIENT_ID", CLIENT_ID)
        .env("LEXOFFICE_LOGIN_CLIENT_SECRET", CLIENT_SECRET)
        .env("LEXOFFICE_LOGIN_DISCOVERY", "false")
        .env(
            "LEXOFFICE_LOGIN_ENDPOINTS__AUTHORIZATION",
            sandbox.url("/oauth2/authorize").as_str(),
        )
        .env(
            "LEXOFFICE_LOGIN_ENDPOINTS__TOKEN",
            format!("{relay}/oauth2/token"),
        )
        .env(
            "LEXOFFICE_LOGIN_ENDPOINTS__REVOCATION",
            sandbox.url("/oauth2/revoke").as_str(),
        )
        .env(
            "LEXOFFICE_LOGIN_ENDPOINTS__JWKS",
            sandbox.url("/oauth2/jwks").as_str(),
        )
        .env(
            "LEXOFFICE_LOGIN_SCOPES",
            "openid profile email offline_access profile.read",
        )
        .env("LEXOFFICE_LOGIN_STORE_KEY", STORE_KEY)
        .env("RUST_LOG", "lexoffice_login=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut bff = cmd.spawn().expect("spawn lexoffice-login bff");
    let mut out = BufReader::new(bff.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(30), out.read_line(&mut line))
        .await
        .expect("the BFF starts in time")
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the BFF printed {line:?}"))
        .to_owned();
    // Keep reading stdout so that the process never blocks on a full pipe.
    tokio::spawn(async move {
        let mut sink = String::new();
        while out.read_line(&mut sink).await.unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    Bff { child: bff, base }
}
