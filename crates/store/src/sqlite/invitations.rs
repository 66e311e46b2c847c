//! Inviting and joining: the two transactions that carry the rules of DESIGN.md
//! ("Rules of inviting", "Links and tokens").

use rusqlite::{OptionalExtension, Transaction, params};
use usher_core::InvitationId;
use usher_core::model::{Actor, AuditAction, LinkState, MailKind};
use usher_core::store::{AcceptCommand, AcceptRecord, InviteCommand, InviteRecord};

use super::audit;
use super::outbox;
use super::rows::{self, actor_columns, decode};
use crate::records::Event;
use crate::records::NewMessage;

/// Applies the rules of inviting in one transaction: throttle, remind a member, re-send a
/// pending invitation, or create one.
pub(super) fn invite(tx: &Transaction<'_>, cmd: &InviteCommand) -> rusqlite::Result<InviteRecord> {
    let now = cmd.now;
    let pending = tx
        .prepare_cached("SELECT id, role FROM invitations WHERE app_id = ?1 AND email = ?2 AND status = 'pending'")?
        .query_row(params![cmd.app_id.as_str(), cmd.email.as_str()], |row| {
            Ok((decode(row, "id", |s: String| InvitationId::parse(&s))?, rows::role(row, "role")?))
        })
        .optional()?;
    // Rule 3: an invitation the inviter could not have created is not theirs to rewrite,
    // throttled or not.
    if pending.as_ref().is_some_and(|(_, role)| !cmd.may_resend(*role)) {
        return Ok(InviteRecord::NotAllowed);
    }
    let pending = pending.map(|(id, _)| id);

    // Rule 6: any email to this address counts, whichever case produced it.
    if let Some(last) = outbox::latest_to(tx, &cmd.app_id, &cmd.email, now.minus(cmd.resend_interval))? {
        return Ok(InviteRecord::Throttled { retry_after: now.until(last.plus(cmd.resend_interval)) });
    }

    // Rule 5: a member gets a sign-in email; the member itself is left alone.
    if let Some(user) = rows::user_by_email(tx, &cmd.app_id, &cmd.email)? {
        outbox::enqueue(
            tx,
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
        )?;
        record(tx, cmd, AuditAction::MemberReminded, None)?;
        return Ok(InviteRecord::AlreadyMember(user));
    }

    let (invitation_id, action) = match &pending {
        // Rule 4: a pending invitation (even one past its expiry) is re-sent with a fresh
        // link, expiry and the latest role.
        Some(id) => {
            resend(tx, cmd, id)?;
            (id.clone(), AuditAction::InvitationResent)
        }
        None => {
            create(tx, cmd)?;
            (cmd.invitation_id.clone(), AuditAction::InvitationCreated)
        }
    };
    insert_token(tx, &invitation_id, cmd)?;
    outbox::enqueue(
        tx,
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
    )?;
    record(tx, cmd, action, Some(&invitation_id))?;
    Ok(match pending {
        Some(_) => InviteRecord::Resent(rows::invitation_by_id(tx, &invitation_id)?),
        None => InviteRecord::Created(cmd.created_invitation()),
    })
}

/// Inserts a new pending invitation, sent once.
fn create(tx: &Transaction<'_>, cmd: &InviteCommand) -> rusqlite::Result<()> {
    let (inviter_kind, inviter_id) = actor_columns(&cmd.inviter.actor);
    tx.prepare_cached(
        "INSERT INTO invitations (id, app_id, email, role, status, inviter_kind, inviter_id, inviter_name, \
                                  expires_at, times_sent, last_sent_at, latest_message_id, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8, 1, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        cmd.invitation_id.as_str(),
        cmd.app_id.as_str(),
        cmd.email.as_str(),
        cmd.role.as_str(),
        inviter_kind,
        inviter_id,
        cmd.inviter.display_name,
        cmd.expires_at.as_millis(),
        cmd.now.as_millis(),
        cmd.message_id.as_str(),
        cmd.now.as_millis(),
        cmd.now.as_millis(),
    ])?;
    Ok(())
}

/// Retires the pending invitation's current link and its unsent emails, and refreshes it.
fn resend(tx: &Transaction<'_>, cmd: &InviteCommand, id: &InvitationId) -> rusqlite::Result<()> {
    // The old hash stays, marked replaced, so its link can say why it stopped working.
    tx.prepare_cached(
        "UPDATE invitation_tokens SET replaced_at = ?1 WHERE invitation_id = ?2 AND replaced_at IS NULL",
    )?
    .execute(params![cmd.now.as_millis(), id.as_str()])?;
    outbox::cancel_unsent(tx, id, cmd.now)?;
    let (inviter_kind, inviter_id) = actor_columns(&cmd.inviter.actor);
    tx.prepare_cached(
        "UPDATE invitations \
         SET role = ?1, expires_at = ?2, inviter_kind = ?3, inviter_id = ?4, inviter_name = ?5, \
             times_sent = times_sent + 1, last_sent_at = ?6, updated_at = ?7, latest_message_id = ?8 \
         WHERE id = ?9",
    )?
    .execute(params![
        cmd.role.as_str(),
        cmd.expires_at.as_millis(),
        inviter_kind,
        inviter_id,
        cmd.inviter.display_name,
        cmd.now.as_millis(),
        cmd.now.as_millis(),
        cmd.message_id.as_str(),
        id.as_str(),
    ])?;
    Ok(())
}

/// Stores the hash of the command's token as the invitation's current one.
fn insert_token(tx: &Transaction<'_>, invitation_id: &InvitationId, cmd: &InviteCommand) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT INTO invitation_tokens (token_hash, invitation_id, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![cmd.token.hash().as_str(), invitation_id.as_str(), cmd.now.as_millis()])?;
    Ok(())
}

/// Audits an invite by the command's inviter.
fn record(
    tx: &Transaction<'_>,
    cmd: &InviteCommand,
    action: AuditAction,
    invitation_id: Option<&InvitationId>,
) -> rusqlite::Result<()> {
    audit::record(
        tx,
        &Event {
            app_id: &cmd.app_id,
            actor: &cmd.inviter.actor,
            action,
            subject_email: Some(&cmd.email),
            invitation_id,
            at: cmd.now,
        },
    )
}

/// Accepts the invitation behind the token if its link is valid at `cmd.now`.
pub(super) fn accept(tx: &Transaction<'_>, cmd: &AcceptCommand) -> rusqlite::Result<AcceptRecord> {
    let Some(lookup) = rows::token_lookup(tx, &cmd.token_hash)? else {
        return Ok(AcceptRecord::Refused(LinkState::Unknown));
    };
    let state = lookup.state_at(cmd.now);
    if state != LinkState::Valid {
        return Ok(AcceptRecord::Refused(state));
    }
    let invitation = &lookup.invitation;

    // Conditional, and first: if another process accepted it meanwhile, nothing is written.
    let accepted = tx
        .prepare_cached(
            "UPDATE invitations SET status = 'accepted', accepted_at = ?1, updated_at = ?2 \
             WHERE id = ?3 AND status = 'pending'",
        )?
        .execute(params![cmd.now.as_millis(), cmd.now.as_millis(), invitation.id.as_str()])?;
    if accepted == 0 {
        return Ok(AcceptRecord::Refused(LinkState::Used));
    }

    let user_id = match rows::user_by_email(tx, &invitation.app_id, &invitation.email)? {
        Some(member) => {
            // Joining proves the address and sets the password; the role stays the member's.
            tx.prepare_cached(
                "UPDATE users \
                 SET password_hash = ?1, session_epoch = session_epoch + 1, is_verified = 1, full_name = COALESCE(NULLIF(?2, ''), full_name), \
                     updated_at = ?3 \
                 WHERE id = ?4",
            )?
            .execute(params![
                cmd.password_hash.as_str(),
                cmd.full_name,
                cmd.now.as_millis(),
                member.id.as_str()
            ])?;
            member.id
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO users (id, app_id, email, full_name, role, is_verified, is_disabled, password_hash, \
                                    custom, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 1, 0, ?6, '{}', ?7, ?8)",
            )?
            .execute(params![
                cmd.user_id.as_str(),
                invitation.app_id.as_str(),
                invitation.email.as_str(),
                cmd.full_name,
                invitation.role.as_str(),
                cmd.password_hash.as_str(),
                cmd.now.as_millis(),
                cmd.now.as_millis(),
            ])?;
            cmd.user_id.clone()
        }
    };
    audit::record(
        tx,
        &Event {
            app_id: &invitation.app_id,
            actor: &Actor::User(user_id.clone()),
            action: AuditAction::InvitationAccepted,
            subject_email: Some(&invitation.email),
            invitation_id: Some(&invitation.id),
            at: cmd.now,
        },
    )?;
    let user = rows::user_by_id(tx, &invitation.app_id, &user_id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    Ok(AcceptRecord::Joined { user, app: lookup.app })
}
