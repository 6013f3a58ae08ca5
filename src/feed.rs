//! Turning a fetched feed (RSS 0.9x/1.0/2.0, Atom, JSON Feed) into entries with stable ids,
//! and reading feed lists (one URL a line, or OPML).
//!
//! Guarantees: an entry's id is deterministic. It is the feed's own guid/id when there is one,
//! else the entry's normalised link; feed-rs's random fallback is never used. Entries with
//! neither an id nor an http(s) link are dropped (there is no page to scrape).

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
    pub updated: Option<DateTime<Utc>>,
    /// Fingerprint of what the feed says about the entry (title, summary, updated), so a
    /// changed entry can trigger a re-fetch of its page.
    pub digest: String,
}

#[derive(Debug, thiserror::Error)]
#[error("not a feed: {0}")]
pub struct FeedError(String);

/// Parses a feed body.
///
/// # Errors
/// The body is not RSS, Atom or JSON Feed.
pub fn parse(body: &[u8], feed_url: &Url) -> Result<Vec<Entry>, FeedError> {
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(feed_url.as_str()))
        // An empty id marks "the feed gave none"; we fall back to the link below.
        .id_generator(|_, _, _| String::new())
        .build();
    let feed = parser
        .parse(body)
        .map_err(|e| FeedError(one_line(&e.to_string())))?;
    let mut entries = Vec::with_capacity(feed.entries.len());
    for e in feed.entries {
        let Some(link) = entry_link(&e.links, feed_url) else {
            continue;
        };
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
        let updated = e.updated.or(e.published);
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
            digest,
        });
    }
    Ok(entries)
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
