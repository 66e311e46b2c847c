//! `idempotency_key` in bulk rows: each row replayed, refused or invited on its own, so a
//! file fixed in one row and sent again invites that row only.

use std::time::Duration;

use base44::{InviteUserRequest, Role};
use serde_json::{Value, json};
use usher_testkit::TestApp;

use crate::idempotency::invitations;
use crate::support::assert_error;

fn bulk_path(app: &TestApp) -> String {
    format!("/api/apps/{}/invitations/bulk", app.app_id)
}

async fn bulk(app: &TestApp, items: Value) -> Value {
    let response = app.post_json(&bulk_path(app), &json!({ "items": items })).await;
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.expect("json")
}

/// Each row's outcome (or refusal code), with `+replayed` when it was replayed.
fn rows(answer: &Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|row| {
            let what = row["code"].as_str().or(row["outcome"].as_str()).unwrap_or_default().to_owned();
            if row["replayed"] == true { format!("{what}+replayed") } else { what }
        })
        .collect()
}

#[tokio::test]
async fn keyed_rows_are_replayed_row_by_row_and_the_summary_counts_replays() {
    let app = TestApp::spawn().await;
    let first = bulk(
        &app,
        json!([
            { "user_email": "ada@example.com", "role": "user", "idempotency_key": "k-ada" },
            { "user_email": "bob@example.com", "role": "user", "idempotency_key": "k-bob" },
        ]),
    )
    .await;
    assert_eq!(rows(&first), ["created", "created"]);
    assert!(first["summary"].get("replayed").is_none(), "no replays, no count: {first}");

    // The same file with a row added, one row changed under its old key and the rows reordered.
    let second = bulk(
        &app,
        json!([
            { "user_email": "cy@example.com", "role": "user", "idempotency_key": "k-cy" },
            { "user_email": "bob@example.com", "role": "user", "idempotency_key": "k-bob" },
            { "user_email": "ada@example.com", "role": "admin", "idempotency_key": "k-ada" },
            { "user_email": "dan@example.com", "role": "user" },
        ]),
    )
    .await;

    assert_eq!(rows(&second), ["created", "created+replayed", "IDEMPOTENCY_KEY_REUSED", "created"]);
    // Bob's first result, at the index he has now.
    let mut bob = first["results"][1].clone();
    bob["index"] = json!(1);
    bob["replayed"] = json!(true);
    assert_eq!(second["results"][1], bob);
    assert_eq!(second["summary"], json!({ "created": 3, "error": 1, "replayed": 1 }));
    let invited = invitations(&app).await;
    assert_eq!(invited.len(), 4, "ada, bob, cy, dan");
    assert!(invited.iter().all(|i| i["times_sent"] == 1 && i["role"] == "user"), "nobody sent twice: {invited:?}");
}

#[tokio::test]
async fn a_key_twice_in_one_request_refuses_the_later_rows() {
    let app = TestApp::spawn().await;

    let answer = bulk(
        &app,
        json!([
            { "user_email": "ada@example.com", "role": "user", "idempotency_key": "k" },
            { "user_email": "ada@example.com", "role": "user", "idempotency_key": "k" },
            { "user_email": "bob@example.com", "role": "user", "idempotency_key": "k" },
        ]),
    )
    .await;

    assert_eq!(rows(&answer), ["created", "IDEMPOTENCY_KEY_IN_USE", "IDEMPOTENCY_KEY_REUSED"]);
    assert_eq!(invitations(&app).await.len(), 1);
}

#[tokio::test]
async fn an_invalid_row_key_refuses_that_row_only() {
    let app = TestApp::spawn().await;

    let answer = bulk(
        &app,
        json!([
            { "user_email": "ada@example.com", "role": "user", "idempotency_key": "k".repeat(256) },
            { "user_email": "bob@example.com", "role": "user", "idempotency_key": 7 },
            { "user_email": "cy@example.com", "role": "user", "idempotency_key": "fine" },
        ]),
    )
    .await;

    assert_eq!(rows(&answer), ["INVALID_IDEMPOTENCY_KEY", "INVALID_IDEMPOTENCY_KEY", "created"]);
    assert_eq!(invitations(&app).await.len(), 1);
}

#[tokio::test]
async fn row_keys_and_a_header_key_are_not_taken_together() {
    let app = TestApp::spawn().await;
    let body = json!({ "items": [{ "user_email": "ada@example.com", "role": "user", "idempotency_key": "row" }] });

    let both = app
        .http()
        .post(app.url(&bulk_path(&app)))
        .bearer_auth(&app.api_key)
        .header("Idempotency-Key", "header")
        .json(&body)
        .send()
        .await
        .expect("request");

    assert_error(both, 400, "INVALID_BODY").await;
    assert!(invitations(&app).await.is_empty());
}

#[tokio::test]
async fn a_row_key_never_matches_a_header_key_of_another_route() {
    let app = TestApp::spawn().await;
    let row = json!({ "user_email": "ada@example.com", "role": "user" });
    let single = app
        .http()
        .post(app.url(&app.invite_path()))
        .bearer_auth(&app.api_key)
        .header("Idempotency-Key", "shared")
        .json(&row)
        .send()
        .await
        .expect("request");
    assert_eq!(single.status().as_u16(), 200);

    let answer =
        bulk(&app, json!([{ "user_email": "ada@example.com", "role": "user", "idempotency_key": "shared" }])).await;

    assert_eq!(rows(&answer), ["IDEMPOTENCY_KEY_REUSED"], "the single invite's answer is not a row's");
    assert_eq!(invitations(&app).await[0]["times_sent"], 1);
}

#[tokio::test]
async fn the_single_invite_takes_no_row_key_in_its_body() {
    let app = TestApp::spawn().await;

    let keyed = app
        .post_json(
            &app.invite_path(),
            &json!({ "user_email": "ada@example.com", "role": "user", "idempotency_key": "k" }),
        )
        .await;

    assert_error(keyed, 400, "UNKNOWN_FIELD").await;
}

#[tokio::test]
async fn a_dry_run_keeps_no_row_keys() {
    let app = TestApp::spawn().await;
    let items = json!([{ "user_email": "ada@example.com", "role": "user", "idempotency_key": "k" }]);
    let dry: Value = app
        .post_json(&format!("{}?dry_run=true", bulk_path(&app)), &json!({ "items": items }))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!((rows(&dry), dry["dry_run"].clone()), (vec!["created".to_owned()], json!(true)));

    let real = bulk(&app, items).await;

    assert_eq!(rows(&real), ["created"], "the real run ran: not replayed from the dry run");
    assert_eq!(invitations(&app).await.len(), 1);
}

#[tokio::test]
async fn a_throttled_row_is_not_kept_and_a_row_key_expires_after_a_day() {
    let app = TestApp::spawn_with(|s| s.resend_interval = Duration::from_secs(60)).await;
    let row = json!([{ "user_email": "ada@example.com", "role": "user", "idempotency_key": "k" }]);
    app.post_json(&app.invite_path(), &json!({ "user_email": "ada@example.com", "role": "user" })).await;

    assert_eq!(rows(&bulk(&app, row.clone()).await), ["RESEND_THROTTLED"]);
    assert_eq!(rows(&bulk(&app, row.clone()).await), ["RESEND_THROTTLED"], "ran again, not replayed");
    app.clock.advance(Duration::from_secs(60));
    assert_eq!(rows(&bulk(&app, row.clone()).await), ["resent"]);
    assert_eq!(rows(&bulk(&app, row.clone()).await), ["resent+replayed"]);

    app.clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(rows(&bulk(&app, row).await), ["resent"], "the key expired: the row ran again");
    assert_eq!(invitations(&app).await[0]["times_sent"], 3);
}

#[tokio::test]
async fn the_rust_sdk_sends_row_keys_and_reads_replayed() {
    let app = TestApp::spawn().await;
    let rows = || {
        vec![
            InviteUserRequest::new("ada@example.com", Role::User).with_idempotency_key("sdk-ada"),
            InviteUserRequest::new("bob@example.com", Role::User),
        ]
    };
    let invitations = app.client().invitations().bulk(rows()).await.expect("first");
    assert!(invitations.results.iter().all(|row| !row.replayed()));

    let again = app.client().invitations().bulk(rows()).await.expect("again");

    let replayed: Vec<bool> = again.results.iter().map(base44::BulkInviteResult::replayed).collect();
    assert_eq!(replayed, [true, false]);
    assert_eq!(again.results[0].outcome(), "created");
    assert_eq!(again.results[1].outcome(), "resent", "the row without a key ran again");
    assert_eq!(again.summary.get("replayed"), Some(&1));
}

#[tokio::test]
async fn openapi_documents_the_row_key_and_the_replayed_flag() {
    let app = TestApp::spawn().await;

    let doc: Value =
        app.http().get(app.url("/api/openapi.json")).send().await.expect("GET").json().await.expect("json");

    let schemas = &doc["components"]["schemas"];
    let key = &schemas["InviteUserRequest"]["properties"]["idempotency_key"];
    assert!(key["description"].as_str().is_some_and(|d| d.contains("IDEMPOTENCY_KEY_REUSED")), "{key}");
    let result = schemas["BulkInviteResult"].to_string();
    assert!(result.contains("\"replayed\""), "{result}");
    let summary = schemas["BulkInviteResponse"]["properties"]["summary"]["description"].to_string();
    assert!(summary.contains("replayed"), "{summary}");
    let bulk = doc["paths"]["/api/apps/{app_id}/invitations/bulk"]["post"].to_string();
    assert!(bulk.contains("idempotency_key"), "the route says how row keys behave");
}

/// A row refused by the store (403 `DOMAIN_NOT_ALLOWED`) is kept like a result: the same row
/// gets its refusal again, marked replayed, even after the lists change.
#[tokio::test]
async fn a_refused_row_is_replayed_as_refused() {
    let app = TestApp::spawn().await;
    let settings = format!("/api/apps/{}/settings", app.app_id);
    let blocked = |list: Value| {
        app.http().patch(app.url(&settings)).bearer_auth(&app.api_key).json(&json!({ "blocked_email_domains": list }))
    };
    assert!(blocked(json!(["gmail.com"])).send().await.expect("settings").status().is_success());
    let row = json!([{ "user_email": "eve@gmail.com", "role": "user", "idempotency_key": "k-eve" }]);

    let first = bulk(&app, row.clone()).await;
    assert!(blocked(json!([])).send().await.expect("settings").status().is_success());
    let again = bulk(&app, row).await;

    assert_eq!(rows(&first), ["DOMAIN_NOT_ALLOWED"]);
    assert_eq!(rows(&again), ["DOMAIN_NOT_ALLOWED+replayed"]);
    assert_eq!(again["results"][0]["message"], first["results"][0]["message"]);
    assert_eq!(again["summary"], json!({ "error": 1, "replayed": 1 }));
    assert!(invitations(&app).await.is_empty());
}

#[tokio::test]
async fn a_full_batch_of_keyed_rows_with_long_addresses_is_taken_and_a_body_past_a_mebibyte_is_not() {
    let app = TestApp::spawn().await;
    // 1,000 rows as `usher invite --csv` sends them: about 150 bytes each, past the 64 KiB that
    // the other routes take.
    let items: Vec<Value> = (0..1000)
        .map(|n| {
            json!({
                "user_email": format!("firstname.lastname.{n:04}@engineering.example-company.com"),
                "role": "user",
                "idempotency_key": format!("usher-csv-{n:064x}"),
            })
        })
        .collect();
    let full = json!({ "items": items });
    assert!(full.to_string().len() > 128 * 1024, "the batch is well past 64 KiB");

    let answer = bulk(&app, full["items"].clone()).await;
    let again = bulk(&app, full["items"].clone()).await;
    let huge =
        json!({ "items": [{ "user_email": "ada@example.com", "role": "user", "padding": "x".repeat(1_100_000) }] });
    let too_large = app.post_json(&bulk_path(&app), &huge).await;

    assert_eq!(answer["summary"], json!({ "created": 1000 }));
    assert_eq!(again["summary"], json!({ "created": 1000, "replayed": 1000 }));
    assert_error(too_large, 413, "PAYLOAD_TOO_LARGE").await;
}
