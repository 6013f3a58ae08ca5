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
}
