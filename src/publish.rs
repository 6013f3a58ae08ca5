//! Draining the outbox to a sink: RabbitMQ (lapin, publisher confirms) or stdout (NDJSON).
//!
//! Guarantees: at-least-once. A row leaves the outbox only after the sink confirmed it: for
//! AMQP a plain broker ack of a persistent, mandatory message; a nack, a returned (unroutable)
//! message, a confirm error or a confirm timeout leaves the row for a retry. Event ids are
//! deterministic, so a message published twice carries the same `message_id` both times.
//!
//! How it fails: a broker that is down or refuses the topology is logged and retried with
//! capped exponential backoff; the events wait in the outbox meanwhile.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{AmqpSettings, QueueType};
use crate::event::Event;
use crate::store::{OutboxRow, Store, StoreError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    #[error("broker at {url}: {reason}")]
    Broker { url: String, reason: String },
    #[error("broker topology: {0}")]
    Topology(String),
    #[error("stdout: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where events go. Both sinks are fed from the outbox, so stdout shows exactly what the broker
/// would have received.
pub enum Sink {
    Stdout(Box<dyn Write + Send>),
    Amqp(AmqpSink),
}

impl Sink {
    /// Sends a batch; returns the seqs of the rows the sink confirmed.
    async fn send(&mut self, rows: &[OutboxRow]) -> Result<Vec<i64>, PublishError> {
        match self {
            Sink::Stdout(out) => {
                for row in rows {
                    writeln!(out, "{}", row.event.to_structured_json())?;
                }
                out.flush()?;
                Ok(rows.iter().map(|r| r.seq).collect())
            }
            Sink::Amqp(amqp) => amqp.send(rows).await,
        }
    }
}

/// Moves events from the outbox to the sink.
pub struct Publisher {
    store: Store,
    sink: Sink,
    batch: usize,
    retry_min: Duration,
    retry_max: Duration,
}

impl Publisher {
    pub fn new(
        store: Store,
        sink: Sink,
        batch: usize,
        retry_min: Duration,
        retry_max: Duration,
    ) -> Self {
        Publisher {
            store,
            sink,
            batch: batch.max(1),
            retry_min,
            retry_max,
        }
    }

    /// Publishes until the outbox is empty.
    ///
    /// # Errors
    /// The sink failed; what it did not confirm stays in the outbox.
    pub async fn drain(&mut self) -> Result<u64, PublishError> {
        let mut sent = 0;
        let mut after = 0;
        loop {
            let rows = self.store.outbox_batch(after, self.batch)?;
            let Some(last) = rows.last() else {
                return Ok(sent);
            };
            after = last.seq;
            let acked = self.sink.send(&rows).await?;
            self.store.outbox_delete(&acked)?;
            if acked.len() < rows.len() {
                let failed: Vec<i64> = rows
                    .iter()
                    .map(|r| r.seq)
                    .filter(|s| !acked.contains(s))
                    .collect();
                self.store.outbox_failed(&failed)?;
                // Leave the rest for the next round after a backoff, so order mostly holds.
                return Err(PublishError::Broker {
                    url: String::new(),
                    reason: format!(
                        "{} of {} messages not confirmed; kept for retry",
                        failed.len(),
                        rows.len()
                    ),
                });
            }
            sent += acked.len() as u64;
        }
    }

    /// Drains whenever woken (or every second) until `stop`, backing off after failures; then
    /// makes one last attempt bounded by `flush`.
    pub async fn run(mut self, wake: Arc<Notify>, stop: CancellationToken, flush: Duration) {
        let mut backoff = self.retry_min;
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
                Err(e) => {
                    let waiting = self.store.outbox_len().unwrap_or(0);
                    tracing::warn!(error = %e, outbox = waiting, retry_in = ?backoff, "publishing failed; events stay in the outbox");
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
                tracing::warn!(error = %e, outbox = self.store.outbox_len().unwrap_or(0), "could not flush; events stay in the outbox")
            }
            Err(_) => tracing::warn!(
                outbox = self.store.outbox_len().unwrap_or(0),
                "flush deadline passed; events stay in the outbox"
            ),
        }
        if let Sink::Amqp(a) = &mut self.sink {
            a.close().await;
        }
    }
}

fn jittered(d: Duration) -> Duration {
    d.mul_f64(0.75 + fastrand::f64() * 0.5)
}

/// RabbitMQ sink: one connection and confirm-mode channel, (re)opened on demand.
pub struct AmqpSink {
    settings: AmqpSettings,
    link: Option<(Connection, Channel)>,
}

impl AmqpSink {
    pub fn new(settings: AmqpSettings) -> Self {
        AmqpSink {
            settings,
            link: None,
        }
    }

    /// Connects, enables confirms and declares the topology (idempotent).
    ///
    /// # Errors
    /// The broker is unreachable, refuses the login, or has a conflicting exchange or queue.
    pub async fn connect(&mut self) -> Result<&Channel, PublishError> {
        if self
            .link
            .as_ref()
            .is_some_and(|(c, ch)| c.status().connected() && ch.status().connected())
        {
            return Ok(&self.link.as_ref().expect("checked").1);
        }
        self.link = None;
        let s = &self.settings;
        let broker = |reason: String| PublishError::Broker {
            url: redact(&s.url),
            reason,
        };
        let mut uri: lapin::uri::AMQPUri = s.url.parse().map_err(|e: String| broker(e))?;
        uri.query.heartbeat = Some(s.heartbeat.0.as_secs().clamp(1, u16::MAX as u64) as u16);
        let conn = tokio::time::timeout(
            Duration::from_secs(15),
            Connection::connect_uri(
                uri,
                ConnectionProperties::default().with_connection_name("newswire".into()),
            ),
        )
        .await
        .map_err(|_| broker("connect timed out".into()))?
        .map_err(|e| broker(e.to_string()))?;
        let ch = conn
            .create_channel()
            .await
            .map_err(|e| broker(e.to_string()))?;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| broker(e.to_string()))?;
        declare_topology(&ch, s).await?;
        tracing::info!(broker = %redact(&s.url), exchange = %s.exchange, queue = %s.queue, "connected to broker");
        self.link = Some((conn, ch));
        Ok(&self.link.as_ref().expect("just set").1)
    }

    async fn send(&mut self, rows: &[OutboxRow]) -> Result<Vec<i64>, PublishError> {
        let timeout = self.settings.confirm_timeout.0;
        let exchange = ShortString::from(self.settings.exchange.clone());
        let url = redact(&self.settings.url);
        let ch = self.connect().await?.clone();
        let mut pending = Vec::with_capacity(rows.len());
        let mut failure = None;
        for row in rows {
            let ev = &row.event;
            let res = ch
                .basic_publish(
                    exchange.clone(),
                    ev.routing_key().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    ev.data.as_bytes(),
                    properties(ev),
                )
                .await;
            match res {
                Ok(confirm) => pending.push((row.seq, confirm)),
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        let mut acked = Vec::with_capacity(pending.len());
        for (seq, confirm) in pending {
            match tokio::time::timeout(timeout, confirm).await {
                Ok(Ok(Confirmation::Ack(None))) => acked.push(seq),
                Ok(Ok(Confirmation::Ack(Some(returned)))) => {
                    tracing::warn!(seq, reply = %returned.reply_text, "broker returned an unroutable message; kept for retry");
                }
                Ok(Ok(other)) => {
                    tracing::warn!(seq, confirmation = ?other, "broker did not ack; kept for retry")
                }
                Ok(Err(e)) => {
                    failure.get_or_insert(e.to_string());
                }
                Err(_) => {
                    failure.get_or_insert(format!("no confirm within {timeout:?}"));
                }
            }
        }
        if let Some(reason) = failure {
            // The channel is suspect: reconnect next time and republish what was not confirmed.
            self.link = None;
            if acked.is_empty() {
                return Err(PublishError::Broker { url, reason });
            }
            tracing::warn!(broker = %url, error = %reason, "publishing interrupted; unconfirmed events kept for retry");
        }
        Ok(acked)
    }

    async fn close(&mut self) {
        if let Some((conn, _)) = self.link.take() {
            let _ = conn.close(200, "newswire shutting down".into()).await;
        }
    }
}

async fn declare_topology(ch: &Channel, s: &AmqpSettings) -> Result<(), PublishError> {
    let topo = |what: &str, e: lapin::Error| PublishError::Topology(format!("{what}: {e}"));
    ch.exchange_declare(
        s.exchange.as_str().into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .map_err(|e| topo(&format!("exchange {:?}", s.exchange), e))?;
    if s.queue.is_empty() {
        return Ok(());
    }
    let mut args = FieldTable::default();
    if s.queue_type == QueueType::Quorum {
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
    }
    ch.queue_declare(s.queue.as_str().into(), QueueDeclareOptions { durable: true, ..Default::default() }, args)
        .await
        .map_err(|e| topo(&format!("queue {:?} (x-queue-type {:?}; an existing queue with other arguments must be deleted or amqp.queue_type changed)", s.queue, s.queue_type), e))?;
    ch.queue_bind(
        s.queue.as_str().into(),
        s.exchange.as_str().into(),
        "article.#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .map_err(|e| topo(&format!("binding queue {:?}", s.queue), e))?;
    Ok(())
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
}
