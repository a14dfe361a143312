//! [`MemoryStore`]: logins kept in this process only.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use tokio::sync::RwLock;

use super::{RefreshGuard, StoreError, StoreKey, TokenStore};
use crate::tokens::TokenSet;

/// Logins kept in memory, lost when the process ends. Clones share the same entries and
/// the same refresh locks, so several managers in one process can hold one login.
#[derive(Clone, Default)]
pub struct MemoryStore {
    entries: Arc<RwLock<HashMap<StoreKey, TokenSet>>>,
    locks: Arc<Mutex<HashMap<StoreKey, Arc<tokio::sync::Mutex<()>>>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The keys of every stored login.
    pub async fn keys(&self) -> Vec<StoreKey> {
        let mut keys: Vec<StoreKey> = self.entries.read().await.keys().cloned().collect();
        keys.sort();
        keys
    }

    fn refresh_mutex(&self, key: &StoreKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = match self.locks.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        locks.entry(key.clone()).or_default().clone()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.entries.try_read().map(|e| e.len()).ok();
        f.debug_struct("MemoryStore")
            .field("entries", &entries)
            .finish_non_exhaustive()
    }
}

impl TokenStore for MemoryStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<TokenSet>, StoreError> {
        Ok(self.entries.read().await.get(key).cloned())
    }

    async fn save(&self, key: &StoreKey, tokens: &TokenSet) -> Result<(), StoreError> {
        self.entries
            .write()
            .await
            .insert(key.clone(), tokens.clone());
        Ok(())
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.entries.write().await.remove(key);
        Ok(())
    }

    async fn lock_refresh(&self, key: &StoreKey) -> Result<RefreshGuard, StoreError> {
        let guard = self.refresh_mutex(key).lock_owned().await;
        Ok(RefreshGuard::new(guard))
    }
}
