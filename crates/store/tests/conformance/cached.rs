//! The lookup cache in front of a backend: what it keeps must never outlive a change made
//! through it, and what it has not found it must not remember.

use std::sync::Arc;

use usher_core::Store;
use usher_core::model::Actor;
use usher_core::secret::ApiKey;
use usher_core::store::{AppStore, KeyRevocation, NewApiKey};
use usher_core::{ApiKeyId, AppId};
use usher_store::{CachedStore, SqliteStore};

use crate::support::{T0, app_with_key, operator};

/// A cached SQLite store, and the store under it for changes the cache does not see.
fn stores(dir: &tempfile::TempDir) -> (CachedStore, Arc<dyn Store>) {
    let inner: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("usher.db")).expect("open"));
    (CachedStore::new(inner.clone()), inner)
}

#[tokio::test]
async fn api_key_stops_working_at_once_when_revoked_through_the_cache() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cached, _) = stores(&dir);
    let (app, first) = app_with_key(&cached).await;
    let by = Actor::ApiKey(ApiKeyId::generate());
    let second = ApiKey::generate();
    let record = cached
        .create_api_key(
            &app.id,
            NewApiKey { id: ApiKeyId::generate(), name: "ci".into(), hash: second.hash() },
            &by,
            T0,
        )
        .await
        .expect("second key");
    assert!(cached.api_key(&second.hash()).await.expect("lookup").is_some(), "found, and now cached");

    let revoked = cached.revoke_api_key(&app.id, &record.id, &by, T0).await.expect("revoke");

    assert_eq!(revoked, KeyRevocation::Revoked);
    assert_eq!(cached.api_key(&second.hash()).await.expect("lookup"), None);
    assert!(cached.api_key(&first.hash()).await.expect("lookup").is_some(), "the other key still works");
}

#[tokio::test]
async fn app_shows_new_settings_at_once_when_updated_through_the_cache() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cached, _) = stores(&dir);
    let (mut app, _) = app_with_key(&cached).await;
    cached.app(&app.id).await.expect("lookup").expect("found, and now cached");

    app.name = "Renamed".into();
    cached.update_app(&app, &operator(), T0).await.expect("update").expect("app exists");

    assert_eq!(cached.app(&app.id).await.expect("lookup").expect("app").name, "Renamed");
}

#[tokio::test]
async fn app_created_elsewhere_is_found_when_it_was_missing_before() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cached, inner) = stores(&dir);
    let unknown = AppId::generate();
    assert_eq!(cached.app(&unknown).await.expect("lookup"), None);

    let (app, key) = app_with_key(inner.as_ref()).await;

    assert!(cached.app(&app.id).await.expect("lookup").is_some(), "a miss is not remembered");
    assert!(cached.api_key(&key.hash()).await.expect("lookup").is_some());
}
