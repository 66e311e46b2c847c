//! Turning an outbox message into an email: templates (minijinja, compiled once, HTML
//! auto-escaped) and the RFC 5322 message (lettre's builder, which encodes every header, so
//! user-supplied names cannot inject headers).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use minijinja::{Environment, context};
use url::Url;
use usher_core::model::{App, MailKind, MailTemplate, OutboxMessage};
use usher_core::{EmailAddress, Locale, Role, Timestamp};

use crate::dkim::DkimSigner;
use crate::link;
use crate::templates::{self, Part, human_time};
use crate::url::MailUrl;

/// What every message needs besides the outbox row.
#[derive(Clone, Debug)]
pub struct MailerConfig {
    /// Base of join links.
    pub public_url: Url,
    /// Sender address for apps that set none.
    pub default_from: EmailAddress,
    /// Whether the worker logs join links (only for the local transports, never for SMTP).
    pub log_links: bool,
    /// Signs every message, when DKIM is set up.
    pub dkim: Option<Arc<DkimSigner>>,
}

impl MailerConfig {
    /// The configuration for `mail_url`: links are logged for the local transports.
    pub fn new(public_url: Url, default_from: EmailAddress, mail_url: &MailUrl) -> Self {
        let log_links = matches!(mail_url, MailUrl::File(_) | MailUrl::Log);
        Self { public_url, default_from, log_links, dkim: None }
    }

    /// The same, signing every message with `dkim`.
    #[must_use]
    pub fn with_dkim(mut self, dkim: Option<Arc<DkimSigner>>) -> Self {
        self.dkim = dkim;
        self
    }

    /// The join link of an invitation token.
    pub fn join_link(&self, app_id: &str, token: &str) -> String {
        self.link(&link::join_path(app_id), token)
    }

    /// The link to the page at `path`, carrying `token`.
    fn link(&self, path: &str, token: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}{path}?token={token}")
    }
}

/// A message ready for a transport.
#[derive(Debug)]
pub struct RenderedEmail {
    /// The recipient.
    pub to: EmailAddress,
    /// The subject, for logs.
    pub subject: String,
    /// The full message.
    pub message: Message,
    /// The join link it carries, if any (logged by the local transports).
    pub link: Option<String>,
}

/// Why a message could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A template failed.
    #[error("template failed: {0}")]
    Template(#[from] minijinja::Error),
    /// lettre refused the message (e.g. an address it cannot encode).
    #[error("cannot build the message: {0}")]
    Message(String),
    /// A message that needs a link lost its token (it was erased after a final failure).
    #[error("message has no link token")]
    MissingToken,
}

/// The compiled email templates.
pub struct Renderer {
    env: Environment<'static>,
    config: MailerConfig,
}

/// The subject, text and HTML of one email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedParts {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

impl Renderer {
    /// Compiles the embedded templates.
    pub fn new(config: MailerConfig) -> Result<Self, minijinja::Error> {
        Ok(Self { env: templates::environment()?, config })
    }

    /// The configuration this renderer uses.
    pub fn config(&self) -> &MailerConfig {
        &self.config
    }

    /// Renders `msg` as an email dated `now`: in the message's locale, with the app's own
    /// template for its kind and locale when it has one.
    pub fn render(&self, msg: &OutboxMessage, now: Timestamp) -> Result<RenderedEmail, RenderError> {
        let app = &msg.app;
        let locale = msg.locale;
        let mut code: Option<&str> = None;
        let (link, expires_at) = match msg.kind {
            MailKind::Invitation => {
                let invitation = msg.invitation.as_ref().ok_or(RenderError::MissingToken)?;
                let link = self.config.join_link(app.id.as_str(), invitation.token.expose());
                (Some(link), Some(human_time(invitation.expires_at, locale)))
            }
            MailKind::Reminder => {
                // The same link as the invitation email: the outbox row carries its token.
                let invitation = msg.invitation.as_ref().ok_or(RenderError::MissingToken)?;
                let link = self.config.join_link(app.id.as_str(), invitation.token.expose());
                (Some(link), Some(human_time(invitation.expires_at, locale)))
            }
            MailKind::SignIn | MailKind::AccountExists => (None, None),
            MailKind::PasswordReset => {
                let reset = msg.reset.as_ref().ok_or(RenderError::MissingToken)?;
                let link = self.config.link(&link::reset_password_path(app.id.as_str()), reset.token.expose());
                (Some(link), Some(human_time(reset.expires_at, locale)))
            }
            MailKind::SignupCode => {
                let signup = msg.code.as_ref().ok_or(RenderError::MissingToken)?;
                code = Some(signup.code.expose());
                (None, Some(human_time(signup.expires_at, locale)))
            }
        };
        let ctx = context! {
            app_name => app.name,
            app_url => app.app_url,
            inviter_name => msg.inviter_name,
            role => msg.role.as_str(),
            role_phrase => templates::role_phrase(msg.role, locale),
            link,
            expires_at,
            code,
        };
        let parts = self.parts(msg.kind, locale, msg.template.as_ref(), &ctx)?;

        let from_address = app.settings.sender_email.as_ref().unwrap_or(&self.config.default_from);
        let from_name = app.settings.sender_name.clone().unwrap_or_else(|| app.name.clone());
        let domain = from_address.as_str().rsplit_once('@').map_or("localhost", |(_, d)| d);
        let subject = single_line(&parts.subject);
        let mut message = Message::builder()
            .from(mailbox(Some(single_line(&from_name)), from_address)?)
            .to(mailbox(None, &msg.to)?)
            .subject(subject.clone())
            .date(system_time(now))
            // Derived from the outbox id, so every retry of one message carries the same id.
            .message_id(Some(format!("<{}@{domain}>", msg.id)))
            .multipart(MultiPart::alternative_plain_html(parts.text, parts.html))
            .map_err(|e| RenderError::Message(e.to_string()))?;
        // Lets `usher mail ls` tell captured messages apart; says nothing a reader could misuse.
        message.headers_mut().insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str(crate::captured::KIND_HEADER),
            msg.kind.as_str().to_owned(),
        ));
        if let Some(dkim) = &self.config.dkim {
            dkim.sign(&mut message);
        }
        Ok(RenderedEmail { to: msg.to.clone(), subject, message, link })
    }

    /// The three parts of `kind` in `locale` with `ctx`: from the app's `own` template when
    /// given (checked when it was saved; should it fail all the same, the built-in is used:
    /// an app's template never stops delivery), else the built-in of the locale, else English.
    fn parts(
        &self,
        kind: MailKind,
        locale: Locale,
        own: Option<&MailTemplate>,
        ctx: &minijinja::Value,
    ) -> Result<RenderedParts, RenderError> {
        if let Some(own) = own {
            match render_own(own, ctx) {
                Ok(parts) => return Ok(parts),
                Err(err) => tracing::warn!(
                    kind = kind.as_str(),
                    locale = locale.as_str(),
                    error = %err,
                    "the app's own template failed; sending the built-in one"
                ),
            }
        }
        let render = |part: Part| -> Result<String, RenderError> {
            let mut name = templates::builtin_name(kind, locale, part);
            if self.env.get_template(&name).is_err() {
                name = templates::builtin_name(kind, Locale::En, part);
            }
            Ok(self.env.get_template(&name)?.render(ctx)?)
        };
        Ok(RenderedParts { subject: render(Part::Subject)?, text: render(Part::Text)?, html: render(Part::Html)? })
    }

    /// A preview of `kind` in `locale` for `app` with sample data: `draft` when given (which
    /// must pass [`templates::check`]), else what delivery would use (the app's `own`, else
    /// the built-in).
    pub fn preview(
        &self,
        app: &App,
        kind: MailKind,
        locale: Locale,
        own: Option<&MailTemplate>,
    ) -> Result<RenderedParts, RenderError> {
        let link = match kind {
            MailKind::PasswordReset => self.config.link(&link::reset_password_path(app.id.as_str()), "sample-token"),
            _ => self.config.join_link(app.id.as_str(), "sample-token"),
        };
        let ctx = templates::sample(kind, locale, Role::User, &app.name, &app.app_url, "Grace Hopper", &link);
        let mut parts = self.parts(kind, locale, own, &ctx)?;
        parts.subject = single_line(&parts.subject);
        Ok(parts)
    }
}

/// Renders an app's own template.
fn render_own(own: &MailTemplate, ctx: &minijinja::Value) -> Result<RenderedParts, minijinja::Error> {
    let env = templates::own_environment(&own.subject, &own.text, &own.html)?;
    let render = |part: Part| env.get_template(&format!("own.{}", part.extension()))?.render(ctx);
    Ok(RenderedParts { subject: render(Part::Subject)?, text: render(Part::Text)?, html: render(Part::Html)? })
}

/// A one-line test message from `from` to `to`, for checking mail settings; signed when
/// `dkim` is given.
pub fn test_email(
    from: &EmailAddress,
    to: &EmailAddress,
    now: Timestamp,
    dkim: Option<&DkimSigner>,
) -> Result<RenderedEmail, RenderError> {
    let subject = "Usher test message".to_owned();
    let mut message = Message::builder()
        .from(mailbox(Some("Usher".into()), from)?)
        .to(mailbox(None, to)?)
        .subject(subject.clone())
        .date(system_time(now))
        .message_id(Some(format!("<test-{}@{}>", now.as_millis(), from.domain())))
        .body("This is a test message from Usher. If you can read it, USHER_MAIL_URL works.\n".to_owned())
        .map_err(|e| RenderError::Message(e.to_string()))?;
    if let Some(dkim) = dkim {
        dkim.sign(&mut message);
    }
    Ok(RenderedEmail { to: to.clone(), subject, message, link: None })
}

fn mailbox(name: Option<String>, address: &EmailAddress) -> Result<Mailbox, RenderError> {
    let address =
        address.as_str().parse().map_err(|e: lettre::address::AddressError| RenderError::Message(e.to_string()))?;
    Ok(Mailbox::new(name, address))
}

/// Line breaks in names become spaces: a header value is one line.
fn single_line(text: &str) -> String {
    text.split(['\r', '\n']).filter(|part| !part.is_empty()).collect::<Vec<_>>().join(" ")
}

fn system_time(t: Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(t.as_millis()).unwrap_or(0))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use usher_core::model::{App, AppSettings, InvitationLink, ResetLink, SignupCode};
    use usher_core::secret::{InvitationToken, OneTimeCode, ResetToken};
    use usher_core::{AppId, MessageId};

    pub(crate) fn config() -> MailerConfig {
        MailerConfig {
            public_url: Url::parse("http://127.0.0.1:8044/").expect("url"),
            default_from: EmailAddress::parse("no-reply@usher.test").expect("address"),
            log_links: false,
            dkim: None,
        }
    }

    pub(crate) fn message(kind: MailKind, app_name: &str) -> OutboxMessage {
        let app = App {
            id: AppId::generate(),
            name: app_name.into(),
            app_url: "https://app.example.test/".into(),
            settings: AppSettings::default(),
            created_at: Timestamp::from_millis(0),
        };
        OutboxMessage {
            id: MessageId::generate(),
            kind,
            to: EmailAddress::parse("ada@example.com").expect("address"),
            app,
            role: Role::Admin,
            inviter_name: "Grace <Hopper>".into(),
            invitation: matches!(kind, MailKind::Invitation | MailKind::Reminder).then(|| InvitationLink {
                token: InvitationToken::generate(),
                expires_at: Timestamp::from_millis(1_800_000_000_000),
            }),
            reset: (kind == MailKind::PasswordReset).then(|| ResetLink {
                token: ResetToken::generate(),
                expires_at: Timestamp::from_millis(1_800_000_000_000),
            }),
            code: (kind == MailKind::SignupCode).then(|| SignupCode {
                code: OneTimeCode::generate(),
                expires_at: Timestamp::from_millis(1_800_000_000_000),
            }),
            locale: Locale::En,
            template: None,
            attempts: 0,
            created_at: Timestamp::from_millis(1_700_000_000_000),
        }
    }

    fn render(msg: &OutboxMessage) -> String {
        let rendered = Renderer::new(config())
            .expect("templates")
            .render(msg, Timestamp::from_millis(1_700_000_000_000))
            .expect("render");
        String::from_utf8(rendered.message.formatted()).expect("utf-8")
    }

    /// The decoded bodies of the text and HTML parts.
    fn parts(raw: &str) -> (String, String) {
        let mail = mailparse::parse_mail(raw.as_bytes()).expect("parseable");
        let body = |mime: &str| {
            mail.subparts.iter().find(|p| p.ctype.mimetype == mime).and_then(|p| p.get_body().ok()).expect(mime)
        };
        (body("text/plain"), body("text/html"))
    }

    #[test]
    fn reminder_carries_the_invitation_link_and_its_expiry_in_both_parts() {
        let msg = message(MailKind::Reminder, "Acme");
        let token = msg.invitation.as_ref().expect("link").token.expose().to_owned();

        let raw = render(&msg);

        assert!(raw.contains("Subject: Reminder: your invitation to join Acme expires soon"), "{raw}");
        let (text, html) = parts(&raw);
        let link = format!("http://127.0.0.1:8044/apps/{}/join?token={token}", msg.app.id);
        assert!(text.contains(&link), "{text}");
        assert_eq!(html.matches(&token).count(), 3, "button, visible URL and its href");
        assert!(text.contains("expires on 15 January 2027, 08:00 UTC"), "{text}");
        assert!(raw.contains("X-Usher-Kind: reminder"), "{raw}");
    }

    #[test]
    fn invitation_is_multipart_alternative_with_link_in_both_parts() {
        for locale in Locale::ALL {
            let msg = OutboxMessage { locale, ..message(MailKind::Invitation, "Acme") };
            let token = msg.invitation.as_ref().expect("link").token.expose().to_owned();

            let raw = render(&msg);

            assert!(raw.contains("Content-Type: multipart/alternative"), "{locale}");
            assert!(raw.contains("text/plain") && raw.contains("text/html"), "{locale}");
            assert!(raw.contains("From: Acme <no-reply@usher.test>"), "{locale}");
            assert!(raw.contains("To: ada@example.com"), "{locale}");
            let (text, html) = parts(&raw);
            assert_eq!(text.matches(&token).count(), 1, "{locale}");
            assert_eq!(html.matches(&token).count(), 3, "{locale}: button, visible URL and its href");
            let role = templates::role_phrase(Role::Admin, locale);
            assert!(text.contains(role) && html.contains(role), "{locale}");
            assert!(html.contains(&format!("<html lang=\"{locale}\">")), "{locale}");
        }
    }

    /// Every kind in every locale: a subject of its own (not the English one, but for English),
    /// the link or code its kind needs in both parts, the expiry in the locale's words, the
    /// names escaped in HTML, and no template syntax left over.
    #[test]
    fn every_kind_renders_in_every_locale_with_its_link_and_escaped_names() {
        let subject = |raw: &str| raw.lines().find(|l| l.starts_with("Subject:")).map(str::to_owned).expect("subject");
        for kind in templates::KINDS {
            let english = subject(&render(&message(kind, "Acme")));
            for locale in Locale::ALL {
                let msg = OutboxMessage { locale, ..message(kind, "<b>Acme</b>") };
                let raw = render(&msg);
                let (text, html) = parts(&raw);
                let what = format!("{kind:?} in {locale}");
                if locale != Locale::En {
                    let own = subject(&render(&OutboxMessage { locale, ..message(kind, "Acme") }));
                    assert_ne!(own, english, "{what}: subject not translated");
                }
                for part in [&text, &html] {
                    assert!(!part.contains("{{") && !part.contains("{%"), "{what}: {part}");
                }
                let secret = msg
                    .invitation
                    .as_ref()
                    .map(|l| l.token.expose().to_owned())
                    .or_else(|| msg.reset.as_ref().map(|l| l.token.expose().to_owned()))
                    .or_else(|| msg.code.as_ref().map(|c| c.code.expose().to_owned()));
                if let Some(secret) = secret {
                    assert!(text.contains(&secret) && html.contains(&secret), "{what}");
                    let expires = templates::human_time(Timestamp::from_millis(1_800_000_000_000), locale);
                    assert!(text.contains(&expires) && html.contains(&expires), "{what}: {text}");
                } else {
                    assert!(text.contains("https://app.example.test/") && html.contains("app.example.test"), "{what}");
                }
                assert!(html.contains("&lt;b&gt;Acme") && !html.contains("<b>Acme"), "{what}");
            }
        }
    }

    #[test]
    fn an_apps_own_template_is_used_and_a_failing_one_falls_back_to_the_built_in() {
        let own = MailTemplate {
            kind: MailKind::Invitation,
            locale: Locale::De,
            subject: "Willkommen bei {{ app_name }}".into(),
            text: "Hier entlang: {{ link }}".into(),
            html: "<p>{{ inviter_name }}: <a href=\"{{ link }}\">los</a></p>".into(),
            updated_at: Timestamp::from_millis(0),
        };
        let msg =
            OutboxMessage { locale: Locale::De, template: Some(own.clone()), ..message(MailKind::Invitation, "Acme") };
        let raw = render(&msg);
        assert!(raw.contains("Subject: Willkommen bei Acme"), "{raw}");
        let (text, html) = parts(&raw);
        assert!(text.starts_with("Hier entlang: http://127.0.0.1:8044/"), "{text}");
        assert!(html.contains("Grace &lt;Hopper&gt;"), "{html}");

        // Saved templates are checked; should one fail anyway, the mail still goes out.
        let broken = MailTemplate { text: "{{ link|no_such_filter }}".into(), ..own };
        let raw = render(&OutboxMessage { template: Some(broken), ..msg });
        let (text, _) = parts(&raw);
        assert!(text.contains("Nehmen Sie die Einladung an"), "{text}");
    }

    #[test]
    fn text_part_keeps_each_sentence_on_one_line_and_reads_the_expiry_as_a_date() {
        let (text, _) = parts(&render(&message(MailKind::Invitation, "Acme")));

        assert!(text.contains("\nIf you did not expect this invitation, you can ignore this email."), "{text}");
        assert!(text.contains("expires on 15 January 2027, 08:00 UTC."), "{text}");
    }

    #[test]
    fn every_text_part_keeps_each_paragraph_on_one_line_as_the_template_writes_it() {
        let kinds = [
            MailKind::Invitation,
            MailKind::SignIn,
            MailKind::PasswordReset,
            MailKind::SignupCode,
            MailKind::AccountExists,
            MailKind::Reminder,
        ];
        for (kind, locale) in kinds.into_iter().flat_map(|k| Locale::ALL.map(|l| (k, l))) {
            let (text, _) = parts(&render(&OutboxMessage { locale, ..message(kind, "Acme") }));
            let text = text.replace("\r\n", "\n");

            // Mail readers wrap a long line themselves; a break written into the text stays,
            // mid-sentence, whatever the reader's width ("If you did not expect this⏎invitation").
            let paragraphs: Vec<&str> = text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()).collect();
            assert!(paragraphs.len() >= 3, "{kind:?} {locale}: {text}");
            for paragraph in paragraphs {
                assert!(!paragraph.contains('\n'), "{kind:?} {locale}: a paragraph broken over lines: {paragraph:?}");
            }
        }
    }

    #[test]
    fn html_part_escapes_user_supplied_names() {
        let raw = render(&message(MailKind::Invitation, "<b>Acme</b>"));

        let (_, html) = parts(&raw);
        assert!(html.contains("&lt;b&gt;Acme") && !html.contains("<b>Acme"));
        assert!(html.contains("Grace &lt;Hopper&gt;"));
    }

    #[test]
    fn message_id_is_stable_across_renders_of_one_message() {
        let msg = message(MailKind::Invitation, "Acme");
        let header = |raw: &str| raw.lines().find(|l| l.starts_with("Message-ID:")).map(str::to_owned);

        assert_eq!(header(&render(&msg)), header(&render(&msg)));
        assert_eq!(header(&render(&msg)), Some(format!("Message-ID: <{}@usher.test>", msg.id)));
    }

    #[test]
    fn line_breaks_in_an_app_name_cannot_add_headers() {
        let raw = render(&message(MailKind::Invitation, "Acme\r\nBcc: victim@example.com"));

        let headers = raw.split("\r\n\r\n").next().expect("headers");
        assert!(!headers.lines().any(|l| l.starts_with("Bcc:")), "{headers}");
    }

    #[test]
    fn password_reset_message_links_to_the_reset_page() {
        let msg = message(MailKind::PasswordReset, "Acme");
        let token = msg.reset.as_ref().expect("link").token.expose().to_owned();

        let raw = render(&msg);

        let (text, _) = parts(&raw);
        assert!(text.contains(&format!("http://127.0.0.1:8044/apps/{}/reset-password?token={token}", msg.app.id)));
        assert!(raw.contains("Subject: Reset your Acme password"));
    }

    #[test]
    fn signup_code_message_carries_the_code_in_subject_and_body() {
        let msg = message(MailKind::SignupCode, "Acme");
        let code = msg.code.as_ref().expect("code").code.expose().to_owned();

        let raw = render(&msg);

        let (text, html) = parts(&raw);
        assert!(text.contains(&code) && html.contains(&code));
        assert!(raw.contains(&format!("Subject: {code} is your Acme code")));
    }

    #[test]
    fn sign_in_message_links_to_the_app_and_carries_no_token() {
        let raw = render(&message(MailKind::SignIn, "Acme"));

        assert!(raw.contains("https://app.example.test/"));
        assert!(!raw.contains("token="));
        assert!(raw.contains("Subject: Sign in to Acme"));
    }
}
