//! What can be wrong with settings, each problem naming its key and its source.

use std::fmt;

/// A problem with one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The key, dotted for nested keys (`endpoints.token`).
    pub key: String,
    /// Where the value came from (a file, the environment, code), or where to set it.
    pub source: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ({}): {}", self.key, self.source, self.message)
    }
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A layer could not be read or parsed.
    #[error("could not read the configuration: {0}")]
    Read(String),
    /// The settings were read but are not valid.
    #[error("the configuration is invalid:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigProblem>),
}

impl ConfigError {
    /// The problems found, where the settings were read but not valid.
    pub fn problems(&self) -> &[ConfigProblem] {
        match self {
            ConfigError::Invalid(p) => p,
            ConfigError::Read(_) => &[],
        }
    }
}
