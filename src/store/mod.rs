//! Durable state behind one seam: feeds (validators, schedules, moves), entries seen, articles
//! (revision state), the frontier's page jobs, WebSub subscriptions, imported feeds and the outbox
//! of events not yet confirmed by the sink.
//!
//! [`Store`] is a handle to a [`Backend`]: the embedded SQLite backend ([`sqlite`], the default,
//! one process) or PostgreSQL ([`postgres`], `state.url`, shared by several replicas that lease
//! the sites among themselves). Every call is async and never blocks the async workers: SQLite
//! runs on a thread of its own.
//!
//! Guarantees, whatever the backend:
//! - a poll's entries become seen in the same transaction that makes their page jobs durable
//!   ([`Backend::commit_poll`]), so an entry is either seen with its job waiting, or neither;
//! - a revision is assigned once: [`Backend::commit_track`] is a compare-and-set on the article's
//!   version, writing the article, its revision row (unique per article and revision) and its
//!   event in one transaction, so two fetches of one article can never both become revision k+1;
//! - an outbox row is deleted only when the sink confirmed it, or moved (in one transaction) to
//!   the dead-letter table after the broker refused it `publish.max_attempts` times, from where
//!   `newswire outbox retry` moves it back.

mod postgres;
mod sqlite;

use std::collections::HashMap;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::event::Event;
use crate::fetch::Validators;
use crate::track::ArticleState;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("state store: {0}")]
    Failed(String),
    /// The write was for a site this replica no longer holds: another replica does the work.
    #[error(
        "state store: this replica no longer holds the lease of site {0}; the write was refused"
    )]
    LeaseLost(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Failed(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A store call in flight.
pub type StoreFuture<'a, T> = BoxFuture<'a, Result<T>>;

/// A handle to the state store. Cheap to clone.
#[derive(Clone)]
pub struct Store(Arc<dyn Backend>);

impl Store {
    /// Opens (or creates) the SQLite store at `path`; `:memory:` gives a private in-memory store.
    ///
    /// # Errors
    /// The file cannot be opened, is not a newswire store, or was written by a newer newswire.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Store(Arc::new(sqlite::Sqlite::open(path)?)))
    }

    /// The store the settings name: PostgreSQL at `state.url` (joining as a new replica), else
    /// SQLite at `state.path`.
    ///
    /// # Errors
    /// The database cannot be reached or opened, or its schema is newer than this binary.
    pub async fn connect(settings: &crate::config::Settings) -> Result<Self> {
        if settings.state.url.is_empty() {
            return Self::open(&settings.state.path);
        }
        let pool = settings.poll.concurrency + settings.scrape.concurrency + 8;
        Self::postgres(&settings.state.url, pool).await
    }

    /// PostgreSQL at `url`, joining as a new replica, with up to `pool` connections.
    ///
    /// # Errors
    /// As [`Store::connect`].
    pub async fn postgres(url: &str, pool: usize) -> Result<Self> {
        let pg = postgres::Postgres::connect(url, &replica_id(), pool).await?;
        Ok(Store(Arc::new(pg)))
    }
}

/// A fresh replica id: 16 random bytes, hex.
fn replica_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::getrandom(&mut b).is_err() {
        b.iter_mut().for_each(|x| *x = fastrand::u8(..));
    }
    crate::feed::hex(&b)
}

impl Deref for Store {
    type Target = dyn Backend;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

/// An outbox row: an event waiting for the sink to confirm it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub seq: i64,
    pub event: Event,
    pub attempts: u32,
}

/// An event set aside after the broker refused it `attempts` times (nacked, or returned as
/// unroutable): kept until an operator retries it (`newswire outbox list|retry`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The row's outbox sequence number, which also names it here.
    pub seq: i64,
    pub event: Event,
    pub attempts: u32,
    /// The broker's last refusal (`nacked by the broker`, `returned as unroutable: 312 NO_ROUTE`).
    pub reason: String,
    /// When it was set aside (RFC 3339).
    pub dead_at: String,
}

/// A WebSub subscription: `topic` (the URL the hub knows) pushed for `feed_url` (the URL polled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub topic: String,
    pub feed_url: String,
    pub hub: String,
    pub secret: String,
    pub callback_id: String,
    /// `pending` (asked, not verified), `active`, `denied`.
    pub state: String,
    pub lease_until: Option<DateTime<Utc>>,
    pub renew_at: Option<DateTime<Utc>>,
}

/// A subscription's standing in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedStatus {
    Active,
    /// Permanently redirected: poll this URL instead.
    Moved(String),
    /// Gone (410): not polled any more.
    Retired {
        at: String,
        reason: String,
    },
}

/// What the tracker remembers of an article, with the version its next write must match.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleRow {
    pub state: ArticleState,
    /// Bumped by every write; the compare-and-set of [`Backend::commit_track`] checks it.
    pub version: i64,
    /// When the last emitted revision was fetched.
    pub last_changed: Option<DateTime<Utc>>,
}

/// Why a page is to be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// An entry seen for the first time.
    New,
    /// An entry whose title, summary or date changed in the feed.
    Changed,
    /// An entry in content a WebSub hub pushed.
    Pushed,
    /// A known article, fetched again to catch revisions (or a later capture record in replay).
    Recheck,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::New => "new",
            JobKind::Changed => "changed",
            JobKind::Pushed => "pushed",
            JobKind::Recheck => "recheck",
        }
    }

    pub fn parse(s: &str) -> JobKind {
        match s {
            "new" => JobKind::New,
            "changed" => JobKind::Changed,
            "pushed" => JobKind::Pushed,
            _ => JobKind::Recheck,
        }
    }

    /// Feed-driven work (0) goes before re-checks (1).
    pub fn class(self) -> u8 {
        match self {
            JobKind::Recheck => 1,
            _ => 0,
        }
    }
}

/// A page to fetch: one row of the frontier, keyed by the page's normalised URL.
#[derive(Debug, Clone, PartialEq)]
pub struct PageJob {
    pub url: String,
    /// Changes whenever the row is replaced, so finishing an older run of the job leaves a newer
    /// request for the same page in place.
    pub generation: i64,
    /// The page's site (registrable domain): the scheduler that fetches it.
    pub site: String,
    /// The feed that listed the page (the event's `source`).
    pub feed_url: String,
    pub kind: JobKind,
    /// Not before this time (unix ms), and in this order within its class: jobs from one poll
    /// are staggered by the site's spacing, so feeds sharing a site take turns.
    pub rank_ms: i64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The article a re-check is for.
    pub article_id: Option<String>,
    /// What the feed said about the entry (JSON), merged into the article.
    pub meta: Option<String>,
}

/// Identifies the run of a job that is finishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRef {
    pub url: String,
    pub generation: i64,
    /// The site whose lease fences the write.
    pub site: String,
}

impl PageJob {
    pub fn job_ref(&self) -> JobRef {
        JobRef {
            url: self.url.clone(),
            generation: self.generation,
            site: self.site.clone(),
        }
    }
}

/// An entry a poll found new or changed, with its page job.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenEntry {
    pub entry_id: String,
    pub link: String,
    pub digest: String,
    pub job: PageJob,
}

/// A successful poll, written in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct PollCommit {
    pub feed_url: String,
    pub at: DateTime<Utc>,
    /// New validators for the next conditional GET (kept when `None`).
    pub validators: Option<Validators>,
    pub entries: Vec<SeenEntry>,
    /// Content a WebSub hub pushed: it may land on any replica, so it queues its entries
    /// without touching the feed's row (which its site's owner writes).
    pub pushed: bool,
}

/// The write of one tracked fetch: the article (compare-and-set on `expected_version`; `None`
/// for an article not in the store yet), its event, and the job that fetched it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackCommit {
    pub article_id: String,
    pub url: String,
    pub feed_url: String,
    /// `None` leaves the article as it is (the fetch changed nothing).
    pub state: Option<ArticleState>,
    pub expected_version: Option<i64>,
    pub changed_at: Option<DateTime<Utc>>,
    pub event: Option<Event>,
    /// The job run that fetched the page, finished by this write.
    pub done: Option<JobRef>,
    /// The article's next re-check.
    pub recheck: Option<PageJob>,
}

/// How a [`Backend::commit_track`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    Done,
    /// Another write got there first: read the article again and decide again.
    Conflict,
    /// This replica no longer holds the page's site: nothing was written.
    Fenced,
}

/// A site this replica holds, with the politeness state its row carries.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteLease {
    pub site: String,
    /// Bumped by every claim; writes for the site check it.
    pub epoch: i64,
    /// No request before these (as the previous owner left them).
    pub next_at: Option<DateTime<Utc>>,
    pub hold_until: Option<DateTime<Utc>>,
    pub penalty: u32,
}

/// The outcome of one round of lease keeping.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseRound {
    /// Every site held after the round (renewed or newly claimed).
    pub held: Vec<SiteLease>,
    /// Replicas alive, this one included.
    pub replicas: usize,
}

/// The state store's operations. One implementation per engine.
pub trait Backend: Send + Sync {
    // Feeds.
    fn feed_validators(&self, url: &str) -> StoreFuture<'_, Validators>;
    /// Records a failed poll (`error`) or a successful one that read no entries.
    fn record_poll(
        &self,
        url: &str,
        at: DateTime<Utc>,
        validators: Option<&Validators>,
        error: Option<&str>,
    ) -> StoreFuture<'_, ()>;
    /// A feed's scheduling state (JSON of `schedule::FeedSchedule`), if it was ever saved.
    fn feed_schedule(&self, url: &str) -> StoreFuture<'_, Option<String>>;
    fn save_feed_schedule(&self, url: &str, json: &str) -> StoreFuture<'_, ()>;
    /// The schedules saved for these feeds (a replica taking over their site reads them at once).
    fn feed_schedules(&self, urls: Vec<String>) -> StoreFuture<'_, HashMap<String, String>>;
    /// Every recorded permanent move of a feed, as (from, to).
    fn feed_moves(&self) -> StoreFuture<'_, Vec<(String, String)>>;
    /// What the store says about a subscription: retired, or moved to another URL.
    fn feed_status(&self, url: &str) -> StoreFuture<'_, FeedStatus>;
    /// Retires a subscription for good (410 Gone).
    fn retire_feed(&self, url: &str, at: DateTime<Utc>, reason: &str) -> StoreFuture<'_, ()>;
    /// Moves a subscription to the URL a permanent redirect named: the old URL remembers where
    /// it went; the new one takes over validators, schedule and the entries already seen.
    fn move_feed(&self, from: &str, to: &str) -> StoreFuture<'_, ()>;

    // Polls and the frontier.
    /// The digests last seen for these entries of a feed (entries never seen are absent).
    fn entry_digests(
        &self,
        feed_url: &str,
        entry_ids: Vec<String>,
    ) -> StoreFuture<'_, HashMap<String, String>>;
    /// Records a successful poll, marks its entries seen and enqueues their page jobs, in one
    /// transaction. A job for a page that already has one replaces a re-check, never feed work.
    fn commit_poll(&self, poll: PollCommit) -> StoreFuture<'_, ()>;
    /// Enqueues page jobs (replay's later capture records), with the same rule.
    fn enqueue_jobs(&self, jobs: Vec<PageJob>) -> StoreFuture<'_, ()>;
    /// A site's jobs whose time has come, feed work before re-checks, each class in rank order.
    fn due_jobs(&self, site: &str, now_ms: i64, limit: usize) -> StoreFuture<'_, Vec<PageJob>>;
    /// Jobs due at `now_ms` on every site, in frontier order (replay drains them at each step).
    fn due_everywhere(&self, now_ms: i64, limit: usize) -> StoreFuture<'_, Vec<PageJob>>;
    /// The earliest rank among a site's jobs.
    fn next_job_at(&self, site: &str) -> StoreFuture<'_, Option<i64>>;
    /// Sites with jobs waiting, each with its earliest rank: all of them (at start-up), or
    /// those `among` these (the sites a replica holds).
    fn job_sites(&self, among: Option<Vec<String>>) -> StoreFuture<'_, Vec<(String, i64)>>;
    /// Ends a job run; `then` replaces it (a retry or the next re-check) unless the job was
    /// replaced meanwhile.
    fn finish_job(&self, done: JobRef, then: Option<PageJob>) -> StoreFuture<'_, ()>;
    /// Jobs waiting (kept as a counter, not counted per call).
    fn pending_jobs(&self) -> u64;

    // Articles.
    fn article(&self, article_id: &str) -> StoreFuture<'_, Option<ArticleRow>>;
    /// Writes a tracked fetch in one transaction, if the article is still at the version read.
    fn commit_track(&self, write: TrackCommit) -> StoreFuture<'_, Commit>;
    /// Every revision recorded for an article, as (revision, event id), in order.
    fn revisions(&self, article_id: &str) -> StoreFuture<'_, Vec<(u32, String)>>;

    // WebSub.
    fn save_subscription(&self, sub: &Subscription) -> StoreFuture<'_, ()>;
    /// Creates a subscription unless one exists for its topic; false if one did (one
    /// subscription per topic, whichever replica saw the advert first).
    fn claim_subscription(&self, sub: &Subscription) -> StoreFuture<'_, bool>;
    /// Takes the renewal of a subscription due at `due`, moving its next try to `retry_at`;
    /// false if another replica took it.
    fn claim_renewal(
        &self,
        topic: &str,
        due: DateTime<Utc>,
        retry_at: DateTime<Utc>,
    ) -> StoreFuture<'_, bool>;
    fn subscription_by_callback(&self, callback_id: &str) -> StoreFuture<'_, Option<Subscription>>;
    fn subscription_by_topic(&self, topic: &str) -> StoreFuture<'_, Option<Subscription>>;
    fn websub_subscriptions(&self) -> StoreFuture<'_, Vec<Subscription>>;

    // The outbox.
    /// Up to `limit` outbox rows in order, skipping `after` and earlier (rows in flight).
    fn outbox_batch(&self, after: i64, limit: usize) -> StoreFuture<'_, Vec<OutboxRow>>;
    /// Appends events without article state: for tools, tests and benchmarks that feed the
    /// publisher directly (the pipeline writes events with [`Backend::commit_track`]).
    fn outbox_append(&self, events: Vec<Event>) -> StoreFuture<'_, ()>;
    /// Deletes rows the sink confirmed.
    fn outbox_delete(&self, seqs: Vec<i64>) -> StoreFuture<'_, ()>;
    /// Counts one refusal by the broker (a nack or a return) of each row, as `(seq, reason)`;
    /// rows refused `max_attempts` times move to the dead-letter table in the same transaction
    /// and are returned. Link failures and timeouts are not counted: they are no fault of the
    /// row's.
    fn outbox_refused(
        &self,
        refused: Vec<(i64, String)>,
        max_attempts: u32,
    ) -> StoreFuture<'_, Vec<DeadLetter>>;
    /// Dead letters in the order they were set aside, up to `limit`.
    fn dead_letters(&self, limit: usize) -> StoreFuture<'_, Vec<DeadLetter>>;
    /// Moves dead letters back to the end of the outbox with their attempts reset: those named
    /// by `seqs`, or all of them (`None`). Returns the new outbox rows' count.
    fn retry_dead_letters(&self, seqs: Option<Vec<i64>>) -> StoreFuture<'_, u64>;
    /// Events waiting (kept as a counter, not counted per call).
    fn outbox_len(&self) -> u64;
    /// The time of the oldest waiting event (its page's fetch time), for metrics.
    fn outbox_oldest(&self) -> StoreFuture<'_, Option<String>>;

    // Imported feeds (`newswire feeds import`).
    /// Adds a feed subscription; false if it was there already.
    fn add_subscription(
        &self,
        url: &str,
        title: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreFuture<'_, bool>;
    /// Removes a subscription; false if there was none.
    fn remove_subscription(&self, url: &str) -> StoreFuture<'_, bool>;
    /// Subscribed feeds as (url, title), in the order they were added.
    fn subscriptions(&self) -> StoreFuture<'_, Vec<(String, Option<String>)>>;

    // Replicas. A store that only one process uses leaves these as they are: it holds
    // every site and the outbox, and fences nothing.
    /// This replica's id, when several replicas share the store.
    fn replica(&self) -> Option<&str> {
        None
    }
    /// Database round trips made so far (for the benchmarks; 0 when not counted).
    fn round_trips(&self) -> u64 {
        0
    }
    /// Makes these sites (of the configured feeds) known, so that replicas lease them.
    fn register_sites(&self, _sites: Vec<String>) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    /// Heartbeats, renews this replica's site leases for `ttl`, gives back its excess over a
    /// fair share and claims up to it.
    fn lease_round(&self, _ttl: Duration) -> StoreFuture<'_, LeaseRound> {
        Box::pin(async {
            Err(StoreError::Failed(
                "this store is not shared by replicas".into(),
            ))
        })
    }
    /// Records the politeness state of a site before a request starts there; false if this
    /// replica no longer holds the site (the request must not start).
    fn reserve_start(
        &self,
        _site: &str,
        _next_at: DateTime<Utc>,
        _hold_until: Option<DateTime<Utc>>,
        _penalty: u32,
    ) -> StoreFuture<'_, bool> {
        Box::pin(async { Ok(true) })
    }
    /// Takes or renews the outbox relay's lease; false while another replica holds it.
    fn relay_lease(&self, _ttl: Duration) -> StoreFuture<'_, bool> {
        Box::pin(async { Ok(true) })
    }
    /// Gives back every lease this replica holds (at shutdown), so others take over at once.
    fn release_leases(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}
