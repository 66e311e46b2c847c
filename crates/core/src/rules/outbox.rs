//! Delivery bookkeeping (ARCHITECTURE.md, "Claims end with their owner"): what a failed
//! delivery attempt leaves behind, and when an instance may judge the others.

use std::time::Duration;

use crate::clock::Timestamp;

/// What the store read about a message whose delivery attempt failed.
#[derive(Debug, Clone, Copy)]
pub struct FailedAttempt {
    /// True when the instance reporting the failure still holds the message's claim.
    pub holds_claim: bool,
    /// True when the message was cancelled, or its invitation re-sent since (a newer message
    /// carries the current link).
    pub is_replaced: bool,
    /// When to try again, if the failure was one worth retrying.
    pub retry_at: Option<Timestamp>,
}

/// What a failed attempt writes, decided by [`record_failed_attempt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePlan {
    /// Nothing: the reporter lost its claim (it was presumed dead), the message is another's.
    Ignore,
    /// The message ends `cancelled`: its link no longer works.
    Cancel,
    /// The message is queued again, due at this time.
    Retry(Timestamp),
    /// The message ends `failed`, for good.
    GiveUp,
}

/// Decides what a failed attempt leaves: nothing for a lost claim; a replaced message is
/// cancelled rather than retried; otherwise retried when a time is given, else given up.
pub fn record_failed_attempt(attempt: FailedAttempt) -> FailurePlan {
    match attempt {
        FailedAttempt { holds_claim: false, .. } => FailurePlan::Ignore,
        FailedAttempt { is_replaced: true, .. } => FailurePlan::Cancel,
        FailedAttempt { retry_at: Some(at), .. } => FailurePlan::Retry(at),
        FailedAttempt { retry_at: None, .. } => FailurePlan::GiveUp,
    }
}

/// True when an instance whose unbroken run of heartbeats began at `alive_since` may presume
/// dead the instances whose heartbeat is older than `dead_after`: only after a whole
/// `dead_after` of its own, so a database outage (which silences everyone) does not get live
/// instances presumed dead when it ends.
pub fn may_judge_others(alive_since: Timestamp, now: Timestamp, dead_after: Duration) -> bool {
    alive_since <= now.minus(dead_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    #[test]
    fn failed_attempt_is_ignored_cancelled_retried_or_given_up() {
        let attempt = |holds_claim, is_replaced, retry_at| FailedAttempt { holds_claim, is_replaced, retry_at };
        let cases = [
            (attempt(false, false, Some(NOW)), FailurePlan::Ignore),
            (attempt(false, true, None), FailurePlan::Ignore),
            (attempt(true, true, Some(NOW)), FailurePlan::Cancel),
            (attempt(true, false, Some(NOW)), FailurePlan::Retry(NOW)),
            (attempt(true, false, None), FailurePlan::GiveUp),
        ];
        for (attempt, expected) in cases {
            assert_eq!(record_failed_attempt(attempt), expected, "{attempt:?}");
        }
    }

    #[test]
    fn an_instance_judges_others_only_after_a_whole_lease_of_its_own() {
        let lease = Duration::from_secs(15);

        assert!(!may_judge_others(NOW.minus(lease / 2), NOW, lease));
        assert!(may_judge_others(NOW.minus(lease), NOW, lease));
    }
}
