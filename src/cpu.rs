//! CPU-bound work (feed parsing, page extraction) on a bounded pool sized to the cores, off the
//! async workers: one thread per core takes jobs from a queue, so a burst of large pages queues
//! here instead of starving the schedulers' timers and the publisher, and a thread that ends a
//! job starts the next at once. A panic fails its job only.
//!
//! Short jobs that others wait on in order (revision tracking: one article's decision holds
//! back the writes behind it) have a lane of their own with as many threads, so they never queue
//! behind a burst of extractions; at most twice the cores' jobs run at once.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::oneshot;

/// The pool. Cheap to clone; its threads end when the last clone is dropped.
#[derive(Clone)]
pub struct CpuPool {
    queue: Arc<Queue>,
    urgent: Arc<Queue>,
}

type Job = Box<dyn FnOnce() + Send>;

/// The jobs waiting for a thread; `None` once the pool is dropped.
struct Jobs {
    waiting: Mutex<Option<VecDeque<Job>>>,
    ready: Condvar,
}

/// A queue and its threads. Closes the queue when the last handle goes, so the threads end.
struct Queue(Arc<Jobs>);

impl Queue {
    fn start(threads: usize, name: &str) -> Self {
        let jobs = Arc::new(Jobs {
            waiting: Mutex::new(Some(VecDeque::new())),
            ready: Condvar::new(),
        });
        for _ in 0..threads.max(1) {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || work(&jobs))
                .expect("cannot start a CPU pool thread");
        }
        Queue(jobs)
    }

    /// Runs `f` on one of the queue's threads, after the jobs queued before it.
    async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Panicked> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have stopped waiting; the result is then dropped.
            let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
        });
        {
            let mut waiting = self.0.waiting.lock().expect("cpu queue lock");
            waiting
                .as_mut()
                .expect("open while a handle lives")
                .push_back(job);
        }
        self.0.ready.notify_one();
        match rx.await {
            Ok(Ok(r)) => Ok(r),
            _ => Err(Panicked),
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        *self.0.waiting.lock().expect("cpu queue lock") = None;
        self.0.ready.notify_all();
    }
}

/// The job panicked; the panic was reported and contained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("panicked")]
pub struct Panicked;

impl CpuPool {
    /// One thread per core the process may use, in each lane.
    pub fn sized_to_cores() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        CpuPool::new(cores)
    }

    pub fn new(threads: usize) -> Self {
        CpuPool {
            queue: Arc::new(Queue::start(threads, "newswire-cpu")),
            urgent: Arc::new(Queue::start(threads, "newswire-track")),
        }
    }

    /// Runs `f` on one of the pool's threads, after the jobs queued before it.
    ///
    /// # Errors
    /// `f` panicked.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Panicked> {
        self.queue.run(f).await
    }

    /// Runs `f` in the lane for short jobs others wait on, which has threads of its own.
    ///
    /// # Errors
    /// `f` panicked.
    pub async fn run_urgent<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Panicked> {
        self.urgent.run(f).await
    }
}

/// A pool thread: takes the oldest job, runs it, until the pool is dropped.
fn work(jobs: &Jobs) {
    loop {
        let job = {
            let mut waiting = jobs.waiting.lock().expect("cpu queue lock");
            loop {
                match waiting.as_mut() {
                    None => return,
                    Some(q) => {
                        if let Some(job) = q.pop_front() {
                            break job;
                        }
                    }
                }
                waiting = jobs.ready.wait(waiting).expect("cpu queue lock");
            }
        };
        job();
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
