//! [`Behaviour`]: what the imitated provider does, derived once at start from its
//! provider preset ([`lexoffice_login::providers`]), the one source of provider facts.
//! Route handlers read these fields; none of them asks which provider it imitates.

use std::time::Duration;

use lexoffice_login::providers::{
    AudienceForm, Deployment, DiscoverySource, Pkce, Provider, ProviderPreset, RevocationBody,
    Rotation,
};
use lexoffice_login::ClientAuthMethod;

use super::config::SandboxProfile;
use super::OIDC_SCOPES;

/// The request header (from a preset's `token_request_headers`) that asks for
/// `x_refresh_token_hard_expires_in` in token answers.
const HARD_EXPIRY_HEADER: &str = "x-include-refresh-token-hard-expires-in";

/// OpenID Connect scopes: not an API's scope (see [`Behaviour::api_scope`]).
const OIDC_STANDARD_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "phone",
    "address",
];

/// Where the discovery document is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Discovery {
    /// `/.well-known/openid-configuration`.
    Standard,
    /// Another path on the issuer host (the URL path of the preset's
    /// [`DiscoverySource::At`]); the standard path answers 404.
    At(String),
    /// Nowhere: the standard path answers 404.
    None,
}

/// The `claims_supported` of a generic provider.
const CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "name",
    "email",
];

/// The `claims_supported` of Intuit (`aud` array, `azp`, `realmid`).
const INTUIT_CLAIMS: &[&str] = &[
    "aud", "azp", "exp", "iat", "iss", "realmid", "sub", "nonce", "at_hash", "name", "email",
];

/// How the sandbox behaves in a [`SandboxProfile`]: built once at start, from the
/// provider's preset (production environment); generic defaults for
/// [`SandboxProfile::Oidc`].
#[derive(Debug, Clone)]
pub(crate) struct Behaviour {
    /// Default access token lifetime (`expires_in`).
    pub access_token_lifetime: Duration,
    /// A presented refresh token is replaced only once it is this old (periodic
    /// rotation); `None`: on every use.
    pub rotation_period: Option<Duration>,
    /// Default grace period of a replaced refresh token.
    pub refresh_grace: Duration,
    /// Default: presenting a replaced refresh token after its grace revokes the family.
    pub reuse_detection: bool,
    /// An unused refresh token stops working after this long.
    pub refresh_idle_lifetime: Option<Duration>,
    /// Token answers carry `x_refresh_token_expires_in` (the idle lifetime).
    pub answers_refresh_expires_in: bool,
    /// The token request header (and value) that asks for
    /// `x_refresh_token_hard_expires_in`.
    pub hard_expiry_header: Option<(&'static str, &'static str)>,
    /// Default: authorize requests without an S256 `code_challenge` are refused.
    pub pkce_required: bool,
    /// Authorize requests without `nonce` are refused.
    pub nonce_required: bool,
    /// Where discovery is served.
    pub discovery: Discovery,
    /// The discovery document lists scopes, PKCE methods, client authentication
    /// methods and the introspection endpoint (DATEV's lists none of them).
    pub discovery_lists_capabilities: bool,
    /// `id_token_signing_alg_values_supported`.
    pub signing_algs: &'static [&'static str],
    /// `claims_supported`.
    pub claims_supported: &'static [&'static str],
    /// Revocation takes `application/json` `{"token": …}` instead of a form.
    pub json_revocation: bool,
    /// Redirect parameters added next to `code` and `state` (`realmId`).
    pub callback_params: Vec<&'static str>,
    /// ID tokens carry `aud` as an array (plus `azp`).
    pub aud_array: bool,
    /// Token, revocation, userinfo, introspection, JWKS and API on a second host.
    pub second_host: bool,
    /// The scopes an authorize request may ask for.
    pub known_scopes: Vec<&'static str>,
    /// The scopes the discovery document lists (`scopes_supported`).
    pub listed_scopes: Vec<&'static str>,
    /// The scope of an authorize request without `scope`.
    pub default_scope: &'static str,
    /// The API's scope that the `realmid` ID token claim goes with, if any.
    pub api_scope: Option<&'static str>,
    /// A refresh token with every grant (where the provider has no `offline_access`);
    /// otherwise only with `offline_access`.
    pub refresh_with_every_grant: bool,
    /// A login connects tenants (Xero's `/connections`); revocation removes them.
    pub tenants: bool,
    /// Clients must use `client_secret_basic`.
    pub basic_only: bool,
    /// The default client is public (`none`).
    pub public_default_client: bool,
    /// The device authorization grant (RFC 8628) is offered: the device authorization
    /// and verification routes, the `device_code` grant and their discovery entries.
    pub device_flow: bool,
}

impl Behaviour {
    /// The behaviour of `profile`.
    pub fn of(profile: SandboxProfile) -> Self {
        match profile.provider() {
            Some(provider) => Self::from_preset(&provider.preset(Deployment::Production)),
            None => Self::generic(),
        }
    }

    /// A standard OpenID provider that also serves the lexoffice API.
    fn generic() -> Self {
        let lexoffice = Provider::Lexoffice.preset(Deployment::Production);
        Behaviour {
            access_token_lifetime: Duration::from_secs(3600),
            rotation_period: None,
            refresh_grace: Duration::ZERO,
            reuse_detection: true,
            refresh_idle_lifetime: None,
            answers_refresh_expires_in: false,
            hard_expiry_header: None,
            pkce_required: true,
            nonce_required: false,
            discovery: Discovery::Standard,
            discovery_lists_capabilities: true,
            signing_algs: &["RS256", "ES256"],
            claims_supported: CLAIMS,
            json_revocation: false,
            callback_params: Vec::new(),
            aud_array: false,
            second_host: false,
            known_scopes: with_oidc_scopes(&lexoffice.known_scopes),
            listed_scopes: with_oidc_scopes(&lexoffice.known_scopes),
            default_scope: "openid",
            api_scope: None,
            refresh_with_every_grant: false,
            tenants: false,
            basic_only: false,
            public_default_client: false,
            // A generic provider offers the device authorization grant.
            device_flow: true,
        }
    }

    /// The behaviour a preset describes (plus the sandbox's own choices where the preset
    /// says nothing; each is marked).
    fn from_preset(p: &ProviderPreset) -> Self {
        let q = &p.quirks;
        let generic = Self::generic();
        let (rotation_period, reuse_detection) = match q.rotation {
            // Sandbox choice where the preset does not know: rotate on every use, and
            // treat a replaced token presented again as theft.
            Rotation::Unknown | Rotation::EveryUse { .. } => (None, true),
            // The replaced token only fails itself.
            Rotation::Periodic { period, .. } => (Some(period), false),
        };
        let hard_expiry_header = q
            .token_request_headers
            .iter()
            .copied()
            .find(|(name, _)| name.eq_ignore_ascii_case(HARD_EXPIRY_HEADER));
        let refresh_idle_lifetime = q.refresh_token_idle_lifetime;
        let discovery = match p.discovery {
            DiscoverySource::Standard => Discovery::Standard,
            DiscoverySource::At(url) => Discovery::At(
                url::Url::parse(url)
                    .map(|u| u.path().to_owned())
                    .unwrap_or_else(|_| url.to_owned()),
            ),
            DiscoverySource::None => Discovery::None,
        };
        let api_scope = p.api.as_ref().and_then(|_| {
            p.scopes
                .iter()
                .copied()
                .find(|s| !OIDC_STANDARD_SCOPES.contains(s))
        });
        let aud_array = q.id_token_audience == AudienceForm::Array;
        let known_scopes = if p.discovery == DiscoverySource::None {
            // Sandbox choice: a provider without OpenID Connect (lexoffice) also accepts
            // its scopes here, so an ID token can be asked for in tests.
            with_oidc_scopes(&p.known_scopes)
        } else {
            p.known_scopes.clone()
        };
        Behaviour {
            access_token_lifetime: q
                .access_token_lifetime
                .unwrap_or(generic.access_token_lifetime),
            rotation_period,
            refresh_grace: q.rotation.grace(),
            reuse_detection,
            refresh_idle_lifetime,
            // Intuit's family of `x_refresh_token_*` answers.
            answers_refresh_expires_in: hard_expiry_header.is_some(),
            hard_expiry_header,
            pkce_required: q.pkce == Pkce::Required,
            nonce_required: q.nonce_required,
            discovery,
            discovery_lists_capabilities: !q.discovery_omits_capabilities,
            signing_algs: q.id_token_algs.unwrap_or(generic.signing_algs),
            claims_supported: if aud_array { INTUIT_CLAIMS } else { CLAIMS },
            json_revocation: q.revocation_body == RevocationBody::Json,
            callback_params: q.callback_params.clone(),
            aud_array,
            second_host: p.endpoints_on_another_host(),
            known_scopes: known_scopes.clone(),
            listed_scopes: q.listed_scopes.of(&known_scopes),
            default_scope: api_scope.unwrap_or("openid"),
            api_scope,
            refresh_with_every_grant: !p.known_scopes.contains(&"offline_access"),
            tenants: q.tenants.is_some(),
            basic_only: p.client_auth == ClientAuthMethod::ClientSecretBasic,
            public_default_client: p.client_auth == ClientAuthMethod::None,
            device_flow: p.endpoints.device_authorization.is_some(),
        }
    }

    /// Whether `name` is a redirect parameter the provider adds.
    pub fn adds_callback_param(&self, name: &str) -> bool {
        self.callback_params.contains(&name)
    }
}

/// The OpenID Connect scopes followed by `scopes`.
fn with_oidc_scopes(scopes: &[&'static str]) -> Vec<&'static str> {
    OIDC_SCOPES.iter().chain(scopes.iter()).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_round_trips_through_its_provider() {
        for p in Provider::ALL {
            assert_eq!(SandboxProfile::from_provider(p).provider(), Some(p));
        }
        assert_eq!(SandboxProfile::Oidc.provider(), None);
    }

    #[test]
    fn only_datev_has_a_second_host() {
        for p in Provider::ALL {
            let b = Behaviour::of(SandboxProfile::from_provider(p));
            assert_eq!(b.second_host, p == Provider::Datev, "{p}");
        }
        assert!(!Behaviour::of(SandboxProfile::Oidc).second_host);
    }

    #[test]
    fn only_the_generic_provider_offers_the_device_flow() {
        for p in Provider::ALL {
            let b = Behaviour::of(SandboxProfile::from_provider(p));
            assert!(!b.device_flow, "{p}");
        }
        assert!(Behaviour::of(SandboxProfile::Oidc).device_flow);
    }

    #[test]
    fn default_scopes_are_known() {
        for profile in [
            SandboxProfile::Oidc,
            SandboxProfile::Lexoffice,
            SandboxProfile::Datev,
            SandboxProfile::Xero,
            SandboxProfile::QuickBooks,
        ] {
            let b = Behaviour::of(profile);
            assert!(b.known_scopes.contains(&b.default_scope), "{profile:?}");
        }
    }
}
