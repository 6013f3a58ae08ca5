//! Wall-clock time for the scheduler. Timers sleep on tokio's clock; the wall clock only answers
//! "what time is it" (HTTP dates, `skipHours`, the adaptive interval). [`TokioClock`] ties the
//! two together, so a test that pauses tokio's clock (`tokio::time::pause`) moves both at once
//! and runs hours of schedule in milliseconds.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// What time it is, as the scheduler sees it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; for unit tests of pure schedule logic.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(start))
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().expect("clock lock");
        *t += chrono::Duration::from_std(by).expect("duration in range");
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

/// Wall time that advances with tokio's clock from a fixed start: virtual when tokio's clock is
/// paused, real otherwise.
#[derive(Debug, Clone)]
pub struct TokioClock {
    wall: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// Must be called inside a tokio runtime.
    pub fn starting_at(wall: DateTime<Utc>) -> Self {
        TokioClock {
            wall,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        self.wall + chrono::Duration::from_std(self.start.elapsed()).unwrap_or_default()
    }
}
