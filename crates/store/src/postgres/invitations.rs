//! Inviting and joining: each transaction reads the situation of the address or link, lets
//! `usher_core::rules` decide (DESIGN.md, "Rules of inviting", "Links and tokens"), and writes
//! what the plan says.
//!
//! Both start by taking the lock of the address they concern (see `locks`), so the situation
//! they read is what the previous transaction about that address committed, never a state
//! another one is changing.

use std::collections::{HashMap, HashSet};

use sqlx_core::from_row::FromRow;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_postgres::{PgConnection, PgRow};
use usher_core::model::{Invitation, LinkState, MailKind};
use usher_core::rules::invite::{
    ALLOWANCE_KINDS, InvitationRefresh, InvitePlan, InviteSituation, SentToday, THROTTLED_KINDS,
    invite_resend_or_remind,
};
use usher_core::rules::join::{JoinPlan, JoinSituation, JoinedMember, join_with_invitation};
use usher_core::rules::opens::{OpenPlan, record_open as record_open_rule};
use usher_core::rules::{NewAuditEvent, NewOutboxMessage};
use usher_core::secret::TokenHash;
use usher_core::store::{AcceptCommand, AcceptOutcome, InviteCommand, Invited, LinkOpenCommand};
use usher_core::{AppId, InvitationId, Role, Timestamp};

use super::audit;
use super::locks;
use super::outbox;
use super::rows::{self, AddressRow, parsed};
use crate::records::{Columns, actor_columns};

/// Invites one address.
pub(super) async fn invite(conn: &mut PgConnection, cmd: &InviteCommand) -> sqlx_core::Result<Invited> {
    if cmd.daily_allowance.is_some() {
        // The allowance is counted over the whole app, so two invites of different addresses
        // must not both read the count before either writes: the app's lock, as a batch takes.
        locks::apps(conn, [&cmd.app_id]).await?;
    } else {
        locks::address(conn, &cmd.app_id, &cmd.email).await?;
    }
    invite_locked(conn, std::slice::from_ref(cmd)).await.map(|mut outcomes| outcomes.remove(0))
}

/// Invites each command's address, in one transaction, as if one after another.
pub(super) async fn invite_batch(conn: &mut PgConnection, cmds: &[InviteCommand]) -> sqlx_core::Result<Vec<Invited>> {
    // One lock for the app rather than one per address: see `locks`.
    locks::apps(conn, cmds.iter().map(|cmd| &cmd.app_id)).await?;
    let mut addresses = HashSet::with_capacity(cmds.len());
    if cmds.iter().all(|cmd| addresses.insert((&cmd.app_id, &cmd.email))) {
        return invite_locked(conn, cmds).await;
    }
    // An address twice: the second command must see what the first wrote.
    let mut outcomes = Vec::with_capacity(cmds.len());
    for cmd in cmds {
        outcomes.extend(invite_locked(conn, std::slice::from_ref(cmd)).await?);
    }
    Ok(outcomes)
}

/// An [`InviteSituation`] as one row of [`situations`] reads it.
struct SituationRow(InviteSituation);

impl FromRow<'_, PgRow> for SituationRow {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        let pending = match row.optional_text("pending_id")? {
            Some(id) => Some((parsed("pending_id", InvitationId::parse(&id))?, row.role("pending_role")?)),
            None => None,
        };
        let member_role = match row.optional_text("member_role")? {
            Some(role) => Some(parsed("member_role", role.parse::<Role>())?),
            None => None,
        };
        let sent_today = SentToday {
            count: u32::try_from(row.optional_bigint("sent_today")?.unwrap_or(0))
                .map_err(|e| sqlx_core::Error::Decode(Box::new(e)))?,
            oldest: row.optional_timestamp("oldest_today")?,
        };
        Ok(Self(InviteSituation {
            pending,
            last_email_at: row.optional_timestamp("last_email_at")?,
            member_role,
            sent_today,
        }))
    }
}

// The allowance's kinds are written into the SQL below as `'invitation'` (a literal, so the
// partial index of migration 8 applies); this fails to compile should they change.
const _: () = assert!(matches!(ALLOWANCE_KINDS, [MailKind::Invitation]));

/// How many invitation emails the app queued after `since`.
pub(super) async fn invitation_emails_since(
    conn: &mut PgConnection,
    (app_id, since): &(&AppId, Timestamp),
) -> sqlx_core::Result<u64> {
    let count: i64 = sqlx_core::query_scalar::query_scalar(
        "SELECT COUNT(*) FROM outbox_messages WHERE app_id = $1 AND kind = 'invitation' AND created_at > $2",
    )
    .bind(app_id.as_str())
    .bind(since.as_millis())
    .fetch_one(conn)
    .await?;
    u64::try_from(count).map_err(|e| sqlx_core::Error::Decode(Box::new(e)))
}

/// The situation of each command's address, in order, read in one statement.
async fn situations(conn: &mut PgConnection, cmds: &[InviteCommand]) -> sqlx_core::Result<Vec<InviteSituation>> {
    let kinds: Vec<&str> = THROTTLED_KINDS.iter().map(|kind| kind.as_str()).collect();
    let rows: Vec<SituationRow> = query_as(
        "SELECT \
           (SELECT MAX(o.created_at) FROM outbox_messages o \
            WHERE o.app_id = c.app_id AND o.recipient = c.email AND o.kind = ANY($4) AND o.created_at > c.since) \
             AS last_email_at, \
           (SELECT u.role FROM users u WHERE u.app_id = c.app_id AND u.email = c.email) AS member_role, \
           p.id AS pending_id, p.role AS pending_role, a.sent_today, a.oldest_today \
         FROM unnest($1::text[], $2::text[], $3::bigint[], $5::bigint[]) \
              WITH ORDINALITY AS c(app_id, email, since, allowance_since, n) \
         LEFT JOIN invitations p ON p.app_id = c.app_id AND p.email = c.email AND p.status = 'pending' \
         LEFT JOIN LATERAL ( \
           SELECT COUNT(*) AS sent_today, MIN(o.created_at) AS oldest_today FROM outbox_messages o \
           WHERE o.app_id = c.app_id AND o.kind = 'invitation' AND o.created_at > c.allowance_since \
         ) a ON c.allowance_since IS NOT NULL \
         ORDER BY c.n",
    )
    .bind(cmds.iter().map(|cmd| cmd.app_id.as_str()).collect::<Vec<_>>())
    .bind(cmds.iter().map(|cmd| cmd.email.as_str()).collect::<Vec<_>>())
    .bind(cmds.iter().map(|cmd| cmd.throttle_since().as_millis()).collect::<Vec<_>>())
    .bind(kinds)
    .bind(cmds.iter().map(|cmd| cmd.allowance_since().map(Timestamp::as_millis)).collect::<Vec<_>>())
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|SituationRow(situation)| situation).collect())
}

/// A new invitation with its link, email and audit record, as the plan gave them.
struct Creation<'a> {
    invitation: Invitation,
    token_hash: TokenHash,
    mail: NewOutboxMessage<'a>,
    reminder: Option<NewOutboxMessage<'a>>,
    audit: NewAuditEvent<'a>,
}

/// Decides each command (of distinct addresses) on its situation and carries out the plans;
/// the caller holds the addresses' locks.
///
/// Creating, the common case, costs two statements for the whole batch: the situations, then
/// every created row. Round trips, not rows, are what an invite costs; the rarer plans take a
/// few statements each.
async fn invite_locked(conn: &mut PgConnection, cmds: &[InviteCommand]) -> sqlx_core::Result<Vec<Invited>> {
    let mut situations = situations(conn, cmds).await?;
    let mut outcomes: Vec<Option<Invited>> = Vec::with_capacity(cmds.len());
    let mut creations = Vec::new();
    // The situations were read before any command wrote: what the allowance counts must also
    // include the invitation emails of the earlier commands of this batch, per app.
    let mut sent_in_batch: HashMap<&AppId, (u32, Timestamp)> = HashMap::new();
    for (cmd, situation) in cmds.iter().zip(&mut situations) {
        if let Some(&(count, first)) = sent_in_batch.get(&cmd.app_id) {
            situation.sent_today.count += count;
            situation.sent_today.oldest = Some(situation.sent_today.oldest.map_or(first, |oldest| oldest.min(first)));
        }
        let situation = &*situation;
        let plan = invite_resend_or_remind(cmd, situation);
        if let InvitePlan::Resend { mail, .. } | InvitePlan::Create { mail, .. } = &plan {
            let entry = sent_in_batch.entry(&cmd.app_id).or_insert((0, mail.now));
            entry.0 += 1;
        }
        let outcome = match plan {
            InvitePlan::NotAllowed => Invited::NotAllowed,
            InvitePlan::DomainNotAllowed => Invited::DomainNotAllowed,
            InvitePlan::DailyLimit { retry_after } => Invited::DailyLimit { retry_after },
            InvitePlan::Throttled { retry_after } => Invited::Throttled { retry_after },
            InvitePlan::RemindMember { mail, audit } => {
                outbox::enqueue(conn, &mail).await?;
                audit::record(conn, &audit).await?;
                let member = rows::user_by_email(conn, mail.app_id, mail.recipient).await?;
                Invited::AlreadyMember(member.ok_or(sqlx_core::Error::RowNotFound)?)
            }
            InvitePlan::Resend { refresh, token_hash, mail, reminder, audit } => {
                resend(conn, &refresh, &token_hash, &mail).await?;
                outbox::enqueue(conn, &mail).await?;
                if let Some(reminder) = reminder {
                    outbox::enqueue(conn, &reminder).await?;
                }
                audit::record(conn, &audit).await?;
                Invited::Resent(rows::invitation_by_id(conn, refresh.id).await?)
            }
            InvitePlan::Create { invitation, token_hash, mail, reminder, audit } => {
                creations
                    .push((outcomes.len(), Creation { invitation: *invitation, token_hash, mail, reminder, audit }));
                outcomes.push(None);
                continue;
            }
        };
        outcomes.push(Some(outcome));
    }
    if !creations.is_empty() {
        create(conn, creations.iter().map(|(_, creation)| creation)).await?;
        // Reminders only exist where an app switched them on: one statement each, after the
        // invitations they belong to.
        for (_, creation) in &creations {
            if let Some(reminder) = &creation.reminder {
                outbox::enqueue(conn, reminder).await?;
            }
        }
        for (slot, creation) in creations {
            outcomes[slot] = Some(Invited::Created(creation.invitation));
        }
    }
    Ok(outcomes.into_iter().flatten().collect())
}

/// Writes each new invitation with its token hash, its queued email and its audit record, all
/// in one statement. (Foreign keys between the rows are checked at the end of the statement,
/// when all of them are in.)
async fn create<'a>(
    conn: &mut PgConnection,
    creations: impl Iterator<Item = &'a Creation<'a>> + Clone,
) -> sqlx_core::Result<()> {
    let text = |f: fn(&'a Creation<'a>) -> &'a str| creations.clone().map(f).collect::<Vec<&str>>();
    let optional = |f: fn(&'a Creation<'a>) -> Option<&'a str>| creations.clone().map(f).collect::<Vec<_>>();
    let millis = |f: fn(&'a Creation<'a>) -> Timestamp| creations.clone().map(|c| f(c).as_millis()).collect::<Vec<_>>();
    let times_sent = creations.clone().map(|c| i32::try_from(c.invitation.times_sent)).collect::<Result<Vec<_>, _>>();
    query(
        "WITH c AS ( \
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                                $8::text[], $9::bigint[], $10::integer[], $11::bigint[], $12::bigint[], $13::bigint[], \
                                $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], \
                                $20::text[], $21::text[], $22::bigint[], $23::bigint[], $24::text[], $25::text[], \
                                $26::text[], $27::text[], $28::text[], $29::bigint[], $30::text[]) \
             WITH ORDINALITY AS c(id, app_id, email, role, status, inviter_kind, inviter_id, inviter_name, \
                                  expires_at, times_sent, last_sent_at, created_at, updated_at, token_hash, \
                                  message_id, kind, recipient, mail_invitation_id, mail_role, mail_inviter_name, \
                                  token, token_expires_at, queued_at, action, actor_kind, actor_id, subject_email, \
                                  audit_invitation_id, audited_at, locale, n)), \
         invitation AS ( \
           INSERT INTO invitations (id, app_id, email, role, status, inviter_kind, inviter_id, inviter_name, \
                                    expires_at, times_sent, last_sent_at, latest_message_id, created_at, updated_at, \
                                    locale) \
           SELECT id, app_id, email, role, status, inviter_kind, inviter_id, inviter_name, expires_at, times_sent, \
                  last_sent_at, message_id, created_at, updated_at, locale FROM c), \
         token AS ( \
           INSERT INTO invitation_tokens (token_hash, invitation_id, created_at) \
           SELECT token_hash, id, created_at FROM c), \
         email AS ( \
           INSERT INTO outbox_messages (id, app_id, kind, recipient, invitation_id, role, inviter_name, \
                                        token, expires_at, status, next_attempt_at, created_at, locale) \
           SELECT message_id, app_id, kind, recipient, mail_invitation_id, mail_role, mail_inviter_name, token, \
                  token_expires_at, 'queued', queued_at, queued_at, locale FROM c) \
         INSERT INTO audit_events (app_id, actor_kind, actor_id, action, subject_email, invitation_id, created_at) \
         SELECT app_id, actor_kind, actor_id, action, subject_email, audit_invitation_id, audited_at FROM c ORDER BY n",
    )
    .bind(text(|c| c.invitation.id.as_str()))
    .bind(text(|c| c.invitation.app_id.as_str()))
    .bind(text(|c| c.invitation.email.as_str()))
    .bind(text(|c| c.invitation.role.as_str()))
    .bind(text(|c| c.invitation.status.as_str()))
    .bind(text(|c| actor_columns(&c.invitation.invited_by.actor).0))
    .bind(text(|c| actor_columns(&c.invitation.invited_by.actor).1))
    .bind(text(|c| &c.invitation.invited_by.display_name))
    .bind(millis(|c| c.invitation.expires_at))
    .bind(times_sent.map_err(|e| sqlx_core::Error::Encode(Box::new(e)))?)
    .bind(millis(|c| c.invitation.last_sent_at))
    .bind(millis(|c| c.invitation.created_at))
    .bind(millis(|c| c.invitation.updated_at))
    .bind(text(|c| c.token_hash.as_str()))
    .bind(text(|c| c.mail.id.as_str()))
    .bind(text(|c| c.mail.kind.as_str()))
    .bind(text(|c| c.mail.recipient.as_str()))
    .bind(optional(|c| c.mail.invitation_id.map(InvitationId::as_str)))
    .bind(text(|c| c.mail.role.as_str()))
    .bind(text(|c| c.mail.inviter_name))
    .bind(optional(|c| c.mail.link.map(|(token, _)| token)))
    .bind(creations.clone().map(|c| c.mail.link.map(|(_, at)| at.as_millis())).collect::<Vec<_>>())
    .bind(millis(|c| c.mail.now))
    .bind(text(|c| c.audit.action.as_str()))
    .bind(text(|c| actor_columns(&c.audit.actor).0))
    .bind(text(|c| actor_columns(&c.audit.actor).1))
    .bind(optional(|c| c.audit.subject_email.map(|email| email.as_str())))
    .bind(optional(|c| c.audit.invitation_id.map(InvitationId::as_str)))
    .bind(millis(|c| c.audit.at))
    // The invitation's locale is its first email's (both the invite's).
    .bind(optional(|c| c.invitation.locale.map(usher_core::Locale::as_str)))
    .execute(conn)
    .await?;
    Ok(())
}

/// Retires the pending invitation's current link and its unsent emails, and refreshes it with
/// a new link and `mail` as its latest email.
async fn resend(
    conn: &mut PgConnection,
    refresh: &InvitationRefresh<'_>,
    token_hash: &TokenHash,
    mail: &NewOutboxMessage<'_>,
) -> sqlx_core::Result<()> {
    // The old hash stays, marked replaced, so its link can say why it stopped working.
    query("UPDATE invitation_tokens SET replaced_at = $1 WHERE invitation_id = $2 AND replaced_at IS NULL")
        .bind(refresh.now.as_millis())
        .bind(refresh.id.as_str())
        .execute(&mut *conn)
        .await?;
    outbox::cancel_unsent(conn, refresh.id, refresh.now).await?;
    let (inviter_kind, inviter_id) = actor_columns(&refresh.inviter.actor);
    query(
        "UPDATE invitations \
         SET role = $1, expires_at = $2, inviter_kind = $3, inviter_id = $4, inviter_name = $5, \
             times_sent = times_sent + 1, last_sent_at = $6, updated_at = $7, latest_message_id = $8, \
             locale = COALESCE($10, locale) \
         WHERE id = $9",
    )
    .bind(refresh.role.as_str())
    .bind(refresh.expires_at.as_millis())
    .bind(inviter_kind)
    .bind(inviter_id)
    .bind(&refresh.inviter.display_name)
    .bind(refresh.now.as_millis())
    .bind(refresh.now.as_millis())
    .bind(mail.id.as_str())
    .bind(refresh.id.as_str())
    .bind(refresh.locale.map(usher_core::Locale::as_str))
    .execute(&mut *conn)
    .await?;
    query("INSERT INTO invitation_tokens (token_hash, invitation_id, created_at) VALUES ($1, $2, $3)")
        .bind(token_hash.as_str())
        .bind(refresh.id.as_str())
        .bind(refresh.now.as_millis())
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes the lock of the address whose invitation has this token; false for an unknown token.
async fn lock_by_token(conn: &mut PgConnection, hash: &TokenHash) -> sqlx_core::Result<bool> {
    let address: Option<AddressRow> = query_as(
        "SELECT i.app_id, i.email FROM invitation_tokens t JOIN invitations i ON i.id = t.invitation_id \
         WHERE t.token_hash = $1",
    )
    .bind(hash.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(AddressRow(app_id, email)) = address else { return Ok(false) };
    locks::address(conn, &app_id, &email).await?;
    Ok(true)
}

/// Joins with the invitation behind the token: reads the link's situation, decides, carries
/// out the plan.
pub(super) async fn accept(conn: &mut PgConnection, cmd: &AcceptCommand) -> sqlx_core::Result<AcceptOutcome> {
    // Lock first, then read: a re-send, revocation or sign-up of this address running now
    // finishes before the link's situation is read. (An unknown token has no address to lock;
    // its situation is read all the same, and finds nothing.)
    lock_by_token(conn, &cmd.token_hash).await?;
    let lookup = rows::token_lookup(conn, &cmd.token_hash).await?;
    let member = match &lookup {
        Some(found) => super::users::credentials(conn, &found.invitation.app_id, &found.invitation.email).await?,
        None => None,
    };
    let member_has_password = matches!(member, Some((_, Some(_))));
    let situation = JoinSituation { lookup, member_id: member.map(|(user, _)| user.id), member_has_password };
    let (invitation_id, app, member, audit, now) = match join_with_invitation(cmd, &situation) {
        JoinPlan::Refuse(state) => return Ok(AcceptOutcome::Refused(state)),
        JoinPlan::AccountChanged => return Ok(AcceptOutcome::AccountChanged),
        JoinPlan::Join { invitation_id, app, member, audit, now } => (invitation_id, app, member, audit, now),
    };
    // Conditional, and first: should another transaction have accepted it since it was read,
    // nothing is written. (The address lock makes that impossible today; the guard is cheap.)
    let accepted = query(
        "UPDATE invitations SET status = 'accepted', accepted_at = $1, updated_at = $2 \
         WHERE id = $3 AND status = 'pending'",
    )
    .bind(now.as_millis())
    .bind(now.as_millis())
    .bind(invitation_id.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if accepted == 0 {
        return Ok(AcceptOutcome::Refused(LinkState::Used));
    }
    match member {
        JoinedMember::Existing { id, full_name, password_hash } => {
            // No new password: the member's (verified) password and sessions stay as they are.
            query(
                "UPDATE users \
                 SET password_hash = COALESCE($1, password_hash), \
                     session_epoch = session_epoch + CASE WHEN $1::TEXT IS NULL THEN 0 ELSE 1 END, \
                     is_verified = TRUE, full_name = COALESCE(NULLIF($2, ''), full_name), updated_at = $3 \
                 WHERE id = $4",
            )
            .bind(password_hash.map(|h| h.as_str()))
            .bind(full_name)
            .bind(now.as_millis())
            .bind(id.as_str())
            .execute(&mut *conn)
            .await?;
        }
        JoinedMember::New { id, app_id, email, full_name, role, password_hash } => {
            query(
                "INSERT INTO users (id, app_id, email, full_name, role, is_verified, is_disabled, password_hash, \
                                    custom, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, TRUE, FALSE, $6, '{}', $7, $8)",
            )
            .bind(id.as_str())
            .bind(app_id.as_str())
            .bind(email.as_str())
            .bind(full_name)
            .bind(role.as_str())
            .bind(password_hash.as_str())
            .bind(now.as_millis())
            .bind(now.as_millis())
            .execute(&mut *conn)
            .await?;
        }
    }
    audit::record(conn, &audit).await?;
    let user = rows::user_by_id(conn, audit.app_id, member.id()).await?.ok_or(sqlx_core::Error::RowNotFound)?;
    Ok(AcceptOutcome::Joined { user, app: app.clone() })
}

/// Records a request to a join link: reads the link under its address's lock, lets the rule
/// count it, writes the counts (and nothing else: status, token and `updated_at` stay).
pub(super) async fn record_open(conn: &mut PgConnection, cmd: &LinkOpenCommand) -> sqlx_core::Result<()> {
    lock_by_token(conn, &cmd.token_hash).await?;
    let lookup = rows::token_lookup(conn, &cmd.token_hash).await?;
    let OpenPlan::Record { id, opens } = record_open_rule(lookup.as_ref(), &cmd.app_id, &cmd.open()) else {
        return Ok(());
    };
    query(
        "UPDATE invitations SET last_opened_at = $1, opened_by_person_at = $2, flagged_scanner_opens = $3, \
                                views_without_script = $4 WHERE id = $5",
    )
    .bind(opens.last_opened_at.map(Timestamp::as_millis))
    .bind(opens.opened_by_person_at.map(Timestamp::as_millis))
    .bind(i32::try_from(opens.flagged_scanner_opens).unwrap_or(i32::MAX))
    .bind(i32::try_from(opens.views_without_script).unwrap_or(i32::MAX))
    .bind(id.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
