//! Refunding a payment: one that reached the provider for an order already closed here, or
//! one a paid order's owner or an operator asked for (`shop/order/refund`,
//! `shop/order/adminRefund`). The refund is recorded (durable) before the provider is
//! asked, under a `refundOrderId` derived from the order, so a retry after a crash can never
//! refund twice; it is followed with refund-query while pending, and retried with backoff
//! while the provider fails. What no query can settle — a refund the provider will not
//! make — is an error log and a count on `/metrics`, for a person: a late payment's order
//! becomes [`crate::domain::OrderStatus::RefundRefused`], a paid order stays paid.

use std::time::Duration;

use super::ended::write_ended;
use super::{provider_failed, query_order, OrderError, SharedEnv};
use crate::domain::{
    time, EvidenceSource, Happened, Order, OrderEvent, OrderOutcome, OrderStatus, PaidEvidence,
    Refund,
};
use crate::provider::{codes, RefundStatus, TradeStatus};

/// Pause before asking about a pending refund again.
pub const REFUND_RECHECK: Duration = Duration::from_secs(2);
/// First pause before retrying a refund the provider could not take (an outage); doubled
/// on each failure up to [`MAX_REFUND_RETRY`].
pub const FIRST_REFUND_RETRY: Duration = Duration::from_secs(10);
/// Longest pause between attempts at a refund.
pub const MAX_REFUND_RETRY: Duration = Duration::from_secs(600);
/// Refunds the provider answered `FAIL` before it is left to a person.
const MAX_REFUND_ATTEMPTS: u32 = 3;

/// A payment reported for an order closed here. A notify is only believed once the
/// provider's query says the same (a stray or replayed notify must not start a refund the
/// provider would refuse); a query answer is. Paid → the refund is recorded; refunded at
/// the provider already → settled as refunded; anything else changes nothing.
pub async fn late_payment(
    env: &SharedEnv,
    order: Order,
    evidence: PaidEvidence,
) -> Result<Order, OrderError> {
    if evidence.source == EvidenceSource::Notify {
        let answer = query_order(env, &order).await.map_err(provider_failed)?;
        match answer.status {
            TradeStatus::TradeSuccess => {}
            TradeStatus::TradeRefund => {
                return refunded_at_provider(env, order, &answer.evidence(EvidenceSource::Query))
                    .await
            }
            other => {
                tracing::warn!(
                    status = other.as_str(),
                    "notify of a payment the provider's query does not confirm; ignored"
                );
                return Err(OrderError::Mismatch(format!(
                    "the provider's query says {}",
                    other.as_str()
                )));
            }
        }
    }
    record_refund(env, order, Some(evidence.source)).await
}

/// The order was paid and then refunded at the provider (e.g. from its console): settled
/// as refunded, with the seat released, in one durable change.
pub async fn refunded_at_provider(
    env: &SharedEnv,
    mut order: Order,
    evidence: &PaidEvidence,
) -> Result<Order, OrderError> {
    let now_ms = time::now_millis();
    let now = now_ms / 1000;
    order.record(
        now_ms,
        Happened::Reported {
            source: evidence.source,
            refunded: true,
        },
    );
    if order.status == OrderStatus::Unpaid {
        order
            .apply_at(OrderEvent::Paid, now_ms)
            .map_err(|error| OrderError::Mismatch(error.to_string()))?;
        order.payment_time = evidence.paid_at.filter(|t| *t > 0).unwrap_or(now);
        if let Some(payment) = order.payment.as_mut() {
            payment.target_order_id = evidence.target_order_id.clone();
        }
    }
    order
        .apply_at(OrderEvent::Refunded, now_ms)
        .map_err(|error| OrderError::Mismatch(error.to_string()))?;
    let order = write_ended(env, order, OrderOutcome::Refunded).await?;
    env.metrics.refunded();
    tracing::warn!(order_no = %order.parent_order_no, "the provider says paid and refunded (a refund made outside the order center); settled as refunded");
    Ok(order)
}

/// A refund asked for a paid order: recorded (durable) before the provider hears of it;
/// the order's actor then follows it ([`refund_step`]). A zero-price order has nothing at
/// the provider to refund: it is refunded at once, with the notice that releases its seat.
pub async fn request_refund(env: &SharedEnv, order: Order) -> Result<Order, OrderError> {
    if order.total().0 == 0 {
        let mut order = order;
        order
            .apply(OrderEvent::Refunded, time::now_secs())
            .map_err(|error| OrderError::Mismatch(error.to_string()))?;
        write_ended(env, order.clone(), OrderOutcome::Refunded).await?;
        return Ok(order);
    }
    let order = record_refund(env, order, None).await?;
    crate::failpoint::hit("refund.after_record");
    Ok(order)
}

/// Where a refund stands after one step.
pub enum RefundStep {
    /// Settled (refunded, or refused for good): nothing more to do.
    Done(Order),
    /// The provider accepted it and is still working: ask again with refund-query.
    Pending(Order),
}

/// Records a refund of the order's payment (durable), unless one is recorded already;
/// `reported`: how the late payment was heard of, for the history.
async fn record_refund(
    env: &SharedEnv,
    mut order: Order,
    reported: Option<EvidenceSource>,
) -> Result<Order, OrderError> {
    let refund_order_id = order.refund_order_id(1);
    let amount = order.total();
    let Some(payment) = order.payment.as_mut() else {
        return Err(OrderError::Mismatch("no payment to refund".into()));
    };
    if payment.refund.is_none() {
        let now_ms = time::now_millis();
        payment.refund = Some(Refund {
            refund_order_id: refund_order_id.clone(),
            attempt: 1,
            amount,
            requested_at: now_ms / 1000,
        });
        if let Some(source) = reported {
            order.record(
                now_ms,
                Happened::Reported {
                    source,
                    refunded: false,
                },
            );
        }
        order.record(
            now_ms,
            Happened::RefundRequested {
                refund_order_id,
                attempt: 1,
            },
        );
        env.store.write_durable(order.clone(), None).await?;
    }
    Ok(order)
}

/// Records the refund (durable) if new, then asks the provider (refund, idempotent on the
/// derived `refundOrderId`, or refund-query once accepted) and records a final answer:
/// success → refunded; `FAIL` → a new attempt, up to [`MAX_REFUND_ATTEMPTS`]; a final
/// refusal → what the query says, else [`OrderStatus::RefundRefused`].
pub async fn refund_step(
    env: SharedEnv,
    order: Order,
    accepted: bool,
) -> Result<RefundStep, (Order, OrderError)> {
    let order = match record_refund(&env, order.clone(), None).await {
        Ok(recorded) => recorded,
        Err(error) => return Err((order, error)),
    };
    let refund_order_id = order
        .payment
        .as_ref()
        .and_then(|p| p.refund.as_ref())
        .map(|r| r.refund_order_id.clone())
        .unwrap_or_else(|| order.refund_order_id(1));
    let amount = order.total();
    let parent = order.parent_order_no.to_string();
    let answer = {
        let _slot = env.provider_slot().await;
        if accepted {
            env.provider.refund_query(&parent, &refund_order_id).await
        } else {
            env.provider
                .refund(&parent, &refund_order_id, amount.0)
                .await
        }
    };
    match answer {
        Ok(answer) if answer.refund_status == RefundStatus::Success => {
            crate::failpoint::hit("refund.after_provider");
            refund_confirmed(&env, order).await
        }
        Ok(answer) if answer.refund_status == RefundStatus::Fail => {
            next_refund_attempt(&env, order).await
        }
        Ok(_) => Ok(RefundStep::Pending(order)),
        // Only an explicit refusal of a new refund request is final; anything else (an
        // outage, a proxy's 4xx, a refund-query the provider could not answer) is retried:
        // giving up on a refund the provider may still carry out would refund twice.
        Err(error) if !accepted && error.code() == Some(codes::REFUND_NOT_ALLOWED) => {
            settle_refused_refund(&env, order, &error.to_string()).await
        }
        Err(error) => {
            if !error.is_retryable() {
                tracing::error!(%error, accepted, "the provider refused a refund call in a way retrying may not fix; retrying with backoff");
            }
            Err((order, provider_failed(error)))
        }
    }
}

/// The provider confirmed the refund: the order is refunded, with the notice that releases
/// its seat (and tells the subsystem `order_status` 3), in one durable change.
async fn refund_confirmed(
    env: &SharedEnv,
    mut order: Order,
) -> Result<RefundStep, (Order, OrderError)> {
    if let Err(error) = order.apply_at(OrderEvent::Refunded, time::now_millis()) {
        return Err((order, OrderError::Mismatch(error.to_string())));
    }
    let order = match write_ended(env, order.clone(), OrderOutcome::Refunded).await {
        Ok(written) => written,
        Err(error) => return Err((order, error.into())),
    };
    env.metrics.refunded();
    tracing::info!(order_no = %order.parent_order_no, "refunded");
    Ok(RefundStep::Done(order))
}

/// The provider answered `FAIL`. It is idempotent on the id, so asking again under it would
/// only repeat `FAIL`: the next attempt gets the next id, recorded before it is used, up to
/// [`MAX_REFUND_ATTEMPTS`]; after that the refund is left to a person.
async fn next_refund_attempt(
    env: &SharedEnv,
    mut order: Order,
) -> Result<RefundStep, (Order, OrderError)> {
    let next = order
        .payment
        .as_ref()
        .and_then(|p| p.refund.as_ref())
        .map_or(2, |r| r.attempt + 1);
    if next > MAX_REFUND_ATTEMPTS {
        return refund_refused(env, order, "the provider failed every refund attempt").await;
    }
    let next_id = order.refund_order_id(next);
    if let Some(refund) = order.payment.as_mut().and_then(|p| p.refund.as_mut()) {
        refund.attempt = next;
        refund.refund_order_id = next_id.clone();
    }
    order.record(
        time::now_millis(),
        Happened::RefundRequested {
            refund_order_id: next_id,
            attempt: next,
        },
    );
    tracing::error!(order_no = %order.parent_order_no, attempt = next, "provider failed the refund; trying a new refund");
    if let Err(error) = env.store.write_durable(order.clone(), None).await {
        return Err((order, error.into()));
    }
    Err((order, OrderError::ProviderFailed("refund failed".into())))
}

/// The provider refused a new refund request for good. Refunded already (e.g. from its
/// console)? Then settled as refunded; still paid there? Then left to a person; anything
/// else is asked again later.
async fn settle_refused_refund(
    env: &SharedEnv,
    order: Order,
    refusal: &str,
) -> Result<RefundStep, (Order, OrderError)> {
    match query_order(env, &order).await {
        Ok(answer) if answer.status == TradeStatus::TradeRefund => {
            let evidence = answer.evidence(EvidenceSource::Query);
            match refunded_at_provider(env, order.clone(), &evidence).await {
                Ok(refunded) => Ok(RefundStep::Done(refunded)),
                Err(error) => Err((order, error)),
            }
        }
        Ok(answer) if answer.status == TradeStatus::TradeSuccess => {
            refund_refused(env, order, refusal).await
        }
        Ok(answer) => Err((
            order,
            OrderError::ProviderFailed(format!(
                "refund refused while the query says {}",
                answer.status.as_str()
            )),
        )),
        Err(query) => Err((order, provider_failed(query))),
    }
}

/// The provider will not refund: a late payment's order is recorded as
/// [`OrderStatus::RefundRefused`], a paid order stays paid with its refund dropped (its
/// registration stands: the money is still with the merchant) — durable; no actor, nothing
/// retried — logged at error level and counted for a person.
async fn refund_refused(
    env: &SharedEnv,
    mut order: Order,
    reason: &str,
) -> Result<RefundStep, (Order, OrderError)> {
    if order.status == OrderStatus::Paid {
        if let Some(payment) = order.payment.as_mut() {
            payment.refund = None;
        }
    } else if let Err(error) = order.apply_at(OrderEvent::RefundRefused, time::now_millis()) {
        return Err((order, OrderError::Mismatch(error.to_string())));
    }
    if let Err(error) = env.store.write_durable(order.clone(), None).await {
        return Err((order, error.into()));
    }
    env.count_needing_attention();
    tracing::error!(order_no = %order.parent_order_no, status = ?order.status, %reason, "the provider refused to refund; a person must refund it");
    Ok(RefundStep::Done(order))
}
