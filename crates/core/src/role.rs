//! A member's role in an app.

use std::fmt;
use std::str::FromStr;

/// What a member may do in an app. Only these two exist; anything else is refused at the edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A standard member.
    User,
    /// A member who manages the app and its members.
    Admin,
}

/// The text was not exactly `user` or `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role must be \"user\" or \"admin\"")]
pub struct InvalidRole;

impl Role {
    /// The wire name: `user` or `admin`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = InvalidRole;

    /// Exact, case-sensitive: `"Admin"` is not a role.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Self::User),
            "admin" => Ok(Self::Admin),
            _ => Err(InvalidRole),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_lowercase_names_parse() {
        assert_eq!("user".parse(), Ok(Role::User));
        assert_eq!("admin".parse(), Ok(Role::Admin));
        for bad in ["", "User", "ADMIN", " admin", "owner", "admins"] {
            assert_eq!(bad.parse::<Role>(), Err(InvalidRole), "{bad:?}");
        }
    }
}
