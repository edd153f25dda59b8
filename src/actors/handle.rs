//! [`Orders`]: the typed handle the HTTP layer talks to.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use parking_lot::Mutex;

use super::messages::{
    Activate, Cancel, CountLive, FinishCreate, GetPollerStats, Lookup, PaidEvidence, Pay,
    PaymentConfirmed, PollerStats, Recover, Routed,
};
use super::order::OrderActor;
use super::supervisor::Supervisor;
use super::{OrderError, SharedEnv};
use crate::domain::order::CreateRequest;
use crate::domain::{time, MemberRef, Order, OrderExtra, OrderNo, OrderNoGenerator, OrderStatus};
use crate::store::orders::IdempotencyRecord;

/// `shop/order/create`, validated.
pub type CreateOrder = CreateRequest;

/// The code a subsystem uses for "these SKUs are bound to an unpaid order".
const PENDING_ORDER_CODE: u64 = 4_001_009_999;

/// What recovery found and did.
#[derive(Debug, Default, Clone, Copy)]
pub struct RecoveryReport {
    /// Live (unpaid) orders whose actor and timer were restored.
    pub unpaid: usize,
    /// Orders caught mid-creation, being finished or closed.
    pub creating: usize,
}

/// One async gate per (owner, `Idempotency-Key`) with a create in flight.
type KeyGates = HashMap<(MemberRef, String), Arc<tokio::sync::Mutex<()>>>;

/// Handle to the order actors. Cheap to clone.
#[derive(Clone)]
pub struct Orders {
    supervisor: Addr<Supervisor>,
    env: SharedEnv,
    numbers: Arc<Mutex<OrderNoGenerator>>,
    ready: Arc<AtomicBool>,
    /// Creates in flight per (owner, `Idempotency-Key`): a repeat waits for the first.
    in_flight: Arc<Mutex<KeyGates>>,
}

impl Orders {
    /// A handle over a started supervisor. Not ready until [`Orders::recover`] ran.
    pub fn new(supervisor: Addr<Supervisor>, env: SharedEnv, numbers: OrderNoGenerator) -> Self {
        Self {
            supervisor,
            env,
            numbers: Arc::new(Mutex::new(numbers)),
            ready: Arc::new(AtomicBool::new(false)),
            in_flight: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Whether recovery finished and orders are accepted.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Marks the service as not accepting orders (shutdown).
    pub fn set_not_ready(&self) {
        self.ready.store(false, Ordering::Release);
    }

    /// Seconds from creation to the deadline.
    pub fn order_ttl_secs(&self) -> u64 {
        self.env.settings.order_ttl_secs
    }

    /// How many order actors are live.
    pub async fn live_actors(&self) -> Result<usize, OrderError> {
        Ok(self.supervisor.send(CountLive).await?)
    }

    async fn next_body(&self) -> u64 {
        loop {
            let issued = self.numbers.lock().next_body(time::now_millis());
            match issued {
                Ok(body) => return body,
                Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    }

    /// Creates an order (SPEC §3): durable and with its timer armed when this returns `Ok`.
    /// SKUs already bound to the caller's live unpaid order return that order. With an
    /// `Idempotency-Key`, a replay returns the order the key made (waiting for it while the
    /// first request is in flight); the key with other parameters is refused.
    #[tracing::instrument(skip_all, fields(member_id = request.owner.member_id))]
    pub async fn create(&self, request: CreateOrder) -> Result<Order, OrderError> {
        if !self.is_ready() {
            return Err(OrderError::NotReady);
        }
        let Some(key) = request.idempotency_key.clone() else {
            return self.create_new(request).await;
        };
        let slot = (request.owner, key.clone());
        let gate = self
            .in_flight
            .lock()
            .entry(slot.clone())
            .or_default()
            .clone();
        let outcome = {
            let _turn = gate.lock().await;
            self.create_once(request, key).await
        };
        let mut in_flight = self.in_flight.lock();
        if in_flight
            .get(&slot)
            .is_some_and(|g| Arc::strong_count(g) <= 2)
        {
            in_flight.remove(&slot);
        }
        outcome
    }

    /// Create under an idempotency key, the key's turn held.
    async fn create_once(&self, request: CreateOrder, key: String) -> Result<Order, OrderError> {
        let who = request.owner;
        if let Some(record) = self.env.store.load_idempotency(who, key).await? {
            if record.fingerprint != request.fingerprint() {
                return Err(OrderError::IdempotencyConflict);
            }
            match self.get_settled(record.parent_order_no, who).await {
                Ok(order) => return Ok(order),
                // The first attempt was given up (never shown): this one may try again.
                Err(OrderError::NotFound) => {}
                Err(other) => return Err(other),
            }
        }
        self.create_new(request).await
    }

    async fn create_new(&self, request: CreateOrder) -> Result<Order, OrderError> {
        let business_type = request.business_type;
        if !self.env.subsystems.knows(business_type) {
            return Err(OrderError::UnknownBusinessType(business_type));
        }
        let who = request.owner;
        let body = self.next_body().await;
        let now = time::now_secs();
        let lines = request.sku_slice.lines().len() as u64;
        let order = Order {
            id: self.env.store.next_row_ids(1 + lines),
            parent_order_no: OrderNo::compose(self.env.settings.parent_prefix, body),
            order_no: OrderNo::compose(business_type, body),
            request,
            items: Vec::new(),
            extra: OrderExtra::default(),
            status: OrderStatus::Creating,
            c_time: now,
            u_time: now,
            payment_time: 0,
            overdue_secs: self.env.settings.order_ttl_secs,
            payment_way: 0,
            payment: None,
        };
        let key = order.request.idempotency_key.clone();
        let fingerprint = order.request.fingerprint();
        let actor = OrderActor::start_here(order, self.env.clone(), &self.supervisor);
        let outcome = actor
            .send(FinishCreate {
                record_creating: true,
            })
            .await?;
        let Err(OrderError::Rejected {
            code: PENDING_ORDER_CODE,
            message,
            data,
        }) = outcome
        else {
            return outcome;
        };
        // The SKUs are bound to the caller's unpaid order: answer with it, as the real
        // client expects, and record the key (if any) as having answered with it.
        let existing = data
            .as_ref()
            .and_then(|d| d.get("parent_order_no"))
            .and_then(|v| v.as_str())
            .and_then(|text| OrderNo::parse(text).ok());
        let unpaid = match existing {
            Some(parent) => match self.get_settled(parent, who).await {
                Ok(order) if order.status == OrderStatus::Unpaid => Some(order),
                _ => None,
            },
            None => None,
        };
        let Some(order) = unpaid else {
            return Err(OrderError::Rejected {
                code: PENDING_ORDER_CODE,
                message,
                data,
            });
        };
        if let Some(key) = key {
            let record = IdempotencyRecord {
                parent_order_no: order.parent_order_no.clone(),
                fingerprint,
                created_at: time::now_secs(),
            };
            self.env.store.claim_idempotency(who, key, record).await?;
        }
        Ok(order)
    }

    /// The caller's order, as it is now: the state its live actor published (never waiting
    /// behind the actor's mailbox), else the store's.
    pub async fn get(
        &self,
        parent_order_no: OrderNo,
        who: MemberRef,
    ) -> Result<Arc<Order>, OrderError> {
        let published = self
            .supervisor
            .send(Lookup {
                parent_order_no: parent_order_no.clone(),
            })
            .await?;
        // The published snapshot is shared, not copied: the frontend polls this every second.
        let order = match published {
            Some(snapshot) => Some(snapshot.read().clone()),
            None => self.env.store.load(parent_order_no).await?.map(Arc::new),
        };
        order
            .filter(|o| o.status.is_visible() && o.is_owned_by(who))
            .ok_or(OrderError::NotFound)
    }

    /// Sends a message to the order's actor, activating it from the store if needed; an
    /// order that takes no more messages is answered by `stored`. An actor that stops while
    /// the message is on its way has its writes on disk: the message is routed again.
    async fn with_actor<M, R>(
        &self,
        parent_order_no: &OrderNo,
        message: impl Fn() -> M,
        stored: impl FnOnce(Order) -> Result<R, OrderError>,
    ) -> Result<R, OrderError>
    where
        M: Message<Result = Result<R, OrderError>> + Send + 'static,
        R: Send + 'static,
        OrderActor: Handler<M>,
    {
        for _ in 0..3 {
            let routed = self
                .supervisor
                .send(Activate {
                    parent_order_no: parent_order_no.clone(),
                })
                .await??;
            match routed {
                Routed::Stored(order) => return stored(*order),
                Routed::Actor(actor) => match actor.send(message()).await {
                    Ok(outcome) => return outcome,
                    Err(MailboxError::Closed) => continue,
                    Err(other) => return Err(other.into()),
                },
            }
        }
        Err(OrderError::NotReady)
    }

    /// The owner cancels: an unpaid order closes (at the provider first, when a payment was
    /// started) and the seat is released; a closed one is answered as is; a paid one cannot
    /// be cancelled.
    pub async fn cancel(
        &self,
        parent_order_no: OrderNo,
        who: MemberRef,
    ) -> Result<Order, OrderError> {
        // Not while recovery is starting actors: one activated now could finish and stop,
        // and recovery would start another from the copy it read before.
        if !self.is_ready() {
            return Err(OrderError::NotReady);
        }
        self.with_actor(
            &parent_order_no,
            || Cancel { who },
            |order| match order.status {
                _ if !(order.status.is_visible() && order.is_owned_by(who)) => {
                    Err(OrderError::NotFound)
                }
                OrderStatus::Paid => Err(OrderError::AlreadyPaid),
                _ => Ok(order),
            },
        )
        .await
    }

    /// The owner pays: the provider's `miniPayRequest` for `wx.requestPayment` (the same one
    /// while the payment is open), or paid at once for a zero price.
    pub async fn pay(
        &self,
        parent_order_no: OrderNo,
        who: MemberRef,
        payment_way: u32,
        open_id: Option<String>,
    ) -> Result<Order, OrderError> {
        if !self.is_ready() {
            return Err(OrderError::NotReady);
        }
        let message = || Pay {
            who,
            payment_way,
            open_id: open_id.clone(),
        };
        self.with_actor(&parent_order_no, message, |order| match order.status {
            _ if !(order.status.is_visible() && order.is_owned_by(who)) => {
                Err(OrderError::NotFound)
            }
            OrderStatus::Paid => Err(OrderError::AlreadyPaid),
            _ => Err(OrderError::Closed),
        })
        .await
    }

    /// The provider says the order is paid (a verified notify, or the poller's checked
    /// query). Idempotent; an order closed meanwhile is refunded.
    pub async fn confirm_payment(
        &self,
        parent_order_no: OrderNo,
        evidence: PaidEvidence,
    ) -> Result<Order, OrderError> {
        // Not during recovery (see `cancel`): the provider retries its notify, the poller
        // its query.
        if !self.is_ready() {
            return Err(OrderError::NotReady);
        }
        let amount = evidence.amount;
        let message = || PaymentConfirmed {
            evidence: evidence.clone(),
        };
        self.with_actor(&parent_order_no, message, |order| match order.status {
            _ if !order.status.is_visible() => Err(OrderError::NotFound),
            _ if amount != order.total().0 => Err(OrderError::Mismatch("amount".into())),
            OrderStatus::Paid | OrderStatus::Refunded | OrderStatus::RefundRefused => Ok(order),
            _ => Err(OrderError::Mismatch(
                "no payment was started for this order".into(),
            )),
        })
        .await
    }

    /// The caller's order once its creation settled: an order still being created (a
    /// request in flight, or one recovered at restart) is waited for.
    async fn get_settled(
        &self,
        parent_order_no: OrderNo,
        who: MemberRef,
    ) -> Result<Order, OrderError> {
        let order = self
            .with_actor(
                &parent_order_no,
                || FinishCreate {
                    record_creating: false,
                },
                Ok,
            )
            .await?;
        if order.status.is_visible() && order.is_owned_by(who) {
            Ok(order)
        } else {
            Err(OrderError::NotFound)
        }
    }

    /// Orders so far that need a person (see [`super::OrderEnv`]).
    pub fn needing_attention(&self) -> u64 {
        self.env
            .needing_attention
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Closes the provider refused so far (see [`super::OrderEnv`]).
    pub fn close_refusals(&self) -> u64 {
        self.env
            .close_refusals
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Most provider calls of the order actors in flight at once so far.
    pub fn provider_calls_peak(&self) -> usize {
        self.env
            .provider_calls_peak
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The store (for its counters).
    pub fn store(&self) -> &crate::store::Store {
        self.env.store.store()
    }

    /// The payment provider client (for notify verification).
    pub fn provider(&self) -> &crate::provider::UmsClient {
        &self.env.provider
    }

    /// What the trade poller did so far.
    pub async fn poller_stats(&self) -> Result<PollerStats, OrderError> {
        Ok(self.env.poller.send(GetPollerStats).await?)
    }

    /// A page of the orders that need an actor, after the deadline key `after`; `None` when
    /// there are no more.
    async fn live_page(
        &self,
        after: Option<Vec<u8>>,
    ) -> Result<Option<(Vec<Order>, Option<Vec<u8>>)>, OrderError> {
        const PAGE: usize = 8192;
        let store = self.env.store.clone();
        let (orders, next) = self
            .env
            .store
            .store()
            .blocking(move || store.live_orders_page(after.as_deref(), PAGE))
            .await?;
        Ok((!orders.is_empty()).then_some((orders, next)))
    }

    /// Restores every live order after a start: actors and timers with their original
    /// deadlines (a deadline that passed while down fires at once), and creations caught
    /// midway finished or closed. Then the service is ready.
    pub async fn recover(&self) -> Result<RecoveryReport, OrderError> {
        let mut report = RecoveryReport::default();
        let mut page = self.live_page(None).await?;
        // Read the next page while the supervisor starts the actors of this one.
        while let Some((orders, next)) = page {
            let started = self.supervisor.send(Recover { orders });
            let (started, next_page) = match next {
                Some(after) => futures::join!(started, self.live_page(Some(after))),
                None => (started.await, Ok(None)),
            };
            let started = started?;
            report.unpaid += started.unpaid;
            report.creating += started.creating;
            page = next_page?;
        }
        self.ready.store(true, Ordering::Release);
        Ok(report)
    }
}
