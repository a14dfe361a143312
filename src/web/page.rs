//! The small HTML pages the connect handlers answer. They never show a token, a code, a
//! state or a secret: only fixed texts, the provider's name, the organisation id and the
//! provider's error code.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

fn escape(s: &str) -> String {
    html_escape::encode_text(s).into_owned()
}

/// At most 64 characters of a text that came from outside (a provider's error code).
pub(super) fn short(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n{body}\n</body></html>\n",
        title = escape(title)
    )
}

fn respond(status: StatusCode, html: String) -> Response {
    super::no_store((status, Html(html)).into_response())
}

/// An error page: `message` (escaped) under a fixed title.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    respond(
        status,
        document(
            "Connecting failed",
            &format!("<p id=\"error\">{}</p>", escape(message)),
        ),
    )
}

/// The page after a successful connect, when the app set no success path.
pub(super) fn connected(provider: &str, tenant: &str) -> Response {
    respond(
        StatusCode::OK,
        document(
            "Connected",
            &format!(
                "<p id=\"connected\">The {} organisation <code>{}</code> is connected. You can close this page.</p>",
                escape(provider),
                escape(tenant)
            ),
        ),
    )
}
