//! Poll counts and scheduling lateness, cheap enough to keep always: the polling and cold-start
//! benchmarks read them, and so can a test.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counts polls and how late they started: due time → the request let out at the site's gate
/// (so the politeness wait, which is deliberate, counts as lateness too).
#[derive(Default)]
pub struct PollStats {
    polls: AtomicU64,
    failures: AtomicU64,
    lateness: Histogram,
}

/// Milliseconds: 1 ms buckets to 1 s, 10 ms to 10 s, 1 s to 10 min, then one more.
struct Histogram(Vec<AtomicU64>);

const BUCKETS: usize = 1000 + 900 + 590 + 1;

impl Default for Histogram {
    fn default() -> Self {
        Histogram((0..BUCKETS).map(|_| AtomicU64::new(0)).collect())
    }
}

impl Histogram {
    fn bucket_of(ms: u64) -> usize {
        match ms {
            0..1000 => ms as usize,
            1000..10_000 => 1000 + ((ms - 1000) / 10) as usize,
            10_000..600_000 => 1900 + ((ms - 10_000) / 1000) as usize,
            _ => BUCKETS - 1,
        }
    }

    /// The upper edge of a bucket, in ms.
    fn bucket_ms(i: usize) -> u64 {
        match i {
            0..1000 => i as u64 + 1,
            1000..1900 => 1000 + (i as u64 - 1000 + 1) * 10,
            1900..2490 => 10_000 + (i as u64 - 1900 + 1) * 1000,
            _ => u64::MAX,
        }
    }

    fn observe(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.0[Self::bucket_of(ms)].fetch_add(1, Ordering::Relaxed);
    }

    /// (p50, p99, max) in ms, each the upper edge of its bucket; zeros when empty.
    fn summary(&self) -> (u64, u64, u64) {
        let counts: Vec<u64> = self.0.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return (0, 0, 0);
        }
        let quantile = |q: f64| {
            let want = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= want {
                    return Self::bucket_ms(i);
                }
            }
            0
        };
        let max = counts
            .iter()
            .rposition(|c| *c > 0)
            .map_or(0, Self::bucket_ms);
        (quantile(0.5), quantile(0.99), max)
    }
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
        self.lateness.observe(late);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let (lateness_p50_ms, lateness_p99_ms, lateness_max_ms) = self.lateness.summary();
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
        assert_eq!((s.lateness_p50_ms, s.lateness_p99_ms), (51, 100));
        assert_eq!(s.lateness_max_ms, 5010);
    }
}
