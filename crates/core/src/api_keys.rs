//! An app's API keys and its audit log, for the app's admins and API keys.
//!
//! A new key is shown once, in the answer that creates it; only its hash is kept. Revoking
//! takes effect at once (keys are looked up on every request). The last key of an app cannot
//! be revoked, so its servers are never locked out by accident.

use std::sync::Arc;

use crate::access::Principal;
use crate::clock::Clock;
use crate::id::ApiKeyId;
use crate::model::{Actor, ApiKeyRecord, App, AuditEvent};
use crate::secret::ApiKey;
use crate::store::{AuditQuery, KeyRevocation, NewApiKey, Store, StoreError};

/// Longest key name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Why a key or audit operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    /// Only admins and API keys manage keys and read the audit log.
    #[error("only admins of this app and API keys may do this")]
    AdminRequired,
    /// The name is empty, too long or has control characters.
    #[error("name must be 1 to {MAX_NAME_CHARS} characters")]
    InvalidName,
    /// The app has no live key with this id.
    #[error("API key not found")]
    NotFound,
    /// This is the app's last key.
    #[error("this is the app's last API key; create another before revoking it")]
    LastKey,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates, lists and revokes API keys, and reads the audit log.
pub struct ApiKeyService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl ApiKeyService {
    /// A service over `store`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// A new key named `name` (trimmed); the secret is returned this once.
    pub async fn create(&self, app: &App, by: &Principal, name: &str) -> Result<(ApiKeyRecord, ApiKey), ApiKeyError> {
        let by = actor(by)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(ApiKeyError::InvalidName);
        }
        let secret = ApiKey::generate();
        let key = NewApiKey { id: ApiKeyId::generate(), name: name.to_owned(), hash: secret.hash() };
        let record = self.store.create_api_key(&app.id, key, &by, self.clock.now()).await?;
        Ok((record, secret))
    }

    /// The app's live keys, oldest first.
    pub async fn list(&self, app: &App, by: &Principal) -> Result<Vec<ApiKeyRecord>, ApiKeyError> {
        actor(by)?;
        Ok(self.store.api_keys(&app.id).await?)
    }

    /// Revokes a key at once; never the app's last one.
    pub async fn revoke(&self, app: &App, by: &Principal, id: &ApiKeyId) -> Result<(), ApiKeyError> {
        let by = actor(by)?;
        match self.store.revoke_api_key(&app.id, id, &by, self.clock.now()).await? {
            KeyRevocation::Revoked => Ok(()),
            KeyRevocation::NotFound => Err(ApiKeyError::NotFound),
            KeyRevocation::LastKey => Err(ApiKeyError::LastKey),
        }
    }

    /// The entries of the audit log that `query` asks for, newest first.
    pub async fn audit(&self, app: &App, by: &Principal, query: &AuditQuery) -> Result<Vec<AuditEvent>, ApiKeyError> {
        actor(by)?;
        Ok(self.store.audit_events(&app.id, query).await?)
    }
}

/// The admin or API key acting, as the audit log records it.
fn actor(by: &Principal) -> Result<Actor, ApiKeyError> {
    match by {
        Principal::ApiKey(key) => Ok(Actor::ApiKey(key.id.clone())),
        Principal::Member(user) if by.is_admin() => Ok(Actor::User(user.id.clone())),
        Principal::Member(_) => Err(ApiKeyError::AdminRequired),
    }
}
