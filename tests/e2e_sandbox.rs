//! End to end over real loopback HTTP: the client against the local sandbox issuer, for
//! the discovery path and lexoffice's static-endpoint path, key rotation, refresh-token
//! reuse detection, the clock and `iss` knobs, and every fault knob.

use std::time::Duration;

use lexoffice_login::{Client, Error, IdTokenProblem, Settings, SettingsBuilder, TokenSet};
use lexoffice_login_sandbox::{
    Fault, Sandbox, SandboxBuilder, SandboxProfile, SandboxRoute as SbEndpoint,
};

fn settings_for(sandbox: &Sandbox) -> SettingsBuilder {
    sandbox
        .settings()
        .timeouts(Duration::from_secs(2), Duration::from_secs(2))
        .jwks_refetch_cooldown(Duration::ZERO)
}

async fn start(builder: SandboxBuilder) -> Sandbox {
    builder.start().await.expect("sandbox starts")
}

/// Plays the browser: follows the authorization URL to the sandbox's auto-consent redirect.
async fn browse(sandbox: &Sandbox, url: url::Url) -> String {
    sandbox
        .follow_authorization(&url)
        .await
        .expect("the sandbox redirects back")
}

async fn login(sandbox: &Sandbox, client: &Client) -> TokenSet {
    sandbox.login(client).await.expect("login completes")
}

async fn api_status(client: &Client, sandbox: &Sandbox, tokens: &TokenSet) -> u16 {
    client
        .http_client()
        .get(sandbox.url("/v1/profile"))
        .bearer_auth(tokens.access_token.secret())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn discovery_path_login_userinfo_refresh_revoke() {
    let sandbox = start(Sandbox::builder()).await;
    let client = Client::connect(settings_for(&sandbox).build().unwrap())
        .await
        .unwrap();
    let tokens = login(&sandbox, &client).await;

    let claims = tokens.id_token_claims().expect("verified ID token");
    assert_eq!(claims.sub, "sandbox-user-1");
    assert_eq!(claims.iss, sandbox.issuer());
    assert_eq!(claims.aud, vec![sandbox.client_id().to_owned()]);
    assert!(tokens.refresh_token.is_some());
    assert!(!tokens.expires_within(Duration::from_secs(60)));

    let info = client.userinfo(&tokens).await.unwrap();
    assert_eq!(
        info.get("sub").and_then(|v| v.as_str()),
        Some("sandbox-user-1")
    );
    assert_eq!(api_status(&client, &sandbox, &tokens).await, 200);

    let t2 = client.refresh(&tokens).await.unwrap();
    assert_ne!(t2.access_token.secret(), tokens.access_token.secret());
    assert_ne!(
        t2.refresh_token.as_ref().unwrap().secret(),
        tokens.refresh_token.as_ref().unwrap().secret(),
        "the sandbox rotates refresh tokens and the client keeps the new one"
    );
    assert_eq!(
        t2.id_token_claims().map(|c| c.sub.as_str()),
        Some("sandbox-user-1")
    );

    client.revoke_refresh_token(&t2).await.unwrap();
    assert_eq!(api_status(&client, &sandbox, &t2).await, 401);
    let err = client.refresh(&t2).await.unwrap_err();
    assert!(err.is_invalid_grant(), "{err}");
    assert!(err.to_string().contains("log in again"), "{err}");

    let stats = sandbox.stats();
    assert_eq!(stats.token_grants("authorization_code"), 1);
    assert_eq!(
        stats.token_grants("refresh_token"),
        1,
        "successful refreshes"
    );
    assert_eq!(
        stats.requests(SbEndpoint::Token),
        3,
        "code + refresh + refused refresh"
    );
    assert_eq!(stats.requests(SbEndpoint::Discovery), 1);
    assert_eq!(stats.requests(SbEndpoint::Jwks), 1, "the JWKS is cached");
}

#[tokio::test]
async fn lexoffice_static_path_without_discovery_or_id_token() {
    let sandbox = start(Sandbox::builder().profile(SandboxProfile::Lexoffice)).await;
    // Discovery is really absent in this profile.
    let settings = Settings::builder(
        sandbox.issuer(),
        sandbox.client_id(),
        sandbox.redirect_uri(),
    )
    .client_secret(sandbox.client_secret().unwrap_or_default())
    .scopes(["profile.read", "contacts.read"])
    .build()
    .unwrap();
    let err = Client::connect(settings).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnexpectedResponse { status: 404, .. } | Error::OAuth { status: 404, .. }
        ),
        "{err}"
    );

    let u = |p: &str| sandbox.url(p).to_string();
    let settings = Settings::builder(
        sandbox.issuer(),
        sandbox.client_id(),
        sandbox.redirect_uri(),
    )
    .client_secret(sandbox.client_secret().unwrap_or_default())
    .scopes(["profile.read", "contacts.read"])
    .without_discovery()
    .endpoints(
        u("/oauth2/authorize"),
        u("/oauth2/token"),
        Some(&u("/oauth2/revoke")),
        None,
        None,
    )
    .extra_authorize_param("connection_name", "e2e")
    .build()
    .unwrap();
    let client = Client::connect(settings).await.unwrap();
    let tokens = login(&sandbox, &client).await;
    assert!(tokens.id_token.is_none() && tokens.id_token_claims().is_none());
    assert!(
        tokens.refresh_token.is_some(),
        "lexoffice always issues a refresh token"
    );
    assert_eq!(tokens.scopes.to_string(), "profile.read contacts.read");
    assert_eq!(api_status(&client, &sandbox, &tokens).await, 200);

    let t2 = client.refresh(&tokens).await.unwrap();
    assert_eq!(api_status(&client, &sandbox, &t2).await, 200);
    client.revoke_refresh_token(&t2).await.unwrap();
    assert_eq!(api_status(&client, &sandbox, &t2).await, 401);

    // Userinfo is neither discovered nor configured: a clear error, no request.
    let err = client.userinfo(&t2).await.unwrap_err();
    assert!(err.to_string().contains("endpoints.userinfo"), "{err}");
    assert_eq!(sandbox.stats().requests(SbEndpoint::Userinfo), 0);
}

#[tokio::test]
async fn key_rotation_is_followed_by_one_jwks_refetch() {
    let sandbox = start(Sandbox::builder()).await;
    let client = Client::connect(settings_for(&sandbox).build().unwrap())
        .await
        .unwrap();
    login(&sandbox, &client).await;
    assert_eq!(sandbox.stats().requests(SbEndpoint::Jwks), 1);

    sandbox.rotate_keys();
    let tokens = login(&sandbox, &client).await;
    assert!(tokens.id_token_claims().is_some());
    assert_eq!(
        sandbox.stats().requests(SbEndpoint::Jwks),
        2,
        "the unknown kid made the client fetch the JWKS once more"
    );
}

#[tokio::test]
async fn es256_id_tokens_verify() {
    let sandbox = start(Sandbox::builder().id_token_alg(jsonwebtoken::Algorithm::ES256)).await;
    let client = Client::connect(settings_for(&sandbox).build().unwrap())
        .await
        .unwrap();
    let tokens = login(&sandbox, &client).await;
    assert_eq!(
        tokens.id_token_claims().map(|c| c.sub.as_str()),
        Some("sandbox-user-1")
    );
}

#[tokio::test]
async fn refresh_token_reuse_revokes_the_family() {
    let sandbox = start(Sandbox::builder()).await;
    let client = Client::connect(settings_for(&sandbox).build().unwrap())
        .await
        .unwrap();
    let t1 = login(&sandbox, &client).await;
    let t2 = client.refresh(&t1).await.unwrap();

    // A second worker with the old refresh token: the sandbox sees reuse.
    let err = client.refresh(&t1).await.unwrap_err();
    assert!(err.is_invalid_grant(), "{err}");
    assert_eq!(sandbox.stats().refresh_reuse_detected(), 1);
    // The whole family is gone, including the legitimately rotated token.
    let err = client.refresh(&t2).await.unwrap_err();
    assert!(err.is_invalid_grant(), "{err}");
    assert_eq!(api_status(&client, &sandbox, &t2).await, 401);
}

#[tokio::test]
async fn grace_period_allows_the_old_refresh_token_briefly() {
    let sandbox = start(Sandbox::builder().refresh_grace_period(Duration::from_secs(30))).await;
    let client = Client::connect(settings_for(&sandbox).build().unwrap())
        .await
        .unwrap();
    let t1 = login(&sandbox, &client).await;
    let _t2 = client.refresh(&t1).await.unwrap();
    let t3 = client.refresh(&t1).await.expect("within the grace period");
    assert_eq!(api_status(&client, &sandbox, &t3).await, 200);
    assert_eq!(sandbox.stats().refresh_reuse_detected(), 0);
}

#[tokio::test]
async fn token_endpoint_faults_are_clear_errors_and_leave_the_login_usable() {
    let sandbox = start(Sandbox::builder()).await;
    let client = Client::connect(
        settings_for(&sandbox)
            .timeouts(Duration::from_secs(1), Duration::from_secs(1))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let tokens = login(&sandbox, &client).await;

    sandbox.inject_token_faults(1, Fault::ServerError);
    let err = client.refresh(&tokens).await.unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedResponse { status: 500, .. }),
        "{err}"
    );
    assert!(err.is_transient());

    sandbox.inject_token_faults(1, Fault::MalformedJson);
    let err = client.refresh(&tokens).await.unwrap_err();
    assert!(matches!(err, Error::MalformedResponse { .. }), "{err}");

    sandbox.inject_token_faults(1, Fault::Hang);
    let err = client.refresh(&tokens).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(err.is_transient());

    // The faults consumed nothing: the same refresh token still works.
    let fresh = client
        .refresh(&tokens)
        .await
        .expect("recovers after the faults");
    assert_eq!(api_status(&client, &sandbox, &fresh).await, 200);
}

#[tokio::test]
async fn clock_offset_within_skew_is_accepted_and_beyond_it_refused() {
    let sandbox = start(Sandbox::builder().clock_offset(30)).await;
    let client = Client::connect(settings_for(&sandbox).build().unwrap())
        .await
        .unwrap();
    login(&sandbox, &client).await;

    sandbox.set_clock_offset(600);
    let (url, pending) = client.authorize().unwrap();
    let err = client
        .complete(pending, &browse(&sandbox, url).await)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::IdToken(IdTokenProblem::IssuedInFuture)),
        "{err}"
    );

    sandbox.set_clock_offset(-7200);
    let (url, pending) = client.authorize().unwrap();
    let err = client
        .complete(pending, &browse(&sandbox, url).await)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::IdToken(IdTokenProblem::Expired)),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_iss_is_refused_when_the_provider_promises_it() {
    let sandbox = start(Sandbox::builder()).await;
    let client = Client::connect(settings_for(&sandbox).build().unwrap())
        .await
        .unwrap();
    assert!(
        client
            .metadata()
            .authorization_response_iss_parameter_supported
    );
    sandbox.set_send_iss(false);
    let (url, pending) = client.authorize().unwrap();
    let err = client
        .complete(pending, &browse(&sandbox, url).await)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IssuerParameterMissing), "{err}");
    assert_eq!(
        sandbox.stats().token_grants("authorization_code"),
        0,
        "no code was exchanged"
    );
}

#[tokio::test]
async fn a_code_is_exchanged_once() {
    let sandbox = start(Sandbox::builder()).await;
    let client = Client::connect(settings_for(&sandbox).build().unwrap())
        .await
        .unwrap();
    let (url, pending) = client.authorize().unwrap();
    let redirect = browse(&sandbox, url).await;
    // Keep a copy of the pending login, as a web backend's session store might.
    let copy: lexoffice_login::PendingLogin =
        serde_json::from_str(&serde_json::to_string(&pending).unwrap()).unwrap();
    client.complete(pending, &redirect).await.unwrap();
    let err = client.complete(copy, &redirect).await.unwrap_err();
    assert!(err.is_invalid_grant(), "{err}");
}

/// A login remembers where it was made: a client configured for another issuer refuses
/// to refresh, revoke or ask userinfo with it, and sends nothing to its own server.
#[tokio::test]
async fn a_login_is_never_used_with_another_issuer() {
    let a = start(Sandbox::builder()).await;
    let b = start(Sandbox::builder()).await;
    let client_a = Client::connect(settings_for(&a).build().unwrap())
        .await
        .unwrap();
    let client_b = Client::connect(settings_for(&b).build().unwrap())
        .await
        .unwrap();
    let tokens = login(&a, &client_a).await;
    let origin = tokens.origin.clone().expect("the login's origin");
    assert_eq!(origin.issuer, a.issuer());
    assert_eq!(origin.client_id, a.client_id());
    assert!(origin.token_endpoint.is_some());

    let before = b.stats().requests(SbEndpoint::Token) + b.stats().requests(SbEndpoint::Revoke);
    let refused = [
        client_b.refresh(&tokens).await.unwrap_err(),
        client_b.revoke_refresh_token(&tokens).await.unwrap_err(),
        client_b.userinfo(&tokens).await.unwrap_err(),
    ];
    for err in refused {
        assert!(
            matches!(&err, Error::ForeignLogin { login_issuer, configured_issuer, .. }
                if login_issuer == a.issuer() && configured_issuer == b.issuer()),
            "{err:?}"
        );
        assert_eq!(err.kind(), lexoffice_login::ErrorKind::Misconfigured);
    }
    let after = b.stats().requests(SbEndpoint::Token) + b.stats().requests(SbEndpoint::Revoke);
    assert_eq!(before, after, "nothing was sent to the other issuer");
    // The issuing client still refreshes it, and the origin stays.
    let fresh = client_a.refresh(&tokens).await.unwrap();
    assert_eq!(fresh.origin, Some(origin));
}
