//! Stored responses of keyed requests (`Idempotency-Key`): the store's side. The decision is
//! [`crate::rules::idempotency::claim_key`]; the server wraps the keyed routes with it.

use crate::clock::Timestamp;
use crate::id::AppId;
use crate::rules::idempotency::StoredResponse;
use crate::store::{PassThrough, StoreError};

/// A request claiming a key of an app.
#[derive(Debug, Clone)]
pub struct KeyClaim {
    /// The app.
    pub app_id: AppId,
    /// The key as the client sent it.
    pub key: String,
    /// What identifies the request (its route and body): a repeat must carry the same.
    pub fingerprint: String,
    /// When.
    pub now: Timestamp,
}

/// What a claim found, as decided by [`crate::rules::idempotency::claim_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The key is this request's; run it, then [`IdempotencyStore::complete_key`].
    Fresh,
    /// The same request was answered already: answer this.
    Replay(StoredResponse),
    /// The key was used with another request.
    Reused,
    /// The first request with the key still runs.
    InUse,
}

/// Keys and their stored responses, per app.
#[async_trait::async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Reads the key in one transaction, decides with
    /// [`crate::rules::idempotency::claim_key`] and writes the claim if that is the plan.
    /// Expired keys are deleted on the way.
    async fn claim_key(&self, claim: KeyClaim) -> Result<Claimed, StoreError>;

    /// Stores the response of the request that claimed `key`, unlocking it.
    async fn complete_key(&self, app_id: &AppId, key: &str, response: StoredResponse) -> Result<(), StoreError>;

    /// Gives up a claim without a response (the request failed inside Usher), so that a retry
    /// runs again.
    async fn release_key(&self, app_id: &AppId, key: &str) -> Result<(), StoreError>;
}

#[async_trait::async_trait]
impl<T: PassThrough> IdempotencyStore for T {
    async fn claim_key(&self, claim: KeyClaim) -> Result<Claimed, StoreError> {
        self.inner().claim_key(claim).await
    }

    async fn complete_key(&self, app_id: &AppId, key: &str, response: StoredResponse) -> Result<(), StoreError> {
        self.inner().complete_key(app_id, key, response).await
    }

    async fn release_key(&self, app_id: &AppId, key: &str) -> Result<(), StoreError> {
        self.inner().release_key(app_id, key).await
    }
}

/// The fingerprint of a keyed request: a SHA-256 of the operation (`route`, e.g. `invite` or
/// `resend {id}`) and its body as parsed, so a repeat must be the same operation with the same
/// body.
pub fn fingerprint(route: &str, body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(route.as_bytes());
    hash.update([0]);
    hash.update(body);
    hex::encode(hash.finalize())
}

/// Whether `key` is acceptable as an `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub fn is_valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}
