//! Tests for the WARC module: write→read round trips, hand-made records in the byte layout
//! wget and warcio produce, HTTP decoding, caps, and junk input.

use std::io::{Cursor, Write};

use chrono::{DateTime, TimeZone, Utc};
use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};

use super::*;

const MAX: u64 = 1024 * 1024;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, h, m, s).unwrap()
}

fn hdrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn read_all(bytes: Vec<u8>) -> Vec<Result<Record, WarcError>> {
    from_reader(Cursor::new(bytes)).expect("reader").collect()
}

fn read_ok(bytes: Vec<u8>) -> Vec<Record> {
    read_all(bytes)
        .into_iter()
        .map(|r| r.expect("record"))
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A brotli stream made of stored (uncompressed) meta-blocks (RFC 7932 §9.2), so the `br`
/// path is tested without an encoder crate.
fn brotli_stored(data: &[u8]) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        fn push(&mut self, value: u64, width: u32) {
            self.acc |= value << self.n;
            self.n += width;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        fn pad(&mut self) {
            if self.n > 0 {
                self.push(0, 8 - self.n);
            }
        }
    }
    let mut b = Bits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    b.push(0, 1); // WBITS = 16
    for chunk in data.chunks(65536) {
        b.push(0, 1); // ISLAST
        b.push(0, 2); // MNIBBLES = 4
        b.push(chunk.len() as u64 - 1, 16);
        b.push(1, 1); // ISUNCOMPRESSED
        b.pad();
        b.out.extend_from_slice(chunk);
    }
    b.push(1, 1); // ISLAST
    b.push(1, 1); // ISLASTEMPTY
    b.pad();
    b.out
}

fn sample_capture(gzip: bool) -> Vec<u8> {
    let mut w = Writer::new(Vec::new(), gzip);
    w.write_warcinfo(
        at(10, 0, 0),
        &[
            ("software", "newswire test"),
            ("format", "WARC File Format 1.1"),
        ],
    )
    .unwrap();
    w.write_request("http://harbor.test/feed.xml", at(10, 0, 0), "GET", &[])
        .unwrap();
    w.write_response(
        "http://harbor.test/feed.xml",
        at(10, 0, 0),
        200,
        "OK",
        &hdrs(&[("Content-Type", "application/rss+xml"), ("ETag", "\"v1\"")]),
        b"<rss version=\"2.0\"><channel/></rss>",
    )
    .unwrap();
    w.write_response(
        "http://harbor.test/old",
        at(10, 0, 5),
        301,
        "Moved Permanently",
        &hdrs(&[
            ("Location", "http://harbor.test/new"),
            ("Content-Length", "0"),
        ]),
        b"",
    )
    .unwrap();
    w.finish().unwrap()
}

fn check_sample(records: &[Record]) {
    let types: Vec<&str> = records.iter().map(|r| r.warc_type.as_str()).collect();
    assert_eq!(types, ["warcinfo", "request", "response", "response"]);
    let feed = &records[2];
    assert_eq!(
        feed.target_uri.as_deref(),
        Some("http://harbor.test/feed.xml")
    );
    assert_eq!(feed.date, Some(at(10, 0, 0)));
    assert_eq!(
        feed.header("content-type"),
        Some("application/http;msgtype=response")
    );
    let http = parse_response(&feed.block, MAX).unwrap();
    assert_eq!(http.status, 200);
    assert_eq!(http.header("etag"), Some("\"v1\""));
    assert_eq!(http.body, b"<rss version=\"2.0\"><channel/></rss>");
    let redirect = parse_response(&records[3].block, MAX).unwrap();
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.header("LOCATION"), Some("http://harbor.test/new"));
    assert!(redirect.body.is_empty());
    let request = String::from_utf8(records[1].block.clone()).unwrap();
    assert!(
        request.starts_with("GET /feed.xml HTTP/1.1\r\nHost: harbor.test\r\n"),
        "{request}"
    );
}

#[test]
fn round_trip_plain() {
    let bytes = sample_capture(false);
    assert!(bytes.starts_with(b"WARC/1.1\r\n"));
    check_sample(&read_ok(bytes));
}

#[test]
fn round_trip_gzip_one_member_per_record() {
    let bytes = sample_capture(true);
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    check_sample(&read_ok(bytes.clone()));

    // Each record is a gzip member of its own: the first record alone is a prefix of the file.
    let mut one = Writer::new(Vec::new(), true);
    one.write_warcinfo(
        at(10, 0, 0),
        &[
            ("software", "newswire test"),
            ("format", "WARC File Format 1.1"),
        ],
    )
    .unwrap();
    let one = one.finish().unwrap();
    assert!(bytes.starts_with(&one));
    assert_eq!(&bytes[one.len()..one.len() + 2], &[0x1f, 0x8b]);
    assert_eq!(
        read_ok(bytes[one.len()..].to_vec()).len(),
        3,
        "later members decode alone"
    );
}

#[test]
fn whole_file_gzip_reads_like_per_record_gzip() {
    let whole = gzip(&sample_capture(false));
    let per_record = sample_capture(true);
    assert_ne!(whole, per_record);
    check_sample(&read_ok(whole));
    check_sample(&read_ok(per_record));
}

#[test]
fn writer_output_is_reproducible_with_unique_ids() {
    assert_eq!(sample_capture(true), sample_capture(true));
    let records = read_ok(sample_capture(false));
    let ids: Vec<&str> = records
        .iter()
        .map(|r| r.header("WARC-Record-ID").unwrap())
        .collect();
    for id in &ids {
        assert!(
            id.starts_with("<urn:uuid:") && id.ends_with('>') && id.len() == 47,
            "{id}"
        );
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
}

#[test]
fn writer_digests_match_block_and_payload() {
    let records = read_ok(sample_capture(false));
    for r in &records {
        assert_eq!(
            r.header("WARC-Block-Digest").unwrap(),
            digest::warc_sha1(&r.block)
        );
        assert_eq!(
            r.header("Content-Length").unwrap(),
            r.block.len().to_string()
        );
    }
    let body = b"<rss version=\"2.0\"><channel/></rss>";
    assert_eq!(
        records[2].header("WARC-Payload-Digest").unwrap(),
        digest::warc_sha1(body)
    );
    assert_eq!(
        records[3].header("WARC-Payload-Digest").unwrap(),
        "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ"
    );
}

#[test]
fn writer_rejects_line_breaks_in_fields() {
    let mut w = Writer::new(Vec::new(), false);
    let bad_uri = w.write_response(
        "http://x.test/\r\nWARC-Type: evil",
        at(1, 0, 0),
        200,
        "OK",
        &[],
        b"",
    );
    assert_eq!(
        bad_uri.unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    let bad_header = w.write_response(
        "http://x.test/",
        at(1, 0, 0),
        200,
        "OK",
        &hdrs(&[("X", "a\nb")]),
        b"",
    );
    assert_eq!(
        bad_header.unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    assert!(w.finish().unwrap().is_empty(), "nothing half-written");
}

#[test]
fn writer_keeps_fractional_seconds() {
    let date = Utc.timestamp_opt(1_767_607_200, 250_000_000).unwrap();
    let mut w = Writer::new(Vec::new(), false);
    w.write_response("http://x.test/", date, 200, "OK", &[], b"x")
        .unwrap();
    let records = read_ok(w.finish().unwrap());
    assert_eq!(
        records[0].header("WARC-Date"),
        Some("2026-01-05T10:00:00.250Z")
    );
    assert_eq!(records[0].date, Some(date));
}

/// The layout wget `--warc-file` and warcio write: WARC/1.0, warcinfo first, a request and a
/// response per URL, digests, IP address, each record gzipped on its own.
fn wget_style_capture(eol: &str) -> Vec<u8> {
    let record = |headers: &[(&str, &str)], block: &str| -> Vec<u8> {
        let mut text = format!("WARC/1.0{eol}");
        for (n, v) in headers {
            text.push_str(&format!("{n}: {v}{eol}"));
        }
        text.push_str(&format!(
            "Content-Length: {}{eol}{eol}{block}{eol}{eol}",
            block.len()
        ));
        gzip(text.as_bytes())
    };
    let info = "software: Wget/1.21.4 (linux-gnu)\r\nformat: WARC File Format 1.0\r\n";
    let request = "GET /news/ferry HTTP/1.1\r\nUser-Agent: Wget/1.21.4\r\nAccept: */*\r\nHost: harbor.test\r\nConnection: Keep-Alive\r\n\r\n";
    let body = "<html><head><title>Ferry</title></head><body><p>Ferry service expands.</p></body></html>\n";
    let response = format!(
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Mon, 05 Jan 2026 10:00:00 GMT\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut out = record(
        &[
            ("WARC-Type", "warcinfo"),
            ("Content-Type", "application/warc-fields"),
            ("WARC-Date", "2026-01-05T10:00:00Z"),
            (
                "WARC-Record-ID",
                "<urn:uuid:6f0c1b5e-1d43-4b1f-9b53-2f8b0a7c1d01>",
            ),
            ("WARC-Filename", "harbor.warc.gz"),
        ],
        info,
    );
    out.extend(record(
        &[
            ("WARC-Type", "request"),
            ("WARC-Target-URI", "<http://harbor.test/news/ferry>"),
            ("Content-Type", "application/http;msgtype=request"),
            ("WARC-Date", "2026-01-05T10:00:00Z"),
            (
                "WARC-Record-ID",
                "<urn:uuid:6f0c1b5e-1d43-4b1f-9b53-2f8b0a7c1d02>",
            ),
            ("WARC-IP-Address", "192.0.2.10"),
            (
                "WARC-Warcinfo-ID",
                "<urn:uuid:6f0c1b5e-1d43-4b1f-9b53-2f8b0a7c1d01>",
            ),
            ("WARC-Block-Digest", "sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ],
        request,
    ));
    out.extend(record(
        &[
            ("WARC-Type", "response"),
            (
                "WARC-Record-ID",
                "<urn:uuid:6f0c1b5e-1d43-4b1f-9b53-2f8b0a7c1d03>",
            ),
            (
                "WARC-Warcinfo-ID",
                "<urn:uuid:6f0c1b5e-1d43-4b1f-9b53-2f8b0a7c1d01>",
            ),
            (
                "WARC-Concurrent-To",
                "<urn:uuid:6f0c1b5e-1d43-4b1f-9b53-2f8b0a7c1d02>",
            ),
            ("WARC-Target-URI", "<http://harbor.test/news/ferry>"),
            ("WARC-Date", "2026-01-05T10:00:01Z"),
            ("WARC-IP-Address", "192.0.2.10"),
            ("WARC-Block-Digest", "sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            (
                "WARC-Payload-Digest",
                "sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            ),
            ("Content-Type", "application/http;msgtype=response"),
        ],
        &response,
    ));
    out
}

#[test]
fn reads_hand_made_wget_style_warc_1_0() {
    for eol in ["\r\n", "\n"] {
        let records = read_ok(wget_style_capture(eol));
        assert_eq!(records.len(), 3, "eol {eol:?}");
        let response = &records[2];
        assert_eq!(response.warc_type, "response");
        assert_eq!(
            response.target_uri.as_deref(),
            Some("http://harbor.test/news/ferry")
        );
        assert_eq!(response.date, Some(at(10, 0, 1)));
        assert_eq!(response.header("warc-ip-address"), Some("192.0.2.10"));
        let http = parse_response(&response.block, MAX).unwrap();
        assert_eq!(http.status, 200);
        assert_eq!(
            http.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert!(http.body.starts_with(b"<html><head><title>Ferry"));
        assert!(http.body.ends_with(b"</html>\n"));
    }
}

#[test]
fn header_names_any_case_folded_lines_and_lax_dates() {
    let block = "HTTP/1.0 200 OK\nContent-Type: text/plain\n\nhello";
    let text = "warc/1.0\r\n".to_owned();
    // Lower-case version line is not WARC: the spec's version line is case-sensitive.
    assert!(matches!(
        read_all(text.into_bytes()).as_slice(),
        [Err(WarcError::Malformed { offset: 0, .. })]
    ));

    let text = format!(
        "\r\n\r\nWARC/1.0\r\nwarc-type: response\r\nwarc-target-uri: http://harbor.test/a\r\nX-Note: first part\r\n  second part\r\nwarc-date: 2026-01-05T10:00Z\r\ncontent-length: {}\r\n\r\n{block}\r\n\r\n\n",
        block.len()
    );
    let records = read_ok(text.into_bytes());
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.warc_type, "response");
    assert_eq!(r.target_uri.as_deref(), Some("http://harbor.test/a"));
    assert_eq!(r.header("x-note"), Some("first part second part"));
    assert_eq!(r.date, Some(at(10, 0, 0)));
    let http = parse_response(&r.block, MAX).unwrap();
    assert_eq!((http.status, http.body.as_slice()), (200, &b"hello"[..]));
}

#[test]
fn warc_dates_in_their_allowed_forms() {
    use read::parse_warc_date;
    assert_eq!(parse_warc_date("2026-01-05T10:00:00Z"), Some(at(10, 0, 0)));
    assert_eq!(
        parse_warc_date("2026-01-05T11:00:00+01:00"),
        Some(at(10, 0, 0))
    );
    assert_eq!(
        parse_warc_date("2026-01-05T10:00:00.5Z").map(|d| d.timestamp_subsec_millis()),
        Some(500)
    );
    assert_eq!(parse_warc_date("2026-01-05"), Some(at(0, 0, 0)));
    assert_eq!(parse_warc_date("yesterday"), None);
}

fn http_block(headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut b = b"HTTP/1.1 200 OK\r\n".to_vec();
    for (n, v) in headers {
        b.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    b.extend_from_slice(b"\r\n");
    b.extend_from_slice(body);
    b
}

fn chunk(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    for &size in sizes {
        let (now, later) = rest.split_at(size.min(rest.len()));
        out.extend_from_slice(format!("{:x};ext=1\r\n", now.len()).as_bytes());
        out.extend_from_slice(now);
        out.extend_from_slice(b"\r\n");
        rest = later;
    }
    out.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
    out
}

const PAGE: &[u8] =
    b"<html><body><article><p>The harbor ferry adds a 6 a.m. sailing.</p></article></body></html>";

#[test]
fn chunked_bodies_are_dechunked() {
    let block = http_block(
        &[("Transfer-Encoding", "chunked")],
        &chunk(PAGE, &[10, 1, 30, 500]),
    );
    assert_eq!(parse_response(&block, MAX).unwrap().body, PAGE);

    // Chunked and then gzip: chunked is the outer layer.
    let block = http_block(
        &[
            ("Content-Encoding", "gzip"),
            ("Transfer-Encoding", "chunked"),
        ],
        &chunk(&gzip(PAGE), &[7, 20, 1000]),
    );
    assert_eq!(parse_response(&block, MAX).unwrap().body, PAGE);

    // Bare-LF framing and a missing final chunk after a complete one are tolerated.
    let lf = [b"a\n".as_slice(), &PAGE[..10], b"\n"].concat();
    let block = http_block(&[("Transfer-Encoding", "chunked")], &lf);
    assert_eq!(parse_response(&block, MAX).unwrap().body, &PAGE[..10]);
}

#[test]
fn already_dechunked_body_under_chunked_header_is_kept() {
    let block = http_block(&[("Transfer-Encoding", "chunked")], PAGE);
    assert_eq!(parse_response(&block, MAX).unwrap().body, PAGE);
}

#[test]
fn truncated_chunk_is_an_error() {
    let mut body = chunk(PAGE, &[40, 500]);
    body.truncate(70); // inside the second chunk
    let block = http_block(&[("Transfer-Encoding", "chunked")], &body);
    assert!(
        matches!(parse_response(&block, MAX), Err(WarcError::Http(m)) if m.contains("truncated"))
    );
}

#[test]
fn each_content_encoding_decodes() {
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
    zlib.write_all(PAGE).unwrap();
    let mut raw = DeflateEncoder::new(Vec::new(), Compression::default());
    raw.write_all(PAGE).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("gzip", gzip(PAGE)),
        ("x-gzip", gzip(PAGE)),
        ("GZIP", gzip(PAGE)),
        ("deflate", zlib.finish().unwrap()),
        ("deflate", raw.finish().unwrap()),
        ("br", brotli_stored(PAGE)),
        ("identity", PAGE.to_vec()),
        ("gzip, br", brotli_stored(&gzip(PAGE))),
    ];
    for (coding, body) in cases {
        let block = http_block(&[("Content-Encoding", coding)], &body);
        let http = parse_response(&block, MAX).unwrap_or_else(|e| panic!("{coding}: {e}"));
        assert_eq!(http.body, PAGE, "{coding}");
    }
    assert_eq!(brotli_stored(b""), [0x06], "the known empty brotli stream");
}

#[test]
fn bad_encodings_are_http_errors() {
    let block = http_block(&[("Content-Encoding", "zstd")], b"\x28\xb5\x2f\xfd...");
    assert!(matches!(parse_response(&block, MAX), Err(WarcError::Http(m)) if m.contains("zstd")));
    let block = http_block(&[("Content-Encoding", "gzip")], b"not gzip at all");
    assert!(matches!(
        parse_response(&block, MAX),
        Err(WarcError::Http(_))
    ));
    let mut truncated = gzip(PAGE);
    truncated.truncate(truncated.len() / 2);
    let block = http_block(&[("Content-Encoding", "gzip")], &truncated);
    assert!(matches!(
        parse_response(&block, MAX),
        Err(WarcError::Http(_))
    ));
    // An empty body under Content-Encoding (304, HEAD) is fine.
    let block = http_block(&[("Content-Encoding", "gzip")], b"");
    assert!(parse_response(&block, MAX).unwrap().body.is_empty());
}

#[test]
fn decompression_bomb_stops_at_the_cap() {
    let zeros = vec![0u8; 8 * 1024 * 1024];
    let bomb = gzip(&zeros);
    assert!(bomb.len() < 64 * 1024, "the bomb is small: {}", bomb.len());
    let cap = 256 * 1024;
    for (coding, body) in [
        ("gzip", bomb),
        ("br", brotli_stored(&zeros[..cap as usize + 1])),
    ] {
        let block = http_block(&[("Content-Encoding", coding)], &body);
        assert!(
            matches!(parse_response(&block, cap), Err(WarcError::TooLarge { limit }) if limit == cap),
            "{coding}"
        );
    }
    // Exactly at the cap passes.
    let block = http_block(
        &[("Content-Encoding", "gzip")],
        &gzip(&zeros[..cap as usize]),
    );
    assert_eq!(parse_response(&block, cap).unwrap().body.len() as u64, cap);
    // Chunked and plain bodies are capped too.
    let block = http_block(
        &[("Transfer-Encoding", "chunked")],
        &chunk(&zeros[..cap as usize + 1], &[cap as usize, 1]),
    );
    assert!(matches!(
        parse_response(&block, cap),
        Err(WarcError::TooLarge { .. })
    ));
    let block = http_block(&[], &zeros[..cap as usize + 1]);
    assert!(matches!(
        parse_response(&block, cap),
        Err(WarcError::TooLarge { .. })
    ));
}

#[test]
fn http_status_lines_and_header_blocks() {
    let ok = parse_response(b"HTTP/1.0 404\nServer: x\n\nmissing", MAX).unwrap();
    assert_eq!((ok.status, ok.body.as_slice()), (404, &b"missing"[..]));
    let h2 = parse_response(b"HTTP/2 304 \r\nETag: \"v1\"\r\n\r\n", MAX).unwrap();
    assert_eq!(h2.status, 304);
    assert_eq!(h2.header("ETAG"), Some("\"v1\""));
    for bad in [
        &b"<html>hello</html>\r\n\r\n"[..],
        b"HTTP/1.1 OK 200\r\n\r\n",
        b"HTTP/1.1 20\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nNo-End: yes",
    ] {
        assert!(
            matches!(parse_response(bad, MAX), Err(WarcError::Http(_))),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let dup = parse_response(
        b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n\r\n",
        MAX,
    )
    .unwrap();
    assert_eq!(dup.header("SET-COOKIE"), Some("a=1"), "first wins");
    assert_eq!(dup.headers.len(), 2);
}

#[test]
fn empty_input_has_no_records() {
    assert!(read_all(Vec::new()).is_empty());
    assert!(read_all(b"\r\n\r\n".to_vec()).is_empty());
}

#[test]
fn junk_input_is_malformed_at_offset_zero() {
    let junk: Vec<Vec<u8>> = vec![
        b"<!doctype html><html><body>not a warc</body></html>".to_vec(),
        (0..=255u8).cycle().take(4096).collect(),
        vec![b'A'; 200_000], // one enormous "line"
        gzip(b"{\"json\": true}"),
    ];
    for bytes in junk {
        let results = read_all(bytes);
        assert_eq!(results.len(), 1, "one error, then the reader stops");
        match &results[0] {
            Err(WarcError::Malformed { offset: 0, reason }) => {
                assert!(reason.contains("WARC/1.x"), "{reason}");
                assert!(!reason.contains("end of input"), "shows the junk: {reason}");
            }
            other => panic!("expected malformed at 0, got {other:?}"),
        }
    }
    assert!(matches!(read_all(b"WARC/1.1".to_vec()).as_slice(),
        [Err(WarcError::Malformed { offset: 0, reason })] if reason.contains("version line")));
    let zstd = from_reader(Cursor::new(vec![0x28, 0xb5, 0x2f, 0xfd, 0, 0]));
    assert!(matches!(zstd, Err(WarcError::Malformed { offset: 0, .. })));
}

#[test]
fn truncated_input_names_the_offset() {
    let bytes = sample_capture(false);
    let second = find(&bytes, b"WARC/1.1", 1);
    // Cut inside the second record's block.
    let cut = &bytes[..second + 400];
    let results = read_all(cut.to_vec());
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    match &results[1] {
        Err(WarcError::Malformed { offset, reason }) => {
            assert!(
                *offset > second as u64 && reason.contains("truncated"),
                "{offset} {reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    // Cut inside a header.
    let results = read_all(bytes[..second + 25].to_vec());
    assert!(
        matches!(&results[1], Err(WarcError::Malformed { offset, .. }) if *offset == second as u64 + 10)
    );
    // Cut inside a gzip member.
    let gz = sample_capture(true);
    let results = read_all(gz[..gz.len() - 20].to_vec());
    assert!(results[..results.len() - 1].iter().all(Result::is_ok));
    assert!(matches!(
        results.last(),
        Some(Err(WarcError::Malformed { .. }))
    ));
}

fn find(haystack: &[u8], needle: &[u8], nth: usize) -> usize {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .nth(nth)
        .unwrap()
        .0
}

#[test]
fn every_prefix_and_corruption_fails_cleanly() {
    for gz in [false, true] {
        let bytes = sample_capture(gz);
        for len in 0..bytes.len() {
            let results = read_all(bytes[..len].to_vec());
            // Everything before the first error is a record; an error, if any, is last.
            if let Some(pos) = results.iter().position(Result::is_err) {
                assert_eq!(pos, results.len() - 1, "gzip {gz}, len {len}");
            }
        }
        for i in (0..bytes.len()).step_by(7) {
            let mut corrupt = bytes.clone();
            corrupt[i] ^= 0x5a;
            for record in read_all(corrupt).into_iter().flatten() {
                let _ = parse_response(&record.block, MAX);
            }
        }
    }
}

#[test]
fn lying_content_length_is_bounded() {
    // Claims 200 GiB, has 10 bytes: over the record cap, skipped, the input ends.
    let huge = b"WARC/1.1\r\nWARC-Type: response\r\nContent-Length: 214748364800\r\n\r\n0123456789"
        .to_vec();
    let results = read_all(huge);
    assert_eq!(results.len(), 1);
    assert!(matches!(
        results[0],
        Err(WarcError::TooLarge {
            limit: MAX_RECORD_BYTES
        })
    ));

    // Claims 100 MiB (under the cap), has 10 bytes: truncated, no 100 MiB buffer.
    let big =
        b"WARC/1.1\r\nWARC-Type: response\r\nContent-Length: 104857600\r\n\r\n0123456789".to_vec();
    assert!(matches!(
        read_all(big).as_slice(),
        [Err(WarcError::Malformed { offset: 60, .. })]
    ));

    // An oversized record is stepped over and the next one is read.
    let mut w = Writer::new(Vec::new(), false);
    w.write_response(
        "http://harbor.test/big",
        at(9, 0, 0),
        200,
        "OK",
        &[],
        &[b'x'; 500],
    )
    .unwrap();
    w.write_response(
        "http://harbor.test/small",
        at(9, 0, 1),
        200,
        "OK",
        &[],
        b"x",
    )
    .unwrap();
    let reader = from_reader(Cursor::new(w.finish().unwrap()))
        .unwrap()
        .with_max_record(300);
    let results: Vec<_> = reader.collect();
    assert_eq!(results.len(), 2);
    assert!(matches!(
        results[0],
        Err(WarcError::TooLarge { limit: 300 })
    ));
    assert_eq!(
        results[1].as_ref().unwrap().target_uri.as_deref(),
        Some("http://harbor.test/small")
    );
}

#[test]
fn missing_headers_are_reported() {
    let no_length = b"WARC/1.1\r\nWARC-Type: response\r\n\r\nbody\r\n\r\n".to_vec();
    assert!(matches!(read_all(no_length).as_slice(),
        [Err(WarcError::Malformed { offset: 0, reason })] if reason.contains("Content-Length")));
    let bad_length =
        b"WARC/1.1\r\nWARC-Type: response\r\nContent-Length: -4\r\n\r\nbody\r\n\r\n".to_vec();
    assert!(matches!(
        read_all(bad_length).as_slice(),
        [Err(WarcError::Malformed { offset: 0, .. })]
    ));
    let no_colon =
        b"WARC/1.1\r\nWARC-Type response\r\nContent-Length: 4\r\n\r\nbody\r\n\r\n".to_vec();
    assert!(matches!(read_all(no_colon).as_slice(),
        [Err(WarcError::Malformed { offset: 10, reason })] if reason.contains("colon")));

    // A record without WARC-Type is reported and skipped; the next one is still read.
    let mut bytes = b"WARC/1.1\r\nContent-Length: 4\r\n\r\nbody\r\n\r\n".to_vec();
    bytes.extend(sample_capture(false));
    let results = read_all(bytes);
    assert!(
        matches!(&results[0], Err(WarcError::Malformed { offset: 0, reason }) if reason.contains("WARC-Type"))
    );
    assert_eq!(results.len(), 5);
    assert!(results[1..].iter().all(Result::is_ok));
}

#[test]
fn garbage_between_records_stops_with_its_offset() {
    let mut bytes = sample_capture(false);
    let second = find(&bytes, b"WARC/1.1", 1);
    bytes.splice(second..second, b"oops".iter().copied());
    let results = read_all(bytes);
    assert_eq!(results.len(), 2);
    assert!(
        matches!(&results[1], Err(WarcError::Malformed { offset, .. }) if *offset == second as u64)
    );
}

#[test]
fn open_reads_files_from_disk() {
    let dir = std::env::temp_dir().join(format!("newswire-warc-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("capture.warc"); // gzip content under a plain name: magic bytes win
    std::fs::write(&path, sample_capture(true)).unwrap();
    let records: Vec<Record> = open(&path).unwrap().map(Result::unwrap).collect();
    check_sample(&records);
    assert!(matches!(
        open(&dir.join("absent.warc.gz")),
        Err(WarcError::Io(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
