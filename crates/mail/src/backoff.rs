//! When to try a failed delivery again: exponential backoff with jitter, giving up after a day.

use std::time::Duration;

use usher_core::Timestamp;

/// Delay after the first failed attempt.
const BASE: Duration = Duration::from_secs(30);
/// Longest delay between two attempts.
const CAP: Duration = Duration::from_secs(60 * 60);
/// A message not delivered this long after it was queued fails for good.
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// The delay after `attempts` failed attempts (1 for the first failure), before jitter:
/// 30 s, 60 s, 120 s, … capped at one hour.
pub fn delay(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    BASE.saturating_mul(1 << doublings).min(CAP)
}

/// When to retry a message queued at `queued_at` after its `attempts`-th failure at `now`,
/// with `jitter` in `0..=1` spreading retries over ±20 %; `None` once it is past a day old.
pub fn retry_at(queued_at: Timestamp, attempts: u32, now: Timestamp, jitter: f64) -> Option<Timestamp> {
    let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    let next = now.plus(delay(attempts).mul_f64(factor));
    (next <= queued_at.plus(GIVE_UP_AFTER)).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_from_thirty_seconds_up_to_an_hour() {
        let secs: Vec<u64> = (1..=9).map(|n| delay(n).as_secs()).collect();

        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(delay(u32::MAX), CAP);
    }

    #[test]
    fn retry_at_spreads_by_jitter_within_twenty_percent() {
        let now = Timestamp::from_millis(1_000_000);

        let early = retry_at(now, 1, now, 0.0).expect("retry");
        let late = retry_at(now, 1, now, 1.0).expect("retry");

        assert_eq!(now.until(early), Duration::from_secs(24));
        assert_eq!(now.until(late), Duration::from_secs(36));
    }

    #[test]
    fn retry_at_gives_up_when_the_next_attempt_is_more_than_a_day_after_queueing() {
        let queued = Timestamp::from_millis(0);
        let almost_a_day = queued.plus(GIVE_UP_AFTER - Duration::from_secs(1800));

        assert!(retry_at(queued, 20, almost_a_day, 0.0).is_none());
        assert!(retry_at(queued, 1, almost_a_day, 0.5).is_some());
    }
}
