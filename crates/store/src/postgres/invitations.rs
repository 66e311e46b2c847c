//! Inviting and joining: the two transactions that carry the rules of DESIGN.md
//! ("Rules of inviting", "Links and tokens").
//!
//! Both start by taking the lock of the address they concern (see `locks`), so the decision
//! they make — create, re-send, remind; join or refuse — is made on what the previous
//! transaction about that address committed, never on a state another one is changing.

use std::collections::HashSet;

use sqlx_core::from_row::FromRow;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::row::Row;
use sqlx_postgres::{PgConnection, PgRow};
use usher_core::model::{Actor, AuditAction, Invitation, LinkState, MailKind};
use usher_core::secret::TokenHash;
use usher_core::store::{AcceptCommand, AcceptRecord, InviteCommand, InviteRecord};
use usher_core::{InvitationId, Role, Timestamp};

use super::audit;
use super::locks;
use super::outbox;
use super::rows::{self, AddressRow, actor_columns, parsed};
use crate::records::Event;
use crate::records::NewMessage;

/// The email kinds the resend throttle counts (rule 6): any invite, whichever case it was.
const INVITE_KINDS: [MailKind; 2] = [MailKind::Invitation, MailKind::SignIn];

/// Applies the rules of inviting to one address.
pub(super) async fn invite(conn: &mut PgConnection, cmd: &InviteCommand) -> sqlx_core::Result<InviteRecord> {
    locks::address(conn, &cmd.app_id, &cmd.email).await?;
    invite_locked(conn, std::slice::from_ref(cmd)).await.map(|mut records| records.remove(0))
}

/// Applies the rules of inviting to each command, in one transaction, as if one after another.
pub(super) async fn invite_batch(
    conn: &mut PgConnection,
    cmds: &[InviteCommand],
) -> sqlx_core::Result<Vec<InviteRecord>> {
    // One lock for the app rather than one per address: see `locks`.
    locks::apps(conn, cmds.iter().map(|cmd| &cmd.app_id)).await?;
    let mut addresses = HashSet::with_capacity(cmds.len());
    if cmds.iter().all(|cmd| addresses.insert((&cmd.app_id, &cmd.email))) {
        return invite_locked(conn, cmds).await;
    }
    // An address twice: the second command must see what the first wrote.
    let mut records = Vec::with_capacity(cmds.len());
    for cmd in cmds {
        records.extend(invite_locked(conn, std::slice::from_ref(cmd)).await?);
    }
    Ok(records)
}

/// What the rules of inviting decide on for one address: the latest invite email to it within
/// the resend interval, whether it belongs to a member, and its pending invitation.
struct Situation {
    last_email_at: Option<i64>,
    is_member: bool,
    pending_id: Option<String>,
    pending_role: Option<Role>,
}

impl FromRow<'_, PgRow> for Situation {
    fn from_row(row: &PgRow) -> sqlx_core::Result<Self> {
        Ok(Self {
            last_email_at: row.try_get("last_email_at")?,
            is_member: row.try_get("is_member")?,
            pending_id: row.try_get("pending_id")?,
            pending_role: row
                .try_get::<Option<String>, _>("pending_role")?
                .map(|role| parsed("pending_role", role.parse::<Role>()))
                .transpose()?,
        })
    }
}

/// The situation of each command's address, in order, read in one statement.
async fn situations(conn: &mut PgConnection, cmds: &[InviteCommand]) -> sqlx_core::Result<Vec<Situation>> {
    let kinds: Vec<&str> = INVITE_KINDS.iter().map(|kind| kind.as_str()).collect();
    query_as(
        "SELECT \
           (SELECT MAX(o.created_at) FROM outbox_messages o \
            WHERE o.app_id = c.app_id AND o.recipient = c.email AND o.kind = ANY($4) AND o.created_at > c.since) \
             AS last_email_at, \
           EXISTS (SELECT 1 FROM users u WHERE u.app_id = c.app_id AND u.email = c.email) AS is_member, \
           p.id AS pending_id, p.role AS pending_role \
         FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS c(app_id, email, since, n) \
         LEFT JOIN invitations p ON p.app_id = c.app_id AND p.email = c.email AND p.status = 'pending' \
         ORDER BY c.n",
    )
    .bind(cmds.iter().map(|cmd| cmd.app_id.as_str()).collect::<Vec<_>>())
    .bind(cmds.iter().map(|cmd| cmd.email.as_str()).collect::<Vec<_>>())
    .bind(cmds.iter().map(|cmd| cmd.now.minus(cmd.resend_interval).as_millis()).collect::<Vec<_>>())
    .bind(kinds)
    .fetch_all(conn)
    .await
}

/// Throttles, reminds a member, re-sends a pending invitation, or creates one, for each
/// command (of distinct addresses); the caller holds the addresses' locks.
///
/// Creating, the common case, costs two statements for the whole batch: the situations, then
/// every created row. Round trips, not rows, are what an invite costs; the rarer cases take a
/// few statements each.
async fn invite_locked(conn: &mut PgConnection, cmds: &[InviteCommand]) -> sqlx_core::Result<Vec<InviteRecord>> {
    let situations = situations(conn, cmds).await?;
    let mut records = Vec::with_capacity(cmds.len());
    let mut creates = Vec::new();
    for (cmd, situation) in cmds.iter().zip(situations) {
        let record = match situation {
            // Rule 3: an invitation the inviter could not have created is not theirs to
            // rewrite, throttled or not.
            Situation { pending_role: Some(role), .. } if !cmd.may_resend(role) => InviteRecord::NotAllowed,
            // Rule 6: any email to this address counts, whichever case produced it.
            Situation { last_email_at: Some(last), .. } => InviteRecord::Throttled {
                retry_after: cmd.now.until(Timestamp::from_millis(last).plus(cmd.resend_interval)),
            },
            // Rule 5: a member gets a sign-in email; the member itself is left alone.
            Situation { is_member: true, .. } => remind(conn, cmd).await?,
            // Rule 4: a pending invitation (even one past its expiry) is re-sent with a fresh
            // link, expiry and the latest role.
            Situation { pending_id: Some(id), .. } => {
                let id = parsed("id", InvitationId::parse(&id))?;
                InviteRecord::Resent(resend(conn, cmd, &id).await?)
            }
            Situation { .. } => {
                creates.push(cmd);
                InviteRecord::Created(cmd.created_invitation())
            }
        };
        records.push(record);
    }
    if !creates.is_empty() {
        create(conn, &creates).await?;
    }
    Ok(records)
}

/// Queues a sign-in email to the member the command's address belongs to.
async fn remind(conn: &mut PgConnection, cmd: &InviteCommand) -> sqlx_core::Result<InviteRecord> {
    let user = rows::user_by_email(conn, &cmd.app_id, &cmd.email).await?.ok_or(sqlx_core::Error::RowNotFound)?;
    outbox::enqueue(
        conn,
        &NewMessage {
            id: &cmd.message_id,
            app_id: &cmd.app_id,
            kind: MailKind::SignIn,
            recipient: &cmd.email,
            invitation_id: None,
            role: user.role,
            inviter_name: &cmd.inviter.display_name,
            link: None,
            now: cmd.now,
        },
    )
    .await?;
    record(conn, cmd, AuditAction::MemberReminded, None).await?;
    Ok(InviteRecord::AlreadyMember(user))
}

/// Writes each command's new pending invitation, sent once, with its token hash, its queued
/// email and its audit record, all in one statement. (Foreign keys between the rows are
/// checked at the end of the statement, when all of them are in.)
async fn create(conn: &mut PgConnection, cmds: &[&InviteCommand]) -> sqlx_core::Result<()> {
    let column = |f: fn(&InviteCommand) -> &str| cmds.iter().map(|cmd| f(cmd)).collect::<Vec<&str>>();
    let millis = |f: fn(&InviteCommand) -> Timestamp| cmds.iter().map(|cmd| f(cmd).as_millis()).collect::<Vec<i64>>();
    let token_hashes: Vec<String> = cmds.iter().map(|cmd| cmd.token.hash().as_str().to_owned()).collect();
    query(
        "WITH c AS ( \
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                                $7::text[], $8::bigint[], $9::bigint[], $10::text[], $11::text[], $12::text[]) \
             WITH ORDINALITY AS c(id, app_id, email, role, inviter_kind, inviter_id, inviter_name, expires_at, \
                                  now, message_id, token_hash, token, n)), \
         invitation AS ( \
           INSERT INTO invitations (id, app_id, email, role, status, inviter_kind, inviter_id, inviter_name, \
                                    expires_at, times_sent, last_sent_at, latest_message_id, created_at, updated_at) \
           SELECT id, app_id, email, role, 'pending', inviter_kind, inviter_id, inviter_name, expires_at, 1, now, \
                  message_id, now, now FROM c), \
         token AS ( \
           INSERT INTO invitation_tokens (token_hash, invitation_id, created_at) SELECT token_hash, id, now FROM c), \
         email AS ( \
           INSERT INTO outbox_messages (id, app_id, kind, recipient, invitation_id, role, inviter_name, \
                                        token, expires_at, status, next_attempt_at, created_at) \
           SELECT message_id, app_id, 'invitation', email, id, role, inviter_name, token, expires_at, 'queued', \
                  now, now FROM c) \
         INSERT INTO audit_events (app_id, actor_kind, actor_id, action, subject_email, invitation_id, created_at) \
         SELECT app_id, inviter_kind, inviter_id, $13, email, id, now FROM c ORDER BY n",
    )
    .bind(column(|cmd| cmd.invitation_id.as_str()))
    .bind(column(|cmd| cmd.app_id.as_str()))
    .bind(column(|cmd| cmd.email.as_str()))
    .bind(column(|cmd| cmd.role.as_str()))
    .bind(column(|cmd| actor_columns(&cmd.inviter.actor).0))
    .bind(column(|cmd| actor_columns(&cmd.inviter.actor).1))
    .bind(column(|cmd| &cmd.inviter.display_name))
    .bind(millis(|cmd| cmd.expires_at))
    .bind(millis(|cmd| cmd.now))
    .bind(column(|cmd| cmd.message_id.as_str()))
    .bind(token_hashes)
    .bind(column(|cmd| cmd.token.expose()))
    .bind(AuditAction::InvitationCreated.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Retires the pending invitation's current link and its unsent emails, refreshes it, and
/// queues its email with a new link.
async fn resend(conn: &mut PgConnection, cmd: &InviteCommand, id: &InvitationId) -> sqlx_core::Result<Invitation> {
    // The old hash stays, marked replaced, so its link can say why it stopped working.
    query("UPDATE invitation_tokens SET replaced_at = $1 WHERE invitation_id = $2 AND replaced_at IS NULL")
        .bind(cmd.now.as_millis())
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    outbox::cancel_unsent(conn, id, cmd.now).await?;
    let (inviter_kind, inviter_id) = actor_columns(&cmd.inviter.actor);
    query(
        "UPDATE invitations \
         SET role = $1, expires_at = $2, inviter_kind = $3, inviter_id = $4, inviter_name = $5, \
             times_sent = times_sent + 1, last_sent_at = $6, updated_at = $7, latest_message_id = $8 \
         WHERE id = $9",
    )
    .bind(cmd.role.as_str())
    .bind(cmd.expires_at.as_millis())
    .bind(inviter_kind)
    .bind(inviter_id)
    .bind(&cmd.inviter.display_name)
    .bind(cmd.now.as_millis())
    .bind(cmd.now.as_millis())
    .bind(cmd.message_id.as_str())
    .bind(id.as_str())
    .execute(&mut *conn)
    .await?;
    insert_token(conn, id, cmd).await?;
    outbox::enqueue(
        conn,
        &NewMessage {
            id: &cmd.message_id,
            app_id: &cmd.app_id,
            kind: MailKind::Invitation,
            recipient: &cmd.email,
            invitation_id: Some(id),
            role: cmd.role,
            inviter_name: &cmd.inviter.display_name,
            link: Some((cmd.token.expose(), cmd.expires_at)),
            now: cmd.now,
        },
    )
    .await?;
    record(conn, cmd, AuditAction::InvitationResent, Some(id)).await?;
    rows::invitation_by_id(conn, id).await
}

/// Stores the hash of the command's token as the invitation's current one.
async fn insert_token(
    conn: &mut PgConnection,
    invitation_id: &InvitationId,
    cmd: &InviteCommand,
) -> sqlx_core::Result<()> {
    query("INSERT INTO invitation_tokens (token_hash, invitation_id, created_at) VALUES ($1, $2, $3)")
        .bind(cmd.token.hash().as_str())
        .bind(invitation_id.as_str())
        .bind(cmd.now.as_millis())
        .execute(conn)
        .await?;
    Ok(())
}

/// Audits an invite by the command's inviter.
async fn record(
    conn: &mut PgConnection,
    cmd: &InviteCommand,
    action: AuditAction,
    invitation_id: Option<&InvitationId>,
) -> sqlx_core::Result<()> {
    audit::record(
        conn,
        &Event {
            app_id: &cmd.app_id,
            actor: &cmd.inviter.actor,
            action,
            subject_email: Some(&cmd.email),
            invitation_id,
            at: cmd.now,
        },
    )
    .await
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

/// Accepts the invitation behind the token if its link is valid at `cmd.now`.
pub(super) async fn accept(conn: &mut PgConnection, cmd: &AcceptCommand) -> sqlx_core::Result<AcceptRecord> {
    // Lock first, then read: a re-send, revocation or sign-up of this address running now
    // finishes before the link's state is judged.
    if !lock_by_token(conn, &cmd.token_hash).await? {
        return Ok(AcceptRecord::Refused(LinkState::Unknown));
    }
    let Some(lookup) = rows::token_lookup(conn, &cmd.token_hash).await? else {
        return Ok(AcceptRecord::Refused(LinkState::Unknown));
    };
    let state = lookup.state_at(cmd.now);
    if state != LinkState::Valid {
        return Ok(AcceptRecord::Refused(state));
    }
    let invitation = &lookup.invitation;

    // Conditional, and first: if another transaction accepted it meanwhile, nothing is written.
    let accepted = query(
        "UPDATE invitations SET status = 'accepted', accepted_at = $1, updated_at = $2 \
         WHERE id = $3 AND status = 'pending'",
    )
    .bind(cmd.now.as_millis())
    .bind(cmd.now.as_millis())
    .bind(invitation.id.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if accepted == 0 {
        return Ok(AcceptRecord::Refused(LinkState::Used));
    }

    let user_id = match rows::user_by_email(conn, &invitation.app_id, &invitation.email).await? {
        Some(member) => {
            // Joining proves the address and sets the password; the role stays the member's.
            query(
                "UPDATE users \
                 SET password_hash = $1, session_epoch = session_epoch + 1, is_verified = TRUE, full_name = COALESCE(NULLIF($2, ''), full_name), \
                     updated_at = $3 \
                 WHERE id = $4",
            )
            .bind(cmd.password_hash.as_str())
            .bind(&cmd.full_name)
            .bind(cmd.now.as_millis())
            .bind(member.id.as_str())
            .execute(&mut *conn)
            .await?;
            member.id
        }
        None => {
            query(
                "INSERT INTO users (id, app_id, email, full_name, role, is_verified, is_disabled, password_hash, \
                                    custom, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, TRUE, FALSE, $6, '{}', $7, $8)",
            )
            .bind(cmd.user_id.as_str())
            .bind(invitation.app_id.as_str())
            .bind(invitation.email.as_str())
            .bind(&cmd.full_name)
            .bind(invitation.role.as_str())
            .bind(cmd.password_hash.as_str())
            .bind(cmd.now.as_millis())
            .bind(cmd.now.as_millis())
            .execute(&mut *conn)
            .await?;
            cmd.user_id.clone()
        }
    };
    audit::record(
        conn,
        &Event {
            app_id: &invitation.app_id,
            actor: &Actor::User(user_id.clone()),
            action: AuditAction::InvitationAccepted,
            subject_email: Some(&invitation.email),
            invitation_id: Some(&invitation.id),
            at: cmd.now,
        },
    )
    .await?;
    let user = rows::user_by_id(conn, &invitation.app_id, &user_id).await?.ok_or(sqlx_core::Error::RowNotFound)?;
    Ok(AcceptRecord::Joined { user, app: lookup.app })
}
