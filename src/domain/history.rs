//! What happened to an order, in order, each with its time: the answer to "what happened
//! to this order?" (`GET /admin/orders/{parent_order_no}`, `ordercenter inspect`).
//!
//! The history is part of the order: each entry is pushed where the order changes and is
//! written with that change, in the same durable record, so it costs no sled operation of
//! its own and can never disagree with the order (a change that is not on disk is not in
//! the history either). A notice delivered later by the outbox is recorded beside the
//! order by the store (`crate::store::orders::OrderStore::delivered_notices`), since the
//! outbox does not own the order.

use serde::{Deserialize, Serialize};

use super::{EvidenceSource, Fen, OrderEvent, OrderOutcome};

/// One thing that happened to an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When, Unix milliseconds.
    pub at_ms: u64,
    /// What.
    pub what: Happened,
}

/// What happened. New variants go last: stored entries keep their bincode index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Happened {
    /// The order was recorded *creating*, ahead of the subsystem's call (SPEC §3).
    Creating,
    /// The status machine moved ([`super::Order::apply_at`]): created, creation given up,
    /// paid, expired, cancelled, refunded, refund refused for good.
    Status(OrderEvent),
    /// A payment attempt was recorded, before the provider was called.
    PaymentStarted {
        /// `payment_way`.
        payment_way: u32,
        /// The amount asked for.
        amount: Fen,
    },
    /// The provider placed the unified order.
    Prepaid {
        /// Its `prepay_id`.
        prepay_id: String,
    },
    /// The provider reported the payment, and that changed the order (the status entry
    /// follows): by its notify, the poller's query, or the query after a refused close.
    Reported {
        /// How we heard.
        source: EvidenceSource,
        /// Whether it said the payment was refunded already (e.g. from its console).
        refunded: bool,
    },
    /// A refund of the payment was recorded, before the provider was asked.
    RefundRequested {
        /// The `refundOrderId`.
        refund_order_id: String,
        /// Which attempt (a new id after the provider answered `FAIL`).
        attempt: u32,
    },
    /// The subsystem was told how the order ended, in the same change (it keeps its records
    /// in our store).
    NoticeDelivered(OrderOutcome),
    /// The notice for the subsystem was queued in the outbox with this change; its
    /// delivery is recorded by the outbox when acknowledged.
    NoticeQueued(OrderOutcome),
    /// The subsystem acknowledged the outbox's notice. Recorded by the outbox beside the
    /// order (`crate::store::outbox::OutboxStore::delivered`), never in it.
    NoticeAcknowledged(OrderOutcome),
}

impl Happened {
    /// A short name, for tables and JSON (`created`, `payment_started`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Happened::Creating => "creating",
            Happened::Status(event) => match event {
                OrderEvent::Created => "created",
                OrderEvent::CreateFailed => "create_failed",
                OrderEvent::Paid => "paid",
                OrderEvent::Expired => "closed_expired",
                OrderEvent::Cancelled => "closed_cancelled",
                OrderEvent::Refunded => "refunded",
                OrderEvent::RefundRefused => "refund_refused",
            },
            Happened::PaymentStarted { .. } => "payment_started",
            Happened::Prepaid { .. } => "prepay_received",
            Happened::Reported { .. } => "provider_reported",
            Happened::RefundRequested { .. } => "refund_requested",
            Happened::NoticeDelivered(_) => "notice_delivered",
            Happened::NoticeQueued(_) => "notice_queued",
            Happened::NoticeAcknowledged(_) => "notice_delivered",
        }
    }

    /// The details as text (empty when the name says it all).
    pub fn detail(&self) -> String {
        match self {
            Happened::Creating | Happened::Status(_) => String::new(),
            Happened::PaymentStarted {
                payment_way,
                amount,
            } => format!("payment_way {payment_way}, {amount} fen"),
            Happened::Prepaid { prepay_id } => format!("prepay_id {prepay_id}"),
            Happened::Reported { source, refunded } => {
                let said = if *refunded {
                    "paid and refunded"
                } else {
                    "paid"
                };
                format!("{said}, by {}", source.as_str())
            }
            Happened::RefundRequested {
                refund_order_id,
                attempt,
            } => format!("refundOrderId {refund_order_id}, attempt {attempt}"),
            Happened::NoticeDelivered(outcome) => {
                format!("order_status {} (in the same change)", outcome.code())
            }
            Happened::NoticeQueued(outcome) => {
                format!("order_status {} (outbox)", outcome.code())
            }
            Happened::NoticeAcknowledged(outcome) => {
                format!("order_status {} (outbox, acknowledged)", outcome.code())
            }
        }
    }
}
