//! Bearer secrets: invitation tokens and API keys.
//!
//! Both are 256 random bits behind a recognisable prefix. Only their SHA-256 is stored and
//! looked up; because the lookup key is a hash of a high-entropy secret, an index lookup leaks
//! nothing useful through timing, and a stolen database holds no usable secret.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::id::random_bytes;

/// What the database keeps of a secret: the hex SHA-256 of its full text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// The hash of `secret`.
    fn of(secret: &str) -> Self {
        Self(hex::encode(Sha256::digest(secret.as_bytes())))
    }

    /// Rebuilds a hash read back from storage.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

fn generate(prefix: &str) -> SecretString {
    format!("{prefix}{}", hex::encode(random_bytes::<32>())).into()
}

/// True when `s` is `prefix` followed by exactly 64 lowercase hex characters.
fn has_shape(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 64 && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        pub struct $name(SecretString);

        impl $name {
            /// The fixed prefix that makes the secret recognisable (and greppable in leaks).
            pub const PREFIX: &'static str = $prefix;

            /// A new random secret.
            pub fn generate() -> Self {
                Self(generate(Self::PREFIX))
            }

            /// Accepts text of the right shape; anything else is refused before any lookup.
            pub fn parse(s: &str) -> Option<Self> {
                has_shape(Self::PREFIX, s).then(|| Self(s.to_owned().into()))
            }

            /// The SHA-256 the database stores and is searched by.
            pub fn hash(&self) -> TokenHash {
                TokenHash::of(self.0.expose_secret())
            }

            /// The plaintext, for the one place it is sent.
            pub fn expose(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl Clone for $name {
            fn clone(&self) -> Self {
                Self(self.0.expose_secret().to_owned().into())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }
    };
}

secret_type!(
    /// The secret half of an invitation link. Sent once in the email, never stored in clear
    /// beyond the outbox row that carries it until delivery.
    InvitationToken,
    "inv_"
);
secret_type!(
    /// The secret of a password reset link: single use, short-lived, stored only as a hash.
    ResetToken,
    "rst_"
);
secret_type!(
    /// A service-role credential for servers and the CLI: acts with admin power in one app.
    ApiKey,
    "usk_"
);

/// A six-digit code emailed to confirm an address at sign-up. Stored only as a hash salted
/// with the app and address; guessing is bounded by a small number of attempts.
pub struct OneTimeCode(SecretString);

impl OneTimeCode {
    /// A uniformly random code from 000000 to 999999.
    pub fn generate() -> Self {
        // Rejection sampling keeps every code equally likely.
        loop {
            let n = u32::from_le_bytes(random_bytes::<4>());
            if n < 4_294_000_000 {
                return Self(format!("{:06}", n % 1_000_000).into());
            }
        }
    }

    /// Accepts six digits, ignoring surrounding whitespace.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        (s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit())).then(|| Self(s.to_owned().into()))
    }

    /// What the database keeps: SHA-256 of the app, the address and the code.
    pub fn hash(&self, app_id: &crate::id::AppId, email: &crate::email::EmailAddress) -> TokenHash {
        TokenHash::of(&format!("{app_id}:{email}:{}", self.0.expose_secret()))
    }

    /// The code, for the one email that carries it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl Clone for OneTimeCode {
    fn clone(&self) -> Self {
        Self(self.0.expose_secret().to_owned().into())
    }
}

impl fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimeCode(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_parse_back_and_hash_stably() {
        let token = InvitationToken::generate();

        let parsed = InvitationToken::parse(token.expose()).expect("own shape");

        assert_eq!(parsed.hash(), token.hash());
        assert_eq!(token.hash().as_str().len(), 64);
    }

    #[test]
    fn parse_refuses_wrong_prefix_length_or_alphabet() {
        let key = ApiKey::generate();
        assert!(InvitationToken::parse(key.expose()).is_none());
        assert!(ApiKey::parse(&key.expose()[..60]).is_none());
        assert!(ApiKey::parse(&key.expose().to_uppercase()).is_none());
    }

    #[test]
    fn one_time_codes_are_six_digits_and_hash_per_app_and_address() {
        let code = OneTimeCode::generate();
        let app = crate::id::AppId::generate();
        let email = crate::email::EmailAddress::parse("ada@example.com").expect("valid");
        let other = crate::email::EmailAddress::parse("bob@example.com").expect("valid");

        assert!(OneTimeCode::parse(code.expose()).is_some());
        assert_ne!(code.hash(&app, &email), code.hash(&app, &other));
        assert!(OneTimeCode::parse("12345").is_none() && OneTimeCode::parse("12a456").is_none());
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let token = InvitationToken::generate();

        let printed = format!("{token:?} {:?}", token.hash());

        assert!(!printed.contains(&token.expose()[4..]));
    }
}
