//! Shared helpers for the integration tests: a loopback HTTP server whose pages a test can
//! change, the real RabbitMQ (tests fail loudly, saying how to start it, when it is absent),
//! throwaway directories, and running the real `newswire` binary.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lapin::options::{BasicGetOptions, QueueDeclareOptions, QueuePurgeOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The `newswire` binary built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_newswire"))
}

/// Runs a command to completion and fails the test, showing its stderr, unless it exits 0.
pub fn run_ok(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh directory under the system temp dir, removed by the OS eventually.
pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "newswire-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// A unique name for an exchange or queue, so tests never see each other's messages.
pub fn unique(name: &str) -> String {
    format!("newswire-test.{name}.{}", fastrand::u64(..))
}

/// A connection to the local broker, or a panic that says how to start it.
pub async fn broker() -> Connection {
    match tokio::time::timeout(
        Duration::from_secs(10),
        Connection::connect(BROKER, ConnectionProperties::default()),
    )
    .await
    {
        Ok(Ok(c)) => c,
        other => panic!(
            "RabbitMQ is not reachable at 127.0.0.1:5672 ({}). Start it with `rabbitmq-server -detached && rabbitmqctl await_startup` (or run .ci/run, which does).",
            match other {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".into(),
            }
        ),
    }
}

/// A channel on `conn`, or on a new connection when `conn` has failed. The tests' own consumer
/// connection is not what is under test; seen rarely: lapin reports a fresh connection as
/// `InvalidConnectionState` within a second. The new connection is returned to keep it open.
async fn channel(conn: &Connection) -> (Option<Connection>, lapin::Channel) {
    match conn.create_channel().await {
        Ok(ch) => (None, ch),
        Err(e) => {
            eprintln!("test connection to RabbitMQ failed ({e}); opening another");
            let fresh = broker().await;
            let ch = fresh.create_channel().await.unwrap();
            (Some(fresh), ch)
        }
    }
}

/// A message taken from a queue.
pub struct Message {
    pub body: Vec<u8>,
    pub properties: lapin::BasicProperties,
}

impl Message {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let h = self.properties.headers().as_ref()?;
        match h.inner().get(name)? {
            lapin::types::AMQPValue::LongString(s) => Some(s.to_string()),
            lapin::types::AMQPValue::ShortString(s) => Some(s.to_string()),
            other => Some(format!("{other:?}")),
        }
    }
}

/// Takes messages from `queue` until `n` arrived or `deadline` passed.
pub async fn take(conn: &Connection, queue: &str, n: usize, deadline: Duration) -> Vec<Message> {
    let (_fresh, ch) = channel(conn).await;
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < n && start.elapsed() < deadline {
        match ch
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
        {
            Ok(Some(m)) => out.push(Message {
                body: m.delivery.data.clone(),
                properties: m.delivery.properties.clone(),
            }),
            Ok(None) => tokio::time::sleep(Duration::from_millis(50)).await,
            // The queue may not exist until newswire declares it.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Box::pin(take_rest(
                    conn,
                    queue,
                    n,
                    deadline.saturating_sub(start.elapsed()),
                    out,
                ))
                .await;
            }
        }
    }
    out
}

async fn take_rest(
    conn: &Connection,
    queue: &str,
    n: usize,
    deadline: Duration,
    mut got: Vec<Message>,
) -> Vec<Message> {
    let more = take(conn, queue, n - got.len(), deadline).await;
    got.extend(more);
    got
}

/// Deletes a test queue and exchange.
pub async fn cleanup(conn: &Connection, exchange: &str, queue: &str) {
    let (_fresh, ch) = channel(conn).await;
    let _ = ch
        .queue_purge(queue.into(), QueuePurgeOptions::default())
        .await;
    let _ = ch.queue_delete(queue.into(), Default::default()).await;
    let (_fresh, ch) = channel(conn).await;
    let _ = ch
        .exchange_delete(exchange.into(), Default::default())
        .await;
    let _ = QueueDeclareOptions::default();
    let _ = FieldTable::default();
}

/// One canned HTTP response.
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Canned {
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Canned {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A loopback HTTP/1.1 server answering from a table the test can change at any time.
/// Honours `If-None-Match` against an `ETag` header with 304. Counts requests per path.
#[derive(Clone)]
pub struct Site {
    pub addr: std::net::SocketAddr,
    routes: Arc<Mutex<HashMap<String, Canned>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    /// Every request: when it arrived, its path.
    log: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Site {
    pub async fn start() -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let site = Site {
            addr: listener.local_addr().unwrap(),
            routes: Arc::default(),
            hits: Arc::default(),
            log: Arc::default(),
        };
        let s = site.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let inm = head.lines().find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("if-none-match:")
                            .map(|v| v.trim().to_string())
                    });
                    *s.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                    s.log.lock().unwrap().push((Instant::now(), path.clone()));
                    let canned = s.routes.lock().unwrap().get(&path).cloned();
                    let resp = match canned {
                        None => Canned {
                            status: 404,
                            headers: vec![],
                            body: b"not found".to_vec(),
                        },
                        Some(c) => {
                            let etag = c
                                .headers
                                .iter()
                                .find(|(k, _)| k.eq_ignore_ascii_case("etag"))
                                .map(|(_, v)| v.clone());
                            if etag.is_some() && etag.map(|e| e.to_ascii_lowercase()) == inm {
                                Canned {
                                    status: 304,
                                    headers: vec![],
                                    body: vec![],
                                }
                            } else {
                                c
                            }
                        }
                    };
                    let mut out = format!(
                        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                        resp.status,
                        resp.body.len()
                    );
                    for (k, v) in &resp.headers {
                        out.push_str(&format!("{k}: {v}\r\n"));
                    }
                    out.push_str("\r\n");
                    let _ = sock.write_all(out.as_bytes()).await;
                    let _ = sock.write_all(&resp.body).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        site
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set(&self, path: &str, canned: Canned) {
        self.routes.lock().unwrap().insert(path.to_string(), canned);
    }

    /// When each request for `path` arrived, in order.
    pub fn times(&self, path: &str) -> Vec<Instant> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, p)| p == path)
            .map(|(t, _)| *t)
            .collect()
    }

    /// Every request so far: arrival and path.
    pub fn requests(&self) -> Vec<(Instant, String)> {
        self.log.lock().unwrap().clone()
    }

    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

/// Waits for `cond` to hold, polling, until `deadline`; no fixed sleeps in tests.
pub async fn wait_for(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

/// A small RSS feed listing `items` as (guid, link, title).
pub fn rss(items: &[(&str, &str, &str)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Loopback Ledger</title><link>http://ledger.test/</link><description>Test feed</description>\n",
    );
    for (guid, link, title) in items {
        s.push_str(&format!("<item><title>{title}</title><link>{link}</link><guid isPermaLink=\"false\">{guid}</guid></item>\n"));
    }
    s.push_str("</channel></rss>\n");
    s
}

/// A plausible article page with navigation, footer and related links around the story.
pub fn article(title: &str, paragraphs: &[&str], extra_head: &str) -> String {
    let body: String = paragraphs.iter().map(|p| format!("<p>{p}</p>\n")).collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} | Loopback Ledger</title>{extra_head}</head>\
<body><header><nav><a href=\"/\">Home</a> <a href=\"/world\">World</a> <a href=\"/sport\">Sport</a></nav></header>\
<main><article><h1>{title}</h1><p class=\"byline\">By Mara Quell</p>\n{body}</article>\
<aside class=\"related\"><h2>Related</h2><ul><li><a href=\"/x\">Other story one</a></li><li><a href=\"/y\">Other story two</a></li></ul></aside></main>\
<footer><p>© 2026 Loopback Ledger. All rights reserved.</p></footer></body></html>"
    )
}

/// Runs a state-store call to completion from synchronous test code, such as a `wait_for`
/// condition. The store answers from a thread of its own, so this needs no runtime.
pub fn block<T>(fut: impl std::future::Future<Output = T>) -> T {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// Logs of the library under test, on stderr, when `TEST_LOG` is set (its value is the level,
/// as in `RUST_LOG`); quiet otherwise.
pub fn init_logs() {
    if let Ok(level) = std::env::var("TEST_LOG") {
        let level = if level == "1" {
            "debug".to_string()
        } else {
            level
        };
        newswire::telemetry::init(newswire::config::LogFormat::Text, &level);
    }
}

/// The PostgreSQL server the tests use (`NEWSWIRE_TEST_POSTGRES`, else the local one, as the
/// `postgres` user with trust auth).
pub fn postgres_admin_url() -> String {
    std::env::var("NEWSWIRE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh, empty database on the test server, dropped when this is dropped.
pub struct Database {
    pub url: String,
    name: String,
}

impl Database {
    /// Creates the database, or fails the test saying how to start PostgreSQL.
    pub async fn fresh() -> Database {
        let admin = postgres_admin_url();
        let name = format!("newswire_test_{}", fastrand::u64(..));
        let client = admin_client(&admin).await;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        Database {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

async fn admin_client(admin: &str) -> tokio_postgres::Client {
    match tokio::time::timeout(
        Duration::from_secs(10),
        tokio_postgres::connect(admin, tokio_postgres::NoTls),
    )
    .await
    {
        Ok(Ok((client, conn))) => {
            tokio::spawn(conn);
            client
        }
        other => panic!(
            "PostgreSQL is not reachable at {admin} ({}). Start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (or run .ci/run, which does), or point NEWSWIRE_TEST_POSTGRES at a server.",
            match other {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".into(),
            }
        ),
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (admin, name) = (postgres_admin_url(), self.name.clone());
        // Its own thread and runtime: drop may run inside or outside a runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let client = admin_client(&admin).await;
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}

/// The event contract's JSON Schema (docs/schema/article-event.schema.json), as JSON.
pub fn event_schema_json() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema/article-event.schema.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Validators of a structured event (a stdout line) and of `data` alone (an AMQP body).
fn validators() -> &'static (jsonschema::Validator, jsonschema::Validator) {
    static V: std::sync::OnceLock<(jsonschema::Validator, jsonschema::Validator)> =
        std::sync::OnceLock::new();
    V.get_or_init(|| {
        let schema = event_schema_json();
        let event = jsonschema::draft202012::new(&schema).expect("the event schema compiles");
        // `data` alone: the same definitions, rooted at `#/$defs/data`.
        let data_schema = serde_json::json!({
            "$schema": schema["$schema"],
            "$defs": schema["$defs"],
            "$ref": "#/$defs/data",
        });
        let data = jsonschema::draft202012::new(&data_schema).expect("the data schema compiles");
        (event, data)
    })
}

fn check(v: &jsonschema::Validator, what: &str, instance: &serde_json::Value) {
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match docs/schema/article-event.schema.json:\n  {}\n{instance:#}",
        errors.join("\n  ")
    );
}

/// Fails the test unless `event` (a structured CloudEvent) matches the event schema.
pub fn assert_valid_event(event: &serde_json::Value) {
    check(&validators().0, "event", event);
}

/// Fails the test unless `data` (an AMQP message body) matches the schema's `data`.
pub fn assert_valid_data(data: &serde_json::Value) {
    check(&validators().1, "event data", data);
}
