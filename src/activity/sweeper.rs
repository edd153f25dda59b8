//! Releases seats of pending applies that got no order within the order TTL, and sweeps
//! the member index of released applies.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::ActivityService;
use crate::store::activity::RELEASED_SWEEP_LAG_SECS;

/// Every `period`, releases expired reservations, and removes the member-index entries
/// of applies released a few seconds before ([`ActivityService::sweep_released`]), until
/// `cancel` fires. Where the reservations' walk got to is stored, so after a restart the
/// sweep simply goes on (the member-index entries of the last seconds before a crash wait
/// for their member's next apply).
pub async fn run_reservation_sweeper(
    service: ActivityService,
    period: Duration,
    cancel: CancellationToken,
) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = ticker.tick() => {
                match service.release_expired(crate::domain::time::now_secs()).await {
                    Ok(0) => {}
                    Ok(released) => tracing::info!(released, "released expired seat reservations"),
                    Err(error) => tracing::error!(%error, "releasing expired reservations failed"),
                }
                let before = crate::domain::time::now_secs().saturating_sub(RELEASED_SWEEP_LAG_SECS);
                if let Err(error) = service.sweep_released(before).await {
                    tracing::error!(%error, "sweeping released applies from the member index failed; retried next period");
                }
            }
        }
    }
}
