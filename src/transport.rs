//! The seam between the pipeline and the web: live fetching, or a WARC capture played back on a
//! virtual clock (docs/replay.md). The pipeline cannot tell them apart.
//!
//! Replay answers a request for a URL with the latest record of it at or before the replay
//! cursor, else its earliest later record, else a 404; follows redirect records inside the
//! capture; and honours conditional-GET validators against a record's `ETag`/`Last-Modified`
//! with a 304, as a server would.
//!
//! Live fetching reports every answer to the per-site politeness gates
//! ([`crate::schedule::politeness`]; the site schedulers start requests there) and, when
//! recording, writes every response to WARC ([`Recorder`]). Replay has neither: the capture
//! decides when things were fetched.

mod record;
mod robots;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use record::Recorder;
use robots::Robots;

use chrono::{DateTime, Utc};
use url::Url;

use crate::fetch::{FetchError, Fetcher, Hop, Kind, Response, Validators};
use crate::schedule::HttpHints;
use crate::schedule::politeness::{Politeness, site_of};
use crate::track::normalize_url;
use crate::warc;

/// A response and when it was fetched (now, live; the record's `WARC-Date`, in replay).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub response: Response,
    pub fetched_at: DateTime<Utc>,
}

pub enum Transport {
    Live(Live),
    Replay(Capture),
}

/// Live fetching: the fetcher, reporting answers to the per-site politeness gates, optionally
/// recording every response to WARC.
pub struct Live {
    fetcher: Fetcher,
    politeness: Option<Arc<Politeness>>,
    recorder: Option<Arc<Recorder>>,
    robots: Option<Robots>,
}

impl Live {
    /// Plain fetching: no politeness gate, no recording.
    pub fn new(fetcher: Fetcher) -> Self {
        Live {
            fetcher,
            politeness: None,
            recorder: None,
            robots: None,
        }
    }

    /// Every answer is reported to these gates (a 429 holds its whole site back), and a
    /// robots.txt fetched before a page takes its own turn at the page's gate.
    pub fn with_politeness(mut self, politeness: Arc<Politeness>) -> Self {
        self.politeness = Some(politeness);
        self
    }

    /// Every response (and every error) is written to this recorder.
    pub fn with_recorder(mut self, recorder: Arc<Recorder>) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Article pages are fetched only where robots.txt allows `user_agent`.
    pub fn with_robots(mut self, user_agent: &str) -> Self {
        self.robots = Some(Robots::new(user_agent));
        self
    }

    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    pub fn politeness(&self) -> Option<&Arc<Politeness>> {
        self.politeness.as_ref()
    }

    async fn get(
        &self,
        url: &Url,
        kind: Kind,
        validators: &Validators,
    ) -> Result<Fetched, FetchError> {
        if let (Kind::Page, Some(robots)) = (kind, &self.robots) {
            let asked = AtomicBool::new(false);
            let fetch_robots = |u: Url| {
                asked.store(true, Ordering::Relaxed);
                async move {
                    self.fetch_once(&u, Kind::Page, &Validators::default())
                        .await
                }
            };
            if !robots.allowed(url, fetch_robots).await {
                return Err(FetchError::Robots(url.to_string()));
            }
            if let (true, Some(p)) = (asked.load(Ordering::Relaxed), &self.politeness) {
                // robots.txt took this job's start; the page waits for the next one.
                p.gate(&site_of(url.host_str().unwrap_or_default()))
                    .wait_turn()
                    .await;
            }
        }
        self.fetch_once(url, kind, validators).await
    }

    async fn fetch_once(
        &self,
        url: &Url,
        kind: Kind,
        validators: &Validators,
    ) -> Result<Fetched, FetchError> {
        let host = url.host_str().unwrap_or_default();
        let result = self.fetcher.get(url, kind, validators).await;
        let fetched_at = Utc::now();
        if let (Some(p), Ok(r)) = (&self.politeness, &result) {
            let retry_after = HttpHints::from_response(r.status, &r.headers, fetched_at)
                .retry_after_secs
                .map(Duration::from_secs);
            p.observe(r.url.host_str().unwrap_or(host), r.status, retry_after);
        }
        if let Some(rec) = &self.recorder {
            rec.record(url, fetched_at, &result);
        }
        Ok(Fetched {
            response: result?,
            fetched_at,
        })
    }
}

impl Transport {
    /// GET `url`, following redirects.
    ///
    /// # Errors
    /// Transport failures only: any HTTP status is a response.
    pub async fn get(
        &self,
        url: &Url,
        kind: Kind,
        validators: &Validators,
    ) -> Result<Fetched, FetchError> {
        match self {
            Transport::Live(l) => l.get(url, kind, validators).await,
            Transport::Replay(c) => c.get(url, validators),
        }
    }

    /// The time the pipeline should consider "now".
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Transport::Live(_) => Utc::now(),
            Transport::Replay(c) => c.cursor_time(),
        }
    }
}

/// One `response` record of a capture.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub url: Url,
    pub date: DateTime<Utc>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: bytes::Bytes,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A capture loaded for replay: its response records in timeline order.
pub struct Capture {
    /// Ordered by `WARC-Date`, ties in file order.
    pub records: Vec<Recorded>,
    by_url: HashMap<String, Vec<usize>>,
    max_redirects: usize,
    cursor: Mutex<usize>,
    served: Mutex<HashSet<usize>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct CaptureError {
    pub path: String,
    pub reason: String,
}

/// The HTTP response a `response` record holds; other records, and responses that cannot be
/// read, are skipped (with a warning).
fn response(rec: &warc::Record, path: &Path, max_body: u64) -> Option<Recorded> {
    if !rec.warc_type.eq_ignore_ascii_case("response") {
        return None;
    }
    let (Some(uri), Some(date)) = (rec.target_uri.as_deref(), rec.date) else {
        tracing::warn!(file = %path.display(), "response record without WARC-Target-URI or WARC-Date skipped");
        return None;
    };
    let Ok(url) = Url::parse(uri.trim_matches(|c| c == '<' || c == '>')) else {
        tracing::warn!(file = %path.display(), uri, "response record with an invalid URI skipped");
        return None;
    };
    match warc::parse_response(&rec.block, max_body) {
        Ok(http) => Some(Recorded {
            url,
            date,
            status: http.status,
            headers: http.headers,
            body: http.body.into(),
        }),
        Err(e) => {
            tracing::warn!(file = %path.display(), %url, error = %e, "unreadable HTTP response record skipped");
            None
        }
    }
}

impl Capture {
    /// Reads every `response` record of the files; other record types are skipped.
    ///
    /// # Errors
    /// A file that cannot be read or is not WARC.
    pub fn load(
        files: &[PathBuf],
        max_body: u64,
        max_redirects: usize,
    ) -> Result<Self, CaptureError> {
        let mut records = Vec::new();
        for path in files {
            let err = |reason: String| CaptureError {
                path: path.display().to_string(),
                reason,
            };
            let reader = warc::open(path).map_err(|e| err(e.to_string()))?;
            // Inflating is the slow half of reading a capture, and serial: a thread of its own
            // does it while this one parses the HTTP responses.
            std::thread::scope(|scope| {
                let (tx, rx) = std::sync::mpsc::sync_channel(64);
                scope.spawn(move || {
                    for rec in reader {
                        if tx.send(rec).is_err() {
                            break;
                        }
                    }
                });
                let mut read_any = false;
                for rec in rx {
                    let rec = match rec {
                        Ok(r) => r,
                        // Junk from the start: this is not a capture.
                        Err(e) if !read_any => return Err(err(e.to_string())),
                        // A damaged record later on: keep what can be read, say what was not.
                        Err(e) => {
                            tracing::warn!(file = %path.display(), error = %e, "damaged WARC record skipped");
                            continue;
                        }
                    };
                    read_any = true;
                    records.extend(response(&rec, path, max_body));
                }
                Ok(())
            })?;
        }
        // A stable sort keeps file order among records of the same time.
        records.sort_by_key(|r| r.date);
        let mut by_url: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            by_url.entry(key(&r.url)).or_default().push(i);
        }
        Ok(Capture {
            records,
            by_url,
            max_redirects,
            cursor: Mutex::new(0),
            served: Mutex::new(HashSet::new()),
        })
    }

    /// Moves the replay clock to record `pos` of the timeline.
    pub fn set_cursor(&self, pos: usize) {
        *self.cursor.lock().expect("cursor lock") = pos;
    }

    fn cursor(&self) -> usize {
        *self.cursor.lock().expect("cursor lock")
    }

    pub fn cursor_time(&self) -> DateTime<Utc> {
        self.records
            .get(self.cursor())
            .map(|r| r.date)
            .unwrap_or_default()
    }

    /// Whether record `pos` has already been served to the pipeline.
    pub fn was_served(&self, pos: usize) -> bool {
        self.served.lock().expect("served lock").contains(&pos)
    }

    /// The record that answers a request for `url` now.
    fn lookup(&self, url: &Url) -> Option<usize> {
        let positions = self.by_url.get(&key(url))?;
        let cursor = self.cursor();
        positions
            .iter()
            .rev()
            .find(|&&p| p <= cursor)
            .or_else(|| positions.iter().find(|&&p| p > cursor))
            .copied()
    }

    fn get(&self, url: &Url, validators: &Validators) -> Result<Fetched, FetchError> {
        let mut current = url.clone();
        let mut redirects = Vec::new();
        let mut hops = Vec::new();
        loop {
            let Some(pos) = self.lookup(&current) else {
                let response = Response {
                    url: current,
                    status: 404,
                    headers: Vec::new(),
                    body: bytes::Bytes::new(),
                    redirects,
                    hops,
                };
                return Ok(Fetched {
                    response,
                    fetched_at: self.cursor_time(),
                });
            };
            self.served.lock().expect("served lock").insert(pos);
            let rec = &self.records[pos];
            if (300..400).contains(&rec.status) && rec.status != 304 {
                let location = rec
                    .header("location")
                    .ok_or(FetchError::RedirectWithoutLocation)?;
                let next = current
                    .join(location)
                    .map_err(|e| FetchError::InvalidUrl(e.to_string()))?;
                if !matches!(next.scheme(), "http" | "https") {
                    return Err(FetchError::Scheme(next.scheme().to_string()));
                }
                if redirects.len() >= self.max_redirects {
                    return Err(FetchError::TooManyRedirects(self.max_redirects));
                }
                let headers = rec
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect();
                hops.push(Hop {
                    url: current.clone(),
                    status: rec.status,
                    headers,
                });
                redirects.push(next.clone());
                current = next;
                continue;
            }
            let not_modified = rec.status == 200 && validators_match(validators, rec);
            let headers: Vec<(String, String)> = rec
                .headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect();
            let response = Response {
                url: current,
                status: if not_modified { 304 } else { rec.status },
                headers,
                body: if not_modified {
                    bytes::Bytes::new()
                } else {
                    rec.body.clone()
                },
                redirects,
                hops,
            };
            return Ok(Fetched {
                response,
                fetched_at: rec.date,
            });
        }
    }
}

fn validators_match(v: &Validators, rec: &Recorded) -> bool {
    match (&v.etag, rec.header("etag")) {
        (Some(sent), Some(have)) => {
            return sent.trim_start_matches("W/") == have.trim_start_matches("W/");
        }
        (Some(_), None) => return false,
        _ => {}
    }
    matches!((&v.last_modified, rec.header("last-modified")), (Some(sent), Some(have)) if sent == have)
}

fn key(url: &Url) -> String {
    normalize_url(url).to_string()
}
