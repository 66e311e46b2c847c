//! `usher invitations …`, `usher keys …` and `usher app settings`: managing an app through a
//! running server. Tables for people, `--json` for scripts; a refusal prints the server's
//! message and code and exits 1.

use std::future::Future;
use std::process::ExitCode;

use base44::{AppSettings, ClientError, Invitation, InvitationFilter};
use serde::Serialize;
use serde_json::{Map, Value};

use super::remote::{Failure, Remote};
use super::table;
use crate::{InvitationsCommand, KeysCommand, SettingsArgs, TemplatesCommand};

/// Runs `fut` and prints its answer as JSON or with `human`; a failure as [`Failure`] does.
pub(super) fn answer<T: Serialize>(
    remote: &Remote,
    fut: impl Future<Output = Result<T, ClientError>>,
    as_json: bool,
    human: impl FnOnce(&T),
) -> ExitCode {
    let result = match super::runtime() {
        Ok(runtime) => runtime.block_on(fut),
        Err(err) => return Failure::new("CLIENT_ERROR", format!("{err:#}")).report(as_json),
    };
    match result {
        Ok(value) if as_json => match serde_json::to_string(&value) {
            Ok(text) => {
                say!("{text}");
                ExitCode::SUCCESS
            }
            Err(err) => Failure::new("CLIENT_ERROR", err.to_string()).report(as_json),
        },
        Ok(value) => {
            human(&value);
            ExitCode::SUCCESS
        }
        Err(err) => remote.explain(&err).report(as_json),
    }
}

fn print_invitations(items: &[Invitation]) {
    let mut rows = table::new(["ID", "ADDRESS", "ROLE", "STATUS", "EMAIL", "SENT", "EXPIRES"]);
    for i in items {
        rows.add_row([
            i.id.clone(),
            i.email.clone(),
            i.role.to_string(),
            i.status.to_string(),
            i.delivery.status.to_string(),
            i.times_sent.to_string(),
            base44::rfc3339::format(i.expires_at),
        ]);
    }
    say!("{}", rows.trim_fmt());
}

/// `usher invitations list|show|resend|revoke`.
pub fn invitations(remote: &Remote, command: &InvitationsCommand) -> ExitCode {
    let invitations = remote.client.invitations();
    match command {
        InvitationsCommand::List { status, email, opened, delivery, limit, cursor, json } => {
            let mut filter = InvitationFilter::new().limit(*limit);
            if let Some(status) = status {
                filter = filter.status(*status);
            }
            if let Some(email) = email {
                filter = filter.email(email);
            }
            if let Some(opened) = opened {
                filter = filter.opened(*opened);
            }
            if let Some(delivery) = delivery {
                filter = filter.delivery(*delivery);
            }
            if let Some(cursor) = cursor {
                filter = filter.after(cursor);
            }
            answer(remote, invitations.list(&filter), *json, |page| {
                print_invitations(&page.items);
                if let Some(next) = &page.next_cursor {
                    say!("\nMore: --cursor {next}");
                }
            })
        }
        InvitationsCommand::Show { id, json } => answer(remote, invitations.get(id), *json, |i| {
            print_invitations(std::slice::from_ref(i));
            say!("\nEmail: {}, {} delivery attempt(s).", i.delivery.status, i.delivery.attempts);
            if let Some(error) = &i.delivery.last_error {
                say!("Last delivery error: {error}");
            }
            if let Some(next) = i.delivery.next_attempt_at {
                say!("Next attempt: {}", base44::rfc3339::format(next));
            }
            match i.opened_by_person_at {
                Some(at) => say!("Opened by a person: {}", base44::rfc3339::format(at)),
                None => say!("Opened by a person: not yet"),
            }
            say!("Scanner opens: {}", i.scanner_opens);
            match (i.reminder_due_at, i.reminded_at) {
                (Some(due), _) => say!("Reminder due: {}", base44::rfc3339::format(due)),
                (None, Some(at)) => say!("Reminded: {}", base44::rfc3339::format(at)),
                (None, None) => say!("Reminder: none scheduled"),
            }
        }),
        InvitationsCommand::Resend { id, json } => {
            answer(remote, invitations.resend(id), *json, |r| say!("{}", r.message()))
        }
        InvitationsCommand::Revoke { id, json } => {
            answer(remote, invitations.revoke(id), *json, |i| say!("Revoked the invitation of {}.", i.email))
        }
    }
}

/// `usher keys create|list|revoke`.
pub fn keys(remote: &Remote, command: &KeysCommand) -> ExitCode {
    let keys = remote.client.keys();
    match command {
        KeysCommand::Create { name, json } => answer(remote, keys.create(name), *json, |key| {
            say!("Created API key \"{}\" ({}):\n\n  {}\n", key.name, key.id, key.api_key.as_deref().unwrap_or(""));
            say!("It is shown only now. Store it somewhere safe.");
        }),
        KeysCommand::List { json } => answer(remote, keys.list(), *json, |items| {
            let mut rows = table::new(["ID", "NAME", "CREATED"]);
            for key in items {
                rows.add_row([key.id.clone(), key.name.clone(), base44::rfc3339::format(key.created_date)]);
            }
            say!("{}", rows.trim_fmt());
        }),
        KeysCommand::Revoke { id, json } => {
            answer(remote, async { keys.revoke(id).await.map(|()| Value::Null) }, *json, |_| {
                say!("Revoked API key {id}.")
            })
        }
    }
}

/// `usher app settings [--set KEY=VALUE …]`.
pub fn settings(remote: &Remote, args: &SettingsArgs) -> ExitCode {
    let mut changes = Map::new();
    for assignment in &args.set {
        let Some((key, value)) = assignment.split_once('=') else {
            Failure::new("USAGE", format!("--set takes KEY=VALUE, got {assignment:?}")).report(args.json);
            return ExitCode::from(2);
        };
        // Numbers, booleans, null and lists are JSON; anything else is a string.
        let value = serde_json::from_str::<Value>(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        changes.insert(key.trim().to_owned(), value);
    }
    let settings = remote.client.settings();
    let print = |all: &Value| {
        let mut rows = table::new(["SETTING", "VALUE"]);
        for (key, value) in all.as_object().into_iter().flatten() {
            rows.add_row([key.clone(), value.as_str().map_or_else(|| value.to_string(), str::to_owned)]);
        }
        say!("{}", rows.trim_fmt());
    };
    // Shown as a JSON object, so the table and `--json` list the settings in name order.
    let as_json = |all: AppSettings| serde_json::to_value(all).unwrap_or_default();
    if changes.is_empty() {
        answer(remote, async { settings.get().await.map(as_json) }, args.json, print)
    } else {
        answer(remote, async move { settings.update(&Value::Object(changes)).await.map(as_json) }, args.json, print)
    }
}

/// Reads the three files of a template.
fn template_files(
    subject: &std::path::Path,
    text: &std::path::Path,
    html: &std::path::Path,
) -> Result<base44::MailTemplateBody, Failure> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map_err(|err| Failure::new("USAGE", format!("cannot read {}: {err}", path.display())))
    };
    Ok(base44::MailTemplateBody { subject: read(subject)?, text: read(text)?, html: read(html)? })
}

/// `usher templates ls|show|set|rm|preview`.
pub fn templates(remote: &Remote, command: &TemplatesCommand) -> ExitCode {
    let templates = remote.client.templates();
    let show = |t: &base44::MailTemplate| {
        say!("{} in {} ({:?})", t.kind, t.locale, t.source);
        say!("Variables: {}", t.variables.join(", "));
        if let Some(required) = &t.required_variable {
            say!("Required in text and HTML: {{{{ {required} }}}}");
        }
        say!("\n--- subject\n{}\n--- text\n{}\n--- html\n{}", t.subject, t.text, t.html);
    };
    match command {
        TemplatesCommand::Ls { json } => answer(remote, templates.list(), *json, |list| {
            let mut rows = table::new(["KIND", "LOCALE", "SOURCE", "UPDATED"]);
            for item in &list.items {
                let source = match item.source {
                    base44::TemplateSource::App => "app",
                    _ => "built-in",
                };
                let updated = item.updated_date.map(base44::rfc3339::format).unwrap_or_default();
                rows.add_row([item.kind.clone(), item.locale.clone(), source.to_owned(), updated]);
            }
            say!("{}", rows.trim_fmt());
            say!("Default locale: {}", list.default_locale);
        }),
        TemplatesCommand::Show { kind, locale, json } => answer(remote, templates.get(kind, locale), *json, show),
        TemplatesCommand::Set { kind, locale, files, json } => {
            let body = match template_files(&files.subject, &files.text, &files.html) {
                Ok(body) => body,
                Err(failure) => return failure.report(*json),
            };
            answer(remote, templates.set(kind, locale, &body), *json, |t| {
                say!("Saved the app's own {} template in {}.", t.kind, t.locale)
            })
        }
        TemplatesCommand::Rm { kind, locale, json } => answer(remote, templates.remove(kind, locale), *json, |t| {
            say!("Removed the app's own {} template in {}: the built-in is used again.", t.kind, t.locale)
        }),
        TemplatesCommand::Preview { kind, locale, subject, text, html, json } => {
            let draft = match (subject, text, html) {
                (Some(subject), Some(text), Some(html)) => match template_files(subject, text, html) {
                    Ok(body) => Some(body),
                    Err(failure) => return failure.report(*json),
                },
                _ => None,
            };
            answer(remote, templates.preview(kind, locale, draft), *json, |p| {
                say!("Subject: {}\n\n{}\n--- html\n{}", p.subject, p.text, p.html);
            })
        }
    }
}
