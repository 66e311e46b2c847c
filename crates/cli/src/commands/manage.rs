//! `usher invitations …`, `usher keys …` and `usher app settings`: managing an app through a
//! running server. Tables for people, `--json` for scripts; a refusal prints the server's
//! message and code and exits 1.

use std::future::Future;
use std::process::ExitCode;

use base44::{ClientError, Invitation};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{InvitationsCommand, KeysCommand, SettingsArgs};

/// Runs `fut` and prints its answer as JSON or with `human`.
fn answer<T: Serialize>(
    fut: impl Future<Output = Result<T, ClientError>>,
    as_json: bool,
    human: impl FnOnce(&T),
) -> ExitCode {
    let result = match super::runtime() {
        Ok(runtime) => runtime.block_on(fut),
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(value) if as_json => match serde_json::to_string(&value) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        },
        Ok(value) => {
            human(&value);
            ExitCode::SUCCESS
        }
        Err(ClientError::Api { code, message, .. }) => {
            eprintln!("error: {message} ({code})");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn print_invitations(items: &[Invitation]) {
    println!("{:<24}  {:<32}  {:<5}  {:<8}  {:<7}  EXPIRES", "ID", "ADDRESS", "ROLE", "STATUS", "EMAIL");
    for i in items {
        println!(
            "{:<24}  {:<32}  {:<5}  {:<8}  {:<7}  {}",
            i.id, i.email, i.role, i.status, i.delivery.status, i.expires_at
        );
    }
}

/// `usher invitations list|show|resend|revoke`.
pub fn invitations(client: &base44::Client, command: &InvitationsCommand) -> ExitCode {
    let invitations = client.invitations();
    match command {
        InvitationsCommand::List { status, email, limit, cursor, json } => answer(
            invitations.list(status.as_deref(), email.as_deref(), Some(*limit), cursor.as_deref()),
            *json,
            |page| {
                print_invitations(&page.items);
                if let Some(next) = &page.next_cursor {
                    println!("\nMore: --cursor {next}");
                }
            },
        ),
        InvitationsCommand::Show { id, json } => answer(invitations.get(id), *json, |i| {
            print_invitations(std::slice::from_ref(i));
            if let Some(error) = &i.delivery.last_error {
                println!("\nLast delivery error ({} attempts): {error}", i.delivery.attempts);
            }
        }),
        InvitationsCommand::Resend { id, json } => answer(invitations.resend(id), *json, |r| println!("{}", r.message)),
        InvitationsCommand::Revoke { id, json } => {
            answer(invitations.revoke(id), *json, |i| println!("Revoked the invitation of {}.", i.email))
        }
    }
}

/// `usher keys create|list|revoke`.
pub fn keys(client: &base44::Client, command: &KeysCommand) -> ExitCode {
    let keys = client.keys();
    match command {
        KeysCommand::Create { name, json } => answer(keys.create(name), *json, |key| {
            println!("Created API key \"{}\" ({}):\n\n  {}\n", key.name, key.id, key.api_key.as_deref().unwrap_or(""));
            println!("It is shown only now. Store it somewhere safe.");
        }),
        KeysCommand::List { json } => answer(keys.list(), *json, |items| {
            println!("{:<24}  {:<24}  CREATED", "ID", "NAME");
            for key in items {
                println!("{:<24}  {:<24}  {}", key.id, key.name, key.created_date);
            }
        }),
        KeysCommand::Revoke { id, json } => {
            answer(async { keys.revoke(id).await.map(|()| Value::Null) }, *json, |_| println!("Revoked API key {id}."))
        }
    }
}

/// `usher app settings [--set KEY=VALUE …]`.
pub fn settings(client: &base44::Client, args: &SettingsArgs) -> ExitCode {
    let mut changes = Map::new();
    for assignment in &args.set {
        let Some((key, value)) = assignment.split_once('=') else {
            eprintln!("error: --set takes KEY=VALUE, got {assignment:?}");
            return ExitCode::from(2);
        };
        // Numbers, booleans, null and lists are JSON; anything else is a string.
        let value = serde_json::from_str::<Value>(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        changes.insert(key.trim().to_owned(), value);
    }
    let settings = client.settings();
    let print = |all: &Value| {
        if let Some(map) = all.as_object() {
            for (key, value) in map {
                println!("{key:<24}  {value}");
            }
        }
    };
    if changes.is_empty() {
        answer(settings.get(), args.json, print)
    } else {
        answer(async move { settings.update(&Value::Object(changes)).await }, args.json, print)
    }
}
