//! Bearer secrets: invitation tokens and API keys.
//!
//! Both are 256 random bits behind a recognisable prefix. Only their SHA-256 is stored and
//! looked up; because the lookup key is a hash of a high-entropy secret, an index lookup leaks
//! nothing useful through timing, and a stolen database holds no usable secret.
//!
//! An invitation token also carries a selector between its prefix and its random bits: an id
//! made at the same moment, which sorts in creation order. The stored key is that selector
//! followed by the SHA-256 of the whole token, so each new key lands at the end of the token
//! index. Keyed by the hash alone, every invite wrote a different page of that index, spread
//! over the whole database file: with a million invitations stored that cost a sixth of the
//! invite throughput. The selector is a name, not a secret; the 256 random bits still are.

use std::fmt;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::id::{ID_HEX, object_id, random_bytes};

/// What the database keeps of a secret: its selector, if it has one, then the hex SHA-256 of
/// its full text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// The hash of `secret`.
    fn of(secret: &str) -> Self {
        Self(hex::encode(Sha256::digest(secret.as_bytes())))
    }

    /// The key of `secret`, which has the shape [`has_shape`] accepts for `prefix`.
    fn keyed(prefix: &str, secret: &str) -> Self {
        let selector = &secret[prefix.len()..secret.len() - RANDOM_HEX];
        Self(format!("{selector}{}", Self::of(secret).0))
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

/// The length of a secret's random part: 256 bits in hex.
const RANDOM_HEX: usize = 64;

/// The length of an invitation token's selector: an id.
const SELECTOR_HEX: usize = ID_HEX;

fn generate(prefix: &str, selector: bool) -> SecretString {
    let selector = if selector { object_id() } else { String::new() };
    format!("{prefix}{selector}{}", hex::encode(random_bytes::<32>())).into()
}

/// True when `s` is `prefix` followed by lowercase hex: the random part, after a selector when
/// `selector` is set. Tokens made before selectors existed (no selector) are still accepted.
fn has_shape(prefix: &str, selector: bool, s: &str) -> bool {
    let lengths: &[usize] = if selector { &[SELECTOR_HEX + RANDOM_HEX, RANDOM_HEX] } else { &[RANDOM_HEX] };
    s.strip_prefix(prefix).is_some_and(|rest| {
        lengths.contains(&rest.len()) && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, selector: $selector:literal) => {
        $(#[$doc])*
        pub struct $name(SecretString);

        impl $name {
            /// The fixed prefix that makes the secret recognisable (and greppable in leaks).
            pub const PREFIX: &'static str = $prefix;

            /// A new random secret.
            pub fn generate() -> Self {
                Self(generate(Self::PREFIX, $selector))
            }

            /// Accepts text of the right shape; anything else is refused before any lookup.
            pub fn parse(s: &str) -> Option<Self> {
                has_shape(Self::PREFIX, $selector, s).then(|| Self(s.to_owned().into()))
            }

            /// The key the database stores and is searched by.
            pub fn hash(&self) -> TokenHash {
                TokenHash::keyed(Self::PREFIX, self.0.expose_secret())
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
    "inv_",
    selector: true
);
secret_type!(
    /// The secret of a password reset link: single use, short-lived, stored only as a hash.
    ResetToken,
    "rst_",
    selector: false
);
secret_type!(
    /// The secret of a one-time console sign-in link (`usher console link`): single use,
    /// minutes long, stored only as a hash.
    ConsoleLinkToken,
    "ucl_",
    selector: false
);
secret_type!(
    /// The id of a console session signed in with a password: what the session cookie names
    /// (sealed), stored only as a hash, so a copy of the database holds no usable session.
    ConsoleSessionToken,
    "ucs_",
    selector: false
);
secret_type!(
    /// A service-role credential for servers and the CLI: acts with admin power in one app.
    ApiKey,
    "usk_",
    selector: false
);

/// The server's key for sign-up codes. A code has only 10⁶ values, so a plain hash of it is
/// no secret to whoever copies the database: they would try them all. Codes are therefore
/// stored as an HMAC under this key, which is derived from the access-token signing secret
/// and so shares its home: `USHER_JWT_SECRET` (then a database copy alone reveals no code),
/// or the database itself when Usher generated the secret (then whoever holds a copy can
/// already mint access tokens, which is worse).
#[derive(Clone)]
pub struct CodeKey([u8; 32]);

impl CodeKey {
    /// The code key belonging to the server secret `secret`.
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(b"usher sign-up codes v1");
        Self(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeKey(..)")
    }
}

/// A six-digit code emailed to confirm an address at sign-up. Stored only as an HMAC under the
/// server's [`CodeKey`], bound to the app and address; guessing is bounded by a small number
/// of attempts.
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

    /// What the database keeps: HMAC-SHA256 under `key` of the app, the address and the code.
    pub fn hash(&self, key: &CodeKey, app_id: &crate::id::AppId, email: &crate::email::EmailAddress) -> TokenHash {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.0).expect("HMAC takes keys of any length");
        mac.update(format!("{app_id}:{email}:{}", self.0.expose_secret()).as_bytes());
        TokenHash(hex::encode(mac.finalize().into_bytes()))
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
        assert_eq!(ApiKey::generate().hash().as_str().len(), 64);
    }

    #[test]
    fn invitation_token_keys_sort_in_the_order_the_tokens_were_made() {
        let tokens: Vec<_> = (0..100).map(|_| InvitationToken::generate()).collect();

        let keys: Vec<_> = tokens.iter().map(|token| token.hash().as_str().to_owned()).collect();

        assert!(keys.is_sorted(), "{keys:?}");
        let selector = &tokens[0].expose()[4..4 + SELECTOR_HEX];
        assert_eq!(keys[0], format!("{selector}{}", TokenHash::of(tokens[0].expose()).as_str()));
    }

    #[test]
    fn invitation_tokens_made_before_selectors_still_parse_and_keep_their_hash() {
        let old = format!("inv_{}", "ab".repeat(32));

        let token = InvitationToken::parse(&old).expect("the shape before selectors");

        assert_eq!(token.hash(), TokenHash::of(&old));
    }

    #[test]
    fn parse_refuses_wrong_prefix_length_or_alphabet() {
        let key = ApiKey::generate();
        assert!(InvitationToken::parse(key.expose()).is_none());
        assert!(ApiKey::parse(&key.expose()[..60]).is_none());
        assert!(ApiKey::parse(InvitationToken::generate().expose().replacen("inv_", "usk_", 1).as_str()).is_none());
        assert!(ApiKey::parse(&key.expose().to_uppercase()).is_none());
    }

    #[test]
    fn one_time_codes_are_six_digits_and_hash_per_app_and_address() {
        let code = OneTimeCode::generate();
        let app = crate::id::AppId::generate();
        let email = crate::email::EmailAddress::parse("ada@example.com").expect("valid");
        let other = crate::email::EmailAddress::parse("bob@example.com").expect("valid");
        let key = CodeKey::derive(b"a server secret of thirty-two chars");

        assert!(OneTimeCode::parse(code.expose()).is_some());
        assert_ne!(code.hash(&key, &app, &email), code.hash(&key, &app, &other));
        assert!(OneTimeCode::parse("12345").is_none() && OneTimeCode::parse("12a456").is_none());
    }

    #[test]
    fn one_time_code_hashes_need_the_server_key() {
        let code = OneTimeCode::parse("123456").expect("six digits");
        let app = crate::id::AppId::generate();
        let email = crate::email::EmailAddress::parse("ada@example.com").expect("valid");
        let key = CodeKey::derive(b"a server secret of thirty-two chars");

        let stored = code.hash(&key, &app, &email);

        assert_ne!(stored, TokenHash::of(&format!("{app}:{email}:123456")), "not a plain SHA-256");
        assert_ne!(stored, code.hash(&CodeKey::derive(b"another secret"), &app, &email));
        assert_eq!(stored, OneTimeCode::parse("123456").expect("same").hash(&key, &app, &email));
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let token = InvitationToken::generate();

        let printed = format!("{token:?} {:?}", token.hash());

        assert!(!printed.contains(&token.expose()[4..]));
    }
}
