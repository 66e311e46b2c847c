//! The invitation list at any size: each filter of the console's table and of
//! `GET /api/apps/{app}/invitations` (none, status, delivery state, both, address), on the
//! first page and from a cursor, is read from an index that gives the list's order, so no page
//! sorts or scans the app's invitations (as `EXPLAIN` shows; the timings are in
//! docs/benchmarks.md). Plans, not times, are asserted.

use usher_core::model::{DeliveryStatus, InvitationStatus};
use usher_core::store::InvitationQuery;
use usher_core::{EmailAddress, InvitationId, Timestamp};
use usher_store::{PgStore, SqliteStore};

use crate::support::{PgDatabase, T0, app};

/// Each filter and the index that serves it.
fn cases() -> Vec<(&'static str, InvitationQuery, &'static str)> {
    let query = |status, delivery, email: Option<&str>| InvitationQuery {
        status,
        delivery,
        email: email.map(|e| EmailAddress::parse(e).expect("valid")),
        opened_by_person: None,
        after: None,
        limit: 51,
    };
    let cases = vec![
        ("no filter", query(None, None, None), "invitations_list"),
        ("accepted", query(Some(InvitationStatus::Accepted), None, None), "invitations_list_status"),
        ("pending", query(Some(InvitationStatus::Pending), None, None), "invitations_list_live_pending"),
        ("expired", query(Some(InvitationStatus::Expired), None, None), "invitations_list_status"),
        ("failed", query(None, Some(DeliveryStatus::Failed), None), "invitations_list_delivery"),
        ("queued", query(None, Some(DeliveryStatus::Queued), None), "invitations_list_delivery"),
        (
            "revoked and failed",
            query(Some(InvitationStatus::Revoked), Some(DeliveryStatus::Failed), None),
            "invitations_list_status_delivery",
        ),
        ("an address", query(None, None, Some("ada@example.org")), "invitations_list_email"),
    ];
    let cursor = (Timestamp::from_millis(T0.as_millis() + 1), InvitationId::generate());
    cases
        .into_iter()
        .flat_map(|(name, first, index)| {
            let deep = InvitationQuery { after: Some(cursor.clone()), ..first.clone() };
            [(name, first, index), (name, deep, index)]
        })
        .collect()
}

#[tokio::test]
async fn sqlite_reads_every_invitation_filter_from_an_index_in_list_order() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&dir.path().join("usher.db")).expect("database opens");
    let app = app(&store).await;

    for (name, query, index) in cases() {
        let deep = query.after.is_some();
        let plan = store.invitation_list_plan(&app.id, query, T0).await.expect("plan").join("\n");

        assert!(plan.contains(&format!("SEARCH i USING INDEX {index} (app_id=?")), "{name} (cursor: {deep}):\n{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{name} (cursor: {deep}) sorts:\n{plan}");
        if deep {
            assert!(plan.contains("(created_at,id)>(?,?)"), "{name} starts at the cursor:\n{plan}");
        }
        assert!(plan.contains("SEARCH m USING INDEX"), "{name} finds its email by id:\n{plan}");
        let reminder_reads = plan.matches("SEARCH r USING INDEX outbox_messages_invitation (invitation_id=?)").count();
        assert_eq!(reminder_reads, 2, "{name}: the reminder times come from the invitation's own messages:\n{plan}");
    }
}

#[tokio::test]
async fn postgres_reads_every_invitation_filter_from_an_index_in_list_order() {
    let Some(db) = PgDatabase::create().await else { return };
    let store = PgStore::connect(db.url()).await.expect("connect");
    let app = app(&store).await;

    for (name, query, index) in cases() {
        let deep = query.after.is_some();
        let plan = store.invitation_list_plan(&app.id, query, T0).await.expect("plan").join("\n");

        assert!(
            plan.contains(&format!("Index Scan using {index} on invitations i")),
            "{name} (cursor: {deep}):\n{plan}"
        );
        assert!(!plan.contains("Sort"), "{name} (cursor: {deep}) sorts:\n{plan}");
        if deep {
            assert!(
                plan.contains("AND (ROW(created_at, id) > ROW("),
                "{name} starts at the cursor in the index:\n{plan}"
            );
        }
    }
}
