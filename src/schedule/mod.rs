//! When to poll each feed next: the configured interval, every hint the feed and its server give,
//! an interval learned from how often the feed publishes, and capped exponential backoff after
//! failures, all within `poll.min_interval` … `poll.max_interval`; plus per-site politeness
//! ([`politeness`]).
//!
//! The decision is a pure function of a feed's [`FeedSchedule`] (persisted between runs), the
//! [`Policy`], the time (from a [`Clock`]) and a random number for jitter, so tests step through
//! days of schedule without waiting. Guarantees:
//! - a feed is never given up: after any number of failures it is polled every
//!   `poll.max_interval` (plus jitter), and the first success resets the backoff;
//! - a delay is never shorter than `poll.min_interval` and never longer than
//!   `poll.max_interval` plus jitter (the bounds always include `poll.interval`);
//! - jitter only ever lengthens a delay, so a hint such as `Retry-After` or `max-age` is a floor
//!   that jitter cannot undercut.

pub mod clock;
pub mod hints;
pub mod politeness;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};

pub use clock::{Clock, ManualClock, SystemClock, TokioClock};
pub use hints::{FeedHints, HttpHints};

/// The `[poll]` settings the schedule needs.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Interval for a feed that gives no other hint.
    pub interval: Duration,
    pub min_interval: Duration,
    pub max_interval: Duration,
    /// Up to this fraction of a delay is added at random.
    pub jitter: f64,
    /// Learn an interval from how often the feed publishes.
    pub adaptive: bool,
    /// Interval while a WebSub subscription is active (pushes arrive; polling is a safety net).
    pub websub_interval: Duration,
}

impl Policy {
    fn min(&self) -> Duration {
        self.min_interval.min(self.interval)
    }

    fn max(&self) -> Duration {
        self.max_interval.max(self.interval)
    }

    fn clamp(&self, d: Duration) -> Duration {
        d.clamp(self.min(), self.max())
    }

    /// The backoff after `failures` consecutive failures: `interval × 2^failures`, capped.
    pub fn backoff(&self, failures: u32) -> Duration {
        self.interval
            .saturating_mul(1u32 << failures.min(20))
            .min(self.max())
    }
}

/// A feed's scheduling state, kept in the store between polls and runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedSchedule {
    /// Consecutive failed polls.
    #[serde(default)]
    pub failures: u32,
    /// Hints from the last feed body read (a 304 keeps them).
    #[serde(default)]
    pub feed: FeedHints,
    /// Hints from the last response's headers.
    #[serde(default)]
    pub http: HttpHints,
    /// Mean time between new entries as observed by polling (seconds, moving average).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_gap_secs: Option<f64>,
    /// Mean time between entries from the entries' own dates (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dated_gap_secs: Option<f64>,
    /// When a poll last found new entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_new_at: Option<DateTime<Utc>>,
    /// A poll has read the feed at least once (its first entries are not "news").
    #[serde(default)]
    pub seen: bool,
    /// Whether a WebSub subscription currently pushes this feed.
    #[serde(default)]
    pub pushed: bool,
    /// When the next poll is due (kept so a restart honours it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_at: Option<DateTime<Utc>>,
}

/// Why a delay was chosen; logged with every decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Interval,
    Adaptive,
    Ttl,
    UpdatePeriod,
    MaxAge,
    Expires,
    WebSub,
    Backoff,
    RetryAfter,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Interval => "interval",
            Reason::Adaptive => "adaptive",
            Reason::Ttl => "ttl",
            Reason::UpdatePeriod => "sy:updatePeriod",
            Reason::MaxAge => "cache-control max-age",
            Reason::Expires => "expires",
            Reason::WebSub => "websub",
            Reason::Backoff => "backoff",
            Reason::RetryAfter => "retry-after",
        })
    }
}

/// The next poll: after `delay` (jitter included), for `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    pub delay: Duration,
    pub reason: Reason,
    /// The delay was clamped to `poll.min_interval` or `poll.max_interval`.
    pub clamped: bool,
    /// The delay was pushed past `skipHours` / `skipDays`.
    pub skipped: bool,
}

/// How long a feed that never published anything new within the learning window is assumed to
/// go between entries.
const QUIET: f64 = 7.0 * 86_400.0;
/// Weight of the newest observation in the moving average of gaps.
const ALPHA: f64 = 0.3;

impl FeedSchedule {
    /// Records a successful poll (200 or 304). `body` is the new feed body's hints and the dates
    /// of its entries (none for a 304); `new_entries` counts entries not seen before.
    pub fn on_success(
        &mut self,
        now: DateTime<Utc>,
        http: HttpHints,
        body: Option<(FeedHints, &[DateTime<Utc>])>,
        new_entries: usize,
    ) {
        self.failures = 0;
        self.http = http;
        if let Some((feed, dates)) = body {
            self.feed = feed;
            self.dated_gap_secs = dated_gap(dates, now);
            if self.seen
                && new_entries > 0
                && let Some(last) = self.last_new_at
            {
                let sample =
                    (now - last).num_milliseconds().max(0) as f64 / 1000.0 / new_entries as f64;
                self.observed_gap_secs = Some(match self.observed_gap_secs {
                    Some(g) => ALPHA * sample + (1.0 - ALPHA) * g,
                    None => sample,
                });
            }
            if new_entries > 0 || !self.seen {
                self.last_new_at = Some(now);
            }
            self.seen = true;
        }
    }

    /// Records a failed poll: a transport error or an error status.
    pub fn on_failure(&mut self, http: HttpHints) {
        self.failures = self.failures.saturating_add(1);
        self.http = http;
    }

    /// The interval learned from the feed's publishing rate: half the mean gap between entries
    /// (so a new entry waits on average a quarter gap), or `None` while nothing is known.
    pub fn adaptive_interval(&self, now: DateTime<Utc>) -> Option<Duration> {
        let gap = match (self.dated_gap_secs, self.observed_gap_secs) {
            (Some(d), _) => d,
            (None, Some(o)) => {
                // A feed that has gone quiet for longer than its usual gap slows down too.
                let silence = self
                    .last_new_at
                    .map_or(0.0, |t| (now - t).num_seconds().max(0) as f64);
                o.max(silence)
            }
            (None, None) => return None,
        };
        Duration::try_from_secs_f64(gap / 2.0).ok()
    }

    /// When to poll next, with `rand` in `[0, 1)` choosing the jitter.
    pub fn next(&self, policy: &Policy, now: DateTime<Utc>, rand: f64) -> Next {
        let (base, reason) = if self.failures > 0 {
            let backoff = policy.backoff(self.failures);
            match self.http.retry_after_secs.map(Duration::from_secs) {
                Some(ra) if ra > backoff => (ra, Reason::RetryAfter),
                _ => (backoff, Reason::Backoff),
            }
        } else {
            let mut best = match self.adaptive_interval(now).filter(|_| policy.adaptive) {
                Some(a) => (a, Reason::Adaptive),
                None => (policy.interval, Reason::Interval),
            };
            if self.pushed && policy.websub_interval > best.0 {
                best = (policy.websub_interval, Reason::WebSub);
            }
            // Every hint is a floor: what the publisher says is the soonest worth asking again.
            let floors = [
                (self.feed.ttl_secs, Reason::Ttl),
                (self.feed.update_secs, Reason::UpdatePeriod),
                (self.http.max_age_secs, Reason::MaxAge),
                (self.http.expires_secs, Reason::Expires),
            ];
            for (secs, why) in floors {
                if let Some(d) = secs.map(Duration::from_secs)
                    && d > best.0
                {
                    best = (d, why);
                }
            }
            best
        };
        let bounded = policy.clamp(base);
        let jittered = bounded + bounded.mul_f64(policy.jitter * rand.clamp(0.0, 1.0));
        let (delay, skipped) = self.skip(
            now,
            jittered,
            policy.max() + policy.max().mul_f64(policy.jitter),
        );
        Next {
            delay,
            reason,
            clamped: bounded != base,
            skipped,
        }
    }

    /// Pushes `delay` forward out of `skipHours` / `skipDays` (GMT), never past `cap`.
    fn skip(&self, now: DateTime<Utc>, delay: Duration, cap: Duration) -> (Duration, bool) {
        let (hours, days) = (&self.feed.skip_hours, &self.feed.skip_days);
        if (hours.is_empty() && days.is_empty()) || hours.len() >= 24 || days.len() >= 7 {
            return (delay, false);
        }
        let skipped = |t: DateTime<Utc>| {
            hours.contains(&(t.hour() as u8))
                || days.contains(&(t.weekday().num_days_from_monday() as u8))
        };
        let mut due = now + chrono::Duration::from_std(delay).unwrap_or_default();
        if !skipped(due) {
            return (delay, false);
        }
        // To the start of the next hour, at most a week of hours.
        for _ in 0..(7 * 24) {
            let next_hour = due
                .with_minute(0)
                .and_then(|t| t.with_second(0))
                .and_then(|t| t.with_nanosecond(0))
                .unwrap_or(due)
                + chrono::Duration::hours(1);
            due = next_hour;
            if !skipped(due) {
                break;
            }
        }
        let pushed = (due - now).to_std().unwrap_or(delay);
        (pushed.min(cap).max(delay), true)
    }
}

/// The mean gap between entries from their own dates: entries of the last week (not in the
/// future) span from the oldest of them to now. `None` with fewer than three dated entries.
fn dated_gap(dates: &[DateTime<Utc>], now: DateTime<Utc>) -> Option<f64> {
    let window = chrono::Duration::days(7);
    let recent: Vec<_> = dates
        .iter()
        .filter(|d| **d <= now + chrono::Duration::hours(1))
        .collect();
    if recent.len() < 3 {
        return None;
    }
    let in_week: Vec<_> = recent.iter().filter(|d| now - ***d <= window).collect();
    if in_week.is_empty() {
        // Dated entries, none this week: a quiet feed.
        return Some(QUIET);
    }
    // A listing that reaches back past the week covers all of it; one that does not (a busy
    // feed showing only its latest entries) covers back to its oldest entry.
    let span = if in_week.len() < recent.len() {
        window.num_seconds() as f64
    } else {
        let oldest = in_week.iter().map(|d| ***d).min()?;
        (now - oldest).num_seconds().max(60) as f64
    };
    Some(span / in_week.len() as f64)
}
