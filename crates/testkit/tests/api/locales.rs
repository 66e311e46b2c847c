//! Email in several languages and an app's own templates: an invite's `locale` (kept by its
//! re-sends), the app's default `locale`, `UNSUPPORTED_LOCALE`, templates saved only when they
//! render (`INVALID_TEMPLATE` otherwise, nothing stored), used by delivery, and previews.

use base44::{MailTemplateBody, Role, TemplateSource};
use serde_json::{Value, json};
use usher_testkit::{SmtpServer, TestApp};

use crate::support::{assert_api_error, assert_error};

fn templates_path(app: &TestApp, rest: &str) -> String {
    format!("/api/apps/{}/templates{rest}", app.app_id)
}

async fn put(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.http().put(app.url(path)).bearer_auth(&app.api_key).json(body).send().await.expect("request")
}

const GERMAN_INVITATION: &str = "Nehmen Sie die Einladung an und wählen Sie hier Ihr Passwort:";

#[tokio::test]
async fn an_invitation_in_german_arrives_in_german_over_smtp_and_so_does_its_resend() {
    let Some(smtp) = SmtpServer::start().await else { return };
    let app = TestApp::spawn_with_smtp(&smtp.url(), smtp.mail.clone()).await;

    let invited = app.client().users().invite_user_in("jonas@example.com", Role::User, "de-AT").await.expect("invite");
    let first = smtp.mail.wait_for("jonas@example.com").await;
    let id = invited.invitation().expect("invitation").id.clone();
    app.client().invitations().resend(&id).await.expect("resend");
    let second = smtp.mail.wait_for_nth("jonas@example.com", 2).await;

    for mail in [&first, &second] {
        assert_eq!(mail.header("Subject").as_deref(), Some("Ihre Einladung zu Acme Notes"));
        assert!(mail.text().contains(GERMAN_INVITATION), "{}", mail.text());
        assert!(mail.text().contains("als Nutzer beizutreten"), "{}", mail.text());
        assert!(mail.part("text/html").is_some_and(|html| html.contains("<html lang=\"de\">")));
    }
    assert_ne!(first.join_link(), second.join_link(), "the re-send carries a new link");
    let shown = app.client().invitations().get(&id).await.expect("invitation");
    assert_eq!(shown.locale.as_deref(), Some("de"));
    let response = app.accept(&second.join_link(), "Jonas", "correct horse battery").await;
    assert_eq!(response.status(), 303, "the German mail's link joins");
}

#[tokio::test]
async fn the_apps_default_locale_writes_invites_that_name_none_and_each_locale_can_be_asked_for() {
    let app = TestApp::spawn().await;
    let settings = app.client().settings().update(&json!({ "locale": "fr" })).await.expect("settings");
    assert_eq!(settings.locale, "fr");

    app.client().users().invite_user("chloe@example.com", Role::Admin).await.expect("invite");
    let french = app.mail.wait_for("chloe@example.com").await;
    assert_eq!(french.header("Subject").as_deref(), Some("Invitation à rejoindre Acme Notes"));
    assert!(french.text().starts_with("Bonjour,"), "{}", french.text());
    assert!(french.text().contains("en tant qu'administrateur"), "{}", french.text());

    for (locale, words) in
        [("en", "Accept the invitation"), ("de", "Einladung annehmen"), ("es", "Acepta la invitación")]
    {
        let to = format!("{locale}@example.com");
        app.client().users().invite_user_in(&to, Role::User, locale).await.expect("invite");
        let mail = app.mail.wait_for(&to).await;
        let html = mail.part("text/html").expect("html");
        assert!(html.contains(&format!("<html lang=\"{locale}\">")), "{locale}");
        assert!(mail.text().contains(words) || html.contains(words), "{locale}: {}", mail.text());
        let response = app.accept(&mail.join_link(), "Someone", "correct horse battery").await;
        assert_eq!(response.status(), 303, "{locale}: the link joins");
    }
}

#[tokio::test]
async fn an_unsupported_locale_is_refused_422_naming_the_supported_ones_and_nothing_is_sent() {
    let app = TestApp::spawn().await;

    let body = json!({ "user_email": "ada@example.com", "role": "user", "locale": "it" });
    let refused = app.post_json(&app.invite_path(), &body).await;
    let body = assert_error(refused, 422, "UNSUPPORTED_LOCALE").await;
    let bulk = app
        .client()
        .invitations()
        .bulk(vec![base44::InviteUserRequest {
            user_email: "bob@example.com".into(),
            role: Role::User,
            locale: Some("pt-BR".into()),
            idempotency_key: None,
        }])
        .await
        .expect("bulk");
    let bad_setting = app.client().settings().update(&json!({ "locale": "klingon" })).await;

    assert_eq!(body["detail"]["supported"], json!(["en", "de", "fr", "es"]));
    assert!(body["message"].as_str().is_some_and(|m| m.contains("`it`")), "{body}");
    assert_eq!(bulk.summary.get("error"), Some(&1), "{bulk:?}");
    let page = app.client().invitations().list(&Default::default()).await.expect("list");
    assert!(page.items.is_empty(), "nothing was invited: {page:?}");
    assert_api_error(bad_setting, 400, "INVALID_SETTING");
}

#[tokio::test]
async fn an_apps_own_template_is_used_for_its_kind_and_locale_until_it_is_removed() {
    let app = TestApp::spawn().await;
    let own = MailTemplateBody {
        subject: "Willkommen bei {{ app_name }}, {{ role }}".into(),
        text: "Hallo!\n\nHier geht es los: {{ link }}\n\nBis {{ expires_at }}.".into(),
        html: "<p>{{ inviter_name }} lädt ein: <a href=\"{{ link }}\">los</a></p>".into(),
    };
    let saved = app.client().templates().set("invitation", "de", &own).await.expect("saved");
    assert_eq!((saved.source, saved.subject.as_str()), (TemplateSource::App, own.subject.as_str()));

    app.client().users().invite_user_in("jonas@example.com", Role::User, "de").await.expect("invite");
    app.client().users().invite_user_in("ada@example.com", Role::User, "en").await.expect("invite");
    let german = app.mail.wait_for("jonas@example.com").await;
    let english = app.mail.wait_for("ada@example.com").await;

    assert_eq!(german.header("Subject").as_deref(), Some("Willkommen bei Acme Notes, user"));
    assert!(german.text().replace("\r\n", "\n").starts_with("Hallo!\n\nHier geht es los: http"), "{}", german.text());
    assert!(german.text().contains(" um "), "the expiry in German words: {}", german.text());
    assert_eq!(
        english.header("Subject").as_deref(),
        Some("You are invited to join Acme Notes"),
        "other locales keep the built-in"
    );
    assert_eq!(app.accept(&german.join_link(), "Jonas", "correct horse battery").await.status(), 303);

    let list = app.client().templates().list().await.expect("list");
    let sources: Vec<_> = list.items.iter().filter(|i| i.source == TemplateSource::App).collect();
    assert_eq!(sources.len(), 1, "{list:?}");
    assert_eq!((sources[0].kind.as_str(), sources[0].locale.as_str()), ("invitation", "de"));
    assert_eq!(list.items.len(), 6 * 4, "every kind in every locale");

    let removed = app.client().templates().remove("invitation", "de").await.expect("removed");
    assert_eq!(removed.source, TemplateSource::BuiltIn);
    assert_api_error(app.client().templates().remove("invitation", "de").await, 404, "TEMPLATE_NOT_FOUND");
    app.client().users().invite_user_in("lena@example.com", Role::User, "de").await.expect("invite");
    let built_in = app.mail.wait_for("lena@example.com").await;
    assert_eq!(built_in.header("Subject").as_deref(), Some("Ihre Einladung zu Acme Notes"));
}

#[tokio::test]
async fn broken_templates_are_refused_422_saying_what_is_wrong_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let path = templates_path(&app, "/invitation/de");
    let cases = [
        (
            "syntax error",
            json!({ "subject": "Hallo", "text": "Hallo\n{% if link %}\n{{ link }}", "html": "<a href=\"{{ link }}\">x</a>" }),
            "text",
            "line",
        ),
        (
            "unknown variable",
            json!({ "subject": "Hallo {{ first_name }}", "text": "{{ link }}", "html": "<a href=\"{{ link }}\">x</a>" }),
            "subject",
            "first_name",
        ),
        (
            "no join link",
            json!({ "subject": "Hallo", "text": "Willkommen bei {{ app_name }}", "html": "<a href=\"{{ link }}\">x</a>" }),
            "text",
            "link",
        ),
        (
            "no join link in html",
            json!({ "subject": "Hallo", "text": "{{ link }}", "html": "<p>Willkommen</p>" }),
            "html",
            "link",
        ),
    ];
    for (what, body, part, says) in cases {
        let refused = assert_error(put(&app, &path, &body).await, 422, "INVALID_TEMPLATE").await;
        assert_eq!(refused["detail"]["part"], part, "{what}: {refused}");
        assert!(refused["message"].as_str().is_some_and(|m| m.contains(says)), "{what}: {refused}");
    }
    let empty = json!({ "subject": "", "text": "", "html": "" });
    let unknown_kind = put(&app, &templates_path(&app, "/welcome/de"), &empty).await;
    assert_error(unknown_kind, 404, "UNKNOWN_TEMPLATE_KIND").await;
    let unknown_locale = put(&app, &templates_path(&app, "/invitation/it"), &empty).await;
    assert_error(unknown_locale, 422, "UNSUPPORTED_LOCALE").await;

    let list = app.client().templates().list().await.expect("list");
    assert!(list.items.iter().all(|i| i.source == TemplateSource::BuiltIn), "nothing stored: {list:?}");
    app.client().users().invite_user_in("jonas@example.com", Role::User, "de").await.expect("invite");
    let mail = app.mail.wait_for("jonas@example.com").await;
    assert!(mail.text().contains(GERMAN_INVITATION), "the built-in still goes out: {}", mail.text());
}

#[tokio::test]
async fn preview_renders_sample_data_for_the_built_in_the_saved_template_and_a_draft() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let templates = client.templates();

    let built_in = templates.preview("password_reset", "es", None).await.expect("preview");
    let draft = MailTemplateBody {
        subject: "{{ code }} für {{ app_name }}".into(),
        text: "Code: {{ code }}".into(),
        html: "<b>{{ code }}</b> <i>{{ app_name }}</i>".into(),
    };
    let drafted = templates.preview("signup_code", "de", Some(draft.clone())).await.expect("preview");
    templates.set("signup_code", "de", &draft).await.expect("saved");
    let saved = templates.preview("signup_code", "de", None).await.expect("preview");
    let broken = MailTemplateBody { text: "{{ code }".into(), ..draft };
    let refused = templates.preview("signup_code", "de", Some(broken)).await;
    let no_body = app.http().post(app.url(&templates_path(&app, "/sign_in/fr/preview"))).bearer_auth(&app.api_key);
    let no_body = no_body.send().await.expect("request");

    assert_eq!(
        (built_in.source, built_in.subject.as_str()),
        (TemplateSource::BuiltIn, "Restablece tu contraseña de Acme Notes")
    );
    assert!(built_in.text.contains("/reset-password?token=sample-token"), "{}", built_in.text);
    assert_eq!((drafted.source, drafted.subject.as_str()), (TemplateSource::Draft, "428913 für Acme Notes"));
    assert_eq!(drafted.html, "<b>428913</b> <i>Acme Notes</i>");
    assert_eq!((saved.source, saved.text.as_str()), (TemplateSource::App, "Code: 428913"));
    assert_api_error(refused, 422, "INVALID_TEMPLATE");
    assert_eq!(no_body.status(), 200);
    let no_body: Value = no_body.json().await.expect("preview");
    assert_eq!(no_body["subject"], "Connectez-vous à Acme Notes");
}
