//! How long records that exist only for a while are kept, so the disk a store needs grows
//! with its orders, not with time.
//!
//! - Idempotency records (SPEC §2: at least 24 h): swept here, every twenty-fourth of their
//!   time to live, so each is kept between its TTL and 1/24 more (24–25 h by default).
//! - The activity platform's seat reservations: released by its own sweeper
//!   ([`crate::activity::run_reservation_sweeper`]).
//! - Journal records: a fixed ring of slots, overwritten (`crate::store::journal`).
//! - Entries of the deadline index left by orders that closed at their deadline: swept
//!   here every second, a few seconds after their deadline
//!   ([`crate::store::orders::OrderStore::sweep_deadlines`]).
//! - Outbox entries: removed once acknowledged (what was delivered stays in the order's
//!   history).
//!
//! What stays is each order's record with its history, its child → parent mapping and the
//! activity platform's applies: the README gives the bytes per order.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::time;
use crate::store::orders::{OrderStore, DEADLINE_SWEEP_LAG_SECS};

/// Records looked at per blocking call, so a sweep never holds a blocking thread long.
const PAGE: usize = 4096;

/// Every `ttl / 24` (at least a second), removes the idempotency records older than `ttl`,
/// until `cancel` fires.
pub async fn run_idempotency_sweeper(orders: OrderStore, ttl: Duration, cancel: CancellationToken) {
    let period = (ttl / 24).max(Duration::from_secs(1));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = ticker.tick() => {
                let before = time::now_secs().saturating_sub(ttl.as_secs());
                match sweep(&orders, before, &cancel).await {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(removed, "forgot expired idempotency keys"),
                    Err(error) => tracing::error!(%error, "sweeping idempotency keys failed; retried next period"),
                }
            }
        }
    }
}

/// Entries of the deadline index one sweep's change looks at.
const DEADLINE_SWEEP_PAGE: usize = 1024;

/// Every second, removes the deadline index's entries that closes left behind
/// ([`OrderStore::sweep_deadlines`]) until `cancel` fires, a page per durable change.
pub async fn run_deadline_sweeper(orders: OrderStore, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = ticker.tick() => {
                let before = time::now_secs().saturating_sub(DEADLINE_SWEEP_LAG_SECS);
                if let Err(error) = sweep_deadlines(&orders, before, &cancel).await {
                    tracing::error!(%error, "sweeping the deadline index failed; retried next second");
                }
            }
        }
    }
}

/// Sweeps the deadline index up to `before`, page by page.
async fn sweep_deadlines(
    orders: &OrderStore,
    before: u64,
    cancel: &CancellationToken,
) -> Result<(), crate::store::StoreError> {
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = orders.clone();
        let from = after.take();
        let (removed, next) = orders
            .store()
            .write(move || page.sweep_deadlines(before, from.as_deref(), DEADLINE_SWEEP_PAGE))
            .await?;
        if removed > 0 {
            tracing::debug!(removed, "swept closed orders from the deadline index");
        }
        match next {
            Some(key) if !cancel.is_cancelled() => after = Some(key),
            _ => return Ok(()),
        }
    }
}

/// One pass over every idempotency record, page by page.
async fn sweep(
    orders: &OrderStore,
    before: u64,
    cancel: &CancellationToken,
) -> Result<u64, crate::store::StoreError> {
    let mut removed = 0;
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = orders.clone();
        let from = after.take();
        let (gone, next) = orders
            .store()
            .blocking(move || page.sweep_idempotency(before, from.as_deref(), PAGE))
            .await?;
        removed += gone;
        match next {
            Some(key) if !cancel.is_cancelled() => after = Some(key),
            _ => return Ok(removed),
        }
    }
}
