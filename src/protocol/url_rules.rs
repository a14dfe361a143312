//! The rules every URL the client talks to must follow.

use url::Url;

/// Whether a URL's host is a loopback address (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// https everywhere; plain http only on loopback.
pub fn is_secure_url(url: &Url) -> bool {
    url.scheme() == "https" || (url.scheme() == "http" && is_loopback(url))
}

/// The URL without user name and password, for messages.
pub fn redact_url(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut clean = url.clone();
    // Only fails for URLs that cannot have credentials, which have none to remove.
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for (u, want) in [
            ("http://127.0.0.1:8080/x", true),
            ("http://127.3.4.5/", true),
            ("http://localhost/", true),
            ("http://[::1]:9/", true),
            ("http://10.0.0.1/", false),
            ("http://example.com/", false),
        ] {
            assert_eq!(is_loopback(&Url::parse(u).unwrap()), want, "{u}");
        }
    }

    #[test]
    fn credentials_are_removed_from_messages() {
        let u = Url::parse("https://user:pw@id.example.com/x").unwrap();
        assert_eq!(redact_url(&u), "https://id.example.com/x");
    }
}
