//! A cheap language guess for pages that do not declare one.
//!
//! Non-Latin scripts decide by code point ranges (Hangul -> ko, Kana -> ja, Han -> zh, ...);
//! Latin text by counting a handful of very common function words per language. Only the first
//! few thousand characters are looked at. Too little evidence gives None rather than a guess.

pub(crate) fn guess(text: &str) -> Option<String> {
    let sample: &str = match text.char_indices().nth(4000) {
        Some((i, _)) => &text[..i],
        None => text,
    };
    let (mut latin, mut hangul, mut kana, mut han, mut cyr, mut arabic, mut hebrew, mut greek) =
        (0u32, 0u32, 0u32, 0u32, 0u32, 0u32, 0u32, 0u32);
    let (mut thai, mut deva, mut uk_marks, mut fa_marks) = (0u32, 0u32, 0u32, 0u32);
    for c in sample.chars() {
        match c as u32 {
            0x41..=0x5A | 0x61..=0x7A | 0xC0..=0x24F => latin += 1,
            0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => hangul += 1,
            0x3040..=0x30FF => kana += 1,
            0x4E00..=0x9FFF | 0x3400..=0x4DBF => han += 1,
            0x400..=0x4FF => {
                cyr += 1;
                if matches!(c, 'є' | 'і' | 'ї' | 'ґ' | 'Є' | 'І' | 'Ї' | 'Ґ') {
                    uk_marks += 1;
                }
            }
            0x600..=0x6FF => {
                arabic += 1;
                if matches!(c, 'پ' | 'چ' | 'ژ' | 'گ' | 'ی') {
                    fa_marks += 1;
                }
            }
            0x590..=0x5FF => hebrew += 1,
            0x370..=0x3FF => greek += 1,
            0xE00..=0xE7F => thai += 1,
            0x900..=0x97F => deva += 1,
            _ => {}
        }
    }
    let total = latin + hangul + kana + han + cyr + arabic + hebrew + greek + thai + deva;
    if total < 20 {
        return None;
    }
    let script = [
        (hangul, "ko"),
        (
            kana + han,
            if kana * 10 >= han.max(1) { "ja" } else { "zh" },
        ),
        (cyr, if uk_marks * 50 > cyr { "uk" } else { "ru" }),
        (arabic, if fa_marks * 20 > arabic { "fa" } else { "ar" }),
        (hebrew, "he"),
        (greek, "el"),
        (thai, "th"),
        (deva, "hi"),
    ];
    let (best, code) = script.iter().copied().max_by_key(|x| x.0).unwrap();
    if best * 2 > total {
        return Some(code.to_owned());
    }
    if latin * 2 <= total {
        return None;
    }
    latin_guess(sample)
}

const STOPWORDS: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "the", "and", "of", "to", "is", "that", "in", "it", "with", "for", "was", "this",
            "are", "on",
        ],
    ),
    (
        "de",
        &[
            "der", "die", "und", "das", "ist", "nicht", "den", "ich", "mit", "sich", "auch", "auf",
            "ein", "eine",
        ],
    ),
    (
        "fr",
        &[
            "le", "la", "les", "et", "des", "est", "une", "que", "dans", "pour", "pas", "qui",
            "sur", "du",
        ],
    ),
    (
        "es",
        &[
            "el", "la", "los", "las", "y", "que", "del", "por", "una", "con", "para", "es", "se",
            "como",
        ],
    ),
    (
        "it",
        &[
            "il", "di", "che", "la", "e", "per", "non", "della", "sono", "una", "con", "gli",
            "del", "alla",
        ],
    ),
    (
        "pt",
        &[
            "o", "os", "que", "do", "da", "em", "um", "uma", "para", "com", "não", "dos", "é",
            "mais",
        ],
    ),
    (
        "nl",
        &[
            "de", "het", "een", "van", "en", "dat", "niet", "is", "op", "voor", "met", "zijn",
            "ook", "wordt",
        ],
    ),
];

fn latin_guess(sample: &str) -> Option<String> {
    let mut counts = [0u32; 7];
    let mut words = 0u32;
    for w in sample
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
    {
        words += 1;
        let lw = w.to_lowercase();
        for (k, (_, list)) in STOPWORDS.iter().enumerate() {
            if list.contains(&lw.as_str()) {
                counts[k] += 1;
            }
        }
    }
    let (k, &best) = counts.iter().enumerate().max_by_key(|x| *x.1)?;
    // Demand that a few percent of words are the language's function words.
    (best >= 3 && best * 25 >= words).then(|| STOPWORDS[k].0.to_owned())
}
