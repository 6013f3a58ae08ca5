//! The words around stamps and notes: "Published", "Updated", "입력", "Aktualisiert am", and the
//! openings of revision notes ("Correction:", "An earlier version of this article ...").
//!
//! Matching is on ASCII-lowercased text (byte offsets stay those of the original), so the callers
//! can slice the original for case-sensitive work such as zone words.

use super::NoteKind;

/// Which stamp a label introduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StampKind {
    Published,
    Updated,
}

use StampKind::{Published as P, Updated as U};

/// Stamp labels; where two start at the same place the longer wins ("last updated", "updated").
const STAMP_LABELS: &[(&str, StampKind)] = &[
    ("first published", P),
    ("originally published", P),
    ("published", P),
    ("publication", P),
    ("posted", P),
    ("created", P),
    ("publiée le", P),
    ("publié le", P),
    ("publiée", P),
    ("publié", P),
    ("veröffentlicht", P),
    ("erschienen", P),
    ("erstellt", P),
    ("veröffentlichung", P),
    ("eingetragen", P),
    ("pressemitteilung vom", P),
    ("gepostet", P),
    ("publiziert", P),
    ("datum", P),
    ("mise en ligne", P),
    ("date de publication", P),
    ("fecha de publicación", P),
    ("publicado", P),
    ("publicada", P),
    ("기사입력", P),
    ("입력", P),
    ("등록", P),
    ("公開日時", P),
    ("公開日", P),
    ("公開", P),
    ("配信日時", P),
    ("配信", P),
    ("掲載日", P),
    ("掲載", P),
    ("投稿日", P),
    ("last updated", U),
    ("last modified", U),
    ("last edited", U),
    ("updated", U),
    ("modified", U),
    ("mis à jour", U),
    ("mise à jour", U),
    ("actualisé", U),
    ("modifié", U),
    ("zuletzt aktualisiert", U),
    ("aktualisiert", U),
    ("geändert", U),
    ("stand", U),
    ("última actualización", U),
    ("Última actualización", U),
    ("actualizado", U),
    ("actualizada", U),
    ("최종수정", U),
    ("최종 수정", U),
    ("수정", U),
    ("업데이트", U),
    ("更新日時", U),
    ("最終更新", U),
    ("更新日", U),
    ("更新", U),
];

/// A label found in a block: byte range and kind.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LabelHit {
    pub start: usize,
    pub end: usize,
    pub kind: StampKind,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// [`STAMP_LABELS`] by first byte, so each word start is compared with its few candidates.
fn label_buckets() -> &'static [Vec<(&'static str, StampKind)>] {
    static BUCKETS: std::sync::OnceLock<Vec<Vec<(&'static str, StampKind)>>> =
        std::sync::OnceLock::new();
    BUCKETS.get_or_init(|| {
        let mut b = vec![Vec::new(); 256];
        for &(label, kind) in STAMP_LABELS {
            b[label.as_bytes()[0] as usize].push((label, kind));
        }
        b
    })
}

/// Stamp labels in `lower` (an ASCII-lowercased block), in order, longest match at each place.
pub(crate) fn stamp_labels(lower: &str) -> Vec<LabelHit> {
    let b = lower.as_bytes();
    let mut hits = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = if c.is_ascii_alphabetic() {
            i == 0 || !is_word_byte(b[i - 1])
        } else {
            c >= 0xC0
        };
        if start {
            let rest = &b[i..];
            let mut best: Option<(usize, StampKind)> = None;
            for &(label, kind) in &label_buckets()[c as usize] {
                let l = label.as_bytes();
                if !rest.starts_with(l) || best.is_some_and(|(n, _)| n >= l.len()) {
                    continue;
                }
                let end = i + l.len();
                if l[l.len() - 1].is_ascii_alphabetic() && end < b.len() && is_word_byte(b[end]) {
                    continue;
                }
                best = Some((l.len(), kind));
            }
            if let Some((n, kind)) = best {
                hits.push(LabelHit {
                    start: i,
                    end: i + n,
                    kind,
                });
                i += n;
                continue;
            }
        }
        i += 1;
    }
    hits
}

/// Note openings that need a delimiter right after them ("Correction:", "Update, Dec. 17:").
const NOTE_LABELS: &[(&str, NoteKind)] = &[
    ("editor's note", NoteKind::EditorsNote),
    ("editor’s note", NoteKind::EditorsNote),
    ("editors' note", NoteKind::EditorsNote),
    ("editors’ note", NoteKind::EditorsNote),
    ("editors note", NoteKind::EditorsNote),
    ("ed. note", NoteKind::EditorsNote),
    ("note to readers", NoteKind::EditorsNote),
    ("note from the editor", NoteKind::EditorsNote),
    ("clarification", NoteKind::Clarification),
    ("correction", NoteKind::Correction),
    ("corrected", NoteKind::Correction),
    ("updated", NoteKind::Update),
    ("update", NoteKind::Update),
    ("korrekturhinweis", NoteKind::Correction),
    ("korrektur", NoteKind::Correction),
    ("korrigendum", NoteKind::Correction),
    ("aktualisierung", NoteKind::Update),
    ("nachtrag", NoteKind::Update),
    ("klarstellung", NoteKind::Clarification),
    ("anmerkung der redaktion", NoteKind::EditorsNote),
    ("hinweis der redaktion", NoteKind::EditorsNote),
    ("anm. d. red.", NoteKind::EditorsNote),
    ("transparenzhinweis", NoteKind::Other),
    ("rectificatif", NoteKind::Correction),
    ("erratum", NoteKind::Correction),
    ("mise à jour", NoteKind::Update),
    ("actualisation", NoteKind::Update),
    ("précision", NoteKind::Clarification),
    ("note de la rédaction", NoteKind::EditorsNote),
    ("ndlr", NoteKind::EditorsNote),
    ("corrección", NoteKind::Correction),
    ("fe de errores", NoteKind::Correction),
    ("fe de erratas", NoteKind::Correction),
    ("rectificación", NoteKind::Correction),
    ("actualización", NoteKind::Update),
    ("aclaración", NoteKind::Clarification),
    ("nota del editor", NoteKind::EditorsNote),
    ("nota de la redacción", NoteKind::EditorsNote),
    ("nota de redacción", NoteKind::EditorsNote),
    ("【訂正】", NoteKind::Correction),
    ("お詫びと訂正", NoteKind::Correction),
    ("訂正", NoteKind::Correction),
    ("【追記】", NoteKind::Update),
    ("追記", NoteKind::Update),
    ("【更新】", NoteKind::Update),
    ("※編集部注", NoteKind::EditorsNote),
    ("編集部注", NoteKind::EditorsNote),
    ("[바로잡습니다]", NoteKind::Correction),
    ("[정정보도]", NoteKind::Correction),
    ("[정정]", NoteKind::Correction),
    ("[편집자주]", NoteKind::EditorsNote),
    ("[편집자 주]", NoteKind::EditorsNote),
    ("[알려왔습니다]", NoteKind::Clarification),
    ("[업데이트]", NoteKind::Update),
];

/// Sentences that are notes by themselves.
const NOTE_SENTENCES: &[(&str, NoteKind)] = &[
    ("this article was amended", NoteKind::Correction),
    ("this article has been amended", NoteKind::Correction),
    ("this story was amended", NoteKind::Correction),
    ("this story has been amended", NoteKind::Correction),
    ("this article was corrected", NoteKind::Correction),
    ("this article has been corrected", NoteKind::Correction),
    ("this story was corrected", NoteKind::Correction),
    ("this story has been corrected", NoteKind::Correction),
    ("this article was updated", NoteKind::Update),
    ("this article has been updated", NoteKind::Update),
    ("this story was updated", NoteKind::Update),
    ("this story has been updated", NoteKind::Update),
    ("this post has been updated", NoteKind::Update),
    ("an earlier version of this", NoteKind::Correction),
    ("a previous version of this", NoteKind::Correction),
    ("in einer früheren version dieses", NoteKind::Correction),
    ("in einer früheren fassung dieses", NoteKind::Correction),
    ("dieser artikel wurde aktualisiert", NoteKind::Update),
    ("dieser artikel wurde korrigiert", NoteKind::Correction),
    (
        "une version précédente de cet article",
        NoteKind::Correction,
    ),
    (
        "une précédente version de cet article",
        NoteKind::Correction,
    ),
    ("cet article a été mis à jour", NoteKind::Update),
    ("cet article a été corrigé", NoteKind::Correction),
    ("una versión anterior de este", NoteKind::Correction),
    ("este artículo fue actualizado", NoteKind::Update),
    ("este artículo ha sido actualizado", NoteKind::Update),
    ("este artículo fue corregido", NoteKind::Correction),
];

/// A recognised note opening.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NoteStart {
    pub kind: NoteKind,
    /// Byte offset (in the trimmed text) just past the label.
    pub label_end: usize,
    /// Byte offset of the decoration-free start of the label.
    pub label_start: usize,
    /// A sentence note ("This article was amended on ..."): its date follows "on"/"am"/"le".
    pub sentence: bool,
}

/// Strips decorations a note may open with ("*", "—", "• ").
fn skip_decoration(s: &str) -> usize {
    let t = s.trim_start_matches(['*', '—', '–', '-', '•', ' ', '_', '(']);
    s.len() - t.len()
}

/// Cheap test for a block that could be a note (first bytes only).
pub(crate) fn maybe_note(text: &str) -> bool {
    let t = text.trim_start();
    let first = match t.as_bytes().first() {
        Some(b) => *b,
        None => return false,
    };
    matches!(
        first.to_ascii_lowercase(),
        b'*' | b'('
            | b'-'
            | b'['
            | b'_'
            | b'u'
            | b'c'
            | b'e'
            | b'n'
            | b't'
            | b'a'
            | b'k'
            | b'h'
            | b'd'
            | b'i'
            | b'r'
            | b'm'
            | b'p'
            | b'f'
    ) || !first.is_ascii()
}

/// At most `n` bytes of `s`, cut on a character boundary.
fn head(s: &str, n: usize) -> &str {
    let mut n = n.min(s.len());
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

/// Recognises a note opening at the start of `text`; `lower` is its ASCII-lowercased form.
pub(crate) fn note_start(text: &str, lower: &str) -> Option<NoteStart> {
    let _ = text;
    // Korean "※ ... 수정했습니다": the mark plus a revision verb.
    if let Some(rest) = lower.strip_prefix('※')
        && !rest.trim_start().starts_with("編集部注")
    {
        let head: String = rest.chars().take(200).collect();
        let kind = if head.contains("바로잡") || head.contains("정정") || head.contains("오류")
        {
            NoteKind::Correction
        } else if head.contains("수정했습니다")
            || head.contains("수정됐습니다")
            || head.contains("수정되었습니다")
            || head.contains("업데이트")
            || head.contains("추가했습니다")
        {
            NoteKind::Update
        } else {
            return None;
        };
        return Some(NoteStart {
            kind,
            label_start: 0,
            label_end: '※'.len_utf8(),
            sentence: true,
        });
    }
    let off = skip_decoration(lower);
    let l = &lower[off..];
    for &(label, kind) in NOTE_SENTENCES {
        if l.starts_with(label) {
            return Some(NoteStart {
                kind,
                label_start: off,
                label_end: off + label.len(),
                sentence: true,
            });
        }
    }
    for &(label, kind) in NOTE_LABELS {
        let Some(rest) = l.strip_prefix(label) else {
            continue;
        };
        let delimited = label.ends_with('】') || label.ends_with(']') || label.ends_with('.') || {
            let r = rest.trim_start();
            r.starts_with([':', ',', '(', '—', '–', '：', '（', ';'])
                || (r.starts_with('-') && !label.ends_with('n'))
                || (["on ", "at ", "vom ", "du ", "del ", "am "]
                    .iter()
                    .any(|p| r.starts_with(p))
                    && head(r, 25).bytes().any(|b| b.is_ascii_digit()))
                || {
                    // "UPDATE Dec. 17: ..." — a date, then the colon
                    let head = head(r, 40);
                    head.find(':')
                        .is_some_and(|c| head[..c].bytes().any(|b| b.is_ascii_digit()))
                }
        };
        if !delimited {
            continue;
        }
        // "Correction policy", "Updated 5 minutes ago" and other non-notes carry too little.
        if rest
            .trim_start_matches([':', ' ', '：'])
            .chars()
            .filter(|c| c.is_alphabetic())
            .take(12)
            .count()
            < 12
        {
            return None;
        }
        return Some(NoteStart {
            kind,
            label_start: off,
            label_end: off + label.len(),
            sentence: false,
        });
    }
    None
}
