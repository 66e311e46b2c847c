//! What both backends read the same way, whatever their SQL: every record decoded from its
//! columns (through [`Columns`], which each driver's row implements), a claimed outbox message
//! made ready to send, an outbox status as an invitation's delivery state, how an actor is
//! stored, and the error for a stored value this build does not know. (What they write — the
//! email to queue, the audit record — is part of the plans of `usher_core::rules`.)
//!
//! Stored text is parsed with the same constructors the edge uses (`Role::from_str`, the id
//! parsers; addresses with `EmailAddress::from_storage`, which is `parse` but keeps a row
//! written under earlier rules readable), so a record that comes out of the database is as
//! valid as one that came in through the API. A value that does not parse is reported as the
//! driver's decoding error naming the column, and surfaces as a backend error. JSON columns
//! are read as text (PostgreSQL selects them `::text`).

use std::error::Error;
use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};
use usher_core::console_session::ConsoleSessionRecord;
use usher_core::model::{
    Actor, ApiKeyRecord, App, AppSettings, AttemptOutcome, AuditEvent, Delivery, DeliveryAttempt, DeliveryStatus,
    Invitation, InvitationLink, InvitationStatus, InvitePolicy, Inviter, LinkOpens, MailKind, MailTemplate,
    OutboxMessage, ReminderTimes, ResetLink, SignupCode, User,
};
use usher_core::rules::NewAuditEvent;
use usher_core::rules::domains::DomainPattern;
use usher_core::rules::idempotency::{StoredKey, StoredResponse};
use usher_core::rules::reset::StoredResetLink;
use usher_core::rules::signup::StoredSignup;
use usher_core::secret::{InvitationToken, OneTimeCode, ResetToken};
use usher_core::{ApiKeyId, AppId, EmailAddress, InvitationId, Locale, MessageId, Role, Timestamp, UserId};

/// The invitation list's condition for a pending invitation whose expiry the sweep has not
/// announced (`announce_expired` marks `expired_event_at` at or after `expires_at`; a re-send's
/// later expiry makes it live again): the predicate of the partial index
/// `invitations_list_live_pending` (migration 0015), word for word, so that both planners read
/// that index. An unexpired invitation always meets it.
pub(crate) const LIVE_PENDING: &str =
    "i.status = 'pending' AND (i.expired_event_at IS NULL OR i.expired_event_at < i.expires_at)";

/// A stored enumeration value this build does not know.
#[derive(Debug)]
pub(crate) struct UnknownValue(pub(crate) String);

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected stored value `{}`", self.0)
    }
}

impl Error for UnknownValue {}

/// What an outbox status means for the invitation's delivery. A message in flight is still
/// queued as far as anyone watching is concerned; a cancelled one was given up on. Migration
/// 0011's triggers keep the same reading in `invitations.delivery_state`, which the list filters on.
pub(crate) fn delivery_status(outbox_status: &str) -> Option<DeliveryStatus> {
    match outbox_status {
        "queued" | "sending" => Some(DeliveryStatus::Queued),
        "sent" => Some(DeliveryStatus::Sent),
        "failed" | "cancelled" => Some(DeliveryStatus::Failed),
        _ => None,
    }
}

/// The last error recorded on a message given up on because it lacks the link its kind needs.
pub(crate) const NO_USABLE_LINK: &str = "the message has no usable link";

/// A due message as stored, before its app is attached.
pub(crate) struct DueMessage {
    pub(crate) id: MessageId,
    pub(crate) kind: MailKind,
    pub(crate) to: EmailAddress,
    pub(crate) app_id: AppId,
    pub(crate) role: Role,
    pub(crate) inviter_name: String,
    pub(crate) token: Option<String>,
    pub(crate) expires_at: Option<Timestamp>,
    pub(crate) attempts: u32,
    pub(crate) created_at: Timestamp,
    /// Its own locale, else its invitation's; the app's default when `None`.
    pub(crate) locale: Option<Locale>,
}

/// The link secrets of a due message, parsed.
pub(crate) struct Links {
    invitation: Option<InvitationLink>,
    reset: Option<ResetLink>,
    code: Option<SignupCode>,
}

impl DueMessage {
    /// The link its kind needs, parsed; `None` when it has no usable one. That cannot happen
    /// while the invariants hold (the link is erased only with a final status), and retrying
    /// would never help, so the caller gives up on the message for good ([`NO_USABLE_LINK`]).
    pub(crate) fn links(&self) -> Option<Links> {
        let token = self.token.as_deref();
        let mut links = Links { invitation: None, reset: None, code: None };
        match (self.kind, self.expires_at) {
            (MailKind::SignIn | MailKind::AccountExists, _) => {}
            (MailKind::Invitation | MailKind::Reminder, Some(expires_at)) => {
                links.invitation = Some(InvitationLink { token: token.and_then(InvitationToken::parse)?, expires_at });
            }
            (MailKind::PasswordReset, Some(expires_at)) => {
                links.reset = Some(ResetLink { token: token.and_then(ResetToken::parse)?, expires_at });
            }
            (MailKind::SignupCode, Some(expires_at)) => {
                links.code = Some(SignupCode { code: token.and_then(OneTimeCode::parse)?, expires_at });
            }
            (MailKind::Invitation | MailKind::Reminder | MailKind::PasswordReset | MailKind::SignupCode, None) => {
                return None;
            }
        }
        Some(links)
    }

    /// The message ready to send, with its app (as it is now), its parsed `links`, and the
    /// app's own template, picked from `templates` (the app's) by kind and locale.
    pub(crate) fn into_message(self, app: App, links: Links, templates: &[MailTemplate]) -> OutboxMessage {
        let locale = self.locale.unwrap_or(app.settings.locale);
        let template = templates.iter().find(|t| t.kind == self.kind && t.locale == locale).cloned();
        OutboxMessage {
            locale,
            template,
            id: self.id,
            kind: self.kind,
            to: self.to,
            app,
            role: self.role,
            inviter_name: self.inviter_name,
            invitation: links.invitation,
            reset: links.reset,
            code: links.code,
            attempts: self.attempts,
            created_at: self.created_at,
        }
    }
}

/// Why a stored value did not parse.
pub(crate) type Cause = Box<dyn Error + Send + Sync>;

/// One result row of either driver, read by column name: what the shared decoders need.
pub(crate) trait Columns {
    /// The driver's error.
    type Error;
    /// A TEXT column.
    fn text(&self, column: &str) -> Result<String, Self::Error>;
    /// A nullable TEXT column.
    fn optional_text(&self, column: &str) -> Result<Option<String>, Self::Error>;
    /// A BIGINT column (SQLite: INTEGER).
    fn bigint(&self, column: &str) -> Result<i64, Self::Error>;
    /// A nullable BIGINT column.
    fn optional_bigint(&self, column: &str) -> Result<Option<i64>, Self::Error>;
    /// An INTEGER counter, never negative by its CHECK constraint.
    fn count(&self, column: &str) -> Result<u32, Self::Error>;
    /// A BOOLEAN column (SQLite: 0 or 1).
    fn flag(&self, column: &str) -> Result<bool, Self::Error>;
    /// The driver's error for a value of `column` that did not parse.
    fn invalid(&self, column: &str, cause: Cause) -> Self::Error;

    /// The TEXT column `column`, converted with `parse`.
    fn parsed<T, E: Into<Cause>>(
        &self,
        column: &str,
        parse: impl FnOnce(String) -> Result<T, E>,
    ) -> Result<T, Self::Error> {
        let value = self.text(column)?;
        parse(value).map_err(|e| self.invalid(column, e.into()))
    }

    /// A BIGINT milliseconds column.
    fn timestamp(&self, column: &str) -> Result<Timestamp, Self::Error> {
        self.bigint(column).map(Timestamp::from_millis)
    }

    /// A nullable BIGINT milliseconds column.
    fn optional_timestamp(&self, column: &str) -> Result<Option<Timestamp>, Self::Error> {
        Ok(self.optional_bigint(column)?.map(Timestamp::from_millis))
    }

    /// A stored role.
    fn role(&self, column: &str) -> Result<Role, Self::Error> {
        self.parsed(column, |s| s.parse::<Role>())
    }

    /// A stored email address (see [`EmailAddress::from_storage`] for rows written under
    /// earlier rules).
    fn email(&self, column: &str) -> Result<EmailAddress, Self::Error> {
        self.parsed(column, |s| Ok::<_, std::convert::Infallible>(EmailAddress::from_storage(&s)))
    }

    /// A value stored under one of the names `parse` knows.
    fn known<T>(&self, column: &str, parse: fn(&str) -> Option<T>) -> Result<T, Self::Error> {
        self.parsed(column, |s| parse(&s).ok_or(UnknownValue(s)))
    }

    /// An actor stored as [`actor_columns`] writes it, in `kind_column` and `id_column`.
    fn actor(&self, kind_column: &str, id_column: &str) -> Result<Actor, Self::Error> {
        let kind = self.text(kind_column)?;
        self.parsed(id_column, |id| -> Result<Actor, Cause> {
            match kind.as_str() {
                "api_key" => Ok(Actor::ApiKey(ApiKeyId::parse(&id)?)),
                "user" => Ok(Actor::User(UserId::parse(&id)?)),
                _ => Err(Box::new(UnknownValue(kind))),
            }
        })
    }
}

/// How an actor is stored: `(actor_kind, actor_id)`.
pub(crate) fn actor_columns(actor: &Actor) -> (&'static str, &str) {
    match actor {
        Actor::ApiKey(id) => ("api_key", id.as_str()),
        Actor::User(id) => ("user", id.as_str()),
    }
}

/// An `apps` row: `id, name, app_url, invitation_ttl_secs, invite_policy, is_signup_open,
/// sender_name, sender_email, cors_origins, allowed_email_domains, blocked_email_domains,
/// max_invites_per_day, reminder_before_expiry_hours, created_at`.
pub(crate) fn app<R: Columns>(row: &R) -> Result<App, R::Error> {
    let ttl = row.bigint("invitation_ttl_secs")?;
    let ttl = u64::try_from(ttl).map_err(|e| row.invalid("invitation_ttl_secs", e.into()))?;
    let settings = AppSettings {
        invitation_ttl: Duration::from_secs(ttl),
        invite_policy: row.known("invite_policy", InvitePolicy::parse)?,
        is_signup_open: row.flag("is_signup_open")?,
        sender_name: row.optional_text("sender_name")?,
        sender_email: row.optional_text("sender_email")?.as_deref().map(EmailAddress::from_storage),
        cors_origins: row.parsed("cors_origins", |s| serde_json::from_str::<Vec<String>>(&s))?,
        allowed_email_domains: domain_patterns(row, "allowed_email_domains")?,
        blocked_email_domains: domain_patterns(row, "blocked_email_domains")?,
        max_invites_per_day: match row.optional_bigint("max_invites_per_day")? {
            Some(n) => Some(u32::try_from(n).map_err(|e| row.invalid("max_invites_per_day", e.into()))?),
            None => None,
        },
        reminder_before_expiry_hours: match row.optional_bigint("reminder_before_expiry_hours")? {
            Some(n) => Some(u32::try_from(n).map_err(|e| row.invalid("reminder_before_expiry_hours", e.into()))?),
            None => None,
        },
        locale: row.known("locale", Locale::from_storage)?,
    };
    Ok(App {
        id: row.parsed("id", |s| AppId::parse(&s))?,
        name: row.text("name")?,
        app_url: row.text("app_url")?,
        settings,
        created_at: row.timestamp("created_at")?,
    })
}

/// A JSON array of domain patterns, as settings store them.
fn domain_patterns<R: Columns>(row: &R, column: &str) -> Result<Vec<DomainPattern>, R::Error> {
    let texts = row.parsed(column, |s| serde_json::from_str::<Vec<String>>(&s))?;
    texts.iter().map(|t| DomainPattern::parse(t).map_err(|e| row.invalid(column, e.into()))).collect()
}

/// The domain patterns as the JSON array their column holds.
pub(crate) fn domain_patterns_json(patterns: &[DomainPattern]) -> String {
    let texts: Vec<&str> = patterns.iter().map(DomainPattern::as_str).collect();
    Value::from(texts).to_string()
}

/// A `users` row: `id, app_id, email, full_name, role, is_verified, is_disabled,
/// session_epoch, custom, created_at, updated_at` (never the password hash).
pub(crate) fn user<R: Columns>(row: &R) -> Result<User, R::Error> {
    Ok(User {
        id: row.parsed("id", |s| UserId::parse(&s))?,
        app_id: row.parsed("app_id", |s| AppId::parse(&s))?,
        email: row.email("email")?,
        full_name: row.text("full_name")?,
        role: row.role("role")?,
        is_verified: row.flag("is_verified")?,
        is_disabled: row.flag("is_disabled")?,
        session_epoch: row.bigint("session_epoch")?,
        custom: row.parsed("custom", |s| serde_json::from_str::<Map<String, Value>>(&s))?,
        created_at: row.timestamp("created_at")?,
        updated_at: row.timestamp("updated_at")?,
    })
}

/// A `delivery_attempts` row.
pub(crate) fn delivery_attempt<R: Columns>(row: &R) -> Result<DeliveryAttempt, R::Error> {
    Ok(DeliveryAttempt {
        message_id: row.parsed("message_id", |s| MessageId::parse(&s))?,
        attempt: row.count("attempt")?,
        at: row.timestamp("at")?,
        outcome: row.known("outcome", AttemptOutcome::parse)?,
        reply: row.optional_text("reply")?,
    })
}

/// An invitation with the delivery state of its latest message: the invitation's columns and
/// `delivery_status, delivery_attempts, delivery_last_error, delivery_sent_at,
/// delivery_next_attempt_at`, and its reminder's `reminder_due_at, reminded_at` (from its
/// outbox rows of kind `reminder`: the one queued or being sent, the latest sent).
pub(crate) fn invitation<R: Columns>(row: &R) -> Result<Invitation, R::Error> {
    let delivery = Delivery {
        status: row.known("delivery_status", delivery_status)?,
        attempts: row.count("delivery_attempts")?,
        last_error: row.optional_text("delivery_last_error")?,
        sent_at: row.optional_timestamp("delivery_sent_at")?,
        next_attempt_at: row.optional_timestamp("delivery_next_attempt_at")?,
    };
    Ok(Invitation {
        id: row.parsed("id", |s| InvitationId::parse(&s))?,
        app_id: row.parsed("app_id", |s| AppId::parse(&s))?,
        email: row.email("email")?,
        role: row.role("role")?,
        status: row.known("status", InvitationStatus::parse)?,
        invited_by: Inviter {
            actor: row.actor("inviter_kind", "inviter_id")?,
            display_name: row.text("inviter_name")?,
        },
        expires_at: row.timestamp("expires_at")?,
        times_sent: row.count("times_sent")?,
        last_sent_at: row.timestamp("last_sent_at")?,
        delivery,
        created_at: row.timestamp("created_at")?,
        updated_at: row.timestamp("updated_at")?,
        opens: LinkOpens {
            last_opened_at: row.optional_timestamp("last_opened_at")?,
            opened_by_person_at: row.optional_timestamp("opened_by_person_at")?,
            flagged_scanner_opens: row.count("flagged_scanner_opens")?,
            views_without_script: row.count("views_without_script")?,
        },
        reminder: ReminderTimes {
            due_at: row.optional_timestamp("reminder_due_at")?,
            reminded_at: row.optional_timestamp("reminded_at")?,
        },
        locale: optional_locale(row, "locale")?,
    })
}

/// A locale column that may be NULL.
pub(crate) fn optional_locale<R: Columns>(row: &R, column: &str) -> Result<Option<Locale>, R::Error> {
    match row.optional_text(column)? {
        None => Ok(None),
        Some(tag) => Locale::from_storage(&tag).map(Some).ok_or_else(|| row.invalid(column, UnknownValue(tag).into())),
    }
}

/// A `mail_templates` row: `kind, locale, subject, text, html, updated_at`.
pub(crate) fn mail_template<R: Columns>(row: &R) -> Result<MailTemplate, R::Error> {
    Ok(MailTemplate {
        kind: row.known("kind", MailKind::parse)?,
        locale: row.known("locale", Locale::from_storage)?,
        subject: row.text("subject")?,
        text: row.text("text")?,
        html: row.text("html")?,
        updated_at: row.timestamp("updated_at")?,
    })
}

/// An `api_keys` row: `id, app_id, name, created_at`.
pub(crate) fn api_key<R: Columns>(row: &R) -> Result<ApiKeyRecord, R::Error> {
    Ok(ApiKeyRecord {
        id: row.parsed("id", |s| ApiKeyId::parse(&s))?,
        app_id: row.parsed("app_id", |s| AppId::parse(&s))?,
        name: row.text("name")?,
        created_at: row.timestamp("created_at")?,
    })
}

/// A `console_sessions` row: `app_id, user_id, session_epoch, created_at, last_seen_at,
/// expires_at`.
pub(crate) fn console_session<R: Columns>(row: &R) -> Result<ConsoleSessionRecord, R::Error> {
    Ok(ConsoleSessionRecord {
        app_id: row.parsed("app_id", |s| AppId::parse(&s))?,
        user_id: row.parsed("user_id", |s| UserId::parse(&s))?,
        session_epoch: row.bigint("session_epoch")?,
        created_at: row.timestamp("created_at")?,
        last_seen_at: row.timestamp("last_seen_at")?,
        expires_at: row.timestamp("expires_at")?,
    })
}

/// An `audit_events` row: `id, actor_kind, actor_id, action, subject_email, invitation_id,
/// detail, created_at`.
pub(crate) fn audit_event<R: Columns>(row: &R) -> Result<AuditEvent, R::Error> {
    let detail = row
        .optional_text("detail")?
        .map(|json| serde_json::from_str(&json).map_err(|e| row.invalid("detail", e.into())))
        .transpose()?;
    Ok(AuditEvent {
        id: row.bigint("id")?,
        actor: row.actor("actor_kind", "actor_id")?,
        action: row.text("action")?,
        subject_email: row.optional_text("subject_email")?,
        invitation_id: row.optional_text("invitation_id")?,
        detail,
        created_at: row.timestamp("created_at")?,
    })
}

/// An audit entry's detail as its TEXT column holds it.
pub(crate) fn audit_detail(event: &NewAuditEvent<'_>) -> Option<String> {
    event.detail.as_ref().map(ToString::to_string)
}

/// A `signups` row: `password_hash, code_hash, expires_at, attempts, replaced_code_hashes`.
pub(crate) fn stored_signup<R: Columns>(row: &R) -> Result<StoredSignup, R::Error> {
    Ok(StoredSignup {
        password_hash: row.text("password_hash")?,
        code_hash: row.text("code_hash")?,
        expires_at: row.timestamp("expires_at")?,
        attempts: row.count("attempts")?,
        replaced_code_hashes: row.text("replaced_code_hashes")?,
    })
}

/// A `password_resets` row: `user_id, expires_at, used_at`.
pub(crate) fn reset_link<R: Columns>(row: &R) -> Result<StoredResetLink, R::Error> {
    Ok(StoredResetLink {
        user_id: row.parsed("user_id", |s| UserId::parse(&s))?,
        expires_at: row.timestamp("expires_at")?,
        is_used: row.optional_bigint("used_at")?.is_some(),
    })
}

/// A due `outbox_messages` row: `id, kind, recipient, app_id, role, inviter_name, token,
/// expires_at, attempts, created_at, locale` (the message's, else its invitation's).
pub(crate) fn due_message<R: Columns>(row: &R) -> Result<DueMessage, R::Error> {
    Ok(DueMessage {
        id: row.parsed("id", |s| MessageId::parse(&s))?,
        kind: row.known("kind", MailKind::parse)?,
        to: row.email("recipient")?,
        app_id: row.parsed("app_id", |s| AppId::parse(&s))?,
        role: row.role("role")?,
        inviter_name: row.text("inviter_name")?,
        token: row.optional_text("token")?,
        expires_at: row.optional_timestamp("expires_at")?,
        attempts: row.count("attempts")?,
        created_at: row.timestamp("created_at")?,
        locale: optional_locale(row, "locale")?,
    })
}

/// An `idempotency_keys` row: `fingerprint, status, body, locked_until, expires_at`.
pub(crate) fn stored_key<R: Columns>(row: &R) -> Result<StoredKey, R::Error> {
    let status = row.optional_bigint("status")?;
    let response = match status {
        None => None,
        Some(status) => Some(StoredResponse {
            status: u16::try_from(status).map_err(|e| row.invalid("status", e.into()))?,
            body: row.optional_text("body")?.unwrap_or_default(),
        }),
    };
    Ok(StoredKey {
        fingerprint: row.text("fingerprint")?,
        response,
        locked_until: row.timestamp("locked_until")?,
        expires_at: row.timestamp("expires_at")?,
    })
}
