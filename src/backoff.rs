//! Exponential backoff with jitter, for every retry the library makes.

use std::time::Duration;

/// A random delay in [d/2, d] with d = base · 2^(attempt−1), at most `max`.
pub(crate) fn jittered(base: Duration, max: Duration, attempt: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    let full = base.saturating_mul(factor).min(max);
    (full / 2).saturating_add(full.mul_f64(random_fraction() / 2.0))
}

/// A random number in [0, 1] (0.5 if the system has no randomness to give).
pub(crate) fn random_fraction() -> f64 {
    let mut r = [0u8; 4];
    match getrandom::getrandom(&mut r) {
        Ok(()) => f64::from(u32::from_le_bytes(r)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_stay_within_the_cap() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        for attempt in 1..40 {
            let d = jittered(base, max, attempt);
            let full = base.saturating_mul(1u32 << (attempt - 1).min(31)).min(max);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }
}
