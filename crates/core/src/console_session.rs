//! The console's session cookie, and its idle timeout kept by the server.
//!
//! The cookie holds what the session acts as ([`SessionCredential`]: an admin's access token,
//! or the id of the key a one-time link made — never an API key's secret) together with the
//! time of the last page view, sealed with an HMAC under a key only the server has. Every page
//! view re-seals it with the new time; a cookie whose time is more than the idle timeout ago
//! is refused, whatever the browser was told (a copied cookie, or a browser that ignores
//! `Max-Age`, gets no further than a fresh one).

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::clock::Timestamp;
use crate::id::ApiKeyId;
use crate::secret::ApiKey;

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

/// What a console session acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCredential<'a> {
    /// An admin signed in with a password: their access token (ended by a password change,
    /// as every session of theirs).
    AccessToken(&'a str),
    /// An operator signed in with a one-time link: the key it made, by id. The key's secret
    /// was never kept; the session is the key's only use, and ending it revokes the key.
    LinkKey(ApiKeyId),
}

impl<'a> SessionCredential<'a> {
    const KEY: &'static str = "key.";

    /// The credential a cookie's text names; `None` for anything else, such as an API key's
    /// secret (which a cookie never carries).
    pub fn parse(text: &'a str) -> Option<Self> {
        if let Some(id) = text.strip_prefix(Self::KEY) {
            return ApiKeyId::parse(id).ok().map(Self::LinkKey);
        }
        (!text.is_empty() && !text.starts_with(ApiKey::PREFIX) && !text.contains('~'))
            .then_some(Self::AccessToken(text))
    }

    /// The text of the cookie that names it.
    pub fn text(&self) -> String {
        match self {
            Self::AccessToken(token) => (*token).to_owned(),
            Self::LinkKey(id) => format!("{}{id}", Self::KEY),
        }
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
    fn a_session_names_an_access_token_or_a_link_key_by_id_but_never_a_key_secret() {
        let id = ApiKeyId::generate();
        let key = SessionCredential::LinkKey(id.clone());
        let secret = ApiKey::generate();

        assert_eq!(SessionCredential::parse(&key.text()), Some(key.clone()));
        assert_eq!(key.text(), format!("key.{id}"));
        assert_eq!(SessionCredential::parse("eyJ.a.b"), Some(SessionCredential::AccessToken("eyJ.a.b")));
        for refused in [secret.expose(), "", "key.", "key.not-an-id"] {
            assert_eq!(SessionCredential::parse(refused), None, "{refused}");
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
