//! The feed's own text of the article as a witness for the body: when the body chosen on the
//! page's signals tells little of what the feed carries (a short post beside longer comments, a
//! sidebar taken for the story), the block of the page that best matches the feed's text wins.
//!
//! Texts are compared as sets of word trigrams (lower-cased, punctuation ignored), hashed: a
//! trigram the feed has and the page repeats is the same wording, whatever the markup around it.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

use super::dom::{Dom, F_HIDDEN, NONE, Tag};

/// The feed's text, as its trigrams.
pub(crate) struct Witness {
    grams: HashSet<u64>,
}

/// Fewer trigrams than this (a teaser) witness nothing.
const MIN_GRAMS: usize = 60;

/// A body that tells less than this share of the feed's text is not the feed's story.
pub(crate) const TOLD: f32 = 0.5;

impl Witness {
    /// `None` for a teaser, or an excerpt that says it is cut ("…", "[...]", "Read more"): an
    /// opening alone matches a lede box as well as the story.
    pub(crate) fn new(text: &str) -> Option<Witness> {
        if is_cut(text) {
            return None;
        }
        let mut grams = HashSet::new();
        trigrams(text, |g| {
            grams.insert(g);
        });
        (grams.len() >= MIN_GRAMS).then_some(Witness { grams })
    }

    /// The share of the feed's trigrams that `body` has.
    pub(crate) fn told(&self, body: &str) -> f32 {
        let mut seen = HashSet::new();
        trigrams(body, |g| {
            if self.grams.contains(&g) {
                seen.insert(g);
            }
        });
        seen.len() as f32 / self.grams.len() as f32
    }

    /// The element whose visible text best matches the feed's: highest F1 of trigrams found in
    /// the feed against trigrams in the element, counted per text node (a trigram across an
    /// inline tag is not counted, alike for every element). Hidden parts and non-text elements
    /// count nothing. `None` when no text node shares a trigram with the feed.
    pub(crate) fn best_block(&self, dom: &Dom) -> Option<u32> {
        let nodes = &dom.nodes;
        // Per node: trigrams in its subtree, and those the feed has.
        let mut total = vec![0u32; nodes.len()];
        let mut found = vec![0u32; nodes.len()];
        let mut i = 1;
        while i < nodes.len() {
            let n = &nodes[i];
            if matches!(n.tag, Tag::Junk | Tag::Head) || n.flags & F_HIDDEN != 0 {
                i = n.end as usize;
                continue;
            }
            if n.tag == Tag::Text {
                trigrams(n.text, |g| {
                    total[i] += 1;
                    found[i] += u32::from(self.grams.contains(&g));
                });
            }
            i += 1;
        }
        for i in (1..nodes.len()).rev() {
            let p = nodes[i].parent;
            if p != NONE {
                total[p as usize] += total[i];
                found[p as usize] += found[i];
            }
        }
        let want = self.grams.len() as f32;
        let mut best = None;
        let mut best_f1 = 0.0;
        for (i, n) in nodes.iter().enumerate() {
            if found[i] == 0 || n.tag == Tag::Text || matches!(n.tag, Tag::Document | Tag::Html) {
                continue;
            }
            let (f, t) = (found[i] as f32, total[i] as f32);
            let f1 = 2.0 * f / (t + want);
            // Ties go to the outer element: a wrapper adding nothing keeps the inline parts.
            if f1 > best_f1 {
                best_f1 = f1;
                best = Some(i as u32);
            }
        }
        best
    }
}

/// Does `text` end the way feeds end an excerpt?
fn is_cut(text: &str) -> bool {
    let text = text.trim_end();
    let from = text.char_indices().rev().nth(23).map_or(0, |(i, _)| i);
    let end = text[from..].to_lowercase();
    let end = end.trim_end_matches(|c: char| !c.is_alphanumeric() && c != '…' && c != '.');
    end.ends_with('…')
        || end.ends_with("...")
        || [
            "read more",
            "continue reading",
            "weiterlesen",
            "lire la suite",
            "leer más",
        ]
        .iter()
        .any(|m| end.ends_with(m))
}

/// Calls `each` with the hash of every word trigram of `text`; words are runs of alphanumeric
/// characters, lower-cased.
fn trigrams(text: &str, mut each: impl FnMut(u64)) {
    let hasher = BuildHasherDefault::<DefaultHasher>::default();
    let mut words: [u64; 3] = [0; 3];
    let mut n = 0usize;
    let mut word = String::new();
    let mut push = |word: &mut String, n: &mut usize| {
        if word.is_empty() {
            return;
        }
        words = [words[1], words[2], hasher.hash_one(&*word)];
        word.clear();
        *n += 1;
        if *n >= 3 {
            each(hasher.hash_one(words));
        }
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else {
            push(&mut word, &mut n);
        }
    }
    push(&mut word, &mut n);
}

/// The article's text as the page's JSON-LD states it (`articleBody` of the first object that
/// has one, top level or in `@graph`), as plain paragraphs; `None` under 200 characters. Pages
/// that render the story by script often carry it there whole.
pub(crate) fn json_ld_text(dom: &Dom) -> Option<String> {
    for n in &dom.nodes {
        let Some(e) = n.el.filter(|e| e.value().name() == "script") else {
            continue;
        };
        if !e
            .value()
            .attr("type")
            .is_some_and(|t| t.contains("ld+json"))
        {
            continue;
        }
        let text: String = e.text().collect();
        if !text.contains("\"articleBody\"") {
            continue;
        }
        let Some(v) = super::meta::parse_json_ld(&text) else {
            continue;
        };
        let body = super::meta::json_ld_items(&v)
            .into_iter()
            .filter_map(|o| o.get("articleBody").and_then(serde_json::Value::as_str))
            .map(plain_paragraphs)
            .find(|b| b.chars().count() >= 200);
        if body.is_some() {
            return body;
        }
    }
    None
}

/// Text that may be markup (some sites put HTML in `articleBody`) as paragraphs, one per line
/// or block, blank lines between.
fn plain_paragraphs(s: &str) -> String {
    let text = if s.contains('<') {
        let frag = scraper::Html::parse_fragment(&s.replace("</p>", "</p>\n"));
        frag.root_element().text().collect::<String>()
    } else {
        s.to_owned()
    };
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(words: usize, seed: &str) -> String {
        (0..words).map(|i| format!("{seed}{i} ")).collect()
    }

    #[test]
    fn a_teaser_witnesses_nothing() {
        assert!(Witness::new(&text(40, "w")).is_none());
        assert!(Witness::new(&text(200, "w")).is_some());
    }

    #[test]
    fn an_excerpt_that_says_it_is_cut_witnesses_nothing() {
        for end in [" […]", " [...]", "…", " Read more »", " Continue reading →"] {
            let t = text(200, "w") + end;
            assert!(Witness::new(&t).is_none(), "{end}");
        }
        assert!(Witness::new(&(text(200, "w") + "ends here.")).is_some());
    }

    #[test]
    fn told_is_the_share_of_the_feed_the_body_repeats() {
        let w = Witness::new(&text(202, "w")).unwrap();
        assert_eq!(w.told(&text(202, "w")), 1.0);
        assert_eq!(w.told(&text(202, "x")), 0.0);
        let half = w.told(&text(102, "w"));
        assert!((0.49..=0.51).contains(&half), "{half}");
        // Case and punctuation do not matter.
        assert_eq!(w.told(&text(202, "W").replace(' ', ", ")), 1.0);
    }
}
