//! Writing WARC/1.1 records.
//!
//! Guarantees: every record carries `WARC-Record-ID`, `WARC-Date`, `Content-Length` and
//! `WARC-Block-Digest` (plus `WARC-Payload-Digest` on HTTP records), all `sha1:BASE32`; with
//! gzip on, each record is its own gzip member (mtime 0), so the output is a valid `.warc.gz`
//! that tools can seek into. Record ids are derived from the record's content and its position
//! in the file, so the same calls produce the same bytes.
//!
//! Failure: `io::ErrorKind::InvalidInput` for a URI, header or reason containing CR or LF (it
//! would corrupt the framing); otherwise the underlying writer's errors.

use std::io::{self, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use flate2::{Compression, GzBuilder};

use super::digest::{sha1, warc_sha1};

/// Appends records to `out`. Call [`Writer::finish`] to flush and get `out` back.
pub struct Writer<W: Write> {
    out: W,
    gzip: bool,
    records: u64,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W, gzip: bool) -> Self {
        Self {
            out,
            gzip,
            records: 0,
        }
    }

    /// A `warcinfo` record describing the capture (software, operator, ...).
    pub fn write_warcinfo(
        &mut self,
        date: DateTime<Utc>,
        fields: &[(&str, &str)],
    ) -> io::Result<()> {
        let block = warc_fields(fields)?;
        self.write_record(
            "warcinfo",
            None,
            date,
            "application/warc-fields",
            &block,
            None,
        )
    }

    /// A `metadata` record about `uri` (`name: value` fields), e.g. a fetch that got no HTTP
    /// answer. Readers that replay responses skip it.
    pub fn write_metadata(
        &mut self,
        uri: &str,
        date: DateTime<Utc>,
        fields: &[(&str, &str)],
    ) -> io::Result<()> {
        let block = warc_fields(fields)?;
        self.write_record(
            "metadata",
            Some(uri),
            date,
            "application/warc-fields",
            &block,
            None,
        )
    }

    /// A `response` record. `body` is the payload exactly as sent on the wire: if `headers` say
    /// `Transfer-Encoding: chunked` or `Content-Encoding: gzip`, `body` must be chunked or
    /// compressed accordingly; the writer adds no HTTP headers of its own.
    pub fn write_response(
        &mut self,
        uri: &str,
        date: DateTime<Utc>,
        status: u16,
        reason: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> io::Result<()> {
        check_field(reason)?;
        let mut block = format!("HTTP/1.1 {status:03} {reason}")
            .trim_end()
            .as_bytes()
            .to_vec();
        block.extend_from_slice(b"\r\n");
        push_headers(&mut block, headers)?;
        let payload_start = block.len();
        block.extend_from_slice(body);
        self.write_record(
            "response",
            Some(uri),
            date,
            "application/http;msgtype=response",
            &block,
            Some(payload_start),
        )
    }

    /// A `request` record for a bodiless request (`GET`, `HEAD`) of `uri`. A `Host` header is
    /// added when `headers` has none.
    pub fn write_request(
        &mut self,
        uri: &str,
        date: DateTime<Utc>,
        method: &str,
        headers: &[(String, String)],
    ) -> io::Result<()> {
        check_field(method)?;
        let (host, target) = split_uri(uri);
        let mut block = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
        let mut all = Vec::with_capacity(headers.len() + 1);
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("Host")) && !host.is_empty() {
            all.push(("Host".to_owned(), host.to_owned()));
        }
        all.extend_from_slice(headers);
        push_headers(&mut block, &all)?;
        let payload_start = block.len();
        self.write_record(
            "request",
            Some(uri),
            date,
            "application/http;msgtype=request",
            &block,
            Some(payload_start),
        )
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }

    fn write_record(
        &mut self,
        warc_type: &str,
        uri: Option<&str>,
        date: DateTime<Utc>,
        content_type: &str,
        block: &[u8],
        payload_start: Option<usize>,
    ) -> io::Result<()> {
        if let Some(uri) = uri {
            check_field(uri)?;
        }
        let date = date.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let block_digest = warc_sha1(block);
        let id = record_id(
            self.records,
            warc_type,
            uri.unwrap_or(""),
            &date,
            &block_digest,
        );

        let mut head = String::with_capacity(512);
        head.push_str("WARC/1.1\r\n");
        head.push_str(&format!("WARC-Type: {warc_type}\r\n"));
        head.push_str(&format!("WARC-Record-ID: {id}\r\n"));
        head.push_str(&format!("WARC-Date: {date}\r\n"));
        if let Some(uri) = uri {
            head.push_str(&format!("WARC-Target-URI: {uri}\r\n"));
        }
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
        if let Some(start) = payload_start {
            head.push_str(&format!(
                "WARC-Payload-Digest: {}\r\n",
                warc_sha1(&block[start..])
            ));
        }
        head.push_str(&format!("WARC-Block-Digest: {block_digest}\r\n"));
        head.push_str(&format!("Content-Length: {}\r\n\r\n", block.len()));

        if self.gzip {
            let mut member = GzBuilder::new()
                .mtime(0)
                .write(&mut self.out, Compression::new(6));
            member.write_all(head.as_bytes())?;
            member.write_all(block)?;
            member.write_all(b"\r\n\r\n")?;
            member.finish()?;
        } else {
            self.out.write_all(head.as_bytes())?;
            self.out.write_all(block)?;
            self.out.write_all(b"\r\n\r\n")?;
        }
        self.records += 1;
        Ok(())
    }
}

/// `<urn:uuid:…>` shaped like a version-5 UUID, from the record's position, type, URI, date and
/// block digest: unique within a file, identical across runs.
fn record_id(seq: u64, warc_type: &str, uri: &str, date: &str, block_digest: &str) -> String {
    let h = sha1(format!("{seq}\n{warc_type}\n{uri}\n{date}\n{block_digest}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "<urn:uuid:{}-{}-{}-{}-{}>",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn push_headers(block: &mut Vec<u8>, headers: &[(String, String)]) -> io::Result<()> {
    for (name, value) in headers {
        if name.is_empty() || name.contains(':') {
            return Err(invalid(format!("bad HTTP header name {name:?}")));
        }
        check_field(name)?;
        check_field(value)?;
        block.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    block.extend_from_slice(b"\r\n");
    Ok(())
}

fn check_field(value: &str) -> io::Result<()> {
    if value.contains(['\r', '\n']) {
        return Err(invalid(format!("line break in WARC/HTTP field {value:?}")));
    }
    Ok(())
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// `http://host:port/path?q#frag` → (`host:port`, `/path?q`).
fn split_uri(uri: &str) -> (&str, String) {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let rest = rest.split('#').next().unwrap_or_default();
    match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    }
}

/// `name: value` lines (`application/warc-fields`), refusing names or values that would break
/// the record (a line break).
fn warc_fields(fields: &[(&str, &str)]) -> io::Result<Vec<u8>> {
    let mut block = Vec::new();
    for (name, value) in fields {
        check_field(name)?;
        check_field(value)?;
        block.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    Ok(block)
}
