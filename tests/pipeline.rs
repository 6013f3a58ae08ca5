//! The pipeline stepped by hand over loopback HTTP (no broker): which polls fetch which pages.
//! A feed entry is scraped when it is new and again at once when its title, summary or updated
//! time changes; an unchanged entry is not fetched again; a 304 costs no page fetch.

mod common;

use std::sync::Arc;

use common::{Canned, Site};
use newswire::app::{Pipeline, PollOutcome, ScrapeOutcome};
use newswire::config::Settings;
use newswire::fetch::Fetcher;
use newswire::store::Store;
use newswire::transport::{Live, Transport};
use tokio_util::sync::CancellationToken;
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
        true,
        CancellationToken::new(),
    )
}

const PARAS: [&str; 3] = [
    "The marina's winter storage yard will open a week early this year because of the forecast cold snap, the harbormaster's office said on Friday morning.",
    "Boat owners who booked a November slot can move their haul-out forward at no charge by calling the office before Wednesday afternoon.",
    "The yard holds eighty boats and was fully booked last winter, when a storm in early December damaged several vessels still in the water.",
];

#[tokio::test]
async fn changed_feed_entries_are_refetched_at_once_and_unchanged_ones_are_not() {
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
    site.set(
        "/feed.xml",
        Canned::ok(
            "application/rss+xml",
            common::rss(&[("g1", &story, "Storage yard opens early")]),
        )
        .with_header("ETag", "\"1\""),
    );
    let p = pipeline();

    assert_eq!(
        p.poll_feed(&feed).await,
        PollOutcome::Entries {
            links: vec![Url::parse(&story).unwrap()],
            scraped: 1
        }
    );
    assert_eq!(site.hits("/news/storage-yard"), 1);

    // Same feed again: answered 304 from the ETag, no page fetch.
    assert_eq!(p.poll_feed(&feed).await, PollOutcome::NotModified);
    assert_eq!(site.hits("/news/storage-yard"), 1);

    // The feed changes (another ETag) but this entry does not: no page fetch.
    site.set(
        "/feed.xml",
        Canned::ok(
            "application/rss+xml",
            common::rss(&[("g1", &story, "Storage yard opens early")]),
        )
        .with_header("ETag", "\"2\""),
    );
    assert!(matches!(
        p.poll_feed(&feed).await,
        PollOutcome::Entries { scraped: 0, .. }
    ));
    assert_eq!(site.hits("/news/storage-yard"), 1);

    // The entry's title changes: its page is fetched again at once.
    site.set(
        "/feed.xml",
        Canned::ok(
            "application/rss+xml",
            common::rss(&[("g1", &story, "Storage yard opens a week early")]),
        )
        .with_header("ETag", "\"3\""),
    );
    assert!(matches!(
        p.poll_feed(&feed).await,
        PollOutcome::Entries { scraped: 1, .. }
    ));
    assert_eq!(site.hits("/news/storage-yard"), 2);
    assert_eq!(
        p.store().outbox_len().unwrap(),
        1,
        "the page itself did not change: still one event"
    );
}

#[tokio::test]
async fn error_pages_and_non_articles_give_no_event() {
    let site = Site::start().await;
    let p = pipeline();
    let feed = Url::parse(&site.url("/feed.xml")).unwrap();
    site.set(
        "/front",
        Canned::ok(
            "text/html",
            "<html><body><nav><a href='/a'>A</a> <a href='/b'>B</a></nav></body></html>",
        ),
    );
    let (missing, _) = p
        .scrape(&Url::parse(&site.url("/gone")).unwrap(), &feed)
        .await;
    assert_eq!(missing, ScrapeOutcome::Missing(404));
    let (front, _) = p
        .scrape(&Url::parse(&site.url("/front")).unwrap(), &feed)
        .await;
    assert_eq!(front, ScrapeOutcome::NotArticle);
    // A feed that is not a feed is a failure of that poll only.
    site.set(
        "/feed.xml",
        Canned::ok("application/rss+xml", "<html>oops</html>"),
    );
    assert!(matches!(p.poll_feed(&feed).await, PollOutcome::Failed(_)));
    assert_eq!(p.store().outbox_len().unwrap(), 0);
}
