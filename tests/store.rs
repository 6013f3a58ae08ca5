//! The state store's guarantees, on every backend: SQLite (in memory) and PostgreSQL (a fresh
//! database on the local server; the PostgreSQL tests fail, saying how to start it, when it is
//! absent).
//! - a poll's entries are seen in the same transaction that queues their page jobs;
//! - feed work goes before re-checks and replaces them, never the reverse; finishing a job run
//!   leaves a newer request for the same page in place;
//! - a revision is assigned once: a stale version or a revision number given out before is a
//!   conflict, and nothing is written;
//! - the outbox keeps its order and the rows the sink did not confirm; a row refused
//!   `max_attempts` times moves to the dead letters (and nothing else does), and a retry puts it
//!   back at the end of the outbox;
//! - an article's kept body and revision log come back as written, so the next diff and
//!   `newswire history` work after a restart.
//!
//! With PostgreSQL, writes for a site are fenced by its lease: a replica that lost a site can
//! no longer write for it.

mod common;

use std::time::Duration;

use chrono::Utc;
use newswire::event::Event;
use newswire::fetch::Validators;
use newswire::store::{
    Commit, FeedStatus, JobKind, PageJob, PollCommit, SeenEntry, Store, TrackCommit,
};
use newswire::track::{ArticleState, Decision, Snapshot, decide, observe};

/// Runs an async test body against SQLite and against PostgreSQL.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let store = newswire::store::Store::open(std::path::Path::new(":memory:")).unwrap();
                super::$name(store).await;
            }

            #[tokio::test]
            async fn postgres() {
                let db = super::common::Database::fresh().await;
                let store = newswire::store::Store::postgres(&db.url, 4).await.unwrap();
                super::hold(&store, &["n.test"]).await;
                super::$name(store).await;
            }
        }
    )*};
}

on_every_backend!(
    a_revision_is_assigned_once,
    outbox_is_ordered_and_failed_rows_stay,
    refused_rows_move_to_the_dead_letters_and_back,
    a_poll_marks_entries_seen_and_queues_their_jobs,
    feed_work_goes_first_and_replaces_a_recheck,
    finishing_a_job_run_leaves_a_newer_request_in_place,
    feeds_move_and_retire_and_keep_their_schedule,
    imported_feeds_round_trip,
    one_subscription_per_topic_and_one_renewal,
    the_kept_body_and_log_survive_a_restart,
);

/// With PostgreSQL: makes `sites` known and takes their leases (this is the only replica).
async fn hold(store: &Store, sites: &[&str]) {
    if store.replica().is_none() {
        return;
    }
    store
        .register_sites(sites.iter().map(|s| s.to_string()).collect())
        .await
        .unwrap();
    let round = store.lease_round(Duration::from_secs(30)).await.unwrap();
    assert_eq!(round.held.len(), sites.len());
}

const FEED: &str = "http://n.test/feed";

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

fn state(title: &str, revision: u32) -> ArticleState {
    let snap = Snapshot {
        title: title.into(),
        content_hash: "h".into(),
        authors: vec![],
        published_at: None,
        updated_at: None,
        revision_notes: vec![],
    };
    let Decision::New(mut s) = decide(None, snap) else {
        unreachable!()
    };
    s.revision = revision;
    s
}

fn job(url: &str, kind: JobKind, rank_ms: i64) -> PageJob {
    PageJob {
        url: url.into(),
        generation: 0,
        site: "n.test".into(),
        feed_url: FEED.into(),
        kind,
        rank_ms,
        attempts: 0,
        article_id: None,
        meta: None,
    }
}

fn track(id: &str, state: ArticleState, expected: Option<i64>, event: Event) -> TrackCommit {
    TrackCommit {
        article_id: id.into(),
        url: format!("http://n.test/{id}"),
        feed_url: FEED.into(),
        state: Some(state),
        expected_version: expected,
        changed_at: Some(Utc::now()),
        event: Some(event),
        done: None,
        recheck: None,
    }
}

async fn a_revision_is_assigned_once(s: Store) {
    assert_eq!(
        s.commit_track(track("a", state("T", 1), None, event(1)))
            .await
            .unwrap(),
        Commit::Done
    );
    // A second "new article" for the same id: someone was first.
    assert_eq!(
        s.commit_track(track("a", state("T", 1), None, event(9)))
            .await
            .unwrap(),
        Commit::Conflict
    );
    let r2 = || state("T2", 2);
    assert_eq!(
        s.commit_track(track("a", r2(), Some(1), event(2)))
            .await
            .unwrap(),
        Commit::Done
    );
    // Decided against version 1, which is gone: nothing written.
    assert_eq!(
        s.commit_track(track("a", r2(), Some(1), event(3)))
            .await
            .unwrap(),
        Commit::Conflict
    );
    // Even at the right version, revision 2 cannot be given out again.
    assert_eq!(
        s.commit_track(track("a", r2(), Some(2), event(3)))
            .await
            .unwrap(),
        Commit::Conflict
    );
    assert_eq!(
        s.revisions("a").await.unwrap(),
        vec![(1, "id1".to_string()), (2, "id2".to_string())]
    );
    assert_eq!(s.outbox_len(), 2);
    let row = s.article("a").await.unwrap().unwrap();
    assert_eq!((row.version, row.state), (2, r2()));
}

async fn the_kept_body_and_log_survive_a_restart(s: Store) {
    let snap = |body: &str| Snapshot {
        title: "T".into(),
        content_hash: newswire::track::content_hash(body),
        authors: vec![],
        published_at: None,
        updated_at: None,
        revision_notes: vec![],
    };
    let (v1, v2) = ("Injured: 17.\n\nCalm.", "Injured: 26.\n\nCalm.");
    let id = newswire::track::article_id(&"http://n.test/k".parse().unwrap());
    let Decision::New(s1) = observe(None, snap(v1), v1, "2026-02-17T10:30:05Z") else {
        unreachable!()
    };
    let mut e1 = event(1);
    e1.id = newswire::track::event_id(&id, 1);
    assert_eq!(
        s.commit_track(track(&id, s1.clone(), None, e1))
            .await
            .unwrap(),
        Commit::Done
    );
    // What a restarted process reads: the same state, body and log included.
    let row = s.article(&id).await.unwrap().unwrap();
    assert_eq!(row.state, s1);
    let Decision::Revised {
        state: s2, diff, ..
    } = observe(Some(&row.state), snap(v2), v2, "2026-02-17T15:30:05Z")
    else {
        unreachable!()
    };
    let words = match &diff.body.as_ref().unwrap().edits[0] {
        newswire::track::ParagraphEdit::Changed { words, .. } => words.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (words[0].removed.as_str(), words[0].added.as_str()),
        ("17", "26")
    );
    let mut e2 = event(2);
    e2.id = newswire::track::event_id(&id, 2);
    assert_eq!(
        s.commit_track(track(&id, s2, Some(row.version), e2))
            .await
            .unwrap(),
        Commit::Done
    );
    let h = newswire::history::history(&s, "http://n.test/k?utm_medium=rss")
        .await
        .unwrap();
    assert_eq!(
        h.revisions
            .iter()
            .map(|r| (r.revision, r.fetched_at.as_deref(), r.summary.as_deref()))
            .collect::<Vec<_>>(),
        [
            (1, Some("2026-02-17T10:30:05Z"), Some("")),
            (
                2,
                Some("2026-02-17T15:30:05Z"),
                Some("body (1 paragraph changed)")
            ),
        ]
    );
}

async fn outbox_is_ordered_and_failed_rows_stay(s: Store) {
    s.outbox_append((1..=5).map(event).collect()).await.unwrap();
    let rows = s.outbox_batch(0, 3).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.event.id.as_str()).collect::<Vec<_>>(),
        ["id1", "id2", "id3"]
    );
    s.outbox_refused(vec![(rows[0].seq, "nacked by the broker".into())], 3)
        .await
        .unwrap();
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

async fn refused_rows_move_to_the_dead_letters_and_back(s: Store) {
    s.outbox_append((1..=4).map(event).collect()).await.unwrap();
    let rows = s.outbox_batch(0, 10).await.unwrap();
    let (poison, other) = (rows[1].seq, rows[2].seq);
    let why = "returned as unroutable: 312 NO_ROUTE";
    for _ in 0..2 {
        let dead = s
            .outbox_refused(
                vec![(poison, why.into()), (other, "nacked by the broker".into())],
                3,
            )
            .await
            .unwrap();
        assert!(dead.is_empty(), "{dead:?}");
    }
    assert!(s.dead_letters(10).await.unwrap().is_empty());
    // The third refusal of the poison row sets it aside; the other row has two and a third to go.
    let dead = s
        .outbox_refused(vec![(poison, why.into())], 3)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].seq,
            dead[0].event.id.as_str(),
            dead[0].attempts,
            dead[0].reason.as_str()
        ),
        (poison, "id2", 3, why)
    );
    assert_eq!(s.dead_letters(10).await.unwrap(), dead);
    assert_eq!(s.outbox_len(), 3);
    let left = s.outbox_batch(0, 10).await.unwrap();
    assert_eq!(
        left.iter()
            .map(|r| (r.event.id.as_str(), r.attempts))
            .collect::<Vec<_>>(),
        [("id1", 0), ("id3", 2), ("id4", 0)]
    );
    // Unknown seqs move nothing; a retry puts the row back at the end, its attempts reset.
    assert_eq!(s.retry_dead_letters(Some(vec![-5])).await.unwrap(), 0);
    assert_eq!(s.retry_dead_letters(Some(vec![poison])).await.unwrap(), 1);
    assert!(s.dead_letters(10).await.unwrap().is_empty());
    assert_eq!(s.outbox_len(), 4);
    let back = s.outbox_batch(0, 10).await.unwrap();
    let last = back.last().unwrap();
    assert_eq!((last.event.id.as_str(), last.attempts), ("id2", 0));
    assert!(last.seq > rows[3].seq);
    assert_eq!(last.event, rows[1].event);
    // `--all` takes every dead letter.
    for _ in 0..2 {
        s.outbox_refused(vec![(last.seq, why.into()), (rows[0].seq, why.into())], 2)
            .await
            .unwrap();
    }
    assert_eq!(s.dead_letters(10).await.unwrap().len(), 2);
    assert_eq!(s.outbox_len(), 2);
    assert_eq!(s.retry_dead_letters(None).await.unwrap(), 2);
    assert_eq!(s.outbox_len(), 4);
    assert!(s.dead_letters(10).await.unwrap().is_empty());
}

fn seen(id: &str, url: &str, rank_ms: i64) -> SeenEntry {
    SeenEntry {
        entry_id: id.into(),
        link: url.into(),
        digest: format!("d-{id}"),
        job: job(url, JobKind::New, rank_ms),
    }
}

async fn a_poll_marks_entries_seen_and_queues_their_jobs(s: Store) {
    let v = Validators {
        etag: Some("\"1\"".into()),
        last_modified: None,
    };
    s.commit_poll(PollCommit {
        feed_url: FEED.into(),
        at: Utc::now(),
        validators: Some(v.clone()),
        entries: vec![
            seen("e1", "http://n.test/1", 1000),
            seen("e2", "http://n.test/2", 1000),
        ],
        pushed: false,
    })
    .await
    .unwrap();
    assert_eq!(s.feed_validators(FEED).await.unwrap(), v);
    let digests = s
        .entry_digests(FEED, vec!["e1".into(), "e3".into()])
        .await
        .unwrap();
    assert_eq!(digests.len(), 1);
    assert_eq!(digests["e1"], "d-e1");
    assert_eq!(s.pending_jobs(), 2);
    let due = s.due_jobs("n.test", 1000, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|j| j.url.as_str()).collect::<Vec<_>>(),
        ["http://n.test/1", "http://n.test/2"],
        "same rank: in the order queued"
    );
    assert!(s.due_jobs("n.test", 999, 10).await.unwrap().is_empty());
    assert_eq!(s.next_job_at("n.test").await.unwrap(), Some(1000));
    assert_eq!(
        s.job_sites(None).await.unwrap(),
        vec![("n.test".to_string(), 1000)]
    );
    assert_eq!(
        s.job_sites(Some(vec!["other.test".into()])).await.unwrap(),
        vec![]
    );
}

async fn feed_work_goes_first_and_replaces_a_recheck(s: Store) {
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
    let everywhere = s.due_everywhere(100, 10).await.unwrap();
    assert_eq!(everywhere.len(), 3);
}

async fn finishing_a_job_run_leaves_a_newer_request_in_place(s: Store) {
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

    // Feed work over feed work: a changed entry arriving while the new one's fetch runs is not
    // lost when that run ends, and keeps the earlier rank.
    s.enqueue_jobs(vec![job("http://n.test/b", JobKind::New, 100)])
        .await
        .unwrap();
    let running = s
        .due_jobs("n.test", 100, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.url == "http://n.test/b")
        .unwrap();
    s.enqueue_jobs(vec![job("http://n.test/b", JobKind::Changed, 200)])
        .await
        .unwrap();
    s.finish_job(running.job_ref(), None).await.unwrap();
    let left = s.due_jobs("n.test", 200, 10).await.unwrap();
    let b = left.iter().find(|j| j.url == "http://n.test/b").unwrap();
    assert_eq!((b.kind, b.rank_ms), (JobKind::Changed, 100));
}

async fn feeds_move_and_retire_and_keep_their_schedule(s: Store) {
    let (old, new) = ("http://n.test/old", "http://n.test/new");
    let v = Validators {
        etag: Some("\"1\"".into()),
        last_modified: None,
    };
    s.record_poll(old, Utc::now(), Some(&v), None)
        .await
        .unwrap();
    s.record_poll(old, Utc::now(), None, Some("boom"))
        .await
        .unwrap();
    assert_eq!(s.feed_validators(old).await.unwrap(), v);
    s.save_feed_schedule(old, "{\"failures\":0}").await.unwrap();
    s.commit_poll(PollCommit {
        feed_url: old.into(),
        at: Utc::now(),
        validators: None,
        entries: vec![seen("e", "http://n.test/a", 0)],
        pushed: false,
    })
    .await
    .unwrap();
    assert_eq!(s.feed_status(old).await.unwrap(), FeedStatus::Active);
    s.move_feed(old, new).await.unwrap();
    assert_eq!(
        s.feed_status(old).await.unwrap(),
        FeedStatus::Moved(new.into())
    );
    assert_eq!(s.feed_validators(new).await.unwrap(), v);
    assert_eq!(
        s.feed_schedule(new).await.unwrap().as_deref(),
        Some("{\"failures\":0}")
    );
    let ids = || vec!["e".to_string()];
    assert_eq!(s.entry_digests(new, ids()).await.unwrap()["e"], "d-e");
    assert!(s.entry_digests(old, ids()).await.unwrap().is_empty());
    s.retire_feed(new, Utc::now(), "410 Gone").await.unwrap();
    assert!(
        matches!(s.feed_status(new).await.unwrap(), FeedStatus::Retired { reason, .. } if reason == "410 Gone")
    );
}

async fn imported_feeds_round_trip(s: Store) {
    assert!(
        s.add_subscription(FEED, Some("F"), Utc::now())
            .await
            .unwrap()
    );
    assert!(!s.add_subscription(FEED, None, Utc::now()).await.unwrap());
    assert_eq!(
        s.subscriptions().await.unwrap(),
        vec![(FEED.to_string(), Some("F".to_string()))]
    );
    assert!(s.remove_subscription(FEED).await.unwrap());
    assert!(!s.remove_subscription(FEED).await.unwrap());
}

async fn one_subscription_per_topic_and_one_renewal(s: Store) {
    let due = Utc::now();
    let sub = newswire::store::Subscription {
        topic: "http://n.test/topic".into(),
        feed_url: FEED.into(),
        hub: "http://hub.test/".into(),
        secret: "s".into(),
        callback_id: "cb1".into(),
        state: "pending".into(),
        lease_until: None,
        renew_at: Some(due),
    };
    assert!(s.claim_subscription(&sub).await.unwrap());
    let other = newswire::store::Subscription {
        callback_id: "cb2".into(),
        ..sub.clone()
    };
    assert!(
        !s.claim_subscription(&other).await.unwrap(),
        "a second advert of the topic does not subscribe again"
    );
    let later = due + chrono::Duration::hours(1);
    assert!(s.claim_renewal(&sub.topic, due, later).await.unwrap());
    assert!(
        !s.claim_renewal(&sub.topic, due, later).await.unwrap(),
        "the renewal was taken"
    );
    assert_eq!(
        s.subscription_by_callback("cb1")
            .await
            .unwrap()
            .unwrap()
            .renew_at
            .map(|t| t.timestamp()),
        Some(later.timestamp())
    );
}

/// With PostgreSQL, two replicas on one database: a site is held by one of them at a time; the
/// other's writes for it are refused, and it takes the site (with its politeness state) once
/// the first gives it back.
#[tokio::test]
async fn postgres_writes_for_a_site_are_fenced_by_its_lease() {
    let db = common::Database::fresh().await;
    let a = Store::postgres(&db.url, 4).await.unwrap();
    let b = Store::postgres(&db.url, 4).await.unwrap();
    let ttl = Duration::from_secs(30);
    a.register_sites(vec!["n.test".into(), "m.test".into()])
        .await
        .unwrap();
    assert_eq!(a.lease_round(ttl).await.unwrap().held.len(), 2);
    // b joins: a gives back its excess at its next round, and b claims it.
    let first = b.lease_round(ttl).await.unwrap();
    assert_eq!((first.held.len(), first.replicas), (0, 2));
    let a_round = a.lease_round(ttl).await.unwrap();
    assert_eq!(a_round.held.len(), 1);
    let b_round = b.lease_round(ttl).await.unwrap();
    assert_eq!(b_round.held.len(), 1);
    let a_site = a_round.held[0].site.clone();
    assert_ne!(a_site, b_round.held[0].site);
    let feed = format!("http://{a_site}/feed");

    // b cannot write for a's site; a can.
    let err = b
        .record_poll(&feed, Utc::now(), None, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no longer holds the lease"), "{err}");
    a.record_poll(&feed, Utc::now(), None, None).await.unwrap();
    let next_at = Utc::now() + chrono::Duration::seconds(60);
    assert!(a.reserve_start(&a_site, next_at, None, 1).await.unwrap());
    assert!(!b.reserve_start(&a_site, next_at, None, 1).await.unwrap());
    let mut j = job(&format!("http://{a_site}/x"), JobKind::New, 0);
    j.site = a_site.clone();
    b.enqueue_jobs(vec![j.clone()]).await.unwrap();
    let queued = a.due_jobs(&a_site, 0, 1).await.unwrap().remove(0);
    let write = TrackCommit {
        done: Some(queued.job_ref()),
        ..track("x", state("X", 1), None, event(1))
    };
    assert_eq!(
        b.commit_track(write.clone()).await.unwrap(),
        Commit::Fenced,
        "nothing written for a site b does not hold"
    );
    assert!(b.article("x").await.unwrap().is_none());

    // a gives everything back; b takes the site with the politeness state a left.
    a.release_leases().await.unwrap();
    let taken = b.lease_round(ttl).await.unwrap();
    let lease = taken.held.iter().find(|l| l.site == a_site).unwrap();
    assert_eq!(lease.penalty, 1);
    assert_eq!(
        lease.next_at.map(|t| t.timestamp()),
        Some(next_at.timestamp())
    );
    assert_eq!(b.commit_track(write).await.unwrap(), Commit::Done);
    assert_eq!(
        a.commit_track(track("y", state("Y", 1), None, event(2)))
            .await
            .unwrap(),
        Commit::Done,
        "an article write without a job is not fenced"
    );
}
