//! `token`, `whoami`, `status` and `logout`: the stored login, read, used and ended.

use chrono::Utc;
use lexoffice_login::api::{ApiClient, LexofficeProfile};
use lexoffice_login::providers::Provider;
use lexoffice_login::store::{FileStore, TokenStore};
use lexoffice_login::{Endpoint, Error, Settings, TokenKind, TokenSet};
use serde_json::{json, Value};

use crate::args::{LogoutArgs, WhoamiArgs};
use crate::context::{encryption_words, manager_options, warn_if_unencrypted, Ctx};
use crate::error::{CliError, Exit};
use crate::{errln, outln};

/// The stored login, or "not logged in" (exit 3).
async fn stored_login(ctx: &Ctx, store: &FileStore) -> Result<TokenSet, CliError> {
    match store.load(&ctx.key()).await? {
        Some(tokens) => Ok(tokens),
        None => Err(not_logged_in(ctx, store)),
    }
}

fn not_logged_in(ctx: &Ctx, store: &FileStore) -> CliError {
    CliError::new(
        Exit::LoginRequired,
        format!(
            "not logged in ({}): no login is stored in {}",
            ctx.key(),
            store.dir().display()
        ),
    )
    .hint(ctx.login_hint())
}

/// `token`: a fresh access token on stdout, and nothing else.
///
/// Fast path: a stored token outside the refresh margin is printed without loading the
/// settings or contacting the provider. Otherwise the client is made (discovery) and the
/// token manager refreshes, storing the rotated refresh token before printing.
pub async fn token(ctx: &Ctx) -> Result<(), CliError> {
    let store = ctx.store()?;
    let stored = stored_login(ctx, &store).await?;
    let options = manager_options();
    if !stored.expires_within(stored.refresh_margin(options.refresh_margin)) {
        return outln!("{}", stored.access_token.secret());
    }

    let settings = ctx.settings()?;
    let client = match ctx.client(settings).await {
        Ok(client) => client,
        // The provider is down but the token has not expired yet: it still works.
        Err(e) if e.exit == Exit::Provider && !stored.is_expired() => {
            errln!(
                "warning: the access token expires soon and could not be refreshed ({})",
                e.message
            );
            return outln!("{}", stored.access_token.secret());
        }
        Err(e) => return Err(e),
    };
    let manager = ctx.manager(client, store);
    let token = manager
        .access_token()
        .await
        .map_err(|e| ctx.with_hint(e.into()))?;
    outln!("{}", token.secret())
}

/// Where `whoami --api` asks who is logged in.
struct ApiTarget {
    /// The API base URL.
    base: String,
    /// The path under it.
    path: String,
    /// Whether the answer is lexoffice's profile (else it is shown as it comes).
    lexoffice_profile: bool,
}

/// The API base and identity path for `whoami --api`: the flags, else the settings'
/// `api_base` (the provider preset's unless set) and the preset's identity path; for
/// `--env local` with lexoffice (or no provider) the sandbox's `{issuer}/v1` and `profile`.
/// A provider without them is a configuration error (exit 5): its token is never sent to
/// another provider's API.
fn api_target(ctx: &Ctx, settings: &Settings, args: &WhoamiArgs) -> Result<ApiTarget, CliError> {
    let provider = settings.provider();
    let lexoffice_like = matches!(provider, None | Some(Provider::Lexoffice));
    let sandbox = ctx.env == "local" && lexoffice_like;
    let configured = || settings.api_base().map(|u| u.as_str().to_owned());
    let base = args.api_base.clone().or_else(|| match provider {
        // Without a preset, `api_base` can only have been set on purpose.
        None => configured().or_else(|| sandbox_base(settings, sandbox)),
        Some(_) => sandbox_base(settings, sandbox).or_else(configured),
    });
    let preset_path = settings
        .preset()
        .and_then(|p| p.api.as_ref())
        .and_then(|api| api.identity_path);
    let path = args
        .api_path
        .clone()
        .or_else(|| sandbox.then(|| "profile".to_owned()))
        .or_else(|| preset_path.map(str::to_owned));

    let who = match provider {
        Some(p) => format!("the provider {p}"),
        None => "this provider (no provider preset)".to_owned(),
    };
    let fix_base = "set `api_base` (LEXOFFICE_LOGIN_API_BASE) or pass --api-base";
    let fix_path = "pass --api-path with the API path that tells who is logged in";
    let (message, fix) = match (&base, &path) {
        (Some(base), Some(path)) => {
            return Ok(ApiTarget {
                base: base.trim_end_matches('/').to_owned(),
                lexoffice_profile: lexoffice_like && path.trim_matches('/') == "profile",
                path: path.trim_start_matches('/').to_owned(),
            })
        }
        (None, None) => (
            format!(
                "{who} has no API base URL and no identity endpoint that `whoami --api` knows of"
            ),
            format!("{fix_base}, and {fix_path}"),
        ),
        (None, Some(_)) => (
            format!("{who} has no API base URL that `whoami --api` knows of"),
            fix_base.to_owned(),
        ),
        (Some(_), None) => (
            format!("{who} has no identity endpoint that `whoami --api` knows of"),
            fix_path.to_owned(),
        ),
    };
    Err(CliError::new(
        Exit::Config,
        format!("{message}, and its token is never sent to another provider's API"),
    )
    .hint(format!(
        "{fix}; or `{}` shows the ID token's claims",
        ctx.command("whoami")
    )))
}

/// The local sandbox's lexoffice-like API, `{issuer}/v1`, when it applies.
fn sandbox_base(settings: &Settings, applies: bool) -> Option<String> {
    applies.then(|| format!("{}/v1", settings.issuer().trim_end_matches('/')))
}

/// `whoami`: the stored ID token's claims, else (or with `--api`) the provider's API.
pub async fn whoami(ctx: &Ctx, args: &WhoamiArgs) -> Result<(), CliError> {
    let store = ctx.store()?;
    if !args.api {
        let stored = stored_login(ctx, &store).await?;
        if let Some(claims) = stored.id_token_claims() {
            if ctx.json {
                let claims = serde_json::to_value(claims).unwrap_or(Value::Null);
                return print_json(&json!({
                    "source": "id_token",
                    "subject": &claims["sub"],
                    "claims": claims,
                }));
            }
            outln!("{}", claims.sub)?;
            for name in ["name", "email"] {
                if let Some(v) = claims.string(name) {
                    outln!("  {name:<8} {v}")?;
                }
            }
            outln!("  {:<8} {}", "issuer", claims.iss)?;
            return outln!(
                "  {:<8} ID token of the stored login ({})",
                "source",
                ctx.key()
            );
        }
    }

    let settings = ctx.settings()?;
    let target = api_target(ctx, &settings, args)?;
    if args.api {
        stored_login(ctx, &store).await?;
    }
    let client = ctx.client(settings).await?;
    let http = client.http_client().clone();
    let manager = ctx.manager(client, store);
    let api = ApiClient::builder(manager, &target.base)
        .http_client(http)
        .build()
        .map_err(|e| ctx.with_hint(e.into()))?;
    let ApiTarget { base, path, .. } = &target;
    if !target.lexoffice_profile {
        let answer: Value = api
            .get_json(path)
            .await
            .map_err(|e| ctx.with_hint(e.into()))?;
        if ctx.json {
            return print_json(&json!({
                "source": "api", "api_base": base, "path": path, "response": answer,
            }));
        }
        let text = serde_json::to_string_pretty(&answer)
            .map_err(|e| CliError::new(Exit::Error, format!("could not write JSON: {e}")))?;
        outln!("{text}")?;
        return outln!("  {:<13} GET {base}/{path}", "source");
    }
    let profile: LexofficeProfile = api
        .get_json(path)
        .await
        .map_err(|e| ctx.with_hint(e.into()))?;
    if ctx.json {
        let profile = serde_json::to_value(&profile).unwrap_or(Value::Null);
        return print_json(&json!({ "source": "api", "api_base": base, "profile": profile }));
    }
    outln!(
        "{}",
        profile
            .company_name
            .as_deref()
            .unwrap_or("(no company name)")
    )?;
    outln!("  {:<13} {}", "organization", profile.organization_id)?;
    if let Some(created) = &profile.created {
        if let Some(name) = &created.user_name {
            let email = created
                .user_email
                .as_deref()
                .map(|e| format!(" <{e}>"))
                .unwrap_or_default();
            outln!("  {:<13} {name}{email}", "user")?;
        }
    }
    if let Some(c) = &profile.connection_id {
        outln!("  {:<13} {c}", "connection")?;
    }
    outln!("  {:<13} GET {base}/{path}", "source")
}

fn print_json(value: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::new(Exit::Error, format!("could not write JSON: {e}")))?;
    outln!("{text}")
}

/// `status`: what is stored, never a token. Exits 3 when not logged in.
pub async fn status(ctx: &Ctx) -> Result<(), CliError> {
    let store = ctx.store()?;
    warn_if_unencrypted(&store);
    let key = ctx.key();
    let path = store.path_for(&key);
    // What the file is, not what the store's key would make of the next save.
    let file = store.file_encryption(&key).await?;
    let actual = file.unwrap_or(store.encryption());
    let encrypted = !matches!(actual, lexoffice_login::store::Encryption::None);
    let stored = store.load(&key).await?;
    let store_json = json!({
        "path": path.display().to_string(),
        "dir": store.dir().display().to_string(),
        "encrypted": encrypted,
    });

    let Some(tokens) = stored else {
        if ctx.json {
            print_json(&json!({
                "logged_in": false,
                "env": ctx.env,
                "profile": ctx.profile,
                "store": store_json,
            }))?;
        } else {
            outln!("Not logged in ({key}).")?;
            outln!(
                "  {:<14} {} ({})",
                "store",
                path.display(),
                encryption_words(actual)
            )?;
        }
        return Err(not_logged_in(ctx, &store));
    };

    let now = Utc::now();
    let claims = tokens.id_token_claims();
    let expires_in = tokens.expires_at.map(|at| (at - now).num_seconds());
    if ctx.json {
        return print_json(&json!({
            "logged_in": true,
            "env": ctx.env,
            "profile": ctx.profile,
            "subject": claims.map(|c| c.sub.clone()),
            "name": claims.and_then(|c| c.string("name")),
            "email": claims.and_then(|c| c.string("email")),
            "issuer": claims.map(|c| c.iss.clone()),
            "scopes": tokens.scopes.iter().map(|s| s.as_str().to_owned()).collect::<Vec<_>>(),
            "token_type": tokens.token_type,
            "expires_at": tokens.expires_at.map(|t| t.to_rfc3339()),
            "expires_in_secs": expires_in,
            "expired": tokens.is_expired(),
            "refresh_token": tokens.refresh_token.is_some(),
            "obtained_at": tokens.obtained_at.to_rfc3339(),
            "store": store_json,
        }));
    }

    outln!("Logged in ({key}).")?;
    if let Some(c) = claims {
        let name = match (c.string("name"), c.string("email")) {
            (Some(n), Some(e)) => format!(" ({n} <{e}>)"),
            (Some(n), None) => format!(" ({n})"),
            (None, Some(e)) => format!(" (<{e}>)"),
            (None, None) => String::new(),
        };
        outln!("  {:<14} {}{name}", "subject", c.sub)?;
        outln!("  {:<14} {}", "issuer", c.iss)?;
    } else {
        outln!(
            "  {:<14} unknown (no ID token; `{}` asks the API)",
            "subject",
            ctx.command("whoami")
        )?;
    }
    outln!("  {:<14} {}", "scopes", tokens.scopes)?;
    let expiry = match (tokens.expires_at, expires_in) {
        (Some(at), Some(secs)) if secs > 0 => {
            format!("{} (in {secs} s)", at.format("%Y-%m-%d %H:%M:%S UTC"))
        }
        (Some(at), _) => format!(
            "{} (expired{})",
            at.format("%Y-%m-%d %H:%M:%S UTC"),
            if tokens.refresh_token.is_some() {
                "; the next `token` refreshes it"
            } else {
                ""
            }
        ),
        _ => "unknown (the provider gave no lifetime)".to_owned(),
    };
    outln!("  {:<14} {expiry}", "access token")?;
    outln!(
        "  {:<14} {}",
        "refresh token",
        if tokens.refresh_token.is_some() {
            "stored"
        } else {
            "none (log in again when the access token expires)"
        }
    )?;
    outln!(
        "  {:<14} {}",
        "obtained",
        tokens.obtained_at.format("%Y-%m-%d %H:%M:%S UTC")
    )?;
    outln!(
        "  {:<14} {} ({})",
        "store",
        path.display(),
        encryption_words(actual)
    )
}

/// `logout`: revoke at the provider, then delete here. If revocation fails, the login is
/// kept (so that it can be revoked later) unless `--force`.
pub async fn logout(ctx: &Ctx, args: &LogoutArgs) -> Result<(), CliError> {
    let store = ctx.store()?;
    let key = ctx.key();
    let path = store.path_for(&key);
    // No refresh of this login may run (and rotate its refresh token) meanwhile.
    let _guard = store.lock_refresh(&key).await?;
    let Some(tokens) = store.load(&key).await? else {
        errln!("Not logged in ({key}); nothing to do.");
        return Ok(());
    };

    let revoked = revoke(ctx, &tokens).await;
    let kept_valid = "its tokens stay valid at the provider until they expire";
    match revoked {
        Ok(()) => {
            store.delete(&key).await?;
            errln!(
                "Logged out ({key}): the login was revoked at the provider and deleted from {}.",
                path.display()
            );
            Ok(())
        }
        Err(Revoke::NoEndpoint) => {
            store.delete(&key).await?;
            errln!(
                "Logged out ({key}): deleted from {}. The provider has no revocation endpoint, so {kept_valid}.",
                path.display()
            );
            Ok(())
        }
        Err(Revoke::Failed(e)) if args.force => {
            store.delete(&key).await?;
            errln!("warning: the login could not be revoked: {}", e.message);
            errln!(
                "Deleted the login ({key}) from {} without revoking it (--force): {kept_valid}.",
                path.display()
            );
            Ok(())
        }
        Err(Revoke::Failed(e)) => {
            let first = e
                .hint
                .clone()
                .unwrap_or_else(|| "try again later".to_owned());
            Err(CliError {
                message: format!(
                    "could not revoke the login at the provider, so it was kept in {}: {}",
                    path.display(),
                    e.message
                ),
                hint: Some(format!(
                    "{first}; or `{}` deletes it here anyway ({kept_valid})",
                    ctx.command("logout --force")
                )),
                exit: e.exit,
            })
        }
    }
}

enum Revoke {
    NoEndpoint,
    Failed(CliError),
}

/// Revokes the refresh token (which ends the whole login at most providers), or the
/// access token when there is none.
async fn revoke(ctx: &Ctx, tokens: &TokenSet) -> Result<(), Revoke> {
    let settings = ctx.settings().map_err(Revoke::Failed)?;
    let client = ctx.client(settings).await.map_err(Revoke::Failed)?;
    let kind = if tokens.refresh_token.is_some() {
        TokenKind::Refresh
    } else {
        TokenKind::Access
    };
    match client.revoke(tokens, kind).await {
        Ok(()) => Ok(()),
        Err(Error::MissingEndpoint {
            endpoint: Endpoint::Revocation,
            ..
        }) => Err(Revoke::NoEndpoint),
        Err(e) => Err(Revoke::Failed(ctx.with_hint(e.into()))),
    }
}
