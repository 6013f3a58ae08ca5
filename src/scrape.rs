//! One article page → everything a single page can tell: the body and metadata (`extract`)
//! and the revision stamps (`stamps`), from one parse of the HTML.
//!
//! Used by the pipeline and by `newswire extract`, so both give the same answers.

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
    let doc = scraper::Html::parse_document(html);
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

/// Nesting beyond which a page is not parsed at all. The HTML tree builder's work grows with the
/// square of the nesting depth (16,000 nested `<div>`s take seconds, 100,000 take minutes, in
/// half a megabyte), and no article nests anywhere near this deep; browsers stop nesting at 512.
pub const MAX_NESTING: usize = 1024;

/// Whether `html` nests deeper than `limit`, by a linear byte scan that never under-counts what
/// the tree builder will build from start and end tags: each start tag opens an element until an
/// end tag of the same name closes one. Void elements, elements whose end tag may be omitted
/// (`p`, `li`, `td`, ...), comments, doctypes and the contents of raw-text elements (`script`,
/// `style`, ...) are skipped, so ordinary pages score their real depth.
pub fn nests_deeper_than(html: &str, limit: usize) -> bool {
    const VOID: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr", "param", "keygen", "frame", "basefont", "bgsound", "image",
    ];
    const OPTIONAL_END: &[&str] = &[
        "p", "li", "dt", "dd", "rt", "rp", "rb", "rtc", "optgroup", "option", "tr", "td", "th",
        "thead", "tbody", "tfoot", "colgroup", "caption", "html", "head", "body",
    ];
    const RAW_TEXT: &[&str] = &[
        "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes",
    ];
    let b = html.as_bytes();
    let mut open: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(lt) = b[i..].iter().position(|&c| c == b'<') {
        i += lt + 1;
        let rest = &b[i..];
        if rest.starts_with(b"!--") {
            i += find(rest, b"-->").map_or(rest.len(), |e| e + 3);
            continue;
        }
        let closing = rest.first() == Some(&b'/');
        let start = i + usize::from(closing);
        let len = b[start..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-' || **c == b':')
            .count();
        if len == 0 || !b[start].is_ascii_alphabetic() {
            continue;
        }
        let name = html[start..start + len].to_ascii_lowercase();
        i = start + len;
        if closing {
            if let Some(n) = open.get_mut(&name).filter(|n| **n > 0) {
                *n -= 1;
                depth -= 1;
            }
            continue;
        }
        if name == "plaintext" {
            return false;
        }
        if RAW_TEXT.contains(&name.as_str()) {
            // Up to the matching end tag; a page that never closes it is text to the end.
            let end = format!("</{name}");
            i += find_ignore_case(&b[i..], end.as_bytes()).unwrap_or(b.len() - i);
            continue;
        }
        if VOID.contains(&name.as_str()) || OPTIONAL_END.contains(&name.as_str()) {
            continue;
        }
        *open.entry(name).or_default() += 1;
        depth += 1;
        if depth > limit {
            return true;
        }
    }
    false
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn find_ignore_case(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
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

    #[test]
    fn nesting_depth_is_estimated_without_parsing() {
        let deep = |n: usize, open: &str, close: &str| {
            format!(
                "<html><body>{}x{}</body></html>",
                open.repeat(n),
                close.repeat(n)
            )
        };
        assert!(nests_deeper_than(
            &deep(100_000, "<div>", "</div>"),
            MAX_NESTING
        ));
        assert!(
            nests_deeper_than(&deep(2_000, "<div/>", ""), MAX_NESTING),
            "self-closing syntax opens a div"
        );
        assert!(
            nests_deeper_than(&deep(2_000, "<span>", "</b>"), MAX_NESTING),
            "end tags of other names close nothing"
        );
        assert!(!nests_deeper_than(
            &deep(1_000, "<div>", "</div>"),
            MAX_NESTING
        ));
        assert!(
            !nests_deeper_than(&deep(100_000, "<p>", ""), MAX_NESTING),
            "p closes the previous p"
        );
        assert!(!nests_deeper_than(&deep(100_000, "<br>", ""), MAX_NESTING));
        assert!(!nests_deeper_than(
            &deep(100_000, "<div></div>", ""),
            MAX_NESTING
        ));
        let script = format!(
            "<script>var s = '{}';</script><p>text</p>",
            "<div>".repeat(5_000)
        );
        assert!(
            !nests_deeper_than(&script, MAX_NESTING),
            "script text is not markup"
        );
        let comment = format!("<!-- {} --><p>text</p>", "<div>".repeat(5_000));
        assert!(!nests_deeper_than(&comment, MAX_NESTING));
        assert!(!nests_deeper_than(
            &crate::charset::decode(
                include_bytes!("../tests/fixtures/captures/revision/dredging-v1.html"),
                None
            ),
            64
        ));
    }

    /// Pages a hostile site may send: extraction ends, quickly, without a panic or a stack
    /// overflow, and a canonical link never leaves the page's own http(s) site. (Deep nesting is
    /// refused before extraction: `nests_deeper_than`.)
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
