//! Authorization-request parameters that the login flow owns or that carry secrets.

/// Whether the login flow sets this authorization parameter itself, so configuration may
/// not override it.
pub fn is_protocol_param(name: &str) -> bool {
    matches!(
        name,
        "response_type"
            | "client_id"
            | "redirect_uri"
            | "scope"
            | "state"
            | "nonce"
            | "code_challenge"
            | "code_challenge_method"
    )
}

/// Whether a parameter name holds a secret that must never reach the browser
/// (the authorization URL is shown, logged and stored in browser history).
pub fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "client_secret"
            | "code_verifier"
            | "code"
            | "access_token"
            | "refresh_token"
            | "id_token"
            | "password"
            | "client_assertion"
            | "assertion"
    )
}
