//! Stored responses of keyed requests (`Idempotency-Key`): the store's side. The decision is
//! [`crate::rules::idempotency::claim_key`]; the server wraps the keyed routes with it.

use std::sync::Arc;

use crate::clock::Timestamp;
use crate::id::{AppId, InvitationId};
use crate::model::{Actor, Invitation};
use crate::rules::idempotency::{Completion, StoredResponse, complete};
use crate::store::{InviteCommand, Invited, PassThrough, StoreError};

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

/// The key of a request that writes, with how to answer it from what its transaction did: the
/// store renders the response inside that transaction and writes it there under the key (as
/// [`crate::rules::idempotency::complete`] decides), so the work and its stored response are
/// committed together or not at all.
pub struct KeyedWrite<T: ?Sized> {
    /// The app.
    pub app_id: AppId,
    /// The key, claimed by this request.
    pub key: String,
    render: Arc<dyn Fn(&T) -> StoredResponse + Send + Sync>,
}

impl<T: ?Sized> KeyedWrite<T> {
    /// The key `key` of `app_id`, answered with `render`.
    pub fn new(app_id: AppId, key: String, render: impl Fn(&T) -> StoredResponse + Send + Sync + 'static) -> Self {
        Self { app_id, key, render: Arc::new(render) }
    }

    /// What the transaction that did `done` writes under the key.
    pub fn completion(&self, done: &T) -> Completion {
        complete((self.render)(done))
    }
}

impl<T: ?Sized> Clone for KeyedWrite<T> {
    fn clone(&self) -> Self {
        Self { app_id: self.app_id.clone(), key: self.key.clone(), render: Arc::clone(&self.render) }
    }
}

impl<T: ?Sized> std::fmt::Debug for KeyedWrite<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedWrite").field("app_id", &self.app_id).field("key", &self.key).finish_non_exhaustive()
    }
}

/// A keyed request as the services take it: its key, and how its response is rendered from
/// its result (built afresh for each rendering, inside the transaction that did the work).
pub struct Keyed<T> {
    /// The key, claimed by this request.
    pub key: String,
    render: Arc<dyn Fn(T) -> StoredResponse + Send + Sync>,
}

impl<T> Keyed<T> {
    /// The key `key`, answered with `render`.
    pub fn new(key: String, render: impl Fn(T) -> StoredResponse + Send + Sync + 'static) -> Self {
        Self { key, render: Arc::new(render) }
    }

    /// The response to `result`.
    pub fn render(&self, result: T) -> StoredResponse {
        (self.render)(result)
    }
}

/// Keys and their stored responses, per app.
#[async_trait::async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Reads the key in one transaction, decides with
    /// [`crate::rules::idempotency::claim_key`] and writes the claim if that is the plan.
    /// Expired keys are deleted on the way.
    async fn claim_key(&self, claim: KeyClaim) -> Result<Claimed, StoreError>;

    /// Stores the response of the request that claimed `key`, unlocking it, unless the key has
    /// one already (written with the work, by [`IdempotencyStore::invite_keyed`] or
    /// [`IdempotencyStore::revoke_keyed`]).
    async fn complete_key(&self, app_id: &AppId, key: &str, response: StoredResponse) -> Result<(), StoreError>;

    /// [`crate::store::InvitationStore::invite_batch`] (one command for the single invite and
    /// re-sends) whose transaction also writes `key`'s completion, rendered from its outcomes.
    async fn invite_keyed(
        &self,
        cmds: Vec<InviteCommand>,
        key: KeyedWrite<[Invited]>,
    ) -> Result<Vec<Invited>, StoreError>;

    /// [`crate::store::InvitationStore::revoke_invitation`] whose transaction also writes
    /// `key`'s completion, rendered from what it answers.
    async fn revoke_keyed(
        &self,
        app_id: &AppId,
        id: &InvitationId,
        by: &Actor,
        now: Timestamp,
        key: KeyedWrite<Option<Invitation>>,
    ) -> Result<Option<Invitation>, StoreError>;

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

    async fn invite_keyed(
        &self,
        cmds: Vec<InviteCommand>,
        key: KeyedWrite<[Invited]>,
    ) -> Result<Vec<Invited>, StoreError> {
        self.inner().invite_keyed(cmds, key).await
    }

    async fn revoke_keyed(
        &self,
        app_id: &AppId,
        id: &InvitationId,
        by: &Actor,
        now: Timestamp,
        key: KeyedWrite<Option<Invitation>>,
    ) -> Result<Option<Invitation>, StoreError> {
        self.inner().revoke_keyed(app_id, id, by, now, key).await
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
