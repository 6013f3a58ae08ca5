//! Revision tracking: which article a page is, whether a fetch is a new article, a new revision
//! or nothing new, and what changed.
//!
//! Guarantees:
//! - identity: `article_id` is derived from the normalised canonical URL (scheme and host case,
//!   default port, fragment and tracking parameters removed), so the same article found through
//!   several feeds, or with `utm_*` links, is one article;
//! - noise never makes a revision: the body fingerprint folds case, whitespace and punctuation
//!   and drops relative times ("5 minutes ago") and counters ("1,234 views");
//! - flip-flop guard: a fetch that reverts to an earlier revision's content is only emitted when
//!   the next fetch confirms it, so a page alternating between two versions yields no event per flip;
//! - what changed: [`observe`] keeps the last emitted revision's body in the article's state
//!   (up to [`MAX_KEPT_BODY`]), so the next revision's [`Diff`] survives restarts, and a short
//!   log of recent revisions for `newswire history` ([`LOG_LIMIT`] entries): the state stays
//!   bounded per article.

mod diff;

pub use diff::{
    BodyDiff, Change, Diff, MAX_DIFF_TEXT, NotesDiff, ParagraphEdit, WordChange,
    diff as diff_revisions, paragraphs,
};

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;
use uuid::Uuid;

use crate::feed::hex;
use crate::stamps::{RevisionNote, Timestamp};

/// Query parameters that only track the reader, never select content.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "twclid",
    "igshid",
    "mc_cid",
    "mc_eid",
    "_ga",
    "_gl",
    "ocid",
    "cmpid",
    "ito",
    "spm",
    "at_medium",
    "at_campaign",
    "smid",
    "smtyp",
];

/// Normalises a URL for identity: lower-case scheme and host and no default port (the `url`
/// crate does both), no fragment, no tracking parameters, no empty query.
pub fn normalize_url(url: &Url) -> Url {
    let mut u = url.clone();
    u.set_fragment(None);
    if u.query().is_some() {
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                !(k.starts_with("utm_") || TRACKING_PARAMS.contains(&k.as_str()))
            })
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            u.set_query(None);
        } else {
            u.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    u
}

/// The stable id of the article at a canonical URL.
pub fn article_id(canonical: &Url) -> String {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        normalize_url(canonical).as_str().as_bytes(),
    )
    .to_string()
}

/// The CloudEvents id of one revision of an article: the same everywhere, every time.
pub fn event_id(article_id: &str, revision: u32) -> String {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("newswire:{article_id}:{revision}").as_bytes(),
    )
    .to_string()
}

/// Fingerprint of a body: words only, case folded, relative times and counters dropped.
pub fn content_hash(body: &str) -> String {
    let words = comparable_words(body);
    let mut h = Sha256::new();
    for w in &words {
        h.update(w.as_bytes());
        h.update(b" ");
    }
    hex(&h.finalize()[..16])
}

const TIME_UNITS: &[&str] = &[
    "second", "seconds", "sec", "secs", "minute", "minutes", "min", "mins", "hour", "hours", "hr",
    "hrs", "day", "days", "week", "weeks", "month", "months", "year", "years",
];
const COUNTERS: &[&str] = &[
    "views", "view", "comments", "comment", "shares", "share", "likes", "reads", "readers",
];

/// The body's words, lower-cased, without the noise that changes between fetches. Words that
/// are already lower case are borrowed, and the noise is dropped in place, so a 5 MB body costs
/// one slice per word rather than two owned copies of every word.
fn comparable_words(body: &str) -> Vec<Cow<'_, str>> {
    let mut tokens: Vec<Cow<'_, str>> = body
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| {
            let lower = t.chars().all(|c| {
                let mut l = c.to_lowercase();
                l.next() == Some(c) && l.next().is_none()
            });
            if lower {
                Cow::Borrowed(t)
            } else {
                Cow::Owned(t.to_lowercase())
            }
        })
        .collect();
    let is_num = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    // Kept words are moved down to `kept`; what is at `i` and beyond is still untouched.
    let mut kept = 0;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_ref();
        // "5 minutes ago", "an hour ago"
        if (is_num(t) || t == "a" || t == "an")
            && tokens
                .get(i + 1)
                .is_some_and(|u| TIME_UNITS.contains(&u.as_ref()))
            && tokens.get(i + 2).is_some_and(|a| a == "ago")
        {
            i += 3;
            continue;
        }
        // "1,234 views": digits split by separators, then a counter word
        if is_num(t) {
            let mut j = i;
            while j < tokens.len() && is_num(&tokens[j]) {
                j += 1;
            }
            if tokens
                .get(j)
                .is_some_and(|w| COUNTERS.contains(&w.as_ref()))
            {
                i = j + 1;
                continue;
            }
        }
        if t == "just" && tokens.get(i + 1).is_some_and(|n| n == "now") {
            i += 2;
            continue;
        }
        tokens.swap(kept, i);
        kept += 1;
        i += 1;
    }
    tokens.truncate(kept);
    tokens
}

/// The parts of a revision that decide whether it differs from another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub title: String,
    pub content_hash: String,
    pub authors: Vec<String>,
    pub published_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub revision_notes: Vec<RevisionNote>,
}

impl Snapshot {
    /// One hash over everything that makes a revision.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_string(self).expect("snapshot serializes");
        hex(&Sha256::digest(json.as_bytes())[..16])
    }

    /// Names of the fields that differ, in the contract's order.
    pub fn changes_from(&self, prev: &Snapshot) -> Vec<String> {
        let mut c = Vec::new();
        let mut diff = |name: &str, differs: bool| {
            if differs {
                c.push(name.to_string());
            }
        };
        diff("title", self.title != prev.title);
        diff("body", self.content_hash != prev.content_hash);
        diff("authors", self.authors != prev.authors);
        diff("published_at", self.published_at != prev.published_at);
        diff("updated_at", self.updated_at != prev.updated_at);
        diff("revision_notes", self.revision_notes != prev.revision_notes);
        c
    }
}

/// What the tracker remembers of an article between fetches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleState {
    pub revision: u32,
    /// The last emitted revision.
    pub current: Snapshot,
    /// Fingerprints of earlier emitted revisions, newest last (bounded).
    pub history: Vec<String>,
    /// A revert seen once and waiting for a second fetch to confirm it.
    pub pending: Option<String>,
    /// `body_text` of the last emitted revision, for the next diff; `None` when it was over
    /// [`MAX_KEPT_BODY`] or the state predates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
    /// The latest emitted revisions, oldest first (at most [`LOG_LIMIT`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<RevisionLog>,
}

/// One emitted revision as `newswire history` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevisionLog {
    pub revision: u32,
    pub fetched_at: String,
    pub changes: Vec<String>,
    /// [`Diff::summary`] of the revision; empty for the first.
    pub summary: String,
}

const HISTORY_LIMIT: usize = 16;
/// Revisions kept in an article's log.
pub const LOG_LIMIT: usize = 32;
/// A body longer than this is not kept: the next revision's diff then has no `body`.
pub const MAX_KEPT_BODY: usize = 256 * 1024;

/// The tracker's verdict on one fetch of an article page.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// First sighting: revision 1.
    New(ArticleState),
    /// A substantive change: the next revision, with what changed.
    Revised {
        state: ArticleState,
        changes: Vec<String>,
        /// Filled in by [`observe`]; empty from [`decide`] alone. Boxed: it is large.
        diff: Box<Diff>,
    },
    /// Same as the last emitted revision.
    Unchanged,
    /// A revert to an earlier revision, held until the next fetch confirms it.
    Held(ArticleState),
}

/// Decides what a fetched snapshot means for an article.
pub fn decide(prev: Option<&ArticleState>, snap: Snapshot) -> Decision {
    let Some(prev) = prev else {
        return Decision::New(ArticleState {
            revision: 1,
            current: snap,
            history: Vec::new(),
            pending: None,
            body_text: None,
            log: Vec::new(),
        });
    };
    let fp = snap.fingerprint();
    let current_fp = prev.current.fingerprint();
    if fp == current_fp {
        if prev.pending.is_some() {
            // The revert did not hold: back to the current revision, nothing to emit.
            return Decision::Held(ArticleState {
                pending: None,
                ..prev.clone()
            });
        }
        return Decision::Unchanged;
    }
    let is_revert = prev.history.contains(&fp);
    if is_revert && prev.pending.as_deref() != Some(fp.as_str()) {
        return Decision::Held(ArticleState {
            pending: Some(fp),
            ..prev.clone()
        });
    }
    let changes = snap.changes_from(&prev.current);
    let mut history = prev.history.clone();
    history.retain(|h| h != &current_fp);
    history.push(current_fp);
    if history.len() > HISTORY_LIMIT {
        history.remove(0);
    }
    Decision::Revised {
        state: ArticleState {
            revision: prev.revision + 1,
            current: snap,
            history,
            pending: None,
            body_text: prev.body_text.clone(),
            log: prev.log.clone(),
        },
        changes,
        diff: Box::default(),
    }
}

/// [`decide`] for one fetch of a page whose body is `body_text`, fetched at `fetched_at`: a new
/// or revised state also keeps the body and logs the revision, and a revision carries its
/// [`Diff`] from the previous one.
pub fn observe(
    prev: Option<&ArticleState>,
    snap: Snapshot,
    body_text: &str,
    fetched_at: &str,
) -> Decision {
    let keep = |state: &mut ArticleState, changes: &[String], summary: String| {
        state.body_text = (body_text.len() <= MAX_KEPT_BODY).then(|| body_text.to_string());
        state.log.push(RevisionLog {
            revision: state.revision,
            fetched_at: fetched_at.to_string(),
            changes: changes.to_vec(),
            summary,
        });
        if state.log.len() > LOG_LIMIT {
            state.log.remove(0);
        }
    };
    match decide(prev, snap) {
        Decision::New(mut state) => {
            keep(&mut state, &[], String::new());
            Decision::New(state)
        }
        Decision::Revised {
            mut state, changes, ..
        } => {
            let prev = prev.expect("a revision has a previous state");
            let diff = Box::new(diff::diff(
                &prev.current,
                prev.body_text.as_deref(),
                &state.current,
                body_text,
            ));
            keep(&mut state, &changes, diff.summary());
            Decision::Revised {
                state,
                changes,
                diff,
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

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
    fn urls_normalise_for_identity() {
        assert_eq!(
            normalize_url(&u(
                "HTTP://News.Test:80/a/b?utm_source=x&id=3&fbclid=y#frag"
            ))
            .as_str(),
            "http://news.test/a/b?id=3"
        );
        assert_eq!(
            normalize_url(&u("https://n.test:443/x?gclid=1")).as_str(),
            "https://n.test/x"
        );
        assert_eq!(
            article_id(&u("http://n.test/x?utm_medium=rss")),
            article_id(&u("http://N.test/x#c"))
        );
        assert_ne!(
            article_id(&u("http://n.test/x?id=1")),
            article_id(&u("http://n.test/x?id=2"))
        );
    }

    #[test]
    fn event_ids_are_deterministic_per_revision() {
        assert_eq!(event_id("a", 1), event_id("a", 1));
        assert_ne!(event_id("a", 1), event_id("a", 2));
    }

    #[test]
    fn body_hash_ignores_noise() {
        let a = content_hash("The council met.  Updated 5 minutes ago. 1,234 views");
        let b = content_hash("the council met — updated 2 hours ago; 1,240 views!");
        assert_eq!(a, b);
        assert_ne!(
            content_hash("The council met."),
            content_hash("The council did not meet.")
        );
    }

    #[test]
    fn new_then_revised_then_unchanged() {
        let d = decide(None, snap("T", "one"));
        let Decision::New(s1) = d else {
            panic!("{d:?}")
        };
        assert_eq!(decide(Some(&s1), snap("T", "one")), Decision::Unchanged);
        let Decision::Revised {
            state: s2, changes, ..
        } = decide(Some(&s1), snap("T2", "two"))
        else {
            panic!()
        };
        assert_eq!(
            (s2.revision, changes),
            (2, vec!["title".to_string(), "body".to_string()])
        );
    }

    #[test]
    fn observe_keeps_the_body_for_the_next_diff_across_a_restart() {
        let (v1, v2) = ("Ten boats.\n\nCalm.", "Twelve boats.\n\nCalm.");
        let Decision::New(s1) = observe(None, snap("T", v1), v1, "t1") else {
            panic!()
        };
        assert_eq!(s1.body_text.as_deref(), Some(v1));
        // What the store keeps is JSON: read back, it still diffs.
        let stored: ArticleState =
            serde_json::from_str(&serde_json::to_string(&s1).unwrap()).unwrap();
        let Decision::Revised { state, diff, .. } = observe(Some(&stored), snap("T", v2), v2, "t2")
        else {
            panic!()
        };
        let body = diff.body.expect("a body diff");
        assert_eq!((body.changed, body.added, body.removed), (1, 0, 0));
        assert_eq!(state.body_text.as_deref(), Some(v2));
        assert_eq!(
            state
                .log
                .iter()
                .map(|l| (l.revision, l.fetched_at.as_str()))
                .collect::<Vec<_>>(),
            [(1, "t1"), (2, "t2")]
        );
        assert_eq!(state.log[1].summary, "body (1 paragraph changed)");
        // A state written before the body was kept reads, and diffs without a body.
        let old: ArticleState = serde_json::from_str(
            r#"{"revision":1,"current":{"title":"T","content_hash":"x","authors":[],"published_at":null,"updated_at":null,"revision_notes":[]},"history":[],"pending":null}"#,
        )
        .unwrap();
        let Decision::Revised { diff, .. } = observe(Some(&old), snap("T", v2), v2, "t3") else {
            panic!()
        };
        assert_eq!((diff.body, diff.truncated), (None, false));
    }

    #[test]
    fn the_kept_state_is_bounded() {
        let huge = "word ".repeat(MAX_KEPT_BODY / 4);
        let Decision::New(mut state) = observe(None, snap("T", &huge), &huge, "t0") else {
            panic!()
        };
        assert_eq!(state.body_text, None, "a body over the limit is not kept");
        for i in 1..(LOG_LIMIT as u32 + 10) {
            let body = format!("version {i}");
            let Decision::Revised { state: next, .. } =
                observe(Some(&state), snap("T", &body), &body, "t")
            else {
                panic!()
            };
            state = next;
        }
        assert_eq!(state.log.len(), LOG_LIMIT);
        assert_eq!(state.log.last().unwrap().revision, state.revision);
        assert!(serde_json::to_string(&state).unwrap().len() < 8 * 1024);
    }

    #[test]
    fn flip_flop_does_not_emit_per_flip_but_a_confirmed_revert_does() {
        let Decision::New(s1) = decide(None, snap("T", "A")) else {
            panic!()
        };
        let Decision::Revised { state: s2, .. } = decide(Some(&s1), snap("T", "B")) else {
            panic!()
        };
        // A, B, A, B, A, B ...: the reverts to A are held, never emitted.
        let mut state = s2.clone();
        for _ in 0..3 {
            let Decision::Held(held) = decide(Some(&state), snap("T", "A")) else {
                panic!()
            };
            let Decision::Held(back) = decide(Some(&held), snap("T", "B")) else {
                panic!()
            };
            state = back;
        }
        assert_eq!(state.revision, 2);
        // A seen twice in a row is a real revert: revision 3.
        let Decision::Held(held) = decide(Some(&state), snap("T", "A")) else {
            panic!()
        };
        let Decision::Revised {
            state: s3, changes, ..
        } = decide(Some(&held), snap("T", "A"))
        else {
            panic!()
        };
        assert_eq!((s3.revision, changes), (3, vec!["body".to_string()]));
    }
}
