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

/// A completed login (RS256 ID token, access token `at-1`, refresh token `rt-1`).
async fn logged_in(p: &Provider, client: &Client) -> TokenSet {
    p.login_with_id_token(client, |p, login| p.rsa.sign(&p.claims(login)))
        .await
        .expect("login")
}

async fn discover_err(settings: lexoffice_login::SettingsBuilder) -> Error {
    Client::connect(settings.build().expect("settings"))
        .await
        .expect_err("discovery must fail")
}

// ---------------------------------------------------------------- token endpoint faults

#[tokio::test]
async fn malformed_json_at_the_token_endpoint_is_a_malformed_response() {
    let p = Provider::start().await;
    let client = p.client().await;
    let err = complete_against(
        &p,
        &client,
        ResponseTemplate::new(200).set_body_raw(r#"{"access_token": "at-1", "#, "application/json"),
    )
    .await
    .unwrap_err();
    match &err {
        Error::MalformedResponse { endpoint, url, .. } => {
            assert_eq!(*endpoint, Endpoint::Token);
            assert_eq!(url, &p.url("/token"));
        }
        other => panic!("expected MalformedResponse, got {other:?}"),
    }
    assert!(err.is_transient());
    assert!(err.to_string().contains("try again later"), "{err}");
}

#[tokio::test]
async fn a_token_answer_without_access_token_is_malformed_and_names_the_field() {
    let p = Provider::start().await;
    let client = p.client().await;
    let err = complete_against(
        &p,
        &client,
        ResponseTemplate::new(200).set_body_json(json!({"token_type": "Bearer"})),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::MalformedResponse { endpoint: Endpoint::Token, detail, .. } if detail.contains("access_token")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_html_error_page_is_an_unexpected_response_with_its_status() {
    let p = Provider::start().await;
    let client = p.client().await;
    let page = "<html><body><h1>500 Internal Server Error</h1>code=the-code</body></html>";
    let err = complete_against(
        &p,
        &client,
        ResponseTemplate::new(500).set_body_raw(page, "text/html; charset=utf-8"),
    )
    .await
    .unwrap_err();
    match &err {
        Error::UnexpectedResponse {
            endpoint,
            status,
            content_type,
            ..
        } => {
            assert_eq!(*endpoint, Endpoint::Token);
            assert_eq!(*status, 500);
            assert!(content_type.starts_with("text/html"), "{content_type}");
        }
        other => panic!("expected UnexpectedResponse, got {other:?}"),
    }
    assert!(err.is_transient());
    let msg = err.to_string();
    assert!(msg.contains("HTTP 500"), "{msg}");
    assert!(msg.contains("try again later"), "{msg}");
    // The page (which may echo what was sent) is never quoted.
    assert!(
        !msg.contains("<html>") && !msg.contains("the-code"),
        "{msg}"
    );
}

#[tokio::test]
async fn an_html_page_with_status_200_is_an_unexpected_response() {
    let p = Provider::start().await;
    let client = p.client().await;
    let err = complete_against(
        &p,
        &client,
        ResponseTemplate::new(200).set_body_raw("<html>maintenance</html>", "text/html"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::UnexpectedResponse { endpoint: Endpoint::Token, status: 200, content_type, .. } if content_type == "text/html"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_500_oauth_server_error_is_an_oauth_error_and_transient() {
    let p = Provider::start().await;
    let client = p.client().await;
    let err = complete_against(
        &p,
        &client,
        ResponseTemplate::new(500).set_body_json(json!({"error": "server_error"})),
    )
    .await
    .unwrap_err();
    match &err {
        Error::OAuth {
            endpoint,
            status,
            code,
            description,
        } => {
            assert_eq!(*endpoint, Endpoint::Token);
            assert_eq!(*status, 500);
            assert_eq!(code, "server_error");
            assert_eq!(*description, None);
        }
        other => panic!("expected OAuth, got {other:?}"),
    }
    assert!(err.is_transient());
    assert!(!err.is_invalid_grant());
    assert!(err.to_string().contains("try again later"), "{err}");
}

#[tokio::test]
async fn an_invalid_grant_at_the_code_exchange_says_to_log_in_again() {
    let p = Provider::start().await;
    let client = p.client().await;
    let err = complete_against(
        &p,
        &client,
        ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "authorization code already used",
        })),
    )
    .await
    .unwrap_err();
    assert!(err.is_invalid_grant(), "{err:?}");
    assert!(!err.is_transient());
    let msg = err.to_string();
    assert!(msg.contains("authorization code already used"), "{msg}");
    assert!(msg.contains("log in again"), "{msg}");
}

#[tokio::test]
async fn an_invalid_client_says_to_check_the_credentials() {
    let p = Provider::start().await;
    let client = p.client().await;
    let err = complete_against(
        &p,
        &client,
        ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client"})),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::OAuth { status: 401, code, .. } if code == "invalid_client"),
        "{err:?}"
    );
    assert!(err.to_string().contains("client secret"), "{err}");
    assert!(!err.to_string().contains(SECRET), "{err}");
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
async fn a_redirect_from_the_token_endpoint_is_never_followed() {
    let p = Provider::start().await;
    Mock::given(path("/elsewhere/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(None)))
        .expect(0)
        .mount(&p.server)
        .await;
    let client = p.client().await;
    let target = p.url("/elsewhere/token");
    let err = complete_against(
        &p,
        &client,
        ResponseTemplate::new(302).insert_header("location", target.as_str()),
    )
    .await
    .unwrap_err();
    match &err {
        Error::UnexpectedRedirect {
            endpoint,
            status,
            location,
            ..
        } => {
            assert_eq!(*endpoint, Endpoint::Token);
            assert_eq!(*status, 302);
            assert_eq!(location.as_deref(), Some(target.as_str()));
        }
        other => panic!("expected UnexpectedRedirect, got {other:?}"),
    }
    assert!(err.to_string().contains("configure the final URL"), "{err}");
    assert!(p.requests_to("/elsewhere/token").await.is_empty());
    p.server.verify().await;
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

#[tokio::test]
async fn discovery_with_another_issuer_is_refused() {
    let p = Provider::bare().await;
    let mut doc = discovery_doc(&p.issuer());
    doc["issuer"] = json!(format!("{}/", p.issuer()));
    p.mount_discovery(doc).await;
    let err = discover_err(p.settings()).await;
    match &err {
        Error::IssuerMismatch { expected, found } => {
            assert_eq!(expected, &p.issuer());
            assert_eq!(found, &format!("{}/", p.issuer()));
        }
        other => panic!("expected IssuerMismatch, got {other:?}"),
    }
    assert!(err.to_string().contains("fix `issuer`"), "{err}");
}

#[tokio::test]
async fn discovery_without_s256_is_refused() {
    let p = Provider::start_with(|doc| doc["code_challenge_methods_supported"] = json!(["plain"]))
        .await;
    let err = discover_err(p.settings()).await;
    assert!(
        matches!(&err, Error::PkceS256Unsupported { supported } if supported == &["plain"]),
        "{err:?}"
    );
    assert!(err.to_string().contains("S256"), "{err}");
}

#[tokio::test]
async fn an_unsupported_scope_is_named_with_the_supported_list() {
    let p = Provider::start().await;
    let err = discover_err(p.settings().scopes(["openid", "profile", "contacts.read"])).await;
    match &err {
        Error::UnsupportedScopes { unknown, supported } => {
            assert_eq!(unknown, &["contacts.read"]);
            assert_eq!(supported, &["openid", "profile", "email", "offline_access"]);
        }
        other => panic!("expected UnsupportedScopes, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("contacts.read"), "{msg}");
    assert!(msg.contains("openid profile email offline_access"), "{msg}");
    assert!(msg.contains("remove them from `scopes`"), "{msg}");
}

#[tokio::test]
async fn an_unsupported_scope_per_login_is_refused_too() {
    let p = Provider::start().await;
    let client = p.client().await;
    let err = client
        .authorize_with(
            lexoffice_login::AuthorizeOptions::new().scopes("openid files.read".parse().unwrap()),
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnsupportedScopes { unknown, .. } if unknown == &["files.read"]),
        "{err:?}"
    );
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
    let tokens = logged_in(&p, &client).await;
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
async fn discovery_answering_404_is_an_unexpected_response() {
    let p = Provider::bare().await;
    let err = discover_err(p.settings()).await;
    match &err {
        Error::UnexpectedResponse {
            endpoint,
            url,
            status,
            ..
        } => {
            assert_eq!(*endpoint, Endpoint::Discovery);
            assert_eq!(*status, 404);
            assert_eq!(url, &p.url("/.well-known/openid-configuration"));
        }
        other => panic!("expected UnexpectedResponse, got {other:?}"),
    }
    assert!(!err.is_transient());
}

#[tokio::test]
async fn discovery_answering_html_is_an_unexpected_response() {
    let p = Provider::bare().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("<html>login</html>", "text/html"))
        .mount(&p.server)
        .await;
    let err = discover_err(p.settings()).await;
    assert!(
        matches!(&err, Error::UnexpectedResponse { endpoint: Endpoint::Discovery, status: 200, content_type, .. } if content_type == "text/html"),
        "{err:?}"
    );
}

#[tokio::test]
async fn discovery_redirecting_is_not_followed() {
    let p = Provider::bare().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(301).insert_header("location", "/other"))
        .mount(&p.server)
        .await;
    Mock::given(path("/other"))
        .respond_with(ResponseTemplate::new(200).set_body_json(discovery_doc(&p.issuer())))
        .expect(0)
        .mount(&p.server)
        .await;
    let err = discover_err(p.settings()).await;
    assert!(
        matches!(&err, Error::UnexpectedRedirect { endpoint: Endpoint::Discovery, status: 301, location: Some(l), .. } if l == "/other"),
        "{err:?}"
    );
    p.server.verify().await;
}

#[tokio::test]
async fn discovery_with_a_plain_http_endpoint_off_loopback_is_refused() {
    let p =
        Provider::start_with(|doc| doc["token_endpoint"] = json!("http://id.example.com/token"))
            .await;
    let err = discover_err(p.settings()).await;
    assert!(
        matches!(&err, Error::InsecureEndpoint { endpoint: Endpoint::Token, url } if url == "http://id.example.com/token"),
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

async fn mount_refresh(p: &Provider, answer: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(header("authorization", BASIC_AUTH))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(answer)
        .expect(1)
        .mount(&p.server)
        .await;
}

#[tokio::test]
async fn refresh_keeps_the_old_refresh_token_when_none_is_returned() {
    let p = Provider::start().await;
    let client = p.client().await;
    let tokens = logged_in(&p, &client).await;
    mount_refresh(
        &p,
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "at-2", "token_type": "Bearer", "expires_in": 60,
        })),
    )
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
    let tokens = logged_in(&p, &client).await;
    let now = now();
    let id_token = p.rsa.sign(&json!({
        "iss": p.issuer(), "sub": SUBJECT, "aud": CLIENT_ID,
        "exp": now + 300, "iat": now, "at_hash": at_hash("at-2"), "name": "Erika M.",
    }));
    mount_refresh(
        &p,
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "at-2", "token_type": "Bearer", "refresh_token": "rt-2",
            "id_token": id_token,
        })),
    )
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

#[tokio::test]
async fn a_refreshed_id_token_with_a_wrong_at_hash_is_refused() {
    let p = Provider::start().await;
    let client = p.client().await;
    let tokens = logged_in(&p, &client).await;
    let now = now();
    let id_token = p.rsa.sign(&json!({
        "iss": p.issuer(), "sub": SUBJECT, "aud": CLIENT_ID,
        "exp": now + 300, "iat": now, "at_hash": at_hash("at-1"),
    }));
    mount_refresh(
        &p,
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "at-2", "id_token": id_token,
        })),
    )
    .await;
    let err = client.refresh(&tokens).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::IdToken(lexoffice_login::IdTokenProblem::AtHashMismatch)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn refresh_invalid_grant_means_log_in_again() {
    let p = Provider::start().await;
    let client = p.client().await;
    let tokens = logged_in(&p, &client).await;
    mount_refresh(
        &p,
        ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant", "error_description": "refresh token revoked",
        })),
    )
    .await;
    let err = client.refresh(&tokens).await.unwrap_err();
    assert!(err.is_invalid_grant(), "{err:?}");
    assert!(
        matches!(
            &err,
            Error::OAuth {
                endpoint: Endpoint::Token,
                status: 400,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("log in again"), "{err}");
    assert!(!err.to_string().contains("rt-1"), "{err}");
}

#[tokio::test]
async fn refresh_without_a_refresh_token_is_refused_without_a_request() {
    let p = Provider::start().await;
    let client = p.client().await;
    let mut tokens = logged_in(&p, &client).await;
    tokens.refresh_token = None;
    let before = p.requests_to("/token").await.len();
    let err = client.refresh(&tokens).await.unwrap_err();
    assert!(matches!(err, Error::NoRefreshToken), "{err:?}");
    assert_eq!(p.requests_to("/token").await.len(), before);
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
    let tokens = logged_in(&p, &client).await;
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

#[tokio::test]
async fn revocation_errors_are_reported() {
    let p = Provider::start().await;
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"error": "unsupported_token_type"})),
        )
        .mount(&p.server)
        .await;
    let client = p.client().await;
    let tokens = logged_in(&p, &client).await;
    let err = client.revoke(&tokens, TokenKind::Access).await.unwrap_err();
    assert!(
        matches!(&err, Error::OAuth { endpoint: Endpoint::Revocation, status: 400, code, .. } if code == "unsupported_token_type"),
        "{err:?}"
    );

    let mut no_refresh = tokens.clone();
    no_refresh.refresh_token = None;
    let err = client.revoke_refresh_token(&no_refresh).await.unwrap_err();
    assert!(matches!(err, Error::NoRefreshToken), "{err:?}");
}

// ----------------------------------------------------------------------------- userinfo

async fn mount_userinfo(p: &Provider, body: Value) {
    Mock::given(method("GET"))
        .and(path("/userinfo"))
        .and(header("authorization", "Bearer at-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(&p.server)
        .await;
}

#[tokio::test]
async fn userinfo_of_the_same_subject_is_returned() {
    let p = Provider::start().await;
    mount_userinfo(&p, json!({"sub": SUBJECT, "email": "erika@example.com"})).await;
    let client = p.client().await;
    let tokens = logged_in(&p, &client).await;
    let info = client.userinfo(&tokens).await.expect("userinfo");
    assert_eq!(info["email"], json!("erika@example.com"));
    p.server.verify().await;
}

#[tokio::test]
async fn userinfo_of_another_subject_is_refused() {
    for body in [
        json!({"sub": "someone-else"}),
        json!({"email": "x@example.com"}),
    ] {
        let p = Provider::start().await;
        mount_userinfo(&p, body.clone()).await;
        let client = p.client().await;
        let tokens = logged_in(&p, &client).await;
        let err = client.userinfo(&tokens).await.unwrap_err();
        assert!(
            matches!(err, Error::UserinfoSubjectMismatch),
            "{body}: {err:?}"
        );
        assert!(err.to_string().contains("do not trust"), "{err}");
    }
}

#[tokio::test]
async fn userinfo_rejected_bearer_token_is_an_oauth_error() {
    let p = Provider::start().await;
    Mock::given(method("GET"))
        .and(path("/userinfo"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_token"})))
        .mount(&p.server)
        .await;
    let client = p.client().await;
    let tokens = logged_in(&p, &client).await;
    let err = client.userinfo(&tokens).await.unwrap_err();
    assert!(
        matches!(&err, Error::OAuth { endpoint: Endpoint::Userinfo, status: 401, code, .. } if code == "invalid_token"),
        "{err:?}"
    );
}
