use std::path::Path;

use super::*;
use crate::store::SeenEntry;
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

fn memory() -> Sqlite {
    Sqlite::open(Path::new(":memory:")).unwrap()
}

fn job(url: &str, kind: JobKind, rank_ms: i64) -> PageJob {
    PageJob {
        url: url.into(),
        generation: 0,
        site: "n.test".into(),
        feed_url: "http://n.test/f".into(),
        kind,
        rank_ms,
        attempts: 0,
        article_id: None,
        meta: None,
    }
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
async fn a_stale_version_or_a_revision_given_out_twice_is_a_conflict() {
    let s = memory();
    assert_eq!(
        s.commit_track(new_article("a", 1)).await.unwrap(),
        Commit::Done
    );
    // A second "new article" for the same id: someone was first.
    assert_eq!(
        s.commit_track(new_article("a", 9)).await.unwrap(),
        Commit::Conflict
    );
    let mut r2 = state("T2");
    r2.revision = 2;
    let write = |version, event_id: u32| TrackCommit {
        state: Some(r2.clone()),
        expected_version: Some(version),
        event: Some(event(event_id)),
        ..new_article("a", 0)
    };
    assert_eq!(s.commit_track(write(1, 2)).await.unwrap(), Commit::Done);
    // Decided against version 1, which is gone: nothing written.
    assert_eq!(s.commit_track(write(1, 3)).await.unwrap(), Commit::Conflict);
    // Even at the right version, revision 2 cannot be given out again.
    assert_eq!(s.commit_track(write(2, 3)).await.unwrap(), Commit::Conflict);
    assert_eq!(
        s.revisions("a").await.unwrap(),
        vec![(1, "id1".to_string()), (2, "id2".to_string())]
    );
    assert_eq!(s.outbox_len(), 2);
    assert_eq!(s.article("a").await.unwrap().unwrap().version, 2);
}

#[tokio::test]
async fn outbox_is_ordered_and_failed_rows_stay() {
    let s = memory();
    s.outbox_append((1..=5).map(event).collect()).await.unwrap();
    let rows = s.outbox_batch(0, 3).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.event.id.as_str()).collect::<Vec<_>>(),
        ["id1", "id2", "id3"]
    );
    s.outbox_failed(vec![rows[0].seq]).await.unwrap();
    s.outbox_delete(vec![rows[1].seq, rows[2].seq])
        .await
        .unwrap();
    let rest = s.outbox_batch(0, 10).await.unwrap();
    assert_eq!(
        rest.iter().map(|r| r.event.id.as_str()).collect::<Vec<_>>(),
        ["id1", "id4", "id5"]
    );
    assert_eq!(rest[0].attempts, 1);
    assert_eq!(s.outbox_len(), 3);
    assert_eq!(
        s.outbox_oldest().await.unwrap().as_deref(),
        Some("2024-01-01T00:00:00Z")
    );
}

#[tokio::test]
async fn a_poll_marks_entries_seen_and_enqueues_their_jobs_in_one_go() {
    let s = memory();
    let v = Validators {
        etag: Some("\"1\"".into()),
        last_modified: None,
    };
    let entry = |id: &str, url: &str| SeenEntry {
        entry_id: id.into(),
        link: url.into(),
        digest: format!("d-{id}"),
        job: job(url, JobKind::New, 1000),
    };
    s.commit_poll(PollCommit {
        feed_url: "f".into(),
        at: Utc::now(),
        validators: Some(v.clone()),
        entries: vec![
            entry("e1", "http://n.test/1"),
            entry("e2", "http://n.test/2"),
        ],
    })
    .await
    .unwrap();
    assert_eq!(s.feed_validators("f").await.unwrap(), v);
    let seen = s
        .entry_digests("f", vec!["e1".into(), "e3".into()])
        .await
        .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen["e1"], "d-e1");
    assert_eq!(s.pending_jobs(), 2);
    let due = s.due_jobs("n.test", 1000, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|j| j.url.as_str()).collect::<Vec<_>>(),
        ["http://n.test/1", "http://n.test/2"],
        "same rank: in the order enqueued"
    );
    assert!(s.due_jobs("n.test", 999, 10).await.unwrap().is_empty());
    assert_eq!(s.next_job_at("n.test").await.unwrap(), Some(1000));
    assert_eq!(
        s.job_sites().await.unwrap(),
        vec![("n.test".to_string(), 1000)]
    );
}

#[tokio::test]
async fn feed_work_goes_first_and_replaces_a_recheck_but_never_the_reverse() {
    let s = memory();
    s.enqueue_jobs(vec![
        job("http://n.test/old", JobKind::Recheck, 10),
        job("http://n.test/a", JobKind::Recheck, 20),
    ])
    .await
    .unwrap();
    s.enqueue_jobs(vec![job("http://n.test/new", JobKind::New, 50)])
        .await
        .unwrap();
    let order: Vec<String> = s
        .due_jobs("n.test", 100, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.url)
        .collect();
    assert_eq!(
        order,
        ["http://n.test/new", "http://n.test/old", "http://n.test/a"]
    );
    // A changed entry for /a replaces its re-check ...
    s.enqueue_jobs(vec![job("http://n.test/a", JobKind::Changed, 60)])
        .await
        .unwrap();
    // ... and a re-check does not replace feed work.
    s.enqueue_jobs(vec![job("http://n.test/a", JobKind::Recheck, 5)])
        .await
        .unwrap();
    let a = s
        .due_jobs("n.test", 100, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.url == "http://n.test/a")
        .unwrap();
    assert_eq!((a.kind, a.rank_ms), (JobKind::Changed, 60));
    assert_eq!(s.pending_jobs(), 3);
}

#[tokio::test]
async fn finishing_a_job_run_leaves_a_newer_request_for_the_same_page() {
    let s = memory();
    s.enqueue_jobs(vec![job("http://n.test/a", JobKind::Recheck, 10)])
        .await
        .unwrap();
    let running = s.due_jobs("n.test", 10, 1).await.unwrap().remove(0);
    // While it runs, the feed lists the page as changed.
    s.enqueue_jobs(vec![job("http://n.test/a", JobKind::Changed, 20)])
        .await
        .unwrap();
    s.finish_job(running.job_ref(), None).await.unwrap();
    let left = s.due_jobs("n.test", 100, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].kind, JobKind::Changed);
    s.finish_job(
        left[0].job_ref(),
        Some(job("http://n.test/a", JobKind::Recheck, 500)),
    )
    .await
    .unwrap();
    let next = s.due_jobs("n.test", 500, 10).await.unwrap();
    assert_eq!((next.len(), next[0].kind), (1, JobKind::Recheck));
    assert_eq!(s.pending_jobs(), 1);
}

#[tokio::test]
async fn feeds_move_and_retire_and_keep_their_schedule() {
    let s = memory();
    let v = Validators {
        etag: Some("\"1\"".into()),
        last_modified: None,
    };
    s.record_poll("old", Utc::now(), Some(&v), None)
        .await
        .unwrap();
    s.record_poll("old", Utc::now(), None, Some("boom"))
        .await
        .unwrap();
    s.save_feed_schedule("old", "{\"failures\":0}")
        .await
        .unwrap();
    s.commit_poll(PollCommit {
        feed_url: "old".into(),
        at: Utc::now(),
        validators: None,
        entries: vec![SeenEntry {
            entry_id: "e".into(),
            link: "http://n.test/a".into(),
            digest: "d1".into(),
            job: job("http://n.test/a", JobKind::New, 0),
        }],
    })
    .await
    .unwrap();
    assert_eq!(s.feed_status("old").await.unwrap(), FeedStatus::Active);
    s.move_feed("old", "new").await.unwrap();
    assert_eq!(
        s.feed_status("old").await.unwrap(),
        FeedStatus::Moved("new".into())
    );
    assert_eq!(s.feed_validators("new").await.unwrap(), v);
    assert_eq!(
        s.feed_schedule("new").await.unwrap().as_deref(),
        Some("{\"failures\":0}")
    );
    let ids = || vec!["e".to_string()];
    assert_eq!(s.entry_digests("new", ids()).await.unwrap()["e"], "d1");
    assert!(s.entry_digests("old", ids()).await.unwrap().is_empty());
    s.retire_feed("new", Utc::now(), "410 Gone").await.unwrap();
    assert!(
        matches!(s.feed_status("new").await.unwrap(), FeedStatus::Retired { reason, .. } if reason == "410 Gone")
    );
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
async fn subscriptions_round_trip() {
    let s = memory();
    assert!(
        s.add_subscription("http://n.test/f", Some("F"), Utc::now())
            .await
            .unwrap()
    );
    assert!(
        !s.add_subscription("http://n.test/f", None, Utc::now())
            .await
            .unwrap()
    );
    assert_eq!(
        s.subscriptions().await.unwrap(),
        vec![("http://n.test/f".to_string(), Some("F".to_string()))]
    );
    assert!(s.remove_subscription("http://n.test/f").await.unwrap());
    assert!(!s.remove_subscription("http://n.test/f").await.unwrap());
}
