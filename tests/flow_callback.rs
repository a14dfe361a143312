//! The browser's side of the login over real loopback HTTP: the authorization URL, every
//! check of the redirect (state, iss, error, code, repeated parameters), what the client
//! sends to the token endpoint (PKCE verifier, grant, client authentication), and the
//! [`PendingLogin`](lexoffice_login::PendingLogin) kept between the two.

mod support;

use support::wiremock_provider as common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use lexoffice_login::{ClientAuthMethod, Error, PendingLogin, Settings, SettingsBuilder};
use serde_json::json;
use sha2::Digest as _;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, ResponseTemplate};

#[tokio::test]
async fn the_authorization_url_carries_pkce_state_nonce_and_the_settings() {
    let p = Provider::start().await;
    let client = p.client().await;
    let login = Login::start(&client);
    let q = |name: &str| {
        login
            .url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(login.url.path(), "/authorize");
    assert_eq!(q("response_type").as_deref(), Some("code"));
    assert_eq!(q("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(q("redirect_uri").as_deref(), Some(REDIRECT_URI));
    assert_eq!(q("scope").as_deref(), Some("openid profile"));
    assert_eq!(q("code_challenge_method").as_deref(), Some("S256"));
    // 256 bits of state, and a nonce because `openid` was requested.
    assert!(login.state.len() >= 43, "{}", login.state);
    assert!(login.nonce.as_deref().is_some_and(|n| n.len() >= 22));
    // Two logins never share state, nonce or challenge.
    let other = Login::start(&client);
    assert_ne!(other.state, login.state);
    assert_ne!(other.nonce, login.nonce);
    assert_ne!(other.code_challenge, login.code_challenge);
}

#[tokio::test]
async fn a_full_login_sends_the_pkce_verifier_the_grant_and_basic_auth() {
    let p = Provider::start().await;
    let client = p.client().await;
    let login = Login::start(&client);
    let id_token = p.rsa.sign(&p.claims(&login));
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(header("authorization", BASIC_AUTH))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=the-code"))
        .and(body_string_contains("code_verifier="))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(Some(&id_token))))
        .expect(1)
        .mount(&p.server)
        .await;
    let challenge = login.code_challenge.clone();
    let tokens = client
        .complete(login.pending, &callback(&login.state, "the-code"))
        .await
        .expect("login completes");

    assert_eq!(tokens.access_token.secret(), ACCESS_TOKEN);
    assert_eq!(
        tokens.refresh_token.as_ref().map(|t| t.secret().as_str()),
        Some("rt-1")
    );
    let claims = tokens.id_token_claims().expect("verified claims");
    assert_eq!(claims.subject(), SUBJECT);
    assert_eq!(claims.string("name"), Some("Erika Mustermann"));
    assert_eq!(tokens.scopes.to_string(), "openid profile");
    assert!(!tokens.is_expired());

    let requests = p.requests_to("/token").await;
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        form_value(request, "redirect_uri").as_deref(),
        Some(REDIRECT_URI)
    );
    // RFC 7636 4.6: the verifier hashes to the challenge of the authorization URL.
    let verifier = form_value(request, "code_verifier").expect("verifier sent");
    assert!((43..=128).contains(&verifier.len()), "{verifier}");
    assert_eq!(
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes())),
        challenge
    );
    // client_secret_basic: the secret is in the header, never in the body.
    assert_eq!(form_value(request, "client_secret"), None);
    assert!(!String::from_utf8_lossy(&request.body).contains(SECRET));
    p.server.verify().await;
}

/// How a client authenticates at the token endpoint.
struct ClientAuth {
    name: &'static str,
    settings: fn(&Provider) -> SettingsBuilder,
    /// `client_id` and `client_secret` in the form body.
    form_id: Option<&'static str>,
    form_secret: Option<&'static str>,
    /// The form-encoded id and secret of the `Authorization: Basic` header.
    basic: Option<(&'static str, &'static str)>,
}

#[tokio::test]
async fn each_client_authentication_sends_the_credentials_where_they_belong() {
    let cases = [
        ClientAuth {
            name: "client_secret_post: id and secret in the body",
            settings: |p| {
                p.settings()
                    .client_auth(ClientAuthMethod::ClientSecretPost)
                    .scopes(["profile"])
            },
            form_id: Some(CLIENT_ID),
            form_secret: Some(SECRET),
            basic: None,
        },
        ClientAuth {
            name: "a public client: only its client_id",
            settings: |p| {
                Settings::builder(p.issuer(), CLIENT_ID, REDIRECT_URI)
                    .client_auth(ClientAuthMethod::None)
                    .scopes(["profile"])
            },
            form_id: Some(CLIENT_ID),
            form_secret: None,
            basic: None,
        },
        // RFC 6749 2.3.1: "a:b+c" becomes "a%3Ab%2Bc" before Basic encoding.
        ClientAuth {
            name: "client_secret_basic form-encodes the id and secret first",
            settings: |p| {
                Settings::builder(p.issuer(), "id:1", REDIRECT_URI)
                    .client_secret("a:b+c")
                    .scopes(["profile"])
            },
            form_id: None,
            form_secret: None,
            basic: Some(("id%3A1", "a%3Ab%2Bc")),
        },
    ];
    run_concurrently(cases.into_iter().map(|case| async move {
        let name = case.name;
        let p = Provider::start().await;
        let client = p.client_with((case.settings)(&p)).await;
        p.mount_token(token_body(None)).await;
        let login = Login::start(&client);
        client
            .complete(login.pending, &callback(&login.state, "c"))
            .await
            .unwrap_or_else(|err| panic!("{name}: {err:?}"));
        let request = &p.requests_to("/token").await[0];
        let id = form_value(request, "client_id");
        assert_eq!(id.as_deref(), case.form_id, "{name}");
        let secret = form_value(request, "client_secret");
        assert_eq!(secret.as_deref(), case.form_secret, "{name}");
        let expected = case.basic.map(|(id, secret)| {
            let pair = format!("{id}:{secret}");
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        let authorization = header_value(request, "authorization");
        assert_eq!(authorization, expected, "{name}");
        assert!(form_value(request, "code_verifier").is_some(), "{name}");
    }))
    .await;
}

/// A redirect that must be refused before the code is exchanged.
struct Refused {
    name: &'static str,
    /// The redirect, given the login's `state` and the provider's issuer.
    redirect: fn(&str, &str) -> String,
    /// The error, given the provider's issuer.
    expect: fn(&Error, &str) -> bool,
    /// Texts the error message must contain.
    says: &'static [&'static str],
}

const AGAIN: &[&str] = &["start the login again"];

fn refused_redirects() -> Vec<Refused> {
    vec![
        Refused {
            name: "a wrong state",
            redirect: |_, _| redirect(&[("code", "stolen"), ("state", "not-the-state")]),
            expect: |e, _| matches!(e, Error::StateMismatch),
            says: AGAIN,
        },
        Refused {
            name: "a missing state",
            redirect: |_, _| redirect(&[("code", "c")]),
            expect: |e, _| matches!(e, Error::StateMissing),
            says: &[],
        },
        Refused {
            name: "a missing code",
            redirect: |state, _| redirect(&[("state", state)]),
            expect: |e, _| matches!(e, Error::CodeMissing),
            says: AGAIN,
        },
        Refused {
            name: "an empty code",
            redirect: |state, _| redirect(&[("code", ""), ("state", state)]),
            expect: |e, _| matches!(e, Error::CodeMissing),
            says: AGAIN,
        },
        Refused {
            name: "a provider error: AuthorizationDenied with its description",
            redirect: |state, _| {
                redirect(&[
                    ("error", "access_denied"),
                    ("error_description", "The user declined the consent"),
                    ("state", state),
                ])
            },
            expect: |e, _| {
                matches!(e, Error::AuthorizationDenied { code, description }
                    if code == "access_denied"
                        && description.as_deref() == Some("The user declined the consent"))
            },
            says: &["The user declined the consent", "start the login again"],
        },
        // An attacker's error redirect must not end (or be reported as) the user's login.
        Refused {
            name: "a provider error with a wrong state",
            redirect: |_, _| redirect(&[("error", "access_denied"), ("state", "forged")]),
            expect: |e, _| matches!(e, Error::StateMismatch),
            says: &[],
        },
        Refused {
            name: "an iss of another issuer",
            redirect: |state, _| {
                redirect(&[
                    ("code", "c"),
                    ("state", state),
                    ("iss", "https://evil.example.com"),
                ])
            },
            expect: |e, issuer| {
                matches!(e, Error::IssuerParameterMismatch { expected, found }
                    if expected == issuer && found == "https://evil.example.com")
            },
            says: &["RFC 9207"],
        },
        Refused {
            name: "a repeated code",
            redirect: |state, _| redirect(&[("code", "c"), ("state", state), ("code", "x")]),
            expect: |e, _| matches!(e, Error::RepeatedParameter(n) if n == "code"),
            says: &[],
        },
        Refused {
            name: "a repeated state",
            redirect: |state, _| redirect(&[("code", "c"), ("state", state), ("state", state)]),
            expect: |e, _| matches!(e, Error::RepeatedParameter(n) if n == "state"),
            says: &[],
        },
        Refused {
            name: "a repeated iss",
            redirect: |state, _| {
                redirect(&[("code", "c"), ("state", state), ("iss", "x"), ("iss", "y")])
            },
            expect: |e, _| matches!(e, Error::RepeatedParameter(n) if n == "iss"),
            says: &[],
        },
        Refused {
            name: "a redirect to another URI",
            redirect: |state, _| format!("http://127.0.0.1:9999/callback?code=c&state={state}"),
            expect: |e, _| matches!(e, Error::MalformedCallback(_)),
            says: &[],
        },
        Refused {
            name: "an empty redirect",
            redirect: |_, _| REDIRECT_URI.to_owned(),
            expect: |e, _| matches!(e, Error::MalformedCallback(_)),
            says: &[],
        },
    ]
}

#[tokio::test]
async fn each_bad_redirect_is_refused_before_the_code_is_exchanged() {
    let p = Provider::start().await;
    p.forbid_token_requests().await;
    let client = p.client().await;
    for case in refused_redirects() {
        let name = case.name;
        let login = Login::start(&client);
        let cb = (case.redirect)(&login.state, &p.issuer());
        let err = match client.complete(login.pending, &cb).await {
            Ok(_) => panic!("{name}: the login completed"),
            Err(err) => err,
        };
        assert!((case.expect)(&err, &p.issuer()), "{name}: {err:?}");
        let msg = err.to_string();
        for text in case.says {
            assert!(msg.contains(text), "{name}: {text:?} in {msg}");
        }
    }
    p.server.verify().await;
}

#[tokio::test]
async fn a_forged_redirect_does_not_use_up_the_pending_login() {
    let p = Provider::start().await;
    let client = p.client().await;
    let login = Login::start(&client);
    let meta = client.metadata();
    let forged = redirect(&[("code", "stolen"), ("state", "x")]);
    assert!(matches!(
        login.pending.verify_callback(&forged, &meta),
        Err(Error::StateMismatch)
    ));
    // The real redirect still completes the same login.
    let id_token = p.rsa.sign(&p.claims(&login));
    p.mount_token(token_body(Some(&id_token))).await;
    let response = login
        .pending
        .verify_callback(&callback(&login.state, "real"), &meta)
        .expect("real redirect");
    client
        .exchange(login.pending, response)
        .await
        .expect("login completes");
    assert_eq!(
        form_value(&p.requests_to("/token").await[0], "code").as_deref(),
        Some("real")
    );
}

#[tokio::test]
async fn an_authorization_response_of_another_login_is_refused() {
    let p = Provider::start().await;
    p.forbid_token_requests().await;
    let client = p.client().await;
    let a = Login::start(&client);
    let b = Login::start(&client);
    let response_for_a = a
        .pending
        .verify_callback(&callback(&a.state, "c"), &client.metadata())
        .expect("a's redirect");
    let err = client
        .exchange(b.pending, response_for_a)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StateMismatch), "{err:?}");
    p.server.verify().await;
}

#[tokio::test]
async fn iss_is_required_when_the_metadata_promises_it() {
    let p = Provider::start_with(|doc| {
        doc["authorization_response_iss_parameter_supported"] = json!(true);
    })
    .await;
    let client = p.client().await;
    let login = Login::start(&client);
    let err = client
        .complete(login.pending, &callback(&login.state, "c"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IssuerParameterMissing), "{err:?}");

    // With the right `iss`, the same provider's login completes.
    let login = Login::start(&client);
    let id_token = p.rsa.sign(&p.claims(&login));
    p.mount_token(token_body(Some(&id_token))).await;
    let cb = redirect(&[("code", "c"), ("state", &login.state), ("iss", &p.issuer())]);
    let tokens = client
        .complete(login.pending, &cb)
        .await
        .expect("completes");
    assert!(!tokens.extras.contains_key("iss"));
}

#[tokio::test]
async fn iss_is_optional_when_not_promised() {
    let p = Provider::start().await;
    let client = p.client().await;
    let login = Login::start(&client);
    let id_token = p.rsa.sign(&p.claims(&login));
    p.mount_token(token_body(Some(&id_token))).await;
    client
        .complete(login.pending, &callback(&login.state, "c"))
        .await
        .expect("completes without iss");
}

#[tokio::test]
async fn a_bare_query_string_is_accepted_and_extras_are_kept() {
    let p = Provider::start().await;
    // QuickBooks' preset names realmId as a redirect parameter worth keeping.
    let client = p
        .client_with(p.settings().provider(lexoffice_login::Provider::QuickBooks))
        .await;
    let login = Login::start(&client);
    let id_token = p.rsa.sign(&p.claims(&login));
    p.mount_token(token_body(Some(&id_token))).await;
    let query = format!("?code=c&state={}&realmId=4620816365", login.state);
    let tokens = client
        .complete(login.pending, &query)
        .await
        .expect("completes");
    assert_eq!(tokens.extra("realmId"), Some(&json!("4620816365")));
}

#[tokio::test]
async fn a_pending_login_survives_serde_and_still_completes() {
    let p = Provider::start().await;
    let client = p.client().await;
    let login = Login::start(&client);
    let id_token = p.rsa.sign(&p.claims(&login));
    let stored = serde_json::to_string(&login.pending).expect("serializes");
    drop(login.pending);
    let restored: PendingLogin = serde_json::from_str(&stored).expect("deserializes");
    assert_eq!(restored.issuer(), p.issuer());
    assert_eq!(restored.redirect_uri().as_str(), REDIRECT_URI);
    assert_eq!(restored.scopes().to_string(), "openid profile");

    p.mount_token(token_body(Some(&id_token))).await;
    let tokens = client
        .complete(restored, &callback(&login.state, "c"))
        .await
        .expect("the restored login completes");
    assert_eq!(tokens.id_token_claims().map(|c| c.subject()), Some(SUBJECT));
    // The restored verifier is the one whose challenge went out.
    let verifier = form_value(&p.requests_to("/token").await[0], "code_verifier").unwrap();
    assert_eq!(
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes())),
        login.code_challenge
    );
}

#[tokio::test]
async fn pending_login_debug_shows_no_secret() {
    let p = Provider::start().await;
    let client = p.client().await;
    let login = Login::start(&client);
    let json: serde_json::Value = serde_json::to_value(&login.pending).unwrap();
    let debug = format!("{:?}", login.pending);
    let nonce = login.nonce.clone().expect("nonce");
    // The verifier is only in the serialized form; find it there.
    let verifier = json
        .as_object()
        .unwrap()
        .values()
        .filter_map(|v| v.as_str())
        .find(|v| {
            URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes())) == login.code_challenge
        })
        .expect("the verifier is serialized")
        .to_owned();
    for secret in [&login.state, &nonce, &verifier] {
        assert!(!debug.contains(secret.as_str()), "{debug}");
    }
    assert!(debug.contains("PendingLogin"), "{debug}");
}

#[tokio::test]
async fn a_login_without_openid_needs_no_id_token() {
    let p = Provider::start().await;
    let client = p
        .client_with(p.settings().scopes(["profile", "offline_access"]))
        .await;
    let login = Login::start(&client);
    assert!(login.nonce.is_none(), "no nonce without openid");
    p.mount_token(json!({"access_token": ACCESS_TOKEN, "token_type": "bearer"}))
        .await;
    let tokens = client
        .complete(login.pending, &callback(&login.state, "c"))
        .await
        .expect("completes");
    assert!(tokens.id_token.is_none());
    assert!(tokens.id_token_claims().is_none());
    assert_eq!(tokens.scopes.to_string(), "profile offline_access");
    // No JWKS is needed without an ID token.
    assert!(p.requests_to("/jwks").await.is_empty());
}

#[tokio::test]
async fn static_endpoints_without_discovery_complete_a_lexoffice_style_login() {
    let p = Provider::bare().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(404))
        .expect(0)
        .mount(&p.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(header("authorization", BASIC_AUTH))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code_verifier="))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": ACCESS_TOKEN,
            "token_type": "bearer",
            "expires_in": 3600,
            "refresh_token": "rt-1",
        })))
        .expect(1)
        .mount(&p.server)
        .await;
    let settings = Settings::builder(p.issuer(), CLIENT_ID, REDIRECT_URI)
        .client_secret(SECRET)
        .scopes(["profile.read"])
        .without_discovery()
        .endpoints(
            p.url("/oauth2/authorize"),
            p.url("/token"),
            Some(&p.url("/revoke")),
            None,
            None,
        );
    let client = p.client_with(settings).await;
    let login = Login::start(&client);
    assert_eq!(login.url.path(), "/oauth2/authorize");
    assert!(login.nonce.is_none());
    assert!(login
        .url
        .query_pairs()
        .any(|(k, v)| k == "scope" && v == "profile.read"));
    let tokens = client
        .complete(login.pending, &callback(&login.state, "c"))
        .await
        .expect("completes");
    assert!(tokens.id_token.is_none());
    assert_eq!(tokens.scopes.to_string(), "profile.read");
    // RFC 6749 7.1: the type is compared case-insensitively and kept as "Bearer".
    assert_eq!(tokens.token_type, "Bearer");
    p.server.verify().await;
}
