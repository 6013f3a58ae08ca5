//! Polling at scale: 2,000 feeds served from 254 loopback addresses (127.0.0.1–127.0.0.254),
//! polled by the real daemon (`app::run_with`: scheduler, politeness gate, fetcher, store) at a
//! 60-second interval, mostly answered 304, for a few minutes. Prints polls/s, scheduling
//! lateness p50/p99 (due time → request let out, politeness waits included), the daemon's CPU
//! share of one core and its peak RSS. Not part of `cargo test`:
//!
//! ```text
//! cargo bench --bench polling                      # 2000 feeds, 150 s
//! BENCH_FEEDS=500 BENCH_SECS=60 cargo bench --bench polling
//! ```
//!
//! The feeds are served by a child process (this binary with `--serve`), so the figures are the
//! daemon's alone. Only loopback addresses are used; the run stops by itself.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use newswire::config::{Dur, Settings, SinkKind};
use newswire::daemon::{RunOptions, run_with};
use newswire::frontier::PollStats;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const ADDRESSES: u32 = 254;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "--serve") {
        serve();
        return;
    }
    // `cargo bench` passes `--bench`; nothing else is expected.
    let feeds = env("BENCH_FEEDS", 2000);
    let secs = env("BENCH_SECS", 150);
    let interval = env("BENCH_INTERVAL", 60);

    let mut server = Command::new(std::env::current_exe().unwrap())
        .arg("--serve")
        .stdout(Stdio::piped())
        .stdin(Stdio::piped())
        .spawn()
        .expect("start the feed server");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("server prints its port");

    let dir = std::env::temp_dir().join(format!("newswire-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut s = Settings::load_with_env(None, Vec::new()).unwrap();
    s.state.path = dir.join("state.sqlite3");
    s.feeds.urls = (0..feeds)
        .map(|i| format!("http://127.0.0.{}:{port}/f/{i}", 1 + (i as u32 % ADDRESSES)))
        .collect();
    s.poll.interval = Dur(Duration::from_secs(interval));
    s.fetch.allow = vec!["127.0.0.0/8".into()];
    s.publish.sink = SinkKind::Stdout;
    s.scrape.recheck = Vec::new();
    let (per_site, spacing) = (s.politeness.per_site, s.politeness.spacing);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let stats = Arc::new(PollStats::default());
    let cpu0 = cpu_ticks("self");
    let started = Instant::now();
    runtime.block_on(async {
        let stop = CancellationToken::new();
        let options = RunOptions {
            stats: Some(stats.clone()),
            ..Default::default()
        };
        let task = tokio::spawn(run_with(s, stop.clone(), options));
        let mut last = 0;
        for t in 1..=secs {
            tokio::time::sleep_until(tokio::time::Instant::from_std(
                started + Duration::from_secs(t),
            ))
            .await;
            if t % 30 == 0 {
                let snap = stats.snapshot();
                eprintln!(
                    "  t={t:>4}s polls={:>6} (+{}) p50={} ms p99={} ms",
                    snap.polls,
                    snap.polls - last,
                    snap.lateness_p50_ms,
                    snap.lateness_p99_ms
                );
                last = snap.polls;
            }
        }
        stop.cancel();
        task.await.unwrap().unwrap();
    });
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (cpu_ticks("self") - cpu0) as f64 / ticks_per_second();
    let snap = stats.snapshot();
    let _ = server.stdin.take().map(|mut i| i.write_all(b"q\n"));
    let server_cpu = cpu_ticks(&server.id().to_string()) as f64 / ticks_per_second();
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);

    println!("newswire polling benchmark");
    println!(
        "  feeds                {feeds} on {ADDRESSES} loopback addresses, interval {interval} s, {secs} s run"
    );
    println!(
        "  politeness           {per_site} in flight per site, {} ms spacing",
        spacing.0.as_millis()
    );
    println!(
        "  polls                {} ({} failed)",
        snap.polls, snap.failures
    );
    println!(
        "  polls/s              {:.1} (steady state due: {:.1})",
        snap.polls as f64 / elapsed,
        feeds as f64 / interval as f64
    );
    println!(
        "  lateness p50/p99/max {} / {} / {} ms  (due -> request sent, politeness waits included)",
        snap.lateness_p50_ms, snap.lateness_p99_ms, snap.lateness_max_ms
    );
    println!(
        "  CPU                  {:.1}% of one core ({cpu:.1} s in {elapsed:.0} s; feed server {server_cpu:.1} s, not counted)",
        100.0 * cpu / elapsed
    );
    println!(
        "  peak RSS             {:.1} MB",
        peak_rss_kb() as f64 / 1024.0
    );
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn ticks_per_second() -> f64 {
    // USER_HZ is 100 on Linux for every architecture it runs on.
    100.0
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The feed server: the same port on 127.0.0.1–127.0.0.254, HTTP/1.1 keep-alive. `/f/N` is a
/// small RSS feed with ETag `"vK"`; K changes every 50 requests of that feed, so most
/// conditional polls get 304 and a few get a fresh 200. Exits when stdin closes.
fn serve() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (listeners, port) = bind_all().await;
        println!("{port}");
        std::io::stdout().flush().unwrap();
        let counts: Arc<std::sync::Mutex<std::collections::HashMap<String, u64>>> = Arc::default();
        for l in listeners {
            let counts = counts.clone();
            tokio::spawn(async move {
                while let Ok((sock, _)) = l.accept().await {
                    tokio::spawn(connection(sock, counts.clone()));
                }
            });
        }
        // Stop when the parent goes away (its end of our stdin closes).
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            let _ = tx.send(());
        });
        let _ = rx.await;
    });
}

async fn bind_all() -> (Vec<TcpListener>, u16) {
    for _ in 0..20 {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = first.local_addr().unwrap().port();
        let mut all = vec![first];
        for i in 2..=ADDRESSES {
            match TcpListener::bind(format!("127.0.0.{i}:{port}")).await {
                Ok(l) => all.push(l),
                Err(_) => break,
            }
        }
        if all.len() == ADDRESSES as usize {
            return (all, port);
        }
    }
    panic!("could not bind one port on all 254 loopback addresses");
}

async fn connection(
    mut sock: tokio::net::TcpStream,
    counts: Arc<std::sync::Mutex<std::collections::HashMap<String, u64>>>,
) {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
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
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let n = {
            let mut c = counts.lock().unwrap();
            let e = c.entry(path.clone()).or_default();
            *e += 1;
            *e
        };
        let etag = format!("\"v{}\"", n / 50);
        let inm = head.lines().find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("if-none-match:")
                .map(|v| v.trim().to_string())
        });
        let resp = if inm.as_deref() == Some(etag.as_str()) {
            format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nContent-Length: 0\r\n\r\n")
        } else {
            let body = format!(
                "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Feed {path}</title><link>http://bench.test/</link><description>bench</description></channel></rss>"
            );
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nETag: {etag}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        if sock.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}
