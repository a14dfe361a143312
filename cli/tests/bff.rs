//! `lexoffice-login bff` over plain HTTP, against the sandbox (lexoffice profile, consent
//! at once): the cookie, the session endpoint, rotation, timeouts, CSRF, open redirects,
//! replayed callbacks, the /api proxy and logout.

mod bff_support;

#[path = "../../tests/support/postgres.rs"]
mod pg;

use std::time::Duration;

use bff_support::{Options, World};
use lexoffice_login_sandbox::SandboxRoute;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::StatusCode;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn set_cookies(h: &HeaderMap) -> Vec<String> {
    h.get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// `name=value` of the cookie `name` among the `Set-Cookie` headers.
fn cookie_pair(h: &HeaderMap, name: &str) -> Option<String> {
    set_cookies(h)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// `GET url` with the `Cookie` header `cookie` (redirects not followed).
async fn get_with_cookie(url: impl reqwest::IntoUrl, cookie: &str) -> reqwest::Response {
    http()
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

struct LoggedIn {
    /// `lexoffice_bff=...`
    session: String,
    /// The session cookie's whole `Set-Cookie` line.
    set_cookie: String,
    /// Where the callback sent the browser.
    location: String,
    /// The callback URL (to replay).
    callback: String,
    /// The login-binding cookie (to replay).
    binding: String,
}

/// A login: /auth/login, the sandbox's authorize (consent at once), /auth/callback.
async fn login(w: &World, old_session: Option<&str>) -> LoggedIn {
    let c = http();
    let r = c
        .get(w.url("/auth/login?return=/app/settings"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let binding = cookie_pair(r.headers(), "lexoffice_bff_login").expect("a login-binding cookie");
    let authorize = r.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(authorize.starts_with(w.sandbox.issuer()), "{authorize}");
    assert!(authorize.contains("code_challenge="), "{authorize}");
    let r = c.get(&authorize).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let callback = r.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        callback.starts_with(&w.url("/auth/callback?")),
        "{callback}"
    );
    let mut cookie = binding.clone();
    if let Some(old) = old_session {
        cookie = format!("{cookie}; {old}");
    }
    let r = get_with_cookie(&callback, &cookie).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    let set_cookie = set_cookies(r.headers())
        .into_iter()
        .find(|c| c.starts_with("lexoffice_bff="))
        .expect("a session cookie");
    LoggedIn {
        session: set_cookie.split(';').next().unwrap().to_owned(),
        location: r.headers()[LOCATION].to_str().unwrap().to_owned(),
        set_cookie,
        callback,
        binding,
    }
}

async fn session(w: &World, cookie: &str) -> (StatusCode, String) {
    let r = get_with_cookie(w.url("/auth/session"), cookie).await;
    (r.status(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_strict_cookie_rotates_the_session_and_never_shows_a_token() {
    let w = World::start(Options::default()).await;
    let first = login(&w, None).await;
    assert_eq!(first.location, "/app/settings");

    // The cookie: HttpOnly, SameSite=Lax, Path=/, no Domain; on a loopback http URL no
    // Secure and so no __Host- prefix.
    let attrs: Vec<String> = first
        .set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for want in ["httponly", "samesite=lax", "path=/"] {
        assert!(
            attrs.iter().any(|a| a == want),
            "{want} missing: {}",
            first.set_cookie
        );
    }
    assert!(
        !attrs.iter().any(|a| a.starts_with("domain")),
        "{}",
        first.set_cookie
    );
    assert!(!attrs.iter().any(|a| a == "secure"), "{}", first.set_cookie);
    let id = first.session.trim_start_matches("lexoffice_bff=");
    assert_eq!(id.len(), 43, "256 random bits in base64url: {id}");

    // The session endpoint: who, which organisation, which scopes; no token.
    let (status, body) = session(&w, &first.session).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let user = &w.sandbox.users()[0];
    assert_eq!(v["user"]["sub"], user.sub.as_str(), "{v}");
    assert_eq!(v["user"]["name"], user.name.as_str(), "{v}");
    assert_eq!(v["user"]["email"], user.email.as_str(), "{v}");
    assert!(v["tenant"].is_string(), "{v}");
    assert!(
        v["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "profile.read"),
        "{v}"
    );
    let tokens = w.tokens();
    assert!(
        tokens.len() >= 3,
        "access, refresh and ID token recorded: {}",
        tokens.len()
    );
    for t in &tokens {
        assert!(
            !body.contains(t.as_str()),
            "a token in /auth/session: {body}"
        );
        assert!(!first.set_cookie.contains(t.as_str()));
    }
    // Without a cookie: 401.
    assert_eq!(session(&w, "").await.0, StatusCode::UNAUTHORIZED);

    // A second login from the same browser: a new session id, the old one is gone.
    let second = login(&w, Some(&first.session)).await;
    assert_ne!(second.session, first.session);
    assert_eq!(
        session(&w, &first.session).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(session(&w, &second.session).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_callback_and_open_redirects_are_refused() {
    let w = World::start(Options {
        args: vec!["--return-path".into(), "/app".into()],
        ..Options::default()
    })
    .await;
    let me = login(&w, None).await;
    let grants = w.sandbox.stats().token_grants("authorization_code");
    let r = get_with_cookie(&me.callback, &me.binding).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookies(r.headers()).is_empty());
    assert_eq!(
        w.sandbox.stats().token_grants("authorization_code"),
        grants,
        "no second exchange"
    );

    // A callback from a browser that did not start the login (login CSRF).
    let c = http();
    let r = c
        .get(w.url("/auth/login?return=/app"))
        .send()
        .await
        .unwrap();
    let authorize = r.headers()[LOCATION].to_str().unwrap().to_owned();
    let r = c.get(&authorize).send().await.unwrap();
    let callback = r.headers()[LOCATION].to_str().unwrap().to_owned();
    let r = c.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookies(r.headers()).is_empty());

    for bad in [
        "https://evil.example/",
        "//evil.example/app",
        "/\\evil.example",
        "/other",
        "/applications",
        "javascript:alert(1)",
    ] {
        let url = format!(
            "{}?return={}",
            w.url("/auth/login"),
            url::form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>()
        );
        let r = http().get(url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.headers().get(LOCATION).is_none(), "{bad}");
    }
    for ok in ["/app", "/app/invoices?id=1"] {
        let url = format!(
            "{}?return={}",
            w.url("/auth/login"),
            url::form_urlencoded::byte_serialize(ok.as_bytes()).collect::<String>()
        );
        let r = http().get(url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{ok}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_proxy_adds_the_bearer_strips_cookies_and_csrf_is_enforced() {
    let w = World::start(Options::default()).await;
    let me = login(&w, None).await;
    let cookie = format!("{}; other_app_cookie=secret-cookie-value", me.session);

    let r = get_with_cookie(w.url("/api/v1/profile"), &cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        set_cookies(r.headers()).is_empty(),
        "the API's Set-Cookie was passed on"
    );
    let body = r.text().await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["organizationId"].is_string(), "{v}");
    let sent = w
        .recorded
        .lock()
        .unwrap()
        .api_requests
        .last()
        .cloned()
        .unwrap();
    let get = |name: &str| sent.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let bearer = get("authorization").expect("a bearer token");
    let token = bearer.strip_prefix("Bearer ").expect("Bearer");
    assert!(w.sandbox.introspect(token).unwrap().active);
    assert!(w.tokens().contains(&token.to_owned()));
    assert_eq!(
        get("cookie"),
        None,
        "the browser's cookies went to the API: {sent:?}"
    );
    for t in w.tokens() {
        assert!(!body.contains(&t));
    }
    // Not logged in: 401, and nothing reaches the API.
    let before = w.sandbox.stats().requests(SandboxRoute::Profile);
    let r = http().get(w.url("/api/v1/profile")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Outside the API's path: refused, no token sent.
    let r = get_with_cookie(w.url("/api/oauth2/userinfo"), &cookie).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = get_with_cookie(w.url("/api/v1/../oauth2/userinfo"), &cookie).await;
    assert_ne!(r.status(), StatusCode::OK);
    assert_eq!(w.sandbox.stats().requests(SandboxRoute::Profile), before);

    // CSRF: state-changing calls need an allowed Origin and the custom header.
    let post = |path: &str| http().post(w.url(path)).header("cookie", &cookie);
    let r = post("/auth/logout")
        .header("origin", &w.base)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no X-Requested-With");
    let r = post("/auth/logout")
        .header("origin", "http://evil.example")
        .header("x-requested-with", "lexoffice-bff")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "foreign origin");
    let r = post("/auth/logout")
        .header("x-requested-with", "lexoffice-bff")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no origin, cross-site");
    let r = post("/api/v1/contacts")
        .header("origin", "http://evil.example")
        .header("x-requested-with", "lexoffice-bff")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "an API write from another origin"
    );
    let r = post("/api/v1/contacts")
        .header("origin", &w.base)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "an API write without the header"
    );
    assert_eq!(
        session(&w, &me.session).await.0,
        StatusCode::OK,
        "still logged in"
    );

    // Logout: revoked at the provider, the session ends, the cookie is cleared.
    let revokes = w.sandbox.stats().requests(SandboxRoute::Revoke);
    let refresh: Vec<String> = w
        .tokens()
        .into_iter()
        .filter(|t| {
            w.sandbox
                .introspect(t)
                .and_then(|i| i.token_type)
                .as_deref()
                == Some("refresh_token")
        })
        .collect();
    assert!(!refresh.is_empty());
    let r = post("/auth/logout")
        .header("sec-fetch-site", "same-origin")
        .header("x-requested-with", "lexoffice-bff")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared = cookie_pair(r.headers(), "lexoffice_bff");
    assert_eq!(cleared.as_deref(), Some("lexoffice_bff="));
    assert!(w.sandbox.stats().requests(SandboxRoute::Revoke) > revokes);
    for t in refresh {
        assert!(
            !w.sandbox.introspect(&t).unwrap().active,
            "refresh token still active"
        );
    }
    assert_eq!(session(&w, &me.session).await.0, StatusCode::UNAUTHORIZED);
    let r = get_with_cookie(w.url("/api/v1/profile"), &cookie).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_after_the_idle_and_the_absolute_timeout() {
    let w = World::start(Options {
        args: vec![
            "--idle-timeout".into(),
            "0.6".into(),
            "--absolute-timeout".into(),
            "1.5".into(),
        ],
        ..Options::default()
    })
    .await;
    // Active every 0.3 s: alive past the idle timeout, ended by the absolute one.
    let me = login(&w, None).await;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(1_100) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            session(&w, &me.session).await.0,
            StatusCode::OK,
            "{:?}",
            started.elapsed()
        );
    }
    tokio::time::sleep(Duration::from_millis(1_600).saturating_sub(started.elapsed())).await;
    assert_eq!(
        session(&w, &me.session).await.0,
        StatusCode::UNAUTHORIZED,
        "absolute"
    );

    // Idle: no request for longer than the idle timeout.
    let revokes = w.sandbox.stats().requests(SandboxRoute::Revoke);
    let me = login(&w, None).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        session(&w, &me.session).await.0,
        StatusCode::UNAUTHORIZED,
        "idle"
    );
    // The timed-out sessions' logins are revoked too.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while w.sandbox.stats().requests(SandboxRoute::Revoke) < revokes + 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "no revocation after a timeout"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The latency the BFF adds (BENCHMARKS-BFF.md): N sequential `GET /v1/profile` straight
/// at the sandbox with the bearer token, and N through the BFF's `/api/v1/profile` with
/// the session cookie, interleaved in blocks of 50, one keep-alive connection each.
///
/// In the normal test run it makes 100 requests a side (every one must succeed, no time
/// is asserted); for the figures:
/// `BFF_BENCH_N=2000 cargo test --release -p lexoffice-login-cli --test bff -- --nocapture latency`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_added_by_the_bff() {
    let n: usize = std::env::var("BFF_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let w = World::start(Options {
        bench: true,
        ..Options::default()
    })
    .await;
    let me = login(&w, None).await;
    let token = w
        .tokens()
        .into_iter()
        .find(|t| {
            w.sandbox
                .introspect(t)
                .and_then(|i| i.token_type)
                .as_deref()
                == Some("Bearer")
        })
        .expect("an access token");
    let direct_url = w.sandbox.url("/v1/profile").to_string();
    let bff_url = w.url("/api/v1/profile");
    let direct_client = http();
    let bff_client = http();
    let mut direct = Vec::with_capacity(n);
    let mut via_bff = Vec::with_capacity(n);
    // Warm-up: connections, the BFF's token cache.
    for _ in 0..20 {
        let r = direct_client
            .get(&direct_url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.bytes().await.unwrap();
        let r = bff_client
            .get(&bff_url)
            .header("cookie", &me.session)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.bytes().await.unwrap();
    }
    while direct.len() < n {
        for _ in 0..50.min(n - direct.len()) {
            let t = std::time::Instant::now();
            let r = direct_client
                .get(&direct_url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.bytes().await.unwrap();
            direct.push(t.elapsed());
        }
        for _ in 0..50.min(n - via_bff.len()) {
            let t = std::time::Instant::now();
            let r = bff_client
                .get(&bff_url)
                .header("cookie", &me.session)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.bytes().await.unwrap();
            via_bff.push(t.elapsed());
        }
    }
    assert_eq!(w.sandbox.stats().rate_limited(), 0);
    let pct = |v: &mut Vec<Duration>, p: f64| {
        v.sort();
        let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        v[i].as_secs_f64() * 1e3
    };
    let (d50, d99) = (pct(&mut direct, 0.50), pct(&mut direct, 0.99));
    let (b50, b99) = (pct(&mut via_bff, 0.50), pct(&mut via_bff, 0.99));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("BFF latency benchmark, N = {n} sequential GET /v1/profile each");
    println!("| path | p50 ms | p99 ms |");
    println!("|---|---|---|");
    println!("| direct (sandbox, bearer) | {d50:.3} | {d99:.3} |");
    println!("| through the BFF (cookie) | {b50:.3} | {b99:.3} |");
    println!("| added by the BFF | {:.3} | {:.3} |", b50 - d50, b99 - d99);
    println!("load average: {}", load.trim());
    println!(
        "cores: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_budget_keeps_api_calls_under_the_providers_limit() {
    // The sandbox's /v1 allows 2 requests per second (burst 2), like lexoffice.
    let w = World::start(Options {
        args: vec!["--rate-limit".into(), "2".into()],
        ..Options::default()
    })
    .await;
    let me = login(&w, None).await;
    let started = std::time::Instant::now();
    for _ in 0..4 {
        let r = get_with_cookie(w.url("/api/v1/profile"), &me.session).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1_400),
        "4 calls at 2/s took {:?}",
        started.elapsed()
    );
    assert_eq!(w.sandbox.stats().rate_limited(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_https_the_cookies_are_secure_and_host_prefixed() {
    // The BFF behind a TLS-terminating proxy: its public URL is https.
    let w = World::start(Options {
        args: vec!["--public-url".into(), "https://app.example".into()],
        ..Options::default()
    })
    .await;
    let r = http()
        .get(w.url("/auth/login?return=/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let authorize = url::Url::parse(r.headers()[LOCATION].to_str().unwrap()).unwrap();
    let redirect = authorize
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned());
    assert_eq!(
        redirect.as_deref(),
        Some("https://app.example/auth/callback")
    );
    let binding = set_cookies(r.headers())
        .into_iter()
        .find(|c| c.starts_with("__Host-lexoffice_bff_login="))
        .expect("a __Host- login-binding cookie");
    let attrs: Vec<String> = binding
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for want in ["httponly", "samesite=lax", "path=/", "secure"] {
        assert!(attrs.iter().any(|a| a == want), "{want} missing: {binding}");
    }
    assert!(!attrs.iter().any(|a| a.starts_with("domain")), "{binding}");
    // The session cookie of a loopback BFF is not accepted under the https name.
    let r = get_with_cookie(w.url("/auth/session"), "lexoffice_bff=whatever").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A state-changing call from the public origin passes the origin check.
    let r = http()
        .post(w.url("/auth/logout"))
        .header("origin", "https://app.example")
        .header("x-requested-with", "lexoffice-bff")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookies(r.headers()).join("\n");
    assert!(cleared.contains("__Host-lexoffice_bff=;"), "{cleared}");
}

/// `--session-store postgres`: two replicas behind one public URL share started logins,
/// sessions and tokens; a callback is taken once across them; a session outlives a
/// restart; a logout on one ends it on all; the database holds no cookie or token in
/// clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_logins_and_sessions_in_postgres() {
    let database = pg::database().await;
    // The load balancer's address: in the redirect URI and the cookies' origin, never
    // contacted (the test sends each request to a replica itself).
    let public = "http://127.0.0.1:9".to_owned();
    let opts = || Options {
        database_url: Some(database.clone()),
        public_url: Some(public.clone()),
        ..Options::default()
    };
    let mut w = World::start(opts()).await;
    let b = w.replica(&opts()).await;
    let c = http();
    let location = |r: &reqwest::Response| r.headers()[LOCATION].to_str().unwrap().to_owned();

    // Started on replica A ...
    let r = c
        .get(w.url("/auth/login?return=/app"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let binding = cookie_pair(r.headers(), "lexoffice_bff_login").unwrap();
    let r = c.get(location(&r)).send().await.unwrap();
    let callback = location(&r);
    assert!(
        callback.starts_with(&format!("{public}/auth/callback?")),
        "{callback}"
    );
    // ... completed on replica B.
    let r = get_with_cookie(callback.replacen(&public, &b.base, 1), &binding).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert_eq!(location(&r), "/app");
    let session_cookie = cookie_pair(r.headers(), "lexoffice_bff").expect("a session cookie");
    // The same callback on A: refused, the login was taken once.
    let r = get_with_cookie(callback.replacen(&public, &w.base, 1), &binding).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // The session works on both replicas; A calls the API with the tokens B stored.
    for base in [&w.base, &b.base] {
        let r = get_with_cookie(format!("{base}/auth/session"), &session_cookie).await;
        assert_eq!(r.status(), StatusCode::OK, "{base}");
    }
    let r = get_with_cookie(w.url("/api/v1/profile"), &session_cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["organizationId"].is_string(), "{v}");

    // Nothing usable in the database: no session id, no token in clear.
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&database)
        .await
        .unwrap();
    let mut dump = String::new();
    for table in [
        "lexoffice_login_sessions",
        "lexoffice_login_connections",
        "lexoffice_login_pending",
    ] {
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM {table} t"))
                .fetch_all(&mut db)
                .await
                .unwrap();
        dump.extend(rows);
    }
    let (_, id) = session_cookie.split_once('=').unwrap();
    assert!(!dump.contains(id), "the session id is in the database");
    assert!(!w.tokens().is_empty());
    for t in w.tokens() {
        assert!(!dump.contains(&t), "a token is in the database in clear");
    }

    // Replica A restarts: the session is still there.
    w.bff.kill().await.unwrap();
    let a2 = w.replica(&opts()).await;
    let r = get_with_cookie(a2.url("/auth/session"), &session_cookie).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the session did not survive a restart"
    );

    // A logout on B revokes the login and ends the session on every replica.
    let revokes = w.sandbox.stats().requests(SandboxRoute::Revoke);
    let r = c
        .post(b.url("/auth/logout"))
        .header("cookie", &session_cookie)
        .header("origin", &public)
        .header("x-requested-with", "lexoffice-bff")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(w.sandbox.stats().requests(SandboxRoute::Revoke) > revokes);
    let r = get_with_cookie(a2.url("/auth/session"), &session_cookie).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// `--session-store postgres` without a store key or with an unreachable database: a
/// clear message at start, the exit code of a configuration problem, no secret shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_need_a_key_and_a_database() {
    let run = |db: &str, key: Option<&str>| {
        let mut cmd = std::process::Command::new(bff_support::BIN);
        cmd.args([
            "bff",
            "--listen",
            "127.0.0.1:0",
            "--session-store",
            "postgres",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("DATABASE_URL", db)
        .env("LEXOFFICE_LOGIN_ISSUER", "http://127.0.0.1:9")
        .env("LEXOFFICE_LOGIN_CLIENT_ID", "c")
        .env("LEXOFFICE_LOGIN_CLIENT_SECRET", "client-secret-value")
        .env("LEXOFFICE_LOGIN_ENDPOINTS__JWKS", "http://127.0.0.1:9/jwks")
        .env("LEXOFFICE_LOGIN_DISCOVERY", "false")
        .env(
            "LEXOFFICE_LOGIN_ENDPOINTS__AUTHORIZATION",
            "http://127.0.0.1:9/a",
        )
        .env("LEXOFFICE_LOGIN_ENDPOINTS__TOKEN", "http://127.0.0.1:9/t");
        if let Some(k) = key {
            cmd.env("LEXOFFICE_LOGIN_STORE_KEY", k);
        }
        cmd.output().unwrap()
    };
    let database = pg::database().await;
    let out = run(&database, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("LEXOFFICE_LOGIN_STORE_KEY"), "{err}");

    // Nothing listens on port 9; the password in the URL is never printed.
    let out = run(
        "postgres://bff:hunter2-password@127.0.0.1:9/app",
        Some(bff_support::STORE_KEY),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("session database"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!err.contains("client-secret-value"), "{err}");
}
