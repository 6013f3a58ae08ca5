//! Reading WARC records from a byte stream.
//!
//! Accepts WARC/1.0 and WARC/1.1 (any `WARC/` version line), CRLF or bare-LF line ends, header
//! names in any case, folded header lines, and any number of blank lines between records.
//!
//! Errors: the iterator yields an error and stops when the framing is lost (bad version line,
//! truncated header or block, missing or unreadable `Content-Length`, corrupt gzip). It yields
//! an error and goes on when the record could be stepped over: a block larger than the record cap
//! ([`WarcError::TooLarge`]) or a record without `WARC-Type`.
//!
//! Kept hand-written: it must stream blocks under a size cap and step over damaged records in
//! captures from the wild, which a general WARC crate is not built for; it is small, has no
//! dependencies and is fuzzed (`fuzz/fuzz_targets/warc.rs`).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use flate2::bufread::MultiGzDecoder;

use super::{MAX_RECORD_BYTES, WarcError, find_header};

/// Longest header line accepted; longer means the input is not WARC.
const MAX_LINE: usize = 64 * 1024;
/// Largest header block accepted for one record.
const MAX_HEADER_BLOCK: usize = 1024 * 1024;

/// One WARC record: its named headers and its block (for `response` records, the HTTP message
/// as sent, which [`super::parse_response`] reads).
#[derive(Debug, Clone)]
pub struct Record {
    /// `WARC-Type` as written, e.g. `response`, `request`, `warcinfo`.
    pub warc_type: String,
    /// `WARC-Target-URI`, without the angle brackets some WARC/1.0 writers put around it.
    pub target_uri: Option<String>,
    /// `WARC-Date`; `None` when missing or unparseable (the raw value stays in `headers`).
    pub date: Option<DateTime<Utc>>,
    /// Every WARC header in file order, names as written.
    pub headers: Vec<(String, String)>,
    pub block: Vec<u8>,
}

impl Record {
    /// The first header called `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// Iterates the records of one WARC stream. Build it with [`open`] or [`from_reader`] (which
/// detect gzip), or [`Reader::new`] over an already-decompressed stream.
pub struct Reader<R: BufRead> {
    inner: R,
    offset: u64,
    max_record: u64,
    done: bool,
    /// Set by `read_record` when its error left the stream at the next record.
    resumable: bool,
}

/// Opens a `.warc` or `.warc.gz` file; gzip is recognised by its magic bytes, not the name.
///
/// # Errors
/// [`WarcError::Io`] if the file cannot be opened or read; [`WarcError::Malformed`] for a
/// zstd-compressed capture, which is not supported.
pub fn open(path: &Path) -> Result<Reader<Box<dyn BufRead + Send>>, WarcError> {
    from_reader(File::open(path)?)
}

/// Like [`open`] over any byte source: plain WARC, or gzip (one member per record or one for the
/// whole file; multi-member decoding handles both).
///
/// # Errors
/// As [`open`].
pub fn from_reader<R: Read + Send + 'static>(
    source: R,
) -> Result<Reader<Box<dyn BufRead + Send>>, WarcError> {
    let mut buffered = BufReader::with_capacity(64 * 1024, source);
    let head = buffered.fill_buf()?;
    let inner: Box<dyn BufRead + Send> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::with_capacity(
            64 * 1024,
            MultiGzDecoder::new(buffered),
        ))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(WarcError::Malformed {
            offset: 0,
            reason: "zstd-compressed WARC (.warc.zst) is not supported; decompress it first".into(),
        });
    } else {
        Box::new(buffered)
    };
    Ok(Reader::new(inner))
}

enum Line {
    Eof,
    /// A line was read into the buffer; the value is the bytes consumed (terminator included).
    Read(usize),
    TooLong,
}

impl<R: BufRead> Reader<R> {
    /// Reads an uncompressed WARC stream.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            offset: 0,
            max_record: MAX_RECORD_BYTES,
            done: false,
            resumable: false,
        }
    }

    /// Changes the largest block loaded into memory (default [`MAX_RECORD_BYTES`]).
    pub fn with_max_record(mut self, limit: u64) -> Self {
        self.max_record = limit;
        self
    }

    /// Bytes consumed so far from the (decompressed) stream.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn malformed(&self, offset: u64, reason: impl Into<String>) -> WarcError {
        WarcError::Malformed {
            offset,
            reason: reason.into(),
        }
    }

    /// Corrupt or truncated compressed input surfaces as an I/O error of these kinds; report it
    /// as malformed input at the current position instead.
    fn io_error(&self, e: io::Error) -> WarcError {
        match e.kind() {
            io::ErrorKind::InvalidData
            | io::ErrorKind::InvalidInput
            | io::ErrorKind::UnexpectedEof => self.malformed(
                self.offset,
                format!("corrupt or truncated compressed data: {e}"),
            ),
            _ => WarcError::Io(e),
        }
    }

    /// Reads one line (terminator included) into `buf`, never holding more than `max` bytes.
    fn read_line(&mut self, buf: &mut Vec<u8>, max: usize) -> Result<Line, WarcError> {
        buf.clear();
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e)),
            };
            if available.is_empty() {
                return Ok(if buf.is_empty() {
                    Line::Eof
                } else {
                    Line::Read(buf.len())
                });
            }
            let (take, found) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            if buf.len() + take > max {
                // Keep the start of the line (unconsumed) for the error message.
                let room = max - buf.len();
                buf.extend_from_slice(&available[..room.min(take)]);
                return Ok(Line::TooLong);
            }
            buf.extend_from_slice(&available[..take]);
            self.inner.consume(take);
            self.offset += take as u64;
            if found {
                return Ok(Line::Read(buf.len()));
            }
        }
    }

    /// Skips CR/LF bytes between records. Returns false at end of input.
    fn skip_blank(&mut self) -> Result<bool, WarcError> {
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e)),
            };
            if available.is_empty() {
                return Ok(false);
            }
            let blank = available
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            if blank == 0 {
                return Ok(true);
            }
            self.inner.consume(blank);
            self.offset += blank as u64;
        }
    }

    fn read_record(&mut self) -> Result<Option<Record>, WarcError> {
        if !self.skip_blank()? {
            return Ok(None);
        }
        let start = self.offset;
        let mut line = Vec::new();
        match self.read_line(&mut line, 256)? {
            Line::Read(_) if line.starts_with(b"WARC/") && line.ends_with(b"\n") => {}
            Line::Read(_) if line.starts_with(b"WARC/") => {
                return Err(self.malformed(start, "input ends inside the version line"));
            }
            Line::Read(_) | Line::TooLong | Line::Eof => {
                return Err(self.malformed(
                    start,
                    format!("expected a WARC/1.x version line, found {}", preview(&line)),
                ));
            }
        }

        let mut headers: Vec<(String, String)> = Vec::new();
        let mut header_bytes = 0usize;
        loop {
            let line_start = self.offset;
            let consumed = match self.read_line(&mut line, MAX_LINE)? {
                Line::Read(n) if line.ends_with(b"\n") => n,
                Line::Read(_) | Line::Eof => {
                    return Err(self.malformed(line_start, "input ends inside the record header"));
                }
                Line::TooLong => {
                    return Err(self.malformed(line_start, "header line longer than 64 KiB"));
                }
            };
            header_bytes += consumed;
            if header_bytes > MAX_HEADER_BLOCK {
                return Err(self.malformed(start, "record header block larger than 1 MiB"));
            }
            let text = trim_eol(&line);
            if text.is_empty() {
                break;
            }
            let text = String::from_utf8_lossy(text);
            if text.starts_with([' ', '\t']) {
                let Some((_, value)) = headers.last_mut() else {
                    return Err(self.malformed(line_start, "continuation line before any header"));
                };
                value.push(' ');
                value.push_str(text.trim());
                continue;
            }
            let Some((name, value)) = text.split_once(':') else {
                return Err(self.malformed(
                    line_start,
                    format!("header line without a colon: {}", preview(trim_eol(&line))),
                ));
            };
            let name = name.trim();
            if name.is_empty() {
                return Err(self.malformed(line_start, "header line with an empty name"));
            }
            headers.push((name.to_owned(), value.trim().to_owned()));
        }

        let length = match find_header(&headers, "Content-Length") {
            None => return Err(self.malformed(start, "record has no Content-Length header")),
            Some(v) => v.parse::<u64>().map_err(|_| {
                self.malformed(start, format!("Content-Length is not a byte count: {v:?}"))
            })?,
        };
        if length > self.max_record {
            // Step over the block so the next record can still be read.
            let skipped = io::copy(&mut (&mut self.inner).take(length), &mut io::sink())
                .map_err(|e| self.io_error(e))?;
            self.offset += skipped;
            self.resumable = skipped == length;
            return Err(WarcError::TooLarge {
                limit: self.max_record,
            });
        }

        let block_start = self.offset;
        // Grow with the data actually present, never with the declared length.
        let mut block = Vec::with_capacity(length.min(64 * 1024) as usize);
        let read = (&mut self.inner).take(length).read_to_end(&mut block);
        self.offset += block.len() as u64;
        read.map_err(|e| self.io_error(e))?;
        if (block.len() as u64) < length {
            return Err(self.malformed(
                block_start,
                format!(
                    "record block truncated: Content-Length is {length} but the input ends after {} bytes",
                    block.len()
                ),
            ));
        }

        let Some(warc_type) = find_header(&headers, "WARC-Type") else {
            self.resumable = true;
            return Err(self.malformed(start, "record has no WARC-Type header; skipped"));
        };
        let warc_type = warc_type.to_owned();
        let target_uri = find_header(&headers, "WARC-Target-URI").map(|u| {
            let u = u.trim();
            u.strip_prefix('<')
                .and_then(|u| u.strip_suffix('>'))
                .unwrap_or(u)
                .to_owned()
        });
        let date = find_header(&headers, "WARC-Date").and_then(parse_warc_date);
        Ok(Some(Record {
            warc_type,
            target_uri,
            date,
            headers,
            block,
        }))
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Record, WarcError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.resumable = false;
        match self.read_record() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = !self.resumable;
                Some(Err(e))
            }
        }
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A short, printable excerpt of unexpected input for error messages.
fn preview(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "end of input".into();
    }
    let cut = &bytes[..bytes.len().min(40)];
    let text: String = String::from_utf8_lossy(trim_eol(cut))
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    format!("{text:?}{}", if bytes.len() > 40 { "…" } else { "" })
}

/// W3C-DTF as WARC uses it: `2026-01-05T10:00:00Z`, optionally with fractional seconds (1.1),
/// an offset, or reduced precision.
pub(crate) fn parse_warc_date(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(value) {
        return Some(d.with_timezone(&Utc));
    }
    let naive = value.strip_suffix('Z').unwrap_or(value);
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(naive, format) {
            return Some(d.and_utc());
        }
    }
    NaiveDate::parse_from_str(naive, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}
