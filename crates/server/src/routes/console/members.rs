//! The console's members page.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use minijinja::{Value, context};

use super::session::Session;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/console/apps/{app_id}/members", get(list))
}

/// Every member of the app, as the API lists them for an admin.
async fn list(State(state): State<AppState>, session: Session) -> Response {
    let members = match state.members.visible(&session.app, &session.principal).await {
        Ok(members) => members,
        Err(err) => {
            tracing::error!(error = ?err, "the console could not list the members");
            return state.pages.failed(StatusCode::SERVICE_UNAVAILABLE);
        }
    };
    let rows: Vec<Value> = members
        .iter()
        .map(|member| {
            context! {
                email => member.email.as_str(),
                name => member.full_name,
                role => member.role.as_str(),
                is_disabled => member.is_disabled,
                joined => member.created_at.to_human(),
            }
        })
        .collect();
    session.page(&state, StatusCode::OK, "console/members.html", context! { section => "members", rows })
}
