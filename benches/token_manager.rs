//! `TokenManager::access_token()` on a fresh token (the hot path every API call takes),
//! and a refresh storm: N tasks asking at once for a token that needs refreshing, which
//! must cost one refresh. Both against the local sandbox over loopback HTTP.
//!
//! Run: `cargo bench --bench token_manager`; results in BENCHMARKS.md.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use lexoffice_login::store::{MemoryStore, StoreKey};
use lexoffice_login::{Client, ManagerOptions, TokenManager};
use lexoffice_login_sandbox::Sandbox;

struct Fixture {
    sandbox: Sandbox,
    manager: TokenManager<MemoryStore>,
}

async fn fixture() -> Fixture {
    // No rate limit on the sandbox's API; the token endpoint is what is measured.
    let sandbox = Sandbox::builder()
        .rate_limit_per_second(0)
        .start()
        .await
        .expect("sandbox starts");
    let client = Client::connect(sandbox.settings().build().expect("settings"))
        .await
        .expect("discovery");
    let tokens = sandbox.login(&client).await.expect("login");
    let manager = TokenManager::new(
        client,
        MemoryStore::new(),
        StoreKey::new("bench", "default"),
        ManagerOptions::default(),
    );
    manager.save_login(tokens).await.expect("stored");
    Fixture { sandbox, manager }
}

/// Makes the held login look as if it expires now, so the next call must refresh.
async fn expire(manager: &TokenManager<MemoryStore>) {
    let mut t = manager.current().expect("a login");
    t.expires_at = Some(chrono::Utc::now());
    manager.save_login(t).await.expect("stored");
}

fn fresh_token(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let f = rt.block_on(fixture());
    c.bench_function("access_token/fresh", |b| {
        b.to_async(&rt).iter(|| async {
            let t = f.manager.access_token().await.expect("token");
            std::hint::black_box(t);
        })
    });
}

fn refresh_storm(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let f = rt.block_on(fixture());
    let manager = Arc::new(f.manager.clone());
    let storms = Arc::new(AtomicU64::new(0));
    let before = f.sandbox.stats().token_grants("refresh_token");
    let mut group = c.benchmark_group("refresh_storm");
    group.sample_size(20);
    for tasks in [1usize, 100, 1000] {
        group.bench_with_input(BenchmarkId::from_parameter(tasks), &tasks, |b, &tasks| {
            b.to_async(&rt).iter_custom(|iters| {
                let manager = manager.clone();
                let storms = storms.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        expire(&manager).await;
                        let start = Instant::now();
                        let handles: Vec<_> = (0..tasks)
                            .map(|_| {
                                let m = manager.clone();
                                tokio::spawn(async move { m.access_token().await })
                            })
                            .collect();
                        for h in handles {
                            let _ = h.await.expect("task").expect("token");
                        }
                        total += start.elapsed();
                        storms.fetch_add(1, Ordering::Relaxed);
                    }
                    total
                }
            })
        });
    }
    group.finish();
    let storms = storms.load(Ordering::Relaxed);
    let refreshes = f.sandbox.stats().token_grants("refresh_token") - before;
    println!("refresh_storm: {storms} storms, {refreshes} refresh requests at the sandbox");
    assert_eq!(
        refreshes, storms,
        "one refresh per storm, whatever the number of tasks"
    );
}

criterion_group!(benches, fresh_token, refresh_storm);
criterion_main!(benches);
