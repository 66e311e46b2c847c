//! The HTML pages Usher serves itself: the join page, the page that explains a dead link,
//! and the stand-in landing page of the first app. Templates are compiled once at start and
//! auto-escape everything, since app names, inviter names and emails are user-supplied.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value};

/// The compiled page templates.
pub struct Pages {
    env: Environment<'static>,
}

impl Pages {
    /// Compiles the embedded templates.
    pub fn new() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.add_template("layout.html", include_str!("../templates/layout.html"))?;
        env.add_template("join.html", include_str!("../templates/join.html"))?;
        env.add_template("link_problem.html", include_str!("../templates/link_problem.html"))?;
        env.add_template("welcome.html", include_str!("../templates/welcome.html"))?;
        env.add_template("reset_password.html", include_str!("../templates/reset_password.html"))?;
        env.add_template("login.html", include_str!("../templates/login.html"))?;
        Ok(Self { env })
    }

    /// Renders `name` with `context` as a page with `status` and the page security headers.
    pub fn render(&self, status: StatusCode, name: &str, context: Value, csp: Csp) -> Response {
        let html = match self.env.get_template(name).and_then(|t| t.render(context)) {
            Ok(html) => html,
            Err(err) => {
                tracing::error!(error = %err, template = name, "page failed to render");
                return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
            }
        };
        let mut response = (status, Html(html)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp.header()));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        // The URL carries a secret token: keep it out of caches and Referer headers.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        response
    }
}

impl Pages {
    /// The page for a form posted from another site.
    pub fn cross_site(&self, what_to_open: &str) -> Response {
        let context = minijinja::context! {
            title => "This form was sent from another site",
            explanation => "For your safety, Usher only accepts this form from its own page.",
            next_step => format!("Open {what_to_open} again and submit the form there."),
        };
        self.render(StatusCode::FORBIDDEN, "link_problem.html", context, Csp::Form)
    }
}

/// What a page may load and run.
#[derive(Clone, Copy, Debug)]
pub enum Csp {
    /// Inline styles and same-origin form posts only.
    Form,
    /// Also one inline script that calls this server's API.
    Script,
}

impl Csp {
    const fn header(self) -> &'static str {
        match self {
            Self::Form => {
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            }
            Self::Script => {
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
            }
        }
    }
}
