//! Delivery throughput: ~2 KB events drained from the outbox to the local RabbitMQ with
//! publisher confirms, against a bare lapin publish-and-confirm loop (the ceiling) in the same
//! run, with the same window, message size and queue type.
//!
//! `cargo bench --bench delivery` (release build; needs RabbitMQ on 127.0.0.1:5672).
//! NEWSWIRE_BENCH_EVENTS sets the events per round (default 20000). Prints a table.

use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Confirmation, Connection, ConnectionProperties, ExchangeKind};
use newswire::config::Settings;
use newswire::event::Event;
use newswire::metrics::Latency;
use newswire::publish::{AmqpSink, Publisher, Sink};
use newswire::store::Store;

const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// Rounds of each path; the first warms up and is not counted.
const ROUNDS: usize = 6;

struct Round {
    what: &'static str,
    events: usize,
    secs: f64,
    p50: Duration,
    p99: Duration,
}

impl Round {
    fn rate(&self) -> f64 {
        self.events as f64 / self.secs
    }
}

fn events(n: usize, round: usize) -> Vec<Event> {
    let body = "Harbour officials said the evening ferry would run until March. ".repeat(28);
    (0..n)
        .map(|i| Event {
            id: format!("bench-{round}-{i}"),
            event_type: "newswire.article.published".into(),
            source: "http://ledger.test/feed.xml".into(),
            subject: format!("article-{i}"),
            time: "2026-01-02T03:04:05Z".into(),
            data: serde_json::json!({"article_id": format!("article-{i}"), "revision": 1, "title": "Ferry", "body_text": body}).to_string(),
        })
        .collect()
}

fn names(what: &str) -> (String, String) {
    let tag = fastrand::u64(..);
    (
        format!("newswire-bench.{what}-x.{tag}"),
        format!("newswire-bench.{what}-q.{tag}"),
    )
}

async fn cleanup(conn: &Connection, exchange: &str, queue: &str) {
    let ch = conn.create_channel().await.unwrap();
    let _ = ch.queue_delete(queue.into(), Default::default()).await;
    let _ = ch
        .exchange_delete(exchange.into(), Default::default())
        .await;
}

/// The ceiling: publish with a sliding window of `window` unconfirmed messages, nothing else.
async fn bare(conn: &Connection, evs: &[Event], window: usize) -> Round {
    let (exchange, queue) = names("bare");
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.exchange_declare(
        exchange.as_str().into(),
        ExchangeKind::Topic,
        durable,
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare(queue.as_str().into(), durable, args)
        .await
        .unwrap();
    ch.queue_bind(
        queue.as_str().into(),
        exchange.as_str().into(),
        "article.#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let latency = Latency::default();
    let mut inflight = FuturesUnordered::new();
    let start = Instant::now();
    for ev in evs {
        if inflight.len() >= window {
            let (t, c): (Instant, lapin::Result<Confirmation>) = inflight.next().await.unwrap();
            assert!(matches!(c, Ok(Confirmation::Ack(None))));
            latency.record(t.elapsed());
        }
        let t = Instant::now();
        let confirm = ch
            .basic_publish(
                exchange.as_str().into(),
                ev.routing_key().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                ev.data.as_bytes(),
                newswire::publish::properties(ev),
            )
            .await
            .unwrap();
        inflight.push(async move { (t, confirm.await) });
    }
    while let Some((t, c)) = inflight.next().await {
        assert!(matches!(c, Ok(Confirmation::Ack(None))));
        latency.record(t.elapsed());
    }
    let secs = start.elapsed().as_secs_f64();
    cleanup(conn, &exchange, &queue).await;
    Round {
        what: "bare lapin loop",
        events: evs.len(),
        secs,
        p50: latency.quantile(0.5).unwrap(),
        p99: latency.quantile(0.99).unwrap(),
    }
}

/// newswire's path: rows in the SQLite outbox, drained by the Publisher, deleted on ack.
async fn outbox(
    conn: &Connection,
    evs: &[Event],
    window: usize,
    dir: &std::path::Path,
    round: usize,
) -> (Round, f64) {
    let (exchange, queue) = names("outbox");
    let mut settings = Settings::load_with_env(None, std::iter::empty()).unwrap();
    settings.amqp.url = BROKER.into();
    settings.amqp.exchange = exchange.clone();
    settings.amqp.queue = queue.clone();
    settings.amqp.window = window;
    let store = Store::open(&dir.join(format!("bench-{round}.sqlite3"))).unwrap();
    let mut publisher = Publisher::new(
        store.clone(),
        Sink::Amqp(Box::new(AmqpSink::new(settings.amqp.clone()))),
        window,
        Duration::from_secs(1),
        Duration::from_secs(1),
    );
    publisher.drain().await.unwrap(); // connect and declare outside the timing
    let t = Instant::now();
    for chunk in evs.chunks(1000) {
        store.outbox_append(chunk.to_vec()).await.unwrap();
    }
    let append = evs.len() as f64 / t.elapsed().as_secs_f64();
    let status = publisher.status();
    let start = Instant::now();
    let sent = publisher.drain().await.unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(sent as usize, evs.len());
    assert_eq!(store.outbox_len(), 0);
    cleanup(conn, &exchange, &queue).await;
    let h = &status.confirm_latency;
    (
        Round {
            what: "newswire outbox",
            events: evs.len(),
            secs,
            p50: h.quantile(0.5).unwrap(),
            p99: h.quantile(0.99).unwrap(),
        },
        append,
    )
}

fn main() {
    let n: usize = std::env::var("NEWSWIRE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let window = Settings::load_with_env(None, std::iter::empty())
        .unwrap()
        .amqp
        .window;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conn = match Connection::connect(BROKER, ConnectionProperties::default()).await {
            Ok(c) => c,
            Err(e) => panic!("RabbitMQ is not reachable at 127.0.0.1:5672 ({e}). Start it with `rabbitmq-server -detached && rabbitmqctl await_startup`."),
        };
        let dir = std::env::temp_dir().join(format!("newswire-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let size = events(1, 0)[0].data.len();
        println!("delivery benchmark: {n} events of {size} B per round, window {window}, quorum queue, persistent, mandatory, confirms");
        let mut rounds = Vec::new();
        let mut appends = Vec::new();
        // Alternate, so both paths see the same broker state; the first round of each warms up.
        for round in 0..ROUNDS {
            let evs = events(n, round);
            rounds.push(bare(&conn, &evs, window).await);
            let (r, append) = outbox(&conn, &evs, window, &dir, round).await;
            rounds.push(r);
            appends.push(append);
        }
        println!("| round | path | events/s | p50 publish→confirm | p99 publish→confirm |");
        println!("|---|---|---:|---:|---:|");
        for (i, r) in rounds.iter().enumerate() {
            println!("| {} | {} | {:.0} | {:.1} ms | {:.1} ms |", i / 2, r.what, r.rate(), r.p50.as_secs_f64() * 1e3, r.p99.as_secs_f64() * 1e3);
        }
        // Medians over the rounds after the warm-up: the machine is shared, single rounds swing.
        let median = |what: &str, f: &dyn Fn(&Round) -> f64| {
            let mut v: Vec<f64> = rounds.iter().skip(2).filter(|r| r.what == what).map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let rate = |r: &Round| r.rate();
        let p50 = |r: &Round| r.p50.as_secs_f64() * 1e3;
        let p99 = |r: &Round| r.p99.as_secs_f64() * 1e3;
        let (bare, outbox) = (median("bare lapin loop", &rate), median("newswire outbox", &rate));
        println!(
            "median of rounds 1-{}: outbox {outbox:.0} events/s (p50 {:.1} ms, p99 {:.1} ms), bare {bare:.0} events/s (p50 {:.1} ms, p99 {:.1} ms), ratio {:.2}",
            ROUNDS - 1,
            median("newswire outbox", &p50),
            median("newswire outbox", &p99),
            median("bare lapin loop", &p50),
            median("bare lapin loop", &p99),
            outbox / bare
        );
        println!("outbox append (SQLite, 1000 per transaction): {:.0} events/s", appends.iter().cloned().fold(0.0, f64::max));
        let _ = std::fs::remove_dir_all(&dir);
    });
}
