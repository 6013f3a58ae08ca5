//! Settings: `config/default.toml` (compiled in), then an optional file, then
//! `NEWSWIRE__SECTION__KEY` environment variables, each layer overriding the one before.
//!
//! Guarantees: every setting has a documented default; an unknown key or a bad value stops
//! start-up with one line naming the key (`poll.interval: invalid duration "five minutes": expected number at 0`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::extract::SiteRule;
use crate::fetch::FetchSettings;

/// The shipped defaults; also the documentation of every setting.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Prefix of environment overrides: `NEWSWIRE__AMQP__URL` sets `amqp.url`.
const ENV_PREFIX: &str = "NEWSWIRE__";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub amqp: AmqpSettings,
    pub state: StateSettings,
    pub feeds: FeedsSettings,
    pub poll: PollSettings,
    pub scrape: ScrapeSettings,
    pub fetch: FetchSection,
    pub publish: PublishSettings,
    pub politeness: PolitenessSection,
    pub websub: WebSubSettings,
    pub record: RecordSettings,
    pub shutdown: ShutdownSettings,
    pub log: LogSettings,
    pub server: ServerSettings,
    #[serde(default)]
    pub sites: BTreeMap<String, SiteSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpSettings {
    pub url: String,
    pub exchange: String,
    pub queue: String,
    pub queue_type: QueueType,
    pub window: usize,
    pub confirm_timeout: Dur,
    pub connect_timeout: Dur,
    pub retry_min: Dur,
    pub retry_max: Dur,
    pub heartbeat: Dur,
    pub stream: String,
    pub stream_max_age: String,
    pub dead_letter_exchange: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    Quorum,
    Classic,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSettings {
    pub path: PathBuf,
    /// PostgreSQL, shared by several replicas; empty: SQLite at `path`.
    pub url: String,
    /// How long a replica's lease on a site, or on the outbox relay, lasts.
    pub lease: Dur,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedsSettings {
    pub urls: Vec<String>,
    pub file: String,
    pub watch: Dur,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollSettings {
    pub interval: Dur,
    pub min_interval: Dur,
    pub max_interval: Dur,
    pub adaptive: bool,
    pub jitter: f64,
    pub concurrency: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolitenessSection {
    pub per_site: usize,
    pub spacing: Dur,
    pub slowdown: Dur,
    pub robots: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSubSettings {
    pub callback_url: String,
    pub listen: String,
    pub lease: Dur,
    pub poll_interval: Dur,
}

impl WebSubSettings {
    pub fn enabled(&self) -> bool {
        !self.callback_url.is_empty()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordSettings {
    pub dir: String,
    pub max_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeSettings {
    pub concurrency: usize,
    /// `(while changed within, check every)` steps of the decaying re-check schedule.
    pub recheck: Vec<(Dur, Dur)>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchSection {
    pub connect_timeout: Dur,
    pub timeout: Dur,
    pub max_feed_bytes: u64,
    pub max_page_bytes: u64,
    pub max_redirects: usize,
    pub allow: Vec<String>,
    pub user_agent: String,
}

impl FetchSection {
    pub fn to_fetch_settings(&self) -> FetchSettings {
        FetchSettings {
            connect_timeout: self.connect_timeout.0,
            timeout: self.timeout.0,
            max_feed_bytes: self.max_feed_bytes,
            max_page_bytes: self.max_page_bytes,
            max_redirects: self.max_redirects,
            allow: self.allow.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    Amqp,
    Stdout,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishSettings {
    pub sink: SinkKind,
    pub outbox_limit: u64,
    /// Refusals by the broker (nack, unroutable) after which an event moves to the dead letters.
    pub max_attempts: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownSettings {
    pub drain: Dur,
    pub flush: Dur,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: String,
}

/// Rules for one site: extraction overrides and the zone of stamps that state none.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSettings {
    #[serde(default)]
    pub body: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
    #[serde(default)]
    pub zone: Option<String>,
}

impl Settings {
    /// The schedule's view of `[poll]` and `[websub]`.
    pub fn schedule_policy(&self) -> crate::schedule::Policy {
        crate::schedule::Policy {
            interval: self.poll.interval.0,
            min_interval: self.poll.min_interval.0,
            max_interval: self.poll.max_interval.0,
            jitter: self.poll.jitter,
            adaptive: self.poll.adaptive,
            websub_interval: self.websub.poll_interval.0,
        }
    }

    pub fn politeness_settings(&self) -> crate::schedule::politeness::PolitenessSettings {
        crate::schedule::politeness::PolitenessSettings {
            per_site: self.politeness.per_site,
            spacing: self.politeness.spacing.0,
            slowdown: self.politeness.slowdown.0,
        }
    }
}

impl SiteSettings {
    pub fn rule(&self) -> SiteRule {
        SiteRule {
            body: self.body.clone(),
            remove: self.remove.clone(),
        }
    }
}

/// A configuration error: one line that names the key or the file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl Settings {
    /// Defaults, then `file`, then the process environment.
    ///
    /// # Errors
    /// An unreadable file, bad TOML, an unknown key or an invalid value.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// As [`Settings::load`], with the environment given (tests pass their own).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Ok(Self::load_both(file, env)?.0)
    }

    /// The effective settings as TOML, secrets masked (`newswire check-config`): the defaults,
    /// file and environment merged, after the same validation as [`Settings::load`].
    ///
    /// # Errors
    /// As [`Settings::load`], and an unreadable feeds file.
    pub fn effective_toml(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<String, ConfigError> {
        let (settings, mut table) = Self::load_both(file, env)?;
        settings.feed_urls()?;
        mask_table(&mut table, "");
        toml::to_string(&table).map_err(|e| ConfigError(format!("rendering settings: {e}")))
    }

    /// The settings and the merged table they were read from.
    fn load_both(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Self, toml::Table), ConfigError> {
        let mut table: toml::Table = DEFAULT_TOML
            .parse()
            .map_err(|e| ConfigError(format!("built-in defaults: {e}")))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
            let overlay: toml::Table = text.parse().map_err(|e: toml::de::Error| {
                ConfigError(format!("{}: {}", path.display(), one_line(&e.to_string())))
            })?;
            merge(&mut table, overlay);
        }
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let keys: Vec<String> = rest.split("__").map(|k| k.to_ascii_lowercase()).collect();
            if keys.iter().any(|k| k.is_empty()) {
                return Err(ConfigError(format!(
                    "{name}: expected NEWSWIRE__SECTION__KEY"
                )));
            }
            set_path(&mut table, &keys, env_value(&value));
        }
        let settings: Settings =
            serde_path_to_error::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
                ConfigError(format!(
                    "{}: {}",
                    e.path(),
                    one_line(&e.inner().to_string())
                ))
            })?;
        settings.validate()?;
        Ok((settings, table))
    }

    /// Checks that serde's types cannot express.
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| Err(ConfigError(format!("{key}: {why}")));
        if !self.server.listen.is_empty()
            && self.server.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return bad(
                "server.listen",
                format!(
                    "{:?} is not an address and port such as \"127.0.0.1:9090\"",
                    self.server.listen
                ),
            );
        }
        if !self.state.url.is_empty() {
            match url::Url::parse(&self.state.url) {
                Ok(u) if matches!(u.scheme(), "postgres" | "postgresql") => {}
                Ok(u) => {
                    return bad(
                        "state.url",
                        format!("scheme {:?} is not postgres or postgresql", u.scheme()),
                    );
                }
                Err(e) => return bad("state.url", e.to_string()),
            }
        }
        if self.state.lease.0 < std::time::Duration::from_secs(1) {
            return bad("state.lease", "must be at least 1s".into());
        }
        match url::Url::parse(&self.amqp.url) {
            Ok(u) if matches!(u.scheme(), "amqp" | "amqps") => {}
            Ok(u) => {
                return bad(
                    "amqp.url",
                    format!("scheme {:?} is not amqp or amqps", u.scheme()),
                );
            }
            Err(e) => return bad("amqp.url", e.to_string()),
        }
        if self.amqp.exchange.is_empty() {
            return bad("amqp.exchange", "must not be empty".into());
        }
        if self.amqp.window == 0 {
            return bad("amqp.window", "must be at least 1".into());
        }
        if self.amqp.confirm_timeout.0.is_zero() || self.amqp.connect_timeout.0.is_zero() {
            return bad(
                "amqp.confirm_timeout",
                "confirm_timeout and connect_timeout must be longer than 0".into(),
            );
        }
        if self.amqp.heartbeat.0 < Duration::from_secs(1) {
            return bad("amqp.heartbeat", "must be at least 1s".into());
        }
        if !self.amqp.stream.is_empty() && self.amqp.stream == self.amqp.queue {
            return bad(
                "amqp.stream",
                format!(
                    "{:?} is also amqp.queue; a stream needs its own name",
                    self.amqp.stream
                ),
            );
        }
        if !valid_max_age(&self.amqp.stream_max_age) {
            return bad(
                "amqp.stream_max_age",
                format!(
                    "{:?} is not a RabbitMQ age such as \"7D\", \"12h\" (units Y, M, D, h, m, s)",
                    self.amqp.stream_max_age
                ),
            );
        }
        if !self.amqp.dead_letter_exchange.is_empty()
            && self.amqp.dead_letter_exchange == self.amqp.exchange
        {
            return bad(
                "amqp.dead_letter_exchange",
                "must differ from amqp.exchange".into(),
            );
        }
        if self.publish.max_attempts == 0 {
            return bad("publish.max_attempts", "must be at least 1".into());
        }
        if self.amqp.retry_min.0 > self.amqp.retry_max.0 {
            return bad("amqp.retry_min", "is longer than amqp.retry_max".into());
        }
        for (i, feed) in self.feeds.urls.iter().enumerate() {
            if let Err(why) = check_http_url(feed) {
                return bad(&format!("feeds.urls[{i}]"), why);
            }
        }
        if self.poll.interval.0 < Duration::from_millis(10) {
            return bad("poll.interval", "must be at least 10ms".into());
        }
        if !(0.0..=1.0).contains(&self.poll.jitter) {
            return bad(
                "poll.jitter",
                format!("{} is not between 0 and 1", self.poll.jitter),
            );
        }
        if self.poll.concurrency == 0 {
            return bad("poll.concurrency", "must be at least 1".into());
        }
        if self.poll.min_interval.0 > self.poll.max_interval.0 {
            return bad(
                "poll.min_interval",
                "is longer than poll.max_interval".into(),
            );
        }
        if self.politeness.per_site == 0 {
            return bad("politeness.per_site", "must be at least 1".into());
        }
        if self.websub.enabled() {
            if let Err(why) = check_http_url(&self.websub.callback_url) {
                return bad("websub.callback_url", why);
            }
            if self.websub.listen.parse::<std::net::SocketAddr>().is_err() {
                return bad(
                    "websub.listen",
                    format!(
                        "{:?} is not an address such as \"0.0.0.0:8090\"",
                        self.websub.listen
                    ),
                );
            }
        }
        if self.record.max_bytes == 0 {
            return bad("record.max_bytes", "must be greater than zero".into());
        }
        if self.scrape.concurrency == 0 {
            return bad("scrape.concurrency", "must be at least 1".into());
        }
        if let Err(why) = self.fetch.to_fetch_settings().validate() {
            return Err(ConfigError(why));
        }
        for (site, rules) in &self.sites {
            if let Err(why) = crate::extract::validate_rule(&rules.rule()) {
                return bad(&format!("sites.{site:?}"), why);
            }
            if let Some(zone) = &rules.zone
                && let Err(why) = crate::stamps::validate_zone(zone)
            {
                return bad(&format!("sites.{site:?}.zone"), why);
            }
        }
        Ok(())
    }

    /// The rules for a host: the most specific `sites` key that is the host or a parent domain.
    pub fn site(&self, host: &str) -> Option<&SiteSettings> {
        let host = host.trim_start_matches("www.");
        let mut candidate = host;
        loop {
            if let Some(rules) = self.sites.get(candidate) {
                return Some(rules);
            }
            candidate = candidate.split_once('.')?.1;
        }
    }

    /// Every feed to poll: inline ones, then those of `feeds.file`, without repeats.
    ///
    /// # Errors
    /// An unreadable feeds file or a line in it that is not an http(s) URL.
    pub fn feed_urls(&self) -> Result<Vec<url::Url>, ConfigError> {
        let mut urls: Vec<String> = self.feeds.urls.clone();
        if !self.feeds.file.is_empty() {
            let path = Path::new(&self.feeds.file);
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("feeds.file: {}: {e}", path.display())))?;
            urls.extend(
                crate::feed::parse_feed_list(&text)
                    .map_err(|e| ConfigError(format!("feeds.file: {}", mask_url(&e))))?,
            );
        }
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for u in urls {
            let parsed = crate::subscriptions::check_feed_url(&u)
                .map_err(|e| ConfigError(format!("feed {e}")))?;
            if seen.insert(parsed.clone()) {
                out.push(parsed);
            }
        }
        Ok(out)
    }
}

fn check_http_url(s: &str) -> Result<(), String> {
    crate::subscriptions::check_feed_url(s).map(drop)
}

/// `s` with the password of any `scheme://user:password@` in it replaced by `***`; works on
/// text that is not a valid URL too, so error messages can show what they quote.
pub fn mask_url(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let authority_end = tail
            .find(['/', '?', '#', ' ', '"', '\'', '\n'])
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let user = authority[..at].split(':').next().unwrap_or("");
                out.push_str(user);
                out.push_str(":***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

/// Key names whose values are secrets wherever they appear.
const SECRET_KEYS: &[&str] = &["password", "secret", "token"];

/// Masks secrets in a settings table: credentials in every URL-looking string, and whole values
/// of keys named like secrets.
fn mask_table(table: &mut toml::Table, path: &str) {
    for (key, value) in table.iter_mut() {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        if SECRET_KEYS
            .iter()
            .any(|k| key.to_ascii_lowercase().contains(k))
        {
            *value = toml::Value::String("***".into());
            continue;
        }
        mask_value(value, &here);
    }
}

fn mask_value(value: &mut toml::Value, path: &str) {
    match value {
        toml::Value::String(s) => *s = mask_url(s),
        toml::Value::Array(a) => a.iter_mut().for_each(|v| mask_value(v, path)),
        toml::Value::Table(t) => mask_table(t, path),
        _ => {}
    }
}

/// A stream retention age as RabbitMQ reads `x-max-age`: digits and one unit of Y, M, D, h, m, s.
fn valid_max_age(s: &str) -> bool {
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    !num.is_empty()
        && num.bytes().all(|b| b.is_ascii_digit())
        && matches!(unit, "Y" | "M" | "D" | "h" | "m" | "s")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Deep merge: tables merge key by key, anything else is replaced.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) {
    let (last, parents) = keys.split_last().expect("at least one key");
    let mut cur = table;
    for k in parents {
        let entry = cur
            .entry(k.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        cur = entry.as_table_mut().expect("just made a table");
    }
    cur.insert(last.clone(), value);
}

/// An environment value as TOML when it reads as a number, boolean or array; else a string.
fn env_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
    {
        Some(
            v @ (toml::Value::Integer(_)
            | toml::Value::Float(_)
            | toml::Value::Boolean(_)
            | toml::Value::Array(_)),
        ) => v,
        _ => toml::Value::String(raw.to_string()),
    }
}

/// A duration as `humantime` reads it: `"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"7d"`, `"1h 30m"`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

/// The longest duration a setting takes: timers add durations to the clock, and a sum past its
/// range would panic.
const MAX_DUR: Duration = Duration::from_secs(3650 * 86_400);

impl fmt::Debug for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::str::FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let d = humantime::parse_duration(s.trim())
            .map_err(|e| format!("invalid duration {s:?}: {e}"))?;
        if d > MAX_DUR {
            return Err(format!("duration {s:?} is longer than the 3650d allowed"));
        }
        Ok(Dur(d))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file_text: Option<&str>, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let dir = tempdir();
        let path = dir.join("c.toml");
        if let Some(t) = file_text {
            std::fs::write(&path, t).unwrap();
        }
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Settings::load_with_env(file_text.map(|_| path.as_path()), env)
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "newswire-config-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn defaults_load_and_list_real_feeds() {
        let s = load(None, &[]).unwrap();
        assert_eq!(s.amqp.url, "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(s.poll.interval.0, Duration::from_secs(300));
        assert!(s.feeds.urls.len() >= 3);
        assert!(
            s.fetch.allow.is_empty(),
            "non-public addresses are refused by default"
        );
    }

    #[test]
    fn file_then_env_override() {
        let s = load(
            Some("[poll]\ninterval = \"60s\"\n[amqp]\nexchange = \"from-file\"\n"),
            &[
                ("NEWSWIRE__AMQP__EXCHANGE", "from-env"),
                ("NEWSWIRE__FETCH__ALLOW", "[\"127.0.0.1/8\"]"),
            ],
        )
        .unwrap();
        assert_eq!(s.poll.interval.0, Duration::from_secs(60));
        assert_eq!(s.amqp.exchange, "from-env");
        assert_eq!(s.fetch.allow, vec!["127.0.0.1/8".to_string()]);
    }

    #[test]
    fn errors_name_the_key_on_one_line() {
        let e = load(None, &[("NEWSWIRE__POLL__INTERVAL", "five minutes")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("poll.interval: invalid duration"), "{e}");
        let e = load(Some("[poll]\nintervall = \"5m\"\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("intervall"), "{e}");
        let e = load(None, &[("NEWSWIRE__AMQP__URL", "http://x")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("amqp.url:"), "{e}");
        let e = load(None, &[("NEWSWIRE__AMQP__WINDOW", "lots")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("amqp.window:"), "{e}");
        let e = load(None, &[("NEWSWIRE__AMQP__STREAM_MAX_AGE", "7 days")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("amqp.stream_max_age:"), "{e}");
        let e = load(None, &[("NEWSWIRE__AMQP__STREAM", "newswire.articles")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("amqp.stream:"), "{e}");
        let e = load(Some("[amqp]\nstream_max_age_days = 3\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("stream_max_age_days"), "{e}");
        let e = load(None, &[("NEWSWIRE__FEEDS__URLS", "[\"ftp://x/feed\"]")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("feeds.urls[0]:"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn effective_settings_mask_every_secret() {
        let env = [
            (
                "NEWSWIRE__AMQP__URL".to_string(),
                "amqps://newswire:s3cr%40t@broker.internal:5671/prod".to_string(),
            ),
            (
                "NEWSWIRE__FEEDS__URLS".to_string(),
                "[\"https://feeds.example/rss\"]".to_string(),
            ),
            (
                "NEWSWIRE__SERVER__LISTEN".to_string(),
                "0.0.0.0:9090".to_string(),
            ),
        ];
        let text = Settings::effective_toml(None, env).unwrap();
        assert!(!text.contains("s3cr"), "{text}");
        assert!(
            text.contains("amqps://newswire:***@broker.internal:5671/prod"),
            "{text}"
        );
        assert!(text.contains("listen = \"0.0.0.0:9090\""), "{text}");
        // What is printed loads back as the same settings.
        let back: toml::Table = text.parse().unwrap();
        assert_eq!(back["poll"]["interval"].as_str(), Some("5m"));
        assert_eq!(
            mask_url("x amqp://u:p@h/ and http://h/a@b"),
            "x amqp://u:***@h/ and http://h/a@b"
        );
        assert_eq!(mask_url("no url"), "no url");
    }

    #[test]
    fn feed_urls_with_credentials_are_refused_without_showing_them() {
        let e = load(
            None,
            &[(
                "NEWSWIRE__FEEDS__URLS",
                "[\"https://me:hunter2@feeds.example/rss\"]",
            )],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("feeds.urls[0]:") && e.contains("credentials") && !e.contains("hunter2"),
            "{e}"
        );
        let e = load(None, &[("NEWSWIRE__SERVER__LISTEN", "9090")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("server.listen:"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(
            "500ms".parse::<Dur>().unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!("2h".parse::<Dur>().unwrap().0, Duration::from_secs(7200));
        assert_eq!(
            "1s 500ms".parse::<Dur>().unwrap().0,
            Duration::from_millis(1500)
        );
        assert_eq!(
            "7d".parse::<Dur>().unwrap().0,
            Duration::from_secs(7 * 86400)
        );
        assert!("5".parse::<Dur>().is_err());
        assert!("-1s".parse::<Dur>().is_err());
        assert!("3651d".parse::<Dur>().is_err());
    }

    #[test]
    fn oversized_durations_are_one_line_errors_not_panics() {
        for huge in ["300000000000000d", "30000000000d", "18446744073709551616s"] {
            let e = load(None, &[("NEWSWIRE__POLL__INTERVAL", huge)])
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("poll.interval: "), "{e}");
            assert!(e.contains(huge) && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn site_rules_match_subdomains() {
        let s = load(Some("[sites.\"example.com\"]\nzone = \"+09:00\"\n"), &[]).unwrap();
        assert!(s.site("news.example.com").is_some());
        assert!(s.site("www.example.com").is_some());
        assert!(s.site("example.org").is_none());
    }
}
