//! Apps and their API keys: who is recorded as having made them, and when a key may be
//! revoked (never the app's last one: that would lock its servers out).

use super::NewAuditEvent;
use crate::clock::Timestamp;
use crate::id::{ApiKeyId, AppId};
use crate::model::{Actor, AuditAction};
use crate::store::{KeyRevocation, NewApp};

/// The audit record of a new app: made by its first key, which acts for the operator.
pub fn app_created(new: &NewApp) -> NewAuditEvent<'_> {
    NewAuditEvent {
        app_id: &new.id,
        actor: Actor::ApiKey(new.api_key.id.clone()),
        action: AuditAction::AppCreated,
        subject_email: None,
        invitation_id: None,
        detail: None,
        at: new.now,
    }
}

/// The audit record of another key of the app, made by `by`.
pub fn key_created<'a>(app_id: &'a AppId, by: &Actor, now: Timestamp) -> NewAuditEvent<'a> {
    NewAuditEvent {
        app_id,
        actor: by.clone(),
        action: AuditAction::ApiKeyCreated,
        subject_email: None,
        invitation_id: None,
        detail: None,
        at: now,
    }
}

/// What revoking a key writes, decided by [`revoke_unless_last_key`].
#[derive(Debug)]
pub enum KeyRevocationPlan<'a> {
    /// Nothing is written; the answer is this (never [`KeyRevocation::Revoked`]).
    Answer(KeyRevocation),
    /// The key is revoked and the revocation audited. The answer is [`KeyRevocation::Revoked`].
    Revoke {
        /// The audit record.
        audit: NewAuditEvent<'a>,
    },
}

/// Decides the revocation of key `id` of the app whose live keys are `live`: a key the app
/// does not have is not found; its last key stays.
pub fn revoke_unless_last_key<'a>(
    app_id: &'a AppId,
    id: &ApiKeyId,
    live: &[ApiKeyId],
    by: &Actor,
    now: Timestamp,
) -> KeyRevocationPlan<'a> {
    if !live.contains(id) {
        return KeyRevocationPlan::Answer(KeyRevocation::NotFound);
    }
    if live.len() == 1 {
        return KeyRevocationPlan::Answer(KeyRevocation::LastKey);
    }
    KeyRevocationPlan::Revoke {
        audit: NewAuditEvent {
            app_id,
            actor: by.clone(),
            action: AuditAction::ApiKeyRevoked,
            subject_email: None,
            invitation_id: None,
            detail: None,
            at: now,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    #[test]
    fn revoke_key_answers_without_writing_when_the_key_is_unknown_or_the_last_one() {
        let (app, by) = (AppId::generate(), Actor::ApiKey(ApiKeyId::generate()));
        let (only, other) = (ApiKeyId::generate(), ApiKeyId::generate());

        let unknown = revoke_unless_last_key(&app, &other, std::slice::from_ref(&only), &by, NOW);
        let last = revoke_unless_last_key(&app, &only, std::slice::from_ref(&only), &by, NOW);

        assert!(matches!(unknown, KeyRevocationPlan::Answer(KeyRevocation::NotFound)));
        assert!(matches!(last, KeyRevocationPlan::Answer(KeyRevocation::LastKey)));
    }

    #[test]
    fn revoke_key_revokes_and_audits_when_another_key_stays() {
        let (app, by) = (AppId::generate(), Actor::ApiKey(ApiKeyId::generate()));
        let (one, two) = (ApiKeyId::generate(), ApiKeyId::generate());

        let plan = revoke_unless_last_key(&app, &one, &[one.clone(), two], &by, NOW);

        let KeyRevocationPlan::Revoke { audit } = plan else { panic!("{plan:?}") };
        assert_eq!((audit.action, audit.actor), (AuditAction::ApiKeyRevoked, by));
    }
}
