//! [`SandboxBuilder`]: settings and start-up of the sandbox.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::Algorithm;
use tokio::sync::{oneshot, watch};

use super::config::{ClientAuth, Profile, SandboxClient, TestUser, DEFAULT_REDIRECT_URI};
use super::keys::KeySet;
use super::state::{Config, Shared, Store};
use super::stats::Stats;
use super::{routes, Sandbox, SandboxError};

/// Settings of a [`Sandbox`]; [`SandboxBuilder::start`] runs it.
#[derive(Debug, Clone)]
pub struct SandboxBuilder {
    profile: Profile,
    port: u16,
    clients: Vec<SandboxClient>,
    users: Vec<TestUser>,
    interactive: bool,
    access_token_ttl: Duration,
    id_token_alg: Algorithm,
    rotate_refresh_tokens: bool,
    refresh_grace_period: Duration,
    reuse_detection: bool,
    send_iss: bool,
    rate_limit_per_second: u32,
    clock_offset: i64,
    code_lifetime: Duration,
    require_pkce: Option<bool>,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        Self {
            profile: Profile::Oidc,
            port: 0,
            clients: Vec::new(),
            users: Vec::new(),
            interactive: false,
            access_token_ttl: Duration::from_secs(3600),
            id_token_alg: Algorithm::RS256,
            rotate_refresh_tokens: true,
            refresh_grace_period: Duration::ZERO,
            reuse_detection: true,
            send_iss: true,
            rate_limit_per_second: 2,
            clock_offset: 0,
            code_lifetime: Duration::from_secs(60),
            require_pkce: None,
        }
    }
}

impl SandboxBuilder {
    /// The provider to imitate (default [`Profile::Oidc`]).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// The loopback port (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Registers a client. The first call replaces the default client
    /// ([`SandboxClient::default_client`]); the first registered client is the one
    /// [`Sandbox::client_id`] reports.
    pub fn client(mut self, client: SandboxClient) -> Self {
        self.clients.push(client);
        self
    }

    /// Registers a user. The first call replaces the default users
    /// ([`TestUser::defaults`]); auto-consent logs in the first registered user.
    pub fn user(mut self, user: TestUser) -> Self {
        self.users.push(user);
        self
    }

    /// Show a consent page with a user picker instead of consenting automatically
    /// (default `false`).
    pub fn interactive(mut self, on: bool) -> Self {
        self.interactive = on;
        self
    }

    /// Access token lifetime (default 3600 s).
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = ttl;
        self
    }

    /// ID token signature algorithm: `RS256` (default) or `ES256`.
    pub fn id_token_alg(mut self, alg: Algorithm) -> Self {
        self.id_token_alg = alg;
        self
    }

    /// Issue a new refresh token on every refresh (default `true`). Without rotation the
    /// same refresh token is returned again.
    pub fn rotate_refresh_tokens(mut self, on: bool) -> Self {
        self.rotate_refresh_tokens = on;
        self
    }

    /// How long a rotated refresh token keeps working (default 0: not at all).
    pub fn refresh_grace_period(mut self, grace: Duration) -> Self {
        self.refresh_grace_period = grace;
        self
    }

    /// Revoke the whole token family when a rotated refresh token is presented after its
    /// grace period (default `true`).
    pub fn reuse_detection(mut self, on: bool) -> Self {
        self.reuse_detection = on;
        self
    }

    /// Send `iss` in authorization responses (RFC 9207; default `true`).
    pub fn send_iss(mut self, on: bool) -> Self {
        self.send_iss = on;
        self
    }

    /// `/v1` rate limit per client, requests per second with an equal burst (default 2,
    /// like lexoffice; 0 turns it off).
    pub fn rate_limit_per_second(mut self, rate: u32) -> Self {
        self.rate_limit_per_second = rate;
        self
    }

    /// Initial clock offset in seconds (see [`Sandbox::set_clock_offset`]).
    pub fn clock_offset(mut self, secs: i64) -> Self {
        self.clock_offset = secs;
        self
    }

    /// Authorization code lifetime (default 60 s).
    pub fn code_lifetime(mut self, lifetime: Duration) -> Self {
        self.code_lifetime = lifetime;
        self
    }

    /// Whether authorize requests must carry an S256 `code_challenge`. Default: required
    /// in [`Profile::Oidc`], optional in [`Profile::Lexoffice`] (the real Partner API
    /// does not document PKCE). `plain` is always refused.
    pub fn require_pkce(mut self, on: bool) -> Self {
        self.require_pkce = Some(on);
        self
    }

    /// Binds `127.0.0.1:port` and serves the sandbox in a background task of the
    /// current tokio runtime.
    pub async fn start(self) -> Result<Sandbox, SandboxError> {
        let config = self.config()?;
        let keys = KeySet::new(self.id_token_alg)?;
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)))
                .await?;
        let addr = listener.local_addr()?;
        let issuer = format!("http://127.0.0.1:{}", addr.port());
        let base = url::Url::parse(&format!("{issuer}/"))
            .map_err(|e| SandboxError::Config(e.to_string()))?;
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            issuer,
            config,
            keys: Mutex::new(keys),
            store: Mutex::new(Store::default()),
            stats: Mutex::new(Stats::default()),
            faults: Mutex::new(VecDeque::new()),
            clock_offset: AtomicI64::new(self.clock_offset),
            send_iss: AtomicBool::new(self.send_iss),
            shutdown,
        });
        let app = routes::router(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stopped.await;
        });
        let task = tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::warn!(error = %e, "sandbox server stopped with an error");
            }
        });
        tracing::debug!(issuer = %shared.issuer, profile = ?shared.config.profile, "sandbox started");
        Ok(Sandbox {
            shared,
            base,
            stop: Some(stop),
            task: Some(task),
        })
    }

    fn config(&self) -> Result<Config, SandboxError> {
        let mut clients = if self.clients.is_empty() {
            vec![SandboxClient::default_client()]
        } else {
            self.clients.clone()
        };
        for c in &mut clients {
            if c.redirect_uris.is_empty() {
                c.redirect_uris.push(DEFAULT_REDIRECT_URI.to_string());
            }
            for r in &c.redirect_uris {
                let u = url::Url::parse(r).map_err(|e| {
                    SandboxError::Config(format!("client {}: redirect URI {r}: {e}", c.id))
                })?;
                if u.fragment().is_some() {
                    return Err(SandboxError::Config(format!(
                        "client {}: redirect URI {r} has a fragment",
                        c.id
                    )));
                }
            }
            if c.auth != ClientAuth::None && c.secret.is_none() {
                return Err(SandboxError::Config(format!(
                    "client {}: {} needs a secret",
                    c.id,
                    c.auth.as_str()
                )));
            }
            if self.profile == Profile::Lexoffice && c.auth != ClientAuth::ClientSecretBasic {
                return Err(SandboxError::Config(format!(
                    "client {}: the Lexoffice profile only supports client_secret_basic",
                    c.id
                )));
            }
        }
        for (i, c) in clients.iter().enumerate() {
            if clients[..i].iter().any(|o| o.id == c.id) {
                return Err(SandboxError::Config(format!(
                    "duplicate client id {}",
                    c.id
                )));
            }
        }
        let users = if self.users.is_empty() {
            TestUser::defaults()
        } else {
            self.users.clone()
        };
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Ok(Config {
            profile: self.profile,
            clients,
            users,
            interactive: self.interactive,
            access_token_ttl: secs(self.access_token_ttl).max(1),
            code_lifetime: secs(self.code_lifetime).max(1),
            rotate_refresh_tokens: self.rotate_refresh_tokens,
            refresh_grace: secs(self.refresh_grace_period),
            reuse_detection: self.reuse_detection,
            rate_limit_per_second: self.rate_limit_per_second,
            require_pkce: self.require_pkce.unwrap_or(self.profile == Profile::Oidc),
        })
    }
}
