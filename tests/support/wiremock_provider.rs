//! Shared harness of the `flow_*` tests: a wiremock provider (discovery, JWKS, token,
//! revocation, userinfo), ID tokens signed in the test, and a login in progress.
//!
//! Not every test file uses every helper.
#![allow(dead_code)]

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lexoffice_login::{Client, Error, PendingLogin, Settings, SettingsBuilder, TokenSet};
use serde_json::{json, Value};
use sha2::Digest as _;
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const CLIENT_ID: &str = "client-1";
pub const SECRET: &str = "s3cret";
pub const REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";
/// `base64("client-1:s3cret")`.
pub const BASIC_AUTH: &str = "Basic Y2xpZW50LTE6czNjcmV0";
pub const ACCESS_TOKEN: &str = "at-1";
pub const SUBJECT: &str = "user-1";

pub const RSA_PEM_1: &str = include_str!("../../sandbox/src/keys/rsa-test-key-1.pem");
pub const RSA_PEM_2: &str = include_str!("../../sandbox/src/keys/rsa-test-key-2.pem");

/// A signing key and the JWK that publishes its public half.
pub struct Key {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Jwk,
    /// The private key in PEM (PKCS#8).
    pub pem: String,
}

impl Key {
    fn new(kid: &str, alg: Algorithm, encoding: EncodingKey, pem: String) -> Key {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).expect("JWK from key");
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Key {
            kid: kid.to_owned(),
            alg,
            encoding,
            jwk,
            pem,
        }
    }

    /// An RS256 key from one of the fixed test PEMs.
    pub fn rsa(kid: &str, pem: &str) -> Key {
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("RSA PEM");
        Key::new(kid, Algorithm::RS256, encoding, pem.to_owned())
    }

    /// A fresh ES256 key.
    pub fn ec(kid: &str) -> Key {
        use p256::pkcs8::EncodePrivateKey as _;
        let secret = p256::SecretKey::random(&mut rand::thread_rng());
        let pem = secret
            .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .expect("PKCS#8 PEM")
            .to_string();
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).expect("EC PEM");
        Key::new(kid, Algorithm::ES256, encoding, pem)
    }

    /// The public key in SPKI PEM (RSA keys only).
    pub fn rsa_public_pem(&self) -> String {
        use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
        let private = rsa::RsaPrivateKey::from_pkcs8_pem(&self.pem).expect("RSA PEM");
        private
            .to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .expect("public PEM")
    }

    /// The JWK's JSON, as published in the JWKS.
    pub fn jwk_json(&self) -> Value {
        serde_json::to_value(&self.jwk).expect("JWK JSON")
    }

    /// Signs `claims` with this key, its `alg` and its `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(claims, Some(&self.kid))
    }

    /// Signs `claims` with this key but another (or no) `kid` in the header.
    pub fn sign_as(&self, claims: &Value, kid: Option<&str>) -> String {
        let mut header = Header::new(self.alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

/// A JWS with an arbitrary header and signature bytes.
pub fn raw_jws(header: &Value, claims: &Value, signature: &[u8]) -> String {
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"));
    format!(
        "{}.{}.{}",
        enc(header),
        enc(claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// OpenID Connect Core 3.1.3.6: base64url of the left half of SHA-256 of the token.
pub fn at_hash(access_token: &str) -> String {
    let digest = sha2::Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The discovery document of a provider at `issuer`.
pub fn discovery_doc(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "authorization_response_iss_parameter_supported": false,
    })
}

pub fn jwks(keys: &[&Key]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk_json()).collect::<Vec<_>>() })
}

/// A wiremock provider with an RS256 and an ES256 key.
pub struct Provider {
    pub server: MockServer,
    pub rsa: Key,
    pub ec: Key,
}

impl Provider {
    /// Discovery (the standard document) and the JWKS with both keys.
    pub async fn start() -> Provider {
        Provider::start_with(|_| {}).await
    }

    /// Discovery with the document changed by `edit`, and the JWKS with both keys.
    pub async fn start_with(edit: impl FnOnce(&mut Value)) -> Provider {
        let p = Provider::bare().await;
        let mut doc = discovery_doc(&p.issuer());
        edit(&mut doc);
        p.mount_discovery(doc).await;
        p.mount_jwks(&[&p.rsa, &p.ec]).await;
        p
    }

    /// A server with nothing mounted.
    pub async fn bare() -> Provider {
        Provider {
            server: MockServer::start().await,
            rsa: Key::rsa("rsa-1", RSA_PEM_1),
            ec: Key::ec("ec-1"),
        }
    }

    pub fn issuer(&self) -> String {
        self.server.uri()
    }

    pub fn url(&self, p: &str) -> String {
        format!("{}{p}", self.server.uri())
    }

    pub async fn mount_discovery(&self, doc: Value) {
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(doc))
            .mount(&self.server)
            .await;
    }

    pub async fn mount_jwks(&self, keys: &[&Key]) {
        Mock::given(method("GET"))
            .and(path("/jwks"))
            .respond_with(ResponseTemplate::new(200).set_body_json(jwks(keys)))
            .mount(&self.server)
            .await;
    }

    /// The token endpoint answers `body` (200, JSON) to every request.
    pub async fn mount_token(&self, body: Value) {
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&self.server)
            .await;
    }

    /// The token endpoint answers with `response` to every request.
    pub async fn mount_token_response(&self, response: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(response)
            .mount(&self.server)
            .await;
    }

    /// Settings for this provider: confidential client, `openid profile`, short timeouts.
    pub fn settings(&self) -> SettingsBuilder {
        Settings::builder(self.issuer(), CLIENT_ID, REDIRECT_URI)
            .client_secret(SECRET)
            .scopes(["openid", "profile"])
            .clock_skew(Duration::from_secs(60))
            .timeouts(Duration::from_secs(5), Duration::from_secs(5))
            .jwks_refetch_cooldown(Duration::from_secs(30))
    }

    pub async fn client(&self) -> Client {
        self.client_with(self.settings()).await
    }

    pub async fn client_with(&self, settings: SettingsBuilder) -> Client {
        Client::connect(settings.build().expect("settings"))
            .await
            .expect("discovery")
    }

    /// Valid ID-token claims for `login`.
    pub fn claims(&self, login: &Login) -> Value {
        let now = now();
        let mut c = json!({
            "iss": self.issuer(),
            "sub": SUBJECT,
            "aud": CLIENT_ID,
            "exp": now + 300,
            "iat": now,
            "at_hash": at_hash(ACCESS_TOKEN),
            "name": "Erika Mustermann",
        });
        if let Some(nonce) = &login.nonce {
            c["nonce"] = json!(nonce);
        }
        c
    }

    /// All requests the server received at `p`.
    pub async fn requests_to(&self, p: &str) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .expect("request recording is on")
            .into_iter()
            .filter(|r| r.url.path() == p)
            .collect()
    }

    /// A token endpoint that must never be called (checked by `server.verify()`).
    pub async fn forbid_token_requests(&self) {
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&self.server)
            .await;
    }

    /// A completed login (RS256 ID token, access token `at-1`, refresh token `rt-1`).
    pub async fn logged_in(&self, client: &Client) -> TokenSet {
        self.login_with_id_token(client, |p, login| p.rsa.sign(&p.claims(login)))
            .await
            .expect("login")
    }

    /// Starts a login, answers the token request with `id_token` (and the standard access
    /// and refresh tokens), and completes it.
    pub async fn login_with_id_token(
        &self,
        client: &Client,
        make: impl FnOnce(&Provider, &Login) -> String,
    ) -> Result<TokenSet, Error> {
        let login = Login::start(client);
        let id_token = make(self, &login);
        // One answer per login, so that several logins in one test each get their own.
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_body(Some(&id_token))))
            .up_to_n_times(1)
            .mount(&self.server)
            .await;
        let redirect = callback(&login.state, "the-code");
        client.complete(login.pending, &redirect).await
    }
}

/// Runs `cases` at once (each a test case of its own, e.g. a login against its own
/// provider) and fails with the first case that panicked, whose message names it.
pub async fn run_concurrently<F>(cases: impl IntoIterator<Item = F>)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let mut runs = tokio::task::JoinSet::new();
    for case in cases {
        runs.spawn(case);
    }
    while let Some(run) = runs.join_next().await {
        if let Err(err) = run {
            std::panic::resume_unwind(err.into_panic());
        }
    }
}

/// A standard successful token answer.
pub fn token_body(id_token: Option<&str>) -> Value {
    let mut body = json!({
        "access_token": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "rt-1",
        "scope": "openid profile",
    });
    if let Some(t) = id_token {
        body["id_token"] = json!(t);
    }
    body
}

/// A login in progress, with what its authorization URL carries.
pub struct Login {
    pub url: Url,
    pub pending: PendingLogin,
    pub state: String,
    pub nonce: Option<String>,
    pub code_challenge: String,
}

impl Login {
    pub fn start(client: &Client) -> Login {
        let (url, pending) = client.authorize().expect("authorize");
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        Login {
            state: param("state").expect("state in the URL"),
            nonce: param("nonce"),
            code_challenge: param("code_challenge").expect("code_challenge in the URL"),
            url: url.clone(),
            pending,
        }
    }
}

/// The redirect the provider sends after a successful login with this `state`.
pub fn callback(state: &str, code: &str) -> String {
    redirect(&[("code", code), ("state", state)])
}

/// The redirect URI with these query parameters.
pub fn redirect(params: &[(&str, &str)]) -> String {
    let mut url = Url::parse(REDIRECT_URI).expect("redirect URI");
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// The form parameters of a request body.
pub fn form(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

/// One form parameter of a request body.
pub fn form_value(request: &Request, name: &str) -> Option<String> {
    form(request)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

pub fn header_value(request: &Request, name: &str) -> Option<String> {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
