//! A farm of news sites on loopback for the benchmarks: the same port on 127.0.0.1 ..
//! 127.0.0.N, one site per address. Feed `/f/I` lives on site `1 + I % N` and lists its
//! entries `/a/I/K` (newest first, with an ETag that changes when an entry is added, so
//! conditional polls get 304); every article page is a distinct, plausible story of a few
//! kilobytes. The farm runs in a child process (the benchmark binary with `--farm`), so the
//! daemon's CPU and memory figures are its own.
//!
//! It logs every request (site, path, start and end in µs of wall time) and every entry added,
//! and writes the log to a file when told to stop, for the politeness and latency figures.
//! Commands on stdin: `add I` (a new entry at the top of feed I), `quit`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Wall time in µs, comparable between the two processes.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The farm as the benchmark sees it.
pub struct Farm {
    child: Child,
    pub port: u16,
    pub sites: u32,
    log: PathBuf,
}

/// One request the farm answered.
#[derive(Debug, Clone)]
pub struct Request {
    pub site: u32,
    pub path: String,
    pub start_us: u64,
    pub end_us: u64,
    /// The User-Agent, lower case.
    pub agent: String,
}

/// What the farm saw.
#[derive(Debug, Default)]
pub struct Log {
    pub requests: Vec<Request>,
    /// (feed, entry, when it appeared)
    pub added: Vec<(u32, u32, u64)>,
}

impl Farm {
    /// Starts the farm: `sites` addresses, `feeds` feeds of `entries` entries each.
    pub fn start(sites: u32, feeds: u32, entries: u32, log: &Path) -> Farm {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--farm",
                &sites.to_string(),
                &feeds.to_string(),
                &entries.to_string(),
            ])
            .arg(log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the farm");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the farm prints its port");
        Farm {
            child,
            port,
            sites,
            log: log.to_path_buf(),
        }
    }

    pub fn feed_url(&self, feed: u32) -> String {
        format!(
            "http://127.0.0.{}:{}/f/{feed}",
            1 + feed % self.sites,
            self.port
        )
    }

    pub fn article_url(&self, feed: u32, entry: u32) -> String {
        format!(
            "http://127.0.0.{}:{}/a/{feed}/{entry}",
            1 + feed % self.sites,
            self.port
        )
    }

    /// Adds a new entry at the top of `feed`.
    pub fn add(&mut self, feed: u32) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "add {feed}").unwrap();
        stdin.flush().unwrap();
    }

    /// Stops the farm and reads its log; also its CPU seconds.
    pub fn stop(mut self) -> (Log, f64) {
        {
            let stdin = self.child.stdin.as_mut().unwrap();
            let _ = writeln!(stdin, "quit");
            let _ = stdin.flush();
        }
        let cpu = cpu_seconds(&self.child.id().to_string());
        let _ = self.child.wait();
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut log = Log::default();
        for line in text.lines() {
            let f: Vec<&str> = line.splitn(6, ' ').collect();
            match f.as_slice() {
                ["R", site, path, start, end, agent] => log.requests.push(Request {
                    site: site.parse().unwrap(),
                    path: path.to_string(),
                    start_us: start.parse().unwrap(),
                    end_us: end.parse().unwrap(),
                    agent: agent.to_string(),
                }),
                ["A", feed, entry, at] => log.added.push((
                    feed.parse().unwrap(),
                    entry.parse().unwrap(),
                    at.parse().unwrap(),
                )),
                _ => {}
            }
        }
        (log, cpu)
    }
}

/// Politeness as the sites saw it.
#[derive(Debug, Clone, Copy)]
pub struct Politeness {
    /// The shortest gap between the starts of two requests to one site, in ms.
    pub min_gap_ms: f64,
    /// Gaps shorter than the spacing less 5 ms (clock and network jitter).
    pub short_gaps: usize,
    /// The most requests one site had in flight at once.
    pub max_in_flight: usize,
    /// The most requests any one site answered.
    pub max_requests_per_site: usize,
}

impl Log {
    pub fn politeness(&self, spacing_ms: f64) -> Politeness {
        let mut by_site: HashMap<u32, Vec<&Request>> = HashMap::new();
        for r in &self.requests {
            by_site.entry(r.site).or_default().push(r);
        }
        let mut p = Politeness {
            min_gap_ms: f64::INFINITY,
            short_gaps: 0,
            max_in_flight: 0,
            max_requests_per_site: 0,
        };
        for reqs in by_site.values_mut() {
            reqs.sort_by_key(|r| r.start_us);
            p.max_requests_per_site = p.max_requests_per_site.max(reqs.len());
            for w in reqs.windows(2) {
                let gap = (w[1].start_us - w[0].start_us) as f64 / 1000.0;
                p.min_gap_ms = p.min_gap_ms.min(gap);
                if gap < spacing_ms - 5.0 {
                    p.short_gaps += 1;
                }
            }
            let mut edges: Vec<(u64, i64)> = reqs
                .iter()
                .flat_map(|r| [(r.start_us, 1), (r.end_us, -1)])
                .collect();
            // An end at the same µs as a start comes first.
            edges.sort();
            let mut open = 0i64;
            for (_, d) in edges {
                open += d;
                p.max_in_flight = p.max_in_flight.max(open as usize);
            }
        }
        p
    }

    /// Times the farm answered feed `feed`, in order.
    pub fn polls_of(&self, feed: u32) -> Vec<u64> {
        let path = format!("/f/{feed}");
        let mut t: Vec<u64> = self
            .requests
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.start_us)
            .collect();
        t.sort_unstable();
        t
    }
}

/// utime + stime of a process, in seconds.
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // USER_HZ is 100 on Linux for every architecture it runs on.
    ticks as f64 / 100.0
}

/// Peak resident memory of this process, in MB.
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// Runs the farm if this process was started as one (`--farm SITES FEEDS ENTRIES LOG`).
/// Returns false when it was not.
pub fn serve_if_asked() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let Some(at) = args.iter().position(|a| a == "--farm") else {
        return false;
    };
    let num = |i: usize| -> u32 { args[at + i].parse().expect("farm arguments") };
    let (sites, feeds, entries) = (num(1), num(2), num(3));
    let log = PathBuf::from(&args[at + 4]);
    serve(sites, feeds, entries, &log);
    true
}

struct State {
    /// Per feed: its entries, oldest first.
    feeds: Vec<Vec<u32>>,
    log: Vec<String>,
}

fn serve(sites: u32, feeds: u32, entries: u32, log_path: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (listeners, port) = bind_all(sites).await;
        let state = Arc::new(Mutex::new(State {
            feeds: (0..feeds).map(|_| (0..entries).collect()).collect(),
            log: Vec::with_capacity(64 * 1024),
        }));
        println!("{port}");
        std::io::stdout().flush().unwrap();
        for (i, l) in listeners.into_iter().enumerate() {
            let state = state.clone();
            tokio::spawn(async move {
                while let Ok((sock, _)) = l.accept().await {
                    tokio::spawn(connection(sock, i as u32 + 1, state.clone()));
                }
            });
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = rx.recv().await {
            if let Some(feed) = line.strip_prefix("add ") {
                let feed: usize = feed.trim().parse().unwrap();
                let mut st = state.lock().unwrap();
                let next = st.feeds[feed].last().map_or(0, |k| k + 1);
                st.feeds[feed].push(next);
                let at = now_us();
                st.log.push(format!("A {feed} {next} {at}"));
            } else {
                break;
            }
        }
        let st = state.lock().unwrap();
        let mut out = String::with_capacity(st.log.len() * 48);
        for l in &st.log {
            out.push_str(l);
            out.push('\n');
        }
        std::fs::write(log_path, out).unwrap();
    });
}

async fn bind_all(sites: u32) -> (Vec<TcpListener>, u16) {
    for _ in 0..20 {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = first.local_addr().unwrap().port();
        let mut all = vec![first];
        for i in 2..=sites {
            match TcpListener::bind(format!("127.0.0.{i}:{port}")).await {
                Ok(l) => all.push(l),
                Err(_) => break,
            }
        }
        if all.len() == sites as usize {
            return (all, port);
        }
    }
    panic!("could not bind one port on {sites} loopback addresses");
}

async fn connection(mut sock: TcpStream, site: u32, state: Arc<Mutex<State>>) {
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
        let start = now_us();
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let header = |name: &str| {
            head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix(name)
                    .map(|v| v.trim().to_string())
            })
        };
        let inm = header("if-none-match:");
        let agent = header("user-agent:").unwrap_or_default();
        let resp = answer(&path, inm.as_deref(), site, &state);
        if sock.write_all(&resp).await.is_err() {
            return;
        }
        let line = format!("R {site} {path} {start} {} {agent}", now_us());
        state.lock().unwrap().log.push(line);
    }
}

fn answer(path: &str, inm: Option<&str>, site: u32, state: &Mutex<State>) -> Vec<u8> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["f", feed] => {
            let Ok(feed) = feed.parse::<usize>() else {
                return not_found();
            };
            let st = state.lock().unwrap();
            let Some(entries) = st.feeds.get(feed) else {
                return not_found();
            };
            let etag = format!("\"{}\"", entries.len());
            if inm == Some(etag.to_ascii_lowercase().as_str()) {
                return format!(
                    "HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nContent-Length: 0\r\n\r\n"
                )
                .into_bytes();
            }
            let port_host = format!("127.0.0.{site}");
            let mut body = format!(
                "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Farm feed {feed}</title><link>http://{port_host}/</link><description>farm</description>"
            );
            // Newest first, as feeds list them; at most 50.
            for k in entries.iter().rev().take(50) {
                body.push_str(&format!(
                    "<item><title>Story {feed}-{k}</title><link>/a/{feed}/{k}</link><guid isPermaLink=\"false\">{feed}-{k}</guid></item>"
                ));
            }
            body.push_str("</channel></rss>");
            response("application/rss+xml", Some(&etag), &body)
        }
        ["a", feed, entry] => match (feed.parse::<u32>(), entry.parse::<u32>()) {
            (Ok(f), Ok(e)) => response("text/html; charset=utf-8", None, &article(f, e)),
            _ => not_found(),
        },
        _ => not_found(),
    }
}

fn response(content_type: &str, etag: Option<&str>, body: &str) -> Vec<u8> {
    let etag = etag.map(|e| format!("ETag: {e}\r\n")).unwrap_or_default();
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{etag}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn not_found() -> Vec<u8> {
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()
}

const WORDS: &[&str] = &[
    "council",
    "harbour",
    "ferry",
    "budget",
    "school",
    "river",
    "bridge",
    "market",
    "festival",
    "winter",
    "station",
    "library",
    "hospital",
    "contract",
    "residents",
    "mayor",
    "vote",
    "weather",
    "season",
    "museum",
    "workers",
    "season",
    "traffic",
    "housing",
    "plans",
    "report",
    "officials",
    "on",
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "for",
    "with",
    "said",
    "after",
    "before",
    "will",
    "would",
    "new",
    "old",
    "city",
    "town",
    "county",
    "week",
    "month",
    "year",
];

/// A distinct story of six paragraphs for entry `entry` of feed `feed`.
fn article(feed: u32, entry: u32) -> String {
    let mut rng = fastrand::Rng::with_seed(u64::from(feed) << 32 | u64::from(entry));
    let mut paras = String::new();
    for _ in 0..6 {
        let n = rng.usize(40..80);
        let words: Vec<&str> = (0..n).map(|_| WORDS[rng.usize(..WORDS.len())]).collect();
        let mut p = words.join(" ");
        p[..1].make_ascii_uppercase();
        paras.push_str(&format!("<p>{p}.</p>\n"));
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Story {feed}-{entry} | Farm Gazette</title>\
<meta property=\"article:published_time\" content=\"2026-01-05T10:23:00Z\"></head>\
<body><header><nav><a href=\"/\">Home</a> <a href=\"/local\">Local</a> <a href=\"/sport\">Sport</a></nav></header>\
<main><article><h1>Story {feed}-{entry}</h1><p class=\"byline\">By Farm Reporter</p>\n{paras}</article>\
<aside class=\"related\"><h2>Related</h2><ul><li><a href=\"/a/{feed}/0\">Another story</a></li></ul></aside></main>\
<footer><p>© 2026 Farm Gazette.</p></footer></body></html>"
    )
}
