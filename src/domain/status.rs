//! The order status machine: the one place that says which changes are legal.
//!
//! ```text
//! Creating ──Created──▶ Unpaid ──Paid──▶ Paid ──Refunded──▶ Refunded
//!    │                    │                                   ▲  ▲
//!    └─CreateFailed─▶ Abandoned   └─Expired/Cancelled─▶ Closed ─Refunded┘  │ (late payment)
//!                                                         │              │
//!                                                  RefundRefused ─▶ RefundRefused ─Refunded┘
//! ```
//! `RefundRefused` is a late payment the provider will not refund (its answer is final, not
//! an outage): it needs a person, and nothing more is tried automatically.
//! `Creating` and `Abandoned` are never shown to a frontend: the order number was not given
//! out yet (create is written ahead, SPEC §3).

use serde::{Deserialize, Serialize};

/// Where an order is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Recorded ahead of the subsystem call; not yet confirmed to the client.
    Creating,
    /// Created, waiting for payment until its deadline (`order_status` 0).
    Unpaid,
    /// Paid (`order_status` 1).
    Paid,
    /// Closed by expiry or by its owner (`order_status` 2).
    Closed,
    /// Paid, or paid late after closing, and the money returned (`order_status` 3).
    Refunded,
    /// Creation gave up (the subsystem refused or stayed unreachable); never shown.
    Abandoned,
    /// Closed here, paid late at the provider, and the provider refused the refund for good
    /// (e.g. `REFUND_NOT_ALLOWED`): needs a person (`order_status` 2). Last, so that stored
    /// statuses keep their bincode index.
    RefundRefused,
}

/// Something that happens to an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderEvent {
    /// The subsystem recorded its side of the order.
    Created,
    /// The subsystem refused, or could not be reached in time.
    CreateFailed,
    /// The provider confirmed the payment.
    Paid,
    /// The deadline passed unpaid.
    Expired,
    /// The owner cancelled.
    Cancelled,
    /// The provider confirmed a refund.
    Refunded,
    /// The provider refused a refund with a final answer.
    RefundRefused,
}

/// An event that the status machine does not allow in the current status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{event:?} is not allowed in status {from:?}")]
pub struct IllegalTransition {
    /// The status the order is in.
    pub from: OrderStatus,
    /// The refused event.
    pub event: OrderEvent,
}

impl OrderStatus {
    /// The status as operators read it (`unpaid`, `refund_refused`, …), in the admin view
    /// and reconciliation reports.
    pub fn name(self) -> &'static str {
        match self {
            OrderStatus::Creating => "creating",
            OrderStatus::Unpaid => "unpaid",
            OrderStatus::Paid => "paid",
            OrderStatus::Closed => "closed",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Abandoned => "abandoned",
            OrderStatus::RefundRefused => "refund_refused",
        }
    }

    /// The status after `event`, if the machine allows it.
    pub fn apply(self, event: OrderEvent) -> Result<OrderStatus, IllegalTransition> {
        use OrderEvent as E;
        use OrderStatus as S;
        match (self, event) {
            (S::Creating, E::Created) => Ok(S::Unpaid),
            (S::Creating, E::CreateFailed) => Ok(S::Abandoned),
            (S::Unpaid, E::Paid) => Ok(S::Paid),
            (S::Unpaid, E::Expired | E::Cancelled) => Ok(S::Closed),
            (S::Paid | S::Closed | S::RefundRefused, E::Refunded) => Ok(S::Refunded),
            (S::Closed, E::RefundRefused) => Ok(S::RefundRefused),
            (from, event) => Err(IllegalTransition { from, event }),
        }
    }

    /// The seed's numeric `order_status`.
    pub fn code(self) -> u8 {
        match self {
            OrderStatus::Creating | OrderStatus::Unpaid => 0,
            OrderStatus::Paid => 1,
            OrderStatus::Closed | OrderStatus::Abandoned | OrderStatus::RefundRefused => 2,
            OrderStatus::Refunded => 3,
        }
    }

    /// Whether a frontend may see the order (its number was handed out).
    pub fn is_visible(self) -> bool {
        !matches!(self, OrderStatus::Creating | OrderStatus::Abandoned)
    }
}

/// How an order ended, as the business subsystem hears it (`applyOrderNotify`'s
/// `order_status`): 1 paid, 2 closed, 3 refunded. Encoded as that number everywhere (JSON,
/// the outbox on disk), so the wire and the stored form are the seed's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum OrderOutcome {
    /// Paid: the registration is confirmed.
    Paid,
    /// Closed unpaid (or never created): the seat is released.
    Closed,
    /// Refunded: the seat is released.
    Refunded,
}

/// An `order_status` that is not an outcome (only 1, 2 and 3 are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("order_status {0} is not 1, 2 or 3")]
pub struct NotAnOutcome(pub u64);

impl OrderOutcome {
    /// The seed's number.
    pub fn code(self) -> u8 {
        match self {
            OrderOutcome::Paid => 1,
            OrderOutcome::Closed => 2,
            OrderOutcome::Refunded => 3,
        }
    }

    /// The outcome numbered `code`.
    pub fn from_code(code: u64) -> Result<Self, NotAnOutcome> {
        match code {
            1 => Ok(OrderOutcome::Paid),
            2 => Ok(OrderOutcome::Closed),
            3 => Ok(OrderOutcome::Refunded),
            other => Err(NotAnOutcome(other)),
        }
    }
}

impl From<OrderOutcome> for u8 {
    fn from(outcome: OrderOutcome) -> u8 {
        outcome.code()
    }
}

impl TryFrom<u8> for OrderOutcome {
    type Error = NotAnOutcome;

    fn try_from(code: u8) -> Result<Self, NotAnOutcome> {
        Self::from_code(u64::from(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EVENTS: [OrderEvent; 7] = [
        OrderEvent::Created,
        OrderEvent::CreateFailed,
        OrderEvent::Paid,
        OrderEvent::Expired,
        OrderEvent::Cancelled,
        OrderEvent::Refunded,
        OrderEvent::RefundRefused,
    ];

    /// The rules of SPEC §3 written as facts about whole histories.
    #[derive(Default)]
    struct Model {
        created: bool,
        paid: bool,
        closed: bool,
        refunded: bool,
        abandoned: bool,
        refund_refused: bool,
    }

    impl Model {
        fn allows(&self, event: OrderEvent) -> bool {
            let open = self.created && !self.paid && !self.closed;
            match event {
                OrderEvent::Created | OrderEvent::CreateFailed => !self.created && !self.abandoned,
                OrderEvent::Paid | OrderEvent::Expired | OrderEvent::Cancelled => open,
                OrderEvent::Refunded => (self.paid || self.closed) && !self.refunded,
                // Only a late payment's refund (of a closed order) can be refused, once.
                OrderEvent::RefundRefused => self.closed && !self.refunded && !self.refund_refused,
            }
        }

        fn record(&mut self, event: OrderEvent) {
            match event {
                OrderEvent::Created => self.created = true,
                OrderEvent::CreateFailed => self.abandoned = true,
                OrderEvent::Paid => self.paid = true,
                OrderEvent::Expired | OrderEvent::Cancelled => self.closed = true,
                OrderEvent::Refunded => self.refunded = true,
                OrderEvent::RefundRefused => self.refund_refused = true,
            }
        }
    }

    proptest! {
        #[test]
        fn the_machine_agrees_with_the_rules(events in proptest::collection::vec(0usize..7, 0..40)) {
            let mut status = OrderStatus::Creating;
            let mut model = Model::default();
            for index in events {
                let event = EVENTS[index];
                match status.apply(event) {
                    Ok(next) => {
                        prop_assert!(model.allows(event), "{:?} allowed {:?}", status, event);
                        model.record(event);
                        status = next;
                    }
                    Err(_) => prop_assert!(!model.allows(event), "{:?} refused {:?}", status, event),
                }
                // A paid order is never closed, a closed one never paid.
                prop_assert!(!(model.paid && model.closed));
                prop_assert_eq!(status == OrderStatus::Paid, model.paid && !model.refunded);
            }
        }
    }

    #[test]
    fn final_statuses_accept_nothing() {
        for status in [OrderStatus::Refunded, OrderStatus::Abandoned] {
            for event in EVENTS {
                assert!(
                    status.apply(event).is_err(),
                    "{status:?} accepted {event:?}"
                );
            }
        }
    }
}
