//! `newswire history URL|ARTICLE_ID`: an article's revisions from the state store, with when
//! each was fetched and what changed (docs/cli.md).
//!
//! Every revision the store assigned is listed with its event id; when and what changed come
//! from the article's log of its latest revisions (`track::LOG_LIMIT`), so a revision older
//! than the log, or recorded by a newswire before the log existed, shows its id only.

use serde::Serialize;
use url::Url;

use crate::store::{Store, StoreError};
use crate::track;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    #[error("{0:?} is neither an article id nor an http(s) URL")]
    BadKey(String),
    #[error("no article {0} in the state store")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One revision as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Revision {
    pub article_id: String,
    pub revision: u32,
    pub event_id: String,
    /// `None` for a revision older than the article's log.
    pub fetched_at: Option<String>,
    pub changes: Option<Vec<String>>,
    pub summary: Option<String>,
}

/// An article's revisions, oldest first, and its current title.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    pub article_id: String,
    pub title: String,
    pub revisions: Vec<Revision>,
}

/// The article `key` names: an article id, or a URL whose normalised form is its canonical URL.
///
/// # Errors
/// `key` is neither; the URL gives an id the store does not know.
pub fn article_id(key: &str) -> Result<String, HistoryError> {
    if let Ok(id) = uuid::Uuid::parse_str(key) {
        return Ok(id.to_string());
    }
    match Url::parse(key) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(track::article_id(&u)),
        _ => Err(HistoryError::BadKey(key.to_string())),
    }
}

/// Reads the history of the article `key` names.
///
/// # Errors
/// As [`article_id`]; the article is not in the store; the store cannot be read.
pub async fn history(store: &Store, key: &str) -> Result<History, HistoryError> {
    let id = article_id(key)?;
    let Some(row) = store.article(&id).await? else {
        return Err(HistoryError::NotFound(key.to_string()));
    };
    let revisions = store
        .revisions(&id)
        .await?
        .into_iter()
        .map(|(revision, event_id)| {
            let log = row.state.log.iter().find(|l| l.revision == revision);
            Revision {
                article_id: id.clone(),
                revision,
                event_id,
                fetched_at: log.map(|l| l.fetched_at.clone()),
                changes: log.map(|l| l.changes.clone()),
                summary: log.map(|l| l.summary.clone()),
            }
        })
        .collect();
    Ok(History {
        article_id: id,
        title: row.state.current.title.clone(),
        revisions,
    })
}

impl History {
    /// The readable form: a heading line, then one line per revision.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!("article {}  {}", self.article_id, self.title)];
        for r in &self.revisions {
            let when = r.fetched_at.as_deref().unwrap_or("-");
            let what = match (&r.summary, r.revision) {
                (_, 1) => "published".to_string(),
                (Some(s), _) if !s.is_empty() => format!("revised   {s}"),
                (_, _) => match &r.changes {
                    Some(c) => format!("revised   {}", c.join(", ")),
                    None => "revised   (details not kept)".to_string(),
                },
            };
            out.push(format!("r{:<3} {when:<20}  {what}", r.revision));
        }
        out
    }
}
