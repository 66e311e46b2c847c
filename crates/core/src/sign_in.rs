//! Signing in with email and password, with repeated failures slowed down.
//!
//! An unknown address and a wrong password get the same answer after the same work (a dummy
//! hash is verified for unknown addresses), so the answer does not reveal who is a member.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::access::AccessTokens;
use crate::clock::{Clock, Timestamp};
use crate::email::EmailAddress;
use crate::model::{App, User};
use crate::password::{self, Password, PasswordHash};
use crate::store::{Store, StoreError};

/// Failed attempts allowed per address (in one app) within [`WINDOW`].
const MAX_FAILURES_PER_EMAIL: u32 = 5;
/// Failed attempts allowed per client address within [`WINDOW`].
const MAX_FAILURES_PER_CLIENT: u32 = 20;
/// How long failed attempts are remembered.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Tracked keys beyond which ended windows are dropped.
const PRUNE_AT: usize = 10_000;

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
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A successful sign-in.
#[derive(Debug)]
pub struct SignedIn {
    /// The member.
    pub user: User,
    /// A fresh access token.
    pub access_token: String,
}

/// Failure counts in one window, kept in memory per server instance.
#[derive(Default)]
struct Failures(HashMap<String, (u32, Timestamp)>);

impl Failures {
    /// How long `key` must wait, if it used up its `limit`.
    fn blocked_for(&mut self, key: &str, limit: u32, now: Timestamp) -> Option<Duration> {
        let (count, since) = *self.0.get(key)?;
        let ends = since.plus(WINDOW);
        if ends <= now {
            self.0.remove(key);
            return None;
        }
        (count >= limit).then(|| now.until(ends))
    }

    fn record(&mut self, key: String, now: Timestamp) {
        // Bounded memory under a flood of made-up addresses: forget windows that ended.
        if self.0.len() >= PRUNE_AT {
            self.0.retain(|_, (_, since)| since.plus(WINDOW) > now);
        }
        let entry = self.0.entry(key).or_insert((0, now));
        entry.0 += 1;
    }

    fn forget(&mut self, key: &str) {
        self.0.remove(key);
    }
}

/// Signs members in.
pub struct SignInService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    tokens: Arc<AccessTokens>,
    failures: Mutex<Failures>,
}

impl SignInService {
    /// A service over `store`, issuing tokens with `tokens`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, tokens: Arc<AccessTokens>) -> Self {
        Self { store, clock, tokens, failures: Mutex::default() }
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
        let email_key = email.as_ref().map(|e| format!("{}:{e}", app.id));
        let client_key = format!("{}@{client}", app.id);
        self.check_allowed(email_key.as_deref(), &client_key, now)?;

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
                if let (Ok(mut failures), Some(key)) = (self.failures.lock(), &email_key) {
                    failures.forget(key);
                }
                if user.is_disabled {
                    return Err(SignInError::Disabled);
                }
                let access_token = self.tokens.issue(&user, now);
                Ok(SignedIn { user, access_token })
            }
            _ => {
                if let Ok(mut failures) = self.failures.lock() {
                    if let Some(key) = email_key {
                        failures.record(key, now);
                    }
                    failures.record(client_key, now);
                }
                Err(SignInError::InvalidCredentials)
            }
        }
    }

    /// Changes `user`'s password from `current` to `new`; `user_id` must be `user` themselves.
    pub async fn change_password(
        &self,
        user: &User,
        user_id: &str,
        current: String,
        new: String,
    ) -> Result<(), ChangePasswordError> {
        if user.id.as_str() != user_id {
            return Err(ChangePasswordError::NotYourAccount);
        }
        let new = Password::new(new)?;
        let stored = self.store.user_credentials(&user.app_id, &user.email).await?.and_then(|(_, hash)| hash);
        let Some(stored) = stored else { return Err(ChangePasswordError::WrongCurrentPassword) };
        let current = Password::new(current).map_err(|_| ChangePasswordError::WrongCurrentPassword)?;
        let (is_match, new_hash) = password::off_thread(move || (current.verify(&stored), new.hash()))
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        if !is_match {
            return Err(ChangePasswordError::WrongCurrentPassword);
        }
        self.store.set_password(&user.app_id, &user.id, new_hash, self.clock.now()).await?;
        Ok(())
    }

    fn check_allowed(&self, email_key: Option<&str>, client_key: &str, now: Timestamp) -> Result<(), SignInError> {
        let Ok(mut failures) = self.failures.lock() else { return Ok(()) };
        let by_email = email_key.and_then(|key| failures.blocked_for(key, MAX_FAILURES_PER_EMAIL, now));
        let by_client = failures.blocked_for(client_key, MAX_FAILURES_PER_CLIENT, now);
        match by_email.max(by_client) {
            Some(retry_after) => Err(SignInError::TooManyAttempts { retry_after }),
            None => Ok(()),
        }
    }
}

/// A hash of a random password, verified for unknown addresses so they cost the same time.
fn dummy_hash() -> &'static PasswordHash {
    static DUMMY: OnceLock<PasswordHash> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let text = hex::encode(crate::id::random_bytes::<16>());
        Password::new(text).expect("32 hex characters meet the password rules").hash()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_block_at_the_limit_and_forget_after_the_window() {
        let mut failures = Failures::default();
        let start = Timestamp::from_millis(0);
        for _ in 0..MAX_FAILURES_PER_EMAIL {
            assert_eq!(failures.blocked_for("k", MAX_FAILURES_PER_EMAIL, start), None);
            failures.record("k".into(), start);
        }

        assert_eq!(failures.blocked_for("k", MAX_FAILURES_PER_EMAIL, start), Some(WINDOW));
        assert_eq!(failures.blocked_for("k", MAX_FAILURES_PER_EMAIL, start.plus(WINDOW)), None);
    }

    #[test]
    fn failures_forget_ended_windows_when_many_keys_pile_up() {
        let mut failures = Failures::default();
        let start = Timestamp::from_millis(0);
        for n in 0..PRUNE_AT {
            failures.record(format!("k{n}"), start);
        }

        failures.record("late".into(), start.plus(WINDOW));

        assert_eq!(failures.0.len(), 1);
    }
}
