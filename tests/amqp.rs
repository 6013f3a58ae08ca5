//! Events delivered to the real RabbitMQ (127.0.0.1:5672): the same events as stdout, in
//! CloudEvents binary mode with the contract's properties and both header conventions.
//! Guarantee under test: every event the replay produced is in the queue once the command exits
//! (publisher confirms; persistent messages to a durable queue).

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

fn replay_cmd(scenario: &str, exchange: &str, queue: &str) -> Command {
    let mut c = Command::new(common::bin());
    c.arg("replay")
        .arg(common::fixture(&format!(
            "captures/{scenario}/capture.warc.gz"
        )))
        .env("NEWSWIRE__AMQP__URL", common::BROKER)
        .env("NEWSWIRE__AMQP__EXCHANGE", exchange)
        .env("NEWSWIRE__AMQP__QUEUE", queue);
    c
}

#[tokio::test]
async fn replay_to_rabbitmq_delivers_the_stdout_events_with_cloudevents_headers() {
    let conn = common::broker().await;
    let (exchange, queue) = (common::unique("x"), common::unique("q"));

    let stdout = replay_cmd("revision", &exchange, &queue).output().unwrap();
    assert!(
        stdout.status.success(),
        "{}",
        String::from_utf8_lossy(&stdout.stderr)
    );
    let expected: Vec<Value> = String::from_utf8(stdout.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(expected.len(), 2);

    let out = common::run_ok(replay_cmd("revision", &exchange, &queue).args(["--sink", "amqp"]));
    assert!(
        out.stdout.is_empty(),
        "the amqp sink writes nothing to stdout"
    );

    let got = common::take(&conn, &queue, 3, Duration::from_secs(3)).await;
    assert_eq!(got.len(), 2, "exactly the two events, no more");
    for (msg, want) in got.iter().zip(&expected) {
        // Binary mode: the body is `data`, the attributes travel as properties and headers.
        assert_eq!(msg.json(), want["data"]);
        common::assert_valid_data(&msg.json());
        let p = &msg.properties;
        assert_eq!(
            p.content_type().as_ref().unwrap().as_str(),
            "application/json"
        );
        assert_eq!(
            p.message_id().as_ref().unwrap().as_str(),
            want["id"].as_str().unwrap()
        );
        assert_eq!(
            p.kind().as_ref().unwrap().as_str(),
            want["type"].as_str().unwrap()
        );
        assert_eq!(*p.delivery_mode(), Some(2));
        let time = chrono::DateTime::parse_from_rfc3339(want["time"].as_str().unwrap()).unwrap();
        assert_eq!(*p.timestamp(), Some(time.timestamp() as u64));
        for attr in ["id", "source", "type", "subject", "time", "specversion"] {
            let value = want[attr].as_str().unwrap().to_string();
            assert_eq!(
                msg.header(&format!("ce-{attr}")),
                Some(value.clone()),
                "ce-{attr}"
            );
            assert_eq!(
                msg.header(&format!("cloudEvents_{attr}")),
                Some(value),
                "cloudEvents_{attr}"
            );
        }
        assert_eq!(msg.header("ce-datacontenttype"), None);
    }
    common::cleanup(&conn, &exchange, &queue).await;
}

#[tokio::test]
async fn republishing_keeps_ids_so_consumers_can_deduplicate() {
    let conn = common::broker().await;
    let (exchange, queue) = (common::unique("x"), common::unique("q"));
    for _ in 0..2 {
        common::run_ok(replay_cmd("atom-json", &exchange, &queue).args(["--sink", "amqp"]));
    }
    let got = common::take(&conn, &queue, 5, Duration::from_secs(3)).await;
    assert_eq!(got.len(), 4);
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    for m in &got {
        *ids.entry(m.properties.message_id().as_ref().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(ids.len(), 2, "at-least-once with idempotent ids: {ids:?}");
    assert!(ids.values().all(|&n| n == 2));
    common::cleanup(&conn, &exchange, &queue).await;
}

#[tokio::test]
async fn unreachable_broker_fails_the_replay_and_says_so() {
    // Port 1 on loopback: nothing listens there.
    let out = Command::new(common::bin())
        .arg("replay")
        .arg(common::fixture("captures/new-article/capture.warc.gz"))
        .args(["--sink", "amqp"])
        .env("NEWSWIRE__AMQP__URL", "amqp://guest:secret@127.0.0.1:1/%2f")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(!err.contains("secret"), "passwords never reach logs: {err}");
}

#[tokio::test]
async fn optional_stream_and_dead_letter_exchange_are_declared_and_get_every_event() {
    let conn = common::broker().await;
    let (exchange, queue, stream, dlx) = (
        common::unique("x"),
        common::unique("q"),
        common::unique("s"),
        common::unique("dlx"),
    );
    common::run_ok(
        replay_cmd("revision", &exchange, &queue)
            .args(["--sink", "amqp"])
            .env("NEWSWIRE__AMQP__STREAM", &stream)
            .env("NEWSWIRE__AMQP__STREAM_MAX_AGE", "1h")
            .env("NEWSWIRE__AMQP__DEAD_LETTER_EXCHANGE", &dlx),
    );
    let ch = conn.create_channel().await.unwrap();
    let passive = lapin::options::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    // A stream is read from an offset, with a consumer (its declare-ok carries no count).
    ch.basic_qos(10, Default::default()).await.unwrap();
    let mut args = lapin::types::FieldTable::default();
    args.insert(
        "x-stream-offset".into(),
        lapin::types::AMQPValue::LongString("first".into()),
    );
    let mut consumer = ch
        .basic_consume(
            stream.as_str().into(),
            "replay-check".into(),
            Default::default(),
            args,
        )
        .await
        .unwrap();
    let mut ids = Vec::new();
    while ids.len() < 2 {
        use futures_util::StreamExt;
        let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_secs(5), consumer.next()).await
        else {
            break;
        };
        ids.push(d.properties.message_id().as_ref().unwrap().to_string());
        d.ack(Default::default()).await.unwrap();
    }
    assert_eq!(ids.len(), 2, "the stream holds both events: {ids:?}");
    let q = ch
        .queue_declare(queue.as_str().into(), passive, Default::default())
        .await
        .unwrap();
    assert_eq!(q.message_count(), 2);
    let passive = lapin::options::ExchangeDeclareOptions {
        passive: true,
        ..Default::default()
    };
    ch.exchange_declare(
        dlx.as_str().into(),
        lapin::ExchangeKind::Fanout,
        passive,
        Default::default(),
    )
    .await
    .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let _ = ch
        .queue_delete(stream.as_str().into(), Default::default())
        .await;
    let _ = ch
        .exchange_delete(dlx.as_str().into(), Default::default())
        .await;
    common::cleanup(&conn, &exchange, &queue).await;
}

#[tokio::test]
async fn a_conflicting_existing_queue_is_named_with_the_argument_and_setting() {
    let conn = common::broker().await;
    let (exchange, queue) = (common::unique("x"), common::unique("q"));
    // A classic queue of that name already exists; newswire wants a quorum queue.
    let ch = conn.create_channel().await.unwrap();
    let durable = lapin::options::QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare(queue.as_str().into(), durable, Default::default())
        .await
        .unwrap();
    let out = replay_cmd("revision", &exchange, &queue)
        .args(["--sink", "amqp"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains("x-queue-type") && last.contains("amqp.queue_type"),
        "{err}"
    );
    common::cleanup(&conn, &exchange, &queue).await;
}

/// A refused event, while it waits out its backoff, holds back the later events of its own
/// article (so they cannot overtake it), never those of other articles; once it is set aside,
/// they flow.
#[tokio::test]
async fn a_refused_event_holds_back_only_its_own_article() {
    use newswire::config::Settings;
    use newswire::event::Event;
    use newswire::publish::{AmqpSink, Publisher, Sink};
    use newswire::store::Store;

    let conn = common::broker().await;
    let (exchange, queue) = (common::unique("x"), common::unique("q"));
    let settings = Settings::load_with_env(
        None,
        [
            ("NEWSWIRE__AMQP__EXCHANGE".to_string(), exchange.clone()),
            ("NEWSWIRE__AMQP__QUEUE".to_string(), queue.clone()),
            // A refused event waits this long before its next try.
            ("NEWSWIRE__AMQP__RETRY_MIN".to_string(), "4s".to_string()),
            ("NEWSWIRE__AMQP__RETRY_MAX".to_string(), "4s".to_string()),
        ],
    )
    .unwrap();
    let event = |id: &str, kind: &str, article: &str| Event {
        id: id.into(),
        event_type: format!("newswire.{kind}"),
        source: "http://ledger.test/feed.xml".into(),
        subject: article.into(),
        time: "2026-01-02T03:04:05Z".into(),
        data: format!("{{\"article_id\":\"{article}\"}}"),
    };
    let dir = common::tempdir("held");
    let store = Store::open(&dir.join("state.sqlite3")).unwrap();
    // The queue is bound to `article.#`: `unroutable` comes back to the publisher.
    store
        .outbox_append(vec![
            event("a-1", "unroutable", "a"),
            event("b-1", "article.published", "b"),
        ])
        .await
        .unwrap();
    let sink = Sink::Amqp(Box::new(AmqpSink::new(settings.amqp.clone())));
    let pause = Duration::from_millis(100);
    let mut publisher = Publisher::new(store.clone(), sink, 16, pause, pause).with_max_attempts(2);
    let ids = |msgs: Vec<common::Message>| -> Vec<String> {
        msgs.iter()
            .map(|m| m.properties.message_id().as_ref().unwrap().to_string())
            .collect()
    };

    // First refusal: a-1 waits out its backoff, b-1 is delivered.
    let _ = publisher.drain().await;
    let first = ids(common::take(&conn, &queue, 2, Duration::from_millis(500)).await);
    assert_eq!(first, ["b-1"]);
    // A later revision of article a, and one of c, arrive while a-1 waits: c-1 goes, a-2 waits.
    store
        .outbox_append(vec![
            event("a-2", "article.revised", "a"),
            event("c-1", "article.published", "c"),
        ])
        .await
        .unwrap();
    let _ = publisher.drain().await;
    let second = ids(common::take(&conn, &queue, 2, Duration::from_millis(500)).await);
    assert_eq!(second, ["c-1"], "a-2 must not overtake a-1");
    assert_eq!(store.outbox_len(), 2);

    // The second refusal sets a-1 aside; a-2 then flows.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while store.outbox_len() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = publisher.drain().await;
    }
    let later = ids(common::take(&conn, &queue, 1, Duration::from_secs(5)).await);
    assert_eq!(later, ["a-2"]);
    let dead = store.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event.id, "a-1");
    common::cleanup(&conn, &exchange, &queue).await;
}
