//! The console's sessions: the session cookie, its idle timeout, and the stored sessions of
//! admins who signed in with a password.
//!
//! The cookie holds what the session is ([`SessionCredential`]: the id of a stored session,
//! or the id of the key a one-time link made — never an access token or an API key's secret)
//! together with the time of the last page view, sealed with an HMAC under a key only the
//! server has. Every page view re-seals it with the new time; a cookie whose time is more than
//! the idle timeout ago is refused, whatever the browser was told (a copied cookie, or a
//! browser that ignores `Max-Age`, gets no further than a fresh one).
//!
//! A password sign-in stores a session ([`ConsoleSessions`]): only the hash of its id, the
//! admin, their session epoch, its last page view and its expiry. Every page reads it and the
//! admin again and asks [`crate::rules::console::session_standing`] whether it holds, so it
//! ends on the server — for every copy of the cookie — at sign-out (the row is deleted), after
//! the idle timeout, at expiry (the access-token lifetime), and once the admin is disabled,
//! removed, made a plain member, or changes their password.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::clock::{Clock, Timestamp};
use crate::id::{ApiKeyId, AppId, UserId};
use crate::model::User;
use crate::rules::console::{SessionEnd, SessionStanding, ended_sessions, session_standing};
use crate::secret::ConsoleSessionToken;
use crate::store::{Store, StoreError};

/// How long a console session lasts without a page view unless configured otherwise.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(30 * 60);

/// Why a session cookie was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionRefused {
    /// Not a cookie this server sealed (or it was changed).
    #[error("not a console session of this server")]
    NotSealed,
    /// The last page view was longer ago than the idle timeout.
    #[error("the console session ended after a while without a page view")]
    Idle,
}

/// What a console session is.
#[derive(Debug, Clone)]
pub enum SessionCredential {
    /// An admin signed in with a password: the id of their stored session (see
    /// [`ConsoleSessions`]).
    Stored(ConsoleSessionToken),
    /// An operator signed in with a one-time link: the key it made, by id. The key's secret
    /// was never kept; the session is the key's only use, and ending it revokes the key.
    LinkKey(ApiKeyId),
}

impl SessionCredential {
    const KEY: &'static str = "key.";

    /// The credential a cookie's text names; `None` for anything else, such as an API key's
    /// secret or an access token (which a cookie never carries).
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(id) = text.strip_prefix(Self::KEY) {
            return ApiKeyId::parse(id).ok().map(Self::LinkKey);
        }
        ConsoleSessionToken::parse(text).map(Self::Stored)
    }

    /// The text of the cookie that names it.
    pub fn text(&self) -> String {
        match self {
            Self::Stored(token) => token.expose().to_owned(),
            Self::LinkKey(id) => format!("{}{id}", Self::KEY),
        }
    }
}

/// A stored console session, as the store reads it (it is found by the hash of its id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSessionRecord {
    /// The app it is a session of.
    pub app_id: AppId,
    /// The admin who signed in.
    pub user_id: UserId,
    /// The admin's [`User::session_epoch`] at sign-in: a password change moves it on.
    pub session_epoch: i64,
    /// When the admin signed in.
    pub created_at: Timestamp,
    /// The last page view, as last written (see [`crate::rules::console::TOUCH_EVERY`]).
    pub last_seen_at: Timestamp,
    /// It ends at this moment, whatever happens.
    pub expires_at: Timestamp,
}

/// Starts, checks and ends the stored console sessions of admins who sign in with a password.
pub struct ConsoleSessions {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    idle: Duration,
    lifetime: Duration,
}

impl ConsoleSessions {
    /// Sessions that end after `idle` without a page view and `lifetime` after sign-in.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, idle: Duration, lifetime: Duration) -> Self {
        Self { store, clock, idle, lifetime }
    }

    /// A new session of `user`, who just signed in with their password (the caller checked
    /// they are an enabled admin). Sessions of any app that ended by time meanwhile are
    /// deleted on the way, so ended rows do not pile up.
    pub async fn start(&self, user: &User) -> Result<ConsoleSessionToken, StoreError> {
        let now = self.clock.now();
        self.store.delete_ended_console_sessions(ended_sessions(now, self.idle)).await?;
        let token = ConsoleSessionToken::generate();
        let record = ConsoleSessionRecord {
            app_id: user.app_id.clone(),
            user_id: user.id.clone(),
            session_epoch: user.session_epoch,
            created_at: now,
            last_seen_at: now,
            expires_at: now.plus(self.lifetime),
        };
        self.store.create_console_session(&token.hash(), &record).await?;
        Ok(token)
    }

    /// The admin of `app_id`'s session `token` when it holds now (its last page view is then
    /// now); otherwise why it ended, and its row is gone.
    pub async fn resume(
        &self,
        app_id: &AppId,
        token: &ConsoleSessionToken,
    ) -> Result<Result<User, SessionEnd>, StoreError> {
        let now = self.clock.now();
        let hash = token.hash();
        // A session of another app is no session of this one (and is left alone).
        let Some(session) = self.store.console_session(&hash).await?.filter(|s| &s.app_id == app_id) else {
            return Ok(Err(SessionEnd::Unknown));
        };
        let user = self.store.user(app_id, &session.user_id).await?;
        match session_standing(Some(&session), user.as_ref(), now, self.idle) {
            SessionStanding::Holds { touch } => {
                if touch {
                    self.store.touch_console_session(&hash, now).await?;
                }
                Ok(user.ok_or(SessionEnd::MemberGone))
            }
            SessionStanding::Ended(why) => {
                self.store.delete_console_session(&hash).await?;
                Ok(Err(why))
            }
        }
    }

    /// Ends the session `token` (signing out): deleting it ends every copy of its cookie.
    pub async fn end(&self, token: &ConsoleSessionToken) -> Result<(), StoreError> {
        self.store.delete_console_session(&token.hash()).await?;
        Ok(())
    }
}

/// Seals and opens console session cookies.
pub struct SessionSeal {
    key: [u8; 32],
    idle: Duration,
}

impl SessionSeal {
    /// A seal whose key is derived from the server's signing `secret`; sessions end after
    /// `idle` without a page view.
    pub fn new(secret: &[u8], idle: Duration) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(b"usher console session v1");
        Self { key: mac.finalize().into_bytes().into(), idle }
    }

    /// How long a session lasts without a page view.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// The cookie value for `credential`, seen at `now`.
    pub fn seal(&self, credential: &str, now: Timestamp) -> String {
        let body = format!("{credential}~{}", now.as_millis());
        let tag = hex::encode(self.tag(&body));
        format!("{body}~{tag}")
    }

    /// The credential of a cookie sealed by [`Self::seal`] and last seen less than the idle
    /// timeout before `now`.
    pub fn open<'a>(&self, cookie: &'a str, now: Timestamp) -> Result<&'a str, SessionRefused> {
        let (credential, seen) = self.genuine(cookie)?;
        if now >= seen.plus(self.idle) {
            return Err(SessionRefused::Idle);
        }
        Ok(credential)
    }

    /// The credential of a cookie this server sealed, however long ago: what a session that
    /// ended idle acted as, so that what it held can be ended too.
    pub fn open_ended<'a>(&self, cookie: &'a str) -> Option<&'a str> {
        self.genuine(cookie).ok().map(|(credential, _)| credential)
    }

    /// The credential and last page view of a cookie this server sealed.
    fn genuine<'a>(&self, cookie: &'a str) -> Result<(&'a str, Timestamp), SessionRefused> {
        let (body, tag) = cookie.rsplit_once('~').ok_or(SessionRefused::NotSealed)?;
        let tag = hex::decode(tag).map_err(|_| SessionRefused::NotSealed)?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(body.as_bytes());
        mac.verify_slice(&tag).map_err(|_| SessionRefused::NotSealed)?;
        let (credential, seen) = body.rsplit_once('~').ok_or(SessionRefused::NotSealed)?;
        let seen = Timestamp::from_millis(seen.parse().map_err(|_| SessionRefused::NotSealed)?);
        Ok((credential, seen))
    }

    fn tag(&self, body: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(body.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::ApiKey;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);
    const IDLE: Duration = Duration::from_secs(60);

    fn seal() -> SessionSeal {
        SessionSeal::new(b"a signing secret of the server, 32+ bytes", IDLE)
    }

    #[test]
    fn a_session_opens_until_it_was_idle_for_the_timeout() {
        let cookie = seal().seal("usk_abc", NOW);

        assert_eq!(seal().open(&cookie, NOW.plus(IDLE - Duration::from_millis(1))), Ok("usk_abc"));
        assert_eq!(seal().open(&cookie, NOW.plus(IDLE)), Err(SessionRefused::Idle));
        let renewed = seal().seal("usk_abc", NOW.plus(IDLE / 2));
        assert_eq!(seal().open(&renewed, NOW.plus(IDLE)), Ok("usk_abc"), "each page view starts the time again");
    }

    #[test]
    fn an_ended_sessions_credential_is_read_only_from_a_genuine_cookie() {
        let cookie = seal().seal("key.0123456789abcdef01234567", NOW);
        let forged = cookie.replace("key.0", "key.1");

        assert_eq!(seal().open(&cookie, NOW.plus(IDLE)), Err(SessionRefused::Idle));
        assert_eq!(seal().open_ended(&cookie), Some("key.0123456789abcdef01234567"));
        assert_eq!(seal().open_ended(&forged), None);
    }

    #[test]
    fn a_session_names_a_stored_session_or_a_link_key_by_id_but_never_a_secret() {
        let id = ApiKeyId::generate();
        let key = SessionCredential::LinkKey(id.clone());
        let stored = ConsoleSessionToken::generate();
        let secret = ApiKey::generate();

        assert!(
            matches!(SessionCredential::parse(&key.text()), Some(SessionCredential::LinkKey(parsed)) if parsed == id)
        );
        assert_eq!(key.text(), format!("key.{id}"));
        let named = SessionCredential::Stored(stored.clone()).text();
        assert_eq!(named, stored.expose());
        assert!(
            matches!(SessionCredential::parse(&named), Some(SessionCredential::Stored(t)) if t.hash() == stored.hash())
        );
        // An access token (what cookies held before sessions were stored) no longer signs in.
        for refused in [secret.expose(), "eyJ.a.b", "", "key.", "key.not-an-id", "ucs_short"] {
            assert!(SessionCredential::parse(refused).is_none(), "{refused}");
        }
    }

    #[test]
    fn a_changed_time_a_bare_credential_or_another_servers_cookie_is_refused() {
        let cookie = seal().seal("eyJ.a.b", NOW);
        let (body, tag) = cookie.rsplit_once('~').expect("sealed");
        let (credential, _) = body.rsplit_once('~').expect("sealed");
        let later = format!("{credential}~{}~{tag}", NOW.plus(IDLE).as_millis());
        let other = SessionSeal::new(b"another server's secret, also long", IDLE).seal("eyJ.a.b", NOW);

        for refused in [later.as_str(), "eyJ.a.b", other.as_str(), ""] {
            assert_eq!(seal().open(refused, NOW), Err(SessionRefused::NotSealed), "{refused}");
        }
    }
}
