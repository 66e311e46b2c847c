//! One-time console sign-in links (`usher console link`): a link works once, before it
//! expires, and signing in with it gives the operator a key of the app's own, so everything
//! they do in the console is recorded as done by that key.

use super::NewAuditEvent;
use super::keys::key_created;
use crate::clock::Timestamp;
use crate::id::{ApiKeyId, AppId};
use crate::model::Actor;
use crate::store::ConsoleLinkUse;

/// A stored console link, as the store reads it in the transaction that uses it.
#[derive(Debug, Clone)]
pub struct ConsoleLinkState {
    /// The app it signs in to.
    pub app_id: AppId,
    /// It does not work from this moment on.
    pub expires_at: Timestamp,
    /// When it was used, if it was.
    pub used_at: Option<Timestamp>,
}

/// What using a link writes, decided by [`use_console_link`].
#[derive(Debug)]
pub enum ConsoleLinkPlan<'a> {
    /// Nothing is written; the answer is this (never [`ConsoleLinkUse::SignedIn`]).
    Refuse(ConsoleLinkUse),
    /// The link is marked used, and the operator's key (`key_id`) made and audited as made by
    /// itself, as an app's first key is.
    Use {
        /// The audit record of the new key.
        audit: NewAuditEvent<'a>,
    },
}

/// Decides the use at `now` of the link `link` (`None`: no link has the hash) by a new key
/// `key_id`.
pub fn use_console_link<'a>(
    link: Option<&'a ConsoleLinkState>,
    key_id: &ApiKeyId,
    now: Timestamp,
) -> ConsoleLinkPlan<'a> {
    let Some(link) = link else { return ConsoleLinkPlan::Refuse(ConsoleLinkUse::Unknown) };
    if link.used_at.is_some() {
        return ConsoleLinkPlan::Refuse(ConsoleLinkUse::Used);
    }
    if now >= link.expires_at {
        return ConsoleLinkPlan::Refuse(ConsoleLinkUse::Expired);
    }
    ConsoleLinkPlan::Use { audit: key_created(&link.app_id, &Actor::ApiKey(key_id.clone()), now) }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::AuditAction;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);
    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_link_works_once_before_it_expires() {
        let link = |expires_at, used_at| ConsoleLinkState { app_id: AppId::generate(), expires_at, used_at };
        // (case, the link, the refusal or None when it signs in)
        let cases = [
            ("fresh", Some(link(NOW.plus(MINUTE), None)), None),
            ("no such link", None, Some(ConsoleLinkUse::Unknown)),
            ("used before", Some(link(NOW.plus(MINUTE), Some(NOW.minus(MINUTE)))), Some(ConsoleLinkUse::Used)),
            ("expires now", Some(link(NOW, None)), Some(ConsoleLinkUse::Expired)),
            ("expired", Some(link(NOW.minus(MINUTE), None)), Some(ConsoleLinkUse::Expired)),
            ("used and expired", Some(link(NOW.minus(MINUTE), Some(NOW.minus(MINUTE)))), Some(ConsoleLinkUse::Used)),
        ];
        let key = ApiKeyId::generate();
        for (case, link, refusal) in cases {
            let plan = use_console_link(link.as_ref(), &key, NOW);

            match (plan, refusal) {
                (ConsoleLinkPlan::Refuse(answer), Some(expected)) => assert_eq!(answer, expected, "{case}"),
                (ConsoleLinkPlan::Use { audit }, None) => {
                    assert_eq!((audit.action, audit.actor), (AuditAction::ApiKeyCreated, Actor::ApiKey(key.clone())));
                    assert_eq!(audit.app_id, &link.as_ref().expect("a link").app_id, "{case}");
                }
                (plan, expected) => panic!("{case}: {plan:?}, expected {expected:?}"),
            }
        }
    }
}
