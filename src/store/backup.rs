//! Online backup: a copy of every tree into a new store directory, consistent as of one
//! instant, taken while the service keeps running.
//!
//! sled 0.34 has no snapshots and its iterators see concurrent writes, so the copy is made
//! in two passes. The first copies every tree on the blocking pool while writes go on (a
//! fuzzy copy). The second runs as one change on the writer thread, where no other durable
//! change can run: it walks each tree beside its copy and writes only what differs, so the
//! copy equals the store at that instant. Writes wait only for that second pass, which
//! reads everything once more but writes only what changed during the first. Every change
//! acknowledged before the backup began is in the copy, and every change in it is whole.
//! Writes that need no acknowledgement and are not made by the writer (an outbox entry
//! removed once delivered, an expired idempotency key swept) may land on either side of
//! the instant; each is a single key and redone after a restore if missing.
//!
//! The copy is a store like any other: restore by starting the service with
//! `--data-dir` pointing at it (or moving it into place while the service is stopped).

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::witness::META_DURABLE_MARK;
use super::{Store, StoreError};

/// What a backup did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BackupReport {
    /// Where the copy is.
    pub to: PathBuf,
    /// Trees copied.
    pub trees: usize,
    /// Keys in the copy.
    pub keys: u64,
    /// Bytes of keys and values in the copy.
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
        let copy = self
            .blocking(move || {
                let copy = sled::Config::new()
                    .path(&target)
                    .cache_capacity(64 << 20)
                    .mode(sled::Mode::HighThroughput)
                    .create_new(true)
                    .open()?;
                for name in source.tree_names() {
                    let from = source.open_tree(&name)?;
                    let into = copy.open_tree(&name)?;
                    for entry in from.iter() {
                        let (key, value) = entry?;
                        into.insert(key, value)?;
                    }
                }
                Ok(copy)
            })
            .await?;
        let copy_ms = elapsed_ms(started);
        let source = self.db.clone();
        let (caught_up, keys, bytes, trees, paused, mark) = self
            .write(move || {
                let pausing = Instant::now();
                let (caught_up, keys, bytes, trees) = catch_up(&source, &copy)?;
                copy.flush()?;
                let paused = pausing.elapsed();
                let mark = match copy.open_tree("meta")?.get(META_DURABLE_MARK)? {
                    Some(bytes) => super::read_be(&bytes)?,
                    None => 0,
                };
                Ok((caught_up, keys, bytes, trees, paused, mark))
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

/// Makes every tree of `copy` equal to the same tree of `source`, by walking both in key
/// order; returns the keys written or removed, and the keys, bytes and trees in the copy.
fn catch_up(source: &sled::Db, copy: &sled::Db) -> Result<(u64, u64, u64, usize), StoreError> {
    use std::cmp::Ordering;
    let mut changed = 0;
    let mut keys = 0;
    let mut bytes = 0;
    let names = source.tree_names();
    for name in &names {
        let from = source.open_tree(name)?;
        let into = copy.open_tree(name)?;
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
                    keys += 1;
                    bytes += (key.len() + value.len()) as u64;
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
    }
    Ok((changed, keys, bytes, names.len()))
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
    use super::catch_up;

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

    /// The second pass makes a stale copy equal to the store: keys added, changed and
    /// removed since the copy, in every tree, at either end of the key order.
    #[test]
    fn the_catching_up_pass_makes_the_copy_equal_to_the_store() {
        let source = sled::Config::new().temporary(true).open().unwrap();
        let copy = sled::Config::new().temporary(true).open().unwrap();
        let orders = source.open_tree("orders").unwrap();
        for i in 0u32..200 {
            orders.insert(i.to_be_bytes(), vec![1; 8]).unwrap();
        }
        source
            .open_tree("outbox")
            .unwrap()
            .insert(b"x", b"y".to_vec())
            .unwrap();
        let (changed, ..) = catch_up(&source, &copy).unwrap();
        assert_eq!(changed, 201);
        assert_eq!(contents(&source), contents(&copy));

        // What the writer changes while the first pass copies.
        orders.remove(0u32.to_be_bytes()).unwrap();
        orders.remove(199u32.to_be_bytes()).unwrap();
        orders.insert(100u32.to_be_bytes(), vec![2; 8]).unwrap();
        orders.insert(500u32.to_be_bytes(), vec![3; 8]).unwrap();
        source.open_tree("outbox").unwrap().remove(b"x").unwrap();
        source
            .open_tree("journal")
            .unwrap()
            .insert(b"j", b"k".to_vec())
            .unwrap();

        let (changed, keys, _, _) = catch_up(&source, &copy).unwrap();

        assert_eq!(changed, 6);
        assert_eq!(keys, 200);
        assert_eq!(contents(&source), contents(&copy));
        let (unchanged, ..) = catch_up(&source, &copy).unwrap();
        assert_eq!(unchanged, 0, "a copy already equal needs no writes");
    }
}
