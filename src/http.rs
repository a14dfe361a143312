//! The HTTP client and the reading of provider answers.
//!
//! One rule per function: no redirects are followed, answers are size-capped, a non-2xx
//! answer is read as an OAuth error where it is one, and anything that is not JSON is
//! reported with its status and content type, never with its body (an HTML error page
//! may echo what was sent).

use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::config::Settings;
use crate::error::{Endpoint, Error};

/// The largest answer read from a provider.
const MAX_BODY: usize = 1024 * 1024;

/// Builds the HTTP client: timeouts from the settings, redirects never followed.
pub(crate) fn build_client(settings: &Settings) -> Result<reqwest::Client, Error> {
    client(settings.connect_timeout(), settings.request_timeout()).map_err(Error::HttpSetup)
}

/// The one HTTP client set-up of the library (provider and API alike): these timeouts,
/// redirects never followed, this crate's user agent.
pub(crate) fn client(
    connect_timeout: std::time::Duration,
    request_timeout: std::time::Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .user_agent(concat!("lexoffice-login/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Sends a request, turning transport failures into errors that name the endpoint.
pub(crate) async fn send(
    endpoint: Endpoint,
    url: &url::Url,
    request: RequestBuilder,
) -> Result<Response, Error> {
    tracing::debug!(%endpoint, url = %url, "request");
    match request.send().await {
        Ok(resp) => {
            tracing::debug!(%endpoint, status = resp.status().as_u16(), "response");
            Ok(resp)
        }
        Err(e) => Err(Error::transport(endpoint, url, &e)),
    }
}

/// The parts of an answer that the reading rules look at.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) location: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// Reads an answer's status, headers and (capped) body.
pub(crate) async fn read_answer(
    endpoint: Endpoint,
    url: &url::Url,
    mut resp: Response,
) -> Result<Answer, Error> {
    let status = resp.status().as_u16();
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header(CONTENT_TYPE).unwrap_or_else(|| "no content type".to_owned());
    let location = header(LOCATION);
    let body = read_capped(&mut resp, MAX_BODY)
        .await
        .map_err(|e| match e {
            CappedBody::TooLarge => Error::MalformedResponse {
                endpoint,
                url: url.to_string(),
                detail: format!("the answer is larger than {MAX_BODY} bytes"),
            },
            CappedBody::Transport(e) => Error::transport(endpoint, url, &e),
        })?;
    Ok(Answer {
        status,
        content_type,
        location,
        body,
    })
}

/// Why a body could not be read whole.
pub(crate) enum CappedBody {
    /// It is larger than the cap.
    TooLarge,
    /// The connection failed while reading.
    Transport(reqwest::Error),
}

/// Reads an answer's body, refusing it once it grows past `max` bytes (before the rest
/// arrives: a hostile server cannot make the client buffer more).
pub(crate) async fn read_capped(resp: &mut Response, max: usize) -> Result<Vec<u8>, CappedBody> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(CappedBody::Transport)? {
        if body.len().saturating_add(chunk.len()) > max {
            return Err(CappedBody::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The error body of RFC 6749 5.2.
#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    error_description: Option<String>,
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// A redirect is never followed for back-channel requests.
pub(crate) fn reject_redirect(endpoint: Endpoint, url: &url::Url, a: &Answer) -> Result<(), Error> {
    if (300..400).contains(&a.status) {
        return Err(Error::UnexpectedRedirect {
            endpoint,
            url: url.to_string(),
            status: a.status,
            location: a.location.clone(),
        });
    }
    Ok(())
}

/// A non-2xx answer is an OAuth error where its body is one, else an unexpected answer.
pub(crate) fn reject_error_status(
    endpoint: Endpoint,
    url: &url::Url,
    a: &Answer,
) -> Result<(), Error> {
    if (200..300).contains(&a.status) {
        return Ok(());
    }
    if let Ok(err) = serde_json::from_slice::<OAuthErrorBody>(&a.body) {
        return Err(oauth_error(
            endpoint,
            a.status,
            &err.error,
            err.error_description.as_deref(),
        ));
    }
    Err(Error::UnexpectedResponse {
        endpoint,
        url: url.to_string(),
        status: a.status,
        content_type: a.content_type.clone(),
    })
}

/// An OAuth error (RFC 6749 5.2) with the provider's texts made safe to show.
fn oauth_error(endpoint: Endpoint, status: u16, code: &str, description: Option<&str>) -> Error {
    Error::OAuth {
        endpoint,
        status,
        code: crate::error::sanitize(code, 64),
        description: description.map(|d| crate::error::sanitize(d, 300)),
    }
}

/// Parses a successful JSON answer into `T`.
pub(crate) fn parse_json<T: DeserializeOwned>(
    endpoint: Endpoint,
    url: &url::Url,
    a: &Answer,
) -> Result<T, Error> {
    if !is_json(&a.content_type) {
        return Err(Error::UnexpectedResponse {
            endpoint,
            url: url.to_string(),
            status: a.status,
            content_type: a.content_type.clone(),
        });
    }
    serde_json::from_slice(&a.body).map_err(|e| Error::MalformedResponse {
        endpoint,
        url: url.to_string(),
        // serde_json's messages name the field and position, never the values.
        detail: e.to_string(),
    })
}

/// Sends a request and reads a JSON answer, applying every rule above.
pub(crate) async fn fetch_json<T: DeserializeOwned>(
    endpoint: Endpoint,
    url: &url::Url,
    request: RequestBuilder,
) -> Result<T, Error> {
    let resp = send(endpoint, url, request).await?;
    let answer = read_answer(endpoint, url, resp).await?;
    reject_redirect(endpoint, url, &answer)?;
    reject_error_status(endpoint, url, &answer)?;
    if endpoint == Endpoint::Token {
        reject_error_body(endpoint, &answer)?;
    }
    parse_json(endpoint, url, &answer)
}

/// Some token endpoints (GitHub's, for one) answer an OAuth error with status 200: a body
/// with `error` and no `access_token` is an error whatever the status.
fn reject_error_body(endpoint: Endpoint, a: &Answer) -> Result<(), Error> {
    #[derive(Deserialize)]
    struct Probe {
        error: Option<String>,
        error_description: Option<String>,
        access_token: Option<serde::de::IgnoredAny>,
    }
    match serde_json::from_slice::<Probe>(&a.body) {
        Ok(Probe {
            error: Some(code),
            error_description,
            access_token: None,
        }) => Err(oauth_error(
            endpoint,
            a.status,
            &code,
            error_description.as_deref(),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_with_status_200_is_an_oauth_error() {
        let a = Answer {
            status: 200,
            content_type: "application/json".into(),
            location: None,
            body: br#"{"error":"bad_verification_code","error_description":"expired"}"#.to_vec(),
        };
        let err = reject_error_body(Endpoint::Token, &a).unwrap_err();
        assert!(matches!(err, Error::OAuth { ref code, .. } if code == "bad_verification_code"));
        let ok = Answer {
            body: br#"{"access_token":"x","error":null}"#.to_vec(),
            ..a
        };
        assert!(reject_error_body(Endpoint::Token, &ok).is_ok());
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("Application/JSON"));
        assert!(is_json("application/jwk-set+json"));
        assert!(!is_json("text/html"));
        assert!(!is_json("no content type"));
    }
}
