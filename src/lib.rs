//! newswire turns news feeds into a reliable stream of article events: it polls RSS, Atom and
//! JSON feeds, scrapes each linked article, tracks its revisions, and publishes CloudEvents to
//! RabbitMQ with publisher confirms (or prints them), never losing one.
//!
//! Layout, in the order data flows:
//! - [`config`]: settings, defaults, validation, environment overrides;
//! - [`fetch`] and [`charset`]: the HTTP client (limits, address guard, redirects, conditional
//!   GET) and decoding bodies to UTF-8;
//! - [`transport`]: live fetching or a WARC capture replayed on a virtual clock ([`warc`]);
//! - [`feed`]: a fetched feed → entries with stable ids; [`discover`]: a site's announced feeds;
//! - [`scrape`]: a page → [`extract`] (body, title, authors, language, canonical URL) and
//!   [`stamps`] (published, updated, revision notes), and the feed entry's authors and dates
//!   merged into it;
//! - [`track`]: article identity, fingerprints, revision decisions, what changed (the diff);
//! - [`store`]: durable state behind one seam (SQLite): feeds, entries, articles, page jobs,
//!   the outbox;
//! - [`event`]: the CloudEvents shape of a revision;
//! - [`publish`]: draining the outbox to RabbitMQ or stdout;
//! - [`schedule`]: when each feed is polled next (hints, adaptive interval, backoff) on a
//!   [`schedule::Clock`], and the politeness gate of each site;
//! - [`pipeline`]: the stages wired once: a poll queues page jobs, a page job fetches, extracts
//!   (on the [`cpu`] pool) and tracks;
//! - [`frontier`]: one scheduler per site running its feed polls and page jobs;
//! - [`websub`]: subscribing to hubs, verifying intents, taking pushed feed content;
//! - [`daemon`] and [`replay`]: the two drivers, live and on a capture's clock.
//!
//! Operations, beside the data flow:
//! - [`metrics`]: the registry the stages record into; [`server`]: `/metrics`, `/healthz`,
//!   `/readyz`;
//! - [`subscriptions`] and [`opml`]: where polled feeds come from, `feeds import/list/export`;
//! - [`telemetry`]: logs; [`progress`]: progress bars of long terminal commands;
//! - [`tail`]: `newswire tail`, a person's view of the event stream, diffs included;
//! - [`history`]: `newswire history`, an article's revisions from the state store;
//! - [`throttle`]: rate-limited failure logs, so a hostile feed cannot flood the log.

pub mod charset;
pub mod config;
pub mod cpu;
pub mod daemon;
pub mod discover;
pub mod event;
pub mod extract;
pub mod feed;
pub mod fetch;
pub mod frontier;
pub mod history;
pub mod metrics;
pub mod opml;
pub mod pipeline;
pub mod progress;
pub mod publish;
pub mod replay;
pub mod schedule;
pub mod scrape;
pub mod server;
pub mod stamps;
pub mod store;
pub mod subscriptions;
pub mod tail;
pub mod telemetry;
pub mod throttle;
pub mod track;
pub mod transport;
pub mod warc;
pub mod websub;
