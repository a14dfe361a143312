//! Replay protection: a delivery's key is accepted once within a window.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::WebhookError;

/// What [`ReplayGuard::first_seen`] returns.
pub type ReplayFuture<'a> = Pin<Box<dyn Future<Output = Result<bool, WebhookError>> + Send + 'a>>;

/// Remembers which deliveries were accepted. [`MemoryReplayGuard`] keeps them in this
/// process; a store shared by several replicas (PostgreSQL: `INSERT ... ON CONFLICT DO
/// NOTHING` on a key with an expiry) implements the same trait.
pub trait ReplayGuard: Send + Sync {
    /// Records `key` for `ttl` and answers `true` if it was not recorded (or had
    /// expired), `false` if it is a replay. Must be atomic: of two concurrent calls with
    /// one key, one answers `true`.
    fn first_seen<'a>(&'a self, key: &'a str, ttl: Duration) -> ReplayFuture<'a>;
}

/// An in-memory [`ReplayGuard`] with expiry, bounded in size (when full, expired keys
/// are swept; if none has expired, a new key is refused with
/// [`WebhookError::ReplayStore`] rather than forgetting one that is still live).
#[derive(Debug)]
pub struct MemoryReplayGuard {
    seen: Mutex<HashMap<String, Instant>>,
    capacity: usize,
}

impl MemoryReplayGuard {
    /// A guard for at most 100,000 live keys.
    pub fn new() -> Self {
        Self::with_capacity(100_000)
    }

    /// A guard for at most `capacity` live keys.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            seen: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The number of keys held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.seen.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn record(&self, key: &str, ttl: Duration) -> Result<bool, WebhookError> {
        let now = Instant::now();
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| WebhookError::ReplayStore("poisoned lock".into()))?;
        if let Some(expiry) = seen.get(key) {
            if *expiry > now {
                return Ok(false);
            }
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, expiry| *expiry > now);
            if seen.len() >= self.capacity {
                return Err(WebhookError::ReplayStore("replay guard is full".into()));
            }
        }
        seen.insert(key.to_owned(), now + ttl);
        Ok(true)
    }
}

impl Default for MemoryReplayGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayGuard for MemoryReplayGuard {
    fn first_seen<'a>(&'a self, key: &'a str, ttl: Duration) -> ReplayFuture<'a> {
        let result = self.record(key, ttl);
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_are_accepted_once_until_they_expire() {
        let g = MemoryReplayGuard::with_capacity(2);
        assert!(g.first_seen("a", Duration::from_secs(60)).await.unwrap());
        assert!(!g.first_seen("a", Duration::from_secs(60)).await.unwrap());
        assert!(g.first_seen("b", Duration::ZERO).await.unwrap());
        // "b" expired at once: it is accepted again, and sweeping makes room for "c".
        assert!(g.first_seen("b", Duration::ZERO).await.unwrap());
        assert!(g.first_seen("c", Duration::from_secs(60)).await.unwrap());
        assert!(matches!(
            g.first_seen("d", Duration::from_secs(60)).await,
            Err(WebhookError::ReplayStore(_))
        ));
    }
}
