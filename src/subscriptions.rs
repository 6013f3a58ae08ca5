//! Where the feeds the daemon polls come from, and the operator's `feeds` commands.
//!
//! Three sources, polled together without repeats: `feeds.urls` in the settings, the file named by
//! `feeds.file` (read-only to newswire: it may be a ConfigMap or a file under /etc), and the
//! `subscriptions` table of the state store, which `newswire feeds import` writes. Imported
//! feeds live in the state store because it is the one place newswire always may write (the
//! container's volume, systemd's StateDirectory), and they survive restarts and upgrades with
//! the rest of the state. The daemon reads them at start and on every reload (SIGHUP).

use chrono::Utc;
use url::Url;

use crate::config::{ConfigError, Settings};
use crate::opml::Outline;
use crate::store::{Store, StoreError};

/// Where a polled feed is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `feeds.urls`.
    Settings,
    /// The file named by `feeds.file`.
    File,
    /// Imported into the state store.
    Store,
}

impl Origin {
    pub fn label(self) -> &'static str {
        match self {
            Origin::Settings => "settings",
            Origin::File => "file",
            Origin::Store => "store",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subscribed {
    pub url: Url,
    pub title: Option<String>,
    pub origin: Origin,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubscriptionError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every feed to poll, settings first, then the feeds file, then the store; without repeats.
///
/// # Errors
/// An unreadable feeds file, or a state store that does not answer.
pub async fn all(settings: &Settings, store: &Store) -> Result<Vec<Subscribed>, SubscriptionError> {
    let mut out: Vec<Subscribed> = Vec::new();
    let inline: Vec<Url> = settings
        .feeds
        .urls
        .iter()
        .filter_map(|u| Url::parse(u).ok())
        .collect();
    for url in settings.feed_urls()? {
        let origin = if inline.contains(&url) {
            Origin::Settings
        } else {
            Origin::File
        };
        out.push(Subscribed {
            url,
            title: None,
            origin,
        });
    }
    for (url, title) in store.subscriptions().await? {
        let Ok(url) = Url::parse(&url) else { continue };
        if !out.iter().any(|s| s.url == url) {
            out.push(Subscribed {
                url,
                title,
                origin: Origin::Store,
            });
        }
    }
    Ok(out)
}

/// What an import did.
#[derive(Debug, Default, PartialEq)]
pub struct ImportReport {
    pub added: usize,
    /// Already subscribed in the store, or configured in the settings or feeds file.
    pub present: usize,
    /// Entries that are not feeds newswire can poll, with why (URL credentials masked).
    pub rejected: Vec<String>,
}

/// Adds `outlines` to the store's subscriptions.
///
/// # Errors
/// The state store cannot be written; what was added before stays added.
pub async fn import(
    settings: &Settings,
    store: &Store,
    outlines: &[Outline],
) -> Result<ImportReport, SubscriptionError> {
    let configured: Vec<Url> = settings.feed_urls()?;
    let mut report = ImportReport::default();
    for o in outlines {
        let url = match check_feed_url(&o.url) {
            Ok(u) => u,
            Err(why) => {
                report.rejected.push(why);
                continue;
            }
        };
        if configured.contains(&url)
            || !store
                .add_subscription(url.as_str(), o.title.as_deref(), Utc::now())
                .await?
        {
            report.present += 1;
        } else {
            report.added += 1;
        }
    }
    Ok(report)
}

/// An http(s) URL without credentials (the fetcher refuses those, and they must not reach logs).
///
/// # Errors
/// Why not, naming the URL with any credentials masked.
pub fn check_feed_url(raw: &str) -> Result<Url, String> {
    let shown = crate::config::mask_url(raw);
    let url = Url::parse(raw.trim()).map_err(|e| format!("{shown:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{shown:?}: scheme {:?} is not http or https",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{shown:?}: credentials in feed URLs are not supported"
        ));
    }
    Ok(url)
}

/// The feeds as OPML outlines, for `feeds export`.
pub fn outlines(feeds: &[Subscribed]) -> Vec<Outline> {
    feeds
        .iter()
        .map(|f| Outline {
            url: f.url.to_string(),
            title: f.title.clone(),
        })
        .collect()
}
