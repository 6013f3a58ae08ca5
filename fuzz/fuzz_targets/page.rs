//! Page extraction (body, metadata, canonical URL and revision stamps from one parse), as the
//! pipeline runs it on a fetched page: decode, then `scrape::extract_page`. Never panics; the
//! canonical URL is always an http(s) URL.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let url = url::Url::parse("http://www.news.test/2024/05/12/story?id=7").unwrap();
    let html = newswire::charset::decode(data, Some("text/html"));
    let page = newswire::scrape::extract_page(&html, &url, None);
    let canonical = url::Url::parse(&page.canonical_url).expect("canonical URL parses");
    assert!(matches!(canonical.scheme(), "http" | "https"));
    assert_eq!(
        page.word_count,
        newswire::extract::word_count(&page.body_text)
    );
});
