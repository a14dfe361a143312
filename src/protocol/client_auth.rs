//! How a client authenticates at the token and revocation endpoints.

use serde::{Deserialize, Serialize};

/// How a client authenticates at the token and revocation endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// A public client: sends only `client_id` (PKCE protects the code).
    None,
    /// HTTP Basic with the form-encoded client id and secret (RFC 6749 2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl ClientAuthMethod {
    /// Every method, in the order configuration lists them.
    pub const ALL: [ClientAuthMethod; 3] = [
        ClientAuthMethod::None,
        ClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost,
    ];

    /// The name used in configuration and in provider metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::None => "none",
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
        }
    }

    /// The method with this configuration name.
    pub fn from_name(name: &str) -> Option<ClientAuthMethod> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Whether the method sends a client secret.
    pub fn needs_secret(self) -> bool {
        self != ClientAuthMethod::None
    }
}

impl std::fmt::Display for ClientAuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
