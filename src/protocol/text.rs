//! Text from outside, made safe to show.

/// Text from outside (a provider's `error_description`, a token type) made safe for a
/// terminal or a log line: control characters (CR, LF, ESC …) become spaces, and it is
/// cut to `max` characters.
pub(crate) fn sanitize(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}
