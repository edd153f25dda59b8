//! Crash points for tests: `ORDERCENTER_FAILPOINT=name` makes the process abort (like a
//! `kill -9`: no flush, no goodbye) when it reaches the named point. Read once at start;
//! unset, a point costs one comparison with `None`.
//!
//! Points: `create.after_creating`, `create.after_bind` (a subsystem over HTTP: the
//! written-ahead order), `create.before_commit` (the in-process subsystem: order and binding
//! staged, nothing written), `create.after_created`, `expire.after_close`,
//! `outbox.after_notify`, `pay.after_attempt`, `refund.after_record` (a refund asked for,
//! recorded, the provider not yet asked), `refund.after_provider` (the provider confirmed a
//! refund, not yet recorded here), `waitlist.before_promote` (a seat released and given to
//! the first waiter, staged, nothing written).

use std::sync::OnceLock;

static ARMED: OnceLock<Option<String>> = OnceLock::new();

fn is_armed(name: &str) -> bool {
    let armed = ARMED.get_or_init(|| {
        std::env::var("ORDERCENTER_FAILPOINT")
            .ok()
            .filter(|v| !v.is_empty())
    });
    armed.as_deref() == Some(name)
}

/// Aborts the process if `name` is the armed crash point.
pub fn hit(name: &str) {
    if is_armed(name) {
        eprintln!("ordercenter: crash point {name} reached; aborting");
        std::process::abort();
    }
}

/// [`hit`] for a point inside a store change: runs `flush` first, so the crash leaves
/// exactly what was written so far on disk (the prefix a crash between two of sled's log
/// writes can leave), then aborts.
pub fn hit_flushed(name: &str, flush: impl FnOnce()) {
    if is_armed(name) {
        flush();
        hit(name);
    }
}
