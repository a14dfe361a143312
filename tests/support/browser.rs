//! A minimal "browser" for oidc-provider's development login and consent pages
//! (`features.devInteractions`): follows redirects by hand with a cookie jar, fills the
//! login form with any name and submits the consent form, and stops at the redirect to
//! the client's `redirect_uri`, which nothing listens on.

use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::redirect::Policy;
use url::Url;

/// At most this many HTTP requests per login (authorize, login page, login POST, resume,
/// consent page, consent POST, resume: 7 for a fresh login).
const MAX_STEPS: usize = 20;

/// Logs in as `login` through oidc-provider's dev-interaction pages, starting from the
/// authorization URL, and returns the URL the provider finally redirects to: the
/// client's `redirect_uri` with `code`, `state` and `iss` (or an `error`).
///
/// Panics with the page's text if the provider shows an error page instead.
pub async fn drive_oidc_provider_login(auth_url: &Url, login: &str) -> Url {
    let redirect_uri = auth_url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("the authorization URL {auth_url} has no redirect_uri"));

    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("build the browser's HTTP client");

    // The next request: a GET of a URL, or a POST of a form.
    let mut next = Request::Get(auth_url.clone());
    for _ in 0..MAX_STEPS {
        let (url, response) = match next {
            Request::Get(url) => {
                let response = http.get(url.clone()).send().await;
                (url, response)
            }
            Request::Post(url, fields) => {
                let response = http.post(url.clone()).form(&fields).send().await;
                (url, response)
            }
        };
        let response = response.unwrap_or_else(|e| panic!("browser: request to {url} failed: {e}"));
        let status = response.status();

        if status.is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("browser: {url} answered {status} without a Location"));
            let target = url
                .join(location)
                .unwrap_or_else(|e| panic!("browser: bad Location {location:?} from {url}: {e}"));
            if target.as_str().starts_with(&redirect_uri) {
                return target;
            }
            next = Request::Get(target);
            continue;
        }

        let is_html = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() || !is_html {
            panic!(
                "browser: {url} answered {status} instead of a login page or a redirect:\n{}",
                page_text(&body)
            );
        }

        let form = Form::parse(&body).unwrap_or_else(|| {
            panic!(
                "browser: the page at {url} has no form:\n{}",
                page_text(&body)
            )
        });
        let action = url
            .join(&form.action)
            .unwrap_or_else(|e| panic!("browser: bad form action {:?}: {e}", form.action));
        let mut fields = form.fields;
        match fields
            .iter()
            .find(|(k, _)| k == "prompt")
            .map(|(_, v)| v.as_str())
        {
            Some("login") => {
                set(&mut fields, "login", login);
                set(&mut fields, "password", "any-password");
            }
            Some("consent") => {}
            other => panic!(
                "browser: unexpected interaction prompt {other:?} at {url}:\n{}",
                page_text(&body)
            ),
        }
        next = Request::Post(action, fields);
    }
    panic!("browser: no redirect to {redirect_uri} after {MAX_STEPS} requests");
}

enum Request {
    Get(Url),
    Post(Url, Vec<(String, String)>),
}

fn set(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    match fields.iter_mut().find(|(k, _)| k == name) {
        Some((_, v)) => *v = value.to_owned(),
        None => fields.push((name.to_owned(), value.to_owned())),
    }
}

/// The first `<form>` of a page: its action and its named inputs with their values.
struct Form {
    action: String,
    fields: Vec<(String, String)>,
}

impl Form {
    fn parse(html: &str) -> Option<Form> {
        let start = html.find("<form")?;
        let rest = &html[start..];
        let tag_end = rest.find('>')?;
        let action = attribute(&rest[..tag_end], "action").unwrap_or_default();
        let body = &rest[tag_end..rest.find("</form>").unwrap_or(rest.len())];

        let mut fields = Vec::new();
        let mut cursor = body;
        while let Some(i) = cursor.find("<input") {
            cursor = &cursor[i..];
            let end = cursor.find('>').unwrap_or(cursor.len());
            let tag = &cursor[..end];
            if let Some(name) = attribute(tag, "name") {
                fields.push((name, attribute(tag, "value").unwrap_or_default()));
            }
            cursor = &cursor[end..];
        }
        Some(Form { action, fields })
    }
}

/// The value of a double-quoted attribute in a tag (`<input type="hidden" name="x" ...`).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let mut from = 0;
    while let Some(i) = tag[from..].find(&needle) {
        let at = from + i;
        // Only a whole attribute name: preceded by whitespace.
        if tag[..at].ends_with(char::is_whitespace) {
            let value_start = at + needle.len();
            let value_end = value_start + tag[value_start..].find('"')?;
            return Some(unescape(&tag[value_start..value_end]));
        }
        from = at + needle.len();
    }
    None
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A page reduced to its text, for panic messages.
fn page_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let text = out.split_whitespace().collect::<Vec<_>>().join(" ");
    unescape(&text).chars().take(2000).collect()
}
