//! What an invite did, as one value per case rather than a wire struct with optional parts.

use serde::Serialize;
use usher_api_types::{Invitation, InviteOutcome, InviteUserResponse, MemberSummary};

use crate::ClientError;

/// The answer to inviting an address (or re-sending an invitation).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Invited {
    /// A new invitation was made; its email is queued.
    Created {
        /// The invitation.
        invitation: Invitation,
        /// A one-line summary for people.
        message: String,
    },
    /// The pending invitation was sent again with a new link, expiry and role; earlier links
    /// stopped working.
    Resent {
        /// The invitation.
        invitation: Invitation,
        /// A one-line summary for people.
        message: String,
    },
    /// The address is already a member: a sign-in email is queued and the role is unchanged.
    AlreadyMember {
        /// The member, shown only to callers who may list members.
        #[serde(rename = "user")]
        member: Option<MemberSummary>,
        /// A one-line summary for people.
        message: String,
    },
}

impl Invited {
    /// Which case applied.
    pub fn outcome(&self) -> InviteOutcome {
        match self {
            Self::Created { .. } => InviteOutcome::Created,
            Self::Resent { .. } => InviteOutcome::Resent,
            Self::AlreadyMember { .. } => InviteOutcome::AlreadyMember,
        }
    }

    /// The invitation, unless the address was already a member.
    pub fn invitation(&self) -> Option<&Invitation> {
        match self {
            Self::Created { invitation, .. } | Self::Resent { invitation, .. } => Some(invitation),
            Self::AlreadyMember { .. } => None,
        }
    }

    /// A one-line summary for people.
    pub fn message(&self) -> &str {
        match self {
            Self::Created { message, .. } | Self::Resent { message, .. } | Self::AlreadyMember { message, .. } => {
                message
            }
        }
    }
}

impl TryFrom<InviteUserResponse> for Invited {
    type Error = ClientError;

    /// Fails (as [`ClientError::Decode`]) when a created or re-sent answer has no invitation.
    fn try_from(answer: InviteUserResponse) -> Result<Self, ClientError> {
        let InviteUserResponse { outcome, message, invitation, user, .. } = answer;
        let invitation = || {
            invitation.ok_or_else(|| {
                ClientError::Decode(serde::de::Error::custom(format!("a {outcome:?} answer without its invitation")))
            })
        };
        Ok(match outcome {
            InviteOutcome::Created => Self::Created { invitation: invitation()?, message },
            InviteOutcome::Resent => Self::Resent { invitation: invitation()?, message },
            InviteOutcome::AlreadyMember => Self::AlreadyMember { member: user, message },
        })
    }
}
