//! `witness` mode: how much the feed's text steers newswire's choice of the body. The corpora
//! carry no feeds, so each page's labelled text stands in for the feed entry's
//! `content:encoded`: whole (a feed that carries the article) and cut to its first 120 words (a
//! feed that carries an excerpt, long enough to count as text). Scored with the shared scorer on
//! readability-test-pages and dragnet, against newswire without a feed in the same run.
//!
//! This measures the mechanism, not extraction: the labelled text is the answer, and a real
//! feed's text is rarely as clean. What it shows is how often the page's own choice tells less
//! than the feed's text and the witness finds the right block, and that an excerpt does no harm.

use std::io::Write;
use std::path::Path;

use super::{decode_page, json_str, list_files, read_page, score, whole_page_text};

/// The witnesses tried on every page.
#[derive(Clone, Copy)]
enum Feed {
    None,
    Whole,
    Excerpt,
}

const EXCERPT_WORDS: usize = 120;

pub fn main(shared: &Path) {
    let scorer = shared.join("tools/score_extraction.py");
    let tmp = std::env::temp_dir().join(format!("extract-bench-witness-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let read = shared.join("corpus/readability-test-pages");
    let drag = shared.join("corpus/dragnet");
    println!(
        "{:<24} | {:>21} | {:>21} | {:>21}",
        "corpus", "no feed F1 (P/R)", "whole text F1 (P/R)", "excerpt F1 (P/R)"
    );
    println!("{}", "-".repeat(98));
    for (kind, dir) in [("readability", &read), ("dragnet", &drag)] {
        let Some(files) = list_files(&scorer, kind, dir) else {
            println!("{kind}: skipped (no corpus at {})", dir.display());
            continue;
        };
        let golds = gold_texts(kind, dir, &files);
        let mut cells = Vec::new();
        for (k, feed) in [Feed::None, Feed::Whole, Feed::Excerpt]
            .into_iter()
            .enumerate()
        {
            let out = tmp.join(format!("{kind}-{k}.ndjson"));
            let mut w = std::io::BufWriter::new(std::fs::File::create(&out).expect("results"));
            for (f, gold) in files.iter().zip(&golds) {
                let text = match feed {
                    Feed::None => None,
                    Feed::Whole => Some(gold.clone()),
                    Feed::Excerpt => Some(
                        gold.split_whitespace()
                            .take(EXCERPT_WORDS)
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                };
                let html = decode_page(&read_page(f).expect("page"));
                let doc = newswire::scrape::parse_page(&html);
                let body = newswire::extract::extract_with_feed(&doc, None, None, text.as_deref())
                    .body_text;
                writeln!(
                    w,
                    "{{\"source\":{},\"body_text\":{}}}",
                    json_str(f),
                    json_str(&body)
                )
                .expect("write");
            }
            w.flush().expect("write");
            cells.push(match score(&scorer, kind, dir, &out) {
                Some(s) => format!("{:.3} ({:.3}/{:.3})", s.f1, s.p, s.r),
                None => "n/a".into(),
            });
        }
        println!(
            "{:<24} | {:>21} | {:>21} | {:>21}",
            kind, cells[0], cells[1], cells[2]
        );
    }
    println!("NDJSON results kept in {}", tmp.display());
}

/// Each page's labelled text: readability's expected.html as text, dragnet's gold file.
fn gold_texts(kind: &str, dir: &Path, files: &[String]) -> Vec<String> {
    files
        .iter()
        .map(|f| {
            let page = Path::new(f);
            if kind == "readability" {
                let exp = page.with_file_name("expected.html");
                whole_page_text(&std::fs::read_to_string(exp).unwrap_or_default())
            } else {
                // pages/ID.html.gz -> gold/ID.txt
                let id = page
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".html.gz"))
                    .unwrap_or_default();
                std::fs::read_to_string(dir.join("gold").join(format!("{id}.txt")))
                    .unwrap_or_default()
            }
        })
        .collect()
}

/// `witness-show PAGE GOLD`: one page's body with GOLD's text as its feed's.
pub fn show(page: &str, gold: &str) {
    let html = decode_page(&read_page(page).expect("page"));
    let text = std::fs::read_to_string(gold).expect("gold");
    let doc = newswire::scrape::parse_page(&html);
    println!(
        "{}",
        newswire::extract::extract_with_feed(&doc, None, None, Some(&text)).body_text
    );
}
