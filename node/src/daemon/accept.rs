//! What every accept loop does when `accept` fails: wait, longer each time,
//! and say so in the log at a bounded pace.
//!
//! The usual failure is running out of file descriptors (EMFILE, ENFILE):
//! the pending connection stays queued, so retrying at once fails again at
//! once. Without a pause the loop spins a core and writes a log line per
//! turn (1.45 million lines in 3.5 s was seen on the control socket).

use std::io;
use std::time::{Duration, Instant};

use tracing::warn;

use super::log_limit::LogLimiter;

/// The first pause after a failure; it doubles while failures continue.
pub const PAUSE_MIN: Duration = Duration::from_millis(10);
/// The longest pause: a loop out of descriptors still retries once a second.
pub const PAUSE_MAX: Duration = Duration::from_secs(1);

/// One accept loop's state of failure. Pure but for [`AcceptBackoff::failed`],
/// which logs and sleeps.
#[derive(Debug)]
pub struct AcceptBackoff {
    /// Which listener, for the log ("peer", "control socket", "metrics").
    what: &'static str,
    pause: Duration,
    /// Failures since the last success, all counted, some logged.
    failures: u64,
    log: LogLimiter<()>,
}

impl AcceptBackoff {
    pub fn new(what: &'static str) -> AcceptBackoff {
        AcceptBackoff {
            what,
            pause: Duration::ZERO,
            failures: 0,
            log: LogLimiter::default(),
        }
    }

    /// A connection was accepted: the next failure starts from the shortest pause.
    pub fn succeeded(&mut self) {
        self.pause = Duration::ZERO;
        self.failures = 0;
    }

    /// Records a failure and returns how long to wait before the next
    /// `accept`, and whether to log it (with the failures not logged since).
    pub fn next_pause(&mut self, now: Instant) -> (Duration, Option<u64>) {
        self.failures += 1;
        self.pause = (self.pause * 2).clamp(PAUSE_MIN, PAUSE_MAX);
        (self.pause, self.log.admit((), now))
    }

    /// Logs (rate-limited) and waits after a failed `accept`.
    pub async fn failed(&mut self, err: &io::Error) {
        let (pause, log) = self.next_pause(Instant::now());
        if let Some(not_logged) = log {
            warn!(
                listener = self.what,
                error = %err,
                failures = self.failures,
                not_logged,
                pause_ms = pause.as_millis() as u64,
                "accept failed; pausing before the next (out of file descriptors? raise LimitNOFILE)"
            );
        }
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_to_a_second_and_start_over_after_a_success() {
        let mut b = AcceptBackoff::new("test");
        let t0 = Instant::now();
        let pauses: Vec<u128> = (0..10).map(|_| b.next_pause(t0).0.as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.next_pause(t0).0, PAUSE_MIN);
    }

    #[test]
    fn a_failing_loop_logs_a_line_per_step_not_per_failure() {
        let mut b = AcceptBackoff::new("test");
        let t0 = Instant::now();
        // A minute of failures at the longest pause: 60 tries, 6 lines
        // (at 0, 1, 3, 7, 15, 31 s), and every failure counted.
        let logged: Vec<u64> = (0..60u64)
            .filter_map(|i| b.next_pause(t0 + Duration::from_secs(i)).1)
            .collect();
        assert_eq!(logged.len(), 6);
        assert_eq!(b.failures, 60);
    }
}
