//! Scale-out: the large cold-start farm (`farm`: 1,600 feeds x 15 new entries on 254 loopback
//! sites) crawled by 1, 2 and 3 replicas of the real binary on one fresh PostgreSQL database
//! each time, with a short spacing and interval so that the machine, not politeness, is the
//! limit; plus a failover (the relay killed with SIGKILL halfway through the 3-replica run) and
//! the outbox's throughput on PostgreSQL against SQLite.
//!
//! ```text
//! cargo bench --bench replicas
//! BENCH_SPACING_MS=1000 BENCH_REPLICAS=1,3 cargo bench --bench replicas
//! ```
//!
//! Figures: pages/s per run and the scaling efficiency rate(N) / (N x rate(1)), the failover
//! time (kill to the dead replica's sites being polled again), database round trips per page,
//! outbox events/s on each backend. Needs PostgreSQL on 127.0.0.1 (`NEWSWIRE_TEST_POSTGRES`);
//! skips with a message when it is absent. Only loopback addresses are used.

#[path = "farm/mod.rs"]
mod farm;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use newswire::event::Event;
use newswire::publish::{Publisher, Sink};
use newswire::store::Store;

const SITES: u32 = 254;
const FEEDS: u32 = 1600;
const ENTRIES: u32 = 15;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.into())
}

fn admin_url() -> String {
    env(
        "NEWSWIRE_TEST_POSTGRES",
        "postgres://postgres@127.0.0.1:5432/postgres",
    )
}

async fn admin() -> Option<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(client)
}

/// A fresh database: its URL and its name.
async fn fresh_database(client: &tokio_postgres::Client) -> (String, String) {
    let name = format!("newswire_bench_{}", fastrand::u64(..));
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let admin = admin_url();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    (format!("{base}/{name}"), name)
}

fn main() {
    if farm::serve_if_asked() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(client) = runtime.block_on(admin()) else {
        println!(
            "replicas benchmark: PostgreSQL is not reachable at {}; skipped (start it, or set NEWSWIRE_TEST_POSTGRES)",
            admin_url()
        );
        return;
    };
    let spacing_ms: u64 = env("BENCH_SPACING_MS", "10").parse().unwrap();
    let counts: Vec<usize> = env("BENCH_REPLICAS", "1,2,3")
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();

    println!("newswire scale-out benchmark");
    let (pg_rate, sqlite_rate) = runtime.block_on(outbox_rates(&client));
    println!(
        "  outbox               20,000 events appended and drained to a sink: PostgreSQL {pg_rate:.0} events/s, SQLite {sqlite_rate:.0} events/s ({:.2}x)",
        pg_rate / sqlite_rate
    );
    println!(
        "  farm                 {FEEDS} feeds x {ENTRIES} entries on {SITES} loopback sites, spacing {spacing_ms} ms, 2 in flight per site"
    );
    let mut rate1 = None;
    for &n in &counts {
        let run = runtime.block_on(crawl(&client, n, spacing_ms, n == 3));
        let rate = f64::from(FEEDS * ENTRIES) / run.secs;
        let base = *rate1.get_or_insert(if n == 1 { rate } else { f64::NAN });
        println!(
            "  {n} replica{}           {:.1} s, {rate:.0} pages/s, efficiency {:.2}; {:.1} DB round trips per page; CPU {:.0}% of a core (replicas), {:.0} MB peak RSS per replica",
            if n == 1 { " " } else { "s" },
            run.secs,
            rate / (n as f64 * base),
            run.trips as f64 / f64::from(FEEDS * ENTRIES),
            100.0 * run.cpu / run.secs,
            run.peak_rss_mb
        );
        if let Some(f) = run.failover {
            println!(
                "                       failover: the killed relay's {} sites polled again within {:.2} s (lease {} s)",
                f.0,
                f.1.as_secs_f64(),
                LEASE.as_secs()
            );
        }
        println!(
            "                       {} events for {} ids ({} duplicates), {} articles missing",
            run.events,
            run.events_distinct,
            run.events - run.events_distinct,
            run.missing
        );
    }
}

const LEASE: Duration = Duration::from_secs(3);

/// Appends 20,000 events and drains them to an in-memory stdout sink, on each backend.
async fn outbox_rates(client: &tokio_postgres::Client) -> (f64, f64) {
    let events: Vec<Event> = (0..20_000)
        .map(|i| Event {
            id: format!("bench-{i}"),
            event_type: "newswire.article.published".into(),
            source: "http://farm.test/feed".into(),
            subject: format!("a{i}"),
            time: "2026-01-05T10:23:00Z".into(),
            data: format!("{{\"n\":{i},\"body_text\":\"{}\"}}", "word ".repeat(300)),
        })
        .collect();
    let (url, name) = fresh_database(client).await;
    let pg = Store::postgres(&url, 4).await.unwrap();
    let dir = std::env::temp_dir().join(format!("newswire-bench-outbox-{}", std::process::id()));
    let sqlite = Store::open(&dir.join("state.sqlite3")).unwrap();
    let mut rates = Vec::new();
    for store in [pg, sqlite] {
        let start = Instant::now();
        for chunk in events.chunks(500) {
            store.outbox_append(chunk.to_vec()).await.unwrap();
        }
        let mut publisher = Publisher::new(
            store.clone(),
            Sink::Stdout(Box::new(std::io::sink())),
            256,
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let sent = publisher.drain().await.unwrap();
        assert_eq!(sent as usize, events.len());
        rates.push(events.len() as f64 / start.elapsed().as_secs_f64());
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = client
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await;
    (rates[0], rates[1])
}

struct Run {
    secs: f64,
    events: usize,
    events_distinct: usize,
    missing: usize,
    trips: u64,
    cpu: f64,
    peak_rss_mb: f64,
    /// Sites of the killed replica, and the time until the last of them was polled again.
    failover: Option<(usize, Duration)>,
}

struct Replica {
    child: Child,
    listen: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent(n: usize) -> String {
    format!("newswire-bench-replica-{n}/1.0")
}

/// Crawls the farm with `n` replicas; with `kill`, SIGKILLs the relay halfway.
async fn crawl(client: &tokio_postgres::Client, n: usize, spacing_ms: u64, kill: bool) -> Run {
    let (db, name) = fresh_database(client).await;
    let dir = std::env::temp_dir().join(format!("newswire-bench-replicas-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let farm = farm::Farm::start(SITES, FEEDS, ENTRIES, &dir.join("farm.log"));
    let feeds: Vec<String> = (0..FEEDS)
        .map(|i| format!("\"{}\"", farm.feed_url(i)))
        .collect();
    let config = dir.join("newswire.toml");
    std::fs::write(
        &config,
        format!(
            "[state]\nurl = \"{db}\"\nlease = \"{}s\"\n[feeds]\nurls = [{}]\n[poll]\ninterval = \"2s\"\n\
             [politeness]\nspacing = \"{spacing_ms}ms\"\n[fetch]\nallow = [\"127.0.0.0/8\"]\n[publish]\nsink = \"stdout\"\n\
             [scrape]\nrecheck = []\n[shutdown]\ndrain = \"2s\"\nflush = \"2s\"\n",
            LEASE.as_secs(),
            feeds.join(", ")
        ),
    )
    .unwrap();
    let published: Arc<Mutex<Vec<(Instant, String, String)>>> = Arc::default();
    let start_replica = |i: usize| {
        let listen = format!(
            "127.0.0.1:{}",
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_newswire"))
            .args(["run", "--config"])
            .arg(&config)
            .env("NEWSWIRE__FETCH__USER_AGENT", agent(i))
            .env("NEWSWIRE__SERVER__LISTEN", &listen)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let published = published.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let field = |name: &str| {
                    let key = format!("\"{name}\":\"");
                    line.find(&key).map(|i| {
                        let rest = &line[i + key.len()..];
                        rest[..rest.find('"').unwrap_or(rest.len())].to_string()
                    })
                };
                if let (Some(id), Some(url)) = (field("id"), field("url")) {
                    published.lock().unwrap().push((Instant::now(), id, url));
                }
            }
        });
        Replica { child, listen }
    };
    let started = Instant::now();
    let mut replicas: Vec<Replica> = (0..n).map(start_replica).collect();
    let expected = (FEEDS * ENTRIES) as usize;
    let mut killed_at: Option<(Instant, String)> = None;
    let mut cpu_dead = 0.0;
    let deadline = Duration::from_secs(600);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let done: BTreeSet<String> = published
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, u)| u.clone())
            .collect();
        if done.len() >= expected || started.elapsed() > deadline {
            break;
        }
        if kill && killed_at.is_none() && done.len() >= expected / 2 {
            for (i, r) in replicas.iter().enumerate() {
                let ready = reqwest::get(format!("http://{}/readyz", r.listen))
                    .await
                    .ok();
                let text = match ready {
                    Some(r) => r.text().await.unwrap_or_default(),
                    None => String::new(),
                };
                if text.contains("relaying the outbox") {
                    cpu_dead = farm::cpu_seconds(&r.child.id().to_string());
                    let _ = Command::new("kill")
                        .args(["-KILL", &r.child.id().to_string()])
                        .status();
                    killed_at = Some((Instant::now(), agent(i).to_ascii_lowercase()));
                    break;
                }
            }
        }
    }
    let secs = published
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _, _)| *t)
        .max()
        .map_or(f64::NAN, |t| (t - started).as_secs_f64());
    let mut trips = 0;
    let mut cpu = cpu_dead;
    let mut peak_rss_mb: f64 = 0.0;
    for r in &replicas {
        if let Ok(resp) = reqwest::get(format!("http://{}/metrics", r.listen)).await {
            let text = resp.text().await.unwrap_or_default();
            trips += text
                .lines()
                .find_map(|l| l.strip_prefix("newswire_db_round_trips "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
        let pid = r.child.id().to_string();
        cpu += farm::cpu_seconds(&pid);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let hwm = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0);
        peak_rss_mb = peak_rss_mb.max(hwm / 1024.0);
    }
    for r in &replicas {
        let _ = Command::new("kill")
            .args(["-TERM", &r.child.id().to_string()])
            .status();
    }
    for r in &mut replicas {
        let _ = r.child.wait();
    }
    drop(replicas);
    let (log, _) = farm.stop();
    let failover = killed_at.map(|(at, agent)| {
        let at_us = farm::now_us() - at.elapsed().as_micros() as u64;
        // The sites the killed replica was serving in the lease before the kill.
        let served: BTreeSet<u32> = log
            .requests
            .iter()
            .filter(|r| {
                r.agent == agent
                    && r.start_us + LEASE.as_micros() as u64 >= at_us
                    && r.start_us <= at_us
            })
            .map(|r| r.site)
            .collect();
        let mut worst = Duration::ZERO;
        for site in &served {
            if let Some(t) = log
                .requests
                .iter()
                .filter(|r| r.site == *site && r.start_us > at_us && r.agent != agent)
                .map(|r| r.start_us)
                .min()
            {
                worst = worst.max(Duration::from_micros(t - at_us));
            }
        }
        (served.len(), worst)
    });
    let events = published.lock().unwrap().clone();
    let by_url: HashMap<&str, usize> = events.iter().fold(HashMap::new(), |mut m, (_, _, u)| {
        *m.entry(u.as_str()).or_default() += 1;
        m
    });
    let distinct: BTreeSet<&str> = events.iter().map(|(_, id, _)| id.as_str()).collect();
    let _ = client
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await;
    let _ = std::fs::remove_dir_all(&dir);
    Run {
        secs,
        events: events.len(),
        events_distinct: distinct.len(),
        missing: expected.saturating_sub(by_url.len()),
        trips,
        cpu,
        peak_rss_mb,
        failover,
    }
}
