//! Inviting: `users.inviteUser` and `auth.inviteUser` of the official SDK, two routes with one
//! handler.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use usher_api_types as api;
use usher_core::idempotency::{Keyed, RowKey, is_valid_key, row_fingerprint};
use usher_core::invite::{BulkItem, BulkRefusal, BulkRow, InviteError, InviteOutcome, Invitee, RowRender, Run};
use usher_core::model::{DeliveryStatus, InvitationStatus};
use usher_core::rules::idempotency::StoredResponse;
use usher_core::store::InvitationQuery;
use usher_core::{EmailAddress, InvitationId, Locale, Role};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::{Admin, ApiJson, AppContext, Caller, Paging};
use crate::idempotency;
use crate::metrics;
use crate::state::AppState;
use crate::wire;

/// Both invite routes, and reading one invitation.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invite_user))
        .routes(routes!(auth_invite_user))
        .routes(routes!(list_invitations))
        .routes(routes!(show_invitation))
        .routes(routes!(resend_invitation))
        .routes(routes!(revoke_invitation))
        .routes(routes!(look_up_invitation))
        .routes(routes!(accept_invitation))
        .merge(OpenApiRouter::new().routes(routes!(invite_many)).layer(DefaultBodyLimit::max(MAX_BULK_BODY_BYTES)))
}

/// Largest bulk request body: 1,000 rows, each up to a 254-byte address, a 255-byte row key
/// and a locale, as JSON. The other routes' 64 KiB would refuse a full batch of ordinary
/// addresses with their row keys.
const MAX_BULK_BODY_BYTES: usize = 1024 * 1024;

/// Largest page of invitations.
const MAX_PAGE: u32 = 1000;

/// The app's invitations, oldest first, `{items, next_cursor, has_more}` (admins and API keys).
#[utoipa::path(get, path = "/api/apps/{app_id}/invitations", tag = "invitations", params(("app_id" = String, Path, description = "The app's id"), ("opened" = Option<bool>, Query, description = "`true`: only invitations a person opened (`opened_by_person_at` set; scanner opens do not count); `false`: only those no person opened. With `status=pending`: opened, not accepted")), responses((status = 200, description = "`{items, next_cursor, has_more}`; query: status, email, delivery (queued, sent or failed: the state of the latest email), opened, limit, cursor", body = api::Page<api::Invitation>), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn list_invitations(
    State(state): State<AppState>,
    Admin(caller): Admin,
    paging: Paging<MAX_PAGE>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<api::Page<api::Invitation>>, ApiError> {
    let param = |name: &str| query.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let status =
        match param("status") {
            None => None,
            Some(text) => Some(InvitationStatus::parse(text).ok_or_else(|| {
                ApiError::InvalidQuery("`status` must be pending, accepted, revoked or expired".into())
            })?),
        };
    let email = match param("email") {
        None => None,
        Some(text) => Some(EmailAddress::parse(text)?),
    };
    let delivery = match param("delivery") {
        None => None,
        Some(text) => Some(
            DeliveryStatus::parse(text)
                .ok_or_else(|| ApiError::InvalidQuery("`delivery` must be queued, sent or failed".into()))?,
        ),
    };
    let opened_by_person = match param("opened") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::InvalidQuery("`opened` must be true or false".into())),
    };
    let after = paging.cursor().map(parse_cursor).transpose()?;
    let store_query = InvitationQuery { status, email, delivery, opened_by_person, after, limit: paging.fetch_limit() };
    let items = state.invites.list(&caller.app, store_query).await?;
    let now = state.clock.now();
    Ok(Json(paging.page(items, |i| format!("{}.{}", i.created_at.as_millis(), i.id), |i| wire::invitation(i, now))))
}

/// The invitation id in a path; a malformed one names no invitation.
fn invitation_id_of(raw: &str) -> Result<InvitationId, ApiError> {
    InvitationId::parse(raw).map_err(|_| ApiError::InvitationNotFound)
}

/// A cursor is the creation time and id of the last invitation of the previous page.
fn parse_cursor(cursor: &str) -> Result<(usher_core::Timestamp, InvitationId), ApiError> {
    let invalid = || ApiError::InvalidQuery("`cursor` is not one this server gave out".into());
    let (at, id) = cursor.split_once('.').ok_or_else(invalid)?;
    let at = at.parse::<i64>().map_err(|_| invalid())?;
    Ok((usher_core::Timestamp::from_millis(at), InvitationId::parse(id).map_err(|_| invalid())?))
}

/// Re-sends an invitation: a fresh link and expiry, under the same throttle as inviting again.
#[utoipa::path(post, path = "/api/apps/{app_id}/invitations/{invitation_id}/resend", tag = "invitations", params(("app_id" = String, Path, description = "The app's id"), ("invitation_id" = String, Path, description = "The invitation's id"), ("Idempotency-Key" = Option<String>, Header, description = "Optional. A repeat with the same key and body within 24 h gets the first response again (with `Idempotency-Replayed: true`) without doing anything; the same key with another body is 422 IDEMPOTENCY_KEY_REUSED; a repeat while the first still runs is 409 IDEMPOTENCY_KEY_IN_USE.")), responses((status = 200, description = "Sent again with a fresh link", body = api::InviteUserResponse), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn resend_invitation(
    State(state): State<AppState>,
    Admin(caller): Admin,
    headers: HeaderMap,
    Path((_, invitation_id)): Path<(String, String)>,
) -> Response {
    let route = format!("resend {invitation_id}");
    idempotency::keyed(&state, &caller.app.id, &headers, &route, b"", |key| async {
        let run = async {
            let id = invitation_id_of(&invitation_id)?;
            let now = state.clock.now();
            let key = key.map(|key| Keyed::new(key, move |result| stored_invite(result, now)));
            let result =
                state.invites.resend_with(&caller.app, &caller.principal, &id, key).await.map_err(ApiError::from);
            metrics::count_invite(result.as_ref());
            Ok::<_, ApiError>(Json(invite_response(result?, now)))
        };
        run.await.into_response()
    })
    .await
}

/// Revokes a pending invitation; its links then say so.
#[utoipa::path(post, path = "/api/apps/{app_id}/invitations/{invitation_id}/revoke", tag = "invitations", params(("app_id" = String, Path, description = "The app's id"), ("invitation_id" = String, Path, description = "The invitation's id"), ("Idempotency-Key" = Option<String>, Header, description = "Optional. A repeat with the same key and body within 24 h gets the first response again (with `Idempotency-Replayed: true`) without doing anything; the same key with another body is 422 IDEMPOTENCY_KEY_REUSED; a repeat while the first still runs is 409 IDEMPOTENCY_KEY_IN_USE.")), responses((status = 200, description = "Revoked", body = api::Invitation), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn revoke_invitation(
    State(state): State<AppState>,
    Admin(caller): Admin,
    headers: HeaderMap,
    Path((_, invitation_id)): Path<(String, String)>,
) -> Response {
    let route = format!("revoke {invitation_id}");
    idempotency::keyed(&state, &caller.app.id, &headers, &route, b"", |key| async {
        let run = async {
            let id = invitation_id_of(&invitation_id)?;
            let now = state.clock.now();
            let key = key.map(|key| {
                Keyed::new(key, move |result: Result<usher_core::model::Invitation, InviteError>| match result {
                    Ok(invitation) => idempotency::stored_json(&wire::invitation(&invitation, now)),
                    Err(err) => idempotency::stored_error(err.into()),
                })
            });
            let invitation = state.invites.revoke_with(&caller.app, &caller.principal, &id, key).await?;
            Ok::<_, ApiError>(Json(wire::invitation(&invitation, now)))
        };
        run.await.into_response()
    })
    .await
}

/// The API twin of opening the join page: what the invitation offers, without using it up.
/// (POST, so the token stays out of URLs and logs.)
#[utoipa::path(post, path = "/api/apps/{app_id}/invitations/lookup", tag = "invitations", params(("app_id" = String, Path, description = "The app's id")), request_body = api::LookupInvitationRequest, responses((status = 200, description = "`{app, invitation}` for a valid link token; never uses it up", body = api::InvitationLookup), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn look_up_invitation(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    ApiJson(body): ApiJson<api::LookupInvitationRequest>,
) -> Result<Json<api::InvitationLookup>, ApiError> {
    let view = state.joins.show(&app.id, &body.token).await?;
    Ok(Json(api::InvitationLookup {
        app: api::AppSummary { id: app.id.to_string(), name: app.name },
        invitation: wire::invitation(&view.invitation, state.clock.now()),
        existing_account: view.existing_account,
    }))
}

/// The API twin of submitting the join page: `{access_token, user}`.
#[utoipa::path(post, path = "/api/apps/{app_id}/invitations/accept", tag = "invitations", params(("app_id" = String, Path, description = "The app's id")), request_body = api::AcceptInvitationRequest, responses((status = 200, description = "`{access_token, user}`", body = api::SignedIn), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn accept_invitation(
    State(state): State<AppState>,
    AppContext(app): AppContext,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<api::AcceptInvitationRequest>,
) -> Result<Json<api::SignedIn>, ApiError> {
    let joined = state.joins.accept(&app.id, &body.token, &body.full_name, body.password, client.ip()).await?;
    Ok(Json(api::SignedIn { access_token: joined.access_token, user: wire::user(&joined.user) }))
}

/// One invitation with the delivery state of its latest email (admins and API keys only).
#[utoipa::path(get, path = "/api/apps/{app_id}/invitations/{invitation_id}", tag = "invitations", params(("app_id" = String, Path, description = "The app's id"), ("invitation_id" = String, Path, description = "The invitation's id")), responses((status = 200, description = "The invitation and its latest email's delivery", body = api::Invitation), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn show_invitation(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((_, invitation_id)): Path<(String, String)>,
) -> Result<Json<api::Invitation>, ApiError> {
    let id = invitation_id_of(&invitation_id)?;
    let invitation = state.invites.get(&caller.app, &id).await?.ok_or(ApiError::InvitationNotFound)?;
    Ok(Json(wire::invitation(&invitation, state.clock.now())))
}

/// The body as sent. Fields are loose JSON values so that each bad value gets its own error
/// (a wrong role is `INVALID_ROLE`, not a generic parse failure).
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct InviteUserBody {
    user_email: Option<Value>,
    role: Option<Value>,
    /// The email's language (not sent by the official SDK); absent: the app's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    locale: Option<Value>,
}

/// `?dry_run=true`: decide and answer, but write and send nothing.
fn run_of(query: &HashMap<String, String>) -> Result<Run, ApiError> {
    match query.get("dry_run").map(String::as_str) {
        None | Some("false") => Ok(Run::Real),
        Some("true") => Ok(Run::Dry),
        Some(_) => Err(ApiError::InvalidQuery("`dry_run` must be true or false".into())),
    }
}

/// Largest bulk request.
const MAX_BULK: usize = 1000;

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct BulkBody {
    items: Vec<Value>,
}

/// The field of a bulk row that carries the row's own key.
const ROW_KEY_FIELD: &str = "idempotency_key";

/// Parses one bulk row like the single invite's body, but into a refusal instead of an error,
/// with the row's own key (taken out of it) and the fingerprint of the rest.
fn bulk_row(mut value: Value) -> (BulkItem, Option<RowKey>) {
    let refuse = |err: ApiError| {
        let (_, code) = err.status_and_code();
        BulkRefusal { code, message: err.to_string() }
    };
    let key = match value.as_object_mut().and_then(|row| row.remove(ROW_KEY_FIELD)) {
        None | Some(Value::Null) => None,
        Some(Value::String(key)) if is_valid_key(&key) => Some(key),
        Some(_) => {
            let refusal = BulkRefusal {
                code: "INVALID_IDEMPOTENCY_KEY",
                message: format!("{ROW_KEY_FIELD} must be a string of 1 to 255 visible ASCII characters"),
            };
            return (Err(refusal), None);
        }
    };
    let body: InviteUserBody = match serde_json::from_value(value) {
        Ok(body) => body,
        Err(e) => return (Err(refuse(ApiError::InvalidBody(e.to_string()))), None),
    };
    let key =
        key.map(|key| RowKey { key, fingerprint: row_fingerprint(&serde_json::to_vec(&body).unwrap_or_default()) });
    (parse_invite(body).map_err(refuse), key)
}

/// Whether any row of a bulk body carries its own key.
fn has_row_keys(body: &BulkBody) -> bool {
    body.items.iter().any(|row| row.get(ROW_KEY_FIELD).is_some_and(|key| !key.is_null()))
}

/// Invites up to 1,000 people in one transaction; one result per item, in order. A bad row
/// never fails the others.
#[utoipa::path(post, path = "/api/apps/{app_id}/invitations/bulk", tag = "invitations", params(("app_id" = String, Path, description = "The app's id"), ("Idempotency-Key" = Option<String>, Header, description = "Optional. A repeat with the same key and body within 24 h gets the first response again (with `Idempotency-Replayed: true`) without doing anything; the same key with another body is 422 IDEMPOTENCY_KEY_REUSED; a repeat while the first still runs is 409 IDEMPOTENCY_KEY_IN_USE. Not together with `idempotency_key` in the rows (400 INVALID_BODY): rows keyed one by one are replayed one by one (each result then has `replayed: true`, and the summary counts `replayed`)."), ("dry_run" = Option<bool>, Query, description = "Optional. `true`: answer what the request would do (the same decisions on the same data, refusals with their status and code) and write and send nothing; the answer carries `dry_run: true` and no `Idempotency-Key` (header or row key) is kept or looked at.")), request_body = api::BulkInviteRequest, responses((status = 200, description = "One result per row, in order, and a summary. A row with an `idempotency_key` already answered for the same row within 24 h gets that result again with `replayed: true`; the key with another row is refused IDEMPOTENCY_KEY_REUSED, a key in flight (or already in an earlier row) IDEMPOTENCY_KEY_IN_USE, an invalid key INVALID_IDEMPOTENCY_KEY. Keyed rows' results are stored in the same transaction as their invitations.", body = api::BulkInviteResponse), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn invite_many(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    ApiJson(body): ApiJson<BulkBody>,
) -> Response {
    let run = match run_of(&query) {
        Ok(run) => run,
        Err(err) => return err.into_response(),
    };
    let row_keys = has_row_keys(&body);
    if row_keys && headers.contains_key(idempotency::KEY_HEADER) {
        let both = "send either an Idempotency-Key header or an idempotency_key per row, not both";
        return ApiError::InvalidBody(both.into()).into_response();
    }
    match run {
        // A dry run keeps no key: the real run that follows with the same key must run.
        Run::Dry => invite_many_now(&state, &caller, body, Run::Dry, None).await.into_response(),
        Run::Real if row_keys => invite_many_by_row(&state, &caller, body).await.into_response(),
        Run::Real => {
            let request = serde_json::to_vec(&body).unwrap_or_default();
            let app_id = caller.app.id.clone();
            idempotency::keyed(&state, &app_id, &headers, "bulk", &request, |key| async {
                invite_many_now(&state, &caller, body, Run::Real, key).await.into_response()
            })
            .await
        }
    }
}

/// Refuses a bulk body with more rows than one request takes.
fn check_size(body: &BulkBody) -> Result<(), ApiError> {
    if body.items.len() > MAX_BULK {
        return Err(ApiError::InvalidBody(format!("at most {MAX_BULK} items per request")));
    }
    Ok(())
}

/// The bulk invite itself.
async fn invite_many_now(
    state: &AppState,
    caller: &Caller,
    body: BulkBody,
    run: Run,
    key: Option<String>,
) -> Result<Json<api::BulkInviteResponse>, ApiError> {
    check_size(&body)?;
    let items = body.items.into_iter().map(|row| bulk_row(row).0).collect();
    let now = state.clock.now();
    let (app, by) = (&caller.app, &caller.principal);
    let outcomes = match key {
        Some(key) => {
            let key = Keyed::new(key, move |outcomes| {
                idempotency::stored_json(&bulk_response(outcomes, now, Run::Real, false))
            });
            state.invites.invite_many_keyed(app, by, items, key).await?
        }
        None => state.invites.invite_many(app, by, items, run).await?,
    };
    Ok(Json(bulk_response(outcomes, now, run, true)))
}

/// The bulk invite whose rows carry their own keys: each row replayed, refused or invited on
/// its own, the results of the rows that ran stored under their keys with their invitations.
async fn invite_many_by_row(
    state: &AppState,
    caller: &Caller,
    body: BulkBody,
) -> Result<Json<api::BulkInviteResponse>, ApiError> {
    check_size(&body)?;
    let rows = body.items.into_iter().map(bulk_row).collect();
    let now = state.clock.now();
    let render: RowRender = Arc::new(move |result| stored_row(result.map_err(ApiError::from), now));
    let rows = state.invites.invite_many_row_keyed(&caller.app, &caller.principal, rows, render).await?;
    idempotency::pause_after_keyed_write("bulk rows").await;
    let results = rows
        .into_iter()
        .enumerate()
        .map(|(index, row)| match row {
            BulkRow::Done(outcome) => {
                let outcome = outcome.map_err(ApiError::from);
                metrics::count_invite(outcome.as_ref());
                bulk_result(index, outcome, now, Run::Real)
            }
            BulkRow::Replayed(stored) => replayed_row(index, &stored),
        })
        .collect();
    Ok(Json(bulk_answer(results, Run::Real)))
}

/// What a row's key stores: the row's result as answered (its index is the one it has in
/// the request that replays it), with the status a single invite would have answered, which
/// decides whether it is kept (`rules::idempotency::keeps`).
fn stored_row(outcome: Result<InviteOutcome, ApiError>, now: usher_core::Timestamp) -> StoredResponse {
    let status = match &outcome {
        Ok(_) => axum::http::StatusCode::OK,
        Err(err) => err.status_and_code().0,
    };
    let result = bulk_result(0, outcome, now, Run::Real);
    match serde_json::to_string(&result) {
        Ok(body) => StoredResponse { status: status.as_u16(), body },
        // Not kept: the row runs again next time.
        Err(_) => StoredResponse { status: 500, body: String::new() },
    }
}

/// A row answered from its key: the stored result at this request's `index`.
fn replayed_row(index: usize, stored: &StoredResponse) -> api::BulkInviteResult {
    match serde_json::from_str::<api::BulkInviteResult>(&stored.body) {
        Ok(result) => result.replayed_at(index),
        Err(err) => {
            tracing::warn!(error = %err, "a bulk row's stored result could not be read");
            api::BulkInviteResult::Refused {
                index,
                outcome: api::BulkRefusalOutcome::Error,
                code: "INTERNAL".into(),
                message: "the stored result of this row's idempotency_key could not be read".into(),
                replayed: true,
            }
        }
    }
}

/// The answer to a bulk invite with these `outcomes`; `count` tallies them in the metrics
/// (not when rendering the response stored under a key: that is the same request).
fn bulk_response(
    outcomes: Vec<Result<InviteOutcome, InviteError>>,
    now: usher_core::Timestamp,
    run: Run,
    count: bool,
) -> api::BulkInviteResponse {
    let results: Vec<api::BulkInviteResult> = outcomes
        .into_iter()
        .enumerate()
        .map(|(index, outcome)| {
            let outcome = outcome.map_err(ApiError::from);
            if count && run == Run::Real {
                metrics::count_invite(outcome.as_ref());
            }
            bulk_result(index, outcome, now, run)
        })
        .collect();
    bulk_answer(results, run)
}

/// One row's result at `index`.
fn bulk_result(
    index: usize,
    outcome: Result<InviteOutcome, ApiError>,
    now: usher_core::Timestamp,
    run: Run,
) -> api::BulkInviteResult {
    match outcome {
        Ok(outcome) => {
            api::BulkInviteResult::Invited { index, response: invite_response_as(outcome, now, run), replayed: false }
        }
        Err(err) => {
            let (_, code) = err.status_and_code();
            let outcome = if code == "RESEND_THROTTLED" {
                api::BulkRefusalOutcome::Throttled
            } else {
                api::BulkRefusalOutcome::Error
            };
            api::BulkInviteResult::Refused {
                index,
                outcome,
                code: code.to_owned(),
                message: err.to_string(),
                replayed: false,
            }
        }
    }
}

/// The results with their summary: how many rows ended in each outcome, and how many were
/// replayed (when any were).
fn bulk_answer(results: Vec<api::BulkInviteResult>, run: Run) -> api::BulkInviteResponse {
    let mut summary = BTreeMap::<String, u64>::new();
    for result in &results {
        *summary.entry(result.outcome().to_owned()).or_default() += 1;
        if result.replayed() {
            *summary.entry("replayed".to_owned()).or_default() += 1;
        }
    }
    api::BulkInviteResponse { results, summary, dry_run: run == Run::Dry }
}

/// `auth.inviteUser`: the same code as `users.inviteUser` (rule 8 of DESIGN.md).
#[utoipa::path(post, path = "/api/apps/{app_id}/users/invite-user", tag = "auth", params(("app_id" = String, Path, description = "The app's id"), ("Idempotency-Key" = Option<String>, Header, description = "Optional. A repeat with the same key and body within 24 h gets the first response again (with `Idempotency-Replayed: true`) without doing anything; the same key with another body is 422 IDEMPOTENCY_KEY_REUSED; a repeat while the first still runs is 409 IDEMPOTENCY_KEY_IN_USE."), ("dry_run" = Option<bool>, Query, description = "Optional. `true`: answer what the request would do (the same decisions on the same data, refusals with their status and code) and write and send nothing; the answer carries `dry_run: true` and no `Idempotency-Key` is kept.")), request_body = api::InviteUserRequest, responses((status = 200, description = "The same as users.inviteUser", body = api::InviteUserResponse), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn auth_invite_user(
    state: State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    query: Query<HashMap<String, String>>,
    body: ApiJson<InviteUserBody>,
) -> Response {
    invite_user(state, caller, headers, query, body).await
}

/// Invites `user_email` with `role` into the app in the path.
#[utoipa::path(post, path = "/api/apps/{app_id}/runtime/users/invite-user", tag = "users", params(("app_id" = String, Path, description = "The app's id"), ("Idempotency-Key" = Option<String>, Header, description = "Optional. A repeat with the same key and body within 24 h gets the first response again (with `Idempotency-Replayed: true`) without doing anything; the same key with another body is 422 IDEMPOTENCY_KEY_REUSED; a repeat while the first still runs is 409 IDEMPOTENCY_KEY_IN_USE."), ("dry_run" = Option<bool>, Query, description = "Optional. `true`: answer what the request would do (the same decisions on the same data, refusals with their status and code) and write and send nothing; the answer carries `dry_run: true` and no `Idempotency-Key` is kept.")), request_body = api::InviteUserRequest, responses((status = 200, description = "What happened: created, resent or already_member", body = api::InviteUserResponse), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn invite_user(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    ApiJson(body): ApiJson<InviteUserBody>,
) -> Response {
    match run_of(&query) {
        Ok(Run::Real) => {}
        // A dry run keeps no key: the real run that follows with the same key must run.
        Ok(Run::Dry) => return invite_user_now(&state, &caller, body, Run::Dry, None).await.into_response(),
        Err(err) => return err.into_response(),
    }
    // Both invite routes are one operation: a key sent to one is replayed by the other.
    let request = serde_json::to_vec(&body).unwrap_or_default();
    idempotency::keyed(&state, &caller.app.id, &headers, "invite", &request, |key| async {
        invite_user_now(&state, &caller, body, Run::Real, key).await.into_response()
    })
    .await
}

/// The invite itself.
async fn invite_user_now(
    state: &AppState,
    caller: &Caller,
    body: InviteUserBody,
    run: Run,
    key: Option<String>,
) -> Result<Json<api::InviteUserResponse>, ApiError> {
    let now = state.clock.now();
    let (app, by) = (&caller.app, &caller.principal);
    let result = match (parse_invite(body), key) {
        (Ok(invitee), Some(key)) => {
            let key = Keyed::new(key, move |result| stored_invite(result, now));
            state.invites.invite_keyed(app, by, invitee, key).await.map_err(ApiError::from)
        }
        (Ok(invitee), None) => state.invites.invite(app, by, invitee, run).await.map_err(ApiError::from),
        (Err(refused), _) => Err(refused),
    };
    if run == Run::Real {
        metrics::count_invite(result.as_ref());
    }
    Ok(Json(invite_response_as(result?, now, run)))
}

/// The response an invite (or re-send) under an `Idempotency-Key` stores, rendered in its
/// transaction: what the route answers for `result`.
fn stored_invite(result: Result<InviteOutcome, InviteError>, now: usher_core::Timestamp) -> StoredResponse {
    match result {
        Ok(outcome) => idempotency::stored_json(&invite_response(outcome, now)),
        Err(err) => idempotency::stored_error(err.into()),
    }
}

/// The address, role and locale of an invite body, each checked with its own error.
fn parse_invite(body: InviteUserBody) -> Result<Invitee, ApiError> {
    let email = match body.user_email {
        None | Some(Value::Null) => return Err(ApiError::MissingField("user_email")),
        Some(Value::String(text)) => EmailAddress::parse(&text)?,
        Some(_) => return Err(ApiError::InvalidBody("user_email must be a string".into())),
    };
    let role = match body.role {
        Some(Value::String(text)) => text.parse::<Role>().map_err(|_| ApiError::InvalidRole)?,
        _ => return Err(ApiError::InvalidRole),
    };
    let locale = match body.locale {
        None | Some(Value::Null) => None,
        Some(Value::String(tag)) => Some(Locale::parse(&tag)?),
        Some(_) => return Err(ApiError::InvalidBody("locale must be a string".into())),
    };
    Ok(Invitee::new(email, role).in_locale(locale))
}

/// What an invite (or a re-send) did, for the caller.
fn invite_response(outcome: InviteOutcome, now: usher_core::Timestamp) -> api::InviteUserResponse {
    invite_response_as(outcome, now, Run::Real)
}

/// What an invite did, or (for [`Run::Dry`]) would do: then no invitation or email is shown,
/// since none exists.
fn invite_response_as(outcome: InviteOutcome, now: usher_core::Timestamp, run: Run) -> api::InviteUserResponse {
    let real = invite_response_real(outcome, now);
    if run == Run::Real {
        return real;
    }
    let email = real.invitation.as_ref().map_or_else(
        || real.user.as_ref().map_or_else(String::new, |user| user.email.clone()),
        |invitation| invitation.email.clone(),
    );
    let email = if email.is_empty() { "the address".to_owned() } else { email };
    let message = match real.outcome {
        api::InviteOutcome::Created => format!("Dry run: an invitation for {email} would be created and emailed."),
        api::InviteOutcome::Resent => {
            format!("Dry run: the pending invitation for {email} would be re-sent with a new link.")
        }
        api::InviteOutcome::AlreadyMember => {
            format!("Dry run: {email} is already a member and would get a sign-in email.")
        }
    };
    api::InviteUserResponse { message, invitation: None, email: None, dry_run: true, ..real }
}

fn invite_response_real(outcome: InviteOutcome, now: usher_core::Timestamp) -> api::InviteUserResponse {
    match outcome {
        InviteOutcome::Created(invitation) => api::InviteUserResponse {
            outcome: api::InviteOutcome::Created,
            message: format!("Invitation for {} created; its email is queued.", invitation.email),
            email: Some(wire::delivery(&invitation.delivery)),
            invitation: Some(wire::invitation(&invitation, now)),
            user: None,
            dry_run: false,
        },
        InviteOutcome::Resent(invitation) => api::InviteUserResponse {
            outcome: api::InviteOutcome::Resent,
            message: format!(
                "Invitation for {} re-sent with a new link (email queued); earlier links no longer work.",
                invitation.email
            ),
            email: Some(wire::delivery(&invitation.delivery)),
            invitation: Some(wire::invitation(&invitation, now)),
            user: None,
            dry_run: false,
        },
        InviteOutcome::AlreadyMember { email, member } => api::InviteUserResponse {
            outcome: api::InviteOutcome::AlreadyMember,
            message: format!("{email} is already a member; a sign-in email is queued and their role is unchanged."),
            email: Some(wire::delivery(&usher_core::model::Delivery::queued())),
            dry_run: false,
            invitation: None,
            user: member.map(|user| api::MemberSummary {
                id: user.id.to_string(),
                email: user.email.to_string(),
                role: wire::role(user.role),
            }),
        },
    }
}
