//! What an order does with a command: the one place for the rules of ownership, visibility,
//! deadlines and status that decide whether a call is refused, answered as is, or leads to
//! work (a provider call, a durable change).
//!
//! [`Order::decide`] is pure: the order actor calls it and carries out the [`Effect`]; an
//! order without an actor (one that can no longer change) is answered by the same function,
//! so the rules are never written twice.

use super::{MemberRef, Order, OrderEvent, OrderStatus};

/// Where a report of a payment came from (stored in the order's history: new variants go
/// last).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EvidenceSource {
    /// The provider's signed asynchronous notify.
    Notify,
    /// The trade poller's query.
    Query,
    /// The query asked when the provider would not simply close the order.
    CloseQuery,
    /// A zero-price order, paid without the provider.
    ZeroPrice,
}

impl EvidenceSource {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceSource::Notify => "notify",
            EvidenceSource::Query => "query",
            EvidenceSource::CloseQuery => "close",
            EvidenceSource::ZeroPrice => "zero price",
        }
    }

    /// As a metric label (`notify`, `query`, `close`, `zero_price`).
    pub fn label(self) -> &'static str {
        match self {
            EvidenceSource::ZeroPrice => "zero_price",
            other => other.as_str(),
        }
    }
}

/// What the provider says about a payment, from a verified notify or a checked query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaidEvidence {
    /// Amount paid, in fen.
    pub amount: u64,
    /// Payment time (Unix s), when the provider said.
    pub paid_at: Option<u64>,
    /// WeChat's transaction id.
    pub target_order_id: Option<String>,
    /// Where it came from.
    pub source: EvidenceSource,
    /// The provider says the payment was refunded since (a query's `TRADE_REFUND`, e.g. a
    /// refund made in the provider's console).
    pub refunded: bool,
}

/// Something asked of an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Finish the creation written ahead (or answer the order once it is created).
    FinishCreate,
    /// The owner cancels.
    Cancel {
        /// Who asks.
        who: MemberRef,
    },
    /// The owner pays.
    Pay {
        /// Who asks.
        who: MemberRef,
        /// `payment_way` (110).
        payment_way: u32,
        /// The payer's openid, if the frontend sent it.
        open_id: Option<String>,
    },
    /// The deadline timer fired.
    Expire,
    /// The provider says the order was paid.
    ConfirmPayment(PaidEvidence),
    /// Look at a pending refund again.
    CheckRefund,
    /// A full refund of a paid order is asked for (`shop/order/refund`,
    /// `shop/order/adminRefund`).
    RequestRefund {
        /// Who asks.
        by: RefundRequester,
        /// The refund deadline of what was ordered, as the subsystem said, or not asked.
        deadline: RefundDeadline,
    },
}

/// The refund deadline an owner's refund request is decided with: an owner may not ask
/// from the deadline on; an operator may at any time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundDeadline {
    /// Not asked of the subsystem (the order did not look paid when the request was made,
    /// or an operator asks). An owner's request that meets a paid order with this is
    /// refused with [`Refusal::RefundDeadlineUnknown`] so the caller asks and decides
    /// again: the deadline is never skipped because the order became paid meanwhile.
    NotAsked,
    /// What was ordered has no refund deadline: refunds always allowed.
    Never,
    /// The deadline, Unix seconds.
    At(u64),
}

/// Who asks for a refund.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundRequester {
    /// The order's owner, before the refund deadline.
    Owner(MemberRef),
    /// An operator (admin token): any paid order, whatever the deadline.
    Operator,
}

/// What a command leads to, when it is not refused, with what carrying it out needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing changes: answer with the order as it is.
    Answer,
    /// The timer fired early (clocks differ): wait for the deadline again.
    WaitForDeadline,
    /// Call the subsystem and record the order created (or given up).
    FinishCreate,
    /// Close the unpaid order, at the provider first when a payment was started.
    Close(OrderEvent),
    /// Record a payment attempt and place the unified order at the provider.
    StartPayment {
        /// `payment_way` (110).
        payment_way: u32,
        /// The payer's openid, if the frontend sent it.
        open_id: Option<String>,
    },
    /// Record the order paid.
    MarkPaid(PaidEvidence),
    /// Paid and refunded at the provider already: record it refunded.
    SettleAsRefunded(PaidEvidence),
    /// Money reached the provider for an order closed here: confirm it (a notify is checked
    /// by a query) and record the refund owed.
    RefundLatePayment(PaidEvidence),
    /// Take the next step of the pending refund at the provider.
    StepRefund,
    /// Record the refund asked for a paid order (durable), then follow it at the provider.
    RecordRefund,
}

/// Why a command is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No such order for the caller (not shown yet, or someone else's): answered the same.
    #[error("order not found")]
    NotFound,
    /// Closed or past its deadline.
    #[error("order closed")]
    Closed,
    /// Paid already.
    #[error("order already paid")]
    AlreadyPaid,
    /// A payment report that does not fit the order.
    #[error("payment does not match the order: {0}")]
    Mismatch(String),
    /// Not paid, or refunded already: nothing to refund.
    #[error("order cannot be refunded")]
    NotRefundable,
    /// The owner asked on or after the refund deadline.
    #[error("refund deadline passed")]
    PastRefundDeadline,
    /// The owner asked for a paid order's refund without its deadline known (the order
    /// became paid after the request looked at it): ask the subsystem and decide again.
    #[error("refund deadline not known")]
    RefundDeadlineUnknown,
}

impl Order {
    /// What `command` leads to at Unix time `now_ms` (milliseconds: deadlines are exact to
    /// the millisecond the timer fires).
    pub fn decide(&self, command: &Command, now_ms: u64) -> Result<Effect, Refusal> {
        match command {
            Command::FinishCreate => match self.status {
                OrderStatus::Creating => Ok(Effect::FinishCreate),
                _ if self.status.is_visible() => Ok(Effect::Answer),
                _ => Err(Refusal::NotFound),
            },
            Command::Cancel { who } => match self.status {
                _ if !self.is_visible_to(*who) => Err(Refusal::NotFound),
                OrderStatus::Unpaid => Ok(Effect::Close(OrderEvent::Cancelled)),
                OrderStatus::Paid => Err(Refusal::AlreadyPaid),
                _ => Ok(Effect::Answer),
            },
            Command::Pay {
                who,
                payment_way,
                open_id,
            } => match self.status {
                _ if !self.is_visible_to(*who) => Err(Refusal::NotFound),
                OrderStatus::Paid => Err(Refusal::AlreadyPaid),
                OrderStatus::Unpaid if !self.is_past_deadline(now_ms) => {
                    // Paying again while a payment is open returns the same prepay.
                    match self.payment.as_ref().is_some_and(|p| p.prepay.is_some()) {
                        true => Ok(Effect::Answer),
                        false => Ok(Effect::StartPayment {
                            payment_way: *payment_way,
                            open_id: open_id.clone(),
                        }),
                    }
                }
                _ => Err(Refusal::Closed),
            },
            Command::Expire => match self.status {
                OrderStatus::Unpaid if !self.is_past_deadline(now_ms) => {
                    Ok(Effect::WaitForDeadline)
                }
                OrderStatus::Unpaid => Ok(Effect::Close(OrderEvent::Expired)),
                _ => Ok(Effect::Answer),
            },
            Command::ConfirmPayment(evidence) => self.decide_payment(evidence),
            Command::CheckRefund if self.refund_pending() => Ok(Effect::StepRefund),
            Command::CheckRefund => Ok(Effect::Answer),
            Command::RequestRefund { by, deadline } => self.decide_refund(*by, *deadline, now_ms),
        }
    }

    /// A refund asked for: a paid order records one (once: asking again while it is pending
    /// answers the order as it is), anything else has nothing to refund.
    fn decide_refund(
        &self,
        by: RefundRequester,
        deadline: RefundDeadline,
        now_ms: u64,
    ) -> Result<Effect, Refusal> {
        let visible = match by {
            RefundRequester::Owner(who) => self.is_visible_to(who),
            RefundRequester::Operator => self.status.is_visible(),
        };
        let owner = by != RefundRequester::Operator;
        let past_deadline = match deadline {
            RefundDeadline::At(d) => now_ms >= d.saturating_mul(1000),
            RefundDeadline::Never | RefundDeadline::NotAsked => false,
        };
        match self.status {
            _ if !visible => Err(Refusal::NotFound),
            OrderStatus::Paid if self.refund_pending() => Ok(Effect::Answer),
            OrderStatus::Paid if owner && deadline == RefundDeadline::NotAsked => {
                Err(Refusal::RefundDeadlineUnknown)
            }
            OrderStatus::Paid if owner && past_deadline => Err(Refusal::PastRefundDeadline),
            OrderStatus::Paid => Ok(Effect::RecordRefund),
            _ => Err(Refusal::NotRefundable),
        }
    }

    /// A payment reported by the provider.
    fn decide_payment(&self, evidence: &PaidEvidence) -> Result<Effect, Refusal> {
        if !self.status.is_visible() {
            return Err(Refusal::NotFound);
        }
        let total = self.total().0;
        if evidence.amount != total {
            return Err(Refusal::Mismatch(format!(
                "paid {} fen, order is {total} fen",
                evidence.amount
            )));
        }
        let refundable_here = matches!(
            self.status,
            OrderStatus::Unpaid | OrderStatus::Closed | OrderStatus::RefundRefused
        );
        match self.status {
            // Paid and refunded at the provider: settled as refunded, whatever we thought. A
            // paid order refunded outside the order center is reconciliation's to find.
            _ if evidence.refunded && refundable_here && self.payment.is_some() => {
                Ok(Effect::SettleAsRefunded(evidence.clone()))
            }
            OrderStatus::Paid | OrderStatus::Refunded | OrderStatus::RefundRefused => {
                Ok(Effect::Answer)
            }
            // No provider order can exist without a payment attempt: never legitimate.
            _ if self.payment.is_none() => Err(Refusal::Mismatch(
                "no payment was started for this order".into(),
            )),
            OrderStatus::Closed => Ok(Effect::RefundLatePayment(evidence.clone())),
            _ => Ok(Effect::MarkPaid(evidence.clone())),
        }
    }

    /// Whether `who` may see the order: it was handed out, and it is theirs.
    pub fn is_visible_to(&self, who: MemberRef) -> bool {
        self.status.is_visible() && self.is_owned_by(who)
    }

    /// Whether the deadline has passed at Unix time `now_ms`.
    pub fn is_past_deadline(&self, now_ms: u64) -> bool {
        now_ms >= self.deadline().saturating_mul(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Fen, Payment, Prepay, Refund};
    use proptest::prelude::*;

    const OWNER: MemberRef = MemberRef {
        company_id: 421,
        member_id: 32171,
    };
    const STRANGER: MemberRef = MemberRef {
        company_id: 421,
        member_id: 1,
    };
    const PRICE: u64 = 1;
    const CREATED_AT: u64 = 1_747_279_526;

    fn new_order() -> Order {
        crate::domain::order::sample(OWNER, Fen(PRICE), OrderStatus::Creating)
    }

    /// The lifecycle as a handful of facts: the model the order is checked against. It
    /// says by itself (from SPEC §3, not from the code) what each command should lead to,
    /// and moves by its own expectation.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    struct Model {
        created: bool,
        abandoned: bool,
        payment_started: bool,
        paid: bool,
        closed: bool,
        refund_owed: bool,
        refunded: bool,
        refund_refused: bool,
    }

    /// What the model expects of a command: an effect, or a refusal of this kind.
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Expected {
        Effect(Effect),
        Refused(&'static str),
    }

    fn kind(refusal: &Refusal) -> &'static str {
        match refusal {
            Refusal::NotFound => "not found",
            Refusal::Closed => "closed",
            Refusal::AlreadyPaid => "already paid",
            Refusal::Mismatch(_) => "mismatch",
            Refusal::NotRefundable => "not refundable",
            Refusal::PastRefundDeadline => "past refund deadline",
            Refusal::RefundDeadlineUnknown => "refund deadline unknown",
        }
    }

    impl Model {
        fn open(&self) -> bool {
            self.created && !self.paid && !self.closed && !self.refunded
        }

        fn status(&self) -> OrderStatus {
            match () {
                _ if self.abandoned => OrderStatus::Abandoned,
                _ if !self.created => OrderStatus::Creating,
                _ if self.refunded => OrderStatus::Refunded,
                _ if self.refund_refused => OrderStatus::RefundRefused,
                _ if self.paid => OrderStatus::Paid,
                _ if self.closed => OrderStatus::Closed,
                _ => OrderStatus::Unpaid,
            }
        }

        /// `now_ms` is what the order's clock says: at its deadline when `past_deadline`.
        fn expect(&self, command: &Command, past_deadline: bool, now_ms: u64) -> Expected {
            use Expected::{Effect as E, Refused};
            let mine = |who: &MemberRef| *who == OWNER;
            match command {
                Command::FinishCreate if !self.created && !self.abandoned => {
                    E(Effect::FinishCreate)
                }
                Command::FinishCreate if self.created => E(Effect::Answer),
                Command::FinishCreate => Refused("not found"),
                Command::Expire if self.open() && past_deadline => {
                    E(Effect::Close(OrderEvent::Expired))
                }
                Command::Expire if self.open() => E(Effect::WaitForDeadline),
                Command::Expire => E(Effect::Answer),
                Command::CheckRefund
                    if self.refund_owed && !self.refunded && !self.refund_refused =>
                {
                    E(Effect::StepRefund)
                }
                Command::CheckRefund => E(Effect::Answer),
                _ if !self.created => Refused("not found"),
                Command::RequestRefund {
                    by: RefundRequester::Owner(who),
                    ..
                } if !mine(who) => Refused("not found"),
                Command::RequestRefund { .. } if !self.paid || self.refunded => {
                    Refused("not refundable")
                }
                Command::RequestRefund { .. } if self.refund_owed => E(Effect::Answer),
                Command::RequestRefund {
                    by: RefundRequester::Owner(_),
                    deadline: RefundDeadline::NotAsked,
                } => Refused("refund deadline unknown"),
                Command::RequestRefund {
                    by: RefundRequester::Owner(_),
                    deadline: RefundDeadline::At(deadline),
                } if deadline * 1000 <= now_ms => Refused("past refund deadline"),
                Command::RequestRefund { .. } => E(Effect::RecordRefund),
                Command::Cancel { who } if !mine(who) => Refused("not found"),
                Command::Cancel { .. } if self.open() => E(Effect::Close(OrderEvent::Cancelled)),
                Command::Cancel { .. } if self.paid && !self.refunded => Refused("already paid"),
                Command::Cancel { .. } => E(Effect::Answer),
                Command::Pay { who, .. } if !mine(who) => Refused("not found"),
                Command::Pay { .. } if self.paid && !self.refunded => Refused("already paid"),
                Command::Pay { .. } if !self.open() || past_deadline => Refused("closed"),
                Command::Pay { .. } if self.payment_started => E(Effect::Answer),
                Command::Pay {
                    payment_way,
                    open_id,
                    ..
                } => E(Effect::StartPayment {
                    payment_way: *payment_way,
                    open_id: open_id.clone(),
                }),
                Command::ConfirmPayment(evidence) if evidence.amount != PRICE => {
                    Refused("mismatch")
                }
                Command::ConfirmPayment(evidence)
                    if evidence.refunded
                        && self.payment_started
                        && !self.refunded
                        && (self.open() || self.closed) =>
                {
                    E(Effect::SettleAsRefunded(evidence.clone()))
                }
                Command::ConfirmPayment(_) if self.paid || self.refunded || self.refund_refused => {
                    E(Effect::Answer)
                }
                Command::ConfirmPayment(_) if !self.payment_started => Refused("mismatch"),
                Command::ConfirmPayment(evidence) if self.closed => {
                    E(Effect::RefundLatePayment(evidence.clone()))
                }
                Command::ConfirmPayment(evidence) => E(Effect::MarkPaid(evidence.clone())),
            }
        }

        /// The model's next state once `effect` was carried out, the provider answering
        /// `provider_agrees` (created, or refunded) or not.
        fn after(&mut self, effect: &Effect, provider_agrees: bool) {
            match effect {
                Effect::Answer | Effect::WaitForDeadline => {}
                Effect::FinishCreate if provider_agrees => self.created = true,
                Effect::FinishCreate => self.abandoned = true,
                Effect::Close(_) => self.closed = true,
                Effect::StartPayment { .. } => self.payment_started = true,
                Effect::MarkPaid(_) => self.paid = true,
                Effect::SettleAsRefunded(_) => {
                    self.paid |= self.open();
                    self.refunded = true;
                }
                Effect::RefundLatePayment(_) | Effect::RecordRefund => self.refund_owed = true,
                Effect::StepRefund if provider_agrees => self.refunded = true,
                // A paid order's refund the provider will not make: still paid, for a person.
                Effect::StepRefund if self.paid => self.refund_owed = false,
                Effect::StepRefund => self.refund_refused = true,
            }
        }
    }

    fn command() -> impl Strategy<Value = Command> {
        let who = any::<bool>().prop_map(|mine| if mine { OWNER } else { STRANGER });
        let evidence =
            (any::<bool>(), any::<bool>()).prop_map(|(right_amount, refunded)| PaidEvidence {
                amount: if right_amount { PRICE } else { PRICE + 1 },
                paid_at: None,
                target_order_id: None,
                source: EvidenceSource::Query,
                refunded,
            });
        prop_oneof![
            Just(Command::FinishCreate),
            who.clone().prop_map(|who| Command::Cancel { who }),
            who.prop_map(|who| Command::Pay {
                who,
                payment_way: 110,
                open_id: None
            }),
            Just(Command::Expire),
            evidence.prop_map(Command::ConfirmPayment),
            Just(Command::CheckRefund),
            (any::<bool>(), refund_deadline()).prop_map(|(operator, deadline)| {
                Command::RequestRefund {
                    by: if operator {
                        RefundRequester::Operator
                    } else {
                        RefundRequester::Owner(OWNER)
                    },
                    deadline,
                }
            }),
            refund_deadline().prop_map(|deadline| Command::RequestRefund {
                by: RefundRequester::Owner(STRANGER),
                deadline,
            }),
        ]
    }

    /// Not asked, none, long past, the order's own deadline (past when the step is), or
    /// far ahead.
    fn refund_deadline() -> impl Strategy<Value = RefundDeadline> {
        prop_oneof![
            Just(RefundDeadline::NotAsked),
            Just(RefundDeadline::Never),
            Just(RefundDeadline::At(1)),
            Just(RefundDeadline::At(CREATED_AT + 480)),
            Just(RefundDeadline::At(CREATED_AT + 86_400)),
        ]
    }

    /// Carries `effect` out on the order the way the workflows record it (status changes
    /// through the status machine, a payment attempt with its prepay, a refund record).
    fn carry_out(order: &mut Order, effect: &Effect, provider_agrees: bool) {
        let now = order.u_time;
        let event = match effect {
            Effect::Answer | Effect::WaitForDeadline => return,
            Effect::FinishCreate if provider_agrees => OrderEvent::Created,
            Effect::FinishCreate => OrderEvent::CreateFailed,
            Effect::Close(event) => *event,
            Effect::StartPayment { payment_way, .. } => {
                order.payment = Some(Box::new(Payment {
                    payment_way: *payment_way,
                    started_at: now,
                    amount: order.total(),
                    open_id: "o".into(),
                    prepay: Some(Prepay {
                        app_id: String::new(),
                        time_stamp: String::new(),
                        nonce_str: String::new(),
                        package: "prepay_id=wx1".into(),
                        sign_type: "RSA".into(),
                        pay_sign: String::new(),
                    }),
                    target_order_id: None,
                    refund: None,
                }));
                return;
            }
            Effect::MarkPaid(_) => OrderEvent::Paid,
            Effect::SettleAsRefunded(_) => {
                if order.status == OrderStatus::Unpaid {
                    order.apply(OrderEvent::Paid, now).unwrap();
                }
                OrderEvent::Refunded
            }
            Effect::RefundLatePayment(_) => {
                let refund_order_id = order.refund_order_id(1);
                let amount = order.total();
                let payment = order.payment.as_mut().unwrap();
                payment.refund.get_or_insert(Refund {
                    refund_order_id,
                    attempt: 1,
                    amount,
                    requested_at: now,
                });
                return;
            }
            Effect::RecordRefund => {
                let refund_order_id = order.refund_order_id(1);
                let amount = order.total();
                let payment = order.payment.as_mut().unwrap();
                payment.refund = Some(Refund {
                    refund_order_id,
                    attempt: 1,
                    amount,
                    requested_at: now,
                });
                return;
            }
            Effect::StepRefund if provider_agrees => OrderEvent::Refunded,
            Effect::StepRefund if order.status == OrderStatus::Paid => {
                order.payment.as_mut().unwrap().refund = None;
                return;
            }
            Effect::StepRefund => OrderEvent::RefundRefused,
        };
        order
            .apply(event, now)
            .unwrap_or_else(|error| panic!("{effect:?} on {:?}: {error}", order.status));
    }

    proptest! {
        /// Random histories of commands: every decision is the one the model expects, the
        /// order's status follows the model's, and the order's own predicates agree with
        /// its decisions: an order that needs no actor has no work of its own, and one that
        /// takes no messages has none to do for anyone.
        #[test]
        fn decisions_follow_the_lifecycle(
            steps in proptest::collection::vec((command(), any::<bool>(), any::<bool>()), 0..30),
        ) {
            let mut order = new_order();
            let mut model = Model::default();
            for (command, past_deadline, provider_agrees) in steps {
                let deadline_ms = order.deadline() * 1000;
                let now_ms = if past_deadline { deadline_ms } else { deadline_ms - 1 };
                let decided = order.decide(&command, now_ms);
                let expected = model.expect(&command, past_deadline, now_ms);
                let got = match &decided {
                    Ok(effect) => Expected::Effect(effect.clone()),
                    Err(refusal) => Expected::Refused(kind(refusal)),
                };
                prop_assert_eq!(&got, &expected, "{:?} on {:?}", command, model);
                if let Ok(effect) = decided {
                    if effect != Effect::Answer {
                        prop_assert!(order.takes_messages(), "{:?} needs work on {:?}", command, order.status);
                        if matches!(command, Command::Expire | Command::CheckRefund) {
                            prop_assert!(order.needs_actor(), "{:?} has work without an actor", order.status);
                        }
                    }
                    carry_out(&mut order, &effect, provider_agrees);
                    model.after(&effect, provider_agrees);
                }
                prop_assert_eq!(order.status, model.status(), "after {:?}", command);
                prop_assert!(!(model.paid && model.closed), "paid and closed");
            }
        }
    }

    #[test]
    fn a_timer_that_fires_early_waits_and_one_at_the_deadline_closes() {
        let mut order = new_order();
        order.apply(OrderEvent::Created, CREATED_AT).unwrap();
        let deadline_ms = order.deadline() * 1000;
        assert_eq!(
            order.decide(&Command::Expire, deadline_ms - 1),
            Ok(Effect::WaitForDeadline)
        );
        assert_eq!(
            order.decide(&Command::Expire, deadline_ms),
            Ok(Effect::Close(OrderEvent::Expired))
        );
    }

    #[test]
    fn an_ended_order_needs_no_actor() {
        let mut paid = new_order();
        paid.apply(OrderEvent::Created, CREATED_AT).unwrap();
        paid.apply(OrderEvent::Paid, CREATED_AT).unwrap();
        let mut closed = new_order();
        closed.apply(OrderEvent::Created, CREATED_AT).unwrap();
        closed.apply(OrderEvent::Expired, CREATED_AT).unwrap();
        for order in [paid, closed] {
            assert!(!order.needs_actor(), "{:?}", order.status);
            for command in [Command::Expire, Command::CheckRefund] {
                assert_eq!(order.decide(&command, u64::MAX), Ok(Effect::Answer));
            }
        }
    }

    #[test]
    fn a_stranger_is_told_the_order_does_not_exist() {
        let mut order = new_order();
        order.apply(OrderEvent::Created, CREATED_AT).unwrap();
        let pay = Command::Pay {
            who: STRANGER,
            payment_way: 110,
            open_id: None,
        };
        assert_eq!(order.decide(&pay, 0), Err(Refusal::NotFound));
        let cancel = Command::Cancel { who: STRANGER };
        assert_eq!(order.decide(&cancel, 0), Err(Refusal::NotFound));
    }

    #[test]
    fn an_unpaid_order_past_its_deadline_cannot_be_paid() {
        let mut order = new_order();
        order.apply(OrderEvent::Created, CREATED_AT).unwrap();
        let pay = Command::Pay {
            who: OWNER,
            payment_way: 110,
            open_id: None,
        };
        let deadline_ms = order.deadline() * 1000;
        assert_eq!(
            order.decide(&pay, deadline_ms - 1),
            Ok(Effect::StartPayment {
                payment_way: 110,
                open_id: None
            })
        );
        assert_eq!(order.decide(&pay, deadline_ms), Err(Refusal::Closed));
    }
}
