//! The console's audit log: who did what in the app, newest first.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use minijinja::{Value, context};
use serde::Deserialize;
use usher_core::model::Actor;

use super::session::{Session, failed};
use crate::extract::PageQuery;
use crate::state::AppState;

/// Events per page.
const PAGE: u32 = 100;

pub fn router() -> Router<AppState> {
    Router::new().route("/console/apps/{app_id}/audit", get(list))
}

#[derive(Deserialize)]
struct AuditQuery {
    /// The id of the last event of the page before.
    before: Option<i64>,
}

async fn list(State(state): State<AppState>, session: Session, PageQuery(query): PageQuery<AuditQuery>) -> Response {
    let mut events = match state.keys.audit(&session.app, &session.principal, query.before, PAGE + 1).await {
        Ok(events) => events,
        Err(err) => return failed(&state, &err),
    };
    let has_more = events.len() > PAGE as usize;
    events.truncate(PAGE as usize);
    let rows: Vec<Value> = events
        .iter()
        .map(|event| {
            let actor = match &event.actor {
                Actor::ApiKey(id) => format!("API key {id}"),
                Actor::User(id) => format!("member {id}"),
            };
            context! {
                at => event.created_at.to_human(),
                action => event.action,
                actor,
                email => event.subject_email,
                invitation_id => event.invitation_id,
            }
        })
        .collect();
    let next_url = has_more
        .then(|| events.last().map(|last| format!("/console/apps/{}/audit?before={}", session.app.id, last.id)))
        .flatten();
    let context = context! { section => "audit", rows, next_url, is_first_page => query.before.is_none() };
    session.page(&state, StatusCode::OK, "console/audit.html", context)
}
