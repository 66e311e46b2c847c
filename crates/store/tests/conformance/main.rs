//! Storage conformance: every behaviour of the `Store` contract is written once in `cases`
//! and run against each backend on a fresh database.
//!
//! The `conformance!` macro generates one module per backend with one `#[tokio::test]` per
//! case. PostgreSQL adds a `mod postgres` arm here when its backend lands.

mod cases;
mod support;

macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = crate::support::TestDb::sqlite();
                    crate::cases::$case(db.store()).await;
                }
            )+
        }
    };
}

conformance!(
    app_roundtrips_settings_when_created,
    has_apps_turns_true_when_an_app_is_created,
    api_key_is_found_only_when_hash_matches,
    invite_creates_pending_invitation_when_address_is_new,
    invite_resends_with_rotated_token_when_invitation_is_pending,
    invite_resends_when_pending_invitation_has_expired,
    invite_refuses_and_writes_nothing_when_within_resend_interval,
    invite_queues_again_when_resend_interval_has_passed,
    invite_reminds_without_changing_role_when_address_is_member,
    invite_creates_one_invitation_when_two_invites_race,
    invite_returns_not_found_when_app_does_not_exist,
    invitation_by_token_returns_none_when_token_is_unknown,
    accept_creates_verified_user_with_invitation_role_when_link_is_valid,
    accept_refuses_as_used_when_token_was_already_accepted,
    accept_refuses_as_expired_and_creates_nothing_when_link_has_expired,
    accept_refuses_as_replaced_when_invitation_was_resent,
    accept_refuses_as_unknown_when_token_never_existed,
    user_is_found_only_in_its_own_app_when_looked_up,
    claim_outbox_returns_everything_to_send_when_invitation_is_queued,
    claim_outbox_returns_sign_in_without_link_when_member_was_reminded,
    claim_outbox_claims_each_message_once_when_lease_is_running,
    claim_outbox_claims_again_with_attempts_counted_when_lease_ran_out,
    claim_outbox_respects_limit_when_more_messages_are_due,
    mark_sent_shows_sent_and_stops_claims_when_transport_accepted,
    mark_failed_queues_for_later_when_retry_is_given,
    mark_failed_shows_failed_delivery_when_given_up,
    mark_failed_cancels_instead_of_retrying_when_invitation_was_resent,
    mark_sent_returns_not_found_when_message_is_unknown,
    invite_cancels_older_queued_message_when_invitation_is_resent,
    server_secret_keeps_first_candidate_when_asked_again,
);
