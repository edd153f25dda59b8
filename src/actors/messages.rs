//! Messages of the order actors and the supervisor: named structs with typed results.

use actix::prelude::*;

use super::order::OrderActor;
use super::{OrderError, Snapshot};
use crate::domain::{MemberRef, Order, OrderNo};

/// Order actor: finish a creation written ahead — record *creating* durably, call the
/// subsystem (retrying with the same `order_no`), record *created* and arm the timer; or
/// close the order and tell the subsystem when it cannot be created.
#[derive(Message)]
#[rtype(result = "Result<Order, OrderError>")]
pub struct FinishCreate {
    /// Whether the *creating* record still has to be written (false when recovered from
    /// the store, where it already is).
    pub record_creating: bool,
}

/// Order actor: the owner cancels.
#[derive(Message)]
#[rtype(result = "Result<Order, OrderError>")]
pub struct Cancel {
    /// Who asks (must be the owner).
    pub who: MemberRef,
}

/// Order actor: the deadline timer fired.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Expire;

/// Supervisor: start actors for orders just read from the store at startup (a page of
/// them at a time), and finish the creations among them.
#[derive(Message)]
#[rtype(result = "super::handle::RecoveryReport")]
pub struct Recover {
    /// Orders that need an actor.
    pub orders: Vec<Order>,
}

/// Supervisor: an actor started by its creator on the creator's own thread (a new order,
/// on the HTTP worker that received it), to route to from now on.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Register {
    /// The order's number.
    pub parent_order_no: OrderNo,
    /// Its actor.
    pub actor: Addr<OrderActor>,
    /// Which actor of the order this is (see [`Stopped`]).
    pub incarnation: u64,
    /// What the actor publishes for readers.
    pub snapshot: Snapshot,
}

/// Supervisor: the order's actor — the live one, or one activated from the store (read
/// after any previous actor of the order stopped, so never from a stale copy). An order
/// that can take no more messages is answered as stored.
#[derive(Message)]
#[rtype(result = "Result<Routed, OrderError>")]
pub struct Activate {
    /// Which order.
    pub parent_order_no: OrderNo,
}

/// Where [`Activate`] routes to.
pub enum Routed {
    /// The order's actor.
    Actor(Addr<OrderActor>),
    /// The order is final: nothing more can happen to it.
    Stored(Box<Order>),
}

/// Supervisor: the published state of an order's live actor, if any.
#[derive(Message)]
#[rtype(result = "Option<super::Snapshot>")]
pub struct Lookup {
    /// Which order.
    pub parent_order_no: OrderNo,
}

/// Supervisor: an order actor stopped (its order is final).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stopped {
    /// Which order.
    pub parent_order_no: OrderNo,
    /// Which incarnation of its actor (a newer one may already be registered).
    pub incarnation: u64,
}

/// Supervisor: how many order actors are live.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountLive;

/// What the provider says about a payment, from a verified notify or a checked query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaidEvidence {
    /// Amount paid, in fen.
    pub amount: u64,
    /// Payment time (Unix s), when the provider said.
    pub paid_at: Option<u64>,
    /// WeChat's transaction id.
    pub target_order_id: Option<String>,
    /// `notify` or `query`, for the logs.
    pub source: &'static str,
    /// The provider says the payment was refunded since (a query's `TRADE_REFUND`, e.g. a
    /// refund made in the provider's console): the order is settled as refunded.
    pub refunded: bool,
}

impl PaidEvidence {
    /// Evidence from the provider's fields (a query answer or a notify).
    pub fn new(
        amount: u64,
        pay_time: Option<&str>,
        target_order_id: Option<String>,
        source: &'static str,
    ) -> Self {
        let paid_at = pay_time
            .and_then(|t| crate::provider::time::parse_china(t, crate::provider::time::DATE_TIME))
            .map(|t| t.max(0) as u64);
        Self {
            amount,
            paid_at,
            target_order_id,
            source,
            refunded: false,
        }
    }

    /// Evidence from a query answer that says `TRADE_SUCCESS` or `TRADE_REFUND`.
    pub fn from_query(answer: &crate::provider::QueryResponse, source: &'static str) -> Self {
        Self {
            refunded: answer.status == crate::provider::TradeStatus::TradeRefund,
            ..Self::new(
                answer.total_amount.unwrap_or_default(),
                answer.pay_time.as_deref(),
                answer.target_order_id.clone(),
                source,
            )
        }
    }
}

/// Order actor: the owner pays (`shop/order/pay`).
#[derive(Message)]
#[rtype(result = "Result<Order, OrderError>")]
pub struct Pay {
    /// Who asks (must be the owner).
    pub who: MemberRef,
    /// `payment_way` (110).
    pub payment_way: u32,
    /// The payer's openid, if the frontend sent it.
    pub open_id: Option<String>,
}

/// Order actor: the provider says the order is paid.
#[derive(Message)]
#[rtype(result = "Result<Order, OrderError>")]
pub struct PaymentConfirmed {
    /// The evidence.
    pub evidence: PaidEvidence,
}

/// Order actor: look at a pending refund again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CheckRefund;

/// Trade poller: follow this payment until it is settled or its deadline passes.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Watch {
    /// Which order.
    pub parent_order_no: OrderNo,
    /// Amount expected, in fen.
    pub amount: u64,
    /// The order's deadline (Unix s).
    pub deadline: u64,
}

/// Trade poller: stop following this payment (settled by a notify or closed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unwatch {
    /// Which order.
    pub parent_order_no: OrderNo,
}

/// Trade poller: where to report (set once at startup).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReportTo {
    /// The order center's handle.
    pub orders: super::Orders,
}

/// Trade poller: counters.
#[derive(Message)]
#[rtype(result = "PollerStats")]
pub struct GetPollerStats;

/// What the trade poller did so far.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct PollerStats {
    /// Payments followed now.
    pub watched: usize,
    /// Queries sent to the provider.
    pub queries: u64,
    /// Payments the poller found paid.
    pub confirmed: u64,
}
