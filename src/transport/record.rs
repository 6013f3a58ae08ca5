//! Recording live traffic (`newswire record`, `run --record DIR`): every fetch becomes WARC
//! records in rotating `.warc.gz` files, so `newswire replay DIR/*.warc.gz` plays it back and
//! reproduces the live events (docs/replay.md, "Record").
//!
//! Per fetch, all with the fetch's time as `WARC-Date` (the same time the pipeline stamps as
//! `fetched_at`): one `response` record per redirect hop (status, headers with `Location`, no
//! body), then the final response. The fetcher hands over bodies decompressed and de-chunked, so
//! `Content-Encoding`, `Transfer-Encoding` and `Content-Length` are replaced by one
//! `Content-Length` of the body as stored, which is then exactly "the body as sent". A failed
//! fetch (no HTTP answer) becomes a `metadata` record naming the error, which replay skips.
//!
//! Each record is its own gzip member written straight to the file, so a crash loses at most
//! the record being written. A write error is logged once per file and recording goes on with
//! the next file: recording never stops the daemon.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use url::Url;

use crate::fetch::{FetchError, Response};
use crate::warc::Writer;

/// Writes fetches to rotating WARC files in a directory.
pub struct Recorder {
    dir: PathBuf,
    max_bytes: u64,
    current: Mutex<Option<Current>>,
    files: AtomicU64,
}

struct Current {
    writer: Writer<Counting>,
    written: Arc<AtomicU64>,
    path: PathBuf,
}

/// A file that counts the bytes written to it.
struct Counting {
    file: File,
    written: Arc<AtomicU64>,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Headers describing the wire form of a body that is stored decoded.
const WIRE_HEADERS: [&str; 3] = ["content-encoding", "transfer-encoding", "content-length"];

impl Recorder {
    /// Records into `dir` (created if missing), starting a new file past `max_bytes`.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn new(dir: &Path, max_bytes: u64) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Recorder {
            dir: dir.to_path_buf(),
            max_bytes,
            current: Mutex::new(None),
            files: AtomicU64::new(0),
        })
    }

    /// The files written so far, oldest first.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.to_string_lossy().ends_with(".warc.gz"))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Writes one fetch of `url`: its redirect hops and final response, or its error.
    pub fn record(&self, url: &Url, at: DateTime<Utc>, result: &Result<Response, FetchError>) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = self.write(&mut current, url, at, result) {
            let path = current
                .as_ref()
                .map(|c| c.path.display().to_string())
                .unwrap_or_default();
            tracing::error!(file = %path, error = %e, "writing the WARC recording failed; starting a new file");
            *current = None;
        }
    }

    fn write(
        &self,
        current: &mut Option<Current>,
        url: &Url,
        at: DateTime<Utc>,
        result: &Result<Response, FetchError>,
    ) -> io::Result<()> {
        if let Some(done) = current.take_if(|c| c.written.load(Ordering::Relaxed) >= self.max_bytes)
        {
            done.writer.finish()?;
            tracing::info!(file = %done.path.display(), "WARC file complete");
        }
        if current.is_none() {
            *current = Some(self.open(at)?);
        }
        let w = &mut current.as_mut().expect("just opened").writer;
        match result {
            Ok(resp) => {
                for hop in &resp.hops {
                    w.write_response(
                        hop.url.as_str(),
                        at,
                        hop.status,
                        reason(hop.status),
                        &wire_headers(&hop.headers, 0),
                        b"",
                    )?;
                }
                w.write_response(
                    resp.url.as_str(),
                    at,
                    resp.status,
                    reason(resp.status),
                    &wire_headers(&resp.headers, resp.body.len()),
                    &resp.body,
                )?;
            }
            Err(e) => {
                let message = e.to_string().replace(['\r', '\n'], " ");
                w.write_metadata(
                    url.as_str(),
                    at,
                    &[
                        ("fetch-error", message.as_str()),
                        ("fetch-error-kind", e.kind()),
                    ],
                )?;
            }
        }
        Ok(())
    }

    fn open(&self, at: DateTime<Utc>) -> io::Result<Current> {
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "newswire-{}-{}-{n:05}.warc.gz",
            at.format("%Y%m%dT%H%M%SZ"),
            std::process::id()
        );
        let path = self.dir.join(name);
        let written = Arc::new(AtomicU64::new(0));
        let file = File::options().create_new(true).write(true).open(&path)?;
        let mut writer = Writer::new(
            Counting {
                file,
                written: written.clone(),
            },
            true,
        );
        writer.write_warcinfo(
            at,
            &[
                ("software", concat!("newswire/", env!("CARGO_PKG_VERSION"))),
                ("format", "WARC File Format 1.1"),
            ],
        )?;
        tracing::info!(file = %path.display(), "recording to a new WARC file");
        Ok(Current {
            writer,
            written,
            path,
        })
    }
}

fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// The headers as stored: wire-only ones dropped, the stored body's length stated.
fn wire_headers(headers: &[(String, String)], body_len: usize) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| !WIRE_HEADERS.iter().any(|w| k.eq_ignore_ascii_case(w)))
        .cloned()
        .collect();
    out.push(("content-length".into(), body_len.to_string()));
    out
}
