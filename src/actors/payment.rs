//! The order actor's payment side: pay, payments reported by the provider, closing at the
//! provider before closing here, and refunds of payments that arrive after closing.
//!
//! The I/O of each step is an async function over a copy of the order; the actor applies the
//! result in [`OrderActor::adopt`], so its state is always what is on disk.
//!
//! Every provider answer ends in a final state or a bounded retry: an outage
//! ([`ProviderError::is_retryable`]) is retried with backoff and jitter; a final refusal is
//! settled by what a query says (paid, refunded at the provider, closed), and what no query
//! can settle — a refund the provider will not make — is an error log, a count on
//! `/metrics` and [`OrderStatus::RefundRefused`], for a person.

use std::time::Duration;

use actix::prelude::*;

use super::messages::{CheckRefund, PaidEvidence, Pay, PaymentConfirmed, Unwatch, Watch};
use super::order::{write_ended, OrderActor};
use super::{OrderError, SharedEnv};
use crate::domain::{time, Fen, Order, OrderEvent, OrderStatus, Payment, Prepay, Refund};
use crate::provider::{
    codes, ProviderError, QueryResponse, RefundStatus, TradeStatus, UnifiedOrder,
};

/// Pause before asking about a pending refund again.
const REFUND_RECHECK: Duration = Duration::from_secs(2);
/// First pause before retrying a refund the provider could not take (an outage); doubled
/// on each failure up to [`MAX_REFUND_RETRY`].
pub(super) const FIRST_REFUND_RETRY: Duration = Duration::from_secs(10);
/// Longest pause between attempts at a refund.
const MAX_REFUND_RETRY: Duration = Duration::from_secs(600);
/// Refunds the provider answered `FAIL` before it is left to a person.
const MAX_REFUND_ATTEMPTS: u32 = 3;

fn provider_failed(error: ProviderError) -> OrderError {
    OrderError::ProviderFailed(error.to_string())
}

/// What paying answered.
impl OrderActor {
    /// Takes `order` (already durable) as the actor's state: stops following the payment
    /// once it is settled, and stops the actor once nothing more can happen.
    pub(super) fn adopt(&mut self, order: Order, ctx: &mut Context<Self>) {
        let settled = order.status != OrderStatus::Unpaid;
        self.set_order(order);
        if settled && self.order.payment.is_some() {
            self.env.poller.do_send(Unwatch {
                parent_order_no: self.order.parent_order_no.clone(),
            });
        }
        if !self.order.needs_actor() {
            ctx.stop();
        }
    }

    /// Starts following an open payment (at start-up and after paying).
    pub(super) fn watch_payment(&self) {
        if self.order.status == OrderStatus::Unpaid && self.order.payment.is_some() {
            self.env.poller.do_send(Watch {
                parent_order_no: self.order.parent_order_no.clone(),
                amount: self.order.total().0,
                deadline: self.order.deadline(),
            });
        }
    }

    fn is_past_deadline(&self) -> bool {
        time::now_millis() >= self.order.deadline().saturating_mul(1000)
    }
}

impl Handler<Pay> for OrderActor {
    type Result = AtomicResponse<Self, Result<Order, OrderError>>;

    #[tracing::instrument(skip_all, fields(order_no = %self.order.parent_order_no))]
    fn handle(&mut self, msg: Pay, _ctx: &mut Context<Self>) -> Self::Result {
        let refused = match self.order.status {
            _ if !(self.order.status.is_visible() && self.order.is_owned_by(msg.who)) => {
                Some(OrderError::NotFound)
            }
            OrderStatus::Paid => Some(OrderError::AlreadyPaid),
            OrderStatus::Unpaid if !self.is_past_deadline() => None,
            _ => Some(OrderError::Closed),
        };
        if let Some(error) = refused {
            return self.answer_now(Err(error));
        }
        if self
            .order
            .payment
            .as_ref()
            .is_some_and(|p| p.prepay.is_some())
        {
            // Paying again while a payment is open returns the same prepay.
            return self.answer_now(Ok((*self.order).clone()));
        }
        let env = self.env.clone();
        let order = (*self.order).clone();
        AtomicResponse::new(Box::pin(
            start_payment(env, order, msg).into_actor(self).map(
                |outcome, actor, ctx| match outcome {
                    Ok(order) => {
                        actor.adopt(order.clone(), ctx);
                        actor.watch_payment();
                        Ok(order)
                    }
                    Err((recorded, error)) => {
                        // The attempt is on disk: a provider order may exist, so follow it.
                        actor.adopt(recorded, ctx);
                        actor.watch_payment();
                        Err(error)
                    }
                },
            ),
        ))
    }
}

/// Records the attempt (durable), then places the unified order and keeps its prepay. A
/// zero-price order is paid at once, without the provider.
async fn start_payment(
    env: SharedEnv,
    mut order: Order,
    pay: Pay,
) -> Result<Order, (Order, OrderError)> {
    let now = time::now_secs();
    let amount = order.total();
    let open_id = pay.open_id.unwrap_or_else(|| placeholder_open_id(&order));
    if order.payment.is_none() {
        order.payment = Some(Box::new(Payment {
            payment_way: pay.payment_way,
            started_at: now,
            amount,
            open_id: open_id.clone(),
            prepay: None,
            target_order_id: None,
            refund: None,
        }));
    }
    order.payment_way = pay.payment_way;
    if amount == Fen::ZERO {
        let evidence = PaidEvidence {
            amount: 0,
            paid_at: Some(now),
            target_order_id: None,
            source: "zero price",
            refunded: false,
        };
        let unchanged = order.clone();
        return mark_paid(&env, order, evidence)
            .await
            .map_err(|error| (unchanged, error));
    }
    if let Err(error) = env.store.write_durable(order.clone(), None).await {
        return Err((order, error.into()));
    }
    crate::failpoint::hit("pay.after_attempt");
    let request = UnifiedOrder {
        mer_order_id: order.parent_order_no.to_string(),
        total_amount: amount.0,
        expire_at: i64::try_from(order.deadline()).unwrap_or(i64::MAX),
        sub_open_id: open_id,
        order_desc: order.items.first().map(|item| item.sku_name.clone()),
    };
    let answer = match env.provider.unified_order(&request).await {
        Ok(answer) => answer,
        Err(error) if error.is_order_closed() => return Err((order, OrderError::Closed)),
        Err(error) => {
            tracing::warn!(%error, "unified order failed");
            return Err((order, provider_failed(error)));
        }
    };
    let pay_request = answer.mini_pay_request;
    if let Some(payment) = order.payment.as_mut() {
        payment.prepay = Some(Prepay {
            app_id: pay_request.app_id,
            time_stamp: pay_request.time_stamp,
            nonce_str: pay_request.nonce_str,
            package: pay_request.package,
            sign_type: pay_request.sign_type,
            pay_sign: pay_request.pay_sign,
        });
    }
    match env.store.write_durable(order.clone(), None).await {
        Ok(()) => Ok(order),
        Err(error) => Err((order, error.into())),
    }
}

/// The payer's openid when the frontend did not send one: in the embedded default a stable
/// placeholder derived from the member (a real deployment reads the member's profile).
fn placeholder_open_id(order: &Order) -> String {
    use sha2::{Digest, Sha256};
    let owner = order.request.owner;
    let digest = Sha256::digest(format!("openid:{}:{}", owner.company_id, owner.member_id));
    format!("o{}", &hex::encode(digest)[..27])
}

/// Marks the order paid (durable, with the subsystem's notice).
pub(super) async fn mark_paid(
    env: &SharedEnv,
    mut order: Order,
    evidence: PaidEvidence,
) -> Result<Order, OrderError> {
    if evidence.amount != order.total().0 {
        return Err(OrderError::Mismatch(format!(
            "paid {} fen, order is {} fen",
            evidence.amount,
            order.total()
        )));
    }
    let now = time::now_secs();
    order
        .apply(OrderEvent::Paid, now)
        .map_err(|_| OrderError::Closed)?;
    order.payment_time = evidence.paid_at.filter(|t| *t > 0).unwrap_or(now);
    if let Some(payment) = order.payment.as_mut() {
        payment.target_order_id = evidence.target_order_id.clone();
    }
    write_ended(env, order.clone(), 1).await?;
    tracing::info!(order_no = %order.parent_order_no, source = evidence.source, "order paid");
    Ok(order)
}

/// Closes the order (expiry or cancel). With a payment started, the provider closes it
/// first (one of a bounded number of provider calls at once, so a shared deadline does not
/// fire every close together); if the provider says it is paid, or refuses the close for
/// good, its query decides: paid → paid, paid and refunded → refunded, closed → closed.
pub(super) async fn close_order(
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

/// The provider's query of the order, checked against its number and amount, in turn with
/// the other provider calls of the order actors.
async fn query_order(env: &SharedEnv, order: &Order) -> Result<QueryResponse, ProviderError> {
    let _slot = env.provider_slot().await;
    env.provider
        .query_checked(order.parent_order_no.as_str(), order.total().0)
        .await
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
            let evidence = PaidEvidence::from_query(&answer, "close");
            mark_paid(env, order, evidence).await
        }
        TradeStatus::TradeRefund => mark_refunded_at_provider(env, order, &answer).await,
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
        .apply(event, time::now_secs())
        .map_err(|_| OrderError::Closed)?;
    write_ended(env, order.clone(), 2).await?;
    crate::failpoint::hit("expire.after_close");
    // How long after its deadline the order was closed (durably): the expiry lateness.
    let late_ms = time::now_millis().saturating_sub(order.deadline().saturating_mul(1000));
    tracing::info!(order_no = %order.parent_order_no, ?event, deadline = order.deadline(), late_ms, "order closed");
    Ok(order)
}

impl Handler<PaymentConfirmed> for OrderActor {
    type Result = AtomicResponse<Self, Result<Order, OrderError>>;

    #[tracing::instrument(skip_all, fields(order_no = %self.order.parent_order_no, source = msg.evidence.source))]
    fn handle(&mut self, msg: PaymentConfirmed, _ctx: &mut Context<Self>) -> Self::Result {
        let total = self.order.total().0;
        let settled_refund = msg.evidence.refunded
            && matches!(
                self.order.status,
                OrderStatus::Unpaid
                    | OrderStatus::Paid
                    | OrderStatus::Closed
                    | OrderStatus::RefundRefused
            )
            && self.order.payment.is_some()
            && msg.evidence.amount == total;
        if settled_refund {
            // Paid and refunded at the provider: settled as refunded, whatever we thought.
            let env = self.env.clone();
            let order = (*self.order).clone();
            let evidence = msg.evidence;
            return AtomicResponse::new(Box::pin(
                async move { refunded_at_provider(&env, order, &evidence).await }
                    .into_actor(self)
                    .map(|outcome, actor, ctx| actor.settle(outcome, ctx)),
            ));
        }
        let ready = match self.order.status {
            OrderStatus::Paid | OrderStatus::Refunded | OrderStatus::RefundRefused => {
                Some(Ok((*self.order).clone()))
            }
            OrderStatus::Creating | OrderStatus::Abandoned => Some(Err(OrderError::NotFound)),
            _ if msg.evidence.amount != total => Some(Err(OrderError::Mismatch(format!(
                "paid {} fen, order is {total} fen",
                msg.evidence.amount
            )))),
            // No provider order can exist without a payment attempt: never legitimate.
            _ if self.order.payment.is_none() => Some(Err(OrderError::Mismatch(
                "no payment was started for this order".into(),
            ))),
            OrderStatus::Closed => {
                // Money may have reached the provider for an order closed here: once the
                // provider's own query confirms it, record the refund (durable) before
                // acknowledging, then give the money back.
                let env = self.env.clone();
                let order = (*self.order).clone();
                return AtomicResponse::new(Box::pin(
                    async move { late_payment(&env, order, msg.evidence).await }
                        .into_actor(self)
                        .map(|outcome, actor, ctx| {
                            let order = actor.settle(outcome, ctx)?;
                            if order.refund_pending() {
                                tracing::warn!("payment for a closed order; refunding");
                                ctx.notify(CheckRefund);
                            }
                            Ok(order)
                        }),
                ));
            }
            OrderStatus::Unpaid => None,
        };
        if let Some(answer) = ready {
            return self.answer_now(answer);
        }
        let env = self.env.clone();
        let order = (*self.order).clone();
        AtomicResponse::new(Box::pin(
            async move { mark_paid(&env, order, msg.evidence).await }
                .into_actor(self)
                .map(|outcome, actor, ctx| actor.settle(outcome, ctx)),
        ))
    }
}

/// A payment reported for an order closed here. A notify is only believed once the
/// provider's query says the same (a stray or replayed notify must not start a refund the
/// provider would refuse); a query answer is. Paid → the refund is recorded; refunded at
/// the provider already → settled as refunded; anything else changes nothing.
async fn late_payment(
    env: &SharedEnv,
    order: Order,
    evidence: PaidEvidence,
) -> Result<Order, OrderError> {
    if evidence.source == "notify" {
        let answer = query_order(env, &order).await.map_err(provider_failed)?;
        match answer.status {
            TradeStatus::TradeSuccess => {}
            TradeStatus::TradeRefund => {
                return mark_refunded_at_provider(env, order, &answer).await
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
    record_refund(env, order).await
}

/// The order was paid and then refunded at the provider (a query said `TRADE_REFUND`).
async fn mark_refunded_at_provider(
    env: &SharedEnv,
    order: Order,
    answer: &QueryResponse,
) -> Result<Order, OrderError> {
    refunded_at_provider(env, order, &PaidEvidence::from_query(answer, "query")).await
}

/// The order was paid and then refunded at the provider (e.g. from its console): settled
/// as refunded, with the seat released, in one durable change.
async fn refunded_at_provider(
    env: &SharedEnv,
    mut order: Order,
    evidence: &PaidEvidence,
) -> Result<Order, OrderError> {
    let now = time::now_secs();
    if order.status == OrderStatus::Unpaid {
        order
            .apply(OrderEvent::Paid, now)
            .map_err(|error| OrderError::Mismatch(error.to_string()))?;
        order.payment_time = evidence.paid_at.filter(|t| *t > 0).unwrap_or(now);
        if let Some(payment) = order.payment.as_mut() {
            payment.target_order_id = evidence.target_order_id.clone();
        }
    }
    order
        .apply(OrderEvent::Refunded, now)
        .map_err(|error| OrderError::Mismatch(error.to_string()))?;
    write_ended(env, order.clone(), 3).await?;
    tracing::warn!(order_no = %order.parent_order_no, "the provider says paid and refunded (a refund made outside the order center); settled as refunded");
    Ok(order)
}

/// Where a refund stands after one step.
enum RefundStep {
    Done(Order),
    Pending(Order),
}

/// Records a refund of the order's payment (durable), unless one is recorded already.
async fn record_refund(env: &SharedEnv, mut order: Order) -> Result<Order, OrderError> {
    let refund_order_id = order.refund_order_id(1);
    let amount = order.total();
    let Some(payment) = order.payment.as_mut() else {
        return Err(OrderError::Mismatch("no payment to refund".into()));
    };
    if payment.refund.is_none() {
        payment.refund = Some(Refund {
            refund_order_id,
            attempt: 1,
            amount,
            requested_at: time::now_secs(),
        });
        env.store.write_durable(order.clone(), None).await?;
    }
    Ok(order)
}

/// Records the refund (durable) if new, then asks the provider (refund, idempotent on the
/// derived `refundOrderId`, or refund-query once accepted) and records a final answer:
/// success → refunded; `FAIL` → a new attempt, up to [`MAX_REFUND_ATTEMPTS`]; a final
/// refusal → what the query says, else [`OrderStatus::RefundRefused`].
async fn refund_step(
    env: SharedEnv,
    order: Order,
    accepted: bool,
) -> Result<RefundStep, (Order, OrderError)> {
    let mut order = match record_refund(&env, order.clone()).await {
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
            if let Err(error) = order.apply(OrderEvent::Refunded, time::now_secs()) {
                return Err((order, OrderError::Mismatch(error.to_string())));
            }
            if let Err(error) = write_ended(&env, order.clone(), 3).await {
                return Err((order, error.into()));
            }
            tracing::info!(order_no = %order.parent_order_no, "late payment refunded");
            Ok(RefundStep::Done(order))
        }
        Ok(answer) if answer.refund_status == RefundStatus::Fail => {
            // The provider is idempotent on the id: asking again under it would only repeat
            // FAIL. The next attempt gets the next id, recorded before it is used.
            let next = order
                .payment
                .as_ref()
                .and_then(|p| p.refund.as_ref())
                .map_or(2, |r| r.attempt + 1);
            if next > MAX_REFUND_ATTEMPTS {
                return refund_refused(&env, order, "the provider failed every refund attempt")
                    .await;
            }
            let next_id = order.refund_order_id(next);
            if let Some(refund) = order.payment.as_mut().and_then(|p| p.refund.as_mut()) {
                refund.attempt = next;
                refund.refund_order_id = next_id;
            }
            tracing::error!(order_no = %order.parent_order_no, attempt = next, "provider failed the refund; trying a new refund");
            if let Err(error) = env.store.write_durable(order.clone(), None).await {
                return Err((order, error.into()));
            }
            Err((order, OrderError::ProviderFailed("refund failed".into())))
        }
        Ok(_) => Ok(RefundStep::Pending(order)),
        // Only an explicit refusal of a new refund request is final; anything else (an
        // outage, a proxy's 4xx, a refund-query the provider could not answer) is retried:
        // giving up on a refund the provider may still carry out would refund twice.
        Err(error) if !accepted && error.code() == Some(codes::REFUND_NOT_ALLOWED) => {
            // Refunded already (e.g. from the provider's console)? Then settled.
            match query_order(&env, &order).await {
                Ok(answer) if answer.status == TradeStatus::TradeRefund => {
                    match mark_refunded_at_provider(&env, order.clone(), &answer).await {
                        Ok(refunded) => Ok(RefundStep::Done(refunded)),
                        Err(error) => Err((order, error)),
                    }
                }
                Ok(answer) if answer.status == TradeStatus::TradeSuccess => {
                    refund_refused(&env, order, &error.to_string()).await
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
        Err(error) => {
            if !error.is_retryable() {
                tracing::error!(%error, accepted, "the provider refused a refund call in a way retrying may not fix; retrying with backoff");
            }
            Err((order, provider_failed(error)))
        }
    }
}

/// The provider will not refund: recorded as [`OrderStatus::RefundRefused`] (durable; no
/// actor, nothing retried), logged at error level and counted for a person.
async fn refund_refused(
    env: &SharedEnv,
    mut order: Order,
    reason: &str,
) -> Result<RefundStep, (Order, OrderError)> {
    if let Err(error) = order.apply(OrderEvent::RefundRefused, time::now_secs()) {
        return Err((order, OrderError::Mismatch(error.to_string())));
    }
    if let Err(error) = env.store.write_durable(order.clone(), None).await {
        return Err((order, error.into()));
    }
    env.count_needing_attention();
    tracing::error!(order_no = %order.parent_order_no, %reason, "the provider refused to refund a late payment; a person must refund it");
    Ok(RefundStep::Done(order))
}

impl Handler<CheckRefund> for OrderActor {
    type Result = AtomicResponse<Self, ()>;

    #[tracing::instrument(skip_all, fields(order_no = %self.order.parent_order_no))]
    fn handle(&mut self, _msg: CheckRefund, _ctx: &mut Context<Self>) -> Self::Result {
        if self.order.status != OrderStatus::Closed || self.order.payment.is_none() {
            return self.answer_now(());
        }
        let env = self.env.clone();
        let order = (*self.order).clone();
        let accepted = self.refund_accepted;
        AtomicResponse::new(Box::pin(
            refund_step(env, order, accepted)
                .into_actor(self)
                .map(|outcome, actor, ctx| match outcome {
                    Ok(RefundStep::Done(order)) => actor.adopt(order, ctx),
                    Ok(RefundStep::Pending(order)) => {
                        actor.refund_accepted = true;
                        actor.refund_retry = FIRST_REFUND_RETRY;
                        actor.adopt(order, ctx);
                        ctx.run_later(REFUND_RECHECK, |_, ctx| ctx.notify(CheckRefund));
                    }
                    Err((order, error)) => {
                        let pause = super::order::jittered(actor.refund_retry);
                        actor.refund_retry = (actor.refund_retry * 2).min(MAX_REFUND_RETRY);
                        tracing::warn!(%error, retry_in_ms = pause.as_millis() as u64, "refund not confirmed yet; retrying");
                        actor.refund_accepted = false;
                        actor.adopt(order, ctx);
                        ctx.run_later(pause, |_, ctx| ctx.notify(CheckRefund));
                    }
                }),
        ))
    }
}
