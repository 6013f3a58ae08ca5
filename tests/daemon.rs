//! The real `newswire run` binary against a loopback news site and the real RabbitMQ: it polls,
//! scrapes, tracks and publishes; a page that changes becomes a revised event on the re-check
//! schedule (scaled down to milliseconds here); a feed on a loopback alias that is not allowed is
//! never contacted; SIGTERM gives a clean exit 0.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Canned, Site};

struct Daemon {
    child: Child,
    log: std::path::PathBuf,
}

impl Daemon {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no exit 30 s after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

const PARAS_V1: [&str; 4] = [
    "The Loopback Ledger can report that the river ferry will run an extra evening service from next Monday, the operator said on Tuesday after months of complaints from commuters.",
    "The new sailing leaves the north pier at 19:40 and returns at 20:15, filling a gap that left late shift workers waiting for more than an hour in the cold.",
    "Operator spokesperson Ilse Varga said the extra trip would be reviewed after three months, depending on how many passengers use it during the winter timetable.",
    "Commuter groups welcomed the change but said weekend services still end too early for people working in the restaurants along the quay.",
];

#[tokio::test]
async fn run_publishes_live_revises_on_recheck_and_stops_cleanly_on_sigterm() {
    let conn = common::broker().await;
    let (exchange, queue) = (common::unique("x"), common::unique("q"));
    let site = Site::start().await;
    let story = site.url("/news/ferry-evening-service");
    site.set(
        "/feed.xml",
        Canned::ok(
            "application/rss+xml",
            common::rss(&[(
                "ledger-1",
                &format!("{story}?utm_source=rss"),
                "Ferry adds evening service",
            )]),
        )
        .with_header("ETag", "\"f1\""),
    );
    site.set(
        "/news/ferry-evening-service",
        Canned::ok(
            "text/html; charset=utf-8",
            common::article("Ferry adds evening service", &PARAS_V1, ""),
        ),
    );

    // A listener on a loopback alias that is not allowed: newswire must never connect to it.
    let trap = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let trap_url = format!("http://{}/feed.xml", trap.local_addr().unwrap());
    let trapped = Arc::new(AtomicUsize::new(0));
    let t = trapped.clone();
    tokio::spawn(async move {
        while trap.accept().await.is_ok() {
            t.fetch_add(1, Ordering::SeqCst);
        }
    });

    let dir = common::tempdir("daemon");
    let config = dir.join("newswire.toml");
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
urls = ["{feed}", "{trap_url}"]
[poll]
interval = "500ms"
[scrape]
recheck = [["1h", "300ms"]]
[fetch]
allow = ["127.0.0.1/32"]
[shutdown]
drain = "5s"
flush = "5s"
"#,
            broker = common::BROKER,
            state = dir.join("state.sqlite3").display(),
            feed = site.url("/feed.xml"),
        ),
    )
    .unwrap();
    let log = dir.join("stderr.log");
    let child = Command::new(common::bin())
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut daemon = Daemon { child, log };

    let first = common::take(&conn, &queue, 1, Duration::from_secs(30)).await;
    assert_eq!(
        first.len(),
        1,
        "no published event within 30 s:\n{}",
        daemon.log()
    );
    let d = first[0].json();
    common::assert_valid_data(&d);
    assert_eq!(
        first[0].properties.kind().as_ref().unwrap().as_str(),
        "newswire.article.published"
    );
    assert_eq!(d["url"], story);
    assert_eq!(d["feed_url"], site.url("/feed.xml"));
    assert!(
        d["body_text"]
            .as_str()
            .unwrap()
            .contains("extra evening service"),
        "{d}"
    );
    assert!(
        !d["body_text"].as_str().unwrap().contains("Other story one"),
        "related links are not body: {d}"
    );

    // The editors change the story; the re-check picks it up without any feed change.
    let mut v2 = PARAS_V1.to_vec();
    v2[2] = "Operator spokesperson Ilse Varga said on Wednesday that the extra trip would now run for at least a year.";
    site.set(
        "/news/ferry-evening-service",
        Canned::ok(
            "text/html; charset=utf-8",
            common::article("Ferry adds evening service", &v2, ""),
        ),
    );
    let second = common::take(&conn, &queue, 1, Duration::from_secs(30)).await;
    assert_eq!(
        second.len(),
        1,
        "no revised event within 30 s:\n{}",
        daemon.log()
    );
    let d2 = second[0].json();
    assert_eq!(
        second[0].properties.kind().as_ref().unwrap().as_str(),
        "newswire.article.revised"
    );
    assert_eq!(
        (d2["article_id"].clone(), d2["revision"].as_u64()),
        (d["article_id"].clone(), Some(2))
    );
    assert_eq!(d2["changes"], serde_json::json!(["body"]));
    common::assert_valid_data(&d2);
    // What changed is in the event: the third paragraph, rewritten, and nothing else.
    let body = &d2["diff"]["body"];
    let touched: Vec<u64> = body["edits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["after_index"]
                .as_u64()
                .or(e["before_index"].as_u64())
                .unwrap()
        })
        .collect();
    assert!(
        !touched.is_empty() && touched.iter().all(|&i| i == 2),
        "{body:#}"
    );
    assert_eq!(body["paragraphs_before"], body["paragraphs_after"]);

    // Conditional GET: the feed keeps being polled, answered 304 from its ETag.
    assert!(common::wait_for(Duration::from_secs(10), || site.hits("/feed.xml") >= 3).await);

    let status = daemon.terminate();
    let log = daemon.log();
    assert!(status.success(), "exit status {status:?}:\n{log}");
    assert!(log.contains("newswire stopped"), "{log}");
    assert!(
        log.contains("blocked") || log.contains("not allowed") || log.contains("127.0.0.2"),
        "the refused feed is logged:\n{log}"
    );
    assert_eq!(
        trapped.load(Ordering::SeqCst),
        0,
        "a non-allowed loopback alias was contacted"
    );
    // Nothing more was published: one article, two revisions.
    assert!(
        common::take(&conn, &queue, 1, Duration::from_millis(500))
            .await
            .is_empty()
    );
    common::cleanup(&conn, &exchange, &queue).await;
}

#[tokio::test]
async fn events_wait_in_the_outbox_while_the_broker_is_unreachable() {
    let site = Site::start().await;
    let story = site.url("/news/ferry-evening-service");
    site.set(
        "/feed.xml",
        Canned::ok(
            "application/rss+xml",
            common::rss(&[("ledger-1", &story, "Ferry adds evening service")]),
        ),
    );
    site.set(
        "/news/ferry-evening-service",
        Canned::ok(
            "text/html",
            common::article("Ferry adds evening service", &PARAS_V1, ""),
        ),
    );
    let dir = common::tempdir("daemon-outbox");
    let state = dir.join("state.sqlite3");
    let log = dir.join("stderr.log");
    let child = Command::new(common::bin())
        .arg("run")
        .env("NEWSWIRE__AMQP__URL", "amqp://guest:guest@127.0.0.1:1/%2f")
        .env("NEWSWIRE__AMQP__RETRY_MIN", "100ms")
        // First polls are spread over up to one interval: keep it short.
        .env("NEWSWIRE__POLL__INTERVAL", "1s")
        .env("NEWSWIRE__POLL__MIN_INTERVAL", "1s")
        .env("NEWSWIRE__STATE__PATH", &state)
        .env(
            "NEWSWIRE__FEEDS__URLS",
            format!("[\"{}\"]", site.url("/feed.xml")),
        )
        .env("NEWSWIRE__FETCH__ALLOW", "[\"127.0.0.1/32\"]")
        .env("NEWSWIRE__SHUTDOWN__FLUSH", "500ms")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut daemon = Daemon { child, log };
    // The publisher connects eagerly, so the warning may come before the article is scraped:
    // wait for both.
    let queued = || {
        newswire::store::Store::open(&state)
            .map(|s| s.outbox_len())
            .unwrap_or(0)
            == 1
    };
    let logged = common::wait_for(Duration::from_secs(30), || {
        daemon.log().contains("events stay in the outbox") && queued()
    })
    .await;
    assert!(
        logged,
        "no outbox warning or no event in the outbox:\n{}",
        daemon.log()
    );
    assert!(daemon.terminate().success(), "{}", daemon.log());
    // The event is still there, durably, for the next start.
    let store = newswire::store::Store::open(&state).unwrap();
    assert_eq!(store.outbox_len(), 1);
    assert_eq!(
        store.outbox_batch(0, 10).await.unwrap()[0].event.event_type,
        "newswire.article.published"
    );
}

#[tokio::test]
async fn polling_pauses_while_the_outbox_is_full() {
    // Back-pressure: with the broker unreachable the outbox fills; at publish.outbox_limit the
    // feeds are no longer polled (the events wait on disk, memory stays flat).
    let site = Site::start().await;
    let titles = [
        "Ferry adds evening service",
        "Harbour dredging starts in May",
        "Night market returns to the quay",
    ];
    let mut items = Vec::new();
    for (i, title) in titles.iter().enumerate() {
        let path = format!("/news/story-{i}");
        let mut paras = PARAS_V1.to_vec();
        let lead = format!(
            "{title}: the Loopback Ledger reports on story number {i} for the people who live and work along the river."
        );
        paras[0] = &lead;
        site.set(
            &path,
            Canned::ok("text/html", common::article(title, &paras, "")),
        );
        items.push((format!("ledger-{i}"), site.url(&path), title.to_string()));
    }
    let items: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|(g, l, t)| (g.as_str(), l.as_str(), t.as_str()))
        .collect();
    site.set(
        "/feed.xml",
        Canned::ok("application/rss+xml", common::rss(&items)),
    );
    let dir = common::tempdir("daemon-backpressure");
    let state = dir.join("state.sqlite3");
    let log = dir.join("stderr.log");
    let child = Command::new(common::bin())
        .arg("run")
        .env("NEWSWIRE__AMQP__URL", "amqp://guest:guest@127.0.0.1:1/%2f")
        .env("NEWSWIRE__STATE__PATH", &state)
        .env(
            "NEWSWIRE__FEEDS__URLS",
            format!("[\"{}\"]", site.url("/feed.xml")),
        )
        .env("NEWSWIRE__FETCH__ALLOW", "[\"127.0.0.1/32\"]")
        .env("NEWSWIRE__POLL__INTERVAL", "100ms")
        .env("NEWSWIRE__SCRAPE__RECHECK", "[]")
        .env("NEWSWIRE__PUBLISH__OUTBOX_LIMIT", "2")
        .env("NEWSWIRE__SHUTDOWN__FLUSH", "500ms")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut daemon = Daemon { child, log };
    let paused = common::wait_for(Duration::from_secs(30), || {
        daemon.log().contains("polling paused")
    })
    .await;
    assert!(paused, "polling never paused:\n{}", daemon.log());
    let polls = site.hits("/feed.xml");
    // Twenty poll intervals later, still no poll.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        site.hits("/feed.xml"),
        polls,
        "polled although the outbox is full:\n{}",
        daemon.log()
    );
    assert!(daemon.terminate().success(), "{}", daemon.log());
    assert_eq!(
        newswire::store::Store::open(&state).unwrap().outbox_len(),
        3
    );
}
