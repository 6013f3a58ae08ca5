//! Politeness per site: every live fetch (feed polls, page jobs and re-checks alike) passes a
//! [`Gate`] per registrable domain (`news.example.co.uk` for `www.news.example.co.uk`, from the
//! public suffix list compiled into the `psl` crate; an IP address is its own site). A gate keeps
//! at most `per_site` requests in flight and starts them at least `spacing` apart. A 429 (or a
//! 503 with `Retry-After`) from any host of a site holds every request to that site back for the
//! `Retry-After` time (else `slowdown`) and doubles its spacing (up to 64 times); each later
//! successful answer halves it back.
//!
//! The site's scheduler is the only one that starts requests at its gate: it takes an in-flight
//! slot, waits until [`Gate::ready_at`], and claims the start with [`Gate::try_start`], so
//! nothing else waits there. A second request inside one job (robots.txt before its page) waits
//! its turn with [`Gate::wait_turn`].
//!
//! Gates are kept only while they remember something: one in use (a scheduler or a request
//! holds it), holding back, or penalised within the last [`FORGET_PENALTY`]. The rest are
//! identical to a new gate and are dropped when the map has doubled since its last sweep, so
//! the map stays bounded by the sites in play, not by every site ever fetched.
//!
//! Time is tokio's, so tests with a paused clock check spacing without waiting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The `[politeness]` settings.
#[derive(Debug, Clone)]
pub struct PolitenessSettings {
    pub per_site: usize,
    pub spacing: Duration,
    /// How long a site is held back after a 429 without `Retry-After`.
    pub slowdown: Duration,
}

/// The gates of every site seen. Shared by every fetch of the daemon.
pub struct Politeness {
    settings: PolitenessSettings,
    sites: Mutex<Gates>,
}

struct Gates {
    by_site: HashMap<String, Arc<Gate>>,
    /// Sweep when the map reaches this size (double what the last sweep left), so sweeping
    /// costs O(1) per new gate.
    sweep_at: usize,
}

/// A map this small is never swept.
const SWEEP_FLOOR: usize = 1024;
/// A penalty (doubled spacing after 429s) is forgotten this long after the site's last start.
pub const FORGET_PENALTY: Duration = Duration::from_secs(3600);

/// One site's gate.
pub struct Gate {
    slots: Arc<Semaphore>,
    spacing: Duration,
    state: Mutex<GateState>,
}

struct GateState {
    /// The earliest start of the next request.
    next_at: Instant,
    /// Spacing is multiplied by 2^penalty after 429s.
    penalty: u32,
    /// No request starts before this (set by a 429's `Retry-After`).
    hold_until: Instant,
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

/// The site of a URL's host (an unreadable URL has the empty site).
pub fn site_of_url(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .map(|u| site_of(u.host_str().unwrap_or_default()))
        .unwrap_or_default()
}

impl Gate {
    /// Nothing here differs from a new gate (or is about to): no request in flight, no hold,
    /// the next start already allowed, no penalty younger than [`FORGET_PENALTY`].
    fn forgettable(&self, per_site: usize, now: Instant) -> bool {
        let st = self.state.lock().expect("gate lock");
        let free = st.next_at.max(st.hold_until);
        self.slots.available_permits() >= per_site
            && free <= now
            && (st.penalty == 0 || free + FORGET_PENALTY <= now)
    }

    /// The site's in-flight slots: a request holds one until its response has arrived.
    pub fn slots(&self) -> &Arc<Semaphore> {
        &self.slots
    }

    /// The spacing the site gets now (doubled per 429 penalty).
    pub fn spacing(&self) -> Duration {
        spacing(self.spacing, self.state.lock().expect("gate lock").penalty)
    }

    /// Whether a 429's hold is in force.
    pub fn holding(&self) -> bool {
        self.state.lock().expect("gate lock").hold_until > Instant::now()
    }

    /// When the next request may start.
    pub fn ready_at(&self) -> Instant {
        let st = self.state.lock().expect("gate lock");
        st.next_at.max(st.hold_until)
    }

    /// Claims a start now if the gate is open, pushing the next start a spacing later.
    pub fn try_start(&self) -> bool {
        let now = Instant::now();
        let mut st = self.state.lock().expect("gate lock");
        if st.next_at.max(st.hold_until) > now {
            return false;
        }
        st.next_at = now + spacing(self.spacing, st.penalty);
        true
    }

    /// The request a [`Gate::try_start`] claimed at `claimed` is going out now. Its task may
    /// have started a little late (a busy machine), so the next start moves to a spacing after
    /// this moment. A spacing late or more (the process was frozen, say), another start may have
    /// been claimed meanwhile, so this one waits for a turn of its own.
    pub async fn started(&self, claimed: Instant) {
        {
            let mut st = self.state.lock().expect("gate lock");
            let (now, gap) = (Instant::now(), spacing(self.spacing, st.penalty));
            if now < claimed + gap {
                st.next_at = st.next_at.max(now + gap);
                return;
            }
        }
        self.wait_turn().await;
    }

    /// Waits for the next start and claims it, for one more request of a job that already holds
    /// an in-flight slot. Returns how long it waited.
    pub async fn wait_turn(&self) -> Duration {
        let started = Instant::now();
        loop {
            let start_at = {
                let mut st = self.state.lock().expect("gate lock");
                let at = st.next_at.max(st.hold_until).max(Instant::now());
                st.next_at = at + spacing(self.spacing, st.penalty);
                at
            };
            tokio::time::sleep_until(start_at).await;
            // A 429 that arrived while we waited holds us back too.
            if self.state.lock().expect("gate lock").hold_until <= Instant::now() {
                return started.elapsed();
            }
        }
    }

    /// The state a site's row carries between replicas: the next start, the hold, the penalty.
    pub fn snapshot(&self) -> (Instant, Instant, u32) {
        let st = self.state.lock().expect("gate lock");
        (st.next_at, st.hold_until, st.penalty)
    }

    /// Takes over the state another replica left (never starting sooner than it would have).
    pub fn restore(&self, next_at: Instant, hold_until: Instant, penalty: u32) {
        let mut st = self.state.lock().expect("gate lock");
        st.next_at = st.next_at.max(next_at);
        st.hold_until = st.hold_until.max(hold_until);
        st.penalty = st.penalty.max(penalty.min(MAX_PENALTY));
    }

    /// Tells the gate how a request was answered. Returns the hold a throttling answer set.
    fn observe(
        &self,
        status: u16,
        retry_after: Option<Duration>,
        slowdown: Duration,
    ) -> Option<Duration> {
        let mut st = self.state.lock().expect("gate lock");
        let throttled = status == 429 || (status == 503 && retry_after.is_some());
        if throttled {
            let hold = retry_after.unwrap_or(slowdown);
            st.penalty = (st.penalty + 1).min(MAX_PENALTY);
            let until = Instant::now() + hold;
            st.hold_until = st.hold_until.max(until);
            st.next_at = st.next_at.max(until);
            return Some(hold);
        }
        if st.penalty > 0 && status < 500 {
            st.penalty -= 1;
        }
        None
    }
}

fn spacing(base: Duration, penalty: u32) -> Duration {
    if penalty == 0 {
        base
    } else {
        base.max(Duration::from_secs(1))
            .saturating_mul(1 << penalty)
    }
}

impl Politeness {
    pub fn new(settings: PolitenessSettings) -> Self {
        Politeness {
            settings,
            sites: Mutex::new(Gates {
                by_site: HashMap::new(),
                sweep_at: SWEEP_FLOOR,
            }),
        }
    }

    pub fn settings(&self) -> &PolitenessSettings {
        &self.settings
    }

    /// The gate of a site (a key from [`site_of`]).
    pub fn gate(&self, site: &str) -> Arc<Gate> {
        let mut sites = self.sites.lock().expect("sites lock");
        if let Some(g) = sites.by_site.get(site) {
            return g.clone();
        }
        if sites.by_site.len() >= sites.sweep_at {
            let (per_site, now) = (self.settings.per_site.max(1), Instant::now());
            // Only the map holds a forgettable gate: nobody can be using it.
            sites
                .by_site
                .retain(|_, g| Arc::strong_count(g) > 1 || !g.forgettable(per_site, now));
            sites.sweep_at = (sites.by_site.len() * 2).max(SWEEP_FLOOR);
        }
        sites
            .by_site
            .entry(site.to_string())
            .or_insert_with(|| {
                Arc::new(Gate {
                    slots: Arc::new(Semaphore::new(self.settings.per_site.max(1))),
                    spacing: self.settings.spacing,
                    state: Mutex::new(GateState {
                        next_at: Instant::now(),
                        penalty: 0,
                        hold_until: Instant::now(),
                    }),
                })
            })
            .clone()
    }

    /// Tells the gate of `host`'s site how a request to `host` was answered.
    pub fn observe(&self, host: &str, status: u16, retry_after: Option<Duration>) {
        let key = site_of(host);
        let gate = self.gate(&key);
        let was = gate.spacing();
        match gate.observe(status, retry_after, self.settings.slowdown) {
            Some(hold) => {
                tracing::warn!(site = %key, status, hold_secs = hold.as_secs(), spacing_ms = gate.spacing().as_millis() as u64, "site asks us to slow down; holding back every fetch to it")
            }
            None if was > self.settings.spacing && gate.spacing() == self.settings.spacing => {
                tracing::info!(site = %key, "site no longer throttled; normal spacing again")
            }
            None => {}
        }
    }

    /// Gates kept now (bounded by the sites in play; for tests).
    pub fn gates_kept(&self) -> usize {
        self.sites.lock().expect("sites lock").by_site.len()
    }

    /// The spacing a site currently gets (for tests and logs).
    pub fn current_spacing(&self, host: &str) -> Duration {
        self.gate(&site_of(host)).spacing()
    }
}
