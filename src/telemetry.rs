//! Logging: `tracing` to stderr with `RUST_LOG` (default `info`); stdout carries only the
//! listening address, for scripts and tests.
//!
//! Lines are formatted where they happen and written by one logging thread, buffered, a
//! batch per write: an unbuffered stderr cost a write call per line, which was a tenth of
//! the order actors' time when 10 000 orders closed together (BENCHMARKS.md). Nothing is
//! dropped: a caller waits when the thread is 128 Ki lines behind. What is not yet written
//! is flushed when the process ends ([`LogGuard`], and the panic hook [`init`] installs);
//! only a SIGKILL loses the lines of the last moment. Colours only on a terminal.

use std::io::{BufWriter, IsTerminal};
use std::sync::Mutex;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// The logging thread's guard once [`init`] started it: taken by [`LogGuard`]'s drop or the
/// panic hook, whichever comes first, to flush what is left.
static WORKER: Mutex<Option<WorkerGuard>> = Mutex::new(None);

/// Flushes the log when dropped (hold it until the process ends).
#[must_use = "dropping the guard flushes the log and stops its thread"]
pub struct LogGuard(());

impl Drop for LogGuard {
    fn drop(&mut self) {
        flush_and_stop();
    }
}

fn flush_and_stop() {
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
        // With `panic = "abort"` nothing is dropped on a panic: flush after its message.
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |panic| {
            report(panic);
            flush_and_stop();
        }));
    }
    LogGuard(())
}
