//! The writer: one thread applies every durable change to sled, one other owns every `flush()`.
//!
//! A caller hands the writer a change (a closure over sled trees) and waits. The applier
//! thread applies changes one after another as they arrive and passes their replies on; the
//! flusher thread takes every reply that has arrived, calls `Db::flush` once, and only then
//! answers those callers. So a change is acknowledged only once it is on disk, many changes
//! share one fsync (group commit), the next changes are applied while the last are being
//! flushed, changes never race each other (no transaction conflicts, read-check-write is
//! safe), there is never more than one flush in progress (concurrent `flush_async` calls can
//! hang sled 0.34), and a write costs one hop to the writer and one back instead of a trip
//! through tokio's blocking pool plus a wait for a committer.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::oneshot;

use super::health::StorageHealth;
use super::journal::Journal;
use super::witness::{Witness, COMMIT_EVERY, META_DURABLE_MARK};
use super::{be, StoreError};

/// How a flush ended, handed to each change it covered.
type Flushed = Result<(), Arc<sled::Error>>;
/// A change to apply, or to refuse with the error given (nothing written); returns what to
/// do once the flush covering it is over.
type Job = Box<dyn FnOnce(Option<StoreError>) -> Reply + Send>;
/// Answers the caller of one change.
type Reply = Box<dyn FnOnce(Flushed) + Send>;

/// Changes applied by the applier, on their way to the flusher.
struct Applied {
    replies: Vec<Reply>,
    /// The durable mark written with them (see [`Witness`]); 0 when nothing was applied.
    mark: u64,
    /// Their [`super::Change::after_flush`] hooks.
    after_flush: Vec<Box<dyn FnOnce() + Send>>,
}

/// What the writer threads share besides the database.
pub struct WriterParts {
    /// Multi-key changes.
    pub journal: Arc<Journal>,
    /// Whether changes are taken.
    pub health: Arc<StorageHealth>,
    /// Where durable marks are copied after each flush.
    pub witness: Arc<Witness>,
    /// sled's `meta` tree, which holds the durable mark.
    pub meta: sled::Tree,
    /// The mark of the last batch before this start.
    pub last_mark: u64,
}

/// Most changes applied before the applier hands them to the flusher, so a flood of
/// writers cannot delay the first of them without bound.
const MAX_BATCH: usize = 4096;
/// Longest the applier goes on applying before it hands what it applied to the flusher.
/// When thousands of changes arrive at once (every order sharing a deadline closing), a
/// batch bounded by count alone made the first of them wait for the 4 095 after it to be
/// applied (120–160 ms) before any flush began; handing them on every 5 ms lets the
/// flusher make them durable while the applier goes on. (Every 1 ms was slower overall:
/// sled's writes slow down while a flush runs, and that made each flush cover fewer.)
const MAX_BATCH_TIME: Duration = Duration::from_millis(5);

/// Handle to the writer thread. Cloning is cheap; the thread ends when the last handle is
/// dropped (after a final flush).
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    stats: Arc<WriterStats>,
    thread: Arc<parking_lot::Mutex<Option<JoinHandle<()>>>>,
}

/// What the writer did so far (for `/metrics` and benchmarks).
#[derive(Debug)]
pub struct WriterStats {
    /// `flush()` calls.
    pub flushes: AtomicU64,
    /// Changes made durable.
    pub writes: AtomicU64,
    /// Time spent in `flush()`, in microseconds.
    pub flush_micros: AtomicU64,
    /// Time spent applying changes, in microseconds.
    pub apply_micros: AtomicU64,
    /// Changes handed to the writer and not yet applied (its queue).
    pub queued: AtomicU64,
    /// Changes each flush made durable.
    pub changes_per_flush: Histogram,
    /// How long each flush took, seconds.
    pub flush_duration: Histogram,
}

impl Default for WriterStats {
    fn default() -> Self {
        const BATCH: [f64; 12] = [
            1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
        ];
        const SECONDS: [f64; 12] = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
        ];
        Self {
            flushes: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            flush_micros: AtomicU64::new(0),
            apply_micros: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            changes_per_flush: Histogram::new(BATCH),
            flush_duration: Histogram::new(SECONDS),
        }
    }
}

impl Writer {
    /// Starts the writer threads for `db`.
    pub fn start(db: sled::Db, parts: WriterParts) -> Result<Self, StoreError> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (to_flusher, applied) = mpsc::channel::<Applied>();
        let stats = Arc::new(WriterStats::default());
        let counters = stats.clone();
        let flushed = FlushSide {
            health: parts.health.clone(),
            witness: parts.witness.clone(),
        };
        let flusher = std::thread::Builder::new()
            .name("sled-flusher".into())
            .spawn(move || flush_loop(db, applied, &flushed, &counters))
            .map_err(|error| StoreError::Thread(error.to_string()))?;
        let counters = stats.clone();
        let thread = std::thread::Builder::new()
            .name("sled-writer".into())
            .spawn(move || {
                apply_loop(inbox, to_flusher, &parts, &counters);
                // The applier is done (every handle dropped); the flusher ends after a final
                // flush once it has answered everything handed to it.
                let _ = flusher.join();
            })
            .map_err(|error| StoreError::Thread(error.to_string()))?;
        Ok(Self {
            jobs,
            stats,
            thread: Arc::new(parking_lot::Mutex::new(Some(thread))),
        })
    }

    /// Applies `change` on the writer thread and returns its result once it is on disk. A
    /// change that fails is answered after the same flush; keys that must change together
    /// go in one journaled [`super::Change`].
    pub async fn write<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        F: FnOnce() -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (answer, outcome) = oneshot::channel();
        self.submit(change, answer)?;
        outcome.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Blocking variant of [`Writer::write`], for code already on a blocking thread.
    pub fn write_blocking<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        F: FnOnce() -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (answer, outcome) = oneshot::channel();
        self.submit(change, answer)?;
        outcome.blocking_recv().unwrap_or(Err(StoreError::Closed))
    }

    fn submit<T, F>(
        &self,
        change: F,
        answer: oneshot::Sender<Result<T, StoreError>>,
    ) -> Result<(), StoreError>
    where
        F: FnOnce() -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let queue = self.stats.clone();
        let job: Job = Box::new(move |refused: Option<StoreError>| {
            queue.queued.fetch_sub(1, Ordering::Relaxed);
            let applied = match refused {
                Some(error) => Err(error),
                // A panicking change must not take the writer (and every later write) down.
                None => std::panic::catch_unwind(AssertUnwindSafe(change))
                    .unwrap_or_else(|_| Err(StoreError::Thread("a store change panicked".into()))),
            };
            Box::new(move |flushed: Flushed| {
                let outcome = match (applied, flushed) {
                    (Ok(value), Ok(())) => Ok(value),
                    (Ok(_), Err(error)) => Err(StoreError::Flush(error)),
                    (Err(error), _) => Err(error),
                };
                let _ = answer.send(outcome);
            })
        });
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        self.jobs.send(job).map_err(|_| {
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            StoreError::Closed
        })
    }

    /// Runs `change` on the writer thread in its turn, given the refusal when the store
    /// takes no change (it must then write nothing), and once the flush covering it is
    /// over runs `then` with what `change` returned and how that flush ended, on the
    /// flusher's thread. For one change made for many callers, each answered by `then`, so
    /// no caller has to stay to pass the answers on. A panic in `change` is caught; `then`
    /// is not run (what `change` held is dropped).
    pub fn submit_then<T, C, A>(&self, change: C, then: A) -> Result<(), StoreError>
    where
        C: FnOnce(Option<StoreError>) -> T + Send + 'static,
        T: Send + 'static,
        A: FnOnce(T, Result<(), StoreError>) + Send + 'static,
    {
        let queue = self.stats.clone();
        let job: Job = Box::new(move |refused: Option<StoreError>| {
            queue.queued.fetch_sub(1, Ordering::Relaxed);
            let made = std::panic::catch_unwind(AssertUnwindSafe(move || change(refused)));
            Box::new(move |flushed: Flushed| match made {
                Ok(made) => then(made, flushed.map_err(StoreError::Flush)),
                Err(_) => tracing::error!("a store change made for many callers panicked"),
            })
        });
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        self.jobs.send(job).map_err(|_| {
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            StoreError::Closed
        })
    }

    /// Counters.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// The counters, shared (for `/metrics`).
    pub fn shared_stats(&self) -> Arc<WriterStats> {
        self.stats.clone()
    }

    /// Detaches the thread handle so a caller can join it at shutdown after dropping every
    /// other handle.
    pub fn take_thread(&self) -> Option<JoinHandle<()>> {
        self.thread.lock().take()
    }
}

/// The applier: applies changes as they come and hands their replies to the flusher. It
/// never waits for a flush, so the next changes are applied while the last ones are being
/// made durable. While the store cannot write ([`StorageHealth::refusal`]), changes are
/// answered with the refusal and nothing reaches sled. Each batch that applied anything
/// ends with its durable mark.
fn apply_loop(
    inbox: mpsc::Receiver<Job>,
    flusher: mpsc::Sender<Applied>,
    parts: &WriterParts,
    stats: &WriterStats,
) {
    let mut mark = parts.last_mark;
    // The journal's trim mark moves after each batch, past the records it wrote.
    while let Ok(first) = inbox.recv() {
        let applying = Instant::now();
        let mut replies: Vec<Reply> = Vec::with_capacity(64);
        let mut applied = 0usize;
        // Nothing is taken after a change tore (its keys half written): the restart that
        // replays it must find no later change.
        let refusal = || {
            parts
                .health
                .refusal()
                .or_else(|| parts.journal.is_poisoned().then_some(StoreError::Poisoned))
        };
        let mut run = |job: Job, replies: &mut Vec<Reply>| match refusal() {
            Some(refusal) => {
                parts.health.count_refused();
                replies.push(job(Some(refusal)));
            }
            None => {
                applied += 1;
                replies.push(job(None));
            }
        };
        run(first, &mut replies);
        while replies.len() < MAX_BATCH && applying.elapsed() < MAX_BATCH_TIME {
            match inbox.try_recv() {
                Ok(next) => run(next, &mut replies),
                Err(_) => break,
            }
        }
        if parts.journal.is_poisoned() {
            parts
                .health
                .mark_broken("a change failed half-way through its keys".into());
        }
        if applied > 0 {
            if let Err(error) = parts.journal.write_trim_mark() {
                parts
                    .health
                    .mark_broken(format!("writing the journal's trim mark failed: {error}"));
            }
        }
        let batch_mark = if applied > 0 {
            match parts.meta.insert(META_DURABLE_MARK, &be(mark + 1)) {
                Ok(_) => {
                    mark += 1;
                    mark
                }
                Err(error) => {
                    parts
                        .health
                        .mark_broken(format!("writing the durable mark failed: {error}"));
                    0
                }
            }
        } else {
            0
        };
        stats.writes.fetch_add(applied as u64, Ordering::Relaxed);
        stats
            .apply_micros
            .fetch_add(applying.elapsed().as_micros() as u64, Ordering::Relaxed);
        let batch = Applied {
            replies,
            mark: batch_mark,
            after_flush: parts.journal.take_after_flush(),
        };
        if flusher.send(batch).is_err() {
            return;
        }
    }
}

/// What the flusher needs besides the database.
struct FlushSide {
    health: Arc<StorageHealth>,
    witness: Arc<Witness>,
}

/// The flusher: every `flush()` of the database. Each flush covers every change whose reply
/// arrived before it began (the applier sends a reply only after applying the change). A
/// flush that succeeded moves the witness to the batches it covered; one that failed
/// breaks the store (sled 0.34 does not recover from a failed write in-process).
fn flush_loop(
    db: sled::Db,
    applied: mpsc::Receiver<Applied>,
    side: &FlushSide,
    stats: &WriterStats,
) {
    loop {
        let first = match applied.recv_timeout(COMMIT_EVERY) {
            Ok(first) => first,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // Idle: commit the last flushed mark rather than wait for the next batch.
                if let Err(error) = side.witness.tick() {
                    tracing::error!(%error, "committing the store witness failed");
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut replies = first.replies;
        let mut mark = first.mark;
        let mut after_flush = first.after_flush;
        while let Ok(more) = applied.try_recv() {
            replies.extend(more.replies);
            mark = mark.max(more.mark);
            after_flush.extend(more.after_flush);
        }
        let flushing = Instant::now();
        let flushed = db.flush().map(|_| ()).map_err(Arc::new);
        let took = flushing.elapsed();
        stats.flushes.fetch_add(1, Ordering::Relaxed);
        stats
            .flush_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        stats.flush_duration.observe(took.as_secs_f64());
        stats.changes_per_flush.observe(replies.len() as f64);
        match &flushed {
            Ok(()) => {
                // A broken store may have lost a mark it could not write: never witness it.
                if !side.health.is_broken() {
                    if let Err(error) = side.witness.flushed(mark) {
                        side.health.mark_broken(format!(
                            "writing {} failed: {error}",
                            side.witness.path().display()
                        ));
                    }
                }
                // Whenever the flush succeeded, as the replies then say it did; before them:
                // a caller answered may go on to tell others.
                after_flush.into_iter().for_each(|then| then());
            }
            Err(error) => side.health.mark_broken(format!("flush failed: {error}")),
        }
        for reply in replies {
            reply(flushed.clone());
        }
    }
    if !side.health.is_broken() {
        match db.flush() {
            Ok(_) => {
                if let Err(error) = side.witness.commit() {
                    tracing::error!(%error, "final commit of the store witness failed");
                }
            }
            Err(error) => tracing::error!(%error, "final flush failed"),
        }
    }
}
