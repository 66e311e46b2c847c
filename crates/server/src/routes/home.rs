//! The page at `/`: what this server is, for whoever opens its bare address in a browser.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::pages::Csp;
use crate::state::AppState;

/// Where the operator documentation lives.
const DOCS_URL: &str = env!("CARGO_PKG_REPOSITORY");

/// `GET /`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show_home_page))
}

#[utoipa::path(get, path = "/", tag = "pages", responses((status = 200, description = "A page saying what this server is, with links to the API description and the docs", content_type = "text/html", body = String)))]
async fn show_home_page(State(state): State<AppState>) -> Response {
    state.pages.render(StatusCode::OK, "home.html", context! { docs_url => DOCS_URL }, Csp::Form)
}
