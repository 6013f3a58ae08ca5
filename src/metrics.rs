//! The metrics registry, on `prometheus-client`: one typed [`Registry`] holding every
//! `newswire_*` family, rendered in the OpenMetrics text format by [`Metrics::render`] (what
//! Prometheus asks for first; the sample names are those of the Prometheus text format).
//!
//! One [`Metrics`] is made per process by the daemon and passed to the stages (in
//! [`crate::pipeline::Pipeline`], the publisher and the HTTP listener) as an `Arc`; there is no
//! global. Label sets known in advance are created at start, so a family shows zeros instead of
//! being absent before its first event.
//!
//! Every histogram in newswire is prometheus-client's [`Histogram`]; [`Latency`] reads one back
//! as quantiles for the benchmarks' summaries.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
pub use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::Registry;

/// Bucket bounds (seconds) of fetch latency: a feed or page over the network.
pub const FETCH_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Bucket bounds (seconds) of extraction latency: parsing one page.
pub const EXTRACT_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A latency histogram for summaries (the benchmarks' publish-to-confirm time and poll
/// lateness): prometheus-client's [`Histogram`] with 8 buckets per doubling (about 9 %
/// resolution) from 1 µs to about 18 minutes, read back as quantiles.
#[derive(Debug, Clone)]
pub struct Latency(pub Histogram);

impl Default for Latency {
    fn default() -> Self {
        Latency(Histogram::new(exponential_buckets(
            1e-6,
            2f64.powf(1.0 / 8.0),
            30 * 8,
        )))
    }
}

impl Latency {
    pub fn record(&self, d: Duration) {
        self.0.observe(d.as_secs_f64());
    }

    /// The `q` quantile (0..=1), as the upper bound of its bucket (`Duration::MAX` past the
    /// last); `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let buckets = buckets(&self.0);
        let total = buckets.last()?.1;
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        buckets
            .iter()
            .find(|(_, n)| *n >= rank)
            .map(|(le, _)| secs(*le))
    }

    /// The upper bound of the highest bucket with an observation; `None` when empty.
    pub fn max(&self) -> Option<Duration> {
        self.quantile(1.0)
    }
}

fn secs(le: f64) -> Duration {
    Duration::try_from_secs_f64(le).unwrap_or(Duration::MAX)
}

/// Cumulative `(upper bound, count)` pairs, `+Inf` last. The encoder is prometheus-client's
/// only view of the bucket counts, so the histogram is encoded on its own and its `_bucket`
/// lines read back.
fn buckets(h: &Histogram) -> Vec<(f64, u64)> {
    let mut registry = Registry::default();
    registry.register("h", "", h.clone());
    let mut text = String::new();
    let _ = encode(&mut text, &registry);
    text.lines()
        .filter_map(|l| l.strip_prefix("h_bucket{le=\""))
        .filter_map(|l| {
            let (le, n) = l.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, n.trim().parse().ok()?))
        })
        .collect()
}

type Labels = Vec<(&'static str, String)>;

/// A family told apart by label values given in a fixed order (`&["page", "2xx"]`).
pub struct Labelled<M> {
    names: &'static [&'static str],
    family: Family<Labels, M, fn() -> M>,
}

impl<M> Labelled<M> {
    fn new(names: &'static [&'static str], make: fn() -> M) -> Self {
        Labelled {
            names,
            family: Family::new_with_constructor(make),
        }
    }

    fn labels(&self, values: &[&str]) -> Labels {
        debug_assert_eq!(values.len(), self.names.len(), "one value per label");
        self.names
            .iter()
            .zip(values)
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect()
    }

    /// Runs `f` on the series with these label values, creating it if new.
    pub fn with<R>(&self, values: &[&str], f: impl FnOnce(&M) -> R) -> R {
        f(&self.family.get_or_create(&self.labels(values)))
    }
}

impl Labelled<Counter> {
    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1);
    }

    pub fn add(&self, values: &[&str], n: u64) {
        self.with(values, |c| c.inc_by(n));
    }

    pub fn get(&self, values: &[&str]) -> u64 {
        self.with(values, Counter::get)
    }
}

impl Labelled<Histogram> {
    pub fn observe_duration(&self, values: &[&str], d: Duration) {
        self.with(values, |h| h.observe(d.as_secs_f64()));
    }
}

/// Seconds as a float counter (`*_seconds_total`).
pub type SecondsCounter = Counter<f64, AtomicU64>;

/// What the broker connection looks like now; read at every sample.
pub type BrokerStatus = lapin::ConnectionStatus;

/// Every metric newswire exports. The fields are handles into the registry.
pub struct Metrics {
    registry: Mutex<Registry>,
    started: Instant,
    uptime: Gauge,
    /// Feed polls by outcome: `entries`, `not_modified`, `failed`.
    pub feed_polls: Labelled<Counter>,
    /// Responses by what was fetched (`feed`, `page`) and status class (`2xx` .. `5xx`).
    pub http_responses: Labelled<Counter>,
    /// Body bytes fetched (after decompression) by `kind`.
    pub fetched_bytes: Labelled<Counter>,
    /// Fetch latency by `kind`, redirects and body included.
    pub fetch_seconds: Labelled<Histogram>,
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
    /// Errors by kind (fetch and feed error kinds, `store`, `feed_panic`, `extraction_panic`, `track_panic`,
    /// `panic`, `publish`, ...).
    pub errors: Labelled<Counter>,
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

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// `newswire_build_info{version="..."} 1` and the like: a gauge family with one series at 1.
fn info(r: &mut Registry, name: &str, help: &str, label: &'static str, value: &str) {
    let family = Family::<Labels, Gauge>::default();
    family
        .get_or_create(&vec![(label, value.to_owned())])
        .set(1);
    r.register(name, help, family);
}

impl Metrics {
    pub fn new() -> Self {
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            started: Instant::now(),
            uptime: Gauge::default(),
            feed_polls: Labelled::new(&["outcome"], Counter::default),
            http_responses: Labelled::new(&["kind", "class"], Counter::default),
            fetched_bytes: Labelled::new(&["kind"], Counter::default),
            fetch_seconds: Labelled::new(&["kind"], || {
                Histogram::new(FETCH_BUCKETS.iter().copied())
            }),
            extract_seconds: Histogram::new(EXTRACT_BUCKETS.iter().copied()),
            articles_detected: Counter::default(),
            revisions_detected: Counter::default(),
            events_published: Counter::default(),
            outbox_dead_letters: Counter::default(),
            errors: Labelled::new(&["kind"], Counter::default),
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
        // The commonest error kinds, so alerts on them start from zero (an empty family is not
        // rendered at all).
        for kind in [
            "network",
            "timeout",
            "too_large",
            "blocked",
            "store",
            "publish",
        ] {
            m.errors.add(&[kind], 0);
        }
        for kind in ["feed", "page"] {
            m.fetched_bytes.add(&[kind], 0);
            m.fetch_seconds.with(&[kind], |_| ());
            for class in ["2xx", "3xx", "4xx", "5xx"] {
                m.http_responses.add(&[kind, class], 0);
            }
        }
        {
            // Counters are registered without `_total` and help texts without a final period: the
            // encoder adds both.
            let mut r = m.registry.lock().expect("registry lock");
            let r = &mut *r;
            info(
                r,
                "newswire_build_info",
                "Version of the running newswire",
                "version",
                env!("CARGO_PKG_VERSION"),
            );
            let gauges = [
                (
                    "uptime_seconds",
                    "Seconds since the process started",
                    &m.uptime,
                ),
                ("feeds", "Feeds being polled", &m.feeds),
                (
                    "page_jobs",
                    "Page jobs waiting in the frontier (new entries, retries, re-checks)",
                    &m.page_jobs,
                ),
                ("sites", "Sites with a running scheduler", &m.sites),
                (
                    "outbox_depth",
                    "Events waiting in the outbox",
                    &m.outbox_depth,
                ),
                (
                    "outbox_oldest_age_seconds",
                    "Age of the oldest event in the outbox (0 when empty)",
                    &m.outbox_oldest_age,
                ),
                (
                    "broker_connected",
                    "1 while connected to the broker",
                    &m.broker_connected,
                ),
                (
                    "broker_blocked",
                    "1 while the broker blocks publishing (resource alarm)",
                    &m.broker_blocked,
                ),
            ];
            for (name, help, g) in gauges {
                r.register(format!("newswire_{name}"), help, g.clone());
            }
            let counters = [
                (
                    "articles_detected",
                    "New articles (first revision stored)",
                    &m.articles_detected,
                ),
                (
                    "revisions_detected",
                    "Revisions of known articles (revision 2 and later)",
                    &m.revisions_detected,
                ),
                (
                    "events_published",
                    "Events the sink confirmed",
                    &m.events_published,
                ),
                (
                    "outbox_dead_letters",
                    "Events moved to the dead letters after the broker refused them too often",
                    &m.outbox_dead_letters,
                ),
            ];
            for (name, help, c) in counters {
                r.register(format!("newswire_{name}"), help, c.clone());
            }
            let families = [
                ("feed_polls", "Feed polls by outcome", &m.feed_polls),
                (
                    "http_responses",
                    "HTTP responses by what was fetched and status class",
                    &m.http_responses,
                ),
                (
                    "fetched_bytes",
                    "Body bytes fetched, after decompression",
                    &m.fetched_bytes,
                ),
                ("errors", "Errors by kind", &m.errors),
            ];
            for (name, help, f) in families {
                r.register(format!("newswire_{name}"), help, f.family.clone());
            }
            r.register(
                "newswire_fetch_duration_seconds",
                "Fetch latency, redirects and body included",
                m.fetch_seconds.family.clone(),
            );
            r.register(
                "newswire_extraction_duration_seconds",
                "Time to extract one article page",
                m.extract_seconds.clone(),
            );
            r.register(
                "newswire_broker_blocked_seconds",
                "Time the broker blocked publishing",
                m.broker_blocked_seconds.clone(),
            );
            r.register(
                "newswire_polling_paused_seconds",
                "Time polling was paused because the outbox was over its bound",
                m.polling_paused_seconds.clone(),
            );
        }
        m
    }

    /// Names the replica in the metrics (when replicas share the store), and adds the families
    /// that only mean something with replicas. Called once, at start.
    pub fn set_replica(&self, id: &str) {
        let mut slot = self.replica.lock().expect("replica lock");
        if slot.replace(id.to_string()).is_some() {
            return;
        }
        let mut r = self.registry.lock().expect("registry lock");
        let r = &mut *r;
        info(
            r,
            "newswire_replica_info",
            "This replica's id (several replicas share the state)",
            "replica",
            id,
        );
        let gauges = [
            (
                "site_leases",
                "Site leases this replica holds",
                &self.leases,
            ),
            (
                "replicas",
                "Replicas alive, as of the last lease round",
                &self.replicas,
            ),
            (
                "outbox_relay",
                "1 while this replica relays the outbox to the sink",
                &self.relay,
            ),
            (
                "db_round_trips",
                "Database round trips this replica has made",
                &self.db_round_trips,
            ),
        ];
        for (name, help, g) in gauges {
            r.register(format!("newswire_{name}"), help, g.clone());
        }
        r.register(
            "newswire_site_lease_losses",
            "Site leases this replica lost before giving them back",
            self.lease_losses.clone(),
        );
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

    /// The registry in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        self.uptime.set(self.started.elapsed().as_secs() as i64);
        let mut out = String::with_capacity(8 * 1024);
        let r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &r);
        out
    }
}

/// Adds the time since the last sample to `total` if the condition held then, and remembers
/// whether it holds now.
fn accumulate(since: &Mutex<Option<Instant>>, holds: bool, total: &SecondsCounter) {
    let mut since = since.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    if let Some(t) = since.take() {
        total.inc_by((now - t).as_secs_f64());
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

#[cfg(test)]
mod tests;
