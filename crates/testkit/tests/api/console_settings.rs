//! The console's forms over plain HTTP (the browser tests in tests/js drive the same pages in
//! Chromium): what the settings page saves is what the API returns, and what it refuses it
//! refuses with the API's message.

use base44::Role;
use reqwest::Method;
use serde_json::{Value, json};
use usher_testkit::TestApp;

use crate::console_sessions::Browser;

/// Signs `email` (an admin who joined with the console tests' password) in to the console;
/// returns the session's `Cookie` header.
async fn console_session(app: &TestApp, email: &str) -> String {
    Browser::sign_in(app, email).await.cookie
}

/// The settings form as the page fills it in for a new app, with `changes` typed over it.
fn settings_form(changes: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut form = vec![
        ("name", "Acme Notes"),
        ("app_url", "https://app.example.test/home"),
        ("invitation_ttl_hours", "168"),
        ("invite_policy", "admins"),
        ("sender_name", ""),
        ("sender_email", ""),
        ("cors_origins", ""),
        ("reminder_before_expiry_hours", ""),
        ("allowed_email_domains", ""),
        ("blocked_email_domains", ""),
        ("max_invites_per_day", ""),
        ("locale", "en"),
    ];
    for (field, value) in changes {
        form.retain(|(name, _)| name != field);
        form.push((field, value));
    }
    form
}

async fn post_settings(app: &TestApp, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let path = format!("/console/apps/{}/settings", app.app_id);
    app.http().post(app.url(&path)).header("cookie", cookie).form(form).send().await.expect("post settings")
}

async fn settings_page(app: &TestApp, cookie: &str) -> String {
    let path = format!("/console/apps/{}/settings", app.app_id);
    let page = app.http().get(app.url(&path)).header("cookie", cookie).send().await.expect("page");
    assert_eq!(page.status(), 200);
    page.text().await.expect("text")
}

async fn api_settings(app: &TestApp, method: Method, body: Option<Value>) -> reqwest::Response {
    let mut request =
        app.http().request(method, app.url(&format!("/api/apps/{}/settings", app.app_id))).bearer_auth(&app.api_key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("settings request")
}

/// The text of a page's error (`role="alert"`), its HTML escapes undone.
fn alert_of(page: &str) -> String {
    let start = page.find(r#"role="alert">"#).expect("an error on the page") + r#"role="alert">"#.len();
    let text = &page[start..start + page[start..].find('<').expect("end of the error")];
    text.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn every_setting_changed_in_the_console_is_what_the_api_returns() {
    let app = TestApp::spawn().await;
    app.invite_and_join_with(&app.client(), "root@acme.test", Role::Admin).await;
    let cookie = console_session(&app, "root@acme.test").await;

    let blank = settings_page(&app, &cookie).await;
    for control in [
        "id=\"locale\"",
        "value=\"fr\"",
        "id=\"max_invites_per_day\"",
        "id=\"allowed_email_domains\"",
        "id=\"blocked_email_domains\"",
        "id=\"reminder_before_expiry_hours\"",
    ] {
        assert!(blank.contains(control), "the page offers {control}");
    }
    let saved = post_settings(
        &app,
        &cookie,
        &settings_form(&[
            ("locale", "de"),
            ("max_invites_per_day", "100"),
            ("allowed_email_domains", "acme.test\r\n*.acme.test\r\n"),
            ("blocked_email_domains", "@Rival.test"),
            ("reminder_before_expiry_hours", "24"),
            ("invite_policy", "members"),
            ("is_signup_open", "on"),
            ("sender_name", "The Acme Team"),
        ]),
    )
    .await;
    assert_eq!(saved.status(), 303, "{:?}", saved.text().await);

    let shown: Value = api_settings(&app, Method::GET, None).await.json().await.expect("json");
    assert_eq!(shown["locale"], "de");
    assert_eq!(shown["max_invites_per_day"], 100);
    assert_eq!(shown["allowed_email_domains"], json!(["acme.test", "*.acme.test"]));
    assert_eq!(shown["blocked_email_domains"], json!(["rival.test"]));
    assert_eq!(shown["reminder_before_expiry_hours"], 24);
    assert_eq!(shown["invite_policy"], "members");
    assert_eq!(shown["is_signup_open"], true);
    assert_eq!(shown["sender_name"], "The Acme Team");
    // The root's invitation counts toward the allowance; the page shows used and limit.
    assert_eq!(shown["invites_last_24h"], 1);
    let page = settings_page(&app, &cookie).await;
    assert!(page.contains("1 sent in the last 24 hours of 100 allowed"), "{page}");
    assert!(page.contains(r#"<option value="de" selected>"#), "the stored locale is chosen");

    // Emptied in the console: off, as `null` is through the API.
    let off = post_settings(&app, &cookie, &settings_form(&[])).await;
    assert_eq!(off.status(), 303);
    let shown: Value = api_settings(&app, Method::GET, None).await.json().await.expect("json");
    assert_eq!((shown["max_invites_per_day"].clone(), shown["locale"].clone()), (Value::Null, json!("en")));
    assert_eq!(shown["allowed_email_domains"], json!([]));
}

#[tokio::test]
async fn an_invalid_setting_is_refused_in_the_console_with_the_api_message_and_the_form_kept() {
    let app = TestApp::spawn().await;
    app.invite_and_join_with(&app.client(), "root@acme.test", Role::Admin).await;
    let cookie = console_session(&app, "root@acme.test").await;

    for (field, typed, as_json) in [
        ("max_invites_per_day", "0", json!(0)),
        ("max_invites_per_day", "many", json!("many")),
        ("locale", "it", json!("it")),
        ("allowed_email_domains", "acme", json!(["acme"])),
        ("blocked_email_domains", "*.*.rival.test", json!(["*.*.rival.test"])),
        ("reminder_before_expiry_hours", "1.5", json!(1.5)),
        ("reminder_before_expiry_hours", "168", json!(168)),
    ] {
        let refused = post_settings(&app, &cookie, &settings_form(&[(field, typed)])).await;
        let api = api_settings(&app, Method::PATCH, Some(json!({ field: as_json }))).await;

        assert_eq!((refused.status().as_u16(), api.status().as_u16()), (400, 400), "{field}={typed}");
        let page = refused.text().await.expect("text");
        let api: Value = api.json().await.expect("json");
        assert_eq!(alert_of(&page), api["message"].as_str().expect("message"), "{field}={typed}");
        // What was typed is shown again (a select can only show its options).
        let kept = match field {
            "locale" => continue,
            "allowed_email_domains" | "blocked_email_domains" => format!(">{typed}</textarea>"),
            _ => format!("value=\"{typed}\""),
        };
        assert!(page.contains(&kept), "the form keeps {typed:?}");
    }
    let unchanged: Value = api_settings(&app, Method::GET, None).await.json().await.expect("json");
    assert_eq!((unchanged["max_invites_per_day"].clone(), unchanged["locale"].clone()), (Value::Null, json!("en")));
}

#[tokio::test]
async fn the_console_audit_log_filters_settings_changes_and_says_what_changed() {
    let app = TestApp::spawn().await;
    app.invite_and_join_with(&app.client(), "root@acme.test", Role::Admin).await;
    let cookie = console_session(&app, "root@acme.test").await;
    let saved = post_settings(&app, &cookie, &settings_form(&[("locale", "es"), ("max_invites_per_day", "7")])).await;
    assert_eq!(saved.status(), 303);

    let path = format!("/console/apps/{}/audit?action=app.settings_changed", app.app_id);
    let page = app.http().get(app.url(&path)).header("cookie", cookie).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("text");

    assert!(page.contains(r#"<option value="app.settings_changed" selected>"#), "offered as a filter");
    assert_eq!(page.matches("<tr><td>").count(), 1, "only the settings change: {page}");
    assert!(page.contains("locale = &quot;es&quot;, max_invites_per_day = 7"), "{page}");
    assert!(page.contains("member "), "the admin who saved it");
}
