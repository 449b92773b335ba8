//! Rate limits for log lines that a peer can cause again and again (a
//! stranger or a misconfigured peer reconnecting, a peer sending frames we
//! refuse). Only the log is limited: every occurrence is still counted
//! where it happens (`generals status` shows the counters).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The first line for a key is logged at once; after it, one line per
/// step, with the number of occurrences not logged since the last line.
/// The step doubles from `min` to `max` while the key keeps recurring, and
/// starts over at `min` once the key has been quiet for `max`.
///
/// Pure: the caller passes the time, so tests drive it with any clock.
#[derive(Debug)]
pub struct LogLimiter<K> {
    entries: HashMap<K, Step>,
    min: Duration,
    max: Duration,
    capacity: usize,
}

/// The default steps: 1 s doubling to 30 s, the same as a refused dialer's
/// backoff, so a misconfigured peer's retries and the lines they cause keep
/// one pace.
pub const STEP_MIN: Duration = Duration::from_secs(1);
pub const STEP_MAX: Duration = Duration::from_secs(30);
/// Keys remembered by default: per address and claimed id, or per peer and kind.
pub const ENTRIES: usize = 4096;

impl<K: Hash + Eq> Default for LogLimiter<K> {
    fn default() -> Self {
        LogLimiter::new(STEP_MIN, STEP_MAX, ENTRIES)
    }
}

#[derive(Debug)]
struct Step {
    interval: Duration,
    next: Instant,
    suppressed: u64,
}

impl<K: Hash + Eq> LogLimiter<K> {
    /// Steps from `min` to `max`; at most `capacity` keys are remembered
    /// (past it, the quiet ones are forgotten first, so a scan from many
    /// addresses costs bounded memory and at worst logs a key again).
    pub fn new(min: Duration, max: Duration, capacity: usize) -> Self {
        LogLimiter {
            entries: HashMap::new(),
            min,
            max: max.max(min),
            capacity: capacity.max(1),
        }
    }

    /// `Some(occurrences not logged since the last line)` if this one is to
    /// be logged, `None` if it falls inside the current step.
    pub fn admit(&mut self, key: K, now: Instant) -> Option<u64> {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            let max = self.max;
            self.entries.retain(|_, s| now < s.next + max);
            if self.entries.len() >= self.capacity {
                self.entries.clear();
            }
        }
        let step = self.entries.entry(key).or_insert(Step {
            interval: Duration::ZERO,
            next: now,
            suppressed: 0,
        });
        if now < step.next {
            step.suppressed += 1;
            return None;
        }
        // A key quiet for a whole step starts over.
        step.interval = if now >= step.next + self.max {
            self.min
        } else {
            (step.interval * 2).clamp(self.min, self.max)
        };
        step.next = now + step.interval;
        Some(std::mem::take(&mut step.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> LogLimiter<(u8, &'static str)> {
        LogLimiter::default()
    }

    #[test]
    fn a_recurring_key_is_logged_once_per_doubling_step_and_every_one_is_counted() {
        let mut log = limiter();
        let t0 = Instant::now();
        let key = (3, "tampered");
        // Every 100 ms for a minute: logged at 0, 1, 3, 7, 15, 31 s.
        let mut logged = Vec::new();
        let mut suppressed = 0;
        for i in 0..600u64 {
            if let Some(s) = log.admit(key, t0 + Duration::from_millis(100 * i)) {
                logged.push(i / 10);
                suppressed += s;
            }
        }
        assert_eq!(logged, [0, 1, 3, 7, 15, 31]);
        // Each line but the first reports what the step before held back;
        // the last step's 289 are still pending for the next line.
        assert_eq!(suppressed, 9 + 19 + 39 + 79 + 159);
        assert_eq!(logged.len() as u64 + suppressed + 289, 600);
        // After a quiet spell the steps start over, and the first line
        // carries everything held back since the last one.
        let later = t0 + Duration::from_secs(600);
        assert_eq!(log.admit(key, later), Some(289));
        assert_eq!(log.admit(key, later + Duration::from_millis(500)), None);
        assert_eq!(log.admit(key, later + Duration::from_secs(1)), Some(1));
    }

    #[test]
    fn keys_are_limited_separately() {
        let mut log = limiter();
        let t0 = Instant::now();
        assert_eq!(log.admit((3, "tampered"), t0), Some(0));
        assert_eq!(log.admit((3, "tampered"), t0), None);
        // The same peer with another kind, and another peer with the same kind.
        assert_eq!(log.admit((3, "bad_ticket"), t0), Some(0));
        assert_eq!(log.admit((4, "tampered"), t0), Some(0));
    }

    #[test]
    fn memory_is_bounded_and_a_full_table_forgets_quiet_keys_first() {
        let mut log = LogLimiter::new(Duration::from_secs(1), Duration::from_secs(30), 4);
        let t0 = Instant::now();
        for k in 0..4u32 {
            assert_eq!(log.admit(k, t0), Some(0));
        }
        // Key 0 recurs at 20 s (its next step ends at 22 s); the others go quiet.
        assert_eq!(log.admit(0, t0 + Duration::from_secs(20)), Some(0));
        let later = t0 + Duration::from_secs(40);
        assert_eq!(log.admit(9, later), Some(0));
        assert_eq!(log.entries.len(), 2, "only the quiet keys were forgotten");
        assert!(log.entries.contains_key(&0) && log.entries.contains_key(&9));
        // A full table of busy keys is cleared rather than grown.
        let mut log = LogLimiter::new(Duration::from_secs(1), Duration::from_secs(30), 2);
        for k in 0..100u32 {
            log.admit(k, t0);
            assert!(log.entries.len() <= 2);
        }
    }
}
