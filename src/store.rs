//! Durable state in one embedded SQLite file: feeds (validators), entries seen, articles
//! (revision state and re-check times) and the outbox of events not yet confirmed by the sink.
//!
//! Guarantees: a revision's article state and its event are written in one transaction, so a
//! crash between scrape and publish loses nothing; an outbox row is deleted only when the sink
//! confirmed it. The database runs in WAL mode with `synchronous = NORMAL`: a committed
//! transaction survives a crash of the process (not necessarily a power cut of the host).
//! Calls are short (no fsync per commit), so async code calls them directly.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::event::Event;
use crate::fetch::Validators;
use crate::track::ArticleState;

#[derive(Debug, thiserror::Error)]
#[error("state store: {0}")]
pub struct StoreError(#[from] rusqlite::Error);

type Result<T> = std::result::Result<T, StoreError>;

/// Cheap to clone: one connection behind a mutex.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

/// An outbox row: an event waiting for the sink to confirm it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub seq: i64,
    pub event: Event,
    pub attempts: u32,
}

/// An article due for a re-check.
#[derive(Debug, Clone, PartialEq)]
pub struct Recheck {
    pub article_id: String,
    pub url: String,
    pub feed_url: String,
}

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
CREATE INDEX IF NOT EXISTS articles_next_check ON articles (next_check_at) WHERE next_check_at IS NOT NULL;
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
";

impl Store {
    /// Opens (or creates) the store at `path`; `:memory:` gives a private in-memory store.
    ///
    /// # Errors
    /// The file cannot be opened or is not a newswire store.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = if path.as_os_str() == ":memory:" {
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
        conn.execute_batch(SCHEMA)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn feed_validators(&self, url: &str) -> Result<Validators> {
        let c = self.conn();
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
    }

    /// Records a poll: new validators on success (kept when `validators` is `None`), or an error.
    pub fn record_poll(
        &self,
        url: &str,
        at: DateTime<Utc>,
        validators: Option<&Validators>,
        error: Option<&str>,
    ) -> Result<()> {
        let c = self.conn();
        c.execute(
            "INSERT INTO feeds (url, last_polled_at) VALUES (?1, ?2)
             ON CONFLICT(url) DO UPDATE SET last_polled_at = ?2",
            params![url, at.to_rfc3339()],
        )?;
        if let Some(v) = validators {
            c.execute(
                "UPDATE feeds SET etag = ?2, last_modified = ?3 WHERE url = ?1",
                params![url, v.etag, v.last_modified],
            )?;
        }
        match error {
            Some(e) => c.execute(
                "UPDATE feeds SET failures = failures + 1, last_error = ?2 WHERE url = ?1",
                params![url, e],
            )?,
            None => c.execute(
                "UPDATE feeds SET failures = 0, last_error = NULL WHERE url = ?1",
                [url],
            )?,
        };
        Ok(())
    }

    /// The digest last seen for a feed entry, if it was seen.
    pub fn entry_digest(&self, feed_url: &str, entry_id: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT digest FROM entries WHERE feed_url = ?1 AND entry_id = ?2",
                [feed_url, entry_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn save_entry(
        &self,
        feed_url: &str,
        entry_id: &str,
        link: &str,
        digest: &str,
    ) -> Result<()> {
        self.conn().execute(
            "INSERT INTO entries (feed_url, entry_id, link, digest) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(feed_url, entry_id) DO UPDATE SET link = ?3, digest = ?4",
            params![feed_url, entry_id, link, digest],
        )?;
        Ok(())
    }

    pub fn article(&self, article_id: &str) -> Result<Option<ArticleState>> {
        let json: Option<String> = self
            .conn()
            .query_row(
                "SELECT state FROM articles WHERE article_id = ?1",
                [article_id],
                |r| r.get(0),
            )
            .optional()?;
        // A state this version cannot read is treated as unknown rather than crashing the daemon.
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// Saves an article's state and, for an emitted revision, its event, in one transaction.
    pub fn save_article(
        &self,
        article_id: &str,
        url: &str,
        feed_url: &str,
        state: &ArticleState,
        changed_at: Option<DateTime<Utc>>,
        next_check_at: Option<DateTime<Utc>>,
        event: Option<&Event>,
    ) -> Result<()> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        let state_json = serde_json::to_string(state).expect("article state serializes");
        let changed = changed_at.map(|t| t.to_rfc3339());
        tx.execute(
            "INSERT INTO articles (article_id, url, feed_url, state, last_changed_at, next_check_at)
             VALUES (?1, ?2, ?3, ?4, COALESCE(?5, ''), ?6)
             ON CONFLICT(article_id) DO UPDATE SET url = ?2, state = ?4,
                last_changed_at = COALESCE(?5, last_changed_at), next_check_at = ?6",
            params![article_id, url, feed_url, state_json, changed, next_check_at.map(|t| t.to_rfc3339())],
        )?;
        if let Some(e) = event {
            tx.execute(
                "INSERT INTO outbox (event_id, event_type, source, subject, time, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![e.id, e.event_type, e.source, e.subject, e.time, e.data],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// When the article last changed (its last emitted revision).
    pub fn last_changed(&self, article_id: &str) -> Result<Option<DateTime<Utc>>> {
        let s: Option<String> = self
            .conn()
            .query_row(
                "SELECT last_changed_at FROM articles WHERE article_id = ?1",
                [article_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| t.with_timezone(&Utc)))
    }

    /// Articles whose re-check is due at `now`, earliest first.
    pub fn due_rechecks(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Recheck>> {
        let c = self.conn();
        let mut st = c.prepare_cached(
            "SELECT article_id, url, feed_url FROM articles
             WHERE next_check_at IS NOT NULL AND next_check_at <= ?1 ORDER BY next_check_at LIMIT ?2",
        )?;
        let rows = st.query_map(params![now.to_rfc3339(), limit as i64], |r| {
            Ok(Recheck {
                article_id: r.get(0)?,
                url: r.get(1)?,
                feed_url: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The earliest pending re-check time.
    pub fn next_recheck_at(&self) -> Result<Option<DateTime<Utc>>> {
        let s: Option<String> = self.conn().query_row(
            "SELECT MIN(next_check_at) FROM articles WHERE next_check_at IS NOT NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| t.with_timezone(&Utc)))
    }

    pub fn set_next_check(&self, article_id: &str, at: Option<DateTime<Utc>>) -> Result<()> {
        self.conn().execute(
            "UPDATE articles SET next_check_at = ?2 WHERE article_id = ?1",
            params![article_id, at.map(|t| t.to_rfc3339())],
        )?;
        Ok(())
    }

    /// Up to `limit` outbox rows in order, skipping `after` and earlier (rows in flight).
    pub fn outbox_batch(&self, after: i64, limit: usize) -> Result<Vec<OutboxRow>> {
        let c = self.conn();
        let mut st = c.prepare_cached(
            "SELECT seq, event_id, event_type, source, subject, time, data, attempts FROM outbox
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = st.query_map(params![after, limit as i64], |r| {
            Ok(OutboxRow {
                seq: r.get(0)?,
                event: Event {
                    id: r.get(1)?,
                    event_type: r.get(2)?,
                    source: r.get(3)?,
                    subject: r.get(4)?,
                    time: r.get(5)?,
                    data: r.get(6)?,
                },
                attempts: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes rows the sink confirmed.
    pub fn outbox_delete(&self, seqs: &[i64]) -> Result<()> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        {
            let mut st = tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
            for s in seqs {
                st.execute([s])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Counts a failed delivery attempt for rows that stay in the outbox.
    pub fn outbox_failed(&self, seqs: &[i64]) -> Result<()> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        {
            let mut st =
                tx.prepare_cached("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?1")?;
            for s in seqs {
                st.execute([s])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn outbox_len(&self) -> Result<u64> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0))?
            as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::{Decision, Snapshot, decide};

    fn event(n: u32) -> Event {
        Event {
            id: format!("id{n}"),
            event_type: "t".into(),
            source: "s".into(),
            subject: "a".into(),
            time: "2024-01-01T00:00:00Z".into(),
            data: "{}".into(),
        }
    }

    fn state() -> ArticleState {
        let snap = Snapshot {
            title: "T".into(),
            content_hash: "h".into(),
            authors: vec![],
            published_at: None,
            updated_at: None,
            revision_notes: vec![],
        };
        let Decision::New(s) = decide(None, snap) else {
            unreachable!()
        };
        s
    }

    #[test]
    fn article_state_and_event_are_saved_together_and_survive_reopen() {
        let dir = std::env::temp_dir().join(format!(
            "newswire-store-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let path = dir.join("s.sqlite3");
        {
            let s = Store::open(&path).unwrap();
            s.save_article(
                "a",
                "http://n.test/a",
                "http://n.test/f",
                &state(),
                Some(Utc::now()),
                None,
                Some(&event(1)),
            )
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.article("a").unwrap(), Some(state()));
        let rows = s.outbox_batch(0, 10).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].event, event(1));
        s.outbox_delete(&[rows[0].seq]).unwrap();
        assert_eq!(s.outbox_len().unwrap(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn outbox_is_ordered_and_failed_rows_stay() {
        let s = Store::open(Path::new(":memory:")).unwrap();
        for n in 1..=5 {
            s.save_article(
                &format!("a{n}"),
                "u",
                "f",
                &state(),
                None,
                None,
                Some(&event(n)),
            )
            .unwrap();
        }
        let rows = s.outbox_batch(0, 3).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.event.id.as_str()).collect::<Vec<_>>(),
            ["id1", "id2", "id3"]
        );
        s.outbox_failed(&[rows[0].seq]).unwrap();
        s.outbox_delete(&[rows[1].seq, rows[2].seq]).unwrap();
        let rest = s.outbox_batch(0, 10).unwrap();
        assert_eq!(
            rest.iter().map(|r| r.event.id.as_str()).collect::<Vec<_>>(),
            ["id1", "id4", "id5"]
        );
        assert_eq!(rest[0].attempts, 1);
        assert_eq!(s.outbox_batch(rest[1].seq, 10).unwrap().len(), 1);
    }

    #[test]
    fn validators_and_entries() {
        let s = Store::open(Path::new(":memory:")).unwrap();
        assert_eq!(s.feed_validators("f").unwrap(), Validators::default());
        let v = Validators {
            etag: Some("\"1\"".into()),
            last_modified: None,
        };
        s.record_poll("f", Utc::now(), Some(&v), None).unwrap();
        s.record_poll("f", Utc::now(), None, Some("boom")).unwrap();
        assert_eq!(s.feed_validators("f").unwrap(), v);
        assert_eq!(s.entry_digest("f", "e").unwrap(), None);
        s.save_entry("f", "e", "http://n.test/a", "d1").unwrap();
        assert_eq!(s.entry_digest("f", "e").unwrap().as_deref(), Some("d1"));
    }
}
