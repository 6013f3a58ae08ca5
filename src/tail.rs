//! `newswire tail`: watch the event stream as a person. Binds a temporary queue (server-named,
//! exclusive, auto-delete: it vanishes with the connection and never holds messages another
//! consumer should get) to the exchange and prints each event as it arrives.
//!
//! It only reads: it declares the exchange as the publisher does (durable topic, so tailing a
//! fresh broker works) and nothing else durable.
//!
//! A revised event's `diff` (docs/events.md) is shown below it like `git diff --word-diff`:
//! `[-removed-]{+added+}` with a few words of context, coloured on a terminal, plain when piped.

use std::io::Write;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::config::AmqpSettings;
use crate::publish::redact;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TailError {
    #[error("broker at {url}: {reason}")]
    Broker { url: String, reason: String },
    #[error("timed out after {got} of {wanted} events")]
    Timeout { got: usize, wanted: usize },
    #[error("stdout: {0}")]
    Io(#[from] std::io::Error),
}

/// What to watch and when to stop.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// Routing-key pattern of the binding (`article.#`: every event).
    pub binding: String,
    /// Stop after this many events.
    pub count: Option<usize>,
    /// Stop after this long; an error if `count` was not reached.
    pub timeout: Option<Duration>,
    /// One structured CloudEvents JSON object a line instead of the readable form.
    pub json: bool,
    /// Colour the readable form's diff (stdout is a terminal).
    pub colour: bool,
}

/// Prints events until `count`, `timeout` or `stop`. `bound` is called once the queue is bound
/// (from then on no event is missed) with the exchange's name. Returns the events printed.
///
/// # Errors
/// The broker cannot be reached or refuses the binding; `timeout` passed before `count`.
pub async fn tail(
    amqp: &AmqpSettings,
    opts: &TailOptions,
    out: &mut (dyn Write + Send),
    bound: impl FnOnce(&str),
    stop: CancellationToken,
) -> Result<usize, TailError> {
    let url = redact(&amqp.url);
    let broker = |reason: String| TailError::Broker {
        url: url.clone(),
        reason,
    };
    let conn = tokio::time::timeout(
        Duration::from_secs(15),
        Connection::connect(
            &amqp.url,
            ConnectionProperties::default().with_connection_name("newswire tail".into()),
        ),
    )
    .await
    .map_err(|_| broker("connect timed out".into()))?
    .map_err(|e| broker(e.to_string()))?;
    let ch = conn
        .create_channel()
        .await
        .map_err(|e| broker(e.to_string()))?;
    ch.exchange_declare(
        amqp.exchange.as_str().into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .map_err(|e| broker(format!("exchange {:?}: {e}", amqp.exchange)))?;
    let queue = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| broker(format!("temporary queue: {e}")))?;
    let qname = queue.name().clone();
    ch.queue_bind(
        qname.clone(),
        amqp.exchange.as_str().into(),
        opts.binding.as_str().into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .map_err(|e| broker(format!("binding {:?}: {e}", opts.binding)))?;
    let mut consumer = ch
        .basic_consume(
            qname,
            "newswire-tail".into(),
            BasicConsumeOptions {
                no_ack: true,
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| broker(e.to_string()))?;
    bound(&amqp.exchange);

    let deadline = opts.timeout.map(|t| tokio::time::Instant::now() + t);
    let mut got = 0;
    let result = loop {
        if opts.count.is_some_and(|n| got >= n) {
            break Ok(got);
        }
        let next = tokio::select! {
            d = consumer.next() => d,
            _ = sleep_until(deadline) => {
                break match opts.count {
                    Some(wanted) => Err(TailError::Timeout { got, wanted }),
                    None => Ok(got),
                };
            }
            _ = stop.cancelled() => break Ok(got),
        };
        match next {
            Some(Ok(d)) => {
                let line = if opts.json {
                    structured(&d.properties, &d.data)
                } else {
                    readable(d.routing_key.as_str(), &d.properties, &d.data, opts.colour)
                };
                writeln!(out, "{line}")?;
                out.flush()?;
                got += 1;
            }
            Some(Err(e)) => break Err(broker(e.to_string())),
            None => break Err(broker("the broker closed the consumer".into())),
        }
    };
    let _ = conn.close(200, "tail done".into()).await;
    result
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn header(p: &BasicProperties, name: &str) -> Option<String> {
    match p.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

/// Two lines a person can scan: when, what, which revision, the title; then the URL and
/// what changed. A revision's diff follows, one indented line per change.
pub fn readable(routing_key: &str, p: &BasicProperties, body: &[u8], colour: bool) -> String {
    let data: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let time = header(p, "ce-time").unwrap_or_else(|| "-".into());
    let what = routing_key.strip_prefix("article.").unwrap_or(routing_key);
    let s = |k: &str| data[k].as_str().unwrap_or("").to_owned();
    let rev = data["revision"]
        .as_u64()
        .map_or_else(|| "r?".to_owned(), |r| format!("r{r}"));
    let changes: Vec<&str> = data["changes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut line = format!("{time}  {what:<9} {rev:<4} {}", s("title"));
    line.push_str(&format!("\n    {}", s("url")));
    if !changes.is_empty() {
        line.push_str(&format!("  changed: {}", changes.join(", ")));
    }
    if let Some(words) = data["word_count"].as_u64() {
        line.push_str(&format!("  ({words} words)"));
    }
    for l in diff_lines(&data["diff"], Marks { colour }) {
        line.push_str("\n      ");
        line.push_str(&l);
    }
    line
}

/// How removed and added text is marked: git's `--word-diff=plain` brackets, in red and green
/// on a terminal.
#[derive(Clone, Copy)]
struct Marks {
    colour: bool,
}

impl Marks {
    fn removed(self, t: &str) -> String {
        if t.is_empty() {
            String::new()
        } else if self.colour {
            format!("\x1b[31m[-{t}-]\x1b[0m")
        } else {
            format!("[-{t}-]")
        }
    }

    fn added(self, t: &str) -> String {
        if t.is_empty() {
            String::new()
        } else if self.colour {
            format!("\x1b[32m{{+{t}+}}\x1b[0m")
        } else {
            format!("{{+{t}+}}")
        }
    }

    fn change(self, before: &str, after: &str) -> String {
        format!("{}{}", self.removed(before), self.added(after))
    }
}

/// The readable lines of a `diff` object (none when there is none). Paragraphs are numbered
/// from 1, as a person counts them.
fn diff_lines(diff: &Value, m: Marks) -> Vec<String> {
    let mut out = Vec::new();
    if !diff.is_object() {
        return out;
    }
    let shown = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".to_owned(),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().unwrap_or("?"))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    for field in ["title", "authors", "published_at", "updated_at"] {
        let c = &diff[field];
        if c.is_object() {
            out.push(format!(
                "{field}: {}",
                m.change(&shown(&c["before"]), &shown(&c["after"]))
            ));
        }
    }
    let n = |v: &Value| v.as_u64().map_or(0, |i| i + 1);
    for e in diff["body"]["edits"].as_array().into_iter().flatten() {
        match e["op"].as_str() {
            Some("changed") => {
                let words: Vec<String> = e["words"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|w| {
                        let text = |k: &str| w[k].as_str().unwrap_or("");
                        let mut s = format!("…{} ", text("context_before"));
                        s.push_str(&m.change(text("removed"), text("added")));
                        s.push_str(&format!(" {}…", text("context_after")));
                        s
                    })
                    .collect();
                out.push(format!(
                    "paragraph {}: {}",
                    n(&e["after_index"]),
                    words.join("  ")
                ));
            }
            Some("added") => out.push(format!(
                "paragraph {} added: {}",
                n(&e["after_index"]),
                m.added(e["text"].as_str().unwrap_or(""))
            )),
            Some("removed") => out.push(format!(
                "paragraph {} removed: {}",
                n(&e["before_index"]),
                m.removed(e["text"].as_str().unwrap_or(""))
            )),
            _ => {}
        }
    }
    for (key, label) in [("added", "note added"), ("removed", "note removed")] {
        for note in diff["revision_notes"][key].as_array().into_iter().flatten() {
            let text = note["text"].as_str().unwrap_or("");
            let marked = if key == "added" {
                m.added(text)
            } else {
                m.removed(text)
            };
            out.push(format!("{label}: {marked}"));
        }
    }
    if diff["truncated"].as_bool() == Some(true) {
        out.push("(diff cut to its size limit)".to_owned());
    }
    out
}

/// The structured-mode CloudEvent rebuilt from the binary-mode message.
pub fn structured(p: &BasicProperties, body: &[u8]) -> String {
    let mut ev = serde_json::Map::new();
    for attr in ["specversion", "id", "type", "source", "subject", "time"] {
        if let Some(v) = header(p, &format!("ce-{attr}")) {
            ev.insert(attr.into(), Value::String(v));
        }
    }
    ev.insert(
        "datacontenttype".into(),
        Value::String("application/json".into()),
    );
    let data = serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    ev.insert("data".into(), data);
    Value::Object(ev).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::LongString;

    fn props() -> BasicProperties {
        let mut h = FieldTable::default();
        h.insert(
            "ce-time".into(),
            AMQPValue::LongString(LongString::from("2026-01-05T10:00:03Z")),
        );
        h.insert(
            "ce-type".into(),
            AMQPValue::LongString(LongString::from("newswire.article.revised")),
        );
        BasicProperties::default().with_headers(h)
    }

    #[test]
    fn readable_shows_time_kind_revision_title_url_and_changes() {
        let body = br#"{"title":"Ferry adds sailing","url":"http://harbor.test/a","revision":2,"changes":["body","title"],"word_count":120}"#;
        let text = readable("article.revised", &props(), body, false);
        assert_eq!(
            text,
            "2026-01-05T10:00:03Z  revised   r2   Ferry adds sailing\n    http://harbor.test/a  changed: body, title  (120 words)"
        );
    }

    #[test]
    fn a_diff_is_shown_word_diff_style_coloured_only_on_a_terminal() {
        let body = br#"{"title":"T","url":"http://harbor.test/a","revision":2,"changes":["title","body"],
            "diff":{"title":{"before":"Old","after":"New"},"body":{"edits":[
              {"op":"changed","before_index":0,"after_index":0,"words":[{"context_before":"injuring","removed":"17","added":"26","context_after":"people"}]},
              {"op":"removed","before_index":2,"text":"Gone."}]},"truncated":true}}"#;
        let plain = readable("article.revised", &props(), body, false);
        let lines: Vec<&str> = plain.lines().skip(2).collect();
        assert_eq!(
            lines,
            [
                "      title: [-Old-]{+New+}",
                "      paragraph 1: …injuring [-17-]{+26+} people…",
                "      paragraph 3 removed: [-Gone.-]",
                "      (diff cut to its size limit)",
            ]
        );
        let coloured = readable("article.revised", &props(), body, true);
        assert!(
            coloured.contains("\x1b[31m[-17-]\x1b[0m\x1b[32m{+26+}\x1b[0m"),
            "{coloured:?}"
        );
        assert!(!plain.contains('\x1b'));
    }

    #[test]
    fn structured_rebuilds_the_event() {
        let v: Value = serde_json::from_str(&structured(&props(), br#"{"revision":2}"#)).unwrap();
        assert_eq!(v["type"], "newswire.article.revised");
        assert_eq!(v["data"]["revision"], 2);
    }
}
