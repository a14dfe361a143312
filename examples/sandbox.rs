//! Runs the local sandbox issuer until Ctrl-C.
//!
//! ```text
//! cargo run --example sandbox -- [--port N] [--lexoffice] [--interactive]
//! ```
//!
//! `--port` defaults to 4455 (0 picks a free port), `--lexoffice` imitates the real
//! lexoffice Partner API (no discovery, Basic auth only), `--interactive` shows a
//! consent page with a user picker instead of consenting automatically.

use lexoffice_login::sandbox::{Profile, Sandbox};

struct Args {
    port: u16,
    lexoffice: bool,
    interactive: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 4455,
        lexoffice: false,
        interactive: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--port" => {
                let v = it.next().ok_or("--port needs a value")?;
                args.port = v.parse().map_err(|_| format!("bad port {v:?}"))?;
            }
            "--lexoffice" => args.lexoffice = true,
            "--interactive" => args.interactive = true,
            "-h" | "--help" => {
                return Err("usage: sandbox [--port N] [--lexoffice] [--interactive]".into())
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "lexoffice_login=debug".into()),
        )
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    let profile = if args.lexoffice {
        Profile::Lexoffice
    } else {
        Profile::Oidc
    };
    let sandbox = Sandbox::builder()
        .profile(profile)
        .port(args.port)
        .interactive(args.interactive)
        .start()
        .await?;

    println!("lexoffice-login sandbox issuer ({profile:?} profile) — for tests only");
    println!("issuer:          {}", sandbox.issuer());
    if profile == Profile::Oidc {
        println!(
            "discovery:       {}",
            sandbox.url("/.well-known/openid-configuration")
        );
    }
    println!("authorize:       {}", sandbox.url("/oauth2/authorize"));
    println!("token:           {}", sandbox.url("/oauth2/token"));
    println!("revoke:          {}", sandbox.url("/oauth2/revoke"));
    println!("userinfo:        {}", sandbox.url("/oauth2/userinfo"));
    println!("introspect:      {}", sandbox.url("/oauth2/introspect"));
    println!("jwks:            {}", sandbox.url("/oauth2/jwks"));
    println!("api base:        {}", sandbox.api_base());
    println!("client id:       {}", sandbox.client_id());
    println!(
        "client secret:   {}",
        sandbox.client_secret().unwrap_or("(public client)")
    );
    println!(
        "redirect URI:    {} (any loopback port)",
        sandbox.redirect_uri()
    );
    println!(
        "consent:         {}",
        if args.interactive {
            "interactive page"
        } else {
            "automatic (first user)"
        }
    );
    println!("test users:");
    for u in sandbox.users() {
        println!(
            "  {:<16} {} <{}>, {} (organization {})",
            u.sub, u.name, u.email, u.company_name, u.organization_id
        );
    }
    println!("Ctrl-C stops the sandbox.");
    tokio::signal::ctrl_c().await?;
    sandbox.shutdown().await;
    Ok(())
}
