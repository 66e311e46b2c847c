//! `usher serve`.

use anyhow::Context;
use tokio::net::TcpListener;
use usher_core::SystemClock;
use usher_server::bootstrap::{CreatedApp, create_first_app};
use usher_server::{App, ServeArgs, Settings};

/// Loads the settings, opens the database, creates a first app if there is none, and serves
/// until Ctrl-C or SIGTERM.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::load(args)?;
    super::runtime()?.block_on(async move {
        let mut app = App::build(&settings).await?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        if let Some(addr) = settings.metrics_listen {
            let metrics =
                TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} for metrics"))?;
            app = app.with_metrics_listener(metrics);
        }
        if let Some(created) = create_first_app(app.store().as_ref(), &SystemClock, &settings.public_url).await? {
            print_first_app(&created, &settings);
        }
        tracing::info!(
            listen = %settings.listen,
            metrics = ?settings.metrics_listen,
            public_url = %settings.public_url,
            database = %settings.database_url,
            mail = %settings.mail_url,
            "usher is serving"
        );
        app.serve(listener, shutdown_signal()).await.context("server failed")
    })
}

fn print_first_app(created: &CreatedApp, settings: &Settings) {
    let server = settings.public_url.as_str().trim_end_matches('/');
    let id = &created.app.id;
    let key = created.api_key.expose();
    say!(
        r#"
Usher created your first app, "{name}".

  app id   {id}
  API key  {key}

The API key is shown only this once: store it somewhere safe.

Invite someone with the usher CLI, from another terminal:

  {exports}
  usher invite someone@example.com

with curl:

  curl -X POST {server}/api/apps/{id}/runtime/users/invite-user \
    -H 'Authorization: Bearer {key}' \
    -H 'Content-Type: application/json' \
    -d '{{"user_email": "someone@example.com", "role": "user"}}'

or from JavaScript with the official SDK (npm install @base44/sdk):

  import {{ createClient }} from "@base44/sdk";
  const base44 = createClient({{ serverUrl: "{server}", appId: "{id}", token: "{key}" }});
  await base44.users.inviteUser("someone@example.com", "user");

The email goes to {mail}; its join link is also printed in this log.

The web console is at {server}/console. Before the app has an admin, get in with a one-time
sign-in link (valid for 10 minutes), made on this machine (with the same DATABASE_URL) by:

  usher console link --app {id}

then invite yourself as an admin there, join, and sign in as that admin from then on.
"#,
        name = created.app.name,
        mail = settings.mail_url,
        exports = super::exports(server, id.as_str(), key),
    );
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
