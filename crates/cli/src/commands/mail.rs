//! `usher mail test`.

use anyhow::Context;
use usher_core::{Clock, EmailAddress, SystemClock};
use usher_server::Settings;

use crate::MailTestArgs;

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
