//! Fault injection: the real `newswire run` binary publishes a known set of N events while the
//! broker or the network misbehaves, and a checker then counts what reached the queue.
//!
//! Each scenario writes N events into the daemon's outbox (with the library's Store API, a few
//! at a time, the way the pipeline does while feeds are polled; no feeds are configured), injects
//! its fault mid-stream, waits for the outbox to drain, stops the daemon with SIGTERM (exit 0
//! expected) and consumes the queue. It reports expected, delivered (distinct ids), lost and
//! duplicates, and requires lost = 0 and duplicates within what the window allows.
//!
//! Scenarios that change a broker use a private RabbitMQ node started here (stopped at the end,
//! even on failure) or a TCP proxy in front of the shared broker; the shared broker only ever
//! sees this suite's own uniquely named exchanges and queues.
//!
//! The table is written straight to the process's stderr (not captured by the test harness), so
//! CI logs show it; `cargo test --test faults -- --nocapture` shows the daemon logs as well.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use newswire::event::Event;
use newswire::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Events per scenario.
const N: usize = 2_000;
/// Events in the scenarios that break the link: most are in the outbox at the start and the
/// fault is fired once publishing is under way, so it catches messages in flight (a 2,000-event
/// burst is over before `rabbitmqctl` has even started).
const N_BURST: usize = 10_000;
const PREFILL: usize = 8_000;
/// The daemon's `amqp.window` in these tests.
const WINDOW: usize = 64;
/// Duplicates one fault may cause: the unconfirmed window plus acks not yet deleted (half a window).
const DUP_PER_FAULT: usize = WINDOW + WINDOW / 2;

// ---------------------------------------------------------------------------------------------
// Events, the outbox feeder and the checker

fn events(tag: &str, n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| Event {
            id: format!("{tag}-{i:05}"),
            event_type: "newswire.article.published".into(),
            source: "http://ledger.test/feed.xml".into(),
            subject: format!("article-{i}"),
            time: "2026-01-02T03:04:05Z".into(),
            data: format!("{{\"article_id\":\"article-{i}\",\"revision\":1,\"title\":\"Fault injection event {i}\"}}"),
        })
        .collect()
}

/// Writes the events into the outbox: `prefill` at once, the rest in chunks over `over`, as the
/// pipeline would while polling. `written` tracks progress so faults can be timed mid-stream.
async fn feed_outbox(
    state: &Path,
    events: Vec<Event>,
    prefill: usize,
    over: Duration,
    written: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    let store = Store::open(state).unwrap();
    store
        .outbox_append(events[..prefill].to_vec())
        .await
        .unwrap();
    written.store(prefill, Ordering::SeqCst);
    let rest = events[prefill..].to_vec();
    tokio::spawn(async move {
        let chunks = 40;
        let per = rest.len().div_ceil(chunks).max(1);
        for chunk in rest.chunks(per) {
            tokio::time::sleep(over / chunks as u32).await;
            store.outbox_append(chunk.to_vec()).await.unwrap();
            written.fetch_add(chunk.len(), Ordering::SeqCst);
        }
    })
}

fn outbox_len(state: &Path) -> u64 {
    Store::open(state)
        .map(|s| s.outbox_len())
        .unwrap_or(u64::MAX)
}

/// Consumes `queue` (manual acks) until `stop_after` distinct ids arrived and the queue stayed
/// quiet for `idle`, or `deadline` passed. Returns deliveries per message id.
async fn collect(
    url: &str,
    queue: &str,
    stop_after: usize,
    idle: Duration,
    deadline: Duration,
) -> HashMap<String, usize> {
    let conn = Connection::connect(
        url,
        ConnectionProperties::default().with_connection_name("fault-checker".into()),
    )
    .await
    .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.basic_qos(500, BasicQosOptions::default()).await.unwrap();
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "fault-checker".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let start = Instant::now();
    let mut seen: HashMap<String, usize> = HashMap::new();
    while start.elapsed() < deadline {
        let wait = if seen.len() >= stop_after {
            idle
        } else {
            Duration::from_secs(1)
        };
        match tokio::time::timeout(wait, consumer.next()).await {
            Ok(Some(Ok(d))) => {
                let id = d
                    .properties
                    .message_id()
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default();
                *seen.entry(id).or_default() += 1;
                d.ack(BasicAckOptions::default()).await.unwrap();
            }
            Ok(_) => panic!("checker's consumer ended"),
            Err(_) if seen.len() >= stop_after => break,
            Err(_) => {}
        }
    }
    let _ = conn.close(200, "checked".into()).await;
    seen
}

struct Figures {
    scenario: &'static str,
    expected: usize,
    delivered: usize,
    lost: usize,
    duplicates: usize,
    bound: usize,
    secs: f64,
    notes: String,
}

impl Figures {
    fn new(
        scenario: &'static str,
        tag: &str,
        n: usize,
        seen: &HashMap<String, usize>,
        faults: usize,
        started: Instant,
        notes: String,
    ) -> Self {
        let expected: Vec<String> = events(tag, n).into_iter().map(|e| e.id).collect();
        let delivered = expected.iter().filter(|id| seen.contains_key(*id)).count();
        let duplicates = expected
            .iter()
            .filter_map(|id| seen.get(id))
            .map(|n| n - 1)
            .sum();
        Figures {
            scenario,
            expected: expected.len(),
            delivered,
            lost: expected.len() - delivered,
            duplicates,
            bound: faults * DUP_PER_FAULT,
            secs: started.elapsed().as_secs_f64(),
            notes,
        }
    }

    /// Prints the row (past the harness's capture, so CI shows it), keeps it for docs, and checks it.
    fn report_and_check(self) {
        let row = format!(
            "| {:<40} | {:>8} | {:>9} | {:>4} | {:>10} | {:>5} | {:>6.1} | {} |",
            self.scenario,
            self.expected,
            self.delivered,
            self.lost,
            self.duplicates,
            self.bound,
            self.secs,
            self.notes
        );
        let header = "| scenario                                 | expected | delivered | lost | duplicates | bound |   time | publisher counters |";
        let _ = writeln!(std::io::stderr(), "\nfault table\n{header}\n{row}");
        let table = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fault-table.md");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(table)
        {
            let _ = writeln!(f, "{row}");
        }
        assert_eq!(self.lost, 0, "{} lost events: {row}", self.scenario);
        assert!(
            self.duplicates <= self.bound,
            "{} duplicates beyond the window bound: {row}",
            self.scenario
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The daemon

struct Daemon {
    child: Child,
    log: PathBuf,
}

struct DaemonSpec {
    url: String,
    exchange: String,
    queue: String,
    state: PathBuf,
    dir: PathBuf,
    /// Settings beyond the suite's, as environment variables.
    env: Vec<(&'static str, String)>,
}

impl DaemonSpec {
    fn new(name: &str, url: &str, queue: Option<String>) -> Self {
        let dir = common::tempdir(&format!("fault-{name}"));
        DaemonSpec {
            url: url.into(),
            exchange: common::unique(&format!("{name}-x")),
            queue: queue.unwrap_or_else(|| common::unique(&format!("{name}-q"))),
            state: dir.join("state.sqlite3"),
            dir,
            env: Vec::new(),
        }
    }

    fn start(&self, run: usize) -> Daemon {
        let log = self.dir.join(format!("daemon-{run}.log"));
        let child = Command::new(common::bin())
            .arg("run")
            .env("RUST_LOG", "info")
            .env("NEWSWIRE__AMQP__URL", &self.url)
            .env("NEWSWIRE__AMQP__EXCHANGE", &self.exchange)
            .env("NEWSWIRE__AMQP__QUEUE", &self.queue)
            .env("NEWSWIRE__AMQP__WINDOW", WINDOW.to_string())
            .env("NEWSWIRE__AMQP__CONFIRM_TIMEOUT", "3s")
            .env("NEWSWIRE__AMQP__CONNECT_TIMEOUT", "3s")
            .env("NEWSWIRE__AMQP__HEARTBEAT", "2s")
            .env("NEWSWIRE__AMQP__RETRY_MIN", "100ms")
            .env("NEWSWIRE__AMQP__RETRY_MAX", "1s")
            .env("NEWSWIRE__STATE__PATH", &self.state)
            .env("NEWSWIRE__FEEDS__URLS", "[]")
            .env("NEWSWIRE__SHUTDOWN__FLUSH", "5s")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }
}

impl Daemon {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        assert!(
            Command::new("kill")
                .args([sig, &self.child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
    }

    /// SIGTERM, then the exit status (which must be success) and the log.
    fn terminate(mut self) -> String {
        self.signal("-TERM");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let log = self.log();
                assert!(status.success(), "exit {status:?} after SIGTERM:\n{log}");
                // A clean stop closes the channel, then the connection: no error on the way out.
                let after = &log[log.rfind("SIGTERM received").unwrap_or(0)..];
                assert!(!after.contains(" ERROR "), "errors after SIGTERM:\n{after}");
                return log;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no exit 30 s after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(mut self) {
        self.signal("-KILL");
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The daemon's closing line of counters (`published=… nacked=…`), for the table.
fn counters(log: &str) -> String {
    let Some(line) = log.lines().rev().find(|l| l.contains("newswire stopped")) else {
        return String::new();
    };
    [
        "published",
        "nacked",
        "returned",
        "timed_out",
        "dead_lettered",
        "errored",
        "connects",
    ]
    .iter()
    .filter_map(|k| {
        let v = line
            .split(&format!("{k}="))
            .nth(1)?
            .split_whitespace()
            .next()?;
        (v != "0" || *k == "published").then(|| format!("{k}={v}"))
    })
    .collect::<Vec<_>>()
    .join(" ")
}

/// Waits until the feeder is done and the outbox is empty.
async fn wait_drained(
    d: &DaemonSpec,
    feeder: tokio::task::JoinHandle<()>,
    deadline: Duration,
    daemon: &Daemon,
) {
    feeder.await.unwrap();
    let drained = common::wait_for(deadline, || outbox_len(&d.state) == 0).await;
    assert!(
        drained,
        "outbox not drained within {deadline:?} ({} left):\n{}",
        outbox_len(&d.state),
        daemon.log()
    );
}

/// Waits until the daemon has started publishing the prefilled half.
async fn wait_publishing(d: &DaemonSpec, daemon: &Daemon) {
    let under_way = common::wait_for(Duration::from_secs(30), || {
        outbox_len(&d.state) < (PREFILL - 300) as u64
    })
    .await;
    assert!(under_way, "publishing never started:\n{}", daemon.log());
}

async fn wait_written(written: &AtomicUsize, n: usize) {
    assert!(
        common::wait_for(Duration::from_secs(30), || written.load(Ordering::SeqCst)
            >= n)
        .await
    );
}

async fn drop_topology(url: &str, d: &DaemonSpec) {
    if let Ok(conn) = Connection::connect(url, ConnectionProperties::default()).await {
        common::cleanup(&conn, &d.exchange, &d.queue).await;
    }
}

// ---------------------------------------------------------------------------------------------
// A private RabbitMQ node for the scenarios that stop, disconnect or block a broker

struct PrivateNode {
    name: String,
    port: u16,
    dir: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ctl(node: &str, args: &[&str]) -> bool {
    Command::new("rabbitmqctl")
        .arg("-q")
        .args(["-n", node])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl PrivateNode {
    fn start() -> PrivateNode {
        let dir = common::tempdir("rabbit-node");
        let (port, dist) = (free_port(), free_port());
        let name = format!("newswire-faults-{}@localhost", std::process::id());
        std::fs::create_dir_all(dir.join("mnesia")).unwrap();
        std::fs::create_dir_all(dir.join("log")).unwrap();
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\nloopback_users = none\n"),
        )
        .unwrap();
        std::fs::write(dir.join("enabled_plugins"), "[].\n").unwrap();
        // The server drops to the rabbitmq user: let it write there.
        let _ = Command::new("chmod")
            .args(["-R", "a+rwX"])
            .arg(&dir)
            .status();
        let node = PrivateNode { name, port, dir };
        let started = Command::new("rabbitmq-server")
            .arg("-detached")
            .env("RABBITMQ_NODENAME", &node.name)
            .env("RABBITMQ_NODE_PORT", port.to_string())
            .env("RABBITMQ_DIST_PORT", dist.to_string())
            .env("RABBITMQ_MNESIA_BASE", node.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", node.dir.join("log"))
            .env("RABBITMQ_CONFIG_FILE", node.dir.join("rabbitmq"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                node.dir.join("enabled_plugins"),
            )
            .env("RABBITMQ_PID_FILE", node.dir.join("pid"))
            .current_dir(&node.dir)
            .status();
        assert!(
            started.is_ok_and(|s| s.success()),
            "cannot start a private RabbitMQ node (`rabbitmq-server` must be installed, as on the shared broker's machine)"
        );
        let t = Instant::now();
        // The node registers with epmd a moment after -detached returns.
        while !ctl(&node.name, &["await_startup", "--timeout", "60"]) {
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "private RabbitMQ node {} did not start; logs in {}",
                node.name,
                node.dir.display()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        node
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }
}

impl Drop for PrivateNode {
    fn drop(&mut self) {
        // Put it back, then stop it, whatever happened to the test.
        let _ = ctl(&self.name, &["set_vm_memory_high_watermark", "0.4"]);
        let _ = ctl(&self.name, &["stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// A TCP proxy that can pass, delay, black-hole or reset traffic

const PASS: u8 = 0;
const BLACK_HOLE: u8 = 1;
const LATENCY: u8 = 2;

#[derive(Clone)]
struct Proxy {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    latency_ms: Arc<AtomicU64>,
    conns: Arc<Mutex<Vec<CancellationToken>>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            mode: Arc::default(),
            latency_ms: Arc::default(),
            conns: Arc::default(),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                // Dropped with zero linger: a reset sends RST, not FIN.
                let _ = client.set_zero_linger();
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let token = CancellationToken::new();
                p.conns.lock().unwrap().push(token.clone());
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, p.clone(), token.clone()));
                tokio::spawn(pump(sr, cw, p.clone(), token));
            }
        });
        proxy
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    /// Resets every open connection.
    fn reset(&self) {
        for t in self.conns.lock().unwrap().drain(..) {
            t.cancel();
        }
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    p: Proxy,
    stop: CancellationToken,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r { Ok(0) | Err(_) => break, Ok(n) => n },
            _ = stop.cancelled() => break,
        };
        match p.mode.load(Ordering::SeqCst) {
            BLACK_HOLE => continue,
            LATENCY => {
                tokio::time::sleep(Duration::from_millis(p.latency_ms.load(Ordering::SeqCst))).await
            }
            _ => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    stop.cancel();
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// One stream through a fault on the private node: `fault` runs once the feeder is a quarter in.
async fn private_scenario(
    node: &PrivateNode,
    tag: &str,
    name: &'static str,
    faults: usize,
    fault: impl AsyncFnOnce(&PrivateNode, &Daemon),
) -> Figures {
    let started = Instant::now();
    let d = DaemonSpec::new(tag, &node.url(), None);
    let written = Arc::new(AtomicUsize::new(0));
    let feeder = feed_outbox(
        &d.state,
        events(tag, N_BURST),
        PREFILL,
        Duration::from_secs(6),
        written,
    )
    .await;
    let daemon = d.start(0);
    wait_publishing(&d, &daemon).await;
    fault(node, &daemon).await;
    wait_drained(&d, feeder, Duration::from_secs(90), &daemon).await;
    let log = daemon.terminate();
    let seen = collect(
        &node.url(),
        &d.queue,
        N_BURST,
        Duration::from_millis(700),
        Duration::from_secs(60),
    )
    .await;
    drop_topology(&node.url(), &d).await;
    Figures::new(name, tag, N_BURST, &seen, faults, started, counters(&log))
}

/// Scenarios 1–3 share one private node (starting one takes a while), one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_node_stop_start_disconnects_and_memory_alarm() {
    common::broker().await; // fail loudly if RabbitMQ is not installed and running at all
    let node = tokio::task::spawn_blocking(PrivateNode::start)
        .await
        .unwrap();
    let blocking = |node: &PrivateNode, args: &'static [&'static str]| {
        let (name, args) = (node.name.clone(), args);
        tokio::task::spawn_blocking(move || {
            assert!(ctl(&name, args), "rabbitmqctl -n {name} {args:?} failed")
        })
    };

    // 1: the broker application stops for 3 s mid-stream, then starts again.
    let f = private_scenario(
        &node,
        "stop-start",
        "1 broker stop_app/start_app",
        1,
        async |node, _| {
            blocking(node, &["stop_app"]).await.unwrap();
            tokio::time::sleep(Duration::from_secs(3)).await;
            blocking(node, &["start_app"]).await.unwrap();
        },
    )
    .await;
    f.report_and_check();

    // 2: every connection is closed by the broker, three times, two seconds apart.
    let f = private_scenario(
        &node,
        "close-all",
        "2 close_all_connections x3",
        3,
        async |node, _| {
            for _ in 0..3 {
                blocking(node, &["close_all_connections", "fault injection"])
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        },
    )
    .await;
    f.report_and_check();

    // 3: a memory alarm blocks publishers for 30 s: ten confirm timeouts (3 s here) of blocked
    // publishing, then the unblock.
    let f = private_scenario(
        &node,
        "alarm",
        "3 memory alarm held 30 s",
        1,
        async |node, daemon| {
            blocking(node, &["set_vm_memory_high_watermark", "0"])
                .await
                .unwrap();
            let seen_block = common::wait_for(Duration::from_secs(10), || {
                daemon.log().contains("broker blocks publishers")
            })
            .await;
            tokio::time::sleep(Duration::from_secs(30)).await;
            blocking(node, &["set_vm_memory_high_watermark", "0.4"])
                .await
                .unwrap();
            assert!(
                seen_block,
                "the daemon never reported the blocked broker:\n{}",
                daemon.log()
            );
        },
    )
    .await;
    f.report_and_check();
    drop(node);
}

/// Scenario 4: a proxy between newswire and the shared broker misbehaves mid-stream.
async fn proxy_scenario(
    tag: &str,
    name: &'static str,
    faults: usize,
    fault: impl AsyncFnOnce(&Proxy),
) {
    let started = Instant::now();
    common::broker().await;
    let proxy = Proxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let d = DaemonSpec::new(tag, &proxy.url(), None);
    let written = Arc::new(AtomicUsize::new(0));
    let feeder = feed_outbox(
        &d.state,
        events(tag, N_BURST),
        PREFILL,
        Duration::from_secs(6),
        written,
    )
    .await;
    let daemon = d.start(0);
    wait_publishing(&d, &daemon).await;
    fault(&proxy).await;
    proxy.set(PASS);
    wait_drained(&d, feeder, Duration::from_secs(90), &daemon).await;
    let log = daemon.terminate();
    let seen = collect(
        common::BROKER,
        &d.queue,
        N_BURST,
        Duration::from_millis(700),
        Duration::from_secs(60),
    )
    .await;
    drop_topology(common::BROKER, &d).await;
    Figures::new(name, tag, N_BURST, &seen, faults, started, counters(&log)).report_and_check();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_black_hole() {
    // Silent drop for 6 s: only heartbeats and confirm timeouts can tell.
    proxy_scenario("blackhole", "4a proxy black hole 6 s", 1, async |p| {
        p.set(BLACK_HOLE);
        tokio::time::sleep(Duration::from_secs(6)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_connection_reset() {
    proxy_scenario("reset", "4b proxy connection reset x2", 2, async |p| {
        p.reset();
        tokio::time::sleep(Duration::from_secs(2)).await;
        p.reset();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_added_latency() {
    proxy_scenario(
        "latency",
        "4c proxy latency 100 ms/chunk 4 s",
        1,
        async |p| {
            p.latency_ms.store(100, Ordering::SeqCst);
            p.set(LATENCY);
            tokio::time::sleep(Duration::from_secs(4)).await;
        },
    )
    .await;
}

/// Scenario 5: newswire is killed (SIGKILL) mid-stream and started again on the same state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_then_restart() {
    let started = Instant::now();
    common::broker().await;
    let name = "5 SIGKILL mid-stream, restart";
    let d = DaemonSpec::new("sigkill", common::BROKER, None);
    let written = Arc::new(AtomicUsize::new(0));
    // Half is in the outbox before the start, the rest arrives while it runs.
    let feeder = feed_outbox(
        &d.state,
        events("sigkill", N),
        N / 2,
        Duration::from_secs(3),
        written.clone(),
    )
    .await;
    let daemon = d.start(0);
    // Killed once publishing is under way but before everything is out.
    let midway = common::wait_for(Duration::from_secs(30), || {
        outbox_len(&d.state) < (N / 2) as u64
    })
    .await;
    assert!(midway, "publishing never started:\n{}", daemon.log());
    daemon.kill();
    let left = outbox_len(&d.state);
    let daemon = d.start(1);
    wait_drained(&d, feeder, Duration::from_secs(60), &daemon).await;
    let log = daemon.terminate();
    let seen = collect(
        common::BROKER,
        &d.queue,
        N,
        Duration::from_millis(700),
        Duration::from_secs(60),
    )
    .await;
    drop_topology(common::BROKER, &d).await;
    let notes = format!("{left} left at the kill; after restart: {}", counters(&log));
    Figures::new(name, "sigkill", N, &seen, 1, started, notes).report_and_check();
}

/// Scenario 6: the queue holds at most 300 messages and rejects publishes beyond (the broker
/// nacks); a consumer starts draining 3 s in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_limit_nacks_until_a_consumer_frees_space() {
    let started = Instant::now();
    let conn = common::broker().await;
    let name = "6 queue full (reject-publish), drained";
    // newswire declares no queue here (queue = ""): the test owns the limited one.
    let d = DaemonSpec::new("reject", common::BROKER, Some(String::new()));
    let limited = common::unique("reject-q");
    let ch = conn.create_channel().await.unwrap();
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.exchange_declare(
        d.exchange.as_str().into(),
        ExchangeKind::Topic,
        durable,
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongLongInt(300));
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare(limited.as_str().into(), durable, args)
        .await
        .unwrap();
    ch.queue_bind(
        limited.as_str().into(),
        d.exchange.as_str().into(),
        "article.#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let written = Arc::new(AtomicUsize::new(0));
    let feeder = feed_outbox(&d.state, events("reject", N), N, Duration::ZERO, written).await;
    let daemon = d.start(0);
    let nacked = common::wait_for(Duration::from_secs(20), || {
        daemon.log().contains("nacked by the broker")
    })
    .await;
    assert!(nacked, "the full queue never nacked:\n{}", daemon.log());
    // The queue stays full a little longer; then a consumer frees space as it reads.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen = collect(
        common::BROKER,
        &limited,
        N,
        Duration::from_millis(700),
        Duration::from_secs(90),
    )
    .await;
    wait_drained(&d, feeder, Duration::from_secs(30), &daemon).await;
    let log = daemon.terminate();
    common::cleanup(&conn, &d.exchange, &limited).await;
    Figures::new(name, "reject", N, &seen, 1, started, counters(&log)).report_and_check();
}

/// Scenario 7: the exchange is deleted twice mid-run (its bindings go with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_deleted_mid_run() {
    let started = Instant::now();
    let conn = common::broker().await;
    let name = "7 exchange deleted x2";
    let d = DaemonSpec::new("xdel", common::BROKER, None);
    let written = Arc::new(AtomicUsize::new(0));
    let feeder = feed_outbox(
        &d.state,
        events("xdel", N),
        0,
        Duration::from_secs(6),
        written.clone(),
    )
    .await;
    let daemon = d.start(0);
    for at in [N / 4, N / 2] {
        wait_written(&written, at).await;
        let ch = conn.create_channel().await.unwrap();
        ch.exchange_delete(d.exchange.as_str().into(), Default::default())
            .await
            .unwrap();
    }
    wait_drained(&d, feeder, Duration::from_secs(60), &daemon).await;
    let log = daemon.terminate();
    assert!(
        log.contains("channel reopened") || log.contains("connected to broker"),
        "{log}"
    );
    let seen = collect(
        common::BROKER,
        &d.queue,
        N,
        Duration::from_millis(700),
        Duration::from_secs(60),
    )
    .await;
    common::cleanup(&conn, &d.exchange, &d.queue).await;
    Figures::new(name, "xdel", N, &seen, 2, started, counters(&log)).report_and_check();
}

/// Scenario 8: one event among 2,000 is unroutable (no queue is bound for its routing key), so
/// the broker returns it every time. The other 1,999 flow past it; after 3 refusals it moves to
/// the dead-letter table; once a binding for it exists, `newswire outbox retry` delivers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_unroutable_event_is_set_aside_and_the_rest_flow() {
    let started = Instant::now();
    let conn = common::broker().await;
    let name = "8 one unroutable event (poison)";
    let mut d = DaemonSpec::new("poison", common::BROKER, None);
    d.env.push(("NEWSWIRE__PUBLISH__MAX_ATTEMPTS", "3".into()));
    let mut evs = events("poison", N);
    let poison = evs[N / 3].id.clone();
    evs[N / 3].event_type = "newswire.unroutable".into();
    let written = Arc::new(AtomicUsize::new(0));
    let feeder = feed_outbox(&d.state, evs, N / 2, Duration::from_secs(3), written).await;
    let daemon = d.start(0);
    wait_drained(&d, feeder, Duration::from_secs(60), &daemon).await;
    let cli = |args: &[&str]| {
        let out = Command::new(common::bin())
            .args(args)
            .env("NEWSWIRE__STATE__PATH", &d.state)
            .env("NEWSWIRE__FEEDS__URLS", "[]")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "newswire {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let listed = cli(&["outbox", "list"]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 1, "{listed}");
    let fields: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(fields[1], poison, "{listed}");
    assert_eq!(fields[3], "3", "{listed}");
    assert!(fields[5].contains("NO_ROUTE"), "{listed}");
    let log = daemon.log();
    assert!(log.contains("moved to the dead-letter table"), "{log}");
    // The other 1,999 were delivered while it waited.
    let mut seen = collect(
        common::BROKER,
        &d.queue,
        N - 1,
        Duration::from_millis(700),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(seen.len(), N - 1);
    assert!(!seen.contains_key(&poison));
    // A binding for it, then a retry: the running daemon publishes it.
    let ch = conn.create_channel().await.unwrap();
    ch.queue_bind(
        d.queue.as_str().into(),
        d.exchange.as_str().into(),
        "unroutable".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let seq = fields[0];
    cli(&["outbox", "retry", seq]);
    assert_eq!(cli(&["outbox", "list"]), "");
    let late = collect(
        common::BROKER,
        &d.queue,
        1,
        Duration::from_millis(700),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(late.keys().collect::<Vec<_>>(), [&poison]);
    for (id, n) in late {
        *seen.entry(id).or_default() += n;
    }
    let log = daemon.terminate();
    common::cleanup(&conn, &d.exchange, &d.queue).await;
    let notes = format!("1 dead letter, retried; {}", counters(&log));
    Figures::new(name, "poison", N, &seen, 0, started, notes).report_and_check();
}
