//! Inviting and joining: each transaction reads the situation of the address or link, lets
//! `usher_core::rules` decide (DESIGN.md, "Rules of inviting", "Links and tokens"), and writes
//! what the plan says.

use rusqlite::{Transaction, params};
use usher_core::model::LinkState;
use usher_core::rules::NewOutboxMessage;
use usher_core::rules::invite::{
    InvitationRefresh, InvitePlan, InviteSituation, SentToday, THROTTLED_KINDS, invite_resend_or_remind,
};
use usher_core::rules::join::{JoinPlan, JoinSituation, JoinedMember, join_with_invitation};
use usher_core::rules::opens::{OpenPlan, record_open as record_open_rule};
use usher_core::secret::TokenHash;
use usher_core::store::{AcceptCommand, AcceptOutcome, InviteCommand, Invited, LinkOpenCommand};
use usher_core::{InvitationId, Timestamp};

use super::audit;
use super::outbox;
use super::rows;
use crate::records::actor_columns;
use usher_core::model::Invitation;

/// Invites one address: reads its situation, decides, carries out the plan.
pub(super) fn invite(tx: &Transaction<'_>, cmd: &InviteCommand) -> rusqlite::Result<Invited> {
    let situation = InviteSituation {
        pending: rows::pending_invitation(tx, &cmd.app_id, &cmd.email)?,
        last_email_at: outbox::latest_to(tx, &cmd.app_id, &cmd.email, &THROTTLED_KINDS, cmd.throttle_since())?,
        member_role: rows::member_role(tx, &cmd.app_id, &cmd.email)?,
        // Read inside the transaction, after the writes of the earlier commands of a batch.
        sent_today: match cmd.allowance_since() {
            Some(since) => outbox::invitation_emails_since(tx, &cmd.app_id, since)?,
            None => SentToday::default(),
        },
    };
    Ok(match invite_resend_or_remind(cmd, &situation) {
        InvitePlan::NotAllowed => Invited::NotAllowed,
        InvitePlan::DomainNotAllowed => Invited::DomainNotAllowed,
        InvitePlan::DailyLimit { retry_after } => Invited::DailyLimit { retry_after },
        InvitePlan::Throttled { retry_after } => Invited::Throttled { retry_after },
        InvitePlan::RemindMember { mail, audit } => {
            outbox::enqueue(tx, &mail)?;
            audit::record(tx, &audit)?;
            let member = rows::user_by_email(tx, mail.app_id, mail.recipient)?;
            Invited::AlreadyMember(member.ok_or(rusqlite::Error::QueryReturnedNoRows)?)
        }
        InvitePlan::Resend { refresh, token_hash, mail, reminder, audit } => {
            resend(tx, &refresh, &mail)?;
            insert_token(tx, refresh.id, &token_hash, refresh.now)?;
            outbox::enqueue(tx, &mail)?;
            if let Some(reminder) = reminder {
                outbox::enqueue(tx, &reminder)?;
            }
            audit::record(tx, &audit)?;
            Invited::Resent(rows::invitation_by_id(tx, refresh.id)?)
        }
        InvitePlan::Create { invitation, token_hash, mail, reminder, audit } => {
            create(tx, &invitation, &mail)?;
            insert_token(tx, &invitation.id, &token_hash, invitation.created_at)?;
            outbox::enqueue(tx, &mail)?;
            if let Some(reminder) = reminder {
                outbox::enqueue(tx, &reminder)?;
            }
            audit::record(tx, &audit)?;
            Invited::Created(*invitation)
        }
    })
}

/// What inviting `cmds` one after another would answer, found by doing it inside a savepoint
/// that is then rolled back, whatever happened: the writer's transaction keeps nothing of it.
pub(super) fn rehearse(tx: &Transaction<'_>, cmds: &[InviteCommand]) -> rusqlite::Result<Vec<Invited>> {
    tx.execute_batch("SAVEPOINT dry_run")?;
    let outcomes = cmds.iter().map(|cmd| invite(tx, cmd)).collect();
    tx.execute_batch("ROLLBACK TO dry_run; RELEASE dry_run")?;
    outcomes
}

/// Inserts a new invitation whose latest email is `mail`.
fn create(tx: &Transaction<'_>, invitation: &Invitation, mail: &NewOutboxMessage<'_>) -> rusqlite::Result<()> {
    let (inviter_kind, inviter_id) = actor_columns(&invitation.invited_by.actor);
    tx.prepare_cached(
        "INSERT INTO invitations (id, app_id, email, role, status, inviter_kind, inviter_id, inviter_name, \
                                  expires_at, times_sent, last_sent_at, latest_message_id, created_at, updated_at, \
                                  locale) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        invitation.id.as_str(),
        invitation.app_id.as_str(),
        invitation.email.as_str(),
        invitation.role.as_str(),
        invitation.status.as_str(),
        inviter_kind,
        inviter_id,
        invitation.invited_by.display_name,
        invitation.expires_at.as_millis(),
        invitation.times_sent,
        invitation.last_sent_at.as_millis(),
        mail.id.as_str(),
        invitation.created_at.as_millis(),
        invitation.updated_at.as_millis(),
        invitation.locale.map(usher_core::Locale::as_str),
    ])?;
    Ok(())
}

/// Retires the pending invitation's current link and its unsent emails, and refreshes it
/// with `mail` as its latest email.
fn resend(tx: &Transaction<'_>, refresh: &InvitationRefresh<'_>, mail: &NewOutboxMessage<'_>) -> rusqlite::Result<()> {
    // The old hash stays, marked replaced, so its link can say why it stopped working.
    tx.prepare_cached(
        "UPDATE invitation_tokens SET replaced_at = ?1 WHERE invitation_id = ?2 AND replaced_at IS NULL",
    )?
    .execute(params![refresh.now.as_millis(), refresh.id.as_str()])?;
    outbox::cancel_unsent(tx, refresh.id, refresh.now)?;
    let (inviter_kind, inviter_id) = actor_columns(&refresh.inviter.actor);
    tx.prepare_cached(
        "UPDATE invitations \
         SET role = ?1, expires_at = ?2, inviter_kind = ?3, inviter_id = ?4, inviter_name = ?5, \
             times_sent = times_sent + 1, last_sent_at = ?6, updated_at = ?7, latest_message_id = ?8, \
             locale = COALESCE(?10, locale) \
         WHERE id = ?9",
    )?
    .execute(params![
        refresh.role.as_str(),
        refresh.expires_at.as_millis(),
        inviter_kind,
        inviter_id,
        refresh.inviter.display_name,
        refresh.now.as_millis(),
        refresh.now.as_millis(),
        mail.id.as_str(),
        refresh.id.as_str(),
        refresh.locale.map(usher_core::Locale::as_str),
    ])?;
    Ok(())
}

/// Stores `hash` as the invitation's current link.
fn insert_token(tx: &Transaction<'_>, id: &InvitationId, hash: &TokenHash, now: Timestamp) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT INTO invitation_tokens (token_hash, invitation_id, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![hash.as_str(), id.as_str(), now.as_millis()])?;
    Ok(())
}

/// Joins with the invitation behind the token: reads the link's situation, decides, carries
/// out the plan.
pub(super) fn accept(tx: &Transaction<'_>, cmd: &AcceptCommand) -> rusqlite::Result<AcceptOutcome> {
    let lookup = rows::token_lookup(tx, &cmd.token_hash)?;
    let member = match &lookup {
        Some(found) => super::users::credentials(tx, &found.invitation.app_id, &found.invitation.email)?,
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
    // nothing is written. (The single writer makes that impossible today; the guard is cheap.)
    let accepted = tx
        .prepare_cached(
            "UPDATE invitations SET status = 'accepted', accepted_at = ?1, updated_at = ?2 \
             WHERE id = ?3 AND status = 'pending'",
        )?
        .execute(params![now.as_millis(), now.as_millis(), invitation_id.as_str()])?;
    if accepted == 0 {
        return Ok(AcceptOutcome::Refused(LinkState::Used));
    }
    match member {
        JoinedMember::Existing { id, full_name, password_hash } => {
            // No new password: the member's (verified) password and sessions stay as they are.
            tx.prepare_cached(
                "UPDATE users \
                 SET password_hash = COALESCE(?1, password_hash), \
                     session_epoch = session_epoch + CASE WHEN ?1 IS NULL THEN 0 ELSE 1 END, is_verified = 1, \
                     full_name = COALESCE(NULLIF(?2, ''), full_name), updated_at = ?3 \
                 WHERE id = ?4",
            )?
            .execute(params![
                password_hash.map(|h| h.as_str()),
                full_name,
                now.as_millis(),
                id.as_str()
            ])?;
        }
        JoinedMember::New { id, app_id, email, full_name, role, password_hash } => {
            tx.prepare_cached(
                "INSERT INTO users (id, app_id, email, full_name, role, is_verified, is_disabled, password_hash, \
                                    custom, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 1, 0, ?6, '{}', ?7, ?8)",
            )?
            .execute(params![
                id.as_str(),
                app_id.as_str(),
                email.as_str(),
                full_name,
                role.as_str(),
                password_hash.as_str(),
                now.as_millis(),
                now.as_millis(),
            ])?;
        }
    }
    audit::record(tx, &audit)?;
    let user = rows::user_by_id(tx, audit.app_id, member.id())?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    Ok(AcceptOutcome::Joined { user, app: app.clone() })
}

/// Records a request to a join link: reads the link, lets the rule count it, writes the counts
/// (and nothing else: status, token and `updated_at` stay).
pub(super) fn record_open(tx: &Transaction<'_>, cmd: &LinkOpenCommand) -> rusqlite::Result<()> {
    let lookup = rows::token_lookup(tx, &cmd.token_hash)?;
    let OpenPlan::Record { id, opens } = record_open_rule(lookup.as_ref(), &cmd.app_id, &cmd.open()) else {
        return Ok(());
    };
    tx.prepare_cached(
        "UPDATE invitations SET last_opened_at = ?1, opened_by_person_at = ?2, flagged_scanner_opens = ?3, \
                                views_without_script = ?4 WHERE id = ?5",
    )?
    .execute(params![
        opens.last_opened_at.map(Timestamp::as_millis),
        opens.opened_by_person_at.map(Timestamp::as_millis),
        opens.flagged_scanner_opens,
        opens.views_without_script,
        id.as_str(),
    ])?;
    Ok(())
}
