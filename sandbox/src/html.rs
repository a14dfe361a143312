//! The few HTML pages of the sandbox (no external assets).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::config::TestUser;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;\
padding:0 1rem;color:#222}h1{font-size:1.4rem}fieldset{border:1px solid #ccc;\
border-radius:.4rem;margin:1rem 0}label{display:block;margin:.4rem 0}\
button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.6rem}code{background:#f3f3f3;\
padding:0 .2rem}.note{color:#666;font-size:.85rem}";

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    html_escape::encode_safe(s)
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t}</title><style>{STYLE}</style></head>\n<body>\n<h1>{t}</h1>\n{body}\n\
<p class=\"note\">lexoffice-login sandbox issuer: for tests only.</p>\n</body></html>\n",
        t = escape(title)
    )
}

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// An error page shown instead of redirecting (unknown client, bad redirect URI, ...).
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!("<p id=\"error\">{}</p>", escape(message));
    no_store((status, Html(page("Authorization error", &body))).into_response())
}

/// The `500` page of [`Fault::ServerError`](super::Fault::ServerError).
pub(crate) fn server_error_page() -> Response {
    let body = "<p>Something went wrong (injected fault).</p>";
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html(page("500 Internal Server Error", body)),
    )
        .into_response()
}

/// The `504` page after [`Fault::Hang`](super::Fault::Hang).
pub(crate) fn gateway_timeout_page() -> Response {
    (
        StatusCode::GATEWAY_TIMEOUT,
        Html(page(
            "504 Gateway Timeout",
            "<p>The upstream did not answer.</p>",
        )),
    )
        .into_response()
}

/// The consent page of interactive mode.
pub(crate) fn consent_page(
    request_id: &str,
    client_id: &str,
    connection_name: Option<&str>,
    scopes: &[String],
    users: &[TestUser],
) -> Response {
    let mut body = String::new();
    body.push_str(&format!(
        "<p>The application <strong id=\"client\">{}</strong> wants to access your account.</p>\n",
        escape(client_id)
    ));
    if let Some(name) = connection_name {
        body.push_str(&format!(
            "<p>Connection: <strong id=\"connection-name\">{}</strong></p>\n",
            escape(name)
        ));
    }
    body.push_str("<p>Requested scopes:</p>\n<ul id=\"scopes\">\n");
    for s in scopes {
        body.push_str(&format!("<li><code>{}</code></li>\n", escape(s)));
    }
    body.push_str(
        "</ul>\n<form id=\"consent\" method=\"post\" action=\"/oauth2/authorize/decision\">\n",
    );
    body.push_str(&format!(
        "<input type=\"hidden\" name=\"request_id\" id=\"request_id\" value=\"{}\">\n",
        escape(request_id)
    ));
    body.push_str(&user_picker(users));
    body.push_str(
        "<button type=\"submit\" name=\"decision\" value=\"allow\" id=\"allow\">Allow</button>\n",
    );
    body.push_str(
        "<button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button>\n",
    );
    body.push_str("</form>");
    no_store(Html(page("Authorize access", &body)).into_response())
}

/// The "Sign in as" radio buttons of the consent pages (the first user checked).
fn user_picker(users: &[TestUser]) -> String {
    let mut out = String::from("<fieldset><legend>Sign in as</legend>\n");
    for (i, u) in users.iter().enumerate() {
        let sub = escape(&u.sub);
        out.push_str(&format!(
            "<label for=\"user-{sub}\"><input type=\"radio\" name=\"user\" id=\"user-{sub}\" \
value=\"{sub}\"{checked}> {name} &lt;{email}&gt; ({company})</label>\n",
            checked = if i == 0 { " checked" } else { "" },
            name = escape(&u.name),
            email = escape(&u.email),
            company = escape(&u.company_name),
        ));
    }
    out.push_str("</fieldset>\n");
    out
}

/// The device flow's verification page without a code: a form to type it.
pub(crate) fn device_entry_page() -> Response {
    let body = "<p>Enter the code shown on your device.</p>\n\
<form id=\"device-code\" method=\"get\" action=\"/oauth2/device\">\n\
<label for=\"user_code\">Code <input type=\"text\" name=\"user_code\" id=\"user_code\" \
autocomplete=\"off\" autocapitalize=\"characters\" placeholder=\"XXXX-XXXX\"></label>\n\
<button type=\"submit\" id=\"continue\">Continue</button>\n</form>";
    no_store(Html(page("Connect a device", body)).into_response())
}

/// The device flow's consent page (interactive mode): the code, the client, the scopes,
/// a user picker, Approve and Deny.
pub(crate) fn device_consent_page(
    user_code: &str,
    client_id: &str,
    scopes: &[String],
    users: &[TestUser],
) -> Response {
    let mut body = String::new();
    body.push_str(&format!(
        "<p>Code <strong id=\"user-code\"><code>{}</code></strong>: check that your device \
shows the same code.</p>\n",
        escape(user_code)
    ));
    body.push_str(&format!(
        "<p>The application <strong id=\"client\">{}</strong> wants to access your account \
from that device.</p>\n",
        escape(client_id)
    ));
    body.push_str("<p>Requested scopes:</p>\n<ul id=\"scopes\">\n");
    for s in scopes {
        body.push_str(&format!("<li><code>{}</code></li>\n", escape(s)));
    }
    body.push_str(
        "</ul>\n<form id=\"consent\" method=\"post\" action=\"/oauth2/device/decision\">\n",
    );
    body.push_str(&format!(
        "<input type=\"hidden\" name=\"user_code\" id=\"user_code\" value=\"{}\">\n",
        escape(user_code)
    ));
    body.push_str(&user_picker(users));
    body.push_str(
        "<button type=\"submit\" name=\"decision\" value=\"allow\" id=\"allow\">Approve</button>\n",
    );
    body.push_str(
        "<button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button>\n",
    );
    body.push_str("</form>");
    no_store(Html(page("Connect a device", &body)).into_response())
}

/// The page after a device flow decision.
pub(crate) fn device_done_page(approved: bool) -> Response {
    let (title, body) = if approved {
        (
            "Device approved",
            "<p id=\"result\" data-result=\"approved\">The device is approved: it signs \
in by itself now. You can close this page.</p>",
        )
    } else {
        (
            "Device denied",
            "<p id=\"result\" data-result=\"denied\">Access was denied. You can close \
this page.</p>",
        )
    };
    no_store(Html(page(title, body)).into_response())
}
