//! Which browser origins may act for an app: Usher's own pages, and the app's own origins (that
//! of its `app_url` and its extra CORS origins, [`App::owns_origin`]). CORS answers and the
//! sign-in and logout redirects both ask here, so a page allowed to call an app's API is
//! exactly one allowed to receive its members' tokens.

use url::Url;
use usher_core::model::App;

/// True when `origin` (`scheme://host[:port]`) is that of Usher's own pages.
pub fn is_usher_origin(origin: &str, public_url: &Url) -> bool {
    origin == public_url.origin().ascii_serialization()
}

/// True when a page on `origin` may act for `app`: Usher's own, or one of the app's.
pub fn is_app_origin(app: &App, origin: &str, public_url: &Url) -> bool {
    is_usher_origin(origin, public_url) || app.owns_origin(origin)
}

/// True when `url` is an http(s) address on an origin that may act for `app`: where a
/// sign-in may send its access token, or a logout its browser.
pub fn is_app_url(app: &App, url: &Url, public_url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https") && is_app_origin(app, &url.origin().ascii_serialization(), public_url)
}

#[cfg(test)]
mod tests {
    use usher_core::model::AppSettings;

    use super::*;

    fn app() -> App {
        let settings =
            AppSettings { cors_origins: vec!["https://admin.acme.test".to_owned()], ..AppSettings::default() };
        App {
            id: usher_core::AppId::generate(),
            name: "Acme".to_owned(),
            app_url: "https://notes.acme.test/home".to_owned(),
            settings,
            created_at: usher_core::Timestamp::from_millis(0),
        }
    }

    fn url(text: &str) -> Url {
        Url::parse(text).expect("url")
    }

    #[test]
    fn is_app_origin_accepts_usher_the_app_url_and_extra_origins_only() {
        let public = url("http://127.0.0.1:8044/");

        for (origin, expected) in [
            ("http://127.0.0.1:8044", true),
            ("https://notes.acme.test", true),
            ("https://admin.acme.test", true),
            ("https://evil.example", false),
            ("null", false),
        ] {
            assert_eq!(is_app_origin(&app(), origin, &public), expected, "{origin}");
        }
    }

    #[test]
    fn is_app_url_refuses_other_schemes_on_an_allowed_origin() {
        let public = url("http://127.0.0.1:8044/");

        assert!(is_app_url(&app(), &url("https://notes.acme.test/notes/42?x=1"), &public));
        assert!(!is_app_url(&app(), &url("javascript:alert(1)"), &public));
        assert!(!is_app_url(&app(), &url("https://evil.example/"), &public));
    }
}
