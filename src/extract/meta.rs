//! Page metadata: headline, declared language, canonical URL (bylines are `byline`'s).
//!
//! Read from `<head>` (meta, link, title) and the body's `<h1>`.
//! Everything is optional; malformed JSON-LD or URLs are skipped, never an error.

use super::dom::{Dom, Tag};
use url::Url;

#[derive(Default)]
pub(crate) struct Meta {
    pub title: String,
    /// og:title and `<title>` as the page gives them (site name included), for finding the
    /// headline in the body.
    pub raw_titles: Vec<String>,
    pub site_name: Option<String>,
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
                    _ => {}
                }
            }
            "link" => {
                let rel = e.attr("rel").unwrap_or("").to_ascii_lowercase();
                if rel.split_whitespace().any(|r| r == "canonical") && canonical.is_none() {
                    canonical = e.attr("href").map(str::to_owned);
                }
            }
            _ => {}
        }
    }
    let host = page_url.and_then(|u| u.host_str()).map(norm_cmp);
    m.raw_titles = og_title.iter().chain(&doc_title).cloned().collect();
    m.title = pick_title(
        og_title.or(tw_title),
        doc_title,
        &h1s,
        m.site_name.as_deref(),
        host.as_deref(),
    );
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

/// A JSON-LD script's value (a trailing `;`, as some sites write, is forgiven).
pub(crate) fn parse_json_ld(text: &str) -> Option<serde_json::Value> {
    serde_json::from_str(text.trim().trim_end_matches(';')).ok()
}

/// The objects a JSON-LD value states: top-level ones and `@graph` members, in order, at most
/// about 200.
pub(crate) fn json_ld_items(v: &serde_json::Value) -> Vec<&serde_json::Value> {
    use serde_json::Value;
    let mut items = Vec::new();
    let mut stack = vec![v];
    while let Some(x) = stack.pop() {
        if items.len() > 200 {
            break;
        }
        match x {
            Value::Array(a) => stack.extend(a.iter().rev()),
            Value::Object(o) => {
                items.push(x);
                if let Some(g) = o.get("@graph") {
                    stack.push(g);
                }
            }
            _ => {}
        }
    }
    items
}
