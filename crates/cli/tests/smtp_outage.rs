//! The SMTP server down for a while in the middle of a stream of invites (issue 15, item 3):
//! every invite is answered 200 meanwhile, each email waits in the outbox with its backoff
//! visible in `GET /api/apps/{app_id}/invitations/{id}` (attempts, last error, next attempt),
//! and once the server is back every one arrives, once, within 30 s. Real processes (`usher
//! serve` on SQLite, `tests/smtp/server.py` killed and started again on the same port) and
//! real time.
//!
//! Bounded here (200 invites, the server down 12 s); `USHER_FAULT_SMTP_INVITES=1000
//! USHER_FAULT_SMTP_DOWN_SECS=120` runs the long form (tests/faults/run.sh). Prints one line of
//! figures (docs/reliability.md).

#[expect(dead_code, reason = "this suite starts its server with serve_with, not serve")]
mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base44::{DeliveryStatus, Invitation, InvitationFilter, Role};
use support::{create_app, serve_with, wait_healthy};
use usher_testkit::{SmtpServer, free_port};

/// How soon after the SMTP server is back every email must be out.
const RETURN_BOUND: Duration = Duration::from_secs(30);

/// The delivery worker's retry delays: the first, doubling up to the cap (`USHER_MAIL_RETRY_BASE`,
/// `USHER_MAIL_RETRY_CAP`, seconds). The cap (plus 20 % jitter) is how long after the server's
/// return the last retry may come, so it is what keeps the bound; with the defaults (30 s
/// doubling to 1 h) a 2-minute outage would put the next retry up to 144 s after the return.
const RETRY_BASE: &str = "2";
const RETRY_CAP: &str = "10";

/// Requests in flight at once at most (the invites are paced, not a burst).
const CLIENTS: usize = 8;

/// How many invitations answered during the outage are looked at for their backoff.
const SAMPLES: usize = 20;

/// An invite answered this long after the server went down was queued after it did: its first
/// attempt found the server gone (one answered sooner may have been sent just before).
const SURELY_AFTER: Duration = Duration::from_millis(200);

/// How long to keep watching after every email is out, for a second copy of any of them.
const SETTLE: Duration = Duration::from_secs(3);

/// A setting of the fault suite from the environment, or its bounded default.
fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// An invite answered 200.
#[derive(Clone)]
struct Answered {
    email: String,
    id: String,
    at: Instant,
}

/// Invites `outage{n}@example.com` for `n` in `0..count`, invite `n` sent `n × interval` after
/// `start`, [`CLIENTS`] at most at once; every one must be answered 200 (the database is fine,
/// only the SMTP server is down). Each answer is added to `answered` as it comes.
async fn paced_invites(
    client: base44::Client,
    count: usize,
    start: Instant,
    interval: Duration,
    answered: Arc<Mutex<Vec<Answered>>>,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (client, next, answered) = (client.clone(), next.clone(), answered.clone());
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return;
                }
                let due = start + interval.mul_f64(n as f64);
                tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
                let email = format!("outage{n}@example.com");
                let invited = client.users().invite_user(&email, Role::User).await;
                let invited = invited.unwrap_or_else(|err| panic!("invite {email}: {err}"));
                let id = invited.invitation().expect("a created invitation").id.clone();
                answered.lock().expect("lock").push(Answered { email, id, at: Instant::now() });
            }
        });
    }
    while let Some(task) = tasks.join_next().await {
        task.expect("no client panics");
    }
}

/// Emails received so far, per address.
fn per_address(smtp: &SmtpServer) -> HashMap<String, usize> {
    let mut per_address: HashMap<String, usize> = HashMap::new();
    for mail in smtp.mail.all() {
        *per_address.entry(mail.to()).or_default() += 1;
    }
    per_address
}

/// Whether `invitation` shows a delivery waiting for its retry: queued, tried, the error, when
/// the next attempt is due.
fn shows_backoff(invitation: &Invitation) -> bool {
    let delivery = &invitation.delivery;
    delivery.status == DeliveryStatus::Queued
        && delivery.attempts >= 1
        && delivery.last_error.as_deref().is_some_and(|error| !error.is_empty())
        && delivery.next_attempt_at.is_some()
}

/// Every invitation of the app, through the paged list.
async fn all_invitations(client: &base44::Client) -> Vec<Invitation> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let mut filter = InvitationFilter::new().limit(200);
        if let Some(cursor) = &cursor {
            filter = filter.after(cursor);
        }
        let page = client.invitations().list(&filter).await.expect("list");
        all.extend(page.items);
        if !page.has_more {
            return all;
        }
        cursor = page.next_cursor;
    }
}

/// Seconds from `earlier` to `later` (negative when `later` is before it).
fn seconds_between(earlier: SystemTime, later: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(after) => after.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invite_is_emailed_once_within_30_s_of_the_smtp_server_returning_from_an_outage() {
    let Some(mut smtp) = SmtpServer::start().await else { return };
    let invites = usize::try_from(setting("USHER_FAULT_SMTP_INVITES", 200)).expect("a count");
    let down = Duration::from_secs(setting("USHER_FAULT_SMTP_DOWN_SECS", 12));
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}/usher.db?mode=rwc", dir.path().display());
    let (app_id, api_key) = create_app(&database);
    let port = free_port();
    let retry = [("USHER_MAIL_RETRY_BASE", RETRY_BASE), ("USHER_MAIL_RETRY_CAP", RETRY_CAP)];
    let mut server = serve_with(&database, port, &smtp.url(), &retry);
    wait_healthy(port).await;
    let client = base44::Client::builder()
        .server_url(format!("http://127.0.0.1:{port}"))
        .app_id(&app_id)
        .token(&api_key)
        .build()
        .expect("client");

    // A steady stream of invites from a quarter of the outage before it until halfway through it.
    let lead = down / 4;
    let start = Instant::now();
    let interval = (lead + down / 2).div_f64(invites as f64);
    let answered = Arc::new(Mutex::new(Vec::new()));
    let stream = paced_invites(client.clone(), invites, start, interval, answered.clone());
    let outage = async {
        tokio::time::sleep_until(tokio::time::Instant::from_std(start + lead)).await;
        smtp.go_down().await;
        let down_at = Instant::now();
        let out_before = per_address(&smtp).len();
        // One invitation answered during the outage, watched throughout it: each attempt and
        // when the next is due, as the API shows them.
        let mut traced: Option<String> = None;
        let mut trace: Vec<(u32, Option<SystemTime>, Option<String>)> = Vec::new();
        let mut samples_seen = None;
        while down_at.elapsed() < down {
            if traced.is_none() {
                let answered = answered.lock().expect("lock");
                traced = answered.iter().find(|a| a.at > down_at + SURELY_AFTER).map(|a| a.id.clone());
            }
            if let Some(id) = &traced {
                let delivery = client.invitations().get(id).await.expect("GET the invitation").delivery;
                let seen = (delivery.attempts, delivery.next_attempt_at.map(SystemTime::from), delivery.last_error);
                if seen.1.is_some() && trace.last().is_none_or(|last| last.0 != seen.0) {
                    trace.push(seen);
                }
            }
            // Once the stream is over, a sample of the invitations answered during the outage:
            // each must show its backoff (it may be mid-attempt for a moment: looked at again).
            if samples_seen.is_none() && down_at.elapsed() >= down * 3 / 4 {
                let answered = answered.lock().expect("lock").clone();
                let during: Vec<Answered> = answered.into_iter().filter(|a| a.at > down_at + SURELY_AFTER).collect();
                let step = (during.len() / SAMPLES).max(1);
                let mut seen = Vec::new();
                for sample in during.iter().step_by(step).take(SAMPLES) {
                    let mut shown = client.invitations().get(&sample.id).await.expect("GET the invitation");
                    for _ in 0..20 {
                        if shows_backoff(&shown) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        shown = client.invitations().get(&sample.id).await.expect("GET the invitation");
                    }
                    seen.push(shown);
                }
                samples_seen = Some(seen);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        smtp.come_back().await;
        (down_at, Instant::now(), out_before, trace, samples_seen.unwrap_or_default())
    };
    let ((), (down_at, returned_at, out_before, trace, samples)) = tokio::join!(stream, outage);

    let answered = answered.lock().expect("lock").clone();
    let took = loop {
        let per_address = per_address(&smtp);
        if answered.iter().all(|a| per_address.contains_key(&a.email)) || returned_at.elapsed() > RETURN_BOUND {
            break returned_at.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(SETTLE).await;
    let per_address = per_address(&smtp);
    let invitations = all_invitations(&client).await;
    server.kill().expect("stop");
    server.wait().expect("reaped");

    let during = answered.iter().filter(|a| a.at > down_at).count();
    let by_id: HashMap<&str, &Invitation> = invitations.iter().map(|i| (i.id.as_str(), i)).collect();
    let lost: Vec<_> = answered.iter().filter(|a| !by_id.contains_key(a.id.as_str())).map(|a| &a.email).collect();
    let undelivered: Vec<_> =
        answered.iter().filter(|a| !per_address.contains_key(&a.email)).map(|a| &a.email).collect();
    let duplicates: Vec<_> = per_address.iter().filter(|&(_, &count)| count > 1).collect();
    let retried = invitations.iter().filter(|i| i.delivery.attempts > 1).count();
    let most_attempts = invitations.iter().map(|i| i.delivery.attempts).max().unwrap_or(0);
    let gaps: Vec<String> =
        trace.windows(2).filter_map(|pair| Some(format!("{:.1}", seconds_between(pair[0].1?, pair[1].1?)))).collect();
    let last_error = trace.last().and_then(|seen| seen.2.clone()).unwrap_or_default();
    eprintln!(
        "SMTP outage of {} s: {} of {invites} invites answered 200 ({during} during the outage), {} stored; {out_before} \
         addresses emailed before it; after the return {} addresses emailed, the last {:.1} s after it; {} duplicates; \
         {retried} emails took more than one attempt (at most {most_attempts}); one invitation during the outage showed \
         attempts {:?}, {} s between its due attempts, last error {last_error:?}",
        down.as_secs(),
        answered.len(),
        by_id.len(),
        per_address.len(),
        took.as_secs_f64(),
        duplicates.len(),
        trace.iter().map(|seen| seen.0).collect::<Vec<_>>(),
        gaps.join(", "),
    );

    assert_eq!(answered.len(), invites, "every invite answered 200 while only the SMTP server was down");
    assert!(during > 0 && out_before > 0, "invites before and during the outage ({out_before} out before it)");
    assert!(lost.is_empty(), "answered 200 but not stored: {lost:?}");
    assert!(undelivered.is_empty(), "not emailed within {RETURN_BOUND:?} of the server's return: {undelivered:?}");
    assert!(took <= RETURN_BOUND, "the last email {took:?} after the return");
    assert!(duplicates.is_empty(), "emailed more than once: {duplicates:?}");
    assert!(!samples.is_empty(), "invitations answered during the outage were looked at");
    for shown in &samples {
        assert!(shows_backoff(shown), "the backoff is visible during the outage: {:?}", shown.delivery);
        let error = shown.delivery.last_error.as_deref().unwrap_or_default();
        assert!(error.contains(&format!("127.0.0.1:{}", smtp.port)), "the error names the server: {error}");
        let after = by_id.get(shown.id.as_str()).expect("still listed");
        assert_eq!(after.delivery.status, DeliveryStatus::Sent, "{:?}", after.delivery);
        assert!(after.delivery.attempts > shown.delivery.attempts, "sent on a later attempt: {:?}", after.delivery);
        assert_eq!(after.delivery.next_attempt_at, None, "nothing due once sent");
    }
    assert!(trace.len() >= 2, "the watched invitation was retried during the outage: {} attempts seen", trace.len());
    assert!(invitations.iter().all(|i| i.delivery.status == DeliveryStatus::Sent), "every email sent");
}
