//! [`Client`]: one provider, one registered client; logs in, refreshes, revokes.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use openidconnect::{AccessToken, RefreshToken};
use serde_json::{Map, Value};
use url::Url;

use crate::authorize::{self, AuthorizeOptions, PendingLogin};
use crate::callback::{state_digest, AuthorizationResponse};
use crate::config::{ConfigError, ConfigProblem, Discovery, Settings};
use crate::error::Error;
use crate::http;
use crate::id_token::{self, Expectations, IdToken, IdTokenClaims, JwksCache, KeySource};
use crate::metadata::{self, ProviderMetadata};
use crate::protocol::{system_clock, time_add, Clock, Endpoint, SharedClock};
use crate::providers::{HeaderValue, RevocationBody};
use crate::scope::Scopes;
use crate::tokens::{self, CheckedAnswer, LoginOrigin, TokenResponse, TokenSet};

/// The one token type this client uses (RFC 6750).
const BEARER: &str = "Bearer";

/// A tenant (organisation) a login may access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The id the API wants (Xero's `tenantId`).
    pub id: String,
    /// The display name, if the provider gives one.
    pub name: Option<String>,
}

/// Which token to revoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// The access token.
    Access,
    /// The refresh token (most providers then end the whole login).
    Refresh,
}

/// An OpenID Connect / OAuth 2.0 client for one provider. Cheap to clone; clones share
/// the HTTP connection pool and the metadata and JWKS caches.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    http: reqwest::Client,
    /// The metadata and when it is next discovered again.
    metadata: RwLock<(Arc<ProviderMetadata>, DateTime<Utc>)>,
    /// One discovery at a time when the cache runs out.
    rediscovery: tokio::sync::Mutex<()>,
    jwks: JwksCache,
    clock: SharedClock,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Creates the client the settings describe: [`Client::discover`] where the provider
    /// publishes metadata, [`Client::new`] where the endpoints come from configuration.
    ///
    /// ```no_run
    /// use lexoffice_login::{Client, Settings};
    ///
    /// # async fn run() -> Result<(), lexoffice_login::Error> {
    /// let client = Client::connect(Settings::load(Some("production"))?).await?;
    /// let (url, pending) = client.authorize()?;
    /// println!("open {url}");
    /// # let _ = pending;
    /// # Ok(()) }
    /// ```
    pub async fn connect(settings: Settings) -> Result<Client, Error> {
        match settings.discovery() {
            Discovery::Off => Client::new(settings),
            Discovery::Standard | Discovery::Url(_) => Client::discover(settings).await,
        }
    }

    /// Creates a client for a provider without discovery (lexoffice): every endpoint
    /// comes from the settings, and nothing is fetched.
    pub fn new(settings: Settings) -> Result<Client, Error> {
        if *settings.discovery() != Discovery::Off {
            return Err(misconfigured(
                "discovery",
                "discovery is on in these settings: use Client::discover (or Client::connect)",
            ));
        }
        let metadata = ProviderMetadata::from_settings(&settings);
        Client::with_metadata(settings, metadata)
    }

    /// Creates the client by fetching and checking the provider's discovery document.
    pub async fn discover(settings: Settings) -> Result<Client, Error> {
        if *settings.discovery() == Discovery::Off {
            return Err(misconfigured(
                "discovery",
                "discovery is off in these settings: use Client::new (or Client::connect)",
            ));
        }
        let http = http::build_client(&settings)?;
        let metadata = metadata::load(&http, &settings).await?;
        Client::checked(settings, http, metadata)
    }

    fn with_metadata(settings: Settings, metadata: ProviderMetadata) -> Result<Client, Error> {
        let http = http::build_client(&settings)?;
        Client::checked(settings, http, metadata)
    }

    fn checked(
        settings: Settings,
        http: reqwest::Client,
        metadata: ProviderMetadata,
    ) -> Result<Client, Error> {
        metadata::check_endpoints_are_secure(&metadata)?;
        if settings.scopes().is_openid() {
            // Without keys no ID token can be verified: say so before any code is spent.
            metadata.jwks()?;
        }
        let clock = system_clock();
        let unlisted = metadata::unlisted_scopes(settings.scopes(), &metadata);
        if !unlisted.is_empty() {
            tracing::warn!(
                scopes = %unlisted.join(" "),
                "the provider does not list these scopes in scopes_supported; asking for them anyway (the list is advice, OpenID Connect Discovery 3)"
            );
        }
        let next = time_add(clock.now(), settings.metadata_ttl());
        Ok(Client {
            inner: Arc::new(Inner {
                settings,
                http,
                metadata: RwLock::new((Arc::new(metadata), next)),
                rediscovery: tokio::sync::Mutex::new(()),
                jwks: JwksCache::default(),
                clock,
            }),
        })
    }

    /// The same client with another clock for every time rule: token expiry, ID-token
    /// `exp`/`nbf`/`iat`, cache lifetimes and cooldowns (also those of a
    /// [`TokenManager`](crate::TokenManager) built on it). Tests inject a
    /// [`FixedClock`](crate::FixedClock) and move it instead of sleeping. The caches
    /// start empty.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use lexoffice_login::{Client, FixedClock, Settings};
    ///
    /// # async fn run() -> Result<(), lexoffice_login::Error> {
    /// let clock = FixedClock::at_now();
    /// let client = Client::connect(Settings::load(Some("local"))?)
    ///     .await?
    ///     .with_clock(Arc::new(clock.clone()));
    /// clock.advance(Duration::from_secs(3600)); // an hour later, at once
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Client {
        let metadata = self.metadata();
        let next = time_add(clock.now(), self.inner.settings.metadata_ttl());
        Client {
            inner: Arc::new(Inner {
                settings: self.inner.settings.clone(),
                http: self.inner.http.clone(),
                metadata: RwLock::new((metadata, next)),
                rediscovery: tokio::sync::Mutex::new(()),
                jwks: JwksCache::default(),
                clock,
            }),
        }
    }

    /// Where a login made with this client comes from.
    pub fn origin(&self) -> LoginOrigin {
        let s = &self.inner.settings;
        let m = self.metadata();
        LoginOrigin {
            issuer: s.issuer().to_owned(),
            client_id: s.client_id().as_str().to_owned(),
            provider: s.provider(),
            token_endpoint: m.token_endpoint.clone(),
            revocation_endpoint: m.revocation_endpoint.clone(),
            userinfo_endpoint: m.userinfo_endpoint.clone(),
        }
    }

    /// A login made with another issuer or client is not used with this client: its
    /// tokens would go to a server that did not issue them.
    pub fn check_origin(&self, tokens: &TokenSet) -> Result<(), Error> {
        let Some(origin) = &tokens.origin else {
            return Ok(());
        };
        let s = &self.inner.settings;
        if origin.issuer == s.issuer() && origin.client_id == s.client_id().as_str() {
            return Ok(());
        }
        Err(Error::ForeignLogin {
            login_issuer: origin.issuer.clone(),
            login_client_id: origin.client_id.clone(),
            configured_issuer: s.issuer().to_owned(),
            configured_client_id: s.client_id().as_str().to_owned(),
        })
    }

    /// The client secret, for redacting it from texts the provider sends back.
    pub(crate) fn client_secret_text(&self) -> &str {
        self.inner
            .settings
            .client_secret()
            .map(|s| s.secret().as_str())
            .unwrap_or_default()
    }

    /// The current time by this client's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// The headers every call to the provider's API needs (DATEV's `X-DATEV-Client-Id`,
    /// Xero's `xero-tenant-id`), with their values. `tenant` is the tenant chosen after
    /// login, for providers that have tenants.
    pub fn api_headers(&self, tenant: Option<&str>) -> Result<Vec<(String, String)>, Error> {
        let s = &self.inner.settings;
        s.quirks()
            .api_headers
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    HeaderValue::ClientId => s.client_id().as_str().to_owned(),
                    HeaderValue::Tenant => tenant
                        .ok_or(Error::TenantRequired { header: name })?
                        .to_owned(),
                };
                Ok(((*name).to_owned(), value))
            })
            .collect()
    }

    /// The settings this client was made with.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The provider metadata in use.
    pub fn metadata(&self) -> Arc<ProviderMetadata> {
        match self.inner.metadata.read() {
            Ok(guard) => guard.0.clone(),
            Err(poisoned) => poisoned.into_inner().0.clone(),
        }
    }

    /// The HTTP client (timeouts set, redirects off), for calls to the provider's API.
    pub fn http_client(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The requested scopes that the provider's `scopes_supported` does not list. The
    /// list is advice (OpenID Connect Discovery 3: a provider may leave out scopes it
    /// supports; Intuit lists only the OpenID Connect ones), so they are asked for anyway
    /// and only reported here and in the log.
    pub fn scope_warnings(&self) -> Vec<String> {
        metadata::unlisted_scopes(self.inner.settings.scopes(), &self.metadata())
    }

    fn cached_metadata(&self) -> (Arc<ProviderMetadata>, DateTime<Utc>) {
        match self.inner.metadata.read() {
            Ok(g) => (g.0.clone(), g.1),
            Err(p) => {
                let g = p.into_inner();
                (g.0.clone(), g.1)
            }
        }
    }

    /// Metadata, discovered again once the cache lifetime has passed, by one caller at a
    /// time. A failed discovery (the provider down, or a document that fails a check)
    /// keeps the old metadata and is not tried again before the refetch cooldown, so a
    /// broken provider is not asked on every operation.
    pub(crate) async fn fresh_metadata(&self) -> Arc<ProviderMetadata> {
        let (current, next) = self.cached_metadata();
        if !current.discovered || self.now() < next {
            return current;
        }
        let _one = self.inner.rediscovery.lock().await;
        let (current, next) = self.cached_metadata();
        let now = self.now();
        if now < next {
            return current;
        }
        let s = &self.inner.settings;
        let (metadata, next) = match metadata::load(&self.inner.http, s).await {
            Ok(fresh) => (Arc::new(fresh), time_add(now, s.metadata_ttl())),
            Err(e) => {
                tracing::warn!(error = %e, "could not discover the provider again; keeping the cached metadata");
                (current, time_add(now, s.jwks_refetch_cooldown()))
            }
        };
        if let Ok(mut g) = self.inner.metadata.write() {
            *g = (metadata.clone(), next);
        }
        metadata
    }

    /// Starts a login with the configured scopes: returns the URL to open in the browser
    /// and the [`PendingLogin`] to complete it with.
    pub fn authorize(&self) -> Result<(Url, PendingLogin), Error> {
        self.authorize_with(AuthorizeOptions::new())
    }

    /// Starts a login with other scopes or extra parameters.
    pub fn authorize_with(&self, options: AuthorizeOptions) -> Result<(Url, PendingLogin), Error> {
        authorize::authorization_url(&self.inner.settings, &self.metadata(), options)
    }

    /// Checks the redirect and exchanges its code: [`PendingLogin::verify_callback`], then
    /// [`Client::exchange`].
    pub async fn complete(&self, pending: PendingLogin, redirect: &str) -> Result<TokenSet, Error> {
        let response = pending.verify_callback(redirect, &self.metadata())?;
        self.exchange(pending, response).await
    }

    /// Exchanges a checked authorization response for tokens (RFC 6749 4.1.3 with the PKCE
    /// verifier, RFC 7636 4.5) and verifies the ID token when `openid` was requested.
    pub async fn exchange(
        &self,
        pending: PendingLogin,
        response: AuthorizationResponse,
    ) -> Result<TokenSet, Error> {
        if response.state_digest != state_digest(pending.state.secret()) {
            return Err(Error::StateMismatch);
        }
        let form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", response.code.secret().clone()),
            ("redirect_uri", pending.redirect_uri.to_string()),
            ("code_verifier", pending.verifier.secret().clone()),
        ];
        let secrets = [
            response.code.secret().as_str(),
            pending.verifier.secret().as_str(),
            self.client_secret_text(),
        ];
        let checked = self
            .token_request(form)
            .await
            .map_err(|e| e.redact(&secrets))?;
        // Only the redirect parameters the provider's preset names (QuickBooks'
        // `realmId`) are kept with the tokens; anything else a redirect carries is not.
        let wanted = &self.inner.settings.quirks().callback_params;
        let kept = response
            .extras
            .into_iter()
            .filter(|(k, _)| wanted.contains(&k.as_str()))
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        self.login_tokens(checked, &pending.scopes, pending.nonce.as_ref(), kept)
            .await
    }

    /// The tokens of a new login from a checked token answer: the ID token verified
    /// (with the login's nonce, where the grant has one), the granted scopes, the
    /// provider's extras and the login's origin.
    pub(crate) async fn login_tokens(
        &self,
        checked: CheckedAnswer,
        requested: &Scopes,
        nonce: Option<&openidconnect::Nonce>,
        mut extras: std::collections::BTreeMap<String, Value>,
    ) -> Result<TokenSet, Error> {
        let answer = &checked.answer;
        let now = self.now();
        let id_token = match (&answer.id_token, requested.is_openid()) {
            (Some(raw), true) => Some(IdToken::new(raw.clone())),
            (None, true) => return Err(Error::IdTokenMissing),
            (_, false) => None,
        };
        let access_token = AccessToken::new(answer.access_token.clone());
        let claims = match &id_token {
            Some(raw) => Some(
                self.verify_id_token(raw, nonce, Some(&access_token))
                    .await?,
            ),
            None => None,
        };
        for (k, v) in answer.extra.clone() {
            extras.entry(k).or_insert(v);
        }
        tracing::info!(
            subject = claims.as_ref().map(|c| c.sub.as_str()),
            "login completed"
        );
        Ok(TokenSet {
            access_token,
            token_type: BEARER.to_owned(),
            refresh_token: answer.refresh_token.clone().map(RefreshToken::new),
            id_token,
            id_token_claims: claims,
            expires_at: checked.expires_at(now),
            scopes: checked.granted_scopes(requested),
            obtained_at: now,
            extras,
            origin: Some(self.origin()),
        })
    }

    /// Refreshes the tokens (RFC 6749 6). Keeps the old refresh token when the provider
    /// returns none, stores the new one when it rotates. A refreshed ID token must name
    /// the same subject. `invalid_grant` means the user must log in again
    /// ([`Error::is_invalid_grant`]).
    pub async fn refresh(&self, tokens: &TokenSet) -> Result<TokenSet, Error> {
        self.check_origin(tokens)?;
        let refresh_token = tokens.refresh_token.as_ref().ok_or(Error::NoRefreshToken)?;
        let form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.secret().clone()),
        ];
        let checked = self
            .token_request(form)
            .await
            .map_err(|e| e.redact(&[refresh_token.secret().as_str(), self.client_secret_text()]))?;
        let answer = &checked.answer;
        let now = self.now();
        let access_token = AccessToken::new(answer.access_token.clone());
        let (id_token, claims) = match (&answer.id_token, &tokens.id_token_claims) {
            (Some(raw), Some(old)) => {
                let raw = IdToken::new(raw.clone());
                let claims = self
                    .verify_id_token(&raw, None, Some(&access_token))
                    .await?;
                id_token::check_refreshed(old, &claims)?;
                (Some(raw), Some(claims))
            }
            _ => (tokens.id_token.clone(), tokens.id_token_claims.clone()),
        };
        let mut extras = tokens.extras.clone();
        extras.extend(answer.extra.clone());
        tracing::debug!(rotated = answer.refresh_token.is_some(), "tokens refreshed");
        Ok(TokenSet {
            access_token,
            token_type: BEARER.to_owned(),
            refresh_token: answer
                .refresh_token
                .clone()
                .map(RefreshToken::new)
                .or_else(|| tokens.refresh_token.clone()),
            id_token,
            id_token_claims: claims,
            expires_at: checked.expires_at(now),
            scopes: checked.granted_scopes(&tokens.scopes),
            obtained_at: now,
            extras,
            origin: tokens.origin.clone().or_else(|| Some(self.origin())),
        })
    }

    /// Revokes a token at the provider (RFC 7009).
    pub async fn revoke(&self, tokens: &TokenSet, kind: TokenKind) -> Result<(), Error> {
        self.check_origin(tokens)?;
        let (token, hint) = match kind {
            TokenKind::Access => (tokens.access_token.secret().clone(), "access_token"),
            TokenKind::Refresh => (
                tokens
                    .refresh_token
                    .as_ref()
                    .ok_or(Error::NoRefreshToken)?
                    .secret()
                    .clone(),
                "refresh_token",
            ),
        };
        let metadata = self.fresh_metadata().await;
        let url = metadata.revocation()?.url().clone();
        let form = vec![
            ("token", token.clone()),
            ("token_type_hint", hint.to_owned()),
        ];
        let request = match self.inner.settings.quirks().revocation_body {
            RevocationBody::Form => self.authenticated_post(&url, form),
            RevocationBody::Json => self.authenticated_json_post(&url, form),
        };
        let secrets = [token.as_str(), self.client_secret_text()];
        let resp = http::send(Endpoint::Revocation, &url, request).await?;
        let answer = http::read_answer(Endpoint::Revocation, &url, resp).await?;
        http::reject_redirect(Endpoint::Revocation, &url, &answer)?;
        http::reject_error_status(Endpoint::Revocation, &url, &answer)
            .map_err(|e| e.redact(&secrets))?;
        tracing::info!(token = hint, "token revoked");
        Ok(())
    }

    /// Revokes the refresh token, which ends the login at most providers.
    pub async fn revoke_refresh_token(&self, tokens: &TokenSet) -> Result<(), Error> {
        self.revoke(tokens, TokenKind::Refresh).await
    }

    /// Fetches the userinfo claims (OpenID Connect Core 5.3). When the login has an ID
    /// token, the answer's `sub` must equal the ID token's.
    pub async fn userinfo(&self, tokens: &TokenSet) -> Result<Map<String, Value>, Error> {
        self.check_origin(tokens)?;
        let metadata = self.fresh_metadata().await;
        let url = metadata.userinfo()?.url().clone();
        let request = self
            .inner
            .http
            .get(url.clone())
            .bearer_auth(tokens.access_token.secret());
        let claims: Map<String, Value> =
            http::fetch_json(Endpoint::Userinfo, &url, request).await?;
        if let Some(id) = &tokens.id_token_claims {
            if claims.get("sub").and_then(Value::as_str) != Some(id.sub.as_str()) {
                return Err(Error::UserinfoSubjectMismatch);
            }
        }
        Ok(claims)
    }

    /// The tenants (organisations) this login may access, for providers that have them
    /// (Xero's `GET /connections`). The provider's API then wants one of their ids in
    /// a header ([`Client::api_headers`]).
    pub async fn tenants(&self, tokens: &TokenSet) -> Result<Vec<Tenant>, Error> {
        let s = &self.inner.settings;
        let (Some(url), Some(fields)) = (&s.endpoints().tenants, &s.quirks().tenants) else {
            return Err(Error::MissingEndpoint {
                endpoint: Endpoint::Tenants,
                key: "tenants",
            });
        };
        let url = url.url();
        let request = self
            .inner
            .http
            .get(url.clone())
            .bearer_auth(tokens.access_token.secret());
        let list: Vec<Map<String, Value>> =
            http::fetch_json(Endpoint::Tenants, url, request).await?;
        Ok(list
            .into_iter()
            .filter_map(|t| {
                let id = t.get(fields.id_field)?.as_str()?.to_owned();
                let name = t
                    .get(fields.name_field)
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                Some(Tenant { id, name })
            })
            .collect())
    }

    /// Posts a grant to the token endpoint with client authentication.
    pub(crate) async fn token_request(
        &self,
        form: Vec<(&'static str, String)>,
    ) -> Result<CheckedAnswer, Error> {
        let metadata = self.fresh_metadata().await;
        let url = metadata.token()?.url().clone();
        let mut request = self
            .authenticated_post(&url, form)
            .header(reqwest::header::ACCEPT, "application/json");
        for (name, value) in &self.inner.settings.quirks().token_request_headers {
            request = request.header(*name, *value);
        }
        let answer: TokenResponse = http::fetch_json(Endpoint::Token, &url, request).await?;
        Ok(answer.check()?)
    }

    /// A JSON POST (`{"token": …}`) with the configured client authentication, for
    /// providers whose revocation endpoint takes JSON (Intuit).
    fn authenticated_json_post(
        &self,
        url: &Url,
        mut form: Vec<(&'static str, String)>,
    ) -> reqwest::RequestBuilder {
        let s = &self.inner.settings;
        let request = tokens::authenticate(
            self.inner.http.post(url.clone()),
            &mut form,
            s.client_auth(),
            s.client_id().as_str(),
            s.client_secret(),
        );
        let body: Map<String, Value> = form
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect();
        request
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&body)
    }

    /// A form POST with the configured client authentication (token, revocation).
    pub(crate) fn authenticated_post(
        &self,
        url: &Url,
        mut form: Vec<(&'static str, String)>,
    ) -> reqwest::RequestBuilder {
        let s = &self.inner.settings;
        tokens::authenticate(
            self.inner.http.post(url.clone()),
            &mut form,
            s.client_auth(),
            s.client_id().as_str(),
            s.client_secret(),
        )
        .form(&form)
    }

    async fn verify_id_token(
        &self,
        raw: &IdToken,
        nonce: Option<&openidconnect::Nonce>,
        access_token: Option<&AccessToken>,
    ) -> Result<IdTokenClaims, Error> {
        let metadata = self.fresh_metadata().await;
        let jwks_uri = metadata.jwks()?.url();
        let s = &self.inner.settings;
        let now = self.now();
        let expect = Expectations {
            issuer: s.issuer(),
            client_id: s.client_id().as_str(),
            allowed_algs: id_token::allowed_algorithms(
                metadata.id_token_signing_alg_values_supported.as_deref(),
            ),
            skew: s.clock_skew(),
            nonce,
            access_token,
            now,
        };
        let keys = KeySource {
            http: &self.inner.http,
            jwks_uri,
            cache: &self.inner.jwks,
            ttl: s.metadata_ttl(),
            cooldown: s.jwks_refetch_cooldown(),
            now,
        };
        id_token::verify(raw, &expect, &keys).await
    }
}

fn misconfigured(key: &str, message: &str) -> Error {
    Error::Config(ConfigError::Invalid(vec![ConfigProblem {
        key: key.to_owned(),
        source: "code".to_owned(),
        message: message.to_owned(),
    }]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openid_without_a_jwks_is_refused_before_any_login() {
        let settings =
            Settings::builder("https://id.example.com", "c", "https://app.example.com/cb")
                .client_secret("s")
                .scopes(["openid"])
                .without_discovery()
                .endpoints(
                    "https://id.example.com/authorize",
                    "https://id.example.com/token",
                    None,
                    None,
                    None,
                )
                .build()
                .unwrap();
        let err = Client::new(settings).unwrap_err();
        assert!(
            matches!(
                err,
                Error::MissingEndpoint {
                    endpoint: Endpoint::Jwks,
                    key: "jwks"
                }
            ),
            "{err}"
        );
    }

    fn static_client(builder: crate::SettingsBuilder) -> Client {
        let settings = builder
            .without_discovery()
            .endpoints(
                "https://login.example/authorize",
                "https://login.example/token",
                None,
                None,
                Some("https://login.example/jwks"),
            )
            .build()
            .unwrap();
        Client::new(settings).unwrap()
    }

    #[test]
    fn api_headers_come_from_the_preset() {
        use crate::providers::Provider;
        let datev = static_client(
            Settings::builder("https://login.example", "my-id", "https://app.example/cb")
                .client_secret("s")
                .provider(Provider::Datev)
                .scopes(["openid"]),
        );
        assert_eq!(
            datev.api_headers(None).unwrap(),
            vec![("X-DATEV-Client-Id".to_owned(), "my-id".to_owned())]
        );
        let xero = static_client(
            Settings::builder("https://login.example", "my-id", "https://app.example/cb")
                .provider(Provider::Xero),
        );
        assert!(matches!(
            xero.api_headers(None),
            Err(Error::TenantRequired { .. })
        ));
        assert_eq!(
            xero.api_headers(Some("t-1")).unwrap(),
            vec![("xero-tenant-id".to_owned(), "t-1".to_owned())]
        );
        assert_eq!(
            xero.settings()
                .endpoints()
                .tenants
                .as_ref()
                .map(|u| u.as_str()),
            Some("https://api.xero.com/connections")
        );
        let plain = static_client(
            Settings::builder("https://login.example", "c", "https://app.example/cb")
                .client_secret("s"),
        );
        assert!(plain.api_headers(None).unwrap().is_empty());
    }

    #[test]
    fn discover_and_new_each_refuse_the_other_kind_of_settings() {
        let off = Settings::builder("https://id.example.com", "c", "https://app.example.com/cb")
            .client_secret("s")
            .scopes(["profile"])
            .without_discovery()
            .endpoints(
                "https://id.example.com/a",
                "https://id.example.com/t",
                None,
                None,
                None,
            )
            .build()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = rt.block_on(Client::discover(off)).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Misconfigured, "{err}");
        let on = Settings::builder("https://id.example.com", "c", "https://app.example.com/cb")
            .client_secret("s")
            .build()
            .unwrap();
        let err = Client::new(on).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Misconfigured, "{err}");
    }
}
