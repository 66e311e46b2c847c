//! Forgotten passwords: a reset link by email, used once to set a new password.
//!
//! Asking for a link answers the same whether or not the address is a member, so the
//! endpoint cannot be used to find out who is.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::clock::Clock;
use crate::email::EmailAddress;
use crate::id::{AppId, MessageId};
use crate::model::{App, LinkState, User};
use crate::password::{self, Password, WeakPassword};
use crate::secret::ResetToken;
use crate::store::{ResetRecord, ResetRequest, Store, StoreError};

/// How long a reset link works.
pub const RESET_LINK_TTL: Duration = Duration::from_secs(60 * 60);

/// Why a reset link could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// The link is unknown, used or expired.
    #[error("{}", link_message(*.0))]
    Link(LinkState),
    /// The new password breaks a rule.
    #[error(transparent)]
    WeakPassword(#[from] WeakPassword),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn link_message(state: LinkState) -> &'static str {
    match state {
        LinkState::Used => "this reset link was already used; ask for a new one",
        LinkState::Expired => "this reset link has expired; ask for a new one",
        _ => "this reset link is not valid; ask for a new one",
    }
}

/// Sends reset links and uses them.
pub struct ResetService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    resend_interval: Duration,
    outbox: Arc<Notify>,
}

impl ResetService {
    /// A service over `store`; reset emails to one address are at least `resend_interval` apart.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, resend_interval: Duration, outbox: Arc<Notify>) -> Self {
        Self { store, clock, resend_interval, outbox }
    }

    /// Emails a reset link if `email` is a member of `app`; does the same visible nothing
    /// otherwise.
    pub async fn request(&self, app: &App, email: &str) -> Result<(), StoreError> {
        let Ok(email) = EmailAddress::parse(email) else { return Ok(()) };
        let now = self.clock.now();
        let request = ResetRequest {
            app_id: app.id.clone(),
            email,
            token: ResetToken::generate(),
            message_id: MessageId::generate(),
            expires_at: now.plus(RESET_LINK_TTL),
            resend_interval: self.resend_interval,
            now,
        };
        self.store.request_password_reset(request).await?;
        self.outbox.notify_one();
        Ok(())
    }

    /// Sets `new_password` for the member of `app_id` whose reset link carries `token`.
    pub async fn reset(&self, app_id: &AppId, token: &str, new_password: String) -> Result<User, ResetError> {
        let token = ResetToken::parse(token.trim()).ok_or(ResetError::Link(LinkState::Unknown))?;
        let password = Password::new(new_password)?;
        let hash = password::off_thread(move || password.hash()).await.map_err(|e| StoreError::Backend(Box::new(e)))?;
        match self.store.reset_password(app_id, &token.hash(), hash, self.clock.now()).await? {
            ResetRecord::Done(user) => Ok(user),
            ResetRecord::Refused(state) => Err(ResetError::Link(state)),
        }
    }
}
