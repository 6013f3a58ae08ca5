//! The feed loops: one task per subscribed feed, polling it when [`crate::schedule`] says,
//! added and removed live as the feed list changes (SIGHUP, a changed feeds file).
//!
//! Every state a feed goes through is logged once, when it changes: added, removed, failing
//! (with the backoff), recovered, moved (301/308, the subscription follows and the store
//! remembers), retired (410 Gone, the store remembers and the feed is skipped from then on).
//! A feed's schedule (backoff, hints, learned interval, next due time) is kept in the store, so
//! a restart neither forgets a `Retry-After` nor polls everything at once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use url::Url;

use crate::app::{Pipeline, PollOutcome};
use crate::schedule::{Clock, FeedSchedule, Policy};
use crate::store::FeedStatus;
use crate::websub::Advert;

/// Counts polls and how late they started against their due time. Cheap enough to keep always.
///
/// Two latenesses are kept: *dispatch* (due time → the poll holds a poll slot: the scheduler's
/// own lateness) and *total* (due time → the request is let out, so also the wait at the site's
/// politeness gate, which is deliberate).
#[derive(Default)]
pub struct PollStats {
    polls: AtomicU64,
    failures: AtomicU64,
    total: Histogram,
    dispatch: Histogram,
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
    /// Due time → request let out (politeness waits included).
    pub lateness_p50_ms: u64,
    pub lateness_p99_ms: u64,
    pub lateness_max_ms: u64,
    /// Due time → poll slot taken (the scheduler's own lateness).
    pub dispatch_p50_ms: u64,
    pub dispatch_p99_ms: u64,
    pub dispatch_max_ms: u64,
}

impl PollStats {
    /// Records one poll: its dispatch lateness and its wait at the politeness gate.
    pub fn observe(&self, dispatch: Duration, gate_wait: Duration, failed: bool) {
        self.polls.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.dispatch.observe(dispatch);
        self.total.observe(dispatch + gate_wait);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let (lateness_p50_ms, lateness_p99_ms, lateness_max_ms) = self.total.summary();
        let (dispatch_p50_ms, dispatch_p99_ms, dispatch_max_ms) = self.dispatch.summary();
        StatsSnapshot {
            polls: self.polls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            lateness_p50_ms,
            lateness_p99_ms,
            lateness_max_ms,
            dispatch_p50_ms,
            dispatch_p99_ms,
            dispatch_max_ms,
        }
    }
}

/// The running feed loops.
pub struct Poller {
    pipeline: Arc<Pipeline>,
    policy: Policy,
    clock: Arc<dyn Clock>,
    slots: Arc<Semaphore>,
    stop: CancellationToken,
    tracker: TaskTracker,
    loops: Mutex<HashMap<String, FeedLoop>>,
    /// Feeds (by polled URL) whose updates a WebSub hub pushes.
    pushed: Mutex<HashSet<String>>,
    stats: Arc<PollStats>,
    /// Where feeds that advertise a WebSub hub are reported (when WebSub is on).
    adverts: OnceLock<mpsc::Sender<Advert>>,
}

struct FeedLoop {
    cancel: CancellationToken,
    poke: Arc<Notify>,
}

/// How many permanent redirects recorded in the store are followed at start-up.
const MAX_MOVES: usize = 5;

impl Poller {
    pub fn new(
        pipeline: Arc<Pipeline>,
        policy: Policy,
        clock: Arc<dyn Clock>,
        concurrency: usize,
        stop: CancellationToken,
        stats: Arc<PollStats>,
    ) -> Arc<Self> {
        Arc::new(Poller {
            pipeline,
            policy,
            clock,
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            stop,
            tracker: TaskTracker::new(),
            loops: Mutex::new(HashMap::new()),
            pushed: Mutex::new(HashSet::new()),
            stats,
            adverts: OnceLock::new(),
        })
    }

    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// The subscribed feeds, as configured.
    pub fn feeds(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .loops
            .lock()
            .expect("loops lock")
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Makes the running loops match `feeds`: starts the new ones, stops the ones gone.
    pub fn sync(self: &Arc<Self>, feeds: &[Url]) -> (usize, usize) {
        let wanted: HashSet<String> = feeds.iter().map(|u| u.to_string()).collect();
        let mut loops = self.loops.lock().expect("loops lock");
        let mut removed = 0;
        loops.retain(|url, l| {
            let keep = wanted.contains(url);
            if !keep {
                tracing::info!(feed.url = %url, "feed removed from the list; its polling stops");
                l.cancel.cancel();
                removed += 1;
            }
            keep
        });
        let mut added = 0;
        for url in feeds {
            if loops.contains_key(url.as_str()) {
                continue;
            }
            let cancel = self.stop.child_token();
            let poke = Arc::new(Notify::new());
            loops.insert(
                url.to_string(),
                FeedLoop {
                    cancel: cancel.clone(),
                    poke: poke.clone(),
                },
            );
            let span = tracing::info_span!("feed", feed.url = %url);
            self.tracker.spawn(
                self.clone()
                    .feed_loop(url.clone(), cancel, poke)
                    .instrument(span),
            );
            added += 1;
        }
        (added, removed)
    }

    /// Reports feeds that advertise a WebSub hub to `sender`.
    pub fn set_adverts(&self, sender: mpsc::Sender<Advert>) {
        let _ = self.adverts.set(sender);
    }

    /// Polls a feed at once (a WebSub hub announced a change without content, or a test).
    pub fn poke(&self, configured: &str) {
        if let Some(l) = self.loops.lock().expect("loops lock").get(configured) {
            l.poke.notify_one();
        }
    }

    /// Marks a feed as pushed by a hub (polling slows to `websub.poll_interval`) or not.
    pub fn set_pushed(&self, polled_url: &str, pushed: bool) {
        let mut set = self.pushed.lock().expect("pushed lock");
        if pushed {
            set.insert(polled_url.to_string());
        } else {
            set.remove(polled_url);
        }
    }

    fn is_pushed(&self, url: &str) -> bool {
        self.pushed.lock().expect("pushed lock").contains(url)
    }

    /// The URL to poll for a configured one: itself, or where recorded moves lead. `None` when
    /// the subscription is retired.
    fn resolve(&self, configured: &Url) -> Option<Url> {
        let store = self.pipeline.store();
        let mut url = configured.clone();
        for _ in 0..=MAX_MOVES {
            match store.feed_status(url.as_str()) {
                Ok(FeedStatus::Moved(to)) => match Url::parse(&to) {
                    Ok(next) => {
                        tracing::info!(from = %url, to = %next, "feed moved permanently earlier; polling its new URL (update the feed list)");
                        url = next;
                    }
                    Err(_) => return Some(url),
                },
                Ok(FeedStatus::Retired { at, reason }) => {
                    tracing::warn!(feed.url = %url, retired_at = %at, reason = %reason, "feed retired earlier; not polled (remove it from the feed list)");
                    return None;
                }
                Ok(FeedStatus::Active) | Err(_) => return Some(url),
            }
        }
        Some(url)
    }

    async fn feed_loop(
        self: Arc<Self>,
        configured: Url,
        cancel: CancellationToken,
        poke: Arc<Notify>,
    ) {
        let Some(mut url) = self.resolve(&configured) else {
            return;
        };
        let store = self.pipeline.store().clone();
        let mut sched: FeedSchedule = store
            .feed_schedule(url.as_str())
            .ok()
            .flatten()
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default();
        // Due now (spread over up to a minute, so a start does not poll every feed at once), or
        // at the due time a previous run chose.
        let spread = self
            .policy
            .interval
            .min(Duration::from_secs(60))
            .mul_f64(fastrand::f64());
        let saved_wait = sched
            .next_at
            .and_then(|t| (t - self.clock.now()).to_std().ok())
            .unwrap_or_default();
        let mut due = Instant::now() + saved_wait.max(spread);
        tracing::debug!(
            first_poll_in_ms = (due - Instant::now()).as_millis() as u64,
            "feed scheduled"
        );
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = poke.notified() => { due = Instant::now(); }
                _ = cancel.cancelled() => return,
            }
            if !crate::app::wait_for_outbox_room(&self.pipeline, &cancel).await {
                return;
            }
            let slot = tokio::select! {
                s = self.slots.clone().acquire_owned() => s.expect("semaphore never closed"),
                _ = cancel.cancelled() => return,
            };
            let late = Instant::now().saturating_duration_since(due);
            // A panic in one feed's poll never takes the daemon down.
            let (outcome, info) = std::panic::AssertUnwindSafe(self.pipeline.poll(&url))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!("poll panicked; the feed is retried later");
                    self.pipeline.metrics().error("poll_panic");
                    (
                        PollOutcome::Failed("panic".into()),
                        crate::app::PollInfo::default(),
                    )
                });
            drop(slot);
            self.pipeline.metrics().feed_polls.inc(&[outcome.label()]);
            let failed = matches!(outcome, PollOutcome::Failed(_));
            self.stats.observe(late, info.gate_wait, failed);
            let now = self.clock.now();

            if info.status == Some(410) {
                let _ = store.retire_feed(url.as_str(), now, "410 Gone");
                tracing::warn!(feed.url = %url, "feed is gone (410): subscription retired and no longer polled; remove it from the feed list");
                return;
            }
            if let Some(to) = info.moved_to.as_ref().filter(|to| **to != url) {
                let _ = store.move_feed(url.as_str(), to.as_str());
                tracing::warn!(from = %url, to = %to, "feed moved permanently (301/308): subscription now polls the new URL; update the feed list");
                url = to.clone();
            }

            let failures_before = sched.failures;
            match &outcome {
                PollOutcome::Failed(_) => sched.on_failure(info.http),
                _ => {
                    let body = info.feed.clone().map(|f| (f, info.entry_dates.as_slice()));
                    sched.on_success(now, info.http, body, info.new_entries);
                }
            }
            if let (Some(tx), Some(hub)) = (
                self.adverts.get(),
                info.feed.as_ref().and_then(|f| f.hub.clone()),
            ) {
                let topic = info
                    .feed
                    .as_ref()
                    .and_then(|f| f.self_url.clone())
                    .unwrap_or_else(|| url.to_string());
                let _ = tx.try_send(Advert {
                    feed_url: url.clone(),
                    hub,
                    topic,
                });
            }
            sched.pushed = self.is_pushed(url.as_str());
            let next = sched.next(&self.policy, now, fastrand::f64());
            sched.next_at = Some(now + chrono::Duration::from_std(next.delay).unwrap_or_default());
            if let Ok(json) = serde_json::to_string(&sched) {
                let _ = store.save_feed_schedule(url.as_str(), &json);
            }
            let next_in_s = next.delay.as_secs_f64().round() as u64;
            match (&outcome, failures_before) {
                (PollOutcome::Failed(e), _) => {
                    tracing::warn!(failures = sched.failures, error = %e, next_in_s, reason = %next.reason, clamped = next.clamped, "feed failing; backing off")
                }
                (_, n) if n > 0 => {
                    tracing::info!(after_failures = n, next_in_s, reason = %next.reason, "feed recovered")
                }
                _ => {
                    tracing::debug!(next_in_s, reason = %next.reason, clamped = next.clamped, skipped = next.skipped, new_entries = info.new_entries, "next poll scheduled")
                }
            }
            due = Instant::now() + next.delay;
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
            stats.observe(Duration::from_millis(ms), Duration::ZERO, false);
        }
        stats.observe(
            Duration::from_millis(4000),
            Duration::from_millis(1000),
            true,
        );
        let s = stats.snapshot();
        assert_eq!((s.polls, s.failures), (101, 1));
        assert_eq!((s.lateness_p50_ms, s.lateness_p99_ms), (51, 100));
        assert_eq!((s.lateness_max_ms, s.dispatch_max_ms), (5010, 4010));
    }
}
