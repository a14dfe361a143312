//! The whole login, step by step.
//!
//! ```text
//! cargo run --example login                    # against the built-in local sandbox, offline
//! cargo run --example login -- --env sandbox   # lexoffice's sandbox, in your browser
//! ```
//!
//! With `--env local` (the default) it starts the in-process sandbox issuer, logs in
//! headless (acting as the browser by following the sandbox's auto-consent redirect),
//! shows the discovered endpoints, the ID-token claims and the expiry (never a token),
//! calls the lexoffice API, refreshes, revokes, and shows that the revoked login is
//! refused. With `--env sandbox` or `--env production` it prints the authorization URL,
//! opens the browser and waits for the redirect on the loopback redirect URI; set
//! `LEXOFFICE_LOGIN_CLIENT_ID` and `LEXOFFICE_LOGIN_CLIENT_SECRET` first.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use lexoffice_login::{Client, LoadOptions, Settings, TokenSet};
use lexoffice_login_sandbox::Sandbox;
use url::Url;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = match args.as_slice() {
        [] => "local".to_owned(),
        [flag, env] if flag == "--env" => env.clone(),
        _ => {
            eprintln!("usage: cargo run --example login [-- --env local|sandbox|production]");
            return ExitCode::from(2);
        }
    };
    let result = if env == "local" {
        run_local().await
    } else {
        run_remote(&env).await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn step(n: u32, what: &str) {
    println!("\n[{n}] {what}");
}

/// The whole flow against the in-process sandbox.
async fn run_local() -> Result<(), BoxError> {
    step(1, "starting the local sandbox issuer");
    let sandbox = Sandbox::builder().start().await?;
    println!("    issuer        {}", sandbox.issuer());
    println!(
        "    test user     {}",
        sandbox
            .users()
            .first()
            .map(|u| u.email.as_str())
            .unwrap_or("-")
    );

    step(2, "loading config/local.toml, pointed at the sandbox");
    // The sandbox listens on a free port and its client secret is public test data:
    // both are handed over as environment variables would be.
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.insert("LEXOFFICE_LOGIN_ISSUER".into(), sandbox.issuer().to_owned());
    vars.insert(
        "LEXOFFICE_LOGIN_CLIENT_SECRET".into(),
        sandbox.client_secret().unwrap_or_default().to_owned(),
    );
    let settings = Settings::load_with(LoadOptions {
        env: Some("local".into()),
        vars: Some(vars),
        ..LoadOptions::default()
    })?;
    println!("    client id     {}", settings.client_id().as_str());
    println!("    scopes        {}", settings.scopes());

    step(3, "discovering the provider");
    let client = Client::connect(settings).await?;
    let m = client.metadata();
    println!("    authorize     {}", show(&m.authorization_endpoint));
    println!("    token         {}", show(&m.token_endpoint));
    println!("    revocation    {}", show(&m.revocation_endpoint));
    println!("    userinfo      {}", show(&m.userinfo_endpoint));
    println!("    jwks          {}", show(&m.jwks_uri));
    println!(
        "    PKCE          {}",
        m.code_challenge_methods_supported
            .as_ref()
            .map(|v| v.join(", "))
            .unwrap_or_else(|| "not announced".into())
    );

    step(
        4,
        "authorization URL (state, nonce and PKCE challenge hidden here)",
    );
    let (url, pending) = client.authorize()?;
    println!("    {}", redacted(&url));

    step(
        5,
        "the browser's part: following the sandbox's auto-consent redirect",
    );
    let redirect = sandbox.follow_authorization(&url).await?;
    println!(
        "    redirected to {}?code=…&state=…&iss=…",
        client.settings().redirect_uri()
    );

    step(
        6,
        "checking the redirect (state, iss) and exchanging the code with the PKCE verifier",
    );
    let tokens = client.complete(pending, &redirect).await?;
    show_tokens(&tokens);

    step(7, "calling the lexoffice API: GET /v1/profile");
    let api = sandbox.api_base();
    let profile = get_profile(&client, &api, &tokens).await?;
    println!("    {profile}");

    step(8, "refreshing");
    let refreshed = client.refresh(&tokens).await?;
    let rotated = match (&tokens.refresh_token, &refreshed.refresh_token) {
        (Some(a), Some(b)) => a.secret() != b.secret(),
        _ => false,
    };
    println!("    new access token, expires {}", expiry(&refreshed));
    println!(
        "    refresh token rotated: {}",
        if rotated { "yes" } else { "no" }
    );

    step(9, "revoking the refresh token (logout)");
    client.revoke_refresh_token(&refreshed).await?;
    println!("    revoked");

    step(10, "the revoked login is refused");
    let status = client
        .http_client()
        .get(format!("{api}/profile"))
        .bearer_auth(refreshed.access_token.secret())
        .send()
        .await?
        .status();
    println!("    GET /v1/profile with the revoked login's access token: HTTP {status}");
    if status != reqwest::StatusCode::UNAUTHORIZED {
        return Err(format!("expected 401 after revocation, got {status}").into());
    }
    match client.refresh(&refreshed).await {
        Err(e) if e.is_invalid_grant() => println!("    refresh: {e}"),
        Err(e) => return Err(format!("expected invalid_grant after revocation, got: {e}").into()),
        Ok(_) => return Err("the revoked refresh token still worked".into()),
    }

    println!("\nDone: login, ID-token check, API call, refresh and revocation all worked.");
    Ok(())
}

/// The flow against a real provider: the user logs in in the browser.
async fn run_remote(env: &str) -> Result<(), BoxError> {
    let settings = Settings::load(Some(env))?;
    let redirect_uri = settings.redirect_uri().clone();
    let client = Client::connect(settings).await?;
    let (url, pending) = client.authorize()?;

    let host = redirect_uri.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = redirect_uri.port_or_known_default().unwrap_or(80);
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {host}:{port} for the redirect ({e}); is another login running?"
            )
        })?;

    println!("Open this URL in your browser to log in:\n\n  {url}\n");
    // Best effort: the URL is printed above in case no browser opens.
    let _ = std::process::Command::new("xdg-open")
        .arg(url.as_str())
        .spawn();
    println!("Waiting for the redirect to {redirect_uri} (5 minutes) …");

    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    let path = redirect_uri.path().to_owned();
    let app = axum::Router::new().route(
        &path,
        axum::routing::get(move |axum::extract::RawQuery(q): axum::extract::RawQuery| {
            let tx = tx.clone();
            async move {
                if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                    let _ = tx.send(q.unwrap_or_default());
                }
                axum::response::Html("<p>Login received. You can close this tab.</p>")
            }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let query = tokio::time::timeout(Duration::from_secs(300), rx)
        .await
        .map_err(|_| "no redirect within 5 minutes; run the example again")??;
    server.abort();

    let tokens = client.complete(pending, &query).await?;
    show_tokens(&tokens);
    Ok(())
}

async fn get_profile(client: &Client, api: &Url, tokens: &TokenSet) -> Result<String, BoxError> {
    let resp = client
        .http_client()
        .get(format!("{api}/profile"))
        .bearer_auth(tokens.access_token.secret())
        .send()
        .await?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    if !status.is_success() {
        return Err(format!("GET /v1/profile answered {status}: {body}").into());
    }
    Ok(format!(
        "company {:?}, organization {}",
        body.get("companyName")
            .and_then(|v| v.as_str())
            .unwrap_or("-"),
        body.get("organizationId")
            .and_then(|v| v.as_str())
            .unwrap_or("-")
    ))
}

/// An endpoint, or `-` where the provider has none.
fn show(url: &Option<impl std::fmt::Display>) -> String {
    url.as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| "-".into())
}

fn show_tokens(tokens: &TokenSet) {
    match tokens.id_token_claims() {
        Some(c) => {
            println!("    ID token verified against the JWKS:");
            println!("      iss   {}", c.iss);
            println!("      sub   {}", c.sub);
            println!("      aud   {}", c.aud.join(", "));
            for name in ["name", "email"] {
                if let Some(v) = c.string(name) {
                    println!("      {name:<5} {v}");
                }
            }
        }
        None => println!("    no ID token (the scopes do not include openid)"),
    }
    println!("    access token expires {}", expiry(tokens));
    println!("    granted scopes       {}", tokens.scopes);
    println!(
        "    refresh token        {}",
        if tokens.refresh_token.is_some() {
            "received (kept secret)"
        } else {
            "none"
        }
    );
    for (k, v) in &tokens.extras {
        println!("    extra                {k} = {v}");
    }
}

fn expiry(tokens: &TokenSet) -> String {
    match tokens.expires_at {
        Some(at) => {
            let secs = (at - chrono::Utc::now()).num_seconds();
            format!("at {} (in {secs} s)", at.format("%Y-%m-%d %H:%M:%S UTC"))
        }
        None => "(the provider gave no lifetime)".into(),
    }
}

/// The authorization URL with the values of secret parameters hidden.
fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let hide = matches!(k.as_ref(), "state" | "nonce" | "code_challenge");
            (
                k.into_owned(),
                if hide {
                    "HIDDEN".into()
                } else {
                    v.into_owned()
                },
            )
        })
        .collect();
    shown.query_pairs_mut().clear().extend_pairs(pairs);
    shown.to_string()
}
