//! The discovery document (OpenID Connect Discovery 3/4.3): each case is one
//! `Client::connect` against a provider whose document differs in one way.

use lexoffice_login::{Client, Endpoint, Error, SettingsBuilder};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::harness::*;
use crate::refused;
use crate::support::wiremock_provider::{discovery_doc, Provider};

const CATEGORY: &str = "discovery";

struct Case {
    name: &'static str,
    /// What the discovery endpoint answers.
    answer: fn(&Provider) -> ResponseTemplate,
    /// Changes the table's settings.
    settings: fn(SettingsBuilder) -> SettingsBuilder,
    expect: Expect<Error>,
}

fn doc(p: &Provider, edit: fn(&mut Value)) -> ResponseTemplate {
    let mut d = discovery_doc(&p.issuer());
    edit(&mut d);
    ResponseTemplate::new(200).set_body_json(d)
}

fn case(
    name: &'static str,
    answer: fn(&Provider) -> ResponseTemplate,
    expect: Expect<Error>,
) -> Case {
    Case {
        name,
        answer,
        settings: |s| s,
        expect,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "control: the standard document",
            |p| doc(p, |_| {}),
            Expect::Accepted,
        ),
        case(
            "control: no code_challenge_methods_supported (PKCE is sent anyway)",
            |p| {
                doc(p, |d| {
                    d.as_object_mut()
                        .unwrap()
                        .remove("code_challenge_methods_supported");
                })
            },
            Expect::Accepted,
        ),
        case(
            "another issuer",
            |p| doc(p, |d| d["issuer"] = json!("https://evil.example.com")),
            refused!(Error::IssuerMismatch { found, .. } if found == "https://evil.example.com"),
        ),
        case(
            "the issuer with a trailing slash",
            |p| {
                let mut d = discovery_doc(&p.issuer());
                d["issuer"] = json!(format!("{}/", p.issuer()));
                ResponseTemplate::new(200).set_body_json(d)
            },
            refused!(Error::IssuerMismatch { .. }),
        ),
        case(
            "the issuer in upper case",
            |p| {
                let mut d = discovery_doc(&p.issuer());
                d["issuer"] = json!(p.issuer().replace("http://", "HTTP://"));
                ResponseTemplate::new(200).set_body_json(d)
            },
            refused!(Error::IssuerMismatch { .. }),
        ),
        case(
            "no issuer",
            |p| {
                doc(p, |d| {
                    d.as_object_mut().unwrap().remove("issuer");
                })
            },
            refused!(Error::MalformedResponse {
                endpoint: Endpoint::Discovery,
                ..
            }),
        ),
        case(
            "the issuer as a number",
            |p| doc(p, |d| d["issuer"] = json!(42)),
            refused!(Error::MalformedResponse {
                endpoint: Endpoint::Discovery,
                ..
            }),
        ),
        case(
            "PKCE plain only",
            |p| {
                doc(p, |d| {
                    d["code_challenge_methods_supported"] = json!(["plain"])
                })
            },
            refused!(Error::PkceS256Unsupported { supported } if supported == &["plain"]),
        ),
        case(
            "an http token endpoint on another host",
            |p| {
                doc(p, |d| {
                    d["token_endpoint"] = json!("http://evil.example.com/token")
                })
            },
            refused!(Error::InsecureEndpoint {
                endpoint: Endpoint::Token,
                ..
            }),
        ),
        case(
            "an http authorization endpoint on another host",
            |p| {
                doc(p, |d| {
                    d["authorization_endpoint"] = json!("http://evil.example.com/authorize")
                })
            },
            refused!(Error::InsecureEndpoint {
                endpoint: Endpoint::Authorization,
                ..
            }),
        ),
        case(
            "an http jwks_uri on another host",
            |p| doc(p, |d| d["jwks_uri"] = json!("http://evil.example.com/jwks")),
            refused!(Error::InsecureEndpoint {
                endpoint: Endpoint::Jwks,
                ..
            }),
        ),
        case(
            "an http userinfo endpoint on another host",
            |p| {
                doc(p, |d| {
                    d["userinfo_endpoint"] = json!("http://evil.example.com/userinfo")
                })
            },
            refused!(Error::InsecureEndpoint {
                endpoint: Endpoint::Userinfo,
                ..
            }),
        ),
        case(
            "an http revocation endpoint on another host",
            |p| {
                doc(p, |d| {
                    d["revocation_endpoint"] = json!("http://evil.example.com/revoke")
                })
            },
            refused!(Error::InsecureEndpoint {
                endpoint: Endpoint::Revocation,
                ..
            }),
        ),
        case(
            "a javascript: token endpoint",
            |p| doc(p, |d| d["token_endpoint"] = json!("javascript:alert(1)")),
            refused!(Error::InsecureEndpoint {
                endpoint: Endpoint::Token,
                ..
            }),
        ),
        case(
            "a token endpoint that is not a URL",
            |p| doc(p, |d| d["token_endpoint"] = json!("not a url")),
            refused!(Error::MalformedResponse {
                endpoint: Endpoint::Discovery,
                ..
            }),
        ),
        case(
            "HTTP 500",
            |_| html(500),
            refused!(Error::UnexpectedResponse {
                endpoint: Endpoint::Discovery,
                status: 500,
                ..
            }),
        ),
        case(
            "HTTP 404",
            |_| html(404),
            refused!(Error::UnexpectedResponse {
                endpoint: Endpoint::Discovery,
                status: 404,
                ..
            }),
        ),
        case(
            "an HTML page with status 200",
            |_| html(200),
            refused!(Error::UnexpectedResponse {
                endpoint: Endpoint::Discovery,
                status: 200,
                ..
            }),
        ),
        case(
            "malformed JSON",
            |_| raw_json(200, r#"{"issuer": "#),
            refused!(Error::MalformedResponse {
                endpoint: Endpoint::Discovery,
                ..
            }),
        ),
        case(
            "a JSON array",
            |_| raw_json(200, "[]"),
            refused!(Error::MalformedResponse {
                endpoint: Endpoint::Discovery,
                ..
            }),
        ),
        case(
            "a body over 1 MiB",
            |_| oversized_json(),
            refused!(Error::MalformedResponse {
                endpoint: Endpoint::Discovery,
                ..
            }),
        ),
        case(
            "a redirect",
            |p| redirect_to(p, "/elsewhere/.well-known/openid-configuration"),
            refused!(Error::UnexpectedRedirect {
                endpoint: Endpoint::Discovery,
                status: 302,
                ..
            }),
        ),
        Case {
            settings: |s| s.scopes(["openid", "profile", "contacts.read"]),
            ..case(
                "control: a requested scope the provider does not list is advice only",
                |p| doc(p, |_| {}),
                Expect::Accepted,
            )
        },
    ]
}

async fn run_case(case: Case) -> Outcome {
    let p = Provider::bare().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with((case.answer)(&p))
        .mount(&p.server)
        .await;
    let settings = (case.settings)(settings(&p)).build().expect("settings");
    let result = Client::connect(settings).await;
    let outcome = judge(CATEGORY, case.name, &case.expect, &result);
    let followed = !p
        .requests_to("/elsewhere/.well-known/openid-configuration")
        .await
        .is_empty();
    let outcome = outcome.also(!followed, || "the redirect was followed".into());
    match &result {
        Ok(client) if case.name.contains("advice") => {
            let warnings = scope_warnings(client);
            outcome.also(warnings == ["contacts.read"], || {
                format!("scope_warnings() is {warnings:?}, not [\"contacts.read\"]")
            })
        }
        _ => outcome,
    }
}

fn scope_warnings(client: &Client) -> Vec<String> {
    client.scope_warnings()
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
