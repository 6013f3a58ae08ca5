//! Unit tests for the parsers, and the regression suite over the labelled pages in
//! `tests/fixtures/stamps/` (expected values in `expected.json`).

use super::datetime::{self, DayOrder, Zone};
use super::*;

fn ex(html: &str) -> Stamps {
    ex_with(html, None, None)
}

fn ex_with(html: &str, lang: Option<&str>, zone: Option<&str>) -> Stamps {
    let doc = scraper::Html::parse_document(html);
    extract_stamps(
        &doc,
        &Hints {
            language: lang,
            default_zone: zone,
            url: None,
            page: None,
        },
    )
}

fn s(t: Option<Timestamp>) -> Option<String> {
    t.map(|t| t.to_string())
}

/// Visible parse as "YYYY-MM-DD HH:MM zone?" for compact assertions.
fn vis(text: &str, order: DayOrder) -> Option<String> {
    let (v, _) = datetime::parse_visible(text, order, true)?;
    let zone = match v.zone {
        Some(Zone::Fixed(o)) => format!(" {o}"),
        Some(Zone::Named(tz)) => format!(" {tz}"),
        None => String::new(),
    };
    Some(format!(
        "{}-{:02}-{:02}{}{}",
        v.year.map_or("????".to_owned(), |y| y.to_string()),
        v.month,
        v.day,
        v.time
            .map_or(String::new(), |t| format!(" {}", t.format("%H:%M"))),
        zone
    ))
}

const D: DayOrder = DayOrder::DayFirst;
const M: DayOrder = DayOrder::MonthFirst;

#[test]
fn timestamp_display_and_round_trip() {
    let z: Timestamp = "2024-12-17T10:23:00+09:00".parse().unwrap();
    assert_eq!(z.to_string(), "2024-12-17T10:23:00+09:00");
    let utc: Timestamp = "2024-12-17T01:23:00Z".parse().unwrap();
    assert_eq!(utc.to_string(), "2024-12-17T01:23:00+00:00");
    let w: Timestamp = "2024-12-17T10:23:00".parse().unwrap();
    assert_eq!(
        w,
        Timestamp::Wall(
            NaiveDate::from_ymd_opt(2024, 12, 17)
                .unwrap()
                .and_hms_opt(10, 23, 0)
                .unwrap()
        )
    );
    assert_eq!(w.to_string(), "2024-12-17T10:23:00");
    assert!("17 Dec 2024".parse::<Timestamp>().is_err());
    let note = RevisionNote {
        kind: NoteKind::EditorsNote,
        text: "Editor's note: x".into(),
        date: Some(z),
    };
    let json = serde_json::to_string(&note).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"editors_note","text":"Editor's note: x","date":"2024-12-17T10:23:00+09:00"}"#
    );
    assert_eq!(serde_json::from_str::<RevisionNote>(&json).unwrap(), note);
}

#[test]
fn validate_zone_accepts_names_and_offsets() {
    assert!(validate_zone("Asia/Seoul").is_ok());
    assert!(validate_zone("+09:00").is_ok());
    assert!(validate_zone("-05:30").is_ok());
    assert!(validate_zone("UTC").is_ok());
    assert!(validate_zone("Mars/Olympus").is_err());
    assert!(validate_zone("+25:00").is_err());
    assert!(validate_zone("").is_err());
}

#[test]
fn english_formats_and_meridiem() {
    assert_eq!(vis(" 17 Dec. 2024, 10:23", D).unwrap(), "2024-12-17 10:23");
    assert_eq!(
        vis("Dec. 3, 2024 4:05 p.m. EST", M).unwrap(),
        "2024-12-03 16:05 -05:00"
    );
    assert_eq!(
        vis("December 17, 2024 12:10 a.m.", M).unwrap(),
        "2024-12-17 00:10"
    );
    assert_eq!(
        vis("3:23 PM PST, Tue December 17, 2024", M).unwrap(),
        "2024-12-17 15:23 -08:00"
    );
    assert_eq!(
        vis("on Tue 17 Dec 2024 14.31 GMT", D).unwrap(),
        "2024-12-17 14:31 +00:00"
    );
    assert_eq!(
        vis("17 December 2024 — 5:47pm AEDT", D).unwrap(),
        "2024-12-17 17:47 +11:00"
    );
    assert_eq!(
        vis("Dec 17, 2024, 10:23 IST", M).unwrap(),
        "2024-12-17 10:23 +05:30"
    );
    assert_eq!(
        vis("September 3rd 2024 at 9am BST", D).unwrap(),
        "2024-09-03 09:00 +01:00"
    );
    assert_eq!(vis("Dec. 17", M).unwrap(), "????-12-17");
}

#[test]
fn zone_words_and_numeric_offsets() {
    assert_eq!(
        vis("2024-12-17 10:23 KST", D).unwrap(),
        "2024-12-17 10:23 +09:00"
    );
    assert_eq!(
        vis("17.12.2024 10:23 CET", D).unwrap(),
        "2024-12-17 10:23 +01:00"
    );
    assert_eq!(
        vis("17.12.2024 10:23 (GMT+9)", D).unwrap(),
        "2024-12-17 10:23 +09:00"
    );
    assert_eq!(
        vis("Tue, 17 Dec 2024 10:23:00 +0900", D).unwrap(),
        "2024-12-17 10:23 +09:00"
    );
    assert_eq!(
        vis("Dec. 18, 2024 3:15 p.m. ET", M).unwrap(),
        "2024-12-18 15:15 America/New_York"
    );
    // lower-case "ist" is German for "is", not India Standard Time
    assert_eq!(vis("17.12.2024 10:23 ist", D).unwrap(), "2024-12-17 10:23");
    // ET resolves with DST by date
    let doc = r#"<html lang="en-US"><body><h1>x</h1><p class="date">Published July 4, 2024 9:00 a.m. ET</p></body></html>"#;
    assert_eq!(
        s(ex(doc).published_at).unwrap(),
        "2024-07-04T09:00:00-04:00"
    );
}

#[test]
fn day_month_order_follows_locale() {
    assert_eq!(vis("05/12/2024", D).unwrap(), "2024-12-05");
    assert_eq!(vis("05/12/2024", M).unwrap(), "2024-05-12");
    // unambiguous either way
    assert_eq!(vis("17/12/2024", M).unwrap(), "2024-12-17");
    assert_eq!(vis("12/17/2024", D).unwrap(), "2024-12-17");
    // dotted numeric dates are always day-first
    assert_eq!(vis("05.12.2024", M).unwrap(), "2024-12-05");
    let page = r#"<h1>x</h1><p class="meta">Published 05/12/2024 08:15</p>"#;
    assert_eq!(
        s(ex_with(page, Some("en-GB"), None).published_at).unwrap(),
        "2024-12-05T08:15:00"
    );
    assert_eq!(
        s(ex_with(page, Some("en-US"), None).published_at).unwrap(),
        "2024-05-12T08:15:00"
    );
    assert_eq!(
        s(ex_with(page, Some("fr"), None).published_at).unwrap(),
        "2024-12-05T08:15:00"
    );
}

#[test]
fn korean_formats() {
    assert_eq!(vis(" 2024.12.17 10:23", D).unwrap(), "2024-12-17 10:23");
    assert_eq!(
        vis("2024. 12. 17. 오후 3:23", D).unwrap(),
        "2024-12-17 15:23"
    );
    assert_eq!(vis("2024-12-17 오전 12:05", D).unwrap(), "2024-12-17 00:05");
    assert_eq!(
        vis("2024년 12월 17일 오후 3시 23분", D).unwrap(),
        "2024-12-17 15:23"
    );
    assert_eq!(vis("12월 18일 오후 3시", D).unwrap(), "????-12-18 15:00");
    let page = r#"<h1>제목</h1><div class="info">기사입력 2024.12.17 10:23 최종수정 2024.12.17 15:23</div>"#;
    let st = ex_with(page, Some("ko"), Some("Asia/Seoul"));
    assert_eq!(s(st.published_at).unwrap(), "2024-12-17T10:23:00+09:00");
    assert_eq!(s(st.updated_at).unwrap(), "2024-12-17T15:23:00+09:00");
    // "3시간 전" is relative, not three o'clock
    assert_eq!(vis("3시간 전", D), None);
}

#[test]
fn german_french_spanish_japanese_formats() {
    assert_eq!(
        vis(" am 17.12.2024 um 15:23 Uhr", D).unwrap(),
        "2024-12-17 15:23"
    );
    assert_eq!(
        vis("17. Dezember 2024, 15.23 Uhr", D).unwrap(),
        "2024-12-17 15:23"
    );
    assert_eq!(
        vis("Di, 3. März 2024 08:00", D).unwrap(),
        "2024-03-03 08:00"
    );
    assert_eq!(
        vis(" le 17 décembre 2024 à 10h23", D).unwrap(),
        "2024-12-17 10:23"
    );
    assert_eq!(
        vis("1er août 2024 à 9 h 05", D).unwrap(),
        "2024-08-01 09:05"
    );
    assert_eq!(
        vis(" el 17 de diciembre de 2024, 10:23 h", D).unwrap(),
        "2024-12-17 10:23"
    );
    assert_eq!(
        vis("：2024年12月17日 15時23分", D).unwrap(),
        "2024-12-17 15:23"
    );
    assert_eq!(
        vis("2024年12月17日（火）午後3時5分", D).unwrap(),
        "2024-12-17 15:05"
    );
    assert_eq!(
        vis("２０２４年１２月１７日 １０：２３", D).unwrap(),
        "2024-12-17 10:23"
    );
}

#[test]
fn iso_machine_stamps() {
    let m = datetime::parse_iso("2024-12-17T10:23:00.000+0900").unwrap();
    assert_eq!(m.offset.unwrap().local_minus_utc(), 9 * 3600);
    assert!(
        datetime::parse_iso("2024-12-17T01:23:00Z")
            .unwrap()
            .is_utc()
    );
    assert!(!datetime::parse_iso("2024-12-17").unwrap().has_time);
    assert!(datetime::parse_iso("20241217T102300Z").unwrap().has_time);
    assert_eq!(datetime::parse_iso("2024-13-17"), None);
    assert_eq!(datetime::parse_iso("yesterday"), None);
    assert_eq!(datetime::parse_iso(""), None);
}

#[test]
fn noise_is_rejected() {
    let page = r#"<html lang="en-GB"><body>
        <header><div class="clock">Tuesday, 17 December 2024 14:05</div></header>
        <aside><p>Updated 16 December 2024, 09:00</p></aside>
        <main><h1>Headline</h1><p>On 12 March 2023 the council voted.</p></main>
        <div class="comments"><p>Posted 18 December 2024, 08:00</p></div>
        <footer>© 2024 Example. Last updated 01/01/2024</footer></body></html>"#;
    let st = ex(page);
    assert_eq!(st, Stamps::default());
    // prose dates, relative times and copyright years are not stamps
    let page = r#"<h1>x</h1><p class="date">Updated 5 minutes ago</p><p>Published in 2019, the report ...</p>"#;
    assert_eq!(ex_with(page, Some("en"), None), Stamps::default());
}

#[test]
fn notes_and_non_notes() {
    let page = r#"<html lang="en-US"><body><article><h1>Correction: the mayor's budget</h1>
        <p class="date">Published Dec. 17, 2024 10:00 a.m.</p>
        <p><a href="/policy">Correction: read our corrections policy for details on this</a></p>
        <p>Corrections policy and standards for this newsroom are here.</p>
        <h2>Editor's Picks</h2>
        <p>Correction, Dec. 18: An earlier version misstated the budget, which is $4 million.</p>
        <p>Editor's note: This story was produced with the Valley Fund.</p>
        </article></body></html>"#;
    let st = ex(page);
    let kinds: Vec<NoteKind> = st.revision_notes.iter().map(|n| n.kind).collect();
    assert_eq!(kinds, [NoteKind::Correction, NoteKind::EditorsNote]);
    assert_eq!(s(st.revision_notes[0].date).unwrap(), "2024-12-18T00:00:00");
    assert!(
        st.revision_notes[0]
            .text
            .starts_with("Correction, Dec. 18:")
    );
    assert_eq!(st.revision_notes[1].date, None);
}

#[test]
fn url_dates() {
    let d = |u: &str| url_date(&url::Url::parse(u).unwrap()).map(|d| d.to_string());
    assert_eq!(
        d("https://x.example/2024/12/17/slug").as_deref(),
        Some("2024-12-17")
    );
    assert_eq!(
        d("https://x.example/news/2024-12-17-slug").as_deref(),
        Some("2024-12-17")
    );
    assert_eq!(d("https://x.example/2024/best-of/12/17").as_deref(), None);
    assert_eq!(
        d("https://x.example/article/20241217123456").as_deref(),
        None
    );
    assert_eq!(d("https://x.example/").as_deref(), None);
}

#[test]
fn note_year_rolls_over() {
    let page = r#"<html lang="en-US"><body><h1>x</h1><p class="date">Published Dec. 30, 2024 10:00 a.m.</p>
        <p>Update, Jan. 2: The road has reopened after the crews finished the repair work.</p></body></html>"#;
    let st = ex(page);
    assert_eq!(s(st.revision_notes[0].date).unwrap(), "2025-01-02T00:00:00");
}

#[test]
fn jsonld_scanner_handles_graph_arrays_and_garbage() {
    let mut out = Vec::new();
    jsonld::scan(
        r#"{"@graph":[{"@type":"Person","datePublished":"x"},{"@type":["NewsArticle"],"datePublished":"2024-01-02","dateModified":"2024-01-03","nested":{"a":[1,2,{"b":null}]}}]}"#,
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].published.as_deref(), Some("2024-01-02"));
    assert_eq!(out[0].modified.as_deref(), Some("2024-01-03"));
    out.clear();
    jsonld::scan(&"[".repeat(100_000), &mut out);
    jsonld::scan(
        r#"{"@type":"NewsArticle","datePublished":"2024-01-02"#,
        &mut out,
    );
    jsonld::scan(
        "<!-- {\"@type\": \"NewsArticle\", \"datePublished\": \"2024-05-06\"} -->",
        &mut out,
    );
    assert_eq!(out.len(), 1);
}

#[test]
fn deep_nesting_and_huge_pages_do_not_panic() {
    let depth = 100_000;
    let mut html = String::with_capacity(depth * 12);
    html.push_str("<html lang=\"en\"><body><h1>Deep</h1>");
    // <span> keeps html5ever's own work linear (nested <div>s make its scope checks quadratic)
    for _ in 0..depth {
        html.push_str("<span>");
    }
    html.push_str("<b class=\"date\">Published 17 Dec 2024 10:23</b>");
    for _ in 0..depth {
        html.push_str("</span>");
    }
    html.push_str("</body></html>");
    // run on a small stack: nothing may recurse over the DOM
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let doc = scraper::Html::parse_document(&html);
            let st = extract_stamps(&doc, &Hints::default());
            st.published_at.map(|t| t.to_string())
        })
        .unwrap();
    assert_eq!(
        handle.join().unwrap().as_deref(),
        Some("2024-12-17T10:23:00")
    );

    let mut huge = String::from("<html><body><h1>x</h1>");
    for i in 0..40_000 {
        huge.push_str(&format!(
            "<p>Paragraph {i} updated 17.12.2024 words words</p>"
        ));
    }
    let doc = scraper::Html::parse_document(&huge);
    let _ = extract_stamps(&doc, &Hints::default());
}

/// The labelled pages in `tests/fixtures/stamps/` as a regression suite: every page's
/// published and updated stamps, revision notes and bylines (`authors`, from the same page
/// through `extract`) must match `expected.json` exactly. The real measure is the shared
/// metadata corpus (`extract-bench metadata`); these pages pin the behaviours they show.
#[test]
fn labelled_pages_match_exactly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stamps");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"),
    )
    .unwrap();
    let mut failures = Vec::new();
    let mut pages = 0;
    for (name, want) in expected.as_object().unwrap() {
        pages += 1;
        let html =
            std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let url = want
            .get("url")
            .and_then(|u| u.as_str())
            .map(|u| url::Url::parse(u).unwrap());
        let hints = Hints {
            language: want.get("language").and_then(|v| v.as_str()),
            default_zone: want.get("default_zone").and_then(|v| v.as_str()),
            url: url.as_ref(),
            page: Some(&html),
        };
        let doc = scraper::Html::parse_document(&html);
        let got = serde_json::to_value(extract_stamps(&doc, &hints)).unwrap();
        for field in ["published_at", "updated_at", "revision_notes"] {
            if got[field] != want[field] {
                failures.push(format!(
                    "{name} {field}: got {} want {}",
                    got[field], want[field]
                ));
            }
        }
        let authors = crate::extract::extract(&doc, url.as_ref(), None).authors;
        if serde_json::to_value(&authors).unwrap() != want["authors"] {
            failures.push(format!(
                "{name} authors: got {authors:?} want {}",
                want["authors"]
            ));
        }
    }
    assert!(pages >= 60, "labelled set too small: {pages}");
    assert!(
        failures.is_empty(),
        "{} of {pages} pages differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
