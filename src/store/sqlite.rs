//! The embedded SQLite backend: one file, WAL mode, `synchronous = NORMAL` (a committed
//! transaction survives a crash of the process, not necessarily a power cut of the host).
//!
//! One connection lives on a thread of its own and runs the calls in the order they were made;
//! async callers await the answer, so SQLite never blocks an async worker. Counters of the
//! outbox and of waiting page jobs are kept beside it, so nothing counts rows per call.
//!
//! The schema is versioned (`PRAGMA user_version`); older stores are migrated on open, and a
//! store written by a newer newswire is refused with a one-line error.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{
    ArticleRow, Backend, Commit, DeadLetter, FeedStatus, JobKind, JobRef, OutboxRow, PageJob,
    PollCommit, Result, StoreError, StoreFuture, Subscription, TrackCommit,
};
use crate::event::Event;
use crate::fetch::Validators;

/// The schema this binary writes. 1: feeds, entries, articles, websub, outbox, subscriptions.
/// 2: the frontier's page jobs (re-checks move there), revisions, article versions.
/// 3: dead letters (outbox rows the broker kept refusing).
const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    last_polled_at TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS entries (
    feed_url TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    link TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (feed_url, entry_id)
);
CREATE TABLE IF NOT EXISTS articles (
    article_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    feed_url TEXT NOT NULL,
    state TEXT NOT NULL,
    last_changed_at TEXT NOT NULL,
    next_check_at TEXT
);
CREATE TABLE IF NOT EXISTS websub (
    topic TEXT PRIMARY KEY,
    feed_url TEXT NOT NULL,
    hub TEXT NOT NULL,
    secret TEXT NOT NULL,
    callback_id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    lease_until TEXT,
    renew_at TEXT
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    source TEXT NOT NULL,
    subject TEXT NOT NULL,
    time TEXT NOT NULL,
    data TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS subscriptions (
    url TEXT PRIMARY KEY,
    title TEXT,
    added_at TEXT NOT NULL
);
";

/// Version 2: the frontier and one writer per article.
const SCHEMA_2: &str = "
CREATE TABLE IF NOT EXISTS page_jobs (
    url TEXT PRIMARY KEY,
    generation INTEGER NOT NULL,
    site TEXT NOT NULL,
    feed_url TEXT NOT NULL,
    kind TEXT NOT NULL,
    class INTEGER NOT NULL,
    rank_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    article_id TEXT,
    meta TEXT
);
CREATE INDEX IF NOT EXISTS page_jobs_site ON page_jobs (site, class, rank_ms);
CREATE TABLE IF NOT EXISTS revisions (
    article_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (article_id, revision)
);
";

/// Version 3: outbox rows set aside after `publish.max_attempts` refusals.
const SCHEMA_3: &str = "
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    source TEXT NOT NULL,
    subject TEXT NOT NULL,
    time TEXT NOT NULL,
    data TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    dead_at TEXT NOT NULL
);
";

/// Columns added to `feeds` after the first schema.
const FEED_COLUMNS: [(&str, &str); 4] = [
    ("schedule", "TEXT"),
    ("retired_at", "TEXT"),
    ("retired_reason", "TEXT"),
    ("moved_to", "TEXT"),
];

fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare(&format!("PRAGMA table_info({table})"))?
        .query_map([], |r| r.get::<_, String>(1))?
        .collect()
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Failed(format!(
            "schema version {version} is newer than this newswire's ({SCHEMA_VERSION}); run a newer newswire or restore an older state"
        )));
    }
    // Immediate: the write lock is taken (waiting out the busy timeout) before anything is read.
    // A deferred transaction that read first could not upgrade while another process (the
    // daemon, `newswire outbox retry`) wrote meanwhile: "database is locked" at once.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA)?;
    let have = columns(&tx, "feeds")?;
    for (name, ty) in FEED_COLUMNS {
        if !have.iter().any(|h| h == name) {
            tx.execute_batch(&format!("ALTER TABLE feeds ADD COLUMN {name} {ty}"))?;
        }
    }
    if version < 2 {
        tx.execute_batch(SCHEMA_2)?;
        if !columns(&tx, "articles")?.iter().any(|c| c == "version") {
            tx.execute_batch("ALTER TABLE articles ADD COLUMN version INTEGER NOT NULL DEFAULT 1")?;
        }
        // Re-checks were a column of the article; they become page jobs.
        let rows: Vec<(String, String, String, String)> = tx
            .prepare(
                "SELECT article_id, url, feed_url, next_check_at FROM articles WHERE next_check_at IS NOT NULL",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (n, (article_id, url, feed_url, at)) in rows.into_iter().enumerate() {
            let site = crate::schedule::politeness::site_of_url(&url);
            let job = PageJob {
                url,
                generation: n as i64 + 1,
                site,
                feed_url,
                kind: JobKind::Recheck,
                rank_ms: parse_time(Some(at)).map_or(0, |t| t.timestamp_millis()),
                attempts: 0,
                article_id: Some(article_id),
                meta: None,
            };
            upsert_job(&tx, &job)?;
        }
        tx.execute_batch("UPDATE articles SET next_check_at = NULL")?;
    }
    if version < 3 {
        tx.execute_batch(SCHEMA_3)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

type Call = Box<dyn FnOnce(&mut Connection) + Send>;

/// The SQLite backend: a channel to the store thread, and the counters.
pub(super) struct Sqlite {
    calls: std::sync::mpsc::Sender<Call>,
    outbox: Arc<AtomicU64>,
    pending: Arc<AtomicU64>,
    generation: Arc<AtomicI64>,
}

fn parse_time(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn count(conn: &Connection, sql: &str) -> rusqlite::Result<i64> {
    conn.query_row(sql, [], |r| r.get(0))
}

impl Sqlite {
    pub(super) fn open(path: &Path) -> Result<Self> {
        let mut conn = if path.as_os_str() == ":memory:" {
            Connection::open_in_memory()?
        } else {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(dir);
            }
            Connection::open(path)?
        };
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        migrate(&mut conn)?;
        let outbox = count(&conn, "SELECT COUNT(*) FROM outbox")?;
        let pending = count(&conn, "SELECT COUNT(*) FROM page_jobs")?;
        let generation = count(&conn, "SELECT COALESCE(MAX(generation), 0) FROM page_jobs")?;
        let (calls, queue) = std::sync::mpsc::channel::<Call>();
        std::thread::Builder::new()
            .name("newswire-store".into())
            .spawn(move || {
                // Ends when the last handle is dropped; the connection closes with it.
                while let Ok(call) = queue.recv() {
                    call(&mut conn);
                }
            })
            .map_err(|e| StoreError::Failed(format!("cannot start the store thread: {e}")))?;
        Ok(Sqlite {
            calls,
            outbox: Arc::new(AtomicU64::new(outbox as u64)),
            pending: Arc::new(AtomicU64::new(pending as u64)),
            generation: Arc::new(AtomicI64::new(generation)),
        })
    }

    /// Runs `f` on the store thread. The call is queued at once, so calls run in the order
    /// they were made, whether or not their futures are awaited.
    fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    ) -> StoreFuture<'_, R> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = self.calls.send(Box::new(move |conn| {
            // A panic rolls back the open transaction (dropped) and fails this call only.
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| f(conn)))
                .unwrap_or_else(|_| Err(StoreError::Failed("a store call panicked".into())));
            let _ = tx.send(r);
        }));
        Box::pin(async move {
            sent.map_err(|_| StoreError::Failed("the store thread has stopped".into()))?;
            rx.await
                .map_err(|_| StoreError::Failed("the store thread has stopped".into()))?
        })
    }

    fn next_generation(&self) -> i64 {
        self.generation.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Gives jobs fresh generations (in the order given) before they are written.
    fn stamp(&self, jobs: &mut [PageJob]) {
        for j in jobs {
            j.generation = self.next_generation();
        }
    }
}

/// Inserts or replaces a page job: feed work replaces a re-check; a re-check replaces a
/// re-check; feed work over feed work keeps the earlier rank but takes a new generation (so a run
/// of the old one, finishing, leaves the new request in place); a re-check never replaces feed
/// work. Returns whether a row was added.
fn upsert_job(tx: &Transaction<'_>, job: &PageJob) -> rusqlite::Result<bool> {
    let existed: Option<i64> = tx
        .prepare_cached("SELECT class FROM page_jobs WHERE url = ?1")?
        .query_row([&job.url], |r| r.get(0))
        .optional()?;
    tx.prepare_cached(
        "INSERT INTO page_jobs (url, generation, site, feed_url, kind, class, rank_ms, attempts, article_id, meta)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT(url) DO UPDATE SET generation = excluded.generation, site = excluded.site,
            feed_url = excluded.feed_url, kind = excluded.kind, class = excluded.class,
            rank_ms = CASE WHEN page_jobs.class = 0 THEN MIN(page_jobs.rank_ms, excluded.rank_ms)
                           ELSE excluded.rank_ms END,
            attempts = excluded.attempts,
            article_id = COALESCE(excluded.article_id, page_jobs.article_id),
            meta = COALESCE(excluded.meta, page_jobs.meta)
         WHERE NOT (excluded.class = 1 AND page_jobs.class = 0)",
    )?
    .execute(params![
        job.url,
        job.generation,
        job.site,
        job.feed_url,
        job.kind.as_str(),
        job.kind.class(),
        job.rank_ms,
        job.attempts,
        job.article_id,
        job.meta
    ])?;
    Ok(existed.is_none())
}

const JOB_COLUMNS: &str =
    "url, generation, site, feed_url, kind, rank_ms, attempts, article_id, meta";

fn page_job(r: &rusqlite::Row<'_>) -> rusqlite::Result<PageJob> {
    Ok(PageJob {
        url: r.get(0)?,
        generation: r.get(1)?,
        site: r.get(2)?,
        feed_url: r.get(3)?,
        kind: JobKind::parse(&r.get::<_, String>(4)?),
        rank_ms: r.get(5)?,
        attempts: r.get(6)?,
        article_id: r.get(7)?,
        meta: r.get(8)?,
    })
}

fn subscription(r: &rusqlite::Row<'_>) -> rusqlite::Result<Subscription> {
    Ok(Subscription {
        topic: r.get(0)?,
        feed_url: r.get(1)?,
        hub: r.get(2)?,
        secret: r.get(3)?,
        callback_id: r.get(4)?,
        state: r.get(5)?,
        lease_until: parse_time(r.get(6)?),
        renew_at: parse_time(r.get(7)?),
    })
}

const SUBSCRIPTION_COLUMNS: &str =
    "topic, feed_url, hub, secret, callback_id, state, lease_until, renew_at";

fn record_poll(
    c: &Connection,
    url: &str,
    at: DateTime<Utc>,
    validators: Option<&Validators>,
    error: Option<&str>,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO feeds (url, last_polled_at) VALUES (?1, ?2)
         ON CONFLICT(url) DO UPDATE SET last_polled_at = ?2",
    )?
    .execute(params![url, at.to_rfc3339()])?;
    if let Some(v) = validators {
        c.prepare_cached("UPDATE feeds SET etag = ?2, last_modified = ?3 WHERE url = ?1")?
            .execute(params![url, v.etag, v.last_modified])?;
    }
    match error {
        Some(e) => c
            .prepare_cached(
                "UPDATE feeds SET failures = failures + 1, last_error = ?2 WHERE url = ?1",
            )?
            .execute(params![url, e])?,
        None => c
            .prepare_cached("UPDATE feeds SET failures = 0, last_error = NULL WHERE url = ?1")?
            .execute([url])?,
    };
    Ok(())
}

fn insert_event(tx: &Transaction<'_>, e: &Event) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO outbox (event_id, event_type, source, subject, time, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![e.id, e.event_type, e.source, e.subject, e.time, e.data])?;
    Ok(())
}

impl Backend for Sqlite {
    fn feed_validators(&self, url: &str) -> StoreFuture<'_, Validators> {
        let url = url.to_string();
        self.call(move |c| {
            let v = c
                .query_row(
                    "SELECT etag, last_modified FROM feeds WHERE url = ?1",
                    [url],
                    |r| {
                        Ok(Validators {
                            etag: r.get(0)?,
                            last_modified: r.get(1)?,
                        })
                    },
                )
                .optional()?;
            Ok(v.unwrap_or_default())
        })
    }

    fn record_poll(
        &self,
        url: &str,
        at: DateTime<Utc>,
        validators: Option<&Validators>,
        error: Option<&str>,
    ) -> StoreFuture<'_, ()> {
        let (url, validators, error) = (
            url.to_string(),
            validators.cloned(),
            error.map(str::to_string),
        );
        self.call(move |c| {
            Ok(record_poll(
                c,
                &url,
                at,
                validators.as_ref(),
                error.as_deref(),
            )?)
        })
    }

    fn feed_schedule(&self, url: &str) -> StoreFuture<'_, Option<String>> {
        let url = url.to_string();
        self.call(move |c| {
            Ok(
                c.query_row("SELECT schedule FROM feeds WHERE url = ?1", [url], |r| {
                    r.get::<_, Option<String>>(0)
                })
                .optional()?
                .flatten(),
            )
        })
    }

    fn save_feed_schedule(&self, url: &str, json: &str) -> StoreFuture<'_, ()> {
        let (url, json) = (url.to_string(), json.to_string());
        self.call(move |c| {
            c.prepare_cached(
                "INSERT INTO feeds (url, schedule) VALUES (?1, ?2) ON CONFLICT(url) DO UPDATE SET schedule = ?2",
            )?
            .execute(params![url, json])?;
            Ok(())
        })
    }

    fn feed_schedules(&self, urls: Vec<String>) -> StoreFuture<'_, HashMap<String, String>> {
        self.call(move |c| {
            let mut st = c.prepare_cached("SELECT schedule FROM feeds WHERE url = ?1")?;
            let mut out = HashMap::new();
            for url in urls {
                if let Some(Some(json)) = st
                    .query_row([&url], |r| r.get::<_, Option<String>>(0))
                    .optional()?
                {
                    out.insert(url, json);
                }
            }
            Ok(out)
        })
    }

    fn feed_moves(&self) -> StoreFuture<'_, Vec<(String, String)>> {
        self.call(|c| {
            let mut st = c.prepare("SELECT url, moved_to FROM feeds WHERE moved_to IS NOT NULL")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn feed_status(&self, url: &str) -> StoreFuture<'_, FeedStatus> {
        let url = url.to_string();
        self.call(move |c| {
            let row = c
                .query_row(
                    "SELECT retired_at, retired_reason, moved_to FROM feeds WHERE url = ?1",
                    [url],
                    |r| {
                        Ok((
                            r.get::<_, Option<String>>(0)?,
                            r.get::<_, Option<String>>(1)?,
                            r.get::<_, Option<String>>(2)?,
                        ))
                    },
                )
                .optional()?;
            Ok(match row {
                Some((Some(at), reason, _)) => FeedStatus::Retired {
                    at,
                    reason: reason.unwrap_or_default(),
                },
                Some((None, _, Some(to))) => FeedStatus::Moved(to),
                _ => FeedStatus::Active,
            })
        })
    }

    fn retire_feed(&self, url: &str, at: DateTime<Utc>, reason: &str) -> StoreFuture<'_, ()> {
        let (url, reason) = (url.to_string(), reason.to_string());
        self.call(move |c| {
            c.execute(
                "INSERT INTO feeds (url, retired_at, retired_reason) VALUES (?1, ?2, ?3)
                 ON CONFLICT(url) DO UPDATE SET retired_at = ?2, retired_reason = ?3",
                params![url, at.to_rfc3339(), reason],
            )?;
            Ok(())
        })
    }

    fn move_feed(&self, from: &str, to: &str) -> StoreFuture<'_, ()> {
        let (from, to) = (from.to_string(), to.to_string());
        self.call(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO feeds (url, etag, last_modified, last_polled_at, failures, last_error, schedule)
                 SELECT ?2, etag, last_modified, last_polled_at, failures, last_error, schedule FROM feeds WHERE url = ?1
                 ON CONFLICT(url) DO NOTHING",
                params![from, to],
            )?;
            tx.execute(
                "INSERT INTO feeds (url, moved_to) VALUES (?1, ?2) ON CONFLICT(url) DO UPDATE SET moved_to = ?2",
                params![from, to],
            )?;
            tx.execute(
                "UPDATE OR IGNORE entries SET feed_url = ?2 WHERE feed_url = ?1",
                params![from, to],
            )?;
            tx.execute("DELETE FROM entries WHERE feed_url = ?1", params![from])?;
            tx.commit()?;
            Ok(())
        })
    }

    fn entry_digests(
        &self,
        feed_url: &str,
        entry_ids: Vec<String>,
    ) -> StoreFuture<'_, HashMap<String, String>> {
        let feed_url = feed_url.to_string();
        self.call(move |c| {
            let mut st = c.prepare_cached(
                "SELECT digest FROM entries WHERE feed_url = ?1 AND entry_id = ?2",
            )?;
            let mut out = HashMap::new();
            for id in entry_ids {
                if let Some(d) = st
                    .query_row(params![feed_url, id], |r| r.get::<_, String>(0))
                    .optional()?
                {
                    out.insert(id, d);
                }
            }
            Ok(out)
        })
    }

    fn commit_poll(&self, mut poll: PollCommit) -> StoreFuture<'_, ()> {
        for e in &mut poll.entries {
            e.job.generation = self.next_generation();
        }
        let pending = self.pending.clone();
        self.call(move |c| {
            let tx = c.transaction()?;
            record_poll(&tx, &poll.feed_url, poll.at, poll.validators.as_ref(), None)?;
            let mut added = 0;
            for e in &poll.entries {
                tx.prepare_cached(
                    "INSERT INTO entries (feed_url, entry_id, link, digest) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(feed_url, entry_id) DO UPDATE SET link = ?3, digest = ?4",
                )?
                .execute(params![poll.feed_url, e.entry_id, e.link, e.digest])?;
                added += u64::from(upsert_job(&tx, &e.job)?);
            }
            tx.commit()?;
            pending.fetch_add(added, Ordering::Relaxed);
            Ok(())
        })
    }

    fn enqueue_jobs(&self, mut jobs: Vec<PageJob>) -> StoreFuture<'_, ()> {
        self.stamp(&mut jobs);
        let pending = self.pending.clone();
        self.call(move |c| {
            let tx = c.transaction()?;
            let mut added = 0;
            for j in &jobs {
                added += u64::from(upsert_job(&tx, j)?);
            }
            tx.commit()?;
            pending.fetch_add(added, Ordering::Relaxed);
            Ok(())
        })
    }

    fn due_jobs(&self, site: &str, now_ms: i64, limit: usize) -> StoreFuture<'_, Vec<PageJob>> {
        let site = site.to_string();
        self.call(move |c| {
            // One indexed range per class, so far-off re-checks are never scanned.
            let mut st = c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM page_jobs WHERE site = ?1 AND class = ?2 AND rank_ms <= ?3
                 ORDER BY rank_ms, generation LIMIT ?4"
            ))?;
            let mut out = Vec::new();
            for class in [0, 1] {
                let left = limit.saturating_sub(out.len());
                if left == 0 {
                    break;
                }
                let rows = st.query_map(params![site, class, now_ms, left as i64], page_job)?;
                for r in rows {
                    out.push(r?);
                }
            }
            Ok(out)
        })
    }

    fn due_everywhere(&self, now_ms: i64, limit: usize) -> StoreFuture<'_, Vec<PageJob>> {
        self.call(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM page_jobs WHERE rank_ms <= ?1
                 ORDER BY class, rank_ms, generation LIMIT ?2"
            ))?;
            let rows = st.query_map(params![now_ms, limit as i64], page_job)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn next_job_at(&self, site: &str) -> StoreFuture<'_, Option<i64>> {
        let site = site.to_string();
        self.call(move |c| {
            let mut st = c.prepare_cached(
                "SELECT MIN(rank_ms) FROM page_jobs WHERE site = ?1 AND class = ?2",
            )?;
            let mut next: Option<i64> = None;
            for class in [0, 1] {
                let t: Option<i64> = st.query_row(params![site, class], |r| r.get(0))?;
                next = match (next, t) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            Ok(next)
        })
    }

    fn job_sites(&self, among: Option<Vec<String>>) -> StoreFuture<'_, Vec<(String, i64)>> {
        self.call(move |c| {
            let mut st =
                c.prepare("SELECT site, MIN(rank_ms) FROM page_jobs GROUP BY site ORDER BY site")?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
            let all: Vec<(String, i64)> = rows.collect::<rusqlite::Result<_>>()?;
            Ok(match among {
                Some(sites) => all.into_iter().filter(|(s, _)| sites.contains(s)).collect(),
                None => all,
            })
        })
    }

    fn finish_job(&self, done: JobRef, then: Option<PageJob>) -> StoreFuture<'_, ()> {
        let then = then.map(|mut j| {
            j.generation = self.next_generation();
            j
        });
        let pending = self.pending.clone();
        self.call(move |c| {
            let tx = c.transaction()?;
            let (removed, added) = finish(&tx, &done, then.as_ref())?;
            tx.commit()?;
            adjust(&pending, removed, added);
            Ok(())
        })
    }

    fn pending_jobs(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    fn article(&self, article_id: &str) -> StoreFuture<'_, Option<ArticleRow>> {
        let id = article_id.to_string();
        self.call(move |c| {
            let row: Option<(String, i64, String)> = c
                .prepare_cached(
                    "SELECT state, version, last_changed_at FROM articles WHERE article_id = ?1",
                )?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let Some((json, version, changed)) = row else {
                return Ok(None);
            };
            // A state this version cannot read is a conflict to report, not a new article.
            let state = serde_json::from_str(&json)
                .map_err(|e| StoreError::Failed(format!("article state unreadable: {e}")))?;
            Ok(Some(ArticleRow {
                state,
                version,
                last_changed: parse_time(Some(changed)),
            }))
        })
    }

    fn commit_track(&self, write: TrackCommit) -> StoreFuture<'_, Commit> {
        let recheck = write.recheck.clone().map(|mut j| {
            j.generation = self.next_generation();
            j
        });
        let (outbox, pending) = (self.outbox.clone(), self.pending.clone());
        self.call(move |c| {
            let tx = c.transaction()?;
            if let Some(state) = &write.state {
                let json = serde_json::to_string(state).expect("article state serializes");
                let changed = write.changed_at.map(|t| t.to_rfc3339());
                let written = match write.expected_version {
                    None => tx
                        .prepare_cached(
                            "INSERT INTO articles (article_id, url, feed_url, state, last_changed_at, version)
                             VALUES (?1, ?2, ?3, ?4, COALESCE(?5, ''), 1) ON CONFLICT(article_id) DO NOTHING",
                        )?
                        .execute(params![write.article_id, write.url, write.feed_url, json, changed])?,
                    Some(v) => tx
                        .prepare_cached(
                            "UPDATE articles SET url = ?2, state = ?3,
                                last_changed_at = COALESCE(?4, last_changed_at), version = version + 1
                             WHERE article_id = ?1 AND version = ?5",
                        )?
                        .execute(params![write.article_id, write.url, json, changed, v])?,
                };
                if written == 0 {
                    return Ok(Commit::Conflict);
                }
                if let Some(e) = &write.event {
                    let revision = tx
                        .prepare_cached(
                            "INSERT INTO revisions (article_id, revision, event_id, fetched_at) VALUES (?1, ?2, ?3, ?4)
                             ON CONFLICT DO NOTHING",
                        )?
                        .execute(params![write.article_id, state.revision, e.id, e.time])?;
                    // The backstop: a revision number is given out once.
                    if revision == 0 {
                        return Ok(Commit::Conflict);
                    }
                    insert_event(&tx, e)?;
                }
            }
            let (removed, added) = match &write.done {
                Some(done) => finish(&tx, done, recheck.as_ref())?,
                None => (0, match &recheck {
                    Some(j) => u64::from(upsert_job(&tx, j)?),
                    None => 0,
                }),
            };
            tx.commit()?;
            if write.event.is_some() && write.state.is_some() {
                outbox.fetch_add(1, Ordering::Relaxed);
            }
            adjust(&pending, removed, added);
            Ok(Commit::Done)
        })
    }

    fn revisions(&self, article_id: &str) -> StoreFuture<'_, Vec<(u32, String)>> {
        let id = article_id.to_string();
        self.call(move |c| {
            let mut st = c.prepare(
                "SELECT revision, event_id FROM revisions WHERE article_id = ?1 ORDER BY revision",
            )?;
            let rows = st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn save_subscription(&self, sub: &Subscription) -> StoreFuture<'_, ()> {
        let sub = sub.clone();
        self.call(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO websub ({SUBSCRIPTION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT(topic) DO UPDATE SET feed_url = ?2, hub = ?3, secret = ?4, callback_id = ?5,
                        state = ?6, lease_until = ?7, renew_at = ?8"
                ),
                params![
                    sub.topic,
                    sub.feed_url,
                    sub.hub,
                    sub.secret,
                    sub.callback_id,
                    sub.state,
                    sub.lease_until.map(|t| t.to_rfc3339()),
                    sub.renew_at.map(|t| t.to_rfc3339())
                ],
            )?;
            Ok(())
        })
    }

    fn claim_subscription(&self, sub: &Subscription) -> StoreFuture<'_, bool> {
        let sub = sub.clone();
        self.call(move |c| {
            let n = c.execute(
                &format!(
                    "INSERT INTO websub ({SUBSCRIPTION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT(topic) DO NOTHING"
                ),
                params![
                    sub.topic,
                    sub.feed_url,
                    sub.hub,
                    sub.secret,
                    sub.callback_id,
                    sub.state,
                    sub.lease_until.map(|t| t.to_rfc3339()),
                    sub.renew_at.map(|t| t.to_rfc3339())
                ],
            )?;
            Ok(n == 1)
        })
    }

    fn claim_renewal(
        &self,
        topic: &str,
        due: DateTime<Utc>,
        retry_at: DateTime<Utc>,
    ) -> StoreFuture<'_, bool> {
        let topic = topic.to_string();
        self.call(move |c| {
            let n = c.execute(
                "UPDATE websub SET renew_at = ?3 WHERE topic = ?1 AND renew_at = ?2",
                params![topic, due.to_rfc3339(), retry_at.to_rfc3339()],
            )?;
            Ok(n == 1)
        })
    }

    fn subscription_by_callback(&self, callback_id: &str) -> StoreFuture<'_, Option<Subscription>> {
        let id = callback_id.to_string();
        self.call(move |c| {
            let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM websub WHERE callback_id = ?1");
            Ok(c.query_row(&sql, [id], subscription).optional()?)
        })
    }

    fn subscription_by_topic(&self, topic: &str) -> StoreFuture<'_, Option<Subscription>> {
        let topic = topic.to_string();
        self.call(move |c| {
            let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM websub WHERE topic = ?1");
            Ok(c.query_row(&sql, [topic], subscription).optional()?)
        })
    }

    fn websub_subscriptions(&self) -> StoreFuture<'_, Vec<Subscription>> {
        self.call(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM websub ORDER BY topic"
            ))?;
            let rows = st.query_map([], subscription)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn outbox_batch(&self, after: i64, limit: usize) -> StoreFuture<'_, Vec<OutboxRow>> {
        self.call(move |c| {
            let mut st = c.prepare_cached(
                "SELECT seq, event_id, event_type, source, subject, time, data, attempts FROM outbox
                 WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = st.query_map(params![after, limit as i64], |r| {
                Ok(OutboxRow {
                    seq: r.get(0)?,
                    event: row_event(r)?,
                    attempts: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn outbox_append(&self, events: Vec<Event>) -> StoreFuture<'_, ()> {
        let outbox = self.outbox.clone();
        self.call(move |c| {
            let tx = c.transaction()?;
            for e in &events {
                insert_event(&tx, e)?;
            }
            tx.commit()?;
            outbox.fetch_add(events.len() as u64, Ordering::Relaxed);
            Ok(())
        })
    }

    fn outbox_delete(&self, seqs: Vec<i64>) -> StoreFuture<'_, ()> {
        let outbox = self.outbox.clone();
        self.call(move |c| {
            let tx = c.transaction()?;
            let mut removed = 0;
            {
                let mut st = tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
                for s in &seqs {
                    removed += st.execute([s])? as u64;
                }
            }
            tx.commit()?;
            adjust(&outbox, removed, 0);
            Ok(())
        })
    }

    fn outbox_refused(
        &self,
        refused: Vec<(i64, String)>,
        max_attempts: u32,
    ) -> StoreFuture<'_, Vec<DeadLetter>> {
        let outbox = self.outbox.clone();
        self.call(move |c| {
            let tx = c.transaction()?;
            let now = Utc::now().to_rfc3339();
            let mut dead = Vec::new();
            {
                let mut count = tx.prepare_cached(
                    "UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?1 RETURNING attempts",
                )?;
                let mut set_aside = tx.prepare_cached(
                    "INSERT INTO dead_letters (seq, event_id, event_type, source, subject, time, data, attempts, reason, dead_at)
                     SELECT seq, event_id, event_type, source, subject, time, data, attempts, ?2, ?3
                     FROM outbox WHERE seq = ?1
                     RETURNING seq, event_id, event_type, source, subject, time, data, attempts, reason, dead_at",
                )?;
                let mut delete = tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
                for (seq, reason) in &refused {
                    let attempts: Option<u32> =
                        count.query_row([seq], |r| r.get(0)).optional()?;
                    if attempts.is_some_and(|n| n >= max_attempts) {
                        dead.push(set_aside.query_row(params![seq, reason, now], dead_letter)?);
                        delete.execute([seq])?;
                    }
                }
            }
            tx.commit()?;
            adjust(&outbox, dead.len() as u64, 0);
            Ok(dead)
        })
    }

    fn dead_letters(&self, limit: usize) -> StoreFuture<'_, Vec<DeadLetter>> {
        self.call(move |c| {
            let mut st = c.prepare_cached(
                "SELECT seq, event_id, event_type, source, subject, time, data, attempts, reason, dead_at
                 FROM dead_letters ORDER BY dead_at, seq LIMIT ?1",
            )?;
            let rows = st.query_map([limit as i64], dead_letter)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn retry_dead_letters(&self, seqs: Option<Vec<i64>>) -> StoreFuture<'_, u64> {
        let outbox = self.outbox.clone();
        self.call(move |c| {
            let tx = c.transaction()?;
            let seqs: Vec<i64> = match seqs {
                Some(s) => s,
                None => tx
                    .prepare("SELECT seq FROM dead_letters ORDER BY seq")?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?,
            };
            let mut moved = 0;
            {
                // A new sequence number: the event goes to the end of the outbox.
                let mut back = tx.prepare_cached(
                    "INSERT INTO outbox (event_id, event_type, source, subject, time, data)
                     SELECT event_id, event_type, source, subject, time, data FROM dead_letters WHERE seq = ?1",
                )?;
                let mut delete = tx.prepare_cached("DELETE FROM dead_letters WHERE seq = ?1")?;
                for seq in &seqs {
                    if back.execute([seq])? == 1 {
                        delete.execute([seq])?;
                        moved += 1;
                    }
                }
            }
            tx.commit()?;
            outbox.fetch_add(moved, Ordering::Relaxed);
            Ok(moved)
        })
    }

    fn outbox_len(&self) -> u64 {
        self.outbox.load(Ordering::Relaxed)
    }

    fn outbox_oldest(&self) -> StoreFuture<'_, Option<String>> {
        self.call(|c| {
            Ok(
                c.prepare_cached("SELECT time FROM outbox ORDER BY seq LIMIT 1")?
                    .query_row([], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    fn add_subscription(
        &self,
        url: &str,
        title: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreFuture<'_, bool> {
        let (url, title) = (url.to_string(), title.map(str::to_string));
        self.call(move |c| {
            let n = c.execute(
                "INSERT INTO subscriptions (url, title, added_at) VALUES (?1, ?2, ?3) ON CONFLICT(url) DO NOTHING",
                params![url, title, at.to_rfc3339()],
            )?;
            Ok(n == 1)
        })
    }

    fn remove_subscription(&self, url: &str) -> StoreFuture<'_, bool> {
        let url = url.to_string();
        self.call(move |c| Ok(c.execute("DELETE FROM subscriptions WHERE url = ?1", [url])? == 1))
    }

    fn subscriptions(&self) -> StoreFuture<'_, Vec<(String, Option<String>)>> {
        self.call(|c| {
            let mut st = c.prepare_cached("SELECT url, title FROM subscriptions ORDER BY rowid")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

/// The event in columns 1 to 6 of an outbox or dead-letter row.
fn row_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        id: r.get(1)?,
        event_type: r.get(2)?,
        source: r.get(3)?,
        subject: r.get(4)?,
        time: r.get(5)?,
        data: r.get(6)?,
    })
}

fn dead_letter(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeadLetter> {
    Ok(DeadLetter {
        seq: r.get(0)?,
        event: row_event(r)?,
        attempts: r.get(7)?,
        reason: r.get(8)?,
        dead_at: r.get(9)?,
    })
}

/// Deletes the job run `done` (unless it was replaced meanwhile) and writes `then`. Returns the
/// rows removed and added.
fn finish(
    tx: &Transaction<'_>,
    done: &JobRef,
    then: Option<&PageJob>,
) -> rusqlite::Result<(u64, u64)> {
    let removed = tx
        .prepare_cached("DELETE FROM page_jobs WHERE url = ?1 AND generation = ?2")?
        .execute(params![done.url, done.generation])? as u64;
    let added = match then {
        Some(j) => u64::from(upsert_job(tx, j)?),
        None => 0,
    };
    Ok((removed, added))
}

/// Moves a counter by `added - removed`, never below zero: rows another process wrote (`newswire
/// outbox retry` beside a running daemon) are removed here without ever having been counted.
fn adjust(counter: &AtomicU64, removed: u64, added: u64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some((v + added).saturating_sub(removed))
    });
}

#[cfg(test)]
mod tests;
