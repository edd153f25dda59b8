//! Messages of the order actors and the supervisor: named structs with typed results.

use actix::prelude::*;

use super::order::OrderActor;
use super::OrderError;
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

/// Order actor: the order as it is now.
#[derive(Message)]
#[rtype(result = "Order")]
pub struct GetOrder;

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

/// Supervisor: start (or return) the actor for an order.
#[derive(Message)]
#[rtype(result = "Addr<OrderActor>")]
pub struct Spawn {
    /// The order as loaded or as about to be created.
    pub order: Order,
}

/// Supervisor: the live actor of an order, if any.
#[derive(Message)]
#[rtype(result = "Option<Addr<OrderActor>>")]
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
