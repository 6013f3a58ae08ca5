//! Feed autodiscovery (`newswire feeds discover URL`): the feeds a site announces with
//! `<link rel="alternate" type="application/rss+xml|atom+xml|feed+json" href="…">` in its
//! page head, resolved against the page URL (or its `<base href>`). A URL that is itself a feed
//! is its own answer.

use scraper::{Html, Selector};
use url::Url;

use crate::fetch::{FetchError, Fetcher, Kind, Validators};

/// One feed a page announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub url: Url,
    pub title: Option<String>,
    /// `rss`, `atom` or `json`.
    pub format: &'static str,
}

fn format_of(mime: &str) -> Option<&'static str> {
    match mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "application/rss+xml" | "application/rdf+xml" => Some("rss"),
        "application/atom+xml" => Some("atom"),
        "application/feed+json" | "application/json" => Some("json"),
        _ => None,
    }
}

/// The feeds an HTML page announces, in page order, without repeats.
pub fn feed_links(html: &str, page_url: &Url) -> Vec<Discovered> {
    let doc = Html::parse_document(html);
    let base_sel = Selector::parse("base[href]").expect("valid selector");
    let base = doc
        .select(&base_sel)
        .next()
        .and_then(|b| b.value().attr("href"))
        .and_then(|h| page_url.join(h.trim()).ok())
        .unwrap_or_else(|| page_url.clone());
    let link_sel = Selector::parse("link[rel][href][type]").expect("valid selector");
    let mut out: Vec<Discovered> = Vec::new();
    for link in doc.select(&link_sel) {
        let el = link.value();
        let rel = el.attr("rel").unwrap_or("");
        if !rel
            .split_ascii_whitespace()
            .any(|r| r.eq_ignore_ascii_case("alternate"))
        {
            continue;
        }
        let Some(format) = el.attr("type").and_then(format_of) else {
            continue;
        };
        let Ok(url) = base.join(el.attr("href").unwrap_or("").trim()) else {
            continue;
        };
        if !matches!(url.scheme(), "http" | "https") || out.iter().any(|d| d.url == url) {
            continue;
        }
        let title = el
            .attr("title")
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|t| !t.is_empty());
        out.push(Discovered { url, title, format });
    }
    out
}

/// Fetches `url` and lists the feeds it announces (or itself, if it is a feed).
///
/// # Errors
/// The page cannot be fetched, or answers with an error status.
pub async fn discover(fetcher: &Fetcher, url: &Url) -> Result<Vec<Discovered>, FetchError> {
    let resp = fetcher.get(url, Kind::Page, &Validators::default()).await?;
    if !(200..300).contains(&resp.status) {
        return Err(FetchError::Network(format!("{url}: HTTP {}", resp.status)));
    }
    if crate::feed::parse(&resp.body, &resp.url).is_ok() {
        let ct = resp.content_type().unwrap_or("");
        let format = format_of(ct).unwrap_or(if resp.body.trim_ascii_start().starts_with(b"{") {
            "json"
        } else {
            "rss"
        });
        return Ok(vec![Discovered {
            url: resp.url.clone(),
            title: None,
            format,
        }]);
    }
    Ok(feed_links(&resp.text(), &resp.url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_feed_links_resolved_against_base() {
        let html = r#"<html><head><base href="http://news.test/en/">
            <link rel="alternate" type="application/rss+xml" title="World  news" href="world.xml">
            <link rel="Alternate" type="application/atom+xml" href="/atom">
            <link rel="alternate" type="application/feed+json" href="http://news.test/feed.json">
            <link rel="alternate" type="text/html" hreflang="fr" href="/fr/">
            <link rel="stylesheet" type="text/css" href="/s.css">
            <link rel="alternate" type="application/rss+xml" href="world.xml">
            </head><body></body></html>"#;
        let found = feed_links(html, &Url::parse("http://news.test/page").unwrap());
        let got: Vec<(&str, &str, Option<&str>)> = found
            .iter()
            .map(|d| (d.url.as_str(), d.format, d.title.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("http://news.test/en/world.xml", "rss", Some("World news")),
                ("http://news.test/atom", "atom", None),
                ("http://news.test/feed.json", "json", None),
            ]
        );
    }
}
