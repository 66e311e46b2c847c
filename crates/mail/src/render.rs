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
use usher_core::model::{MailKind, OutboxMessage};
use usher_core::{EmailAddress, Role, Timestamp};

use crate::dkim::DkimSigner;
use crate::link;
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

impl Renderer {
    /// Compiles the embedded templates.
    pub fn new(config: MailerConfig) -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.add_template("invitation.txt", include_str!("../templates/invitation.txt"))?;
        env.add_template("invitation.html", include_str!("../templates/invitation.html"))?;
        env.add_template("sign_in.txt", include_str!("../templates/sign_in.txt"))?;
        env.add_template("sign_in.html", include_str!("../templates/sign_in.html"))?;
        env.add_template("password_reset.txt", include_str!("../templates/password_reset.txt"))?;
        env.add_template("password_reset.html", include_str!("../templates/password_reset.html"))?;
        env.add_template("signup_code.txt", include_str!("../templates/signup_code.txt"))?;
        env.add_template("signup_code.html", include_str!("../templates/signup_code.html"))?;
        env.add_template("account_exists.txt", include_str!("../templates/account_exists.txt"))?;
        env.add_template("account_exists.html", include_str!("../templates/account_exists.html"))?;
        env.add_template("reminder.txt", include_str!("../templates/reminder.txt"))?;
        env.add_template("reminder.html", include_str!("../templates/reminder.html"))?;
        Ok(Self { env, config })
    }

    /// The configuration this renderer uses.
    pub fn config(&self) -> &MailerConfig {
        &self.config
    }

    /// Renders `msg` as an email dated `now`.
    pub fn render(&self, msg: &OutboxMessage, now: Timestamp) -> Result<RenderedEmail, RenderError> {
        let app = &msg.app;
        let mut code: Option<&str> = None;
        let (kind, subject, link, expires_at) = match msg.kind {
            MailKind::Invitation => {
                let invitation = msg.invitation.as_ref().ok_or(RenderError::MissingToken)?;
                let link = self.config.join_link(app.id.as_str(), invitation.token.expose());
                let subject = if msg.inviter_name == app.name {
                    format!("You are invited to join {}", app.name)
                } else {
                    format!("{} invited you to join {}", msg.inviter_name, app.name)
                };
                ("invitation", subject, Some(link), Some(human_time(invitation.expires_at)))
            }
            MailKind::Reminder => {
                // The same link as the invitation email: the outbox row carries its token.
                let invitation = msg.invitation.as_ref().ok_or(RenderError::MissingToken)?;
                let link = self.config.join_link(app.id.as_str(), invitation.token.expose());
                let subject = format!("Reminder: your invitation to join {} expires soon", app.name);
                ("reminder", subject, Some(link), Some(human_time(invitation.expires_at)))
            }
            MailKind::SignIn => ("sign_in", format!("Sign in to {}", app.name), None, None),
            MailKind::PasswordReset => {
                let reset = msg.reset.as_ref().ok_or(RenderError::MissingToken)?;
                let link = self.config.link(&link::reset_password_path(app.id.as_str()), reset.token.expose());
                (
                    "password_reset",
                    format!("Reset your {} password", app.name),
                    Some(link),
                    Some(human_time(reset.expires_at)),
                )
            }
            MailKind::SignupCode => {
                let signup = msg.code.as_ref().ok_or(RenderError::MissingToken)?;
                code = Some(signup.code.expose());
                let subject = format!("{} is your {} code", signup.code.expose(), app.name);
                ("signup_code", subject, None, Some(human_time(signup.expires_at)))
            }
            MailKind::AccountExists => {
                ("account_exists", format!("You already have a {} account", app.name), None, None)
            }
        };
        let ctx = context! {
            app_name => app.name,
            app_url => app.app_url,
            inviter_name => msg.inviter_name,
            role_phrase => role_phrase(msg.role),
            link,
            expires_at,
            code,
        };
        let text = self.env.get_template(&format!("{kind}.txt"))?.render(&ctx)?;
        let html = self.env.get_template(&format!("{kind}.html"))?.render(&ctx)?;

        let from_address = app.settings.sender_email.as_ref().unwrap_or(&self.config.default_from);
        let from_name = app.settings.sender_name.clone().unwrap_or_else(|| app.name.clone());
        let domain = from_address.as_str().rsplit_once('@').map_or("localhost", |(_, d)| d);
        let mut message = Message::builder()
            .from(mailbox(Some(single_line(&from_name)), from_address)?)
            .to(mailbox(None, &msg.to)?)
            .subject(single_line(&subject))
            .date(system_time(now))
            // Derived from the outbox id, so every retry of one message carries the same id.
            .message_id(Some(format!("<{}@{domain}>", msg.id)))
            .multipart(MultiPart::alternative_plain_html(text, html))
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

fn role_phrase(role: Role) -> &'static str {
    match role {
        Role::User => "a user",
        Role::Admin => "an admin",
    }
}

fn system_time(t: Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(t.as_millis()).unwrap_or(0))
}

/// E.g. `Wed, 02 Dec 2026 03:45:00 +0000`.
fn human_time(t: Timestamp) -> String {
    t.to_human()
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
        let msg = message(MailKind::Invitation, "Acme");
        let token = msg.invitation.as_ref().expect("link").token.expose().to_owned();

        let raw = render(&msg);

        assert!(raw.contains("Content-Type: multipart/alternative"));
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        assert!(raw.contains("From: Acme <no-reply@usher.test>"));
        assert!(raw.contains("To: ada@example.com"));
        let (text, html) = parts(&raw);
        assert_eq!(text.matches(&token).count(), 1);
        assert_eq!(html.matches(&token).count(), 3, "button, visible URL and its href");
        assert!(text.contains("an admin") && html.contains("an admin"));
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
        for kind in kinds {
            let (text, _) = parts(&render(&message(kind, "Acme")));
            let text = text.replace("\r\n", "\n");

            // Mail readers wrap a long line themselves; a break written into the text stays,
            // mid-sentence, whatever the reader's width ("If you did not expect this⏎invitation").
            let paragraphs: Vec<&str> = text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()).collect();
            assert!(paragraphs.len() >= 3, "{kind:?}: {text}");
            for paragraph in paragraphs {
                assert!(!paragraph.contains('\n'), "{kind:?}: a paragraph broken over lines: {paragraph:?}");
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
