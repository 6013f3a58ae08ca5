//! The crawl frontier: one scheduler per site (registrable domain) owns every fetch to that
//! site, feed polls and page jobs alike, so politeness is local to it and nothing waits at a
//! site's gate while holding a slot another site could use.
//!
//! - Feeds live with the site of their URL, each with its [`FeedSchedule`] (kept in the store,
//!   so a restart neither forgets a `Retry-After` nor polls everything at once). Every state a
//!   feed goes through is logged once, when it changes: added, removed, failing (with the
//!   backoff), recovered, moved (301/308: the subscription follows and the store remembers),
//!   retired (410 Gone: the store remembers and the feed is skipped from then on).
//! - Page jobs live in the store (a backlog is on disk, not in memory); a site only knows when
//!   its next one is due. The pipeline tells the frontier ([`JobListener`]) whenever it enqueues
//!   one, and the site it belongs to wakes up.
//! - Order at a site: page jobs of new, changed or pushed entries before re-checks; between a
//!   page job and a feed poll, whichever was due first. Jobs from one poll are staggered by the
//!   site's spacing, so feeds sharing a site take turns.
//! - Global bounds: `poll.concurrency` polls and `scrape.concurrency` page jobs at once across
//!   all sites, taken only once a site's gate is open; extraction runs on the CPU pool. While the
//!   outbox is over `publish.outbox_limit`, no site starts anything.
//! - Replicas (a store several replicas share): a site's scheduler runs only while this replica
//!   holds the site's lease ([`Frontier::keep_leases`]). It stops starting requests the moment
//!   the lease runs out locally, before each request saves the site's politeness state (a write
//!   the store refuses once the lease moved), and takes over the state and the feeds' schedules
//!   the previous owner left.

mod site;
mod stats;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use url::Url;

pub use stats::{PollStats, StatsSnapshot};

use crate::pipeline::{JobListener, Pipeline};
use crate::schedule::politeness::{Politeness, site_of};
use crate::schedule::{Clock, FeedSchedule, Policy};
use crate::store::FeedStatus;
use crate::websub::{Advert, Feeds};
use site::{FeedSlot, Site};

/// How many permanent redirects recorded in the store are followed at start-up.
const MAX_MOVES: usize = 5;

/// The site schedulers and the feeds they poll.
pub struct Frontier {
    me: Weak<Frontier>,
    pipeline: Arc<Pipeline>,
    policy: Policy,
    clock: Arc<dyn Clock>,
    politeness: Arc<Politeness>,
    poll_slots: Arc<Semaphore>,
    page_slots: Arc<Semaphore>,
    outbox_limit: u64,
    stop: CancellationToken,
    tracker: TaskTracker,
    stats: Arc<PollStats>,
    sites: Mutex<HashMap<String, Arc<Site>>>,
    /// Configured feed URL → the site that polls it.
    feeds: Mutex<HashMap<String, String>>,
    /// Feeds (by polled URL) whose updates a WebSub hub pushes.
    pushed: Mutex<HashSet<String>>,
    /// Where feeds that advertise a WebSub hub are reported (when WebSub is on).
    adverts: OnceLock<mpsc::Sender<Advert>>,
    /// Pushed feed bodies waiting to be read, in a bounded queue (when WebSub is on).
    pushes: OnceLock<mpsc::Sender<(Url, Bytes)>>,
    /// Set while the outbox is over its bound, so the pause is logged once.
    paused: Mutex<bool>,
    /// With replicas: how long a site lease lasts.
    lease: Option<Duration>,
}

/// How the frontier is built.
pub struct FrontierConfig {
    pub policy: Policy,
    pub clock: Arc<dyn Clock>,
    pub politeness: Arc<Politeness>,
    pub poll_concurrency: usize,
    pub page_concurrency: usize,
    pub outbox_limit: u64,
    pub stop: CancellationToken,
    pub stats: Arc<PollStats>,
    /// With a store several replicas share: the length of a site lease.
    pub lease: Option<Duration>,
}

impl Frontier {
    /// A frontier over `pipeline`, listening for the jobs it enqueues.
    pub fn new(pipeline: Arc<Pipeline>, config: FrontierConfig) -> Arc<Self> {
        let frontier = Arc::new_cyclic(|me| Frontier {
            me: me.clone(),
            pipeline: pipeline.clone(),
            policy: config.policy,
            clock: config.clock,
            politeness: config.politeness,
            poll_slots: Arc::new(Semaphore::new(config.poll_concurrency.max(1))),
            page_slots: Arc::new(Semaphore::new(config.page_concurrency.max(1))),
            outbox_limit: config.outbox_limit,
            stop: config.stop,
            tracker: TaskTracker::new(),
            stats: config.stats,
            sites: Mutex::new(HashMap::new()),
            feeds: Mutex::new(HashMap::new()),
            pushed: Mutex::new(HashSet::new()),
            adverts: OnceLock::new(),
            pushes: OnceLock::new(),
            paused: Mutex::new(false),
            lease: config.lease,
        });
        pipeline.set_listener(frontier.clone());
        frontier
    }

    /// Wakes the sites that have page jobs waiting from an earlier run.
    ///
    /// # Errors
    /// The state store does not answer.
    pub async fn resume(&self) -> Result<usize, crate::store::StoreError> {
        if self.lease.is_some() {
            // With replicas the lease rounds wake the sites held here.
            return Ok(0);
        }
        let sites = self.pipeline.store().job_sites(None).await?;
        for (site, rank) in &sites {
            self.enqueued(site, *rank);
        }
        Ok(sites.len())
    }

    /// Tasks of the frontier (site loops and their work), to wait for at shutdown.
    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    pub fn stats(&self) -> &Arc<PollStats> {
        &self.stats
    }

    /// The subscribed feeds, as configured.
    pub fn feeds(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .feeds
            .lock()
            .expect("feeds lock")
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Makes the polled feeds match `feeds`: adds the new ones, removes the ones gone.
    pub async fn sync(&self, feeds: &[Url]) -> (usize, usize) {
        let wanted: HashSet<String> = feeds.iter().map(|u| u.to_string()).collect();
        let gone: Vec<(String, String)> = self
            .feeds
            .lock()
            .expect("feeds lock")
            .iter()
            .filter(|(url, _)| !wanted.contains(*url))
            .map(|(u, s)| (u.clone(), s.clone()))
            .collect();
        for (url, site) in &gone {
            tracing::info!(feed.url = %url, "feed removed from the list; its polling stops");
            self.feeds.lock().expect("feeds lock").remove(url);
            if let Some(site) = self.site(site) {
                site.remove_feed(url);
            }
        }
        let mut added = 0;
        for url in feeds {
            if self
                .feeds
                .lock()
                .expect("feeds lock")
                .contains_key(url.as_str())
            {
                continue;
            }
            // Claimed before the store is asked, so a concurrent sync does not add it twice.
            self.feeds
                .lock()
                .expect("feeds lock")
                .insert(url.to_string(), String::new());
            match self.slot_for(url).await {
                Some(slot) => {
                    let key = site_of(slot.url.host_str().unwrap_or_default());
                    self.feeds
                        .lock()
                        .expect("feeds lock")
                        .insert(url.to_string(), key.clone());
                    self.place(&key, slot);
                    added += 1;
                }
                // Retired: it stays listed (so it is not looked up again) but is not polled.
                None => continue,
            }
        }
        let count = self.feeds.lock().expect("feeds lock").len();
        self.pipeline.metrics().feeds.set(count as i64);
        if self.lease.is_some() {
            // Every replica makes its feeds' sites leasable; one of them will hold each.
            let mut sites: Vec<String> = self
                .feeds
                .lock()
                .expect("feeds lock")
                .values()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect();
            sites.sort_unstable();
            sites.dedup();
            if let Err(e) = self.pipeline.store().register_sites(sites).await {
                tracing::error!(error = %e, "state store failed; the feeds' sites are registered at the next reload");
            }
        }
        (added, gone.len())
    }

    /// A feed's slot: the URL to poll (itself, or where recorded moves lead) and its schedule.
    /// `None` when the subscription is retired.
    async fn slot_for(&self, configured: &Url) -> Option<FeedSlot> {
        let store = self.pipeline.store();
        let mut url = configured.clone();
        for _ in 0..=MAX_MOVES {
            match store.feed_status(url.as_str()).await {
                Ok(FeedStatus::Moved(to)) => match Url::parse(&to) {
                    Ok(next) => {
                        tracing::info!(from = %url, to = %next, "feed moved permanently earlier; polling its new URL (update the feed list)");
                        url = next;
                    }
                    Err(_) => break,
                },
                Ok(FeedStatus::Retired { at, reason }) => {
                    tracing::warn!(feed.url = %url, retired_at = %at, reason = %reason, "feed retired earlier; not polled (remove it from the feed list)");
                    return None;
                }
                Ok(FeedStatus::Active) | Err(_) => break,
            }
        }
        let sched: FeedSchedule = store
            .feed_schedule(url.as_str())
            .await
            .ok()
            .flatten()
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default();
        // Due at the time a previous run chose, or now spread over up to one interval (at most a
        // minute), so a start does not poll every feed at once.
        let spread = self
            .policy
            .interval
            .min(Duration::from_secs(60))
            .mul_f64(fastrand::f64());
        let saved_wait = sched
            .next_at
            .and_then(|t| (t - self.clock.now()).to_std().ok())
            .unwrap_or_default();
        let due = Instant::now() + saved_wait.max(spread);
        tracing::debug!(feed.url = %url, first_poll_in_ms = (due - Instant::now()).as_millis() as u64, "feed scheduled");
        Some(FeedSlot {
            configured: configured.to_string(),
            url,
            sched,
            due,
        })
    }

    /// Gives a feed to the site `key`, starting the site's scheduler if it is not running.
    fn place(&self, key: &str, slot: FeedSlot) {
        self.with_site(key, |site| site.add_feed(slot));
    }

    fn site(&self, key: &str) -> Option<Arc<Site>> {
        self.sites.lock().expect("sites lock").get(key).cloned()
    }

    /// Applies `f` to the site `key`, created and started if needed. Under the sites lock, so a
    /// scheduler retiring its idle site cannot miss the work `f` gives it.
    fn with_site(&self, key: &str, f: impl FnOnce(&Site)) {
        let mut sites = self.sites.lock().expect("sites lock");
        if let Some(s) = sites.get(key) {
            return f(s);
        }
        let site = Arc::new(Site::new(key, self.politeness.gate(key)));
        f(&site);
        sites.insert(key.to_string(), site.clone());
        self.pipeline.metrics().sites.set(sites.len() as i64);
        if let Some(me) = self.me.upgrade() {
            let span = tracing::info_span!("site", site = %key);
            self.tracker.spawn(me.run_site(site).instrument(span));
        }
    }

    /// Removes a site whose scheduler found nothing left to do. False (and nothing removed)
    /// when work arrived meanwhile, or while this replica holds its lease.
    fn retire_site(&self, site: &Arc<Site>) -> bool {
        let mut sites = self.sites.lock().expect("sites lock");
        if !site.is_idle() || site.leased() {
            return false;
        }
        sites.remove(&site.key);
        self.pipeline.metrics().sites.set(sites.len() as i64);
        true
    }

    /// Removes a site of another replica (with replicas) that has no feeds here.
    fn retire_foreign(&self, site: &Arc<Site>) -> bool {
        let mut sites = self.sites.lock().expect("sites lock");
        if !site.is_foreign() {
            return false;
        }
        sites.remove(&site.key);
        self.pipeline.metrics().sites.set(sites.len() as i64);
        true
    }

    /// Reports feeds that advertise a WebSub hub to `sender`.
    pub fn set_adverts(&self, sender: mpsc::Sender<Advert>) {
        let _ = self.adverts.set(sender);
    }

    /// Takes pushed feed bodies (WebSub) through a queue of `capacity`, read one at a time by a
    /// task of the frontier: a burst of pushes waits there (or is refused, when full) instead of
    /// starting a task each. At shutdown what is queued is still read.
    pub fn accept_pushes(&self, capacity: usize) {
        let (tx, mut rx) = mpsc::channel::<(Url, Bytes)>(capacity.max(1));
        if self.pushes.set(tx).is_err() {
            return;
        }
        let (pipeline, stop) = (self.pipeline.clone(), self.stop.clone());
        self.tracker.spawn(async move {
            let mut closed = false;
            loop {
                let (feed_url, body) = tokio::select! {
                    p = rx.recv() => match p {
                        Some(p) => p,
                        None => return,
                    },
                    _ = stop.cancelled(), if !closed => {
                        rx.close();
                        closed = true;
                        continue;
                    }
                };
                let span = tracing::info_span!("push", feed.url = %feed_url);
                async {
                    let now = pipeline.now();
                    let (outcome, _) = pipeline
                        .read_feed(&feed_url, body, &feed_url, now, None, true)
                        .await;
                    tracing::info!(outcome = ?outcome, "pushed content processed");
                }
                .instrument(span)
                .await;
            }
        });
    }

    /// Polls a feed at once (a hub announced a change without content, or a test).
    pub fn poke(&self, configured: &str) {
        let key = self
            .feeds
            .lock()
            .expect("feeds lock")
            .get(configured)
            .cloned();
        if let Some(site) = key.and_then(|k| self.site(&k)) {
            site.poke(configured);
        }
    }

    /// Keeps this replica's share of the site leases (with a store several replicas share)
    /// until `stop`: every third of a lease, one round of heartbeat, renewal, rebalancing and
    /// claims. A site won takes over the politeness state and the feed schedules its previous
    /// owner left before it starts; a site lost stops at once. The caller gives the leases back
    /// once in-flight work is done ([`crate::store::Backend::release_leases`]).
    pub async fn keep_leases(self: Arc<Self>, stop: CancellationToken) {
        let Some(ttl) = self.lease else { return };
        let store = self.pipeline.store().clone();
        let metrics = self.pipeline.metrics().clone();
        // Site → the epoch it is held at.
        let mut held: HashMap<String, i64> = HashMap::new();
        for round_no in 0u64.. {
            let started = Instant::now();
            match tokio::time::timeout(ttl / 3, store.lease_round(ttl)).await {
                Ok(Ok(round)) => {
                    // Trusted for most of the lease only, so latency cannot stretch it.
                    let valid_until = started + ttl.mul_f64(0.8);
                    let now_held: HashMap<String, i64> = round
                        .held
                        .iter()
                        .map(|l| (l.site.clone(), l.epoch))
                        .collect();
                    // Sites won (or won back under a new epoch) start from what the database
                    // says, not from what this replica remembers.
                    let gained: Vec<&crate::store::SiteLease> = round
                        .held
                        .iter()
                        .filter(|l| held.get(&l.site) != Some(&l.epoch))
                        .collect();
                    for l in &gained {
                        self.with_site(&l.site, |site| site.take_over(l));
                    }
                    self.reload_schedules(gained.iter().map(|l| l.site.as_str()))
                        .await;
                    for l in &round.held {
                        self.with_site(&l.site, |site| site.set_lease(Some(valid_until)));
                    }
                    for l in &gained {
                        tracing::info!(site = %l.site, epoch = l.epoch, "site lease taken");
                    }
                    for lost in held.keys().filter(|s| !now_held.contains_key(*s)) {
                        tracing::warn!(site = %lost, "site lease lost; its requests stop");
                        metrics.lease_losses.inc();
                        if let Some(site) = self.site(lost) {
                            site.set_lease(None);
                        }
                    }
                    held = now_held;
                    metrics.leases.set(held.len() as i64);
                    metrics.replicas.set(round.replicas as i64);
                    // Jobs other replicas queued for our sites.
                    let among: Vec<String> = held.keys().cloned().collect();
                    if let Ok(jobs) = store.job_sites(Some(among)).await {
                        for (site, rank) in jobs {
                            self.enqueued(&site, rank);
                        }
                    }
                    // Feeds another replica saw move (301/308) to another site.
                    if round_no % 5 == 0 {
                        self.follow_moves().await;
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, held = held.len(), "lease round failed; leases lapse unless the next round renews them");
                }
                Err(_) => {
                    tracing::warn!(
                        held = held.len(),
                        "lease round timed out; leases lapse unless the next round renews them"
                    );
                }
            }
            tokio::select! {
                _ = tokio::time::sleep_until(started + ttl / 3) => {}
                _ = stop.cancelled() => break,
            }
        }
        for site in held.keys() {
            if let Some(s) = self.site(site) {
                s.set_lease(None);
            }
        }
    }

    /// Reads the schedules of the feeds of `sites` again, in one query: their previous owner
    /// moved them on.
    async fn reload_schedules<'a>(&self, sites: impl Iterator<Item = &'a str>) {
        let slots: Vec<(Arc<Site>, Url)> = sites
            .filter_map(|k| self.site(k))
            .flat_map(|site| site.feed_urls().into_iter().map(move |u| (site.clone(), u)))
            .collect();
        if slots.is_empty() {
            return;
        }
        let urls = slots.iter().map(|(_, u)| u.to_string()).collect();
        let Ok(saved) = self.pipeline.store().feed_schedules(urls).await else {
            return;
        };
        for (site, url) in slots {
            let Some(sched) = saved
                .get(url.as_str())
                .and_then(|j| serde_json::from_str::<FeedSchedule>(j).ok())
            else {
                continue;
            };
            let wait = sched
                .next_at
                .and_then(|t| (t - self.clock.now()).to_std().ok())
                .unwrap_or_default();
            site.update_schedule(&url, sched, Instant::now() + wait);
        }
    }

    /// Moves feeds that another replica found redirected permanently to their new site.
    async fn follow_moves(&self) {
        let Ok(moves) = self.pipeline.store().feed_moves().await else {
            return;
        };
        for (from, to) in moves {
            let (Ok(from), Ok(to)) = (Url::parse(&from), Url::parse(&to)) else {
                continue;
            };
            let old = site_of(from.host_str().unwrap_or_default());
            let Some(slot) = self.site(&old).and_then(|s| s.take_feed(&from)) else {
                continue;
            };
            let new = site_of(to.host_str().unwrap_or_default());
            let _ = self
                .pipeline
                .store()
                .register_sites(vec![new.clone()])
                .await;
            self.feeds
                .lock()
                .expect("feeds lock")
                .insert(slot.configured.clone(), new.clone());
            self.place(&new, FeedSlot { url: to, ..slot });
        }
    }

    fn is_pushed(&self, url: &str) -> bool {
        self.pushed.lock().expect("pushed lock").contains(url)
    }

    /// Waits while the outbox is over `publish.outbox_limit`. False when stopped meanwhile.
    async fn wait_for_outbox_room(&self) -> bool {
        loop {
            let len = self.pipeline.store().outbox_len();
            if len < self.outbox_limit {
                let mut paused = self.paused.lock().expect("paused lock");
                if *paused {
                    *paused = false;
                    tracing::info!(
                        outbox = len,
                        "outbox below its bound again; polling resumes"
                    );
                }
                return true;
            }
            {
                let mut paused = self.paused.lock().expect("paused lock");
                if !*paused {
                    *paused = true;
                    tracing::warn!(
                        outbox = len,
                        limit = self.outbox_limit,
                        "outbox full (broker down or blocked); polling paused"
                    );
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = self.stop.cancelled() => return false,
            }
        }
    }
}

impl JobListener for Frontier {
    fn enqueued(&self, site: &str, rank_ms: i64) {
        let now_ms = self.pipeline.now().timestamp_millis();
        if self.lease.is_some() {
            // With replicas, only a site held here runs its jobs (the lease rounds bring the
            // jobs of sites won later).
            if let Some(s) = self.site(site) {
                s.job_at(rank_ms, now_ms);
            }
            return;
        }
        self.with_site(site, |s| s.job_at(rank_ms, now_ms));
    }
}

impl Feeds for Frontier {
    fn set_pushed(&self, polled_url: &str, pushed: bool) {
        let mut set = self.pushed.lock().expect("pushed lock");
        if pushed {
            set.insert(polled_url.to_string());
        } else {
            set.remove(polled_url);
        }
    }

    fn pushed(&self, feed_url: Url, body: Bytes) -> bool {
        self.pushes
            .get()
            .is_some_and(|q| q.try_send((feed_url, body)).is_ok())
    }
}

/// Jobs read at once by [`drain`]: descriptors only (the pages in hand are bounded by the
/// width), and few batches, so the CPU pool rarely waits for the last page of one.
const DRAIN_BATCH: usize = 4096;

/// Runs every page job due now in frontier order, as replay does at each step of its timeline:
/// pages are fetched and extracted concurrently (extraction on the CPU pool), and tracked one by
/// one in that order, so the output never depends on timing. Returns each job run, with the URL
/// of the article page it found (after redirects), if any.
///
/// # Errors
/// The state store does not answer, or keeps a job it was told to end.
pub async fn drain(
    pipeline: &Arc<Pipeline>,
) -> Result<Vec<(crate::store::PageJob, Option<String>)>, crate::store::StoreError> {
    use crate::pipeline::{ScrapeOutcome, Scraped};

    // Enough pages in hand that the CPU pool never waits while a page is being tracked.
    let width = 4 * std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut ran: HashSet<(String, i64)> = HashSet::new();
    let mut out = Vec::new();
    loop {
        let now_ms = pipeline.now().timestamp_millis();
        let due = pipeline.store().due_everywhere(now_ms, DRAIN_BATCH).await?;
        if due.is_empty() {
            return Ok(out);
        }
        let jobs: Vec<_> = due
            .into_iter()
            .filter(|j| !ran.contains(&(j.url.clone(), j.generation)))
            .collect();
        if jobs.is_empty() {
            return Err(crate::store::StoreError::Failed(
                "page jobs that ran could not be ended".into(),
            ));
        }
        // Pages are started from a task of their own, so extraction keeps every core busy
        // while this loop tracks: a page in hand is a spawned task, at most `width` waiting.
        let (started, mut scraped) = tokio::sync::mpsc::channel(width);
        let pages = jobs.clone();
        let starter = pipeline.clone();
        tokio::spawn(async move {
            for job in pages {
                let pipeline = starter.clone();
                let task = tokio::spawn(async move {
                    match pipeline.fetch_page(&job).await {
                        Ok(f) => pipeline.extract(&job, f).await,
                        Err(outcome) => Scraped::Nothing(outcome),
                    }
                });
                if started.send(task).await.is_err() {
                    break;
                }
            }
        });
        for job in &jobs {
            let Some(task) = scraped.recv().await else {
                break;
            };
            let s = task
                .await
                .unwrap_or_else(|_| Scraped::Nothing(ScrapeOutcome::Failed("panicked".into())));
            let found = match &s {
                Scraped::Article { page, .. } => Some(page.url.clone()),
                Scraped::Nothing(_) => None,
            };
            pipeline.finish(job, s).await;
            ran.insert((job.url.clone(), job.generation));
            out.push((job.clone(), found));
        }
    }
}
