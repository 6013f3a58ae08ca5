//! Poll counts and scheduling lateness, cheap enough to keep always: the polling and cold-start
//! benchmarks read them, and so can a test.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::metrics::Latency;

/// Counts polls and how late they started: due time → the request let out at the site's gate
/// (so the politeness wait, which is deliberate, counts as lateness too).
#[derive(Default)]
pub struct PollStats {
    polls: AtomicU64,
    failures: AtomicU64,
    lateness: Latency,
}

/// A summary of [`PollStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub polls: u64,
    pub failures: u64,
    pub lateness_p50_ms: u64,
    pub lateness_p99_ms: u64,
    pub lateness_max_ms: u64,
}

impl PollStats {
    /// Records one poll and how late its request started.
    pub fn observe(&self, late: Duration, failed: bool) {
        self.polls.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.lateness.record(late);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let ms =
            |d: Option<Duration>| d.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let l = &self.lateness;
        let (lateness_p50_ms, lateness_p99_ms, lateness_max_ms) =
            (ms(l.quantile(0.5)), ms(l.quantile(0.99)), ms(l.max()));
        StatsSnapshot {
            polls: self.polls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            lateness_p50_ms,
            lateness_p99_ms,
            lateness_max_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_quantiles() {
        let stats = PollStats::default();
        assert_eq!(stats.snapshot().lateness_p99_ms, 0);
        for ms in 0..100 {
            stats.observe(Duration::from_millis(ms), false);
        }
        stats.observe(Duration::from_millis(5000), true);
        let s = stats.snapshot();
        assert_eq!((s.polls, s.failures), (101, 1));
        // Each the upper bound of its bucket: within about 9 % above.
        assert!((50..56).contains(&s.lateness_p50_ms), "{s:?}");
        assert!((99..109).contains(&s.lateness_p99_ms), "{s:?}");
        assert!((5000..5450).contains(&s.lateness_max_ms), "{s:?}");
    }
}
