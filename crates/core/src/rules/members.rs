//! Changing and removing members: an app always keeps an active admin.
//!
//! Demoting, disabling or removing the app's last active admin (role `admin`, not disabled)
//! would leave nobody who can invite, manage members or sign in to the console; only an API
//! key could repair it. So that change is refused, whoever asks (an admin, an API key, the
//! console), and the admin count is read in the change's own transaction so two admins
//! demoting each other at once cannot both succeed.

use crate::id::UserId;
use crate::model::User;
use crate::role::Role;
use crate::store::UserPatch;

/// What a member change does, decided by [`update_keeps_an_admin`] or [`removal_keeps_an_admin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChangePlan {
    /// The change is written.
    Apply,
    /// Nothing is written: the member is the app's last active admin.
    RefuseLastAdmin,
}

/// Decides `patch` to `member`, given the ids of the app's active admins (`active_admins`,
/// read in the same transaction).
pub fn update_keeps_an_admin(member: &User, patch: &UserPatch, active_admins: &[UserId]) -> MemberChangePlan {
    let role = patch.role.unwrap_or(member.role);
    let is_disabled = patch.is_disabled.unwrap_or(member.is_disabled);
    let stays_active_admin = role == Role::Admin && !is_disabled;
    keeps_an_admin(&member.id, stays_active_admin, active_admins)
}

/// Decides removing the member `id`, given the ids of the app's active admins.
pub fn removal_keeps_an_admin(id: &UserId, active_admins: &[UserId]) -> MemberChangePlan {
    keeps_an_admin(id, false, active_admins)
}

fn keeps_an_admin(id: &UserId, stays_active_admin: bool, active_admins: &[UserId]) -> MemberChangePlan {
    let is_active_admin = active_admins.contains(id);
    // Only a change that takes away an active admin can leave none; an app that has none
    // already (before its first admin joins) may still change its other members.
    if is_active_admin && !stays_active_admin && active_admins.len() <= 1 {
        MemberChangePlan::RefuseLastAdmin
    } else {
        MemberChangePlan::Apply
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::clock::Timestamp;
    use crate::email::EmailAddress;
    use crate::id::AppId;

    fn member(role: Role, is_disabled: bool) -> User {
        User {
            id: UserId::generate(),
            app_id: AppId::generate(),
            email: EmailAddress::parse("ada@example.com").expect("valid"),
            full_name: "Ada".into(),
            role,
            is_verified: true,
            is_disabled,
            session_epoch: 0,
            custom: Map::new(),
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
        }
    }

    fn patch(role: Option<Role>, is_disabled: Option<bool>) -> UserPatch {
        UserPatch { role, is_disabled, ..UserPatch::default() }
    }

    use MemberChangePlan::{Apply, RefuseLastAdmin};

    #[test]
    fn changes_to_the_last_active_admin_are_refused_only_when_they_take_the_admin_away() {
        // (what the change does, whether another active admin exists, the plan)
        let cases = [
            ("demote", patch(Some(Role::User), None), false, RefuseLastAdmin),
            ("disable", patch(None, Some(true)), false, RefuseLastAdmin),
            ("demote and disable", patch(Some(Role::User), Some(true)), false, RefuseLastAdmin),
            ("rename", UserPatch { full_name: Some("Ada L".into()), ..UserPatch::default() }, false, Apply),
            ("admin again", patch(Some(Role::Admin), Some(false)), false, Apply),
            ("demote", patch(Some(Role::User), None), true, Apply),
            ("disable", patch(None, Some(true)), true, Apply),
        ];
        for (what, patch, has_another, expected) in cases {
            let admin = member(Role::Admin, false);
            let mut admins = vec![admin.id.clone()];
            if has_another {
                admins.push(UserId::generate());
            }

            assert_eq!(
                update_keeps_an_admin(&admin, &patch, &admins),
                expected,
                "{what}, another admin: {has_another}"
            );
        }
    }

    #[test]
    fn changes_to_members_who_are_not_active_admins_are_never_refused() {
        let other_admin = UserId::generate();
        let cases = [
            ("plain member disabled", member(Role::User, false), patch(None, Some(true)), vec![other_admin.clone()]),
            ("disabled admin demoted", member(Role::Admin, true), patch(Some(Role::User), None), vec![other_admin]),
            ("member of an app without admins", member(Role::User, false), patch(None, Some(true)), vec![]),
            (
                "disabled admin of an app without active admins",
                member(Role::Admin, true),
                patch(Some(Role::User), None),
                vec![],
            ),
        ];
        for (what, member, patch, admins) in cases {
            assert_eq!(update_keeps_an_admin(&member, &patch, &admins), Apply, "{what}");
            assert_eq!(removal_keeps_an_admin(&member.id, &admins), Apply, "{what} removed");
        }
    }

    #[test]
    fn removing_the_last_active_admin_is_refused_and_one_of_two_is_not() {
        let (one, two) = (UserId::generate(), UserId::generate());

        assert_eq!(removal_keeps_an_admin(&one, std::slice::from_ref(&one)), RefuseLastAdmin);
        assert_eq!(removal_keeps_an_admin(&one, &[one.clone(), two]), Apply);
    }
}
