//! The members of an app as the `User` entity exposes them: who may see, change or remove
//! whom, and which fields are whose to change.
//!
//! A plain member sees and changes only themselves, and only their name and custom fields;
//! admins and API keys manage every member of their app. Fields are named as in Base44's
//! `User` entity; fields that are not built in are the app's custom fields.

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::Notify;

use crate::access::Principal;
use crate::clock::Clock;
use crate::id::UserId;
use crate::join::MAX_NAME_LEN;
use crate::model::{App, User};
use crate::role::Role;
use crate::store::{MemberRemoval, MemberUpdate, Store, StoreError, UserPatch};

/// Built-in fields nobody changes through the entity; echoing their current value is fine.
const FIXED_FIELDS: [&str; 4] = ["id", "email", "app_id", "is_verified"];
/// Server-kept fields that are ignored when sent back.
const IGNORED_FIELDS: [&str; 3] = ["created_date", "updated_date", "is_service"];
/// Fields only admins change.
const ADMIN_FIELDS: [&str; 3] = ["role", "_app_role", "disabled"];
/// The most a member's custom fields may take, as compact JSON: every read of the member
/// carries them, so one member must not be able to make every list slow.
pub const MAX_CUSTOM_BYTES: usize = 16 * 1024;

/// Why a member operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    /// No such member, or not one the caller may see.
    #[error("user not found")]
    NotFound,
    /// Only admins and API keys may do this.
    #[error("only admins of this app and API keys may do this")]
    AdminRequired,
    /// The field cannot be changed by this caller.
    #[error("`{0}` cannot be changed here")]
    ReadOnlyField(String),
    /// The value is not acceptable for the field.
    #[error("invalid `{field}`: {reason}")]
    InvalidField {
        /// The field.
        field: String,
        /// Why.
        reason: &'static str,
    },
    /// The custom fields would take more than [`MAX_CUSTOM_BYTES`].
    #[error("custom fields would take {size} bytes as JSON; at most {MAX_CUSTOM_BYTES} are kept per member")]
    CustomDataTooLarge {
        /// Their size after the change.
        size: usize,
    },
    /// The change would leave the app without an active admin.
    #[error("this is the app's last active admin; make another member an admin first")]
    LastAdmin,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads and manages members.
pub struct MemberService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    events: Arc<Notify>,
}

impl MemberService {
    /// A service over `store`; removing a member wakes the webhook worker through `events`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, events: Arc<Notify>) -> Self {
        Self { store, clock, events }
    }

    /// The members `by` may see: all for admins and API keys, themselves for a member.
    pub async fn visible(&self, app: &App, by: &Principal) -> Result<Vec<User>, MemberError> {
        match by {
            Principal::Member(user) if !by.is_admin() => Ok(vec![user.clone()]),
            _ => Ok(self.store.users(&app.id).await?),
        }
    }

    /// One member, if `by` may see them.
    pub async fn get(&self, app: &App, by: &Principal, id: &UserId) -> Result<User, MemberError> {
        if !by.is_admin() && !is_self(by, id) {
            return Err(MemberError::NotFound);
        }
        self.store.user(&app.id, id).await?.ok_or(MemberError::NotFound)
    }

    /// Applies `changes` (entity field names to new values) to a member; the app's last
    /// active admin is neither demoted nor disabled.
    pub async fn update(
        &self,
        app: &App,
        by: &Principal,
        id: &UserId,
        changes: Map<String, Value>,
    ) -> Result<User, MemberError> {
        let current = self.get(app, by, id).await?;
        let patch = patch(&current, by.is_admin(), changes)?;
        match self.store.update_user(&app.id, id, patch, self.clock.now()).await? {
            MemberUpdate::Updated(user) => Ok(user),
            MemberUpdate::NotFound => Err(MemberError::NotFound),
            MemberUpdate::LastAdmin => Err(MemberError::LastAdmin),
        }
    }

    /// Removes a member (admins and API keys only); never the app's last active admin.
    pub async fn delete(&self, app: &App, by: &Principal, id: &UserId) -> Result<(), MemberError> {
        if !by.is_admin() {
            return Err(if is_self(by, id) { MemberError::AdminRequired } else { MemberError::NotFound });
        }
        match self.store.delete_user(&app.id, id, self.clock.now()).await? {
            MemberRemoval::Removed => {
                self.events.notify_one();
                Ok(())
            }
            MemberRemoval::NotFound => Err(MemberError::NotFound),
            MemberRemoval::LastAdmin => Err(MemberError::LastAdmin),
        }
    }
}

fn is_self(by: &Principal, id: &UserId) -> bool {
    matches!(by, Principal::Member(user) if &user.id == id)
}

/// Turns entity changes into a patch, refusing what `current`'s editor may not change.
fn patch(current: &User, is_admin: bool, changes: Map<String, Value>) -> Result<UserPatch, MemberError> {
    let mut patch = UserPatch::default();
    let mut custom = current.custom.clone();
    let mut is_custom_changed = false;
    for (field, value) in changes {
        let invalid = |reason| MemberError::InvalidField { field: field.clone(), reason };
        if IGNORED_FIELDS.contains(&field.as_str()) {
            continue;
        }
        if FIXED_FIELDS.contains(&field.as_str()) {
            if value != fixed_value(current, &field) {
                return Err(MemberError::ReadOnlyField(field));
            }
            continue;
        }
        if ADMIN_FIELDS.contains(&field.as_str()) && !is_admin {
            let unchanged = match field.as_str() {
                "disabled" => value == Value::Bool(current.is_disabled),
                _ => value.as_str() == Some(current.role.as_str()),
            };
            if unchanged {
                continue;
            }
            return Err(MemberError::ReadOnlyField(field));
        }
        match field.as_str() {
            "full_name" => {
                let name = value.as_str().ok_or_else(|| invalid("must be a string"))?.trim();
                if name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
                    return Err(invalid("at most 200 characters, without control characters"));
                }
                patch.full_name = Some(name.to_owned());
            }
            "role" | "_app_role" => {
                let role = value.as_str().and_then(|r| r.parse::<Role>().ok());
                patch.role = Some(role.ok_or_else(|| invalid("must be \"user\" or \"admin\""))?);
            }
            "disabled" => patch.is_disabled = Some(value.as_bool().ok_or_else(|| invalid("must be true or false"))?),
            _ => {
                // PostgreSQL's jsonb cannot hold U+0000; refused on both backends alike.
                if field.contains('\0') || has_nul(&value) {
                    return Err(invalid("must not contain the character U+0000"));
                }
                is_custom_changed = true;
                if value.is_null() {
                    custom.remove(&field);
                } else {
                    custom.insert(field, value);
                }
            }
        }
    }
    if is_custom_changed {
        // A member already over the limit (from before it existed) may still shrink.
        let size = json_len(&custom);
        if size > MAX_CUSTOM_BYTES && size > json_len(&current.custom) {
            return Err(MemberError::CustomDataTooLarge { size });
        }
        patch.custom = Some(custom);
    }
    Ok(patch)
}

fn json_len(fields: &Map<String, Value>) -> usize {
    serde_json::to_string(fields).map_or(usize::MAX, |json| json.len())
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn fixed_value(user: &User, field: &str) -> Value {
    match field {
        "id" => Value::from(user.id.as_str()),
        "email" => Value::from(user.email.as_str()),
        "app_id" => Value::from(user.app_id.as_str()),
        _ => Value::Bool(user.is_verified),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::clock::Timestamp;
    use crate::email::EmailAddress;
    use crate::id::AppId;

    fn user() -> User {
        User {
            id: UserId::generate(),
            app_id: AppId::generate(),
            email: EmailAddress::parse("ada@example.com").expect("valid"),
            full_name: "Ada".into(),
            role: Role::User,
            is_verified: true,
            is_disabled: false,
            session_epoch: 0,
            custom: Map::new(),
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
        }
    }

    fn changes(value: Value) -> Map<String, Value> {
        value.as_object().expect("object").clone()
    }

    #[test]
    fn members_change_their_name_and_custom_fields() {
        let patch = patch(&user(), false, changes(json!({ "full_name": " Ada L ", "team": "core" }))).expect("allowed");

        assert_eq!(patch.full_name.as_deref(), Some("Ada L"));
        assert_eq!(patch.custom.expect("custom")["team"], "core");
        assert_eq!(patch.role, None);
    }

    #[test]
    fn members_cannot_change_role_disabled_email_or_verification() {
        for forbidden in [
            json!({ "role": "admin" }),
            json!({ "disabled": true }),
            json!({ "email": "x@example.com" }),
            json!({ "is_verified": false }),
        ] {
            let refused = patch(&user(), false, changes(forbidden.clone()));

            assert!(matches!(refused, Err(MemberError::ReadOnlyField(_))), "{forbidden}");
        }
    }

    #[test]
    fn sending_back_unchanged_built_in_fields_is_fine() {
        let me = user();
        let echo = json!({ "id": me.id.as_str(), "email": "ada@example.com", "role": "user", "disabled": false, "created_date": "x", "full_name": "Ada" });

        assert!(patch(&me, false, changes(echo)).is_ok());
    }

    #[test]
    fn admins_change_role_and_disabled_but_not_email() {
        let patch_ok = patch(&user(), true, changes(json!({ "role": "admin", "disabled": true }))).expect("allowed");

        assert_eq!((patch_ok.role, patch_ok.is_disabled), (Some(Role::Admin), Some(true)));
        assert!(matches!(
            patch(&user(), true, changes(json!({ "email": "x@example.com" }))),
            Err(MemberError::ReadOnlyField(_))
        ));
        assert!(matches!(
            patch(&user(), true, changes(json!({ "role": "owner" }))),
            Err(MemberError::InvalidField { .. })
        ));
    }

    #[test]
    fn custom_fields_are_refused_beyond_the_limit_and_may_shrink_from_above_it() {
        let half = "x".repeat(MAX_CUSTOM_BYTES / 2);
        let mut me = user();
        me.custom.insert("a".into(), json!(half));

        let grown = patch(&me, false, changes(json!({ "b": half })));
        let fits = patch(&me, false, changes(json!({ "b": "x".repeat(MAX_CUSTOM_BYTES / 2 - 20) })));

        assert!(matches!(grown, Err(MemberError::CustomDataTooLarge { size }) if size > MAX_CUSTOM_BYTES));
        assert!(fits.is_ok());
        me.custom.insert("b".into(), json!(half));
        me.custom.insert("c".into(), json!(half));
        assert!(patch(&me, false, changes(json!({ "c": null }))).is_ok(), "shrinking an oversized member");
        assert!(patch(&me, false, changes(json!({ "d": 1 }))).is_err(), "growing an oversized member");
    }

    #[test]
    fn custom_fields_with_a_nul_character_are_refused() {
        for bad in [json!({ "a\u{0}": 1 }), json!({ "a": "x\u{0}" }), json!({ "a": [{ "b": "\u{0}" }] })] {
            assert!(
                matches!(patch(&user(), false, changes(bad.clone())), Err(MemberError::InvalidField { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn null_removes_a_custom_field() {
        let mut me = user();
        me.custom.insert("team".into(), json!("core"));

        let patch = patch(&me, false, changes(json!({ "team": null }))).expect("allowed");

        assert!(patch.custom.expect("custom").is_empty());
    }
}
