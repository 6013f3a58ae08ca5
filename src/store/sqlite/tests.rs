use super::*;
use crate::track::{ArticleState, Decision, Snapshot, decide};

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

fn state(title: &str) -> ArticleState {
    let snap = Snapshot {
        title: title.into(),
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

fn new_article(id: &str, n: u32) -> TrackCommit {
    TrackCommit {
        article_id: id.into(),
        url: format!("http://n.test/{id}"),
        feed_url: "http://n.test/f".into(),
        state: Some(state("T")),
        expected_version: None,
        changed_at: Some(Utc::now()),
        event: Some(event(n)),
        done: None,
        recheck: None,
    }
}

fn tempfile(name: &str) -> std::path::PathBuf {
    std::env::temp_dir()
        .join(format!(
            "newswire-store-{name}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ))
        .join("s.sqlite3")
}

#[tokio::test]
async fn article_state_and_event_are_saved_together_and_survive_reopen() {
    let path = tempfile("reopen");
    {
        let s = Sqlite::open(&path).unwrap();
        assert_eq!(
            s.commit_track(new_article("a", 1)).await.unwrap(),
            Commit::Done
        );
    }
    let s = Sqlite::open(&path).unwrap();
    let row = s.article("a").await.unwrap().unwrap();
    assert_eq!((row.state, row.version), (state("T"), 1));
    assert_eq!(
        s.outbox_len(),
        1,
        "the counter starts from the rows on disk"
    );
    let rows = s.outbox_batch(0, 10).await.unwrap();
    assert_eq!(rows[0].event, event(1));
    s.outbox_delete(vec![rows[0].seq]).await.unwrap();
    assert_eq!(s.outbox_len(), 0);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[tokio::test]
async fn an_old_store_is_migrated_and_its_rechecks_become_page_jobs() {
    let path = tempfile("migrate");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE feeds (url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, last_polled_at TEXT, failures INTEGER NOT NULL DEFAULT 0, last_error TEXT);
             INSERT INTO feeds (url) VALUES ('f');
             CREATE TABLE articles (article_id TEXT PRIMARY KEY, url TEXT NOT NULL, feed_url TEXT NOT NULL, state TEXT NOT NULL, last_changed_at TEXT NOT NULL, next_check_at TEXT);
             INSERT INTO articles VALUES ('a', 'http://www.n.test/a', 'f', '{}', '2024-01-01T00:00:00+00:00', '2024-01-01T01:00:00+00:00');",
        )
        .unwrap();
    }
    let s = Sqlite::open(&path).unwrap();
    assert_eq!(s.feed_status("f").await.unwrap(), FeedStatus::Active);
    s.save_feed_schedule("f", "{}").await.unwrap();
    let jobs = s.due_everywhere(i64::MAX, 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (
            jobs[0].site.as_str(),
            jobs[0].kind,
            jobs[0].article_id.as_deref()
        ),
        ("n.test", JobKind::Recheck, Some("a"))
    );
    drop(s);
    // A store from a newer newswire is refused, with a message that says so.
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = Sqlite::open(&path).err().unwrap().to_string();
    assert!(err.contains("newer than this newswire"), "{err}");
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[tokio::test]
async fn a_version_2_store_gains_the_dead_letters() {
    let path = tempfile("migrate-3");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    drop(Sqlite::open(&path).unwrap());
    {
        // As a version-2 newswire left it: no dead-letter table, one event waiting.
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP TABLE dead_letters; PRAGMA user_version = 2;
             INSERT INTO outbox (event_id, event_type, source, subject, time, data) VALUES ('e', 't', 's', 'a', '2024-01-01T00:00:00Z', '{}');",
        )
        .unwrap();
    }
    let s = Sqlite::open(&path).unwrap();
    let seq = s.outbox_batch(0, 1).await.unwrap()[0].seq;
    let dead = s
        .outbox_refused(vec![(seq, "nacked".into())], 1)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(s.dead_letters(5).await.unwrap(), dead);
    drop(s);
    let version: i64 = Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 3);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
