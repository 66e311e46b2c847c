//! The built-in `User` entity at the SDK's entity routes (`base44.entities.User`,
//! `base44.auth.me()` / `updateMe()`). Listing supports the SDK's `q` (a JSON object of
//! field values to match), `sort` (`field` or `-field`), `limit`, `skip` and `fields`.

use std::cmp::Ordering;
use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Map, Value, json};
use usher_api_types as api;
use usher_core::UserId;
use usher_core::access::Principal;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::{ApiJson, Caller};
use crate::state::AppState;
use crate::wire;

/// Largest page a list returns.
const MAX_LIMIT: usize = 5000;
/// Page size when none is asked for.
const DEFAULT_LIMIT: usize = 100;

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
#[utoipa::path(put, path = "/api/apps/{app_id}/entities/User/me", tag = "entities", params(("app_id" = String, Path, description = "The app's id")), request_body = serde_json::Value, responses((status = 200, description = "The member after the change", body = api::User), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
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
    fn parse(params: &HashMap<String, String>, skip_param: &str) -> Result<Self, ApiError> {
        let number = |name: &str| -> Result<Option<usize>, ApiError> {
            params
                .get(name)
                .filter(|v| !v.is_empty())
                .map(|v| v.parse().map_err(|_| ApiError::InvalidQuery(format!("`{name}` must be a whole number"))))
                .transpose()
        };
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
        let limit = number("limit")?.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::InvalidQuery(format!("`limit` must be between 1 and {MAX_LIMIT}")));
        }
        let fields =
            params.get("fields").filter(|f| !f.is_empty()).map(|f| f.split(',').map(|s| s.trim().to_owned()).collect());
        Ok(Self { filter, sort, skip: number(skip_param)?.unwrap_or(0), limit, fields })
    }

    /// The matching users as JSON, sorted, before paging.
    fn matching(&self, users: &[usher_core::model::User]) -> Vec<Map<String, Value>> {
        let mut rows: Vec<Map<String, Value>> = users
            .iter()
            .filter_map(|u| match serde_json::to_value(wire::user(u)) {
                Ok(Value::Object(row)) => Some(row),
                _ => None,
            })
            .filter(|row| self.filter.iter().all(|(k, v)| row.get(k).unwrap_or(&Value::Null) == v))
            .collect();
        if let Some((field, descending)) = &self.sort {
            rows.sort_by(|a, b| {
                let order = compare(a.get(field), b.get(field));
                if *descending { order.reverse() } else { order }
            });
        }
        rows
    }

    fn project(&self, row: Map<String, Value>) -> Value {
        match &self.fields {
            None => Value::Object(row),
            Some(fields) => Value::Object(row.into_iter().filter(|(k, _)| k == "id" || fields.contains(k)).collect()),
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
#[utoipa::path(get, path = "/api/apps/{app_id}/entities/User", tag = "entities", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "Members; query: q, sort, limit, skip, fields", body = serde_json::Value), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let query = ListQuery::parse(&params, "skip")?;
    let users = state.members.visible(&caller.app, &caller.principal).await?;
    let page =
        query.matching(&users).into_iter().skip(query.skip).take(query.limit).map(|row| query.project(row)).collect();
    Ok(Json(Value::Array(page)))
}

/// `entities.User.list({limit, cursor})`: `{items, next_cursor, has_more}`. The cursor is
/// the position after the last item, in the stable order (creation time, then id).
#[utoipa::path(get, path = "/api/apps/{app_id}/entities/User/v2/list", tag = "entities", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "`{items, next_cursor, has_more}`; query: q, sort, limit, cursor, fields", body = serde_json::Value), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn list_users_page(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let query = ListQuery::parse(&params, "cursor")?;
    let users = state.members.visible(&caller.app, &caller.principal).await?;
    let rows = query.matching(&users);
    let end = query.skip.saturating_add(query.limit).min(rows.len());
    let has_more = end < rows.len();
    let items: Vec<Value> = rows.into_iter().skip(query.skip).take(query.limit).map(|row| query.project(row)).collect();
    Ok(Json(json!({ "items": items, "next_cursor": has_more.then(|| end.to_string()), "has_more": has_more })))
}

/// `entities.User.count(q)`: `{count}`.
#[utoipa::path(get, path = "/api/apps/{app_id}/entities/User/count", tag = "entities", params(("app_id" = String, Path, description = "The app's id")), responses((status = 200, description = "`{count}`; query: q", body = api::Count), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn count_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let query = ListQuery::parse(&params, "skip")?;
    let users = state.members.visible(&caller.app, &caller.principal).await?;
    Ok(Json(json!({ "count": query.matching(&users).len() })))
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

#[utoipa::path(put, path = "/api/apps/{app_id}/entities/User/{user_id}", tag = "entities", params(("app_id" = String, Path, description = "The app's id"), ("user_id" = String, Path, description = "The member's id")), request_body = serde_json::Value, responses((status = 200, description = "The member after the change", body = api::User), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    ApiJson(changes): ApiJson<Map<String, Value>>,
) -> Result<Json<api::User>, ApiError> {
    let user = state.members.update(&caller.app, &caller.principal, &user_id(&id)?, changes).await?;
    Ok(Json(wire::user(&user)))
}

#[utoipa::path(delete, path = "/api/apps/{app_id}/entities/User/{user_id}", tag = "entities", params(("app_id" = String, Path, description = "The app's id"), ("user_id" = String, Path, description = "The member's id")), responses((status = 200, description = "`{id, deleted}`", body = serde_json::Value), (status = "4XX", description = "A JSON error: `{message, code, detail}`", body = api::ErrorBody)))]
async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id = user_id(&id)?;
    state.members.delete(&caller.app, &caller.principal, &id).await?;
    Ok(Json(json!({ "id": id.as_str(), "deleted": true })))
}
