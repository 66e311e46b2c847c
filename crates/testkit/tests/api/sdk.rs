//! The `base44` Rust SDK against a real server: sign-in, profile and the User entity.

use base44::{Role, UserQuery};
use serde_json::json;
use usher_testkit::TestApp;

use crate::support::assert_api_error;

#[tokio::test]
async fn sdk_signs_in_updates_the_profile_and_manages_members() {
    let app = TestApp::spawn().await;
    app.invite_and_join("ada@example.com", Role::User).await;
    app.invite_and_join("bob@example.com", Role::Admin).await;

    let signed_in = app
        .anonymous()
        .auth()
        .login_via_email_password("ada@example.com", "correct horse battery")
        .await
        .expect("login");
    let ada = app.anonymous().with_token(&signed_in.access_token);
    let updated = ada.auth().update_me(&json!({ "full_name": "Ada L" })).await.expect("update me");
    let admins = app
        .client()
        .entities()
        .user()
        .list(&UserQuery { filter: Some(json!({ "role": "admin" })), ..UserQuery::default() })
        .await
        .expect("list");
    let count = app.client().entities().user().count(None).await.expect("count");
    let promoted =
        app.client().entities().user().update(&updated.id, &json!({ "role": "admin" })).await.expect("update");

    assert_eq!(updated.full_name, "Ada L");
    assert_eq!(admins.len(), 1);
    assert_eq!(admins[0]["email"], "bob@example.com");
    assert_eq!(count, 2);
    assert_eq!(promoted.role, Role::Admin);
    app.client().entities().user().delete(&updated.id).await.expect("delete");
    assert_api_error(app.client().entities().user().get(&updated.id).await, 404, "USER_NOT_FOUND");
    assert_api_error(
        app.anonymous().auth().login_via_email_password("ada@example.com", "wrong password").await,
        401,
        "INVALID_CREDENTIALS",
    );
}
