//! Counting attempts per key in fixed windows, with attempts counted (reserved) *before* the
//! work they ask for runs.
//!
//! A throttle that reads its counter before the slow work (argon2) and writes it after lets a
//! burst through: N simultaneous attempts all read "no failures yet". Here an attempt takes a
//! place in its window first (`in_flight`), under the same lock as the check, so of N
//! simultaneous attempts at most the allowance get to the work; the others are refused at
//! once. When the work is done the place becomes a counted failure, or is given back.
//!
//! The counts live in memory, per server instance (ARCHITECTURE.md, "Sign-in throttling is
//! per instance").

use std::collections::HashMap;
use std::time::Duration;

use crate::clock::Timestamp;

/// Tracked keys beyond which ended windows are dropped.
const PRUNE_AT: usize = 10_000;

/// One key's window.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// Attempts that count against the allowance until the window ends.
    counted: u32,
    /// Attempts reserved and not yet settled: they count too.
    in_flight: u32,
    /// When the window started.
    since: Timestamp,
}

/// How a reserved attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// It failed (or was abandoned): it stays counted until the window ends.
    Failed,
    /// It succeeded: earlier failures are forgotten, unless other attempts for the key are
    /// still in flight (a burst must not reopen its own allowance with one right guess).
    Succeeded,
    /// It is given back without counting.
    Released,
}

/// Attempts per key in windows of a fixed length.
#[derive(Debug)]
pub struct Counter {
    window: Duration,
    keys: HashMap<String, Window>,
}

impl Counter {
    /// A counter whose windows last `window`.
    pub fn new(window: Duration) -> Self {
        Self { window, keys: HashMap::new() }
    }

    /// The live window of `key` at `now`; an ended one is dropped (or restarted, if attempts
    /// are still in flight).
    fn live(&mut self, key: &str, now: Timestamp) -> Option<&mut Window> {
        let window = self.window;
        let entry = self.keys.get_mut(key)?;
        if entry.since.plus(window) <= now {
            if entry.in_flight == 0 {
                self.keys.remove(key);
                return None;
            }
            *entry = Window { counted: 0, in_flight: entry.in_flight, since: now };
        }
        self.keys.get_mut(key)
    }

    /// How long `key` must wait, if its counted and in-flight attempts reach `limit`.
    pub fn blocked_for(&mut self, key: &str, limit: u32, now: Timestamp) -> Option<Duration> {
        let window = self.window;
        let entry = self.live(key, now)?;
        (entry.counted + entry.in_flight >= limit).then(|| now.until(entry.since.plus(window)))
    }

    /// Takes a place for one attempt of `key`, to be settled with [`Counter::settle`].
    pub fn reserve(&mut self, key: &str, now: Timestamp) {
        self.entry(key, now).in_flight += 1;
    }

    /// Counts one attempt of `key` that needs no settling (an allowance of actions).
    pub fn count(&mut self, key: &str, now: Timestamp) {
        self.entry(key, now).counted += 1;
    }

    /// Ends a reserved attempt of `key`.
    pub fn settle(&mut self, key: &str, how: Settled, now: Timestamp) {
        let Some(entry) = self.live(key, now) else { return };
        entry.in_flight = entry.in_flight.saturating_sub(1);
        match how {
            Settled::Failed => entry.counted += 1,
            Settled::Succeeded if entry.in_flight == 0 => entry.counted = 0,
            Settled::Succeeded | Settled::Released => {}
        }
        if entry.counted == 0 && entry.in_flight == 0 {
            self.keys.remove(key);
        }
    }

    fn entry(&mut self, key: &str, now: Timestamp) -> &mut Window {
        // Bounded memory under a flood of made-up keys: forget windows that ended.
        if self.keys.len() >= PRUNE_AT {
            let window = self.window;
            self.keys.retain(|_, entry| entry.in_flight > 0 || entry.since.plus(window) > now);
        }
        if self.live(key, now).is_none() {
            self.keys.insert(key.to_owned(), Window { counted: 0, in_flight: 0, since: now });
        }
        self.keys.get_mut(key).expect("inserted above")
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(15 * 60);

    #[test]
    fn reserved_attempts_count_before_they_are_settled() {
        let mut counter = Counter::new(WINDOW);
        let start = Timestamp::from_millis(0);

        let admitted = (0..40)
            .filter(|_| {
                let blocked = counter.blocked_for("k", 5, start).is_some();
                if !blocked {
                    counter.reserve("k", start);
                }
                !blocked
            })
            .count();

        assert_eq!(admitted, 5);
        assert_eq!(counter.blocked_for("k", 5, start), Some(WINDOW));
    }

    #[test]
    fn failures_block_at_the_limit_and_are_forgotten_after_the_window() {
        let mut counter = Counter::new(WINDOW);
        let start = Timestamp::from_millis(0);
        for _ in 0..5 {
            assert_eq!(counter.blocked_for("k", 5, start), None);
            counter.reserve("k", start);
            counter.settle("k", Settled::Failed, start);
        }

        assert_eq!(counter.blocked_for("k", 5, start), Some(WINDOW));
        assert_eq!(counter.blocked_for("k", 5, start.plus(WINDOW)), None);
    }

    #[test]
    fn a_success_forgets_failures_only_when_nothing_else_is_in_flight() {
        let mut counter = Counter::new(WINDOW);
        let now = Timestamp::from_millis(0);
        counter.reserve("k", now);
        counter.settle("k", Settled::Failed, now);
        counter.reserve("k", now);
        counter.reserve("k", now);

        counter.settle("k", Settled::Succeeded, now);

        assert_eq!(counter.blocked_for("k", 2, now), Some(WINDOW), "one failure and one in flight");
        counter.settle("k", Settled::Released, now);
        counter.reserve("k", now);
        counter.settle("k", Settled::Succeeded, now);
        assert_eq!(counter.len(), 0);
    }

    #[test]
    fn ended_windows_are_dropped_when_many_keys_pile_up() {
        let mut counter = Counter::new(WINDOW);
        let start = Timestamp::from_millis(0);
        for n in 0..PRUNE_AT {
            counter.count(&format!("k{n}"), start);
        }

        counter.count("late", start.plus(WINDOW));

        assert_eq!(counter.len(), 1);
    }
}
