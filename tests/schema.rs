//! The event contract's JSON Schema (docs/schema/article-event.schema.json) is checked, not
//! just written: every event the replay fixtures give matches it, an event with every optional
//! part filled in matches it, and a field the schema does not describe, at any level, fails.

mod common;

use std::process::Command;

use newswire::event::{ArticleData, Event};
use newswire::stamps::{NoteKind, RevisionNote};
use newswire::track::{BodyDiff, Change, Diff, NotesDiff, ParagraphEdit, WordChange};
use serde_json::Value;

#[test]
fn every_event_of_every_replay_fixture_matches_the_schema() {
    let root = common::fixture("captures");
    let mut scenarios: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("capture.warc.gz").exists())
        .collect();
    scenarios.sort();
    assert!(scenarios.len() >= 10, "{scenarios:?}");
    let (mut events, mut revised_with_diff) = (0, 0);
    for dir in scenarios {
        let out = common::run_ok(
            Command::new(common::bin())
                .arg("replay")
                .arg(dir.join("capture.warc.gz"))
                .env_remove("NEWSWIRE_CONFIG"),
        );
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let e: Value = serde_json::from_str(line).unwrap();
            common::assert_valid_event(&e);
            events += 1;
            if e["data"]["diff"].is_object() {
                revised_with_diff += 1;
            }
        }
    }
    assert!(
        events >= 15 && revised_with_diff >= 5,
        "{events} events, {revised_with_diff} with a diff"
    );
}

fn note(text: &str) -> RevisionNote {
    RevisionNote {
        kind: NoteKind::Correction,
        text: text.into(),
        date: Some("2026-02-17T09:00:00+01:00".parse().unwrap()),
    }
}

/// An event with every optional part present: each field of `data` and of the diff, each kind
/// of paragraph edit.
fn full_event() -> Value {
    let data = ArticleData {
        article_id: newswire::track::article_id(&"http://n.test/a".parse().unwrap()),
        revision: 2,
        url: "http://n.test/a?utm_source=x".into(),
        canonical_url: "http://n.test/a".into(),
        feed_url: "http://n.test/feed.xml".into(),
        title: "After".into(),
        authors: vec!["A. Writer".into()],
        language: Some("en".into()),
        published_at: Some("2026-02-17T10:23:00".parse().unwrap()),
        updated_at: Some("2026-02-17T15:23:00+00:00".parse().unwrap()),
        revision_notes: vec![note("Correction: a name was misspelled.")],
        body_text: "One.\n\nTwo.".into(),
        word_count: 2,
        content_hash: newswire::track::content_hash("One. Two."),
        changes: vec![
            "title".into(),
            "body".into(),
            "authors".into(),
            "published_at".into(),
            "updated_at".into(),
            "revision_notes".into(),
        ],
        diff: Some(Diff {
            title: Some(Change {
                before: "Before".into(),
                after: "After".into(),
            }),
            body: Some(BodyDiff {
                paragraphs_before: 2,
                paragraphs_after: 2,
                added: 1,
                removed: 1,
                changed: 1,
                edits: vec![
                    ParagraphEdit::Changed {
                        before_index: 0,
                        after_index: 0,
                        words: vec![WordChange {
                            context_before: "the".into(),
                            removed: "17".into(),
                            added: "26".into(),
                            context_after: "people".into(),
                        }],
                    },
                    ParagraphEdit::Removed {
                        before_index: 1,
                        text: "Old.".into(),
                    },
                    ParagraphEdit::Added {
                        after_index: 1,
                        text: "Two.".into(),
                    },
                ],
            }),
            authors: Some(Change {
                before: vec![],
                after: vec!["A. Writer".into()],
            }),
            published_at: Some(Change {
                before: None,
                after: Some("2026-02-17T10:23:00".parse().unwrap()),
            }),
            updated_at: Some(Change {
                before: Some("2026-02-17T10:23:00Z".parse().unwrap()),
                after: Some("2026-02-17T15:23:00+00:00".parse().unwrap()),
            }),
            revision_notes: Some(NotesDiff {
                added: vec![note("Correction: a name was misspelled.")],
                removed: vec![RevisionNote {
                    kind: NoteKind::Update,
                    text: "Update: old.".into(),
                    date: None,
                }],
            }),
            truncated: true,
        }),
        fetched_at: "2026-02-17T15:30:05Z".into(),
    };
    serde_json::from_str(&Event::for_revision(&data).to_structured_json()).unwrap()
}

#[test]
fn an_event_with_every_field_present_matches_the_schema() {
    let e = full_event();
    common::assert_valid_event(&e);
    common::assert_valid_data(&e["data"]);
}

/// Every object in `v`, with its JSON pointer.
fn objects<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(m) => {
            out.push((at.clone(), v));
            for (k, x) in m {
                objects(x, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                objects(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn a_field_missing_from_the_schema_fails_at_every_level() {
    // The test that fails when someone adds a field to the event and not to the schema: an
    // unknown key in any object of the event (envelope, data, diff, body, edits, words, notes,
    // stamps' before/after) is rejected.
    let event = full_event();
    let mut places = Vec::new();
    objects(&event, String::new(), &mut places);
    assert!(places.len() >= 15, "{}", places.len());
    let schema = common::event_schema_json();
    for (at, _) in &places {
        let mut e = event.clone();
        let target = if at.is_empty() {
            &mut e
        } else {
            e.pointer_mut(at).unwrap()
        };
        target
            .as_object_mut()
            .unwrap()
            .insert("field_not_in_the_schema".into(), Value::Bool(true));
        let validator = jsonschema::draft202012::new(&schema).unwrap();
        assert!(
            !validator.is_valid(&e),
            "an unknown field at {at:?} passed the schema: add additionalProperties: false there"
        );
    }
}

#[test]
fn every_object_in_the_schema_is_closed() {
    // additionalProperties: false wherever properties are listed, so a new field in the code
    // fails validation until the schema describes it.
    let schema = common::event_schema_json();
    let mut places = Vec::new();
    objects(&schema, String::new(), &mut places);
    for (at, o) in places {
        if o.get("properties").is_some() {
            assert_eq!(
                o.get("additionalProperties"),
                Some(&Value::Bool(false)),
                "schema object at {at} is open"
            );
        }
    }
}
