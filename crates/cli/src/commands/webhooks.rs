//! `usher webhooks …`: an app's webhook endpoints and their deliveries, through a running
//! server. Tables for people, `--json` for scripts; a refusal prints the server's message and
//! code and exits 1.

use std::process::ExitCode;

use base44::{WebhookDeliveryInfo, WebhookInfo};
use serde_json::Value;

use super::manage::answer;
use super::remote::Remote;
use super::table;
use crate::WebhooksCommand;

/// `usher webhooks add|ls|rm|deliveries|rotate-secret|retry`.
pub fn webhooks(remote: &Remote, command: &WebhooksCommand) -> ExitCode {
    let webhooks = remote.client.webhooks();
    match command {
        WebhooksCommand::Add { url, events, json } => {
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            answer(remote, webhooks.create(url, &events), *json, |hook| {
                say!("Added webhook {}:\n", hook.id);
                print_endpoint(hook);
                print_secret(hook);
            })
        }
        WebhooksCommand::Ls { json } => answer(remote, webhooks.list(), *json, |hooks| {
            if hooks.is_empty() {
                say!("No webhooks yet. Add one with `usher webhooks add URL --event TYPE`.");
                return;
            }
            let mut rows = table::new(["ID", "URL", "EVENTS", "CREATED"]);
            for hook in hooks {
                rows.add_row([
                    hook.id.clone(),
                    hook.url.clone(),
                    hook.events.join(","),
                    base44::rfc3339::format(hook.created_date),
                ]);
            }
            say!("{}", rows.trim_fmt());
        }),
        WebhooksCommand::Rm { id, json } => {
            answer(remote, async { webhooks.delete(id).await.map(|()| Value::Null) }, *json, |_| {
                say!("Removed webhook {id}: it gets no more events, and its undelivered ones are dropped.");
            })
        }
        WebhooksCommand::Deliveries { id, json } => answer(remote, webhooks.deliveries(id), *json, |deliveries| {
            if deliveries.is_empty() {
                say!("No deliveries yet: none of the events this webhook receives has happened since it was added.");
                return;
            }
            print_deliveries(deliveries);
        }),
        WebhooksCommand::RotateSecret { id, json } => answer(remote, webhooks.rotate_secret(id), *json, |hook| {
            say!(
                "Webhook {} has a new signing secret; the old one no longer verifies what is sent from now on.\n",
                hook.id
            );
            print_secret(hook);
        }),
        WebhooksCommand::Retry { id, delivery_id, json } => {
            answer(remote, webhooks.retry_delivery(id, delivery_id), *json, |delivery| {
                if delivery.status == "sending" {
                    say!(
                        "Delivery {} ({}) is being sent right now; look again with `usher webhooks deliveries {id}`.",
                        delivery.id,
                        delivery.event_type
                    );
                } else {
                    say!(
                        "Delivery {} ({}) is due again now, under the same webhook-id.",
                        delivery.id,
                        delivery.event_type
                    );
                }
            })
        }
    }
}

fn print_endpoint(hook: &WebhookInfo) {
    say!("  URL:     {}", hook.url);
    say!("  Events:  {}", hook.events.join(", "));
}

fn print_secret(hook: &WebhookInfo) {
    say!("Signing secret, shown only now (verify each delivery with it, e.g. with the standardwebhooks library):\n");
    say!("  {}\n", hook.secret.as_deref().unwrap_or(""));
    say!("Store it somewhere safe. `usher webhooks rotate-secret {}` replaces it.", hook.id);
}

/// What the last attempt got: the receiver's status code, or what went wrong.
fn last_answer(delivery: &WebhookDeliveryInfo) -> String {
    match (delivery.last_status_code, &delivery.last_error) {
        (Some(code), Some(error)) => format!("{code} {error}"),
        (Some(code), None) => code.to_string(),
        (None, Some(error)) => error.clone(),
        (None, None) => "-".to_owned(),
    }
}

fn print_deliveries(deliveries: &[WebhookDeliveryInfo]) {
    let mut rows = table::new(["ID", "EVENT", "STATUS", "ATTEMPTS", "LAST ANSWER", "NEXT ATTEMPT", "CREATED"]);
    for delivery in deliveries {
        rows.add_row([
            delivery.id.clone(),
            delivery.event_type.clone(),
            delivery.status.clone(),
            delivery.attempts.to_string(),
            last_answer(delivery),
            delivery.next_attempt_date.map_or_else(|| "-".to_owned(), base44::rfc3339::format),
            base44::rfc3339::format(delivery.created_date),
        ]);
    }
    say!("{}", rows.trim_fmt());
}
