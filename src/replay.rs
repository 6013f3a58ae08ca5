//! Replay (`newswire replay`, docs/replay.md): a capture's timeline played
//! through the same pipeline and frontier as the daemon, on the capture's clock.
//!
//! At a feed record the feed is polled (its new entries become page jobs) and the frontier is
//! drained; at a page record that a polled feed lists and that no job has fetched yet, the page
//! is queued as a re-check and the frontier drained again. Pages are extracted concurrently but
//! tracked in frontier order, so the same capture always gives byte-identical output.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use url::Url;

use crate::config::Settings;
use crate::daemon::publisher;
use crate::feed;
use crate::frontier;
use crate::pipeline::{Pipeline, PollOutcome};
use crate::publish::Sink;
use crate::schedule::politeness::site_of;
use crate::store::{JobKind, PageJob, Store};
use crate::track;
use crate::transport::{Capture, Transport};

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplaySummary {
    pub records: usize,
    pub feeds_polled: usize,
    pub pages_scraped: usize,
    pub events: u64,
}

/// Replays captures through the pipeline (docs/replay.md) and delivers every event to `sink`.
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
                .map(|u| key(&u))
                .collect()
        }
        // Without a list, every URL whose response parses as a feed is one.
        None => capture
            .records
            .iter()
            .filter(|r| r.status == 200 && may_be_feed(&r.body))
            .filter(|r| feed::parse(&r.body, &r.url).is_ok())
            .map(|r| key(&r.url))
            .collect(),
    };
    let store = Store::open(state.unwrap_or(Path::new(":memory:")))?;
    let records: Vec<Url> = capture.records.iter().map(|r| r.url.clone()).collect();
    let pipeline = Arc::new(Pipeline::new(
        settings.clone(),
        Transport::Replay(capture),
        store.clone(),
    ));
    let mut summary = ReplaySummary {
        records: records.len(),
        ..Default::default()
    };
    // The sink takes events while the timeline plays; it sees them in outbox order either way.
    let mut publisher = publisher(&settings, store.clone(), sink);
    let wake = pipeline.publisher_wake();
    let played = CancellationToken::new();
    let publishing = async {
        let mut sent = 0;
        loop {
            tokio::select! {
                _ = wake.notified() => {}
                _ = played.cancelled() => break,
            }
            match publisher.drain().await {
                Ok(n) => sent += n,
                // Tried again at the end, where a failure is the replay's.
                Err(_) => break,
            }
        }
        played.cancelled().await;
        Ok::<u64, anyhow::Error>(sent + publisher.drain().await?)
    };
    let timeline = async {
        let result = play(&pipeline, &records, &feeds, progress, &mut summary).await;
        played.cancel();
        result
    };
    let (played_result, events) = tokio::join!(timeline, publishing);
    played_result?;
    summary.events = events?;
    Ok(summary)
}

/// Plays the timeline: polls at feed records, re-fetches at later records of listed pages, and
/// drains the frontier after each.
async fn play(
    pipeline: &Arc<Pipeline>,
    records: &[Url],
    feeds: &HashSet<String>,
    progress: &mut (dyn FnMut(usize, usize) + Send),
    summary: &mut ReplaySummary,
) -> anyhow::Result<()> {
    let Transport::Replay(capture) = pipeline.transport() else {
        unreachable!("built as replay")
    };
    // Page URL (normalised) → the feed that lists it, and what the feed said of the page (a
    // later fetch merges it again, as a live re-check does).
    let mut listed: HashMap<String, (Url, Option<String>)> = HashMap::new();
    for (pos, url) in records.iter().enumerate() {
        progress(pos, records.len());
        capture.set_cursor(pos);
        let k = key(url);
        if feeds.contains(&k) {
            summary.feeds_polled += 1;
            if let PollOutcome::Entries { links, .. } = pipeline.poll_feed(url).await {
                for link in links {
                    listed
                        .entry(key(&link))
                        .or_insert_with(|| (url.clone(), None));
                }
            }
        } else if let Some((feed_url, meta)) = listed.get(&k).cloned() {
            if capture.was_served(pos) {
                continue;
            }
            let job = PageJob {
                url: k.clone(),
                generation: 0,
                site: site_of(url.host_str().unwrap_or_default()),
                feed_url: feed_url.to_string(),
                kind: JobKind::Recheck,
                rank_ms: pipeline.now().timestamp_millis(),
                attempts: 0,
                article_id: None,
                meta,
            };
            pipeline.store().enqueue_jobs(vec![job]).await?;
        } else {
            continue;
        }
        for (job, found) in frontier::drain(pipeline).await? {
            summary.pages_scraped += 1;
            let Ok(feed_url) = Url::parse(&job.feed_url) else {
                continue;
            };
            let mut keys = vec![job.url.clone()];
            // A page reached through a redirect is listed under its own URL too.
            keys.extend(found.and_then(|f| Url::parse(&f).ok()).map(|f| key(&f)));
            for k in keys {
                let entry = listed.entry(k).or_insert_with(|| (feed_url.clone(), None));
                if job.meta.is_some() {
                    entry.1 = job.meta.clone();
                }
            }
        }
    }
    progress(records.len(), records.len());
    Ok(())
}

/// Whether a response body may be a feed: documents that open as HTML never are, and parsing
/// every page of a capture as a feed would cost as much as extracting it.
fn may_be_feed(body: &[u8]) -> bool {
    let head = &body[..body.len().min(1024)];
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    let html = head.contains("<html") || head.contains("<!doctype html");
    !html || head.contains("<rss") || head.contains("<feed") || head.contains("<rdf")
}

fn key(url: &Url) -> String {
    track::normalize_url(url).to_string()
}
