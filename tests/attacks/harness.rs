//! The attack table's harness: what a case expects, how its outcome is judged, the
//! secrets in play and every error text shown, and a login against the wiremock provider
//! with distinctive secret values (so that a leak is found by plain text search).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Mutex;

use lexoffice_login::{Client, Error, SettingsBuilder, TokenSet};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::wiremock_provider::{at_hash, callback, Login, Provider};

/// The authorization code every login of the table is given.
pub const CODE: &str = "code-7a41c0ffee-authorization-secret";
/// The access and refresh tokens of the token answers.
pub const AT: &str = "at-5e1f2a9b-access-token-secret";
pub const RT: &str = "rt-9c3d7e11-refresh-token-secret";
/// The tokens a refresh answers with.
pub const AT2: &str = "at-2b6c8d0e-refreshed-access-secret";
pub const RT2: &str = "rt-3f5a7c9e-rotated-refresh-secret";
/// The client secret of every client of the table.
pub const CS: &str = "cs-40b2d6f8-client-secret-value";

/// What a case must end in.
pub enum Expect<E> {
    /// A positive control: the same harness with a valid input passes.
    Accepted,
    /// Refused with the error the matcher accepts (described by the text).
    Refused(&'static str, Box<dyn Fn(&E) -> bool + Send + Sync>),
}

impl<E> Expect<E> {
    pub fn refused_if(what: &'static str, m: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        Expect::Refused(what, Box::new(m))
    }
}

/// `refused!(Error::StateMismatch)`: refused with an error matching the pattern.
#[macro_export]
macro_rules! refused {
    ($($p:tt)+) => {
        $crate::harness::Expect::refused_if(stringify!($($p)+), |e| matches!(e, $($p)+))
    };
}

/// How one case ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub category: &'static str,
    pub name: String,
    /// Why it is not as expected; `None` when it is.
    pub failure: Option<String>,
}

/// Judges a result against the expectation. Every error is shown (its `Display` and
/// `Debug` are kept for the secret search).
pub fn judge<T, E: fmt::Debug + fmt::Display>(
    category: &'static str,
    name: impl Into<String>,
    expect: &Expect<E>,
    result: &Result<T, E>,
) -> Outcome {
    let name = name.into();
    if let Err(e) = result {
        show(&name, format!("{e}\n{e:?}"));
    }
    let failure = match (expect, result) {
        (Expect::Accepted, Ok(_)) => None,
        (Expect::Accepted, Err(e)) => Some(format!("expected acceptance, got {e:?}")),
        (Expect::Refused(what, _), Ok(_)) => Some(format!("expected {what}, it was accepted")),
        (Expect::Refused(what, m), Err(e)) => {
            (!m(e)).then(|| format!("expected {what}, got {e:?}"))
        }
    };
    Outcome {
        category,
        name,
        failure,
    }
}

impl Outcome {
    /// The same outcome failed for `why` when `ok` is false (a check after the result).
    pub fn also(mut self, ok: bool, why: impl FnOnce() -> String) -> Outcome {
        if !ok && self.failure.is_none() {
            self.failure = Some(why());
        }
        self
    }

    pub fn fail(category: &'static str, name: impl Into<String>, why: String) -> Outcome {
        Outcome {
            category,
            name: name.into(),
            failure: Some(why),
        }
    }
}

/// Runs the cases at once; a case that panics is a failure named after it.
pub async fn run_all<F>(category: &'static str, cases: Vec<(String, F)>) -> Vec<Outcome>
where
    F: Future<Output = Outcome> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    let mut names = BTreeMap::new();
    for (name, case) in cases {
        let id = set.spawn(case).id();
        names.insert(id, name);
    }
    let mut out = Vec::new();
    while let Some(done) = set.join_next_with_id().await {
        match done {
            Ok((_, outcome)) => out.push(outcome),
            Err(err) => {
                let name = names.get(&err.id()).cloned().unwrap_or_default();
                let why = if err.is_panic() {
                    let panic = err.into_panic();
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default()
                } else {
                    "cancelled".to_owned()
                };
                out.push(Outcome::fail(category, name, format!("panicked: {why}")));
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Fails with every case of `outcomes` that is not as expected, each named.
pub fn assert_all(outcomes: &[Outcome]) {
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.failure
                .as_ref()
                .map(|f| format!("[{}] {}: {f}", o.category, o.name))
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} cases are not as expected:\n{}",
        failed.len(),
        outcomes.len(),
        failed.join("\n")
    );
}

// ------------------------------------------------------------------ secrets in play

/// Every secret value a case handled, with what it is.
static SECRETS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
/// The `Display` and `Debug` of every error, with the case that produced it.
static SHOWN: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

pub fn remember(what: &str, secret: impl Into<String>) {
    let secret = secret.into();
    assert!(secret.len() >= 8, "{what}: a real secret, not {secret:?}");
    SECRETS.lock().unwrap().push((what.to_owned(), secret));
}

pub fn show(case: &str, text: String) {
    SHOWN.lock().unwrap().push((case.to_owned(), text));
}

pub fn secrets() -> Vec<(String, String)> {
    SECRETS.lock().unwrap().clone()
}

pub fn shown() -> Vec<(String, String)> {
    SHOWN.lock().unwrap().clone()
}

/// The constant secrets every login of the table has in play.
pub fn remember_constants() {
    for (what, s) in [
        ("authorization code", CODE),
        ("access token", AT),
        ("refresh token", RT),
        ("refreshed access token", AT2),
        ("rotated refresh token", RT2),
        ("client secret", CS),
    ] {
        remember(what, s);
    }
}

// ------------------------------------------------------------------ logins

/// The table's settings for a provider: the harness's, with the table's client secret.
pub fn settings(p: &Provider) -> SettingsBuilder {
    p.settings().client_secret(CS)
}

/// A login in progress whose state, nonce and PKCE verifier are remembered as secrets.
pub fn start_login(client: &Client) -> Login {
    let login = Login::start(client);
    remember("state", login.state.clone());
    if let Some(nonce) = &login.nonce {
        remember("nonce", nonce.clone());
    }
    let pending = serde_json::to_value(&login.pending).expect("pending login serializes");
    let verifier = pending["verifier"].as_str().expect("verifier").to_owned();
    remember("PKCE verifier", verifier);
    login
}

/// The PKCE verifier of a login in progress.
pub fn verifier(login: &Login) -> String {
    serde_json::to_value(&login.pending).expect("pending")["verifier"]
        .as_str()
        .expect("verifier")
        .to_owned()
}

/// Valid ID-token claims for `login` with the table's access token.
pub fn good_claims(p: &Provider, login: &Login) -> Value {
    let mut c = p.claims(login);
    c["at_hash"] = json!(at_hash(AT));
    c
}

/// Signs with the provider's RSA key and remembers the token as a secret.
pub fn signed(p: &Provider, claims: &Value) -> String {
    let t = p.rsa.sign(claims);
    remember("ID token", t.clone());
    t
}

/// The table's successful token answer.
pub fn token_answer(id_token: Option<&str>) -> Value {
    let mut body = json!({
        "access_token": AT,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": RT,
        "scope": "openid profile",
    });
    if let Some(t) = id_token {
        body["id_token"] = json!(t);
    }
    body
}

/// The token endpoint answers `response` once (mounted before later answers).
pub async fn token_once(p: &Provider, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(response)
        .up_to_n_times(1)
        .mount(&p.server)
        .await;
}

/// Completes a login whose token request is answered by `answer`, given the login.
pub async fn complete_with(
    p: &Provider,
    client: &Client,
    answer: impl FnOnce(&Provider, &Login) -> ResponseTemplate,
) -> Result<TokenSet, Error> {
    let login = start_login(client);
    token_once(p, answer(p, &login)).await;
    client
        .complete(login.pending, &callback(&login.state, CODE))
        .await
}

/// A completed login with a valid RS256 ID token made from `claims`.
pub async fn logged_in(
    p: &Provider,
    client: &Client,
    edit: impl FnOnce(&mut Value),
) -> (TokenSet, Value) {
    let mut claims = Value::Null;
    let tokens = complete_with(p, client, |p, login| {
        claims = good_claims(p, login);
        edit(&mut claims);
        let t = signed(p, &claims);
        ResponseTemplate::new(200).set_body_json(token_answer(Some(&t)))
    })
    .await
    .expect("the login of the case's setup");
    (tokens, claims)
}

/// A JSON body larger than 1 MiB.
pub fn oversized_json() -> ResponseTemplate {
    let filler = "x".repeat(2 * 1024 * 1024);
    ResponseTemplate::new(200).set_body_raw(
        format!(r#"{{"filler": "{filler}"}}"#).into_bytes(),
        "application/json",
    )
}

pub fn html(status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw("<html><body>oops</body></html>", "text/html")
}

pub fn raw_json(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "application/json")
}

pub fn json_answer(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

pub fn redirect_to(p: &Provider, to: &str) -> ResponseTemplate {
    ResponseTemplate::new(302).insert_header("location", p.url(to).as_str())
}
