//! The TradePoller: follows open payments at the provider and reports what it finds to the
//! order actors as messages (through the [`Orders`] handle and the supervisor).
//!
//! Each watched payment is queried on a schedule — fast at first, then backing off — until
//! its deadline (after which the order's expiry closes it at the provider), with at most
//! [`MAX_IN_FLIGHT`] queries at once. A valid notify settles a payment first and unwatches it.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use tokio::time::Instant;

use super::messages::{GetPollerStats, PaidEvidence, PollerStats, ReportTo, Unwatch, Watch};
use super::order::jittered;
use super::{OrderError, Orders};
use crate::domain::{time, OrderNo};
use crate::provider::{QueryResponse, UmsClient};

/// Queries in flight at once.
pub const MAX_IN_FLIGHT: usize = 16;
/// How often due payments are looked at.
const TICK: Duration = Duration::from_millis(100);
/// Pause before each query, by attempt: fast at first, then backing off (each ± 25 %, so
/// payments started together are not queried in lockstep).
const SCHEDULE: [Duration; 8] = [
    Duration::from_secs(1),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(2),
    Duration::from_secs(3),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(15),
];

struct Watched {
    amount: u64,
    deadline: u64,
    attempt: usize,
    next_at: Instant,
    querying: bool,
}

/// The trade poller actor.
pub struct TradePoller {
    provider: UmsClient,
    orders: Option<Orders>,
    watched: HashMap<OrderNo, Watched>,
    in_flight: usize,
    stats: PollerStats,
}

impl TradePoller {
    /// A poller querying `provider`; it reports once told where ([`ReportTo`]).
    pub fn new(provider: UmsClient) -> Self {
        Self {
            provider,
            orders: None,
            watched: HashMap::new(),
            in_flight: 0,
            stats: PollerStats::default(),
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let now_secs = time::now_secs();
        // The deadline belongs to the order's expiry, which closes at the provider.
        self.watched
            .retain(|_, w| w.querying || now_secs <= w.deadline);
        let due: Vec<OrderNo> = self
            .watched
            .iter()
            .filter(|(_, w)| !w.querying && w.next_at <= now)
            .map(|(no, _)| no.clone())
            .take(MAX_IN_FLIGHT.saturating_sub(self.in_flight))
            .collect();
        for parent in due {
            let Some(watched) = self.watched.get_mut(&parent) else {
                continue;
            };
            watched.querying = true;
            let amount = watched.amount;
            self.in_flight += 1;
            self.stats.queries += 1;
            let provider = self.provider.clone();
            let key = parent.clone();
            let query = async move { provider.query_checked(key.as_str(), amount).await };
            ctx.spawn(query.into_actor(self).map(move |outcome, poller, _ctx| {
                poller.in_flight -= 1;
                poller.settle(parent, outcome);
            }));
        }
    }

    fn settle(
        &mut self,
        parent: OrderNo,
        outcome: Result<QueryResponse, crate::provider::ProviderError>,
    ) {
        match outcome {
            // Paid, or paid and refunded since (e.g. from the provider's console): both settle
            // the order, so both are reported.
            Ok(answer) if answer.status.was_paid() => {
                self.watched.remove(&parent);
                self.stats.confirmed += 1;
                let evidence = PaidEvidence::from_query(&answer, "query");
                if let Some(orders) = self.orders.clone() {
                    actix::spawn(async move {
                        // While recovery is still starting actors the order center is not
                        // ready: wait for it rather than drop what the provider said.
                        let mut attempts = 0;
                        loop {
                            match orders
                                .confirm_payment(parent.clone(), evidence.clone())
                                .await
                            {
                                // Starting up, or the store cannot write now (disk nearly
                                // full): the payment must not be dropped.
                                Err(error) if attempts < 300 && is_transient(&error) => {
                                    attempts += 1;
                                    tokio::time::sleep(Duration::from_millis(100)).await;
                                }
                                Err(error) => {
                                    tracing::error!(order_no = %parent, %error, "paid order could not take the payment");
                                    break;
                                }
                                Ok(_) => break,
                            }
                        }
                    });
                }
            }
            Ok(answer) if !answer.status.is_pending() => {
                tracing::debug!(order_no = %parent, status = answer.status.as_str(), "payment no longer open");
                self.watched.remove(&parent);
            }
            outcome => {
                if let Err(error) = &outcome {
                    tracing::debug!(order_no = %parent, %error, "query failed; will ask again");
                }
                if let Some(watched) = self.watched.get_mut(&parent) {
                    watched.querying = false;
                    watched.attempt += 1;
                    watched.next_at = Instant::now()
                        + jittered(SCHEDULE[watched.attempt.min(SCHEDULE.len() - 1)]);
                }
            }
        }
    }
}

/// Whether confirming a payment failed for a reason that passes by itself.
fn is_transient(error: &OrderError) -> bool {
    match error {
        OrderError::NotReady | OrderError::Mailbox(_) => true,
        OrderError::Store(store) => store.is_unavailable(),
        _ => false,
    }
}

impl Actor for TradePoller {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
        ctx.run_interval(TICK, |poller, ctx| poller.tick(ctx));
    }
}

impl Handler<Watch> for TradePoller {
    type Result = ();

    fn handle(&mut self, msg: Watch, _ctx: &mut Context<Self>) {
        self.watched.entry(msg.parent_order_no).or_insert(Watched {
            amount: msg.amount,
            deadline: msg.deadline,
            attempt: 0,
            next_at: Instant::now() + jittered(SCHEDULE[0]),
            querying: false,
        });
    }
}

impl Handler<Unwatch> for TradePoller {
    type Result = ();

    fn handle(&mut self, msg: Unwatch, _ctx: &mut Context<Self>) {
        self.watched.remove(&msg.parent_order_no);
    }
}

impl Handler<ReportTo> for TradePoller {
    type Result = ();

    fn handle(&mut self, msg: ReportTo, _ctx: &mut Context<Self>) {
        self.orders = Some(msg.orders);
    }
}

impl Handler<GetPollerStats> for TradePoller {
    type Result = MessageResult<GetPollerStats>;

    fn handle(&mut self, _msg: GetPollerStats, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(PollerStats {
            watched: self.watched.len(),
            ..self.stats
        })
    }
}
