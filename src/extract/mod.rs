//! Page extraction: from a parsed HTML page to the article's headline, authors, language,
//! canonical URL and body text.
//!
//! How the body is found (see `content` and `render`): a flat copy of the tree is scored
//! readability-style (paragraph prose lifts its ancestors; tags, class/id/role hints and link
//! density adjust), strong semantic containers (`itemprop=articleBody`, `entry-content`...) are
//! preferred when they hold the story, and the winner is rendered to text with furniture inside it
//! (share bars, related/link lists, bylines, datelines, boilerplate lines) dropped. When that
//! yields little, it retries with less cleaning, then without class hints. A page whose best body
//! is still tiny (front page, 404, login or paywall stub) gets an empty `body_text`.
//!
//! Guarantees: never panics on any input, never recurses over the DOM (100,000-deep nesting is
//! fine), runs in time linear in the page size with memory a small multiple of it, and does not
//! reparse the document. Site rules (`SiteRule`) take precedence when their selectors match.
//! Failure mode: a wrong or empty body, never an error.

mod content;
mod dom;
mod hints;
mod lang;
mod meta;
mod render;

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

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Extracted {
    /// Headline, without the site name.
    pub title: String,
    /// Bylines from metadata, JSON-LD, rel=author and "By X and Y" lines; deduplicated.
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
/// Below this, try the next, more permissive strategy.
const RETRY_CHARS: u32 = 500;

pub fn extract(
    doc: &scraper::Html,
    page_url: Option<&url::Url>,
    rule: Option<&SiteRule>,
) -> Extracted {
    let dom = dom::build(doc);
    let meta = meta::collect(&dom, page_url);
    let mut authors = meta.authors.clone();
    let body = body(&dom, doc, rule, &meta.title, &mut authors);
    let language = meta.language.clone().or_else(|| {
        if body.is_empty() {
            lang::guess(&meta.title)
        } else {
            lang::guess(&body)
        }
    });
    Extracted {
        title: meta.title,
        authors,
        language,
        canonical_url: meta.canonical,
        body_text: body,
    }
}

/// Paragraphs that survived judging, and their visible character count.
struct Body {
    paras: Vec<String>,
    chars: u32,
    bylines: Vec<String>,
}

fn finish(r: render::Rendered) -> Body {
    let mut paras = Vec::new();
    let mut bylines = Vec::new();
    let mut chars = 0;
    for p in &r.paras {
        let t = &r.buf[p.start..p.end];
        match render::judge(t, p) {
            Verdict::Keep => {
                chars += p.chars;
                paras.push(t.to_owned());
            }
            Verdict::Byline => bylines.push(t.to_owned()),
            Verdict::Drop => {}
        }
    }
    Body {
        paras,
        chars,
        bylines,
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

fn body(
    dom: &Dom,
    doc: &scraper::Html,
    rule: Option<&SiteRule>,
    title: &str,
    authors: &mut Vec<String>,
) -> String {
    let mut blocked = content::blocked(dom);
    let mut rule_removed: Option<Vec<bool>> = None;
    let mut best: Option<Body> = None;
    let consider = |b: Body, best: &mut Option<Body>| {
        if best.as_ref().is_none_or(|x| b.chars > x.chars) {
            *best = Some(b);
        }
    };
    if let Some(rule) = rule {
        let mut removed = vec![false; dom.nodes.len()];
        let roots = rule_roots(dom, doc, rule, &mut removed);
        for (b, r) in blocked.iter_mut().zip(&removed) {
            *b |= *r;
        }
        rule_removed = Some(removed);
        if !roots.is_empty() {
            let r = render::render(
                dom,
                &roots,
                &Options {
                    removed: rule_removed.as_deref(),
                    furniture: true,
                    clean: true,
                },
            );
            let b = finish(r);
            if b.chars >= MIN_BODY_CHARS {
                return assemble(b, title, authors);
            }
        }
    }
    let sc = content::score(dom, &blocked, true);
    #[cfg(extract_debug)]
    for (i, n) in dom.nodes.iter().enumerate() {
        if blocked[i] && !blocked[n.parent as usize] && n.chars > 300 {
            eprintln!(
                "blocked {} {:?} class={:?} id={:?} chars={} flags={}",
                i,
                n.tag,
                dom.attr(i as u32, "class"),
                dom.attr(i as u32, "id"),
                n.chars,
                n.flags
            );
        }
    }
    if let Some(mut roots) = content::choose(dom, &sc, &blocked) {
        if let Some(sem) = content::semantic(dom, &blocked).filter(|_| !knob("NOSEM")) {
            let free = content::free_chars(dom, &blocked);
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
            #[cfg(extract_debug)]
            eprintln!(
                "semantic {} {:?} class={:?} chars={} take={}",
                sem,
                dom.nodes[sem as usize].tag,
                dom.attr(sem, "class"),
                sem_chars,
                take
            );
            if take {
                roots = if !knob("NOLEDE") {
                    let top = *roots
                        .iter()
                        .find(|&&r| dom.contains(r, sem))
                        .unwrap_or(&sem);
                    content::with_lede(dom, sem, top, &blocked, &free)
                } else {
                    vec![sem]
                };
            }
        }
        #[cfg(extract_debug)]
        for &r in &roots {
            eprintln!(
                "root {} {:?} class={:?} id={:?} chars={} score={}",
                r,
                dom.nodes[r as usize].tag,
                dom.attr(r, "class"),
                dom.attr(r, "id"),
                dom.nodes[r as usize].chars,
                sc.score[r as usize]
            );
        }
        let b = finish(render::render(
            dom,
            &roots,
            &Options {
                removed: rule_removed.as_deref(),
                furniture: std::env::var_os("NOFURN").is_none(),
                clean: std::env::var_os("NOCLEAN").is_none(),
            },
        ));
        #[cfg(extract_debug)]
        eprintln!("pass1 chars {}", b.chars);
        if b.chars >= RETRY_CHARS {
            return assemble(b, title, authors);
        }
        consider(b, &mut best);
        let b = finish(render::render(
            dom,
            &roots,
            &Options {
                removed: rule_removed.as_deref(),
                furniture: true,
                clean: false,
            },
        ));
        if b.chars >= RETRY_CHARS {
            return assemble(b, title, authors);
        }
        consider(b, &mut best);
    }
    // Class hints may have hidden the story (a "comments-open" wrapper): score without them.
    let open = vec![false; dom.nodes.len()];
    let sc = content::score(dom, &open, false);
    if let Some(roots) = content::choose(dom, &sc, &open) {
        let b = finish(render::render(
            dom,
            &roots,
            &Options {
                removed: rule_removed.as_deref(),
                furniture: false,
                clean: true,
            },
        ));
        consider(b, &mut best);
    }
    match best {
        Some(b) if b.chars >= MIN_BODY_CHARS => assemble(b, title, authors),
        _ => {
            // A tiny page without site chrome is its own body, unless it is an error or a stub.
            let body = dom.body;
            if dom.nodes[body as usize].chars >= TINY_PAGE_CHARS {
                return String::new();
            }
            let opts = Options {
                removed: rule_removed.as_deref(),
                furniture: true,
                clean: true,
            };
            let b = finish(render::render(dom, &[body], &opts));
            let text = b.paras.join(" ");
            if b.chars == 0 || looks_like_stub(&text) {
                return String::new();
            }
            assemble(b, title, authors)
        }
    }
}

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

fn assemble(mut b: Body, title: &str, authors: &mut Vec<String>) -> String {
    for l in &b.bylines {
        meta::add_author(authors, l);
    }
    // The headline repeated at the top of the body is not body text.
    let tn: String = title
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    if !tn.is_empty() {
        if let Some(k) = b.paras.iter().take(3).position(|p| {
            let pn: String = p
                .chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect();
            pn == tn
        }) {
            b.paras.remove(k);
        }
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

#[allow(dead_code)]
fn _tag_is_used(t: Tag) -> bool {
    t.is_heading()
}

pub(crate) fn knob(name: &str) -> bool {
    std::env::var_os(name).is_some()
}

#[cfg(test)]
mod tests;
