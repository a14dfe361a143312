//! Response headers shared by the command's web servers (the login's redirect page and
//! `bff`).

use axum::http::{header, HeaderValue};
use axum::response::Response;

/// Marks an answer as neither to be cached nor to be sent on as a referrer: it may
/// carry a login's state.
pub fn no_store(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}
