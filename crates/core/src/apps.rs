//! The apps of this server as the routes see them: found by id, all of them (the sign-in page
//! finds an app by the origin of its return address), and their settings changed.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::access::Principal;
use crate::app_settings::{self, InvalidSetting};
use crate::clock::Clock;
use crate::id::AppId;
use crate::model::App;
use crate::store::{Store, StoreError};

/// Why a settings change was refused.
#[derive(Debug, thiserror::Error)]
pub enum UpdateSettingsError {
    /// A field is not acceptable; nothing was stored.
    #[error(transparent)]
    Invalid(InvalidSetting),
    /// The app was removed meanwhile.
    #[error("the app no longer exists")]
    AppGone,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads apps and changes their settings.
pub struct AppService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl AppService {
    /// A service over `store`, dating what it audits by `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// The app with this id, if any. A store failure is an error, never "no such app".
    pub async fn get(&self, id: &AppId) -> Result<Option<App>, StoreError> {
        self.store.app(id).await
    }

    /// Every app, oldest first.
    pub async fn all(&self) -> Result<Vec<App>, StoreError> {
        self.store.apps().await
    }

    /// Applies `changes` (field names as the settings route shows them): all of them, or none
    /// when any is invalid. What changed is audited as done by `by`. Returns the app as stored.
    pub async fn update_settings(
        &self,
        app: &App,
        by: &Principal,
        changes: Map<String, Value>,
    ) -> Result<App, UpdateSettingsError> {
        let changed = app_settings::apply(app, changes).map_err(UpdateSettingsError::Invalid)?;
        self.store.update_app(&changed, &by.actor(), self.clock.now()).await?.ok_or(UpdateSettingsError::AppGone)
    }
}
