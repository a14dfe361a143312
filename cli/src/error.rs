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

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        let exit = exit_for(&e);
        CliError::new(exit, e.to_string())
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        CliError::new(Exit::Config, e.to_string())
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        let exit = match e {
            StoreError::BadKey { .. } | StoreError::EncryptionRequired => Exit::Config,
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
                format!("the access token has expired and could not be refreshed: {cause}")
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
}
