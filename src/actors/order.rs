//! One actor per live order: it owns the order's state and its expiry timer, and takes the
//! commands for it one at a time. Each command is decided by [`Order::decide`] and its
//! effect carried out by a [`crate::workflow`] function; every handler is an
//! [`AtomicResponse`], so nothing interleaves with a write in flight and the state the actor
//! holds is always the durable one.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::poller::{TradePoller, Unwatch, Watch};
use super::{expiry, Snapshot};
use crate::domain::{time, Command, Effect, Order, OrderEvent, OrderNo, OrderStatus};
use crate::workflow::refund::{RefundStep, FIRST_REFUND_RETRY, MAX_REFUND_RETRY, REFUND_RECHECK};
use crate::workflow::{self, jittered, OrderError, SharedEnv};

/// First pause before retrying a close that failed (provider unreachable, write failed);
/// doubled on each failure up to [`MAX_CLOSE_RETRY`]. Short: an order past its deadline
/// should close promptly when the provider only hiccups (three failures in a row cost
/// 1.75 s).
const FIRST_CLOSE_RETRY: Duration = Duration::from_millis(250);
/// Longest pause between attempts at closing.
const MAX_CLOSE_RETRY: Duration = Duration::from_secs(30);

impl Message for Command {
    type Result = Result<Order, OrderError>;
}

/// Told to the supervisor when an order actor stopped (its order needs none).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stopped {
    /// Which order.
    pub parent_order_no: OrderNo,
    /// Which incarnation of its actor (a newer one may already be registered).
    pub incarnation: u64,
}

/// Who an order actor talks to besides its workflows. One for all the actors (an
/// [`Arc`]): every clone of an actix address allocates, and each actor holding its own two
/// was 170 bytes per live order.
pub struct Peers {
    /// Hears when the actor stops.
    pub supervisor: Recipient<Stopped>,
    /// Follows the order's open payment.
    pub poller: Addr<TradePoller>,
}

/// The actor of one live order.
pub struct OrderActor {
    order: Arc<Order>,
    env: SharedEnv,
    peers: Arc<Peers>,
    incarnation: u64,
    /// Whether the order is in the store yet (a new one is not until its creation runs).
    on_disk: bool,
    /// The provider accepted our refund request (so follow it with refund-query).
    refund_accepted: bool,
    /// An expiry's close failed and is being retried (counted in
    /// `ordercenter_waiting_provider_closes` until it ends or the actor stops).
    waiting_close: bool,
    /// What readers see: `order` after each durable change.
    snapshot: Snapshot,
    /// Pause before the next attempt at closing when the last one failed.
    close_retry: Pause,
    /// Pause before the next attempt at a refund when the last one failed.
    refund_retry: Pause,
}

/// A pause before a retry, in milliseconds: 4 bytes where a `Duration` takes 16. The actor
/// is inside every live order's tokio task, whose size is rounded up to 128 bytes; the
/// two pauses as `Duration`s put it a step higher (BENCHMARKS.md, live orders).
#[derive(Clone, Copy)]
struct Pause(u32);

impl Pause {
    fn new(pause: Duration) -> Self {
        Self(u32::try_from(pause.as_millis()).unwrap_or(u32::MAX))
    }

    fn get(self) -> Duration {
        Duration::from_millis(u64::from(self.0))
    }

    /// Twice as long, at most `max`.
    fn doubled(self, max: Duration) -> Self {
        Self::new((self.get() * 2).min(max))
    }
}

/// Source of [`OrderActor`] incarnation numbers (unique in the process).
static NEXT_INCARNATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The future a command handler answers with.
type Answer = AtomicResponse<OrderActor, Result<Order, OrderError>>;

impl OrderActor {
    /// A number no other actor of this process has.
    pub fn next_incarnation() -> u64 {
        NEXT_INCARNATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// An actor for `order` (`on_disk`: read from the store, rather than new); it publishes
    /// its state in `snapshot`; `incarnation` tells the supervisor which actor stopped.
    pub fn new(
        order: Arc<Order>,
        on_disk: bool,
        env: SharedEnv,
        peers: Arc<Peers>,
        incarnation: u64,
        snapshot: Snapshot,
    ) -> Self {
        Self {
            order,
            env,
            peers,
            incarnation,
            on_disk,
            refund_accepted: false,
            waiting_close: false,
            snapshot,
            close_retry: Pause::new(FIRST_CLOSE_RETRY),
            refund_retry: Pause::new(FIRST_REFUND_RETRY),
        }
    }

    /// Answers at once, then stops the actor if its order needs none: an actor activated
    /// for an ended order (a pay or cancel after its close, say) must not stay.
    fn answer_now(&self, answer: Result<Order, OrderError>) -> Answer {
        AtomicResponse::new(Box::pin(fut::ready(answer).map(
            |answer, actor: &mut Self, ctx| {
                actor.stop_if_done(ctx);
                answer
            },
        )))
    }

    /// Stops the actor once its order needs none ([`Order::needs_actor`]).
    fn stop_if_done(&self, ctx: &mut Context<Self>) {
        if !self.order.needs_actor() {
            ctx.stop();
        }
    }

    /// Takes `order` (durable) as the state and publishes it to readers; stops following
    /// the payment once it is settled, and stops the actor once nothing more can happen.
    fn adopt(&mut self, mut order: Order, ctx: &mut Context<Self>) {
        let settled = order.status != OrderStatus::Unpaid;
        // Kept for the order's whole life: no room for entries not yet written (a new
        // order's second entry had grown it to four).
        order.history.shrink_to_fit();
        let shared = Arc::new(order);
        *self.snapshot.write() = shared.clone();
        self.order = shared;
        self.on_disk = true;
        if settled && self.order.payment.is_some() {
            self.peers.poller.do_send(Unwatch {
                parent_order_no: self.order.parent_order_no.clone(),
            });
        }
        self.stop_if_done(ctx);
    }

    /// Takes the outcome of a workflow: a new order is adopted; after a failure the actor
    /// still stops if its order needs none.
    fn settle(
        &mut self,
        outcome: Result<Order, OrderError>,
        ctx: &mut Context<Self>,
    ) -> Result<Order, OrderError> {
        match outcome {
            Ok(order) => {
                self.adopt(order.clone(), ctx);
                Ok(order)
            }
            Err(error) => {
                self.stop_if_done(ctx);
                Err(error)
            }
        }
    }

    /// Starts following an open payment (at start-up and after paying).
    fn watch_payment(&self) {
        if self.order.status == OrderStatus::Unpaid && self.order.payment.is_some() {
            self.peers.poller.do_send(Watch {
                parent_order_no: self.order.parent_order_no.clone(),
                amount: self.order.total().0,
                deadline: self.order.deadline(),
            });
        }
    }

    /// Arms the expiry timer for the order's deadline (a deadline already past fires at
    /// once) on the thread's shared timer ([`expiry`]). An earlier arming is not cancelled:
    /// an `Expire` before the deadline only arms again.
    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        let deadline_ms = self.order.deadline().saturating_mul(1000);
        expiry::arm(deadline_ms, ctx.address().downgrade());
    }

    /// Runs `work` over a copy of the order and settles its outcome.
    fn run<F>(&mut self, work: impl FnOnce(SharedEnv, Order) -> F) -> Answer
    where
        F: std::future::Future<Output = Result<Order, OrderError>> + 'static,
    {
        let work = work(self.env.clone(), (*self.order).clone());
        AtomicResponse::new(Box::pin(
            work.into_actor(self)
                .map(|outcome, actor, ctx| actor.settle(outcome, ctx)),
        ))
    }

    /// Carries out `effect`.
    fn carry_out(&mut self, effect: Effect, ctx: &mut Context<Self>) -> Answer {
        match effect {
            Effect::Answer => self.answer_now(Ok((*self.order).clone())),
            Effect::WaitForDeadline => {
                self.arm_timer(ctx);
                self.answer_now(Ok((*self.order).clone()))
            }
            Effect::FinishCreate => self.finish_create(),
            Effect::Close(event) => self.close(event),
            Effect::StartPayment {
                payment_way,
                open_id,
            } => self.start_payment(payment_way, open_id),
            Effect::MarkPaid(evidence) => self.run(|env, order| async move {
                workflow::pay::mark_paid(&env, order, evidence).await
            }),
            Effect::SettleAsRefunded(evidence) => self.run(|env, order| async move {
                workflow::refund::refunded_at_provider(&env, order, &evidence).await
            }),
            Effect::RefundLatePayment(evidence) => {
                let (env, order) = (self.env.clone(), (*self.order).clone());
                self.record_refund(async move {
                    workflow::refund::late_payment(&env, order, evidence).await
                })
            }
            Effect::RecordRefund => {
                let (env, order) = (self.env.clone(), (*self.order).clone());
                self.record_refund(
                    async move { workflow::refund::request_refund(&env, order).await },
                )
            }
            Effect::StepRefund => self.step_refund(),
        }
    }

    /// Finishes the creation; an order that could not be created stops its actor.
    fn finish_create(&mut self) -> Answer {
        let work =
            workflow::create::finish_create(self.env.clone(), (*self.order).clone(), !self.on_disk);
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |outcome, actor, ctx| match outcome {
                Ok(created) => {
                    actor.adopt(created.clone(), ctx);
                    actor.arm_timer(ctx);
                    Ok(created)
                }
                Err((order, error)) => {
                    actor.adopt(order, ctx);
                    ctx.stop();
                    Err(error)
                }
            },
        )))
    }

    /// Closes the order; an expiry that could not be confirmed is tried again with backoff
    /// (the order stays `"0"` and unpayable meanwhile, its deadline having passed).
    fn close(&mut self, event: OrderEvent) -> Answer {
        let work = workflow::close::close_order(self.env.clone(), (*self.order).clone(), event);
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            move |outcome, actor, ctx| {
                if event == OrderEvent::Expired || outcome.is_ok() {
                    actor.set_waiting_close(outcome.is_err());
                }
                if let (Err(error), OrderEvent::Expired) = (&outcome, event) {
                    // The jitter spreads the retries of orders that shared a deadline.
                    let pause = jittered(actor.close_retry.get());
                    actor.close_retry = actor.close_retry.doubled(MAX_CLOSE_RETRY);
                    tracing::warn!(%error, retry_in_ms = pause.as_millis() as u64, "expiry not confirmed yet; retrying");
                    ctx.run_later(pause, |_, ctx| ctx.notify(Command::Expire));
                }
                actor.settle(outcome, ctx)
            },
        )))
    }

    /// Counts the order among the expiries waiting for the provider while `waiting`.
    fn set_waiting_close(&mut self, waiting: bool) {
        if waiting != self.waiting_close {
            self.waiting_close = waiting;
            self.env.metrics.waiting_close(waiting);
        }
    }

    /// Starts the payment; the attempt is followed whether or not the provider answered,
    /// since a provider order may exist once it is recorded.
    fn start_payment(&mut self, payment_way: u32, open_id: Option<String>) -> Answer {
        let work = workflow::pay::start_payment(
            self.env.clone(),
            (*self.order).clone(),
            payment_way,
            open_id,
        );
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |outcome, actor, ctx| {
                let (recorded, answer) = match outcome {
                    Ok(order) => (order.clone(), Ok(order)),
                    Err((recorded, error)) => (recorded, Err(error)),
                };
                actor.adopt(recorded, ctx);
                actor.watch_payment();
                answer
            },
        )))
    }

    /// Runs `work`, which records a refund (money that reached the provider after the
    /// close, or a refund asked for), then starts following the refund recorded.
    fn record_refund(
        &mut self,
        work: impl std::future::Future<Output = Result<Order, OrderError>> + 'static,
    ) -> Answer {
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |outcome, actor, ctx| {
                let order = actor.settle(outcome, ctx)?;
                if order.refund_pending() {
                    match order.status {
                        OrderStatus::Closed => {
                            tracing::warn!("payment for a closed order; refunding")
                        }
                        _ => tracing::info!("refund asked for; refunding"),
                    }
                    ctx.notify(Command::CheckRefund);
                }
                Ok(order)
            },
        )))
    }

    /// One step of the pending refund, and when to look again.
    fn step_refund(&mut self) -> Answer {
        let work = workflow::refund::refund_step(
            self.env.clone(),
            (*self.order).clone(),
            self.refund_accepted,
        );
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |outcome, actor, ctx| match outcome {
                Ok(RefundStep::Done(order)) => {
                    actor.adopt(order.clone(), ctx);
                    Ok(order)
                }
                Ok(RefundStep::Pending(order)) => {
                    actor.refund_accepted = true;
                    actor.refund_retry = Pause::new(FIRST_REFUND_RETRY);
                    actor.adopt(order.clone(), ctx);
                    ctx.run_later(REFUND_RECHECK, |_, ctx| ctx.notify(Command::CheckRefund));
                    Ok(order)
                }
                Err((order, error)) => {
                    let pause = jittered(actor.refund_retry.get());
                    actor.refund_retry = actor.refund_retry.doubled(MAX_REFUND_RETRY);
                    tracing::warn!(%error, retry_in_ms = pause.as_millis() as u64, "refund not confirmed yet; retrying");
                    actor.refund_accepted = false;
                    actor.adopt(order, ctx);
                    ctx.run_later(pause, |_, ctx| ctx.notify(Command::CheckRefund));
                    Err(error)
                }
            },
        )))
    }
}

impl Actor for OrderActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(256);
        if self.order.status == OrderStatus::Unpaid {
            self.arm_timer(ctx);
            self.watch_payment();
        }
        if self.order.refund_pending() {
            ctx.notify(Command::CheckRefund);
        }
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.set_waiting_close(false);
        self.peers.supervisor.do_send(Stopped {
            parent_order_no: self.order.parent_order_no.clone(),
            incarnation: self.incarnation,
        });
    }
}

impl Handler<Command> for OrderActor {
    type Result = Answer;

    #[tracing::instrument(skip_all, fields(order_no = %self.order.parent_order_no))]
    fn handle(&mut self, command: Command, ctx: &mut Context<Self>) -> Answer {
        match self.order.decide(&command, time::now_millis()) {
            Ok(effect) => self.carry_out(effect, ctx),
            Err(refusal) => self.answer_now(Err(refusal.into())),
        }
    }
}
