//! RS256 ID-token verification: the library's whole check (header and `alg` checks, the
//! JWKS parsed, key choice by `kid`, signature, `iss`/`aud`/`exp`/`iat`/`nonce`) against a
//! bare `jsonwebtoken::decode` of the same token with a key prepared once (signature,
//! `iss`, `aud`, `exp` only). Both verify with jsonwebtoken's pure-Rust back end, the
//! library's; the difference is what the library adds.
//!
//! Run: `cargo bench --bench id_token --features fuzzing` (the library's entry point
//! for verification with a JWKS at hand is the fuzzing one); results in BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::json;

/// A public test key of the sandbox (sandbox/src/keys/README.md): not secret.
const KEY: &str = include_str!("../sandbox/src/keys/rsa-test-key-1.pem");

fn id_token(c: &mut Criterion) {
    let encoding = EncodingKey::from_rsa_pem(KEY.as_bytes()).expect("test key");
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).expect("jwk");
    jwk.common.key_id = Some("k1".into());
    let jwks = serde_json::to_vec(&JwkSet {
        keys: vec![jwk.clone()],
    })
    .expect("jwks");
    let now = chrono::Utc::now();
    let claims = json!({
        "iss": "https://id.example.com",
        "sub": "alice",
        "aud": "client-1",
        "exp": now.timestamp() + 3600,
        "iat": now.timestamp(),
        "nonce": "n-0S6_WzA2Mj",
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("k1".into());
    let token = jsonwebtoken::encode(&header, &claims, &encoding).expect("token");

    let mut group = c.benchmark_group("id_token_rs256");
    group.bench_function("lexoffice_login", |b| {
        b.iter(|| {
            lexoffice_login::fuzzing::id_token(&token, &jwks, "n-0S6_WzA2Mj", now)
                .expect("verifies")
        })
    });
    let key = DecodingKey::from_jwk(&jwk).expect("key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&["https://id.example.com"]);
    validation.set_audience(&["client-1"]);
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).expect("verifies")
        })
    });
    group.finish();
}

criterion_group!(benches, id_token);
criterion_main!(benches);
