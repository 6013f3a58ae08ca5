//! Replay throughput: builds a capture of one feed listing N real article pages (the
//! trafilatura-eval corpus in `../shared`, never copied into the project), replays it through the
//! whole pipeline (WARC reading, feed parsing, extraction, stamps, tracking, SQLite outbox, stdout
//! sink into memory) and prints articles per second, against extraction alone of the same pages
//! on one core (what `newswire extract` does per page: read the file, decode, parse, extract the
//! body, metadata and stamps, write the JSON line), measured in the same run, the two taking
//! turns. The goal is a ratio of at least 1.4 on a 2-core machine: extraction really runs on
//! every core while the store, tracking and the sink keep up.
//!
//! `cargo run --release --example replay_bench [CORPUS_DIR] [N]`
//! (default `../shared/corpus/trafilatura-eval`, all pages). Skips with a message when the corpus
//! is absent.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use newswire::config::Settings;
use newswire::publish::Sink;
use newswire::replay;
use newswire::warc::Writer;

/// A `Write` that keeps what it was given, so the sink costs what a pipe would.
#[derive(Clone, Default)]
struct Memory(Arc<Mutex<Vec<u8>>>);

impl Write for Memory {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let corpus = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "../shared/corpus/trafilatura-eval".into()),
    );
    let limit: usize = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(usize::MAX);
    let mut pages: Vec<PathBuf> = ["cache", "eval"]
        .iter()
        .filter_map(|d| std::fs::read_dir(corpus.join(d)).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "html"))
        .collect();
    if pages.is_empty() {
        println!(
            "replay_bench: no pages under {} (is ../shared present?); skipped",
            corpus.display()
        );
        return Ok(());
    }
    pages.sort();
    pages.truncate(limit);

    let dir = std::env::temp_dir().join(format!("newswire-replay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let capture = dir.join("bench.warc.gz");
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut w = Writer::new(
        std::io::BufWriter::new(std::fs::File::create(&capture)?),
        true,
    );
    let mut feed =
        String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>bench</title>");
    for i in 0..pages.len() {
        feed.push_str(&format!(
            "<item><title>p{i}</title><link>http://bench.test/a/{i}</link><guid>g{i}</guid></item>"
        ));
    }
    feed.push_str("</channel></rss>");
    let html = |ct: &str| vec![("Content-Type".to_string(), ct.to_string())];
    w.write_response(
        "http://bench.test/feed.xml",
        t0,
        200,
        "OK",
        &html("application/rss+xml"),
        feed.as_bytes(),
    )?;
    let mut bytes = 0;
    for (i, p) in pages.iter().enumerate() {
        let body = std::fs::read(p)?;
        bytes += body.len();
        let at = t0 + Duration::seconds(1 + i as i64);
        w.write_response(
            &format!("http://bench.test/a/{i}"),
            at,
            200,
            "OK",
            &html("text/html"),
            &body,
        )?;
    }
    w.finish()?.flush()?;

    let urls: Vec<url::Url> = (0..pages.len())
        .map(|i| url::Url::parse(&format!("http://bench.test/a/{i}")).unwrap())
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{} pages ({:.1} MB of HTML), {cores} cores; extraction alone and the replay take turns",
        pages.len(),
        bytes as f64 / 1e6
    );
    // Rounds alternate the two, so a shared machine's drifting speed hits both alike.
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        // Extraction alone, one page after another on this thread, as `newswire extract` does.
        let start = Instant::now();
        let mut lines = std::io::sink();
        for (path, url) in pages.iter().zip(&urls) {
            let html = newswire::charset::decode(&std::fs::read(path)?, None);
            let page = newswire::scrape::extract_page(&html, url, None);
            serde_json::to_writer(&mut lines, &page)?;
        }
        let extract_secs = start.elapsed().as_secs_f64();

        let settings = Settings::load_with_env(None, std::iter::empty())?;
        let out = Memory::default();
        let cpu0 = cpu_seconds();
        let start = Instant::now();
        // As `newswire replay` runs it.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let summary = runtime.block_on(replay::replay(
            settings,
            std::slice::from_ref(&capture),
            None,
            None,
            Sink::Stdout(Box::new(out.clone())),
        ))?;
        let secs = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        drop(runtime);
        let extract_rate = pages.len() as f64 / extract_secs;
        let replay_rate = pages.len() as f64 / secs;
        let ratio = replay_rate / extract_rate;
        ratios.push(ratio);
        println!(
            "  round {round}: extraction alone {extract_rate:.0} pages/s ({extract_secs:.2} s); replay {replay_rate:.0} articles/s ({secs:.2} s, {cpu:.2} CPU s, {} events, WARC reading included); ratio {ratio:.2}",
            summary.events
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "  ratio (median of {rounds})  {:.2}x (goal 1.4x on 2 cores)",
        ratios[ratios.len() / 2]
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// utime + stime of this process, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}
