//! One article page → everything a single page can tell: the body and metadata (`extract`)
//! and the revision stamps (`stamps`), from one parse of the HTML; and what the feed entry
//! that listed the page adds ([`merge_feed`]).
//!
//! Used by the pipeline and by `newswire extract`, so both give the same answers.
//!
//! Precedence of metadata, documented in `docs/extraction.md`: the page's visible byline and
//! stamps first, the page's structured data (JSON-LD, microdata, meta tags) next, the feed
//! last; a time after the fetch, in an absurd year, or an update before publication is
//! dropped wherever it comes from.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::Settings;
use crate::extract::{self, SiteRule};
use crate::feed;
use crate::stamps::{self, RevisionNote, Timestamp};
use crate::track;

/// The `data` fields of docs/events.md that one page gives.
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
    extract_page_with_feed(html, url, settings, None)
}

/// [`extract_page`] with the article's text as the feed entry that listed the page carries it
/// ([`FeedMeta::text`]): it steers the choice of the body on the page (see
/// [`extract::extract_with_feed`]). [`merge_feed`] still decides whether the page or the feed
/// gives the body.
pub fn extract_page_with_feed(
    html: &str,
    url: &Url,
    settings: Option<&Settings>,
    feed_text: Option<&str>,
) -> Page {
    let site = settings
        .zip(url.host_str())
        .and_then(|(s, host)| s.site(host));
    let rule: Option<SiteRule> = site.map(|s| s.rule());
    let doc = parse_page(html);
    let ex = extract::extract_with_feed(&doc, Some(url), rule.as_ref(), feed_text);
    let hints = stamps::Hints {
        language: ex.language.as_deref(),
        default_zone: site.and_then(|s| s.zone.as_deref()),
        url: Some(url),
        page: Some(html),
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

/// What a feed entry says about its article, carried with the page job (it is stored as JSON
/// in the durable job row, so it is serialisable) and merged into the page by [`merge_feed`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedMeta {
    /// Names, cleaned like page bylines.
    pub authors: Vec<String>,
    pub published: Option<DateTime<Utc>>,
    /// Only when distinct from `published`.
    pub updated: Option<DateTime<Utc>>,
    /// The article as the feed carries it (plain paragraphs, see [`feed::Entry::text`]): the
    /// body when the page yields none or far less. Absent from jobs queued before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl From<&feed::Entry> for FeedMeta {
    fn from(e: &feed::Entry) -> FeedMeta {
        let mut authors: Vec<String> = Vec::new();
        for raw in &e.authors {
            for name in extract::clean_byline(raw) {
                if !authors.iter().any(|a| a.eq_ignore_ascii_case(&name)) {
                    authors.push(name);
                }
            }
        }
        FeedMeta {
            authors,
            published: e.published,
            updated: e.updated.filter(|u| Some(*u) != e.published),
            text: e.text(),
        }
    }
}

/// How far past the fetch a stamp may lie (clocks disagree a little); later is a wrong zone
/// or a scheduled date, not a publication.
const CLOCK_SKEW: Duration = Duration::minutes(15);
/// No page or feed of a news service is older than this year; earlier stamps are misreadings.
const FIRST_YEAR: i32 = 1990;

/// Fills what the page lacks from its feed entry, after dropping what cannot be true; see the
/// module docs for the precedence. `fetched_at` is when the page was fetched.
///
/// - authors: the page's byline (visible, then structured data) when it names anyone, else
///   the feed's;
/// - published: the page's stamp when plausible, else the feed's `published`, else its
///   `updated` (the only date the feed gives); a page stamp that shows a date but no time of
///   day takes the feed's time when the feed dates the same day;
/// - updated: the page's when plausible, else the feed's; dropped when it is not after the
///   publication time;
/// - body: the page's, unless the feed carries the article and the page gives less than a
///   third of its words (a paywall stub, a page rendered by script, a teaser): then the feed's.
///   A short page body must open with words the feed's text has (a stub shows the lede): a
///   link blog's entry points at someone else's page and carries only its own comment.
pub fn merge_feed(page: &mut Page, feed: &FeedMeta, fetched_at: DateTime<Utc>) {
    if let Some(text) = &feed.text {
        let feed_words = extract::word_count(text);
        if feed_words >= feed::MIN_TEXT_WORDS
            && page.word_count * 3 < feed_words
            && (page.word_count == 0 || opening_in(&page.body_text, text))
        {
            tracing::debug!(
                article.url = %page.url,
                page_words = page.word_count,
                feed_words,
                body_source = "feed",
                "the page gives far less than its feed entry; the body is the feed's"
            );
            page.word_count = feed_words;
            page.content_hash = track::content_hash(text);
            page.body_text = text.clone();
        }
    }
    if page.authors.is_empty() {
        page.authors = feed.authors.clone();
    }
    let plausible = |t: &DateTime<Utc>| t.year() >= FIRST_YEAR && *t <= fetched_at + CLOCK_SKEW;
    let feed_pub = feed.published.filter(plausible);
    let feed_upd = feed.updated.filter(plausible);
    page.published_at = page.published_at.filter(|t| stamp_plausible(t, fetched_at));
    page.updated_at = page.updated_at.filter(|t| stamp_plausible(t, fetched_at));
    let page_dated = page.published_at.is_some();
    page.published_at = match (page.published_at, feed_pub.or(feed_upd)) {
        (Some(p), Some(f)) if is_date_only(&p) && same_day(&p, f) => Some(utc_stamp(f)),
        (Some(p), _) => Some(p),
        (None, f) => f.map(utc_stamp),
    };
    // The feed's update time, unless it just stood in for the publication time.
    if page.updated_at.is_none() && (page_dated || feed_pub.is_some()) {
        page.updated_at = feed_upd.map(utc_stamp);
    }
    if let (Some(u), Some(p)) = (page.updated_at, page.published_at)
        && !stamp_after(&u, &p)
    {
        page.updated_at = None;
    }
}

/// Whether the opening of `page` (its first 50 words) is told in `feed`: at least half of its
/// word triples, compared without case or punctuation, appear there. Under three words there is
/// nothing to compare, and the feed is believed.
fn opening_in(page: &str, feed: &str) -> bool {
    fn words(s: &str) -> Vec<String> {
        s.split_whitespace()
            .map(|w| {
                w.chars()
                    .filter(|c| c.is_alphanumeric())
                    .flat_map(char::to_lowercase)
                    .collect::<String>()
            })
            .filter(|w| !w.is_empty())
            .collect()
    }
    let mut opening = words(page);
    opening.truncate(50);
    if opening.len() < 3 {
        return true;
    }
    let told = words(feed);
    let triples: std::collections::HashSet<&[String]> = told.windows(3).collect();
    let hits = opening.windows(3).filter(|w| triples.contains(w)).count();
    hits * 2 >= opening.len() - 2
}

/// A page stamp is plausible when it is not in an absurd year and not after the fetch. A stamp
/// without a zone may be up to 14 hours ahead of UTC.
fn stamp_plausible(t: &Timestamp, fetched_at: DateTime<Utc>) -> bool {
    match t {
        Timestamp::Zoned(d) => {
            d.year() >= FIRST_YEAR && d.with_timezone(&Utc) <= fetched_at + CLOCK_SKEW
        }
        Timestamp::Wall(w) => {
            w.year() >= FIRST_YEAR
                && *w <= (fetched_at + Duration::hours(14) + CLOCK_SKEW).naive_utc()
        }
    }
}

/// A stamp that shows a day but no time of day (midnight exactly).
fn is_date_only(t: &Timestamp) -> bool {
    let wall = match t {
        Timestamp::Zoned(d) => d.naive_local(),
        Timestamp::Wall(w) => *w,
    };
    wall.time() == chrono::NaiveTime::MIN
}

/// Whether the feed's instant falls on the page stamp's day, in the page's zone (UTC when the
/// page gives none).
fn same_day(t: &Timestamp, f: DateTime<Utc>) -> bool {
    match t {
        Timestamp::Zoned(d) => f.with_timezone(d.offset()).date_naive() == d.date_naive(),
        Timestamp::Wall(w) => f.date_naive() == w.date(),
    }
}

/// Whether `a` is later than `b`; a stamp without a zone compares by wall clock.
fn stamp_after(a: &Timestamp, b: &Timestamp) -> bool {
    match (a, b) {
        (Timestamp::Zoned(x), Timestamp::Zoned(y)) => x > y,
        _ => wall(a) > wall(b),
    }
}

fn wall(t: &Timestamp) -> chrono::NaiveDateTime {
    match t {
        Timestamp::Zoned(d) => d.naive_local(),
        Timestamp::Wall(w) => *w,
    }
}

/// A feed time as an event stamp: feeds give an instant, shown in UTC.
fn utc_stamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp::Zoned(t.fixed_offset())
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
/// Elements whose content no reader of the page uses (extraction and stamps skip them): icons
/// drawn in SVG, the options of a drop-down list.
const UNREAD_MARKUP: &[&str] = &["svg", "select"];

/// Parses a page the way extraction wants it: see [`lighten`].
pub fn parse_page(html: &str) -> scraper::Html {
    scraper::Html::parse_document(&lighten(html))
}

/// The page as the parser should see it, by a cheap byte scan over pages with more than
/// [`MAX_NESTING`] tags: tags nested deeper than that are removed (their text kept), and the
/// content of scripts, style sheets, `<noscript>`, inline SVG and drop-down lists is dropped,
/// keeping the empty elements, as are comments. Nothing reads that content but JSON-LD and a
/// `<noscript>` that holds the article (see `extract`), which are kept; dropping it saves the
/// tokenizer a fifth of its work on typical news pages, where a third of the bytes are scripts
/// and styles, and the tree builder the thousands of nodes of a page's SVG icons. Small pages are borrowed unchanged.
fn lighten(html: &str) -> Cow<'_, str> {
    let b = html.as_bytes();
    if b.iter().filter(|&&c| c == b'<').count() <= MAX_NESTING {
        return Cow::Borrowed(html);
    }
    let mut depth = 0usize;
    let mut excess = 0usize;
    // Per `UNREAD_MARKUP` name: up to where a search for its end tag has already failed.
    let mut tried_until = [0usize; UNREAD_MARKUP.len()];
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        let start = i + off;
        if b[start..].starts_with(b"<!--") {
            // `<!-->` and `<!--->` are whole (empty) comments.
            i = match &b[start + 4..] {
                [b'>', ..] => start + 5,
                [b'-', b'>', ..] => start + 6,
                _ => find(b, start + 4, b"-->").map_or(b.len(), |e| e + 3),
            };
            let o = out.get_or_insert_with(|| String::with_capacity(html.len()));
            o.push_str(&html[copied..start]);
            copied = i;
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
            let unread = name == "style"
                || (name == "noscript" && !extract::holds_paragraphs(&b[end..close_at]))
                || (name == "script" && !is_json_ld(&b[start..end]));
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
                if let Some(k) = UNREAD_MARKUP.iter().position(|u| *u == name)
                    && end >= tried_until[k]
                {
                    match unread_end(b, end, name) {
                        Ok(close_at) => {
                            let o = out.get_or_insert_with(|| String::with_capacity(html.len()));
                            o.push_str(&html[copied..end]);
                            copied = close_at;
                            i = close_at;
                            continue;
                        }
                        // Not again before that point: the scan stays linear.
                        Err(until) => tried_until[k] = until,
                    }
                }
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

/// Where the end tag of an `UNREAD_MARKUP` element opened just before `from` starts; an error
/// (with how far the search went) when another such element opens first or none ends: nested,
/// or unclosed, left to the parser, which knows where foreign content ends.
fn unread_end(b: &[u8], from: usize, name: &str) -> Result<usize, usize> {
    let close_at = find_ci(b, from, format!("</{name}").as_bytes()).ok_or(b.len())?;
    match find_ci(&b[..close_at], from, format!("<{name}").as_bytes()) {
        Some(_) => Err(close_at),
        None => Ok(close_at),
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

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn page_with(authors: &[&str], published: Option<&str>, updated: Option<&str>) -> Page {
        Page {
            url: "http://news.test/a".into(),
            canonical_url: "http://news.test/a".into(),
            title: "T".into(),
            authors: authors.iter().map(|a| a.to_string()).collect(),
            language: None,
            published_at: published.map(|p| p.parse().unwrap()),
            updated_at: updated.map(|u| u.parse().unwrap()),
            revision_notes: vec![],
            body_text: "Body.".into(),
            word_count: 1,
            content_hash: "h".into(),
        }
    }

    fn stamps(p: &Page) -> (Option<String>, Option<String>) {
        (
            p.published_at.map(|t| t.to_string()),
            p.updated_at.map(|t| t.to_string()),
        )
    }

    const FETCHED: &str = "2024-12-17T12:00:00Z";

    fn feed_meta(authors: &[&str], published: Option<&str>, updated: Option<&str>) -> FeedMeta {
        FeedMeta {
            authors: authors.iter().map(|a| a.to_string()).collect(),
            published: published.map(utc),
            updated: updated.map(utc),
            text: None,
        }
    }

    #[test]
    fn feed_fills_what_the_page_lacks() {
        let mut p = page_with(&[], None, None);
        let f = feed_meta(
            &["Jane Doe"],
            Some("2024-12-17T01:23:00Z"),
            Some("2024-12-17T06:00:00Z"),
        );
        merge_feed(&mut p, &f, utc(FETCHED));
        assert_eq!(p.authors, ["Jane Doe"]);
        assert_eq!(
            stamps(&p),
            (
                Some("2024-12-17T01:23:00+00:00".into()),
                Some("2024-12-17T06:00:00+00:00".into())
            )
        );
    }

    #[test]
    fn the_page_wins_where_both_speak() {
        let mut p = page_with(
            &["Ravi Patel"],
            Some("2024-12-17T10:23:00+09:00"),
            Some("2024-12-17T15:23:00+09:00"),
        );
        let f = feed_meta(
            &["Desk"],
            Some("2024-12-16T00:00:00Z"),
            Some("2024-12-17T02:00:00Z"),
        );
        merge_feed(&mut p, &f, utc(FETCHED));
        assert_eq!(p.authors, ["Ravi Patel"]);
        assert_eq!(
            stamps(&p),
            (
                Some("2024-12-17T10:23:00+09:00".into()),
                Some("2024-12-17T15:23:00+09:00".into())
            )
        );
    }

    #[test]
    fn a_page_date_without_time_takes_the_feeds_time_of_that_day() {
        let mut p = page_with(&[], Some("2024-12-17T00:00:00+09:00"), None);
        merge_feed(
            &mut p,
            &feed_meta(&[], Some("2024-12-17T01:23:00Z"), None),
            utc(FETCHED),
        );
        assert_eq!(stamps(&p).0.as_deref(), Some("2024-12-17T01:23:00+00:00"));
        // Another day: the page's date stands.
        let mut p = page_with(&[], Some("2024-12-15T00:00:00+09:00"), None);
        merge_feed(
            &mut p,
            &feed_meta(&[], Some("2024-12-17T01:23:00Z"), None),
            utc(FETCHED),
        );
        assert_eq!(stamps(&p).0.as_deref(), Some("2024-12-15T00:00:00+09:00"));
        // A time of day on the page is never replaced.
        let mut p = page_with(&[], Some("2024-12-17T09:00:00+09:00"), None);
        merge_feed(
            &mut p,
            &feed_meta(&[], Some("2024-12-17T01:23:00Z"), None),
            utc(FETCHED),
        );
        assert_eq!(stamps(&p).0.as_deref(), Some("2024-12-17T09:00:00+09:00"));
    }

    #[test]
    fn implausible_stamps_are_dropped_from_page_and_feed() {
        // Published after the fetch: a wrong zone or a schedule, not a publication.
        let mut p = page_with(&[], Some("2024-12-18T10:00:00+00:00"), None);
        merge_feed(
            &mut p,
            &feed_meta(&[], Some("2024-12-17T11:00:00Z"), None),
            utc(FETCHED),
        );
        assert_eq!(stamps(&p).0.as_deref(), Some("2024-12-17T11:00:00+00:00"));
        let mut p = page_with(&[], None, None);
        merge_feed(
            &mut p,
            &feed_meta(&[], Some("2024-12-17T13:00:00Z"), None),
            utc(FETCHED),
        );
        assert_eq!(stamps(&p), (None, None));
        // A little clock skew is fine; an absurd year is not.
        let mut p = page_with(&[], None, None);
        merge_feed(
            &mut p,
            &feed_meta(&[], Some("2024-12-17T12:10:00Z"), None),
            utc(FETCHED),
        );
        assert!(p.published_at.is_some());
        let mut p = page_with(&[], Some("1970-01-01T00:00:00+00:00"), None);
        merge_feed(&mut p, &FeedMeta::default(), utc(FETCHED));
        assert_eq!(stamps(&p), (None, None));
        // A wall-clock stamp may be ahead of UTC by a zone's offset, not by days.
        let mut p = page_with(&[], Some("2024-12-17T23:00:00"), None);
        merge_feed(&mut p, &FeedMeta::default(), utc(FETCHED));
        assert!(p.published_at.is_some());
        let mut p = page_with(&[], Some("2024-12-19T08:00:00"), None);
        merge_feed(&mut p, &FeedMeta::default(), utc(FETCHED));
        assert!(p.published_at.is_none());
    }

    #[test]
    fn an_update_not_after_publication_is_dropped() {
        let mut p = page_with(&[], Some("2024-12-17T10:00:00+00:00"), None);
        merge_feed(
            &mut p,
            &feed_meta(&[], None, Some("2024-12-16T09:00:00Z")),
            utc(FETCHED),
        );
        assert_eq!(stamps(&p), (Some("2024-12-17T10:00:00+00:00".into()), None));
        // A feed giving only an update time: that is the publication time, not also an update.
        let mut p = page_with(&[], None, None);
        merge_feed(
            &mut p,
            &feed_meta(&[], None, Some("2024-12-16T09:00:00Z")),
            utc(FETCHED),
        );
        assert_eq!(stamps(&p), (Some("2024-12-16T09:00:00+00:00".into()), None));
    }

    fn words(n: usize) -> String {
        vec!["word"; n].join(" ")
    }

    #[test]
    fn feed_text_stands_in_for_a_missing_or_far_shorter_body_only() {
        let with_text = |n: usize| FeedMeta {
            text: Some(words(n)),
            ..FeedMeta::default()
        };
        let body = |p: &mut Page, n: usize| {
            p.body_text = words(n);
            p.word_count = n;
            p.content_hash = track::content_hash(&p.body_text);
        };
        // No body at all (a page rendered by script): the feed's.
        let mut p = page_with(&[], None, None);
        body(&mut p, 0);
        merge_feed(&mut p, &with_text(300), utc(FETCHED));
        assert_eq!((p.word_count, p.body_text.clone()), (300, words(300)));
        assert_eq!(p.content_hash, track::content_hash(&words(300)));
        assert!(p.is_article());
        // A paywall stub of 99 words against 300: the feed's.
        body(&mut p, 99);
        merge_feed(&mut p, &with_text(300), utc(FETCHED));
        assert_eq!(p.word_count, 300);
        // A third or more of the feed's words: the page keeps its own.
        body(&mut p, 100);
        merge_feed(&mut p, &with_text(300), utc(FETCHED));
        assert_eq!((p.word_count, p.body_text.clone()), (100, words(100)));
        // A short body that is not the feed's article (a link blog comments on someone else's
        // page): the page keeps its own.
        p.body_text = "Tide tables for the coming week, as published by the harbor office.".into();
        p.word_count = 12;
        merge_feed(&mut p, &with_text(300), utc(FETCHED));
        assert_eq!(p.word_count, 12);
        // A feed text under the witness floor never replaces anything.
        body(&mut p, 0);
        merge_feed(&mut p, &with_text(99), utc(FETCHED));
        assert!(!p.is_article());
    }

    #[test]
    fn feed_meta_without_text_serializes_as_before_and_old_rows_load() {
        let old = r#"{"authors":["Jane Doe"],"published":null,"updated":null}"#;
        let meta: FeedMeta = serde_json::from_str(old).unwrap();
        assert_eq!(meta.text, None);
        assert_eq!(serde_json::to_string(&meta).unwrap(), old);
    }

    #[test]
    fn feed_meta_from_an_entry_cleans_names_and_keeps_distinct_dates() {
        let rss = br#"<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title>
            <item><title>A</title><link>http://news.test/a</link>
              <dc:creator>By Jane Doe and Ravi Patel, Staff Writers</dc:creator>
              <pubDate>Tue, 17 Dec 2024 10:23:00 +0900</pubDate></item></channel></rss>"#;
        let entries = feed::parse(rss, &Url::parse("http://news.test/feed").unwrap()).unwrap();
        let meta = FeedMeta::from(&entries[0]);
        assert_eq!(meta.authors, ["Jane Doe", "Ravi Patel"]);
        assert_eq!(meta.published, Some(utc("2024-12-17T01:23:00Z")));
        assert_eq!(
            meta.updated, None,
            "updated equal to published is not an update"
        );
        let json = serde_json::to_string(&meta).unwrap();
        assert_eq!(serde_json::from_str::<FeedMeta>(&json).unwrap(), meta);
    }

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
    fn ordinary_markup_passes_through_and_only_script_content_and_comments_go() {
        let mut page =
            String::from("<html><body><script>if (a < b) { x = '<div>'; }</script><!-- <div> -->");
        for i in 0..2000 {
            page.push_str(&format!(
                "<p class=\"x\" title='a>b'>para {i}<br><img src=x.png/></p>"
            ));
        }
        page.push_str("</body></html>");
        assert!(matches!(lighten(&page[..200]), Cow::Borrowed(_)));
        // Past the size where the scan runs, only the script's content and the comment go.
        let light = lighten(&page);
        assert_eq!(
            light.len(),
            page.len() - "if (a < b) { x = '<div>'; }<!-- <div> -->".len()
        );
        assert!(light.starts_with("<html><body><script></script><p class"));
    }

    #[test]
    fn scripts_and_styles_are_emptied_but_json_ld_is_kept_and_markup_in_comments_is_not_read() {
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
        assert!(light.contains("</SCRIPT></head><body><br>"), "{light}");
        assert!(light.contains("<p title='<script>'>kept é</p><script>"));
        assert!(!light.contains("unclosed"));
        assert!(!light.contains("color") && !light.contains("var s"));
    }

    #[test]
    fn svg_and_drop_down_content_goes_unless_nested_or_unclosed() {
        let pad = "<br>".repeat(MAX_NESTING);
        let page = format!(
            "<body>{pad}<p>a<svg viewBox='0 0 9 9'><path d='M0 0'/><title>icon</title></svg>b</p>\
             <SELECT name=c><option>France<option>Spain</select><p>c<!-->d<!--->e</p>\
             <svg><svg><g/></svg></svg><svg><circle/>"
        );
        let light = lighten(&page);
        assert!(
            light.contains("<p>a<svg viewBox='0 0 9 9'></svg>b</p>"),
            "{light}"
        );
        assert!(light.contains("<SELECT name=c></select>"), "{light}");
        assert!(light.contains("<p>cde</p>"), "{light}");
        assert!(
            light.ends_with("<svg><svg><g/></svg></svg><svg><circle/>"),
            "{light}"
        );
        // The page reads the same.
        let text = |h: &str| {
            let doc = scraper::Html::parse_document(h);
            let sel = scraper::Selector::parse("p").unwrap();
            doc.select(&sel)
                .map(|p| p.text().collect::<String>())
                .collect::<Vec<_>>()
        };
        assert_eq!(text(&light), ["ab", "cde"]);
        assert_eq!(text(&page), ["aiconb", "cde"]);
    }

    #[test]
    fn an_article_in_a_noscript_is_read_when_the_page_renders_it_by_script() {
        // Blogger's dynamic templates: the post as a script template, and again in <noscript>.
        let url = Url::parse("http://blog.test/2024/05/post.html").unwrap();
        let paras: String = (1..=3)
            .map(|k| format!("<p>Paragraph {k} of the post, written out for readers whose browsers run no scripts at all.</p>"))
            .collect();
        for pad in ["", &"<br>".repeat(MAX_NESTING)] {
            let html = format!(
                "<html><body>{pad}<noscript><img src=/pixel.gif></noscript><h2>The post</h2>\
                 <div class=post-body><script type=text/template>{paras}</script>\
                 <noscript>{paras}</noscript></div></body></html>"
            );
            let body = extract_page(&html, &url, None).body_text;
            assert!(body.starts_with("Paragraph 1 of the post"), "{body}");
            assert!(body.contains("Paragraph 3"), "{body}");
        }
        let page = format!(
            "<body>{}<noscript><img src=/pixel.gif></noscript>",
            "<br>".repeat(MAX_NESTING)
        );
        assert!(!lighten(&page).contains("pixel"));
        // The noscript's markup is flattened like a page's before it is parsed: deep nesting
        // inside it costs linear time, not the parser's quadratic.
        let deep = format!(
            "<html><body><noscript>{paras}{}x{}</noscript></body></html>",
            "<div>".repeat(100_000),
            "</div>".repeat(100_000)
        );
        let start = std::time::Instant::now();
        let body = extract_page(&deep, &url, None).body_text;
        assert!(body.starts_with("Paragraph 1 of the post"), "{body}");
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn many_unclosed_svgs_are_scanned_in_linear_time() {
        // Each <svg> opens before any ends: none is emptied, and no search for an end tag runs
        // twice over the same bytes (a search per <svg> would take minutes here).
        let page = format!("<body>{}</svg>", "<svg></g>".repeat(400_000));
        let start = std::time::Instant::now();
        let light = lighten(&page);
        assert!(light.contains("<svg></g><svg></g>"));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
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
