//! The apps of this server as the routes see them: found by id, all of them (the sign-in page
//! finds an app by the origin of its return address), and their settings changed.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::app_settings::{self, InvalidSetting};
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
}

impl AppService {
    /// A service over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
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
    /// when any is invalid. Returns the app as stored.
    pub async fn update_settings(&self, app: &App, changes: Map<String, Value>) -> Result<App, UpdateSettingsError> {
        let changed = app_settings::apply(app, changes).map_err(UpdateSettingsError::Invalid)?;
        self.store.update_app(&changed).await?.ok_or(UpdateSettingsError::AppGone)
    }
}
