//! `token`, `whoami`, `status` and `logout`: the stored login, read, used and ended.

use chrono::Utc;
use lexoffice_login::api::{ApiClient, LexofficeProfile};
use lexoffice_login::providers::Provider;
use lexoffice_login::store::{Encryption, StoreError, TokenStore};
use lexoffice_login::{Endpoint, Error, ErrorKind, Settings, TokenKind, TokenSet};
use serde_json::{json, Map, Value};

use crate::args::{LogoutArgs, StatusArgs, TokenArgs, WhoamiArgs};
use crate::context::{encryption_words, manager_options, AnyStore, Ctx};
use crate::error::{CliError, Exit};
use crate::{errln, outln};

/// The stored login, or "not logged in" (exit 3); a damaged one is exit 3 too, with the
/// file named and `logout --force` to remove it.
async fn stored_login(ctx: &Ctx, store: &AnyStore) -> Result<TokenSet, CliError> {
    match store.load(&ctx.key()).await {
        Ok(Some(tokens)) => Ok(tokens),
        Ok(None) => Err(not_logged_in(ctx, store)),
        Err(e) => Err(store_error(ctx, e)),
    }
}

/// A store error with what to do: a damaged login is removed by `logout --force`.
fn store_error(ctx: &Ctx, e: StoreError) -> CliError {
    let damaged = matches!(
        e,
        StoreError::Corrupt { .. }
            | StoreError::UnsupportedFormat { .. }
            | StoreError::PlaintextRefused { .. }
    );
    let err = CliError::from(e);
    if damaged {
        err.hint(format!(
            "`{}` removes it; then `{}`",
            ctx.command("logout --force"),
            ctx.command("login")
        ))
    } else {
        err
    }
}

fn not_logged_in(ctx: &Ctx, store: &AnyStore) -> CliError {
    CliError::new(
        Exit::LoginRequired,
        format!(
            "not logged in ({}): no login is stored in {}",
            ctx.key(),
            if store.is_keyring() {
                store.location(&ctx.key())
            } else {
                store.files().dir().display().to_string()
            }
        ),
    )
    .hint(ctx.login_hint())
}

/// `token`: a fresh access token on stdout, and nothing else.
///
/// Fast path: a stored token outside the refresh margin is printed without loading the
/// settings or contacting the provider. Otherwise the client is made (discovery) and the
/// token manager refreshes, storing the rotated refresh token before printing.
pub async fn token(ctx: &Ctx, args: &TokenArgs) -> Result<(), CliError> {
    let store = ctx.login_store(None)?;
    let stored = stored_login(ctx, &store).await?;
    // The settings are read (no network) so that a login made with another issuer or
    // client is never handed out for this configuration.
    let settings = ctx.settings()?;
    ctx.check_origin(&settings, &stored)?;
    let options = manager_options();
    if args.force_refresh {
        let client = ctx.client(settings).await?;
        let manager = ctx.manager(client, store);
        // The manager refreshes the token it holds: load it first.
        manager
            .access_token()
            .await
            .map_err(|e| ctx.with_hint(e.into()))?;
        let token = manager
            .force_refresh()
            .await
            .map_err(|e| ctx.with_hint(e.into()))?;
        tracing::info!("refreshed on request (--force-refresh)");
        return print_token(ctx, token.secret());
    }
    if !stored.expires_within(stored.refresh_margin(options.refresh_margin)) {
        tracing::debug!("the stored access token is fresh; printed without asking the provider");
        return print_token(ctx, stored.access_token.secret());
    }

    let client = match ctx.client(settings).await {
        Ok(client) => client,
        // The provider is down but the token has not expired yet: it still works.
        Err(e) if e.exit == Exit::Provider && !stored.is_expired() => {
            errln!(
                "warning: the access token expires soon and could not be refreshed ({})",
                e.message
            );
            return print_token(ctx, stored.access_token.secret());
        }
        Err(e) => return Err(e),
    };
    let manager = ctx.manager(client, store);
    let token = manager
        .access_token()
        .await
        .map_err(|e| ctx.with_hint(e.into()))?;
    print_token(ctx, token.secret())
}

/// The token alone, or with --json `{"access_token": "..."}`.
fn print_token(ctx: &Ctx, token: &str) -> Result<(), CliError> {
    if ctx.json {
        return outln!("{}", json!({ "access_token": token }));
    }
    outln!("{token}")
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
    let store = ctx.login_store(None)?;
    if !args.api {
        let stored = stored_login(ctx, &store).await?;
        let profile_claims = stored
            .id_token_claims()
            .is_some_and(|c| c.string("name").is_some() || c.string("email").is_some());
        if stored.id_token_claims().is_some() && !profile_claims {
            // An ID token without profile claims: the provider's userinfo has them.
            if let Some(claims) = userinfo_claims(ctx, &store, &stored).await? {
                return print_userinfo(ctx, &claims);
            }
        }
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
    let stored = stored_login(ctx, &store).await?;
    ctx.check_origin(&settings, &stored)?;
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

/// The provider's userinfo claims for this login (the access token refreshed if
/// needed), or `None` when the provider has no userinfo endpoint.
async fn userinfo_claims(
    ctx: &Ctx,
    store: &AnyStore,
    stored: &TokenSet,
) -> Result<Option<Map<String, Value>>, CliError> {
    let settings = ctx.settings()?;
    ctx.check_origin(&settings, stored)?;
    let client = ctx.client(settings).await?;
    if client.metadata().userinfo_endpoint.is_none() {
        return Ok(None);
    }
    let manager = ctx.manager(client.clone(), store.clone());
    manager
        .access_token()
        .await
        .map_err(|e| ctx.with_hint(e.into()))?;
    let current = manager.current().unwrap_or_else(|| stored.clone());
    let claims = client
        .userinfo(&current)
        .await
        .map_err(|e| ctx.with_hint(e.into()))?;
    Ok(Some(claims))
}

fn print_userinfo(ctx: &Ctx, claims: &Map<String, Value>) -> Result<(), CliError> {
    if ctx.json {
        return print_json(&json!({
            "source": "userinfo",
            "subject": claims.get("sub"),
            "claims": claims,
        }));
    }
    let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
    outln!("{}", text("sub").unwrap_or_default())?;
    for name in ["name", "email"] {
        if let Some(v) = text(name) {
            outln!("  {name:<8} {v}")?;
        }
    }
    outln!(
        "  {:<8} the provider's userinfo (the ID token of {} has no name or email)",
        "source",
        ctx.key()
    )
}

fn print_json(value: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::new(Exit::Error, format!("could not write JSON: {e}")))?;
    outln!("{text}")
}

/// What the provider said of the login.
enum Online {
    /// `status --offline`.
    Skipped,
    /// Accepted, checked through `via` (userinfo, refresh).
    Accepted(&'static str),
    /// Not accepted (or not checkable): the error.
    Failed(CliError),
}

/// Asks the provider whether it still accepts the login: userinfo where it has one
/// (after a refresh if the access token has expired), else a refresh by the token
/// manager (`force_refresh`), which stores the rotated tokens.
async fn check_online(
    ctx: &Ctx,
    store: &AnyStore,
    stored: &TokenSet,
) -> Result<&'static str, CliError> {
    let settings = ctx.settings()?;
    ctx.check_origin(&settings, stored)?;
    let client = ctx.client(settings).await?;
    let manager = ctx.manager(client.clone(), store.clone());
    let hint = |e: lexoffice_login::ManagerError| ctx.with_hint(e.into());
    if client.metadata().userinfo_endpoint.is_some() {
        manager.access_token().await.map_err(hint)?;
        let current = manager.current().unwrap_or_else(|| stored.clone());
        match client.userinfo(&current).await {
            Ok(_) => return Ok("userinfo"),
            Err(e) if e.kind() == ErrorKind::ProviderUnavailable => {
                return Err(ctx.with_hint(e.into()))
            }
            Err(e) => {
                // The access token was refused: a refresh tells whether the login is.
                tracing::debug!(error = %e, "userinfo refused the access token; refreshing");
                if current.refresh_token.is_none() {
                    return Err(ctx.with_hint(CliError::new(
                        Exit::LoginRequired,
                        format!("the provider no longer accepts the access token ({e}) and there is no refresh token"),
                    )));
                }
                manager.force_refresh().await.map_err(hint)?;
                let current = manager.current().unwrap_or_else(|| stored.clone());
                return match client.userinfo(&current).await {
                    Ok(_) => Ok("userinfo, after a refresh"),
                    Err(e) => Err(ctx.with_hint(e.into())),
                };
            }
        }
    }
    if stored.refresh_token.is_none() {
        return Err(CliError::new(
            Exit::LoginRequired,
            "the provider has no userinfo endpoint and the login has no refresh token, so it cannot be checked; log in again when the access token expires".to_owned(),
        ));
    }
    manager.access_token().await.map_err(hint)?;
    manager.force_refresh().await.map_err(hint)?;
    Ok("refresh")
}

/// `status`: what is stored (never a token), and whether the provider still accepts it.
/// Exits 0 when accepted (or stored, with --offline), 3 when a login is needed, 4 when
/// the provider cannot be reached.
pub async fn status(ctx: &Ctx, args: &StatusArgs) -> Result<(), CliError> {
    let store = ctx.login_store(None)?;
    let files = store.files().clone();
    let key = ctx.key();
    let location = store.location(&key);
    // What the file is, not what the store's key would make of the next save.
    let actual = if store.is_keyring() {
        None
    } else {
        Some(
            files
                .file_encryption(&key)
                .await?
                .unwrap_or(files.encryption()),
        )
    };
    let enc_words = match actual {
        Some(e) => encryption_words(e),
        None => "the keyring encrypts it",
    };
    let encrypted = !matches!(actual, Some(Encryption::None));
    let store_json = json!({
        "path": location,
        "dir": files.dir().display().to_string(),
        "kind": if store.is_keyring() { "keyring" } else { "file" },
        "encrypted": encrypted,
    });
    let stored = match store.load(&key).await {
        Ok(s) => s,
        Err(e) => {
            let e = store_error(ctx, e);
            if ctx.json {
                print_json(&json!({
                    "logged_in": false, "damaged": true, "env": ctx.env, "profile": ctx.profile,
                    "store": store_json, "problem": e.message,
                }))?;
            } else {
                outln!("Login {key} is damaged.")?;
                outln!("  {:<14} {location}", "store")?;
            }
            return Err(e);
        }
    };

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
            outln!("  {:<14} {location} ({enc_words})", "store")?;
        }
        return Err(not_logged_in(ctx, &store));
    };

    let online = if args.offline {
        Online::Skipped
    } else {
        match check_online(ctx, &store, &tokens).await {
            Ok(via) => Online::Accepted(via),
            Err(e) => Online::Failed(e),
        }
    };
    // A check may have refreshed: show what is stored now.
    let tokens = match (&online, store.load(&key).await) {
        (Online::Accepted(_), Ok(Some(t))) => t,
        _ => tokens,
    };

    let now = Utc::now();
    let claims = tokens.id_token_claims();
    let expires_in = tokens.expires_at.map(|at| (at - now).num_seconds());
    let origin = tokens.origin.as_ref();
    let provider_json = match &online {
        Online::Skipped => json!({ "checked": false }),
        Online::Accepted(via) => json!({ "checked": true, "accepted": true, "via": via }),
        Online::Failed(e) => json!({
            "checked": true,
            "accepted": if e.exit == Exit::LoginRequired { json!(false) } else { Value::Null },
            "error": e.message,
            "exit": e.exit as u8,
        }),
    };
    if ctx.json {
        print_json(&json!({
            "logged_in": true,
            "env": ctx.env,
            "profile": ctx.profile,
            "subject": claims.map(|c| c.sub.clone()),
            "name": claims.and_then(|c| c.string("name")),
            "email": claims.and_then(|c| c.string("email")),
            "issuer": origin.map(|o| o.issuer.clone()).or_else(|| claims.map(|c| c.iss.clone())),
            "client_id": origin.map(|o| o.client_id.clone()),
            "scopes": tokens.scopes.iter().map(|s| s.as_str().to_owned()).collect::<Vec<_>>(),
            "token_type": tokens.token_type,
            "expires_at": tokens.expires_at.map(|t| t.to_rfc3339()),
            "expires_in_secs": expires_in,
            "expired": tokens.is_expired(),
            "refresh_token": tokens.refresh_token.is_some(),
            "obtained_at": tokens.obtained_at.to_rfc3339(),
            "store": store_json,
            "provider_check": provider_json,
        }))?;
    } else {
        outln!("Logged in ({key}).")?;
        if let Some(c) = claims {
            let name = match (c.string("name"), c.string("email")) {
                (Some(n), Some(e)) => format!(" ({n} <{e}>)"),
                (Some(n), None) => format!(" ({n})"),
                (None, Some(e)) => format!(" (<{e}>)"),
                (None, None) => String::new(),
            };
            outln!("  {:<14} {}{name}", "subject", c.sub)?;
        } else {
            outln!(
                "  {:<14} unknown (no ID token; `{}` asks the API)",
                "subject",
                ctx.command("whoami")
            )?;
        }
        match (origin, claims) {
            (Some(o), _) => outln!("  {:<14} {} (client {})", "issuer", o.issuer, o.client_id)?,
            (None, Some(c)) => outln!("  {:<14} {}", "issuer", c.iss)?,
            (None, None) => {}
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
        outln!("  {:<14} {location} ({enc_words})", "store")?;
        match &online {
            Online::Skipped => outln!("  {:<14} not asked (--offline)", "provider")?,
            Online::Accepted(via) => {
                outln!("  {:<14} accepts the login (checked: {via})", "provider")?
            }
            Online::Failed(e) if e.exit == Exit::LoginRequired => outln!(
                "  {:<14} no longer accepts the login: log in again",
                "provider"
            )?,
            Online::Failed(e) if e.exit == Exit::Provider => outln!(
                "  {:<14} could not be reached; the login was not checked",
                "provider"
            )?,
            Online::Failed(_) => outln!("  {:<14} the check failed (see below)", "provider")?,
        }
    }
    match online {
        Online::Failed(e) => Err(e),
        _ => Ok(()),
    }
}

/// `list` / `status --all`: every login in the store directory, offline.
pub async fn list(ctx: &Ctx) -> Result<(), CliError> {
    let files = ctx.store()?;
    let entries = crate::logins::stored_logins(files.dir());
    let mut rows = Vec::new();
    for entry in &entries {
        let store = if entry.keyring {
            match lexoffice_login::store::KeyringStore::builder()
                .lock_dir(files.dir().to_owned())
                .build()
            {
                Ok(k) => AnyStore::Keyring {
                    keyring: k,
                    files: files.clone(),
                },
                Err(_) => AnyStore::File(files.clone()),
            }
        } else {
            AnyStore::File(files.clone())
        };
        let encryption = if entry.keyring {
            None
        } else {
            files.file_encryption(&entry.key).await.ok().flatten()
        };
        let loaded = store.load(&entry.key).await;
        let (state, subject, issuer, expires_at) = match &loaded {
            Ok(Some(t)) => (
                if t.is_expired() && t.refresh_token.is_none() {
                    "expired"
                } else {
                    "stored"
                },
                t.id_token_claims().map(|c| c.sub.clone()),
                t.origin
                    .as_ref()
                    .map(|o| o.issuer.clone())
                    .or_else(|| t.id_token_claims().map(|c| c.iss.clone())),
                t.expires_at,
            ),
            Ok(None) => ("missing", None, None, None),
            Err(_) => ("damaged", None, None, None),
        };
        rows.push(json!({
            "env": entry.key.env,
            "profile": entry.key.profile,
            "state": state,
            "subject": subject,
            "issuer": issuer,
            "expires_at": expires_at.map(|t| t.to_rfc3339()),
            "store": if entry.keyring { "keyring" } else { "file" },
            "encrypted": match encryption { Some(Encryption::None) => json!(false), Some(_) => json!(true), None => Value::Null },
            "path": entry.path.display().to_string(),
            "problem": loaded.err().map(|e| e.to_string()),
        }));
    }
    if ctx.json {
        return print_json(&json!({ "dir": files.dir().display().to_string(), "logins": rows }));
    }
    if rows.is_empty() {
        return outln!("No logins are stored in {}.", files.dir().display());
    }
    outln!(
        "{:<24} {:<10} {:<8} {:<20} {}",
        "LOGIN (env/profile)",
        "STATE",
        "STORE",
        "SUBJECT",
        "ISSUER"
    )?;
    for r in &rows {
        let text = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
        let store = match (text("store").as_str(), r["encrypted"].as_bool()) {
            ("keyring", _) => "keyring".to_owned(),
            (_, Some(false)) => "file".to_owned(),
            _ => "file+enc".to_owned(),
        };
        outln!(
            "{:<24} {:<10} {:<8} {:<20} {}",
            format!("{}/{}", text("env"), text("profile")),
            text("state"),
            store,
            text("subject"),
            text("issuer")
        )?;
    }
    outln!(
        "(in {}; `status --profile NAME` checks one with its provider)",
        files.dir().display()
    )
}

/// `logout`: revoke at the provider, then delete here. If revocation fails, the login is
/// kept (so that it can be revoked later) unless `--force`.
pub async fn logout(ctx: &Ctx, args: &LogoutArgs) -> Result<(), CliError> {
    let store = ctx.login_store(None)?;
    let key = ctx.key();
    let path = store.location(&key);
    // No refresh of this login may run (and rotate its refresh token) meanwhile.
    let _guard = store.lock_refresh(&key).await?;
    let tokens = match store.load(&key).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            errln!("Not logged in ({key}); nothing to do.");
            return Ok(());
        }
        Err(e) if args.force => {
            // A damaged login cannot be revoked (its tokens cannot be read): remove it.
            errln!("warning: the stored login could not be read: {e}");
            remove_damaged(&store, &key).await?;
            errln!("Removed the damaged login ({key}) from {path} (--force).");
            return Ok(());
        }
        Err(e) => return Err(store_error(ctx, e)),
    };

    let revoked = revoke(ctx, &tokens).await;
    let said = |revoked: bool| -> Result<(), CliError> {
        if ctx.json {
            print_json(&json!({
                "logged_out": true, "revoked": revoked, "env": ctx.env, "profile": ctx.profile,
            }))?;
        }
        Ok(())
    };
    let kept_valid = "its tokens stay valid at the provider until they expire";
    match revoked {
        Ok(()) => {
            store.delete(&key).await?;
            errln!(
                "Logged out ({key}): the login was revoked at the provider and deleted from {path}."
            );
            said(true)
        }
        Err(Revoke::NoEndpoint) => {
            store.delete(&key).await?;
            errln!(
                "Logged out ({key}): deleted from {path}. The provider has no revocation endpoint, so {kept_valid}."
            );
            said(false)
        }
        Err(Revoke::Failed(e)) if args.force => {
            store.delete(&key).await?;
            errln!("warning: the login could not be revoked: {}", e.message);
            errln!(
                "Deleted the login ({key}) from {path} without revoking it (--force): {kept_valid}."
            );
            said(false)
        }
        Err(Revoke::Failed(e)) => {
            let first = e
                .hint
                .clone()
                .unwrap_or_else(|| "try again later".to_owned());
            Err(CliError {
                message: format!(
                    "could not revoke the login at the provider, so it was kept in {path}: {}",
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

/// Removes a login whose file cannot be read.
async fn remove_damaged(
    store: &AnyStore,
    key: &lexoffice_login::store::StoreKey,
) -> Result<(), CliError> {
    match store.delete(key).await {
        Ok(()) => Ok(()),
        Err(_) if !store.is_keyring() => {
            let path = store.files().path_for(key);
            std::fs::remove_file(&path).map_err(|e| {
                CliError::new(
                    Exit::Error,
                    format!("could not remove {}: {e}", path.display()),
                )
            })
        }
        Err(e) => Err(e.into()),
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
    ctx.check_origin(&settings, tokens)
        .map_err(Revoke::Failed)?;
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
