//! Signing keys of the sandbox and its JWKS.
//!
//! RS256 uses three fixed RSA-2048 keys compiled into the crate (`keys/*.pem`): they are
//! PUBLIC TEST KEYS, published with the source, and must never protect anything real.
//! Generating RSA keys at run time is too slow in debug builds. ES256 keys are generated
//! at run time with `p256`.

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::SandboxError;

/// Public test keys (see `keys/README.md`). Not secret.
const RSA_TEST_KEYS: [&str; 3] = [
    include_str!("keys/rsa-test-key-1.pem"),
    include_str!("keys/rsa-test-key-2.pem"),
    include_str!("keys/rsa-test-key-3.pem"),
];

struct SigningKey {
    kid: String,
    alg: Algorithm,
    key: EncodingKey,
    jwk: Jwk,
}

/// The current signing key plus the previous one (kept published until the next
/// rotation, i.e. the next-but-one rotation after it was current).
pub(crate) struct KeySet {
    alg: Algorithm,
    generation: u32,
    /// Random tag so that `kid`s of two sandboxes never collide in a client's cache.
    tag: String,
    current: SigningKey,
    previous: Option<SigningKey>,
}

impl KeySet {
    pub(crate) fn new(alg: Algorithm) -> Result<Self, SandboxError> {
        let tag = super::state::random_token(4);
        let current = make_key(alg, 0, &tag)?;
        Ok(Self {
            alg,
            generation: 0,
            tag,
            current,
            previous: None,
        })
    }

    /// Makes a new current key; the old current key stays published as the previous one.
    pub(crate) fn rotate(&mut self) -> Result<(), SandboxError> {
        let generation = self.generation.wrapping_add(1);
        let next = make_key(self.alg, generation, &self.tag)?;
        self.generation = generation;
        self.previous = Some(std::mem::replace(&mut self.current, next));
        Ok(())
    }

    pub(crate) fn jwks(&self) -> JwkSet {
        let mut keys = vec![self.current.jwk.clone()];
        if let Some(p) = &self.previous {
            keys.push(p.jwk.clone());
        }
        JwkSet { keys }
    }

    pub(crate) fn sign<T: Serialize>(&self, claims: &T) -> Result<String, SandboxError> {
        let mut header = Header::new(self.current.alg);
        header.kid = Some(self.current.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.current.key)?)
    }
}

fn make_key(alg: Algorithm, generation: u32, tag: &str) -> Result<SigningKey, SandboxError> {
    let key = match alg {
        Algorithm::RS256 => {
            let pem = RSA_TEST_KEYS[(generation as usize) % RSA_TEST_KEYS.len()];
            EncodingKey::from_rsa_pem(pem.as_bytes())?
        }
        Algorithm::ES256 => {
            use p256::pkcs8::EncodePrivateKey;
            let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
            let der = secret
                .to_pkcs8_der()
                .map_err(|e| SandboxError::Key(e.to_string()))?;
            EncodingKey::from_ec_der(der.as_bytes())
        }
        other => {
            return Err(SandboxError::Config(format!(
                "unsupported ID token algorithm {other:?} (use RS256 or ES256)"
            )))
        }
    };
    let kid = format!("sandbox-{}-{tag}-{generation}", alg_name(alg));
    let mut jwk = Jwk::from_encoding_key(&key, alg)?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok(SigningKey { kid, alg, key, jwk })
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "es256",
        _ => "rs256",
    }
}
