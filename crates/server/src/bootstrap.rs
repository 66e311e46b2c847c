//! Creating apps: `usher app create`, and the first app `usher serve` makes on an empty
//! database so a new user can invite someone right away.

use url::Url;
use usher_core::model::{App, AppSettings};
use usher_core::secret::ApiKey;
use usher_core::store::{NewApiKey, NewApp};
use usher_core::{ApiKeyId, AppId, Clock, Store, StoreError};

/// Longest app name accepted.
const MAX_NAME_LEN: usize = 100;

/// A new app and its API key, which is shown this once and never again.
pub struct CreatedApp {
    /// The app.
    pub app: App,
    /// The secret API key.
    pub api_key: ApiKey,
}

/// Why an app could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateAppError {
    /// The name is empty or too long.
    #[error("app name must be 1 to {MAX_NAME_LEN} characters")]
    InvalidName,
    /// The URL is not an absolute http(s) URL.
    #[error("app URL must be an absolute http:// or https:// URL, e.g. https://app.example.com")]
    InvalidAppUrl,
    /// Storage failed.
    #[error("cannot store the app")]
    Store(#[from] StoreError),
}

/// Where members of a new app land.
pub enum AppUrl {
    /// The app's own URL.
    Given(String),
    /// Usher's stand-in landing page for the app, under `public_url`.
    Welcome(Url),
}

/// Creates an app named `name` with `settings` and one API key named "default".
pub async fn create_app(
    store: &dyn Store,
    clock: &dyn Clock,
    name: &str,
    app_url: AppUrl,
    settings: AppSettings,
) -> Result<CreatedApp, CreateAppError> {
    let (new_app, api_key) = new_app(clock, name, app_url, settings)?;
    let app = store.create_app(new_app).await?;
    Ok(CreatedApp { app, api_key })
}

/// Creates the first app if the database has none (and no other instance creates it first).
pub async fn create_first_app(
    store: &dyn Store,
    clock: &dyn Clock,
    public_url: &Url,
) -> Result<Option<CreatedApp>, CreateAppError> {
    // A plain read first, so an ordinary restart never takes the write path (on PostgreSQL, a
    // lock on the apps table).
    if store.has_apps().await? {
        return Ok(None);
    }
    let (new_app, api_key) = new_app(clock, "My App", AppUrl::Welcome(public_url.clone()), AppSettings::default())?;
    Ok(store.create_first_app(new_app).await?.map(|app| CreatedApp { app, api_key }))
}

/// A checked app with a new API key, ready to store, and the key's secret.
fn new_app(
    clock: &dyn Clock,
    name: &str,
    app_url: AppUrl,
    settings: AppSettings,
) -> Result<(NewApp, ApiKey), CreateAppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(CreateAppError::InvalidName);
    }
    let id = AppId::generate();
    let app_url = match app_url {
        AppUrl::Given(url) => validate_app_url(&url)?,
        AppUrl::Welcome(public_url) => {
            public_url.join(&format!("apps/{id}/welcome")).map_err(|_| CreateAppError::InvalidAppUrl)?.to_string()
        }
    };
    let api_key = ApiKey::generate();
    let new_app = NewApp {
        id,
        name: name.to_owned(),
        app_url,
        settings,
        api_key: NewApiKey { id: ApiKeyId::generate(), name: "default".into(), hash: api_key.hash() },
        now: clock.now(),
    };
    Ok((new_app, api_key))
}

fn validate_app_url(text: &str) -> Result<String, CreateAppError> {
    let url = Url::parse(text.trim()).map_err(|_| CreateAppError::InvalidAppUrl)?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(CreateAppError::InvalidAppUrl);
    }
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_app_url_accepts_http_and_https_only() {
        assert!(validate_app_url("https://app.example.com/path?x=1").is_ok());
        assert!(validate_app_url("http://localhost:3000").is_ok());
        for bad in ["app.example.com", "javascript:alert(1)", "ftp://example.com", "file:///etc/passwd", ""] {
            assert!(validate_app_url(bad).is_err(), "{bad:?}");
        }
    }
}
