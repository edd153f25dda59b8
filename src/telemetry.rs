//! Logging: `tracing` to stderr with `RUST_LOG` (default `info`); stdout carries only the
//! listening address, for scripts and tests.
//!
//! Lines are formatted where they happen and written by one logging thread, buffered, a
//! batch per write: an unbuffered stderr cost a write call per line, 4 % of all samples
//! when 10 000 orders closed together (BENCHMARKS.md). Nothing is dropped while the
//! process runs: a caller waits when the thread is 128 000 lines behind. What is not yet
//! written is flushed when the process ends: by [`LogGuard`], by the panic hook [`init`]
//! installs when a panic aborts (`panic = "abort"`, the release build), and by [`flush`]
//! before a `process::exit`. At the end the logging thread gets about a second, then what
//! is left is lost, as it is on a SIGKILL.

use std::io::{BufWriter, IsTerminal};
use std::sync::Mutex;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// The logging thread's guard once [`init`] started it: taken by the first of
/// [`LogGuard`]'s drop, [`flush`] and the panic hook, to flush what is left.
static WORKER: Mutex<Option<WorkerGuard>> = Mutex::new(None);

/// Flushes the log and stops its thread when dropped; hold it until the process ends. Only
/// the guard of the call that installed the subscriber does that.
#[must_use = "dropping the guard flushes the log and stops its thread"]
pub struct LogGuard {
    installed: bool,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if self.installed {
            flush();
        }
    }
}

/// Writes what the logging thread still holds and stops it: call before
/// `std::process::exit`, which runs no destructor. Later lines are not written.
pub fn flush() {
    let worker = WORKER.lock().map(|mut worker| worker.take());
    drop(worker);
}

/// Installs the global subscriber once; later calls (tests) are ignored, and their guards
/// do nothing.
pub fn init() -> LogGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, worker) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(BufWriter::new(std::io::stderr()));
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer)
        .try_init()
        .is_ok();
    if installed {
        if let Ok(mut slot) = WORKER.lock() {
            *slot = Some(worker);
        }
        flush_on_abort();
    }
    LogGuard { installed }
}

/// Where a panic aborts, nothing is dropped: flush after the panic's message. (Where it
/// unwinds, a caught panic must not stop the log, and [`LogGuard`] flushes at the end.)
#[cfg(panic = "abort")]
fn flush_on_abort() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |panic| {
        report(panic);
        flush();
    }));
}

#[cfg(not(panic = "abort"))]
fn flush_on_abort() {}
