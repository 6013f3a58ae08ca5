use std::collections::BTreeSet;

use openmetrics_parser::openmetrics::parse_openmetrics;
use openmetrics_parser::{MetricNumber, OpenMetricsType, OpenMetricsValue};

use super::*;

/// Every series name newswire exports, as Prometheus stores it. Dashboards and alerts use
/// these: a name may be added here, never renamed.
const NAMES: &[&str] = &[
    "newswire_build_info",
    "newswire_uptime_seconds",
    "newswire_feeds",
    "newswire_page_jobs",
    "newswire_sites",
    "newswire_feed_polls_total",
    "newswire_http_responses_total",
    "newswire_fetched_bytes_total",
    "newswire_fetch_duration_seconds_bucket",
    "newswire_fetch_duration_seconds_sum",
    "newswire_fetch_duration_seconds_count",
    "newswire_extraction_duration_seconds_bucket",
    "newswire_extraction_duration_seconds_sum",
    "newswire_extraction_duration_seconds_count",
    "newswire_articles_detected_total",
    "newswire_revisions_detected_total",
    "newswire_events_published_total",
    "newswire_outbox_dead_letters_total",
    "newswire_outbox_depth",
    "newswire_outbox_oldest_age_seconds",
    "newswire_broker_connected",
    "newswire_broker_blocked",
    "newswire_broker_blocked_seconds_total",
    "newswire_polling_paused_seconds_total",
    "newswire_errors_total",
];

/// Only with replicas sharing the store.
const REPLICA_NAMES: &[&str] = &[
    "newswire_replica_info",
    "newswire_site_leases",
    "newswire_site_lease_losses_total",
    "newswire_replicas",
    "newswire_outbox_relay",
    "newswire_db_round_trips",
];

fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .collect()
}

/// The value of one sample, read through the OpenMetrics parser: `family` with these labels
/// (a histogram's count when `family` is one).
fn value(text: &str, family: &str, labels: &[(&str, &str)]) -> f64 {
    let exposition = parse_openmetrics(text).unwrap_or_else(|e| panic!("{e:?}:\n{text}"));
    let fam = exposition
        .families
        .get(family)
        .unwrap_or_else(|| panic!("{family} missing:\n{text}"));
    let sample = fam
        .iter_samples()
        .find(|s| {
            let set = s.get_labelset().unwrap();
            set.iter().count() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| set.get_label_value(k) == Some(*v))
        })
        .unwrap_or_else(|| panic!("{family}{labels:?} missing:\n{text}"));
    match &sample.value {
        OpenMetricsValue::Gauge(n) => n.as_f64(),
        OpenMetricsValue::Counter(c) => c.value.as_f64(),
        OpenMetricsValue::Histogram(h) => h.count.unwrap() as f64,
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_name_is_listed_and_the_exposition_parses() {
    let m = Metrics::new();
    let text = m.render();
    assert!(!text.contains(".."), "{text}");
    assert_eq!(
        sample_names(&text),
        NAMES.iter().map(|s| s.to_string()).collect(),
        "{text}"
    );
    let exposition = parse_openmetrics(&text).unwrap_or_else(|e| panic!("{e:?}:\n{text}"));
    let types = |name: &str| exposition.families[name].family_type;
    assert_eq!(types("newswire_feed_polls"), OpenMetricsType::Counter);
    assert_eq!(types("newswire_outbox_depth"), OpenMetricsType::Gauge);
    assert_eq!(
        types("newswire_fetch_duration_seconds"),
        OpenMetricsType::Histogram
    );
    assert_eq!(
        value(&text, "newswire_feed_polls", &[("outcome", "failed")]),
        0.0
    );
    assert_eq!(
        value(
            &text,
            "newswire_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );

    m.set_replica("r-1");
    let text = m.render();
    parse_openmetrics(&text).unwrap_or_else(|e| panic!("{e:?}:\n{text}"));
    assert_eq!(
        sample_names(&text),
        NAMES
            .iter()
            .chain(REPLICA_NAMES)
            .map(|s| s.to_string())
            .collect(),
        "{text}"
    );
}

#[test]
fn counters_and_labels() {
    let m = Metrics::new();
    m.feed_polls.inc(&["entries"]);
    m.feed_polls.inc(&["entries"]);
    m.fetched("page", 404, 10, Duration::from_millis(3));
    m.fetched("page", 200, 1000, Duration::from_millis(3));
    m.error("timeout");
    m.errors.inc(&["we\"ird\\kind\n"]);
    m.polling_paused_seconds.inc_by(1.5);
    let text = m.render();
    assert_eq!(
        value(&text, "newswire_feed_polls", &[("outcome", "entries")]),
        2.0
    );
    assert_eq!(
        value(
            &text,
            "newswire_http_responses",
            &[("kind", "page"), ("class", "4xx")]
        ),
        1.0
    );
    assert_eq!(
        value(&text, "newswire_fetched_bytes", &[("kind", "page")]),
        1010.0
    );
    assert_eq!(value(&text, "newswire_errors", &[("kind", "timeout")]), 1.0);
    assert_eq!(value(&text, "newswire_polling_paused_seconds", &[]), 1.5);
    assert!(
        text.contains(r#"newswire_errors_total{kind="we\"ird\\kind\n"} 1"#),
        "{text}"
    );
}

#[test]
fn histogram_buckets_are_cumulative_with_inf_sum_and_count() {
    let m = Metrics::new();
    for secs in [0.0005, 0.003, 0.003, 0.2, 99.0] {
        m.extract_seconds.observe(secs);
    }
    m.fetch_seconds
        .observe_duration(&["feed"], Duration::from_millis(70));
    let text = m.render();
    let exposition = parse_openmetrics(&text).unwrap_or_else(|e| panic!("{e:?}:\n{text}"));
    let h = match &exposition.families["newswire_extraction_duration_seconds"]
        .iter_samples()
        .next()
        .unwrap()
        .value
    {
        OpenMetricsValue::Histogram(h) => h.clone(),
        other => panic!("{other:?}"),
    };
    let b = |le: f64| {
        h.buckets
            .iter()
            .find(|b| b.upper_bound == le)
            .map(|b| b.count.as_f64())
            .unwrap()
    };
    assert_eq!(b(0.001), 1.0);
    assert_eq!(b(0.005), 3.0);
    assert_eq!(b(0.25), 4.0);
    assert_eq!(b(2.5), 4.0);
    assert_eq!(b(f64::INFINITY), 5.0);
    assert_eq!(h.count, Some(5));
    let sum = match h.sum.unwrap() {
        MetricNumber::Float(f) => f,
        MetricNumber::Int(i) => i as f64,
    };
    assert!((sum - 99.2065).abs() < 1e-9);
    assert_eq!(
        value(
            &text,
            "newswire_fetch_duration_seconds",
            &[("kind", "feed")]
        ),
        1.0
    );
    assert!(
        text.contains("newswire_fetch_duration_seconds_bucket{le=\"0.05\",kind=\"feed\"} 0")
            || text.contains("newswire_fetch_duration_seconds_bucket{kind=\"feed\",le=\"0.05\"} 0"),
        "{text}"
    );
}

#[test]
fn quantiles_read_back_from_the_buckets() {
    let h = Latency::default();
    assert_eq!((h.quantile(0.5), h.max()), (None, None));
    for ms in 1..=100 {
        h.record(Duration::from_millis(ms));
    }
    h.record(Duration::from_secs(5));
    let ms = |d: Option<Duration>| d.unwrap().as_secs_f64() * 1000.0;
    // Within a bucket (about 9 %) above the true values.
    let (p50, p99, max) = (ms(h.quantile(0.5)), ms(h.quantile(0.99)), ms(h.max()));
    assert!((51.0..51.0 * 1.1).contains(&p50), "{p50}");
    assert!((100.0..100.0 * 1.1).contains(&p99), "{p99}");
    assert!((5000.0..5000.0 * 1.1).contains(&max), "{max}");
    h.record(Duration::from_secs(10_000));
    assert_eq!(h.max(), Some(Duration::MAX), "past the last bucket");
    assert_eq!(status_class(304), "3xx");
}
