//! The languages Usher writes email in.
//!
//! A locale is given as a BCP 47 language tag; Usher keeps its primary language subtag. A tag
//! whose language Usher has templates for is accepted whatever its region or script
//! (`de-AT` and `de-CH` read as `de`, `es-419` as `es`, `FR` as `fr`); any other is refused,
//! so an invitation is never sent in a language nobody asked for.

use std::fmt;
use std::str::FromStr;

/// A language Usher has built-in email templates in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Locale {
    /// English, the default and the fallback.
    #[default]
    En,
    /// German.
    De,
    /// French.
    Fr,
    /// Spanish.
    Es,
}

/// A language tag Usher has no templates for (or that is no language tag).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported locale `{tag}`; supported: {}", Locale::supported())]
pub struct UnsupportedLocale {
    /// The tag as given.
    pub tag: String,
}

impl Locale {
    /// Every supported locale, English first.
    pub const ALL: [Self; 4] = [Self::En, Self::De, Self::Fr, Self::Es];

    /// The tag Usher stores and shows: the primary language subtag.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
            Self::Fr => "fr",
            Self::Es => "es",
        }
    }

    /// The language's own name for itself, for people choosing one: `Deutsch` for `de`.
    pub const fn native_name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::De => "Deutsch",
            Self::Fr => "Français",
            Self::Es => "Español",
        }
    }

    /// The supported tags, for messages: `en, de, fr, es`.
    pub fn supported() -> String {
        Self::ALL.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Reads a BCP 47 tag: its primary language subtag (case-insensitive) must be supported;
    /// the other subtags must be well-formed (1 to 8 letters or digits) and are dropped.
    pub fn parse(tag: &str) -> Result<Self, UnsupportedLocale> {
        let unsupported = || UnsupportedLocale { tag: tag.to_owned() };
        let mut subtags = tag.trim().split('-');
        let language = subtags.next().unwrap_or_default().to_ascii_lowercase();
        if !subtags.all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())) {
            return Err(unsupported());
        }
        Self::ALL.into_iter().find(|l| l.as_str() == language).ok_or_else(unsupported)
    }

    /// Reads a stored tag back (one [`Locale::as_str`] wrote).
    pub fn from_storage(tag: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == tag)
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Locale {
    type Err = UnsupportedLocale;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_read_as_their_language_or_are_refused() {
        let cases: &[(&str, Option<Locale>)] = &[
            ("en", Some(Locale::En)),
            ("de", Some(Locale::De)),
            ("fr", Some(Locale::Fr)),
            ("es", Some(Locale::Es)),
            ("DE", Some(Locale::De)),
            ("de-AT", Some(Locale::De)),
            ("de-CH-1996", Some(Locale::De)),
            ("es-419", Some(Locale::Es)),
            ("fr-CA", Some(Locale::Fr)),
            ("en-GB", Some(Locale::En)),
            (" fr ", Some(Locale::Fr)),
            ("it", None),
            ("pt-BR", None),
            ("", None),
            ("deu", None),
            ("de_AT", None),
            ("de-", None),
            ("de-toolongsubtag", None),
            ("de-A T", None),
        ];
        for (tag, expected) in cases {
            assert_eq!(Locale::parse(tag).ok(), *expected, "{tag:?}");
        }
    }

    #[test]
    fn refusal_names_the_supported_locales() {
        let err = Locale::parse("it").expect_err("unsupported");
        assert_eq!(err.to_string(), "unsupported locale `it`; supported: en, de, fr, es");
    }

    #[test]
    fn stored_tags_read_back() {
        for locale in Locale::ALL {
            assert_eq!(Locale::from_storage(locale.as_str()), Some(locale));
        }
        assert_eq!(Locale::from_storage("de-AT"), None);
    }
}
