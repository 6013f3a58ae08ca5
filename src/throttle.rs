//! Rate-limited failure logs: the web can fail in bulk (a feed of 100,000 broken links, a feed
//! that fails the same way every poll), and the log must stay readable and bounded.
//!
//! [`LogThrottle::admit`] lets the first failure of each `(source, kind)` through, then at most
//! one per window, and counts what it held back so the next line can say so. Sources are feeds,
//! not pages, but feeds come and go (and a source may be anything a caller passes): at
//! [`MAX_SLOTS`] the slots older than a window are dropped (they hold nothing but a count) and,
//! if that is not enough, the oldest half goes too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most `(source, kind)` slots kept.
pub const MAX_SLOTS: usize = 10_000;

/// Admits one log line per `(source, kind)` per window.
#[derive(Debug)]
pub struct LogThrottle {
    window: Duration,
    slots: Mutex<HashMap<(String, &'static str), Slot>>,
}

#[derive(Debug)]
struct Slot {
    last: Instant,
    held_back: u64,
}

impl LogThrottle {
    pub fn new(window: Duration) -> Self {
        LogThrottle {
            window,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(n)` when a line may be logged now, `n` being how many were held back since the
    /// last one; `None` when this one should stay quiet (debug level at most).
    pub fn admit(&self, source: &str, kind: &'static str) -> Option<u64> {
        self.admit_at(source, kind, Instant::now())
    }

    fn admit_at(&self, source: &str, kind: &'static str, now: Instant) -> Option<u64> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots.get_mut(&(source.to_owned(), kind)) {
            None => {
                if slots.len() >= MAX_SLOTS {
                    self.shrink(&mut slots, now);
                }
                slots.insert(
                    (source.to_owned(), kind),
                    Slot {
                        last: now,
                        held_back: 0,
                    },
                );
                Some(0)
            }
            Some(slot) if now.duration_since(slot.last) >= self.window => {
                slot.last = now;
                Some(std::mem::take(&mut slot.held_back))
            }
            Some(slot) => {
                slot.held_back += 1;
                None
            }
        }
    }

    /// Drops slots a window old; then, while still over half of [`MAX_SLOTS`], the oldest.
    fn shrink(&self, slots: &mut HashMap<(String, &'static str), Slot>, now: Instant) {
        slots.retain(|_, s| now.duration_since(s.last) < self.window);
        if slots.len() > MAX_SLOTS / 2 {
            let mut ages: Vec<Instant> = slots.values().map(|s| s.last).collect();
            let cut = ages.len() - MAX_SLOTS / 2;
            let (_, oldest_kept, _) = ages.select_nth_unstable(cut);
            let oldest_kept = *oldest_kept;
            slots.retain(|_, s| s.last >= oldest_kept);
        }
    }

    /// Slots kept now (for tests).
    pub fn slots_kept(&self) -> usize {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_of_each_source_and_kind_then_one_per_window() {
        let t = LogThrottle::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(t.admit_at("a", "timeout", t0), Some(0));
        assert_eq!(t.admit_at("a", "timeout", t0), None);
        assert_eq!(
            t.admit_at("a", "timeout", t0 + Duration::from_secs(1)),
            None
        );
        assert_eq!(t.admit_at("a", "blocked", t0), Some(0));
        assert_eq!(t.admit_at("b", "timeout", t0), Some(0));
        assert_eq!(
            t.admit_at("a", "timeout", t0 + Duration::from_secs(60)),
            Some(2)
        );
        assert_eq!(
            t.admit_at("a", "timeout", t0 + Duration::from_secs(61)),
            None
        );
    }

    #[test]
    fn a_hundred_thousand_sources_keep_the_slots_bounded() {
        let t = LogThrottle::new(Duration::from_secs(600));
        let t0 = Instant::now();
        let mut most = 0;
        for i in 0..100_000u64 {
            // All within one window: only the size bound applies.
            let at = t0 + Duration::from_millis(i);
            assert_eq!(
                t.admit_at(&format!("http://s{i}.test/feed"), "timeout", at),
                Some(0)
            );
            most = most.max(t.slots_kept());
        }
        assert!(most <= MAX_SLOTS, "{most}");
        // The newest sources are still throttled; a window later everything old goes at once.
        let last = t0 + Duration::from_millis(99_999);
        assert_eq!(t.admit_at("http://s99999.test/feed", "timeout", last), None);
        let later = last + Duration::from_secs(600);
        for i in 0..MAX_SLOTS as u64 {
            t.admit_at(&format!("http://n{i}.test/feed"), "timeout", later);
        }
        assert!(t.slots_kept() <= MAX_SLOTS, "{}", t.slots_kept());
    }
}
