//! One article page → everything a single page can tell: the body and metadata (`extract`)
//! and the revision stamps (`stamps`), from one parse of the HTML.
//!
//! Used by the pipeline and by `newswire extract`, so both give the same answers.

use std::borrow::Cow;

use serde::Serialize;
use url::Url;

use crate::config::Settings;
use crate::extract::{self, SiteRule};
use crate::stamps::{self, RevisionNote, Timestamp};
use crate::track;

/// The `data` fields of EVENTS.md that one page gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page {
    pub url: String,
    pub canonical_url: String,
    pub title: String,
    pub authors: Vec<String>,
    pub language: Option<String>,
    pub published_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub revision_notes: Vec<RevisionNote>,
    pub body_text: String,
    pub word_count: usize,
    pub content_hash: String,
}

impl Page {
    /// Whether the page holds an article; front pages, error pages and stubs have no body.
    pub fn is_article(&self) -> bool {
        !self.body_text.trim().is_empty()
    }
}

/// Extracts a page fetched from `url`, with the site's rules from `settings` if any.
pub fn extract_page(html: &str, url: &Url, settings: Option<&Settings>) -> Page {
    let site = settings
        .zip(url.host_str())
        .and_then(|(s, host)| s.site(host));
    let rule: Option<SiteRule> = site.map(|s| s.rule());
    let doc = parse_page(html);
    let ex = extract::extract(&doc, Some(url), rule.as_ref());
    let hints = stamps::Hints {
        language: ex.language.as_deref(),
        default_zone: site.and_then(|s| s.zone.as_deref()),
        url: Some(url),
    };
    let st = stamps::extract_stamps(&doc, &hints);
    let canonical = ex
        .canonical_url
        .as_deref()
        .and_then(|c| Url::parse(c).ok())
        .filter(|c| same_site(c, url))
        .unwrap_or_else(|| url.clone());
    Page {
        url: url.to_string(),
        canonical_url: track::normalize_url(&canonical).to_string(),
        title: ex.title,
        authors: ex.authors,
        language: ex.language,
        published_at: st.published_at,
        updated_at: st.updated_at,
        revision_notes: st.revision_notes,
        word_count: extract::word_count(&ex.body_text),
        content_hash: track::content_hash(&ex.body_text),
        body_text: ex.body_text,
    }
}

/// Deepest element nesting passed to the HTML parser. Real pages stay under a hundred levels;
/// html5ever's tree builder is quadratic in nesting depth (a megabyte of nested `<div>`s costs
/// it a CPU-minute), so tags past this depth are dropped before parsing, keeping their text.
const MAX_NESTING: usize = 512;

/// Elements that never hold content, or that close themselves implicitly often enough that
/// counting them would overstate depth.
const NOT_NESTING: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "!doctype",
];
/// Elements whose content is raw text: no tags inside.
const RAW_TEXT: &[&str] = &["script", "style", "textarea", "title", "xmp", "noscript"];

/// Parses a page the way extraction wants it: see [`lighten`].
pub fn parse_page(html: &str) -> scraper::Html {
    scraper::Html::parse_document(&lighten(html))
}

/// The page as the parser should see it, by a cheap byte scan over pages with more than
/// [`MAX_NESTING`] tags: tags nested deeper than that are removed (their text kept), and the
/// content of scripts and style sheets is dropped, keeping the empty elements. Nothing reads
/// that content but JSON-LD, which is kept; dropping it saves the tokenizer a fifth of its work
/// on typical news pages, where a third of the bytes are scripts and styles. Small pages are
/// borrowed unchanged.
fn lighten(html: &str) -> Cow<'_, str> {
    let b = html.as_bytes();
    if b.iter().filter(|&&c| c == b'<').count() <= MAX_NESTING {
        return Cow::Borrowed(html);
    }
    let mut depth = 0usize;
    let mut excess = 0usize;
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        let start = i + off;
        if b[start..].starts_with(b"<!--") {
            i = find(b, start + 4, b"-->").map_or(b.len(), |e| e + 3);
            continue;
        }
        let closing = b.get(start + 1) == Some(&b'/');
        let name_start = start + 1 + closing as usize;
        let name_len = b[name_start..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'!')
            .count();
        if name_len == 0 {
            i = start + 1;
            continue;
        }
        // Lower-cased into a small buffer: no allocation per tag. Longer names match no list.
        let mut buf = [0u8; 10];
        let name = match b.get(name_start..name_start + name_len) {
            Some(n) if n.len() <= buf.len() => {
                buf[..n.len()].copy_from_slice(n);
                buf[..n.len()].make_ascii_lowercase();
                std::str::from_utf8(&buf[..n.len()]).unwrap_or("")
            }
            _ => "",
        };
        let end = tag_end(b, name_start + name_len);
        let mut drop = false;
        if closing {
            if !NOT_NESTING.contains(&name) {
                if excess > 0 {
                    excess -= 1;
                    drop = true;
                } else {
                    depth = depth.saturating_sub(1);
                }
            }
        } else if RAW_TEXT.contains(&name) {
            // Skip to the matching end tag: its content is not markup.
            let close = format!("</{name}");
            let close_at = find_ci(b, end, close.as_bytes()).unwrap_or(b.len());
            let unread = name == "style" || (name == "script" && !is_json_ld(&b[start..end]));
            if unread && close_at > end {
                let o = out.get_or_insert_with(|| String::with_capacity(html.len()));
                o.push_str(&html[copied..end]);
                copied = close_at;
            }
            i = close_at;
            continue;
        } else if !NOT_NESTING.contains(&name) && !b[..end].ends_with(b"/>") {
            if depth >= MAX_NESTING {
                excess += 1;
                drop = true;
            } else {
                depth += 1;
            }
        }
        if drop {
            let o = out.get_or_insert_with(|| String::with_capacity(html.len()));
            o.push_str(&html[copied..start]);
            copied = end;
        }
        i = end;
    }
    match out {
        None => Cow::Borrowed(html),
        Some(mut o) => {
            o.push_str(&html[copied..]);
            Cow::Owned(o)
        }
    }
}

/// Whether a `<script ...>` start tag declares JSON-LD.
fn is_json_ld(start_tag: &[u8]) -> bool {
    start_tag
        .windows(7)
        .any(|w| w.eq_ignore_ascii_case(b"ld+json"))
}

/// Index just past the `>` that ends a tag, skipping quoted attribute values.
fn tag_end(b: &[u8], mut i: usize) -> usize {
    let mut quote = None;
    while i < b.len() {
        match (quote, b[i]) {
            (None, b'>') => return i + 1,
            (None, q @ (b'"' | b'\'')) => quote = Some(q),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        i += 1;
    }
    b.len()
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// Finds a needle that starts with `<`, ignoring ASCII case; jumps from `<` to `<`.
fn find_ci(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let mut i = from;
    loop {
        let at = i + b.get(i..)?.iter().position(|&c| c == b'<')?;
        if b.get(at..at + needle.len())?.eq_ignore_ascii_case(needle) {
            return Some(at);
        }
        i = at + 1;
    }
}

/// Same site: equal hosts once `www.` is dropped, or one a subdomain of the other. A canonical
/// link to another site is ignored, so a page cannot claim another site's article identity.
fn same_site(a: &Url, b: &Url) -> bool {
    let (Some(ha), Some(hb)) = (a.host_str(), b.host_str()) else {
        return false;
    };
    let ha = ha.trim_start_matches("www.");
    let hb = hb.trim_start_matches("www.");
    ha == hb || ha.ends_with(&format!(".{hb}")) || hb.ends_with(&format!(".{ha}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_flattened_before_parsing_and_text_is_kept() {
        let deep = format!(
            "<html><body>{}deep text{}</body></html>",
            "<div>".repeat(100_000),
            "</div>".repeat(100_000)
        );
        let limited = lighten(&deep);
        assert!(limited.len() < deep.len() / 50, "{}", limited.len());
        assert!(limited.contains("deep text"));
        let start = std::time::Instant::now();
        let page = extract_page(&deep, &Url::parse("http://n.test/a").unwrap(), None);
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
        assert!(!page.body_text.contains('<'));
    }

    #[test]
    fn ordinary_markup_passes_through_and_only_script_content_goes() {
        let mut page =
            String::from("<html><body><script>if (a < b) { x = '<div>'; }</script><!-- <div> -->");
        for i in 0..2000 {
            page.push_str(&format!(
                "<p class=\"x\" title='a>b'>para {i}<br><img src=x.png/></p>"
            ));
        }
        page.push_str("</body></html>");
        assert!(matches!(lighten(&page[..200]), Cow::Borrowed(_)));
        // Past the size where the scan runs, only the script's content goes.
        let light = lighten(&page);
        assert_eq!(
            light.len(),
            page.len() - "if (a < b) { x = '<div>'; }".len()
        );
        assert!(light.starts_with("<html><body><script></script><!-- <div> --><p class"));
    }

    #[test]
    fn scripts_and_styles_are_emptied_but_json_ld_and_markup_in_comments_are_kept() {
        let mut page = String::from(
            "<html><head><style>p { color: red }</style>\
             <script type=\"application/ld+json\">{\"author\": \"Ann Lee\"}</script>\
             <SCRIPT src=x.js>var s = \"</p><p>\";</SCRIPT></head><body>\
             <!-- <script> --><p title='<script>'>kept é</p><script>unclosed",
        );
        page.insert_str(page.find("<p title").unwrap(), &"<br>".repeat(MAX_NESTING));
        let light = lighten(&page);
        assert!(light.contains("<style></style>"), "{light}");
        assert!(light.contains(r#"{"author": "Ann Lee"}"#));
        assert!(light.contains("<SCRIPT src=x.js></SCRIPT>"));
        assert!(light.contains("<!-- <script> --><br>"));
        assert!(light.contains("<p title='<script>'>kept é</p><script>"));
        assert!(!light.contains("unclosed"));
        assert!(!light.contains("color") && !light.contains("var s"));
    }

    #[test]
    fn canonical_links_to_other_sites_are_ignored() {
        let url = Url::parse("http://www.news.test/a?utm_source=x").unwrap();
        let html = r#"<html><head><link rel="canonical" href="http://evil.test/b"></head><body></body></html>"#;
        assert_eq!(
            extract_page(html, &url, None).canonical_url,
            "http://www.news.test/a"
        );
        let html = r#"<html><head><link rel="canonical" href="https://news.test/a"></head><body></body></html>"#;
        assert_eq!(
            extract_page(html, &url, None).canonical_url,
            "https://news.test/a"
        );
    }

    /// Found by the `page` fuzz target: a revision label followed, 40 bytes on, by the middle
    /// of a multi-byte character panicked in `stamps::labels` (a str sliced off a char
    /// boundary).
    #[test]
    fn fuzz_regression_label_text_cut_inside_a_character() {
        let url = Url::parse("http://news.test/story").unwrap();
        for pad in 30..50 {
            let html = format!(
                "<html><body><article><h1>T</h1><p>Updated {}ééééééééééééééééééééé</p></article></body></html>",
                "x".repeat(pad)
            );
            let _ = extract_page(&html, &url, None);
        }
        let crash = include_bytes!("../tests/fixtures/fuzz/page-label-char-boundary.html");
        let _ = extract_page(
            &crate::charset::decode(crash, Some("text/html")),
            &url,
            None,
        );
    }

    /// Pages a hostile site may send: extraction ends, quickly, without a panic or a stack
    /// overflow, and a canonical link never leaves the page's own http(s) site.
    #[test]
    fn hostile_pages_are_extracted_without_harm() {
        let url = Url::parse("http://news.test/story").unwrap();
        let para = "<p>The bottom of a deep page, where a paragraph of ordinary text waits for a reader.</p>";
        let deep = format!(
            "<html><body><article>{}{para}{}</article></body></html>",
            "<div>".repeat(MAX_NESTING),
            "</div>".repeat(MAX_NESTING)
        );
        assert!(
            extract_page(&deep, &url, None)
                .body_text
                .contains("bottom of a deep page")
        );
        let text = format!(
            "<html><body><article><p>{}</p></article></body></html>",
            "lorem ipsum dolor sit amet ".repeat(185_000)
        );
        assert!(extract_page(&text, &url, None).word_count > 100_000);
        let scripts: String = (0..10_000)
            .map(|i| format!("<script>var x{i} = '</p><p>{i}';</script>"))
            .collect();
        let page = extract_page(
            &format!("<html><head>{scripts}</head><body><article>{para}</article></body></html>"),
            &url,
            None,
        );
        assert!(!page.body_text.contains("var x"), "{:.200}", page.body_text);
        let _ = extract_page(
            "<p>a\0b</p><meta name=\"x\0\" content=\"\0\">\0",
            &url,
            None,
        );
        let soup = "<html><p><b><i>soup</b></i><table><tr><td><p>cell<div></table></p><<<>>><a href=\"/x\"<img src=x><article><h1>Soup<h2>x</h1></h2><p>Words<p>More <script>unclosed".repeat(200);
        let _ = extract_page(&soup, &url, None);
        for canonical in [
            "javascript:alert(1)",
            "data:text/html,x",
            "http://bücher.example/x",
            "file:///etc/passwd",
        ] {
            let html = format!(
                "<html><head><link rel=\"canonical\" href=\"{canonical}\"></head><body>{para}</body></html>"
            );
            assert_eq!(
                extract_page(&html, &url, None).canonical_url,
                "http://news.test/story",
                "{canonical}"
            );
        }
    }
}
