//! Politeness per site: every live fetch (feed polls, page scrapes and re-checks alike) passes a
//! gate per registrable domain (`news.example.co.uk` for `www.news.example.co.uk`, from the public
//! suffix list compiled into the `psl` crate; an IP address is its own site). The gate keeps at
//! most `per_site` requests in flight and starts them at least `spacing` apart. A 429 (or a 503
//! with `Retry-After`) from any host of a site holds every request to that site back for the
//! `Retry-After` time (else `slowdown`) and doubles its spacing (up to 64 times); each later
//! successful answer halves it back.
//!
//! Time is tokio's, so tests with a paused clock check spacing without waiting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The `[politeness]` settings.
#[derive(Debug, Clone)]
pub struct PolitenessSettings {
    pub per_site: usize,
    pub spacing: Duration,
    /// How long a site is held back after a 429 without `Retry-After`.
    pub slowdown: Duration,
}

/// The per-site gates. Shared by every fetch of the daemon.
pub struct Politeness {
    settings: PolitenessSettings,
    sites: Mutex<HashMap<String, Arc<Site>>>,
}

struct Site {
    slots: Arc<Semaphore>,
    state: Mutex<SiteState>,
}

struct SiteState {
    /// The earliest start of the next request.
    next_at: Instant,
    /// Spacing is multiplied by 2^penalty after 429s.
    penalty: u32,
    /// No request starts before this (set by a 429's `Retry-After`).
    hold_until: Instant,
}

/// Held while a request is in flight; dropping it frees the site's slot.
pub struct Pass {
    _permit: OwnedSemaphorePermit,
    /// How long the request waited at the gate.
    pub waited: Duration,
}

const MAX_PENALTY: u32 = 6;

/// The site a host belongs to: its registrable domain, or the host itself when it has none
/// (an IP address, `localhost`, a bare public suffix).
pub fn site_of(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return host;
    }
    match psl::domain_str(&host) {
        Some(d) => d.to_string(),
        None => host,
    }
}

impl Politeness {
    pub fn new(settings: PolitenessSettings) -> Self {
        Politeness {
            settings,
            sites: Mutex::new(HashMap::new()),
        }
    }

    fn site(&self, key: &str) -> Arc<Site> {
        let mut sites = self.sites.lock().expect("sites lock");
        sites
            .entry(key.to_string())
            .or_insert_with(|| {
                Arc::new(Site {
                    slots: Arc::new(Semaphore::new(self.settings.per_site.max(1))),
                    state: Mutex::new(SiteState {
                        next_at: Instant::now(),
                        penalty: 0,
                        hold_until: Instant::now(),
                    }),
                })
            })
            .clone()
    }

    fn spacing(&self, penalty: u32) -> Duration {
        if penalty == 0 {
            self.settings.spacing
        } else {
            self.settings
                .spacing
                .max(Duration::from_secs(1))
                .saturating_mul(1 << penalty)
        }
    }

    /// Waits for a slot and the site's spacing; the request may start when this returns.
    pub async fn enter(&self, host: &str) -> Pass {
        let started = Instant::now();
        let site = self.site(&site_of(host));
        let permit = site
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        loop {
            let start_at = {
                let mut st = site.state.lock().expect("site lock");
                let at = st.next_at.max(st.hold_until).max(Instant::now());
                st.next_at = at + self.spacing(st.penalty);
                at
            };
            tokio::time::sleep_until(start_at).await;
            // A 429 that arrived while we waited holds us back too.
            if site.state.lock().expect("site lock").hold_until <= Instant::now() {
                return Pass {
                    _permit: permit,
                    waited: started.elapsed(),
                };
            }
        }
    }

    /// Tells the gate how a request to `host` was answered.
    pub fn observe(&self, host: &str, status: u16, retry_after: Option<Duration>) {
        let key = site_of(host);
        let site = self.site(&key);
        let mut st = site.state.lock().expect("site lock");
        let throttled = status == 429 || (status == 503 && retry_after.is_some());
        if throttled {
            let hold = retry_after.unwrap_or(self.settings.slowdown);
            st.penalty = (st.penalty + 1).min(MAX_PENALTY);
            let until = Instant::now() + hold;
            st.hold_until = st.hold_until.max(until);
            st.next_at = st.next_at.max(until);
            tracing::warn!(site = %key, status, hold_secs = hold.as_secs(), spacing_ms = self.spacing(st.penalty).as_millis() as u64, "site asks us to slow down; holding back every fetch to it");
        } else if st.penalty > 0 && status < 500 {
            st.penalty -= 1;
            if st.penalty == 0 {
                tracing::info!(site = %key, "site no longer throttled; normal spacing again");
            }
        }
    }

    /// The spacing a site currently gets (for tests and logs).
    pub fn current_spacing(&self, host: &str) -> Duration {
        let site = self.site(&site_of(host));
        let st = site.state.lock().expect("site lock");
        self.spacing(st.penalty)
    }
}
