//! `Idempotency-Key` on the calls that write: the same key and the same request within 24 h
//! are answered with the first answer again (and [`Keyed::replayed`]) without doing anything,
//! so a call that timed out can be retried safely.

use reqwest::Method;
use usher_api_types::{BulkInviteRequest, BulkInviteResponse, Invitation, InviteUserRequest, InviteUserResponse};

use crate::{ClientError, Invitations, Invited, Role, Users, path_segment};

/// An answer to a keyed call.
#[derive(Debug, Clone)]
pub struct Keyed<T> {
    /// The answer.
    pub value: T,
    /// Whether it is the stored answer of an earlier call with the same key
    /// (`Idempotency-Replayed: true`): nothing was done this time.
    pub replayed: bool,
}

impl Users<'_> {
    /// [`Users::invite_user`] under `key`: a repeat with the same key, address and role gets
    /// the first answer again; another address or role under the key is refused with 422
    /// `IDEMPOTENCY_KEY_REUSED`, and a repeat while the first runs with 409
    /// `IDEMPOTENCY_KEY_IN_USE`.
    pub async fn invite_user_with_key(
        &self,
        email: &str,
        role: Role,
        key: &str,
    ) -> Result<Keyed<Invited>, ClientError> {
        let body = InviteUserRequest { user_email: email.to_owned(), role, locale: None, idempotency_key: None };
        let answer: Keyed<InviteUserResponse> =
            self.client.send_keyed(Method::POST, "runtime/users/invite-user", &[], Some(&body), Some(key)).await?;
        Ok(Keyed { value: Invited::try_from(answer.value)?, replayed: answer.replayed })
    }
}

impl Invitations<'_> {
    /// [`Invitations::bulk`] under `key`.
    pub async fn bulk_with_key(
        &self,
        items: Vec<InviteUserRequest>,
        key: &str,
    ) -> Result<Keyed<BulkInviteResponse>, ClientError> {
        self.client
            .send_keyed(Method::POST, "invitations/bulk", &[], Some(&BulkInviteRequest { items }), Some(key))
            .await
    }

    /// [`Invitations::resend`] under `key`.
    pub async fn resend_with_key(&self, id: &str, key: &str) -> Result<Keyed<Invited>, ClientError> {
        let path = format!("invitations/{}/resend", path_segment(id)?);
        let answer: Keyed<InviteUserResponse> =
            self.client.send_keyed::<(), _>(Method::POST, &path, &[], None, Some(key)).await?;
        Ok(Keyed { value: Invited::try_from(answer.value)?, replayed: answer.replayed })
    }

    /// [`Invitations::revoke`] under `key`: a repeat is answered with the revoked invitation
    /// again rather than 409 `INVITATION_NOT_PENDING`.
    pub async fn revoke_with_key(&self, id: &str, key: &str) -> Result<Keyed<Invitation>, ClientError> {
        let path = format!("invitations/{}/revoke", path_segment(id)?);
        self.client.send_keyed::<(), _>(Method::POST, &path, &[], None, Some(key)).await
    }
}
