//! Turning a fetched feed (RSS 0.9x/1.0/2.0, Atom, JSON Feed) into entries with stable ids,
//! and reading feed lists (one URL a line, or OPML).
//!
//! Guarantees: an entry's id is deterministic. It is the feed's own guid/id when there is one,
//! else the entry's normalised link; feed-rs's random fallback is never used. Entries with
//! neither an id nor an http(s) link are dropped (there is no page to scrape), and so are entries
//! that link to the feed itself.
//!
//! Memory: a parsed entry costs far more than its bytes (a 100,000-item feed of 8 MB parses into
//! some 180 MB), so a feed with more than [`MAX_ENTRIES`] entries is refused before parsing, by a
//! linear count of its item start tags or JSON Feed items.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use url::Url;

use crate::track::normalize_url;

/// One feed item that points at an article page.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: String,
    /// The article page, resolved against the feed URL and normalised.
    pub link: Url,
    pub title: Option<String>,
    /// The entry's last change as the feed dates it: `updated`, else its publication time.
    pub updated: Option<DateTime<Utc>>,
    /// When the feed says the entry was published (RSS `pubDate`, `dc:date`, Atom `published`,
    /// JSON Feed `date_published`).
    pub published: Option<DateTime<Utc>>,
    /// Who the feed credits (RSS `author`, `dc:creator`, Atom `<author><name>`, JSON Feed
    /// `authors`/`author`), as the feed writes them; `scrape::FeedMeta` cleans them like page
    /// bylines.
    pub authors: Vec<String>,
    /// The article itself when the feed carries it (RSS `content:encoded`, Atom `<content>`,
    /// JSON Feed `content_html`/`content_text`), as the feed writes it; [`Entry::text`] turns it
    /// into paragraphs. Kept raw because only new or changed entries need the text, and turning
    /// HTML into text costs a parse.
    pub content: Option<Content>,
    /// Fingerprint of what the feed says about the entry (title, summary, updated), so a
    /// changed entry can trigger a re-fetch of its page.
    pub digest: String,
}

/// An entry's own copy of its article, as the feed carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    pub body: String,
    /// HTML (or XHTML) markup; else plain text.
    pub html: bool,
}

/// The most article text an entry's [`Entry::text`] gives: no article is longer, and the text
/// travels in the durable page job.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// An entry's text shorter than this is a teaser, not the article: it witnesses nothing.
pub const MIN_TEXT_WORDS: usize = 100;

impl Entry {
    /// The entry's article as plain paragraphs separated by blank lines (the form of an
    /// extracted body), capped at [`MAX_TEXT_BYTES`]; `None` when the feed carries no content
    /// or only a teaser of fewer than [`MIN_TEXT_WORDS`] words.
    pub fn text(&self) -> Option<String> {
        let c = self.content.as_ref()?;
        let paras = if c.html {
            html_paragraphs(&c.body)
        } else {
            text_paragraphs(&c.body)
        };
        let mut text = String::new();
        for p in paras {
            let sep = if text.is_empty() { 0 } else { 2 };
            if text.len() + sep + p.len() > MAX_TEXT_BYTES {
                if text.is_empty() {
                    // One huge paragraph: cut it at a character boundary.
                    let mut end = MAX_TEXT_BYTES;
                    while !p.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.push_str(&p[..end]);
                }
                break;
            }
            if sep > 0 {
                text.push_str("\n\n");
            }
            text.push_str(&p);
        }
        (crate::extract::word_count(&text) >= MIN_TEXT_WORDS).then_some(text)
    }
}

/// Elements whose text is not the article's (captions stand outside the text flow, as on pages).
const SKIPPED: &[&str] = &[
    "figcaption",
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "svg",
    "math",
    "object",
    "button",
    "form",
    "select",
    "textarea",
];
/// Elements that start and end a paragraph.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "br",
    "hr",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "table",
    "tr",
    "td",
    "th",
    "figure",
    "figcaption",
    "section",
    "article",
    "header",
    "footer",
    "aside",
    "nav",
    "main",
    "address",
    "details",
    "summary",
];

/// Paragraphs of an HTML fragment: text split at block elements, whitespace collapsed, scripts
/// and other non-text dropped. The walk keeps its own stack, so deep nesting cannot overflow.
fn html_paragraphs(html: &str) -> Vec<String> {
    let frag = scraper::Html::parse_fragment(html);
    let mut paras = Vec::new();
    let mut cur = String::new();
    // (node, whether its children were already visited).
    let mut stack = vec![(frag.tree.root(), false)];
    while let Some((node, closing)) = stack.pop() {
        match node.value() {
            scraper::Node::Element(e) => {
                let name = e.name();
                if SKIPPED.contains(&name) {
                    continue;
                }
                if BLOCKS.contains(&name) {
                    flush(&mut cur, &mut paras);
                }
                if !closing {
                    stack.push((node, true));
                    stack.extend(node.children().rev().map(|c| (c, false)));
                }
            }
            scraper::Node::Text(t) if !closing => cur.push_str(t),
            scraper::Node::Document | scraper::Node::Fragment if !closing => {
                stack.extend(node.children().rev().map(|c| (c, false)));
            }
            _ => {}
        }
    }
    flush(&mut cur, &mut paras);
    paras
}

/// Paragraphs of plain text: blank lines separate them.
fn text_paragraphs(text: &str) -> Vec<String> {
    let mut paras = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut cur, &mut paras);
        } else {
            cur.push(' ');
            cur.push_str(line);
        }
    }
    flush(&mut cur, &mut paras);
    paras
}

/// Ends the paragraph being built, with its whitespace collapsed; empty ones are dropped.
fn flush(cur: &mut String, paras: &mut Vec<String>) {
    let p = cur.split_whitespace().collect::<Vec<_>>().join(" ");
    if !p.is_empty() {
        paras.push(p);
    }
    cur.clear();
}

/// Feeds with more entries are refused unread; no real feed comes near it.
pub const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    #[error("not a feed: {0}")]
    NotAFeed(String),
    #[error("more than {limit} entries; refused unread")]
    TooManyEntries { limit: usize },
}

impl FeedError {
    /// A short, stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            FeedError::NotAFeed(_) => "not_a_feed",
            FeedError::TooManyEntries { .. } => "too_many_entries",
        }
    }
}

/// Parses a feed body.
///
/// # Errors
/// The body is not RSS, Atom or JSON Feed.
pub fn parse(body: &[u8], feed_url: &Url) -> Result<Vec<Entry>, FeedError> {
    if count_entries(body, MAX_ENTRIES) > MAX_ENTRIES {
        return Err(FeedError::TooManyEntries { limit: MAX_ENTRIES });
    }
    // feed-rs 3.0 panics on a person's name with an e-mail address next to a non-ASCII
    // character ("news@harbor.test\u{feff}(Theo)"): then the names' `@`s are spelled out and
    // the feed read again, by a new parser (one that panicked is left broken); a feed that still
    // trips it is refused like an unreadable one.
    let parse = |body: &[u8]| {
        let parser = feed_rs::parser::Builder::new()
            .base_uri(Some(feed_url.as_str()))
            // An empty id marks "the feed gave none"; we fall back to the link below.
            .id_generator(|_, _, _| String::new())
            .build();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parser.parse(body))).ok()
    };
    let feed = match parse(body).or_else(|| parse(&without_name_emails(body))) {
        Some(parsed) => parsed.map_err(|e| FeedError::NotAFeed(one_line(&e.to_string())))?,
        None => {
            return Err(FeedError::NotAFeed(
                "the feed parser failed on a person's name".into(),
            ));
        }
    };
    let itself = normalize_url(feed_url);
    let mut entries = Vec::with_capacity(feed.entries.len());
    for e in feed.entries {
        let Some(link) = entry_link(&e.links, feed_url) else {
            continue;
        };
        if link == itself {
            // `#top`, `?` or a blank link resolve to the feed: there is no article there.
            continue;
        }
        let id = if e.id.trim().is_empty() {
            link.to_string()
        } else {
            e.id.trim().to_string()
        };
        let title = e
            .title
            .map(|t| t.content.trim().to_string())
            .filter(|t| !t.is_empty());
        let summary = e.summary.map(|s| s.content).unwrap_or_default();
        let content = e.content.and_then(|c| {
            // Content that lives elsewhere (Atom `src`: no body) or is encoded media is no
            // article text. (RSS `content:encoded` sets `src` to the base URI: not a test.)
            let html = match (
                c.content_type.ty().as_str(),
                c.content_type.subty().as_str(),
            ) {
                ("text", "plain") => false,
                (_, "html" | "xhtml") => true,
                _ => return None,
            };
            let body = c.body.filter(|b| !b.trim().is_empty())?;
            Some(Content { body, html })
        });
        let updated = e.updated.or(e.published);
        let authors = e.authors.iter().filter_map(person_name).take(20).collect();
        let mut h = Sha256::new();
        for part in [
            title.as_deref().unwrap_or(""),
            &summary,
            &updated.map(|u| u.to_rfc3339()).unwrap_or_default(),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        let digest = hex(&h.finalize()[..16]);
        entries.push(Entry {
            id,
            link,
            title,
            updated,
            published: e.published,
            authors,
            content,
            digest,
        });
    }
    Ok(entries)
}

/// A credited person's name: RSS `author` is often "jane@example.com (Jane Doe)", which the
/// parser splits into an address and "(Jane Doe)"; an address alone names nobody.
fn person_name(p: &feed_rs::model::Person) -> Option<String> {
    let name = p.name.as_deref()?.trim();
    let name = name
        .strip_prefix('(')
        .and_then(|n| n.strip_suffix(')'))
        .unwrap_or(name)
        .trim();
    (!name.is_empty() && !name.contains('@') && name.len() <= 200).then(|| name.to_owned())
}

/// `body` with every `@` inside the elements that name people (RSS `author`, `managingEditor`,
/// `webMaster`, `dc:creator`, iTunes `author` and `email`) written as " at ": no e-mail
/// address is left there for feed-rs to split the name around.
fn without_name_emails(body: &[u8]) -> Vec<u8> {
    const NAMES: &[&[u8]] = &[
        b"author",
        b"managingEditor",
        b"webMaster",
        b"dc:creator",
        b"itunes:author",
        b"itunes:email",
    ];
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut inside: Option<&[u8]> = None;
    for (i, &c) in body.iter().enumerate() {
        if c == b'<' {
            let rest = &body[i + 1..];
            let (closing, name_at) = match rest.first() {
                Some(b'/') => (true, &rest[1..]),
                _ => (false, rest),
            };
            let tag = NAMES.iter().copied().find(|n| {
                name_at.starts_with(n)
                    && name_at
                        .get(n.len())
                        .is_some_and(|b| matches!(b, b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'/'))
            });
            match (closing, tag) {
                (false, Some(t)) => inside = Some(t),
                (true, Some(t)) if inside == Some(t) => inside = None,
                _ => {}
            }
        }
        if c == b'@' && inside.is_some() {
            out.extend_from_slice(b" at ");
        } else {
            out.push(c);
        }
    }
    out
}

/// How many entries `body` holds, counted up to a little past `limit` without parsing: JSON Feed
/// `items` (by a streaming parse that keeps nothing), else XML start tags named `item` or `entry`
/// in any namespace prefix.
fn count_entries(body: &[u8], limit: usize) -> usize {
    let trimmed = body
        .strip_prefix(b"\xef\xbb\xbf")
        .unwrap_or(body)
        .trim_ascii_start();
    if trimmed.starts_with(b"{") {
        return count_json_items(trimmed);
    }
    let mut count = 0;
    let mut rest = body;
    while let Some(lt) = rest.iter().position(|&b| b == b'<') {
        rest = &rest[lt + 1..];
        let name_len = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
            .count();
        let name = &rest[..name_len];
        let local = name.rsplit(|&b| b == b':').next().unwrap_or(name);
        let ends = rest
            .get(name_len)
            .is_none_or(|b| b.is_ascii_whitespace() || matches!(b, b'>' | b'/'));
        if ends && (local == b"item" || local == b"entry") {
            count += 1;
            if count > limit {
                break;
            }
        }
        rest = &rest[name_len..];
    }
    count
}

/// The length of a JSON object's `items` array, read without keeping anything; 0 when the body
/// is not such JSON (the feed parser then says what is wrong).
fn count_json_items(body: &[u8]) -> usize {
    struct Count(usize);
    impl<'de> serde::Deserialize<'de> for Count {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Items;
            impl<'de> serde::de::Visitor<'de> for Items {
                type Value = Count;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an array")
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Count, A::Error> {
                    let mut n = 0;
                    while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                        n += 1;
                    }
                    Ok(Count(n))
                }
            }
            d.deserialize_seq(Items)
        }
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(default)]
        items: Option<Count>,
    }
    serde_json::from_slice::<Probe>(body)
        .ok()
        .and_then(|p| p.items)
        .map_or(0, |c| c.0)
}

/// The entry's article link: the `alternate` (or untyped) http(s) link, made absolute.
fn entry_link(links: &[feed_rs::model::Link], base: &Url) -> Option<Url> {
    let preferred = links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .or_else(|| links.first())?;
    let url = base.join(preferred.href.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| normalize_url(&url))
}

/// Feed URLs from a feeds file: OPML (`xmlUrl` attributes) or one URL a line with `#` comments.
///
/// # Errors
/// A line that is not an http(s) URL, named with its line number.
pub fn parse_feed_list(text: &str) -> Result<Vec<String>, String> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with("<?xml") || trimmed.starts_with("<opml") {
        return Ok(opml_urls(trimmed));
    }
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match Url::parse(line) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => out.push(line.to_string()),
            _ => return Err(format!("line {}: {line:?} is not an http(s) URL", n + 1)),
        }
    }
    Ok(out)
}

/// `xmlUrl="..."` attributes of OPML outlines; a byte scan is enough for this flat format.
fn opml_urls(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("xmlUrl=") {
        rest = &rest[i + 7..];
        let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let Some(end) = rest[1..].find(q) else { break };
        let raw = &rest[1..1 + end];
        out.push(raw.replace("&amp;", "&"));
        rest = &rest[1 + end..];
    }
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_url() -> Url {
        Url::parse("http://news.test/feed.xml").unwrap()
    }

    /// `n` sentences of prose, eight words each.
    fn prose(n: usize) -> String {
        (0..n)
            .map(|i| format!("The harbor council met again on day {i} to vote."))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn a_name_that_trips_feed_rs_is_read_with_its_at_spelled_out() {
        // feed-rs 3.0 slices the name around an e-mail address at a byte that is not a
        // character boundary and panics (found by the `feed` fuzz target).
        for author in [
            "newsroom@harbor.test\u{feff}heo Brannigan)",
            "Théo—newsroom@harbor.test",
        ] {
            let rss = format!(
                "<rss version=\"2.0\"><channel><title>T</title><item><title>A</title>\
                 <link>http://news.test/a</link><author>{author}</author></item>\
                 <item><title>B</title><link>https://medium.test/@ann/b</link></item>\
                 </channel></rss>"
            );
            let entries = parse(rss.as_bytes(), &feed_url()).expect("read, not refused");
            assert_eq!(entries.len(), 2);
            // Links keep their `@`: only names are rewritten.
            assert_eq!(entries[1].link.as_str(), "https://medium.test/@ann/b");
        }
    }

    #[test]
    fn fuzz_regression_feed_rs_name_sliced_inside_a_character() {
        let crash = include_bytes!("../tests/fixtures/fuzz/feed-rs-name-email-char-boundary.xml");
        let entries = parse(crash, &feed_url()).expect("read, not refused");
        assert!(!entries.is_empty());
    }

    #[test]
    fn rss_content_encoded_becomes_paragraphs_and_a_teaser_is_no_text() {
        let rss = format!(
            r#"<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>T</title>
            <item><title>A</title><link>http://news.test/a</link><description>A short teaser.</description>
              <content:encoded><![CDATA[<p>{}</p><script>track()</script><div>Second <b>part</b>:<br>{}</div>]]></content:encoded></item>
            <item><title>B</title><link>http://news.test/b</link><description><![CDATA[<p>{}</p>]]></description></item>
            <item><title>C</title><link>http://news.test/c</link><content:encoded><![CDATA[<p>Only a teaser here.</p>]]></content:encoded></item>
            </channel></rss>"#,
            prose(8),
            prose(6),
            prose(30)
        );
        let e = parse(rss.as_bytes(), &feed_url()).unwrap();
        let text = e[0].text().expect("content:encoded carries the article");
        let paras: Vec<&str> = text.split("\n\n").collect();
        assert_eq!(paras, [prose(8).as_str(), "Second part:", &prose(6)]);
        assert!(!text.contains("track()"));
        assert_eq!(
            e[1].text(),
            None,
            "a description is a summary, not the article"
        );
        assert_eq!(e[2].text(), None, "a teaser witnesses nothing");
    }

    #[test]
    fn atom_content_html_and_xhtml_give_text_but_a_src_does_not() {
        let atom = format!(
            r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><id>f</id>
            <entry><id>a</id><title>A</title><link href="http://news.test/a"/><summary>Teaser.</summary>
              <content type="html">&lt;h2&gt;Vote&lt;/h2&gt;&lt;p&gt;{}&lt;/p&gt;</content></entry>
            <entry><id>b</id><title>B</title><link href="http://news.test/b"/>
              <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>{}</p></div></content></entry>
            <entry><id>c</id><title>C</title><link href="http://news.test/c"/>
              <content type="text/html" src="http://news.test/c.html"/></entry>
            </feed>"#,
            prose(14),
            prose(14)
        );
        let e = parse(atom.as_bytes(), &feed_url()).unwrap();
        assert_eq!(e[0].text().unwrap(), format!("Vote\n\n{}", prose(14)));
        assert_eq!(e[1].text().unwrap(), prose(14));
        assert_eq!(e[2].text(), None);
    }

    #[test]
    fn json_feed_content_html_or_content_text_gives_text() {
        let json = serde_json::json!({
            "version": "https://jsonfeed.org/version/1.1", "title": "T",
            "items": [
                {"id": "a", "url": "http://news.test/a", "content_html": format!("<p>{}</p><p>End.</p>", prose(14))},
                {"id": "b", "url": "http://news.test/b", "content_text": format!("{}\n\n  End.\n", prose(14))},
                {"id": "c", "url": "http://news.test/c", "summary": prose(20)}
            ]
        })
        .to_string();
        let e = parse(json.as_bytes(), &feed_url()).unwrap();
        assert_eq!(e[0].text().unwrap(), format!("{}\n\nEnd.", prose(14)));
        assert_eq!(e[1].text().unwrap(), format!("{}\n\nEnd.", prose(14)));
        assert_eq!(e[2].text(), None);
    }

    #[test]
    fn entry_text_is_capped_at_a_paragraph_or_character_boundary() {
        let para = prose(20);
        let many = format!("<p>{}</p>", vec![para.as_str(); 1000].join("</p><p>"));
        let e = Entry {
            id: "a".into(),
            link: Url::parse("http://news.test/a").unwrap(),
            title: None,
            updated: None,
            published: None,
            authors: vec![],
            content: Some(Content {
                body: many,
                html: true,
            }),
            digest: String::new(),
        };
        let text = e.text().unwrap();
        assert!(text.len() <= MAX_TEXT_BYTES && text.len() > MAX_TEXT_BYTES - para.len() - 2);
        assert!(text.ends_with("vote."));
        let huge = Entry {
            content: Some(Content {
                body: "é".repeat(MAX_TEXT_BYTES),
                html: false,
            }),
            ..e
        };
        assert_eq!(huge.text(), None, "one 64 KiB word is not prose");
        let deep = Entry {
            content: Some(Content {
                body: format!("{}{}", "<div>".repeat(50_000), prose(20)),
                html: true,
            }),
            ..huge
        };
        assert_eq!(deep.text().unwrap(), prose(20));
    }

    #[test]
    fn rss_guid_is_the_id_and_links_are_normalised() {
        let rss = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
            <item><title>A</title><link>/a?utm_source=rss&amp;id=7#top</link><guid>tag:news.test,1</guid></item>
            </channel></rss>"#;
        let e = parse(rss, &feed_url()).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].id, "tag:news.test,1");
        assert_eq!(e[0].link.as_str(), "http://news.test/a?id=7");
    }

    #[test]
    fn entry_without_guid_is_identified_by_its_link_every_time() {
        let rss = br#"<rss version="2.0"><channel><title>T</title>
            <item><title>A</title><link>http://news.test/b?fbclid=x</link></item></channel></rss>"#;
        let a = parse(rss, &feed_url()).unwrap();
        let b = parse(rss, &feed_url()).unwrap();
        assert_eq!(a[0].id, "http://news.test/b");
        assert_eq!(a, b);
    }

    #[test]
    fn atom_and_json_feed() {
        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><id>urn:f</id><updated>2024-01-01T00:00:00Z</updated>
            <entry><title>A</title><id>urn:a</id><updated>2024-01-01T00:00:00Z</updated><link rel="alternate" href="http://news.test/a"/></entry></feed>"#;
        assert_eq!(parse(atom, &feed_url()).unwrap()[0].id, "urn:a");
        let json = br#"{"version":"https://jsonfeed.org/version/1.1","title":"T","items":[{"id":"1","url":"http://news.test/j","title":"J"}]}"#;
        let e = parse(json, &feed_url()).unwrap();
        assert_eq!(
            (e[0].id.as_str(), e[0].link.as_str()),
            ("1", "http://news.test/j")
        );
    }

    fn ts(s: &str) -> Option<DateTime<Utc>> {
        Some(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
    }

    #[test]
    fn rss2_author_dc_creator_and_pub_date() {
        let rss = br#"<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title>
            <item><title>A</title><link>http://news.test/a</link><author>jane@example.com (Jane Doe)</author>
              <pubDate>Tue, 17 Dec 2024 10:23:00 +0900</pubDate></item>
            <item><title>B</title><link>http://news.test/b</link><dc:creator>Ravi Patel</dc:creator><dc:creator>Mara Quell</dc:creator></item>
            <item><title>C</title><link>http://news.test/c</link><author>noreply@example.com</author></item>
            </channel></rss>"#;
        let e = parse(rss, &feed_url()).unwrap();
        assert_eq!(e[0].authors, ["Jane Doe"]);
        assert_eq!(e[0].published, ts("2024-12-17T01:23:00Z"));
        assert_eq!(e[0].updated, e[0].published);
        assert_eq!(e[1].authors, ["Ravi Patel", "Mara Quell"]);
        assert_eq!(e[1].published, None);
        assert!(e[2].authors.is_empty(), "an address alone names nobody");
    }

    #[test]
    fn rss1_dc_creator_and_dc_date() {
        let rdf = br#"<?xml version="1.0"?>
            <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
            <channel rdf:about="http://news.test/"><title>T</title><link>http://news.test/</link><description>d</description></channel>
            <item rdf:about="http://news.test/r1"><title>R1</title><link>http://news.test/r1</link>
              <dc:creator>Anna Muster</dc:creator><dc:date>2024-03-05T08:00:00+01:00</dc:date></item>
            </rdf:RDF>"#;
        let e = parse(rdf, &feed_url()).unwrap();
        assert_eq!(e[0].authors, ["Anna Muster"]);
        assert_eq!(e[0].published, ts("2024-03-05T07:00:00Z"));
    }

    #[test]
    fn atom_author_published_and_updated() {
        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><id>urn:f</id><updated>2024-01-02T00:00:00Z</updated>
            <entry><title>A</title><id>urn:a</id><link rel="alternate" href="http://news.test/a"/>
              <author><name>Ann Lee</name><email>ann@example.com</email></author><author><name>Bo Chan</name></author>
              <published>2024-01-01T09:00:00-05:00</published><updated>2024-01-02T10:00:00Z</updated></entry></feed>"#;
        let e = parse(atom, &feed_url()).unwrap();
        assert_eq!(e[0].authors, ["Ann Lee", "Bo Chan"]);
        assert_eq!(e[0].published, ts("2024-01-01T14:00:00Z"));
        assert_eq!(e[0].updated, ts("2024-01-02T10:00:00Z"));
    }

    #[test]
    fn json_feed_authors_author_and_dates() {
        let v11 = br#"{"version":"https://jsonfeed.org/version/1.1","title":"T","items":[
            {"id":"1","url":"http://news.test/j","authors":[{"name":"Jane Doe"},{"name":"Ravi Patel"}],
             "date_published":"2024-05-01T12:00:00Z","date_modified":"2024-05-02T08:30:00+02:00"}]}"#;
        let e = parse(v11, &feed_url()).unwrap();
        assert_eq!(e[0].authors, ["Jane Doe", "Ravi Patel"]);
        assert_eq!(e[0].published, ts("2024-05-01T12:00:00Z"));
        assert_eq!(e[0].updated, ts("2024-05-02T06:30:00Z"));
        let v10 = br#"{"version":"https://jsonfeed.org/version/1","title":"T","items":[
            {"id":"1","url":"http://news.test/j","author":{"name":"Mara Quell"},"date_published":"2024-05-01T12:00:00Z"}]}"#;
        assert_eq!(parse(v10, &feed_url()).unwrap()[0].authors, ["Mara Quell"]);
    }

    /// Authors and the publication time are carried, but the digest that decides whether a
    /// changed entry re-fetches its page still covers only title, summary and `updated`.
    #[test]
    fn authors_do_not_change_the_digest() {
        let a = br#"<rss version="2.0"><channel><title>T</title><item><title>A</title><link>http://n.test/a</link><author>x@y.test (Ann Lee)</author></item></channel></rss>"#;
        let b = br#"<rss version="2.0"><channel><title>T</title><item><title>A</title><link>http://n.test/a</link><author>x@y.test (Bo Chan)</author></item></channel></rss>"#;
        assert_eq!(
            parse(a, &feed_url()).unwrap()[0].digest,
            parse(b, &feed_url()).unwrap()[0].digest
        );
    }

    #[test]
    fn digest_changes_with_title() {
        let a = br#"<rss version="2.0"><channel><title>T</title><item><title>A</title><link>http://n.test/a</link></item></channel></rss>"#;
        let b = br#"<rss version="2.0"><channel><title>T</title><item><title>B</title><link>http://n.test/a</link></item></channel></rss>"#;
        assert_ne!(
            parse(a, &feed_url()).unwrap()[0].digest,
            parse(b, &feed_url()).unwrap()[0].digest
        );
    }

    #[test]
    fn junk_is_an_error_not_a_panic() {
        assert!(parse(b"<html><body>hi</body></html>", &feed_url()).is_err());
        assert!(parse(b"", &feed_url()).is_err());
        assert!(parse(&[0xff, 0xfe, 0x00, 0x01], &feed_url()).is_err());
    }

    /// What a hostile feed may send: each is parsed or refused, never a panic, a stack overflow,
    /// an expanded entity or a read of a local file.
    #[test]
    fn hostile_feeds_are_parsed_or_refused() {
        let deep_xml = format!(
            "<rss version=\"2.0\"><channel><title>T</title><item><title>A</title><link>http://n.test/a</link><description>{}{}</description></item></channel></rss>",
            "<a>".repeat(100_000),
            "</a>".repeat(100_000)
        );
        let _ = parse(deep_xml.as_bytes(), &feed_url());
        let deep_json = format!(
            r#"{{"version":"https://jsonfeed.org/version/1.1","title":"T","items":[{{"id":"1","url":"http://n.test/j","x":{}{}}}]}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let _ = parse(deep_json.as_bytes(), &feed_url());
        let mut laughs =
            String::from("<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY a \"aaaaaaaaaa\">");
        for i in 1..=9 {
            let prev = if i == 1 {
                "&a;".to_string()
            } else {
                format!("&a{};", i - 1)
            };
            laughs.push_str(&format!("<!ENTITY a{i} \"{}\">", prev.repeat(10)));
        }
        laughs.push_str("]><rss version=\"2.0\"><channel><title>&a9;</title><item><title>&a9;</title><link>http://n.test/l</link></item></channel></rss>");
        if let Ok(entries) = parse(laughs.as_bytes(), &feed_url()) {
            assert!(
                entries
                    .iter()
                    .all(|e| e.title.as_deref().is_none_or(|t| t.len() < 1000)),
                "entities are not expanded"
            );
        }
        let xxe = br#"<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>
            <rss version="2.0"><channel><title>&x;</title><item><title>&x;</title><link>http://n.test/x</link></item></channel></rss>"#;
        if let Ok(entries) = parse(xxe, &feed_url()) {
            assert!(
                entries
                    .iter()
                    .all(|e| !e.title.as_deref().unwrap_or("").contains("root:")),
                "no local file is read"
            );
        }
        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain(
                "<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss version=\"2.0\"><channel><title>T</title><item><title>Ü</title><link>http://n.test/u</link></item></channel></rss>"
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes),
            )
            .collect();
        let _ = parse(&utf16, &feed_url());
        let invalid = b"<rss version=\"2.0\"><channel><title>\xff\xfe</title><item><title>\xed\xa0\x80</title><link>http://n.test/i</link></item></channel></rss>";
        let _ = parse(invalid, &feed_url());
    }

    #[test]
    fn feeds_with_too_many_entries_are_refused_unread() {
        let rss = |n: usize, tag: &str| {
            let mut s = String::from("<rss version=\"2.0\"><channel><title>T</title>");
            for i in 0..n {
                s.push_str(&format!(
                    "<{tag}><title>Item {i}</title><link>http://n.test/{i}</link></{tag}>"
                ));
            }
            s + "</channel></rss>"
        };
        let refused = |body: &str| {
            matches!(
                parse(body.as_bytes(), &feed_url()),
                Err(FeedError::TooManyEntries { limit: MAX_ENTRIES })
            )
        };
        assert!(refused(&rss(100_000, "item")));
        assert!(refused(&rss(MAX_ENTRIES + 1, "rss:item")));
        assert!(refused(&rss(MAX_ENTRIES + 1, "entry")));
        assert_eq!(
            parse(rss(MAX_ENTRIES, "item").as_bytes(), &feed_url())
                .unwrap()
                .len(),
            MAX_ENTRIES
        );
        assert_eq!(
            count_entries(
                b"<items><itemize><entry-point><item/><atom:entry x='1'>",
                10
            ),
            2
        );
        let json = |n: usize| {
            let items: Vec<String> = (0..n).map(|i| format!(r#"{{"id":"{i}","url":"http://n.test/{i}","tags":["a"],"author":{{"name":"x"}}}}"#)).collect();
            format!(
                r#"{{"version":"https://jsonfeed.org/version/1.1","title":"T","items":[{}]}}"#,
                items.join(",")
            )
        };
        assert!(refused(&json(MAX_ENTRIES + 1)));
        assert_eq!(parse(json(3).as_bytes(), &feed_url()).unwrap().len(), 3);
    }

    #[test]
    fn entries_linking_to_the_feed_itself_are_dropped() {
        let rss = br#"<rss version="2.0"><channel><title>T</title>
            <item><title>A</title><link>#top</link></item><item><title>B</title><link>?</link></item>
            <item><title>C</title><link>/a</link></item></channel></rss>"#;
        let e = parse(rss, &feed_url()).unwrap();
        assert_eq!(
            e.iter().map(|e| e.link.as_str()).collect::<Vec<_>>(),
            ["http://news.test/a"]
        );
    }

    #[test]
    fn feed_lists() {
        let list = "# mine\nhttp://a.test/feed\n\nhttps://b.test/rss # comment\n";
        assert_eq!(
            parse_feed_list(list).unwrap(),
            vec!["http://a.test/feed", "https://b.test/rss"]
        );
        assert!(
            parse_feed_list("file:///etc/passwd")
                .unwrap_err()
                .starts_with("line 1:")
        );
        let opml = r#"<?xml version="1.0"?><opml version="2.0"><body>
            <outline text="A" type="rss" xmlUrl="http://a.test/feed?x=1&amp;y=2"/>
            <outline text="B" xmlUrl='http://b.test/rss'/></body></opml>"#;
        assert_eq!(
            parse_feed_list(opml).unwrap(),
            vec!["http://a.test/feed?x=1&y=2", "http://b.test/rss"]
        );
    }
}
