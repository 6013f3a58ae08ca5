//! The `newswire` command (docs/cli.md): parses arguments, sets up logs,
//! loads settings and calls into the library. Errors are one line on stderr and a non-zero exit.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use newswire::config::{Settings, SinkKind};
use newswire::progress::Progress;
use newswire::store::Store;
use newswire::{charset, daemon, opml, replay, scrape, server, subscriptions, tail, telemetry};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "newswire",
    version,
    about = "Turns news feeds into a reliable stream of article events"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The daemon: poll, scrape, track revisions and publish until SIGTERM/SIGINT.
    Run {
        /// Settings file overriding config/default.toml.
        #[arg(long, env = "NEWSWIRE_CONFIG")]
        config: Option<PathBuf>,
        /// Also write every fetched response to rotating WARC files in DIR.
        #[arg(long, value_name = "DIR")]
        record: Option<PathBuf>,
    },
    /// Run the daemon and record every fetched response to WARC (replayable with `replay`).
    Record {
        /// Directory of the WARC files (default: record.dir, else ./newswire-capture).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        #[arg(long, env = "NEWSWIRE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Replay saved traffic (WARC) through the pipeline and emit its events.
    Replay {
        /// .warc or .warc.gz files.
        #[arg(required = true)]
        captures: Vec<PathBuf>,
        /// Only these feeds (one URL a line, or OPML); default: every feed in the capture.
        #[arg(long)]
        feeds: Option<PathBuf>,
        /// Where events go.
        #[arg(long, value_enum, default_value = "stdout")]
        sink: SinkArg,
        /// State store to use (default: a private in-memory one, so replays never touch the daemon's).
        #[arg(long)]
        state: Option<PathBuf>,
        #[arg(long, env = "NEWSWIRE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Extract pages (.html or .html.gz): one JSON object a line.
    Extract {
        /// The URL the pages were fetched from (resolves relative links, applies site rules).
        #[arg(long)]
        url: Option<url::Url>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, env = "NEWSWIRE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Validate the settings and print the effective ones as TOML, secrets masked.
    CheckConfig {
        #[arg(long, env = "NEWSWIRE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Manage the feeds polled: import OPML into the state store, list, export as OPML, discover a site's feeds.
    Feeds {
        #[command(subcommand)]
        command: FeedsCommand,
    },
    /// Print the events published to the exchange as they arrive (a temporary queue; nothing is taken from other consumers).
    Tail {
        /// Routing-key pattern to bind with.
        #[arg(long, default_value = "article.#")]
        binding: String,
        /// Exit after this many events.
        #[arg(long)]
        count: Option<usize>,
        /// Exit after this long (e.g. "30s"); with --count, an error if fewer arrived.
        #[arg(long)]
        timeout: Option<newswire::config::Dur>,
        /// One structured CloudEvents JSON object a line instead of the readable form.
        #[arg(long)]
        json: bool,
        #[arg(long, env = "NEWSWIRE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Events the broker kept refusing (`publish.max_attempts`), set aside in the state store: list them, or put them back in the outbox.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// List an article's revisions from the state store: when each was fetched and what changed.
    History {
        /// The article's id, or its (canonical) URL.
        article: String,
        /// One JSON object a line instead of the readable form.
        #[arg(long)]
        json: bool,
        /// The state store to read (default: state.path / state.url of the settings).
        #[arg(long)]
        state: Option<PathBuf>,
        #[arg(long, env = "NEWSWIRE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Exit 0 if the local daemon's /healthz (or --path) answers 200: a HEALTHCHECK for images without curl.
    Healthcheck {
        /// Path to ask for.
        #[arg(long, default_value = "/healthz")]
        path: String,
        /// Address to ask (default: server.listen, with 0.0.0.0 read as 127.0.0.1).
        #[arg(long)]
        addr: Option<std::net::SocketAddr>,
        #[arg(long, env = "NEWSWIRE_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum FeedsCommand {
    /// Add the feeds of an OPML file to the state store (a running daemon picks them up on SIGHUP).
    Import {
        file: PathBuf,
        #[arg(long, env = "NEWSWIRE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// List every feed the daemon polls: URL, where it is configured, title.
    List {
        #[arg(long, env = "NEWSWIRE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Write every feed the daemon polls as OPML to stdout.
    Export {
        #[arg(long, env = "NEWSWIRE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Print the feeds a page announces (`<link rel="alternate">`), one URL a line, as a feeds file.
    Discover {
        url: url::Url,
        #[arg(long, env = "NEWSWIRE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Remove an imported feed from the state store.
    Remove {
        url: String,
        #[arg(long, env = "NEWSWIRE_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Print the dead letters, oldest first: seq, event id, type, refusals, when set aside, the broker's last reason (tab-separated).
    List {
        /// Print at most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[arg(long, env = "NEWSWIRE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Move dead letters (by the seq `list` shows) back to the end of the outbox; a running daemon publishes them within a second.
    Retry {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        seqs: Vec<i64>,
        /// Every dead letter.
        #[arg(long)]
        all: bool,
        #[arg(long, env = "NEWSWIRE_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SinkArg {
    Stdout,
    Amqp,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}");
            eprintln!(
                "newswire: error: {}",
                msg.split_whitespace().collect::<Vec<_>>().join(" ")
            );
            ExitCode::FAILURE
        }
    }
}

fn load(config: Option<&Path>) -> anyhow::Result<Settings> {
    let settings = Settings::load(config)?;
    telemetry::init(settings.log.format, &settings.log.level);
    Ok(settings)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Keeps the daemon's resident memory close to what is in use. Its big buffers (bodies up to the
/// fetch caps, parsed pages) are short-lived and made on many threads; by default glibc raises
/// its mmap threshold after the first such buffer is freed, so later ones come from per-thread
/// arenas that keep the memory after it is freed, and RSS creeps towards threads × largest
/// buffer. A fixed threshold sends every large buffer back to the system when it is freed. It
/// costs CPU (every such buffer is mapped and faulted in afresh: a replay takes 60% more CPU
/// with it), so only the long-running daemon sets it, not `replay` or `extract`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    const M_MMAP_THRESHOLD: i32 = -3;
    const M_ARENA_MAX: i32 = -8;
    unsafe extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    // SAFETY: mallopt only sets allocator parameters; called before any other thread exists.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 256 * 1024);
        mallopt(M_ARENA_MAX, 4);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run { config, record } => daemon(config, record, false),
        Command::Record { dir, config } => daemon(config, dir, true),
        Command::Replay {
            captures,
            feeds,
            sink,
            state,
            config,
        } => {
            let settings = load(config.as_deref())?;
            let kind = match sink {
                SinkArg::Stdout => SinkKind::Stdout,
                SinkArg::Amqp => SinkKind::Amqp,
            };
            let sink = daemon::sink_for(&settings, kind);
            let mut bar: Option<Progress> = None;
            let mut progress = |done: usize, total: usize| {
                bar.get_or_insert_with(|| Progress::new("replay", total))
                    .set(done)
            };
            let summary = runtime()?.block_on(replay::replay_with_progress(
                settings,
                &captures,
                feeds.as_deref(),
                state.as_deref(),
                sink,
                &mut progress,
            ))?;
            drop(bar);
            tracing::info!(
                records = summary.records,
                feeds_polled = summary.feeds_polled,
                pages_scraped = summary.pages_scraped,
                events = summary.events,
                "replay done"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Extract { url, files, config } => {
            let settings = load(config.as_deref())?;
            extract(&settings, url.as_ref(), &files)
        }
        Command::CheckConfig { config } => {
            let text = Settings::effective_toml(config.as_deref(), std::env::vars())?;
            print!(
                "# newswire {}: effective settings (secrets masked)\n{text}",
                env!("CARGO_PKG_VERSION")
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Feeds { command } => feeds(command),
        Command::Outbox { command } => outbox(command),
        Command::Tail {
            binding,
            count,
            timeout,
            json,
            config,
        } => {
            let settings = load(config.as_deref())?;
            let opts = tail::TailOptions {
                binding,
                count,
                timeout: timeout.map(|t| t.0),
                json,
                colour: std::io::IsTerminal::is_terminal(&std::io::stdout())
                    && std::env::var_os("NO_COLOR").is_none(),
            };
            runtime()?.block_on(async {
                let stop = CancellationToken::new();
                tokio::spawn(cancel_on_signal(stop.clone()));
                let mut out = std::io::stdout();
                let announce = |exchange: &str| {
                    eprintln!(
                        "newswire: tailing exchange {exchange:?} with binding {:?}",
                        opts.binding
                    )
                };
                tail::tail(&settings.amqp, &opts, &mut out, announce, stop).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::History {
            article,
            json,
            state,
            config,
        } => {
            let settings = load(config.as_deref())?;
            let rt = runtime()?;
            // Reading never creates a store: a missing file is an error, not an empty history.
            let path = state.unwrap_or_else(|| settings.state.path.clone());
            let sqlite = state_is_file(&settings, &path);
            if sqlite && !path.exists() {
                anyhow::bail!("state store {} does not exist", path.display());
            }
            let store = if sqlite {
                Store::open(&path)?
            } else {
                rt.block_on(Store::connect(&settings))?
            };
            let h = rt.block_on(newswire::history::history(&store, &article))?;
            let mut out = std::io::stdout().lock();
            if json {
                for r in &h.revisions {
                    writeln!(out, "{}", serde_json::to_string(r)?)?;
                }
            } else {
                for line in h.lines() {
                    writeln!(out, "{line}")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck { path, addr, config } => {
            let addr = match addr {
                Some(a) => a,
                None => {
                    let settings = Settings::load(config.as_deref())?;
                    server::local_target(&settings.server.listen).ok_or_else(|| {
                        anyhow::anyhow!(
                            "server.listen is empty: no listener to check (set it, or pass --addr)"
                        )
                    })?
                }
            };
            let status = server::probe(addr, &path, std::time::Duration::from_secs(3))
                .map_err(|e| anyhow::anyhow!("http://{addr}{path}: {e}"))?;
            if status == 200 {
                Ok(ExitCode::SUCCESS)
            } else {
                anyhow::bail!("http://{addr}{path} answered {status}")
            }
        }
    }
}

fn feeds(command: FeedsCommand) -> anyhow::Result<ExitCode> {
    match command {
        FeedsCommand::Discover { url, config } => {
            let settings = load(config.as_deref())?;
            let fetcher = newswire::fetch::Fetcher::new(&settings.fetch.to_fetch_settings())?;
            let found = runtime()?.block_on(newswire::discover::discover(&fetcher, &url))?;
            if found.is_empty() {
                anyhow::bail!("{url}: the page announces no feeds");
            }
            for d in found {
                println!(
                    "{}  # {}{}",
                    d.url,
                    d.format,
                    d.title.map(|t| format!(": {t}")).unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        FeedsCommand::Import { file, config } => {
            let settings = load(config.as_deref())?;
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let outlines =
                opml::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let rt = runtime()?;
            let store = rt.block_on(Store::connect(&settings))?;
            let report = rt.block_on(subscriptions::import(&settings, &store, &outlines))?;
            for why in &report.rejected {
                eprintln!("newswire: skipped {why}");
            }
            eprintln!(
                "newswire: {} feeds imported into {}, {} already present, {} skipped; send a running daemon SIGHUP to poll them",
                report.added,
                if settings.state.url.is_empty() {
                    settings.state.path.display().to_string()
                } else {
                    newswire::config::mask_url(&settings.state.url)
                },
                report.present,
                report.rejected.len()
            );
            Ok(if report.rejected.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        FeedsCommand::List { config } => {
            let settings = load(config.as_deref())?;
            let rt = runtime()?;
            let store = rt.block_on(Store::connect(&settings))?;
            let mut out = std::io::stdout().lock();
            for f in rt.block_on(subscriptions::all(&settings, &store))? {
                writeln!(
                    out,
                    "{}\t{}\t{}",
                    f.url,
                    f.origin.label(),
                    f.title.as_deref().unwrap_or("")
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        FeedsCommand::Export { config } => {
            let settings = load(config.as_deref())?;
            let rt = runtime()?;
            let store = rt.block_on(Store::connect(&settings))?;
            let all = rt.block_on(subscriptions::all(&settings, &store))?;
            print!(
                "{}",
                opml::write("newswire feeds", &subscriptions::outlines(&all))
            );
            Ok(ExitCode::SUCCESS)
        }
        FeedsCommand::Remove { url, config } => {
            let settings = load(config.as_deref())?;
            let rt = runtime()?;
            let store = rt.block_on(Store::connect(&settings))?;
            let url = url::Url::parse(&url).map_err(|e| anyhow::anyhow!("{url:?}: {e}"))?;
            if rt.block_on(store.remove_subscription(url.as_str()))? {
                eprintln!(
                    "newswire: removed {url}; send a running daemon SIGHUP to stop polling it"
                );
                Ok(ExitCode::SUCCESS)
            } else {
                anyhow::bail!(
                    "{url} is not an imported feed (feeds from the settings or feeds.file are changed there)"
                )
            }
        }
    }
}

fn outbox(command: OutboxCommand) -> anyhow::Result<ExitCode> {
    match command {
        OutboxCommand::List { limit, config } => {
            let settings = load(config.as_deref())?;
            let rt = runtime()?;
            let store = rt.block_on(Store::connect(&settings))?;
            let mut out = std::io::stdout().lock();
            for d in rt.block_on(store.dead_letters(limit))? {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    d.seq, d.event.id, d.event.event_type, d.attempts, d.dead_at, d.reason
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        OutboxCommand::Retry { seqs, all, config } => {
            let settings = load(config.as_deref())?;
            let rt = runtime()?;
            let store = rt.block_on(Store::connect(&settings))?;
            let asked = seqs.len();
            let moved = rt.block_on(store.retry_dead_letters((!all).then_some(seqs)))?;
            eprintln!("newswire: {moved} dead letters moved back to the outbox");
            if !all && (moved as usize) < asked {
                anyhow::bail!(
                    "{} of the {asked} seqs named are not dead letters (see `newswire outbox list`)",
                    asked - moved as usize
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Whether `history` reads a SQLite file (`--state`, or no `state.url`) rather than PostgreSQL.
fn state_is_file(settings: &Settings, path: &Path) -> bool {
    settings.state.url.is_empty() || path != settings.state.path
}

/// `record`: always records, to `--dir`, else `record.dir`, else ./newswire-capture.
fn daemon(
    config: Option<PathBuf>,
    mut record: Option<PathBuf>,
    always_record: bool,
) -> anyhow::Result<ExitCode> {
    let settings = load(config.as_deref())?;
    if always_record && record.is_none() && settings.record.dir.is_empty() {
        record = Some(PathBuf::from("newswire-capture"));
    }
    tune_allocator();
    runtime()?.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        let reload = std::sync::Arc::new(tokio::sync::Notify::new());
        tokio::spawn(reload_on_sighup(reload.clone()));
        let options = daemon::RunOptions {
            config_path: config,
            reload: Some(reload),
            record,
            ..Default::default()
        };
        daemon::run_with(settings, shutdown, options).await
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn reload_on_sighup(reload: std::sync::Arc<tokio::sync::Notify>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot listen for SIGHUP");
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP received: reloading the feed list");
        reload.notify_one();
    }
}

async fn cancel_on_signal(token: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for signals");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    token.cancel();
}

#[derive(Serialize)]
struct ExtractLine<'a> {
    source: &'a str,
    #[serde(flatten)]
    page: scrape::Page,
}

/// Largest page `extract` reads (after decompression).
const MAX_PAGE: u64 = 64 << 20;

fn extract(
    settings: &Settings,
    url: Option<&url::Url>,
    files: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = 0;
    let mut bar = Progress::new("extract", files.len());
    for file in files {
        bar.inc();
        let source = file.to_string_lossy();
        let bytes = match read_page(file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("newswire: error: {source}: {e}");
                failed += 1;
                continue;
            }
        };
        let html = charset::decode(&bytes, None);
        let page_url = match url {
            Some(u) => u.clone(),
            None => url::Url::from_file_path(std::path::absolute(file)?)
                .unwrap_or_else(|_| url::Url::parse("file:///").expect("valid")),
        };
        let page = scrape::extract_page(&html, &page_url, Some(settings));
        serde_json::to_writer(
            &mut out,
            &ExtractLine {
                source: &source,
                page,
            },
        )?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn read_page(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::MultiGzDecoder::new(file)
            .take(MAX_PAGE + 1)
            .read_to_end(&mut bytes)?;
    } else {
        file.take(MAX_PAGE + 1).read_to_end(&mut bytes)?;
    }
    if bytes.len() as u64 > MAX_PAGE {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_PAGE} bytes"
        )));
    }
    Ok(bytes)
}
