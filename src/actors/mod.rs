//! The live part of the order center: the actors, and the API that routes to them. Calls go
//! one way: [`center`] → [`supervisor`] → [`order`] → [`poller`]; the poller reports back on
//! a channel, not through the API.
//!
//! - [`center::OrderCenter`] is the order center's API (what the HTTP layer calls): it
//!   routes each [`crate::domain::Command`] to the order's actor, or answers an order that
//!   can no longer change from the store.
//! - [`supervisor::Supervisor`] routes by `parent_order_no` to one [`order::OrderActor`] per
//!   live order, starting actors on the arbiters round-robin and activating them from the
//!   store on demand.
//! - [`order::OrderActor`] owns one order's state and its expiry timer; it decides each
//!   command with [`crate::domain::Order::decide`] and carries out the effect with a
//!   [`crate::workflow`] function (every state change is durable before it is answered).
//! - [`poller::TradePoller`] queries open payments at the provider and reports the ones it
//!   finds paid as [`poller::PaymentFound`].

pub mod center;
pub mod order;
pub mod poller;
pub mod reconcile;
pub mod supervisor;

pub use center::{CreateOrder, OrderCenter};

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::domain::{Order, OrderNo};

/// The last durable state of a live order, published by its actor for readers (state
/// polling never waits behind a provider call in the actor's mailbox). The actor and the
/// snapshot share one allocation of the order.
pub type Snapshot = Arc<parking_lot::RwLock<Arc<Order>>>;

/// The snapshots of the live actors by order, kept by the supervisor and read by the API
/// directly: a state poll costs a map read, not a message to the supervisor's thread and
/// back (that round trip was most of a poll's cost). A snapshot only ever holds a durable
/// state, so one read just after its actor stopped is still true. Keyed with FxHash: the keys are
/// our own order numbers (no one else chooses what is inserted), and SipHash showed in the
/// profile of a poll.
#[derive(Clone, Default)]
pub struct Published(Arc<parking_lot::RwLock<FxHashMap<OrderNo, (u64, Snapshot)>>>);

impl Published {
    /// The order as its live actor last published it.
    pub fn get(&self, parent_order_no: &OrderNo) -> Option<Arc<Order>> {
        let published = self.0.read();
        let (_, snapshot) = published.get(parent_order_no)?;
        let order = snapshot.read().clone();
        Some(order)
    }

    /// Publishes the snapshot of the actor `incarnation` of the order.
    fn insert(&self, parent_order_no: OrderNo, incarnation: u64, snapshot: Snapshot) {
        self.0
            .write()
            .insert(parent_order_no, (incarnation, snapshot));
    }

    /// Stops publishing the actor `incarnation` of the order (a newer one stays).
    fn remove(&self, parent_order_no: &OrderNo, incarnation: u64) {
        let mut published = self.0.write();
        if published
            .get(parent_order_no)
            .is_some_and(|(published, _)| *published == incarnation)
        {
            published.remove(parent_order_no);
        }
    }
}
