//! The HTTP/1.x message inside a `response` record.
//!
//! Guarantees: the body comes back de-chunked and decoded (`gzip`, `x-gzip`, `deflate` as zlib
//! or raw, `br`, `identity`; stacked codings are undone in reverse order), and no stage ever
//! holds more than `max_body` bytes, so a decompression bomb stops at the cap.
//!
//! Failure: [`WarcError::Http`] for an unreadable status line, header block, chunk framing or
//! compressed stream, or an unknown coding; [`WarcError::TooLarge`] when the body exceeds
//! `max_body`.

use std::io::Read;

use flate2::read::{DeflateDecoder, GzDecoder, ZlibDecoder};

use super::{WarcError, find_header};

/// An HTTP response as archived: status, headers in order, and the decoded body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// Parses a `response` record's block.
///
/// Bodies stored already de-chunked under a leftover `Transfer-Encoding: chunked` header (some
/// archivers do this) are detected by their first line not being a chunk size, and kept as is.
///
/// # Errors
/// [`WarcError::Http`] for a malformed message or unsupported coding, [`WarcError::TooLarge`]
/// when any stage of the body exceeds `max_body` bytes.
pub fn parse_response(block: &[u8], max_body: u64) -> Result<HttpResponse, WarcError> {
    let (head, raw_body) = split_head(block)
        .ok_or_else(|| WarcError::Http("no blank line ends the HTTP header block".into()))?;
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let status = parse_status_line(&status_line)
        .ok_or_else(|| WarcError::Http(format!("bad status line {:?}", truncate(&status_line))))?;

    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        let line = String::from_utf8_lossy(line);
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        // Browsers skip header lines without a colon; so do we.
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if !name.is_empty() {
                headers.push((name.to_owned(), value.trim().to_owned()));
            }
        }
    }

    if raw_body.len() as u64 > max_body {
        return Err(WarcError::TooLarge { limit: max_body });
    }
    let mut body = raw_body.to_vec();
    for coding in codings(&headers, "Transfer-Encoding").iter().rev() {
        body = match coding.as_str() {
            "chunked" => match dechunk(&body, max_body)? {
                Some(decoded) => decoded,
                None => body,
            },
            other => decode(other, &body, max_body, "Transfer-Encoding")?,
        };
    }
    for coding in codings(&headers, "Content-Encoding").iter().rev() {
        body = decode(coding, &body, max_body, "Content-Encoding")?;
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// Splits at the first empty line (CRLF or bare LF).
fn split_head(block: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut from = 0;
    while let Some(i) = block[from..].iter().position(|&b| b == b'\n') {
        let nl = from + i;
        let rest = &block[nl + 1..];
        if rest.starts_with(b"\n") {
            return Some((&block[..nl], &rest[1..]));
        }
        if rest.starts_with(b"\r\n") {
            return Some((&block[..nl], &rest[2..]));
        }
        from = nl + 1;
    }
    None
}

/// `HTTP/1.1 200 OK` → 200. Accepts any `HTTP/` version and a missing reason phrase.
fn parse_status_line(line: &str) -> Option<u16> {
    let mut parts = line.trim().splitn(3, [' ', '\t']);
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    code.parse().ok().filter(|c| (100..=999).contains(c))
}

/// The codings listed in every `name` header, lower-cased, in order applied.
fn codings(headers: &[(String, String)], name: &str) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .collect()
}

/// Removes chunked framing. `Ok(None)`: the body does not start with a chunk-size line, so it is
/// not actually chunked. A body that ends cleanly after a chunk without the final `0` chunk is
/// accepted (truncated captures are common); one that ends inside a chunk is an error.
fn dechunk(raw: &[u8], max_body: u64) -> Result<Option<Vec<u8>>, WarcError> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut first = true;
    loop {
        if pos >= raw.len() {
            if first && !raw.is_empty() {
                return Ok(None);
            }
            return Ok(Some(out));
        }
        let line_end = raw[pos..].iter().position(|&b| b == b'\n').map(|i| pos + i);
        let line = &raw[pos..line_end.unwrap_or(raw.len())];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let size_text = line.split(|&b| b == b';').next().unwrap_or_default();
        let size_text = String::from_utf8_lossy(size_text);
        let size_text = size_text.trim();
        let size = if !size_text.is_empty() && size_text.len() <= 15 {
            u64::from_str_radix(size_text, 16).ok()
        } else {
            None
        };
        let (Some(size), Some(line_end)) = (size, line_end) else {
            if first {
                return Ok(None);
            }
            return Err(WarcError::Http(format!(
                "bad chunk-size line at body byte {pos}"
            )));
        };
        first = false;
        pos = line_end + 1;
        if size == 0 {
            return Ok(Some(out)); // trailers, if any, are ignored
        }
        if out.len() as u64 + size > max_body {
            return Err(WarcError::TooLarge { limit: max_body });
        }
        let size = size as usize; // <= max_body, which fit in memory as the raw body
        if raw.len() - pos < size {
            return Err(WarcError::Http(format!(
                "chunked body truncated: chunk of {size} bytes at body byte {pos}, {} left",
                raw.len() - pos
            )));
        }
        out.extend_from_slice(&raw[pos..pos + size]);
        pos += size;
        if raw[pos..].starts_with(b"\r\n") {
            pos += 2;
        } else if raw[pos..].starts_with(b"\n") {
            pos += 1;
        }
    }
}

fn decode(coding: &str, body: &[u8], max_body: u64, header: &str) -> Result<Vec<u8>, WarcError> {
    if body.is_empty() {
        return Ok(Vec::new()); // 304s and HEAD-like responses keep the header but send nothing
    }
    match coding {
        "identity" => Ok(body.to_vec()),
        "gzip" | "x-gzip" => read_capped(GzDecoder::new(body), max_body, coding),
        "deflate" if looks_like_zlib(body) => read_capped(ZlibDecoder::new(body), max_body, coding),
        "deflate" => read_capped(DeflateDecoder::new(body), max_body, coding),
        "br" => read_capped(
            brotli_decompressor::Decompressor::new(body, 4096),
            max_body,
            coding,
        ),
        other => Err(WarcError::Http(format!("unsupported {header}: {other}"))),
    }
}

/// RFC 1950 header check: compression method 8, window ≤ 32 KiB, check bits valid.
fn looks_like_zlib(body: &[u8]) -> bool {
    match body {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

/// Reads at most `max_body + 1` bytes, so an oversized stream is detected without being held.
fn read_capped(reader: impl Read, max_body: u64, coding: &str) -> Result<Vec<u8>, WarcError> {
    let mut out = Vec::new();
    reader
        .take(max_body.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| WarcError::Http(format!("{coding} body does not decode: {e}")))?;
    if out.len() as u64 > max_body {
        return Err(WarcError::TooLarge { limit: max_body });
    }
    Ok(out)
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(60) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
