//! `extract-bench metadata`: authors, published and updated times on `corpus/metadata-dev`,
//! newswire against trafilatura's `extract_metadata` and htmldate (extensive search), in one
//! run, scored by `shared/tools/score_metadata.py`.
//!
//! newswire runs in this process: each page is extracted as `newswire extract --url` does it
//! (`scrape::extract_page`), and timed separately on one thread's CPU clock, split into body
//! extraction (parse, DOM, body) and metadata work (bylines and stamps), to show what the
//! metadata costs per page. The peers run in one python3 process each (an embedded script
//! writing the scorer's NDJSON); a peer whose package is missing is skipped with a message.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{json_str, thread_cpu_secs};

/// Runs each peer over the corpus, one NDJSON line per page in the scorer's format.
const PEERS_PY: &str = r#"
import gzip, json, os, sys
corpus, which, out = sys.argv[1], sys.argv[2], sys.argv[3]
if which == "trafilatura":
    from trafilatura import extract_metadata
else:
    from htmldate import find_date
labels = [json.loads(l) for l in open(os.path.join(corpus, "labels.jsonl"), encoding="utf-8") if l.strip()]
with open(out, "w", encoding="utf-8") as f:
    for lab in labels:
        path = os.path.join(corpus, lab["file"])
        raw = gzip.open(path).read()
        url = lab.get("url")
        res = {"source": path, "authors": [], "published_at": None, "updated_at": None}
        try:
            if which == "trafilatura":
                m = extract_metadata(raw, default_url=url)
                if m is not None:
                    if m.author:
                        res["authors"] = [a.strip() for a in m.author.split(";") if a.strip()]
                    res["published_at"] = m.date
            else:
                res["published_at"] = find_date(raw, url=url, extensive_search=True, original_date=True)
                res["updated_at"] = find_date(raw, url=url, extensive_search=True, original_date=False)
        except Exception:
            pass
        f.write(json.dumps(res, ensure_ascii=False) + "\n")
"#;

/// The scorer's one-line summary: authors exact, authors F1, published day, published minute,
/// updated day.
struct Summary([Option<f64>; 5]);

fn score(scorer: &Path, corpus: &Path, results: &Path) -> Option<Summary> {
    let out = Command::new("python3")
        .arg(scorer)
        .arg("score")
        .arg(corpus)
        .arg(results)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("SUMMARY"))?;
    let get = |key: &str| -> Option<f64> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
    };
    Some(Summary([
        get("authors_exact"),
        get("authors_F1"),
        get("published_day"),
        get("published_minute"),
        get("updated_day"),
    ]))
}

/// One labelled page: its file and original URL.
struct Labelled {
    file: PathBuf,
    url: Option<String>,
}

fn labels(corpus: &Path) -> Option<Vec<Labelled>> {
    let text = std::fs::read_to_string(corpus.join("labels.jsonl")).ok()?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        out.push(Labelled {
            file: corpus.join(v["file"].as_str()?),
            url: v["url"].as_str().map(str::to_owned),
        });
    }
    Some(out)
}

fn read_gz(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path)?).read_to_end(&mut out)?;
    Ok(out)
}

/// CPU seconds of the metadata work and of body extraction, for one page.
struct Cost {
    meta: f64,
    body: f64,
}

/// Extracts every page as `newswire extract` does, writing the scorer's NDJSON, and times
/// body extraction and metadata work on this thread's CPU clock.
fn run_newswire(pages: &[Labelled], out: &Path) -> std::io::Result<Vec<Cost>> {
    let clock = || thread_cpu_secs().unwrap_or(0.0);
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    let mut costs = Vec::with_capacity(pages.len());
    for p in pages {
        let bytes = read_gz(&p.file)?;
        let html = newswire::charset::decode(&bytes, None);
        let url = p
            .url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .unwrap_or_else(|| url::Url::parse("file:///page.html").expect("valid URL"));
        let page = newswire::scrape::extract_page(&html, &url, None);
        let authors: Vec<String> = page.authors.iter().map(|a| json_str(a)).collect();
        let stamp = |t: Option<newswire::stamps::Timestamp>| match t {
            Some(t) => json_str(&t.to_string()),
            None => "null".to_owned(),
        };
        writeln!(
            w,
            "{{\"source\":{},\"authors\":[{}],\"published_at\":{},\"updated_at\":{}}}",
            json_str(&p.file.to_string_lossy()),
            authors.join(","),
            stamp(page.published_at),
            stamp(page.updated_at)
        )?;
        // The same work again, timed part by part.
        let t0 = clock();
        let doc = newswire::scrape::parse_page(&html);
        let (ex, byline_secs) = newswire::extract::extract_profiled(&doc, Some(&url), None, clock);
        let t1 = clock();
        let hints = newswire::stamps::Hints {
            language: ex.language.as_deref(),
            default_zone: None,
            url: Some(&url),
            page: Some(&html),
        };
        let st = newswire::stamps::extract_stamps(&doc, &hints);
        let t2 = clock();
        std::hint::black_box((ex, st));
        costs.push(Cost {
            meta: byline_secs + (t2 - t1),
            body: (t1 - t0) - byline_secs,
        });
    }
    w.flush()?;
    Ok(costs)
}

/// Runs one peer; `None` (with the reason printed) when python3 or its package is missing.
fn run_peer(tmp: &Path, corpus: &Path, which: &str, package: &str) -> Option<PathBuf> {
    let probe = Command::new("python3")
        .args(["-c", &format!("import {package}")])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(_) => {
            println!(
                "extract-bench metadata: {which} skipped: python package {package} missing (pip install {package})"
            );
            return None;
        }
        Err(e) => {
            println!("extract-bench metadata: {which} skipped: python3 not runnable ({e})");
            return None;
        }
    }
    let script = tmp.join("peers.py");
    std::fs::write(&script, PEERS_PY).ok()?;
    let out = tmp.join(format!("{which}-metadata.ndjson"));
    eprintln!("extract-bench metadata: {which} ...");
    let status = Command::new("python3")
        .arg(&script)
        .arg(corpus)
        .arg(which)
        .arg(&out)
        .status()
        .ok()?;
    if !status.success() {
        println!("extract-bench metadata: {which} failed ({status})");
        return None;
    }
    Some(out)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// The `metadata` mode: see the module docs.
pub(crate) fn main(shared: &Path) {
    let corpus = shared.join("corpus/metadata-dev");
    let corpus = corpus.canonicalize().unwrap_or(corpus);
    let scorer = shared.join("tools/score_metadata.py");
    if !scorer.is_file() || !corpus.join("labels.jsonl").is_file() {
        println!(
            "extract-bench metadata: skipped: no corpus/metadata-dev or tools/score_metadata.py under {} (set NEWSWIRE_SHARED)",
            shared.display()
        );
        return;
    }
    let Some(pages) = labels(&corpus) else {
        println!("extract-bench metadata: skipped: labels.jsonl unreadable");
        return;
    };
    let tmp = std::env::temp_dir().join(format!("extract-bench-metadata-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    eprintln!(
        "extract-bench metadata: newswire over {} pages ...",
        pages.len()
    );
    let nw_out = tmp.join("newswire-metadata.ndjson");
    let costs = run_newswire(&pages, &nw_out).expect("newswire run");
    // (name, results, which fields the extractor produces)
    let mut rows: Vec<(&str, PathBuf, [bool; 5])> = vec![("newswire", nw_out, [true; 5])];
    if let Some(out) = run_peer(&tmp, &corpus, "trafilatura", "trafilatura") {
        rows.push((
            "trafilatura extract_metadata",
            out,
            [true, true, true, false, false],
        ));
    }
    if let Some(out) = run_peer(&tmp, &corpus, "htmldate", "htmldate") {
        rows.push((
            "htmldate (extensive)",
            out,
            [false, false, true, false, true],
        ));
    }
    println!();
    println!(
        "Metadata on {} ({} pages), scored by score_metadata.py; — : the extractor does not give it",
        corpus.display(),
        pages.len()
    );
    println!();
    println!(
        "| {:<30} | {:>13} | {:>10} | {:>13} | {:>16} | {:>11} |",
        "extractor",
        "authors exact",
        "authors F1",
        "published day",
        "published minute",
        "updated day"
    );
    println!(
        "|{}|{}|{}|{}|{}|{}|",
        "-".repeat(32),
        "-".repeat(14) + ":",
        "-".repeat(11) + ":",
        "-".repeat(14) + ":",
        "-".repeat(17) + ":",
        "-".repeat(12) + ":"
    );
    for (name, out, gives) in &rows {
        let s = score(&scorer, &corpus, out);
        let cell = |k: usize| match (&s, gives[k]) {
            (_, false) => "—".to_owned(),
            (Some(s), true) => s.0[k].map_or("n/a".into(), |v| format!("{v:.3}")),
            (None, true) => "n/a".to_owned(),
        };
        println!(
            "| {:<30} | {:>13} | {:>10} | {:>13} | {:>16} | {:>11} |",
            name,
            cell(0),
            cell(1),
            cell(2),
            cell(3),
            cell(4)
        );
    }
    let meta: f64 = costs.iter().map(|c| c.meta).sum();
    let body: f64 = costs.iter().map(|c| c.body).sum();
    let mut ratios: Vec<f64> = costs
        .iter()
        .filter(|c| c.body > 0.0)
        .map(|c| c.meta / c.body)
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!();
    println!(
        "Cost (one thread's CPU time, release build): bylines + stamps {:.1} ms/page, body extraction (parse, DOM, body) {:.1} ms/page",
        meta * 1e3 / costs.len() as f64,
        body * 1e3 / costs.len() as f64
    );
    println!(
        "metadata / body extraction: {:.1}% over the corpus; per page median {:.1}%, p90 {:.1}%",
        meta / body * 100.0,
        percentile(&ratios, 0.5) * 100.0,
        percentile(&ratios, 0.9) * 100.0
    );
    println!("NDJSON results kept in {}", tmp.display());
}
