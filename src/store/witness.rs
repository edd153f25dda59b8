//! The store's witness: how far the store must reach, written outside sled.
//!
//! sled 0.34 opens a damaged log without an error: a `db` file truncated to half, random
//! bytes near its end, or a `db` deleted with `conf` kept all open as a store that silently
//! lost its newest writes (orders acknowledged to members, paid registrations), after which
//! their apply ids and keys are issued again. So the store keeps its own witness.
//!
//! The writer stamps every batch it applies with a sequence number, the *durable mark*
//! (a key in sled's `meta` tree, written last in the batch). Once the flush covering a
//! batch has returned, its mark is copied into the small file `witness` beside sled's
//! files. At open, sled's mark must have reached the witness's: a store behind it lost
//! acknowledged data and is refused, naming the data dir (SPEC §3: never wipe, never
//! silently rebuild).
//!
//! The file is written after every flush (a `pwrite` into the page cache, which a SIGKILL
//! does not lose) and synced at most once a second and at close. A power cut can lose the
//! last second of it: then the witness is *older* than the store, the safe direction (a
//! false alarm is impossible; a loss of that last second of writes would go unnoticed).
//! Two checksummed slots are written in turn, so a torn write leaves the other one.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The witness file's name in the data dir.
pub const WITNESS_FILE: &str = "witness";
/// Key of the durable mark in sled's `meta` tree.
pub const META_DURABLE_MARK: &[u8] = b"durable_mark";

const MAGIC: &[u8; 8] = b"ocwit001";
const SLOT: u64 = 24;
/// Longest a recorded mark waits in the page cache before it is synced.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// What [`Witness::open`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// No witness yet (a new data dir, or one written before witnesses existed).
    None,
    /// The highest mark recorded.
    Mark(u64),
    /// The file exists but no slot is readable: it was damaged or replaced.
    Unreadable,
}

/// The witness file of one data dir.
pub struct Witness {
    file: File,
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    recorded: u64,
    /// Writes so far: the slot alternates with each write, so a torn write leaves the last.
    writes: u64,
    synced: u64,
    last_sync: Instant,
}

fn checksum(mark: u64) -> [u8; 8] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(MAGIC)
        .chain_update(mark.to_be_bytes())
        .finalize();
    let mut sum = [0u8; 8];
    sum.copy_from_slice(&digest[..8]);
    sum
}

fn encode_slot(mark: u64) -> [u8; SLOT as usize] {
    let mut slot = [0u8; SLOT as usize];
    slot[..8].copy_from_slice(MAGIC);
    slot[8..16].copy_from_slice(&mark.to_be_bytes());
    slot[16..].copy_from_slice(&checksum(mark));
    slot
}

fn decode_slot(bytes: &[u8]) -> Option<u64> {
    if bytes.len() != SLOT as usize || &bytes[..8] != MAGIC {
        return None;
    }
    let mark = u64::from_be_bytes(bytes[8..16].try_into().ok()?);
    (bytes[16..] == checksum(mark)).then_some(mark)
}

impl Witness {
    /// Reads the witness of `dir` (without creating anything).
    pub fn read(dir: &Path) -> std::io::Result<Found> {
        let path = dir.join(WITNESS_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Found::None),
            Err(error) => return Err(error),
        };
        let best = bytes
            .chunks(SLOT as usize)
            .take(2)
            .filter_map(decode_slot)
            .max();
        Ok(match best {
            Some(mark) => Found::Mark(mark),
            None => Found::Unreadable,
        })
    }

    /// Opens (or creates) the witness of `dir`, starting from `mark` (what the store holds,
    /// checked against [`Witness::read`] by the caller), and syncs it.
    pub fn open(dir: &Path, mark: u64) -> std::io::Result<Self> {
        let path = dir.join(WITNESS_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let witness = Self {
            file,
            path,
            state: Mutex::new(State {
                recorded: 0,
                writes: 0,
                synced: 0,
                last_sync: Instant::now(),
            }),
        };
        witness.record(mark)?;
        witness.sync()?;
        Ok(witness)
    }

    /// The file's path (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that every batch up to `mark` is on disk (after the flush that covered it).
    /// Synced when the last sync is older than [`SYNC_EVERY`].
    pub fn record(&self, mark: u64) -> std::io::Result<()> {
        let mut state = self.state.lock();
        if mark <= state.recorded {
            return Ok(());
        }
        self.file
            .write_all_at(&encode_slot(mark), (state.writes % 2) * SLOT)?;
        state.writes += 1;
        state.recorded = mark;
        if state.last_sync.elapsed() >= SYNC_EVERY {
            self.file.sync_data()?;
            state.synced = mark;
            state.last_sync = Instant::now();
        }
        Ok(())
    }

    /// Makes the last recorded mark durable (at open and close).
    pub fn sync(&self) -> std::io::Result<()> {
        let mut state = self.state.lock();
        if state.synced < state.recorded {
            self.file.sync_data()?;
            state.synced = state.recorded;
            state.last_sync = Instant::now();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_readable_slot_wins_and_a_torn_one_is_skipped() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(Witness::read(dir.path()).expect("read"), Found::None);
        let witness = Witness::open(dir.path(), 7).expect("open");
        witness.record(8).expect("record");
        witness.sync().expect("sync");
        assert_eq!(Witness::read(dir.path()).expect("read"), Found::Mark(8));

        // Tear the slot of 8: the slot of 7 is still there.
        let path = dir.path().join(WITNESS_FILE);
        let mut bytes = std::fs::read(&path).expect("bytes");
        bytes[SLOT as usize] ^= 0xff;
        std::fs::write(&path, &bytes).expect("write");
        assert_eq!(Witness::read(dir.path()).expect("read"), Found::Mark(7));

        std::fs::write(&path, b"garbage garbage garbage garbage garbage garbage").expect("write");
        assert_eq!(Witness::read(dir.path()).expect("read"), Found::Unreadable);
    }

    #[test]
    fn older_marks_never_overwrite_newer_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        let witness = Witness::open(dir.path(), 10).expect("open");
        witness.record(9).expect("record");
        witness.record(3).expect("record");
        witness.sync().expect("sync");
        assert_eq!(Witness::read(dir.path()).expect("read"), Found::Mark(10));
    }
}
