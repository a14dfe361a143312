//! The environment variables the library itself reads. Tools built on it (the CLI) have
//! their own, which they name to [`LoadOptions`](crate::LoadOptions) so that settings
//! loading leaves them alone.

/// Prefix of every environment variable this crate reads.
pub const ENV_PREFIX: &str = "LEXOFFICE_LOGIN_";
/// The environment variable that holds the client secret.
pub const CLIENT_SECRET_VAR: &str = "LEXOFFICE_LOGIN_CLIENT_SECRET";
/// The environment variable that selects the environment (`local`, `sandbox`, `production`).
pub const ENV_VAR: &str = "LEXOFFICE_LOGIN_ENV";
/// The environment variable that names a directory of config files.
pub const CONFIG_DIR_VAR: &str = "LEXOFFICE_LOGIN_CONFIG_DIR";
/// The environment variable that holds the token store's encryption key (base64, 32 bytes).
pub const STORE_KEY_VAR: &str = "LEXOFFICE_LOGIN_STORE_KEY";
