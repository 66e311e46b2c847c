//! Extractors that parse requests at the edge: the app a route is about ([`AppContext`]),
//! the authenticated caller ([`Caller`]), JSON bodies ([`ApiJson`]) and the paging of a
//! listing ([`Paging`]), each failing with an [`ApiError`] so every refusal is the same JSON
//! shape; and the query strings and forms of the HTML pages ([`PageQuery`], [`PageForm`]),
//! which fail with an HTML page instead.

use std::collections::HashMap;
use std::str::FromStr;

use axum::Form;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, RawPathParams, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use usher_api_types as api;
use usher_core::AppId;
use usher_core::access::{AuthError, Principal};
use usher_core::model::App;

use crate::error::ApiError;
use crate::state::AppState;

/// The app named by the `{app_id}` path segment; also checks the SDK's `X-App-Id` header.
pub struct AppContext(pub App);

impl FromRequestParts<AppState> for AppContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let missing = || ApiError::AppNotFound(String::new());
        let params = RawPathParams::from_request_parts(parts, state).await.map_err(|_| missing())?;
        let raw = params.iter().find(|(name, _)| *name == "app_id").map(|(_, value)| value).ok_or_else(missing)?;
        if let Some(header) = parts.headers.get("x-app-id")
            && header.as_bytes() != raw.as_bytes()
        {
            return Err(ApiError::AppIdMismatch);
        }
        // An id is 24 characters; anything much longer is not worth echoing whole.
        let not_found = || ApiError::AppNotFound(raw.chars().take(40).collect());
        let id = AppId::parse(raw).map_err(|_| not_found())?;
        let app = state.apps.get(&id).await?.ok_or_else(not_found)?;
        Ok(Self(app))
    }
}

/// An authenticated caller of the app in the path: an API key or an enabled member.
pub struct Caller {
    /// The app.
    pub app: App,
    /// Who is calling.
    pub principal: Principal,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AppContext(app) = AppContext::from_request_parts(parts, state).await?;
        let bearer = bearer_token(&parts.headers).ok_or(AuthError::Unauthenticated)?;
        let principal = state.auth.authenticate(&app.id, bearer).await?;
        Ok(Self { app, principal })
    }
}

/// A caller with admin power in the app: an API key or an admin member.
pub struct Admin(pub Caller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.principal.is_admin() { Ok(Self(caller)) } else { Err(ApiError::AdminOnly) }
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A JSON body of type `T`, with every way it can be wrong mapped to a 4xx [`ApiError`].
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        // serde would also fill a struct from a JSON array, by position; bodies are objects.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::InvalidBody("request body must be a JSON object".into()));
        }
        serde_json::from_slice(&bytes).map(Self).map_err(|err| json_error(&err))
    }
}

/// A JSON body that may be left out: no body (or only white space) is `None`; a body is read
/// as [`ApiJson`] reads it.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_json = is_json(req.headers());
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::InvalidBody("request body must be a JSON object".into()));
        }
        serde_json::from_slice(&bytes).map(|v| Self(Some(v))).map_err(|err| json_error(&err))
    }
}

/// The paging of a listing's query string: `limit` (1 to `MAX`, 100 when absent or empty)
/// and an opaque `cursor` from the previous page. Every listing reads them here, so a bad one
/// gets the same answer everywhere: 400 `INVALID_QUERY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging<const MAX: u32> {
    /// How many items the page holds at most.
    pub limit: u32,
    cursor: Option<String>,
}

impl<const MAX: u32> Paging<MAX> {
    /// The page size when the query names none.
    pub const DEFAULT_LIMIT: u32 = 100;

    /// Reads `limit` and `cursor` from a query string's parameters.
    pub fn parse(params: &HashMap<String, String>) -> Result<Self, ApiError> {
        let limit = match whole_number::<u64>(params, "limit")? {
            None => Self::DEFAULT_LIMIT,
            Some(limit) => u32::try_from(limit)
                .ok()
                .filter(|limit| (1..=MAX).contains(limit))
                .ok_or_else(|| ApiError::InvalidQuery(format!("`limit` must be between 1 and {MAX}")))?,
        };
        let cursor = params.get("cursor").filter(|c| !c.is_empty()).cloned();
        Ok(Self { limit, cursor })
    }

    /// The cursor as the previous page gave it out, if any.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// The cursor of a listing whose cursors are numbers (a position, a log entry's id).
    pub fn numeric_cursor<T: FromStr>(&self) -> Result<Option<T>, ApiError> {
        self.cursor.as_deref().map(|cursor| cursor.parse().map_err(|_| not_a_number("cursor"))).transpose()
    }

    /// How many items to ask the store for: one more than the page holds, to learn whether
    /// another page follows.
    pub fn fetch_limit(&self) -> u32 {
        self.limit.saturating_add(1)
    }

    /// The page of `items` (fetched with [`Self::fetch_limit`]): at most `limit` of them, and
    /// when more follow, the cursor of the last one.
    pub fn page<T, U>(
        &self,
        mut items: Vec<T>,
        cursor_of: impl Fn(&T) -> String,
        wire: impl FnMut(&T) -> U,
    ) -> api::Page<U> {
        let has_more = items.len() > self.limit as usize;
        items.truncate(self.limit as usize);
        let next_cursor = if has_more { items.last().map(cursor_of) } else { None };
        api::Page { items: items.iter().map(wire).collect(), next_cursor, has_more }
    }
}

impl<const MAX: u32> FromRequestParts<AppState> for Paging<MAX> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Query(params) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Self::parse(&params).map_err(IntoResponse::into_response)
    }
}

/// The query parameter `name` as a whole number; absent or empty is `None`.
pub fn whole_number<T: FromStr>(params: &HashMap<String, String>, name: &str) -> Result<Option<T>, ApiError> {
    params.get(name).filter(|v| !v.is_empty()).map(|v| v.parse().map_err(|_| not_a_number(name))).transpose()
}

fn not_a_number(name: &str) -> ApiError {
    ApiError::InvalidQuery(format!("`{name}` must be a whole number"))
}

/// A page route's query string; a malformed one (e.g. `?token=a&token=b`) is answered with
/// an HTML page rather than axum's plain-text rejection.
pub struct PageQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for PageQuery<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(state.pages.unreadable(rejection.status(), &rejection.body_text())),
        }
    }
}

/// A page route's form body (`application/x-www-form-urlencoded`); anything else (a JSON
/// body, a body too large) is answered with an HTML page rather than axum's plain text.
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for PageForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        match Form::<T>::from_request(req, state).await {
            Ok(Form(value)) => Ok(Self(value)),
            Err(rejection) => Err(state.pages.unreadable(rejection.status(), &rejection.body_text())),
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).is_some_and(|mime| {
        let mime = mime.trim();
        mime.eq_ignore_ascii_case("application/json") || mime.to_ascii_lowercase().ends_with("+json")
    })
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::InvalidBody(rejection.body_text())
    }
}

/// Maps serde's messages to field-level errors where it names the field.
fn json_error(err: &serde_json::Error) -> ApiError {
    let text = err.to_string();
    if let Some(field) = text.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next()) {
        return ApiError::UnknownField(field.to_owned());
    }
    ApiError::InvalidBody(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_accepts_any_case_of_the_scheme_only() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, "bearer abc".parse().expect("header"));
        assert_eq!(bearer_token(&headers), Some("abc"));

        headers.insert(AUTHORIZATION, "Basic abc".parse().expect("header"));
        assert_eq!(bearer_token(&headers), None);

        headers.insert(AUTHORIZATION, "Bearer ".parse().expect("header"));
        assert_eq!(bearer_token(&headers), None);
    }

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn refusal(result: Result<Paging<1000>, ApiError>) -> String {
        match result {
            Err(err @ ApiError::InvalidQuery(_)) => err.to_string(),
            other => panic!("expected INVALID_QUERY, got {other:?}"),
        }
    }

    #[test]
    fn paging_defaults_to_100_and_reads_an_empty_parameter_as_absent() {
        let paging = Paging::<1000>::parse(&params(&[("limit", ""), ("cursor", "")])).expect("valid");

        assert_eq!(paging.limit, 100);
        assert_eq!(paging.cursor(), None);
    }

    #[test]
    fn paging_refuses_a_limit_that_is_no_whole_number_or_out_of_range() {
        for (limit, message) in [
            ("ten", "`limit` must be a whole number"),
            ("-1", "`limit` must be a whole number"),
            ("0", "`limit` must be between 1 and 1000"),
            ("1001", "`limit` must be between 1 and 1000"),
            ("99999999999", "`limit` must be between 1 and 1000"),
        ] {
            let text = refusal(Paging::<1000>::parse(&params(&[("limit", limit)])));

            assert_eq!(text, format!("invalid query: {message}"), "{limit}");
        }
    }

    #[test]
    fn paging_page_keeps_the_limit_and_gives_the_last_items_cursor_when_more_follow() {
        let paging = Paging::<1000>::parse(&params(&[("limit", "2")])).expect("valid");

        let full = paging.page(vec![1, 2, 3], |n| format!("c{n}"), |n| n * 10);
        let last = paging.page(vec![1, 2], |n| format!("c{n}"), |n| n * 10);

        assert_eq!((full.items, full.next_cursor, full.has_more), (vec![10, 20], Some("c2".to_owned()), true));
        assert_eq!((last.items, last.next_cursor, last.has_more), (vec![10, 20], None, false));
        assert_eq!(paging.fetch_limit(), 3);
    }

    #[test]
    fn paging_reads_a_numeric_cursor_or_refuses_it() {
        let good = Paging::<1000>::parse(&params(&[("cursor", "42")])).expect("valid");
        let bad = Paging::<1000>::parse(&params(&[("cursor", "x")])).expect("valid");

        assert_eq!(good.numeric_cursor::<i64>().expect("number"), Some(42));
        assert_eq!(
            bad.numeric_cursor::<i64>().map_err(|e| e.to_string()).err().as_deref(),
            Some("invalid query: `cursor` must be a whole number")
        );
    }

    #[test]
    fn is_json_accepts_parameters_and_suffixes() {
        for (value, expected) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, value.parse().expect("header"));
            assert_eq!(is_json(&headers), expected, "{value}");
        }
    }
}
