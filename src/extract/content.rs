//! Finding the element(s) that hold the article body.
//!
//! Readability-style: every paragraph-like block with prose scores its ancestors (commas and
//! length count, decaying with distance); ancestors are weighted by tag and class/id hints and
//! discounted by link density; the winner may climb to a parent that scores comparably and
//! picks up siblings that look like continuation of the story.

use super::dom::{Dom, F_BOILER, F_COMMENTS, F_HIDDEN, F_LEDE, F_OVERLAY, F_STRONG_POS, NONE, Tag};

/// Nodes inside furniture (nav, comments, share bars...), inherited down the tree. A furniture
/// flag on an element that holds most of the page's prose is ignored: some sites wrap the whole
/// page in a `has-sidebar` or `nav-open` container. So is one on an element around the headline
/// or around a marked article body (`entry-content`, `itemprop=articleBody`): blog engines put
/// the post inside a "widget", and a short post has too little prose to prove itself otherwise.
pub(crate) fn blocked(dom: &Dom, headline: Option<u32>) -> Vec<bool> {
    let nodes = &dom.nodes;
    let body_chars = nodes[dom.body as usize].chars.max(1);
    let story = marked_story(dom);
    let mut out = vec![false; nodes.len()];
    for i in 1..nodes.len() {
        let n = &nodes[i];
        let inherited = n.parent != NONE && out[n.parent as usize];
        out[i] = inherited
            || n.flags & F_HIDDEN != 0
            || (n.flags & F_BOILER != 0
                && !holds_story(dom, i, body_chars)
                && !wraps_story(dom, i, headline, &story));
    }
    out
}

/// Per node: does its subtree hold a marked article body with some unlinked prose?
fn marked_story(dom: &Dom) -> Vec<bool> {
    let nodes = &dom.nodes;
    let mut out = vec![false; nodes.len()];
    for i in (1..nodes.len()).rev() {
        let n = &nodes[i];
        if n.flags & F_STRONG_POS != 0
            && n.flags & F_COMMENTS == 0
            && n.chars >= 40
            && dom.link_density(i as u32) < 0.5
        {
            out[i] = true;
        }
        if out[i] && n.parent != NONE {
            out[n.parent as usize] = true;
        }
    }
    out
}

/// A furniture-flagged block that is really the frame of the article: it holds the headline
/// or a marked article body. Comment sections and semantic furniture tags never qualify.
fn wraps_story(dom: &Dom, i: usize, headline: Option<u32>, story: &[bool]) -> bool {
    let n = &dom.nodes[i];
    if n.flags & F_COMMENTS != 0 || matches!(n.tag, Tag::Aside | Tag::Nav | Tag::Footer) {
        return false;
    }
    story[i] || headline.is_some_and(|h| dom.contains(i as u32, h) && h != i as u32)
}

/// Is the body marked (`<article>`, `entry-content`, `itemprop=articleBody`: a root, one of
/// its two nearest ancestors, or a block inside a root) just after the headline, within the
/// same small block? Such a body is the post, however short.
pub(crate) fn under_headline(dom: &Dom, roots: &[u32], headline: Option<u32>) -> bool {
    let Some(h) = headline else {
        return false;
    };
    let nodes = &dom.nodes;
    let marked = |m: u32| {
        let n = &nodes[m as usize];
        (n.flags & F_STRONG_POS != 0 || n.tag == Tag::Article)
            && n.flags & F_COMMENTS == 0
            && n.chars >= 20
    };
    // Within four levels up from `m`, an ancestor holds the headline, and `m` comes after it.
    let near = |m: u32| {
        let mut a = m;
        for _ in 0..4 {
            a = nodes[a as usize].parent;
            if a == NONE || matches!(nodes[a as usize].tag, Tag::Body | Tag::Html | Tag::Document) {
                return false;
            }
            if dom.contains(a, h) {
                return h < m && !dom.contains(m, h);
            }
        }
        false
    };
    roots.iter().any(|&r| {
        let mut a = r;
        for _ in 0..3 {
            if a == NONE {
                break;
            }
            if marked(a) && near(a) {
                return true;
            }
            a = nodes[a as usize].parent;
        }
        (r + 1..nodes[r as usize].end).any(|m| marked(m) && near(m))
    })
}

/// The heading that carries the page's headline, from the page's titles (`og:title`,
/// `<title>`, site name included): the first h1-h4 whose text is a title (an `<h1>` first),
/// else the longest that is part of one (the site's name in a masthead `<h1>` is part of most
/// titles too, and shorter than the headline), else the first that holds a title and a kicker.
/// A title inside furniture (a breadcrumb, a hidden block) yields to one outside it.
/// Matching ignores case, spacing and punctuation.
pub(crate) fn headline(dom: &Dom, titles: &[String]) -> Option<u32> {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let tns: Vec<String> = titles
        .iter()
        .map(|t| norm(t))
        .filter(|t| t.len() >= 4)
        .collect();
    if tns.is_empty() {
        return None;
    }
    let (mut exact, mut exact_h1, mut part, mut kicker) = (None, None, None, None);
    let (mut furniture_h1, mut furniture) = (None, None);
    for (i, n) in dom.nodes.iter().enumerate() {
        if !n.tag.is_heading()
            || matches!(n.tag, Tag::H(5..))
            || !(4..=400).contains(&n.chars)
            || n.flags & F_HIDDEN != 0
        {
            continue;
        }
        let mut text = String::new();
        for j in i + 1..n.end as usize {
            if dom.nodes[j].tag == Tag::Text {
                text.push_str(dom.nodes[j].text);
            }
        }
        let hn = norm(&text);
        let hl = hn.chars().count();
        let i = i as u32;
        if tns.contains(&hn) {
            match (in_furniture(dom, i), n.tag == Tag::H1) {
                (false, true) => {
                    exact_h1 = Some(i);
                    break;
                }
                (false, false) => exact = exact.or(Some(i)),
                (true, true) => furniture_h1 = furniture_h1.or(Some(i)),
                (true, false) => furniture = furniture.or(Some(i)),
            }
        } else if hl >= 12 && tns.iter().any(|t| t.contains(&hn)) {
            if part.is_none_or(|(l, _)| hl > l) {
                part = Some((hl, i));
            }
        } else if tns
            .iter()
            .any(|t| hn.contains(t.as_str()) && t.chars().count() * 3 >= hl * 2)
        {
            kicker = kicker.or(Some(i));
        }
    }
    exact_h1
        .or(exact)
        .or(furniture_h1)
        .or(furniture)
        .or(part.map(|p| p.1))
        .or(kicker)
}

/// Is `i` inside a block marked as furniture (a breadcrumb that repeats the title as an `<h1>`)?
/// A header block is where a headline belongs, whatever its class says; a misnamed wrapper
/// around the story (see `holds_story`) is no furniture either.
fn in_furniture(dom: &Dom, i: u32) -> bool {
    let body = dom.nodes[dom.body as usize].chars.max(1);
    let mut a = dom.nodes[i as usize].parent;
    while a != NONE {
        let n = &dom.nodes[a as usize];
        if n.flags & F_HIDDEN != 0
            || (n.flags & F_BOILER != 0
                && !is_header(dom, a)
                && !holds_story(dom, a as usize, body))
        {
            return true;
        }
        a = n.parent;
    }
    false
}

/// A `<header>`, or a block whose class names a header ("entry-header", "article-header").
fn is_header(dom: &Dom, i: u32) -> bool {
    dom.nodes[i as usize].tag == Tag::Header
        || dom
            .attr(i, "class")
            .is_some_and(|c| c.to_ascii_lowercase().contains("header"))
}

/// A furniture-looking element (by class) that is really a wrapper around the story: it holds
/// most of the page's prose, or several prose paragraphs with few links. Comment sections and
/// semantic furniture tags never qualify.
fn holds_story(dom: &Dom, i: usize, body_chars: u32) -> bool {
    let n = &dom.nodes[i];
    if n.flags & (F_COMMENTS | F_OVERLAY) != 0
        || matches!(n.tag, Tag::Aside | Tag::Nav | Tag::Footer)
    {
        return false;
    }
    let many = n.paras >= 3 && n.chars * 2 > body_chars;
    let prose = n.paras >= 4 && dom.link_density(i as u32) < 0.25 && n.commas >= 8;
    many || prose
}

/// Visible characters outside furniture, per node: what a render would roughly keep.
pub(crate) fn free_chars(dom: &Dom, blocked: &[bool]) -> Vec<u32> {
    let nodes = &dom.nodes;
    let mut free = vec![0u32; nodes.len()];
    for i in (1..nodes.len()).rev() {
        if blocked[i] {
            continue;
        }
        if nodes[i].tag == Tag::Text {
            free[i] = nodes[i].chars;
        }
        let p = nodes[i].parent;
        if p != NONE {
            free[p as usize] += free[i];
        }
    }
    free
}

fn para_len(dom: &Dom, i: usize) -> u32 {
    let n = &dom.nodes[i];
    match n.tag {
        Tag::P | Tag::Pre => n.chars,
        Tag::Td
        | Tag::Blockquote
        | Tag::Div
        | Tag::Section
        | Tag::Article
        | Tag::Main
        | Tag::Dd
        | Tag::Li => n.inline_chars,
        _ => 0,
    }
}

fn init_score(dom: &Dom, i: usize) -> f32 {
    let n = &dom.nodes[i];
    let t = match n.tag {
        Tag::Div | Tag::Article | Tag::Main => 5.0,
        Tag::Section => 3.0,
        Tag::Pre | Tag::Td | Tag::Blockquote => 3.0,
        Tag::Address | Tag::Ol | Tag::Ul | Tag::Dl | Tag::Dd | Tag::Dt | Tag::Li | Tag::Form => {
            -3.0
        }
        Tag::H1 | Tag::H(_) | Tag::Th => -5.0,
        _ => 0.0,
    };
    t + n.weight as f32
}

pub(crate) struct Scores {
    pub score: Vec<f32>,
    pub cands: Vec<u32>,
}

pub(crate) fn score(dom: &Dom, blocked: &[bool], use_weights: bool) -> Scores {
    let nodes = &dom.nodes;
    let mut score = vec![f32::NAN; nodes.len()];
    let mut cands = Vec::new();
    let mut i = 1usize;
    while i < nodes.len() {
        if blocked[i] || nodes[i].tag == Tag::Text || nodes[i].tag == Tag::Junk {
            i = nodes[i].end as usize;
            continue;
        }
        let len = para_len(dom, i);
        if len >= 25 {
            let n = &nodes[i];
            let s = 1.0 + n.commas.min(len / 20) as f32 + (len as f32 / 100.0).min(3.0);
            let mut a = n.parent;
            let mut level = 0;
            while a != NONE && level < 5 {
                let an = &nodes[a as usize];
                if matches!(an.tag, Tag::Document | Tag::Html) {
                    break;
                }
                if score[a as usize].is_nan() {
                    score[a as usize] = if use_weights {
                        init_score(dom, a as usize)
                    } else {
                        0.0
                    };
                    cands.push(a);
                }
                let div = match level {
                    0 => 1.0,
                    1 => 2.0,
                    l => l as f32 * 3.0,
                };
                score[a as usize] += s / div;
                a = an.parent;
                level += 1;
            }
        }
        i += 1;
    }
    for &c in &cands {
        score[c as usize] *= 1.0 - dom.link_density(c);
    }
    Scores { score, cands }
}

/// The roots of the article body in document order, or None when nothing scored.
pub(crate) fn choose(dom: &Dom, sc: &Scores, blocked: &[bool]) -> Option<Vec<u32>> {
    let nodes = &dom.nodes;
    let s = |i: u32| {
        let v = sc.score[i as usize];
        if v.is_nan() { 0.0 } else { v }
    };
    let mut ranked: Vec<u32> = sc.cands.clone();
    ranked.sort_by(|a, b| s(*b).total_cmp(&s(*a)));
    let mut top = *ranked.first()?;
    let top_score = s(top);

    // Several near-equal candidates under one ancestor: the story is split, take the ancestor.
    let alts: Vec<u32> = ranked[1..ranked.len().min(6)]
        .iter()
        .copied()
        .filter(|&c| s(c) >= 0.75 * top_score && !dom.contains(c, top) && !dom.contains(top, c))
        .collect();
    if alts.len() >= 3 {
        let mut p = nodes[top as usize].parent;
        while p != NONE && p != dom.body && nodes[p as usize].tag != Tag::Document {
            if alts.iter().filter(|&&c| dom.contains(p, c)).count() >= 3 {
                top = p;
                break;
            }
            p = nodes[p as usize].parent;
        }
    }

    // Climb while the parent scores better (the body is split across children).
    let mut last = s(top);
    let threshold = last / 3.0;
    let mut p = nodes[top as usize].parent;
    while p != NONE
        && p != dom.body
        && !matches!(nodes[p as usize].tag, Tag::Document | Tag::Html | Tag::Body)
    {
        let ps = sc.score[p as usize];
        if ps.is_nan() {
            p = nodes[p as usize].parent;
            continue;
        }
        if ps < threshold {
            break;
        }
        if ps > last {
            top = p;
            break;
        }
        last = ps;
        p = nodes[p as usize].parent;
    }
    // A class-boosted winner with little prose of its own (a lede box, an "entry-text" teaser)
    // next to the real story: climb while the parent holds far more low-link prose.
    loop {
        let p = nodes[top as usize].parent;
        if p == NONE
            || matches!(nodes[p as usize].tag, Tag::Document | Tag::Html | Tag::Body)
            || blocked[p as usize]
        {
            break;
        }
        let (tn, pn) = (&nodes[top as usize], &nodes[p as usize]);
        if !(tn.chars * 4 < pn.chars && pn.paras >= tn.paras + 3 && dom.link_density(p) < 0.3) {
            break;
        }
        top = p;
    }
    // An only child holds nothing its parent does not.
    loop {
        let p = nodes[top as usize].parent;
        if p == NONE
            || p == dom.body
            || matches!(nodes[p as usize].tag, Tag::Document | Tag::Html | Tag::Body)
        {
            break;
        }
        if nodes[p as usize].chars == nodes[top as usize].chars && !blocked[p as usize] {
            top = p;
        } else {
            break;
        }
    }

    // Siblings that continue the story.
    let parent = nodes[top as usize].parent;
    if parent == NONE || matches!(nodes[parent as usize].tag, Tag::Document) {
        return Some(vec![top]);
    }
    let top_score = s(top);
    let threshold = (top_score * 0.2).max(10.0);
    let top_class = dom.attr(top, "class").unwrap_or("");
    let mut out = Vec::new();
    let mut c = parent + 1;
    while c < nodes[parent as usize].end {
        let n = &nodes[c as usize];
        let next = n.end;
        if c == top {
            out.push(c);
        } else if !blocked[c as usize] && n.tag != Tag::Text && n.chars > 0 {
            let mut bonus = 0.0;
            if !top_class.is_empty() && dom.attr(c, "class") == Some(top_class) {
                bonus = top_score * 0.2;
            }
            let ld = dom.link_density(c);
            let keep = if s(c) + bonus >= threshold {
                true
            } else if n.tag == Tag::P || (para_len(dom, c as usize) == n.chars && n.tag.is_block())
            {
                let len = n.chars;
                (len > 80 && ld < 0.25)
                    || (len > 0 && len <= 80 && ld == 0.0 && ends_sentence(dom, c))
            } else {
                false
            };
            if keep {
                out.push(c);
            }
        }
        c = next;
    }
    Some(out)
}

/// The rest of a story after a jump break: a block named "more" ("entry-more", "read-more")
/// holding unlinked prose. A "more stories" box by the same name is made of links.
pub(crate) fn story_rest(dom: &Dom, i: u32) -> bool {
    let n = &dom.nodes[i as usize];
    n.chars >= 200
        && n.commas >= 3
        && n.flags & F_COMMENTS == 0
        && dom.link_density(i) < 0.15
        && ["class", "id"].iter().any(|a| {
            dom.attr(i, a)
                .is_some_and(|v| v.to_ascii_lowercase().contains("more"))
        })
}

/// `roots` and, after the last, the following siblings that hold the rest of the story after
/// a jump break (see `story_rest`), past empty anchors and spacers.
pub(crate) fn with_rest(dom: &Dom, mut roots: Vec<u32>) -> Vec<u32> {
    let nodes = &dom.nodes;
    let Some(&last) = roots.last() else {
        return roots;
    };
    let parent = nodes[last as usize].parent;
    if parent == NONE {
        return roots;
    }
    let end = nodes[parent as usize].end;
    let mut c = nodes[last as usize].end;
    while c < end {
        let n = &nodes[c as usize];
        if n.chars > 0 || n.tag == Tag::Text && !n.text.trim().is_empty() {
            if !story_rest(dom, c) {
                break;
            }
            roots.push(c);
        }
        c = n.end;
    }
    roots
}

/// Semantic containers: `itemprop=articleBody`, `entry-content`-like classes, else the
/// `<article>` element holding the most prose. Returns the tightest strong match.
pub(crate) fn semantic(dom: &Dom, blocked: &[bool]) -> Option<u32> {
    let nodes = &dom.nodes;
    let mut strong: Option<u32> = None;
    let mut article: Option<u32> = None;
    let mut articles: Vec<u32> = Vec::new();
    for i in 1..nodes.len() {
        let n = &nodes[i];
        if n.chars < 200 || blocked[i] || n.tag == Tag::Text {
            continue;
        }
        if n.flags & F_STRONG_POS != 0 {
            match strong {
                // Nested matches: the inner one is tighter if it keeps most of the prose.
                Some(b) if dom.contains(b, i as u32) => {
                    if n.chars * 10 >= nodes[b as usize].chars * 7 {
                        strong = Some(i as u32);
                    }
                }
                Some(b) if nodes[b as usize].chars >= n.chars => {}
                _ => strong = Some(i as u32),
            }
        }
        if n.tag == Tag::Article && !article.is_some_and(|a| dom.contains(a, i as u32)) {
            articles.push(i as u32);
            if article.is_none_or(|a| nodes[a as usize].chars < n.chars) {
                article = Some(i as u32);
            }
        }
    }
    // Several sizeable <article>s (a listing, or page-builder blocks) say nothing.
    let article = article.filter(|&a| {
        let c = nodes[a as usize].chars;
        articles
            .iter()
            .all(|&o| o == a || nodes[o as usize].chars * 3 < c)
    });
    strong.or(article)
}

/// Replaces the scored roots by a semantic container when one holds the story: a wider one
/// (the scored winner was part of it), a narrower one holding at least half the prose, or a
/// disjoint one holding more. Ledes just before it are kept (see `with_lede`).
pub(crate) fn prefer_semantic(dom: &Dom, roots: Vec<u32>, blocked: &[bool]) -> Vec<u32> {
    let Some(sem) = semantic(dom, blocked) else {
        return roots;
    };
    let free = free_chars(dom, blocked);
    let total: u32 = roots.iter().map(|&r| free[r as usize]).sum();
    let sem_chars = free[sem as usize];
    let wider = roots.iter().all(|&r| dom.contains(sem, r));
    let narrower = roots.iter().any(|&r| dom.contains(r, sem));
    let take = if wider {
        dom.link_density(sem) < 0.35
    } else if narrower {
        sem_chars * 2 >= total
    } else {
        sem_chars >= total
    };
    if !take {
        return roots;
    }
    with_lede(dom, sem, blocked, &free)
}

/// Lede paragraphs just before a semantic body container (`teaser-text` before
/// `news-text`): previous siblings of `sem` and of up to three ancestors, stopping at the
/// first sibling that is not prose. Returned with `sem`, in document order.
pub(crate) fn with_lede(dom: &Dom, sem: u32, blocked: &[bool], free: &[u32]) -> Vec<u32> {
    let nodes = &dom.nodes;
    let mut out = vec![sem];
    let mut a = sem;
    let mut levels = 0;
    while levels < 3 {
        let p = nodes[a as usize].parent;
        if p == NONE || matches!(nodes[p as usize].tag, Tag::Body | Tag::Html | Tag::Document) {
            break;
        }
        // Element children of p before a, nearest first.
        let mut prev = Vec::new();
        let mut c = p + 1;
        while c < a {
            if nodes[c as usize].tag != Tag::Text {
                prev.push(c);
            }
            c = nodes[c as usize].end;
        }
        let mut seen = 0;
        for &s in prev.iter().rev() {
            let n = &nodes[s as usize];
            if free[s as usize] == 0 {
                continue; // images, empty wrappers
            }
            seen += 1;
            // A long h2 before the body is a standfirst, not a section title.
            let heading_ok = !n.tag.is_heading() || (n.tag != Tag::H1 && free[s as usize] >= 80);
            let prose = !blocked[s as usize]
                && free[s as usize] >= 60
                && dom.link_density(s) < 0.3
                && heading_ok
                && !has_tag(dom, s, Tag::H1);
            if !prose || seen > 2 {
                break;
            }
            out.push(s);
        }
        a = p;
        levels += 1;
    }
    out.sort_unstable();
    out
}

/// `roots` with the standfirst before them: up to two elements marked as a lead, teaser, intro
/// or summary (`F_LEDE`) that lie between the headline and the first root (or, when that root
/// holds the headline, in the header block the render drops with it), with unlinked prose,
/// outside furniture. News pages set the standfirst in the article's header, apart from the
/// body's container; a teaser list elsewhere on the page is not between the two.
pub(crate) fn with_standfirst(
    dom: &Dom,
    mut roots: Vec<u32>,
    headline: Option<u32>,
    blocked: &[bool],
) -> Vec<u32> {
    let nodes = &dom.nodes;
    let (Some(h), Some(&first)) = (headline, roots.first()) else {
        return roots;
    };
    let from = nodes[h as usize].end;
    let to = if from <= first {
        first
    } else {
        // The root holds the headline's block, which the render drops as a header: the
        // standfirst in that block goes with it unless it is a root of its own.
        match header_block(dom, h, first) {
            Some(b) => nodes[b as usize].end,
            None => return roots,
        }
    };
    let mut found = Vec::new();
    let mut i = from;
    while i < to && found.len() < 2 {
        let n = &nodes[i as usize];
        // An unclassed subtitle heading right after the headline in its header is a deck too.
        let deck = i == from
            && n.tag.is_heading()
            && n.parent == nodes[h as usize].parent
            && is_header(dom, n.parent);
        if (n.flags & F_LEDE != 0 || deck)
            && (!blocked[i as usize] || in_article_header(dom, i, h))
            && n.end <= to
            && n.chars >= 40
            && dom.link_density(i) < 0.3
        {
            found.push(i);
            i = n.end;
        } else {
            i += 1;
        }
    }
    if found.is_empty() {
        return roots;
    }
    found.append(&mut roots);
    found
}

/// The outermost block between `root` and the headline `h` that the render drops as furniture.
fn header_block(dom: &Dom, h: u32, root: u32) -> Option<u32> {
    let root_chars = dom.nodes[root as usize].chars;
    let mut out = None;
    let mut a = dom.nodes[h as usize].parent;
    while a != NONE && a != root {
        if super::render::is_furniture(dom, a as usize, root_chars) {
            out = Some(a);
        }
        a = dom.nodes[a as usize].parent;
    }
    out
}

/// Is node `i` furniture only by an article header's name ("entry-header", `<header>`: the
/// headline's block, named like a site header)? Hidden blocks, comment sections and other
/// furniture (a "summary-credit" caption) on the way up to the headline's ancestor do not qualify.
fn in_article_header(dom: &Dom, i: u32, headline: u32) -> bool {
    let nodes = &dom.nodes;
    let mut a = i;
    while a != NONE && !dom.contains(a, headline) {
        let n = &nodes[a as usize];
        if n.flags & (F_HIDDEN | F_COMMENTS) != 0 {
            return false;
        }
        // A heading is no caption or credit, whatever its class says ("teaser caption-s5").
        let own_heading = a == i && n.tag.is_heading();
        if n.flags & F_BOILER != 0 && !is_header(dom, a) && !own_heading {
            return false;
        }
        a = n.parent;
    }
    true
}

fn has_tag(dom: &Dom, i: u32, tag: Tag) -> bool {
    (i..dom.nodes[i as usize].end).any(|j| dom.nodes[j as usize].tag == tag)
}

fn ends_sentence(dom: &Dom, i: u32) -> bool {
    let end = dom.nodes[i as usize].end;
    let mut j = end;
    while j > i + 1 {
        j -= 1;
        let n = &dom.nodes[j as usize];
        if n.tag == Tag::Text {
            let t = n.text.trim_end();
            if !t.is_empty() {
                return t.ends_with(['.', '!', '?', '。', '"', '”', '»']);
            }
        }
    }
    false
}
