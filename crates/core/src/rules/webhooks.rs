//! What one webhook delivery attempt leaves: delivered, tried again after a pause that grows
//! with every attempt, or given up and marked failed after [`MAX_ATTEMPTS`].

use std::time::Duration;

use crate::clock::Timestamp;

/// How long one attempt may take, connection included; longer counts as a failure.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The pause before attempt n + 2 after attempt n + 1 failed (the schedule of the Standard
/// Webhooks recommendation, starting sooner): about 28 hours from the first attempt to the
/// last.
const RETRY_AFTER_SECS: [u64; 9] = [1, 5, 30, 120, 600, 1800, 7200, 18000, 36000];

/// Attempts before a delivery is given up and marked failed.
pub const MAX_ATTEMPTS: u32 = RETRY_AFTER_SECS.len() as u32 + 1;

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    /// The endpoint answered with this status.
    Answered(u16),
    /// No answer: connection refused, refused destination, TLS, timeout, …
    NoAnswer(String),
}

/// What to record for the attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptPlan {
    /// 2xx: done.
    Delivered,
    /// Try again at this time.
    RetryAt(Timestamp),
    /// That was the last attempt: failed for good.
    GiveUp,
}

/// Decides what attempt number `attempts` (counting from 1), which ended with `result` at
/// `now`, leaves.
pub fn after_attempt(attempts: u32, result: &AttemptResult, now: Timestamp) -> AttemptPlan {
    if let AttemptResult::Answered(status) = result
        && (200..300).contains(status)
    {
        return AttemptPlan::Delivered;
    }
    match attempts.checked_sub(1).and_then(|index| RETRY_AFTER_SECS.get(index as usize)) {
        Some(&secs) => AttemptPlan::RetryAt(now.plus(Duration::from_secs(secs))),
        None => AttemptPlan::GiveUp,
    }
}

/// The error recorded for an attempt, if it failed.
pub fn attempt_error(result: &AttemptResult) -> Option<String> {
    match result {
        AttemptResult::Answered(status) if (200..300).contains(status) => None,
        AttemptResult::Answered(status) => Some(format!("the endpoint answered {status}")),
        AttemptResult::NoAnswer(error) => Some(error.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_000_000);

    #[test]
    fn a_2xx_delivers_whatever_the_attempt() {
        for status in [200, 201, 204, 299] {
            assert_eq!(after_attempt(1, &AttemptResult::Answered(status), NOW), AttemptPlan::Delivered);
            assert_eq!(after_attempt(MAX_ATTEMPTS, &AttemptResult::Answered(status), NOW), AttemptPlan::Delivered);
        }
    }

    #[test]
    fn failures_back_off_then_give_up() {
        let failures = [
            AttemptResult::Answered(500),
            AttemptResult::Answered(404),
            AttemptResult::Answered(301),
            AttemptResult::NoAnswer("timed out".into()),
        ];
        for failure in &failures {
            assert_eq!(after_attempt(1, failure, NOW), AttemptPlan::RetryAt(NOW.plus(Duration::from_secs(1))));
            assert_eq!(after_attempt(2, failure, NOW), AttemptPlan::RetryAt(NOW.plus(Duration::from_secs(5))));
            assert_eq!(
                after_attempt(MAX_ATTEMPTS - 1, failure, NOW),
                AttemptPlan::RetryAt(NOW.plus(Duration::from_secs(36000)))
            );
            assert_eq!(after_attempt(MAX_ATTEMPTS, failure, NOW), AttemptPlan::GiveUp);
            assert!(attempt_error(failure).is_some());
        }
        assert_eq!(attempt_error(&AttemptResult::Answered(204)), None);
    }
}
