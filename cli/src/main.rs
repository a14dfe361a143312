//! `lexoffice-login`: log in to lexoffice (Lexware Office) and other OpenID Connect /
//! OAuth 2.0 providers from the command line, like `gh auth` and
//! `gcloud auth print-access-token`.
//!
//! | command | does |
//! |---|---|
//! | `login` | browser login on a loopback redirect (RFC 8252), stored on success |
//! | `token` | a fresh access token on stdout, nothing else |
//! | `whoami` | the ID token's claims, or the provider's API (lexoffice: `/v1/profile`) |
//! | `status` | what is stored (never a token) |
//! | `logout` | revoke at the provider, then delete |
//! | `discover` | the provider's metadata and a check of the configuration |
//! | `sandbox` | the local sandbox issuer |
//! | `completions` | shell completion scripts |
//!
//! Exit codes: see [`args::EXIT_CODES`].
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod args;
mod commands;
mod context;
mod discover;
mod error;
mod login;
#[cfg(feature = "sandbox")]
mod sandbox_cmd;

use std::process::ExitCode;

use clap::FromArgMatches;

use crate::args::{Cli, Command};
use crate::context::Ctx;
use crate::error::{CliError, Exit};

fn main() -> ExitCode {
    // Usage errors exit 2, --help and --version 0 (clap's conventions).
    let cli = Cli::from_arg_matches(&args::command().get_matches()).unwrap_or_else(|e| e.exit());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: could not start the async runtime: {e}");
            return Exit::Error.into();
        }
    };
    let one_line = matches!(cli.command, Command::Token);
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if one_line {
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

async fn run(cli: Cli) -> Result<(), CliError> {
    let ctx = Ctx::new(&cli.global);
    match &cli.command {
        Command::Login(args) => login::run(&ctx, args).await,
        Command::Token => commands::token(&ctx).await,
        Command::Whoami(args) => commands::whoami(&ctx, args).await,
        Command::Status => commands::status(&ctx).await,
        Command::Logout(args) => commands::logout(&ctx, args).await,
        Command::Discover => discover::run(&ctx).await,
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => sandbox_cmd::run(&ctx, args).await,
        Command::Completions(args) => {
            let mut out = Vec::new();
            clap_complete::generate(
                args.shell,
                &mut args::command(),
                "lexoffice-login",
                &mut out,
            );
            let text = String::from_utf8_lossy(&out);
            outln!("{}", text.trim_end())
        }
    }
}
