//! What the audit log records of changes to an app itself: its settings (the names and new
//! values of the fields that changed) and its own email templates (their kind and locale).
//! The stores write these records in the transaction of the change.

use serde_json::{Map, Value, json};

use super::NewAuditEvent;
use crate::app_settings;
use crate::clock::Timestamp;
use crate::id::AppId;
use crate::locale::Locale;
use crate::model::{Actor, App, AuditAction, MailKind};

/// The audit record of storing `after` over `before` (the app as stored until now), made by
/// `by`: `{"settings": {field: new value}}` for each field that differs, by the names the
/// settings route uses. `None` when nothing differs: a save that changes nothing is no event.
pub fn settings_changed<'a>(before: &App, after: &'a App, by: &Actor, now: Timestamp) -> Option<NewAuditEvent<'a>> {
    let old = app_settings::fields(before);
    let changed: Map<String, Value> =
        app_settings::fields(after).into_iter().filter(|(field, value)| old.get(field) != Some(value)).collect();
    (!changed.is_empty()).then(|| NewAuditEvent {
        app_id: &after.id,
        actor: by.clone(),
        action: AuditAction::SettingsChanged,
        subject_email: None,
        invitation_id: None,
        detail: Some(json!({ "settings": changed })),
        at: now,
    })
}

/// What happened to an app's own email template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateChange {
    /// Saved, new or replacing the one before.
    Saved,
    /// Removed: the built-in is used again.
    Removed,
}

/// The audit record of `change` to the app's own template for `kind` in `locale`, made by
/// `by`: `{"kind", "locale"}`.
pub fn template_changed<'a>(
    change: TemplateChange,
    app_id: &'a AppId,
    (kind, locale): (MailKind, Locale),
    by: &Actor,
    now: Timestamp,
) -> NewAuditEvent<'a> {
    NewAuditEvent {
        app_id,
        actor: by.clone(),
        action: match change {
            TemplateChange::Saved => AuditAction::TemplateSaved,
            TemplateChange::Removed => AuditAction::TemplateRemoved,
        },
        subject_email: None,
        invitation_id: None,
        detail: Some(json!({ "kind": kind.as_str(), "locale": locale.as_str() })),
        at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_settings::tests::app;
    use crate::id::ApiKeyId;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    fn changed(before: &App, changes: Value) -> App {
        app_settings::apply(before, changes.as_object().expect("object").clone()).expect("valid")
    }

    #[test]
    fn a_settings_change_records_the_fields_that_changed_and_their_new_values() {
        let by = Actor::ApiKey(ApiKeyId::generate());
        let before = app();
        // The console sends every field; only what differs is recorded.
        let after = changed(
            &before,
            json!({ "name": "Acme", "locale": "de", "max_invites_per_day": 100, "allowed_email_domains": ["acme.test"] }),
        );

        let audit = settings_changed(&before, &after, &by, NOW).expect("something changed");

        assert_eq!((audit.action, &audit.actor, audit.at), (AuditAction::SettingsChanged, &by, NOW));
        assert_eq!(
            audit.detail,
            Some(
                json!({ "settings": { "locale": "de", "max_invites_per_day": 100, "allowed_email_domains": ["acme.test"] } })
            )
        );
        let off = changed(&after, json!({ "max_invites_per_day": null }));
        let audit = settings_changed(&after, &off, &by, NOW).expect("switched off");
        assert_eq!(audit.detail, Some(json!({ "settings": { "max_invites_per_day": null } })));
    }

    #[test]
    fn a_save_that_changes_nothing_is_not_recorded() {
        let before = app();
        let same = changed(&before, json!({ "name": "Acme", "locale": "en-GB" }));

        assert!(settings_changed(&before, &same, &Actor::ApiKey(ApiKeyId::generate()), NOW).is_none());
    }

    #[test]
    fn template_events_name_the_kind_and_locale() {
        let (app, by) = (app(), Actor::ApiKey(ApiKeyId::generate()));

        let saved = template_changed(TemplateChange::Saved, &app.id, (MailKind::Invitation, Locale::De), &by, NOW);
        let removed = template_changed(TemplateChange::Removed, &app.id, (MailKind::Reminder, Locale::Fr), &by, NOW);

        assert_eq!(saved.action, AuditAction::TemplateSaved);
        assert_eq!(saved.detail, Some(json!({ "kind": "invitation", "locale": "de" })));
        assert_eq!(removed.action, AuditAction::TemplateRemoved);
        assert_eq!(removed.detail, Some(json!({ "kind": "reminder", "locale": "fr" })));
    }
}
