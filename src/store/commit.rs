//! Group commit: one thread owns every `flush()` of the database.
//!
//! A writer first applies its change to sled (in memory), then asks the committer for
//! durability and waits. The committer drains every request that has arrived, calls
//! `Db::flush` once, and wakes them all: each waiter's write happened before it asked, and
//! so before that flush began. Many writers share one fsync, and there is never more than
//! one flush in progress (concurrent `flush_async` calls can hang sled 0.34).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::StoreError;

type Waiter = oneshot::Sender<Result<(), Arc<sled::Error>>>;

/// Handle to the committer thread. Cloning is cheap; the thread ends when the last handle
/// is dropped (after a final flush).
#[derive(Clone)]
pub struct Committer {
    requests: mpsc::Sender<Waiter>,
    stats: Arc<CommitStats>,
    thread: Arc<parking_lot::Mutex<Option<JoinHandle<()>>>>,
}

/// What the committer did so far (for `/metrics` and benchmarks).
#[derive(Debug, Default)]
pub struct CommitStats {
    /// `flush()` calls.
    pub flushes: AtomicU64,
    /// Writers made durable.
    pub waiters: AtomicU64,
    /// Time spent in `flush()`, in microseconds.
    pub flush_micros: AtomicU64,
}

impl Committer {
    /// Starts the committer thread for `db`.
    pub fn start(db: sled::Db) -> Result<Self, StoreError> {
        let (requests, inbox) = mpsc::channel::<Waiter>();
        let stats = Arc::new(CommitStats::default());
        let counters = stats.clone();
        let thread = std::thread::Builder::new()
            .name("sled-committer".into())
            .spawn(move || run(db, inbox, &counters))
            .map_err(|error| StoreError::Thread(error.to_string()))?;
        Ok(Self {
            requests,
            stats,
            thread: Arc::new(parking_lot::Mutex::new(Some(thread))),
        })
    }

    /// Waits until everything written before this call is on disk.
    pub async fn durable(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.requests.send(done).map_err(|_| StoreError::Closed)?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(StoreError::Flush(error)),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Blocking variant of [`Committer::durable`], for code already on a blocking thread.
    pub fn durable_blocking(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.requests.send(done).map_err(|_| StoreError::Closed)?;
        match wait.blocking_recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(StoreError::Flush(error)),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &CommitStats {
        &self.stats
    }

    /// Detaches the thread handle so a caller can join it at shutdown after dropping every
    /// other handle.
    pub fn take_thread(&self) -> Option<JoinHandle<()>> {
        self.thread.lock().take()
    }
}

fn run(db: sled::Db, inbox: mpsc::Receiver<Waiter>, stats: &CommitStats) {
    let mut batch: Vec<Waiter> = Vec::with_capacity(256);
    while let Ok(first) = inbox.recv() {
        batch.push(first);
        while let Ok(next) = inbox.try_recv() {
            batch.push(next);
        }
        let started = std::time::Instant::now();
        let outcome = db.flush().map(|_| ()).map_err(Arc::new);
        stats.flushes.fetch_add(1, Ordering::Relaxed);
        stats
            .waiters
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        stats
            .flush_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        if let Err(error) = &outcome {
            tracing::error!(%error, "flush failed");
        }
        for waiter in batch.drain(..) {
            let _ = waiter.send(outcome.clone());
        }
    }
    if let Err(error) = db.flush() {
        tracing::error!(%error, "final flush failed");
    }
}
