//! Inviting: `users.inviteUser` and `auth.inviteUser` of the official SDK, two routes with one
//! handler.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use usher_api_types as api;
use usher_core::invite::InviteOutcome;
use usher_core::{EmailAddress, InvitationId, Role};

use crate::error::ApiError;
use crate::extract::{ApiJson, AppContext, Caller};
use crate::state::AppState;
use crate::wire;

/// Both invite routes, and reading one invitation.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/apps/{app_id}/runtime/users/invite-user", post(invite_user))
        .route("/api/apps/{app_id}/users/invite-user", post(invite_user))
        .route("/api/apps/{app_id}/invitations/{invitation_id}", get(show_invitation))
        .route("/api/apps/{app_id}/invitations/lookup", post(look_up_invitation))
        .route("/api/apps/{app_id}/invitations/accept", post(accept_invitation))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupBody {
    token: String,
}

/// The API twin of opening the join page: what the invitation offers, without using it up.
/// (POST, so the token stays out of URLs and logs.)
async fn look_up_invitation(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    ApiJson(body): ApiJson<LookupBody>,
) -> Result<Json<Value>, ApiError> {
    let view = state.joins.show(&app.id, &body.token).await?;
    Ok(Json(json!({
        "app": { "id": app.id.as_str(), "name": app.name },
        "invitation": wire::invitation(&view.invitation, state.clock.now()),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptBody {
    token: String,
    #[serde(default)]
    full_name: String,
    password: String,
}

/// The API twin of submitting the join page: `{access_token, user}`.
async fn accept_invitation(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    ApiJson(body): ApiJson<AcceptBody>,
) -> Result<Json<Value>, ApiError> {
    let joined = state.joins.accept(&app.id, &body.token, &body.full_name, body.password).await?;
    Ok(Json(json!({ "access_token": joined.access_token, "user": wire::user(&joined.user) })))
}

/// One invitation with the delivery state of its latest email (admins and API keys only).
async fn show_invitation(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, invitation_id)): Path<(String, String)>,
) -> Result<Json<api::Invitation>, ApiError> {
    if !caller.principal.is_admin() {
        return Err(ApiError::AdminOnly);
    }
    let id = InvitationId::parse(&invitation_id).map_err(|_| ApiError::InvitationNotFound)?;
    let invitation = state.store.invitation(&caller.app.id, &id).await?.ok_or(ApiError::InvitationNotFound)?;
    Ok(Json(wire::invitation(&invitation, state.clock.now())))
}

/// The body as sent. Fields are loose JSON values so that each bad value gets its own error
/// (a wrong role is `INVALID_ROLE`, not a generic parse failure).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteUserBody {
    user_email: Option<Value>,
    role: Option<Value>,
}

/// Invites `user_email` with `role` into the app in the path.
async fn invite_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<InviteUserBody>,
) -> Result<Json<api::InviteUserResponse>, ApiError> {
    let email = match body.user_email {
        None | Some(Value::Null) => return Err(ApiError::MissingField("user_email")),
        Some(Value::String(text)) => EmailAddress::parse(&text)?,
        Some(_) => return Err(ApiError::InvalidBody("user_email must be a string".into())),
    };
    let role = match body.role {
        Some(Value::String(text)) => text.parse::<Role>().map_err(|_| ApiError::InvalidRole)?,
        _ => return Err(ApiError::InvalidRole),
    };

    let outcome = state.invites.invite(&caller.app, &caller.principal, email, role).await?;

    let now = state.clock.now();
    let response = match outcome {
        InviteOutcome::Created(invitation) => api::InviteUserResponse {
            outcome: api::InviteOutcome::Created,
            message: format!("Invitation sent to {}.", invitation.email),
            email: wire::delivery(&invitation.delivery),
            invitation: Some(wire::invitation(&invitation, now)),
            user: None,
        },
        InviteOutcome::Resent(invitation) => api::InviteUserResponse {
            outcome: api::InviteOutcome::Resent,
            message: format!(
                "Invitation sent again to {} with a new link; earlier links no longer work.",
                invitation.email
            ),
            email: wire::delivery(&invitation.delivery),
            invitation: Some(wire::invitation(&invitation, now)),
            user: None,
        },
        InviteOutcome::AlreadyMember(user) => api::InviteUserResponse {
            outcome: api::InviteOutcome::AlreadyMember,
            message: format!(
                "{} is already a member; a sign-in email was sent and their role is unchanged.",
                user.email
            ),
            email: wire::delivery(&usher_core::model::Delivery::queued()),
            invitation: None,
            user: Some(api::MemberSummary {
                id: user.id.to_string(),
                email: user.email.to_string(),
                role: wire::role(user.role),
            }),
        },
    };
    Ok(Json(response))
}
