//! What changed between two revisions: the `diff` of an `article.revised` event
//! (docs/events.md, "The diff").
//!
//! The title, the authors and each stamp give their value before and after; the body gives a
//! paragraph edit script (added, removed and changed paragraphs with their positions) and, for a
//! changed paragraph, the changed words with a few words of context, so "17" to "26" shows as
//! such; revision notes give the notes that appeared and those that went.
//!
//! Guarantees: the diff is computed by `similar` (Patience, on paragraphs then on words) under a
//! deadline, and the text it carries is capped at [`MAX_DIFF_TEXT`] bytes; what does not fit is
//! left out and `truncated` says so (the paragraph counts stay complete).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use similar::{Algorithm, ChangeTag, DiffOp, TextDiff};

use super::Snapshot;
use crate::stamps::{RevisionNote, Timestamp};

/// Text carried by one diff (paragraphs, words and their context, notes), in bytes.
pub const MAX_DIFF_TEXT: usize = 16 * 1024;
/// Words of unchanged context on each side of a word change.
const CONTEXT_WORDS: usize = 5;
/// Below this similarity two paragraphs at the same place are a removal and an addition, not
/// an edit of one paragraph.
const SAME_PARAGRAPH: f32 = 0.5;
/// A paragraph block larger than this (removed × added) is not searched for pairs.
const MAX_PAIRING: usize = 400;
/// The whole diff's time budget; past it `similar` gives a coarser (still correct) script.
const DEADLINE: Duration = Duration::from_millis(250);

/// A value before and after the revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change<T> {
    pub before: T,
    pub after: T,
}

/// `data.diff`: only the parts that changed are present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Change<String>>,
    /// Absent when the previous revision's text is not known (see [`super::MAX_KEPT_BODY`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyDiff>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authors: Option<Change<Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<Change<Option<Timestamp>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Change<Option<Timestamp>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_notes: Option<NotesDiff>,
    /// Some of the diff's text was left out to keep it under [`MAX_DIFF_TEXT`].
    pub truncated: bool,
}

/// The body's paragraph edit script. Positions are 0-based indexes into the paragraphs of
/// `body_text` (split on blank lines) before and after.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BodyDiff {
    pub paragraphs_before: usize,
    pub paragraphs_after: usize,
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub edits: Vec<ParagraphEdit>,
}

/// One step of the paragraph edit script, in document order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum ParagraphEdit {
    Added {
        after_index: usize,
        text: String,
    },
    Removed {
        before_index: usize,
        text: String,
    },
    Changed {
        before_index: usize,
        after_index: usize,
        words: Vec<WordChange>,
    },
}

/// Words replaced inside a changed paragraph; `removed` or `added` is empty for a pure
/// insertion or deletion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordChange {
    pub context_before: String,
    pub removed: String,
    pub added: String,
    pub context_after: String,
}

/// Notes that appeared and notes that went, each in document order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotesDiff {
    pub added: Vec<RevisionNote>,
    pub removed: Vec<RevisionNote>,
}

/// The paragraphs of a `body_text`: separated by blank lines, none empty.
pub fn paragraphs(body: &str) -> Vec<&str> {
    body.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// The diff between two revisions; `prev_body` is `None` when the previous text is not known.
pub fn diff(prev: &Snapshot, prev_body: Option<&str>, next: &Snapshot, next_body: &str) -> Diff {
    let mut budget = Budget(MAX_DIFF_TEXT);
    let mut d = Diff::default();
    if prev.title != next.title {
        d.title = Some(Change {
            before: prev.title.clone(),
            after: next.title.clone(),
        });
    }
    if prev.authors != next.authors {
        d.authors = Some(Change {
            before: prev.authors.clone(),
            after: next.authors.clone(),
        });
    }
    if prev.published_at != next.published_at {
        d.published_at = Some(Change {
            before: prev.published_at,
            after: next.published_at,
        });
    }
    if prev.updated_at != next.updated_at {
        d.updated_at = Some(Change {
            before: prev.updated_at,
            after: next.updated_at,
        });
    }
    if prev.revision_notes != next.revision_notes {
        let mut notes = NotesDiff::default();
        for n in next
            .revision_notes
            .iter()
            .filter(|n| !prev.revision_notes.contains(n))
        {
            if budget.take(n.text.len()) {
                notes.added.push(n.clone());
            }
        }
        for n in prev
            .revision_notes
            .iter()
            .filter(|n| !next.revision_notes.contains(n))
        {
            if budget.take(n.text.len()) {
                notes.removed.push(n.clone());
            }
        }
        d.revision_notes = Some(notes);
    }
    // The body is diffed only when its fingerprint changed: noise is no edit.
    if prev.content_hash != next.content_hash
        && let Some(before) = prev_body
    {
        d.body = Some(body_diff(before, next_body, &mut budget));
    }
    d.truncated = budget.cut();
    d
}

/// What is left of the text budget; once something did not fit, nothing more is taken.
struct Budget(usize);

impl Budget {
    const CUT: usize = usize::MAX;

    fn take(&mut self, n: usize) -> bool {
        if self.0 == Self::CUT || n > self.0 {
            self.0 = Self::CUT;
            return false;
        }
        self.0 -= n;
        true
    }

    fn cut(&self) -> bool {
        self.0 == Self::CUT
    }
}

fn body_diff(before: &str, after: &str, budget: &mut Budget) -> BodyDiff {
    let deadline = Instant::now() + DEADLINE;
    let (old, new) = (paragraphs(before), paragraphs(after));
    let mut body = BodyDiff {
        paragraphs_before: old.len(),
        paragraphs_after: new.len(),
        ..Default::default()
    };
    let mut steps: Vec<Step> = Vec::new();
    let ops =
        similar::capture_diff_slices_deadline(Algorithm::Patience, &old, &new, Some(deadline));
    for op in ops {
        match op {
            DiffOp::Equal { .. } => {}
            DiffOp::Delete {
                old_index, old_len, ..
            } => steps.extend((old_index..old_index + old_len).map(Step::Removed)),
            DiffOp::Insert {
                new_index, new_len, ..
            } => steps.extend((new_index..new_index + new_len).map(Step::Added)),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => pair(
                &old,
                &new,
                old_index..old_index + old_len,
                new_index..new_index + new_len,
                deadline,
                &mut steps,
            ),
        }
    }
    for step in steps {
        let edit = match step {
            Step::Added(j) => {
                body.added += 1;
                budget.take(new[j].len()).then(|| ParagraphEdit::Added {
                    after_index: j,
                    text: new[j].to_string(),
                })
            }
            Step::Removed(i) => {
                body.removed += 1;
                budget.take(old[i].len()).then(|| ParagraphEdit::Removed {
                    before_index: i,
                    text: old[i].to_string(),
                })
            }
            Step::Changed(i, j) => {
                body.changed += 1;
                let words = word_changes(old[i], new[j], deadline);
                let size = words
                    .iter()
                    .map(|w| {
                        w.context_before.len()
                            + w.removed.len()
                            + w.added.len()
                            + w.context_after.len()
                    })
                    .sum();
                budget.take(size).then_some(ParagraphEdit::Changed {
                    before_index: i,
                    after_index: j,
                    words,
                })
            }
        };
        body.edits.extend(edit);
    }
    body
}

enum Step {
    Added(usize),
    Removed(usize),
    Changed(usize, usize),
}

/// Pairs the paragraphs of a replaced block in order: each old paragraph with the first later
/// new one that is similar enough; the rest are removed or added.
fn pair(
    old: &[&str],
    new: &[&str],
    olds: std::ops::Range<usize>,
    news: std::ops::Range<usize>,
    deadline: Instant,
    steps: &mut Vec<Step>,
) {
    let mut next = news.start;
    let search = olds.len() * news.len() <= MAX_PAIRING;
    for i in olds {
        let found = if search {
            (next..news.end).find(|&j| similarity(old[i], new[j], deadline) >= SAME_PARAGRAPH)
        } else {
            None
        };
        match found {
            Some(j) => {
                steps.extend((next..j).map(Step::Added));
                steps.push(Step::Changed(i, j));
                next = j + 1;
            }
            None => steps.push(Step::Removed(i)),
        }
    }
    steps.extend((next..news.end).map(Step::Added));
}

fn word_diff<'a>(a: &'a str, b: &'a str, deadline: Instant) -> TextDiff<'a, 'a, str> {
    TextDiff::configure()
        .algorithm(Algorithm::Patience)
        .deadline(deadline)
        .diff_unicode_words(a, b)
}

fn similarity(a: &str, b: &str, deadline: Instant) -> f32 {
    word_diff(a, b, deadline).ratio()
}

fn is_word(token: &str) -> bool {
    token.chars().any(char::is_alphanumeric)
}

/// The changed runs of words between two versions of a paragraph. Tokens are unicode words,
/// spaces and punctuation; runs separated only by spaces or punctuation are one change.
fn word_changes(a: &str, b: &str, deadline: Instant) -> Vec<WordChange> {
    let d = word_diff(a, b, deadline);
    let tokens: Vec<(ChangeTag, &str)> =
        d.iter_all_changes().map(|c| (c.tag(), c.value())).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i].0 == ChangeTag::Equal {
            i += 1;
            continue;
        }
        // A run of changes, extended over equal non-words followed by more changes.
        let start = i;
        let mut end = i;
        let mut j = i;
        while j < tokens.len() {
            if tokens[j].0 != ChangeTag::Equal {
                end = j + 1;
                j += 1;
            } else if !is_word(tokens[j].1) {
                j += 1;
            } else {
                break;
            }
        }
        let mut removed = String::new();
        let mut added = String::new();
        for &(tag, text) in &tokens[start..end] {
            match tag {
                ChangeTag::Delete => removed.push_str(text),
                ChangeTag::Insert => added.push_str(text),
                ChangeTag::Equal => {
                    removed.push_str(text);
                    added.push_str(text);
                }
            }
        }
        out.push(WordChange {
            context_before: context(tokens[..start].iter().rev(), true),
            removed: removed.trim().to_string(),
            added: added.trim().to_string(),
            context_after: context(tokens[end..].iter(), false),
        });
        i = end;
    }
    out
}

/// Up to [`CONTEXT_WORDS`] words of the unchanged text next to a change (as in the paragraph
/// after the revision), read outwards from the change.
fn context<'a>(tokens: impl Iterator<Item = &'a (ChangeTag, &'a str)>, backwards: bool) -> String {
    let mut taken: Vec<&str> = Vec::new();
    let mut words = 0;
    for &(tag, text) in tokens {
        if tag == ChangeTag::Delete {
            continue;
        }
        if is_word(text) {
            if words == CONTEXT_WORDS {
                break;
            }
            words += 1;
        }
        taken.push(text);
    }
    if backwards {
        taken.reverse();
    }
    taken.concat().trim().to_string()
}

impl Diff {
    /// One line for `newswire history`: what changed, with counts.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.title.is_some() {
            parts.push("title".to_string());
        }
        if let Some(b) = &self.body {
            let mut counts = Vec::new();
            for (n, what) in [
                (b.changed, "changed"),
                (b.added, "added"),
                (b.removed, "removed"),
            ] {
                if n > 0 {
                    let noun = if n == 1 { "paragraph" } else { "paragraphs" };
                    counts.push(format!("{n} {noun} {what}"));
                }
            }
            parts.push(format!("body ({})", counts.join(", ")));
        }
        if self.authors.is_some() {
            parts.push("authors".into());
        }
        for (name, stamp) in [
            ("published_at", &self.published_at),
            ("updated_at", &self.updated_at),
        ] {
            if let Some(c) = stamp {
                let show =
                    |t: &Option<Timestamp>| t.map_or_else(|| "none".into(), |t| t.to_string());
                parts.push(format!("{name} {} -> {}", show(&c.before), show(&c.after)));
            }
        }
        if let Some(n) = &self.revision_notes {
            parts.push(format!(
                "revision_notes (+{} -{})",
                n.added.len(),
                n.removed.len()
            ));
        }
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::content_hash;

    fn snap(title: &str, body: &str) -> Snapshot {
        Snapshot {
            title: title.into(),
            content_hash: content_hash(body),
            authors: vec![],
            published_at: None,
            updated_at: None,
            revision_notes: vec![],
        }
    }

    #[test]
    fn changed_numbers_added_paragraph_and_title_are_shown_as_such() {
        let v1 = "The crash injured 17 people, police said.\n\nNo one else was hurt.\n\nFootage shows 10 vehicles.";
        let v2 = "The crash injured 26 people, police said.\n\nNo one else was hurt.\n\nFootage shows 23 vehicles.\n\nThe road reopened at noon.";
        let d = diff(&snap("A", v1), Some(v1), &snap("B", v2), v2);
        assert_eq!(
            d.title,
            Some(Change {
                before: "A".into(),
                after: "B".into()
            })
        );
        let body = d.body.clone().unwrap();
        assert_eq!(
            (body.changed, body.added, body.removed),
            (2, 1, 0),
            "{body:#?}"
        );
        let ParagraphEdit::Changed {
            before_index: 0,
            after_index: 0,
            words,
        } = &body.edits[0]
        else {
            panic!("{:?}", body.edits[0])
        };
        assert_eq!(
            words,
            &[WordChange {
                context_before: "The crash injured".into(),
                removed: "17".into(),
                added: "26".into(),
                context_after: "people, police said.".into(),
            }]
        );
        assert!(
            matches!(&body.edits[1], ParagraphEdit::Changed { before_index: 2, after_index: 2, words } if words[0].removed == "10" && words[0].added == "23")
        );
        assert_eq!(
            body.edits[2],
            ParagraphEdit::Added {
                after_index: 3,
                text: "The road reopened at noon.".into()
            }
        );
        assert!(!d.truncated);
        assert_eq!(
            d.summary(),
            "title; body (2 paragraphs changed, 1 paragraph added)"
        );
    }

    #[test]
    fn a_rewritten_paragraph_is_removed_and_added_not_changed() {
        let v1 = "Alpha beta gamma delta.";
        let v2 = "Something else entirely here now.";
        let d = diff(&snap("T", v1), Some(v1), &snap("T", v2), v2);
        let body = d.body.unwrap();
        assert_eq!((body.changed, body.added, body.removed), (0, 1, 1));
    }

    #[test]
    fn noise_and_unknown_previous_text_give_no_body_diff() {
        let v1 = "Posted 5 minutes ago. The council met.";
        let v2 = "Posted 2 hours ago. The council met.";
        let d = diff(&snap("T", v1), Some(v1), &snap("T", v2), v2);
        assert_eq!(d, Diff::default());
        let d = diff(&snap("T", "one"), None, &snap("T", "two"), "two");
        assert_eq!(d.body, None);
    }

    #[test]
    fn a_large_rewrite_is_capped_and_says_so() {
        let para = "word ".repeat(400);
        let v1 = "Short start.".to_string();
        let v2 = (0..20)
            .map(|i| format!("{i} {para}"))
            .collect::<Vec<_>>()
            .join("\n\n");
        let d = diff(&snap("T", &v1), Some(&v1), &snap("T", &v2), &v2);
        assert!(d.truncated);
        let body = d.body.unwrap();
        assert_eq!(body.added + body.changed, 20, "counts stay complete");
        let text: usize = body
            .edits
            .iter()
            .map(|e| match e {
                ParagraphEdit::Added { text, .. } | ParagraphEdit::Removed { text, .. } => {
                    text.len()
                }
                ParagraphEdit::Changed { .. } => 0,
            })
            .sum();
        assert!(text <= MAX_DIFF_TEXT, "{text}");
        assert!(body.edits.len() < 20);
    }
}
