//! The operator's side of the real binary: the HTTP listener of `newswire run` (`/metrics`
//! counters move after a poll of a loopback feed, `/healthz`, `/readyz`), `check-config`
//! masking secrets, the OPML `feeds import/list/export` round trip, and `tail` showing what a
//! replay publishes to the real RabbitMQ.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Canned, Site};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A child process killed when dropped, so a failing test leaves nothing running.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` → (status, body).
async fn get(addr: &str, path: &str) -> (u16, String) {
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    sock.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut text = String::new();
    sock.read_to_string(&mut text).await.unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The value of one series in a metrics page (0 when absent).
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map_or(0.0, |v| v.parse().unwrap())
}

const PARAS: [&str; 3] = [
    "The harbour authority said on Thursday that the north breakwater will be closed to walkers for six weeks while engineers replace the storm-damaged railings along its full length.",
    "Contractors will work from a barge moored inside the harbour, and the lighthouse at the end of the breakwater stays lit throughout the repairs, the authority said.",
    "Anglers who hold a season permit can use the south pier instead, where extra benches and a temporary bait stall will be set up from next week.",
];

#[tokio::test]
async fn run_serves_metrics_health_and_readiness_and_counters_move_after_a_poll() {
    let conn = common::broker().await;
    let (exchange, queue) = (common::unique("ops-x"), common::unique("ops-q"));
    let site = Site::start().await;
    let story = site.url("/news/breakwater");
    site.set(
        "/feed.xml",
        Canned::ok(
            "application/rss+xml",
            common::rss(&[("bw-1", &story, "Breakwater closed for repairs")]),
        ),
    );
    site.set(
        "/news/breakwater",
        Canned::ok(
            "text/html; charset=utf-8",
            common::article("Breakwater closed for repairs", &PARAS, ""),
        ),
    );
    let dir = common::tempdir("ops-run");
    let log = dir.join("stderr.log");
    let child = Command::new(common::bin())
        .arg("run")
        .env("NEWSWIRE__SERVER__LISTEN", "127.0.0.1:0")
        .env("NEWSWIRE__AMQP__URL", common::BROKER)
        .env("NEWSWIRE__AMQP__EXCHANGE", &exchange)
        .env("NEWSWIRE__AMQP__QUEUE", &queue)
        .env("NEWSWIRE__STATE__PATH", dir.join("state.sqlite3"))
        .env(
            "NEWSWIRE__FEEDS__URLS",
            format!("[\"{}\"]", site.url("/feed.xml")),
        )
        .env("NEWSWIRE__FETCH__ALLOW", "[\"127.0.0.1/32\"]")
        .env("NEWSWIRE__POLL__INTERVAL", "300ms")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut daemon = Proc(child);
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();

    // The listener was asked for port 0: the log says which port it got.
    let mut addr = None;
    assert!(
        common::wait_for(Duration::from_secs(20), || {
            addr = read_log()
                .lines()
                .find(|l| l.contains("serving /metrics"))
                .and_then(|l| l.split("addr=").nth(1))
                .map(|a| a.split_whitespace().next().unwrap().to_owned());
            addr.is_some()
        })
        .await,
        "no listener address logged:\n{}",
        read_log()
    );
    let addr = addr.unwrap();
    assert_eq!(get(&addr, "/healthz").await, (200, "ok\n".into()));
    let (status, body) = get(&addr, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(&addr, "/nope").await.0, 404);

    let (status, metrics) = get(&addr, "/metrics").await;
    assert_eq!(status, 200);
    // Series names as Prometheus stores them (OpenMetrics names a counter's family without
    // `_total`; its samples carry it).
    for series in [
        "newswire_feed_polls_total",
        "newswire_http_responses_total",
        "newswire_fetched_bytes_total",
        "newswire_fetch_duration_seconds_bucket",
        "newswire_extraction_duration_seconds_count",
        "newswire_articles_detected_total",
        "newswire_revisions_detected_total",
        "newswire_events_published_total",
        "newswire_outbox_depth",
        "newswire_outbox_oldest_age_seconds",
        "newswire_broker_connected",
        "newswire_broker_blocked_seconds_total",
        "newswire_errors_total",
    ] {
        assert!(
            metrics.lines().any(|l| l
                .strip_prefix(series)
                .is_some_and(|r| r.starts_with([' ', '{']))),
            "{series} missing:\n{metrics}"
        );
    }

    // After a poll of the loopback feed the counters have moved.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut metrics = String::new();
    while Instant::now() < deadline {
        metrics = get(&addr, "/metrics").await.1;
        if sample(&metrics, "newswire_events_published_total") >= 1.0
            && sample(&metrics, "newswire_feed_polls_total{outcome=\"entries\"}") >= 2.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        sample(&metrics, "newswire_events_published_total"),
        1.0,
        "{metrics}\n{}",
        read_log()
    );
    assert!(
        sample(&metrics, "newswire_feed_polls_total{outcome=\"entries\"}") >= 2.0,
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "newswire_articles_detected_total"),
        1.0,
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "newswire_http_responses_total{kind=\"feed\",class=\"2xx\"}"
        ) >= 2.0,
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "newswire_http_responses_total{kind=\"page\",class=\"2xx\"}"
        ),
        1.0,
        "{metrics}"
    );
    assert!(
        sample(&metrics, "newswire_fetched_bytes_total{kind=\"page\"}") > 500.0,
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "newswire_extraction_duration_seconds_count"),
        1.0,
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "newswire_fetch_duration_seconds_count{kind=\"feed\"}"
        ) >= 2.0,
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "newswire_broker_connected"),
        1.0,
        "{metrics}"
    );
    assert_eq!(sample(&metrics, "newswire_feeds"), 1.0, "{metrics}");
    assert_eq!(
        common::take(&conn, &queue, 1, Duration::from_secs(10))
            .await
            .len(),
        1
    );

    let pid = daemon.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = daemon.0.wait().unwrap();
    assert!(status.success(), "exit {status:?}:\n{}", read_log());
    common::cleanup(&conn, &exchange, &queue).await;
}

#[test]
fn check_config_prints_effective_settings_with_secrets_masked() {
    let out = Command::new(common::bin())
        .arg("check-config")
        .env(
            "NEWSWIRE__AMQP__URL",
            "amqps://newswire:Tr0ub4dor@broker.internal:5671/prod",
        )
        .env("NEWSWIRE__POLL__INTERVAL", "90s")
        .env_remove("NEWSWIRE_CONFIG")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stdout.contains("Tr0ub4dor") && !stderr.contains("Tr0ub4dor"),
        "password shown:\n{stdout}{stderr}"
    );
    assert!(
        stdout.contains("url = \"amqps://newswire:***@broker.internal:5671/prod\""),
        "{stdout}"
    );
    assert!(stdout.contains("interval = \"90s\""), "{stdout}");
    let table: toml::Table = stdout.parse().expect("the output is TOML");
    assert_eq!(table["publish"]["outbox_limit"].as_integer(), Some(100000));

    let bad = Command::new(common::bin())
        .arg("check-config")
        .env("NEWSWIRE__POLL__JITTER", "3")
        .env("NEWSWIRE__AMQP__URL", "amqp://u:Tr0ub4dor@h/")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("poll.jitter") && !stderr.contains("Tr0ub4dor"),
        "{stderr}"
    );
}

fn newswire(args: &[&str], state: &std::path::Path, feeds: &str) -> std::process::Output {
    Command::new(common::bin())
        .args(args)
        .env("NEWSWIRE__STATE__PATH", state)
        .env("NEWSWIRE__FEEDS__URLS", feeds)
        .env_remove("NEWSWIRE_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn opml_import_list_export_round_trip() {
    let dir = common::tempdir("ops-opml");
    let opml = dir.join("subscriptions.opml");
    std::fs::write(
        &opml,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>Reader export</title></head><body>
  <outline text="World">
    <outline type="rss" text="Harbour &amp; Quay" xmlUrl="http://harbor.test/feed.xml?section=world&amp;fmt=rss"/>
    <outline type="rss" text="Ledger" xmlUrl="https://ledger.test/rss"/>
  </outline>
  <outline type="rss" text="Configured already" xmlUrl="http://configured.test/feed"/>
</body></opml>"#,
    )
    .unwrap();
    let state = dir.join("state.sqlite3");
    let configured = "[\"http://configured.test/feed\"]";
    let out = newswire(
        &["feeds", "import", opml.to_str().unwrap()],
        &state,
        configured,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("2 feeds imported") && stderr.contains("1 already present"),
        "{stderr}"
    );
    // Importing again adds nothing.
    let again = newswire(
        &["feeds", "import", opml.to_str().unwrap()],
        &state,
        configured,
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("0 feeds imported"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let list = String::from_utf8(newswire(&["feeds", "list"], &state, configured).stdout).unwrap();
    assert_eq!(
        list.lines().collect::<Vec<_>>(),
        [
            "http://configured.test/feed\tsettings\t",
            "http://harbor.test/feed.xml?section=world&fmt=rss\tstore\tHarbour & Quay",
            "https://ledger.test/rss\tstore\tLedger",
        ]
    );

    let export = newswire(&["feeds", "export"], &state, configured);
    assert!(export.status.success());
    let exported = String::from_utf8(export.stdout).unwrap();
    let outlines = newswire::opml::parse(&exported).unwrap();
    assert_eq!(outlines.len(), 3, "{exported}");
    assert_eq!(
        outlines[1].url,
        "http://harbor.test/feed.xml?section=world&fmt=rss"
    );
    assert_eq!(outlines[1].title.as_deref(), Some("Harbour & Quay"));

    // The export imports into a fresh state store as the same list.
    let file = dir.join("exported.opml");
    std::fs::write(&file, &exported).unwrap();
    let fresh = dir.join("fresh.sqlite3");
    assert!(
        newswire(&["feeds", "import", file.to_str().unwrap()], &fresh, "[]")
            .status
            .success()
    );
    let relisted = String::from_utf8(newswire(&["feeds", "list"], &fresh, "[]").stdout).unwrap();
    let urls = |l: &str| {
        l.lines()
            .map(|x| x.split('\t').next().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(urls(&relisted), urls(&list));

    // An entry newswire cannot poll is named (credentials masked) and fails the import.
    std::fs::write(&opml, r#"<opml version="2.0"><body><outline xmlUrl="https://me:hunter2@private.test/rss"/><outline xmlUrl="ftp://x.test/f"/></body></opml>"#).unwrap();
    let bad = newswire(
        &["feeds", "import", opml.to_str().unwrap()],
        &state,
        configured,
    );
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        stderr.contains("credentials") && stderr.contains("scheme") && !stderr.contains("hunter2"),
        "{stderr}"
    );
}

#[tokio::test]
async fn tail_shows_what_a_replay_publishes() {
    let conn = common::broker().await;
    let exchange = common::unique("ops-tail");
    let mut tail = Proc(
        Command::new(common::bin())
            .args(["tail", "--count", "2", "--timeout", "60s"])
            .env("NEWSWIRE__AMQP__URL", common::BROKER)
            .env("NEWSWIRE__AMQP__EXCHANGE", &exchange)
            .env_remove("NEWSWIRE_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Publish only once the temporary queue is bound.
    let mut stderr = BufReader::new(tail.0.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("tailing exchange"), "{line}");

    common::run_ok(
        Command::new(common::bin())
            .arg("replay")
            .arg(common::fixture("captures/revision/capture.warc.gz"))
            .args(["--sink", "amqp"])
            .env("NEWSWIRE__AMQP__URL", common::BROKER)
            .env("NEWSWIRE__AMQP__EXCHANGE", &exchange)
            .env("NEWSWIRE__AMQP__QUEUE", "")
            .env_remove("NEWSWIRE_CONFIG"),
    );
    let out = tail.0.wait_with_output_ref();
    let text = String::from_utf8_lossy(&out);
    let heads: Vec<&str> = text.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(heads.len(), 2, "{text}");
    assert!(
        heads[0].contains(" published ") && heads[0].contains(" r1 "),
        "{text}"
    );
    assert!(
        heads[1].contains(" revised ") && heads[1].contains(" r2 "),
        "{text}"
    );
    assert!(
        text.contains("changed: ") && text.contains("body"),
        "{text}"
    );
    let ch = conn.create_channel().await.unwrap();
    let _ = ch
        .exchange_delete(exchange.as_str().into(), Default::default())
        .await;
}

trait WaitOutput {
    /// Waits for the child to exit successfully within a minute; returns its stdout.
    fn wait_with_output_ref(&mut self) -> Vec<u8>;
}

impl WaitOutput for Child {
    fn wait_with_output_ref(&mut self) -> Vec<u8> {
        use std::io::Read;
        let mut stdout = self.stdout.take().unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.try_wait().unwrap() {
                break s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "tail did not exit"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).unwrap();
        assert!(
            status.success(),
            "tail exit {status:?}: {}",
            String::from_utf8_lossy(&out)
        );
        out
    }
}
