//! One-time console sign-in links: how the operator gets into an app's console before the app
//! has an admin (right after the first start, say).
//!
//! `usher console link` runs on the server's machine, with the database, and prints a link
//! valid for minutes ([`DEFAULT_VALID_FOR`]). Opening it and confirming signs the browser in
//! to the app's console once: the link is then used up. Signing in makes an API key of the app
//! for the operator, named [`KEY_NAME`], which the console session acts as; the audit log
//! thus records what the operator does as done by that key, the keys page lists it, and
//! revoking it there ends the session. The session's cookie names the key by its id, never a
//! secret: the key's secret is made and forgotten at once, so the key acts through that
//! session only, and signing out (or the session's idle end) revokes it.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, Timestamp};
use crate::id::ApiKeyId;
use crate::model::{ApiKeyRecord, App};
use crate::secret::{ApiKey, ConsoleLinkToken};
use crate::store::{ConsoleLinkUse, NewApiKey, Store, StoreError};

/// How long a link works unless the operator asks for another time.
pub const DEFAULT_VALID_FOR: Duration = Duration::from_secs(10 * 60);
/// The longest a link may work: it is a key to the whole app.
pub const MAX_VALID_FOR: Duration = Duration::from_secs(60 * 60);
/// The name of the key an operator signed in with a link acts with.
pub const KEY_NAME: &str = "console sign-in link";

/// Why a link did not sign in.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleLinkError {
    /// The text is no link of this server's (mistyped, cut short, or of another database).
    #[error("this sign-in link is not known here")]
    Unknown,
    /// It worked once already.
    #[error("this sign-in link was used already; a link signs in once")]
    Used,
    /// It is too old.
    #[error("this sign-in link expired")]
    Expired,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Issues and uses console sign-in links.
pub struct ConsoleLinks {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl ConsoleLinks {
    /// A service over `store`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// A new link to `app`'s console that works once within `valid_for` (at most
    /// [`MAX_VALID_FOR`]); the secret and when it expires.
    pub async fn issue(&self, app: &App, valid_for: Duration) -> Result<(ConsoleLinkToken, Timestamp), StoreError> {
        let token = ConsoleLinkToken::generate();
        let now = self.clock.now();
        let expires_at = now.plus(valid_for.min(MAX_VALID_FOR));
        self.store.create_console_link(&app.id, &token.hash(), now, expires_at).await?;
        Ok((token, expires_at))
    }

    /// Uses the link whose secret is `text`: the operator's new key of the link's app, which
    /// the session acts as. Its secret is not kept anywhere (only its hash, as every key's), so
    /// no bearer credential for it exists.
    pub async fn sign_in(&self, text: &str) -> Result<ApiKeyRecord, ConsoleLinkError> {
        let token = ConsoleLinkToken::parse(text.trim()).ok_or(ConsoleLinkError::Unknown)?;
        let key = NewApiKey { id: ApiKeyId::generate(), name: KEY_NAME.to_owned(), hash: ApiKey::generate().hash() };
        match self.store.use_console_link(&token.hash(), key, self.clock.now()).await? {
            ConsoleLinkUse::SignedIn(record) => Ok(record),
            ConsoleLinkUse::Unknown => Err(ConsoleLinkError::Unknown),
            ConsoleLinkUse::Used => Err(ConsoleLinkError::Used),
            ConsoleLinkUse::Expired => Err(ConsoleLinkError::Expired),
        }
    }
}
