//! Rate-limited failure logs: the web can fail in bulk (a feed of 100,000 broken links, a feed
//! that fails the same way every poll), and the log must stay readable and bounded.
//!
//! [`LogThrottle::admit`] lets the first failure of each `(source, kind)` through, then at most
//! one per window, and counts what it held back so the next line can say so. Sources are feeds,
//! not pages, so its memory is bounded by feeds × kinds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
}
