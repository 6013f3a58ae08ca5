//! Replaying saved captures (tests/fixtures/captures) through the real binary with the stdout
//! sink: each scenario gives exactly the events docs/replay.md and docs/events.md call for, and a replay
//! is deterministic to the byte.

mod common;

use std::process::Command;

use serde_json::Value;

/// Replays a scenario's capture; returns stdout's events. Panics with stderr on failure.
fn replay(scenario: &str) -> (String, Vec<Value>) {
    let capture = common::fixture(&format!("captures/{scenario}/capture.warc.gz"));
    let out = Command::new(common::bin())
        .arg("replay")
        .arg(&capture)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replay {scenario} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON event"))
        .collect();
    events.iter().for_each(common::assert_valid_event);
    (stdout, events)
}

fn data(e: &Value) -> &Value {
    &e["data"]
}

#[test]
fn new_article_is_published_once_with_the_contract_fields() {
    let (_, events) = replay("new-article");
    assert_eq!(events.len(), 1, "{events:#?}");
    let e = &events[0];
    assert_eq!(e["specversion"], "1.0");
    assert_eq!(e["type"], "newswire.article.published");
    assert_eq!(e["datacontenttype"], "application/json");
    assert_eq!(e["source"], "http://harbor.test/feed.xml");
    assert_eq!(e["subject"], data(e)["article_id"]);
    assert_eq!(e["time"], data(e)["fetched_at"]);
    let d = data(e);
    assert_eq!(d["revision"], 1);
    assert_eq!(d["changes"], serde_json::json!([]));
    // Tracking parameters never reach identity.
    assert!(
        !d["canonical_url"].as_str().unwrap().contains("utm_"),
        "{d}"
    );
    assert!(
        d["title"]
            .as_str()
            .unwrap()
            .starts_with("Ferry service adds early sailing"),
        "{d}"
    );
    let body = d["body_text"].as_str().unwrap();
    assert!(
        body.split("\n\n").count() >= 3,
        "paragraphs are separated by blank lines: {body:?}"
    );
    let (words, tokens) = (
        d["word_count"].as_u64().unwrap() as f64,
        body.split_whitespace().count() as f64,
    );
    assert!(
        (words - tokens).abs() / tokens < 0.05,
        "word_count {words} for {tokens} whitespace tokens"
    );
    assert!(d["content_hash"].as_str().unwrap().len() >= 16);
    // fetched_at is the capture's WARC-Date, not the wall clock.
    assert!(
        d["fetched_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-05T10:00:0"),
        "{d}"
    );
}

#[test]
fn revision_gives_published_then_revised_with_changes() {
    let (_, events) = replay("revision");
    let types: Vec<_> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["newswire.article.published", "newswire.article.revised"]
    );
    let (r1, r2) = (data(&events[0]), data(&events[1]));
    assert_eq!(r1["article_id"], r2["article_id"]);
    assert_eq!(
        (r1["revision"].as_u64(), r2["revision"].as_u64()),
        (Some(1), Some(2))
    );
    let changes: Vec<&str> = r2["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(changes.contains(&"body"), "{changes:?}");
    assert_ne!(events[0]["id"], events[1]["id"]);
}

#[test]
fn noise_only_refetch_gives_no_new_revision() {
    let (_, events) = replay("noise-refetch");
    assert_eq!(
        events.len(),
        1,
        "only the first fetch is an event: {events:#?}"
    );
}

#[test]
fn redirects_are_followed_inside_the_capture() {
    let (_, events) = replay("redirect");
    assert_eq!(events.len(), 1);
    let d = data(&events[0]);
    assert_eq!(
        d["url"],
        "http://harbor.test/news/2026/01/05/council-approves-seawall-repairs"
    );
    assert_eq!(
        d["canonical_url"],
        "http://harbor.test/news/2026/01/05/council-approves-seawall-repairs"
    );
}

#[test]
fn missing_pages_give_no_event_and_no_failure() {
    let (_, events) = replay("missing");
    assert!(events.is_empty(), "{events:#?}");
}

#[test]
fn atom_and_json_feeds_each_give_their_article() {
    let (_, events) = replay("atom-json");
    let mut urls: Vec<&str> = events
        .iter()
        .map(|e| data(e)["url"].as_str().unwrap())
        .collect();
    urls.sort();
    assert_eq!(
        urls,
        [
            "http://harbor.test/news/2026/01/05/marina-fees-rise",
            "http://harbor.test/news/2026/01/05/school-board-names-superintendent"
        ]
    );
}

#[test]
fn replaying_the_same_capture_twice_is_byte_identical() {
    for scenario in ["revision", "atom-json", "redirect"] {
        let (a, _) = replay(scenario);
        let (b, _) = replay(scenario);
        assert!(!a.is_empty());
        assert_eq!(a, b, "{scenario}");
    }
}

#[test]
fn bad_input_is_a_one_line_error() {
    let dir = common::tempdir("replay-bad");
    let junk = dir.join("junk.warc");
    std::fs::write(&junk, b"<html>not a capture</html>").unwrap();
    let out = Command::new(common::bin())
        .arg("replay")
        .arg(&junk)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("newswire: error:") && last.contains("junk.warc"),
        "{err}"
    );

    let out = Command::new(common::bin())
        .args(["replay", "/nonexistent/capture.warc"])
        .output()
        .unwrap();
    assert!(!out.status.success());

    let out = Command::new(common::bin())
        .arg("replay")
        .arg(common::fixture("captures/new-article/capture.warc.gz"))
        .env("NEWSWIRE__POLL__INTERVAL", "soon")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("poll.interval"));
}

fn changes(e: &Value) -> Vec<&str> {
    data(e)["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect()
}

#[test]
fn seed_shaped_revision_reports_body_stamp_and_note_changes() {
    // The seed article's shape: published 10:23, revised 15:23 with an "Updated:" line and a
    // closing "Update, ...:" note.
    let (_, events) = replay("revision");
    let r2 = data(&events[1]);
    assert_eq!(
        changes(&events[1]),
        ["body", "updated_at", "revision_notes"]
    );
    assert_eq!(r2["published_at"], "2026-01-05T10:23:00+00:00");
    assert_eq!(r2["updated_at"], "2026-01-05T15:23:00+00:00");
    assert_eq!(data(&events[0])["updated_at"], Value::Null);
    let note = &r2["revision_notes"][0];
    assert_eq!(note["kind"], "update");
    assert!(
        note["text"]
            .as_str()
            .unwrap()
            .starts_with("Update, Jan. 5:"),
        "{note}"
    );
}

#[test]
fn title_only_edit_is_a_revision_of_the_title() {
    let (_, events) = replay("title-edit");
    assert_eq!(events.len(), 2);
    assert_eq!(changes(&events[1]), ["title"]);
    assert_eq!(
        data(&events[1])["title"],
        "Ferry terminal to close for two weeks in March"
    );
}

#[test]
fn three_revisions_in_a_row_are_numbered_in_order() {
    let (_, events) = replay("three-revisions");
    let revisions: Vec<u64> = events
        .iter()
        .map(|e| data(e)["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(revisions, [1, 2, 3, 4]);
    assert_eq!(changes(&events[1]), ["body"]);
    assert_eq!(changes(&events[2]), ["body", "updated_at"]);
    assert_eq!(
        changes(&events[3]),
        ["body", "updated_at", "revision_notes"]
    );
    assert_eq!(data(&events[3])["revision_notes"][0]["kind"], "correction");
    let ids: std::collections::HashSet<&str> =
        events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4);
}

#[test]
fn a_flip_flopping_page_does_not_emit_an_event_per_flip() {
    // Versions A B A B A B A B: the first A and the first B are revisions; the flips are not.
    let (_, events) = replay("flip-flop");
    let revisions: Vec<u64> = events
        .iter()
        .map(|e| data(e)["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(revisions, [1, 2]);
}

#[test]
fn what_the_feed_says_fills_what_the_page_lacks_and_a_refetch_keeps_it() {
    let (_, events) = replay("feed-metadata");
    assert_eq!(
        events.len(),
        1,
        "the unchanged re-fetch is no revision: {events:?}"
    );
    let d = data(&events[0]);
    assert_eq!(d["authors"], serde_json::json!(["Iris Fenwick"]));
    assert_eq!(d["published_at"], "2026-01-06T07:52:00+00:00");
}

#[test]
fn a_seed_shaped_update_carries_exactly_its_edits_in_the_diff_and_noise_carries_none() {
    // Two numbers changed (17 -> 26 injured, 10 -> 23 vehicles), a paragraph added, an
    // "Updated:" line and an update note; then a noise-only refetch three hours later.
    let (_, events) = replay("casualty-update");
    assert_eq!(
        events.len(),
        2,
        "the noise-only refetch is no event: {events:#?}"
    );
    assert!(
        data(&events[0]).get("diff").is_none(),
        "no diff on published"
    );
    let r2 = data(&events[1]);
    assert_eq!(
        changes(&events[1]),
        ["body", "updated_at", "revision_notes"]
    );
    let diff = &r2["diff"];
    assert_eq!(
        diff["updated_at"],
        serde_json::json!({"before": null, "after": "2026-02-17T15:23:00+00:00"})
    );
    // The update note is the body's closing paragraph too, so the body gains two paragraphs.
    let body = &diff["body"];
    let counts: Vec<u64> = [
        "paragraphs_before",
        "paragraphs_after",
        "changed",
        "added",
        "removed",
    ]
    .iter()
    .map(|k| body[k].as_u64().unwrap())
    .collect();
    assert_eq!(counts, [7, 9, 2, 2, 0], "{body:#}");
    let edits = body["edits"].as_array().unwrap();
    assert_eq!(edits.len(), 4, "{body:#}");
    let word = |e: &Value| -> (u64, String, String) {
        assert_eq!(e["op"], "changed", "{e}");
        assert_eq!(e["before_index"], e["after_index"], "{e}");
        let words = e["words"].as_array().unwrap();
        assert_eq!(words.len(), 1, "one changed word: {e}");
        (
            e["after_index"].as_u64().unwrap(),
            words[0]["removed"].as_str().unwrap().to_string(),
            words[0]["added"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(word(&edits[0]), (0, "17".into(), "26".into()));
    assert_eq!(word(&edits[1]), (3, "10".into(), "23".into()));
    assert_eq!(
        (
            &edits[0]["words"][0]["context_before"],
            &edits[0]["words"][0]["context_after"]
        ),
        (
            &Value::from("7:40 sailing unloaded, injuring"),
            &Value::from("people, the Port Alder fire")
        )
    );
    let added = |e: &Value, at: u64, start: &str| {
        assert_eq!(
            (&e["op"], e["after_index"].as_u64()),
            (&Value::from("added"), Some(at))
        );
        assert!(e["text"].as_str().unwrap().starts_with(start), "{e}");
    };
    added(
        &edits[2],
        6,
        "Two of the injured remained in serious condition",
    );
    added(&edits[3], 8, "Update, Feb. 17:");
    let notes = &diff["revision_notes"];
    assert_eq!(notes["removed"], serde_json::json!([]));
    assert_eq!(notes["added"].as_array().unwrap().len(), 1);
    assert!(
        notes["added"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Update, Feb. 17:"),
        "{notes}"
    );
    assert_eq!(diff["truncated"], false);
    // Nothing else changed, so nothing else is in the diff.
    let mut keys: Vec<&str> = diff
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["body", "revision_notes", "truncated", "updated_at"]);
}

#[test]
fn a_title_only_edit_has_a_title_diff_and_no_body_diff() {
    let (_, events) = replay("title-edit");
    let diff = &data(&events[1])["diff"];
    assert!(diff["title"]["before"].is_string() && diff["title"]["after"].is_string());
    assert_ne!(diff["title"]["before"], diff["title"]["after"]);
    assert!(diff.get("body").is_none(), "{diff}");
}

#[test]
fn the_feed_text_is_the_body_when_the_page_gives_far_less_and_steers_the_choice_on_the_page() {
    let (_, events) = replay("feed-witness");
    let by_url = |tail: &str| {
        events
            .iter()
            .map(data)
            .find(|d| d["url"].as_str().unwrap().ends_with(tail))
            .unwrap_or_else(|| panic!("no event for {tail}: {events:#?}"))
    };
    assert_eq!(events.len(), 4, "{events:#?}");
    // A paywall stub: the feed's four paragraphs, without the caption or the subscribe box.
    let paywalled = by_url("dredging-vote");
    let body = paywalled["body_text"].as_str().unwrap();
    assert_eq!(body.split("\n\n").count(), 4, "{body}");
    assert!(body.ends_with("disposal site off Gull Point, as in previous years."));
    assert!(
        !body.contains("Subscribe") && !body.contains("dredger at work"),
        "{body}"
    );
    assert_eq!(paywalled["word_count"], 150);
    // A shell rendered by script, with nothing to extract: the feed's text makes it an article.
    let shell = by_url("ferry-timetable");
    assert!(
        shell["body_text"]
            .as_str()
            .unwrap()
            .starts_with("The island ferry will add a sailing at 10:15 p.m."),
        "{shell}"
    );
    assert_eq!(shell["title"], "Winter ferry timetable adds a late sailing");
    // A whole page: its own body, with the paragraph only the page has.
    let full = by_url("market-hall")["body_text"].as_str().unwrap();
    assert!(
        full.ends_with("land their catch on Sunday evenings."),
        "{full}"
    );
    // A short post beside a longer box about the diary: on its own signals the page gives the
    // box (`newswire extract` of the page shows it); the feed's text picks the post, as the page
    // has it (its own words, not the feed's copy).
    let post = by_url("keepers-cottage")["body_text"].as_str().unwrap();
    assert!(
        post.starts_with("The keeper's cottage at the foot of the Gull Point light")
            && post.ends_with("with a seal-watching telescope in the old lamp store."),
        "{post}"
    );
    assert!(!post.contains("Point Diary"), "{post}");
}
