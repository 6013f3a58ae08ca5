//! What the `diff` of article.revised costs: replays every test capture
//! (tests/fixtures/captures) in process, and for each revised event prints the time to compute
//! its diff from the previous revision (the median of many runs), the event's size without and
//! with the diff, and the article state's size without and with the kept body. A synthetic long
//! article (300 paragraphs, 20 numbers changed, 5 paragraphs added) shows the cap at work.
//!
//! `cargo run --release --example diff_cost`

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use newswire::config::Settings;
use newswire::publish::Sink;
use newswire::track::{self, Decision, Snapshot};
use serde_json::Value;

/// The stdout sink's bytes, kept.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn snapshot(d: &Value) -> Snapshot {
    serde_json::from_value(serde_json::json!({
        "title": d["title"], "content_hash": d["content_hash"], "authors": d["authors"],
        "published_at": d["published_at"], "updated_at": d["updated_at"],
        "revision_notes": d["revision_notes"],
    }))
    .expect("event data gives a snapshot")
}

/// Median microseconds of computing one diff.
fn time_diff(prev: &Snapshot, prev_body: &str, next: &Snapshot, next_body: &str) -> f64 {
    let mut runs: Vec<f64> = (0..201)
        .map(|_| {
            let t = Instant::now();
            let d = track::diff_revisions(prev, Some(prev_body), next, next_body);
            std::hint::black_box(serde_json::to_string(&d).unwrap());
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

/// State JSON size of a new article with this body: (without the kept body, with it).
fn state_sizes(snap: &Snapshot, body: &str) -> (usize, usize) {
    let Decision::New(mut s) = track::observe(None, snap.clone(), body, "t") else {
        unreachable!()
    };
    let with = serde_json::to_string(&s).unwrap().len();
    s.body_text = None;
    s.log.clear();
    (serde_json::to_string(&s).unwrap().len(), with)
}

fn row(name: &str, us: f64, without: usize, with: usize, state: (usize, usize), truncated: bool) {
    println!(
        "{name:<34} {us:>9.1} {without:>9} {with:>9} {:>+7.1}% {:>8} {:>8}{}",
        (with as f64 / without as f64 - 1.0) * 100.0,
        state.0,
        state.1,
        if truncated { "  (truncated)" } else { "" }
    );
}

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captures");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    dirs.retain(|d| d.join("capture.warc.gz").exists());
    dirs.sort();
    let rt = tokio::runtime::Runtime::new()?;
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8}",
        "revised event", "diff µs", "bytes", "+diff", "growth", "state", "+body"
    );
    let (mut total_us, mut n) = (0.0, 0);
    for dir in dirs {
        let buf = Buf::default();
        let settings = Settings::load(None)?;
        let capture = dir.join("capture.warc.gz");
        rt.block_on(newswire::replay::replay(
            settings,
            &[capture],
            None,
            None,
            Sink::Stdout(Box::new(buf.clone())),
        ))?;
        let text = String::from_utf8(buf.0.lock().unwrap().clone())?;
        let events: Vec<Value> = text
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        let scenario = dir.file_name().unwrap().to_string_lossy().into_owned();
        for (i, e) in events.iter().enumerate() {
            let d = &e["data"];
            if d.get("diff").is_none() {
                continue;
            }
            let Some(prev) = events[..i]
                .iter()
                .rev()
                .find(|p| p["data"]["article_id"] == d["article_id"])
            else {
                continue;
            };
            let (ps, ns) = (snapshot(&prev["data"]), snapshot(d));
            let (pb, nb) = (
                prev["data"]["body_text"].as_str().unwrap(),
                d["body_text"].as_str().unwrap(),
            );
            let us = time_diff(&ps, pb, &ns, nb);
            let mut without = e.clone();
            without["data"].as_object_mut().unwrap().remove("diff");
            let name = format!("{scenario} r{}", d["revision"]);
            row(
                &name,
                us,
                without.to_string().len(),
                e.to_string().len(),
                state_sizes(&ns, nb),
                d["diff"]["truncated"] == true,
            );
            total_us += us;
            n += 1;
        }
    }
    if n > 0 {
        println!(
            "fixtures: {n} revised events, mean diff time {:.1} µs",
            total_us / n as f64
        );
    }

    // A long article: 300 paragraphs; 20 numbers changed and 5 paragraphs added.
    let para = |i: usize, n: usize| {
        format!(
            "Paragraph {i} reports that {n} boats waited at the pier while the council debated the dredging contract for the channel, and residents said the delay had cost the fleet several days of work this season."
        )
    };
    let before: Vec<String> = (0..300).map(|i| para(i, 10)).collect();
    let mut after = before.clone();
    for i in (0..300).step_by(15) {
        after[i] = para(i, 12);
    }
    for k in 0..5 {
        after.insert(
            50 * k + 7,
            format!("An added paragraph number {k} with new reporting."),
        );
    }
    let (b, a) = (before.join("\n\n"), after.join("\n\n"));
    let (ps, ns) = (
        Snapshot {
            title: "T".into(),
            content_hash: track::content_hash(&b),
            authors: vec![],
            published_at: None,
            updated_at: None,
            revision_notes: vec![],
        },
        Snapshot {
            title: "T".into(),
            content_hash: track::content_hash(&a),
            authors: vec![],
            published_at: None,
            updated_at: None,
            revision_notes: vec![],
        },
    );
    let d = track::diff_revisions(&ps, Some(&b), &ns, &a);
    let us = time_diff(&ps, &b, &ns, &a);
    let diff_bytes = serde_json::to_string(&d)?.len();
    let body = d.body.as_ref().unwrap();
    println!(
        "synthetic 300 paragraphs ({} bytes): diff {us:.1} µs, diff {diff_bytes} bytes, {} changed {} added, {} edits kept, truncated {}",
        a.len(),
        body.changed,
        body.added,
        body.edits.len(),
        d.truncated
    );
    Ok(())
}
