//! robots.txt for article pages (`politeness.robots`, off by default): fetched once per origin
//! and kept for a day, matched for our User-Agent's product token, else `*`. `Allow` and
//! `Disallow` with `*` and `$` patterns; the longest match wins, `Allow` on a tie (RFC 9309).
//! A robots.txt that is missing (4xx) allows everything; one that cannot be fetched (network
//! error, 5xx) allows too, and is asked again after an hour.
//!
//! At most [`MAX_ORIGINS`] answers are kept: when full, expired ones go, then those nearest
//! their expiry; an origin's fetch lock goes as soon as nobody waits on it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use url::Url;

use super::Fetched;
use crate::fetch::FetchError;

pub(super) struct Robots {
    /// Our product token, lower case (`newswire` for `newswire/0.1 (...)`).
    token: String,
    cache: Mutex<HashMap<String, (Instant, Rules)>>,
    /// One fetch of an origin's robots.txt at a time: concurrent pages wait for its answer.
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The rules of the group that applies to us: (allow, pattern).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Rules(Vec<(bool, String)>);

const KEEP: Duration = Duration::from_secs(86_400);
const KEEP_FAILED: Duration = Duration::from_secs(3600);
/// The most origins whose robots.txt is remembered.
pub(super) const MAX_ORIGINS: usize = 10_000;

impl Robots {
    pub(super) fn new(user_agent: &str) -> Self {
        let token = user_agent
            .split(['/', ' '])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        Robots {
            token,
            cache: Mutex::new(HashMap::new()),
            fetching: Mutex::new(HashMap::new()),
        }
    }

    pub(super) async fn allowed<F, Fut>(&self, url: &Url, fetch: F) -> bool
    where
        F: FnOnce(Url) -> Fut,
        Fut: Future<Output = Result<Fetched, FetchError>>,
    {
        let origin = url.origin().ascii_serialization();
        let lock = self
            .fetching
            .lock()
            .expect("robots lock")
            .entry(origin.clone())
            .or_default()
            .clone();
        let rules = {
            let _one_at_a_time = lock.lock().await;
            self.rules(url, &origin, fetch).await
        };
        {
            let mut fetching = self.fetching.lock().expect("robots lock");
            // The map's reference and ours: nobody else waits on this origin.
            if Arc::strong_count(&lock) == 2 {
                fetching.remove(&origin);
            }
        }
        let Some(rules) = rules else { return true };
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        rules.allows(&path)
    }

    /// The origin's rules, from the cache or fetched; `None` when no robots.txt URL can be made.
    async fn rules<F, Fut>(&self, url: &Url, origin: &str, fetch: F) -> Option<Rules>
    where
        F: FnOnce(Url) -> Fut,
        Fut: Future<Output = Result<Fetched, FetchError>>,
    {
        let cached = self
            .cache
            .lock()
            .expect("robots lock")
            .get(origin)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, r)| r.clone());
        if cached.is_some() {
            return cached;
        }
        let robots_url = url.join("/robots.txt").ok()?;
        let (rules, keep) = match fetch(robots_url).await {
            Ok(f) if f.response.status == 200 => (parse(&f.response.text(), &self.token), KEEP),
            Ok(f) if (400..500).contains(&f.response.status) => (Rules::default(), KEEP),
            _ => (Rules::default(), KEEP_FAILED),
        };
        let now = Instant::now();
        let mut cache = self.cache.lock().expect("robots lock");
        if cache.len() >= MAX_ORIGINS && !cache.contains_key(origin) {
            cache.retain(|_, (until, _)| *until > now);
            if cache.len() > MAX_ORIGINS / 2 {
                let mut ends: Vec<Instant> = cache.values().map(|(until, _)| *until).collect();
                let cut = ends.len() - MAX_ORIGINS / 2;
                let keep_from = *ends.select_nth_unstable(cut).1;
                cache.retain(|_, (until, _)| *until >= keep_from);
            }
        }
        cache.insert(origin.to_string(), (now + keep, rules.clone()));
        Some(rules)
    }

    /// Origins remembered, and fetch locks held (for tests).
    #[cfg(test)]
    fn kept(&self) -> (usize, usize) {
        (
            self.cache.lock().expect("robots lock").len(),
            self.fetching.lock().expect("robots lock").len(),
        )
    }
}

impl Rules {
    pub(super) fn allows(&self, path: &str) -> bool {
        let mut best: Option<(usize, bool)> = None;
        for (allow, pattern) in &self.0 {
            if matches(pattern, path) {
                let len = pattern.len();
                if best.is_none_or(|(l, a)| len > l || (len == l && *allow && !a)) {
                    best = Some((len, *allow));
                }
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }
}

/// The rules for `token` (else for `*`) from a robots.txt.
pub(super) fn parse(text: &str, token: &str) -> Rules {
    let mut ours = Vec::new();
    let mut star = Vec::new();
    let mut agents: Vec<String> = Vec::new();
    let mut in_rules = false;
    let mut found_ours = false;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
        match key.as_str() {
            "user-agent" => {
                if in_rules {
                    agents.clear();
                    in_rules = false;
                }
                agents.push(value.to_ascii_lowercase());
            }
            "allow" | "disallow" => {
                in_rules = true;
                if value.is_empty() {
                    continue; // "Disallow:" allows everything
                }
                let rule = (key == "allow", value.to_string());
                if !token.is_empty() && agents.iter().any(|a| a == token) {
                    found_ours = true;
                    ours.push(rule);
                } else if agents.iter().any(|a| a == "*") {
                    star.push(rule);
                }
            }
            _ => {}
        }
    }
    Rules(if found_ours { ours } else { star })
}

/// robots.txt path matching: a prefix match, `*` any run of characters, `$` the end.
fn matches(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            if !path.starts_with(part) {
                return false;
            }
            pos = part.len();
        } else if i == parts.len() - 1 && anchored {
            return path.len() >= pos + part.len() && path.ends_with(part);
        } else {
            match path[pos..].find(part) {
                Some(j) => pos += j + part.len(),
                None => return false,
            }
        }
    }
    !anchored || pos == path.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_group_else_star_longest_match_wins() {
        let txt = "User-agent: *\nDisallow: /private\n\nUser-agent: newswire\nUser-agent: other\nDisallow: /news/drafts\nAllow: /news/drafts/public\nDisallow: /*.pdf$\n";
        let ours = parse(txt, "newswire");
        assert!(ours.allows("/private/x"), "our group replaces *");
        assert!(!ours.allows("/news/drafts/1"));
        assert!(ours.allows("/news/drafts/public/2"));
        assert!(!ours.allows("/files/a.pdf"));
        assert!(ours.allows("/files/a.pdf?x=1"));
        let theirs = parse(txt, "somebot");
        assert!(!theirs.allows("/private/x"));
        assert!(theirs.allows("/news/drafts/1"));
        assert!(parse("User-agent: *\nDisallow:\n", "newswire").allows("/anything"));
        assert!(parse("", "newswire").allows("/"));
    }

    #[tokio::test]
    async fn a_hundred_thousand_origins_keep_the_cache_bounded() {
        let robots = Robots::new("newswire/0.1");
        let mut most = (0, 0);
        for i in 0..100_000 {
            let url = Url::parse(&format!("http://site{i}.test/a")).unwrap();
            let fetch =
                |_: Url| async { Err::<Fetched, _>(FetchError::Network("unreachable".into())) };
            assert!(robots.allowed(&url, fetch).await);
            let (cached, locks) = robots.kept();
            most = (most.0.max(cached), most.1.max(locks));
        }
        assert!(most.0 <= MAX_ORIGINS && most.1 <= 1, "{most:?}");
        // A recent answer is still used: no second fetch.
        let url = Url::parse("http://site99999.test/b").unwrap();
        let fetched = std::cell::Cell::new(false);
        let fetch = |_: Url| {
            fetched.set(true);
            async { Err::<Fetched, _>(FetchError::Timeout) }
        };
        assert!(robots.allowed(&url, fetch).await);
        assert!(!fetched.get(), "fetched again");
    }
}
