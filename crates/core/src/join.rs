//! Joining through an invitation link: what the join page shows, and accepting it.

use std::sync::Arc;

use crate::access::AccessTokens;
use crate::clock::Clock;
use crate::id::{AppId, UserId};
use crate::model::{App, Invitation, LinkState, User};
use crate::password::{self, Password, WeakPassword};
use crate::secret::InvitationToken;
use crate::store::{AcceptCommand, AcceptOutcome, Store, StoreError};

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
}

impl JoinService {
    /// A service over `store`, issuing access tokens with `tokens`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, tokens: Arc<AccessTokens>) -> Self {
        Self { store, clock, tokens }
    }

    /// The invitation of `app_id` behind `token`, if the link is valid now. Never consumes it.
    pub async fn show(&self, app_id: &AppId, token: &str) -> Result<JoinView, JoinError> {
        let token = InvitationToken::parse(token).ok_or(JoinError::Link(LinkState::Unknown))?;
        let lookup = self.store.invitation_by_token(&token.hash()).await?;
        // A token shown under another app's path is as good as unknown there.
        let lookup = lookup.filter(|l| &l.app.id == app_id).ok_or(JoinError::Link(LinkState::Unknown))?;
        match lookup.state_at(self.clock.now()) {
            LinkState::Valid => Ok(JoinView { app: lookup.app, invitation: lookup.invitation }),
            refused => Err(JoinError::Link(refused)),
        }
    }

    /// Accepts the invitation of `app_id` behind `token`: the invitee becomes a member with
    /// `password`.
    pub async fn accept(
        &self,
        app_id: &AppId,
        token: &str,
        full_name: &str,
        password: String,
    ) -> Result<Joined, JoinError> {
        // Fail fast on a dead link before spending a password hash on it.
        self.show(app_id, token).await?;
        let full_name = parse_full_name(full_name)?;
        let password = Password::new(password)?;
        // argon2id is slow by design; keep it off the async workers.
        let password_hash =
            password::off_thread(move || password.hash()).await.map_err(|e| StoreError::Backend(Box::new(e)))?;
        let token = InvitationToken::parse(token).ok_or(JoinError::Link(LinkState::Unknown))?;
        let cmd = AcceptCommand {
            token_hash: token.hash(),
            full_name,
            password_hash,
            user_id: UserId::generate(),
            now: self.clock.now(),
        };
        match self.store.accept_invitation(cmd).await? {
            AcceptOutcome::Joined { user, app } => {
                let access_token = self.tokens.issue(&user, self.clock.now());
                Ok(Joined { user, app, access_token })
            }
            AcceptOutcome::Refused(state) => Err(JoinError::Link(state)),
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
