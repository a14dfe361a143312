//! The sandbox issuer for benches/token_endpoint.sh.
//!
//!     sandbox-bench-server [--rotate] [--es256] [--workers N]
//!
//! Prints one JSON line once it listens (`issuer`, `client_id`, `client_secret`,
//! `redirect_uri`) and serves until stdin closes or SIGTERM. Refresh-token rotation is
//! off unless `--rotate`, so that one refresh token can be replayed by wrk; the OIDC
//! profile, non-interactive (authorize answers with a code at once, as the first test
//! user), RS256 ID tokens unless `--es256`. `--workers` sets tokio's worker threads
//! (default: one per core).

use jsonwebtoken::Algorithm;
use lexoffice_login_sandbox::{Sandbox, SandboxProfile};
use tokio::io::AsyncReadExt as _;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let workers = args
        .iter()
        .position(|a| a == "--workers")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<usize>().ok());
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        rt.worker_threads(n);
    }
    let rt = rt.enable_all().build().expect("tokio runtime");
    rt.block_on(async {
        let sandbox = Sandbox::builder()
            .profile(SandboxProfile::Oidc)
            .rotate_refresh_tokens(flag("--rotate"))
            .id_token_alg(if flag("--es256") {
                Algorithm::ES256
            } else {
                Algorithm::RS256
            })
            .start()
            .await
            .expect("sandbox start");
        let info = serde_json::json!({
            "issuer": sandbox.issuer(),
            "client_id": sandbox.client_id(),
            "client_secret": sandbox.client_secret(),
            "redirect_uri": sandbox.redirect_uri(),
        });
        println!("{info}");
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        let stdin_closed =
            async move { while !matches!(stdin.read(&mut buf).await, Ok(0) | Err(_)) {} };
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = stdin_closed => {}
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        drop(sandbox);
    });
    // Without waiting for the blocking thread that still reads stdin.
    rt.shutdown_background();
}
