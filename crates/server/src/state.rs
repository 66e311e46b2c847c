//! What every handler can reach: the services, built once by [`crate::App::build`].

use std::sync::Arc;

use url::Url;
use usher_core::access::Authenticator;
use usher_core::api_keys::ApiKeyService;
use usher_core::apps::AppService;
use usher_core::console_link::ConsoleLinks;
use usher_core::console_session::{ConsoleSessions, SessionSeal};
use usher_core::invite::InviteService;
use usher_core::join::JoinService;
use usher_core::members::MemberService;
use usher_core::reset::ResetService;
use usher_core::sign_in::SignInService;
use usher_core::signup::SignupService;
use usher_core::webhooks::WebhookService;
use usher_core::{Clock, Store};
use usher_mail::WorkerStatus;

use crate::pages::Pages;

/// Shared state of the router; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The data store.
    pub store: Arc<dyn Store>,
    /// The service clock.
    pub clock: Arc<dyn Clock>,
    /// Resolves bearer credentials.
    pub auth: Arc<Authenticator>,
    /// Finds apps and changes their settings.
    pub apps: Arc<AppService>,
    /// Manages API keys and reads the audit log.
    pub keys: Arc<ApiKeyService>,
    /// Uses one-time console sign-in links.
    pub console_links: Arc<ConsoleLinks>,
    /// Seals console session cookies and ends idle ones.
    pub console_seal: Arc<SessionSeal>,
    /// The stored console sessions of admins who signed in with a password.
    pub console_sessions: Arc<ConsoleSessions>,
    /// Applies the rules of inviting.
    pub invites: Arc<InviteService>,
    /// Shows and accepts join links.
    pub joins: Arc<JoinService>,
    /// Reads and manages members.
    pub members: Arc<MemberService>,
    /// Sends and uses password reset links.
    pub resets: Arc<ResetService>,
    /// Runs sign-ups with one-time codes.
    pub signups: Arc<SignupService>,
    /// Signs members in.
    pub sign_in: Arc<SignInService>,
    /// The HTML pages.
    pub pages: Arc<Pages>,
    /// Base of links and of the origin forms must come from.
    pub public_url: Url,
    /// Whether the delivery worker runs, for `/readyz`.
    pub delivery: WorkerStatus,
    /// Manages webhook endpoints and their deliveries.
    pub webhooks: Arc<WebhookService>,
    /// Renders email, for template previews (delivery has its own).
    pub mail: Arc<usher_mail::Renderer>,
}
