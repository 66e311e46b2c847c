//! The rules of inviting (DESIGN.md, "Rules of inviting"): who may invite whom, re-sends,
//! throttling. Both invite routes call [`InviteService::invite`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::access::Principal;
use crate::clock::{Clock, Timestamp, ceil_secs};
use crate::email::EmailAddress;
use crate::id::{InvitationId, MessageId};
use crate::idempotency::{Keyed, KeyedRows, KeyedWrite, RowDone, RowKey};
use crate::locale::Locale;
use crate::model::{Actor, App, Invitation, InvitationStatus, InvitePolicy, Inviter, User};
use crate::role::Role;
use crate::rules::domains::refused_domain;
use crate::rules::idempotency::StoredResponse;
use crate::secret::InvitationToken;
use crate::store::{InvitationQuery, InviteCommand, Invited, LinkReminder, Store, StoreError};

/// What an invite did.
#[derive(Debug, Clone)]
pub enum InviteOutcome {
    /// A new invitation; its email is queued.
    Created(Invitation),
    /// The pending invitation was re-sent with a fresh link, expiry and the latest role.
    Resent(Invitation),
    /// The address is already a member; a sign-in email is queued and the role is unchanged.
    AlreadyMember {
        /// The address.
        email: EmailAddress,
        /// The member, only for callers who may list members (API keys and admins): a plain
        /// member inviting learns that the address is a member, not its id or role.
        member: Option<User>,
    },
}

/// Why an invite was refused.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// This app lets only admins invite.
    #[error("only admins of this app may invite people")]
    AdminsOnly,
    /// Members may invite, but not admins.
    #[error("members may only invite with role \"user\"")]
    RoleEscalation,
    /// A member re-invited an address whose pending invitation has role `admin`.
    #[error("this address has a pending invitation as admin; only admins of this app may change or re-send it")]
    AdminInvitationPending,
    /// The app's domain lists refuse the address's domain.
    #[error("this app does not accept addresses at {domain}")]
    DomainNotAllowed {
        /// The refused domain.
        domain: String,
    },
    /// The app's daily allowance of invitation emails is used up.
    #[error("this app may send at most {limit} invitations in 24 hours and has sent them; try again in {} seconds", ceil_secs(*.retry_after))]
    DailyLimit {
        /// How long until one is allowed again.
        retry_after: Duration,
        /// The allowance.
        limit: u32,
    },
    /// An email went to this address too recently.
    #[error("an email was sent to this address less than {} seconds ago; try again in {} seconds", .interval.as_secs(), ceil_secs(*.retry_after))]
    Throttled {
        /// How long until the next email is allowed.
        retry_after: Duration,
        /// The configured interval.
        interval: Duration,
    },
    /// No invitation of this app has this id.
    #[error("invitation not found")]
    NotFound,
    /// A bulk row was refused at the edge (bad address or role).
    #[error("{}", .0.message)]
    Refused(BulkRefusal),
    /// The invitation was accepted or revoked; only pending ones can be re-sent or revoked.
    #[error("this invitation is {}; only pending invitations can be re-sent or revoked", .0.as_str())]
    NotPending(InvitationStatus),
    /// A bulk row's `idempotency_key` was used with another row or request within 24 h.
    #[error("this idempotency_key was used with a different row or request; use a new key for a new row")]
    KeyReused,
    /// The first request with a bulk row's `idempotency_key` is still being processed (or an
    /// earlier row of the same request has the key).
    #[error("a request with this idempotency_key is still being processed (or an earlier row has it); retry later")]
    KeyInUse,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Invites people into apps.
pub struct InviteService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    resend_interval: Duration,
    outbox: Arc<Notify>,
    events: Arc<Notify>,
}

impl InviteService {
    /// A service that writes to `store`, wakes the delivery worker through `outbox` and the
    /// webhook worker through `events` (invites and revocations write webhook events).
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        resend_interval: Duration,
        outbox: Arc<Notify>,
        events: Arc<Notify>,
    ) -> Self {
        Self { store, clock, resend_interval, outbox, events }
    }

    /// The store command for inviting `email` with `role` at `now`, with fresh secrets.
    fn command(&self, app: &App, by: &Principal, invitee: Invitee, now: Timestamp) -> InviteCommand {
        let Invitee { email, role, locale } = invitee;
        let expires_at = now.plus(app.settings.invitation_ttl);
        InviteCommand {
            app_id: app.id.clone(),
            role,
            inviter: inviter(app, by),
            invitation_id: InvitationId::generate(),
            token: InvitationToken::generate(),
            message_id: MessageId::generate(),
            reminder: LinkReminder::when_due(app.settings.reminder_before_expiry_hours, expires_at, now),
            expires_at,
            resend_interval: self.resend_interval,
            may_invite_admins: by.is_admin(),
            email_domain_allowed: refused_domain(app.settings.domain_rules(), &email).is_none(),
            daily_allowance: app.settings.max_invites_per_day,
            locale,
            email,
            now,
        }
    }

    /// Invites `email` into `app` with `role`, on behalf of `by` (or, with [`Run::Dry`], says
    /// what that would do).
    pub async fn invite(
        &self,
        app: &App,
        by: &Principal,
        invitee: Invitee,
        run: Run,
    ) -> Result<InviteOutcome, InviteError> {
        self.invite_with(app, by, invitee, run, None).await
    }

    /// [`InviteService::invite`] for real under an `Idempotency-Key` the caller has claimed: the
    /// response `key` renders is stored in the invitation's transaction.
    pub async fn invite_keyed(
        &self,
        app: &App,
        by: &Principal,
        invitee: Invitee,
        key: Keyed<Result<InviteOutcome, InviteError>>,
    ) -> Result<InviteOutcome, InviteError> {
        self.invite_with(app, by, invitee, Run::Real, Some(key)).await
    }

    async fn invite_with(
        &self,
        app: &App,
        by: &Principal,
        invitee: Invitee,
        run: Run,
        key: Option<Keyed<Result<InviteOutcome, InviteError>>>,
    ) -> Result<InviteOutcome, InviteError> {
        check_may_invite(app, by, invitee.role)?;
        let cmd = self.command(app, by, invitee, self.clock.now());
        // Kept for the refusal's message only when the lists refuse it: no copy otherwise.
        let refused = (!cmd.email_domain_allowed).then(|| cmd.email.clone());
        let reading = self.reading(app, by);
        let invited = match (run, key) {
            (Run::Real, None) => self.store.invite(cmd).await?,
            (Run::Real, Some(key)) => {
                let (reading, refused) = (reading.clone(), refused.clone());
                let write = KeyedWrite::new(app.id.clone(), key.key.clone(), move |done: &[Invited]| {
                    key.render(match done.first() {
                        Some(invited) => reading.outcome(invited.clone(), refused.as_ref()),
                        None => Err(missing_outcome()),
                    })
                });
                self.store.invite_keyed(vec![cmd], write).await?.pop().ok_or_else(missing_outcome)?
            }
            (Run::Dry, _) => self.store.invite_dry_run(vec![cmd]).await?.pop().ok_or_else(missing_outcome)?,
        };
        let outcome = reading.outcome(invited, refused.as_ref())?;
        if run == Run::Real {
            self.outbox.notify_one();
            self.events.notify_one();
        }
        Ok(outcome)
    }

    /// How the store's outcomes read for `by` inviting into `app`.
    fn reading(&self, app: &App, by: &Principal) -> Reading {
        Reading {
            may_list_members: by.may_list_members(),
            resend_interval: self.resend_interval,
            daily_limit: app.settings.max_invites_per_day.unwrap_or_default(),
        }
    }
}

/// Turns what the store did into what the caller sees ([`InviteOutcome`] or a refusal): the
/// same for the response and for the response stored under an `Idempotency-Key`.
#[derive(Clone)]
struct Reading {
    may_list_members: bool,
    resend_interval: Duration,
    daily_limit: u32,
}

impl Reading {
    /// `invited` as the caller sees it; `refused` is the address when the domain lists refuse it.
    fn outcome(&self, invited: Invited, refused: Option<&EmailAddress>) -> Result<InviteOutcome, InviteError> {
        match invited {
            Invited::Created(invitation) => Ok(InviteOutcome::Created(invitation)),
            Invited::Resent(invitation) => Ok(InviteOutcome::Resent(invitation)),
            Invited::AlreadyMember(user) => Ok(InviteOutcome::AlreadyMember {
                email: user.email.clone(),
                member: self.may_list_members.then_some(user),
            }),
            Invited::Throttled { retry_after } => {
                Err(InviteError::Throttled { retry_after, interval: self.resend_interval })
            }
            Invited::NotAllowed => Err(InviteError::AdminInvitationPending),
            Invited::DomainNotAllowed => Err(domain_not_allowed(refused)),
            Invited::DailyLimit { retry_after } => {
                Err(InviteError::DailyLimit { retry_after, limit: self.daily_limit })
            }
        }
    }
}

/// Whether an invite is carried out or only rehearsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Run {
    /// Written and sent.
    Real,
    /// Decided exactly as [`Run::Real`] would be, on the same data, and then rolled back:
    /// nothing is written or sent (see [`crate::store::InvitationStore::invite_dry_run`]).
    Dry,
}

fn missing_outcome() -> InviteError {
    InviteError::Store(StoreError::Backend("the store answered fewer outcomes than invites".into()))
}

/// Who is invited: the address, the role offered, and the language of the email (`None`: the
/// app's default; a re-sent invitation keeps its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitee {
    /// The invited address.
    pub email: EmailAddress,
    /// The role offered.
    pub role: Role,
    /// The language asked for.
    pub locale: Option<Locale>,
}

impl Invitee {
    /// `email` with `role`, in the app's default language.
    pub fn new(email: EmailAddress, role: Role) -> Self {
        Self { email, role, locale: None }
    }

    /// The same, in `locale` when given.
    #[must_use]
    pub fn in_locale(mut self, locale: Option<Locale>) -> Self {
        self.locale = locale;
        self
    }
}

/// One row of a bulk invite, parsed or refused at the edge.
pub type BulkItem = Result<Invitee, BulkRefusal>;

/// One row's result of [`InviteService::invite_many_row_keyed`].
#[derive(Debug)]
#[expect(clippy::large_enum_variant, reason = "at most 1,000 per batch, each built once; a box buys nothing")]
pub enum BulkRow {
    /// The row was decided now: what it did, or why it was refused.
    Done(Result<InviteOutcome, InviteError>),
    /// The row's key answered the same row earlier: that result, as stored; nothing was done.
    Replayed(StoredResponse),
}

/// How a bulk row's result is stored under its key: rendered by the server as it answers it.
pub type RowRender = Arc<dyn Fn(Result<InviteOutcome, InviteError>) -> StoredResponse + Send + Sync>;

/// Why one row of a bulk invite was refused before any writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkRefusal {
    /// Stable code, as the single invite would answer.
    pub code: &'static str,
    /// What was wrong.
    pub message: String,
}

impl InviteService {
    /// Invites every valid row in one transaction; each row gets its own outcome, in order.
    /// A refused row never fails the others.
    pub async fn invite_many(
        &self,
        app: &App,
        by: &Principal,
        items: Vec<BulkItem>,
        run: Run,
    ) -> Result<Vec<Result<InviteOutcome, InviteError>>, InviteError> {
        self.invite_many_with(app, by, items, run, None).await
    }

    /// [`InviteService::invite_many`] for real under an `Idempotency-Key` the caller has
    /// claimed: the response `key` renders from all the rows is stored in the batch's
    /// transaction.
    pub async fn invite_many_keyed(
        &self,
        app: &App,
        by: &Principal,
        items: Vec<BulkItem>,
        key: Keyed<Vec<Result<InviteOutcome, InviteError>>>,
    ) -> Result<Vec<Result<InviteOutcome, InviteError>>, InviteError> {
        self.invite_many_with(app, by, items, Run::Real, Some(key)).await
    }

    async fn invite_many_with(
        &self,
        app: &App,
        by: &Principal,
        items: Vec<BulkItem>,
        run: Run,
        key: Option<Keyed<Vec<Result<InviteOutcome, InviteError>>>>,
    ) -> Result<Vec<Result<InviteOutcome, InviteError>>, InviteError> {
        // A caller who may not invite anyone is refused as a whole, as by the single route,
        // not answered 200 with a refusal per row.
        if !by.is_admin() && app.settings.invite_policy == InvitePolicy::Admins {
            return Err(InviteError::AdminsOnly);
        }
        let now = self.clock.now();
        let (rows, cmds, _) = self.rows(app, by, items.into_iter().map(|item| (item, None)), now);
        let reading = self.reading(app, by);
        let outcomes = match (run, key) {
            (Run::Real, Some(key)) => {
                let (reading, template) = (reading.clone(), rows.iter().map(Row::again).collect::<Vec<_>>());
                let write = KeyedWrite::new(app.id.clone(), key.key.clone(), move |done: &[Invited]| {
                    let rows = template.iter().map(Row::again).collect();
                    key.render(reading.results(rows, done.to_vec()))
                });
                self.store.invite_keyed(cmds, write).await?
            }
            _ if cmds.is_empty() => Vec::new(),
            (Run::Real, None) => self.store.invite_batch(cmds).await?,
            (Run::Dry, _) => self.store.invite_dry_run(cmds).await?,
        };
        if run == Run::Real {
            self.outbox.notify_one();
            self.events.notify_one();
        }
        Ok(reading.results(rows, outcomes))
    }

    /// Each row checked, in order, and the store command of every row that passed, with its
    /// key (if it has one) beside it.
    fn rows(
        &self,
        app: &App,
        by: &Principal,
        items: impl ExactSizeIterator<Item = (BulkItem, Option<RowKey>)>,
        now: Timestamp,
    ) -> (Vec<Row>, Vec<InviteCommand>, Vec<Option<RowKey>>) {
        let mut rows: Vec<Row> = Vec::with_capacity(items.len());
        let (mut cmds, mut keys) = (Vec::new(), Vec::new());
        for (item, key) in items {
            let checked = item.map_err(InviteError::Refused).and_then(|invitee| {
                check_may_invite(app, by, invitee.role)?;
                Ok(invitee)
            });
            match checked {
                Ok(invitee) => {
                    let cmd = self.command(app, by, invitee, now);
                    rows.push(Row::Stored { refused: (!cmd.email_domain_allowed).then(|| cmd.email.clone()) });
                    cmds.push(cmd);
                    keys.push(key);
                }
                // A row refused before the store claims no key: nothing was done, and the same
                // row is refused the same way again.
                Err(err) => rows.push(Row::Refused(err)),
            }
        }
        (rows, cmds, keys)
    }

    /// A bulk invite whose rows may carry their own `idempotency_key`, in one transaction: a
    /// row whose key answered the same row within 24 h gets that result again
    /// ([`BulkRow::Replayed`]) and nothing is done for it; a key used with another row is
    /// [`InviteError::KeyReused`], one still in flight [`InviteError::KeyInUse`]; every other
    /// row is invited, and the result `render` makes of it is stored under its key in the
    /// batch's transaction. Rows without a key are invited as by [`InviteService::invite_many`].
    pub async fn invite_many_row_keyed(
        &self,
        app: &App,
        by: &Principal,
        items: Vec<(BulkItem, Option<RowKey>)>,
        render: RowRender,
    ) -> Result<Vec<BulkRow>, InviteError> {
        if !by.is_admin() && app.settings.invite_policy == InvitePolicy::Admins {
            return Err(InviteError::AdminsOnly);
        }
        let now = self.clock.now();
        let (rows, cmds, keys) = self.rows(app, by, items.into_iter(), now);
        let reading = self.reading(app, by);
        let refused_per_cmd: Vec<Option<EmailAddress>> = rows
            .iter()
            .filter_map(|row| match row {
                Row::Stored { refused } => Some(refused.clone()),
                Row::Refused(_) => None,
            })
            .collect();
        let rendering = reading.clone();
        let keyed = KeyedRows::new(app.id.clone(), now, keys, move |index, invited: &Invited| {
            let refused = refused_per_cmd.get(index).cloned().flatten();
            render(rendering.outcome(invited.clone(), refused.as_ref()))
        });
        let done = if cmds.is_empty() { Vec::new() } else { self.store.invite_rows_keyed(cmds, keyed).await? };
        if done.iter().any(|row| matches!(row, RowDone::Invited(_))) {
            self.outbox.notify_one();
            self.events.notify_one();
        }
        let mut done = done.into_iter();
        Ok(rows
            .into_iter()
            .map(|row| match row {
                Row::Refused(err) => BulkRow::Done(Err(err)),
                Row::Stored { refused } => match done.next() {
                    Some(RowDone::Invited(invited)) => BulkRow::Done(reading.outcome(invited, refused.as_ref())),
                    Some(RowDone::Replayed(stored)) => BulkRow::Replayed(stored),
                    Some(RowDone::Reused) => BulkRow::Done(Err(InviteError::KeyReused)),
                    Some(RowDone::InUse) => BulkRow::Done(Err(InviteError::KeyInUse)),
                    None => BulkRow::Done(Err(missing_outcome())),
                },
            })
            .collect())
    }

    /// Re-sends a pending (or expired) invitation, with the same rules and throttle as
    /// inviting its address again.
    pub async fn resend(&self, app: &App, by: &Principal, id: &InvitationId) -> Result<InviteOutcome, InviteError> {
        self.resend_with(app, by, id, None).await
    }

    /// [`InviteService::resend`] under an `Idempotency-Key` the caller has claimed (see
    /// [`InviteService::invite_keyed`]).
    pub async fn resend_with(
        &self,
        app: &App,
        by: &Principal,
        id: &InvitationId,
        key: Option<Keyed<Result<InviteOutcome, InviteError>>>,
    ) -> Result<InviteOutcome, InviteError> {
        let invitation = self.store.invitation(&app.id, id).await?.ok_or(InviteError::NotFound)?;
        match invitation.status {
            InvitationStatus::Pending | InvitationStatus::Expired => {
                // Its own language is kept (the command names none).
                self.invite_with(app, by, Invitee::new(invitation.email, invitation.role), Run::Real, key).await
            }
            other => Err(InviteError::NotPending(other)),
        }
    }

    /// Revokes a pending invitation: its links then say it was revoked.
    pub async fn revoke(&self, app: &App, by: &Principal, id: &InvitationId) -> Result<Invitation, InviteError> {
        self.revoke_with(app, by, id, None).await
    }

    /// [`InviteService::revoke`] under an `Idempotency-Key` the caller has claimed: the
    /// response `key` renders is stored in the revocation's transaction.
    pub async fn revoke_with(
        &self,
        app: &App,
        by: &Principal,
        id: &InvitationId,
        key: Option<Keyed<Result<Invitation, InviteError>>>,
    ) -> Result<Invitation, InviteError> {
        let actor = inviter(app, by).actor;
        // Revoking twice is refused, not answered as if it had just happened; two revokes
        // racing past this read both find it revoked, which is what each asked for.
        match self.store.invitation(&app.id, id).await?.ok_or(InviteError::NotFound)?.status {
            InvitationStatus::Pending => {}
            other => return Err(InviteError::NotPending(other)),
        }
        let now = self.clock.now();
        let after = match key {
            None => self.store.revoke_invitation(&app.id, id, &actor, now).await?,
            Some(key) => {
                let write = KeyedWrite::new(app.id.clone(), key.key.clone(), move |after: &Option<Invitation>| {
                    key.render(revoked(after.clone()))
                });
                self.store.revoke_keyed(&app.id, id, &actor, now, write).await?
            }
        };
        self.events.notify_one();
        revoked(after)
    }

    /// The app's invitations matching `query`, oldest first.
    pub async fn list(&self, app: &App, query: InvitationQuery) -> Result<Vec<Invitation>, InviteError> {
        Ok(self.store.list_invitations(&app.id, query, self.clock.now()).await?)
    }

    /// How many invitation emails (new invitations and re-sends) the app queued in the last
    /// 24 hours: what its daily allowance counts.
    pub async fn sent_today(&self, app: &App) -> Result<u64, InviteError> {
        let since = self.clock.now().minus(crate::rules::invite::ALLOWANCE_WINDOW);
        Ok(self.store.invitation_emails_since(&app.id, since).await?)
    }

    /// One of the app's invitations, if it has one with this id.
    pub async fn get(&self, app: &App, id: &InvitationId) -> Result<Option<Invitation>, InviteError> {
        Ok(self.store.invitation(&app.id, id).await?)
    }

    /// Every delivery attempt of the emails of one of the app's invitations, newest first.
    pub async fn delivery_attempts(
        &self,
        app: &App,
        id: &InvitationId,
    ) -> Result<Vec<crate::model::DeliveryAttempt>, InviteError> {
        Ok(self.store.delivery_attempts(&app.id, id).await?)
    }
}

/// One row of a bulk invite: refused before the store, or one of the store's outcomes, in order.
enum Row {
    Refused(InviteError),
    Stored { refused: Option<EmailAddress> },
}

impl Row {
    /// The same row again (to render a stored response from, as often as the store asks).
    fn again(&self) -> Row {
        match self {
            Row::Refused(err) => Row::Refused(match err {
                InviteError::AdminsOnly => InviteError::AdminsOnly,
                InviteError::RoleEscalation => InviteError::RoleEscalation,
                InviteError::Refused(refusal) => InviteError::Refused(refusal.clone()),
                // A row is refused before the store only by the two checks above.
                other => InviteError::Store(StoreError::Backend(other.to_string().into())),
            }),
            Row::Stored { refused } => Row::Stored { refused: refused.clone() },
        }
    }
}

impl Reading {
    /// Every row's result: its refusal, or the next of the store's `outcomes`.
    fn results(&self, rows: Vec<Row>, outcomes: Vec<Invited>) -> Vec<Result<InviteOutcome, InviteError>> {
        let mut outcomes = outcomes.into_iter();
        rows.into_iter()
            .map(|row| match row {
                Row::Refused(err) => Err(err),
                Row::Stored { refused } => match outcomes.next() {
                    Some(invited) => self.outcome(invited, refused.as_ref()),
                    None => Err(missing_outcome()),
                },
            })
            .collect()
    }
}

/// What a revocation answers, from the invitation as the store left it.
fn revoked(after: Option<Invitation>) -> Result<Invitation, InviteError> {
    let invitation = after.ok_or(InviteError::NotFound)?;
    match invitation.status {
        InvitationStatus::Revoked => Ok(invitation),
        other => Err(InviteError::NotPending(other)),
    }
}

/// Rule 3: API keys and admins invite anyone; members only where allowed, and only as `user`.
fn check_may_invite(app: &App, by: &Principal, role: Role) -> Result<(), InviteError> {
    if by.is_admin() {
        return Ok(());
    }
    match (app.settings.invite_policy, role) {
        (InvitePolicy::Admins, _) => Err(InviteError::AdminsOnly),
        (InvitePolicy::Members, Role::Admin) => Err(InviteError::RoleEscalation),
        (InvitePolicy::Members, Role::User) => Ok(()),
    }
}

/// The refusal of an address whose domain the app's lists refuse.
fn domain_not_allowed(email: Option<&EmailAddress>) -> InviteError {
    InviteError::DomainNotAllowed { domain: email.map(|e| e.domain().to_owned()).unwrap_or_default() }
}

fn inviter(app: &App, by: &Principal) -> Inviter {
    match by {
        // An API key acts for the app itself, so the invitee sees the app's name.
        Principal::ApiKey(key) => Inviter { actor: Actor::ApiKey(key.id.clone()), display_name: app.name.clone() },
        Principal::Member(user) => Inviter {
            actor: Actor::User(user.id.clone()),
            display_name: if user.full_name.is_empty() { user.email.to_string() } else { user.full_name.clone() },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::id::{AppId, UserId};
    use crate::model::AppSettings;

    fn app(policy: InvitePolicy) -> App {
        let settings = AppSettings { invite_policy: policy, ..AppSettings::default() };
        App {
            id: AppId::generate(),
            name: "Acme".into(),
            app_url: "https://acme.test".into(),
            settings,
            created_at: Timestamp::from_millis(0),
        }
    }

    fn member(app: &App, role: Role) -> Principal {
        Principal::Member(User {
            id: UserId::generate(),
            app_id: app.id.clone(),
            email: EmailAddress::parse("m@example.com").expect("valid"),
            full_name: String::new(),
            role,
            is_verified: true,
            is_disabled: false,
            session_epoch: 0,
            custom: serde_json::Map::new(),
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
        })
    }

    #[test]
    fn admins_may_invite_any_role_under_either_policy() {
        for policy in [InvitePolicy::Admins, InvitePolicy::Members] {
            let app = app(policy);
            for role in [Role::User, Role::Admin] {
                assert!(check_may_invite(&app, &member(&app, Role::Admin), role).is_ok());
            }
        }
    }

    #[test]
    fn members_are_refused_when_only_admins_may_invite() {
        let app = app(InvitePolicy::Admins);

        let refused = check_may_invite(&app, &member(&app, Role::User), Role::User);

        assert!(matches!(refused, Err(InviteError::AdminsOnly)));
    }

    #[test]
    fn members_may_invite_users_but_never_admins_when_allowed() {
        let app = app(InvitePolicy::Members);

        assert!(check_may_invite(&app, &member(&app, Role::User), Role::User).is_ok());
        assert!(matches!(
            check_may_invite(&app, &member(&app, Role::User), Role::Admin),
            Err(InviteError::RoleEscalation)
        ));
    }

    #[test]
    fn inviter_name_falls_back_to_the_members_email() {
        let app = app(InvitePolicy::Members);

        let by = inviter(&app, &member(&app, Role::User));

        assert_eq!(by.display_name, "m@example.com");
    }
}
