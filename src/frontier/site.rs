//! One site's scheduler: takes an in-flight slot at the site's gate, waits for the gate to open,
//! picks what is due (a feed poll or a page job), takes a global slot for it and starts it. The
//! request holds the site's slot until its answer has arrived; extraction and tracking go on
//! without it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Instant;
use tracing::Instrument;
use url::Url;

use super::Frontier;
use crate::pipeline::{PollInfo, PollOutcome, ScrapeOutcome, Scraped};
use crate::schedule::FeedSchedule;
use crate::schedule::politeness::{Gate, site_of};
use crate::store::{PageJob, SiteLease};
use crate::websub::Advert;

/// Due jobs read from the store at once.
const PREFETCH: usize = 16;

/// A feed polled by a site.
#[derive(Debug, Clone)]
pub(super) struct FeedSlot {
    /// The URL as configured (the key in the feed list).
    pub configured: String,
    /// The URL polled: the configured one, or where permanent redirects led.
    pub url: Url,
    pub sched: FeedSchedule,
    pub due: Instant,
}

pub(super) struct Site {
    pub key: String,
    gate: Arc<Gate>,
    wake: Notify,
    state: Mutex<SiteState>,
}

#[derive(Default)]
struct SiteState {
    /// With replicas: until when this replica may start requests here (`None`: not held).
    lease: Option<Instant>,
    feeds: Vec<FeedSlot>,
    /// The earliest rank of the site's waiting jobs, as far as known; `None`: none waiting.
    next_job_ms: Option<i64>,
    /// Counts jobs announced, so an answer from the store that raced with one is not trusted
    /// over it.
    announced: u64,
    /// Due jobs read from the store and not started yet, in order: one query serves several
    /// starts.
    prefetched: std::collections::VecDeque<PageJob>,
    /// Job URLs and polled feed URLs being worked on.
    in_flight: HashSet<String>,
    /// Counts work finished, so a read of the store that raced with a job's end (and may still
    /// hold that job) is not used to start it again.
    finished: u64,
}

/// What a site does next.
enum Work {
    Poll(Box<FeedSlot>),
    Page(PageJob),
}

enum Next {
    Work(Work),
    /// Nothing due before this instant.
    Wait(Instant),
    /// No feeds, no jobs, nothing in flight.
    Idle,
}

impl Site {
    pub fn new(key: &str, gate: Arc<Gate>) -> Self {
        Site {
            key: key.to_string(),
            gate,
            wake: Notify::new(),
            state: Mutex::new(SiteState::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SiteState> {
        self.state.lock().expect("site lock")
    }

    pub fn add_feed(&self, slot: FeedSlot) {
        let mut st = self.state();
        st.feeds.retain(|f| f.configured != slot.configured);
        st.feeds.push(slot);
        drop(st);
        self.wake.notify_one();
    }

    pub fn remove_feed(&self, configured: &str) {
        self.state().feeds.retain(|f| f.configured != configured);
        self.wake.notify_one();
    }

    pub fn poke(&self, configured: &str) {
        if let Some(f) = self
            .state()
            .feeds
            .iter_mut()
            .find(|f| f.configured == configured)
        {
            f.due = Instant::now();
        }
        self.wake.notify_one();
    }

    /// A job was enqueued for this site.
    pub fn job_at(&self, rank_ms: i64, now_ms: i64) {
        let mut st = self.state();
        st.announced += 1;
        st.next_job_ms = Some(st.next_job_ms.map_or(rank_ms, |t| t.min(rank_ms)));
        // A job due now, or before what was read ahead: read again, in order (feed work read
        // again goes before re-checks read earlier).
        if rank_ms <= now_ms || st.prefetched.back().is_some_and(|j| rank_ms < j.rank_ms) {
            st.prefetched.clear();
        }
        drop(st);
        self.wake.notify_one();
    }

    pub fn set_lease(&self, until: Option<Instant>) {
        let mut st = self.state();
        if until.is_none() {
            st.prefetched.clear();
        }
        st.lease = until;
        drop(st);
        self.wake.notify_one();
    }

    /// Whether this replica holds the site's lease now.
    pub fn leased(&self) -> bool {
        self.state().lease.is_some_and(|t| t > Instant::now())
    }

    /// Takes over the politeness state the site's previous owner left in its row.
    pub fn take_over(&self, lease: &SiteLease) {
        let at = |t: Option<chrono::DateTime<chrono::Utc>>| {
            let ahead = t.and_then(|t| (t - chrono::Utc::now()).to_std().ok());
            Instant::now() + ahead.unwrap_or_default()
        };
        self.gate
            .restore(at(lease.next_at), at(lease.hold_until), lease.penalty);
    }

    /// Takes out the slot of the feed polled at `url`, if this site has it.
    pub fn take_feed(&self, url: &Url) -> Option<FeedSlot> {
        let mut st = self.state();
        let i = st.feeds.iter().position(|f| f.url == *url)?;
        Some(st.feeds.remove(i))
    }

    pub fn feed_urls(&self) -> Vec<Url> {
        self.state().feeds.iter().map(|f| f.url.clone()).collect()
    }

    pub fn update_schedule(&self, url: &Url, sched: FeedSchedule, due: Instant) {
        let mut st = self.state();
        if let Some(f) = st.feeds.iter_mut().find(|f| f.url == *url) {
            f.sched = sched;
            f.due = due;
        }
    }

    /// Not held, no feeds here, nothing in flight: another replica's site.
    pub fn is_foreign(&self) -> bool {
        let st = self.state();
        st.lease.is_none_or(|t| t <= Instant::now())
            && st.feeds.is_empty()
            && st.in_flight.is_empty()
    }

    pub fn is_idle(&self) -> bool {
        let st = self.state();
        st.feeds.is_empty() && st.next_job_ms.is_none() && st.in_flight.is_empty()
    }

    /// The first job read ahead that is not in flight.
    fn next_prefetched(&self) -> Option<PageJob> {
        let st = self.state();
        st.prefetched
            .iter()
            .find(|j| !st.in_flight.contains(&j.url))
            .cloned()
    }

    fn done(&self, key: &str) {
        let mut st = self.state();
        st.in_flight.remove(key);
        st.finished += 1;
        // A copy read ahead while it ran is stale now.
        st.prefetched.retain(|j| j.url != key);
        drop(st);
        self.wake.notify_one();
    }
}

impl Frontier {
    /// The site's scheduler loop. Ends at shutdown, or when the site has nothing left to do.
    pub(super) async fn run_site(self: Arc<Self>, site: Arc<Site>) {
        loop {
            if self.stop.is_cancelled() || !self.wait_for_outbox_room().await {
                return;
            }
            if self.lease.is_some() && !site.leased() {
                // Another replica's site, or ours but lapsed: start nothing until it is held.
                // Without feeds here it is not kept: its jobs are the holder's, and the lease
                // rounds bring it back if this replica wins it.
                if self.retire_site(&site) || self.retire_foreign(&site) {
                    return;
                }
                tokio::select! {
                    _ = site.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = self.stop.cancelled() => return,
                }
                continue;
            }
            let permit = tokio::select! {
                p = site.gate.slots().clone().acquire_owned() => p.expect("semaphore never closed"),
                _ = self.stop.cancelled() => return,
            };
            tokio::select! {
                _ = tokio::time::sleep_until(site.gate.ready_at()) => {}
                _ = self.stop.cancelled() => return,
            }
            let work = match self.next_work(&site).await {
                Next::Work(w) => w,
                Next::Wait(until) => {
                    drop(permit);
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => {}
                        _ = site.wake.notified() => {}
                        _ = self.stop.cancelled() => return,
                    }
                    continue;
                }
                Next::Idle => {
                    drop(permit);
                    if self.retire_site(&site) {
                        return;
                    }
                    // Kept (a leased site): wait for work to arrive.
                    tokio::select! {
                        _ = site.wake.notified() => {}
                        _ = self.stop.cancelled() => return,
                    }
                    continue;
                }
            };
            let slots = match work {
                Work::Poll(_) => &self.poll_slots,
                Work::Page(_) => &self.page_slots,
            };
            let global = tokio::select! {
                s = slots.clone().acquire_owned() => s.expect("semaphore never closed"),
                _ = self.stop.cancelled() => return,
            };
            let claimed = Instant::now();
            if !site.gate.try_start() {
                // A 429 arrived meanwhile: hand the slots back and wait for the gate again.
                site.done(work.key());
                continue;
            }
            let task = self
                .clone()
                .run_work(site.clone(), work, claimed, permit, global);
            self.tracker.spawn(task.in_current_span());
        }
    }

    /// Takes the site's turn for a request claimed at `claimed`. With replicas the turn is saved
    /// before the request goes out, its next start set `allowance` later than the spacing asks,
    /// so that a next owner spaces from this request however long the save took up to then; a
    /// save slower than that lets the turn go and takes another. False when the request must
    /// not go out (the lease is no longer ours, or the store is too slow to save a turn).
    async fn take_turn(&self, site: &Site, claimed: Instant) -> bool {
        let mut claimed = claimed;
        for _ in 0..3 {
            site.gate.started(claimed).await;
            if self.lease.is_none() {
                return true;
            }
            let turn = Instant::now();
            let allowance = site.gate.spacing() / 4;
            if !self.save_gate(site, allowance).await {
                return false;
            }
            if allowance.is_zero() || turn.elapsed() <= allowance {
                // Within the turn: no other start was claimed, and the next moves past this one.
                site.gate.started(turn).await;
                return true;
            }
            claimed = turn;
        }
        tracing::warn!("the state store is too slow to save the site's turn; the request waits");
        false
    }

    /// With replicas: saves the site's politeness state, its next start `allowance` later, so the
    /// next owner keeps the spacing. False (and the site stopped) when the lease is no longer ours.
    async fn save_gate(&self, site: &Site, allowance: Duration) -> bool {
        if !site.leased() {
            return false;
        }
        let (next_at, hold_until, penalty) = site.gate.snapshot();
        let next_at = next_at + allowance;
        let wall = |t: Instant| {
            let ahead = t.saturating_duration_since(Instant::now());
            chrono::Utc::now() + chrono::Duration::from_std(ahead).unwrap_or_default()
        };
        let hold = (hold_until > Instant::now()).then(|| wall(hold_until));
        match self
            .pipeline
            .store()
            .reserve_start(&site.key, wall(next_at), hold, penalty)
            .await
        {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!("site lease lost; its requests stop");
                self.pipeline.metrics().lease_losses.inc();
                site.set_lease(None);
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot save the site's politeness state; the request waits");
                false
            }
        }
    }

    /// The work due now at `site`, or when to look again.
    async fn next_work(&self, site: &Site) -> Next {
        let now = Instant::now();
        let now_ms = self.pipeline.now().timestamp_millis();
        let (feed, look_for_jobs) = {
            let st = site.state();
            let feed = st
                .feeds
                .iter()
                .filter(|f| f.due <= now && !st.in_flight.contains(f.url.as_str()))
                .min_by_key(|f| f.due)
                .cloned();
            (feed, st.next_job_ms.is_some_and(|t| t <= now_ms))
        };
        let mut job = site.next_prefetched();
        if job.is_none() && look_for_jobs {
            let finished = site.state().finished;
            match self
                .pipeline
                .store()
                .due_jobs(&site.key, now_ms, PREFETCH)
                .await
            {
                Ok(jobs) if jobs.is_empty() => self.refresh_next_job(site).await,
                Ok(jobs) => {
                    let mut st = site.state();
                    // Work that ended during the read may be in it although done: read again.
                    if st.finished == finished {
                        st.prefetched = jobs.into();
                    }
                    drop(st);
                    job = site.next_prefetched();
                }
                Err(e) => {
                    tracing::error!(error = %e, "state store failed; page jobs wait");
                    self.pipeline.metrics().error("store");
                }
            }
        }
        // The store gives feed-driven jobs before re-checks; between a job and a feed poll, the
        // one due first goes first, so neither starves the other.
        let pick = match (feed, job) {
            (Some(f), Some(j)) => {
                let feed_due_ms = now_ms - now.saturating_duration_since(f.due).as_millis() as i64;
                if j.rank_ms < feed_due_ms {
                    Some(Work::Page(j))
                } else {
                    Some(Work::Poll(Box::new(f)))
                }
            }
            (Some(f), None) => Some(Work::Poll(Box::new(f))),
            (None, Some(j)) => Some(Work::Page(j)),
            (None, None) => None,
        };
        let mut st = site.state();
        if let Some(w) = pick {
            if let Work::Page(j) = &w {
                st.prefetched.retain(|p| p.url != j.url);
            }
            st.in_flight.insert(w.key().to_string());
            return Next::Work(w);
        }
        // A feed or job in flight is not waited for: its end wakes the site.
        let next_feed = st
            .feeds
            .iter()
            .filter(|f| !st.in_flight.contains(f.url.as_str()))
            .map(|f| f.due)
            .min();
        let next_job = st.next_job_ms.map(|t| {
            let ahead = Duration::from_millis(t.saturating_sub(now_ms).max(0) as u64);
            // A job already due is in flight: look again within a second.
            now + if ahead.is_zero() {
                Duration::from_secs(1)
            } else {
                ahead
            }
        });
        match (next_feed, next_job) {
            (None, None) if st.in_flight.is_empty() => Next::Idle,
            (None, None) => Next::Wait(now + Duration::from_secs(3600)),
            (a, b) => Next::Wait(a.into_iter().chain(b).min().expect("one is some")),
        }
    }

    /// Asks the store when the site's next job is due.
    async fn refresh_next_job(&self, site: &Site) {
        let asked = site.state().announced;
        match self.pipeline.store().next_job_at(&site.key).await {
            Ok(next) => {
                let mut st = site.state();
                st.next_job_ms = if st.announced == asked {
                    next
                } else {
                    // A job was announced meanwhile: the store's answer may predate it.
                    match (next, st.next_job_ms) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    }
                };
            }
            Err(e) => {
                tracing::error!(error = %e, "state store failed; page jobs wait");
            }
        }
    }

    async fn run_work(
        self: Arc<Self>,
        site: Arc<Site>,
        work: Work,
        claimed: Instant,
        permit: OwnedSemaphorePermit,
        global: OwnedSemaphorePermit,
    ) {
        let key = work.key().to_string();
        // A replica that lost the site meanwhile (paused between the claim and here, or giving
        // the site back) does not fetch.
        if !self.take_turn(&site, claimed).await {
            drop(global);
            site.done(&key);
            return;
        }
        // A panic in one feed's or one page's work never takes the daemon down.
        let run = std::panic::AssertUnwindSafe(async {
            match work {
                Work::Poll(slot) => {
                    let span = tracing::info_span!("feed", feed.url = %slot.url);
                    self.poll(&site, *slot, permit).instrument(span).await
                }
                Work::Page(job) => {
                    let span = tracing::info_span!("page", article.url = %job.url, job = job.kind.as_str());
                    self.page(job, permit).instrument(span).await;
                }
            }
        });
        if run.catch_unwind().await.is_err() {
            tracing::error!(work = %key, "work panicked; it is retried later");
            self.pipeline.metrics().error("panic");
        }
        // A 429 just held the site back: the next owner must hold back too.
        if self.lease.is_some() && site.gate.holding() {
            self.save_gate(&site, Duration::ZERO).await;
        }
        drop(global);
        site.done(&key);
    }

    async fn page(&self, job: PageJob, permit: OwnedSemaphorePermit) -> ScrapeOutcome {
        let fetched = self.pipeline.fetch_page(&job).await;
        // The answer is in: the site may start its next request.
        drop(permit);
        let scraped = match fetched {
            Ok(f) => self.pipeline.extract(&job, f).await,
            Err(outcome) => Scraped::Nothing(outcome),
        };
        self.pipeline.finish(&job, scraped).await
    }

    /// Polls a feed, then schedules its next poll from what the poll learned.
    async fn poll(&self, site: &Site, mut slot: FeedSlot, permit: OwnedSemaphorePermit) {
        let late = Instant::now().saturating_duration_since(slot.due);
        let (outcome, info) = self.pipeline.poll(&slot.url).await;
        drop(permit);
        self.pipeline.metrics().feed_polls.inc(&[outcome.label()]);
        let failed = matches!(outcome, PollOutcome::Failed(_));
        self.stats.observe(late, failed);
        let store = self.pipeline.store();
        let now = self.clock.now();
        if info.status == Some(410) {
            let _ = store.retire_feed(slot.url.as_str(), now, "410 Gone").await;
            tracing::warn!(
                "feed is gone (410): subscription retired and no longer polled; remove it from the feed list"
            );
            site.remove_feed(&slot.configured);
            return;
        }
        let moved = info.moved_to.clone().filter(|to| *to != slot.url);
        if let Some(to) = &moved {
            let _ = store.move_feed(slot.url.as_str(), to.as_str()).await;
            tracing::warn!(from = %slot.url, to = %to, "feed moved permanently (301/308): subscription now polls the new URL; update the feed list");
            slot.url = to.clone();
        }
        self.schedule_next(&mut slot, &outcome, &info, now).await;
        let key = site_of(slot.url.host_str().unwrap_or_default());
        if key == site.key {
            // Unless the feed was removed from the list meanwhile.
            let mut st = site.state();
            if let Some(f) = st
                .feeds
                .iter_mut()
                .find(|f| f.configured == slot.configured)
            {
                *f = slot;
            }
        } else {
            // Moved to another site: that site's scheduler polls it from now on.
            let stays = site
                .state()
                .feeds
                .iter()
                .any(|f| f.configured == slot.configured);
            if stays {
                let _ = self
                    .pipeline
                    .store()
                    .register_sites(vec![key.clone()])
                    .await;
                site.remove_feed(&slot.configured);
                self.feeds
                    .lock()
                    .expect("feeds lock")
                    .insert(slot.configured.clone(), key.clone());
                self.place(&key, slot);
            }
        }
    }

    async fn schedule_next(
        &self,
        slot: &mut FeedSlot,
        outcome: &PollOutcome,
        info: &PollInfo,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        let sched = &mut slot.sched;
        let failures_before = sched.failures;
        match outcome {
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
                .unwrap_or_else(|| slot.url.to_string());
            let _ = tx.try_send(Advert {
                feed_url: slot.url.clone(),
                hub,
                topic,
            });
        }
        sched.pushed = self.is_pushed(slot.url.as_str());
        let next = sched.next(&self.policy, now, fastrand::f64());
        sched.next_at = Some(now + chrono::Duration::from_std(next.delay).unwrap_or_default());
        if let Ok(json) = serde_json::to_string(&sched) {
            let _ = self
                .pipeline
                .store()
                .save_feed_schedule(slot.url.as_str(), &json)
                .await;
        }
        let next_in_s = next.delay.as_secs_f64().round() as u64;
        match (outcome, failures_before) {
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
        slot.due = Instant::now() + next.delay;
    }
}

impl Work {
    /// What marks the work in flight: the polled feed URL or the page job's URL.
    fn key(&self) -> &str {
        match self {
            Work::Poll(f) => f.url.as_str(),
            Work::Page(j) => &j.url,
        }
    }
}
