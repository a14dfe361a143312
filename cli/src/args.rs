//! The command line's shape (clap derive): global options, one struct per command.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, CommandFactory, Parser, Subcommand};
use lexoffice_login::providers::Provider;
use lexoffice_login::Settings;

/// Exit codes, shown under every `--help` (keep in step with [`crate::error::Exit`]).
pub const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    error (login denied or timed out, token store unreadable, ...)
  2    usage error (unknown command or option)
  3    login required: not logged in, or the login expired or was revoked;
       run `lexoffice-login login`
  4    the provider is unreachable or failing; try again later
  5    the configuration is invalid (or does not match the provider)
  130  interrupted (Ctrl-C); nothing was changed

Environment:
  LEXOFFICE_LOGIN_ENV            default for --env
  LEXOFFICE_LOGIN_PROFILE        default for --profile (--login)
  LEXOFFICE_LOGIN_USER_CONFIG    the file of named logins (default:
                                 $XDG_CONFIG_HOME/lexoffice-login/config.toml)
  RUST_LOG                       log filter (like -v; e.g. RUST_LOG=lexoffice_login=debug)
  LEXOFFICE_LOGIN_PROVIDER       default for --provider
  LEXOFFICE_LOGIN_CLIENT_ID, LEXOFFICE_LOGIN_CLIENT_SECRET, LEXOFFICE_LOGIN_ISSUER,
  LEXOFFICE_LOGIN_REDIRECT_URI, ... settings (see the README), over the config files
  LEXOFFICE_LOGIN_CONFIG_DIR     a directory with default.toml and <env>.toml
  LEXOFFICE_LOGIN_STORE_DIR      where logins are stored (default: the user's
                                 config directory, lexoffice-login/tokens)
  LEXOFFICE_LOGIN_STORE_KEY      encrypts stored logins: 32 random bytes in base64
                                 (openssl rand -base64 32)

With --json, data goes to stdout and an error to stderr as one line of JSON:
  {\"error\": {\"message\": \"...\", \"hint\": \"...\", \"kind\": \"login_required\", \"exit\": 3}}";

/// Log in to lexoffice (Lexware Office) and other OpenID Connect / OAuth 2.0 providers
/// from the command line, and hand fresh access tokens to scripts.
#[derive(Debug, Parser)]
#[command(
    name = "lexoffice-login",
    version,
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    /// The options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The environment: a built-in one or one of LEXOFFICE_LOGIN_CONFIG_DIR's (`command()`
    /// names the built-in ones, from the library).
    #[arg(
        long,
        global = true,
        env = "LEXOFFICE_LOGIN_ENV",
        value_parser = name_parser("environment"),
        value_name = "ENV"
    )]
    pub env: Option<String>,

    /// Which login to use: several logins of one environment live side by side, one per
    /// profile. A login named in the user config file (`[logins.NAME]`) brings its
    /// provider, environment, client and scopes.
    #[arg(
        long,
        visible_alias = "login",
        global = true,
        env = "LEXOFFICE_LOGIN_PROFILE",
        default_value = "default",
        add = clap_complete::ArgValueCandidates::new(crate::logins::completion_candidates),
        value_parser = name_parser("profile"),
        value_name = "NAME"
    )]
    pub profile: String,

    /// The provider preset (lexoffice is the default of the sandbox and production
    /// environments). Its logins are kept apart from the others'.
    #[arg(
        long,
        global = true,
        env = "LEXOFFICE_LOGIN_PROVIDER",
        value_parser = provider_parser(),
        value_name = "NAME"
    )]
    pub provider: Option<Provider>,

    /// One more TOML settings file, laid over the environment's config file.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print data as JSON on stdout; errors go to stderr as one JSON line
    /// (`{"error": {"message", "hint", "kind", "exit"}}`).
    #[arg(long, global = true)]
    pub json: bool,

    /// Log what happens on stderr: -v info, -vv debug, -vvv trace (the library's and this
    /// command's events; secrets are never logged). RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The commands (parsed once: the size of `bff`'s options does not matter).
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Log in with the browser and store the login.
    ///
    /// Opens the provider's login page in the system browser and receives the redirect
    /// on the loopback redirect URI (RFC 8252); a free port is taken when the redirect
    /// URI's port is 0. The login is stored only once it has succeeded: a failed or
    /// cancelled login leaves an earlier one untouched.
    #[command(after_help = EXIT_CODES)]
    Login(LoginArgs),

    /// Print a valid access token (refreshed if needed) and nothing else.
    ///
    /// For scripts: `curl -H "Authorization: Bearer $(lexoffice-login token)" ...`.
    /// A token that is still fresh is printed without contacting the provider.
    #[command(after_help = EXIT_CODES)]
    Token(TokenArgs),

    /// Show who is logged in: the ID token's claims, or the provider's API (lexoffice: /v1/profile).
    #[command(after_help = EXIT_CODES)]
    Whoami(WhoamiArgs),

    /// Show whether a login is stored and whether the provider still accepts it.
    ///
    /// Asks the provider (userinfo where it has one, else a refresh) unless --offline;
    /// shows when the login expires, its scopes and where it is kept (never a token).
    /// Exits 0 when the login is accepted, 3 when it must be made again, 4 when the
    /// provider cannot be reached.
    #[command(after_help = EXIT_CODES)]
    Status(StatusArgs),

    /// List every stored login (same as `status --all`).
    #[command(after_help = EXIT_CODES)]
    List,

    /// Revoke the login at the provider, then delete it here.
    ///
    /// If the provider cannot be reached, the login is kept (exit 4) unless --force.
    #[command(after_help = EXIT_CODES)]
    Logout(LogoutArgs),

    /// Show the provider's metadata and check the configuration against it.
    #[command(after_help = EXIT_CODES)]
    Discover,

    /// Run the local sandbox issuer (for --env local) until Ctrl-C.
    ///
    /// `--provider datev|xero|quickbooks|lexoffice` (or --lexoffice) behaves like that
    /// provider. It prints the `export` lines that point `lexoffice-login --env local` at it.
    #[cfg(feature = "sandbox")]
    #[command(after_help = EXIT_CODES)]
    Sandbox(SandboxArgs),

    /// Run a backend-for-frontend for a single-page app: the login, server-side sessions
    /// and an /api proxy, so that no token ever reaches the browser.
    ///
    /// Routes: GET /auth/login?return=/path, GET /auth/callback, GET /auth/session,
    /// POST /auth/logout, /api/* (proxied to the provider's API with the session's
    /// bearer token), and the app's static files with --static. The redirect URI is
    /// {public-url}/auth/callback. Prints `listening on http://ADDR` once it accepts
    /// connections.
    #[command(after_help = EXIT_CODES)]
    Bff(BffArgs),

    /// Print a shell completion script: `source <(lexoffice-login completions bash)`.
    ///
    /// The script asks `lexoffice-login` itself for candidates, so stored logins and the
    /// user config file's named logins complete after --profile / --login.
    #[command(after_help = EXIT_CODES)]
    Completions(CompletionsArgs),

    /// Print the manual page (roff): `lexoffice-login man | man -l -`.
    #[command(after_help = EXIT_CODES)]
    Man,
}

/// `token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Refresh now, even if the stored access token is still fresh (for when an API
    /// refused it).
    #[arg(long)]
    pub force_refresh: bool,
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Do not ask the provider; show only what is stored.
    #[arg(long)]
    pub offline: bool,

    /// Show every stored login (all environments, providers and profiles), offline.
    #[arg(long)]
    pub all: bool,
}

/// Where `login` keeps the login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// A file in the store directory (encrypted with LEXOFFICE_LOGIN_STORE_KEY).
    File,
    /// The operating system's keyring (Linux: the kernel keyring).
    Keyring,
}

/// `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Do not open a browser: print the login URL alone on stdout and wait for the
    /// redirect (for SSH sessions: open the URL on a machine whose browser reaches this
    /// one's loopback redirect URI, e.g. through `ssh -L PORT:127.0.0.1:PORT`).
    #[arg(long)]
    pub no_browser: bool,

    /// How long to wait for the browser, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,

    /// The scopes to ask for, instead of the configured ones: names separated by spaces
    /// or commas ("openid profile.read"), or a scope preset's name (sign-in,
    /// read-only-bookkeeping, invoicing, full-access).
    #[arg(long, value_name = "SCOPES")]
    pub scopes: Option<String>,

    /// Copy-paste login for SSH sessions without port forwarding: print the login URL,
    /// open it in any browser, then paste the address the browser was sent back to (even
    /// if it shows an error page) on stdin.
    #[arg(long, conflicts_with = "no_browser")]
    pub paste: bool,

    /// The device authorization grant (RFC 8628) for machines without a browser: shows
    /// a code and a URL to open on any other device, and waits for the approval.
    #[arg(long, conflicts_with_all = ["no_browser", "paste"])]
    pub device: bool,

    /// Where to keep the login (default: file, or the named login's `store`).
    #[arg(long, value_enum, value_name = "KIND")]
    pub store: Option<StoreKind>,
}

/// `whoami`.
#[derive(Debug, Args)]
pub struct WhoamiArgs {
    /// Ask the provider's API who is logged in (lexoffice: GET /v1/profile) even when the
    /// login has an ID token.
    #[arg(long)]
    pub api: bool,

    /// The API base URL (default: the `api_base` setting, else the provider preset's;
    /// for --env local the sandbox's {issuer}/v1).
    #[arg(long, value_name = "URL")]
    pub api_base: Option<String>,

    /// The path, under the API base URL, that tells who is logged in (default: the
    /// provider preset's, lexoffice: profile).
    #[arg(long, value_name = "PATH")]
    pub api_path: Option<String>,
}

/// `logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Delete the login here even if the provider could not revoke it (its tokens then
    /// stay valid at the provider until they expire).
    #[arg(long)]
    pub force: bool,
}

/// `sandbox`.
#[cfg(feature = "sandbox")]
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// The port on 127.0.0.1 (0: a free one). 4455 is the one config/local.toml expects.
    #[arg(long, default_value_t = 4455)]
    pub port: u16,

    /// Behave like the real lexoffice Partner API: no discovery, Basic client
    /// authentication only, no ID token unless `openid` is asked for.
    #[arg(long)]
    pub lexoffice: bool,

    /// Show a consent page with a choice of test users instead of consenting at once.
    #[arg(long)]
    pub interactive: bool,

    /// Access token lifetime in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub access_token_ttl: u64,
}

/// Where `bff` keeps its sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SessionStoreKind {
    /// In this process (sessions end when it stops; one replica only).
    Memory,
    /// PostgreSQL (--database-url): sessions, started logins, the logins' tokens and the
    /// rate budget, shared by every replica and kept across restarts; sealed with
    /// LEXOFFICE_LOGIN_STORE_KEY.
    Postgres,
}

/// `bff`.
#[derive(Debug, Args)]
pub struct BffArgs {
    /// The address to listen on (port 0: a free one).
    #[arg(
        long,
        env = "LEXOFFICE_BFF_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: std::net::SocketAddr,

    /// The URL the browser uses for the app and this server (scheme, host, port), e.g.
    /// https://app.example. Default: http://ADDR of --listen. Over https the cookie is
    /// `__Host-lexoffice_bff; Secure`; on a loopback http URL (development only) it is
    /// `lexoffice_bff` without Secure.
    #[arg(long, env = "LEXOFFICE_BFF_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<url::Url>,

    /// An origin allowed to make state-changing calls (repeatable, or comma-separated in
    /// the variable). Default: the public URL's origin.
    #[arg(
        long = "allowed-origin",
        env = "LEXOFFICE_BFF_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub allowed_origins: Vec<String>,

    /// App paths a login may return to: each one allows itself and the paths under it
    /// (repeatable, or comma-separated). Default: `/`, every path of the app.
    #[arg(
        long = "return-path",
        env = "LEXOFFICE_BFF_RETURN_PATHS",
        value_delimiter = ',',
        value_name = "PATH"
    )]
    pub return_paths: Vec<String>,

    /// Serve the single-page app's files from this directory (index.html for `/`).
    #[arg(long = "static", env = "LEXOFFICE_BFF_STATIC", value_name = "DIR")]
    pub static_dir: Option<PathBuf>,

    /// The API the /api/* requests go to (default: the provider's API; for --env local
    /// the sandbox's {issuer}/v1).
    #[arg(long, env = "LEXOFFICE_BFF_API_BASE", value_name = "URL")]
    pub api_base: Option<url::Url>,

    /// Where sessions are kept.
    #[arg(
        long,
        env = "LEXOFFICE_BFF_SESSION_STORE",
        value_enum,
        default_value = "memory",
        value_name = "KIND"
    )]
    pub session_store: SessionStoreKind,

    /// The PostgreSQL database of --session-store postgres, e.g.
    /// postgres://bff@db.internal/app?sslmode=verify-full (its value is never shown).
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL",
        required_if_eq("session_store", "postgres")
    )]
    pub database_url: Option<String>,

    /// How long the PostgreSQL stores wait for a database connection (at start and per
    /// request) before they give up, in seconds.
    #[arg(
        long,
        env = "LEXOFFICE_BFF_DATABASE_TIMEOUT",
        default_value_t = 10,
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..=600)
    )]
    pub database_timeout: u64,

    /// The shared rate budget for /api/* requests, per organisation (else per session):
    /// requests per second. Default: the provider's documented limit (lexoffice: 2/s,
    /// with headroom); 0 turns it off. A `429` from the API holds that organisation's
    /// requests back for its Retry-After.
    #[arg(long, env = "LEXOFFICE_BFF_RATE_LIMIT", value_name = "PER_SEC")]
    pub rate_limit: Option<f64>,

    /// A session ends after this many seconds without a request (fractions allowed).
    #[arg(
        long,
        env = "LEXOFFICE_BFF_IDLE_TIMEOUT",
        default_value_t = 1800.0,
        value_name = "SECS"
    )]
    pub idle_timeout: f64,

    /// A session ends this many seconds after the login, however active (fractions
    /// allowed).
    #[arg(
        long,
        env = "LEXOFFICE_BFF_ABSOLUTE_TIMEOUT",
        default_value_t = 28_800.0,
        value_name = "SECS"
    )]
    pub absolute_timeout: f64,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// The command line, with the lists that only the library knows filled into its help.
pub fn command() -> clap::Command {
    let envs = Settings::built_in_environments().join(", ");
    Cli::command().mut_arg("env", |arg| {
        arg.help(format!(
            "The environment: {envs} (built in; local is the sandbox issuer on this \
             machine), or one of LEXOFFICE_LOGIN_CONFIG_DIR's [default: the named login's \
             `env`, else local]"
        ))
    })
}

/// `--provider`: the library's provider presets, and no other names.
fn provider_parser() -> impl TypedValueParser<Value = Provider> {
    PossibleValuesParser::new(Provider::names()).try_map(|name| name.parse::<Provider>())
}

/// Environment and profile names: letters, digits, `-`, `_` (and `.` for profiles).
fn name_parser(what: &'static str) -> impl Fn(&str) -> Result<String, String> + Clone {
    move |s: &str| {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && !s.starts_with('.');
        if ok {
            Ok(s.to_owned())
        } else {
            Err(format!(
                "{s:?} is not a valid {what} name (letters, digits, '-', '_', '.', at most 64)"
            ))
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)] // a test may fail loudly
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    #[test]
    fn the_providers_are_the_librarys() {
        let cmd = command();
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_id() == "provider")
            .expect("--provider");
        let offered: Vec<String> = arg
            .get_possible_values()
            .iter()
            .map(|v| v.get_name().to_owned())
            .collect();
        let library: Vec<String> = Provider::names().map(str::to_owned).collect();
        assert_eq!(offered, library);
        for provider in Provider::ALL {
            let cli =
                Cli::try_parse_from(["lexoffice-login", "--provider", provider.name(), "status"])
                    .expect("a library provider is accepted");
            assert_eq!(cli.global.provider, Some(provider));
        }
        assert!(Cli::try_parse_from(["lexoffice-login", "--provider", "sage", "status"]).is_err());
    }

    #[test]
    fn the_help_names_the_built_in_environments() {
        let help = command().render_long_help().to_string();
        for env in Settings::built_in_environments() {
            assert!(help.contains(env), "{env} missing from:\n{help}");
        }
    }

    #[test]
    fn names_are_checked() {
        let p = name_parser("profile");
        assert!(p("work-2").is_ok());
        assert!(p("").is_err());
        assert!(p("../x").is_err());
        assert!(p("a b").is_err());
    }
}
