//! Email addresses as Usher accepts them.
//!
//! An address is normalised first — surrounding whitespace trimmed, Unicode NFC, lowercased —
//! and every check then runs on exactly the string that is kept, so nothing can grow or
//! change after it was checked (`İ` lowercases to two characters, `i` and a combining dot).
//! Syntax is checked by the `email_address` crate (RFC 5321/5322 without display text or
//! domain literals); on top of that Usher refuses what would be legal but harmful or useless
//! here: line breaks and spaces (header injection), invisible and formatting characters (a
//! byte-order mark, zero-width characters, direction controls: two addresses that look the
//! same must be the same), over-long addresses, and single-label domains other than
//! `localhost`.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The longest address SMTP can carry in a path (RFC 5321 §4.5.3.1.3 less the brackets), in
/// bytes of UTF-8.
const MAX_LEN: usize = 254;
/// Input longer than this is refused before it is normalised: normalising can shorten a
/// string (NFC composes), but never by this much, so nothing valid is lost.
const MAX_INPUT_LEN: usize = 16 * MAX_LEN;

/// A valid email address, normalised (trimmed, NFC, lowercased), so it can be compared as is.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

/// Why an email address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEmail {
    /// Nothing but whitespace.
    #[error("email address is empty")]
    Empty,
    /// Longer than SMTP allows, once normalised.
    #[error("email address is longer than {MAX_LEN} characters (bytes of UTF-8, once lowercased)")]
    TooLong,
    /// Contains a carriage return or line feed.
    #[error("email address must not contain line breaks")]
    LineBreak,
    /// Contains a control, formatting or invisible character.
    #[error(
        "email address must not contain invisible or control characters (byte-order mark, zero-width or direction marks, …)"
    )]
    Invisible,
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
    /// Normalises `input` (surrounding whitespace removed, NFC, lowercased) and validates the
    /// result, which is what is kept: `parse(a.as_str())` is `a` again.
    pub fn parse(input: &str) -> Result<Self, InvalidEmail> {
        // Checked before trimming: a trailing CR/LF is how header injection is attempted.
        if input.contains(['\r', '\n']) {
            return Err(InvalidEmail::LineBreak);
        }
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(InvalidEmail::Empty);
        }
        if trimmed.len() > MAX_INPUT_LEN {
            return Err(InvalidEmail::TooLong);
        }
        // Lowercasing can leave a decomposed sequence behind, hence NFC on both sides of it.
        let normalised: String = trimmed.nfc().collect::<String>().to_lowercase().nfc().collect();
        if normalised.len() > MAX_LEN {
            return Err(InvalidEmail::TooLong);
        }
        if normalised.chars().any(char::is_whitespace) {
            return Err(InvalidEmail::Whitespace);
        }
        if normalised.chars().any(is_invisible) {
            return Err(InvalidEmail::Invisible);
        }
        let options = email_address::Options {
            minimum_sub_domains: 1,
            allow_domain_literal: false,
            allow_display_text: false,
            allow_long_local_parts: false,
        };
        let parsed = email_address::EmailAddress::parse_with_options(&normalised, options)
            .map_err(|e| InvalidEmail::Syntax(e.to_string()))?;
        let domain = parsed.domain();
        if !domain.contains('.') && !domain.eq_ignore_ascii_case("localhost") {
            return Err(InvalidEmail::DomainWithoutDot);
        }
        Ok(Self(normalised))
    }

    /// An address read back from storage, exactly as stored. It was checked when it was
    /// written, but maybe by an earlier version's rules (which kept a leading byte-order mark,
    /// say, or an address not in NFC): such a row is kept readable and comparable with the
    /// stored value, instead of making every read that touches it fail. Never for input.
    pub fn from_storage(stored: &str) -> Self {
        match Self::parse(stored) {
            Ok(address) if address.0 == stored => address,
            _ => Self(stored.to_owned()),
        }
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

/// Characters that print as nothing or steer how their neighbours print: controls, format
/// characters (byte-order mark, zero-width joiners and spaces, bidi controls, soft hyphen,
/// tags), private-use and unassigned code points, and the default-ignorable or blank letters and
/// marks that are not in those categories (Hangul fillers, variation selectors, …).
fn is_invisible(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    ) || matches!(
        c,
        '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FFA0}'
            | '\u{E0100}'..='\u{E01EF}'
    )
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
    fn parse_rejects_invisible_and_control_characters_anywhere() {
        for bad in [
            "\u{FEFF}ada@example.com",
            "ada\u{FEFF}@example.com",
            "a\u{200B}da@example.com",
            "ada@exa\u{200D}mple.com",
            "ada@example.com\u{200C}",
            "\u{202E}moc.elpmaxe@ada",
            "ada\u{2066}@example.com",
            "ada\u{200E}@example.com",
            "a\u{00AD}da@example.com",
            "ada\u{0000}@example.com",
            "ada\u{007F}@example.com",
            "ada\u{3164}@example.com",
            "ada\u{FE0F}@example.com",
            "ada\u{E0041}@example.com",
            "ada\u{E000}@example.com",
        ] {
            assert_eq!(EmailAddress::parse(bad), Err(InvalidEmail::Invisible), "{bad:?}");
        }
    }

    #[test]
    fn parse_lowercases_dotted_capital_i_before_checking_the_length() {
        // `İ` is 2 bytes; lowercased it is `i` + U+0307, 3 bytes.
        let domain = "@example.com";
        let fits_before = format!("{}{domain}", "İ".repeat((MAX_LEN - domain.len()) / 2));
        assert!(fits_before.len() <= MAX_LEN);

        assert_eq!(EmailAddress::parse(&fits_before), Err(InvalidEmail::TooLong));
        let short = EmailAddress::parse("İİ@example.com").expect("valid");
        assert_eq!(short.as_str(), "i\u{307}i\u{307}@example.com");
    }

    #[test]
    fn parse_stores_the_nfc_form_so_equal_looking_addresses_are_equal() {
        let composed = EmailAddress::parse("jos\u{E9}@example.com").expect("valid");
        let decomposed = EmailAddress::parse("JOSE\u{301}@example.com").expect("valid");

        assert_eq!(composed, decomposed);
        assert_eq!(composed.as_str(), "jos\u{E9}@example.com");
    }

    #[test]
    fn parse_of_a_parsed_address_is_the_same_address() {
        for input in
            ["  Ada@Example.ORG", "İİ@example.com", "JOSE\u{301}@Example.com", "ǅemal@example.com", "Straße@Example.de"]
        {
            let once = EmailAddress::parse(input).expect(input);

            let twice = EmailAddress::parse(once.as_str()).expect("the normalised form is valid");

            assert_eq!(once.as_str(), twice.as_str(), "{input:?}");
            assert!(once.as_str().len() <= MAX_LEN);
        }
    }

    #[test]
    fn from_storage_keeps_rows_written_under_earlier_rules_as_they_are() {
        for legacy in ["\u{FEFF}ada@example.com", "jose\u{301}@example.com", "ada@example.com"] {
            assert_eq!(EmailAddress::from_storage(legacy).as_str(), legacy);
        }
    }

    #[test]
    fn masked_hides_the_local_part() {
        assert_eq!(EmailAddress::parse("ada@example.org").expect("valid").masked(), "a***@example.org");
    }
}
