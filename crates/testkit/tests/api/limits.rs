//! Limits on what a caller may store: addresses are normalised before they are checked and
//! kept as checked, invisible characters are refused, and a member's custom fields are
//! bounded.

use base44::Role;
use serde_json::{Value, json};
use usher_testkit::TestApp;

use crate::support::assert_error;

#[tokio::test]
async fn invite_user_returns_400_invalid_email_when_the_address_hides_invisible_characters() {
    let app = TestApp::spawn().await;

    for email in
        ["\u{FEFF}ada@example.com", "ada\u{200B}@example.com", "\u{202E}ada@example.com", "ada@exam\u{00AD}ple.com"]
    {
        let response = app.post_json(&app.invite_path(), &json!({ "user_email": email, "role": "user" })).await;

        let body = assert_error(response, 400, "INVALID_EMAIL").await;
        assert!(body["message"].as_str().is_some_and(|m| m.contains("invisible")), "{email:?}: {body}");
    }
    let listed = app.client().invitations().list(&base44::InvitationFilter::new()).await.expect("list");
    assert!(listed.items.is_empty(), "nothing was stored: {listed:?}");
}

#[tokio::test]
async fn invite_user_stores_the_lowercased_address_that_was_length_checked() {
    let app = TestApp::spawn().await;
    // 120 × `İ` is 240 bytes, under the limit; lowercased (`i` + U+0307) it is 360.
    let grows = format!("{}@example.com", "İ".repeat(120));

    let short = app.post_json(&app.invite_path(), &json!({ "user_email": "İİ@Example.com", "role": "user" })).await;
    let long = app.post_json(&app.invite_path(), &json!({ "user_email": grows, "role": "user" })).await;

    assert_eq!(short.status(), 200);
    let body: Value = short.json().await.expect("json");
    assert_eq!(body["invitation"]["email"], "i\u{307}i\u{307}@example.com");
    let body = assert_error(long, 400, "INVALID_EMAIL").await;
    assert!(body["message"].as_str().is_some_and(|m| m.contains("longer")), "{body}");
}

#[tokio::test]
async fn update_me_returns_413_custom_data_too_large_beyond_16_kib_and_keeps_the_member_as_it_was() {
    let app = TestApp::spawn().await;
    let token = app.invite_and_join("ada@example.com", Role::User).await;
    let path = format!("/api/apps/{}/entities/User/me", app.app_id);
    let put = |body: Value| app.http().put(app.url(&path)).bearer_auth(&token).json(&body).send();
    let chunk = "x".repeat(6 * 1024);

    let first = put(json!({ "a": chunk, "b": chunk })).await.expect("PUT");
    let third = put(json!({ "c": chunk })).await.expect("PUT");
    let admin_path = format!("/api/apps/{}/entities/User", app.app_id);
    let users: Value = app
        .http()
        .get(app.url(&admin_path))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let id = users[0]["id"].as_str().expect("id").to_owned();
    let by_admin = app
        .http()
        .put(app.url(&format!("{admin_path}/{id}")))
        .bearer_auth(&app.api_key)
        .json(&json!({ "d": chunk }))
        .send()
        .await
        .expect("PUT");

    assert_eq!(first.status(), 200);
    let body = assert_error(third, 413, "CUSTOM_DATA_TOO_LARGE").await;
    assert_eq!(body["detail"]["limit"], 16 * 1024);
    assert_error(by_admin, 413, "CUSTOM_DATA_TOO_LARGE").await;
    let me = app.anonymous().with_token(&token).auth().me().await.expect("me");
    let me = serde_json::to_value(me).expect("json");
    assert_eq!(me["a"].as_str().map(str::len), Some(chunk.len()));
    assert!(me.get("c").is_none() && me.get("d").is_none(), "the refused fields were not stored");
}

#[tokio::test]
async fn update_me_keeps_extreme_numbers_in_custom_fields_readable() {
    // PostgreSQL's jsonb prints 1.7976931348623157e308 as 309 digits; reading that back must
    // give the same number, not a row nobody can read any more.
    let app = TestApp::spawn().await;
    let token = app.invite_and_join("ada@example.com", Role::User).await;
    let member = app.anonymous().with_token(&token);
    let numbers = json!({ "max": f64::MAX, "min": f64::MIN, "tiny": 5e-324, "big_int": 18446744073709551615u64, "neg": -9223372036854775808i64, "third": 0.1 });

    let updated = member.auth().update_me(&numbers).await.expect("update");
    let me = serde_json::to_value(member.auth().me().await.expect("me after the update")).expect("json");

    let updated = serde_json::to_value(updated).expect("json");
    for (field, value) in numbers.as_object().expect("object") {
        assert_eq!(&me[field], value, "{field} read back");
        assert_eq!(&updated[field], value, "{field} answered");
    }
    let listed = app.client().entities().user().list(&Default::default()).await.expect("the admin's list still works");
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn invite_user_stores_the_nfc_form_so_a_decomposed_address_is_the_same_person() {
    let app = TestApp::spawn().await;
    let composed = "am\u{E9}lie@example.com";

    let decomposed =
        app.post_json(&app.invite_path(), &json!({ "user_email": "AME\u{301}LIE@example.com", "role": "user" })).await;
    let again = app.post_json(&app.invite_path(), &json!({ "user_email": composed, "role": "user" })).await;

    assert_eq!(decomposed.status(), 200);
    let first: Value = decomposed.json().await.expect("json");
    assert_eq!(first["invitation"]["email"], composed, "stored composed and lowercased");
    let second: Value = again.json().await.expect("json");
    assert_eq!(second["outcome"], "resent", "the same address: {second}");
    assert_eq!(second["invitation"]["id"], first["invitation"]["id"]);
    let stored = app.query_text("SELECT email FROM invitations").await;
    assert_eq!(stored, [composed]);
}
