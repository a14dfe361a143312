//! `login`: the native-app login of RFC 8252. The browser is sent to the provider and
//! comes back to a small HTTP server on the loopback redirect URI; the login is checked,
//! exchanged, verified, and only then stored.

use std::io::IsTerminal as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::Router;
use indicatif::{ProgressBar, ProgressStyle};
use lexoffice_login::protocol::is_loopback;
use lexoffice_login::store::TokenStore;
use lexoffice_login::{AuthorizeOptions, Client, Error, PendingLogin, Scopes, TokenSet};
use tokio::sync::{mpsc, oneshot};
use url::{Host, Url};

use crate::args::LoginArgs;
use crate::context::{encryption_words, warn_if_unencrypted, AnyStore, Ctx};
use crate::error::{CliError, Exit};
use crate::{errln, outln};

#[derive(Clone)]
struct Server {
    path: String,
    tx: mpsc::Sender<Callback>,
}

/// One request the browser sent to the callback path, and where its page goes.
struct Callback {
    query: String,
    reply: oneshot::Sender<Page>,
}

/// The page the browser tab shows.
struct Page {
    status: StatusCode,
    title: &'static str,
    message: String,
}

impl Page {
    fn success(who: &str) -> Page {
        Page {
            status: StatusCode::OK,
            title: "Logged in",
            message: format!(
                "You are logged in{who}. You can close this tab and return to the terminal."
            ),
        }
    }

    fn failure(message: String) -> Page {
        Page {
            status: StatusCode::BAD_REQUEST,
            title: "Login failed",
            message: format!("{message}. Return to the terminal for details."),
        }
    }

    fn stray() -> Page {
        Page {
            status: StatusCode::BAD_REQUEST,
            title: "Not this login",
            message: "This request does not belong to the login in progress (its state does \
                      not match), so it was ignored; the login is still waiting for the \
                      provider's redirect."
                .to_owned(),
        }
    }

    fn ended() -> Page {
        Page {
            status: StatusCode::GONE,
            title: "Login ended",
            message: "This login has already ended. Return to the terminal.".to_owned(),
        }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let body = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>lexoffice-login: {t}</title>\
             <style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;\
             padding:0 1rem;color:#222}}</style></head>\n<body>\n<h1 id=\"title\">{t}</h1>\n\
             <p id=\"message\">{m}</p>\n</body></html>\n",
            t = escape(self.title),
            m = escape(&self.message)
        );
        crate::headers::no_store((self.status, Html(body)).into_response())
    }
}

/// HTML-escapes text for the pages above.
fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    html_escape::encode_safe(s)
}

/// Every request lands here (a path from the configuration is never parsed as a route
/// pattern); only the redirect URI's path is a callback.
async fn on_request(
    State(state): State<Server>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    if uri.path() != state.path {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    if method != Method::GET {
        return (StatusCode::METHOD_NOT_ALLOWED, "the redirect is a GET").into_response();
    }
    let tx = state.tx;
    let (reply, page) = oneshot::channel();
    let callback = Callback {
        query: query.unwrap_or_default(),
        reply,
    };
    if tx.send(callback).await.is_err() {
        return Page::ended().into_response();
    }
    page.await.unwrap_or_else(|_| Page::ended()).into_response()
}

/// The spinner on a terminal, plain lines elsewhere.
struct Progress(Option<ProgressBar>);

impl Progress {
    fn start(message: String) -> Progress {
        if !std::io::stderr().is_terminal() {
            errln!("{message}");
            return Progress(None);
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress(Some(bar))
    }

    fn note(&self, line: &str) {
        match &self.0 {
            Some(bar) => bar.suspend(|| errln!("{line}")),
            None => errln!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// Where to listen: the redirect URI's loopback address and port.
fn listen_address(ctx: &Ctx, redirect: &Url) -> Result<SocketAddr, CliError> {
    // Which hosts are loopback is the library's rule; only the address to bind is ours.
    let ip = match redirect.host() {
        _ if redirect.scheme() != "http" || !is_loopback(redirect) => None,
        Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(Host::Domain(_)) => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        None => None,
    };
    let Some(ip) = ip else {
        return Err(CliError::new(
            Exit::Config,
            format!(
                "the redirect URI {redirect} is not a loopback address: the command line receives \
                 the login on this machine (RFC 8252), at http://127.0.0.1:PORT/PATH"
            ),
        )
        .hint(format!(
            "register http://127.0.0.1:8765/callback (or any free port) for your app and set \
             LEXOFFICE_LOGIN_REDIRECT_URI to it; see `{}`",
            ctx.command("discover")
        )));
    };
    let port = redirect.port_or_known_default().unwrap_or(80);
    Ok(SocketAddr::new(ip, port))
}

/// `login`: the browser login, stored once it has succeeded.
pub async fn run(ctx: &Ctx, args: &LoginArgs) -> Result<(), CliError> {
    let mut interrupt = Interrupt::install();
    if args.device {
        return device_login(ctx, args, interrupt).await;
    }
    let mut settings = ctx.settings()?;
    // A broken store should show before the user spends a login on it.
    let store = ctx.login_store(args.store)?;
    check_store(ctx, &store).await?;
    let options = match &args.scopes {
        Some(words) => {
            let scopes: Scopes = crate::logins::scope_words(words).parse().map_err(|e| {
                CliError::new(
                    Exit::Config,
                    format!("--scopes {words:?}: {e}"),
                )
                .hint("name scopes separated by spaces or commas, or a preset: sign-in, read-only-bookkeeping, invoicing, full-access")
            })?;
            if scopes.is_empty() {
                return Err(CliError::new(Exit::Config, "--scopes names no scope"));
            }
            tracing::info!(scopes = %scopes, "asking for the scopes of --scopes");
            AuthorizeOptions::new().scopes(scopes)
        }
        None => AuthorizeOptions::new(),
    };

    let addr = listen_address(ctx, settings.redirect_uri())?;
    // `--paste` listens nowhere; it binds only to learn a free port for port 0.
    if args.paste && addr.port() != 0 {
        return paste_login(ctx, args, settings, store, options, interrupt).await;
    }
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        CliError::new(
            Exit::Error,
            format!("cannot listen on {addr} for the login's redirect: {e}"),
        )
        .hint(
            "another login or program may be using that port: stop it, or (if the provider \
             accepts any loopback port, RFC 8252 7.3) set LEXOFFICE_LOGIN_REDIRECT_URI to \
             http://127.0.0.1:0/callback to take a free port",
        )
    })?;
    if addr.port() == 0 {
        let port = listener
            .local_addr()
            .map_err(|e| CliError::new(Exit::Error, format!("cannot read the local port: {e}")))?
            .port();
        let mut redirect = settings.redirect_uri().clone();
        redirect
            .set_port(Some(port))
            .map_err(|()| CliError::new(Exit::Config, "the redirect URI cannot take a port"))?;
        settings = settings.with_redirect_uri(redirect)?;
    }
    if args.paste {
        // The free port is known now: nothing listens on it; the browser's redirect
        // fails, and its address is pasted here.
        drop(listener);
        return paste_login(ctx, args, settings, store, options, interrupt).await;
    }
    let redirect_uri = settings.redirect_uri().clone();
    let (client, url, pending) = begin(ctx, settings, options, &mut interrupt).await?;

    let (tx, mut rx) = mpsc::channel::<Callback>(8);
    let app = Router::new().fallback(on_request).with_state(Server {
        path: redirect_uri.path().to_owned(),
        tx,
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });

    if args.no_browser {
        outln!("{url}")?;
        errln!(
            "Open the URL above in a browser and log in. The browser must reach {redirect_uri} \
             on this machine (over SSH: ssh -L {port}:127.0.0.1:{port} ...).",
            port = redirect_uri.port_or_known_default().unwrap_or(80)
        );
    } else {
        let target = url.to_string();
        let opened = tokio::task::spawn_blocking(move || {
            let mut options = webbrowser::BrowserOptions::new();
            options.with_suppress_output(true);
            webbrowser::open_browser_with_options(webbrowser::Browser::Default, &target, &options)
        })
        .await;
        let failure = match opened {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        match failure {
            None => errln!(
                "Opened the browser to log in. If it did not show the login page, visit:\n\n  {url}\n"
            ),
            Some(why) => errln!(
                "No browser could be opened ({why}). Open this URL in a browser on this machine:\n\n  {url}\n\n\
                 (Over SSH: `login --paste`, or `login --no-browser` with ssh -L.)"
            ),
        }
    }

    let progress = Progress::start(format!(
        "Waiting for the browser to return to {redirect_uri} (up to {} s, Ctrl-C cancels)",
        args.timeout
    ));
    let outcome = tokio::select! {
        r = receive(&client, pending, &mut rx, &progress) => r,
        () = tokio::time::sleep(Duration::from_secs(args.timeout)) => Err(CliError::new(
            Exit::Error,
            format!("no login arrived within {} s; nothing was stored (an earlier login is unchanged)", args.timeout),
        ).hint(format!("run `{}` again (--timeout SECS waits longer)", ctx.command("login")))),
        () = interrupt.recv() => Err(interrupted()),
    };
    progress.finish();

    let result = match outcome {
        Ok((tokens, reply)) => match save(ctx, client, &store, tokens).await {
            Ok(who) => {
                let _ = reply.send(Page::success(&who));
                Ok(())
            }
            Err(e) => {
                let _ = reply.send(Page::failure("The login could not be stored".into()));
                Err(e)
            }
        },
        Err(e) => Err(e),
    };

    // Let the last page reach the browser, then stop the server.
    drop(rx);
    let _ = stop.send(());
    let abort = server.abort_handle();
    if tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .is_err()
    {
        abort.abort();
    }
    result
}

/// Stores the login through the token manager and says so; returns " as NAME (SUB)".
async fn save(
    ctx: &Ctx,
    client: Client,
    store: &AnyStore,
    tokens: TokenSet,
) -> Result<String, CliError> {
    let who = subject_words(&tokens);
    let manager = ctx.manager(client, store.clone());
    manager.save_login(tokens).await.map_err(CliError::from)?;
    let enc = if store.is_keyring() {
        "the keyring encrypts it"
    } else {
        encryption_words(store.files().encryption())
    };
    errln!(
        "Logged in ({key}){who}. The login is stored in {path} ({enc}).",
        key = ctx.key(),
        path = store.location(&ctx.key()),
    );
    if ctx.json {
        // One line on stdout (after the URL of --no-browser / --paste).
        outln!(
            "{}",
            serde_json::json!({
                "logged_in": true,
                "env": ctx.env,
                "profile": ctx.profile,
                "store": store.location(&ctx.key()),
            })
        )?;
    }
    Ok(who)
}

/// Checks, before any browser opens, that the login can be stored: the directory is
/// writable (file store), the keyring answers (keyring store). Gives the one-time advice
/// about an unencrypted store.
async fn check_store(ctx: &Ctx, store: &AnyStore) -> Result<(), CliError> {
    let dir = store.files().dir().to_owned();
    let probe = dir.join(format!(".write-check-{}", std::process::id()));
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe));
    if let Err(e) = written {
        return Err(CliError::new(
            Exit::Error,
            format!(
                "the login could not be stored: the store directory {} is not writable ({e}); nothing was started",
                dir.display()
            ),
        )
        .hint("set LEXOFFICE_LOGIN_STORE_DIR to a directory this user may write, or use --store keyring"));
    }
    if store.is_keyring() {
        if let Err(e) = store.load(&ctx.key()).await {
            return Err(CliError::from(e).or_hint(
                "the OS keyring is not usable here; use --store file (encrypted with LEXOFFICE_LOGIN_STORE_KEY)",
            ));
        }
    } else {
        warn_if_unencrypted(store.files());
    }
    Ok(())
}

/// `login --device`: the device authorization grant (RFC 8628). The verification URL
/// goes to stdout (with the code filled in where the provider gives one), the code and
/// what to do to stderr; the device code itself is never shown.
async fn device_login(
    ctx: &Ctx,
    args: &LoginArgs,
    mut interrupt: Interrupt,
) -> Result<(), CliError> {
    let settings = match &args.scopes {
        Some(words) => {
            let scopes: Scopes = crate::logins::scope_words(words)
                .parse()
                .map_err(|e| CliError::new(Exit::Config, format!("--scopes {words:?}: {e}")))?;
            ctx.settings_overriding(&[("LEXOFFICE_LOGIN_SCOPES", &scopes.to_string())])?
        }
        None => ctx.settings()?,
    };
    let store = ctx.login_store(args.store)?;
    check_store(ctx, &store).await?;
    let client = tokio::select! {
        client = ctx.client(settings) => client?,
        () = interrupt.recv() => return Err(interrupted()),
    };
    if !client.supports_device_flow() {
        return Err(CliError::new(
            Exit::Config,
            "the provider offers no device authorization grant (its metadata names no device_authorization_endpoint)",
        )
        .hint(format!(
            "use `{}` (copy-paste, for SSH) or `{}`, or set `endpoints.device_authorization` if the provider has one",
            ctx.command("login --paste"),
            ctx.command("login --no-browser")
        )));
    }
    let device = client
        .device_authorization()
        .await
        .map_err(|e| ctx.with_hint(e.into()))?;
    let link = device
        .verification_uri_complete()
        .unwrap_or(device.verification_uri());
    outln!("{link}")?;
    let secs = (device.expires_at() - chrono::Utc::now())
        .num_seconds()
        .max(0);
    errln!(
        "To log in, open {} on any device and enter the code\n\n    {}\n\n(the link above has it filled in; it expires in {secs} s).",
        device.verification_uri(),
        device.user_code()
    );
    let progress = Progress::start("Waiting for the approval (Ctrl-C cancels)".to_owned());
    let limit = Duration::from_secs(args.timeout.min(secs.unsigned_abs().max(1)));
    let outcome = tokio::select! {
        r = client.complete_device(&device) => r.map_err(|e| {
            let e = ctx.with_hint(CliError::from(e));
            CliError { message: format!("{}; nothing was stored (an earlier login is unchanged)", e.message), ..e }
        }),
        () = tokio::time::sleep(limit) => Err(CliError::new(
            Exit::Error,
            format!("the login was not approved within {} s; nothing was stored", limit.as_secs()),
        )),
        () = interrupt.recv() => Err(interrupted()),
    };
    progress.finish();
    save(ctx, client, &store, outcome?).await.map(|_| ())
}

/// Builds the client (discovery; Ctrl-C ends the wait) and the authorization request.
async fn begin(
    ctx: &Ctx,
    settings: lexoffice_login::Settings,
    options: AuthorizeOptions,
    interrupt: &mut Interrupt,
) -> Result<(Client, Url, PendingLogin), CliError> {
    let client = tokio::select! {
        client = ctx.client(settings) => client?,
        () = interrupt.recv() => return Err(interrupted()),
    };
    let (url, pending) = client
        .authorize_with(options)
        .map_err(|e| ctx.with_hint(e.into()))?;
    Ok((client, url, pending))
}

/// `login --paste`: nothing listens on the redirect URI (with port 0, a free port was
/// only looked up).
async fn paste_login(
    ctx: &Ctx,
    args: &LoginArgs,
    settings: lexoffice_login::Settings,
    store: AnyStore,
    options: AuthorizeOptions,
    mut interrupt: Interrupt,
) -> Result<(), CliError> {
    let redirect_uri = settings.redirect_uri().clone();
    let (client, url, pending) = begin(ctx, settings, options, &mut interrupt).await?;
    paste_wait(
        ctx,
        args,
        client,
        store,
        url,
        pending,
        &redirect_uri,
        interrupt,
    )
    .await
}

/// Waits for the pasted address (or the timeout, or Ctrl-C), then stores the login.
#[allow(clippy::too_many_arguments)]
async fn paste_wait(
    ctx: &Ctx,
    args: &LoginArgs,
    client: Client,
    store: AnyStore,
    url: Url,
    pending: PendingLogin,
    redirect_uri: &Url,
    mut interrupt: Interrupt,
) -> Result<(), CliError> {
    let outcome = tokio::select! {
        r = paste(&client, pending, &url, redirect_uri) => r,
        () = tokio::time::sleep(Duration::from_secs(args.timeout)) => Err(CliError::new(
            Exit::Error,
            format!("no address was pasted within {} s; nothing was stored", args.timeout),
        )),
        () = interrupt.recv() => Err(interrupted()),
    };
    let tokens = outcome?;
    save(ctx, client, &store, tokens).await.map(|_| ())
}

/// `login --paste`: prints the URL, reads the address the browser was sent back to.
async fn paste(
    client: &Client,
    pending: PendingLogin,
    url: &Url,
    redirect_uri: &Url,
) -> Result<TokenSet, CliError> {
    use tokio::io::AsyncBufReadExt as _;
    outln!("{url}")?;
    errln!(
        "Open the URL above in any browser and log in. The browser is then sent to \
         {redirect_uri}?code=... and shows an error page (nothing listens there): copy the \
         whole address from its address bar and paste it here, then press Enter."
    );
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = lines
            .next_line()
            .await
            .map_err(|e| CliError::new(Exit::Error, format!("could not read stdin: {e}")))?;
        let Some(line) = line else {
            return Err(CliError::new(
                Exit::Error,
                "stdin ended before an address was pasted; nothing was stored",
            ));
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        return client.complete(pending, line).await.map_err(|e| {
            let e = CliError::from(e);
            CliError {
                message: format!(
                    "{}; nothing was stored (an earlier login is unchanged)",
                    e.message
                ),
                ..e
            }
        });
    }
}

/// Ctrl-C (SIGINT), caught from the moment this is made: make it before telling the
/// user anything they could answer with Ctrl-C.
pub struct Interrupt {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Interrupt {
    pub fn install() -> Interrupt {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Interrupt {
                signal: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Interrupt {}
    }

    /// Resolves on Ctrl-C; never, if no handler could be installed.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal {
            if signal.recv().await.is_some() {
                return;
            }
            std::future::pending::<()>().await;
        }
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

fn interrupted() -> CliError {
    CliError::new(
        Exit::Interrupted,
        "interrupted; nothing was stored (an earlier login is unchanged)",
    )
}

/// " as NAME (SUB)" for messages, from the ID token; empty without one.
fn subject_words(tokens: &TokenSet) -> String {
    match tokens.id_token_claims() {
        Some(c) => match c.string("name") {
            Some(name) => format!(" as {name} ({})", c.sub),
            None => format!(" as {}", c.sub),
        },
        None => String::new(),
    }
}

/// Waits for the redirect of this login: requests that do not belong to it are answered
/// with an error page and ignored; the first one that does ends the wait, with tokens
/// (exchanged and verified) or with the provider's refusal.
async fn receive(
    client: &Client,
    pending: PendingLogin,
    rx: &mut mpsc::Receiver<Callback>,
    progress: &Progress,
) -> Result<(TokenSet, oneshot::Sender<Page>), CliError> {
    loop {
        let Some(callback) = rx.recv().await else {
            return Err(CliError::new(
                Exit::Error,
                "the redirect server stopped unexpectedly",
            ));
        };
        // The whole URL, not the bare query: `verify_callback` reads input containing
        // "://" as a URL, which an unencoded `iss=https://...` in a query would be.
        let mut redirect = pending.redirect_uri().clone();
        redirect.set_query(
            Some(&callback.query)
                .filter(|q| !q.is_empty())
                .map(|q| q.as_str()),
        );
        match pending.verify_callback(redirect.as_str(), &client.metadata()) {
            Ok(response) => {
                return match client.exchange(pending, response).await {
                    Ok(tokens) => Ok((tokens, callback.reply)),
                    Err(e) => {
                        let _ = callback
                            .reply
                            .send(Page::failure("The provider's answer was refused".into()));
                        Err(e.into())
                    }
                };
            }
            Err(
                e @ (Error::StateMissing
                | Error::StateMismatch
                | Error::MalformedCallback(_)
                | Error::RepeatedParameter(_)),
            ) => {
                let _ = callback.reply.send(Page::stray());
                progress.note(&format!(
                    "Ignored a request to the redirect URI that is not this login's ({e})."
                ));
            }
            Err(e) => {
                let page = match &e {
                    Error::AuthorizationDenied { code, .. } => {
                        Page::failure(format!("The provider refused the login ({code})"))
                    }
                    _ => Page::failure("The redirect was refused".into()),
                };
                let _ = callback.reply.send(page);
                let e = CliError::from(e);
                return Err(CliError {
                    message: format!(
                        "{}; nothing was stored (an earlier login is unchanged)",
                        e.message
                    ),
                    ..e
                });
            }
        }
    }
}
