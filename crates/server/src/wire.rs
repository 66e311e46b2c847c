//! Conversions from domain records to the JSON shapes of `usher-api-types`.

use usher_api_types as api;
use usher_core::Role;
use usher_core::Timestamp;
use usher_core::model::{Delivery, DeliveryStatus, Invitation, InvitationStatus, User};

/// The wire role.
pub fn role(role: Role) -> api::Role {
    match role {
        Role::User => api::Role::User,
        Role::Admin => api::Role::Admin,
    }
}

/// An invitation, with its status as of `now` (a pending one past expiry shows `expired`).
pub fn invitation(invitation: &Invitation, now: Timestamp) -> api::Invitation {
    api::Invitation {
        id: invitation.id.to_string(),
        app_id: invitation.app_id.to_string(),
        email: invitation.email.to_string(),
        role: role(invitation.role),
        status: status(invitation.status_at(now)),
        expires_at: invitation.expires_at.to_offset_date_time(),
        invited_by: invitation.invited_by.display_name.clone(),
        times_sent: invitation.times_sent,
        last_sent_at: invitation.last_sent_at.to_offset_date_time(),
        delivery: delivery(&invitation.delivery),
        last_opened_at: invitation.opens.last_opened_at.map(Timestamp::to_offset_date_time),
        opened_by_person_at: invitation.opens.opened_by_person_at.map(Timestamp::to_offset_date_time),
        scanner_opens: invitation.opens.scanner_opens(),
        reminder_due_at: invitation.reminder.due_at.map(Timestamp::to_offset_date_time),
        reminded_at: invitation.reminder.reminded_at.map(Timestamp::to_offset_date_time),
        locale: invitation.locale.map(|l| l.as_str().to_owned()),
        created_date: invitation.created_at.to_offset_date_time(),
        updated_date: invitation.updated_at.to_offset_date_time(),
    }
}

/// An invitation's status.
pub fn status(status: InvitationStatus) -> api::InvitationStatus {
    match status {
        InvitationStatus::Pending => api::InvitationStatus::Pending,
        InvitationStatus::Accepted => api::InvitationStatus::Accepted,
        InvitationStatus::Revoked => api::InvitationStatus::Revoked,
        InvitationStatus::Expired => api::InvitationStatus::Expired,
    }
}

/// An email's delivery state.
pub fn delivery(delivery: &Delivery) -> api::EmailDelivery {
    api::EmailDelivery {
        status: match delivery.status {
            DeliveryStatus::Queued => api::DeliveryStatus::Queued,
            DeliveryStatus::Sent => api::DeliveryStatus::Sent,
            DeliveryStatus::Failed => api::DeliveryStatus::Failed,
        },
        attempts: delivery.attempts,
        last_error: delivery.last_error.clone(),
        next_attempt_at: delivery.next_attempt_at.map(Timestamp::to_offset_date_time),
    }
}

/// A member in Base44's `User` shape.
pub fn user(user: &User) -> api::User {
    api::User {
        id: user.id.to_string(),
        created_date: user.created_at.to_offset_date_time(),
        updated_date: user.updated_at.to_offset_date_time(),
        email: user.email.to_string(),
        full_name: user.full_name.clone(),
        disabled: user.is_disabled,
        is_verified: user.is_verified,
        app_id: user.app_id.to_string(),
        is_service: false,
        app_role: role(user.role),
        role: role(user.role),
        custom: user.custom.clone(),
    }
}
