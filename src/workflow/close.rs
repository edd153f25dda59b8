//! Closing an unpaid order (expiry or cancel): at the provider first when a payment was
//! started, so no money can arrive for an order closed here, then here with the notice that
//! releases its seat. A close the provider will not simply take is settled by its query.

use super::ended::write_ended;
use super::pay::mark_paid;
use super::refund::refunded_at_provider;
use super::{provider_failed, query_order, OrderError, SharedEnv};
use crate::domain::{time, EvidenceSource, Order, OrderEvent, OrderOutcome};
use crate::provider::TradeStatus;

/// Closes the order (expiry or cancel). With a payment started, the provider closes it
/// first (one of a bounded number of provider calls at once, so a shared deadline does not
/// fire every close together); if the provider says it is paid, or refuses the close for
/// good, its query decides: paid → paid, paid and refunded → refunded, closed → closed.
pub async fn close_order(
    env: SharedEnv,
    order: Order,
    event: OrderEvent,
) -> Result<Order, OrderError> {
    if order.payment.is_some() {
        let parent = order.parent_order_no.to_string();
        let closed = {
            let _slot = env.provider_slot().await;
            env.provider.close(&parent).await
        };
        match closed {
            Ok(_) => {}
            Err(error) if error.is_no_order() || error.is_order_closed() => {}
            Err(error) if error.is_retryable() => return Err(provider_failed(error)),
            Err(error) => {
                if !error.is_order_paid() {
                    tracing::error!(%error, "the provider refused to close the payment; asking its query instead");
                    env.count_close_refused();
                }
                return settle_by_query(&env, order, event).await;
            }
        }
    }
    close_here(&env, order, event).await
}

/// Settles a close the provider did not simply take, by what its query says.
async fn settle_by_query(
    env: &SharedEnv,
    order: Order,
    event: OrderEvent,
) -> Result<Order, OrderError> {
    let answer = query_order(env, &order).await.map_err(provider_failed)?;
    match answer.status {
        TradeStatus::TradeSuccess => {
            let evidence = answer.evidence(EvidenceSource::CloseQuery);
            mark_paid(env, order, evidence).await
        }
        TradeStatus::TradeRefund => {
            refunded_at_provider(env, order, &answer.evidence(EvidenceSource::CloseQuery)).await
        }
        TradeStatus::TradeClosed => close_here(env, order, event).await,
        other => Err(OrderError::ProviderFailed(format!(
            "the close was refused and the query says {}",
            other.as_str()
        ))),
    }
}

/// Closes the order here, durably, with the notice that releases its seat.
async fn close_here(
    env: &SharedEnv,
    mut order: Order,
    event: OrderEvent,
) -> Result<Order, OrderError> {
    order
        .apply_at(event, time::now_millis())
        .map_err(|_| OrderError::Closed)?;
    let order = write_ended(env, order, OrderOutcome::Closed).await?;
    crate::failpoint::hit("expire.after_close");
    // How long after its deadline the order was closed (durably): the expiry lateness.
    let late_ms = time::now_millis().saturating_sub(order.deadline().saturating_mul(1000));
    if event == OrderEvent::Expired {
        env.metrics.closed("expired");
        env.metrics
            .expired_late(std::time::Duration::from_millis(late_ms));
    } else {
        env.metrics.closed("cancelled");
    }
    tracing::info!(order_no = %order.parent_order_no, ?event, deadline = order.deadline(), late_ms, "order closed");
    Ok(order)
}
