//! [`SandboxBuilder`]: settings and start-up of the sandbox.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use jsonwebtoken::Algorithm;
use tokio::sync::{oneshot, watch};

use super::behaviour::Behaviour;
use super::config::{
    ClientAuth, SandboxClient, SandboxProfile, TestUser, DEFAULT_CLIENT_ID, DEFAULT_REDIRECT_URI,
};
use super::keys::KeySet;
use super::state::{Config, Shared, Store};
use super::stats::Stats;
use super::{routes, Sandbox, SandboxError};

/// Settings of a [`Sandbox`]; [`SandboxBuilder::start`] runs it.
#[derive(Debug, Clone)]
pub struct SandboxBuilder {
    profile: SandboxProfile,
    port: u16,
    clients: Vec<SandboxClient>,
    users: Vec<TestUser>,
    interactive: bool,
    access_token_ttl: Option<Duration>,
    id_token_alg: Algorithm,
    rotate_refresh_tokens: bool,
    refresh_grace_period: Option<Duration>,
    reuse_detection: Option<bool>,
    send_iss: bool,
    rate_limit_per_second: u32,
    clock_offset: i64,
    code_lifetime: Duration,
    require_pkce: Option<bool>,
    device_code_lifetime: Duration,
    device_poll_interval: Duration,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        Self {
            profile: SandboxProfile::Oidc,
            port: 0,
            clients: Vec::new(),
            users: Vec::new(),
            interactive: false,
            access_token_ttl: None,
            id_token_alg: Algorithm::RS256,
            rotate_refresh_tokens: true,
            refresh_grace_period: None,
            reuse_detection: None,
            send_iss: true,
            rate_limit_per_second: 2,
            clock_offset: 0,
            code_lifetime: Duration::from_secs(60),
            require_pkce: None,
            device_code_lifetime: Duration::from_secs(600),
            device_poll_interval: Duration::from_secs(5),
        }
    }
}

impl SandboxBuilder {
    /// The provider to imitate (default [`SandboxProfile::Oidc`]).
    pub fn profile(mut self, profile: SandboxProfile) -> Self {
        self.profile = profile;
        self
    }

    /// The loopback port of the issuer (default 0: any free port). The second host of
    /// [`SandboxProfile::Datev`] always takes any free port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Registers a client. The first call replaces the default client
    /// ([`SandboxClient::default_client`]; in [`SandboxProfile::Xero`] the public client
    /// [`SandboxClient::public`] with the same id and redirect URI); the first registered
    /// client is the one [`Sandbox::client_id`] reports.
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

    /// Access token lifetime. Default: the preset's `access_token_lifetime` (900 s in
    /// [`SandboxProfile::Datev`], 1800 s in [`SandboxProfile::Xero`], 3600 s in the
    /// others; 3600 s in [`SandboxProfile::Oidc`]).
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = Some(ttl);
        self
    }

    /// ID token signature algorithm: `RS256` (default) or `ES256`.
    pub fn id_token_alg(mut self, alg: Algorithm) -> Self {
        self.id_token_alg = alg;
        self
    }

    /// Issue a new refresh token on every refresh (default `true`). Without rotation the
    /// same refresh token is returned again. Where the preset's rotation is
    /// `Rotation::Periodic` ([`SandboxProfile::QuickBooks`]: 24 hours) rotation happens
    /// only once the presented refresh token is that old (sandbox clock).
    pub fn rotate_refresh_tokens(mut self, on: bool) -> Self {
        self.rotate_refresh_tokens = on;
        self
    }

    /// How long a rotated refresh token keeps working. Default: the preset's
    /// `Rotation::grace()` (30 minutes in [`SandboxProfile::Xero`]; 0, not at all, in the
    /// others).
    pub fn refresh_grace_period(mut self, grace: Duration) -> Self {
        self.refresh_grace_period = Some(grace);
        self
    }

    /// Revoke the whole token family when a rotated refresh token is presented after its
    /// grace period. Default `true`; `false` where the preset's rotation is periodic
    /// ([`SandboxProfile::QuickBooks`]), where a replaced refresh token only fails itself.
    pub fn reuse_detection(mut self, on: bool) -> Self {
        self.reuse_detection = Some(on);
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

    /// Whether authorize requests must carry an S256 `code_challenge`. Default: the
    /// preset's `Pkce` (required in [`SandboxProfile::Datev`] and [`SandboxProfile::Xero`],
    /// optional in [`SandboxProfile::Lexoffice`] and [`SandboxProfile::QuickBooks`]: a
    /// challenge that is sent is checked); required in [`SandboxProfile::Oidc`]. `plain`
    /// is always refused.
    pub fn require_pkce(mut self, on: bool) -> Self {
        self.require_pkce = Some(on);
        self
    }

    /// Lifetime of a device code and its user code (RFC 8628 `expires_in`; default
    /// 600 s, at least 1 s), where the device authorization grant is offered
    /// ([`SandboxProfile::Oidc`]).
    pub fn device_code_lifetime(mut self, lifetime: Duration) -> Self {
        self.device_code_lifetime = lifetime;
        self
    }

    /// The polling interval of the device authorization grant (RFC 8628 `interval`,
    /// whole seconds; default 5 s). A device code polled again sooner than that after
    /// its last poll gets `slow_down`, and its interval grows by 5 s. `0` allows polling
    /// without pause (and never answers `slow_down`), for fast tests.
    pub fn device_poll_interval(mut self, interval: Duration) -> Self {
        self.device_poll_interval = interval;
        self
    }

    /// Binds `127.0.0.1:port` and serves the sandbox in a background task of the
    /// current tokio runtime. [`SandboxProfile::Datev`] also binds a second listener on
    /// `127.0.0.1` (any free port), announced as `http://localhost:PORT`.
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
        let second = if config.behaviour.second_host {
            let l =
                tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
            let host = format!("http://localhost:{}", l.local_addr()?.port());
            let url = url::Url::parse(&format!("{host}/"))
                .map_err(|e| SandboxError::Config(e.to_string()))?;
            Some((l, host, url))
        } else {
            None
        };
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            issuer,
            second_host: second.as_ref().map(|(_, host, _)| host.clone()),
            config,
            keys: Mutex::new(keys),
            store: Mutex::new(Store::default()),
            stats: Mutex::new(Stats::default()),
            faults: Mutex::new(VecDeque::new()),
            clock_offset: AtomicI64::new(self.clock_offset),
            send_iss: AtomicBool::new(self.send_iss),
            shutdown,
            discovery_json: [OnceLock::new(), OnceLock::new()],
        });
        let app = routes::router(Arc::clone(&shared), routes::Host::Issuer);
        let (second_base, second_task) = match second {
            Some((l, _, url)) => {
                let app = routes::router(Arc::clone(&shared), routes::Host::Second);
                let mut stop = shared.shutdown.subscribe();
                let server = axum::serve(l, app).with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                });
                let task = tokio::spawn(async move {
                    if let Err(e) = server.await {
                        tracing::warn!(error = %e, "sandbox second host stopped with an error");
                    }
                });
                (Some(url), Some(task))
            }
            None => (None, None),
        };
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
            second_base,
            stop: Some(stop),
            task: Some(task),
            second_task,
        })
    }

    fn config(&self) -> Result<Config, SandboxError> {
        let behaviour = Behaviour::of(self.profile);
        let mut clients = if self.clients.is_empty() {
            vec![if behaviour.public_default_client {
                SandboxClient::public(DEFAULT_CLIENT_ID).redirect_uri(DEFAULT_REDIRECT_URI)
            } else {
                SandboxClient::default_client()
            }]
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
            if behaviour.basic_only && c.auth != ClientAuth::ClientSecretBasic {
                return Err(SandboxError::Config(format!(
                    "client {}: the {:?} profile only supports client_secret_basic",
                    c.id, self.profile
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
        let b = behaviour;
        Ok(Config {
            profile: self.profile,
            clients,
            users,
            interactive: self.interactive,
            access_token_ttl: secs(self.access_token_ttl.unwrap_or(b.access_token_lifetime)).max(1),
            code_lifetime: secs(self.code_lifetime).max(1),
            rotate_refresh_tokens: self.rotate_refresh_tokens,
            refresh_grace: secs(self.refresh_grace_period.unwrap_or(b.refresh_grace)),
            reuse_detection: self.reuse_detection.unwrap_or(b.reuse_detection),
            rate_limit_per_second: self.rate_limit_per_second,
            require_pkce: self.require_pkce.unwrap_or(b.pkce_required),
            device_code_lifetime: secs(self.device_code_lifetime).max(1),
            device_poll_interval: secs(self.device_poll_interval),
            behaviour: b,
        })
    }
}
