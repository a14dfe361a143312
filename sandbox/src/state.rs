//! In-memory state of the sandbox: configuration, codes, tokens, counters, clock.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use axum::body::Bytes;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use lexoffice_login::protocol::is_protocol_param;
use rand::RngCore;
use tokio::sync::watch;

use super::behaviour::Behaviour;
use super::config::{Fault, SandboxClient, SandboxProfile, TestUser};
use super::keys::KeySet;
use super::stats::{SandboxRoute, Stats};
use super::Introspection;

/// Immutable settings, fixed at start.
pub(crate) struct Config {
    pub profile: SandboxProfile,
    /// What the imitated provider does (from its preset).
    pub behaviour: Behaviour,
    pub clients: Vec<SandboxClient>,
    pub users: Vec<TestUser>,
    pub interactive: bool,
    pub access_token_ttl: i64,
    pub code_lifetime: i64,
    pub rotate_refresh_tokens: bool,
    pub refresh_grace: i64,
    pub reuse_detection: bool,
    pub rate_limit_per_second: u32,
    pub require_pkce: bool,
    /// Lifetime of device codes (seconds).
    pub device_code_lifetime: i64,
    /// Initial polling interval of device codes (seconds; 0: no limit).
    pub device_poll_interval: i64,
}

impl Config {
    pub fn client(&self, id: &str) -> Option<&SandboxClient> {
        self.clients.iter().find(|c| c.id == id)
    }

    pub fn user(&self, sub: &str) -> Option<&TestUser> {
        self.users.iter().find(|u| u.sub == sub)
    }
}

/// Everything the handlers share.
pub(crate) struct Shared {
    pub issuer: String,
    /// The second host (`http://localhost:PORT`) in profiles that have one.
    pub second_host: Option<String>,
    pub config: Config,
    pub keys: Mutex<KeySet>,
    pub store: Mutex<Store>,
    pub stats: Mutex<Stats>,
    pub faults: Mutex<VecDeque<(u32, Fault)>>,
    pub clock_offset: AtomicI64,
    pub send_iss: AtomicBool,
    pub shutdown: watch::Sender<bool>,
    /// The discovery document, serialised on first use: one per value of `send_iss`
    /// (the only part of it that can change while the sandbox runs).
    pub discovery_json: [OnceLock<Bytes>; 2],
}

/// Locks a mutex, recovering the data if another thread panicked while holding it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `n` random bytes, base64url without padding.
pub(crate) fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

impl Shared {
    /// The sandbox clock: real time plus the configured offset, in Unix seconds.
    pub fn now(&self) -> i64 {
        let real = chrono::Utc::now().timestamp();
        real.saturating_add(self.clock_offset.load(Ordering::Relaxed))
    }

    /// The sandbox clock in Unix milliseconds (for the device flow's polling interval).
    pub fn now_millis(&self) -> i64 {
        let real = chrono::Utc::now().timestamp_millis();
        real.saturating_add(
            self.clock_offset
                .load(Ordering::Relaxed)
                .saturating_mul(1000),
        )
    }

    /// Decides a pending, unexpired device authorization by its user code: approved for
    /// `sub` (`Some`) or denied (`None`). `false` if the code is unknown, expired or
    /// already decided.
    pub fn decide_device(&self, user_code: &str, sub: Option<&str>) -> bool {
        let now = self.now();
        let mut store = lock(&self.store);
        let Some(rec) = store.device_by_user_code(user_code) else {
            return false;
        };
        if now >= rec.exp || rec.status != DeviceStatus::Pending {
            return false;
        }
        rec.status = match sub {
            Some(sub) => DeviceStatus::Approved {
                sub: sub.to_string(),
                auth_time: now,
            },
            None => DeviceStatus::Denied,
        };
        tracing::debug!(client_id = %rec.client_id, approved = sub.is_some(), "device authorization decided");
        true
    }

    /// Where token, revocation, userinfo and JWKS are served: the second host if there
    /// is one, else the issuer.
    pub fn endpoint_base(&self) -> &str {
        self.second_host.as_deref().unwrap_or(&self.issuer)
    }

    /// Counts the authorize parameters by name; keeps the values of non-protocol ones.
    pub fn record_authorize_params<'a>(
        &self,
        params: impl Iterator<Item = (&'a String, &'a String)>,
    ) {
        let mut stats = lock(&self.stats);
        for (k, v) in params {
            *stats.authorize_params.entry(k.clone()).or_insert(0) += 1;
            let lower = k.to_ascii_lowercase();
            let sensitive = [
                "secret",
                "token",
                "verifier",
                "code",
                "password",
                "assertion",
            ]
            .iter()
            .any(|w| lower.contains(w));
            if !is_protocol_param(k) && !sensitive {
                stats.authorize_param_values.insert(k.clone(), v.clone());
            }
        }
    }

    pub fn send_iss(&self) -> bool {
        self.send_iss.load(Ordering::Relaxed)
    }

    pub fn count(&self, endpoint: SandboxRoute) {
        *lock(&self.stats).requests.entry(endpoint).or_insert(0) += 1;
    }

    pub fn count_grant(&self, grant: &str) {
        *lock(&self.stats)
            .grants
            .entry(grant.to_string())
            .or_insert(0) += 1;
    }

    /// Takes the next injected token-endpoint fault, if any.
    pub fn take_fault(&self) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let (n, fault) = faults.front_mut()?;
        let fault = *fault;
        *n -= 1;
        if *n == 0 {
            faults.pop_front();
        }
        Some(fault)
    }

    pub fn introspect(&self, token: &str) -> Option<Introspection> {
        let now = self.now();
        lock(&self.store).introspect(token, now)
    }
}

/// One login (one authorization code redemption) and everything issued from it.
pub(crate) struct Family {
    pub client_id: String,
    pub sub: String,
    pub auth_time: i64,
    pub nonce: Option<String>,
    pub revoked: bool,
}

pub(crate) struct AccessRecord {
    pub family: u64,
    pub scope: Vec<String>,
    pub iat: i64,
    pub exp: i64,
    pub revoked: bool,
}

pub(crate) struct RefreshRecord {
    pub family: u64,
    pub scope: Vec<String>,
    pub iat: i64,
    /// When it was last issued or handed out again (for the idle limit).
    pub touched: i64,
    /// When it was rotated (exchanged for a new refresh token).
    pub used_at: Option<i64>,
    pub revoked: bool,
}

pub(crate) struct CodeRecord {
    pub client_id: String,
    /// The `redirect_uri` parameter of the authorize request, if one was sent.
    pub redirect_param: Option<String>,
    pub challenge: Option<String>,
    pub scope: Vec<String>,
    pub nonce: Option<String>,
    pub sub: String,
    pub auth_time: i64,
    pub exp: i64,
    pub used: bool,
    pub family: Option<u64>,
}

/// Where a device authorization (RFC 8628) stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeviceStatus {
    /// Waiting for the user.
    Pending,
    /// The user approved, logged in as `sub` at `auth_time` (sandbox clock).
    Approved { sub: String, auth_time: i64 },
    /// The user denied.
    Denied,
    /// Exchanged for tokens.
    Used,
}

/// A device authorization, keyed by its device code.
pub(crate) struct DeviceRecord {
    pub client_id: String,
    /// The user code, normalized (upper case, no dash).
    pub user_code: String,
    pub scope: Vec<String>,
    /// Expiry (sandbox clock, seconds).
    pub exp: i64,
    /// The current polling interval (seconds); grows by 5 with every `slow_down`.
    pub interval: i64,
    /// When the token endpoint was last polled with this code (sandbox clock, ms).
    pub last_poll: Option<i64>,
    pub status: DeviceStatus,
}

/// The alphabet of user codes: consonants only, no look-alikes (RFC 8628 section 6.1).
pub(crate) const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// A user code typed by a person, normalized for comparison: the alphabet's letters
/// upper-cased; dashes and spaces dropped.
pub(crate) fn normalize_user_code(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A new random user code of 8 characters from [`USER_CODE_ALPHABET`] (normalized form).
pub(crate) fn random_user_code() -> String {
    use rand::Rng as _;
    let mut rng = rand::rngs::OsRng;
    (0..8)
        .map(|_| char::from(USER_CODE_ALPHABET[rng.gen_range(0..USER_CODE_ALPHABET.len())]))
        .collect()
}

/// A normalized user code as shown to people: `XXXX-XXXX`.
pub(crate) fn display_user_code(code: &str) -> String {
    if code.len() == 8 && code.is_ascii() {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_string()
    }
}

/// A validated authorize request waiting for the user's decision (interactive mode).
#[derive(Clone)]
pub(crate) struct AuthRequest {
    pub client_id: String,
    /// Where to send the user back.
    pub redirect_to: String,
    pub redirect_param: Option<String>,
    pub state: Option<String>,
    pub scope: Vec<String>,
    pub nonce: Option<String>,
    pub challenge: Option<String>,
    pub connection_name: Option<String>,
}

pub(crate) struct Pending {
    pub request: AuthRequest,
    pub expires: Instant,
}

pub(crate) struct Bucket {
    pub tokens: f64,
    pub last: Instant,
}

#[derive(Default)]
pub(crate) struct Store {
    pub codes: HashMap<String, CodeRecord>,
    pub pending: HashMap<String, Pending>,
    pub families: HashMap<u64, Family>,
    pub access: HashMap<String, AccessRecord>,
    pub refresh: HashMap<String, RefreshRecord>,
    pub buckets: HashMap<String, Bucket>,
    pub next_family: u64,
    /// Xero connections by `(client_id, sub)`.
    pub connections: HashMap<(String, String), Connection>,
    /// Device authorizations by device code.
    pub devices: HashMap<String, DeviceRecord>,
    /// Device codes by normalized user code.
    pub user_codes: HashMap<String, String>,
}

/// A Xero connection of a user to an app (all the user's tenants).
pub(crate) struct Connection {
    /// When it was made (sandbox clock).
    pub created: i64,
    /// The login (token family) that made it.
    pub auth_event: u64,
}

impl Store {
    pub fn new_family(&mut self, family: Family) -> u64 {
        self.next_family += 1;
        let id = self.next_family;
        self.families.insert(id, family);
        id
    }

    /// Revokes a family: every access and refresh token descending from that login.
    pub fn revoke_family(&mut self, id: u64) {
        if let Some(f) = self.families.get_mut(&id) {
            f.revoked = true;
        }
        for a in self.access.values_mut().filter(|a| a.family == id) {
            a.revoked = true;
        }
        for r in self.refresh.values_mut().filter(|r| r.family == id) {
            r.revoked = true;
        }
    }

    fn family_live(&self, id: u64) -> Option<&Family> {
        self.families.get(&id).filter(|f| !f.revoked)
    }

    /// An active access token and its family.
    pub fn active_access(&self, token: &str, now: i64) -> Option<(&AccessRecord, &Family)> {
        let a = self.access.get(token)?;
        if a.revoked || now >= a.exp {
            return None;
        }
        Some((a, self.family_live(a.family)?))
    }

    pub fn introspect(&self, token: &str, now: i64) -> Option<Introspection> {
        if let Some(a) = self.access.get(token) {
            let live = self.active_access(token, now);
            let f = self.families.get(&a.family)?;
            return Some(match live {
                Some(_) => Introspection {
                    active: true,
                    scope: Some(a.scope.join(" ")),
                    client_id: Some(f.client_id.clone()),
                    sub: Some(f.sub.clone()),
                    exp: Some(a.exp),
                    iat: Some(a.iat),
                    token_type: Some("Bearer".into()),
                },
                None => Introspection::inactive(),
            });
        }
        let r = self.refresh.get(token)?;
        let f = self.families.get(&r.family)?;
        let active = !r.revoked && !f.revoked;
        Some(if active {
            Introspection {
                active: true,
                scope: Some(r.scope.join(" ")),
                client_id: Some(f.client_id.clone()),
                sub: Some(f.sub.clone()),
                exp: None,
                iat: Some(r.iat),
                token_type: Some("refresh_token".into()),
            }
        } else {
            Introspection::inactive()
        })
    }

    /// Token bucket per client: `rate` tokens per second, burst `rate`.
    pub fn take_rate_token(&mut self, client_id: &str, rate: u32) -> bool {
        if rate == 0 {
            return true;
        }
        let cap = f64::from(rate);
        let now = Instant::now();
        let b = self.buckets.entry(client_id.to_string()).or_insert(Bucket {
            tokens: cap,
            last: now,
        });
        let elapsed = now.duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * cap).min(cap);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// The device authorization with this user code (any spelling: see
    /// [`normalize_user_code`]).
    pub fn device_by_user_code(&mut self, user_code: &str) -> Option<&mut DeviceRecord> {
        let device_code = self.user_codes.get(&normalize_user_code(user_code))?;
        self.devices.get_mut(device_code)
    }

    /// Drops interactive requests nobody decided on.
    pub fn prune_pending(&mut self) {
        let now = Instant::now();
        self.pending.retain(|_, p| p.expires > now);
    }
}
