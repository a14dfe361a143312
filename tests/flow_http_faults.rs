//! What the client does when the provider misbehaves on the wire (malformed JSON, HTML
//! error pages, 5xx, timeouts, redirects, odd field types), the discovery checks, and the
//! back-channel calls after a login: refresh, revocation and userinfo.

mod support;

use support::wiremock_provider as common;

use std::time::Duration;

use common::*;
use lexoffice_login::{Client, Endpoint, Error, Settings, TokenKind, TokenSet};
use serde_json::{json, Value};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, ResponseTemplate};

/// Starts a login and completes it against whatever the token endpoint answers.
async fn complete_against(
    p: &Provider,
    client: &Client,
    answer: ResponseTemplate,
) -> Result<TokenSet, Error> {
    p.mount_token_response(answer).await;
    let login = Login::start(client);
    client
        .complete(login.pending, &callback(&login.state, "c"))
        .await
}

async fn discover_err(settings: lexoffice_login::SettingsBuilder) -> Error {
    Client::connect(settings.build().expect("settings"))
        .await
        .expect_err("discovery must fail")
}

/// A failure the client must report as one typed error, with what its message says.
struct Fault {
    name: &'static str,
    /// The error, given the provider.
    expect: fn(&Error, &Provider) -> bool,
    /// `Error::is_transient`, where it is checked.
    transient: Option<bool>,
    /// Texts the error message must contain, and must not.
    says: &'static [&'static str],
    never_says: &'static [&'static str],
}

const FAULT: Fault = Fault {
    name: "",
    expect: |_, _| false,
    transient: None,
    says: &[],
    never_says: &[],
};

impl Fault {
    fn check(&self, err: &Error, p: &Provider) {
        let name = self.name;
        assert!((self.expect)(err, p), "{name}: {err:?}");
        if let Some(transient) = self.transient {
            assert_eq!(err.is_transient(), transient, "{name}: {err:?}");
        }
        let msg = err.to_string();
        for text in self.says {
            assert!(msg.contains(text), "{name}: {text:?} in {msg}");
        }
        for text in self.never_says {
            assert!(!msg.contains(text), "{name}: {text:?} in {msg}");
        }
    }
}

/// What an endpoint answers, made for the provider.
type Answer = fn(&Provider) -> ResponseTemplate;

/// The client's settings for the provider.
type Configure = fn(&Provider) -> lexoffice_login::SettingsBuilder;

// ---------------------------------------------------------------- token endpoint faults

const HTML_500: &str = "<html><body><h1>500 Internal Server Error</h1>code=the-code</body></html>";

/// What the token endpoint answers to the code exchange, and the error it must give.
fn token_faults() -> Vec<(Answer, Fault)> {
    vec![
        (
            |_| {
                ResponseTemplate::new(200)
                    .set_body_raw(r#"{"access_token": "at-1", "#, "application/json")
            },
            Fault {
                name: "malformed JSON is a malformed response",
                expect: |e, p| matches!(e, Error::MalformedResponse { endpoint: Endpoint::Token, url, .. } if url == &p.url("/token")),
                transient: Some(true),
                says: &["try again later"],
                ..FAULT
            },
        ),
        (
            |_| ResponseTemplate::new(200).set_body_json(json!({"token_type": "Bearer"})),
            Fault {
                name: "an answer without access_token is malformed and names the field",
                expect: |e, _| matches!(e, Error::MalformedResponse { endpoint: Endpoint::Token, detail, .. } if detail.contains("access_token")),
                ..FAULT
            },
        ),
        (
            |_| ResponseTemplate::new(500).set_body_raw(HTML_500, "text/html; charset=utf-8"),
            Fault {
                name: "an HTML error page is an unexpected response with its status",
                expect: |e, _| matches!(e, Error::UnexpectedResponse { endpoint: Endpoint::Token, status: 500, content_type, .. } if content_type.starts_with("text/html")),
                transient: Some(true),
                says: &["HTTP 500", "try again later"],
                // The page (which may echo what was sent) is never quoted.
                never_says: &["<html>", "the-code"],
            },
        ),
        (
            |_| ResponseTemplate::new(200).set_body_raw("<html>maintenance</html>", "text/html"),
            Fault {
                name: "an HTML page with status 200 is an unexpected response",
                expect: |e, _| matches!(e, Error::UnexpectedResponse { endpoint: Endpoint::Token, status: 200, content_type, .. } if content_type == "text/html"),
                ..FAULT
            },
        ),
        (
            |_| ResponseTemplate::new(500).set_body_json(json!({"error": "server_error"})),
            Fault {
                name: "a 500 server_error is an OAuth error and transient",
                expect: |e, _| {
                    !e.is_invalid_grant()
                        && matches!(e, Error::OAuth { endpoint: Endpoint::Token, status: 500, code, description: None } if code == "server_error")
                },
                transient: Some(true),
                says: &["try again later"],
                ..FAULT
            },
        ),
        (
            |_| {
                ResponseTemplate::new(400).set_body_json(json!({
                    "error": "invalid_grant",
                    "error_description": "authorization code already used",
                }))
            },
            Fault {
                name: "invalid_grant at the code exchange says to log in again",
                expect: |e, _| e.is_invalid_grant(),
                transient: Some(false),
                says: &["authorization code already used", "log in again"],
                ..FAULT
            },
        ),
        (
            |_| ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client"})),
            Fault {
                name: "invalid_client says to check the credentials",
                expect: |e, _| matches!(e, Error::OAuth { status: 401, code, .. } if code == "invalid_client"),
                says: &["client secret"],
                never_says: &[SECRET],
                ..FAULT
            },
        ),
        (
            |p| {
                ResponseTemplate::new(302)
                    .insert_header("location", p.url("/elsewhere/token").as_str())
            },
            Fault {
                name: "a redirect is never followed",
                expect: |e, p| matches!(e, Error::UnexpectedRedirect { endpoint: Endpoint::Token, status: 302, location: Some(l), .. } if l == &p.url("/elsewhere/token")),
                says: &["configure the final URL"],
                ..FAULT
            },
        ),
    ]
}

#[tokio::test]
async fn each_token_endpoint_fault_fails_the_code_exchange_with_its_error() {
    run_concurrently(
        token_faults()
            .into_iter()
            .map(|(answer, fault)| async move {
                let p = Provider::start().await;
                // Where a redirect would lead: never asked.
                Mock::given(path("/elsewhere/token"))
                    .respond_with(ResponseTemplate::new(200).set_body_json(token_body(None)))
                    .expect(0)
                    .mount(&p.server)
                    .await;
                let client = p.client().await;
                match complete_against(&p, &client, answer(&p)).await {
                    Ok(_) => panic!("{}: the login completed", fault.name),
                    Err(err) => fault.check(&err, &p),
                }
                p.server.verify().await;
            }),
    )
    .await;
}

#[tokio::test]
async fn a_slow_token_endpoint_is_a_timeout() {
    let p = Provider::start().await;
    let client = p
        .client_with(
            p.settings()
                .timeouts(Duration::from_secs(1), Duration::from_secs(1)),
        )
        .await;
    let started = std::time::Instant::now();
    let err = complete_against(
        &p,
        &client,
        ResponseTemplate::new(200)
            .set_body_json(token_body(None))
            .set_delay(Duration::from_secs(4)),
    )
    .await
    .unwrap_err();
    let elapsed = started.elapsed();
    match &err {
        Error::Timeout { endpoint, url } => {
            assert_eq!(*endpoint, Endpoint::Token);
            assert_eq!(url, &p.url("/token"));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert!(err.is_transient());
    assert!(err.to_string().contains("request_timeout_secs"), "{err}");
}

#[tokio::test]
async fn expires_in_as_a_string_is_read() {
    let p = Provider::start().await;
    let client = p.client().await;
    let login = Login::start(&client);
    let mut body = token_body(Some(&p.rsa.sign(&p.claims(&login))));
    body["expires_in"] = json!("3600");
    body["x_refresh_token_expires_in"] = json!(8726400);
    p.mount_token(body).await;
    let before = chrono::Utc::now();
    let tokens = client
        .complete(login.pending, &callback(&login.state, "c"))
        .await
        .expect("completes");
    let expires_at = tokens.expires_at.expect("expiry from the string");
    let lifetime = (expires_at - before).num_seconds();
    assert!((3599..=3605).contains(&lifetime), "{lifetime}");
    assert!(!tokens.expires_within(Duration::from_secs(3000)));
    assert!(tokens.expires_within(Duration::from_secs(3700)));
    assert_eq!(
        tokens.extra("x_refresh_token_expires_in"),
        Some(&json!(8726400))
    );
}

#[tokio::test]
async fn an_unreadable_jwks_fails_the_login_naming_the_jwks_endpoint() {
    let p = Provider::bare().await;
    p.mount_discovery(discovery_doc(&p.issuer())).await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(503).set_body_raw("<h1>down</h1>", "text/html"))
        .mount(&p.server)
        .await;
    let client = p.client().await;
    let err = p
        .login_with_id_token(&client, |p, login| p.rsa.sign(&p.claims(login)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnexpectedResponse {
                endpoint: Endpoint::Jwks,
                status: 503,
                ..
            }
        ),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------- discovery

/// What the discovery endpoint answers, the settings, and the error `connect` must give.
fn discovery_faults() -> Vec<(Answer, Configure, Fault)> {
    vec![
        (
            |p| {
                let mut doc = discovery_doc(&p.issuer());
                doc["issuer"] = json!(format!("{}/", p.issuer()));
                ResponseTemplate::new(200).set_body_json(doc)
            },
            Provider::settings,
            Fault {
                name: "another issuer",
                expect: |e, p| matches!(e, Error::IssuerMismatch { expected, found } if expected == &p.issuer() && found == &format!("{}/", p.issuer())),
                says: &["fix `issuer`"],
                ..FAULT
            },
        ),
        (
            |p| {
                let mut doc = discovery_doc(&p.issuer());
                doc["code_challenge_methods_supported"] = json!(["plain"]);
                ResponseTemplate::new(200).set_body_json(doc)
            },
            Provider::settings,
            Fault {
                name: "no S256",
                expect: |e, _| matches!(e, Error::PkceS256Unsupported { supported } if supported == &["plain"]),
                says: &["S256"],
                ..FAULT
            },
        ),
        (
            |_| ResponseTemplate::new(404),
            Provider::settings,
            Fault {
                name: "404 is an unexpected response",
                expect: |e, p| matches!(e, Error::UnexpectedResponse { endpoint: Endpoint::Discovery, status: 404, url, .. } if url == &p.url("/.well-known/openid-configuration")),
                transient: Some(false),
                ..FAULT
            },
        ),
        (
            |_| ResponseTemplate::new(200).set_body_raw("<html>login</html>", "text/html"),
            Provider::settings,
            Fault {
                name: "HTML is an unexpected response",
                expect: |e, _| matches!(e, Error::UnexpectedResponse { endpoint: Endpoint::Discovery, status: 200, content_type, .. } if content_type == "text/html"),
                ..FAULT
            },
        ),
        (
            |_| ResponseTemplate::new(301).insert_header("location", "/other"),
            Provider::settings,
            Fault {
                name: "a redirect is not followed",
                expect: |e, _| matches!(e, Error::UnexpectedRedirect { endpoint: Endpoint::Discovery, status: 301, location: Some(l), .. } if l == "/other"),
                ..FAULT
            },
        ),
        (
            |p| {
                let mut doc = discovery_doc(&p.issuer());
                doc["token_endpoint"] = json!("http://id.example.com/token");
                ResponseTemplate::new(200).set_body_json(doc)
            },
            Provider::settings,
            Fault {
                name: "a plain-HTTP endpoint off loopback",
                expect: |e, _| matches!(e, Error::InsecureEndpoint { endpoint: Endpoint::Token, url } if url == "http://id.example.com/token"),
                ..FAULT
            },
        ),
    ]
}

#[tokio::test]
async fn each_bad_discovery_fails_connect_with_its_error() {
    run_concurrently(
        discovery_faults()
            .into_iter()
            .map(|(answer, settings, fault)| async move {
                let p = Provider::bare().await;
                Mock::given(method("GET"))
                    .and(path("/.well-known/openid-configuration"))
                    .respond_with(answer(&p))
                    .mount(&p.server)
                    .await;
                // Where a redirect would lead: never asked.
                Mock::given(path("/other"))
                    .respond_with(
                        ResponseTemplate::new(200).set_body_json(discovery_doc(&p.issuer())),
                    )
                    .expect(0)
                    .mount(&p.server)
                    .await;
                fault.check(&discover_err(settings(&p)).await, &p);
                p.server.verify().await;
            }),
    )
    .await;
}

/// `scopes_supported` is advice (OpenID Connect Discovery 3; Intuit lists only the OpenID
/// Connect scopes): an unlisted scope is a warning, at connect and per login, never a
/// refusal.
#[tokio::test]
async fn an_unlisted_scope_is_a_warning_not_a_refusal() {
    let p = Provider::start().await;
    let client = p
        .client_with(p.settings().scopes(["openid", "profile", "contacts.read"]))
        .await;
    assert_eq!(client.scope_warnings(), vec!["contacts.read".to_owned()]);
    let (url, _) = client
        .authorize_with(
            lexoffice_login::AuthorizeOptions::new().scopes("openid files.read".parse().unwrap()),
        )
        .expect("an unlisted scope is asked for anyway");
    assert!(url
        .query_pairs()
        .any(|(k, v)| k == "scope" && v == "openid files.read"));
    let listed = p.client().await;
    assert!(listed.scope_warnings().is_empty());
}

#[tokio::test]
async fn a_discovery_document_lacking_optional_fields_works() {
    let p = Provider::bare().await;
    let issuer = p.issuer();
    p.mount_discovery(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
    }))
    .await;
    p.mount_jwks(&[&p.rsa, &p.ec]).await;
    let client = p.client().await;
    let meta = client.metadata();
    assert!(meta.scopes_supported.is_none());
    assert!(!meta.authorization_response_iss_parameter_supported);
    let tokens = p.logged_in(&client).await;
    assert_eq!(tokens.id_token_claims().unwrap().subject(), SUBJECT);

    // Without announced algorithms only RS256 is allowed (OpenID Connect Discovery 3).
    let err = p
        .login_with_id_token(&client, |p, login| p.ec.sign(&p.claims(login)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::IdToken(lexoffice_login::IdTokenProblem::DisallowedAlgorithm { alg, .. }) if alg == "ES256"),
        "{err:?}"
    );
    // Endpoints it does not have are named with the key that would configure them.
    let err = client.revoke(&tokens, TokenKind::Access).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingEndpoint {
                endpoint: Endpoint::Revocation,
                key: "revocation"
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("endpoints.revocation"), "{err}");
    let err = client.userinfo(&tokens).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingEndpoint {
                endpoint: Endpoint::Userinfo,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_named() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let issuer = format!("http://127.0.0.1:{port}");
    let settings = Settings::builder(&issuer, CLIENT_ID, REDIRECT_URI)
        .client_secret(SECRET)
        .scopes(["openid"])
        .timeouts(Duration::from_secs(2), Duration::from_secs(2))
        .build()
        .unwrap();
    let err = Client::connect(settings).await.unwrap_err();
    assert!(
        matches!(&err, Error::Unreachable { endpoint: Endpoint::Discovery, url, .. } if url.starts_with(&issuer)),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(err.to_string().contains("check the network"), "{err}");
}

// ------------------------------------------------------------------------------ refresh

/// The refresh request of `rt-1`, with client authentication, answered once.
fn refresh_mock(answer: ResponseTemplate) -> Mock {
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(header("authorization", BASIC_AUTH))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(answer)
        .expect(1)
}

#[tokio::test]
async fn refresh_keeps_the_old_refresh_token_when_none_is_returned() {
    let p = Provider::start().await;
    let client = p.client().await;
    let tokens = p.logged_in(&client).await;
    refresh_mock(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "at-2", "token_type": "Bearer", "expires_in": 60,
    })))
    .mount(&p.server)
    .await;
    let fresh = client.refresh(&tokens).await.expect("refreshed");
    assert_eq!(fresh.access_token.secret(), "at-2");
    assert_eq!(
        fresh.refresh_token.as_ref().map(|t| t.secret().as_str()),
        Some("rt-1")
    );
    // The ID token and its claims stay.
    assert_eq!(fresh.id_token, tokens.id_token);
    assert_eq!(fresh.id_token_claims, tokens.id_token_claims);
    assert_eq!(fresh.scopes, tokens.scopes);
    assert!(fresh.expires_within(Duration::from_secs(120)));
    let refresh = p
        .requests_to("/token")
        .await
        .into_iter()
        .find(|r| form_value(r, "grant_type").as_deref() == Some("refresh_token"))
        .unwrap();
    assert_eq!(form_value(&refresh, "code_verifier"), None);
    assert_eq!(form_value(&refresh, "client_secret"), None);
    p.server.verify().await;
}

#[tokio::test]
async fn refresh_stores_a_rotated_refresh_token_and_a_new_id_token() {
    let p = Provider::start().await;
    let client = p.client().await;
    let tokens = p.logged_in(&client).await;
    let now = now();
    let id_token = p.rsa.sign(&json!({
        "iss": p.issuer(), "sub": SUBJECT, "aud": CLIENT_ID,
        "exp": now + 300, "iat": now, "at_hash": at_hash("at-2"), "name": "Erika M.",
    }));
    refresh_mock(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "at-2", "token_type": "Bearer", "refresh_token": "rt-2",
        "id_token": id_token,
    })))
    .mount(&p.server)
    .await;
    let fresh = client.refresh(&tokens).await.expect("refreshed");
    assert_eq!(
        fresh.refresh_token.as_ref().map(|t| t.secret().as_str()),
        Some("rt-2")
    );
    assert_eq!(
        fresh.id_token_claims().unwrap().string("name"),
        Some("Erika M.")
    );
    p.server.verify().await;
}

// --------------------------------------------------------------------------- revocation

#[tokio::test]
async fn revocation_sends_the_token_and_its_type_hint() {
    let p = Provider::start().await;
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .and(header("authorization", BASIC_AUTH))
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(&p.server)
        .await;
    let client = p.client().await;
    let tokens = p.logged_in(&client).await;
    client
        .revoke(&tokens, TokenKind::Access)
        .await
        .expect("access token revoked");
    client
        .revoke_refresh_token(&tokens)
        .await
        .expect("refresh token revoked");
    let sent: Vec<Vec<(String, String)>> =
        p.requests_to("/revoke").await.iter().map(form).collect();
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    assert_eq!(
        sent,
        vec![
            vec![
                pair("token", ACCESS_TOKEN),
                pair("token_type_hint", "access_token")
            ],
            vec![
                pair("token", "rt-1"),
                pair("token_type_hint", "refresh_token")
            ],
        ]
    );
    p.server.verify().await;
}

// ----------------------------------------------------------------------------- userinfo

/// Userinfo for the bearer `at-1`, answered once.
fn userinfo_mock(body: Value) -> Mock {
    Mock::given(method("GET"))
        .and(path("/userinfo"))
        .and(header("authorization", "Bearer at-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
}

#[tokio::test]
async fn userinfo_of_the_same_subject_is_returned() {
    let p = Provider::start().await;
    userinfo_mock(json!({"sub": SUBJECT, "email": "erika@example.com"}))
        .mount(&p.server)
        .await;
    let client = p.client().await;
    let tokens = p.logged_in(&client).await;
    let info = client.userinfo(&tokens).await.expect("userinfo");
    assert_eq!(info["email"], json!("erika@example.com"));
    p.server.verify().await;
}

/// A back-channel call after a login.
#[derive(Clone, Copy)]
enum Call {
    Refresh,
    RevokeAccess,
    RevokeRefresh,
    Userinfo,
}

/// After a login (without its refresh token if `drop_refresh_token`), the provider
/// answers `call` with `answer`'s mock (mounted, then verified), and the call fails.
struct AfterLogin {
    call: Call,
    drop_refresh_token: bool,
    answer: fn(&Provider) -> Mock,
    fault: Fault,
}

fn forbid(endpoint: &str) -> Mock {
    Mock::given(path(endpoint.to_owned()))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
}

fn after_login_faults() -> Vec<AfterLogin> {
    vec![
        AfterLogin {
            call: Call::Refresh,
            drop_refresh_token: false,
            answer: |p| {
                let now = now();
                let id_token = p.rsa.sign(&json!({
                    "iss": p.issuer(), "sub": SUBJECT, "aud": CLIENT_ID,
                    "exp": now + 300, "iat": now, "at_hash": at_hash("at-1"),
                }));
                refresh_mock(ResponseTemplate::new(200).set_body_json(json!({
                    "access_token": "at-2", "token_type": "Bearer", "id_token": id_token,
                })))
            },
            fault: Fault {
                name: "a refreshed ID token with a wrong at_hash",
                expect: |e, _| {
                    matches!(
                        e,
                        Error::IdToken(lexoffice_login::IdTokenProblem::AtHashMismatch)
                    )
                },
                ..FAULT
            },
        },
        AfterLogin {
            call: Call::Refresh,
            drop_refresh_token: false,
            answer: |_| {
                refresh_mock(ResponseTemplate::new(400).set_body_json(json!({
                    "error": "invalid_grant", "error_description": "refresh token revoked",
                })))
            },
            fault: Fault {
                name: "refresh invalid_grant means log in again",
                expect: |e, _| {
                    e.is_invalid_grant()
                        && matches!(
                            e,
                            Error::OAuth {
                                endpoint: Endpoint::Token,
                                status: 400,
                                ..
                            }
                        )
                },
                says: &["log in again"],
                never_says: &["rt-1"],
                ..FAULT
            },
        },
        AfterLogin {
            call: Call::Refresh,
            drop_refresh_token: true,
            answer: |_| forbid("/token"),
            fault: Fault {
                name: "refresh without a refresh token: refused without a request",
                expect: |e, _| matches!(e, Error::NoRefreshToken),
                ..FAULT
            },
        },
        AfterLogin {
            call: Call::RevokeAccess,
            drop_refresh_token: false,
            answer: |_| {
                Mock::given(method("POST"))
                    .and(path("/revoke"))
                    .respond_with(
                        ResponseTemplate::new(400)
                            .set_body_json(json!({"error": "unsupported_token_type"})),
                    )
            },
            fault: Fault {
                name: "a revocation error is reported",
                expect: |e, _| matches!(e, Error::OAuth { endpoint: Endpoint::Revocation, status: 400, code, .. } if code == "unsupported_token_type"),
                ..FAULT
            },
        },
        AfterLogin {
            call: Call::RevokeRefresh,
            drop_refresh_token: true,
            answer: |_| forbid("/revoke"),
            fault: Fault {
                name: "revoking a refresh token that is not there",
                expect: |e, _| matches!(e, Error::NoRefreshToken),
                ..FAULT
            },
        },
        AfterLogin {
            call: Call::Userinfo,
            drop_refresh_token: false,
            answer: |_| userinfo_mock(json!({"sub": "someone-else"})),
            fault: Fault {
                name: "userinfo of another subject",
                expect: |e, _| matches!(e, Error::UserinfoSubjectMismatch),
                says: &["do not trust"],
                ..FAULT
            },
        },
        AfterLogin {
            call: Call::Userinfo,
            drop_refresh_token: false,
            answer: |_| userinfo_mock(json!({"email": "x@example.com"})),
            fault: Fault {
                name: "userinfo without a subject",
                expect: |e, _| matches!(e, Error::UserinfoSubjectMismatch),
                says: &["do not trust"],
                ..FAULT
            },
        },
        AfterLogin {
            call: Call::Userinfo,
            drop_refresh_token: false,
            answer: |_| {
                Mock::given(method("GET"))
                    .and(path("/userinfo"))
                    .respond_with(
                        ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_token"})),
                    )
            },
            fault: Fault {
                name: "a rejected bearer token at userinfo is an OAuth error",
                expect: |e, _| matches!(e, Error::OAuth { endpoint: Endpoint::Userinfo, status: 401, code, .. } if code == "invalid_token"),
                ..FAULT
            },
        },
    ]
}

#[tokio::test]
async fn each_failing_back_channel_call_after_a_login_gives_its_error() {
    run_concurrently(after_login_faults().into_iter().map(|case| async move {
        let p = Provider::start().await;
        let client = p.client().await;
        let mut tokens = p.logged_in(&client).await;
        if case.drop_refresh_token {
            tokens.refresh_token = None;
        }
        (case.answer)(&p).mount(&p.server).await;
        let result = match case.call {
            Call::Refresh => client.refresh(&tokens).await.map(drop),
            Call::RevokeAccess => client.revoke(&tokens, TokenKind::Access).await,
            Call::RevokeRefresh => client.revoke_refresh_token(&tokens).await,
            Call::Userinfo => client.userinfo(&tokens).await.map(drop),
        };
        match result {
            Ok(()) => panic!("{}: the call succeeded", case.fault.name),
            Err(err) => case.fault.check(&err, &p),
        }
        p.server.verify().await;
    }))
    .await;
}
