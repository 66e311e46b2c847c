//! The console's audit log: who did what in the app, newest first, filtered by action and by
//! who did it.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use minijinja::{Value, context};
use serde::Deserialize;
use usher_core::model::{Actor, AuditAction, AuditEvent};
use usher_core::store::AuditQuery;
use usher_core::{ApiKeyId, UserId};

use super::session::{Session, failed};
use crate::extract::PageQuery;
use crate::state::AppState;

/// Events per page.
const PAGE: u32 = 100;

pub fn router() -> Router<AppState> {
    Router::new().route("/console/apps/{app_id}/audit", get(list))
}

#[derive(Deserialize)]
struct AuditParams {
    /// The id of the last event of the page before.
    before: Option<i64>,
    /// Only this action (its stored name, e.g. `invitation.created`).
    #[serde(default)]
    action: String,
    /// Only what this actor did, as [`actor_param`] writes it.
    #[serde(default)]
    actor: String,
}

async fn list(State(state): State<AppState>, session: Session, PageQuery(params): PageQuery<AuditParams>) -> Response {
    let mut problems = Vec::new();
    let action = match params.action.as_str() {
        "" => None,
        text => AuditAction::parse(text).or_else(|| {
            problems.push(format!("“{text}” is not an action; showing every action."));
            None
        }),
    };
    let actor = match params.actor.as_str() {
        "" => None,
        text => parse_actor(text).or_else(|| {
            problems.push(format!("“{text}” is not an API key or member; showing everyone."));
            None
        }),
    };
    let query = AuditQuery { action, actor, invitation_id: None, before: params.before, limit: PAGE + 1 };
    let mut events = match state.keys.audit(&session.app, &session.principal, &query).await {
        Ok(events) => events,
        Err(err) => return failed(&state, &err),
    };
    let has_more = events.len() > PAGE as usize;
    events.truncate(PAGE as usize);
    let rows: Vec<Value> = events
        .iter()
        .map(|event| {
            let only_them = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("actor", &actor_param(&event.actor))
                .finish();
            let only_them = format!("/console/apps/{}/audit?{only_them}", session.app.id);
            context! { only_them, ..row(event) }
        })
        .collect();
    let page_url = |before: Option<i64>| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("action", &params.action).append_pair("actor", &params.actor);
        if let Some(before) = before {
            query.append_pair("before", &before.to_string());
        }
        format!("/console/apps/{}/audit?{}", session.app.id, query.finish())
    };
    let next_url = has_more.then(|| events.last().map(|last| page_url(Some(last.id)))).flatten();
    let is_filtered = action.is_some() || query.actor.is_some();
    let context = context! {
        section => "audit",
        rows,
        next_url,
        newest_url => page_url(None),
        is_first_page => params.before.is_none(),
        is_filtered,
        problems,
        action => params.action,
        actor => params.actor,
        actions => AuditAction::ALL.map(AuditAction::as_str),
    };
    session.page(&state, StatusCode::OK, "console/audit.html", context)
}

/// What a template shows of an audit event.
pub fn row(event: &AuditEvent) -> Value {
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
        detail => event.detail.as_ref().map(described),
    }
}

/// What changed, in a line: `locale = "de", max_invites_per_day = 100` for settings,
/// `invitation in de` for a template; any other detail as its JSON.
fn described(detail: &serde_json::Value) -> String {
    if let Some(settings) = detail.get("settings").and_then(serde_json::Value::as_object) {
        return settings.iter().map(|(name, value)| format!("{name} = {value}")).collect::<Vec<_>>().join(", ");
    }
    match (detail.get("kind").and_then(|k| k.as_str()), detail.get("locale").and_then(|l| l.as_str())) {
        (Some(kind), Some(locale)) => format!("{kind} in {locale}"),
        _ => detail.to_string(),
    }
}

/// An actor as the `actor` filter names it: `api_key:ID` or `user:ID`.
fn actor_param(actor: &Actor) -> String {
    match actor {
        Actor::ApiKey(id) => format!("api_key:{id}"),
        Actor::User(id) => format!("user:{id}"),
    }
}

fn parse_actor(text: &str) -> Option<Actor> {
    match text.trim().split_once(':')? {
        ("api_key", id) => ApiKeyId::parse(id).ok().map(Actor::ApiKey),
        ("user", id) => UserId::parse(id).ok().map(Actor::User),
        _ => None,
    }
}
