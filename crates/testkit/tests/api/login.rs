//! The hosted sign-in page and the logout redirect: back to the app only, never elsewhere.

use base44::Role;
use usher_testkit::{TestApp, access_token_of};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn sign_in_page_redirects_to_from_url_with_an_access_token() {
    let app = TestApp::spawn().await;
    app.invite_and_join("ada@example.com", Role::User).await;
    let from_url = "https://app.example.test/notes/42";

    let page = app.http().get(app.url("/login")).query(&[("from_url", from_url)]).send().await.expect("GET");
    let action = app.url(&format!("/apps/{}/login", app.app_id));
    let wrong = app
        .http()
        .post(action.clone())
        .form(&[("email", "ada@example.com"), ("password", "nope nope"), ("from_url", from_url)])
        .send()
        .await
        .expect("POST");
    let right = app
        .http()
        .post(action)
        .form(&[("email", "ada@example.com"), ("password", PASSWORD), ("from_url", from_url)])
        .send()
        .await
        .expect("POST");

    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("page").contains("Sign in to Acme Notes"));
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.expect("page").contains("invalid email or password"));
    assert_eq!(right.status(), 303);
    let location = right.headers().get("location").and_then(|v| v.to_str().ok()).expect("Location").to_owned();
    assert!(location.starts_with(&format!("{from_url}?access_token=")), "{location}");
    let me = app.anonymous().with_token(&access_token_of(&right)).auth().me().await.expect("me");
    assert_eq!(me.email, "ada@example.com");
}

#[tokio::test]
async fn sign_in_page_refuses_a_from_url_outside_the_apps_origins() {
    let app = TestApp::spawn().await;
    app.invite_and_join("ada@example.com", Role::User).await;
    let evil = "https://evil.example/steal";

    let by_origin = app.http().get(app.url("/login")).query(&[("from_url", evil)]).send().await.expect("GET");
    let by_app = app
        .http()
        .get(app.url(&format!("/apps/{}/login", app.app_id)))
        .query(&[("from_url", evil)])
        .send()
        .await
        .expect("GET");
    let posted = app
        .http()
        .post(app.url(&format!("/apps/{}/login", app.app_id)))
        .form(&[("email", "ada@example.com"), ("password", PASSWORD), ("from_url", evil)])
        .send()
        .await
        .expect("POST");

    assert_eq!(by_origin.status(), 400);
    assert_eq!(by_app.status(), 400);
    assert!(by_app.text().await.expect("page").contains("not allowed"));
    assert_eq!(posted.status(), 400, "no token goes to a foreign site");
    assert!(posted.headers().get("location").is_none());
}

#[tokio::test]
async fn logout_redirects_only_to_an_apps_own_address() {
    let app = TestApp::spawn().await;

    let home = app
        .http()
        .get(app.url("/api/apps/auth/logout"))
        .query(&[("from_url", "https://app.example.test/bye")])
        .send()
        .await
        .expect("GET");
    let evil = app
        .http()
        .get(app.url("/api/apps/auth/logout"))
        .query(&[("from_url", "https://evil.example/")])
        .send()
        .await
        .expect("GET");

    assert!(home.status().is_redirection());
    assert_eq!(home.headers().get("location").and_then(|v| v.to_str().ok()), Some("https://app.example.test/bye"));
    assert_eq!(evil.status(), 400);
    assert!(evil.headers().get("location").is_none());
}

#[tokio::test]
async fn sign_in_page_policy_lets_the_form_lead_to_the_from_urls_origin_only() {
    let app = TestApp::spawn().await;

    let page = app
        .http()
        .get(app.url(&format!("/apps/{}/login", app.app_id)))
        .query(&[("from_url", "https://app.example.test/notes/42")])
        .send()
        .await
        .expect("GET");

    let csp = page.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(csp.contains("form-action 'self' https://app.example.test;"), "{csp}");
    let html = page.text().await.expect("page").replace("&#x2f;", "/");
    assert!(html.contains(&format!(r#"href="/apps/{}/forgot-password""#, app.app_id)), "a Forgot password? link");
}

#[tokio::test]
async fn forgot_password_page_answers_the_same_for_a_member_and_a_stranger_and_mails_only_the_member() {
    let app = TestApp::spawn().await;
    app.invite_and_join("ada@example.com", Role::User).await;
    let action = app.url(&format!("/apps/{}/forgot-password", app.app_id));

    let member = app.http().post(action.clone()).form(&[("email", "ada@example.com")]).send().await.expect("POST");
    let stranger = app.http().post(action).form(&[("email", "eve@example.com")]).send().await.expect("POST");

    assert_eq!((member.status().as_u16(), stranger.status().as_u16()), (200, 200));
    assert_eq!(member.text().await.expect("page"), stranger.text().await.expect("page"));
    let mail = app.mail.wait_for_nth("ada@example.com", 2).await;
    assert!(mail.text().contains("/reset-password?token="), "{}", mail.text());
    assert!(app.mail.to("eve@example.com").is_empty());
}

#[tokio::test]
async fn home_page_says_what_the_server_is() {
    let app = TestApp::spawn().await;

    let page = app.http().get(app.url("/")).send().await.expect("GET");

    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("page").contains("/api/openapi.json"));
}

/// A store error is an error page (503, and logged), never "no such app" or "not allowed".
/// Always on SQLite, whatever `USHER_TEST_DATABASE` says: a file of our own is the simplest
/// database to break under a running server.
#[tokio::test]
async fn sign_in_and_logout_pages_say_something_went_wrong_when_the_apps_cannot_be_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("usher.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let app = TestApp::spawn_with(|s| s.database_url = usher_server::settings::DatabaseUrl::new(url)).await;
    // The apps vanish under the running server: every read of them now fails, as in an outage.
    let sqlite = rusqlite::Connection::open(&db).expect("open the database");
    sqlite.busy_timeout(std::time::Duration::from_secs(10)).expect("busy timeout");
    sqlite.execute_batch("ALTER TABLE apps RENAME TO apps_gone").expect("rename");
    let from_url = [("from_url", "https://app.example.test/notes/42")];

    let login = app.http().get(app.url("/login")).query(&from_url).send().await.expect("GET");
    let logout = app.http().get(app.url("/api/apps/auth/logout")).query(&from_url).send().await.expect("GET");

    for (name, response) in [("sign-in", login), ("logout", logout)] {
        assert_eq!(response.status(), 503, "{name}");
        let page = response.text().await.expect("page");
        assert!(page.contains("Something went wrong"), "{name}: {page}");
        assert!(!page.contains("No app here") && !page.contains("not allowed"), "{name}: {page}");
    }
}
