//! The `newswire` command (`../shared/contracts/CLI.md`): parses arguments, sets up logs,
//! loads settings and calls into the library. Errors are one line on stderr and a non-zero exit.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use newswire::config::{Settings, SinkKind};
use newswire::{app, charset, scrape, telemetry};
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
    tune_allocator();
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Keeps resident memory close to what is in use. The daemon's big buffers (bodies up to the
/// fetch caps, parsed pages) are short-lived and made on many threads; by default glibc raises
/// its mmap threshold after the first such buffer is freed, so later ones come from per-thread
/// arenas that keep the memory after it is freed, and RSS creeps towards threads × largest
/// buffer. A fixed threshold sends every large buffer back to the system when it is freed.
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
        Command::Run { config } => {
            let settings = load(config.as_deref())?;
            runtime()?.block_on(async {
                let shutdown = CancellationToken::new();
                tokio::spawn(cancel_on_signal(shutdown.clone()));
                app::run(settings, shutdown).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
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
            let sink = app::sink_for(&settings, kind);
            let summary = runtime()?.block_on(app::replay(
                settings,
                &captures,
                feeds.as_deref(),
                state.as_deref(),
                sink,
            ))?;
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
    for file in files {
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
