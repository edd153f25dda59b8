//! The provider-side state machine of an order, as pure functions over the stored order.
//!
//! ```text
//! WAIT_BUYER_PAY ──pay──▶ TRADE_SUCCESS ──refund (in full, once done)──▶ TRADE_REFUND
//!       │
//!       └──close / expireTime passed──▶ TRADE_CLOSED   (final: never paid afterwards)
//! ```
//!
//! Expiry and refund completion happen with time, not with a call, so every operation first
//! [`settle`]s the order at the current time. Each function returns the [`Change`] to write
//! (if any) and its outcome; the store applies it atomically.

use crate::provider::codes;
use crate::provider::wire::{RefundStatus, TradeStatus};
use crate::store::paysim::{Change, NotifyJob, SimOrder, SimRefund, SimStatus};

/// A protocol-level refusal: `errCode` and `errMsg`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `errCode` (see [`codes`]).
    pub code: &'static str,
    /// `errMsg`.
    pub message: String,
}

impl Refusal {
    /// A refusal with `code` and `message`.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn no_order() -> Self {
        Self::new(codes::NO_ORDER, "无法找到指定的订单")
    }
}

/// Why the buyer could not pay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayRefusal {
    /// No such order.
    NoOrder,
    /// Closed or expired: nothing is charged.
    Closed,
    /// Already paid (or refunded): nothing is charged again.
    AlreadyPaid,
}

/// The wire status of a stored status.
pub fn trade_status(status: SimStatus) -> TradeStatus {
    match status {
        SimStatus::WaitBuyerPay => TradeStatus::WaitBuyerPay,
        SimStatus::Paid => TradeStatus::TradeSuccess,
        SimStatus::Closed => TradeStatus::TradeClosed,
        SimStatus::Refunded => TradeStatus::TradeRefund,
    }
}

/// The state of a refund at `now_ms`.
pub fn refund_status(refund: &SimRefund, now_ms: i64) -> RefundStatus {
    if refund.completes_at_ms <= now_ms {
        RefundStatus::Success
    } else {
        RefundStatus::Processing
    }
}

/// Fen refunded and done at `now_ms`.
pub fn refunded_amount(order: &SimOrder, now_ms: i64) -> u64 {
    order
        .refunds
        .iter()
        .filter(|refund| refund_status(refund, now_ms) == RefundStatus::Success)
        .map(|refund| refund.amount)
        .sum()
}

/// Applies what time did: an unpaid order past `expireTime` is closed; a paid order whose
/// refunds are done in full is refunded. Returns whether anything changed.
pub fn settle(order: &mut SimOrder, now_ms: i64) -> bool {
    let now = now_ms.div_euclid(1000);
    match (order.status, order.expire_at) {
        (SimStatus::WaitBuyerPay, Some(deadline)) if now > deadline => {
            order.status = SimStatus::Closed;
            order.closed_at = Some(deadline);
            true
        }
        (SimStatus::Paid, _) if refunded_amount(order, now_ms) >= order.total_amount => {
            order.status = SimStatus::Refunded;
            true
        }
        _ => false,
    }
}

fn keep<T>(changed: bool, order: SimOrder, output: T) -> Change<T> {
    if changed {
        Change::write(order, output)
    } else {
        Change::none(output)
    }
}

/// Unified order: a new merOrderId creates `candidate`; a repeat with the same amount while
/// unpaid returns the existing prepay; another amount is a duplicate; a paid or closed order
/// cannot be ordered again.
pub fn place(
    current: Option<SimOrder>,
    candidate: SimOrder,
    now_ms: i64,
) -> Change<Result<SimOrder, Refusal>> {
    let Some(mut order) = current else {
        return Change::write(candidate.clone(), Ok(candidate));
    };
    let changed = settle(&mut order, now_ms);
    let outcome = if order.total_amount != candidate.total_amount {
        Err(Refusal::new(
            codes::DUP_ORDER,
            format!("订单号重复：已存在金额为 {} 分的订单", order.total_amount),
        ))
    } else {
        match order.status {
            SimStatus::WaitBuyerPay => Ok(order.clone()),
            SimStatus::Paid | SimStatus::Refunded => {
                Err(Refusal::new(codes::ORDER_PAID, "订单已支付"))
            }
            SimStatus::Closed => Err(Refusal::new(codes::ORDER_CLOSED, "订单已关闭")),
        }
    };
    keep(changed, order, outcome)
}

/// Query: the order at `now_ms`.
pub fn query(current: Option<SimOrder>, now_ms: i64) -> Change<Result<SimOrder, Refusal>> {
    let Some(mut order) = current else {
        return Change::none(Err(Refusal::no_order()));
    };
    let changed = settle(&mut order, now_ms);
    keep(changed, order.clone(), Ok(order))
}

/// Close: an unpaid order is closed (closing again succeeds); a paid one is refused.
pub fn close(current: Option<SimOrder>, now_ms: i64) -> Change<Result<SimOrder, Refusal>> {
    let Some(mut order) = current else {
        return Change::none(Err(Refusal::no_order()));
    };
    let mut changed = settle(&mut order, now_ms);
    let outcome = match order.status {
        SimStatus::WaitBuyerPay => {
            order.status = SimStatus::Closed;
            order.closed_at = Some(now_ms.div_euclid(1000));
            changed = true;
            Ok(order.clone())
        }
        SimStatus::Closed => Ok(order.clone()),
        SimStatus::Paid | SimStatus::Refunded => {
            Err(Refusal::new(codes::ORDER_PAID, "订单已支付，不能关闭"))
        }
    };
    keep(changed, order, outcome)
}

/// The buyer pays: only an unpaid order before its deadline — or, with `charge_closed` (a
/// fault), a closed one too; schedules the notify when the order gave a `notifyUrl`.
pub fn pay(
    current: Option<SimOrder>,
    now_ms: i64,
    target_order_id: String,
    charge_closed: bool,
) -> Change<Result<SimOrder, PayRefusal>> {
    let Some(mut order) = current else {
        return Change::none(Err(PayRefusal::NoOrder));
    };
    let changed = settle(&mut order, now_ms);
    let payable = order.status == SimStatus::WaitBuyerPay
        || (order.status == SimStatus::Closed && charge_closed);
    match order.status {
        _ if payable => {
            order.status = SimStatus::Paid;
            order.paid_at = Some(now_ms.div_euclid(1000));
            order.target_order_id = Some(target_order_id);
            let notify = (!order.notify_url.is_empty()).then(|| NotifyJob {
                mer_order_id: order.mer_order_id.clone(),
                attempt: 0,
                due_ms: now_ms,
            });
            Change {
                notify,
                order: Some(order.clone()),
                output: Ok(order),
            }
        }
        SimStatus::WaitBuyerPay | SimStatus::Closed => {
            keep(changed, order, Err(PayRefusal::Closed))
        }
        SimStatus::Paid | SimStatus::Refunded => keep(changed, order, Err(PayRefusal::AlreadyPaid)),
    }
}

/// What a refund call asks.
#[derive(Clone, Debug)]
pub struct RefundAsk {
    /// Idempotency key.
    pub refund_order_id: String,
    /// Fen.
    pub amount: u64,
    /// `PROCESSING` for this long (see [`super::Faults::refund_processing_ms`]).
    pub processing_ms: Option<u64>,
    /// WeChat's id for a new refund.
    pub refund_target_order_id: String,
}

/// Refund: idempotent on `refundOrderId` (same amount → the same refund, another amount → a
/// duplicate); only a paid order, and never more than was paid.
pub fn refund(
    current: Option<SimOrder>,
    ask: RefundAsk,
    now_ms: i64,
) -> Change<Result<(SimOrder, SimRefund), Refusal>> {
    let Some(mut order) = current else {
        return Change::none(Err(Refusal::no_order()));
    };
    let changed = settle(&mut order, now_ms);
    let existing = order
        .refunds
        .iter()
        .find(|refund| refund.refund_order_id == ask.refund_order_id)
        .cloned();
    if let Some(refund) = existing {
        let outcome = if refund.amount == ask.amount {
            Ok((order.clone(), refund))
        } else {
            Err(Refusal::new(codes::DUP_ORDER, "退款单号重复：金额不同"))
        };
        return keep(changed, order, outcome);
    }
    let asked: u64 = order.refunds.iter().map(|refund| refund.amount).sum();
    let refusal = match order.status {
        SimStatus::Paid if ask.amount == 0 => Some("退款金额必须大于0"),
        SimStatus::Paid if asked.saturating_add(ask.amount) > order.total_amount => {
            Some("退款金额超过可退金额")
        }
        SimStatus::Paid => None,
        SimStatus::Refunded => Some("订单已全额退款"),
        SimStatus::WaitBuyerPay | SimStatus::Closed => Some("订单未支付，不能退款"),
    };
    if let Some(message) = refusal {
        return keep(
            changed,
            order,
            Err(Refusal::new(codes::REFUND_NOT_ALLOWED, message)),
        );
    }
    // `Some(0)` still answers PROCESSING once: the refund completes a millisecond later.
    let completes_at_ms = match ask.processing_ms {
        None => now_ms,
        Some(ms) => now_ms
            .saturating_add(i64::try_from(ms).unwrap_or(i64::MAX))
            .saturating_add(1),
    };
    let refund = SimRefund {
        refund_order_id: ask.refund_order_id,
        amount: ask.amount,
        requested_at: now_ms.div_euclid(1000),
        completes_at_ms,
        refund_target_order_id: ask.refund_target_order_id,
    };
    order.refunds.push(refund.clone());
    settle(&mut order, now_ms);
    Change::write(order.clone(), Ok((order, refund)))
}

/// Refund query: the state at `now_ms` of the refund `refund_order_id`, or without one of
/// the order's latest refund.
pub fn refund_query(
    current: Option<SimOrder>,
    refund_order_id: Option<&str>,
    now_ms: i64,
) -> Change<Result<(SimOrder, SimRefund), Refusal>> {
    let Some(mut order) = current else {
        return Change::none(Err(Refusal::no_order()));
    };
    let changed = settle(&mut order, now_ms);
    let found = match refund_order_id {
        Some(id) => order
            .refunds
            .iter()
            .find(|refund| refund.refund_order_id == id),
        None => order.refunds.last(),
    };
    let outcome = found
        .cloned()
        .map(|refund| (order.clone(), refund))
        .ok_or_else(|| Refusal::new(codes::NO_ORDER, "无法找到指定的退款单"));
    keep(changed, order, outcome)
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
