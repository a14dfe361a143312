//! The command line's errors: a message, what to do next, and an exit code.
//!
//! Messages come from the library's errors, which never carry a secret.

use std::fmt;
use std::process::ExitCode;

use lexoffice_login::api::ApiError;
use lexoffice_login::store::StoreError;
use lexoffice_login::{ConfigError, Error, ManagerError};

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
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            hint: None,
        }
    }

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

/// The exit code for a library error.
pub fn exit_for(e: &Error) -> Exit {
    match e {
        Error::Config(_) => Exit::Config,
        Error::Unreachable { .. }
        | Error::Timeout { .. }
        | Error::UnexpectedResponse { .. }
        | Error::MalformedResponse { .. } => Exit::Provider,
        Error::OAuth { code, status, .. } => match code.as_str() {
            "invalid_grant" => Exit::LoginRequired,
            "invalid_client" | "unauthorized_client" | "invalid_scope" => Exit::Config,
            "temporarily_unavailable" | "server_error" => Exit::Provider,
            _ if *status >= 500 => Exit::Provider,
            _ => Exit::Error,
        },
        Error::UnexpectedRedirect { .. }
        | Error::IssuerMismatch { .. }
        | Error::PkceS256Unsupported { .. }
        | Error::UnsupportedScopes { .. }
        | Error::MissingEndpoint { .. }
        | Error::InsecureEndpoint { .. } => Exit::Config,
        Error::NoRefreshToken | Error::LoginRequired { .. } => Exit::LoginRequired,
        _ => Exit::Error,
    }
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
        let exit = match &e {
            ManagerError::LoginRequired { .. } => Exit::LoginRequired,
            ManagerError::RefreshFailed { .. } => Exit::Provider,
            _ => Exit::Error,
        };
        let message = match e {
            // The manager's own text says "the user must log in again"; say it to the user.
            ManagerError::LoginRequired { reason } => {
                format!("you are not logged in, or the login has expired or was revoked: {reason}")
            }
            ManagerError::RefreshFailed { reason, .. } => {
                format!("the access token has expired and could not be refreshed: {reason}")
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
        let exit = if e.is_login_required() {
            Exit::LoginRequired
        } else {
            match &e {
                ApiError::Config(_) | ApiError::InvalidPath { .. } => Exit::Config,
                ApiError::RateLimited { .. } | ApiError::Http { .. } => Exit::Provider,
                _ => match e.status() {
                    Some(s) if s >= 500 => Exit::Provider,
                    _ => Exit::Error,
                },
            }
        };
        CliError::new(exit, e.to_string())
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
        assert_eq!(exit_for(&Error::StateMismatch), Exit::Error);
        let e: CliError = ManagerError::LoginRequired { reason: "x".into() }.into();
        assert_eq!(e.exit, Exit::LoginRequired);
        assert_eq!(Exit::Interrupted as u8, 130);
    }
}
