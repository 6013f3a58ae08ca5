//! Cold start, steady state and backlog against a farm of loopback news sites (`farm`), with the
//! real daemon (`daemon::run_with`: site schedulers, politeness gates, fetcher, CPU pool, SQLite
//! store, outbox; events go to an in-memory stdout sink that timestamps them).
//!
//! ```text
//! cargo bench --bench coldstart                               # 160 feeds x 15 entries, 40 sites
//! BENCH_PRESET=cold10x cargo bench --bench coldstart          # 1,600 x 15 on 254 sites
//! BENCH_PRESET=polling-pages cargo bench --bench coldstart    # 2,000 feeds x 1 entry, 60 s
//! BENCH_PRESET=backlog cargo bench --bench coldstart          # 100,000 page jobs waiting
//! ```
//!
//! Figures: the time by which every article was published against the politeness bound
//! (interval + the most requests one site must answer x spacing), politeness as the sites saw it
//! (shortest gap between two requests to a site, most requests in flight at one site), distinct
//! event ids, CPU seconds per page and peak RSS of the daemon; in steady state, how long after a
//! new entry appeared it was published, against the poll interval its feed was on. Only loopback
//! addresses are used; the run stops by itself.

#[path = "farm/mod.rs"]
mod farm;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use newswire::config::{Dur, Settings, SinkKind};
use newswire::daemon::{RunOptions, run_with};
use newswire::frontier::PollStats;
use newswire::publish::Sink;
use newswire::schedule::politeness::site_of;
use newswire::store::{JobKind, PageJob, Store};
use tokio_util::sync::CancellationToken;

/// Every event the sink received: (wall µs, event id, article URL).
#[derive(Clone, Default)]
struct Published(Arc<Mutex<Vec<(u64, String, String)>>>);

impl Write for Published {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let at = farm::now_us();
        let text = String::from_utf8_lossy(b);
        let mut out = self.0.lock().unwrap();
        for line in text.lines() {
            let field = |name: &str| {
                let key = format!("\"{name}\":\"");
                line.find(&key).map(|i| {
                    let rest = &line[i + key.len()..];
                    rest[..rest.find('"').unwrap_or(rest.len())].to_string()
                })
            };
            if let (Some(id), Some(url)) = (field("id"), field("url")) {
                out.push((at, id, url));
            }
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Preset {
    name: &'static str,
    sites: u32,
    feeds: u32,
    entries: u32,
    interval: u64,
    /// New entries added one by one after the cold start, and over how many seconds.
    steady: (u32, u64),
    /// Page jobs waiting in the store before the start.
    backlog: u32,
    /// Seconds to run when not waiting for articles.
    run_secs: u64,
}

fn preset() -> Preset {
    let name = std::env::var("BENCH_PRESET").unwrap_or_else(|_| "cold".into());
    match name.as_str() {
        "cold10x" => Preset {
            name: "cold10x",
            sites: 254,
            feeds: 1600,
            entries: 15,
            interval: 30,
            steady: (0, 0),
            backlog: 0,
            run_secs: 0,
        },
        "polling-pages" => Preset {
            name: "polling-pages",
            sites: 254,
            feeds: 2000,
            entries: 1,
            interval: 60,
            steady: (0, 0),
            backlog: 0,
            run_secs: 90,
        },
        "backlog" => Preset {
            name: "backlog",
            sites: 254,
            feeds: 0,
            entries: 0,
            interval: 30,
            steady: (0, 0),
            backlog: 100_000,
            run_secs: 60,
        },
        _ => Preset {
            name: "cold",
            sites: 40,
            feeds: 160,
            entries: 15,
            interval: 30,
            steady: (240, 120),
            backlog: 0,
            run_secs: 0,
        },
    }
}

fn main() {
    if farm::serve_if_asked() {
        return;
    }
    // BENCH_LOG=FILE keeps the daemon's debug log, for looking into a miss.
    if let Ok(path) = std::env::var("BENCH_LOG") {
        let file = std::fs::File::create(path).unwrap();
        tracing_subscriber::fmt()
            .with_env_filter("newswire=debug")
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .init();
    }
    let p = preset();
    let dir = std::env::temp_dir().join(format!("newswire-coldstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A backlog preset asks for pages only: every feed index up to the backlog is a page family.
    let farm_feeds = p.feeds.max(p.backlog / 100);
    let mut farm = farm::Farm::start(p.sites, farm_feeds, p.entries, &dir.join("farm.log"));

    let mut s = Settings::load_with_env(None, Vec::new()).unwrap();
    s.state.path = dir.join("state.sqlite3");
    s.feeds.urls = (0..p.feeds).map(|i| farm.feed_url(i)).collect();
    s.poll.interval = Dur(Duration::from_secs(p.interval));
    s.fetch.allow = vec!["127.0.0.0/8".into()];
    s.publish.sink = SinkKind::Stdout;
    let (per_site, spacing) = (s.politeness.per_site, s.politeness.spacing.0);
    let spacing_ms = spacing.as_secs_f64() * 1000.0;

    if p.backlog > 0 {
        let store = Store::open(&s.state.path).unwrap();
        let jobs: Vec<PageJob> = (0..p.backlog)
            .map(|n| {
                let url = farm.article_url(n / 100, n % 100);
                PageJob {
                    site: site_of(url::Url::parse(&url).unwrap().host_str().unwrap()),
                    url,
                    generation: 0,
                    feed_url: "http://farm.test/backlog".into(),
                    kind: JobKind::New,
                    rank_ms: 0,
                    attempts: 0,
                    article_id: None,
                    meta: None,
                }
            })
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(store.enqueue_jobs(jobs)).unwrap();
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let published = Published::default();
    let stats = Arc::new(PollStats::default());
    let cpu0 = farm::cpu_seconds("self");
    let started_us = farm::now_us();
    let started = Instant::now();
    let expected = (p.feeds * p.entries) as usize;
    let bound = Duration::from_secs(p.interval)
        + spacing.mul_f64(f64::from(p.entries + 1) * f64::from(p.feeds.div_ceil(p.sites)));
    let mut cold_done: Option<Duration> = None;
    runtime.block_on(async {
        let stop = CancellationToken::new();
        let options = RunOptions {
            stats: Some(stats.clone()),
            sink: Some(Sink::Stdout(Box::new(published.clone()))),
            ..Default::default()
        };
        let task = tokio::spawn(run_with(s, stop.clone(), options));
        let deadline = if p.run_secs > 0 {
            Duration::from_secs(p.run_secs)
        } else {
            bound * 3
        };
        let mut last_report = 0;
        while started.elapsed() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let n = published.0.lock().unwrap().len();
            if expected > 0 && n >= expected && cold_done.is_none() {
                cold_done = Some(started.elapsed());
                if p.run_secs == 0 {
                    break;
                }
            }
            let t = started.elapsed().as_secs();
            if t >= last_report + 15 {
                last_report = t;
                eprintln!("  t={t:>4}s published={n} polls={}", stats.snapshot().polls);
            }
        }
        if p.steady.0 > 0 {
            eprintln!(
                "  steady state: {} new entries over {} s",
                p.steady.0, p.steady.1
            );
            let every = Duration::from_secs(p.steady.1) / p.steady.0;
            let mut rng = fastrand::Rng::with_seed(42);
            for _ in 0..p.steady.0 {
                farm.add(rng.u32(..p.feeds));
                tokio::time::sleep(every).await;
            }
            // Long enough for the last entries' feeds to come round once more, on the longer
            // interval a feed learns once it publishes again (99 s seen for a 30 s interval).
            let wait = Duration::from_secs(p.interval * 5 + 10);
            let until = Instant::now() + wait;
            let want = expected + p.steady.0 as usize;
            while Instant::now() < until && published.0.lock().unwrap().len() < want {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        stop.cancel();
        task.await.unwrap().unwrap();
    });
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = farm::cpu_seconds("self") - cpu0;
    let (log, farm_cpu) = farm.stop();
    let events = published.0.lock().unwrap().clone();
    let _ = std::fs::remove_dir_all(&dir);

    let pol = log.politeness(spacing_ms);
    let ids: HashSet<&str> = events.iter().map(|(_, id, _)| id.as_str()).collect();
    let pages = log
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/a/"))
        .count();
    println!("newswire cold-start benchmark ({})", p.name);
    println!(
        "  farm                 {} feeds x {} entries on {} loopback sites, interval {} s",
        p.feeds, p.entries, p.sites, p.interval
    );
    println!("  politeness           {per_site} in flight per site, {spacing_ms:.0} ms spacing");
    println!(
        "  requests             {} ({} pages), most to one site {}",
        log.requests.len(),
        pages,
        pol.max_requests_per_site
    );
    println!(
        "  politeness held      shortest gap {:.1} ms ({} under spacing-5 ms), most in flight at one site {}",
        pol.min_gap_ms, pol.short_gaps, pol.max_in_flight
    );
    println!(
        "  events               {} ({} distinct ids)",
        events.len(),
        ids.len()
    );
    if expected > 0 {
        match cold_done {
            Some(t) => println!(
                "  cold start           all {expected} articles published in {:.1} s; bound {:.1} s; ratio {:.3}",
                t.as_secs_f64(),
                bound.as_secs_f64(),
                t.as_secs_f64() / bound.as_secs_f64()
            ),
            None => println!(
                "  cold start           NOT DONE: {} of {expected} articles published in {elapsed:.0} s (bound {:.1} s)",
                events.len().min(expected),
                bound.as_secs_f64()
            ),
        }
        let mut at: Vec<f64> = events
            .iter()
            .take(expected)
            .map(|(t, _, _)| (t.saturating_sub(started_us)) as f64 / 1e6)
            .collect();
        at.sort_by(f64::total_cmp);
        if !at.is_empty() {
            println!(
                "  publish times        p50 {:.1} s, p90 {:.1} s, last {:.1} s",
                at[at.len() / 2],
                at[at.len() * 9 / 10],
                at[at.len() - 1]
            );
        }
    }
    if p.name == "polling-pages" {
        let first_interval = started_us + p.interval * 1_000_000;
        let polled = (0..p.feeds)
            .filter(|f| {
                log.polls_of(*f)
                    .first()
                    .is_some_and(|t| *t <= first_interval)
            })
            .count();
        println!(
            "  first interval       {polled} of {} feeds polled within the first {} s ({:.1}%)",
            p.feeds,
            p.interval,
            100.0 * polled as f64 / f64::from(p.feeds)
        );
        let snap = stats.snapshot();
        println!(
            "  polls                {} in {elapsed:.0} s = {:.1}/s (steady state due {:.1}/s); lateness p50/p99 {} / {} ms",
            snap.polls,
            snap.polls as f64 / elapsed,
            f64::from(p.feeds) / p.interval as f64,
            snap.lateness_p50_ms,
            snap.lateness_p99_ms
        );
    }
    if p.steady.0 > 0 {
        steady_state(&log, &events);
    }
    if p.backlog > 0 {
        println!(
            "  backlog              {} page jobs waiting at start; {} fetched in {elapsed:.0} s ({:.0} pages/s)",
            p.backlog,
            pages,
            pages as f64 / elapsed
        );
    }
    println!(
        "  CPU                  {cpu:.1} s in {elapsed:.0} s ({:.0}% of one core); {:.2} ms per page fetched (farm {farm_cpu:.1} s, not counted)",
        100.0 * cpu / elapsed,
        1000.0 * cpu / pages.max(1) as f64
    );
    println!("  peak RSS             {:.1} MB", farm::peak_rss_mb());
}

/// New entries after the cold start: appearance → publication, against the interval its feed
/// was polled at (the gap between the poll that found the entry and the poll before it).
fn steady_state(log: &farm::Log, events: &[(u64, String, String)]) {
    let published: HashMap<(u32, u32), u64> = events
        .iter()
        .filter_map(|(t, _, url)| {
            let path = url.split_once("/a/")?.1;
            let (f, e) = path.split_once('/')?;
            Some(((f.parse().ok()?, e.parse().ok()?), *t))
        })
        .collect();
    let mut over: Vec<f64> = Vec::new();
    let mut after_poll: Vec<f64> = Vec::new();
    let mut missing = 0;
    let end = log.requests.iter().map(|r| r.start_us).max().unwrap_or(0);
    for (feed, entry, appeared) in &log.added {
        let Some(done) = published.get(&(*feed, *entry)) else {
            missing += 1;
            // Whether the run ended before the feed came round again, or the daemon missed it.
            let polls = log.polls_of(*feed);
            let last_gap = match polls.as_slice() {
                [.., a, b] => format!("{:.1} s", (b - a) as f64 / 1e6),
                _ => "-".into(),
            };
            let polled_after = polls.iter().filter(|t| *t >= appeared).count();
            let last = polls.last().map_or(0, |t| end.saturating_sub(*t));
            println!(
                "  not published        feed {feed} entry {entry}: appeared {:.1} s before the end, {polled_after} polls of its feed since (last {:.1} s before the end, gap before it {last_gap})",
                end.saturating_sub(*appeared) as f64 / 1e6,
                last as f64 / 1e6
            );
            continue;
        };
        let polls = log.polls_of(*feed);
        let Some(k) = polls.iter().position(|t| t >= appeared) else {
            continue;
        };
        let gap = if k > 0 { polls[k] - polls[k - 1] } else { 0 };
        over.push((done.saturating_sub(*appeared) as f64 - gap as f64) / 1e6);
        after_poll.push(done.saturating_sub(polls[k]) as f64 / 1e6);
    }
    over.sort_by(f64::total_cmp);
    after_poll.sort_by(f64::total_cmp);
    let q = |v: &[f64], q: f64| {
        v.get(((v.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "  steady state         {} new entries, {} published ({missing} not); appeared -> published minus the feed's poll interval: p50 {:.2} s, p99 {:.2} s, max {:.2} s (goal p99 <= 2 s)",
        log.added.len(),
        over.len(),
        q(&over, 0.5),
        q(&over, 0.99),
        q(&over, 1.0)
    );
    println!(
        "                       poll that found it -> published: p50 {:.2} s, p99 {:.2} s",
        q(&after_poll, 0.5),
        q(&after_poll, 0.99)
    );
}
