//! Which endpoint a request goes to, and a URL newtype per endpoint (as oauth2-rs has
//! `AuthUrl` and `TokenUrl`), so that a token URL can never be passed where a
//! revocation URL is meant.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

/// Which endpoint of the provider a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// The OpenID Connect discovery document (`/.well-known/openid-configuration`).
    Discovery,
    /// The authorization endpoint (the browser's side of the login).
    Authorization,
    /// The JSON Web Key Set that signs ID tokens.
    Jwks,
    /// The token endpoint (code exchange and refresh).
    Token,
    /// The token revocation endpoint (RFC 7009).
    Revocation,
    /// The userinfo endpoint.
    Userinfo,
    /// Where a provider lists the tenants of a login (Xero's `/connections`).
    Tenants,
    /// The device authorization endpoint (RFC 8628).
    DeviceAuthorization,
    /// The provider's API (for example lexoffice's `/v1/profile`).
    Api,
}

impl Endpoint {
    /// The configuration key under `endpoints.` that sets it, where there is one.
    pub fn config_key(self) -> Option<&'static str> {
        match self {
            Endpoint::Authorization => Some("authorization"),
            Endpoint::Token => Some("token"),
            Endpoint::Revocation => Some("revocation"),
            Endpoint::Userinfo => Some("userinfo"),
            Endpoint::Jwks => Some("jwks"),
            Endpoint::Tenants => Some("tenants"),
            Endpoint::DeviceAuthorization => Some("device_authorization"),
            Endpoint::Discovery | Endpoint::Api => None,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Endpoint::Discovery => "discovery endpoint",
            Endpoint::Authorization => "authorization endpoint",
            Endpoint::Jwks => "JWKS endpoint",
            Endpoint::Token => "token endpoint",
            Endpoint::Revocation => "revocation endpoint",
            Endpoint::Userinfo => "userinfo endpoint",
            Endpoint::Tenants => "tenants endpoint",
            Endpoint::DeviceAuthorization => "device authorization endpoint",
            Endpoint::Api => "API",
        })
    }
}

/// What every endpoint URL newtype offers.
pub trait EndpointUrl: fmt::Display {
    /// Which endpoint this URL is for.
    const ENDPOINT: Endpoint;
    /// The URL.
    fn url(&self) -> &Url;
}

macro_rules! endpoint_url {
    ($(#[$doc:meta])* $name:ident => $endpoint:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Url);

        impl $name {
            /// Wraps a URL.
            pub fn new(url: Url) -> Self {
                $name(url)
            }
            /// Parses a URL.
            pub fn parse(url: &str) -> Result<Self, url::ParseError> {
                Url::parse(url).map($name)
            }
            /// The URL.
            pub fn url(&self) -> &Url {
                &self.0
            }
            /// The URL as text.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
            /// The URL, unwrapped.
            pub fn into_url(self) -> Url {
                self.0
            }
        }

        impl EndpointUrl for $name {
            const ENDPOINT: Endpoint = $endpoint;
            fn url(&self) -> &Url {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::ops::Deref for $name {
            type Target = Url;
            fn deref(&self) -> &Url {
                &self.0
            }
        }

        impl From<Url> for $name {
            fn from(url: Url) -> Self {
                $name(url)
            }
        }
    };
}

endpoint_url!(
    /// The authorization endpoint's URL.
    AuthUrl => Endpoint::Authorization
);
endpoint_url!(
    /// The token endpoint's URL.
    TokenUrl => Endpoint::Token
);
endpoint_url!(
    /// The revocation endpoint's URL (RFC 7009).
    RevocationUrl => Endpoint::Revocation
);
endpoint_url!(
    /// The userinfo endpoint's URL.
    UserinfoUrl => Endpoint::Userinfo
);
endpoint_url!(
    /// The URL of the JSON Web Key Set.
    JwksUrl => Endpoint::Jwks
);
endpoint_url!(
    /// Where a provider lists a login's tenants (Xero's connections).
    TenantsUrl => Endpoint::Tenants
);
endpoint_url!(
    /// The device authorization endpoint's URL (RFC 8628 3.1).
    DeviceAuthUrl => Endpoint::DeviceAuthorization
);
endpoint_url!(
    /// The URL of a discovery document.
    DiscoveryUrl => Endpoint::Discovery
);
endpoint_url!(
    /// The base URL of the provider's API (`https://api.lexware.io/v1`).
    ApiBaseUrl => Endpoint::Api
);
