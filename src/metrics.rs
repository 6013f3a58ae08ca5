//! The metrics registry: counters, gauges and fixed-bucket histograms on atomics, rendered in
//! the Prometheus text exposition format (version 0.0.4) by [`Metrics::render`].
//!
//! One [`Metrics`] is made per process by the daemon and passed to the stages (in
//! [`crate::pipeline::Pipeline`], the publisher and the HTTP listener) as an `Arc`; there is no global.
//! Recording is lock-free for unlabelled series; a labelled series takes a read lock on its
//! family to find its cell (a write lock only the first time a label set is seen).
//!
//! Every family is named `newswire_*`. Label sets known in advance are registered at start, so
//! a family shows zeros instead of being absent before its first event.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

/// Bucket bounds (seconds) of fetch latency: a feed or page over the network.
pub const FETCH_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Bucket bounds (seconds) of extraction latency: parsing one page.
pub const EXTRACT_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (an integer; seconds and bytes are whole numbers here).
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A float accumulated atomically (sum of a histogram, seconds blocked).
#[derive(Debug, Default)]
struct AtomicF64(AtomicU64);

impl AtomicF64 {
    fn add(&self, v: f64) {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(cur) + v).to_bits();
            match self
                .0
                .compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// Seconds as a float counter (`*_seconds_total`).
#[derive(Debug, Default)]
pub struct SecondsCounter(AtomicF64);

impl SecondsCounter {
    pub fn add(&self, d: Duration) {
        self.0.add(d.as_secs_f64());
    }

    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

/// A histogram with fixed bucket bounds. Buckets are stored non-cumulatively and summed when
/// rendered, so an observation touches one bucket.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, plus the +Inf bucket.
    buckets: Vec<AtomicU64>,
    sum: AtomicF64,
    count: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        debug_assert!(
            bounds.windows(2).all(|w| w[0] < w[1]),
            "bucket bounds ascend"
        );
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicF64::default(),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum.add(v);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// A family of series told apart by label values (`kind="network"`).
#[derive(Debug)]
pub struct Family<T> {
    labels: &'static [&'static str],
    make: fn() -> T,
    series: RwLock<BTreeMap<Vec<String>, T>>,
}

impl<T> Family<T> {
    fn new(labels: &'static [&'static str], make: fn() -> T) -> Self {
        Family {
            labels,
            make,
            series: RwLock::new(BTreeMap::new()),
        }
    }

    /// Runs `f` on the series with these label values, creating it if new.
    pub fn with<R>(&self, values: &[&str], f: impl FnOnce(&T) -> R) -> R {
        debug_assert_eq!(values.len(), self.labels.len(), "one value per label");
        {
            let map = self.series.read().unwrap_or_else(|p| p.into_inner());
            if let Some(s) = map
                .iter()
                .find(|(k, _)| k.iter().map(String::as_str).eq(values.iter().copied()))
            {
                return f(s.1);
            }
        }
        let mut map = self.series.write().unwrap_or_else(|p| p.into_inner());
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        let make = self.make;
        f(map.entry(key).or_insert_with(make))
    }

    fn each(&self, mut f: impl FnMut(String, &T)) {
        let map = self.series.read().unwrap_or_else(|p| p.into_inner());
        for (values, series) in map.iter() {
            let labels = self
                .labels
                .iter()
                .zip(values)
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect::<Vec<_>>()
                .join(",");
            f(labels, series);
        }
    }
}

impl Family<Counter> {
    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1);
    }

    pub fn add(&self, values: &[&str], n: u64) {
        self.with(values, |c| c.add(n));
    }

    pub fn get(&self, values: &[&str]) -> u64 {
        self.with(values, Counter::get)
    }
}

impl Family<Histogram> {
    pub fn observe_duration(&self, values: &[&str], d: Duration) {
        self.with(values, |h| h.observe_duration(d));
    }
}

/// What the broker connection looks like now; read at every sample.
pub type BrokerStatus = lapin::ConnectionStatus;

/// Every metric newswire exports.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    /// Feed polls by outcome: `entries`, `not_modified`, `failed`.
    pub feed_polls: Family<Counter>,
    /// Responses by what was fetched (`feed`, `page`) and status class (`2xx` .. `5xx`).
    pub http_responses: Family<Counter>,
    /// Body bytes fetched (after decompression) by `kind`.
    pub fetched_bytes: Family<Counter>,
    /// Fetch latency by `kind`, redirects and body included.
    pub fetch_seconds: Family<Histogram>,
    /// Time to extract one page.
    pub extract_seconds: Histogram,
    /// Articles seen for the first time (revision 1).
    pub articles_detected: Counter,
    /// Revisions of known articles (revision 2 and later).
    pub revisions_detected: Counter,
    /// Events the sink confirmed.
    pub events_published: Counter,
    /// Events moved to the dead-letter table after the broker refused them too often.
    pub outbox_dead_letters: Counter,
    /// Errors by kind (fetch and feed error kinds, `store`, `feed_panic`, `extraction_panic`,
    /// `panic`, `publish`, ...).
    pub errors: Family<Counter>,
    /// Events waiting in the outbox, as of the last sample.
    pub outbox_depth: Gauge,
    /// Age of the oldest event in the outbox (since its page was fetched), as of the last sample.
    pub outbox_oldest_age: Gauge,
    /// 1 while connected to the broker.
    pub broker_connected: Gauge,
    /// 1 while the broker blocks publishing (`connection.blocked`: a memory or disk alarm).
    pub broker_blocked: Gauge,
    /// Time the broker blocked publishing.
    pub broker_blocked_seconds: SecondsCounter,
    /// Time polling was paused because the outbox was over its bound.
    pub polling_paused_seconds: SecondsCounter,
    /// Feeds being polled.
    pub feeds: Gauge,
    /// Page jobs waiting in the frontier (new entries, retries, re-checks).
    pub page_jobs: Gauge,
    /// Sites with a running scheduler.
    pub sites: Gauge,
    /// With replicas: site leases this replica holds, leases it lost, replicas alive, and
    /// whether it relays the outbox.
    pub leases: Gauge,
    pub lease_losses: Counter,
    pub replicas: Gauge,
    pub relay: Gauge,
    /// Database round trips this replica made (sampled).
    pub db_round_trips: Gauge,
    /// This replica's id, when replicas share the store.
    replica: Mutex<Option<String>>,
    broker: Mutex<Option<BrokerStatus>>,
    blocked_since: Mutex<Option<Instant>>,
    paused_since: Mutex<Option<Instant>>,
    sink_is_broker: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let m = Metrics {
            started: Instant::now(),
            feed_polls: Family::new(&["outcome"], Counter::default),
            http_responses: Family::new(&["kind", "class"], Counter::default),
            fetched_bytes: Family::new(&["kind"], Counter::default),
            fetch_seconds: Family::new(&["kind"], || Histogram::new(FETCH_BUCKETS)),
            extract_seconds: Histogram::new(EXTRACT_BUCKETS),
            articles_detected: Counter::default(),
            revisions_detected: Counter::default(),
            events_published: Counter::default(),
            outbox_dead_letters: Counter::default(),
            errors: Family::new(&["kind"], Counter::default),
            outbox_depth: Gauge::default(),
            outbox_oldest_age: Gauge::default(),
            broker_connected: Gauge::default(),
            broker_blocked: Gauge::default(),
            broker_blocked_seconds: SecondsCounter::default(),
            polling_paused_seconds: SecondsCounter::default(),
            feeds: Gauge::default(),
            page_jobs: Gauge::default(),
            sites: Gauge::default(),
            leases: Gauge::default(),
            lease_losses: Counter::default(),
            replicas: Gauge::default(),
            relay: Gauge::default(),
            db_round_trips: Gauge::default(),
            replica: Mutex::new(None),
            broker: Mutex::new(None),
            blocked_since: Mutex::new(None),
            paused_since: Mutex::new(None),
            sink_is_broker: AtomicBool::new(false),
        };
        for outcome in ["entries", "not_modified", "failed"] {
            m.feed_polls.add(&[outcome], 0);
        }
        for kind in ["feed", "page"] {
            m.fetched_bytes.add(&[kind], 0);
            m.fetch_seconds.with(&[kind], |_| ());
            for class in ["2xx", "3xx", "4xx", "5xx"] {
                m.http_responses.add(&[kind, class], 0);
            }
        }
        m
    }

    /// Names the replica in the metrics (when replicas share the store).
    pub fn set_replica(&self, id: &str) {
        *self.replica.lock().expect("replica lock") = Some(id.to_string());
    }

    pub fn replica(&self) -> Option<String> {
        self.replica.lock().expect("replica lock").clone()
    }

    /// Records one completed fetch.
    pub fn fetched(&self, kind: &str, status: u16, bytes: usize, took: Duration) {
        self.http_responses.inc(&[kind, status_class(status)]);
        self.fetched_bytes.add(&[kind], bytes as u64);
        self.fetch_seconds.observe_duration(&[kind], took);
    }

    pub fn error(&self, kind: &str) {
        self.errors.inc(&[kind]);
    }

    /// The sink publishes to a broker: readiness then depends on it.
    pub fn set_sink_is_broker(&self, yes: bool) {
        self.sink_is_broker.store(yes, Ordering::Relaxed);
    }

    pub fn sink_is_broker(&self) -> bool {
        self.sink_is_broker.load(Ordering::Relaxed)
    }

    /// The publisher's hook: the connection it now publishes on, sampled by [`Metrics::sample_broker`].
    pub fn watch_broker(&self, status: BrokerStatus) {
        *self.broker.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
        self.sample_broker();
    }

    /// Refreshes the broker gauges and the blocked time from the watched connection.
    pub fn sample_broker(&self) {
        let (connected, blocked) = match &*self.broker.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(s) => (s.connected(), s.connected() && s.blocked()),
            None => (false, false),
        };
        self.broker_connected.set(connected as i64);
        self.broker_blocked.set(blocked as i64);
        accumulate(&self.blocked_since, blocked, &self.broker_blocked_seconds);
    }

    /// Records the outbox as sampled: its depth, the age of its oldest event, and whether it is
    /// at `limit` (polling is then paused; the time counts towards the paused seconds).
    pub fn sample_outbox(&self, depth: u64, oldest_age_secs: i64, limit: u64) {
        self.outbox_depth.set(depth as i64);
        self.outbox_oldest_age.set(oldest_age_secs);
        accumulate(
            &self.paused_since,
            depth >= limit,
            &self.polling_paused_seconds,
        );
    }

    /// The registry in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let w = &mut out;
        family(
            w,
            "newswire_build_info",
            "gauge",
            "Version of the running newswire.",
        );
        let _ = writeln!(
            w,
            "newswire_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        if let Some(id) = self.replica() {
            family(
                w,
                "newswire_replica_info",
                "gauge",
                "This replica's id (several replicas share the state).",
            );
            let _ = writeln!(
                w,
                "newswire_replica_info{{replica=\"{}\"}} 1",
                escape_label(&id)
            );
            gauge(
                w,
                "newswire_site_leases",
                "Site leases this replica holds.",
                self.leases.get(),
            );
            counter(
                w,
                "newswire_site_lease_losses_total",
                "Site leases this replica lost before giving them back.",
                self.lease_losses.get(),
            );
            gauge(
                w,
                "newswire_replicas",
                "Replicas alive, as of the last lease round.",
                self.replicas.get(),
            );
            gauge(
                w,
                "newswire_outbox_relay",
                "1 while this replica relays the outbox to the sink.",
                self.relay.get(),
            );
            gauge(
                w,
                "newswire_db_round_trips",
                "Database round trips this replica has made.",
                self.db_round_trips.get(),
            );
        }
        gauge(
            w,
            "newswire_uptime_seconds",
            "Seconds since the process started.",
            self.started.elapsed().as_secs() as i64,
        );
        gauge(w, "newswire_feeds", "Feeds being polled.", self.feeds.get());
        gauge(
            w,
            "newswire_page_jobs",
            "Page jobs waiting in the frontier (new entries, retries, re-checks).",
            self.page_jobs.get(),
        );
        gauge(
            w,
            "newswire_sites",
            "Sites with a running scheduler.",
            self.sites.get(),
        );
        counters(
            w,
            "newswire_feed_polls_total",
            "Feed polls by outcome.",
            &self.feed_polls,
        );
        counters(
            w,
            "newswire_http_responses_total",
            "HTTP responses by what was fetched and status class.",
            &self.http_responses,
        );
        counters(
            w,
            "newswire_fetched_bytes_total",
            "Body bytes fetched, after decompression.",
            &self.fetched_bytes,
        );
        family(
            w,
            "newswire_fetch_duration_seconds",
            "histogram",
            "Fetch latency, redirects and body included.",
        );
        self.fetch_seconds
            .each(|labels, h| histogram(w, "newswire_fetch_duration_seconds", &labels, h));
        family(
            w,
            "newswire_extraction_duration_seconds",
            "histogram",
            "Time to extract one article page.",
        );
        histogram(
            w,
            "newswire_extraction_duration_seconds",
            "",
            &self.extract_seconds,
        );
        counter(
            w,
            "newswire_articles_detected_total",
            "New articles (first revision stored).",
            self.articles_detected.get(),
        );
        counter(
            w,
            "newswire_revisions_detected_total",
            "Revisions of known articles (revision 2 and later).",
            self.revisions_detected.get(),
        );
        counter(
            w,
            "newswire_events_published_total",
            "Events the sink confirmed.",
            self.events_published.get(),
        );
        counter(
            w,
            "newswire_outbox_dead_letters_total",
            "Events moved to the dead-letter table after publish.max_attempts refusals by the broker.",
            self.outbox_dead_letters.get(),
        );
        gauge(
            w,
            "newswire_outbox_depth",
            "Events waiting in the outbox.",
            self.outbox_depth.get(),
        );
        gauge(
            w,
            "newswire_outbox_oldest_age_seconds",
            "Age of the oldest event in the outbox (0 when empty).",
            self.outbox_oldest_age.get(),
        );
        gauge(
            w,
            "newswire_broker_connected",
            "1 while connected to the broker.",
            self.broker_connected.get(),
        );
        gauge(
            w,
            "newswire_broker_blocked",
            "1 while the broker blocks publishing (resource alarm).",
            self.broker_blocked.get(),
        );
        family(
            w,
            "newswire_broker_blocked_seconds_total",
            "counter",
            "Time the broker blocked publishing.",
        );
        let _ = writeln!(
            w,
            "newswire_broker_blocked_seconds_total {}",
            float(self.broker_blocked_seconds.get())
        );
        family(
            w,
            "newswire_polling_paused_seconds_total",
            "counter",
            "Time polling was paused because the outbox was over its bound.",
        );
        let _ = writeln!(
            w,
            "newswire_polling_paused_seconds_total {}",
            float(self.polling_paused_seconds.get())
        );
        counters(w, "newswire_errors_total", "Errors by kind.", &self.errors);
        out
    }
}

/// Adds the time since the last sample to `total` if the condition held then, and remembers
/// whether it holds now.
fn accumulate(since: &Mutex<Option<Instant>>, holds: bool, total: &SecondsCounter) {
    let mut since = since.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    if let Some(t) = since.take() {
        total.add(now - t);
    }
    if holds {
        *since = Some(now);
    }
}

/// `2xx`, `3xx`, `4xx`, `5xx` (or `other`).
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

fn family(w: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(w, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn counter(w: &mut String, name: &str, help: &str, v: u64) {
    family(w, name, "counter", help);
    let _ = writeln!(w, "{name} {v}");
}

fn gauge(w: &mut String, name: &str, help: &str, v: i64) {
    family(w, name, "gauge", help);
    let _ = writeln!(w, "{name} {v}");
}

fn counters(w: &mut String, name: &str, help: &str, f: &Family<Counter>) {
    family(w, name, "counter", help);
    f.each(|labels, c| {
        let _ = writeln!(w, "{name}{{{labels}}} {}", c.get());
    });
}

fn histogram(w: &mut String, name: &str, labels: &str, h: &Histogram) {
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0;
    for (i, bucket) in h.buckets.iter().enumerate() {
        cumulative += bucket.load(Ordering::Relaxed);
        let le = h
            .bounds
            .get(i)
            .map_or_else(|| "+Inf".to_owned(), |b| float(*b));
        let _ = writeln!(w, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}");
    }
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(w, "{name}_sum{braces} {}", float(h.sum.get()));
    let _ = writeln!(w, "{name}_count{braces} {}", h.count());
}

/// A float as Prometheus reads it (`+Inf`, `NaN`, else the shortest exact decimal).
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses the text format strictly enough to catch malformed lines: every sample line is
    /// `name{labels} value` with a float value, and belongs to the last `# TYPE` seen.
    fn samples(text: &str) -> Vec<(String, f64)> {
        let mut current_type: Option<String> = None;
        let mut out = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                current_type = Some(name.to_owned());
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("no value: {line}"));
            let v: f64 = if value == "+Inf" {
                f64::INFINITY
            } else {
                value
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value: {line}"))
            };
            let name = series.split('{').next().unwrap();
            let family = current_type.as_deref().expect("sample after a TYPE line");
            assert!(name.starts_with("newswire_"), "{line}");
            assert!(
                name == family
                    || name
                        .strip_prefix(family)
                        .is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s)),
                "{line} outside {family}"
            );
            if series.contains('{') {
                assert!(series.ends_with('}'), "{line}");
            }
            out.push((series.to_owned(), v));
        }
        out
    }

    fn value(text: &str, series: &str) -> f64 {
        samples(text)
            .into_iter()
            .find(|(s, _)| s == series)
            .unwrap_or_else(|| panic!("{series} missing:\n{text}"))
            .1
    }

    #[test]
    fn fresh_registry_renders_every_family_with_zeros() {
        let text = Metrics::new().render();
        samples(&text);
        for family in [
            "newswire_feed_polls_total",
            "newswire_http_responses_total",
            "newswire_fetched_bytes_total",
            "newswire_fetch_duration_seconds",
            "newswire_extraction_duration_seconds",
            "newswire_articles_detected_total",
            "newswire_revisions_detected_total",
            "newswire_events_published_total",
            "newswire_outbox_depth",
            "newswire_outbox_dead_letters_total",
            "newswire_outbox_oldest_age_seconds",
            "newswire_broker_connected",
            "newswire_broker_blocked_seconds_total",
            "newswire_polling_paused_seconds_total",
            "newswire_errors_total",
        ] {
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{family} missing:\n{text}"
            );
        }
        assert_eq!(
            value(&text, "newswire_feed_polls_total{outcome=\"failed\"}"),
            0.0
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
        let text = m.render();
        assert_eq!(
            value(&text, "newswire_feed_polls_total{outcome=\"entries\"}"),
            2.0
        );
        assert_eq!(
            value(
                &text,
                "newswire_http_responses_total{kind=\"page\",class=\"4xx\"}"
            ),
            1.0
        );
        assert_eq!(
            value(&text, "newswire_fetched_bytes_total{kind=\"page\"}"),
            1010.0
        );
        assert_eq!(value(&text, "newswire_errors_total{kind=\"timeout\"}"), 1.0);
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
        let text = m.render();
        let b = |le: &str| {
            value(
                &text,
                &format!("newswire_extraction_duration_seconds_bucket{{le=\"{le}\"}}"),
            )
        };
        assert_eq!(b("0.001"), 1.0);
        assert_eq!(b("0.005"), 3.0);
        assert_eq!(b("0.25"), 4.0);
        assert_eq!(b("2.5"), 4.0);
        assert_eq!(b("+Inf"), 5.0);
        assert_eq!(
            value(&text, "newswire_extraction_duration_seconds_count"),
            5.0
        );
        assert!((value(&text, "newswire_extraction_duration_seconds_sum") - 99.2065).abs() < 1e-9);
        m.fetch_seconds
            .observe_duration(&["feed"], Duration::from_millis(70));
        let text = m.render();
        assert_eq!(
            value(
                &text,
                "newswire_fetch_duration_seconds_bucket{kind=\"feed\",le=\"0.05\"}"
            ),
            0.0
        );
        assert_eq!(
            value(
                &text,
                "newswire_fetch_duration_seconds_bucket{kind=\"feed\",le=\"0.1\"}"
            ),
            1.0
        );
        assert_eq!(
            value(
                &text,
                "newswire_fetch_duration_seconds_count{kind=\"feed\"}"
            ),
            1.0
        );
    }

    #[test]
    fn floats_in_prometheus_spelling() {
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(0.25), "0.25");
        assert_eq!(float(30.0), "30");
        assert_eq!(status_class(304), "3xx");
    }
}
