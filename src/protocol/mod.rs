//! Leaf types of the protocol, shared by every other module and importing none of them:
//! which endpoint a request goes to and a URL newtype per endpoint, how the client
//! authenticates, the URL rules, the parameters the login flow owns, the environment
//! variables the library reads, and the clock that every time rule asks.

mod client_auth;
mod clock;
mod endpoint;
mod env_vars;
mod params;
mod text;
mod url_rules;

pub use client_auth::ClientAuthMethod;
#[cfg(feature = "axum")]
pub(crate) use clock::sub as time_sub;
pub(crate) use clock::{add as time_add, system as system_clock, within, SharedClock};
pub use clock::{Clock, FixedClock, SystemClock};
pub use endpoint::{
    ApiBaseUrl, AuthUrl, DeviceAuthUrl, DiscoveryUrl, Endpoint, EndpointUrl, JwksUrl,
    RevocationUrl, TenantsUrl, TokenUrl, UserinfoUrl,
};
pub use env_vars::{CLIENT_SECRET_VAR, CONFIG_DIR_VAR, ENV_PREFIX, ENV_VAR, STORE_KEY_VAR};
pub use params::{is_protocol_param, is_secret_param};
pub(crate) use text::sanitize;
pub use url_rules::{is_loopback, is_secure_url, redact_url};
