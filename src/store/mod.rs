//! Persistence. Only this module touches sled.
//!
//! Layout (version [`LAYOUT_VERSION`], recorded in the `meta` tree):
//! - `orders`:    parent_order_no (19 ASCII digits) → bincode [`crate::domain::Order`], then
//!   bincode of its history (absent in records written before it; see `orders::decode_order`)
//! - `order_nos`: no longer written (a child's number shares its parent's 15-digit body, and
//!   nothing read the mapping); stores written before keep theirs, unread
//! - `deadlines`: big-endian deadline (Unix s) ‖ parent_order_no → `[]`, orders that need an
//!   actor (creating, unpaid, closed with a refund to confirm, or paid with a refund pending),
//!   and for a few seconds those that closed at their deadline (swept by
//!   `orders::OrderStore::sweep_deadlines`; readers skip an entry whose order has ended)
//! - `outbox`:    big-endian sequence → bincode [`outbox::OutboxEntry`]
//! - `notices_delivered`: parent_order_no ‖ big-endian outbox sequence → bincode
//!   [`outbox::Delivered`], the outbox's deliveries for the order's history
//! - `idempotency`: company ‖ member ‖ key → parent_order_no and request fingerprint
//! - `member_orders`: company ‖ member ‖ big-endian row id → parent_order_no, each member's
//!   orders (newest last), written with the order's first record (`shop/order/list`)
//! - `activities`, `applies`, `member_applies`, `apply_deadlines`, `order_applies`,
//!   `refund_deadlines` (activity id → the `refund_deadline` it was saved with), `waitlist`
//!   (activity id ‖ apply id → `[]`, present exactly while the apply waits; apply ids grow,
//!   so the queue is first come first; its per-activity count is kept in memory, built at
//!   open): the activity platform
//! - `paysim_*`: the payment simulator's own state
//! - `journal_ring`: big-endian slot (sequence mod 1 024) → big-endian sequence ‖ a
//!   multi-key [`Change`], and `trimmed-upto` → the last sequence whose keys were all
//!   written (a restart replays only what follows it); `journal`, the growing journal of
//!   layouts 3 and 4, is replayed and emptied once at open
//! - `meta`: the layout version, the *durable mark* of the last batch written (checked
//!   against the `witness` file beside sled's files at open: [`witness`]), id high marks,
//!   and `reservations_walked_below`: the apply id below which no apply is pending
//!   without an `apply_deadlines` entry (the activity platform's reservation sweep walks
//!   the `applies` from there; only waiters given a seat and reservations running longer
//!   than the TTL have an entry, and every pending apply of layout 5 has one)
//!
//! A store behind its witness lost acknowledged writes and is refused; a disk that is nearly
//! full or a store that failed a write answers 503 and is not ready ([`health`]).
//!
//! Every durable change runs on the single writer thread ([`Store::write`]), which applies the
//! changes that arrived together and flushes once for all of them (group commit) before anyone
//! acknowledges them. Changes to several keys are journaled ([`Change`]), never sled
//! transactions. Reads, and writes that need no acknowledgement, run on tokio's blocking pool
//! ([`Store::blocking`]).

pub mod activity;
pub mod backup;
pub mod health;
mod journal;
pub mod orders;
pub mod outbox;
pub mod paysim;
pub mod witness;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use health::StorageHealth;
pub use journal::Change;
use witness::{Found, Witness, META_DURABLE_MARK};
pub use writer::{Writer, WriterStats};

/// Version of the on-disk layout described above. A store written by another version is
/// refused rather than misread.
pub const LAYOUT_VERSION: u32 = 6;

/// Layouts opened as they are and marked [`LAYOUT_VERSION`]: 5 is 6 with a
/// reservation-deadline entry for every pending apply (those entries still lapse and go;
/// a layout-5 binary would never release a fresh reservation of layout 6); 4 is 5 with
/// the journal in the growing `journal` tree (replayed and emptied at open, see
/// `journal::replay`); 3 is 4
/// without the `member_orders` index (built at start, see
/// `orders::OrderStore::index_members`), the `waitlist` and `refund_deadlines` trees and the
/// waitlisted apply status; 2 is 3 without the journal. A binary of an older layout refuses
/// a newer store, which it would misread (a layout-4 binary would not replay the ring).
const UPGRADABLE_LAYOUTS: [u32; 4] = [2, 3, 4, 5];

const META_LAYOUT: &[u8] = b"layout_version";

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be opened; the service must stop and say where.
    #[error("cannot open the store in {dir}: {source}. Nothing was wiped; check the directory (a sled store damaged by an abrupt stop must be restored from a backup)")]
    Open {
        /// The data directory.
        dir: PathBuf,
        /// What sled said.
        source: sled::Error,
    },
    /// The store's files exist but its contents are gone or unreadable.
    #[error("the store in {dir} exists but its contents cannot be read (damaged?). Nothing was wiped; restore it from a backup or move it aside to start empty")]
    Damaged {
        /// The data directory.
        dir: PathBuf,
    },
    /// The store holds less than it acknowledged (its witness is ahead of it): truncated or
    /// damaged files, or `db` replaced. Refused rather than run on what is left.
    #[error("the store in {dir} is behind what it acknowledged (the witness file {witness} says durable change {acknowledged} was written; the store holds {found}): its files were truncated, damaged or replaced, and acknowledged orders are missing. Nothing was wiped; restore the data dir from a backup")]
    Behind {
        /// The data directory.
        dir: PathBuf,
        /// The witness file.
        witness: PathBuf,
        /// The mark the witness recorded.
        acknowledged: u64,
        /// The mark the store holds (0: none).
        found: u64,
    },
    /// The witness file exists but cannot be read.
    #[error("the store in {dir} has an unreadable witness file {witness}: it was damaged or replaced, so the store cannot be checked against what it acknowledged. Nothing was wiped; restore the data dir from a backup")]
    WitnessUnreadable {
        /// The data directory.
        dir: PathBuf,
        /// The witness file.
        witness: PathBuf,
    },
    /// The store cannot take writes now (disk nearly full, or a write failed); nothing was
    /// written.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The store was written with another layout version.
    #[error("the store in {dir} has layout version {found}, this build reads version {expected}")]
    Layout {
        /// The data directory.
        dir: PathBuf,
        /// Version on disk.
        found: u32,
        /// Version of this build.
        expected: u32,
    },
    /// A sled operation failed.
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    /// A flush failed; nothing since the previous flush is known to be durable.
    #[error("flush failed: {0}")]
    Flush(Arc<sled::Error>),
    /// A value could not be encoded.
    #[error("encoding failed: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    /// A stored value could not be decoded.
    #[error("stored value is corrupt: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    /// A stored key or value does not have the expected shape.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A background thread could not be started or panicked.
    #[error("store thread failed: {0}")]
    Thread(String),
    /// The store is shutting down.
    #[error("store is closed")]
    Closed,
    /// A change failed half-way; no more are taken until a restart replays it.
    #[error("the store refuses changes after a failed write; restart the service")]
    Poisoned,
}

impl StoreError {
    /// The same failure for another caller of one change made for many (sled's and
    /// bincode's errors cannot be cloned): what a storage failure is and how it is answered
    /// (503 or 500) are kept, the message too.
    pub fn for_each_caller(&self) -> StoreError {
        match self {
            StoreError::Unavailable(why) => StoreError::Unavailable(why.clone()),
            StoreError::Flush(error) => StoreError::Flush(Arc::clone(error)),
            StoreError::Poisoned => StoreError::Poisoned,
            StoreError::Closed => StoreError::Closed,
            StoreError::Thread(why) => StoreError::Thread(why.clone()),
            other if other.is_unavailable() => StoreError::Unavailable(other.to_string()),
            other => StoreError::Corrupt(other.to_string()),
        }
    }

    /// Whether the failure is the storage's (disk full, write or flush failed, closing):
    /// answered 503 (retry later), not 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_)
            | StoreError::Flush(_)
            | StoreError::Poisoned
            | StoreError::Closed => true,
            StoreError::Sled(error) => matches!(error, sled::Error::Io(_)),
            _ => false,
        }
    }
}

/// The default [`StoreConfig::disk_reserve_bytes`]: room for sled to finish the segments
/// it is writing and for a flush-time burst of changes.
pub const DEFAULT_DISK_RESERVE_BYTES: u64 = 64 << 20;

/// Settings for opening the store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Directory holding the sled database.
    pub data_dir: PathBuf,
    /// sled's page cache, in bytes.
    pub cache_capacity: u64,
    /// Free space under which writes are refused (503) before sled could fail on a full
    /// disk ([`health`]); 0 turns the guard off.
    pub disk_reserve_bytes: u64,
}

#[cfg(test)]
impl StoreConfig {
    /// A store in `dir` for unit tests: a small page cache (so sled pages out) and no disk
    /// guard.
    pub fn for_tests(dir: &Path) -> Self {
        Self {
            data_dir: dir.to_path_buf(),
            cache_capacity: 1 << 20,
            disk_reserve_bytes: 0,
        }
    }
}

/// The database and its writer thread. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    writer: Writer,
    journal: Arc<journal::Journal>,
    health: Arc<StorageHealth>,
    witness: Arc<Witness>,
    dir: Arc<PathBuf>,
    /// Outbox entries below this sequence number are on disk: the outbox delivers only
    /// those, so no subsystem is told of a change a crash could still take back. Moved by
    /// the flush that makes an entry durable (see [`Change::after_flush`]).
    outbox_durable_below: Arc<std::sync::atomic::AtomicU64>,
}

/// bincode configuration used for every stored value.
pub(crate) fn bincode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a stored value.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    Ok(bincode::serde::encode_to_vec(value, bincode_config())?)
}

/// Encodes a value to store at the end of `out`.
pub(crate) fn encode_into<T: serde::Serialize>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    bincode::serde::encode_into_std_write(value, out, bincode_config())?;
    Ok(())
}

/// Decodes a stored value.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    let (value, _) = bincode::serde::decode_from_slice(bytes, bincode_config())?;
    Ok(value)
}

impl Store {
    /// Opens (or creates) the store in `config.data_dir`, checks it against its witness and
    /// its layout version, and starts the writer and the disk guard. Blocking: call it from
    /// a blocking context or at startup.
    pub fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        let dir = config.data_dir.clone();
        let existed = dir.join("db").exists();
        // Read before sled touches the directory.
        let witnessed = Witness::read(&dir).map_err(|error| StoreError::Open {
            dir: dir.clone(),
            source: sled::Error::Io(error),
        })?;
        let db = sled::Config::new()
            .path(&dir)
            .cache_capacity(config.cache_capacity)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|source| StoreError::Open {
                dir: dir.clone(),
                source,
            })?;
        let meta = db.open_tree("meta")?;
        let held = match meta.get(META_DURABLE_MARK)? {
            Some(bytes) => read_be(&bytes)?,
            None => 0,
        };
        let witness_path = dir.join(witness::WITNESS_FILE);
        match witnessed {
            Found::Mark(acknowledged) if acknowledged > held => {
                return Err(StoreError::Behind {
                    dir,
                    witness: witness_path,
                    acknowledged,
                    found: held,
                })
            }
            Found::Unreadable => {
                return Err(StoreError::WitnessUnreadable {
                    dir,
                    witness: witness_path,
                })
            }
            Found::Mark(_) | Found::None => {}
        }
        // The witness is first written only once a new store's layout version is durable
        // (below): a store without a version and without a witness was killed in its very
        // first start, before it wrote anything, and is created again; with a witness, it
        // is damaged.
        let unfinished = existed && witnessed == Found::None && holds_nothing(&db)?;
        if unfinished {
            tracing::warn!(dir = %dir.display(), "the store's first start never finished (nothing was ever written); creating it again");
        }
        let upgrading = check_layout(&db, &dir, existed && !unfinished)?;
        let replayed = journal::replay(&db)?;
        if replayed > 0 {
            tracing::info!(replayed, "finished changes a crash interrupted");
        }
        // An older layout is marked current only once its journal is replayed: a replay
        // that fails leaves a store the older binary can still open.
        if upgrading {
            meta.insert(META_LAYOUT, &LAYOUT_VERSION.to_be_bytes())?;
        }
        let witness = Arc::new(Witness::open(&dir, held).map_err(|error| StoreError::Open {
            dir: dir.clone(),
            source: sled::Error::Io(error),
        })?);
        let journal = Arc::new(journal::Journal::open(&db)?);
        let health = Arc::new(StorageHealth::new(dir.clone(), config.disk_reserve_bytes));
        health::start_guard(health.clone())?;
        let writer = Writer::start(
            db.clone(),
            writer::WriterParts {
                journal: journal.clone(),
                health: health.clone(),
                witness: witness.clone(),
                meta,
                last_mark: held,
            },
        )?;
        // Everything the store holds at open is durable (replayed and flushed above).
        let outbox_durable_below = match db.open_tree(outbox::OUTBOX_TREE)?.last()? {
            Some((key, _)) => read_be(&key)? + 1,
            None => 1,
        };
        let store = Self {
            db,
            writer,
            journal,
            health,
            witness,
            dir: Arc::new(dir),
            outbox_durable_below: Arc::new(outbox_durable_below.into()),
        };
        store.durable_blocking()?;
        Ok(store)
    }

    /// Whether the store takes writes now, and why not.
    pub fn health(&self) -> &StorageHealth {
        &self.health
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The outbox's durable watermark (see the field's doc).
    pub(crate) fn outbox_durable_below(&self) -> &Arc<std::sync::atomic::AtomicU64> {
        &self.outbox_durable_below
    }

    /// Opens a tree by name.
    pub(crate) fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(name)?)
    }

    /// Runs `work` on tokio's blocking pool: sled calls never run on an async worker or in
    /// an actor's handler.
    pub async fn blocking<F, R>(&self, work: F) -> Result<R, StoreError>
    where
        F: FnOnce() -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        match tokio::task::spawn_blocking(work).await {
            Ok(result) => result,
            Err(error) => Err(StoreError::Thread(error.to_string())),
        }
    }

    /// Applies `change` on the writer thread and returns its result once it is on disk
    /// (group commit). Changes run one at a time, so a change may read, check and write
    /// without racing another; it must not wait for anything but sled.
    pub async fn write<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        F: FnOnce() -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.writer.write(change).await
    }

    /// Runs `change` on the writer thread and `then` with its result once it is on disk,
    /// without a caller waiting: see [`Writer::submit_then`].
    pub fn submit_then<T, C, A>(&self, change: C, then: A) -> Result<(), StoreError>
    where
        C: FnOnce(Option<StoreError>) -> T + Send + 'static,
        T: Send + 'static,
        A: FnOnce(T, Result<(), StoreError>) + Send + 'static,
    {
        self.writer.submit_then(change, then)
    }

    /// Waits, blocking, until every write made before this call is on disk (at open and at
    /// shutdown; everything else acknowledges through [`Store::write`]).
    pub fn durable_blocking(&self) -> Result<(), StoreError> {
        self.writer.write_blocking(|| Ok(()))
    }

    /// Writes `change` atomically (see [`Change`]): all its keys survive a crash or none.
    /// Only from inside a [`Store::write`] change, on the writer thread.
    pub fn apply(&self, change: Change) -> Result<(), StoreError> {
        debug_assert_eq!(
            std::thread::current().name(),
            Some("sled-writer"),
            "store changes are applied by the writer thread"
        );
        self.journal.apply(change)
    }

    /// The writer's counters.
    pub fn writer_stats(&self) -> &WriterStats {
        self.writer.stats()
    }

    /// The writer's counters, shared (for `/metrics`).
    pub fn shared_writer_stats(&self) -> Arc<WriterStats> {
        self.writer.shared_stats()
    }

    /// Flushes everything and waits for the writer thread to end. Call at shutdown after
    /// every other user of the store has stopped.
    pub fn close(self) -> Result<(), StoreError> {
        self.health.close();
        self.durable_blocking()?;
        if self.health.is_broken() {
            return Err(StoreError::Poisoned);
        }
        self.witness.commit().map_err(|error| StoreError::Open {
            dir: self.dir.to_path_buf(),
            source: sled::Error::Io(error),
        })?;
        let thread = self.writer.take_thread();
        drop(self);
        if let Some(thread) = thread {
            // Other clones may still be alive (e.g. in a test); the thread then ends with them.
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
        Ok(())
    }
}

/// Whether every tree of `db` is empty.
fn holds_nothing(db: &sled::Db) -> Result<bool, StoreError> {
    for name in db.tree_names() {
        if !db.open_tree(name)?.is_empty() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Checks (or, on a new store, records durably) the layout version; `true` for an older
/// layout this binary upgrades (the caller marks it current once the journal is replayed).
/// A store that existed but has no version lost its contents (sled recovers a damaged log
/// as empty): refuse it rather than silently start over.
fn check_layout(db: &sled::Db, dir: &Path, existed: bool) -> Result<bool, StoreError> {
    let meta = db.open_tree("meta")?;
    match meta.get(META_LAYOUT)? {
        Some(bytes) => {
            let found = <[u8; 4]>::try_from(bytes.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt("layout version".into()))?;
            if UPGRADABLE_LAYOUTS.contains(&found) {
                return Ok(true);
            } else if found != LAYOUT_VERSION {
                return Err(StoreError::Layout {
                    dir: dir.to_path_buf(),
                    found,
                    expected: LAYOUT_VERSION,
                });
            }
        }
        None if existed => {
            return Err(StoreError::Damaged {
                dir: dir.to_path_buf(),
            });
        }
        None => {
            meta.insert(META_LAYOUT, &LAYOUT_VERSION.to_be_bytes())?;
            db.flush()?;
        }
    }
    Ok(false)
}

/// Big-endian bytes of `value`, for keys that must sort numerically.
pub(crate) fn be(value: u64) -> [u8; 8] {
    value.to_be_bytes()
}

/// Reads a big-endian u64 from the first 8 bytes of `bytes`.
pub(crate) fn read_be(bytes: &[u8]) -> Result<u64, StoreError> {
    bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt("short big-endian key".into()))
}
