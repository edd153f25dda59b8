//! [`OrderCenter`]: the order center's API, the typed handle the HTTP layer (and the trade
//! poller's reports) call. It routes each command to the order's actor through the
//! supervisor, or answers from the store an order that can no longer change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use parking_lot::Mutex;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::order::Peers;
use super::poller::{GetPollerStats, PaymentFound, PollerStats, TradePoller};
use super::supervisor::{
    start_here, Activate, CountLive, Recover, RecoveryReport, Routed, Supervisor,
};
use super::Published;
use crate::codes;
use crate::domain::order::CreateRequest;
use crate::domain::{
    time, Command, Effect, Happened, HistoryEntry, MemberRef, Order, OrderExtra, OrderNo,
    OrderNoGenerator, OrderStatus, PaidEvidence, RefundDeadline, RefundRequester,
};
use crate::store::orders::{IdempotencyRecord, InspectedOrder, MemberOrdersPage};
use crate::store::outbox::OutboxStore;
use crate::subsystem::RefundDeadlineCall;
use crate::workflow::{OrderError, SharedEnv};

/// `shop/order/create`, validated.
pub type CreateOrder = CreateRequest;

/// One async gate per (owner, `Idempotency-Key`) with a create in flight.
type KeyGates = HashMap<(MemberRef, String), Arc<tokio::sync::Mutex<()>>>;

/// The order center's API. Cheap to clone.
#[derive(Clone)]
pub struct OrderCenter {
    supervisor: Addr<Supervisor>,
    published: Published,
    poller: Addr<TradePoller>,
    /// What the actors of new orders share.
    peers: Arc<Peers>,
    pub(super) env: SharedEnv,
    numbers: Arc<Mutex<OrderNoGenerator>>,
    ready: Arc<AtomicBool>,
    /// Creates in flight per (owner, `Idempotency-Key`): a repeat waits for the first.
    in_flight: Arc<Mutex<KeyGates>>,
}

impl OrderCenter {
    /// The API over a started supervisor and poller. Not ready until
    /// [`OrderCenter::recover`] ran.
    pub fn new(
        supervisor: Addr<Supervisor>,
        published: Published,
        poller: Addr<TradePoller>,
        env: SharedEnv,
        numbers: OrderNoGenerator,
    ) -> Self {
        let peers = Arc::new(Peers {
            supervisor: supervisor.clone().recipient(),
            poller: poller.clone(),
        });
        Self {
            supervisor,
            published,
            poller,
            peers,
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
        let Some(key) = request.idempotency_key.as_deref().map(String::from) else {
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
        let remembered = self.env.store.load_idempotency(who, key).await?;
        let since = time::now_secs().saturating_sub(self.env.settings.idempotency_ttl_secs);
        // A record past its time is forgotten even before the sweep removes it.
        if let Some(record) = remembered.filter(|record| record.created_at >= since) {
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
        let now_ms = time::now_millis();
        let now = now_ms / 1000;
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
            history: vec![HistoryEntry {
                at_ms: now_ms,
                what: Happened::Creating,
            }],
        };
        let key = order.request.idempotency_key.as_deref().map(String::from);
        let fingerprint = order.request.fingerprint();
        let actor = start_here(order, self.env.clone(), &self.peers, &self.published);
        let outcome = actor.send(Command::FinishCreate).await?;
        let Err(OrderError::Rejected {
            code: codes::PENDING_ORDER,
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
                code: codes::PENDING_ORDER,
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
        // The published snapshot is shared, not copied: the frontend polls this every second.
        let order = match self.published.get(&parent_order_no) {
            Some(order) => Some(order),
            None => self.env.store.load(parent_order_no).await?.map(Arc::new),
        };
        order
            .filter(|o| o.is_visible_to(who))
            .ok_or(OrderError::NotFound)
    }

    /// Carries out `command` on the order: by its actor (activated from the store if
    /// needed), or, for an order that can no longer change, by deciding it here on the
    /// stored copy with the same [`Order::decide`]. An actor that stops while the command
    /// is on its way has its writes on disk: the command is routed again.
    async fn execute(
        &self,
        parent_order_no: &OrderNo,
        command: Command,
    ) -> Result<Order, OrderError> {
        for _ in 0..3 {
            let routed = self
                .supervisor
                .send(Activate {
                    parent_order_no: parent_order_no.clone(),
                })
                .await??;
            match routed {
                Routed::Stored(order) => return answer_stored(*order, &command),
                Routed::Actor(actor) => match actor.send(command.clone()).await {
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
        self.execute(&parent_order_no, Command::Cancel { who })
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
        let command = Command::Pay {
            who,
            payment_way,
            open_id,
        };
        self.execute(&parent_order_no, command).await
    }

    /// A full refund of a paid order, asked by its owner before the refund deadline of what
    /// was ordered (the subsystem says when that is), or by an operator at any time. The
    /// refund is recorded (durable) before this returns, and before the provider hears of
    /// it; the order's actor then follows it until the provider confirms (`"3"`). Asking
    /// again while it is pending answers the order as it is.
    ///
    /// The deadline is asked for when the published order looks paid. It may not look paid
    /// yet while its payment confirmation is being written: the decision then refuses the
    /// unknown deadline on the (now) paid order, and this asks and decides once more, so a
    /// payment racing the request never lets an owner past the deadline.
    #[tracing::instrument(skip_all, fields(order_no = %parent_order_no))]
    pub async fn refund(
        &self,
        parent_order_no: OrderNo,
        by: RefundRequester,
        reason: &str,
    ) -> Result<Order, OrderError> {
        if !self.is_ready() {
            return Err(OrderError::NotReady);
        }
        tracing::info!(?by, %reason, "refund asked for");
        let RefundRequester::Owner(who) = by else {
            let command = Command::RequestRefund {
                by,
                deadline: RefundDeadline::NotAsked,
            };
            return self.execute(&parent_order_no, command).await;
        };
        let order = self.get(parent_order_no.clone(), who).await?;
        let deadline = if order.status == OrderStatus::Paid && !order.refund_pending() {
            self.refund_deadline(&order).await?
        } else {
            RefundDeadline::NotAsked
        };
        let command = Command::RequestRefund { by, deadline };
        match self.execute(&parent_order_no, command).await {
            Err(OrderError::RefundDeadlineUnknown) => {
                let order = self.get(parent_order_no.clone(), who).await?;
                let deadline = self.refund_deadline(&order).await?;
                self.execute(&parent_order_no, Command::RequestRefund { by, deadline })
                    .await
            }
            outcome => outcome,
        }
    }

    /// The refund deadline of what `order` ordered, from its subsystem.
    async fn refund_deadline(&self, order: &Order) -> Result<RefundDeadline, OrderError> {
        let subsystem = self
            .env
            .subsystems
            .get(order.request.business_type)
            .ok_or(OrderError::UnknownBusinessType(order.request.business_type))?;
        let call = RefundDeadlineCall {
            order_no: order.order_no.to_string(),
            parent_order_no: order.parent_order_no.to_string(),
        };
        Ok(
            match subsystem.refund_deadline(&call).await?.refund_deadline {
                Some(at) => RefundDeadline::At(at),
                None => RefundDeadline::Never,
            },
        )
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
        self.execute(&parent_order_no, Command::ConfirmPayment(evidence))
            .await
    }

    /// Confirms the payments the trade poller reports, until it stops or `cancel` fires. A
    /// report that meets a passing refusal (recovery still starting actors, a store that
    /// cannot write now) is tried again for up to 30 s rather than dropped: the poller will
    /// not ask again.
    pub async fn confirm_reported(
        self,
        mut reports: UnboundedReceiver<PaymentFound>,
        cancel: CancellationToken,
    ) {
        loop {
            let found = tokio::select! {
                _ = cancel.cancelled() => break,
                found = reports.recv() => match found {
                    Some(found) => found,
                    None => break,
                },
            };
            let center = self.clone();
            actix::spawn(async move {
                for attempt in 1.. {
                    let outcome = center
                        .confirm_payment(found.parent_order_no.clone(), found.evidence.clone())
                        .await;
                    match outcome {
                        Err(error) if attempt <= 300 && is_transient(&error) => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(error) => {
                            tracing::error!(order_no = %found.parent_order_no, %error, "paid order could not take the payment");
                            break;
                        }
                        Ok(_) => break,
                    }
                }
            });
        }
    }

    /// The caller's order once its creation settled: an order still being created (a
    /// request in flight, or one recovered at restart) is waited for.
    async fn get_settled(
        &self,
        parent_order_no: OrderNo,
        who: MemberRef,
    ) -> Result<Order, OrderError> {
        let order = self
            .execute(&parent_order_no, Command::FinishCreate)
            .await?;
        if order.is_visible_to(who) {
            Ok(order)
        } else {
            Err(OrderError::NotFound)
        }
    }

    /// A page of `who`'s orders, newest first (see [`OrderStore::member_orders_page`]):
    /// read from the member's index, never a scan of everyone's orders.
    ///
    /// [`OrderStore::member_orders_page`]: crate::store::orders::OrderStore::member_orders_page
    pub async fn list(
        &self,
        who: MemberRef,
        status: Option<u8>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<MemberOrdersPage, OrderError> {
        Ok(self
            .env
            .store
            .load_member_orders(who, before, status, limit)
            .await?)
    }

    /// Orders so far that need a person (see [`crate::workflow::OrderEnv`]).
    pub fn needing_attention(&self) -> u64 {
        self.env.needing_attention()
    }

    /// Closes the provider refused so far (see [`crate::workflow::OrderEnv`]).
    pub fn close_refusals(&self) -> u64 {
        self.env.close_refusals()
    }

    /// Most provider calls of the workflows in flight at once so far.
    pub fn provider_calls_peak(&self) -> usize {
        self.env.provider_calls_peak()
    }

    /// The store (for its counters).
    pub fn store(&self) -> &crate::store::Store {
        self.env.store.store()
    }

    /// The payment provider client (for notify verification).
    pub fn provider(&self) -> &crate::provider::UmsClient {
        &self.env.provider
    }

    /// One order and what happened to it, by its parent or child number, read from the
    /// store (which every change reaches before it is acknowledged or shown).
    pub async fn inspect(&self, number: OrderNo) -> Result<Option<InspectedOrder>, OrderError> {
        let orders = self.env.store.clone();
        let store = self.store().clone();
        Ok(self
            .store()
            .blocking(move || orders.inspect(&OutboxStore::open(&store)?, &number))
            .await?)
    }

    /// What the trade poller did so far.
    pub async fn poller_stats(&self) -> Result<PollerStats, OrderError> {
        Ok(self.poller.send(GetPollerStats).await?)
    }

    /// A page of the orders that need an actor, after the deadline key `after` and before
    /// `until`; `None` when there are no more.
    async fn live_page(
        &self,
        after: Option<Vec<u8>>,
        until: Option<Vec<u8>>,
    ) -> Result<Option<(Vec<Order>, Option<Vec<u8>>)>, OrderError> {
        const PAGE: usize = 8192;
        let store = self.env.store.clone();
        let (orders, next) = self
            .env
            .store
            .store()
            .blocking(move || store.live_orders_page(after.as_deref(), until.as_deref(), PAGE))
            .await?;
        Ok((!orders.is_empty()).then_some((orders, next)))
    }

    /// Restores every live order after a start: actors and timers with their original
    /// deadlines (a deadline that passed while down fires at once), and creations caught
    /// midway finished or closed. Then the service is ready.
    ///
    /// The deadline index is read as two halves at once, on two blocking threads: reading
    /// the orders from sled was most of a recovery, and one reader kept one core busy
    /// while the other had only the supervisor's and the arbiters' share of the work.
    pub async fn recover(&self) -> Result<RecoveryReport, OrderError> {
        let store = self.env.store.clone();
        let split = self
            .env
            .store
            .store()
            .blocking(move || store.live_split())
            .await?;
        let report = match split {
            None => RecoveryReport::default(),
            Some(split) => {
                let (early, late) = futures::join!(
                    self.recover_range(None, Some(split.clone())),
                    self.recover_range(Some(split), None)
                );
                let (early, late) = (early?, late?);
                RecoveryReport {
                    unpaid: early.unpaid + late.unpaid,
                    creating: early.creating + late.creating,
                }
            }
        };
        self.ready.store(true, Ordering::Release);
        Ok(report)
    }

    /// Restores the live orders of the deadline index after `after` and before `until`, a
    /// page at a time: the next page is read while the supervisor starts the actors of
    /// this one.
    async fn recover_range(
        &self,
        after: Option<Vec<u8>>,
        until: Option<Vec<u8>>,
    ) -> Result<RecoveryReport, OrderError> {
        let mut report = RecoveryReport::default();
        let mut page = self.live_page(after, until.clone()).await?;
        while let Some((orders, next)) = page {
            let started = self.supervisor.send(Recover { orders });
            let (started, next_page) = match next {
                Some(after) => futures::join!(started, self.live_page(Some(after), until.clone())),
                None => (started.await, Ok(None)),
            };
            let started = started?;
            report.unpaid += started.unpaid;
            report.creating += started.creating;
            page = next_page?;
        }
        Ok(report)
    }
}

/// The answer for an order that can no longer change: what [`Order::decide`] says, which for
/// such an order is never work (an actor would have been started for it).
fn answer_stored(order: Order, command: &Command) -> Result<Order, OrderError> {
    match order.decide(command, time::now_millis())? {
        Effect::Answer => Ok(order),
        effect => {
            tracing::error!(order_no = %order.parent_order_no, ?effect, status = ?order.status, "an order without an actor has work to do; refusing");
            Err(OrderError::NotReady)
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
