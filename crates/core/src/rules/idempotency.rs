//! `Idempotency-Key` (the IETF httpapi draft): what a keyed request finds, decided once for
//! both backends.
//!
//! The first request with a key claims it (its fingerprint, a lock while it runs, an expiry);
//! the response it ends with is stored under the key. A repeat with the same fingerprint gets
//! that response again, a repeat with another fingerprint is refused, and a repeat while the
//! first still runs is told so. A claim whose lock ran out without a response (its process
//! stopped) may be taken over, and an expired key is as good as none.
//!
//! The response is written in the same transaction as the work it answers ([`complete`] says
//! what that transaction writes under the key), so a crash leaves either both or neither. Not
//! every response is kept: a 429 (a throttle, the daily allowance) says "not now, try again in
//! `Retry-After` seconds", and replaying it for a day would make that retry fail for a day; a
//! 5xx says nothing was done. Both release the key instead, so the retry with it runs again
//! (the draft leaves the handling of 429 and 5xx to the server's documentation).

use std::time::Duration;

use crate::clock::Timestamp;

/// How long a key and its response are kept.
pub const KEEP_FOR: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a claim stays locked without a response before another request may take it over
/// (its process is then presumed gone).
pub const LOCK_FOR: Duration = Duration::from_secs(60);

/// A response stored under a key, replayed as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: String,
}

/// What the store found under the key, inside the claim's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The fingerprint of the request that claimed it.
    pub fingerprint: String,
    /// Its response, once it has one.
    pub response: Option<StoredResponse>,
    /// Until when the claim is locked while its request runs.
    pub locked_until: Timestamp,
    /// When the key is forgotten.
    pub expires_at: Timestamp,
}

/// What a claim does, decided by [`claim_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimPlan {
    /// The key is (now) this request's: store it with this fingerprint, locked until
    /// `locked_until`, kept until `expires_at`, replacing whatever expired or stale claim was
    /// there.
    Claim {
        /// Until when it is locked.
        locked_until: Timestamp,
        /// When it is forgotten.
        expires_at: Timestamp,
    },
    /// The same request was answered already: answer this again; nothing is written.
    Replay(StoredResponse),
    /// The key was used with another request (422 `IDEMPOTENCY_KEY_REUSED`); nothing is written.
    Reused,
    /// The first request with the key still runs (409 `IDEMPOTENCY_KEY_IN_USE`); nothing is
    /// written.
    InUse,
}

/// Decides a request with `fingerprint` claiming a key under which `found` is stored, at `now`.
pub fn claim_key(found: Option<&StoredKey>, fingerprint: &str, now: Timestamp) -> ClaimPlan {
    let claim = ClaimPlan::Claim { locked_until: now.plus(LOCK_FOR), expires_at: now.plus(KEEP_FOR) };
    let Some(found) = found.filter(|found| found.expires_at > now) else { return claim };
    if found.fingerprint != fingerprint {
        return ClaimPlan::Reused;
    }
    match &found.response {
        Some(response) => ClaimPlan::Replay(response.clone()),
        None if found.locked_until > now => ClaimPlan::InUse,
        None => claim,
    }
}

/// What the transaction that did a keyed request's work writes under its key, decided by
/// [`complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// Store this response: repeats get it again.
    Store(StoredResponse),
    /// Drop the claim: a repeat runs again (see [`keeps`]).
    Release,
}

/// Whether a response with `status` is kept under its key: everything but 429 and 5xx.
pub fn keeps(status: u16) -> bool {
    !(status == 429 || status >= 500)
}

/// What is written under the key of a request that answered `response`.
pub fn complete(response: StoredResponse) -> Completion {
    if keeps(response.status) { Completion::Store(response) } else { Completion::Release }
}

/// What one keyed row of a bulk invite does, decided by [`plan_rows`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowPlan {
    /// Invite the row (it has no key, or its key is free): its result is then stored under
    /// its key in the batch's transaction, as [`keep_row`] decides.
    Run,
    /// The same row was answered already: its stored result again; nothing is written.
    Replay(StoredResponse),
    /// The key was used with another row or request (`IDEMPOTENCY_KEY_REUSED`).
    Reused,
    /// The key's first request still runs (`IDEMPOTENCY_KEY_IN_USE`).
    InUse,
}

/// Decides every row of one bulk request, in order: `rows` holds each row's key and
/// fingerprint (`None`: the row has no key and runs), `found` what the store holds under a
/// key. A key claimed by an earlier row of the same request counts as in flight for the later
/// rows: the same row again is `InUse`, another row under it `Reused`, so one request never
/// invites twice under one key.
pub fn plan_rows(
    rows: &[Option<(&str, &str)>],
    found: impl Fn(&str) -> Option<StoredKey>,
    now: Timestamp,
) -> Vec<RowPlan> {
    let mut claimed_here = std::collections::HashMap::<&str, StoredKey>::new();
    rows.iter()
        .map(|row| {
            let Some((key, fingerprint)) = *row else { return RowPlan::Run };
            let stored = claimed_here.get(key).cloned().or_else(|| found(key));
            match claim_key(stored.as_ref(), fingerprint, now) {
                ClaimPlan::Claim { locked_until, expires_at } => {
                    let claim =
                        StoredKey { fingerprint: fingerprint.to_owned(), response: None, locked_until, expires_at };
                    claimed_here.insert(key, claim);
                    RowPlan::Run
                }
                ClaimPlan::Replay(response) => RowPlan::Replay(response),
                ClaimPlan::Reused => RowPlan::Reused,
                ClaimPlan::InUse => RowPlan::InUse,
            }
        })
        .collect()
}

/// What the batch's transaction writes under the key of a row that ran with `fingerprint` and
/// answered `response`: the finished key (kept 24 h, not locked), or `None` when the response
/// is not kept ([`keeps`]) and the key is dropped, so that the row runs again next time.
pub fn keep_row(fingerprint: &str, response: StoredResponse, now: Timestamp) -> Option<StoredKey> {
    keeps(response.status).then(|| StoredKey {
        fingerprint: fingerprint.to_owned(),
        response: Some(response),
        locked_until: now,
        expires_at: now.plus(KEEP_FOR),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn stored(fingerprint: &str, response: Option<u16>, locked_until: i64, expires_at: i64) -> StoredKey {
        StoredKey {
            fingerprint: fingerprint.into(),
            response: response.map(|status| StoredResponse { status, body: "{}".into() }),
            locked_until: at(locked_until),
            expires_at: at(expires_at),
        }
    }

    fn claimed() -> ClaimPlan {
        ClaimPlan::Claim { locked_until: at(NOW).plus(LOCK_FOR), expires_at: at(NOW).plus(KEEP_FOR) }
    }

    #[test]
    fn the_case_table() {
        let replay = ClaimPlan::Replay(StoredResponse { status: 200, body: "{}".into() });
        let cases: [(&str, Option<StoredKey>, ClaimPlan); 8] = [
            ("a new key is claimed", None, claimed()),
            ("the same request answered is replayed", Some(stored("f", Some(200), NOW - 1, NOW + 1)), replay),
            (
                "a refusal is replayed as well",
                Some(stored("f", Some(409), NOW - 1, NOW + 1)),
                ClaimPlan::Replay(StoredResponse { status: 409, body: "{}".into() }),
            ),
            (
                "another request under the key is refused",
                Some(stored("g", Some(200), NOW - 1, NOW + 1)),
                ClaimPlan::Reused,
            ),
            (
                "another request is refused while the first runs",
                Some(stored("g", None, NOW + 1, NOW + 1)),
                ClaimPlan::Reused,
            ),
            (
                "the same request while the first runs is told so",
                Some(stored("f", None, NOW + 1, NOW + 10)),
                ClaimPlan::InUse,
            ),
            ("a claim whose process is gone is taken over", Some(stored("f", None, NOW, NOW + 10)), claimed()),
            ("an expired key is as good as none", Some(stored("g", Some(200), NOW - 1, NOW)), claimed()),
        ];
        for (case, found, expected) in cases {
            assert_eq!(claim_key(found.as_ref(), "f", at(NOW)), expected, "{case}");
        }
    }

    #[test]
    fn which_responses_are_kept() {
        let cases: [(&str, u16, bool); 7] = [
            ("a success is kept", 200, true),
            ("a refusal of the request is kept", 400, true),
            ("a refusal of the caller is kept", 403, true),
            ("not found is kept", 404, true),
            ("a throttle is not: its Retry-After would be replayed stale", 429, false),
            ("a server failure is not: nothing was done", 500, false),
            ("an outage is not: nothing was written", 503, false),
        ];
        for (case, status, kept) in cases {
            let response = StoredResponse { status, body: "{}".into() };
            let expected = if kept { Completion::Store(response.clone()) } else { Completion::Release };
            assert_eq!(complete(response), expected, "{case}");
            assert_eq!(keeps(status), kept, "{case}");
        }
    }
    #[test]
    fn the_row_case_table() {
        let answered = |fp: &str| stored(fp, Some(200), NOW - 1, NOW + 1);
        let replay = RowPlan::Replay(StoredResponse { status: 200, body: "{}".into() });
        let found = |key: &str| match key {
            "done" => Some(answered("f")),
            "other" => Some(answered("g")),
            "running" => Some(stored("f", None, NOW + 1, NOW + 10)),
            "stale" => Some(stored("f", None, NOW, NOW + 10)),
            "expired" => Some(stored("g", Some(200), NOW - 1, NOW)),
            _ => None,
        };
        // Each row: its key and fingerprint, or none.
        type Rows<'a> = Vec<Option<(&'a str, &'a str)>>;
        let cases: [(&str, Rows, Vec<RowPlan>); 9] = [
            ("a row without a key runs", vec![None], vec![RowPlan::Run]),
            ("a row with a new key runs", vec![Some(("new", "f"))], vec![RowPlan::Run]),
            ("the same row answered is replayed", vec![Some(("done", "f"))], vec![replay.clone()]),
            ("another row under an answered key is refused", vec![Some(("other", "f"))], vec![RowPlan::Reused]),
            (
                "the same row while its first request runs is told so",
                vec![Some(("running", "f"))],
                vec![RowPlan::InUse],
            ),
            ("a claim whose process is gone is taken over", vec![Some(("stale", "f"))], vec![RowPlan::Run]),
            ("an expired key is as good as none", vec![Some(("expired", "f"))], vec![RowPlan::Run]),
            (
                "a key twice in one request: the later row is in use (same row) or reused (another)",
                vec![Some(("new", "f")), Some(("new", "f")), Some(("new", "h"))],
                vec![RowPlan::Run, RowPlan::InUse, RowPlan::Reused],
            ),
            (
                "a mixed batch: each row on its own",
                vec![None, Some(("done", "f")), Some(("new", "f")), Some(("other", "f")), Some(("running", "f"))],
                vec![RowPlan::Run, replay.clone(), RowPlan::Run, RowPlan::Reused, RowPlan::InUse],
            ),
        ];
        for (case, rows, expected) in cases {
            assert_eq!(plan_rows(&rows, found, at(NOW)), expected, "{case}");
        }
    }

    #[test]
    fn what_a_row_that_ran_keeps() {
        let response = |status| StoredResponse { status, body: "{}".into() };
        let kept = StoredKey {
            fingerprint: "f".into(),
            response: Some(response(200)),
            locked_until: at(NOW),
            expires_at: at(NOW).plus(KEEP_FOR),
        };
        assert_eq!(keep_row("f", response(200), at(NOW)), Some(kept), "a result is kept for 24 h, unlocked");
        assert!(keep_row("f", response(403), at(NOW)).is_some(), "a refusal of the row is kept");
        assert_eq!(keep_row("f", response(429), at(NOW)), None, "a throttled row is not: it runs again");
    }
}
