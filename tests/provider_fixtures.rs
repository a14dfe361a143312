//! Provider documents as the real providers publish them, against the client and the
//! presets. Intuit's discovery document (`openid_sandbox_configuration`, as captured
//! from Intuit) lists only the OpenID Connect scopes in `scopes_supported`, not
//! `com.intuit.quickbooks.accounting`: the QuickBooks preset must still log in.

mod support;

use lexoffice_login::metadata::{self, ProviderMetadata};
use lexoffice_login::providers::{Deployment, ListedScopes, Provider};
use lexoffice_login::Client;
use support::wiremock_provider::Provider as MockProvider;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const INTUIT: &str = include_str!("fixtures/intuit-openid-sandbox-configuration.json");

#[test]
fn intuits_document_lists_only_the_openid_connect_scopes_and_the_preset_knows_it() {
    let doc: ProviderMetadata = serde_json::from_str(INTUIT).expect("Intuit's document parses");
    let preset = Provider::QuickBooks.preset(Deployment::Sandbox);
    assert_eq!(preset.issuer, doc.issuer);
    assert_eq!(preset.quirks.listed_scopes, ListedScopes::OpenIdConnectOnly);
    let listed = doc.scopes_supported.clone().unwrap();
    for s in preset.quirks.listed_scopes.of(&preset.known_scopes) {
        assert!(
            listed.iter().any(|l| l == s) || s == "offline_access",
            "{s} is listed by the preset's rule but not by Intuit"
        );
    }
    assert_eq!(
        metadata::unlisted_scopes(&preset.scopes.join(" ").parse().unwrap(), &doc),
        vec!["com.intuit.quickbooks.accounting".to_owned()]
    );
    assert_eq!(
        doc.id_token_signing_alg_values_supported.as_deref(),
        preset
            .quirks
            .id_token_algs
            .map(|a| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .as_deref()
    );
    assert!(metadata::check_endpoints_are_secure(&doc).is_ok());
    assert!(metadata::check_pkce_s256_supported(&doc).is_ok());
}

#[tokio::test]
async fn the_quickbooks_preset_connects_to_a_document_shaped_like_intuits() {
    let p = MockProvider::start().await;
    // Intuit's document, with its hosts pointed at the mock provider.
    let doc = INTUIT
        .replace("https://oauth.platform.intuit.com/op/v1", &p.issuer())
        .replace(
            "https://appcenter.intuit.com/connect/oauth2",
            &format!("{}/authorize", p.issuer()),
        )
        .replace(
            "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
            &format!("{}/token", p.issuer()),
        )
        .replace(
            "https://oauth.platform.intuit.com/op/v1/jwks",
            &format!("{}/jwks", p.issuer()),
        );
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    Mock::given(method("GET"))
        .and(path("/.well-known/openid_sandbox_configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(doc))
        .mount(&p.server)
        .await;
    let settings = p
        .settings()
        .provider(Provider::QuickBooks)
        .scopes([
            "openid",
            "profile",
            "email",
            "com.intuit.quickbooks.accounting",
        ])
        .discovery_url(format!(
            "{}/.well-known/openid_sandbox_configuration",
            p.issuer()
        ));
    let client = Client::connect(settings.build().unwrap())
        .await
        .expect("an unlisted API scope does not stop the login");
    assert_eq!(
        client.scope_warnings(),
        vec!["com.intuit.quickbooks.accounting".to_owned()]
    );
    let (url, _) = client.authorize().unwrap();
    assert!(url
        .query_pairs()
        .any(|(k, v)| k == "scope" && v.contains("com.intuit.quickbooks.accounting")));
}
