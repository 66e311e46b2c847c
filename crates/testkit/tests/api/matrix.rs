//! The cross-app authorization matrix: every operation of the OpenAPI document (which is built
//! from the same registrations as the router, so a new route is in it) is called with every
//! kind of wrong credential, and none may succeed. A route is admin-only unless it is listed
//! below as open to anyone or to any member of the app, so a new route is held to the
//! strictest rule until someone decides otherwise.

use std::time::Duration;

use base44::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};
use usher_core::Clock;
use usher_core::access::Claims;
use usher_testkit::TestApp;

const PASSWORD: &str = "correct horse battery";
const ADMIN: &str = "admin@example.com";
const MEMBER: &str = "member@example.com";

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Anyone: sign-in, sign-up, reset, join, public settings, pages, health, the document.
    Public,
    /// Any member of the app (what they see is limited to themselves), API keys, admins.
    Member,
    /// API keys and admins of the app.
    Admin,
}

/// Routes anyone may call, as `METHOD path` of the OpenAPI document.
const PUBLIC: [&str; 25] = [
    "GET /",
    "GET /healthz",
    "GET /readyz",
    "GET /api/openapi.json",
    "GET /login",
    "GET /api/apps/auth/logout",
    "GET /api/apps/public/prod/public-settings/by-id/{app_id}",
    "POST /api/apps/{app_id}/analytics/track/batch",
    "POST /api/apps/{app_id}/auth/login",
    "POST /api/apps/{app_id}/auth/register",
    "POST /api/apps/{app_id}/auth/verify-otp",
    "POST /api/apps/{app_id}/auth/resend-otp",
    "POST /api/apps/{app_id}/auth/reset-password-request",
    "POST /api/apps/{app_id}/auth/reset-password",
    "POST /api/apps/{app_id}/invitations/lookup",
    "POST /api/apps/{app_id}/invitations/accept",
    "GET /apps/{app_id}/join",
    "POST /apps/{app_id}/join",
    "GET /apps/{app_id}/login",
    "POST /apps/{app_id}/login",
    "GET /apps/{app_id}/reset-password",
    "POST /apps/{app_id}/reset-password",
    "GET /apps/{app_id}/forgot-password",
    "POST /apps/{app_id}/forgot-password",
    "GET /apps/{app_id}/welcome",
];

/// Routes any member of the app may call.
const MEMBER_ROUTES: [&str; 6] = [
    "GET /api/apps/{app_id}/entities/User/me",
    "PUT /api/apps/{app_id}/entities/User/me",
    "GET /api/apps/{app_id}/entities/User",
    "GET /api/apps/{app_id}/entities/User/count",
    "GET /api/apps/{app_id}/entities/User/v2/list",
    "POST /api/apps/{app_id}/auth/change-password",
];

/// The browser SDK's analytics sink answers 204 to anything and stores nothing, without even
/// looking the app up; it is exempt from the `X-App-Id` check.
const SINK: &str = "POST /api/apps/{app_id}/analytics/track/batch";

fn access(operation: &str) -> Access {
    if PUBLIC.contains(&operation) {
        Access::Public
    } else if MEMBER_ROUTES.contains(&operation) {
        Access::Member
    } else {
        Access::Admin
    }
}

/// A plausible valid body, so a broken check would show as a success rather than a 400.
fn body(operation: &str, ids: &Ids) -> Option<Value> {
    let path = operation.split_once(' ').map_or(operation, |(_, path)| path);
    Some(match path {
        p if p.ends_with("/invite-user") => json!({ "user_email": "new@example.com", "role": "admin" }),
        p if p.ends_with("/invitations/bulk") => {
            json!({ "items": [{ "user_email": "bulk@example.com", "role": "admin" }] })
        }
        p if p.ends_with("/keys") => json!({ "name": "intruder" }),
        p if p.ends_with("/settings") => json!({ "app_url": "https://evil.example.test/" }),
        p if p.ends_with("/entities/User/{user_id}") => json!({ "role": "user", "disabled": true }),
        p if p.ends_with("/entities/User/me") => json!({ "team": "intruders" }),
        p if p.ends_with("/auth/change-password") => {
            json!({ "user_id": ids.admin, "current_password": PASSWORD, "new_password": "a new and long password" })
        }
        p if p.ends_with("/auth/login") => json!({ "email": ADMIN, "password": PASSWORD }),
        _ if operation.starts_with("POST") || operation.starts_with("PUT") || operation.starts_with("PATCH") => {
            json!({})
        }
        _ => return None,
    })
}

/// Ids of app A's things that the path placeholders are filled with.
struct Ids {
    app: String,
    admin: String,
    invitation: String,
    key: String,
}

fn concrete(path: &str, ids: &Ids) -> String {
    path.replace("{app_id}", &ids.app)
        .replace("{user_id}", &ids.admin)
        .replace("{invitation_id}", &ids.invitation)
        .replace("{key_id}", &ids.key)
}

/// One kind of credential: a name and the headers it sends.
struct Credential {
    name: &'static str,
    headers: Vec<(&'static str, String)>,
    /// Whether this credential is a legitimate plain member of app A.
    is_plain_member: bool,
}

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {token}"))]
}

/// `header.payload.` with `alg: none`, claiming `claims`.
fn unsigned_token(claims: &Claims) -> String {
    let signed =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(b"x")).expect("encode");
    let payload = signed.split('.').nth(1).expect("payload");
    // base64url of {"alg":"none","typ":"JWT"}
    format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
}

async fn login(app: &TestApp, app_id: &str, email: &str) -> String {
    let path = format!("/api/apps/{app_id}/auth/login");
    let response = app
        .http()
        .post(app.url(&path))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200, "{email} signs in");
    let body: Value = response.json().await.expect("json");
    body["access_token"].as_str().expect("token").to_owned()
}

/// Every `METHOD path` of the served OpenAPI document.
async fn operations(app: &TestApp) -> Vec<String> {
    let doc: Value =
        app.http().get(app.url("/api/openapi.json")).send().await.expect("GET").json().await.expect("json");
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "patch", "delete"] {
            if item.get(method).is_some() {
                operations.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    // Deletions last, so the checks with a valid credential at the end change nothing before them.
    operations.sort_by_key(|op| op.starts_with("DELETE"));
    operations
}

async fn send(app: &TestApp, operation: &str, ids: &Ids, headers: &[(&'static str, String)]) -> (u16, String) {
    let (method, path) = operation.split_once(' ').expect("METHOD path");
    let mut request =
        app.http().request(Method::from_bytes(method.as_bytes()).expect("method"), app.url(&concrete(path, ids)));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    if let Some(body) = body(operation, ids) {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn no_route_answers_2xx_to_a_credential_that_does_not_entitle_the_caller() {
    let app = TestApp::spawn().await;
    let (other_app, other_key) = app.create_other_app("Other").await;
    app.invite_and_join(ADMIN, Role::Admin).await;
    let stale_member_token = app.invite_and_join(MEMBER, Role::User).await;
    let other = app.client_of(&other_app, &other_key);
    app.invite_and_join_with(&other, "other-admin@example.com", Role::Admin).await;
    let invitation = app.client().users().invite_user("pending@example.com", Role::User).await.expect("invite");
    let key = app.client().keys().create("second").await.expect("key");
    // Every token issued so far expires; fresh ones are taken after.
    app.clock.advance(Duration::from_secs(25 * 60 * 60));
    let admin_token = login(&app, &app.app_id, ADMIN).await;
    let member_token = login(&app, &app.app_id, MEMBER).await;
    let other_member_token = login(&app, &other_app, "other-admin@example.com").await;
    let admin = app.anonymous().with_token(&admin_token).auth().me().await.expect("me");
    let ids = Ids {
        app: app.app_id.clone(),
        admin: admin.id.clone(),
        invitation: invitation.invitation().expect("an invitation").id.clone(),
        key: key.id,
    };
    let now = app.clock.now().as_unix_seconds();
    let forged = Claims {
        sub: admin.id.clone(),
        app_id: app.app_id.clone(),
        role: usher_core::Role::Admin,
        iat: now,
        exp: now + 3600,
        session_epoch: 0,
    };
    let wrong_key =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &forged, &EncodingKey::from_secret(&[7u8; 32]))
            .expect("encode");
    let credentials = [
        Credential { name: "no credential", headers: vec![], is_plain_member: false },
        Credential { name: "garbage", headers: bearer("garbage"), is_plain_member: false },
        Credential {
            name: "unknown API key",
            headers: bearer(&format!("usk_{}", "ab".repeat(32))),
            is_plain_member: false,
        },
        Credential { name: "other app's API key", headers: bearer(&other_key), is_plain_member: false },
        Credential { name: "other app's admin", headers: bearer(&other_member_token), is_plain_member: false },
        Credential { name: "plain member", headers: bearer(&member_token), is_plain_member: true },
        Credential { name: "expired token", headers: bearer(&stale_member_token), is_plain_member: false },
        Credential { name: "alg=none token", headers: bearer(&unsigned_token(&forged)), is_plain_member: false },
        Credential { name: "token signed with another key", headers: bearer(&wrong_key), is_plain_member: false },
        Credential {
            name: "X-App-Id of another app",
            headers: vec![("authorization", format!("Bearer {}", app.api_key)), ("x-app-id", other_app.clone())],
            is_plain_member: false,
        },
    ];
    let operations = operations(&app).await;
    for listed in PUBLIC.iter().chain(&MEMBER_ROUTES) {
        assert!(operations.iter().any(|op| op == listed), "{listed} is classified but not served");
    }

    let mut wrong = Vec::new();
    let mut checked = 0;
    for operation in &operations {
        let access = access(operation);
        let path = operation.split_once(' ').map_or("", |(_, path)| path);
        for credential in &credentials {
            let (status, body) = send(&app, operation, &ids, &credential.headers).await;
            checked += 1;
            let is_app_route = path.starts_with("/api/apps/{app_id}/") && operation != SINK;
            let may_succeed = match access {
                Access::Public => !(credential.name.starts_with("X-App-Id") && is_app_route),
                Access::Member => credential.is_plain_member,
                Access::Admin => false,
            };
            if status >= 500 || (!may_succeed && !(400..500).contains(&status)) {
                wrong.push(format!("{operation} with {}: {status} {body}", credential.name));
            }
            if access != Access::Public && credential.is_plain_member && body.contains(ADMIN) {
                wrong.push(format!("{operation} with {}: shows the admin: {body}", credential.name));
            }
        }
    }

    assert!(wrong.is_empty(), "{} of {checked} requests were answered wrongly:\n{}", wrong.len(), wrong.join("\n"));
    assert!(operations.len() >= 44 && checked >= 440, "{} operations, {checked} requests", operations.len());
    // The requests are ones the right credential gets through with, so the refusals above
    // are the credential's doing, not a malformed request's.
    let mut passed_auth = 0;
    for operation in operations.iter().filter(|op| access(op) != Access::Public) {
        let token = if access(operation) == Access::Member { &member_token } else { &app.api_key };
        let (status, body) = send(&app, operation, &ids, &bearer(token)).await;
        let is_auth_refusal = ["UNAUTHENTICATED", "WRONG_APP", "ADMIN_REQUIRED", "ADMINS_ONLY", "NOT_A_MEMBER"]
            .iter()
            .any(|code| body.contains(&format!("\"{code}\"")));
        assert!(status < 500 && !is_auth_refusal, "{operation} with the right credential: {status} {body}");
        passed_auth += usize::from((200..300).contains(&status));
    }
    assert!(passed_auth >= 15, "only {passed_auth} protected routes succeeded with the right credential");
}
