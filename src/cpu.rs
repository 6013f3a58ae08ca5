//! CPU-bound work (feed parsing, page extraction) on a bounded pool sized to the cores, off the
//! async workers: at most one job per core runs at once, so a burst of large pages queues here
//! instead of starving the schedulers' timers and the publisher. A panic fails its job only.
//!
//! Short jobs that others wait on in order (revision tracking: one article's decision holds
//! back the writes behind it) have a lane of their own with as many slots, so they never queue
//! behind a burst of extractions; at most twice the cores' jobs run at once.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// The pool. Cheap to clone.
#[derive(Clone)]
pub struct CpuPool {
    slots: Arc<Semaphore>,
    urgent: Arc<Semaphore>,
}

/// The job panicked; the panic was reported and contained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("panicked")]
pub struct Panicked;

impl CpuPool {
    /// One slot per core the process may use.
    pub fn sized_to_cores() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        CpuPool::new(cores)
    }

    pub fn new(threads: usize) -> Self {
        CpuPool {
            slots: Arc::new(Semaphore::new(threads.max(1))),
            urgent: Arc::new(Semaphore::new(threads.max(1))),
        }
    }

    /// Runs `f` on a blocking thread once a slot is free.
    ///
    /// # Errors
    /// `f` panicked.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Panicked> {
        Self::run_in(&self.slots, f).await
    }

    /// Runs `f` in the lane for short jobs others wait on, once one of its slots is free.
    ///
    /// # Errors
    /// `f` panicked.
    pub async fn run_urgent<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Panicked> {
        Self::run_in(&self.urgent, f).await
    }

    async fn run_in<R: Send + 'static>(
        slots: &Semaphore,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Panicked> {
        let _slot = slots.acquire().await.expect("semaphore never closed");
        tokio::task::spawn_blocking(f).await.map_err(|_| Panicked)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn never_runs_more_jobs_than_slots_and_contains_panics() {
        let pool = CpuPool::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let jobs = (0..8).map(|_| {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }
        });
        let results = futures_util::future::join_all(jobs).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(pool.run(|| panic!("boom")).await, Err::<(), _>(Panicked));
        assert_eq!(pool.run(|| 7).await, Ok(7), "the pool survives a panic");
    }

    #[tokio::test]
    async fn an_urgent_job_does_not_queue_behind_busy_slots() {
        let pool = CpuPool::new(1);
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(move || hold.recv().ok()).await })
        };
        // The only slot is held until the urgent job has answered.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let urgent = tokio::time::timeout(Duration::from_secs(5), pool.run_urgent(|| 7)).await;
        release.send(()).unwrap();
        assert_eq!(
            urgent.expect("the urgent lane waited for the busy slot"),
            Ok(7)
        );
        assert!(busy.await.unwrap().is_ok());
    }
}
