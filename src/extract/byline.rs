//! Bylines: who wrote the article, as plain names.
//!
//! Where names come from, in the order they are trusted:
//! 1. the visible byline: the first one after the headline, outside comments, sidebars, teaser
//!    lists and other furniture. It is found by its markup (`itemprop=author`, `rel=author`, an
//!    hCard `fn`, a link to an author page such as `/author/…`, `/autor/…`, `/auteur/…`, a class
//!    or id naming the author or byline) or by its wording ("By …", "Von …", "Par …", "Por …",
//!    "… 기자"). Names inside one byline (one small block) belong together.
//! 2. structured data: the article's JSON-LD `author` (Person first, `@graph` references
//!    resolved), microdata `itemprop=author` metadata, then meta tags (`article:author`, `author`,
//!    `byl`, Dublin Core, Parse.ly, Sailthru ...), skipping URLs.
//! 3. a byline before the headline, then an author box ("About the author").
//!
//! Every raw byline goes through [`clean`]: furniture ("View all posts by", "Zeige alle Beiträge
//! von"), prefixes ("By", "Von", "Text:"), roles ("Staff Writer", "Local Democracy Reporter"),
//! datelines and dates are cut, "A and B" / "A, B" are split, and what cannot be a name is
//! dropped. The publisher (the site's name, the JSON-LD publisher, the host) is dropped unless it
//! is the only credit. Names are deduplicated ignoring case and spacing.
//!
//! Cost: one pass over the flat DOM, reading each element's attributes once; text is read only
//! for the few short elements that look like bylines. Never recurses, never panics.

use url::Url;

use super::dom::{Dom, F_HAS_BLOCK, F_HIDDEN, NONE, Tag};
use super::meta::collapse;

/// Context flags inherited by a node's subtree.
const X_NOISE: u8 = 1; // comments, sidebars, related lists, navigation, share bars, site footer
const X_BIO: u8 = 2; // an author box ("about the author")
const X_VCARD: u8 = 4; // inside an hCard: its `fn` is a name
const X_TAKEN: u8 = 8; // inside an element already taken as a byline
const X_ARTICLE: u8 = 16; // inside <article>/<main>
const X_SOFT: u8 = 32; // a small <aside>: only explicit author markup counts there

/// A byline text longer than this is prose, not a byline.
const MAX_BYLINE_CHARS: u32 = 250;
/// Candidates looked at per page.
const MAX_CANDIDATES: usize = 64;
/// Bytes of JSON-LD parsed per page.
const MAX_JSONLD: usize = 512 * 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Markup says this element holds just a name (itemprop, rel, hCard `fn`, an author link,
    /// a class such as "author-name").
    Name,
    /// A class or id says this element is the byline ("byline", "author").
    Container,
    /// A short block whose text starts with "By", "Von", ...; the names follow the prefix.
    Prefix,
}

#[derive(Clone, Copy, Debug)]
struct Cand {
    node: u32,
    /// The smallest enclosing block that holds the whole byline: candidates sharing it are one byline.
    group: u32,
    kind: Kind,
    bio: bool,
}

/// What the page's structured data says.
#[derive(Default, Debug)]
struct Structured {
    ld_persons: Vec<String>,
    ld_orgs: Vec<String>,
    /// Meta tag values by rank (lower first).
    metas: Vec<(u8, String)>,
    /// Names of the site and its publisher.
    publishers: Vec<String>,
}

/// The article's authors; see the module docs for the order of sources.
pub(crate) fn find(dom: &Dom, page_url: Option<&Url>) -> Vec<String> {
    let n = dom.nodes.len();
    let mut ctx = vec![0u8; n];
    let mut cands: Vec<Cand> = Vec::new();
    let mut st = Structured::default();
    let mut ld_budget = MAX_JSONLD;
    let mut first_h1 = NONE;
    // The first paragraph of prose after the headline: where the story starts.
    let mut first_para = NONE;
    let body_chars = dom.nodes[dom.body as usize].chars;
    for i in 0..n {
        let node = &dom.nodes[i];
        let parent_ctx = if node.parent == NONE {
            0
        } else {
            ctx[node.parent as usize]
        };
        let mut c = parent_ctx;
        if node.tag == Tag::Text {
            ctx[i] = c;
            if c & (X_NOISE | X_TAKEN | X_SOFT) == 0
                && node.flags & F_HIDDEN == 0
                && cands.len() < MAX_CANDIDATES
                && has_prefix(node.text)
                && let Some(block) = block_of(dom, i as u32)
                && dom.nodes[block as usize].chars <= MAX_BYLINE_CHARS
            {
                cands.push(Cand {
                    node: block,
                    group: group_of(dom, block),
                    kind: Kind::Prefix,
                    bio: c & X_BIO != 0,
                });
            }
            continue;
        }
        let Some(el) = node.el else {
            ctx[i] = c;
            continue;
        };
        // Inside furniture nothing is a candidate: only metadata elements are worth reading.
        if c & X_NOISE != 0 && node.tag != Tag::Junk {
            ctx[i] = c;
            continue;
        }
        let e = el.value();
        let (mut class, mut id, mut itemprop, mut rel, mut href) = (None, None, None, None, None);
        let (mut key, mut content, mut ty, mut role) = (None, None, None, None);
        for (k, v) in e.attrs() {
            match k {
                "class" => class = Some(v),
                "id" => id = Some(v),
                "itemprop" => itemprop = Some(v),
                "rel" => rel = Some(v),
                "href" => href = Some(v),
                "property" => key = Some(v),
                "name" if key.is_none() => key = Some(v),
                "content" => content = Some(v),
                "type" => ty = Some(v),
                "role" => role = Some(v),
                _ => {}
            }
        }
        match e.name() {
            "meta" => {
                if let Some(content) = content {
                    meta_tag(&mut st, key, itemprop, content);
                }
                ctx[i] = c;
                continue;
            }
            "script" => {
                if ty.is_some_and(|t| t.contains("ld+json")) && ld_budget > 0 {
                    let text: String = el.text().collect();
                    ld_budget = ld_budget.saturating_sub(text.len());
                    // Only scripts that credit someone are worth a full parse.
                    if text.contains("\"author\"") || text.contains("\"creator\"") {
                        jsonld(&text, &mut st);
                    }
                }
                ctx[i] = c;
                continue;
            }
            _ => {}
        }
        if node.tag == Tag::Junk || node.tag == Tag::Head {
            ctx[i] = c | X_NOISE;
            continue;
        }
        match node.tag {
            Tag::Article | Tag::Main => c |= X_ARTICLE,
            // The Guardian and others put the byline in a small <aside> beside the headline.
            Tag::Aside if node.chars <= MAX_BYLINE_CHARS => c |= X_SOFT,
            Tag::Aside | Tag::Nav | Tag::Form => c |= X_NOISE,
            Tag::Footer if c & X_ARTICLE == 0 => c |= X_NOISE,
            _ => {}
        }
        match role {
            Some("main" | "article") => c |= X_ARTICLE,
            Some("complementary" | "navigation" | "contentinfo" | "search" | "dialog") => {
                c |= X_NOISE
            }
            _ => {}
        }
        let mut words = Words::default();
        for v in [class, id].into_iter().flatten() {
            words.read(v);
        }
        // Page-wide classes ("single-post has-sidebar", "content right-sidebar") describe the
        // layout, not the element: a wrapper holding most of the page's prose is not furniture.
        let wrapper = matches!(node.tag, Tag::Body | Tag::Html | Tag::Main | Tag::Article)
            || (node.paras >= 3 && node.chars * 4 > body_chars);
        let noise = words.noise || (words.widget && !words.blog) || (words.share && !words.author);
        if words.comments || (noise && !wrapper) {
            c |= X_NOISE;
        }
        if words.vcard {
            c |= X_VCARD;
        }
        if node.tag == Tag::H1 && first_h1 == NONE && c & X_NOISE == 0 {
            first_h1 = i as u32;
        }
        if first_h1 != NONE
            && first_para == NONE
            && matches!(node.tag, Tag::P | Tag::Div)
            && node.inline_chars >= 150
            && c & X_NOISE == 0
        {
            first_para = i as u32;
        }
        let prop_author = itemprop.is_some_and(|p| {
            p.split_whitespace()
                .any(|t| t.eq_ignore_ascii_case("author") || t.eq_ignore_ascii_case("creator"))
        });
        let rel_author = node.tag == Tag::A
            && rel.is_some_and(|r| {
                r.split_whitespace()
                    .any(|t| t.eq_ignore_ascii_case("author"))
            });
        let link_author = node.tag == Tag::A && href.is_some_and(is_author_href);
        let fn_in_vcard = words.fn_ && parent_ctx & X_VCARD != 0;
        let class_author = words.author && !words.not_name && !words.bio;
        if words.author && words.bio {
            c |= X_BIO;
        }
        let kind = if prop_author
            || rel_author
            || link_author
            || fn_in_vcard
            || (class_author
                && (words.name || !node.tag.is_block())
                && node.chars <= 60
                && node.flags & F_HAS_BLOCK == 0)
        {
            Some(Kind::Name)
        } else if class_author {
            Some(Kind::Container)
        } else {
            None
        };
        let blocked = c & (X_NOISE | X_TAKEN) != 0
            || node.flags & F_HIDDEN != 0
            || (c & X_SOFT != 0 && !(prop_author || rel_author || link_author));
        if let Some(kind) = kind
            && !blocked
            && node.chars > 0
            && node.chars
                <= if kind == Kind::Name {
                    80
                } else {
                    MAX_BYLINE_CHARS
                }
            && cands.len() < MAX_CANDIDATES
        {
            cands.push(Cand {
                node: i as u32,
                group: group_of(dom, i as u32),
                kind,
                bio: c & X_BIO != 0,
            });
            if kind == Kind::Name {
                c |= X_TAKEN;
            }
        }
        ctx[i] = c;
    }
    choose(dom, &cands, (first_h1, first_para), &st, page_url)
}

/// One byline on the page: the candidates sharing a group, with their names.
struct Group {
    /// After the headline (or the page has none).
    after_h1: bool,
    /// In an author box, and not before the story starts.
    bio: bool,
    /// The most explicit markup among its members.
    kind: Kind,
    names: Vec<String>,
}

/// Picks the byline: see the module docs.
fn choose(
    dom: &Dom,
    cands: &[Cand],
    marks: (u32, u32),
    st: &Structured,
    page_url: Option<&Url>,
) -> Vec<String> {
    let (first_h1, first_para) = marks;
    let mut groups: Vec<Group> = Vec::new();
    let mut seen: Vec<u32> = Vec::new();
    for c in cands {
        if seen.contains(&c.group) {
            continue;
        }
        seen.push(c.group);
        let members: Vec<&Cand> = cands.iter().filter(|m| m.group == c.group).collect();
        let mut names = Vec::new();
        let mut kind = Kind::Prefix;
        for k in [Kind::Name, Kind::Container, Kind::Prefix] {
            for m in members.iter().filter(|m| m.kind == k) {
                let found = match k {
                    Kind::Name => markup_texts(dom, m.node)
                        .iter()
                        .flat_map(|t| clean(t))
                        .collect(),
                    // A byline container's first line that names someone: what follows
                    // is its furniture (buttons, roles, biographies).
                    Kind::Container => container_names(&text_of(dom, m.node)),
                    Kind::Prefix => clean_prefixed(&text_of(dom, m.node)),
                };
                for name in found {
                    push_name(&mut names, name);
                }
            }
            if !names.is_empty() {
                kind = k;
                break;
            }
        }
        // Initials on an avatar ("LP") beside the full names are not another author.
        if names.iter().any(|n| n.chars().count() > 3) {
            names.retain(|n| n.chars().count() > 2);
        }
        if names.is_empty() {
            continue;
        }
        let early = first_para == NONE || c.node < first_para;
        groups.push(Group {
            after_h1: first_h1 == NONE || c.node > first_h1,
            bio: members.iter().all(|m| m.bio) && !early,
            kind,
            names,
        });
    }
    let (structured, trusted) = if !st.ld_persons.is_empty() {
        let trusted = st.ld_persons.iter().all(|n| looks_like_person(n));
        (st.ld_persons.clone(), trusted)
    } else if let Some(best) = st.metas.iter().map(|(r, _)| *r).min() {
        let mut out = Vec::new();
        for (_, v) in st.metas.iter().filter(|(r, _)| *r == best) {
            // "hessenschau.de, Frankfurt, Germany": a site and its address, no one's name.
            if v.split([',', ' ']).any(is_domain) {
                continue;
            }
            for name in clean(v) {
                push_name(&mut out, name);
            }
        }
        let trusted = best <= 3 && out.iter().all(|n| looks_like_person(n));
        (out, trusted)
    } else {
        (st.ld_orgs.clone(), false)
    };
    let keys: Vec<String> = structured.iter().map(|n| norm(n)).collect();
    let agrees = |g: &Group| g.names.iter().any(|n| keys.contains(&norm(n)));
    let primary = groups.iter().find(|g| g.after_h1 && !g.bio);
    let names = match primary {
        Some(g) if structured.is_empty() || agrees(g) => g.names.clone(),
        Some(g) if !trusted => g.names.clone(),
        Some(g) => match groups.iter().find(|g| agrees(g)) {
            Some(other) => other.names.clone(),
            // Structured data naming a person beats a byline found by its class or wording.
            None if g.kind != Kind::Name => structured,
            None => g.names.clone(),
        },
        None if !structured.is_empty() => structured,
        None => groups
            .iter()
            .find(|g| !g.bio)
            .or(groups.first())
            .map(|g| g.names.clone())
            .unwrap_or_default(),
    };
    drop_publishers(names, st, page_url)
}

/// A person's name as structured data writes it: two to four capitalised words, no handle,
/// domain or digits.
fn looks_like_person(n: &str) -> bool {
    let words: Vec<&str> = n.split_whitespace().collect();
    (2..=4).contains(&words.len())
        && !n.contains(['_', '@', '/', '–', '|'])
        && !n.chars().any(|c| c.is_ascii_digit())
        && !n.ends_with(['.'])
        && words
            .iter()
            .all(|w| is_particle(w) || w.chars().next().is_some_and(|c| c.is_uppercase()))
}

/// Names in a byline container: its first line that names someone, and lines joined to it by
/// "and" ("David Brand" / "and" / "Ramsey Khalifeh"); what follows is its furniture.
fn container_names(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let Some(first) = lines.iter().position(|l| !names_in(l, false).is_empty()) else {
        return Vec::new();
    };
    let mut out = names_in(lines[first], false);
    let mut k = first + 1;
    while k + 1 < lines.len()
        && matches!(
            lines[k].to_lowercase().as_str(),
            "and" | "und" | "&" | "," | "et" | "y" | "e"
        )
    {
        out.extend(names_in(lines[k + 1], false));
        k += 2;
    }
    out
}

/// The publisher is not an author, unless nothing else is credited.
fn drop_publishers(names: Vec<String>, st: &Structured, page_url: Option<&Url>) -> Vec<String> {
    let mut pubs: Vec<String> = st.publishers.iter().map(|p| norm(p)).collect();
    if let Some(host) = page_url.and_then(|u| u.host_str()) {
        let host = host.trim_start_matches("www.");
        pubs.push(norm(host));
        // "edition.cnn.com" → "cnn": the registrable label.
        let labels: Vec<&str> = host.split('.').collect();
        if labels.len() >= 2 {
            pubs.push(norm(labels[labels.len() - 2]));
        }
    }
    pubs.retain(|p| p.len() >= 2);
    let is_pub = |n: &str| {
        let k = norm(n);
        pubs.contains(&k) || is_company(n) || n.to_lowercase().ends_with(" staff")
    };
    if names.iter().all(|n| is_pub(n)) {
        return names;
    }
    names.into_iter().filter(|n| !is_pub(n)).collect()
}

/// "Frankfurter Allgemeine Zeitung GmbH", "Prisma Média SAS": a company, not a writer.
fn is_company(n: &str) -> bool {
    let last = n.split_whitespace().last().unwrap_or("");
    matches!(
        last.trim_end_matches('.').to_lowercase().as_str(),
        "gmbh"
            | "ag"
            | "inc"
            | "ltd"
            | "llc"
            | "sa"
            | "sas"
            | "sarl"
            | "plc"
            | "corp"
            | "kg"
            | "e.v"
    )
}

fn push_name(out: &mut Vec<String>, name: String) {
    let k = norm(&name);
    if k.is_empty() || out.iter().any(|o| norm(o) == k) {
        return;
    }
    out.push(name);
}

/// Lower-cased letters and digits only: the key names are compared by.
fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The nearest block-level element holding node `i` (itself if it is one).
fn block_of(dom: &Dom, i: u32) -> Option<u32> {
    let mut j = dom.nodes[i as usize].parent;
    for _ in 0..8 {
        if j == NONE {
            return None;
        }
        let n = &dom.nodes[j as usize];
        if n.tag.is_block() {
            return Some(j);
        }
        j = n.parent;
    }
    None
}

/// The largest ancestor-or-self of `i` that is still byline-sized: the whole byline, so names
/// split over sibling elements ("By <a>A</a> and <a>B</a>") stay together.
fn group_of(dom: &Dom, i: u32) -> u32 {
    let mut g = i;
    for _ in 0..6 {
        let p = dom.nodes[g as usize].parent;
        if p == NONE {
            break;
        }
        let pn = &dom.nodes[p as usize];
        if pn.chars > MAX_BYLINE_CHARS
            || matches!(
                pn.tag,
                Tag::Body | Tag::Html | Tag::Article | Tag::Main | Tag::Document
            )
        {
            break;
        }
        g = p;
    }
    g
}

/// The texts of an element holding a name: its `itemprop=name` parts when it has them, else its
/// own text; each on one line (a name split over elements is one name).
fn markup_texts(dom: &Dom, i: u32) -> Vec<String> {
    let flat = |t: String| t.replace('\n', " ");
    let end = dom.nodes[i as usize].end;
    let mut out = Vec::new();
    let mut j = i + 1;
    while j < end && out.len() < 12 {
        let n = &dom.nodes[j as usize];
        if let Some(el) = n.el
            && el
                .value()
                .attr("itemprop")
                .is_some_and(|p| p.split_whitespace().any(|t| t == "name"))
        {
            match el.value().attr("content") {
                Some(c) => out.push(c.to_owned()),
                None => out.push(flat(text_of(dom, j))),
            }
            j = n.end.max(j + 1);
            continue;
        }
        j += 1;
    }
    if out.iter().all(|t| t.trim().is_empty()) {
        return vec![flat(text_of(dom, i))];
    }
    out
}

/// Visible text of node `i`: a line break at block boundaries, a space between elements.
fn text_of(dom: &Dom, i: u32) -> String {
    let n = &dom.nodes[i as usize];
    let mut s = String::new();
    // Ends of the open elements, and whether each is a block.
    let mut open: Vec<(u32, bool)> = Vec::new();
    for j in i + 1..n.end {
        while let Some(&(e, block)) = open.last()
            && e <= j
        {
            open.pop();
            s.push(if block { '\n' } else { ' ' });
        }
        let c = &dom.nodes[j as usize];
        if c.flags & F_HIDDEN != 0 {
            continue;
        }
        match c.tag {
            Tag::Text => {
                // Line breaks in the source are spaces; only markup breaks lines.
                for (k, part) in c.text.split(['\n', '\r', '\t']).enumerate() {
                    if k > 0 {
                        s.push(' ');
                    }
                    s.push_str(part);
                }
            }
            Tag::Junk => {}
            Tag::Br => s.push('\n'),
            t => {
                let block = t.is_block();
                s.push(if block { '\n' } else { ' ' });
                if c.end > j + 1 {
                    open.push((c.end, block));
                }
            }
        }
        if s.len() > 2000 {
            break;
        }
    }
    s
}

/// Words of class and id values, and what they say about the element.
#[derive(Default)]
struct Words {
    author: bool,
    /// A word "name": the element holds just the name ("author-name", "byline__name").
    name: bool,
    bio: bool,
    not_name: bool,
    noise: bool,
    comments: bool,
    /// "widget", unless it is Blogger's "widget Blog" that holds the posts.
    widget: bool,
    /// Share buttons, unless beside the byline ("ShareByline", "author-share").
    share: bool,
    blog: bool,
    vcard: bool,
    fn_: bool,
}

impl Words {
    /// Reads one class or id value: words split at punctuation and camelCase humps.
    fn read(&mut self, v: &str) {
        let b = v.as_bytes();
        let mut start = 0;
        let mut prev = [0u8; 24];
        let mut prev_len = 0;
        let mut buf = [0u8; 24];
        for i in 0..=b.len() {
            let boundary = match b.get(i) {
                None => true,
                Some(c) if !c.is_ascii_alphanumeric() => true,
                Some(c) => c.is_ascii_uppercase() && i > start && b[i - 1].is_ascii_lowercase(),
            };
            if !boundary {
                continue;
            }
            let len = i.saturating_sub(start);
            if len > 0 && len <= buf.len() {
                let w = &mut buf[..len];
                w.copy_from_slice(&b[start..i]);
                w.make_ascii_lowercase();
                self.word(&prev[..prev_len], w);
                prev[..len].copy_from_slice(w);
                prev_len = len;
            } else if len > 0 {
                prev_len = 0;
            }
            start = if b.get(i).is_some_and(|c| c.is_ascii_alphanumeric()) {
                i
            } else {
                i + 1
            };
        }
    }

    fn word(&mut self, prev: &[u8], w: &[u8]) {
        if matches!(prev, b"has" | b"with" | b"no" | b"hide" | b"show") {
            return;
        }
        match w {
            b"author" | b"authors" | b"byline" | b"bylines" | b"byl" | b"writer" | b"writers"
            | b"autor" | b"autoren" | b"autorin" | b"auteur" | b"auteurs" | b"autore"
            | b"autori" | b"verfasser" | b"creator" | b"journalist" | b"reporter" | b"byauthor"
            | b"postauthor" | b"postedby" | b"submitted" => self.author = true,
            b"authorname" | b"bylinename" | b"writername" | b"username" => {
                self.author = true;
                self.name = true;
            }
            b"by" if prev == b"posted" => self.author = true,
            b"vcard" | b"hcard" => self.vcard = true,
            b"fn" => self.fn_ = true,
            b"bio" | b"biography" | b"box" | b"description" | b"desc" | b"info" | b"details"
            | b"profile" | b"card" => self.bio = true,
            b"about" => self.bio = true,
            b"avatar" | b"image" | b"img" | b"photo" | b"pic" | b"picture" | b"thumb"
            | b"thumbnail" | b"social" | b"follow" | b"twitter" | b"facebook" | b"email"
            | b"mail" | b"count" | b"date" | b"time" | b"label" | b"title" | b"job" | b"role"
            | b"position" | b"icon" | b"more" | b"list" | b"group" | b"meta" | b"handle"
            | b"notice" | b"tag" | b"tags" | b"category" | b"categories" => self.not_name = true,
            b"comment" | b"comments" | b"respond" | b"reply" | b"replies" | b"disqus" => {
                self.comments = true
            }
            b"widget" => self.widget = true,
            b"share" => self.share = true,
            b"blog" => self.blog = true,
            b"sidebar" | b"related" | b"recommended" | b"recommendations" | b"recommend"
            | b"popular" | b"trending" | b"mostread" | b"teaser" | b"teasers" | b"breadcrumb"
            | b"breadcrumbs" | b"navigation" | b"navbar" | b"nav" | b"menu" | b"sharing"
            | b"newsletter" | b"outbrain" | b"taboola" | b"promo" | b"masthead" | b"cookie"
            | b"consent" | b"signup" | b"sitemap" | b"ad" | b"ads" | b"advert"
            | b"advertisement" | b"recirc" | b"summary" => self.noise = true,
            b"read" | b"viewed" | b"popularposts" if prev == b"most" => self.noise = true,
            b"posts" | b"articles" | b"stories" | b"news" if prev == b"related" => {
                self.noise = true
            }
            _ => {}
        }
        if w == b"footer" && !matches!(prev, b"post" | b"entry" | b"article" | b"story") {
            self.noise = true;
        }
        if w == b"name" || w == b"fn" {
            self.name = true;
        }
        if matches!(prev, b"comment" | b"comments") && w == b"author" {
            self.comments = true;
        }
    }
}

/// Author pages: `/author/jane-doe`, `/autor/…`, `/auteur/…`, `/authors/…`, `?author=3`.
fn is_author_href(href: &str) -> bool {
    let h = href.as_bytes();
    if h.len() > 300 {
        return false;
    }
    let lower = href.to_ascii_lowercase();
    for seg in [
        "/author/",
        "/authors/",
        "/autor/",
        "/autoren/",
        "/autorin/",
        "/auteur/",
        "/auteurs/",
        "/autore/",
        "/autori/",
        "/journalist/",
        "/journalisten/",
        "/journalists/",
        "/writer/",
        "/writers/",
        "/contributor/",
        "/contributors/",
        "/columnist/",
        "/columnists/",
        "/byline/",
        "/reporter/",
        "/reporters/",
        "/redakteur/",
        "/profile/author/",
    ] {
        if lower.contains(seg) {
            return true;
        }
    }
    lower.contains("?author=") || lower.contains("&author=")
}

/// Meta tags naming the author, ranked (lower wins); site names feed the publisher list.
fn meta_tag(st: &mut Structured, key: Option<&str>, itemprop: Option<&str>, content: &str) {
    let content = content.trim();
    if content.is_empty() || content.len() > 300 {
        return;
    }
    let key = key.or(itemprop).unwrap_or("").trim().to_ascii_lowercase();
    let rank = match key.as_str() {
        "article:author" | "og:article:author" => 0,
        "author" | "byl" => 1,
        "dc.creator" | "dcterms.creator" | "dc:creator" | "citation_author" => 2,
        "parsely-author" | "sailthru.author" | "book:author" => 3,
        k if k.ends_with("author_name") => 4,
        "og:site_name" | "application-name" | "publisher" | "dc.publisher" | "copyright" => {
            if st.publishers.len() < 16 && key != "copyright" {
                st.publishers.push(content.to_owned());
            }
            return;
        }
        _ => return,
    };
    if looks_like_url(content) || st.metas.len() >= 32 {
        return;
    }
    st.metas.push((rank, content.to_owned()));
}

/// "hessenschau.de", "www.example.com": a host name.
fn is_domain(w: &str) -> bool {
    let w = w.trim();
    let Some((head, tld)) = w.rsplit_once('.') else {
        return false;
    };
    !head.is_empty()
        && (2..=6).contains(&tld.len())
        && tld.bytes().all(|b| b.is_ascii_lowercase())
        && head
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
}

fn looks_like_url(s: &str) -> bool {
    s.contains("://") || s.starts_with("www.") || s.starts_with('/')
}

/// Authors and publishers from one JSON-LD script.
fn jsonld(text: &str, st: &mut Structured) {
    use serde_json::Value;
    let Some(v) = super::meta::parse_json_ld(text) else {
        return;
    };
    // Nested objects are reached only through `author`.
    let items = super::meta::json_ld_items(&v);
    let by_id = |id: &str| -> Option<&Value> {
        items
            .iter()
            .copied()
            .find(|i| i.get("@id").and_then(Value::as_str) == Some(id) && i.get("name").is_some())
    };
    let type_has = |v: &Value, words: &[&str]| -> bool {
        let t = match v.get("@type") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        };
        words.iter().any(|w| t.contains(w))
    };
    let mut best: Option<(u8, Vec<String>, Vec<String>)> = None;
    for it in &items {
        if let Some(p) = it.get("publisher") {
            let p = p
                .get("@id")
                .and_then(Value::as_str)
                .and_then(by_id)
                .unwrap_or(p);
            if let Some(n) = p.get("name").and_then(Value::as_str) {
                st.publishers.push(n.to_owned());
            }
        }
        if type_has(it, &["WebSite", "Organization", "NewsMediaOrganization"])
            && !type_has(it, &["Person"])
            && let Some(n) = it.get("name").and_then(Value::as_str)
        {
            st.publishers.push(n.to_owned());
        }
        let rank = if type_has(it, &["Article", "Posting", "Report"]) {
            0
        } else if type_has(
            it,
            &["WebPage", "CreativeWork", "Review", "Recipe", "Video"],
        ) {
            1
        } else {
            continue;
        };
        if best.as_ref().is_some_and(|b| b.0 <= rank) {
            continue;
        }
        let Some(a) = it.get("author").or_else(|| it.get("creator")) else {
            continue;
        };
        let list: Vec<&Value> = match a {
            Value::Array(x) => x.iter().collect(),
            x => vec![x],
        };
        let (mut persons, mut orgs) = (Vec::new(), Vec::new());
        for x in list.into_iter().take(20) {
            let x = x
                .get("@id")
                .and_then(Value::as_str)
                .and_then(by_id)
                .unwrap_or(x);
            let (name, org) = match x {
                Value::String(s) => (Some(s.as_str()), false),
                Value::Object(_) => (
                    x.get("name").and_then(|n| match n {
                        Value::String(s) => Some(s.as_str()),
                        Value::Array(a) => a.first().and_then(Value::as_str),
                        _ => None,
                    }),
                    type_has(x, &["Organization"]) && !type_has(x, &["Person"]),
                ),
                _ => (None, false),
            };
            let Some(name) = name.filter(|n| !looks_like_url(n)) else {
                continue;
            };
            for n in clean(name) {
                if org {
                    push_name(&mut orgs, n);
                } else {
                    push_name(&mut persons, n);
                }
            }
        }
        if !persons.is_empty() || !orgs.is_empty() {
            best = Some((rank, persons, orgs));
        }
    }
    if let Some((_, persons, orgs)) = best
        && st.ld_persons.is_empty()
        && st.ld_orgs.is_empty()
    {
        st.ld_persons = persons;
        st.ld_orgs = orgs;
    }
}

/// Phrases that introduce a name: furniture first (longest), then plain prefixes. Matched
/// ignoring case at the start of a segment; a name must follow.
const LEADS: &[&str] = &[
    "view all posts by",
    "view all articles by",
    "view all stories by",
    "see all posts by",
    "see all articles by",
    "see all stories by",
    "show all articles of",
    "show all articles by",
    "show all posts by",
    "all posts by",
    "all articles by",
    "all stories by",
    "more posts by",
    "more articles by",
    "more stories by",
    "more from",
    "more by",
    "read more from",
    "read more by",
    "posts by",
    "articles by",
    "stories by",
    "zeige alle beiträge von",
    "zeige alle artikel von",
    "alle beiträge von",
    "alle artikel von",
    "weitere artikel von",
    "weitere beiträge von",
    "mehr artikel von",
    "mehr von",
    "voir tous les articles de",
    "voir tous les articles par",
    "tous les articles de",
    "tous les articles par",
    "ver todos los artículos de",
    "todos los artículos de",
    "más artículos de",
    "written by",
    "posted by",
    "published by",
    "words by",
    "text by",
    "reported by",
    "story by",
    "article by",
    "compiled by",
    "geschrieben von",
    "verfasst von",
    "ein beitrag von",
    "ein artikel von",
    "ein gastbeitrag von",
    "eingestellt von",
    "erstellt von",
    "veröffentlicht von",
    "gepostet von",
    "gespeichert von",
    "pressemitteilung von",
    "vom",
    "submitted by",
    "artikel von",
    "beitrag von",
    "publié par",
    "écrit par",
    "rédigé par",
    "escrito por",
    "publicado por",
    "redactado por",
    "scritto da",
    "pubblicato da",
    "by",
    "von",
    "par",
    "por",
    "door",
    "di",
    "av",
    "af",
];

/// Labels that introduce a name only with a colon: "Text: Jane Doe", "Autorin: …".
const LABELS: &[&str] = &[
    "text",
    "texte",
    "autor",
    "autorin",
    "autoren",
    "autor/in",
    "autor*in",
    "author",
    "authors",
    "auteur",
    "auteurs",
    "autore",
    "autora",
    "autores",
    "redakteur",
    "redakteurin",
    "reporter",
    "journalist",
    "verfasser",
    "verfasserin",
    "redaktion",
    "interview",
    "written by",
    "posted by",
    "by",
    "von",
    "par",
    "por",
    "作者",
    "责任编辑",
    "编辑",
    "记者",
    "著者",
    "筆者",
    "記者",
    "執筆",
    "撰文",
    "文",
];

/// [`LABELS`] and [`LEADS`] that start with `first`, in their order.
fn phrases_starting_with(first: char) -> (&'static [&'static str], &'static [&'static str]) {
    type Table = Vec<(char, Vec<&'static str>, Vec<&'static str>)>;
    static TABLE: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t: Table = Vec::new();
        for (list, which) in [(LABELS, 0), (LEADS, 1)] {
            for l in list {
                let c = l.chars().next().unwrap_or(' ');
                let k = match t.iter().position(|e| e.0 == c) {
                    Some(k) => k,
                    None => {
                        t.push((c, Vec::new(), Vec::new()));
                        t.len() - 1
                    }
                };
                if which == 0 {
                    t[k].1.push(l);
                } else {
                    t[k].2.push(l);
                }
            }
        }
        t
    });
    match table.iter().find(|e| e.0 == first) {
        Some(e) => (&e.1, &e.2),
        None => (&[], &[]),
    }
}

/// Length in bytes of the lead phrase or label `s` starts with (and the colon and spaces after
/// it), or 0.
fn lead_len(s: &str) -> usize {
    let b = s.as_bytes();
    let Some(first) = s.chars().next() else {
        return 0;
    };
    // Every lead and label starts with one of these (lower-cased); most text starts otherwise.
    let f = first.to_lowercase().next().unwrap_or(first);
    if !matches!(
        f,
        'a' | 'b'
            | 'd'
            | 'e'
            | 'g'
            | 'i'
            | 'j'
            | 'm'
            | 'p'
            | 'r'
            | 's'
            | 't'
            | 'v'
            | 'w'
            | 'z'
            | 'é'
            | '作'
            | '责'
            | '编'
            | '记'
            | '著'
            | '筆'
            | '記'
            | '執'
            | '撰'
            | '文'
    ) {
        return 0;
    }
    // Byte length of `s`'s prefix that equals `p` ignoring case, when a word ends there.
    let starts_ci = |p: &str| -> Option<usize> {
        let mut it = s.char_indices();
        for pc in p.chars() {
            match it.next() {
                Some((_, c)) if c == pc || c.to_lowercase().eq(std::iter::once(pc)) => {}
                _ => return None,
            }
        }
        match it.next() {
            None => Some(s.len()),
            Some((k, c)) if !c.is_alphanumeric() || !p.is_ascii() => Some(k),
            Some(_) => None,
        }
    };
    let skip_sep = |mut k: usize| {
        while k < b.len() && matches!(b[k], b' ' | b'\t' | b':' | b'\n') {
            k += 1;
        }
        k
    };
    let (labels, leads) = phrases_starting_with(f);
    for l in labels {
        if let Some(mut k) = starts_ci(l) {
            while k < b.len() && b[k] == b' ' {
                k += 1;
            }
            if b.get(k) == Some(&b':') {
                return skip_sep(k + 1);
            }
            if s[k..].starts_with('：') {
                return skip_sep(k + '：'.len_utf8());
            }
        }
    }
    // "ByJane Doe": a "By" element glued to the name.
    if s.starts_with("By") && s[2..].starts_with(|c: char| c.is_uppercase()) {
        return 2;
    }
    for l in leads {
        if let Some(k) = starts_ci(l) {
            let k = skip_sep(k);
            if k < b.len() {
                return k;
            }
        }
    }
    0
}

/// Whether a text node holds a byline prefix ("By", "Von:", "Text:", ...), at its start or after
/// a separator ("05.02.2020 - Redaktion: ..."), or a Korean reporter credit ("홍길동 기자").
fn has_prefix(text: &str) -> bool {
    let t = text.trim();
    if t.is_empty() || t.len() > 300 {
        return false;
    }
    let bare = |p: &str| {
        let p = p.trim_end_matches([':', ' ']).to_lowercase();
        matches!(p.as_str(), "by" | "von" | "par" | "por" | "door")
    };
    for piece in t
        .split(['|', '·', '•', '–', '—'])
        .flat_map(|p| p.split(" - "))
    {
        let piece = piece.trim();
        if piece.len() <= 5 && bare(piece) {
            return true;
        }
        if lead_len(piece) > 0 {
            return true;
        }
    }
    t.len() < 200 && t.contains("기자")
}

/// Names in a byline-marked element's text ("By Jane Doe and Ravi Patel, Staff Writers").
pub(crate) fn clean(raw: &str) -> Vec<String> {
    names_in(raw, false)
}

/// Names in a block whose byline is introduced by a prefix: only segments with the prefix count
/// ("Posted: Tuesday, December 17, 2024 4:40 PM | By Jane Doe" → "Jane Doe").
fn clean_prefixed(raw: &str) -> Vec<String> {
    names_in(raw, true)
}

fn names_in(raw: &str, need_prefix: bool) -> Vec<String> {
    let raw = decode_entities(raw);
    let mut out: Vec<String> = Vec::new();
    let mut pending_prefix = false;
    for seg in raw
        .split(['|', '•', '·', '\n', '／', '｜', '●', '◆', '■', '▪'])
        .flat_map(|s| s.split(" - "))
        .flat_map(|s| s.split(" – "))
        .flat_map(|s| s.split(" — "))
    {
        let seg = collapse(seg);
        let seg = seg
            .trim_matches(|c: char| c.is_whitespace() || matches!(c, '-' | '–' | '—' | ':' | ','));
        if seg.is_empty() {
            continue;
        }
        // "By" alone on its line, the names on the next.
        let lower = seg.to_lowercase();
        if matches!(
            lower.trim_end_matches([':', ' ']),
            "by" | "von"
                | "par"
                | "por"
                | "text"
                | "autor"
                | "autorin"
                | "autoren"
                | "autor/in"
                | "autor*in"
                | "autor:in"
                | "autor:innen"
                | "author"
                | "authors"
                | "auteur"
                | "written by"
                | "posted by"
                | "artikel von"
                | "ein beitrag von"
                | "beitrag von"
                | "redaktion:"
        ) {
            pending_prefix = true;
            continue;
        }
        if is_other_credit(&lower) {
            continue;
        }
        let k = lead_len(seg);
        let had_prefix = k > 0 || pending_prefix;
        pending_prefix = false;
        if let Some(name) = korean_reporter(seg) {
            push_name(&mut out, name);
            continue;
        }
        if need_prefix && !had_prefix {
            continue;
        }
        let rest = &seg[k..];
        // A prefixed byline starts with a capital ("By 2030, the city ..." is prose).
        if need_prefix
            && !rest
                .chars()
                .next()
                .is_some_and(|c| c.is_uppercase() || (c.is_alphabetic() && !c.is_ascii()))
        {
            continue;
        }
        for name in split_names(rest) {
            push_name(&mut out, name);
        }
        if out.len() >= 12 {
            break;
        }
    }
    out
}

/// Credits for other work than writing: translation, photos, review, editing.
fn is_other_credit(lower: &str) -> bool {
    [
        "übersetzt von",
        "übersetzung",
        "translated by",
        "translation",
        "traduit par",
        "traducción",
        "photo",
        "foto",
        "bild:",
        "bilder:",
        "illustration",
        "grafik",
        "video:",
        "geprüft von",
        "reviewed by",
        "fact checked by",
        "fact-checked by",
        "medically reviewed",
        "edited by",
        "redigiert von",
        "mitarbeit:",
        "with reporting by",
        "additional reporting",
        "contributed to this report",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
}

/// "홍길동 기자" → "홍길동".
fn korean_reporter(seg: &str) -> Option<String> {
    let at = seg.find("기자")?;
    let before = seg[..at].trim_end();
    let word = before.rsplit([' ', '(', '[', '=']).next()?;
    let n = word.chars().count();
    ((2..=4).contains(&n) && word.chars().all(|c| ('가'..='힣').contains(&c)))
        .then(|| word.to_owned())
}

/// `&amp;`, `&oacute;` and friends left in attribute values that were escaped twice.
fn decode_entities(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('&') || !s.contains(';') {
        return std::borrow::Cow::Borrowed(s);
    }
    let frag = scraper::Html::parse_fragment(s);
    let text: String = frag.root_element().text().collect();
    std::borrow::Cow::Owned(text)
}

/// Splits a byline into names and keeps those that can be names.
fn split_names(s: &str) -> Vec<String> {
    // Cut at a date or time, or at "on <date>" ("Jane Doe on December 17, 2024").
    let s = cut_at_date(s);
    let s = s.split(['(', '[', '<', '{']).next().unwrap_or("");
    let mut parts: Vec<&str> = vec![s];
    for sep in [
        " and ", " And ", " AND ", " & ", " und ", " Und ", " et ", " y ", " e ", " en ", ";",
        " / ", "、", ",",
    ] {
        parts = parts.iter().flat_map(|p| p.split(sep)).collect();
    }
    let mut out = Vec::new();
    for (k, p) in parts.into_iter().enumerate() {
        if let Some(name) = tidy_name(p, k == 0) {
            out.push(name);
        }
    }
    out
}

/// The text before the first date or time, or before "on <date>" ("Jane Doe on December 17").
fn cut_at_date(s: &str) -> &str {
    let words: Vec<(usize, &str)> = word_starts(s).take(40).collect();
    let lower = |w: &str| {
        w.trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase()
    };
    let connector = |k: usize| {
        k > 0
            && matches!(
                lower(words[k - 1].1).as_str(),
                "on" | "am" | "le" | "el" | "il" | "at" | "um" | "den" | "vom" | "du" | "posted"
            )
    };
    for (k, &(i, w)) in words.iter().enumerate() {
        let wl = lower(w);
        let digits = w.bytes().filter(u8::is_ascii_digit).count();
        let letters = w.chars().filter(|c| c.is_alphabetic()).count();
        let datey = digits > 0 && (letters == 0 || is_ordinal(&wl));
        let calendar = wl.chars().count() >= 3
            && crate::stamps::is_month_or_weekday(&wl)
            && (connector(k)
                || words
                    .get(k + 1)
                    .is_some_and(|(_, n)| n.starts_with(|c: char| c.is_ascii_digit())));
        if datey || calendar {
            return &s[..if connector(k) { words[k - 1].0 } else { i }];
        }
    }
    s
}

fn is_ordinal(w: &str) -> bool {
    let d = w.trim_end_matches(|c: char| c.is_alphabetic());
    !d.is_empty()
        && d.bytes().all(|b| b.is_ascii_digit())
        && matches!(&w[d.len()..], "st" | "nd" | "rd" | "th" | "er" | "e")
}

/// Byte offsets and text of whitespace-separated words.
fn word_starts(s: &str) -> impl Iterator<Item = (usize, &str)> {
    s.split_whitespace()
        .map(move |w| (w.as_ptr() as usize - s.as_ptr() as usize, w))
}

/// Words that are roles or titles, not names ("Staff Writer", "Redakteur", "Korrespondentin").
fn is_role_word(w: &str) -> bool {
    let l = w
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    matches!(
        l.as_str(),
        "staff"
            | "writer"
            | "writers"
            | "reporter"
            | "reporters"
            | "correspondent"
            | "correspondents"
            | "editor"
            | "editors"
            | "columnist"
            | "contributor"
            | "contributors"
            | "contributing"
            | "photographer"
            | "intern"
            | "producer"
            | "redakteur"
            | "redakteurin"
            | "redaktor"
            | "korrespondent"
            | "korrespondentin"
            | "journalist"
            | "journalistin"
            | "volontär"
            | "volontärin"
            | "rédacteur"
            | "rédactrice"
            | "journaliste"
            | "correspondant"
            | "correspondante"
            | "redactor"
            | "redactora"
            | "corresponsal"
            | "periodista"
            | "ceo"
            | "cto"
            | "founder"
            | "cofounder"
            | "co-founder"
            | "director"
            | "attorney"
            | "president"
            | "chairman"
            | "chief"
            | "fellow"
            | "phd"
            | "ph.d"
            | "md"
            | "mba"
            | "lecturer"
            | "researcher"
            | "consultant"
            | "expert"
            | "analyst"
            | "economist"
            | "strategist"
            | "pressesprecher"
            | "pressesprecherin"
            | "sprecher"
            | "sprecherin"
    ) || l.ends_with("redakteur")
        || l.ends_with("redakteurin")
        || l.ends_with("korrespondent")
        || l.ends_with("korrespondentin")
        || l.ends_with("experte")
        || l.ends_with("expertin")
        || l.ends_with("reporter")
        || l.ends_with("leiter")
        || l.ends_with("leiterin")
}

/// "AOL", "ZDNet", "HLNF": a word written like a brand, not a person's name.
fn is_brandlike(w: &str) -> bool {
    let letters: Vec<char> = w.chars().filter(|c| c.is_alphabetic()).collect();
    letters.len() >= 2
        && (letters.iter().all(|c| c.is_uppercase())
            || letters.iter().skip(1).any(|c| c.is_uppercase()))
}

/// Words that label a stamp beside a byline ("Published", "Publicado el", "Stand:").
fn is_stamp_label(w: &str) -> bool {
    matches!(
        w.trim_end_matches([':', ',']).to_lowercase().as_str(),
        "published"
            | "posted"
            | "updated"
            | "modified"
            | "publicado"
            | "publicada"
            | "actualizado"
            | "actualizada"
            | "publié"
            | "publiée"
            | "modifié"
            | "veröffentlicht"
            | "aktualisiert"
            | "erschienen"
            | "erstellt"
            | "geändert"
            | "stand"
            | "datum"
    )
}

/// Honorifics and professions that open a credit but are not part of the name.
fn is_lead_title(w: &str) -> bool {
    matches!(
        w.trim_end_matches([':', ',']).to_lowercase().as_str(),
        "rechtsanwalt" | "rechtsanwältin" | "anwalt" | "anwältin" | "interview" | "gespräch"
    )
}

/// Words that are page furniture when they stand where a name should be.
fn is_furniture(l: &str) -> bool {
    matches!(
        l,
        "admin"
            | "administrator"
            | "anonymous"
            | "anonym"
            | "unknown"
            | "no author"
            | "guest"
            | "gast"
            | "share"
            | "teilen"
            | "facebook"
            | "twitter"
            | "linkedin"
            | "instagram"
            | "email"
            | "e-mail"
            | "mail"
            | "print"
            | "drucken"
            | "comments"
            | "comment"
            | "kommentare"
            | "follow"
            | "folgen"
            | "more"
            | "mehr"
            | "read more"
            | "weiterlesen"
            | "weitere artikel"
            | "home"
            | "startseite"
            | "menu"
            | "search"
            | "suche"
            | "login"
            | "anmelden"
            | "contact"
            | "kontakt"
            | "impressum"
            | "about"
            | "about us"
            | "über uns"
            | "newsletter"
            | "subscribe"
            | "rss"
            | "profile"
            | "profil"
            | "website"
            | "homepage"
            | "author"
            | "authors"
            | "autor"
            | "autorin"
            | "autoren"
            | "autor:innen"
            | "auteur"
            | "by"
            | "von"
            | "posted"
            | "updated"
            | "published"
            | "jobs"
            | "hire"
            | "staff"
            | "other"
            | "null"
            | "none"
            | "n/a"
            | "agencies"
            | "and"
            | "und"
            | "et"
            | "y"
            | "link"
            | "link copied"
            | "copy link"
            | "reddit"
            | "whatsapp"
            | "pinterest"
            | "xing"
            | "text size"
            | "small"
            | "medium"
            | "large"
            | "sign out"
            | "sign in"
            | "log in"
            | "news"
            | "veröffentlicht"
            | "aktualisiert"
            | "actualizado"
            | "updated on"
            | "stand"
            | "pressemitteilung"
            | "quelle"
            | "source"
            | "zur artikelübersicht"
            | "illustration"
            | "contactar"
            | "kontaktieren"
            | "edit"
            | "bearbeiten"
            | "view profile"
            | "all posts"
            | "alle beiträge"
            | "artikel"
            | "articles"
            | "posts"
            | "opinion"
            | "meinung"
            | "bio"
            | "text"
            | "autoreninfo"
            | "autorinfo"
            | "author info"
            | "about the author"
            | "über den autor"
            | "über die autorin"
            | "ca"
            | "publisher"
            | "webmaster"
            | "editorial"
            | "herausgeber"
    )
}

/// One name, tidied; `None` when the text cannot be a person's or desk's name. `first`: the
/// first part of its byline, where a trailing role is cut ("Jane Doe Staff Writer"); in later
/// parts a role makes the part a description ("…, Local Democracy Reporter").
fn tidy_name(p: &str, first: bool) -> Option<String> {
    // "@tayhatmaker": a handle beside the name, not a name.
    if p.trim_start().starts_with('@') {
        return None;
    }
    let p = p.trim_matches(|c: char| {
        c.is_whitespace() || !(c.is_alphanumeric() || c == '.' || c == '\'' || c == '’')
    });
    let mut words: Vec<&str> = p.split_whitespace().collect();
    if words.iter().all(|w| is_role_word(w)) {
        return None;
    }
    // "City Hall reporter": a lower-case role ends a description, not a name.
    if words.len() > 1
        && words
            .last()
            .is_some_and(|w| is_role_word(w) && w.starts_with(char::is_lowercase))
    {
        return None;
    }
    while words.first().is_some_and(|w| is_lead_title(w)) && words.len() > 1 {
        words.remove(0);
    }
    if words.first().is_some_and(|w| is_role_word(w)) && words.len() > 1 {
        words.remove(0);
    }
    if let Some(k) = words.iter().position(|w| is_role_word(w))
        && k > 0
    {
        // "AOL Staff", "ZDNet Japan Staff", "HLNF Staff Report": a desk's credit is the name.
        let desk = words[k].eq_ignore_ascii_case("staff")
            && (k == 1 || words[..k].iter().any(|w| is_brandlike(w)));
        if !desk {
            if !first {
                return None;
            }
            words.truncate(k);
        }
    }
    // "Park Soo-min Published 2024.12.19": a stamp's label ends the name.
    if let Some(mut k) = words.iter().position(|w| is_stamp_label(w)) {
        // "Last Updated", "Zuletzt aktualisiert", "Originally published"
        if k > 0
            && matches!(
                words[k - 1].to_lowercase().as_str(),
                "last" | "zuletzt" | "originally" | "first" | "letzte"
            )
        {
            k -= 1;
        }
        if k == 0 {
            return None;
        }
        words.truncate(k);
    }
    // "Jane Doe for MailOnline": a preposition starts what is not the name.
    if let Some(k) = words.iter().position(|w| {
        matches!(
            w.to_lowercase().as_str(),
            "for"
                | "für"
                | "pour"
                | "para"
                | "per"
                | "at"
                | "via"
                | "with"
                | "mit"
                | "from"
                | "in"
                | "im"
                | "under"
                | "bei"
                | "aus"
        )
    }) && k > 0
    {
        words.truncate(k);
    }
    // "Andrew Husband Twitter": an icon's label after the name.
    while words.len() > 1
        && words.last().is_some_and(|w| {
            matches!(
                w.to_lowercase().as_str(),
                "twitter"
                    | "facebook"
                    | "instagram"
                    | "linkedin"
                    | "email"
                    | "e-mail"
                    | "mail"
                    | "rss"
                    | "bio"
                    | "follow"
                    | "profile"
                    | "profil"
            )
        })
    {
        words.pop();
    }
    let name = words.join(" ");
    let name = name.trim_matches(|c: char| !c.is_alphanumeric() && c != '.');
    let chars = name.chars().count();
    let n_words = name.split_whitespace().count();
    if !(2..=60).contains(&chars) || !(1..=6).contains(&n_words) {
        return None;
    }
    if name.contains("://") || name.contains('@') || name.starts_with("www.") {
        return None;
    }
    if !name.chars().any(char::is_alphabetic) {
        return None;
    }
    let lower = name.to_lowercase();
    if is_furniture(&lower) || lower.split_whitespace().any(|w| w == "by") {
        return None;
    }
    // "Share on Facebook", "Follow Jane", "Zur Übersicht": calls to action, not names.
    let first_word = lower.split_whitespace().next().unwrap_or("");
    if n_words > 1
        && matches!(
            first_word,
            "share"
                | "teilen"
                | "follow"
                | "folgen"
                | "email"
                | "e-mail"
                | "mail"
                | "print"
                | "drucken"
                | "tweet"
                | "subscribe"
                | "abonnieren"
                | "contact"
                | "kontakt"
                | "more"
                | "mehr"
                | "all"
                | "alle"
                | "view"
                | "see"
                | "read"
                | "lesen"
                | "zum"
                | "zur"
                | "back"
                | "zurück"
                | "posted"
                | "published"
                | "updated"
                | "sign"
                | "log"
                | "click"
                | "go"
                | "visit"
                | "write"
                | "schreiben"
        )
    {
        return None;
    }
    // Digits: a user name ("c1ph4") is one word; "Jane Doe 2024" is not a name.
    if name.chars().any(|c| c.is_ascii_digit()) && n_words > 1 {
        return None;
    }
    // "Jane Doe, City Hall reporter": words after the first that are lower-case (other than
    // particles such as "von", "de") are a role or prose.
    if n_words > 1 {
        let lowers = name
            .split_whitespace()
            .filter(|w| w.chars().next().is_some_and(char::is_lowercase) && !is_particle(w))
            .count();
        let last_lower = name
            .split_whitespace()
            .last()
            .and_then(|w| w.chars().next())
            .is_some_and(char::is_lowercase);
        if lowers > 0 && (last_lower || lowers * 2 >= n_words) {
            return None;
        }
    }
    Some(name.to_owned())
}

fn is_particle(w: &str) -> bool {
    matches!(
        w,
        "von"
            | "van"
            | "de"
            | "der"
            | "den"
            | "da"
            | "di"
            | "du"
            | "del"
            | "della"
            | "des"
            | "la"
            | "le"
            | "y"
            | "bin"
            | "al"
            | "el"
            | "ter"
            | "ten"
            | "zu"
            | "dos"
            | "das"
            | "do"
            | "af"
            | "av"
            | "e"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(html: &str, url: &str) -> Vec<String> {
        let doc = scraper::Html::parse_document(html);
        let dom = super::super::dom::build(&doc);
        find(&dom, Url::parse(url).ok().as_ref())
    }

    #[test]
    fn furniture_prefixes_and_roles_are_cut() {
        assert_eq!(clean("View all posts by Daniel Lemire"), ["Daniel Lemire"]);
        assert_eq!(clean("Zeige alle Beiträge von Cem Basman"), ["Cem Basman"]);
        assert_eq!(clean("By Jane Roe, Local Democracy Reporter"), ["Jane Roe"]);
        assert_eq!(
            clean("Logan C. Ritchie\nStaff Writer"),
            ["Logan C. Ritchie"]
        );
        assert_eq!(
            clean("By Theo Brannigan, City Hall reporter"),
            ["Theo Brannigan"]
        );
        assert_eq!(
            clean("Jane Doe and Ravi Patel, staff writers"),
            ["Jane Doe", "Ravi Patel"]
        );
        assert_eq!(clean("Mara Quell, Reuters"), ["Mara Quell", "Reuters"]);
        assert_eq!(
            clean("Text: Anna Muster und Max Beispiel"),
            ["Anna Muster", "Max Beispiel"]
        );
        assert_eq!(clean("Par Marie Merlet le 12 mars 2020"), ["Marie Merlet"]);
        assert_eq!(clean("Por Raúl Espina"), ["Raúl Espina"]);
        assert_eq!(clean("Tom Pyman for MailOnline"), ["Tom Pyman"]);
        assert_eq!(
            clean("by Jake Goulding on January 20, 2020"),
            ["Jake Goulding"]
        );
        assert_eq!(clean("gizzmo"), ["gizzmo"]);
        assert_eq!(clean("c1ph4"), ["c1ph4"]);
        assert!(clean("Share on Facebook").is_empty());
        assert!(clean("https://www.facebook.com/jane").is_empty());
        assert_eq!(clean("홍길동 기자"), ["홍길동"]);
    }

    #[test]
    fn prefixed_blocks_need_their_prefix() {
        assert_eq!(
            clean_prefixed("Posted: Tuesday, December 17, 2024 4:40 PM | By Jane Doe"),
            ["Jane Doe"]
        );
        assert!(clean_prefixed("By 2030, the city wants every bus electric.").is_empty());
    }

    #[test]
    fn first_visible_byline_after_the_headline_wins() {
        let html = r#"<html><head><meta name="author" content="Example Media GmbH">
            <script type="application/ld+json">{"@type":"NewsArticle","author":{"@type":"Person","name":"Ann Lee"}}</script>
            </head><body><header class="site-header"><a href="/author/x">Site Owner</a></header>
            <article><h1>Headline here</h1><p class="byline">By <span class="author">Ann Lee</span> and
            <a href="/author/bo">Bo Chan</a>, Staff Writers</p><p>Body text of the story, long enough.</p></article>
            <aside class="related"><div class="byline">By Other Person</div></aside>
            <div class="comments"><span class="comment-author vcard"><span class="fn">Troll</span></span></div>
            </body></html>"#;
        assert_eq!(page(html, "https://news.test/a"), ["Ann Lee", "Bo Chan"]);
    }

    #[test]
    fn json_ld_graph_references_are_resolved_and_the_publisher_dropped() {
        let html = r##"<html><head><meta property="og:site_name" content="Daily Bar">
            <script type="application/ld+json">{"@context":"https://schema.org","@graph":[
            {"@type":"Article","@id":"#a","author":[{"@id":"#p"},{"@type":"Organization","name":"Daily Bar"}],
             "publisher":{"@id":"#o"}},
            {"@type":"Person","@id":"#p","name":"Andreas Kalt"},
            {"@type":"Organization","@id":"#o","name":"Daily Bar"}]}</script>
            </head><body><h1>T</h1><p>Text.</p></body></html>"##;
        assert_eq!(page(html, "https://dailybar.test/x"), ["Andreas Kalt"]);
    }

    #[test]
    fn meta_author_urls_and_site_names_are_not_names() {
        let html = r#"<html><head><meta property="og:site_name" content="Daily Bar">
            <meta property="article:author" content="https://www.facebook.com/dailybar">
            <meta name="author" content="Daily Bar"></head><body><h1>T</h1></body></html>"#;
        // The site's name is the only credit: kept.
        assert_eq!(page(html, "https://dailybar.test/x"), ["Daily Bar"]);
    }
}
