//! `usher invitations …`, `usher keys …` and `usher app settings` against a real server.

use std::process::Output;

use base44::Role;
use usher_testkit::TestApp;

/// Runs the built `usher` with `args` against `app`, off the async runtime.
async fn usher(app: &TestApp, args: &[&str]) -> Output {
    let (base, id, key) = (app.base.to_string(), app.app_id.clone(), app.api_key.clone());
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_usher"))
            .args(args)
            .env("USHER_SERVER", base)
            .env("USHER_APP_ID", id)
            .env("USHER_API_KEY", key)
            .output()
            .expect("run usher")
    })
    .await
    .expect("join")
}

fn json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[tokio::test]
async fn invitations_are_listed_shown_resent_and_revoked() {
    let app = TestApp::spawn().await;
    app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");

    let page = json(&usher(&app, &["invitations", "list", "--json"]).await);
    let id = page["items"][0]["id"].as_str().expect("id").to_owned();
    let shown = json(&usher(&app, &["invitations", "show", &id, "--json"]).await);
    let resent = json(&usher(&app, &["invitations", "resend", &id, "--json"]).await);
    let revoked = json(&usher(&app, &["invitations", "revoke", &id, "--json"]).await);
    let again = usher(&app, &["invitations", "resend", &id]).await;
    let table = usher(&app, &["invitations", "list"]).await;

    assert_eq!(shown["email"], "ada@example.com");
    assert_eq!(resent["outcome"], "resent");
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("INVITATION_NOT_PENDING"));
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("ada@example.com") && table.contains("revoked"), "{table}");
}

#[tokio::test]
async fn keys_are_created_listed_and_revoked() {
    let app = TestApp::spawn().await;

    let created = json(&usher(&app, &["keys", "create", "--name", "ci", "--json"]).await);
    let listed = json(&usher(&app, &["keys", "list", "--json"]).await);
    let revoked = usher(&app, &["keys", "revoke", created["id"].as_str().expect("id")]).await;

    assert!(created["api_key"].as_str().is_some_and(|k| k.starts_with("usk_")));
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    assert!(revoked.status.success(), "{revoked:?}");
}

#[tokio::test]
async fn app_settings_are_shown_and_changed() {
    let app = TestApp::spawn().await;

    let changed = json(
        &usher(
            &app,
            &["app", "settings", "--set", "invite_policy=members", "--set", "invitation_ttl_seconds=3600", "--json"],
        )
        .await,
    );
    let refused = usher(&app, &["app", "settings", "--set", "invitation_ttl_seconds=1"]).await;

    assert_eq!(
        (changed["invite_policy"].as_str(), changed["invitation_ttl_seconds"].as_u64()),
        (Some("members"), Some(3600))
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("INVALID_SETTING"));
}
