//! The token endpoint's answers (RFC 6749 5.1, 5.2, 7.1) to the code exchange and to a
//! refresh, and refreshed ID tokens (OpenID Connect Core 12.2).

use lexoffice_login::{Endpoint, Error, IdTokenProblem, TokenAnswerProblem};
use serde_json::{json, Value};
use wiremock::ResponseTemplate;

use crate::harness::*;
use crate::refused;
use crate::support::wiremock_provider::{at_hash, raw_jws, Key, Provider, CLIENT_ID, RSA_PEM_2};

const CATEGORY: &str = "token answer";
const REFRESH: &str = "refresh";

/// What the token endpoint answers to the code exchange (given a valid ID token).
struct Case {
    name: &'static str,
    answer: fn(&str) -> ResponseTemplate,
    expect: Expect<Error>,
}

fn body(id_token: &str, edit: fn(&mut Value)) -> ResponseTemplate {
    let mut b = token_answer(Some(id_token));
    edit(&mut b);
    ResponseTemplate::new(200).set_body_json(b)
}

fn oauth_error(description: &str) -> ResponseTemplate {
    json_answer(
        400,
        json!({"error": "invalid_grant", "error_description": description}),
    )
}

fn clean(d: &Option<String>) -> bool {
    d.as_deref()
        .is_some_and(|d| !d.chars().any(char::is_control))
}

fn capped(d: &Option<String>) -> bool {
    d.as_deref().is_some_and(|d| d.chars().count() <= 301)
}

fn redacted(d: &Option<String>, secret: &str) -> bool {
    d.as_deref()
        .is_some_and(|d| d.contains("[redacted]") && !d.contains(secret))
}

fn cases() -> Vec<Case> {
    use TokenAnswerProblem::*;
    vec![
        Case {
            name: "control: the standard answer",
            answer: |t| body(t, |_| {}),
            expect: Expect::Accepted,
        },
        Case {
            name: "control: token_type bearer in lower case",
            answer: |t| body(t, |b| b["token_type"] = json!("bearer")),
            expect: Expect::Accepted,
        },
        Case {
            name: "control: token_type BEARER in upper case",
            answer: |t| body(t, |b| b["token_type"] = json!("BEARER")),
            expect: Expect::Accepted,
        },
        Case {
            name: "control: expires_in as a string",
            answer: |t| body(t, |b| b["expires_in"] = json!("3600")),
            expect: Expect::Accepted,
        },
        Case {
            name: "control: no refresh_token",
            answer: |t| {
                body(t, |b| {
                    b.as_object_mut().unwrap().remove("refresh_token");
                })
            },
            expect: Expect::Accepted,
        },
        Case {
            name: "an empty access_token",
            answer: |t| body(t, |b| b["access_token"] = json!("")),
            expect: refused!(Error::TokenAnswer(EmptyAccessToken)),
        },
        Case {
            name: "no token_type",
            answer: |t| {
                body(t, |b| {
                    b.as_object_mut().unwrap().remove("token_type");
                })
            },
            expect: refused!(Error::TokenAnswer(MissingTokenType)),
        },
        Case {
            name: "token_type null",
            answer: |t| body(t, |b| b["token_type"] = Value::Null),
            expect: refused!(Error::TokenAnswer(MissingTokenType)),
        },
        Case {
            name: "token_type mac",
            answer: |t| body(t, |b| b["token_type"] = json!("mac")),
            expect: refused!(Error::TokenAnswer(UnsupportedTokenType(t)) if t == "mac"),
        },
        Case {
            name: "token_type DPoP",
            answer: |t| body(t, |b| b["token_type"] = json!("DPoP")),
            expect: refused!(Error::TokenAnswer(UnsupportedTokenType(t)) if t == "DPoP"),
        },
        Case {
            name: "token_type Bearer with a trailing space",
            answer: |t| body(t, |b| b["token_type"] = json!("Bearer ")),
            expect: refused!(Error::TokenAnswer(UnsupportedTokenType(_))),
        },
        Case {
            name: "token_type with terminal escapes",
            answer: |t| body(t, |b| b["token_type"] = json!("x\u{1b}[2J\r\nBearer")),
            expect: refused!(Error::TokenAnswer(UnsupportedTokenType(t)) if !t.chars().any(char::is_control)),
        },
        Case {
            name: "expires_in negative",
            answer: |t| body(t, |b| b["expires_in"] = json!(-1)),
            expect: refused!(Error::TokenAnswer(InvalidExpiresIn)),
        },
        Case {
            name: "expires_in a word",
            answer: |t| body(t, |b| b["expires_in"] = json!("soon")),
            expect: refused!(Error::TokenAnswer(InvalidExpiresIn)),
        },
        Case {
            name: "expires_in a boolean",
            answer: |t| body(t, |b| b["expires_in"] = json!(true)),
            expect: refused!(Error::TokenAnswer(InvalidExpiresIn)),
        },
        Case {
            name: "expires_in a fraction",
            answer: |t| body(t, |b| b["expires_in"] = json!(1.5)),
            expect: refused!(Error::TokenAnswer(InvalidExpiresIn)),
        },
        Case {
            name: "an empty refresh_token",
            answer: |t| body(t, |b| b["refresh_token"] = json!("")),
            expect: refused!(Error::TokenAnswer(EmptyRefreshToken)),
        },
        Case {
            name: "an empty id_token",
            answer: |t| body(t, |b| b["id_token"] = json!("")),
            expect: refused!(Error::TokenAnswer(EmptyIdToken)),
        },
        Case {
            name: "no id_token although openid was requested",
            answer: |t| {
                body(t, |b| {
                    b.as_object_mut().unwrap().remove("id_token");
                })
            },
            expect: refused!(Error::IdTokenMissing),
        },
        Case {
            name: "no access_token",
            answer: |t| {
                body(t, |b| {
                    b.as_object_mut().unwrap().remove("access_token");
                })
            },
            expect: refused!(Error::MalformedResponse { endpoint: Endpoint::Token, detail, .. } if detail.contains("access_token")),
        },
        Case {
            name: "access_token a number",
            answer: |t| body(t, |b| b["access_token"] = json!(42)),
            expect: refused!(Error::MalformedResponse {
                endpoint: Endpoint::Token,
                ..
            }),
        },
        Case {
            name: "a JSON array",
            answer: |_| raw_json(200, "[]"),
            expect: refused!(Error::MalformedResponse {
                endpoint: Endpoint::Token,
                ..
            }),
        },
        Case {
            name: "malformed JSON",
            answer: |_| raw_json(200, &format!(r#"{{"access_token": "{AT}", "#)),
            expect: refused!(Error::MalformedResponse {
                endpoint: Endpoint::Token,
                ..
            }),
        },
        Case {
            name: "a body over 1 MiB",
            answer: |_| oversized_json(),
            expect: refused!(Error::MalformedResponse {
                endpoint: Endpoint::Token,
                ..
            }),
        },
        Case {
            name: "an HTML error page",
            answer: |_| html(500),
            expect: refused!(Error::UnexpectedResponse {
                endpoint: Endpoint::Token,
                status: 500,
                ..
            }),
        },
        Case {
            name: "a redirect",
            answer: |_| {
                ResponseTemplate::new(307)
                    .insert_header("location", "https://evil.example.com/token")
            },
            expect: refused!(Error::UnexpectedRedirect {
                endpoint: Endpoint::Token,
                status: 307,
                ..
            }),
        },
        Case {
            name: "invalid_grant",
            answer: |_| oauth_error("code expired"),
            expect: refused!(Error::OAuth { endpoint: Endpoint::Token, status: 400, code, .. } if code == "invalid_grant"),
        },
        Case {
            name: "invalid_client with 401",
            answer: |_| json_answer(401, json!({"error": "invalid_client"})),
            expect: refused!(Error::OAuth { status: 401, code, .. } if code == "invalid_client"),
        },
        Case {
            name: "an error description with CR, LF and ESC",
            answer: |_| oauth_error("bad\r\nSet-Cookie: x=1\u{1b}]0;title\u{7}"),
            expect: refused!(Error::OAuth { description, .. } if clean(description)),
        },
        Case {
            name: "an error description of 5000 characters",
            answer: |_| oauth_error(&"e".repeat(5000)),
            expect: refused!(Error::OAuth { description, .. } if capped(description)),
        },
        Case {
            name: "an error description echoing the code",
            answer: |_| oauth_error(&format!("code {CODE} was already used")),
            expect: refused!(Error::OAuth { description, .. } if redacted(description, CODE)),
        },
        Case {
            name: "an error description echoing the client secret",
            answer: |_| oauth_error(&format!("client secret {CS} is wrong")),
            expect: refused!(Error::OAuth { description, .. } if redacted(description, CS)),
        },
        Case {
            name: "an error code with control characters",
            answer: |_| json_answer(400, json!({"error": "invalid_grant\r\n\u{1b}[2J"})),
            expect: refused!(Error::OAuth { code, .. } if !code.chars().any(char::is_control)),
        },
    ]
}

async fn run_case(case: Case) -> Outcome {
    let p = Provider::start().await;
    let client = p.client_with(settings(&p)).await;
    let result = complete_with(&p, &client, |p, login| {
        let t = signed(p, &good_claims(p, login));
        (case.answer)(&t)
    })
    .await;
    judge(CATEGORY, case.name, &case.expect, &result)
}

/// A token answer whose description echoes the PKCE verifier: the verifier is only known
/// once the login started, so this case is run on its own.
async fn verifier_echo() -> Outcome {
    let name = "an error description echoing the PKCE verifier";
    let p = Provider::start().await;
    let client = p.client_with(settings(&p)).await;
    let login = start_login(&client);
    let v = verifier(&login);
    token_once(
        &p,
        oauth_error(&format!("code_verifier {v} does not match")),
    )
    .await;
    let result = client
        .complete(
            login.pending,
            &crate::support::wiremock_provider::callback(&login.state, CODE),
        )
        .await;
    let expect: Expect<Error> = Expect::refused_if(
        "Error::OAuth with the verifier [redacted]",
        move |e| matches!(e, Error::OAuth { description, .. } if redacted(description, &v)),
    );
    judge(CATEGORY, name, &expect, &result)
}

/// One case's run, boxed so that differently made cases share a table.
type CaseRun = std::pin::Pin<Box<dyn std::future::Future<Output = Outcome> + Send>>;

pub async fn run() -> Vec<Outcome> {
    let mut cases: Vec<(String, CaseRun)> = cases()
        .into_iter()
        .map(|c| (c.name.to_owned(), Box::pin(run_case(c)) as _))
        .collect();
    cases.push(("verifier echo".into(), Box::pin(verifier_echo())));
    run_all(CATEGORY, cases).await
}

// ------------------------------------------------------------------------- refresh

/// What the token endpoint answers to a refresh of a completed login.
struct RefreshCase {
    name: &'static str,
    /// The login has no refresh token.
    no_refresh_token: bool,
    /// The answer, given the provider and the claims of the original ID token.
    answer: fn(&Provider, &Value) -> ResponseTemplate,
    expect: Expect<Error>,
}

fn refreshed(p: &Provider, original: &Value, edit: fn(&mut Value)) -> ResponseTemplate {
    refreshed_signed(p, original, edit, |p, c| p.rsa.sign(c))
}

fn refreshed_signed(
    p: &Provider,
    original: &Value,
    edit: fn(&mut Value),
    sign: fn(&Provider, &Value) -> String,
) -> ResponseTemplate {
    let mut c = original.clone();
    c["iat"] = json!(original["iat"].as_i64().unwrap() + 1);
    c["exp"] = json!(original["exp"].as_i64().unwrap() + 60);
    c["at_hash"] = json!(at_hash(AT2));
    edit(&mut c);
    let t = sign(p, &c);
    remember("refreshed ID token", t.clone());
    json_answer(200, refresh_body(Some(&t), |_| {}))
}

fn refresh_body(id_token: Option<&str>, edit: fn(&mut Value)) -> Value {
    let mut b = json!({
        "access_token": AT2,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": RT2,
    });
    if let Some(t) = id_token {
        b["id_token"] = json!(t);
    }
    edit(&mut b);
    b
}

fn refresh_case(
    name: &'static str,
    answer: fn(&Provider, &Value) -> ResponseTemplate,
    expect: Expect<Error>,
) -> RefreshCase {
    RefreshCase {
        name,
        no_refresh_token: false,
        answer,
        expect,
    }
}

fn refresh_cases() -> Vec<RefreshCase> {
    use IdTokenProblem::*;
    use TokenAnswerProblem::*;
    vec![
        refresh_case(
            "control: no ID token in the answer",
            |_, _| json_answer(200, refresh_body(None, |_| {})),
            Expect::Accepted,
        ),
        refresh_case(
            "control: a refreshed ID token keeping the claims",
            |p, o| refreshed(p, o, |_| {}),
            Expect::Accepted,
        ),
        refresh_case(
            "control: a refreshed ID token without nonce",
            |p, o| {
                refreshed(p, o, |c| {
                    c.as_object_mut().unwrap().remove("nonce");
                })
            },
            Expect::Accepted,
        ),
        refresh_case(
            "control: a refreshed ID token without auth_time",
            |p, o| {
                refreshed(p, o, |c| {
                    c.as_object_mut().unwrap().remove("auth_time");
                })
            },
            Expect::Accepted,
        ),
        refresh_case(
            "another sub",
            |p, o| refreshed(p, o, |c| c["sub"] = json!("someone-else")),
            refused!(Error::IdToken(SubjectChanged)),
        ),
        refresh_case(
            "another iss",
            |p, o| refreshed(p, o, |c| c["iss"] = json!("https://evil.example.com")),
            refused!(Error::IdToken(
                WrongIssuer | RefreshedClaimChanged { claim: "iss" }
            )),
        ),
        refresh_case(
            "another aud (with azp)",
            |p, o| {
                refreshed(p, o, |c| {
                    c["aud"] = json!([CLIENT_ID, "api.example.com"]);
                    c["azp"] = json!(CLIENT_ID);
                })
            },
            refused!(Error::IdToken(RefreshedClaimChanged { claim: "aud" })),
        ),
        refresh_case(
            "an azp added",
            |p, o| refreshed(p, o, |c| c["azp"] = json!(CLIENT_ID)),
            refused!(Error::IdToken(RefreshedClaimChanged { claim: "azp" })),
        ),
        refresh_case(
            "another auth_time",
            |p, o| {
                refreshed(p, o, |c| {
                    c["auth_time"] = json!(c["auth_time"].as_i64().unwrap() + 5)
                })
            },
            refused!(Error::IdToken(RefreshedClaimChanged { claim: "auth_time" })),
        ),
        refresh_case(
            "another nonce",
            |p, o| refreshed(p, o, |c| c["nonce"] = json!("another-nonce-value")),
            refused!(Error::IdToken(RefreshedClaimChanged { claim: "nonce" })),
        ),
        refresh_case(
            "an iat older than the original",
            |p, o| refreshed(p, o, |c| c["iat"] = json!(c["iat"].as_i64().unwrap() - 100)),
            refused!(Error::IdToken(RefreshedClaimChanged { claim: "iat" })),
        ),
        refresh_case(
            "an expired refreshed ID token",
            |p, o| {
                refreshed(p, o, |c| {
                    c["exp"] = json!(c["iat"].as_i64().unwrap() - 3600)
                })
            },
            refused!(Error::IdToken(Expired)),
        ),
        refresh_case(
            "a refreshed ID token signed by another key",
            |p, o| refreshed_signed(p, o, |_| {}, |_, c| Key::rsa("rsa-1", RSA_PEM_2).sign(c)),
            refused!(Error::IdToken(BadSignature)),
        ),
        refresh_case(
            "an unsigned refreshed ID token",
            |p, o| {
                refreshed_signed(
                    p,
                    o,
                    |_| {},
                    |_, c| raw_jws(&json!({"alg": "none"}), c, b""),
                )
            },
            refused!(Error::IdToken(Unsigned)),
        ),
        refresh_case(
            "a refreshed ID token for the old access token",
            |p, o| refreshed(p, o, |c| c["at_hash"] = json!(at_hash(AT))),
            refused!(Error::IdToken(AtHashMismatch)),
        ),
        refresh_case(
            "an empty access_token",
            |_, _| json_answer(200, refresh_body(None, |b| b["access_token"] = json!(""))),
            refused!(Error::TokenAnswer(EmptyAccessToken)),
        ),
        refresh_case(
            "no token_type",
            |_, _| {
                json_answer(
                    200,
                    refresh_body(None, |b| {
                        b.as_object_mut().unwrap().remove("token_type");
                    }),
                )
            },
            refused!(Error::TokenAnswer(MissingTokenType)),
        ),
        refresh_case(
            "token_type mac",
            |_, _| json_answer(200, refresh_body(None, |b| b["token_type"] = json!("mac"))),
            refused!(Error::TokenAnswer(UnsupportedTokenType(t)) if t == "mac"),
        ),
        refresh_case(
            "an empty rotated refresh_token",
            |_, _| json_answer(200, refresh_body(None, |b| b["refresh_token"] = json!(""))),
            refused!(Error::TokenAnswer(EmptyRefreshToken)),
        ),
        refresh_case(
            "an empty id_token",
            |_, _| json_answer(200, refresh_body(None, |b| b["id_token"] = json!(""))),
            refused!(Error::TokenAnswer(EmptyIdToken)),
        ),
        refresh_case(
            "expires_in negative",
            |_, _| json_answer(200, refresh_body(None, |b| b["expires_in"] = json!(-60))),
            refused!(Error::TokenAnswer(InvalidExpiresIn)),
        ),
        refresh_case(
            "invalid_grant",
            |_, _| oauth_error("refresh token revoked"),
            refused!(Error::OAuth { code, .. } if code == "invalid_grant"),
        ),
        refresh_case(
            "invalid_grant echoing the refresh token",
            |_, _| oauth_error(&format!("refresh token {RT} was revoked")),
            refused!(Error::OAuth { description, .. } if redacted(description, RT)),
        ),
        refresh_case(
            "an HTML error page",
            |_, _| html(502),
            refused!(Error::UnexpectedResponse {
                endpoint: Endpoint::Token,
                status: 502,
                ..
            }),
        ),
        refresh_case(
            "a body over 1 MiB",
            |_, _| oversized_json(),
            refused!(Error::MalformedResponse {
                endpoint: Endpoint::Token,
                ..
            }),
        ),
        RefreshCase {
            no_refresh_token: true,
            ..refresh_case(
                "a login without refresh token",
                |_, _| json_answer(200, refresh_body(None, |_| {})),
                refused!(Error::NoRefreshToken),
            )
        },
    ]
}

async fn run_refresh_case(case: RefreshCase) -> Outcome {
    let p = Provider::start().await;
    let client = p.client_with(settings(&p)).await;
    let (mut tokens, original) = logged_in(&p, &client, |c| {
        c["auth_time"] = json!(c["iat"].as_i64().unwrap() - 10);
    })
    .await;
    if case.no_refresh_token {
        tokens.refresh_token = None;
    }
    token_once(&p, (case.answer)(&p, &original)).await;
    let result = client.refresh(&tokens).await;
    let asked = p.requests_to("/token").await.len();
    judge(REFRESH, case.name, &case.expect, &result)
        .also(!case.no_refresh_token || asked == 1, || {
            "the token endpoint was asked without a refresh token".into()
        })
}

pub async fn run_refresh() -> Vec<Outcome> {
    run_all(
        REFRESH,
        refresh_cases()
            .into_iter()
            .map(|c| (c.name.to_owned(), run_refresh_case(c)))
            .collect(),
    )
    .await
}
