//! Reading and checking the redirect that ends the browser's part of a login.
//!
//! The rules, in the order they are applied:
//! 1. no parameter appears twice (RFC 6749 3.1);
//! 2. `state` is present and equals the pending login's, compared in constant time
//!    (RFC 6749 10.12);
//! 3. `iss` equals the issuer when present, and is required when the provider promises it
//!    (RFC 9207 2.4);
//! 4. an `error` becomes [`Error::AuthorizationDenied`] (RFC 6749 4.1.2.1);
//! 5. `code` is present.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use openidconnect::AuthorizationCode;
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;
use url::Url;

use crate::authorize::PendingLogin;
use crate::error::Error;
use crate::metadata::ProviderMetadata;

/// A checked authorization response: the code and the provider's extra parameters
/// (QuickBooks' `realmId`, for example). It can only be exchanged together with the
/// [`PendingLogin`] that produced it. `Debug` never shows the code.
pub struct AuthorizationResponse {
    pub(crate) code: AuthorizationCode,
    pub(crate) state_digest: [u8; 32],
    pub(crate) extras: BTreeMap<String, String>,
}

impl AuthorizationResponse {
    /// Parameters of the redirect other than `code`, `state` and `iss`.
    pub fn extras(&self) -> &BTreeMap<String, String> {
        &self.extras
    }
}

impl fmt::Debug for AuthorizationResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationResponse")
            .field("code", &"[redacted]")
            .field("extras", &self.extras)
            .finish()
    }
}

pub(crate) fn state_digest(state: &str) -> [u8; 32] {
    sha2::Sha256::digest(state.as_bytes()).into()
}

impl PendingLogin {
    /// Checks a redirect against this login without consuming it, so that a stray or
    /// forged request (wrong state) does not end a login that is still waiting for the
    /// real one. Pass the whole URL the browser was sent to, or its query string.
    pub fn verify_callback(
        &self,
        redirect: &str,
        metadata: &ProviderMetadata,
    ) -> Result<AuthorizationResponse, Error> {
        let params = parse_callback(redirect, &self.redirect_uri)?;
        check_state(&params, self.state.secret())?;
        check_iss(&params, metadata)?;
        // A provider that echoes the state (or a code) in its error text does not get
        // it into our error.
        let echoed: Vec<&str> = ["state", "code"]
            .iter()
            .filter_map(|k| params.get(*k).map(String::as_str))
            .collect();
        check_error(&params).map_err(|e| e.redact(&echoed))?;
        let code = params
            .get("code")
            .filter(|c| !c.is_empty())
            .ok_or(Error::CodeMissing)?;
        let extras = params
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "code" | "state" | "iss"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(AuthorizationResponse {
            code: AuthorizationCode::new(code.clone()),
            state_digest: state_digest(self.state.secret()),
            extras,
        })
    }
}

/// The longest redirect read (a browser's URL limit is of this order; a real one is far
/// shorter).
const MAX_CALLBACK: usize = 8 * 1024;
/// The longest single parameter value.
const MAX_PARAM: usize = 4 * 1024;
/// The most parameters a redirect may carry.
const MAX_PARAMS: usize = 32;

/// Reads the parameters of a redirect URL or query string; no parameter may repeat.
fn parse_callback(input: &str, redirect_uri: &Url) -> Result<BTreeMap<String, String>, Error> {
    let input = input.trim();
    if input.len() > MAX_CALLBACK {
        return Err(Error::MalformedCallback(format!(
            "it is longer than {MAX_CALLBACK} bytes"
        )));
    }
    // A full URL has its scheme before any parameter; a query string may itself carry
    // "://" in a value (an unencoded `iss=http://…`).
    let is_full_url = input
        .find("://")
        .is_some_and(|i| !input[..i].contains(['=', '?', '&']));
    let query = if is_full_url {
        let url =
            Url::parse(input).map_err(|e| Error::MalformedCallback(format!("not a URL ({e})")))?;
        check_redirect_target(&url, redirect_uri)?;
        url.query()
            .ok_or_else(|| Error::MalformedCallback("the URL has no query string".into()))?
            .to_owned()
    } else {
        input.trim_start_matches('?').to_owned()
    };
    if query.is_empty() {
        return Err(Error::MalformedCallback("it is empty".into()));
    }
    let mut seen = BTreeSet::new();
    let mut params = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k.len() > MAX_PARAM || v.len() > MAX_PARAM {
            return Err(Error::MalformedCallback(format!(
                "a parameter is longer than {MAX_PARAM} bytes"
            )));
        }
        if !seen.insert(k.to_string()) {
            return Err(Error::RepeatedParameter(crate::error::sanitize(&k, 64)));
        }
        if seen.len() > MAX_PARAMS {
            return Err(Error::MalformedCallback(format!(
                "it carries more than {MAX_PARAMS} parameters"
            )));
        }
        params.insert(k.into_owned(), v.into_owned());
    }
    Ok(params)
}

/// A full redirect URL must point at this login's redirect URI (scheme, host, port, path).
fn check_redirect_target(url: &Url, redirect_uri: &Url) -> Result<(), Error> {
    let same = url.scheme() == redirect_uri.scheme()
        && url.host_str() == redirect_uri.host_str()
        && url.port_or_known_default() == redirect_uri.port_or_known_default()
        && url.path() == redirect_uri.path();
    if same {
        Ok(())
    } else {
        Err(Error::MalformedCallback(format!(
            "it goes to {}://{}{}, not to this login's redirect URI {}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.path(),
            redirect_uri
        )))
    }
}

/// RFC 6749 10.12: `state` binds the redirect to the login that started it.
fn check_state(params: &BTreeMap<String, String>, expected: &str) -> Result<(), Error> {
    let found = params.get("state").ok_or(Error::StateMissing)?;
    if bool::from(found.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(Error::StateMismatch)
    }
}

/// RFC 9207 2.4: `iss`, when present, is the issuer; when promised, it must be present.
fn check_iss(params: &BTreeMap<String, String>, metadata: &ProviderMetadata) -> Result<(), Error> {
    match params.get("iss") {
        Some(iss) if *iss != metadata.issuer => Err(Error::IssuerParameterMismatch {
            expected: metadata.issuer.clone(),
            found: iss.clone(),
        }),
        None if metadata.authorization_response_iss_parameter_supported => {
            Err(Error::IssuerParameterMissing)
        }
        _ => Ok(()),
    }
}

/// RFC 6749 4.1.2.1: the provider's `error` and `error_description`.
fn check_error(params: &BTreeMap<String, String>) -> Result<(), Error> {
    match params.get("error") {
        Some(code) => Err(Error::AuthorizationDenied {
            code: crate::error::sanitize(code, 64),
            description: params
                .get("error_description")
                .map(|d| crate::error::sanitize(d, 300)),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect() -> Url {
        Url::parse("http://127.0.0.1:8765/callback").unwrap()
    }

    #[test]
    fn query_string_and_full_url_parse_alike() {
        let a = parse_callback("code=x&state=y", &redirect()).unwrap();
        let b = parse_callback("?code=x&state=y", &redirect()).unwrap();
        let c =
            parse_callback("http://127.0.0.1:8765/callback?code=x&state=y", &redirect()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn a_query_string_with_an_unencoded_url_value_is_a_query_string() {
        let p = parse_callback("code=x&state=y&iss=http://127.0.0.1:4455", &redirect()).unwrap();
        assert_eq!(
            p.get("iss").map(String::as_str),
            Some("http://127.0.0.1:4455")
        );
        let p = parse_callback("?iss=http://a.example&code=x&state=y", &redirect()).unwrap();
        assert_eq!(p.get("code").map(String::as_str), Some("x"));
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let err = parse_callback("code=x&state=y&state=z", &redirect()).unwrap_err();
        assert!(matches!(err, Error::RepeatedParameter(ref p) if p == "state"));
    }

    #[test]
    fn a_url_for_another_redirect_uri_is_refused() {
        let err = parse_callback("http://127.0.0.1:9999/callback?code=x&state=y", &redirect())
            .unwrap_err();
        assert!(matches!(err, Error::MalformedCallback(_)));
    }

    #[test]
    fn empty_input_is_refused() {
        assert!(parse_callback("  ", &redirect()).is_err());
        assert!(parse_callback("http://127.0.0.1:8765/callback", &redirect()).is_err());
    }
}
