//! Identifiers: 24 lowercase hex characters, the shape Base44 uses (a MongoDB ObjectId).

use std::fmt;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The text was not 24 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an id is 24 lowercase hexadecimal characters")]
pub struct InvalidId;

/// Fills `N` bytes from the operating system's random source.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source is available");
    bytes
}

/// This process's part of every id it makes, and the counter that orders its ids within a second.
/// The length of an id: 12 bytes in hex.
pub(crate) const ID_HEX: usize = 24;

static PROCESS: LazyLock<[u8; 5]> = LazyLock::new(random_bytes::<5>);
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A new id laid out as an ObjectId: seconds since 1970, 5 bytes chosen once per process and a
/// 3-byte counter. Ids made later sort later (within a process; across processes by the
/// second; the counter wraps after 16.7 million ids), so new rows land at the end of their
/// primary-key indexes instead of on random pages, which keeps the pages a commit writes few.
/// Ids are names, never secrets.
pub(crate) fn object_id() -> String {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs()) as u32;
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&seconds.to_be_bytes());
    bytes[4..9].copy_from_slice(&*PROCESS);
    bytes[9..].copy_from_slice(&count.to_be_bytes()[1..]);
    hex::encode(bytes)
}

fn is_id(s: &str) -> bool {
    s.len() == ID_HEX && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new id, later in sort order than the ones this process made before.
            pub fn generate() -> Self {
                Self(object_id())
            }

            /// Accepts exactly 24 lowercase hex characters.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                if is_id(s) { Ok(Self(s.to_owned())) } else { Err(InvalidId) }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

id_type!(
    /// Identifies an app.
    AppId
);
id_type!(
    /// Identifies a member of one app.
    UserId
);
id_type!(
    /// Identifies an invitation.
    InvitationId
);
id_type!(
    /// Identifies an API key (not the secret itself).
    ApiKeyId
);
id_type!(
    /// Identifies an outbox message; also the local part of its `Message-ID` header.
    MessageId
);
id_type!(
    /// Identifies one running server process: the owner of the emails it has claimed.
    InstanceId
);
id_type!(
    /// Identifies a webhook endpoint of an app.
    WebhookId
);
id_type!(
    /// Identifies one event; with its endpoint, the `webhook-id` of its delivery.
    EventId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_24_lowercase_hex() {
        let id = AppId::generate();

        assert!(AppId::parse(id.as_str()).is_ok());
        assert_ne!(id, AppId::generate());
    }

    #[test]
    fn generated_ids_sort_in_the_order_they_were_made() {
        let ids: Vec<InvitationId> = (0..1000).map(|_| InvitationId::generate()).collect();

        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn parse_rejects_other_shapes() {
        for bad in ["", "abc", "ABCDEFABCDEFABCDEFABCDEF", "0123456789abcdef0123456g", "0123456789abcdef012345678"] {
            assert_eq!(AppId::parse(bad), Err(InvalidId), "{bad:?}");
        }
    }
}
