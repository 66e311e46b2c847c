//! Bad input on the invite routes: each gets a 4xx JSON error naming the problem, and
//! nothing is written.

use base44::{InviteOutcome, Role};
use serde_json::{Value, json};
use usher_testkit::TestApp;

use crate::support::assert_error;

#[tokio::test]
async fn invite_user_returns_400_invalid_role_when_role_is_not_exactly_user_or_admin() {
    let app = TestApp::spawn().await;
    let roles = [
        json!("Admin"),
        json!("USER"),
        json!("owner"),
        json!(""),
        json!(" user"),
        json!(null),
        json!(5),
        json!(["user"]),
    ];

    for role in roles {
        for path in [app.invite_path(), format!("/api/apps/{}/users/invite-user", app.app_id)] {
            let response = app.post_json(&path, &json!({ "user_email": "a@example.com", "role": role })).await;

            let body = assert_error(response, 400, "INVALID_ROLE").await;
            let message = body["message"].as_str().expect("message");
            assert!(message.contains("\"user\"") && message.contains("\"admin\""), "{message}");
            assert_eq!(body["detail"]["field"], "role");
        }
    }
}

#[tokio::test]
async fn invite_user_returns_400_invalid_role_when_role_is_missing() {
    let app = TestApp::spawn().await;

    let response = app.post_json(&app.invite_path(), &json!({ "user_email": "a@example.com" })).await;

    assert_error(response, 400, "INVALID_ROLE").await;
}

#[tokio::test]
async fn invite_user_returns_400_invalid_email_with_the_reason_when_address_is_bad() {
    let app = TestApp::spawn().await;
    let long = format!("{}@example.com", "a".repeat(250));
    let cases = [
        ("not-an-email", "not valid"),
        ("a@b@example.com", "not valid"),
        ("a b@example.com", "spaces"),
        ("a@example.com\r\nBcc: victim@example.com", "line breaks"),
        ("a@intranet", "dot"),
        (long.as_str(), "longer"),
        ("   ", "empty"),
    ];

    for (email, reason) in cases {
        let response = app.post_json(&app.invite_path(), &json!({ "user_email": email, "role": "user" })).await;

        let body = assert_error(response, 400, "INVALID_EMAIL").await;
        assert!(body["message"].as_str().is_some_and(|m| m.contains(reason)), "{email:?}: {body}");
    }
}

#[tokio::test]
async fn invite_user_returns_400_when_fields_are_missing_unknown_or_mistyped() {
    let app = TestApp::spawn().await;

    let missing = app.post_json(&app.invite_path(), &json!({ "role": "user" })).await;
    let unknown = app
        .post_json(&app.invite_path(), &json!({ "user_email": "a@example.com", "role": "user", "is_admin": true }))
        .await;
    let mistyped = app.post_json(&app.invite_path(), &json!({ "user_email": 42, "role": "user" })).await;
    let not_object = app.post_json(&app.invite_path(), &json!(["a@example.com", "user"])).await;

    assert_eq!(assert_error(missing, 400, "MISSING_FIELD").await["detail"]["field"], "user_email");
    assert_eq!(assert_error(unknown, 400, "UNKNOWN_FIELD").await["detail"]["field"], "is_admin");
    assert_error(mistyped, 400, "INVALID_BODY").await;
    assert_error(not_object, 400, "INVALID_BODY").await;
}

#[tokio::test]
async fn invite_user_returns_4xx_json_when_body_is_malformed_mislabelled_or_too_large() {
    let app = TestApp::spawn().await;
    let url = app.url(&app.invite_path());
    let post = || app.http().post(url.clone()).bearer_auth(&app.api_key);

    let malformed =
        post().header("content-type", "application/json").body("{\"user_email\": ").send().await.expect("send");
    let not_json = post().header("content-type", "text/plain").body("{}").send().await.expect("send");
    let no_type = post().body(r#"{"user_email":"a@example.com","role":"user"}"#).send().await.expect("send");
    let huge = json!({ "user_email": "a@example.com", "role": "user", "padding": "x".repeat(200_000) });
    let too_large = post().json(&huge).send().await.expect("send");

    assert_error(malformed, 400, "INVALID_BODY").await;
    assert_error(not_json, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    assert_error(no_type, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    assert_error(too_large, 413, "PAYLOAD_TOO_LARGE").await;
}

#[tokio::test]
async fn refused_invites_write_nothing() {
    let app = TestApp::spawn().await;
    for body in [
        json!({ "user_email": "ada@example.com", "role": "owner" }),
        json!({ "user_email": "ada@example.com", "role": "user", "x": 1 }),
    ] {
        assert_eq!(app.post_json(&app.invite_path(), &body).await.status(), 400);
    }
    assert!(app.anonymous().users().invite_user("ada@example.com", Role::User).await.is_err());

    let first_real = app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");

    assert_eq!(first_real.outcome(), InviteOutcome::Created, "no invitation existed before");
    assert_eq!(app.mail.wait_for_count("ada@example.com", 1).await.len(), 1);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_errors() {
    let app = TestApp::spawn().await;

    let missing = app.http().get(app.url("/api/nothing-here")).send().await.expect("send");
    let wrong_method = app.http().get(app.url(&app.invite_path())).send().await.expect("send");

    assert_error(missing, 404, "NOT_FOUND").await;
    assert_error(wrong_method, 405, "METHOD_NOT_ALLOWED").await;
}

#[tokio::test]
async fn readyz_answers_200_with_every_check_ok_once_the_delivery_worker_runs() {
    let app = TestApp::spawn().await;
    let deadline = std::time::Instant::now() + usher_testkit::PATIENCE;

    let response = loop {
        let response = app.http().get(app.url("/readyz")).send().await.expect("send");
        if response.status() == 200 || std::time::Instant::now() > deadline {
            break response;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"], serde_json::json!({ "database": "ok", "migrations": "ok", "delivery": "ok" }));
}

#[tokio::test]
async fn healthz_answers_200_when_ready() {
    let app = TestApp::spawn().await;

    let response = app.http().get(app.url("/healthz")).send().await.expect("send");

    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.expect("json")["status"], "ok");
}

#[tokio::test]
async fn an_unknown_api_key_is_called_unknown_and_an_unknown_app_is_named() {
    let app = TestApp::spawn().await;
    let body = json!({ "user_email": "a@example.com", "role": "user" });
    let send = |path: String, key: String| app.http().post(app.url(&path)).bearer_auth(key).json(&body).send();

    let unknown_key = send(app.invite_path(), format!("usk_{}", "0".repeat(64))).await.expect("POST");
    let unknown_app =
        send("/api/apps/0123456789abcdef01234567/users/invite-user".into(), app.api_key.clone()).await.expect("POST");

    let key_error = assert_error(unknown_key, 401, "UNAUTHENTICATED").await;
    assert_eq!(key_error["message"], "this API key is unknown or was revoked");
    let app_error = assert_error(unknown_app, 404, "APP_NOT_FOUND").await;
    assert!(app_error["message"].as_str().is_some_and(|m| m.contains("0123456789abcdef01234567")), "{app_error}");
}

#[tokio::test]
async fn the_invite_answer_says_queued_until_the_email_is_sent() {
    let app = TestApp::spawn().await;

    app.invite_and_join("member@example.com", Role::User).await;

    let answer = app.client().users().invite_user("ada@example.com", Role::User).await.expect("invite");
    let id = answer.invitation().expect("invitation").id.clone();
    let again = app.client().invitations().resend(&id).await.expect("resend");
    let member = app.client().users().invite_user("member@example.com", Role::User).await.expect("member");

    assert_eq!(answer.message(), "Invitation for ada@example.com created; its email is queued.");
    assert_eq!(answer.invitation().map(|i| i.delivery.status), Some(base44::DeliveryStatus::Queued));
    assert!(again.message().contains("(email queued)"), "{}", again.message());
    assert!(member.message().contains("a sign-in email is queued"), "{}", member.message());
    for message in [answer.message(), again.message(), member.message()] {
        assert!(!message.contains(" sent to "), "no answer claims the email went out: {message}");
    }
}

/// Whether `content_type` is one of the two kinds of error Usher sends: the JSON error body,
/// or an HTML page.
fn is_json_or_html(content_type: &str) -> bool {
    content_type.starts_with("application/json") || content_type.starts_with("text/html")
}

/// A request body: its content type and bytes.
type Body = (&'static str, &'static [u8]);

#[tokio::test]
async fn no_route_answers_an_unreadable_request_with_plain_text_or_a_5xx() {
    // Every operation of the OpenAPI document (so a new route is covered), with bodies and
    // queries axum's own extractors would refuse in plain text.
    let app = TestApp::spawn().await;
    let doc: Value =
        app.http().get(app.url("/api/openapi.json")).send().await.expect("GET").json().await.expect("json");
    let unreadable: [(&str, Option<Body>); 6] = [
        ("?token=a&token=b", None),
        ("?limit=-1&status=%ff&%zz", None),
        ("", Some(("text/plain", b"{}"))),
        ("", Some(("application/json", b"{\"email\": \"\xff\"}"))),
        ("", Some(("application/json", b"{\"password\": 1}"))),
        ("", Some(("application/x-www-form-urlencoded", b"token=a&token=b&password=%ff"))),
    ];

    let mut wrong = Vec::new();
    let mut sent = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let path = path.replace("{app_id}", &app.app_id).replace(['{', '}'], "");
        for method in ["get", "put", "post", "patch", "delete"].into_iter().filter(|m| item.get(*m).is_some()) {
            for (query, body) in &unreadable {
                for token in [None, Some(&app.api_key)] {
                    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                    let mut request = app.http().request(method.clone(), app.url(&format!("{path}{query}")));
                    if let Some((content_type, bytes)) = body {
                        request = request.header("content-type", *content_type).body(bytes.to_vec());
                    }
                    if let Some(token) = token {
                        request = request.bearer_auth(token);
                    }
                    let response = request.send().await.expect("request");
                    sent += 1;
                    let status = response.status().as_u16();
                    let content_type = response
                        .headers()
                        .get("content-type")
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    if status >= 500 || (status >= 400 && !is_json_or_html(&content_type)) {
                        let sent_body = body.map(|(kind, bytes)| format!("{kind} {}", String::from_utf8_lossy(bytes)));
                        wrong.push(format!("{method} {path}{query} {sent_body:?}: {status} {content_type:?}"));
                    }
                }
            }
        }
    }

    assert!(sent >= 500, "{sent} requests");
    assert!(wrong.is_empty(), "{} of {sent} answers were wrong:\n{}", wrong.len(), wrong.join("\n"));
}
