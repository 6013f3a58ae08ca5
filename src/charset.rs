//! Character-set detection and decoding of fetched bodies.
//!
//! Feeds and pages arrive as bytes in whatever encoding their publisher chose, declared (or not)
//! in several places. [`decode`] picks one encoding and turns the bytes into a `String`:
//!
//! 1. a byte-order mark (UTF-8, UTF-16LE, UTF-16BE) wins over everything;
//! 2. the `charset` parameter of the HTTP `Content-Type`;
//! 3. for XML, the `encoding` of the `<?xml ... ?>` declaration (a UTF-16 document without a BOM is
//!    recognised from how its declaration starts);
//! 4. for anything not served as XML, a `<meta charset>` or
//!    `<meta http-equiv="Content-Type" content="...; charset=...">` in the first 4096 bytes, found
//!    by a cheap byte scan, not a parse;
//! 5. otherwise UTF-8 if the bytes are valid UTF-8, else windows-1252.
//!
//! A declaration of another encoding (from any of 2–4) is overruled when the body is valid UTF-8
//! and has non-ASCII text: pages re-encoded by a CMS, proxy or archiver keep their old label, while
//! legacy-encoded text practically never forms valid multi-byte UTF-8 by chance. A body cut off
//! inside its last character still counts as valid when the text before it has UTF-8.
//!
//! Labels are resolved the WHATWG way (`encoding_rs`), so `iso-8859-1` and `latin1` mean
//! windows-1252, `gb2312` means GBK, and so on. A label that resolves to nothing, or to WHATWG's
//! "replacement" encoding, is ignored and the next source is tried. An in-document declaration of
//! UTF-16 in bytes readable as ASCII is a lie (the scan could read it), so it means UTF-8.
//!
//! Guarantees: never panics and never fails. Bytes that are invalid in the chosen encoding
//! (including a "UTF-8" declaration over Latin-1 bytes) become U+FFFD. NUL bytes are kept as
//! U+0000: stripping them is the consumer's choice, not the decoder's.

use encoding_rs::{Encoding, REPLACEMENT, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// How far into a document the in-band declarations are looked for.
const SCAN_LIMIT: usize = 4096;

/// Decodes `body` to text; see the module documentation for how the encoding is chosen.
pub fn decode(body: &[u8], content_type: Option<&str>) -> String {
    decode_with_encoding(body, content_type).0
}

/// Like [`decode`], also returning the encoding that was used (for tests and logs).
pub fn decode_with_encoding(
    body: &[u8],
    content_type: Option<&str>,
) -> (String, &'static Encoding) {
    if let Some((encoding, bom_len)) = Encoding::for_bom(body) {
        let (text, _) = encoding.decode_without_bom_handling(&body[bom_len..]);
        return (text.into_owned(), encoding);
    }
    let encoding = detect_without_bom(body, content_type);
    let (text, _) = encoding.decode_without_bom_handling(body);
    (text.into_owned(), encoding)
}

fn detect_without_bom(body: &[u8], content_type: Option<&str>) -> &'static Encoding {
    match declared(body, content_type) {
        Some(encoding) if encoding != UTF_8 && !body.is_ascii() && is_utf8(body) => UTF_8,
        Some(encoding) => encoding,
        None if is_utf8(body) => UTF_8,
        None => WINDOWS_1252,
    }
}

/// Valid UTF-8, allowing a last character cut off by a size limit when the text before it already
/// shows UTF-8 (a lone high byte after plain ASCII is more likely Latin-1).
fn is_utf8(body: &[u8]) -> bool {
    match std::str::from_utf8(body) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && !body[..e.valid_up_to()].is_ascii(),
    }
}

/// The encoding the headers or the document itself declare, if any (steps 2–4).
fn declared(body: &[u8], content_type: Option<&str>) -> Option<&'static Encoding> {
    if let Some(encoding) = content_type.and_then(content_type_charset) {
        return Some(encoding);
    }
    let head = &body[..body.len().min(SCAN_LIMIT)];
    if let Some(encoding) = utf16_xml_without_bom(head) {
        return Some(encoding);
    }
    match xml_declaration(head) {
        // An XML declaration makes this XML: no meta scan, and without `encoding` it is UTF-8
        // (or the fallback when the bytes say otherwise).
        Some(declared) => declared,
        None if !content_type.is_some_and(is_xml_type) => meta_charset(head),
        None => None,
    }
}

/// Resolves a label, ignoring the WHATWG "replacement" encoding (ISO-2022-KR and friends), which
/// would turn the whole document into a single U+FFFD.
fn resolve(label: &[u8]) -> Option<&'static Encoding> {
    Encoding::for_label(label).filter(|e| *e != REPLACEMENT)
}

/// Resolves a label found by scanning the bytes as ASCII: a UTF-16 claim there cannot be true.
fn resolve_in_band(label: &[u8]) -> Option<&'static Encoding> {
    resolve(label).map(Encoding::output_encoding)
}

fn content_type_charset(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        resolve(
            value
                .trim()
                .trim_matches(|c| c == '"' || c == '\'')
                .as_bytes(),
        )
    })
}

/// `text/xml`, `application/xml`, `application/rss+xml`, ...: documents whose meta tags (inside
/// CDATA, say) say nothing about their own encoding.
fn is_xml_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.ends_with("/xml") || essence.ends_with("+xml")
}

/// XML 1.0 appendix F: `<?` in UTF-16 without a byte-order mark.
fn utf16_xml_without_bom(head: &[u8]) -> Option<&'static Encoding> {
    match head {
        [0x3C, 0x00, 0x3F, 0x00, ..] => Some(UTF_16LE),
        [0x00, 0x3C, 0x00, 0x3F, ..] => Some(UTF_16BE),
        _ => None,
    }
}

/// `None`: no XML declaration. `Some(None)`: a declaration without a usable `encoding`.
fn xml_declaration(head: &[u8]) -> Option<Option<&'static Encoding>> {
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &head[start..];
    if !rest.starts_with(b"<?xml") || !rest.get(5).is_some_and(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let end = find(rest, b"?>").unwrap_or(rest.len());
    let decl = &rest[..end];
    Some(attribute_value(decl, b"encoding").and_then(resolve_in_band))
}

/// The first `<meta ...>` tag in `head` that names a charset, either as `charset="..."` or inside
/// `content="text/html; charset=..."`.
fn meta_charset(head: &[u8]) -> Option<&'static Encoding> {
    let lower = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = find(&lower[from..], b"<meta") {
        let tag_start = from + pos + 5;
        let tag_end = find(&lower[tag_start..], b">").map_or(lower.len(), |e| tag_start + e);
        let tag = &lower[tag_start..tag_end];
        if let Some(encoding) = charset_in_tag(tag).and_then(resolve_in_band) {
            return Some(encoding);
        }
        from = tag_end;
    }
    None
}

/// Finds `charset` followed by optional spaces, `=`, optional spaces and quotes, and returns the
/// label after it.
fn charset_in_tag(tag: &[u8]) -> Option<&[u8]> {
    let mut from = 0;
    while let Some(pos) = find(&tag[from..], b"charset") {
        let mut i = from + pos + 7;
        from = i;
        while tag.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if tag.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while tag
            .get(i)
            .is_some_and(|b| b.is_ascii_whitespace() || *b == b'"' || *b == b'\'')
        {
            i += 1;
        }
        let len = tag[i..]
            .iter()
            .position(|b| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b';' | b'/' | b'>'))
            .unwrap_or(tag.len() - i);
        if len > 0 {
            return Some(&tag[i..i + len]);
        }
    }
    None
}

/// The value of `name="..."` or `name='...'` in an XML declaration.
fn attribute_value<'a>(decl: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let pos = find(decl, name)?;
    let mut i = pos + name.len();
    while decl.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    if decl.get(i) != Some(&b'=') {
        return None;
    }
    i += 1;
    while decl.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    let quote = *decl.get(i).filter(|q| matches!(q, b'"' | b'\''))?;
    let value = &decl[i + 1..];
    let len = value.iter().position(|b| *b == quote)?;
    Some(&value[..len])
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(body: &[u8], content_type: Option<&str>) -> &'static str {
        decode_with_encoding(body, content_type).1.name()
    }

    fn html_with_meta(meta: &str, text: &[u8]) -> Vec<u8> {
        let mut body = format!("<!doctype html><html><head>{meta}<title>t</title></head><body><p>")
            .into_bytes();
        body.extend_from_slice(text);
        body.extend_from_slice(b"</p></body></html>");
        body
    }

    #[test]
    fn euc_kr_from_http_header() {
        let bytes = [
            0xC7, 0xD1, 0xB1, 0xB9, 0xBE, 0xEE, 0x20, 0xB4, 0xBA, 0xBD, 0xBA,
        ];
        let (text, enc) = decode_with_encoding(&bytes, Some("text/html; charset=EUC-KR"));
        assert_eq!(text, "한국어 뉴스");
        assert_eq!(enc.name(), "EUC-KR");
    }

    #[test]
    fn shift_jis_from_meta_http_equiv() {
        let sjis = [
            0x93, 0xFA, 0x96, 0x7B, 0x8C, 0xEA, 0x82, 0xCC, 0x83, 0x6A, 0x83, 0x85, 0x81, 0x5B,
            0x83, 0x58,
        ];
        let body = html_with_meta(
            r#"<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=Shift_JIS">"#,
            &sjis,
        );
        let (text, enc) = decode_with_encoding(&body, Some("text/html"));
        assert!(text.contains("<p>日本語のニュース</p>"), "{text}");
        assert_eq!(enc.name(), "Shift_JIS");
    }

    #[test]
    fn gbk_and_gb2312_labels() {
        let gbk = [0xD6, 0xD0, 0xCE, 0xC4, 0xD0, 0xC2, 0xCE, 0xC5];
        let body = html_with_meta(r#"<meta charset="gb2312">"#, &gbk);
        let (text, enc) = decode_with_encoding(&body, None);
        assert!(text.contains("中文新闻"), "{text}");
        assert_eq!(enc.name(), "GBK");
        assert_eq!(decode(&gbk, Some("text/plain; charset=gbk")), "中文新闻");
    }

    #[test]
    fn windows_1252_from_iso_8859_1_label_and_fallback() {
        let bytes = [0x63, 0x61, 0x66, 0xE9, 0x20, 0x96, 0x20, 0x80, 0x35];
        let (text, enc) = decode_with_encoding(&bytes, Some("text/html; charset=\"ISO-8859-1\""));
        assert_eq!(text, "café – €5");
        assert_eq!(enc.name(), "windows-1252");
        // No declaration and not UTF-8: windows-1252.
        assert_eq!(
            decode_with_encoding(&bytes, None),
            ("café – €5".to_owned(), WINDOWS_1252)
        );
    }

    #[test]
    fn iso_8859_2_from_xml_declaration() {
        let mut body = b"<?xml version=\"1.0\" encoding='ISO-8859-2'?><rss><title>".to_vec();
        body.extend_from_slice(&[0xA3, 0xF3, 0x64, 0xBC, 0x20, 0xBF, 0xF3, 0xB3, 0xE6]);
        body.extend_from_slice(b"</title></rss>");
        let (text, enc) = decode_with_encoding(&body, Some("application/rss+xml"));
        assert!(text.contains("<title>Łódź żółć</title>"), "{text}");
        assert_eq!(enc.name(), "ISO-8859-2");
    }

    #[test]
    fn iso_8859_5_from_meta_charset() {
        let cyrillic = [0xBF, 0xE0, 0xD8, 0xD2, 0xD5, 0xE2, 0x20, 0xDC, 0xD8, 0xE0];
        let body = html_with_meta("<meta charset=iso-8859-5>", &cyrillic);
        let (text, enc) = decode_with_encoding(&body, None);
        assert!(text.contains("Привет мир"), "{text}");
        assert_eq!(enc.name(), "ISO-8859-5");
    }

    #[test]
    fn utf16_with_bom_beats_http_header() {
        let le = [
            0xFF, 0xFE, 0x6E, 0x00, 0x61, 0x00, 0xEF, 0x00, 0x76, 0x00, 0x65, 0x00,
        ];
        assert_eq!(
            decode_with_encoding(&le, Some("text/xml; charset=iso-8859-1")),
            ("naïve".to_owned(), UTF_16LE)
        );
        let be = [
            0xFE, 0xFF, 0x00, 0x6E, 0x00, 0x61, 0x00, 0xEF, 0x00, 0x76, 0x00, 0x65,
        ];
        assert_eq!(
            decode_with_encoding(&be, None),
            ("naïve".to_owned(), UTF_16BE)
        );
        let utf8 = b"\xEF\xBB\xBFna\xC3\xAFve";
        assert_eq!(
            decode_with_encoding(utf8, Some("text/html; charset=shift_jis")),
            ("naïve".to_owned(), UTF_8)
        );
    }

    #[test]
    fn utf16_xml_without_bom_is_recognised() {
        let text = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><a>ï</a>";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(decode_with_encoding(&le, None), (text.to_owned(), UTF_16LE));
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode_with_encoding(&be, None), (text.to_owned(), UTF_16BE));
    }

    #[test]
    fn http_header_beats_meta() {
        let euc_kr = [0xC7, 0xD1, 0xB1, 0xB9, 0xBE, 0xEE];
        let body = html_with_meta(r#"<meta charset="windows-1252">"#, &euc_kr);
        let (text, enc) = decode_with_encoding(&body, Some("text/html;charset=euc-kr"));
        assert!(text.contains("한국어"), "{text}");
        assert_eq!(enc.name(), "EUC-KR");
    }

    #[test]
    fn valid_utf8_overrules_a_stale_declaration() {
        // A UTF-8 page that kept its old gb2312 meta, and a header that says Latin-1.
        let body = html_with_meta(r#"<meta charset="gb2312">"#, "中文新闻".as_bytes());
        let (text, enc) = decode_with_encoding(&body, None);
        assert!(text.contains("中文新闻"), "{text}");
        assert_eq!(enc, UTF_8);
        let latin = decode_with_encoding("café".as_bytes(), Some("text/html; charset=iso-8859-1"));
        assert_eq!(latin, ("café".to_owned(), UTF_8));
        // Cut off inside the last character by a size limit: still UTF-8.
        let cut = &"naïve é".as_bytes()[..8];
        assert_eq!(name(cut, Some("text/html; charset=windows-1252")), "UTF-8");
        // Pure ASCII keeps the declared encoding (same text either way, but the name is honest).
        assert_eq!(name(b"plain", Some("text/html; charset=koi8-r")), "KOI8-R");
    }

    #[test]
    fn lying_utf8_declaration_decodes_lossily() {
        let body = b"caf\xE9 \xFF\xFE ok";
        let (text, enc) = decode_with_encoding(body, Some("text/html; charset=utf-8"));
        assert_eq!(enc, UTF_8);
        assert_eq!(text, "caf\u{FFFD} \u{FFFD}\u{FFFD} ok");
    }

    #[test]
    fn in_band_utf16_claim_means_utf8() {
        let body = "<html><head><meta charset=\"utf-16\"></head><body>é</body></html>".as_bytes();
        assert_eq!(name(body, None), "UTF-8");
        let xml = "<?xml version=\"1.0\" encoding=\"utf-16\"?><a>é</a>".as_bytes();
        assert_eq!(
            decode_with_encoding(xml, None),
            (String::from_utf8(xml.to_vec()).unwrap(), UTF_8)
        );
    }

    #[test]
    fn unknown_and_replacement_labels_fall_through() {
        let body = "<meta charset=\"klingon\"><p>é</p>".as_bytes();
        assert_eq!(name(body, Some("text/html; charset=nonsense")), "UTF-8");
        assert_eq!(
            name(b"plain \xE9", Some("text/plain; charset=iso-2022-kr")),
            "windows-1252"
        );
    }

    #[test]
    fn meta_is_ignored_in_xml_and_beyond_the_scan_limit() {
        // A meta tag inside a feed's CDATA describes the embedded HTML, not the feed.
        let feed = b"<rss><description><![CDATA[<meta charset=\"euc-kr\">]]></description></rss>";
        assert_eq!(name(feed, Some("application/rss+xml")), "UTF-8");
        let xml_decl = b"<?xml version=\"1.0\"?><rss><![CDATA[<meta charset=\"euc-kr\">]]></rss>";
        assert_eq!(name(xml_decl, None), "UTF-8");
        let mut late = vec![b' '; SCAN_LIMIT];
        late.extend_from_slice(b"<meta charset=\"euc-kr\">");
        assert_eq!(name(&late, None), "UTF-8");
    }

    #[test]
    fn meta_scan_skips_tags_without_charset() {
        let body =
            b"<meta name=\"viewport\" content=\"width=device-width\"><meta name=x content=y>\
                     <meta http-equiv=content-type content='text/html; charset = koi8-r'>";
        assert_eq!(name(body, None), "KOI8-R");
    }

    #[test]
    fn nul_bytes_and_empty_bodies_are_kept() {
        assert_eq!(decode(b"a\0b", None), "a\0b");
        assert_eq!(decode_with_encoding(b"", None), (String::new(), UTF_8));
    }
}
