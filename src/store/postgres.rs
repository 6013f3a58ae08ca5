//! The PostgreSQL backend (`state.url`), shared by several replicas of the daemon.
//!
//! Beyond what every backend does, it coordinates the replicas:
//! - **Sites are leased.** Each replica heartbeats in `replicas`, holds a fair share of the rows
//!   of `sites` (about sites ÷ live replicas) with a lease of a few seconds, renews it well
//!   before it ends, gives back only its excess when replicas join, and claims free or expired
//!   sites in one statement (`FOR UPDATE SKIP LOCKED` in a CTE, in an order hashed with the
//!   replica's id, so replicas reach for different rows). A claim bumps the site's epoch.
//! - **Writes are fenced.** Every write made for a site (a poll, a page job's result, the
//!   site's politeness state) first locks the site's row `FOR SHARE` and checks that this
//!   replica holds it at the epoch it claimed, with the lease not yet ended; otherwise the
//!   transaction is rolled back and the write refused ([`super::Commit::Fenced`] or an error).
//!   A replica paused past its lease can therefore never write for a site it lost.
//! - **The site row carries its politeness state** (next request time, `Retry-After` hold,
//!   penalty), saved before each request, so a new owner never fetches sooner than the old one
//!   would have.
//! - **The outbox has one relay per partition** (`relays`), leased like a site.
//!
//! Lease times are the database's (`now()`); the politeness times a site's row carries are the
//! replicas' wall-clock times, so their clocks should agree (NTP).
//! Migrations are versioned (`newswire_schema`) and applied at start under an advisory lock; a
//! database whose schema is newer than the binary is refused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::{NoTls, Row};

use super::{
    ArticleRow, Backend, Commit, DeadLetter, FeedStatus, JobKind, JobRef, LeaseRound, OutboxRow,
    PageJob, PollCommit, Result, SiteLease, StoreError, StoreFuture, Subscription, TrackCommit,
};
use crate::event::Event;
use crate::fetch::Validators;
use crate::schedule::politeness::site_of_url;

/// The schema this binary writes. 1: everything up to the replicas; 2: dead letters.
const SCHEMA_VERSION: i32 = 2;

const SCHEMA_1: &str = "
CREATE TABLE feeds (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    last_polled_at TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    schedule TEXT,
    retired_at TEXT,
    retired_reason TEXT,
    moved_to TEXT
);
CREATE TABLE entries (
    feed_url TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    link TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (feed_url, entry_id)
);
CREATE TABLE articles (
    article_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    feed_url TEXT NOT NULL,
    state TEXT NOT NULL,
    last_changed_at TEXT NOT NULL,
    version BIGINT NOT NULL
);
CREATE TABLE revisions (
    article_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (article_id, revision)
);
CREATE SEQUENCE page_job_generation;
CREATE TABLE page_jobs (
    url TEXT PRIMARY KEY,
    generation BIGINT NOT NULL,
    site TEXT NOT NULL,
    feed_url TEXT NOT NULL,
    kind TEXT NOT NULL,
    class SMALLINT NOT NULL,
    rank_ms BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    article_id TEXT,
    meta TEXT
);
CREATE INDEX page_jobs_site ON page_jobs (site, class, rank_ms);
CREATE TABLE websub (
    topic TEXT PRIMARY KEY,
    feed_url TEXT NOT NULL,
    hub TEXT NOT NULL,
    secret TEXT NOT NULL,
    callback_id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    lease_until TEXT,
    renew_at TEXT
);
CREATE TABLE outbox (
    seq BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    source TEXT NOT NULL,
    subject TEXT NOT NULL,
    time TEXT NOT NULL,
    data TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE subscriptions (
    url TEXT PRIMARY KEY,
    title TEXT,
    added_at TEXT NOT NULL,
    pos BIGSERIAL
);
CREATE TABLE sites (
    site TEXT PRIMARY KEY,
    owner TEXT,
    epoch BIGINT NOT NULL DEFAULT 0,
    lease_until TIMESTAMPTZ,
    next_at TIMESTAMPTZ,
    hold_until TIMESTAMPTZ,
    penalty INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE replicas (
    id TEXT PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE relays (
    part INTEGER PRIMARY KEY,
    owner TEXT,
    lease_until TIMESTAMPTZ
);
INSERT INTO relays (part) VALUES (0);
";

/// Version 2: outbox rows set aside after `publish.max_attempts` refusals.
const SCHEMA_2: &str = "
CREATE TABLE dead_letters (
    seq BIGINT PRIMARY KEY,
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

/// Any two numbers, the same for every replica: the advisory lock migrations run under.
const MIGRATION_LOCK: i64 = 0x6e65_7773_7769_7265;

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The server's own message is the useful part ("duplicate key value ...").
        match e.as_db_error() {
            Some(db) => StoreError::Failed(format!("{}: {}", db.severity(), db.message())),
            None => StoreError::Failed(e.to_string()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Failed(format!("database connection: {e}"))
    }
}

/// A replica's handle on the shared database.
pub(super) struct Postgres {
    pool: Pool,
    replica: String,
    /// Sites this replica holds, with the epoch it claimed them at.
    held: Arc<Mutex<HashMap<String, i64>>>,
    /// Sampled by [`Backend::lease_round`] (every replica writes the outbox and the jobs).
    outbox: Arc<AtomicU64>,
    pending: Arc<AtomicU64>,
    /// Database round trips made, for the benchmark's figures.
    trips: Arc<AtomicU64>,
}

/// The URL with its password masked, for error messages.
fn shown(url: &str) -> String {
    crate::config::mask_url(url)
}

impl Postgres {
    /// Connects, migrates, and joins as replica `replica`.
    pub(super) async fn connect(url: &str, replica: &str, pool_size: usize) -> Result<Self> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Failed(format!("state.url {}: {e}", shown(url))))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(2))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Failed(format!("state.url {}: {e}", shown(url))))?;
        let mut client = pool.get().await.map_err(|e| {
            StoreError::Failed(format!(
                "cannot reach the database at {}: {}",
                shown(url),
                one_line(&e.to_string())
            ))
        })?;
        migrate(&mut client).await?;
        let pg = Postgres {
            pool,
            replica: replica.to_string(),
            held: Arc::default(),
            outbox: Arc::default(),
            pending: Arc::default(),
            trips: Arc::default(),
        };
        pg.sample(&client).await?;
        Ok(pg)
    }

    async fn client(&self) -> Result<Object> {
        Ok(self.pool.get().await?)
    }

    fn trip(&self, n: u64) {
        self.trips.fetch_add(n, Ordering::Relaxed);
    }

    /// Refreshes the sampled counters.
    async fn sample(&self, c: &Object) -> Result<()> {
        let row = c
            .query_one(
                "SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM page_jobs)",
                &[],
            )
            .await?;
        self.outbox
            .store(row.get::<_, i64>(0) as u64, Ordering::Relaxed);
        self.pending
            .store(row.get::<_, i64>(1) as u64, Ordering::Relaxed);
        Ok(())
    }

    /// The epoch this replica holds `site` at, if it holds it.
    fn epoch(&self, site: &str) -> Option<i64> {
        self.held.lock().expect("held lock").get(site).copied()
    }

    fn lost(&self, site: &str) -> StoreError {
        StoreError::LeaseLost(site.to_string())
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn migrate(client: &mut Object) -> Result<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS newswire_schema (version INTEGER NOT NULL)")
        .await?;
    let version: i32 = tx
        .query_opt("SELECT max(version) FROM newswire_schema", &[])
        .await?
        .and_then(|r| r.get::<_, Option<i32>>(0))
        .unwrap_or(0);
    if version > SCHEMA_VERSION {
        return Err(StoreError::Failed(format!(
            "the database's schema version {version} is newer than this newswire's ({SCHEMA_VERSION}); run a newer newswire"
        )));
    }
    if version < 1 {
        tx.batch_execute(SCHEMA_1).await?;
        tx.execute("INSERT INTO newswire_schema (version) VALUES (1)", &[])
            .await?;
    }
    if version < 2 {
        tx.batch_execute(SCHEMA_2).await?;
        tx.execute("INSERT INTO newswire_schema (version) VALUES (2)", &[])
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

const DEAD_LETTER_COLUMNS: &str =
    "seq, event_id, event_type, source, subject, time, data, attempts, reason, dead_at";

fn dead_letter(r: &Row) -> DeadLetter {
    DeadLetter {
        seq: r.get(0),
        event: Event {
            id: r.get(1),
            event_type: r.get(2),
            source: r.get(3),
            subject: r.get(4),
            time: r.get(5),
            data: r.get(6),
        },
        attempts: r.get::<_, i32>(7) as u32,
        reason: r.get(8),
        dead_at: r.get(9),
    }
}

/// Checks, inside `tx`, that this replica still holds `site` at `epoch`, and keeps the row locked
/// until the transaction ends, so no other replica can take the site meanwhile.
async fn fence(
    tx: &deadpool_postgres::Transaction<'_>,
    site: &str,
    owner: &str,
    epoch: i64,
) -> Result<bool> {
    let st = tx
        .prepare_cached(
            "SELECT 1 FROM sites WHERE site = $1 AND owner = $2 AND epoch = $3 AND lease_until > now() FOR SHARE",
        )
        .await?;
    Ok(tx.query_opt(&st, &[&site, &owner, &epoch]).await?.is_some())
}

/// Inserts or replaces page jobs, one statement for all, by the rule of the SQLite backend's
/// `upsert_job`. One row per URL (a statement may not touch a row twice), in URL order (two
/// transactions locking rows in opposite orders would deadlock). Returns how many rows were
/// added.
async fn upsert_jobs(c: &impl deadpool_postgres::GenericClient, jobs: &[&PageJob]) -> Result<u64> {
    if jobs.is_empty() {
        return Ok(0);
    }
    let mut seen = std::collections::HashSet::new();
    let jobs: Vec<&PageJob> = jobs
        .iter()
        .copied()
        .filter(|j| seen.insert(&j.url))
        .collect();
    let col = |f: fn(&PageJob) -> Option<String>| jobs.iter().map(|j| f(j)).collect::<Vec<_>>();
    let urls = col(|j| Some(j.url.clone()));
    let sites = col(|j| Some(j.site.clone()));
    let feeds = col(|j| Some(j.feed_url.clone()));
    let kinds = col(|j| Some(j.kind.as_str().to_string()));
    let articles = col(|j| j.article_id.clone());
    let metas = col(|j| j.meta.clone());
    let classes: Vec<i16> = jobs.iter().map(|j| i16::from(j.kind.class())).collect();
    let ranks: Vec<i64> = jobs.iter().map(|j| j.rank_ms).collect();
    let attempts: Vec<i32> = jobs.iter().map(|j| j.attempts as i32).collect();
    let st = c
        .prepare_cached(
            "INSERT INTO page_jobs (url, generation, site, feed_url, kind, class, rank_ms, attempts, article_id, meta)
             SELECT u, nextval('page_job_generation'), s, f, k, c, r, a, ai, m
             FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::SMALLINT[], $6::BIGINT[],
                         $7::INTEGER[], $8::TEXT[], $9::TEXT[]) AS t(u, s, f, k, c, r, a, ai, m)
             ON CONFLICT (url) DO UPDATE SET generation = EXCLUDED.generation, site = EXCLUDED.site,
                feed_url = EXCLUDED.feed_url, kind = EXCLUDED.kind, class = EXCLUDED.class,
                rank_ms = CASE WHEN page_jobs.class = 0 THEN LEAST(page_jobs.rank_ms, EXCLUDED.rank_ms)
                               ELSE EXCLUDED.rank_ms END,
                attempts = EXCLUDED.attempts,
                article_id = COALESCE(EXCLUDED.article_id, page_jobs.article_id),
                meta = COALESCE(EXCLUDED.meta, page_jobs.meta)
             WHERE NOT (EXCLUDED.class = 1 AND page_jobs.class = 0)
             RETURNING (xmax = 0)",
        )
        .await?;
    let rows = c
        .query(
            &st,
            &[
                &urls, &sites, &feeds, &kinds, &classes, &ranks, &attempts, &articles, &metas,
            ],
        )
        .await?;
    Ok(rows.iter().filter(|r| r.get::<_, bool>(0)).count() as u64)
}

/// Makes sites leasable; a no-op for those known.
async fn register_sites(c: &impl deadpool_postgres::GenericClient, sites: &[String]) -> Result<()> {
    if sites.is_empty() {
        return Ok(());
    }
    let st = c
        .prepare_cached("INSERT INTO sites (site) SELECT unnest($1::TEXT[]) ON CONFLICT DO NOTHING")
        .await?;
    c.execute(&st, &[&sites]).await?;
    Ok(())
}

const JOB_COLUMNS: &str =
    "url, generation, site, feed_url, kind, rank_ms, attempts, article_id, meta";

fn page_job(r: &Row) -> PageJob {
    PageJob {
        url: r.get(0),
        generation: r.get(1),
        site: r.get(2),
        feed_url: r.get(3),
        kind: JobKind::parse(r.get(4)),
        rank_ms: r.get(5),
        attempts: r.get::<_, i32>(6) as u32,
        article_id: r.get(7),
        meta: r.get(8),
    }
}

const SUBSCRIPTION_COLUMNS: &str =
    "topic, feed_url, hub, secret, callback_id, state, lease_until, renew_at";

fn parse_time(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn subscription(r: &Row) -> Subscription {
    Subscription {
        topic: r.get(0),
        feed_url: r.get(1),
        hub: r.get(2),
        secret: r.get(3),
        callback_id: r.get(4),
        state: r.get(5),
        lease_until: parse_time(r.get(6)),
        renew_at: parse_time(r.get(7)),
    }
}

async fn record_poll(
    c: &impl deadpool_postgres::GenericClient,
    url: &str,
    at: DateTime<Utc>,
    validators: Option<&Validators>,
    error: Option<&str>,
) -> Result<()> {
    let at = at.to_rfc3339();
    let (etag, modified) = validators.map_or((None, None), |v| {
        (v.etag.as_deref(), v.last_modified.as_deref())
    });
    let st = c
        .prepare_cached(
            "INSERT INTO feeds (url, last_polled_at, etag, last_modified, failures, last_error)
             VALUES ($1, $2, $3, $4, CASE WHEN $5::TEXT IS NULL THEN 0 ELSE 1 END, $5)
             ON CONFLICT (url) DO UPDATE SET last_polled_at = $2,
                etag = CASE WHEN $6 THEN $3 ELSE feeds.etag END,
                last_modified = CASE WHEN $6 THEN $4 ELSE feeds.last_modified END,
                failures = CASE WHEN $5::TEXT IS NULL THEN 0 ELSE feeds.failures + 1 END,
                last_error = $5",
        )
        .await?;
    c.execute(
        &st,
        &[&url, &at, &etag, &modified, &error, &validators.is_some()],
    )
    .await?;
    Ok(())
}

impl Postgres {
    /// The epoch this replica holds `site` at, or the refusal of a write for it.
    fn held_epoch(&self, site: &str) -> Result<i64> {
        self.epoch(site).ok_or_else(|| self.lost(site))
    }

    /// Fences `tx` by `site`'s lease: refused unless this replica still holds it.
    async fn check(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        site: &str,
        epoch: i64,
    ) -> Result<()> {
        if fence(tx, site, &self.replica, epoch).await? {
            Ok(())
        } else {
            Err(self.lost(site))
        }
    }

    /// Inserts `sub`'s row, `ON CONFLICT (topic)` doing `on_conflict`; the rows written.
    async fn insert_subscription(&self, sub: &Subscription, on_conflict: &str) -> Result<u64> {
        let c = self.client().await?;
        self.trip(1);
        Ok(c.execute(
            &format!(
                "INSERT INTO websub ({SUBSCRIPTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (topic) {on_conflict}"
            ),
            &[
                &sub.topic,
                &sub.feed_url,
                &sub.hub,
                &sub.secret,
                &sub.callback_id,
                &sub.state,
                &sub.lease_until.map(|t| t.to_rfc3339()),
                &sub.renew_at.map(|t| t.to_rfc3339()),
            ],
        )
        .await?)
    }
}

impl Backend for Postgres {
    fn feed_validators(&self, url: &str) -> StoreFuture<'_, Validators> {
        let url = url.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            let row = c
                .query_opt(
                    "SELECT etag, last_modified FROM feeds WHERE url = $1",
                    &[&url],
                )
                .await?;
            Ok(row.map_or_else(Validators::default, |r| Validators {
                etag: r.get(0),
                last_modified: r.get(1),
            }))
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
        Box::pin(async move {
            let site = site_of_url(&url);
            let epoch = self.held_epoch(&site)?;
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            self.check(&tx, &site, epoch).await?;
            record_poll(&tx, &url, at, validators.as_ref(), error.as_deref()).await?;
            tx.commit().await?;
            self.trip(4);
            Ok(())
        })
    }

    fn feed_schedule(&self, url: &str) -> StoreFuture<'_, Option<String>> {
        let url = url.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            Ok(
                c.query_opt("SELECT schedule FROM feeds WHERE url = $1", &[&url])
                    .await?
                    .and_then(|r| r.get(0)),
            )
        })
    }

    fn save_feed_schedule(&self, url: &str, json: &str) -> StoreFuture<'_, ()> {
        let (url, json) = (url.to_string(), json.to_string());
        Box::pin(async move {
            let site = site_of_url(&url);
            let epoch = self.held_epoch(&site)?;
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            self.check(&tx, &site, epoch).await?;
            tx.execute(
                "INSERT INTO feeds (url, schedule) VALUES ($1, $2)
                 ON CONFLICT (url) DO UPDATE SET schedule = $2",
                &[&url, &json],
            )
            .await?;
            tx.commit().await?;
            self.trip(4);
            Ok(())
        })
    }

    fn feed_schedules(&self, urls: Vec<String>) -> StoreFuture<'_, HashMap<String, String>> {
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            let rows = c
                .query(
                    "SELECT url, schedule FROM feeds WHERE url = ANY($1) AND schedule IS NOT NULL",
                    &[&urls],
                )
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn feed_moves(&self) -> StoreFuture<'_, Vec<(String, String)>> {
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            let rows = c
                .query(
                    "SELECT url, moved_to FROM feeds WHERE moved_to IS NOT NULL",
                    &[],
                )
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn feed_status(&self, url: &str) -> StoreFuture<'_, FeedStatus> {
        let url = url.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            let row = c
                .query_opt(
                    "SELECT retired_at, retired_reason, moved_to FROM feeds WHERE url = $1",
                    &[&url],
                )
                .await?;
            Ok(
                match row.map(|r| {
                    (
                        r.get::<_, Option<String>>(0),
                        r.get::<_, Option<String>>(1),
                        r.get::<_, Option<String>>(2),
                    )
                }) {
                    Some((Some(at), reason, _)) => FeedStatus::Retired {
                        at,
                        reason: reason.unwrap_or_default(),
                    },
                    Some((None, _, Some(to))) => FeedStatus::Moved(to),
                    _ => FeedStatus::Active,
                },
            )
        })
    }

    fn retire_feed(&self, url: &str, at: DateTime<Utc>, reason: &str) -> StoreFuture<'_, ()> {
        let (url, reason) = (url.to_string(), reason.to_string());
        Box::pin(async move {
            let site = site_of_url(&url);
            let epoch = self.held_epoch(&site)?;
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            self.check(&tx, &site, epoch).await?;
            tx.execute(
                "INSERT INTO feeds (url, retired_at, retired_reason) VALUES ($1, $2, $3)
                 ON CONFLICT (url) DO UPDATE SET retired_at = $2, retired_reason = $3",
                &[&url, &at.to_rfc3339(), &reason],
            )
            .await?;
            tx.commit().await?;
            self.trip(4);
            Ok(())
        })
    }

    fn move_feed(&self, from: &str, to: &str) -> StoreFuture<'_, ()> {
        let (from, to) = (from.to_string(), to.to_string());
        Box::pin(async move {
            let site = site_of_url(&from);
            let epoch = self.held_epoch(&site)?;
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            self.check(&tx, &site, epoch).await?;
            tx.execute(
                "INSERT INTO feeds (url, etag, last_modified, last_polled_at, failures, last_error, schedule)
                 SELECT $2, etag, last_modified, last_polled_at, failures, last_error, schedule FROM feeds WHERE url = $1
                 ON CONFLICT (url) DO NOTHING",
                &[&from, &to],
            )
            .await?;
            tx.execute(
                "INSERT INTO feeds (url, moved_to) VALUES ($1, $2) ON CONFLICT (url) DO UPDATE SET moved_to = $2",
                &[&from, &to],
            )
            .await?;
            tx.execute(
                "INSERT INTO entries (feed_url, entry_id, link, digest)
                 SELECT $2, entry_id, link, digest FROM entries WHERE feed_url = $1
                 ON CONFLICT DO NOTHING",
                &[&from, &to],
            )
            .await?;
            tx.execute("DELETE FROM entries WHERE feed_url = $1", &[&from])
                .await?;
            tx.commit().await?;
            self.trip(7);
            Ok(())
        })
    }

    fn entry_digests(
        &self,
        feed_url: &str,
        entry_ids: Vec<String>,
    ) -> StoreFuture<'_, HashMap<String, String>> {
        let feed_url = feed_url.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            let rows = c
                .query(
                    "SELECT entry_id, digest FROM entries WHERE feed_url = $1 AND entry_id = ANY($2)",
                    &[&feed_url, &entry_ids],
                )
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn commit_poll(&self, poll: PollCommit) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let site = site_of_url(&poll.feed_url);
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            // Pushed content may land on any replica; a poll only on the feed site's owner.
            if !poll.pushed {
                let epoch = self.held_epoch(&site)?;
                self.check(&tx, &site, epoch).await?;
            }
            // One row per entry id (a feed may list one twice; the last counts).
            let mut entries: HashMap<&str, &super::SeenEntry> = HashMap::new();
            for e in &poll.entries {
                entries.insert(&e.entry_id, e);
            }
            let mut ids: Vec<&str> = entries.keys().copied().collect();
            ids.sort_unstable();
            let links: Vec<&str> = ids.iter().map(|i| entries[i].link.as_str()).collect();
            let digests: Vec<&str> = ids.iter().map(|i| entries[i].digest.as_str()).collect();
            let mut sites: Vec<String> = poll.entries.iter().map(|e| e.job.site.clone()).collect();
            sites.sort_unstable();
            sites.dedup();
            let jobs: Vec<&PageJob> = poll.entries.iter().map(|e| &e.job).collect();
            let seen = async {
                if ids.is_empty() {
                    return Ok(());
                }
                let st = tx
                    .prepare_cached(
                        "INSERT INTO entries (feed_url, entry_id, link, digest)
                         SELECT $1, * FROM unnest($2::TEXT[], $3::TEXT[], $4::TEXT[])
                         ON CONFLICT (feed_url, entry_id) DO UPDATE SET link = EXCLUDED.link, digest = EXCLUDED.digest",
                    )
                    .await?;
                tx.execute(&st, &[&poll.feed_url, &ids, &links, &digests])
                    .await?;
                Ok::<(), StoreError>(())
            };
            let polled = async {
                if !poll.pushed {
                    record_poll(&tx, &poll.feed_url, poll.at, poll.validators.as_ref(), None)
                        .await?;
                }
                Ok(())
            };
            // Sent together: one round trip.
            let ((), (), (), added) = tokio::try_join!(
                polled,
                register_sites(&tx, &sites),
                seen,
                upsert_jobs(&tx, &jobs)
            )?;
            tx.commit().await?;
            self.trip(4);
            self.pending.fetch_add(added, Ordering::Relaxed);
            Ok(())
        })
    }

    fn enqueue_jobs(&self, jobs: Vec<PageJob>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let mut sites: Vec<String> = jobs.iter().map(|j| j.site.clone()).collect();
            sites.sort_unstable();
            sites.dedup();
            let refs: Vec<&PageJob> = jobs.iter().collect();
            let ((), added) =
                tokio::try_join!(register_sites(&tx, &sites), upsert_jobs(&tx, &refs))?;
            tx.commit().await?;
            self.trip(3);
            self.pending.fetch_add(added, Ordering::Relaxed);
            Ok(())
        })
    }

    fn due_jobs(&self, site: &str, now_ms: i64, limit: usize) -> StoreFuture<'_, Vec<PageJob>> {
        let site = site.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            let st = c
                .prepare_cached(&format!(
                    "SELECT {JOB_COLUMNS} FROM page_jobs WHERE site = $1 AND class = $2 AND rank_ms <= $3
                     ORDER BY rank_ms, generation LIMIT $4"
                ))
                .await?;
            let mut out = Vec::new();
            for class in [0i16, 1] {
                let left = limit.saturating_sub(out.len()) as i64;
                if left == 0 {
                    break;
                }
                self.trip(1);
                for r in c.query(&st, &[&site, &class, &now_ms, &left]).await? {
                    out.push(page_job(&r));
                }
            }
            Ok(out)
        })
    }

    fn due_everywhere(&self, now_ms: i64, limit: usize) -> StoreFuture<'_, Vec<PageJob>> {
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            let rows = c
                .query(
                    &format!(
                        "SELECT {JOB_COLUMNS} FROM page_jobs WHERE rank_ms <= $1
                         ORDER BY class, rank_ms, generation LIMIT $2"
                    ),
                    &[&now_ms, &(limit as i64)],
                )
                .await?;
            Ok(rows.iter().map(page_job).collect())
        })
    }

    fn next_job_at(&self, site: &str) -> StoreFuture<'_, Option<i64>> {
        let site = site.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            let row = c
                .query_one(
                    "SELECT least((SELECT min(rank_ms) FROM page_jobs WHERE site = $1 AND class = 0),
                                  (SELECT min(rank_ms) FROM page_jobs WHERE site = $1 AND class = 1))",
                    &[&site],
                )
                .await?;
            Ok(row.get(0))
        })
    }

    fn job_sites(&self, among: Option<Vec<String>>) -> StoreFuture<'_, Vec<(String, i64)>> {
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            let rows = match among {
                // One indexed lookup per site.
                Some(sites) => {
                    c.query(
                        "SELECT s, (SELECT min(rank_ms) FROM page_jobs WHERE site = s)
                         FROM unnest($1::TEXT[]) AS s",
                        &[&sites],
                    )
                    .await?
                }
                None => {
                    c.query(
                        "SELECT site, min(rank_ms) FROM page_jobs GROUP BY site ORDER BY site",
                        &[],
                    )
                    .await?
                }
            };
            Ok(rows
                .iter()
                .filter_map(|r| Some((r.get(0), r.get::<_, Option<i64>>(1)?)))
                .collect())
        })
    }

    fn finish_job(&self, done: JobRef, then: Option<PageJob>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let epoch = self.held_epoch(&done.site)?;
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            self.check(&tx, &done.site, epoch).await?;
            let (removed, added) = finish(&tx, &done, then.as_ref()).await?;
            tx.commit().await?;
            self.trip(5);
            adjust(&self.pending, removed, added);
            Ok(())
        })
    }

    fn pending_jobs(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    fn article(&self, article_id: &str) -> StoreFuture<'_, Option<ArticleRow>> {
        let id = article_id.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            let st = c
                .prepare_cached(
                    "SELECT state, version, last_changed_at FROM articles WHERE article_id = $1",
                )
                .await?;
            self.trip(1);
            let Some(row) = c.query_opt(&st, &[&id]).await? else {
                return Ok(None);
            };
            let json: String = row.get(0);
            let state = serde_json::from_str(&json)
                .map_err(|e| StoreError::Failed(format!("article state unreadable: {e}")))?;
            Ok(Some(ArticleRow {
                state,
                version: row.get(1),
                last_changed: parse_time(row.get(2)),
            }))
        })
    }

    fn commit_track(&self, write: TrackCommit) -> StoreFuture<'_, Commit> {
        Box::pin(async move {
            let epoch = match &write.done {
                Some(done) => match self.epoch(&done.site) {
                    Some(e) => Some(e),
                    None => return Ok(Commit::Fenced),
                },
                None => None,
            };
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let json = write
                .state
                .as_ref()
                .map(|s| serde_json::to_string(s).expect("article state serializes"));
            let changed = write.changed_at.map(|t| t.to_rfc3339());
            // Everything is sent at once (one round trip) and checked before the commit: the
            // lease, the compare-and-set, the revision given out once.
            let fenced = async {
                match (&write.done, epoch) {
                    (Some(done), Some(e)) => fence(&tx, &done.site, &self.replica, e).await,
                    _ => Ok(true),
                }
            };
            let article = async {
                let Some(json) = &json else { return Ok(true) };
                let n = match write.expected_version {
                    None => {
                        let st = tx
                            .prepare_cached(
                                "INSERT INTO articles (article_id, url, feed_url, state, last_changed_at, version)
                                 VALUES ($1, $2, $3, $4, COALESCE($5, ''), 1) ON CONFLICT (article_id) DO NOTHING",
                            )
                            .await?;
                        tx.execute(
                            &st,
                            &[
                                &write.article_id,
                                &write.url,
                                &write.feed_url,
                                json,
                                &changed,
                            ],
                        )
                        .await?
                    }
                    Some(v) => {
                        let st = tx
                            .prepare_cached(
                                "UPDATE articles SET url = $2, state = $3,
                                    last_changed_at = COALESCE($4, last_changed_at), version = version + 1
                                 WHERE article_id = $1 AND version = $5",
                            )
                            .await?;
                        tx.execute(&st, &[&write.article_id, &write.url, json, &changed, &v])
                            .await?
                    }
                };
                Ok::<bool, StoreError>(n == 1)
            };
            let revision = async {
                let (Some(state), Some(e)) = (&write.state, &write.event) else {
                    return Ok(true);
                };
                let st = tx
                    .prepare_cached(
                        "INSERT INTO revisions (article_id, revision, event_id, fetched_at) VALUES ($1, $2, $3, $4)
                         ON CONFLICT DO NOTHING",
                    )
                    .await?;
                let revision = state.revision as i32;
                let n = tx
                    .execute(&st, &[&write.article_id, &revision, &e.id, &e.time])
                    .await?;
                if n == 1 {
                    insert_event(&tx, e).await?;
                }
                Ok::<bool, StoreError>(n == 1)
            };
            let job = async {
                match &write.done {
                    Some(done) => finish(&tx, done, write.recheck.as_ref()).await,
                    None => {
                        let added = match &write.recheck {
                            Some(j) => upsert_jobs(&tx, &[j]).await?,
                            None => 0,
                        };
                        Ok((0, added))
                    }
                }
            };
            let (fenced, written, assigned, (removed, added)) =
                tokio::try_join!(fenced, article, revision, job)?;
            self.trip(3);
            if !fenced {
                tx.rollback().await?;
                return Ok(Commit::Fenced);
            }
            if !written || !assigned {
                tx.rollback().await?;
                return Ok(Commit::Conflict);
            }
            tx.commit().await?;
            if write.event.is_some() && write.state.is_some() {
                self.outbox.fetch_add(1, Ordering::Relaxed);
            }
            adjust(&self.pending, removed, added);
            Ok(Commit::Done)
        })
    }

    fn revisions(&self, article_id: &str) -> StoreFuture<'_, Vec<(u32, String)>> {
        let id = article_id.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            let rows = c
                .query(
                    "SELECT revision, event_id FROM revisions WHERE article_id = $1 ORDER BY revision",
                    &[&id],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, i32>(0) as u32, r.get(1)))
                .collect())
        })
    }

    fn save_subscription(&self, sub: &Subscription) -> StoreFuture<'_, ()> {
        let sub = sub.clone();
        Box::pin(async move {
            self.insert_subscription(
                &sub,
                "DO UPDATE SET feed_url = $2, hub = $3, secret = $4, callback_id = $5,
                    state = $6, lease_until = $7, renew_at = $8",
            )
            .await?;
            Ok(())
        })
    }

    fn claim_subscription(&self, sub: &Subscription) -> StoreFuture<'_, bool> {
        let sub = sub.clone();
        Box::pin(async move { Ok(self.insert_subscription(&sub, "DO NOTHING").await? == 1) })
    }

    fn claim_renewal(
        &self,
        topic: &str,
        due: DateTime<Utc>,
        retry_at: DateTime<Utc>,
    ) -> StoreFuture<'_, bool> {
        let topic = topic.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            let n = c
                .execute(
                    "UPDATE websub SET renew_at = $3 WHERE topic = $1 AND renew_at = $2",
                    &[&topic, &due.to_rfc3339(), &retry_at.to_rfc3339()],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn subscription_by_callback(&self, callback_id: &str) -> StoreFuture<'_, Option<Subscription>> {
        let id = callback_id.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            Ok(c.query_opt(
                &format!("SELECT {SUBSCRIPTION_COLUMNS} FROM websub WHERE callback_id = $1"),
                &[&id],
            )
            .await?
            .map(|r| subscription(&r)))
        })
    }

    fn subscription_by_topic(&self, topic: &str) -> StoreFuture<'_, Option<Subscription>> {
        let topic = topic.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            Ok(c.query_opt(
                &format!("SELECT {SUBSCRIPTION_COLUMNS} FROM websub WHERE topic = $1"),
                &[&topic],
            )
            .await?
            .map(|r| subscription(&r)))
        })
    }

    fn websub_subscriptions(&self) -> StoreFuture<'_, Vec<Subscription>> {
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            let rows = c
                .query(
                    &format!("SELECT {SUBSCRIPTION_COLUMNS} FROM websub ORDER BY topic"),
                    &[],
                )
                .await?;
            Ok(rows.iter().map(subscription).collect())
        })
    }

    fn outbox_batch(&self, after: i64, limit: usize) -> StoreFuture<'_, Vec<OutboxRow>> {
        Box::pin(async move {
            let c = self.client().await?;
            let st = c
                .prepare_cached(
                    "SELECT seq, event_id, event_type, source, subject, time, data, attempts FROM outbox
                     WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .await?;
            self.trip(1);
            let rows = c.query(&st, &[&after, &(limit as i64)]).await?;
            Ok(rows
                .iter()
                .map(|r| OutboxRow {
                    seq: r.get(0),
                    event: Event {
                        id: r.get(1),
                        event_type: r.get(2),
                        source: r.get(3),
                        subject: r.get(4),
                        time: r.get(5),
                        data: r.get(6),
                    },
                    attempts: r.get::<_, i32>(7) as u32,
                })
                .collect())
        })
    }

    fn outbox_append(&self, events: Vec<Event>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let c = self.client().await?;
            let col = |f: fn(&Event) -> &str| events.iter().map(f).collect::<Vec<&str>>();
            c.execute(
                "INSERT INTO outbox (event_id, event_type, source, subject, time, data)
                 SELECT i, ty, so, su, ti, d
                 FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[])
                     WITH ORDINALITY AS t(i, ty, so, su, ti, d, n)
                 ORDER BY n",
                &[
                    &col(|e| &e.id),
                    &col(|e| &e.event_type),
                    &col(|e| &e.source),
                    &col(|e| &e.subject),
                    &col(|e| &e.time),
                    &col(|e| &e.data),
                ],
            )
            .await?;
            self.trip(1);
            self.outbox
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            Ok(())
        })
    }

    fn outbox_delete(&self, seqs: Vec<i64>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            let n = c
                .execute("DELETE FROM outbox WHERE seq = ANY($1)", &[&seqs])
                .await?;
            let _ = self
                .outbox
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    Some(v.saturating_sub(n))
                });
            Ok(())
        })
    }

    fn outbox_refused(
        &self,
        refused: Vec<(i64, String)>,
        max_attempts: u32,
    ) -> StoreFuture<'_, Vec<DeadLetter>> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let (seqs, reasons): (Vec<i64>, Vec<String>) = refused.into_iter().unzip();
            let now = Utc::now().to_rfc3339();
            let tx = c.transaction().await?;
            tx.execute(
                "UPDATE outbox SET attempts = attempts + 1 WHERE seq = ANY($1)",
                &[&seqs],
            )
            .await?;
            let rows = tx
                .query(
                    &format!(
                        "WITH gone AS (
                            DELETE FROM outbox o USING unnest($1::BIGINT[], $2::TEXT[]) AS r(seq, reason)
                            WHERE o.seq = r.seq AND o.attempts >= $3
                            RETURNING o.seq, o.event_id, o.event_type, o.source, o.subject, o.time, o.data,
                                o.attempts, r.reason)
                         INSERT INTO dead_letters ({DEAD_LETTER_COLUMNS})
                         SELECT gone.*, $4 FROM gone
                         RETURNING {DEAD_LETTER_COLUMNS}"
                    ),
                    &[&seqs, &reasons, &(max_attempts as i32), &now],
                )
                .await?;
            tx.commit().await?;
            self.trip(2);
            let dead: Vec<DeadLetter> = rows.iter().map(dead_letter).collect();
            let n = dead.len() as u64;
            let _ = self
                .outbox
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    Some(v.saturating_sub(n))
                });
            Ok(dead)
        })
    }

    fn dead_letters(&self, limit: usize) -> StoreFuture<'_, Vec<DeadLetter>> {
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            let rows = c
                .query(
                    &format!(
                        "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters ORDER BY dead_at, seq LIMIT $1"
                    ),
                    &[&(limit as i64)],
                )
                .await?;
            Ok(rows.iter().map(dead_letter).collect())
        })
    }

    fn retry_dead_letters(&self, seqs: Option<Vec<i64>>) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            // A new sequence number: the event goes to the end of the outbox.
            let n = c
                .execute(
                    "WITH back AS (
                        DELETE FROM dead_letters WHERE $1::BIGINT[] IS NULL OR seq = ANY($1)
                        RETURNING seq, event_id, event_type, source, subject, time, data)
                     INSERT INTO outbox (event_id, event_type, source, subject, time, data)
                     SELECT event_id, event_type, source, subject, time, data FROM back ORDER BY seq",
                    &[&seqs],
                )
                .await?;
            self.outbox.fetch_add(n, Ordering::Relaxed);
            Ok(n)
        })
    }

    fn outbox_len(&self) -> u64 {
        self.outbox.load(Ordering::Relaxed)
    }

    fn outbox_oldest(&self) -> StoreFuture<'_, Option<String>> {
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            Ok(
                c.query_opt("SELECT time FROM outbox ORDER BY seq LIMIT 1", &[])
                    .await?
                    .map(|r| r.get(0)),
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
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            Ok(c.execute(
                "INSERT INTO subscriptions (url, title, added_at) VALUES ($1, $2, $3) ON CONFLICT (url) DO NOTHING",
                &[&url, &title, &at.to_rfc3339()],
            )
            .await?
                == 1)
        })
    }

    fn remove_subscription(&self, url: &str) -> StoreFuture<'_, bool> {
        let url = url.to_string();
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            Ok(
                c.execute("DELETE FROM subscriptions WHERE url = $1", &[&url])
                    .await?
                    == 1,
            )
        })
    }

    fn subscriptions(&self) -> StoreFuture<'_, Vec<(String, Option<String>)>> {
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            let rows = c
                .query("SELECT url, title FROM subscriptions ORDER BY pos", &[])
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn replica(&self) -> Option<&str> {
        Some(&self.replica)
    }

    fn round_trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }

    fn register_sites(&self, sites: Vec<String>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            register_sites(&c, &sites).await
        })
    }

    fn lease_round(&self, ttl: Duration) -> StoreFuture<'_, LeaseRound> {
        Box::pin(async move {
            let c = self.client().await?;
            let me = &self.replica;
            let secs = ttl.as_secs_f64();
            // Heartbeat, and how many replicas are alive (seen within a lease).
            let row = c
                .query_one(
                    "WITH beat AS (
                        INSERT INTO replicas (id, started_at, seen_at) VALUES ($1, now(), now())
                        ON CONFLICT (id) DO UPDATE SET seen_at = now()
                     )
                     SELECT (SELECT count(*) FROM replicas
                             WHERE id <> $1 AND seen_at > now() - make_interval(secs => $2)) + 1,
                            (SELECT count(*) FROM sites)",
                    &[me, &secs],
                )
                .await?;
            let live: i64 = row.get(0);
            let total: i64 = row.get(1);
            let share = (total + live - 1) / live.max(1);
            // Renew what is still ours.
            let renewed = c
                .query(
                    "UPDATE sites SET lease_until = now() + make_interval(secs => $2)
                     WHERE owner = $1 AND lease_until > now()
                     RETURNING site, epoch, next_at, hold_until, penalty, md5(site || $1)",
                    &[me, &secs],
                )
                .await?;
            // Ranked as the claims rank them, so a replica gives back what it reaches for last.
            let mut held: Vec<(String, SiteLease)> = renewed
                .iter()
                .map(|r| (r.get::<_, String>(5), lease(r)))
                .collect();
            let mut trips = 3;
            // Too many (a replica joined): give back the ones ranked last for us.
            if held.len() as i64 > share {
                held.sort_by(|a, b| a.0.cmp(&b.0));
                let surplus: Vec<String> = held
                    .split_off(share as usize)
                    .into_iter()
                    .map(|(_, l)| l.site)
                    .collect();
                c.execute(
                    "UPDATE sites SET owner = NULL, lease_until = now() WHERE owner = $1 AND site = ANY($2)",
                    &[me, &surplus],
                )
                .await?;
                trips += 1;
            }
            // Too few: claim free or expired sites, in our own hashed order.
            let want = share - held.len() as i64;
            if want > 0 {
                let claimed = c
                    .query(
                        "WITH free AS (
                            SELECT site FROM sites
                            WHERE owner IS NULL OR lease_until IS NULL OR lease_until <= now()
                            ORDER BY md5(site || $1)
                            LIMIT $3
                            FOR UPDATE SKIP LOCKED
                         )
                         UPDATE sites s SET owner = $1, epoch = s.epoch + 1,
                            lease_until = now() + make_interval(secs => $2)
                         FROM free WHERE s.site = free.site
                         RETURNING s.site, s.epoch, s.next_at, s.hold_until, s.penalty, md5(s.site || $1)",
                        &[me, &secs, &want],
                    )
                    .await?;
                trips += 1;
                held.extend(claimed.iter().map(|r| (r.get::<_, String>(5), lease(r))));
            }
            let held: Vec<SiteLease> = held.into_iter().map(|(_, l)| l).collect();
            {
                let mut map = self.held.lock().expect("held lock");
                map.clear();
                map.extend(held.iter().map(|l| (l.site.clone(), l.epoch)));
            }
            self.sample(&c).await?;
            self.trip(trips + 1);
            Ok(LeaseRound {
                held,
                replicas: live as usize,
            })
        })
    }

    fn reserve_start(
        &self,
        site: &str,
        next_at: DateTime<Utc>,
        hold_until: Option<DateTime<Utc>>,
        penalty: u32,
    ) -> StoreFuture<'_, bool> {
        let site = site.to_string();
        Box::pin(async move {
            let Some(epoch) = self.epoch(&site) else {
                return Ok(false);
            };
            let c = self.client().await?;
            let st = c
                .prepare_cached(
                    "UPDATE sites SET next_at = $4, hold_until = $5, penalty = $6
                     WHERE site = $1 AND owner = $2 AND epoch = $3 AND lease_until > now()",
                )
                .await?;
            self.trip(1);
            let penalty = penalty as i32;
            Ok(c.execute(
                &st,
                &[
                    &site,
                    &self.replica,
                    &epoch,
                    &next_at,
                    &hold_until,
                    &penalty,
                ],
            )
            .await?
                == 1)
        })
    }

    fn relay_lease(&self, ttl: Duration) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(1);
            let secs = ttl.as_secs_f64();
            let n = c
                .execute(
                    "UPDATE relays SET
                        owner = $1,
                        lease_until = now() + make_interval(secs => $2)
                     WHERE part = 0 AND (owner IS NULL OR owner = $1 OR lease_until <= now())",
                    &[&self.replica, &secs],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn release_leases(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let c = self.client().await?;
            self.trip(3);
            c.execute(
                "UPDATE sites SET owner = NULL, lease_until = now() WHERE owner = $1",
                &[&self.replica],
            )
            .await?;
            c.execute(
                "UPDATE relays SET owner = NULL, lease_until = now() WHERE owner = $1",
                &[&self.replica],
            )
            .await?;
            c.execute("DELETE FROM replicas WHERE id = $1", &[&self.replica])
                .await?;
            self.held.lock().expect("held lock").clear();
            Ok(())
        })
    }
}

fn lease(r: &Row) -> SiteLease {
    SiteLease {
        site: r.get(0),
        epoch: r.get(1),
        next_at: r.get(2),
        hold_until: r.get(3),
        penalty: r.get::<_, i32>(4) as u32,
    }
}

async fn insert_event(tx: &deadpool_postgres::Transaction<'_>, e: &Event) -> Result<()> {
    let st = tx
        .prepare_cached(
            "INSERT INTO outbox (event_id, event_type, source, subject, time, data) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?;
    tx.execute(
        &st,
        &[
            &e.id,
            &e.event_type,
            &e.source,
            &e.subject,
            &e.time,
            &e.data,
        ],
    )
    .await?;
    Ok(())
}

/// Deletes the job run `done` (unless it was replaced meanwhile) and writes `then`.
async fn finish(
    tx: &deadpool_postgres::Transaction<'_>,
    done: &JobRef,
    then: Option<&PageJob>,
) -> Result<(u64, u64)> {
    let st = tx
        .prepare_cached("DELETE FROM page_jobs WHERE url = $1 AND generation = $2")
        .await?;
    let removed = tx.execute(&st, &[&done.url, &done.generation]).await?;
    let added = match then {
        Some(j) => upsert_jobs(tx, &[j]).await?,
        None => 0,
    };
    Ok((removed, added))
}

fn adjust(counter: &AtomicU64, removed: u64, added: u64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_add(added).saturating_sub(removed))
    });
}
