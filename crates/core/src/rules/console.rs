//! The console's ways in and how long they last.
//!
//! One-time console sign-in links (`usher console link`): a link works once, before it
//! expires, and signing in with it gives the operator a key of the app's own, so everything
//! they do in the console is recorded as done by that key.
//!
//! Password sessions ([`session_standing`]): a stored session holds while it is neither
//! expired nor idle and its admin is still an enabled admin with the password they signed in
//! with.

use std::time::Duration;

use super::NewAuditEvent;
use super::keys::key_created;
use crate::clock::Timestamp;
use crate::console_session::ConsoleSessionRecord;
use crate::id::{ApiKeyId, AppId};
use crate::model::{Actor, User};
use crate::role::Role;
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

/// Whether a stored console session still holds, decided by [`session_standing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStanding {
    /// It holds; when `touch` is set, its last page view is recorded as now.
    Holds {
        /// The stored last page view is old enough to be written again (see [`TOUCH_EVERY`]).
        touch: bool,
    },
    /// It ended; the row, if there is one, is deleted.
    Ended(SessionEnd),
}

/// Why a console session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// No stored session has this id: signed out, or removed when it ended before.
    Unknown,
    /// It lasted as long as a session may (the access-token lifetime).
    Expired,
    /// No page view for the idle timeout.
    Idle,
    /// The admin is no longer a member.
    MemberGone,
    /// The admin was disabled.
    Disabled,
    /// The admin's password changed (or was reset) after signing in.
    PasswordChanged,
    /// The admin is a plain member now.
    NotAdmin,
}

/// The stored last page view is rewritten when it is older than this share of the idle
/// timeout, not on every page: so a session may end up to that share early, never late.
pub const TOUCH_EVERY: u32 = 60;

/// Decides whether the stored session `session` (`None`: no row has its id) of the member
/// `user` (`None`: no such member now) holds at `now`, given the idle timeout `idle`.
pub fn session_standing(
    session: Option<&ConsoleSessionRecord>,
    user: Option<&User>,
    now: Timestamp,
    idle: Duration,
) -> SessionStanding {
    let Some(session) = session else { return SessionStanding::Ended(SessionEnd::Unknown) };
    let ended = |why| SessionStanding::Ended(why);
    if now >= session.expires_at {
        return ended(SessionEnd::Expired);
    }
    if now >= session.last_seen_at.plus(idle) {
        return ended(SessionEnd::Idle);
    }
    let Some(user) = user.filter(|user| user.id == session.user_id && user.app_id == session.app_id) else {
        return ended(SessionEnd::MemberGone);
    };
    if user.is_disabled {
        return ended(SessionEnd::Disabled);
    }
    if user.session_epoch != session.session_epoch {
        return ended(SessionEnd::PasswordChanged);
    }
    if user.role != Role::Admin {
        return ended(SessionEnd::NotAdmin);
    }
    SessionStanding::Holds { touch: now >= session.last_seen_at.plus(idle / TOUCH_EVERY) }
}

/// The sessions that ended by time at `now` and that a cleanup deletes: every session with
/// `expires_at <= now` or `last_seen_at <= seen_before` — exactly those [`session_standing`]
/// finds [`SessionEnd::Expired`] or [`SessionEnd::Idle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndedSessions {
    /// Sessions that expired at or before this moment ended.
    pub now: Timestamp,
    /// Sessions whose last page view was at or before this moment ended idle.
    pub seen_before: Timestamp,
}

/// The sessions a cleanup at `now` deletes, given the idle timeout `idle`.
pub fn ended_sessions(now: Timestamp, idle: Duration) -> EndedSessions {
    EndedSessions { now, seen_before: now.minus(idle) }
}

impl EndedSessions {
    /// True when `session` is one of them: what the stores' `DELETE` selects.
    pub fn contains(&self, session: &ConsoleSessionRecord) -> bool {
        session.expires_at <= self.now || session.last_seen_at <= self.seen_before
    }
}

#[cfg(test)]
mod tests {
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

#[cfg(test)]
mod session_tests {
    use serde_json::Map;

    use super::*;
    use crate::email::EmailAddress;
    use crate::id::UserId;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);
    const IDLE: Duration = Duration::from_secs(30 * 60);
    const MINUTE: Duration = Duration::from_secs(60);

    fn admin(app_id: &AppId) -> User {
        User {
            id: UserId::generate(),
            app_id: app_id.clone(),
            email: EmailAddress::parse("ada@example.com").expect("address"),
            full_name: String::new(),
            role: Role::Admin,
            is_verified: true,
            is_disabled: false,
            session_epoch: 3,
            custom: Map::new(),
            created_at: NOW.minus(IDLE * 10),
            updated_at: NOW.minus(IDLE * 10),
        }
    }

    fn session_of(user: &User, last_seen_at: Timestamp, expires_at: Timestamp) -> ConsoleSessionRecord {
        ConsoleSessionRecord {
            app_id: user.app_id.clone(),
            user_id: user.id.clone(),
            session_epoch: user.session_epoch,
            created_at: NOW.minus(IDLE * 2),
            last_seen_at,
            expires_at,
        }
    }

    #[test]
    fn a_session_holds_while_fresh_and_its_admin_unchanged() {
        let user = admin(&AppId::generate());
        let fresh = session_of(&user, NOW.minus(MINUTE), NOW.plus(IDLE));
        let changed = |change: fn(&mut User)| {
            let mut user = user.clone();
            change(&mut user);
            Some(user)
        };
        let other_app = admin(&AppId::generate());
        let same_id_other_app = User { id: user.id.clone(), ..other_app };
        // (case, the stored session, the member now, the standing)
        let cases = [
            ("fresh", Some(fresh.clone()), Some(user.clone()), SessionStanding::Holds { touch: true }),
            (
                "seen a moment ago: not written again",
                Some(session_of(&user, NOW.minus(IDLE / TOUCH_EVERY - Duration::from_millis(1)), NOW.plus(IDLE))),
                Some(user.clone()),
                SessionStanding::Holds { touch: false },
            ),
            (
                "seen a 60th of the idle timeout ago: written again",
                Some(session_of(&user, NOW.minus(IDLE / TOUCH_EVERY), NOW.plus(IDLE))),
                Some(user.clone()),
                SessionStanding::Holds { touch: true },
            ),
            ("no such session (signed out)", None, Some(user.clone()), SessionStanding::Ended(SessionEnd::Unknown)),
            (
                "expires now",
                Some(session_of(&user, NOW.minus(MINUTE), NOW)),
                Some(user.clone()),
                SessionStanding::Ended(SessionEnd::Expired),
            ),
            (
                "idle for exactly the timeout",
                Some(session_of(&user, NOW.minus(IDLE), NOW.plus(IDLE))),
                Some(user.clone()),
                SessionStanding::Ended(SessionEnd::Idle),
            ),
            (
                "idle one millisecond short of the timeout",
                Some(session_of(&user, NOW.minus(IDLE - Duration::from_millis(1)), NOW.plus(IDLE))),
                Some(user.clone()),
                SessionStanding::Holds { touch: true },
            ),
            ("member removed", Some(fresh.clone()), None, SessionStanding::Ended(SessionEnd::MemberGone)),
            (
                "another app's member of the same id",
                Some(fresh.clone()),
                Some(same_id_other_app),
                SessionStanding::Ended(SessionEnd::MemberGone),
            ),
            (
                "disabled",
                Some(fresh.clone()),
                changed(|u| u.is_disabled = true),
                SessionStanding::Ended(SessionEnd::Disabled),
            ),
            (
                "password changed",
                Some(fresh.clone()),
                changed(|u| u.session_epoch += 1),
                SessionStanding::Ended(SessionEnd::PasswordChanged),
            ),
            (
                "made a plain member",
                Some(fresh.clone()),
                changed(|u| u.role = Role::User),
                SessionStanding::Ended(SessionEnd::NotAdmin),
            ),
            (
                "expired and disabled: time first",
                Some(session_of(&user, NOW.minus(MINUTE), NOW.minus(MINUTE))),
                changed(|u| u.is_disabled = true),
                SessionStanding::Ended(SessionEnd::Expired),
            ),
        ];
        for (case, session, user, standing) in cases {
            assert_eq!(session_standing(session.as_ref(), user.as_ref(), NOW, IDLE), standing, "{case}");
        }
    }

    #[test]
    fn a_cleanup_deletes_exactly_the_sessions_that_ended_by_time() {
        let user = admin(&AppId::generate());
        let ended = ended_sessions(NOW, IDLE);
        let ms = Duration::from_millis(1);
        // (last page view, expiry)
        let sessions = [
            (NOW.minus(MINUTE), NOW.plus(IDLE)),
            (NOW.minus(IDLE), NOW.plus(IDLE)),
            (NOW.minus(IDLE - ms), NOW.plus(IDLE)),
            (NOW.minus(MINUTE), NOW),
            (NOW.minus(MINUTE), NOW.plus(ms)),
            (NOW.minus(IDLE * 2), NOW.minus(IDLE)),
        ];
        for (last_seen_at, expires_at) in sessions {
            let session = session_of(&user, last_seen_at, expires_at);
            let by_time = matches!(
                session_standing(Some(&session), Some(&user), NOW, IDLE),
                SessionStanding::Ended(SessionEnd::Expired | SessionEnd::Idle)
            );
            assert_eq!(ended.contains(&session), by_time, "seen {last_seen_at:?}, expires {expires_at:?}");
        }
    }
}
