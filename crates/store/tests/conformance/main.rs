//! Storage conformance: every behaviour of the `Store` contract is written once in `cases`
//! and run against each backend on a fresh database.
//!
//! The `conformance!` macro generates one module per backend with one `#[tokio::test]` per
//! case: `sqlite` on a temporary file, `postgres` on a database of its own (see
//! `usher_store::testing` for which server, and when an unreachable one skips or fails). What
//! only PostgreSQL has, several instances on one database, is tested in `postgres_only`.

/// The cases of a module of their own, one `#[tokio::test]` per backend, as `conformance!`
/// does for `cases` (defined before the modules, so they can use it).
macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = crate::support::TestDb::sqlite().await;
                    super::$case(db.store()).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(db) = crate::support::TestDb::postgres().await else { return };
                    super::$case(db.store()).await;
                }
            )+
        }
    };
}

mod cached;
mod cases;
mod console_sessions;
mod idempotency;
mod list_plans;
mod postgres_only;
mod reminders;
mod support;
mod webhooks;

macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = crate::support::TestDb::sqlite().await;
                    crate::cases::$case(db.store()).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(db) = crate::support::TestDb::postgres().await else { return };
                    crate::cases::$case(db.store()).await;
                }
            )+
        }
    };
}

conformance!(
    app_roundtrips_settings_when_created,
    has_apps_turns_true_when_an_app_is_created,
    create_first_app_creates_one_app_when_four_race_on_an_empty_database,
    api_key_is_found_only_when_hash_matches,
    invite_creates_pending_invitation_when_address_is_new,
    invite_resends_with_rotated_token_when_invitation_is_pending,
    invite_resends_when_pending_invitation_has_expired,
    invite_refuses_and_writes_nothing_when_within_resend_interval,
    invite_queues_again_when_resend_interval_has_passed,
    invite_refuses_and_writes_nothing_when_a_member_reinvites_an_admin_invitation,
    invite_reminds_without_changing_role_when_address_is_member,
    invite_refuses_and_writes_nothing_when_the_domain_is_refused_unless_a_member,
    invite_dry_run_answers_what_the_batch_then_does_and_keeps_nothing,
    invite_keeps_the_daily_allowance_when_invites_of_different_addresses_race,
    invite_creates_one_invitation_when_two_invites_race,
    invite_returns_not_found_when_app_does_not_exist,
    invitation_by_token_returns_none_when_token_is_unknown,
    accept_creates_verified_user_with_invitation_role_when_link_is_valid,
    record_link_open_counts_opens_and_changes_nothing_else,
    accept_refuses_as_used_when_token_was_already_accepted,
    accept_refuses_as_expired_and_creates_nothing_when_link_has_expired,
    accept_refuses_as_replaced_when_invitation_was_resent,
    accept_refuses_as_unknown_when_token_never_existed,
    user_is_found_only_in_its_own_app_when_looked_up,
    claim_outbox_returns_everything_to_send_when_invitation_is_queued,
    claim_outbox_returns_sign_in_without_link_when_member_was_reminded,
    claimed_messages_carry_their_locale_and_the_apps_own_template,
    mail_templates_are_stored_replaced_listed_and_deleted_per_app,
    schema_version_is_the_expected_one_when_opened,
    claim_outbox_claims_each_message_once_while_its_instance_renews,
    outbox_backlog_counts_queued_and_sending_but_not_sent_messages,
    claim_outbox_claims_again_with_attempts_counted_when_its_instance_was_presumed_dead,
    renew_instance_presumes_no_one_dead_when_the_judge_was_not_alive_for_a_whole_window,
    renew_instance_tells_an_instance_presumed_dead_to_register_again,
    deregister_instance_releases_its_claims_at_once,
    claim_outbox_releases_what_the_same_instance_left_unrecorded,
    released_message_is_cancelled_when_its_invitation_was_resent_meanwhile,
    mark_failed_does_nothing_when_the_claim_went_to_another_instance,
    claim_outbox_respects_limit_when_more_messages_are_due,
    mark_sent_shows_sent_and_stops_claims_when_transport_accepted,
    mark_failed_queues_for_later_when_retry_is_given,
    mark_failed_shows_failed_delivery_when_given_up,
    mark_failed_cancels_instead_of_retrying_when_invitation_was_resent,
    mark_sent_returns_not_found_when_message_is_unknown,
    invite_cancels_older_queued_message_when_invitation_is_resent,
    server_secret_keeps_first_candidate_when_asked_again,
    invite_settles_as_one_created_and_seven_resent_when_eight_invites_race,
    invite_answers_each_of_a_concurrent_burst_alone_when_some_are_refused,
    claim_outbox_gives_two_claimers_disjoint_messages_when_they_claim_at_once,
    accept_joins_once_when_one_link_is_used_twice_at_once,
    update_app_stores_name_url_and_settings_when_app_exists,
    api_keys_lists_live_keys_oldest_first_when_one_is_revoked,
    revoke_api_key_keeps_one_key_when_the_last_two_are_revoked_at_once,
    the_last_active_admin_is_neither_demoted_disabled_nor_removed,
    demoting_the_last_two_admins_at_once_keeps_one,
    console_link_signs_in_once_before_it_expires_with_a_new_key,
    audit_events_filter_by_action_actor_and_invitation,
    list_invitations_filters_by_the_delivery_state_of_the_latest_email,
    delivery_attempts_list_each_ended_attempt_of_an_invitations_emails,
    audit_events_lists_newest_first_and_pages_before_a_cursor,
    invite_batch_returns_one_outcome_per_command_in_order,
    user_credentials_returns_the_password_hash_when_member_has_joined,
    update_user_changes_only_the_given_fields_when_patched,
    set_password_replaces_the_hash_when_member_exists,
    password_changes_move_the_session_epoch_on_when_set_or_reset,
    delete_user_removes_the_member_and_keeps_the_invitation,
    invitation_is_found_only_in_its_own_app_when_looked_up,
    list_invitations_filters_by_status_and_email_and_pages_after_a_cursor,
    the_pending_list_follows_expiry_announcements_and_re_sends,
    revoke_invitation_cancels_its_email_when_invitation_is_pending,
    request_password_reset_queues_a_link_when_address_is_a_member,
    reset_password_sets_the_password_once_when_link_is_valid,
    verify_signup_creates_the_member_when_code_is_right,
    verify_signup_refuses_when_code_expired_or_guessed_too_often,
    send_signup_code_follows_invitation_only_and_membership_when_asked,
    send_signup_code_replaces_the_code_when_resent_after_the_interval,
    send_signup_code_replaces_an_earlier_registration_when_registered_again_at_once,
);
