//! Delivers the notifications owed to business subsystems (paid, closed, refunded): at least
//! once, retried with backoff until acknowledged, resumed from the store after a restart.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::store::outbox::{OutboxEntry, OutboxStore};
use crate::subsystem::{OrderNotifyCall, Subsystems};

/// Entries looked at per round.
const ROUND: usize = 4096;
/// Deliveries in flight at once.
const CONCURRENCY: usize = 32;
/// First retry delay; doubled per failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest pause between attempts at one entry.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Look again at least this often, even without a wake-up.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Wakes the outbox when an entry was written. Cheap to clone.
#[derive(Clone, Default)]
pub struct OutboxWaker(Arc<Notify>);

impl OutboxWaker {
    /// Asks the outbox to look now (a wake-up is remembered if it is busy).
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Runs until `cancel` fires.
pub async fn run_outbox(
    store: OutboxStore,
    subsystems: Subsystems,
    waker: OutboxWaker,
    cancel: CancellationToken,
) {
    let mut retry_at: HashMap<u64, (Instant, Duration)> = HashMap::new();
    loop {
        let due = due_entries(&store, &mut retry_at).await;
        let outcomes: Vec<(u64, bool)> = futures::stream::iter(due)
            .map(|(seq, entry)| {
                let subsystems = subsystems.clone();
                let store = store.clone();
                async move { (seq, deliver(&store, &subsystems, seq, &entry).await) }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (seq, delivered) in outcomes {
            if delivered {
                retry_at.remove(&seq);
            } else {
                let backoff = retry_at
                    .get(&seq)
                    .map_or(FIRST_BACKOFF, |(_, b)| b.saturating_mul(2).min(MAX_BACKOFF));
                retry_at.insert(seq, (Instant::now() + backoff, backoff));
            }
        }
        let next_retry = retry_at.values().map(|(at, _)| *at).min();
        let sleep_until = next_retry.map_or(Instant::now() + IDLE_POLL, |at| {
            at.min(Instant::now() + IDLE_POLL)
        });
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = waker.0.notified() => {}
            _ = tokio::time::sleep_until(sleep_until) => {}
        }
    }
}

/// Walks the outbox page by page and picks up to [`ROUND`] entries that are not waiting
/// out a backoff, so entries that keep failing never starve newer ones. Forgets backoffs of
/// entries that are gone.
async fn due_entries(
    store: &OutboxStore,
    retry_at: &mut HashMap<u64, (Instant, Duration)>,
) -> Vec<(u64, OutboxEntry)> {
    let now = Instant::now();
    let mut due = Vec::new();
    let mut seen = HashSet::new();
    let mut cursor = 0;
    let mut walked_all = false;
    while due.len() < ROUND {
        let page = match store.load_pending(cursor, ROUND).await {
            Ok(page) => page,
            Err(error) => {
                tracing::error!(%error, "outbox unreadable");
                return due;
            }
        };
        let full = page.len() == ROUND;
        for (seq, entry) in page {
            cursor = seq + 1;
            seen.insert(seq);
            if retry_at.get(&seq).is_none_or(|(at, _)| *at <= now) && due.len() < ROUND {
                due.push((seq, entry));
            }
        }
        if !full {
            walked_all = true;
            break;
        }
    }
    if walked_all {
        retry_at.retain(|seq, _| seen.contains(seq));
    }
    due
}

async fn deliver(
    store: &OutboxStore,
    subsystems: &Subsystems,
    seq: u64,
    entry: &OutboxEntry,
) -> bool {
    let Some(subsystem) = subsystems.get(entry.business_type) else {
        tracing::error!(
            business_type = entry.business_type,
            "no subsystem for outbox entry; keeping it"
        );
        return false;
    };
    let call = OrderNotifyCall {
        order_no: entry.order_no.to_string(),
        parent_order_no: entry.parent_order_no.to_string(),
        order_status: entry.order_status,
    };
    if let Err(error) = subsystem.order_notify(&call).await {
        tracing::warn!(order_no = %entry.order_no, %error, "subsystem notification failed; will retry");
        return false;
    }
    crate::failpoint::hit("outbox.after_notify");
    match store.acknowledge(seq, entry.clone()).await {
        Ok(()) => {
            tracing::debug!(order_no = %entry.order_no, status = entry.order_status.code(), "subsystem notified");
            true
        }
        Err(error) => {
            tracing::error!(%error, "could not delete acknowledged outbox entry");
            false
        }
    }
}
