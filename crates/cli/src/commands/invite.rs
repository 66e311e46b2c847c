//! `usher invite`: one address, or a whole CSV file through the bulk route with a progress bar.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use base44::{BulkInviteResponse, InviteUserRequest, Role};
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use serde_json::json;
use usher_core::idempotency::fingerprint;

use super::remote::{Failure, Remote, with_remote};
use super::table;

/// Rows per bulk request (the route's limit).
const BATCH: usize = 1000;

/// A CSV row that could not be invited, with the reason.
struct FailedRow {
    line: u64,
    email: String,
    role: String,
    code: String,
    message: String,
}

/// Tally of outcomes.
#[derive(Default)]
struct Summary {
    created: u64,
    resent: u64,
    already_members: u64,
    throttled: u64,
    /// Rows answered from an earlier run of the same file (their row key was replayed):
    /// nothing was done for them this time.
    replayed: u64,
    failures: Vec<FailedRow>,
}

/// Runs `usher invite`: exit 0 when everything was invited, 1 when something failed, 2 for
/// bad usage.
pub fn run(args: &crate::InviteArgs, server: &crate::ServerArgs) -> ExitCode {
    with_remote(server, args.json, |remote| {
        let result = match (&args.csv, &args.email) {
            (Some(path), _) => csv(remote, path, args.locale.as_deref(), args.json, args.dry_run),
            (None, Some(email)) if args.dry_run => {
                one_dry_run(remote, email, args.role, args.locale.as_deref(), args.json)
            }
            (None, Some(email)) => one(remote, email, args.role, args.locale.as_deref(), args.json),
            (None, None) => {
                Failure::new("USAGE", "give an EMAIL or --csv FILE").report(args.json);
                return ExitCode::from(2);
            }
        };
        result.unwrap_or_else(|err| Failure::new("CLIENT_ERROR", format!("{err:#}")).report(args.json))
    })
}

/// Invites one address and prints what happened, with the invitation's id for
/// `usher invitations show|resend|revoke`.
fn one(remote: &Remote, email: &str, role: Role, locale: Option<&str>, as_json: bool) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        let users = remote.client.users();
        let invited = match locale {
            Some(locale) => users.invite_user_in(email, role, locale).await,
            None => users.invite_user(email, role).await,
        };
        match invited {
            Ok(answer) => {
                if as_json {
                    say!("{}", serde_json::to_string(&answer)?);
                } else {
                    say!("{}", answer.message());
                    if let Some(invitation) = answer.invitation() {
                        say!("Invitation id: {}", invitation.id);
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(err) => Ok(remote.explain(&err).report(as_json)),
        }
    })
}

/// Says what inviting one address would do, doing nothing.
fn one_dry_run(
    remote: &Remote,
    email: &str,
    role: Role,
    locale: Option<&str>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        // With the locale, so that the rehearsal refuses a bad one as the real invite would.
        let users = remote.client.users();
        let answer = match locale {
            Some(locale) => users.invite_user_dry_run_in(email, role, locale).await,
            None => users.invite_user_dry_run(email, role).await,
        };
        match answer {
            Ok(answer) => {
                if as_json {
                    say!("{}", serde_json::to_string(&answer)?);
                } else {
                    say!("{}", answer.message);
                }
                Ok(ExitCode::SUCCESS)
            }
            // The refusal the real invite would get, said as the real invite would say it.
            Err(err) => Ok(remote.explain(&err).report(as_json)),
        }
    })
}

/// Invites every row of `path` (`email,role[,locale]`; role defaults to `user`, locale to
/// `locale`, else the app's) in batches; with
/// `dry_run`, only asks what each row would get.
fn csv(remote: &Remote, path: &Path, locale: Option<&str>, as_json: bool, dry_run: bool) -> anyhow::Result<ExitCode> {
    let total = csv_reader(path)?.records().count() as u64;
    let progress = if std::io::stderr().is_terminal() && !as_json {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{bar:40.cyan/blue} {pos}/{len} rows  {rate}  ETA {eta}")
                .map(|style| {
                    style.with_key("rate", |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                        write!(out, "{}", rate(state.per_sec())).ok();
                    })
                })
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut summary = Summary::default();
    let file_name = path.file_name().map_or_else(|| path.to_string_lossy(), |name| name.to_string_lossy()).into_owned();
    // How often each row (address, role, locale) came so far: a row repeated in the file gets
    // its own key per occurrence, so it is invited again as without keys, not refused as a
    // duplicate key.
    let mut seen = std::collections::HashMap::<String, u32>::new();
    let mut reader = csv_reader(path)?;
    let mut batch: Vec<(u64, InviteUserRequest, String)> = Vec::with_capacity(BATCH);
    let runtime = super::runtime()?;
    for (position, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("cannot read {}", path.display()))?;
        let line = record.position().map_or(position as u64 + 2, |p| p.line());
        let email = record.get(0).unwrap_or_default().trim().to_owned();
        let role_text = record.get(1).map(str::trim).filter(|r| !r.is_empty()).unwrap_or("user").to_owned();
        match role_text.parse::<Role>() {
            Ok(role) => {
                let row_locale = record.get(2).map(str::trim).filter(|l| !l.is_empty()).or(locale);
                let mut request = InviteUserRequest::new(normalized(&email), role);
                request.locale = row_locale.map(str::to_owned);
                // A dry run keeps no key, so it sends none.
                if !dry_run {
                    let key = row_key(&file_name, &request, 1);
                    let occurrence = seen.entry(key.clone()).or_default();
                    *occurrence += 1;
                    let key = if *occurrence == 1 { key } else { row_key(&file_name, &request, *occurrence) };
                    request.idempotency_key = Some(key);
                }
                batch.push((line, request, role_text));
            }
            Err(err) => summary.failures.push(FailedRow {
                line,
                email,
                role: role_text,
                code: "INVALID_ROLE".into(),
                message: err.to_string(),
            }),
        }
        if batch.len() == BATCH {
            runtime.block_on(send(remote, std::mem::take(&mut batch), &mut summary, dry_run))?;
            report(&progress, position as u64 + 1, total);
        }
    }
    if !batch.is_empty() {
        runtime.block_on(send(remote, batch, &mut summary, dry_run))?;
    }
    report(&progress, total, total);
    progress.finish_and_clear();
    if dry_run {
        return finish_dry_run(&mut summary, as_json);
    }
    finish(path, &mut summary, as_json)
}

/// The progress bar's speed as whole rows per second ("4937 rows/s"): indicatif's own
/// `{per_sec}` printed "4,936.9246/s", four decimals of noise.
fn rate(rows_per_second: f64) -> String {
    format!("{:.0} rows/s", rows_per_second)
}

fn csv_reader(path: &Path) -> anyhow::Result<csv::Reader<std::fs::File>> {
    let reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    Ok(reader)
}

/// On a terminal the bar moves; otherwise one plain line per batch.
fn report(progress: &ProgressBar, done: u64, total: u64) {
    if progress.is_hidden() {
        eprintln!("{done}/{total} rows sent");
    } else {
        progress.set_position(done);
    }
}

/// The address as the server keeps it (trimmed, lowercased, NFC), so that the row key does
/// not change with its spelling; one the server will refuse is sent as it is.
fn normalized(email: &str) -> String {
    usher_core::EmailAddress::parse(email).map_or_else(|_| email.trim().to_owned(), |email| email.to_string())
}

/// A row's own `idempotency_key`: the file's name (not its content) and the row's address,
/// role and locale (and, from its second time in the file, which `occurrence` of that row it
/// is). Fixing one row of a file and running it again changes that row's key only: every
/// other row is replayed (within the server's 24 hours) instead of being invited again.
fn row_key(file_name: &str, row: &InviteUserRequest, occurrence: u32) -> String {
    let locale = row.locale.as_deref().unwrap_or_default();
    let mut row_text = format!("{}\0{}\0{locale}", row.user_email, row.role);
    if occurrence > 1 {
        row_text.push_str(&format!("\0{occurrence}"));
    }
    format!("usher-csv-{}", fingerprint(&format!("usher invite --csv {file_name}"), row_text.as_bytes()))
}

async fn send(
    remote: &Remote,
    batch: Vec<(u64, InviteUserRequest, String)>,
    summary: &mut Summary,
    dry_run: bool,
) -> anyhow::Result<()> {
    let (meta, items): (Vec<_>, Vec<_>) = batch.into_iter().map(|(line, item, role)| ((line, role), item)).unzip();
    let emails: Vec<String> = items.iter().map(|i| i.user_email.clone()).collect();
    let invitations = remote.client.invitations();
    let failed = |e| anyhow::anyhow!("a batch was not invited: {}", remote.explain(&e));
    let answer: BulkInviteResponse = if dry_run {
        invitations.bulk_dry_run(items).await.map_err(failed)?
    } else {
        invitations.bulk(items).await.map_err(failed)?
    };
    for result in answer.results {
        let Some(((line, role), email)) = meta.get(result.index()).zip(emails.get(result.index())) else { continue };
        if result.replayed() {
            summary.replayed += 1;
        }
        match result.outcome() {
            "created" => summary.created += 1,
            "resent" => summary.resent += 1,
            "already_member" => summary.already_members += 1,
            "throttled" => summary.throttled += 1,
            _ => summary.failures.push(FailedRow {
                line: *line,
                email: email.clone(),
                role: role.clone(),
                code: result.code().unwrap_or("ERROR").to_owned(),
                message: result.message().to_owned(),
            }),
        }
    }
    Ok(())
}

/// Prints what the file would do: a table of outcomes (refusals by code), then the rows that
/// would be refused. Exits 1 when some row would fail, as the real run would.
fn finish_dry_run(summary: &mut Summary, as_json: bool) -> anyhow::Result<ExitCode> {
    summary.failures.sort_by_key(|f| f.line);
    let mut refusals = std::collections::BTreeMap::<&str, u64>::new();
    for failure in &summary.failures {
        *refusals.entry(&failure.code).or_default() += 1;
    }
    if as_json {
        let refused: Vec<_> = summary
            .failures
            .iter()
            .map(|f| json!({ "line": f.line, "email": f.email, "role": f.role, "code": f.code, "message": f.message }))
            .collect();
        say!(
            "{}",
            json!({
                "dry_run": true,
                "created": summary.created,
                "resent": summary.resent,
                "already_members": summary.already_members,
                "throttled": summary.throttled,
                "failed": summary.failures.len(),
                "refused": refused,
            })
        );
    } else {
        let mut table = table::new(["WOULD BE", "CODE", "ROWS"]);
        table.add_row(["created", "", &summary.created.to_string()]);
        table.add_row(["re-sent", "", &summary.resent.to_string()]);
        table.add_row(["already a member", "", &summary.already_members.to_string()]);
        table.add_row(["throttled", "RESEND_THROTTLED", &summary.throttled.to_string()]);
        for (code, rows) in &refusals {
            table.add_row(["refused", code, &rows.to_string()]);
        }
        say!("Dry run: nothing was written and nobody was emailed.");
        say!("{}", table.trim_fmt());
        if !summary.failures.is_empty() {
            let mut rows = table::new(["LINE", "EMAIL", "ROLE", "CODE", "MESSAGE"]);
            for f in &summary.failures {
                rows.add_row([f.line.to_string(), f.email.clone(), f.role.clone(), f.code.clone(), f.message.clone()]);
            }
            say!("\nRows that would be refused:\n{}", rows.trim_fmt());
        }
    }
    Ok(if summary.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn failures_path(input: &Path) -> PathBuf {
    let stem = input.file_stem().map_or_else(|| "invites".into(), |s| s.to_string_lossy().into_owned());
    input.with_file_name(format!("{stem}.failed.csv"))
}

fn finish(input: &Path, summary: &mut Summary, as_json: bool) -> anyhow::Result<ExitCode> {
    // Refused roles are found while reading, refused addresses when their batch returns:
    // the file lists them in the order of the input.
    summary.failures.sort_by_key(|f| f.line);
    let failed_file = (!summary.failures.is_empty()).then(|| failures_path(input));
    if let Some(file) = &failed_file {
        let mut writer = csv::Writer::from_path(file).with_context(|| format!("cannot write {}", file.display()))?;
        writer.write_record(["line", "email", "role", "code", "message"])?;
        for f in &summary.failures {
            writer.write_record([
                f.line.to_string(),
                f.email.clone(),
                f.role.clone(),
                f.code.clone(),
                f.message.clone(),
            ])?;
        }
        writer.flush()?;
    }
    if as_json {
        let output = json!({
            "created": summary.created,
            "resent": summary.resent,
            "already_members": summary.already_members,
            "throttled": summary.throttled,
            "replayed": summary.replayed,
            "failed": summary.failures.len(),
            "failed_file": failed_file.as_ref().map(|f| f.display().to_string()),
        });
        say!("{output}");
    } else {
        say!(
            "Created {}, re-sent {}, already members {}, throttled (emailed within the resend interval) {}, failed {}.",
            summary.created,
            summary.resent,
            summary.already_members,
            summary.throttled,
            summary.failures.len()
        );
        if summary.replayed > 0 {
            say!(
                "{} rows were replays: an earlier run of this file had already sent them, so nothing was done for them again.",
                summary.replayed
            );
        }
        if let Some(file) = &failed_file {
            say!("The failed rows and their reasons are in {}.", file.display());
        }
    }
    Ok(if summary.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_reads_as_whole_rows_per_second() {
        assert_eq!(rate(4936.9246), "4937 rows/s");
        assert_eq!(rate(0.4), "0 rows/s");
        assert_eq!(rate(12.5001), "13 rows/s");
    }

    #[test]
    fn the_failed_rows_go_beside_the_input_named_as_help_says() {
        assert_eq!(failures_path(Path::new("dir/people.csv")), Path::new("dir/people.failed.csv"));
        assert_eq!(failures_path(Path::new("team")), Path::new("team.failed.csv"));
    }

    #[test]
    fn a_row_key_comes_from_the_file_name_and_the_row_only() {
        let row = |email: &str, role, locale: Option<&str>| {
            let mut row = InviteUserRequest::new(normalized(email), role);
            row.locale = locale.map(str::to_owned);
            row
        };
        let ada = row_key("people.csv", &row("ada@example.com", Role::User, None), 1);

        let same = row_key("people.csv", &row(" Ada@Example.com ", Role::User, None), 1);
        assert_eq!(ada, same, "spelling is normalized");
        assert_ne!(ada, row_key("other.csv", &row("ada@example.com", Role::User, None), 1), "another file");
        assert_ne!(ada, row_key("people.csv", &row("ada@example.com", Role::Admin, None), 1), "another role");
        assert_ne!(ada, row_key("people.csv", &row("ada@example.com", Role::User, Some("de")), 1), "another locale");
        assert_ne!(ada, row_key("people.csv", &row("ada@example.com", Role::User, None), 2), "the row again");
        assert!(ada.starts_with("usher-csv-") && usher_core::idempotency::is_valid_key(&ada));
    }
}
