//! Which email domains an app lets in: its `allowed_email_domains` and `blocked_email_domains`
//! settings, checked on invite (single and bulk), register and sign-up.
//!
//! A pattern is an exact domain (`example.com`) or a wildcard (`*.example.com`) that matches
//! every subdomain of `example.com` at any depth but not `example.com` itself (list both to
//! take both). A blocked domain is refused whatever the allow-list says; a non-empty
//! allow-list refuses every domain it does not match. Both empty (the default): every domain.

use std::fmt;

use crate::email::EmailAddress;

/// Most patterns one list may hold.
pub const MAX_PATTERNS: usize = 500;

/// One entry of an app's domain lists: an exact domain or `*.` and a domain, lowercase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainPattern(String);

/// The text is not a domain pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a domain like example.com or *.example.com")]
pub struct InvalidDomainPattern(pub String);

impl DomainPattern {
    /// Reads a pattern as an operator types it: surrounding spaces, a leading `@` and
    /// upper-case letters are forgiven; anything else must be a domain name (letters, digits,
    /// `-`, at least two labels), optionally after `*.`.
    pub fn parse(text: &str) -> Result<Self, InvalidDomainPattern> {
        let invalid = || InvalidDomainPattern(text.to_owned());
        let pattern = text.trim().trim_start_matches('@').to_ascii_lowercase();
        let domain = pattern.strip_prefix("*.").unwrap_or(&pattern);
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |label: &&str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if labels.len() < 2 || domain.len() > 253 || !labels.iter().all(label_ok) {
            return Err(invalid());
        }
        Ok(Self(pattern))
    }

    /// The pattern as stored and shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `domain` (lowercase, as [`EmailAddress::domain`] gives it) is one this pattern
    /// names.
    pub fn matches(&self, domain: &str) -> bool {
        match self.0.strip_prefix("*.") {
            Some(parent) => domain.strip_suffix(parent).is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => domain == self.0,
        }
    }
}

impl fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An app's two domain lists.
#[derive(Clone, Copy, Debug)]
pub struct DomainRules<'a> {
    /// When not empty, only these domains are let in.
    pub allowed: &'a [DomainPattern],
    /// These domains are never let in.
    pub blocked: &'a [DomainPattern],
}

/// The domain of `email` when the rules refuse it, `None` when they let it in.
pub fn refused_domain<'e>(rules: DomainRules<'_>, email: &'e EmailAddress) -> Option<&'e str> {
    let domain = email.domain();
    let blocked = rules.blocked.iter().any(|p| p.matches(domain));
    let not_allowed = !rules.allowed.is_empty() && !rules.allowed.iter().any(|p| p.matches(domain));
    (blocked || not_allowed).then_some(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(list: &[&str]) -> Vec<DomainPattern> {
        list.iter().map(|p| DomainPattern::parse(p).expect("valid pattern")).collect()
    }

    fn email(address: &str) -> EmailAddress {
        EmailAddress::parse(address).expect("valid address")
    }

    #[test]
    fn parse_forgives_case_spaces_and_an_at_sign_and_refuses_what_is_no_domain() {
        assert_eq!(DomainPattern::parse(" @Example.COM ").map(|p| p.0), Ok("example.com".to_owned()));
        assert_eq!(DomainPattern::parse("*.Corp.example").map(|p| p.0), Ok("*.corp.example".to_owned()));
        for bad in ["", "com", "*.com", "exa mple.com", "a..b", "*example.com", "a.*.b", "-a.com", "a@b.com", "*"] {
            assert!(DomainPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refused_domain_follows_the_case_table() {
        // (allowed, blocked, address, refused?)
        let cases: &[(&[&str], &[&str], &str, bool)] = &[
            (&[], &[], "ada@gmail.com", false),
            (&["acme.com"], &[], "ada@acme.com", false),
            (&["acme.com"], &[], "ada@ACME.com", false),
            (&["acme.com"], &[], "ada@gmail.com", true),
            (&["acme.com"], &[], "ada@eu.acme.com", true),
            (&["acme.com"], &[], "ada@notacme.com", true),
            (&["*.acme.com"], &[], "ada@eu.acme.com", false),
            (&["*.acme.com"], &[], "ada@x.eu.acme.com", false),
            (&["*.acme.com"], &[], "ada@acme.com", true),
            (&["*.acme.com"], &[], "ada@evilacme.com", true),
            (&[], &["gmail.com"], "ada@gmail.com", true),
            (&[], &["gmail.com"], "ada@acme.com", false),
            (&[], &["*.rival.com"], "ada@eu.rival.com", true),
            (&[], &["*.rival.com"], "ada@rival.com", false),
            (&["acme.com", "*.acme.com"], &["contractors.acme.com"], "ada@eu.acme.com", false),
            (&["acme.com", "*.acme.com"], &["contractors.acme.com"], "ada@contractors.acme.com", true),
            (&["acme.com"], &["acme.com"], "ada@acme.com", true),
        ];
        for (allowed, blocked, address, refused) in cases {
            let (allowed, blocked) = (patterns(allowed), patterns(blocked));
            let address = email(address);

            let verdict = refused_domain(DomainRules { allowed: &allowed, blocked: &blocked }, &address);

            assert_eq!(verdict.is_some(), *refused, "{allowed:?} {blocked:?} {address}");
            if *refused {
                assert_eq!(verdict, Some(address.domain()));
            }
        }
    }
}
