//! WARC (ISO 28500) files: the saved-traffic format `newswire record` writes and
//! `newswire replay` reads (see docs/replay.md).
//!
//! Layout:
//! - `read`: [`Reader`] iterates records of a `.warc` / `.warc.gz` stream (WARC/1.0 and 1.1;
//!   gzip per record or whole-file, detected by magic bytes).
//! - `http`: [`parse_response`] turns a `response` record's block into status, headers and a
//!   de-chunked, decoded body.
//! - `write`: [`Writer`] emits WARC/1.1 records, each its own gzip member when asked, with
//!   deterministic record ids so fixture files are reproducible.
//!
//! Guarantees: no input makes this module panic or allocate without bound. A record's block is
//! read incrementally and capped ([`MAX_RECORD_BYTES`]), so a lying `Content-Length` costs at most
//! the bytes actually present; decoded HTTP bodies are capped by the caller's `max_body`, so a
//! decompression bomb stops at the cap.
//!
//! Failure: [`WarcError::Malformed`] names the byte offset (in the decompressed WARC stream) of
//! the line or block that could not be read; [`WarcError::Http`] says what was wrong with an HTTP
//! payload; [`WarcError::TooLarge`] names the cap that was exceeded.

mod digest;
mod http;
mod read;
mod write;

pub use http::{HttpResponse, parse_response};
pub use read::{Reader, Record, from_reader, open};
pub use write::Writer;

/// The largest record block [`Reader`] will load into memory (256 MiB). Larger records are
/// skipped and reported as [`WarcError::TooLarge`].
pub const MAX_RECORD_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WarcError {
    /// The input could not be read (missing file, I/O failure).
    #[error("reading WARC input: {0}")]
    Io(#[from] std::io::Error),
    /// Not WARC, truncated, or corrupt compression; `offset` is in the decompressed stream.
    #[error("malformed WARC at byte {offset}: {reason}")]
    Malformed { offset: u64, reason: String },
    /// A `response` block that is not a readable HTTP/1.x message.
    #[error("malformed HTTP payload: {0}")]
    Http(String),
    /// A record block over the reader's cap, or an HTTP body over `max_body`.
    #[error("larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
}

/// Case-insensitive lookup of the first header named `name`.
fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests;
