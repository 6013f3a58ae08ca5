//! Page extraction: from a parsed HTML page to the article's headline, authors, language,
//! canonical URL and body text.
//!
//! How the body is found: a flat pre-order copy of the tree (`dom`) carries per-node facts
//! (visible characters, link characters, commas, prose paragraphs) and what class/id/role say
//! (`hints`). `content` scores it readability-style (paragraph prose lifts its ancestors; tag,
//! hints and link density adjust; siblings that continue the story join), prefers a semantic
//! container (`itemprop=articleBody`, `entry-content`..., a lone `<article>`) when it holds the
//! story, and keeps a lede just before it and a standfirst between headline and body. `render`
//! turns the winner into paragraphs, dropping furniture inside it (share bars, link lists, hidden
//! text) and judging each line (link-only lines, credits, bylines, datelines, boilerplate
//! phrases). Last, trailing headings, widget labels, everything after a "Related"/"Comments"
//! marker near the end, closing calls to action ("follow us", "get our app"), a closing author's
//! note and affiliate disclosures are cut. When a pass yields little, it retries with less
//! cleaning, then without class hints (that result must not be comments, nor a block beside the
//! headline). A page whose best body is still tiny (front page, 404, login or paywall stub) gets
//! an empty `body_text`, unless it is a marked article body just under the headline (a very short
//! post). When the feed entry carries the article, its text is a witness (`witness`): a body that
//! tells little of it gives way to the page's block that matches it best; without the feed's
//! text, the page's JSON-LD `articleBody` is the witness. A page that yields little because it
//! renders the story by script is read from a `<noscript>` holding the article, else from its
//! JSON-LD `articleBody`.
//!
//! Guarantees: never panics on any input, never recurses over the DOM (100,000-deep nesting is
//! fine), runs in time linear in the page size with memory a small multiple of it, and does not
//! reparse the document (only, for such a page, its `<noscript>` markup). Site rules
//! (`SiteRule`) take precedence when their selectors match.
//! Failure mode: a wrong or empty body, never an error.

mod byline;
mod content;
mod dom;
mod hints;
mod lang;
mod meta;
mod render;
mod witness;

use dom::{Dom, Tag};
use render::{Options, Verdict};

/// Per-site hints from configuration; `body` selectors name the article body, `remove` selectors
/// name parts to drop. Invalid selectors are skipped at extraction time (see [`validate_rule`]).
#[derive(Debug, Clone, Default, serde::Deserialize, PartialEq)]
pub struct SiteRule {
    #[serde(default)]
    pub body: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// Checks every selector of a rule so configuration errors surface at load time.
///
/// # Errors
/// Names the first selector that does not parse.
pub fn validate_rule(rule: &SiteRule) -> Result<(), String> {
    for s in rule.body.iter().chain(&rule.remove) {
        if let Err(e) = scraper::Selector::parse(s) {
            return Err(format!("invalid CSS selector {s:?}: {e}"));
        }
    }
    Ok(())
}

/// What a page says about its article; see the field docs for where each comes from.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Extracted {
    /// Headline, without the site name.
    pub title: String,
    /// Plain names: the visible byline, else structured data (JSON-LD, meta tags); see `byline`.
    pub authors: Vec<String>,
    /// BCP 47 tag: declared by the page, else guessed from the text's script or common words.
    pub language: Option<String>,
    /// `<link rel=canonical>` else `og:url`, absolute, http(s) only.
    pub canonical_url: Option<String>,
    /// Paragraphs separated by a blank line; empty when the page is not an article.
    pub body_text: String,
}

/// Below this many visible characters a body is treated as "not an article".
const MIN_BODY_CHARS: u32 = 100;
const SENTENCE_END: [char; 9] = ['.', '!', '?', '…', '"', '“', '”', '»', ')'];

/// A marked article body just under the headline is a (very short) post down to this size.
const MIN_POST_CHARS: u32 = 20;

/// Below this, try the next, more permissive strategy.
const RETRY_CHARS: u32 = 800;

/// Extracts headline, authors, language, canonical URL and body from a parsed page. `page_url`
/// resolves relative canonical links and helps tell the site name from the headline; `rule`
/// (per-site configuration) overrides body detection when its selectors match.
pub fn extract(
    doc: &scraper::Html,
    page_url: Option<&url::Url>,
    rule: Option<&SiteRule>,
) -> Extracted {
    extract_profiled(doc, page_url, rule, || 0.0).0
}

/// [`extract`] with the article's text as its feed entry carries it (`feed_text`, plain
/// paragraphs) as a witness: when the body chosen on the page's own signals tells less than
/// half of the feed's text (a short post's comments or a sidebar taken for the story), the block
/// of the page that best matches it is the body instead, if that tells clearly more. A teaser,
/// or an excerpt that ends "…" or "Read more", is no witness.
pub fn extract_with_feed(
    doc: &scraper::Html,
    page_url: Option<&url::Url>,
    rule: Option<&SiteRule>,
    feed_text: Option<&str>,
) -> Extracted {
    let witness = feed_text.and_then(witness::Witness::new);
    extract_inner(doc, page_url, rule, witness.as_ref(), || 0.0).0
}

/// [`extract`], also returning the seconds `clock` saw pass while the bylines were found, so the
/// extraction bench can weigh metadata work against body extraction.
#[doc(hidden)]
pub fn extract_profiled(
    doc: &scraper::Html,
    page_url: Option<&url::Url>,
    rule: Option<&SiteRule>,
    clock: impl Fn() -> f64,
) -> (Extracted, f64) {
    extract_inner(doc, page_url, rule, None, clock)
}

fn extract_inner(
    doc: &scraper::Html,
    page_url: Option<&url::Url>,
    rule: Option<&SiteRule>,
    witness: Option<&witness::Witness>,
    clock: impl Fn() -> f64,
) -> (Extracted, f64) {
    let dom = dom::build(doc);
    let meta = meta::collect(&dom, page_url);
    let t0 = clock();
    let authors = byline::find(&dom, page_url);
    let byline_secs = clock() - t0;
    let body = body(&dom, doc, rule, &meta.title, &meta.raw_titles, witness);
    let language = meta.language.clone().or_else(|| {
        if body.is_empty() {
            lang::guess(&meta.title)
        } else {
            lang::guess(&body)
        }
    });
    let ex = Extracted {
        title: meta.title,
        authors,
        language,
        canonical_url: meta.canonical,
        body_text: body,
    };
    (ex, byline_secs)
}

/// Names in a raw credit ("By Jane Doe and Ravi Patel, Staff Writers", "View all posts by
/// Jane Doe", a feed's `dc:creator`): prefixes, furniture, roles and dates cut, split into
/// names, non-names dropped. The same cleaning page bylines get.
pub fn clean_byline(raw: &str) -> Vec<String> {
    byline::clean(raw)
}

/// Paragraphs that survived judging, and their visible character count.
struct Body {
    paras: Vec<String>,
    chars: u32,
    feats: Vec<(u32, u32, Tag)>,
}

impl Body {
    /// Keeps the paragraphs whose `keep` is true.
    fn retain(&mut self, keep: &[bool]) {
        let mut k = keep.iter();
        self.paras.retain(|_| k.next() == Some(&true));
        let mut k = keep.iter();
        self.feats.retain(|_| k.next() == Some(&true));
    }

    fn pop(&mut self) {
        self.paras.pop();
        self.feats.pop();
    }
}

fn finish(r: render::Rendered) -> Body {
    let mut paras = Vec::new();
    let mut feats = Vec::new();
    let mut chars = 0;
    let mut cut: Option<(usize, u32)> = None;
    let mut post_end: Option<(usize, u32)> = None;
    for p in &r.paras {
        let t = &r.buf[p.start..p.end];
        match render::judge(t, p) {
            Verdict::Keep => {
                // A kept line that opens the furniture after the story ("Zum Weiterlesen", a
                // "Related" heading) is a cut mark like a dropped one.
                if cut.is_none() && render::ends_story(t) {
                    cut = Some((paras.len(), chars));
                }
                chars += p.chars;
                paras.push(t.to_owned());
                feats.push((p.chars, p.link_chars, p.tag));
            }
            Verdict::Byline => {}
            Verdict::Drop => {
                if cut.is_none() && render::ends_story(t) {
                    cut = Some((paras.len(), chars));
                }
                // A blog engine's post footer closes the post, however long what follows is.
                if post_end.is_none() && render::is_post_footer(t) {
                    post_end = Some((paras.len(), chars));
                }
            }
        }
    }
    // "Related articles", "Leave a reply", "About the author": what follows such a line near the
    // end of the body is not the story.
    if let Some((k, before)) =
        post_end.or(cut.filter(|&(_, before)| (chars - before) * 10 <= chars * 4))
    {
        paras.truncate(k);
        feats.truncate(k);
        chars = before;
    }
    Body {
        paras,
        chars,
        feats,
    }
}

fn rule_roots(dom: &Dom, doc: &scraper::Html, rule: &SiteRule, blocked: &mut [bool]) -> Vec<u32> {
    use std::collections::HashMap;
    let index: HashMap<_, u32> = dom
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| n.el.map(|e| (e.id(), i as u32)))
        .collect();
    for s in &rule.remove {
        let Ok(sel) = scraper::Selector::parse(s) else {
            continue;
        };
        for e in doc.select(&sel) {
            if let Some(&i) = index.get(&e.id()) {
                let end = dom.nodes[i as usize].end as usize;
                blocked[i as usize..end].iter_mut().for_each(|b| *b = true);
            }
        }
    }
    let mut roots: Vec<u32> = Vec::new();
    for s in &rule.body {
        let Ok(sel) = scraper::Selector::parse(s) else {
            continue;
        };
        roots.extend(doc.select(&sel).filter_map(|e| index.get(&e.id()).copied()));
        if !roots.is_empty() {
            break;
        }
    }
    roots.sort_unstable();
    roots.dedup();
    // Keep outermost matches only.
    let mut out: Vec<u32> = Vec::new();
    for r in roots {
        if out.last().is_none_or(|&l| !dom.contains(l, r)) {
            out.push(r);
        }
    }
    out
}

/// Renders `roots` and judges the paragraphs.
fn pass(dom: &Dom, roots: &[u32], removed: Option<&[bool]>, furniture: bool, clean: bool) -> Body {
    finish(render::render(
        dom,
        roots,
        &Options {
            removed,
            furniture,
            clean,
        },
    ))
}

fn body(
    dom: &Dom,
    doc: &scraper::Html,
    rule: Option<&SiteRule>,
    title: &str,
    titles: &[String],
    witness: Option<&witness::Witness>,
) -> String {
    let headline = content::headline(dom, titles);
    let mut blocked = content::blocked(dom, headline);
    let mut removed: Option<Vec<bool>> = None;
    if let Some(rule) = rule {
        let mut rm = vec![false; dom.nodes.len()];
        let roots = rule_roots(dom, doc, rule, &mut rm);
        for (b, r) in blocked.iter_mut().zip(&rm) {
            *b |= *r;
        }
        removed = Some(rm);
        if !roots.is_empty() {
            let b = pass(dom, &roots, removed.as_deref(), true, true);
            if b.chars >= MIN_BODY_CHARS {
                return assemble(b, title);
            }
        }
    }
    let removed = removed.as_deref();
    // Without the feed's text, the page's own JSON-LD `articleBody` is the witness; its text is
    // the body of a page that yields little itself (one that renders the story by script).
    let ld_text = witness
        .is_none()
        .then(|| witness::json_ld_text(dom))
        .flatten();
    let ld_witness = ld_text.as_deref().and_then(witness::Witness::new);
    let chosen = match scored_body(dom, &blocked, removed, headline) {
        Some(b) if b.chars >= MIN_BODY_CHARS => assemble(b, title),
        short => match (noscript_body(doc, title), ld_text) {
            (Some(b), _) => b,
            (None, Some(t)) => return t,
            (None, None) => short.map(|b| assemble(b, title)).unwrap_or_default(),
        },
    };
    let Some(w) = witness.or(ld_witness.as_ref()) else {
        return chosen;
    };
    // The chosen body is not the feed's story: the block that matches the feed's text best is,
    // if it tells clearly more. (A block that tells as much in fewer words is not taken: an
    // excerpt matches a lede box as well as a short post matches itself.)
    let told = w.told(&chosen);
    if told >= witness::TOLD {
        return chosen;
    }
    w.best_block(dom)
        .map(|b| assemble(pass(dom, &[b], removed, true, true), title))
        .filter(|other| w.told(other) >= (told + 0.25).max(0.6))
        .unwrap_or(chosen)
}

/// A page that renders its article by script may carry it again, as markup, in a `<noscript>`
/// (Blogger's dynamic templates do): the body of that markup, when the page itself yields little.
fn noscript_body(doc: &scraper::Html, title: &str) -> Option<String> {
    let sel = scraper::Selector::parse("noscript").expect("valid selector");
    let markup: String = doc
        .select(&sel)
        .map(|n| n.text().collect::<String>())
        .filter(|t| holds_paragraphs(t.as_bytes()))
        .collect();
    if markup.is_empty() {
        return None;
    }
    // Parsed like a page (deep nesting flattened first), since it is one.
    let inner = crate::scrape::parse_page(&markup);
    let dom = dom::build(&inner);
    let headline = content::headline(&dom, &[]);
    let blocked = content::blocked(&dom, headline);
    scored_body(&dom, &blocked, None, headline).map(|b| assemble(b, title))
}

/// Whether markup holds three paragraphs or more: a `<noscript>` that carries an article, not a
/// tracking pixel or a "please enable JavaScript" line.
pub(crate) fn holds_paragraphs(markup: &[u8]) -> bool {
    markup
        .windows(3)
        .filter(|w| w[0] == b'<' && w[1].eq_ignore_ascii_case(&b'p') && matches!(w[2], b'>' | b' '))
        .nth(2)
        .is_some()
}

/// The body chosen on the page's own signals: scored candidates, a semantic container, a
/// hint-free retry, a tiny page as a whole.
fn scored_body(
    dom: &Dom,
    blocked: &[bool],
    removed: Option<&[bool]>,
    headline: Option<u32>,
) -> Option<Body> {
    let mut best: Option<Body> = None;
    // Whether `best` is a marked body right under the headline: then a very short one counts.
    let mut anchored = false;
    let sc = content::score(dom, blocked, true);
    if let Some(roots) = content::choose(dom, &sc, blocked) {
        let roots = content::with_rest(dom, content::prefer_semantic(dom, roots, blocked));
        let roots = content::with_standfirst(dom, roots, headline, blocked);
        anchored = content::under_headline(dom, &roots, headline);
        // Full cleaning first; if that leaves little, the cleaning may have cut the story.
        for clean in [true, false] {
            let b = pass(dom, &roots, removed, true, clean);
            if b.chars >= RETRY_CHARS {
                return Some(b);
            }
            if best.as_ref().is_none_or(|x| b.chars > x.chars) {
                best = Some(b);
            }
        }
    }
    // Class hints may have hidden the story (a "comments-open" wrapper): score without them.
    // Only a clearly longer result wins, so a short story does not lose to its comments, and
    // only from inside a hidden part that could be the story's frame (see `unhidden_ok`).
    // It scores without overlays, and comment sections and overlays stay out of its render:
    // they are never the story (a login dialog's messages outweigh a video page's description).
    let overlays = without(dom, None, dom::F_OVERLAY, headline);
    let sc = content::score(dom, &overlays, false);
    if let Some(roots) = content::choose(dom, &sc, &overlays)
        && unhidden_ok(dom, &roots, blocked, headline, anchored)
    {
        let rm = without(dom, removed, dom::F_COMMENTS | dom::F_OVERLAY, headline);
        let b = pass(dom, &roots, Some(&rm), false, true);
        if best
            .as_ref()
            .is_none_or(|x| b.chars > x.chars * FALLBACK_MARGIN)
        {
            best = Some(b);
            anchored = false;
        }
    }
    match best {
        Some(b) if b.chars >= MIN_BODY_CHARS || (anchored && b.chars >= MIN_POST_CHARS) => Some(b),
        _ => {
            // A tiny page without site chrome is its own body, unless it is an error or a stub.
            if dom.nodes[dom.body as usize].chars >= TINY_PAGE_CHARS {
                return None;
            }
            let b = pass(dom, &[dom.body], removed, true, true);
            (b.chars > 0 && !looks_like_stub(&b.paras.join(" "))).then_some(b)
        }
    }
}

/// May the hint-free pass's `roots` stand in for the hinted result? A root that hints hid is
/// taken from a hidden block that holds the headline too (a wrapper whose class misled), but
/// not from a comment section or overlay inside it. Other hidden blocks are refused when they
/// are comment sections or overlays (a short post's comments are longer than it is) or when the
/// hinted result is a marked body under the headline (`anchored`): then a block beside it is
/// the sidebar.
fn unhidden_ok(
    dom: &Dom,
    roots: &[u32],
    blocked: &[bool],
    headline: Option<u32>,
    anchored: bool,
) -> bool {
    let nodes = &dom.nodes;
    roots.iter().all(|&r| {
        // The outermost hidden ancestor-or-self of r, and whether a comment section or overlay is
        // on the way.
        // `inner`: one below that ancestor.
        let (mut top, mut not_story, mut inner) = (None, false, false);
        let mut a = r;
        while a != dom::NONE && blocked[a as usize] {
            inner |= not_story;
            top = Some(a);
            not_story |= nodes[a as usize].flags & (dom::F_COMMENTS | dom::F_OVERLAY) != 0;
            a = nodes[a as usize].parent;
        }
        match top {
            None => true,
            Some(t) if headline.is_some_and(|h| dom.contains(t, h)) => !inner,
            Some(_) => !not_story && !anchored,
        }
    })
}

/// `removed` (site-rule removals) plus every block marked with one of `flags` (comment sections,
/// overlays) but one around the headline, which is a wrapper of the whole story.
fn without(dom: &Dom, removed: Option<&[bool]>, flags: u16, headline: Option<u32>) -> Vec<bool> {
    let mut rm = removed.map_or_else(|| vec![false; dom.nodes.len()], <[bool]>::to_vec);
    let mut j = 0u32;
    while (j as usize) < dom.nodes.len() {
        let n = &dom.nodes[j as usize];
        if n.flags & flags != 0 && !headline.is_some_and(|h| dom.contains(j, h)) {
            rm[j as usize..n.end as usize]
                .iter_mut()
                .for_each(|b| *b = true);
            j = n.end;
        } else {
            j += 1;
        }
    }
    rm
}

/// How many times longer the hint-free fallback must be to replace a hinted result.
const FALLBACK_MARGIN: u32 = 2;

/// Pages this small have no site around the text; a body below `MIN_BODY_CHARS` is then kept.
const TINY_PAGE_CHARS: u32 = 600;

/// Error pages, login walls, cookie and robot checks.
fn looks_like_stub(text: &str) -> bool {
    const STUB: &[&str] = &[
        "404",
        "not found",
        "access denied",
        "forbidden",
        "log in",
        "login",
        "sign in",
        "subscribe",
        "subscription",
        "error",
        "nicht gefunden",
        "introuvable",
        "no encontrad",
        "javascript",
        "cookies",
        "captcha",
        "robot",
        "unavailable",
        "anmelden",
        "connexion",
    ];
    let lower = text.to_lowercase();
    STUB.iter().any(|s| lower.contains(s))
}

fn assemble(mut b: Body, title: &str) -> String {
    // Short unpunctuated text sitting directly in a <div> is a label or widget caption once
    // flattened ("Bild anzeigen", "Teilen"). A page that is nothing but a few lines is left alone.
    let long = b.chars >= 500;
    if long {
        let keep: Vec<bool> = b
            .feats
            .iter()
            .zip(&b.paras)
            .map(|(f, p)| !(f.2 == Tag::Div && f.0 < 60 && !p.trim_end().ends_with(SENTENCE_END)))
            .collect();
        b.retain(&keep);
    }
    // Affiliate and advertising disclosures at either end of the story.
    let n = b.paras.len();
    if n > 1 {
        let ends = |k: usize| k < 2 || k + 2 >= n;
        let keep: Vec<bool> = (0..n)
            .map(|k| !(ends(k) && render::is_disclosure(&b.paras[k])))
            .collect();
        b.retain(&keep);
    }
    // The tail: headings with nothing after them (they announced a box that was removed),
    // calls to action ("Follow us on Twitter", "Get our app"), a note about the author.
    let mut promos = 0;
    while let (Some(last), Some(f)) = (b.paras.last(), b.feats.last()) {
        let alone = b.paras.len() == 1;
        let promo = !alone && promos < 2 && render::is_promo(last);
        if !(long && f.2.is_heading() || promo || !alone && render::is_author_note(last)) {
            break;
        }
        promos += usize::from(promo);
        b.pop();
    }
    // The headline repeated at the top of the body is not body text.
    let tn: String = title
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    if !tn.is_empty()
        && let Some(k) = b.paras.iter().take(3).position(|p| {
            let pn: String = p
                .chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect();
            pn == tn
        })
    {
        b.paras.remove(k);
    }
    b.paras.join("\n\n")
}

/// Words in `text`, for `word_count` in events.
///
/// Rule: whitespace separates tokens; in a token every Han ideograph and every Hiragana/Katakana
/// character counts as one word (Chinese and Japanese do not space words; one character is the
/// common proxy), and each maximal run of other letters/digits counts as one word (so Korean,
/// which spaces its words, counts per space-separated word). Pure punctuation counts nothing.
pub fn word_count(text: &str) -> usize {
    let mut n = 0;
    for tok in text.split_whitespace() {
        let mut in_run = false;
        for c in tok.chars() {
            if is_cjk_char(c) {
                n += 1;
                in_run = false;
            } else if c.is_alphanumeric() {
                if !in_run {
                    n += 1;
                    in_run = true;
                }
            } else if !matches!(c, '\'' | '’' | '-' | '.' | ',') || !in_run {
                in_run = false;
            }
        }
    }
    n
}

fn is_cjk_char(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

#[cfg(test)]
mod tests;
