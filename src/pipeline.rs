//! The stages wired once, shared by the daemon and replay: a poll fetches and reads a feed and
//! records its new or changed entries as page jobs; a page job fetches its page, extracts it and
//! tracks the article. A poll never waits for its pages: the frontier runs the jobs, each under
//! its own page's site.
//!
//! Guarantees:
//! - an entry counts as seen only once its page job is durable (one transaction), so a crash
//!   between poll and page loses nothing;
//! - a revision is assigned once: tracking is a compare-and-set on the article's version, its
//!   event is written in the same transaction, and a lost race is decided again against the
//!   state that won;
//! - a page job ends in the same transaction that records its result (or with a retry, or the
//!   next re-check, in its place), so every job is either done or still waiting.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use url::Url;

use crate::config::Settings;
use crate::cpu::CpuPool;
use crate::event::{ArticleData, Event};
use crate::feed;
use crate::fetch::{FetchError, Kind, Validators};
use crate::metrics::Metrics;
use crate::schedule::politeness::{site_of, site_of_url};
use crate::schedule::{self, Clock, FeedHints, HttpHints, SystemClock};
use crate::scrape::{self, Page};
use crate::store::{
    ArticleRow, Commit, JobKind, PageJob, PollCommit, SeenEntry, Store, StoreError, TrackCommit,
};
use crate::throttle::LogThrottle;
use crate::track::{self, Decision, Snapshot};
use crate::transport::{Fetched, Transport};

/// What one poll of a feed came to.
#[derive(Debug, Clone, PartialEq)]
pub enum PollOutcome {
    NotModified,
    /// The feed's entry links, and how many entries were new or changed and so became page jobs.
    Entries {
        links: Vec<Url>,
        queued: usize,
    },
    Failed(String),
}

impl PollOutcome {
    /// The `outcome` label of `newswire_feed_polls_total`.
    pub fn label(&self) -> &'static str {
        match self {
            PollOutcome::NotModified => "not_modified",
            PollOutcome::Entries { .. } => "entries",
            PollOutcome::Failed(_) => "failed",
        }
    }
}

/// What a poll learned that the schedule needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PollInfo {
    /// The final HTTP status; `None` when no answer came.
    pub status: Option<u16>,
    pub http: HttpHints,
    /// Hints from the feed body, when one was read.
    pub feed: Option<FeedHints>,
    /// The entries' own dates (updated, else published).
    pub entry_dates: Vec<DateTime<Utc>>,
    /// Entries never seen before.
    pub new_entries: usize,
    /// Where permanent redirects (301/308 from the feed URL) say the feed now lives.
    pub moved_to: Option<Url>,
    pub fetched_at: Option<DateTime<Utc>>,
}

/// What one page job came to.
#[derive(Debug, Clone, PartialEq)]
pub enum ScrapeOutcome {
    /// A new revision was stored with its event (1 = new article).
    Revision {
        revision: u32,
        changes: Vec<String>,
    },
    Unchanged,
    /// A revert to an earlier version, waiting for confirmation (flip-flop guard).
    Held,
    /// Not an article (front page, error page, stub): no event.
    NotArticle,
    /// The page answered with an error status.
    Missing(u16),
    /// robots.txt disallows fetching the page (`politeness.robots`).
    Disallowed,
    /// This replica lost the page's site to another: nothing was written; the new owner runs
    /// the job.
    LeaseLost,
    Failed(String),
}

/// A page fetched and, if it is an article, extracted: ready to be tracked.
pub enum Scraped {
    Article {
        page: Box<Page>,
        fetched_at: DateTime<Utc>,
    },
    /// Nothing to track; the outcome says why.
    Nothing(ScrapeOutcome),
}

/// Told when jobs are enqueued, so the site that runs them wakes up. The frontier listens.
pub trait JobListener: Send + Sync {
    fn enqueued(&self, site: &str, rank_ms: i64);
}

/// A job that failed is tried again this many times before it is dropped (re-checks go on at
/// the re-check pace instead).
const MAX_ATTEMPTS: u32 = 5;
/// Decisions re-made after losing a compare-and-set before the job is retried later.
const MAX_CONFLICTS: usize = 8;

/// The stages, shared by every driver.
pub struct Pipeline {
    settings: Arc<Settings>,
    transport: Transport,
    store: Store,
    cpu: CpuPool,
    clock: Arc<dyn Clock>,
    /// Jobs from one poll are staggered by this much per page on the same site.
    spacing: Duration,
    wake_publisher: Arc<Notify>,
    /// Live: re-checks and retries are scheduled (in replay the capture decides).
    live: bool,
    listener: OnceLock<Arc<dyn JobListener>>,
    metrics: Arc<Metrics>,
    /// Failures the web can cause in bulk are logged at most once per feed and kind per window.
    log_throttle: LogThrottle,
}

impl Pipeline {
    pub fn new(settings: Arc<Settings>, transport: Transport, store: Store) -> Self {
        let live = matches!(transport, Transport::Live(_));
        let spacing = if live {
            settings.politeness.spacing.0
        } else {
            Duration::ZERO
        };
        Pipeline {
            settings,
            transport,
            store,
            cpu: CpuPool::sized_to_cores(),
            clock: Arc::new(SystemClock),
            spacing,
            wake_publisher: Arc::new(Notify::new()),
            live,
            listener: OnceLock::new(),
            metrics: Arc::new(Metrics::new()),
            log_throttle: LogThrottle::new(Duration::from_secs(600)),
        }
    }

    /// Records into `metrics` (the daemon's registry) instead of a private one.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Reads "now" from `clock` (live; replay reads the capture's time).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Tells `listener` about every job enqueued from now on.
    pub fn set_listener(&self, listener: Arc<dyn JobListener>) {
        let _ = self.listener.set(listener);
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Woken whenever an event is written to the outbox.
    pub fn publisher_wake(&self) -> Arc<Notify> {
        self.wake_publisher.clone()
    }

    /// The time the pipeline considers "now": the clock's, or the capture's in replay.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.transport {
            Transport::Live(_) => self.clock.now(),
            Transport::Replay(c) => c.cursor_time(),
        }
    }

    fn notify(&self, site: &str, rank_ms: i64) {
        if let Some(l) = self.listener.get() {
            l.enqueued(site, rank_ms);
        }
    }

    /// A fetch through the transport, measured.
    async fn fetch(
        &self,
        url: &Url,
        kind: Kind,
        validators: &Validators,
    ) -> Result<Fetched, FetchError> {
        let label = match kind {
            Kind::Feed => "feed",
            Kind::Page => "page",
        };
        let start = Instant::now();
        let res = self.transport.get(url, kind, validators).await;
        match &res {
            Ok(f) => self.metrics.fetched(
                label,
                f.response.status,
                f.response.body.len(),
                start.elapsed(),
            ),
            Err(e) => self.metrics.error(e.kind()),
        }
        res
    }

    /// Logs a failure that the web can cause in bulk: a warning at most once per source and kind
    /// per window (with how many were suppressed), debug otherwise.
    fn log_bulk(&self, source: &str, kind: &'static str, warn: impl Fn(Option<u64>)) {
        warn(self.log_throttle.admit(source, kind));
    }

    /// Polls a feed: fetches it and records its new or changed entries as page jobs.
    pub async fn poll_feed(&self, feed_url: &Url) -> PollOutcome {
        self.poll(feed_url).await.0
    }

    /// As [`Pipeline::poll_feed`], also telling the scheduler what the poll learned.
    pub async fn poll(&self, feed_url: &Url) -> (PollOutcome, PollInfo) {
        let store = &self.store;
        let validators = store
            .feed_validators(feed_url.as_str())
            .await
            .unwrap_or_default();
        let fetched = match self.fetch(feed_url, Kind::Feed, &validators).await {
            Ok(f) => f,
            Err(e) => {
                let now = self.now();
                tracing::warn!(feed.url = %feed_url, error = %e, kind = e.kind(), "feed fetch failed");
                let _ = store
                    .record_poll(feed_url.as_str(), now, None, Some(&e.to_string()))
                    .await;
                return (
                    PollOutcome::Failed(e.to_string()),
                    PollInfo {
                        fetched_at: Some(now),
                        ..PollInfo::default()
                    },
                );
            }
        };
        let resp = fetched.response;
        let mut info = PollInfo {
            status: Some(resp.status),
            http: HttpHints::from_response(resp.status, &resp.headers, fetched.fetched_at),
            fetched_at: Some(fetched.fetched_at),
            ..PollInfo::default()
        };
        if resp.status == 304 || (200..300).contains(&resp.status) {
            info.moved_to = resp.permanent_location().cloned();
        }
        if resp.status == 304 {
            tracing::debug!(feed.url = %feed_url, "feed not modified");
            let _ = store
                .record_poll(feed_url.as_str(), fetched.fetched_at, None, None)
                .await;
            return (PollOutcome::NotModified, info);
        }
        if !(200..300).contains(&resp.status) {
            let why = format!("HTTP {}", resp.status);
            let retry_after = info.http.retry_after_secs;
            let kind = "http_status";
            self.log_bulk(feed_url.as_str(), kind, |suppressed| match suppressed {
                Some(suppressed) => {
                    tracing::warn!(feed.url = %feed_url, status = resp.status, retry_after = ?retry_after, kind, suppressed, "feed answered with an error")
                }
                None => {
                    tracing::debug!(feed.url = %feed_url, status = resp.status, kind, "feed answered with an error")
                }
            });
            let _ = store
                .record_poll(feed_url.as_str(), fetched.fetched_at, None, Some(&why))
                .await;
            return (PollOutcome::Failed(why), info);
        }
        let validators = resp.validators();
        let (outcome, body_info) = self
            .read_feed(
                feed_url,
                resp.body,
                &resp.url,
                fetched.fetched_at,
                Some(validators),
                false,
            )
            .await;
        info.feed = body_info.feed;
        info.entry_dates = body_info.entry_dates;
        info.new_entries = body_info.new_entries;
        (outcome, info)
    }

    /// Reads a feed body (fetched, or `pushed` by a WebSub hub) and records its new or changed
    /// entries as page jobs. `validators` are stored for the next conditional GET when given.
    pub async fn read_feed(
        &self,
        feed_url: &Url,
        body: bytes::Bytes,
        base: &Url,
        fetched_at: DateTime<Utc>,
        validators: Option<Validators>,
        pushed: bool,
    ) -> (PollOutcome, PollInfo) {
        let store = &self.store;
        let mut info = PollInfo {
            fetched_at: Some(fetched_at),
            ..PollInfo::default()
        };
        let base_url = base.clone();
        let parsed = self
            .cpu
            .run(move || {
                let entries = feed::parse(&body, &base_url);
                (entries, schedule::hints::scan_feed(&body))
            })
            .await;
        let (entries, hints) = match parsed {
            Ok((Ok(entries), hints)) => (entries, hints),
            Ok((Err(e), _)) => {
                let kind = e.kind();
                self.log_bulk(feed_url.as_str(), kind, |suppressed| match suppressed {
                    Some(suppressed) => {
                        tracing::warn!(feed.url = %feed_url, error = %e, kind, suppressed, "feed unreadable")
                    }
                    None => tracing::debug!(feed.url = %feed_url, error = %e, kind, "feed unreadable"),
                });
                self.metrics.error(kind);
                let _ = store
                    .record_poll(feed_url.as_str(), fetched_at, None, Some(&e.to_string()))
                    .await;
                return (PollOutcome::Failed(e.to_string()), info);
            }
            Err(_) => {
                tracing::error!(feed.url = %feed_url, "feed parsing panicked");
                self.metrics.error("feed_panic");
                let _ = store
                    .record_poll(feed_url.as_str(), fetched_at, None, Some("parser panicked"))
                    .await;
                return (PollOutcome::Failed("feed parsing panicked".into()), info);
            }
        };
        info.feed = Some(hints);
        info.entry_dates = entries.iter().filter_map(|e| e.updated).collect();
        let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        let seen = match store.entry_digests(feed_url.as_str(), ids).await {
            Ok(s) => s,
            Err(e) => return self.store_failed(feed_url, &e, info),
        };
        let now_ms = self.now().timestamp_millis();
        let spacing_ms = self.spacing.as_millis() as i64;
        // Position of each job among this poll's jobs for the same site: the stagger.
        let mut per_site: HashMap<String, i64> = HashMap::new();
        let mut links = Vec::with_capacity(entries.len());
        let mut queued = Vec::new();
        for entry in entries {
            links.push(entry.link.clone());
            let before = seen.get(&entry.id);
            if before == Some(&entry.digest) {
                continue;
            }
            let kind = match (before, pushed) {
                (_, true) => JobKind::Pushed,
                (None, false) => JobKind::New,
                (Some(_), false) => JobKind::Changed,
            };
            if before.is_none() {
                info.new_entries += 1;
            } else {
                tracing::info!(feed.url = %feed_url, entry.link = %entry.link, "feed entry changed; its page is fetched again");
            }
            let site = site_of(entry.link.host_str().unwrap_or_default());
            let position = per_site.entry(site.clone()).or_insert(0);
            let rank_ms = now_ms + *position * spacing_ms;
            *position += 1;
            // What the feed says of the entry travels with its job, to fill what the page lacks.
            let meta = scrape::FeedMeta::from(&entry);
            let meta = (meta != scrape::FeedMeta::default())
                .then(|| serde_json::to_string(&meta).expect("feed metadata serializes"));
            queued.push(SeenEntry {
                entry_id: entry.id,
                link: entry.link.to_string(),
                digest: entry.digest,
                job: PageJob {
                    url: entry.link.to_string(),
                    generation: 0,
                    site,
                    feed_url: feed_url.to_string(),
                    kind,
                    rank_ms,
                    attempts: 0,
                    article_id: None,
                    meta,
                },
            });
        }
        let count = queued.len();
        let woken: Vec<(String, i64)> = queued
            .iter()
            .map(|e| (e.job.site.clone(), e.job.rank_ms))
            .collect();
        let commit = PollCommit {
            feed_url: feed_url.to_string(),
            at: fetched_at,
            validators,
            entries: queued,
            pushed,
        };
        if let Err(e) = store.commit_poll(commit).await {
            return self.store_failed(feed_url, &e, info);
        }
        for (site, rank) in woken {
            self.notify(&site, rank);
        }
        if count > 0 {
            tracing::debug!(feed.url = %feed_url, queued = count, "new or changed entries queued");
        }
        (
            PollOutcome::Entries {
                links,
                queued: count,
            },
            info,
        )
    }

    fn store_failed(
        &self,
        feed_url: &Url,
        e: &StoreError,
        info: PollInfo,
    ) -> (PollOutcome, PollInfo) {
        if let StoreError::LeaseLost(_) = e {
            tracing::info!(feed.url = %feed_url, "the site's lease moved to another replica, which polls the feed");
        } else {
            tracing::error!(feed.url = %feed_url, error = %e, "state store failed; the feed's entries are read again at the next poll");
            self.metrics.error("store");
        }
        (PollOutcome::Failed(e.to_string()), info)
    }

    /// Runs a page job from start to end: fetch, extract, track.
    pub async fn run_job(&self, job: &PageJob) -> ScrapeOutcome {
        let scraped = match self.fetch_page(job).await {
            Ok(f) => self.extract(job, f).await,
            Err(outcome) => Scraped::Nothing(outcome),
        };
        self.finish(job, scraped).await
    }

    /// Fetches a job's page. An answer that is not an article page is an outcome.
    ///
    /// # Errors
    /// The outcome when there is no page to extract.
    pub async fn fetch_page(&self, job: &PageJob) -> Result<Fetched, ScrapeOutcome> {
        let Ok(link) = Url::parse(&job.url) else {
            return Err(ScrapeOutcome::Failed("stored URL unreadable".into()));
        };
        // Page failures are throttled per feed, so a feed of broken links logs a line, not a flood.
        let source = format!("{} pages", job.feed_url);
        let fetched = match self.fetch(&link, Kind::Page, &Validators::default()).await {
            Ok(f) => f,
            Err(FetchError::Robots(_)) => {
                tracing::info!(article.url = %link, "robots.txt disallows the page; not fetched");
                return Err(ScrapeOutcome::Disallowed);
            }
            Err(e) => {
                let kind = e.kind();
                self.log_bulk(&source, kind, |suppressed| match suppressed {
                    Some(suppressed) => {
                        tracing::warn!(article.url = %link, feed.url = %job.feed_url, error = %e, kind, suppressed, "page fetch failed")
                    }
                    None => tracing::debug!(article.url = %link, error = %e, kind, "page fetch failed"),
                });
                return Err(ScrapeOutcome::Failed(e.to_string()));
            }
        };
        let status = fetched.response.status;
        if status != 200 {
            let kind = "http_status";
            self.log_bulk(&source, kind, |suppressed| match suppressed {
                Some(suppressed) => {
                    tracing::info!(article.url = %link, status, kind, suppressed, "page not available")
                }
                None => tracing::debug!(article.url = %link, status, kind, "page not available"),
            });
            return Err(ScrapeOutcome::Missing(status));
        }
        Ok(fetched)
    }

    /// Decodes and extracts a fetched page on the CPU pool, and merges what the feed said of it
    /// (`scrape::merge_feed`: the page's own byline and stamps first, the feed's to fill gaps).
    pub async fn extract(&self, job: &PageJob, fetched: Fetched) -> Scraped {
        let response = fetched.response;
        let fetched_at = fetched.fetched_at;
        let settings = self.settings.clone();
        let meta: Option<scrape::FeedMeta> = job
            .meta
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok());
        let started = Instant::now();
        let page = self
            .cpu
            .run(move || {
                let html = response.text();
                let feed_text = meta.as_ref().and_then(|m| m.text.as_deref());
                let mut page = scrape::extract_page_with_feed(
                    &html,
                    &response.url,
                    Some(&settings),
                    feed_text,
                );
                if let Some(meta) = &meta {
                    scrape::merge_feed(&mut page, meta, fetched_at);
                }
                page
            })
            .await;
        let page = match page {
            Ok(p) => {
                self.metrics
                    .extract_seconds
                    .observe(started.elapsed().as_secs_f64());
                p
            }
            Err(_) => {
                tracing::error!("extraction panicked");
                self.metrics.error("extraction_panic");
                return Scraped::Nothing(ScrapeOutcome::Failed("extraction panicked".into()));
            }
        };
        if !page.is_article() {
            let source = format!("{} pages", job.feed_url);
            self.log_bulk(&source, "not_article", |suppressed| match suppressed {
                Some(suppressed) => {
                    tracing::info!(article.url = %page.url, kind = "not_article", suppressed, "not an article page; no event")
                }
                None => {
                    tracing::debug!(article.url = %page.url, kind = "not_article", "not an article page; no event")
                }
            });
            return Scraped::Nothing(ScrapeOutcome::NotArticle);
        }
        Scraped::Article {
            page: Box::new(page),
            fetched_at,
        }
    }

    /// Tracks what a job scraped and ends the job (done, retried later, or re-checked later).
    pub async fn finish(&self, job: &PageJob, scraped: Scraped) -> ScrapeOutcome {
        let outcome = match scraped {
            Scraped::Article { page, fetched_at } => {
                let outcome = self.track(job, *page, fetched_at).await;
                if !matches!(outcome, ScrapeOutcome::Failed(_)) {
                    return outcome;
                }
                outcome
            }
            Scraped::Nothing(outcome) => outcome,
        };
        let then = self.after(job, &outcome).await;
        let woken = then.as_ref().map(|j| (j.site.clone(), j.rank_ms));
        match self.store.finish_job(job.job_ref(), then).await {
            Ok(()) => {
                if let Some((site, rank)) = woken {
                    self.notify(&site, rank);
                }
            }
            Err(StoreError::LeaseLost(_)) => {
                tracing::info!(article.url = %job.url, "the site's lease moved to another replica, which runs the job");
                return ScrapeOutcome::LeaseLost;
            }
            Err(e) => {
                tracing::error!(article.url = %job.url, error = %e, "state store failed; the page job stays and runs again");
                self.metrics.error("store");
            }
        }
        outcome
    }

    /// What replaces a job that ended without a tracked page: a retry, the next re-check, or
    /// nothing.
    async fn after(&self, job: &PageJob, outcome: &ScrapeOutcome) -> Option<PageJob> {
        let retryable = match outcome {
            ScrapeOutcome::Failed(_) => true,
            ScrapeOutcome::Missing(s) => *s == 429 || *s >= 500,
            _ => false,
        };
        let now = self.now();
        if job.kind == JobKind::Recheck {
            // Gone, failing or no longer an article: try again at the re-check pace, not at once.
            if matches!(outcome, ScrapeOutcome::Disallowed) {
                return None;
            }
            let changed = match &job.article_id {
                Some(id) => self
                    .store
                    .article(id)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|a| a.last_changed),
                None => None,
            };
            let at = self.next_check(changed, now)?;
            return Some(PageJob {
                rank_ms: at.timestamp_millis(),
                ..job.clone()
            });
        }
        if !retryable || !self.live {
            return None;
        }
        if job.attempts + 1 >= MAX_ATTEMPTS {
            tracing::warn!(article.url = %job.url, attempts = job.attempts + 1, outcome = ?outcome, "page still failing; its job is dropped");
            return None;
        }
        // 30 s, 1 min, 2 min, 4 min ...
        let backoff = Duration::from_secs(30) * 2u32.pow(job.attempts);
        Some(PageJob {
            rank_ms: (now + chrono::Duration::from_std(backoff).unwrap_or_default())
                .timestamp_millis(),
            attempts: job.attempts + 1,
            ..job.clone()
        })
    }

    /// Decides what a fetched article page means and writes it: a compare-and-set on the
    /// article's version, decided again whenever another write got there first.
    async fn track(&self, job: &PageJob, page: Page, fetched_at: DateTime<Utc>) -> ScrapeOutcome {
        let feed_url = job.feed_url.as_str();
        let canonical = Url::parse(&page.canonical_url)
            .or_else(|_| Url::parse(&page.url))
            .ok();
        let Some(canonical) = canonical else {
            return ScrapeOutcome::Failed("page URL unreadable".into());
        };
        let article_id = track::article_id(&canonical);
        let span = tracing::info_span!("track", article.id = %article_id, article.url = %page.url);
        let _enter = span.enter();
        let snapshot = Snapshot {
            title: page.title.clone(),
            content_hash: page.content_hash.clone(),
            authors: page.authors.clone(),
            published_at: page.published_at,
            updated_at: page.updated_at,
            revision_notes: page.revision_notes.clone(),
        };
        let fetched = fetched_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        for _ in 0..MAX_CONFLICTS {
            let prev: Option<ArticleRow> = match self.store.article(&article_id).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "state store read failed");
                    self.metrics.error("store");
                    return ScrapeOutcome::Failed(e.to_string());
                }
            };
            // The diff is CPU work (bounded by its deadline): on the CPU pool, not on an async
            // worker that lease rounds and other sites' requests share; in its lane for short
            // jobs, since this article's later fetches (and replay's whole order) wait on it.
            let (prev_state, snap, body, at) = (
                prev.as_ref().map(|p| p.state.clone()),
                snapshot.clone(),
                page.body_text.clone(),
                fetched.clone(),
            );
            let decision = match self
                .cpu
                .run_urgent(move || track::observe(prev_state.as_ref(), snap, &body, &at))
                .await
            {
                Ok(d) => d,
                Err(_) => {
                    tracing::error!("revision tracking panicked");
                    self.metrics.error("track_panic");
                    return ScrapeOutcome::Failed("revision tracking panicked".into());
                }
            };
            let (state, changes, diff, emit) = match decision {
                Decision::Unchanged => (None, Vec::new(), None, false),
                Decision::Held(state) => (Some(state), Vec::new(), None, false),
                Decision::New(state) => (Some(state), Vec::new(), None, true),
                Decision::Revised {
                    state,
                    changes,
                    diff,
                } => (Some(state), changes, Some(*diff), true),
            };
            let revision = state.as_ref().map(|s| s.revision);
            let event = match (&state, emit) {
                (Some(state), true) => Some(Event::for_revision(&ArticleData {
                    article_id: article_id.clone(),
                    revision: state.revision,
                    url: page.url.clone(),
                    canonical_url: page.canonical_url.clone(),
                    feed_url: feed_url.to_string(),
                    title: page.title.clone(),
                    authors: page.authors.clone(),
                    language: page.language.clone(),
                    published_at: page.published_at,
                    updated_at: page.updated_at,
                    revision_notes: page.revision_notes.clone(),
                    body_text: page.body_text.clone(),
                    word_count: page.word_count,
                    content_hash: page.content_hash.clone(),
                    changes: changes.clone(),
                    diff,
                    fetched_at: fetched.clone(),
                })),
                _ => None,
            };
            let last_changed = if emit {
                Some(fetched_at)
            } else {
                prev.as_ref().and_then(|p| p.last_changed)
            };
            let recheck = self
                .next_check(last_changed, fetched_at)
                .map(|at| self.recheck_job(job, &page.url, &article_id, at));
            let woken = recheck.as_ref().map(|j| (j.site.clone(), j.rank_ms));
            let write = TrackCommit {
                article_id: article_id.clone(),
                url: page.url.clone(),
                feed_url: feed_url.to_string(),
                expected_version: prev.as_ref().map(|p| p.version),
                changed_at: emit.then_some(fetched_at),
                state,
                event,
                done: Some(job.job_ref()),
                recheck,
            };
            match self.store.commit_track(write).await {
                Ok(Commit::Done) => {}
                Ok(Commit::Conflict) => {
                    tracing::debug!(
                        "another fetch of this article was written first; deciding again"
                    );
                    self.metrics.error("track_conflict");
                    continue;
                }
                Ok(Commit::Fenced) => {
                    tracing::info!(
                        "the site's lease moved to another replica; this fetch is not written"
                    );
                    return ScrapeOutcome::LeaseLost;
                }
                Err(e) => {
                    tracing::error!(error = %e, "state store write failed; the page is fetched again");
                    self.metrics.error("store");
                    return ScrapeOutcome::Failed(e.to_string());
                }
            }
            if let Some((site, rank)) = woken {
                self.notify(&site, rank);
            }
            let Some(revision) = revision else {
                tracing::debug!("unchanged");
                return ScrapeOutcome::Unchanged;
            };
            if !emit {
                tracing::info!(
                    revision,
                    "page reverted to an earlier version; held until confirmed"
                );
                return ScrapeOutcome::Held;
            }
            tracing::info!(revision, changes = ?changes, "new revision");
            if revision <= 1 {
                self.metrics.articles_detected.inc();
            } else {
                self.metrics.revisions_detected.inc();
            }
            self.wake_publisher.notify_one();
            return ScrapeOutcome::Revision { revision, changes };
        }
        ScrapeOutcome::Failed("the article kept changing under concurrent fetches".into())
    }

    /// The re-check of an article fetched by `job` (at its page's final URL), carrying what
    /// the feed said, so a re-check merges the same feed metadata as the first fetch.
    fn recheck_job(
        &self,
        job: &PageJob,
        page_url: &str,
        article_id: &str,
        at: DateTime<Utc>,
    ) -> PageJob {
        let url = Url::parse(page_url)
            .map(|u| track::normalize_url(&u).to_string())
            .unwrap_or_else(|_| page_url.to_string());
        PageJob {
            site: site_of_url(&url),
            url,
            generation: 0,
            feed_url: job.feed_url.clone(),
            kind: JobKind::Recheck,
            rank_ms: at.timestamp_millis(),
            attempts: 0,
            article_id: Some(article_id.to_string()),
            meta: job.meta.clone(),
        }
    }

    /// The next re-check of an article that last changed at `changed` (or now), from
    /// `scrape.recheck`; `None` when re-checks are off or the article is past the last step.
    fn next_check(
        &self,
        changed: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if !self.live {
            return None;
        }
        let age = (now - changed.unwrap_or(now)).to_std().unwrap_or_default();
        let (_, every) = self
            .settings
            .scrape
            .recheck
            .iter()
            .find(|(within, _)| age < within.0)?;
        Some(now + chrono::Duration::from_std(every.0).ok()?)
    }
}
