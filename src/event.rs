//! The CloudEvents 1.0 shape of an article revision (docs/events.md; the JSON Schema of `data`
//! is docs/schema/article-event.schema.json).
//!
//! An [`Event`] is what the outbox stores and every sink sends: the envelope attributes plus
//! `data` as JSON text, so stdout prints exactly what the broker would have received.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::stamps::{RevisionNote, Timestamp};
use crate::track::Diff;

pub const TYPE_PUBLISHED: &str = "newswire.article.published";
pub const TYPE_REVISED: &str = "newswire.article.revised";

/// `data` of an article event; field names and order are the contract's (docs/events.md).
/// A field added here must be added to the schema too: `tests/schema.rs` fails until it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArticleData {
    pub article_id: String,
    pub revision: u32,
    pub url: String,
    pub canonical_url: String,
    pub feed_url: String,
    pub title: String,
    pub authors: Vec<String>,
    pub language: Option<String>,
    pub published_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub revision_notes: Vec<RevisionNote>,
    pub body_text: String,
    pub word_count: usize,
    pub content_hash: String,
    pub changes: Vec<String>,
    /// On `revised` only: what changed, before and after (docs/events.md, "The diff").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Diff>,
    pub fetched_at: String,
}

/// One event as stored in the outbox and handed to a sink.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub event_type: String,
    pub source: String,
    pub subject: String,
    pub time: String,
    /// `data` serialized as JSON.
    pub data: String,
}

impl Event {
    pub fn for_revision(data: &ArticleData) -> Self {
        Event {
            id: crate::track::event_id(&data.article_id, data.revision),
            event_type: if data.revision == 1 {
                TYPE_PUBLISHED
            } else {
                TYPE_REVISED
            }
            .to_string(),
            source: data.feed_url.clone(),
            subject: data.article_id.clone(),
            time: data.fetched_at.clone(),
            data: serde_json::to_string(data).expect("article data serializes"),
        }
    }

    /// The AMQP routing key: `article.published` or `article.revised`.
    pub fn routing_key(&self) -> &str {
        self.event_type
            .strip_prefix("newswire.")
            .unwrap_or(&self.event_type)
    }

    /// The event in structured mode: one JSON object with `data` inline (the stdout line).
    pub fn to_structured_json(&self) -> String {
        #[derive(Serialize)]
        struct Structured<'a> {
            specversion: &'a str,
            id: &'a str,
            source: &'a str,
            #[serde(rename = "type")]
            event_type: &'a str,
            subject: &'a str,
            time: &'a str,
            datacontenttype: &'a str,
            data: &'a RawValue,
        }
        let data: &RawValue = serde_json::from_str(&self.data).expect("outbox data is JSON");
        serde_json::to_string(&Structured {
            specversion: "1.0",
            id: &self.id,
            source: &self.source,
            event_type: &self.event_type,
            subject: &self.subject,
            time: &self.time,
            datacontenttype: "application/json",
            data,
        })
        .expect("event serializes")
    }

    /// CloudEvents attributes carried as AMQP headers (all but `datacontenttype`), by name.
    pub fn header_attributes(&self) -> [(&'static str, &str); 6] {
        [
            ("specversion", "1.0"),
            ("id", &self.id),
            ("source", &self.source),
            ("type", &self.event_type),
            ("subject", &self.subject),
            ("time", &self.time),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(revision: u32) -> ArticleData {
        ArticleData {
            article_id: "a1".into(),
            revision,
            url: "http://n.test/a".into(),
            canonical_url: "http://n.test/a".into(),
            feed_url: "http://n.test/feed".into(),
            title: "T".into(),
            authors: vec![],
            language: Some("en".into()),
            published_at: None,
            updated_at: None,
            revision_notes: vec![],
            body_text: "B".into(),
            word_count: 1,
            content_hash: "h".into(),
            changes: vec![],
            diff: None,
            fetched_at: "2024-12-17T10:23:00Z".into(),
        }
    }

    #[test]
    fn structured_event_has_the_envelope_and_data_inline() {
        let e = Event::for_revision(&data(1));
        let v: serde_json::Value = serde_json::from_str(&e.to_structured_json()).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["type"], TYPE_PUBLISHED);
        assert_eq!(v["subject"], "a1");
        assert_eq!(v["source"], "http://n.test/feed");
        assert_eq!(v["datacontenttype"], "application/json");
        assert_eq!(v["data"]["revision"], 1);
        assert_eq!(e.routing_key(), "article.published");
        let r = Event::for_revision(&data(2));
        assert_eq!(
            (r.event_type.as_str(), r.routing_key()),
            (TYPE_REVISED, "article.revised")
        );
        assert_ne!(e.id, r.id);
    }
}
