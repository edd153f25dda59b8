//! Releases seats of pending applies that got no order within the order TTL.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::ActivityService;

/// Every `period`, releases expired reservations, until `cancel` fires. The reservations'
/// deadlines are stored, so after a restart the sweep simply continues.
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
            }
        }
    }
}
