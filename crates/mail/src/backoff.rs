//! When to try a failed delivery again: exponential backoff with jitter, giving up eventually.

use std::time::Duration;

use usher_core::Timestamp;

/// How failed deliveries are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay after the first failed attempt; it doubles with each further failure.
    pub base: Duration,
    /// Longest delay between two attempts.
    pub cap: Duration,
    /// A message not delivered this long after it was queued fails for good.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    /// 30 s doubling to 1 h, giving up after 24 h.
    fn default() -> Self {
        Self {
            base: Duration::from_secs(30),
            cap: Duration::from_secs(60 * 60),
            give_up_after: Duration::from_secs(24 * 60 * 60),
        }
    }
}

impl RetryPolicy {
    /// The delay after `attempts` failed attempts (1 for the first failure), before jitter.
    pub fn delay(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        self.base.saturating_mul(1 << doublings).min(self.cap)
    }

    /// When to retry a message queued at `queued_at` after its `attempts`-th failure at `now`,
    /// with `jitter` in `0..=1` spreading retries over ±20 %; `None` once retrying would go
    /// past `give_up_after`.
    pub fn retry_at(&self, queued_at: Timestamp, attempts: u32, now: Timestamp, jitter: f64) -> Option<Timestamp> {
        let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
        let next = now.plus(self.delay(attempts).mul_f64(factor));
        (next <= queued_at.plus(self.give_up_after)).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_from_thirty_seconds_up_to_an_hour_by_default() {
        let policy = RetryPolicy::default();

        let secs: Vec<u64> = (1..=9).map(|n| policy.delay(n).as_secs()).collect();

        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(policy.delay(u32::MAX), policy.cap);
    }

    #[test]
    fn retry_at_spreads_by_jitter_within_twenty_percent() {
        let now = Timestamp::from_millis(1_000_000);
        let policy = RetryPolicy::default();

        let early = policy.retry_at(now, 1, now, 0.0).expect("retry");
        let late = policy.retry_at(now, 1, now, 1.0).expect("retry");

        assert_eq!(now.until(early), Duration::from_secs(24));
        assert_eq!(now.until(late), Duration::from_secs(36));
    }

    #[test]
    fn retry_at_gives_up_when_the_next_attempt_would_be_past_the_limit() {
        let policy = RetryPolicy::default();
        let queued = Timestamp::from_millis(0);
        let almost_a_day = queued.plus(policy.give_up_after - Duration::from_secs(1800));

        assert!(policy.retry_at(queued, 20, almost_a_day, 0.0).is_none());
        assert!(policy.retry_at(queued, 1, almost_a_day, 0.5).is_some());
    }

    #[test]
    fn policy_follows_a_configured_base_and_cap() {
        let policy =
            RetryPolicy { base: Duration::from_secs(5), cap: Duration::from_secs(12), ..RetryPolicy::default() };

        assert_eq!([policy.delay(1), policy.delay(2), policy.delay(3)].map(|d| d.as_secs()), [5, 10, 12]);
    }
}
