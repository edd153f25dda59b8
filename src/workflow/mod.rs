//! The work an order's decisions lead to ([`crate::domain::Effect`]): finishing a creation
//! with the subsystem, paying and closing at the provider, refunding, and writing how an
//! order ended. Plain async functions over a copy of the order and the [`OrderEnv`] they
//! need; no actors. Each returns the order as it is now on disk, which the order's actor
//! then takes as its state.
//!
//! - [`create`]: the written-ahead creation (SPEC §3) and giving it up.
//! - [`pay`]: starting a payment and recording one.
//! - [`close`]: closing at the provider, then here; a refused close settled by a query.
//! - [`refund`]: late payments of closed orders and the refund that follows them.
//! - [`ended`]: the durable change that records how an order ended and tells its subsystem.

pub mod close;
pub mod create;
pub mod ended;
mod error;
pub mod pay;
pub mod refund;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use error::OrderError;

use crate::domain::Order;
use crate::metrics::OrderMetrics;
use crate::outbox::OutboxWaker;
use crate::provider::{ProviderError, QueryResponse, UmsClient};
use crate::store::orders::OrderStore;
use crate::subsystem::Subsystems;

/// Tunables of the order workflows.
#[derive(Clone, Debug)]
pub struct OrderSettings {
    /// Seconds from creation to the deadline (`overdue_time`).
    pub order_ttl_secs: u64,
    /// Attempts at `applyOrderCreate` within one create request before giving up.
    pub create_attempts: u32,
    /// Pause before the first retry; doubled each time.
    pub create_retry_base: Duration,
    /// `msgSrcId`: the 4-digit prefix of `parent_order_no`.
    pub parent_prefix: u16,
    /// Seconds an `Idempotency-Key` is remembered ([`crate::retention`]).
    pub idempotency_ttl_secs: u64,
}

/// What the workflows of every order need, shared.
pub struct OrderEnv {
    /// The order trees.
    pub store: OrderStore,
    /// Business subsystems by `business_type`.
    pub subsystems: Subsystems,
    /// Wakes the outbox after a notification was written.
    pub outbox: OutboxWaker,
    /// Endings told in our store, waiting to be written in groups.
    pub endings: Arc<ended::EndingQueue>,
    /// Tunables.
    pub settings: OrderSettings,
    /// The payment provider.
    pub provider: UmsClient,
    /// What the workflows record for `/metrics` (orders created, paid, closed, refunded).
    pub metrics: OrderMetrics,
    /// Bounds the provider calls of the workflows (closes, refunds) in flight at once.
    provider_calls: tokio::sync::Semaphore,
    /// Most provider calls of the workflows in flight at once so far (for `/metrics`).
    provider_calls_peak: AtomicUsize,
    /// Orders that need a person (a late payment the provider will not refund): logged at
    /// error level, counted here for `/metrics`.
    needing_attention: AtomicU64,
    /// Closes the provider refused other than as paid, closed or unknown (each attempt;
    /// the query then decides): a rate that should be zero.
    close_refusals: AtomicU64,
}

/// Provider calls of the workflows in flight at once (the trade poller's queries have their
/// own bound, [`crate::actors::poller::MAX_IN_FLIGHT`]).
pub const MAX_PROVIDER_CALLS: usize = 16;

/// Shared environment handle.
pub type SharedEnv = Arc<OrderEnv>;

impl OrderEnv {
    /// The environment over these parts, with no provider call in flight yet.
    pub fn new(
        store: OrderStore,
        subsystems: Subsystems,
        outbox: OutboxWaker,
        settings: OrderSettings,
        provider: UmsClient,
    ) -> Self {
        Self {
            store,
            subsystems,
            outbox,
            endings: Arc::default(),
            settings,
            provider,
            metrics: OrderMetrics::default(),
            provider_calls: tokio::sync::Semaphore::new(MAX_PROVIDER_CALLS),
            provider_calls_peak: AtomicUsize::new(0),
            needing_attention: AtomicU64::new(0),
            close_refusals: AtomicU64::new(0),
        }
    }

    /// The environment recording into `metrics`.
    pub fn with_metrics(mut self, metrics: OrderMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Waits for a turn at the provider (see [`MAX_PROVIDER_CALLS`]).
    pub async fn provider_slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        let permit = self.provider_calls.acquire().await.ok();
        let in_flight = MAX_PROVIDER_CALLS.saturating_sub(self.provider_calls.available_permits());
        self.provider_calls_peak
            .fetch_max(in_flight, Ordering::Relaxed);
        permit
    }

    /// Most provider calls of the workflows in flight at once so far.
    pub fn provider_calls_peak(&self) -> usize {
        self.provider_calls_peak.load(Ordering::Relaxed)
    }

    /// Counts an order that needs a person.
    pub fn count_needing_attention(&self) {
        self.needing_attention.fetch_add(1, Ordering::Relaxed);
    }

    /// Orders so far that need a person.
    pub fn needing_attention(&self) -> u64 {
        self.needing_attention.load(Ordering::Relaxed)
    }

    /// Counts a close the provider refused.
    pub fn count_close_refused(&self) {
        self.close_refusals.fetch_add(1, Ordering::Relaxed);
    }

    /// Closes the provider refused so far.
    pub fn close_refusals(&self) -> u64 {
        self.close_refusals.load(Ordering::Relaxed)
    }
}

/// `pause` ± 25 %, so retries of many orders that failed together do not come back in
/// lockstep.
pub fn jittered(pause: Duration) -> Duration {
    use rand::Rng;
    pause.mul_f64(rand::thread_rng().gen_range(0.75..1.25))
}

/// The provider's query of the order, checked against its number and amount, in turn with
/// the other provider calls of the workflows.
async fn query_order(env: &SharedEnv, order: &Order) -> Result<QueryResponse, ProviderError> {
    let _slot = env.provider_slot().await;
    env.provider
        .query_checked(order.parent_order_no.as_str(), order.total().0)
        .await
}

/// A provider failure as the caller sees it: nothing changed, try again.
fn provider_failed(error: ProviderError) -> OrderError {
    OrderError::ProviderFailed(error.to_string())
}
