//! Revision stamps: when an article was published and updated, and the notes it carries about
//! its own revisions ("Correction: ...", "Update, Dec. 17: ...", "[바로잡습니다] ...").
//!
//! [`extract_stamps`] reads an already parsed page once (see `scan`) and weighs four sources:
//! the visible stamps by the byline, `<time>` elements, JSON-LD and meta tags. What a reader sees
//! wins: a visible stamp outranks metadata that disagrees with it (stale `modified_time`, a JSON-LD
//! `Z` that is really local time), and metadata only fills in what the page does not show (the
//! zone of a visible stamp, the year of a stamp that omits it, or the stamps of a page that shows
//! none). A date in the URL is used only when nothing else states one. Dates in sidebars, most-read
//! lists, comments, header clocks, widgets, cookie notices and footers are ignored.
//!
//! Zones: an offset or zone word on the page; else the site's configured zone
//! ([`Hints::default_zone`]); else the stamp is a local wall-clock time ([`Timestamp::Wall`]).
//!
//! Guarantees: never panics on any input, never recurses over the DOM (100,000-deep pages are
//! fine), reads a bounded amount of text, and costs a fraction of body extraction (one DOM pass,
//! no regular expressions). Failure mode: a stamp it cannot read is `None`, and a note it cannot
//! recognise is left out; it never guesses a date from prose.

mod datetime;
mod jsonld;
mod labels;
mod scan;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Timelike};

use datetime::{DayOrder, MachineStamp, Visible, Zone};
use labels::StampKind;

/// A stamp as docs/events.md wants it: RFC 3339 with offset when the page/site gives a zone, else
/// local wall clock without offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamp {
    Zoned(DateTime<FixedOffset>),
    Wall(NaiveDateTime),
}

impl Timestamp {
    /// The local wall-clock reading of the stamp.
    fn wall(&self) -> NaiveDateTime {
        match self {
            Timestamp::Zoned(d) => d.naive_local(),
            Timestamp::Wall(w) => *w,
        }
    }

    /// Same moment: equal instants when both are zoned, else equal wall clocks.
    fn same_moment(&self, other: &Timestamp) -> bool {
        match (self, other) {
            (Timestamp::Zoned(a), Timestamp::Zoned(b)) => a == b,
            _ => self.wall() == other.wall(),
        }
    }

    fn is_before(&self, other: &Timestamp) -> bool {
        match (self, other) {
            (Timestamp::Zoned(a), Timestamp::Zoned(b)) => a < b,
            _ => self.wall() < other.wall(),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timestamp::Zoned(d) => write!(f, "{}", d.format("%Y-%m-%dT%H:%M:%S%:z")),
            Timestamp::Wall(w) => write!(f, "{}", w.format("%Y-%m-%dT%H:%M:%S")),
        }
    }
}

/// A string that is neither RFC 3339 nor an offset-less `YYYY-MM-DDTHH:MM:SS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampParseError(String);

impl fmt::Display for TimestampParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an RFC 3339 or local date-time: {:?}", self.0)
    }
}

impl std::error::Error for TimestampParseError {}

impl FromStr for Timestamp {
    type Err = TimestampParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(d) = DateTime::parse_from_rfc3339(s) {
            return Ok(Timestamp::Zoned(d));
        }
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .map(Timestamp::Wall)
            .map_err(|_| TimestampParseError(s.to_owned()))
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    Update,
    Correction,
    Clarification,
    EditorsNote,
    Other,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RevisionNote {
    pub kind: NoteKind,
    /// The note as shown, label included, whitespace collapsed.
    pub text: String,
    pub date: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Stamps {
    pub published_at: Option<Timestamp>,
    /// `None` when the page shows no update distinct from publication.
    pub updated_at: Option<Timestamp>,
    pub revision_notes: Vec<RevisionNote>,
}

/// What the caller knows about the page beyond its markup.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hints<'a> {
    /// BCP 47 tag from page markup if known; decides day-month order ("05/12/2024").
    pub language: Option<&'a str>,
    /// Per-site zone from config: "Asia/Seoul" or "+09:00". Applies to stamps the page leaves unzoned.
    pub default_zone: Option<&'a str>,
    pub url: Option<&'a url::Url>,
    /// The page as fetched, scripts included (parsing may have emptied them): when nothing in
    /// the markup dates the page, the publication time an application's script data states
    /// (`"datePublished": "..."`, `"published_at": "..."`) is read from it.
    pub page: Option<&'a str>,
}

/// Whether a lower-case word names a month or a weekday in a language stamps are read in
/// ("december", "dez", "mardi"); bylines use it to cut the date off a credit.
pub(crate) fn is_month_or_weekday(w: &str) -> bool {
    datetime::month_from_word(w).is_some() || datetime::is_weekday(w)
}

/// Checks a configured site zone: an IANA name ("Europe/Berlin"), "UTC", or an offset ("+09:00").
///
/// # Errors
/// A message naming the value when it is none of these.
pub fn validate_zone(zone: &str) -> Result<(), String> {
    datetime::parse_zone_spec(zone).map(|_| ()).ok_or_else(|| {
        format!("unknown time zone {zone:?}: expected an IANA name such as \"Asia/Seoul\" or an offset such as \"+09:00\"")
    })
}

/// A visible (or `<time>`) stamp candidate.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    kind: StampKind,
    vis: Option<Visible>,
    attr: Option<MachineStamp>,
    /// 0 labelled, 1 unlabelled date element, +2 when in a weak region (site header, pre-headline).
    tier: u8,
    order: usize,
    /// Just above or below the headline (see [`NEAR_H1_BLOCKS`]).
    near: bool,
}

impl Candidate {
    /// Which candidate wins: a labelled one, then one by the headline, then by tier and order.
    fn rank(&self) -> (u8, bool, u8, usize) {
        (self.tier.min(1), !self.near, self.tier, self.order)
    }
}

/// How stamps without their own zone get one.
struct ZoneCtx {
    default_zone: Option<Zone>,
    /// The offset the published stamp ended up with.
    page_offset: Option<FixedOffset>,
    /// The first non-UTC offset found in any machine stamp of the page.
    markup_offset: Option<FixedOffset>,
}

/// Extracts the page's stamps and revision notes. See the module docs for the rules.
pub fn extract_stamps(doc: &scraper::Html, hints: &Hints) -> Stamps {
    let scan = scan::scan(doc);
    let lang = hints.language.or(scan.lang.as_deref());
    let order = day_order(lang, hints.url);

    let (meta_pub, meta_mod, strong, firm) = machine_stamps(&scan, order);
    let markup_offset = meta_pub
        .iter()
        .chain(&meta_mod)
        .filter_map(|m| m.offset)
        .find(|o| o.local_minus_utc() != 0);
    let mut ctx = ZoneCtx {
        default_zone: hints.default_zone.and_then(datetime::parse_zone_spec),
        page_offset: None,
        markup_offset,
    };
    let url_date = hints.url.and_then(url_date);

    let mut cands = visible_candidates(&scan.blocks, order, scan.h1_seq);
    // An unlabelled date that is the metadata's modification day, and no publication day, is
    // the update stamp ("Le 19 février 2020" on a page first published in 2017).
    for c in &mut cands {
        if c.kind == StampKind::Published
            && c.tier > 0
            && let Some(v) = c.vis
            && let Some(d) = v.year.and_then(|y| v.date_in(y))
            && meta_mod.iter().any(|m| m.wall.date() == d)
            && !meta_pub.is_empty()
            && !meta_pub.iter().any(|m| m.wall.date() == d)
        {
            c.kind = StampKind::Updated;
        }
    }
    // Metadata silences the weaker visible candidates; generic meta names ("date",
    // "pubdate") do not silence a date by the headline.
    let has_meta_pub = (!meta_pub.is_empty(), strong.0);
    let has_meta_mod = (!meta_mod.is_empty(), strong.1);
    let best = |kind: StampKind, (any, strong): (bool, bool)| {
        cands
            .iter()
            .filter(|c| c.kind == kind && (c.tier < 2 || !any || (c.tier == 2 && !strong)))
            .min_by_key(|c| c.rank())
            .copied()
    };
    let mut vis_pub = best(StampKind::Published, has_meta_pub);
    // Firm metadata outranks an unlabelled date that contradicts it (a related story's date,
    // an embedded post's): such a date counts only when it is within a day of a metadata
    // stamp, and then the closest such candidate is taken.
    if firm
        && let Some(c) = vis_pub
        && c.tier > 0
    {
        let near_meta = |c: &Candidate| {
            c.vis
                .and_then(|v| v.year.and_then(|y| v.date_in(y)))
                .or(c.attr.map(|m| m.wall.date()))
                .is_some_and(|d| {
                    meta_pub
                        .iter()
                        .chain(&meta_mod)
                        .any(|m| (m.wall.date() - d).num_days().abs() <= 1)
                })
        };
        if !near_meta(&c) {
            vis_pub = cands
                .iter()
                .filter(|c| c.kind == StampKind::Published && near_meta(c))
                .min_by_key(|c| c.rank())
                .copied();
        }
    }
    let vis_upd = best(
        StampKind::Updated,
        (
            has_meta_mod.0 || has_meta_pub.0,
            has_meta_mod.1 || has_meta_pub.1,
        ),
    );
    let year_hint = meta_pub
        .first()
        .or(meta_mod.first())
        .map(|m| m.wall.date())
        .or(url_date);

    let mut published = match vis_pub {
        Some(c) => resolve_candidate(&c, &meta_pub, &ctx, year_hint),
        None => None,
    }
    .or_else(|| meta_pub.first().map(|m| from_machine(m, &ctx)))
    .or_else(|| {
        hints
            .page
            .and_then(script_date)
            .map(|m| from_machine(&m, &ctx))
    })
    .or_else(|| url_date.map(|d| localize(d.and_time(chrono::NaiveTime::MIN), &ctx)));
    if let Some(Timestamp::Zoned(d)) = published {
        ctx.page_offset = Some(*d.offset());
    }

    let visible_regime = vis_pub.is_some_and(|c| c.tier < 2) || vis_upd.is_some();
    let upd_year = published.map(|p| p.wall().date()).or(year_hint);
    let mut updated = match vis_upd {
        Some(c) => resolve_candidate(&c, &meta_mod, &ctx, upd_year),
        None if visible_regime => None,
        None => meta_mod.first().map(|m| from_machine(m, &ctx)),
    };
    // A page that shows only when it was updated: that is the best known publication time.
    if published.is_none() && updated.is_some() {
        published = updated.take();
    }
    if let (Some(u), Some(p)) = (updated, published) {
        let date_only_same_day = u.wall().time() == chrono::NaiveTime::MIN
            && vis_upd.is_some_and(|c| c.vis.is_some_and(|v| v.time.is_none()))
            && u.wall().date() == p.wall().date();
        if u.same_moment(&p) || u.is_before(&p) || date_only_same_day {
            updated = None;
        }
    }

    let base = updated.or(published).map(|t| t.wall().date()).or(url_date);
    let revision_notes = notes(&scan.blocks, order, base, &ctx);
    Stamps {
        published_at: published,
        updated_at: updated,
        revision_notes,
    }
}

/// Day-month order of all-numeric dates: the page language first, then the site's country.
fn day_order(lang: Option<&str>, url: Option<&url::Url>) -> DayOrder {
    let tld_day_first = || {
        url.and_then(|u| u.host_str())
            .map(|h| {
                let tld = h.rsplit('.').next().unwrap_or("");
                !matches!(tld, "com" | "us" | "org" | "net" | "gov" | "edu" | "ph")
            })
            .unwrap_or(false)
    };
    match lang.map(|l| l.trim().to_ascii_lowercase().replace('_', "-")) {
        Some(l) if l == "en" || l.starts_with("en-") => match l.split('-').nth(1) {
            Some("us" | "ph" | "um" | "as" | "gu" | "pr" | "vi") => DayOrder::MonthFirst,
            Some(_) => DayOrder::DayFirst,
            None if tld_day_first() => DayOrder::DayFirst,
            None => DayOrder::MonthFirst,
        },
        Some(l) if !l.is_empty() => DayOrder::DayFirst,
        _ if tld_day_first() => DayOrder::DayFirst,
        _ => DayOrder::MonthFirst,
    }
}

/// Machine stamps: published, modified, whether each has a source stronger than a generic
/// meta name, and whether publication has a firm one (JSON-LD, Open Graph/`article:`, microdata).
type Machine = (Vec<MachineStamp>, Vec<MachineStamp>, (bool, bool), bool);

/// Meta stamps ranked at or above this are firm (see [`Machine`]).
const FIRM_META_RANK: u8 = 4;

/// Published and modified machine stamps, best source first: article JSON-LD, meta tags by
/// rank, then JSON-LD on other types.
fn machine_stamps(scan: &scan::Scan, order: DayOrder) -> Machine {
    let mut ld = Vec::new();
    for script in &scan.jsonld {
        jsonld::scan(script, &mut ld);
    }
    ld.sort_by_key(|d| d.rank);
    let mut metas: Vec<&scan::MetaDate> = scan.metas.iter().collect();
    metas.sort_by_key(|m| m.rank);
    let mut published = Vec::new();
    let mut modified = Vec::new();
    let parse = |s: &str| parse_machine(s, order);
    for d in ld.iter().filter(|d| d.rank == 0) {
        published.extend(d.published.as_deref().and_then(parse));
        modified.extend(d.modified.as_deref().and_then(parse));
    }
    let mut strong = (!published.is_empty(), !modified.is_empty());
    let mut firm = strong.0;
    for m in &metas {
        if let Some(s) = parse(&m.value) {
            if m.published {
                published.push(s);
                strong.0 |= m.rank <= STRONG_META_RANK;
                firm |= m.rank <= FIRM_META_RANK;
            } else {
                modified.push(s);
                strong.1 |= m.rank <= STRONG_META_RANK;
            }
        }
    }
    // Other JSON-LD objects (a web page, an embedded video) only when nothing else dates it.
    let (no_pub, no_mod) = (published.is_empty(), modified.is_empty());
    for d in ld.iter().filter(|d| d.rank > 0) {
        if no_pub {
            published.extend(d.published.as_deref().and_then(parse));
        }
        if no_mod {
            modified.extend(d.modified.as_deref().and_then(parse));
        }
    }
    strong.0 |= !published.is_empty() && ld.iter().any(|d| d.published.is_some());
    strong.1 |= !modified.is_empty() && ld.iter().any(|d| d.modified.is_some());
    (published, modified, strong, firm)
}

/// Meta stamps ranked below this (generic names such as "date") do not silence a visible date.
const STRONG_META_RANK: u8 = 8;

/// ISO 8601 first; else the visible-text parser ("Tue, 17 Dec 2024 10:23:00 +0900").
fn parse_machine(s: &str, order: DayOrder) -> Option<MachineStamp> {
    if let Some(m) = datetime::parse_iso(s) {
        return Some(m);
    }
    let (v, _) = datetime::parse_visible(datetime_prefix(s), order, false)?;
    let date = v.date_in(v.year?)?;
    let wall = date.and_time(v.time.unwrap_or(chrono::NaiveTime::MIN));
    Some(MachineStamp {
        wall,
        offset: v.zone.map(|z| z.offset_at(wall)),
        has_time: v.time.is_some(),
    })
}

fn datetime_prefix(s: &str) -> &str {
    prefix(s, 120)
}

/// The longest prefix of `s` of at most `n` bytes that ends on a character boundary.
fn prefix(s: &str, n: usize) -> &str {
    let mut n = n.min(s.len());
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

/// Keys of script data (JSON in scripts or in attributes) that name the publication time,
/// best first.
const SCRIPT_KEYS: &[&str] = &[
    "datePublished",
    "publishedDate",
    "publishDate",
    "published_at",
    "publish_date",
    "firstPublished",
    "createdAt",
    "created_at",
];

/// Bytes of the page searched for script data.
const SCRIPT_SCAN: usize = 2 << 20;

/// The publication time that script data states: `"datePublished": "2024-12-17T10:23:00Z"`,
/// also HTML-escaped (`&quot;created_at&quot;:&quot;...`). ISO 8601 values only; of several
/// keys, the best ranked in [`SCRIPT_KEYS`] wins. Two passes over the page find every key.
fn script_date(page: &str) -> Option<MachineStamp> {
    let page = prefix(page, SCRIPT_SCAN);
    let mut best: Option<(usize, MachineStamp)> = None;
    for stem in ["ublish", "reate"] {
        let mut from = 0;
        while let Some(at) = page[from..].find(stem) {
            let hit = from + at;
            from = hit + stem.len();
            // The key around the stem, between its quotes.
            let start = page[..hit]
                .rfind(['"', ';'])
                .filter(|&q| hit - q <= 12)
                .map(|q| q + 1);
            let Some(start) = start else { continue };
            let rest = &page[start..];
            let Some(end) = rest.find(['"', '&']) else {
                continue;
            };
            let Some(rank) = SCRIPT_KEYS.iter().position(|k| *k == &rest[..end]) else {
                continue;
            };
            if best.as_ref().is_some_and(|(r, _)| *r <= rank) {
                continue;
            }
            let quote = if rest[end..].starts_with('"') {
                "\""
            } else {
                "&quot;"
            };
            let Some(after) = rest[end..].strip_prefix(quote) else {
                continue;
            };
            let Some(v) = after
                .trim_start()
                .strip_prefix(':')
                .map(str::trim_start)
                .and_then(|v| v.strip_prefix(quote))
            else {
                continue;
            };
            if let Some(m) = datetime::parse_iso(prefix(v, 40)).filter(|m| m.has_time) {
                best = Some((rank, m));
            }
        }
    }
    best.map(|(_, m)| m)
}

/// A date in the URL path: /2024/12/17/, /2024-12-17-slug, /20241217/.
fn url_date(url: &url::Url) -> Option<NaiveDate> {
    let segs: Vec<&str> = url.path_segments()?.take(12).collect();
    for (i, s) in segs.iter().enumerate() {
        if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
            let num = |k: usize| -> Option<u32> {
                segs.get(k)
                    .filter(|x| x.len() <= 2)
                    .and_then(|x| x.parse().ok())
            };
            let y: i32 = s.parse().unwrap_or(0);
            if let (true, Some(m), Some(d)) = ((1990..=2100).contains(&y), num(i + 1), num(i + 2))
                && let Some(date) = NaiveDate::from_ymd_opt(y, m, d)
            {
                return Some(date);
            }
            continue;
        }
        // "29-10-2021", "08112021-fachtag": a day-first date opening the segment.
        if let Some(d) = day_first_url_date(s) {
            return Some(d);
        }
        // "2024-12-17-slug" / "20241217": a whole ISO date not followed by more digits
        if let Some(m) = datetime::parse_iso(prefix(s, 10)) {
            let len = if s.as_bytes().get(4) == Some(&b'-') {
                10
            } else {
                8
            };
            if !s.as_bytes().get(len).is_some_and(u8::is_ascii_digit) {
                return Some(m.wall.date());
            }
        }
    }
    None
}

/// Blocks read after the headline in which a bare date still counts as the article's.
const NEAR_H1_BLOCKS: u32 = 12;
/// Blocks after the headline past which an unlabelled date is only a last resort.
const FAR_H1_BLOCKS: u32 = 20;

/// "29-10-2021..." or "08112021-..." at the start of a URL segment, when it is no ISO date.
fn day_first_url_date(seg: &str) -> Option<NaiveDate> {
    let b = seg.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let num = |r: std::ops::Range<usize>| seg.get(r)?.parse::<u32>().ok();
    let (d, m, y, len) = if b.len() >= 10
        && (0..2).chain(3..5).chain(6..10).all(digit)
        && b[2] == b'-'
        && b[5] == b'-'
    {
        (num(0..2)?, num(3..5)?, num(6..10)?, 10)
    } else if b.len() >= 8 && (0..8).all(digit) {
        (num(0..2)?, num(2..4)?, num(4..8)?, 8)
    } else {
        return None;
    };
    if digit(len) || !(1990..=2100).contains(&y) {
        return None;
    }
    NaiveDate::from_ymd_opt(y as i32, m, d)
}

/// Visible stamp candidates in document order. `h1_seq`: where the headline is (see
/// [`scan::Scan::h1_seq`]).
fn visible_candidates(
    blocks: &[scan::Block],
    order: DayOrder,
    h1_seq: Option<u32>,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for (bi, b) in blocks.iter().enumerate() {
        let weak = if b.weak { 2 } else { 0 };
        // Far below the headline, a date belongs to something else (a list of events, a
        // related story) unless nothing else dates the page.
        let far = h1_seq.is_some_and(|h| b.seq > h + FAR_H1_BLOCKS);
        let near = h1_seq.is_some_and(|h| {
            (b.seq >= h && b.seq <= h + NEAR_H1_BLOCKS) || (b.seq < h && b.seq + 2 >= h)
        });
        let mut labelled = false;
        if b.text.len() <= 300 {
            let lower = b.text.to_ascii_lowercase();
            let mut hits = labels::stamp_labels(&lower);
            if !hits.is_empty() && is_profile_or_clock(&b.text) {
                hits.clear();
            }
            // "Dec. 20, 2016, 12:44 PM UTC / Updated Dec. 20, 2016, 1:00 PM": the date before
            // an update label, with no label of its own, is the publication stamp.
            if let Some(first) = hits.first().filter(|h| h.kind == StampKind::Updated)
                && first.start > 0
                && let Some((v, _)) = datetime::parse_visible(&b.text[..first.start], order, false)
                    .filter(|(v, _)| v.year.is_some() && v.month != 0)
            {
                let attr = b
                    .times
                    .iter()
                    .find(|t| t.start < first.start)
                    .and_then(|t| t.datetime.as_deref())
                    .and_then(|s| parse_machine(s, order));
                out.push(Candidate {
                    kind: StampKind::Published,
                    vis: Some(v),
                    attr,
                    tier: weak,
                    order: bi * 64,
                    near,
                });
            }
            let mut last_date: Option<Visible> = None;
            for (k, h) in hits.iter().enumerate() {
                let seg_end = hits.get(k + 1).map_or(b.text.len(), |n| n.start);
                let seg = &b.text[h.end..seg_end];
                // "Datum" labels a stamp only as "Datum:" (prose says "mit dem Datum 1. Mai").
                if &lower[h.start..h.end] == "datum" && !seg.trim_start().starts_with(':') {
                    continue;
                }
                let attr = b
                    .times
                    .iter()
                    .find(|t| {
                        (t.start >= h.end && t.start < seg_end)
                            || (t.start <= h.start && t.end >= h.end)
                    })
                    .and_then(|t| t.datetime.as_deref())
                    .and_then(|s| parse_machine(s, order));
                let mut vis = datetime::parse_visible(seg, order, false).map(|(v, _)| v);
                if vis.is_none() && !lower.as_bytes()[h.start].is_ascii() {
                    // "2024年12月17日 15:23 更新": the label follows its stamp.
                    let from = if k == 0 { 0 } else { hits[k - 1].end };
                    let mut from = from.max(h.start.saturating_sub(60));
                    while !b.text.is_char_boundary(from) {
                        from += 1;
                    }
                    vis = datetime::find_date(&b.text[from..h.start], order)
                        .filter(|v| v.year.is_some());
                }
                if let Some(v) = vis {
                    if v.month == 0 {
                        // a time alone ("mis à jour à 15h23") takes the date before it
                        vis = last_date.map(|d| Visible {
                            time: v.time,
                            zone: v.zone.or(d.zone),
                            ..d
                        });
                    } else {
                        last_date = Some(v);
                    }
                }
                if vis.is_none() && attr.is_none() {
                    continue;
                }
                labelled = true;
                out.push(Candidate {
                    kind: h.kind,
                    vis,
                    attr,
                    tier: if far { weak.max(2) } else { weak },
                    order: bi * 64 + k,
                    near,
                });
            }
        }
        // "<dt>Datum</dt><dd>12.01.2017</dd>": a block that is only a label dates the next.
        if !labelled
            && b.text.len() <= 40
            && let Some(next) = blocks.get(bi + 1)
            && next.text.len() <= 80
            && let Some(kind) = lone_label(&b.text)
            && let Some((v, _)) = datetime::parse_visible(&next.text, order, false)
                .filter(|(v, _)| v.year.is_some() && v.month != 0)
        {
            labelled = true;
            out.push(Candidate {
                kind,
                vis: Some(v),
                attr: next
                    .times
                    .first()
                    .and_then(|t| t.datetime.as_deref())
                    .and_then(|s| parse_machine(s, order)),
                tier: if far { weak.max(2) } else { weak },
                order: bi * 64,
                near,
            });
        }
        if labelled {
            continue;
        }
        // A heading counts only when it opens with its date (a blog's "Samstag, 5. Oktober
        // 2013" date header, "27.01.2022 Mineralölinfo").
        if b.heading && !starts_with_date(&b.text, order) {
            continue;
        }
        for (k, t) in b.times.iter().enumerate() {
            let attr = t.datetime.as_deref().and_then(|s| parse_machine(s, order));
            let vis = b
                .text
                .get(t.start..t.end)
                .and_then(|s| datetime::parse_visible(s, order, false))
                .map(|(v, _)| v)
                .filter(|v| v.month != 0);
            if attr.is_none() && vis.is_none() {
                continue;
            }
            let weak = if far { weak.max(2) } else { weak };
            let kind = if t.published_hint == Some(false) {
                StampKind::Updated
            } else {
                StampKind::Published
            };
            out.push(Candidate {
                kind,
                vis,
                attr,
                tier: weak + 1,
                order: bi * 64 + 32 + k,
                near,
            });
        }
        if !b.times.is_empty() {
            continue;
        }
        let short = b.text.len() <= 160;
        if short && is_profile_or_clock(&b.text) {
            continue;
        }
        let weak = if far { weak.max(2) } else { weak };
        if b.dateish
            && short
            && let Some(v) = datetime::find_date(&b.text, order).filter(|v| v.year.is_some())
        {
            out.push(Candidate {
                kind: StampKind::Published,
                vis: Some(v),
                attr: None,
                tier: weak + 1,
                order: bi * 64 + 32,
                near,
            });
            continue;
        }
        // A bare date just after the headline ("Hamburg, 2. November 2021", "02.02.2022 –
        // Die Bundesliga ...") or in the line just above it: the article's, when no metadata
        // says otherwise.
        // Anywhere, a byline with its date ("Von Christian am 03.05.2013, 11:51") or a
        // post's closing sentence ("Dieser Beitrag wurde am 3. Dezember 2011 ...
        // veröffentlicht") is a last resort.
        if !near {
            if (short && is_byline(&b.text) || is_posted_sentence(prefix(&b.text, 200)))
                && let Some(v) =
                    datetime::find_date(prefix(&b.text, 200), order).filter(|v| v.year.is_some())
            {
                out.push(Candidate {
                    kind: StampKind::Published,
                    vis: Some(v),
                    attr: None,
                    tier: weak.max(2) + 1,
                    order: bi * 64 + 32,
                    near,
                });
            }
            continue;
        }
        let found = if short && (is_date_line(&b.text) || is_byline(&b.text))
            || is_posted_sentence(prefix(&b.text, 200))
        {
            datetime::find_date(prefix(&b.text, 200), order)
        } else if opens_with_date(&b.text, order) {
            datetime::parse_visible(prefix(&b.text, 80), order, false).map(|(v, _)| v)
        } else {
            None
        };
        if let Some(v) = found.filter(|v| v.year.is_some() && v.month != 0) {
            out.push(Candidate {
                kind: StampKind::Published,
                vis: Some(v),
                attr: None,
                tier: weak + 2,
                order: bi * 64 + 32,
                near,
            });
        }
    }
    out
}

/// A short line that is a date with a few words around it ("Hamburg, 2. November 2021",
/// "Handball Schweiz • 02.02.2022"), not a sentence that mentions one ("On 12 March 2023 the
/// council voted.").
fn is_date_line(text: &str) -> bool {
    let t = text.trim_end();
    if t.ends_with(['.', '!', '?']) && t[..t.len() - 1].ends_with(char::is_alphabetic) {
        return false;
    }
    let other = t
        .split_whitespace()
        .filter(|w| {
            let w = w.trim_matches(|c: char| !c.is_alphanumeric());
            !w.is_empty()
                && !w.chars().any(|c| c.is_ascii_digit())
                && !is_month_or_weekday(&w.to_lowercase())
                && !matches!(
                    w.to_lowercase().as_str(),
                    "am" | "um" | "uhr" | "on" | "at" | "vom" | "le" | "el" | "de" | "del" | "h"
                )
        })
        .count();
    other <= 4
}

/// The stamp kind a block names when its whole text is one label ("Datum", "Mise en ligne:",
/// "Published").
fn lone_label(text: &str) -> Option<StampKind> {
    let lower = text
        .trim()
        .trim_end_matches([':', ' '])
        .to_ascii_lowercase();
    let hits = labels::stamp_labels(&lower);
    match hits.as_slice() {
        [h] if h.start == 0 && h.end == lower.len() => Some(h.kind),
        _ => None,
    }
}

/// A user profile's dates ("Registriert: 18.09.2008", "Member since") or a clock ("Aktuelles
/// Datum und Uhrzeit"): never the article's.
fn is_profile_or_clock(text: &str) -> bool {
    // Every pattern has one of these letters pairs; most blocks have none, and skip the work.
    let head = prefix(text, 120);
    if !head.contains(['g', 'G', 'd', 'D', 'j', 'J', 't', 'T']) {
        return false;
    }
    let l = head.to_ascii_lowercase();
    [
        "registriert",
        "registered",
        "member since",
        "mitglied seit",
        "joined",
        "beigetreten",
        "aktuelles datum",
        "current date",
        "current time",
        "heute ist",
        "today is",
    ]
    .iter()
    .any(|p| l.contains(p))
}

/// A byline, which often carries the date ("Written by Jane Doe in Science on 1 June 2019").
fn is_byline(text: &str) -> bool {
    let l = prefix(text, 12).to_ascii_lowercase();
    [
        "by ",
        "von ",
        "par ",
        "por ",
        "written by",
        "posted by",
        "geschrieben",
    ]
    .iter()
    .any(|p| l.starts_with(p))
}

/// A post's sentence about its own publication: "Dieser Artikel wurde am 14. Dezember 2015 um
/// 14:48 veröffentlicht", "... wurde am 19. Mai 2010 gepostet".
fn is_posted_sentence(text: &str) -> bool {
    if !text.contains("wurde") {
        return false;
    }
    let l = text.to_lowercase();
    l.contains("wurde")
        && [
            "veröffentlicht",
            "gepostet",
            "geschrieben",
            "erstellt",
            "verfasst",
            "publiziert",
        ]
        .iter()
        .any(|v| l.contains(v))
}

/// Whether `text` starts with a full date set off from what follows ("27.1.2022 - Bei der
/// Erinnerung ...", "(18.01.2018) Deutschlands Landwirte ...").
fn opens_with_date(text: &str, order: DayOrder) -> bool {
    let t = text.trim_start_matches(['(', '[', ' ']);
    if !t.starts_with(|c: char| c.is_ascii_digit()) {
        return false;
    }
    match datetime::parse_visible(prefix(t, 60), order, false) {
        Some((v, end)) if v.year.is_some() && v.month != 0 => t[end..].trim_start().starts_with([
            '-', '–', '—', '|', ':', '/', ',', ')', ']', '•', '·', '.', '„', '"', '“', '«',
        ]),
        _ => false,
    }
}

/// Whether `text` opens with a full date (a few filler words, such as a weekday, allowed).
fn starts_with_date(text: &str, order: DayOrder) -> bool {
    datetime::parse_visible(prefix(text, 60), order, false)
        .is_some_and(|(v, _)| v.year.is_some() && v.month != 0)
}

/// The machine stamp's own reading; a UTC stamp is shown in the site's zone when one is set.
fn from_machine(m: &MachineStamp, ctx: &ZoneCtx) -> Timestamp {
    match (m.offset, m.utc()) {
        (Some(o), Some(utc))
            if o.local_minus_utc() == 0 && ctx.default_zone.is_some() && m.has_time =>
        {
            let z = ctx.default_zone.unwrap_or(Zone::Fixed(o));
            Timestamp::Zoned(z.at_utc(utc))
        }
        (Some(o), _) => Timestamp::Zoned(datetime::with_offset(m.wall, o)),
        _ => localize(m.wall, ctx),
    }
}

/// A wall-clock time given the page's zone, the site's, or none.
fn localize(wall: NaiveDateTime, ctx: &ZoneCtx) -> Timestamp {
    if let Some(z) = ctx.default_zone {
        return Timestamp::Zoned(z.localize(wall));
    }
    match ctx.page_offset.or(ctx.markup_offset) {
        Some(o) => Timestamp::Zoned(datetime::with_offset(wall, o)),
        None => Timestamp::Wall(wall),
    }
}

fn same_minute(a: NaiveDateTime, b: NaiveDateTime) -> bool {
    a.date() == b.date() && a.hour() == b.hour() && a.minute() == b.minute()
}

/// A `<time>` in UTC whose wall clock a zoned meta stamp repeats was local time marked "Z" by
/// the CMS: the meta stamp has the zone.
fn rezoned<'a>(m: &'a MachineStamp, metas: &'a [MachineStamp]) -> &'a MachineStamp {
    if !(m.is_utc() && m.has_time) {
        return m;
    }
    metas
        .iter()
        .find(|z| {
            z.has_time && z.offset.is_some_and(|o| o.local_minus_utc() != 0) && z.wall == m.wall
        })
        .unwrap_or(m)
}

/// Turns a visible candidate into a stamp, borrowing what the machine stamps can add.
fn resolve_candidate(
    c: &Candidate,
    metas: &[MachineStamp],
    ctx: &ZoneCtx,
    year_hint: Option<NaiveDate>,
) -> Option<Timestamp> {
    let Some(v) = c.vis else {
        return c
            .attr
            .as_ref()
            .map(|m| from_machine(rezoned(m, metas), ctx));
    };
    let date = match v.year {
        Some(y) => v.date_in(y)?,
        None => datetime::infer_year(v.month, v.day, year_hint?)?,
    };
    let all: Vec<&MachineStamp> = c.attr.iter().chain(metas).collect();
    let Some(time) = v.time else {
        // A date alone: take a machine stamp of the same day for the time.
        if let Some(m) = all
            .iter()
            .find(|m| m.has_time && from_machine(m, ctx).wall().date() == date)
        {
            return Some(from_machine(rezoned(m, metas), ctx));
        }
        let wall = date.and_time(chrono::NaiveTime::MIN);
        return Some(match v.zone {
            Some(z) => Timestamp::Zoned(z.localize(wall)),
            None => localize(wall, ctx),
        });
    };
    let mut wall = date.and_time(time);
    if wall.second() == 0 {
        // The page shows minutes; a machine stamp of the same local minute has the seconds.
        if let Some(m) = all.iter().find(|m| m.has_time && same_minute(m.wall, wall)) {
            wall = m.wall;
        }
    }
    if let Some(z) = v.zone {
        return Some(Timestamp::Zoned(z.localize(wall)));
    }
    for m in &all {
        if let Some(o) = m.offset.filter(|o| o.local_minus_utc() != 0)
            && m.has_time
            && same_minute(m.wall, wall)
        {
            return Some(Timestamp::Zoned(datetime::with_offset(m.wall, o)));
        }
    }
    if let Some(z) = ctx.default_zone {
        return Some(Timestamp::Zoned(z.localize(wall)));
    }
    if let Some(o) = ctx.page_offset.or(ctx.markup_offset) {
        return Some(Timestamp::Zoned(datetime::with_offset(wall, o)));
    }
    for m in &all {
        if m.is_utc() && m.has_time && same_minute(m.wall, wall) {
            return Some(Timestamp::Zoned(datetime::with_offset(
                m.wall,
                FixedOffset::east_opt(0)?,
            )));
        }
    }
    // A UTC machine stamp of the same instant tells the page's offset.
    for m in &all {
        if !(m.is_utc() && m.has_time) {
            continue;
        }
        let secs = (wall - m.wall).num_seconds() + m.wall.second() as i64 - wall.second() as i64;
        if secs % 900 == 0 && (-12 * 3600..=14 * 3600).contains(&secs) {
            let o = FixedOffset::east_opt(secs as i32)?;
            let wall = wall.with_second(m.wall.second()).unwrap_or(wall);
            return Some(Timestamp::Zoned(datetime::with_offset(wall, o)));
        }
    }
    Some(Timestamp::Wall(wall))
}

/// Revision notes in document order.
fn notes(
    blocks: &[scan::Block],
    order: DayOrder,
    base: Option<NaiveDate>,
    ctx: &ZoneCtx,
) -> Vec<RevisionNote> {
    let mut out: Vec<RevisionNote> = Vec::new();
    for b in blocks {
        if b.heading || b.link_bytes * 2 > b.text.len() || !labels::maybe_note(&b.text) {
            continue;
        }
        let lower = b.text.to_ascii_lowercase();
        let Some(ns) = labels::note_start(&b.text, &lower) else {
            continue;
        };
        if b.text.len() < 120 && is_just_a_stamp(&b.text, &lower, order) {
            continue;
        }
        if out.iter().any(|n| n.text == b.text) {
            continue;
        }
        let date = note_date(&b.text, &ns, order).and_then(|v| {
            let d = match v.year {
                Some(y) => v.date_in(y)?,
                None => datetime::infer_year(v.month, v.day, base?)?,
            };
            let wall = d.and_time(v.time.unwrap_or(chrono::NaiveTime::MIN));
            Some(match v.zone {
                Some(z) => Timestamp::Zoned(z.localize(wall)),
                None => localize(wall, ctx),
            })
        });
        out.push(RevisionNote {
            kind: ns.kind,
            text: b.text.clone(),
            date,
        });
    }
    out
}

/// "Updated: Tuesday, December 17, 2024 3:23 PM EST" is a stamp, not a note.
fn is_just_a_stamp(text: &str, lower: &str, order: DayOrder) -> bool {
    let hits = labels::stamp_labels(lower);
    let Some(h) = hits.first().filter(|h| h.start <= 2) else {
        return false;
    };
    match datetime::parse_visible(&text[h.end..], order, false) {
        Some((_, end)) => {
            let rest = &text[h.end + end..];
            rest.chars().filter(|c| c.is_alphabetic()).count() < 12
        }
        None => false,
    }
}

/// The date a note states for itself: in its head ("Update, Dec. 17:"), or after "on"
/// ("This article was amended on 18 December 2024 ...").
fn note_date(text: &str, ns: &labels::NoteStart, order: DayOrder) -> Option<Visible> {
    let rest = &text[ns.label_end.min(text.len())..];
    if ns.sentence {
        let window = prefix(rest, 160);
        if ns.label_end <= '※'.len_utf8() {
            return datetime::find_date(prefix(rest, 80), order);
        }
        let lw = window.to_ascii_lowercase();
        for marker in [" on ", " am ", " le ", " el ", " vom ", " du "] {
            if let Some(p) = lw.find(marker) {
                let after = &window[p + marker.len()..];
                if let Some((v, _)) =
                    datetime::parse_visible(after, order, true).filter(|(v, _)| v.month != 0)
                {
                    return Some(v);
                }
            }
        }
        return None;
    }
    // "Update, Dec. 17: ...", "Correction (18.12.2024): ...", "【訂正】2024年12月18日 ..."
    if let Some((v, _)) =
        datetime::parse_visible(prefix(rest, 90), order, true).filter(|(v, _)| v.month != 0)
    {
        return Some(v);
    }
    // "Correction, published in print on Dec. 18: ..."
    let window = prefix(rest, 70);
    let head = &window[..window.find(": ").or_else(|| window.find('：'))?];
    datetime::find_date(head, order)
}
