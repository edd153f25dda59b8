//! One actor per live order: it owns the order's state and its expiry timer, and handles its
//! messages one at a time. Every handler that changes the order is an [`AtomicResponse`], so
//! nothing interleaves with a write in flight; the state it holds is always the durable one.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::messages::{Cancel, Expire, FinishCreate, Register, Stopped};
use super::supervisor::Supervisor;
use super::{OrderError, SharedEnv, Snapshot};
use crate::domain::{time, Fen, MemberRef, Order, OrderEvent, OrderItem, OrderStatus};
use crate::store::orders::OrderWrite;
use crate::store::outbox::OutboxEntry;
use crate::store::Change;
use crate::subsystem::{
    OrderCreateAnswer, OrderCreateCall, OrderNotifyCall, Subsystem, SubsystemError,
};

/// First pause before retrying a close that failed (provider unreachable, write failed);
/// doubled on each failure up to [`MAX_CLOSE_RETRY`]. Short: an order past its deadline
/// should close promptly when the provider only hiccups (three failures in a row cost
/// 1.75 s; with a 1 s start they cost 7 s, which the chaos run flagged under injected faults).
const FIRST_CLOSE_RETRY: Duration = Duration::from_millis(250);
/// Longest pause between attempts at closing.
const MAX_CLOSE_RETRY: Duration = Duration::from_secs(30);

/// The actor of one live order.
pub struct OrderActor {
    pub(super) order: std::sync::Arc<Order>,
    pub(super) env: SharedEnv,
    supervisor: Recipient<Stopped>,
    incarnation: u64,
    timer: Option<SpawnHandle>,
    /// The provider accepted our refund request (so follow it with refund-query).
    pub(super) refund_accepted: bool,
    /// What readers see: `order` after each durable change.
    snapshot: Snapshot,
    /// Pause before the next attempt at closing when the last one failed.
    close_retry: Duration,
    /// Pause before the next attempt at a refund when the last one failed.
    pub(super) refund_retry: Duration,
}

/// Source of [`OrderActor`] incarnation numbers (unique in the process).
static NEXT_INCARNATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl OrderActor {
    /// A number no other actor of this process has.
    pub fn next_incarnation() -> u64 {
        NEXT_INCARNATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts the actor of a new `order` on the current thread (the HTTP worker creating it:
    /// no hop through the supervisor's thread) and registers it with the supervisor. The
    /// registration is queued before anyone can learn the order's number (that happens once
    /// it is bound, after this), so the supervisor never activates a second actor for it.
    pub fn start_here(order: Order, env: SharedEnv, supervisor: &Addr<Supervisor>) -> Addr<Self> {
        let incarnation = Self::next_incarnation();
        let parent_order_no = order.parent_order_no.clone();
        let order = std::sync::Arc::new(order);
        let snapshot: Snapshot = std::sync::Arc::new(parking_lot::RwLock::new(order.clone()));
        let actor = Self::new(
            order,
            env,
            supervisor.clone().recipient(),
            incarnation,
            snapshot.clone(),
        )
        .start();
        supervisor.do_send(Register {
            parent_order_no,
            actor: actor.clone(),
            incarnation,
            snapshot,
        });
        actor
    }

    /// An actor for `order`; `incarnation` tells the supervisor which actor stopped.
    pub fn new(
        order: std::sync::Arc<Order>,
        env: SharedEnv,
        supervisor: Recipient<Stopped>,
        incarnation: u64,
        snapshot: Snapshot,
    ) -> Self {
        Self {
            order,
            env,
            supervisor,
            incarnation,
            timer: None,
            refund_accepted: false,
            snapshot,
            close_retry: FIRST_CLOSE_RETRY,
            refund_retry: super::payment::FIRST_REFUND_RETRY,
        }
    }

    /// Answers a message at once, then stops the actor if its order needs none: an actor
    /// activated for an ended order (a pay or cancel after its close, say) must not stay.
    pub(super) fn answer_now<T: 'static>(&self, answer: T) -> AtomicResponse<Self, T> {
        AtomicResponse::new(Box::pin(fut::ready(answer).map(
            |answer, actor: &mut Self, ctx| {
                actor.stop_if_done(ctx);
                answer
            },
        )))
    }

    /// Takes the outcome of a step that may have changed the order: a new order is adopted
    /// ([`OrderActor::adopt`]); after a failure the actor still stops if its order needs
    /// none (an ended order activated for a message that changed nothing).
    pub(super) fn settle(
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

    /// Stops the actor once its order needs none ([`Order::needs_actor`]).
    pub(super) fn stop_if_done(&self, ctx: &mut Context<Self>) {
        if !self.order.needs_actor() {
            ctx.stop();
        }
    }

    /// Takes `order` (durable) as the state, and publishes it to readers.
    pub(super) fn set_order(&mut self, order: Order) {
        let shared = std::sync::Arc::new(order);
        *self.snapshot.write() = shared.clone();
        self.order = shared;
    }

    /// Arms (or re-arms) the expiry timer for the order's deadline; a deadline already past
    /// fires at once.
    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        let deadline_ms = self.order.deadline().saturating_mul(1000);
        let wait = Duration::from_millis(deadline_ms.saturating_sub(time::now_millis()));
        self.timer = Some(ctx.run_later(wait, |_, ctx| ctx.notify(Expire)));
    }

    /// Closes the unpaid order with `event` (expiry or cancel): at the provider first when a
    /// payment was started, then here, durably, with the outbox notice that releases the
    /// seat. If the provider says the order is paid, it becomes paid instead.
    fn close(&mut self, event: OrderEvent) -> ResponseActFuture<Self, Result<Order, OrderError>> {
        let env = self.env.clone();
        let order = (*self.order).clone();
        Box::pin(
            super::payment::close_order(env, order, event)
                .into_actor(self)
                .map(|outcome, actor, ctx| actor.settle(outcome, ctx)),
        )
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
            ctx.notify(super::messages::CheckRefund);
        }
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.supervisor.do_send(Stopped {
            parent_order_no: self.order.parent_order_no.clone(),
            incarnation: self.incarnation,
        });
    }
}

impl Handler<FinishCreate> for OrderActor {
    type Result = AtomicResponse<Self, Result<Order, OrderError>>;

    #[tracing::instrument(skip_all, fields(order_no = %self.order.parent_order_no))]
    fn handle(&mut self, msg: FinishCreate, _ctx: &mut Context<Self>) -> Self::Result {
        if self.order.status != OrderStatus::Creating {
            let done = if self.order.status.is_visible() {
                Ok((*self.order).clone())
            } else {
                Err(OrderError::NotFound)
            };
            return self.answer_now(done);
        }
        let env = self.env.clone();
        let order = (*self.order).clone();
        AtomicResponse::new(Box::pin(
            finish_create(env, order, msg.record_creating)
                .into_actor(self)
                .map(|outcome, actor, ctx| match outcome {
                    Ok(created) => {
                        actor.set_order(created.clone());
                        actor.arm_timer(ctx);
                        Ok(created)
                    }
                    Err((order, error)) => {
                        actor.set_order(order);
                        ctx.stop();
                        Err(error)
                    }
                }),
        ))
    }
}

impl Handler<Cancel> for OrderActor {
    type Result = AtomicResponse<Self, Result<Order, OrderError>>;

    #[tracing::instrument(skip_all, fields(order_no = %self.order.parent_order_no))]
    fn handle(&mut self, msg: Cancel, _ctx: &mut Context<Self>) -> Self::Result {
        let answer = match self.order.status {
            _ if !self.is_visible_to(msg.who) => Err(OrderError::NotFound),
            OrderStatus::Unpaid => return AtomicResponse::new(self.close(OrderEvent::Cancelled)),
            OrderStatus::Paid => Err(OrderError::AlreadyPaid),
            _ => Ok((*self.order).clone()),
        };
        self.answer_now(answer)
    }
}

impl Handler<Expire> for OrderActor {
    type Result = AtomicResponse<Self, ()>;

    #[tracing::instrument(skip_all, fields(order_no = %self.order.parent_order_no))]
    fn handle(&mut self, _msg: Expire, ctx: &mut Context<Self>) -> Self::Result {
        self.timer = None;
        if self.order.status != OrderStatus::Unpaid {
            return self.answer_now(());
        }
        if time::now_millis() < self.order.deadline().saturating_mul(1000) {
            self.arm_timer(ctx);
            return self.answer_now(());
        }
        AtomicResponse::new(Box::pin(self.close(OrderEvent::Expired).map(
            |outcome, actor, ctx| {
                if let Err(error) = outcome {
                    // The order stays "0" and unpayable until the close is confirmed. The
                    // jitter spreads the retries of orders that shared a deadline.
                    let pause = jittered(actor.close_retry);
                    actor.close_retry = (actor.close_retry * 2).min(MAX_CLOSE_RETRY);
                    tracing::warn!(%error, retry_in_ms = pause.as_millis() as u64, "expiry not confirmed yet; retrying");
                    ctx.run_later(pause, |_, ctx| ctx.notify(Expire));
                }
            },
        )))
    }
}

impl OrderActor {
    fn is_visible_to(&self, who: MemberRef) -> bool {
        self.order.status.is_visible() && self.order.is_owned_by(who)
    }
}

/// `pause` ± 25 %, so retries of many orders that failed together do not come back in
/// lockstep.
pub(super) fn jittered(pause: Duration) -> Duration {
    use rand::Rng;
    pause.mul_f64(rand::thread_rng().gen_range(0.75..1.25))
}

/// The outbox notice for the subsystem: `order_status` 1 paid, 2 closed, 3 refunded.
fn notice(order: &Order, order_status: u8) -> OutboxEntry {
    OutboxEntry {
        business_type: order.request.business_type,
        order_no: order.order_no.clone(),
        parent_order_no: order.parent_order_no.clone(),
        order_status,
        created_at: time::now_secs(),
    }
}

/// Writes `order` durably with the notice of how it ended (`order_status` 1 paid, 2
/// closed, 3 refunded): applied in the same change when its subsystem lives in our store,
/// else (or if that fails) queued in the outbox, written with the order, for delivery.
pub(crate) async fn write_ended(
    env: &SharedEnv,
    order: Order,
    order_status: u8,
) -> Result<(), crate::store::StoreError> {
    let told = notice(&order, order_status);
    let in_store = env
        .subsystems
        .get(order.request.business_type)
        .filter(|subsystem| subsystem.in_store().is_some());
    let Some(subsystem) = in_store else {
        env.store.write_durable(order, Some(told)).await?;
        env.outbox.wake();
        return Ok(());
    };
    let orders = env.store.clone();
    let queued = env
        .store
        .store()
        .write(move || {
            let call = OrderNotifyCall {
                order_no: told.order_no.to_string(),
                parent_order_no: told.parent_order_no.to_string(),
                order_status,
            };
            let mut change = Change::new();
            let told_here = match subsystem.in_store() {
                Some(local) => match local.order_notify_in_write(&call, &mut change) {
                    Ok(()) => true,
                    Err(error) => {
                        tracing::warn!(%error, "in-process notice failed; queued in the outbox");
                        change = Change::new();
                        false
                    }
                },
                None => false,
            };
            orders.stage(
                &mut change,
                OrderWrite {
                    order: &order,
                    notify: (!told_here).then_some(told),
                    first: false,
                },
            )?;
            orders.store().apply(change)?;
            Ok(!told_here)
        })
        .await?;
    if queued {
        env.outbox.wake();
    }
    Ok(())
}

/// The written-ahead creation (SPEC §3). On failure returns the order as it was left
/// (abandoned, with the subsystem told through the outbox) and the reason.
async fn finish_create(
    env: SharedEnv,
    order: Order,
    record_creating: bool,
) -> Result<Order, (Order, OrderError)> {
    let business_type = order.request.business_type;
    let Some(subsystem) = env.subsystems.get(business_type) else {
        return Err((order, OrderError::UnknownBusinessType(business_type)));
    };
    if subsystem.in_store().is_some() {
        return finish_create_in_store(env, order, subsystem, record_creating).await;
    }
    finish_create_remote(env, order, subsystem, record_creating).await
}

/// Creation with a subsystem across the network: *creating* is durable before the call
/// (so a crash leaves a record that recovery finishes), `applyOrderCreate` is retried with
/// the same `order_no`, and *created* (or the give-up) is durable before the answer.
async fn finish_create_remote(
    env: SharedEnv,
    mut order: Order,
    subsystem: Arc<dyn Subsystem>,
    record_creating: bool,
) -> Result<Order, (Order, OrderError)> {
    if record_creating {
        if let Err(error) = env.store.write_durable(order.clone(), None).await {
            return Err((order, error.into()));
        }
    }
    crate::failpoint::hit("create.after_creating");
    let call = create_call(&order);
    let mut delay = env.settings.create_retry_base;
    let mut attempt = 1;
    let answer = loop {
        match subsystem.order_create(&call).await {
            Err(SubsystemError::Unavailable(reason)) if attempt < env.settings.create_attempts => {
                tracing::warn!(attempt, %reason, "applyOrderCreate failed; retrying with the same order_no");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
                attempt += 1;
            }
            outcome => break outcome.map_err(OrderError::from),
        }
    };
    let now = time::now_secs();
    match answer.and_then(|answer| fill_from_answer(&mut order, answer)) {
        Ok(()) => {
            crate::failpoint::hit("create.after_bind");
            let _ = order.apply(OrderEvent::Created, now);
            match env.store.write_durable(order.clone(), None).await {
                Ok(()) => {
                    crate::failpoint::hit("create.after_created");
                    Ok(order)
                }
                Err(error) => Err((order, error.into())),
            }
        }
        Err(reason) => {
            let _ = order.apply(OrderEvent::CreateFailed, now);
            give_up(&env, order, reason).await
        }
    }
}

/// Creation with a subsystem in our own store: the binding and the *created* order are one
/// atomic change on the writer thread, durable before the answer. A crash before it is on
/// disk leaves nothing; a refusal writes nothing (an order recovered *creating* is given up
/// as usual).
async fn finish_create_in_store(
    env: SharedEnv,
    order: Order,
    subsystem: Arc<dyn Subsystem>,
    record_creating: bool,
) -> Result<Order, (Order, OrderError)> {
    let orders = env.store.clone();
    let as_it_was = order.clone();
    let written = env
        .store
        .store()
        .write(move || {
            let mut order = order;
            let mut change = Change::new();
            let answer = match subsystem.in_store() {
                Some(local) => local
                    .order_create_in_write(&create_call(&order), &mut change)
                    .map_err(OrderError::from),
                None => Err(OrderError::UnknownBusinessType(order.request.business_type)),
            };
            let now = time::now_secs();
            match answer.and_then(|answer| fill_from_answer(&mut order, answer)) {
                Ok(()) => {
                    let _ = order.apply(OrderEvent::Created, now);
                    orders.stage(
                        &mut change,
                        OrderWrite {
                            order: &order,
                            notify: None,
                            first: record_creating,
                        },
                    )?;
                    crate::failpoint::hit("create.before_commit");
                    change.crash_point("create.after_journal_record");
                    orders.store().apply(change)?;
                    Ok(Ok(order))
                }
                Err(reason) => {
                    let _ = order.apply(OrderEvent::CreateFailed, now);
                    Ok(Err((order, reason)))
                }
            }
        })
        .await;
    match written {
        Ok(Ok(created)) => {
            crate::failpoint::hit("create.after_created");
            Ok(created)
        }
        // A new order was never written: nothing to record.
        Ok(Err((order, reason))) if record_creating => Err((order, reason)),
        Ok(Err((order, reason))) => give_up(&env, order, reason).await,
        Err(error) => Err((as_it_was, error.into())),
    }
}

/// Records a creation given up (the order abandoned, never shown) with the outbox notice
/// that tells the subsystem to let go of anything it bound, and returns the reason.
async fn give_up(
    env: &SharedEnv,
    order: Order,
    reason: OrderError,
) -> Result<Order, (Order, OrderError)> {
    tracing::warn!(%reason, "creation given up; closing the order and telling the subsystem");
    if let Err(error) = write_ended(env, order.clone(), 2).await {
        tracing::error!(%error, "could not record the abandoned creation");
    }
    Err((order, reason))
}

fn create_call(order: &Order) -> OrderCreateCall {
    OrderCreateCall {
        order_no: order.order_no.to_string(),
        parent_order_no: order.parent_order_no.to_string(),
        company_id: order.request.owner.company_id,
        member_id: order.request.owner.member_id,
        business_id: order.request.business_id,
        sku_slice: order.request.sku_slice.to_text(),
        handle_info: order.request.handle_info.clone(),
    }
}

/// Fills items and extras from the subsystem's answer, after checking it answers for
/// exactly the SKUs and quantities ordered (prices always come from the subsystem).
pub fn fill_from_answer(order: &mut Order, answer: OrderCreateAnswer) -> Result<(), OrderError> {
    let lines = order.request.sku_slice.lines();
    let matches = answer.items.len() == lines.len()
        && answer
            .items
            .iter()
            .zip(lines)
            .all(|(item, line)| item.sku == line.sku && item.sku_num == line.quantity);
    if !matches {
        return Err(OrderError::SubsystemUnavailable(
            "answer does not match the sku_slice".into(),
        ));
    }
    order.items = answer
        .items
        .into_iter()
        .enumerate()
        .map(|(index, item)| OrderItem {
            id: order.id + 1 + index as u64,
            order_item_no: order.order_no.item_no(index as u16 + 1),
            sku: item.sku,
            sku_name: item.sku_name,
            sku_price: Fen(item.sku_price),
            sku_num: item.sku_num,
            sku_img: item.sku_img,
            sku_info: item.sku_info,
        })
        .collect();
    order.extra = crate::domain::OrderExtra {
        stadium_name: answer.extra.stadium_name,
        user_info: answer.extra.user_info,
    };
    Ok(())
}
