//! `usher console link`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use usher_core::console_link::ConsoleLinks;
use usher_core::{AppId, SystemClock};

use crate::ConsoleLinkArgs;

/// Prints a one-time link that signs the operator in to an app's console, for when the app
/// has no admin to sign in as yet.
pub fn link(args: &ConsoleLinkArgs) -> anyhow::Result<()> {
    let url = args.database.url_or_default();
    super::runtime()?.block_on(async {
        let store = usher_store::connect(url.expose()).await.with_context(|| format!("cannot open database {url}"))?;
        let apps = store.apps().await.context("cannot read the apps")?;
        let app = match &args.app {
            Some(raw) => {
                let id = AppId::parse(raw.trim()).ok().with_context(|| format!("{raw:?} is not an app id"))?;
                apps.into_iter().find(|app| app.id == id).with_context(|| format!("no app has the id {id}"))?
            }
            None => match <[_; 1]>::try_from(apps) {
                Ok([app]) => app,
                Err(apps) if apps.is_empty() => {
                    bail!("this database has no app yet: start `usher serve` once, or run `usher app create`")
                }
                Err(apps) => {
                    let ids: Vec<String> = apps.iter().map(|app| format!("{} ({})", app.id, app.name)).collect();
                    bail!("this database has {} apps; choose one with --app: {}", apps.len(), ids.join(", "))
                }
            },
        };
        let links = ConsoleLinks::new(store, Arc::new(SystemClock));
        let (token, expires_at) = links
            .issue(&app, Duration::from_secs(args.valid_for_secs))
            .await
            .context("cannot store the sign-in link")?;
        let mut link = args.public_url.join("/console/link").context("the public URL cannot hold a path")?;
        link.query_pairs_mut().append_pair("token", token.expose());
        say!("{link}");
        eprintln!(
            "This link signs you in to the console of \"{}\" once, until {}. Do not share it.",
            app.name,
            expires_at.to_human()
        );
        Ok(())
    })
}
