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
//! - [`order::OrderActor`] owns one order's state and its expiry timer (armed on its
//!   thread's shared timer, [`expiry`]); it decides each
//!   command with [`crate::domain::Order::decide`] and carries out the effect with a
//!   [`crate::workflow`] function (every state change is durable before it is answered).
//! - [`poller::TradePoller`] queries open payments at the provider and reports the ones it
//!   finds paid as [`poller::PaymentFound`].

pub mod center;
pub mod expiry;
pub mod order;
pub mod poller;
pub mod reconcile;
pub mod supervisor;

pub use center::{CreateOrder, OrderCenter};

use std::sync::Arc;

use actix::Addr;
use rustc_hash::FxHashMap;

use crate::domain::{Order, OrderNo};
use order::OrderActor;

/// The last durable state of a live order, published by its actor for readers (state
/// polling never waits behind a provider call in the actor's mailbox). The actor and the
/// snapshot share one allocation of the order.
pub type Snapshot = Arc<parking_lot::RwLock<Arc<Order>>>;

/// A live order's actor as the registry knows it.
#[derive(Clone)]
pub(crate) struct Live {
    /// Which incarnation of the order's actor (a newer one replaces it).
    pub(crate) incarnation: u64,
    /// Where to send the order's commands.
    pub(crate) actor: Addr<OrderActor>,
    /// What it last published.
    pub(crate) snapshot: Snapshot,
}

/// The live actors by order: their addresses, which the supervisor routes by (and is the
/// only one to change), and the snapshots they publish, which the API reads directly: a
/// state poll costs a map read, not a message to the supervisor's thread and back (that
/// round trip was most of a poll's cost). A snapshot only ever holds a durable state, so
/// one read just after its actor stopped is still true.
///
/// One map for both (there were two, the supervisor's own and this one): an entry and a
/// key per live order less, and one hash per actor started at recovery instead of two.
/// Keyed by the number as an integer ([`OrderNo::to_u64`]; 8 bytes, not 19 and padding:
/// at a million live orders the table has two million slots) with FxHash: the keys are
/// our own order numbers (no one else chooses what is inserted), and SipHash showed in the
/// profiles of a poll and of recovery.
#[derive(Clone, Default)]
pub struct Published(Arc<parking_lot::RwLock<FxHashMap<u64, Live>>>);

impl Published {
    /// The order as its live actor last published it.
    pub fn get(&self, parent_order_no: &OrderNo) -> Option<Arc<Order>> {
        let published = self.0.read();
        let live = published.get(&parent_order_no.to_u64())?;
        let order = live.snapshot.read().clone();
        Some(order)
    }

    /// The order's live actor, if its mailbox is still open.
    fn actor(&self, parent_order_no: &OrderNo) -> Option<Addr<OrderActor>> {
        self.0
            .read()
            .get(&parent_order_no.to_u64())
            .map(|live| &live.actor)
            .filter(|actor| actor.connected())
            .cloned()
    }

    /// How many actors are registered.
    fn len(&self) -> usize {
        self.0.read().len()
    }

    /// Registers the actor of the order (replacing an older one).
    fn insert(&self, parent_order_no: &OrderNo, live: Live) {
        self.0.write().insert(parent_order_no.to_u64(), live);
    }

    /// Registers many actors at once (recovery: one lock for a page of them).
    fn insert_all(&self, started: impl IntoIterator<Item = (OrderNo, Live)>) {
        let started = started.into_iter().map(|(no, live)| (no.to_u64(), live));
        self.0.write().extend(started);
    }

    /// Forgets the actor `incarnation` of the order (a newer one stays).
    fn remove(&self, parent_order_no: &OrderNo, incarnation: u64) {
        let key = parent_order_no.to_u64();
        let mut published = self.0.write();
        if published
            .get(&key)
            .is_some_and(|live| live.incarnation == incarnation)
        {
            published.remove(&key);
        }
    }
}
