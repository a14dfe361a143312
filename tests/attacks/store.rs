//! The token files of a `FileStore`: planted, damaged, foreign and mis-keyed files, and
//! bad keys. Each case prepares the folder, then reads it with a store.

use std::path::Path;

use lexoffice_login::store::{
    Encryption, EncryptionKey, FileStore, StoreError, StoreKey, TokenStore,
};
use lexoffice_login::TokenSet;
use serde_json::{json, Value};

use crate::harness::*;
use crate::refused;

const CATEGORY: &str = "store";

/// Which store writes the file first.
#[derive(Clone, Copy)]
enum Writer {
    Nothing,
    Plain,
    KeyA,
}

/// Which store reads it.
#[derive(Clone, Copy)]
enum Reader {
    Plain,
    KeyA,
    KeyB,
    /// Key A and `require_encryption(true)`.
    StrictA,
}

struct Case {
    name: &'static str,
    writer: Writer,
    /// Changes the written file's JSON (or replaces its bytes when it returns some).
    tamper: fn(&mut Value) -> Option<Vec<u8>>,
    reader: Reader,
    expect: Expect<StoreError>,
}

fn key_a() -> EncryptionKey {
    EncryptionKey::from_bytes([7; 32])
}

fn key_b() -> EncryptionKey {
    EncryptionKey::from_bytes([9; 32])
}

fn store(dir: &Path, key: Option<EncryptionKey>, strict: bool) -> Result<FileStore, StoreError> {
    let mut b = FileStore::builder().dir(dir).ignore_env_key();
    if let Some(k) = key {
        b = b.key(k);
    }
    b.require_encryption(strict).build()
}

fn login_key() -> StoreKey {
    StoreKey::new("attacks", "default")
}

fn tokens() -> TokenSet {
    serde_json::from_value(json!({
        "access_token": AT, "token_type": "Bearer", "refresh_token": RT,
        "expires_at": "2030-01-01T00:00:00Z", "scopes": "openid",
        "obtained_at": "2029-12-31T23:00:00Z"
    }))
    .expect("tokens")
}

fn untouched(_: &mut Value) -> Option<Vec<u8>> {
    None
}

fn case(name: &'static str, writer: Writer, reader: Reader, expect: Expect<StoreError>) -> Case {
    Case {
        name,
        writer,
        tamper: untouched,
        reader,
        expect,
    }
}

fn flip_b64(v: &mut Value, field: &str) {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    let mut bytes = STANDARD.decode(v[field].as_str().unwrap()).unwrap();
    bytes[0] ^= 1;
    v[field] = json!(STANDARD.encode(bytes));
}

fn cases() -> Vec<Case> {
    use Reader as R;
    use Writer as W;
    vec![
        case(
            "control: encrypted, read with its key",
            W::KeyA,
            R::KeyA,
            Expect::Accepted,
        ),
        case(
            "control: encrypted, read by a strict store",
            W::KeyA,
            R::StrictA,
            Expect::Accepted,
        ),
        case(
            "control: in clear, read by a plain store",
            W::Plain,
            R::Plain,
            Expect::Accepted,
        ),
        case(
            "control: in clear, read by a keyed store (not strict)",
            W::Plain,
            R::KeyA,
            Expect::Accepted,
        ),
        case("control: no file", W::Nothing, R::StrictA, Expect::Accepted),
        case(
            "a file in clear planted for a strict store",
            W::Plain,
            R::StrictA,
            refused!(StoreError::PlaintextRefused { .. }),
        ),
        Case {
            tamper: |v| {
                v["tokens"]["access_token"] = json!("planted-access-token");
                None
            },
            ..case(
                "a planted file in clear with other tokens, for a strict store",
                W::Plain,
                R::StrictA,
                refused!(StoreError::PlaintextRefused { .. }),
            )
        },
        case(
            "encrypted with another key",
            W::KeyA,
            R::KeyB,
            refused!(StoreError::Decrypt { .. }),
        ),
        case(
            "encrypted, read without a key",
            W::KeyA,
            R::Plain,
            refused!(StoreError::KeyMissing { .. }),
        ),
        Case {
            tamper: |v| {
                flip_b64(v, "ciphertext");
                None
            },
            ..case(
                "a flipped ciphertext bit",
                W::KeyA,
                R::KeyA,
                refused!(StoreError::Decrypt { .. }),
            )
        },
        Case {
            tamper: |v| {
                flip_b64(v, "nonce");
                None
            },
            ..case(
                "a flipped nonce bit",
                W::KeyA,
                R::KeyA,
                refused!(StoreError::Decrypt { .. }),
            )
        },
        Case {
            tamper: |v| {
                v.as_object_mut().unwrap().remove("nonce");
                None
            },
            ..case(
                "no nonce",
                W::KeyA,
                R::KeyA,
                refused!(StoreError::Corrupt { .. }),
            )
        },
        Case {
            tamper: |v| {
                v["nonce"] = json!("AAAA");
                None
            },
            ..case(
                "a nonce of three bytes",
                W::KeyA,
                R::KeyA,
                refused!(StoreError::Corrupt { .. }),
            )
        },
        Case {
            tamper: |v| {
                v["ciphertext"] = json!("%%% not base64 %%%");
                None
            },
            ..case(
                "a ciphertext that is not base64",
                W::KeyA,
                R::KeyA,
                refused!(StoreError::Corrupt { .. }),
            )
        },
        Case {
            tamper: |_| Some(b"this is not json".to_vec()),
            ..case(
                "garbage",
                W::Plain,
                R::Plain,
                refused!(StoreError::Corrupt { .. }),
            )
        },
        Case {
            tamper: |_| Some(Vec::new()),
            ..case(
                "an empty file",
                W::Plain,
                R::Plain,
                refused!(StoreError::Corrupt { .. }),
            )
        },
        Case {
            tamper: |v| {
                v["v"] = json!(2);
                None
            },
            ..case(
                "format version 2",
                W::KeyA,
                R::KeyA,
                refused!(StoreError::UnsupportedFormat { version: 2, .. }),
            )
        },
        Case {
            tamper: |v| {
                v["alg"] = json!("rot13");
                None
            },
            ..case(
                "an unknown algorithm",
                W::KeyA,
                R::KeyA,
                refused!(StoreError::UnsupportedFormat { alg, .. } if alg == "rot13"),
            )
        },
        Case {
            tamper: |v| {
                v["tokens"] = json!({"access_token": 5});
                None
            },
            ..case(
                "malformed tokens in clear",
                W::Plain,
                R::Plain,
                refused!(StoreError::Corrupt { .. }),
            )
        },
        Case {
            tamper: |v| {
                v.as_object_mut().unwrap().remove("tokens");
                None
            },
            ..case(
                "no tokens in clear",
                W::Plain,
                R::Plain,
                refused!(StoreError::Corrupt { .. }),
            )
        },
    ]
}

async fn run_case(case: Case) -> Outcome {
    let dir = tempfile::tempdir().expect("temp dir");
    remember("store key", key_a().to_base64());
    remember("store key", key_b().to_base64());
    let key = login_key();
    let writer = match case.writer {
        Writer::Nothing => None,
        Writer::Plain => Some(store(dir.path(), None, false).unwrap()),
        Writer::KeyA => Some(store(dir.path(), Some(key_a()), false).unwrap()),
    };
    if let Some(w) = &writer {
        w.save(&key, &tokens()).await.expect("save");
        let file = w.path_for(&key);
        let mut v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let bytes = (case.tamper)(&mut v).unwrap_or_else(|| serde_json::to_vec(&v).unwrap());
        std::fs::write(&file, bytes).unwrap();
    }
    let reader = match case.reader {
        Reader::Plain => store(dir.path(), None, false),
        Reader::KeyA => store(dir.path(), Some(key_a()), false),
        Reader::KeyB => store(dir.path(), Some(key_b()), false),
        Reader::StrictA => store(dir.path(), Some(key_a()), true),
    }
    .expect("reader");
    let result = reader.load(&key).await;
    let outcome = judge(CATEGORY, case.name, &case.expect, &result);
    // The store reports how the file is really kept, whatever its own key.
    let really = reader.file_encryption(&key).await;
    let expected = match case.writer {
        Writer::Nothing => None,
        Writer::Plain => Some(Encryption::None),
        Writer::KeyA => Some(Encryption::ChaCha20Poly1305),
    };
    let checkable = matches!(case.expect, Expect::Accepted) || case.name.contains("planted");
    let outcome = outcome.also(
        !checkable || really.as_ref().ok() == Some(&expected),
        || format!("file_encryption is {really:?}, not {expected:?}"),
    );
    let loaded_right = match &result {
        Ok(Some(t)) => t.access_token.secret() == AT,
        Ok(None) => matches!(case.writer, Writer::Nothing),
        Err(_) => true,
    };
    outcome.also(loaded_right, || {
        "the tokens read are not the ones saved".into()
    })
}

/// Keys and store settings that must be refused before any file is touched.
fn bad_keys() -> Vec<(&'static str, Result<(), StoreError>, Expect<StoreError>)> {
    let dir = std::env::temp_dir();
    vec![
        (
            "a key of five bytes",
            EncryptionKey::from_base64("c2hvcnQ=").map(drop),
            refused!(StoreError::BadKey { .. }),
        ),
        (
            "a key that is not base64",
            EncryptionKey::from_base64("!!! not base64 !!!").map(drop),
            refused!(StoreError::BadKey { .. }),
        ),
        (
            "a key of 33 bytes",
            EncryptionKey::from_base64(&{
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode([1u8; 33])
            })
            .map(drop),
            refused!(StoreError::BadKey { .. }),
        ),
        (
            "required encryption without a key",
            FileStore::builder()
                .dir(&dir)
                .ignore_env_key()
                .require_encryption(true)
                .build()
                .map(drop),
            refused!(StoreError::EncryptionRequired),
        ),
        (
            "control: a key of 32 bytes",
            EncryptionKey::from_base64(&key_a().to_base64()).map(drop),
            Expect::Accepted,
        ),
    ]
}

pub async fn run() -> Vec<Outcome> {
    let mut out = run_all(
        CATEGORY,
        cases()
            .into_iter()
            .map(|c| (c.name.to_owned(), run_case(c)))
            .collect(),
    )
    .await;
    for (name, result, expect) in bad_keys() {
        out.push(judge(CATEGORY, name, &expect, &result));
    }
    out
}
