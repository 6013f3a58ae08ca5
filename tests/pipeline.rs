//! The pipeline stepped by hand over loopback HTTP (no broker): which polls queue which pages,
//! and what running the page jobs writes.
//! - A poll never fetches a page: it queues a job per new or changed entry (an unchanged entry
//!   is not queued again; a 304 costs nothing).
//! - One writer per article: fetches of one article that overlap (a re-check, a second feed, a
//!   WebSub push) get contiguous revisions, one payload per event id.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Canned, Site};
use newswire::config::Settings;
use newswire::fetch::Fetcher;
use newswire::frontier;
use newswire::pipeline::{Pipeline, PollOutcome, ScrapeOutcome};
use newswire::schedule::politeness::site_of;
use newswire::store::{JobKind, PageJob, Store};
use newswire::transport::{Live, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Barrier;
use url::Url;

fn pipeline() -> Pipeline {
    let env = [(
        "NEWSWIRE__FETCH__ALLOW".to_string(),
        "[\"127.0.0.1/32\"]".to_string(),
    )];
    let settings = Settings::load_with_env(None, env).unwrap();
    let fetcher = Fetcher::new(&settings.fetch.to_fetch_settings()).unwrap();
    let store = Store::open(std::path::Path::new(":memory:")).unwrap();
    Pipeline::new(
        Arc::new(settings),
        Transport::Live(Live::new(fetcher)),
        store,
    )
}

fn job(url: &str, feed_url: &str, kind: JobKind) -> PageJob {
    let u = Url::parse(url).unwrap();
    PageJob {
        url: url.to_string(),
        generation: 0,
        site: site_of(u.host_str().unwrap()),
        feed_url: feed_url.to_string(),
        kind,
        rank_ms: 0,
        attempts: 0,
        article_id: None,
        meta: None,
    }
}

const PARAS: [&str; 3] = [
    "The marina's winter storage yard will open a week early this year because of the forecast cold snap, the harbormaster's office said on Friday morning.",
    "Boat owners who booked a November slot can move their haul-out forward at no charge by calling the office before Wednesday afternoon.",
    "The yard holds eighty boats and was fully booked last winter, when a storm in early December damaged several vessels still in the water.",
];

#[tokio::test]
async fn polls_queue_new_and_changed_entries_and_never_fetch_pages_themselves() {
    let site = Site::start().await;
    let feed = Url::parse(&site.url("/feed.xml")).unwrap();
    let story = site.url("/news/storage-yard");
    site.set(
        "/news/storage-yard",
        Canned::ok(
            "text/html",
            common::article("Storage yard opens early", &PARAS, ""),
        ),
    );
    let rss = |title: &str, etag: &str| {
        Canned::ok("application/rss+xml", common::rss(&[("g1", &story, title)]))
            .with_header("ETag", etag)
    };
    site.set("/feed.xml", rss("Storage yard opens early", "\"1\""));
    let p = Arc::new(pipeline());

    assert_eq!(
        p.poll_feed(&feed).await,
        PollOutcome::Entries {
            links: vec![Url::parse(&story).unwrap()],
            queued: 1
        }
    );
    assert_eq!(
        site.hits("/news/storage-yard"),
        0,
        "a poll never waits for its pages"
    );
    assert_eq!(p.store().pending_jobs(), 1, "the job is durable");
    let ran = frontier::drain(&p).await.unwrap();
    assert_eq!(ran.len(), 1);
    assert_eq!(site.hits("/news/storage-yard"), 1);
    assert_eq!(p.store().outbox_len(), 1);
    assert_eq!(
        p.store().pending_jobs(),
        1,
        "the article's re-check waits in the frontier"
    );

    // Same feed again: answered 304 from the ETag, nothing queued.
    assert_eq!(p.poll_feed(&feed).await, PollOutcome::NotModified);
    // The feed changes (another ETag) but this entry does not: nothing queued.
    site.set("/feed.xml", rss("Storage yard opens early", "\"2\""));
    assert!(matches!(
        p.poll_feed(&feed).await,
        PollOutcome::Entries { queued: 0, .. }
    ));
    assert!(
        frontier::drain(&p).await.unwrap().is_empty(),
        "the re-check is not due"
    );
    assert_eq!(site.hits("/news/storage-yard"), 1);

    // The entry's title changes: its page is queued again, ahead of its re-check.
    site.set("/feed.xml", rss("Storage yard opens a week early", "\"3\""));
    assert!(matches!(
        p.poll_feed(&feed).await,
        PollOutcome::Entries { queued: 1, .. }
    ));
    let ran = frontier::drain(&p).await.unwrap();
    assert_eq!(ran[0].0.kind, JobKind::Changed);
    assert_eq!(site.hits("/news/storage-yard"), 2);
    assert_eq!(
        p.store().outbox_len(),
        1,
        "the page itself did not change: still one event"
    );
}

#[tokio::test]
async fn error_pages_and_non_articles_give_no_event() {
    let site = Site::start().await;
    let p = pipeline();
    let feed = site.url("/feed.xml");
    site.set(
        "/front",
        Canned::ok(
            "text/html",
            "<html><body><nav><a href='/a'>A</a> <a href='/b'>B</a></nav></body></html>",
        ),
    );
    let missing = p
        .run_job(&job(&site.url("/gone"), &feed, JobKind::New))
        .await;
    assert_eq!(missing, ScrapeOutcome::Missing(404));
    let front = p
        .run_job(&job(&site.url("/front"), &feed, JobKind::New))
        .await;
    assert_eq!(front, ScrapeOutcome::NotArticle);
    // A feed that is not a feed is a failure of that poll only.
    site.set(
        "/feed.xml",
        Canned::ok("application/rss+xml", "<html>oops</html>"),
    );
    assert!(matches!(
        p.poll_feed(&Url::parse(&feed).unwrap()).await,
        PollOutcome::Failed(_)
    ));
    assert_eq!(p.store().outbox_len(), 0);
}

/// A loopback server for one article reached under three URLs (all with the same canonical
/// link). Every request gets the next version of the article, and the first `hold` requests are
/// answered only once all of them have arrived, so their fetches overlap.
async fn versioned_article(hold: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let canonical = format!("{base}/story");
    let served = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(hold));
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (served, barrier, canonical) = (served.clone(), barrier.clone(), canonical.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let n = served.fetch_add(1, Ordering::SeqCst) + 1;
                if (2..2 + hold).contains(&n) {
                    let _ = tokio::time::timeout(Duration::from_secs(10), barrier.wait()).await;
                }
                let mut paras = PARAS.map(str::to_string).to_vec();
                paras.push(format!(
                    "This is version {n} of the story, with its own paragraph."
                ));
                let refs: Vec<&str> = paras.iter().map(String::as_str).collect();
                let body = common::article(
                    "Storage yard opens early",
                    &refs,
                    &format!("<link rel=\"canonical\" href=\"{canonical}\">"),
                );
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_fetches_of_one_article_get_contiguous_revisions_with_one_payload_per_id() {
    let base = versioned_article(3).await;
    let p = Arc::new(pipeline());
    let first = p
        .run_job(&job(
            &format!("{base}/story"),
            "http://a.test/feed",
            JobKind::New,
        ))
        .await;
    assert!(
        matches!(first, ScrapeOutcome::Revision { revision: 1, .. }),
        "{first:?}"
    );
    // The re-check, a second feed listing the story under another URL, and a push, at once.
    let jobs = [
        job(
            &format!("{base}/story"),
            "http://a.test/feed",
            JobKind::Recheck,
        ),
        job(
            &format!("{base}/story?via=b"),
            "http://b.test/feed",
            JobKind::Changed,
        ),
        job(
            &format!("{base}/story?via=push"),
            "http://a.test/feed",
            JobKind::Pushed,
        ),
    ];
    let runs = jobs.map(|j| {
        let p = p.clone();
        tokio::spawn(async move { p.run_job(&j).await })
    });
    let mut revisions: Vec<u32> = Vec::new();
    for r in runs {
        match r.await.unwrap() {
            ScrapeOutcome::Revision { revision, .. } => revisions.push(revision),
            other => panic!("each fetch saw a new version: {other:?}"),
        }
    }
    revisions.sort_unstable();
    assert_eq!(revisions, [2, 3, 4], "every revision number given out once");

    let events = p.store().outbox_batch(0, 100).await.unwrap();
    let ids: HashSet<&str> = events.iter().map(|e| e.event.id.as_str()).collect();
    assert_eq!(
        (events.len(), ids.len()),
        (4, 4),
        "one payload per event id"
    );
    let article_id = &events[0].event.subject;
    let recorded = p.store().revisions(article_id).await.unwrap();
    assert_eq!(
        recorded.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    for (revision, id) in &recorded {
        let event = events.iter().find(|e| &e.event.id == id).unwrap();
        let data: serde_json::Value = serde_json::from_str(&event.event.data).unwrap();
        assert_eq!(data["revision"], *revision, "the id and the payload agree");
    }
}
