//! Pulls `datePublished` / `dateModified` out of JSON-LD without building a tree.
//!
//! A single forward scan with an explicit stack (depth capped at [`MAX_DEPTH`]), so `@graph`,
//! arrays of items and deeply nested or broken JSON cost no recursion. Malformed input ends the
//! scan of that script; what was read before the fault is kept.

/// Deeper JSON than this is abandoned (real JSON-LD is a handful of levels).
const MAX_DEPTH: usize = 128;

/// Dates found on one JSON-LD object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LdDates {
    /// 0 for article kinds, 1 for web pages, 2 for untyped objects.
    pub rank: u8,
    pub published: Option<String>,
    pub modified: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Type,
    Published,
    Modified,
    Other,
}

enum Frame {
    Obj {
        key: Option<Key>,
        expect_key: bool,
        rank: u8,
        typed: bool,
        published: Option<String>,
        modified: Option<String>,
    },
    Arr {
        key: Option<Key>,
    },
}

/// Rank of a schema.org type for stamp purposes; `None` for types whose dates are not the article's.
fn type_rank(t: &str) -> Option<u8> {
    let t = t.rsplit(['/', ':']).next().unwrap_or(t);
    match t {
        "NewsArticle"
        | "Article"
        | "ReportageNewsArticle"
        | "AnalysisNewsArticle"
        | "OpinionNewsArticle"
        | "BackgroundNewsArticle"
        | "ReviewNewsArticle"
        | "AskPublicNewsArticle"
        | "SatiricalArticle"
        | "BlogPosting"
        | "LiveBlogPosting"
        | "Report"
        | "TechArticle"
        | "ScholarlyArticle"
        | "SocialMediaPosting"
        | "Blog"
        | "AdvertiserContentArticle" => Some(0),
        "WebPage" | "ItemPage" | "CollectionPage" | "AboutPage" | "WebSite" | "VideoObject" => {
            Some(1)
        }
        _ => None,
    }
}

/// Scans one script's JSON text, appending every object that carries a date.
pub(crate) fn scan(json: &str, out: &mut Vec<LdDates>) {
    let b = json.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' => {
                if stack.len() >= MAX_DEPTH {
                    return;
                }
                stack.push(Frame::Obj {
                    key: None,
                    expect_key: true,
                    rank: 2,
                    typed: false,
                    published: None,
                    modified: None,
                });
                i += 1;
            }
            b'[' => {
                if stack.len() >= MAX_DEPTH {
                    return;
                }
                let key = match stack.last() {
                    Some(Frame::Obj { key, .. }) => *key,
                    _ => None,
                };
                stack.push(Frame::Arr { key });
                i += 1;
            }
            b'}' | b']' => {
                if let Some(Frame::Obj {
                    rank,
                    published,
                    modified,
                    ..
                }) = stack.pop()
                    && (published.is_some() || modified.is_some())
                    && rank < u8::MAX
                {
                    out.push(LdDates {
                        rank,
                        published,
                        modified,
                    });
                }
                value_done(&mut stack);
                i += 1;
            }
            b',' => {
                if let Some(Frame::Obj {
                    key, expect_key, ..
                }) = stack.last_mut()
                {
                    *key = None;
                    *expect_key = true;
                }
                i += 1;
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() {
                    match b[j] {
                        b'\\' => j += 2,
                        b'"' => break,
                        _ => j += 1,
                    }
                }
                if j >= b.len() {
                    return;
                }
                let s = &json[start..j];
                i = j + 1;
                string_token(&mut stack, s);
            }
            b':' | b' ' | b'\n' | b'\r' | b'\t' => i += 1,
            _ => {
                // number, literal, or junk such as an HTML comment marker: skip to a delimiter
                while i < b.len() && !matches!(b[i], b',' | b'}' | b']' | b'{' | b'[' | b'"') {
                    i += 1;
                }
                value_done(&mut stack);
            }
        }
    }
}

fn value_done(stack: &mut [Frame]) {
    if let Some(Frame::Obj { key, .. }) = stack.last_mut() {
        *key = None;
    }
}

fn string_token(stack: &mut [Frame], s: &str) {
    match stack.last_mut() {
        Some(Frame::Obj {
            key,
            expect_key,
            rank,
            typed,
            published,
            modified,
        }) => {
            if *expect_key {
                *expect_key = false;
                *key = Some(match s {
                    "@type" => Key::Type,
                    // A video's upload is its publication.
                    "datePublished" | "uploadDate" => Key::Published,
                    "dateModified" => Key::Modified,
                    _ => Key::Other,
                });
                return;
            }
            match key.take() {
                Some(Key::Type) => add_type(rank, typed, s),
                Some(Key::Published) if published.is_none() => *published = Some(s.to_owned()),
                Some(Key::Modified) if modified.is_none() => *modified = Some(s.to_owned()),
                _ => {}
            }
        }
        Some(Frame::Arr {
            key: Some(Key::Type),
        }) => {
            // `"@type": ["NewsArticle", ...]`: the owning object sits just below the array.
            let n = stack.len();
            if n >= 2
                && let Frame::Obj { rank, typed, .. } = &mut stack[n - 2]
            {
                add_type(rank, typed, s);
            }
        }
        _ => {}
    }
}

fn add_type(rank: &mut u8, typed: &mut bool, t: &str) {
    let r = type_rank(t).unwrap_or(u8::MAX);
    if !*typed {
        *rank = r;
        *typed = true;
    } else {
        *rank = (*rank).min(r);
    }
}
