//! The API's one error type. [`ApiError::into_response`] is the only place that picks an HTTP
//! status and a stable code; every error body is `{"message", "code", "detail"?}`, which the
//! official SDK turns into a `Base44Error` with `status`, `code` and `message`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use usher_api_types::ErrorBody;
use usher_core::access::AuthError;
use usher_core::api_keys::ApiKeyError;
use usher_core::app_settings::InvalidSetting;
use usher_core::email::InvalidEmail;
use usher_core::invite::InviteError;
use usher_core::join::JoinError;
use usher_core::members::MemberError;
use usher_core::model::LinkState;
use usher_core::reset::ResetError;
use usher_core::sign_in::{ChangePasswordError, SignInError};
use usher_core::signup::SignupError;
use usher_core::webhooks::WebhookError;
use usher_core::{StoreError, ceil_secs};

/// Everything a JSON route can answer instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not the JSON the route takes.
    #[error("invalid request body: {0}")]
    InvalidBody(String),
    /// The body is not declared as JSON.
    #[error("request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// The body is larger than the limit.
    #[error("request body is too large")]
    PayloadTooLarge,
    /// A required field is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// The body has a field the route does not know.
    #[error("unknown field `{0}`")]
    UnknownField(String),
    /// The role is not exactly `user` or `admin`.
    #[error("role must be \"user\" or \"admin\"")]
    InvalidRole,
    /// The address is not acceptable.
    #[error("{0}")]
    InvalidEmail(#[from] InvalidEmail),
    /// The `X-App-Id` header names another app than the path.
    #[error("X-App-Id header does not match the app in the path")]
    AppIdMismatch,
    /// No app has this id.
    #[error("no app has the id {0:?}")]
    AppNotFound(String),
    /// No invitation of this app has this id.
    #[error("invitation not found")]
    InvitationNotFound,
    /// The route is for admins and API keys.
    #[error("only admins of this app and API keys may do this")]
    AdminOnly,
    /// The `Idempotency-Key` header is not 1 to 255 visible ASCII characters.
    #[error("the Idempotency-Key header must be 1 to 255 visible ASCII characters")]
    IdempotencyKeyInvalid,
    /// The `Idempotency-Key` was used with another request.
    #[error("this Idempotency-Key was used with a different request; use a new key for a new request")]
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` is still being processed.
    #[error("a request with this Idempotency-Key is still being processed; retry later")]
    IdempotencyKeyInUse,
    /// No route has this path.
    #[error("no such route")]
    RouteNotFound,
    /// The route exists, but not for this method.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// Authentication failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The route needs a member's access token, not an API key.
    #[error("this route needs a member's access token; an API key is not a member")]
    NotAMember,
    /// The invite was refused.
    #[error(transparent)]
    Invite(InviteError),
    /// A list query parameter is malformed.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The app has no live API key with this id.
    #[error("API key not found")]
    KeyNotFound,
    /// The app has no webhook endpoint with this id.
    #[error("webhook not found")]
    WebhookNotFound,
    /// The endpoint has no delivery with this id.
    #[error("webhook delivery not found")]
    DeliveryNotFound,
    /// A webhook's URL or event types were refused.
    #[error("{0}")]
    InvalidWebhook(String),
    /// Revoking the app's last API key is refused.
    #[error("this is the app's last API key; create another before revoking it")]
    LastApiKey,
    /// A settings change was refused.
    #[error(transparent)]
    InvalidSetting(InvalidSetting),
    /// Members are not created through the entity.
    #[error("users join by invitation or sign-up; use users.inviteUser to add someone")]
    UserCreationNotAllowed,
    /// A member operation was refused.
    #[error(transparent)]
    Member(MemberError),
    /// Signing in failed.
    #[error(transparent)]
    SignIn(SignInError),
    /// An invitation link could not be shown or used.
    #[error(transparent)]
    Join(JoinError),
    /// A sign-up step failed.
    #[error(transparent)]
    Signup(SignupError),
    /// A reset link could not be used.
    #[error(transparent)]
    Reset(ResetError),
    /// Changing a password failed.
    #[error(transparent)]
    ChangePassword(ChangePasswordError),
    /// The locale is not one Usher writes email in.
    #[error(transparent)]
    UnsupportedLocale(#[from] usher_core::locale::UnsupportedLocale),
    /// No kind of email has this name.
    #[error(
        "no kind of email is called {0:?}; kinds: invitation, reminder, sign_in, password_reset, signup_code, account_exists"
    )]
    UnknownMailKind(String),
    /// The app has no template of its own for this kind and locale.
    #[error("this app has no template of its own for this kind and locale")]
    TemplateNotFound,
    /// An app's template was refused when saved: it would not render.
    #[error("invalid template: {0}")]
    InvalidTemplate(usher_mail::templates::TemplateProblem),
    /// Something broke on our side; the cause is logged, not returned.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        Self::Internal(Box::new(err))
    }
}

impl From<ApiKeyError> for ApiError {
    fn from(err: ApiKeyError) -> Self {
        match err {
            ApiKeyError::AdminRequired => Self::AdminOnly,
            ApiKeyError::InvalidName => Self::InvalidBody(err.to_string()),
            ApiKeyError::NotFound => Self::KeyNotFound,
            ApiKeyError::LastKey => Self::LastApiKey,
            ApiKeyError::Store(err) => err.into(),
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(err: WebhookError) -> Self {
        match err {
            WebhookError::AdminRequired => Self::AdminOnly,
            WebhookError::Url(_) | WebhookError::NoEvents | WebhookError::UnknownEvent { .. } => {
                Self::InvalidWebhook(err.to_string())
            }
            WebhookError::NotFound => Self::WebhookNotFound,
            WebhookError::DeliveryNotFound => Self::DeliveryNotFound,
            WebhookError::Store(err) => err.into(),
        }
    }
}

impl From<MemberError> for ApiError {
    fn from(err: MemberError) -> Self {
        match err {
            MemberError::Store(err) => err.into(),
            other => Self::Member(other),
        }
    }
}

impl From<SignInError> for ApiError {
    fn from(err: SignInError) -> Self {
        match err {
            SignInError::Store(err) => err.into(),
            other => Self::SignIn(other),
        }
    }
}

impl From<ChangePasswordError> for ApiError {
    fn from(err: ChangePasswordError) -> Self {
        match err {
            ChangePasswordError::Store(err) => err.into(),
            other => Self::ChangePassword(other),
        }
    }
}

impl From<JoinError> for ApiError {
    fn from(err: JoinError) -> Self {
        match err {
            JoinError::Store(err) => err.into(),
            other => Self::Join(other),
        }
    }
}

impl From<SignupError> for ApiError {
    fn from(err: SignupError) -> Self {
        match err {
            SignupError::Store(err) => err.into(),
            other => Self::Signup(other),
        }
    }
}

impl From<ResetError> for ApiError {
    fn from(err: ResetError) -> Self {
        match err {
            ResetError::Store(err) => err.into(),
            other => Self::Reset(other),
        }
    }
}

impl From<InviteError> for ApiError {
    fn from(err: InviteError) -> Self {
        match err {
            InviteError::Store(err) => err.into(),
            other => Self::Invite(other),
        }
    }
}

/// What a client is told to wait before trying again when the database is unavailable.
const DATABASE_RETRY_AFTER_SECS: u32 = 5;

impl ApiError {
    /// The storage failure behind this error, if it is one.
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            Self::Auth(AuthError::Store(err))
            | Self::Join(JoinError::Store(err))
            | Self::Signup(SignupError::Store(err))
            | Self::Reset(ResetError::Store(err))
            | Self::ChangePassword(ChangePasswordError::Store(err))
            | Self::Invite(InviteError::Store(err))
            | Self::Member(MemberError::Store(err))
            | Self::SignIn(SignInError::Store(err)) => Some(err),
            Self::Internal(err) => err.downcast_ref::<StoreError>(),
            _ => None,
        }
    }

    /// The HTTP status and stable code of this error.
    pub(crate) fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self.store_error() {
            Some(StoreError::Unavailable(_)) => return (StatusCode::SERVICE_UNAVAILABLE, "DATABASE_UNAVAILABLE"),
            Some(StoreError::StorageFull(_)) => return (StatusCode::INSUFFICIENT_STORAGE, "STORAGE_FULL"),
            _ => {}
        }
        match self {
            Self::InvalidBody(_) => (StatusCode::BAD_REQUEST, "INVALID_BODY"),
            Self::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            Self::MissingField(_) => (StatusCode::BAD_REQUEST, "MISSING_FIELD"),
            Self::UnknownField(_) => (StatusCode::BAD_REQUEST, "UNKNOWN_FIELD"),
            Self::InvalidRole => (StatusCode::BAD_REQUEST, "INVALID_ROLE"),
            Self::InvalidEmail(_) => (StatusCode::BAD_REQUEST, "INVALID_EMAIL"),
            Self::AppIdMismatch => (StatusCode::BAD_REQUEST, "APP_ID_MISMATCH"),
            Self::AppNotFound(_) => (StatusCode::NOT_FOUND, "APP_NOT_FOUND"),
            Self::InvitationNotFound => (StatusCode::NOT_FOUND, "INVITATION_NOT_FOUND"),
            Self::AdminOnly => (StatusCode::FORBIDDEN, "ADMIN_REQUIRED"),
            Self::RouteNotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            Self::IdempotencyKeyInvalid => (StatusCode::BAD_REQUEST, "INVALID_IDEMPOTENCY_KEY"),
            Self::IdempotencyKeyReused => (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED"),
            Self::IdempotencyKeyInUse => (StatusCode::CONFLICT, "IDEMPOTENCY_KEY_IN_USE"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            Self::Auth(AuthError::Unauthenticated | AuthError::UnknownApiKey) => {
                (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED")
            }
            Self::Auth(AuthError::WrongApp) => (StatusCode::FORBIDDEN, "WRONG_APP"),
            Self::Auth(AuthError::Disabled) => (StatusCode::FORBIDDEN, "ACCOUNT_DISABLED"),
            Self::Auth(AuthError::Revoked) => (StatusCode::UNAUTHORIZED, "TOKEN_REVOKED"),
            Self::NotAMember => (StatusCode::FORBIDDEN, "NOT_A_MEMBER"),
            Self::Invite(InviteError::AdminsOnly) => (StatusCode::FORBIDDEN, "ADMINS_ONLY"),
            Self::Invite(InviteError::DomainNotAllowed { .. }) => (StatusCode::FORBIDDEN, "DOMAIN_NOT_ALLOWED"),
            Self::Invite(InviteError::RoleEscalation | InviteError::AdminInvitationPending) => {
                (StatusCode::FORBIDDEN, "ROLE_NOT_ALLOWED")
            }
            Self::Invite(InviteError::Throttled { .. }) => (StatusCode::TOO_MANY_REQUESTS, "RESEND_THROTTLED"),
            Self::Invite(InviteError::DailyLimit { .. }) => (StatusCode::TOO_MANY_REQUESTS, "DAILY_INVITE_LIMIT"),
            Self::Invite(InviteError::NotFound) => (StatusCode::NOT_FOUND, "INVITATION_NOT_FOUND"),
            Self::Invite(InviteError::NotPending(_)) => (StatusCode::CONFLICT, "INVITATION_NOT_PENDING"),
            Self::Invite(InviteError::Refused(refusal)) => (StatusCode::BAD_REQUEST, refusal.code),
            Self::Invite(InviteError::KeyReused) => (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED"),
            Self::Invite(InviteError::KeyInUse) => (StatusCode::CONFLICT, "IDEMPOTENCY_KEY_IN_USE"),
            Self::InvalidQuery(_) => (StatusCode::BAD_REQUEST, "INVALID_QUERY"),
            Self::InvalidSetting(_) => (StatusCode::BAD_REQUEST, "INVALID_SETTING"),
            Self::UnsupportedLocale(_) => (StatusCode::UNPROCESSABLE_ENTITY, "UNSUPPORTED_LOCALE"),
            Self::UnknownMailKind(_) => (StatusCode::NOT_FOUND, "UNKNOWN_TEMPLATE_KIND"),
            Self::TemplateNotFound => (StatusCode::NOT_FOUND, "TEMPLATE_NOT_FOUND"),
            Self::InvalidTemplate(_) => (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_TEMPLATE"),
            Self::KeyNotFound => (StatusCode::NOT_FOUND, "API_KEY_NOT_FOUND"),
            Self::WebhookNotFound => (StatusCode::NOT_FOUND, "WEBHOOK_NOT_FOUND"),
            Self::DeliveryNotFound => (StatusCode::NOT_FOUND, "WEBHOOK_DELIVERY_NOT_FOUND"),
            Self::InvalidWebhook(_) => (StatusCode::BAD_REQUEST, "INVALID_WEBHOOK"),
            Self::LastApiKey => (StatusCode::CONFLICT, "LAST_API_KEY"),
            Self::UserCreationNotAllowed => (StatusCode::FORBIDDEN, "USER_CREATION_NOT_ALLOWED"),
            Self::Member(MemberError::NotFound) => (StatusCode::NOT_FOUND, "USER_NOT_FOUND"),
            Self::Member(MemberError::AdminRequired) => (StatusCode::FORBIDDEN, "ADMIN_REQUIRED"),
            Self::Member(MemberError::LastAdmin) => (StatusCode::CONFLICT, "LAST_ADMIN"),
            Self::Member(MemberError::ReadOnlyField(_)) => (StatusCode::FORBIDDEN, "FIELD_NOT_EDITABLE"),
            Self::Member(MemberError::InvalidField { .. }) => (StatusCode::BAD_REQUEST, "INVALID_FIELD"),
            Self::Member(MemberError::CustomDataTooLarge { .. }) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "CUSTOM_DATA_TOO_LARGE")
            }
            Self::SignIn(SignInError::InvalidCredentials) => (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS"),
            Self::SignIn(SignInError::Disabled) => (StatusCode::FORBIDDEN, "ACCOUNT_DISABLED"),
            Self::SignIn(SignInError::TooManyAttempts { .. }) => (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS"),
            Self::ChangePassword(ChangePasswordError::NotYourAccount) => (StatusCode::FORBIDDEN, "NOT_YOUR_ACCOUNT"),
            Self::ChangePassword(ChangePasswordError::WrongCurrentPassword) => {
                (StatusCode::BAD_REQUEST, "INVALID_CURRENT_PASSWORD")
            }
            Self::ChangePassword(ChangePasswordError::WeakPassword(_)) => (StatusCode::BAD_REQUEST, "WEAK_PASSWORD"),
            Self::ChangePassword(ChangePasswordError::TooManyAttempts { .. }) => {
                (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS")
            }
            Self::Reset(ResetError::Link(LinkState::Unknown | LinkState::Valid)) => {
                (StatusCode::BAD_REQUEST, "INVALID_RESET_TOKEN")
            }
            Self::Reset(ResetError::Link(LinkState::Used)) => (StatusCode::GONE, "RESET_TOKEN_USED"),
            Self::Reset(ResetError::Link(_)) => (StatusCode::GONE, "RESET_TOKEN_EXPIRED"),
            Self::Reset(ResetError::WeakPassword(_)) => (StatusCode::BAD_REQUEST, "WEAK_PASSWORD"),
            Self::Join(JoinError::Link(LinkState::Unknown | LinkState::Valid)) => {
                (StatusCode::NOT_FOUND, "INVITATION_LINK_INVALID")
            }
            Self::Join(JoinError::Link(LinkState::Used)) => (StatusCode::GONE, "INVITATION_ALREADY_ACCEPTED"),
            Self::Join(JoinError::Link(LinkState::Replaced)) => (StatusCode::GONE, "INVITATION_LINK_REPLACED"),
            Self::Join(JoinError::Link(LinkState::Revoked)) => (StatusCode::GONE, "INVITATION_REVOKED"),
            Self::Join(JoinError::Link(LinkState::Expired)) => (StatusCode::GONE, "INVITATION_EXPIRED"),
            Self::Join(JoinError::WeakPassword(_)) => (StatusCode::BAD_REQUEST, "WEAK_PASSWORD"),
            Self::Join(JoinError::InvalidName) => (StatusCode::BAD_REQUEST, "INVALID_FIELD"),
            Self::Join(JoinError::WrongPassword) => (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS"),
            Self::Join(JoinError::Disabled) => (StatusCode::FORBIDDEN, "ACCOUNT_DISABLED"),
            Self::Join(JoinError::TooManyAttempts { .. }) => (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS"),
            Self::Join(JoinError::AccountChanged) => (StatusCode::CONFLICT, "ACCOUNT_CHANGED"),
            Self::Signup(SignupError::InvalidEmail(_)) => (StatusCode::BAD_REQUEST, "INVALID_EMAIL"),
            Self::Signup(SignupError::WeakPassword(_)) => (StatusCode::BAD_REQUEST, "WEAK_PASSWORD"),
            Self::Signup(SignupError::NotInvited) => (StatusCode::FORBIDDEN, "SIGNUP_INVITATION_ONLY"),
            Self::Signup(SignupError::DomainNotAllowed { .. }) => (StatusCode::FORBIDDEN, "DOMAIN_NOT_ALLOWED"),
            Self::Signup(SignupError::InvalidCode) => (StatusCode::BAD_REQUEST, "INVALID_OTP"),
            Self::Signup(SignupError::CodeReplaced) => (StatusCode::GONE, "CODE_REPLACED"),
            Self::Signup(SignupError::TooManyCodes { .. }) => (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_CODES"),
            Self::Signup(SignupError::CodeExpired) => (StatusCode::GONE, "OTP_EXPIRED"),
            Self::Signup(SignupError::TooManyAttempts) => (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS"),
            Self::Auth(AuthError::Store(_))
            | Self::Join(JoinError::Store(_))
            | Self::Signup(SignupError::Store(_))
            | Self::Reset(ResetError::Store(_))
            | Self::ChangePassword(ChangePasswordError::Store(_))
            | Self::Invite(InviteError::Store(_))
            | Self::Member(MemberError::Store(_))
            | Self::SignIn(SignInError::Store(_))
            | Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
        }
    }

    fn detail(&self) -> Option<Value> {
        match self {
            Self::MissingField(field) => Some(json!({ "field": field })),
            Self::UnknownField(field) => Some(json!({ "field": field })),
            Self::InvalidRole => Some(json!({ "field": "role", "allowed": ["user", "admin"] })),
            Self::InvalidEmail(_) => Some(json!({ "field": "user_email" })),
            Self::Invite(InviteError::Throttled { retry_after, .. })
            | Self::SignIn(SignInError::TooManyAttempts { retry_after })
            | Self::Join(JoinError::TooManyAttempts { retry_after })
            | Self::ChangePassword(ChangePasswordError::TooManyAttempts { retry_after })
            | Self::Signup(SignupError::TooManyCodes { retry_after }) => {
                Some(json!({ "retry_after_seconds": ceil_secs(*retry_after) }))
            }
            Self::Invite(InviteError::DailyLimit { retry_after, limit }) => {
                Some(json!({ "retry_after_seconds": ceil_secs(*retry_after), "max_invites_per_day": limit }))
            }
            Self::Invite(InviteError::DomainNotAllowed { domain })
            | Self::Signup(SignupError::DomainNotAllowed { domain }) => Some(json!({ "domain": domain })),
            Self::UnsupportedLocale(err) => Some(json!({
                "locale": err.tag,
                "supported": usher_core::Locale::ALL.map(usher_core::Locale::as_str),
            })),
            Self::InvalidTemplate(problem) => Some(json!({ "part": problem.part })),
            Self::Member(MemberError::CustomDataTooLarge { size }) => {
                Some(json!({ "size": size, "limit": usher_core::members::MAX_CUSTOM_BYTES }))
            }
            Self::Member(MemberError::ReadOnlyField(field) | MemberError::InvalidField { field, .. })
            | Self::InvalidSetting(InvalidSetting { field, .. }) => Some(json!({ "field": field })),
            _ => None,
        }
    }
}

impl ApiError {
    /// The JSON body of a refusal (a 4xx): `{message, code, detail}`.
    fn body(&self) -> ErrorBody {
        let (_, code) = self.status_and_code();
        ErrorBody { message: self.to_string(), code: code.into(), detail: self.detail() }
    }

    /// [`ApiError::body`] as the bytes its response carries.
    pub(crate) fn body_json(&self) -> String {
        serde_json::to_string(&self.body()).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if matches!(status, StatusCode::SERVICE_UNAVAILABLE | StatusCode::INSUFFICIENT_STORAGE) {
            // Nothing was written: the client may send the same request again.
            tracing::warn!("request refused: {}", error_chain(&self));
            let message = if status == StatusCode::SERVICE_UNAVAILABLE {
                format!("the database is unavailable; nothing was written, try again in {DATABASE_RETRY_AFTER_SECS} s")
            } else {
                "the database has no space left; nothing was written, try again once space is freed".to_owned()
            };
            let body = ErrorBody { message, code: code.into(), detail: None };
            let mut response = (status, Json(body)).into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(DATABASE_RETRY_AFTER_SECS));
            return response;
        }
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = ?self, "request failed: {}", error_chain(&self));
            let body = ErrorBody { message: "internal error".into(), code: code.into(), detail: None };
            return (status, Json(body)).into_response();
        }
        let body = self.body();
        let mut response = (status, Json(body)).into_response();
        if let Self::Invite(InviteError::Throttled { retry_after, .. } | InviteError::DailyLimit { retry_after, .. })
        | Self::SignIn(SignInError::TooManyAttempts { retry_after })
        | Self::Join(JoinError::TooManyAttempts { retry_after })
        | Self::ChangePassword(ChangePasswordError::TooManyAttempts { retry_after })
        | Self::Signup(SignupError::TooManyCodes { retry_after }) = &self
        {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(ceil_secs(*retry_after)));
        }
        response
    }
}

pub(crate) use usher_core::error_chain;
