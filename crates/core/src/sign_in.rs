//! Signing in with email and password, with repeated failures slowed down.
//!
//! An unknown address and a wrong password get the same answer after the same work (a dummy
//! hash is verified for unknown addresses), so the answer does not reveal who is a member.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use crate::access::AccessTokens;
use crate::clock::{Clock, Timestamp};
use crate::email::EmailAddress;
use crate::model::{App, User};
use crate::password::{self, Password, PasswordHash};
use crate::store::{Store, StoreError};
use crate::throttle::{Counter, Settled};

/// Attempts allowed per address (in one app) within [`WINDOW`]: failed ones, and ones still
/// being checked.
pub const MAX_FAILURES_PER_EMAIL: u32 = 5;
/// Attempts allowed per client address within [`WINDOW`], counted the same way.
pub const MAX_FAILURES_PER_CLIENT: u32 = 20;
/// How long failed attempts are remembered.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Why signing in failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown address, wrong password, or a member without a password yet: one answer for all.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The right password for a disabled member.
    #[error("this account is disabled")]
    Disabled,
    /// Too many failures for this address or from this client.
    #[error("too many failed sign-in attempts; try again in {} seconds", crate::clock::ceil_secs(*.retry_after))]
    TooManyAttempts {
        /// How long until the next attempt is allowed.
        retry_after: Duration,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why changing a password failed.
#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    /// Members change only their own password.
    #[error("you can only change your own password")]
    NotYourAccount,
    /// The current password is wrong.
    #[error("the current password is not correct")]
    WrongCurrentPassword,
    /// The new password breaks a rule.
    #[error(transparent)]
    WeakPassword(#[from] crate::password::WeakPassword),
    /// Too many wrong current passwords for this member or from this client: the same
    /// allowance as signing in, since both are guesses at one password.
    #[error("too many wrong passwords; try again in {} seconds", crate::clock::ceil_secs(*.retry_after))]
    TooManyAttempts {
        /// How long until the next attempt is allowed.
        retry_after: Duration,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A successful password change.
#[derive(Debug)]
pub struct PasswordChanged {
    /// The member, as they now are.
    pub user: User,
    /// A fresh access token: every token issued before the change stopped working.
    pub access_token: String,
}

/// A successful sign-in.
#[derive(Debug)]
pub struct SignedIn {
    /// The member.
    pub user: User,
    /// A fresh access token.
    pub access_token: String,
}

/// An attempt that holds a place in the throttle's windows until it is settled; dropped
/// unsettled (the request was cancelled mid-check), it counts as failed.
struct Reservation<'a> {
    attempts: &'a Mutex<Counter>,
    email_key: Option<String>,
    client_key: String,
    now: Timestamp,
    is_settled: bool,
}

impl Reservation<'_> {
    fn settle(mut self, is_success: bool) {
        self.is_settled = true;
        let mut attempts = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
        let (by_email, by_client) =
            if is_success { (Settled::Succeeded, Settled::Released) } else { (Settled::Failed, Settled::Failed) };
        if let Some(key) = &self.email_key {
            attempts.settle(key, by_email, self.now);
        }
        attempts.settle(&self.client_key, by_client, self.now);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.is_settled {
            let mut attempts = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(key) = &self.email_key {
                attempts.settle(key, Settled::Failed, self.now);
            }
            attempts.settle(&self.client_key, Settled::Failed, self.now);
        }
    }
}

/// Signs members in.
pub struct SignInService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    tokens: Arc<AccessTokens>,
    attempts: Mutex<Counter>,
}

impl SignInService {
    /// A service over `store`, issuing tokens with `tokens`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, tokens: Arc<AccessTokens>) -> Self {
        Self { store, clock, tokens, attempts: Mutex::new(Counter::new(WINDOW)) }
    }

    /// Checks `email` and `password` for `app`; `client` is the caller's network address.
    pub async fn sign_in(
        &self,
        app: &App,
        email: &str,
        password: String,
        client: IpAddr,
    ) -> Result<SignedIn, SignInError> {
        let now = self.clock.now();
        let email = EmailAddress::parse(email).ok();
        let email_key = email.as_ref().map(|e| email_key(&app.id, e));
        let reservation = self.reserve(email_key, client_key(&app.id, client), now).map_err(|retry_after| {
            metrics::counter!("usher_sign_in_throttled_total", "operation" => "sign_in").increment(1);
            SignInError::TooManyAttempts { retry_after }
        })?;

        let found = match &email {
            Some(email) => self.store.user_credentials(&app.id, email).await?,
            None => None,
        };
        let (user, hash) = match found {
            Some((user, Some(hash))) => (Some(user), hash),
            _ => (None, dummy_hash().clone()),
        };
        let is_match = match Password::new(password) {
            Ok(password) => password::off_thread(move || password.verify(&hash))
                .await
                .map_err(|e| StoreError::Backend(Box::new(e)))?,
            Err(_) => false,
        };
        match user {
            Some(user) if is_match => {
                reservation.settle(true);
                if user.is_disabled {
                    return Err(SignInError::Disabled);
                }
                let access_token = self.tokens.issue(&user, now);
                Ok(SignedIn { user, access_token })
            }
            _ => {
                reservation.settle(false);
                Err(SignInError::InvalidCredentials)
            }
        }
    }

    /// Changes `user`'s password from `current` to `new`; `user_id` must be `user` themselves
    /// and `client` is the caller's network address. Wrong current passwords count against
    /// the sign-in allowance of the member's address. The change ends every session
    /// opened before it; the answer carries a fresh token.
    pub async fn change_password(
        &self,
        user: &User,
        user_id: &str,
        current: String,
        new: String,
        client: IpAddr,
    ) -> Result<PasswordChanged, ChangePasswordError> {
        if user.id.as_str() != user_id {
            return Err(ChangePasswordError::NotYourAccount);
        }
        let new = Password::new(new)?;
        let now = self.clock.now();
        let reservation = self
            .reserve(Some(email_key(&user.app_id, &user.email)), client_key(&user.app_id, client), now)
            .map_err(|retry_after| {
                metrics::counter!("usher_sign_in_throttled_total", "operation" => "change_password").increment(1);
                ChangePasswordError::TooManyAttempts { retry_after }
            })?;
        let stored = self.store.user_credentials(&user.app_id, &user.email).await?.and_then(|(_, hash)| hash);
        let (Some(stored), Ok(current)) = (stored, Password::new(current)) else {
            reservation.settle(false);
            return Err(ChangePasswordError::WrongCurrentPassword);
        };
        let (is_match, new_hash) = password::off_thread(move || {
            let is_match = current.verify(&stored);
            (is_match, is_match.then(|| new.hash()))
        })
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?;
        reservation.settle(is_match);
        let Some(new_hash) = new_hash else { return Err(ChangePasswordError::WrongCurrentPassword) };
        let user = self.store.set_password(&user.app_id, &user.id, new_hash, now).await?.ok_or(StoreError::NotFound)?;
        let access_token = self.tokens.issue(&user, now);
        Ok(PasswordChanged { user, access_token })
    }

    /// Reserves an attempt for the address (when there is one) and the client, or says how
    /// long they must wait.
    fn reserve(
        &self,
        email_key: Option<String>,
        client_key: String,
        now: Timestamp,
    ) -> Result<Reservation<'_>, Duration> {
        let mut attempts = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
        let by_email = email_key.as_deref().and_then(|key| attempts.blocked_for(key, MAX_FAILURES_PER_EMAIL, now));
        let by_client = attempts.blocked_for(&client_key, MAX_FAILURES_PER_CLIENT, now);
        if let Some(retry_after) = by_email.max(by_client) {
            return Err(retry_after);
        }
        if let Some(key) = &email_key {
            attempts.reserve(key, now);
        }
        attempts.reserve(&client_key, now);
        Ok(Reservation { attempts: &self.attempts, email_key, client_key, now, is_settled: false })
    }
}

fn email_key(app: &crate::id::AppId, email: &EmailAddress) -> String {
    format!("{app}:{email}")
}

fn client_key(app: &crate::id::AppId, client: IpAddr) -> String {
    format!("{app}@{client}")
}

/// A hash of a random password, verified for unknown addresses so they cost the same time.
fn dummy_hash() -> &'static PasswordHash {
    static DUMMY: OnceLock<PasswordHash> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let text = hex::encode(crate::id::random_bytes::<16>());
        Password::new(text).expect("32 hex characters meet the password rules").hash()
    })
}
