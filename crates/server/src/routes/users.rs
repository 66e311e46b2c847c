//! The built-in `User` entity at the SDK's entity routes (`base44.entities.User`,
//! `base44.auth.me()` / `updateMe()`). Listing supports the SDK's `q` (a JSON object of
//! field values to match), `sort` (`field` or `-field`), `limit`, `skip` and `fields`.

use std::cmp::Ordering;
use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Map, Value};
use usher_api_types as api;
use usher_core::UserId;
use usher_core::access::Principal;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::{ApiJson, Caller, Paging, whole_number};
use crate::state::AppState;
use crate::wire;

/// Largest page a list returns.
const MAX_LIMIT: u32 = 5000;

/// The `User` entity routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show_me, update_me))
        .routes(routes!(list_users, refuse_create))
        .routes(routes!(count_users))
        .routes(routes!(list_users_page))
        .routes(routes!(show_user, update_user, delete_user))
}

fn me(caller: &Caller) -> Result<&usher_core::model::User, ApiError> {
    match &caller.principal {
        Principal::Member(user) => Ok(user),
        Principal::ApiKey(_) => Err(ApiError::NotAMember),
    }
}

/// The signed-in member, in Base44's `User` shape.
#[utoipa::path(get, path = "/api/apps/{app_id}/entities/User/me", tag = "entities", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "The signed-in member", body = api::User), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn show_me(caller: Caller) -> Result<Json<api::User>, ApiError> {
    Ok(Json(wire::user(me(&caller)?)))
}

/// Changes the signed-in member's name or custom fields.
#[utoipa::path(put, path = "/api/apps/{app_id}/entities/User/me", tag = "entities", params(("app_id" = String, Path, description = "The app's id")), request_body = api::UpdateUserRequest, responses((status = 200, description = "The member after the change", body = api::User), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    // Read as loose JSON (documented as `UpdateUserRequest`): custom fields are any JSON, and
    // each bad field gets its own error from core::members.
    ApiJson(changes): ApiJson<Map<String, Value>>,
) -> Result<Json<api::User>, ApiError> {
    let id = me(&caller)?.id.clone();
    let user = state.members.update(&caller.app, &caller.principal, &id, changes).await?;
    Ok(Json(wire::user(&user)))
}

#[utoipa::path(post, path = "/api/apps/{app_id}/entities/User", tag = "entities", params(("app_id" = String, Path, description = "The app's id")), responses((status = 403, description = "Members join by invitation or sign-up", body = api::ErrorBody)))]
/// Authenticates first, so another app's credential hears `WRONG_APP` as on every route.
async fn refuse_create(_caller: Caller) -> ApiError {
    ApiError::UserCreationNotAllowed
}

/// The list query, parsed.
struct ListQuery {
    filter: Map<String, Value>,
    sort: Option<(String, bool)>,
    skip: usize,
    limit: usize,
    fields: Option<Vec<String>>,
}

impl ListQuery {
    /// `skip_param` names where the page starts: `skip` for the array listing, `cursor` (the
    /// position after the previous page) for `v2/list`.
    fn parse(params: &HashMap<String, String>, skip_param: &str) -> Result<Self, ApiError> {
        if params.contains_key("distinct") {
            return Err(ApiError::InvalidQuery("`distinct` is not supported for the User entity".into()));
        }
        let filter = match params.get("q").filter(|q| !q.is_empty()) {
            None => Map::new(),
            Some(q) => match serde_json::from_str(q) {
                Ok(Value::Object(filter)) => filter,
                _ => return Err(ApiError::InvalidQuery("`q` must be a JSON object of field values".into())),
            },
        };
        if let Some((field, _)) = filter.iter().find(|(_, v)| v.is_object()) {
            return Err(ApiError::InvalidQuery(format!(
                "`q` matches exact values only; `{field}` has an operator object"
            )));
        }
        let sort = params.get("sort").filter(|s| !s.is_empty()).map(|s| match s.strip_prefix('-') {
            Some(field) => (field.to_owned(), true),
            None => (s.trim_start_matches('+').to_owned(), false),
        });
        let limit = Paging::<MAX_LIMIT>::parse(params)?.limit as usize;
        let fields =
            params.get("fields").filter(|f| !f.is_empty()).map(|f| f.split(',').map(|s| s.trim().to_owned()).collect());
        Ok(Self { filter, sort, skip: whole_number(params, skip_param)?.unwrap_or(0), limit, fields })
    }

    /// The matching users with their JSON shape (what `q` and `sort` see), sorted, before
    /// paging.
    fn matching(&self, users: &[usher_core::model::User]) -> Vec<(api::User, Map<String, Value>)> {
        let mut rows: Vec<(api::User, Map<String, Value>)> = users
            .iter()
            .filter_map(|u| {
                let user = wire::user(u);
                match serde_json::to_value(&user) {
                    Ok(Value::Object(row)) => Some((user, row)),
                    _ => None,
                }
            })
            .filter(|(_, row)| self.filter.iter().all(|(k, v)| row.get(k).unwrap_or(&Value::Null) == v))
            .collect();
        if let Some((field, descending)) = &self.sort {
            rows.sort_by(|(_, a), (_, b)| {
                let order = compare(a.get(field), b.get(field));
                if *descending { order.reverse() } else { order }
            });
        }
        rows
    }

    /// One listed member: the whole entity, or only the fields asked for (and `id`).
    fn project(&self, (user, row): (api::User, Map<String, Value>)) -> api::UserListItem {
        match &self.fields {
            None => api::UserListItem::Full(user),
            Some(fields) => {
                api::UserListItem::Fields(row.into_iter().filter(|(k, _)| k == "id" || fields.contains(k)).collect())
            }
        }
    }
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
        (None | Some(Value::Null), _) => Ordering::Less,
        (_, None | Some(Value::Null)) => Ordering::Greater,
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

/// `entities.User.list` / `filter`: an array.
#[utoipa::path(get, path = "/api/apps/{app_id}/entities/User", tag = "entities", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "Members; query: q, sort, limit, skip, fields", body = Vec<api::UserListItem>), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<api::UserListItem>>, ApiError> {
    let query = ListQuery::parse(&params, "skip")?;
    let users = state.members.visible(&caller.app, &caller.principal).await?;
    let page =
        query.matching(&users).into_iter().skip(query.skip).take(query.limit).map(|row| query.project(row)).collect();
    Ok(Json(page))
}

/// `entities.User.list({limit, cursor})`: `{items, next_cursor, has_more}`. The cursor is
/// the position after the last item, in the stable order (creation time, then id).
#[utoipa::path(get, path = "/api/apps/{app_id}/entities/User/v2/list", tag = "entities", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "`{items, next_cursor, has_more}`; query: q, sort, limit, cursor, fields", body = api::Page<api::UserListItem>), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn list_users_page(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<api::Page<api::UserListItem>>, ApiError> {
    let query = ListQuery::parse(&params, "cursor")?;
    let users = state.members.visible(&caller.app, &caller.principal).await?;
    let rows = query.matching(&users);
    let end = query.skip.saturating_add(query.limit).min(rows.len());
    let has_more = end < rows.len();
    let items = rows.into_iter().skip(query.skip).take(query.limit).map(|row| query.project(row)).collect();
    Ok(Json(api::Page { items, next_cursor: has_more.then(|| end.to_string()), has_more }))
}

/// `entities.User.count(q)`: `{count}`.
#[utoipa::path(get, path = "/api/apps/{app_id}/entities/User/count", tag = "entities", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "`{count}`; query: q", body = api::Count), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn count_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<api::Count>, ApiError> {
    let query = ListQuery::parse(&params, "skip")?;
    let users = state.members.visible(&caller.app, &caller.principal).await?;
    Ok(Json(api::Count { count: query.matching(&users).len() as u64 }))
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|_| ApiError::Member(usher_core::members::MemberError::NotFound))
}

#[utoipa::path(get, path = "/api/apps/{app_id}/entities/User/{user_id}", tag = "entities", params(("app_id" = String, Path, description = "The app's id"), ("user_id" = String, Path, description = "The member's id")), responses((status = 200, description = "One member", body = api::User), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn show_user(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<api::User>, ApiError> {
    let user = state.members.get(&caller.app, &caller.principal, &user_id(&id)?).await?;
    Ok(Json(wire::user(&user)))
}

#[utoipa::path(put, path = "/api/apps/{app_id}/entities/User/{user_id}", tag = "entities", params(("app_id" = String, Path, description = "The app's id"), ("user_id" = String, Path, description = "The member's id")), request_body = api::UpdateUserRequest, responses((status = 200, description = "The member after the change", body = api::User), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    // Loose JSON, documented as `UpdateUserRequest`, as in `update_me`.
    ApiJson(changes): ApiJson<Map<String, Value>>,
) -> Result<Json<api::User>, ApiError> {
    let user = state.members.update(&caller.app, &caller.principal, &user_id(&id)?, changes).await?;
    Ok(Json(wire::user(&user)))
}

#[utoipa::path(delete, path = "/api/apps/{app_id}/entities/User/{user_id}", tag = "entities", params(("app_id" = String, Path, description = "The app's id"), ("user_id" = String, Path, description = "The member's id")), responses((status = 200, description = "`{id, deleted}`", body = api::UserDeleted), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<api::UserDeleted>, ApiError> {
    let id = user_id(&id)?;
    state.members.delete(&caller.app, &caller.principal, &id).await?;
    Ok(Json(api::UserDeleted { id: id.to_string(), deleted: true }))
}
