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
pub mod supervisor;

pub use center::{CreateOrder, OrderCenter};

/// The last durable state of a live order, published by its actor for readers (state
/// polling never waits behind a provider call in the actor's mailbox). The actor and the
/// snapshot share one allocation of the order.
pub type Snapshot = std::sync::Arc<parking_lot::RwLock<std::sync::Arc<crate::domain::Order>>>;
