//! How long records that exist only for a while are kept, so the disk a store needs grows
//! with its orders, not with time.
//!
//! - Idempotency records (SPEC §2: at least 24 h): swept here, every twenty-fourth of their
//!   time to live, so each is kept between its TTL and 1/24 more (24–25 h by default).
//! - The activity platform's seat reservations: released by its own sweeper
//!   ([`crate::activity::run_reservation_sweeper`]).
//! - Journal records: removed by the writer right after the flush that covered them.
//! - Outbox entries: removed once acknowledged (what was delivered stays in the order's
//!   history).
//!
//! What stays is each order's record with its history, its child → parent mapping and the
//! activity platform's applies: the README gives the bytes per order.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::time;
use crate::store::orders::OrderStore;

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
