//! A one-line progress bar on stderr for long terminal commands (`replay`, `extract`).
//!
//! Drawn only when stderr is a terminal, so piped or logged output never carries it; redrawn at
//! most ten times a second; erased when done.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    label: &'static str,
    total: usize,
    done: usize,
    enabled: bool,
    last: Option<Instant>,
}

impl Progress {
    /// A bar over `total` steps; drawn only when stderr is a terminal and there is more than one step.
    pub fn new(label: &'static str, total: usize) -> Self {
        Self::with_output(label, total, std::io::stderr().is_terminal() && total > 1)
    }

    fn with_output(label: &'static str, total: usize, enabled: bool) -> Self {
        Progress {
            label,
            total,
            done: 0,
            enabled,
            last: None,
        }
    }

    /// Marks `done` steps of `total` complete.
    pub fn set(&mut self, done: usize) {
        self.done = done.min(self.total);
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self.done < self.total
            && self
                .last
                .is_some_and(|t| now - t < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        let _ = write!(std::io::stderr(), "\r{}", self.line(40));
    }

    pub fn inc(&mut self) {
        self.set(self.done + 1);
    }

    /// The bar as text, `width` cells wide.
    fn line(&self, width: usize) -> String {
        let filled = (self.done * width).checked_div(self.total).unwrap_or(width);
        format!(
            "{} [{}{}] {}/{}",
            self.label,
            "#".repeat(filled),
            ".".repeat(width - filled),
            self.done,
            self.total
        )
    }

    /// Erases the bar.
    pub fn finish(self) {}
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.enabled && self.last.is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_text_and_disabled_when_not_a_terminal() {
        let mut p = Progress::with_output("extract", 4, false);
        p.inc();
        assert_eq!(p.line(8), "extract [##......] 1/4");
        p.set(10);
        assert_eq!(p.line(8), "extract [########] 4/4");
        assert!(p.last.is_none(), "nothing drawn when disabled");
        assert_eq!(Progress::with_output("x", 0, false).line(4), "x [####] 0/0");
    }
}
