//! The sandbox's DATEV, Xero and QuickBooks Online profiles over real loopback HTTP: the
//! crate's own client where it fits (`Sandbox::settings`, `Sandbox::login`), plain
//! reqwest for the provider-specific calls.

mod support;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use lexoffice_login::{Client, ClientAuthMethod, SettingsBuilder, TokenSet};
use lexoffice_login_sandbox::{
    ClientAuth, Sandbox, SandboxBuilder, SandboxClient, SandboxProfile, SandboxRoute as SbEndpoint,
};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use support::sandbox_raw::{self, http, location, query_of, VERIFIER};

async fn start(b: SandboxBuilder) -> Sandbox {
    b.start().await.expect("sandbox starts")
}

fn settings_for(sandbox: &Sandbox) -> SettingsBuilder {
    sandbox
        .settings()
        .timeouts(Duration::from_secs(5), Duration::from_secs(5))
}

async fn client_for(sandbox: &Sandbox) -> Client {
    Client::connect(settings_for(sandbox).build().unwrap())
        .await
        .expect("discovery works")
}

async fn login(sandbox: &Sandbox, client: &Client) -> TokenSet {
    sandbox.login(client).await.expect("login completes")
}

/// A hand-made authorize request asking for `openid` unless `extra` says otherwise.
async fn authorize(sb: &Sandbox, extra: &[(&str, &str)]) -> Response {
    let mut all = vec![("scope", "openid")];
    all.extend_from_slice(extra);
    sandbox_raw::authorize(sb, &all).await
}

async fn get_json(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn host_of(u: &str) -> String {
    let u = url::Url::parse(u).unwrap();
    format!("{}:{}", u.host_str().unwrap(), u.port().unwrap())
}

// ------------------------------------------------------------------------- DATEV

#[tokio::test]
async fn datev_discovery_second_host_login_and_api() {
    let sb = start(Sandbox::builder().profile(SandboxProfile::Datev)).await;
    assert_eq!(sb.profile(), SandboxProfile::Datev);
    let second = sb
        .second_host()
        .expect("DATEV has a second host")
        .to_owned();
    assert!(second.starts_with("http://localhost:"), "{second}");
    assert_ne!(host_of(&second), host_of(sb.issuer()));

    // Discovery lacks the three fields; endpoints live on the second host.
    let (status, doc) = get_json(http().get(sb.url("/.well-known/openid-configuration"))).await;
    assert_eq!(status, StatusCode::OK);
    for absent in [
        "scopes_supported",
        "code_challenge_methods_supported",
        "token_endpoint_auth_methods_supported",
    ] {
        assert!(doc.get(absent).is_none(), "{absent} must be absent: {doc}");
    }
    assert_eq!(doc["issuer"], sb.issuer());
    let auth = doc["authorization_endpoint"].as_str().unwrap();
    assert_eq!(host_of(auth), host_of(sb.issuer()));
    for key in [
        "token_endpoint",
        "revocation_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
    ] {
        let u = doc[key].as_str().unwrap();
        assert!(u.starts_with(&second), "{key} = {u}");
    }
    assert_eq!(
        doc["token_endpoint"].as_str(),
        Some(sb.endpoint_url("/oauth2/token").as_str())
    );
    // The issuer host really does not serve the token endpoint or the JWKS.
    let resp = http()
        .post(sb.url("/oauth2/token"))
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = http().get(sb.url("/oauth2/jwks")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // ... and the second host not authorize.
    let resp = http()
        .get(sb.second_host_url("/oauth2/authorize").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // RS256 keys.
    let (status, jwks) = get_json(http().get(sb.endpoint_url("/oauth2/jwks"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jwks["keys"][0]["kty"], "RSA");

    // The client copes with the missing fields and the other host.
    let client = client_for(&sb).await;
    let meta = client.metadata();
    assert!(meta.scopes_supported.is_none());
    assert!(meta.code_challenge_methods_supported.is_none());
    assert!(meta.token_endpoint_auth_methods_supported.is_none());
    assert_eq!(
        meta.token_endpoint.as_ref().and_then(|u| u.host_str()),
        Some("localhost")
    );
    let tokens = login(&sb, &client).await;
    let claims = tokens.id_token_claims().expect("verified RS256 ID token");
    assert_eq!(claims.iss, sb.issuer());
    assert_eq!(claims.sub, "sandbox-user-1");
    let header = jsonwebtoken::decode_header(tokens.id_token.as_ref().unwrap().secret()).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert!(
        tokens.refresh_token.is_some(),
        "offline_access was asked for"
    );
    assert!(tokens
        .scopes
        .to_string()
        .contains("datev:accounting:clients"));
    // enableWindowsSso came from the settings and was recorded.
    let stats = sb.stats();
    assert_eq!(stats.authorize_params_seen("enableWindowsSso"), 1);
    assert_eq!(stats.authorize_param("enableWindowsSso"), Some("true"));
    assert_eq!(stats.authorize_params_seen("nonce"), 1);
    assert_eq!(
        stats.authorize_param("nonce"),
        None,
        "protocol values are not kept"
    );
    // Access tokens live about 15 minutes.
    let ttl = tokens.expires_at.unwrap() - tokens.obtained_at;
    assert!((890..=900).contains(&ttl.num_seconds()), "{ttl}");

    let info = client.userinfo(&tokens).await.unwrap();
    assert_eq!(info["sub"], "sandbox-user-1");

    // The API wants X-DATEV-Client-Id besides the bearer token.
    let api = sb.second_host_url("/datev/api/clients").unwrap();
    let at = tokens.access_token.secret();
    let (status, body) = get_json(http().get(api.clone()).bearer_auth(at)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    let (status, body) = get_json(
        http()
            .get(api.clone())
            .bearer_auth(at)
            .header("X-DATEV-Client-Id", "someone-else"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    let (status, body) = get_json(
        http()
            .get(api.clone())
            .header("X-DATEV-Client-Id", sb.client_id()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = get_json(
        http()
            .get(api.clone())
            .bearer_auth(at)
            .header("X-DATEV-Client-Id", sb.client_id()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(2));
    assert_eq!(body[0]["name"], "Sandbox GmbH");
    assert_eq!(sb.stats().requests(SbEndpoint::DatevClients), 4);

    // Refresh and revocation on the second host, through the client.
    let t2 = client.refresh(&tokens).await.unwrap();
    assert_ne!(t2.access_token.secret(), tokens.access_token.secret());
    client.revoke_refresh_token(&t2).await.unwrap();
    let (status, _) = get_json(
        http()
            .get(api)
            .bearer_auth(t2.access_token.secret())
            .header("X-DATEV-Client-Id", sb.client_id()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(sb.stats().token_grants("refresh_token"), 1);

    // Shutting down stops both hosts.
    let second_url = sb.second_host_url("/oauth2/jwks").unwrap();
    sb.shutdown().await;
    assert!(http().get(second_url).send().await.is_err());
}

#[tokio::test]
async fn datev_requires_nonce_pkce_and_basic() {
    let sb = start(Sandbox::builder().profile(SandboxProfile::Datev)).await;

    let resp = authorize(&sb, &[("nonce", "")]).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let q = query_of(&location(&resp));
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
    assert!(q["error_description"].contains("nonce"), "{q:?}");
    assert_eq!(q.get("state").map(String::as_str), Some("st-123"));

    let resp = authorize(
        &sb,
        &[("code_challenge", ""), ("code_challenge_method", "")],
    )
    .await;
    let q = query_of(&location(&resp));
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));

    // With nonce, PKCE and the SSO flag: a code.
    let resp = authorize(&sb, &[("enableWindowsSso", "true")]).await;
    let q = query_of(&location(&resp));
    let code = q.get("code").expect("a code").clone();
    assert_eq!(sb.stats().authorize_params_seen("enableWindowsSso"), 1);

    // The secret in the body is refused; HTTP Basic works.
    let token = sb.endpoint_url("/oauth2/token");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", sb.redirect_uri()),
        ("code_verifier", VERIFIER),
    ];
    let mut post_form = form.to_vec();
    post_form.push(("client_id", sb.client_id()));
    post_form.push(("client_secret", sb.client_secret().unwrap()));
    let (status, body) = get_json(http().post(token.clone()).form(&post_form)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");
    let resp = authorize(&sb, &[]).await;
    let code = query_of(&location(&resp))["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", sb.redirect_uri()),
        ("code_verifier", VERIFIER),
    ];
    let (status, body) = get_json(
        http()
            .post(token)
            .basic_auth(sb.client_id(), sb.client_secret())
            .form(&form),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["id_token"].is_string());

    // DATEV clients are confidential with client_secret_basic.
    let err = Sandbox::builder()
        .profile(SandboxProfile::Datev)
        .client(
            SandboxClient::confidential("c", "s")
                .auth_method(ClientAuth::ClientSecretPost)
                .redirect_uri("http://127.0.0.1:9/cb"),
        )
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("client_secret_basic"), "{err}");
}

// -------------------------------------------------------------------------- Xero

#[tokio::test]
async fn xero_public_client_login_and_refresh_grace() {
    let sb = start(Sandbox::builder().profile(SandboxProfile::Xero)).await;
    assert_eq!(sb.client_secret(), None);
    assert_eq!(sb.clients()[0].auth(), ClientAuth::None);
    let settings = settings_for(&sb).build().unwrap();
    assert_eq!(settings.client_auth(), ClientAuthMethod::None);
    assert!(settings.client_secret().is_none());
    let client = Client::connect(settings).await.unwrap();
    let tokens = login(&sb, &client).await;
    assert!(tokens.id_token_claims().is_some());
    // No openid from here on: refreshed ID tokens would be dated ahead of the client
    // once the sandbox clock moves.
    let client = Client::connect(
        settings_for(&sb)
            .scopes(["offline_access", "accounting.settings"])
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let tokens = login(&sb, &client).await;
    let ttl = tokens.expires_at.unwrap() - tokens.obtained_at;
    assert!((1790..=1800).contains(&ttl.num_seconds()), "{ttl}");
    let rt1 = tokens
        .refresh_token
        .as_ref()
        .expect("offline_access")
        .secret()
        .clone();

    // Rotation on every use ...
    let t2 = client.refresh(&tokens).await.unwrap();
    let rt2 = t2.refresh_token.as_ref().unwrap().secret().clone();
    assert_ne!(rt1, rt2);
    // ... and the old one still works within the 30-minute grace.
    sb.set_clock_offset(29 * 60);
    let t3 = client
        .refresh(&tokens)
        .await
        .expect("old token within grace");
    assert_ne!(t3.refresh_token.as_ref().unwrap().secret(), &rt1);
    assert_eq!(sb.stats().token_grants("refresh_token"), 2);
    assert_eq!(sb.stats().token_grants("authorization_code"), 2);
    // After the grace it is refused.
    sb.set_clock_offset(31 * 60);
    let err = client.refresh(&tokens).await.unwrap_err();
    assert!(err.is_invalid_grant(), "{err}");

    // Without offline_access there is no refresh token.
    let sb = start(Sandbox::builder().profile(SandboxProfile::Xero)).await;
    let client = Client::connect(
        settings_for(&sb)
            .scopes(["openid", "profile", "accounting.settings"])
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let tokens = login(&sb, &client).await;
    assert!(tokens.refresh_token.is_none());
}

#[tokio::test]
async fn xero_connections_tenant_header_and_revocation() {
    let sb = start(Sandbox::builder().profile(SandboxProfile::Xero)).await;
    let client = client_for(&sb).await;
    let a = login(&sb, &client).await;
    let b = login(&sb, &client).await;
    let tenants = sb.tenants();
    assert_eq!(tenants.len(), 2);

    let connections = |t: &TokenSet| {
        http()
            .get(sb.url("/connections"))
            .bearer_auth(t.access_token.secret().clone())
    };
    let (status, list) = get_json(connections(&a)).await;
    assert_eq!(status, StatusCode::OK);
    let list = list.as_array().cloned().unwrap();
    assert_eq!(list.len(), 2);
    for (entry, tenant) in list.iter().zip(&tenants) {
        assert_eq!(entry["tenantId"], tenant.tenant_id.as_str());
        assert_eq!(entry["tenantName"], tenant.tenant_name.as_str());
        assert_eq!(entry["tenantType"], "ORGANISATION");
        assert!(entry["id"].is_string());
    }
    let (status, _) = get_json(http().get(sb.url("/connections"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let org = |t: &TokenSet, tenant: Option<&str>| {
        let mut r = http()
            .get(sb.url("/api.xro/2.0/Organisation"))
            .bearer_auth(t.access_token.secret().clone());
        if let Some(id) = tenant {
            r = r.header("xero-tenant-id", id);
        }
        r
    };
    let (status, body) = get_json(org(&a, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["Status"], 403);
    assert_eq!(body["Title"], "Forbidden");
    let (status, _) = get_json(org(&a, Some("00000000-0000-4000-8000-000000000000"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = get_json(org(&a, Some(&tenants[0].tenant_id))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["Organisations"][0]["OrganisationID"],
        tenants[0].tenant_id.as_str()
    );
    assert_eq!(body["Organisations"][0]["Name"], "Sandbox GmbH");
    assert_eq!(sb.stats().requests(SbEndpoint::XeroOrganisation), 3);

    // Revoking login a's refresh token removes the user's connections: login b's
    // still valid token sees none and may call no tenant.
    client.revoke_refresh_token(&a).await.unwrap();
    let (status, _) = get_json(connections(&a)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, list) = get_json(connections(&b)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([]));
    let (status, _) = get_json(org(&b, Some(&tenants[0].tenant_id))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A new login connects again.
    let c = login(&sb, &client).await;
    let (_, list) = get_json(connections(&c)).await;
    assert_eq!(list.as_array().map(Vec::len), Some(2));
}

// -------------------------------------------------------------------- QuickBooks

#[tokio::test]
async fn quickbooks_discovery_realm_aud_and_extras() {
    let sb = start(Sandbox::builder().profile(SandboxProfile::QuickBooks)).await;
    let (status, _) = get_json(http().get(sb.url("/.well-known/openid-configuration"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, doc) = get_json(http().get(sb.url("/.well-known/openid_configuration"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["issuer"], sb.issuer());
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    // Like Intuit's own document: only the OpenID Connect scopes are listed, and the
    // login below asks for the accounting scope all the same.
    let listed = doc["scopes_supported"].as_array().unwrap();
    assert!(listed.contains(&json!("openid")));
    assert!(!listed.contains(&json!("com.intuit.quickbooks.accounting")));

    // The default settings discover through the underscore path.
    let client = client_for(&sb).await;
    assert_eq!(
        client.scope_warnings(),
        vec!["com.intuit.quickbooks.accounting".to_owned()]
    );
    let tokens = login(&sb, &client).await;
    let realm = sb.realm_id();
    assert_eq!(realm.len(), 16);
    assert!(realm.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(tokens.extra("realmId"), Some(&json!(realm)));
    assert_eq!(
        tokens.extra("x_refresh_token_expires_in"),
        Some(&json!(8_726_400))
    );
    // The preset's token-request header asks for the hard expiry, and it is kept.
    assert!(tokens.extra("x_refresh_token_hard_expires_in").is_some());
    let claims = tokens.id_token_claims().expect("verified ID token");
    assert_eq!(claims.aud, vec![sb.client_id().to_owned()]);
    assert_eq!(claims.azp.as_deref(), Some(sb.client_id()));
    assert_eq!(claims.string("realmid"), Some(realm.as_str()));
    // The raw token really carries an array.
    let raw = tokens.id_token.as_ref().unwrap().secret();
    let payload = raw.split('.').nth(1).unwrap();
    let payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(payload["aud"], json!([sb.client_id()]));

    // The company API wants the realm of the login.
    let info = |realm: &str| {
        http()
            .get(sb.url(&format!("/v3/company/{realm}/companyinfo/{realm}")))
            .bearer_auth(tokens.access_token.secret().clone())
    };
    let (status, body) = get_json(info(&realm)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["CompanyInfo"]["CompanyName"], "Sandbox GmbH");
    let (status, body) = get_json(info("9130000000000001")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["Fault"]["Error"][0]["code"], "3100");
    let (status, body) =
        get_json(http().get(sb.url(&format!("/v3/company/{realm}/companyinfo/{realm}")))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["fault"]["type"], "AUTHENTICATION");

    // x_refresh_token_hard_expires_in only when the request asks for it.
    let rt = tokens.refresh_token.as_ref().unwrap().secret().clone();
    let refresh = |hard: bool| {
        let mut r = http()
            .post(sb.url("/oauth2/token"))
            .basic_auth(sb.client_id(), sb.client_secret())
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str()),
            ]);
        if hard {
            r = r.header("x-include-refresh-token-hard-expires-in", "true");
        }
        r
    };
    let (status, body) = get_json(refresh(true)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let hard = body["x_refresh_token_hard_expires_in"].as_i64().unwrap();
    assert!(hard > 157_000_000 && hard <= 5 * 365 * 86_400, "{hard}");
    assert_eq!(body["x_refresh_token_expires_in"], 8_726_400);
    let (status, body) = get_json(refresh(false)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("x_refresh_token_hard_expires_in").is_none());
}

#[tokio::test]
async fn quickbooks_pkce_optional() {
    let sb = start(Sandbox::builder().profile(SandboxProfile::QuickBooks)).await;
    let resp = authorize(
        &sb,
        &[
            ("scope", "com.intuit.quickbooks.accounting"),
            ("code_challenge", ""),
            ("code_challenge_method", ""),
            ("nonce", ""),
        ],
    )
    .await;
    let q = query_of(&location(&resp));
    assert_eq!(q.get("realmId"), Some(&sb.realm_id()));
    let (status, body) = get_json(
        http()
            .post(sb.url("/oauth2/token"))
            .basic_auth(sb.client_id(), sb.client_secret())
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", q["code"].as_str()),
                ("redirect_uri", sb.redirect_uri()),
            ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["refresh_token"].is_string(),
        "no offline_access needed"
    );
    assert!(body.get("id_token").is_none());
}

#[tokio::test]
async fn quickbooks_refresh_token_changes_only_after_24_hours() {
    let sb = start(Sandbox::builder().profile(SandboxProfile::QuickBooks)).await;
    // No openid: the refreshed ID token would be dated 25 hours ahead of the client.
    let client = Client::connect(
        settings_for(&sb)
            .scopes(["com.intuit.quickbooks.accounting"])
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let t1 = login(&sb, &client).await;
    let rt1 = t1.refresh_token.as_ref().unwrap().secret().clone();
    let t2 = client.refresh(&t1).await.unwrap();
    assert_eq!(
        t2.refresh_token.as_ref().unwrap().secret(),
        &rt1,
        "same within 24 h"
    );
    assert_ne!(t2.access_token.secret(), t1.access_token.secret());
    sb.set_clock_offset(23 * 3600);
    let t3 = client.refresh(&t2).await.unwrap();
    assert_eq!(t3.refresh_token.as_ref().unwrap().secret(), &rt1);

    sb.set_clock_offset(25 * 3600);
    let t4 = client.refresh(&t3).await.unwrap();
    let rt4 = t4.refresh_token.as_ref().unwrap().secret().clone();
    assert_ne!(rt4, rt1, "replaced once a day old");
    let err = client.refresh(&t3).await.unwrap_err();
    assert!(err.is_invalid_grant(), "{err}");
    // The new one keeps working (no family revocation at QuickBooks).
    let t5 = client.refresh(&t4).await.unwrap();
    assert_eq!(t5.refresh_token.as_ref().unwrap().secret(), &rt4);
    assert_eq!(sb.stats().refresh_reuse_detected(), 0);

    // Unused for longer than x_refresh_token_expires_in: expired.
    sb.set_clock_offset(25 * 3600 + 8_726_400);
    let err = client.refresh(&t5).await.unwrap_err();
    assert!(err.is_invalid_grant(), "{err}");
}

#[tokio::test]
async fn quickbooks_revocation_takes_json_only() {
    let sb = start(Sandbox::builder().profile(SandboxProfile::QuickBooks)).await;
    let client = client_for(&sb).await;
    let tokens = login(&sb, &client).await;
    let rt = tokens.refresh_token.as_ref().unwrap().secret().clone();
    let revoke = sb.url("/oauth2/revoke");

    // A form body (what RFC 7009 clients send) is refused.
    let (status, body) = get_json(
        http()
            .post(revoke.clone())
            .basic_auth(sb.client_id(), sb.client_secret())
            .form(&[("token", rt.as_str())]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    // JSON without client authentication: 401.
    let (status, _) = get_json(http().post(revoke.clone()).json(&json!({ "token": rt }))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Still usable.
    client.refresh(&tokens).await.expect("not revoked yet");

    let resp = http()
        .post(revoke)
        .basic_auth(sb.client_id(), sb.client_secret())
        .header("Accept", "application/json")
        .json(&json!({ "token": rt }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let err = client.refresh(&tokens).await.unwrap_err();
    assert!(err.is_invalid_grant(), "{err}");

    // The client revokes with JSON because the QuickBooks preset says so.
    let other = login(&sb, &client).await;
    client
        .revoke_refresh_token(&other)
        .await
        .expect("JSON revocation");
    assert!(client.refresh(&other).await.unwrap_err().is_invalid_grant());
    assert_eq!(sb.stats().requests(SbEndpoint::Revoke), 4);
}

// ------------------------------------------------------------------ all profiles

#[tokio::test]
async fn every_profile_logs_in_with_its_default_settings() {
    for profile in [
        SandboxProfile::Oidc,
        SandboxProfile::Lexoffice,
        SandboxProfile::Datev,
        SandboxProfile::Xero,
        SandboxProfile::QuickBooks,
    ] {
        let sb = start(Sandbox::builder().profile(profile)).await;
        let client = client_for(&sb).await;
        let tokens = login(&sb, &client).await;
        assert!(tokens.refresh_token.is_some(), "{profile:?}");
        assert_eq!(
            sb.stats().token_grants("authorization_code"),
            1,
            "{profile:?}"
        );
        assert_eq!(sb.second_host().is_some(), profile == SandboxProfile::Datev);
        let (status, _) = get_json(http().get(sb.url("/.well-known/openid_configuration"))).await;
        let want = if profile == SandboxProfile::QuickBooks {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(status, want, "{profile:?}");
        sb.shutdown().await;
    }
}

/// A redirect parameter is kept with the tokens only where the provider's preset names it
/// (`Quirks::callback_params`): QuickBooks' `realmId`, nothing for a generic provider.
#[tokio::test]
async fn only_the_presets_callback_params_are_kept() {
    for (profile, kept) in [
        (SandboxProfile::QuickBooks, true),
        (SandboxProfile::Oidc, false),
    ] {
        let sb = start(Sandbox::builder().profile(profile)).await;
        let client = client_for(&sb).await;
        let (url, pending) = client.authorize().unwrap();
        let redirect = sb.follow_authorization(&url).await.unwrap();
        let redirect = if redirect.contains("realmId=") {
            redirect
        } else {
            format!("{redirect}&realmId=4620816365")
        };
        let redirect = format!("{redirect}&session_state=abc");
        let tokens = client.complete(pending, &redirect).await.unwrap();
        assert_eq!(tokens.extra("realmId").is_some(), kept, "{profile:?}");
        assert!(tokens.extra("session_state").is_none(), "{profile:?}");
    }
}
