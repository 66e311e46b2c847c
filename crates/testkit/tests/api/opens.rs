//! Opens of a join link: mail scanners (`HEAD`, their user agents, fetches right after
//! delivery, page views whose script never reports back) are told apart from a person, whose
//! page's script reports the view. None of it uses up the link or changes the invitation.

use std::time::Duration;

use base44::{DeliveryStatus, Invitation, InvitationFilter, InvitationStatus, Role};
use usher_core::Clock;
use usher_testkit::TestApp;

use crate::support::assert_error;

const PASSWORD: &str = "correct horse battery";
const BROWSER: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

/// Invites `email`, waits until its email was delivered, returns the invitation id and link.
async fn invite_delivered(app: &TestApp, email: &str) -> (String, String) {
    let invited = app.client().users().invite_user(email, Role::User).await.expect("invite");
    let id = invited.invitation().expect("invitation").id.clone();
    let link = app.mail.wait_for(email).await.join_link();
    for _ in 0..100 {
        if invitation(app, &id).await.delivery.status == DeliveryStatus::Sent {
            return (id, link);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the invitation email was never marked sent");
}

async fn invitation(app: &TestApp, id: &str) -> Invitation {
    app.client().invitations().get(id).await.expect("get invitation")
}

async fn get_as(app: &TestApp, link: &str, user_agent: &str) -> u16 {
    app.http().get(link).header("user-agent", user_agent).send().await.expect("GET").status().as_u16()
}

/// What the join page's script sends: the token, from the page's own origin.
async fn report_view(app: &TestApp, link: &str, fetch_site: &str) -> reqwest::Response {
    let url = url::Url::parse(link).expect("link");
    let token = url.query_pairs().find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()).expect("token");
    app.http()
        .post(format!("{}{}/opened", url.origin().ascii_serialization(), url.path()))
        .header("user-agent", BROWSER)
        .header("sec-fetch-site", fetch_site)
        .form(&[("token", token)])
        .send()
        .await
        .expect("POST opened")
}

#[tokio::test]
async fn head_scanner_agents_and_fetches_right_after_delivery_are_scanner_opens_and_the_link_still_works() {
    let app = TestApp::spawn().await;
    let (id, link) = invite_delivered(&app, "ada@example.com").await;
    let before = invitation(&app, &id).await;
    assert_eq!((before.scanner_opens, before.opened_by_person_at, before.last_opened_at), (0, None, None));

    // The clock has not moved since delivery: a browser-like fetch now is a scanner's.
    assert_eq!(get_as(&app, &link, BROWSER).await, 200);
    app.clock.advance(Duration::from_secs(60));
    let head = app.http().head(&link).header("user-agent", BROWSER).send().await.expect("HEAD");
    assert_eq!(head.status(), 200);
    for agent in ["Mozilla/5.0 (compatible; Microsoft SafeLinks)", "Mimecast-URL-Protect/2.0", "Proofpoint URL Defense"]
    {
        assert_eq!(get_as(&app, &link, agent).await, 200, "{agent}");
    }

    let after = invitation(&app, &id).await;
    assert_eq!(after.scanner_opens, 5);
    assert_eq!(after.opened_by_person_at, None);
    assert!(after.last_opened_at.is_some());
    assert_eq!(after.status, InvitationStatus::Pending);
    assert_eq!((after.updated_date, after.times_sent), (before.updated_date, before.times_sent), "opens are no edits");
    assert_eq!(app.accept(&link, "Ada", PASSWORD).await.status(), 303, "the link still works");
}

#[tokio::test]
async fn a_page_view_counts_as_a_scanner_until_the_pages_script_reports_a_person() {
    let app = TestApp::spawn().await;
    let (id, link) = invite_delivered(&app, "ada@example.com").await;
    app.clock.advance(Duration::from_secs(60));

    assert_eq!(get_as(&app, &link, BROWSER).await, 200);
    let viewed = invitation(&app, &id).await;
    assert_eq!((viewed.scanner_opens, viewed.opened_by_person_at), (1, None), "no script ran yet");

    let refused = report_view(&app, &link, "cross-site").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(invitation(&app, &id).await.opened_by_person_at, None, "a cross-site report records nothing");

    assert_eq!(report_view(&app, &link, "same-origin").await.status(), 204);
    let person = invitation(&app, &id).await;
    assert_eq!(person.scanner_opens, 0);
    assert_eq!(person.opened_by_person_at, Some(app.clock.now().to_offset_date_time()));
    assert_eq!(person.status, InvitationStatus::Pending);
    assert_eq!(app.accept(&link, "Ada", PASSWORD).await.status(), 303, "the link still works");
}

#[tokio::test]
async fn the_list_filters_opened_not_accepted() {
    let app = TestApp::spawn().await;
    let (opened, opened_link) = invite_delivered(&app, "ada@example.com").await;
    let (unopened, _) = invite_delivered(&app, "bob@example.com").await;
    let (accepted, accepted_link) = invite_delivered(&app, "cy@example.com").await;
    app.clock.advance(Duration::from_secs(60));
    for link in [&opened_link, &accepted_link] {
        assert_eq!(get_as(&app, link, BROWSER).await, 200);
        assert_eq!(report_view(&app, link, "same-origin").await.status(), 204);
    }
    assert_eq!(app.accept(&accepted_link, "Cy", PASSWORD).await.status(), 303);

    let ids = |filter: InvitationFilter| {
        let client = app.client();
        async move {
            let page = client.invitations().list(&filter).await.expect("list");
            page.items.into_iter().map(|i| i.id).collect::<Vec<_>>()
        }
    };
    let opened_not_accepted = InvitationFilter::new().opened(true).status(InvitationStatus::Pending);
    assert_eq!(ids(opened_not_accepted).await, std::slice::from_ref(&opened));
    assert_eq!(ids(InvitationFilter::new().opened(true)).await, [opened, accepted]);
    assert_eq!(ids(InvitationFilter::new().opened(false)).await, [unopened]);

    let path = format!("/api/apps/{}/invitations?opened=maybe", app.app_id);
    let response = app.http().get(app.url(&path)).bearer_auth(&app.api_key).send().await.expect("list");
    assert_error(response, 400, "INVALID_QUERY").await;
}
