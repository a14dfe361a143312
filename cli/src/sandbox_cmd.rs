//! `sandbox`: the local sandbox issuer, in the foreground until Ctrl-C.

use lexoffice_login_sandbox::{Sandbox, SandboxProfile};
use serde_json::json;

use crate::args::SandboxArgs;
use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::{errln, outln};

/// `sandbox`: serves the local issuer until Ctrl-C (or SIGTERM).
pub async fn run(ctx: &Ctx, args: &SandboxArgs) -> Result<(), CliError> {
    // Caught before the sandbox says it is ready, so that a stop right after is clean.
    let mut stop = Stop::install();
    let profile = if args.lexoffice {
        SandboxProfile::Lexoffice
    } else {
        SandboxProfile::Oidc
    };
    let sandbox = Sandbox::builder()
        .profile(profile)
        .port(args.port)
        .interactive(args.interactive)
        .access_token_ttl(std::time::Duration::from_secs(args.access_token_ttl))
        .start()
        .await
        .map_err(|e| {
            CliError::new(Exit::Error, e.to_string()).hint(format!(
                "is another sandbox already running on port {}? Stop it, or pick another port with --port (0: any free one) and set LEXOFFICE_LOGIN_ISSUER to the issuer it prints",
                args.port
            ))
        })?;

    // The sandbox's client and secret are public test data: printing them is its purpose.
    let users: Vec<_> = sandbox
        .users()
        .iter()
        .map(|u| {
            json!({
                "sub": u.sub, "name": u.name, "email": u.email,
                "organization_id": u.organization_id, "company_name": u.company_name,
            })
        })
        .collect();
    if ctx.json {
        let info = json!({
            "issuer": sandbox.issuer(),
            "profile": if args.lexoffice { "lexoffice" } else { "oidc" },
            "authorization_endpoint": sandbox.url("/oauth2/authorize").as_str(),
            "token_endpoint": sandbox.url("/oauth2/token").as_str(),
            "revocation_endpoint": sandbox.url("/oauth2/revoke").as_str(),
            "api_base": sandbox.api_base().as_str(),
            "client_id": sandbox.client_id(),
            "client_secret": sandbox.client_secret(),
            "redirect_uri": sandbox.redirect_uri(),
            "interactive": args.interactive,
            "users": users,
        });
        // One line, so that scripts can read it as soon as it appears.
        outln!("{info}")?;
    } else {
        outln!(
            "lexoffice-login sandbox issuer ({} profile), for tests and local development only",
            if args.lexoffice {
                "lexoffice"
            } else {
                "OpenID Connect"
            }
        )?;
        outln!("  {:<15} {}", "issuer", sandbox.issuer())?;
        if profile == SandboxProfile::Oidc {
            outln!(
                "  {:<15} {}",
                "discovery",
                sandbox.url("/.well-known/openid-configuration")
            )?;
        }
        for (name, path) in [
            ("authorize", "/oauth2/authorize"),
            ("token", "/oauth2/token"),
            ("revoke", "/oauth2/revoke"),
            ("userinfo", "/oauth2/userinfo"),
            ("introspect", "/oauth2/introspect"),
            ("jwks", "/oauth2/jwks"),
        ] {
            outln!("  {name:<15} {}", sandbox.url(path))?;
        }
        outln!("  {:<15} {}", "api base", sandbox.api_base())?;
        outln!("  {:<15} {}", "client id", sandbox.client_id())?;
        outln!(
            "  {:<15} {}",
            "client secret",
            sandbox.client_secret().unwrap_or("(public client)")
        )?;
        outln!(
            "  {:<15} {} (any loopback port)",
            "redirect URI",
            sandbox.redirect_uri()
        )?;
        outln!(
            "  {:<15} {}",
            "consent",
            if args.interactive {
                "a page to pick a test user"
            } else {
                "automatic, as the first test user"
            }
        )?;
        outln!("  test users")?;
        for u in sandbox.users() {
            outln!(
                "    {:<16} {} <{}>, {} (organization {})",
                u.sub,
                u.name,
                u.email,
                u.company_name,
                u.organization_id
            )?;
        }
        outln!("To log in against it, in another terminal:")?;
        if sandbox.issuer() != "http://127.0.0.1:4455" {
            outln!("  export LEXOFFICE_LOGIN_ISSUER={}", sandbox.issuer())?;
        }
        if let Some(secret) = sandbox.client_secret() {
            outln!("  export LEXOFFICE_LOGIN_CLIENT_SECRET={secret}")?;
        }
        outln!("  lexoffice-login login --env local")?;
        outln!("Ctrl-C stops the sandbox.")?;
    }

    stop.recv().await;
    sandbox.shutdown().await;
    errln!("sandbox stopped");
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
struct Stop {
    interrupt: crate::login::Interrupt,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Stop {
    fn install() -> Stop {
        Stop {
            interrupt: crate::login::Interrupt::install(),
            #[cfg(unix)]
            terminate: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .ok(),
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(term) = &mut self.terminate {
            tokio::select! {
                () = self.interrupt.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        self.interrupt.recv().await;
    }
}
