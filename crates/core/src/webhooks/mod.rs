//! Webhooks: the events an app can subscribe to, their payloads, the endpoints' signing
//! secrets and the Standard Webhooks signature (<https://www.standardwebhooks.com/>), and which
//! destinations a webhook may reach.
//!
//! An event is written in the transaction of the change it announces, as one delivery row per
//! endpoint that subscribed to its type, and delivered later by the webhook worker (usher-mail)
//! with retries: a 200 from the API means the event will be delivered. A payload names ids,
//! addresses, roles and the app; never a token, password, code or key.
//!
//! An app's endpoints are managed through [`WebhookService`] (in `service`).

mod service;

pub use service::{WebhookError, WebhookService};

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::clock::Timestamp;
use crate::id::{AppId, EventId, MessageId, WebhookId, random_bytes};
use crate::model::{Invitation, User};

/// What happened: the `type` of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// An invitation was created (and its email queued).
    InvitationCreated,
    /// A pending invitation was sent again with a fresh link.
    InvitationResent,
    /// An invitation was used to join.
    InvitationAccepted,
    /// A pending invitation was revoked.
    InvitationRevoked,
    /// A pending invitation passed its expiry (emitted once).
    InvitationExpired,
    /// An invitation email was accepted by the mail transport.
    EmailSent,
    /// An invitation email failed for good.
    EmailFailed,
    /// Someone became a member (by accepting an invitation).
    MemberJoined,
    /// A member was removed.
    MemberRemoved,
}

impl EventType {
    /// Every event type, in the order the docs list them.
    pub const ALL: [EventType; 9] = [
        Self::InvitationCreated,
        Self::InvitationResent,
        Self::InvitationAccepted,
        Self::InvitationRevoked,
        Self::InvitationExpired,
        Self::EmailSent,
        Self::EmailFailed,
        Self::MemberJoined,
        Self::MemberRemoved,
    ];

    /// The wire and stored name, e.g. `invitation.created`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvitationCreated => "invitation.created",
            Self::InvitationResent => "invitation.resent",
            Self::InvitationAccepted => "invitation.accepted",
            Self::InvitationRevoked => "invitation.revoked",
            Self::InvitationExpired => "invitation.expired",
            Self::EmailSent => "email.sent",
            Self::EmailFailed => "email.failed",
            Self::MemberJoined => "member.joined",
            Self::MemberRemoved => "member.removed",
        }
    }

    /// Reads a name back; `None` for anything that is not exactly one of [`EventType::ALL`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s)
    }

    /// The text a backend matches against an endpoint's stored list (`,a,b,`): the name between
    /// commas, so `email.sent` never matches a longer name that contains it.
    pub fn list_needle(self) -> String {
        format!(",{},", self.as_str())
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An endpoint's event types as stored: `,a,b,` (sorted, no duplicates), so a backend finds
/// the subscribers of one type with a substring test on [`EventType::list_needle`].
pub fn store_event_list(events: &[EventType]) -> String {
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    let names: Vec<&str> = events.iter().map(|kind| kind.as_str()).collect();
    format!(",{},", names.join(","))
}

/// Reads a stored list back (unknown names, from a newer build, are skipped).
pub fn parse_event_list(stored: &str) -> Vec<EventType> {
    stored.split(',').filter_map(EventType::parse).collect()
}

/// One event, as written beside the change it announces.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Its id (the `webhook-id` of its deliveries, with the endpoint's id).
    pub id: EventId,
    /// The app it happened in.
    pub app_id: AppId,
    /// What happened.
    pub kind: EventType,
    /// When.
    pub at: Timestamp,
    /// The `data` object: ids, address, role, app — never a secret.
    pub data: Value,
}

impl Event {
    /// An invitation event (`invitation.*`) about `invitation` as it now is.
    pub fn invitation(kind: EventType, invitation: &Invitation, at: Timestamp) -> Self {
        Self {
            id: EventId::generate(),
            app_id: invitation.app_id.clone(),
            kind,
            at,
            data: json!({
                "app_id": invitation.app_id.as_str(),
                "invitation_id": invitation.id.as_str(),
                "email": invitation.email.as_str(),
                "role": invitation.role.as_str(),
                "status": invitation.status_at(at).as_str(),
                "expires_at": invitation.expires_at.to_rfc3339(),
            }),
        }
    }

    /// A member event (`member.*`) about `user`.
    pub fn member(kind: EventType, user: &User, at: Timestamp) -> Self {
        Self {
            id: EventId::generate(),
            app_id: user.app_id.clone(),
            kind,
            at,
            data: json!({
                "app_id": user.app_id.as_str(),
                "user_id": user.id.as_str(),
                "email": user.email.as_str(),
                "role": user.role.as_str(),
            }),
        }
    }

    /// An email event (`email.sent`, `email.failed`) about one outbox message. `error` is the
    /// transport's last error, for `email.failed`.
    pub fn email(kind: EventType, email: &EmailFacts, at: Timestamp) -> Self {
        let mut data = json!({
            "app_id": email.app_id.as_str(),
            "message_id": email.message_id.as_str(),
            "email": email.recipient,
            "kind": email.mail_kind,
        });
        if let (Some(invitation), Value::Object(map)) = (&email.invitation_id, &mut data) {
            map.insert("invitation_id".to_owned(), Value::String(invitation.clone()));
        }
        if let (Some(error), Value::Object(map)) = (&email.error, &mut data) {
            map.insert("error".to_owned(), Value::String(error.clone()));
        }
        Self { id: EventId::generate(), app_id: email.app_id.clone(), kind, at, data }
    }

    /// The body posted to endpoints: `{"type", "timestamp", "data"}`.
    pub fn payload(&self) -> String {
        json!({
            "type": self.kind.as_str(),
            "timestamp": self.at.to_rfc3339(),
            "data": self.data,
        })
        .to_string()
    }
}

/// What an email event says about its message, as a backend reads it from the outbox row.
#[derive(Clone, Debug)]
pub struct EmailFacts {
    /// The app.
    pub app_id: AppId,
    /// The outbox message.
    pub message_id: MessageId,
    /// The recipient's address.
    pub recipient: String,
    /// The mail kind (`invitation`, `reset`, …).
    pub mail_kind: String,
    /// The invitation the email belongs to, if any.
    pub invitation_id: Option<String>,
    /// The last error, for a failure.
    pub error: Option<String>,
}

/// An endpoint's signing secret: `whsec_` and base64 of 32 random bytes, as the Standard
/// Webhooks libraries expect. Shown once when made; kept in clear in the store, because
/// signing needs it.
pub struct WebhookSecret(SecretString);

impl WebhookSecret {
    /// The prefix the Standard Webhooks libraries strip.
    pub const PREFIX: &'static str = "whsec_";

    /// A new random secret.
    pub fn generate() -> Self {
        Self(format!("{}{}", Self::PREFIX, BASE64.encode(random_bytes::<32>())).into())
    }

    /// A stored secret, read back.
    pub fn from_stored(s: String) -> Self {
        Self(s.into())
    }

    /// The text, for the store and for the one answer that shows it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The key bytes: the base64 after the prefix.
    fn key(&self) -> Vec<u8> {
        let text = self.expose();
        BASE64.decode(text.strip_prefix(Self::PREFIX).unwrap_or(text)).unwrap_or_else(|_| text.as_bytes().to_vec())
    }

    /// The `webhook-signature` header value: `v1,` and base64 of HMAC-SHA256 over
    /// `{id}.{timestamp}.{body}`.
    pub fn sign(&self, webhook_id: &str, timestamp_secs: i64, body: &str) -> String {
        #[expect(clippy::expect_used, reason = "HMAC takes a key of any length")]
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key()).expect("HMAC accepts any key length");
        mac.update(format!("{webhook_id}.{timestamp_secs}.{body}").as_bytes());
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

impl Clone for WebhookSecret {
    fn clone(&self) -> Self {
        Self(self.expose().to_owned().into())
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// Why a webhook URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookUrlError {
    /// Not a URL at all, or longer than [`MAX_URL_LEN`].
    #[error("the webhook URL is not a valid absolute URL of at most 2048 characters")]
    Invalid,
    /// Not `http` or `https`.
    #[error("a webhook URL must start with http:// or https://")]
    Scheme,
    /// User name or password in the URL.
    #[error("a webhook URL must not carry a user name or password")]
    Credentials,
    /// A literal address that is loopback, private, link-local or a metadata service.
    #[error(
        "the webhook URL names a private, loopback, link-local or metadata address (reachable only when the server runs with USHER_WEBHOOK_ALLOW_PRIVATE=true, for development)"
    )]
    PrivateAddress,
}

/// The longest webhook URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Parses a webhook URL: absolute, `http`/`https`, no credentials; a literal address must be
/// public unless `allow_private`. A host name is checked again on every delivery, on the
/// address actually connected to (DNS may answer differently later).
pub fn parse_webhook_url(s: &str, allow_private: bool) -> Result<url::Url, WebhookUrlError> {
    if s.len() > MAX_URL_LEN {
        return Err(WebhookUrlError::Invalid);
    }
    let url = url::Url::parse(s).map_err(|_| WebhookUrlError::Invalid)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(WebhookUrlError::Scheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(WebhookUrlError::Credentials);
    }
    match url.host() {
        None => Err(WebhookUrlError::Invalid),
        Some(url::Host::Ipv4(ip)) if !allow_private && is_forbidden_address(IpAddr::V4(ip)) => {
            Err(WebhookUrlError::PrivateAddress)
        }
        Some(url::Host::Ipv6(ip)) if !allow_private && is_forbidden_address(IpAddr::V6(ip)) => {
            Err(WebhookUrlError::PrivateAddress)
        }
        Some(_) => Ok(url),
    }
}

/// True for addresses a webhook must not reach: unspecified, loopback, private (RFC 1918,
/// unique local), shared (CGNAT), link-local (which holds the cloud metadata services,
/// 169.254.169.254 and fd00:ec2::254 aside), multicast, broadcast, documentation and reserved
/// ranges, and IPv4 mapped or embedded in IPv6 that would be any of those.
pub fn is_forbidden_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden_address(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (segments[0] & 0xfe00) == 0xfc00 // unique local (fd00:ec2::254 is in here)
                || (segments[0] & 0xffc0) == 0xfe80 // link-local
                || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || segments[0] == 0x2001 && segments[1] == 0x0db8 // documentation
                || segments[0] == 0x0064 && segments[1] == 0xff9b // NAT64: embeds an IPv4 address
                || segments[0] == 0x2002 // 6to4: embeds an IPv4 address
                || segments[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible (deprecated)
        }
    }
}

/// An app's webhook endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Webhook {
    /// Its id.
    pub id: WebhookId,
    /// The app.
    pub app_id: AppId,
    /// Where events are posted.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<EventType>,
    /// When it was added.
    pub created_at: Timestamp,
}

/// A new endpoint to store, with its secret.
#[derive(Debug)]
pub struct NewWebhook {
    /// Its id.
    pub id: WebhookId,
    /// The app.
    pub app_id: AppId,
    /// Where events are posted (checked by [`parse_webhook_url`]).
    pub url: String,
    /// The event types it receives (at least one).
    pub events: Vec<EventType>,
    /// Its signing secret.
    pub secret: WebhookSecret,
    /// Now.
    pub now: Timestamp,
}

/// Where one delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or a retry.
    Pending,
    /// Being posted by a worker.
    Sending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up after the last attempt.
    Failed,
}

impl DeliveryStatus {
    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// Reads a stored name back (anything unknown reads as pending).
    pub fn parse(s: &str) -> Self {
        match s {
            "sending" => Self::Sending,
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// One event's delivery to one endpoint, as the deliveries list shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookDelivery {
    /// Its id: the `webhook-id` header, the same on every attempt.
    pub id: String,
    /// The endpoint.
    pub webhook_id: WebhookId,
    /// The event type.
    pub event_type: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// The HTTP status of the last answer, if one came.
    pub last_status_code: Option<u16>,
    /// What went wrong last, if anything.
    pub last_error: Option<String>,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<Timestamp>,
    /// When the event happened.
    pub created_at: Timestamp,
}

/// A delivery claimed by a worker, with what it needs to post it.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    /// Its id (the `webhook-id`).
    pub id: String,
    /// The endpoint's URL.
    pub url: String,
    /// The endpoint's current secret.
    pub secret: WebhookSecret,
    /// The body to post.
    pub payload: String,
    /// When the event happened (the body's own `timestamp`).
    pub created_at: Timestamp,
    /// Attempts made, this one included.
    pub attempts: u32,
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        // The example of the Standard Webhooks specification and its reference libraries.
        let secret = WebhookSecret::from_stored("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_fresh_and_prefixed() {
        let (a, b) = (WebhookSecret::generate(), WebhookSecret::generate());
        assert!(a.expose().starts_with("whsec_"));
        assert_ne!(a.expose(), b.expose());
        assert_eq!(format!("{a:?}"), "WebhookSecret(..)");
    }

    #[test]
    fn event_names_round_trip_and_lists_match_whole_names() {
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventType::parse("Invitation.Created"), None);
        let stored = store_event_list(&[EventType::EmailSent, EventType::InvitationCreated, EventType::EmailSent]);
        assert_eq!(stored, ",invitation.created,email.sent,");
        assert!(stored.contains(&EventType::EmailSent.list_needle()));
        assert!(!stored.contains(&EventType::EmailFailed.list_needle()));
        assert_eq!(parse_event_list(&stored), vec![EventType::InvitationCreated, EventType::EmailSent]);
    }

    #[test]
    fn urls_are_http_without_credentials_or_private_literals() {
        assert!(parse_webhook_url("https://hooks.example.com/usher", false).is_ok());
        assert_eq!(parse_webhook_url("ftp://example.com/", false), Err(WebhookUrlError::Scheme));
        assert_eq!(parse_webhook_url("file:///etc/passwd", false), Err(WebhookUrlError::Scheme));
        assert_eq!(parse_webhook_url("https://u:p@example.com/", false), Err(WebhookUrlError::Credentials));
        assert_eq!(parse_webhook_url("not a url", false), Err(WebhookUrlError::Invalid));
        for private in [
            "http://127.0.0.1:8080/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fd00:ec2::254]/",
            "http://0.0.0.0/",
        ] {
            assert_eq!(parse_webhook_url(private, false), Err(WebhookUrlError::PrivateAddress), "{private}");
            assert!(parse_webhook_url(private, true).is_ok(), "{private}");
        }
    }

    #[test]
    fn forbidden_addresses() {
        let forbidden = [
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)),
            IpAddr::V4(Ipv4Addr::new(172, 16, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
            IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6("fe80::1".parse().expect("address")),
            IpAddr::V6("64:ff9b::a00:1".parse().expect("address")),
        ];
        for ip in forbidden {
            assert!(is_forbidden_address(ip), "{ip}");
        }
        for ip in ["93.184.215.14", "2606:4700::1111", "8.8.8.8"] {
            assert!(!is_forbidden_address(ip.parse().expect("address")), "{ip}");
        }
    }

    #[test]
    fn payloads_carry_no_secret() {
        let facts = EmailFacts {
            app_id: AppId::generate(),
            message_id: MessageId::generate(),
            recipient: "ada@example.com".to_owned(),
            mail_kind: "invitation".to_owned(),
            invitation_id: None,
            error: Some("550 no such user".to_owned()),
        };
        let event = Event::email(EventType::EmailFailed, &facts, Timestamp::from_millis(1_700_000_000_000));
        let payload: Value = serde_json::from_str(&event.payload()).expect("JSON");
        assert_eq!(payload["type"], "email.failed");
        assert_eq!(payload["data"]["email"], "ada@example.com");
        assert_eq!(payload["data"]["error"], "550 no such user");
        assert!(payload["timestamp"].as_str().is_some_and(|t| t.starts_with("2023-11-14T")));
    }
}
