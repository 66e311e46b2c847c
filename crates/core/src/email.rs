//! Email addresses as Usher accepts them.
//!
//! Syntax is checked by the `email_address` crate (RFC 5321/5322 without display text or
//! domain literals); on top of that Usher refuses what would be legal but harmful or useless
//! here: line breaks and spaces (header injection), over-long addresses, and single-label
//! domains other than `localhost`.

use std::fmt;

/// The longest address SMTP can carry in a path (RFC 5321 §4.5.3.1.3 less the brackets).
const MAX_LEN: usize = 254;

/// A valid email address, normalised: trimmed and lowercased, so it can be compared as is.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

/// Why an email address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEmail {
    /// Nothing but whitespace.
    #[error("email address is empty")]
    Empty,
    /// Longer than SMTP allows.
    #[error("email address is longer than {MAX_LEN} characters")]
    TooLong,
    /// Contains a carriage return or line feed.
    #[error("email address must not contain line breaks")]
    LineBreak,
    /// Contains a space or another whitespace character.
    #[error("email address must not contain spaces")]
    Whitespace,
    /// The domain has a single label (`a@intranet`), which no public mail reaches.
    #[error("email address domain must contain a dot (or be \"localhost\")")]
    DomainWithoutDot,
    /// Not an address at all, with the parser's reason.
    #[error("email address is not valid: {0}")]
    Syntax(String),
}

impl EmailAddress {
    /// Validates `input` and normalises it (surrounding whitespace removed, lowercased).
    pub fn parse(input: &str) -> Result<Self, InvalidEmail> {
        // Checked before trimming: a trailing CR/LF is how header injection is attempted.
        if input.contains(['\r', '\n']) {
            return Err(InvalidEmail::LineBreak);
        }
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(InvalidEmail::Empty);
        }
        if trimmed.len() > MAX_LEN {
            return Err(InvalidEmail::TooLong);
        }
        if trimmed.chars().any(char::is_whitespace) {
            return Err(InvalidEmail::Whitespace);
        }
        let options = email_address::Options {
            minimum_sub_domains: 1,
            allow_domain_literal: false,
            allow_display_text: false,
            allow_long_local_parts: false,
        };
        let parsed = email_address::EmailAddress::parse_with_options(trimmed, options)
            .map_err(|e| InvalidEmail::Syntax(e.to_string()))?;
        let domain = parsed.domain();
        if !domain.contains('.') && !domain.eq_ignore_ascii_case("localhost") {
            return Err(InvalidEmail::DomainWithoutDot);
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }

    /// The address with everything but the first character of the local part masked, for logs.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let first = local.chars().next().unwrap_or('*');
        format!("{first}***@{domain}")
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalises_case_and_surrounding_whitespace() {
        let email = EmailAddress::parse("  Ada.Lovelace@Example.ORG ").expect("valid");

        assert_eq!(email.as_str(), "ada.lovelace@example.org");
    }

    #[test]
    fn parse_accepts_plus_tags_subdomains_and_localhost() {
        for ok in ["a+tag@mail.example.co.uk", "x@localhost", "o'brien@example.ie"] {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn parse_rejects_each_kind_of_bad_address() {
        let long = format!("{}@example.com", "a".repeat(250));
        let cases: [(&str, InvalidEmail); 7] = [
            ("   ", InvalidEmail::Empty),
            ("a@example.com\r\nBcc: x@evil.test", InvalidEmail::LineBreak),
            ("a@example.com\n", InvalidEmail::LineBreak),
            ("a b@example.com", InvalidEmail::Whitespace),
            (&long, InvalidEmail::TooLong),
            ("a@intranet", InvalidEmail::DomainWithoutDot),
            ("a@b@example.com", InvalidEmail::Syntax(String::new())),
        ];
        for (input, expected) in cases {
            let got = EmailAddress::parse(input).expect_err(input);
            assert_eq!(std::mem::discriminant(&got), std::mem::discriminant(&expected), "{input:?}: {got}");
        }
    }

    #[test]
    fn parse_rejects_missing_parts_and_display_names() {
        for bad in ["plainaddress", "@example.com", "a@", "Ada <a@example.com>", "a@[127.0.0.1]", "a@.example.com"] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn masked_hides_the_local_part() {
        assert_eq!(EmailAddress::parse("ada@example.org").expect("valid").masked(), "a***@example.org");
    }
}
