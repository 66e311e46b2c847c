//! A cache of the two lookups every API request makes, the app in the path and the API key
//! in the `Authorization` header, in front of either backend.
//!
//! Found entries are kept for [`FRESH_FOR`]; misses are never kept, so an app or key created
//! by another process works at once. A change made through this store (an app's settings, a
//! revoked key) drops the entry when it is written, and a lookup that was reading while the
//! change was made does not put what it read back; one made by another instance on the same
//! database is seen within [`FRESH_FOR`]: that is how long a key revoked on one instance may
//! still work on another.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use usher_core::model::{Actor, ApiKeyRecord, App, AuditEvent, MailKind, MailTemplate};
use usher_core::secret::TokenHash;
use usher_core::store::{
    AppStore, AuditQuery, ConsoleLinkUse, KeyRevocation, NewApiKey, NewApp, PassThrough, SchemaVersion,
};
use usher_core::{ApiKeyId, AppId, Locale, Store, StoreError, Timestamp};

/// How long a found app or key is served from memory.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// Entries each map holds at most; a full map is emptied, which costs one lookup per entry.
const CAPACITY: usize = 4096;

/// A [`Store`] that answers [`AppStore::app`] and [`AppStore::api_key`] from memory when it
/// can; it implements only [`AppStore`], the concern it caches, and passes the rest through.
pub struct CachedStore {
    inner: Arc<dyn Store>,
    apps: Recent<AppId, App>,
    keys: Recent<TokenHash, ApiKeyRecord>,
}

impl CachedStore {
    /// Caches lookups in front of `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner, apps: Recent::default(), keys: Recent::default() }
    }
}

/// Members, invitations and the outbox are not cached: they go straight to the backend.
impl PassThrough for CachedStore {
    fn inner(&self) -> &dyn Store {
        self.inner.as_ref()
    }
}

/// Values found recently, with when they were found.
struct Recent<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
    /// Counts [`Recent::forget`] calls, so a lookup can tell whether one ran while it read.
    changes: AtomicU64,
}

impl<K, V> Default for Recent<K, V> {
    fn default() -> Self {
        Self { entries: Mutex::new(HashMap::new()), changes: AtomicU64::new(0) }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Recent<K, V> {
    /// The value found for `key` less than [`FRESH_FOR`] ago.
    fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(key).filter(|(found, _)| found.elapsed() < FRESH_FOR).map(|(_, value)| value.clone())
    }

    /// A mark to pass to [`Recent::put`], taken before reading the value from the database.
    fn mark(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// Keeps `value` unless something was forgotten since `mark`: the value may predate it.
    fn put(&self, key: K, value: V, mark: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if self.changes.load(Ordering::SeqCst) != mark {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }

    /// Drops every entry whose value `matches`.
    fn forget(&self, matches: impl Fn(&V) -> bool) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        self.changes.fetch_add(1, Ordering::SeqCst);
        entries.retain(|_, (_, value)| !matches(value));
    }
}

#[async_trait::async_trait]
impl AppStore for CachedStore {
    async fn create_app(&self, app: NewApp) -> Result<App, StoreError> {
        self.inner.create_app(app).await
    }

    async fn create_first_app(&self, app: NewApp) -> Result<Option<App>, StoreError> {
        self.inner.create_first_app(app).await
    }

    async fn has_apps(&self) -> Result<bool, StoreError> {
        self.inner.has_apps().await
    }

    async fn schema_version(&self) -> Result<SchemaVersion, StoreError> {
        self.inner.schema_version().await
    }

    async fn app(&self, id: &AppId) -> Result<Option<App>, StoreError> {
        if let Some(app) = self.apps.get(id) {
            return Ok(Some(app));
        }
        let mark = self.apps.mark();
        let app = self.inner.app(id).await?;
        if let Some(app) = &app {
            self.apps.put(id.clone(), app.clone(), mark);
        }
        Ok(app)
    }

    async fn apps(&self) -> Result<Vec<App>, StoreError> {
        self.inner.apps().await
    }

    async fn update_app(&self, app: &App, by: &Actor, now: Timestamp) -> Result<Option<App>, StoreError> {
        let updated = self.inner.update_app(app, by, now).await;
        self.apps.forget(|cached| cached.id == app.id);
        updated
    }

    async fn create_api_key(
        &self,
        app_id: &AppId,
        key: NewApiKey,
        by: &Actor,
        now: Timestamp,
    ) -> Result<ApiKeyRecord, StoreError> {
        self.inner.create_api_key(app_id, key, by, now).await
    }

    async fn api_keys(&self, app_id: &AppId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.inner.api_keys(app_id).await
    }

    async fn revoke_api_key(
        &self,
        app_id: &AppId,
        id: &ApiKeyId,
        by: &Actor,
        now: Timestamp,
    ) -> Result<KeyRevocation, StoreError> {
        let revoked = self.inner.revoke_api_key(app_id, id, by, now).await;
        self.keys.forget(|cached| &cached.id == id);
        revoked
    }

    async fn create_console_link(
        &self,
        app_id: &AppId,
        hash: &TokenHash,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.create_console_link(app_id, hash, now, expires_at).await
    }

    async fn use_console_link(
        &self,
        hash: &TokenHash,
        key: NewApiKey,
        now: Timestamp,
    ) -> Result<ConsoleLinkUse, StoreError> {
        self.inner.use_console_link(hash, key, now).await
    }

    async fn audit_events(&self, app_id: &AppId, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.audit_events(app_id, query).await
    }

    async fn api_key(&self, hash: &TokenHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        if let Some(record) = self.keys.get(hash) {
            return Ok(Some(record));
        }
        let mark = self.keys.mark();
        let record = self.inner.api_key(hash).await?;
        if let Some(record) = &record {
            self.keys.put(hash.clone(), record.clone(), mark);
        }
        Ok(record)
    }

    async fn server_secret(&self, name: &str, candidate: String) -> Result<String, StoreError> {
        self.inner.server_secret(name, candidate).await
    }

    async fn mail_templates(&self, app_id: &AppId) -> Result<Vec<MailTemplate>, StoreError> {
        self.inner.mail_templates(app_id).await
    }

    async fn put_mail_template(&self, app_id: &AppId, template: &MailTemplate, by: &Actor) -> Result<(), StoreError> {
        self.inner.put_mail_template(app_id, template, by).await
    }

    async fn delete_mail_template(
        &self,
        app_id: &AppId,
        kind: MailKind,
        locale: Locale,
        by: &Actor,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.inner.delete_mail_template(app_id, kind, locale, by, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_keeps_the_value_when_nothing_was_forgotten_since_the_mark() {
        let recent: Recent<&str, u32> = Recent::default();

        let mark = recent.mark();
        recent.put("a", 1, mark);

        assert_eq!(recent.get(&"a"), Some(1));
    }

    #[test]
    fn put_drops_the_value_when_something_was_forgotten_while_it_was_read() {
        let recent: Recent<&str, u32> = Recent::default();

        let mark = recent.mark();
        recent.forget(|&value| value == 1);
        recent.put("a", 1, mark);

        assert_eq!(recent.get(&"a"), None);
    }

    #[test]
    fn forget_drops_only_the_matching_values() {
        let recent: Recent<&str, u32> = Recent::default();
        recent.put("a", 1, recent.mark());
        recent.put("b", 2, recent.mark());

        recent.forget(|&value| value == 1);

        assert_eq!((recent.get(&"a"), recent.get(&"b")), (None, Some(2)));
    }
}
