//! Helpers for tests that log in against the sandbox: settings for its default client,
//! and a login that plays the browser's part.

use lexoffice_login::providers::Provider;
use lexoffice_login::{Client, Error, Settings, SettingsBuilder, TokenSet};

use super::behaviour::Discovery;
use super::{Sandbox, SandboxProfile};

impl Sandbox {
    /// Settings for the sandbox's default client: issuer, client id and secret (or
    /// client authentication `none` for a public client, as in [`SandboxProfile::Xero`]),
    /// redirect URI, and scopes the profile offers. Adjust before `build()`.
    ///
    /// - [`SandboxProfile::Oidc`]: `openid profile email offline_access profile.read
    ///   contacts.read`, discovery.
    /// - [`SandboxProfile::Lexoffice`]: `profile.read contacts.read`; static endpoints (no
    ///   discovery).
    /// - [`SandboxProfile::Datev`]: `openid profile email account_id offline_access
    ///   datev:accounting:clients accounting:documents`, discovery (which points at the
    ///   second host), and the authorize parameter `enableWindowsSso=true`.
    /// - [`SandboxProfile::Xero`]: `openid profile email offline_access accounting.settings
    ///   accounting.transactions`, discovery.
    /// - [`SandboxProfile::QuickBooks`]: `openid profile email com.intuit.quickbooks.accounting`,
    ///   discovery from `{issuer}/.well-known/openid_configuration`.
    ///
    /// ```
    /// # async fn t() -> Result<(), Box<dyn std::error::Error>> {
    /// use lexoffice_login::Client;
    /// use lexoffice_login_sandbox::Sandbox;
    /// let sandbox = Sandbox::builder().start().await?;
    /// let client = Client::connect(sandbox.settings().build()?).await?;
    /// let tokens = sandbox.login(&client).await?;
    /// assert!(tokens.id_token_claims().is_some());
    /// # Ok(()) }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(t()).map_err(|e| e.to_string())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn settings(&self) -> SettingsBuilder {
        let builder = Settings::builder(self.issuer(), self.client_id(), self.redirect_uri());
        let builder = match self.client_secret() {
            Some(secret) => builder.client_secret(secret),
            None => builder.client_auth(lexoffice_login::ClientAuthMethod::None),
        };
        // Where discovery is (or is not) comes from the preset; the scopes are the
        // sandbox's choice: enough to call each profile's fixture API.
        let url = |p: &str| self.url(p).to_string();
        let builder = match &self.shared.config.behaviour.discovery {
            Discovery::Standard => builder,
            Discovery::At(path) => builder.discovery_url(url(path)),
            Discovery::None => builder.without_discovery().endpoints(
                url("/oauth2/authorize"),
                url("/oauth2/token"),
                Some(&url("/oauth2/revoke")),
                None,
                None,
            ),
        };
        let builder = self.with_provider(builder);
        match self.profile() {
            SandboxProfile::Oidc => builder.scopes([
                "openid",
                "profile",
                "email",
                "offline_access",
                "profile.read",
                "contacts.read",
            ]),
            SandboxProfile::Lexoffice => builder.scopes(["profile.read", "contacts.read"]),
            // Every scope DATEV offers; its preset adds enableWindowsSso.
            SandboxProfile::Datev => builder.scopes(
                Provider::Datev
                    .preset(lexoffice_login::providers::Deployment::Production)
                    .known_scopes,
            ),
            SandboxProfile::Xero => builder.scopes([
                "openid",
                "profile",
                "email",
                "offline_access",
                "accounting.settings",
                "accounting.transactions",
            ]),
            SandboxProfile::QuickBooks => builder.scopes([
                "openid",
                "profile",
                "email",
                "com.intuit.quickbooks.accounting",
            ]),
        }
    }

    /// The provider preset of this profile, pointed at this sandbox: its quirks (the
    /// flow reads them), its API base and tenants endpoint on the sandbox's hosts.
    fn with_provider(&self, builder: SettingsBuilder) -> SettingsBuilder {
        let Some(provider) = self.profile().provider() else {
            return builder;
        };
        let preset = provider.preset(lexoffice_login::providers::Deployment::Production);
        let mut builder = builder
            .provider(provider)
            .api_base(self.api_base().to_string());
        if let Some(tenants) = &preset.quirks.tenants {
            if let Ok(url) = url::Url::parse(tenants.url) {
                builder = builder.tenants_endpoint(self.endpoint_url(url.path()).to_string());
            }
        }
        builder
    }

    /// Logs in through `client` the way a browser would with the auto-consenting
    /// sandbox: opens the authorization URL, takes the redirect, completes the login.
    /// (An interactive sandbox shows a page instead; drive that with a real browser.)
    pub async fn login(&self, client: &Client) -> Result<TokenSet, Error> {
        auto_consent_login(client).await
    }

    /// Plays the browser: requests the authorization URL and returns the redirect the
    /// sandbox answers with (the URL with `code`, `state` and `iss`, or an `error`).
    pub async fn follow_authorization(&self, url: &url::Url) -> Result<String, Error> {
        follow_authorization(url).await
    }
}

/// [`Sandbox::login`] for code that holds only the [`Client`] (pointed at an
/// auto-consenting sandbox).
pub async fn auto_consent_login(client: &Client) -> Result<TokenSet, Error> {
    let (url, pending) = client.authorize()?;
    let redirect = follow_authorization(&url).await?;
    client.complete(pending, &redirect).await
}

/// [`Sandbox::follow_authorization`] without the sandbox at hand.
pub async fn follow_authorization(url: &url::Url) -> Result<String, Error> {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(Error::HttpSetup)?;
    let resp = browser
        .get(url.clone())
        .send()
        .await
        // Only the origin: the URL's query carries state and nonce.
        .map_err(|e| {
            Error::transport(
                lexoffice_login::Endpoint::Authorization,
                &origin_of(url),
                &e,
            )
        })?;
    resp.headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::MalformedCallback(format!(
                    "the sandbox answered HTTP {} without a redirect (is it interactive, or is the client or redirect URI unknown?)",
                    resp.status().as_u16()
                ))
            })
}

/// The URL's origin alone, for messages.
fn origin_of(url: &url::Url) -> url::Url {
    url::Url::parse(&url.origin().ascii_serialization()).unwrap_or_else(|_| url.clone())
}
