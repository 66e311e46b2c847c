//! `usher mail test`, and `usher mail ls` / `usher mail show` over what the `file://`
//! transport wrote.

use std::path::PathBuf;

use anyhow::{Context, bail};
use usher_core::{Clock, EmailAddress, SystemClock, Timestamp};
use usher_mail::MailUrl;
use usher_mail::captured::{self, CapturedMail};
use usher_server::Settings;

use crate::{MailDirArgs, MailShowArgs, MailTestArgs};

/// Sends one test message through the configured transport and prints the answer, and
/// whether and how it was signed (with the DNS record the signature needs).
pub fn test(args: &MailTestArgs) -> anyhow::Result<()> {
    let settings = Settings::load(&args.serve)?;
    let to = EmailAddress::parse(&args.to).with_context(|| format!("cannot send to {:?}", args.to))?;
    let dkim = settings.dkim.as_deref();
    let email = usher_mail::test_email(&settings.mail_from, &to, SystemClock.now(), dkim)?;
    let transport = usher_mail::transport(&settings.mail_url, settings.mail_from.domain(), 1)?;
    super::runtime()?.block_on(async {
        let answer = transport
            .send(&email, "test")
            .await
            .with_context(|| format!("{} did not take the message", settings.mail_url))?;
        say!("{} answered: {answer}", settings.mail_url);
        match dkim {
            Some(dkim) => {
                say!(
                    "DKIM: signed for {} with selector {} ({}); receivers check it against the TXT record",
                    dkim.domain(),
                    dkim.selector(),
                    dkim.algorithm()
                );
                say!("  {}  TXT  \"{}\"", dkim.record_name(), dkim.record());
            }
            None => say!("DKIM: not signed (set USHER_DKIM_DOMAIN, USHER_DKIM_SELECTOR and USHER_DKIM_KEY_FILE)"),
        }
        Ok(())
    })
}

/// Prints the captured messages, newest first: time, to, subject, kind, id.
pub fn ls(args: &MailDirArgs) -> anyhow::Result<()> {
    let dir = mail_dir(args)?;
    let mails = captured::list(&dir)?;
    if mails.is_empty() {
        say!("no messages in {}", dir.display());
        return Ok(());
    }
    let mut table = super::table::new(["TIME", "TO", "SUBJECT", "KIND", "ID"]);
    for mail in &mails {
        table.add_row([
            time(mail),
            mail.to.clone(),
            mail.subject.clone(),
            mail.kind.clone().unwrap_or_else(|| "-".to_owned()),
            mail.id.clone(),
        ]);
    }
    say!("{}", table.trim_fmt());
    Ok(())
}

/// Prints one captured message (its headers and text), or with `--links` only its links.
pub fn show(args: &MailShowArgs) -> anyhow::Result<()> {
    let dir = mail_dir(&args.dir)?;
    let mail = match (&args.id, &args.to) {
        (Some(id), _) => captured::by_id(&dir, id)?.with_context(|| format!("no message {id} in {}", dir.display()))?,
        (None, Some(to)) => {
            captured::newest_to(&dir, to)?.with_context(|| format!("no message to {to} in {}", dir.display()))?
        }
        (None, None) => bail!("name a message id or --to ADDRESS"),
    };
    if args.links {
        for link in &mail.links {
            say!("{link}");
        }
        return Ok(());
    }
    say!("Id:      {}", mail.id);
    say!("Date:    {}", time(&mail));
    say!("To:      {}", mail.to);
    say!("Subject: {}", mail.subject);
    say!("Kind:    {}", mail.kind.as_deref().unwrap_or("-"));
    say!("File:    {}", mail.path.display());
    say!();
    say!("{}", mail.text.trim_end());
    if !mail.links.is_empty() {
        say!();
        say!("Links:");
        for link in &mail.links {
            say!("  {link}");
        }
    }
    Ok(())
}

/// The directory of a `file://` mail URL; any other transport keeps nothing to read back.
fn mail_dir(args: &MailDirArgs) -> anyhow::Result<PathBuf> {
    match args.mail_url.parse::<MailUrl>() {
        Ok(MailUrl::File(dir)) => Ok(dir),
        Ok(other) => {
            bail!("{other} keeps no copy of what it sends; `usher mail ls` reads the file:// transport's directory")
        }
        Err(err) => Err(anyhow::Error::new(err).context(format!("cannot read USHER_MAIL_URL {:?}", args.mail_url))),
    }
}

/// When a message was written, in UTC, or its `Date` header as written when that does not parse.
fn time(mail: &CapturedMail) -> String {
    match mail.sent_at {
        Some(secs) => {
            let at = Timestamp::from_millis(secs.saturating_mul(1000)).to_rfc3339();
            at.replace('T', " ").trim_end_matches('Z').trim_end_matches(".000").to_owned() + " UTC"
        }
        None => mail.date.clone(),
    }
}
