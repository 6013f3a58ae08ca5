//! The daemon (`newswire run`): the pipeline driven live by the frontier's site schedulers, the
//! publisher draining the outbox, the operator's listener, WebSub, and the reload of the feed
//! list (SIGHUP, a changed feeds file).
//!
//! With PostgreSQL (`state.url`) the daemon is one of several replicas: it runs the schedulers
//! of the sites it leases, and publishes only while it holds the outbox relay's lease (one relay
//! at a time keeps per-article order; when it dies the next holder republishes what was not
//! confirmed).
//!
//! Shutdown: the token stops every site scheduler; in-flight work finishes within
//! `shutdown.drain` (a page job not finished stays in the store and runs at the next start);
//! leases are given back; the publisher then flushes the outbox within `shutdown.flush`.
//! Nothing accepted is lost: what was not published stays in the outbox.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::config::{Settings, SinkKind};
use crate::fetch::Fetcher;
use crate::frontier::{Frontier, FrontierConfig, PollStats};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::publish::{AmqpSink, Publisher, Sink};
use crate::schedule::politeness::Politeness;
use crate::schedule::{Clock, SystemClock};
use crate::store::Store;
use crate::transport::{Live, Recorder, Transport};
use crate::websub::WebSub;

/// The sink chosen in the settings.
pub fn sink_for(settings: &Settings, kind: SinkKind) -> Sink {
    match kind {
        SinkKind::Stdout => Sink::Stdout(Box::new(std::io::stdout())),
        SinkKind::Amqp => Sink::Amqp(Box::new(AmqpSink::new(settings.amqp.clone()))),
    }
}

pub(crate) fn publisher(settings: &Settings, store: Store, sink: Sink) -> Publisher {
    Publisher::new(
        store,
        sink,
        settings.amqp.window,
        settings.amqp.retry_min.0,
        settings.amqp.retry_max.0,
    )
    .with_max_attempts(settings.publish.max_attempts)
}

/// How `run` is driven beyond its settings.
#[derive(Default)]
pub struct RunOptions {
    /// The settings file, re-read on reload for `feeds.urls` (with the environment on top).
    pub config_path: Option<PathBuf>,
    /// Notified on SIGHUP: the feed list is reloaded.
    pub reload: Option<Arc<Notify>>,
    /// Record every fetch to WARC files in this directory (overrides `record.dir`).
    pub record: Option<PathBuf>,
    /// Poll counts and lateness, for the caller to read (a benchmark, a test).
    pub stats: Option<Arc<PollStats>>,
    /// The scheduler's wall clock (default: the system clock).
    pub clock: Option<Arc<dyn Clock>>,
    /// Where events go instead of `publish.sink` (a benchmark's in-memory writer).
    pub sink: Option<Sink>,
}

/// The daemon: polls every feed on its schedule until `shutdown`, then shuts down gracefully.
///
/// # Errors
/// Start-up failures: the state store cannot be opened, the feeds file is unreadable, or the
/// HTTP client cannot be built. Failures after start-up are logged and retried, never fatal.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_with(settings, shutdown, RunOptions::default()).await
}

/// [`run`] with options: reload signal, recording, stats, clock.
///
/// # Errors
/// As [`run`]; also a recording directory that cannot be created.
pub async fn run_with(
    settings: Settings,
    shutdown: CancellationToken,
    mut options: RunOptions,
) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    let store = Store::connect(&settings).await?;
    let feeds: Vec<Url> = crate::subscriptions::all(&settings, &store)
        .await?
        .into_iter()
        .map(|f| f.url)
        .collect();
    let fetcher = Fetcher::new(&settings.fetch.to_fetch_settings())?;
    let politeness = Arc::new(Politeness::new(settings.politeness_settings()));
    let mut live = Live::new(fetcher.clone()).with_politeness(politeness.clone());
    let record_dir = options
        .record
        .clone()
        .or_else(|| (!settings.record.dir.is_empty()).then(|| PathBuf::from(&settings.record.dir)));
    if let Some(dir) = &record_dir {
        let recorder = Recorder::new(dir, settings.record.max_bytes)
            .map_err(|e| anyhow::anyhow!("record: {}: {e}", dir.display()))?;
        tracing::info!(dir = %dir.display(), "recording every fetch to WARC");
        live = live.with_recorder(Arc::new(recorder));
    }
    if settings.politeness.robots {
        live = live.with_robots(&settings.fetch.user_agent);
    }
    let clock: Arc<dyn Clock> = options
        .clock
        .clone()
        .unwrap_or_else(|| Arc::new(SystemClock));
    let stop_intake = CancellationToken::new();
    let metrics = Arc::new(Metrics::new());
    metrics.set_sink_is_broker(settings.publish.sink == SinkKind::Amqp);
    if let Some(id) = store.replica() {
        metrics.set_replica(id);
    }
    let pipeline = Arc::new(
        Pipeline::new(settings.clone(), Transport::Live(live), store.clone())
            .with_metrics(metrics.clone())
            .with_clock(clock.clone()),
    );
    let stop_server = CancellationToken::new();
    let (server_task, operator) = start_server(&settings, &store, &metrics, &stop_server).await?;

    let stop_publisher = CancellationToken::new();
    let state = if store.replica().is_some() {
        format!("postgres, replica {}", store.replica().unwrap_or_default())
    } else {
        settings.state.path.display().to_string()
    };
    tracing::info!(feeds = feeds.len(), state = %state, outbox = store.outbox_len(), page_jobs = store.pending_jobs(), sink = ?settings.publish.sink, "newswire started");
    let relay = Relay {
        settings: settings.clone(),
        store: store.clone(),
        metrics: metrics.clone(),
        wake: pipeline.publisher_wake(),
        stop: stop_publisher.clone(),
    };
    let publisher_task = tokio::spawn(relay.run(options.sink.take()));

    let frontier = Frontier::new(
        pipeline.clone(),
        FrontierConfig {
            policy: settings.schedule_policy(),
            clock,
            politeness,
            poll_concurrency: settings.poll.concurrency,
            page_concurrency: settings.scrape.concurrency,
            outbox_limit: settings.publish.outbox_limit,
            stop: stop_intake.clone(),
            stats: options.stats.clone().unwrap_or_default(),
            lease: store.replica().map(|_| settings.state.lease.0),
        },
    );
    if settings.websub.enabled() {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        frontier.set_adverts(tx);
        frontier.accept_pushes(PUSH_QUEUE);
        let websub = WebSub::new(
            settings.websub.clone(),
            fetcher,
            store.clone(),
            frontier.clone(),
            settings.fetch.max_feed_bytes,
        )?;
        // One listener for both when the two settings name the same address.
        let shared = operator
            .as_ref()
            .filter(|_| settings.websub.listen == settings.server.listen)
            .map(|(addr, routes)| (*addr, &**routes));
        websub.start(rx, shared, stop_intake.clone()).await?;
    }
    frontier.sync(&feeds).await;
    let waiting = frontier.resume().await?;
    if waiting > 0 {
        tracing::info!(
            sites = waiting,
            page_jobs = store.pending_jobs(),
            "page jobs from an earlier run resume"
        );
    }
    let tracker = frontier.tracker().clone();
    // Leases are kept through the drain and the flush, then given back.
    let stop_leases = CancellationToken::new();
    let leases_task = tokio::spawn(frontier.clone().keep_leases(stop_leases.clone()));
    tracker.spawn(reload_loop(
        frontier.clone(),
        store.clone(),
        settings.clone(),
        options.config_path.clone(),
        options.reload.clone(),
        stop_intake.clone(),
    ));

    shutdown.cancelled().await;
    tracing::info!("shutting down: no new polls or page jobs; finishing in-flight work");
    stop_intake.cancel();
    tracker.close();
    if tokio::time::timeout(settings.shutdown.drain.0, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "in-flight work did not finish within shutdown.drain; its page jobs run again at the next start"
        );
    }
    stop_publisher.cancel();
    let st = publisher_task.await.unwrap_or_default();
    stop_leases.cancel();
    let _ = leases_task.await;
    if store.replica().is_some()
        && let Err(e) = store.release_leases().await
    {
        tracing::warn!(error = %e, "leases not given back; other replicas take them when they run out");
    }
    stop_server.cancel();
    let _ = server_task.await;
    tracing::info!(
        outbox = store.outbox_len(),
        page_jobs = store.pending_jobs(),
        published = st.published,
        nacked = st.nacked,
        returned = st.returned,
        timed_out = st.timed_out,
        dead_lettered = st.dead_lettered,
        errored = st.errored,
        connects = st.connects,
        "newswire stopped"
    );
    Ok(())
}

/// Runs the publisher while this process holds the outbox relay's lease (always, with a store
/// only it uses), renewing it every third of `state.lease`; stops publishing at once when the
/// lease is lost, and starts again when it is won back.
struct Relay {
    settings: Arc<Settings>,
    store: Store,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    stop: CancellationToken,
}

impl Relay {
    /// Returns the last publisher's figures.
    async fn run(self, mut first_sink: Option<Sink>) -> crate::publish::StatusSnapshot {
        let ttl = self.settings.state.lease.0;
        let mut last = crate::publish::StatusSnapshot::default();
        while !self.stop.is_cancelled() {
            if !self.renew(ttl).await.unwrap_or(false) {
                tokio::select! {
                    _ = tokio::time::sleep(ttl / 3) => continue,
                    _ = self.stop.cancelled() => break,
                }
            }
            if self.store.replica().is_some() {
                tracing::info!("this replica relays the outbox");
            }
            self.metrics.relay.set(1);
            let sink = first_sink
                .take()
                .unwrap_or_else(|| sink_for(&self.settings, self.settings.publish.sink));
            let publisher = publisher(&self.settings, self.store.clone(), sink)
                .with_metrics(self.metrics.clone());
            let status = publisher.status();
            let flush = CancellationToken::new();
            let mut task = tokio::spawn(publisher.run(
                self.wake.clone(),
                flush.clone(),
                self.settings.shutdown.flush.0,
            ));
            // Renewed every third of the lease, also while the publisher flushes at shutdown.
            // Lost (or not renewed within most of its time): the publisher stops at once, and
            // what it had not confirmed stays in the outbox for the next relay.
            let mut renewed = tokio::time::Instant::now();
            let kept = loop {
                tokio::select! {
                    _ = &mut task => break true,
                    _ = tokio::time::sleep(ttl / 3) => {}
                    _ = self.stop.cancelled(), if !flush.is_cancelled() => {
                        flush.cancel();
                        continue;
                    }
                }
                match self.renew(ttl).await {
                    Ok(true) => renewed = tokio::time::Instant::now(),
                    Err(_) if renewed.elapsed() < ttl.mul_f64(0.8) => {}
                    _ => break false,
                }
            };
            if !kept {
                task.abort();
                let _ = task.await;
                tracing::warn!(
                    "outbox relay lease lost; publishing stopped, another replica publishes"
                );
            }
            self.metrics.relay.set(0);
            last = status.snapshot();
        }
        last
    }

    /// Takes or renews the relay's lease, within a third of it.
    async fn renew(&self, ttl: Duration) -> Result<bool, ()> {
        match tokio::time::timeout(ttl / 3, self.store.relay_lease(ttl)).await {
            Ok(Ok(held)) => Ok(held),
            _ => Err(()),
        }
    }
}

/// Pushed WebSub content waiting to be read, at most (a hub is asked to retry past it).
const PUSH_QUEUE: usize = 64;

/// A listener's address and what it serves.
type Listening = (std::net::SocketAddr, Arc<crate::server::Routes>);

/// The `/metrics`, `/healthz`, `/readyz` listener if `server.listen` is set (with its address and
/// routes, which the WebSub callback joins when it listens there too), and the task that samples
/// the outbox and the broker connection into the gauges every second.
async fn start_server(
    settings: &Settings,
    store: &Store,
    metrics: &Arc<Metrics>,
    stop: &CancellationToken,
) -> anyhow::Result<(tokio::task::JoinHandle<()>, Option<Listening>)> {
    let health = Arc::new(crate::server::Health {
        metrics: metrics.clone(),
        store: store.clone(),
        outbox_limit: settings.publish.outbox_limit,
    });
    let listener = if settings.server.listen.is_empty() {
        None
    } else {
        let l = crate::server::bind(&settings.server.listen)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "server.listen: cannot listen on {}: {e}",
                    settings.server.listen
                )
            })?;
        tracing::info!(addr = %l.local_addr()?, "serving /metrics, /healthz and /readyz");
        Some(l)
    };
    let routes = Arc::new(crate::server::Routes {
        health: Some(health.clone()),
        ..Default::default()
    });
    let listening = match &listener {
        Some(l) => Some((l.local_addr()?, routes.clone())),
        None => None,
    };
    let stop = stop.clone();
    let task = tokio::spawn(async move {
        let sampler = {
            let (health, stop) = (health.clone(), stop.clone());
            async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => { let _ = health.refresh().await; }
                        _ = stop.cancelled() => return,
                    }
                }
            }
        };
        match listener {
            Some(l) => {
                tokio::join!(sampler, crate::server::serve(l, routes, stop));
            }
            None => sampler.await,
        }
    });
    Ok((task, listening))
}

/// Reloads the feed list on `reload` (SIGHUP: the settings file and the feeds file) and when the
/// feeds file changes (checked every `feeds.watch`): the settings, the feeds file and the feeds
/// imported into the store, as at start. A list that cannot be read is logged and the running
/// feeds stay as they are.
async fn reload_loop(
    frontier: Arc<Frontier>,
    store: Store,
    settings: Arc<Settings>,
    config_path: Option<PathBuf>,
    reload: Option<Arc<Notify>>,
    stop: CancellationToken,
) {
    let reload = reload.unwrap_or_default();
    let watch = settings.feeds.watch.0;
    let stamp = |path: &str| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut current = (*settings).clone();
    let mut feeds_file = current.feeds.file.clone();
    let mut last = stamp(&feeds_file);
    loop {
        let why = tokio::select! {
            _ = reload.notified() => "reload requested",
            _ = tokio::time::sleep(if watch.is_zero() { Duration::from_secs(86_400) } else { watch }) => {
                if watch.is_zero() || feeds_file.is_empty() {
                    continue;
                }
                let now = stamp(&feeds_file);
                if now == last {
                    continue;
                }
                "feeds file changed"
            }
            _ = stop.cancelled() => return,
        };
        if why == "reload requested" {
            match Settings::load(config_path.as_deref()) {
                Ok(s) => current = s,
                Err(e) => {
                    tracing::error!(reason = why, error = %e, "settings unreadable; feed list not reloaded, the running feeds stay");
                    continue;
                }
            }
        }
        feeds_file = current.feeds.file.clone();
        last = stamp(&feeds_file);
        match crate::subscriptions::all(&current, &store).await {
            Ok(all) => {
                let feeds: Vec<Url> = all.into_iter().map(|f| f.url).collect();
                let (added, removed) = frontier.sync(&feeds).await;
                tracing::info!(
                    reason = why,
                    feeds = feeds.len(),
                    added,
                    removed,
                    "feed list reloaded"
                );
            }
            Err(e) => {
                tracing::error!(reason = why, error = %e, "feed list not reloaded; the running feeds stay")
            }
        }
    }
}
