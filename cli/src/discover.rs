//! `discover`: the provider's metadata, and every check of the configuration against it,
//! each problem with what to do.

use lexoffice_login::config::Discovery;
use lexoffice_login::metadata::{self, ProviderMetadata};
use lexoffice_login::protocol::{is_loopback, CLIENT_SECRET_VAR};
use lexoffice_login::{Client, ClientAuthMethod, Settings};
use serde_json::{json, Value};
use url::Url;

use crate::context::Ctx;
use crate::error::{exit_for, CliError, Exit};
use crate::outln;

/// One check and its outcome.
struct Check {
    name: &'static str,
    problem: Option<(String, String)>,
}

impl Check {
    fn ok(name: &'static str) -> Check {
        Check {
            name,
            problem: None,
        }
    }
    fn problem(name: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Check {
        Check {
            name,
            problem: Some((message.into(), hint.into())),
        }
    }
    fn from_result(
        name: &'static str,
        r: Result<(), lexoffice_login::Error>,
        hint: impl Into<String>,
    ) -> Check {
        match r {
            Ok(()) => Check::ok(name),
            Err(e) => Check::problem(name, e.to_string(), hint),
        }
    }
}

/// Fetches the discovery document through the library (no redirects, size cap, JSON
/// content type), with the configured endpoints laid over it; a 404 gets advice of its own.
async fn fetch(ctx: &Ctx, settings: &Settings, url: &Url) -> Result<ProviderMetadata, CliError> {
    metadata::fetch_unchecked(settings).await.map_err(|e| {
        if let lexoffice_login::Error::UnexpectedResponse { status: 404, .. } = e {
            return CliError::new(
                Exit::Config,
                format!("the provider publishes no discovery document at {url} (HTTP 404)"),
            )
            .hint(
                "if the provider has no OpenID Connect discovery (like lexoffice's Partner API), set \
                 `discovery = false` and configure `endpoints.authorization` and `endpoints.token`; \
                 otherwise check `issuer` or set `discovery_url`",
            );
        }
        ctx.with_hint(e.into())
    })
}

fn checks(settings: &Settings, m: &ProviderMetadata) -> (Vec<Check>, Vec<String>) {
    let mut checks = Vec::new();
    let mut warnings = Vec::new();
    if m.discovered {
        checks.push(Check::from_result(
            "issuer",
            metadata::check_issuer_matches(settings.issuer(), m),
            format!(
                "set `issuer` (or LEXOFFICE_LOGIN_ISSUER) to exactly {:?}, if that is the provider you mean",
                m.issuer
            ),
        ));
        checks.push(Check::from_result(
            "pkce",
            metadata::check_pkce_s256_supported(m),
            "this client needs PKCE with S256; ask the provider to enable it for your client",
        ));
        // scopes_supported is advice (OpenID Connect Discovery 3; Intuit lists only the
        // OpenID Connect scopes): an unlisted scope is a warning, not a problem.
        let unlisted = metadata::unlisted_scopes(settings.scopes(), m);
        if !unlisted.is_empty() {
            warnings.push(format!(
                "scopes {} are not in the provider's scopes_supported; they are asked for anyway (a provider may grant scopes it does not list); if the login fails with invalid_scope, remove them",
                unlisted.join(", ")
            ));
        }
    }
    checks.push(Check::from_result(
        "https",
        metadata::check_endpoints_are_secure(m),
        "use https endpoints (plain http only on loopback)",
    ));
    for (name, present, key) in [
        (
            "authorization endpoint",
            m.authorization_endpoint.is_some(),
            "endpoints.authorization",
        ),
        (
            "token endpoint",
            m.token_endpoint.is_some(),
            "endpoints.token",
        ),
    ] {
        checks.push(if present {
            Check::ok(name)
        } else {
            Check::problem(
                name,
                format!("the provider has no {name}"),
                format!("configure `{key}`"),
            )
        });
    }
    if settings.wants_id_token() {
        checks.push(if m.jwks_uri.is_some() {
            Check::ok("jwks")
        } else {
            Check::problem(
                "jwks",
                "`openid` is requested but the provider has no JWKS to verify ID tokens with",
                "configure `endpoints.jwks`, or remove `openid` from `scopes`",
            )
        });
    }
    if let Some(methods) = &m.token_endpoint_auth_methods_supported {
        let mine = settings.client_auth().as_str();
        checks.push(if methods.iter().any(|x| x == mine) {
            Check::ok("client authentication")
        } else {
            Check::problem(
                "client authentication",
                format!(
                    "`client_auth` is {mine}, but the provider supports {}",
                    methods.join(", ")
                ),
                "set `client_auth` to one of those (the one your client is registered with)",
            )
        });
    }
    let redirect = settings.redirect_uri();
    let loopback = redirect.scheme() == "http" && is_loopback(redirect);
    checks.push(if loopback {
        Check::ok("loopback redirect URI")
    } else {
        Check::problem(
            "loopback redirect URI",
            format!("the redirect URI {redirect} is not an http loopback address, so `lexoffice-login login` cannot receive the login"),
            "register http://127.0.0.1:8765/callback for your app and set `redirect_uri` to it",
        )
    });
    if m.revocation_endpoint.is_none() {
        warnings.push(
            "the provider has no revocation endpoint: `logout` deletes the login here, but its \
             tokens stay valid at the provider until they expire (configure `endpoints.revocation` \
             if it has one)"
                .to_owned(),
        );
    }
    if settings.client_auth() != ClientAuthMethod::None && settings.client_secret().is_none() {
        checks.push(Check::problem(
            "client secret",
            "no client secret is set",
            format!("set {CLIENT_SECRET_VAR}"),
        ));
    }
    (checks, warnings)
}

fn show(u: &Option<impl std::fmt::Display>) -> String {
    u.as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| "-".into())
}

fn list(v: &Option<Vec<String>>) -> String {
    v.as_ref()
        .map(|v| v.join(" "))
        .unwrap_or_else(|| "(not announced)".into())
}

/// `discover`: shows the metadata and the checks; exits 5 (or 4) when a check fails.
/// The client id `discover` uses when none is configured (the provider's metadata needs
/// none; the client's own checks are then left out).
const PLACEHOLDER_CLIENT_ID: &str = "discover-without-client-id";

pub async fn run(ctx: &Ctx) -> Result<(), CliError> {
    let mut notes: Vec<String> = Vec::new();
    let settings = match ctx.settings() {
        Ok(s) => s,
        Err(e) if e.message.contains("`client_id`") => {
            let s = ctx.settings_with(&[
                ("LEXOFFICE_LOGIN_CLIENT_ID", PLACEHOLDER_CLIENT_ID),
                ("LEXOFFICE_LOGIN_CLIENT_AUTH", "none"),
            ])?;
            notes.push(format!(
                "no client id is configured: the provider's metadata was read with a placeholder client id ({PLACEHOLDER_CLIENT_ID}), so the client's own settings were not checked; set `client_id` (LEXOFFICE_LOGIN_CLIENT_ID) to check them"
            ));
            s
        }
        Err(e) => return Err(e),
    };
    for note in &notes {
        crate::errln!("note: {note}");
    }
    let (source, m) = match &settings.discovery() {
        Discovery::Off => (
            "configured endpoints (discovery = false)".to_owned(),
            ProviderMetadata::from_settings(&settings),
        ),
        Discovery::Standard | Discovery::Url(_) => {
            let url = match settings.discovery() {
                Discovery::Url(u) => u.url().clone(),
                _ => metadata::well_known_url(settings.issuer())?,
            };
            (
                format!("discovered from {url}"),
                fetch(ctx, &settings, &url).await?,
            )
        }
    };
    let (mut checks, warnings) = checks(&settings, &m);

    // The library's own checks, in case one is not mirrored above.
    let mut exit = Exit::Config;
    let all_ok = checks.iter().all(|c| c.problem.is_none());
    if all_ok {
        if let Err(e) = Client::connect(settings.clone()).await {
            exit = exit_for(&e);
            checks.push(Check::problem(
                "client",
                e.to_string(),
                match exit {
                    Exit::Provider => ctx.provider_hint(),
                    _ => ctx.config_hint(),
                },
            ));
        }
    }
    let problems = checks.iter().filter(|c| c.problem.is_some()).count();

    if ctx.json {
        let value = json!({
            "env": ctx.env,
            "notes": notes,
            "issuer": settings.issuer(),
            "source": source,
            "metadata": serde_json::to_value(&m).unwrap_or(Value::Null),
            "settings": {
                "client_id": settings.client_id().as_str(),
                "client_auth": settings.client_auth().as_str(),
                "client_secret_set": settings.client_secret().is_some(),
                "redirect_uri": settings.redirect_uri().as_str(),
                "scopes": settings.scopes().to_string(),
            },
            "checks": checks.iter().map(|c| json!({
                "check": c.name,
                "ok": c.problem.is_none(),
                "problem": c.problem.as_ref().map(|p| &p.0),
                "hint": c.problem.as_ref().map(|p| &p.1),
            })).collect::<Vec<_>>(),
            "warnings": warnings,
            "provider": settings.provider().map(|p| p.name()),
            "quirks": settings.quirks().notes,
            "ok": problems == 0,
        });
        let text = serde_json::to_string_pretty(&value)
            .map_err(|e| CliError::new(Exit::Error, format!("could not write JSON: {e}")))?;
        outln!("{text}")?;
    } else {
        outln!("Provider {} ({source})", m.issuer)?;
        for (name, value) in [
            ("authorization", show(&m.authorization_endpoint)),
            ("token", show(&m.token_endpoint)),
            ("revocation", show(&m.revocation_endpoint)),
            ("userinfo", show(&m.userinfo_endpoint)),
            ("jwks", show(&m.jwks_uri)),
            ("PKCE methods", list(&m.code_challenge_methods_supported)),
            ("scopes", list(&m.scopes_supported)),
            (
                "client auth",
                list(&m.token_endpoint_auth_methods_supported),
            ),
            (
                "ID token algs",
                list(&m.id_token_signing_alg_values_supported),
            ),
            (
                "iss on redirect",
                if m.authorization_response_iss_parameter_supported {
                    "yes (RFC 9207)".to_owned()
                } else {
                    "not announced".to_owned()
                },
            ),
        ] {
            outln!("  {name:<16} {value}")?;
        }
        if let Some(provider) = settings.provider() {
            outln!("Provider preset {provider}: what is special about it")?;
            for note in &settings.quirks().notes {
                outln!("  - {note}")?;
            }
        }
        outln!("Configuration ({})", ctx.env)?;
        outln!("  {:<16} {}", "client id", settings.client_id().as_str())?;
        outln!(
            "  {:<16} {}{}",
            "client auth",
            settings.client_auth().as_str(),
            if settings.client_secret().is_some() {
                " (secret set)"
            } else {
                ""
            }
        )?;
        outln!("  {:<16} {}", "redirect URI", settings.redirect_uri())?;
        outln!("  {:<16} {}", "scopes", settings.scopes())?;
        outln!("Checks")?;
        for c in &checks {
            match &c.problem {
                None => outln!("  ok       {}", c.name)?,
                Some((message, hint)) => {
                    outln!("  PROBLEM  {}: {message}", c.name)?;
                    outln!("           hint: {hint}")?;
                }
            }
        }
        for w in &warnings {
            outln!("  note     {w}")?;
        }
    }
    if problems == 0 {
        Ok(())
    } else {
        Err(CliError::new(
            exit,
            format!(
                "{problems} problem{} found with the configuration of {}",
                if problems == 1 { "" } else { "s" },
                ctx.env
            ),
        )
        .hint("see the hints above"))
    }
}
