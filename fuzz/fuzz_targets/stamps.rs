//! Revision stamp parsing: the fuzz input as a stored timestamp, as machine stamps (meta,
//! JSON-LD, `<time datetime>`), as visible labelled text, and raw as the page itself, under a
//! language and zone picked by the first byte. Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use newswire::stamps::{Hints, Timestamp, extract_stamps};

const LANGS: [Option<&str>; 6] = [
    None,
    Some("en-US"),
    Some("en-GB"),
    Some("de"),
    Some("ko"),
    Some("fr"),
];
const ZONES: [Option<&str>; 4] = [None, Some("Asia/Seoul"), Some("+09:00"), Some("UTC")];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if let Ok(t) = text.parse::<Timestamp>() {
        let again: Timestamp = t.to_string().parse().expect("a shown stamp parses back");
        assert_eq!(t.to_string(), again.to_string());
    }
    let attr = text
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    let json = serde_escape(&text);
    let html = format!(
        "<html><head><meta property=\"article:published_time\" content=\"{attr}\">\
         <meta property=\"article:modified_time\" content=\"{attr}\">\
         <script type=\"application/ld+json\">{{\"@type\":\"NewsArticle\",\"datePublished\":\"{json}\",\"dateModified\":\"{json}\"}}</script>\
         </head><body><article><h1>Headline</h1><p class=\"byline\">Published <time datetime=\"{attr}\">{attr}</time></p>\
         <p>Updated: {attr}</p><p>Correction: {attr}</p><p>x</p></article>{text}</body></html>"
    );
    let doc = scraper::Html::parse_document(&html);
    let url = url::Url::parse("http://news.test/2024/05/12/story").unwrap();
    let hints = Hints {
        language: LANGS[usize::from(pick) % LANGS.len()],
        default_zone: ZONES[usize::from(pick / 8) % ZONES.len()],
        url: (pick & 0x80 != 0).then_some(&url),
        page: (pick & 0x40 != 0).then_some(html.as_str()),
    };
    let _ = extract_stamps(&doc, &hints);
    let raw = scraper::Html::parse_document(&text);
    let _ = extract_stamps(&raw, &hints);
});

fn serde_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '<' => out.push_str("\\u003c"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}
