//! The redirect back from the provider (RFC 6749 4.1.2, 10.12, RFC 9207): each case is
//! one login completed with a redirect that differs from the real one in one way.

use lexoffice_login::Error;
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::harness::*;
use crate::refused;
use crate::support::wiremock_provider::{redirect, Login, Provider};

const CATEGORY: &str = "callback";

struct Case {
    name: &'static str,
    /// The provider promises `iss` on redirects (RFC 9207).
    promises_iss: bool,
    /// The redirect, given the login and the issuer.
    redirect: fn(&Login, &str) -> String,
    expect: Expect<Error>,
}

fn case(name: &'static str, redirect: fn(&Login, &str) -> String, expect: Expect<Error>) -> Case {
    Case {
        name,
        promises_iss: false,
        redirect,
        expect,
    }
}

fn ok(l: &Login, _: &str) -> String {
    redirect(&[("code", CODE), ("state", &l.state)])
}

fn no_control(d: &Option<String>) -> bool {
    d.as_deref()
        .is_some_and(|d| !d.chars().any(char::is_control))
}

fn capped(d: &Option<String>) -> bool {
    d.as_deref().is_some_and(|d| d.chars().count() <= 301)
}

fn cases() -> Vec<Case> {
    vec![
        case("control: the real redirect", ok, Expect::Accepted),
        case(
            "control: only the query string",
            |l, _| format!("code={CODE}&state={}", l.state),
            Expect::Accepted,
        ),
        Case {
            promises_iss: true,
            ..case(
                "control: the right iss when promised",
                |l, iss| redirect(&[("code", CODE), ("state", &l.state), ("iss", iss)]),
                Expect::Accepted,
            )
        },
        case(
            "another state",
            |_, _| redirect(&[("code", CODE), ("state", "not-the-state")]),
            refused!(Error::StateMismatch),
        ),
        case(
            "no state",
            |_, _| redirect(&[("code", CODE)]),
            refused!(Error::StateMissing),
        ),
        case(
            "an empty state",
            |_, _| redirect(&[("code", CODE), ("state", "")]),
            refused!(Error::StateMissing | Error::StateMismatch),
        ),
        case(
            "the state with one more character",
            |l, _| redirect(&[("code", CODE), ("state", &format!("{}x", l.state))]),
            refused!(Error::StateMismatch),
        ),
        case(
            "the state cut short by one character",
            |l, _| redirect(&[("code", CODE), ("state", &l.state[..l.state.len() - 1])]),
            refused!(Error::StateMismatch),
        ),
        case(
            "the state in upper case",
            |l, _| redirect(&[("code", CODE), ("state", &l.state.to_uppercase())]),
            refused!(Error::StateMismatch),
        ),
        case(
            "the state twice",
            |l, _| redirect(&[("code", CODE), ("state", &l.state), ("state", &l.state)]),
            refused!(Error::RepeatedParameter(p) if p == "state"),
        ),
        case(
            "the state twice, the second forged",
            |l, _| redirect(&[("code", CODE), ("state", &l.state), ("state", "forged")]),
            refused!(Error::RepeatedParameter(p) if p == "state"),
        ),
        case(
            "the code twice",
            |l, _| redirect(&[("code", CODE), ("code", "other-code"), ("state", &l.state)]),
            refused!(Error::RepeatedParameter(p) if p == "code"),
        ),
        case(
            "iss twice",
            |l, iss| {
                redirect(&[
                    ("code", CODE),
                    ("state", &l.state),
                    ("iss", iss),
                    ("iss", iss),
                ])
            },
            refused!(Error::RepeatedParameter(p) if p == "iss"),
        ),
        case(
            "no code",
            |l, _| redirect(&[("state", &l.state)]),
            refused!(Error::CodeMissing),
        ),
        case(
            "an empty code",
            |l, _| redirect(&[("code", ""), ("state", &l.state)]),
            refused!(Error::CodeMissing),
        ),
        case(
            "error access_denied",
            |l, _| redirect(&[("error", "access_denied"), ("state", &l.state)]),
            refused!(Error::AuthorizationDenied { code, .. } if code == "access_denied"),
        ),
        case(
            "an error with a code as well",
            |l, _| {
                redirect(&[
                    ("error", "access_denied"),
                    ("code", CODE),
                    ("state", &l.state),
                ])
            },
            refused!(Error::AuthorizationDenied { code, .. } if code == "access_denied"),
        ),
        case(
            "an error description with CR, LF and ESC",
            |l, _| {
                redirect(&[
                    ("error", "access_denied"),
                    ("error_description", "denied\r\nX-Injected: 1\u{1b}[31m red"),
                    ("state", &l.state),
                ])
            },
            refused!(Error::AuthorizationDenied { description, .. } if no_control(description)),
        ),
        case(
            "an error description of 2000 characters",
            |l, _| {
                redirect(&[
                    ("error", "access_denied"),
                    ("error_description", &"d".repeat(2000)),
                    ("state", &l.state),
                ])
            },
            refused!(Error::AuthorizationDenied { description, .. } if capped(description)),
        ),
        case(
            "an error description echoing the state",
            |l, _| {
                redirect(&[
                    ("error", "access_denied"),
                    (
                        "error_description",
                        &format!("bad request for state {}", l.state),
                    ),
                    ("state", &l.state),
                ])
            },
            refused!(Error::AuthorizationDenied { .. }),
        ),
        case(
            "an error code with control characters",
            |l, _| redirect(&[("error", "access_denied\r\n\u{1b}[2J"), ("state", &l.state)]),
            refused!(Error::AuthorizationDenied { code, .. } if !code.chars().any(char::is_control)),
        ),
        case(
            "an error with another state",
            |_, _| redirect(&[("error", "access_denied"), ("state", "forged")]),
            refused!(Error::StateMismatch),
        ),
        case(
            "another iss",
            |l, _| {
                redirect(&[
                    ("code", CODE),
                    ("state", &l.state),
                    ("iss", "https://evil.example.com"),
                ])
            },
            refused!(Error::IssuerParameterMismatch { found, .. } if found == "https://evil.example.com"),
        ),
        case(
            "another iss with an error",
            |l, _| {
                redirect(&[
                    ("error", "access_denied"),
                    ("state", &l.state),
                    ("iss", "https://evil.example.com"),
                ])
            },
            refused!(Error::IssuerParameterMismatch { .. }),
        ),
        Case {
            promises_iss: true,
            ..case(
                "no iss when promised",
                ok,
                refused!(Error::IssuerParameterMissing),
            )
        },
        case(
            "a broken URL",
            |_, _| "http://[::1/callback?code=x".to_owned(),
            refused!(Error::MalformedCallback(_)),
        ),
        case(
            "a redirect of more than 8 KiB",
            |l, _| {
                let pad = "p".repeat(3000);
                redirect(&[
                    ("code", CODE),
                    ("state", &l.state),
                    ("a", &pad),
                    ("b", &pad),
                    ("c", &pad),
                ])
            },
            refused!(Error::MalformedCallback(_)),
        ),
        case(
            "a code of more than 4 KiB",
            |l, _| redirect(&[("code", &"c".repeat(5000)), ("state", &l.state)]),
            refused!(Error::MalformedCallback(_)),
        ),
        case(
            "a state of more than 4 KiB",
            |_, _| redirect(&[("code", CODE), ("state", &"s".repeat(5000))]),
            refused!(Error::MalformedCallback(_)),
        ),
        case(
            "an extra parameter of more than 4 KiB",
            |l, _| {
                redirect(&[
                    ("code", CODE),
                    ("state", &l.state),
                    ("x", &"x".repeat(5000)),
                ])
            },
            refused!(Error::MalformedCallback(_)),
        ),
    ]
}

async fn run_case(case: Case) -> Outcome {
    let promises = case.promises_iss;
    let p = Provider::start_with(|d| {
        if promises {
            d["authorization_response_iss_parameter_supported"] = json!(true);
        }
    })
    .await;
    let client = p.client_with(settings(&p)).await;
    let login = start_login(&client);
    let t = signed(&p, &good_claims(&p, &login));
    token_once(
        &p,
        ResponseTemplate::new(200).set_body_json(token_answer(Some(&t))),
    )
    .await;
    let url = (case.redirect)(&login, &p.issuer());
    let result = client.complete(login.pending, &url).await;
    let asked = p.requests_to("/token").await.len();
    let outcome = judge(CATEGORY, case.name, &case.expect, &result);
    let refused = matches!(case.expect, Expect::Refused(..));
    outcome.also(!refused || asked == 0, || {
        format!("refused, but the code was exchanged ({asked} token requests)")
    })
}

pub async fn run() -> Vec<Outcome> {
    run_all(
        CATEGORY,
        cases()
            .into_iter()
            .map(|c| (c.name.to_owned(), run_case(c)))
            .collect(),
    )
    .await
}
