//! The poller against a loopback site, in real (but short) time: a permanent redirect moves the
//! subscription and a 410 retires it (both remembered across restarts), a failing feed backs off
//! and recovers on its first success, politeness spaces requests to one site and a 429 holds
//! the whole site back, a changed feeds file adds and removes feeds without a restart (keeping
//! the feeds imported into the store), and a re-check whose article changed identity is not
//! fetched again and again.
//! The schedule's arithmetic (each hint, the backoff curve) is tested on a virtual clock in
//! `src/schedule/tests.rs`; these tests check the wiring.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Canned, Site};
use newswire::config::{Dur, Settings, SinkKind};
use newswire::daemon::{RunOptions, run_with};
use newswire::store::{FeedStatus, Store};
use tokio_util::sync::CancellationToken;

fn ms(n: u64) -> Dur {
    Dur(Duration::from_millis(n))
}

/// Fast test settings: polls every 100 ms (backoff to 800 ms), no politeness spacing, no jitter.
fn settings(dir: &Path, feeds: &[String]) -> Settings {
    let mut s = Settings::load_with_env(None, Vec::new()).unwrap();
    s.state.path = dir.join("state.sqlite3");
    s.feeds.urls = feeds.to_vec();
    s.feeds.watch = ms(100);
    s.poll.interval = ms(100);
    s.poll.min_interval = ms(10);
    s.poll.max_interval = ms(800);
    s.poll.jitter = 0.0;
    s.politeness.spacing = ms(0);
    s.fetch.allow = vec!["127.0.0.1/32".into()];
    s.publish.sink = SinkKind::Stdout;
    s.scrape.recheck = Vec::new();
    s.shutdown.drain = ms(2000);
    s.shutdown.flush = ms(500);
    s
}

struct Running {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    fn start(settings: Settings) -> Running {
        common::init_logs();
        let stop = CancellationToken::new();
        let task = tokio::spawn(run_with(settings, stop.clone(), RunOptions::default()));
        Running { stop, task }
    }

    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("stops")
            .unwrap()
            .unwrap();
    }
}

fn empty_feed() -> Canned {
    Canned::ok("application/rss+xml", common::rss(&[]))
}

#[tokio::test]
async fn permanent_redirect_moves_and_410_retires_the_subscription_for_good() {
    let site = Site::start().await;
    site.set(
        "/old.xml",
        Canned {
            status: 301,
            headers: vec![("Location".into(), "/new.xml".into())],
            body: vec![],
        },
    );
    site.set("/new.xml", empty_feed().with_header("ETag", "\"n1\""));
    site.set(
        "/gone.xml",
        Canned {
            status: 410,
            headers: vec![],
            body: b"gone".to_vec(),
        },
    );
    let dir = common::tempdir("poll-moved");
    let s = settings(&dir, &[site.url("/old.xml"), site.url("/gone.xml")]);
    let store = Store::open(&s.state.path).unwrap();
    let run = Running::start(s.clone());
    let (old, new, gone) = (
        site.url("/old.xml"),
        site.url("/new.xml"),
        site.url("/gone.xml"),
    );
    let settled = common::wait_for(Duration::from_secs(10), || {
        common::block(store.feed_status(&old)).unwrap() == FeedStatus::Moved(new.clone())
            && matches!(
                common::block(store.feed_status(&gone)).unwrap(),
                FeedStatus::Retired { .. }
            )
            && site.hits("/new.xml") >= 4
    })
    .await;
    assert!(
        settled,
        "old {:?} gone {:?} new hits {}",
        common::block(store.feed_status(&old)),
        common::block(store.feed_status(&gone)),
        site.hits("/new.xml")
    );
    // After the move the old URL is not asked again; the gone feed not at all.
    assert_eq!(site.hits("/old.xml"), 1);
    assert_eq!(site.hits("/gone.xml"), 1);
    run.stop().await;

    // A restart with the same (stale) list polls the new URL and skips the retired feed.
    let before = site.hits("/new.xml");
    let run = Running::start(s);
    assert!(
        common::wait_for(Duration::from_secs(10), || site.hits("/new.xml")
            >= before + 2)
        .await
    );
    run.stop().await;
    assert_eq!((site.hits("/old.xml"), site.hits("/gone.xml")), (1, 1));
}

#[tokio::test]
async fn failing_feed_backs_off_exponentially_and_recovers_on_first_success() {
    let site = Site::start().await;
    site.set(
        "/flaky.xml",
        Canned {
            status: 500,
            headers: vec![],
            body: b"oops".to_vec(),
        },
    );
    let dir = common::tempdir("poll-backoff");
    let s = settings(&dir, &[site.url("/flaky.xml")]);
    let store = Store::open(&s.state.path).unwrap();
    let run = Running::start(s);
    // Backoff: 200, 400, 800, 800 ms.
    assert!(common::wait_for(Duration::from_secs(10), || site.hits("/flaky.xml") >= 5).await);
    let t = site.times("/flaky.xml");
    let gaps: Vec<u128> = t.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    assert!(
        gaps[0] >= 180 && gaps[1] >= 360 && gaps[2] >= 720 && gaps[3] >= 720,
        "{gaps:?}"
    );
    assert!(gaps[3] < 1500, "capped at max_interval: {gaps:?}");

    site.set("/flaky.xml", empty_feed());
    let n = site.hits("/flaky.xml");
    assert!(common::wait_for(Duration::from_secs(10), || site.hits("/flaky.xml") >= n + 4).await);
    let t = site.times("/flaky.xml");
    let last_gap = (t[t.len() - 1] - t[t.len() - 2]).as_millis();
    assert!(
        last_gap < 400,
        "back to the 100 ms interval after recovery: {last_gap} ms"
    );
    let sched: serde_json::Value = serde_json::from_str(
        &common::block(store.feed_schedule(&site.url("/flaky.xml")))
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sched["failures"], 0, "{sched}");
    run.stop().await;
}

#[tokio::test]
async fn politeness_spaces_one_site_and_a_429_holds_the_whole_site_back() {
    let site = Site::start().await;
    for p in ["/a.xml", "/b.xml", "/c.xml"] {
        site.set(p, empty_feed());
    }
    let dir = common::tempdir("poll-polite");
    let mut s = settings(
        &dir,
        &[site.url("/a.xml"), site.url("/b.xml"), site.url("/c.xml")],
    );
    s.politeness.spacing = ms(250);
    let run = Running::start(s);
    assert!(common::wait_for(Duration::from_secs(10), || site.requests().len() >= 8).await);
    let times: Vec<Instant> = site.requests().iter().map(|(t, _)| *t).collect();
    let gaps: Vec<u128> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    assert!(
        gaps.iter().all(|g| *g >= 200),
        "three feeds on one site, 250 ms apart: {gaps:?}"
    );

    // One feed is throttled: Retry-After 1 s holds every request to the site back.
    let b0 = site.hits("/b.xml");
    site.set(
        "/b.xml",
        Canned {
            status: 429,
            headers: vec![("Retry-After".into(), "1".into())],
            body: vec![],
        },
    );
    assert!(common::wait_for(Duration::from_secs(10), || site.hits("/b.xml") >= b0 + 2).await);
    // The second request after the switch surely got the 429.
    let throttled_at = site.times("/b.xml")[b0 + 1];
    assert!(
        common::wait_for(Duration::from_secs(10), || site
            .requests()
            .iter()
            .any(|(t, _)| *t > throttled_at))
        .await
    );
    let next = site
        .requests()
        .iter()
        .map(|(t, _)| *t)
        .find(|t| *t > throttled_at)
        .unwrap();
    assert!(
        next - throttled_at >= Duration::from_millis(900),
        "site held back after a 429: {:?}",
        next - throttled_at
    );
    run.stop().await;
}

#[tokio::test]
async fn a_changed_feeds_file_adds_and_removes_feeds_without_restart() {
    let site = Site::start().await;
    site.set("/a.xml", empty_feed());
    site.set("/b.xml", empty_feed());
    let dir = common::tempdir("poll-reload");
    let list = dir.join("feeds.txt");
    std::fs::write(&list, format!("# mine\n{}\n", site.url("/a.xml"))).unwrap();
    let mut s = settings(&dir, &[]);
    s.feeds.file = list.display().to_string();
    let run = Running::start(s);
    assert!(common::wait_for(Duration::from_secs(10), || site.hits("/a.xml") >= 2).await);
    assert_eq!(site.hits("/b.xml"), 0);

    // OPML this time, listing only b. (mtime resolution: make sure the stamp changes.)
    tokio::time::sleep(Duration::from_millis(20)).await;
    let opml = format!(
        r#"<?xml version="1.0"?><opml version="2.0"><body><outline text="B" xmlUrl="{}"/></body></opml>"#,
        site.url("/b.xml")
    );
    std::fs::write(&list, opml).unwrap();
    let f = std::fs::File::options().write(true).open(&list).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(1))
        .unwrap();
    assert!(common::wait_for(Duration::from_secs(10), || site.hits("/b.xml") >= 2).await);
    let a = site.hits("/a.xml");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        site.hits("/a.xml") <= a + 1,
        "a removed feed stops being polled"
    );
    run.stop().await;
}

#[tokio::test]
async fn a_reload_keeps_the_feeds_imported_into_the_store_and_counts_them() {
    let site = Site::start().await;
    for p in ["/file.xml", "/more.xml", "/imported.xml"] {
        site.set(p, empty_feed());
    }
    let dir = common::tempdir("poll-reload-imported");
    let list = dir.join("feeds.txt");
    std::fs::write(&list, format!("{}\n", site.url("/file.xml"))).unwrap();
    let mut s = settings(&dir, &[]);
    s.feeds.file = list.display().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    s.server.listen = format!("127.0.0.1:{port}");
    let store = Store::open(&s.state.path).unwrap();
    assert!(
        store
            .add_subscription(&site.url("/imported.xml"), None, chrono::Utc::now())
            .await
            .unwrap()
    );
    let run = Running::start(s);
    assert!(common::wait_for(Duration::from_secs(10), || site.hits("/imported.xml") >= 2).await);

    // The feeds file gains a feed: a reload.
    std::fs::write(
        &list,
        format!("{}\n{}\n", site.url("/file.xml"), site.url("/more.xml")),
    )
    .unwrap();
    let f = std::fs::File::options().write(true).open(&list).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(1))
        .unwrap();
    assert!(common::wait_for(Duration::from_secs(10), || site.hits("/more.xml") >= 2).await);
    let imported = site.hits("/imported.xml");
    assert!(
        common::wait_for(Duration::from_secs(10), || site.hits("/imported.xml")
            >= imported + 3)
        .await,
        "the imported feed is still polled after the reload"
    );
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l == "newswire_feeds 3"),
        "the gauge follows the reload:\n{metrics}"
    );
    run.stop().await;
}

#[tokio::test]
async fn a_recheck_whose_page_now_names_another_article_is_not_fetched_again_and_again() {
    let site = Site::start().await;
    let story = site.url("/news/slug-one");
    let page = |canonical: &str| {
        let paras = [
            "The harbour ferry will add an early sailing on weekdays from next month, the operator said on Tuesday.",
            "Commuters had asked for a crossing before seven for years, and the council agreed to pay for the extra crew.",
            "The first boat will leave the north pier at a quarter past six and return at seven.",
        ];
        Canned::ok(
            "text/html",
            common::article(
                "Ferry adds an early sailing",
                &paras,
                &format!("<link rel=\"canonical\" href=\"{canonical}\">"),
            ),
        )
    };
    site.set("/news/slug-one", page(&story));
    site.set(
        "/feed.xml",
        Canned::ok(
            "application/rss+xml",
            common::rss(&[("g1", &story, "Ferry adds an early sailing")]),
        ),
    );
    let dir = common::tempdir("poll-recheck-moved");
    let mut s = settings(&dir, &[site.url("/feed.xml")]);
    s.poll.interval = ms(1000);
    s.scrape.recheck = vec![(ms(3_600_000), ms(300))];
    let run = Running::start(s);
    assert!(common::wait_for(Duration::from_secs(10), || site.hits("/news/slug-one") >= 2).await);
    // The slug is edited: the same URL now names another canonical article.
    site.set("/news/slug-one", page(&site.url("/news/slug-one-edited")));
    let before = site.hits("/news/slug-one");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = site.hits("/news/slug-one") - before;
    run.stop().await;
    assert!(
        (2..=10).contains(&during),
        "re-checked every 300 ms, not in a loop: {during} fetches in 2 s"
    );
}

#[tokio::test]
async fn schedule_hints_reach_the_store_and_survive_a_restart() {
    let site = Site::start().await;
    let feed = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title><ttl>60</ttl>\
        <skipDays><day>Sunday</day></skipDays></channel></rss>";
    site.set(
        "/ttl.xml",
        Canned::ok("application/rss+xml", feed).with_header("Cache-Control", "max-age=30"),
    );
    let dir = common::tempdir("poll-hints");
    let mut s = settings(&dir, &[site.url("/ttl.xml")]);
    s.poll.max_interval = Dur(Duration::from_secs(7200));
    let store = Store::open(&s.state.path).unwrap();
    let run = Running::start(s.clone());
    assert!(
        common::wait_for(Duration::from_secs(10), || common::block(
            store.feed_schedule(&site.url("/ttl.xml"))
        )
        .unwrap()
        .is_some())
        .await
    );
    let sched: serde_json::Value = serde_json::from_str(
        &store
            .feed_schedule(&site.url("/ttl.xml"))
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sched["feed"]["ttl_secs"], 3600, "{sched}");
    assert_eq!(
        sched["feed"]["skip_days"],
        serde_json::json!([6]),
        "{sched}"
    );
    assert_eq!(sched["http"]["max_age_secs"], 30, "{sched}");
    run.stop().await;
    // The ttl pushed the next poll an hour out; a restart keeps to it.
    let hits = site.hits("/ttl.xml");
    let run = Running::start(s);
    tokio::time::sleep(Duration::from_millis(600)).await;
    run.stop().await;
    assert_eq!(
        site.hits("/ttl.xml"),
        hits,
        "a restart honours the saved due time"
    );
}

#[tokio::test]
async fn robots_txt_keeps_disallowed_article_pages_unfetched_when_enabled() {
    let site = Site::start().await;
    let (open, private) = (site.url("/news/open"), site.url("/private/secret"));
    site.set(
        "/feed.xml",
        Canned::ok(
            "application/rss+xml",
            common::rss(&[("o", &open, "Open"), ("p", &private, "Private")]),
        ),
    );
    site.set(
        "/robots.txt",
        Canned::ok(
            "text/plain",
            "User-agent: *\nDisallow: /\n\nUser-agent: newswire\nDisallow: /private/\n",
        ),
    );
    // The pages are left unset: 404s are enough to count fetches, and make no events.
    let dir = common::tempdir("poll-robots");
    let mut s = settings(&dir, &[site.url("/feed.xml")]);
    s.politeness.robots = true;
    let run = Running::start(s);
    assert!(common::wait_for(Duration::from_secs(10), || site.hits("/news/open") >= 1).await);
    assert!(common::wait_for(Duration::from_secs(10), || site.hits("/feed.xml") >= 3).await);
    run.stop().await;
    assert_eq!(
        site.hits("/private/secret"),
        0,
        "robots.txt disallows it for newswire"
    );
    assert_eq!(
        site.hits("/robots.txt"),
        1,
        "robots.txt is fetched once and kept"
    );
}

fn write_config(path: &Path, dir: &Path, feed: &str) {
    std::fs::write(
        path,
        format!(
            "[state]\npath = \"{}\"\n[feeds]\nurls = [\"{feed}\"]\nwatch = \"0s\"\n[poll]\ninterval = \"100ms\"\nmin_interval = \"10ms\"\n\
             [politeness]\nspacing = \"0s\"\n[fetch]\nallow = [\"127.0.0.1/32\"]\n[publish]\nsink = \"stdout\"\n",
            dir.join("state.sqlite3").display()
        ),
    )
    .unwrap();
}

#[tokio::test]
async fn sighup_reloads_the_feed_list_from_the_configuration_without_restart() {
    let site = Site::start().await;
    site.set("/a.xml", empty_feed());
    site.set("/b.xml", empty_feed());
    let dir = common::tempdir("poll-sighup");
    let config = dir.join("newswire.toml");
    write_config(&config, &dir, &site.url("/a.xml"));
    let log_path = dir.join("stderr.log");
    let mut child = std::process::Command::new(common::bin())
        .args(["run", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let signal = |sig: &str| {
        assert!(
            std::process::Command::new("kill")
                .args([sig, &child.id().to_string()])
                .status()
                .unwrap()
                .success()
        )
    };
    assert!(
        common::wait_for(Duration::from_secs(20), || site.hits("/a.xml") >= 2).await,
        "{}",
        log()
    );
    write_config(&config, &dir, &site.url("/b.xml"));
    signal("-HUP");
    assert!(
        common::wait_for(Duration::from_secs(20), || site.hits("/b.xml") >= 2).await,
        "{}",
        log()
    );
    let a = site.hits("/a.xml");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        site.hits("/a.xml") <= a + 1,
        "a removed feed stops being polled"
    );
    signal("-TERM");
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
    let log = log();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("SIGHUP received")
            && log.contains("feed list reloaded")
            && log.contains("feed removed from the list"),
        "{log}"
    );
}

// Multi-threaded: the command runs synchronously while the site answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_discover_prints_the_announced_feeds() {
    let site = Site::start().await;
    site.set(
        "/",
        Canned::ok(
            "text/html",
            r#"<html><head><title>Ledger</title>
            <link rel="alternate" type="application/rss+xml" title="World" href="/world.xml">
            <link rel="alternate" type="application/atom+xml" href="/atom.xml"></head><body></body></html>"#,
        ),
    );
    let out = common::run_ok(
        std::process::Command::new(common::bin())
            .args(["feeds", "discover", &site.url("/")])
            .env("NEWSWIRE__FETCH__ALLOW", "[\"127.0.0.1/32\"]"),
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout,
        format!(
            "{}  # rss: World\n{}  # atom\n",
            site.url("/world.xml"),
            site.url("/atom.xml")
        )
    );
    // The output is a feeds file.
    assert_eq!(
        newswire::feed::parse_feed_list(&stdout).unwrap(),
        vec![site.url("/world.xml"), site.url("/atom.xml")]
    );
    // A page without feeds: a one-line error.
    site.set(
        "/plain",
        Canned::ok("text/html", "<html><body>hi</body></html>"),
    );
    let out = std::process::Command::new(common::bin())
        .args(["feeds", "discover", &site.url("/plain")])
        .env("NEWSWIRE__FETCH__ALLOW", "[\"127.0.0.1/32\"]")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("announces no feeds"));
}
