//! Stored responses of keyed requests (`Idempotency-Key`): the store's side. The decision is
//! [`crate::rules::idempotency::claim_key`]; the server wraps the keyed routes with it.

use std::sync::Arc;

use crate::clock::Timestamp;
use crate::id::{AppId, InvitationId};
use crate::model::{Actor, Invitation};
use crate::rules::idempotency::{Completion, RowPlan, StoredKey, StoredResponse, complete, keep_row, plan_rows};
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

/// A bulk row's own key (`idempotency_key` in the row) and the fingerprint of the row it came
/// with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowKey {
    /// The key as the client sent it.
    pub key: String,
    /// What identifies the row: [`row_fingerprint`] of its body.
    pub fingerprint: String,
}

/// The keys of a bulk invite's rows, with how to answer one row from what the batch's
/// transaction did for it: the store decides every row with
/// [`crate::rules::idempotency::plan_rows`], invites the rows that run, and writes each such
/// row's result under its key in that same transaction.
pub struct KeyedRows {
    /// The app.
    pub app_id: AppId,
    /// When.
    pub now: Timestamp,
    /// One per command, in order: the row's key, if it has one.
    pub keys: Vec<Option<RowKey>>,
    render: RenderRow,
}

/// How [`KeyedRows`] answers the command at an index from what the store did for it.
type RenderRow = Arc<dyn Fn(usize, &Invited) -> StoredResponse + Send + Sync>;

impl KeyedRows {
    /// The rows' `keys` in `app_id` at `now`; `render` answers the command at an index from
    /// what the store did for it.
    pub fn new(
        app_id: AppId,
        now: Timestamp,
        keys: Vec<Option<RowKey>>,
        render: impl Fn(usize, &Invited) -> StoredResponse + Send + Sync + 'static,
    ) -> Self {
        Self { app_id, now, keys, render: Arc::new(render) }
    }

    /// What the transaction writes under the key of the command at `index` (if it has one)
    /// that did `done`: the finished key, or `None` to drop it.
    pub fn kept(&self, index: usize, done: &Invited) -> Option<(&str, StoredKey)> {
        let key = self.keys.get(index)?.as_ref()?;
        keep_row(&key.fingerprint, (self.render)(index, done), self.now).map(|kept| (key.key.as_str(), kept))
    }

    /// The key of the command at `index`, if it has one.
    pub fn key(&self, index: usize) -> Option<&str> {
        self.keys.get(index)?.as_ref().map(|key| key.key.as_str())
    }

    /// Every row's plan, given what the store holds under a key (`found`).
    pub fn plan(&self, found: impl Fn(&str) -> Option<StoredKey>) -> Vec<RowPlan> {
        let rows: Vec<_> =
            self.keys.iter().map(|key| key.as_ref().map(|k| (k.key.as_str(), k.fingerprint.as_str()))).collect();
        plan_rows(&rows, found, self.now)
    }

    /// The distinct keys, sorted (the order a backend that locks keys takes them in).
    pub fn distinct_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.keys.iter().flatten().map(|key| key.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

impl std::fmt::Debug for KeyedRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedRows").field("app_id", &self.app_id).field("keys", &self.keys).finish_non_exhaustive()
    }
}

/// What the store did for one command of a row-keyed bulk invite.
#[derive(Debug, Clone)]
#[expect(clippy::large_enum_variant, reason = "at most 1,000 per batch, each built once; a box buys nothing")]
pub enum RowDone {
    /// The row ran (it had no key, or its key was free): what inviting it did.
    Invited(Invited),
    /// The same row was answered within 24 h: its stored result; nothing was done.
    Replayed(StoredResponse),
    /// Its key was used with another row or request; nothing was done.
    Reused,
    /// Its key's first request still runs; nothing was done.
    InUse,
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

    /// A bulk invite whose rows carry their own keys, in one transaction: reads every key
    /// (deleting expired ones), decides each row with
    /// [`crate::rules::idempotency::plan_rows`], invites the rows that run (each with its
    /// event) and writes each keyed one's result under its key ([`KeyedRows::kept`]). One
    /// [`RowDone`] per command, in order.
    async fn invite_rows_keyed(&self, cmds: Vec<InviteCommand>, rows: KeyedRows) -> Result<Vec<RowDone>, StoreError>;
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

    async fn invite_rows_keyed(&self, cmds: Vec<InviteCommand>, rows: KeyedRows) -> Result<Vec<RowDone>, StoreError> {
        self.inner().invite_rows_keyed(cmds, rows).await
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

/// The fingerprint of a bulk row's own key: its body as parsed (without the key) under an
/// operation name no route uses, so a row key never matches a header key of another route.
pub fn row_fingerprint(body: &[u8]) -> String {
    fingerprint("bulk row", body)
}
