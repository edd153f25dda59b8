//! Whether the store can take writes, and what happens when it cannot.
//!
//! Two ways a disk stops taking writes, handled differently because sled 0.34 handles them
//! differently (measured here on a 16 MiB tmpfs: once a write or flush has failed with
//! `ENOSPC`, every later insert and flush fails too, even after space is freed, while reads
//! still work):
//! - **Low on space** (free space under the reserve, [`StoreConfig::disk_reserve_bytes`]):
//!   the writer refuses changes before sled sees them, so sled never hits the full disk.
//!   Writes answer 503, `/readyz` is not ready; once space is back above the reserve, writes
//!   resume by themselves.
//! - **Broken** (a sled write or flush failed anyway: the disk filled faster than the guard
//!   looked, or an I/O error): nothing more can be written by this process. Writes answer
//!   503 and `/readyz` is not ready; once the disk has space again (the reserve, and at least
//!   [`RESTART_FREE_BYTES`]) the process exits with
//!   [`EXIT_STORAGE_FAILED`], so its service manager restarts it and recovery runs on what
//!   was made durable. Nothing acknowledged is lost: an acknowledgement needs a flush that
//!   succeeded.
//!
//! [`StoreConfig::disk_reserve_bytes`]: super::StoreConfig::disk_reserve_bytes

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::StoreError;

/// Exit status after the store broke (`EX_TEMPFAIL`): restart me.
pub const EXIT_STORAGE_FAILED: i32 = 75;

/// Free space a broken store waits for before it exits for a restart, whatever the
/// reserve (with no reserve, a restart onto a disk still full would only fail again).
const RESTART_FREE_BYTES: u64 = 16 << 20;

/// How often the guard looks at the free space.
const GUARD_EVERY: Duration = Duration::from_millis(200);

/// The store's ability to write, shared by the writer, the guard and readiness checks.
#[derive(Debug, Default)]
pub struct StorageHealth {
    dir: PathBuf,
    reserve: u64,
    low_space: AtomicBool,
    broken: Mutex<Option<String>>,
    is_broken: AtomicBool,
    closing: AtomicBool,
    free_bytes: AtomicU64,
    refused: AtomicU64,
}

impl StorageHealth {
    /// The health of the store in `dir`, refusing writes under `reserve` free bytes.
    pub fn new(dir: PathBuf, reserve: u64) -> Self {
        Self {
            dir,
            reserve,
            ..Self::default()
        }
    }

    /// Whether changes are taken now.
    pub fn is_writable(&self) -> bool {
        !self.low_space.load(Ordering::Relaxed) && !self.is_broken.load(Ordering::Relaxed)
    }

    /// Why changes are refused now, as the error to answer them with.
    pub fn refusal(&self) -> Option<StoreError> {
        if self.is_broken.load(Ordering::Relaxed) {
            let reason = self.broken.lock().clone().unwrap_or_default();
            return Some(StoreError::Unavailable(format!(
                "the store in {} failed ({reason}); the service restarts once the disk has space",
                self.dir.display()
            )));
        }
        if self.low_space.load(Ordering::Relaxed) {
            return Some(StoreError::Unavailable(format!(
                "the disk of {} is nearly full ({} bytes free, {} reserved; see ORDERCENTER_DISK_RESERVE_MB)",
                self.dir.display(),
                self.free_bytes.load(Ordering::Relaxed),
                self.reserve
            )));
        }
        None
    }

    /// Counts a refused change (for `/metrics`).
    pub fn count_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Changes refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Free bytes on the data dir's filesystem at the last look.
    pub fn free_bytes(&self) -> u64 {
        self.free_bytes.load(Ordering::Relaxed)
    }

    /// Whether a write or flush failed (see the module header).
    pub fn is_broken(&self) -> bool {
        self.is_broken.load(Ordering::Relaxed)
    }

    /// A write or flush failed: refuse every change from now on (logged once).
    pub fn mark_broken(&self, reason: String) {
        let mut broken = self.broken.lock();
        if broken.is_none() {
            tracing::error!(%reason, "the store failed; refusing writes and restarting once the disk has space");
            *broken = Some(reason);
            self.is_broken.store(true, Ordering::Relaxed);
        }
    }

    fn set_free(&self, free: u64) {
        self.free_bytes.store(free, Ordering::Relaxed);
        let reserve = self.reserve;
        let low = free < reserve;
        if self.low_space.swap(low, Ordering::Relaxed) != low {
            if low {
                tracing::error!(
                    free_bytes = free,
                    reserve_bytes = reserve,
                    "disk nearly full: refusing writes until space is freed"
                );
            } else {
                tracing::warn!(free_bytes = free, "disk space is back: taking writes again");
            }
        }
    }

    /// Stops the guard (at close).
    pub fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }
}

/// Looks at the free space of `dir` now, then every [`GUARD_EVERY`] on its own thread until
/// the store closes; exits the process once the store broke and the disk has space again.
pub fn start_guard(health: Arc<StorageHealth>) -> Result<(), StoreError> {
    look(&health);
    std::thread::Builder::new()
        .name("disk-guard".into())
        .spawn(move || {
            while !health.closing.load(Ordering::Relaxed) {
                std::thread::sleep(GUARD_EVERY);
                look(&health);
                let restartable = health.free_bytes() >= health.reserve.max(RESTART_FREE_BYTES);
                if health.is_broken() && restartable {
                    // Let the 503s in flight go out, then make way for a clean restart.
                    std::thread::sleep(Duration::from_millis(500));
                    let reason = health.broken.lock().clone().unwrap_or_default();
                    tracing::error!(%reason, "the store failed and the disk has space again; exiting so that recovery runs");
                    eprintln!(
                        "ordercenter: the store in {} failed ({reason}); exiting with status {EXIT_STORAGE_FAILED} so that a restart recovers it",
                        health.dir.display()
                    );
                    crate::telemetry::flush();
                    std::process::exit(EXIT_STORAGE_FAILED);
                }
            }
        })
        .map_err(|error| StoreError::Thread(error.to_string()))?;
    Ok(())
}

/// Updates the free space.
fn look(health: &StorageHealth) {
    match fs2::available_space(&health.dir) {
        Ok(free) => health.set_free(free),
        Err(error) => tracing::warn!(%error, "cannot read the free space of the data dir"),
    }
}
