//! Inviting and joining: the two transactions that carry the rules of DESIGN.md
//! ("Rules of inviting", "Links and tokens").
//!
//! Both start by taking the lock of the address they concern (see `locks`), so the decision
//! they make — create, re-send, remind; join or refuse — is made on what the previous
//! transaction about that address committed, never on a state another one is changing.

use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use sqlx_postgres::PgConnection;
use usher_core::InvitationId;
use usher_core::model::{Actor, AuditAction, LinkState, MailKind};
use usher_core::secret::TokenHash;
use usher_core::store::{AcceptCommand, AcceptRecord, InviteCommand, InviteRecord};

use super::audit::{self, Event};
use super::locks;
use super::outbox::{self, NewMessage};
use super::rows::{self, AddressRow, actor_columns, parsed};

/// The email kinds the resend throttle counts (rule 6): any invite, whichever case it was.
const INVITE_KINDS: [MailKind; 2] = [MailKind::Invitation, MailKind::SignIn];

/// Applies the rules of inviting to one address.
pub(super) async fn invite(conn: &mut PgConnection, cmd: &InviteCommand) -> sqlx_core::Result<InviteRecord> {
    locks::address(conn, &cmd.app_id, &cmd.email).await?;
    invite_locked(conn, cmd).await
}

/// Applies the rules of inviting to each command in turn, in one transaction.
pub(super) async fn invite_batch(
    conn: &mut PgConnection,
    cmds: &[InviteCommand],
) -> sqlx_core::Result<Vec<InviteRecord>> {
    // One lock for the app rather than one per address: see `locks`.
    locks::apps(conn, cmds.iter().map(|cmd| &cmd.app_id)).await?;
    let mut records = Vec::with_capacity(cmds.len());
    for cmd in cmds {
        records.push(invite_locked(conn, cmd).await?);
    }
    Ok(records)
}

/// Throttle, remind a member, re-send a pending invitation, or create one; the caller holds
/// the address's lock.
async fn invite_locked(conn: &mut PgConnection, cmd: &InviteCommand) -> sqlx_core::Result<InviteRecord> {
    let now = cmd.now;
    // Rule 6: any email to this address counts, whichever case produced it.
    let since = now.minus(cmd.resend_interval);
    if let Some(last) = outbox::latest_to(conn, &cmd.app_id, &cmd.email, &INVITE_KINDS, since).await? {
        return Ok(InviteRecord::Throttled { retry_after: now.until(last.plus(cmd.resend_interval)) });
    }

    // Rule 5: a member gets a sign-in email; the member itself is left alone.
    if let Some(user) = rows::user_by_email(conn, &cmd.app_id, &cmd.email).await? {
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
                now,
            },
        )
        .await?;
        record(conn, cmd, AuditAction::MemberReminded, None).await?;
        return Ok(InviteRecord::AlreadyMember(user));
    }

    let pending: Option<String> =
        query_scalar("SELECT id FROM invitations WHERE app_id = $1 AND email = $2 AND status = 'pending'")
            .bind(cmd.app_id.as_str())
            .bind(cmd.email.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    let pending = pending.map(|id| parsed("id", InvitationId::parse(&id))).transpose()?;
    let (invitation_id, action) = match &pending {
        // Rule 4: a pending invitation (even one past its expiry) is re-sent with a fresh
        // link, expiry and the latest role.
        Some(id) => {
            resend(conn, cmd, id).await?;
            (id.clone(), AuditAction::InvitationResent)
        }
        None => {
            create(conn, cmd).await?;
            (cmd.invitation_id.clone(), AuditAction::InvitationCreated)
        }
    };
    insert_token(conn, &invitation_id, cmd).await?;
    outbox::enqueue(
        conn,
        &NewMessage {
            id: &cmd.message_id,
            app_id: &cmd.app_id,
            kind: MailKind::Invitation,
            recipient: &cmd.email,
            invitation_id: Some(&invitation_id),
            role: cmd.role,
            inviter_name: &cmd.inviter.display_name,
            link: Some((cmd.token.expose(), cmd.expires_at)),
            now,
        },
    )
    .await?;
    record(conn, cmd, action, Some(&invitation_id)).await?;
    let invitation = rows::invitation_by_id(conn, &invitation_id).await?;
    Ok(if pending.is_some() { InviteRecord::Resent(invitation) } else { InviteRecord::Created(invitation) })
}

/// Inserts a new pending invitation, sent once.
async fn create(conn: &mut PgConnection, cmd: &InviteCommand) -> sqlx_core::Result<()> {
    let (inviter_kind, inviter_id) = actor_columns(&cmd.inviter.actor);
    query(
        "INSERT INTO invitations (id, app_id, email, role, status, inviter_kind, inviter_id, inviter_name, \
                                  expires_at, times_sent, last_sent_at, latest_message_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, 1, $9, $10, $11, $12)",
    )
    .bind(cmd.invitation_id.as_str())
    .bind(cmd.app_id.as_str())
    .bind(cmd.email.as_str())
    .bind(cmd.role.as_str())
    .bind(inviter_kind)
    .bind(inviter_id)
    .bind(&cmd.inviter.display_name)
    .bind(cmd.expires_at.as_millis())
    .bind(cmd.now.as_millis())
    .bind(cmd.message_id.as_str())
    .bind(cmd.now.as_millis())
    .bind(cmd.now.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

/// Retires the pending invitation's current link and its unsent emails, and refreshes it.
async fn resend(conn: &mut PgConnection, cmd: &InviteCommand, id: &InvitationId) -> sqlx_core::Result<()> {
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
    .execute(conn)
    .await?;
    Ok(())
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
                 SET password_hash = $1, is_verified = TRUE, full_name = COALESCE(NULLIF($2, ''), full_name), \
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
