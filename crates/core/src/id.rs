//! Identifiers: 24 lowercase hex characters (96 random bits), the shape Base44 uses.

use std::fmt;

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

fn is_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new random id.
            pub fn generate() -> Self {
                Self(hex::encode(random_bytes::<12>()))
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
    fn parse_rejects_other_shapes() {
        for bad in ["", "abc", "ABCDEFABCDEFABCDEFABCDEF", "0123456789abcdef0123456g", "0123456789abcdef012345678"] {
            assert_eq!(AppId::parse(bad), Err(InvalidId), "{bad:?}");
        }
    }
}
