//! The TradePoller: follows open payments at the provider and reports the payments it finds
//! settled as [`PaymentFound`] on a channel, which the order center confirms (it knows
//! nothing else of the order center).
//!
//! Each watched payment is queried on a schedule — fast at first, then backing off — until
//! its deadline (after which the order's expiry closes it at the provider), with at most
//! [`MAX_IN_FLIGHT`] queries at once. A valid notify settles a payment first and unwatches it.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use tokio::time::Instant;

use crate::domain::{time, EvidenceSource, OrderNo, PaidEvidence};
use crate::provider::{QueryResponse, UmsClient};
use crate::workflow::jittered;

/// Follow this payment until it is settled or its deadline passes.
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

/// Stop following this payment (settled by a notify, or closed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unwatch {
    /// Which order.
    pub parent_order_no: OrderNo,
}

/// The poller's counters.
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

/// A payment the provider's query says was made (and maybe refunded since), for the order
/// center to confirm.
#[derive(Clone, Debug)]
pub struct PaymentFound {
    /// Which order.
    pub parent_order_no: OrderNo,
    /// What the query said.
    pub evidence: PaidEvidence,
}

/// Where the poller reports: the narrow way back to the order center.
pub type PaymentReports = tokio::sync::mpsc::UnboundedSender<PaymentFound>;

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
    reports: PaymentReports,
    watched: HashMap<OrderNo, Watched>,
    in_flight: usize,
    stats: PollerStats,
}

impl TradePoller {
    /// A poller querying `provider` and reporting to `reports`.
    pub fn new(provider: UmsClient, reports: PaymentReports) -> Self {
        Self {
            provider,
            reports,
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
                let found = PaymentFound {
                    parent_order_no: parent,
                    evidence: answer.evidence(EvidenceSource::Query),
                };
                if self.reports.send(found).is_err() {
                    tracing::debug!("the order center stopped listening; shutting down");
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

impl Handler<GetPollerStats> for TradePoller {
    type Result = MessageResult<GetPollerStats>;

    fn handle(&mut self, _msg: GetPollerStats, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(PollerStats {
            watched: self.watched.len(),
            ..self.stats
        })
    }
}
