//! newswire turns news feeds into a reliable stream of article events: it polls RSS, Atom and
//! JSON feeds, scrapes each linked article, tracks its revisions, and publishes CloudEvents to
//! RabbitMQ with publisher confirms (or prints them), never losing one.
//!
//! Layout, in the order data flows:
//! - [`config`]: settings, defaults, validation, environment overrides;
//! - [`fetch`] and [`charset`]: the HTTP client (limits, address guard, redirects, conditional
//!   GET) and decoding bodies to UTF-8;
//! - [`transport`]: live fetching or a WARC capture replayed on a virtual clock ([`warc`]);
//! - [`feed`]: a fetched feed → entries with stable ids;
//! - [`scrape`]: a page → [`extract`] (body, title, authors, language, canonical URL) and
//!   [`stamps`] (published, updated, revision notes);
//! - [`track`]: article identity, fingerprints, revision decisions;
//! - [`store`]: durable state and the outbox (SQLite);
//! - [`event`]: the CloudEvents shape of a revision;
//! - [`publish`]: draining the outbox to RabbitMQ or stdout;
//! - [`app`]: the pipeline and its drivers, the daemon (`run`) and `replay`;
//! - [`throttle`]: rate-limited failure logs, so a hostile feed cannot flood the log.

pub mod app;
pub mod charset;
pub mod config;
pub mod event;
pub mod extract;
pub mod feed;
pub mod fetch;
pub mod publish;
pub mod scrape;
pub mod stamps;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod track;
pub mod transport;
pub mod warc;
