//! The live part of the order center: actors and the background loops around them.
//!
//! - [`supervisor::Supervisor`] routes by `parent_order_no` to one [`order::OrderActor`] per
//!   live order, starting actors on the arbiters round-robin and activating them from the
//!   store on demand.
//! - [`order::OrderActor`] owns one order's state and its expiry timer and handles its
//!   messages one at a time (every state change is durable before it is answered).
//! - [`poller::TradePoller`] queries open payments at the provider and reports payments to
//!   the order actors as messages.
//! - [`outbox`] delivers the notifications owed to business subsystems, with backoff, until
//!   they are acknowledged.
//! - [`Orders`] is the typed handle HTTP code talks to.

pub mod error;
pub mod handle;
pub mod messages;
pub mod order;
pub mod outbox;
mod payment;
pub mod poller;
pub mod supervisor;

use std::sync::Arc;

pub use error::OrderError;
pub use handle::{CreateOrder, Orders};

use crate::store::orders::OrderStore;
use crate::subsystem::Subsystems;

/// Tunables of the order actors.
#[derive(Clone, Debug)]
pub struct OrderSettings {
    /// Seconds from creation to the deadline (`overdue_time`).
    pub order_ttl_secs: u64,
    /// Attempts at `applyOrderCreate` within one create request before giving up.
    pub create_attempts: u32,
    /// Pause before the first retry; doubled each time.
    pub create_retry_base: std::time::Duration,
    /// `msgSrcId`: the 4-digit prefix of `parent_order_no`.
    pub parent_prefix: u16,
}

/// What every order actor needs, shared.
pub struct OrderEnv {
    /// The order trees.
    pub store: OrderStore,
    /// Business subsystems by `business_type`.
    pub subsystems: Subsystems,
    /// Wakes the outbox after a notification was written.
    pub outbox: outbox::OutboxWaker,
    /// Tunables.
    pub settings: OrderSettings,
    /// The payment provider.
    pub provider: crate::provider::UmsClient,
    /// Follows open payments.
    pub poller: actix::Addr<poller::TradePoller>,
    /// Bounds the order actors' provider calls (closes, refunds) in flight at once.
    pub provider_calls: Arc<tokio::sync::Semaphore>,
    /// Most provider calls of the order actors in flight at once so far (for `/metrics`).
    pub provider_calls_peak: std::sync::atomic::AtomicUsize,
    /// Orders that need a person (a late payment the provider will not refund): logged at
    /// error level, counted here for `/metrics`.
    pub needing_attention: std::sync::atomic::AtomicU64,
    /// Closes the provider refused other than as paid, closed or unknown (each attempt;
    /// the query then decides): a rate that should be zero.
    pub close_refusals: std::sync::atomic::AtomicU64,
}

/// Order actors' provider calls in flight at once (the poller's queries have their own
/// bound, [`poller::MAX_IN_FLIGHT`]).
pub const MAX_PROVIDER_CALLS: usize = 16;

impl OrderEnv {
    /// Waits for a turn at the provider (see [`OrderEnv::provider_calls`]).
    pub async fn provider_slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        let permit = self.provider_calls.acquire().await.ok();
        let in_flight = MAX_PROVIDER_CALLS.saturating_sub(self.provider_calls.available_permits());
        self.provider_calls_peak
            .fetch_max(in_flight, std::sync::atomic::Ordering::Relaxed);
        permit
    }

    /// Counts an order that needs a person.
    pub fn count_needing_attention(&self) {
        self.needing_attention
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Counts a close the provider refused.
    pub fn count_close_refused(&self) {
        self.close_refusals
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The last durable state of a live order, published by its actor for readers (state
/// polling never waits behind a provider call in the actor's mailbox).
/// The actor and the snapshot share one allocation of the order.
pub type Snapshot = std::sync::Arc<parking_lot::RwLock<std::sync::Arc<crate::domain::Order>>>;

/// Shared environment handle.
pub type SharedEnv = Arc<OrderEnv>;
