//! The console's invitation pages: the table with its filters and paging, one invitation with
//! its email's delivery, inviting one address, and re-sending or revoking after a confirmation.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use minijinja::{Value, context};
use serde::Deserialize;
use usher_core::invite::{InviteError, InviteOutcome, Invitee, Run};
use usher_core::model::{DeliveryStatus, Invitation, InvitationStatus};
use usher_core::store::{AuditQuery, InvitationQuery};
use usher_core::{EmailAddress, InvitationId, Role, Timestamp};

use super::session::{FromThisSite, Session, back_with_notice, failed};
use crate::extract::{PageForm, PageQuery};
use crate::state::AppState;

/// Rows per page of the table.
const PAGE: u32 = 50;
/// The most audit events one invitation's page shows (each re-send adds one).
const AUDIT_LIMIT: u32 = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/apps/{app_id}/invitations", get(list).post(invite))
        .route("/console/apps/{app_id}/invitations/{invitation_id}", get(show))
        .route("/console/apps/{app_id}/invitations/{invitation_id}/{action}", get(confirm).post(act))
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    email: String,
    /// `queued`, `sent` or `failed`: the state of the latest email.
    #[serde(default)]
    delivery: String,
    #[serde(default)]
    after: String,
    /// What the last action did, said once at the top of the page.
    #[serde(default)]
    done: String,
}

/// The table of the app's invitations, oldest first, [`PAGE`] at a time.
async fn list(State(state): State<AppState>, session: Session, PageQuery(query): PageQuery<ListQuery>) -> Response {
    let mut problems = Vec::new();
    let status = match query.status.as_str() {
        "" => None,
        text => InvitationStatus::parse(text).or_else(|| {
            problems.push(format!("“{text}” is not a status; showing every status."));
            None
        }),
    };
    let email = match query.email.trim() {
        "" => None,
        text => EmailAddress::parse(text).ok().or_else(|| {
            problems.push(format!("“{text}” is not an email address; showing every address."));
            None
        }),
    };
    let delivery = match query.delivery.as_str() {
        "" => None,
        text => DeliveryStatus::parse(text).or_else(|| {
            problems.push(format!("“{text}” is not a delivery state; showing every state."));
            None
        }),
    };
    let after = cursor(&query.after);
    let is_first_page = after.is_none();
    let store_query = InvitationQuery { status, email, delivery, opened_by_person: None, after, limit: PAGE + 1 };
    let mut items = match state.invites.list(&session.app, store_query).await {
        Ok(items) => items,
        Err(err) => return failed(&state, &err),
    };
    let next = (items.len() > PAGE as usize).then(|| {
        items.truncate(PAGE as usize);
        items.last().map(|last| format!("{}.{}", last.created_at.as_millis(), last.id))
    });
    let now = state.clock.now();
    let rows: Vec<Value> = items.iter().map(|invitation| row(invitation, now)).collect();
    let page_url = |after: Option<&str>| {
        let mut query_string = url::form_urlencoded::Serializer::new(String::new());
        query_string
            .append_pair("status", &query.status)
            .append_pair("delivery", &query.delivery)
            .append_pair("email", &query.email);
        if let Some(after) = after {
            query_string.append_pair("after", after);
        }
        format!("/console/apps/{}/invitations?{}", session.app.id, query_string.finish())
    };
    let context = context! {
        section => "invitations",
        rows,
        status => query.status,
        email => query.email,
        delivery => query.delivery,
        deliveries => ["queued", "sent", "failed"],
        next_url => next.flatten().map(|after| page_url(Some(&after))),
        first_url => (!is_first_page).then(|| page_url(None)),
        is_first_page,
        done => query.done,
        problems,
        statuses => ["pending", "accepted", "revoked", "expired"],
    };
    session.page(&state, StatusCode::OK, "console/invitations.html", context)
}

/// A page cursor: the creation time and id of the last row of the page before.
fn cursor(text: &str) -> Option<(Timestamp, InvitationId)> {
    let (at, id) = text.split_once('.')?;
    Some((Timestamp::from_millis(at.parse().ok()?), InvitationId::parse(id).ok()?))
}

/// What a template shows of an invitation.
fn row(invitation: &Invitation, now: Timestamp) -> Value {
    let delivery = &invitation.delivery;
    context! {
        id => invitation.id.as_str(),
        email => invitation.email.as_str(),
        role => invitation.role.as_str(),
        status => invitation.status_at(now).as_str(),
        delivery => delivery.status.as_str(),
        attempts => delivery.attempts,
        last_error => delivery.last_error,
        next_attempt => delivery.next_attempt_at.map(Timestamp::to_human),
        sent_at => delivery.sent_at.map(Timestamp::to_human),
        times_sent => invitation.times_sent,
        last_sent => invitation.last_sent_at.to_human(),
        expires => invitation.expires_at.to_human(),
        reminder_due => invitation.reminder.due_at.map(Timestamp::to_human),
        reminded => invitation.reminder.reminded_at.map(Timestamp::to_human),
        created => invitation.created_at.to_human(),
        inviter => invitation.invited_by.display_name,
        is_pending => invitation.status_at(now) == InvitationStatus::Pending,
    }
}

#[derive(Deserialize)]
struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// Invites one address with the same service, rules and throttle as the API.
async fn invite(
    State(state): State<AppState>,
    _: FromThisSite,
    session: Session,
    PageForm(form): PageForm<InviteForm>,
) -> Response {
    let refused = |error: String, status| {
        let context = context! { section => "invitations", email => form.email, role => form.role, error };
        session.page(&state, status, "console/invite_refused.html", context)
    };
    let email = match EmailAddress::parse(form.email.trim()) {
        Ok(email) => email,
        Err(err) => return refused(err.to_string(), StatusCode::BAD_REQUEST),
    };
    let Ok(role) = form.role.parse::<Role>() else {
        return refused("Choose the role user or admin.".into(), StatusCode::BAD_REQUEST);
    };
    let done = match state.invites.invite(&session.app, &session.principal, Invitee::new(email, role), Run::Real).await
    {
        Ok(InviteOutcome::Created(invitation)) => format!("Invited {}; the email is queued.", invitation.email),
        Ok(InviteOutcome::Resent(invitation)) => {
            format!("{} was already invited: sent again with a new link.", invitation.email)
        }
        Ok(InviteOutcome::AlreadyMember { email, .. }) => {
            format!("{email} is already a member: a sign-in email is queued, the role is unchanged.")
        }
        Err(InviteError::Store(err)) => return failed(&state, &err),
        Err(err) => return refused(err.to_string(), status_of(err)),
    };
    back_with_notice(&session, "invitations", &done)
}

/// One invitation with its latest email's delivery.
async fn show(
    State(state): State<AppState>,
    session: Session,
    Path((_, invitation_id)): Path<(String, String)>,
    PageQuery(query): PageQuery<ListQuery>,
) -> Response {
    let invitation = match find(&state, &session, &invitation_id).await {
        Ok(invitation) => invitation,
        Err(page) => return page,
    };
    let audit_query =
        AuditQuery { invitation_id: Some(invitation.id.clone()), limit: AUDIT_LIMIT, ..AuditQuery::default() };
    let events = match state.keys.audit(&session.app, &session.principal, &audit_query).await {
        Ok(events) => events,
        Err(err) => return failed(&state, &err),
    };
    let events: Vec<Value> = events.iter().map(super::audit::row).collect();
    let attempts = match state.invites.delivery_attempts(&session.app, &invitation.id).await {
        Ok(attempts) => attempts,
        Err(err) => return failed(&state, &err),
    };
    let attempts: Vec<Value> = attempts
        .iter()
        .map(|attempt| {
            context! {
                at => attempt.at.to_human(),
                email => attempt.message_id.as_str(),
                attempt => attempt.attempt,
                outcome => attempt.outcome.as_str(),
                reply => attempt.reply,
            }
        })
        .collect();
    let context = context! {
        section => "invitations",
        invitation => row(&invitation, state.clock.now()),
        events,
        attempts,
        done => query.done,
    };
    session.page(&state, StatusCode::OK, "console/invitation.html", context)
}

/// Re-sending or revoking, the two actions on one invitation.
#[derive(Clone, Copy)]
enum Action {
    Resend,
    Revoke,
}

impl Action {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "resend" => Some(Self::Resend),
            "revoke" => Some(Self::Revoke),
            _ => None,
        }
    }
}

/// The confirmation page of an action.
async fn confirm(
    State(state): State<AppState>,
    session: Session,
    Path((_, invitation_id, action)): Path<(String, String, String)>,
) -> Response {
    let Some(action) = Action::parse(&action) else { return not_found(&state, &session) };
    let invitation = match find(&state, &session, &invitation_id).await {
        Ok(invitation) => invitation,
        Err(page) => return page,
    };
    let (verb, consequence) = match action {
        Action::Resend => ("resend", "A new email goes out with a new link; the links sent before stop working."),
        Action::Revoke => ("revoke", "The links sent before stop working and say the invitation was revoked."),
    };
    let context =
        context! { section => "invitations", invitation => row(&invitation, state.clock.now()), verb, consequence };
    session.page(&state, StatusCode::OK, "console/confirm.html", context)
}

/// Carries out a confirmed action, then shows the invitation again.
async fn act(
    State(state): State<AppState>,
    _: FromThisSite,
    session: Session,
    Path((_, invitation_id, action)): Path<(String, String, String)>,
) -> Response {
    let Some(action) = Action::parse(&action) else { return not_found(&state, &session) };
    let Ok(id) = InvitationId::parse(&invitation_id) else { return not_found(&state, &session) };
    let (app, by) = (&session.app, &session.principal);
    let done = match action {
        Action::Resend => state.invites.resend(app, by, &id).await.map(|_| "Sent again with a new link."),
        Action::Revoke => state.invites.revoke(app, by, &id).await.map(|_| "Revoked."),
    };
    let done = match done {
        Ok(done) => done.to_owned(),
        Err(InviteError::NotFound) => return not_found(&state, &session),
        Err(InviteError::Store(err)) => return failed(&state, &err),
        Err(err) => err.to_string(),
    };
    back_with_notice(&session, &format!("invitations/{id}"), &done)
}

async fn find(state: &AppState, session: &Session, raw: &str) -> Result<Invitation, Response> {
    let Ok(id) = InvitationId::parse(raw) else { return Err(not_found(state, session)) };
    match state.invites.get(&session.app, &id).await {
        Ok(Some(invitation)) => Ok(invitation),
        Ok(None) => Err(not_found(state, session)),
        Err(err) => Err(failed(state, &err)),
    }
}

fn not_found(state: &AppState, session: &Session) -> Response {
    let context =
        context! { title => "No such invitation", explanation => "This app has no invitation with this address." };
    session.page(state, StatusCode::NOT_FOUND, "console/message.html", context)
}

/// The status the API answers the same refusal with.
fn status_of(err: InviteError) -> StatusCode {
    crate::error::ApiError::from(err).status_and_code().0
}
