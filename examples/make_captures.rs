//! Builds the replay fixtures: every `tests/fixtures/captures/<scenario>/capture.toml` becomes a
//! `capture.warc.gz` beside it, written with newswire's own WARC writer.
//!
//! Run `cargo run --example make_captures` after editing a scenario; the test
//! `tests/captures_up_to_date.rs` fails while a committed capture differs from what this builds.
//! Output is byte-for-byte reproducible: record ids are derived from content, gzip members carry
//! mtime 0, and nothing reads the clock.
//!
//! `capture.toml` format (see `tests/fixtures/captures/README.md`):
//!
//! ```toml
//! description = "one line: what this capture exercises"
//!
//! [[record]]
//! time = "2026-01-05T10:00:00Z"          # WARC-Date and HTTP Date
//! url = "http://harbor.test/feed.xml"
//! status = 200                            # default 200; reason phrase from the status
//! headers = { "Content-Type" = "application/rss+xml", ETag = "\"v1\"" }
//! body_file = "feed-v1.xml"               # or body = "...", or neither for an empty body
//! location = "http://harbor.test/..."     # adds a Location header (redirects)
//! gzip = true                             # send the body with Content-Encoding: gzip
//! chunked = true                          # send it with Transfer-Encoding: chunked
//! ```
//!
//! Each record becomes a `request` record followed by a `response` record, after one `warcinfo`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use flate2::{Compression, GzBuilder};
use newswire::warc::Writer;
use serde::Deserialize;

pub const SOURCE_FILE: &str = "capture.toml";
pub const CAPTURE_FILE: &str = "capture.warc.gz";
/// Chunk size used for `chunked = true` bodies.
const CHUNK: usize = 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub description: String,
    #[serde(rename = "record", default)]
    pub records: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub time: String,
    pub url: String,
    #[serde(default = "ok")]
    pub status: u16,
    pub reason: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    pub body_file: Option<String>,
    pub location: Option<String>,
    #[serde(default)]
    pub gzip: bool,
    #[serde(default)]
    pub chunked: bool,
}

fn ok() -> u16 {
    200
}

/// `tests/fixtures/captures` of the crate being built.
pub fn captures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captures")
}

/// Scenario directories (those holding a `capture.toml`), sorted by name.
pub fn scenario_dirs(root: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut dirs = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("{}: {e}", root.display()))?
            .path();
        if path.join(SOURCE_FILE).is_file() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

pub fn load_scenario(dir: &Path) -> Result<Scenario, String> {
    let path = dir.join(SOURCE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The bytes of `dir`'s `capture.warc.gz`, built from its `capture.toml` and body files.
pub fn build_capture(dir: &Path) -> Result<Vec<u8>, String> {
    let scenario = load_scenario(dir)?;
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("capture");
    let first = scenario
        .records
        .first()
        .ok_or_else(|| format!("{name}: no [[record]]"))?;
    let mut writer = Writer::new(Vec::new(), true);
    let io = |e: std::io::Error| format!("{name}: {e}");
    writer
        .write_warcinfo(
            parse_time(name, &first.time)?,
            &[
                ("software", "newswire examples/make_captures.rs"),
                ("format", "WARC File Format 1.1"),
                ("isPartOf", name),
                ("description", scenario.description.as_str()),
            ],
        )
        .map_err(io)?;
    for (i, entry) in scenario.records.iter().enumerate() {
        let at = format!("{name} record {}", i + 1);
        let time = parse_time(&at, &entry.time)?;
        let (headers, body) = http_message(dir, &at, entry, time)?;
        let request_headers = [
            ("User-Agent".to_owned(), "newswire-fixtures/1".to_owned()),
            ("Accept-Encoding".to_owned(), "gzip, deflate, br".to_owned()),
        ];
        writer
            .write_request(&entry.url, time, "GET", &request_headers)
            .map_err(io)?;
        let reason = entry
            .reason
            .as_deref()
            .unwrap_or(reason_phrase(entry.status));
        writer
            .write_response(&entry.url, time, entry.status, reason, &headers, &body)
            .map_err(io)?;
    }
    writer.finish().map_err(io)
}

fn parse_time(at: &str, time: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(time)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{at}: time {time:?} is not RFC 3339: {e}"))
}

/// Response headers (generated ones around the declared ones) and the body as sent.
type Message = (Vec<(String, String)>, Vec<u8>);

fn http_message(
    dir: &Path,
    at: &str,
    entry: &Entry,
    time: DateTime<Utc>,
) -> Result<Message, String> {
    const GENERATED: [&str; 5] = [
        "Date",
        "Location",
        "Content-Encoding",
        "Content-Length",
        "Transfer-Encoding",
    ];
    if let Some(name) = entry
        .headers
        .keys()
        .find(|n| GENERATED.iter().any(|g| g.eq_ignore_ascii_case(n)))
    {
        return Err(format!(
            "{at}: header {name} is generated; use time/location/gzip/chunked"
        ));
    }
    let mut body = match (&entry.body, &entry.body_file) {
        (Some(_), Some(_)) => return Err(format!("{at}: give body or body_file, not both")),
        (Some(text), None) => text.clone().into_bytes(),
        (None, Some(file)) => {
            let path = dir.join(file);
            std::fs::read(&path).map_err(|e| format!("{at}: {}: {e}", path.display()))?
        }
        (None, None) => Vec::new(),
    };

    let mut headers = vec![(
        "Date".to_owned(),
        time.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
    )];
    headers.extend(entry.headers.iter().map(|(n, v)| (n.clone(), v.clone())));
    if let Some(location) = &entry.location {
        headers.push(("Location".to_owned(), location.clone()));
    }
    if entry.gzip {
        let mut encoder = GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), Compression::new(6));
        encoder.write_all(&body).map_err(|e| format!("{at}: {e}"))?;
        body = encoder.finish().map_err(|e| format!("{at}: {e}"))?;
        headers.push(("Content-Encoding".to_owned(), "gzip".to_owned()));
    }
    if entry.chunked {
        headers.push(("Transfer-Encoding".to_owned(), "chunked".to_owned()));
        let mut framed = Vec::with_capacity(body.len() + 64);
        for piece in body.chunks(CHUNK) {
            framed.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            framed.extend_from_slice(piece);
            framed.extend_from_slice(b"\r\n");
        }
        framed.extend_from_slice(b"0\r\n\r\n");
        body = framed;
    } else {
        headers.push(("Content-Length".to_owned(), body.len().to_string()));
    }
    Ok((headers, body))
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

pub fn main() {
    let root = std::env::args_os()
        .nth(1)
        .map_or_else(captures_root, PathBuf::from);
    let result = scenario_dirs(&root).and_then(|dirs| {
        for dir in dirs {
            let bytes = build_capture(&dir)?;
            let out = dir.join(CAPTURE_FILE);
            let unchanged = std::fs::read(&out).is_ok_and(|old| old == bytes);
            if !unchanged {
                std::fs::write(&out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
            }
            let state = if unchanged { "unchanged" } else { "written" };
            println!("{state:>9} {} ({} bytes)", out.display(), bytes.len());
        }
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("make_captures: {e}");
        std::process::exit(1);
    }
}
