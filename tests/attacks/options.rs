//! Hostile options of the API client and the token manager, and the scenarios that
//! count requests: the JWKS refetch cooldown while the JWKS fails, and the discovery
//! refetch after a failed metadata refresh.

use std::sync::Arc;
use std::time::Duration;

use lexoffice_login::store::{MemoryStore, StoreKey};
use lexoffice_login::{
    ApiClient, ApiError, ApiOptions, Client, Error, FixedClock, IdTokenProblem, ManagerOptions,
    TokenManager,
};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::Mock;

use crate::harness::*;
use crate::refused;
use crate::support::wiremock_provider::{discovery_doc, jwks, Key, Provider};

const CATEGORY: &str = "options";
const SCENARIO: &str = "scenario";

async fn manager(
    p: &Provider,
    client: &Client,
    options: ManagerOptions,
) -> TokenManager<MemoryStore> {
    let (tokens, _) = logged_in(p, client, |_| {}).await;
    let m = TokenManager::new(
        client.clone(),
        MemoryStore::new(),
        StoreKey::new("attacks", "default"),
        options,
    );
    m.save_login(tokens).await.expect("save");
    m
}

fn config_refused() -> Expect<Box<ApiError>> {
    Expect::refused_if(
        "ApiError::Config(_)",
        #[allow(clippy::borrowed_box)]
        |b: &Box<ApiError>| matches!(**b, ApiError::Config(_)),
    )
}

pub async fn run() -> Vec<Outcome> {
    let p = Provider::start().await;
    let client = p.client_with(settings(&p)).await;
    let m = manager(&p, &client, ManagerOptions::default()).await;
    let rates: Vec<(&str, ApiOptions, Expect<Box<ApiError>>)> = vec![
        (
            "rate_limit f64::MIN_POSITIVE",
            ApiOptions::default().rate_limit(f64::MIN_POSITIVE, 1),
            config_refused(),
        ),
        (
            "rate_limit NaN",
            ApiOptions::default().rate_limit(f64::NAN, 1),
            config_refused(),
        ),
        (
            "rate_limit infinity",
            ApiOptions::default().rate_limit(f64::INFINITY, 1),
            config_refused(),
        ),
        (
            "rate_limit 0",
            ApiOptions::default().rate_limit(0.0, 1),
            config_refused(),
        ),
        (
            "rate_limit negative",
            ApiOptions::default().rate_limit(-2.0, 1),
            config_refused(),
        ),
        (
            "control: rate_limit 2/s",
            ApiOptions::default().rate_limit(2.0, 2),
            Expect::Accepted,
        ),
    ];
    let mut out = Vec::new();
    for (name, options, expect) in rates {
        let api = m.clone();
        let base = p.url("/api");
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            ApiClient::builder(api, base)
                .options(options)
                .build()
                .map(drop)
                .map_err(Box::new)
        }));
        out.push(match result {
            Ok(result) => judge(CATEGORY, name, &expect, &result),
            Err(_) => Outcome::fail(CATEGORY, name, "panicked".into()),
        });
    }
    out.push(margin_max().await);
    out.push(margin_scaled().await);
    out
}

/// `refresh_margin(Duration::MAX)`: no overflow; the margin is capped at half the
/// token's lifetime, so a fresh login is not refreshed at once.
async fn margin_max() -> Outcome {
    let name = "refresh_margin Duration::MAX neither panics nor refreshes a fresh login";
    let p = Provider::start().await;
    let client = p.client_with(settings(&p)).await;
    let m = manager(
        &p,
        &client,
        ManagerOptions::default().refresh_margin(Duration::MAX),
    )
    .await;
    token_once(
        &p,
        json_answer(
            200,
            json!({"access_token": AT2, "token_type": "Bearer", "expires_in": 3600}),
        ),
    )
    .await;
    let result =
        tokio::spawn(async move { m.access_token().await.map(|t| t.secret().clone()) }).await;
    let asked = p.requests_to("/token").await.len();
    match result {
        Err(e) => Outcome::fail(CATEGORY, name, format!("panicked: {e}")),
        Ok(result) => judge(CATEGORY, name, &Expect::Accepted, &result).also(asked == 1, || {
            format!("{} token requests, not 1 (the login only)", asked)
        }),
    }
}

/// 4-second access tokens and the default 120 s margin: no refresh right after login.
async fn margin_scaled() -> Outcome {
    let name = "4 s tokens with the default margin are not refreshed at once";
    let p = Provider::start().await;
    let client = p.client_with(settings(&p)).await;
    let tokens = complete_with(&p, &client, |p, login| {
        let t = signed(p, &good_claims(p, login));
        let mut b = token_answer(Some(&t));
        b["expires_in"] = json!(4);
        json_answer(200, b)
    })
    .await
    .expect("login");
    let m = TokenManager::new(
        client,
        MemoryStore::new(),
        StoreKey::new("a", "b"),
        ManagerOptions::default(),
    );
    m.save_login(tokens).await.expect("save");
    token_once(
        &p,
        json_answer(
            200,
            json!({"access_token": AT2, "token_type": "Bearer", "expires_in": 4}),
        ),
    )
    .await;
    let result = m.access_token().await.map(|t| t.secret().clone());
    let asked = p.requests_to("/token").await.len();
    judge(CATEGORY, name, &Expect::Accepted, &result)
        .also(asked == 1, || {
            format!("refreshed at once ({asked} token requests)")
        })
        .also(result.as_deref().ok() == Some(AT), || {
            "not the login's access token".into()
        })
}

// ----------------------------------------------------------------------- scenarios

/// The JWKS answers once, then 500: tokens with unknown kids within the cooldown cause
/// at most the one forced refetch.
async fn jwks_cooldown_while_failing() -> Vec<Outcome> {
    let p = Provider::bare().await;
    p.mount_discovery(discovery_doc(&p.issuer())).await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(json_answer(200, jwks(&[&p.rsa, &p.ec])))
        .up_to_n_times(1)
        .mount(&p.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(html(500))
        .mount(&p.server)
        .await;
    let client = p.client_with(settings(&p)).await;
    let mut out = Vec::new();
    let r = complete_with(&p, &client, |p, l| {
        json_answer(200, token_answer(Some(&signed(p, &good_claims(p, l)))))
    })
    .await;
    out.push(judge(
        SCENARIO,
        "JWKS cooldown: control login with the known key",
        &Expect::Accepted,
        &r,
    ));
    for i in 1..=4 {
        let stranger = Key::ec(&format!("unknown-{i}"));
        let r = complete_with(&p, &client, |p, l| {
            json_answer(200, token_answer(Some(&stranger.sign(&good_claims(p, l)))))
        })
        .await;
        let n = p.requests_to("/jwks").await.len();
        let expect = if i == 1 {
            refused!(
                Error::IdToken(IdTokenProblem::UnknownKey { .. })
                    | Error::UnexpectedResponse { status: 500, .. }
            )
        } else {
            refused!(Error::IdToken(IdTokenProblem::UnknownKey { .. }))
        };
        out.push(
            judge(
                SCENARIO,
                format!("JWKS cooldown: unknown kid #{i} while the JWKS answers 500"),
                &expect,
                &r,
            )
            .also(n <= 2, || format!("{n} JWKS requests, at most 2 allowed")),
        );
    }
    out
}

/// After `metadata_ttl`, the refreshed discovery document names another issuer: it is
/// fetched at most once per `jwks_refetch_cooldown`.
async fn discovery_refetch_after_failed_refresh() -> Vec<Outcome> {
    let p = Provider::bare().await;
    p.mount_jwks(&[&p.rsa, &p.ec]).await;
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(json_answer(200, discovery_doc(&p.issuer())))
        .up_to_n_times(1)
        .mount(&p.server)
        .await;
    let mut bad = discovery_doc(&p.issuer());
    bad["issuer"] = json!("https://evil.example.com");
    p.mount_discovery(bad).await;
    Mock::given(path("/userinfo"))
        .respond_with(json_answer(
            200,
            json!({"sub": crate::support::wiremock_provider::SUBJECT}),
        ))
        .mount(&p.server)
        .await;
    let clock = FixedClock::at_now();
    let client = p
        .client_with(
            settings(&p)
                .metadata_ttl(Duration::from_secs(60))
                .jwks_refetch_cooldown(Duration::from_secs(30)),
        )
        .await
        .with_clock(Arc::new(clock.clone()));
    let tokens: lexoffice_login::TokenSet = serde_json::from_value(json!({
        "access_token": AT, "token_type": "Bearer", "scopes": "openid",
        "obtained_at": "2029-12-31T23:00:00Z"
    }))
    .unwrap();
    let mut out = Vec::new();
    let before = p
        .requests_to("/.well-known/openid-configuration")
        .await
        .len();
    clock.advance(Duration::from_secs(61));
    for i in 1..=4 {
        let _ = client.userinfo(&tokens).await;
        let n = p
            .requests_to("/.well-known/openid-configuration")
            .await
            .len()
            - before;
        out.push(Outcome {
            category: SCENARIO,
            name: format!("discovery refetch: operation #{i} after the TTL with a bad document"),
            failure: (n > 1)
                .then(|| format!("{n} discovery requests within the cooldown, at most 1")),
        });
    }
    clock.advance(Duration::from_secs(31));
    let _ = client.userinfo(&tokens).await;
    let n = p
        .requests_to("/.well-known/openid-configuration")
        .await
        .len()
        - before;
    out.push(Outcome {
        category: SCENARIO,
        name: "discovery refetch: once more after the cooldown".into(),
        failure: (n > 2).then(|| format!("{n} discovery requests after one cooldown, at most 2")),
    });
    out
}

pub async fn run_scenarios() -> Vec<Outcome> {
    let mut out = jwks_cooldown_while_failing().await;
    out.extend(discovery_refetch_after_failed_refresh().await);
    out
}
