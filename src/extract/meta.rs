//! Page metadata: headline, authors, declared language, canonical URL.
//!
//! Read from `<head>` (meta, link, title, JSON-LD) and a few body conventions (h1, rel=author).
//! Everything is optional; malformed JSON-LD or URLs are skipped, never an error.

use super::dom::{Dom, Tag};
use url::Url;

#[derive(Default)]
pub(crate) struct Meta {
    pub title: String,
    pub site_name: Option<String>,
    pub authors: Vec<String>,
    pub language: Option<String>,
    pub canonical: Option<String>,
}

pub(crate) fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

fn node_text(dom: &Dom, i: u32) -> String {
    let n = &dom.nodes[i as usize];
    let mut s = String::new();
    for j in i as usize + 1..n.end as usize {
        let c = &dom.nodes[j];
        if c.tag == Tag::Text && c.flags & super::dom::F_HIDDEN == 0 {
            s.push_str(c.text);
        }
    }
    collapse(&s)
}

pub(crate) fn collect(dom: &Dom, page_url: Option<&Url>) -> Meta {
    let mut m = Meta::default();
    let mut og_title = None;
    let mut tw_title = None;
    let mut doc_title = None;
    let mut h1s: Vec<String> = Vec::new();
    let mut canonical = None;
    let mut og_url = None;
    let mut lang_html = None;
    let mut lang_meta = None;
    let mut og_locale = None;
    let mut authors: Vec<String> = Vec::new();
    let mut ld_authors: Vec<String> = Vec::new();
    let mut rel_authors: Vec<String> = Vec::new();
    let mut bylines: Vec<String> = Vec::new();
    for (i, n) in dom.nodes.iter().enumerate() {
        let Some(el) = n.el else { continue };
        let e = el.value();
        match e.name() {
            "html" if lang_html.is_none() => {
                lang_html = e
                    .attr("lang")
                    .or_else(|| e.attr("xml:lang"))
                    .map(str::to_owned);
            }
            "title" if doc_title.is_none() => {
                let t: String = el.text().collect();
                doc_title = Some(collapse(&t));
            }
            "h1" if h1s.len() < 4 && n.chars > 0 => h1s.push(node_text(dom, i as u32)),
            "meta" => {
                let key = e
                    .attr("property")
                    .or_else(|| e.attr("name"))
                    .or_else(|| e.attr("itemprop"))
                    .or_else(|| e.attr("http-equiv"))
                    .unwrap_or("")
                    .to_ascii_lowercase();
                let Some(content) = e.attr("content") else {
                    continue;
                };
                let content = collapse(content);
                if content.is_empty() {
                    continue;
                }
                match key.as_str() {
                    "og:title" => og_title = Some(content),
                    "twitter:title" => tw_title = Some(content),
                    "og:site_name" => m.site_name = Some(content),
                    "og:url" => og_url = Some(content),
                    "og:locale" => og_locale = Some(content),
                    "content-language" | "language" | "dc.language" => lang_meta = Some(content),
                    "author" | "article:author" | "byl" | "dc.creator" | "sailthru.author"
                    | "parsely-author" | "dcterms.creator" => authors.push(content),
                    _ => {}
                }
            }
            "link" => {
                let rel = e.attr("rel").unwrap_or("").to_ascii_lowercase();
                if rel.split_whitespace().any(|r| r == "canonical") && canonical.is_none() {
                    canonical = e.attr("href").map(str::to_owned);
                }
            }
            "script"
                if e.attr("type")
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ld+json")) =>
            {
                let t: String = el.text().collect();
                jsonld_authors(&t, &mut ld_authors);
            }
            _ if bylines.len() < 4 && n.chars > 0 && n.chars < 120 && is_byline_el(e) => {
                let t = node_text(dom, i as u32);
                // itemprop=author holds just the name; a byline needs its "By".
                if e.attr("itemprop").is_some_and(|v| v.contains("author")) {
                    rel_authors.push(t);
                } else {
                    bylines.push(t);
                }
            }
            "a" if rel_authors.len() < 5
                && e.attr("rel").is_some_and(|r| {
                    r.split_whitespace()
                        .any(|x| x.eq_ignore_ascii_case("author"))
                }) =>
            {
                rel_authors.push(node_text(dom, i as u32));
            }
            _ => {}
        }
    }
    let host = page_url.and_then(|u| u.host_str()).map(norm_cmp);
    m.title = pick_title(
        og_title.or(tw_title),
        doc_title,
        &h1s,
        m.site_name.as_deref(),
        host.as_deref(),
    );
    for a in authors.into_iter().chain(ld_authors).chain(rel_authors) {
        add_author(&mut m.authors, &a);
    }
    for b in bylines {
        if BYLINE_PREFIXES
            .iter()
            .any(|p| b.to_lowercase().starts_with(p))
        {
            add_author(&mut m.authors, &b);
        }
    }
    m.language = lang_html
        .as_deref()
        .and_then(normalize_lang)
        .or_else(|| lang_meta.as_deref().and_then(normalize_lang))
        .or_else(|| og_locale.as_deref().and_then(normalize_lang));
    m.canonical = canonical
        .as_deref()
        .and_then(|c| resolve(c, page_url))
        .or_else(|| og_url.as_deref().and_then(|c| resolve(c, page_url)));
    m
}

const BYLINE_PREFIXES: &[&str] = &["by ", "von ", "par ", "por ", "door ", "di ", "av ", "af "];

/// `class="byline"`, `itemprop="author"`: elements whose short text names the writers.
fn is_byline_el(e: &scraper::node::Element) -> bool {
    e.attr("itemprop").is_some_and(|v| v.contains("author"))
        || e.attr("class").is_some_and(|c| {
            c.split_whitespace().any(|t| {
                t.eq_ignore_ascii_case("byline")
                    || t.to_ascii_lowercase().ends_with("-byline")
                    || t.to_ascii_lowercase().ends_with("__byline")
            })
        })
}

fn resolve(href: &str, base: Option<&Url>) -> Option<String> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    let u = match base {
        Some(b) => b.join(href).ok()?,
        None => Url::parse(href).ok()?,
    };
    matches!(u.scheme(), "http" | "https").then(|| u.to_string())
}

/// "en_US" -> "en-US", "DE" -> "de", "en-us,en" -> "en-US"; junk -> None.
pub(crate) fn normalize_lang(raw: &str) -> Option<String> {
    let first = raw.split([',', ';', ' ']).find(|s| !s.is_empty())?;
    let mut out = String::new();
    for (k, part) in first.split(['-', '_']).enumerate() {
        if part.is_empty() || part.len() > 8 || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        if k == 0 {
            if !(2..=3).contains(&part.len()) || !part.bytes().all(|b| b.is_ascii_alphabetic()) {
                return None;
            }
            out.push_str(&part.to_ascii_lowercase());
        } else {
            out.push('-');
            match part.len() {
                2 => out.push_str(&part.to_ascii_uppercase()),
                4 => {
                    out.push_str(&part[..1].to_ascii_uppercase());
                    out.push_str(&part[1..].to_ascii_lowercase());
                }
                _ => out.push_str(&part.to_ascii_lowercase()),
            }
        }
    }
    Some(out)
}

const SEPARATORS: &[&str] = &[
    " | ", " - ", " – ", " — ", " :: ", " · ", " » ", " // ", " : ",
];

fn norm_cmp(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn strip_site(t: &str, site: Option<&str>, host: Option<&str>) -> String {
    let Some(sep) = SEPARATORS.iter().find(|s| t.contains(*s)) else {
        return t.to_owned();
    };
    let parts: Vec<&str> = t
        .split(sep)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() < 2 {
        return t.to_owned();
    }
    let site_n = site.map(norm_cmp);
    let kept: Vec<&str> = parts
        .iter()
        .copied()
        .filter(|p| site_n.as_deref() != Some(norm_cmp(p).as_str()))
        .collect();
    if kept.len() == 1 {
        return kept[0].to_owned();
    }
    // Without a known site name, the part naming the host is the site; else the headline
    // comes first ("Foo - The Daily Bar"), and "A - B - Site" keeps "A - B".
    if let Some(h) = host {
        let kept: Vec<&str> = parts
            .iter()
            .copied()
            .filter(|p| {
                let n = norm_cmp(p);
                !(n.len() >= 3 && h.contains(&n))
            })
            .collect();
        if kept.len() == 1 {
            return kept[0].to_owned();
        }
    }
    if parts.len() > 2
        && parts
            .last()
            .is_some_and(|l| l.split_whitespace().count() <= 4)
    {
        let idx = t.rfind(sep).unwrap_or(t.len());
        return t[..idx].trim().to_owned();
    }
    parts[0].to_owned()
}

fn pick_title(
    og: Option<String>,
    doc: Option<String>,
    h1s: &[String],
    site: Option<&str>,
    host: Option<&str>,
) -> String {
    let candidates: Vec<&String> = og.iter().chain(doc.iter()).collect();
    // An h1 that the <title>/og:title contain is the headline without decoration.
    for h in h1s {
        let hn = norm_cmp(h);
        if hn.len() >= 4 && candidates.iter().any(|c| norm_cmp(c).contains(&hn)) {
            return h.clone();
        }
    }
    if let Some(t) = og.as_deref().or(doc.as_deref()) {
        let s = strip_site(t, site, host);
        if !s.is_empty() {
            return s;
        }
    }
    h1s.first().cloned().unwrap_or_default()
}

pub(crate) fn add_author(out: &mut Vec<String>, raw: &str) {
    let raw = collapse(raw);
    if raw.is_empty() || raw.contains("://") || raw.starts_with("www.") || raw.len() > 200 {
        return;
    }
    let lower = raw.to_lowercase();
    let mut s = raw.as_str();
    for p in [
        "by ", "von ", "par ", "por ", "door ", "di ", "author: ", "autor: ", "text: ",
    ] {
        if lower.starts_with(p) {
            s = &raw[p.len()..];
            break;
        }
    }
    // Cut trailing dateline or role: "Jane Doe | May 5", "Jane Doe, Reuters" stays two names.
    let s = s.split(['|', '•', '\n', '(']).next().unwrap_or("").trim();
    let mut names: Vec<&str> = vec![s];
    for sep in [
        " and ", " & ", " und ", " et ", " y ", " e ", " en ", ", ", ";", " / ",
    ] {
        names = names.iter().flat_map(|n| n.split(sep)).collect();
    }
    for n in names {
        let n = n
            .trim()
            .trim_matches(|c: char| !c.is_alphanumeric() && c != '.');
        let words = n.split_whitespace().count();
        if n.is_empty() || words > 6 || n.chars().count() > 60 || n.contains('@') {
            continue;
        }
        if n.chars().any(|c| c.is_ascii_digit()) {
            continue;
        }
        // "By Jane Doe, City Hall reporter": a part ending in a lower-case word is a role.
        let last = n.split_whitespace().last().and_then(|w| w.chars().next());
        if last.is_some_and(char::is_lowercase) {
            continue;
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(n)) {
            out.push(n.to_owned());
        }
    }
}

/// Author names from JSON-LD `author` of Article-like objects (top level, arrays, `@graph`).
fn jsonld_authors(text: &str, out: &mut Vec<String>) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text.trim()) else {
        return;
    };
    let mut stack = vec![&v];
    let mut seen = 0;
    while let Some(v) = stack.pop() {
        seen += 1;
        if seen > 2000 {
            break;
        }
        match v {
            serde_json::Value::Array(a) => stack.extend(a.iter()),
            serde_json::Value::Object(o) => {
                if let Some(g) = o.get("@graph") {
                    stack.push(g);
                }
                let is_article = o.get("@type").is_some_and(|t| {
                    let s = t.to_string();
                    s.contains("Article")
                        || s.contains("Posting")
                        || s.contains("Report")
                        || s.contains("WebPage")
                        || s.contains("CreativeWork")
                });
                if !is_article {
                    continue;
                }
                if let Some(a) = o.get("author").or_else(|| o.get("creator")) {
                    let list: Vec<&serde_json::Value> = match a {
                        serde_json::Value::Array(x) => x.iter().collect(),
                        x => vec![x],
                    };
                    for x in list {
                        match x {
                            serde_json::Value::String(s) => out.push(s.clone()),
                            serde_json::Value::Object(p) => {
                                if let Some(serde_json::Value::String(n)) = p.get("name") {
                                    out.push(n.clone());
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
}
