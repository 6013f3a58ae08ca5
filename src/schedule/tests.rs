//! The schedule on a manual clock: each hint, the backoff curve, recovery, skip windows, the
//! adaptive interval, and politeness spacing on tokio's paused clock.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::hints::{parse_http_date, scan_feed};
use super::politeness::{Politeness, PolitenessSettings, site_of};
use super::*;

fn policy() -> Policy {
    Policy {
        interval: Duration::from_secs(300),
        min_interval: Duration::from_secs(60),
        max_interval: Duration::from_secs(4 * 3600),
        jitter: 0.0,
        adaptive: true,
        websub_interval: Duration::from_secs(3600),
    }
}

/// A Wednesday, 10:00 GMT.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 7, 10, 0, 0).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn after_body(body: &str, http: HttpHints) -> FeedSchedule {
    let mut s = FeedSchedule::default();
    s.on_success(t0(), http, Some((scan_feed(body.as_bytes()), &[])), 0);
    s
}

fn secs(n: &Next) -> u64 {
    n.delay.as_secs()
}

#[test]
fn no_hint_means_the_configured_interval() {
    let s = after_body(
        "<rss><channel><title>x</title></channel></rss>",
        HttpHints::default(),
    );
    let n = s.next(&policy(), t0(), 0.5);
    assert_eq!((secs(&n), n.reason), (300, Reason::Interval));
}

#[test]
fn rss_ttl_is_a_floor_in_minutes() {
    let s = after_body(
        "<rss><channel><ttl>60</ttl><item><ttl>1</ttl></item></channel></rss>",
        HttpHints::default(),
    );
    assert_eq!(
        s.feed.ttl_secs,
        Some(3600),
        "the item's ttl is not the channel's"
    );
    let n = s.next(&policy(), t0(), 0.0);
    assert_eq!((secs(&n), n.reason), (3600, Reason::Ttl));
    // A short ttl never polls faster than the interval.
    let s = after_body(
        "<rss><channel><ttl>2</ttl></channel></rss>",
        HttpHints::default(),
    );
    assert_eq!(s.next(&policy(), t0(), 0.0).reason, Reason::Interval);
}

#[test]
fn syndication_update_period_and_frequency() {
    let body = r#"<rdf:RDF xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel>
        <sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency></channel></rdf:RDF>"#;
    let s = after_body(body, HttpHints::default());
    assert_eq!(s.feed.update_secs, Some(1800));
    assert_eq!(s.next(&policy(), t0(), 0.0).reason, Reason::UpdatePeriod);
    // updatePeriod alone: once per period; frequency alone: per day.
    assert_eq!(
        scan_feed(b"<rss><channel><sy:updatePeriod>daily</sy:updatePeriod></channel></rss>")
            .update_secs,
        Some(86_400)
    );
    assert_eq!(
        scan_feed(b"<rss><channel><x:updateFrequency>4</x:updateFrequency></channel></rss>")
            .update_secs,
        Some(21_600)
    );
    // Beyond max_interval: clamped, and the log says so.
    let s = after_body(
        "<rss><channel><sy:updatePeriod>weekly</sy:updatePeriod></channel></rss>",
        HttpHints::default(),
    );
    let n = s.next(&policy(), t0(), 0.0);
    assert_eq!((secs(&n), n.clamped), (4 * 3600, true));
}

#[test]
fn cache_control_max_age_and_expires() {
    let now = t0();
    let h = HttpHints::from_response(
        200,
        &headers(&[("Cache-Control", "public, max-age=1200"), ("Age", "200")]),
        now,
    );
    assert_eq!(h.max_age_secs, Some(1000));
    let s = after_body("<rss/>", h);
    assert_eq!(
        (
            secs(&s.next(&policy(), now, 0.0)),
            s.next(&policy(), now, 0.0).reason
        ),
        (1000, Reason::MaxAge)
    );
    // no-cache: no freshness hint.
    assert_eq!(
        HttpHints::from_response(
            200,
            &headers(&[("cache-control", "no-cache, max-age=900")]),
            now
        )
        .max_age_secs,
        None
    );
    // Expires against the server's Date.
    let h = HttpHints::from_response(
        200,
        &headers(&[
            ("Date", "Wed, 07 Jan 2026 09:00:00 GMT"),
            ("Expires", "Wed, 07 Jan 2026 09:45:00 GMT"),
        ]),
        now,
    );
    assert_eq!(h.expires_secs, Some(2700));
    assert_eq!(
        after_body("<rss/>", h).next(&policy(), now, 0.0).reason,
        Reason::Expires
    );
    // max-age wins over Expires; an Expires in the past is no hint.
    let h = HttpHints::from_response(
        200,
        &headers(&[
            ("Cache-Control", "max-age=600"),
            ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
        ]),
        now,
    );
    assert_eq!((h.max_age_secs, h.expires_secs), (Some(600), None));
    let h = HttpHints::from_response(200, &headers(&[("Expires", "0")]), now);
    assert_eq!(h.expires_secs, None);
}

#[test]
fn http_dates_in_all_three_forms() {
    let want = Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 37).unwrap();
    assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(want));
    assert_eq!(
        parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
        Some(want)
    );
    assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(want));
    assert_eq!(parse_http_date("soon"), None);
}

#[test]
fn retry_after_seconds_and_date_on_429_and_503_only() {
    let now = t0();
    let h = HttpHints::from_response(429, &headers(&[("Retry-After", "7200")]), now);
    assert_eq!(h.retry_after_secs, Some(7200));
    let h = HttpHints::from_response(
        503,
        &headers(&[("Retry-After", "Wed, 07 Jan 2026 11:30:00 GMT")]),
        now,
    );
    assert_eq!(h.retry_after_secs, Some(5400));
    assert_eq!(
        HttpHints::from_response(500, &headers(&[("Retry-After", "60")]), now).retry_after_secs,
        None
    );

    let mut s = FeedSchedule::default();
    s.on_failure(HttpHints {
        retry_after_secs: Some(7200),
        ..Default::default()
    });
    let n = s.next(&policy(), now, 0.0);
    assert_eq!((secs(&n), n.reason), (7200, Reason::RetryAfter));
    // A Retry-After shorter than the backoff does not shorten it.
    let mut s = FeedSchedule::default();
    s.on_failure(HttpHints {
        retry_after_secs: Some(5),
        ..Default::default()
    });
    assert_eq!(s.next(&policy(), now, 0.0).reason, Reason::Backoff);
}

#[test]
fn backoff_doubles_to_max_interval_never_gives_up_and_recovers_at_once() {
    let p = policy();
    let mut s = FeedSchedule::default();
    let mut curve = Vec::new();
    for _ in 0..12 {
        s.on_failure(HttpHints::default());
        curve.push(secs(&s.next(&p, t0(), 0.0)));
    }
    assert_eq!(curve[..6], [600, 1200, 2400, 4800, 9600, 14_400]);
    assert!(
        curve[6..].iter().all(|d| *d == 14_400),
        "stays at max_interval: {curve:?}"
    );
    // Thousands of failures later it is still polled at max_interval.
    for _ in 0..5000 {
        s.on_failure(HttpHints::default());
    }
    assert_eq!(secs(&s.next(&p, t0(), 0.0)), 14_400);
    // The first success is back to the normal interval.
    s.on_success(t0(), HttpHints::default(), None, 0);
    let n = s.next(&p, t0(), 0.0);
    assert_eq!((s.failures, secs(&n), n.reason), (0, 300, Reason::Interval));
}

#[test]
fn jitter_only_ever_lengthens_and_stays_within_its_fraction() {
    let p = Policy {
        jitter: 0.1,
        ..policy()
    };
    let s = after_body(
        "<rss><channel><ttl>30</ttl></channel></rss>",
        HttpHints::default(),
    );
    let lo = s.next(&p, t0(), 0.0).delay;
    let hi = s.next(&p, t0(), 0.999).delay;
    assert_eq!(lo, Duration::from_secs(1800));
    assert!(hi > lo && hi <= Duration::from_secs(1980), "{hi:?}");
    let mut s = FeedSchedule::default();
    for _ in 0..30 {
        s.on_failure(HttpHints::default());
    }
    assert!(s.next(&p, t0(), 0.999).delay <= Duration::from_secs(4 * 3600 + 1440));
}

#[test]
fn skip_hours_and_days_push_the_poll_out_of_the_window() {
    // t0 is Wednesday 10:00; the next poll at 10:05 falls in skipped hour 10 and 11.
    let body =
        "<rss><channel><skipHours><hour>10</hour><hour>11</hour></skipHours></channel></rss>";
    let s = after_body(body, HttpHints::default());
    assert_eq!(s.feed.skip_hours, vec![10, 11]);
    let n = s.next(&policy(), t0(), 0.0);
    assert!(n.skipped);
    assert_eq!(n.delay, Duration::from_secs(2 * 3600), "to 12:00");
    // skipDays Wednesday and Thursday: to Friday 00:00, capped at max_interval.
    let body = "<rss><channel><skipDays><day>Wednesday</day><day>thursday</day></skipDays></channel></rss>";
    let s = after_body(body, HttpHints::default());
    assert_eq!(s.feed.skip_days, vec![2, 3]);
    let n = s.next(&policy(), t0(), 0.0);
    assert!(n.skipped);
    assert_eq!(
        n.delay,
        Duration::from_secs(4 * 3600),
        "capped at max_interval"
    );
    let wide = Policy {
        max_interval: Duration::from_secs(3 * 86_400),
        ..policy()
    };
    assert_eq!(
        s.next(&wide, t0(), 0.0).delay,
        Duration::from_secs(38 * 3600),
        "Friday 00:00"
    );
    // Every hour skipped would mean never: ignored.
    let all: String = (0..24).map(|h| format!("<hour>{h}</hour>")).collect();
    let s = after_body(
        &format!("<rss><channel><skipHours>{all}</skipHours></channel></rss>"),
        HttpHints::default(),
    );
    assert!(!s.next(&policy(), t0(), 0.0).skipped);
}

#[test]
fn adaptive_interval_from_entry_dates() {
    let now = t0();
    // A busy feed: 12 entries in the last hour → a gap of 5 min → polled every 150 s.
    let dates: Vec<_> = (0..12)
        .map(|i| now - chrono::Duration::minutes(5 * i + 5))
        .collect();
    let mut s = FeedSchedule::default();
    s.on_success(
        now,
        HttpHints::default(),
        Some((FeedHints::default(), &dates)),
        12,
    );
    let n = s.next(&policy(), now, 0.0);
    assert_eq!((secs(&n), n.reason), (150, Reason::Adaptive));
    // A quiet feed: two entries this week, more before → gap 3.5 days → max_interval.
    let dates = [
        now - chrono::Duration::days(1),
        now - chrono::Duration::days(4),
        now - chrono::Duration::days(20),
    ];
    let mut s = FeedSchedule::default();
    s.on_success(
        now,
        HttpHints::default(),
        Some((FeedHints::default(), &dates)),
        3,
    );
    let n = s.next(&policy(), now, 0.0);
    assert_eq!(
        (secs(&n), n.reason, n.clamped),
        (4 * 3600, Reason::Adaptive, true)
    );
    // Adaptive off: the interval.
    let off = Policy {
        adaptive: false,
        ..policy()
    };
    assert_eq!(s.next(&off, now, 0.0).reason, Reason::Interval);
}

#[test]
fn adaptive_interval_from_observed_arrivals_and_silence() {
    let clock = ManualClock::new(t0());
    let mut s = FeedSchedule::default();
    // First read: everything is "new" but says nothing about the rate.
    s.on_success(
        clock.now(),
        HttpHints::default(),
        Some((FeedHints::default(), &[])),
        20,
    );
    assert_eq!(s.adaptive_interval(clock.now()), None);
    // Then one new entry every 20 minutes.
    for _ in 0..10 {
        clock.advance(Duration::from_secs(1200));
        s.on_success(
            clock.now(),
            HttpHints::default(),
            Some((FeedHints::default(), &[])),
            1,
        );
    }
    let n = s.next(&policy(), clock.now(), 0.0);
    assert_eq!((secs(&n), n.reason), (600, Reason::Adaptive));
    // Silence for 6 hours: the feed is polled less often.
    clock.advance(Duration::from_secs(6 * 3600));
    s.on_success(
        clock.now(),
        HttpHints::default(),
        Some((FeedHints::default(), &[])),
        0,
    );
    assert_eq!(secs(&s.next(&policy(), clock.now(), 0.0)), 3 * 3600);
}

#[test]
fn websub_push_slows_polling_to_a_safety_net() {
    let mut s = after_body("<rss/>", HttpHints::default());
    s.pushed = true;
    let n = s.next(&policy(), t0(), 0.0);
    assert_eq!((secs(&n), n.reason), (3600, Reason::WebSub));
}

#[test]
fn websub_links_are_found_in_rss_atom_and_json_feeds() {
    let rss = r#"<rss xmlns:atom="http://www.w3.org/2005/Atom"><channel><atom:link rel="hub" href="http://hub.test/?a=1&amp;b=2"/>
        <atom:link href='http://news.test/feed' rel='self' type="application/rss+xml"/></channel></rss>"#;
    let h = scan_feed(rss.as_bytes());
    assert_eq!(
        (h.hub.as_deref(), h.self_url.as_deref()),
        (
            Some("http://hub.test/?a=1&b=2"),
            Some("http://news.test/feed")
        )
    );
    let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><link rel="alternate" href="http://news.test/"/><link rel="hub" href="http://hub.test/"/>
        <entry><link rel="self" href="http://wrong.test/"/></entry></feed>"#;
    let h = scan_feed(atom.as_bytes());
    assert_eq!(
        (h.hub.as_deref(), h.self_url),
        (Some("http://hub.test/"), None)
    );
    let json = r#"{"version":"https://jsonfeed.org/version/1.1","feed_url":"http://news.test/f.json","hubs":[{"type":"WebSub","url":"http://hub.test/"}],"items":[]}"#;
    let h = scan_feed(json.as_bytes());
    assert_eq!(
        (h.hub.as_deref(), h.self_url.as_deref()),
        (Some("http://hub.test/"), Some("http://news.test/f.json"))
    );
}

#[test]
fn schedule_state_round_trips_through_json() {
    let mut s = after_body(
        "<rss><channel><ttl>10</ttl><skipDays><day>Sunday</day></skipDays></channel></rss>",
        HttpHints::default(),
    );
    s.on_failure(HttpHints {
        retry_after_secs: Some(9),
        ..Default::default()
    });
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<FeedSchedule>(&json).unwrap(), s);
    assert_eq!(
        serde_json::from_str::<FeedSchedule>("{}").unwrap(),
        FeedSchedule::default()
    );
}

#[test]
fn sites_are_registrable_domains() {
    assert_eq!(site_of("www.bbc.co.uk"), "bbc.co.uk");
    assert_eq!(site_of("feeds.bbci.co.uk"), "bbci.co.uk");
    assert_eq!(site_of("rss.nytimes.com"), "nytimes.com");
    assert_eq!(site_of("a.b.example.com."), "example.com");
    assert_eq!(site_of("127.0.0.7"), "127.0.0.7");
    assert_eq!(site_of("localhost"), "localhost");
}

fn polite(per_site: usize, spacing_ms: u64) -> Politeness {
    Politeness::new(PolitenessSettings {
        per_site,
        spacing: Duration::from_millis(spacing_ms),
        slowdown: Duration::from_secs(30),
    })
}

// Politeness runs on tokio's clock; these use tens of milliseconds of real time (enabling
// tokio's `test-util` for a paused clock would rebuild every tokio dependant for tests).

/// Starts a request at `host`'s gate the way a site scheduler does: a slot, then the gate.
async fn start(p: &Politeness, host: &str) -> tokio::sync::OwnedSemaphorePermit {
    let gate = p.gate(&site_of(host));
    let permit = gate.slots().clone().acquire_owned().await.unwrap();
    loop {
        tokio::time::sleep_until(gate.ready_at()).await;
        if gate.try_start() {
            return permit;
        }
    }
}

#[tokio::test]
async fn politeness_spaces_requests_per_site_not_per_host() {
    let p = polite(4, 60);
    let begin = tokio::time::Instant::now();
    let mut starts = Vec::new();
    for host in [
        "a.example.com",
        "b.example.com",
        "example.com",
        "other.test",
    ] {
        let _pass = start(&p, host).await;
        starts.push(begin.elapsed().as_millis());
    }
    // Three hosts of one site, 60 ms apart; another site at once.
    assert!(
        starts[0] < 30 && starts[1] >= 60 && starts[2] >= 120,
        "{starts:?}"
    );
    assert!(
        starts[3] - starts[2] < 30,
        "another site does not wait: {starts:?}"
    );
}

#[tokio::test]
async fn politeness_caps_requests_in_flight() {
    let p = std::sync::Arc::new(polite(2, 0));
    let a = start(&p, "news.test").await;
    let _b = start(&p, "news.test").await;
    let p2 = p.clone();
    let third = tokio::spawn(async move {
        let t = tokio::time::Instant::now();
        drop(start(&p2, "news.test").await);
        t.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !third.is_finished(),
        "a third request waits while two are in flight"
    );
    drop(a);
    let waited = third.await.unwrap();
    assert!(waited >= Duration::from_millis(50));
}

#[tokio::test]
async fn a_429_from_one_host_slows_the_whole_site_and_a_second_request_waits_its_turn() {
    let p = polite(2, 20);
    drop(start(&p, "www.news.test").await);
    p.observe("feeds.news.test", 429, Some(Duration::from_millis(150)));
    let t = tokio::time::Instant::now();
    drop(start(&p, "www.news.test").await);
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "held back by Retry-After: {:?}",
        t.elapsed()
    );
    assert_eq!(p.current_spacing("news.test"), Duration::from_secs(2));
    // Successes relax it again.
    p.observe("www.news.test", 200, None);
    assert_eq!(p.current_spacing("news.test"), Duration::from_millis(20));
    // A job's second request (robots.txt, then the page) keeps the spacing too.
    let gate = p.gate("other.test");
    let t = tokio::time::Instant::now();
    gate.wait_turn().await;
    gate.wait_turn().await;
    assert!(
        t.elapsed() >= Duration::from_millis(20),
        "{:?}",
        t.elapsed()
    );
}

/// A simulated day on the manual clock (milliseconds of test time): a feed polled every 5 min
/// goes down from 02:00 to 08:00, backs off to max_interval, and is read again soon after it
/// comes back; the whole day never polls it faster than min_interval.
#[test]
fn a_simulated_day_with_a_six_hour_outage() {
    let p = Policy {
        jitter: 0.1,
        ..policy()
    };
    let start = Utc.with_ymd_and_hms(2026, 1, 7, 0, 0, 0).unwrap();
    let clock = ManualClock::new(start);
    let (down_from, down_to) = (
        start + chrono::Duration::hours(2),
        start + chrono::Duration::hours(8),
    );
    let mut s = FeedSchedule::default();
    let mut polls = Vec::new();
    let mut rng = fastrand::Rng::with_seed(7);
    while clock.now() < start + chrono::Duration::hours(24) {
        let now = clock.now();
        polls.push(now);
        if now >= down_from && now < down_to {
            s.on_failure(HttpHints::default());
        } else {
            s.on_success(now, HttpHints::default(), None, 0);
        }
        let next = s.next(&p, now, rng.f64());
        assert!(next.delay >= p.min_interval, "{next:?}");
        clock.advance(next.delay);
    }
    let during: Vec<_> = polls
        .iter()
        .filter(|t| **t >= down_from && **t < down_to)
        .collect();
    // 5-min polls would be 72; backing off 10, 20, 40, 80, 160, 240 … min gives a handful.
    assert!(
        (4..=8).contains(&during.len()),
        "{} polls during the outage",
        during.len()
    );
    let first_after = polls.iter().find(|t| **t >= down_to).unwrap();
    assert!(
        *first_after - down_to <= chrono::Duration::minutes(264),
        "recovered {first_after}"
    );
    // After recovery it is back to every 5–5.5 min.
    let after: Vec<_> = polls.iter().filter(|t| **t > *first_after).collect();
    let gaps: Vec<i64> = after
        .windows(2)
        .map(|w| (*w[1] - *w[0]).num_seconds())
        .collect();
    assert!(gaps.iter().all(|g| (300..=330).contains(g)), "{gaps:?}");
}

#[tokio::test]
async fn a_hundred_thousand_sites_keep_the_gate_map_bounded() {
    let p = polite(2, 0);
    // A gate in use and a gate held back by a 429 survive every sweep.
    let busy = p.gate("busy.test");
    let _slot = busy.slots().clone().acquire_owned().await.unwrap();
    p.observe("held.test", 429, Some(Duration::from_secs(3600)));
    let mut most = 0;
    for i in 0..100_000 {
        let gate = p.gate(&format!("site{i}.test"));
        assert!(gate.try_start());
        drop(gate);
        most = most.max(p.gates_kept());
    }
    assert!(most <= 1024, "{most} gates kept at once");
    assert!(p.gate("held.test").holding());
    assert!(std::sync::Arc::ptr_eq(&p.gate("busy.test"), &busy));
}

/// A start claimed, then sent only after a spacing had passed (the process frozen between the
/// two), must not go out beside a start claimed meanwhile: it waits a turn of its own.
#[tokio::test]
async fn a_start_sent_late_waits_behind_one_claimed_meanwhile() {
    let p = polite(2, 40);
    let gate = p.gate("late.test");
    let first = tokio::time::Instant::now();
    assert!(gate.try_start());
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The gate reopened while the first request had not gone out: a second start is claimed.
    assert!(gate.try_start());
    let second = tokio::time::Instant::now();
    gate.started(second).await;
    gate.started(first).await;
    assert!(
        second.elapsed() >= Duration::from_millis(40),
        "the late request went out {:?} after the one claimed meanwhile",
        second.elapsed()
    );
    // On time, a claimed start goes out at once.
    tokio::time::sleep_until(gate.ready_at()).await;
    let third = tokio::time::Instant::now();
    assert!(gate.try_start());
    gate.started(third).await;
    assert!(third.elapsed() < Duration::from_millis(40));
}
