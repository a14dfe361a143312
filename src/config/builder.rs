//! [`SettingsBuilder`]: settings made in code, typed all the way to validation.

use std::time::Duration;

use openidconnect::ClientSecret;

use super::layers::Origins;
use super::problem::ConfigError;
use super::raw::{Draft, Given, RawEndpoints};
use super::validate::{validate, DEFAULT_SCOPES};
use super::Settings;
use crate::protocol::ClientAuthMethod;
use crate::providers::{self, Provider};
use crate::scope::ScopePreset;

/// Builds [`Settings`] in code; see [`Settings::builder`].
#[derive(Debug)]
#[must_use]
pub struct SettingsBuilder {
    draft: Draft,
    secret: Option<ClientSecret>,
}

impl SettingsBuilder {
    pub(super) fn new(issuer: String, client_id: String, redirect_uri: String) -> Self {
        SettingsBuilder {
            draft: Draft {
                issuer: Some(issuer),
                client_id: Some(client_id),
                redirect_uri: Some(redirect_uri),
                ..Draft::default()
            },
            secret: None,
        }
    }

    /// Sets the client secret (a confidential client).
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(ClientSecret::new(secret.into()));
        self
    }
    /// Sets how the client authenticates (default `client_secret_basic`).
    pub fn client_auth(mut self, method: ClientAuthMethod) -> Self {
        self.draft.client_auth = Some(Given::Typed(method));
        self
    }
    /// Sets the scopes (each a scope string, such as `"openid"` or `"contacts.read"`).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.draft.scopes = Some(scopes.into_iter().map(|s| s.as_ref().to_owned()).collect());
        self
    }
    /// Adds the scopes of a scope preset to the scopes.
    pub fn scope_preset(mut self, preset: ScopePreset) -> Self {
        self.draft.scope_preset = Some(Given::Typed(preset));
        self
    }
    /// Uses a provider's quirks, and its client authentication, scopes and authorization
    /// parameters where they are not set on this builder. The issuer and endpoints stay
    /// the builder's (point them at the real provider, or at a sandbox).
    pub fn provider(mut self, provider: Provider) -> Self {
        let preset = provider.preset(providers::Deployment::Production);
        self.draft.provider = Some(Given::Typed(provider));
        self.draft
            .client_auth
            .get_or_insert(Given::Typed(preset.client_auth));
        self.draft
            .scopes
            .get_or_insert_with(|| preset.scopes.iter().map(|s| (*s).to_owned()).collect());
        for (k, v) in preset.extra_authorize_params {
            self.draft
                .extra_authorize_params
                .entry(k.to_owned())
                .or_insert_with(|| v.to_owned());
        }
        self
    }
    /// Turns discovery off: endpoints come from [`SettingsBuilder::endpoints`].
    pub fn without_discovery(mut self) -> Self {
        self.draft.discovery = Some(false);
        self
    }
    /// Fetches metadata from this URL instead of the standard well-known path.
    pub fn discovery_url(mut self, url: impl Into<String>) -> Self {
        self.draft.discovery_url = Some(url.into());
        self
    }
    /// Sets static endpoints: `(authorization, token)`, plus optional revocation, userinfo, jwks.
    pub fn endpoints(
        mut self,
        authorization: impl Into<String>,
        token: impl Into<String>,
        revocation: Option<&str>,
        userinfo: Option<&str>,
        jwks: Option<&str>,
    ) -> Self {
        self.draft.endpoints = RawEndpoints {
            authorization: Some(authorization.into()),
            token: Some(token.into()),
            revocation: revocation.map(str::to_owned),
            userinfo: userinfo.map(str::to_owned),
            jwks: jwks.map(str::to_owned),
            tenants: self.draft.endpoints.tenants.take(),
            device_authorization: self.draft.endpoints.device_authorization.take(),
        };
        self
    }
    /// Sets where the login's tenants are listed (for a provider with tenants, such as
    /// Xero, pointed at a sandbox).
    pub fn tenants_endpoint(mut self, url: impl Into<String>) -> Self {
        self.draft.endpoints.tenants = Some(url.into());
        self
    }
    /// Sets the device authorization endpoint (RFC 8628), where it is not discovered.
    pub fn device_authorization_endpoint(mut self, url: impl Into<String>) -> Self {
        self.draft.endpoints.device_authorization = Some(url.into());
        self
    }
    /// Sets the base URL of the provider's API (default: the provider preset's).
    pub fn api_base(mut self, url: impl Into<String>) -> Self {
        self.draft.api_base = Some(url.into());
        self
    }
    /// Adds an extra authorization parameter (lexoffice's `connection_name`).
    pub fn extra_authorize_param(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.draft
            .extra_authorize_params
            .insert(name.into(), value.into());
        self
    }
    /// Sets the allowed clock skew (default 60 s, at most 600 s).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.draft.clock_skew = Some(skew);
        self
    }
    /// Sets the metadata and JWKS cache lifetime (default 1 h).
    pub fn metadata_ttl(mut self, ttl: Duration) -> Self {
        self.draft.metadata_ttl = Some(ttl);
        self
    }
    /// Sets the least time between two JWKS fetches forced by an unknown `kid` (default 30 s).
    pub fn jwks_refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.draft.jwks_refetch_cooldown = Some(cooldown);
        self
    }
    /// Sets the refresh margin (default 120 s; see [`Settings::refresh_margin`]).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.draft.refresh_margin = Some(margin);
        self
    }
    /// Sets the connect and whole-request timeouts (defaults 10 s and 30 s; neither zero).
    pub fn timeouts(mut self, connect: Duration, request: Duration) -> Self {
        self.draft.connect_timeout = Some(connect);
        self.draft.request_timeout = Some(request);
        self
    }
    /// Validates and builds the settings.
    pub fn build(mut self) -> Result<Settings, ConfigError> {
        if self.draft.scopes.is_none() && self.draft.scope_preset.is_none() {
            self.draft.scopes = Some(DEFAULT_SCOPES.map(str::to_owned).to_vec());
        }
        validate(
            "code".to_owned(),
            self.draft,
            self.secret,
            &Origins::code(),
            Vec::new(),
        )
    }
}
