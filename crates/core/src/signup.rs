//! Signing up with a one-time code: `register` emails a code, `verify_otp` checks it and
//! creates the member. Apps are invitation-only unless they open sign-up; then only addresses
//! with a pending invitation may sign up. Registering an address that is already a member
//! answers like any other registration (the member is emailed instead), so the answer does
//! not tell members from strangers.
//!
//! The password an account gets is the one of the `register` call whose code was entered: a
//! newer `register` of the address replaces the earlier one (password and code) and mails a
//! fresh code, and an earlier code is then refused as replaced. So someone who registers a
//! stranger's address first cannot end up with a password on the account the owner of the
//! mailbox finishes. What keeps `register` from flooding an inbox is an allowance of
//! [`MAX_CODES_PER_HOUR`] code requests (`register` and `resend-otp` together) per address,
//! counted before the password is hashed, members and strangers alike.
//!
//! What this cannot tell apart: someone who registers the address *after* its owner and before
//! the owner enters the code makes the newest code email theirs. The owner's own code then
//! answers "replaced, register again" (registering again makes the newest code the owner's);
//! an owner who instead types the code from the unexpected newer email finishes the other
//! registration. Only the mailbox owner can enter a code, so this needs the owner's help.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::access::AccessTokens;
use crate::clock::Clock;
use crate::email::{EmailAddress, InvalidEmail};
use crate::id::{MessageId, UserId};
use crate::model::App;
use crate::password::{self, Password, WeakPassword};
use crate::rules::domains::refused_domain;
use crate::secret::{CodeKey, OneTimeCode};
use crate::sign_in::SignedIn;
use crate::store::{SignupCommand, SignupOutcome, Store, StoreError, VerifyCommand, VerifyOutcome};
use crate::throttle::Counter;

/// How long a code works unless configured otherwise.
pub const DEFAULT_CODE_TTL: Duration = Duration::from_secs(10 * 60);
/// Wrong codes allowed before the sign-up must be restarted.
pub const MAX_ATTEMPTS: u32 = 5;
/// Code requests (`register` and `resend-otp`) allowed per address in one app per
/// [`CODE_WINDOW`].
pub const MAX_CODES_PER_HOUR: u32 = 5;
/// The window of [`MAX_CODES_PER_HOUR`].
pub const CODE_WINDOW: Duration = Duration::from_secs(60 * 60);

/// Why a sign-up step failed.
#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    /// The address is not acceptable.
    #[error(transparent)]
    InvalidEmail(#[from] InvalidEmail),
    /// The password breaks a rule.
    #[error(transparent)]
    WeakPassword(#[from] WeakPassword),
    /// The app is invitation-only and the address has no invitation.
    #[error("this app is invitation-only; ask an admin of the app for an invitation")]
    NotInvited,
    /// The app's domain lists refuse the address's domain.
    #[error("this app does not accept addresses at {domain}")]
    DomainNotAllowed {
        /// The refused domain.
        domain: String,
    },
    /// No sign-up is waiting, or the code is wrong.
    #[error("the code is not correct")]
    InvalidCode,
    /// The code belongs to a registration of this address that a newer one replaced. The
    /// advice is to register again, not to use the newest email's code: that code belongs
    /// to whoever registered last, who may not be the owner of the mailbox.
    #[error(
        "this code belongs to a registration of this address that a newer registration replaced; register again to get a new code"
    )]
    CodeReplaced,
    /// Too many codes were asked for this address.
    #[error("too many codes were requested for this address; try again in {} seconds", crate::clock::ceil_secs(*.retry_after))]
    TooManyCodes {
        /// How long until the next code may be asked for.
        retry_after: Duration,
    },
    /// The code ran out of time.
    #[error("the code has expired; ask for a new one")]
    CodeExpired,
    /// Too many wrong codes.
    #[error("too many wrong codes; ask for a new one")]
    TooManyAttempts,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs sign-ups.
pub struct SignupService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    tokens: Arc<AccessTokens>,
    resend_interval: Duration,
    code_ttl: Duration,
    code_key: CodeKey,
    outbox: Arc<Notify>,
    requests: Mutex<Counter>,
}

/// How sign-up codes are paced.
#[derive(Clone, Copy, Debug)]
pub struct SignupTiming {
    /// Code emails to one address are at least this far apart.
    pub resend_interval: Duration,
    /// How long a code works.
    pub code_ttl: Duration,
}

impl SignupService {
    /// A service over `store`, paced by `timing`, storing codes keyed with `code_key`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        tokens: Arc<AccessTokens>,
        timing: SignupTiming,
        code_key: CodeKey,
        outbox: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            clock,
            tokens,
            resend_interval: timing.resend_interval,
            code_ttl: timing.code_ttl,
            code_key,
            outbox,
            requests: Mutex::new(Counter::new(CODE_WINDOW)),
        }
    }

    /// Counts one code request for `email`, or says how long until the next is allowed.
    fn take_allowance(&self, app: &App, email: &EmailAddress) -> Result<(), SignupError> {
        let key = format!("{}:{email}", app.id);
        let now = self.clock.now();
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(retry_after) = requests.blocked_for(&key, MAX_CODES_PER_HOUR, now) {
            return Err(SignupError::TooManyCodes { retry_after });
        }
        requests.count(&key, now);
        Ok(())
    }

    /// Starts a sign-up of `email` with `password`, replacing any earlier one of the address:
    /// a code is emailed.
    pub async fn register(&self, app: &App, email: &str, password: String) -> Result<(), SignupError> {
        let email = EmailAddress::parse(email)?;
        let password = Password::new(password)?;
        check_domain(app, &email)?;
        self.take_allowance(app, &email)?;
        let hash = password::off_thread(move || password.hash()).await.map_err(|e| StoreError::Backend(Box::new(e)))?;
        self.send(app, email, Some(hash)).await
    }

    /// Emails a fresh code for a sign-up already started; answers the same otherwise.
    pub async fn resend(&self, app: &App, email: &str) -> Result<(), SignupError> {
        let Ok(email) = EmailAddress::parse(email) else { return Ok(()) };
        check_domain(app, &email)?;
        self.take_allowance(app, &email)?;
        match self.send(app, email, None).await {
            Err(SignupError::NotInvited) => Ok(()),
            other => other,
        }
    }

    async fn send(
        &self,
        app: &App,
        email: EmailAddress,
        password_hash: Option<crate::password::PasswordHash>,
    ) -> Result<(), SignupError> {
        let now = self.clock.now();
        let code = OneTimeCode::generate();
        let code_hash = code.hash(&self.code_key, &app.id, &email);
        let cmd = SignupCommand {
            app_id: app.id.clone(),
            email,
            password_hash,
            code_hash,
            code,
            message_id: MessageId::generate(),
            expires_at: now.plus(self.code_ttl),
            is_invitation_only: !app.settings.is_signup_open,
            resend_interval: self.resend_interval,
            now,
        };
        match self.store.send_signup_code(cmd).await? {
            SignupOutcome::NotInvited => Err(SignupError::NotInvited),
            SignupOutcome::CodeSent | SignupOutcome::AlreadyMember => {
                self.outbox.notify_one();
                Ok(())
            }
        }
    }

    /// Checks `code` for `email`; the right one creates the member and signs them in.
    pub async fn verify(&self, app: &App, email: &str, code: &str) -> Result<SignedIn, SignupError> {
        let email = EmailAddress::parse(email).map_err(|_| SignupError::InvalidCode)?;
        let code = OneTimeCode::parse(code).ok_or(SignupError::InvalidCode)?;
        // A sign-up started before the app's lists changed does not slip in.
        check_domain(app, &email)?;
        let now = self.clock.now();
        let cmd = VerifyCommand {
            app_id: app.id.clone(),
            code_hash: code.hash(&self.code_key, &app.id, &email),
            email,
            user_id: UserId::generate(),
            max_attempts: MAX_ATTEMPTS,
            now,
        };
        match self.store.verify_signup(cmd).await? {
            VerifyOutcome::Joined(user) => {
                let access_token = self.tokens.issue(&user, now);
                Ok(SignedIn { user, access_token })
            }
            VerifyOutcome::NoSignup | VerifyOutcome::WrongCode => Err(SignupError::InvalidCode),
            VerifyOutcome::Replaced => Err(SignupError::CodeReplaced),
            VerifyOutcome::Expired => Err(SignupError::CodeExpired),
            VerifyOutcome::TooManyAttempts => Err(SignupError::TooManyAttempts),
        }
    }
}

/// The app's domain lists ([`crate::rules::domains`]), applied to whoever registers alike,
/// member or not, so the answer does not tell members from strangers; members sign in
/// rather than register, so the lists do not affect them.
fn check_domain(app: &App, email: &EmailAddress) -> Result<(), SignupError> {
    match refused_domain(app.settings.domain_rules(), email) {
        Some(domain) => Err(SignupError::DomainNotAllowed { domain: domain.to_owned() }),
        None => Ok(()),
    }
}
