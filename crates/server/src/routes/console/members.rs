//! The console's members page: every member, and changing a role, disabling, enabling or
//! removing one through the same service and rules as `PUT`/`DELETE …/entities/User/{id}`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::{Value, context};
use serde::Deserialize;
use serde_json::{Map, json};
use usher_core::UserId;
use usher_core::members::MemberError;

use super::session::{FromThisSite, Session, back_with_notice, failed};
use crate::extract::{PageForm, PageQuery};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/apps/{app_id}/members", get(list))
        .route("/console/apps/{app_id}/members/{user_id}", post(change))
        .route("/console/apps/{app_id}/members/{user_id}/remove", get(confirm_removal).post(remove))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    done: String,
}

/// Every member of the app, as the API lists them for an admin.
async fn list(State(state): State<AppState>, session: Session, PageQuery(query): PageQuery<ListQuery>) -> Response {
    let members = match state.members.visible(&session.app, &session.principal).await {
        Ok(members) => members,
        Err(err) => return failed(&state, &err),
    };
    let rows: Vec<Value> = members
        .iter()
        .map(|member| {
            context! {
                id => member.id.as_str(),
                email => member.email.as_str(),
                name => member.full_name,
                role => member.role.as_str(),
                is_disabled => member.is_disabled,
                joined => member.created_at.to_human(),
            }
        })
        .collect();
    session.page(
        &state,
        StatusCode::OK,
        "console/members.html",
        context! { section => "members", rows, done => query.done },
    )
}

#[derive(Deserialize)]
struct ChangeForm {
    /// `user` or `admin`.
    role: Option<String>,
    /// `disable` or `enable`.
    state: Option<String>,
}

/// Changes one member's role or state.
async fn change(
    State(state): State<AppState>,
    _: FromThisSite,
    session: Session,
    Path((_, user_id)): Path<(String, String)>,
    PageForm(form): PageForm<ChangeForm>,
) -> Response {
    let mut changes = Map::new();
    if let Some(role) = form.role {
        changes.insert("role".into(), json!(role));
    }
    match form.state.as_deref() {
        Some("disable") => changes.insert("disabled".into(), json!(true)),
        Some("enable") => changes.insert("disabled".into(), json!(false)),
        _ => None,
    };
    let Ok(id) = UserId::parse(&user_id) else { return back_with_notice(&session, "members", "No such member.") };
    let done = match state.members.update(&session.app, &session.principal, &id, changes).await {
        Ok(member) => {
            let now = if member.is_disabled { "disabled" } else { "active" };
            format!("{} is now {} and {now}.", member.email, member.role.as_str())
        }
        Err(MemberError::Store(err)) => return failed(&state, &err),
        Err(err) => format!("Not changed: {err}."),
    };
    back_with_notice(&session, "members", &done)
}

/// Asks before removing a member.
async fn confirm_removal(
    State(state): State<AppState>,
    session: Session,
    Path((_, user_id)): Path<(String, String)>,
) -> Response {
    let Ok(id) = UserId::parse(&user_id) else { return back_with_notice(&session, "members", "No such member.") };
    match state.members.get(&session.app, &session.principal, &id).await {
        Ok(member) => {
            let context = context! { section => "members", id => member.id.as_str(), email => member.email.as_str() };
            session.page(&state, StatusCode::OK, "console/remove_member.html", context)
        }
        Err(MemberError::Store(err)) => failed(&state, &err),
        Err(err) => back_with_notice(&session, "members", &format!("{err}.")),
    }
}

/// Removes a member (their invitation links and sessions stop working).
async fn remove(
    State(state): State<AppState>,
    _: FromThisSite,
    session: Session,
    Path((_, user_id)): Path<(String, String)>,
) -> Response {
    let Ok(id) = UserId::parse(&user_id) else { return back_with_notice(&session, "members", "No such member.") };
    let done = match state.members.delete(&session.app, &session.principal, &id).await {
        Ok(()) => "Removed.".to_owned(),
        Err(MemberError::Store(err)) => return failed(&state, &err),
        Err(err) => format!("Not removed: {err}."),
    };
    back_with_notice(&session, "members", &done)
}
