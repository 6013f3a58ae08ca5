//! Record → replay round trip with the real binary: `newswire run --record DIR` against a
//! loopback site (a feed, an article behind a redirect, an article revised while running, a
//! missing page) writes WARC files; `newswire replay` of them gives the same events, field for
//! field, as the live run printed.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Canned, Site};
use serde_json::Value;

const PARAS: [&str; 3] = [
    "The harbour authority confirmed on Monday that the old grain pier will be rebuilt over the next two summers, with work starting as soon as the fishing season closes in October.",
    "Engineers found that the timber piles under the northern half had rotted far beyond what the last survey suggested, and the pier has been closed to vehicles since the spring.",
    "The authority's chair, Odile Brandt, said the rebuilt pier would keep its historic crane and add a public walkway along the seaward edge, paid for by the regional development fund.",
];

fn events(text: &str) -> Vec<Value> {
    let mut v: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event a line"))
        .collect();
    v.sort_by_key(|e| {
        (
            e["data"]["article_id"].as_str().unwrap_or("").to_string(),
            e["data"]["revision"].as_u64(),
        )
    });
    v
}

#[tokio::test]
async fn a_recorded_run_replays_to_the_same_events() {
    let site = Site::start().await;
    let (a, b) = (site.url("/news/pier-rebuilt"), site.url("/go/ferry"));
    site.set(
        "/feed.xml",
        Canned::ok(
            "application/rss+xml",
            common::rss(&[
                ("p-1", &a, "Pier to be rebuilt"),
                ("p-2", &b, "Ferry timetable"),
                ("p-3", &site.url("/news/missing"), "Missing"),
            ]),
        )
        .with_header("ETag", "\"feed-1\""),
    );
    site.set(
        "/news/pier-rebuilt",
        Canned::ok(
            "text/html; charset=utf-8",
            common::article("Pier to be rebuilt", &PARAS, ""),
        ),
    );
    site.set(
        "/go/ferry",
        Canned {
            status: 301,
            headers: vec![("Location".into(), "/news/ferry-timetable".into())],
            body: vec![],
        },
    );
    let ferry = [
        "The ferry company published its winter timetable on Tuesday, cutting the last crossing of the evening by half an hour from the first of November onwards.",
        PARAS[1],
        PARAS[2],
    ];
    site.set(
        "/news/ferry-timetable",
        Canned::ok(
            "text/html; charset=utf-8",
            common::article("Ferry timetable", &ferry, ""),
        ),
    );

    let dir = common::tempdir("record");
    let capture = dir.join("capture");
    let config = dir.join("newswire.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[state]
path = "{state}"
[feeds]
urls = ["{feed}"]
[poll]
interval = "200ms"
min_interval = "10ms"
[politeness]
spacing = "0s"
[scrape]
recheck = [["1h", "300ms"]]
[fetch]
allow = ["127.0.0.1/32"]
[publish]
sink = "stdout"
[shutdown]
drain = "5s"
flush = "5s"
"#,
            state = dir.join("state.sqlite3").display(),
            feed = site.url("/feed.xml"),
        ),
    )
    .unwrap();
    let out_path = dir.join("live.jsonl");
    let log_path = dir.join("live.log");
    let mut child = Command::new(common::bin())
        .args(["run", "--config"])
        .arg(&config)
        .arg("--record")
        .arg(&capture)
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let live_text = || std::fs::read_to_string(&out_path).unwrap_or_default();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        common::wait_for(Duration::from_secs(30), || live_text().lines().count() >= 2).await,
        "no live events:\n{}",
        log()
    );

    // The pier story is revised while newswire runs; the re-check picks it up.
    let mut v2 = PARAS.to_vec();
    v2[2] = "The authority's chair, Odile Brandt, said on Wednesday that the walkway would open a year before the rest of the pier.";
    site.set(
        "/news/pier-rebuilt",
        Canned::ok(
            "text/html; charset=utf-8",
            common::article("Pier to be rebuilt", &v2, ""),
        ),
    );
    assert!(
        common::wait_for(Duration::from_secs(30), || live_text().lines().count() >= 3).await,
        "no revision:\n{}",
        log()
    );
    // A few more 304 polls and unchanged re-checks land in the capture too.
    let hits = site.hits("/feed.xml");
    assert!(
        common::wait_for(Duration::from_secs(10), || site.hits("/feed.xml")
            >= hits + 2)
        .await
    );

    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no exit after SIGTERM:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{}", log());
    let live = events(&live_text());
    assert_eq!(live.len(), 3, "{live:#?}");

    let mut files: Vec<_> = std::fs::read_dir(&capture)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        !files.is_empty()
            && files
                .iter()
                .all(|f| f.to_string_lossy().ends_with(".warc.gz")),
        "{files:?}"
    );
    let replayed = common::run_ok(
        Command::new(common::bin())
            .arg("replay")
            .args(&files)
            .stderr(Stdio::piped()),
    );
    let replay = events(&String::from_utf8(replayed.stdout).unwrap());

    // Identical, field for field: ids, types, data, even the times (taken from WARC-Date,
    // which is the live fetch time).
    assert_eq!(replay, live, "replay differs from the live run");
    let urls: Vec<&str> = live
        .iter()
        .map(|e| e["data"]["url"].as_str().unwrap())
        .collect();
    assert!(
        urls.contains(&site.url("/news/ferry-timetable").as_str()),
        "the redirect was followed: {urls:?}"
    );
}

/// `newswire record` without `--dir` writes where `record.dir` says, not to ./newswire-capture.
#[tokio::test]
async fn record_writes_to_the_record_dir_setting() {
    let site = Site::start().await;
    site.set(
        "/feed.xml",
        Canned::ok(
            "application/rss+xml",
            common::rss(&[("r-1", &site.url("/news/missing"), "Missing")]),
        ),
    );
    let dir = common::tempdir("record-dir");
    let wanted = dir.join("from-settings");
    let log_path = dir.join("record.log");
    let mut child = Command::new(common::bin())
        .arg("record")
        .current_dir(&dir)
        .env("NEWSWIRE__RECORD__DIR", &wanted)
        .env("NEWSWIRE__STATE__PATH", dir.join("state.sqlite3"))
        .env(
            "NEWSWIRE__FEEDS__URLS",
            format!("[\"{}\"]", site.url("/feed.xml")),
        )
        .env("NEWSWIRE__FETCH__ALLOW", "[\"127.0.0.1/32\"]")
        .env("NEWSWIRE__PUBLISH__SINK", "stdout")
        .env("NEWSWIRE__POLL__INTERVAL", "200ms")
        .env("NEWSWIRE__POLL__MIN_INTERVAL", "10ms")
        .env("NEWSWIRE__SHUTDOWN__DRAIN", "2s")
        .env("NEWSWIRE__SHUTDOWN__FLUSH", "2s")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let recorded = || {
        std::fs::read_dir(&wanted)
            .map(|d| d.flatten().any(|e| e.metadata().is_ok_and(|m| m.len() > 0)))
            .unwrap_or(false)
    };
    let wrote = common::wait_for(Duration::from_secs(30), || {
        recorded() && site.hits("/feed.xml") >= 1
    })
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(
        wrote,
        "nothing recorded in {}:\n{}",
        wanted.display(),
        log()
    );
    assert!(status.success(), "{}", log());
    assert!(!dir.join("newswire-capture").exists());
}
