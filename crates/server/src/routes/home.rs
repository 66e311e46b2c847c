//! The page at `/`: what this server is, for whoever opens its bare address in a browser, with
//! links to the docs, the API description and the console (which every server has).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::pages::Csp;
use crate::state::AppState;

/// Where the operator documentation lives (the workspace's `repository`).
const DOCS_URL: &str = env!("CARGO_PKG_REPOSITORY");
// Cargo sets an empty value when the crate does not inherit `repository`: the page would then
// link to itself.
const _: () = assert!(!DOCS_URL.is_empty(), "usher-server needs `repository.workspace = true`");

/// Where the console starts (`routes::console`).
const CONSOLE_URL: &str = "/console";

/// `GET /`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show_home_page))
}

#[utoipa::path(get, path = "/", tag = "pages", responses((status = 200, description = "A page saying what this server is, with links to the console, the API description and the docs", content_type = "text/html", body = String)))]
async fn show_home_page(State(state): State<AppState>) -> Response {
    state.pages.render(
        StatusCode::OK,
        "home.html",
        context! { docs_url => DOCS_URL, console_url => CONSOLE_URL },
        Csp::Form,
    )
}
