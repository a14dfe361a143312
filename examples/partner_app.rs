//! A partner app that connects its customers' organisations, offline against the
//! embedded sandbox.
//!
//! ```text
//! cargo run --example partner_app --features axum            # serve; open the printed URL
//! cargo run --example partner_app --features axum -- --demo  # connect, list, exit (for CI)
//! PARTNER_APP_PORT=3000 cargo run --example partner_app --features axum
//! ```
//!
//! It starts two sandbox issuers, one behaving like lexoffice and one like Xero, and
//! serves on 127.0.0.1 (port `PARTNER_APP_PORT`, default 0: any free port):
//!
//! - `/` lists the connections with their health (no token) and links to connect more;
//! - `/connect/lexoffice`, `/connect/xero` and `/callback` are
//!   [`lexoffice_login::web::ConnectRouter`]'s routes.
//!
//! The lexoffice sandbox shows its consent page, where you pick one of its test users
//! (each has its own organisation, so connecting both gives two connections; connecting
//! one again replaces its tokens). The Xero sandbox consents on its own (auto-consent)
//! and connects the test user's first tenant.
//!
//! With `--demo` (or `PARTNER_APP_DEMO=1`) the example plays the browser itself: a
//! reqwest client that follows redirects connects both lexoffice organisations and the
//! Xero tenant through the routes, prints the list and exits (status 1 if a connection is
//! missing or unhealthy).

use std::process::ExitCode;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use lexoffice_login::connections::{Connections, Health};
use lexoffice_login::store::MemoryStore;
use lexoffice_login::web::ConnectRouter;
use lexoffice_login::Client;
use lexoffice_login_sandbox::{Sandbox, SandboxProfile};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The providers this app connects, by route name.
const PROVIDERS: [&str; 2] = ["lexoffice", "xero"];

#[tokio::main]
async fn main() -> ExitCode {
    let demo = std::env::args().skip(1).any(|a| a == "--demo")
        || std::env::var("PARTNER_APP_DEMO").is_ok_and(|v| !v.is_empty() && v != "0");
    match run(demo).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(demo: bool) -> Result<ExitCode, BoxError> {
    let port: u16 = match std::env::var("PARTNER_APP_PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PARTNER_APP_PORT={p:?} is not a port number"))?,
        Err(_) => 0,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let base = format!("http://{}", listener.local_addr()?);

    // The providers: a lexoffice sandbox with its consent page (to pick a test user, and
    // so an organisation), and an auto-consenting Xero sandbox.
    let lexoffice_sandbox = Sandbox::builder()
        .profile(SandboxProfile::Lexoffice)
        .interactive(true)
        .start()
        .await?;
    let xero_sandbox = Sandbox::builder()
        .profile(SandboxProfile::Xero)
        .start()
        .await?;
    let redirect_uri: url::Url = format!("{base}/callback").parse()?;
    let lexoffice = Client::connect(
        lexoffice_sandbox
            .settings()
            .build()?
            .with_redirect_uri(redirect_uri.clone())?,
    )
    .await?;
    let xero = Client::connect(
        xero_sandbox
            .settings()
            .build()?
            .with_redirect_uri(redirect_uri)?,
    )
    .await?;

    // The registry refreshes what the routes connect: it knows both clients.
    let connections = Connections::new(MemoryStore::new())
        .with_client(lexoffice.clone())
        .with_client(xero.clone());
    let app = ConnectRouter::new(connections.clone())
        .provider("lexoffice", lexoffice)
        .provider("xero", xero)
        .success_path("/")?
        .into_router()
        .merge(
            Router::new()
                .route("/", get(list))
                .with_state(Arc::new(connections.clone())),
        );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    println!("partner app on {base}/");
    println!("  lexoffice sandbox {}", lexoffice_sandbox.issuer());
    println!("  xero sandbox      {}", xero_sandbox.issuer());

    if !demo {
        server.await??;
        return Ok(ExitCode::SUCCESS);
    }

    // The demo: the browser's part, through the app's own routes.
    let browser = reqwest::Client::new();
    for user in ["sandbox-user-1", "sandbox-user-2"] {
        connect_lexoffice(&browser, &base, &lexoffice_sandbox, user).await?;
    }
    let landed = browser
        .get(format!("{base}/connect/xero"))
        .send()
        .await?
        .error_for_status()?;
    println!("connected xero, landed on {}", landed.url().path());

    let list = connections.list().await?;
    println!("\n{} connections:", list.len());
    for c in &list {
        println!("  {:<60} {:?}", c.key.to_string(), c.health);
    }
    server.abort();
    let healthy = list.len() == 3 && list.iter().all(|c| c.health == Health::Active);
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Connects the organisation of the lexoffice test user `user`: the app's route leads
/// (through redirects) to the sandbox's consent page, where the user signs in and allows
/// the app; the sandbox then redirects to the app's callback, which lands on `/`.
async fn connect_lexoffice(
    browser: &reqwest::Client,
    base: &str,
    sandbox: &Sandbox,
    user: &str,
) -> Result<(), BoxError> {
    let page = browser
        .get(format!("{base}/connect/lexoffice"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let marker = "id=\"request_id\" value=\"";
    let start = page
        .find(marker)
        .map(|i| i + marker.len())
        .ok_or("the sandbox showed no consent page")?;
    let end = page[start..]
        .find('"')
        .ok_or("the consent page is malformed")?;
    let request_id = &page[start..start + end];
    let landed = browser
        .post(sandbox.url("/oauth2/authorize/decision"))
        .form(&[
            ("request_id", request_id),
            ("decision", "allow"),
            ("user", user),
        ])
        .send()
        .await?
        .error_for_status()?;
    println!(
        "connected lexoffice as {user}, landed on {}?{}",
        landed.url().path(),
        landed.url().query().unwrap_or_default()
    );
    Ok(())
}

/// `GET /`: the connections and their health, and links to connect more.
async fn list(State(connections): State<Arc<Connections<MemoryStore>>>) -> Html<String> {
    let esc = |s: &str| html_escape::encode_text(s).into_owned();
    let mut rows = String::new();
    match connections.list().await {
        Ok(list) if list.is_empty() => {
            rows.push_str("<tr><td colspan=\"4\">No organisation is connected yet.</td></tr>\n");
        }
        Ok(list) => {
            for c in list {
                let health = match &c.health {
                    Health::Active => "active".to_owned(),
                    Health::RefreshFailing { reason, .. } => format!("refresh failing: {reason}"),
                    Health::NeedsReconsent { reason } => format!("needs reconsent: {reason}"),
                    Health::Revoked => "revoked".to_owned(),
                    other => format!("{other:?}"),
                };
                let (provider, _) = c.key.profile.split_once(':').unwrap_or(("", ""));
                let reconnect = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("connection", &c.key.profile)
                    .finish();
                rows.push_str(&format!(
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td>\
                     <td><a href=\"/connect/{}?{}\">reconnect</a></td></tr>\n",
                    esc(&c.key.profile),
                    esc(&health),
                    c.expires_at
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                        .unwrap_or_default(),
                    esc(provider),
                    esc(&reconnect),
                ));
            }
        }
        Err(e) => rows.push_str(&format!(
            "<tr><td colspan=\"4\">The connections could not be listed: {}</td></tr>\n",
            esc(&e.to_string())
        )),
    }
    let links: Vec<String> = PROVIDERS
        .iter()
        .map(|p| format!("<a href=\"/connect/{p}\">Connect a {p} organisation</a>"))
        .collect();
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Partner app</title></head>\n<body>\n<h1>Connections</h1>\n\
         <table border=\"1\">\n<tr><th>connection</th><th>health</th>\
         <th>access token expires</th><th></th></tr>\n{rows}</table>\n<p>{}</p>\n</body></html>\n",
        links.join(" · ")
    ))
}
