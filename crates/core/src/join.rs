//! Joining through an invitation link: what the join page shows, and accepting it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::access::AccessTokens;
use crate::clock::Clock;
use crate::id::{AppId, UserId};
use crate::model::{App, Invitation, LinkState, User};
use crate::password::{self, Password, WeakPassword};
use crate::rules::opens::LinkRequest;
use crate::secret::InvitationToken;
use crate::sign_in::{SignInError, SignInService};
use crate::store::{AcceptCommand, AcceptOutcome, JoinCredential, LinkOpenCommand, Store, StoreError};

/// Longest full name accepted.
pub const MAX_NAME_LEN: usize = 200;

/// Why a join link cannot be shown or used.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The link is not (or no longer) usable; the state says why.
    #[error("{}", link_message(*.0))]
    Link(LinkState),
    /// The chosen password breaks a rule.
    #[error(transparent)]
    WeakPassword(#[from] WeakPassword),
    /// The name is too long or contains control characters.
    #[error("full name must be at most {MAX_NAME_LEN} characters, without control characters")]
    InvalidName,
    /// The address already has an account and the password typed is not its password. The
    /// invitation stays usable; the failure counts against the sign-in throttle.
    #[error("this address already has an account, and that is not its password")]
    WrongPassword,
    /// Too many wrong passwords for this address or from this client (the sign-in throttle).
    #[error("too many failed sign-in attempts; try again in {} seconds", crate::clock::ceil_secs(*.retry_after))]
    TooManyAttempts {
        /// How long until the next attempt is allowed.
        retry_after: Duration,
    },
    /// The address's account is disabled.
    #[error("this account is disabled")]
    Disabled,
    /// The address's account changed while the invitee was joining (someone signed up with
    /// it, or it was removed); nothing was written and the link still works.
    #[error("the account of this address changed meanwhile; open the link again")]
    AccountChanged,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn link_message(state: LinkState) -> &'static str {
    match state {
        LinkState::Valid => "this invitation link is valid",
        LinkState::Unknown => "this invitation link is not valid",
        LinkState::Used => "this invitation was already accepted; sign in instead",
        LinkState::Replaced => "a newer invitation email replaced this link; use the link in the latest email",
        LinkState::Revoked => "this invitation was revoked",
        LinkState::Expired => "this invitation link has expired; ask for a new invitation",
    }
}

/// A valid invitation, as the join page shows it.
#[derive(Debug)]
pub struct JoinView {
    /// The app.
    pub app: App,
    /// The invitation.
    pub invitation: Invitation,
    /// The address already has an account with a password: joining asks for that password
    /// (and never sets a new one).
    pub existing_account: bool,
}

/// A completed join.
#[derive(Debug)]
pub struct Joined {
    /// The new (or activated) member.
    pub user: User,
    /// Their app.
    pub app: App,
    /// A fresh access token for them.
    pub access_token: String,
}

/// Shows and accepts invitation links.
pub struct JoinService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    tokens: Arc<AccessTokens>,
    sign_in: Arc<SignInService>,
    events: Arc<Notify>,
}

impl JoinService {
    /// A service over `store`, issuing access tokens with `tokens`; existing passwords are
    /// checked by `sign_in`, under its throttle. A join wakes the webhook worker through
    /// `events`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        tokens: Arc<AccessTokens>,
        sign_in: Arc<SignInService>,
        events: Arc<Notify>,
    ) -> Self {
        Self { store, clock, tokens, sign_in, events }
    }

    /// The invitation of `app_id` behind `token`, if the link is valid now. Never consumes it.
    pub async fn show(&self, app_id: &AppId, token: &str) -> Result<JoinView, JoinError> {
        let token = InvitationToken::parse(token).ok_or(JoinError::Link(LinkState::Unknown))?;
        let lookup = self.store.invitation_by_token(&token.hash()).await?;
        // A token shown under another app's path is as good as unknown there.
        let lookup = lookup.filter(|l| &l.app.id == app_id).ok_or(JoinError::Link(LinkState::Unknown))?;
        match lookup.state_at(self.clock.now()) {
            LinkState::Valid => {
                let existing = self.store.user_credentials(app_id, &lookup.invitation.email).await?;
                let existing_account = matches!(existing, Some((_, Some(_))));
                Ok(JoinView { app: lookup.app, invitation: lookup.invitation, existing_account })
            }
            refused => Err(JoinError::Link(refused)),
        }
    }

    /// Records a request to the join link of `app_id` with `token`, as a person's or a mail
    /// scanner's open ([`crate::rules::opens`]). Never consumes the link or changes its
    /// invitation's status; a malformed or unknown token records nothing.
    pub async fn record_open(
        &self,
        app_id: &AppId,
        token: &str,
        request: LinkRequest,
        user_agent: Option<&str>,
    ) -> Result<(), StoreError> {
        let Some(token) = InvitationToken::parse(token) else { return Ok(()) };
        let cmd = LinkOpenCommand {
            app_id: app_id.clone(),
            token_hash: token.hash(),
            request,
            user_agent: user_agent.map(str::to_owned),
            at: self.clock.now(),
        };
        self.store.record_link_open(cmd).await
    }

    /// Accepts the invitation of `app_id` behind `token`. A new invitee becomes a member
    /// with `password`; when the address already has an account with a password, `password`
    /// must be that password (checked like a sign-in from `client`, and counted against its
    /// throttle when wrong), which stays unchanged. A wrong password leaves the invitation
    /// usable.
    pub async fn accept(
        &self,
        app_id: &AppId,
        token: &str,
        full_name: &str,
        password: String,
        client: IpAddr,
    ) -> Result<Joined, JoinError> {
        // Fail fast on a dead link before spending a password hash on it.
        let view = self.show(app_id, token).await?;
        let full_name = parse_full_name(full_name)?;
        let credential = if view.existing_account {
            let email = view.invitation.email.as_str();
            let signed_in =
                self.sign_in.sign_in(&view.app, email, password, client).await.map_err(|err| match err {
                    SignInError::InvalidCredentials => JoinError::WrongPassword,
                    SignInError::Disabled => JoinError::Disabled,
                    SignInError::TooManyAttempts { retry_after } => JoinError::TooManyAttempts { retry_after },
                    SignInError::Store(err) => JoinError::Store(err),
                })?;
            JoinCredential::ExistingPassword(signed_in.user.id)
        } else {
            let password = Password::new(password)?;
            // argon2id is slow by design; keep it off the async workers.
            let hash =
                password::off_thread(move || password.hash()).await.map_err(|e| StoreError::Backend(Box::new(e)))?;
            JoinCredential::NewPassword(hash)
        };
        let token = InvitationToken::parse(token).ok_or(JoinError::Link(LinkState::Unknown))?;
        let cmd = AcceptCommand {
            token_hash: token.hash(),
            full_name,
            credential,
            user_id: UserId::generate(),
            now: self.clock.now(),
        };
        match self.store.accept_invitation(cmd).await? {
            AcceptOutcome::Joined { user, app } => {
                self.events.notify_one();
                let access_token = self.tokens.issue(&user, self.clock.now());
                Ok(Joined { user, app, access_token })
            }
            AcceptOutcome::Refused(state) => Err(JoinError::Link(state)),
            AcceptOutcome::AccountChanged => Err(JoinError::AccountChanged),
        }
    }
}

/// Trims the name and refuses over-long names or control characters.
fn parse_full_name(input: &str) -> Result<String, JoinError> {
    let name = input.trim();
    if name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(JoinError::InvalidName);
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_name_is_trimmed_and_bounded() {
        assert_eq!(parse_full_name("  Ada Lovelace ").expect("fine"), "Ada Lovelace");
        assert_eq!(parse_full_name("").expect("empty is allowed"), "");
        assert!(matches!(parse_full_name(&"a".repeat(MAX_NAME_LEN + 1)), Err(JoinError::InvalidName)));
        assert!(matches!(parse_full_name("Ada\u{0}"), Err(JoinError::InvalidName)));
    }
}
