//! Three replicas of the real binary on one fresh PostgreSQL database and the real RabbitMQ,
//! against 20 loopback sites (127.0.0.1 .. 127.0.0.20) whose articles change every few seconds.
//! Each replica has its own User-Agent, so the sites' request log tells them apart.
//!
//! Mid-run the replica relaying the outbox is killed with SIGKILL and started again later; then
//! another is frozen with SIGSTOP past its lease and resumed. Asserted from the sites' log and
//! from RabbitMQ:
//! - every site the killed replica served is polled again within lease + interval of the kill;
//! - never two replicas fetching from one site at once, and the per-site spacing held across
//!   replicas (a new owner keeps the spacing the old one left);
//! - revisions contiguous (1..k) per article, one payload per event id;
//! - every article published; duplicates bounded by the relay's confirm window.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SITES: u8 = 20;
const ARTICLES: usize = 3;
const LEASE: Duration = Duration::from_secs(2);
const INTERVAL: Duration = Duration::from_secs(1);
const SPACING: Duration = Duration::from_millis(300);
/// Articles change this often.
const EDIT_EVERY: Duration = Duration::from_secs(6);
const WINDOW: usize = 64;

/// One request a site answered.
#[derive(Debug, Clone)]
struct Hit {
    site: u8,
    path: String,
    agent: String,
    start: Instant,
    end: Instant,
}

/// The 20 sites: `/feed.xml` lists `/a/0` .. `/a/2`; each article's text names its version,
/// which goes up every `EDIT_EVERY`.
struct Sites {
    port: u16,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Sites {
    async fn start() -> Sites {
        let began = Instant::now();
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let (listeners, port) = 'bind: loop {
            let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = first.local_addr().unwrap().port();
            let mut all = vec![first];
            for i in 2..=SITES {
                match TcpListener::bind(format!("127.0.0.{i}:{port}")).await {
                    Ok(l) => all.push(l),
                    Err(_) => continue 'bind,
                }
            }
            break (all, port);
        };
        for (i, l) in listeners.into_iter().enumerate() {
            let hits = hits.clone();
            tokio::spawn(async move {
                while let Ok((sock, _)) = l.accept().await {
                    tokio::spawn(serve(sock, i as u8 + 1, port, began, hits.clone()));
                }
            });
        }
        Sites { port, hits }
    }

    fn feeds(&self) -> Vec<String> {
        (1..=SITES)
            .map(|i| format!("http://127.0.0.{i}:{}/feed.xml", self.port))
            .collect()
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

async fn serve(
    mut sock: tokio::net::TcpStream,
    site: u8,
    port: u16,
    began: Instant,
    hits: Arc<Mutex<Vec<Hit>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let start = Instant::now();
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let agent = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("user-agent:")
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default();
        let (ctype, body) = if path == "/feed.xml" {
            let items: String = (0..ARTICLES)
                .map(|k| {
                    format!(
                        "<item><title>Story {site}-{k}</title><link>http://127.0.0.{site}:{port}/a/{k}</link><guid>{site}-{k}</guid></item>"
                    )
                })
                .collect();
            (
                "application/rss+xml",
                format!(
                    "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Site {site}</title>{items}</channel></rss>"
                ),
            )
        } else {
            let version = began.elapsed().as_secs() / EDIT_EVERY.as_secs();
            ("text/html", article(site, &path, version))
        };
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if sock.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
        hits.lock().unwrap().push(Hit {
            site,
            path,
            agent,
            start,
            end: Instant::now(),
        });
    }
}

fn article(site: u8, path: &str, version: u64) -> String {
    let paras = [
        "The harbour board voted on Tuesday to extend the ferry pier by forty metres, a project the town has argued about for a decade.",
        "Work is due to start in the spring and last eight months, during which the morning sailings will leave from the old slipway.",
        "Residents on the quay said they welcomed the plan but asked for the noisiest work to stop before eight in the evening.",
    ];
    let body: String = paras.iter().map(|p| format!("<p>{p}</p>")).collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><title>Story {site}{path}</title></head><body><main><article>\
         <h1>Story {site}{path}</h1>{body}<p>This is version {version} of the story on site {site}, page {path}.</p>\
         </article></main></body></html>"
    )
}

struct Replica {
    n: usize,
    child: Child,
    log: std::path::PathBuf,
    listen: String,
}

impl Replica {
    fn agent(n: usize) -> String {
        format!("newswire-replica-{n}/1.0")
    }

    fn start(n: usize, config: &std::path::Path, dir: &std::path::Path, db: &str) -> Replica {
        let listen = format!(
            "127.0.0.1:{}",
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        );
        let log = dir.join(format!("replica-{n}-{}.log", fastrand::u32(..)));
        let child = Command::new(common::bin())
            .args(["run", "--config"])
            .arg(config)
            .env("NEWSWIRE__STATE__URL", db)
            .env("NEWSWIRE__FETCH__USER_AGENT", Self::agent(n))
            .env("NEWSWIRE__SERVER__LISTEN", &listen)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Replica {
            n,
            child,
            log,
            listen,
        }
    }

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

    async fn readyz(&self) -> String {
        match reqwest::get(format!("http://{}/readyz", self.listen)).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    fn stop(mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "replica {} did not exit after SIGTERM:\n{}",
                self.n,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_the_sites_survive_a_kill_and_a_pause_and_lose_nothing() {
    let conn = common::broker().await;
    let db = common::Database::fresh().await;
    let (exchange, queue) = (common::unique("x"), common::unique("q"));
    let sites = Sites::start().await;
    let dir = common::tempdir("replicas");
    let config = dir.join("newswire.toml");
    let feeds: Vec<String> = sites.feeds().iter().map(|f| format!("\"{f}\"")).collect();
    std::fs::write(
        &config,
        format!(
            r#"
[amqp]
url = "{broker}"
exchange = "{exchange}"
queue = "{queue}"
window = {WINDOW}
retry_min = "100ms"
retry_max = "1s"
[state]
lease = "{lease}ms"
[feeds]
urls = [{feeds}]
[poll]
interval = "{interval}ms"
min_interval = "100ms"
jitter = 0.0
concurrency = 4
[politeness]
spacing = "{spacing}ms"
[scrape]
concurrency = 4
recheck = [["1h", "1s"]]
[fetch]
allow = ["127.0.0.0/8"]
[shutdown]
drain = "3s"
flush = "5s"
"#,
            broker = common::BROKER,
            lease = LEASE.as_millis(),
            feeds = feeds.join(", "),
            interval = INTERVAL.as_millis(),
            spacing = SPACING.as_millis(),
        ),
    )
    .unwrap();

    let mut replicas: Vec<Replica> = (0..3)
        .map(|n| Replica::start(n, &config, &dir, &db.url))
        .collect();
    let all_logs = |rs: &[Replica]| rs.iter().map(|r| r.log()).collect::<Vec<_>>().join("\n");

    // Every article published once, from all three replicas' work.
    let articles = usize::from(SITES) * ARTICLES;
    let mut events: Vec<common::Message> =
        common::take(&conn, &queue, articles, Duration::from_secs(40)).await;
    assert!(
        events.len() >= articles,
        "{} events of {articles}:\n{}",
        events.len(),
        all_logs(&replicas)
    );
    let agents: HashSet<String> = sites.hits().into_iter().map(|h| h.agent).collect();
    assert_eq!(agents.len(), 3, "all three replicas fetch: {agents:?}");

    // Kill the replica that relays the outbox.
    let mut relay = None;
    for (i, r) in replicas.iter().enumerate() {
        if r.readyz().await.contains("relaying the outbox") {
            relay = Some(i);
        }
    }
    let relay = relay.expect("one replica relays the outbox");
    let killed = replicas.remove(relay);
    let killed_agent = Replica::agent(killed.n).to_ascii_lowercase();
    let killed_at = Instant::now();
    let served: BTreeSet<u8> = sites
        .hits()
        .iter()
        .filter(|h| h.agent == killed_agent && killed_at - h.start < LEASE)
        .map(|h| h.site)
        .collect();
    killed.signal("-KILL");
    let killed_n = killed.n;
    drop(killed);
    tokio::time::sleep(LEASE * 3).await;
    replicas.push(Replica::start(killed_n, &config, &dir, &db.url));

    // Freeze another replica past its lease, then let it go on.
    tokio::time::sleep(LEASE * 2).await;
    let paused = &replicas[0];
    paused.signal("-STOP");
    tokio::time::sleep(LEASE * 2).await;
    paused.signal("-CONT");
    // Long enough for the resumed replica to rejoin and every article to change again.
    tokio::time::sleep(EDIT_EVERY + LEASE * 2).await;

    for r in replicas {
        let n = r.n;
        let status = r.stop();
        assert!(status.success(), "replica {n} exit status {status:?}");
    }
    events.extend(common::take(&conn, &queue, 100_000, Duration::from_secs(3)).await);
    let hits = sites.hits();
    common::cleanup(&conn, &exchange, &queue).await;

    // Failover: every site the killed replica served was polled again soon after.
    let bound = LEASE + INTERVAL + Duration::from_secs(1);
    let mut worst = Duration::ZERO;
    for site in &served {
        let next = hits
            .iter()
            .filter(|h| h.site == *site && h.path == "/feed.xml" && h.start > killed_at)
            .map(|h| h.start - killed_at)
            .min()
            .unwrap_or_else(|| panic!("site {site} never polled again after the kill"));
        worst = worst.max(next);
    }
    assert!(
        !served.is_empty() && worst <= bound,
        "the killed replica's {} sites were polled again within {worst:?} (bound {bound:?})",
        served.len()
    );

    // Never two replicas at one site at once; the spacing held across replicas.
    let mut by_site: HashMap<u8, Vec<&Hit>> = HashMap::new();
    for h in &hits {
        by_site.entry(h.site).or_default().push(h);
    }
    // Start times as the sites saw them carry the scheduling jitter of a busy 2-core machine
    // (five processes here): a tenth of the spacing.
    let tolerance = SPACING / 10;
    for (site, mut list) in by_site {
        list.sort_by_key(|h| h.start);
        for w in list.windows(2) {
            let gap = w[1].start - w[0].start;
            assert!(
                gap + tolerance >= SPACING,
                "site {site}: {} then {} only {gap:?} apart",
                w[0].agent,
                w[1].agent
            );
            if w[0].agent != w[1].agent {
                assert!(
                    w[1].start >= w[0].end,
                    "site {site}: {} and {} fetching at once",
                    w[0].agent,
                    w[1].agent
                );
            }
        }
    }

    // Revisions contiguous per article, one payload per event id, every article published.
    let mut payloads: HashMap<String, Vec<u8>> = HashMap::new();
    let mut revisions: HashMap<String, BTreeSet<u64>> = HashMap::new();
    for m in &events {
        let id = m.properties.message_id().as_ref().unwrap().to_string();
        if let Some(seen) = payloads.get(&id) {
            assert_eq!(seen, &m.body, "event {id} published with two payloads");
        }
        payloads.insert(id, m.body.clone());
        let d = m.json();
        revisions
            .entry(d["url"].as_str().unwrap().to_string())
            .or_default()
            .insert(d["revision"].as_u64().unwrap());
    }
    assert_eq!(revisions.len(), articles, "every article published");
    let mut revised = 0;
    for (url, revs) in &revisions {
        let want: BTreeSet<u64> = (1..=*revs.last().unwrap()).collect();
        assert_eq!(revs, &want, "{url}: revisions not contiguous");
        revised += usize::from(revs.len() > 1);
    }
    assert!(revised > articles / 2, "articles were revised: {revised}");
    let duplicates = events.len() - payloads.len();
    assert!(
        duplicates <= 2 * WINDOW,
        "{duplicates} duplicates (bound {})",
        2 * WINDOW
    );
    eprintln!(
        "replicas: {} events, {} ids, {duplicates} duplicates; {} sites failed over within {worst:?}; {} requests",
        events.len(),
        payloads.len(),
        served.len(),
        hits.len()
    );
}
