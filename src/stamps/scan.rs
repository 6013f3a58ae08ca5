//! One iterative pass over the parsed page that gathers everything the stamp logic looks at:
//! the page language, date meta tags, JSON-LD script text, `<time>` elements and the short text
//! blocks that may hold a visible stamp or a revision note.
//!
//! Guarantees: no recursion (the walk follows first-child / next-sibling / parent links and keeps
//! context flags on a heap stack, so 100,000 nested elements are fine), text read is capped at [`MAX_TEXT`] bytes per page
//! and [`MAX_BLOCK`] per block, and regions that are noise for stamps (sidebars, most-read lists,
//! comments, page footers, cookie notices, header clocks, widgets) are marked as such.

use scraper::{ElementRef, Html, Node};

use super::{datetime, labels};

/// Text bytes read per page; the rest of a huge page is not looked at.
const MAX_TEXT: usize = 1 << 20;
/// Text bytes kept per block.
const MAX_BLOCK: usize = 6000;
/// Blocks kept per page.
const MAX_BLOCKS: usize = 4000;
/// JSON-LD bytes kept per page.
const MAX_JSONLD: usize = 512 * 1024;

/// A `<time>` element inside a block.
#[derive(Debug, Clone)]
pub(crate) struct TimeEl {
    /// Byte range of its text in the block text.
    pub start: usize,
    pub end: usize,
    pub datetime: Option<String>,
    /// From `itemprop`, `class` or `pubdate`: `Some(true)` published, `Some(false)` modified.
    pub published_hint: Option<bool>,
}

/// A run of text between block-level boundaries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Block {
    pub text: String,
    pub heading: bool,
    /// Before the first `<h1>` and outside `<article>`/`<main>`, or in a site header.
    pub weak: bool,
    /// Inside an element whose class or id says date, time, byline, ...
    pub dateish: bool,
    pub link_bytes: usize,
    pub times: Vec<TimeEl>,
    /// Position among the blocks read, counting those later dropped as noise.
    pub seq: u32,
    /// Which noise region the block is in (0: none).
    region: u32,
}

/// Which stamp a meta tag carries, with its rank (lower wins).
#[derive(Debug, Clone)]
pub(crate) struct MetaDate {
    pub published: bool,
    pub rank: u8,
    pub value: String,
}

#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub lang: Option<String>,
    /// [`Block::seq`] of the first block at or after the first `<h1>` outside noise.
    pub h1_seq: Option<u32>,
    pub metas: Vec<MetaDate>,
    pub jsonld: Vec<String>,
    pub blocks: Vec<Block>,
}

const F_NOISE: u16 = 1;
const F_HEADING: u16 = 2;
const F_ARTICLE: u16 = 4;
const F_DATEISH: u16 = 8;
const F_SKIP: u16 = 16;
const F_LINK: u16 = 32;
const F_WEAK: u16 = 64;
const F_LDJSON: u16 = 128;
const F_TIME: u16 = 256;
const F_COMMENT: u16 = 512;
/// Not inherited: the element is block-level (checked again when it closes).
const F_BLOCK: u16 = 1024;

fn meta_rank(key: &str) -> Option<(bool, u8)> {
    Some(match key {
        "article:published_time" => (true, 0),
        "og:published_time" | "og:article:published_time" => (true, 1),
        "article:published" | "article.published" => (true, 2),
        "datepublished" => (true, 3),
        "parsely-pub-date" => (true, 4),
        "sailthru.date" => (true, 5),
        "dcterms.issued" | "dc.date.issued" => (true, 6),
        "dcterms.created" | "dc.date.created" => (true, 7),
        "dc.date" | "dcterms.date" | "dc:date" => (true, 8),
        "uploaddate" => (true, 8),
        "pubdate"
        | "publishdate"
        | "publish-date"
        | "publish_date"
        | "publication_date"
        | "date"
        | "article_date_original"
        | "original-publish-date"
        | "bt:pubdate" => (true, 9),
        "article:modified_time" => (false, 0),
        "og:updated_time" | "og:modified_time" => (false, 1),
        "article:modified" | "article.updated" => (false, 2),
        "datemodified" => (false, 3),
        "dcterms.modified" | "dc.date.modified" => (false, 6),
        "last-modified" | "lastmod" | "bt:moddate" | "revised" => (false, 9),
        _ => return None,
    })
}

/// What a `class` or `id` value says about its element.
#[derive(Default)]
struct Said {
    /// Furniture, by a word other than a sidebar's.
    noise: bool,
    /// A sidebar ("c-sidebar__inner", "layoutTwoColumnsRightSidebar").
    sidebar: bool,
    /// A layout word ("layout", "wrap", "container", "site", "row"...): with "sidebar" it
    /// describes the page's columns, not a sidebar.
    layout: bool,
    /// Share buttons ("share-wrapper"); beside an author or byline word ("ShareByline",
    /// "author-share") they are the byline's, and the byline is no furniture.
    share: bool,
    byline: bool,
    dateish: bool,
    comment: bool,
}

/// What a `class` or `id` value says about its element.
///
/// Works on words (split at punctuation and camelCase humps, lower-cased, plural "s" dropped), so
/// "c-sidebar__inner", "articleComments" and "most-read" match while "has-sidebar" does not.
fn classify_attr(value: &str) -> Said {
    let mut said = Said::default();
    let (mut noise, mut dateish, mut comment) = (false, false, false);
    let (mut widget, mut blog) = (false, false);
    let mut prev = [0u8; 16];
    let mut prev_len = 0usize;
    let mut buf = [0u8; 16];
    let mut len = 0usize;
    let mut overflow = false;
    let bytes = value.as_bytes();
    for i in 0..=bytes.len() {
        let b = bytes.get(i).copied();
        let boundary = match b {
            None => true,
            Some(c) if !c.is_ascii_alphanumeric() => true,
            // camelCase hump: "articleComments"
            Some(c) => c.is_ascii_uppercase() && len > 0 && buf[len - 1].is_ascii_lowercase(),
        };
        if boundary && (len > 0 || overflow) {
            if overflow {
                prev_len = 0;
            } else {
                let mut w = &buf[..len];
                if w.len() > 3 && w.ends_with(b"s") {
                    w = &w[..w.len() - 1];
                }
                let p = &prev[..prev_len];
                let negated = matches!(p, b"has" | b"with" | b"no" | b"show" | b"hide");
                if !negated && is_noise_word(p, w) {
                    // Blogger's posts live in a "widget Blog": only other words make it noise.
                    if w == b"widget" {
                        widget = true;
                    } else if matches!(w, b"sidebar" | b"rail") || (p, w) == (b"side", b"bar") {
                        said.sidebar = true;
                    } else if matches!(w, b"share" | b"sharing" | b"social") {
                        said.share = true;
                    } else {
                        noise = true;
                    }
                    comment |=
                        matches!(w, b"comment" | b"reply" | b"replie" | b"disqu" | b"respond");
                }
                blog |= w == b"blog";
                said.byline |= matches!(w, b"author" | b"byline" | b"autor");
                said.layout |= matches!(
                    w,
                    b"layout"
                        | b"wrap"
                        | b"wrapper"
                        | b"mainwrap"
                        | b"container"
                        | b"site"
                        | b"main"
                        | b"column"
                        | b"row"
                        | b"grid"
                        | b"single"
                        | b"page"
                );
                if is_date_word(w) {
                    dateish = true;
                }
                prev[..w.len()].copy_from_slice(w);
                prev_len = w.len();
            }
            len = 0;
            overflow = false;
        }
        if let Some(c) = b.filter(u8::is_ascii_alphanumeric) {
            if len < buf.len() {
                buf[len] = c.to_ascii_lowercase();
                len += 1;
            } else {
                overflow = true;
            }
        }
    }
    said.noise = noise || (widget && !blog);
    said.dateish = dateish;
    said.comment = comment;
    said
}

fn is_noise_word(prev: &[u8], w: &[u8]) -> bool {
    matches!(
        w,
        b"sidebar"
            | b"popular"
            | b"trending"
            | b"related"
            | b"comment"
            | b"widget"
            | b"cookie"
            | b"consent"
            | b"gdpr"
            | b"copyright"
            | b"clock"
            | b"weather"
            | b"newsletter"
            | b"ticker"
            | b"breadcrumb"
            | b"share"
            | b"sharing"
            | b"social"
            | b"promo"
            | b"advert"
            | b"advertisement"
            | b"outbrain"
            | b"taboola"
            | b"disqu"
            | b"reply"
            | b"replie"
            | b"rail"
            | b"navbar"
            | b"nav"
            | b"navigation"
            | b"menu"
            | b"subscribe"
            | b"subscription"
            | b"masthead"
            | b"topbar"
            | b"today"
            | b"pick"
            | b"mostread"
            | b"mostpopular"
            | b"recommend"
            | b"recommended"
            | b"recommendation"
            | b"latest"
            | b"ranking"
            | b"gnb"
            | b"lnb"
            | b"sitemap"
            | b"ad"
            | b"embed"
            | b"credit"
            | b"caption"
            | b"instagram"
            | b"tweet"
    ) || (w == b"footer"
        && !matches!(
            prev,
            b"post" | b"entry" | b"article" | b"story" | b"asset" | b"blog"
        ))
        || matches!(
            (prev, w),
            (
                b"most",
                b"read" | b"popular" | b"viewed" | b"shared" | b"commented"
            ) | (b"top", b"storie" | b"bar" | b"new")
                | (b"more", b"storie" | b"from" | b"new")
                | (b"also", b"read")
                | (b"read", b"more" | b"next")
                | (b"side", b"bar")
                | (b"editor" | b"editors", b"pick" | b"choice")
                | (b"you", b"may")
        )
}

fn is_date_word(w: &[u8]) -> bool {
    matches!(
        w,
        b"date"
            | b"time"
            | b"byline"
            | b"publish"
            | b"published"
            | b"posted"
            | b"dateline"
            | b"timestamp"
            | b"stamp"
            | b"updated"
            | b"modified"
            | b"meta"
            | b"info"
            | b"pubdate"
            | b"datetime"
            | b"fecha"
            | b"datum"
            | b"data"
            | b"stand"
            | b"pub"
    ) || w.starts_with(b"date")
        || w.ends_with(b"date")
}

fn is_block_tag(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "li"
            | "ul"
            | "ol"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "aside"
            | "nav"
            | "main"
            | "blockquote"
            | "dd"
            | "dt"
            | "dl"
            | "figure"
            | "figcaption"
            | "table"
            | "tr"
            | "td"
            | "th"
            | "tbody"
            | "thead"
            | "form"
            | "address"
            | "pre"
            | "hr"
            | "details"
            | "summary"
            | "caption"
            | "center"
            | "dialog"
            | "fieldset"
            | "body"
            | "html"
            | "select"
            | "button"
            | "option"
    )
}

struct Walker {
    out: Scan,
    cur: Block,
    cur_flags: Option<u16>,
    cur_region: u32,
    text_budget: usize,
    ld_budget: usize,
    seen_h1: bool,
    /// The noise region holding the first `<h1>`, and whether some `<h1>` sits outside noise.
    h1_region: Option<u32>,
    clean_h1: bool,
    /// Where the first `<h1>` in noise is, and, on pages without `<h1>`, the first heading
    /// that says it is the title (`itemprop=headline`, "post-title"...).
    noisy_h1_seq: Option<u32>,
    title_seq: Option<u32>,
    /// And, failing both, the first `<h2>`.
    first_h2_seq: Option<u32>,
    regions: u32,
    /// Blocks flushed so far (see [`Block::seq`]).
    seq: u32,
    /// The current block is prose: its text is no longer kept.
    prose: bool,
    /// Context flags and noise region of the open elements; the root context is at index 0.
    stack: Vec<(u16, u32)>,
    ld_buf: String,
}

impl Walker {
    fn flush(&mut self) {
        let flags = self.cur_flags.take();
        let mut b = std::mem::take(&mut self.cur);
        let prose = std::mem::replace(&mut self.prose, false);
        let Some(flags) = flags else { return };
        // Prose is dropped, unless it opens with a date ("(18.01.2018) Landwirte ...").
        if prose
            && b.times.is_empty()
            && !b
                .text
                .trim_start_matches([' ', '(', '['])
                .starts_with(|c: char| c.is_ascii_digit())
        {
            return;
        }
        if self.out.blocks.len() >= MAX_BLOCKS {
            return;
        }
        b.region = self.cur_region;
        // Trim while keeping <time> offsets valid.
        let lead = b.text.len() - b.text.trim_start().len();
        if lead > 0 {
            b.text.drain(..lead);
            for t in &mut b.times {
                t.start = t.start.saturating_sub(lead);
                t.end = t.end.saturating_sub(lead);
            }
        }
        let trimmed = b.text.trim_end().len();
        b.text.truncate(trimmed);
        // A <time> at the end of the block ended in the trailing space just cut.
        for t in &mut b.times {
            t.end = t.end.min(trimmed);
            t.start = t.start.min(t.end);
        }
        if b.text.is_empty() {
            return;
        }
        let digits =
            b.text.bytes().any(|c| c.is_ascii_digit()) || b.text.contains(['０', '１', '２']);
        let stamp_like = digits && b.text.len() <= 400;
        if !stamp_like && b.times.is_empty() && !labels::maybe_note(&b.text) {
            return;
        }
        b.heading = flags & F_HEADING != 0;
        b.seq = self.seq;
        self.seq += 1;
        b.weak = flags & F_WEAK != 0 || (!self.seen_h1 && flags & F_ARTICLE == 0);
        self.out.blocks.push(b);
    }

    fn push_text(&mut self, text: &str, flags: u16, region: u32) {
        if self.text_budget == 0 || self.prose {
            return;
        }
        if self.cur_flags.is_none() {
            if text.trim().is_empty() {
                return;
            }
            self.cur_flags = Some(flags);
            self.cur_region = region;
        }
        if flags & F_DATEISH != 0 {
            self.cur.dateish = true;
        }
        let room = MAX_BLOCK
            .saturating_sub(self.cur.text.len())
            .min(self.text_budget);
        let before = self.cur.text.len();
        append_collapsed(&mut self.cur.text, text, room);
        let added = self.cur.text.len() - before;
        self.text_budget = self
            .text_budget
            .saturating_sub(text.len().min(room).max(added));
        if flags & F_LINK != 0 {
            self.cur.link_bytes += added;
        }
        // A long block without a <time> is prose unless it opens a revision note: nothing
        // past its start is read, so paragraphs of story cost one look each.
        if self.cur.text.len() > PROSE_AFTER && self.cur.times.is_empty() {
            let head = &self.cur.text[..floor_boundary(&self.cur.text, PROSE_AFTER)];
            if labels::note_start(head, &head.to_ascii_lowercase()).is_none() {
                self.prose = true;
            }
        }
    }
}

/// Bytes of a block read before it is judged prose.
const PROSE_AFTER: usize = 400;

/// The largest char boundary of `s` at or below `n`.
fn floor_boundary(s: &str, n: usize) -> usize {
    let mut n = n.min(s.len());
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    n
}

/// Width in bytes of a whitespace character starting at `b[i]` (ASCII, NBSP, U+2000..U+200A,
/// U+202F, U+3000), or 0.
fn space_len(b: &[u8], i: usize) -> usize {
    match b[i] {
        b' ' | b'\n' | b'\t' | b'\r' | 0x0c => 1,
        0xC2 if b.get(i + 1) == Some(&0xA0) => 2,
        0xE2 if b.get(i + 1) == Some(&0x80)
            && b.get(i + 2)
                .is_some_and(|&c| (0x80..=0x8A).contains(&c) || c == 0xAF) =>
        {
            3
        }
        0xE3 if b.get(i + 1) == Some(&0x80) && b.get(i + 2) == Some(&0x80) => 3,
        _ => 0,
    }
}

/// Appends `text` with whitespace runs collapsed to one space, at most `room` bytes.
fn append_collapsed(out: &mut String, text: &str, room: usize) {
    let b = text.as_bytes();
    let limit = out.len() + room;
    let mut last_space = out.is_empty() || out.ends_with(' ');
    let mut i = 0;
    let mut run = 0; // start of the pending run of non-space bytes
    while i < b.len() {
        let n = space_len(b, i);
        if n == 0 {
            i += 1;
            continue;
        }
        if run < i {
            push_capped(out, &text[run..i], limit);
            last_space = false;
        }
        if !last_space {
            out.push(' ');
            last_space = true;
        }
        i += n;
        run = i;
        if out.len() >= limit {
            return;
        }
    }
    if run < b.len() {
        push_capped(out, &text[run..], limit);
    }
}

fn push_capped(out: &mut String, s: &str, limit: usize) {
    let mut end = s.len().min(limit.saturating_sub(out.len()));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(&s[..end]);
}

/// Walks `doc` once, in document order, without recursion.
pub(crate) fn scan(doc: &Html) -> Scan {
    let mut w = Walker {
        out: Scan::default(),
        cur: Block::default(),
        cur_flags: None,
        cur_region: 0,
        text_budget: MAX_TEXT,
        ld_budget: MAX_JSONLD,
        seen_h1: false,
        h1_region: None,
        clean_h1: false,
        noisy_h1_seq: None,
        title_seq: None,
        first_h2_seq: None,
        regions: 0,
        seq: 0,
        prose: false,
        stack: vec![(0, 0)],
        ld_buf: String::new(),
    };
    let root = doc.tree.root();
    let mut node = root;
    'walk: loop {
        match node.value() {
            Node::Element(_) => {
                if let Some(el) = ElementRef::wrap(node) {
                    w.open(el);
                }
            }
            Node::Text(t) => w.text(t),
            _ => {}
        }
        if let Some(child) = node.first_child() {
            node = child;
            continue;
        }
        loop {
            if let Some(el) = ElementRef::wrap(node) {
                w.close(el);
            }
            if node.id() == root.id() {
                break 'walk;
            }
            if let Some(next) = node.next_sibling() {
                node = next;
                break;
            }
            match node.parent() {
                Some(p) => node = p,
                None => break 'walk,
            }
        }
    }
    w.flush();
    // A page whose only headline sits in a "noise" region (an <aside> used as the article) has
    // its content there.
    let keep = if w.clean_h1 { None } else { w.h1_region };
    if w.out.h1_seq.is_none() {
        w.out.h1_seq = w.noisy_h1_seq.or(w.title_seq).or(w.first_h2_seq);
    }
    w.out
        .blocks
        .retain(|b| b.region == 0 || Some(b.region) == keep);
    // Positions count the blocks kept, so furniture between two blocks does not part them.
    if let Some(h) = w.out.h1_seq {
        w.out.h1_seq = Some(w.out.blocks.iter().filter(|b| b.seq < h).count() as u32);
    }
    for (k, b) in w.out.blocks.iter_mut().enumerate() {
        b.seq = k as u32;
    }
    w.out
}

impl Walker {
    fn open(&mut self, el: ElementRef<'_>) {
        let el = el.value();
        let name = el.name();
        let (parent, parent_region) = *self.stack.last().unwrap_or(&(0, 0));
        let mut f = parent & !(F_LDJSON | F_TIME | F_BLOCK);
        if is_block_tag(name) {
            self.flush();
            f |= F_BLOCK;
        }
        // One pass over the attributes (looking each up by name costs an atom per call).
        let (mut class, mut id, mut role, mut itemprop, mut content, mut datetime) =
            (None, None, None, None, None, None);
        let (mut key, mut lang, mut ty, mut pubdate) = (None, None, None, false);
        let (mut title, mut data_dt) = (None, None);
        for (k, v) in el.attrs() {
            match k {
                "class" => class = Some(v),
                "id" => id = Some(v),
                "role" => role = Some(v),
                "itemprop" => itemprop = Some(v),
                "content" => content = Some(v),
                "datetime" => datetime = Some(v),
                "property" => key = Some(v),
                "name" | "http-equiv" if key.is_none() => key = Some(v),
                "lang" | "xml:lang" => lang = Some(v),
                "type" => ty = Some(v),
                "pubdate" => pubdate = true,
                "title" => title = Some(v),
                "data-published" | "data-datetime" | "data-publish-date" | "data-date" => {
                    data_dt = Some(v)
                }
                _ => {}
            }
        }
        match name {
            "html" => {
                if let Some(l) = lang.map(str::trim).filter(|l| !l.is_empty()) {
                    self.out.lang = Some(l.to_owned());
                }
            }
            "meta" => {
                if let (Some(k), Some(content)) = (key.or(itemprop), content) {
                    let k = k.trim().to_ascii_lowercase();
                    if let Some((published, rank)) = meta_rank(&k) {
                        if self.out.metas.len() < 64 {
                            self.out.metas.push(MetaDate {
                                published,
                                rank,
                                value: content.trim().to_owned(),
                            });
                        }
                    } else if matches!(k.as_str(), "content-language" | "og:locale" | "language")
                        && self.out.lang.is_none()
                    {
                        self.out.lang = Some(content.trim().replace('_', "-"));
                    }
                }
            }
            "script" => {
                f |= F_SKIP;
                if ty.is_some_and(|t| t.contains("ld+json")) {
                    f |= F_LDJSON;
                }
            }
            "style" | "title" | "noscript" | "template" | "svg" | "iframe" | "textarea"
            | "select" | "button" | "object" | "canvas" | "math" => f |= F_SKIP,
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => f |= F_HEADING,
            "article" | "main" => f |= F_ARTICLE,
            // Captions date their photos, not the article.
            "aside" | "nav" | "footer" | "dialog" | "menu" | "figcaption" => f |= F_NOISE,
            "header" if parent & F_ARTICLE == 0 => f |= F_WEAK,
            "a" => f |= F_LINK,
            "time" => f |= F_TIME | F_DATEISH,
            _ => {}
        }
        match role {
            Some("main" | "article") => f |= F_ARTICLE,
            Some("complementary" | "navigation" | "contentinfo" | "dialog" | "alert") => {
                f |= F_NOISE
            }
            Some("banner") if parent & F_ARTICLE == 0 => f |= F_WEAK,
            _ => {}
        }
        let structural = matches!(name, "html" | "body" | "main" | "article");
        let mut classes_say = None;
        // Inside furniture, once the headline is known, what classes say changes nothing.
        let settled = parent & F_NOISE != 0 && self.clean_h1;
        let (mut sidebar, mut layout, mut share, mut byline) = (false, false, false, false);
        for attr in [class, id].into_iter().flatten().filter(|_| !settled) {
            let said = classify_attr(attr);
            share |= said.share;
            byline |= said.byline;
            if said.noise && !structural {
                f |= F_NOISE;
            }
            if said.comment && !structural {
                f |= F_COMMENT;
            }
            if said.dateish {
                f |= F_DATEISH;
            }
            sidebar |= said.sidebar;
            layout |= said.layout;
        }
        if ((sidebar && !layout) || (share && !byline)) && !structural {
            f |= F_NOISE;
        }
        // Machine stamps in the body: microdata (`itemprop=datePublished` on any element, the
        // value in `content`, `datetime` or `title`), RDFa (`property` with `content`) and hAtom
        // (`class="published"` with an ISO `title`). Those in comments are the comments'; those
        // in other furniture rank below the head's.
        if name != "meta" && f & F_COMMENT == 0 && self.out.metas.len() < 64 {
            let rank_in = |r: u8| if f & F_NOISE != 0 { r.max(8) + 1 } else { r };
            if let Some(ip @ ("datePublished" | "dateModified")) = itemprop
                && let Some(v) = content.or(datetime).or(data_dt).or(title)
            {
                classes_say = Some((ip == "datePublished", rank_in(3), v));
            } else if let (Some(k), Some(v)) = (key, content) {
                let k = k.trim().to_ascii_lowercase();
                let k = k.strip_prefix("schema:").unwrap_or(&k);
                let ranked = match k {
                    "datecreated" | "dc:created" | "dcterms:created" => Some((true, 7)),
                    _ => meta_rank(k),
                };
                if let Some((published, rank)) = ranked {
                    classes_say = Some((published, rank_in(rank), v));
                }
            } else if let (Some(c), Some(t)) = (class, title)
                && name != "time"
                && datetime::parse_iso(t).is_some_and(|m| m.has_time)
            {
                let mut words = c.split_ascii_whitespace();
                if let Some(w) = words.find(|w| matches!(*w, "published" | "updated")) {
                    classes_say = Some((w == "published", rank_in(4), t));
                }
            }
        }
        if let Some((published, rank, v)) = classes_say {
            self.out.metas.push(MetaDate {
                published,
                rank,
                value: v.trim().to_owned(),
            });
        }
        match itemprop {
            Some("articleBody") => f |= F_ARTICLE,
            Some("datePublished" | "dateModified") => f |= F_DATEISH,
            _ => {}
        }
        let mut region = parent_region;
        if f & F_NOISE != 0 && parent & F_NOISE == 0 {
            self.regions += 1;
            region = self.regions;
        }
        if name == "time" && f & F_SKIP == 0 {
            if self.cur_flags.is_none() {
                self.cur_flags = Some(f);
                self.cur_region = region;
            }
            let published_hint = match itemprop {
                Some("datePublished") => Some(true),
                Some("dateModified") => Some(false),
                _ => {
                    // WordPress marks the first stamp "entry-date published updated".
                    let c = class.unwrap_or("").to_ascii_lowercase();
                    if c.contains("publish") || c.contains("created") || pubdate {
                        Some(true)
                    } else if c.contains("updat") || c.contains("modif") {
                        Some(false)
                    } else {
                        None
                    }
                }
            };
            if !self.cur.text.is_empty() && !self.cur.text.ends_with(' ') {
                self.cur.text.push(' ');
            }
            let start = self.cur.text.len();
            if self.cur.times.len() < 16 {
                self.cur.times.push(TimeEl {
                    start,
                    end: start,
                    datetime: datetime.or(data_dt).map(|s| s.trim().to_owned()),
                    published_hint,
                });
            }
        }
        if name == "br" && self.cur_flags.is_some() && !self.cur.text.ends_with(' ') {
            self.cur.text.push(' ');
        }
        if matches!(name, "h2" | "h3")
            && self.title_seq.is_none()
            && f & (F_SKIP | F_NOISE) == 0
            && (itemprop.is_some_and(|p| p == "headline" || p == "name")
                || class.is_some_and(|c| {
                    let c = c.to_ascii_lowercase();
                    c.contains("title") || c.contains("headline")
                }))
        {
            self.title_seq = Some(self.seq);
        }
        if name == "h2" && self.first_h2_seq.is_none() && f & (F_SKIP | F_NOISE) == 0 {
            self.first_h2_seq = Some(self.seq);
        }
        if name == "h1" && f & F_SKIP == 0 {
            self.seen_h1 = true;
            if f & F_NOISE == 0 {
                self.clean_h1 = true;
                if self.out.h1_seq.is_none() {
                    self.out.h1_seq = Some(self.seq);
                }
            } else if self.h1_region.is_none() {
                self.h1_region = Some(region);
                self.noisy_h1_seq = Some(self.seq);
            }
        }
        self.stack.push((f, region));
    }

    fn text(&mut self, t: &scraper::node::Text) {
        let (f, region) = *self.stack.last().unwrap_or(&(0, 0));
        if f & F_LDJSON != 0 {
            let mut take = t.len().min(self.ld_budget);
            while !t.is_char_boundary(take) {
                take -= 1;
            }
            self.ld_buf.push_str(&t[..take]);
            self.ld_budget -= take;
        } else if f & F_SKIP == 0 {
            if f & F_NOISE != 0 && self.clean_h1 {
                return;
            }
            // Noise text is only worth reading while it may turn out to hold the headline.
            self.push_text(t, f, region);
        }
    }

    fn close(&mut self, el: ElementRef<'_>) {
        let (f, _) = self.stack.pop().unwrap_or((0, 0));
        if f & F_LDJSON != 0 && !self.ld_buf.is_empty() {
            self.out.jsonld.push(std::mem::take(&mut self.ld_buf));
        }
        if f & F_TIME != 0 && f & F_SKIP == 0 && el.value().name() == "time" {
            let len = self.cur.text.len();
            if let Some(t) = self.cur.times.last_mut() {
                t.end = len;
            }
            if self.cur_flags.is_some() && !self.cur.text.ends_with(' ') {
                self.cur.text.push(' ');
            }
        }
        if f & F_BLOCK != 0 {
            self.flush();
        }
    }
}
