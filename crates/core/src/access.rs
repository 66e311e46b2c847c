//! Who is calling: access tokens (JWT) for members, API keys for servers, and the
//! [`Authenticator`] that turns a bearer credential into a [`Principal`] of one app.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, Timestamp};
use crate::id::{ApiKeyId, AppId, UserId};
use crate::model::{Actor, ApiKeyRecord, User};
use crate::role::Role;
use crate::secret::ApiKey;
use crate::store::{Store, StoreError};

/// The claims of an Usher access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The member's id.
    pub sub: String,
    /// The app the token is valid for, and no other.
    pub app_id: String,
    /// The member's role when the token was issued (informational: rights are checked
    /// against the stored member).
    pub role: Role,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// The member's [`User::session_epoch`] when the token was issued. A password change or
    /// reset moves the member's value on, which ends every session opened before it. A
    /// counter rather than a comparison of `iat` with the time of the change: `iat` has
    /// whole seconds, so a token issued in the second of the change (the fresh one the
    /// change itself returns, or a sign-in racing it) could not be told apart. Tokens from
    /// before this claim existed read as 0, the value every member started with.
    #[serde(default, rename = "sep")]
    pub session_epoch: i64,
}

/// Issues and verifies HS256 access tokens.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
}

impl AccessTokens {
    /// Tokens signed with `secret` that live for `ttl`.
    pub fn new(secret: &SecretString, ttl: Duration) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        Self { encoding: EncodingKey::from_secret(bytes), decoding: DecodingKey::from_secret(bytes), ttl }
    }

    /// A token for `user`, issued at `now`.
    pub fn issue(&self, user: &User, now: Timestamp) -> String {
        let claims = Claims {
            sub: user.id.to_string(),
            app_id: user.app_id.to_string(),
            role: user.role,
            iat: now.as_unix_seconds(),
            exp: now.plus(self.ttl).as_unix_seconds(),
            session_epoch: user.session_epoch,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// The claims of a token signed by us with HS256 and unexpired at `now`.
    pub fn verify(&self, token: &str, now: Timestamp) -> Option<Claims> {
        // Expiry is checked against the service clock below, not the library's.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok()?.claims;
        (claims.exp > now.as_unix_seconds()).then_some(claims)
    }
}

/// An authenticated caller, already known to belong to the app it calls.
#[derive(Clone, Debug)]
pub enum Principal {
    /// An API key of the app: acts with admin power.
    ApiKey(ApiKeyRecord),
    /// A signed-in, enabled member of the app.
    Member(User),
}

impl Principal {
    /// True for API keys and admins.
    pub fn is_admin(&self) -> bool {
        match self {
            Self::ApiKey(_) => true,
            Self::Member(user) => user.role == Role::Admin,
        }
    }

    /// Who the audit log records as having acted: the key, or the member.
    pub fn actor(&self) -> Actor {
        match self {
            Self::ApiKey(key) => Actor::ApiKey(key.id.clone()),
            Self::Member(user) => Actor::User(user.id.clone()),
        }
    }

    /// True when this caller may see the app's members (their ids and roles): API keys and
    /// admins. A plain member sees only themselves.
    pub fn may_list_members(&self) -> bool {
        self.is_admin()
    }
}

/// Why a credential was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credential, or an access token that is malformed, expired or of a deleted member.
    #[error("a valid access token or API key is required")]
    Unauthenticated,
    /// A credential shaped like an API key that no app has: mistyped, or revoked.
    #[error("this API key is unknown or was revoked")]
    UnknownApiKey,
    /// A valid credential of another app.
    #[error("this credential belongs to another app")]
    WrongApp,
    /// The member is disabled.
    #[error("this account is disabled")]
    Disabled,
    /// The token was issued before the member's password last changed (or was reset): that
    /// ended every session opened before it.
    #[error("this session ended when the password was changed; sign in again")]
    Revoked,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves bearer credentials.
pub struct Authenticator {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    tokens: Arc<AccessTokens>,
}

impl Authenticator {
    /// An authenticator over `store`, verifying JWTs with `tokens`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, tokens: Arc<AccessTokens>) -> Self {
        Self { store, clock, tokens }
    }

    /// The principal that `bearer` (an API key or an access token) is, within `app_id`.
    pub async fn authenticate(&self, app_id: &AppId, bearer: &str) -> Result<Principal, AuthError> {
        if bearer.starts_with(ApiKey::PREFIX) {
            let key = ApiKey::parse(bearer).ok_or(AuthError::UnknownApiKey)?;
            let record = self.store.api_key(&key.hash()).await?.ok_or(AuthError::UnknownApiKey)?;
            return if &record.app_id == app_id { Ok(Principal::ApiKey(record)) } else { Err(AuthError::WrongApp) };
        }
        let claims = self.tokens.verify(bearer, self.clock.now()).ok_or(AuthError::Unauthenticated)?;
        if claims.app_id != app_id.as_str() {
            return Err(AuthError::WrongApp);
        }
        let user_id = UserId::parse(&claims.sub).map_err(|_| AuthError::Unauthenticated)?;
        let user = self.store.user(app_id, &user_id).await?.ok_or(AuthError::Unauthenticated)?;
        if user.is_disabled {
            return Err(AuthError::Disabled);
        }
        if claims.session_epoch != user.session_epoch {
            return Err(AuthError::Revoked);
        }
        Ok(Principal::Member(user))
    }

    /// The live key `id` of `app_id`, as a principal: how a console session from a one-time
    /// link acts, naming its key by id (nobody holds that key's secret).
    pub async fn authenticate_key(&self, app_id: &AppId, id: &ApiKeyId) -> Result<Principal, AuthError> {
        let keys = self.store.api_keys(app_id).await?;
        let record = keys.into_iter().find(|key| &key.id == id).ok_or(AuthError::UnknownApiKey)?;
        Ok(Principal::ApiKey(record))
    }
}
