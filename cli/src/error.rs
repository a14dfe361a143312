//! The command line's errors: a message, what to do next, and an exit code.
//!
//! Messages come from the library's errors, which never carry a secret.

use std::fmt;
use std::process::ExitCode;

use lexoffice_login::api::ApiError;
use lexoffice_login::store::StoreError;
use lexoffice_login::{ConfigError, Error, ErrorKind, ManagerError};

/// Exit codes (documented in `--help`, see [`crate::args::EXIT_CODES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 1: anything else.
    Error = 1,
    /// 2: a usage error (clap's).
    Usage = 2,
    /// 3: not logged in, or the login expired or was revoked.
    LoginRequired = 3,
    /// 4: the provider is unreachable or failing.
    Provider = 4,
    /// 5: the configuration is invalid or does not match the provider.
    Config = 5,
    /// 130: Ctrl-C.
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// An error for the person at the terminal.
#[derive(Debug)]
pub struct CliError {
    /// The exit code.
    pub exit: Exit,
    /// What went wrong, in one sentence.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl CliError {
    /// An error without a hint.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            hint: None,
        }
    }

    /// Sets the hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint unless there already is one.
    pub fn or_hint(self, hint: impl Into<String>) -> Self {
        if self.hint.is_some() {
            self
        } else {
            self.hint(hint)
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

/// The exit code for what the library says should be done about an error.
pub fn exit_for_kind(kind: ErrorKind) -> Exit {
    match kind {
        ErrorKind::LoginRequired => Exit::LoginRequired,
        ErrorKind::ProviderUnavailable => Exit::Provider,
        ErrorKind::Misconfigured => Exit::Config,
        _ => Exit::Error,
    }
}

/// The exit code for a library error.
pub fn exit_for(e: &Error) -> Exit {
    exit_for_kind(e.kind())
}

impl CliError {
    /// The error as JSON, for `--json` (written on stderr, one line; see `--help`).
    pub fn to_json(&self) -> serde_json::Value {
        let kind = match self.exit {
            Exit::Error => "error",
            Exit::Usage => "usage",
            Exit::LoginRequired => "login_required",
            Exit::Provider => "provider_unavailable",
            Exit::Config => "misconfigured",
            Exit::Interrupted => "interrupted",
        };
        serde_json::json!({
            "error": {
                "message": self.message,
                "hint": self.hint,
                "kind": kind,
                "exit": self.exit as u8,
            }
        })
    }
}

/// The network cause behind a transport failure, in words a person knows: the HTTP
/// client's chain of causes (the library's `Error::Unreachable { reason }`) is long and
/// technical, so the CLI names which of the usual causes it is.
pub fn network_cause(reason: &str) -> Option<&'static str> {
    let r = reason.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| r.contains(n));
    if any(&[
        "dns error",
        "failed to lookup address",
        "name or service not known",
        "no such host",
        "nodename nor servname",
        "temporary failure in name resolution",
    ]) {
        Some("DNS: the host name could not be resolved (check its spelling and the network)")
    } else if any(&["connection refused", "os error 111", "os error 61"]) {
        Some("connection refused: nothing is listening at that address and port")
    } else if any(&["certificate", "tls", "ssl", "handshake"]) {
        Some("TLS: the secure connection failed (the server's certificate or the TLS handshake)")
    } else if any(&["timed out", "timeout", "deadline"]) {
        Some("timeout: the server did not answer in time")
    } else if any(&["connection reset", "broken pipe", "connection closed"]) {
        Some("the connection was closed by the server or the network")
    } else if any(&[
        "network is unreachable",
        "no route to host",
        "host is unreachable",
    ]) {
        Some("the network or host is unreachable from this machine")
    } else {
        None
    }
}

/// The library error's message, with the network cause named where there is one.
pub fn describe_error(e: &Error) -> String {
    match e {
        Error::Unreachable { reason, .. } => match network_cause(reason) {
            Some(cause) => format!("{e} [cause: {cause}]"),
            None => e.to_string(),
        },
        Error::Timeout { .. } => {
            format!("{e} [cause: timeout: the server did not answer in time]")
        }
        Error::ForeignLogin {
            login_issuer,
            login_client_id,
            configured_issuer,
            configured_client_id,
        } => foreign_login_message(
            login_issuer,
            login_client_id,
            configured_issuer,
            configured_client_id,
        ),
        other => other.to_string(),
    }
}

/// "This login was made with issuer X; the configuration now says Y" (exit 5).
pub fn foreign_login_message(
    login_issuer: &str,
    login_client: &str,
    configured_issuer: &str,
    configured_client: &str,
) -> String {
    let mut parts = Vec::new();
    if login_issuer != configured_issuer {
        parts.push(format!(
            "this login was made with the issuer {login_issuer}; the configuration now says {configured_issuer}"
        ));
    }
    if login_client != configured_client {
        parts.push(format!(
            "this login was made with the client id {login_client:?}; the configuration now says {configured_client:?}"
        ));
    }
    format!(
        "{}; its tokens are not sent to another server",
        parts.join(", and ")
    )
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        let exit = exit_for(&e);
        let foreign = matches!(e, Error::ForeignLogin { .. });
        let err = CliError::new(exit, describe_error(&e));
        if foreign {
            err.hint(FOREIGN_HINT)
        } else {
            err
        }
    }
}

/// What to do about a login made elsewhere.
pub const FOREIGN_HINT: &str = "use the --env / --provider / --login the login was made with \
     (`lexoffice-login status --all` lists them), or log in again with this configuration";

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        CliError::new(Exit::Config, e.to_string())
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        let exit = match e {
            StoreError::BadKey { .. } | StoreError::EncryptionRequired => Exit::Config,
            // A damaged or unreadable login is a login to make again (the message names
            // the file; `logout --force` removes it).
            StoreError::Corrupt { .. }
            | StoreError::UnsupportedFormat { .. }
            | StoreError::PlaintextRefused { .. } => Exit::LoginRequired,
            _ => Exit::Error,
        };
        CliError::new(exit, e.to_string())
    }
}

impl From<ManagerError> for CliError {
    fn from(e: ManagerError) -> Self {
        let exit = exit_for_kind(e.kind());
        let message = match e {
            // The manager's own text says "the user must log in again"; say it to the user.
            ManagerError::LoginRequired { reason, cause } => {
                let cause = cause.map(|c| format!(" ({c})")).unwrap_or_default();
                format!(
                    "you are not logged in, or the login has expired or was revoked: {reason}{cause}"
                )
            }
            ManagerError::RefreshFailed { cause, .. } => {
                if let Error::ForeignLogin { .. } = cause.as_ref() {
                    return CliError::new(exit, describe_error(&cause)).hint(FOREIGN_HINT);
                }
                format!(
                    "the access token has expired and could not be refreshed: {}",
                    describe_error(&cause)
                )
            }
            ManagerError::Store(e) => return e.into(),
            other => other.to_string(),
        };
        CliError::new(exit, message)
    }
}

impl From<ApiError> for CliError {
    fn from(e: ApiError) -> Self {
        if let ApiError::Manager(m) = e {
            return m.into();
        }
        CliError::new(exit_for_kind(e.kind()), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_failures_and_login_problems_get_their_codes() {
        let unreachable = Error::Unreachable {
            endpoint: lexoffice_login::Endpoint::Token,
            url: "http://127.0.0.1:1".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(exit_for(&unreachable), Exit::Provider);
        let grant = Error::OAuth {
            endpoint: lexoffice_login::Endpoint::Token,
            status: 400,
            code: "invalid_grant".into(),
            description: None,
        };
        assert_eq!(exit_for(&grant), Exit::LoginRequired);
        let client = Error::OAuth {
            endpoint: lexoffice_login::Endpoint::Token,
            status: 401,
            code: "invalid_client".into(),
            description: None,
        };
        assert_eq!(
            exit_for(&client),
            Exit::Config,
            "a configuration error, not an outage"
        );
        let refresh: CliError = ManagerError::RefreshFailed {
            cause: std::sync::Arc::new(client),
            retry_in: std::time::Duration::from_secs(10),
        }
        .into();
        assert_eq!(refresh.exit, Exit::Config);
        assert_eq!(exit_for(&Error::StateMismatch), Exit::Error);
        let e: CliError = ManagerError::LoginRequired {
            reason: "x".into(),
            cause: None,
        }
        .into();
        assert_eq!(e.exit, Exit::LoginRequired);
        assert_eq!(Exit::Interrupted as u8, 130);
    }

    #[test]
    fn network_causes_are_named() {
        for (reason, word) in [
            ("connection failed: error sending request: client error (Connect): dns error: failed to lookup address information: Name or service not known", "DNS"),
            ("connection failed: tcp connect error: Connection refused (os error 111)", "connection refused"),
            ("the request failed: invalid peer certificate: UnknownIssuer", "TLS"),
            ("connection failed: operation timed out", "timeout"),
        ] {
            assert!(network_cause(reason).is_some_and(|c| c.starts_with(word)), "{reason}");
        }
        assert_eq!(network_cause("something else"), None);
        let e = Error::Unreachable {
            endpoint: lexoffice_login::Endpoint::Token,
            url: "http://127.0.0.1:1".into(),
            reason: "tcp connect error: Connection refused (os error 111)".into(),
        };
        assert!(CliError::from(e)
            .message
            .contains("[cause: connection refused"));
    }
}
