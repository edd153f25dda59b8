//! What an order does with a command: the one place for the rules of ownership, visibility,
//! deadlines and status that decide whether a call is refused, answered as is, or leads to
//! work (a provider call, a durable change).
//!
//! [`Order::decide`] is pure: the order actor calls it and carries out the [`Effect`]; an
//! order without an actor (one that can no longer change) is answered by the same function,
//! so the rules are never written twice.

use super::{MemberRef, Order, OrderEvent, OrderStatus};

/// Where a report of a payment came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
}

/// What a command leads to, when it is not refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    StartPayment,
    /// Record the order paid.
    MarkPaid,
    /// Paid and refunded at the provider already: record it refunded.
    SettleAsRefunded,
    /// Money reached the provider for an order closed here: confirm it (a notify is checked
    /// by a query) and record the refund owed.
    RefundLatePayment,
    /// Take the next step of the pending refund at the provider.
    StepRefund,
}

impl Effect {
    /// Whether carrying it out needs the order's actor (any effect but answering).
    pub fn needs_actor(self) -> bool {
        self != Effect::Answer
    }
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
            Command::Pay { who, .. } => match self.status {
                _ if !self.is_visible_to(*who) => Err(Refusal::NotFound),
                OrderStatus::Paid => Err(Refusal::AlreadyPaid),
                OrderStatus::Unpaid if !self.is_past_deadline(now_ms) => {
                    // Paying again while a payment is open returns the same prepay.
                    match self.payment.as_ref().is_some_and(|p| p.prepay.is_some()) {
                        true => Ok(Effect::Answer),
                        false => Ok(Effect::StartPayment),
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
                Ok(Effect::SettleAsRefunded)
            }
            OrderStatus::Paid | OrderStatus::Refunded | OrderStatus::RefundRefused => {
                Ok(Effect::Answer)
            }
            // No provider order can exist without a payment attempt: never legitimate.
            _ if self.payment.is_none() => Err(Refusal::Mismatch(
                "no payment was started for this order".into(),
            )),
            OrderStatus::Closed => Ok(Effect::RefundLatePayment),
            _ => Ok(Effect::MarkPaid),
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
    use crate::domain::order::CreateRequest;
    use crate::domain::{Fen, OrderItem, OrderNo, Payment, Prepay, Refund, SkuSlice};
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
    const TTL: u64 = 480;
    const CREATED_AT: u64 = 1_700_000_000;

    fn new_order() -> Order {
        Order {
            id: 1,
            parent_order_no: OrderNo::compose(2013, 1),
            order_no: OrderNo::compose(3001, 1),
            request: CreateRequest {
                owner: OWNER,
                business_id: 10_000_001,
                sys_id: 30,
                business_type: 3001,
                sku_slice: SkuSlice::parse("10001:1").unwrap(),
                request_id: "ppsport".into(),
                handle_info: "{}".into(),
                order_from: 2,
                sales_id: 0,
                latitude: None,
                longitude: None,
                city_id: None,
                idempotency_key: None,
            },
            items: vec![OrderItem {
                id: 2,
                order_item_no: "300100000000000000010001".into(),
                sku: "10001".into(),
                sku_name: "欢乐活动".into(),
                sku_price: Fen(PRICE),
                sku_num: 1,
                sku_img: String::new(),
                sku_info: String::new(),
            }],
            extra: Default::default(),
            status: OrderStatus::Creating,
            c_time: CREATED_AT,
            u_time: CREATED_AT,
            payment_time: 0,
            overdue_secs: TTL,
            payment_way: 0,
            payment: None,
        }
    }

    /// The lifecycle as a handful of facts, the way the order's effects change them: the
    /// model the order is checked against.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    struct Model {
        created: bool,
        abandoned: bool,
        payment_started: bool,
        prepay: bool,
        paid: bool,
        closed: bool,
        refund_owed: bool,
        refunded: bool,
        refund_refused: bool,
    }

    /// What the order should answer a command, by the rules of SPEC §3.
    #[derive(Debug, PartialEq, Eq)]
    enum Expected {
        Refused,
        Answered,
        Works,
    }

    impl Model {
        fn visible(&self) -> bool {
            self.created
        }

        fn open(&self) -> bool {
            self.created && !self.paid && !self.closed && !self.refunded
        }

        fn expect(&self, step: &Step, past_deadline: bool) -> Expected {
            use Expected::*;
            let mine = match step {
                Step::Cancel { mine } | Step::Pay { mine } => *mine,
                _ => true,
            };
            match step {
                Step::FinishCreate if !self.created && !self.abandoned => Works,
                Step::FinishCreate if self.visible() => Answered,
                Step::FinishCreate => Refused,
                _ if !self.visible() && !matches!(step, Step::Expire | Step::CheckRefund) => {
                    Refused
                }
                Step::Cancel { .. } if !mine => Refused,
                Step::Cancel { .. } if self.open() => Works,
                Step::Cancel { .. } if self.paid && !self.refunded => Refused,
                Step::Cancel { .. } => Answered,
                Step::Pay { .. } if !mine || !self.open() || past_deadline => Refused,
                Step::Pay { .. } if self.prepay => Answered,
                Step::Pay { .. } => Works,
                Step::Expire if self.open() => Works,
                Step::Expire => Answered,
                Step::CheckRefund if self.refund_owed && !self.refunded && !self.refund_refused => {
                    Works
                }
                Step::CheckRefund => Answered,
                Step::Confirm {
                    right_amount: false,
                    ..
                } => Refused,
                Step::Confirm { refunded: true, .. }
                    if self.payment_started && !self.refunded && (self.open() || self.closed) =>
                {
                    Works
                }
                Step::Confirm { .. } if self.paid || self.refunded || self.refund_refused => {
                    Answered
                }
                Step::Confirm { .. } if !self.payment_started => Refused,
                Step::Confirm { .. } => Works,
            }
        }
    }

    /// A step of a random history: a command, and how the order's actor would carry out
    /// its effect when the provider agrees.
    #[derive(Clone, Debug)]
    enum Step {
        FinishCreate,
        Cancel { mine: bool },
        Pay { mine: bool },
        Expire,
        Confirm { right_amount: bool, refunded: bool },
        CheckRefund,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            Just(Step::FinishCreate),
            any::<bool>().prop_map(|mine| Step::Cancel { mine }),
            any::<bool>().prop_map(|mine| Step::Pay { mine }),
            Just(Step::Expire),
            (any::<bool>(), any::<bool>()).prop_map(|(right_amount, refunded)| Step::Confirm {
                right_amount,
                refunded
            }),
            Just(Step::CheckRefund),
        ]
    }

    fn command(step: &Step) -> Command {
        let who = |mine: bool| if mine { OWNER } else { STRANGER };
        match step {
            Step::FinishCreate => Command::FinishCreate,
            Step::Cancel { mine } => Command::Cancel { who: who(*mine) },
            Step::Pay { mine } => Command::Pay {
                who: who(*mine),
                payment_way: 110,
                open_id: None,
            },
            Step::Expire => Command::Expire,
            Step::Confirm {
                right_amount,
                refunded,
            } => Command::ConfirmPayment(PaidEvidence {
                amount: if *right_amount { PRICE } else { PRICE + 1 },
                paid_at: None,
                target_order_id: None,
                source: EvidenceSource::Query,
                refunded: *refunded,
            }),
            Step::CheckRefund => Command::CheckRefund,
        }
    }

    /// Carries out `effect` the way the workflows do when the provider agrees, and records
    /// the same in the model. `created_ok` and `refund_ok` pick the provider's answer.
    fn carry_out(
        order: &mut Order,
        model: &mut Model,
        effect: Effect,
        created_ok: bool,
        refund_ok: bool,
    ) {
        let now = order.u_time;
        match effect {
            Effect::Answer | Effect::WaitForDeadline => {}
            Effect::FinishCreate if created_ok => {
                order.apply(OrderEvent::Created, now).unwrap();
                model.created = true;
            }
            Effect::FinishCreate => {
                order.apply(OrderEvent::CreateFailed, now).unwrap();
                model.abandoned = true;
            }
            Effect::Close(event) => {
                order.apply(event, now).unwrap();
                model.closed = true;
            }
            Effect::StartPayment => {
                order.payment = Some(Box::new(Payment {
                    payment_way: 110,
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
                model.payment_started = true;
                model.prepay = true;
            }
            Effect::MarkPaid => {
                order.apply(OrderEvent::Paid, now).unwrap();
                model.paid = true;
            }
            Effect::SettleAsRefunded => {
                if order.status == OrderStatus::Unpaid {
                    order.apply(OrderEvent::Paid, now).unwrap();
                    model.paid = true;
                }
                order.apply(OrderEvent::Refunded, now).unwrap();
                model.refunded = true;
            }
            Effect::RefundLatePayment => {
                let refund_order_id = order.refund_order_id(1);
                let amount = order.total();
                let payment = order.payment.as_mut().unwrap();
                payment.refund.get_or_insert(Refund {
                    refund_order_id,
                    attempt: 1,
                    amount,
                    requested_at: now,
                });
                model.refund_owed = true;
            }
            Effect::StepRefund if refund_ok => {
                order.apply(OrderEvent::Refunded, now).unwrap();
                model.refunded = true;
            }
            Effect::StepRefund => {
                order.apply(OrderEvent::RefundRefused, now).unwrap();
                model.refund_refused = true;
            }
        }
    }

    proptest! {
        /// Random histories of commands agree with the model, and the order's own
        /// predicates agree with its decisions: an order that needs no actor has no work
        /// of its own to do, and one that takes no messages has none to do for anyone.
        #[test]
        fn decisions_follow_the_lifecycle(
            steps in proptest::collection::vec(
                (step(), any::<bool>(), any::<bool>(), any::<bool>()), 0..30),
        ) {
            let mut order = new_order();
            let mut model = Model::default();
            for (step, past_deadline, created_ok, refund_ok) in steps {
                let now_ms = if past_deadline {
                    order.deadline() * 1000
                } else {
                    order.deadline() * 1000 - 1
                };
                let command = command(&step);
                let decided = order.decide(&command, now_ms);
                let expected = model.expect(&step, past_deadline);
                let got = match decided {
                    Err(_) => Expected::Refused,
                    Ok(Effect::Answer) => Expected::Answered,
                    // An early timer is an expiry still to come.
                    Ok(_) => Expected::Works,
                };
                prop_assert_eq!(&got, &expected, "{:?} on {:?} ({:?})", step, model, order.status);
                if let Ok(effect) = decided {
                    if effect.needs_actor() {
                        prop_assert!(order.takes_messages(), "{:?} needs work on {:?}", command, order.status);
                    }
                    let self_driven = matches!(command, Command::Expire | Command::CheckRefund);
                    if self_driven && effect.needs_actor() {
                        prop_assert!(order.needs_actor(), "{:?} has work without an actor", order.status);
                    }
                    carry_out(&mut order, &mut model, effect, created_ok, refund_ok);
                }
                prop_assert!(!(model.paid && model.closed), "paid and closed");
            }
        }
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
            Ok(Effect::StartPayment)
        );
        assert_eq!(order.decide(&pay, deadline_ms), Err(Refusal::Closed));
    }
}
