//! `lexoffice-login`: log in to lexoffice (Lexware Office) and other OpenID Connect /
//! OAuth 2.0 providers from the command line, like `gh auth` and
//! `gcloud auth print-access-token`.
//!
//! | command | does |
//! |---|---|
//! | `login` | browser login on a loopback redirect (RFC 8252), stored on success |
//! | `token` | a fresh access token on stdout, nothing else |
//! | `whoami` | the ID token's claims, or the provider's API (lexoffice: `/v1/profile`) |
//! | `status` | whether the provider still accepts the login (`--offline`, `--all`) |
//! | `list` | every stored login |
//! | `logout` | revoke at the provider, then delete |
//! | `discover` | the provider's metadata and a check of the configuration |
//! | `sandbox` | the local sandbox issuer |
//! | `bff` | a backend-for-frontend for single-page apps (login, sessions, /api proxy) |
//! | `completions` | shell completion scripts (login names complete) |
//! | `man` | the manual page |
//!
//! Exit codes: see [`args::EXIT_CODES`].
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod args;
mod bff;
mod commands;
mod context;
mod discover;
mod error;
mod headers;
mod login;
mod logins;
#[cfg(feature = "sandbox")]
mod sandbox_cmd;

use std::process::ExitCode;

use clap::FromArgMatches;

use crate::args::{Cli, Command};
use crate::context::Ctx;
use crate::error::{CliError, Exit};

fn main() -> ExitCode {
    // The shell's completion requests (`completions` prints the script that sends them).
    clap_complete::CompleteEnv::with_factory(args::command)
        .bin("lexoffice-login")
        .complete();
    // Usage errors exit 2, --help and --version 0 (clap's conventions).
    let json_wanted = std::env::args_os().any(|a| a == "--json");
    let cli = match args::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) if json_wanted && e.use_stderr() => {
            let err = CliError::new(Exit::Usage, e.render().to_string().trim_end().to_owned());
            errln!("{}", err.to_json());
            return Exit::Usage.into();
        }
        Err(e) => e.exit(),
    };
    init_logging(cli.global.verbose);
    // The servers, `sandbox` (test suites, benchmarks) and `bff` (every browser of an
    // app), serve many clients at once: a worker thread per core. The other commands do
    // one request at a time, and one thread starts faster (`token` is called by
    // scripts, per call).
    let mut runtime = match cli.command {
        #[cfg(feature = "sandbox")]
        Command::Sandbox(_) => tokio::runtime::Builder::new_multi_thread(),
        Command::Bff(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match runtime.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: could not start the async runtime: {e}");
            return Exit::Error.into();
        }
    };
    let one_line = matches!(cli.command, Command::Token(_));
    let json = cli.global.json;
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::debug!(exit = e.exit as u8, "the command failed");
            if json {
                errln!("{}", e.to_json());
            } else if one_line {
                // `token` is read by scripts: one line on stderr.
                match &e.hint {
                    Some(hint) => errln!("error: {}; {hint}", e.message),
                    None => errln!("error: {}", e.message),
                }
            } else {
                errln!("{e}");
            }
            e.exit.into()
        }
    }
}

/// Logs on stderr: RUST_LOG when set, else -v (info), -vv (debug), -vvv (trace) for
/// this command and the library, -vvvv trace for everything.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(spec).ok(),
        _ => None,
    };
    let filter = filter.or_else(|| {
        let spec = match verbose {
            0 => return None,
            1 => "lexoffice_login=info",
            2 => "lexoffice_login=debug",
            3 => "lexoffice_login=trace",
            _ => "trace",
        };
        EnvFilter::try_new(spec).ok()
    });
    let Some(filter) = filter else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

async fn run(cli: Cli) -> Result<(), CliError> {
    // Commands that need no settings or store.
    match &cli.command {
        Command::Completions(args) => return completions(args.shell),
        Command::Man => return man(),
        _ => {}
    }
    let ctx = Ctx::new(&cli.global)?;
    tracing::debug!(env = %ctx.env, profile = %ctx.profile, provider = ?ctx.provider, "lexoffice-login");
    match &cli.command {
        Command::Login(args) => login::run(&ctx, args).await,
        Command::Token(args) => commands::token(&ctx, args).await,
        Command::Whoami(args) => commands::whoami(&ctx, args).await,
        Command::Status(args) if args.all => commands::list(&ctx).await,
        Command::Status(args) => commands::status(&ctx, args).await,
        Command::List => commands::list(&ctx).await,
        Command::Logout(args) => commands::logout(&ctx, args).await,
        Command::Discover => discover::run(&ctx).await,
        Command::Bff(args) => bff::run(&ctx, args).await,
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => sandbox_cmd::run(&ctx, args).await,
        Command::Completions(_) | Command::Man => Ok(()),
    }
}

/// `completions SHELL`: the script that asks `lexoffice-login` for candidates (clap's
/// dynamic completion), so stored and named logins complete.
fn completions(shell: clap_complete::Shell) -> Result<(), CliError> {
    let name = shell.to_string();
    let shells = clap_complete::env::Shells::builtins();
    let Some(completer) = shells.completer(&name) else {
        return Err(CliError::new(
            Exit::Error,
            format!("no dynamic completion for {name}"),
        ));
    };
    let mut out = Vec::new();
    completer
        .write_registration(
            "COMPLETE",
            "lexoffice-login",
            "lexoffice-login",
            "lexoffice-login",
            &mut out,
        )
        .map_err(|e| CliError::new(Exit::Error, format!("could not write the script: {e}")))?;
    outln!("{}", String::from_utf8_lossy(&out).trim_end())
}

/// `man`: the manual page, from the same definition as --help.
fn man() -> Result<(), CliError> {
    let mut out = Vec::new();
    clap_mangen::Man::new(args::command())
        .render(&mut out)
        .map_err(|e| CliError::new(Exit::Error, format!("could not write the page: {e}")))?;
    outln!("{}", String::from_utf8_lossy(&out).trim_end())
}
