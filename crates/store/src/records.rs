//! What both backends read the same way, whatever their SQL. (What they write — the email to
//! queue, the audit record — is part of the plans of `usher_core::rules`.)

use std::error::Error;
use std::fmt;

/// A stored enumeration value this build does not know.
#[derive(Debug)]
pub(crate) struct UnknownValue(pub(crate) String);

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected stored value `{}`", self.0)
    }
}

impl Error for UnknownValue {}
