//! Writes the seed corpora under `fuzz/corpus/<target>/`: real signed ID tokens with
//! their JWKS (RS256 with the sandbox's public test key 1, ES256 with a key made here),
//! a real redirect, token answers and discovery documents from a running sandbox, the
//! config files, and real `FileStore` files (in clear and encrypted).
//!
//! Run from the repository root (stable is enough):
//! `cargo run --manifest-path fuzz/Cargo.toml --example seedgen`

use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lexoffice_login::store::{EncryptionKey, FileStore, StoreKey, TokenStore};
use lexoffice_login::TokenSet;
use lexoffice_login_sandbox::fuzzing::{
    PLANTED_ACCESS_TOKEN, PLANTED_CODE, PLANTED_REFRESH_TOKEN, PLANTED_VERIFIER,
};
use lexoffice_login_sandbox::{Sandbox, SandboxProfile, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The fuzz targets' clock (fuzz_targets/id_token.rs).
const NOW: i64 = 1_796_083_200;
/// The store_file target's key.
const KEY: [u8; 32] = [0x42; 32];

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    fs::create_dir_all(&dir).expect("corpus dir");
    dir
}

fn write(target: &str, name: &str, bytes: impl AsRef<[u8]>) {
    fs::write(corpus(target).join(name), bytes).expect("write seed");
}

fn id_tokens() {
    let rsa_pem = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../sandbox/src/keys/rsa-test-key-1.pem"))
        .expect("RSA test key 1");
    let rsa = EncodingKey::from_rsa_pem(&rsa_pem).expect("RSA key");
    let ec_secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let ec_der = {
        use p256::pkcs8::EncodePrivateKey;
        ec_secret.to_pkcs8_der().expect("EC key")
    };
    let ec = EncodingKey::from_ec_der(ec_der.as_bytes());
    let jwk = |key: &EncodingKey, alg: Algorithm, kid: &str| -> Jwk {
        let mut j = Jwk::from_encoding_key(key, alg).expect("JWK");
        j.common.key_id = Some(kid.into());
        j.common.public_key_use = Some(PublicKeyUse::Signature);
        j
    };
    let rsa_jwk = jwk(&rsa, Algorithm::RS256, "rsa-1");
    let ec_jwk = jwk(&ec, Algorithm::ES256, "ec-1");
    let both = serde_json::to_string(&JwkSet { keys: vec![rsa_jwk.clone(), ec_jwk.clone()] }).unwrap();
    let rsa_only = serde_json::to_string(&JwkSet { keys: vec![rsa_jwk] }).unwrap();
    let ec_only = serde_json::to_string(&JwkSet { keys: vec![ec_jwk] }).unwrap();
    let base = json!({
        "iss": "https://id.example.com",
        "sub": "user-1",
        "aud": "client-1",
        "iat": NOW - 10,
        "exp": NOW + 3600,
        "auth_time": NOW - 20,
        "nonce": "fuzz-nonce",
        "email": "user@example.com",
        "name": "Fuzz User",
    });
    let sign = |alg: Algorithm, kid: Option<&str>, claims: &serde_json::Value| -> String {
        let mut h = Header::new(alg);
        h.kid = kid.map(str::to_owned);
        let key = if alg == Algorithm::ES256 { &ec } else { &rsa };
        jsonwebtoken::encode(&h, claims, key).expect("sign")
    };
    let with = |changes: serde_json::Value| {
        let mut c = base.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("rs256-valid", sign(Algorithm::RS256, Some("rsa-1"), &base), &both),
        ("es256-valid", sign(Algorithm::ES256, Some("ec-1"), &base), &both),
        ("rs256-no-kid", sign(Algorithm::RS256, None, &base), &rsa_only),
        ("es256-no-kid", sign(Algorithm::ES256, None, &base), &ec_only),
        ("rs256-aud-array-azp", sign(Algorithm::RS256, Some("rsa-1"), &with(json!({"aud": ["client-1", "other"], "azp": "client-1"}))), &both),
        ("rs256-expired", sign(Algorithm::RS256, Some("rsa-1"), &with(json!({"exp": NOW - 3600, "iat": NOW - 7200}))), &both),
        ("rs256-nbf-future", sign(Algorithm::RS256, Some("rsa-1"), &with(json!({"nbf": NOW + 600}))), &both),
        ("rs256-wrong-nonce", sign(Algorithm::RS256, Some("rsa-1"), &with(json!({"nonce": "other"}))), &both),
        ("rs256-no-nonce", sign(Algorithm::RS256, Some("rsa-1"), &with(json!({"nonce": null}))), &both),
        ("rs256-wrong-iss", sign(Algorithm::RS256, Some("rsa-1"), &with(json!({"iss": "https://evil.example.com"}))), &both),
        ("rs256-at-hash", sign(Algorithm::RS256, Some("rsa-1"), &with(json!({"at_hash": "77QmUPtjPfzWtF2AnpK9RQ"}))), &both),
        ("es256-unknown-kid", sign(Algorithm::ES256, Some("ec-2"), &base), &both),
    ];
    for (name, token, jwks) in cases {
        write("id_token", name, format!("{token}\n{jwks}"));
    }
    // An unsigned token (alg none) and an HS256 one: must never verify.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(base.to_string());
    write("id_token", "alg-none", format!("{header}.{payload}.\n{both}"));
    let hs = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &base, &EncodingKey::from_secret(b"secret")).unwrap();
    write("id_token", "hs256", format!("{hs}\n{both}"));
}

fn raw_request(router: u8, lines: &str) -> Vec<u8> {
    let mut v = vec![router];
    v.extend_from_slice(lines.as_bytes());
    v
}

fn sandbox_requests() {
    let basic = STANDARD.encode(format!("{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}"));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(PLANTED_VERIFIER.as_bytes()));
    let redirect = "http%3A%2F%2F127.0.0.1%3A8765%2Fcallback";
    let form = "Content-Type: application/x-www-form-urlencoded";
    let reqs: Vec<(&str, Vec<u8>)> = vec![
        ("discovery", raw_request(0, "GET /.well-known/openid-configuration\n\n")),
        ("discovery-quickbooks", raw_request(4, "GET /.well-known/openid_configuration\n\n")),
        ("jwks", raw_request(0, "GET /oauth2/jwks\n\n")),
        ("authorize", raw_request(0, &format!("GET /oauth2/authorize?response_type=code&client_id={DEFAULT_CLIENT_ID}&redirect_uri={redirect}&scope=openid%20profile%20offline_access&state=st-1&nonce=n-1&code_challenge={challenge}&code_challenge_method=S256\n\n"))),
        ("authorize-lexoffice", raw_request(1, &format!("GET /oauth2/authorize?response_type=code&client_id={DEFAULT_CLIENT_ID}&redirect_uri={redirect}&scope=profile.read%20contacts.read&state=st-1&connection_name=app\n\n"))),
        ("authorize-interactive", raw_request(5, &format!("GET /oauth2/authorize?response_type=code&client_id={DEFAULT_CLIENT_ID}&redirect_uri={redirect}&scope=openid&state=st-1&nonce=n-1&code_challenge={challenge}&code_challenge_method=S256\n\n"))),
        ("decision", raw_request(5, &format!("POST /oauth2/authorize/decision\n{form}\n\nrequest_id=abc&user=user-1&decision=allow"))),
        ("token-code", raw_request(0, &format!("POST /oauth2/token\n{form}\nAuthorization: Basic {basic}\n\ngrant_type=authorization_code&code={PLANTED_CODE}&redirect_uri={redirect}&code_verifier={PLANTED_VERIFIER}"))),
        ("token-code-post", raw_request(0, &format!("POST /oauth2/token\n{form}\n\ngrant_type=authorization_code&code={PLANTED_CODE}&redirect_uri={redirect}&code_verifier={PLANTED_VERIFIER}&client_id={DEFAULT_CLIENT_ID}&client_secret={DEFAULT_CLIENT_SECRET}"))),
        ("token-refresh", raw_request(0, &format!("POST /oauth2/token\n{form}\nAuthorization: Basic {basic}\n\ngrant_type=refresh_token&refresh_token={PLANTED_REFRESH_TOKEN}&scope=openid"))),
        ("token-refresh-xero", raw_request(3, &format!("POST /oauth2/token\n{form}\n\ngrant_type=refresh_token&refresh_token={PLANTED_REFRESH_TOKEN}&client_id={DEFAULT_CLIENT_ID}"))),
        ("token-datev", raw_request(6, &format!("POST /oauth2/token\n{form}\nAuthorization: Basic {basic}\n\ngrant_type=authorization_code&code={PLANTED_CODE}&redirect_uri={redirect}&code_verifier={PLANTED_VERIFIER}"))),
        ("token-quickbooks", raw_request(4, &format!("POST /oauth2/token\n{form}\nAuthorization: Basic {basic}\nAccept: application/json\n\ngrant_type=refresh_token&refresh_token={PLANTED_REFRESH_TOKEN}"))),
        ("revoke", raw_request(0, &format!("POST /oauth2/revoke\n{form}\nAuthorization: Basic {basic}\n\ntoken={PLANTED_REFRESH_TOKEN}&token_type_hint=refresh_token"))),
        ("revoke-quickbooks-json", raw_request(4, &format!("POST /oauth2/revoke\nContent-Type: application/json\nAuthorization: Basic {basic}\n\n{{\"token\":\"{PLANTED_REFRESH_TOKEN}\"}}"))),
        ("introspect", raw_request(0, &format!("POST /oauth2/introspect\n{form}\nAuthorization: Basic {basic}\n\ntoken={PLANTED_ACCESS_TOKEN}"))),
        ("userinfo", raw_request(0, &format!("GET /oauth2/userinfo\nAuthorization: Bearer {PLANTED_ACCESS_TOKEN}\n\n"))),
        ("profile", raw_request(1, &format!("GET /v1/profile\nAuthorization: Bearer {PLANTED_ACCESS_TOKEN}\n\n"))),
        ("contacts", raw_request(1, &format!("GET /v1/contacts?page=0&size=25\nAuthorization: Bearer {PLANTED_ACCESS_TOKEN}\n\n"))),
        ("datev-clients", raw_request(6, &format!("GET /datev/api/clients\nAuthorization: Bearer {PLANTED_ACCESS_TOKEN}\nX-DATEV-Client-Id: {DEFAULT_CLIENT_ID}\n\n"))),
        ("xero-connections", raw_request(3, &format!("GET /connections\nAuthorization: Bearer {PLANTED_ACCESS_TOKEN}\n\n"))),
        ("xero-organisation", raw_request(3, &format!("GET /api.xro/2.0/Organisation\nAuthorization: Bearer {PLANTED_ACCESS_TOKEN}\nxero-tenant-id: 00000000-0000-0000-0000-000000000000\n\n"))),
        ("quickbooks-company", raw_request(4, &format!("GET /v3/company/123/companyinfo/123\nAuthorization: Bearer {PLANTED_ACCESS_TOKEN}\nAccept: application/json\n\n"))),
    ];
    for (name, bytes) in reqs {
        write("sandbox_request", name, bytes);
    }
}

async fn from_sandbox() {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    // Discovery documents as served, and one rewritten to the fuzz target's issuer with
    // https endpoints, so that the fuzzer reaches the checks after the issuer's.
    for (profile, path) in [
        (SandboxProfile::Oidc, "/.well-known/openid-configuration"),
        (SandboxProfile::Datev, "/.well-known/openid-configuration"),
        (SandboxProfile::QuickBooks, "/.well-known/openid_configuration"),
    ] {
        let sb = Sandbox::builder().profile(profile).start().await.expect("sandbox");
        let body = http.get(sb.url(path)).send().await.unwrap().text().await.unwrap();
        write("discovery", &format!("sandbox-{}.json", pname(profile)), &body);
        let rewritten = body
            .replace(sb.issuer(), "https://id.example.com")
            .replace(sb.second_host().unwrap_or("\u{0}"), "https://api.example.com");
        write("discovery", &format!("rewritten-{}.json", pname(profile)), rewritten);
    }
    // A real redirect and token answers (Oidc, Lexoffice).
    for profile in [SandboxProfile::Oidc, SandboxProfile::Lexoffice] {
        let sb = Sandbox::builder().profile(profile).start().await.expect("sandbox");
        let verifier = PLANTED_VERIFIER;
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let scope = if profile == SandboxProfile::Oidc { "openid profile offline_access" } else { "profile.read contacts.read" };
        let mut auth = sb.url("/oauth2/authorize");
        auth.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", sb.client_id())
            .append_pair("redirect_uri", sb.redirect_uri())
            .append_pair("scope", scope)
            .append_pair("state", "state-from-the-login")
            .append_pair("nonce", "nonce-from-the-login")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let resp = http.get(auth).send().await.unwrap();
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        write("callback", &format!("sandbox-{}-redirect", pname(profile)), &location);
        // The same redirect as the fuzz target's login would get it (its issuer, and the
        // placeholder FUZZ_STATE for the login's random state, see RESULTS.md).
        let own = location
            .replace("state-from-the-login", "FUZZ_STATE")
            .replace(&url::form_urlencoded::byte_serialize(sb.issuer().as_bytes()).collect::<String>(), "https%3A%2F%2Fid.example.com");
        write("callback", &format!("fuzz-state-{}-redirect", pname(profile)), &own);
        let query = url::Url::parse(&location).unwrap();
        write("callback", &format!("sandbox-{}-query", pname(profile)), query.query().unwrap_or(""));
        let code = query.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        let answer = http
            .post(sb.endpoint_url("/oauth2/token"))
            .basic_auth(sb.client_id(), sb.client_secret())
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", sb.redirect_uri()),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        write("token_answer", &format!("sandbox-{}-code.json", pname(profile)), &answer);
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
        if let Some(rt) = v["refresh_token"].as_str() {
            let refreshed = http
                .post(sb.endpoint_url("/oauth2/token"))
                .basic_auth(sb.client_id(), sb.client_secret())
                .form(&[("grant_type", "refresh_token"), ("refresh_token", rt)])
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            write("token_answer", &format!("sandbox-{}-refresh.json", pname(profile)), &refreshed);
        }
    }
    for (name, text) in [
        ("error-redirect", "http://127.0.0.1:8765/callback?error=access_denied&error_description=The+user+said+no&state=x&iss=https%3A%2F%2Fid.example.com"),
        ("iss-mismatch", "http://127.0.0.1:8765/callback?code=abc&state=x&iss=https%3A%2F%2Fevil.example.com"),
        ("realmid", "http://127.0.0.1:8765/callback?code=abc&state=x&realmId=123"),
        ("fuzz-state-error", "http://127.0.0.1:8765/callback?error=access_denied&error_description=no&state=FUZZ_STATE&iss=https%3A%2F%2Fid.example.com"),
        ("fuzz-state-no-iss", "code=abc&state=FUZZ_STATE"),
    ] {
        write("callback", name, text);
    }
    for (name, text) in [
        ("expires-in-string.json", r#"{"access_token":"a","token_type":"Bearer","expires_in":"3600","refresh_token":"r","scope":"openid profile"}"#),
        ("error.json", r#"{"error":"invalid_grant","error_description":"the code was used"}"#),
        ("quickbooks.json", r#"{"access_token":"a","token_type":"bearer","expires_in":3600,"refresh_token":"r","x_refresh_token_expires_in":8726400}"#),
    ] {
        write("token_answer", name, text);
    }
}

async fn store_files() {
    let tokens: TokenSet = serde_json::from_value(json!({
        "access_token": "access-token-value",
        "token_type": "Bearer",
        "refresh_token": "refresh-token-value",
        "expires_at": "2026-12-01T01:00:00Z",
        "scopes": "openid profile.read contacts.read",
        "obtained_at": "2026-12-01T00:00:00Z",
        "extras": {"x_refresh_token_expires_in": 8726400},
    }))
    .expect("a TokenSet");
    // `fuzz.default.json`: the name the fuzz entry point decodes under (the AEAD's
    // associated data), so the encrypted file decrypts there.
    let key = StoreKey::new("fuzz", "default");
    for (selector, store_key) in [(0u8, None), (1u8, Some(KEY))] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut b = FileStore::builder().dir(dir.path()).ignore_env_key();
        if let Some(k) = store_key {
            b = b.key(EncryptionKey::from_bytes(k));
        }
        let store = b.build().expect("FileStore");
        store.save(&key, &tokens).await.expect("save");
        let bytes = fs::read(store.path_for(&key)).expect("the store file");
        let mut seed = vec![selector];
        seed.extend_from_slice(&bytes);
        let name = if selector == 0 { "filestore-clear" } else { "filestore-encrypted" };
        write("store_file", name, &seed);
        // The same file offered the other way round (clear to a keyed store, ...).
        seed[0] ^= 1;
        write("store_file", &format!("{name}-other-mode"), &seed);
    }
}

fn configs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    for name in ["default.toml", "local.toml", "sandbox.toml", "production.toml"] {
        let text = fs::read(root.join(name)).expect("config file");
        write("config", name, text);
    }
    write(
        "config",
        "env-vars",
        "$CLIENT_SECRET=s3cret\n$HTTP__REQUEST_TIMEOUT_SECS=5\n$SCOPES=openid profile\n$EXTRA_AUTHORIZE_PARAMS__prompt=consent\nissuer = \"https://id.example.com\"\nclient_id = \"client-1\"\n",
    );
    write(
        "config",
        "provider",
        "provider = \"lexoffice\"\nclient_id = \"c\"\nclient_secret = \"s\"\nredirect_uri = \"http://127.0.0.1:9000/cb\"\n[http]\nconnect_timeout_secs = 3\n",
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    id_tokens();
    sandbox_requests();
    configs();
    from_sandbox().await;
    store_files().await;
    println!("seeds written under {}", corpus("").display());
    check();
}

/// Prints what each entry point makes of the seeds (the valid ID tokens must verify).
fn check() {
    use lexoffice_login::fuzzing;
    let now = chrono::DateTime::from_timestamp(NOW, 0).unwrap();
    let mut names: Vec<_> = fs::read_dir(corpus("id_token")).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    for p in names {
        let bytes = fs::read(&p).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let (token, jwks) = text.split_once('\n').unwrap();
        let r = fuzzing::id_token(token, jwks.as_bytes(), "fuzz-nonce", now);
        println!("id_token {}: {:?}", p.file_name().unwrap().to_string_lossy(), r.map_err(|e| e.to_string()));
    }
    for target in ["token_answer", "discovery"] {
        for e in fs::read_dir(corpus(target)).unwrap() {
            let p = e.unwrap().path();
            let bytes = fs::read(&p).unwrap();
            let r = if target == "discovery" { fuzzing::discovery(&bytes) } else { fuzzing::token_answer(&bytes) };
            println!("{target} {}: {:?}", p.file_name().unwrap().to_string_lossy(), r.map_err(|e| e.to_string()));
        }
    }
    for e in fs::read_dir(corpus("store_file")).unwrap() {
        let p = e.unwrap().path();
        let bytes = fs::read(&p).unwrap();
        let key = (bytes[0] & 1 == 1).then_some(KEY);
        let r = fuzzing::store_file(&bytes[1..], key);
        println!("store_file {}: {:?}", p.file_name().unwrap().to_string_lossy(), r.map_err(|e| e.to_string()));
    }
    for e in fs::read_dir(corpus("callback")).unwrap() {
        let p = e.unwrap().path();
        let text = fs::read_to_string(&p).unwrap();
        let r = fuzzing::callback(&text);
        println!("callback {}: {:?}", p.file_name().unwrap().to_string_lossy(), r.map_err(|e| e.to_string()));
    }
}

fn pname(p: SandboxProfile) -> String {
    format!("{p:?}").to_lowercase()
}
