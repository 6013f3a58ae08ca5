//! Reading scheduling hints: from HTTP headers (`Cache-Control: max-age`, `Expires`,
//! `Retry-After`) and from the head of a feed body (RSS `<ttl>`, `sy:updatePeriod` /
//! `sy:updateFrequency`, `skipHours`, `skipDays`, WebSub `<link rel="hub">` / `rel="self"`).
//!
//! feed-rs does not expose these elements, so the body is scanned as bytes: only the part before
//! the first `<item` / `<entry` (the channel or feed head), which keeps the scan cheap and keeps
//! an article's text from posing as a hint. Nothing here fails: what cannot be read is no hint.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

/// Hints a feed gives about itself, kept between polls (a 304 carries no body).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedHints {
    /// RSS `<ttl>`: minutes the feed may be cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
    /// `sy:updatePeriod` divided by `sy:updateFrequency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_secs: Option<u64>,
    /// RSS `skipHours`: hours (0–23, GMT) in which the feed is not to be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_hours: Vec<u8>,
    /// RSS `skipDays`: days (0 = Monday … 6 = Sunday, GMT) in which it is not to be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_days: Vec<u8>,
    /// WebSub hub and the topic URL the feed names for itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_url: Option<String>,
}

/// Hints one HTTP response gives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpHints {
    /// Freshness lifetime from `Cache-Control: max-age` (less `Age`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_secs: Option<u64>,
    /// Freshness lifetime from `Expires` (against `Date`, else now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_secs: Option<u64>,
    /// `Retry-After` (seconds or HTTP-date), read on 429 and 503 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl HttpHints {
    /// Reads the hints of a response with `status` and lower- or mixed-case `headers`.
    pub fn from_response(status: u16, headers: &[(String, String)], now: DateTime<Utc>) -> Self {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim())
        };
        // Deltas against an HTTP date are taken from the server's own Date when it sent one,
        // so a skewed server clock does not skew the schedule.
        let reference = header("date").and_then(parse_http_date).unwrap_or(now);
        let mut hints = HttpHints::default();
        if let Some(cc) = header("cache-control") {
            let directives: Vec<String> = cc
                .split(',')
                .map(|d| d.trim().to_ascii_lowercase())
                .collect();
            if !directives
                .iter()
                .any(|d| d == "no-store" || d == "no-cache")
            {
                let age = header("age")
                    .and_then(|a| a.parse::<u64>().ok())
                    .unwrap_or(0);
                hints.max_age_secs = directives
                    .iter()
                    .find_map(|d| {
                        d.strip_prefix("max-age=")
                            .map(|v| v.trim_matches('"').parse::<u64>().ok())
                    })
                    .flatten()
                    .map(|s| s.saturating_sub(age));
            }
        }
        // Cache-Control wins over Expires (RFC 9111 §5.3).
        if hints.max_age_secs.is_none() {
            hints.expires_secs = header("expires")
                .and_then(parse_http_date)
                .map(|t| secs_between(reference, t));
        }
        if matches!(status, 429 | 503) {
            hints.retry_after_secs = header("retry-after").and_then(|v| match v.parse::<u64>() {
                Ok(s) => Some(s),
                Err(_) => parse_http_date(v).map(|t| secs_between(reference, t)),
            });
        }
        hints
    }
}

/// Whole seconds from `from` to `to`, zero if `to` is not later.
fn secs_between(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    u64::try_from((to - from).num_seconds()).unwrap_or(0)
}

/// An HTTP-date in any of the three forms RFC 9110 §5.6.7 requires a recipient to accept.
pub fn parse_http_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc2822(s) {
        return Some(t.with_timezone(&Utc));
    }
    // RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
    let s = s.trim_end_matches(" GMT");
    ["%A, %d-%b-%y %H:%M:%S", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|n| n.and_utc())
}

/// Scans the head of a feed body for scheduling and WebSub hints.
pub fn scan_feed(body: &[u8]) -> FeedHints {
    let head_end = [&b"<item"[..], b"<entry", b"<atom:entry"]
        .iter()
        .filter_map(|pat| find(body, pat))
        .min()
        .unwrap_or(body.len());
    let head = String::from_utf8_lossy(&body[..head_end.min(256 * 1024)]);
    let trimmed = head.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') {
        return scan_json_feed(body);
    }
    let mut hints = FeedHints::default();
    let tags = Tags {
        text: &head,
        pos: 0,
    };
    let mut period: Option<u64> = None;
    let mut frequency: Option<u64> = None;
    let mut in_skip_hours = false;
    let mut in_skip_days = false;
    for tag in tags {
        match (tag.closing, tag.local) {
            (false, "ttl") => {
                hints.ttl_secs = tag
                    .text
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .map(|m| m.saturating_mul(60))
            }
            (false, "updatePeriod") => {
                period = match tag.text.trim() {
                    "hourly" => Some(3600),
                    "daily" => Some(86_400),
                    "weekly" => Some(7 * 86_400),
                    "monthly" => Some(30 * 86_400),
                    "yearly" => Some(365 * 86_400),
                    _ => None,
                }
            }
            (false, "updateFrequency") => {
                frequency = tag.text.trim().parse::<u64>().ok().filter(|f| *f > 0)
            }
            (false, "skipHours") => in_skip_hours = true,
            (true, "skipHours") => in_skip_hours = false,
            (false, "skipDays") => in_skip_days = true,
            (true, "skipDays") => in_skip_days = false,
            (false, "hour") if in_skip_hours => {
                // RSS says 0–23; some feeds write 24 for midnight.
                if let Ok(h) = tag.text.trim().parse::<u8>() {
                    let h = h % 24;
                    if !hints.skip_hours.contains(&h) {
                        hints.skip_hours.push(h);
                    }
                }
            }
            (false, "day") if in_skip_days => {
                let days = [
                    "monday",
                    "tuesday",
                    "wednesday",
                    "thursday",
                    "friday",
                    "saturday",
                    "sunday",
                ];
                if let Some(d) = days
                    .iter()
                    .position(|d| d.eq_ignore_ascii_case(tag.text.trim()))
                {
                    let d = d as u8;
                    if !hints.skip_days.contains(&d) {
                        hints.skip_days.push(d);
                    }
                }
            }
            (false, "link") => match (attr(tag.attrs, "rel"), attr(tag.attrs, "href")) {
                (Some("hub"), Some(href)) if hints.hub.is_none() => {
                    hints.hub = Some(unescape(href))
                }
                (Some("self"), Some(href)) if hints.self_url.is_none() => {
                    hints.self_url = Some(unescape(href))
                }
                _ => {}
            },
            _ => {}
        }
    }
    if let Some(p) = period {
        hints.update_secs = Some(p / frequency.unwrap_or(1));
    } else if let Some(f) = frequency {
        // updatePeriod defaults to daily.
        hints.update_secs = Some(86_400 / f);
    }
    hints.skip_hours.sort_unstable();
    hints.skip_days.sort_unstable();
    hints
}

/// JSON Feed 1.1: `hubs` and `feed_url`.
fn scan_json_feed(body: &[u8]) -> FeedHints {
    #[derive(Deserialize)]
    struct Hub {
        #[serde(rename = "type", default)]
        kind: String,
        url: String,
    }
    #[derive(Deserialize)]
    struct Head {
        #[serde(default)]
        feed_url: Option<String>,
        #[serde(default)]
        hubs: Vec<Hub>,
    }
    let Ok(head) = serde_json::from_slice::<Head>(body) else {
        return FeedHints::default();
    };
    FeedHints {
        hub: head
            .hubs
            .into_iter()
            .find(|h| h.kind.eq_ignore_ascii_case("websub") || h.kind.is_empty())
            .map(|h| h.url),
        self_url: head.feed_url,
        ..FeedHints::default()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn unescape(s: &str) -> String {
    s.replace("&amp;", "&")
}

/// One start or end tag and, for a start tag, the text up to the next tag.
struct Tag<'a> {
    local: &'a str,
    closing: bool,
    attrs: &'a str,
    text: &'a str,
}

struct Tags<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Tags<'a> {
    type Item = Tag<'a>;

    fn next(&mut self) -> Option<Tag<'a>> {
        loop {
            let start = self.pos + self.text[self.pos..].find('<')?;
            let end = start + self.text[start..].find('>')?;
            self.pos = end + 1;
            let inner = &self.text[start + 1..end];
            if inner.starts_with(['!', '?']) {
                continue;
            }
            let closing = inner.starts_with('/');
            let inner = inner.trim_start_matches('/').trim_end_matches('/');
            let name_end = inner
                .find(|c: char| c.is_whitespace())
                .unwrap_or(inner.len());
            let name = &inner[..name_end];
            let local = name.rsplit(':').next().unwrap_or(name);
            let text_end = self.text[self.pos..]
                .find('<')
                .map_or(self.text.len(), |i| self.pos + i);
            return Some(Tag {
                local,
                closing,
                attrs: &inner[name_end..],
                text: &self.text[self.pos..text_end],
            });
        }
    }
}

/// The value of attribute `name` in a tag's attribute text.
fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = attrs;
    while let Some(i) = rest.find(name) {
        let before_ok = i == 0 || rest[..i].ends_with(char::is_whitespace);
        let after = rest[i + name.len()..].trim_start();
        if before_ok && let Some(v) = after.strip_prefix('=') {
            let v = v.trim_start();
            let q = v.chars().next()?;
            if q == '"' || q == '\'' {
                let close = v[1..].find(q)?;
                return Some(&v[1..1 + close]);
            }
        }
        rest = &rest[i + name.len()..];
    }
    None
}
