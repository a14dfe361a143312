//! ID tokens (OpenID Connect Core 3.1.3.7, RFC 7515/7517/7518) and the JWKS endpoint:
//! each case is one login whose ID token, or whose provider's JWKS, differs from a valid
//! one in one way.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lexoffice_login::{Endpoint, Error, IdTokenProblem};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::harness::*;
use crate::refused;
use crate::support::wiremock_provider::{
    discovery_doc, jwks, raw_jws, Key, Provider, CLIENT_ID, RSA_PEM_2,
};

/// A 1024-bit RSA key, made for this table only: too weak to be trusted (RFC 7518 3.3).
const RSA_1024_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIICdwIBADANBgkqhkiG9w0BAQEFAASCAmEwggJdAgEAAoGBAMSYzunRhi83Bp5M
VoOpVIEvdCiFNgs39beqBc9ti2cfRJbJMsxsKh+WPbDYC2fdzy++G3t3pELUEZAv
+3BFVUz0+QJ9KVJjgWGE2uiOIY0TaK39dNPfERmg0TvXwGDV/q1dBT+xaIMe82nE
MX1B6lnqNkCYlSsU1ZNFLcIkRLXfAgMBAAECgYEApVqpXfx+0iOEC4zFj4PSsb2K
A7LXW+Q7Zbk5ndfTUm74L6MWeN3ZKCwjwyRTo47qfot1bgmZPSRFiXLyFuIZ9WBl
HvQcllsfSQCar8IFo417dfN+WVoXebUbGp63bmXhx7NxgbtZZJiSV9TG+rsjf/A5
epLzObo6NIdxt6tzqzECQQDt6u/PsRx42GRV3lKktVfNwxOy2x1A8RuSwLXpk1u6
nb82IQAGsjYb6pIqTb4+PQch7jcygnf1TPcKnKVsA14LAkEA04no/DNvvSOPLjU3
P+H6kqmNjW4B0LJqw8MdOzugJO+HcYTcGX2dCqfxXLifOoZFAkDoouBcu8aNOsBg
Sb5v/QJAborEFani4rsYE1WS7HhdbXsAAhAQjYX5G7xySS5wZkq49vtqObI/tcTN
WN56UAym7bry5oL8HXs/JS0XJxKBdQJAB1SNFUg3BAfaa1B+xKDxDOoBNLhuKaw1
FOmK9sV/LCh8ugtPkTaQHZFqRLtFEUMb2xMivJonvH4J4NJPw95shQJBANp2LxqV
xi499EsqzHtw8L3F5XAQlwojpaLTGchp/fjxU/6wfzJbsPk2C5OY1XLPnP5GqXu/
e2meZtAISRx/CqI=
-----END PRIVATE KEY-----
";

const CATEGORY: &str = "ID token";
const JWKS_CATEGORY: &str = "JWKS";

/// One login whose ID token (or the provider around it) differs in one way.
struct Case {
    name: &'static str,
    /// Changes the discovery document.
    doc: fn(&mut Value),
    /// What the JWKS endpoint answers.
    jwks: fn(&Provider) -> ResponseTemplate,
    /// Changes the valid claims of the login.
    claims: fn(&mut Value),
    /// Makes the ID token from the (changed) claims.
    sign: fn(&Provider, &Value) -> String,
    expect: Expect<Error>,
}

fn both_keys(p: &Provider) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(jwks(&[&p.rsa, &p.ec]))
}

fn rs256(p: &Provider, c: &Value) -> String {
    p.rsa.sign(c)
}

fn case(name: &'static str, expect: Expect<Error>) -> Case {
    Case {
        name,
        doc: |_| {},
        jwks: both_keys,
        claims: |_| {},
        sign: rs256,
        expect,
    }
}

fn remove(c: &mut Value, name: &str) {
    c.as_object_mut().expect("claims").remove(name);
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A JWS with any header, signed by `key` with its algorithm.
fn sign_with_header(key: &Key, header: Value, claims: &Value) -> String {
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"));
    let input = format!("{}.{}", enc(&header), enc(claims));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key.encoding, key.alg).expect("sign");
    format!("{input}.{sig}")
}

/// The provider's RSA key, signing with a `crit` header.
fn crit(p: &Provider, c: &Value, crit: Value) -> String {
    sign_with_header(
        &p.rsa,
        json!({"alg": "RS256", "kid": p.rsa.kid, "crit": crit}),
        c,
    )
}

fn weak_key() -> Key {
    Key::rsa("weak-1", RSA_1024_PEM)
}

/// The JWKS with the RSA key's JWK changed by `edit` (and the EC key untouched).
fn rsa_jwk_edited(p: &Provider, edit: fn(&mut Value)) -> ResponseTemplate {
    let mut rsa = p.rsa.jwk_json();
    edit(&mut rsa);
    ResponseTemplate::new(200).set_body_json(json!({"keys": [rsa, p.ec.jwk_json()]}))
}

fn ec_jwk_edited(p: &Provider, edit: fn(&mut Value)) -> ResponseTemplate {
    let mut ec = p.ec.jwk_json();
    edit(&mut ec);
    ResponseTemplate::new(200).set_body_json(json!({"keys": [p.rsa.jwk_json(), ec]}))
}

fn id_token_cases() -> Vec<Case> {
    use IdTokenProblem::*;
    vec![
        // ---- positive controls
        case("control: a valid RS256 token", Expect::Accepted),
        Case {
            sign: |p, c| p.ec.sign(c),
            ..case("control: a valid ES256 token", Expect::Accepted)
        },
        Case {
            sign: |p, c| p.ec.sign_as(c, None),
            ..case("control: an ES256 token without kid", Expect::Accepted)
        },
        Case {
            claims: |c| {
                c["aud"] = json!([CLIENT_ID, "api.example.com"]);
                c["azp"] = json!(CLIENT_ID);
            },
            ..case("control: an audience array with azp", Expect::Accepted)
        },
        Case {
            claims: |c| c["nbf"] = json!(now() + 20),
            ..case("control: nbf within the clock skew", Expect::Accepted)
        },
        Case {
            claims: |c| remove(c, "at_hash"),
            ..case(
                "control: no at_hash (optional in the code flow)",
                Expect::Accepted,
            )
        },
        Case {
            jwks: |p| {
                rsa_jwk_edited(p, |k| {
                    k["use"] = json!("sig");
                    k["key_ops"] = json!(["verify"]);
                    k["alg"] = json!("RS256");
                })
            },
            ..case(
                "control: a JWK restricted to use sig, key_ops verify, alg RS256",
                Expect::Accepted,
            )
        },
        Case {
            jwks: |p| {
                rsa_jwk_edited(p, |k| {
                    let k = k.as_object_mut().unwrap();
                    k.remove("use");
                    k.remove("alg");
                })
            },
            ..case("control: a JWK without use and alg", Expect::Accepted)
        },
        // ---- times
        Case {
            claims: |c| {
                c["exp"] = json!(now() - 120);
                c["iat"] = json!(now() - 600);
            },
            ..case("expired beyond the skew", refused!(Error::IdToken(Expired)))
        },
        Case {
            claims: |c| c["exp"] = json!(0),
            ..case("exp at the epoch", refused!(Error::IdToken(Expired)))
        },
        Case {
            claims: |c| c["nbf"] = json!(now() + 300),
            ..case("nbf beyond the skew", refused!(Error::IdToken(NotYetValid)))
        },
        Case {
            claims: |c| c["iat"] = json!(now() + 300),
            ..case(
                "iat beyond the skew",
                refused!(Error::IdToken(IssuedInFuture)),
            )
        },
        Case {
            claims: |c| c["exp"] = json!("tomorrow"),
            ..case(
                "exp as a string",
                refused!(Error::IdToken(MissingClaim(c) | Malformed(c)) if c.contains("exp")),
            )
        },
        Case {
            claims: |c| remove(c, "exp"),
            ..case(
                "no exp",
                refused!(Error::IdToken(MissingClaim(c)) if c == "exp"),
            )
        },
        Case {
            claims: |c| remove(c, "iat"),
            ..case(
                "no iat",
                refused!(Error::IdToken(MissingClaim(c) | Malformed(c)) if c.contains("iat")),
            )
        },
        // ---- issuer, audience, authorized party, subject
        Case {
            claims: |c| c["iss"] = json!("https://evil.example.com"),
            ..case("another issuer", refused!(Error::IdToken(WrongIssuer)))
        },
        Case {
            claims: |c| {
                let iss = format!("{}/", c["iss"].as_str().unwrap());
                c["iss"] = json!(iss);
            },
            ..case(
                "the issuer with a trailing slash",
                refused!(Error::IdToken(WrongIssuer)),
            )
        },
        Case {
            claims: |c| remove(c, "iss"),
            ..case(
                "no iss",
                refused!(Error::IdToken(MissingClaim(c) | Malformed(c)) if c.contains("iss")),
            )
        },
        Case {
            claims: |c| c["aud"] = json!("someone-else"),
            ..case("another audience", refused!(Error::IdToken(WrongAudience)))
        },
        Case {
            claims: |c| c["aud"] = json!(CLIENT_ID.to_uppercase()),
            ..case(
                "the audience in another case",
                refused!(Error::IdToken(WrongAudience)),
            )
        },
        Case {
            claims: |c| c["aud"] = json!(["api.example.com", "other"]),
            ..case(
                "an audience array without this client",
                refused!(Error::IdToken(WrongAudience)),
            )
        },
        Case {
            claims: |c| c["aud"] = json!([]),
            ..case(
                "an empty audience array",
                refused!(Error::IdToken(WrongAudience)),
            )
        },
        Case {
            claims: |c| remove(c, "aud"),
            ..case(
                "no aud",
                refused!(Error::IdToken(MissingClaim(c) | Malformed(c)) if c.contains("aud")),
            )
        },
        Case {
            claims: |c| c["aud"] = json!([CLIENT_ID, "api.example.com"]),
            ..case(
                "an audience array without azp",
                refused!(Error::IdToken(WrongAuthorizedParty)),
            )
        },
        Case {
            claims: |c| c["azp"] = json!("other-client"),
            ..case(
                "another azp",
                refused!(Error::IdToken(WrongAuthorizedParty)),
            )
        },
        Case {
            claims: |c| remove(c, "sub"),
            ..case(
                "no sub",
                refused!(Error::IdToken(MissingClaim(c)) if c == "sub"),
            )
        },
        Case {
            claims: |c| c["sub"] = json!(""),
            ..case(
                "an empty sub",
                refused!(Error::IdToken(MissingClaim(c)) if c == "sub"),
            )
        },
        // ---- nonce and at_hash
        Case {
            claims: |c| c["nonce"] = json!("replayed-nonce-value"),
            ..case("another nonce", refused!(Error::IdToken(NonceMismatch)))
        },
        Case {
            claims: |c| remove(c, "nonce"),
            ..case("no nonce", refused!(Error::IdToken(NonceMismatch)))
        },
        Case {
            claims: |c| c["nonce"] = json!(""),
            ..case("an empty nonce", refused!(Error::IdToken(NonceMismatch)))
        },
        Case {
            claims: |c| c["at_hash"] = json!(crate::support::wiremock_provider::at_hash("another")),
            ..case(
                "an at_hash of another access token",
                refused!(Error::IdToken(AtHashMismatch)),
            )
        },
        // ---- algorithms
        Case {
            sign: |_, c| raw_jws(&json!({"alg": "none", "typ": "JWT"}), c, b""),
            ..case("alg none", refused!(Error::IdToken(Unsigned)))
        },
        Case {
            sign: |_, c| raw_jws(&json!({"alg": "NONE", "kid": "rsa-1"}), c, b""),
            ..case(
                "alg NONE with a known kid",
                refused!(Error::IdToken(Unsigned)),
            )
        },
        Case {
            sign: |p, c| {
                let mut header = Header::new(Algorithm::HS256);
                header.kid = Some(p.rsa.kid.clone());
                let secret = p.rsa.rsa_public_pem();
                jsonwebtoken::encode(&header, c, &EncodingKey::from_secret(secret.as_bytes()))
                    .unwrap()
            },
            ..case(
                "HS256 keyed with the provider's public key",
                refused!(Error::IdToken(DisallowedAlgorithm { alg, .. }) if alg == "HS256"),
            )
        },
        Case {
            doc: |d| d["id_token_signing_alg_values_supported"] = json!(["RS256", "HS256"]),
            sign: |p, c| {
                let mut header = Header::new(Algorithm::HS256);
                header.kid = Some(p.rsa.kid.clone());
                let n = p.rsa.jwk_json()["n"].as_str().unwrap().to_owned();
                jsonwebtoken::encode(&header, c, &EncodingKey::from_secret(n.as_bytes())).unwrap()
            },
            ..case(
                "HS256 announced by the provider, keyed with the modulus",
                refused!(Error::IdToken(DisallowedAlgorithm { alg, allowed }) if alg == "HS256" && !allowed.contains("HS")),
            )
        },
        Case {
            doc: |d| d["id_token_signing_alg_values_supported"] = json!(["RS256"]),
            sign: |p, c| p.ec.sign(c),
            ..case(
                "ES256 when only RS256 is announced",
                refused!(Error::IdToken(DisallowedAlgorithm { alg, .. }) if alg == "ES256"),
            )
        },
        Case {
            sign: |p, c| {
                let mut header = Header::new(Algorithm::RS384);
                header.kid = Some(p.rsa.kid.clone());
                jsonwebtoken::encode(&header, c, &p.rsa.encoding).unwrap()
            },
            ..case(
                "RS384, not announced",
                refused!(Error::IdToken(DisallowedAlgorithm { alg, .. }) if alg == "RS384"),
            )
        },
        Case {
            sign: |p, c| sign_with_header(&p.rsa, json!({"alg": "rs256", "kid": p.rsa.kid}), c),
            ..case(
                "alg rs256 in lower case",
                refused!(Error::IdToken(DisallowedAlgorithm { .. } | Malformed(_))),
            )
        },
        // ---- signatures
        Case {
            sign: |_, c| Key::rsa("rsa-1", RSA_PEM_2).sign(c),
            ..case(
                "signed by another key under a known kid",
                refused!(Error::IdToken(BadSignature)),
            )
        },
        Case {
            sign: |p, c| {
                let good = p.rsa.sign(c);
                let mut forged = c.clone();
                forged["sub"] = json!("admin");
                let body = raw_jws(&json!({}), &forged, b"");
                let mut parts: Vec<&str> = good.split('.').collect();
                parts[1] = body.split('.').nth(1).unwrap();
                parts.join(".")
            },
            ..case("a tampered payload", refused!(Error::IdToken(BadSignature)))
        },
        Case {
            sign: |p, c| {
                let good = p.rsa.sign(c);
                let cut = good.rfind('.').unwrap();
                good[..=cut].to_owned()
            },
            ..case(
                "the signature stripped",
                refused!(Error::IdToken(BadSignature | Malformed(_))),
            )
        },
        Case {
            sign: |p, c| {
                // The EC signature under the RSA key's kid.
                let ec = p.ec.sign_as(c, Some("rsa-1"));
                let sig = ec.rsplit('.').next().unwrap().to_owned();
                let rs = p.rsa.sign(c);
                format!("{}.{sig}", &rs[..rs.rfind('.').unwrap()])
            },
            ..case(
                "another algorithm's signature",
                refused!(Error::IdToken(BadSignature)),
            )
        },
        // ---- keys
        Case {
            sign: |_, c| Key::ec("never-published").sign(c),
            ..case(
                "an unknown kid",
                refused!(Error::IdToken(UnknownKey { kid: Some(k) }) if k == "never-published"),
            )
        },
        Case {
            sign: |p, c| p.ec.sign_as(c, Some("rsa-1")),
            ..case(
                "ES256 under the kid of the RSA key",
                refused!(Error::IdToken(UnknownKey { kid: Some(k) }) if k == "rsa-1"),
            )
        },
        Case {
            sign: |p, c| p.rsa.sign_as(c, Some("ec-1")),
            ..case(
                "RS256 under the kid of the EC key",
                refused!(Error::IdToken(UnknownKey { kid: Some(k) }) if k == "ec-1"),
            )
        },
        Case {
            sign: |p, c| {
                let evil = Key::rsa("evil", RSA_PEM_2);
                sign_with_header(
                    &evil,
                    json!({"alg": "RS256", "kid": "evil", "jku": p.url("/attacker/jwks")}),
                    c,
                )
            },
            ..case(
                "a jku header naming the attacker's JWKS",
                refused!(Error::IdToken(UnknownKey { kid: Some(k) }) if k == "evil"),
            )
        },
        Case {
            sign: |_, c| {
                let evil = Key::rsa("evil", RSA_PEM_2);
                sign_with_header(
                    &evil,
                    json!({"alg": "RS256", "kid": "evil", "jwk": evil.jwk_json()}),
                    c,
                )
            },
            ..case(
                "the attacker's key embedded in the header (jwk)",
                refused!(Error::IdToken(UnknownKey { kid: Some(k) }) if k == "evil"),
            )
        },
        Case {
            jwks: |p| {
                let weak = weak_key();
                ResponseTemplate::new(200).set_body_json(jwks(&[&weak, &p.ec]))
            },
            sign: |_, c| weak_key().sign(c),
            ..case("an RSA key of 1024 bits", refused!(Error::IdToken(WeakKey)))
        },
        Case {
            jwks: |p| rsa_jwk_edited(p, |k| k["use"] = json!("enc")),
            ..case(
                "the only matching key is for encryption (use enc)",
                refused!(Error::IdToken(UnknownKey { .. })),
            )
        },
        Case {
            jwks: |p| rsa_jwk_edited(p, |k| k["key_ops"] = json!(["encrypt", "wrapKey"])),
            ..case(
                "the only matching key has key_ops encrypt",
                refused!(Error::IdToken(UnknownKey { .. })),
            )
        },
        Case {
            jwks: |p| rsa_jwk_edited(p, |k| k["key_ops"] = json!(["sign"])),
            ..case(
                "the only matching key has key_ops without verify",
                refused!(Error::IdToken(UnknownKey { .. })),
            )
        },
        Case {
            jwks: |p| rsa_jwk_edited(p, |k| k["alg"] = json!("RS512")),
            ..case(
                "the only matching key is for RS512",
                refused!(Error::IdToken(UnknownKey { .. })),
            )
        },
        Case {
            jwks: |p| ec_jwk_edited(p, |k| k["crv"] = json!("P-384")),
            sign: |p, c| p.ec.sign(c),
            ..case(
                "the EC key's crv P-384 does not fit ES256",
                refused!(Error::IdToken(UnknownKey { .. })),
            )
        },
        Case {
            jwks: |p| ec_jwk_edited(p, |k| k["use"] = json!("enc")),
            sign: |p, c| p.ec.sign_as(c, None),
            ..case(
                "no kid, and the one EC key is for encryption",
                refused!(Error::IdToken(UnknownKey { kid: None })),
            )
        },
        // ---- RFC 7515 4.1.11: crit
        Case {
            sign: |p, c| crit(p, c, json!(["exp"])),
            ..case(
                "crit naming exp",
                refused!(Error::IdToken(CriticalHeader(_))),
            )
        },
        Case {
            sign: |p, c| crit(p, c, json!(["b64"])),
            ..case(
                "crit naming b64",
                refused!(Error::IdToken(CriticalHeader(_))),
            )
        },
        Case {
            sign: |p, c| crit(p, c, json!(["urn:example:unknown"])),
            ..case(
                "crit naming an unknown extension",
                refused!(Error::IdToken(CriticalHeader(_))),
            )
        },
        Case {
            sign: |p, c| crit(p, c, json!([])),
            ..case(
                "crit as an empty list",
                refused!(Error::IdToken(CriticalHeader(_))),
            )
        },
        Case {
            sign: |p, c| crit(p, c, json!("exp")),
            ..case(
                "crit as a string",
                refused!(Error::IdToken(CriticalHeader(_))),
            )
        },
        Case {
            sign: |p, c| crit(p, c, json!(null)),
            ..case("crit as null", refused!(Error::IdToken(CriticalHeader(_))))
        },
        // ---- not a JWS
        Case {
            sign: |_, _| "not-a-jwt".to_owned(),
            ..case("not a JWT", refused!(Error::IdToken(Malformed(_))))
        },
        Case {
            sign: |p, c| format!("{}.extra", p.rsa.sign(c)),
            ..case("four segments", refused!(Error::IdToken(Malformed(_))))
        },
        Case {
            sign: |p, c| {
                let good = p.rsa.sign(c);
                format!("%%%{}", &good[good.find('.').unwrap()..])
            },
            ..case(
                "a header that is not base64url",
                refused!(Error::IdToken(Malformed(_))),
            )
        },
        Case {
            sign: |p, c| {
                let good = p.rsa.sign(c);
                let header = URL_SAFE_NO_PAD.encode(b"[1,2,3]");
                format!("{header}{}", &good[good.find('.').unwrap()..])
            },
            ..case(
                "a header that is a JSON array",
                refused!(Error::IdToken(Malformed(_))),
            )
        },
        Case {
            sign: |p, _| {
                let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"rsa-1"}"#);
                let body = URL_SAFE_NO_PAD.encode(b"not json");
                let input = format!("{header}.{body}");
                let sig =
                    jsonwebtoken::crypto::sign(input.as_bytes(), &p.rsa.encoding, Algorithm::RS256)
                        .unwrap();
                format!("{input}.{sig}")
            },
            ..case(
                "a signed payload that is not JSON",
                refused!(Error::IdToken(Malformed(_))),
            )
        },
    ]
}

/// One login against its own provider.
async fn run_case(case: Case) -> Outcome {
    let p = Provider::bare().await;
    let mut doc = discovery_doc(&p.issuer());
    (case.doc)(&mut doc);
    p.mount_discovery(doc).await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with((case.jwks)(&p))
        .mount(&p.server)
        .await;
    let client = p.client_with(settings(&p)).await;
    let result = complete_with(&p, &client, |p, login| {
        let mut claims = good_claims(p, login);
        (case.claims)(&mut claims);
        let t = (case.sign)(p, &claims);
        if t.len() >= 8 {
            remember("ID token", t.clone());
        }
        ResponseTemplate::new(200).set_body_json(token_answer(Some(&t)))
    })
    .await;
    let outcome = judge(CATEGORY, case.name, &case.expect, &result);
    let attacker_asked = !p.requests_to("/attacker/jwks").await.is_empty();
    outcome.also(!attacker_asked, || {
        "the jku header's URL was fetched".into()
    })
}

pub async fn run() -> Vec<Outcome> {
    run_all(
        CATEGORY,
        id_token_cases()
            .into_iter()
            .map(|c| (c.name.to_owned(), run_case(c)))
            .collect(),
    )
    .await
}

// ---------------------------------------------------------------------------- JWKS

/// What the JWKS endpoint answers, and how the login ends.
struct JwksCase {
    name: &'static str,
    answer: fn(&Provider) -> ResponseTemplate,
    expect: Expect<Error>,
}

fn jwks_cases() -> Vec<JwksCase> {
    vec![
        JwksCase {
            name: "control: both keys",
            answer: both_keys,
            expect: Expect::Accepted,
        },
        JwksCase {
            name: "control: an unknown key type beside the good keys is skipped",
            answer: |p| {
                let okp = json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed-1",
                    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
                ResponseTemplate::new(200)
                    .set_body_json(json!({"keys": [okp, p.rsa.jwk_json(), p.ec.jwk_json()]}))
            },
            expect: Expect::Accepted,
        },
        JwksCase {
            name: "HTTP 500",
            answer: |_| html(500),
            expect: refused!(Error::UnexpectedResponse {
                endpoint: Endpoint::Jwks,
                status: 500,
                ..
            }),
        },
        JwksCase {
            name: "HTTP 404",
            answer: |_| html(404),
            expect: refused!(Error::UnexpectedResponse {
                endpoint: Endpoint::Jwks,
                status: 404,
                ..
            }),
        },
        JwksCase {
            name: "an HTML page with status 200",
            answer: |_| html(200),
            expect: refused!(Error::UnexpectedResponse {
                endpoint: Endpoint::Jwks,
                status: 200,
                ..
            }),
        },
        JwksCase {
            name: "malformed JSON",
            answer: |_| raw_json(200, r#"{"keys": [{"kty": "RSA""#),
            expect: refused!(Error::MalformedResponse {
                endpoint: Endpoint::Jwks,
                ..
            }),
        },
        JwksCase {
            name: "keys is not a list",
            answer: |_| json_answer(200, json!({"keys": "rsa-1"})),
            expect: refused!(Error::MalformedResponse {
                endpoint: Endpoint::Jwks,
                ..
            }),
        },
        JwksCase {
            name: "no keys member",
            answer: |_| json_answer(200, json!({"kids": []})),
            expect: refused!(Error::MalformedResponse {
                endpoint: Endpoint::Jwks,
                ..
            }),
        },
        JwksCase {
            name: "an empty key set",
            answer: |_| json_answer(200, json!({"keys": []})),
            expect: refused!(Error::IdToken(IdTokenProblem::UnknownKey { .. })),
        },
        JwksCase {
            name: "a body over 1 MiB",
            answer: |_| oversized_json(),
            expect: refused!(Error::MalformedResponse {
                endpoint: Endpoint::Jwks,
                ..
            }),
        },
        JwksCase {
            name: "a redirect",
            answer: |p| redirect_to(p, "/elsewhere/jwks"),
            expect: refused!(Error::UnexpectedRedirect {
                endpoint: Endpoint::Jwks,
                status: 302,
                ..
            }),
        },
        JwksCase {
            name: "only the other key",
            answer: |p| json_answer(200, jwks(&[&p.ec])),
            expect: refused!(Error::IdToken(IdTokenProblem::UnknownKey { kid: Some(k) }) if k == "rsa-1"),
        },
    ]
}

async fn run_jwks_case(case: JwksCase) -> Outcome {
    let p = Provider::bare().await;
    p.mount_discovery(discovery_doc(&p.issuer())).await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with((case.answer)(&p))
        .mount(&p.server)
        .await;
    Mock::given(path("/elsewhere/jwks"))
        .respond_with(both_keys(&p))
        .expect(0)
        .mount(&p.server)
        .await;
    let client = p.client_with(settings(&p)).await;
    let result = complete_with(&p, &client, |p, login| {
        let t = signed(p, &good_claims(p, login));
        ResponseTemplate::new(200).set_body_json(token_answer(Some(&t)))
    })
    .await;
    let followed = !p.requests_to("/elsewhere/jwks").await.is_empty();
    judge(JWKS_CATEGORY, case.name, &case.expect, &result)
        .also(!followed, || "the redirect was followed".into())
}

pub async fn run_jwks() -> Vec<Outcome> {
    run_all(
        JWKS_CATEGORY,
        jwks_cases()
            .into_iter()
            .map(|c| (c.name.to_owned(), run_jwks_case(c)))
            .collect(),
    )
    .await
}
