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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use url::Url;

use crate::config::{Settings, SinkKind};
use crate::event::{ArticleData, Event};
use crate::feed;
use crate::fetch::{Fetcher, Kind, Validators};
use crate::publish::{AmqpSink, Publisher, Sink};
use crate::scrape::{self, Page};
use crate::store::{Recheck, Store};
use crate::throttle::LogThrottle;
use crate::track::{self, Decision, Snapshot};
use crate::transport::{Capture, Transport};

/// What one poll of a feed came to.
#[derive(Debug, Clone, PartialEq)]
pub enum PollOutcome {
    NotModified,
    /// The feed's entry links, and how many entries were new or changed and so scraped.
    Entries {
        links: Vec<Url>,
        scraped: usize,
    },
    Failed(Failure),
}

/// Why a poll failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// A stable label for logs and metrics: a [`crate::fetch::FetchError::kind`] for transport
    /// failures, a [`crate::feed::FeedError::kind`], `http_status`, or `panic`.
    pub kind: &'static str,
    pub message: String,
    /// How long the server asked us to wait (`Retry-After`), when it said so in a usable way.
    pub retry_after: Option<Duration>,
}

impl Failure {
    fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// New or changed entries scraped in one poll. The rest are not marked seen, so the next poll
/// takes them up: a feed of 100,000 items cannot hold its poll slot for hours.
const MAX_SCRAPES_PER_POLL: usize = 100;
/// A server's `Retry-After` is honoured up to this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

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
            log_throttle: LogThrottle::new(Duration::from_secs(600)),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Polls a feed and scrapes its new or changed entries.
    pub async fn poll_feed(&self, feed_url: &Url) -> PollOutcome {
        let store = &self.store;
        let validators = store.feed_validators(feed_url.as_str()).unwrap_or_default();
        let mut fetched = match self.transport.get(feed_url, Kind::Feed, &validators).await {
            Ok(f) => f,
            Err(e) => {
                let kind = e.kind();
                match self.log_throttle.admit(feed_url.as_str(), kind) {
                    Some(suppressed) => {
                        tracing::warn!(feed.url = %feed_url, error = %e, kind, suppressed, "feed fetch failed")
                    }
                    None => {
                        tracing::debug!(feed.url = %feed_url, error = %e, kind, "feed fetch failed")
                    }
                }
                let _ = store.record_poll(
                    feed_url.as_str(),
                    self.transport.now(),
                    None,
                    Some(&e.to_string()),
                );
                return PollOutcome::Failed(Failure::new(kind, e.to_string()));
            }
        };
        let resp = &mut fetched.response;
        if resp.status == 304 {
            tracing::debug!(feed.url = %feed_url, "feed not modified");
            let _ = store.record_poll(feed_url.as_str(), fetched.fetched_at, None, None);
            return PollOutcome::NotModified;
        }
        if !(200..300).contains(&resp.status) {
            let why = format!("HTTP {}", resp.status);
            let retry_after = retry_after(resp, fetched.fetched_at);
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
            return PollOutcome::Failed(Failure {
                kind,
                message: why,
                retry_after,
            });
        }
        // Parsing a feed of up to `max_feed_bytes` is CPU work: off the async threads, and a
        // panic in the parser fails this poll only.
        let (body, base) = (std::mem::take(&mut resp.body), resp.url.clone());
        let parsed = tokio::task::spawn_blocking(move || feed::parse(&body, &base)).await;
        let entries = match parsed {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => {
                let kind = e.kind();
                match self.log_throttle.admit(feed_url.as_str(), kind) {
                    Some(suppressed) => {
                        tracing::warn!(feed.url = %feed_url, error = %e, kind, suppressed, "feed unreadable")
                    }
                    None => {
                        tracing::debug!(feed.url = %feed_url, error = %e, kind, "feed unreadable")
                    }
                }
                let _ = store.record_poll(
                    feed_url.as_str(),
                    fetched.fetched_at,
                    None,
                    Some(&e.to_string()),
                );
                return PollOutcome::Failed(Failure::new(kind, e.to_string()));
            }
            Err(e) => {
                tracing::error!(feed.url = %feed_url, error = %e, kind = "panic", "feed parser panicked; the feed is retried later");
                let _ = store.record_poll(
                    feed_url.as_str(),
                    fetched.fetched_at,
                    None,
                    Some("feed parser panicked"),
                );
                return PollOutcome::Failed(Failure::new("panic", "feed parser panicked"));
            }
        };
        let resp = &fetched.response;
        let _ = store.record_poll(
            feed_url.as_str(),
            fetched.fetched_at,
            Some(&resp.validators()),
            None,
        );
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
        PollOutcome::Entries { links, scraped }
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
        let fetched = match self
            .transport
            .get(link, Kind::Page, &Validators::default())
            .await
        {
            Ok(f) => f,
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
        let extracted = tokio::task::spawn_blocking(move || {
            // Refused before parsing: the parser's time grows with the square of the depth.
            (!scrape::nests_deeper_than(&html, scrape::MAX_NESTING))
                .then(|| scrape::extract_page(&html, &url, Some(&settings)))
        });
        let page = match extracted.await {
            Ok(Some(p)) => p,
            Ok(None) => {
                let kind = "too_deep";
                match self.log_throttle.admit(&source, kind) {
                    Some(suppressed) => {
                        tracing::warn!(article.url = %final_url, kind, suppressed, limit = scrape::MAX_NESTING, "page nests too deeply to parse; not extracted")
                    }
                    None => {
                        tracing::debug!(article.url = %final_url, kind, "page nests too deeply to parse; not extracted")
                    }
                }
                return (
                    ScrapeOutcome::Failed("page nests too deeply".into()),
                    final_url,
                );
            }
            Err(e) => {
                tracing::error!(article.url = %final_url, error = %e, kind = "panic", "extraction panicked");
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
        SinkKind::Amqp => Sink::Amqp(AmqpSink::new(settings.amqp.clone())),
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

/// The daemon: polls every feed on its schedule until `shutdown`, then shuts down gracefully.
///
/// # Errors
/// Start-up failures: the state store cannot be opened, the feeds file is unreadable, or the
/// HTTP client cannot be built. Failures after start-up are logged and retried, never fatal.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    let feeds = settings.feed_urls()?;
    let store = Store::open(&settings.state.path)?;
    let fetcher = Fetcher::new(&settings.fetch.to_fetch_settings())?;
    let stop_intake = CancellationToken::new();
    let pipeline = Arc::new(Pipeline::new(
        settings.clone(),
        Transport::Live(fetcher),
        store.clone(),
        true,
        stop_intake.clone(),
    ));

    let stop_publisher = CancellationToken::new();
    let pending = store.outbox_len()?;
    tracing::info!(feeds = feeds.len(), state = %settings.state.path.display(), outbox = pending, sink = ?settings.publish.sink, "newswire started");
    let publisher_task = tokio::spawn(
        publisher(
            &settings,
            store.clone(),
            sink_for(&settings, settings.publish.sink),
        )
        .run(
            pipeline.wake_publisher.clone(),
            stop_publisher.clone(),
            settings.shutdown.flush.0,
        ),
    );

    let tracker = TaskTracker::new();
    let poll_slots = Arc::new(Semaphore::new(settings.poll.concurrency));
    let hosts = Arc::new(HostSlots::new(settings.poll.per_host));
    for feed_url in feeds {
        let (p, slots, hosts, stop) = (
            pipeline.clone(),
            poll_slots.clone(),
            hosts.clone(),
            stop_intake.clone(),
        );
        let span = tracing::info_span!("feed", feed.url = %feed_url);
        tracker.spawn(feed_loop(p, feed_url, slots, hosts, stop).instrument(span));
    }
    tracker.spawn(recheck_loop(pipeline.clone(), stop_intake.clone()));
    tracker.close();

    shutdown.cancelled().await;
    tracing::info!("shutting down: no new polls; finishing in-flight work");
    stop_intake.cancel();
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
    tracing::info!(outbox = store.outbox_len().unwrap_or(0), "newswire stopped");
    Ok(())
}

/// Polls one feed forever: interval with jitter, capped exponential backoff after failures,
/// and a pause while the outbox is over its bound (back-pressure from a slow broker).
async fn feed_loop(
    p: Arc<Pipeline>,
    feed_url: Url,
    slots: Arc<Semaphore>,
    hosts: Arc<HostSlots>,
    stop: CancellationToken,
) {
    let interval = p.settings.poll.interval.0;
    let jitter = p.settings.poll.jitter;
    // Spread the first polls so a restart does not hit every feed at once.
    let mut wait = interval
        .min(Duration::from_secs(5))
        .mul_f64(fastrand::f64() * jitter);
    let mut failures: u32 = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return,
        }
        if !wait_for_outbox_room(&p, &stop).await {
            return;
        }
        let outcome = {
            let _slot = slots.acquire().await.expect("semaphore never closed");
            let host = hosts.get(feed_url.host_str().unwrap_or(""));
            let _host_slot = host.acquire().await.expect("semaphore never closed");
            // A panic in one feed's poll never takes the daemon down.
            std::panic::AssertUnwindSafe(p.poll_feed(&feed_url))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!(kind = "panic", "poll panicked; the feed is retried later");
                    PollOutcome::Failed(Failure::new("panic", "poll panicked"))
                })
        };
        let base = match outcome {
            PollOutcome::Failed(failure) => {
                failures = failures.saturating_add(1);
                // 2^failures intervals, capped at 64 intervals or a day; never given up.
                let backoff = interval
                    .saturating_mul(1 << failures.min(6))
                    .min(Duration::from_secs(86_400).max(interval));
                // A Retry-After can lengthen the wait (up to a day), never shorten it.
                failure
                    .retry_after
                    .map_or(backoff, |r| backoff.max(r.min(MAX_RETRY_AFTER)))
            }
            _ => {
                failures = 0;
                interval
            }
        };
        wait = base.mul_f64(1.0 + (fastrand::f64() * 2.0 - 1.0) * jitter);
    }
}

/// The `Retry-After` of a response, in seconds or as an HTTP date; `None` when absent, in the
/// past, or unreadable (an absurd number of seconds is unreadable, not forever).
fn retry_after(resp: &crate::fetch::Response, now: DateTime<Utc>) -> Option<Duration> {
    let value = resp.header("retry-after")?.trim();
    if let Ok(secs) = value.parse::<u32>() {
        return Some(Duration::from_secs(secs.into()));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&Utc) - now).to_std().ok()
}

/// Waits while the outbox is over `publish.outbox_limit`. False when stopped meanwhile.
async fn wait_for_outbox_room(p: &Pipeline, stop: &CancellationToken) -> bool {
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

/// A semaphore per host, so one site is never hit by more than `per_host` polls at once.
struct HostSlots {
    per_host: usize,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl HostSlots {
    fn new(per_host: usize) -> Self {
        HostSlots {
            per_host,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, host: &str) -> Arc<Semaphore> {
        let mut map = self.slots.lock().expect("host slots lock");
        map.entry(host.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
            .clone()
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
    let mut publisher = publisher(&settings, store.clone(), sink);
    summary.events = publisher.drain().await?;
    Ok(summary)
}
