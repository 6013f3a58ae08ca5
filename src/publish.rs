//! Draining the outbox to a sink: RabbitMQ (lapin, publisher confirms) or stdout (NDJSON).
//!
//! Guarantees: at-least-once. A row leaves the outbox only after the sink confirmed it: for
//! AMQP a plain broker ack of a persistent, mandatory message. A confirm error or a confirm
//! timeout leaves the row for a retry after a backoff; each is counted in [`Status`] and logged.
//! A nack or a returned (unroutable) message is the broker refusing that row: the row waits out
//! a backoff of its own (doubling per refusal, `amqp.retry_min` to `amqp.retry_max`) while the
//! rows behind it keep flowing, and after `publish.max_attempts` refusals it moves to the store's
//! dead-letter table with a warning (`newswire outbox list|retry`). Event ids are deterministic,
//! so a message published twice carries the same `message_id` both times; duplicates after a
//! failure are bounded by `amqp.window` (the unconfirmed messages) plus the acks not yet deleted
//! (at most half a window).
//!
//! How it works: rows are published in outbox order through a sliding window of at most
//! `amqp.window` unconfirmed messages; acks are deleted from the outbox in batches. On a failure
//! of the link (or a blocked broker) the pass stops publishing, settles what is in flight, and
//! the next pass (after a capped, jittered exponential backoff) starts again from the oldest row
//! still in the outbox. A refusal does not stop the pass.
//! The connection is supervised: a closed channel (e.g. a deleted exchange) is reopened on the
//! same connection and the topology redeclared; a dead connection (heartbeats, resets, broker
//! restarts) is replaced. While the broker blocks publishers (memory or disk alarm) nothing new
//! is published; what was in flight times out, is treated as not delivered, and the publisher
//! waits for the unblock.
//!
//! How it fails: a broker that is down, blocked or refuses the topology is logged and retried;
//! the events wait in the outbox meanwhile, and the pipeline pauses at `publish.outbox_limit`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ConnectionStatus,
    ExchangeKind,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{AmqpSettings, QueueType};
use crate::event::Event;
use crate::metrics::{Latency, Metrics};
use crate::store::{OutboxRow, Store, StoreError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    #[error("broker at {url}: {reason}")]
    Broker { url: String, reason: String },
    #[error("broker topology: {0}")]
    Topology(String),
    #[error("broker blocks publishers (resource alarm)")]
    Blocked,
    #[error("{failed} of {attempted} messages not confirmed ({reason}); kept for retry")]
    NotConfirmed {
        failed: usize,
        attempted: usize,
        reason: String,
    },
    #[error("stdout: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The publisher's state, shared (behind an `Arc`) with whoever reports health and metrics.
/// Counters only grow; the flags and the depth are the latest known values.
#[derive(Debug, Default)]
pub struct Status {
    connected: AtomicBool,
    blocked: AtomicBool,
    outbox_depth: AtomicU64,
    /// Messages the broker acked (removed from the outbox).
    pub published: AtomicU64,
    pub nacked: AtomicU64,
    pub returned: AtomicU64,
    pub timed_out: AtomicU64,
    /// Events moved to the dead-letter table after `publish.max_attempts` refusals.
    pub dead_lettered: AtomicU64,
    /// Publishes or confirms that failed with a channel or connection error.
    pub errored: AtomicU64,
    /// Connections opened (the first one included).
    pub connects: AtomicU64,
    /// Publish-to-confirm latency of acked messages.
    pub confirm_latency: Latency,
}

/// A point-in-time copy of [`Status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusSnapshot {
    pub connected: bool,
    pub blocked: bool,
    pub outbox_depth: u64,
    pub published: u64,
    pub nacked: u64,
    pub returned: u64,
    pub timed_out: u64,
    pub dead_lettered: u64,
    pub errored: u64,
    pub connects: u64,
}

impl Status {
    /// Connected to the broker with a usable channel.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// The broker blocks publishing (memory or disk alarm).
    pub fn blocked(&self) -> bool {
        self.blocked.load(Ordering::Relaxed)
    }

    /// Events waiting in the outbox, as last counted.
    pub fn outbox_depth(&self) -> u64 {
        self.outbox_depth.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> StatusSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatusSnapshot {
            connected: self.connected(),
            blocked: self.blocked(),
            outbox_depth: self.outbox_depth(),
            published: get(&self.published),
            nacked: get(&self.nacked),
            returned: get(&self.returned),
            timed_out: get(&self.timed_out),
            dead_lettered: get(&self.dead_lettered),
            errored: get(&self.errored),
            connects: get(&self.connects),
        }
    }

    fn set_connected(&self, v: bool) {
        self.connected.store(v, Ordering::Relaxed);
    }

    fn set_blocked(&self, v: bool) {
        self.blocked.store(v, Ordering::Relaxed);
    }

    fn set_depth(&self, n: u64) {
        self.outbox_depth.store(n, Ordering::Relaxed);
    }

    fn removed(&self, n: u64) {
        let _ = self
            .outbox_depth
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                Some(d.saturating_sub(n))
            });
    }
}

/// Where events go. Both sinks are fed from the outbox, so stdout shows exactly what the broker
/// would have received.
pub enum Sink {
    Stdout(Box<dyn Write + Send>),
    Amqp(Box<AmqpSink>),
}

/// Moves events from the outbox to the sink.
pub struct Publisher {
    store: Store,
    sink: Sink,
    window: usize,
    retry_min: Duration,
    retry_max: Duration,
    status: Arc<Status>,
    metrics: Option<Arc<Metrics>>,
}

impl Publisher {
    pub fn new(
        store: Store,
        sink: Sink,
        window: usize,
        retry_min: Duration,
        retry_max: Duration,
    ) -> Self {
        let status = Arc::new(Status::default());
        status.set_depth(store.outbox_len());
        Publisher {
            store,
            sink,
            window: window.max(1),
            retry_min,
            retry_max,
            status,
            metrics: None,
        }
    }

    /// Counts confirmed events and reports the broker connection into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        if let Sink::Amqp(a) = &mut self.sink {
            a.metrics = Some(metrics.clone());
        }
        self.metrics = Some(metrics);
        self
    }

    /// Refusals by the broker after which an event moves to the dead-letter table (at least 1).
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        if let Sink::Amqp(a) = &mut self.sink {
            a.max_attempts = n.max(1);
        }
        self
    }

    /// The shared status, for health checks, metrics and logs.
    pub fn status(&self) -> Arc<Status> {
        self.status.clone()
    }

    /// Publishes until the outbox is empty.
    ///
    /// # Errors
    /// The sink failed or did not confirm everything; what it did not confirm stays in the outbox.
    pub async fn drain(&mut self) -> Result<u64, PublishError> {
        let res = match &mut self.sink {
            Sink::Stdout(out) => drain_stdout(out, &self.store, self.window, &self.status).await,
            Sink::Amqp(amqp) => amqp.drain(&self.store, self.window, &self.status).await,
        };
        self.status.set_depth(self.store.outbox_len());
        if let Some(m) = &self.metrics {
            match &res {
                Ok(n) => {
                    m.events_published.inc_by(*n);
                }
                Err(_) => m.error("publish"),
            }
        }
        res
    }

    /// Drains whenever woken (or every second) until `stop`, backing off after failures and
    /// waiting out a blocked broker; then makes one last attempt bounded by `flush`.
    pub async fn run(mut self, wake: Arc<Notify>, stop: CancellationToken, flush: Duration) {
        let mut backoff = self.retry_min;
        if let Sink::Amqp(a) = &mut self.sink {
            // Connect at start, so the broker's state is known (and reported) before the first event.
            if let Err(e) = a.connect(&self.status).await {
                tracing::warn!(error = %e, "broker not reachable yet; events wait in the outbox until it is");
            }
        }
        loop {
            match self.drain().await {
                Ok(n) => {
                    if n > 0 {
                        tracing::debug!(events = n, "published");
                    }
                    backoff = self.retry_min;
                    tokio::select! {
                        _ = wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.cancelled() => break,
                    }
                }
                Err(PublishError::Blocked) => {
                    tracing::warn!(
                        outbox = self.status.outbox_depth(),
                        "broker blocks publishers (memory or disk alarm); publishing paused, events stay in the outbox"
                    );
                    let Sink::Amqp(amqp) = &self.sink else {
                        unreachable!("only AMQP blocks")
                    };
                    if !amqp.wait_unblocked(&stop).await {
                        break;
                    }
                    self.status.set_blocked(false);
                    tracing::info!("broker unblocked; publishing resumes");
                    backoff = self.retry_min;
                }
                Err(e) => {
                    tracing::warn!(error = %e, outbox = self.status.outbox_depth(), retry_in = ?backoff, "publishing failed; events stay in the outbox");
                    tokio::select! {
                        _ = tokio::time::sleep(jittered(backoff)) => {}
                        _ = stop.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(self.retry_max);
                }
            }
        }
        match tokio::time::timeout(flush, self.drain()).await {
            Ok(Ok(_)) => tracing::info!("outbox flushed"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, outbox = self.store.outbox_len(), "could not flush; events stay in the outbox")
            }
            Err(_) => tracing::warn!(
                outbox = self.store.outbox_len(),
                "flush deadline passed; events stay in the outbox"
            ),
        }
        if let Sink::Amqp(a) = &mut self.sink {
            a.close(&self.status).await;
        }
    }
}

async fn drain_stdout(
    out: &mut Box<dyn Write + Send>,
    store: &Store,
    batch: usize,
    status: &Status,
) -> Result<u64, PublishError> {
    let mut sent = 0;
    loop {
        let rows = store.outbox_batch(0, batch).await?;
        if rows.is_empty() {
            return Ok(sent);
        }
        for row in &rows {
            writeln!(out, "{}", row.event.to_structured_json())?;
        }
        out.flush()?;
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        store.outbox_delete(seqs.clone()).await?;
        status
            .published
            .fetch_add(seqs.len() as u64, Ordering::Relaxed);
        status.removed(seqs.len() as u64);
        sent += seqs.len() as u64;
    }
}

/// Full jitter around the nominal wait (±25 %), so reconnecting clients do not stampede.
fn jittered(d: Duration) -> Duration {
    d.mul_f64(0.75 + fastrand::f64() * 0.5)
}

/// Why a pass stopped publishing new rows.
enum Halt {
    /// The broker blocks publishers.
    Blocked,
    /// The channel or connection failed or stopped answering: replace it.
    Link(String),
}

/// What became of one published message.
enum Outcome {
    Ack,
    Nack,
    /// Returned as unroutable: the returned message's id (its `message_id`) and why.
    Returned(Option<String>, String),
    Error(String),
    TimedOut,
}

/// RabbitMQ sink: one publishing connection and confirm-mode channel, supervised (reopened on
/// demand, topology redeclared each time).
pub struct AmqpSink {
    settings: AmqpSettings,
    conn: Option<Connection>,
    channel: Option<Channel>,
    metrics: Option<Arc<Metrics>>,
    max_attempts: u32,
    /// Rows the broker refused, by outbox seq: not published again before this time. Entries
    /// leave on an ack or when the row is set aside, so the map is bounded by the outbox.
    not_before: HashMap<i64, Instant>,
}

/// Refusals after which a row is set aside, unless the settings say otherwise.
const DEFAULT_MAX_ATTEMPTS: u32 = 10;

impl AmqpSink {
    pub fn new(settings: AmqpSettings) -> Self {
        AmqpSink {
            settings,
            conn: None,
            channel: None,
            metrics: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            not_before: HashMap::new(),
        }
    }

    /// The wait before a row refused `attempts` times is tried again.
    fn refusal_backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(20);
        (self.settings.retry_min.0 * (1u32 << doublings)).min(self.settings.retry_max.0)
    }

    /// Counts the refusals in the store, sets aside the rows refused `max_attempts` times and
    /// schedules the others' next try.
    async fn refused(
        &mut self,
        store: &Store,
        refused: Vec<(i64, u32, String)>,
        status: &Status,
    ) -> Result<(), PublishError> {
        if refused.is_empty() {
            return Ok(());
        }
        let (n, reason) = (refused.len(), refused[0].2.clone());
        let counted = refused.iter().map(|(s, _, r)| (*s, r.clone())).collect();
        let dead = store.outbox_refused(counted, self.max_attempts).await?;
        let now = Instant::now();
        for (seq, attempts, _) in &refused {
            let wait = jittered(self.refusal_backoff(attempts + 1));
            self.not_before.insert(*seq, now + wait);
        }
        for d in &dead {
            self.not_before.remove(&d.seq);
            tracing::warn!(
                seq = d.seq,
                event.id = %d.event.id,
                attempts = d.attempts,
                reason = %d.reason,
                "the broker kept refusing this event; moved to the dead-letter table (`newswire outbox list`, `newswire outbox retry`)"
            );
        }
        let set_aside = dead.len() as u64;
        status.dead_lettered.fetch_add(set_aside, Ordering::Relaxed);
        status.removed(set_aside);
        if let Some(m) = &self.metrics {
            m.outbox_dead_letters.inc_by(set_aside);
        }
        tracing::warn!(
            refused = n,
            set_aside,
            max_attempts = self.max_attempts,
            "{reason}: events refused by the broker wait out a backoff of their own while the rest flows"
        );
        Ok(())
    }

    fn url(&self) -> String {
        redact(&self.settings.url)
    }

    /// A usable confirm-mode channel with the topology declared: the current one, a new channel
    /// on the current connection when only the channel closed, or a new connection.
    ///
    /// # Errors
    /// The broker is unreachable, refuses the login, or has a conflicting exchange or queue.
    pub async fn connect(&mut self, status: &Status) -> Result<Channel, PublishError> {
        if let Some(conn) = self.conn.as_ref().filter(|c| c.status().connected()) {
            if let Some(ch) = self.channel.as_ref().filter(|ch| ch.status().connected()) {
                return Ok(ch.clone());
            }
            self.channel = None;
            // A channel error (say, a deleted exchange) closes the channel, not the connection.
            match self.open_channel(conn).await {
                Ok(ch) => {
                    tracing::info!(broker = %self.url(), "channel reopened and topology redeclared");
                    self.channel = Some(ch.clone());
                    status.set_connected(true);
                    return Ok(ch);
                }
                Err(e @ PublishError::Topology(_)) => {
                    status.set_connected(false);
                    return Err(e);
                }
                Err(e) => tracing::warn!(error = %e, "cannot reopen a channel; reconnecting"),
            }
        }
        status.set_connected(false);
        self.drop_connection();
        let s = &self.settings;
        let broker = |reason: String| PublishError::Broker {
            url: redact(&s.url),
            reason,
        };
        let mut uri: lapin::uri::AMQPUri = s.url.parse().map_err(|e: String| broker(e))?;
        uri.query.heartbeat = Some(s.heartbeat.0.as_secs().clamp(1, u16::MAX as u64) as u16);
        let props =
            ConnectionProperties::default().with_connection_name("newswire-publisher".into());
        let conn = tokio::time::timeout(s.connect_timeout.0, Connection::connect_uri(uri, props))
            .await
            .map_err(|_| broker(format!("connect timed out after {:?}", s.connect_timeout.0)))?
            .map_err(|e| broker(e.to_string()))?;
        status.connects.fetch_add(1, Ordering::Relaxed);
        let ch = match self.open_channel(&conn).await {
            Ok(ch) => ch,
            Err(e) => {
                tokio::spawn(close_link(None, conn, "newswire reconnecting"));
                return Err(e);
            }
        };
        tracing::info!(broker = %self.url(), exchange = %s.exchange, queue = %s.queue, stream = %s.stream, "connected to broker");
        if let Some(m) = &self.metrics {
            m.watch_broker(conn.status().clone());
        }
        self.conn = Some(conn);
        self.channel = Some(ch.clone());
        status.set_connected(true);
        Ok(ch)
    }

    async fn open_channel(&self, conn: &Connection) -> Result<Channel, PublishError> {
        let broker = |e: lapin::Error| PublishError::Broker {
            url: self.url(),
            reason: e.to_string(),
        };
        let within = |what: &'static str| PublishError::Broker {
            url: self.url(),
            reason: format!("{what} timed out"),
        };
        let t = self.settings.connect_timeout.0;
        let ch = tokio::time::timeout(t, conn.create_channel())
            .await
            .map_err(|_| within("opening a channel"))?
            .map_err(broker)?;
        tokio::time::timeout(t, ch.confirm_select(ConfirmSelectOptions::default()))
            .await
            .map_err(|_| within("confirm.select"))?
            .map_err(broker)?;
        tokio::time::timeout(t, declare_topology(conn, &ch, &self.settings))
            .await
            .map_err(|_| within("declaring the topology"))??;
        Ok(ch)
    }

    fn drop_connection(&mut self) {
        let channel = self.channel.take();
        if let Some(conn) = self.conn.take() {
            tokio::spawn(close_link(channel, conn, "newswire reconnecting"));
        }
    }

    fn link_status(&self) -> Option<ConnectionStatus> {
        self.conn.as_ref().map(|c| c.status().clone())
    }

    /// Waits until the broker lifts its block, the connection dies, or `stop`. False on `stop`.
    async fn wait_unblocked(&self, stop: &CancellationToken) -> bool {
        let Some(link) = self.link_status() else {
            return true;
        };
        while link.connected() && link.blocked() {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = stop.cancelled() => return false,
            }
        }
        true
    }

    /// One pass: publishes outbox rows in order through a sliding window of confirms until the
    /// outbox is empty or something fails.
    async fn drain(
        &mut self,
        store: &Store,
        window: usize,
        status: &Status,
    ) -> Result<u64, PublishError> {
        let ch = self.connect(status).await?;
        let link = self.link_status().expect("connected");
        let blocked = link.blocked();
        status.set_blocked(blocked);
        if blocked {
            return Err(PublishError::Blocked);
        }
        let timeout = self.settings.confirm_timeout.0;
        let exchange = ShortString::from(self.settings.exchange.clone());
        // Acks are deleted in batches; on a crash at most this many are published again.
        let delete_every = (window / 2).max(1);

        let mut inflight = FuturesUnordered::new();
        let mut rows: VecDeque<OutboxRow> = VecDeque::new();
        let mut cursor = 0;
        let mut exhausted = false;
        let mut halt: Option<Halt> = None;
        let (mut acked, mut failed) = (Vec::new(), Vec::new());
        let mut refused: Vec<(i64, u32, String)> = Vec::new();
        // Acked rows not yet deleted, by event id, and returns whose row has not been confirmed
        // yet: a return that came with another row's confirm is matched to its own row.
        let mut acked_ids: HashMap<String, (i64, u32)> = HashMap::new();
        let mut misrouted: HashMap<String, String> = HashMap::new();
        // Articles with a row waiting out its backoff: their later rows wait too, so one
        // article's events still go out in revision order.
        let mut held: HashSet<String> = HashSet::new();
        let (mut sent, mut attempted) = (0u64, 0usize);
        loop {
            while halt.is_none() && inflight.len() < window {
                if rows.is_empty() {
                    if exhausted {
                        break;
                    }
                    rows = store.outbox_batch(cursor, window.max(64)).await?.into();
                    if rows.is_empty() {
                        exhausted = true;
                        break;
                    }
                }
                if link.blocked() {
                    halt = Some(Halt::Blocked);
                    break;
                }
                let row = rows.pop_front().expect("not empty");
                cursor = row.seq;
                // A refused row waits out its backoff; the rows of other articles go on.
                if self
                    .not_before
                    .get(&row.seq)
                    .is_some_and(|t| *t > Instant::now())
                {
                    held.insert(row.event.subject.clone());
                    continue;
                }
                if held.contains(&row.event.subject) {
                    continue;
                }
                let ev = &row.event;
                let started = Instant::now();
                let publish = ch.basic_publish(
                    exchange.clone(),
                    ev.routing_key().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    ev.data.as_bytes(),
                    properties(ev),
                );
                attempted += 1;
                // Publishing waits for the frame to be written: a blocked connection never writes.
                match tokio::time::timeout(timeout, publish).await {
                    Ok(Ok(confirm)) => {
                        let (seq, attempts, id) = (row.seq, row.attempts, ev.id.clone());
                        inflight.push(async move {
                            let outcome = match tokio::time::timeout(
                                timeout.saturating_sub(started.elapsed()),
                                confirm,
                            )
                            .await
                            {
                                Ok(Ok(Confirmation::Ack(None))) => Outcome::Ack,
                                Ok(Ok(Confirmation::Ack(Some(r)))) => Outcome::Returned(
                                    r.properties.message_id().as_ref().map(|m| m.to_string()),
                                    format!("{} {}", r.reply_code, r.reply_text),
                                ),
                                Ok(Ok(_)) => Outcome::Nack,
                                Ok(Err(e)) => Outcome::Error(e.to_string()),
                                Err(_) => Outcome::TimedOut,
                            };
                            (seq, attempts, started, id, outcome)
                        });
                    }
                    Ok(Err(e)) => {
                        status.errored.fetch_add(1, Ordering::Relaxed);
                        failed.push(row.seq);
                        halt = Some(Halt::Link(e.to_string()));
                    }
                    Err(_) => {
                        status.timed_out.fetch_add(1, Ordering::Relaxed);
                        failed.push(row.seq);
                        halt = Some(if link.blocked() {
                            Halt::Blocked
                        } else {
                            Halt::Link(format!("publish not written within {timeout:?}"))
                        });
                    }
                }
            }
            if inflight.is_empty() {
                break;
            }
            // Wait for one confirm, then take every one already there.
            let mut next = inflight.next().await;
            while let Some((seq, attempts, started, id, outcome)) = next {
                // lapin hands a returned message to whichever confirm of a multiple ack it
                // completes first, not always its own: the return names its message by id.
                let outcome = match outcome {
                    Outcome::Returned(Some(other), why) if other != id => {
                        match acked_ids.remove(&other) {
                            Some((s, a)) => {
                                acked.retain(|x| *x != s);
                                status.returned.fetch_add(1, Ordering::Relaxed);
                                refused.push((s, a, format!("returned as unroutable: {why}")));
                            }
                            None => {
                                misrouted.insert(other, why);
                            }
                        }
                        Outcome::Ack
                    }
                    Outcome::Ack => match misrouted.remove(&id) {
                        Some(why) => Outcome::Returned(Some(id.clone()), why),
                        None => Outcome::Ack,
                    },
                    o => o,
                };
                match outcome {
                    Outcome::Ack => {
                        status.confirm_latency.record(started.elapsed());
                        if !self.not_before.is_empty() {
                            self.not_before.remove(&seq);
                        }
                        acked.push(seq);
                        acked_ids.insert(id, (seq, attempts));
                    }
                    Outcome::Nack => {
                        status.nacked.fetch_add(1, Ordering::Relaxed);
                        refused.push((seq, attempts, "nacked by the broker".into()));
                    }
                    Outcome::Returned(_, why) => {
                        status.returned.fetch_add(1, Ordering::Relaxed);
                        refused.push((seq, attempts, format!("returned as unroutable: {why}")));
                    }
                    Outcome::Error(e) => {
                        status.errored.fetch_add(1, Ordering::Relaxed);
                        failed.push(seq);
                        if !matches!(halt, Some(Halt::Link(_))) {
                            halt = Some(Halt::Link(e));
                        }
                    }
                    Outcome::TimedOut => {
                        status.timed_out.fetch_add(1, Ordering::Relaxed);
                        failed.push(seq);
                        if link.blocked() {
                            halt.get_or_insert(Halt::Blocked);
                        } else if !matches!(halt, Some(Halt::Link(_))) {
                            halt = Some(Halt::Link(format!("no confirm within {timeout:?}")));
                        }
                    }
                }
                next = inflight.next().now_or_never().flatten();
            }
            if acked.len() >= delete_every || inflight.is_empty() {
                sent += self.settle(store, &mut acked, status).await?;
                acked_ids.clear();
            }
        }
        sent += self.settle(store, &mut acked, status).await?;
        self.refused(store, refused, status).await?;
        let Some(halt) = halt else { return Ok(sent) };
        match halt {
            Halt::Blocked => {
                status.set_blocked(true);
                Err(PublishError::Blocked)
            }
            Halt::Link(reason) => {
                // The link is suspect: replace it, then republish everything unconfirmed.
                status.set_connected(false);
                self.drop_connection();
                Err(PublishError::NotConfirmed {
                    failed: failed.len(),
                    attempted,
                    reason,
                })
            }
        }
    }

    async fn settle(
        &self,
        store: &Store,
        acked: &mut Vec<i64>,
        status: &Status,
    ) -> Result<u64, PublishError> {
        if acked.is_empty() {
            return Ok(0);
        }
        store.outbox_delete(acked.clone()).await?;
        let n = acked.len() as u64;
        status.published.fetch_add(n, Ordering::Relaxed);
        status.removed(n);
        acked.clear();
        Ok(n)
    }

    async fn close(&mut self, status: &Status) {
        let channel = self.channel.take();
        if let Some(conn) = self.conn.take() {
            close_link(channel, conn, "newswire shutting down").await;
        }
        status.set_connected(false);
    }
}

/// Closes the channel, then the connection. In that order: a channel merely dropped is closed by
/// lapin in the background, and if that lands after the connection started closing lapin logs
/// it as a connection error. A blocked connection cannot even say goodbye: each step waits 2 s
/// at most.
async fn close_link(channel: Option<Channel>, conn: Connection, why: &str) {
    let wait = Duration::from_secs(2);
    if let Some(ch) = channel.filter(|ch| ch.status().connected()) {
        let _ = tokio::time::timeout(wait, ch.close(200, why.into())).await;
    }
    if conn.status().connected() {
        let _ = tokio::time::timeout(wait, conn.close(200, why.into())).await;
    }
}

/// Declares the exchange, the queue, the stream and the dead-letter exchange (all idempotent).
async fn declare_topology(
    conn: &Connection,
    ch: &Channel,
    s: &AmqpSettings,
) -> Result<(), PublishError> {
    let exchange = |name: &str, kind: ExchangeKind| {
        let ch = ch.clone();
        let name = name.to_string();
        async move {
            ch.exchange_declare(
                name.as_str().into(),
                kind,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| topology_error(&format!("exchange {name:?}"), "", e))
        }
    };
    exchange(&s.exchange, ExchangeKind::Topic).await?;
    if !s.dead_letter_exchange.is_empty() {
        exchange(&s.dead_letter_exchange, ExchangeKind::Fanout).await?;
    }
    if !s.queue.is_empty() {
        let mut args = FieldTable::default();
        if s.queue_type == QueueType::Quorum {
            args.insert(
                "x-queue-type".into(),
                AMQPValue::LongString("quorum".into()),
            );
        }
        if !s.dead_letter_exchange.is_empty() {
            args.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(s.dead_letter_exchange.as_str().into()),
            );
        }
        declare_bound_queue(conn, ch, s, &s.queue, args, "queue", "amqp.queue").await?;
    }
    if !s.stream.is_empty() {
        let mut args = FieldTable::default();
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("stream".into()),
        );
        args.insert(
            "x-max-age".into(),
            AMQPValue::LongString(s.stream_max_age.as_str().into()),
        );
        declare_bound_queue(conn, ch, s, &s.stream, args, "stream", "amqp.stream").await?;
    }
    Ok(())
}

async fn declare_bound_queue(
    conn: &Connection,
    ch: &Channel,
    s: &AmqpSettings,
    name: &str,
    args: FieldTable,
    what: &str,
    key: &str,
) -> Result<(), PublishError> {
    // A refused declaration closes the channel it was made on: use a scratch channel so the
    // caller's channel survives to report the error cleanly.
    let scratch = conn
        .create_channel()
        .await
        .map_err(|e| topology_error(what, key, e))?;
    let res = scratch
        .queue_declare(
            name.into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await
        .map_err(|e| topology_error(&format!("{what} {name:?}"), key, e));
    if res.is_ok() {
        let _ = scratch.close(200, "declared".into()).await;
    }
    res?;
    ch.queue_bind(
        name.into(),
        s.exchange.as_str().into(),
        "article.#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .map_err(|e| {
        topology_error(
            &format!("binding {what} {name:?} to exchange {:?}", s.exchange),
            key,
            e,
        )
    })?;
    Ok(())
}

/// A one-line topology error; a PRECONDITION_FAILED names the argument and the setting to change.
fn topology_error(what: &str, key: &str, e: lapin::Error) -> PublishError {
    let text = e.to_string();
    if let Some(arg) = inequivalent_arg(&text) {
        let setting = match arg.as_str() {
            "x-queue-type" if key == "amqp.queue" => "amqp.queue_type",
            "x-dead-letter-exchange" => "amqp.dead_letter_exchange",
            "x-max-age" => "amqp.stream_max_age",
            _ => key,
        };
        return PublishError::Topology(format!(
            "{what} already exists with a different {arg} ({text}); delete it or change {setting} to match"
        ));
    }
    PublishError::Topology(format!("{what}: {text}"))
}

/// The argument named in a RabbitMQ "inequivalent arg 'x-queue-type' ..." reply.
fn inequivalent_arg(text: &str) -> Option<String> {
    let rest = &text[text.find("inequivalent arg '")? + "inequivalent arg '".len()..];
    Some(rest[..rest.find('\'')?].to_string())
}

/// AMQP properties of an event in CloudEvents binary mode: `ce-*` and `cloudEvents_*` headers.
pub fn properties(ev: &Event) -> BasicProperties {
    let mut headers = FieldTable::default();
    for (name, value) in ev.header_attributes() {
        let v = AMQPValue::LongString(LongString::from(value));
        headers.insert(format!("ce-{name}").into(), v.clone());
        headers.insert(format!("cloudEvents_{name}").into(), v);
    }
    let timestamp = chrono::DateTime::parse_from_rfc3339(&ev.time)
        .map(|t| t.timestamp().max(0) as u64)
        .unwrap_or(0);
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_message_id(ev.id.as_str().into())
        .with_type(ev.event_type.as_str().into())
        .with_timestamp(timestamp)
        .with_delivery_mode(2)
        .with_app_id("newswire".into())
        .with_headers(headers)
}

/// The broker URL with its password masked, for logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<invalid url>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact("amqp://127.0.0.1"), "amqp://127.0.0.1");
    }

    #[test]
    fn properties_carry_both_header_conventions() {
        let ev = Event {
            id: "e1".into(),
            event_type: "newswire.article.published".into(),
            source: "http://n.test/feed".into(),
            subject: "a1".into(),
            time: "2024-12-17T10:23:00Z".into(),
            data: "{}".into(),
        };
        let p = properties(&ev);
        assert_eq!(p.delivery_mode(), &Some(2));
        assert_eq!(p.message_id().as_ref().map(|m| m.as_str()), Some("e1"));
        assert_eq!(p.timestamp(), &Some(1734430980));
        let h = p.headers().as_ref().unwrap();
        for key in [
            "ce-id",
            "cloudEvents_id",
            "ce-type",
            "cloudEvents_source",
            "ce-specversion",
            "cloudEvents_time",
        ] {
            assert!(h.inner().contains_key(key), "{key}");
        }
        assert!(!h.inner().contains_key("ce-datacontenttype"));
    }

    #[test]
    fn precondition_failures_name_the_argument_and_setting() {
        let text = "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': received the value 'quorum' of type 'longstr' but current is none";
        assert_eq!(inequivalent_arg(text).as_deref(), Some("x-queue-type"));
        assert_eq!(inequivalent_arg("NOT_FOUND - no exchange"), None);
    }
}
