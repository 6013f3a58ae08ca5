//! Article-extraction benchmark: newswire vs rs-trafilatura vs dom_smoothie (plus a "whole page
//! text" baseline) on the shared corpora (trafilatura-eval, readability-test-pages and, when
//! present, dragnet), in one process, single-threaded.
//!
//! For each corpus it times read + charset-decode + parse + extract per page, the extractors
//! taking turns page by page (so drift in a shared machine's speed hits them alike), writes the
//! bodies as NDJSON and scores them with `shared/tools/score_extraction.py` (so the
//! numbers are exactly the project's scorer). Pages/s and the slowest page are measured on the
//! trafilatura-eval pages, both as thread CPU time (stable on a shared machine) and wall time.
//! An optional argument runs one extractor only: `newswire`, `rs-trafilatura`, `dom_smoothie`,
//! `whole-page`. Run with `cargo run --release -p extract-bench` (pin to one core with
//! `taskset -c 0` for stable numbers).
//!
//! `show FILE...` prints newswire's body of each page, for looking at one miss.
//!
//! `witness` measures the feed's text as a witness for the body (see `witness.rs`);
//! `witness-show PAGE TEXT` prints one page's body with TEXT as its feed's.
//!
//! `metadata` runs the metadata mode instead (see `metadata.rs`): authors and published and
//! updated times on `corpus/metadata-dev`, newswire against trafilatura and htmldate, and
//! what newswire's bylines and stamps cost next to its body extraction.
//!
//! Skips (exit 0, with a message) when the shared corpus or python3 is absent. The shared folder
//! is `NEWSWIRE_SHARED` if set, else `../shared` next to the repository root.

mod metadata;
mod witness;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[derive(Clone, Copy, PartialEq)]
enum Extractor {
    Newswire,
    RsTrafilatura,
    DomSmoothie,
    WholePage,
}

impl Extractor {
    const ALL: [Extractor; 4] = [
        Extractor::Newswire,
        Extractor::RsTrafilatura,
        Extractor::DomSmoothie,
        Extractor::WholePage,
    ];

    fn name(self) -> &'static str {
        match self {
            Extractor::Newswire => "newswire",
            Extractor::RsTrafilatura => "rs-trafilatura 0.2.2",
            Extractor::DomSmoothie => "dom_smoothie 0.19",
            Extractor::WholePage => "whole page text",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Extractor::Newswire => "newswire",
            Extractor::RsTrafilatura => "rs-trafilatura",
            Extractor::DomSmoothie => "dom_smoothie",
            Extractor::WholePage => "whole-page",
        }
    }

    /// Body text of one decoded page. Peer errors and panics count as an empty body.
    fn run(self, html: &str) -> String {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match self {
            Extractor::Newswire => {
                // As the daemon parses pages (scripts and styles emptied, deep nesting cut).
                let doc = newswire::scrape::parse_page(html);
                newswire::extract::extract(&doc, None, None).body_text
            }
            Extractor::RsTrafilatura => rs_trafilatura::extract(html)
                .map(|r| r.content_text)
                .unwrap_or_default(),
            Extractor::DomSmoothie => {
                // Formatted mode keeps block boundaries as line breaks, as the scorer expects.
                let cfg = dom_smoothie::Config {
                    text_mode: dom_smoothie::TextMode::Formatted,
                    ..Default::default()
                };
                dom_smoothie::Readability::new(html, None, Some(cfg))
                    .and_then(|mut r| r.parse())
                    .map(|a| a.text_content.to_string())
                    .unwrap_or_default()
            }
            Extractor::WholePage => whole_page_text(html),
        }));
        r.unwrap_or_default()
    }
}

/// Every visible text node of the body, one per line: the "no extraction" baseline.
fn whole_page_text(html: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    let mut out = String::new();
    for n in doc.tree.root().descendants() {
        if let scraper::Node::Text(t) = n.value() {
            let hidden = n.ancestors().any(|a| {
                a.value().as_element().is_some_and(|e| {
                    matches!(
                        e.name(),
                        "script" | "style" | "noscript" | "head" | "template"
                    )
                })
            });
            if !hidden && !t.trim().is_empty() {
                out.push_str(t.trim());
                out.push('\n');
            }
        }
    }
    out
}

/// A page's bytes; dragnet stores its pages gzip-compressed (`ID.html.gz`).
fn read_page(f: &str) -> std::io::Result<Vec<u8>> {
    let raw = std::fs::read(f)?;
    if !f.ends_with(".gz") {
        return Ok(raw);
    }
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut out)?;
    Ok(out)
}

/// Pages are decoded as newswire decodes them (BOM, `<meta charset>`, else UTF-8 or windows-1252).
fn decode_page(bytes: &[u8]) -> String {
    newswire::charset::decode(bytes, None)
}

#[derive(Default)]
struct Timing {
    pages: usize,
    /// Wall-clock seconds, summed over pages.
    secs: f64,
    /// This thread's CPU seconds: unaffected by other processes on a shared machine.
    cpu_secs: f64,
    slowest_ms: f64,
    slowest_cpu_ms: f64,
    slowest: String,
}

/// CPU time of the calling thread, in seconds (Linux); wall-clock-free, so a busy machine
/// does not inflate it. Elsewhere returns None and the table shows wall time only.
#[cfg(target_os = "linux")]
fn thread_cpu_secs() -> Option<f64> {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec (two 64-bit fields on 64-bit Linux) to `ts`.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then_some(ts.sec as f64 + ts.nsec as f64 * 1e-9)
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_secs() -> Option<f64> {
    None
}

/// Extracts every file with every extractor and writes `{"source", "body_text"}` lines to
/// `out(extractor)`. Extractors take turns page by page, the order rotating, so a machine whose
/// speed drifts during the run (a shared VM) slows them all alike and the ratios stay fair.
fn run_corpus(
    xs: &[Extractor],
    files: &[String],
    out: impl Fn(Extractor) -> PathBuf,
) -> std::io::Result<Vec<Timing>> {
    let mut writers = Vec::new();
    for &x in xs {
        writers.push(std::io::BufWriter::new(std::fs::File::create(out(x))?));
    }
    let mut timings: Vec<Timing> = xs.iter().map(|_| Timing::default()).collect();
    for (n, f) in files.iter().enumerate() {
        for k in 0..xs.len() {
            let i = (n + k) % xs.len();
            let t = &mut timings[i];
            let start = Instant::now();
            let cpu0 = thread_cpu_secs();
            let bytes = read_page(f)?;
            let html = decode_page(&bytes);
            let body = xs[i].run(&html);
            let el = start.elapsed().as_secs_f64();
            let cpu = match (cpu0, thread_cpu_secs()) {
                (Some(a), Some(b)) => b - a,
                _ => el,
            };
            t.pages += 1;
            t.secs += el;
            t.cpu_secs += cpu;
            t.slowest_ms = t.slowest_ms.max(el * 1e3);
            if cpu * 1e3 > t.slowest_cpu_ms {
                t.slowest_cpu_ms = cpu * 1e3;
                t.slowest = f.clone();
            }
            writeln!(
                writers[i],
                "{{\"source\":{},\"body_text\":{}}}",
                json_str(f),
                json_str(&body)
            )?;
        }
    }
    for w in &mut writers {
        w.flush()?;
    }
    Ok(timings)
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

struct Score {
    p: f64,
    r: f64,
    f1: f64,
}

/// Runs the shared scorer and reads its "precision .. recall .. f1 .." line.
fn score(scorer: &Path, kind: &str, corpus: &Path, results: &Path) -> Option<Score> {
    let out = Command::new("python3")
        .arg(scorer)
        .arg(kind)
        .arg(corpus)
        .arg(results)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("precision"))?;
    let num = |key: &str| -> Option<f64> {
        let mut it = line.split_whitespace();
        it.position(|w| w == key)?;
        it.next()?.parse().ok()
    };
    Some(Score {
        p: num("precision")?,
        r: num("recall")?,
        f1: num("f1")?,
    })
}

fn list_files(scorer: &Path, kind: &str, corpus: &Path) -> Option<Vec<String>> {
    let out = Command::new("python3")
        .arg(scorer)
        .arg("files")
        .arg(kind)
        .arg(corpus)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let files: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    (!files.is_empty()).then_some(files)
}

fn shared_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("NEWSWIRE_SHARED") {
        return PathBuf::from(p);
    }
    // benches/extract-bench -> repository root -> its sibling `shared`.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

fn main() {
    let shared = shared_dir();
    if std::env::args().nth(1).as_deref() == Some("metadata") {
        metadata::main(&shared);
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("witness") {
        witness::main(&shared);
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("witness-show") {
        match &std::env::args().skip(2).collect::<Vec<_>>()[..] {
            [page, text] => witness::show(page, text),
            _ => eprintln!("usage: extract-bench witness-show PAGE TEXT_FILE"),
        }
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("show") {
        // `show FILE...`: newswire's body of each page (gzip or not), for looking at a miss.
        for f in std::env::args().skip(2) {
            match read_page(&f) {
                Ok(b) => println!("== {f}\n{}\n", Extractor::Newswire.run(&decode_page(&b))),
                Err(e) => println!("== {f}: {e}"),
            }
        }
        return;
    }
    let scorer = shared.join("tools/score_extraction.py");
    let traf = shared.join("corpus/trafilatura-eval");
    let read = shared.join("corpus/readability-test-pages");
    if !scorer.is_file() || !traf.is_dir() || !read.is_dir() {
        println!(
            "extract-bench: skipped: no shared corpus at {} (set NEWSWIRE_SHARED)",
            shared.display()
        );
        return;
    }
    let (Some(traf_files), Some(read_files)) = (
        list_files(&scorer, "trafilatura-eval", &traf),
        list_files(&scorer, "readability", &read),
    ) else {
        println!("extract-bench: skipped: python3 or the scorer did not list the corpus files");
        return;
    };
    // dragnet is optional (older shared folders lack it): its column then reads n/a.
    let drag = shared.join("corpus/dragnet");
    let drag_files = list_files(&scorer, "dragnet", &drag).unwrap_or_default();
    let only: Option<String> = std::env::args().nth(1);
    let tmp = std::env::temp_dir().join(format!("extract-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");

    struct Row {
        x: Extractor,
        traf: Option<Score>,
        read: Option<Score>,
        drag: Option<Score>,
        t: Timing,
    }
    let xs: Vec<Extractor> = Extractor::ALL
        .into_iter()
        .filter(|x| only.as_deref().is_none_or(|o| o == x.slug()))
        .collect();
    let out = |corpus: &'static str| {
        let tmp = tmp.clone();
        move |x: Extractor| tmp.join(format!("{}-{corpus}.ndjson", x.slug()))
    };
    eprintln!(
        "extract-bench: trafilatura-eval, {} extractors in turn ...",
        xs.len()
    );
    let timings = run_corpus(&xs, &traf_files, out("traf")).expect("trafilatura-eval run");
    eprintln!("extract-bench: readability-test-pages ...");
    run_corpus(&xs, &read_files, out("read")).expect("readability run");
    if !drag_files.is_empty() {
        eprintln!("extract-bench: dragnet ...");
        run_corpus(&xs, &drag_files, out("drag")).expect("dragnet run");
    }
    let rows: Vec<Row> = xs
        .iter()
        .zip(timings)
        .map(|(&x, t)| Row {
            x,
            traf: score(&scorer, "trafilatura-eval", &traf, &out("traf")(x)),
            read: score(&scorer, "readability", &read, &out("read")(x)),
            drag: (!drag_files.is_empty())
                .then(|| score(&scorer, "dragnet", &drag, &out("drag")(x)))
                .flatten(),
            t,
        })
        .collect();

    let base = rows.iter().find(|r| r.x == Extractor::Newswire).map(|r| {
        (
            r.traf.as_ref().map(|s| s.f1),
            r.t.pages as f64 / r.t.cpu_secs,
        )
    });
    println!();
    println!(
        "Speed: trafilatura-eval pages, read + decode + parse + extract, one thread; \"cpu\" counts this"
    );
    println!("thread's CPU time (immune to other load on the machine), \"wall\" the elapsed time.");
    println!();
    println!(
        "{:<21} | {:>25} | {:>21} | {:>21} | {:>13} | {:>13} | {:>18} | {:>12} | {:>11}",
        "extractor",
        "trafilatura-eval F1 (P/R)",
        "readability F1 (P/R)",
        "dragnet F1 (P/R)",
        "pages/s cpu",
        "pages/s wall",
        "slowest ms cpu/wall",
        "F1 vs nw",
        "speed vs nw"
    );
    println!("{}", "-".repeat(176));
    let fmt = |s: &Option<Score>| match s {
        Some(s) => format!("{:.3} ({:.3}/{:.3})", s.f1, s.p, s.r),
        None => "n/a".to_owned(),
    };
    for r in &rows {
        let pps = r.t.pages as f64 / r.t.cpu_secs;
        let wall = r.t.pages as f64 / r.t.secs;
        let (f1_ratio, speed_ratio) = match (base, &r.traf) {
            (Some((Some(bf), bp)), Some(s)) => {
                (format!("{:.3}x", s.f1 / bf), format!("{:.2}x", pps / bp))
            }
            _ => ("n/a".into(), "n/a".into()),
        };
        println!(
            "{:<21} | {:>25} | {:>21} | {:>21} | {:>13.1} | {:>13.1} | {:>18} | {:>12} | {:>11}",
            r.x.name(),
            fmt(&r.traf),
            fmt(&r.read),
            fmt(&r.drag),
            pps,
            wall,
            format!("{:.1} / {:.1}", r.t.slowest_cpu_ms, r.t.slowest_ms),
            f1_ratio,
            speed_ratio
        );
    }
    println!();
    for r in &rows {
        println!("slowest page (cpu) for {}: {}", r.x.name(), r.t.slowest);
    }
    println!("NDJSON results kept in {}", tmp.display());
}
