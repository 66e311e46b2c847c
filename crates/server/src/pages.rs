//! The HTML pages Usher serves itself: the join, sign-in and password pages, the page that
//! explains a dead link, the stand-in landing page of the first app, and the server's home.
//! Templates are compiled once at start and auto-escape everything, since app names, inviter
//! names and emails are user-supplied.

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
        env.add_template("forgot_password.html", include_str!("../templates/forgot_password.html"))?;
        env.add_template("home.html", include_str!("../templates/home.html"))?;
        for (name, source) in [
            ("console/layout.html", include_str!("../templates/console/layout.html")),
            ("console/sign_in.html", include_str!("../templates/console/sign_in.html")),
            ("console/link.html", include_str!("../templates/console/link.html")),
            ("console/invitations.html", include_str!("../templates/console/invitations.html")),
            ("console/invitation.html", include_str!("../templates/console/invitation.html")),
            ("console/confirm.html", include_str!("../templates/console/confirm.html")),
            ("console/invite_refused.html", include_str!("../templates/console/invite_refused.html")),
            ("console/message.html", include_str!("../templates/console/message.html")),
            ("console/members.html", include_str!("../templates/console/members.html")),
            ("console/settings.html", include_str!("../templates/console/settings.html")),
            ("console/audit.html", include_str!("../templates/console/audit.html")),
            ("console/remove_member.html", include_str!("../templates/console/remove_member.html")),
            ("console/keys.html", include_str!("../templates/console/keys.html")),
            ("console/revoke_key.html", include_str!("../templates/console/revoke_key.html")),
            ("console/import.html", include_str!("../templates/console/import.html")),
            ("console/import_preview.html", include_str!("../templates/console/import_preview.html")),
            ("console/import_results.html", include_str!("../templates/console/import_results.html")),
        ] {
            env.add_template(name, source)?;
        }
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
        headers.insert(header::CONTENT_SECURITY_POLICY, csp.header());
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

    /// The page for a request Usher could not complete (a store that failed); the caller logs
    /// the cause.
    pub fn failed(&self, status: StatusCode) -> Response {
        let context = minijinja::context! {
            title => "Something went wrong",
            explanation => "Usher could not complete this request.",
            next_step => "Please try again in a moment.",
        };
        self.render(status, "link_problem.html", context, Csp::Form)
    }

    /// The page for a request to a page route that could not be read (a malformed query
    /// string, a body that is not a form): the same refusal the API sends as JSON, as a page.
    pub fn unreadable(&self, status: StatusCode, reason: &str) -> Response {
        let context = minijinja::context! {
            title => "This request could not be read",
            explanation => reason,
            next_step => "Open the link from your email again, or go back to the app and start over.",
        };
        self.render(status, "link_problem.html", context, Csp::Form)
    }
}

/// What a page may load and run, and where its form may lead.
#[derive(Clone, Debug)]
pub enum Csp {
    /// Inline styles; forms post to this server and stay on it.
    Form,
    /// Inline styles; forms post to this server, whose answer redirects to this origin (an
    /// app's). Browsers hold the redirect after a form post to `form-action` too, so the app's
    /// origin must be named or the person never reaches the app.
    FormLeadingTo(String),
    /// The join page: [`Csp::FormLeadingTo`] (or [`Csp::Form`] without an origin), plus this
    /// server's `join.js`, whose one same-origin request reports that a person's browser ran it.
    JoinPage(Option<String>),
    /// Also one inline script that calls this server's API.
    Script,
    /// The console: forms stay on this server, scripts come only from it.
    Console,
}

impl Csp {
    const FORM: &str =
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    const CONSOLE: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    const JOIN_SCRIPT: &str = "script-src 'self'; connect-src 'self'; ";
    const JOIN: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    const SCRIPT: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

    /// A form page whose post may redirect to `origin`; to this server only without one.
    pub fn form_leading_to(origin: Option<String>) -> Self {
        origin.map_or(Self::Form, Self::FormLeadingTo)
    }

    fn header(&self) -> HeaderValue {
        match self {
            Self::Form => HeaderValue::from_static(Self::FORM),
            Self::Script => HeaderValue::from_static(Self::SCRIPT),
            Self::Console => HeaderValue::from_static(Self::CONSOLE),
            Self::FormLeadingTo(origin) => Self::leading_to(origin, "", Self::FORM),
            Self::JoinPage(Some(origin)) => Self::leading_to(origin, Self::JOIN_SCRIPT, Self::JOIN),
            Self::JoinPage(None) => HeaderValue::from_static(Self::JOIN),
        }
    }

    /// A form policy whose `form-action` also names `origin`, with `extra` sources.
    fn leading_to(origin: &str, extra: &str, fallback: &'static str) -> HeaderValue {
        let policy = format!(
            "default-src 'none'; style-src 'unsafe-inline'; {extra}form-action 'self' {origin}; frame-ancestors 'none'; base-uri 'none'"
        );
        // An ASCII-serialised origin is always a valid source expression; anything else
        // (a hand-edited row) falls back to the strict policy rather than a broken header.
        match HeaderValue::from_str(&policy) {
            Ok(value) if is_origin(origin) => value,
            _ => HeaderValue::from_static(fallback),
        }
    }
}

/// True for `scheme://host[:port]` with nothing a CSP source list would read differently.
fn is_origin(text: &str) -> bool {
    text.split_once("://").is_some_and(|(scheme, rest)| {
        matches!(scheme, "http" | "https")
            && !rest.is_empty()
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_leading_to_names_exactly_the_app_origin_in_form_action() {
        let header = Csp::form_leading_to(Some("https://notes.acme.test:8443".into())).header();

        let policy = header.to_str().expect("ascii");
        assert!(policy.contains("form-action 'self' https://notes.acme.test:8443;"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    }

    #[test]
    fn join_page_runs_only_this_servers_script_and_connects_only_here() {
        for csp in [
            Csp::JoinPage(Some("https://notes.acme.test".into())),
            Csp::JoinPage(None),
            Csp::JoinPage(Some("*".into())),
        ] {
            let header = csp.header();
            let policy = header.to_str().expect("ascii");

            let directives: Vec<&str> = policy.split("; ").collect();
            assert!(directives.contains(&"script-src 'self'"), "no inline script: {policy}");
            assert!(directives.contains(&"connect-src 'self'"), "{policy}");
        }
        let header = Csp::JoinPage(Some("https://notes.acme.test".into())).header();
        assert!(header.to_str().expect("ascii").contains("form-action 'self' https://notes.acme.test;"));
    }

    #[test]
    fn form_leading_to_falls_back_to_self_for_anything_but_an_origin() {
        for bad in ["https://a.test; script-src *", "javascript:alert(1)", "https://a.test/path", "*"] {
            let header = Csp::form_leading_to(Some(bad.into())).header();

            assert_eq!(header.to_str().expect("ascii"), Csp::FORM, "{bad}");
        }
        assert_eq!(Csp::form_leading_to(None).header().to_str().expect("ascii"), Csp::FORM);
    }
}
