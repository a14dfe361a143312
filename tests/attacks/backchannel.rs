//! Revocation (RFC 7009) and userinfo (OpenID Connect Core 5.3) after a login.

use lexoffice_login::{Endpoint, Error, TokenKind};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::harness::*;
use crate::refused;
use crate::support::wiremock_provider::{Provider, SUBJECT};

const REVOCATION: &str = "revocation";
const USERINFO: &str = "userinfo";

/// What an endpoint answers after a completed login, and how the call ends.
struct Case {
    name: &'static str,
    /// Changes the discovery document.
    doc: fn(&mut Value),
    kind: TokenKind,
    no_refresh_token: bool,
    answer: fn(&Provider) -> ResponseTemplate,
    expect: Expect<Error>,
}

fn case(
    name: &'static str,
    answer: fn(&Provider) -> ResponseTemplate,
    expect: Expect<Error>,
) -> Case {
    Case {
        name,
        doc: |_| {},
        kind: TokenKind::Refresh,
        no_refresh_token: false,
        answer,
        expect,
    }
}

fn no_control(d: &Option<String>) -> bool {
    d.as_deref()
        .is_some_and(|d| !d.chars().any(char::is_control))
}

fn revocation_cases() -> Vec<Case> {
    vec![
        case(
            "control: 200",
            |_| ResponseTemplate::new(200),
            Expect::Accepted,
        ),
        Case {
            kind: TokenKind::Access,
            ..case(
                "control: revoking the access token",
                |_| ResponseTemplate::new(200),
                Expect::Accepted,
            )
        },
        case(
            "unsupported_token_type",
            |_| json_answer(400, json!({"error": "unsupported_token_type"})),
            refused!(Error::OAuth { endpoint: Endpoint::Revocation, code, .. } if code == "unsupported_token_type"),
        ),
        case(
            "an error description echoing the refresh token",
            |_| {
                json_answer(
                    400,
                    json!({"error": "invalid_request", "error_description": format!("token {RT} unknown")}),
                )
            },
            refused!(Error::OAuth { endpoint: Endpoint::Revocation, description: Some(d), .. } if d.contains("[redacted]") && !d.contains(RT)),
        ),
        case(
            "an error description with control characters",
            |_| {
                json_answer(
                    400,
                    json!({"error": "invalid_request", "error_description": "a\r\n\u{1b}[31mb"}),
                )
            },
            refused!(Error::OAuth { endpoint: Endpoint::Revocation, description, .. } if no_control(description)),
        ),
        case(
            "an HTML 503",
            |_| html(503),
            refused!(Error::UnexpectedResponse {
                endpoint: Endpoint::Revocation,
                status: 503,
                ..
            }),
        ),
        case(
            "a redirect",
            |p| redirect_to(p, "/elsewhere/revoke"),
            refused!(Error::UnexpectedRedirect {
                endpoint: Endpoint::Revocation,
                ..
            }),
        ),
        Case {
            doc: |d| {
                d.as_object_mut().unwrap().remove("revocation_endpoint");
            },
            ..case(
                "no revocation endpoint",
                |_| ResponseTemplate::new(200),
                refused!(Error::MissingEndpoint {
                    endpoint: Endpoint::Revocation,
                    key: "revocation"
                }),
            )
        },
        Case {
            no_refresh_token: true,
            ..case(
                "a login without refresh token",
                |_| ResponseTemplate::new(200),
                refused!(Error::NoRefreshToken),
            )
        },
    ]
}

fn userinfo_cases() -> Vec<Case> {
    vec![
        case(
            "control: the same subject",
            |_| json_answer(200, json!({"sub": SUBJECT, "name": "Erika"})),
            Expect::Accepted,
        ),
        case(
            "another subject",
            |_| json_answer(200, json!({"sub": "someone-else"})),
            refused!(Error::UserinfoSubjectMismatch),
        ),
        case(
            "no subject",
            |_| json_answer(200, json!({"name": "Erika"})),
            refused!(Error::UserinfoSubjectMismatch),
        ),
        case(
            "the subject as a number",
            |_| json_answer(200, json!({"sub": 1})),
            refused!(Error::UserinfoSubjectMismatch),
        ),
        case(
            "a body over 1 MiB",
            |_| oversized_json(),
            refused!(Error::MalformedResponse {
                endpoint: Endpoint::Userinfo,
                ..
            }),
        ),
        case(
            "malformed JSON",
            |_| raw_json(200, r#"{"sub": "#),
            refused!(Error::MalformedResponse {
                endpoint: Endpoint::Userinfo,
                ..
            }),
        ),
        case(
            "a JSON array",
            |_| raw_json(200, "[]"),
            refused!(Error::MalformedResponse {
                endpoint: Endpoint::Userinfo,
                ..
            }),
        ),
        case(
            "an HTML page",
            |_| html(200),
            refused!(Error::UnexpectedResponse {
                endpoint: Endpoint::Userinfo,
                status: 200,
                ..
            }),
        ),
        case(
            "HTTP 500",
            |_| html(500),
            refused!(Error::UnexpectedResponse {
                endpoint: Endpoint::Userinfo,
                status: 500,
                ..
            }),
        ),
        case(
            "a signed JWT instead of JSON",
            |_| {
                ResponseTemplate::new(200)
                    .set_body_raw("eyJhbGciOiJub25lIn0.e30.", "application/jwt")
            },
            refused!(Error::UnexpectedResponse { endpoint: Endpoint::Userinfo, content_type, .. } if content_type == "application/jwt"),
        ),
        case(
            "a redirect",
            |p| redirect_to(p, "/elsewhere/userinfo"),
            refused!(Error::UnexpectedRedirect {
                endpoint: Endpoint::Userinfo,
                ..
            }),
        ),
        Case {
            doc: |d| {
                d.as_object_mut().unwrap().remove("userinfo_endpoint");
            },
            ..case(
                "no userinfo endpoint",
                |_| ResponseTemplate::new(200),
                refused!(Error::MissingEndpoint {
                    endpoint: Endpoint::Userinfo,
                    ..
                }),
            )
        },
    ]
}

async fn run_case(category: &'static str, case: Case) -> Outcome {
    let p = Provider::start_with(case.doc).await;
    let at = if category == REVOCATION {
        "/revoke"
    } else {
        "/userinfo"
    };
    Mock::given(path(at))
        .respond_with((case.answer)(&p))
        .mount(&p.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/elsewhere{at}")))
        .respond_with(ResponseTemplate::new(200))
        .mount(&p.server)
        .await;
    let client = p.client_with(settings(&p)).await;
    let (mut tokens, _) = logged_in(&p, &client, |_| {}).await;
    if case.no_refresh_token {
        tokens.refresh_token = None;
    }
    let followed = |n: usize| n == 0;
    if category == REVOCATION {
        let result = client.revoke(&tokens, case.kind).await;
        let n = p.requests_to(&format!("/elsewhere{at}")).await.len();
        judge(category, case.name, &case.expect, &result).also(followed(n), || "followed".into())
    } else {
        let result = client.userinfo(&tokens).await;
        let n = p.requests_to(&format!("/elsewhere{at}")).await.len();
        judge(category, case.name, &case.expect, &result).also(followed(n), || "followed".into())
    }
}

pub async fn run_revocation() -> Vec<Outcome> {
    run_all(
        REVOCATION,
        revocation_cases()
            .into_iter()
            .map(|c| (c.name.to_owned(), run_case(REVOCATION, c)))
            .collect(),
    )
    .await
}

pub async fn run_userinfo() -> Vec<Outcome> {
    run_all(
        USERINFO,
        userinfo_cases()
            .into_iter()
            .map(|c| (c.name.to_owned(), run_case(USERINFO, c)))
            .collect(),
    )
    .await
}
