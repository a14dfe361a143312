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
async fn an_es256_token_is_accepted() {
    let p = Provider::start().await;
    let client = p.client().await;
    let tokens = p
        .login_with_id_token(&client, |p, login| p.ec.sign(&p.claims(login)))
        .await
        .expect("accepted");
    assert_eq!(tokens.id_token_claims().unwrap().subject(), SUBJECT);
}

#[tokio::test]
async fn an_es256_token_is_refused_when_the_provider_announces_only_rs256() {
    let p = Provider::start_with(|doc| {
        doc["id_token_signing_alg_values_supported"] = json!(["RS256"]);
    })
    .await;
    let client = p.client().await;
    let problem = id_token_problem(
        p.login_with_id_token(&client, |p, login| p.ec.sign(&p.claims(login)))
            .await,
    );
    assert!(
        matches!(&problem, IdTokenProblem::DisallowedAlgorithm { alg, allowed } if alg == "ES256" && allowed.contains("RS256")),
        "{problem:?}"
    );
}

#[tokio::test]
async fn a_wrong_audience_is_refused() {
    let p = Provider::start().await;
    let problem =
        id_token_problem(login_with_claims(&p, |c| c["aud"] = json!("someone-else")).await);
    assert_eq!(problem, IdTokenProblem::WrongAudience);
}

#[tokio::test]
async fn an_audience_array_needs_azp_naming_this_client() {
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

    let p = Provider::start().await;
    let problem = id_token_problem(
        login_with_claims(&p, |c| c["aud"] = json!([CLIENT_ID, "api.example.com"])).await,
    );
    assert_eq!(problem, IdTokenProblem::WrongAuthorizedParty);

    let p = Provider::start().await;
    let problem = id_token_problem(
        login_with_claims(&p, |c| c["aud"] = json!(["api.example.com", "other"])).await,
    );
    assert_eq!(problem, IdTokenProblem::WrongAudience);
}

#[tokio::test]
async fn a_wrong_azp_is_refused() {
    let p = Provider::start().await;
    let problem =
        id_token_problem(login_with_claims(&p, |c| c["azp"] = json!("other-client")).await);
    assert_eq!(problem, IdTokenProblem::WrongAuthorizedParty);
}

#[tokio::test]
async fn a_wrong_issuer_claim_is_refused() {
    let p = Provider::start().await;
    let problem = id_token_problem(
        login_with_claims(&p, |c| c["iss"] = json!("https://evil.example.com")).await,
    );
    assert_eq!(problem, IdTokenProblem::WrongIssuer);
}

#[tokio::test]
async fn an_expired_token_is_refused_beyond_the_skew_and_accepted_within_it() {
    // Skew is 60 s.
    let p = Provider::start().await;
    let err = login_with_claims(&p, |c| {
        c["exp"] = json!(now() - 120);
        c["iat"] = json!(now() - 600);
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::IdToken(IdTokenProblem::Expired)),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("expired"), "{msg}");
    assert!(msg.contains("start it again"), "{msg}");

    let p = Provider::start().await;
    login_with_claims(&p, |c| {
        c["exp"] = json!(now() - 20);
        c["iat"] = json!(now() - 600);
    })
    .await
    .expect("a token expired 20 s ago is within the 60 s skew");
}

#[tokio::test]
async fn nbf_in_the_future_is_refused_and_within_the_skew_accepted() {
    let p = Provider::start().await;
    let problem = id_token_problem(login_with_claims(&p, |c| c["nbf"] = json!(now() + 300)).await);
    assert_eq!(problem, IdTokenProblem::NotYetValid);

    let p = Provider::start().await;
    login_with_claims(&p, |c| c["nbf"] = json!(now() + 20))
        .await
        .expect("nbf 20 s ahead is within the skew");
}

#[tokio::test]
async fn iat_in_the_future_is_refused_and_within_the_skew_accepted() {
    let p = Provider::start().await;
    let err = login_with_claims(&p, |c| c["iat"] = json!(now() + 300))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::IdToken(IdTokenProblem::IssuedInFuture)),
        "{err:?}"
    );
    assert!(err.to_string().contains("clock"), "{err}");

    let p = Provider::start().await;
    login_with_claims(&p, |c| c["iat"] = json!(now() + 20))
        .await
        .expect("iat 20 s ahead is within the skew");
}

#[tokio::test]
async fn a_wrong_nonce_is_refused() {
    let p = Provider::start().await;
    let problem = id_token_problem(login_with_claims(&p, |c| c["nonce"] = json!("replayed")).await);
    assert_eq!(problem, IdTokenProblem::NonceMismatch);
}

#[tokio::test]
async fn a_missing_nonce_is_refused() {
    let p = Provider::start().await;
    let problem = id_token_problem(
        login_with_claims(&p, |c| {
            c.as_object_mut().unwrap().remove("nonce");
        })
        .await,
    );
    assert_eq!(problem, IdTokenProblem::NonceMismatch);
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

#[tokio::test]
async fn missing_required_claims_are_named() {
    for claim in ["sub", "exp"] {
        let p = Provider::start().await;
        let problem = id_token_problem(
            login_with_claims(&p, |c| {
                c.as_object_mut().unwrap().remove(claim);
            })
            .await,
        );
        assert_eq!(problem, IdTokenProblem::MissingClaim(claim.to_owned()));
    }
    // `iat` is required too (OpenID Connect Core 2); its absence fails the claims.
    let p = Provider::start().await;
    let problem = id_token_problem(
        login_with_claims(&p, |c| {
            c.as_object_mut().unwrap().remove("iat");
        })
        .await,
    );
    assert!(
        matches!(&problem, IdTokenProblem::Malformed(m) if m.contains("iat")),
        "{problem:?}"
    );
}

#[tokio::test]
async fn alg_none_is_refused_without_fetching_keys() {
    let p = Provider::start().await;
    let client = p.client().await;
    let problem = id_token_problem(
        p.login_with_id_token(&client, |p, login| {
            raw_jws(&json!({"alg": "none", "typ": "JWT"}), &p.claims(login), b"")
        })
        .await,
    );
    assert_eq!(problem, IdTokenProblem::Unsigned);
    assert!(p.requests_to("/jwks").await.is_empty());

    // Any spelling of "none" too.
    let p = Provider::start().await;
    let client = p.client().await;
    let problem = id_token_problem(
        p.login_with_id_token(&client, |p, login| {
            raw_jws(
                &json!({"alg": "None", "kid": "rsa-1"}),
                &p.claims(login),
                b"",
            )
        })
        .await,
    );
    assert_eq!(problem, IdTokenProblem::Unsigned);
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
async fn a_token_signed_by_another_key_with_a_known_kid_has_a_bad_signature() {
    let p = Provider::start().await;
    let client = p.client().await;
    let impostor = Key::rsa("rsa-1", RSA_PEM_2);
    let problem = id_token_problem(
        p.login_with_id_token(&client, |p, login| impostor.sign(&p.claims(login)))
            .await,
    );
    assert_eq!(problem, IdTokenProblem::BadSignature);
}

#[tokio::test]
async fn a_tampered_payload_has_a_bad_signature() {
    let p = Provider::start().await;
    let client = p.client().await;
    let problem = id_token_problem(
        p.login_with_id_token(&client, |p, login| {
            let good = p.rsa.sign(&p.claims(login));
            let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
            let mut claims = p.claims(login);
            claims["sub"] = json!("admin");
            let forged = raw_jws(&json!({}), &claims, b"");
            parts[1] = forged.split('.').nth(1).unwrap().to_owned();
            parts.join(".")
        })
        .await,
    );
    assert_eq!(problem, IdTokenProblem::BadSignature);
}

#[tokio::test]
async fn an_at_hash_mismatch_is_refused() {
    let p = Provider::start().await;
    let problem = id_token_problem(
        login_with_claims(&p, |c| {
            c["at_hash"] = json!(at_hash("another-access-token"))
        })
        .await,
    );
    assert_eq!(problem, IdTokenProblem::AtHashMismatch);
}

#[tokio::test]
async fn a_token_without_at_hash_is_accepted() {
    let p = Provider::start().await;
    login_with_claims(&p, |c| {
        c.as_object_mut().unwrap().remove("at_hash");
    })
    .await
    .expect("at_hash is optional in the code flow");
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

#[tokio::test]
async fn a_malformed_id_token_is_refused() {
    let p = Provider::start().await;
    let client = p.client().await;
    let problem = id_token_problem(
        p.login_with_id_token(&client, |_, _| "not-a-jwt".to_owned())
            .await,
    );
    assert!(
        matches!(problem, IdTokenProblem::Malformed(_)),
        "{problem:?}"
    );
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
async fn a_token_without_kid_is_verified_with_the_matching_key_type() {
    let p = Provider::start().await;
    let client = p.client().await;
    p.login_with_id_token(&client, |p, login| p.ec.sign_as(&p.claims(login), None))
        .await
        .expect("no kid: the one EC key is tried");
}

#[tokio::test]
async fn a_refreshed_id_token_must_name_the_same_subject() {
    let p = Provider::start().await;
    let client = p.client().await;
    let tokens = p
        .login_with_id_token(&client, |p, login| p.rsa.sign(&p.claims(login)))
        .await
        .expect("login");
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
