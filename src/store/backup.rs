//! Online backup: a copy of every tree into a new store directory, consistent as of one
//! instant, taken while the service keeps running.
//!
//! sled 0.34 has no snapshots and its iterators see concurrent writes, so the copy is made
//! in two passes. Before the first, a subscriber on every tree starts collecting the keys
//! written from then on. The first pass copies every tree on the blocking pool while writes
//! go on (a fuzzy copy). The second runs as one change on the writer thread, where no other
//! durable change can run: it writes into the copy the current value (or absence) of every
//! key written since the watch began, so the copy equals the store at that instant. Writes
//! wait only for that second pass, whose work is what changed during the first. Every
//! change acknowledged before the backup began is in the copy, and every change in it is
//! whole. Writes that need no acknowledgement and are not made by the writer (an outbox
//! entry removed once delivered, an expired idempotency key swept) may land on either side
//! of the instant; each is a single key and redone after a restore if missing.
//!
//! The copy is a store like any other: restore by starting the service with
//! `--data-dir` pointing at it (or moving it into place while the service is stopped).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::witness::META_DURABLE_MARK;
use super::{Store, StoreError};

/// What a backup did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BackupReport {
    /// Where the copy is.
    pub to: PathBuf,
    /// Trees copied.
    pub trees: usize,
    /// Keys the first pass copied.
    pub keys: u64,
    /// Bytes of keys and values the first pass copied.
    pub bytes: u64,
    /// Keys the second pass wrote or removed (what changed during the first).
    pub caught_up: u64,
    /// How long the first pass took, while writes went on (ms).
    pub copy_ms: u64,
    /// How long writes waited for the second pass (ms).
    pub paused_writes_ms: u64,
    /// The durable mark of the last change in the copy.
    pub durable_mark: u64,
}

/// File written in the copy once it is complete (a copy without it is unfinished).
pub const BACKUP_MARKER: &str = "BACKUP";

/// Why a backup could not be made.
fn refuse(to: &Path, why: &str) -> StoreError {
    StoreError::Corrupt(format!("backup to {}: {why}", to.display()))
}

impl Store {
    /// Copies the store into `to`, a directory that must not exist yet (created), as
    /// described in this module; durable when it returns.
    pub async fn backup(&self, to: PathBuf) -> Result<BackupReport, StoreError> {
        if to.exists() {
            return Err(refuse(&to, "the directory exists already"));
        }
        let started = Instant::now();
        let source = self.db.clone();
        let target = to.clone();
        let (watching, copy, keys, bytes) = self
            .blocking(move || {
                // Watch every tree before copying, so the second pass knows what changed.
                let watching = Watch::start(&source)?;
                let copy = sled::Config::new()
                    .path(&target)
                    .cache_capacity(64 << 20)
                    .mode(sled::Mode::HighThroughput)
                    .create_new(true)
                    .open()?;
                let (mut keys, mut bytes) = (0u64, 0u64);
                for name in source.tree_names() {
                    let from = source.open_tree(&name)?;
                    let into = copy.open_tree(&name)?;
                    for entry in from.iter() {
                        let (key, value) = entry?;
                        keys += 1;
                        bytes += (key.len() + value.len()) as u64;
                        into.insert(key, value)?;
                    }
                }
                Ok((watching, copy, keys, bytes))
            })
            .await?;
        let copy_ms = elapsed_ms(started);
        let source = self.db.clone();
        let journal = self.journal.clone();
        let (caught_up, trees, paused, mark) = self
            .write(move || {
                let pausing = Instant::now();
                let (caught_up, trees) = watching.catch_up(&source, &copy)?;
                // Every change before this one is whole in the copy: a restore must not
                // replay their journal records over writes made outside the journal.
                journal.mark_whole_in(&copy)?;
                copy.flush()?;
                let paused = pausing.elapsed();
                let mark = match copy.open_tree("meta")?.get(META_DURABLE_MARK)? {
                    Some(bytes) => super::read_be(&bytes)?,
                    None => 0,
                };
                Ok((caught_up, trees, paused, mark))
            })
            .await?;
        let report = BackupReport {
            to: to.clone(),
            trees,
            keys,
            bytes,
            caught_up,
            copy_ms,
            paused_writes_ms: u64::try_from(paused.as_millis()).unwrap_or(u64::MAX),
            durable_mark: mark,
        };
        let marker =
            serde_json::to_vec_pretty(&report).map_err(|error| refuse(&to, &error.to_string()))?;
        let marker_path = to.join(BACKUP_MARKER);
        self.blocking(move || {
            write_synced(&marker_path, &marker)
                .map_err(|error| StoreError::Sled(sled::Error::Io(error)))
        })
        .await?;
        Ok(report)
    }
}

/// The keys written in each tree since the backup began, gathered from sled's
/// subscribers by one thread per tree (a subscriber's channel holds 1 024 events: left
/// undrained it would block the writer).
struct Watch {
    trees: Vec<WatchedTree>,
    stop: Arc<AtomicBool>,
}

/// One tree's watch: its name, the keys written so far, the thread taking them.
struct WatchedTree {
    name: sled::IVec,
    changed: Arc<Mutex<HashSet<sled::IVec>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Watch {
    fn start(db: &sled::Db) -> Result<Self, StoreError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut trees = Vec::new();
        for name in db.tree_names() {
            let mut events = db.open_tree(&name)?.watch_prefix(Vec::new());
            let changed = Arc::new(Mutex::new(HashSet::new()));
            let (keys, stopping) = (changed.clone(), stop.clone());
            let thread = std::thread::Builder::new()
                .name("backup-watch".into())
                .spawn(move || loop {
                    match events.next_timeout(Duration::from_millis(50)) {
                        Ok(event) => {
                            keys.lock().insert(event.key().clone());
                        }
                        // Stops only once nothing came for a while: every change made
                        // before `stop` was set has been taken.
                        Err(RecvTimeoutError::Timeout) if stopping.load(Ordering::Acquire) => break,
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                })
                .map_err(|error| StoreError::Thread(error.to_string()))?;
            trees.push(WatchedTree {
                name,
                changed,
                thread,
            });
        }
        Ok(Self { trees, stop })
    }

    /// On the writer thread: writes into `copy` the current value (or the absence) of every
    /// key written since the watch began; trees that did not exist then are compared
    /// whole. Returns the keys written or removed and the trees in the copy.
    fn catch_up(self, source: &sled::Db, copy: &sled::Db) -> Result<(u64, usize), StoreError> {
        self.stop.store(true, Ordering::Release);
        let mut changed = 0;
        let mut watched = HashSet::new();
        for WatchedTree {
            name,
            changed: keys,
            thread,
        } in self.trees
        {
            let _ = thread.join();
            let from = source.open_tree(&name)?;
            let into = copy.open_tree(&name)?;
            for key in keys.lock().iter() {
                match from.get(key)? {
                    Some(value) => into.insert(key, value)?,
                    None => into.remove(key)?,
                };
                changed += 1;
            }
            watched.insert(name);
        }
        let names = source.tree_names();
        for name in names.iter().filter(|name| !watched.contains(*name)) {
            changed += catch_up_tree(&source.open_tree(name)?, &copy.open_tree(name)?)?;
        }
        Ok((changed, names.len()))
    }
}

/// Makes the tree `into` equal to `from` by walking both in key order; returns the keys
/// written or removed. For trees made during a backup (no watch saw their first writes).
fn catch_up_tree(from: &sled::Tree, into: &sled::Tree) -> Result<u64, StoreError> {
    use std::cmp::Ordering;
    let mut changed = 0;
    let mut theirs = from.iter();
    let mut ours = into.iter();
    let mut their_next = theirs.next().transpose()?;
    let mut our_next = ours.next().transpose()?;
    loop {
        // Which side to move on: the source's key only (copy it), the copy's key only
        // (remove it), or the same key on both (copy the value if it differs).
        let order = match (&their_next, &our_next) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((theirs, _)), Some((ours, _))) => theirs.cmp(ours),
        };
        if order != Ordering::Greater {
            if let Some((key, value)) = &their_next {
                let same = order == Ordering::Equal
                    && our_next.as_ref().is_some_and(|(_, copied)| copied == value);
                if !same {
                    into.insert(key, value.clone())?;
                    changed += 1;
                }
            }
            their_next = theirs.next().transpose()?;
        } else if let Some((key, _)) = &our_next {
            into.remove(key)?;
            changed += 1;
        }
        if order != Ordering::Less {
            our_next = ours.next().transpose()?;
        }
    }
    Ok(changed)
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Writes `bytes` to `path` and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::{catch_up_tree, Watch};

    /// A tree's name and its entries.
    type Tree = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

    fn contents(db: &sled::Db) -> Vec<Tree> {
        let mut names = db.tree_names();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let tree = db.open_tree(&name).unwrap();
                let entries = tree
                    .iter()
                    .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
                    .collect();
                (name.to_vec(), entries)
            })
            .filter(|(_, entries): &Tree| !entries.is_empty())
            .collect()
    }

    /// What the first pass copies (every tree, key by key).
    fn copy_all(source: &sled::Db, copy: &sled::Db) {
        for name in source.tree_names() {
            let into = copy.open_tree(&name).unwrap();
            for entry in source.open_tree(&name).unwrap().iter() {
                let (key, value) = entry.unwrap();
                into.insert(key, value).unwrap();
            }
        }
    }

    /// The second pass makes a stale copy equal to the store: keys added, changed and
    /// removed during the first, in every tree, at either end of the key order, and a tree
    /// made meanwhile.
    #[test]
    fn the_catching_up_pass_writes_what_changed_during_the_copy() {
        let source = sled::Config::new().temporary(true).open().unwrap();
        let copy = sled::Config::new().temporary(true).open().unwrap();
        let orders = source.open_tree("orders").unwrap();
        for i in 0u32..3000 {
            orders.insert(i.to_be_bytes(), vec![1; 8]).unwrap();
        }
        source
            .open_tree("outbox")
            .unwrap()
            .insert(b"x", b"y".to_vec())
            .unwrap();
        let watching = Watch::start(&source).unwrap();
        copy_all(&source, &copy);

        // What the writer changes while the first pass copies (more than a subscriber's
        // channel holds, so the watch must drain it as it goes).
        orders.remove(0u32.to_be_bytes()).unwrap();
        orders.remove(2999u32.to_be_bytes()).unwrap();
        for i in 100u32..2100 {
            orders.insert(i.to_be_bytes(), vec![2; 8]).unwrap();
        }
        orders.insert(5000u32.to_be_bytes(), vec![3; 8]).unwrap();
        source.open_tree("outbox").unwrap().remove(b"x").unwrap();
        source
            .open_tree("made_meanwhile")
            .unwrap()
            .insert(b"j", b"k".to_vec())
            .unwrap();
        assert_ne!(contents(&source), contents(&copy));

        let (changed, _) = watching.catch_up(&source, &copy).unwrap();

        assert_eq!(contents(&source), contents(&copy));
        assert_eq!(changed, 2 + 2000 + 1 + 1 + 1);
    }

    #[test]
    fn comparing_a_tree_whole_makes_it_equal() {
        let source = sled::Config::new().temporary(true).open().unwrap();
        let copy = sled::Config::new().temporary(true).open().unwrap();
        let (from, into) = (source.open_tree("t").unwrap(), copy.open_tree("t").unwrap());
        for i in 0u32..10 {
            from.insert(i.to_be_bytes(), vec![1]).unwrap();
            into.insert((i * 2).to_be_bytes(), vec![1]).unwrap();
        }
        into.insert(3u32.to_be_bytes(), vec![9]).unwrap();

        let changed = catch_up_tree(&from, &into).unwrap();

        assert_eq!(contents(&source), contents(&copy));
        assert!(changed > 0);
        assert_eq!(catch_up_tree(&from, &into).unwrap(), 0);
    }
}
