//! `usher app create`.

use anyhow::Context;
use serde_json::json;
use usher_core::SystemClock;
use usher_core::model::{AppSettings, InvitePolicy};
use usher_server::bootstrap::{AppUrl, create_app};

use crate::CreateAppArgs;

/// Creates an app and prints its id and API key, as text or as one JSON object; the text
/// ends with the export line for `server` (`--server` or `USHER_SERVER`).
pub fn create(args: &CreateAppArgs, server: &str) -> anyhow::Result<()> {
    let url = args.database.url_or_default();
    let invite_policy = if args.members_may_invite { InvitePolicy::Members } else { InvitePolicy::Admins };
    let settings = AppSettings { invite_policy, is_signup_open: args.open_signup, ..AppSettings::default() };
    super::runtime()?.block_on(async {
        let store = usher_store::connect(url.expose()).await.with_context(|| format!("cannot open database {url}"))?;
        let app_url = AppUrl::Given(args.app_url.clone());
        let created = create_app(store.as_ref(), &SystemClock, &args.name, app_url, settings).await?;
        let app = &created.app;
        if args.json {
            let output = json!({
                "app_id": app.id.as_str(),
                "api_key": created.api_key.expose(),
                "name": app.name,
                "app_url": app.app_url,
                "invite_policy": app.settings.invite_policy.as_str(),
                "is_signup_open": app.settings.is_signup_open,
            });
            say!("{output}");
        } else {
            say!("Created app \"{}\".", app.name);
            say!();
            say!("  app id   {}", app.id);
            say!("  API key  {}", created.api_key.expose());
            say!("  app URL  {}", app.app_url);
            say!();
            say!("The API key is shown only now. Store it somewhere safe.");
            say!();
            say!("Point the usher CLI at it with:");
            say!();
            say!("  {}", super::exports(server, app.id.as_str(), created.api_key.expose()));
        }
        Ok(())
    })
}
