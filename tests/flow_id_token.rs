//! ID-token verification in a real login (OpenID Connect Core 3.1.3.7): signatures
//! against the provider's JWKS (RS256 and ES256, rotation, unknown keys and the refetch
//! cooldown), `alg` attacks, and every claim rule, each rejection with its
//! [`IdTokenProblem`].

mod support;

use support::wiremock_provider as common;

use std::time::Duration;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lexoffice_login::{Error, IdTokenProblem};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

/// Completes a login whose token answer carries the ID token `make` builds from the
/// standard valid claims after `edit`; signed with the provider's RSA key.
async fn login_with_claims(
    p: &Provider,
    edit: impl FnOnce(&mut Value),
) -> Result<lexoffice_login::TokenSet, Error> {
    let client = p.client().await;
    p.login_with_id_token(&client, |p, login| {
        let mut claims = p.claims(login);
        edit(&mut claims);
        p.rsa.sign(&claims)
    })
    .await
}

fn id_token_problem(result: Result<lexoffice_login::TokenSet, Error>) -> IdTokenProblem {
    match result {
        Err(Error::IdToken(problem)) => problem,
        Err(other) => panic!("expected an ID-token problem, got {other:?}"),
        Ok(tokens) => panic!("expected an ID-token problem, the login completed: {tokens:?}"),
    }
}

/// What a login's ID token must be for the login to complete.
enum Expect {
    Accepted,
    Refused(IdTokenProblem),
    /// Refused as [`IdTokenProblem::Malformed`] with a detail that contains this text.
    Malformed(&'static str),
    /// Refused as [`IdTokenProblem::DisallowedAlgorithm`] for `alg`, naming `allowed`.
    Disallowed {
        alg: &'static str,
        allowed: &'static str,
    },
}

/// One login whose ID token differs from a valid one in one way.
struct Case {
    name: &'static str,
    /// `id_token_signing_alg_values_supported` in discovery, if not the default.
    algs: Option<&'static [&'static str]>,
    /// Changes the valid claims of the login.
    claims: fn(&mut Value),
    /// Makes the ID token from the (changed) claims.
    sign: fn(&Provider, &Value) -> String,
    expect: Expect,
    /// Texts the error message must contain.
    says: &'static [&'static str],
    /// The refusal comes from the header alone: the JWKS is never fetched.
    no_key_fetch: bool,
}

const CASE: Case = Case {
    name: "",
    algs: None,
    claims: |_| {},
    sign: rs256,
    expect: Expect::Accepted,
    says: &[],
    no_key_fetch: false,
};

fn rs256(p: &Provider, claims: &Value) -> String {
    p.rsa.sign(claims)
}

fn remove(claims: &mut Value, name: &str) {
    claims.as_object_mut().unwrap().remove(name);
}

fn cases() -> Vec<Case> {
    use IdTokenProblem::*;
    vec![
        Case {
            name: "an ES256 token",
            sign: |p, c| p.ec.sign(c),
            ..CASE
        },
        Case {
            name: "an ES256 token when the provider announces only RS256",
            algs: Some(&["RS256"]),
            sign: |p, c| p.ec.sign(c),
            expect: Expect::Disallowed {
                alg: "ES256",
                allowed: "RS256",
            },
            ..CASE
        },
        Case {
            name: "a wrong audience",
            claims: |c| c["aud"] = json!("someone-else"),
            expect: Expect::Refused(WrongAudience),
            ..CASE
        },
        Case {
            name: "an audience array with this client but without azp",
            claims: |c| c["aud"] = json!([CLIENT_ID, "api.example.com"]),
            expect: Expect::Refused(WrongAuthorizedParty),
            ..CASE
        },
        Case {
            name: "an audience array without this client",
            claims: |c| c["aud"] = json!(["api.example.com", "other"]),
            expect: Expect::Refused(WrongAudience),
            ..CASE
        },
        Case {
            name: "a wrong azp",
            claims: |c| c["azp"] = json!("other-client"),
            expect: Expect::Refused(WrongAuthorizedParty),
            ..CASE
        },
        Case {
            name: "a wrong issuer claim",
            claims: |c| c["iss"] = json!("https://evil.example.com"),
            expect: Expect::Refused(WrongIssuer),
            ..CASE
        },
        // The clock skew is 60 s.
        Case {
            name: "expired beyond the skew",
            claims: |c| {
                c["exp"] = json!(now() - 120);
                c["iat"] = json!(now() - 600);
            },
            expect: Expect::Refused(Expired),
            says: &["expired", "start it again"],
            ..CASE
        },
        Case {
            name: "expired 20 s ago, within the skew",
            claims: |c| {
                c["exp"] = json!(now() - 20);
                c["iat"] = json!(now() - 600);
            },
            ..CASE
        },
        Case {
            name: "nbf beyond the skew",
            claims: |c| c["nbf"] = json!(now() + 300),
            expect: Expect::Refused(NotYetValid),
            ..CASE
        },
        Case {
            name: "nbf 20 s ahead, within the skew",
            claims: |c| c["nbf"] = json!(now() + 20),
            ..CASE
        },
        Case {
            name: "iat beyond the skew",
            claims: |c| c["iat"] = json!(now() + 300),
            expect: Expect::Refused(IssuedInFuture),
            says: &["clock"],
            ..CASE
        },
        Case {
            name: "iat 20 s ahead, within the skew",
            claims: |c| c["iat"] = json!(now() + 20),
            ..CASE
        },
        Case {
            name: "a wrong nonce",
            claims: |c| c["nonce"] = json!("replayed"),
            expect: Expect::Refused(NonceMismatch),
            ..CASE
        },
        Case {
            name: "a missing nonce",
            claims: |c| remove(c, "nonce"),
            expect: Expect::Refused(NonceMismatch),
            ..CASE
        },
        Case {
            name: "a missing sub",
            claims: |c| remove(c, "sub"),
            expect: Expect::Refused(MissingClaim("sub".to_owned())),
            ..CASE
        },
        Case {
            name: "a missing exp",
            claims: |c| remove(c, "exp"),
            expect: Expect::Refused(MissingClaim("exp".to_owned())),
            ..CASE
        },
        // `iat` is required too (OpenID Connect Core 2); its absence fails the claims.
        Case {
            name: "a missing iat",
            claims: |c| remove(c, "iat"),
            expect: Expect::Malformed("iat"),
            ..CASE
        },
        Case {
            name: "alg none",
            sign: |_, c| raw_jws(&json!({"alg": "none", "typ": "JWT"}), c, b""),
            expect: Expect::Refused(Unsigned),
            no_key_fetch: true,
            ..CASE
        },
        Case {
            name: "alg None (any spelling of none)",
            sign: |_, c| raw_jws(&json!({"alg": "None", "kid": "rsa-1"}), c, b""),
            expect: Expect::Refused(Unsigned),
            ..CASE
        },
        Case {
            name: "signed by another key with a known kid",
            sign: |_, c| Key::rsa("rsa-1", RSA_PEM_2).sign(c),
            expect: Expect::Refused(BadSignature),
            ..CASE
        },
        Case {
            name: "a tampered payload",
            sign: |p, c| {
                let good = p.rsa.sign(c);
                let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
                let mut forged = c.clone();
                forged["sub"] = json!("admin");
                let forged = raw_jws(&json!({}), &forged, b"");
                parts[1] = forged.split('.').nth(1).unwrap().to_owned();
                parts.join(".")
            },
            expect: Expect::Refused(BadSignature),
            ..CASE
        },
        Case {
            name: "an at_hash mismatch",
            claims: |c| c["at_hash"] = json!(at_hash("another-access-token")),
            expect: Expect::Refused(AtHashMismatch),
            ..CASE
        },
        Case {
            name: "no at_hash (optional in the code flow)",
            claims: |c| remove(c, "at_hash"),
            ..CASE
        },
        Case {
            name: "not a JWT",
            sign: |_, _| "not-a-jwt".to_owned(),
            expect: Expect::Malformed(""),
            ..CASE
        },
        Case {
            name: "no kid: the one EC key is tried",
            sign: |p, c| p.ec.sign_as(c, None),
            ..CASE
        },
    ]
}

/// One login against its own provider, checked against `case.expect`.
async fn run(case: Case) {
    let p = match case.algs {
        Some(algs) => {
            Provider::start_with(|doc| doc["id_token_signing_alg_values_supported"] = json!(algs))
                .await
        }
        None => Provider::start().await,
    };
    let client = p.client().await;
    let result = p
        .login_with_id_token(&client, |p, login| {
            let mut claims = p.claims(login);
            (case.claims)(&mut claims);
            (case.sign)(p, &claims)
        })
        .await;
    let name = case.name;
    let problem = match (&case.expect, &result) {
        (Expect::Accepted, Ok(tokens)) => {
            let subject = tokens.id_token_claims().map(|c| c.subject());
            assert_eq!(subject, Some(SUBJECT), "{name}");
            None
        }
        (Expect::Accepted, Err(err)) => panic!("{name}: refused: {err:?}"),
        (_, Err(Error::IdToken(problem))) => Some(problem),
        (_, other) => panic!("{name}: expected an ID-token problem, got {other:?}"),
    };
    if let Some(problem) = problem {
        let as_expected = match &case.expect {
            Expect::Refused(expected) => problem == expected,
            Expect::Malformed(detail) => {
                matches!(problem, IdTokenProblem::Malformed(m) if m.contains(detail))
            }
            Expect::Disallowed { alg, allowed } => matches!(
                problem,
                IdTokenProblem::DisallowedAlgorithm { alg: a, allowed: al }
                    if a == alg && al.contains(allowed)
            ),
            Expect::Accepted => false,
        };
        assert!(as_expected, "{name}: {problem:?}");
        let msg = result.unwrap_err().to_string();
        for text in case.says {
            assert!(msg.contains(text), "{name}: {text:?} in {msg}");
        }
    }
    if case.no_key_fetch {
        assert!(p.requests_to("/jwks").await.is_empty(), "{name}");
    }
}

/// Each case is one login against its own provider, all running at once.
#[tokio::test]
async fn each_id_token_rule_accepts_or_refuses_with_its_problem() {
    run_concurrently(cases().into_iter().map(run)).await;
}

#[tokio::test]
async fn an_rs256_token_with_all_claims_right_is_accepted() {
    let p = Provider::start().await;
    let tokens = login_with_claims(&p, |_| {}).await.expect("accepted");
    let claims = tokens.id_token_claims().expect("claims");
    assert_eq!(claims.iss, p.issuer());
    assert_eq!(claims.aud, vec![CLIENT_ID.to_owned()]);
    assert_eq!(claims.subject(), SUBJECT);
    assert!(tokens.id_token.is_some());
}

#[tokio::test]
async fn an_audience_array_with_azp_naming_this_client_is_accepted() {
    let p = Provider::start().await;
    let tokens = login_with_claims(&p, |c| {
        c["aud"] = json!([CLIENT_ID, "api.example.com"]);
        c["azp"] = json!(CLIENT_ID);
    })
    .await
    .expect("aud array with azp is accepted");
    let claims = tokens.id_token_claims().unwrap();
    assert_eq!(claims.aud, vec![CLIENT_ID, "api.example.com"]);
    assert_eq!(claims.azp.as_deref(), Some(CLIENT_ID));
}

#[tokio::test]
async fn the_nonce_of_another_login_is_refused() {
    let p = Provider::start().await;
    let client = p.client().await;
    let other = Login::start(&client);
    let problem = id_token_problem(
        p.login_with_id_token(&client, |p, _login| p.rsa.sign(&p.claims(&other)))
            .await,
    );
    assert_eq!(problem, IdTokenProblem::NonceMismatch);
}

/// HS256 with the provider's public key as the HMAC secret: the classic key-confusion
/// forgery. It must be refused before any verification, even when the provider (wrongly)
/// announces HS256.
#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    for announce_hs256 in [false, true] {
        let p = Provider::start_with(|doc| {
            if announce_hs256 {
                doc["id_token_signing_alg_values_supported"] = json!(["RS256", "HS256"]);
            }
        })
        .await;
        let client = p.client().await;
        let public_pem = p.rsa.rsa_public_pem();
        assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let n = p.rsa.jwk_json()["n"].as_str().unwrap().to_owned();
        for secret in [public_pem.as_bytes(), n.as_bytes()] {
            let problem = id_token_problem(
                p.login_with_id_token(&client, |p, login| {
                    let mut header = Header::new(Algorithm::HS256);
                    header.kid = Some(p.rsa.kid.clone());
                    jsonwebtoken::encode(
                        &header,
                        &p.claims(login),
                        &EncodingKey::from_secret(secret),
                    )
                    .unwrap()
                })
                .await,
            );
            assert!(
                matches!(&problem, IdTokenProblem::DisallowedAlgorithm { alg, allowed } if alg == "HS256" && !allowed.contains("HS")),
                "{problem:?}"
            );
        }
        // Refused on the header alone: the keys were never fetched to try it.
        assert!(p.requests_to("/jwks").await.is_empty());
    }
}

#[tokio::test]
async fn a_token_response_without_id_token_is_refused_when_openid_was_requested() {
    let p = Provider::start().await;
    let client = p.client().await;
    let login = Login::start(&client);
    p.mount_token(token_body(None)).await;
    let err = client
        .complete(login.pending, &callback(&login.state, "c"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IdTokenMissing), "{err:?}");
    assert!(err.to_string().contains("remove `openid`"), "{err}");
}

/// The key rotated: the token is signed with key B, the cached JWKS only has key A, the
/// JWKS fetched again has both.
#[tokio::test]
async fn an_unknown_kid_after_a_key_rotation_is_found_by_one_refetch() {
    let p = Provider::bare().await;
    p.mount_discovery(discovery_doc(&p.issuer())).await;
    let key_a = Key::rsa("key-a", RSA_PEM_1);
    let key_b = Key::ec("key-b");
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[&key_a])))
        .up_to_n_times(1)
        .expect(1)
        .mount(&p.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[&key_a, &key_b])))
        .expect(1)
        .mount(&p.server)
        .await;
    let client = p.client().await;
    let tokens = p
        .login_with_id_token(&client, |p, login| key_b.sign(&p.claims(login)))
        .await
        .expect("accepted after the refetch");
    assert_eq!(tokens.id_token_claims().unwrap().subject(), SUBJECT);
    assert_eq!(p.requests_to("/jwks").await.len(), 2);

    // Both keys are cached now: tokens of either need no further fetch.
    p.login_with_id_token(&client, |p, login| key_a.sign(&p.claims(login)))
        .await
        .expect("key A");
    p.login_with_id_token(&client, |p, login| key_b.sign(&p.claims(login)))
        .await
        .expect("key B");
    assert_eq!(p.requests_to("/jwks").await.len(), 2);
    p.server.verify().await;
}

#[tokio::test]
async fn an_unknown_kid_is_refused_and_does_not_refetch_within_the_cooldown() {
    let p = Provider::start().await;
    let client = p.client().await;
    let stranger = Key::ec("never-published");
    let err = p
        .login_with_id_token(&client, |p, login| stranger.sign(&p.claims(login)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::IdToken(IdTokenProblem::UnknownKey { kid: Some(k) }) if k == "never-published"),
        "{err:?}"
    );
    // The first fetch, and one forced by the unknown kid.
    assert_eq!(p.requests_to("/jwks").await.len(), 2);

    // A second made-up kid within the cooldown (30 s): refused without fetching again.
    let other = Key::ec("made-up-2");
    let err = p
        .login_with_id_token(&client, |p, login| other.sign(&p.claims(login)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::IdToken(IdTokenProblem::UnknownKey { kid: Some(k) }) if k == "made-up-2"),
        "{err:?}"
    );
    assert_eq!(p.requests_to("/jwks").await.len(), 2);

    // Known keys still verify from the cache.
    p.login_with_id_token(&client, |p, login| p.rsa.sign(&p.claims(login)))
        .await
        .expect("the known key still works");
    assert_eq!(p.requests_to("/jwks").await.len(), 2);
}

#[tokio::test]
async fn after_the_cooldown_an_unknown_kid_fetches_again() {
    let p = Provider::start().await;
    let clock = lexoffice_login::FixedClock::at_now();
    let client = p
        .client_with(p.settings().jwks_refetch_cooldown(Duration::from_secs(1)))
        .await
        .with_clock(std::sync::Arc::new(clock.clone()));
    let stranger = Key::ec("never-published");
    let login = |p: &Provider, login: &Login| stranger.sign(&p.claims(login));
    p.login_with_id_token(&client, login).await.unwrap_err();
    // with_clock starts with empty caches: one fetch, then the forced one.
    assert_eq!(p.requests_to("/jwks").await.len(), 2);
    clock.advance(Duration::from_millis(1100));
    p.login_with_id_token(&client, login).await.unwrap_err();
    assert_eq!(p.requests_to("/jwks").await.len(), 3);
}

#[tokio::test]
async fn a_refreshed_id_token_must_name_the_same_subject() {
    let p = Provider::start().await;
    let client = p.client().await;
    let tokens = p.logged_in(&client).await;
    let mut claims = p.claims(&Login::start(&client));
    claims.as_object_mut().unwrap().remove("nonce");
    claims["sub"] = json!("someone-else");
    p.mount_token(json!({
        "access_token": ACCESS_TOKEN,
        "token_type": "Bearer",
        "id_token": p.rsa.sign(&claims),
    }))
    .await;
    let err = client.refresh(&tokens).await.unwrap_err();
    assert!(
        matches!(err, Error::IdToken(IdTokenProblem::SubjectChanged)),
        "{err:?}"
    );
}
