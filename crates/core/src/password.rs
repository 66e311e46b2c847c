//! Passwords: the rules a new password must meet, and argon2id hashing.
//!
//! Hashing is deliberately slow and memory-hungry; callers run it on a blocking thread.

use std::fmt;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHash as PhcHash};
use secrecy::{ExposeSecret, SecretString};

use crate::id::random_bytes;

/// Shortest password accepted.
pub const MIN_LEN: usize = 8;
/// Longest password accepted; bounds the work one request can ask of the hasher.
pub const MAX_LEN: usize = 256;

/// A password that meets the rules; its text is never printed.
pub struct Password(SecretString);

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    /// Fewer than [`MIN_LEN`] characters.
    #[error("password must be at least {MIN_LEN} characters")]
    TooShort,
    /// More than [`MAX_LEN`] characters.
    #[error("password must be at most {MAX_LEN} characters")]
    TooLong,
}

impl Password {
    /// Checks a new password against the length rules.
    pub fn new(text: String) -> Result<Self, WeakPassword> {
        let chars = text.chars().count();
        if chars < MIN_LEN {
            Err(WeakPassword::TooShort)
        } else if chars > MAX_LEN {
            Err(WeakPassword::TooLong)
        } else {
            Ok(Self(text.into()))
        }
    }

    /// Hashes with argon2id (the crate's default parameters) and a fresh random salt.
    pub fn hash(&self) -> PasswordHash {
        let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes is a valid salt length");
        let phc = Argon2::default()
            .hash_password(self.0.expose_secret().as_bytes(), &salt)
            .expect("argon2 accepts any password up to MAX_LEN");
        PasswordHash(phc.to_string())
    }

    /// True when this password produced `hash`.
    pub fn verify(&self, hash: &PasswordHash) -> bool {
        PhcHash::new(&hash.0)
            .is_ok_and(|phc| Argon2::default().verify_password(self.0.expose_secret().as_bytes(), &phc).is_ok())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// An argon2id hash in PHC string form, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Rebuilds a hash read back from storage.
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let password = Password::new("correct horse battery".into()).expect("long enough");

        let hash = password.hash();

        assert!(hash.as_str().starts_with("$argon2id$"));
        assert!(password.verify(&hash));
        assert!(!Password::new("incorrect horse".into()).expect("long enough").verify(&hash));
    }

    #[test]
    fn new_enforces_length_in_characters() {
        assert_eq!(Password::new("short".into()).err(), Some(WeakPassword::TooShort));
        assert_eq!(Password::new("x".repeat(MAX_LEN + 1)).err(), Some(WeakPassword::TooLong));
        assert!(Password::new("ééééééé€".into()).is_ok());
    }
}
