//! `sandbox`: the local sandbox issuer, in the foreground until Ctrl-C.

use lexoffice_login::providers::Provider;
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
    let profile = match (args.lexoffice, ctx.provider) {
        (true, _) | (false, Some(Provider::Lexoffice)) => SandboxProfile::Lexoffice,
        (false, Some(Provider::Datev)) => SandboxProfile::Datev,
        (false, Some(Provider::Xero)) => SandboxProfile::Xero,
        (false, Some(Provider::QuickBooks)) => SandboxProfile::QuickBooks,
        (false, _) => SandboxProfile::Oidc,
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
            "profile": format!("{profile:?}").to_ascii_lowercase(),
            "exports": exports(&sandbox, profile).into_iter().collect::<std::collections::BTreeMap<_, _>>(),
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
            match profile {
                SandboxProfile::Oidc => "OpenID Connect".to_owned(),
                other => format!("{other:?}"),
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
        for (k, v) in exports(&sandbox, profile) {
            if v.contains(' ') {
                outln!("  export {k}=\"{v}\"")?;
            } else {
                outln!("  export {k}={v}")?;
            }
        }
        outln!("  lexoffice-login login --env local")?;
        outln!("Ctrl-C stops the sandbox.")?;
    }

    stop.recv().await;
    sandbox.shutdown().await;
    errln!("sandbox stopped");
    Ok(())
}

/// The variables that point `lexoffice-login --env local` at this sandbox, for its
/// profile: printed as `export` lines, tested as printed.
fn exports(sandbox: &Sandbox, profile: SandboxProfile) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, val: String| v.push((format!("LEXOFFICE_LOGIN_{k}"), val));
    put("ISSUER", sandbox.issuer().to_owned());
    put("CLIENT_ID", sandbox.client_id().to_owned());
    match sandbox.client_secret() {
        Some(secret) => put("CLIENT_SECRET", secret.to_owned()),
        None => put("CLIENT_AUTH", "none".to_owned()),
    }
    // Any loopback port: the login takes a free one.
    put("REDIRECT_URI", "http://127.0.0.1:0/callback".to_owned());
    let oidc = |p: SandboxProfile| {
        lexoffice_login_sandbox::profile_scopes(p)
            .into_iter()
            .filter(|s| lexoffice_login_sandbox::OIDC_SCOPES.contains(s))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match profile {
        SandboxProfile::Oidc => {}
        SandboxProfile::Lexoffice => {
            // Like the real Partner API: no discovery, static endpoints, no `openid`.
            put("PROVIDER", "lexoffice".to_owned());
            put("DISCOVERY", "false".to_owned());
            for (k, path) in [
                ("ENDPOINTS__AUTHORIZATION", "/oauth2/authorize"),
                ("ENDPOINTS__TOKEN", "/oauth2/token"),
                ("ENDPOINTS__REVOCATION", "/oauth2/revoke"),
            ] {
                put(k, sandbox.url(path).to_string());
            }
            put("SCOPES", "profile.read contacts.read".to_owned());
        }
        SandboxProfile::QuickBooks => {
            put("PROVIDER", "quickbooks".to_owned());
            put(
                "DISCOVERY_URL",
                sandbox.url("/.well-known/openid_configuration").to_string(),
            );
            put("SCOPES", oidc(profile));
        }
        other => {
            let provider = match other {
                SandboxProfile::Datev => "datev",
                _ => "xero",
            };
            put("PROVIDER", provider.to_owned());
            put("SCOPES", oidc(other));
        }
    }
    v
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
