//! Wiring: the pipeline (poll → scrape → track → store+outbox) and its two drivers, the live
//! daemon (`run`) and the capture replay (`replay`). Both drive the same [`Pipeline`]; only the
//! transport and the clock differ.
//!
//! Shutdown (`run`): the token stops new polls; in-flight work finishes within
//! `shutdown.drain` (an entry not yet scraped is not marked seen, so the next start picks it
//! up); the publisher then flushes the outbox within `shutdown.flush`. Nothing accepted is lost:
//! what was not published stays in the outbox.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use url::Url;

use crate::config::{Settings, SinkKind};
use crate::event::{ArticleData, Event};
use crate::feed;
use crate::fetch::{FetchError, Fetcher, Kind, Validators};
use crate::metrics::Metrics;
use crate::poller::{PollStats, Poller};
use crate::publish::{AmqpSink, Publisher, Sink};
use crate::schedule::politeness::Politeness;
use crate::schedule::{self, FeedHints, HttpHints};
use crate::schedule::{Clock, SystemClock};
use crate::scrape::{self, Page};
use crate::store::{Recheck, Store};
use crate::throttle::LogThrottle;
use crate::track::{self, Decision, Snapshot};
use crate::transport::{Capture, Fetched, Live, Recorder, Transport};
use crate::websub::WebSub;

/// What one poll of a feed came to.
#[derive(Debug, Clone, PartialEq)]
pub enum PollOutcome {
    NotModified,
    /// The feed's entry links, and how many entries were new or changed and so scraped.
    Entries {
        links: Vec<Url>,
        scraped: usize,
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
    /// Time spent waiting at the site's politeness gate.
    pub gate_wait: Duration,
}

/// New or changed entries scraped in one poll. The rest are not marked seen, so the next poll
/// takes them up: a feed of thousands of new items cannot hold its poll slot for hours.
const MAX_SCRAPES_PER_POLL: usize = 100;

/// What one scrape of an article page came to.
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
    Failed(String),
}

/// The stages, shared by every driver.
pub struct Pipeline {
    settings: Arc<Settings>,
    transport: Transport,
    store: Store,
    wake_publisher: Arc<Notify>,
    /// Re-check new articles for revisions (live only: in replay the capture decides).
    rechecks: bool,
    scrape_slots: Semaphore,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
    /// Failures the web can cause in bulk are logged at most once per feed and kind per window.
    log_throttle: LogThrottle,
}

impl Pipeline {
    pub fn new(
        settings: Arc<Settings>,
        transport: Transport,
        store: Store,
        rechecks: bool,
        stop: CancellationToken,
    ) -> Self {
        let slots = settings.scrape.concurrency;
        Pipeline {
            settings,
            transport,
            store,
            wake_publisher: Arc::new(Notify::new()),
            rechecks,
            scrape_slots: Semaphore::new(slots),
            stop,
            metrics: Arc::new(Metrics::new()),
            log_throttle: LogThrottle::new(Duration::from_secs(600)),
        }
    }

    /// Records into `metrics` (the daemon's registry) instead of a private one.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
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

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Polls a feed and scrapes its new or changed entries.
    pub async fn poll_feed(&self, feed_url: &Url) -> PollOutcome {
        self.poll(feed_url).await.0
    }

    /// As [`Pipeline::poll_feed`], also telling the scheduler what the poll learned.
    pub async fn poll(&self, feed_url: &Url) -> (PollOutcome, PollInfo) {
        let store = &self.store;
        let validators = store.feed_validators(feed_url.as_str()).unwrap_or_default();
        let fetched = match self.fetch(feed_url, Kind::Feed, &validators).await {
            Ok(f) => f,
            Err(e) => {
                let now = self.transport.now();
                tracing::warn!(feed.url = %feed_url, error = %e, kind = e.kind(), "feed fetch failed");
                let _ = store.record_poll(feed_url.as_str(), now, None, Some(&e.to_string()));
                return (
                    PollOutcome::Failed(e.to_string()),
                    PollInfo {
                        fetched_at: Some(now),
                        ..PollInfo::default()
                    },
                );
            }
        };
        let resp = &fetched.response;
        let mut info = PollInfo {
            status: Some(resp.status),
            http: HttpHints::from_response(resp.status, &resp.headers, fetched.fetched_at),
            fetched_at: Some(fetched.fetched_at),
            gate_wait: fetched.waited,
            ..PollInfo::default()
        };
        if resp.status == 304 || (200..300).contains(&resp.status) {
            info.moved_to = resp.permanent_location().cloned();
        }
        if resp.status == 304 {
            tracing::debug!(feed.url = %feed_url, "feed not modified");
            let _ = store.record_poll(feed_url.as_str(), fetched.fetched_at, None, None);
            return (PollOutcome::NotModified, info);
        }
        if !(200..300).contains(&resp.status) {
            let why = format!("HTTP {}", resp.status);
            let retry_after = info.http.retry_after_secs;
            let kind = "http_status";
            match self.log_throttle.admit(feed_url.as_str(), kind) {
                Some(suppressed) => {
                    tracing::warn!(feed.url = %feed_url, status = resp.status, retry_after = ?retry_after, kind, suppressed, "feed answered with an error")
                }
                None => {
                    tracing::debug!(feed.url = %feed_url, status = resp.status, kind, "feed answered with an error")
                }
            }
            let _ = store.record_poll(feed_url.as_str(), fetched.fetched_at, None, Some(&why));
            return (PollOutcome::Failed(why), info);
        }
        let (outcome, body_info) = self
            .read_feed(
                feed_url,
                &resp.body,
                &resp.url,
                fetched.fetched_at,
                Some(&resp.validators()),
            )
            .await;
        info.feed = body_info.feed;
        info.entry_dates = body_info.entry_dates;
        info.new_entries = body_info.new_entries;
        (outcome, info)
    }

    /// Reads a feed body (fetched, or pushed by a WebSub hub) and scrapes its new or changed
    /// entries. `validators` are stored for the next conditional GET when given.
    pub async fn read_feed(
        &self,
        feed_url: &Url,
        body: &[u8],
        base: &Url,
        fetched_at: DateTime<Utc>,
        validators: Option<&Validators>,
    ) -> (PollOutcome, PollInfo) {
        let store = &self.store;
        let mut info = PollInfo {
            fetched_at: Some(fetched_at),
            ..PollInfo::default()
        };
        let entries = match feed::parse(body, base) {
            Ok(e) => e,
            Err(e) => {
                let kind = e.kind();
                match self.log_throttle.admit(feed_url.as_str(), kind) {
                    Some(suppressed) => {
                        tracing::warn!(feed.url = %feed_url, error = %e, kind, suppressed, "feed unreadable")
                    }
                    None => {
                        tracing::debug!(feed.url = %feed_url, error = %e, kind, "feed unreadable")
                    }
                }
                self.metrics.error(kind);
                let _ =
                    store.record_poll(feed_url.as_str(), fetched_at, None, Some(&e.to_string()));
                return (PollOutcome::Failed(e.to_string()), info);
            }
        };
        info.feed = Some(schedule::hints::scan_feed(body));
        info.entry_dates = entries.iter().filter_map(|e| e.updated).collect();
        let _ = store.record_poll(feed_url.as_str(), fetched_at, validators, None);
        let mut scraped = 0;
        let mut deferred = 0;
        let mut links = Vec::with_capacity(entries.len());
        for entry in entries {
            links.push(entry.link.clone());
            let seen = store
                .entry_digest(feed_url.as_str(), &entry.id)
                .ok()
                .flatten();
            if seen.as_deref() == Some(entry.digest.as_str()) {
                continue;
            }
            if seen.is_none() {
                info.new_entries += 1;
            }
            if scraped >= MAX_SCRAPES_PER_POLL {
                // Not marked seen: a later poll scrapes it.
                deferred += 1;
                continue;
            }
            if self.stop.is_cancelled() {
                // Not marked seen: the next start scrapes it.
                break;
            }
            if seen.is_some() {
                tracing::info!(feed.url = %feed_url, entry.link = %entry.link, "feed entry changed; re-fetching its page");
            }
            let (outcome, final_url) = self.scrape(&entry.link, feed_url).await;
            scraped += 1;
            if final_url != entry.link {
                links.push(final_url);
            }
            if !matches!(outcome, ScrapeOutcome::Failed(_)) {
                let _ = store.save_entry(
                    feed_url.as_str(),
                    &entry.id,
                    entry.link.as_str(),
                    &entry.digest,
                );
            }
        }
        if deferred > 0 {
            tracing::info!(feed.url = %feed_url, scraped, deferred, "more new entries than one poll scrapes; the rest wait for the next poll");
        }
        (PollOutcome::Entries { links, scraped }, info)
    }

    /// Fetches and extracts an article page and records what changed. Also returns the URL
    /// the page was finally fetched from.
    pub async fn scrape(&self, link: &Url, feed_url: &Url) -> (ScrapeOutcome, Url) {
        let _slot = self
            .scrape_slots
            .acquire()
            .await
            .expect("semaphore never closed");
        // Page failures are throttled per feed, so a feed of broken links logs a line, not a flood.
        let source = format!("{feed_url} pages");
        let fetched = match self.fetch(link, Kind::Page, &Validators::default()).await {
            Ok(f) => f,
            Err(FetchError::Robots(_)) => {
                tracing::info!(article.url = %link, "robots.txt disallows the page; not fetched");
                return (ScrapeOutcome::Disallowed, link.clone());
            }
            Err(e) => {
                let kind = e.kind();
                match self.log_throttle.admit(&source, kind) {
                    Some(suppressed) => {
                        tracing::warn!(article.url = %link, feed.url = %feed_url, error = %e, kind, suppressed, "page fetch failed")
                    }
                    None => {
                        tracing::debug!(article.url = %link, error = %e, kind, "page fetch failed")
                    }
                }
                return (ScrapeOutcome::Failed(e.to_string()), link.clone());
            }
        };
        let resp = fetched.response;
        let final_url = resp.url.clone();
        if resp.status != 200 {
            let kind = "http_status";
            match self.log_throttle.admit(&source, kind) {
                Some(suppressed) => {
                    tracing::info!(article.url = %link, status = resp.status, kind, suppressed, "page not available")
                }
                None => {
                    tracing::debug!(article.url = %link, status = resp.status, kind, "page not available")
                }
            }
            return (ScrapeOutcome::Missing(resp.status), final_url);
        }
        let html = resp.text();
        let settings = self.settings.clone();
        let url = final_url.clone();
        // Extraction is CPU work on a possibly large page: off the async threads, and a panic
        // in it fails this page only.
        let started = Instant::now();
        let page = match tokio::task::spawn_blocking(move || {
            scrape::extract_page(&html, &url, Some(&settings))
        })
        .await
        {
            Ok(p) => {
                self.metrics
                    .extract_seconds
                    .observe_duration(started.elapsed());
                p
            }
            Err(e) => {
                tracing::error!(article.url = %final_url, error = %e, "extraction panicked");
                self.metrics.error("extraction_panic");
                return (
                    ScrapeOutcome::Failed("extraction panicked".into()),
                    final_url,
                );
            }
        };
        if !page.is_article() {
            match self.log_throttle.admit(&source, "not_article") {
                Some(suppressed) => {
                    tracing::info!(article.url = %final_url, kind = "not_article", suppressed, "not an article page; no event")
                }
                None => {
                    tracing::debug!(article.url = %final_url, kind = "not_article", "not an article page; no event")
                }
            }
            return (ScrapeOutcome::NotArticle, final_url);
        }
        let outcome = self.track(page, feed_url, fetched.fetched_at);
        (outcome, final_url)
    }

    /// Re-fetches an article due for a re-check.
    pub async fn recheck(&self, due: &Recheck) -> ScrapeOutcome {
        let (Ok(url), Ok(feed_url)) = (Url::parse(&due.url), Url::parse(&due.feed_url)) else {
            let _ = self.store.set_next_check(&due.article_id, None);
            return ScrapeOutcome::Failed("stored URL unreadable".into());
        };
        let outcome = self.scrape(&url, &feed_url).await.0;
        if !matches!(
            outcome,
            ScrapeOutcome::Revision { .. } | ScrapeOutcome::Unchanged | ScrapeOutcome::Held
        ) {
            // Gone or failing: try again at the schedule's pace rather than at once.
            let next = self.next_check(&due.article_id, self.transport.now());
            let _ = self.store.set_next_check(&due.article_id, next);
        }
        outcome
    }

    fn track(&self, page: Page, feed_url: &Url, fetched_at: DateTime<Utc>) -> ScrapeOutcome {
        let canonical = Url::parse(&page.canonical_url).unwrap_or_else(|_| feed_url.clone());
        let article_id = track::article_id(&canonical);
        let span = tracing::info_span!("track", article.id = %article_id, article.url = %page.url);
        let _enter = span.enter();
        let prev = match self.store.article(&article_id) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "state store read failed");
                self.metrics.error("store");
                return ScrapeOutcome::Failed(e.to_string());
            }
        };
        let snapshot = Snapshot {
            title: page.title.clone(),
            content_hash: page.content_hash.clone(),
            authors: page.authors.clone(),
            published_at: page.published_at,
            updated_at: page.updated_at,
            revision_notes: page.revision_notes.clone(),
        };
        let (state, changes, emit) = match track::decide(prev.as_ref(), snapshot) {
            Decision::Unchanged => {
                let next = self.next_check(&article_id, fetched_at);
                let _ = self.store.set_next_check(&article_id, next);
                tracing::debug!("unchanged");
                return ScrapeOutcome::Unchanged;
            }
            Decision::Held(state) => (state, Vec::new(), false),
            Decision::New(state) => (state, Vec::new(), true),
            Decision::Revised { state, changes } => (state, changes, true),
        };
        let data = ArticleData {
            article_id: article_id.clone(),
            revision: state.revision,
            url: page.url.clone(),
            canonical_url: page.canonical_url,
            feed_url: feed_url.to_string(),
            title: page.title,
            authors: page.authors,
            language: page.language,
            published_at: page.published_at,
            updated_at: page.updated_at,
            revision_notes: page.revision_notes,
            body_text: page.body_text,
            word_count: page.word_count,
            content_hash: page.content_hash,
            changes: changes.clone(),
            fetched_at: fetched_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let event = emit.then(|| Event::for_revision(&data));
        let changed_at = emit.then_some(fetched_at);
        let next = if !self.rechecks {
            None
        } else if emit {
            self.schedule_after(Duration::ZERO, fetched_at)
        } else {
            self.next_check(&article_id, fetched_at)
        };
        if let Err(e) = self.store.save_article(
            &article_id,
            &page.url,
            feed_url.as_str(),
            &state,
            changed_at,
            next,
            event.as_ref(),
        ) {
            tracing::error!(error = %e, "state store write failed; the page will be scraped again");
            self.metrics.error("store");
            return ScrapeOutcome::Failed(e.to_string());
        }
        if !emit {
            tracing::info!(
                revision = state.revision,
                "page reverted to an earlier version; held until confirmed"
            );
            return ScrapeOutcome::Held;
        }
        tracing::info!(revision = state.revision, changes = ?changes, "new revision");
        if state.revision <= 1 {
            self.metrics.articles_detected.inc();
        } else {
            self.metrics.revisions_detected.inc();
        }
        self.wake_publisher.notify_one();
        ScrapeOutcome::Revision {
            revision: state.revision,
            changes,
        }
    }

    /// The next re-check of an article, from how long ago it last changed.
    fn next_check(&self, article_id: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.rechecks {
            return None;
        }
        let changed = self
            .store
            .last_changed(article_id)
            .ok()
            .flatten()
            .unwrap_or(now);
        let age = (now - changed).to_std().unwrap_or_default();
        self.schedule_after(age, now)
    }

    fn schedule_after(&self, age: Duration, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (_, every) = self
            .settings
            .scrape
            .recheck
            .iter()
            .find(|(within, _)| age < within.0)?;
        Some(now + chrono::Duration::from_std(every.0).ok()?)
    }
}

/// The sink chosen in the settings.
pub fn sink_for(settings: &Settings, kind: SinkKind) -> Sink {
    match kind {
        SinkKind::Stdout => Sink::Stdout(Box::new(std::io::stdout())),
        SinkKind::Amqp => Sink::Amqp(Box::new(AmqpSink::new(settings.amqp.clone()))),
    }
}

fn publisher(settings: &Settings, store: Store, sink: Sink) -> Publisher {
    Publisher::new(
        store,
        sink,
        settings.amqp.window,
        settings.amqp.retry_min.0,
        settings.amqp.retry_max.0,
    )
}

/// How `run` is driven beyond its settings.
#[derive(Default)]
pub struct RunOptions {
    /// The settings file, re-read on reload for `feeds.urls` (with the environment on top).
    pub config_path: Option<PathBuf>,
    /// Notified on SIGHUP: the feed list is reloaded.
    pub reload: Option<Arc<Notify>>,
    /// Record every fetch to WARC files in this directory (overrides `record.dir`).
    pub record: Option<PathBuf>,
    /// Poll counts and lateness, for the caller to read (a benchmark, a test).
    pub stats: Option<Arc<PollStats>>,
    /// The scheduler's wall clock (default: the system clock).
    pub clock: Option<Arc<dyn Clock>>,
}

/// The daemon: polls every feed on its schedule until `shutdown`, then shuts down gracefully.
///
/// # Errors
/// Start-up failures: the state store cannot be opened, the feeds file is unreadable, or the
/// HTTP client cannot be built. Failures after start-up are logged and retried, never fatal.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_with(settings, shutdown, RunOptions::default()).await
}

/// [`run`] with options: reload signal, recording, stats, clock.
///
/// # Errors
/// As [`run`]; also a recording directory that cannot be created.
pub async fn run_with(
    settings: Settings,
    shutdown: CancellationToken,
    options: RunOptions,
) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    let store = Store::open(&settings.state.path)?;
    let feeds: Vec<Url> = crate::subscriptions::all(&settings, &store)?
        .into_iter()
        .map(|f| f.url)
        .collect();
    let fetcher = Fetcher::new(&settings.fetch.to_fetch_settings())?;
    let politeness = Arc::new(Politeness::new(settings.politeness_settings()));
    let mut live = Live::new(fetcher.clone()).with_politeness(politeness);
    let record_dir = options
        .record
        .clone()
        .or_else(|| (!settings.record.dir.is_empty()).then(|| PathBuf::from(&settings.record.dir)));
    if let Some(dir) = &record_dir {
        let recorder = Recorder::new(dir, settings.record.max_bytes)
            .map_err(|e| anyhow::anyhow!("record: {}: {e}", dir.display()))?;
        tracing::info!(dir = %dir.display(), "recording every fetch to WARC");
        live = live.with_recorder(Arc::new(recorder));
    }
    if settings.politeness.robots {
        live = live.with_robots(&settings.fetch.user_agent);
    }
    let stop_intake = CancellationToken::new();
    let metrics = Arc::new(Metrics::new());
    metrics.feeds.set(feeds.len() as i64);
    metrics.set_sink_is_broker(settings.publish.sink == SinkKind::Amqp);
    let pipeline = Arc::new(
        Pipeline::new(
            settings.clone(),
            Transport::Live(live),
            store.clone(),
            true,
            stop_intake.clone(),
        )
        .with_metrics(metrics.clone()),
    );
    let stop_server = CancellationToken::new();
    let server_task = start_server(&settings, &store, &metrics, &stop_server).await?;

    let stop_publisher = CancellationToken::new();
    let pending = store.outbox_len()?;
    tracing::info!(feeds = feeds.len(), state = %settings.state.path.display(), outbox = pending, sink = ?settings.publish.sink, "newswire started");
    let publisher = publisher(
        &settings,
        store.clone(),
        sink_for(&settings, settings.publish.sink),
    )
    .with_metrics(metrics.clone());
    let status = publisher.status();
    let publisher_task = tokio::spawn(publisher.run(
        pipeline.wake_publisher.clone(),
        stop_publisher.clone(),
        settings.shutdown.flush.0,
    ));

    let clock: Arc<dyn Clock> = options
        .clock
        .clone()
        .unwrap_or_else(|| Arc::new(SystemClock));
    let stats = options.stats.clone().unwrap_or_default();
    let poller = Poller::new(
        pipeline.clone(),
        settings.schedule_policy(),
        clock,
        settings.poll.concurrency,
        stop_intake.clone(),
        stats,
    );
    if settings.websub.enabled() {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        poller.set_adverts(tx);
        let websub = WebSub::new(
            settings.websub.clone(),
            fetcher,
            pipeline.clone(),
            poller.clone(),
            settings.fetch.max_feed_bytes,
        )?;
        websub.start(rx, stop_intake.clone()).await?;
    }
    poller.sync(&feeds);
    let tracker = poller.tracker().clone();
    tracker.spawn(recheck_loop(pipeline.clone(), stop_intake.clone()));
    tracker.spawn(reload_loop(
        poller.clone(),
        settings.clone(),
        options.config_path.clone(),
        options.reload.clone(),
        stop_intake.clone(),
    ));

    shutdown.cancelled().await;
    tracing::info!("shutting down: no new polls; finishing in-flight work");
    stop_intake.cancel();
    tracker.close();
    if tokio::time::timeout(settings.shutdown.drain.0, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "in-flight work did not finish within shutdown.drain; unscraped entries are retried at the next start"
        );
    }
    stop_publisher.cancel();
    let _ = publisher_task.await;
    stop_server.cancel();
    let _ = server_task.await;
    let st = status.snapshot();
    tracing::info!(
        outbox = store.outbox_len().unwrap_or(0),
        published = st.published,
        nacked = st.nacked,
        returned = st.returned,
        timed_out = st.timed_out,
        errored = st.errored,
        connects = st.connects,
        "newswire stopped"
    );

    Ok(())
}

/// The `/metrics`, `/healthz`, `/readyz` listener if `server.listen` is set, and the task that
/// samples the outbox and the broker connection into the gauges every second.
async fn start_server(
    settings: &Settings,
    store: &Store,
    metrics: &Arc<Metrics>,
    stop: &CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let health = Arc::new(crate::server::Health {
        metrics: metrics.clone(),
        store: store.clone(),
        outbox_limit: settings.publish.outbox_limit,
    });
    let listener = if settings.server.listen.is_empty() {
        None
    } else {
        let l = crate::server::bind(&settings.server.listen)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "server.listen: cannot listen on {}: {e}",
                    settings.server.listen
                )
            })?;
        tracing::info!(addr = %l.local_addr()?, "serving /metrics, /healthz and /readyz");
        Some(l)
    };
    let stop = stop.clone();
    Ok(tokio::spawn(async move {
        let sampler = {
            let (health, stop) = (health.clone(), stop.clone());
            async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => { let _ = health.refresh(); }
                        _ = stop.cancelled() => return,
                    }
                }
            }
        };
        match listener {
            Some(l) => {
                tokio::join!(sampler, crate::server::serve(l, health, stop));
            }
            None => sampler.await,
        }
    }))
}

/// Reloads the feed list on `reload` (SIGHUP: the settings file and the feeds file) and when the
/// feeds file changes (checked every `feeds.watch`). A list that cannot be read is logged and the
/// running feeds stay as they are.
async fn reload_loop(
    poller: Arc<Poller>,
    settings: Arc<Settings>,
    config_path: Option<PathBuf>,
    reload: Option<Arc<Notify>>,
    stop: CancellationToken,
) {
    let reload = reload.unwrap_or_default();
    let watch = settings.feeds.watch.0;
    let stamp = |path: &str| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut current = (*settings).clone();
    let mut feeds_file = current.feeds.file.clone();
    let mut last = stamp(&feeds_file);
    loop {
        let why = tokio::select! {
            _ = reload.notified() => "reload requested",
            _ = tokio::time::sleep(if watch.is_zero() { Duration::from_secs(86_400) } else { watch }) => {
                if watch.is_zero() || feeds_file.is_empty() {
                    continue;
                }
                let now = stamp(&feeds_file);
                if now == last {
                    continue;
                }
                "feeds file changed"
            }
            _ = stop.cancelled() => return,
        };
        if why == "reload requested" {
            match Settings::load(config_path.as_deref()) {
                Ok(s) => current = s,
                Err(e) => {
                    tracing::error!(reason = why, error = %e, "settings unreadable; feed list not reloaded, the running feeds stay");
                    continue;
                }
            }
        }
        feeds_file = current.feeds.file.clone();
        let feeds = current.feed_urls().map_err(|e| e.to_string());
        last = stamp(&feeds_file);
        match feeds {
            Ok(feeds) => {
                let (added, removed) = poller.sync(&feeds);
                tracing::info!(
                    reason = why,
                    feeds = feeds.len(),
                    added,
                    removed,
                    "feed list reloaded"
                );
            }
            Err(e) => {
                tracing::error!(reason = why, error = %e, "feed list not reloaded; the running feeds stay")
            }
        }
    }
}

/// Waits while the outbox is over `publish.outbox_limit`. False when stopped meanwhile.
pub(crate) async fn wait_for_outbox_room(p: &Pipeline, stop: &CancellationToken) -> bool {
    let limit = p.settings.publish.outbox_limit;
    let mut warned = false;
    loop {
        let len = p.store.outbox_len().unwrap_or(0);
        if len < limit {
            if warned {
                tracing::info!(
                    outbox = len,
                    "outbox below its bound again; polling resumes"
                );
            }
            return true;
        }
        if !warned {
            tracing::warn!(
                outbox = len,
                limit,
                "outbox full (broker down or blocked); polling paused"
            );
            warned = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.cancelled() => return false,
        }
    }
}

/// Re-fetches articles as their re-check times come due.
async fn recheck_loop(p: Arc<Pipeline>, stop: CancellationToken) {
    loop {
        if !wait_for_outbox_room(&p, &stop).await {
            return;
        }
        let now = Utc::now();
        let due = p.store.due_rechecks(now, 32).unwrap_or_default();
        for r in &due {
            if stop.is_cancelled() {
                return;
            }
            let span =
                tracing::info_span!("recheck", article.id = %r.article_id, article.url = %r.url);
            p.recheck(r).instrument(span).await;
        }
        if !due.is_empty() {
            continue;
        }
        let next = p.store.next_recheck_at().ok().flatten();
        let wait = next
            .map_or(Duration::from_secs(5), |t| {
                (t - now).to_std().unwrap_or_default()
            })
            .min(Duration::from_secs(5));
        tokio::select! {
            _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplaySummary {
    pub records: usize,
    pub feeds_polled: usize,
    pub pages_scraped: usize,
    pub events: u64,
}

/// Replays captures through the pipeline (REPLAY.md) and delivers every event to `sink`.
///
/// # Errors
/// An unreadable capture or feeds file, a state store that cannot be opened, or a sink that
/// cannot deliver (the events then stay in the replay's state store).
pub async fn replay(
    settings: Settings,
    captures: &[PathBuf],
    feeds_file: Option<&Path>,
    state: Option<&Path>,
    sink: Sink,
) -> anyhow::Result<ReplaySummary> {
    replay_with_progress(settings, captures, feeds_file, state, sink, &mut |_, _| {}).await
}

/// As [`replay`], calling `progress(done, total)` as the capture's records are replayed.
///
/// # Errors
/// As [`replay`].
pub async fn replay_with_progress(
    settings: Settings,
    captures: &[PathBuf],
    feeds_file: Option<&Path>,
    state: Option<&Path>,
    sink: Sink,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> anyhow::Result<ReplaySummary> {
    let settings = Arc::new(settings);
    let capture = Capture::load(
        captures,
        settings
            .fetch
            .max_page_bytes
            .max(settings.fetch.max_feed_bytes),
        settings.fetch.max_redirects,
    )?;
    let feeds: HashSet<String> = match feeds_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            feed::parse_feed_list(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                .iter()
                .filter_map(|u| Url::parse(u).ok())
                .map(|u| track::normalize_url(&u).to_string())
                .collect()
        }
        // Without a list, every URL whose response parses as a feed is one.
        None => capture
            .records
            .iter()
            .filter(|r| r.status == 200 && feed::parse(&r.body, &r.url).is_ok())
            .map(|r| track::normalize_url(&r.url).to_string())
            .collect(),
    };
    let store = Store::open(state.unwrap_or(Path::new(":memory:")))?;
    let records: Vec<(Url, u16)> = capture
        .records
        .iter()
        .map(|r| (r.url.clone(), r.status))
        .collect();
    let pipeline = Pipeline::new(
        settings.clone(),
        Transport::Replay(capture),
        store.clone(),
        false,
        CancellationToken::new(),
    );
    let Transport::Replay(capture) = &pipeline.transport else {
        unreachable!("built as replay")
    };

    let mut summary = ReplaySummary {
        records: records.len(),
        ..Default::default()
    };
    // Page URL (normalised) → the feed that lists it.
    let mut listed: HashMap<String, Url> = HashMap::new();
    for (pos, (url, _status)) in records.iter().enumerate() {
        progress(pos, records.len());
        capture.set_cursor(pos);
        let key = track::normalize_url(url).to_string();
        if feeds.contains(&key) {
            summary.feeds_polled += 1;
            if let PollOutcome::Entries { links, scraped } = pipeline.poll_feed(url).await {
                summary.pages_scraped += scraped;
                for link in links {
                    listed
                        .entry(track::normalize_url(&link).to_string())
                        .or_insert_with(|| url.clone());
                }
            }
        } else if let Some(feed_url) = listed.get(&key).cloned() {
            if capture.was_served(pos) {
                continue;
            }
            let (_, final_url) = pipeline.scrape(url, &feed_url).await;
            summary.pages_scraped += 1;
            listed
                .entry(track::normalize_url(&final_url).to_string())
                .or_insert(feed_url);
        }
    }
    progress(records.len(), records.len());
    let mut publisher = publisher(&settings, store.clone(), sink);
    summary.events = publisher.drain().await?;
    Ok(summary)
}
