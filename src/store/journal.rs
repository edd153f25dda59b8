//! Atomic multi-key changes without sled transactions.
//!
//! sled 0.34 makes every transaction and batch roll its log buffer twice (two log writes,
//! each with `sync_file_range`, through its IO thread pool) under a lock that also excludes
//! flushes; measured here, that was most of the cost of a create. Instead, a durable change
//! is first written as one journal record (a single key, so atomic), then key by key. Only
//! the writer thread writes them, so the log holds the record before its keys, and sled
//! recovers a prefix of its log: a crash that kept any key of a change also kept its record,
//! and [`replay`] at the next open writes the whole change again.
//!
//! Records live in a fixed ring of [`SLOTS`] keys (slot = sequence number mod `SLOTS`), so
//! once the ring is full writing one overwrites an existing key: the journal tree stops
//! growing, splitting and merging, and nothing is ever removed from it (removing each
//! record after its flush cost a sled operation per change, and the growing keys a node
//! split every few records). Overwriting a record is safe whenever it happens: the old
//! record's keys were all written before the new record (a change whose keys failed half-way
//! stops the journal, see [`Journal::write_trim_mark`]), so a crash that kept the new record
//! kept them too. Which records still
//! matter is said by the trim mark, a key of the journal tree the applier writes once per
//! batch, after the batch: every record up to it had all its keys written before it, so a
//! crash that kept the mark kept them. [`replay`] writes again, oldest first, exactly the
//! records after the mark, which are always the newest ones, so each key ends with its
//! latest value.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{be, decode, encode_into, read_be, StoreError};

/// Name of the journal's tree: the ring of records and the trim mark.
pub const JOURNAL_TREE: &str = "journal_ring";
/// The tree of stores written before the ring (one growing key per record, each removed
/// after its flush): replayed and emptied at open, never written again.
const LEGACY_JOURNAL_TREE: &str = "journal";
/// How many records the ring holds. Small in unit tests, so the crash model wraps it.
const SLOTS: u64 = if cfg!(test) { 4 } else { 1024 };
/// The trim mark's key (8-byte slot keys never collide with it).
const TRIM_MARK: &[u8] = b"trimmed-upto";

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
    /// Run once a flush made the change durable (see [`Change::after_flush`]).
    after_flush: Vec<Box<dyn FnOnce() + Send>>,
    /// A crash point between the record and the keys (see [`crate::failpoint`]).
    crash_point: Option<&'static str>,
}

/// A [`Change`] as journaled: (tree name, key, value or `None` for a removal).
type Record = Vec<(Vec<u8>, Vec<u8>, Option<Vec<u8>>)>;
/// A [`Record`] borrowed from the change it journals (it encodes the same).
type BorrowedRecord<'a> = Vec<(&'a [u8], &'a [u8], Option<&'a [u8]>)>;

impl Change {
    /// An empty change.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether it changes no key.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
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

    /// Runs `then` on the flusher's thread once the flush that makes the change durable
    /// succeeded, before any caller of that flush is answered (not if writing or flushing
    /// it fails): for what may be told to others only once it is on disk.
    pub fn after_flush(&mut self, then: impl FnOnce() + Send + 'static) {
        self.after_flush.push(Box::new(then));
    }

    /// Names the crash point between this change's journal record and its keys: the crash
    /// leaves exactly the record on disk, which the next open must replay.
    pub fn crash_point(&mut self, name: &'static str) {
        self.crash_point = Some(name);
    }

    /// The change as an owned record, as replay decodes it.
    #[cfg(test)]
    fn record(&self) -> Record {
        self.ops
            .iter()
            .map(|op| (op.tree.name().to_vec(), op.key.clone(), op.value.clone()))
            .collect()
    }

    /// About how many bytes the change's keys and values take.
    fn bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| 24 + op.key.len() + op.value.as_ref().map_or(0, Vec::len))
            .sum()
    }

    /// Appends the change's [`Record`] encoding to `out`, from the keys and values as they
    /// are: copying every key and value into an owned record first was a tenth of the
    /// writer's time on creates. (A borrowed slice encodes as a `Vec<u8>` does.)
    fn encode_record_into(&self, out: &mut Vec<u8>) -> Result<(), StoreError> {
        let names: Vec<sled::IVec> = self.ops.iter().map(|op| op.tree.name()).collect();
        let borrowed: BorrowedRecord<'_> = self
            .ops
            .iter()
            .zip(&names)
            .map(|(op, name)| (name.as_ref(), op.key.as_slice(), op.value.as_deref()))
            .collect();
        encode_into(&borrowed, out)
    }
}

/// The journal's ring and its counters. Records and the trim mark are written by the writer
/// thread only.
pub struct Journal {
    tree: sled::Tree,
    /// Sequence number of the next record.
    next: AtomicU64,
    /// The [`Change::after_flush`] hooks of the changes written since the applier last
    /// took them (once per batch, see [`Journal::take_after_flush`]).
    after_flush: parking_lot::Mutex<Vec<Box<dyn FnOnce() + Send>>>,
    /// The trim mark last written.
    mark_written: AtomicU64,
    /// The record whose keys are being written, left set if writing them failed or
    /// panicked (0: none): the keys on disk are half of that change, so no more changes
    /// are taken and the trim mark stops just before it (the next open replays it whole).
    torn: AtomicU64,
}

impl Journal {
    /// The journal of `db`, which [`replay`] must have brought up to date first (so no
    /// record is after the mark). Numbering goes on after the newest record left in the
    /// ring or the mark, whichever is later, so a new record never sorts before an old one.
    pub fn open(db: &sled::Db) -> Result<Self, StoreError> {
        let tree = db.open_tree(JOURNAL_TREE)?;
        let mark = trim_mark(&tree)?;
        let mut last = mark;
        for entry in tree.iter() {
            let (key, value) = entry?;
            if key.as_ref() != TRIM_MARK {
                last = last.max(read_be(&value)?);
            }
        }
        Ok(Self {
            tree,
            next: AtomicU64::new(last + 1),
            after_flush: parking_lot::Mutex::new(Vec::new()),
            mark_written: AtomicU64::new(mark),
            torn: AtomicU64::new(0),
        })
    }

    /// Writes `change`: its record, then its keys. On the writer thread only.
    pub fn apply(&self, change: Change) -> Result<(), StoreError> {
        if self.is_poisoned() {
            return Err(StoreError::Poisoned);
        }
        if change.ops.is_empty() {
            change.after.into_iter().for_each(|then| then());
            self.after_flush.lock().extend(change.after_flush);
            return Ok(());
        }
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let mut value = Vec::with_capacity(64 + change.bytes());
        value.extend_from_slice(&be(seq));
        change.encode_record_into(&mut value)?;
        self.tree.insert(be(seq % SLOTS), value)?;
        if let Some(name) = change.crash_point {
            crate::failpoint::hit_flushed(name, || {
                let _ = self.tree.flush();
            });
        }
        // Set while the keys are written: a failure or a panic (caught by the writer) leaves
        // it set, and the change is torn.
        self.torn.store(seq, Ordering::Relaxed);
        for op in change.ops {
            let written = match op.value {
                Some(value) => op.tree.insert(op.key, value),
                None => op.tree.remove(op.key),
            };
            if let Err(error) = written {
                tracing::error!(%error, seq, "a store change failed half-way; refusing further changes until a restart replays it");
                return Err(error.into());
            }
        }
        self.torn.store(0, Ordering::Relaxed);
        change.after.into_iter().for_each(|then| then());
        self.after_flush.lock().extend(change.after_flush);
        Ok(())
    }

    /// The [`Change::after_flush`] hooks of the changes written since the last call: the
    /// applier hands them to the flusher with the batch they belong to.
    pub fn take_after_flush(&self) -> Vec<Box<dyn FnOnce() + Send>> {
        std::mem::take(&mut *self.after_flush.lock())
    }

    /// Whether a change failed (or panicked) after its record was written (see `torn`).
    pub fn is_poisoned(&self) -> bool {
        self.torn.load(Ordering::Relaxed) != 0
    }

    /// The last sequence number handed out (a record whose own insert failed has one too:
    /// its slot keeps an older record, which replay handles like any other).
    pub fn last_written(&self) -> u64 {
        self.next.load(Ordering::Relaxed) - 1
    }

    /// Moves the trim mark to the last record written, if it moved: once per batch, on the
    /// writer thread after the batch's changes, so the log holds the mark after every key
    /// it vouches for. After a torn change, to just before it: the next open replays that
    /// change alone (no change is taken after it).
    pub fn write_trim_mark(&self) -> Result<(), StoreError> {
        let upto = match self.torn.load(Ordering::Relaxed) {
            0 => self.last_written(),
            torn => torn - 1,
        };
        if upto <= self.mark_written.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.tree.insert(TRIM_MARK, &be(upto))?;
        self.mark_written.store(upto, Ordering::Relaxed);
        Ok(())
    }
}

impl Journal {
    /// Sets the trim mark of `copy`, a copy of this store made on the writer thread between
    /// two changes, to the last record written: every change up to it is whole in the copy.
    pub fn mark_whole_in(&self, copy: &sled::Db) -> Result<(), StoreError> {
        copy.open_tree(JOURNAL_TREE)?
            .insert(TRIM_MARK, &be(self.last_written()))?;
        Ok(())
    }
}

/// The trim mark of the ring `tree` (0 for a new one).
fn trim_mark(tree: &sled::Tree) -> Result<u64, StoreError> {
    match tree.get(TRIM_MARK)? {
        Some(mark) => read_be(&mark),
        None => Ok(0),
    }
}

/// The records of the ring `tree` after its trim mark, oldest first: the changes a crash
/// may have left in part.
pub(crate) fn records_after_mark(tree: &sled::Tree) -> Result<Vec<(u64, Record)>, StoreError> {
    let mark = trim_mark(tree)?;
    let mut records = Vec::new();
    for entry in tree.iter() {
        let (key, value) = entry?;
        if key.as_ref() == TRIM_MARK {
            continue;
        }
        if key.len() != 8 {
            return Err(StoreError::Corrupt("a journal slot with a bad key".into()));
        }
        let seq = read_be(&value)?;
        if seq > mark {
            records.push((seq, decode(&value[8..])?));
        }
    }
    records.sort_unstable_by_key(|(seq, _)| *seq);
    Ok(records)
}

/// Writes again every change whose record is after the trim mark, oldest first, makes that
/// durable and moves the mark past them (and does the same, once, for the journal of a
/// store written before the ring). Returns how many were replayed. At open, before anyone
/// writes.
pub fn replay(db: &sled::Db) -> Result<usize, StoreError> {
    let replayed = replay_legacy(db)?;
    let ring = db.open_tree(JOURNAL_TREE)?;
    let records = records_after_mark(&ring)?;
    let Some(&(last, _)) = records.last() else {
        return Ok(replayed);
    };
    let count = records.len();
    for (_, record) in records {
        write_record(db, record)?;
    }
    db.flush()?;
    ring.insert(TRIM_MARK, &be(last))?;
    db.flush()?;
    Ok(replayed + count)
}

/// [`replay`] for the journal tree of stores written before the ring.
fn replay_legacy(db: &sled::Db) -> Result<usize, StoreError> {
    if !db
        .tree_names()
        .iter()
        .any(|name| name == LEGACY_JOURNAL_TREE.as_bytes())
    {
        return Ok(0);
    }
    let journal = db.open_tree(LEGACY_JOURNAL_TREE)?;
    let mut replayed = 0;
    for entry in journal.iter() {
        let (key, value) = entry?;
        read_be(&key)?;
        write_record(db, decode(&value)?)?;
        replayed += 1;
    }
    if replayed > 0 {
        db.flush()?;
        journal.clear()?;
        db.flush()?;
    }
    Ok(replayed)
}

/// Writes every key of one record.
fn write_record(db: &sled::Db, record: Record) -> Result<(), StoreError> {
    for (tree, key, value) in record {
        let tree = db.open_tree(tree)?;
        match value {
            Some(value) => tree.insert(key, value)?,
            None => tree.remove(key)?,
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::encode;

    fn db() -> (tempfile::TempDir, sled::Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::Config::new()
            .path(dir.path())
            .open()
            .expect("sled opens");
        (dir, db)
    }

    #[test]
    fn a_record_encoded_from_borrowed_parts_decodes_as_the_owned_record() {
        let (_dir, db) = db();
        let orders = db.open_tree("orders").expect("tree");
        let mut change = Change::new();
        change.insert(&orders, b"o1", vec![7u8; 300]);
        change.remove(&orders, b"o2");
        change.insert(&db.open_tree("meta").expect("tree"), b"", Vec::new());
        let mut borrowed = Vec::new();
        change.encode_record_into(&mut borrowed).expect("encodes");
        assert_eq!(borrowed, encode(&change.record()).expect("encodes"));
        let decoded: Record = decode(&borrowed).expect("decodes");
        assert_eq!(decoded, change.record());
    }

    /// Writes only the record of `change` into its slot, as if the process died right
    /// after it.
    fn record_only(db: &sled::Db, seq: u64, change: &Change) {
        let journal = db.open_tree(JOURNAL_TREE).expect("journal tree");
        let mut value = be(seq).to_vec();
        value.extend(encode(&change.record()).expect("record encodes"));
        journal
            .insert(be(seq % SLOTS), value)
            .expect("record written");
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
        let ring = db.open_tree(JOURNAL_TREE).expect("tree");
        assert!(
            records_after_mark(&ring).expect("records").is_empty(),
            "the mark moved past the replayed record"
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
        // The newer record sits in a lower slot: replay goes by sequence, not by slot.
        record_only(&db, SLOTS - 1, &first);
        record_only(&db, SLOTS, &second);
        orders.insert(b"o1", b"paid".to_vec()).expect("insert");

        assert_eq!(replay(&db).expect("replay"), 2);

        assert_eq!(
            orders.get(b"o1").expect("get").as_deref(),
            Some(&b"paid"[..])
        );
    }

    #[test]
    fn records_up_to_the_trim_mark_are_never_replayed() {
        let (_dir, db) = db();
        let orders = db.open_tree("orders").expect("tree");
        let journal = Journal::open(&db).expect("journal");
        // More changes than slots: the ring wraps and overwrites its oldest records.
        for n in 0..(SLOTS as u8 + 3) {
            let mut change = Change::new();
            change.insert(&orders, b"o1", vec![n]);
            journal.apply(change).expect("apply");
        }
        let last = journal.last_written();
        assert_eq!(last, SLOTS + 3);
        let ring = db.open_tree(JOURNAL_TREE).expect("tree");
        assert_eq!(
            ring.len() as u64,
            SLOTS,
            "the ring never grows past its slots"
        );

        let after: Vec<u64> = records_after_mark(&ring)
            .expect("records")
            .into_iter()
            .map(|(seq, _)| seq)
            .collect();
        let newest: Vec<u64> = (last - SLOTS + 1..=last).collect();
        assert_eq!(
            after, newest,
            "before any mark, the ring's records in order"
        );

        journal.write_trim_mark().expect("mark");
        assert!(records_after_mark(&ring).expect("records").is_empty());
        // A key written outside the journal after the mark: replaying a record the mark
        // covers would put the old value back.
        orders.insert(b"o1", b"later".to_vec()).expect("insert");
        drop(journal);
        assert_eq!(replay(&db).expect("replay"), 0);
        assert_eq!(
            orders.get(b"o1").expect("get").as_deref(),
            Some(&b"later"[..])
        );
        let reopened = Journal::open(&db).expect("journal");
        assert_eq!(
            reopened.last_written(),
            last,
            "numbering goes on after the records left in the ring"
        );
    }

    #[test]
    fn a_torn_change_is_the_only_one_replayed_and_nothing_is_taken_after_it() {
        let (_dir, db) = db();
        let orders = db.open_tree("orders").expect("tree");
        let journal = Journal::open(&db).expect("journal");
        for n in 0u8..3 {
            let mut change = Change::new();
            change.insert(&orders, [n], vec![n]);
            journal.apply(change).expect("apply");
        }
        // As if writing the last change's keys had failed or panicked half-way.
        journal
            .torn
            .store(journal.last_written(), Ordering::Relaxed);

        journal.write_trim_mark().expect("mark");

        let ring = db.open_tree(JOURNAL_TREE).expect("tree");
        let after: Vec<u64> = records_after_mark(&ring)
            .expect("records")
            .into_iter()
            .map(|(seq, _)| seq)
            .collect();
        assert_eq!(after, vec![3], "the torn change alone is left to replay");
        let mut next = Change::new();
        next.insert(&orders, b"later", Vec::new());
        assert!(matches!(journal.apply(next), Err(StoreError::Poisoned)));
    }

    /// Opens the store in `dir` as a start does, then closes it.
    fn start_and_stop(dir: &std::path::Path) -> Result<(), StoreError> {
        let config = crate::store::StoreConfig::for_tests(dir);
        // sled lets go of its lock a moment after the last handle is dropped.
        for _ in 0..200 {
            match crate::store::Store::open(&config) {
                Err(StoreError::Open { source, .. })
                    if source.to_string().contains("could not acquire lock") =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                opened => return opened?.close(),
            }
        }
        panic!("the store's lock was never released");
    }

    /// Opens the stopped store's sled database directly, once the store's last threads have
    /// let go of its lock.
    fn open_raw(dir: &std::path::Path) -> sled::Db {
        for _ in 0..200 {
            if let Ok(db) = sled::Config::new().path(dir).open() {
                return db;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("sled did not open {}", dir.display());
    }

    /// Sets the store's layout version behind its back (the store stopped).
    fn set_layout(dir: &std::path::Path, version: u32) -> sled::Db {
        let db = open_raw(dir);
        db.open_tree("meta")
            .expect("meta")
            .insert(b"layout_version", &version.to_be_bytes())
            .expect("insert");
        db.flush().expect("flush");
        db
    }

    #[test]
    fn a_layout_4_store_killed_with_a_journal_record_opens_whole_as_the_current_layout() {
        let dir = tempfile::tempdir().expect("temp dir");
        start_and_stop(dir.path()).expect("a new store");
        let db = set_layout(dir.path(), 4);
        let orders = db.open_tree("orders").expect("tree");
        let mut change = Change::new();
        change.insert(&orders, b"o1", b"unpaid".to_vec());
        db.open_tree(LEGACY_JOURNAL_TREE)
            .expect("tree")
            .insert(be(9), encode(&change.record()).expect("encodes"))
            .expect("insert");
        db.flush().expect("flush");
        drop((orders, change, db));

        start_and_stop(dir.path()).expect("the old store opens");

        let db = open_raw(dir.path());
        let layout = db.open_tree("meta").expect("meta").get(b"layout_version");
        assert_eq!(
            layout.expect("get").as_deref(),
            Some(&crate::store::LAYOUT_VERSION.to_be_bytes()[..])
        );
        let orders = db.open_tree("orders").expect("tree");
        assert_eq!(
            orders.get(b"o1").expect("get").as_deref(),
            Some(&b"unpaid"[..]),
            "the old journal's record was replayed"
        );
    }

    #[test]
    fn a_store_of_a_newer_layout_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        start_and_stop(dir.path()).expect("a new store");
        let newer = crate::store::LAYOUT_VERSION + 1;
        drop(set_layout(dir.path(), newer));

        let refused = start_and_stop(dir.path());

        assert!(
            matches!(
                refused,
                Err(StoreError::Layout {
                    found,
                    expected: crate::store::LAYOUT_VERSION,
                    ..
                }) if found == newer
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn the_journal_of_a_store_from_before_the_ring_is_replayed_once() {
        let (_dir, db) = db();
        let orders = db.open_tree("orders").expect("tree");
        let legacy = db.open_tree(LEGACY_JOURNAL_TREE).expect("tree");
        let mut change = Change::new();
        change.insert(&orders, b"o1", b"unpaid".to_vec());
        legacy
            .insert(be(41), encode(&change.record()).expect("encodes"))
            .expect("insert");

        assert_eq!(replay(&db).expect("replay"), 1);

        assert_eq!(
            orders.get(b"o1").expect("get").as_deref(),
            Some(&b"unpaid"[..])
        );
        assert!(legacy.is_empty(), "the old journal is emptied");
        assert_eq!(replay(&db).expect("replay again"), 0);
    }
}

/// The journal against a model under random crashes and restarts, in child processes.
#[cfg(test)]
mod crash_model;
