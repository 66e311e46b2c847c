//! The console's stored sessions on each backend: created under the hash of their id, found by
//! it (and by nothing else), their last page view moved on, deleted at sign-out, and the ones
//! that ended by time (`usher_core::rules::console::ended_sessions`) deleted by a cleanup of
//! every app, leaving the others.

use std::time::Duration;

use usher_core::console_session::ConsoleSessionRecord;
use usher_core::rules::console::ended_sessions;
use usher_core::secret::{ConsoleSessionToken, TokenHash};
use usher_core::{AppId, Store, Timestamp, UserId};

use crate::support::{T0, app};

on_both_backends!(
    a_console_session_is_found_by_its_hash_until_it_is_deleted,
    a_console_sessions_last_page_view_moves_on_when_touched,
    a_cleanup_deletes_the_console_sessions_that_ended_by_time_in_every_app,
);

const IDLE: Duration = Duration::from_secs(30 * 60);
const LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// A session of `app_id` signed in at `at`, last seen then.
fn session(app_id: &AppId, at: Timestamp) -> ConsoleSessionRecord {
    ConsoleSessionRecord {
        app_id: app_id.clone(),
        user_id: UserId::generate(),
        session_epoch: 2,
        created_at: at,
        last_seen_at: at,
        expires_at: at.plus(LIFETIME),
    }
}

/// Stores `record` under a new id; the id's hash.
async fn stored(store: &dyn Store, record: &ConsoleSessionRecord) -> TokenHash {
    let hash = ConsoleSessionToken::generate().hash();
    store.create_console_session(&hash, record).await.expect("create");
    hash
}

pub async fn a_console_session_is_found_by_its_hash_until_it_is_deleted(store: &dyn Store) {
    let app = app(store).await;
    let record = session(&app.id, T0);
    let hash = stored(store, &record).await;
    let other = stored(store, &session(&app.id, T0)).await;

    assert_eq!(store.console_session(&hash).await.expect("read"), Some(record.clone()), "read back as stored");
    assert_eq!(store.console_session(&ConsoleSessionToken::generate().hash()).await.expect("read"), None);

    assert!(store.delete_console_session(&hash).await.expect("delete"));
    assert!(!store.delete_console_session(&hash).await.expect("delete"), "deleted once");
    assert_eq!(store.console_session(&hash).await.expect("read"), None, "gone after sign-out");
    assert!(store.console_session(&other).await.expect("read").is_some(), "another session stays");
    assert!(!store.touch_console_session(&hash, T0).await.expect("touch"), "a deleted session is not brought back");
    assert_eq!(store.console_session(&hash).await.expect("read"), None);
}

pub async fn a_console_sessions_last_page_view_moves_on_when_touched(store: &dyn Store) {
    let app = app(store).await;
    let record = session(&app.id, T0);
    let hash = stored(store, &record).await;
    let later = T0.plus(Duration::from_secs(90));

    assert!(store.touch_console_session(&hash, later).await.expect("touch"));

    let read = store.console_session(&hash).await.expect("read").expect("the session");
    assert_eq!(read, ConsoleSessionRecord { last_seen_at: later, ..record }, "only the last page view changed");
}

pub async fn a_cleanup_deletes_the_console_sessions_that_ended_by_time_in_every_app(store: &dyn Store) {
    let (first, second) = (app(store).await, app(store).await);
    let now = T0.plus(LIFETIME);
    let ms = Duration::from_millis(1);
    let at = |app_id: &AppId, last_seen_at: Timestamp, expires_at: Timestamp| ConsoleSessionRecord {
        last_seen_at,
        expires_at,
        ..session(app_id, T0)
    };
    // (case, the session, whether the cleanup at `now` deletes it)
    let cases = [
        ("fresh", at(&first.id, now.minus(ms), now.plus(IDLE)), false),
        ("idle a moment short of the timeout", at(&first.id, now.minus(IDLE - ms), now.plus(IDLE)), false),
        ("idle for the timeout", at(&first.id, now.minus(IDLE), now.plus(IDLE)), true),
        ("expires now", at(&first.id, now.minus(ms), now), true),
        ("expired, in another app", at(&second.id, now.minus(ms), now.minus(ms)), true),
        ("idle, in another app", at(&second.id, now.minus(IDLE * 2), now.plus(IDLE)), true),
        ("fresh, in another app", at(&second.id, now.minus(ms), now.plus(ms)), false),
    ];
    let ended = ended_sessions(now, IDLE);
    let mut hashes = Vec::new();
    for (case, record, deleted) in &cases {
        assert_eq!(ended.contains(record), *deleted, "the rule agrees with the table: {case}");
        hashes.push(stored(store, record).await);
    }

    let deleted = store.delete_ended_console_sessions(ended).await.expect("cleanup");

    assert_eq!(deleted, 4);
    for ((case, record, is_deleted), hash) in cases.iter().zip(&hashes) {
        let left = store.console_session(hash).await.expect("read");
        assert_eq!(left, (!is_deleted).then(|| record.clone()), "{case}");
    }
}
