//! The records the service keeps: apps, members, invitations and outbox messages.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::id::{ApiKeyId, AppId, InvitationId, MessageId, UserId};
use crate::locale::Locale;
use crate::role::Role;
use crate::rules::domains::{DomainPattern, DomainRules};
use crate::secret::{InvitationToken, OneTimeCode, ResetToken};

/// Who may invite people into an app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvitePolicy {
    /// Only admins and API keys (the default).
    Admins,
    /// Any member may invite, but only with role `user`.
    Members,
}

impl InvitePolicy {
    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admins => "admins",
            Self::Members => "members",
        }
    }

    /// Reads a stored name back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admins" => Some(Self::Admins),
            "members" => Some(Self::Members),
            _ => None,
        }
    }
}

/// An app's settings, with the defaults DESIGN.md promises.
#[derive(Clone, Debug, PartialEq)]
pub struct AppSettings {
    /// How long an invitation link stays valid after it was (re)sent.
    pub invitation_ttl: Duration,
    /// Who may invite.
    pub invite_policy: InvitePolicy,
    /// Whether anyone may sign up, or only people with an invitation.
    pub is_signup_open: bool,
    /// Display name on outgoing mail; the app's name when unset.
    pub sender_name: Option<String>,
    /// Sender address on outgoing mail; the server's default when unset.
    pub sender_email: Option<EmailAddress>,
    /// Browser origins besides the app URL's that may call the API.
    pub cors_origins: Vec<String>,
    /// When not empty, only addresses of these domains may be invited, register or sign up.
    pub allowed_email_domains: Vec<DomainPattern>,
    /// Addresses of these domains may never be invited, register or sign up.
    pub blocked_email_domains: Vec<DomainPattern>,
    /// At most this many invitation emails (new invitations and re-sends) in any 24 hours;
    /// `None` (the default): no daily allowance.
    pub max_invites_per_day: Option<u32>,
    /// Mail one reminder with the same link this many hours before an invitation link
    /// expires ([`crate::rules::reminders`]); `None` (the default): no reminders.
    pub reminder_before_expiry_hours: Option<u32>,
    /// The language of the app's email when an invitation names none (and of sign-up codes,
    /// password resets and sign-up notes, always).
    pub locale: Locale,
}

impl AppSettings {
    /// Seven days, as DESIGN.md sets.
    pub const DEFAULT_INVITATION_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

    /// The domain lists, as [`crate::rules::domains::refused_domain`] reads them.
    pub fn domain_rules(&self) -> DomainRules<'_> {
        DomainRules { allowed: &self.allowed_email_domains, blocked: &self.blocked_email_domains }
    }
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            invitation_ttl: Self::DEFAULT_INVITATION_TTL,
            invite_policy: InvitePolicy::Admins,
            is_signup_open: false,
            sender_name: None,
            sender_email: None,
            cors_origins: Vec::new(),
            allowed_email_domains: Vec::new(),
            blocked_email_domains: Vec::new(),
            max_invites_per_day: None,
            reminder_before_expiry_hours: None,
            locale: Locale::En,
        }
    }
}

/// An app people are invited into.
#[derive(Clone, Debug, PartialEq)]
pub struct App {
    /// Its id.
    pub id: AppId,
    /// Shown in emails and on the join page.
    pub name: String,
    /// Where a member lands after joining or signing in.
    pub app_url: String,
    /// Its settings.
    pub settings: AppSettings,
    /// When it was created.
    pub created_at: Timestamp,
}

impl App {
    /// The origin of its `app_url`, where members land (`None` only for a hand-edited row).
    pub fn landing_origin(&self) -> Option<String> {
        origin_of(&self.app_url)
    }

    /// True when `origin` (`scheme://host[:port]`) is where this app runs in a browser: the
    /// origin of its `app_url` or one of its extra CORS origins. Sign-in pages send tokens
    /// only there, and only these origins may call its API from a browser.
    pub fn owns_origin(&self, origin: &str) -> bool {
        std::iter::once(&self.app_url)
            .chain(&self.settings.cors_origins)
            .any(|url| origin_of(url).as_deref() == Some(origin))
    }
}

/// The ASCII origin of an absolute URL; `None` for anything without one (`data:`, garbage).
pub fn origin_of(url: &str) -> Option<String> {
    url::Url::parse(url).ok().map(|u| u.origin().ascii_serialization()).filter(|o| o != "null")
}

/// A service-role credential as stored (the secret itself is only ever held by its owner).
#[derive(Clone, Debug, PartialEq)]
pub struct ApiKeyRecord {
    /// Its id.
    pub id: ApiKeyId,
    /// The app it acts in.
    pub app_id: AppId,
    /// A label chosen by the operator.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A member of one app.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// The app it belongs to.
    pub app_id: AppId,
    /// Unique within the app.
    pub email: EmailAddress,
    /// As the member typed it; may be empty.
    pub full_name: String,
    /// Its role.
    pub role: Role,
    /// Whether the member proved they own the address (joining through the emailed link does).
    pub is_verified: bool,
    /// A disabled member cannot sign in or act.
    pub is_disabled: bool,
    /// Moves on with every password change or reset; access tokens issued under an earlier
    /// value no longer work (see [`crate::access::Claims::session_epoch`]).
    pub session_epoch: i64,
    /// App-defined fields, as a JSON object.
    pub custom: Map<String, Value>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// Who did something: recorded on invitations and in the audit log.
#[derive(Clone, Debug, PartialEq)]
pub enum Actor {
    /// A request made with an API key.
    ApiKey(ApiKeyId),
    /// A request made by a signed-in member.
    User(UserId),
}

/// Who sent an invitation, with the name shown to the invitee.
#[derive(Clone, Debug, PartialEq)]
pub struct Inviter {
    /// The credential that acted.
    pub actor: Actor,
    /// Shown in the email and on the join page, e.g. a member's name or the app's name.
    pub display_name: String,
}

/// Where an invitation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvitationStatus {
    /// Sent and waiting for the invitee.
    Pending,
    /// The invitee joined.
    Accepted,
    /// An admin withdrew it.
    Revoked,
    /// Its link ran out of time.
    Expired,
}

impl InvitationStatus {
    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }

    /// Reads a stored name back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "accepted" => Some(Self::Accepted),
            "revoked" => Some(Self::Revoked),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// Where the latest email of an invitation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for (another) delivery attempt.
    Queued,
    /// Accepted by the mail transport.
    Sent,
    /// Given up on; `last_error` says why.
    Failed,
}

impl DeliveryStatus {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    /// The state with this wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Queued, Self::Sent, Self::Failed].into_iter().find(|state| state.as_str() == text)
    }
}

/// How one delivery attempt of an email ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The mail server accepted it.
    Sent,
    /// It failed and is tried again later.
    Retry,
    /// It failed for good.
    Failed,
    /// It failed, and is not tried again: a newer email carries the current link.
    Cancelled,
}

impl AttemptOutcome {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Retry => "retry",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The outcome with this stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Sent, Self::Retry, Self::Failed, Self::Cancelled].into_iter().find(|o| o.as_str() == text)
    }
}

/// One delivery attempt of an invitation's email.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryAttempt {
    /// The email (each re-send is another).
    pub message_id: MessageId,
    /// Its number among that email's attempts, from 1.
    pub attempt: u32,
    /// When it ended.
    pub at: Timestamp,
    /// How.
    pub outcome: AttemptOutcome,
    /// What the mail server (or the connection to it) answered: its reply to the message for
    /// an attempt that went out, the error for one that failed.
    pub reply: Option<String>,
}

/// The delivery state of one email.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// The last transport error, if any attempt failed.
    pub last_error: Option<String>,
    /// When the transport accepted it.
    pub sent_at: Option<Timestamp>,
    /// When the next attempt is due, while a failed attempt waits for its retry (backoff).
    pub next_attempt_at: Option<Timestamp>,
}

impl Delivery {
    /// A message just written to the outbox.
    pub const fn queued() -> Self {
        Self { status: DeliveryStatus::Queued, attempts: 0, last_error: None, sent_at: None, next_attempt_at: None }
    }
}

/// An invitation of one address into one app.
#[derive(Clone, Debug, PartialEq)]
pub struct Invitation {
    /// Its id.
    pub id: InvitationId,
    /// The app.
    pub app_id: AppId,
    /// The invited address.
    pub email: EmailAddress,
    /// The role the invitee gets on joining (the latest invite's role).
    pub role: Role,
    /// As stored; see [`Invitation::status_at`] for the status with expiry applied.
    pub status: InvitationStatus,
    /// Who sent the latest invitation email.
    pub invited_by: Inviter,
    /// When the current link stops working.
    pub expires_at: Timestamp,
    /// How many invitation emails went out for it.
    pub times_sent: u32,
    /// When the latest one was queued.
    pub last_sent_at: Timestamp,
    /// The latest email's delivery.
    pub delivery: Delivery,
    /// When it was first created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Who opened its join link, as far as can be told.
    pub opens: LinkOpens,
    /// Its reminder ([`crate::rules::reminders`]).
    pub reminder: ReminderTimes,
    /// The language its emails are written in; the app's default when `None`.
    pub locale: Option<Locale>,
}

/// When an invitation's reminder email is due and when one went out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReminderTimes {
    /// When the reminder of the current link is due (queued or being sent); `None` when none
    /// is scheduled.
    pub due_at: Option<Timestamp>,
    /// When the latest reminder was sent.
    pub reminded_at: Option<Timestamp>,
}

/// The opens of an invitation's join link, told apart into people and mail scanners by
/// [`crate::rules::opens`]. Recording them never changes the invitation or its token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkOpens {
    /// When the link was last fetched (`GET` or `HEAD`), by anyone.
    pub last_opened_at: Option<Timestamp>,
    /// When a person first viewed the join page: its script reported the view.
    pub opened_by_person_at: Option<Timestamp>,
    /// Fetches that looked automated by themselves (`HEAD`, a scanner's user agent, right
    /// after delivery).
    pub flagged_scanner_opens: u32,
    /// Page views whose script has not reported back (yet): no JavaScript ran.
    pub views_without_script: u32,
}

impl LinkOpens {
    /// Fetches that looked automated: flagged ones plus page views where no script ran. A
    /// person's view counts here for the moment until its script reports it.
    pub fn scanner_opens(&self) -> u32 {
        self.flagged_scanner_opens.saturating_add(self.views_without_script)
    }
}

impl Invitation {
    /// The status at `now`: a pending invitation past its expiry is expired.
    pub fn status_at(&self, now: Timestamp) -> InvitationStatus {
        if self.status == InvitationStatus::Pending && self.expires_at <= now {
            InvitationStatus::Expired
        } else {
            self.status
        }
    }
}

/// What an outbox message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailKind {
    /// An invitation with a join link.
    Invitation,
    /// A reminder to an existing member, leading to sign-in.
    SignIn,
    /// A password reset link.
    PasswordReset,
    /// A one-time code confirming a sign-up.
    SignupCode,
    /// A note to a member who tried to sign up again: they already have an account.
    AccountExists,
    /// A reminder of a pending invitation, with the same join link, before it expires.
    Reminder,
}

impl MailKind {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::SignIn => "sign_in",
            Self::PasswordReset => "password_reset",
            Self::SignupCode => "signup_code",
            Self::AccountExists => "account_exists",
            Self::Reminder => "reminder",
        }
    }

    /// Reads a stored name back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "invitation" => Some(Self::Invitation),
            "sign_in" => Some(Self::SignIn),
            "password_reset" => Some(Self::PasswordReset),
            "signup_code" => Some(Self::SignupCode),
            "account_exists" => Some(Self::AccountExists),
            "reminder" => Some(Self::Reminder),
            _ => None,
        }
    }
}

/// An email claimed from the outbox, with everything needed to render and send it.
#[derive(Clone, Debug)]
pub struct OutboxMessage {
    /// Its id; the `Message-ID` is derived from it so retries keep the same one.
    pub id: MessageId,
    /// What it is for.
    pub kind: MailKind,
    /// The recipient.
    pub to: EmailAddress,
    /// The app it is sent for, with its name, URL and sender settings as they are now.
    pub app: App,
    /// The recipient's role: offered by the invitation, or held as a member.
    pub role: Role,
    /// The name of whoever sent it.
    pub inviter_name: String,
    /// The invitation's link secret and expiry; present for [`MailKind::Invitation`].
    pub invitation: Option<InvitationLink>,
    /// The reset link's secret and expiry; present for [`MailKind::PasswordReset`].
    pub reset: Option<ResetLink>,
    /// The sign-up code and its expiry; present for [`MailKind::SignupCode`].
    pub code: Option<SignupCode>,
    /// The language to write it in: the one its invite named, else the app's default.
    pub locale: Locale,
    /// The app's own template for this kind and locale, if it has one.
    pub template: Option<MailTemplate>,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When it was queued.
    pub created_at: Timestamp,
}

/// The secret part of an invitation email.
#[derive(Clone, Debug)]
pub struct InvitationLink {
    /// The token the join link carries.
    pub token: InvitationToken,
    /// When the link stops working.
    pub expires_at: Timestamp,
}

/// The secret part of a password reset email.
#[derive(Clone, Debug)]
pub struct ResetLink {
    /// The token the reset link carries.
    pub token: ResetToken,
    /// When the link stops working.
    pub expires_at: Timestamp,
}

/// The secret part of a sign-up code email.
#[derive(Clone, Debug)]
pub struct SignupCode {
    /// The code.
    pub code: OneTimeCode,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// Why an invitation link does or does not work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// It can be used to join.
    Valid,
    /// No invitation ever had this token.
    Unknown,
    /// The invitation was already accepted.
    Used,
    /// A newer invitation email replaced this link.
    Replaced,
    /// An admin revoked the invitation.
    Revoked,
    /// The link ran out of time.
    Expired,
}

/// An invitation found by one of its tokens (current or replaced).
#[derive(Clone, Debug)]
pub struct TokenLookup {
    /// The invitation.
    pub invitation: Invitation,
    /// Its app.
    pub app: App,
    /// False when a re-invite issued a newer token.
    pub is_current: bool,
}

impl TokenLookup {
    /// What opening this link at `now` should do.
    pub fn state_at(&self, now: Timestamp) -> LinkState {
        match self.invitation.status_at(now) {
            InvitationStatus::Accepted => LinkState::Used,
            InvitationStatus::Revoked => LinkState::Revoked,
            _ if !self.is_current => LinkState::Replaced,
            InvitationStatus::Expired => LinkState::Expired,
            InvitationStatus::Pending => LinkState::Valid,
        }
    }
}

/// One entry of the audit log.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    /// Its position in the log (increasing).
    pub id: i64,
    /// Who did it.
    pub actor: Actor,
    /// What was done, e.g. `invitation.created`.
    pub action: String,
    /// The address it concerned, if any.
    pub subject_email: Option<String>,
    /// The invitation it concerned, if any.
    pub invitation_id: Option<String>,
    /// What changed, for actions that say more than their subject (see
    /// [`crate::rules::app_changes`]): e.g. `{"settings": {"locale": "de"}}`.
    pub detail: Option<serde_json::Value>,
    /// When.
    pub created_at: Timestamp,
}

/// What the audit log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    /// An app was created.
    AppCreated,
    /// A new invitation was sent.
    InvitationCreated,
    /// A pending invitation was sent again with a fresh link.
    InvitationResent,
    /// An existing member was sent a sign-in email instead of an invitation.
    MemberReminded,
    /// An invitee joined.
    InvitationAccepted,
    /// A member set a new password through a reset link.
    PasswordReset,
    /// Someone signed up with a one-time code.
    SignedUp,
    /// An admin revoked an invitation.
    InvitationRevoked,
    /// An API key was created.
    ApiKeyCreated,
    /// An API key was revoked.
    ApiKeyRevoked,
    /// The app's name, address or settings changed.
    SettingsChanged,
    /// An app's own email template was saved (new or replaced).
    TemplateSaved,
    /// An app's own email template was removed.
    TemplateRemoved,
}

impl AuditAction {
    /// Every action, in the order the log's filter offers them.
    pub const ALL: [Self; 13] = [
        Self::InvitationCreated,
        Self::InvitationResent,
        Self::MemberReminded,
        Self::InvitationAccepted,
        Self::InvitationRevoked,
        Self::PasswordReset,
        Self::SignedUp,
        Self::ApiKeyCreated,
        Self::ApiKeyRevoked,
        Self::SettingsChanged,
        Self::TemplateSaved,
        Self::TemplateRemoved,
        Self::AppCreated,
    ];

    /// The action with this stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == text)
    }

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AppCreated => "app.created",
            Self::InvitationCreated => "invitation.created",
            Self::InvitationResent => "invitation.resent",
            Self::MemberReminded => "invitation.member_reminded",
            Self::InvitationAccepted => "invitation.accepted",
            Self::PasswordReset => "user.password_reset",
            Self::SignedUp => "user.signed_up",
            Self::InvitationRevoked => "invitation.revoked",
            Self::ApiKeyCreated => "api_key.created",
            Self::ApiKeyRevoked => "api_key.revoked",
            Self::SettingsChanged => "app.settings_changed",
            Self::TemplateSaved => "template.saved",
            Self::TemplateRemoved => "template.removed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(app_url: &str, cors_origins: &[&str]) -> App {
        App {
            id: AppId::generate(),
            name: "Acme".into(),
            app_url: app_url.into(),
            settings: AppSettings {
                cors_origins: cors_origins.iter().map(|o| (*o).to_owned()).collect(),
                ..AppSettings::default()
            },
            created_at: Timestamp::from_millis(0),
        }
    }

    #[test]
    fn owns_origin_accepts_the_app_url_and_extra_origins_only() {
        let app = app("https://notes.acme.test:8443/app?x=1", &["https://admin.acme.test"]);

        assert!(app.owns_origin("https://notes.acme.test:8443"));
        assert!(app.owns_origin("https://admin.acme.test"));
        assert!(!app.owns_origin("https://notes.acme.test"));
        assert!(!app.owns_origin("http://notes.acme.test:8443"));
        assert!(!app.owns_origin("null"));
    }

    #[test]
    fn landing_origin_drops_path_and_keeps_port() {
        assert_eq!(app("http://localhost:9009/app", &[]).landing_origin().as_deref(), Some("http://localhost:9009"));
        assert_eq!(origin_of("not a url"), None);
    }
}

/// An app's own subject, text and HTML for one kind of email in one locale (minijinja, the
/// built-in templates' variables); checked before it is stored (`usher_mail::templates`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailTemplate {
    /// The kind of email.
    pub kind: MailKind,
    /// The locale.
    pub locale: Locale,
    /// The subject line's template.
    pub subject: String,
    /// The plain-text part's template.
    pub text: String,
    /// The HTML part's template (auto-escaped).
    pub html: String,
    /// When it was last saved.
    pub updated_at: Timestamp,
}
