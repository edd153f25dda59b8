//! Atomic multi-key changes without sled transactions.
//!
//! sled 0.34 makes every transaction and batch roll its log buffer twice (two log writes,
//! each with `sync_file_range`, through its IO thread pool) under a lock that also excludes
//! flushes; measured here, that was most of the cost of a create. Instead, a durable change
//! is first written as one journal record (a single key, so atomic), then key by key. Only
//! the writer thread writes them, so the log holds the record before its keys, and sled
//! recovers a prefix of its log: a crash that kept any key of a change also kept its record,
//! and [`replay`] at the next open writes the whole change again. Records are removed once
//! a flush has covered their keys ([`Journal::trim`]). Replaying every remaining record in
//! order leaves each key with its latest value: the records left are always the newest ones.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::{be, decode, encode, read_be, StoreError};

/// Name of the journal's tree.
pub const JOURNAL_TREE: &str = "journal";

/// One key to set or remove.
struct Op {
    tree: sled::Tree,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
}

/// Keys to change together, across trees: all or none survive a crash.
#[derive(Default)]
pub struct Change {
    ops: Vec<Op>,
    /// Run once every key is written (e.g. caches of what is on disk).
    after: Vec<Box<dyn FnOnce() + Send>>,
    /// A crash point between the record and the keys (see [`crate::failpoint`]).
    crash_point: Option<&'static str>,
}

/// A [`Change`] as journaled: (tree name, key, value or `None` for a removal).
type Record = Vec<(Vec<u8>, Vec<u8>, Option<Vec<u8>>)>;

impl Change {
    /// An empty change.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` in `tree`.
    pub fn insert(&mut self, tree: &sled::Tree, key: impl AsRef<[u8]>, value: impl Into<Vec<u8>>) {
        self.ops.push(Op {
            tree: tree.clone(),
            key: key.as_ref().to_vec(),
            value: Some(value.into()),
        });
    }

    /// Removes `key` from `tree`.
    pub fn remove(&mut self, tree: &sled::Tree, key: impl AsRef<[u8]>) {
        self.ops.push(Op {
            tree: tree.clone(),
            key: key.as_ref().to_vec(),
            value: None,
        });
    }

    /// Runs `then` once the change is written (not if writing it fails): for in-memory
    /// caches of what is on disk.
    pub fn after_apply(&mut self, then: impl FnOnce() + Send + 'static) {
        self.after.push(Box::new(then));
    }

    /// Names the crash point between this change's journal record and its keys: the crash
    /// leaves exactly the record on disk, which the next open must replay.
    pub fn crash_point(&mut self, name: &'static str) {
        self.crash_point = Some(name);
    }

    fn record(&self) -> Record {
        self.ops
            .iter()
            .map(|op| (op.tree.name().to_vec(), op.key.clone(), op.value.clone()))
            .collect()
    }
}

/// The journal tree and its counters. Records are written by the writer thread and removed
/// by the flusher.
pub struct Journal {
    tree: sled::Tree,
    /// Sequence number of the next record.
    next: AtomicU64,
    /// Every record up to this one has its keys on disk.
    durable_upto: AtomicU64,
    /// Records up to this one are removed.
    trimmed_upto: AtomicU64,
    /// A change failed after its record was written: the keys on disk are half of it, so no
    /// more changes are taken and no record is trimmed (the next open replays it whole).
    poisoned: AtomicBool,
}

impl Journal {
    /// The journal of `db`, which [`replay`] has emptied.
    pub fn open(db: &sled::Db) -> Result<Self, StoreError> {
        Ok(Self {
            tree: db.open_tree(JOURNAL_TREE)?,
            next: AtomicU64::new(1),
            durable_upto: AtomicU64::new(0),
            trimmed_upto: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
        })
    }

    /// Writes `change`: its record, then its keys. On the writer thread only.
    pub fn apply(&self, change: Change) -> Result<(), StoreError> {
        if self.poisoned.load(Ordering::Relaxed) {
            return Err(StoreError::Poisoned);
        }
        if change.ops.is_empty() {
            change.after.into_iter().for_each(|then| then());
            return Ok(());
        }
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        self.tree.insert(be(seq), encode(&change.record())?)?;
        if let Some(name) = change.crash_point {
            crate::failpoint::hit_flushed(name, || {
                let _ = self.tree.flush();
            });
        }
        for op in change.ops {
            let written = match op.value {
                Some(value) => op.tree.insert(op.key, value),
                None => op.tree.remove(op.key),
            };
            if let Err(error) = written {
                self.poisoned.store(true, Ordering::Relaxed);
                tracing::error!(%error, seq, "a store change failed half-way; refusing further changes until a restart replays it");
                return Err(error.into());
            }
        }
        change.after.into_iter().for_each(|then| then());
        Ok(())
    }

    /// Whether a change failed after its record was written (see `poisoned`).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Relaxed)
    }

    /// The last record written so far (0 for none).
    pub fn last_written(&self) -> u64 {
        self.next.load(Ordering::Relaxed) - 1
    }

    /// A flush that began after record `upto` was written has finished.
    pub fn mark_durable(&self, upto: u64) {
        self.durable_upto.fetch_max(upto, Ordering::Relaxed);
    }

    /// Removes the records whose keys are on disk (on the flusher, right after the flush
    /// that covered them; only the flusher trims).
    pub fn trim(&self) -> Result<(), StoreError> {
        if self.poisoned.load(Ordering::Relaxed) {
            return Ok(());
        }
        let durable = self.durable_upto.load(Ordering::Relaxed);
        let mut trimmed = self.trimmed_upto.load(Ordering::Relaxed);
        while trimmed < durable {
            trimmed += 1;
            self.tree.remove(be(trimmed))?;
        }
        self.trimmed_upto.store(trimmed, Ordering::Relaxed);
        Ok(())
    }
}

/// Writes again every change whose record survived, oldest first, makes that durable and
/// empties the journal. Returns how many were replayed. At open, before anyone writes.
pub fn replay(db: &sled::Db) -> Result<usize, StoreError> {
    let journal = db.open_tree(JOURNAL_TREE)?;
    let mut replayed = 0;
    for entry in journal.iter() {
        let (key, value) = entry?;
        read_be(&key)?;
        let record: Record = decode(&value)?;
        for (tree, key, value) in record {
            let tree = db.open_tree(tree)?;
            match value {
                Some(value) => tree.insert(key, value)?,
                None => tree.remove(key)?,
            };
        }
        replayed += 1;
    }
    if replayed > 0 {
        db.flush()?;
        journal.clear()?;
        db.flush()?;
    }
    Ok(replayed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, sled::Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::Config::new()
            .path(dir.path())
            .open()
            .expect("sled opens");
        (dir, db)
    }

    /// Writes only the record of `change`, as if the process died right after it.
    fn record_only(db: &sled::Db, seq: u64, change: &Change) {
        let journal = db.open_tree(JOURNAL_TREE).expect("journal tree");
        let record = encode(&change.record()).expect("record encodes");
        journal.insert(be(seq), record).expect("record written");
    }

    #[test]
    fn a_change_whose_record_survived_is_written_whole_at_open() {
        let (_dir, db) = db();
        let orders = db.open_tree("orders").expect("tree");
        let index = db.open_tree("index").expect("tree");
        index.insert(b"stale", b"x".to_vec()).expect("insert");
        let mut change = Change::new();
        change.insert(&orders, b"o1", b"unpaid".to_vec());
        change.insert(&index, b"fresh", Vec::new());
        change.remove(&index, b"stale");
        record_only(&db, 1, &change);

        assert_eq!(replay(&db).expect("replay"), 1);

        assert_eq!(
            orders.get(b"o1").expect("get").as_deref(),
            Some(&b"unpaid"[..])
        );
        assert!(
            index.contains_key(b"fresh").expect("get"),
            "the index entry was added"
        );
        assert!(
            !index.contains_key(b"stale").expect("get"),
            "the removal was done"
        );
        assert!(
            db.open_tree(JOURNAL_TREE).expect("tree").is_empty(),
            "journal emptied"
        );
        assert_eq!(
            replay(&db).expect("replay again"),
            0,
            "nothing left to replay"
        );
    }

    #[test]
    fn replaying_leftover_records_keeps_the_newest_value() {
        let (_dir, db) = db();
        let orders = db.open_tree("orders").expect("tree");
        let mut first = Change::new();
        first.insert(&orders, b"o1", b"unpaid".to_vec());
        let mut second = Change::new();
        second.insert(&orders, b"o1", b"paid".to_vec());
        record_only(&db, 7, &first);
        record_only(&db, 8, &second);
        orders.insert(b"o1", b"paid".to_vec()).expect("insert");

        assert_eq!(replay(&db).expect("replay"), 2);

        assert_eq!(
            orders.get(b"o1").expect("get").as_deref(),
            Some(&b"paid"[..])
        );
    }

    #[test]
    fn trimming_removes_only_records_a_flush_covered() {
        let (_dir, db) = db();
        let orders = db.open_tree("orders").expect("tree");
        let journal = Journal::open(&db).expect("journal");
        for n in 0u8..3 {
            let mut change = Change::new();
            change.insert(&orders, [n], vec![n]);
            journal.apply(change).expect("apply");
        }
        assert_eq!(journal.last_written(), 3);

        journal.mark_durable(2);
        journal.trim().expect("trim");

        let left: Vec<u64> = db
            .open_tree(JOURNAL_TREE)
            .expect("tree")
            .iter()
            .keys()
            .map(|key| read_be(&key.expect("key")).expect("seq"))
            .collect();
        assert_eq!(left, vec![3], "only the record no flush covered is kept");
        assert_eq!(orders.len(), 3, "every change was written");
    }
}

/// The journal against a model under random crashes and restarts, in child processes.
#[cfg(test)]
mod crash_model;
