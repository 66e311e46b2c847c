//! The `usher` binary: parses the command line and hands over to a command.

/// `println!` for a command's output. When the reader has gone away (`usher invitations list |
/// head`), the command ends quietly, as Unix tools do, instead of panicking on the broken pipe.
macro_rules! say {
    () => {
        $crate::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::write_line(format_args!($($arg)*))
    };
}

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use commands::remote::{Failure, with_remote};
use usher_server::{DatabaseArgs, ServeArgs};

/// Self-hosted invitations and sign-in for apps built on the Base44 SDK.
///
/// Point the official `@base44/sdk` (or the `base44` Rust crate) at Usher and
/// `base44.users.inviteUser("ada@example.com", "user")` stores an invitation, emails a join
/// link, and lets the invitee set a password and land in your app signed in.
#[derive(Parser)]
#[command(name = "usher", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines are written to stderr: `text` for people, `json` (one object per line)
    /// for log collectors.
    #[arg(long, global = true, env = "USHER_LOG_FORMAT", value_name = "FORMAT", default_value = "text")]
    log_format: commands::LogFormat,
    /// Declared here, on the top command, so that they may come anywhere on the line:
    /// `usher --app X invitations list` as well as `usher invitations list --app X`.
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server and its email delivery worker.
    ///
    /// On an empty database it first creates an app and prints its id, its API key (shown
    /// only then) and a command that invites someone.
    Serve(ServeArgs),
    /// Manage apps.
    #[command(subcommand)]
    App(AppCommand),
    /// Check mail delivery.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Get into the web console at /console.
    #[command(subcommand)]
    Console(ConsoleCommand),
    /// Copy everything from a SQLite database into an empty PostgreSQL database, in one
    /// consistent snapshot: apps, keys, members, invitations, queued email, audit events and
    /// the signing secret, so sessions and mailed links keep working. Stop the servers first.
    Migrate(MigrateArgs),
    /// Invite one address, or every row of a CSV file, through a running Usher server.
    Invite(InviteArgs),
    /// List, show, re-send and revoke invitations through a running Usher server.
    Invitations {
        #[command(subcommand)]
        command: InvitationsCommand,
    },
    /// Create, list and revoke an app's API keys through a running Usher server.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Send the app's events (invitations, emails, members) to your HTTP endpoints, signed the
    /// Standard Webhooks way, through a running Usher server: add, list and remove endpoints,
    /// see and retry their deliveries.
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCommand,
    },
    /// An app's own email templates per kind and locale, through a running Usher server.
    Templates {
        #[command(subcommand)]
        command: TemplatesCommand,
    },
}

/// The files of a template: subject, text and HTML (minijinja).
#[derive(clap::Args)]
pub struct TemplateFiles {
    /// A file holding the subject line's template.
    #[arg(long, value_name = "FILE")]
    pub subject: std::path::PathBuf,
    /// A file holding the plain-text part's template.
    #[arg(long, value_name = "FILE")]
    pub text: std::path::PathBuf,
    /// A file holding the HTML part's template.
    #[arg(long, value_name = "FILE")]
    pub html: std::path::PathBuf,
}

/// `usher templates …`. KIND is invitation, reminder, sign_in, password_reset, signup_code or
/// account_exists; LOCALE is en, de, fr or es.
#[derive(Subcommand)]
pub enum TemplatesCommand {
    /// Every kind in every locale, and which the app has its own template for.
    Ls {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The template delivery uses (the app's own, else the built-in) and its variables.
    Show {
        /// The kind of email.
        kind: String,
        /// The locale.
        locale: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Save the app's own template from files; checked first (syntax, variables, the link),
    /// refused with the reason otherwise.
    Set {
        /// The kind of email.
        kind: String,
        /// The locale.
        locale: String,
        #[command(flatten)]
        files: TemplateFiles,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove the app's own template: the built-in is used again.
    Rm {
        /// The kind of email.
        kind: String,
        /// The locale.
        locale: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Render with sample data: the files given (a draft, checked), else what delivery uses.
    Preview {
        /// The kind of email.
        kind: String,
        /// The locale.
        locale: String,
        /// A draft's subject file (with --text and --html).
        #[arg(long, value_name = "FILE", requires_all = ["text", "html"])]
        subject: Option<std::path::PathBuf>,
        /// A draft's text file.
        #[arg(long, value_name = "FILE", requires_all = ["subject", "html"])]
        text: Option<std::path::PathBuf>,
        /// A draft's HTML file.
        #[arg(long, value_name = "FILE", requires_all = ["subject", "text"])]
        html: Option<std::path::PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

impl TemplatesCommand {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        match self {
            Self::Ls { json }
            | Self::Show { json, .. }
            | Self::Set { json, .. }
            | Self::Rm { json, .. }
            | Self::Preview { json, .. } => *json,
        }
    }
}

/// `usher invitations …`.
#[derive(Subcommand)]
pub enum InvitationsCommand {
    /// One page of invitations, oldest first.
    List {
        /// Only `pending`, `accepted`, `revoked` or `expired` ones.
        #[arg(long, value_parser = parse_status)]
        status: Option<base44::InvitationStatus>,
        /// Only this address.
        #[arg(long)]
        email: Option<String>,
        /// Only those a person opened (`true`) or did not (`false`); with `--status pending`,
        /// opened but not accepted. Mail scanners' fetches do not count as opens.
        #[arg(long)]
        opened: Option<bool>,
        /// Only those whose latest email is `queued`, `sent` or `failed` (given up on).
        #[arg(long, value_parser = parse_delivery)]
        delivery: Option<base44::DeliveryStatus>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Continue after the previous page (printed at its end).
        #[arg(long)]
        cursor: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One invitation with its email's delivery state.
    Show {
        /// The invitation's id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send an invitation again with a fresh link.
    Resend {
        /// The invitation's id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a pending invitation; its links then say so.
    Revoke {
        /// The invitation's id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `--status`: one of the invitation statuses, by its wire name.
fn parse_status(text: &str) -> Result<base44::InvitationStatus, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| "expected pending, accepted, revoked or expired".to_owned())
}

fn parse_delivery(text: &str) -> Result<base44::DeliveryStatus, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| "expected queued, sent or failed".to_owned())
}

impl InvitationsCommand {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        match self {
            Self::List { json, .. }
            | Self::Show { json, .. }
            | Self::Resend { json, .. }
            | Self::Revoke { json, .. } => *json,
        }
    }
}

/// `usher keys …`.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create an API key; it is shown only then.
    Create {
        /// A label for the key.
        #[arg(long)]
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the live keys.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key at once (never the last one).
    Revoke {
        /// The key's id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

impl KeysCommand {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        match self {
            Self::Create { json, .. } | Self::List { json } | Self::Revoke { json, .. } => *json,
        }
    }
}

/// `usher webhooks …`.
#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// Add an endpoint that receives some of the app's events, signed; prints its signing
    /// secret, which is shown only then.
    ///
    /// Events are posted as JSON `{type, timestamp, data}` with the Standard Webhooks headers
    /// (`webhook-id`, `webhook-timestamp`, `webhook-signature`); verify them with the secret,
    /// e.g. with the `standardwebhooks` library (npm, PyPI). The URL must be http:// or
    /// https:// on a public address, unless the server runs with
    /// USHER_WEBHOOK_ALLOW_PRIVATE=true (development).
    #[command(after_help = EVENT_TYPES)]
    Add {
        /// Where events are posted, e.g. https://example.com/usher-hooks.
        url: String,
        /// An event type to receive (see below). Repeat it, or list several after one --event
        /// or with commas: --event invitation.accepted,member.joined.
        #[arg(long = "event", value_name = "TYPE", required = true, num_args = 1.., value_delimiter = ',')]
        events: Vec<String>,
        /// Print JSON (with the secret) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the app's endpoints (without their secrets).
    #[command(visible_alias = "list")]
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an endpoint: it gets no more events, and its undelivered ones are dropped.
    #[command(visible_alias = "remove")]
    Rm {
        /// The endpoint's id, as `usher webhooks ls` prints it.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// An endpoint's latest deliveries (at most 100), newest first: status, attempts, the
    /// last answer's status code or error, and when the next attempt is due.
    ///
    /// Statuses: `pending` (waiting for its next attempt), `sending`, `delivered` (answered
    /// 2xx) and `failed` (given up after ten attempts; `usher webhooks retry` sends it again).
    Deliveries {
        /// The endpoint's id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Give an endpoint a new signing secret, shown only now; the old one stops at once.
    RotateSecret {
        /// The endpoint's id.
        id: String,
        /// Print JSON (with the secret).
        #[arg(long)]
        json: bool,
    },
    /// Send one delivery again now, under the same webhook-id (a failed or delivered one
    /// gets a fresh round of attempts).
    Retry {
        /// The endpoint's id.
        id: String,
        /// The delivery's id (its webhook-id), as `usher webhooks deliveries` prints it.
        delivery_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The event types, for `usher webhooks add --help`.
const EVENT_TYPES: &str = "\
Event types:
  invitation.created   an invitation was created (its email queued)
  invitation.resent    a pending invitation was sent again with a fresh link
  invitation.accepted  an invitation was used to join
  invitation.revoked   a pending invitation was revoked
  invitation.expired   a pending invitation passed its expiry
  email.sent           an email was accepted by the mail transport
  email.failed         an email failed for good
  member.joined        someone became a member by accepting an invitation
  member.removed       a member was removed

Example:
  usher webhooks add https://example.com/usher-hooks --event invitation.accepted --event invitation.expired";

impl WebhooksCommand {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        match self {
            Self::Add { json, .. }
            | Self::Ls { json }
            | Self::Rm { json, .. }
            | Self::Deliveries { json, .. }
            | Self::RotateSecret { json, .. }
            | Self::Retry { json, .. } => *json,
        }
    }
}

/// Options of `usher app settings`.
#[derive(clap::Args)]
pub struct SettingsArgs {
    /// Change a setting, e.g. `--set invite_policy=members`, `--set invitation_ttl_seconds=86400`,
    /// `--set 'allowed_email_domains=["acme.com","*.acme.com"]'`,
    /// `--set 'blocked_email_domains=["gmail.com"]'`, `--set max_invites_per_day=500` (`null`
    /// turns the allowance off) or `--set reminder_before_expiry_hours=24` (`null`: no
    /// reminders). Repeatable; all or nothing.
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// How to reach a running Usher server and act in one app (`invite`, `invitations`, `keys`,
/// `webhooks`, `app settings`, and the export line `app create` prints).
#[derive(clap::Args)]
#[command(next_help_heading = "Server (invite, invitations, keys, webhooks, app settings)")]
pub struct ServerArgs {
    /// The Usher server.
    #[arg(long, global = true, env = "USHER_SERVER", value_name = "URL", default_value = "http://127.0.0.1:8044")]
    pub server: String,
    /// The app to act in.
    #[arg(long, global = true, env = "USHER_APP_ID", value_name = "APP_ID")]
    pub app: Option<String>,
    /// An API key of that app.
    #[arg(long, global = true, env = "USHER_API_KEY", value_name = "KEY", hide_env_values = true)]
    pub key: Option<String>,
}

/// Options of `usher invite`.
#[derive(clap::Args)]
pub struct InviteArgs {
    /// The address to invite.
    #[arg(required_unless_present = "csv", conflicts_with = "csv")]
    pub email: Option<String>,
    /// The role: `user` or `admin`.
    #[arg(long, default_value = "user")]
    pub role: base44::Role,
    /// A CSV file with a header `email,role` or `email,role,locale` (role may be empty:
    /// `user`; locale may be empty: --locale, else the app's default). Failed rows are written
    /// beside it with their reasons: people.csv → people.failed.csv. Each row is sent with its
    /// own idempotency key, made from the file's name (not its content) and the row's address,
    /// role and locale: running the file again within 24 hours (the server keeps keys that
    /// long), e.g. after fixing one bad row, invites only new or changed rows and replays the
    /// others; the summary counts the replays.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<std::path::PathBuf>,
    /// The language of the invitation email and its re-sends: en, de, fr or es (a tag such as
    /// de-AT reads as de). Default: the app's `locale` setting.
    #[arg(long, value_name = "LOCALE")]
    pub locale: Option<String>,
    /// Invite nobody and send nothing: print what each address would get (created, re-sent,
    /// already a member, or the refusal with its code), decided exactly as the real run would
    /// be. With --csv, a summary table and the rows that would be refused; no .failed.csv.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
#[expect(clippy::large_enum_variant, reason = "parsed once, at start-up")]
enum MailCommand {
    /// Send one test message with the configured transport and print what the server answered.
    Test(MailTestArgs),
    /// List the messages the `file://` transport wrote, newest first: time, to, subject, kind.
    Ls(MailDirArgs),
    /// Print one message the `file://` transport wrote (by id, or the newest to an address).
    Show(MailShowArgs),
}

/// Where `usher mail ls` and `usher mail show` read captured mail.
#[derive(clap::Args)]
pub struct MailDirArgs {
    /// The mail transport the server uses; only `file://DIR` keeps messages to read back.
    #[arg(long, env = "USHER_MAIL_URL", value_name = "URL", default_value = "file://usher-data/mail")]
    pub mail_url: String,
}

/// Options of `usher mail show`.
#[derive(clap::Args)]
pub struct MailShowArgs {
    /// The message id, as `usher mail ls` prints it.
    #[arg(required_unless_present = "to", conflicts_with = "to")]
    pub id: Option<String>,
    /// Show the newest message to this address instead.
    #[arg(long, value_name = "ADDRESS")]
    pub to: Option<String>,
    /// Print only the message's links, one per line.
    #[arg(long)]
    pub links: bool,
    #[command(flatten)]
    pub dir: MailDirArgs,
}

/// Options of `usher migrate`.
#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The SQLite database to copy: sqlite://PATH
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The PostgreSQL database to copy into: postgres://USER@HOST[:PORT]/DB[?sslmode=…] (the
    /// password is best left to PGPASSWORD); its tables are created when missing
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Delete whatever the PostgreSQL database holds first (without it, a database with any
    /// row is refused)
    #[arg(long)]
    pub replace: bool,
}

/// Options of `usher mail test`.
#[derive(clap::Args)]
pub struct MailTestArgs {
    /// Where to send the test message.
    #[arg(long, value_name = "ADDRESS")]
    pub to: String,
    /// The same settings `usher serve` reads (USHER_MAIL_URL, USHER_MAIL_FROM, …).
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Subcommand)]
enum AppCommand {
    /// Create an app and its first API key. The key is printed once and never shown again.
    Create(CreateAppArgs),
    /// Show or change the app's settings through a running Usher server.
    Settings(SettingsArgs),
}

#[derive(Subcommand)]
enum ConsoleCommand {
    /// Print a one-time link that signs you in to an app's console, valid for minutes.
    ///
    /// For the operator of the server, before the app has an admin to sign in as (right after
    /// the first start). It opens the database, so run it where `usher serve` runs. The link
    /// works once; signing in with it makes an API key named "console sign-in link" that the
    /// console session acts as (revoke it on the API keys page to end that session).
    Link(ConsoleLinkArgs),
}

/// Options of `usher console link`.
#[derive(clap::Args)]
pub struct ConsoleLinkArgs {
    /// The app's id; may be left out when the database has only one app.
    #[arg(long, value_name = "ID")]
    pub app: Option<String>,
    /// How long the link works, in seconds (at most 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub valid_for_secs: u64,
    /// The server's public URL, as `usher serve` was given it.
    #[arg(long, env = "USHER_PUBLIC_URL", value_name = "URL", default_value = "http://127.0.0.1:8044", value_parser = usher_server::settings::parse_public_url)]
    pub public_url: url::Url,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// Options of `usher app create`.
#[derive(clap::Args)]
pub struct CreateAppArgs {
    /// Name shown in invitation emails and on the join page.
    #[arg(long)]
    pub name: String,
    /// Where members land after joining or signing in, e.g. https://app.example.com.
    #[arg(long, value_name = "URL")]
    pub app_url: String,
    /// Let every member invite others with role `user` (by default only admins and API keys
    /// may invite).
    #[arg(long)]
    pub members_may_invite: bool,
    /// Let anyone sign up with a code sent by email (by default only invited addresses may).
    #[arg(long)]
    pub open_signup: bool,
    /// Print one JSON object (`app_id`, `api_key`, …) instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    commands::init_logging(cli.log_format);
    let server = &cli.server;
    let as_json = matches!(&cli.command, Command::App(AppCommand::Create(args)) if args.json);
    let result = match cli.command {
        Command::Invite(args) => return commands::invite::run(&args, server),
        Command::Invitations { command } => {
            return with_remote(server, command.json(), |remote| commands::manage::invitations(remote, &command));
        }
        Command::Keys { command } => {
            return with_remote(server, command.json(), |remote| commands::manage::keys(remote, &command));
        }
        Command::Webhooks { command } => {
            return with_remote(server, command.json(), |remote| commands::webhooks::webhooks(remote, &command));
        }
        Command::Templates { command } => {
            return with_remote(server, command.json(), |remote| commands::manage::templates(remote, &command));
        }
        Command::App(AppCommand::Settings(args)) => {
            return with_remote(server, args.json, |remote| commands::manage::settings(remote, &args));
        }
        Command::Serve(args) => commands::serve::run(&args),
        Command::App(AppCommand::Create(args)) => commands::app::create(&args, &server.server),
        Command::Console(ConsoleCommand::Link(args)) => commands::console::link(&args),
        Command::Mail(MailCommand::Test(args)) => commands::mail::test(&args),
        Command::Mail(MailCommand::Ls(args)) => commands::mail::ls(&args),
        Command::Mail(MailCommand::Show(args)) => commands::mail::show(&args),
        Command::Migrate(args) => commands::migrate::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if as_json => Failure::new("COMMAND_FAILED", causes(&err)).report(true),
        Err(err) => {
            eprintln!("error: {}", causes(&err));
            ExitCode::FAILURE
        }
    }
}

/// A command line clap refused (or `--help`, `--version`, which clap prints). With `--json`
/// anywhere on it, a script gets the refusal as one `{"message", "code": "USAGE"}` object;
/// either way the exit code is 2.
fn usage_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let wants_json = std::env::args_os().skip(1).any(|arg| arg == "--json");
    let shown_as_asked = matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !wants_json || shown_as_asked {
        err.exit();
    }
    let text = err.to_string();
    let first_line = text.lines().next().unwrap_or_default();
    Failure::new("USAGE", first_line.strip_prefix("error: ").unwrap_or(first_line)).report(true);
    ExitCode::from(2)
}

/// Writes one line of output for [`say!`].
fn write_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout.write_fmt(line).and_then(|()| stdout.write_all(b"\n")) {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {err}");
        std::process::exit(1);
    }
}

/// The error and its causes on one line, each told once ([`usher_core::error_chain`]).
fn causes(err: &anyhow::Error) -> String {
    let err: &(dyn std::error::Error + 'static) = err.as_ref();
    usher_core::error_chain(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_leaves_out_a_cause_that_only_repeats_the_end_of_the_error_before_it() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
        let err = anyhow::Error::new(io)
            .context("error communicating with database: Connection refused (os error 111)")
            .context("cannot connect to PostgreSQL at 127.0.0.1:1/x");

        assert_eq!(
            causes(&err),
            "cannot connect to PostgreSQL at 127.0.0.1:1/x: error communicating with database: Connection refused (os error 111)"
        );
    }
}
