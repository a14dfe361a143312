//! The device authorization grant (RFC 8628): a login for machines without a browser or
//! a reachable redirect. The user opens a URL on another device and enters a short code;
//! this client polls the token endpoint until the login is approved, denied or expired.
//!
//! Each step is a request function and a processing function: [`Client::device_authorization`]
//! asks for the codes, [`Client::poll_device`] asks once, [`Client::complete_device`] polls
//! at the provider's interval until the login ends.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use url::Url;

use crate::client::Client;
use crate::error::Error;
use crate::http;
use crate::protocol::{is_secure_url, time_add, Endpoint};
use crate::scope::Scopes;
use crate::tokens::TokenSet;

/// The grant type of the device code (RFC 8628 3.4).
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The polling interval when the provider names none (RFC 8628 3.2).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// How much `slow_down` adds to the interval (RFC 8628 3.5).
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// The longest device-code lifetime taken from the provider.
const MAX_DEVICE_LIFETIME: Duration = Duration::from_secs(3600);

/// A device login in progress: what to show the user, and the device code (kept here,
/// never shown: `Debug` redacts it).
pub struct DeviceAuthorization {
    device_code: String,
    user_code: String,
    verification_uri: Url,
    verification_uri_complete: Option<Url>,
    expires_at: DateTime<Utc>,
    interval: Duration,
    scopes: Scopes,
}

impl fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("device_code", &"[redacted]")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri.as_str())
            .field("expires_at", &self.expires_at)
            .field("interval", &self.interval)
            .finish()
    }
}

impl DeviceAuthorization {
    /// The code the user enters at [`DeviceAuthorization::verification_uri`].
    pub fn user_code(&self) -> &str {
        &self.user_code
    }
    /// Where the user goes to approve the login.
    pub fn verification_uri(&self) -> &Url {
        &self.verification_uri
    }
    /// The verification URI with the code filled in, where the provider gives one (for
    /// a QR code or a link).
    pub fn verification_uri_complete(&self) -> Option<&Url> {
        self.verification_uri_complete.as_ref()
    }
    /// When the codes stop working.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
    /// How long to wait between two polls.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

/// What one poll found (RFC 8628 3.5).
#[derive(Debug)]
#[non_exhaustive]
pub enum DevicePoll {
    /// The user has not answered yet: poll again after the interval.
    Pending,
    /// Too fast: poll again after the interval, which grew by 5 s.
    SlowDown,
    /// Approved: the login's tokens.
    Done(Box<TokenSet>),
}

/// The device authorization answer (RFC 8628 3.2).
#[derive(Deserialize)]
struct DeviceAnswer {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    expires_in: u64,
    #[serde(default)]
    interval: Option<u64>,
}

impl Client {
    /// Whether the provider offers the device authorization grant (its metadata, or the
    /// configuration, names a device authorization endpoint).
    pub fn supports_device_flow(&self) -> bool {
        self.metadata().device_authorization_endpoint.is_some()
    }

    /// Starts a device login with the configured scopes (RFC 8628 3.1): the codes to
    /// show the user.
    ///
    /// ```no_run
    /// use lexoffice_login::{Client, Settings};
    ///
    /// # async fn run() -> Result<(), lexoffice_login::Error> {
    /// let client = Client::connect(Settings::load(Some("local"))?).await?;
    /// let device = client.device_authorization().await?;
    /// println!("open {} and enter {}", device.verification_uri(), device.user_code());
    /// let tokens = client.complete_device(&device).await?;
    /// # let _ = tokens;
    /// # Ok(()) }
    /// ```
    pub async fn device_authorization(&self) -> Result<DeviceAuthorization, Error> {
        let metadata = self.fresh_metadata().await;
        let url = metadata.device_authorization()?.url().clone();
        let scopes = self.settings().scopes().clone();
        let form = vec![("scope", scopes.to_string())];
        let request = self
            .authenticated_post(&url, form)
            .header(reqwest::header::ACCEPT, "application/json");
        let answer: DeviceAnswer = http::fetch_json(Endpoint::DeviceAuthorization, &url, request)
            .await
            .map_err(|e| e.redact(&[self.client_secret_text()]))?;
        self.process_device_answer(answer, scopes, &url)
    }

    /// Checks the device authorization answer: non-empty codes, an https (or loopback)
    /// verification URI, a lifetime.
    fn process_device_answer(
        &self,
        answer: DeviceAnswer,
        scopes: Scopes,
        url: &Url,
    ) -> Result<DeviceAuthorization, Error> {
        let malformed = |detail: &str| Error::MalformedResponse {
            endpoint: Endpoint::DeviceAuthorization,
            url: url.to_string(),
            detail: detail.to_owned(),
        };
        if answer.device_code.is_empty() || answer.user_code.is_empty() {
            return Err(malformed("the device_code or user_code is empty"));
        }
        if answer.user_code.len() > 64 {
            return Err(malformed("the user_code is longer than 64 characters"));
        }
        let secure = |u: &str| Url::parse(u).ok().filter(is_secure_url);
        let verification_uri = secure(&answer.verification_uri)
            .ok_or_else(|| malformed("the verification_uri is not an https URL"))?;
        let verification_uri_complete =
            match answer.verification_uri_complete.as_deref() {
                None => None,
                Some(u) => Some(secure(u).ok_or_else(|| {
                    malformed("the verification_uri_complete is not an https URL")
                })?),
            };
        if answer.expires_in == 0 {
            return Err(malformed("expires_in is 0"));
        }
        let lifetime = Duration::from_secs(answer.expires_in).min(MAX_DEVICE_LIFETIME);
        Ok(DeviceAuthorization {
            device_code: answer.device_code,
            user_code: crate::error::sanitize(&answer.user_code, 64),
            verification_uri,
            verification_uri_complete,
            expires_at: time_add(self.now(), lifetime),
            interval: answer
                .interval
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_INTERVAL)
                .min(Duration::from_secs(60)),
            scopes,
        })
    }

    /// Asks the token endpoint once whether the device login was approved (RFC 8628
    /// 3.4, 3.5). `access_denied` and `expired_token` come back as [`Error::OAuth`]
    /// ([`ErrorKind::Denied`](crate::ErrorKind::Denied) and
    /// [`ErrorKind::LoginRequired`](crate::ErrorKind::LoginRequired)).
    pub async fn poll_device(&self, device: &DeviceAuthorization) -> Result<DevicePoll, Error> {
        let form = vec![
            ("grant_type", DEVICE_CODE_GRANT.to_owned()),
            ("device_code", device.device_code.clone()),
        ];
        let secrets = [device.device_code.as_str(), self.client_secret_text()];
        match self.token_request(form).await {
            Ok(checked) => {
                // No nonce in this grant: the ID token is checked without one.
                let tokens = self
                    .login_tokens(checked, &device.scopes, None, Default::default())
                    .await?;
                Ok(DevicePoll::Done(Box::new(tokens)))
            }
            Err(Error::OAuth { code, .. }) if code == "authorization_pending" => {
                Ok(DevicePoll::Pending)
            }
            Err(Error::OAuth { code, .. }) if code == "slow_down" => Ok(DevicePoll::SlowDown),
            Err(e) => Err(e.redact(&secrets)),
        }
    }

    /// Polls at the provider's interval until the user approves (the login's tokens),
    /// denies, or the codes expire.
    pub async fn complete_device(&self, device: &DeviceAuthorization) -> Result<TokenSet, Error> {
        let mut interval = device.interval;
        loop {
            if self.now() >= device.expires_at {
                return Err(Error::OAuth {
                    endpoint: Endpoint::Token,
                    status: 400,
                    code: "expired_token".to_owned(),
                    description: Some(
                        "the device code expired before the login was approved".to_owned(),
                    ),
                });
            }
            tokio::time::sleep(interval).await;
            match self.poll_device(device).await? {
                DevicePoll::Done(tokens) => return Ok(*tokens),
                DevicePoll::Pending => {}
                DevicePoll::SlowDown => interval = interval.saturating_add(SLOW_DOWN_STEP),
            }
        }
    }
}
