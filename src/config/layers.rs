//! The layers of configuration, read with the `config` crate, later ones winning:
//! `default.toml`, a provider preset, `<env>.toml`, an extra file, the environment.

use std::collections::HashMap;
use std::path::Path;

use config::{Config, Environment, File, FileFormat};

use super::problem::{ConfigError, ConfigProblem};
use super::raw::RawSettings;
use super::LoadOptions;
use crate::protocol::{CLIENT_SECRET_VAR, CONFIG_DIR_VAR, ENV_PREFIX, ENV_VAR, STORE_KEY_VAR};
use crate::providers::{self, Provider};

/// The config files shipped in `config/`, built into the crate.
const BUILT_IN: &[(&str, &str)] = &[
    ("default", include_str!("../../config/default.toml")),
    ("local", include_str!("../../config/local.toml")),
    ("sandbox", include_str!("../../config/sandbox.toml")),
    ("production", include_str!("../../config/production.toml")),
];

/// The environments with a built-in config file.
pub(super) fn built_in_envs() -> impl Iterator<Item = &'static str> {
    BUILT_IN.iter().map(|(n, _)| *n).filter(|n| *n != "default")
}

/// One layer of configuration with a name for messages.
pub(super) struct Layer {
    name: String,
    config: Config,
}

impl Layer {
    /// The layer's name for a key it sets: the variable's name for the environment.
    fn name_for(&self, key: &str) -> String {
        if self.name == ENVIRONMENT {
            format!(
                "environment variable {ENV_PREFIX}{}",
                key.to_uppercase().replace('.', "__")
            )
        } else {
            self.name.clone()
        }
    }
}

/// The name of the environment layer.
const ENVIRONMENT: &str = "environment";

/// Tells which layer a key came from.
pub(super) struct Origins(Vec<Layer>);

impl Origins {
    /// No layers: settings made in code.
    pub(super) fn code() -> Self {
        Origins(Vec::new())
    }

    /// The full key and the name of the last layer that sets it, also where `key` is
    /// only a nested key's last part (`tokn` of `endpoints.tokn`, as serde names an
    /// unknown field); for the environment, the variable's name.
    fn find(&self, key: &str) -> (String, String) {
        for l in self.0.iter().rev() {
            if l.config.get::<config::Value>(key).is_ok() {
                return (key.to_owned(), l.name_for(key));
            }
            let Ok(table) = l
                .config
                .clone()
                .try_deserialize::<config::Map<String, config::Value>>()
            else {
                continue;
            };
            for (section, value) in table {
                if let Ok(inner) = value.into_table() {
                    if inner.contains_key(key) {
                        let full = format!("{section}.{key}");
                        let source = l.name_for(&full);
                        return (full, source);
                    }
                }
            }
        }
        (key.to_owned(), "not set".to_owned())
    }

    /// The name of the last layer that sets `key`.
    pub(super) fn of(&self, key: &str) -> String {
        if self.0.is_empty() {
            return "code".to_owned();
        }
        self.0
            .iter()
            .rev()
            .find(|l| l.config.get::<config::Value>(key).is_ok())
            .map(|l| l.name.clone())
            .unwrap_or_else(|| "not set".to_owned())
    }
}

/// What the layers hold, merged, with where each key came from.
pub(super) struct Read {
    pub env: String,
    pub raw: RawSettings,
    pub origins: Origins,
    pub problems: Vec<ConfigProblem>,
    /// The secret from the environment, if set.
    pub secret: Option<String>,
}

/// Reads and merges every layer.
pub(super) fn read(opts: LoadOptions) -> Result<Read, ConfigError> {
    read_with(opts, None)
}

/// Reads and merges every layer, with `extra_text` as one more TOML layer where the extra
/// file would be (settings from a string: the fuzz target).
pub(super) fn read_with(opts: LoadOptions, extra_text: Option<&str>) -> Result<Read, ConfigError> {
    // `std::env::vars` panics on a variable that is not UTF-8; such variables are
    // never ours, so they are skipped.
    let vars = opts.vars.unwrap_or_else(|| {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect()
    });
    let env = opts
        .env
        .or_else(|| vars.get(ENV_VAR).cloned())
        .unwrap_or_else(|| "local".to_owned());
    check_env_name(&env)?;
    let config_dir = opts
        .config_dir
        .or_else(|| vars.get(CONFIG_DIR_VAR).map(Into::into));

    let mut layers = Vec::new();
    let has_default = match &config_dir {
        Some(dir) => {
            let default = dir.join("default.toml");
            let has_default = default.exists();
            if has_default {
                layers.push(file_layer(&default)?);
            }
            let env_file = dir.join(format!("{env}.toml"));
            if !env_file.exists() {
                return Err(ConfigError::Read(format!(
                    "there is no {} for the environment {env:?}; create it or choose another environment",
                    env_file.display()
                )));
            }
            layers.push(file_layer(&env_file)?);
            has_default
        }
        None => {
            layers.push(built_in_layer("default")?);
            layers.push(built_in_layer(&env)?);
            true
        }
    };
    if let Some(extra) = &opts.extra_file {
        if !extra.exists() {
            return Err(ConfigError::Read(format!(
                "the config file {} does not exist",
                extra.display()
            )));
        }
        layers.push(file_layer(extra)?);
    }
    if let Some(text) = extra_text {
        layers.push(toml_layer("the given TOML".to_owned(), text)?);
    }
    let mut file_layers = layers.len();
    layers.push(env_layer(&vars, &opts.ignore_vars)?);

    // A provider preset (`provider = "xero"`) lies just above default.toml, so the
    // environment's file, an extra file and variables all win over it.
    if let Some(preset) = preset_layer(&layers, &env)? {
        layers.insert(usize::from(has_default), preset);
        file_layers += 1;
    }

    let problems = secrets_in_files(&layers[..file_layers]);
    let mut builder = Config::builder();
    for l in &layers {
        builder = builder.add_source(l.config.clone());
    }
    let merged = builder
        .build()
        .map_err(|e| ConfigError::Read(e.to_string()))?;
    let origins = Origins(layers);
    let raw: RawSettings = merged
        .try_deserialize()
        .map_err(|e| shape_problem(e, &origins))?;
    let secret = vars
        .get(CLIENT_SECRET_VAR)
        .filter(|s| !s.is_empty())
        .cloned();
    Ok(Read {
        env,
        raw,
        origins,
        problems,
        secret,
    })
}

/// An unknown key or a value of the wrong type, as a problem that names the key and
/// the file or variable it came from, and never the value (it may be a secret).
fn shape_problem(e: config::ConfigError, origins: &Origins) -> ConfigError {
    let text = e.to_string();
    let (key, message) = match &e {
        config::ConfigError::Type { key, expected, .. } => (
            key.clone().unwrap_or_default(),
            format!("has the wrong type: expected {expected}"),
        ),
        _ if text.starts_with("unknown field") => (
            backticked(&text).unwrap_or_default().to_owned(),
            "is not a setting; remove it or correct its name".to_owned(),
        ),
        // "invalid type: integer `5`, expected a sequence for key `scopes`": the key
        // and what was expected, not the value.
        _ if text.starts_with("invalid type") || text.starts_with("invalid value") => {
            let key = text
                .rfind("for key `")
                .and_then(|at| backticked(&text[at..]))
                .unwrap_or_default()
                .to_owned();
            let expected = text
                .find(", expected ")
                .map(|at| &text[at + 2..])
                .map(|rest| rest.split(" for key").next().unwrap_or(rest))
                .unwrap_or("another type");
            (
                key,
                format!(
                    "has the wrong type: {}",
                    crate::protocol::sanitize(expected, 80)
                ),
            )
        }
        _ => (String::new(), String::new()),
    };
    if key.is_empty() {
        return ConfigError::Read(format!(
            "the settings do not have the expected shape ({})",
            crate::protocol::sanitize(&text, 200)
        ));
    }
    let (key, source) = origins.find(&key);
    ConfigError::Invalid(vec![ConfigProblem {
        key,
        source,
        message,
    }])
}

/// The first `backticked` word of a message.
fn backticked(text: &str) -> Option<&str> {
    let start = text.find('`')? + 1;
    let len = text[start..].find('`')?;
    Some(&text[start..start + len])
}

/// An environment name is a plain word: it names a file.
fn check_env_name(env: &str) -> Result<(), ConfigError> {
    if !env.is_empty()
        && env
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(());
    }
    Err(ConfigError::Read(format!(
        "{env:?} is not an environment name; use local, sandbox or production"
    )))
}

/// The secret may only come from the environment or a file named in the settings.
fn secrets_in_files(file_layers: &[Layer]) -> Vec<ConfigProblem> {
    file_layers
        .iter()
        .filter(|l| l.config.get::<config::Value>("client_secret").is_ok())
        .map(|l| ConfigProblem {
            key: "client_secret".into(),
            source: l.name.clone(),
            message: format!(
                "secrets do not belong in config files; set {CLIENT_SECRET_VAR} or `client_secret_file` instead"
            ),
        })
        .collect()
}

/// The layer a provider preset contributes, when some layer names a provider.
fn preset_layer(layers: &[Layer], env: &str) -> Result<Option<Layer>, ConfigError> {
    let Some(name) = layers
        .iter()
        .rev()
        .find_map(|l| l.config.get_string("provider").ok())
    else {
        return Ok(None);
    };
    // An unknown name is reported by validation, with the layer it came from.
    let Ok(provider) = name.parse::<Provider>() else {
        return Ok(None);
    };
    let preset = provider.preset(providers::Deployment::for_env(env));
    let read = |e: config::ConfigError| ConfigError::Read(format!("preset {provider}: {e}"));
    let mut b = Config::builder()
        .set_override("issuer", preset.issuer)
        .map_err(read)?
        .set_override("discovery", preset.discovery.is_published())
        .map_err(read)?
        .set_override("client_auth", preset.client_auth.as_str())
        .map_err(read)?
        .set_override("scopes", preset.scopes.clone())
        .map_err(read)?;
    // With discovery, the provider's document names the endpoints; the preset's are
    // only the fallback for a provider without one.
    let static_endpoints = if preset.discovery.is_published() {
        Default::default()
    } else {
        preset.endpoints.clone()
    };
    let optional = [
        ("discovery_url", preset.discovery.url()),
        ("endpoints.authorization", static_endpoints.authorization),
        ("endpoints.token", static_endpoints.token),
        ("endpoints.revocation", static_endpoints.revocation),
        ("endpoints.userinfo", static_endpoints.userinfo),
        ("endpoints.jwks", static_endpoints.jwks),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            b = b.set_override(key, v).map_err(read)?;
        }
    }
    for (k, v) in &preset.extra_authorize_params {
        b = b
            .set_override(format!("extra_authorize_params.{k}"), *v)
            .map_err(read)?;
    }
    let config = b.build().map_err(read)?;
    Ok(Some(Layer {
        name: format!("the {provider} preset"),
        config,
    }))
}

fn file_layer(path: &Path) -> Result<Layer, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Read(format!("{name}: cannot be read ({e})")))?;
    toml_layer(name, &text)
}

/// A layer from TOML text. A syntax error names the line and the column, never the
/// line itself (it may hold a secret).
fn toml_layer(name: String, text: &str) -> Result<Layer, ConfigError> {
    if let Err(e) = toml::from_str::<toml::Table>(text) {
        let at = e
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!("line {line}, column {column}: ")
            })
            .unwrap_or_default();
        let what = crate::protocol::sanitize(e.message(), 120);
        return Err(ConfigError::Read(format!(
            "{name}: {at}not valid TOML ({what})"
        )));
    }
    let config = Config::builder()
        .add_source(File::from_str(text, FileFormat::Toml))
        .build()
        .map_err(|e| {
            ConfigError::Read(format!(
                "{name}: {}",
                crate::protocol::sanitize(&e.to_string(), 200)
            ))
        })?;
    Ok(Layer { name, config })
}

fn built_in_layer(env: &str) -> Result<Layer, ConfigError> {
    let Some((_, text)) = BUILT_IN.iter().find(|(name, _)| *name == env) else {
        return Err(ConfigError::Read(format!(
            "there is no built-in configuration for the environment {env:?} (built in: {}); \
             set {CONFIG_DIR_VAR} to a directory holding {env}.toml",
            built_in_envs().collect::<Vec<_>>().join(", ")
        )));
    };
    let name = format!("built-in config/{env}.toml");
    let config = Config::builder()
        .add_source(File::from_str(text, FileFormat::Toml))
        .build()
        .map_err(|e| ConfigError::Read(format!("{name}: {e}")))?;
    Ok(Layer { name, config })
}

fn env_layer(vars: &HashMap<String, String>, ignore: &[String]) -> Result<Layer, ConfigError> {
    // Variables that are not settings: the environment name, the config directory and the
    // secret, which is read on its own so that it never passes through a config layer;
    // likewise the token store's key (the store reads it itself) and the variables the
    // caller names (a tool's own, such as the CLI's store directory).
    let reserved = [ENV_VAR, CONFIG_DIR_VAR, CLIENT_SECRET_VAR, STORE_KEY_VAR];
    let map: config::Map<String, String> = vars
        .iter()
        .filter(|(k, _)| {
            k.starts_with(ENV_PREFIX)
                && !reserved.contains(&k.as_str())
                && !ignore.iter().any(|i| i == *k)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let config = Config::builder()
        .add_source(
            Environment::with_prefix("LEXOFFICE_LOGIN")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .list_separator(" ")
                .with_list_parse_key("scopes")
                .source(Some(map)),
        )
        .build()
        .map_err(|e| ConfigError::Read(format!("environment variables: {e}")))?;
    Ok(Layer {
        name: ENVIRONMENT.to_owned(),
        config,
    })
}
