//! `base44`: a Rust client for Base44-compatible backends — [Usher](https://github.com/usher-dev/usher)
//! (self-hosted) or Base44 itself. It speaks the same wire protocol as the official
//! JavaScript SDK `@base44/sdk`.
//!
//! ```no_run
//! use base44::{Client, Role};
//!
//! # async fn run() -> Result<(), base44::ClientError> {
//! let client = Client::builder()
//!     .server_url("http://127.0.0.1:8044")
//!     .app_id("0123456789abcdef01234567")
//!     .token("usk_…")
//!     .build()?;
//! let invited = client.users().invite_user("ada@example.com", Role::User).await?;
//! println!("{}", invited.message());
//! # Ok(())
//! # }
//! ```
//!
//! A wrong role does not compile: [`Role`] has two variants, and parsing a string into one
//! ([`str::parse`]) is fallible.

mod error;
mod idempotent;
mod invited;
mod templates;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

pub use error::ClientError;
pub use idempotent::Keyed;
pub use invited::Invited;
pub use templates::Templates;
pub use webhooks::Webhooks;

pub use usher_api_types::rfc3339;
pub use usher_api_types::{
    AcceptInvitationRequest, ApiKeyInfo, ApiKeyList, ApiKeyRevoked, AppSettings, AppSummary, AuditActor,
    AuditActorKind, AuditEvent, BulkInviteRequest, BulkInviteResponse, BulkInviteResult, BulkRefusalOutcome,
    ChangePasswordRequest, Count, CreateApiKeyRequest, DeliveryStatus, EmailDelivery, EmailRequest, ErrorBody,
    InvalidRole, Invitation, InvitationLookup, InvitationStatus, InviteOutcome, InviteUserRequest, InviteUserResponse,
    LoginRequest, LookupInvitationRequest, MailTemplate, MailTemplateBody, MailTemplateList, MailTemplateSummary,
    MemberSummary, Message, OffsetDateTime, Page, PasswordChanged, PreviewTemplateRequest, PublicSettings,
    RegisterRequest, ResetPasswordRequest, Role, SignedIn, TemplatePreview, TemplateSource, UpdateAppSettingsRequest,
    UpdateUserRequest, User, UserDeleted, UserListItem, VerifyOtpRequest,
};
pub use usher_api_types::{
    CreateWebhookRequest, WebhookDeleted, WebhookDeliveryInfo, WebhookDeliveryList, WebhookInfo, WebhookList,
};

/// How long a request may take by default, connecting included; see [`ClientBuilder::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of one app on one server. Cheap to clone; clones share the connection pool.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Arc<Url>,
    app_id: Arc<str>,
    token: Option<Arc<str>>,
    timeout: Duration,
}

/// Builds a [`Client`]; see [`Client::builder`].
#[derive(Debug, Default)]
pub struct ClientBuilder {
    server_url: Option<String>,
    app_id: Option<String>,
    token: Option<String>,
    timeout: Option<Duration>,
}

impl ClientBuilder {
    /// The server, e.g. `http://127.0.0.1:8044` (required).
    pub fn server_url(mut self, url: impl Into<String>) -> Self {
        self.server_url = Some(url.into());
        self
    }

    /// The app's id (required).
    pub fn app_id(mut self, app_id: impl Into<String>) -> Self {
        self.app_id = Some(app_id.into());
        self
    }

    /// A member's access token or an API key, sent as `Authorization: Bearer`.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// How long one request may take before it fails with [`ClientError::Transport`]
    /// (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The client; fails when the server URL or app id is missing or malformed.
    pub fn build(self) -> Result<Client, ClientError> {
        let server_url = self.server_url.ok_or(ClientError::InvalidConfig("server_url is required"))?;
        let mut base =
            Url::parse(&server_url).map_err(|_| ClientError::InvalidConfig("server_url is not a valid URL"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::InvalidConfig("server_url must be http:// or https://"));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let app_id = self.app_id.filter(|id| !id.is_empty()).ok_or(ClientError::InvalidConfig("app_id is required"))?;
        if app_id.contains(['/', '?', '#']) {
            return Err(ClientError::InvalidConfig("app_id must not contain '/', '?' or '#'"));
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let http = reqwest::Client::builder().timeout(timeout).build().map_err(ClientError::Transport)?;
        Ok(Client { http, base: Arc::new(base), app_id: app_id.into(), token: self.token.map(Into::into), timeout })
    }
}

impl Client {
    /// Starts building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// How long one request may take: [`DEFAULT_TIMEOUT`] unless [`ClientBuilder::timeout`]
    /// said otherwise.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The same client acting with `token` instead.
    pub fn with_token(&self, token: &str) -> Self {
        Self { token: Some(token.into()), ..self.clone() }
    }

    /// The `users` module.
    pub fn users(&self) -> Users<'_> {
        Users { client: self }
    }

    /// The `auth` module.
    pub fn auth(&self) -> Auth<'_> {
        Auth { client: self }
    }

    /// `base44.entities`: the built-in `User` entity.
    pub fn entities(&self) -> Entities<'_> {
        Entities { client: self }
    }

    /// Usher's API keys of the app (API key or admin).
    pub fn keys(&self) -> Keys<'_> {
        Keys { client: self }
    }

    /// Usher's settings of the app (API key or admin).
    pub fn settings(&self) -> Settings<'_> {
        Settings { client: self }
    }

    /// Usher's invitation management (API key or admin).
    pub fn invitations(&self) -> Invitations<'_> {
        Invitations { client: self }
    }

    /// Usher's webhook endpoints of the app and their deliveries (API key or admin).
    pub fn webhooks(&self) -> Webhooks<'_> {
        Webhooks { client: self }
    }

    /// The URL of `/api/apps/{app_id}/{path}`.
    fn app_url(&self, path: &str) -> Result<Url, ClientError> {
        self.base
            .join(&format!("api/apps/{}/{path}", self.app_id))
            .map_err(|_| ClientError::InvalidConfig("cannot build a request URL from server_url and app_id"))
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        self.send_query(method, path, &[], body).await
    }

    async fn send_query<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        Ok(self.send_keyed(method, path, query, body, None).await?.value)
    }

    /// Sends a request, with an `Idempotency-Key` if `key` is given, and says whether the
    /// answer was a replay of an earlier one.
    async fn send_keyed<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        key: Option<&str>,
    ) -> Result<Keyed<T>, ClientError> {
        let mut url = self.app_url(path)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut request =
            self.http.request(method, url).header("Accept", "application/json").header("X-App-Id", &*self.app_id);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.map_err(ClientError::Transport)?;
        let status = response.status();
        let replayed = response.headers().get("idempotency-replayed").is_some_and(|v| v == "true");
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response.bytes().await.map_err(ClientError::Transport)?;
        if !status.is_success() {
            return Err(error::api_error(status.as_u16(), retry_after, &bytes));
        }
        Ok(Keyed { value: serde_json::from_slice(&bytes).map_err(ClientError::Decode)?, replayed })
    }
}

/// `base44.users`: inviting people.
#[derive(Debug)]
pub struct Users<'a> {
    client: &'a Client,
}

impl Users<'_> {
    /// Invites `email` into the app with `role`; inviting again re-sends the invitation.
    ///
    /// ```no_run
    /// # async fn run(client: base44::Client) -> Result<(), base44::ClientError> {
    /// use base44::{Invited, Role};
    /// match client.users().invite_user("grace@example.com", Role::Admin).await? {
    ///     Invited::Created { invitation, .. } => println!("invited, id {}", invitation.id),
    ///     Invited::Resent { invitation, .. } => println!("sent again, expires {}", invitation.expires_at),
    ///     Invited::AlreadyMember { .. } => println!("already a member: a sign-in email is on its way"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn invite_user(&self, email: &str, role: Role) -> Result<Invited, ClientError> {
        let body = InviteUserRequest { user_email: email.to_owned(), role, locale: None, idempotency_key: None };
        let answer: InviteUserResponse =
            self.client.send(Method::POST, "runtime/users/invite-user", Some(&body)).await?;
        Invited::try_from(answer)
    }

    /// What [`Users::invite_user`] would do now (`?dry_run=true`), writing and sending
    /// nothing: `Ok` with the outcome (`dry_run` is `true`, `invitation` and `email` are
    /// `None`), or the refusal the real call would get, as the same [`ClientError`].
    ///
    /// ```no_run
    /// # async fn run(client: base44::Client) -> Result<(), base44::ClientError> {
    /// let answer = client.users().invite_user_dry_run("grace@example.com", base44::Role::User).await?;
    /// println!("would be: {:?}", answer.outcome);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn invite_user_dry_run(&self, email: &str, role: Role) -> Result<InviteUserResponse, ClientError> {
        let body = InviteUserRequest { user_email: email.to_owned(), role, locale: None, idempotency_key: None };
        self.client.send_query(Method::POST, "runtime/users/invite-user", &dry_run(), Some(&body)).await
    }
}

/// The query of a dry run.
fn dry_run() -> [(&'static str, String); 1] {
    [("dry_run", "true".to_owned())]
}

/// Usher's invitation management: not part of Base44's SDK, so it works against Usher only.
#[derive(Debug)]
pub struct Invitations<'a> {
    client: &'a Client,
}

impl Invitations<'_> {
    /// Invites up to 1,000 people in one request; one result per row, in order. A row made
    /// with [`InviteUserRequest::with_idempotency_key`] is decided on its own: the same row
    /// with its key within 24 h answers its first result again
    /// ([`BulkInviteResult::replayed`]) without inviting twice.
    ///
    /// ```no_run
    /// # async fn run(client: base44::Client) -> Result<(), base44::ClientError> {
    /// use base44::{InviteUserRequest, Role};
    /// let rows = vec![InviteUserRequest::new("ada@example.com", Role::User)];
    /// let answer = client.invitations().bulk(rows).await?;
    /// println!("{} created", answer.summary.get("created").copied().unwrap_or(0));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn bulk(&self, items: Vec<InviteUserRequest>) -> Result<BulkInviteResponse, ClientError> {
        self.client.send(Method::POST, "invitations/bulk", Some(&BulkInviteRequest { items })).await
    }

    /// What [`Invitations::bulk`] would do now (`?dry_run=true`): the outcome each row would
    /// get, refusals included; nothing is written or sent.
    pub async fn bulk_dry_run(&self, items: Vec<InviteUserRequest>) -> Result<BulkInviteResponse, ClientError> {
        let body = BulkInviteRequest { items };
        self.client.send_query(Method::POST, "invitations/bulk", &dry_run(), Some(&body)).await
    }

    /// One page of the invitations that `filter` selects, oldest first; the page's
    /// `next_cursor` continues with [`InvitationFilter::after`].
    ///
    /// ```no_run
    /// # async fn run(client: base44::Client) -> Result<(), base44::ClientError> {
    /// use base44::{InvitationFilter, InvitationStatus};
    /// let pending = client.invitations().list(&InvitationFilter::new().status(InvitationStatus::Pending).limit(50)).await?;
    /// for invitation in &pending.items {
    ///     println!("{} expires {}", invitation.email, invitation.expires_at);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list(&self, filter: &InvitationFilter) -> Result<Page<Invitation>, ClientError> {
        self.client.send_query::<(), _>(Method::GET, "invitations", &filter.params(), None).await
    }

    /// One invitation, with the delivery state of its latest email.
    pub async fn get(&self, id: &str) -> Result<Invitation, ClientError> {
        self.client.send::<(), _>(Method::GET, &format!("invitations/{}", path_segment(id)?), None).await
    }

    /// Sends the invitation again with a fresh link (same throttle as inviting again).
    pub async fn resend(&self, id: &str) -> Result<Invited, ClientError> {
        let path = format!("invitations/{}/resend", path_segment(id)?);
        let answer: InviteUserResponse = self.client.send::<(), _>(Method::POST, &path, None).await?;
        Invited::try_from(answer)
    }

    /// Revokes a pending invitation.
    pub async fn revoke(&self, id: &str) -> Result<Invitation, ClientError> {
        self.client.send::<(), _>(Method::POST, &format!("invitations/{}/revoke", path_segment(id)?), None).await
    }
}

/// Which invitations [`Invitations::list`] returns: every one by default.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct InvitationFilter {
    status: Option<InvitationStatus>,
    email: Option<String>,
    opened: Option<bool>,
    delivery: Option<DeliveryStatus>,
    limit: Option<u32>,
    cursor: Option<String>,
}

impl InvitationFilter {
    /// Every invitation, in pages of the server's default size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only invitations with this status.
    pub fn status(mut self, status: InvitationStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only invitations of this address.
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Only invitations a person opened (`true`: `opened_by_person_at` is set) or did not
    /// (`false`). With [`InvitationFilter::status`] pending: opened, not accepted.
    pub fn opened(mut self, opened: bool) -> Self {
        self.opened = Some(opened);
        self
    }

    /// Only invitations whose latest email is in this state (`Failed`: given up on).
    pub fn delivery(mut self, delivery: DeliveryStatus) -> Self {
        self.delivery = Some(delivery);
        self
    }

    /// At most this many per page.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The page after the one whose `next_cursor` this is.
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        let mut params = Vec::new();
        params.extend(self.status.map(|s| ("status", s.to_string())));
        params.extend(self.email.clone().map(|e| ("email", e)));
        params.extend(self.opened.map(|o| ("opened", o.to_string())));
        params.extend(self.delivery.map(|d| ("delivery", d.to_string())));
        params.extend(self.limit.map(|l| ("limit", l.to_string())));
        params.extend(self.cursor.clone().map(|c| ("cursor", c)));
        params
    }
}

/// Usher's API keys of an app (API key or admin).
#[derive(Debug)]
pub struct Keys<'a> {
    client: &'a Client,
}

impl Keys<'_> {
    /// Creates a key; the answer is the only time its secret is shown.
    pub async fn create(&self, name: &str) -> Result<ApiKeyInfo, ClientError> {
        self.client.send(Method::POST, "keys", Some(&CreateApiKeyRequest { name: name.to_owned() })).await
    }

    /// The live keys.
    pub async fn list(&self) -> Result<Vec<ApiKeyInfo>, ClientError> {
        Ok(self.client.send::<(), ApiKeyList>(Method::GET, "keys", None).await?.items)
    }

    /// Revokes a key at once (never the app's last one).
    pub async fn revoke(&self, id: &str) -> Result<(), ClientError> {
        let _: ApiKeyRevoked =
            self.client.send::<(), _>(Method::DELETE, &format!("keys/{}", path_segment(id)?), None).await?;
        Ok(())
    }
}

/// Usher's app settings (API key or admin).
#[derive(Debug)]
pub struct Settings<'a> {
    client: &'a Client,
}

impl Settings<'_> {
    /// The app's settings.
    pub async fn get(&self) -> Result<AppSettings, ClientError> {
        self.client.send::<(), _>(Method::GET, "settings", None).await
    }

    /// Changes some settings (all or nothing) and returns them all. `changes` is usually an
    /// [`UpdateAppSettingsRequest`]; any JSON object of settings works too.
    pub async fn update(&self, changes: &impl Serialize) -> Result<AppSettings, ClientError> {
        self.client.send(Method::PATCH, "settings", Some(changes)).await
    }
}

/// `base44.auth`: the signed-in member, and inviting.
#[derive(Debug)]
pub struct Auth<'a> {
    client: &'a Client,
}

impl Auth<'_> {
    /// The same as [`Users::invite_user`], through the `auth` module's route.
    pub async fn invite_user(&self, email: &str, role: Role) -> Result<Invited, ClientError> {
        let body = InviteUserRequest { user_email: email.to_owned(), role, locale: None, idempotency_key: None };
        let answer: InviteUserResponse = self.client.send(Method::POST, "users/invite-user", Some(&body)).await?;
        Invited::try_from(answer)
    }

    /// The member whose access token the client holds.
    ///
    /// ```no_run
    /// # async fn run(client: base44::Client) -> Result<(), base44::ClientError> {
    /// let me = client.with_token("eyJ…").auth().me().await?;
    /// println!("signed in as {} ({})", me.email, me.role);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn me(&self) -> Result<User, ClientError> {
        self.client.send::<(), _>(Method::GET, "entities/User/me", None).await
    }

    /// Changes the signed-in member's name or custom fields (`{"full_name": …, "team": …}`):
    /// an [`UpdateUserRequest`] or any JSON object.
    pub async fn update_me(&self, changes: &impl Serialize) -> Result<User, ClientError> {
        self.client.send(Method::PUT, "entities/User/me", Some(changes)).await
    }

    /// Signs in; use the returned token with [`Client::with_token`].
    ///
    /// ```no_run
    /// # async fn run(client: base44::Client) -> Result<(), base44::ClientError> {
    /// let signed_in = client.auth().login_via_email_password("ada@example.com", "correct horse battery").await?;
    /// let me = client.with_token(&signed_in.access_token).auth().me().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn login_via_email_password(&self, email: &str, password: &str) -> Result<SignedIn, ClientError> {
        let body = LoginRequest { email: email.to_owned(), password: password.to_owned(), turnstile_token: None };
        self.client.send(Method::POST, "auth/login", Some(&body)).await
    }

    /// Starts a sign-up: the app emails a one-time code to `email` (open apps, or an address
    /// with a pending invitation). Registering again replaces the earlier code and password.
    ///
    /// ```no_run
    /// # async fn run(client: base44::Client, code_from_email: &str) -> Result<(), base44::ClientError> {
    /// client.auth().register("ada@example.com", "correct horse battery").await?;
    /// let signed_in = client.auth().verify_otp("ada@example.com", code_from_email).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn register(&self, email: &str, password: &str) -> Result<Message, ClientError> {
        let body = RegisterRequest {
            email: email.to_owned(),
            password: password.to_owned(),
            turnstile_token: None,
            referral_code: None,
        };
        self.client.send(Method::POST, "auth/register", Some(&body)).await
    }

    /// Finishes a sign-up with the emailed code: the member exists and is signed in.
    pub async fn verify_otp(&self, email: &str, otp_code: &str) -> Result<SignedIn, ClientError> {
        let body = VerifyOtpRequest { email: email.to_owned(), otp_code: otp_code.to_owned() };
        self.client.send(Method::POST, "auth/verify-otp", Some(&body)).await
    }

    /// Emails the sign-up code again.
    pub async fn resend_otp(&self, email: &str) -> Result<Message, ClientError> {
        self.client.send(Method::POST, "auth/resend-otp", Some(&EmailRequest { email: email.to_owned() })).await
    }

    /// Emails a password reset link if `email` is a member; answers the same for anyone.
    pub async fn reset_password_request(&self, email: &str) -> Result<Message, ClientError> {
        let body = EmailRequest { email: email.to_owned() };
        self.client.send(Method::POST, "auth/reset-password-request", Some(&body)).await
    }

    /// Sets a new password with the token of a reset link; earlier sessions end.
    pub async fn reset_password(&self, reset_token: &str, new_password: &str) -> Result<Message, ClientError> {
        let body = ResetPasswordRequest { reset_token: reset_token.to_owned(), new_password: new_password.to_owned() };
        self.client.send(Method::POST, "auth/reset-password", Some(&body)).await
    }

    /// Changes the signed-in member's password. Every other session ends; carry on with the
    /// returned token.
    ///
    /// ```no_run
    /// # async fn run(as_ada: base44::Client, ada_id: &str) -> Result<(), base44::ClientError> {
    /// let changed = as_ada.auth().change_password(ada_id, "correct horse battery", "a longer new one").await?;
    /// let as_ada = as_ada.with_token(&changed.access_token);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn change_password(
        &self,
        user_id: &str,
        current_password: &str,
        new_password: &str,
    ) -> Result<PasswordChanged, ClientError> {
        let body = ChangePasswordRequest {
            user_id: user_id.to_owned(),
            current_password: current_password.to_owned(),
            new_password: new_password.to_owned(),
        };
        self.client.send(Method::POST, "auth/change-password", Some(&body)).await
    }

    /// Where to send a browser to sign out and come back to `from_url` (`auth.logout`). Usher
    /// keeps no session cookie: dropping the access token is the sign-out; this page only
    /// returns to an address of the app.
    pub fn logout_url(&self, from_url: &str) -> Result<Url, ClientError> {
        let mut url = self
            .client
            .base
            .join("api/apps/auth/logout")
            .map_err(|_| ClientError::InvalidConfig("cannot build the logout URL from server_url"))?;
        url.query_pairs_mut().append_pair("from_url", from_url);
        Ok(url)
    }

    /// The hosted sign-in page that returns to `from_url` signed in (`auth.redirectToLogin`).
    pub fn login_url(&self, from_url: &str) -> Result<Url, ClientError> {
        let mut url = self
            .client
            .base
            .join(&format!("apps/{}/login", self.client.app_id))
            .map_err(|_| ClientError::InvalidConfig("cannot build the sign-in URL from server_url"))?;
        url.query_pairs_mut().append_pair("from_url", from_url);
        Ok(url)
    }
}

/// `base44.entities`.
#[derive(Debug)]
pub struct Entities<'a> {
    client: &'a Client,
}

impl<'a> Entities<'a> {
    /// The built-in `User` entity.
    pub fn user(&self) -> UserEntity<'a> {
        UserEntity { client: self.client }
    }
}

/// How to list members: an exact-match filter, a sort field (`-field` descending), paging and
/// the fields to return.
#[derive(Debug, Default, Clone)]
pub struct UserQuery {
    /// Field values to match exactly, e.g. `{"role": "admin"}`.
    pub filter: Option<serde_json::Value>,
    /// A field name, or `-field` for descending.
    pub sort: Option<String>,
    /// At most this many.
    pub limit: Option<u32>,
    /// Skip this many first.
    pub skip: Option<u32>,
    /// Only these fields (and `id`).
    pub fields: Option<Vec<String>>,
}

impl UserQuery {
    fn params(&self) -> Vec<(&'static str, String)> {
        let mut params = Vec::new();
        if let Some(filter) = &self.filter {
            params.push(("q", filter.to_string()));
        }
        if let Some(sort) = &self.sort {
            params.push(("sort", sort.clone()));
        }
        if let Some(limit) = self.limit {
            params.push(("limit", limit.to_string()));
        }
        if let Some(skip) = self.skip {
            params.push(("skip", skip.to_string()));
        }
        if let Some(fields) = &self.fields {
            params.push(("fields", fields.join(",")));
        }
        params
    }
}

/// `base44.entities.User`: admins and API keys see every member; a member only themselves.
#[derive(Debug)]
pub struct UserEntity<'a> {
    client: &'a Client,
}

impl UserEntity<'_> {
    /// Members matching `query`.
    ///
    /// ```no_run
    /// # async fn run(client: base44::Client) -> Result<(), base44::ClientError> {
    /// use base44::UserQuery;
    /// let admins = client
    ///     .entities()
    ///     .user()
    ///     .list(&UserQuery { filter: Some(serde_json::json!({ "role": "admin" })), sort: Some("email".into()), ..UserQuery::default() })
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list(&self, query: &UserQuery) -> Result<Vec<UserListItem>, ClientError> {
        self.client.send_query::<(), _>(Method::GET, "entities/User", &query.params(), None).await
    }

    /// How many members match `filter`.
    pub async fn count(&self, filter: Option<&serde_json::Value>) -> Result<u64, ClientError> {
        let params: Vec<(&str, String)> = filter.map(|f| ("q", f.to_string())).into_iter().collect();
        let count: Count = self.client.send_query::<(), _>(Method::GET, "entities/User/count", &params, None).await?;
        Ok(count.count)
    }

    /// One member.
    pub async fn get(&self, id: &str) -> Result<User, ClientError> {
        self.client.send::<(), _>(Method::GET, &format!("entities/User/{}", path_segment(id)?), None).await
    }

    /// Changes a member (admins: name, role, disabled, custom fields): an
    /// [`UpdateUserRequest`] or any JSON object.
    pub async fn update(&self, id: &str, changes: &impl Serialize) -> Result<User, ClientError> {
        self.client.send(Method::PUT, &format!("entities/User/{}", path_segment(id)?), Some(changes)).await
    }

    /// Removes a member (admins and API keys).
    pub async fn delete(&self, id: &str) -> Result<(), ClientError> {
        let _: UserDeleted =
            self.client.send::<(), _>(Method::DELETE, &format!("entities/User/{}", path_segment(id)?), None).await?;
        Ok(())
    }
}

/// An id as one path segment; anything that could change the path is refused.
fn path_segment(id: &str) -> Result<&str, ClientError> {
    if id.is_empty() || id.contains(['/', '?', '#', '%']) {
        return Err(ClientError::InvalidConfig("an id must not be empty or contain '/', '?', '#' or '%'"));
    }
    Ok(id)
}

/// The README's examples, compiled as doc tests so they cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_url_joins_paths_whether_or_not_the_server_url_ends_with_a_slash() {
        for server in ["http://127.0.0.1:8044", "http://127.0.0.1:8044/"] {
            let client = Client::builder().server_url(server).app_id("abc").build().expect("client");

            let url = client.app_url("runtime/users/invite-user").expect("url");

            assert_eq!(url.as_str(), "http://127.0.0.1:8044/api/apps/abc/runtime/users/invite-user");
        }
    }

    #[test]
    fn app_url_keeps_a_path_prefix_of_the_server_url() {
        let client = Client::builder().server_url("https://example.com/usher").app_id("abc").build().expect("client");

        assert_eq!(
            client.app_url("entities/User/me").expect("url").as_str(),
            "https://example.com/usher/api/apps/abc/entities/User/me"
        );
    }

    #[test]
    fn build_refuses_missing_or_malformed_settings() {
        assert!(Client::builder().app_id("abc").build().is_err());
        assert!(Client::builder().server_url("not a url").app_id("abc").build().is_err());
        assert!(Client::builder().server_url("ftp://example.com").app_id("abc").build().is_err());
        assert!(Client::builder().server_url("http://example.com").build().is_err());
        assert!(Client::builder().server_url("http://example.com").app_id("a/b").build().is_err());
    }

    #[test]
    fn requests_time_out_after_30_seconds_unless_the_builder_says_otherwise() {
        let builder = || Client::builder().server_url("http://127.0.0.1:8044").app_id("abc");

        assert_eq!(builder().build().expect("client").timeout(), Duration::from_secs(30));
        assert_eq!(
            builder().timeout(Duration::from_secs(5)).build().expect("client").timeout(),
            Duration::from_secs(5)
        );
        assert_eq!(builder().build().expect("client").with_token("t").timeout(), Duration::from_secs(30));
    }

    #[test]
    fn invitation_filter_sends_only_what_was_set() {
        let filter = InvitationFilter::new().status(InvitationStatus::Pending).limit(10);

        assert_eq!(filter.params(), vec![("status", "pending".to_owned()), ("limit", "10".to_owned())]);
        assert!(InvitationFilter::new().params().is_empty());
    }

    #[test]
    fn role_parses_only_the_exact_names() {
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert!("Admin".parse::<Role>().is_err());
        assert_eq!(Role::User.to_string(), "user");
    }
}
