//! Signing keys of the sandbox and its JWKS.
//!
//! RS256 uses three fixed RSA-2048 keys compiled into the crate (`keys/*.pem`): they are
//! PUBLIC TEST KEYS, published with the source, and must never protect anything real.
//! Generating RSA keys at run time is too slow in debug builds. ES256 keys are generated
//! at run time.
//!
//! Signing uses `aws-lc-rs` directly rather than jsonwebtoken's pure-Rust back end: the
//! RS256 signature bounds the token endpoint's throughput. The `rsa` crate took most of
//! the ~1.3 ms a refresh cost; ring (used here before) needs about 420 µs of CPU per
//! RSA-2048 signature on the project's benchmark machine, aws-lc-rs about 206 µs
//! (BENCHMARKS.md). ES256 costs about the same in both (~12 µs); one back end for all
//! the sandbox's signatures (the webhook ones too). jsonwebtoken's `aws_lc_rs` back end
//! was not an option: Cargo unifies features across the workspace, so enabling it for
//! the sandbox would switch the library's verification to aws-lc-rs as well. The tokens
//! are the same as jsonwebtoken made them: same header JSON, same claims JSON, and RS256
//! (PKCS #1 v1.5) signatures are deterministic.
//!
//! Everything that does not change per token is done once per key: the key is parsed
//! once, its header is serialised and encoded once, and the JWKS is serialised once
//! per rotation.

use std::sync::{Arc, OnceLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use axum::body::Bytes;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, RSAKeyParameters, RSAKeyType,
};
use jsonwebtoken::{Algorithm, Header};
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::traits::PublicKeyParts as _;
use serde::Serialize;

use super::SandboxError;

/// Public test keys (see `keys/README.md`). Not secret.
const RSA_TEST_KEYS: [&str; 3] = [
    include_str!("keys/rsa-test-key-1.pem"),
    include_str!("keys/rsa-test-key-2.pem"),
    include_str!("keys/rsa-test-key-3.pem"),
];

/// The test keys, parsed once per process (PEM to PKCS #8 DER to aws-lc-rs's key): rotations
/// and every sandbox in a test binary share them.
fn rsa_test_key(index: usize) -> Result<Arc<RsaKeyPair>, SandboxError> {
    static PARSED: [OnceLock<Result<Arc<RsaKeyPair>, String>>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    PARSED[index]
        .get_or_init(|| {
            let der = pem_to_der(RSA_TEST_KEYS[index])?;
            RsaKeyPair::from_pkcs8(&der)
                .map(Arc::new)
                .map_err(|e| format!("RSA test key {}: {e}", index + 1))
        })
        .clone()
        .map_err(SandboxError::Key)
}

/// The DER inside a PEM block (`BEGIN PRIVATE KEY`, PKCS #8).
pub(crate) fn pem_to_der(pem: &str) -> Result<Vec<u8>, String> {
    let (_label, doc) = rsa::pkcs8::Document::from_pem(pem).map_err(|e| format!("PEM: {e}"))?;
    Ok(doc.as_bytes().to_vec())
}

enum Signer {
    Rsa(Arc<RsaKeyPair>),
    Ecdsa(Box<EcdsaKeyPair>),
}

/// One signing key with what every token signed by it shares.
pub(crate) struct SigningKey {
    signer: Signer,
    /// `BASE64URL(header JSON) + "."`, the start of every token this key signs.
    header_prefix: String,
    jwk: Jwk,
}

impl SigningKey {
    /// A compact JWS of `claims` (the same bytes `jsonwebtoken::encode` would make).
    pub(crate) fn sign<T: Serialize>(&self, claims: &T) -> Result<String, SandboxError> {
        let claims = serde_json::to_vec(claims).map_err(|e| SandboxError::Key(e.to_string()))?;
        let mut jwt = String::with_capacity(
            self.header_prefix.len() + claims.len() * 4 / 3 + 4 + 2 * 512 * 4 / 3,
        );
        jwt.push_str(&self.header_prefix);
        URL_SAFE_NO_PAD.encode_string(&claims, &mut jwt);
        let rng = rng();
        let signature = match &self.signer {
            Signer::Rsa(key) => {
                let mut sig = vec![0u8; key.public_modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, rng, jwt.as_bytes(), &mut sig)
                    .map_err(|e| SandboxError::Key(e.to_string()))?;
                sig
            }
            Signer::Ecdsa(key) => key
                .sign(rng, jwt.as_bytes())
                .map_err(|e| SandboxError::Key(e.to_string()))?
                .as_ref()
                .to_vec(),
        };
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut jwt);
        Ok(jwt)
    }
}

fn rng() -> &'static SystemRandom {
    static RNG: OnceLock<SystemRandom> = OnceLock::new();
    RNG.get_or_init(SystemRandom::new)
}

/// The current signing key; the previous one stays published in the JWKS until the next
/// rotation (i.e. the next-but-one rotation after it was current).
pub(crate) struct KeySet {
    alg: Algorithm,
    generation: u32,
    /// Random tag so that `kid`s of two sandboxes never collide in a client's cache.
    tag: String,
    current: Arc<SigningKey>,
    /// The JWKS document, serialised once per rotation.
    jwks_json: Bytes,
}

impl KeySet {
    pub(crate) fn new(alg: Algorithm) -> Result<Self, SandboxError> {
        let tag = super::state::random_token(4);
        let current = Arc::new(make_key(alg, 0, &tag)?);
        let jwks_json = jwks_json(&current, None)?;
        Ok(Self {
            alg,
            generation: 0,
            tag,
            current,
            jwks_json,
        })
    }

    /// Makes a new current key; the old current key stays published as the previous one.
    pub(crate) fn rotate(&mut self) -> Result<(), SandboxError> {
        let generation = self.generation.wrapping_add(1);
        let next = Arc::new(make_key(self.alg, generation, &self.tag)?);
        let jwks = jwks_json(&next, Some(&self.current))?;
        self.generation = generation;
        self.current = next;
        self.jwks_json = jwks;
        Ok(())
    }

    /// The JWKS document (JSON), ready to serve.
    pub(crate) fn jwks_json(&self) -> Bytes {
        self.jwks_json.clone()
    }

    /// The key that signs now: take it under the lock, sign after releasing it.
    pub(crate) fn current(&self) -> Arc<SigningKey> {
        Arc::clone(&self.current)
    }
}

/// The JWKS document of the current and the previous key.
fn jwks_json(current: &SigningKey, previous: Option<&SigningKey>) -> Result<Bytes, SandboxError> {
    let keys = std::iter::once(current)
        .chain(previous)
        .map(|k| k.jwk.clone())
        .collect();
    serde_json::to_vec(&JwkSet { keys })
        .map(Bytes::from)
        .map_err(|e| SandboxError::Key(e.to_string()))
}

fn make_key(alg: Algorithm, generation: u32, tag: &str) -> Result<SigningKey, SandboxError> {
    let (signer, params, key_algorithm) = match alg {
        Algorithm::RS256 => {
            let key = rsa_test_key((generation as usize) % RSA_TEST_KEYS.len())?;
            // aws-lc-rs gives the public key as a PKCS #1 `RSAPublicKey`; the JWK wants
            // n and e big-endian, without leading zeros.
            let public = rsa::RsaPublicKey::from_pkcs1_der(key.public_key().as_ref())
                .map_err(|e| SandboxError::Key(format!("RSA public key: {e}")))?;
            let params = AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                e: URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            });
            (Signer::Rsa(key), params, KeyAlgorithm::RS256)
        }
        Algorithm::ES256 => {
            let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
            let key = EcdsaKeyPair::generate(alg).map_err(|e| SandboxError::Key(e.to_string()))?;
            // Uncompressed point: 0x04 || x || y.
            let point = key.public_key().as_ref();
            let params = AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                key_type: EllipticCurveKeyType::EC,
                curve: EllipticCurve::P256,
                x: URL_SAFE_NO_PAD.encode(&point[1..33]),
                y: URL_SAFE_NO_PAD.encode(&point[33..65]),
            });
            (Signer::Ecdsa(Box::new(key)), params, KeyAlgorithm::ES256)
        }
        other => {
            return Err(SandboxError::Config(format!(
                "unsupported ID token algorithm {other:?} (use RS256 or ES256)"
            )))
        }
    };
    let kid = format!("sandbox-{}-{tag}-{generation}", alg_name(alg));
    let jwk = Jwk {
        common: CommonParameters {
            key_algorithm: Some(key_algorithm),
            key_id: Some(kid.clone()),
            public_key_use: Some(PublicKeyUse::Signature),
            ..Default::default()
        },
        algorithm: params,
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid);
    let header_json = serde_json::to_vec(&header).map_err(|e| SandboxError::Key(e.to_string()))?;
    let mut header_prefix = URL_SAFE_NO_PAD.encode(header_json);
    header_prefix.push('.');
    Ok(SigningKey {
        signer,
        header_prefix,
        jwk,
    })
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "es256",
        _ => "rs256",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Claims {
        sub: &'static str,
        iat: i64,
    }

    /// The aws-lc-rs signer makes exactly the token and the JWK jsonwebtoken made before.
    #[test]
    fn rs256_tokens_and_jwks_match_jsonwebtoken() {
        for generation in 0..3u32 {
            let key = make_key(Algorithm::RS256, generation, "tag").unwrap();
            let claims = Claims {
                sub: "alice",
                iat: 1_700_000_000,
            };
            let pem = RSA_TEST_KEYS[generation as usize];
            let reference = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(format!("sandbox-rs256-tag-{generation}"));
            let expected = jsonwebtoken::encode(&header, &claims, &reference).unwrap();
            assert_eq!(key.sign(&claims).unwrap(), expected);

            let mut jwk = Jwk::from_encoding_key(&reference, Algorithm::RS256).unwrap();
            jwk.common.key_id = header.kid.clone();
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            assert_eq!(
                serde_json::to_value(&key.jwk).unwrap(),
                serde_json::to_value(&jwk).unwrap()
            );
        }
    }

    /// ES256 tokens verify against the published JWK.
    #[test]
    fn es256_tokens_verify_against_the_jwk() {
        let key = make_key(Algorithm::ES256, 0, "tag").unwrap();
        let jwt = key
            .sign(&Claims {
                sub: "alice",
                iat: 1,
            })
            .unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_jwk(&key.jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(&jwt, &decoding, &validation).unwrap();
        assert_eq!(data.claims["sub"], "alice");
        assert_eq!(data.header.kid.as_deref(), Some("sandbox-es256-tag-0"));
    }

    #[test]
    fn rotation_publishes_the_current_and_the_previous_key() {
        let mut set = KeySet::new(Algorithm::RS256).unwrap();
        let kids = |set: &KeySet| -> Vec<String> {
            let jwks: JwkSet = serde_json::from_slice(&set.jwks_json()).unwrap();
            jwks.keys
                .into_iter()
                .filter_map(|k| k.common.key_id)
                .collect()
        };
        let tag = set.tag.clone();
        assert_eq!(kids(&set), [format!("sandbox-rs256-{tag}-0")]);
        set.rotate().unwrap();
        set.rotate().unwrap();
        assert_eq!(
            kids(&set),
            [
                format!("sandbox-rs256-{tag}-2"),
                format!("sandbox-rs256-{tag}-1")
            ]
        );
    }
}
