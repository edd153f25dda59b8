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
//! The witness must never be ahead of what sled holds on the disk, or a crash would be
//! refused as a loss. sled's `flush()` waits for `sync_file_range`, which makes a SIGKILL
//! harmless but does not flush the device or the file's metadata. So a flushed mark is only
//! *pending*; at most once a second (and at close) the witness fsyncs sled's `db` file
//! itself, then writes the pending mark and fsyncs the witness. It therefore lags the store
//! by up to a second — the safe direction: a loss of just that last second would go
//! unnoticed, a false alarm cannot happen. Two checksummed slots are written in turn, so a
//! torn write leaves the other one.

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
/// Longest a flushed mark waits before it is committed to the witness.
pub const COMMIT_EVERY: Duration = Duration::from_secs(1);

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
    /// sled's log, fsynced before a mark is written (see the module header).
    log: File,
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    /// The last mark written to the file.
    recorded: u64,
    /// The highest mark a flush covered, not yet written.
    pending: u64,
    /// Writes so far: the slot alternates with each write, so a torn write leaves the last.
    writes: u64,
    last_commit: Instant,
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
            // Created but never written (a crash during the very first start): nothing
            // was acknowledged yet.
            None if bytes.iter().all(|b| *b == 0) => Found::None,
            None => Found::Unreadable,
        })
    }

    /// Opens (or creates) the witness of `dir` and writes `mark` (what the store holds,
    /// checked against [`Witness::read`] by the caller), durably.
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
            log: File::open(dir.join("db"))?,
            path,
            state: Mutex::new(State {
                recorded: 0,
                pending: mark,
                writes: 0,
                last_commit: Instant::now(),
            }),
        };
        witness.write(&mut witness.state.lock(), mark)?;
        Ok(witness)
    }

    /// The file's path (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A flush covered every batch up to `mark`; written once the next commit made sled's
    /// log durable (at most a second later, see [`Witness::tick`]).
    pub fn flushed(&self, mark: u64) -> std::io::Result<()> {
        let mut state = self.state.lock();
        state.pending = state.pending.max(mark);
        self.commit_if_due(&mut state)
    }

    /// Commits a pending mark when the last commit is a second old (the flusher calls this
    /// when it has been idle for a while).
    pub fn tick(&self) -> std::io::Result<()> {
        self.commit_if_due(&mut self.state.lock())
    }

    /// fsyncs sled's log, then writes the pending mark durably (at close).
    pub fn commit(&self) -> std::io::Result<()> {
        let mut state = self.state.lock();
        if state.pending > state.recorded {
            self.log.sync_all()?;
            let mark = state.pending;
            self.write(&mut state, mark)?;
        }
        Ok(())
    }

    fn commit_if_due(&self, state: &mut State) -> std::io::Result<()> {
        if state.pending > state.recorded && state.last_commit.elapsed() >= COMMIT_EVERY {
            self.log.sync_all()?;
            let mark = state.pending;
            self.write(state, mark)?;
        }
        Ok(())
    }

    /// Writes `mark` into the next slot and syncs the file.
    fn write(&self, state: &mut State, mark: u64) -> std::io::Result<()> {
        if mark < state.recorded {
            return Ok(());
        }
        self.file
            .write_all_at(&encode_slot(mark), (state.writes % 2) * SLOT)?;
        self.file.sync_data()?;
        state.writes += 1;
        state.recorded = mark;
        state.last_commit = Instant::now();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with_log() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("db"), b"log").expect("log");
        dir
    }

    #[test]
    fn the_highest_readable_slot_wins_and_a_torn_one_is_skipped() {
        let dir = dir_with_log();
        assert_eq!(Witness::read(dir.path()).expect("read"), Found::None);
        let witness = Witness::open(dir.path(), 7).expect("open");
        witness.flushed(8).expect("flushed");
        witness.commit().expect("commit");
        assert_eq!(Witness::read(dir.path()).expect("read"), Found::Mark(8));

        // Tear the slot of 8 (the second write): the slot of 7 is still there.
        let path = dir.path().join(WITNESS_FILE);
        let mut bytes = std::fs::read(&path).expect("bytes");
        bytes[SLOT as usize] ^= 0xff;
        std::fs::write(&path, &bytes).expect("write");
        assert_eq!(Witness::read(dir.path()).expect("read"), Found::Mark(7));

        std::fs::write(&path, b"garbage garbage garbage garbage garbage garbage").expect("write");
        assert_eq!(Witness::read(dir.path()).expect("read"), Found::Unreadable);

        // Created, never written: a crash during the first start.
        std::fs::write(&path, b"").expect("write");
        assert_eq!(Witness::read(dir.path()).expect("read"), Found::None);
    }

    #[test]
    fn a_new_store_writes_its_first_mark_at_once() {
        let dir = dir_with_log();
        let _witness = Witness::open(dir.path(), 0).expect("open");
        assert_eq!(Witness::read(dir.path()).expect("read"), Found::Mark(0));
    }

    #[test]
    fn a_flushed_mark_waits_for_a_commit_and_never_goes_back() {
        let dir = dir_with_log();
        let witness = Witness::open(dir.path(), 10).expect("open");
        witness.flushed(12).expect("flushed");
        assert_eq!(
            Witness::read(dir.path()).expect("read"),
            Found::Mark(10),
            "written before sled's log was synced"
        );
        witness.flushed(11).expect("flushed");
        witness.commit().expect("commit");
        assert_eq!(Witness::read(dir.path()).expect("read"), Found::Mark(12));
    }
}
