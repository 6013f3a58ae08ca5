//! The real `newswire run` against a hostile web (`server.rs`: every behaviour its own feed or
//! page) beside a healthy control feed, for at least 90 seconds: the daemon stays up, stays under
//! its memory ceiling, publishes every control article to the real RabbitMQ, never touches a
//! disallowed address, ends every fetch within its deadline, logs each failure with its kind, and
//! exits cleanly on SIGTERM.
//!
//! This is the suite's one long test. `HOSTILE_SECS` shortens or lengthens the run.

#[path = "../common/mod.rs"]
mod common;
mod server;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use server::{As, BEHAVIOURS, Hostile};

/// The whole daemon stays under this resident size while everything is polled at once.
const MEMORY_CEILING_KB: u64 = 300 * 1024;
/// `fetch.timeout` in the test's configuration.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The `kind` each feed behaviour's failure is logged with (page behaviours are listed by the
/// kind of their page failure, when they fail).
const EXPECTED_KINDS: &[(&str, &str)] = &[
    ("/f/gzip-bomb", "too_large"),
    ("/f/deflate-bomb", "too_large"),
    ("/f/brotli-bomb", "too_large"),
    ("/p/gzip-bomb", "too_large"),
    ("/p/deflate-bomb", "too_large"),
    ("/p/brotli-bomb", "too_large"),
    ("/f/endless", "too_large"),
    ("/f/gigabyte", "too_large"),
    ("/p/endless", "too_large"),
    ("/p/gigabyte-chunked", "too_large"),
    ("/p/twenty-mb", "too_large"),
    ("/f/length-short", "not_a_feed"),
    ("/f/length-long-close", "network"),
    ("/f/length-long-hang", "timeout"),
    ("/f/length-two", "network"),
    ("/f/many-headers", "network"),
    ("/f/huge-header", "network"),
    ("/f/garbage-status", "network"),
    ("/f/binary-response", "network"),
    ("/f/absurd-chunk", "network"),
    ("/f/chunk-garbage", "network"),
    ("/f/close-at-once", "network"),
    ("/f/reset-mid-body", "network"),
    ("/f/slowloris-body", "timeout"),
    ("/f/endless-headers", "timeout"),
    ("/f/silent", "timeout"),
    ("/p/slowloris", "timeout"),
    ("/f/redirect-loop", "too_many_redirects"),
    ("/f/redirect-chain", "too_many_redirects"),
    ("/f/redirect-alias", "blocked"),
    ("/f/redirect-ipv6", "blocked"),
    ("/f/redirect-mapped", "blocked"),
    ("/f/redirect-decimal", "blocked"),
    ("/f/redirect-octal", "blocked"),
    ("/f/redirect-hex", "blocked"),
    ("/f/redirect-zero", "blocked"),
    ("/f/redirect-userinfo", "invalid_url"),
    ("/f/redirect-userinfo-trick", "invalid_url"),
    ("/f/redirect-backslash", "blocked"),
    ("/f/redirect-file", "scheme"),
    ("/f/redirect-gopher", "scheme"),
    ("/f/redirect-javascript", "scheme"),
    ("/f/redirect-data", "scheme"),
    ("/f/redirect-mailto", "scheme"),
    ("/f/redirect-empty", "redirect_without_location"),
    ("/p/redirect-alias", "blocked"),
    // /p/deep-html: nesting past 512 levels is flattened before parsing and the page extracts.
    ("/f/binary-junk", "not_a_feed"),
    ("/f/many-items", "too_many_entries"),
    ("/f/deep-xml", "not_a_feed"),
    ("/f/empty", "not_a_feed"),
    ("/f/html-as-feed", "not_a_feed"),
    ("/f/status-500", "http_status"),
    ("/f/status-503", "http_status"),
    ("/f/status-429", "http_status"),
];

fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix(field)?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_shrugs_off_a_hostile_web() {
    let run_for = Duration::from_secs(
        std::env::var("HOSTILE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(90),
    );
    let conn = common::broker().await;
    let (exchange, queue) = (common::unique("hostile-x"), common::unique("hostile-q"));
    let web = Hostile::start().await;
    for i in 1..=4 {
        web.add_control(&format!("c{i}"), &format!("Control story number {i}"));
    }
    let feeds = web.feed_urls();
    let dir = common::tempdir("hostile");
    let config = dir.join("newswire.toml");
    let feed_list: Vec<String> = feeds.iter().map(|u| format!("{u:?}")).collect();
    std::fs::write(
        &config,
        format!(
            r#"
[amqp]
url = "{broker}"
exchange = "{exchange}"
queue = "{queue}"
retry_min = "100ms"
retry_max = "1s"
[state]
path = "{state}"
[feeds]
urls = [{feeds}]
[poll]
interval = "3s"
min_interval = "1s"
concurrency = 128
[politeness]
per_site = 128
spacing = "0ms"
[scrape]
concurrency = 4
recheck = [["1h", "10s"]]
[fetch]
connect_timeout = "2s"
timeout = "{timeout}s"
allow = ["127.0.0.1/32", "127.0.0.4/32", "127.0.0.5/32", "127.0.0.6/32", "127.0.0.7/32"]
[shutdown]
drain = "10s"
flush = "5s"
"#,
            broker = common::BROKER,
            state = dir.join("state.sqlite3").display(),
            feeds = feed_list.join(", "),
            timeout = FETCH_TIMEOUT.as_secs(),
        ),
    )
    .unwrap();
    let log_path = dir.join("stderr.log");
    let mut child = Command::new(common::bin())
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let start = Instant::now();
    let mut published: Vec<serde_json::Value> = Vec::new();
    let mut peak_rss = 0;
    let mut added = 0;
    let mut last_report = 0;
    while start.elapsed() < run_for {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "newswire exited during the run ({status}):\n{}",
                tail(&log())
            );
        }
        let rss = proc_status_kb(pid, "VmRSS:").unwrap_or(0);
        if start.elapsed().as_secs() / 5 != last_report {
            last_report = start.elapsed().as_secs() / 5;
            eprintln!(
                "hostile: {:>5.1}s RSS {rss} kB",
                start.elapsed().as_secs_f64()
            );
        }
        peak_rss = peak_rss.max(rss);
        // New control stories keep arriving while the hostile feeds are polled.
        let due = (start.elapsed().as_secs() / 30) as usize;
        while added < due.min(2) {
            added += 1;
            for j in 1..=2 {
                web.add_control(
                    &format!("late{added}-{j}"),
                    &format!("Late control story {added}-{j}"),
                );
            }
        }
        for m in common::take(&conn, &queue, 1000, Duration::from_millis(300)).await {
            published.push(m.json());
        }
    }
    let hwm = proc_status_kb(pid, "VmHWM:").unwrap_or(0);
    eprintln!(
        "hostile: ran {:?}; peak RSS {} kB (sampled {} kB)",
        start.elapsed(),
        hwm,
        peak_rss
    );

    // Every control article is published (the late ones may still be on their way).
    let wanted = web.control_urls();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && !wanted
            .iter()
            .all(|u| published.iter().any(|e| e["url"] == *u))
    {
        for m in common::take(&conn, &queue, 1000, Duration::from_millis(300)).await {
            published.push(m.json());
        }
    }
    let log_text = log();
    for u in &wanted {
        assert!(
            published.iter().any(|e| e["url"] == *u),
            "control article {u} was not published:\n{}",
            tail(&log_text)
        );
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "newswire died:\n{}",
        tail(&log_text)
    );
    let hwm = hwm.max(proc_status_kb(pid, "VmHWM:").unwrap_or(0));

    // SIGTERM: a clean exit.
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let stopping = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(30),
            "no exit 30 s after SIGTERM:\n{}",
            tail(&log())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log_text = log();
    assert!(
        status.success(),
        "exit status {status:?}:\n{}",
        tail(&log_text)
    );
    assert!(log_text.contains("newswire stopped"), "{}", tail(&log_text));

    assert!(
        hwm < MEMORY_CEILING_KB,
        "peak RSS {hwm} kB over the {MEMORY_CEILING_KB} kB ceiling"
    );
    assert_eq!(web.trapped(), 0, "a disallowed address was contacted");
    let (longest, path) = web.stats.longest.lock().unwrap().clone();
    assert!(
        longest < FETCH_TIMEOUT + Duration::from_secs(3),
        "a connection to {path} stayed open {longest:?}, past the fetch deadline"
    );
    for line in log_text.lines() {
        assert!(!line.contains("panicked"), "a panic: {line}");
    }
    for event in &published {
        let text = event.to_string();
        assert!(
            !text.contains("root:x:0"),
            "a local file leaked into an event: {text:.300}"
        );
        let canonical = event["canonical_url"].as_str().unwrap_or_default();
        assert!(
            canonical.starts_with(&web.url("/")) || canonical.starts_with(&web.control_url("/")),
            "an event claims another site's identity: {canonical}"
        );
        assert!(
            !text.contains("lollollol"),
            "an entity was expanded into an event"
        );
    }

    if std::env::var("HOSTILE_ONLY").is_ok() {
        return;
    }
    // Each failure was logged once with its kind, naming the feed or page.
    let mut missing = Vec::new();
    for (path, kind) in EXPECTED_KINDS {
        let url = web.url(path);
        let found = log_text.lines().any(|l| {
            (l.contains(&format!("url={url} ")) || l.contains(&format!("url={url}:")))
                && l.contains(&format!("kind=\"{kind}\""))
        });
        if !found {
            missing.push(format!("{path} kind={kind}"));
        }
    }
    assert!(
        missing.is_empty(),
        "no log line for:\n{}\n\nlog tail:\n{}",
        missing.join("\n"),
        tail(&log_text)
    );
    // The server saw every behaviour.
    for b in BEHAVIOURS {
        let path = match b.kind {
            As::Feed => format!("/f/{}", b.name),
            As::Page => format!("/p/{}", b.name),
        };
        assert!(web.hits(&path) > 0, "{path} ({}) was never fetched", b.what);
    }
    eprintln!(
        "hostile: {} connections, {} events, longest connection {longest:?} ({path}), peak RSS {hwm} kB",
        web.stats
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        published.len()
    );
    common::cleanup(&conn, &exchange, &queue).await;
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}
