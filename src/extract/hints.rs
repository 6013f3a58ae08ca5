//! What an element's own markup says about it: class, id, role, itemprop, hidden-ness.
//!
//! Hints are generic web conventions (CMS class names, ARIA roles, schema.org), never names from
//! one site. Patterns are matched on lower-cased class/id text at word starts (after a separator
//! or at a camelCase hump), from first-byte buckets, in one pass per attribute, so pages with
//! thousands of classed elements stay cheap. Hints only mark; `content` decides what to drop.

use super::dom::{F_BOILER, F_COMMENTS, F_HIDDEN, F_LEDE, F_OVERLAY, F_STRONG_POS, Tag};
use scraper::node::Element;

pub(crate) struct Hints {
    pub flags: u16,
    pub weight: i16,
}

// Substrings that mark page furniture. Matching "comment" also catches "comments", "commentlist".
const BOILER: &[&str] = &[
    "comment",
    "disqus",
    "share",
    "sharing",
    "social",
    "related",
    "newsletter",
    "subscri",
    "cookie",
    "consent",
    "gdpr",
    "advert",
    "sponsor",
    "affiliate",
    "promo",
    "breadcrumb",
    "footer",
    "sidebar",
    "pagination",
    "popup",
    "modal",
    "navbar",
    "navigation",
    "menu",
    "masthead",
    "toolbar",
    "banner",
    "outbrain",
    "taboola",
    "recommend",
    "signup",
    "sign-up",
    "login",
    "byline",
    "tagcloud",
    "tag-cloud",
    "taglist",
    "tag-list",
    "post-tags",
    "article-tags",
    "keyword",
    "readmore",
    "read-more",
    "more-stories",
    "gallery",
    "morestories",
    "trending",
    "popular",
    "mostread",
    "most-read",
    "copyright",
    "disclaimer",
    "replies",
    "respond",
    "skip-link",
    "skiplink",
    "postmeta",
    "post-meta",
    "entry-meta",
    "article-meta",
    "meta-",
    "-meta",
    "author-bio",
    "authorbio",
    "about-author",
    "author-info",
    "shoutbox",
    "supplemental",
    "community",
    "donate",
    "overlay",
    "lightbox",
    "print-",
    "-print",
    "follow",
    "jump-to",
    "teaser-list",
    "skyscraper",
    "nav-",
    "-nav",
    "_nav",
    "nav_",
    "adsense",
    "adslot",
    "ad-slot",
    "ad-container",
    "ad-wrapper",
    "dfp",
    "paid-content",
    "you-may",
    "youmay",
    "also-like",
    "more-from",
    "morefrom",
    "dateline",
    "posted-on",
    "post-date",
    "entry-date",
    "breaking-news",
    "ticker",
    "headerbar",
    "topbar",
    "top-bar",
    "site-header",
    "siteheader",
    "page-header",
    "pageheader",
    "global-header",
];

// Whole class/id tokens (split on anything not a letter or digit) that mark furniture but are
// too short or too common to match as substrings ("ad" is inside "head", "tags" inside "hashtags").
fn boiler_token(t: &[u8]) -> bool {
    matches!(
        t,
        b"ad"
            | b"ads"
            | b"nav"
            | b"tags"
            | b"tag"
            | b"meta"
            | b"share"
            | b"print"
            | b"aside"
            | b"extra"
            | b"skip"
            | b"foot"
            | b"author"
            | b"date"
            | b"byline"
            | b"social"
            | b"sns"
            | b"rss"
            | b"feedback"
            | b"reply"
            | b"hide"
            | b"toc"
            | b"header"
            | b"timestamp"
            | b"time"
            | b"tools"
            | b"utility"
            | b"utilities"
            | b"actions"
            | b"cta"
            | b"credit"
            | b"credits"
            | b"caption"
            | b"signature"
            | b"more"
            | b"links"
            | b"linklist"
            | b"archive"
            | b"categories"
            | b"category"
            | b"breadcrumbs"
            | b"crumbs"
            | b"sitemap"
            | b"login"
            | b"logo"
            | b"masthead"
            | b"search"
            | b"rating"
            | b"ratings"
            | b"placeholder"
    )
}

fn hidden_token(t: &[u8]) -> bool {
    matches!(
        t,
        b"hidden"
            | b"sr-only"
            | b"screen-reader-text"
            | b"visually-hidden"
            | b"visuallyhidden"
            | b"offscreen"
            | b"invisible"
            | b"is-hidden"
            | b"d-none"
            | b"screenreader"
            | b"sr-text"
            | b"element-invisible"
    )
}

/// Class words of a standfirst: the summary paragraph between headline and body.
fn lede_token(t: &[u8]) -> bool {
    matches!(
        t,
        b"lead"
            | b"lede"
            | b"teaser"
            | b"intro"
            | b"excerpt"
            | b"abstract"
            | b"standfirst"
            | b"summary"
            | b"subtitle"
            | b"deck"
            | b"dek"
            | b"epigraph"
            | b"bajada"
            | b"entradilla"
            | b"copete"
            | b"chapo"
            | b"chapeau"
            | b"catenaccio"
            | b"vorspann"
            | b"perex"
            | b"ingress"
            | b"subheadline"
    )
}

const POSITIVE: &[&str] = &[
    "article", "body", "content", "entry", "hentry", "h-entry", "main", "page", "post", "text",
    "blog", "story",
];

const NEGATIVE: &[&str] = &[
    "hidden",
    "banner",
    "combx",
    "comment",
    "com-",
    "contact",
    "footer",
    "gdpr",
    "masthead",
    "media",
    "meta",
    "outbrain",
    "promo",
    "related",
    "scroll",
    "share",
    "shoutbox",
    "sidebar",
    "skyscraper",
    "sponsor",
    "shopping",
    "tags",
    "nav",
    "menu",
];

const COMMENTS: &[&str] = &["comment", "disqus", "respond", "replies"];

// Boxes laid over the page (a subtype of BOILER): however much text a cookie notice or a login
// dialog holds, it is never the frame of the story.
const OVERLAY: &[&str] = &[
    "modal", "popup", "flyout", "overlay", "lightbox", "cookie", "consent", "gdpr", "login",
    "signup", "sign-up",
];

/// Patterns bucketed by first byte, so a scan costs about one comparison per byte of input.
struct Matcher {
    buckets: Vec<Vec<&'static [u8]>>,
}

impl Matcher {
    fn new(pats: &[&'static str]) -> Matcher {
        let mut buckets = vec![Vec::new(); 256];
        for p in pats {
            buckets[p.as_bytes()[0] as usize].push(p.as_bytes());
        }
        Matcher { buckets }
    }

    fn find(&self, hay: &[u8]) -> bool {
        for i in 0..hay.len() {
            let rest = &hay[i..];
            for p in &self.buckets[hay[i] as usize] {
                if starts(rest, p) {
                    return true;
                }
            }
        }
        false
    }
}

// Pattern categories, found in one pass over a class/id value.
const C_BOILER: u8 = 1;
const C_POS: u8 = 2;
const C_NEG: u8 = 4;
const C_COMMENTS: u8 = 8;
const C_OVERLAY: u8 = 16;

/// All class/id patterns in first-byte buckets, each tagged with its categories.
struct AllPatterns {
    buckets: Vec<Vec<(&'static [u8], u8)>>,
}

impl AllPatterns {
    fn new() -> AllPatterns {
        let mut buckets: Vec<Vec<(&'static [u8], u8)>> = vec![Vec::new(); 256];
        for (list, cat) in [
            (BOILER, C_BOILER),
            (POSITIVE, C_POS),
            (NEGATIVE, C_NEG),
            (COMMENTS, C_COMMENTS),
            (OVERLAY, C_OVERLAY | C_BOILER),
        ] {
            for p in list {
                let b = &mut buckets[p.as_bytes()[0] as usize];
                match b.iter_mut().find(|(q, _)| *q == p.as_bytes()) {
                    Some(e) => e.1 |= cat,
                    None => b.push((p.as_bytes(), cat)),
                }
            }
        }
        AllPatterns { buckets }
    }

    /// Union of the categories of every pattern occurring in `hay`.
    fn scan(&self, hay: &[u8], at: &[bool]) -> u8 {
        let mut cats = 0;
        for i in 0..hay.len() {
            if !at[i] {
                continue;
            }
            let rest = &hay[i..];
            for (p, c) in &self.buckets[hay[i] as usize] {
                if cats & c != *c && starts(rest, p) {
                    cats |= c;
                }
            }
        }
        cats
    }
}

struct Matchers {
    all: AllPatterns,
    strong_tail_bad: Matcher,
}

fn matchers() -> &'static Matchers {
    static M: std::sync::OnceLock<Matchers> = std::sync::OnceLock::new();
    M.get_or_init(|| Matchers {
        all: AllPatterns::new(),
        strong_tail_bad: Matcher::new(&[
            "foot", "related", "meta", "share", "comment", "top", "header", "wrap-",
        ]),
    })
}

/// Byte-wise prefix test; short patterns make a library memcmp call slower than this loop.
#[inline]
fn starts(hay: &[u8], p: &[u8]) -> bool {
    if hay.len() < p.len() {
        return false;
    }
    let mut k = 0;
    while k < p.len() {
        if hay[k] != p[k] {
            return false;
        }
        k += 1;
    }
    true
}

/// Does any token (split on non-alphanumerics, and again on '-') satisfy `is_tok`?
fn any_token(hay: &[u8], is_tok: fn(&[u8]) -> bool) -> bool {
    hay.split(|b| !(b.is_ascii_alphanumeric() || *b == b'-'))
        .filter(|t| !t.is_empty())
        .any(|t| {
            is_tok(t)
                || (t.contains(&b'-')
                    && t.split(|b| *b == b'-').any(|u| !u.is_empty() && is_tok(u)))
        })
}

/// `article-body`, `post_content`, `entry-content`, `storytext`, `main-content`...
fn strong_positive(hay: &[u8], at: &[bool]) -> bool {
    const HEADS: &[&str] = &["article", "post", "entry", "story", "blog", "news", "main"];
    const TAILS: &[&str] = &["body", "content", "text", "copy"];
    for i in 0..hay.len() {
        if !at[i] || !matches!(hay[i], b'a' | b'p' | b'e' | b's' | b'b' | b'n' | b'm') {
            continue;
        }
        for h in HEADS {
            if starts(&hay[i..], h.as_bytes()) {
                let mut j = i + h.len();
                while j < hay.len() && matches!(hay[j], b'-' | b'_') {
                    j += 1;
                }
                if TAILS.iter().any(|t| starts(&hay[j..], t.as_bytes())) {
                    // "post-content-footer", "article-body-related" are still furniture.
                    return !matchers().strong_tail_bad.find(&hay[j..]);
                }
            }
        }
    }
    false
}

pub(crate) fn classify(e: &Element, tag: Tag) -> Hints {
    let mut flags = 0u16;
    let mut weight = 0i16;
    match tag {
        Tag::Nav => flags |= F_BOILER,
        Tag::Footer | Tag::Aside => flags |= F_BOILER,
        Tag::Header => weight -= 10,
        Tag::Article | Tag::Main => weight += 10,
        _ => {}
    }
    let mut buf = [0u8; 256];
    let m = matchers();
    for (name, value) in e.attrs() {
        match name {
            "class" | "id" => {
                let v = value.as_bytes();
                let n = v.len().min(buf.len());
                // Patterns are matched at word starts only: after a separator, at a camelCase
                // hump, or on a separator itself ("-nav"). That is both cheaper and stricter than
                // matching anywhere ("pager" inside "homepager" is not a pager).
                let mut starts_at = [false; 256];
                for i in 0..n {
                    buf[i] = v[i].to_ascii_lowercase();
                    starts_at[i] = i == 0
                        || !v[i - 1].is_ascii_alphanumeric()
                        || !v[i].is_ascii_alphanumeric()
                        || (v[i - 1].is_ascii_lowercase() && v[i].is_ascii_uppercase());
                }
                // A class "commentary" is an article's genre (opinion), not its comment
                // section ("with_commentary" on a reblog still is).
                let mut from = 0;
                while let Some(k) = buf[from..n].windows(10).position(|w| w == b"commentary") {
                    let (a, b) = (from + k, from + k + 10);
                    if (a == 0 || buf[a - 1].is_ascii_whitespace())
                        && (b == n || buf[b].is_ascii_whitespace())
                    {
                        buf[a..b].fill(b'_');
                    }
                    from = b;
                }
                let hay = &buf[..n];
                let starts_at = &starts_at[..n];
                if hay.is_empty() {
                    continue;
                }
                // Long ids are usually slugs of a heading ("sharing-with-a-single-developer"):
                // their words describe the text, not the page furniture.
                let slug =
                    name == "id" && hay.iter().filter(|&&b| b == b'-' || b == b'_').count() >= 3;
                let cats = m.all.scan(hay, starts_at);
                // "gdpr-main-content" is the cookie box's content, not the article's.
                let strong = cats & C_OVERLAY == 0 && strong_positive(hay, starts_at);
                if strong {
                    flags |= F_STRONG_POS;
                }
                if cats & C_POS != 0 {
                    weight += 25;
                }
                if !slug && cats & C_NEG != 0 {
                    weight -= 25;
                }
                // A blog post's own classes name its categories and tags ("hentry
                // category-news tag-sandy", WordPress's post_class): words, not furniture.
                let entry = name == "class"
                    && hay.split(|b| b.is_ascii_whitespace()).any(|t| {
                        matches!(t, b"hentry" | b"h-entry" | b"type-post" | b"status-publish")
                    });
                if !strong
                    && !slug
                    && !entry
                    && (cats & C_BOILER != 0
                        || any_token(hay, boiler_token)
                        || hay
                            .split(|b| b.is_ascii_whitespace())
                            .any(|t| matches!(t, b"widget" | b"widget-area" | b"sidebar")))
                {
                    flags |= F_BOILER;
                }
                if !slug && cats & C_COMMENTS != 0 {
                    flags |= F_COMMENTS;
                }
                if flags & F_BOILER != 0 && cats & C_OVERLAY != 0 {
                    flags |= F_OVERLAY;
                }
                if name == "class" && any_token(hay, lede_token) {
                    flags |= F_LEDE;
                }
                // Whole tokens only: "footer-top-hidden" on <body> says nothing about the body.
                if name == "class" && hay.split(|b| b.is_ascii_whitespace()).any(hidden_token) {
                    flags |= F_HIDDEN;
                }
            }
            "role" => match value.trim() {
                "navigation" | "banner" | "contentinfo" | "complementary" | "search" | "menu"
                | "menubar" | "toolbar" | "tablist" => flags |= F_BOILER,
                "dialog" | "alertdialog" => flags |= F_BOILER | F_OVERLAY,
                "main" | "article" => weight += 25,
                _ => {}
            },
            "itemprop" if (value.contains("articleBody") || value.trim() == "text") => {
                flags |= F_STRONG_POS;
            }
            "itemprop" if value.trim() == "description" => flags |= F_LEDE,
            "hidden" => flags |= F_HIDDEN,
            "aria-hidden" if value.trim() == "true" => flags |= F_HIDDEN,
            "style" => {
                let v = value.as_bytes();
                if contains_nows(v, b"display:none") || contains_nows(v, b"visibility:hidden") {
                    flags |= F_HIDDEN;
                }
            }
            _ => {}
        }
    }
    if flags & F_STRONG_POS != 0 {
        flags &= !(F_BOILER | F_OVERLAY);
        weight += 25;
    }
    if matches!(tag, Tag::Body | Tag::Html) {
        flags &= !(F_BOILER | F_COMMENTS | F_HIDDEN | F_OVERLAY);
    }
    if matches!(tag, Tag::Article | Tag::Main) {
        flags &= !(F_BOILER | F_COMMENTS | F_OVERLAY);
    }
    Hints { flags, weight }
}

/// Case-insensitive substring test that ignores whitespace in `hay` ("display: none").
fn contains_nows(hay: &[u8], needle: &[u8]) -> bool {
    let mut j = 0;
    for &b in hay {
        if b.is_ascii_whitespace() {
            continue;
        }
        if b.to_ascii_lowercase() == needle[j] {
            j += 1;
            if j == needle.len() {
                return true;
            }
        } else {
            j = usize::from(b.to_ascii_lowercase() == needle[0]);
        }
    }
    false
}
